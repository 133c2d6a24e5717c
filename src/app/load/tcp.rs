//! The load generator's TCP clients: `--connections` clients, each driving one
//! connection of the stack's TCP endpoint at a time (active open from an ephemeral port
//! to the target). The endpoint owns the connections — ports, ISNs, TIME_WAIT, timers,
//! segments; this application owns the requests, their timing and their checking.
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
//! `--app http` and `--app raw` plug a protocol into the same clients: the request is the
//! bytes built once from the command line ([`Exchange`]), and each connection runs a
//! response parser (`http.rs`, `raw.rs`) over the stream. `--pipeline D` keeps D requests
//! in flight per connection in closed loop. A server that closes a connection after
//! answering (`Connection: close`, or its FIN) is counted (`server_closes`) and the client
//! connects again at once, sending again the requests the close left unanswered
//! (`retried`, each with its first intended send time); in open loop, requests due while a
//! client reconnects wait for its connection instead of counting as overload. Bytes that
//! are not a response count as `malformed` and the connection is dropped.
//!
//! Ports and TIME_WAIT are the endpoint's (`stack/tcp/`): a port our connection holds in
//! TIME_WAIT is reused after a second with a higher ISN; with no port free the client
//! waits and tries again (counted as `tcp_connect_no_port`): about 16 000 connections a
//! second is the most one address sustains against one server port.
//!
//! Errors: a request not answered within `--timeout` counts as `timeout` and its
//! connection is aborted (the byte stream can no longer be matched), a refused connection
//! (a RST to the SYN) as `refused`, an established one reset (or closed by the server
//! before it answered anything) as `reset`, a response that differs from its request as
//! `mismatch`. Each is counted once; none stops the run.
//!
//! Nothing here scans all clients on a poll: idle clients wait in a heap by the time
//! they may connect again, and every deadline (a connection attempt's, a request's) in a
//! FIFO, which is also deadline order because every deadline is `--timeout` after it was
//! set. A stale entry (its request answered, its attempt over) is skipped when it
//! surfaces. At most [`MAX_HANDSHAKES`] clients are in a handshake at once, and at the
//! end at most [`MAX_CLOSING`] connections close at once, each batch of them begun over
//! polls of [`STARTS_PER_POLL`], so that a million connections open and close without a
//! burst that the rings on the way drop; the close goes through the clients once, with a
//! cursor. An idle client allocates nothing: its request queue and receive buffer come
//! with its first request and its first bytes.

use super::engine::{fill_request, reply_matches, ErrorCounts, Measured, Phase, Tally};
use super::http::{self, HttpParser, Response, Step};
use super::raw::{Framing, RawParser};
use super::schedule::Schedule;
use crate::config::{AppProto, Exchange, LoadConfig, LoadMode, RawFraming};
use crate::proto::arp::Resolution;
use crate::proto::tcp::{CloseReason, TcpConfig};
use crate::stack::{App, ConnId, ConnectError, Net, TcpSocket};
use crate::time::Instant;
use core::cmp::Reverse;
use core::net::SocketAddr;
use core::time::Duration;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

/// After a failed connection, a client waits this long before the next attempt, so that
/// a closed port is not hammered.
const RETRY_PAUSE: Duration = Duration::from_millis(10);
/// With every ephemeral port busy, a client tries again this much later.
const PORT_WAIT: Duration = Duration::from_millis(1);
/// At the end, connections close with the FIN exchange; the run ends when all have, or
/// when none has for this long.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Clients in a handshake at once, at most: the others wait in the idle heap. A burst
/// of SYNs for every client at once overflows the receive rings on the way (the
/// server's first: its ring holds 2048 frames on AF_XDP) and the server's SYN backlog;
/// every SYN lost then waits for its retransmission a second later, and the
/// retransmissions arrive as a burst of their own. With a window the handshakes clock
/// themselves: one completes, the next SYN leaves.
pub const MAX_HANDSHAKES: usize = 512;
/// At the end, connections in their closing handshake at once, at most, for the same
/// reason: a FIN for each of a million connections in one poll would be a burst.
pub const MAX_CLOSING: usize = 512;
/// Handshakes begun, and closes asked for, in one poll at most: what one poll sends goes
/// out with one kick, and on a veth the kernel takes such a burst into a backlog of
/// 1000 frames (`netdev_max_backlog`), which it drains 300 at a time
/// (`netdev_budget`) in the kick and the rest later; a busy-polling worker leaves
/// little of "later", and bursts of 512 were lost there.
pub const STARTS_PER_POLL: usize = 64;

#[derive(Clone, Copy, Debug)]
struct Outstanding {
    seq: u64,
    intended: Instant,
    sent: Instant,
    /// Sent on some connection (false: queued while its client had none).
    on_wire: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientState {
    /// No connection: waits in the idle heap to open one.
    Idle,
    Connecting,
    Open,
    /// Closed by us at the end of the run.
    Closing,
}

/// The response parser of one connection, for the apps that frame responses.
#[derive(Clone, Debug)]
enum Parser {
    Http(HttpParser),
    Raw(RawParser),
}

impl Parser {
    fn of(exchange: &Exchange) -> Self {
        match exchange {
            Exchange::Http { method, .. } => Parser::Http(HttpParser::new(method == "HEAD")),
            Exchange::Raw { framing, .. } => Parser::Raw(RawParser::new(match framing {
                RawFraming::Bytes(n) => Framing::Bytes(*n),
                RawFraming::Delimiter(d) => Framing::Delimiter(d.clone()),
            })),
        }
    }

    fn feed(&mut self, buf: &[u8]) -> (usize, Step) {
        match self {
            Parser::Http(p) => p.feed(buf),
            Parser::Raw(p) => p.feed(buf),
        }
    }

    fn eof(&mut self) -> Option<Step> {
        match self {
            Parser::Http(p) => p.eof(),
            Parser::Raw(p) => p.eof(),
        }
    }

    fn reset(&mut self) {
        match self {
            Parser::Http(p) => p.reset(),
            Parser::Raw(p) => p.reset(),
        }
    }
}

/// How a connection ends after its bytes were read.
enum Ending {
    /// crr: the transaction is done; we close.
    Done,
    /// The server said it closes (`Connection: close`) or closed.
    ServerClose,
    Malformed,
}

struct Client {
    state: ClientState,
    conn: Option<ConnId>,
    /// Connection attempts so far: names the attempt a deadline belongs to.
    attempt: u64,
    next_seq: u64,
    waiting: VecDeque<Outstanding>,
    /// The response being received; allocated when the first bytes arrive (an idle
    /// client holds none).
    rx: Vec<u8>,
    rx_len: usize,
    /// `--app http` / `raw`: the response parser.
    parser: Option<Parser>,
    /// Responses on the current connection.
    answered: u64,
    /// crr: when this transaction's connect began.
    began: Instant,
    /// stream: bytes queued for sending, and bytes received and checked.
    stream_tx: u64,
    stream_rx: u64,
}

/// A deadline, `--timeout` after it was set.
#[derive(Clone, Copy, Debug)]
enum Deadline {
    /// Connection attempt `attempt` of client `c` (in crr, the whole transaction).
    Attempt { at: Instant, c: u32, attempt: u64 },
    /// Request `seq` of client `c`.
    Request { at: Instant, c: u32, seq: u64 },
}

impl Deadline {
    fn at(&self) -> Instant {
        match *self {
            Deadline::Attempt { at, .. } | Deadline::Request { at, .. } => at,
        }
    }
}

/// Which client a connection belongs to; `None` once a crr client has closed it and
/// moved on, or a timed-out one has aborted it.
pub type Owner = Option<u32>;

pub struct TcpLoad {
    target: SocketAddr,
    app: AppProto,
    mode: LoadMode,
    size: usize,
    timeout: Duration,
    tcp: TcpConfig,
    clients: Vec<Client>,
    /// Idle clients by when they may connect: (time, client).
    idle: BinaryHeap<Reverse<(Instant, u32)>>,
    deadlines: VecDeque<Deadline>,
    /// Clients in `Connecting`.
    connecting: usize,
    /// The size of a client's `rx` once it receives.
    rx_size: usize,
    /// The end of the run: the next client to close, the connections that were open
    /// when closing began, and how many the progress check saw last.
    close_next: usize,
    open_at_close: usize,
    open_seen: usize,
    /// Closes asked for at the end so far.
    closes_issued: usize,
    /// The last poll stopped starting handshakes or closes at `STARTS_PER_POLL`: the next
    /// poll is due at once.
    more_now: bool,
    resolved: bool,
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
    /// Done, and every connection closed or given up on.
    done: bool,
    scratch: Vec<u8>,
    /// `--app http` / `raw`: the request, the same bytes every time.
    request: Option<Arc<[u8]>>,
    /// Closed loop: requests kept in flight per connection (`--pipeline`).
    depth: usize,
}

fn stream_byte(i: u64) -> u8 {
    (i as u8).wrapping_mul(7) ^ (i >> 11) as u8
}

impl TcpLoad {
    pub fn new(cfg: &LoadConfig, now: Instant) -> Self {
        let depth = cfg.pipeline.unwrap_or(1).max(1) as usize;
        let window = match (cfg.rate, cfg.pipeline) {
            (None, _) => depth,
            (Some(_), Some(d)) => d.max(1) as usize,
            (Some(rate), None) => {
                let per_conn = rate * cfg.timeout.as_secs_f64() / f64::from(cfg.connections);
                (per_conn.ceil() as usize + 16).min(4096)
            }
        };
        let request = cfg
            .exchange
            .as_ref()
            .map(|e| Arc::<[u8]>::from(e.request()));
        // Room for every request that may be outstanding, and at least 16 KiB.
        let buffer = if cfg.mode == LoadMode::Stream {
            256 << 10
        } else {
            (cfg.size * window.min(64) * 2).clamp(16 << 10, 256 << 10)
        };
        // Responses to a few bytes of request may be large (a file): room for them.
        let recv_buffer = if request.is_some() {
            buffer.max(64 << 10)
        } else {
            buffer
        };
        let tcp = TcpConfig {
            recv_buffer,
            send_buffer: buffer,
            ..TcpConfig::default()
        };
        let clients = (0..cfg.connections)
            .map(|_| Client {
                state: ClientState::Idle,
                conn: None,
                attempt: 0,
                next_seq: 1,
                // Grown as requests are queued (to `window` at most) and allocated
                // when bytes arrive: an idle client costs its own fields only.
                waiting: VecDeque::new(),
                rx: Vec::new(),
                rx_len: 0,
                parser: cfg.exchange.as_ref().map(Parser::of),
                answered: 0,
                began: now,
                stream_tx: 0,
                stream_rx: 0,
            })
            .collect();
        TcpLoad {
            target: cfg.target,
            app: cfg.app,
            mode: cfg.mode,
            size: cfg.size,
            timeout: cfg.timeout,
            tcp,
            clients,
            idle: (0..cfg.connections).map(|c| Reverse((now, c))).collect(),
            deadlines: VecDeque::new(),
            connecting: 0,
            rx_size: if request.is_some() {
                http::RX_BUFFER
            } else {
                cfg.size
            },
            close_next: 0,
            open_at_close: 0,
            open_seen: 0,
            closes_issued: 0,
            more_now: false,
            resolved: false,
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
            done: false,
            scratch: vec![0; if request.is_some() { 0 } else { 64 << 10 }],
            request,
            depth,
        }
    }

    /// The TCP settings the clients' connections want (buffers sized for the mode); the
    /// stack they run on is built with them.
    pub fn tcp_config(&self) -> TcpConfig {
        self.tcp
    }

    pub fn with_reporter(
        mut self,
        to: crossbeam::channel::Sender<Measured>,
        every: Duration,
    ) -> Self {
        self.tally.set_reporter(to, every);
        self
    }

    /// The measured span: from the end of warm-up to when sending stopped, or, for a run
    /// stopped early, to `now`.
    pub fn measured_span(&self, now: Instant) -> Duration {
        let end = match (self.ended, self.phase) {
            (Some(t), _) => t,
            (None, Phase::Measuring) => now,
            _ => self.measure_from,
        };
        end.saturating_since(self.measure_from)
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Clients in a handshake now (at most [`MAX_HANDSHAKES`]).
    pub fn handshakes(&self) -> usize {
        self.connecting
    }

    /// Requests sent (or queued for a connection) and not yet answered or failed.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    pub fn total(&self) -> &Measured {
        &self.tally.total
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

    /// Before measuring, the clients open their connections (except in crr, where
    /// opening them is what is measured).
    fn opening(&self) -> bool {
        self.phase == Phase::Resolving && self.resolved && self.mode != LoadMode::Crr
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

    /// Counts a reply that is not an error (a server close, a retried request).
    fn note(&mut self, kind: fn(&mut super::engine::ReplyCounts) -> &mut u64) {
        if self.measuring() {
            self.tally.reply(kind);
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

    fn go_idle(&mut self, c: u32, at: Instant) {
        let cl = &mut self.clients[c as usize];
        if cl.state == ClientState::Connecting {
            self.connecting -= 1;
        }
        cl.state = ClientState::Idle;
        cl.conn = None;
        self.idle.push(Reverse((at, c)));
    }

    /// Opens a connection for client `c`. Returns false when no connection can be
    /// opened now (no port, no room, no route): the other idle clients wait too.
    fn connect(&mut self, now: Instant, c: u32, net: &mut Net<'_, Owner>) -> bool {
        let id = match net.connect(self.target, Some(c)) {
            Ok(id) => id,
            // Every port is busy or in TIME_WAIT: the port space is the limit, not the
            // server. Wait for one (counted by the stack, not an error).
            Err(ConnectError::NoPort | ConnectError::TableFull) => {
                self.idle.push(Reverse((now + PORT_WAIT, c)));
                return false;
            }
            // The CLI gives a target of a family we own an address of; should it not,
            // retrying at the pause rate is harmless.
            Err(ConnectError::NoRoute | ConnectError::NoAddress) => {
                self.idle.push(Reverse((now + RETRY_PAUSE, c)));
                return false;
            }
        };
        let cl = &mut self.clients[c as usize];
        cl.state = ClientState::Connecting;
        cl.conn = Some(id);
        cl.attempt += 1;
        cl.began = now;
        cl.rx_len = 0;
        cl.answered = 0;
        if let Some(p) = &mut cl.parser {
            p.reset();
        }
        cl.stream_tx = 0;
        cl.stream_rx = 0;
        let attempt = cl.attempt;
        self.connecting += 1;
        if self.mode == LoadMode::Crr {
            cl.next_seq = 1;
            // A crr transaction is in flight from its SYN on.
            self.in_flight += 1;
        }
        self.deadlines.push_back(Deadline::Attempt {
            at: now + self.timeout,
            c,
            attempt,
        });
        true
    }

    /// Whether another client may begin a handshake now.
    fn may_connect(&self) -> bool {
        self.connecting < MAX_HANDSHAKES
    }

    /// Queues request `seq` on client `c`'s connection, if it fits whole.
    fn push_request(
        &mut self,
        now: Instant,
        intended: Instant,
        c: u32,
        sock: Option<&mut TcpSocket<'_>>,
    ) -> bool {
        let cl = &self.clients[c as usize];
        if cl.waiting.len() >= self.window {
            return false;
        }
        let seq = cl.next_seq;
        let on_wire = match (cl.state, sock) {
            (ClientState::Open, Some(sock)) if sock.send_capacity() >= self.size => {
                match &self.request {
                    Some(r) => {
                        sock.send(r);
                    }
                    None => {
                        fill_request(self.app, seq, &mut self.scratch[..self.size]);
                        sock.send(&self.scratch[..self.size]);
                    }
                }
                true
            }
            // Open loop over http/raw: a client between connections keeps the request
            // for its next one (sent when it connects; see `resend`).
            (ClientState::Idle | ClientState::Connecting, _)
                if self.request.is_some() && self.mode == LoadMode::PingPong =>
            {
                false
            }
            _ => return false,
        };
        let cl = &mut self.clients[c as usize];
        cl.next_seq += 1;
        cl.waiting.push_back(Outstanding {
            seq,
            intended,
            sent: now,
            on_wire,
        });
        if self.mode != LoadMode::Crr {
            self.in_flight += 1;
            self.deadlines.push_back(Deadline::Request {
                at: now + self.timeout,
                c,
                seq,
            });
        }
        true
    }

    /// The client's connection ended (reset, timed out, or closed by the peer) while it
    /// still owned it: its outstanding requests fail, and it reconnects after a pause.
    fn client_lost(&mut self, now: Instant, c: u32, reason: CloseReason) {
        let connecting = self.clients[c as usize].state == ClientState::Connecting;
        let kind: fn(&mut ErrorCounts) -> &mut u64 = match reason {
            CloseReason::Timeout => |e| &mut e.timeout,
            _ if connecting => |e| &mut e.refused,
            _ => |e| &mut e.reset,
        };
        self.client_failed(now, c, kind);
    }

    /// The client's connection is gone: its outstanding requests (crr: its transaction)
    /// fail as `kind`, and it connects again after a pause.
    fn client_failed(&mut self, now: Instant, c: u32, kind: fn(&mut ErrorCounts) -> &mut u64) {
        let cl = &mut self.clients[c as usize];
        let state = cl.state;
        let began = cl.began;
        let lost = cl.waiting.len() as u64;
        self.go_idle(c, now + RETRY_PAUSE);
        if self.mode == LoadMode::Crr {
            if state != ClientState::Closing {
                self.in_flight -= 1;
                self.error(began, kind);
            }
            self.clients[c as usize].waiting.clear();
            return;
        }
        self.in_flight -= lost;
        if lost == 0 && state == ClientState::Connecting {
            self.error(began, kind);
        }
        while let Some(o) = self.clients[c as usize].waiting.pop_front() {
            self.error(o.intended, kind);
        }
    }

    /// http / raw: reads what arrived on client `c`'s connection, parses the responses
    /// in it, and ends the connection when a response or the server says so.
    fn receive_framed(
        &mut self,
        now: Instant,
        c: u32,
        owner: &mut Owner,
        sock: &mut TcpSocket<'_>,
    ) {
        let mut ending = None;
        'read: loop {
            let cl = &mut self.clients[c as usize];
            let n = sock.recv(&mut cl.rx[cl.rx_len..]);
            cl.rx_len += n;
            let mut off = 0;
            while ending.is_none() {
                let cl = &mut self.clients[c as usize];
                let Some(parser) = &mut cl.parser else {
                    return;
                };
                let (used, step) = parser.feed(&cl.rx[off..cl.rx_len]);
                off += used;
                match step {
                    Step::More => break,
                    Step::Done(r) => ending = self.response(now, c, r),
                    Step::Malformed(_) => ending = Some(Ending::Malformed),
                }
            }
            // The parsers take every byte they do not need whole, and need at most
            // `http::MAX_HEAD` whole: the buffer always has room for more.
            let cl = &mut self.clients[c as usize];
            cl.rx.copy_within(off..cl.rx_len, 0);
            cl.rx_len -= off;
            if ending.is_some() || n == 0 {
                break 'read;
            }
        }
        let cl = &mut self.clients[c as usize];
        if ending.is_none() && sock.peer_done() && cl.state == ClientState::Open {
            ending = match cl.parser.as_mut().and_then(Parser::eof) {
                Some(Step::Done(r)) => self.response(now, c, Response { close: true, ..r }),
                Some(Step::Malformed(_)) => Some(Ending::Malformed),
                _ => Some(Ending::ServerClose),
            };
        }
        match ending {
            None => {}
            Some(Ending::Done) => {
                sock.close();
                *owner = None;
                self.go_idle(c, now);
            }
            Some(Ending::ServerClose) => self.server_closed(now, c, owner, sock),
            Some(Ending::Malformed) => {
                let cl = &self.clients[c as usize];
                if cl.waiting.is_empty() && self.mode != LoadMode::Crr {
                    self.error(now, |e| &mut e.malformed);
                }
                sock.abort();
                *owner = None;
                self.client_failed(now, c, |e| &mut e.malformed);
            }
        }
    }

    /// A whole response on client `c`'s connection: it answers the oldest request.
    /// Returns how the connection ends, if this response ends it.
    fn response(&mut self, now: Instant, c: u32, r: Response) -> Option<Ending> {
        let cl = &mut self.clients[c as usize];
        let Some(o) = cl.waiting.pop_front() else {
            // A response nobody asked for: the stream cannot be trusted.
            return Some(Ending::Malformed);
        };
        cl.answered += 1;
        let began = cl.began;
        self.in_flight -= 1;
        let o = if self.mode == LoadMode::Crr {
            Outstanding {
                intended: began,
                sent: began,
                ..o
            }
        } else {
            o
        };
        if self.measuring() && o.intended >= self.measure_from {
            self.tally.success(now, o.intended, o.sent, r.body);
            if r.status != 0 {
                self.tally.status(r.status);
            }
        }
        if self.mode == LoadMode::Crr {
            Some(Ending::Done)
        } else if r.close {
            Some(Ending::ServerClose)
        } else {
            None
        }
    }

    /// The server closed client `c`'s connection, or said it will. If it answered
    /// something on it, the connection was good: the client connects again at once and
    /// sends again what is still unanswered. If it answered nothing, what is outstanding
    /// fails as `reset` (a server that closes every connection unanswered must not be
    /// retried forever).
    fn server_closed(&mut self, now: Instant, c: u32, owner: &mut Owner, sock: &mut TcpSocket<'_>) {
        sock.close();
        *owner = None;
        let cl = &self.clients[c as usize];
        if cl.answered == 0 && (!cl.waiting.is_empty() || self.mode == LoadMode::Crr) {
            self.client_failed(now, c, |e| &mut e.reset);
            return;
        }
        self.note(|r| &mut r.server_closes);
        let cl = &mut self.clients[c as usize];
        cl.state = ClientState::Idle;
        cl.conn = None;
        self.idle.push(Reverse((now, c)));
    }

    /// On a new connection, sends the requests client `c` kept from its last one (or
    /// queued while it had none), each keeping its intended send time.
    fn resend(&mut self, now: Instant, c: u32, sock: &mut TcpSocket<'_>) {
        let Some(r) = &self.request else {
            return;
        };
        let cl = &mut self.clients[c as usize];
        let (mut k, mut retried) = (0, 0);
        while k < cl.waiting.len() && sock.send_capacity() >= r.len() {
            sock.send(r);
            let o = &mut cl.waiting[k];
            o.sent = now;
            self.deadlines.push_back(Deadline::Request {
                at: now + self.timeout,
                c,
                seq: o.seq,
            });
            if core::mem::replace(&mut o.on_wire, true) {
                retried += 1;
            }
            k += 1;
        }
        for _ in 0..retried {
            self.note(|r| &mut r.retried);
        }
        // What does not fit in the send buffer fails as overload.
        while self.clients[c as usize].waiting.len() > k {
            if let Some(o) = self.clients[c as usize].waiting.pop_back() {
                self.in_flight -= 1;
                self.error(o.intended, |e| &mut e.overload);
            }
        }
    }

    /// Reads what arrived on client `c`'s connection and completes its requests.
    fn receive(&mut self, now: Instant, c: u32, owner: &mut Owner, sock: &mut TcpSocket<'_>) {
        let cl = &mut self.clients[c as usize];
        if self.mode != LoadMode::Stream && cl.rx.len() < self.rx_size {
            cl.rx.resize(self.rx_size, 0);
        }
        if self.request.is_some() {
            return self.receive_framed(now, c, owner, sock);
        }
        loop {
            let cl = &mut self.clients[c as usize];
            if self.mode == LoadMode::Stream {
                let n = sock.recv(&mut self.scratch);
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
            let n = sock.recv(&mut cl.rx[cl.rx_len..]);
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
                sock.close();
                *owner = None;
                self.go_idle(c, now);
                return;
            }
        }
    }

    /// stream: keeps the send buffer full.
    fn fill_stream(&mut self, c: u32, sock: &mut TcpSocket<'_>) {
        let cl = &mut self.clients[c as usize];
        loop {
            let n = sock.send_capacity().min(self.scratch.len());
            if n == 0 {
                return;
            }
            for (k, b) in self.scratch[..n].iter_mut().enumerate() {
                *b = stream_byte(cl.stream_tx + k as u64);
            }
            cl.stream_tx += sock.send(&self.scratch[..n]) as u64;
        }
    }

    /// What an open connection sends of its own accord: crr's one request, stream's
    /// bytes, closed-loop ping-pong's next request.
    fn pump(&mut self, now: Instant, owner: &Owner, sock: &mut TcpSocket<'_>) {
        let Some(c) = *owner else {
            return;
        };
        let cl = &self.clients[c as usize];
        if cl.state != ClientState::Open {
            return;
        }
        match self.mode {
            // crr reserved its request when it connected, which it does only while
            // sending: the request goes out even if the run has ended since.
            LoadMode::Crr => {
                if cl.waiting.is_empty() && cl.next_seq == 1 {
                    self.push_request(now, now, c, Some(sock));
                }
            }
            _ if !self.sending() => {}
            LoadMode::Stream => self.fill_stream(c, sock),
            LoadMode::PingPong if self.schedule.is_some() => {}
            LoadMode::PingPong => {
                while self.clients[c as usize].waiting.len() < self.depth
                    && self.budget() > 0
                    && self.push_request(now, now, c, Some(&mut *sock))
                {}
            }
        }
    }

    fn advance_phase(&mut self, now: Instant, net: &mut Net<'_, Owner>) {
        match self.phase {
            Phase::Resolving if !self.resolved => match net.resolve_ip(self.target.ip()) {
                Resolution::Known(_) => self.resolved = true,
                Resolution::Failed => self.phase = Phase::Unreachable,
                Resolution::Pending => {}
            },
            // The connections are opened before the clock starts (except in crr, where
            // opening them is what is measured), so that an open-loop schedule does not
            // begin with requests for connections still in their handshake.
            Phase::Resolving => {
                let settled = self.mode == LoadMode::Crr || self.connecting == 0;
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
                    // Sending starts: in closed loop and stream, every open connection
                    // is serviced once, so that its first requests (or stream bytes)
                    // go out now. In open loop the schedule sends; nothing to do.
                    let open_loop = self.mode == LoadMode::PingPong && self.schedule.is_some();
                    if !open_loop {
                        for cl in &self.clients {
                            if let Some(id) = cl.conn {
                                net.socket(id);
                            }
                        }
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
                if self.in_flight == 0 || self.mode == LoadMode::Stream {
                    // Close every connection with the FIN exchange (once, at the end),
                    // a window of them at a time (`close_some`).
                    self.phase = Phase::Done;
                    self.open_at_close = net.open_connections();
                    self.open_seen = self.open_at_close;
                    self.grace_until = Some(now + CLOSE_GRACE);
                    self.close_some(now, net);
                }
            }
            Phase::Done | Phase::Unreachable => {}
        }
    }

    /// The end of the run: closes the next clients' connections while fewer than
    /// `MAX_CLOSING` are closing, and moves the grace on while closing makes progress.
    ///
    /// Those closing are estimated, with no scan, as the connections open now plus the
    /// closes asked for, less those open when closing began; a connection that ended
    /// on its own meanwhile makes the estimate low by one, which lets one more close
    /// start. Each client is looked at once over the whole close.
    fn close_some(&mut self, now: Instant, net: &mut Net<'_, Owner>) {
        let open = net.open_connections();
        let mut progress = open < self.open_seen;
        self.open_seen = open;
        let mut started = 0;
        while self.close_next < self.clients.len()
            && (open + self.closes_issued).saturating_sub(self.open_at_close) < MAX_CLOSING
        {
            if started == STARTS_PER_POLL {
                self.more_now = true;
                break;
            }
            let cl = &mut self.clients[self.close_next];
            self.close_next += 1;
            if !matches!(cl.state, ClientState::Open | ClientState::Connecting) {
                continue;
            }
            if cl.state == ClientState::Connecting {
                self.connecting -= 1;
            }
            cl.state = ClientState::Closing;
            if let Some((mut sock, _)) = cl.conn.and_then(|id| net.socket(id)) {
                sock.close();
                self.closes_issued += 1;
                started += 1;
                progress = true;
            }
        }
        if progress {
            self.grace_until = Some(now + CLOSE_GRACE);
        }
    }

    /// Whether every client has been closed and every connection has finished closing
    /// (TIME_WAIT needs nobody), crr's detached ones included.
    fn all_closed(&self, net: &Net<'_, Owner>) -> bool {
        self.close_next >= self.clients.len() && net.open_connections() == 0
    }

    /// Expires connection attempts (crr: transactions) and requests older than the
    /// timeout: counted, and the connection aborted, since its byte stream can no longer
    /// be matched.
    fn expire(&mut self, now: Instant, net: &mut Net<'_, Owner>) {
        while let Some(d) = self.deadlines.front().copied() {
            if d.at() > now {
                break;
            }
            self.deadlines.pop_front();
            let live = self.is_live(&d);
            if !live {
                continue;
            }
            let c = match d {
                Deadline::Attempt { c, .. } | Deadline::Request { c, .. } => c,
            };
            if let Some((mut sock, owner)) =
                self.clients[c as usize].conn.and_then(|id| net.socket(id))
            {
                // The abort's Closed(Rst) comes when the connection is next serviced;
                // with no owner it is not counted again.
                sock.abort();
                *owner = None;
            }
            self.client_lost(now, c, CloseReason::Timeout);
        }
    }

    /// Whether a deadline still guards something: its attempt still connecting (crr: its
    /// transaction still open), or its request still the oldest unanswered one.
    fn is_live(&self, d: &Deadline) -> bool {
        match *d {
            Deadline::Attempt { c, attempt, .. } => {
                let cl = &self.clients[c as usize];
                cl.attempt == attempt
                    && match cl.state {
                        ClientState::Connecting => true,
                        ClientState::Open => self.mode == LoadMode::Crr,
                        _ => false,
                    }
            }
            Deadline::Request { c, seq, .. } => {
                let cl = &self.clients[c as usize];
                cl.state == ClientState::Open && cl.waiting.front().is_some_and(|o| o.seq == seq)
            }
        }
    }

    /// Drops the deadlines at the front that guard nothing any more, so that the queue
    /// holds about as many entries as there are requests in flight.
    fn prune_deadlines(&mut self) {
        while let Some(d) = self.deadlines.front() {
            if self.is_live(d) {
                break;
            }
            self.deadlines.pop_front();
        }
    }

    fn send_due(&mut self, now: Instant, net: &mut Net<'_, Owner>) {
        if self.phase == Phase::Draining && self.mode != LoadMode::Crr {
            // Clients that lost their connection to a server close while they still had
            // requests outstanding connect again to send them; the others are done.
            let mut started = 0;
            while let Some(&Reverse((at, c))) = self.idle.peek() {
                if at > now || !self.may_connect() {
                    break;
                }
                if started == STARTS_PER_POLL {
                    self.more_now = true;
                    break;
                }
                self.idle.pop();
                if self.clients[c as usize].waiting.is_empty() {
                    continue;
                }
                if !self.connect(now, c, net) {
                    break;
                }
                started += 1;
            }
            return;
        }
        if !self.sending() && !self.opening() {
            return;
        }
        // Idle clients whose time has come open a connection (crr: that is the next
        // transaction).
        // Only crr's connections are requests; the others connect whatever the budget
        // (a client may hold requests for its next connection). At most
        // `MAX_HANDSHAKES` are in a handshake at once; the rest wait their turn, woken
        // by the handshakes that end.
        let mut budget = self.budget();
        let mut started = 0;
        while let Some(&Reverse((at, c))) = self.idle.peek() {
            if at > now || (self.mode == LoadMode::Crr && budget == 0) || !self.may_connect() {
                break;
            }
            if started == STARTS_PER_POLL {
                self.more_now = true;
                break;
            }
            self.idle.pop();
            if self.mode == LoadMode::Crr {
                budget -= 1;
            }
            if !self.connect(now, c, net) {
                break;
            }
            started += 1;
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
                let c = (k % n) as u32;
                let sent = match self.clients[c as usize].conn.and_then(|id| net.socket(id)) {
                    Some((mut sock, _)) => self.push_request(now, intended, c, Some(&mut sock)),
                    None => self.push_request(now, intended, c, None),
                };
                if !sent {
                    self.error(intended, |e| &mut e.overload);
                }
                budget -= 1;
            }
            self.schedule = Some(s);
        }
    }
}

impl App for TcpLoad {
    type Conn = Owner;

    fn connected(&mut self, now: Instant, owner: &mut Owner, sock: &mut TcpSocket<'_>) {
        if let Some(c) = *owner {
            let cl = &mut self.clients[c as usize];
            if cl.state == ClientState::Connecting {
                cl.state = ClientState::Open;
                self.connecting -= 1;
                if !cl.waiting.is_empty() && self.mode != LoadMode::Crr {
                    self.resend(now, c, sock);
                }
            }
        }
        self.pump(now, owner, sock);
    }

    fn readable(&mut self, now: Instant, owner: &mut Owner, sock: &mut TcpSocket<'_>) {
        if let Some(c) = *owner {
            let state = self.clients[c as usize].state;
            if matches!(state, ClientState::Open | ClientState::Closing) {
                self.receive(now, c, owner, sock);
                self.prune_deadlines();
            }
        }
    }

    fn writable(&mut self, now: Instant, owner: &mut Owner, sock: &mut TcpSocket<'_>) {
        self.pump(now, owner, sock);
    }

    /// A connection that closed cleanly (TIME_WAIT over, or a passive close) needs
    /// nothing; one of a client that still owned it is a lost connection.
    fn closed(&mut self, now: Instant, id: ConnId, owner: Owner, reason: CloseReason) {
        if let Some(c) = owner {
            if self.clients[c as usize].conn == Some(id) {
                self.client_lost(now, c, reason);
            }
        }
    }

    fn poll(&mut self, now: Instant, net: &mut Net<'_, Owner>) {
        self.more_now = false;
        self.advance_phase(now, net);
        self.expire(now, net);
        self.send_due(now, net);
        self.advance_phase(now, net);
        self.tally.report(now, self.phase);
        // Every connection closed or in TIME_WAIT (which needs nobody), crr's detached
        // ones included, or the grace is over. Leaving earlier would leave the server's
        // side of a connection in LAST_ACK, where the next run's SYN from the same port
        // would meet it.
        if self.phase == Phase::Done {
            self.close_some(now, net);
            if self.all_closed(net) || self.grace_until.is_some_and(|t| now >= t) {
                self.done = true;
            }
        }
    }

    fn finished(&self) -> bool {
        self.done || self.phase == Phase::Unreachable
    }

    fn poll_at(&self) -> Option<Instant> {
        let reconnect = self.phase == Phase::Draining && self.mode != LoadMode::Crr;
        // With the handshake window full, the handshakes that end wake the worker.
        let idle = ((self.sending() || self.opening() || reconnect) && self.may_connect())
            .then(|| self.idle.peek().map(|Reverse((t, _))| *t))
            .flatten();
        let sched = match self.phase {
            Phase::Warmup | Phase::Measuring => self.schedule.as_ref().map(|s| s.next_at()),
            _ => None,
        };
        // Resolving the target asks the neighbour cache at every poll: its answer may come
        // from a frame, from a static entry (--shared) or from giving up.
        let resolving = (self.phase == Phase::Resolving && !self.resolved).then_some(Instant::ZERO);
        let more = self.more_now.then_some(Instant::ZERO);
        // Done waits for the connections to close; the endpoint wakes the worker for
        // each of their segments and timers, and the grace bounds the wait.
        [
            idle,
            sched,
            resolving,
            more,
            self.deadlines.front().map(Deadline::at),
            self.stop_sending_at,
            self.tally.next_report(),
            self.grace_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
