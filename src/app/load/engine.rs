//! The load generator's engine for UDP: flows from ephemeral ports to one target, in
//! closed loop (one request in flight per flow) or open loop (requests leave on a fixed
//! schedule, and latency counts from the *intended* send time, correcting coordinated
//! omission as wrk2 does; the uncorrected latency from the actual send time is kept too).
//!
//! It is an [`App`] on the stack: the stack checks every frame, answers ARP and pings,
//! and hands it the datagrams to our ports and the port-unreachable messages that quote
//! them; it sends through [`Net::send_udp`]. In closed loop, a reply whose flow may send
//! its next request at once, of the same length, gets that request written over it
//! ([`App::datagram_in_place`]), and the stack sends the received frame back (with
//! AF_XDP, the same UMEM frame): no transmit buffer, no copy. Sans-IO: the worker hands
//! it `now`; it never reads a clock.
//!
//! Invariants: a reply is matched to a request this engine still waits for (flow, then
//! sequence number), so latency never trusts bytes that came back from the peer; a request
//! unanswered after `timeout` is counted once as a timeout and forgotten; nothing is
//! allocated per request (flow queues are allocated up front).

use super::schedule::Schedule;
use crate::config::{AppProto, Exchange, LoadConfig, RawFraming};
use crate::metrics::hist::{latency_histogram, record};
use crate::proto::arp::Resolution;
use crate::stack::tcp::ports::PortSet;
use crate::stack::{App, DatagramAction, Net};
use crate::time::Instant;
use crate::wire::sockperf::{SockperfHeader, FLAG_CLIENT, FLAG_PONG_REQUEST};
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;
use hdrhistogram::Histogram;
use std::collections::VecDeque;

pub use crate::stack::tcp::ports::EPHEMERAL_FIRST;
/// Bounds on the requests one flow may have outstanding in open loop; past its bound a
/// due request is counted as `overload` instead of sent.
const MIN_OUTSTANDING: usize = 16;
const MAX_OUTSTANDING: usize = 65536;

/// Errors counted by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    /// No reply within the timeout.
    pub timeout: u64,
    /// The target said no: ICMP port unreachable (UDP), or a RST to our SYN (TCP).
    pub refused: u64,
    /// TCP: an established connection reset, or closed by the server before it answered
    /// anything, with requests outstanding.
    pub reset: u64,
    /// `--app http` / `raw`: bytes that are not a response (a bad status line, bad
    /// framing, a response nobody asked for); the connection is dropped.
    pub malformed: u64,
    /// A reply whose bytes differ from the request.
    pub mismatch: u64,
    /// A request not sent because the flow had too many outstanding (open loop overload).
    pub overload: u64,
}

impl ErrorCounts {
    pub fn total(&self) -> u64 {
        self.timeout + self.refused + self.reset + self.mismatch + self.malformed + self.overload
    }
}

impl core::fmt::Display for ErrorCounts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "timeout {}, refused {}, reset {}, mismatch {}, malformed {}, overload {}",
            self.timeout, self.refused, self.reset, self.mismatch, self.malformed, self.overload
        )
    }
}

/// Replies that were not errors but are worth knowing about, as sockperf reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplyCounts {
    /// A reply to a request no longer waited for: it came after its timeout, or twice.
    pub late_or_duplicate: u64,
    /// A reply to a request while an older one of the same flow was still unanswered.
    pub out_of_order: u64,
    /// TCP request/response apps: connections the server closed (`Connection: close`,
    /// or its FIN) after answering, which the client opened again.
    pub server_closes: u64,
    /// Requests left unanswered by such a close and sent again on the new connection.
    pub retried: u64,
}

/// HTTP status codes 100-599.
pub const STATUS_CODES: core::ops::RangeInclusive<u16> = 100..=599;

/// What one interval (or the whole run) measured.
#[derive(Clone, Debug)]
pub struct Measured {
    /// Latency from the intended send time (equal to `uncorrected` in closed loop).
    pub corrected: Histogram<u64>,
    /// Latency from the actual send time.
    pub uncorrected: Histogram<u64>,
    pub requests: u64,
    pub errors: ErrorCounts,
    pub replies: ReplyCounts,
    /// Payload bytes of the successful replies (HTTP: body bytes).
    pub bytes: u64,
    /// HTTP responses by status code: `status[code - 100]`.
    pub status: Vec<u64>,
}

impl Measured {
    pub(super) fn new() -> Self {
        Measured {
            corrected: latency_histogram(),
            uncorrected: latency_histogram(),
            requests: 0,
            errors: ErrorCounts::default(),
            replies: ReplyCounts::default(),
            bytes: 0,
            status: vec![0; STATUS_CODES.len()],
        }
    }

    /// HTTP responses with status code `code`.
    pub fn with_status(&self, code: u16) -> u64 {
        code.checked_sub(*STATUS_CODES.start())
            .and_then(|i| self.status.get(usize::from(i)))
            .copied()
            .unwrap_or(0)
    }

    pub fn merge(&mut self, other: &Measured) {
        // Cannot fail: all histograms share the same bounds.
        let _ = self.corrected.add(&other.corrected);
        let _ = self.uncorrected.add(&other.uncorrected);
        self.requests += other.requests;
        self.errors.timeout += other.errors.timeout;
        self.errors.refused += other.errors.refused;
        self.errors.reset += other.errors.reset;
        self.errors.malformed += other.errors.malformed;
        self.errors.mismatch += other.errors.mismatch;
        self.errors.overload += other.errors.overload;
        self.replies.late_or_duplicate += other.replies.late_or_duplicate;
        self.replies.out_of_order += other.replies.out_of_order;
        self.replies.server_closes += other.replies.server_closes;
        self.replies.retried += other.replies.retried;
        self.bytes += other.bytes;
        for (a, b) in self.status.iter_mut().zip(&other.status) {
            *a += b;
        }
    }

    pub(super) fn reset(&mut self) {
        self.corrected.reset();
        self.uncorrected.reset();
        self.requests = 0;
        self.errors = ErrorCounts::default();
        self.replies = ReplyCounts::default();
        self.bytes = 0;
        self.status.fill(0);
    }
}

/// What a run has measured, as a whole and since the last interval, and where the
/// intervals go (for the live lines and the HdrHistogram log). Both engines keep one.
pub(super) struct Tally {
    pub interval: Measured,
    pub total: Measured,
    /// The channel, the interval, and when the next report is due.
    reporter: Option<(crossbeam::channel::Sender<Measured>, Duration, Instant)>,
}

impl Tally {
    pub fn new() -> Self {
        Tally {
            interval: Measured::new(),
            total: Measured::new(),
            reporter: None,
        }
    }

    pub fn set_reporter(&mut self, to: crossbeam::channel::Sender<Measured>, every: Duration) {
        self.reporter = Some((to, every, Instant::NEVER));
    }

    /// Hands over what was measured since the last call, and starts a new interval.
    pub fn take_interval(&mut self) -> Measured {
        let out = self.interval.clone();
        self.interval.reset();
        out
    }

    /// Sends what the last, partial interval measured (at the end of a run).
    pub fn flush(&mut self) {
        let m = self.take_interval();
        if let Some((to, _, _)) = &self.reporter {
            let _ = to.send(m);
        }
    }

    /// Sends the interval when it is due; the first interval starts with measuring.
    pub fn report(&mut self, now: Instant, phase: Phase) {
        let due = match &mut self.reporter {
            Some((_, every, next)) if phase == Phase::Measuring && *next == Instant::NEVER => {
                *next = now + *every;
                false
            }
            Some((_, _, next)) => now >= *next,
            None => false,
        };
        if due && matches!(phase, Phase::Measuring | Phase::Draining | Phase::Done) {
            let m = self.take_interval();
            if let Some((to, every, next)) = &mut self.reporter {
                *next += *every;
                let _ = to.send(m);
            }
        }
    }

    /// When the next report is due, if any.
    pub fn next_report(&self) -> Option<Instant> {
        self.reporter.as_ref().map(|r| r.2)
    }

    /// Counts an error of one kind in the interval and the total.
    pub fn error(&mut self, kind: fn(&mut ErrorCounts) -> &mut u64) {
        *kind(&mut self.interval.errors) += 1;
        *kind(&mut self.total.errors) += 1;
    }

    /// Counts a reply of one kind in the interval and the total.
    pub fn reply(&mut self, kind: fn(&mut ReplyCounts) -> &mut u64) {
        *kind(&mut self.interval.replies) += 1;
        *kind(&mut self.total.replies) += 1;
    }

    /// Counts an HTTP response's status code (one in [`STATUS_CODES`]).
    pub fn status(&mut self, code: u16) {
        let i = usize::from(code.saturating_sub(*STATUS_CODES.start()));
        for m in [&mut self.interval, &mut self.total] {
            if let Some(n) = m.status.get_mut(i) {
                *n += 1;
            }
        }
    }

    /// Counts a success: latency from the intended and from the actual send time.
    pub fn success(&mut self, now: Instant, intended: Instant, sent: Instant, bytes: u64) {
        for m in [&mut self.interval, &mut self.total] {
            m.requests += 1;
            m.bytes += bytes;
            record(
                &mut m.corrected,
                now.saturating_since(intended).as_nanos() as u64,
            );
            record(
                &mut m.uncorrected,
                now.saturating_since(sent).as_nanos() as u64,
            );
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Outstanding {
    seq: u64,
    intended: Instant,
    sent: Instant,
}

struct Flow {
    /// Our address and port it sends from.
    local: SocketAddr,
    next_seq: u64,
    waiting: VecDeque<Outstanding>,
}

/// Flow `i`'s source: port `i / n` of `ports` on the `i % n`th of the n addresses, so
/// flows spread over the addresses first.
fn flow_local(locals: &[IpAddr], ports: PortSet, i: usize) -> SocketAddr {
    let n = locals.len();
    SocketAddr::new(locals[i % n], ports.port(i / n))
}

/// Where the run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Resolving the target's MAC.
    Resolving,
    /// Sending, not yet measuring.
    Warmup,
    Measuring,
    /// No new requests; waiting for the last replies or their timeouts.
    Draining,
    Done,
    /// The target's MAC could not be resolved.
    Unreachable,
}

pub struct UdpLoad {
    target: SocketAddr,
    app: AppProto,
    size: usize,
    /// `--app raw`: the request's bytes and how a reply must end. A reply answers the
    /// flow's oldest outstanding request (raw bytes carry no sequence number).
    raw: Option<(std::sync::Arc<[u8]>, RawFraming)>,
    timeout: Duration,
    /// Flow `i` sends from `ports.port(i / n)` of `locals[i % n]` (n addresses).
    ports: PortSet,
    locals: Vec<IpAddr>,
    flows: Vec<Flow>,
    schedule: Option<Schedule>,
    /// Closed loop: flows whose next request is due now.
    ready: VecDeque<u32>,
    /// Requests one flow may have outstanding.
    window: usize,
    /// Every request sent, as (flow, seq, sent), in send order: with one timeout for all,
    /// that is also the order they time out in. Entries whose request was answered are
    /// skipped when they reach the front.
    sent_order: VecDeque<(u32, u64, Instant)>,
    /// Requests sent and not yet answered, refused or timed out.
    in_flight: u64,
    phase: Phase,
    started: Instant,
    measure_from: Instant,
    stop_sending_at: Option<Instant>,
    warmup: Duration,
    duration: Option<Duration>,
    request_limit: Option<u64>,
    tally: Tally,
    sent_total: u64,
    /// When sending stopped (the end of the measured span).
    ended: Option<Instant>,
    /// Closed loop: build the next request over the reply when it may leave at once.
    in_place: bool,
}

/// What a reply did to its flow.
enum Answered {
    /// Not a reply to one of our flows.
    NotOurs,
    /// Taken; the flow sends nothing now (open loop, draining, or nothing was answered).
    Taken,
    /// Closed loop: the flow may send its next request now.
    Ready(u32),
}

impl UdpLoad {
    pub fn new(cfg: &LoadConfig, now: Instant) -> Self {
        // Open loop: room for everything that can be in flight within the timeout.
        let window = match cfg.rate {
            None => 1,
            Some(rate) => {
                let in_flight = rate * cfg.timeout.as_secs_f64() / f64::from(cfg.connections);
                (in_flight.ceil() as usize + MIN_OUTSTANDING).min(MAX_OUTSTANDING)
            }
        };
        // Our addresses of the target's family.
        let locals: Vec<IpAddr> = cfg
            .addrs
            .all()
            .into_iter()
            .filter(|a| a.is_ipv4() == cfg.target.is_ipv4())
            .collect();
        assert!(!locals.is_empty(), "no address of the target's family");
        let flows = (0..cfg.connections as usize)
            .map(|i| Flow {
                local: flow_local(&locals, PortSet::ALL, i),
                next_seq: 1,
                waiting: VecDeque::with_capacity(window),
            })
            .collect();
        UdpLoad {
            target: cfg.target,
            app: cfg.app,
            raw: match &cfg.exchange {
                Some(Exchange::Raw { request, framing }) => {
                    Some((request.clone(), framing.clone()))
                }
                _ => None,
            },
            size: cfg.size,
            timeout: cfg.timeout,
            ports: PortSet::ALL,
            locals,
            flows,
            schedule: cfg.rate.map(|r| Schedule::new(r, now)),
            ready: (0..cfg.connections).collect(),
            window,
            sent_order: VecDeque::with_capacity((cfg.connections as usize * window).min(1 << 20)),
            in_flight: 0,
            phase: Phase::Resolving,
            started: now,
            measure_from: now,
            stop_sending_at: None,
            warmup: cfg.warmup,
            duration: cfg.duration,
            request_limit: cfg.requests,
            tally: Tally::new(),
            sent_total: 0,
            ended: None,
            in_place: true,
        }
    }

    /// Whether closed loop builds a request over the reply it follows where it can
    /// (the default), or always in a fresh transmit buffer.
    pub fn with_in_place(mut self, on: bool) -> Self {
        self.in_place = on;
        self
    }

    /// Sends what was measured every `every` to `to` (for live lines and the log).
    pub fn with_reporter(
        mut self,
        to: crossbeam::channel::Sender<Measured>,
        every: Duration,
    ) -> Self {
        self.tally.set_reporter(to, every);
        self
    }

    /// Sends from these ports only (one worker's share of several): flow `i` uses
    /// `ports.port(i / n)` of the `i % n`th of our n addresses.
    pub fn with_ports(mut self, ports: PortSet) -> Self {
        assert!(
            self.flows.len() <= ports.len() * self.locals.len(),
            "more flows than ports"
        );
        for (i, f) in self.flows.iter_mut().enumerate() {
            f.local = flow_local(&self.locals, ports, i);
        }
        self.ports = ports;
        self
    }

    /// The flow that sends from `local`, if any (its index may still be past the last
    /// flow).
    fn flow_of(&self, local: SocketAddr) -> Option<usize> {
        let n = self.locals.len();
        let a = if n == 1 {
            (self.locals[0] == local.ip()).then_some(0)?
        } else {
            self.locals.binary_search(&local.ip()).ok()?
        };
        Some(self.ports.index(local.port())? * n + a)
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

    /// Requests sent, warm-up included.
    pub fn sent(&self) -> u64 {
        self.sent_total
    }

    /// Sends what the last, partial interval measured (at the end of a run).
    pub fn flush_report(&mut self) {
        self.tally.flush();
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn total(&self) -> &Measured {
        &self.tally.total
    }

    /// When measuring began (after resolution and warm-up).
    pub fn measure_from(&self) -> Instant {
        self.measure_from
    }

    /// Hands over what was measured since the last call, and starts a new interval.
    pub fn take_interval(&mut self) -> Measured {
        self.tally.take_interval()
    }

    fn measuring(&self) -> bool {
        matches!(self.phase, Phase::Measuring | Phase::Draining)
    }

    fn reply_matches(&self, payload: &[u8], seq: u64) -> bool {
        payload.len() == self.size && reply_matches(self.app, payload, seq)
    }

    fn reply_seq(&self, payload: &[u8]) -> Option<u64> {
        reply_seq(self.app, payload)
    }

    fn send_request(
        &mut self,
        now: Instant,
        intended: Instant,
        flow: u32,
        net: &mut Net<'_, ()>,
    ) -> bool {
        let f = &self.flows[flow as usize];
        if f.waiting.len() >= self.window {
            if self.measuring() {
                self.tally.error(|e| &mut e.overload);
            }
            return true;
        }
        let (local, seq) = (f.local, f.next_seq);
        let len = self.request_len();
        if net.send_udp(local, self.target, len, &mut |p| self.write_request(seq, p)) {
            self.record_sent(flow, intended, now);
            true
        } else {
            false
        }
    }

    /// The length of every request.
    fn request_len(&self) -> usize {
        match &self.raw {
            Some((request, _)) => request.len(),
            None => self.size,
        }
    }

    /// Writes request `seq` into `payload`, which is [`Self::request_len`] long.
    fn write_request(&self, seq: u64, payload: &mut [u8]) {
        match &self.raw {
            Some((request, _)) => payload.copy_from_slice(request),
            None => fill_request(self.app, seq, payload),
        }
    }

    /// Books the request just sent on `flow` (its next sequence number).
    fn record_sent(&mut self, flow: u32, intended: Instant, now: Instant) {
        let f = &mut self.flows[flow as usize];
        let seq = f.next_seq;
        f.next_seq += 1;
        f.waiting.push_back(Outstanding {
            seq,
            intended,
            sent: now,
        });
        self.sent_order.push_back((flow, seq, now));
        self.in_flight += 1;
        self.sent_total += 1;
    }

    /// Closed loop: writes `flow`'s next request over `payload`, the reply that made it
    /// ready, and books it as sent now, if it may leave at once: sending is on (warm-up
    /// or measuring, and `poll` would not end either before sending), `--requests` and
    /// the flow's window leave room, and the request is as long as the reply. False
    /// leaves the flow for `poll` to send as usual.
    fn send_in_place(&mut self, now: Instant, flow: u32, payload: &mut [u8]) -> bool {
        let sending = match self.phase {
            Phase::Warmup => now < self.measure_from,
            Phase::Measuring => !self.stop_sending_at.is_some_and(|t| now >= t),
            _ => false,
        };
        let f = &self.flows[flow as usize];
        if !(self.in_place
            && sending
            && self.schedule.is_none()
            && self.budget() > 0
            && f.waiting.len() < self.window
            && payload.len() == self.request_len())
        {
            return false;
        }
        self.write_request(f.next_seq, payload);
        self.record_sent(flow, now, now);
        true
    }

    fn complete(&mut self, o: Outstanding, now: Instant, ok: bool, bytes: u64) {
        if !(self.measuring() && o.intended >= self.measure_from) {
            return;
        }
        if ok {
            self.tally.success(now, o.intended, o.sent, bytes);
        } else {
            self.tally.error(|e| &mut e.mismatch);
        }
    }

    /// Handles a UDP reply to one of our flows, and says whether its flow may send its
    /// next request now.
    fn on_reply(
        &mut self,
        now: Instant,
        from: SocketAddr,
        local: SocketAddr,
        payload: &[u8],
    ) -> Answered {
        let Some(idx) = self.flow_of(local) else {
            return Answered::NotOurs;
        };
        if from != self.target || idx >= self.flows.len() {
            return Answered::NotOurs;
        }
        if let Some((_, framing)) = &self.raw {
            let ok = match framing {
                RawFraming::Bytes(n) => payload.len() == *n,
                RawFraming::Delimiter(d) => payload.ends_with(d),
            };
            let Some(o) = self.flows[idx].waiting.pop_front() else {
                if self.measuring() {
                    self.tally.reply(|r| &mut r.late_or_duplicate);
                }
                return Answered::Taken;
            };
            self.in_flight -= 1;
            self.prune_answered();
            self.complete(o, now, ok, payload.len() as u64);
            return self.answered(idx);
        }
        let Some(seq) = self.reply_seq(payload) else {
            self.count_mismatch();
            return Answered::Taken;
        };
        let flow = &mut self.flows[idx];
        let Some(pos) = flow.waiting.iter().position(|o| o.seq == seq) else {
            // Late (already timed out), twice, or never sent: not ours to measure.
            if self.measuring() {
                self.tally.reply(|r| &mut r.late_or_duplicate);
            }
            return Answered::Taken;
        };
        let o = flow
            .waiting
            .remove(pos)
            .unwrap_or_else(|| unreachable!("found above"));
        if pos > 0 && self.measuring() {
            self.tally.reply(|r| &mut r.out_of_order);
        }
        self.in_flight -= 1;
        self.prune_answered();
        let ok = self.reply_matches(payload, seq);
        self.complete(o, now, ok, self.size as u64);
        self.answered(idx)
    }

    /// A request of flow `idx` was answered: in closed loop, unless draining, the flow
    /// may send its next one.
    fn answered(&self, idx: usize) -> Answered {
        if self.schedule.is_none() && self.phase != Phase::Draining {
            Answered::Ready(idx as u32)
        } else {
            Answered::Taken
        }
    }

    fn count_mismatch(&mut self) {
        if self.measuring() {
            self.tally.error(|e| &mut e.mismatch);
        }
    }

    /// ICMP port unreachable quoting one of our requests: the target refused.
    fn on_unreachable(&mut self, to: SocketAddr, local: SocketAddr) -> bool {
        if to != self.target {
            return false;
        }
        let flow = self
            .flow_of(local)
            .and_then(|i| Some((i, self.flows.get_mut(i)?)));
        if let Some((idx, flow)) = flow {
            if let Some(o) = flow.waiting.pop_front() {
                self.in_flight -= 1;
                self.prune_answered();
                if self.measuring() && o.intended >= self.measure_from {
                    self.tally.error(|e| &mut e.refused);
                }
                if self.schedule.is_none() && self.phase != Phase::Draining {
                    self.ready.push_back(idx as u32);
                }
            }
        }
        true
    }

    /// Drops answered requests from the front of `sent_order`, so that it holds about as
    /// many entries as there are requests in flight.
    fn prune_answered(&mut self) {
        while let Some(&(flow, seq, _)) = self.sent_order.front() {
            if matches!(self.flows[flow as usize].waiting.front(), Some(o) if o.seq == seq) {
                break;
            }
            self.sent_order.pop_front();
        }
    }

    /// Expires requests older than the timeout, oldest first.
    fn expire(&mut self, now: Instant) {
        let measuring = self.measuring();
        let closed_loop = self.schedule.is_none() && self.phase != Phase::Draining;
        while let Some(&(flow, seq, sent)) = self.sent_order.front() {
            if now.saturating_since(sent) < self.timeout {
                break;
            }
            self.sent_order.pop_front();
            // A flow's requests leave in order, so a request still waiting is its flow's
            // oldest one; anything else was answered or refused already.
            let f = &mut self.flows[flow as usize];
            if !matches!(f.waiting.front(), Some(o) if o.seq == seq) {
                continue;
            }
            let o = f
                .waiting
                .pop_front()
                .unwrap_or_else(|| unreachable!("checked above"));
            self.in_flight -= 1;
            if measuring && o.intended >= self.measure_from {
                self.tally.error(|e| &mut e.timeout);
            }
            if closed_loop {
                self.ready.push_back(flow);
            }
        }
    }

    fn advance_phase(&mut self, now: Instant, net: &mut Net<'_, ()>) {
        match self.phase {
            Phase::Resolving => match net.resolve_ip(self.target.ip()) {
                Resolution::Known(_) => {
                    self.started = now;
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
                Resolution::Failed => self.phase = Phase::Unreachable,
                Resolution::Pending => {}
            },
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
                    self.ready.clear();
                }
            }
            Phase::Draining => {
                if self.in_flight == 0 {
                    self.phase = Phase::Done;
                }
            }
            Phase::Done | Phase::Unreachable => {}
        }
    }

    /// Requests still allowed by `--requests` (counting those in flight).
    fn budget(&self) -> u64 {
        match self.request_limit {
            None => u64::MAX,
            Some(n) => {
                let done = self.tally.total.requests + self.tally.total.errors.total();
                if self.phase == Phase::Warmup {
                    u64::MAX
                } else {
                    n.saturating_sub(done + self.in_flight)
                }
            }
        }
    }

    fn send_due(&mut self, now: Instant, net: &mut Net<'_, ()>) {
        if !matches!(self.phase, Phase::Warmup | Phase::Measuring) {
            return;
        }
        let mut budget = self.budget();
        if let Some(mut s) = self.schedule.take() {
            let n = self.flows.len() as u64;
            while budget > 0 {
                let Some((k, intended)) = s.due(now) else {
                    break;
                };
                if !self.send_request(now, intended, (k % n) as u32, net) {
                    s.retry(k);
                    break;
                }
                budget -= 1;
            }
            self.schedule = Some(s);
        } else {
            while budget > 0 {
                let Some(flow) = self.ready.pop_front() else {
                    break;
                };
                if !self.send_request(now, now, flow, net) {
                    self.ready.push_front(flow);
                    break;
                }
                budget -= 1;
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let oldest = self
            .sent_order
            .front()
            .map(|&(_, _, sent)| sent + self.timeout);
        let sched = match self.phase {
            Phase::Warmup | Phase::Measuring => self.schedule.as_ref().map(|s| s.next_at()),
            _ => None,
        };
        let ready = (!self.ready.is_empty()).then_some(Instant::ZERO);
        // Resolving the target asks the neighbour cache at every poll: its answer may come
        // from a frame, from a static entry (--shared) or from giving up.
        let resolving = (self.phase == Phase::Resolving).then_some(Instant::ZERO);
        let report = self.tally.next_report();
        [
            oldest,
            sched,
            ready,
            resolving,
            self.stop_sending_at,
            report,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

#[cfg(test)]
mod in_place_tests;

fn payload_byte(seq: u64, i: usize) -> u8 {
    (seq as u8).wrapping_mul(31).wrapping_add(i as u8)
}

/// Writes request `seq` into `payload` (its whole length): the application header if
/// any, the sequence number, then a pattern that depends on it. UDP and TCP requests
/// are the same bytes.
pub(super) fn fill_request(app: AppProto, seq: u64, payload: &mut [u8]) {
    let body_at = match app {
        AppProto::Echo | AppProto::Http | AppProto::Raw => 0,
        AppProto::Sockperf => {
            let len = payload.len() as u32;
            let mut h = SockperfHeader::new_unchecked(&mut *payload);
            h.set_seq(seq);
            h.set_flags(FLAG_CLIENT | FLAG_PONG_REQUEST);
            h.set_msg_len(len);
            crate::wire::sockperf::HEADER_LEN
        }
    };
    payload[body_at..body_at + 8].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in payload[body_at + 8..].iter_mut().enumerate() {
        *b = payload_byte(seq, i);
    }
}

/// Whether `payload` is the reply to request `seq` (an echo of it, or sockperf's pong
/// with the client bit cleared). The caller checks the length.
pub(super) fn reply_matches(app: AppProto, payload: &[u8], seq: u64) -> bool {
    let body = match app {
        AppProto::Echo | AppProto::Http | AppProto::Raw => payload,
        AppProto::Sockperf => {
            let h = SockperfHeader::new_unchecked(payload);
            if h.seq() != seq || h.is_client() {
                return false;
            }
            &payload[crate::wire::sockperf::HEADER_LEN..]
        }
    };
    body.len() >= 8
        && body[..8] == seq.to_be_bytes()
        && body[8..]
            .iter()
            .enumerate()
            .all(|(i, &b)| b == payload_byte(seq, i))
}

/// The sequence number a reply carries (before it is checked).
pub(super) fn reply_seq(app: AppProto, payload: &[u8]) -> Option<u64> {
    let at = match app {
        AppProto::Echo | AppProto::Http | AppProto::Raw => 0,
        AppProto::Sockperf => crate::wire::sockperf::HEADER_LEN,
    };
    let b = payload.get(at..at + 8)?;
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

impl App for UdpLoad {
    type Conn = ();

    fn datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        local: SocketAddr,
        payload: &[u8],
    ) -> bool {
        match self.on_reply(now, from, local, payload) {
            Answered::NotOurs => false,
            Answered::Taken => true,
            Answered::Ready(flow) => {
                self.ready.push_back(flow);
                true
            }
        }
    }

    fn datagram_in_place(
        &mut self,
        now: Instant,
        from: SocketAddr,
        local: SocketAddr,
        payload: &mut [u8],
    ) -> DatagramAction {
        match self.on_reply(now, from, local, payload) {
            Answered::NotOurs => DatagramAction::NotMine,
            Answered::Taken => DatagramAction::Taken,
            Answered::Ready(flow) if self.send_in_place(now, flow, payload) => {
                DatagramAction::Reply
            }
            Answered::Ready(flow) => {
                self.ready.push_back(flow);
                DatagramAction::Taken
            }
        }
    }

    fn unreachable(&mut self, _now: Instant, to: SocketAddr, local: SocketAddr) -> bool {
        self.on_unreachable(to, local)
    }

    fn poll(&mut self, now: Instant, net: &mut Net<'_, ()>) {
        self.advance_phase(now, net);
        self.expire(now);
        self.send_due(now, net);
        self.advance_phase(now, net);
        self.tally.report(now, self.phase);
    }

    fn finished(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Unreachable)
    }

    fn poll_at(&self) -> Option<Instant> {
        self.next_deadline()
    }
}
