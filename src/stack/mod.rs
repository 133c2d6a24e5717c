//! stack/: demultiplexes frames to ARP, ICMP, UDP and TCP and answers them. It owns the
//! per-worker state (ARP cache, port tables, rate limits) and implements
//! [`Engine`](crate::runtime::Engine) for the worker loop.
//!
//! Invariants:
//! - A frame is parsed in place and every reply that mirrors a request (ARP reply, ICMP
//!   echo reply, UDP echo, sockperf pong) is written over the request and reflected, with
//!   checksums patched incrementally (RFC 1624) rather than recomputed.
//! - Every frame that is not answered or consumed is counted under a [`DropReason`];
//!   nothing a peer sends can make this code panic or return an error.
//! - UDP and TCP have separate port spaces.

use crate::config::{IfaceAddr, ServeConfig};
use crate::driver::{Transmit, Verdict};
use crate::metrics::{DropReason, StackCounters};
use crate::proto::arp::{ArpCache, ArpConfig};
use crate::proto::ratelimit::TokenBucket;
use crate::proto::tcp::{
    CloseReason, ConnStats, Connection, Event, Segment, SeqNumber, State, TcpConfig,
};
use crate::runtime::Engine;
use crate::time::Instant;
use crate::wire::icmp::{self, msg_type, Icmpv4Packet};
use crate::wire::sockperf::{SockperfHeader, FLAG_PONG_REQUEST};
use crate::wire::{
    checksum, ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetAddress, EthernetFrame,
    IpProtocol, Ipv4Packet, Ipv4Repr, TcpFlags, TcpOptions, TcpPacket, TcpRepr, UdpPacket,
    WireError,
};
use cookie::SynCookies;
use core::cmp::Reverse;
use core::hash::BuildHasher;
use core::net::Ipv4Addr;
use std::collections::hash_map::RandomState;
use std::collections::BinaryHeap;
use std::sync::Arc;
use table::{ConnTable, FlowKey};
use trace::{Rung, Tracer};

pub mod cookie;
pub mod table;
pub mod trace;

const ETH_HEADER: usize = 14;
const IPV4_HEADER: usize = 20;
const UDP_HEADER: usize = 8;
/// TTL of every packet xstack originates or answers.
const TTL: u8 = 64;
/// Connections in SYN_RCVD at most; past this, SYN cookies answer (RFC 4987).
pub const DEFAULT_SYN_BACKLOG: usize = 1024;

/// What runs on a UDP port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpService {
    Closed,
    /// RFC 862 echo.
    Echo,
    /// The sockperf responder.
    Sockperf,
}

/// Configuration of one worker's stack.
#[derive(Clone, Debug)]
pub struct StackConfig {
    pub addr: IfaceAddr,
    pub mac: [u8; 6],
    /// IP MTU of the link.
    pub mtu: usize,
    pub udp_echo: Vec<u16>,
    pub sockperf: Option<u16>,
    /// TCP ports that echo.
    pub tcp_echo: Vec<u16>,
    /// Most TCP connections at once.
    pub tcp_capacity: usize,
    /// ICMP port-unreachable messages per second (burst of the same size).
    pub icmp_unreachable_rate: u32,
    pub arp: ArpConfig,
    /// Announce our address with a gratuitous ARP when the stack starts.
    pub gratuitous_arp: bool,
}

impl StackConfig {
    /// The stack `xstack serve` runs; `mac` and `mtu` still come from the device.
    pub fn serve(cfg: &ServeConfig) -> Self {
        StackConfig {
            addr: cfg.addr,
            mac: [0; 6],
            mtu: 1500,
            udp_echo: cfg.udp_echo.clone(),
            sockperf: cfg.sockperf,
            tcp_echo: cfg.tcp_echo.clone(),
            tcp_capacity: 65536,
            icmp_unreachable_rate: 100,
            arp: ArpConfig::default(),
            gratuitous_arp: true,
        }
    }
}

/// What runs on a TCP port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TcpService {
    Closed,
    Echo,
    Sockperf,
}

/// The application on one connection.
enum TcpApp {
    Echo,
    Sockperf(crate::app::sockperf::SockperfFramer),
}

impl TcpApp {
    fn new(service: TcpService) -> Self {
        match service {
            TcpService::Sockperf => TcpApp::Sockperf(Default::default()),
            _ => TcpApp::Echo,
        }
    }
}

/// One TCP connection of the stack: the state machine and where its peer is.
struct TcpFlow {
    conn: Connection,
    app: TcpApp,
    peer_mac: EthernetAddress,
    /// Queued for service after this batch.
    dirty: bool,
    /// Counted in the half-open backlog (SYN_RCVD, not from a cookie).
    half_open: bool,
    /// The connection's counters as last added to the stack's.
    reported: ConnStats,
    /// The deadline of this connection's live entry in the timer heap.
    timer_at: Option<Instant>,
}

/// The TCP side of the stack: listening ports, connections, ISN key.
struct Tcp {
    ports: Box<[TcpService; 65536]>,
    conns: ConnTable<TcpFlow>,
    /// Connections that received segments this batch.
    dirty: Vec<u32>,
    cfg: TcpConfig,
    /// The secret key of RFC 6528's F(): SipHash, keyed from the OS's randomness.
    isn_key: RandomState,
    /// Bytes on their way from a connection's receive buffer to its send buffer.
    scratch: Box<[u8]>,
    /// sockperf replies on their way to a send buffer.
    replies: Vec<u8>,
    /// Connections in SYN_RCVD that hold a table slot, and the most allowed.
    half_open: usize,
    backlog: usize,
    cookies: SynCookies,
    /// When the last cookie went out: only then is an unknown ACK checked as one.
    last_cookie: Option<Instant>,
    /// `--trace`: the ladder of every connection.
    trace: Option<Tracer>,
    /// Connection timers, earliest first: (deadline, slot). An entry is live only while
    /// it matches its connection's `timer_at`; others are skipped when they surface.
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    /// Scratch for the slots whose timers are due.
    due: Vec<u32>,
}

pub struct Stack {
    tcp: Tcp,
    addr: IfaceAddr,
    mac: EthernetAddress,
    counters: Arc<StackCounters>,
    udp: Box<[UdpService; 65536]>,
    arp: ArpCache,
    unreachable_limit: TokenBucket,
    announce_pending: bool,
}

impl Stack {
    pub fn new(cfg: StackConfig, counters: Arc<StackCounters>) -> Self {
        // UDP and TCP have separate port spaces; sockperf speaks both on its port.
        let udp = port_table(
            UdpService::Closed,
            &cfg.udp_echo,
            UdpService::Echo,
            cfg.sockperf,
            UdpService::Sockperf,
        );
        let ports = port_table(
            TcpService::Closed,
            &cfg.tcp_echo,
            TcpService::Echo,
            cfg.sockperf,
            TcpService::Sockperf,
        );
        let rate = cfg.icmp_unreachable_rate;
        let isn_key = RandomState::new();
        let tcp = Tcp {
            ports,
            conns: ConnTable::new(cfg.tcp_capacity, isn_key.hash_one(0x7463_7020u32)),
            dirty: Vec::with_capacity(1024),
            cfg: TcpConfig {
                mss: cfg.mtu.saturating_sub(40).clamp(536, 8960) as u16,
                ..TcpConfig::default()
            },
            isn_key,
            scratch: vec![0u8; 64 * 1024].into_boxed_slice(),
            replies: Vec::with_capacity(64 * 1024),
            half_open: 0,
            backlog: DEFAULT_SYN_BACKLOG,
            cookies: SynCookies::default(),
            last_cookie: None,
            trace: None,
            timers: BinaryHeap::with_capacity(1024),
            due: Vec::with_capacity(1024),
        };
        Stack {
            tcp,
            addr: cfg.addr,
            mac: EthernetAddress(cfg.mac),
            counters,
            udp,
            arp: ArpCache::new(cfg.arp),
            unreachable_limit: TokenBucket::new(rate, rate.max(1)),
            announce_pending: cfg.gratuitous_arp,
        }
    }

    pub fn mac(&self) -> EthernetAddress {
        self.mac
    }

    /// Prints every TCP segment and state transition as a ladder (`--trace`).
    pub fn with_tracer(mut self, tracer: Tracer) -> Self {
        self.tcp.trace = Some(tracer);
        self
    }

    /// Sets how many connections may wait in SYN_RCVD before SYN cookies answer.
    pub fn set_syn_backlog(&mut self, backlog: usize) {
        self.tcp.backlog = backlog;
    }

    /// TCP connections in the table (any state but CLOSED).
    pub fn tcp_connections(&self) -> usize {
        self.tcp.conns.len()
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

    fn reflected(&self, len: usize) -> Verdict {
        self.counters.tx_frames.inc();
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
        let eth = match EthernetFrame::new_checked(&*frame) {
            Ok(e) => e,
            Err(e) => return self.dropped(drop_reason(e)),
        };
        let dst = eth.dst_addr();
        if dst != self.mac && !dst.is_broadcast() {
            return self.dropped(DropReason::NotForUs);
        }
        let src = eth.src_addr();
        if !src.is_unicast() || src == self.mac {
            return self.dropped(DropReason::BadSource);
        }
        match eth.ethertype() {
            EtherType::Arp => self.handle_arp(now, frame),
            EtherType::Ipv4 if dst.is_broadcast() => self.dropped(DropReason::NotForUs),
            EtherType::Ipv4 => self.handle_ipv4(now, frame, tx),
            _ => self.dropped(DropReason::UnknownEthertype),
        }
    }

    fn handle_arp(&mut self, now: Instant, frame: &mut [u8]) -> Verdict {
        let repr =
            match ArpPacket::new_checked(&frame[ETH_HEADER..]).and_then(|p| ArpRepr::parse(&p)) {
                Ok(r) => r,
                Err(e) => return self.dropped(drop_reason(e)),
            };
        if repr.source_ip == self.addr.ip || !repr.source_hw.is_unicast() {
            return self.dropped(DropReason::BadSource);
        }
        // RFC 826: update an entry we have; make one only if the packet is for us.
        let for_us = repr.target_ip == self.addr.ip;
        if !self.arp.refresh(repr.source_ip, repr.source_hw, now) && for_us {
            self.arp.insert(repr.source_ip, repr.source_hw, now);
        }
        if !for_us {
            return self.dropped(DropReason::NotForUs);
        }
        match repr.operation {
            ArpOperation::Request => {
                self.counters.arp_requests_received.inc();
                let reply = ArpRepr {
                    operation: ArpOperation::Reply,
                    source_hw: self.mac,
                    source_ip: self.addr.ip,
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
        let parsed = Ipv4Packet::new_checked(&frame[ETH_HEADER..])
            .and_then(|p| Ok((Ipv4Repr::parse(&p)?, p.header_len())));
        let (
            Ipv4Repr {
                src,
                dst,
                protocol,
                payload_len,
                ..
            },
            header,
        ) = match parsed {
            Ok(v) => v,
            Err(e) => return self.dropped(drop_reason(e)),
        };
        if dst != self.addr.ip {
            return self.dropped(DropReason::NotForUs);
        }
        if src.is_broadcast() || src.is_multicast() || src.is_unspecified() || src == self.addr.ip {
            return self.dropped(DropReason::BadSource);
        }
        let total = header + payload_len;
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
        let frame = &mut frame[..frame_len];
        match protocol {
            IpProtocol::Icmp => self.handle_icmp(frame),
            IpProtocol::Udp => self.handle_udp(now, frame, src, dst, tx),
            IpProtocol::Tcp => self.handle_tcp(now, frame, src, dst),
            _ => self.dropped(DropReason::UnknownProtocol),
        }
    }

    fn handle_icmp(&mut self, frame: &mut [u8]) -> Verdict {
        let body = &mut frame[ETH_HEADER + IPV4_HEADER..];
        let mut msg = match Icmpv4Packet::new_checked(&mut *body) {
            Ok(m) => m,
            Err(e) => return self.dropped(drop_reason(e)),
        };
        if !msg.verify_checksum() {
            return self.dropped(DropReason::BadChecksum);
        }
        if msg.msg_type() != msg_type::ECHO_REQUEST || msg.msg_code() != 0 {
            return self.dropped(DropReason::Unsupported);
        }
        msg.echo_request_into_reply();
        self.counters.icmp_echo_replies.inc();
        self.turn_around(frame);
        self.reflected(frame.len())
    }

    fn handle_udp(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        tx: &mut dyn Transmit,
    ) -> Verdict {
        let udp = match UdpPacket::new_checked(&frame[ETH_HEADER + IPV4_HEADER..]) {
            Ok(u) => u,
            Err(e) => return self.dropped(drop_reason(e)),
        };
        if udp.len() as usize != frame.len() - ETH_HEADER - IPV4_HEADER {
            return self.dropped(DropReason::BadLength);
        }
        if !udp.verify_checksum(src, dst) {
            return self.dropped(DropReason::BadChecksum);
        }
        let port = udp.dst_port();
        match self.udp[usize::from(port)] {
            UdpService::Echo => {
                self.counters.udp_echo_replies.inc();
                self.turn_around(frame);
                swap_udp_ports(frame);
                self.reflected(frame.len())
            }
            UdpService::Sockperf => self.sockperf_reply(frame),
            UdpService::Closed => {
                self.counters.count_drop(DropReason::UdpClosedPort);
                self.port_unreachable(now, frame, tx);
                Verdict::Drop
            }
        }
    }

    /// TCP: a segment for a connection goes to it; a SYN to a served port opens one; any
    /// other segment is for no connection and is answered as RFC 9293 §3.10.7.1 says, with
    /// the reply written over the request.
    fn handle_tcp(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Verdict {
        let peer_mac = EthernetFrame::new_unchecked(&*frame).src_addr();
        let tcp = &frame[ETH_HEADER + IPV4_HEADER..];
        let (sport, dport, seq, ack, flags, seg_len) = {
            let packet = match TcpPacket::new_checked(tcp) {
                Ok(p) => p,
                Err(e) => return self.dropped(drop_reason(e)),
            };
            let r = match TcpRepr::parse(&packet, src, dst) {
                Ok(r) => r,
                Err(e) => return self.dropped(drop_reason(e)),
            };
            let seg = Segment {
                seq: SeqNumber(r.seq),
                ack: SeqNumber(r.ack),
                flags: r.flags,
                window: r.window,
                options: r.options,
                payload: r.payload,
            };
            let key = FlowKey {
                local_port: r.dst_port,
                remote_ip: src,
                remote_port: r.src_port,
            };
            if let Some(t) = &mut self.tcp.trace {
                let rung = Rung {
                    inbound: true,
                    flags: r.flags,
                    seq: r.seq,
                    ack: r.ack,
                    window: r.window,
                    len: r.payload.len(),
                };
                t.segment(now, (src, r.src_port), r.dst_port, &rung);
            }
            let is_syn = r.flags.contains(TcpFlags::SYN)
                && !r
                    .flags
                    .intersects(TcpFlags::ACK | TcpFlags::RST | TcpFlags::FIN);
            if let Some(slot) = self.tcp.conns.find(&key) {
                let reopen = is_syn
                    && self
                        .tcp
                        .conns
                        .get(slot)
                        .is_some_and(|f| f.conn.syn_may_reopen(&seg));
                if !reopen {
                    self.tcp_segment(now, slot, &seg);
                    return Verdict::Drop;
                }
                // A new incarnation of a connection in TIME_WAIT.
                self.tcp.conns.remove(slot);
                self.counters.tcp_table_removed.inc();
                self.counters.tcp_time_wait_reopened.inc();
            }
            let service = self.tcp.ports[usize::from(r.dst_port)];
            if is_syn && service != TcpService::Closed {
                if self.tcp.half_open < self.tcp.backlog {
                    self.tcp_accept(now, key, peer_mac, &seg, service);
                    return Verdict::Drop;
                }
                let tuple = (self.addr.ip, r.dst_port, src, r.src_port);
                let mss = r.options.mss.unwrap_or(536);
                let (cookie, _) = self.tcp.cookies.make(now, tuple, r.seq, mss);
                self.tcp.last_cookie = Some(now);
                self.counters.tcp_syn_cookies_sent.inc();
                let reply = TcpRepr {
                    src_port: r.dst_port,
                    dst_port: r.src_port,
                    seq: cookie,
                    ack: r.seq.wrapping_add(1),
                    flags: TcpFlags::SYN | TcpFlags::ACK,
                    window: u16::MAX,
                    urgent: 0,
                    options: TcpOptions {
                        mss: Some(self.tcp.cfg.mss),
                        ..TcpOptions::default()
                    },
                    payload: &[],
                };
                return self.tcp_reply_in_place(now, frame, src, dst, &reply);
            }
            let plain_ack = r.flags.contains(TcpFlags::ACK)
                && !r.flags.intersects(TcpFlags::SYN | TcpFlags::RST);
            if plain_ack && service != TcpService::Closed && self.cookies_recent(now) {
                let tuple = (self.addr.ip, r.dst_port, src, r.src_port);
                if let Some((iss, irs, mss)) = self.tcp.cookies.check(now, tuple, r.seq, r.ack) {
                    self.counters.tcp_syn_cookies_ok.inc();
                    let flow = TcpFlow {
                        conn: Connection::accept_cookie(self.tcp.cfg, iss, irs, mss),
                        app: TcpApp::new(service),
                        peer_mac,
                        dirty: false,
                        half_open: false,
                        reported: ConnStats::default(),
                        timer_at: None,
                    };
                    match self.tcp.conns.insert(key, flow) {
                        Ok(slot) => {
                            self.counters.tcp_table_inserted.inc();
                            self.tcp_segment(now, slot, &seg);
                        }
                        Err(_) => self.counters.count_drop(DropReason::TcpTableFull),
                    }
                    return Verdict::Drop;
                }
            }
            (
                r.src_port,
                r.dst_port,
                r.seq,
                r.ack,
                r.flags,
                r.segment_len(),
            )
        };
        self.counters.count_drop(DropReason::TcpNoListener);
        let Some((rst_seq, rst_ack, rst_flags)) = rst_for_no_connection(seq, ack, flags, seg_len)
        else {
            return Verdict::Drop;
        };
        let reply = TcpRepr {
            src_port: dport,
            dst_port: sport,
            seq: rst_seq,
            ack: rst_ack,
            flags: rst_flags,
            window: 0,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        };
        self.counters.tcp_rst_sent.inc();
        self.tcp_reply_in_place(now, frame, src, dst, &reply)
    }

    /// Cookies went out in the last two cookie periods, so an ACK may complete one.
    fn cookies_recent(&self, now: Instant) -> bool {
        self.tcp
            .last_cookie
            .is_some_and(|t| now.saturating_since(t) < core::time::Duration::from_secs(128))
    }

    /// Writes `reply` over the segment in `frame` (from `src` to `dst`) and reflects it.
    fn tcp_reply_in_place(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        reply: &TcpRepr,
    ) -> Verdict {
        if let Some(t) = &mut self.tcp.trace {
            let rung = Rung {
                inbound: false,
                flags: reply.flags,
                seq: reply.seq,
                ack: reply.ack,
                window: reply.window,
                len: 0,
            };
            t.segment(now, (src, reply.dst_port), reply.src_port, &rung);
        }
        let len = ETH_HEADER + IPV4_HEADER + reply.buffer_len();
        if len > frame.len() {
            return self.dropped(DropReason::Truncated);
        }
        self.turn_around(frame);
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETH_HEADER..len]);
        ip.set_total_len((IPV4_HEADER + reply.buffer_len()) as u16);
        ip.fill_checksum();
        reply.emit(
            &mut TcpPacket::new_unchecked(&mut frame[ETH_HEADER + IPV4_HEADER..len]),
            dst,
            src,
        );
        self.reflected(len)
    }

    fn tcp_segment(&mut self, now: Instant, slot: u32, seg: &Segment) {
        if let Some(flow) = self.tcp.conns.get_mut(slot) {
            flow.conn.handle_segment(now, seg);
            if !flow.dirty {
                flow.dirty = true;
                self.tcp.dirty.push(slot);
            }
        }
    }

    /// A SYN for a served port: a new connection in SYN_RCVD.
    fn tcp_accept(
        &mut self,
        now: Instant,
        key: FlowKey,
        peer_mac: EthernetAddress,
        syn: &Segment,
        service: TcpService,
    ) {
        // RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a
        // clock ticking every 4 microseconds.
        let f = self.tcp.isn_key.hash_one((
            self.addr.ip,
            key.local_port,
            key.remote_ip,
            key.remote_port,
        ));
        let isn = ((now.as_nanos() / 4000) as u32).wrapping_add(f as u32);
        let flow = TcpFlow {
            conn: Connection::accept(self.tcp.cfg, now, isn, syn),
            app: TcpApp::new(service),
            peer_mac,
            dirty: true,
            half_open: true,
            reported: ConnStats::default(),
            timer_at: None,
        };
        match self.tcp.conns.insert(key, flow) {
            Ok(slot) => {
                self.counters.tcp_table_inserted.inc();
                self.tcp.half_open += 1;
                self.tcp.dirty.push(slot);
            }
            Err(_) => self.counters.count_drop(DropReason::TcpTableFull),
        }
    }

    /// Runs one connection: timers, the echo application, events, and what it sends.
    /// Removes it once it is closed.
    fn tcp_service(&mut self, now: Instant, slot: u32, tx: &mut dyn Transmit) {
        let Some(key) = self.tcp.conns.key(slot) else {
            return;
        };
        let (mac, ip) = (self.mac, self.addr.ip);
        let counters = &self.counters;
        let Tcp {
            conns,
            scratch,
            replies,
            trace,
            half_open,
            ..
        } = &mut self.tcp;
        let Some(flow) = conns.get_mut(slot) else {
            return;
        };
        flow.dirty = false;
        if flow.conn.poll_timeout().is_some_and(|t| t <= now) {
            flow.conn.handle_timeout(now);
        }
        let mut closed = tcp_events(flow, now, &key, counters, trace, half_open);
        let c = &mut flow.conn;
        match &mut flow.app {
            // RFC 862: send back whatever arrives.
            TcpApp::Echo => loop {
                let n = c.recv_available().min(c.send_capacity()).min(scratch.len());
                if n == 0 {
                    break;
                }
                let got = c.recv(&mut scratch[..n]);
                c.send(&scratch[..got]);
            },
            // sockperf: whole messages in, a reply for each that asks for one. Reading
            // stops while replies would not fit, so the peer's window does the pacing.
            TcpApp::Sockperf(framer) => loop {
                // Replies to what is fed are at most what the framer holds plus what is fed.
                let room = c.send_capacity().saturating_sub(framer.pending());
                let n = c.recv_available().min(scratch.len()).min(room);
                if n == 0 {
                    break;
                }
                let got = c.recv(&mut scratch[..n]);
                replies.clear();
                let (before_r, before_n) = (framer.replies, framer.no_reply);
                if framer.feed(&scratch[..got], replies).is_err() {
                    c.abort();
                    break;
                }
                counters.sockperf_replies.add(framer.replies - before_r);
                counters.sockperf_no_reply.add(framer.no_reply - before_n);
                c.send(replies);
            },
        }
        // Close once the peer has closed and everything it sent has been answered.
        if c.peer_done() {
            c.close();
        }
        let peer_mac = flow.peer_mac;
        let mut sent = 0u64;
        flow.conn.poll_transmit(now, &mut |h, p1, p2| {
            let ok = tx.send_with(&mut |buf| emit_tcp(buf, mac, peer_mac, ip, &key, h, p1, p2));
            sent += u64::from(ok);
            if let (true, Some(t)) = (ok, trace.as_mut()) {
                let rung = Rung {
                    inbound: false,
                    flags: h.flags,
                    seq: h.seq.0,
                    ack: h.ack.0,
                    window: h.window,
                    len: p1.len() + p2.len(),
                };
                t.segment(now, (key.remote_ip, key.remote_port), key.local_port, &rung);
            }
            ok
        });
        counters.tx_frames.add(sent);
        // Counters move when segments arrive as well as here: add what is new since the
        // last report.
        let (now_stats, before) = (flow.conn.stats(), flow.reported);
        flow.reported = now_stats;
        counters
            .tcp_challenge_acks
            .add(now_stats.challenge_acks - before.challenge_acks);
        counters
            .tcp_retransmits
            .add(now_stats.retransmits - before.retransmits);
        counters
            .tcp_fast_retransmits
            .add(now_stats.fast_retransmits - before.fast_retransmits);
        counters
            .tcp_out_of_order
            .add(now_stats.out_of_order - before.out_of_order);
        closed |= tcp_events(flow, now, &key, counters, trace, half_open);
        if closed {
            conns.remove(slot);
            counters.tcp_table_removed.inc();
            return;
        }
        // Keep one live timer entry at the connection's next deadline.
        if let Some(t) = flow.conn.poll_timeout() {
            if flow.timer_at.map_or(true, |at| t < at) {
                flow.timer_at = Some(t);
                self.tcp.timers.push(Reverse((t, slot)));
            }
        }
    }

    /// The earliest timer of any TCP connection.
    /// (A stale entry can make this early; a wake-up too many is harmless.)
    fn tcp_poll_at(&self) -> Option<Instant> {
        self.tcp.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Services the connections that got segments this batch, then those whose timers
    /// are due: O(log n) a timer, never a scan of the table.
    fn tcp_poll(&mut self, now: Instant, tx: &mut dyn Transmit) {
        while let Some(slot) = self.tcp.dirty.pop() {
            self.tcp_service(now, slot, tx);
        }
        // Take the due entries first: servicing pushes new ones, possibly due at once
        // (a connection that could not transmit for want of TX buffers), and those wait
        // for the next poll rather than spin here.
        let mut due = core::mem::take(&mut self.tcp.due);
        while let Some(&Reverse((t, slot))) = self.tcp.timers.peek() {
            if t > now {
                break;
            }
            self.tcp.timers.pop();
            if let Some(f) = self.tcp.conns.get_mut(slot) {
                if f.timer_at == Some(t) {
                    f.timer_at = None;
                    due.push(slot);
                }
            }
        }
        for &slot in &due {
            self.tcp_service(now, slot, tx);
        }
        due.clear();
        self.tcp.due = due;
    }

    /// sockperf: answer only messages that ask for a pong, with the client bit cleared.
    fn sockperf_reply(&mut self, frame: &mut [u8]) -> Verdict {
        let off = ETH_HEADER + IPV4_HEADER + UDP_HEADER;
        let Ok(mut msg) = SockperfHeader::new_checked(&mut frame[off..]) else {
            return self.dropped(DropReason::Truncated);
        };
        let flags = msg.flags();
        if flags & FLAG_PONG_REQUEST == 0 {
            self.counters.sockperf_no_reply.inc();
            return Verdict::Drop;
        }
        msg.make_reply();
        let new_flags = msg.flags();
        // Patch the UDP checksum for the flags word (it sits at an even offset).
        let mut udp = UdpPacket::new_unchecked(&mut frame[ETH_HEADER + IPV4_HEADER..]);
        if udp.checksum() != 0 {
            let c = checksum::update_u16(udp.checksum(), flags, new_flags);
            udp.set_checksum(if c == 0 { 0xffff } else { c });
        }
        self.counters.sockperf_replies.inc();
        self.turn_around(frame);
        swap_udp_ports(frame);
        self.reflected(frame.len())
    }

    /// Swaps the Ethernet and IPv4 addresses of a request so that it becomes the reply,
    /// and resets its TTL. Swapping addresses leaves every checksum as it was; only the
    /// TTL change is patched into the IPv4 header checksum.
    fn turn_around(&self, frame: &mut [u8]) {
        {
            let mut eth = EthernetFrame::new_unchecked(&mut *frame);
            let peer = eth.src_addr();
            eth.set_dst_addr(peer);
            eth.set_src_addr(self.mac);
        }
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETH_HEADER..]);
        let (s, d) = (ip.src_addr(), ip.dst_addr());
        ip.set_src_addr(d);
        ip.set_dst_addr(s);
        let old = u16::from_be_bytes([ip.ttl(), ip.protocol().into()]);
        let new = u16::from_be_bytes([TTL, ip.protocol().into()]);
        ip.set_ttl(TTL);
        ip.set_checksum(checksum::update_u16(ip.checksum(), old, new));
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
        let (mac, ip, peer_ip) = (self.mac, self.addr.ip, original.src_addr());
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

    /// Sends a gratuitous ARP: a broadcast request for our own address.
    fn announce(&mut self, tx: &mut dyn Transmit) -> bool {
        let repr = ArpRepr {
            operation: ArpOperation::Request,
            source_hw: self.mac,
            source_ip: self.addr.ip,
            target_hw: EthernetAddress([0; 6]),
            target_ip: self.addr.ip,
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

    /// Runs timers: the start-up announcement, ARP resolution requests, TCP.
    pub fn poll(&mut self, now: Instant, tx: &mut dyn Transmit) {
        self.tcp_poll(now, tx);
        if self.announce_pending && self.announce(tx) {
            self.announce_pending = false;
            self.counters.gratuitous_arps.inc();
        }
        while let Some(ip) = self.arp.poll_request(now) {
            let repr = ArpRepr {
                operation: ArpOperation::Request,
                source_hw: self.mac,
                source_ip: self.addr.ip,
                target_hw: EthernetAddress([0; 6]),
                target_ip: ip,
            };
            if self.send_arp(tx, EthernetAddress::BROADCAST, &repr) {
                self.counters.arp_requests_sent.inc();
            }
        }
    }

    pub fn poll_at(&self) -> Option<Instant> {
        if self.announce_pending {
            return Some(Instant::ZERO);
        }
        [self.arp.poll_at(), self.tcp_poll_at()]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Drains a connection's events: counts them, traces state transitions, keeps the
/// half-open count. Returns whether the connection has closed.
fn tcp_events(
    flow: &mut TcpFlow,
    now: Instant,
    key: &FlowKey,
    counters: &StackCounters,
    trace: &mut Option<Tracer>,
    half_open: &mut usize,
) -> bool {
    let mut closed = false;
    while let Some(ev) = flow.conn.poll_event() {
        match ev {
            Event::StateChanged { from, to } => {
                if let Some(t) = trace.as_mut() {
                    t.state(
                        now,
                        (key.remote_ip, key.remote_port),
                        key.local_port,
                        from,
                        to,
                    );
                }
                if flow.half_open && from == State::SynReceived {
                    flow.half_open = false;
                    *half_open -= 1;
                }
            }
            Event::Connected => counters.tcp_connections_opened.inc(),
            Event::Closed(reason) => {
                closed = true;
                match reason {
                    CloseReason::Fin => counters.tcp_closed_fin.inc(),
                    CloseReason::Rst => counters.tcp_closed_rst.inc(),
                    CloseReason::Timeout => counters.tcp_closed_timeout.inc(),
                }
            }
            Event::Readable | Event::PeerClosed => {}
        }
    }
    if closed && flow.half_open {
        flow.half_open = false;
        *half_open -= 1;
    }
    closed
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

/// Writes one TCP segment of `key`'s connection into `buf` as a whole frame; returns its
/// length (0 if it does not fit).
#[allow(clippy::too_many_arguments)]
pub(crate) fn emit_tcp(
    buf: &mut [u8],
    mac: EthernetAddress,
    peer_mac: EthernetAddress,
    ip: Ipv4Addr,
    key: &FlowKey,
    h: &crate::proto::tcp::SegmentHeader,
    p1: &[u8],
    p2: &[u8],
) -> usize {
    let repr = TcpRepr {
        src_port: key.local_port,
        dst_port: key.remote_port,
        seq: h.seq.0,
        ack: h.ack.0,
        flags: h.flags,
        window: h.window,
        urgent: 0,
        options: h.options,
        payload: &[],
    };
    let tcp_len = repr.header_len() + p1.len() + p2.len();
    let len = ETH_HEADER + IPV4_HEADER + tcp_len;
    if len > buf.len() {
        return 0;
    }
    let mut eth = EthernetFrame::new_unchecked(&mut buf[..ETH_HEADER]);
    eth.set_dst_addr(peer_mac);
    eth.set_src_addr(mac);
    eth.set_ethertype(EtherType::Ipv4);
    Ipv4Repr::new(ip, key.remote_ip, IpProtocol::Tcp, tcp_len).emit(
        &mut Ipv4Packet::new_unchecked(&mut buf[ETH_HEADER..ETH_HEADER + IPV4_HEADER]),
    );
    let mut pkt = TcpPacket::new_unchecked(&mut buf[ETH_HEADER + IPV4_HEADER..len]);
    repr.emit_header(&mut pkt);
    let payload = pkt.payload_mut();
    payload[..p1.len()].copy_from_slice(p1);
    payload[p1.len()..].copy_from_slice(p2);
    pkt.fill_checksum(ip, key.remote_ip);
    len
}

/// RFC 9293 §3.10.7.1: the reset for a segment that belongs to no connection, as
/// (seq, ack, flags); none for a RST, which is never answered. A segment with ACK gets
/// `<SEQ=SEG.ACK><CTL=RST>`; any other gets `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`,
/// where SEG.LEN counts SYN and FIN.
pub fn rst_for_no_connection(
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    seg_len: usize,
) -> Option<(u32, u32, TcpFlags)> {
    if flags.contains(TcpFlags::RST) {
        None
    } else if flags.contains(TcpFlags::ACK) {
        Some((ack, 0, TcpFlags::RST))
    } else {
        Some((
            0,
            seq.wrapping_add(seg_len as u32),
            TcpFlags::RST | TcpFlags::ACK,
        ))
    }
}

/// Swaps the UDP source and destination ports; the checksum is unchanged by a swap.
fn swap_udp_ports(frame: &mut [u8]) {
    let mut udp = UdpPacket::new_unchecked(&mut frame[ETH_HEADER + IPV4_HEADER..]);
    let (s, d) = (udp.src_port(), udp.dst_port());
    udp.set_src_port(d);
    udp.set_dst_port(s);
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

impl Engine for Stack {
    fn on_frame(&mut self, now: Instant, frame: &mut [u8], tx: &mut dyn Transmit) -> Verdict {
        self.handle_frame(now, frame, tx)
    }

    fn poll(&mut self, now: Instant, tx: &mut dyn Transmit) {
        Stack::poll(self, now, tx)
    }

    fn poll_at(&self) -> Option<Instant> {
        Stack::poll_at(self)
    }
}
