//! stack/: demultiplexes frames to ARP, ICMP, UDP and TCP and answers them. One
//! [`Stack`] is one worker's network host: its address, ARP cache, UDP services (answered
//! on a fast path, in place), the TCP endpoint (`tcp/`) and the application on top
//! ([`App`]). `xstack serve` and `xstack load` are two configurations of it: the
//! responders of `app/` on listening ports, or a load generator that opens connections
//! and sends datagrams. It implements [`Engine`] for the worker loop.
//!
//! Invariants:
//! - A frame is parsed in place and every reply that mirrors a request (ARP reply, ICMP
//!   echo reply, UDP echo, sockperf pong) is written over the request and reflected, with
//!   checksums patched incrementally (RFC 1624) rather than recomputed. A datagram an
//!   application answers in place ([`App::datagram_in_place`]) has a new payload: it
//!   gets the headers and the full checksum `Net::send_udp` would have written.
//! - Every frame that is not answered or consumed is counted under a [`DropReason`];
//!   nothing a peer sends can make this code panic or return an error.
//! - UDP and TCP have separate port spaces.
//! - Everything random comes from [`Secrets`] in the configuration, and the time from
//!   the caller: a stack built with fixed secrets replays a simulation exactly.

pub mod app;
pub mod cookie;
pub mod engine;
#[cfg(test)]
pub(crate) mod in_place_tests;
mod ipv6;
pub mod ownership;
pub mod table;
pub mod tcp;
pub mod trace;

pub use app::{App, ConnId, DatagramAction, NoApp, TcpSocket};
pub use engine::Engine;
pub use ownership::Ownership;
pub use tcp::{ConnectError, DEFAULT_SYN_BACKLOG};

/// TCP connections a worker's table holds unless configured otherwise. The table's
/// memory is reserved, not touched: a slot costs RSS only once a connection has used it.
pub const DEFAULT_TCP_CAPACITY: usize = 65536;

use crate::config::{AddrSet, ServeConfig};
use crate::driver::{Transmit, Verdict};
use crate::metrics::{DropReason, StackCounters};
use crate::proto::arp::{ArpCache, ArpConfig, Resolution};
use crate::proto::ndp::{NdpConfig, NeighborCache};
use crate::proto::ratelimit::TokenBucket;
use crate::proto::reassembly::{
    Discard, Fragment, FragmentKey, Outcome, Reassembler, ReassemblyConfig,
};
use crate::proto::tcp::TcpConfig;
use crate::time::Instant;
use crate::wire::icmp::{self, msg_type, time_exceeded_code, unreach_code, Icmpv4Packet};
use crate::wire::sockperf::{SockperfHeader, FLAG_PONG_REQUEST};
use crate::wire::{
    checksum, ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetAddress, EthernetFrame,
    IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, UdpPacket, UdpRepr, WireError,
};
use core::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use tcp::ports::PortSet;
use tcp::{EndpointConfig, TcpEndpoint};
use trace::Tracer;

pub(crate) const ETH_HEADER: usize = 14;
pub(crate) const IPV4_HEADER: usize = 20;
pub(crate) const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;
/// TTL of every packet xstack originates or answers.
const TTL: u8 = 64;

/// What runs on a UDP port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpService {
    Closed,
    /// RFC 862 echo.
    Echo,
    /// The sockperf responder.
    Sockperf,
}

/// The keys of everything a stack hashes: its connection table, its ISNs (RFC 6528) and
/// its SYN cookies. The binary draws them from the OS once per run; tests fix them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Secrets {
    pub table_seed: u64,
    /// RFC 6528's secret key. The binary keeps it for the whole boot (as the kernel
    /// does), so that with `isn_epoch_ns` a later run's ISNs for one 4-tuple lie above an
    /// earlier run's, and a peer holding that 4-tuple in TIME_WAIT accepts the new SYN.
    pub isn: u64,
    /// Added to the stack's clock for RFC 6528's timer M: the time since boot at the
    /// stack's time zero (0 in tests).
    pub isn_epoch_ns: u64,
    pub cookie: u64,
}

impl Secrets {
    /// Secrets derived from one seed (splitmix64), for tests and simulations.
    pub fn from_seed(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Secrets {
            table_seed: next(),
            isn: next(),
            isn_epoch_ns: 0,
            cookie: next(),
        }
    }
}

/// Configuration of one worker's stack.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// The addresses the stack owns (one or more, on one subnet).
    pub addrs: AddrSet,
    pub mac: [u8; 6],
    /// IP MTU of the link.
    pub mtu: usize,
    pub udp_echo: Vec<u16>,
    /// The sockperf responder's UDP port.
    pub sockperf: Option<u16>,
    /// TCP ports to listen on (the application says what runs there).
    pub tcp_listen: Vec<u16>,
    /// Most TCP connections at once.
    pub tcp_capacity: usize,
    /// The TCP connections' settings; the MSS is capped by the MTU.
    pub tcp: TcpConfig,
    /// The ephemeral ports this worker opens connections and sends datagrams from.
    pub ports: PortSet,
    /// Connections that may wait in SYN_RCVD before SYN cookies answer.
    pub syn_backlog: usize,
    /// ICMP port-unreachable (and reassembly time-exceeded) messages per second (burst of
    /// the same size).
    pub icmp_unreachable_rate: u32,
    pub arp: ArpConfig,
    /// Announce our address with a gratuitous ARP when the stack starts.
    pub gratuitous_arp: bool,
    /// Answer ARP requests for our address (false when the kernel shares it and answers).
    pub answer_arp: bool,
    /// Neighbours known from the start, for good: on an address the kernel shares, its
    /// ARP replies go to the kernel, so the peers' MACs come from the kernel's table.
    pub neighbours: Vec<(Ipv4Addr, [u8; 6])>,
    /// How many IPv4 datagrams may be in reassembly, and for how long.
    pub reassembly: ReassemblyConfig,
    pub secrets: Secrets,
}

impl StackConfig {
    /// A stack owning `addrs` with no services, ready to be filled in.
    pub fn new(addrs: impl Into<AddrSet>, mac: [u8; 6], secrets: Secrets) -> Self {
        StackConfig {
            addrs: addrs.into(),
            mac,
            mtu: 1500,
            udp_echo: Vec::new(),
            sockperf: None,
            tcp_listen: Vec::new(),
            tcp_capacity: DEFAULT_TCP_CAPACITY,
            tcp: TcpConfig::default(),
            ports: PortSet::ALL,
            syn_backlog: DEFAULT_SYN_BACKLOG,
            icmp_unreachable_rate: 100,
            arp: ArpConfig::default(),
            gratuitous_arp: true,
            answer_arp: true,
            neighbours: Vec::new(),
            reassembly: ReassemblyConfig::default(),
            secrets,
        }
    }

    /// The stack `xstack serve` runs: UDP echo and sockperf on the fast path, and TCP
    /// listening on the echo ports and the sockperf port. `mac` and `mtu` still come from
    /// the device.
    pub fn serve(cfg: &ServeConfig, secrets: Secrets) -> Self {
        let mut tcp_listen = cfg.tcp_echo.clone();
        tcp_listen.extend(cfg.sockperf);
        StackConfig {
            udp_echo: cfg.udp_echo.clone(),
            sockperf: cfg.sockperf,
            tcp_listen,
            syn_backlog: cfg.syn_backlog,
            tcp_capacity: cfg.max_connections,
            tcp: TcpConfig {
                congestion: cfg.congestion,
                ..TcpConfig::default()
            },
            ..StackConfig::new(cfg.addrs.clone(), [0; 6], secrets)
        }
    }

    /// The MSS of a link with this MTU (IPv4 and TCP headers without options).
    pub fn mss(&self) -> u16 {
        self.mtu.saturating_sub(40).clamp(536, 8960) as u16
    }
}

pub struct Stack<A: App = NoApp> {
    tcp: TcpEndpoint<A::Conn>,
    app: A,
    addrs: AddrSet,
    mac: EthernetAddress,
    counters: Arc<StackCounters>,
    udp: Box<[UdpService; 65536]>,
    arp: ArpCache,
    /// IPv6 neighbours (RFC 4861).
    nd: NeighborCache,
    unreachable_limit: TokenBucket,
    /// Addresses still to announce with a gratuitous ARP (from the last down).
    announce_pending: usize,
    answer_arp: bool,
    /// IPv4 datagrams in reassembly.
    reassembly: Reassembler,
    /// The link's IP MTU: a reply longer than this leaves in fragments.
    mtu: usize,
}

impl<A: App> Stack<A> {
    pub fn new(cfg: StackConfig, counters: Arc<StackCounters>, app: A) -> Self {
        // UDP and TCP have separate port spaces; sockperf speaks both on its port.
        let udp = port_table(
            UdpService::Closed,
            &cfg.udp_echo,
            UdpService::Echo,
            cfg.sockperf,
            UdpService::Sockperf,
        );
        let rate = cfg.icmp_unreachable_rate;
        let mac = EthernetAddress(cfg.mac);
        let mut tcp = TcpEndpoint::new(
            EndpointConfig {
                addrs: cfg.addrs.all(),
                mac,
                tcp: TcpConfig {
                    mss: cfg.tcp.mss.min(cfg.mss()),
                    ..cfg.tcp
                },
                capacity: cfg.tcp_capacity,
                listen: cfg.tcp_listen.clone(),
                ports: cfg.ports,
                table_seed: cfg.secrets.table_seed,
                isn_secret: cfg.secrets.isn,
                isn_epoch_ns: cfg.secrets.isn_epoch_ns,
                cookie_secret: cfg.secrets.cookie,
            },
            counters.clone(),
        );
        tcp.set_syn_backlog(cfg.syn_backlog);
        let mut arp = ArpCache::new(cfg.arp);
        for &(ip, mac) in &cfg.neighbours {
            arp.insert_static(ip, EthernetAddress(mac));
        }
        Stack {
            tcp,
            app,
            announce_pending: if cfg.gratuitous_arp {
                cfg.addrs.count()
            } else {
                0
            },
            addrs: cfg.addrs,
            mac,
            counters,
            udp,
            arp,
            nd: NeighborCache::new(NdpConfig::default()),
            unreachable_limit: TokenBucket::new(rate, rate.max(1)),
            answer_arp: cfg.answer_arp,
            reassembly: Reassembler::new(cfg.reassembly, ETH_HEADER),
            mtu: cfg.mtu,
        }
    }

    pub fn mac(&self) -> EthernetAddress {
        self.mac
    }

    pub fn app(&self) -> &A {
        &self.app
    }

    /// Sets of TCP buffers its connections hold now, and the most they held at once.
    pub fn tcp_buffer_sets(&self) -> (usize, usize) {
        self.tcp.buffer_sets()
    }

    pub fn app_mut(&mut self) -> &mut A {
        &mut self.app
    }

    /// Prints every TCP segment and state transition as a ladder (`--trace`).
    pub fn with_tracer(mut self, tracer: Tracer) -> Self {
        self.tcp.set_tracer(tracer);
        self
    }

    /// Shares the TCP connections with the other stacks of a run (see [`Ownership`]):
    /// asks before each passive open, says when each such connection leaves.
    pub fn with_ownership(mut self, ownership: Option<Arc<dyn Ownership>>) -> Self {
        self.tcp.set_ownership(ownership);
        self
    }

    /// Sets how many connections may wait in SYN_RCVD before SYN cookies answer.
    pub fn set_syn_backlog(&mut self, backlog: usize) {
        self.tcp.set_syn_backlog(backlog);
    }

    /// TCP connections in the table (any state but CLOSED).
    pub fn tcp_connections(&self) -> usize {
        self.tcp.len()
    }

    pub fn counters(&self) -> &Arc<StackCounters> {
        &self.counters
    }

    pub fn arp_cache(&mut self) -> &mut ArpCache {
        &mut self.arp
    }

    fn dropped(&self, reason: DropReason) -> Verdict {
        self.counters.count_drop(reason);
        Verdict::Drop
    }

    /// The frame, rewritten into its reply, goes back out (counted by `handle_frame`, or
    /// by whoever sends a reassembled datagram's reply).
    fn reflected(&self, len: usize) -> Verdict {
        Verdict::Reflect(len)
    }

    /// Handles one frame: the body of [`Engine::on_frame`].
    pub fn handle_frame(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        tx: &mut dyn Transmit,
    ) -> Verdict {
        self.counters.rx_frames.inc();
        let verdict = self.demux(now, frame, tx);
        if let Verdict::Reflect(_) = verdict {
            self.counters.tx_frames.inc();
        }
        verdict
    }

    fn demux(&mut self, now: Instant, frame: &mut [u8], tx: &mut dyn Transmit) -> Verdict {
        let eth = match EthernetFrame::new_checked(&*frame) {
            Ok(e) => e,
            Err(e) => return self.dropped(drop_reason(e)),
        };
        let dst = eth.dst_addr();
        let v6_group = ipv6::is_ipv6_multicast_mac(dst.0) && !self.addrs.ips6().is_empty();
        if dst != self.mac && !dst.is_broadcast() && !v6_group {
            return self.dropped(DropReason::NotForUs);
        }
        let src = eth.src_addr();
        if !src.is_unicast() || src == self.mac {
            return self.dropped(DropReason::BadSource);
        }
        match eth.ethertype() {
            EtherType::Arp => self.handle_arp(now, frame),
            EtherType::Ipv4 if dst != self.mac => self.dropped(DropReason::NotForUs),
            EtherType::Ipv4 => self.handle_ipv4(now, frame, tx),
            EtherType::Ipv6 if dst.is_broadcast() => self.dropped(DropReason::NotForUs),
            EtherType::Ipv6 if self.addrs.ips6().is_empty() => {
                self.dropped(DropReason::UnknownEthertype)
            }
            EtherType::Ipv6 => self.handle_ipv6(now, frame, tx),
            t if t.is_vlan_tag() => self.dropped(DropReason::VlanTagged),
            _ => self.dropped(DropReason::UnknownEthertype),
        }
    }

    fn handle_arp(&mut self, now: Instant, frame: &mut [u8]) -> Verdict {
        let repr =
            match ArpPacket::new_checked(&frame[ETH_HEADER..]).and_then(|p| ArpRepr::parse(&p)) {
                Ok(r) => r,
                Err(e) => return self.dropped(drop_reason(e)),
            };
        if self.addrs.contains(repr.source_ip) || !repr.source_hw.is_unicast() {
            return self.dropped(DropReason::BadSource);
        }
        // RFC 826: update an entry we have; make one only if the packet is for us.
        let for_us = self.addrs.contains(repr.target_ip);
        if !self.arp.refresh(repr.source_ip, repr.source_hw, now) && for_us {
            self.arp.insert(repr.source_ip, repr.source_hw, now);
        }
        if !for_us || !self.answer_arp {
            return self.dropped(DropReason::NotForUs);
        }
        match repr.operation {
            ArpOperation::Request => {
                self.counters.arp_requests_received.inc();
                let reply = ArpRepr {
                    operation: ArpOperation::Reply,
                    source_hw: self.mac,
                    source_ip: repr.target_ip,
                    target_hw: repr.source_hw,
                    target_ip: repr.source_ip,
                };
                let len = ETH_HEADER + reply.buffer_len();
                let mut eth = EthernetFrame::new_unchecked(&mut *frame);
                eth.set_dst_addr(repr.source_hw);
                eth.set_src_addr(self.mac);
                reply.emit(&mut ArpPacket::new_unchecked(&mut frame[ETH_HEADER..len]));
                self.counters.arp_replies.inc();
                self.reflected(len)
            }
            // The cache was updated above; a reply needs nothing else.
            ArpOperation::Reply => Verdict::Drop,
            _ => self.dropped(DropReason::Unsupported),
        }
    }

    fn handle_ipv4(&mut self, now: Instant, frame: &mut [u8], tx: &mut dyn Transmit) -> Verdict {
        let packet = match Ipv4Packet::new_checked(&frame[ETH_HEADER..]) {
            Ok(p) => p,
            Err(e) => return self.dropped(drop_reason(e)),
        };
        // A fragment passes the same checks as a whole datagram (structure, header
        // checksum) and is then reassembled.
        let fragment = match Ipv4Repr::parse(&packet) {
            Ok(_) => false,
            Err(WireError::Fragment) => true,
            Err(e) => return self.dropped(drop_reason(e)),
        };
        let (src, dst, protocol) = (packet.src_addr(), packet.dst_addr(), packet.protocol());
        let (header, total) = (packet.header_len(), usize::from(packet.total_len()));
        if !self.addrs.contains(dst) {
            return self.dropped(DropReason::NotForUs);
        }
        if is_martian(&self.addrs, src) {
            return self.dropped(DropReason::MartianSource);
        }
        if self.addrs.contains(src) {
            return self.dropped(DropReason::BadSource);
        }
        if fragment {
            return self.handle_fragment(now, &frame[..ETH_HEADER + total], tx);
        }
        // Answer without the request's IP options (RFC 1122 lets a host ignore them):
        // slide the payload down over them so that the reply has a 20-byte header.
        let frame_len = if header > IPV4_HEADER {
            frame.copy_within(
                ETH_HEADER + header..ETH_HEADER + total,
                ETH_HEADER + IPV4_HEADER,
            );
            let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETH_HEADER..]);
            ip.set_version_and_header_len(4, IPV4_HEADER);
            ip.set_total_len((total - (header - IPV4_HEADER)) as u16);
            ip.fill_checksum();
            ETH_HEADER + total - (header - IPV4_HEADER)
        } else {
            ETH_HEADER + total
        };
        self.deliver_ipv4(now, &mut frame[..frame_len], src, dst, protocol, true, tx)
    }

    /// Hands a whole IPv4 datagram with a 20-byte header (received, or reassembled) to
    /// its protocol. `received`: the frame came whole and is the driver's, so an
    /// application may answer a datagram over it (a reassembled one's reply is sent by
    /// `send_ipv4`, whose fragments carry the request's identification).
    #[allow(clippy::too_many_arguments)]
    fn deliver_ipv4(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        received: bool,
        tx: &mut dyn Transmit,
    ) -> Verdict {
        match protocol {
            IpProtocol::Icmp => self.handle_icmp(now, frame),
            IpProtocol::Udp => self.handle_udp(now, frame, src, dst, received, tx),
            IpProtocol::Tcp => {
                self.tcp
                    .on_segment(now, frame, src.into(), dst.into(), &mut self.app)
            }
            _ => self.dropped(DropReason::UnknownProtocol),
        }
    }

    /// An IPv4 fragment for us (`frame` ends with its datagram's total length): held
    /// until its datagram is whole, which is then handled as one that came whole, and
    /// its reply, if longer than the MTU, sent in fragments. The fragment's own frame is
    /// never reflected.
    fn handle_fragment(&mut self, now: Instant, frame: &[u8], tx: &mut dyn Transmit) -> Verdict {
        self.counters.ipv4_fragments_received.inc();
        let ip = Ipv4Packet::new_unchecked(&frame[ETH_HEADER..]);
        let key = FragmentKey {
            src: ip.src_addr(),
            dst: ip.dst_addr(),
            protocol: ip.protocol().into(),
            ident: ip.ident(),
        };
        let outcome = self.reassembly.insert(
            now,
            &Fragment {
                key,
                offset: usize::from(ip.frag_offset()),
                more: ip.more_frags(),
                link: &frame[..ETH_HEADER],
                header: ip.header(),
                data: ip.payload(),
            },
        );
        let (slot, len) = match outcome {
            Outcome::Held => return Verdict::Drop,
            Outcome::Discarded { why, frames } => {
                self.counters.drops[discard_reason(why) as usize].add(frames as u64);
                return Verdict::Drop;
            }
            Outcome::Complete { slot, len } => (slot, len),
        };
        self.counters.ipv4_reassembled.inc();
        // The datagram's buffer is taken out of the pool while it is handled (no copy,
        // no allocation) and given back after its reply has gone.
        let mut datagram = self.reassembly.take(slot);
        let protocol = IpProtocol::from(key.protocol);
        let verdict = self.deliver_ipv4(
            now,
            &mut datagram[..len],
            key.src,
            key.dst,
            protocol,
            false,
            tx,
        );
        if let Verdict::Reflect(n) = verdict {
            self.send_ipv4(tx, &datagram[..n]);
        }
        self.reassembly.restore(slot, datagram);
        Verdict::Drop
    }

    /// Sends `frame` (Ethernet, a 20-byte IPv4 header, payload) from a buffer of our
    /// own: whole when it fits the MTU, else in fragments (RFC 791 §3.2), each with the
    /// datagram's identification, DF clear, and as much data as the MTU and a transmit
    /// buffer hold, in multiples of 8 bytes. The identification is the request's: the
    /// peer chose it unique among its fragmented datagrams to us (RFC 6864), so it is
    /// among ours to it. A frame that cannot go out for want of a transmit buffer counts
    /// the reply as `tx_no_buffer` (what went before it is lost with it).
    fn send_ipv4(&mut self, tx: &mut dyn Transmit, frame: &[u8]) {
        if frame.len() < ETH_HEADER + IPV4_HEADER {
            return;
        }
        let room = self.mtu.min(tx.frame_capacity().saturating_sub(ETH_HEADER));
        if frame.len() - ETH_HEADER <= room {
            if tx.send_with(&mut |buf| {
                buf[..frame.len()].copy_from_slice(frame);
                frame.len()
            }) {
                self.counters.tx_frames.inc();
            } else {
                self.counters.count_drop(DropReason::TxNoBuffer);
            }
            return;
        }
        let data = &frame[ETH_HEADER + IPV4_HEADER..];
        let chunk = room.saturating_sub(IPV4_HEADER) & !7;
        if chunk == 0 {
            self.counters.count_drop(DropReason::TxNoBuffer);
            return;
        }
        self.counters.ipv4_fragmented.inc();
        for (i, piece) in data.chunks(chunk).enumerate() {
            let offset = i * chunk;
            let more = offset + piece.len() < data.len();
            let len = ETH_HEADER + IPV4_HEADER + piece.len();
            let sent = tx.send_with(&mut |buf| {
                buf[..ETH_HEADER + IPV4_HEADER].copy_from_slice(&frame[..ETH_HEADER + IPV4_HEADER]);
                buf[ETH_HEADER + IPV4_HEADER..len].copy_from_slice(piece);
                let mut ip = Ipv4Packet::new_unchecked(&mut buf[ETH_HEADER..len]);
                ip.set_total_len((IPV4_HEADER + piece.len()) as u16);
                ip.set_flags_and_offset(false, more, offset as u16);
                ip.fill_checksum();
                len
            });
            if !sent {
                self.counters.count_drop(DropReason::TxNoBuffer);
                return;
            }
            self.counters.tx_frames.inc();
            self.counters.ipv4_fragments_sent.inc();
        }
    }

    /// RFC 1122 §3.3.2: each datagram given up at its timeout is counted, and, when its
    /// fragment zero was held, answered with a rate-limited ICMP time exceeded (code 1)
    /// quoting that fragment's header and first 8 bytes.
    //= https://www.rfc-editor.org/rfc/rfc1122#section-3.3.2
    //# If this timeout expires, the partially-reassembled datagram MUST be
    //# discarded and an ICMP Time Exceeded message sent to the source host
    //# (if fragment zero has been received).
    fn expire_fragments(&mut self, now: Instant, tx: &mut dyn Transmit) {
        let (counters, limit, mac) = (&self.counters, &mut self.unreachable_limit, self.mac);
        self.reassembly.expire(now, &mut |e| {
            counters.drops[DropReason::FragmentTimeout as usize].add(e.frames as u64);
            let Some(first) = e.first else { return };
            let original = &first[ETH_HEADER..];
            let quoted = Ipv4Packet::new_unchecked(original);
            if !icmp::may_send_icmp_error(&quoted) {
                return;
            }
            if !limit.take(now) {
                counters.icmp_unreachables_limited.inc();
                return;
            }
            let peer_mac = EthernetFrame::new_unchecked(first).src_addr();
            let (ip, peer_ip) = (quoted.dst_addr(), quoted.src_addr());
            let sent = tx.send_with(&mut |buf| {
                let (head, body) = buf.split_at_mut(ETH_HEADER + IPV4_HEADER);
                let Ok(len) =
                    icmp::emit_time_exceeded(time_exceeded_code::REASSEMBLY, original, body)
                else {
                    return 0;
                };
                let mut eth = EthernetFrame::new_unchecked(&mut *head);
                eth.set_dst_addr(peer_mac);
                eth.set_src_addr(mac);
                eth.set_ethertype(EtherType::Ipv4);
                Ipv4Repr::new(ip, peer_ip, IpProtocol::Icmp, len)
                    .emit(&mut Ipv4Packet::new_unchecked(&mut head[ETH_HEADER..]));
                ETH_HEADER + IPV4_HEADER + len
            });
            if sent {
                counters.icmp_time_exceeded.inc();
                counters.tx_frames.inc();
            } else {
                counters.count_drop(DropReason::TxNoBuffer);
            }
        });
    }

    fn handle_icmp(&mut self, now: Instant, frame: &mut [u8]) -> Verdict {
        let body = &mut frame[ETH_HEADER + IPV4_HEADER..];
        let mut msg = match Icmpv4Packet::new_checked(&mut *body) {
            Ok(m) => m,
            Err(e) => return self.dropped(drop_reason(e)),
        };
        if !msg.verify_checksum() {
            return self.dropped(DropReason::BadChecksum);
        }
        if msg.msg_type() == msg_type::DST_UNREACHABLE && msg.msg_code() == unreach_code::PORT {
            // The quote: the original IP header (ours, 20 bytes) and its UDP ports.
            let q = msg.data();
            let ours = q.len() >= IPV4_HEADER + 4
                && q[0] == 0x45
                && IpProtocol::from(q[9]) == IpProtocol::Udp
                && self
                    .addrs
                    .contains(Ipv4Addr::new(q[12], q[13], q[14], q[15]));
            if ours {
                let port = |at: usize| u16::from_be_bytes([q[at], q[at + 1]]);
                let local =
                    SocketAddrV4::new(Ipv4Addr::new(q[12], q[13], q[14], q[15]), port(IPV4_HEADER));
                let to = SocketAddrV4::new(
                    Ipv4Addr::new(q[16], q[17], q[18], q[19]),
                    port(IPV4_HEADER + 2),
                );
                if self.app.unreachable(now, to.into(), local.into()) {
                    return Verdict::Drop;
                }
            }
            return self.dropped(DropReason::Unsupported);
        }
        if msg.msg_type() != msg_type::ECHO_REQUEST || msg.msg_code() != 0 {
            return self.dropped(DropReason::Unsupported);
        }
        msg.echo_request_into_reply();
        self.counters.icmp_echo_replies.inc();
        turn_around(frame, self.mac);
        self.reflected(frame.len())
    }

    fn handle_udp(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        received: bool,
        tx: &mut dyn Transmit,
    ) -> Verdict {
        // A length field past the IP payload is `BadLength`; one short of it is fine.
        let udp = match UdpPacket::new_checked(&frame[ETH_HEADER + IPV4_HEADER..]) {
            Ok(u) => u,
            Err(e) => return self.dropped(drop_reason(e)),
        };
        // RFC 768: the datagram is as long as its length field says; IP payload past it
        // is not part of it (Linux ignores it too). From here on the frame ends there.
        //= https://www.rfc-editor.org/rfc/rfc768
        //# Length  is the length  in octets  of this user datagram  including  this
        //# header  and the data.
        let end = ETH_HEADER + IPV4_HEADER + usize::from(udp.len());
        let trimmed = end < frame.len();
        let frame = &mut frame[..end];
        let udp = UdpPacket::new_unchecked(&frame[ETH_HEADER + IPV4_HEADER..]);
        if !udp.verify_checksum(src, dst) {
            return self.dropped(DropReason::BadChecksum);
        }
        let port = udp.dst_port();
        match self.udp[usize::from(port)] {
            UdpService::Echo => {
                self.counters.udp_echo_replies.inc();
                if trimmed {
                    fit_ip_length(frame);
                }
                turn_around(frame, self.mac);
                swap_udp_ports(frame);
                self.reflected(frame.len())
            }
            UdpService::Sockperf => {
                if trimmed {
                    fit_ip_length(frame);
                }
                self.sockperf_reply(frame)
            }
            UdpService::Closed => {
                let from = SocketAddr::new(src.into(), udp.src_port());
                let to = SocketAddr::new(dst.into(), port);
                let at = ETH_HEADER + IPV4_HEADER + UDP_HEADER;
                self.deliver_datagram(now, frame, at, from, to, received, tx)
            }
        }
    }

    /// A datagram from `from` to `to`, a port the stack does not serve, whose payload
    /// starts at `at` in `frame` (a 20-byte IPv4 or a bare IPv6 header, cut at the end
    /// of the UDP datagram), goes to the application: lent in place when `in_place`
    /// (the frame is the driver's, so it can go back out as it is). A datagram the
    /// application writes over gets the very headers `Net::send_udp` would have written
    /// (the peer's MAC is the one the frame came from) and goes back out; one it does
    /// not take is answered as for a closed port.
    #[allow(clippy::too_many_arguments)]
    fn deliver_datagram(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        at: usize,
        from: SocketAddr,
        to: SocketAddr,
        in_place: bool,
        tx: &mut dyn Transmit,
    ) -> Verdict {
        let payload = &mut frame[at..];
        let action = if in_place {
            self.app.datagram_in_place(now, from, to, payload)
        } else if self.app.datagram(now, from, to, payload) {
            DatagramAction::Taken
        } else {
            DatagramAction::NotMine
        };
        match action {
            DatagramAction::Taken => Verdict::Drop,
            DatagramAction::Reply => {
                let peer_mac = EthernetFrame::new_unchecked(&*frame).src_addr();
                let len = write_udp_frame(frame, self.mac, peer_mac, to, from);
                self.counters.udp_sent_in_place.inc();
                self.reflected(len)
            }
            DatagramAction::NotMine => {
                self.counters.count_drop(DropReason::UdpClosedPort);
                if from.is_ipv4() {
                    self.port_unreachable(now, frame, tx);
                } else {
                    self.port_unreachable6(now, frame, tx);
                }
                Verdict::Drop
            }
        }
    }

    /// sockperf: answer only messages that ask for a pong, with the client bit cleared.
    fn sockperf_reply(&mut self, frame: &mut [u8]) -> Verdict {
        if !self.sockperf_pong(frame, ETH_HEADER + IPV4_HEADER) {
            return Verdict::Drop;
        }
        turn_around(frame, self.mac);
        swap_udp_ports_at(frame, ETH_HEADER + IPV4_HEADER);
        self.reflected(frame.len())
    }

    /// Makes the sockperf message of the UDP datagram at `udp_off` its pong, in place,
    /// with the UDP checksum patched; false (counted) if it asks for no reply or is too
    /// short.
    fn sockperf_pong(&mut self, frame: &mut [u8], udp_off: usize) -> bool {
        let Ok(mut msg) = SockperfHeader::new_checked(&mut frame[udp_off + UDP_HEADER..]) else {
            self.counters.count_drop(DropReason::Truncated);
            return false;
        };
        let flags = msg.flags();
        if flags & FLAG_PONG_REQUEST == 0 {
            self.counters.sockperf_no_reply.inc();
            return false;
        }
        msg.make_reply();
        let new_flags = msg.flags();
        // Patch the UDP checksum for the flags word (it sits at an even offset).
        let mut udp = UdpPacket::new_unchecked(&mut frame[udp_off..]);
        if udp.checksum() != 0 {
            let c = checksum::update_u16(udp.checksum(), flags, new_flags);
            udp.set_checksum(if c == 0 { 0xffff } else { c });
        }
        self.counters.sockperf_replies.inc();
        true
    }

    /// RFC 1122 §3.2.2.1 / RFC 1812 §4.3.2.8: a rate-limited ICMP port unreachable.
    fn port_unreachable(&mut self, now: Instant, frame: &[u8], tx: &mut dyn Transmit) {
        let request = &frame[ETH_HEADER..];
        let original = Ipv4Packet::new_unchecked(request);
        if !icmp::may_send_icmp_error(&original) {
            return;
        }
        if !self.unreachable_limit.take(now) {
            self.counters.icmp_unreachables_limited.inc();
            return;
        }
        let peer_mac = EthernetFrame::new_unchecked(frame).src_addr();
        let (mac, ip, peer_ip) = (self.mac, original.dst_addr(), original.src_addr());
        let sent = tx.send_with(&mut |buf| {
            let (head, body) = buf.split_at_mut(ETH_HEADER + IPV4_HEADER);
            let Ok(len) = icmp::emit_port_unreachable(request, body) else {
                return 0;
            };
            let mut eth = EthernetFrame::new_unchecked(&mut *head);
            eth.set_dst_addr(peer_mac);
            eth.set_src_addr(mac);
            eth.set_ethertype(EtherType::Ipv4);
            Ipv4Repr::new(ip, peer_ip, IpProtocol::Icmp, len)
                .emit(&mut Ipv4Packet::new_unchecked(&mut head[ETH_HEADER..]));
            ETH_HEADER + IPV4_HEADER + len
        });
        if sent {
            self.counters.icmp_unreachables.inc();
            self.counters.tx_frames.inc();
        } else {
            self.counters.count_drop(DropReason::TxNoBuffer);
        }
    }

    /// Sends an unsolicited neighbour advertisement of our IPv6 address `ip` to
    /// all-nodes.
    fn advertise(&mut self, tx: &mut dyn Transmit, ip: core::net::Ipv6Addr) -> bool {
        let msg = crate::proto::ndp::unsolicited_advertisement(ip, self.mac);
        let mac = self.mac;
        let sent = tx.send_with(&mut |buf| msg.emit_frame(mac, buf).unwrap_or(0));
        if sent {
            self.counters.ndp_advertisements_sent.inc();
            self.counters.tx_frames.inc();
        }
        sent
    }

    /// Sends a gratuitous ARP: a broadcast request for our own address `ip`.
    fn announce(&mut self, tx: &mut dyn Transmit, ip: Ipv4Addr) -> bool {
        let repr = ArpRepr {
            operation: ArpOperation::Request,
            source_hw: self.mac,
            source_ip: ip,
            target_hw: EthernetAddress([0; 6]),
            target_ip: ip,
        };
        self.send_arp(tx, EthernetAddress::BROADCAST, &repr)
    }

    fn send_arp(&mut self, tx: &mut dyn Transmit, to: EthernetAddress, repr: &ArpRepr) -> bool {
        let mac = self.mac;
        let sent = tx.send_with(&mut |buf| {
            let len = ETH_HEADER + repr.buffer_len();
            let mut eth = EthernetFrame::new_unchecked(&mut *buf);
            eth.set_dst_addr(to);
            eth.set_src_addr(mac);
            eth.set_ethertype(EtherType::Arp);
            repr.emit(&mut ArpPacket::new_unchecked(&mut buf[ETH_HEADER..len]));
            len
        });
        if sent {
            self.counters.tx_frames.inc();
        }
        sent
    }

    /// Runs the application's own work, then TCP (the connections that got segments or
    /// writes, and due timers), the start-up announcement and ARP resolution requests.
    pub fn poll(&mut self, now: Instant, tx: &mut dyn Transmit) {
        let mut net = Net {
            now,
            tcp: &mut self.tcp,
            arp: &mut self.arp,
            tx: &mut *tx,
            counters: &self.counters,
            mac: self.mac,
            addrs: &self.addrs,
            nd: &mut self.nd,
        };
        self.app.poll(now, &mut net);
        self.tcp.poll(now, tx, &mut self.app);
        self.expire_fragments(now, tx);
        // The start-up announcements: a gratuitous ARP for each IPv4 address, an
        // unsolicited neighbour advertisement (RFC 4861 §7.2.6) for each IPv6 one.
        while self.announce_pending > 0 {
            let i = self.addrs.count() - self.announce_pending;
            let sent = match self.addrs.ips().get(i) {
                Some(&ip) => {
                    let sent = self.announce(tx, ip);
                    if sent {
                        self.counters.gratuitous_arps.inc();
                    }
                    sent
                }
                None => self.advertise(tx, self.addrs.ips6()[i - self.addrs.len()]),
            };
            if !sent {
                break;
            }
            self.announce_pending -= 1;
        }
        if let Some(&ours) = self.addrs.ips6().first() {
            while let Some(sol) = self.nd.poll_request(now) {
                let msg = sol.message(ours, self.mac);
                let mac = self.mac;
                if tx.send_with(&mut |buf| msg.emit_frame(mac, buf).unwrap_or(0)) {
                    self.counters.ndp_solicitations_sent.inc();
                    self.counters.tx_frames.inc();
                }
            }
        }
        // ARP asks only for IPv4 peers, which a stack with no IPv4 address never has.
        let source = self.addrs.primary().map_or(Ipv4Addr::UNSPECIFIED, |p| p.ip);
        while let Some(ip) = self.arp.poll_request(now) {
            let repr = ArpRepr {
                operation: ArpOperation::Request,
                source_hw: self.mac,
                source_ip: source,
                target_hw: EthernetAddress([0; 6]),
                target_ip: ip,
            };
            if self.send_arp(tx, EthernetAddress::BROADCAST, &repr) {
                self.counters.arp_requests_sent.inc();
            }
        }
    }

    pub fn poll_at(&self) -> Option<Instant> {
        if self.announce_pending > 0 {
            return Some(Instant::ZERO);
        }
        [
            self.arp.poll_at(),
            self.nd.poll_at(),
            self.tcp.poll_at(),
            self.app.poll_at(),
            self.reassembly.poll_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// What an application may do from its own [`App::poll`]: resolve peers, open TCP
/// connections and write on them, send datagrams.
pub struct Net<'a, C> {
    now: Instant,
    tcp: &'a mut TcpEndpoint<C>,
    arp: &'a mut ArpCache,
    tx: &'a mut dyn Transmit,
    counters: &'a StackCounters,
    mac: EthernetAddress,
    addrs: &'a AddrSet,
    nd: &'a mut NeighborCache,
}

impl<C> Net<'_, C> {
    /// Our addresses.
    pub fn addrs(&self) -> &AddrSet {
        self.addrs
    }

    /// Looks `ip` up in the ARP cache, asking for it if it is not there.
    pub fn resolve(&mut self, ip: Ipv4Addr) -> Resolution {
        self.arp.resolve(ip, self.now)
    }

    /// Looks an address of either family up (ARP or the neighbour cache), asking for it
    /// if it is not there.
    pub fn resolve_ip(&mut self, ip: IpAddr) -> Resolution {
        match ip {
            IpAddr::V4(ip) => self.arp.resolve(ip, self.now),
            IpAddr::V6(ip) => self.nd.resolve(ip, self.now),
        }
    }

    /// Opens a TCP connection to `remote` from the next free ephemeral port of our
    /// addresses (taken in turn); `state` is the application's for it. The peer must
    /// have been resolved.
    pub fn connect(&mut self, remote: SocketAddr, state: C) -> Result<ConnId, ConnectError> {
        let mac = match remote.ip() {
            IpAddr::V4(ip) => self.arp.lookup(ip, self.now),
            IpAddr::V6(ip) => self.nd.lookup(ip, self.now),
        }
        .ok_or(ConnectError::NoRoute)?;
        self.tcp.connect(self.now, remote, mac, state)
    }

    /// The connection `id` names, to write on (what is written goes out this poll).
    pub fn socket(&mut self, id: ConnId) -> Option<(TcpSocket<'_>, &mut C)> {
        self.tcp.socket(id)
    }

    /// TCP connections not in TIME_WAIT.
    pub fn open_connections(&self) -> usize {
        self.tcp.open_connections()
    }

    /// Sends a UDP datagram of `len` bytes from `local` (one of our addresses) to
    /// `remote` (resolved), its payload written by `fill`. False when the peer is not
    /// resolved or no transmit buffer is free.
    pub fn send_udp(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> bool {
        let peer_mac = match remote.ip() {
            IpAddr::V4(ip) => self.arp.lookup(ip, self.now),
            IpAddr::V6(ip) => self.nd.lookup(ip, self.now),
        };
        let Some(peer_mac) = peer_mac else {
            return false;
        };
        debug_assert!(self.addrs.contains_ip(local.ip()), "{local} is not ours");
        debug_assert_eq!(local.is_ipv4(), remote.is_ipv4(), "one family");
        let (mac, ip_len) = (self.mac, ip_header_len(local.ip()));
        let sent = self.tx.send_with(&mut |buf| {
            let total = ETH_HEADER + ip_len + UDP_HEADER + len;
            if buf.len() < total {
                return 0;
            }
            fill(&mut buf[ETH_HEADER + ip_len + UDP_HEADER..total]);
            write_udp_frame(&mut buf[..total], mac, peer_mac, local, remote)
        });
        if sent {
            self.counters.tx_frames.inc();
        }
        sent
    }
}

/// A port table: `closed` everywhere but `echo` on the echo ports and `sockperf` on the
/// sockperf port.
fn port_table<T: Copy>(
    closed: T,
    echo_ports: &[u16],
    echo: T,
    sockperf_port: Option<u16>,
    sockperf: T,
) -> Box<[T; 65536]> {
    let mut t: Box<[T; 65536]> = vec![closed; 65536]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("the vector has 65536 entries"));
    for &p in echo_ports {
        t[usize::from(p)] = echo;
    }
    if let Some(p) = sockperf_port {
        t[usize::from(p)] = sockperf;
    }
    t
}

/// Sets the IPv4 total length to the frame's length (a reply cut down to its UDP datagram)
/// and patches the header checksum for it (RFC 1624).
fn fit_ip_length(frame: &mut [u8]) {
    let new = (frame.len() - ETH_HEADER) as u16;
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETH_HEADER..]);
    let old = ip.total_len();
    ip.set_total_len(new);
    ip.set_checksum(checksum::update_u16(ip.checksum(), old, new));
}

/// Swaps the UDP source and destination ports; the checksum is unchanged by a swap.
fn swap_udp_ports(frame: &mut [u8]) {
    swap_udp_ports_at(frame, ETH_HEADER + IPV4_HEADER);
}

/// Swaps the ports of the UDP header at `off`.
fn swap_udp_ports_at(frame: &mut [u8], off: usize) {
    let mut udp = UdpPacket::new_unchecked(&mut frame[off..]);
    let (s, d) = (udp.src_port(), udp.dst_port());
    udp.set_src_port(d);
    udp.set_dst_port(s);
}

/// Writes the Ethernet, IP and UDP headers of the datagram `frame` holds, from `local`
/// (ours, at `mac`) to `remote` (at `peer_mac`), its payload already in place after
/// them to the end of `frame`, with the UDP checksum computed over it; returns the
/// frame's length. What [`Net::send_udp`] builds, and what a datagram the application
/// answered in place becomes, so the two are the same bytes: the IP header of
/// `Ipv4Repr::new` (identification 0, DF, TTL 64) or of `Ipv6Repr::new` (hop limit 64,
/// no flow label), no options or extension headers.
fn write_udp_frame(
    frame: &mut [u8],
    mac: EthernetAddress,
    peer_mac: EthernetAddress,
    local: SocketAddr,
    remote: SocketAddr,
) -> usize {
    let ip_len = ip_header_len(local.ip());
    let len = frame.len() - ETH_HEADER - ip_len - UDP_HEADER;
    let mut eth = EthernetFrame::new_unchecked(&mut frame[..ETH_HEADER]);
    eth.set_dst_addr(peer_mac);
    eth.set_src_addr(mac);
    match (local.ip(), remote.ip()) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            eth.set_ethertype(EtherType::Ipv4);
            Ipv4Repr::new(src, dst, IpProtocol::Udp, UDP_HEADER + len).emit(
                &mut Ipv4Packet::new_unchecked(&mut frame[ETH_HEADER..ETH_HEADER + IPV4_HEADER]),
            );
        }
        (src, dst) => {
            eth.set_ethertype(EtherType::Ipv6);
            write_ipv6_header(
                &mut frame[ETH_HEADER..],
                src,
                dst,
                IpProtocol::Udp,
                UDP_HEADER + len,
            );
        }
    }
    let udp = UdpRepr {
        src_port: local.port(),
        dst_port: remote.port(),
        payload_len: len,
    };
    udp.emit(
        &mut UdpPacket::new_unchecked(&mut frame[ETH_HEADER + ip_len..]),
        local.ip(),
        remote.ip(),
    );
    frame.len()
}

/// A source address no host sends from, as seen on a link where we own `addr`: RFC 1122
/// §3.2.1.3's {0, any} (0.0.0.0/8), {127, any}, multicast (a class D address), the
/// limited broadcast {-1, -1} and the directed broadcast of our subnet. A /31 has no
/// broadcast address (RFC 3021), and a /32's would be our own.
//= https://www.rfc-editor.org/rfc/rfc1122#section-3.2.1.3
//# A host MUST silently discard an incoming datagram containing an IP
//# source address that is invalid by the rules of this section.
fn is_martian(addrs: &AddrSet, src: Ipv4Addr) -> bool {
    src.octets()[0] == 0
        || src.is_loopback()
        || src.is_multicast()
        || src.is_broadcast()
        || addrs
            .primary()
            .is_some_and(|s| s.prefix < 31 && src == s.broadcast())
}

/// The counter the fragments reassembly discarded are dropped under.
fn discard_reason(why: Discard) -> DropReason {
    match why {
        Discard::Overlap => DropReason::FragmentOverlap,
        Discard::Duplicate => DropReason::FragmentDuplicate,
        Discard::Invalid => DropReason::FragmentInvalid,
        Discard::SourceFull => DropReason::FragmentSourceFull,
        Discard::TableFull => DropReason::FragmentTableFull,
    }
}

/// The counter a parse error is dropped under.
pub fn drop_reason(e: WireError) -> DropReason {
    match e {
        WireError::Truncated => DropReason::Truncated,
        WireError::BadChecksum => DropReason::BadChecksum,
        WireError::BadLength => DropReason::BadLength,
        WireError::BadVersion => DropReason::BadVersion,
        WireError::BadHeaderLength => DropReason::BadHeaderLength,
        WireError::Fragment => DropReason::Fragment,
        WireError::Malformed => DropReason::Malformed,
        WireError::Unsupported => DropReason::Unsupported,
    }
}

impl<A: App> Engine for Stack<A> {
    fn on_frame(&mut self, now: Instant, frame: &mut [u8], tx: &mut dyn Transmit) -> Verdict {
        self.handle_frame(now, frame, tx)
    }

    fn poll(&mut self, now: Instant, tx: &mut dyn Transmit) {
        Stack::poll(self, now, tx)
    }

    fn poll_at(&self) -> Option<Instant> {
        Stack::poll_at(self)
    }

    fn finished(&self) -> bool {
        self.app.finished()
    }
}

/// The length of the IP header xstack writes for `ip`'s family (no options, no
/// extension headers).
pub(crate) fn ip_header_len(ip: IpAddr) -> usize {
    if ip.is_ipv4() {
        IPV4_HEADER
    } else {
        IPV6_HEADER
    }
}

/// Writes a bare IPv6 header (`wire::Ipv6Repr`: no extension headers, hop limit 64)
/// into the first 40 bytes of `buf`, for callers that hold the addresses as `IpAddr`.
/// Both must be IPv6.
pub(crate) fn write_ipv6_header(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    next: IpProtocol,
    payload_len: usize,
) {
    let v6 = |a: IpAddr| match a {
        IpAddr::V6(a) => a,
        IpAddr::V4(a) => a.to_ipv6_mapped(),
    };
    Ipv6Repr::new(v6(src), v6(dst), next, payload_len)
        .emit(&mut Ipv6Packet::new_unchecked(&mut buf[..IPV6_HEADER]));
}

/// Points the Ethernet header of a request back at its sender, from `mac`.
pub(crate) fn swap_macs(frame: &mut [u8], mac: EthernetAddress) {
    let mut eth = EthernetFrame::new_unchecked(&mut *frame);
    let peer = eth.src_addr();
    eth.set_dst_addr(peer);
    eth.set_src_addr(mac);
}

/// Swaps the Ethernet and IPv4 addresses of a request so that it becomes the reply,
/// and resets its TTL. Swapping addresses leaves every checksum as it was; only the
/// TTL change is patched into the IPv4 header checksum.
pub(crate) fn turn_around(frame: &mut [u8], mac: EthernetAddress) {
    swap_macs(frame, mac);
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETH_HEADER..]);
    let (s, d) = (ip.src_addr(), ip.dst_addr());
    ip.set_src_addr(d);
    ip.set_dst_addr(s);
    let old = u16::from_be_bytes([ip.ttl(), ip.protocol().into()]);
    let new = u16::from_be_bytes([TTL, ip.protocol().into()]);
    ip.set_ttl(TTL);
    ip.set_checksum(checksum::update_u16(ip.checksum(), old, new));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn martian_sources_are_the_ones_rfc_1122_forbids() {
        let ours = AddrSet::parse_all(&["198.18.0.2/24"]).unwrap();
        for m in [
            "0.0.0.0",
            "0.255.1.2",
            "127.0.0.1",
            "127.255.255.254",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "198.18.0.255",
        ] {
            assert!(is_martian(&ours, a(m)), "{m}");
        }
        for h in [
            "198.18.0.1",
            "198.18.0.0",
            "198.18.1.255",
            "198.19.0.1",
            "1.2.3.4",
        ] {
            assert!(!is_martian(&ours, a(h)), "{h}");
        }
        // RFC 3021: on a /31 the other address is a host, not a broadcast.
        let p2p = AddrSet::parse_all(&["198.18.0.2/31"]).unwrap();
        assert!(!is_martian(&p2p, a("198.18.0.3")));
        let host = AddrSet::parse_all(&["198.18.0.2/32"]).unwrap();
        assert!(!is_martian(&host, a("198.18.0.3")));
    }
}
