//! The whole stack: `xstack serve`'s responder (UDP echo on 7, sockperf on 11111, TCP
//! echo on 7 and TCP sockperf, ICMP and ICMPv6 echo, ARP, Neighbor Discovery) owning
//! 198.18.0.2/24 and 2001:2::2/64, on one end of the simulated link (`driver::sim`), driven
//! the way the worker loop drives it: a batch of received frames through
//! `Engine::on_frame` (`Stack::handle_frame`), then `poll`.
//!
//! Each input is one run. A fixed prefix first opens three TCP connections from the
//! kernel peer's addresses (two over IPv4, one over IPv6, with and without options), so
//! the connection table holds established connections whose sequence numbers the
//! harness knows. The input then is a sequence of records, each one frame:
//!
//! ```text
//! ctl: u8   bits 0-2  virtual time to move on before the frame (TIME_STEPS)
//!           bit 3     FIX_ETH: Ethernet destination = the stack's MAC, source = the peer's
//!           bit 4     FIX_SUMS: IPv4 header checksum and the TCP/UDP/ICMP/ICMPv6 checksum
//!                     recomputed over what the stack will read
//!           bit 5     REBASE: TCP sequence numbers relative: SEG.SEQ += PEER_ISN and
//!                     SEG.ACK += the ISN the stack chose for that 4-tuple (captured
//!                     conversations in the corpus are stored this way)
//!           bit 6     END_BATCH: the worker loop runs one iteration after this frame
//!           bit 7     SEGMENT: the bytes are not a frame but a segment spec on one of
//!                     the connections the harness knows (see `segment_frame`)
//! len: u16 little-endian, then len bytes (cut to what is left and to 2048)
//! ```
//!
//! After every loop iteration, and through a wind-down of virtual time at the end (so
//! retransmission, persist, TIME_WAIT and SYN-cookie timers all fire), it checks:
//! - nothing panics (the stack promises that no frame can make it);
//! - every frame the stack sends is well formed: our MAC as source; an ARP, IPv4 or
//!   IPv6 packet whose lengths match the frame exactly, from one of our addresses, with
//!   every checksum right (IPv4 header, TCP, UDP, ICMP, ICMPv6) and no fragment;
//! - the counters agree with what happened: frames received and sent as the link saw
//!   them, drops no more than frames, table inserts minus removes equal to the
//!   connections held, no more connections than the table's capacity, no more closes
//!   than removals;
//! - after a poll, the stack asks to be polled again only later (no busy loop).

use crate::frames::{take_u16, take_u8};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;
use std::collections::HashMap;
use std::sync::Arc;
use xstack::app::responder::Responder;
use xstack::app::serve::responder_stack_with;
use xstack::config::AddrSet;
use xstack::driver::sim::{Faults, SimClock, SimDevice, SimLink};
use xstack::driver::{Device, Verdict};
use xstack::metrics::StackCounters;
use xstack::proto::tcp::TcpConfig;
use xstack::stack::{Engine, Secrets, Stack, StackConfig};
use xstack::time::Instant;
use xstack::wire::icmp::Icmpv4Packet;
use xstack::wire::{
    ArpPacket, ArpRepr, EtherType, EthernetAddress, EthernetFrame, Icmpv4Repr, Icmpv6Packet,
    Icmpv6Repr, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TcpFlags, TcpOptions,
    TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};

pub const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
pub const PEER_V4: Ipv4Addr = crate::frames::PEER_V4;
pub const OURS_V4: Ipv4Addr = crate::frames::OURS_V4;
pub const PEER_V6: Ipv6Addr = crate::frames::PEER_V6;
pub const OURS_V6: Ipv6Addr = crate::frames::OURS_V6;
/// TCP and UDP echo.
pub const ECHO: u16 = 7;
pub const SOCKPERF: u16 = 11111;
/// The peer's ISN of every connection the harness opens, and what REBASE adds.
pub const PEER_ISN: u32 = 0x1000_0000;
/// Connections the table holds at most: small, so that a full table is reachable.
pub const TABLE_CAPACITY: usize = 24;
/// Half-open connections before SYN cookies answer: small, for the same reason.
pub const SYN_BACKLOG: usize = 4;
/// The longest frame on the link: a 1500-byte MTU.
pub const MAX_FRAME: usize = 1514;

pub const TIME_EVERY: u8 = 0x07;
pub const FIX_ETH: u8 = 0x08;
pub const FIX_SUMS: u8 = 0x10;
pub const REBASE: u8 = 0x20;
pub const END_BATCH: u8 = 0x40;
pub const SEGMENT: u8 = 0x80;

/// Virtual time before a frame, by the low three bits of its control byte.
pub const TIME_STEPS: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_micros(10),
    Duration::from_millis(1),
    Duration::from_millis(30),
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(7),
    Duration::from_secs(65),
];

/// The prefix's connections: (peer address, peer port, SYN options).
fn prefix_connections() -> [(IpAddr, u16, TcpOptions); 3] {
    let all = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some((1000, 0)),
        ..TcpOptions::default()
    };
    let some = TcpOptions {
        mss: Some(1220),
        window_scale: Some(2),
        ..TcpOptions::default()
    };
    [
        (PEER_V4.into(), 50001, all),
        (PEER_V4.into(), 50002, TcpOptions::default()),
        (PEER_V6.into(), 50003, some),
    ]
}

/// A 4-tuple as the peer sees it: (peer address, peer port, our address, our port).
type Tuple = (IpAddr, u16, IpAddr, u16);

/// What the harness learnt of one connection from the stack's segments.
#[derive(Clone, Copy, Debug)]
struct Seen {
    /// The stack's ISN (from its SYN-ACK).
    iss: u32,
    /// The highest SEG.SEQ + SEG.LEN the stack sent.
    snd_max: u32,
    /// The last acknowledgment number the stack sent: what it expects from the peer.
    rcv_nxt: u32,
}

pub struct Harness {
    clock: SimClock,
    peer: SimDevice,
    dev: SimDevice,
    pub stack: Stack<Responder>,
    counters: Arc<StackCounters>,
    /// Frames the stack received and sent, as the link saw them.
    received: u64,
    sent: u64,
    conns: HashMap<Tuple, Seen>,
    /// The tuples in the order first seen (SEGMENT records pick from these).
    order: Vec<Tuple>,
}

impl Harness {
    /// A fresh stack with the prefix's three connections established.
    pub fn new() -> Harness {
        let clock = SimClock::new();
        let faults = Faults {
            latency: Duration::ZERO,
            ..Faults::default()
        };
        let (peer, dev) = SimLink::pair(&clock, faults, 1);
        assert_eq!(dev.info().mac, OUR_MAC);
        let counters = Arc::new(StackCounters::default());
        let addrs = AddrSet::parse_all(&["198.18.0.2/24", "2001:2::2/64"]).unwrap();
        let cfg = StackConfig {
            udp_echo: vec![ECHO],
            sockperf: Some(SOCKPERF),
            tcp_capacity: TABLE_CAPACITY,
            syn_backlog: SYN_BACKLOG,
            icmp_unreachable_rate: 50,
            // Small buffers, so that a few frames fill a window.
            tcp: TcpConfig {
                recv_buffer: 8192,
                send_buffer: 8192,
                ..TcpConfig::default()
            },
            ..StackConfig::new(addrs, OUR_MAC, Secrets::from_seed(7))
        };
        let stack = responder_stack_with(cfg, &[ECHO], counters.clone());
        let mut h = Harness {
            clock,
            peer,
            dev,
            stack,
            counters,
            received: 0,
            sent: 0,
            conns: HashMap::new(),
            order: Vec::new(),
        };
        h.step();
        for (ip, port, options) in prefix_connections() {
            let ours = if ip.is_ipv4() {
                IpAddr::V4(OURS_V4)
            } else {
                IpAddr::V6(OURS_V6)
            };
            let t = (ip, port, ours, ECHO);
            let syn = tcp_frame(t, PEER_ISN, 0, TcpFlags::SYN, 65535, &options, &[]);
            h.deliver(&syn);
            h.step();
            let seen = *h.conns.get(&t).expect("the stack answered the SYN");
            let ack = tcp_frame(
                t,
                PEER_ISN.wrapping_add(1),
                seen.iss.wrapping_add(1),
                TcpFlags::ACK,
                65535,
                &TcpOptions::default(),
                &[],
            );
            h.deliver(&ack);
            h.step();
        }
        let opened = h.counters.snapshot().tcp_connections_opened;
        assert_eq!((h.stack.tcp_connections(), opened), (3, 3), "the prefix");
        h
    }

    /// Puts a frame on the link towards the stack (it is received at the next step), cut
    /// to 1514 bytes: no driver hands the stack a frame longer than the link's MTU allows
    /// (a longer one is dropped before it, as `oversize`).
    pub fn deliver(&mut self, frame: &[u8]) {
        let n = frame.len().min(MAX_FRAME);
        self.peer.inject(&frame[..n]);
    }

    /// One iteration of the worker loop: everything on the link, then poll; then what
    /// the stack sent is checked and learnt from, and the invariants checked.
    pub fn step(&mut self) {
        let now = self.clock.now();
        let stack = &mut self.stack;
        loop {
            let n = self
                .dev
                .receive(64, &mut |f, tx| stack.on_frame(now, f, tx))
                .unwrap();
            self.received += n as u64;
            if n < 64 {
                break;
            }
        }
        stack.poll(now, self.dev.transmitter());
        let mut out = Vec::new();
        self.peer
            .receive(usize::MAX, &mut |f, _| {
                out.push(f.to_vec());
                Verdict::Drop
            })
            .unwrap();
        for f in &out {
            self.sent += 1;
            self.outbound(f);
        }
        self.check(now);
    }

    /// Moves virtual time on by `d`.
    pub fn advance(&mut self, d: Duration) {
        self.clock.advance(d);
    }

    /// Runs the loop through `total` of virtual time, waking at the stack's own timers
    /// (at most `max_wakes` of them).
    pub fn wind_down(&mut self, total: Duration, max_wakes: u32) {
        let end = self.clock.now() + total;
        for _ in 0..max_wakes {
            let now = self.clock.now();
            if now >= end {
                break;
            }
            let next = self.stack.poll_at().unwrap_or(end).clamp(now, end);
            self.clock.set(next);
            self.step();
        }
    }

    fn check(&self, now: Instant) {
        let s = self.counters.snapshot();
        assert_eq!(s.rx_frames, self.received, "rx_frames against the link");
        assert_eq!(s.tx_frames, self.sent, "tx_frames against the link");
        assert!(s.drops_total() <= s.rx_frames, "more drops than frames");
        let held = self.stack.tcp_connections() as u64;
        assert_eq!(
            s.tcp_table_inserted - s.tcp_table_removed,
            held,
            "table inserts - removes against the connections held"
        );
        assert!(held as usize <= TABLE_CAPACITY);
        assert!(s.tcp_closed_fin + s.tcp_closed_rst + s.tcp_closed_timeout <= s.tcp_table_removed);
        assert!(s.tcp_connections_opened <= s.tcp_table_inserted);
        if let Some(t) = self.stack.poll_at() {
            assert!(t > now, "polled at {now}, wants a poll again at {t}");
        }
    }

    /// Checks one frame the stack sent and learns TCP sequence numbers from it.
    fn outbound(&mut self, f: &[u8]) {
        let eth = EthernetFrame::new_checked(f).expect("a frame with an Ethernet header");
        assert!(
            f.len() <= MAX_FRAME,
            "a {}-byte frame on a 1500-byte MTU",
            f.len()
        );
        assert_eq!(
            eth.src_addr(),
            EthernetAddress(OUR_MAC),
            "our MAC as the source"
        );
        match eth.ethertype() {
            EtherType::Arp => {
                let p = ArpPacket::new_checked(eth.payload()).expect("ARP");
                let r = ArpRepr::parse(&p).expect("ARP parses");
                assert_eq!(r.source_hw, EthernetAddress(OUR_MAC));
                assert_eq!(r.source_ip, OURS_V4);
            }
            EtherType::Ipv4 => {
                let p = Ipv4Packet::new_checked(eth.payload()).expect("an IPv4 packet");
                let r = Ipv4Repr::parse(&p).expect("a valid IPv4 header");
                assert_eq!(
                    f.len(),
                    14 + usize::from(p.total_len()),
                    "frame and IP length"
                );
                assert_eq!(p.header_len(), 20, "no options");
                assert_eq!(r.src, OURS_V4);
                self.upper(r.protocol, p.payload(), r.src.into(), r.dst.into());
            }
            EtherType::Ipv6 => {
                let p = Ipv6Packet::new_checked(eth.payload()).expect("an IPv6 packet");
                let r = Ipv6Repr::parse(&p).expect("a valid IPv6 packet");
                assert_eq!(f.len(), 14 + 40 + usize::from(p.payload_len()));
                assert_eq!(r.ext_len, 0, "no extension headers");
                assert_eq!(r.src, OURS_V6);
                self.upper(r.protocol, p.upper_layer(0), r.src.into(), r.dst.into());
            }
            t => panic!("the stack sent EtherType {t}"),
        }
    }

    fn upper(&mut self, proto: IpProtocol, l4: &[u8], src: IpAddr, dst: IpAddr) {
        match proto {
            IpProtocol::Tcp => {
                let p = TcpPacket::new_checked(l4).expect("a TCP segment");
                let r = TcpRepr::parse(&p, src, dst).expect("a valid TCP segment");
                self.learn(&r, src, dst);
            }
            IpProtocol::Udp => {
                let p = UdpPacket::new_checked(l4).expect("a UDP datagram");
                assert_eq!(usize::from(p.len()), l4.len(), "UDP and IP length");
                UdpRepr::parse(&p, src, dst).expect("a valid UDP datagram");
            }
            IpProtocol::Icmp => {
                let p = Icmpv4Packet::new_checked(l4).expect("an ICMP message");
                Icmpv4Repr::parse(&p).expect("a valid ICMP message");
            }
            IpProtocol::Icmpv6 => {
                let (IpAddr::V6(s), IpAddr::V6(d)) = (src, dst) else {
                    unreachable!("ICMPv6 over IPv6")
                };
                let p = Icmpv6Packet::new_checked(l4).expect("an ICMPv6 message");
                Icmpv6Repr::parse(&p, s, d).expect("a valid ICMPv6 message");
            }
            IpProtocol::Unknown(n) => panic!("the stack sent IP protocol {n}"),
        }
    }

    fn learn(&mut self, r: &TcpRepr, src: IpAddr, dst: IpAddr) {
        let t = (dst, r.dst_port, src, r.src_port);
        let end = r.seq.wrapping_add(r.segment_len() as u32);
        if r.flags.contains(TcpFlags::SYN | TcpFlags::ACK) {
            let seen = Seen {
                iss: r.seq,
                snd_max: end,
                rcv_nxt: r.ack,
            };
            if self.conns.insert(t, seen).is_none() {
                self.order.push(t);
            }
            return;
        }
        if let Some(s) = self.conns.get_mut(&t) {
            if end.wrapping_sub(s.snd_max) as i32 > 0 {
                s.snd_max = end;
            }
            if r.flags.contains(TcpFlags::ACK) {
                s.rcv_nxt = r.ack;
            }
        }
    }

    /// The frame of a SEGMENT record, on a connection the harness knows:
    ///
    /// ```text
    /// [0] which connection (modulo how many are known)   [1] TCP flags
    /// [2..4] i16: SEG.SEQ - what the stack expects next  [4..6] i16: SEG.ACK - its SND.MAX
    /// [6..8] window   [8] n: bytes of options that follow (at most 40)   then the payload
    /// ```
    pub fn segment_frame(&self, spec: &[u8]) -> Option<Vec<u8>> {
        if self.order.is_empty() {
            return None;
        }
        let mut d = spec;
        let t = self.order[usize::from(take_u8(&mut d)) % self.order.len()];
        let seen = self.conns[&t];
        let flags = TcpFlags(take_u8(&mut d));
        let seq = seen.rcv_nxt.wrapping_add(take_u16(&mut d) as i16 as u32);
        let ack = seen.snd_max.wrapping_add(take_u16(&mut d) as i16 as u32);
        let window = take_u16(&mut d);
        let n = usize::from(take_u8(&mut d)).min(40).min(d.len());
        let (opts, payload) = d.split_at(n);
        let max_payload = 1500 - 60 - 60;
        let payload = &payload[..payload.len().min(max_payload)];
        Some(tcp_frame_raw_options(
            t, seq, ack, flags, window, opts, payload,
        ))
    }

    /// Applies the fix-ups a raw record asks for.
    pub fn fix(&self, ctl: u8, frame: &mut [u8]) {
        if ctl & FIX_ETH != 0 && frame.len() >= 12 {
            frame[..6].copy_from_slice(&OUR_MAC);
            frame[6..12].copy_from_slice(&PEER_MAC);
        }
        if ctl & (REBASE | FIX_SUMS) != 0 {
            fix_ip(frame, ctl & REBASE != 0, ctl & FIX_SUMS != 0, |t| {
                self.conns.get(&t).map(|s| s.iss)
            });
        }
    }
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

/// A whole frame from the peer on 4-tuple `t`.
pub fn tcp_frame(
    t: Tuple,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    options: &TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let mut opts = [0u8; 40];
    let n = options.emit(&mut opts);
    tcp_frame_raw_options(t, seq, ack, flags, window, &opts[..n], payload)
}

/// As [`tcp_frame`], with the options area given as bytes (padded with zeros, EOL, to
/// a multiple of four).
pub fn tcp_frame_raw_options(
    t: Tuple,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let (peer, sport, ours, dport) = t;
    let opt_len = options.len().div_ceil(4) * 4;
    let tcp_len = 20 + opt_len + payload.len();
    let ip_len = if peer.is_ipv4() { 20 } else { 40 };
    let mut f = vec![0u8; 14 + ip_len + tcp_len];
    f[..6].copy_from_slice(&OUR_MAC);
    f[6..12].copy_from_slice(&PEER_MAC);
    match (peer, ours) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
            Ipv4Repr::new(s, d, IpProtocol::Tcp, tcp_len)
                .emit(&mut Ipv4Packet::new_unchecked(&mut f[14..34]));
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
            Ipv6Repr::new(s, d, IpProtocol::Tcp, tcp_len)
                .emit(&mut Ipv6Packet::new_unchecked(&mut f[14..54]));
        }
        _ => unreachable!("one family"),
    }
    let l4 = &mut f[14 + ip_len..];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    l4[4..8].copy_from_slice(&seq.to_be_bytes());
    l4[8..12].copy_from_slice(&ack.to_be_bytes());
    l4[12] = (((20 + opt_len) / 4) as u8) << 4;
    l4[13] = flags.0;
    l4[14..16].copy_from_slice(&window.to_be_bytes());
    l4[20..20 + options.len()].copy_from_slice(options);
    l4[20 + opt_len..].copy_from_slice(payload);
    TcpPacket::new_unchecked(&mut l4[..]).fill_checksum(peer, ours);
    f
}

/// REBASE and FIX_SUMS on a raw frame: relative TCP sequence numbers made absolute
/// (`iss_of` gives the stack's ISN of a tuple it answered), and the checksums the stack
/// verifies recomputed over the bytes it will read.
fn fix_ip(frame: &mut [u8], rebase: bool, sums: bool, iss_of: impl Fn(Tuple) -> Option<u32>) {
    if frame.len() < 14 {
        return;
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let ip = &mut frame[14..];
    let (proto, l4, src, dst): (u8, &mut [u8], IpAddr, IpAddr) = match ethertype {
        0x0800 => {
            let Ok(p) = Ipv4Packet::new_checked(&*ip) else {
                return;
            };
            let (hl, total) = (p.header_len(), usize::from(p.total_len()));
            let (s, d, proto) = (p.src_addr(), p.dst_addr(), u8::from(p.protocol()));
            if sums {
                Ipv4Packet::new_unchecked(&mut *ip).fill_checksum();
            }
            (proto, &mut ip[hl..total], s.into(), d.into())
        }
        0x86dd => {
            let Ok(p) = Ipv6Packet::new_checked(&*ip) else {
                return;
            };
            let Ok(w) = p.walk() else {
                return;
            };
            let end = 40 + usize::from(p.payload_len());
            let (s, d) = (p.src_addr(), p.dst_addr());
            (
                u8::from(w.protocol),
                &mut ip[w.offset..end],
                s.into(),
                d.into(),
            )
        }
        _ => return,
    };
    match proto {
        6 => {
            if l4.len() < 20 {
                return;
            }
            if rebase {
                let sport = u16::from_be_bytes([l4[0], l4[1]]);
                let dport = u16::from_be_bytes([l4[2], l4[3]]);
                let seq = u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]);
                l4[4..8].copy_from_slice(&seq.wrapping_add(PEER_ISN).to_be_bytes());
                if let Some(iss) = iss_of((src, sport, dst, dport)) {
                    let ack = u32::from_be_bytes([l4[8], l4[9], l4[10], l4[11]]);
                    l4[8..12].copy_from_slice(&ack.wrapping_add(iss).to_be_bytes());
                }
            }
            if sums {
                TcpPacket::new_unchecked(&mut *l4).fill_checksum(src, dst);
            }
        }
        17 if sums && l4.len() >= 8 => {
            let len = usize::from(u16::from_be_bytes([l4[4], l4[5]]));
            if (8..=l4.len()).contains(&len) {
                UdpPacket::new_unchecked(&mut l4[..len]).fill_checksum(src, dst);
            }
        }
        1 if sums && l4.len() >= 8 => Icmpv4Packet::new_unchecked(&mut *l4).fill_checksum(),
        58 if sums && l4.len() >= 8 => {
            if let (IpAddr::V6(s), IpAddr::V6(d)) = (src, dst) {
                Icmpv6Packet::new_unchecked(&mut *l4).fill_checksum(s, d);
            }
        }
        _ => {}
    }
}

/// One record of the input: the control byte and its bytes.
pub fn records(mut data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        let ctl = take_u8(&mut data);
        let len = usize::from(take_u16(&mut data)).min(data.len()).min(2048);
        let (body, rest) = data.split_at(len);
        data = rest;
        Some((ctl, body))
    })
}

/// Encodes records in the input format (for seeds and tests).
pub fn encode(records: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (ctl, body) in records {
        out.push(*ctl);
        out.extend_from_slice(&(body.len() as u16).to_le_bytes());
        out.extend_from_slice(body);
    }
    out
}

pub fn run(data: &[u8]) {
    let mut h = Harness::new();
    let mut pending = false;
    for (ctl, body) in records(data).take(256) {
        let dt = TIME_STEPS[usize::from(ctl & TIME_EVERY)];
        if !dt.is_zero() {
            if pending {
                h.step();
            }
            h.advance(dt);
            // The timers that fell due on the way.
            h.step();
            pending = false;
        }
        let frame = if ctl & SEGMENT != 0 {
            h.segment_frame(body)
        } else {
            let mut f = body.to_vec();
            h.fix(ctl, &mut f);
            Some(f)
        };
        if let Some(f) = frame {
            h.deliver(&f);
            pending = true;
        }
        if ctl & END_BATCH != 0 {
            h.step();
            pending = false;
        }
    }
    h.step();
    // Every timer the run left: retransmissions to their limit, persist probes,
    // TIME_WAIT, delayed ACKs.
    h.wind_down(Duration::from_secs(900), 400);
}
