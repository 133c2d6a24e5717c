//! metrics/: per-worker counters and, later, histograms, merged at report time.
//!
//! Each worker owns one [`StackCounters`] (shared with the reporter through an `Arc`).
//! Only the owning worker writes a counter, so an increment is a relaxed load and store,
//! never a locked read-modify-write, and the reporter reads them without any lock. The
//! struct is cache-line aligned so that two workers never write the same line.

use serde_json::{Map, Value};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A counter with a single writer and any number of readers.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker may call this.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }
    #[inline]
    pub fn inc(&self) {
        self.add(1)
    }
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

macro_rules! drop_reasons {
    ($($variant:ident => $name:literal: $doc:literal,)*) => {
        /// Why a received frame was dropped. Every drop is counted under one reason.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum DropReason {
            $(#[doc = $doc] $variant,)*
        }

        impl DropReason {
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)*];
            pub const COUNT: usize = Self::ALL.len();

            /// The key used in reports and JSON.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(DropReason::$variant => $name,)*
                }
            }
        }
    };
}

drop_reasons! {
    Truncated => "truncated": "Shorter than its headers say.",
    BadChecksum => "bad_checksum": "An IPv4, ICMP, UDP or TCP checksum did not verify.",
    BadLength => "bad_length": "A length field disagrees with the frame.",
    BadVersion => "bad_version": "An IP version field that disagrees with the EtherType.",
    BadHeaderLength => "bad_header_length": "IPv4 IHL or TCP data offset out of range, or an IPv6 extension-header chain too long (more than 8 headers or 1024 bytes).",
    Fragment => "fragment": "An IPv6 fragment: IPv6 is not reassembled (IPv4 is).",
    FragmentOverlap => "fragment_overlap": "IPv4 fragments of a datagram discarded whole because one overlapped what it held other than as an identical copy (each of its fragments is counted).",
    FragmentDuplicate => "fragment_duplicate": "An IPv4 fragment whose bytes were all held already, identical: dropped alone.",
    FragmentInvalid => "fragment_invalid": "An IPv4 fragment no sender makes (empty; MF set and not a multiple of 8 bytes; data past 65 535 bytes with the header), dropped alone, or one contradicting its datagram's end, which discards the datagram (each of its fragments is counted).",
    FragmentTimeout => "fragment_timeout": "IPv4 fragments of a datagram not whole within the reassembly timeout (10 s), discarded.",
    FragmentSourceFull => "fragment_source_full": "An IPv4 fragment that would start a datagram while its source already had its share of the reassembly buffers.",
    FragmentTableFull => "fragment_table_full": "An IPv4 fragment that would start a datagram while every reassembly buffer was in use.",
    Malformed => "malformed": "Bad options or field values.",
    Unsupported => "unsupported": "A valid packet of a kind xstack does not handle (ARP for other protocols, ICMP types).",
    UnknownEthertype => "unknown_ethertype": "Neither IPv4, IPv6 nor ARP (IPv6 too when xstack owns no IPv6 address).",
    NdpHopLimit => "ndp_hop_limit": "A Neighbor Discovery message with a hop limit other than 255 (RFC 4861 §7.1: it came from off the link).",
    NdpInvalid => "ndp_invalid": "A Neighbor Discovery message that breaks another RFC 4861 §7.1 rule: code not 0, shorter than 24 bytes, a multicast target, a DAD probe not to a solicited-node group or with a link-layer option, a solicited advertisement to multicast.",
    VlanTagged => "vlan_tagged": "An 802.1Q or 802.1ad tagged frame: it belongs to a VLAN, and xstack serves only the untagged LAN (on AF_PACKET the kernel moves the tag out of the frame; the driver puts it back).",
    UnknownProtocol => "unknown_protocol": "An IP protocol other than ICMP (ICMPv6), UDP and TCP.",
    NotForUs => "not_for_us": "Addressed to another MAC or IP.",
    BadSource => "bad_source": "An Ethernet source that is not unicast or is our own MAC, or our own IPv4 address as the source of ARP or IPv4.",
    MartianSource => "martian_source": "An IPv4 source no host sends from (RFC 1122 §3.2.1.3): 0.0.0.0/8, 127.0.0.0/8, multicast, the limited broadcast or our subnet's broadcast; discarded silently.",
    UdpClosedPort => "udp_closed_port": "UDP to a port nobody serves (answered with ICMP port unreachable, rate-limited).",
    TcpNoListener => "tcp_no_listener": "TCP for no connection and no listener (answered with RST).",
    TcpListenNoFlags => "tcp_listen_no_flags": "A segment to a listening port with none of SYN, RST and ACK (RFC 9293 §3.10.7.2 drops it unanswered).",
    TcpTableFull => "tcp_table_full": "A SYN dropped because the connection table was full.",
    TcpOwnedElsewhere => "tcp_owned_elsewhere": "A SYN (or a SYN cookie's ACK) that reached one worker while another held its 4-tuple, or was to hold it (the owner map had no room): dropped unanswered, and its retransmission goes to the owner.",
    TxNoBuffer => "tx_no_buffer": "A reply could not be sent: no transmit buffer was free.",
    SteerFull => "steer_full": "A frame for another worker's flow, dropped because that worker's queue was full.",
    PartialChecksum => "partial_checksum": "A TCP/UDP checksum the sending peer's TX offload left partial (veth's default), which AF_XDP cannot check; dropped by the driver (turn the peer's offload off: `ethtool -K <peer> tx off`).",
    Oversize => "oversize": "A frame too large for a receive buffer (a GSO/TSO super-frame), dropped by the driver or xstack's XDP program.",
}

macro_rules! counters {
    ($(#[$meta:meta])* $name:ident / $snap:ident { $($field:ident: $doc:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        #[repr(align(128))]
        pub struct $name {
            $(#[doc = $doc] pub $field: Counter,)*
            /// Received frames dropped, by [`DropReason`].
            pub drops: [Counter; DropReason::COUNT],
        }

        /// A plain copy of the counters, to merge and print.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct $snap {
            $(pub $field: u64,)*
            pub drops: [u64; DropReason::COUNT],
        }

        impl $name {
            pub fn snapshot(&self) -> $snap {
                $snap {
                    $($field: self.$field.get(),)*
                    drops: std::array::from_fn(|i| self.drops[i].get()),
                }
            }

            #[inline]
            pub fn count_drop(&self, reason: DropReason) {
                self.drops[reason as usize].inc();
            }
        }

        impl $snap {
            /// Adds `other` into `self` (merging workers).
            pub fn merge(&mut self, other: &$snap) {
                $(self.$field += other.$field;)*
                for (a, b) in self.drops.iter_mut().zip(other.drops.iter()) {
                    *a += b;
                }
            }

            pub fn drops_total(&self) -> u64 {
                self.drops.iter().sum()
            }

            /// The non-zero drop counts, by reason.
            pub fn drops_by_reason(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
                DropReason::ALL
                    .iter()
                    .map(|&r| (r, self.drops[r as usize]))
                    .filter(|&(_, n)| n > 0)
            }

            /// Flat JSON: every counter by name, and `drops` as an object of every reason.
            pub fn to_json(&self) -> Map<String, Value> {
                let mut m = Map::new();
                $(m.insert(stringify!($field).into(), self.$field.into());)*
                let drops: Map<String, Value> = DropReason::ALL
                    .iter()
                    .map(|&r| (r.as_str().to_string(), self.drops[r as usize].into()))
                    .collect();
                m.insert("drops_total".into(), self.drops_total().into());
                m.insert("drops".into(), Value::Object(drops));
                m
            }

            /// (name, value) of every counter, in declaration order.
            pub fn fields(&self) -> [(&'static str, u64); [$(stringify!($field)),*].len()] {
                [$((stringify!($field), self.$field),)*]
            }
        }
    };
}

counters! {
    /// What one worker's stack did.
    StackCounters / StackSnapshot {
        rx_frames: "Frames received.",
        tx_frames: "Frames sent (replies, reflections and new frames).",
        arp_requests_received: "ARP requests for our address.",
        arp_replies: "ARP replies sent.",
        arp_requests_sent: "ARP requests sent to resolve peers.",
        gratuitous_arps: "Gratuitous ARP announcements sent.",
        icmp_echo_replies: "ICMP echo replies sent.",
        icmp_unreachables: "ICMP and ICMPv6 port-unreachable messages sent.",
        icmpv6_echo_replies: "ICMPv6 echo replies sent.",
        icmpv6_ignored: "ICMPv6 router discovery, redirect and MLD messages: a host ignores them, and they are no error.",
        ndp_solicitations_received: "Neighbor solicitations for one of our IPv6 addresses (DAD probes included).",
        ndp_advertisements_sent: "Neighbor advertisements sent (answers, and one unsolicited per address at start).",
        ndp_solicitations_sent: "Neighbor solicitations sent to resolve IPv6 peers.",
        icmp_unreachables_limited: "Port-unreachable (and reassembly time-exceeded) messages suppressed by the rate limit.",
        ipv4_fragments_received: "IPv4 fragments for one of our addresses (each is then held, part of a datagram, or counted as a drop).",
        ipv4_reassembled: "IPv4 datagrams reassembled from fragments and handled as any other.",
        ipv4_fragmented: "IPv4 replies larger than the MTU sent in fragments.",
        ipv4_fragments_sent: "The fragments those replies went out in.",
        icmp_time_exceeded: "ICMP time exceeded (fragment reassembly) sent for datagrams given up with fragment zero held.",
        udp_echo_replies: "UDP echo datagrams reflected.",
        sockperf_replies: "sockperf pong replies sent.",
        udp_sent_in_place: "UDP datagrams an application wrote over one it received, sent back in the same buffer (the load generator's closed-loop requests).",
        sockperf_no_reply: "sockperf messages that asked for no reply.",
        tcp_rst_sent: "RST segments sent.",
        tcp_connections_opened: "TCP connections that reached ESTABLISHED.",
        tcp_table_inserted: "TCP connections put in the table (inserted minus removed is how many it holds).",
        tcp_table_removed: "TCP connections taken out of the table.",
        tcp_closed_fin: "TCP connections that ended with the FIN exchange.",
        tcp_closed_rst: "TCP connections that ended by RST.",
        tcp_closed_timeout: "TCP connections that gave up after retransmissions.",
        tcp_retransmits: "TCP segments sent again (after a timeout, or fast retransmit).",
        tcp_timeouts: "TCP retransmission timeouts (RFC 6298 §5.4; a loss probe that takes the timer's place is not one).",
        tcp_fast_retransmits: "TCP loss recoveries started without a timeout: NewReno's fast retransmit on three duplicate ACKs, or with SACK a loss found by RFC 6675 or RACK (RFC 8985).",
        tcp_out_of_order: "TCP segments received out of order (kept for reassembly).",
        tcp_out_of_order_dropped: "TCP out-of-order segments not kept: the out-of-order store, sized by the receive buffer, had no range left.",
        tcp_sack_connections: "TCP connections established with SACK (RFC 2018) negotiated.",
        tcp_dsacks_sent: "TCP D-SACK blocks sent, each reporting a duplicate segment received (RFC 2883).",
        tcp_dsacks_received: "TCP ACKs received with a D-SACK block (RFC 2883): a duplicate the peer got, not a loss.",
        tcp_sack_blocks_ignored: "TCP SACK blocks received outside what was in flight (or empty), ignored.",
        tcp_sack_malformed: "TCP SACK options of a length other than 2 + 8n (n = 1..4), ignored; the segment was taken.",
        tcp_sack_reneged: "Times a TCP peer dropped data it had SACKed (RFC 2018 §8 reneging).",
        tcp_loss_probes: "TCP tail loss probes sent (RFC 8985 §7).",
        tcp_rescue_retransmits: "TCP rescue retransmissions: in a SACK recovery with nothing else to send, the highest segment not SACKed sent again, once a recovery (RFC 6675 NextSeg rule 4).",
        tcp_paws_rejected: "TCP segments discarded by PAWS: a timestamp older than the latest one of their connection (RFC 7323 §5), answered with an ACK.",
        tcp_window_probes: "TCP zero-window probes sent (RFC 9293 §3.8.6.1; not counted as retransmissions).",
        tcp_syn_cookies_sent: "SYN-ACKs sent as SYN cookies because the half-open backlog was full.",
        tcp_syn_cookies_ok: "Connections completed from a valid SYN cookie.",
        tcp_time_wait_reopened: "Connections in TIME_WAIT reopened by a new SYN (RFC 6191).",
        tcp_challenge_acks: "RFC 5961 challenge ACKs sent.",
        tcp_time_wait_reused: "Ephemeral ports taken over from our own connection in TIME_WAIT (after 1 s, with a higher ISN: RFC 6191).",
        tcp_connect_no_port: "Active opens that found every ephemeral port of the worker busy or in TIME_WAIT (the client waits and tries again).",
        steered_out: "Frames handed to the worker that owns their flow (they landed on another queue).",
        steered_in: "Frames handled for another worker that received them.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_reason_names_are_unique_snake_case() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }

    #[test]
    fn snapshots_merge_and_serialize() {
        let a = StackCounters::default();
        a.rx_frames.add(3);
        a.count_drop(DropReason::Fragment);
        a.count_drop(DropReason::Fragment);
        let b = StackCounters::default();
        b.rx_frames.inc();
        b.count_drop(DropReason::Truncated);
        let mut s = a.snapshot();
        s.merge(&b.snapshot());
        assert_eq!(s.rx_frames, 4);
        assert_eq!(s.drops_total(), 3);
        let by: Vec<_> = s.drops_by_reason().collect();
        assert_eq!(
            by,
            vec![(DropReason::Truncated, 1), (DropReason::Fragment, 2)]
        );
        let j = s.to_json();
        assert_eq!(j["rx_frames"], 4);
        assert_eq!(j["drops"]["fragment"], 2);
        assert_eq!(j["drops"]["bad_checksum"], 0);
        assert_eq!(j["drops_total"], 3);
    }
}
pub mod hist;
pub mod hlog;
pub mod plot;
