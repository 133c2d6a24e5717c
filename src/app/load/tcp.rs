//! The load generator's engine for TCP: `--connections` clients, each on its own
//! connection from an ephemeral port to the target, driving `proto::tcp::Connection`s of
//! its own (active open) in front of a [`Stack`] that answers ARP and pings.
//!
//! Modes:
//! - `pingpong`: each connection keeps one request in flight (closed loop); with `--rate`,
//!   requests leave on a fixed schedule across the connections and latency counts from
//!   the intended send time (coordinated omission corrected), as in the UDP engine.
//! - `stream`: each connection keeps its send buffer full and checks every echoed byte;
//!   the report gives bytes per second.
//! - `crr`: connect, one request and its response, close; again on a new port. Latency is
//!   the whole transaction, from the SYN to the last byte of the response.
//!
//! Requests are `--size` bytes (the same bytes as over UDP: `fill_request`), and a
//! response is the next `--size` bytes of the stream, checked against its request.
//!
//! Ports and TIME_WAIT: each connection takes the next free port of 49152–65535, and
//! keeps it through TIME_WAIT after we close. A port in TIME_WAIT is reused only after
//! [`TIME_WAIT_REUSE_AFTER`] and only if the new ISN lies above everything the old
//! connection sent (RFC 6191's condition without timestamps), so no old segment can be
//! taken for new data; otherwise the next port is tried, and with none free the client
//! waits (counted in `port_waits`): about 16 000 connections a second is the most one
//! address can sustain against one server port.
//!
//! Errors: a request not answered within `--timeout` counts as `timeout` and its
//! connection is aborted (the byte stream can no longer be matched), a connection reset
//! or refused counts as `refused`, a response that differs from its request as
//! `mismatch`. Each is counted once; none stops the run.

use super::engine::{
    fill_request, reply_matches, ErrorCounts, Measured, Phase, Tally, EPHEMERAL_FIRST,
};
use super::schedule::Schedule;
use crate::config::{AppProto, LoadConfig, LoadMode};
use crate::driver::{Transmit, Verdict};
use crate::proto::arp::Resolution;
use crate::proto::tcp::{CloseReason, Connection, Event, Segment, SeqNumber, State, TcpConfig};
use crate::runtime::steer::PortSet;
use crate::runtime::Engine;
use crate::stack::table::FlowKey;
use crate::stack::{emit_tcp, Stack};
use crate::time::Instant;
use crate::wire::{
    EtherType, EthernetAddress, EthernetFrame, IpProtocol, Ipv4Packet, TcpPacket, TcpRepr,
};
use core::hash::BuildHasher;
use core::net::{Ipv4Addr, SocketAddrV4};
use core::time::Duration;
use std::collections::hash_map::RandomState;
use std::collections::VecDeque;

const ETH: usize = 14;
/// Ephemeral ports: 49152–65535.
const PORTS: usize = 65536 - EPHEMERAL_FIRST as usize;
/// A port in TIME_WAIT may carry a new connection after this long (and only with a
/// higher ISN).
pub const TIME_WAIT_REUSE_AFTER: Duration = Duration::from_secs(1);
/// After a failed connection, a client waits this long before the next attempt, so that
/// a closed port is not hammered.
const RETRY_PAUSE: Duration = Duration::from_millis(10);
/// At the end, connections get this long to close with the FIN exchange.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug)]
struct Outstanding {
    seq: u64,
    intended: Instant,
    sent: Instant,
}

/// One connection in the port table.
struct Slot {
    conn: Connection,
    /// The client it belongs to; none once a crr client has closed it and moved on.
    client: Option<u32>,
    /// When it entered TIME_WAIT.
    tw_since: Option<Instant>,
    dirty: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientState {
    /// No connection: open one when allowed.
    Idle,
    Connecting,
    Open,
    /// Closed by us at the end of the run.
    Closing,
}

struct Client {
    state: ClientState,
    port: u16,
    retry_at: Instant,
    next_seq: u64,
    waiting: VecDeque<Outstanding>,
    /// The response being received.
    rx: Vec<u8>,
    rx_len: usize,
    /// crr: when this transaction's connect began.
    began: Instant,
    /// stream: bytes queued for sending, and bytes received and checked.
    stream_tx: u64,
    stream_rx: u64,
}

pub struct TcpLoad {
    stack: Stack,
    local: Ipv4Addr,
    target: SocketAddrV4,
    target_mac: Option<EthernetAddress>,
    app: AppProto,
    mode: LoadMode,
    size: usize,
    timeout: Duration,
    tcp: TcpConfig,
    isn_key: RandomState,
    slots: Vec<Option<Slot>>,
    /// The ports this engine may use (a worker's share with several queues).
    ports: PortSet,
    /// Index into `ports` of the next port to try.
    next_port: usize,
    dirty: Vec<u16>,
    clients: Vec<Client>,
    schedule: Option<Schedule>,
    window: usize,
    phase: Phase,
    measure_from: Instant,
    stop_sending_at: Option<Instant>,
    warmup: Duration,
    duration: Option<Duration>,
    request_limit: Option<u64>,
    tally: Tally,
    in_flight: u64,
    ended: Option<Instant>,
    grace_until: Option<Instant>,
    /// Ports reused out of TIME_WAIT.
    pub time_wait_reused: u64,
    /// Connection attempts that found no free port and waited.
    pub port_waits: u64,
    /// Done, and every connection closed or given up on.
    done: bool,
    scratch: Vec<u8>,
}

fn stream_byte(i: u64) -> u8 {
    (i as u8).wrapping_mul(7) ^ (i >> 11) as u8
}

impl TcpLoad {
    pub fn new(cfg: &LoadConfig, stack: Stack, mss: u16, now: Instant) -> Self {
        let window = match cfg.rate {
            None => 1,
            Some(rate) => {
                let per_conn = rate * cfg.timeout.as_secs_f64() / f64::from(cfg.connections);
                (per_conn.ceil() as usize + 16).min(4096)
            }
        };
        // Room for every request that may be outstanding, and at least 16 KiB.
        let buffer = (cfg.size * window.min(64) * 2).clamp(16 << 10, 256 << 10);
        let tcp = TcpConfig {
            mss,
            recv_buffer: if cfg.mode == LoadMode::Stream {
                256 << 10
            } else {
                buffer
            },
            send_buffer: if cfg.mode == LoadMode::Stream {
                256 << 10
            } else {
                buffer
            },
            ..TcpConfig::default()
        };
        let clients = (0..cfg.connections)
            .map(|_| Client {
                state: ClientState::Idle,
                port: 0,
                retry_at: now,
                next_seq: 1,
                waiting: VecDeque::with_capacity(window),
                rx: vec![0; cfg.size],
                rx_len: 0,
                began: now,
                stream_tx: 0,
                stream_rx: 0,
            })
            .collect();
        TcpLoad {
            stack,
            local: cfg.addr.ip,
            target: cfg.target,
            target_mac: None,
            app: cfg.app,
            mode: cfg.mode,
            size: cfg.size,
            timeout: cfg.timeout,
            tcp,
            isn_key: RandomState::new(),
            slots: (0..PORTS).map(|_| None).collect(),
            ports: PortSet::ALL,
            next_port: 0,
            dirty: Vec::with_capacity(1024),
            clients,
            schedule: cfg.rate.map(|r| Schedule::new(r, now)),
            window,
            phase: Phase::Resolving,
            measure_from: now,
            stop_sending_at: None,
            warmup: cfg.warmup,
            duration: cfg.duration,
            request_limit: cfg.requests,
            tally: Tally::new(),
            in_flight: 0,
            ended: None,
            grace_until: None,
            time_wait_reused: 0,
            port_waits: 0,
            done: false,
            scratch: vec![0; 64 << 10],
        }
    }

    pub fn with_reporter(
        mut self,
        to: crossbeam::channel::Sender<Measured>,
        every: Duration,
    ) -> Self {
        self.tally.set_reporter(to, every);
        self
    }

    /// Opens connections from these ports only (one worker's share of several).
    pub fn with_ports(mut self, ports: PortSet) -> Self {
        self.ports = ports;
        self.next_port = 0;
        self
    }

    pub fn measured_span(&self) -> Duration {
        self.ended
            .unwrap_or(self.measure_from)
            .saturating_since(self.measure_from)
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn total(&self) -> &Measured {
        &self.tally.total
    }

    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// Connections in the port table (open, closing or in TIME_WAIT).
    pub fn connections(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    pub fn flush_report(&mut self) {
        self.tally.flush();
    }

    fn measuring(&self) -> bool {
        matches!(self.phase, Phase::Measuring | Phase::Draining)
    }

    fn sending(&self) -> bool {
        matches!(self.phase, Phase::Warmup | Phase::Measuring)
    }

    /// Adds an error of one kind to both the interval and the total, if measuring.
    fn error(&mut self, since: Instant, kind: fn(&mut ErrorCounts) -> &mut u64) {
        if self.measuring() && since >= self.measure_from {
            self.tally.error(kind);
        }
    }

    fn success(&mut self, o: Outstanding, now: Instant, bytes: u64) {
        if self.measuring() && o.intended >= self.measure_from {
            self.tally.success(now, o.intended, o.sent, bytes);
        }
    }

    /// Requests still allowed by `--requests`, counting those in flight.
    fn budget(&self) -> u64 {
        match self.request_limit {
            Some(n) if self.phase != Phase::Warmup => {
                let done = self.tally.total.requests + self.tally.total.errors.total();
                n.saturating_sub(done + self.in_flight)
            }
            _ => u64::MAX,
        }
    }

    fn mark_dirty(&mut self, port: u16) {
        let i = usize::from(port - EPHEMERAL_FIRST);
        if let Some(s) = &mut self.slots[i] {
            if !s.dirty {
                s.dirty = true;
                self.dirty.push(port);
            }
        }
    }

    fn isn(&self, now: Instant, port: u16) -> u32 {
        let f = self
            .isn_key
            .hash_one((self.local, port, *self.target.ip(), self.target.port()));
        ((now.as_nanos() / 4000) as u32).wrapping_add(f as u32)
    }

    /// A port for a new connection: free, or in TIME_WAIT long enough and with a lower
    /// final sequence number than the new ISN (or past its TIME_WAIT altogether).
    fn free_port(&mut self, now: Instant) -> Option<(u16, u32)> {
        for _ in 0..self.ports.len() {
            let port = self.ports.port(self.next_port);
            self.next_port = (self.next_port + 1) % self.ports.len();
            let i = usize::from(port - EPHEMERAL_FIRST);
            let isn = self.isn(now, port);
            match &self.slots[i] {
                None => return Some((port, isn)),
                Some(s) if s.client.is_none() => {
                    let closed = s.conn.state() == State::Closed;
                    let reusable = s.tw_since.is_some_and(|t| {
                        now.saturating_since(t) >= TIME_WAIT_REUSE_AFTER
                            && SeqNumber(isn) > s.conn.snd_max()
                    });
                    if closed || reusable {
                        if reusable {
                            self.time_wait_reused += 1;
                        }
                        self.slots[i] = None;
                        return Some((port, isn));
                    }
                }
                Some(_) => {}
            }
        }
        None
    }

    /// Opens a connection for client `c`.
    fn connect(&mut self, now: Instant, c: u32) {
        let Some((port, isn)) = self.free_port(now) else {
            // Every port is busy or in TIME_WAIT: the port space is the limit, not the
            // server. Wait for one (counted, not an error).
            self.port_waits += 1;
            self.clients[c as usize].retry_at = now + Duration::from_millis(1);
            return;
        };
        self.slots[usize::from(port - EPHEMERAL_FIRST)] = Some(Slot {
            conn: Connection::connect(self.tcp, now, isn),
            client: Some(c),
            tw_since: None,
            dirty: false,
        });
        let cl = &mut self.clients[c as usize];
        cl.state = ClientState::Connecting;
        cl.port = port;
        cl.began = now;
        cl.rx_len = 0;
        cl.stream_tx = 0;
        cl.stream_rx = 0;
        if self.mode == LoadMode::Crr {
            cl.next_seq = 1;
            // A crr transaction is in flight from its SYN on.
            self.in_flight += 1;
        }
        self.mark_dirty(port);
    }

    /// Queues request `seq` on client `c`'s connection, if it fits whole.
    fn push_request(&mut self, now: Instant, intended: Instant, c: u32) -> bool {
        let cl = &self.clients[c as usize];
        let i = usize::from(cl.port - EPHEMERAL_FIRST);
        let Some(slot) = self.slots[i].as_mut() else {
            return false;
        };
        if cl.state != ClientState::Open
            || cl.waiting.len() >= self.window
            || slot.conn.send_capacity() < self.size
        {
            return false;
        }
        let seq = cl.next_seq;
        fill_request(self.app, seq, &mut self.scratch[..self.size]);
        slot.conn.send(&self.scratch[..self.size]);
        let cl = &mut self.clients[c as usize];
        cl.next_seq += 1;
        cl.waiting.push_back(Outstanding {
            seq,
            intended,
            sent: now,
        });
        if self.mode != LoadMode::Crr {
            self.in_flight += 1;
        }
        let port = cl.port;
        self.mark_dirty(port);
        true
    }

    /// The client's connection ended (reset, timed out, or closed by the peer) while it
    /// still owned it: its outstanding requests fail, and it reconnects after a pause.
    fn client_lost(&mut self, now: Instant, c: u32, reason: CloseReason) {
        let kind: fn(&mut ErrorCounts) -> &mut u64 = match reason {
            CloseReason::Timeout => |e| &mut e.timeout,
            _ => |e| &mut e.refused,
        };
        let cl = &mut self.clients[c as usize];
        let state = cl.state;
        let lost: Vec<Outstanding> = cl.waiting.drain(..).collect();
        cl.state = ClientState::Idle;
        cl.retry_at = now + RETRY_PAUSE;
        let began = cl.began;
        if self.mode == LoadMode::Crr {
            if state != ClientState::Closing {
                self.in_flight -= 1;
                self.error(began, kind);
            }
        } else {
            self.in_flight -= lost.len() as u64;
            if lost.is_empty() && state == ClientState::Connecting {
                self.error(began, kind);
            }
            for o in lost {
                self.error(o.intended, kind);
            }
        }
    }

    /// Reads what arrived on client `c`'s connection and completes its requests.
    fn receive(&mut self, now: Instant, c: u32, port: u16) {
        let i = usize::from(port - EPHEMERAL_FIRST);
        loop {
            let Some(slot) = self.slots[i].as_mut() else {
                return;
            };
            let cl = &mut self.clients[c as usize];
            if self.mode == LoadMode::Stream {
                let n = slot.conn.recv(&mut self.scratch);
                if n == 0 {
                    return;
                }
                let start = cl.stream_rx;
                cl.stream_rx += n as u64;
                let units = cl.stream_rx / self.size as u64 - start / self.size as u64;
                let ok = self.scratch[..n]
                    .iter()
                    .enumerate()
                    .all(|(k, &b)| b == stream_byte(start + k as u64));
                if !ok {
                    self.error(now, |e| &mut e.mismatch);
                } else if self.measuring() {
                    for m in [&mut self.tally.interval, &mut self.tally.total] {
                        m.bytes += n as u64;
                        m.requests += units;
                    }
                }
                continue;
            }
            let n = slot.conn.recv(&mut cl.rx[cl.rx_len..]);
            if n == 0 {
                return;
            }
            cl.rx_len += n;
            if cl.rx_len < self.size {
                continue;
            }
            cl.rx_len = 0;
            let Some(o) = cl.waiting.pop_front() else {
                // Bytes nobody asked for.
                self.error(now, |e| &mut e.mismatch);
                continue;
            };
            let ok = reply_matches(self.app, &cl.rx, o.seq);
            let began = cl.began;
            self.in_flight -= 1;
            if !ok {
                self.error(o.intended, |e| &mut e.mismatch);
            } else if self.mode == LoadMode::Crr {
                // The transaction: from the SYN to the end of the response.
                let t = Outstanding {
                    intended: began,
                    sent: began,
                    ..o
                };
                self.success(t, now, self.size as u64);
            } else {
                self.success(o, now, self.size as u64);
            }
            if self.mode == LoadMode::Crr {
                // Close, and let the connection finish on its own; the client moves on.
                if let Some(slot) = self.slots[i].as_mut() {
                    slot.conn.close();
                    slot.client = None;
                }
                let cl = &mut self.clients[c as usize];
                cl.state = ClientState::Idle;
                cl.retry_at = now;
                self.mark_dirty(port);
                return;
            }
        }
    }

    /// stream: keeps the send buffer full.
    fn fill_stream(&mut self, c: u32, port: u16) {
        let i = usize::from(port - EPHEMERAL_FIRST);
        let Some(slot) = self.slots[i].as_mut() else {
            return;
        };
        let cl = &mut self.clients[c as usize];
        loop {
            let n = slot.conn.send_capacity().min(self.scratch.len());
            if n == 0 {
                return;
            }
            for (k, b) in self.scratch[..n].iter_mut().enumerate() {
                *b = stream_byte(cl.stream_tx + k as u64);
            }
            cl.stream_tx += slot.conn.send(&self.scratch[..n]) as u64;
        }
    }

    /// Runs one connection: timers, events, the client's application, transmission.
    fn service(&mut self, now: Instant, port: u16, tx: &mut dyn Transmit) {
        let i = usize::from(port - EPHEMERAL_FIRST);
        let Some(slot) = self.slots[i].as_mut() else {
            return;
        };
        slot.dirty = false;
        if slot.conn.poll_timeout().is_some_and(|t| t <= now) {
            slot.conn.handle_timeout(now);
        }
        if self.drain_events(now, i) {
            return;
        }
        let owner = self.slots[i].as_ref().and_then(|s| s.client);
        if let Some(c) = owner {
            let state = self.clients[c as usize].state;
            if matches!(state, ClientState::Open | ClientState::Closing) {
                self.receive(now, c, port);
            }
            let cl = &self.clients[c as usize];
            if cl.state == ClientState::Open {
                match self.mode {
                    // crr reserved its request when it connected, which it does only while
                    // sending: the request goes out even if the run has ended since.
                    LoadMode::Crr => {
                        if cl.waiting.is_empty() && cl.next_seq == 1 {
                            self.push_request(now, now, c);
                        }
                    }
                    _ if !self.sending() => {}
                    LoadMode::Stream => self.fill_stream(c, port),
                    LoadMode::PingPong if self.schedule.is_some() => {}
                    LoadMode::PingPong => {
                        if cl.waiting.is_empty() && self.budget() > 0 {
                            self.push_request(now, now, c);
                        }
                    }
                }
            }
        }
        let (mac, ip) = (self.stack.mac(), self.local);
        let Some(peer_mac) = self.target_mac else {
            return;
        };
        let key = FlowKey {
            local_port: port,
            remote_ip: *self.target.ip(),
            remote_port: self.target.port(),
        };
        let Some(slot) = self.slots[i].as_mut() else {
            return;
        };
        let mut sent = 0u64;
        slot.conn.poll_transmit(now, &mut |h, p1, p2| {
            let ok = tx.send_with(&mut |buf| emit_tcp(buf, mac, peer_mac, ip, &key, h, p1, p2));
            sent += u64::from(ok);
            ok
        });
        self.stack.counters().tx_frames.add(sent);
        self.drain_events(now, i);
    }

    /// Handles slot `i`'s events; returns whether the connection is gone.
    fn drain_events(&mut self, now: Instant, i: usize) -> bool {
        let mut closed = None;
        let mut connected = false;
        let Some(slot) = self.slots[i].as_mut() else {
            return true;
        };
        while let Some(ev) = slot.conn.poll_event() {
            match ev {
                Event::StateChanged {
                    to: State::TimeWait,
                    ..
                } => slot.tw_since = Some(now),
                Event::Connected => connected = true,
                Event::Closed(reason) => closed = Some(reason),
                _ => {}
            }
        }
        let owner = slot.client;
        if let Some(c) = owner {
            if connected && self.clients[c as usize].state == ClientState::Connecting {
                self.clients[c as usize].state = ClientState::Open;
            }
        }
        let Some(reason) = closed else {
            return false;
        };
        // A connection that closed cleanly (TIME_WAIT over, or a passive close) frees
        // its port; one of a client that still owned it is a lost connection.
        if let Some(c) = owner {
            self.client_lost(now, c, reason);
        }
        self.slots[i] = None;
        true
    }

    /// A segment for one of our ports: to its connection, or (none there) to the stack,
    /// which answers a segment for no connection with RST.
    fn on_segment(&mut self, now: Instant, frame: &[u8]) -> bool {
        let Ok(ip) = Ipv4Packet::new_checked(&frame[ETH..]) else {
            return false;
        };
        if ip.protocol() != IpProtocol::Tcp
            || ip.src_addr() != *self.target.ip()
            || ip.dst_addr() != self.local
            || !ip.verify_checksum()
        {
            return false;
        }
        let hl = ip.header_len();
        let total = usize::from(ip.total_len());
        if total < hl || ETH + total > frame.len() {
            return false;
        }
        let bytes = &frame[ETH + hl..ETH + total];
        let Ok(pkt) = TcpPacket::new_checked(bytes) else {
            return false;
        };
        let Ok(r) = TcpRepr::parse(&pkt, ip.src_addr(), ip.dst_addr()) else {
            return false;
        };
        if r.src_port != self.target.port() || r.dst_port < EPHEMERAL_FIRST {
            return false;
        }
        let i = usize::from(r.dst_port - EPHEMERAL_FIRST);
        let Some(slot) = self.slots[i].as_mut() else {
            return false;
        };
        let seg = Segment {
            seq: SeqNumber(r.seq),
            ack: SeqNumber(r.ack),
            flags: r.flags,
            window: r.window,
            options: r.options,
            payload: r.payload,
        };
        slot.conn.handle_segment(now, &seg);
        self.mark_dirty(r.dst_port);
        true
    }

    fn advance_phase(&mut self, now: Instant) {
        match self.phase {
            Phase::Resolving if self.target_mac.is_none() => {
                match self.stack.arp_cache().resolve(*self.target.ip(), now) {
                    Resolution::Known(mac) => self.target_mac = Some(mac),
                    Resolution::Failed => self.phase = Phase::Unreachable,
                    Resolution::Pending => {}
                }
            }
            // The connections are opened before the clock starts (except in crr, where
            // opening them is what is measured), so that an open-loop schedule does not
            // begin with requests for connections still in their handshake.
            Phase::Resolving => {
                let settled = self.mode == LoadMode::Crr
                    || self
                        .clients
                        .iter()
                        .all(|c| c.state != ClientState::Connecting);
                if settled {
                    self.measure_from = now + self.warmup;
                    self.phase = if self.warmup.is_zero() {
                        Phase::Measuring
                    } else {
                        Phase::Warmup
                    };
                    self.stop_sending_at = self.duration.map(|d| self.measure_from + d);
                    if let Some(s) = &mut self.schedule {
                        s.restart(now);
                    }
                }
            }
            Phase::Warmup if now >= self.measure_from => self.phase = Phase::Measuring,
            Phase::Warmup => {}
            Phase::Measuring => {
                let time_up = self.stop_sending_at.is_some_and(|t| now >= t);
                let count_up = self.request_limit.is_some_and(|n| {
                    self.tally.total.requests + self.tally.total.errors.total() >= n
                });
                if time_up || count_up {
                    self.phase = Phase::Draining;
                    self.ended = Some(now);
                }
            }
            Phase::Draining => {
                let streaming = self.mode == LoadMode::Stream;
                if self.in_flight == 0 || streaming {
                    // Close every connection with the FIN exchange, and give them a
                    // bounded time to finish.
                    for c in 0..self.clients.len() {
                        let cl = &mut self.clients[c];
                        if matches!(cl.state, ClientState::Open | ClientState::Connecting) {
                            cl.state = ClientState::Closing;
                            let port = cl.port;
                            if let Some(s) =
                                self.slots[usize::from(port - EPHEMERAL_FIRST)].as_mut()
                            {
                                s.conn.close();
                            }
                            self.mark_dirty(port);
                        }
                    }
                    self.grace_until = Some(now + CLOSE_GRACE);
                    self.phase = Phase::Done;
                }
            }
            Phase::Done | Phase::Unreachable => {}
        }
    }

    /// Every connection closed or in TIME_WAIT (which needs nobody), crr's detached
    /// ones included, or the grace is over. Leaving earlier would leave the server's
    /// side of a connection in LAST_ACK, where the next run's SYN from the same port
    /// would meet it.
    fn all_closed(&self, now: Instant) -> bool {
        if self.grace_until.is_some_and(|t| now >= t) {
            return true;
        }
        self.slots.iter().flatten().all(|s| {
            matches!(s.conn.state(), State::TimeWait | State::Closed)
                || s.client
                    .is_some_and(|c| self.clients[c as usize].state != ClientState::Closing)
        })
    }

    /// Expires requests (and crr transactions) older than the timeout: counted, and the
    /// connection aborted, since its byte stream can no longer be matched.
    fn expire(&mut self, now: Instant) {
        for c in 0..self.clients.len() {
            let cl = &self.clients[c];
            let started = match (self.mode, cl.state) {
                (LoadMode::Crr, ClientState::Connecting | ClientState::Open) => Some(cl.began),
                (_, ClientState::Connecting) if cl.waiting.is_empty() => Some(cl.began),
                (_, ClientState::Open) => cl.waiting.front().map(|o| o.sent),
                _ => None,
            };
            if started.is_some_and(|t| now.saturating_since(t) >= self.timeout) {
                let port = cl.port;
                if let Some(s) = self.slots[usize::from(port - EPHEMERAL_FIRST)].as_mut() {
                    s.conn.abort();
                }
                // The abort's Closed(Rst) comes when the connection is next serviced;
                // count it as the timeout it is.
                self.client_lost(now, c as u32, CloseReason::Timeout);
                if let Some(s) = self.slots[usize::from(port - EPHEMERAL_FIRST)].as_mut() {
                    s.client = None;
                }
                self.mark_dirty(port);
            }
        }
    }

    fn send_due(&mut self, now: Instant) {
        let opening = self.phase == Phase::Resolving && self.target_mac.is_some();
        if !self.sending() && !opening {
            return;
        }
        // Clients without a connection open one (crr: that is the next transaction).
        let mut budget = self.budget();
        for c in 0..self.clients.len() {
            if opening && self.mode == LoadMode::Crr {
                break;
            }
            let cl = &self.clients[c];
            if cl.state == ClientState::Idle && now >= cl.retry_at && budget > 0 {
                if self.mode == LoadMode::Crr {
                    budget -= 1;
                }
                self.connect(now, c as u32);
            }
        }
        // Open loop: requests leave on the schedule, each on the next connection.
        if !self.sending() {
            return;
        }
        if let Some(mut s) = self.schedule.take() {
            let n = self.clients.len() as u64;
            let mut budget = self.budget();
            while budget > 0 {
                let Some((k, intended)) = s.due(now) else {
                    break;
                };
                if !self.push_request(now, intended, (k % n) as u32) {
                    self.error(intended, |e| &mut e.overload);
                }
                budget -= 1;
            }
            self.schedule = Some(s);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        if !self.dirty.is_empty() {
            return Some(Instant::ZERO);
        }
        let sending = self.sending();
        let mut next = [
            self.stack.poll_at(),
            self.stop_sending_at,
            self.tally.next_report(),
            self.grace_until,
            match self.phase {
                Phase::Warmup | Phase::Measuring => self.schedule.as_ref().map(|s| s.next_at()),
                _ => None,
            },
        ]
        .into_iter()
        .flatten()
        .min();
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for cl in &self.clients {
            match cl.state {
                ClientState::Idle if sending => consider(Some(cl.retry_at)),
                ClientState::Idle => {}
                _ => {
                    let slot = self.slots[usize::from(cl.port - EPHEMERAL_FIRST)].as_ref();
                    consider(slot.and_then(|s| s.conn.poll_timeout()));
                    consider(cl.waiting.front().map(|o| o.sent + self.timeout));
                    if cl.state == ClientState::Connecting || self.mode == LoadMode::Crr {
                        consider(Some(cl.began + self.timeout));
                    }
                }
            }
        }
        next
    }
}

impl Engine for TcpLoad {
    fn on_frame(&mut self, now: Instant, frame: &mut [u8], tx: &mut dyn Transmit) -> Verdict {
        let ours = frame.len() >= ETH
            && EthernetFrame::new_unchecked(&*frame).ethertype() == EtherType::Ipv4
            && EthernetFrame::new_unchecked(&*frame).dst_addr() == self.stack.mac();
        if ours && self.on_segment(now, frame) {
            self.stack.counters().rx_frames.inc();
            return Verdict::Drop;
        }
        self.stack.handle_frame(now, frame, tx)
    }

    fn poll(&mut self, now: Instant, tx: &mut dyn Transmit) {
        self.stack.poll(now, tx);
        self.advance_phase(now);
        self.expire(now);
        self.send_due(now);
        // The clients' connections, then any other connection that got a segment.
        for c in 0..self.clients.len() {
            if self.clients[c].state != ClientState::Idle {
                let port = self.clients[c].port;
                self.service(now, port, tx);
            }
        }
        while let Some(port) = self.dirty.pop() {
            self.service(now, port, tx);
        }
        self.advance_phase(now);
        self.tally.report(now, self.phase);
        if self.phase == Phase::Done && self.all_closed(now) {
            self.done = true;
        }
    }

    fn finished(&self) -> bool {
        self.done || self.phase == Phase::Unreachable
    }

    fn poll_at(&self) -> Option<Instant> {
        self.next_deadline()
    }
}
