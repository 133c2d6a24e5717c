//! The neighbour cache of IPv6 Neighbor Discovery (RFC 4861 §7.3), the IPv6 counterpart
//! of the ARP cache (`proto::arp`, whose API it mirrors: `lookup`, `insert`, `resolve`,
//! `clear_failure`, `poll_request`, `poll_at`, with the same [`Resolution`]), and the
//! decisions around it as pure functions: which messages are valid (§7.1), whether and
//! how to answer a solicitation (§7.2.3, §7.2.4), the unsolicited advertisement (§7.2.6).
//! Sans-IO: the stack feeds it what it receives and asks it what to send; it never sends.
//!
//! The states are RFC 4861's, simplified for a host that owns one link and forwards
//! nothing:
//! - INCOMPLETE: resolving; a multicast solicitation goes to the target's solicited-node
//!   address every `retrans_timer`, at most `max_multicast_solicit` times, then the
//!   resolution fails (`Resolution::Failed`, kept until an answer or `clear_failure`).
//! - REACHABLE: confirmed (a solicited advertisement, or [`NeighborCache::confirm`] from
//!   an upper layer) within `reachable_time`; it becomes STALE when that runs out.
//! - STALE: an address learned without confirmation, or a REACHABLE one grown old. Still
//!   used; sending to it ([`NeighborCache::resolve`]) starts DELAY. An unused STALE entry
//!   is forgotten after `stale_lifetime` (the kernel's garbage collection, bounded here).
//! - DELAY: in use but unconfirmed; after `delay_first_probe` without confirmation, PROBE.
//! - PROBE: unicast solicitations to the cached address every `retrans_timer`, at most
//!   `max_unicast_solicit`; then the entry is deleted and the next use resolves afresh.
//!
//! Not implemented: the randomised ReachableTime (a fixed one serves a benchmark tool
//! better), router discovery and redirects (the stack has no routes), duplicate address
//! detection of our own addresses (the lab assigns them), queueing packets while
//! resolving (as with ARP, the application retries when `resolve` says `Pending`).
//!
//! Invariants: at most `capacity` entries (a full cache first forgets expired STALE
//! entries, then the entry touched longest ago); an entry whose lifetime ran out is never
//! returned; a peer is solicited a bounded number of times per resolution or probe.

use core::net::Ipv6Addr;
use core::time::Duration;
use std::collections::HashMap;

pub use super::arp::Resolution;
use crate::time::Instant;
use crate::wire::icmpv6::{msg_type, Icmpv6Packet};
use crate::wire::ipv6::{is_solicited_node, multicast_mac, solicited_node, ALL_NODES};
use crate::wire::ndp::{NaFlags, NdpRepr, MESSAGE_LEN};
use crate::wire::{EthernetAddress, WireError};

pub use crate::wire::ipv6::NDP_HOP_LIMIT;

#[derive(Clone, Copy, Debug)]
pub struct NdpConfig {
    /// How long a confirmation keeps a neighbour REACHABLE (RFC 4861 REACHABLE_TIME).
    pub reachable_time: Duration,
    /// Time between solicitations (RFC 4861 RETRANS_TIMER).
    pub retrans_timer: Duration,
    /// How long an entry in use stays in DELAY before probing (DELAY_FIRST_PROBE_TIME).
    pub delay_first_probe: Duration,
    /// Multicast solicitations before a resolution fails (MAX_MULTICAST_SOLICIT).
    pub max_multicast_solicit: u32,
    /// Unicast probes before a PROBE entry is deleted (MAX_UNICAST_SOLICIT).
    pub max_unicast_solicit: u32,
    /// How long an unused STALE entry is kept.
    pub stale_lifetime: Duration,
    pub capacity: usize,
}

impl Default for NdpConfig {
    /// RFC 4861 §10's constants; a minute of STALE, as Linux's `gc_stale_time`.
    fn default() -> Self {
        NdpConfig {
            reachable_time: Duration::from_secs(30),
            retrans_timer: Duration::from_secs(1),
            delay_first_probe: Duration::from_secs(5),
            max_multicast_solicit: 3,
            max_unicast_solicit: 3,
            stale_lifetime: Duration::from_secs(60),
            capacity: 1024,
        }
    }
}

/// The state of a neighbour cache entry (RFC 4861 §7.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NeighborState {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
}

#[derive(Clone, Copy, Debug)]
enum State {
    Incomplete { tries: u32, next_try: Instant },
    Reachable { until: Instant },
    Stale { since: Instant },
    Delay { probe_at: Instant },
    Probe { tries: u32, next_try: Instant },
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// None only while INCOMPLETE.
    mac: Option<EthernetAddress>,
    state: State,
    /// Last creation, confirmation or change: eviction order.
    touched: Instant,
}

impl Entry {
    /// When `poll_request` has something to do for this entry.
    fn timer(&self) -> Option<Instant> {
        match self.state {
            State::Incomplete { next_try, .. } | State::Probe { next_try, .. } => Some(next_try),
            State::Delay { probe_at } => Some(probe_at),
            State::Reachable { .. } | State::Stale { .. } => None,
        }
    }
}

/// A neighbour solicitation the cache wants sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Solicitation {
    /// The address being resolved or probed.
    pub target: Ipv6Addr,
    /// Its solicited-node address (resolution), or the target itself (a PROBE).
    pub dst: Ipv6Addr,
    /// 33:33:ff:XX:XX:XX for resolution, the cached address for a PROBE.
    pub dst_mac: EthernetAddress,
}

impl Solicitation {
    fn multicast(target: Ipv6Addr) -> Solicitation {
        let dst = solicited_node(target);
        Solicitation {
            target,
            dst,
            dst_mac: multicast_mac(dst),
        }
    }

    /// A unicast probe of a cached address (PROBE), not an address resolution.
    pub fn is_probe(&self) -> bool {
        self.dst == self.target
    }

    /// The message to send, from our address `src` (on the link of the target) with our
    /// MAC as the source link-layer address option (which RFC 4861 §7.2.2 requires in a
    /// multicast solicitation and recommends in a unicast one).
    pub fn message(&self, src: Ipv6Addr, our_mac: EthernetAddress) -> NdpMessage {
        NdpMessage {
            src,
            dst: self.dst,
            dst_mac: self.dst_mac,
            repr: NdpRepr::NeighborSolicit {
                target: self.target,
                source_lladdr: Some(our_mac),
            },
        }
    }
}

/// A neighbour discovery message to send: where to, and what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NdpMessage {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub dst_mac: EthernetAddress,
    pub repr: NdpRepr,
}

impl NdpMessage {
    /// Writes the whole Ethernet frame (hop limit 255) into `buf` and returns its length;
    /// `Truncated` if `buf` is too short.
    pub fn emit_frame(&self, our_mac: EthernetAddress, buf: &mut [u8]) -> Result<usize, WireError> {
        self.repr
            .emit_frame(our_mac, self.dst_mac, self.src, self.dst, buf)
    }
}

#[derive(Debug)]
pub struct NeighborCache {
    cfg: NdpConfig,
    entries: HashMap<Ipv6Addr, Entry>,
    failed: Vec<Ipv6Addr>,
}

impl NeighborCache {
    pub fn new(cfg: NdpConfig) -> Self {
        NeighborCache {
            entries: HashMap::with_capacity(cfg.capacity),
            failed: Vec::new(),
            cfg,
        }
    }

    /// The state of `ip`'s entry as of `now` (None: no entry, or an unused STALE one past
    /// its lifetime).
    pub fn state(&self, ip: Ipv6Addr, now: Instant) -> Option<NeighborState> {
        self.entries.get(&ip).and_then(|e| self.effective(e, now))
    }

    fn effective(&self, e: &Entry, now: Instant) -> Option<NeighborState> {
        let stale = |since: Instant| {
            (now < since + self.cfg.stale_lifetime).then_some(NeighborState::Stale)
        };
        match e.state {
            State::Incomplete { .. } => Some(NeighborState::Incomplete),
            State::Reachable { until } if now < until => Some(NeighborState::Reachable),
            State::Reachable { until } => stale(until),
            State::Stale { since } => stale(since),
            State::Delay { .. } => Some(NeighborState::Delay),
            State::Probe { .. } => Some(NeighborState::Probe),
        }
    }

    /// The MAC of `ip`, if an entry holds one (REACHABLE, STALE, DELAY or PROBE). It
    /// changes nothing: to send, prefer [`resolve`](Self::resolve), which also starts the
    /// reachability check of a STALE entry.
    pub fn lookup(&self, ip: Ipv6Addr, now: Instant) -> Option<EthernetAddress> {
        let e = self.entries.get(&ip)?;
        match self.effective(e, now)? {
            NeighborState::Incomplete => None,
            _ => e.mac,
        }
    }

    /// Number of entries (INCOMPLETE ones included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records that `ip` is at `mac`, learned without a confirmation of reachability: a
    /// solicitation's source link-layer option (RFC 4861 §7.2.3) or a static entry. A new
    /// entry is STALE; an INCOMPLETE one gets the address and becomes STALE; an entry
    /// with another address is updated and becomes STALE; the same address changes
    /// nothing. Clears a failed resolution of `ip`.
    //= https://www.rfc-editor.org/rfc/rfc4861#section-7.2.3
    //# If an entry already exists, and the cached link-layer address differs from
    //# the one in the received Source Link-Layer option, the cached address should
    //# be replaced by the received address, and the entry's reachability state MUST
    //# be set to STALE.
    pub fn insert(&mut self, ip: Ipv6Addr, mac: EthernetAddress, now: Instant) {
        self.failed.retain(|&f| f != ip);
        if let Some(e) = self.entries.get(&ip) {
            match self.effective(e, now) {
                None => {
                    self.entries.remove(&ip);
                }
                Some(NeighborState::Incomplete) => {}
                Some(_) if e.mac == Some(mac) => return,
                Some(_) => {}
            }
        }
        if !self.entries.contains_key(&ip) {
            self.make_room(now);
        }
        self.entries.insert(
            ip,
            Entry {
                mac: Some(mac),
                state: State::Stale { since: now },
                touched: now,
            },
        );
    }

    /// What a valid solicitation from `src` teaches (call it only for solicitations
    /// addressed to one of our addresses, after [`validate`]): its source link-layer
    /// option, unless the source is :: (duplicate address detection, which carries none).
    pub fn handle_solicitation(&mut self, src: Ipv6Addr, ns: &NdpRepr, now: Instant) {
        if let NdpRepr::NeighborSolicit {
            source_lladdr: Some(mac),
            ..
        } = *ns
        {
            if !src.is_unspecified() {
                self.insert(src, mac, now);
            }
        }
    }

    /// Applies a valid advertisement (RFC 4861 §7.2.5). Returns false when it was ignored:
    /// not an advertisement, no entry for its target (advertisements create none), or an
    /// INCOMPLETE entry and no target link-layer option.
    pub fn handle_advertisement(&mut self, na: &NdpRepr, now: Instant) -> bool {
        let NdpRepr::NeighborAdvert {
            flags,
            target,
            target_lladdr,
        } = *na
        else {
            return false;
        };
        let Some(e) = self.entries.get(&target) else {
            return false;
        };
        let Some(state) = self.effective(e, now) else {
            self.entries.remove(&target);
            return false;
        };
        let reachable = State::Reachable {
            until: now + self.cfg.reachable_time,
        };
        let mut e = *e;
        if state == NeighborState::Incomplete {
            let Some(mac) = target_lladdr else {
                return false;
            };
            e.mac = Some(mac);
            e.state = if flags.solicited {
                reachable
            } else {
                State::Stale { since: now }
            };
            e.touched = now;
            self.failed.retain(|&f| f != target);
            self.entries.insert(target, e);
            return true;
        }
        let differs = target_lladdr.is_some() && target_lladdr != e.mac;
        //= https://www.rfc-editor.org/rfc/rfc4861#section-7.2.5
        //# If the Override flag is clear and the supplied link-layer address differs
        //# from that in the cache, then one of two actions takes place:
        //# a. If the state of the entry is REACHABLE, set it to STALE, but do not
        //#    update the entry in any other way.
        //# b. Otherwise, the received advertisement should be ignored and MUST NOT
        //#    update the cache.
        if !flags.override_ && differs {
            if state == NeighborState::Reachable {
                e.state = State::Stale { since: now };
                self.entries.insert(target, e);
            }
            return true;
        }
        if differs {
            e.mac = target_lladdr;
        }
        if flags.solicited {
            e.state = reachable;
            e.touched = now;
        } else if differs {
            e.state = State::Stale { since: now };
            e.touched = now;
        }
        self.entries.insert(target, e);
        true
    }

    /// An upper layer saw forward progress with `ip` (a TCP ACK of new data, RFC 4861
    /// §7.3.1): the entry becomes REACHABLE. False if there is no entry with an address.
    pub fn confirm(&mut self, ip: Ipv6Addr, now: Instant) -> bool {
        let until = now + self.cfg.reachable_time;
        match self.entries.get_mut(&ip) {
            Some(e) if e.mac.is_some() => {
                e.state = State::Reachable { until };
                e.touched = now;
                true
            }
            _ => false,
        }
    }

    /// Where resolving `ip` stands, for a packet about to be sent to it: `Known` with the
    /// MAC (a STALE entry moves to DELAY: RFC 4861 §7.3.3), `Pending` while soliciting
    /// (starting if nothing is known), `Failed` once every try went unanswered.
    pub fn resolve(&mut self, ip: Ipv6Addr, now: Instant) -> Resolution {
        if let Some(e) = self.entries.get(&ip) {
            let state = self.effective(e, now);
            let (mac, delay) = (e.mac, now + self.cfg.delay_first_probe);
            match (state, mac) {
                (Some(NeighborState::Incomplete), _) => return Resolution::Pending,
                (Some(NeighborState::Stale), Some(mac)) => {
                    if let Some(e) = self.entries.get_mut(&ip) {
                        e.state = State::Delay { probe_at: delay };
                    }
                    return Resolution::Known(mac);
                }
                (Some(_), Some(mac)) => return Resolution::Known(mac),
                _ => {
                    self.entries.remove(&ip);
                }
            }
        }
        if self.failed.contains(&ip) {
            return Resolution::Failed;
        }
        self.make_room(now);
        self.entries.insert(
            ip,
            Entry {
                mac: None,
                state: State::Incomplete {
                    tries: 0,
                    next_try: now,
                },
                touched: now,
            },
        );
        Resolution::Pending
    }

    /// Forgets a failed resolution so that it can be tried again.
    pub fn clear_failure(&mut self, ip: Ipv6Addr) {
        self.failed.retain(|&f| f != ip);
    }

    /// The next solicitation to send now, if any; counts it as a try. Call it until it
    /// returns None. Resolutions and probes whose tries are all spent end here: a
    /// resolution fails, a PROBE entry is deleted.
    pub fn poll_request(&mut self, now: Instant) -> Option<Solicitation> {
        let retry = now + self.cfg.retrans_timer;
        let (max_m, max_u) = (self.cfg.max_multicast_solicit, self.cfg.max_unicast_solicit);
        // Each turn either returns or removes an entry, so the loop ends.
        loop {
            let (&ip, e) = self
                .entries
                .iter_mut()
                .find(|(_, e)| e.timer().is_some_and(|t| t <= now))?;
            let unicast = e.mac.map(|mac| Solicitation {
                target: ip,
                dst: ip,
                dst_mac: mac,
            });
            let out = match e.state {
                State::Incomplete { tries, .. } if tries < max_m => {
                    e.state = State::Incomplete {
                        tries: tries + 1,
                        next_try: retry,
                    };
                    Some(Solicitation::multicast(ip))
                }
                State::Delay { .. } if max_u > 0 => {
                    e.state = State::Probe {
                        tries: 1,
                        next_try: retry,
                    };
                    unicast
                }
                State::Probe { tries, .. } if tries < max_u => {
                    e.state = State::Probe {
                        tries: tries + 1,
                        next_try: retry,
                    };
                    unicast
                }
                _ => None,
            };
            if out.is_some() {
                return out;
            }
            let failed = matches!(e.state, State::Incomplete { .. });
            self.entries.remove(&ip);
            if failed {
                if self.failed.len() >= self.cfg.capacity.max(1) {
                    self.failed.remove(0);
                }
                self.failed.push(ip);
            }
        }
    }

    /// When `poll_request` next has something to do.
    pub fn poll_at(&self) -> Option<Instant> {
        self.entries.values().filter_map(Entry::timer).min()
    }

    fn make_room(&mut self, now: Instant) {
        if self.entries.len() < self.cfg.capacity {
            return;
        }
        let live: Vec<Ipv6Addr> = self
            .entries
            .iter()
            .filter(|(_, e)| self.effective(e, now).is_none())
            .map(|(ip, _)| *ip)
            .collect();
        for ip in live {
            self.entries.remove(&ip);
        }
        while !self.entries.is_empty() && self.entries.len() >= self.cfg.capacity {
            if let Some(ip) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.touched)
                .map(|(ip, _)| *ip)
            {
                self.entries.remove(&ip);
            }
        }
    }
}

/// Why a neighbour discovery message must be discarded (RFC 4861 §7.1.1 for
/// solicitations, §7.1.2 for advertisements). Each is a reason to drop it silently and
/// count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum NdpInvalid {
    /// The IP Hop Limit is not 255: the message may come from off the link.
    #[error("hop limit is not 255")]
    HopLimit,
    #[error("ICMP code is not 0")]
    Code,
    /// The ICMP length is below 24 bytes.
    #[error("shorter than 24 bytes")]
    TooShort,
    #[error("target address is multicast")]
    TargetMulticast,
    /// A solicitation from :: (duplicate address detection) to an address that is not
    /// a solicited-node multicast address.
    #[error("solicitation from :: not to a solicited-node address")]
    UnspecifiedSourceNotSolicitedNode,
    /// A solicitation from :: with a source link-layer address option.
    #[error("solicitation from :: with a source link-layer address")]
    SourceLladdrFromUnspecified,
    /// An advertisement to a multicast address with the Solicited flag set.
    #[error("solicited advertisement to a multicast address")]
    SolicitedToMulticast,
    /// The message itself: too short for a header, bad checksum, not a solicitation or
    /// advertisement (`Unsupported`), bad options (`Malformed`, lengths 0 included).
    #[error("{0}")]
    Wire(WireError),
}

impl From<WireError> for NdpInvalid {
    fn from(e: WireError) -> Self {
        NdpInvalid::Wire(e)
    }
}

impl NdpInvalid {
    /// A snake_case name usable as a counter key (a [`WireError`] keeps its own).
    pub const fn as_str(&self) -> &'static str {
        match self {
            NdpInvalid::HopLimit => "ndp_hop_limit",
            NdpInvalid::Code => "ndp_code",
            NdpInvalid::TooShort => "ndp_too_short",
            NdpInvalid::TargetMulticast => "ndp_target_multicast",
            NdpInvalid::UnspecifiedSourceNotSolicitedNode => "ndp_dad_not_solicited_node",
            NdpInvalid::SourceLladdrFromUnspecified => "ndp_dad_with_lladdr",
            NdpInvalid::SolicitedToMulticast => "ndp_solicited_to_multicast",
            NdpInvalid::Wire(e) => e.as_str(),
        }
    }
}

/// Checks the RFC 4861 §7.1 rules that need the IPv6 header, for a message already parsed
/// (by `Icmpv6Repr::parse`, which verified the checksum, the code, the length and the
/// options): hop limit 255, target not multicast; for a solicitation from ::, a
/// solicited-node destination and no source link-layer option; for an advertisement to a
/// multicast address, the Solicited flag clear.
pub fn validate(
    hop_limit: u8,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    msg: &NdpRepr,
) -> Result<(), NdpInvalid> {
    //= https://www.rfc-editor.org/rfc/rfc4861#section-7.1.1
    //# - The IP Hop Limit field has a value of 255, i.e., the packet could not
    //#   possibly have been forwarded by a router.
    if hop_limit != NDP_HOP_LIMIT {
        return Err(NdpInvalid::HopLimit);
    }
    if msg.target().is_multicast() {
        return Err(NdpInvalid::TargetMulticast);
    }
    match *msg {
        NdpRepr::NeighborSolicit { source_lladdr, .. } if src.is_unspecified() => {
            //# - If the IP source address is the unspecified address, the IP
            //#   destination address is a solicited-node multicast address.
            if !is_solicited_node(dst) {
                return Err(NdpInvalid::UnspecifiedSourceNotSolicitedNode);
            }
            //# - If the IP source address is the unspecified address, there is no
            //#   source link-layer address option in the message.
            if source_lladdr.is_some() {
                return Err(NdpInvalid::SourceLladdrFromUnspecified);
            }
        }
        //= https://www.rfc-editor.org/rfc/rfc4861#section-7.1.2
        //# - If the IP Destination Address is a multicast address the
        //#   Solicited flag is zero.
        NdpRepr::NeighborAdvert { flags, .. } if dst.is_multicast() && flags.solicited => {
            return Err(NdpInvalid::SolicitedToMulticast);
        }
        _ => {}
    }
    Ok(())
}

/// Every RFC 4861 §7.1 check of a neighbor solicitation or advertisement, from the ICMPv6
/// message bytes (`icmp`, the upper-layer data of an IPv6 packet `src` -> `dst` with
/// `hop_limit`), each with its own reason: hop limit, checksum, code, length, options,
/// then [`validate`]. Returns the parsed message.
pub fn check_message(
    hop_limit: u8,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    icmp: &[u8],
) -> Result<NdpRepr, NdpInvalid> {
    let p = Icmpv6Packet::new_checked(icmp)?;
    if !matches!(
        p.msg_type(),
        msg_type::NEIGHBOR_SOLICIT | msg_type::NEIGHBOR_ADVERT
    ) {
        return Err(WireError::Unsupported.into());
    }
    if hop_limit != NDP_HOP_LIMIT {
        return Err(NdpInvalid::HopLimit);
    }
    if !p.verify_checksum(src, dst) {
        return Err(WireError::BadChecksum.into());
    }
    if p.msg_code() != 0 {
        return Err(NdpInvalid::Code);
    }
    if p.len() < MESSAGE_LEN {
        return Err(NdpInvalid::TooShort);
    }
    let msg = NdpRepr::parse(&p)?;
    validate(hop_limit, src, dst, &msg)?;
    Ok(msg)
}

/// The advertisement that answers a valid solicitation `ns` from `src` (which arrived in
/// a frame from `eth_src`), or None if its target is not one of ours (`is_ours`): RFC
/// 4861 §7.2.3 discards it silently then. A solicitation from :: (duplicate address
/// detection) is answered to all-nodes, ff02::1, with Solicited clear; any other to its
/// source, at its source link-layer option (else the frame's source), with Solicited set.
/// Override is set (we are not a proxy, and our addresses are not anycast), Router clear,
/// and the target link-layer option carries `our_mac`; the source is the target.
//= https://www.rfc-editor.org/rfc/rfc4861#section-7.2.4
//# If the source of the solicitation is the unspecified address, the
//# node MUST set the Solicited flag to zero and multicast the
//# advertisement to the all-nodes address.  Otherwise, the node MUST set
//# the Solicited flag to one and unicast the advertisement to the Source
//# Address of the solicitation.
pub fn answer_solicitation(
    src: Ipv6Addr,
    eth_src: EthernetAddress,
    ns: &NdpRepr,
    is_ours: impl Fn(Ipv6Addr) -> bool,
    our_mac: EthernetAddress,
) -> Option<NdpMessage> {
    let NdpRepr::NeighborSolicit {
        target,
        source_lladdr,
    } = *ns
    else {
        return None;
    };
    if !is_ours(target) {
        return None;
    }
    let dad = src.is_unspecified();
    let (dst, dst_mac) = if dad {
        (ALL_NODES, multicast_mac(ALL_NODES))
    } else {
        (src, source_lladdr.unwrap_or(eth_src))
    };
    Some(NdpMessage {
        src: target,
        dst,
        dst_mac,
        repr: NdpRepr::NeighborAdvert {
            flags: NaFlags {
                router: false,
                solicited: !dad,
                override_: true,
            },
            target,
            target_lladdr: Some(our_mac),
        },
    })
}

/// An unsolicited advertisement of `our_ip` at `our_mac` to all-nodes (RFC 4861 §7.2.6),
/// with Override set so that neighbours replace what they cached: the IPv6 counterpart of
/// a gratuitous ARP, to send when an address comes up or its MAC changes.
pub fn unsolicited_advertisement(our_ip: Ipv6Addr, our_mac: EthernetAddress) -> NdpMessage {
    NdpMessage {
        src: our_ip,
        dst: ALL_NODES,
        dst_mac: multicast_mac(ALL_NODES),
        repr: NdpRepr::NeighborAdvert {
            flags: NaFlags {
                router: false,
                solicited: false,
                override_: true,
            },
            target: our_ip,
            target_lladdr: Some(our_mac),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmpv6::Icmpv6Repr;
    use crate::wire::ipv6::{Ipv6Packet, Ipv6Repr};
    use crate::wire::EthernetFrame;
    use proptest::prelude::*;

    const US: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
    const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
    const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 9]);
    const MAC2: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 10]);

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn cache() -> NeighborCache {
        NeighborCache::new(NdpConfig::default())
    }

    fn na(solicited: bool, override_: bool, lladdr: Option<EthernetAddress>) -> NdpRepr {
        NdpRepr::NeighborAdvert {
            flags: NaFlags {
                router: false,
                solicited,
                override_,
            },
            target: PEER,
            target_lladdr: lladdr,
        }
    }

    /// Resolution, confirmation, ageing, use, probing, and deletion, step by step.
    #[test]
    fn ns_sent_na_received_reachable_stale_delay_probe() {
        let cfg = NdpConfig::default();
        let mut c = cache();
        // Nothing known: resolving starts INCOMPLETE and a multicast NS is due now.
        assert_eq!(c.resolve(PEER, t(0)), Resolution::Pending);
        assert_eq!(c.state(PEER, t(0)), Some(NeighborState::Incomplete));
        assert_eq!(c.poll_at(), Some(t(0)));
        let ns = c.poll_request(t(0)).unwrap();
        assert_eq!(
            ns,
            Solicitation {
                target: PEER,
                dst: "ff02::1:ff00:2".parse().unwrap(),
                dst_mac: EthernetAddress([0x33, 0x33, 0xff, 0, 0, 2]),
            }
        );
        assert!(!ns.is_probe());
        assert_eq!(c.poll_request(t(0)), None, "one per retrans_timer");
        assert_eq!(c.poll_at(), Some(t(1000)));
        assert_eq!(c.lookup(PEER, t(10)), None);
        // The solicited NA: REACHABLE.
        assert!(c.handle_advertisement(&na(true, true, Some(MAC)), t(10)));
        assert_eq!(c.state(PEER, t(10)), Some(NeighborState::Reachable));
        assert_eq!(c.resolve(PEER, t(10)), Resolution::Known(MAC));
        assert_eq!(c.poll_at(), None, "nothing to send while REACHABLE");
        // ReachableTime runs out: STALE, still usable.
        let stale_at = t(10) + cfg.reachable_time;
        assert_eq!(c.state(PEER, stale_at), Some(NeighborState::Stale));
        assert_eq!(c.lookup(PEER, stale_at), Some(MAC));
        // Sending to it: DELAY, and a probe is due after DELAY_FIRST_PROBE_TIME.
        assert_eq!(c.resolve(PEER, stale_at), Resolution::Known(MAC));
        assert_eq!(c.state(PEER, stale_at), Some(NeighborState::Delay));
        let probe_at = stale_at + cfg.delay_first_probe;
        assert_eq!(c.poll_at(), Some(probe_at));
        assert_eq!(c.poll_request(probe_at - Duration::from_millis(1)), None);
        // PROBE: unicast solicitations to the cached address.
        let p = c.poll_request(probe_at).unwrap();
        assert!(p.is_probe());
        assert_eq!((p.dst, p.dst_mac), (PEER, MAC));
        assert_eq!(c.state(PEER, probe_at), Some(NeighborState::Probe));
        let mut now = probe_at;
        let mut probes = 1;
        for _ in 0..10 {
            now += cfg.retrans_timer;
            while c.poll_request(now).is_some() {
                probes += 1;
            }
        }
        assert_eq!(probes, cfg.max_unicast_solicit);
        // Unanswered: the entry is gone, and the next use resolves afresh (not Failed).
        assert_eq!(c.state(PEER, now), None);
        assert_eq!(c.resolve(PEER, now), Resolution::Pending);
    }

    #[test]
    fn a_probe_answered_makes_the_entry_reachable_again() {
        let cfg = NdpConfig::default();
        let mut c = cache();
        c.insert(PEER, MAC, t(0));
        assert_eq!(c.resolve(PEER, t(0)), Resolution::Known(MAC));
        let at = t(0) + cfg.delay_first_probe;
        assert!(c.poll_request(at).unwrap().is_probe());
        assert!(c.handle_advertisement(&na(true, false, Some(MAC)), at));
        assert_eq!(c.state(PEER, at), Some(NeighborState::Reachable));
        assert_eq!(c.poll_at(), None);
    }

    #[test]
    fn confirmation_from_an_upper_layer_skips_the_probe() {
        let cfg = NdpConfig::default();
        let mut c = cache();
        c.insert(PEER, MAC, t(0));
        c.resolve(PEER, t(0));
        assert_eq!(c.state(PEER, t(1)), Some(NeighborState::Delay));
        assert!(c.confirm(PEER, t(1)));
        assert_eq!(c.state(PEER, t(1)), Some(NeighborState::Reachable));
        assert_eq!(c.poll_request(t(0) + cfg.delay_first_probe), None);
        assert!(!c.confirm(US, t(1)), "no entry");
    }

    #[test]
    fn resolution_retries_then_fails_until_an_answer() {
        let cfg = NdpConfig::default();
        let mut c = cache();
        assert_eq!(c.resolve(PEER, t(0)), Resolution::Pending);
        let mut sent = 0;
        let mut now = t(0);
        for _ in 0..20 {
            while c.poll_request(now).is_some() {
                sent += 1;
            }
            now += cfg.retrans_timer;
        }
        assert_eq!(sent, cfg.max_multicast_solicit);
        assert_eq!(c.resolve(PEER, now), Resolution::Failed);
        assert_eq!(c.poll_at(), None);
        c.clear_failure(PEER);
        assert_eq!(c.resolve(PEER, now), Resolution::Pending);
        // An address learned later clears a failure too.
        let mut c = cache();
        c.resolve(PEER, t(0));
        for i in 0..5 {
            while c.poll_request(t(i * 1000)).is_some() {}
        }
        assert_eq!(c.resolve(PEER, t(5000)), Resolution::Failed);
        c.insert(PEER, MAC, t(5000));
        assert_eq!(c.resolve(PEER, t(5000)), Resolution::Known(MAC));
    }

    #[test]
    fn advertisements_create_no_entries_and_need_an_address_when_incomplete() {
        let mut c = cache();
        assert!(!c.handle_advertisement(&na(true, true, Some(MAC)), t(0)));
        assert_eq!(c.state(PEER, t(0)), None);
        c.resolve(PEER, t(0));
        assert!(!c.handle_advertisement(&na(true, true, None), t(0)));
        assert_eq!(c.state(PEER, t(0)), Some(NeighborState::Incomplete));
        // Unsolicited, with an address: STALE.
        assert!(c.handle_advertisement(&na(false, true, Some(MAC)), t(0)));
        assert_eq!(c.state(PEER, t(0)), Some(NeighborState::Stale));
        // Not an advertisement at all.
        let ns = NdpRepr::NeighborSolicit {
            target: PEER,
            source_lladdr: Some(MAC),
        };
        assert!(!c.handle_advertisement(&ns, t(0)));
    }

    #[test]
    fn override_rules_of_section_7_2_5() {
        let reachable = || {
            let mut c = cache();
            c.resolve(PEER, t(0));
            c.handle_advertisement(&na(true, true, Some(MAC)), t(0));
            c
        };
        // O clear, different address, REACHABLE: STALE but the address stays.
        let mut c = reachable();
        assert!(c.handle_advertisement(&na(true, false, Some(MAC2)), t(1)));
        assert_eq!(c.state(PEER, t(1)), Some(NeighborState::Stale));
        assert_eq!(c.lookup(PEER, t(1)), Some(MAC));
        // O clear, different address, not REACHABLE: ignored.
        let mut c = cache();
        c.insert(PEER, MAC, t(0));
        assert!(c.handle_advertisement(&na(true, false, Some(MAC2)), t(1)));
        assert_eq!(c.state(PEER, t(1)), Some(NeighborState::Stale));
        assert_eq!(c.lookup(PEER, t(1)), Some(MAC));
        // O set, different address, solicited: updated and REACHABLE.
        let mut c = reachable();
        assert!(c.handle_advertisement(&na(true, true, Some(MAC2)), t(1)));
        assert_eq!(c.lookup(PEER, t(1)), Some(MAC2));
        assert_eq!(c.state(PEER, t(1)), Some(NeighborState::Reachable));
        // O set, different address, unsolicited: updated and STALE.
        let mut c = reachable();
        assert!(c.handle_advertisement(&na(false, true, Some(MAC2)), t(1)));
        assert_eq!(c.lookup(PEER, t(1)), Some(MAC2));
        assert_eq!(c.state(PEER, t(1)), Some(NeighborState::Stale));
        // Same address, unsolicited: unchanged (still REACHABLE).
        let mut c = reachable();
        assert!(c.handle_advertisement(&na(false, false, Some(MAC)), t(1)));
        assert_eq!(c.state(PEER, t(1)), Some(NeighborState::Reachable));
        // No address option, solicited: confirms a STALE entry.
        let mut c = cache();
        c.insert(PEER, MAC, t(0));
        assert!(c.handle_advertisement(&na(true, false, None), t(1)));
        assert_eq!(c.state(PEER, t(1)), Some(NeighborState::Reachable));
    }

    #[test]
    fn solicitations_teach_a_stale_entry_unless_from_unspecified() {
        let mut c = cache();
        let ns = |lladdr| NdpRepr::NeighborSolicit {
            target: US,
            source_lladdr: lladdr,
        };
        c.handle_solicitation(Ipv6Addr::UNSPECIFIED, &ns(Some(MAC)), t(0));
        assert!(c.is_empty());
        c.handle_solicitation(PEER, &ns(None), t(0));
        assert!(c.is_empty());
        c.handle_solicitation(PEER, &ns(Some(MAC)), t(0));
        assert_eq!(c.state(PEER, t(0)), Some(NeighborState::Stale));
        assert_eq!(c.lookup(PEER, t(0)), Some(MAC));
        // The same address again changes nothing (a REACHABLE entry stays REACHABLE).
        c.confirm(PEER, t(1));
        c.handle_solicitation(PEER, &ns(Some(MAC)), t(2));
        assert_eq!(c.state(PEER, t(2)), Some(NeighborState::Reachable));
        // Another address replaces it and makes it STALE.
        c.handle_solicitation(PEER, &ns(Some(MAC2)), t(3));
        assert_eq!(c.lookup(PEER, t(3)), Some(MAC2));
        assert_eq!(c.state(PEER, t(3)), Some(NeighborState::Stale));
        // An INCOMPLETE entry gets the address.
        let mut c = cache();
        c.resolve(PEER, t(0));
        c.handle_solicitation(PEER, &ns(Some(MAC)), t(1));
        assert_eq!(c.resolve(PEER, t(1)), Resolution::Known(MAC));
    }

    #[test]
    fn unused_stale_entries_expire() {
        let cfg = NdpConfig::default();
        let mut c = cache();
        c.insert(PEER, MAC, t(0));
        let gone = t(0) + cfg.stale_lifetime;
        assert_eq!(c.lookup(PEER, gone - Duration::from_millis(1)), Some(MAC));
        assert_eq!(c.lookup(PEER, gone), None);
        assert_eq!(c.state(PEER, gone), None);
        assert_eq!(c.resolve(PEER, gone), Resolution::Pending);
        // A REACHABLE entry is STALE from its expiry on, then gone a lifetime later.
        let mut c = cache();
        c.resolve(PEER, t(0));
        c.handle_advertisement(&na(true, true, Some(MAC)), t(0));
        let end = t(0) + cfg.reachable_time + cfg.stale_lifetime;
        assert_eq!(c.lookup(PEER, end - Duration::from_millis(1)), Some(MAC));
        assert_eq!(c.lookup(PEER, end), None);
    }

    #[test]
    fn a_full_cache_evicts_expired_then_the_oldest() {
        let mut c = NeighborCache::new(NdpConfig {
            capacity: 2,
            ..NdpConfig::default()
        });
        let ip = |n| Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, n);
        c.insert(ip(1), MAC, t(0));
        c.insert(ip(2), MAC, t(1));
        c.insert(ip(3), MAC, t(2));
        assert_eq!(c.len(), 2);
        assert_eq!(c.lookup(ip(1), t(3)), None);
        assert!(c.lookup(ip(2), t(3)).is_some() && c.lookup(ip(3), t(3)).is_some());
        // Pending resolutions count against the capacity too.
        assert_eq!(c.resolve(ip(4), t(4)), Resolution::Pending);
        assert_eq!(c.len(), 2);
        assert_eq!(c.lookup(ip(2), t(4)), None);
    }

    #[test]
    fn solicitation_message_carries_our_link_layer_address() {
        let mut c = cache();
        c.resolve(PEER, t(0));
        let s = c.poll_request(t(0)).unwrap();
        let m = s.message(US, OUR_MAC);
        assert_eq!(
            m.repr,
            NdpRepr::NeighborSolicit {
                target: PEER,
                source_lladdr: Some(OUR_MAC)
            }
        );
        let mut buf = [0u8; 100];
        let n = m.emit_frame(OUR_MAC, &mut buf).unwrap();
        // What we send passes our own checks.
        let (hop, src, dst, icmp) = split(&buf[..n]);
        assert_eq!(dst, s.dst);
        assert_eq!(check_message(hop, src, dst, &icmp), Ok(m.repr));
    }

    fn split(frame: &[u8]) -> (u8, Ipv6Addr, Ipv6Addr, Vec<u8>) {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
        let r = Ipv6Repr::parse(&ip).unwrap();
        (
            r.hop_limit,
            r.src,
            r.dst,
            ip.upper_layer(r.ext_len).to_vec(),
        )
    }

    #[test]
    fn answers_a_solicitation_for_our_address_to_its_source() {
        let ns = NdpRepr::NeighborSolicit {
            target: US,
            source_lladdr: Some(MAC),
        };
        let ours = |a: Ipv6Addr| a == US;
        let m = answer_solicitation(PEER, MAC2, &ns, ours, OUR_MAC).unwrap();
        assert_eq!((m.src, m.dst, m.dst_mac), (US, PEER, MAC));
        assert_eq!(
            m.repr,
            NdpRepr::NeighborAdvert {
                flags: NaFlags {
                    router: false,
                    solicited: true,
                    override_: true
                },
                target: US,
                target_lladdr: Some(OUR_MAC)
            }
        );
        // Without a source link-layer option, to the frame's source.
        let bare = NdpRepr::NeighborSolicit {
            target: US,
            source_lladdr: None,
        };
        let m = answer_solicitation(PEER, MAC2, &bare, ours, OUR_MAC).unwrap();
        assert_eq!(m.dst_mac, MAC2);
        // Not our target: no answer. Not a solicitation: no answer.
        let other = NdpRepr::NeighborSolicit {
            target: PEER,
            source_lladdr: Some(MAC),
        };
        assert_eq!(answer_solicitation(US, MAC, &other, ours, OUR_MAC), None);
        assert_eq!(
            answer_solicitation(PEER, MAC, &na(true, true, None), |_| true, OUR_MAC),
            None
        );
        // The answer passes the advertisement checks.
        let mut buf = [0u8; 100];
        let m = answer_solicitation(PEER, MAC2, &ns, ours, OUR_MAC).unwrap();
        let n = m.emit_frame(OUR_MAC, &mut buf).unwrap();
        let (hop, src, dst, icmp) = split(&buf[..n]);
        assert_eq!(check_message(hop, src, dst, &icmp), Ok(m.repr));
    }

    #[test]
    fn a_dad_probe_for_our_address_is_answered_to_all_nodes() {
        let dad = NdpRepr::NeighborSolicit {
            target: US,
            source_lladdr: None,
        };
        let m =
            answer_solicitation(Ipv6Addr::UNSPECIFIED, MAC, &dad, |a| a == US, OUR_MAC).unwrap();
        assert_eq!(m.dst, ALL_NODES);
        assert_eq!(m.dst, "ff02::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(m.dst_mac, EthernetAddress([0x33, 0x33, 0, 0, 0, 1]));
        assert_eq!(m.src, US);
        let NdpRepr::NeighborAdvert { flags, .. } = m.repr else {
            panic!("not an advertisement");
        };
        assert!(!flags.solicited && flags.override_ && !flags.router);
        let mut buf = [0u8; 100];
        let n = m.emit_frame(OUR_MAC, &mut buf).unwrap();
        let (hop, src, dst, icmp) = split(&buf[..n]);
        assert_eq!(check_message(hop, src, dst, &icmp), Ok(m.repr));
    }

    #[test]
    fn unsolicited_advertisement_goes_to_all_nodes_with_override() {
        let m = unsolicited_advertisement(US, OUR_MAC);
        assert_eq!((m.src, m.dst), (US, ALL_NODES));
        assert_eq!(
            m.repr,
            NdpRepr::NeighborAdvert {
                flags: NaFlags {
                    router: false,
                    solicited: false,
                    override_: true
                },
                target: US,
                target_lladdr: Some(OUR_MAC)
            }
        );
        let mut buf = [0u8; 100];
        let n = m.emit_frame(OUR_MAC, &mut buf).unwrap();
        assert_eq!(n, 14 + 40 + 32);
        assert_eq!(&buf[..6], &[0x33, 0x33, 0, 0, 0, 1]);
        let (hop, src, dst, icmp) = split(&buf[..n]);
        assert_eq!(check_message(hop, src, dst, &icmp), Ok(m.repr));
        assert_eq!(
            m.emit_frame(OUR_MAC, &mut buf[..85]),
            Err(WireError::Truncated)
        );
    }

    // One test per validity rule of RFC 4861 §7.1.1 and §7.1.2.

    /// A solicitation for `target` with options `opts`, checksummed for `src` -> `dst`.
    fn ns_bytes(src: Ipv6Addr, dst: Ipv6Addr, target: Ipv6Addr, opts: &[u8]) -> Vec<u8> {
        let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&target.octets());
        m.extend_from_slice(opts);
        Icmpv6Packet::new_unchecked(&mut m[..]).fill_checksum(src, dst);
        m
    }

    const SLLA: [u8; 8] = [1, 1, 2, 0, 0, 0, 0, 9];

    fn sn(a: Ipv6Addr) -> Ipv6Addr {
        solicited_node(a)
    }

    #[test]
    fn valid_solicitation_passes() {
        let m = ns_bytes(PEER, sn(US), US, &SLLA);
        assert_eq!(
            check_message(255, PEER, sn(US), &m),
            Ok(NdpRepr::NeighborSolicit {
                target: US,
                source_lladdr: Some(MAC)
            })
        );
    }

    #[test]
    fn rule_hop_limit_must_be_255() {
        let m = ns_bytes(PEER, sn(US), US, &SLLA);
        for hop in [0, 1, 64, 254] {
            assert_eq!(
                check_message(hop, PEER, sn(US), &m),
                Err(NdpInvalid::HopLimit)
            );
        }
        let repr = NdpRepr::parse(&Icmpv6Packet::new_checked(&m[..]).unwrap()).unwrap();
        assert_eq!(
            validate(254, PEER, sn(US), &repr),
            Err(NdpInvalid::HopLimit)
        );
        assert_eq!(validate(255, PEER, sn(US), &repr), Ok(()));
    }

    #[test]
    fn rule_checksum_must_verify() {
        let mut m = ns_bytes(PEER, sn(US), US, &SLLA);
        m[10] ^= 1;
        assert_eq!(
            check_message(255, PEER, sn(US), &m),
            Err(NdpInvalid::Wire(WireError::BadChecksum))
        );
    }

    #[test]
    fn rule_code_must_be_0() {
        let mut m = ns_bytes(PEER, sn(US), US, &SLLA);
        m[1] = 1;
        Icmpv6Packet::new_unchecked(&mut m[..]).fill_checksum(PEER, sn(US));
        assert_eq!(check_message(255, PEER, sn(US), &m), Err(NdpInvalid::Code));
    }

    #[test]
    fn rule_icmp_length_at_least_24() {
        let full = ns_bytes(PEER, sn(US), US, &[]);
        for len in [8, 16, 23] {
            let mut m = full[..len].to_vec();
            Icmpv6Packet::new_unchecked(&mut m[..]).fill_checksum(PEER, sn(US));
            assert_eq!(
                check_message(255, PEER, sn(US), &m),
                Err(NdpInvalid::TooShort)
            );
        }
        assert_eq!(
            check_message(255, PEER, sn(US), &full[..7]),
            Err(NdpInvalid::Wire(WireError::Truncated))
        );
        assert!(check_message(255, PEER, sn(US), &full).is_ok());
    }

    #[test]
    fn rule_options_must_not_have_length_0() {
        let m = ns_bytes(
            PEER,
            sn(US),
            US,
            &[&SLLA[..], &[7, 0, 0, 0, 0, 0, 0, 0]].concat(),
        );
        assert_eq!(
            check_message(255, PEER, sn(US), &m),
            Err(NdpInvalid::Wire(WireError::Malformed))
        );
        // An unknown option of non-zero length is skipped.
        let m = ns_bytes(
            PEER,
            sn(US),
            US,
            &[&[7, 1, 0, 0, 0, 0, 0, 0], &SLLA[..]].concat(),
        );
        assert!(check_message(255, PEER, sn(US), &m).is_ok());
    }

    #[test]
    fn rule_target_must_not_be_multicast() {
        let target: Ipv6Addr = "ff02::1".parse().unwrap();
        let m = ns_bytes(PEER, sn(target), target, &SLLA);
        assert_eq!(
            check_message(255, PEER, sn(target), &m),
            Err(NdpInvalid::TargetMulticast)
        );
        let adv = NdpRepr::NeighborAdvert {
            flags: NaFlags::default(),
            target,
            target_lladdr: None,
        };
        assert_eq!(
            validate(255, PEER, US, &adv),
            Err(NdpInvalid::TargetMulticast)
        );
    }

    #[test]
    fn rule_unspecified_source_only_to_a_solicited_node_address() {
        let u = Ipv6Addr::UNSPECIFIED;
        let m = ns_bytes(u, sn(US), US, &[]);
        assert!(check_message(255, u, sn(US), &m).is_ok(), "a DAD probe");
        for dst in [US, ALL_NODES] {
            let m = ns_bytes(u, dst, US, &[]);
            assert_eq!(
                check_message(255, u, dst, &m),
                Err(NdpInvalid::UnspecifiedSourceNotSolicitedNode)
            );
        }
    }

    #[test]
    fn rule_unspecified_source_carries_no_source_link_layer_option() {
        let u = Ipv6Addr::UNSPECIFIED;
        let m = ns_bytes(u, sn(US), US, &SLLA);
        assert_eq!(
            check_message(255, u, sn(US), &m),
            Err(NdpInvalid::SourceLladdrFromUnspecified)
        );
    }

    #[test]
    fn rule_solicited_advertisement_not_to_multicast() {
        let adv = |solicited| NdpRepr::NeighborAdvert {
            flags: NaFlags {
                router: false,
                solicited,
                override_: true,
            },
            target: PEER,
            target_lladdr: Some(MAC),
        };
        assert_eq!(
            validate(255, PEER, ALL_NODES, &adv(true)),
            Err(NdpInvalid::SolicitedToMulticast)
        );
        assert_eq!(validate(255, PEER, ALL_NODES, &adv(false)), Ok(()));
        assert_eq!(validate(255, PEER, US, &adv(true)), Ok(()));
    }

    #[test]
    fn other_messages_are_not_neighbor_discovery() {
        let mut m = vec![128, 0, 0, 0, 0, 1, 0, 1];
        Icmpv6Packet::new_unchecked(&mut m[..]).fill_checksum(PEER, US);
        assert_eq!(
            check_message(255, PEER, US, &m),
            Err(NdpInvalid::Wire(WireError::Unsupported))
        );
    }

    #[test]
    fn invalid_reasons_have_distinct_counter_keys() {
        let all = [
            NdpInvalid::HopLimit,
            NdpInvalid::Code,
            NdpInvalid::TooShort,
            NdpInvalid::TargetMulticast,
            NdpInvalid::UnspecifiedSourceNotSolicitedNode,
            NdpInvalid::SourceLladdrFromUnspecified,
            NdpInvalid::SolicitedToMulticast,
            NdpInvalid::Wire(WireError::Malformed),
        ];
        for (i, a) in all.iter().enumerate() {
            assert!(a
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'));
            assert!(!a.to_string().is_empty());
            for b in &all[i + 1..] {
                assert_ne!(a.as_str(), b.as_str());
            }
        }
    }

    /// The kernel's own messages (captured on a veth; see `wire::ndp`'s tests) pass.
    #[test]
    fn kernel_messages_pass_every_check() {
        let dad = "8700be32000000002001000200000000000000000000000a0e01bf2ad4c2fa67";
        let resolve = "870036530000000020010002000000000000000000000099010102000000000a";
        let adv = "8800b36f600000002001000200000000000000000000000b020102000000000b";
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let a = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        let u = Ipv6Addr::UNSPECIFIED;
        assert!(check_message(255, u, a("ff02::1:ff00:a"), &hex(dad)).is_ok());
        let r = check_message(255, a("2001:2::a"), a("ff02::1:ff00:99"), &hex(resolve));
        assert_eq!(r.unwrap().target(), a("2001:2::99"));
        let r = check_message(255, a("2001:2::b"), a("2001:2::a"), &hex(adv)).unwrap();
        let mut c = cache();
        c.resolve(a("2001:2::b"), t(0));
        assert!(c.handle_advertisement(&r, t(1)));
        assert_eq!(
            c.resolve(a("2001:2::b"), t(1)),
            Resolution::Known(EthernetAddress([2, 0, 0, 0, 0, 0x0b]))
        );
        // Through Icmpv6Repr too.
        let bytes = hex(adv);
        let p = Icmpv6Packet::new_checked(&bytes[..]).unwrap();
        let (s, d) = (a("2001:2::b"), a("2001:2::a"));
        let Icmpv6Repr::Ndp(n) = Icmpv6Repr::parse(&p, s, d).unwrap() else {
            panic!("not NDP");
        };
        assert_eq!(validate(255, s, d, &n), Ok(()));
    }

    proptest! {
        #[test]
        fn random_messages_never_panic(data in proptest::collection::vec(any::<u8>(), 0..120),
                                       first in prop::sample::select(vec![135u8, 136, 128, 1]),
                                       hop in prop::sample::select(vec![255u8, 64]),
                                       src in any::<u128>(), dst in any::<u128>()) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let mut data = data;
            if let Some(b) = data.first_mut() { *b = first; }
            if data.len() >= 8 {
                Icmpv6Packet::new_unchecked(&mut data[..]).fill_checksum(src, dst);
            }
            if let Ok(r) = check_message(hop, src, dst, &data) {
                prop_assert_eq!(hop, 255);
                let mut c = cache();
                c.handle_solicitation(src, &r, t(0));
                c.handle_advertisement(&r, t(0));
                let _ = answer_solicitation(src, MAC, &r, |_| true, OUR_MAC);
            }
        }

        /// Any sequence of events keeps the cache within its bounds and never sends more
        /// solicitations per resolution than allowed.
        #[test]
        fn random_event_sequences_respect_the_bounds(
            events in proptest::collection::vec((0u8..6, 0u16..6, 0u64..3000), 0..200)
        ) {
            let cfg = NdpConfig { capacity: 4, ..NdpConfig::default() };
            let mut c = NeighborCache::new(cfg);
            let mut now = t(0);
            for (kind, n, dt) in events {
                now += Duration::from_millis(dt);
                let ip = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, n);
                match kind {
                    0 => { c.resolve(ip, now); }
                    1 => c.insert(ip, MAC, now),
                    2 => { c.handle_advertisement(&NdpRepr::NeighborAdvert {
                            flags: NaFlags::from_byte((n as u8) << 5), target: ip,
                            target_lladdr: Some(MAC2) }, now); }
                    3 => { c.confirm(ip, now); }
                    4 => c.clear_failure(ip),
                    _ => {
                        let mut sent = 0;
                        while c.poll_request(now).is_some() {
                            sent += 1;
                            prop_assert!(sent <= cfg.capacity, "one per entry at most");
                        }
                    }
                }
                prop_assert!(c.len() <= cfg.capacity);
                if let Some(at) = c.poll_at() {
                    prop_assert!(at <= now + cfg.delay_first_probe);
                }
            }
        }
    }
}
