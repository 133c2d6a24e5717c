//! proto/tcp/conn: one TCP connection's control block and its state machine
//! (RFC 9293 §3.10, RFC 5961, RFC 6298, RFC 5681/6582, RFC 7323 window scale, RFC 6928).
//!
//! Sans-IO: every input carries `now`; output goes through the closure passed to
//! [`Connection::poll_transmit`]. Buffers are two rings allocated at creation; nothing is
//! allocated per segment or per event.
//!
//! Invariants: `snd_una <= snd_nxt <= snd_max`; the send ring holds the bytes from the
//! first unacknowledged data byte on; the receive ring holds in-order bytes not yet read
//! by the application, and out-of-order bytes are written ahead of its end and recorded
//! in `ooo` until the hole before them fills.

use core::fmt;
use core::time::Duration;

use super::ring::Ring;
use super::segment::{Segment, SegmentHeader};
use super::seq::SeqNumber;
use crate::time::Instant;
use crate::wire::tcp::{TcpFlags, TcpOptions, MAX_WINDOW_SCALE};

/// The eleven connection states of RFC 9293 §3.3.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN_SENT",
            State::SynReceived => "SYN_RCVD",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN_WAIT_1",
            State::FinWait2 => "FIN_WAIT_2",
            State::CloseWait => "CLOSE_WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST_ACK",
            State::TimeWait => "TIME_WAIT",
        })
    }
}

/// Per-connection tunables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    /// MSS we announce, and the cap on segments we send.
    pub mss: u16,
    pub recv_buffer: usize,
    pub send_buffer: usize,
    /// Window-scale shift we offer (RFC 7323), at most 14.
    pub window_scale: u8,
    pub rto_initial: Duration,
    pub rto_min: Duration,
    pub rto_max: Duration,
    /// Retransmission timeouts of one segment before giving up.
    pub max_retries: u32,
    /// Same, for SYN and SYN-ACK.
    pub syn_retries: u32,
    pub delayed_ack: Duration,
    /// Maximum segment lifetime; TIME_WAIT lasts twice this.
    pub msl: Duration,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            recv_buffer: 64 * 1024,
            send_buffer: 64 * 1024,
            window_scale: 7,
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(60),
            max_retries: 8,
            syn_retries: 5,
            delayed_ack: Duration::from_millis(40),
            msl: Duration::from_secs(30),
        }
    }
}

impl TcpConfig {
    /// 2 x MSL.
    pub fn time_wait(&self) -> Duration {
        self.msl * 2
    }
}

/// Why a connection reached CLOSED.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Orderly close, both FINs exchanged.
    Fin,
    /// Reset by the peer, or aborted locally.
    Rst,
    /// Retransmissions exhausted.
    Timeout,
}

/// What the application should learn about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Connected,
    Readable,
    PeerClosed,
    StateChanged { from: State, to: State },
    Closed { reason: CloseReason },
}

/// Counters for one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    pub retransmits: u64,
    pub fast_retransmits: u64,
    pub timeouts: u64,
    pub challenge_acks: u64,
    pub out_of_order: u64,
    pub dup_acks_sent: u64,
}

const EVENT_QUEUE: usize = 16;
const OOO_RANGES: usize = 4;
const DEFAULT_MSS: usize = 536;

/// Fixed-size FIFO of events; the oldest is dropped when full.
#[derive(Debug)]
struct EventQueue {
    items: [Option<Event>; EVENT_QUEUE],
    head: usize,
    len: usize,
}

impl EventQueue {
    fn new() -> Self {
        EventQueue {
            items: [None; EVENT_QUEUE],
            head: 0,
            len: 0,
        }
    }
    fn push(&mut self, e: Event) {
        if self.len == EVENT_QUEUE {
            self.head = (self.head + 1) % EVENT_QUEUE;
            self.len -= 1;
        }
        self.items[(self.head + self.len) % EVENT_QUEUE] = Some(e);
        self.len += 1;
    }
    fn pop(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        let e = self.items[self.head].take();
        self.head = (self.head + 1) % EVENT_QUEUE;
        self.len -= 1;
        e
    }
}

/// One connection's TCB.
#[derive(Debug)]
pub struct Connection {
    cfg: TcpConfig,
    state: State,

    // send sequence space
    iss: SeqNumber,
    snd_una: SeqNumber,
    snd_nxt: SeqNumber,
    /// Highest sequence number sent (snd_nxt rewinds on timeout).
    snd_max: SeqNumber,
    snd_wnd: u32,
    snd_wl1: SeqNumber,
    snd_wl2: SeqNumber,
    syn_acked: bool,
    fin_queued: bool,
    fin_acked: bool,
    /// Shift applied to the peer's window fields.
    snd_wscale: u8,
    /// Shift applied to our window fields.
    rcv_wscale: u8,
    /// Offer window scale in our SYN / SYN-ACK.
    offer_wscale: bool,
    smss: usize,

    // receive sequence space
    irs: SeqNumber,
    rcv_nxt: SeqNumber,
    ooo: [(SeqNumber, SeqNumber); OOO_RANGES],
    ooo_count: usize,

    snd_buf: Ring,
    rcv_buf: Ring,

    // acknowledgment
    ack_now: bool,
    /// Duplicate ACKs owed, one per out-of-order segment (RFC 5681 §4.2), so that a
    /// batch of segments handled before one `poll_transmit` still yields one each.
    dup_acks_due: u8,
    delack_deadline: Option<Instant>,
    unacked_bytes: usize,

    // retransmission (RFC 6298)
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    rtt_timing: Option<(SeqNumber, Instant)>,
    rto_deadline: Option<Instant>,
    retries: u32,

    // congestion control (RFC 5681 / 6582)
    cwnd: usize,
    ssthresh: usize,
    dup_acks: u32,
    recover: Option<SeqNumber>,
    fast_rexmit_pending: bool,

    // zero window
    persist_deadline: Option<Instant>,
    persist_backoff: u32,
    probe_pending: bool,

    time_wait_deadline: Option<Instant>,
    rst_pending: bool,
    /// A RST answering an unacceptable ACK: `<SEQ=SEG.ACK><CTL=RST>`.
    reply_rst: Option<SeqNumber>,

    events: EventQueue,
    stats: TcpStats,
}

/// The output closure of [`Connection::poll_transmit`]: header, payload as two slices;
/// returns false when no TX buffer was free.
pub type EmitFn<'a> = dyn FnMut(&SegmentHeader, &[u8], &[u8]) -> bool + 'a;

fn dur_mul(d: Duration, k: u32) -> Duration {
    d.checked_mul(k).unwrap_or(Duration::MAX)
}

impl Connection {
    fn new(cfg: TcpConfig, isn: u32, state: State) -> Connection {
        let iss = SeqNumber(isn);
        let mut cfg = cfg;
        cfg.window_scale = cfg.window_scale.min(MAX_WINDOW_SCALE);
        let smss = usize::from(cfg.mss).min(DEFAULT_MSS);
        Connection {
            cfg,
            state,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: iss,
            syn_acked: false,
            fin_queued: false,
            fin_acked: false,
            snd_wscale: 0,
            rcv_wscale: 0,
            offer_wscale: false,
            smss,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            ooo: [(SeqNumber(0), SeqNumber(0)); OOO_RANGES],
            ooo_count: 0,
            snd_buf: Ring::new(cfg.send_buffer),
            rcv_buf: Ring::new(cfg.recv_buffer),
            ack_now: false,
            dup_acks_due: 0,
            delack_deadline: None,
            unacked_bytes: 0,
            srtt: None,
            rttvar: Duration::ZERO,
            rto: cfg.rto_initial,
            rtt_timing: None,
            rto_deadline: None,
            retries: 0,
            cwnd: 10 * smss,
            ssthresh: usize::MAX,
            dup_acks: 0,
            recover: None,
            fast_rexmit_pending: false,
            persist_deadline: None,
            persist_backoff: 0,
            probe_pending: false,
            time_wait_deadline: None,
            rst_pending: false,
            reply_rst: None,
            events: EventQueue::new(),
            stats: TcpStats::default(),
        }
    }

    /// Passive open: a SYN arrived for a listener. The connection starts in SYN_RCVD with
    /// a SYN-ACK due.
    pub fn accept(cfg: TcpConfig, now: Instant, isn: u32, syn: &Segment) -> Connection {
        let _ = now;
        let mut c = Connection::new(cfg, isn, State::SynReceived);
        c.irs = syn.seq;
        c.rcv_nxt = syn.seq + 1;
        c.snd_wnd = u32::from(syn.window);
        c.snd_wl1 = syn.seq;
        c.snd_wl2 = c.iss;
        c.take_syn_options(syn);
        c
    }

    /// Active open: the connection starts in SYN_SENT with a SYN due.
    pub fn connect(cfg: TcpConfig, now: Instant, isn: u32) -> Connection {
        let _ = now;
        let mut c = Connection::new(cfg, isn, State::SynSent);
        c.offer_wscale = true;
        c.rcv_wscale = c.cfg.window_scale;
        c
    }

    /// RFC 9293 §3.7.1 (MSS, 536 when absent) and RFC 7323 §2.2 (window scale only
    /// when both sides send it).
    fn take_syn_options(&mut self, syn: &Segment) {
        let peer_mss = syn.options.mss.map_or(DEFAULT_MSS, usize::from).max(64);
        self.smss = peer_mss.min(usize::from(self.cfg.mss));
        self.cwnd = 10 * self.smss;
        match syn.options.window_scale {
            Some(ws) => {
                self.snd_wscale = ws.min(MAX_WINDOW_SCALE);
                self.rcv_wscale = self.cfg.window_scale;
                self.offer_wscale = true;
            }
            None => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
                self.offer_wscale = false;
            }
        }
    }

    // ---------------------------------------------------------------- accessors

    pub fn state(&self) -> State {
        self.state
    }
    pub fn stats(&self) -> TcpStats {
        self.stats
    }
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }
    /// The sender MSS in use.
    pub fn mss(&self) -> usize {
        self.smss
    }
    pub fn rto(&self) -> Duration {
        self.rto
    }
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }
    pub fn cwnd(&self) -> usize {
        self.cwnd
    }
    pub fn ssthresh(&self) -> usize {
        self.ssthresh
    }
    /// The peer's window in bytes (already scaled).
    pub fn send_window(&self) -> u32 {
        self.snd_wnd
    }
    pub fn recv_available(&self) -> usize {
        self.rcv_buf.len()
    }
    pub fn send_capacity(&self) -> usize {
        if self.can_queue_send() {
            self.snd_buf.free()
        } else {
            0
        }
    }
    /// Bytes queued for sending or awaiting acknowledgment.
    pub fn send_queued(&self) -> usize {
        self.snd_buf.len()
    }

    fn can_queue_send(&self) -> bool {
        !self.fin_queued
            && matches!(
                self.state,
                State::SynSent | State::SynReceived | State::Established | State::CloseWait
            )
    }

    fn synchronized(&self) -> bool {
        !matches!(self.state, State::Closed | State::Listen | State::SynSent)
    }

    fn set_state(&mut self, to: State) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        self.events.push(Event::StateChanged { from, to });
        if to == State::TimeWait || to == State::Closed {
            self.rto_deadline = None;
            self.persist_deadline = None;
            self.delack_deadline = None;
        }
    }

    fn close_with(&mut self, reason: CloseReason) {
        self.set_state(State::Closed);
        self.time_wait_deadline = None;
        self.events.push(Event::Closed { reason });
    }

    // ---------------------------------------------------------------- app side

    /// Queues what fits of `data`; returns how many bytes were taken.
    pub fn send(&mut self, data: &[u8]) -> usize {
        if !self.can_queue_send() {
            return 0;
        }
        self.snd_buf.push(data)
    }

    /// Reads in-order received bytes.
    pub fn recv(&mut self, buf: &mut [u8]) -> usize {
        let before = self.rcv_window();
        let n = self.rcv_buf.pop(buf);
        let after = self.rcv_window();
        // Window update (RFC 9293 §3.8.6.2.2): tell the peer once the window has opened
        // by at least two segments or half the buffer.
        if n > 0
            && self.synchronized()
            && before < after
            && (after - before >= 2 * usize::from(self.cfg.mss)
                || after - before >= self.rcv_buf.capacity() / 2)
            && before < self.rcv_buf.capacity() / 2
        {
            self.ack_now = true;
        }
        n
    }

    /// Orderly close: a FIN follows the queued data.
    pub fn close(&mut self) {
        match self.state {
            State::SynSent | State::Listen => self.close_with(CloseReason::Fin),
            State::SynReceived | State::Established => {
                self.fin_queued = true;
                self.set_state(State::FinWait1);
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(State::LastAck);
            }
            _ => {}
        }
    }

    /// Abort: a RST is sent and the connection is CLOSED at once.
    pub fn abort(&mut self) {
        if self.state == State::Closed {
            return;
        }
        if self.synchronized() {
            self.rst_pending = true;
        }
        self.close_with(CloseReason::Rst);
    }

    // ---------------------------------------------------------------- receive window

    fn rcv_window(&self) -> usize {
        self.rcv_buf.free()
    }

    fn advertised_window(&self, syn: bool) -> u16 {
        let w = self.rcv_window();
        if syn {
            w.min(65535) as u16
        } else {
            (w >> self.rcv_wscale).min(65535) as u16
        }
    }

    // ---------------------------------------------------------------- segment arrival

    /// RFC 9293 §3.10.7 SEGMENT ARRIVES.
    pub fn handle_segment(&mut self, now: Instant, seg: &Segment) {
        match self.state {
            State::Closed | State::Listen => {}
            State::SynSent => self.handle_syn_sent(now, seg),
            _ => self.handle_synchronized(now, seg),
        }
    }

    /// RFC 9293 §3.10.7.3.
    fn handle_syn_sent(&mut self, now: Instant, seg: &Segment) {
        let f = seg.flags;
        let mut ack_ok = false;
        if f.contains(TcpFlags::ACK) {
            if seg.ack.le(self.iss) || seg.ack.gt(self.snd_max) {
                if !f.contains(TcpFlags::RST) {
                    self.reply_rst = Some(seg.ack);
                }
                return;
            }
            ack_ok = true;
        }
        if f.contains(TcpFlags::RST) {
            if ack_ok {
                self.close_with(CloseReason::Rst);
            }
            return;
        }
        if !f.contains(TcpFlags::SYN) {
            return;
        }
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.take_syn_options(seg);
        if ack_ok {
            self.sample_rtt(now, seg.ack);
            self.snd_una = seg.ack;
            self.syn_acked = true;
            self.retries = 0;
            self.rto_deadline = None;
            self.snd_wnd = u32::from(seg.window);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.set_state(State::Established);
            self.events.push(Event::Connected);
            self.ack_now = true;
        } else {
            // Simultaneous open: answer with SYN-ACK from ISS.
            self.snd_wnd = u32::from(seg.window);
            self.snd_wl1 = seg.seq;
            self.snd_nxt = self.iss;
            self.rtt_timing = None;
            self.set_state(State::SynReceived);
        }
    }

    /// RFC 9293 §3.10.7.4 acceptability test.
    fn acceptable(&self, seg: &Segment) -> bool {
        let len = seg.len();
        let wnd = self.rcv_window();
        let end = self.rcv_nxt + wnd;
        match (len, wnd) {
            (0, 0) => seg.seq == self.rcv_nxt,
            (0, _) => seg.seq.in_range(self.rcv_nxt, end),
            (_, 0) => false,
            _ => {
                seg.seq.in_range(self.rcv_nxt, end)
                    || (seg.seq + (len - 1)).in_range(self.rcv_nxt, end)
            }
        }
    }

    fn handle_synchronized(&mut self, now: Instant, seg: &Segment) {
        let f = seg.flags;
        if self.state == State::TimeWait && f.contains(TcpFlags::FIN) && !f.contains(TcpFlags::RST)
        {
            // RFC 9293 §3.10.7.4 eighth step, TIME-WAIT: ack the retransmitted FIN and
            // restart the 2 MSL timeout.
            self.ack_now = true;
            self.time_wait_deadline = Some(now + self.cfg.time_wait());
            return;
        }

        // first: sequence number
        if self.state == State::SynReceived
            && f.contains(TcpFlags::SYN)
            && !f.contains(TcpFlags::ACK)
            && seg.seq == self.irs
        {
            // The peer retransmitted its SYN: our SYN-ACK was lost; send it again.
            self.snd_nxt = self.iss;
            self.rtt_timing = None;
            return;
        }
        if !self.acceptable(seg) {
            if !f.contains(TcpFlags::RST) {
                self.ack_now = true;
                self.stats.dup_acks_sent += 1;
            }
            return;
        }

        // second: RST (RFC 5961 §3.2)
        if f.contains(TcpFlags::RST) {
            if seg.seq == self.rcv_nxt {
                self.close_with(CloseReason::Rst);
            } else {
                self.challenge_ack();
            }
            return;
        }

        // fourth: SYN (RFC 5961 §4.2)
        if f.contains(TcpFlags::SYN) {
            self.challenge_ack();
            return;
        }

        // fifth: ACK
        if !f.contains(TcpFlags::ACK) {
            return;
        }
        if self.state == State::SynReceived {
            if seg.ack.gt(self.snd_una) && seg.ack.le(self.snd_max) {
                self.set_state(State::Established);
                self.events.push(Event::Connected);
                // The window from a non-SYN segment is scaled.
                self.snd_wnd = u32::from(seg.window) << self.snd_wscale;
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = seg.ack;
            } else {
                self.reply_rst = Some(seg.ack);
                return;
            }
        }
        if !self.process_ack(now, seg) {
            return;
        }
        if self.state == State::Closed || self.state == State::TimeWait {
            return;
        }

        // seventh: segment text
        let mut fin_ok = f.contains(TcpFlags::FIN);
        if matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        ) {
            fin_ok &= self.process_data(now, seg);
        } else {
            // CLOSE_WAIT, CLOSING, LAST_ACK: data after a FIN is ignored.
            fin_ok &= seg.seq + seg.payload.len() == self.rcv_nxt;
        }

        // eighth: FIN
        if fin_ok {
            self.rcv_nxt += 1;
            self.ack_now = true;
            match self.state {
                State::Established | State::SynReceived => {
                    self.set_state(State::CloseWait);
                    self.events.push(Event::PeerClosed);
                }
                State::FinWait1 => {
                    self.events.push(Event::PeerClosed);
                    if self.fin_acked {
                        self.enter_time_wait(now);
                    } else {
                        self.set_state(State::Closing);
                    }
                }
                State::FinWait2 => {
                    self.events.push(Event::PeerClosed);
                    self.enter_time_wait(now);
                }
                _ => {}
            }
        }
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.set_state(State::TimeWait);
        self.time_wait_deadline = Some(now + self.cfg.time_wait());
    }

    fn challenge_ack(&mut self) {
        self.ack_now = true;
        self.stats.challenge_acks += 1;
    }

    fn flight_size(&self) -> usize {
        self.snd_max.dist_from(self.snd_una)
    }

    /// RFC 9293 §3.10.7.4 fifth step plus RFC 5681/6582 and RFC 6298. Returns false if
    /// the segment is to be dropped.
    fn process_ack(&mut self, now: Instant, seg: &Segment) -> bool {
        let ack = seg.ack;
        if ack.gt(self.snd_max) {
            // Acks something not yet sent.
            self.ack_now = true;
            return false;
        }
        let wnd = u32::from(seg.window) << self.snd_wscale;

        if ack.gt(self.snd_una) {
            let mut acked = ack.dist_from(self.snd_una);
            self.sample_rtt(now, ack);
            if !self.syn_acked {
                self.syn_acked = true;
                acked -= 1;
            }
            let data = acked.min(self.snd_buf.len());
            self.snd_buf.consume(data);
            if acked > data && self.fin_queued {
                self.fin_acked = true;
            }
            self.snd_una = ack;
            if self.snd_nxt.lt(ack) {
                self.snd_nxt = ack;
            }
            self.retries = 0;
            self.on_new_ack(acked);
            // RFC 6298 §5.2/5.3
            if self.snd_una == self.snd_max {
                self.rto_deadline = None;
            } else {
                self.rto_deadline = Some(now + self.rto);
            }
        } else if ack == self.snd_una
            && seg.payload.is_empty()
            && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::FIN)
            && wnd == self.snd_wnd
            && self.snd_max.gt(self.snd_una)
        {
            self.on_dup_ack();
        }

        // Window update (SND.WL1 / SND.WL2 rule).
        if self.snd_una.le(ack)
            && (self.snd_wl1.lt(seg.seq) || (self.snd_wl1 == seg.seq && self.snd_wl2.le(ack)))
        {
            self.snd_wnd = wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
            if wnd > 0 {
                self.persist_deadline = None;
                self.persist_backoff = 0;
            }
        }

        if self.fin_acked {
            match self.state {
                State::FinWait1 => self.set_state(State::FinWait2),
                State::Closing => {
                    self.enter_time_wait(now);
                    return true;
                }
                State::LastAck => {
                    self.close_with(CloseReason::Fin);
                    return false;
                }
                _ => {}
            }
        }
        true
    }

    fn on_new_ack(&mut self, acked: usize) {
        let smss = self.smss;
        match self.recover {
            Some(rec) if self.snd_una.lt(rec) => {
                // RFC 6582 partial ACK: retransmit the next hole, deflate cwnd.
                self.fast_rexmit_pending = true;
                self.cwnd = self.cwnd.saturating_sub(acked) + smss;
                self.dup_acks = 0;
                return;
            }
            Some(_) => {
                // Full ACK: leave fast recovery.
                self.recover = None;
                self.cwnd = self.ssthresh.min(self.flight_size() + smss).max(smss);
            }
            None => {
                if self.cwnd < self.ssthresh {
                    self.cwnd += acked.min(smss);
                } else {
                    self.cwnd += (smss * smss / self.cwnd).max(1);
                }
            }
        }
        self.dup_acks = 0;
    }

    fn on_dup_ack(&mut self) {
        self.dup_acks += 1;
        let smss = self.smss;
        if self.recover.is_some() {
            if self.dup_acks > 3 {
                self.cwnd += smss;
            }
            return;
        }
        if self.dup_acks == 3 {
            self.ssthresh = (self.flight_size() / 2).max(2 * smss);
            self.cwnd = self.ssthresh + 3 * smss;
            self.recover = Some(self.snd_max);
            self.fast_rexmit_pending = true;
            self.rtt_timing = None;
            self.stats.fast_retransmits += 1;
        }
    }

    /// RFC 6298 §2 with Karn's rule: only the one timed segment, and `rtt_timing` is
    /// cleared whenever anything is retransmitted.
    fn sample_rtt(&mut self, now: Instant, ack: SeqNumber) {
        let Some((end, sent)) = self.rtt_timing else {
            return;
        };
        if ack.lt(end) {
            return;
        }
        self.rtt_timing = None;
        let r = now.saturating_since(sent);
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                let delta = if srtt > r { srtt - r } else { r - srtt };
                self.rttvar = self.rttvar * 3 / 4 + delta / 4;
                self.srtt = Some(srtt * 7 / 8 + r / 8);
            }
        }
        let rto = self.srtt.unwrap_or(r) + self.rttvar * 4;
        self.rto = rto.clamp(self.cfg.rto_min, self.cfg.rto_max);
    }

    /// Receives segment text. Returns whether a FIN on this segment is now in order.
    fn process_data(&mut self, now: Instant, seg: &Segment) -> bool {
        let mut seq = seg.seq;
        let mut data = seg.payload;
        let fin_seq = seg.seq + seg.payload.len();
        if seq.lt(self.rcv_nxt) {
            let trim = self.rcv_nxt.dist_from(seq).min(data.len());
            data = &data[trim..];
            seq += trim;
        }
        if data.is_empty() {
            if !seg.payload.is_empty() {
                // Entirely old data: the peer missed our ACK.
                self.ack_now = true;
            }
            return fin_seq == self.rcv_nxt;
        }
        let off = seq.dist_from(self.rcv_nxt);
        let n = self.rcv_buf.write_at(off, data);
        let was_empty = self.rcv_buf.is_empty();
        if off > 0 {
            // Out of order: remember the range, ACK at once (RFC 5681 §4.2).
            if n > 0 {
                self.add_ooo(seq, seq + n);
            }
            self.stats.out_of_order += 1;
            self.stats.dup_acks_sent += 1;
            self.dup_acks_due = self.dup_acks_due.saturating_add(1).min(8);
            self.ack_now = true;
            return false;
        }
        self.rcv_buf.commit(n);
        self.rcv_nxt += n;
        let filled_hole = self.ooo_count > 0;
        self.merge_ooo();
        if was_empty && !self.rcv_buf.is_empty() {
            self.events.push(Event::Readable);
        }
        // RFC 9293 §3.8.6.3 / RFC 5681 §4.2: delay the ACK, but ACK at least every
        // second full-size segment, and at once when a hole is filled.
        self.unacked_bytes += n;
        if filled_hole || self.unacked_bytes >= 2 * usize::from(self.cfg.mss) {
            self.ack_now = true;
        } else if self.delack_deadline.is_none() {
            self.delack_deadline = Some(now + self.cfg.delayed_ack);
        }
        n == data.len() && fin_seq == self.rcv_nxt
    }

    fn add_ooo(&mut self, start: SeqNumber, end: SeqNumber) {
        let (mut s, mut e) = (start, end);
        let mut i = 0;
        // Merge with every overlapping or touching range.
        while i < self.ooo_count {
            let (a, b) = self.ooo[i];
            if a.le(e) && s.le(b) {
                if a.lt(s) {
                    s = a;
                }
                e = e.max_seq(b);
                self.ooo[i] = self.ooo[self.ooo_count - 1];
                self.ooo_count -= 1;
            } else {
                i += 1;
            }
        }
        if self.ooo_count < OOO_RANGES {
            self.ooo[self.ooo_count] = (s, e);
            self.ooo_count += 1;
        }
        // A full list drops the range: the bytes get retransmitted.
    }

    fn merge_ooo(&mut self) {
        loop {
            let mut progressed = false;
            let mut i = 0;
            while i < self.ooo_count {
                let (a, b) = self.ooo[i];
                if a.le(self.rcv_nxt) {
                    if b.gt(self.rcv_nxt) {
                        let n = b.dist_from(self.rcv_nxt);
                        self.rcv_buf.commit(n);
                        self.rcv_nxt = b;
                        progressed = true;
                    }
                    self.ooo[i] = self.ooo[self.ooo_count - 1];
                    self.ooo_count -= 1;
                } else {
                    i += 1;
                }
            }
            if !progressed {
                break;
            }
        }
    }

    // ---------------------------------------------------------------- timers

    /// The earliest time [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.rto_deadline,
            self.persist_deadline,
            self.delack_deadline,
            self.time_wait_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(t) = self.time_wait_deadline {
            if t <= now {
                self.time_wait_deadline = None;
                self.close_with(CloseReason::Fin);
                return;
            }
        }
        if let Some(t) = self.delack_deadline {
            if t <= now {
                self.delack_deadline = None;
                self.ack_now = true;
            }
        }
        if let Some(t) = self.rto_deadline {
            if t <= now {
                self.on_rto(now);
            }
        }
        if let Some(t) = self.persist_deadline {
            if t <= now {
                self.probe_pending = true;
                self.persist_backoff = (self.persist_backoff + 1).min(16);
                let d = dur_mul(self.rto, 1 << self.persist_backoff.min(10));
                self.persist_deadline = Some(now + d.min(self.cfg.rto_max));
            }
        }
    }

    /// RFC 6298 §5.4–5.7 and RFC 5681 §3.1 (loss window).
    fn on_rto(&mut self, now: Instant) {
        let limit = if self.syn_acked {
            self.cfg.max_retries
        } else {
            self.cfg.syn_retries
        };
        if self.retries >= limit {
            self.rto_deadline = None;
            self.rst_pending = self.synchronized();
            self.close_with(CloseReason::Timeout);
            return;
        }
        self.retries += 1;
        self.stats.timeouts += 1;
        self.rto = dur_mul(self.rto, 2).min(self.cfg.rto_max);
        if self.syn_acked {
            self.ssthresh = (self.flight_size() / 2).max(2 * self.smss);
            self.cwnd = self.smss;
        }
        self.recover = None;
        self.dup_acks = 0;
        self.fast_rexmit_pending = false;
        self.snd_nxt = self.snd_una;
        self.rtt_timing = None;
        self.rto_deadline = Some(now + self.rto);
    }

    // ---------------------------------------------------------------- transmit

    /// Sequence number of the first byte in the send ring.
    fn data_start(&self) -> SeqNumber {
        if self.syn_acked {
            self.snd_una
        } else {
            self.snd_una + 1
        }
    }

    fn fin_seq(&self) -> SeqNumber {
        self.data_start() + self.snd_buf.len()
    }

    fn ack_sent(&mut self) {
        self.ack_now = false;
        self.dup_acks_due = 0;
        self.delack_deadline = None;
        self.unacked_bytes = 0;
    }

    fn after_send(&mut self, now: Instant, seq: SeqNumber, end: SeqNumber) {
        if end.gt(self.snd_max) {
            if self.rtt_timing.is_none() && seq.ge(self.snd_max) {
                self.rtt_timing = Some((end, now));
            }
            self.snd_max = end;
        } else if seq.lt(self.snd_max) {
            self.stats.retransmits += 1;
        }
        if self.rto_deadline.is_none() {
            self.rto_deadline = Some(now + self.rto);
        }
    }

    /// Emits every segment that is due. `emit` gets the header and the payload as up to
    /// two slices; it returns false when no TX buffer is free, and then that segment
    /// counts as not sent.
    pub fn poll_transmit(&mut self, now: Instant, emit: &mut EmitFn<'_>) {
        if let Some(seq) = self.reply_rst {
            let h = SegmentHeader {
                seq,
                ack: SeqNumber(0),
                flags: TcpFlags::RST,
                window: 0,
                options: TcpOptions::default(),
            };
            if !emit(&h, &[], &[]) {
                return;
            }
            self.reply_rst = None;
        }
        if self.rst_pending {
            let h = SegmentHeader {
                seq: self.snd_max,
                ack: self.rcv_nxt,
                flags: TcpFlags::RST | TcpFlags::ACK,
                window: 0,
                options: TcpOptions::default(),
            };
            if emit(&h, &[], &[]) {
                self.rst_pending = false;
            }
            return;
        }
        match self.state {
            State::Closed | State::Listen | State::TimeWait => {
                if self.state == State::TimeWait && self.ack_now {
                    self.send_ack(emit);
                }
                return;
            }
            State::SynSent | State::SynReceived => {
                if self.snd_nxt == self.iss {
                    let syn_ack = self.state == State::SynReceived;
                    let mut options = TcpOptions {
                        mss: Some(self.cfg.mss),
                        ..TcpOptions::default()
                    };
                    if self.offer_wscale {
                        options.window_scale = Some(self.cfg.window_scale);
                    }
                    let h = SegmentHeader {
                        seq: self.iss,
                        ack: if syn_ack { self.rcv_nxt } else { SeqNumber(0) },
                        flags: if syn_ack {
                            TcpFlags::SYN | TcpFlags::ACK
                        } else {
                            TcpFlags::SYN
                        },
                        window: self.advertised_window(true),
                        options,
                    };
                    if !emit(&h, &[], &[]) {
                        return;
                    }
                    self.snd_nxt = self.iss + 1;
                    self.after_send(now, self.iss, self.iss + 1);
                    if syn_ack {
                        self.ack_sent();
                    }
                }
                if self.state == State::SynReceived && self.ack_now {
                    self.send_ack(emit);
                }
                return;
            }
            _ => {}
        }

        if self.fast_rexmit_pending {
            let start = self.data_start();
            let len = self.smss.min(self.snd_buf.len());
            let fin = self.fin_queued && !self.fin_acked && len == self.snd_buf.len();
            if (len > 0 || fin) && self.snd_max.gt(self.snd_una) {
                if !self.emit_data(now, emit, start, 0, len, fin) {
                    return;
                }
                self.rtt_timing = None;
            }
            self.fast_rexmit_pending = false;
        }

        // New (or go-back-N resent) data and FIN.
        loop {
            let start = self.data_start();
            let off = self.snd_nxt.dist_from(start);
            let unsent = self.snd_buf.len().saturating_sub(off);
            let fin_due = self.fin_queued && !self.fin_acked && self.snd_nxt == self.fin_seq();
            if unsent == 0 && !fin_due {
                break;
            }
            let wnd = (self.snd_wnd as usize).min(self.cwnd);
            let in_flight = self.snd_nxt.dist_from(self.snd_una);
            let usable = wnd.saturating_sub(in_flight);
            let len = unsent.min(self.smss).min(usable);
            if unsent > 0 && len == 0 {
                break;
            }
            let fin = self.fin_queued && !self.fin_acked && off + len == self.snd_buf.len();
            let seq = self.snd_nxt;
            if !self.emit_data(now, emit, seq, off, len, fin) {
                return;
            }
        }

        // Zero-window probe: one byte beyond the window (RFC 9293 §3.8.6.1).
        if self.snd_wnd == 0 && self.snd_nxt == self.snd_una {
            let off = self.snd_nxt.dist_from(self.data_start());
            let have_data = self.snd_buf.len() > off;
            if have_data && self.probe_pending {
                let (a, b) = self.snd_buf.peek(off, 1);
                let h = self.header(self.snd_nxt, TcpFlags::ACK);
                if !emit(&h, a, b) {
                    return;
                }
                self.probe_pending = false;
                self.ack_sent();
                if (self.snd_nxt + 1).gt(self.snd_max) {
                    self.snd_max = self.snd_nxt + 1;
                }
            }
            if have_data && self.persist_deadline.is_none() {
                self.persist_deadline = Some(now + self.rto);
            }
        } else {
            self.probe_pending = false;
        }

        if self.ack_now {
            self.send_ack(emit);
        }
    }

    fn header(&self, seq: SeqNumber, flags: TcpFlags) -> SegmentHeader {
        SegmentHeader {
            seq,
            ack: self.rcv_nxt,
            flags,
            window: self.advertised_window(false),
            options: TcpOptions::default(),
        }
    }

    fn send_ack(&mut self, emit: &mut EmitFn<'_>) {
        // A pure ACK carries the highest sequence number sent, not a SND.NXT rewound for
        // retransmission: a peer that rewound too would otherwise find it left of its
        // window and discard the ACK. While probing a zero window the probe byte is not
        // counted, as the peer has not taken it.
        let seq = if self.persist_deadline.is_some() {
            self.snd_nxt
        } else {
            self.snd_max
        };
        let h = self.header(seq, TcpFlags::ACK);
        for _ in 0..self.dup_acks_due.max(1) {
            if !emit(&h, &[], &[]) {
                return;
            }
        }
        self.ack_sent();
    }

    /// Emits `len` bytes from ring offset `off` at `seq`, with FIN if `fin`. Moves
    /// SND.NXT forward when sending at SND.NXT.
    fn emit_data(
        &mut self,
        now: Instant,
        emit: &mut EmitFn<'_>,
        seq: SeqNumber,
        off: usize,
        len: usize,
        fin: bool,
    ) -> bool {
        let mut flags = TcpFlags::ACK;
        if fin {
            flags |= TcpFlags::FIN;
        }
        if len > 0 && off + len == self.snd_buf.len() {
            flags |= TcpFlags::PSH;
        }
        let h = self.header(seq, flags);
        let (a, b) = self.snd_buf.peek(off, len);
        if !emit(&h, a, b) {
            return false;
        }
        self.ack_sent();
        let end = seq + len + usize::from(fin);
        if seq == self.snd_nxt {
            self.snd_nxt = end;
        }
        self.after_send(now, seq, end);
        true
    }
}
