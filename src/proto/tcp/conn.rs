//! proto/tcp/conn: one TCP connection (the TCB of RFC 9293 §3.3.1), sans-IO: segments and
//! `now` in, segments and events out. It owns the state, the sequence variables of both
//! sides and the two buffers, and runs the state machine; each other concern is a small
//! type of its own that the TCB holds:
//! - `rtt`: the RTO from SRTT/RTTVAR, Karn's rule and back-off (RFC 6298);
//! - `congestion`: the congestion window behind a trait, NewReno (RFC 5681, RFC 6582,
//!   RFC 6928), held as a concrete type;
//! - `assembler`: where the out-of-order data lies (up to [`OOO_RANGES`] ranges);
//! - `timers`: the retransmission, persist, delayed-ACK and TIME_WAIT deadlines;
//! - `events`: the queue behind `poll_event`, which never drops a state change.
//!
//! What it does:
//! - passive and active open, simultaneous open included;
//! - data both ways with flow control, window scaling, and silly-window avoidance on both
//!   sides (RFC 9293 §3.8.6.2);
//! - reassembly of out-of-order segments (up to [`OOO_RANGES`] holes), each answered with
//!   an immediate duplicate ACK;
//! - delayed ACKs (at most `delayed_ack`, and at least every second full segment);
//! - retransmission on timeout per RFC 6298 (SRTT/RTTVAR, Karn's rule, exponential back-off,
//!   a configurable minimum; go-back-N from SND.UNA with a one-segment loss window);
//! - fast retransmit and NewReno recovery on three duplicate ACKs (RFC 5681, RFC 6582);
//! - the persist timer with one-byte zero-window probes (RFC 9293 §3.8.6.1), apart from
//!   the retransmission timer: a window the peer keeps closed while it acknowledges the
//!   probes may stay closed for ever (RFC 1122 §4.2.2.17);
//! - FIN in every state that sends or receives one, retransmitted like data, and
//!   TIME_WAIT for 2×MSL;
//! - RST processing with RFC 5961 challenge ACKs, rate-limited per connection;
//! - giving up with a RST after `max_retries` retransmissions, or as many window probes in
//!   a row that nobody acknowledges.
//!
//! SACK and timestamps are never offered, so a peer never uses them (RFC 2018 §2,
//! RFC 7323 §3.2), and any it sends are ignored.
//!
//! Invariants: the buffers are handed in at creation (`Buffers`: where they come from is
//! the stack's affair) and handed back by `take_buffers` in TIME_WAIT or CLOSED, or by
//! `release_buffers`; `send_buf` holds exactly the bytes
//! from SND.UNA on (sent and unsent); `recv_buf` holds in-order bytes the application has
//! not read, and out-of-order bytes are written past them into its free space;
//! SND.UNA <= SND.NXT <= SND.MAX; every state transition moves forward (see
//! `goes_forward`).
//!
//! Its tests are in `conn_tests.rs` (one per RFC rule) and `pair_tests.rs` (two
//! connections over a lossy simulated link).

use super::assembler::Assembler;
pub use super::assembler::OOO_RANGES;
use super::buffers::Buffers;
use super::congestion::{CongestionControl, Flight, NewReno, Reaction};
use super::events::EventQueue;
use super::ring::Ring;
use super::rtt::{RtoBounds, RttEstimator};
use super::seq::SeqNumber;
use super::timers::Timers;
use crate::time::Instant;
use crate::wire::{TcpFlags, TcpOptions};
use core::fmt;
use core::time::Duration;
use std::collections::VecDeque;

/// The eleven states of RFC 9293 §3.3.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

#[derive(Clone, Copy, Debug)]
pub struct TcpConfig {
    /// MSS we advertise (and the most we send if the peer allows more).
    pub mss: u16,
    pub recv_buffer: usize,
    pub send_buffer: usize,
    /// Window scale shift we offer (RFC 7323), 0..=14.
    pub window_scale: u8,
    pub rto_initial: Duration,
    pub rto_min: Duration,
    pub rto_max: Duration,
    /// Retransmissions of one segment before giving up (and window probes in a row that
    /// nobody acknowledges).
    pub max_retries: u32,
    /// Retransmissions of a SYN or SYN-ACK before giving up (fewer: a half-open
    /// connection should not hold its slot for minutes).
    pub syn_retries: u32,
    pub delayed_ack: Duration,
    /// TIME_WAIT lasts this long (2×MSL).
    pub time_wait: Duration,
    /// Challenge ACKs (RFC 5961) one connection sends per second at most.
    pub challenge_ack_limit: u32,
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
            time_wait: Duration::from_secs(60),
            challenge_ack_limit: 10,
        }
    }
}

/// A received segment: the SEG.* variables of RFC 9293.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    pub flags: TcpFlags,
    /// As on the wire (not yet scaled).
    pub window: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}

impl Segment<'_> {
    /// SEG.LEN: payload plus one for SYN and one for FIN.
    pub fn len(&self) -> usize {
        self.payload.len()
            + usize::from(self.flags.contains(TcpFlags::SYN))
            + usize::from(self.flags.contains(TcpFlags::FIN))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The header of a segment to send; its payload comes separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: TcpOptions,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Both FINs exchanged.
    Fin,
    /// Reset by the peer, or aborted by us.
    Rst,
    /// Retransmissions went unanswered.
    Timeout,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    StateChanged {
        from: State,
        to: State,
    },
    Connected,
    /// New in-order data can be read. Not queued again while one is queued: one says
    /// "read", `recv_available` says how much.
    Readable,
    /// The peer sent FIN: no more data will come.
    PeerClosed,
    Closed(CloseReason),
}

/// Counters a stack sums over its connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Segments sent again, by timeout or fast retransmit.
    pub retransmits: u64,
    pub timeouts: u64,
    /// Fast retransmits on three duplicate ACKs (each starts a recovery).
    pub fast_retransmits: u64,
    pub challenge_acks: u64,
    /// Challenge ACKs not sent because of the rate limit.
    pub challenge_acks_limited: u64,
    pub out_of_order: u64,
    /// Zero-window probes sent (RFC 9293 §3.8.6.1; not retransmissions).
    pub window_probes: u64,
}

/// The MSS of a peer that has not said (RFC 9293 §3.7.1).
const DEFAULT_MSS: u16 = 536;

/// Whether `from -> to` moves a connection forward in its life: out of CLOSED only as a
/// new connection opens (to SYN_SENT), into CLOSED from anywhere, and otherwise to a
/// later stage. The event queue's bound (events.rs) rests on every transition doing so.
fn goes_forward(from: State, to: State) -> bool {
    fn stage(s: State) -> u8 {
        match s {
            State::Closed | State::Listen => 0,
            State::SynSent => 1,
            State::SynReceived => 2,
            State::Established => 3,
            State::FinWait1 | State::CloseWait => 4,
            State::FinWait2 | State::Closing | State::LastAck => 5,
            State::TimeWait => 6,
        }
    }
    match (from, to) {
        (State::Closed, to) => to == State::SynSent,
        (_, State::Closed) => true,
        _ => stage(from) < stage(to),
    }
}

/// The congestion controller every connection uses (a concrete type: static calls).
type Congestion = NewReno;

/// Where `poll_transmit` writes a segment: the header, and the payload as up to two
/// slices of the send ring. Returns false when no transmit buffer is free.
pub type Emit<'a> = dyn FnMut(&SegmentHeader, &[u8], &[u8]) -> bool + 'a;

pub struct Connection {
    cfg: TcpConfig,
    state: State,
    // Send side.
    iss: SeqNumber,
    snd_una: SeqNumber,
    snd_nxt: SeqNumber,
    /// The highest sequence number ever sent: segments below it are retransmissions.
    snd_max: SeqNumber,
    snd_wnd: u32,
    snd_wl1: SeqNumber,
    snd_wl2: SeqNumber,
    /// Shift the peer applies to its windows (0 unless both sides agreed).
    snd_shift: u8,
    peer_mss: u16,
    send_buf: VecDeque<u8>,
    /// The application closed: a FIN follows the queued data.
    fin_queued: bool,
    /// Our FIN occupies the sequence number before SND.NXT.
    fin_sent: bool,
    /// Our SYN (or SYN-ACK) is outstanding.
    syn_sent: bool,
    /// The sequence number of our FIN, once it has been sent.
    fin_seq: Option<SeqNumber>,
    /// The largest window the peer has offered (for sender SWS avoidance).
    max_snd_wnd: u32,
    /// Congestion control (RFC 5681, RFC 6582).
    cc: Congestion,
    /// The segment at SND.UNA is to be sent again now.
    fast_rexmit: bool,
    // Receive side.
    irs: SeqNumber,
    rcv_nxt: SeqNumber,
    /// Shift we apply to the windows we advertise.
    rcv_shift: u8,
    recv_buf: Ring,
    /// Where the out-of-order data held in `recv_buf` past its in-order bytes lies.
    ooo: Assembler,
    /// A FIN that arrived out of order, at this sequence number.
    peer_fin_at: Option<SeqNumber>,
    /// The right edge of the window we last advertised (receiver SWS avoidance).
    rcv_adv: SeqNumber,
    /// Duplicate ACKs owed: one per out-of-order segment (RFC 5681 §4.2).
    dup_acks_due: u32,
    peer_fin: bool,
    // Timers.
    /// SRTT, RTTVAR, the RTO and the segment being timed (RFC 6298).
    rtt: RttEstimator,
    /// Retransmission, persist, delayed ACK and TIME_WAIT deadlines.
    timers: Timers,
    /// Retransmission timeouts since an ACK of new data.
    retries: u32,
    ack_now: bool,
    unacked_segments: u32,
    /// A RST to send, closing the connection for this reason.
    send_rst: Option<CloseReason>,
    /// The persist timer fired: one byte goes out as a window probe.
    probe_due: bool,
    /// Window probes sent since the peer last acknowledged anything (RFC 1122
    /// §4.2.2.17: the count that gives up, kept apart from `retries`).
    probes_unanswered: u32,
    /// A RST to send for an unacceptable ACK (seq = that ACK).
    send_rst_for_ack: Option<SeqNumber>,
    /// Challenge ACKs sent in the current one-second window, and when it started.
    challenge_count: u32,
    challenge_window: Instant,
    /// Events for the owner, until `poll_event` takes them.
    events: EventQueue,
    stats: ConnStats,
}

impl Connection {
    fn new(cfg: TcpConfig, iss: SeqNumber, state: State, bufs: Buffers) -> Self {
        let Buffers { send, recv } = bufs;
        Connection {
            state,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: iss,
            snd_shift: 0,
            peer_mss: DEFAULT_MSS,
            send_buf: send,
            fin_queued: false,
            fin_sent: false,
            syn_sent: false,
            fin_seq: None,
            max_snd_wnd: 0,
            cc: Congestion::new(DEFAULT_MSS),
            fast_rexmit: false,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            rcv_shift: 0,
            recv_buf: recv,
            ooo: Assembler::new(),
            peer_fin_at: None,
            rcv_adv: SeqNumber(0),
            dup_acks_due: 0,
            peer_fin: false,
            rtt: RttEstimator::new(cfg.rto_initial),
            timers: Timers::new(),
            retries: 0,
            ack_now: false,
            unacked_segments: 0,
            send_rst: None,
            probe_due: false,
            probes_unanswered: 0,
            send_rst_for_ack: None,
            challenge_count: 0,
            challenge_window: Instant::ZERO,
            events: EventQueue::new(),
            stats: ConnStats::default(),
            cfg,
        }
    }

    /// Passive open: a listener got `syn` and creates the connection in SYN_RCVD; the
    /// SYN-ACK goes out at the next `poll_transmit`.
    pub fn accept(cfg: TcpConfig, now: Instant, iss: u32, syn: &Segment, bufs: Buffers) -> Self {
        let mut c = Connection::new(cfg, SeqNumber(iss), State::Listen, bufs);
        c.irs = syn.seq;
        c.rcv_nxt = syn.seq + 1;
        c.rcv_adv = c.rcv_nxt;
        c.take_syn_options(&syn.options);
        c.snd_wnd = u32::from(syn.window);
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = syn.seq;
        c.set_state(State::SynReceived);
        c.syn_sent = true;
        let _ = now;
        c
    }

    /// Passive open from a SYN cookie (RFC 4987 §3.6): the SYN-ACK with ISS `iss` went
    /// out without a connection, for a SYN with sequence number `irs` and MSS
    /// `peer_mss`, without window scaling. The connection starts in SYN_RCVD as if it had
    /// sent that SYN-ACK; `handle_segment` with the returning ACK completes it.
    pub fn accept_cookie(cfg: TcpConfig, iss: u32, irs: u32, peer_mss: u16, bufs: Buffers) -> Self {
        let mut c = Connection::new(cfg, SeqNumber(iss), State::Listen, bufs);
        c.irs = SeqNumber(irs);
        c.rcv_nxt = c.irs + 1;
        c.rcv_adv = c.rcv_nxt;
        c.set_peer_mss(Some(peer_mss));
        c.snd_wl1 = c.irs;
        c.set_state(State::SynReceived);
        c.syn_sent = true;
        c.snd_nxt = c.iss + 1;
        c.snd_max = c.snd_nxt;
        c
    }

    /// RFC 9293 §3.10.7.4 with RFC 6191's rule without timestamps (RFC 1122 §4.2.2.13):
    /// a new SYN for a connection in TIME_WAIT may reopen it when its sequence number is
    /// above everything the old connection received.
    pub fn syn_may_reopen(&self, syn: &Segment) -> bool {
        self.state == State::TimeWait && syn.seq > self.rcv_nxt
    }

    /// Active open: SYN_SENT; the SYN goes out at the next `poll_transmit`.
    pub fn connect(cfg: TcpConfig, now: Instant, iss: u32, bufs: Buffers) -> Self {
        let mut c = Connection::new(cfg, SeqNumber(iss), State::Closed, bufs);
        // We offer window scaling; it holds only if the SYN-ACK offers it too.
        c.rcv_shift = cfg.window_scale.min(14);
        c.set_state(State::SynSent);
        c.syn_sent = true;
        let _ = now;
        c
    }

    /// RFC 9293 §3.7.1 (MSS, 536 when absent) and RFC 7323 §2.2 (window scale only when
    /// both SYNs carry it).
    fn take_syn_options(&mut self, o: &TcpOptions) {
        self.set_peer_mss(o.mss);
        match o.window_scale {
            Some(s) => {
                self.snd_shift = s.min(14);
                self.rcv_shift = self.cfg.window_scale.min(14);
            }
            None => {
                self.snd_shift = 0;
                self.rcv_shift = 0;
            }
        }
    }

    /// RFC 9293 §3.7.1: the peer's MSS, 536 when its SYN has none; the initial window
    /// follows from it (RFC 6928).
    fn set_peer_mss(&mut self, mss: Option<u16>) {
        self.peer_mss = mss.unwrap_or(DEFAULT_MSS).clamp(64, self.cfg.mss.max(64));
        self.cc.set_mss(self.sender_mss());
    }

    /// What the RTO is kept within (RFC 6298 §2.4, §2.5), from the configuration.
    fn rto_bounds(&self) -> RtoBounds {
        RtoBounds {
            min: self.cfg.rto_min,
            max: self.cfg.rto_max,
        }
    }

    /// The sender MSS: the largest segment we send.
    fn sender_mss(&self) -> u16 {
        self.peer_mss.min(self.cfg.mss)
    }

    /// The sender MSS, as a length.
    fn smss(&self) -> usize {
        usize::from(self.sender_mss())
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The congestion window and slow-start threshold, in bytes.
    pub fn congestion(&self) -> (usize, usize) {
        (self.cc.window(), self.cc.ssthresh())
    }

    pub fn stats(&self) -> ConnStats {
        self.stats
    }

    /// The sequence-space variables, for tests and traces.
    pub fn debug_vars(&self) -> String {
        format!(
            "{} una={} nxt={} max={} wnd={} cwnd={} ssthresh={} rcv_nxt={} ooo={} rto={:?} retries={} buf={}/{} fin_q={} fin_s={}",
            self.state,
            self.snd_una,
            self.snd_nxt,
            self.snd_max,
            self.snd_wnd,
            self.cc.window(),
            self.cc.ssthresh(),
            self.rcv_nxt,
            self.ooo.len(),
            self.rtt.rto(),
            self.retries,
            self.send_buf.len(),
            self.recv_buf.len(),
            self.fin_queued,
            self.fin_sent
        )
    }

    fn set_state(&mut self, to: State) {
        if to != self.state {
            let from = self.state;
            // The event queue's bound (events.rs) rests on this.
            debug_assert!(
                goes_forward(from, to),
                "TCP state goes back: {from} -> {to}"
            );
            self.state = to;
            self.push_event(Event::StateChanged { from, to });
        }
    }

    fn push_event(&mut self, e: Event) {
        self.events.push(e);
    }

    /// The oldest event not yet taken. None is ever dropped, however long the owner waits
    /// (see events.rs for why the queue cannot fill).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    fn close_with(&mut self, reason: CloseReason) {
        self.set_state(State::Closed);
        self.timers.retransmit.stop();
        self.timers.delayed_ack.stop();
        self.ack_now = false;
        self.timers.time_wait.stop();
        self.push_event(Event::Closed(reason));
    }

    // ---- application side ----

    /// Queues data to send; returns how much fit.
    pub fn send(&mut self, data: &[u8]) -> usize {
        if !matches!(
            self.state,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        ) || self.fin_queued
        {
            return 0;
        }
        let n = data.len().min(self.send_capacity());
        self.send_buf.extend(&data[..n]);
        n
    }

    /// Bytes `send` would accept now.
    pub fn send_capacity(&self) -> usize {
        self.cfg.send_buffer - self.send_buf.len()
    }

    /// Reads in-order data; returns how much.
    pub fn recv(&mut self, buf: &mut [u8]) -> usize {
        let n = self.recv_buf.pop(buf);
        // A window that reading has opened a lot is announced at once (RFC 9293
        // §3.8.6.2.2): when it at least doubles and grows by the SWS threshold. That
        // covers reopening a closed window.
        if n > 0 && self.synchronized() {
            let advertised = self.rcv_adv - self.rcv_nxt;
            let possible = self.rcv_wnd();
            if possible >= 2 * advertised && possible - advertised >= self.sws_threshold() {
                self.ack_now = true;
            }
        }
        n
    }

    pub fn recv_available(&self) -> usize {
        self.recv_buf.len()
    }

    /// The peer has closed its side and every byte it sent has been read.
    pub fn peer_done(&self) -> bool {
        self.peer_fin && self.recv_buf.is_empty()
    }

    /// Closes our side: a FIN follows the queued data.
    pub fn close(&mut self) {
        match self.state {
            // RFC 9293 §3.10.4 deletes a SYN_SENT TCB on CLOSE; with data already queued
            // that would drop it silently, so the FIN waits for the handshake instead.
            State::SynSent if !self.send_buf.is_empty() => self.fin_queued = true,
            State::SynSent | State::Listen => self.close_with(CloseReason::Fin),
            State::SynReceived | State::Established | State::CloseWait => self.fin_queued = true,
            _ => {}
        }
    }

    /// Aborts: a RST goes out and the connection is closed. In SYN_SENT nothing was
    /// received, so there is nobody to reset (RFC 9293 §3.10.5): it just closes.
    pub fn abort(&mut self) {
        match self.state {
            State::Closed | State::Listen | State::TimeWait => {}
            State::SynSent => self.close_with(CloseReason::Rst),
            _ => self.send_rst = Some(CloseReason::Rst),
        }
    }

    // ---- segment arrival, RFC 9293 §3.10.7.4 ----

    pub fn handle_segment(&mut self, now: Instant, seg: &Segment) {
        match self.state {
            State::Closed | State::Listen => {}
            State::SynSent => self.in_syn_sent(now, seg),
            _ => self.in_synchronized(now, seg),
        }
    }

    /// RFC 9293 §3.10.7.3.
    fn in_syn_sent(&mut self, now: Instant, seg: &Segment) {
        let f = seg.flags;
        let ack_ok = f.contains(TcpFlags::ACK) && seg.ack > self.iss && seg.ack <= self.snd_nxt;
        if f.contains(TcpFlags::ACK) && !ack_ok {
            if !f.contains(TcpFlags::RST) {
                self.send_rst_for_ack = Some(seg.ack);
            }
            return;
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
        self.rcv_adv = self.rcv_nxt;
        if seg.options.window_scale.is_none() {
            self.rcv_shift = 0;
            self.snd_shift = 0;
        } else {
            self.snd_shift = seg.options.window_scale.unwrap_or(0).min(14);
        }
        self.set_peer_mss(seg.options.mss);
        if ack_ok {
            self.ack_advances(now, seg.ack);
            // The window in a SYN is never scaled (RFC 7323 §2.2).
            self.snd_wnd = u32::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.set_state(State::Established);
            self.push_event(Event::Connected);
            self.ack_now = true;
        } else {
            // Simultaneous open: both sides sent SYN.
            self.snd_wnd = u32::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.set_state(State::SynReceived);
            self.syn_sent = true;
            self.snd_nxt = self.iss;
            self.timers.retransmit.stop();
        }
    }

    /// Free space in the receive buffer: the most we could advertise.
    fn rcv_wnd(&self) -> usize {
        self.recv_buf.free()
    }

    /// RFC 9293 §3.8.6.2.2: the window's right edge moves only in steps of at least
    /// min(buffer / 2, MSS).
    fn sws_threshold(&self) -> usize {
        (self.cfg.recv_buffer / 2).min(usize::from(self.cfg.mss))
    }

    fn synchronized(&self) -> bool {
        !matches!(
            self.state,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }

    /// RFC 9293 §3.10.7.4, first check: is the segment in the receive window?
    fn acceptable(&self, seg: &Segment) -> bool {
        let wnd = self.rcv_wnd();
        let len = seg.len();
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

    /// RFC 5961 §3.2, §4.2 and §7: answer with an ACK, at most `challenge_ack_limit` a
    /// second. The limit is per connection, so its count tells an off-path attacker
    /// nothing about other connections (a global one would).
    fn challenge_ack(&mut self, now: Instant) {
        if now.saturating_since(self.challenge_window) >= Duration::from_secs(1) {
            self.challenge_window = now;
            self.challenge_count = 0;
        }
        if self.challenge_count >= self.cfg.challenge_ack_limit {
            self.stats.challenge_acks_limited += 1;
            return;
        }
        self.challenge_count += 1;
        self.stats.challenge_acks += 1;
        self.ack_now = true;
    }

    fn in_synchronized(&mut self, now: Instant, seg: &Segment) {
        let f = seg.flags;
        if !self.acceptable(seg) {
            // RFC 9293 §3.10.7.4: with our window at zero no segment is acceptable, "but
            // special allowance should be made to accept valid ACKs": without it a
            // window probe's ACK of our data would be lost, and both sides could wait.
            let only_window =
                self.rcv_wnd() == 0 && seg.seq.in_range(self.rcv_nxt, self.rcv_nxt + 65536);
            if only_window
                && f.contains(TcpFlags::ACK)
                && !f.intersects(TcpFlags::RST | TcpFlags::SYN)
            {
                self.process_ack(now, seg);
            }
            if !f.contains(TcpFlags::RST) {
                self.ack_now = true;
                if self.state == State::TimeWait && f.contains(TcpFlags::FIN) {
                    self.timers.time_wait.set(now + self.cfg.time_wait);
                }
            }
            return;
        }
        // RFC 9293 §3.10.7.4 second check, with RFC 5961 §3.2: only an exact RST resets.
        if f.contains(TcpFlags::RST) {
            if seg.seq == self.rcv_nxt {
                self.close_with(CloseReason::Rst);
            } else {
                self.challenge_ack(now);
            }
            return;
        }
        // RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK.
        if f.contains(TcpFlags::SYN) {
            self.challenge_ack(now);
            return;
        }
        if !f.contains(TcpFlags::ACK) {
            return;
        }
        if !self.process_ack(now, seg) {
            return;
        }
        if self.state == State::Closed {
            return;
        }
        self.process_data(now, seg);
        if f.contains(TcpFlags::FIN) {
            let fin_at = seg.seq + seg.payload.len();
            if fin_at == self.rcv_nxt {
                self.process_fin(now);
            } else if fin_at > self.rcv_nxt && !self.peer_fin {
                // Out of order: it takes effect once the data before it is in.
                self.peer_fin_at = Some(fin_at);
            }
        }
        if self.peer_fin_at == Some(self.rcv_nxt) && !self.peer_fin {
            self.peer_fin_at = None;
            self.process_fin(now);
        }
    }

    /// Returns false if the segment is to be dropped.
    fn process_ack(&mut self, now: Instant, seg: &Segment) -> bool {
        // RFC 5961 §5.2: an ACK for what was never sent is answered and not processed;
        // so is one older than SND.UNA - MAX.SND.WND.
        let too_old = self.state != State::SynReceived
            && self.snd_una.since(seg.ack) > self.max_snd_wnd.max(1) as i32;
        if seg.ack > self.snd_max || too_old {
            self.challenge_ack(now);
            return false;
        }
        // The peer is alive: whatever it says, the window probes were answered.
        self.probes_unanswered = 0;
        let wnd = u32::from(seg.window) << self.snd_shift;
        if self.state == State::SynReceived {
            if seg.ack > self.snd_una {
                self.ack_advances(now, seg.ack);
                self.set_state(State::Established);
                self.push_event(Event::Connected);
            } else {
                self.send_rst_for_ack = Some(seg.ack);
                return false;
            }
        } else if seg.ack > self.snd_una {
            self.ack_advances(now, seg.ack);
        } else if seg.ack == self.snd_una
            && seg.payload.is_empty()
            && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::FIN)
            && wnd == self.snd_wnd
            && wnd > 0
            && self.snd_max > self.snd_una
        {
            // RFC 5681 §2: a duplicate ACK. (One that keeps the window closed answers a
            // window probe: it says the receiver's buffer is full, not that data was
            // lost, and nothing could be sent into that window anyway.)
            let r = self.cc.on_dup_ack(self.flight());
            self.react(r);
        }
        // Window update (RFC 9293 §3.10.7.4, SND.WL1/SND.WL2).
        if self.snd_wl1 < seg.seq || (self.snd_wl1 == seg.seq && self.snd_wl2 <= seg.ack) {
            self.snd_wnd = wnd;
            self.max_snd_wnd = self.max_snd_wnd.max(wnd);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
        }
        // Our FIN acknowledged?
        if self.fin_sent && self.snd_una == self.snd_nxt {
            match self.state {
                State::FinWait1 => self.set_state(State::FinWait2),
                State::Closing => self.enter_time_wait(now),
                State::LastAck => {
                    self.close_with(CloseReason::Fin);
                    return false;
                }
                _ => {}
            }
        }
        true
    }

    /// SND.UNA moves to `ack`: drop acknowledged bytes, take an RTT sample, re-arm the
    /// retransmission timer.
    fn ack_advances(&mut self, now: Instant, ack: SeqNumber) {
        let mut acked = ack - self.snd_una;
        if self.syn_sent && acked > 0 {
            self.syn_sent = false;
            acked -= 1;
        }
        let data = acked.min(self.send_buf.len());
        self.send_buf.drain(..data);
        self.snd_una = ack;
        // After a go-back-N restart the peer may acknowledge past SND.NXT what it had
        // kept out of order: carry on from there.
        if ack > self.snd_nxt {
            self.snd_nxt = ack;
            if self.fin_seq.is_some_and(|f| ack > f) {
                self.fin_sent = true;
            }
        }
        if acked > 0 {
            let r = self.cc.on_ack(acked, self.flight());
            self.react(r);
        }
        self.rtt.on_ack(ack, now, self.rto_bounds());
        // An ACK of new data ends the back-off.
        if self.retries > 0 {
            self.rtt.end_back_off(self.rto_bounds());
        }
        self.retries = 0;
        if self.snd_nxt > self.snd_una {
            self.timers.retransmit.set(now + self.rtt.rto());
        } else {
            self.timers.retransmit.stop();
        }
    }

    /// What is sent and not yet acknowledged, for the congestion controller.
    fn flight(&self) -> Flight {
        Flight {
            snd_una: self.snd_una,
            snd_max: self.snd_max,
        }
    }

    /// Does what the congestion controller asks after an ACK: resend the segment at
    /// SND.UNA on a fast retransmit (RFC 5681 §3.2) or a partial ACK (RFC 6582 §3.2).
    fn react(&mut self, r: Reaction) {
        match r {
            Reaction::Nothing => {}
            Reaction::FastRetransmit => {
                self.fast_rexmit = true;
                self.rtt.forget_timed();
                self.stats.fast_retransmits += 1;
            }
            Reaction::PartialAck => self.fast_rexmit = true,
        }
    }

    fn process_data(&mut self, now: Instant, seg: &Segment) {
        if seg.payload.is_empty()
            || !matches!(
                self.state,
                State::Established | State::FinWait1 | State::FinWait2
            )
        {
            return;
        }
        // Trim what we already have.
        let skip = self.rcv_nxt - seg.seq;
        if skip >= seg.payload.len() {
            // All old: the peer missed our ACK.
            self.ack_now = true;
            return;
        }
        let start = seg.seq + skip;
        let data = &seg.payload[skip..];
        let off = start - self.rcv_nxt;
        if off > 0 {
            // Out of order: keep what fits in the window for reassembly, and send an
            // immediate duplicate ACK for each such segment (RFC 5681 §4.2), so that the
            // peer can count three and retransmit fast.
            self.stats.out_of_order += 1;
            let n = self.recv_buf.write_at(off, data);
            if n > 0 {
                // With no range free the bytes are forgotten; the peer sends them again.
                let _ = self.ooo.insert(start, start + n);
            }
            self.dup_acks_due = (self.dup_acks_due + 1).min(8);
            self.ack_now = true;
            return;
        }
        let n = self.recv_buf.write_at(0, data);
        self.recv_buf.commit(n);
        self.rcv_nxt += n;
        let filled_hole = !self.ooo.is_empty();
        // RCV.NXT moves over every held range it has reached.
        let next = self.ooo.advance(self.rcv_nxt);
        self.recv_buf.commit(next - self.rcv_nxt);
        self.rcv_nxt = next;
        if n > 0 {
            self.push_event(Event::Readable);
        }
        // RFC 9293 §3.8.6.3 / RFC 5681 §4.2: delay the ACK, but at least every second
        // full-sized segment gets one at once, and so does a segment that fills a hole.
        self.unacked_segments += 1;
        if self.unacked_segments >= 2 || n < data.len() || filled_hole {
            self.ack_now = true;
        } else {
            self.timers
                .delayed_ack
                .set_if_idle(now + self.cfg.delayed_ack);
        }
    }

    fn process_fin(&mut self, now: Instant) {
        if self.peer_fin {
            // A retransmitted FIN: acknowledge it again.
            self.ack_now = true;
            if self.state == State::TimeWait {
                self.timers.time_wait.set(now + self.cfg.time_wait);
            }
            return;
        }
        self.peer_fin = true;
        self.rcv_nxt += 1;
        self.ack_now = true;
        self.push_event(Event::PeerClosed);
        match self.state {
            State::SynReceived | State::Established => self.set_state(State::CloseWait),
            State::FinWait1 => {
                if self.fin_sent && self.snd_una == self.snd_nxt {
                    self.enter_time_wait(now);
                } else {
                    self.set_state(State::Closing);
                }
            }
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.set_state(State::TimeWait);
        self.timers.retransmit.stop();
        self.timers.time_wait.set(now + self.cfg.time_wait);
        // Nothing more is sent or taken in: a connection lingering in TIME_WAIT (an
        // active closer may hold thousands) needs only its sequence numbers, and its
        // owner takes the buffers back (`take_buffers`) once the application has read
        // what is left.
    }

    /// The buffers, once the connection no longer needs them: in TIME_WAIT or CLOSED,
    /// after the application has read every byte that arrived. Taken once; the
    /// connection then owns no buffer memory.
    pub fn take_buffers(&mut self) -> Option<Buffers> {
        let done = matches!(self.state, State::TimeWait | State::Closed);
        if !done || !self.recv_buf.is_empty() || self.recv_buf.capacity() <= 1 {
            return None;
        }
        let mut b = Buffers {
            send: std::mem::take(&mut self.send_buf),
            recv: std::mem::replace(&mut self.recv_buf, Ring::none()),
        };
        b.clear();
        Some(b)
    }

    /// Hands back whatever buffer memory the connection still holds, emptied, whatever
    /// its state (for a connection about to be dropped).
    pub fn release_buffers(&mut self) -> Buffers {
        let mut b = Buffers {
            send: std::mem::take(&mut self.send_buf),
            recv: std::mem::replace(&mut self.recv_buf, Ring::none()),
        };
        b.clear();
        b
    }

    /// The highest sequence number sent: a new connection on the same ports must start
    /// above it (RFC 6191).
    pub fn snd_max(&self) -> SeqNumber {
        self.snd_max
    }

    // ---- timers ----

    /// The peer's window has room again: no probing, and the persist back-off and the
    /// probe count start over.
    fn window_opened(&mut self) {
        self.timers.window_opened();
        self.probe_due = false;
        self.probes_unanswered = 0;
    }

    /// The peer has closed its window on data we have to send (sent or not).
    fn window_closed_on_data(&self) -> bool {
        self.synchronized() && self.snd_wnd == 0 && !self.send_buf.is_empty()
    }

    /// Something can be sent right now.
    fn wants_transmit(&self) -> bool {
        if self.send_rst.is_some()
            || self.send_rst_for_ack.is_some()
            || self.ack_now
            || self.fast_rexmit
        {
            return true;
        }
        match self.state {
            State::SynSent | State::SynReceived => self.syn_sent && self.snd_nxt == self.iss,
            State::Established
            | State::CloseWait
            | State::FinWait1
            | State::Closing
            | State::LastAck => {
                let (_, unsent) = self.send_progress();
                self.probe_due
                    || self.sendable() > 0
                    || (self.fin_queued && !self.fin_sent && unsent == 0)
            }
            _ => false,
        }
    }

    /// When `handle_timeout` or `poll_transmit` next has work: `Instant::ZERO` means now.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.wants_transmit() {
            return Some(Instant::ZERO);
        }
        self.timers.next_deadline()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timers.time_wait.expired(now) {
            self.close_with(CloseReason::Fin);
            return;
        }
        if self.timers.delayed_ack.expired(now) {
            self.timers.delayed_ack.stop();
            self.ack_now = true;
        }
        if self.timers.persist_fired(now) {
            // RFC 1122 §4.2.2.17: probes the peer acknowledges may go on for ever; only
            // `max_retries` unanswered ones in a row give up.
            if self.probes_unanswered >= self.cfg.max_retries {
                self.send_rst = Some(CloseReason::Timeout);
                return;
            }
            self.probe_due = true;
        }
        if self.timers.retransmit.expired(now) && self.window_closed_on_data() {
            // Data sent into a window that the peer has since closed, and dropped: this
            // is no sign of a dead peer, and resending it is a window probe. Go back to
            // SND.UNA and send the first probe now; from here the persist timer runs, the
            // RTO does not back off and no retry is counted (as in Linux, whose
            // retransmissions into a zero window become window probes).
            self.timers.retransmit.stop();
            self.rtt.forget_timed();
            self.cc.on_timeout(self.flight());
            self.fast_rexmit = false;
            self.snd_nxt = self.snd_una;
            self.fin_sent = false;
            self.probe_due = true;
            return;
        }
        if self.timers.retransmit.expired(now) {
            self.retries += 1;
            self.stats.timeouts += 1;
            let limit = if self.synchronized() {
                self.cfg.max_retries
            } else {
                self.cfg.syn_retries
            };
            if self.retries > limit {
                if self.state == State::SynSent {
                    // Nothing was ever received: nobody to reset.
                    self.close_with(CloseReason::Timeout);
                } else {
                    self.send_rst = Some(CloseReason::Timeout);
                }
                return;
            }
            // RFC 6298 §5.5–5.7: back off, forget the sample in flight (Karn), resend
            // from SND.UNA. RFC 5681 §3.1: halve ssthresh, restart from the loss window.
            self.rtt.back_off(self.rto_bounds());
            // (Before the handshake completes there is no flight and nothing to change.)
            if self.synchronized() {
                self.cc.on_timeout(self.flight());
            }
            self.fast_rexmit = false;
            self.snd_nxt = self.snd_una;
            self.fin_sent = false;
            self.timers.retransmit.set(now + self.rtt.rto());
        }
    }

    // ---- transmission ----

    /// What the window lets us send with `in_flight` bytes out: the smaller of the
    /// peer's window and the congestion window.
    fn send_room(&self, in_flight: usize) -> usize {
        (self.snd_wnd as usize)
            .min(self.cc.window())
            .saturating_sub(in_flight)
    }

    /// The window to advertise now, with receiver SWS avoidance (RFC 9293 §3.8.6.2.2):
    /// the right edge moves only by at least the SWS threshold, and never backwards.
    fn window_to_advertise(&self) -> usize {
        let free = self.rcv_wnd();
        let current = (self.rcv_adv - self.rcv_nxt).min(free);
        let wnd = if free - current >= self.sws_threshold() || free == self.cfg.recv_buffer {
            free
        } else {
            current
        };
        // What the scaled 16-bit field can say.
        let max = usize::from(u16::MAX) << self.rcv_shift;
        wnd.min(max) >> self.rcv_shift << self.rcv_shift
    }

    fn syn_options(&self, syn_ack: bool) -> TcpOptions {
        let offer_ws = !syn_ack || self.rcv_shift > 0 || self.snd_shift > 0;
        TcpOptions {
            mss: Some(self.cfg.mss),
            window_scale: offer_ws.then_some(self.rcv_shift),
            ..TcpOptions::default()
        }
    }

    /// Emits what is due now. `emit` gets a header and the payload as up to two slices; it
    /// returns false when no transmit buffer is free, and then nothing counts as sent.
    pub fn poll_transmit(&mut self, now: Instant, emit: &mut Emit) {
        if let Some(ack) = self.send_rst_for_ack.take() {
            let h = SegmentHeader {
                seq: ack,
                ack: SeqNumber(0),
                flags: TcpFlags::RST,
                window: 0,
                options: TcpOptions::default(),
            };
            emit(&h, &[], &[]);
        }
        if let Some(reason) = self.send_rst.take() {
            let h = SegmentHeader {
                // As a pure ACK (below): after a go-back-N restart SND.NXT may lie below
                // the peer's RCV.NXT, and there a RST is dropped unseen (RFC 5961 §3.2),
                // leaving the peer's connection open; at SND.MAX it is exact or draws a
                // challenge ACK, which our RST for no connection then answers exactly.
                seq: self
                    .snd_max
                    .min_seq(self.snd_una + self.snd_wnd as usize)
                    .max_seq(self.snd_nxt),
                ack: self.rcv_nxt,
                flags: TcpFlags::RST | TcpFlags::ACK,
                window: 0,
                options: TcpOptions::default(),
            };
            emit(&h, &[], &[]);
            self.close_with(reason);
            return;
        }
        match self.state {
            State::SynSent | State::SynReceived => {
                // Before ESTABLISHED the only acknowledgment is the SYN-ACK: a segment
                // that asks for one here (a retransmitted SYN, anything "not
                // acceptable", RFC 9293 §3.10.7.4) gets the SYN-ACK again, as in Linux;
                // in SYN_SENT there is nothing to acknowledge yet. Either way the request
                // is served now: left set, it would keep `poll_timeout` at "now".
                let again = self.ack_now
                    && self.state == State::SynReceived
                    && self.snd_nxt == self.iss + 1;
                self.ack_now = false;
                if again {
                    self.snd_nxt = self.iss;
                }
                if self.syn_sent && self.snd_nxt == self.iss {
                    let syn_ack = self.state == State::SynReceived;
                    let h = SegmentHeader {
                        seq: self.iss,
                        ack: if syn_ack { self.rcv_nxt } else { SeqNumber(0) },
                        flags: if syn_ack {
                            TcpFlags::SYN | TcpFlags::ACK
                        } else {
                            TcpFlags::SYN
                        },
                        window: self.rcv_wnd().min(usize::from(u16::MAX)) as u16,
                        options: self.syn_options(syn_ack),
                    };
                    if emit(&h, &[], &[]) {
                        // Karn: only the first transmission of the SYN is timed.
                        if self.snd_max == self.iss {
                            self.rtt.time_segment(self.iss + 1, now);
                        } else {
                            self.stats.retransmits += 1;
                        }
                        self.snd_nxt = self.iss + 1;
                        self.snd_max = self.snd_nxt;
                        self.timers.retransmit.set_if_idle(now + self.rtt.rto());
                    }
                }
                return;
            }
            State::Closed | State::Listen => return,
            _ => {}
        }
        self.transmit_data(now, emit);
        if self.ack_now {
            // One ACK, or one per out-of-order segment received since the last.
            for _ in 0..self.dup_acks_due.max(1) {
                let mut h = self.ack_header(TcpFlags::ACK);
                // A pure ACK carries SND.MAX: after a go-back-N restart SND.NXT may lie
                // below what the peer has already received, and the peer would find an
                // ACK at SND.NXT unacceptable and drop it (RFC 9293 §3.10.7.4). But not
                // past the peer's window (a window probe's byte it refused), where it
                // would be unacceptable too.
                h.seq = self
                    .snd_max
                    .min_seq(self.snd_una + self.snd_wnd as usize)
                    .max_seq(self.snd_nxt);
                if !emit(&h, &[], &[]) {
                    return;
                }
            }
            self.acked_now();
        }
    }

    /// The header of a segment at SND.NXT; it advertises the window and records it.
    fn ack_header(&mut self, flags: TcpFlags) -> SegmentHeader {
        let wnd = self.window_to_advertise();
        let edge = self.rcv_nxt + wnd;
        if edge > self.rcv_adv {
            self.rcv_adv = edge;
        }
        SegmentHeader {
            seq: self.snd_nxt,
            ack: self.rcv_nxt,
            flags,
            window: (wnd >> self.rcv_shift) as u16,
            options: TcpOptions::default(),
        }
    }

    fn acked_now(&mut self) {
        self.ack_now = false;
        self.dup_acks_due = 0;
        self.timers.delayed_ack.stop();
        self.unacked_segments = 0;
    }

    /// Bytes sent and not yet acknowledged, and bytes queued and not yet sent.
    fn send_progress(&self) -> (usize, usize) {
        let in_flight = self.snd_nxt - self.snd_una;
        let sent_data = in_flight - usize::from(self.fin_sent);
        (in_flight, self.send_buf.len().saturating_sub(sent_data))
    }

    /// How many new bytes to send now, with sender SWS avoidance (RFC 9293 §3.8.6.2.1):
    /// a full segment, or everything queued (there is no Nagle delay: the applications
    /// here are request/response), or half the largest window the peer offered. With
    /// nothing in flight no ACK will come to open more room, so what fits goes anyway.
    fn sendable(&self) -> usize {
        let (in_flight, unsent) = self.send_progress();
        let mss = self.smss();
        let n = unsent.min(mss).min(self.send_room(in_flight));
        let worth_it =
            n == mss || n == unsent || n >= (self.max_snd_wnd as usize) / 2 || in_flight == 0;
        if worth_it {
            n
        } else {
            0
        }
    }

    fn sending_state(&self) -> bool {
        matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        )
    }

    /// Sends the segment at SND.UNA again (fast retransmit, or a NewReno partial ACK),
    /// without moving SND.NXT.
    fn retransmit_first(&mut self, emit: &mut Emit) {
        let (in_flight, _) = self.send_progress();
        if in_flight == 0 {
            return;
        }
        let n = self.smss().min(self.send_buf.len()).min(in_flight);
        let fin = self.fin_sent && n + 1 == in_flight;
        let mut h = self.ack_header(if fin {
            TcpFlags::FIN | TcpFlags::ACK
        } else {
            TcpFlags::ACK
        });
        h.seq = self.snd_una;
        let (a, b) = self.send_buf.as_slices();
        let first = n.min(a.len());
        if emit(&h, &a[..first], &b[..n - first]) {
            self.stats.retransmits += 1;
            self.acked_now();
        }
    }

    fn transmit_data(&mut self, now: Instant, emit: &mut Emit) {
        if !self.sending_state() {
            self.fast_rexmit = false;
            return;
        }
        if self.fast_rexmit {
            self.fast_rexmit = false;
            self.retransmit_first(emit);
        }
        loop {
            let (in_flight, unsent) = self.send_progress();
            let sent_data = in_flight - usize::from(self.fin_sent);
            let mut n = self.sendable();
            // RFC 9293 §3.8.6.1: data waiting on a window that has no room, with nothing in
            // flight to bring an ACK back, starts the persist timer; when it fires, one
            // byte goes out as a window probe.
            let closed = n == 0 && unsent > 0 && in_flight == 0;
            let probe = closed && self.probe_due;
            if n > 0 {
                self.window_opened();
            } else if probe {
                n = 1;
            } else if closed {
                self.timers
                    .arm_persist(now, self.rtt.rto(), self.cfg.rto_max);
            } else {
                self.probe_due = false;
            }
            if n == 0 {
                break;
            }
            let mut flags = TcpFlags::ACK;
            if n == unsent {
                flags |= TcpFlags::PSH;
            }
            let h = self.ack_header(flags);
            let (a, b) = self.send_buf.as_slices();
            let (p1, p2) = if sent_data >= a.len() {
                let off = sent_data - a.len();
                (&b[off..off + n], &b[..0])
            } else {
                let first = (a.len() - sent_data).min(n);
                (&a[sent_data..sent_data + first], &b[..n - first])
            };
            if !emit(&h, p1, p2) {
                return;
            }
            if probe {
                // The probe's byte is not in flight: SND.NXT stays at SND.UNA, nothing is
                // timed, and the retransmission timer is not armed. The peer answers it
                // with an ACK whether or not it takes the byte; the persist timer, not the
                // retransmission timer, sends the next probe (RFC 1122 §4.2.2.17).
                self.probe_due = false;
                self.probes_unanswered += 1;
                self.stats.window_probes += 1;
                let end = self.snd_nxt + 1;
                if end > self.snd_max {
                    self.snd_max = end;
                }
                self.acked_now();
                self.timers
                    .arm_persist(now, self.rtt.rto(), self.cfg.rto_max);
                break;
            }
            if self.snd_nxt < self.snd_max {
                self.stats.retransmits += 1;
            } else {
                // Karn: time only data sent for the first time.
                self.rtt.time_segment(self.snd_nxt + n, now);
            }
            self.snd_nxt += n;
            if self.snd_nxt > self.snd_max {
                self.snd_max = self.snd_nxt;
            }
            self.acked_now();
            self.timers.retransmit.set_if_idle(now + self.rtt.rto());
        }
        // The FIN follows the last byte of data (and may have to wait for the window).
        let all_sent = self.snd_nxt - self.snd_una == self.send_buf.len();
        if self.fin_queued && !self.fin_sent && all_sent {
            let h = self.ack_header(TcpFlags::FIN | TcpFlags::ACK);
            if emit(&h, &[], &[]) {
                if self.snd_nxt < self.snd_max {
                    self.stats.retransmits += 1;
                }
                self.fin_sent = true;
                self.fin_seq = Some(self.snd_nxt);
                self.snd_nxt += 1;
                if self.snd_nxt > self.snd_max {
                    self.snd_max = self.snd_nxt;
                }
                self.acked_now();
                self.timers.retransmit.set_if_idle(now + self.rtt.rto());
                match self.state {
                    State::Established | State::SynReceived => self.set_state(State::FinWait1),
                    State::CloseWait => self.set_state(State::LastAck),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
