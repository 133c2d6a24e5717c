//! The TCP endpoint: every TCP connection of one worker, passive and active, and the one
//! place that turns segments into calls on the state machine (`proto::tcp::Connection`)
//! and its output back into frames. `xstack serve` and `xstack load` both run it; the
//! applications on top see it through [`App`](super::App) and [`TcpSocket`].
//!
//! What it owns:
//! - the listening ports (a bitmap, separate from UDP's port space);
//! - the connection table (`stack/table.rs`), each entry holding the TCB, the
//!   application's per-connection state and where the peer is;
//! - passive open: a SYN to a listening port makes a connection in SYN_RCVD while the
//!   half-open backlog has room, otherwise a SYN cookie answers (`stack/cookie.rs`,
//!   RFC 4987) and the connection is made when the ACK proves it;
//! - active open: an ephemeral port of this worker's share (`ports.rs`) of one of our
//!   addresses (taken in turn, each with a port share of its own), an RFC 6528 ISN,
//!   and reuse of a port our own connection holds in TIME_WAIT after
//!   [`TIME_WAIT_REUSE_AFTER`] when the new ISN lies above everything the old one sent
//!   (RFC 6191's rule without timestamps), so no old segment can pass for new data;
//! - one timer heap over all connections, so no poll scans the table;
//! - the batch service: a connection that got segments (or that the application wrote
//!   on) is serviced once after the batch — timers, application callbacks, transmission,
//!   events — so one ACK answers a whole batch;
//! - the answers for no connection (RFC 9293 §3.10.7.1), written over the request.
//!
//! Invariants: a connection is removed exactly once, through [`TcpEndpoint::remove`],
//! which keeps the half-open count, the TIME_WAIT count and the port holders right and
//! is followed by the application's `closed`; nothing here allocates per segment (the
//! heap and lists grow to their high-water mark and stay).

pub mod pool;
pub mod ports;

use super::app::{App, ConnId, TcpSocket};
use super::cookie::SynCookies;
use super::ownership::Ownership;
use super::table::{ConnTable, FlowKey};
use super::trace::{Rung, Tracer};
use super::{
    drop_reason, ip_header_len, swap_macs, turn_around, write_ipv6_header, ETH_HEADER, IPV4_HEADER,
};
use crate::driver::{Transmit, Verdict};
use crate::metrics::{DropReason, StackCounters};
use crate::proto::tcp::{
    Buffers, CloseReason, ConnStats, Connection, Event, Segment, SegmentHeader, SeqNumber, State,
    TcpConfig,
};
use crate::time::Instant;
use crate::wire::{
    EtherType, EthernetAddress, EthernetFrame, IpProtocol, Ipv4Packet, Ipv4Repr, TcpFlags,
    TcpOptions, TcpPacket, TcpRepr,
};
use core::cmp::Reverse;
use core::hash::{Hash, Hasher};
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;
use pool::BufferPool;
use ports::{EphemeralPorts, PortSet};
use std::collections::BinaryHeap;
use std::hash::DefaultHasher;
use std::sync::Arc;

/// Connections in SYN_RCVD at most; past this, SYN cookies answer (RFC 4987).
pub const DEFAULT_SYN_BACKLOG: usize = 1024;
/// A port our connection holds in TIME_WAIT may carry a new connection after this long
/// (and only with a higher ISN).
pub const TIME_WAIT_REUSE_AFTER: Duration = Duration::from_secs(1);
/// After the pool freed buffers, the heap is trimmed this much later (and so at most this
/// often): a burst of closes frees many sets, and one trim returns them all.
const TRIM_AFTER: Duration = Duration::from_secs(1);
/// An ACK is checked as a SYN cookie only this long after the last cookie went out (two
/// cookie periods).
const COOKIE_LIFETIME: Duration = Duration::from_secs(128);

/// Why an active open could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The peer's link-layer address is not known yet.
    #[error("the peer's MAC address is not resolved")]
    NoRoute,
    /// Every ephemeral port of this worker is busy or in TIME_WAIT.
    #[error("no free ephemeral port")]
    NoPort,
    /// The connection table is full.
    #[error("the connection table is full")]
    TableFull,
    /// We own no address of the target's family (IPv4 or IPv6).
    #[error("no local address of the target's family")]
    NoAddress,
}

/// What the endpoint is built from.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// Our addresses, sorted (IPv4 before IPv6, as `AddrSet` keeps them).
    pub addrs: Vec<IpAddr>,
    pub mac: EthernetAddress,
    pub tcp: TcpConfig,
    /// Most connections at once.
    pub capacity: usize,
    /// Ports to listen on.
    pub listen: Vec<u16>,
    /// The ephemeral ports this worker opens connections from (of each address).
    pub ports: PortSet,
    /// Seeds the table's hash.
    pub table_seed: u64,
    /// The secret of RFC 6528's F().
    pub isn_secret: u64,
    /// Added to the clock for RFC 6528's M (see `Secrets::isn_epoch_ns`).
    pub isn_epoch_ns: u64,
    /// The secret of the SYN cookies' hash.
    pub cookie_secret: u64,
}

/// One connection in the table.
struct Flow<C> {
    conn: Connection,
    app: C,
    peer_mac: EthernetAddress,
    /// Queued for service after this batch.
    dirty: bool,
    /// Counted in the half-open backlog (SYN_RCVD, not from a cookie).
    half_open: bool,
    /// When it entered TIME_WAIT (and so is counted in `time_wait`).
    time_wait_since: Option<Instant>,
    /// Claimed from the run's [`Ownership`] (a passive open), so released on removal.
    claimed: bool,
    /// The connection's counters as last added to the stack's.
    reported: ConnStats,
    /// The deadline of this connection's live entry in the timer heap.
    timer_at: Option<Instant>,
}

impl<C> Flow<C> {
    fn new(conn: Connection, app: C, peer_mac: EthernetAddress) -> Self {
        Flow {
            conn,
            app,
            peer_mac,
            dirty: false,
            half_open: false,
            time_wait_since: None,
            claimed: false,
            reported: ConnStats::default(),
            timer_at: None,
        }
    }
}

pub struct TcpEndpoint<C> {
    /// Our addresses, sorted (IPv4 first); `ports[i]` are `addrs[i]`'s.
    addrs: Box<[IpAddr]>,
    /// How many of `addrs` are IPv4.
    v4_addrs: usize,
    mac: EthernetAddress,
    cfg: TcpConfig,
    /// One bit per port.
    listening: Box<[u64]>,
    conns: ConnTable<Flow<C>>,
    /// Connections to service after this batch.
    dirty: Vec<u32>,
    isn_secret: u64,
    isn_epoch_ns: u64,
    /// Connections in SYN_RCVD that hold a table slot, and the most allowed.
    half_open: usize,
    backlog: usize,
    cookies: SynCookies,
    /// When the last cookie went out: only then is an unknown ACK checked as one.
    last_cookie: Option<Instant>,
    /// Connections in TIME_WAIT.
    time_wait: usize,
    ports: Box<[EphemeralPorts]>,
    /// The address the next active open tries first, IPv4 and IPv6.
    next_addr: [usize; 2],
    /// Buffers of finished and idle connections, for the next ones.
    pool: BufferPool,
    /// When the heap is trimmed next, if memory was freed since the last trim.
    trim_at: Option<Instant>,
    /// A connection was removed (its entry freed) since the last trim was scheduled.
    freed_since_trim: bool,
    /// `--trace`: the ladder of every connection.
    trace: Option<Tracer>,
    /// Connection timers, earliest first: (deadline, slot). An entry is live only while
    /// it matches its connection's `timer_at`; others are skipped when they surface.
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    /// Scratch for the slots whose timers are due.
    due: Vec<u32>,
    /// Connections removed while the application could not be called (a port taken over
    /// from TIME_WAIT during the application's own poll); it hears of them next poll.
    closed_later: Vec<(ConnId, C, CloseReason)>,
    /// The run's other stacks, when connections are shared between several.
    ownership: Option<Arc<dyn Ownership>>,
    counters: Arc<StackCounters>,
}

impl<C> TcpEndpoint<C> {
    pub fn new(cfg: EndpointConfig, counters: Arc<StackCounters>) -> Self {
        let mut listening = vec![0u64; 65536 / 64].into_boxed_slice();
        for &p in &cfg.listen {
            listening[usize::from(p) / 64] |= 1 << (p % 64);
        }
        assert!(!cfg.addrs.is_empty(), "an endpoint needs an address");
        debug_assert!(cfg.addrs.windows(2).all(|w| w[0] < w[1]), "sorted");
        let v4_addrs = cfg.addrs.iter().filter(|a| a.is_ipv4()).count();
        TcpEndpoint {
            ports: cfg
                .addrs
                .iter()
                .map(|_| EphemeralPorts::new(cfg.ports))
                .collect(),
            next_addr: [0, v4_addrs],
            v4_addrs,
            addrs: cfg.addrs.into_boxed_slice(),
            mac: cfg.mac,
            cfg: cfg.tcp,
            listening,
            conns: ConnTable::new(cfg.capacity, cfg.table_seed),
            dirty: Vec::with_capacity(1024),
            isn_secret: cfg.isn_secret,
            isn_epoch_ns: cfg.isn_epoch_ns,
            half_open: 0,
            backlog: DEFAULT_SYN_BACKLOG,
            cookies: SynCookies::with_secret(cfg.cookie_secret),
            last_cookie: None,
            time_wait: 0,
            pool: BufferPool::new(pool::KEEP),
            trim_at: None,
            freed_since_trim: false,
            trace: None,
            timers: BinaryHeap::with_capacity(1024),
            due: Vec::with_capacity(1024),
            closed_later: Vec::new(),
            ownership: None,
            counters,
        }
    }

    /// Shares the connections a peer opens with the run's other stacks: each passive
    /// open is claimed first, and released when it leaves the table.
    pub fn set_ownership(&mut self, ownership: Option<Arc<dyn Ownership>>) {
        self.ownership = ownership;
    }

    pub fn set_tracer(&mut self, tracer: Tracer) {
        self.trace = Some(tracer);
    }

    /// Sets how many connections may wait in SYN_RCVD before SYN cookies answer.
    pub fn set_syn_backlog(&mut self, backlog: usize) {
        self.backlog = backlog;
    }

    pub fn is_listening(&self, port: u16) -> bool {
        self.listening[usize::from(port) / 64] & (1 << (port % 64)) != 0
    }

    /// Connections in the table (any state but CLOSED).
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Sets of buffers connections hold now, and the most they held at once: an idle
    /// connection holds none.
    pub fn buffer_sets(&self) -> (usize, usize) {
        (self.pool.lent(), self.pool.peak_lent())
    }

    /// Connections in the table that are not in TIME_WAIT (which needs nobody).
    pub fn open_connections(&self) -> usize {
        self.conns.len() - self.time_wait
    }

    /// RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a
    /// clock ticking every 4 microseconds, F SipHash over the secret and the 4-tuple.
    fn isn(&self, now: Instant, key: &FlowKey) -> u32 {
        let mut h = DefaultHasher::new();
        (
            self.isn_secret,
            key.local_ip,
            key.local_port,
            key.remote_ip,
            key.remote_port,
        )
            .hash(&mut h);
        let m = (now.as_nanos().wrapping_add(self.isn_epoch_ns) / 4000) as u32;
        m.wrapping_add(h.finish() as u32)
    }

    /// The offset of a connection's timestamp clock (RFC 7323 §7.1): the clock from boot
    /// (as the ISN's), plus a hash of the secret and the two addresses, not the ports,
    /// so that every connection between two hosts has one clock: a new incarnation's
    /// timestamps are never older than the last one's, which PAWS and RFC 6191's reuse
    /// of TIME_WAIT at the peer rely on (Linux keys its offset the same way).
    fn ts_offset(&self, key: &FlowKey) -> u32 {
        let mut h = DefaultHasher::new();
        (self.isn_secret, "timestamps", key.local_ip, key.remote_ip).hash(&mut h);
        ((self.isn_epoch_ns / 1_000_000) as u32).wrapping_add(h.finish() as u32)
    }

    fn mark_dirty(dirty: &mut Vec<u32>, flow: &mut Flow<C>, slot: u32) {
        if !flow.dirty {
            flow.dirty = true;
            dirty.push(slot);
        }
    }

    /// Takes a connection out of the table, keeping every count that depends on it.
    fn remove(&mut self, slot: u32) -> Option<(FlowKey, Flow<C>)> {
        let (key, mut flow) = self.conns.remove(slot)?;
        self.counters.tcp_table_removed.inc();
        self.pool.give(flow.conn.release_buffers());
        // Its table entry goes back to the heap, which keeps it until trimmed.
        self.freed_since_trim = true;
        if flow.half_open {
            self.half_open -= 1;
        }
        if flow.time_wait_since.is_some() {
            self.time_wait -= 1;
        }
        if let Some(ports) = self.ports_of(key.local_ip) {
            ports.release(key.local_port, slot);
        }
        if let (true, Some(o)) = (flow.claimed, &self.ownership) {
            o.release(&key);
        }
        Some((key, flow))
    }

    /// The ephemeral ports of our address `ip`.
    fn ports_of(&mut self, ip: IpAddr) -> Option<&mut EphemeralPorts> {
        let i = if self.addrs.len() == 1 {
            0
        } else {
            self.addrs.binary_search(&ip).ok()?
        };
        self.ports.get_mut(i)
    }

    /// Puts a connection in the table (counted); `None` when the table is full.
    fn insert(&mut self, key: FlowKey, flow: Flow<C>) -> Option<u32> {
        let slot = self.conns.insert(key, flow).ok()?;
        self.counters.tcp_table_inserted.inc();
        Some(slot)
    }

    /// A connection that a received segment opens. When the run's stacks share the
    /// connections, it is claimed first, and a segment whose 4-tuple another stack holds
    /// is dropped under `tcp_owned_elsewhere` (the peer retransmits it, and the steering
    /// takes it to the owner); one the table has no room for is dropped under
    /// `tcp_table_full`.
    fn accept_into_table(&mut self, key: FlowKey, mut flow: Flow<C>) -> Option<u32> {
        if let Some(o) = &self.ownership {
            if !o.claim(&key) {
                self.counters.count_drop(DropReason::TcpOwnedElsewhere);
                return None;
            }
            flow.claimed = true;
        }
        let slot = self.insert(key, flow);
        if slot.is_none() {
            if let Some(o) = &self.ownership {
                o.release(&key);
            }
            self.counters.count_drop(DropReason::TcpTableFull);
        }
        slot
    }

    /// The connection `id` names and the application's state for it, marked for
    /// service after this batch (so what is written on it goes out).
    pub fn socket(&mut self, id: ConnId) -> Option<(TcpSocket<'_>, &mut C)> {
        let key = self.conns.key(id.slot)?;
        if key.local_port != id.local_port {
            return None;
        }
        let flow = self.conns.get_mut(id.slot)?;
        Self::mark_dirty(&mut self.dirty, flow, id.slot);
        // No buffers yet: `send` takes a set if it needs one, and the service after the
        // batch gives it back once the connection is idle again.
        let sock = TcpSocket {
            conn: &mut flow.conn,
            id,
            remote: SocketAddr::new(key.remote_ip, key.remote_port),
            lender: Some((&mut self.pool, &self.cfg)),
        };
        Some((sock, &mut flow.app))
    }

    /// Active open to `remote` (whose MAC is `peer_mac`) from the next free ephemeral
    /// port; the SYN goes out at the next poll. `state` is the application's for it.
    ///
    /// The addresses take turns, candidate by candidate, and each hands out its ports in
    /// order, so the candidate tried is the one that has rested longest; as many
    /// candidates as one address has ports are tried before giving up.
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        peer_mac: EthernetAddress,
        state: C,
    ) -> Result<ConnId, ConnectError> {
        let (family, range) = if remote.is_ipv4() {
            (0, 0..self.v4_addrs)
        } else {
            (1, self.v4_addrs..self.addrs.len())
        };
        if range.is_empty() {
            return Err(ConnectError::NoAddress);
        }
        let cfg = self.cfg_for(remote.ip());
        for _ in 0..self.ports[0].len() {
            let a = self.next_addr[family];
            self.next_addr[family] = if a + 1 == range.end {
                range.start
            } else {
                a + 1
            };
            let Some(port) = self.ports[a].next_candidate() else {
                break;
            };
            let key = FlowKey {
                local_ip: self.addrs[a],
                local_port: port,
                remote_ip: remote.ip(),
                remote_port: remote.port(),
            };
            let isn = self.isn(now, &key);
            if let Some(slot) = self.ports[a].holder(port) {
                let reusable = self.conns.get(slot).is_some_and(|f| {
                    f.time_wait_since.is_some_and(|t| {
                        now.saturating_since(t) >= TIME_WAIT_REUSE_AFTER
                            && SeqNumber(isn) > f.conn.snd_max()
                    })
                });
                if !reusable {
                    continue;
                }
                if let Some((k, f)) = self.remove(slot) {
                    self.counters.tcp_time_wait_reused.inc();
                    let id = ConnId {
                        slot,
                        local_port: k.local_port,
                    };
                    self.closed_later.push((id, f.app, CloseReason::Fin));
                }
            }
            if self.conns.find(&key).is_some() {
                continue;
            }
            let mut conn = Connection::connect(cfg, now, isn, Buffers::none());
            conn.set_ts_offset(self.ts_offset(&key));
            let Some(slot) = self.insert(key, Flow::new(conn, state, peer_mac)) else {
                return Err(ConnectError::TableFull);
            };
            self.ports[a].hold(port, slot);
            self.mark_slot_dirty(slot);
            return Ok(ConnId {
                slot,
                local_port: port,
            });
        }
        self.counters.tcp_connect_no_port.inc();
        Err(ConnectError::NoPort)
    }

    /// TCP's settings for a connection with `peer`: over IPv6 the MSS is 20 bytes less
    /// (its header is 40 bytes, not 20).
    fn cfg_for(&self, peer: IpAddr) -> TcpConfig {
        match peer {
            IpAddr::V4(_) => self.cfg,
            IpAddr::V6(_) => TcpConfig {
                mss: self.cfg.mss.saturating_sub(20).max(1220),
                ..self.cfg
            },
        }
    }

    /// A TCP segment in `frame` (Ethernet, a bare IP header — 20 bytes of IPv4 or 40 of
    /// IPv6, options and extension headers already removed — and TCP) from `src` to
    /// `dst`: to its connection; a SYN to a listening port opens one; anything else is
    /// for no connection and is answered as RFC 9293 §3.10.7.1 says, with the reply
    /// written over the request.
    pub fn on_segment<A: App<Conn = C>>(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        app: &mut A,
    ) -> Verdict {
        let peer_mac = EthernetFrame::new_unchecked(&*frame).src_addr();
        let tcp = &frame[ETH_HEADER + ip_header_len(src)..];
        let (sport, dport, seq, ack, flags, seg_len) = {
            let packet = match TcpPacket::new_checked(tcp) {
                Ok(p) => p,
                Err(e) => return self.dropped(drop_reason(e)),
            };
            let r = match TcpRepr::parse(&packet, src, dst) {
                Ok(r) => r,
                Err(e) => return self.dropped(drop_reason(e)),
            };
            if r.options.sack_malformed {
                self.counters.tcp_sack_malformed.inc();
            }
            let seg = Segment {
                seq: SeqNumber(r.seq),
                ack: SeqNumber(r.ack),
                flags: r.flags,
                window: r.window,
                options: r.options,
                payload: r.payload,
            };
            let key = FlowKey {
                local_ip: dst,
                local_port: r.dst_port,
                remote_ip: src,
                remote_port: r.src_port,
            };
            if let Some(t) = &mut self.trace {
                let rung = Rung {
                    inbound: true,
                    flags: r.flags,
                    seq: r.seq,
                    ack: r.ack,
                    window: r.window,
                    len: r.payload.len(),
                };
                t.segment(now, SocketAddr::new(src, r.src_port), r.dst_port, &rung);
            }
            let is_syn = r.flags.contains(TcpFlags::SYN)
                && !r
                    .flags
                    .intersects(TcpFlags::ACK | TcpFlags::RST | TcpFlags::FIN);
            let found = self.conns.find(&key);
            let closed = found.filter(|&slot| {
                self.conns
                    .get(slot)
                    .is_some_and(|f| f.conn.state() == State::Closed)
            });
            if let Some(slot) = closed {
                // Closed by an earlier segment of this batch (the ACK of our FIN in
                // LAST_ACK, a RST), and not yet serviced: that TCB is deleted, so this
                // segment meets LISTEN, or CLOSED, like any other for no connection.
                //= https://www.rfc-editor.org/rfc/rfc9293#section-3.10.7.4
                //# If our FIN is now acknowledged, delete the TCB, enter
                //# the CLOSED state, and return.
                self.reap(now, slot, app);
            } else if let Some(slot) = found {
                let reopen = is_syn
                    && self
                        .conns
                        .get(slot)
                        .is_some_and(|f| f.conn.syn_may_reopen(&seg));
                if !reopen {
                    self.segment_arrived(now, slot, &seg);
                    return Verdict::Drop;
                }
                // A new incarnation of a connection in TIME_WAIT: the old one is done.
                if let Some((k, f)) = self.remove(slot) {
                    self.counters.tcp_time_wait_reopened.inc();
                    let id = ConnId {
                        slot,
                        local_port: k.local_port,
                    };
                    app.closed(now, id, f.app, CloseReason::Fin);
                }
            }
            let listening = self.is_listening(r.dst_port);
            if listening
                && !r
                    .flags
                    .intersects(TcpFlags::SYN | TcpFlags::RST | TcpFlags::ACK)
            {
                // RFC 9293 §3.10.7.2, LISTEN, fourth: drop it; no RST (that is for
                // CLOSED, §3.10.7.1).
                return self.dropped(DropReason::TcpListenNoFlags);
            }
            if is_syn && listening {
                if self.half_open < self.backlog {
                    if let Some(state) = app.accept(now, r.dst_port) {
                        self.accept(now, key, peer_mac, &seg, state);
                        return Verdict::Drop;
                    }
                } else {
                    let tuple = (dst, r.dst_port, src, r.src_port);
                    let mss = r
                        .options
                        .mss
                        .unwrap_or(if src.is_ipv4() { 536 } else { 1220 });
                    let sack = self.cfg.sack && r.options.sack_permitted;
                    let (cookie, _) = self.cookies.make(now, tuple, r.seq, mss, sack);
                    self.last_cookie = Some(now);
                    if let Some(o) = &self.ownership {
                        o.cookie_sent(now);
                    }
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
                            mss: Some(self.cfg_for(src).mss),
                            sack_permitted: sack,
                            ..TcpOptions::default()
                        },
                        payload: &[],
                    };
                    return self.reply_in_place(now, frame, src, dst, &reply);
                }
            }
            let plain_ack = r.flags.contains(TcpFlags::ACK)
                && !r.flags.intersects(TcpFlags::SYN | TcpFlags::RST);
            if plain_ack && listening && self.cookies_recent(now) {
                let tuple = (dst, r.dst_port, src, r.src_port);
                if let Some(k) = self.cookies.check(now, tuple, r.seq, r.ack) {
                    if let Some(state) = app.accept(now, r.dst_port) {
                        self.counters.tcp_syn_cookies_ok.inc();
                        let cfg = self.cfg_for(src);
                        let conn = Connection::accept_cookie(
                            cfg,
                            k.iss,
                            k.irs,
                            k.mss,
                            k.sack,
                            Buffers::none(),
                        );
                        let flow = Flow::new(conn, state, peer_mac);
                        if let Some(slot) = self.accept_into_table(key, flow) {
                            self.segment_arrived(now, slot, &seg);
                        }
                        return Verdict::Drop;
                    }
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
        self.reply_in_place(now, frame, src, dst, &reply)
    }

    fn dropped(&self, reason: DropReason) -> Verdict {
        self.counters.count_drop(reason);
        Verdict::Drop
    }

    /// Cookies went out in the last two cookie periods, so an ACK may complete one:
    /// from this stack, or from another of the run (the ACK of a cookie need not come
    /// back to the stack that sent it, and all of them share the cookie secret).
    fn cookies_recent(&self, now: Instant) -> bool {
        let shared = self.ownership.as_ref().and_then(|o| o.last_cookie());
        [self.last_cookie, shared]
            .into_iter()
            .flatten()
            .any(|t| now.saturating_since(t) < COOKIE_LIFETIME)
    }

    /// Writes `reply` over the segment in `frame` (from `src` to `dst`) and reflects it.
    fn reply_in_place(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        reply: &TcpRepr,
    ) -> Verdict {
        if let Some(t) = &mut self.trace {
            let rung = Rung {
                inbound: false,
                flags: reply.flags,
                seq: reply.seq,
                ack: reply.ack,
                window: reply.window,
                len: 0,
            };
            t.segment(
                now,
                SocketAddr::new(src, reply.dst_port),
                reply.src_port,
                &rung,
            );
        }
        let ip_len = ip_header_len(src);
        let len = ETH_HEADER + ip_len + reply.buffer_len();
        if len > frame.len() {
            return self.dropped(DropReason::Truncated);
        }
        if src.is_ipv4() {
            turn_around(frame, self.mac);
            let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETH_HEADER..len]);
            ip.set_total_len((IPV4_HEADER + reply.buffer_len()) as u16);
            ip.fill_checksum();
        } else {
            swap_macs(frame, self.mac);
            let ip = &mut frame[ETH_HEADER..];
            write_ipv6_header(ip, dst, src, IpProtocol::Tcp, reply.buffer_len());
        }
        reply.emit(
            &mut TcpPacket::new_unchecked(&mut frame[ETH_HEADER + ip_len..len]),
            dst,
            src,
        );
        Verdict::Reflect(len)
    }

    fn mark_slot_dirty(&mut self, slot: u32) {
        if let Some(flow) = self.conns.get_mut(slot) {
            Self::mark_dirty(&mut self.dirty, flow, slot);
        }
    }

    fn segment_arrived(&mut self, now: Instant, slot: u32, seg: &Segment) {
        if let Some(flow) = self.conns.get_mut(slot) {
            lend_if_needed(&mut self.pool, &self.cfg, flow);
            flow.conn.handle_segment(now, seg);
            Self::mark_dirty(&mut self.dirty, flow, slot);
        }
    }

    /// Removes a connection that has closed but not yet been serviced: its events are
    /// counted and traced, its counters added, and the application gets its state back.
    fn reap<A: App<Conn = C>>(&mut self, now: Instant, slot: u32, app: &mut A) {
        let Some(key) = self.conns.key(slot) else {
            return;
        };
        let TcpEndpoint {
            conns,
            counters,
            trace,
            half_open,
            time_wait,
            ..
        } = self;
        let Some(flow) = conns.get_mut(slot) else {
            return;
        };
        report_stats(flow, counters);
        let mut seen = Seen::default();
        drain_events(
            flow, now, &key, counters, trace, half_open, time_wait, &mut seen,
        );
        if let Some((k, f)) = self.remove(slot) {
            let id = ConnId {
                slot,
                local_port: k.local_port,
            };
            app.closed(now, id, f.app, seen.closed.unwrap_or(CloseReason::Fin));
        }
    }

    /// A SYN for a listening port: a new connection in SYN_RCVD.
    fn accept(
        &mut self,
        now: Instant,
        key: FlowKey,
        peer_mac: EthernetAddress,
        syn: &Segment,
        state: C,
    ) {
        let isn = self.isn(now, &key);
        let cfg = self.cfg_for(key.remote_ip);
        let mut conn = Connection::accept(cfg, now, isn, syn, Buffers::none());
        conn.set_ts_offset(self.ts_offset(&key));
        let mut flow = Flow::new(conn, state, peer_mac);
        flow.half_open = true;
        if let Some(slot) = self.accept_into_table(key, flow) {
            self.half_open += 1;
            self.mark_slot_dirty(slot);
        }
    }

    /// Runs one connection: timers, events, the application, what it sends. Removes it
    /// once it is closed.
    fn service<A: App<Conn = C>>(
        &mut self,
        now: Instant,
        slot: u32,
        tx: &mut dyn Transmit,
        app: &mut A,
    ) {
        let Some(key) = self.conns.key(slot) else {
            return;
        };
        let id = ConnId {
            slot,
            local_port: key.local_port,
        };
        let remote = SocketAddr::new(key.remote_ip, key.remote_port);
        let mac = self.mac;
        let TcpEndpoint {
            conns,
            counters,
            trace,
            half_open,
            time_wait,
            pool,
            cfg,
            ..
        } = self;
        let Some(flow) = conns.get_mut(slot) else {
            return;
        };
        flow.dirty = false;
        lend_if_needed(pool, cfg, flow);
        if flow.conn.poll_timeout().is_some_and(|t| t <= now) {
            flow.conn.handle_timeout(now);
        }
        let mut seen = Seen::default();
        drain_events(
            flow, now, &key, counters, trace, half_open, time_wait, &mut seen,
        );
        if seen.closed.is_none() {
            let mut sock = TcpSocket {
                conn: &mut flow.conn,
                id,
                remote,
                lender: None,
            };
            if seen.connected {
                app.connected(now, &mut flow.app, &mut sock);
            }
            if sock.recv_available() > 0 || sock.peer_done() {
                app.readable(now, &mut flow.app, &mut sock);
            }
            if matches!(sock.state(), State::Established | State::CloseWait)
                && sock.send_capacity() > 0
            {
                app.writable(now, &mut flow.app, &mut sock);
            }
        }
        let peer_mac = flow.peer_mac;
        let mut sent = 0u64;
        flow.conn.poll_transmit(now, &mut |h, p1, p2| {
            let ok = tx.send_with(&mut |buf| emit_tcp(buf, mac, peer_mac, &key, h, p1, p2));
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
                t.segment(now, remote, key.local_port, &rung);
            }
            ok
        });
        counters.tx_frames.add(sent);
        report_stats(flow, counters);
        drain_events(
            flow, now, &key, counters, trace, half_open, time_wait, &mut seen,
        );
        // A connection with nothing in its buffers (idle, or in TIME_WAIT: an active
        // closer holds thousands) needs only its sequence numbers: its buffers go back
        // to the pool until a segment, a timer or the application's send needs them.
        if let Some(b) = flow.conn.reclaim() {
            pool.give(b);
        }
        if let Some(reason) = seen.closed {
            if let Some((_, f)) = self.remove(slot) {
                app.closed(now, id, f.app, reason);
            }
            return;
        }
        // Keep one live timer entry at the connection's next deadline.
        if let Some(t) = flow.conn.poll_timeout() {
            if flow.timer_at.map_or(true, |at| t < at) {
                flow.timer_at = Some(t);
                self.timers.push(Reverse((t, slot)));
            }
        }
    }

    /// The earliest moment `poll` has work: now if connections wait for service, else
    /// the earliest timer (a stale entry can make this early; a wake-up too many is
    /// harmless).
    pub fn poll_at(&self) -> Option<Instant> {
        let schedule_trim = self.trim_at.is_none() && self.memory_freed();
        if !self.dirty.is_empty() || !self.closed_later.is_empty() || schedule_trim {
            return Some(Instant::ZERO);
        }
        let timer = self.timers.peek().map(|Reverse((t, _))| *t);
        match (timer, self.trim_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Memory went back to the heap since the last trim was scheduled.
    fn memory_freed(&self) -> bool {
        self.pool.freed() > 0 || self.freed_since_trim
    }

    /// Services the connections that got segments (or writes) this batch, then those
    /// whose timers are due: O(log n) a timer, never a scan of the table.
    pub fn poll<A: App<Conn = C>>(&mut self, now: Instant, tx: &mut dyn Transmit, app: &mut A) {
        for (id, state, reason) in self.closed_later.drain(..) {
            app.closed(now, id, state, reason);
        }
        while let Some(slot) = self.dirty.pop() {
            self.service(now, slot, tx, app);
        }
        // Take the due entries first: servicing pushes new ones, possibly due at once
        // (a connection that could not transmit for want of TX buffers), and those wait
        // for the next poll rather than spin here.
        let mut due = core::mem::take(&mut self.due);
        while let Some(&Reverse((t, slot))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            if let Some(f) = self.conns.get_mut(slot) {
                if f.timer_at == Some(t) {
                    f.timer_at = None;
                    due.push(slot);
                }
            }
        }
        for &slot in &due {
            self.service(now, slot, tx, app);
        }
        due.clear();
        self.due = due;
        self.trim_heap(now);
    }

    /// Returns freed memory (buffers the pool did not keep, the entries of connections
    /// that ended) to the system a while after it was freed.
    fn trim_heap(&mut self, now: Instant) {
        // A trim returns all that was freed until then, what was freed while it waited
        // included; so it is due first, and only what is freed after it schedules the
        // next one. (The other way round, memory freed while a trim waited left the
        // endpoint, once that trim was done, asking for a poll at once: `poll_at`
        // schedules a trim that way, and the poll had already passed its chance.)
        if self.trim_at.is_some_and(|t| t <= now) {
            self.trim_at = None;
            self.forget_freed();
            crate::driver::heap::trim();
        }
        if self.trim_at.is_none() && self.memory_freed() {
            self.forget_freed();
            self.trim_at = Some(now + TRIM_AFTER);
        }
    }

    /// What was freed is in a trim's hands now (done, or scheduled).
    fn forget_freed(&mut self) {
        self.pool.take_freed();
        self.freed_since_trim = false;
    }
}

/// Gives a connection that went idle (and gave its buffers back) a set from the pool
/// before anything reaches it.
fn lend_if_needed<C>(pool: &mut BufferPool, cfg: &TcpConfig, flow: &mut Flow<C>) {
    if flow.conn.needs_buffers() {
        flow.conn.lend(pool.take(cfg));
    }
}

/// Adds to the stack's counters what a connection's own have gained since they were last
/// added (they move when segments arrive as well as when it is serviced).
fn report_stats<C>(flow: &mut Flow<C>, counters: &StackCounters) {
    let (stats, before) = (flow.conn.stats(), flow.reported);
    flow.reported = stats;
    // Each stack counter gains what the connection's own field of the same meaning did.
    macro_rules! gained {
        ($($counter:ident: $field:ident),* $(,)?) => {
            $(counters.$counter.add(stats.$field - before.$field);)*
        };
    }
    gained!(
        tcp_challenge_acks: challenge_acks,
        tcp_retransmits: retransmits,
        tcp_timeouts: timeouts,
        tcp_fast_retransmits: fast_retransmits,
        tcp_out_of_order: out_of_order,
        tcp_window_probes: window_probes,
        tcp_out_of_order_dropped: out_of_order_dropped,
        tcp_dsacks_sent: dsacks_sent,
        tcp_dsacks_received: dsacks_received,
        tcp_sack_blocks_ignored: sack_blocks_ignored,
        tcp_sack_reneged: sack_reneged,
        tcp_loss_probes: loss_probes,
        tcp_rescue_retransmits: rescue_retransmits,
        tcp_paws_rejected: paws_rejected,
    );
}

/// What draining a connection's events found.
#[derive(Default)]
struct Seen {
    connected: bool,
    closed: Option<CloseReason>,
}

/// Drains a connection's events: counts them, traces state transitions, keeps the
/// half-open and TIME_WAIT counts.
#[allow(clippy::too_many_arguments)]
fn drain_events<C>(
    flow: &mut Flow<C>,
    now: Instant,
    key: &FlowKey,
    counters: &StackCounters,
    trace: &mut Option<Tracer>,
    half_open: &mut usize,
    time_wait: &mut usize,
    seen: &mut Seen,
) {
    while let Some(ev) = flow.conn.poll_event() {
        match ev {
            Event::StateChanged { from, to } => {
                if let Some(t) = trace.as_mut() {
                    t.state(
                        now,
                        SocketAddr::new(key.remote_ip, key.remote_port),
                        key.local_port,
                        from,
                        to,
                    );
                }
                if flow.half_open && from == State::SynReceived {
                    flow.half_open = false;
                    *half_open -= 1;
                }
                if to == State::TimeWait && flow.time_wait_since.is_none() {
                    flow.time_wait_since = Some(now);
                    *time_wait += 1;
                }
            }
            Event::Connected => {
                counters.tcp_connections_opened.inc();
                if flow.conn.sack_enabled() {
                    counters.tcp_sack_connections.inc();
                }
                seen.connected = true;
            }
            // A connection that aborted and was reset by the peer before its own RST
            // left can say Closed twice; it closed once.
            Event::Closed(_) if seen.closed.is_some() => {}
            Event::Closed(reason) => {
                seen.closed = Some(reason);
                match reason {
                    CloseReason::Fin => counters.tcp_closed_fin.inc(),
                    CloseReason::Rst => counters.tcp_closed_rst.inc(),
                    CloseReason::Timeout => counters.tcp_closed_timeout.inc(),
                }
            }
            Event::Readable | Event::PeerClosed => {}
        }
    }
}

/// Writes one TCP segment of `key`'s connection into `buf` as a whole frame; returns its
/// length (0 if it does not fit).
#[allow(clippy::too_many_arguments)]
fn emit_tcp(
    buf: &mut [u8],
    mac: EthernetAddress,
    peer_mac: EthernetAddress,
    key: &FlowKey,
    h: &SegmentHeader,
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
    let ip_len = ip_header_len(key.local_ip);
    let len = ETH_HEADER + ip_len + tcp_len;
    if len > buf.len() {
        return 0;
    }
    let mut eth = EthernetFrame::new_unchecked(&mut buf[..ETH_HEADER]);
    eth.set_dst_addr(peer_mac);
    eth.set_src_addr(mac);
    match (key.local_ip, key.remote_ip) {
        (IpAddr::V4(ip), IpAddr::V4(peer)) => {
            eth.set_ethertype(EtherType::Ipv4);
            Ipv4Repr::new(ip, peer, IpProtocol::Tcp, tcp_len).emit(&mut Ipv4Packet::new_unchecked(
                &mut buf[ETH_HEADER..ETH_HEADER + IPV4_HEADER],
            ));
        }
        (ip, peer) => {
            eth.set_ethertype(EtherType::Ipv6);
            write_ipv6_header(&mut buf[ETH_HEADER..], ip, peer, IpProtocol::Tcp, tcp_len);
        }
    }
    let mut pkt = TcpPacket::new_unchecked(&mut buf[ETH_HEADER + ip_len..len]);
    repr.emit_header(&mut pkt);
    let payload = pkt.payload_mut();
    payload[..p1.len()].copy_from_slice(p1);
    payload[p1.len()..].copy_from_slice(p2);
    pkt.fill_checksum(key.local_ip, key.remote_ip);
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

#[cfg(test)]
mod tests {
    use super::*;

    // What an idle connection costs besides the application's own state: its table slot
    // (the connection without buffers, where its peer is, its counters as last reported)
    // and its index entry. docs/performance.md ("Memory per TCP connection") records the
    // figures; 1 M idle connections must fit in 4 GiB.
    #[test]
    fn a_table_slot_stays_small() {
        let slot = core::mem::size_of::<(FlowKey, Flow<()>)>();
        assert!(slot <= 1280, "a slot is {slot} bytes");
    }
}
