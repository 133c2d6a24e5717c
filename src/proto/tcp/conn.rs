//! proto/tcp/conn: one TCP connection (the TCB of RFC 9293 §3.3.1), sans-IO: segments and
//! `now` in, segments and events out. It owns the state, the sequence variables of both
//! sides and the two buffers, and runs the state machine; each other concern is a small
//! type of its own that the TCB holds:
//! - `rtt`: the RTO from SRTT/RTTVAR, Karn's rule and back-off (RFC 6298);
//! - `congestion`: the congestion window behind a trait, NewReno (RFC 5681, RFC 6582,
//!   RFC 6928) with RFC 6675's window for SACK recoveries, held as a concrete type;
//! - `assembler`: where the out-of-order data lies (as many ranges as the receive
//!   buffer has room for, see `assembler::ranges_for`) and the SACK blocks reporting it;
//! - `scoreboard`: with SACK, every segment in flight and what became of it (RFC 6675,
//!   RACK of RFC 8985);
//! - `timers`: the retransmission, persist, delayed-ACK, TIME_WAIT, loss-probe and
//!   reordering deadlines;
//! - `events`: the queue behind `poll_event`, which never drops a state change.
//!
//! What it does:
//! - passive and active open, simultaneous open included;
//! - data both ways with flow control, window scaling, and silly-window avoidance on both
//!   sides (RFC 9293 §3.8.6.2);
//! - reassembly of out-of-order segments, bounded by the receive window, each answered
//!   with an immediate duplicate ACK of its own (however many arrive between two
//!   transmissions, up to [`ACK_CAUSES`]), and an immediate ACK when a hole fills;
//! - SACK (RFC 2018) when both SYNs permit it: blocks in every ACK while data is held
//!   out of order, the first holding the segment that triggered the ACK, then the most
//!   recently reported; D-SACK (RFC 2883) for every duplicate that arrives; our data
//!   segments leave room for the blocks within the MSS;
//! - delayed ACKs (at most `delayed_ack`, and at least every second full segment);
//! - retransmission on timeout per RFC 6298 (SRTT/RTTVAR, Karn's rule, exponential back-off,
//!   a configurable minimum, a one-segment loss window): go-back-N from SND.UNA without
//!   SACK; with SACK everything not SACKed is marked lost and sent again in order
//!   (RFC 6675 §5.1);
//! - without SACK, fast retransmit and NewReno recovery on three duplicate ACKs (RFC 5681,
//!   RFC 6582);
//! - with SACK, RFC 6675 loss recovery (`IsLost`, `pipe`, `NextSeg` rules 1 to 3), RACK's
//!   time-based loss detection, lost retransmissions included, and tail loss probes
//!   (RFC 8985); D-SACKs are counted and never taken for loss (no undo); reneging
//!   (RFC 2018 §8) is noticed and forgets the SACKs;
//! - the persist timer with one-byte zero-window probes (RFC 9293 §3.8.6.1), apart from
//!   the retransmission timer: a window the peer keeps closed while it acknowledges the
//!   probes may stay closed for ever (RFC 1122 §4.2.2.17);
//! - FIN in every state that sends or receives one, retransmitted like data, and
//!   TIME_WAIT for 2×MSL;
//! - RST processing with RFC 5961 challenge ACKs, rate-limited per connection;
//! - giving up with a RST after `max_retries` retransmissions, or as many window probes in
//!   a row that nobody acknowledges.
//!
//! - timestamps (RFC 7323) when both SYNs carry them: TSval and TSecr in every segment
//!   but a RST, TS.Recent by §4.3, PAWS by §5; RTT samples still come from our own
//!   clock (Karn's rule), since the 1 ms timestamp tick is coarser than a LAN's RTT.
//!
//! Invariants: the buffers are handed in at creation (`Buffers`: where they come from is
//! the stack's affair) and handed back by `take_buffers` in TIME_WAIT or CLOSED, by
//! `reclaim` whenever they are empty (an idle connection holds none; its owner `lend`s
//! it a set before it needs one again: `needs_buffers`), or by `release_buffers`;
//! `send_buf` holds exactly the bytes
//! from SND.UNA on (sent and unsent); `recv_buf` holds in-order bytes the application has
//! not read, and out-of-order bytes are written past them into its free space;
//! SND.UNA <= SND.NXT <= SND.MAX; with SACK the scoreboard's records tile
//! [SND.UNA, SND.NXT); every state transition moves forward (see `goes_forward`).
//!
//! Its tests are in `conn_tests.rs` (one per RFC rule) and `pair_tests.rs` (two
//! connections over a lossy simulated link).

use super::assembler::{ranges_for, sack_blocks, Assembler, Inserted, RecentBlocks, SACK_BLOCKS};
use super::buffers::Buffers;
use super::congestion::{Congestion, CongestionControl, Controller, Flight, Reaction};
use super::events::EventQueue;
use super::ring::Ring;
use super::rtt::{RtoBounds, RttEstimator};
use super::scoreboard::{records_for, Scoreboard, DUP_THRESH};
use super::seq::SeqNumber;
use super::timers::Timers;
use crate::time::Instant;
use crate::wire::tcp::MAX_OPTIONS_LEN;
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
    /// Offer and accept SACK (RFC 2018); with it, loss recovery is RFC 6675's with RACK
    /// and tail loss probes (RFC 8985), without it NewReno's (RFC 6582).
    pub sack: bool,
    /// The congestion controller: NewReno (the default) or BBR's model.
    pub congestion: Congestion,
    /// Offer and accept the timestamps option (RFC 7323): when both SYNs carry it,
    /// every segment but a RST carries TSval and TSecr, and PAWS discards old ones.
    pub timestamps: bool,
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
            sack: true,
            congestion: Congestion::NewReno,
            timestamps: true,
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
    /// Out-of-order segments not held: the out-of-order store had no range left.
    pub out_of_order_dropped: u64,
    /// ACKs received whose first SACK block reported a duplicate (RFC 2883 D-SACK).
    pub dsacks_received: u64,
    /// D-SACK blocks sent, reporting duplicates that arrived (RFC 2883).
    pub dsacks_sent: u64,
    /// SACK blocks received that were neither valid nor a D-SACK, and ignored.
    pub sack_blocks_ignored: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub loss_probes: u64,
    /// Times the peer dropped data it had SACKed (RFC 2018 §8 reneging).
    pub sack_reneged: u64,
    /// RFC 6675 rescue retransmissions (`NextSeg` rule 4): one a recovery at most.
    pub rescue_retransmits: u64,
    /// Segments discarded by PAWS (RFC 7323 §5): a timestamp older than the peer's
    /// latest.
    pub paws_rejected: u64,
}

/// The MSS of a peer that has not said (RFC 9293 §3.7.1).
const DEFAULT_MSS: u16 = 536;

/// ACKs a connection owes at most between two transmissions, each for one out-of-order
/// or duplicate segment (one receive batch is 64 frames); more are coalesced.
pub const ACK_CAUSES: usize = 64;

/// Why an immediate ACK is owed: an out-of-order segment that starts at `start` (the
/// first SACK block holds it), or, with `dsack`, a duplicate `[start, end)` (a D-SACK).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckCause {
    pub start: SeqNumber,
    pub end: SeqNumber,
    pub dsack: bool,
}

/// Quick ACKs at most (Linux's `TCP_MAX_QUICKACKS`).
const QUICK_ACKS: usize = 16;

/// RFC 8985 §7.2: a loss probe waits 2·SRTT, plus this (Linux's `TCP_TIMEOUT_MIN`).
const TLP_EXTRA: Duration = Duration::from_millis(2);

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
    /// Congestion control (RFC 5681, RFC 6582, RFC 6675).
    cc: Controller,
    /// The segment at SND.UNA is to be sent again now (NewReno), or with SACK the first
    /// one found lost, whatever cwnd says (RFC 6675 §5 step 4.3).
    fast_rexmit: bool,
    /// Both SYNs carried SACK-permitted (RFC 2018 §2): SACK blocks go both ways.
    sack_ok: bool,
    /// With SACK: every segment in flight, what the peer has SACKed, what is lost
    /// (RFC 6675, RACK). Empty without SACK.
    sb: Scoreboard,
    /// RFC 6675 §5.1: after a timeout no new recovery starts until SND.UNA reaches this.
    rto_recover: Option<SeqNumber>,
    /// RFC 6675's DupAcks: duplicate ACKs (or ones that SACK new data) since SND.UNA
    /// last moved.
    dup_acks: u32,
    /// RFC 8985 §7: the loss probe out, as SND.NXT when it went out and, if it was a
    /// retransmission, the range it sent again; until an ACK covers it.
    tlp: Option<(SeqNumber, Option<(SeqNumber, SeqNumber)>)>,
    /// The loss probe timer fired: a probe goes out now.
    tlp_due: bool,
    /// RFC 6675's RescueRxt: the recovery point of the recovery that sent its rescue
    /// retransmission; no other goes until SND.UNA passes it.
    rescue_rxt: Option<SeqNumber>,
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
    /// Immediate ACKs owed, one per out-of-order or duplicate segment (RFC 5681 §4.2,
    /// RFC 2018 §4, RFC 2883), oldest first; at most [`ACK_CAUSES`].
    ack_causes: Vec<AckCause>,
    /// The blocks our latest ACKs reported first (RFC 2018 §4).
    recent_sacks: RecentBlocks,
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
    /// Segments still to be acknowledged at once, without delay (Linux's quick-ACK mode):
    /// at the start, after a pause longer than the RTO, and after a duplicate arrived.
    quick_acks: u8,
    /// When the last data segment arrived (for the pause above).
    last_data_at: Option<Instant>,
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
    // Timestamps (RFC 7323).
    /// Both SYNs carried the timestamps option.
    ts_ok: bool,
    /// TS.Recent: the peer's timestamp to echo, and when it was taken (it is valid for
    /// 24 days of idleness, §5.5).
    ts_recent: u32,
    ts_recent_at: Instant,
    /// Our timestamp clock: milliseconds of `now` plus this offset (set by the owner,
    /// per address pair, so that it never runs backwards between incarnations).
    ts_offset: u32,
    /// TSval of the segments the current `poll_transmit` sends.
    ts_now: u32,
    /// Last.ACK.sent: the acknowledgment number of the latest segment we sent.
    last_ack_sent: SeqNumber,
}

impl Connection {
    fn new(cfg: TcpConfig, iss: SeqNumber, state: State, bufs: Buffers) -> Self {
        let Buffers {
            send,
            recv,
            ooo,
            sent,
            acks,
        } = bufs;
        // Made without buffers (`Buffers::none`), it gets them by `lend`, and its lists'
        // limits with them.
        let lent = recv.capacity() > 0;
        let (records, ranges) = if lent {
            (records_for(cfg.send_buffer), ranges_for(cfg.recv_buffer))
        } else {
            (0, 0)
        };
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
            cc: Controller::new(cfg.congestion, DEFAULT_MSS),
            fast_rexmit: false,
            sack_ok: false,
            sb: Scoreboard::from_deque(sent, records),
            rto_recover: None,
            dup_acks: 0,
            tlp: None,
            tlp_due: false,
            rescue_rxt: None,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            rcv_shift: 0,
            recv_buf: recv,
            ooo: Assembler::from_vec(ooo, ranges),
            peer_fin_at: None,
            rcv_adv: SeqNumber(0),
            ack_causes: acks,
            recent_sacks: RecentBlocks::default(),
            peer_fin: false,
            rtt: RttEstimator::new(cfg.rto_initial),
            timers: Timers::new(),
            retries: 0,
            ack_now: false,
            unacked_segments: 0,
            quick_acks: 0,
            last_data_at: None,
            send_rst: None,
            probe_due: false,
            probes_unanswered: 0,
            send_rst_for_ack: None,
            challenge_count: 0,
            challenge_window: Instant::ZERO,
            events: EventQueue::new(),
            stats: ConnStats::default(),
            ts_ok: false,
            ts_recent: 0,
            ts_recent_at: Instant::ZERO,
            ts_offset: 0,
            ts_now: 0,
            last_ack_sent: SeqNumber(0),
            cfg,
        }
    }

    /// Sets the offset of our timestamp clock (RFC 7323 §7.1: random per address pair
    /// rather than the bare clock, and never lower for a later incarnation). Before the
    /// first `poll_transmit`.
    pub fn set_ts_offset(&mut self, offset: u32) {
        self.ts_offset = offset;
    }

    /// Our TSval at `now`: a clock of 1 ms a tick (RFC 7323 §5.4).
    fn ts_value(&self, now: Instant) -> u32 {
        (now.as_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// RFC 7323 §3.2: the timestamps option holds when both SYNs carried it; TS.Recent
    /// starts at the SYN's TSval.
    fn take_syn_timestamp(&mut self, now: Instant, o: &TcpOptions) {
        self.ts_ok = self.cfg.timestamps && o.timestamps.is_some();
        if let Some((val, _)) = o.timestamps.filter(|_| self.ts_ok) {
            self.ts_recent = val;
            self.ts_recent_at = now;
        }
    }

    /// Bytes the timestamps option takes in every segment (NOP, NOP, kind, length, two
    /// words), none without it.
    fn ts_len(&self) -> usize {
        if self.ts_ok {
            12
        } else {
            0
        }
    }

    /// RFC 7323 §5.3 R1 (PAWS): a segment whose TSval is older than TS.Recent is an old
    /// duplicate, unless TS.Recent has gone stale (24 days without a segment, §5.5).
    fn paws_rejects(&self, now: Instant, seg: &Segment) -> bool {
        let Some((val, _)) = seg.options.timestamps else {
            return false;
        };
        self.ts_ok
            && !seg.flags.contains(TcpFlags::RST)
            && self.older_than_ts_recent(val)
            && !self.ts_recent_stale(now)
    }

    /// Whether timestamp `val` comes before TS.Recent, in the 2^31 window of RFC 7323
    /// §5.2 (as sequence numbers compare).
    fn older_than_ts_recent(&self, val: u32) -> bool {
        (val.wrapping_sub(self.ts_recent) as i32) < 0
    }

    /// RFC 7323 §5.5: TS.Recent is invalid after 24 days without a segment to take it
    /// from (the peer's clock may have wrapped since).
    fn ts_recent_stale(&self, now: Instant) -> bool {
        const STALE: Duration = Duration::from_secs(24 * 24 * 3600);
        now.saturating_since(self.ts_recent_at) >= STALE
    }

    /// RFC 7323 §4.3 (2): an acceptable segment's TSval becomes TS.Recent when it is not
    /// older and the segment starts at or before what we last acknowledged (so that a
    /// delayed or out-of-order segment's timestamp is not the one echoed).
    fn take_timestamp(&mut self, now: Instant, seg: &Segment) {
        let Some((val, _)) = seg.options.timestamps.filter(|_| self.ts_ok) else {
            return;
        };
        let newer = !self.older_than_ts_recent(val) || self.ts_recent_stale(now);
        if newer && seg.seq <= self.last_ack_sent {
            self.ts_recent = val;
            self.ts_recent_at = now;
        }
    }

    /// The timestamps option of a segment we send now, if the connection has it.
    fn ts_option(&self) -> Option<(u32, u32)> {
        self.ts_ok.then_some((self.ts_now, self.ts_recent))
    }

    /// Passive open: a listener got `syn` and creates the connection in SYN_RCVD; the
    /// SYN-ACK goes out at the next `poll_transmit`.
    pub fn accept(cfg: TcpConfig, now: Instant, iss: u32, syn: &Segment, bufs: Buffers) -> Self {
        let mut c = Connection::new(cfg, SeqNumber(iss), State::Listen, bufs);
        c.irs = syn.seq;
        c.rcv_nxt = syn.seq + 1;
        c.rcv_adv = c.rcv_nxt;
        c.take_syn_timestamp(now, &syn.options);
        c.take_syn_options(&syn.options);
        c.last_ack_sent = c.rcv_nxt;
        c.snd_wnd = u32::from(syn.window);
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = syn.seq;
        c.set_state(State::SynReceived);
        c.syn_sent = true;
        c
    }

    /// Passive open from a SYN cookie (RFC 4987 §3.6): the SYN-ACK with ISS `iss` went
    /// out without a connection, for a SYN with sequence number `irs` and MSS
    /// `peer_mss`, without window scaling, and with SACK-permitted if `sack` (the cookie
    /// remembers whether the SYN offered it). The connection starts in SYN_RCVD as if it
    /// had sent that SYN-ACK; `handle_segment` with the returning ACK completes it.
    pub fn accept_cookie(
        cfg: TcpConfig,
        iss: u32,
        irs: u32,
        peer_mss: u16,
        sack: bool,
        bufs: Buffers,
    ) -> Self {
        let mut c = Connection::new(cfg, SeqNumber(iss), State::Listen, bufs);
        c.sack_ok = cfg.sack && sack;
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

    /// RFC 9293 §3.10.7.4 with RFC 6191 (RFC 1122 §4.2.2.13): a new SYN for a
    /// connection in TIME_WAIT may reopen it when its timestamp is newer than the old
    /// connection's last, or, without timestamps, when its sequence number is above
    /// everything the old connection received. As in Linux, either will do, as long as
    /// the timestamp is not older (which PAWS would reject).
    pub fn syn_may_reopen(&self, syn: &Segment) -> bool {
        if self.state != State::TimeWait {
            return false;
        }
        let newer_ts = match syn.options.timestamps.filter(|_| self.ts_ok) {
            Some((val, _)) if self.older_than_ts_recent(val) => return false,
            Some((val, _)) => val != self.ts_recent,
            None => false,
        };
        newer_ts || syn.seq > self.rcv_nxt
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

    /// RFC 9293 §3.7.1 (MSS, 536 when absent), RFC 7323 §2.2 (window scale only when
    /// both SYNs carry it) and RFC 2018 §2 (SACK only when both SYNs permit it).
    fn take_syn_options(&mut self, o: &TcpOptions) {
        self.set_peer_mss(o.mss);
        self.sack_ok = self.cfg.sack && o.sack_permitted;
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
        // RFC 6691: the MSS counts data only; the timestamps every segment carries come
        // out of it (as Linux's `mss_cache`).
        (self.peer_mss.min(self.cfg.mss) - self.ts_len() as u16).max(64)
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

    /// Both SYNs permitted SACK (RFC 2018 §2): SACK blocks flow both ways.
    pub fn sack_enabled(&self) -> bool {
        self.sack_ok
    }

    /// The sequence-space variables, for tests and traces.
    pub fn debug_vars(&self) -> String {
        format!(
            "{} una={} nxt={} max={} wnd={} cwnd={} ssthresh={} rcv_nxt={} ooo={} rto={:?} retries={} buf={}/{} fin_q={} fin_s={} sack={} records={} pipe={} sacked={} lost={} rto_rec={:?} tlp={:?} rec={} pto={:?} rto_at={:?}",
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
            self.fin_sent,
            self.sack_ok,
            self.sb.len(),
            self.sb.pipe(),
            self.sb.sacked_bytes(),
            self.sb.any_lost(),
            self.rto_recover,
            self.tlp,
            self.cc.in_recovery(),
            self.timers.loss_probe.deadline(),
            self.timers.retransmit.deadline(),
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
        self.timers.loss_probe.stop();
        self.timers.reorder.stop();
        self.ack_now = false;
        self.ack_causes.clear();
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
        self.last_ack_sent = self.rcv_nxt;
        self.take_syn_timestamp(now, &seg.options);
        if seg.options.window_scale.is_none() {
            self.rcv_shift = 0;
            self.snd_shift = 0;
        } else {
            self.snd_shift = seg.options.window_scale.unwrap_or(0).min(14);
        }
        self.set_peer_mss(seg.options.mss);
        //= https://www.rfc-editor.org/rfc/rfc2018#section-2
        //# The SACK-permitted option [...] may be sent in a SYN by a TCP that has
        //# been extended to receive (and presumably process) the SACK option once
        //# the connection has opened.
        self.sack_ok = self.cfg.sack && seg.options.sack_permitted;
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

    /// Free space in the receive buffer: the most we could advertise. An idle
    /// connection whose buffers were lent out (`reclaim`) gets a ring before anything
    /// arrives, so it advertises the whole configured one; one in TIME_WAIT or CLOSED
    /// whose buffers were taken takes nothing in any more.
    fn rcv_wnd(&self) -> usize {
        if self.has_buffers() {
            self.recv_buf.free()
        } else if matches!(self.state, State::TimeWait | State::Closed) {
            0
        } else {
            self.cfg.recv_buffer.max(1)
        }
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

    /// RFC 9293 §3.10.7.4, first check: is the segment in the receive window? The
    /// window reaches the furthest edge ever advertised (`rcv_adv`; a later, rounded-down
    /// advertisement may have moved it back) or what the buffer takes, whichever is
    /// further. A segment without data may sit on the right edge itself (as Linux
    /// allows): it is where a peer's pure ACK lies when its last data, filling the
    /// window, was lost, and dropping it would lose the ACK.
    fn acceptable(&self, seg: &Segment) -> bool {
        let wnd = self.rcv_wnd().max(self.rcv_adv - self.rcv_nxt);
        let len = seg.len();
        let end = self.rcv_nxt + wnd;
        match (len, wnd) {
            (0, 0) => seg.seq == self.rcv_nxt,
            (0, _) => seg.seq.in_range(self.rcv_nxt, end) || seg.seq == end,
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
        //= https://www.rfc-editor.org/rfc/rfc7323#section-5.3
        //# If the segment is not acceptable, send an acknowledgment
        //# in reply (unless the RST bit is set) and drop the segment.
        if self.paws_rejects(now, seg) {
            self.stats.paws_rejected += 1;
            self.ack_now = true;
            return;
        }
        if !self.acceptable(seg) {
            // RFC 9293 §3.10.7.4: with our window at zero no segment is acceptable, "but
            // special allowance should be made to accept valid ACKs": without it a
            // window probe's ACK of our data would be lost, and both sides could wait.
            let only_window =
                self.rcv_wnd() == 0 && seg.seq.in_range(self.rcv_nxt, self.rcv_nxt + 65536);
            // The peer's last segment again (our ACK of it was lost: its RTO, or a loss
            // probe) ends at RCV.NXT. Trimmed of what was received already, it is the
            // empty segment at RCV.NXT, which is acceptable (RFC 9293 §3.10.7.4 allows
            // trimming), and its ACK and SACK blocks are the peer's latest: taken, as
            // Linux takes them, they may end our own recovery at once. In LAST_ACK its
            // ACK would close the connection before our ACK of its FIN went out, so there
            // it waits for our FIN's retransmission as before.
            let last_again = !seg.is_empty()
                && seg.seq + seg.len() == self.rcv_nxt
                && !matches!(self.state, State::LastAck | State::TimeWait);
            if (only_window || last_again)
                && f.contains(TcpFlags::ACK)
                && !f.intersects(TcpFlags::RST | TcpFlags::SYN)
            {
                self.process_ack(now, seg);
                if self.state == State::Closed {
                    return;
                }
            }
            if !f.contains(TcpFlags::RST) {
                self.ack_now = true;
                // Data wholly below RCV.NXT arrived twice: a D-SACK says so (RFC 2883 §4,
                // as Linux does for a segment outside the window on the left).
                let end = seg.seq + seg.payload.len();
                if !seg.payload.is_empty()
                    && end <= self.rcv_nxt
                    && self.rcv_nxt - seg.seq <= self.cfg.recv_buffer.max(1 << 16)
                {
                    self.owe_dsack(seg.seq, end);
                }
                if self.state == State::TimeWait && f.contains(TcpFlags::FIN) {
                    self.timers.time_wait.set(now + self.cfg.time_wait);
                }
            }
            return;
        }
        self.take_timestamp(now, seg);
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
        } else {
            let advanced = seg.ack > self.snd_una;
            if advanced {
                self.ack_advances(now, seg.ack);
            }
            // RFC 5681 §2: a duplicate ACK. (One that keeps the window closed answers a
            // window probe: it says the receiver's buffer is full, not that data was
            // lost, and nothing could be sent into that window anyway.)
            let dup = !advanced
                && seg.ack == self.snd_una
                && seg.payload.is_empty()
                && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::FIN)
                && wnd == self.snd_wnd
                && wnd > 0
                && self.snd_max > self.snd_una;
            if self.sack_ok {
                self.sack_ack(now, seg, advanced, dup);
            } else if dup {
                let r = self.cc.on_dup_ack(self.flight());
                self.react(r);
            }
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
        if self.sack_ok {
            self.sb.on_cum_ack(ack, now);
            if self.sb.reneged() {
                // RFC 2018 §8: the receiver dropped data it had SACKed; it is in flight
                // again as far as we know, and is sent again if found lost.
                self.sb.clear_sacked();
                self.stats.sack_reneged += 1;
            }
        }
        // After a go-back-N restart the peer may acknowledge past SND.NXT what it had
        // kept out of order: carry on from there.
        if ack > self.snd_nxt {
            self.snd_nxt = ack;
            if self.fin_seq.is_some_and(|f| ack > f) {
                self.fin_sent = true;
            }
        }
        let rtt = self.rtt.on_ack(ack, now, self.rto_bounds());
        if let Some(r) = rtt {
            self.sb.rtt_sample(r);
        }
        self.cc
            .on_delivered(now, self.delivered(), self.flight(), rtt);
        if acked > 0 {
            let in_recovery = self.cc.in_recovery();
            let r = self.cc.on_ack(acked, self.flight());
            self.react(r);
            if in_recovery && !self.cc.in_recovery() {
                self.sb.recovery_ended();
            }
        }
        if self.rto_recover.is_some_and(|r| ack >= r) {
            self.rto_recover = None;
            self.sb.recovery_ended();
        }
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
        self.arm_loss_probe(now);
    }

    /// Bytes the peer has, cumulatively acknowledged or SACKed, modulo 2^32: the
    /// congestion controller's measure of delivery.
    fn delivered(&self) -> u32 {
        let sacked = if self.sack_ok {
            self.sb.sacked_bytes()
        } else {
            0
        };
        self.snd_una
            .0
            .wrapping_sub(self.iss.0)
            .wrapping_add(sacked as u32)
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
        // Quick ACKs (as Linux does: RFC 5681 §4.2 leaves delaying to the receiver): for
        // the first data, and after a pause longer than the RTO, when the sender has
        // likely timed out and starts again from one segment, and would otherwise wait
        // for a delayed ACK at every step of its slow start.
        let paused = self
            .last_data_at
            .map_or(true, |t| now.saturating_since(t) > self.rtt.rto());
        self.last_data_at = Some(now);
        if paused {
            self.quick_ack_mode();
        }
        // Trim what we already have; what was trimmed arrived twice (RFC 2883).
        let skip = self.rcv_nxt - seg.seq;
        if skip >= seg.payload.len() {
            // All old: the peer missed our ACK.
            self.owe_dsack(seg.seq, seg.seq + seg.payload.len());
            self.ack_now = true;
            return;
        }
        if skip > 0 {
            self.owe_dsack(seg.seq, self.rcv_nxt);
        }
        let start = seg.seq + skip;
        let data = &seg.payload[skip..];
        let off = start - self.rcv_nxt;
        if off > 0 {
            // Out of order: keep what fits in the window for reassembly, and send an
            // immediate duplicate ACK for each such segment (RFC 5681 §4.2), so that the
            // peer can count three and retransmit fast; with SACK its first block holds
            // this segment (RFC 2018 §4), or says which part of it arrived twice.
            self.stats.out_of_order += 1;
            let n = self.recv_buf.write_at(off, data);
            let mut cause = AckCause {
                start,
                end: start + n,
                dsack: false,
            };
            if n > 0 {
                match self.ooo.insert(start, start + n) {
                    Inserted::Held { dup: Some((a, b)) } => {
                        cause = AckCause {
                            start: a,
                            end: b,
                            dsack: true,
                        };
                    }
                    Inserted::Held { dup: None } => {}
                    // No range free: the bytes are forgotten; the peer sends them again.
                    Inserted::Full => self.stats.out_of_order_dropped += 1,
                }
            }
            self.owe_ack(cause);
            return;
        }
        let n = self.recv_buf.write_at(0, data);
        self.recv_buf.commit(n);
        // A retransmission that covers data held out of order brings part of it twice.
        if let Some((a, b)) = self.ooo.overlap(self.rcv_nxt, self.rcv_nxt + n) {
            self.owe_dsack(a, b);
        }
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
        // full-sized segment gets one at once, and so does a segment that fills a hole,
        // and every segment while quick ACKs are due.
        self.unacked_segments += 1;
        let quick = self.quick_acks > 0;
        self.quick_acks = self.quick_acks.saturating_sub(1);
        if self.unacked_segments >= 2 || n < data.len() || filled_hole || quick {
            self.ack_now = true;
        } else {
            self.timers
                .delayed_ack
                .set_if_idle(now + self.cfg.delayed_ack);
        }
    }

    /// An immediate ACK is owed for `cause` (queued: `poll_transmit` sends one ACK per
    /// cause, each with the SACK blocks it calls for). Past [`ACK_CAUSES`] waiting, the
    /// ACK is still owed but shares the last one's.
    fn owe_ack(&mut self, mut cause: AckCause) {
        if !self.sack_ok {
            cause.dsack = false;
        }
        if self.ack_causes.len() < self.ack_causes.capacity().min(ACK_CAUSES) {
            self.ack_causes.push(cause);
        }
        self.ack_now = true;
    }

    /// The next segments are acknowledged at once (at most 16, and no more than half the
    /// window's worth), like Linux's quick-ACK mode.
    fn quick_ack_mode(&mut self) {
        let half_window = self.cfg.recv_buffer / (2 * usize::from(self.cfg.mss.max(1)));
        self.quick_acks = half_window.clamp(2, QUICK_ACKS) as u8;
    }

    /// `[start, end)` arrived again: with SACK, an immediate ACK reports it as a D-SACK
    /// (RFC 2883); without, the ACK that is owed anyway says all there is. The sender
    /// is likely recovering: the next segments are acknowledged at once.
    fn owe_dsack(&mut self, start: SeqNumber, end: SeqNumber) {
        self.quick_ack_mode();
        if self.sack_ok && start < end {
            self.owe_ack(AckCause {
                start,
                end,
                dsack: true,
            });
        }
        self.ack_now = true;
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
        self.timers.loss_probe.stop();
        self.timers.reorder.stop();
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
        Some(self.release_buffers())
    }

    /// Whether the connection holds its buffers now.
    pub fn has_buffers(&self) -> bool {
        self.recv_buf.capacity() > 0
    }

    /// Nothing is in the buffers: every byte sent is acknowledged, every byte received
    /// read, no out-of-order data is held, no segment is in flight and no ACK cause is
    /// owed. Such a connection can give its buffers back (`reclaim`).
    fn holds_nothing(&self) -> bool {
        self.send_buf.is_empty()
            && self.recv_buf.is_empty()
            && self.ooo.is_empty()
            && self.sb.is_empty()
            && self.ack_causes.is_empty()
    }

    /// The connection gave its buffers back while idle and must get a set (`lend`)
    /// before a segment, a timer or the application's send reaches it. One in TIME_WAIT
    /// or CLOSED whose buffers were taken never needs them again.
    pub fn needs_buffers(&self) -> bool {
        !self.has_buffers() && !matches!(self.state, State::TimeWait | State::Closed)
    }

    /// Gives an idle connection (`needs_buffers`) a set of buffers of the sizes its
    /// configuration asks for (`Buffers::fits`); their contents are discarded.
    pub fn lend(&mut self, bufs: Buffers) {
        debug_assert!(!self.has_buffers(), "the connection holds buffers already");
        debug_assert!(bufs.fits(&self.cfg), "buffers of another size");
        let Buffers {
            mut send,
            mut recv,
            ooo,
            sent,
            mut acks,
        } = bufs;
        send.clear();
        recv.reset();
        acks.clear();
        self.send_buf = send;
        self.recv_buf = recv;
        self.ooo.put_vec(ooo, ranges_for(self.cfg.recv_buffer));
        self.sb.put_deque(sent, records_for(self.cfg.send_buffer));
        self.ack_causes = acks;
    }

    /// The buffers, if the connection holds some and needs none now: when nothing is in
    /// them (`holds_nothing`), in any state, or as `take_buffers` gives them. An idle
    /// connection then owns no buffer memory; its window, its sequence numbers, its
    /// timers and its RTT and RACK state stay, and `lend` makes it whole again.
    pub fn reclaim(&mut self) -> Option<Buffers> {
        if let Some(b) = self.take_buffers() {
            return Some(b);
        }
        if !self.has_buffers() || !self.holds_nothing() {
            return None;
        }
        let mut b = Buffers {
            send: std::mem::take(&mut self.send_buf),
            recv: std::mem::replace(&mut self.recv_buf, Ring::none()),
            ooo: self.ooo.take_vec(),
            sent: self.sb.lend_deque(),
            acks: std::mem::take(&mut self.ack_causes),
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
            ooo: self.ooo.take_vec(),
            sent: self.sb.take_deque(),
            acks: std::mem::take(&mut self.ack_causes),
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
        if self.sending_state() && self.sack_ok {
            if self.tlp_due {
                return true;
            }
            let lost = self.sb.next_lost().and_then(|i| self.sb.get(i));
            if lost.is_some_and(|r| self.cwnd_allows(r.len as usize)) {
                return true;
            }
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
        if self.timers.reorder.expired(now) {
            // RFC 8985 §6.3: segments RACK was waiting on may be lost by now.
            self.timers.reorder.stop();
            self.detect_losses(now);
            self.maybe_enter_recovery();
        }
        if self.timers.loss_probe.expired(now) {
            // RFC 8985 §7.3: the probe goes instead of a timeout; the RTO restarts after it.
            self.timers.loss_probe.stop();
            if self.sack_ok && self.sending_state() && self.snd_nxt > self.snd_una {
                self.tlp_due = true;
                if self.timers.retransmit.expired(now) {
                    self.timers.retransmit.set(now + self.rtt.rto());
                }
            }
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
            self.forget_flight();
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
            self.tlp = None;
            self.tlp_due = false;
            self.dup_acks = 0;
            if self.synchronized() && self.sack_ok && self.sb.covers(self.snd_una, self.snd_nxt) {
                // RFC 6675 §5.1: the SACK information stays (RFC 2018 §8's reneging is
                // watched for when the cumulative ACK arrives); everything not SACKed is
                // lost and is sent again, in order, as the loss window allows; no new
                // recovery starts before SND.UNA reaches what had been sent.
                //= https://www.rfc-editor.org/rfc/rfc6675#section-5.1
                //# If an RTO occurs during loss recovery as specified in this document,
                //# RecoveryPoint MUST be set to HighData.
                self.sb.mark_all_lost();
                self.rto_recover = Some(self.snd_max);
                self.timers.loss_probe.stop();
                self.timers.reorder.stop();
            } else {
                self.forget_flight();
                self.snd_nxt = self.snd_una;
                self.fin_sent = false;
            }
            self.timers.retransmit.set(now + self.rtt.rto());
        }
    }

    /// The sender goes back to SND.UNA (go-back-N): nothing it recorded of the flight
    /// holds any more.
    fn forget_flight(&mut self) {
        self.sb.clear();
        self.rto_recover = None;
        self.tlp = None;
        self.tlp_due = false;
        self.dup_acks = 0;
        self.timers.loss_probe.stop();
        self.timers.reorder.stop();
    }

    /// With SACK: RFC 6675's marking (`IsLost`) and RACK's (RFC 8985 §6.2), and the
    /// reordering timer for what RACK still waits on.
    fn detect_losses(&mut self, now: Instant) {
        if !self.sack_ok || self.sb.is_empty() {
            self.timers.reorder.stop();
            return;
        }
        self.sb.mark_lost_by_sacks(self.smss());
        let in_recovery = self.cc.in_recovery() || self.rto_recover.is_some();
        let reo_wnd = self.sb.reo_wnd(in_recovery, self.rtt.srtt());
        match self.sb.rack_detect(now, reo_wnd) {
            Some(wait) => self.timers.reorder.set(now + wait),
            None => self.timers.reorder.stop(),
        }
    }

    /// RFC 6675 §5 step 4: DupThresh duplicate ACKs, or a segment found lost, start a
    /// recovery (once: not while one runs, nor after a timeout until SND.UNA reaches the
    /// point it had sent to).
    fn maybe_enter_recovery(&mut self) {
        if !self.sack_ok || self.cc.in_recovery() || self.rto_recover.is_some() {
            return;
        }
        //= https://www.rfc-editor.org/rfc/rfc6675#section-5
        //# (4) Invoke fast retransmit and enter loss recovery as follows:
        if self.dup_acks as usize >= DUP_THRESH && !self.sb.any_lost() {
            //# (4.3) Retransmit the first data segment presumed dropped -- the
            //#       segment starting with sequence number HighACK + 1.
            self.sb.mark_first_lost();
        }
        if self.sb.any_lost() {
            //# (4.1) RecoveryPoint = HighData
            //# (4.2) ssthresh = cwnd = (FlightSize / 2)
            self.start_sack_recovery();
            self.stats.fast_retransmits += 1;
            //# (4.3) Retransmit the first data segment presumed dropped
            // (whatever cwnd - pipe says: the rest of the recovery waits for room).
            self.fast_rexmit = true;
        }
    }

    /// A SACK recovery starts (RFC 6675 §5 step 4, or a loss a probe repaired): the
    /// congestion controller's response, and no loss probe while it runs.
    fn start_sack_recovery(&mut self) {
        self.cc.on_sack_loss(self.flight());
        self.tlp = None;
        self.timers.loss_probe.stop();
    }

    /// An ACK on a connection with SACK (after SND.UNA moved, if it did): its blocks go
    /// into the scoreboard, duplicate ACKs are counted, a loss probe's fate is read, and
    /// losses are looked for.
    fn sack_ack(&mut self, now: Instant, seg: &Segment, advanced: bool, plain_dup: bool) {
        let sum = self
            .sb
            .on_sack(seg.options.sack(), self.snd_una, self.snd_max, now);
        self.stats.sack_blocks_ignored += u64::from(sum.ignored);
        if sum.dsack {
            self.stats.dsacks_received += 1;
        }
        if !advanced && sum.newly_sacked > 0 {
            self.cc
                .on_delivered(now, self.delivered(), self.flight(), None);
        }
        if advanced {
            self.dup_acks = 0;
        } else if self.snd_max > self.snd_una
            && (sum.newly_sacked > 0 || (plain_dup && seg.options.sack().is_empty()))
        {
            // RFC 6675 §2: a duplicate ACK that SACKs new data, or one from a peer that
            // sends no blocks at all; a D-SACK or old news is no sign of loss.
            self.dup_acks += 1;
        }
        if let Some((end, probe)) = self.tlp {
            //= https://www.rfc-editor.org/rfc/rfc8985#section-7.4.2
            //# the sender MUST invoke a congestion control response equivalent to
            //# fast recovery.
            if probe.is_some_and(|(a, b)| sum.dsack_covers(a, b)) {
                // Both copies arrived: nothing was lost.
                self.tlp = None;
            } else if self.snd_una >= end {
                self.tlp = None;
                if probe.is_some() && !self.cc.in_recovery() && self.rto_recover.is_none() {
                    // The probe repaired a loss: respond as to one.
                    self.start_sack_recovery();
                }
            }
        }
        self.detect_losses(now);
        self.maybe_enter_recovery();
    }

    // ---- transmission ----

    /// What the windows let us send with `outstanding` bytes unacknowledged: the peer's
    /// window past all of them, and the congestion window past what is in the network
    /// (RFC 6675's `pipe` with SACK, all of them without).
    fn send_room(&self, outstanding: usize) -> usize {
        let wnd = (self.snd_wnd as usize).saturating_sub(outstanding);
        let cc = self.cc.window().saturating_sub(self.pipe(outstanding));
        wnd.min(cc)
    }

    /// Bytes in the network: RFC 6675's `pipe` with SACK; without it, everything
    /// outstanding.
    fn pipe(&self, outstanding: usize) -> usize {
        if self.sack_ok {
            self.sb.pipe()
        } else {
            outstanding
        }
    }

    /// RFC 6675 §5 (C): one more segment of `len` bytes may go while cwnd - pipe is at
    /// least one SMSS (or the segment, if it is smaller).
    fn cwnd_allows(&self, len: usize) -> bool {
        self.cc.window().saturating_sub(self.sb.pipe()) >= len.clamp(1, self.smss())
    }

    /// The window to advertise now, with receiver SWS avoidance (RFC 9293 §3.8.6.2.2):
    /// the right edge moves only by at least the SWS threshold, and (RFC 1122
    /// §4.2.2.16) not backwards where the buffer allows.
    ///
    /// The scaled 16-bit field says the window in units of 2^shift bytes. Rounding the
    /// window down to a unit would move the right edge back by up to a unit at almost
    /// every segment, and the peer's data sent up to the edge it saw would fall
    /// outside; so the window already promised is rounded up instead, as long as the
    /// buffer holds it. Only when it does not (less than a unit is left past the edge)
    /// does the edge move back, by less than a unit; `acceptable` still takes what the
    /// peer sends up to the old edge.
    fn window_to_advertise(&self) -> usize {
        let free = self.rcv_wnd();
        let promised = self.rcv_adv - self.rcv_nxt;
        let current = promised.min(free);
        let wnd = if free - current >= self.sws_threshold() || free == self.cfg.recv_buffer {
            free
        } else {
            current
        };
        let max = usize::from(u16::MAX) << self.rcv_shift;
        let wnd = wnd.min(max) >> self.rcv_shift << self.rcv_shift;
        if wnd < promised {
            let unit = 1usize << self.rcv_shift;
            let up = (promised.div_ceil(unit) * unit).min(max);
            if up <= free {
                return up;
            }
        }
        wnd
    }

    fn syn_options(&self, syn_ack: bool) -> TcpOptions {
        let offer_ws = !syn_ack || self.rcv_shift > 0 || self.snd_shift > 0;
        TcpOptions {
            mss: Some(self.cfg.mss),
            window_scale: offer_ws.then_some(self.rcv_shift),
            // A SYN offers SACK and timestamps (TSecr zero, RFC 7323 §3.2); a SYN-ACK
            // only answers a SYN that offered them.
            sack_permitted: if syn_ack { self.sack_ok } else { self.cfg.sack },
            timestamps: if syn_ack {
                self.ts_option()
            } else {
                self.cfg.timestamps.then_some((self.ts_now, 0))
            },
            ..TcpOptions::default()
        }
    }

    /// Emits what is due now. `emit` gets a header and the payload as up to two slices; it
    /// returns false when no transmit buffer is free, and then nothing counts as sent.
    pub fn poll_transmit(&mut self, now: Instant, emit: &mut Emit) {
        self.ts_now = self.ts_value(now);
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
        // What is still owed goes as pure ACKs: one per out-of-order or duplicate segment
        // received since the last transmission (RFC 5681 §4.2), each with its own SACK
        // blocks, or one.
        while self.ack_now {
            let mut h = self.ack_header(TcpFlags::ACK, 0);
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
            self.acked_now();
        }
    }

    /// The header of a segment at SND.NXT that carries `payload` bytes; it advertises the
    /// window and records it, and carries the SACK blocks that are due (answering the
    /// oldest ACK owed, if they fit beside the payload).
    fn ack_header(&mut self, flags: TcpFlags, payload: usize) -> SegmentHeader {
        let wnd = self.window_to_advertise();
        let edge = self.rcv_nxt + wnd;
        if edge > self.rcv_adv {
            self.rcv_adv = edge;
        }
        self.last_ack_sent = self.rcv_nxt;
        let mut options = self.ack_options(payload);
        options.timestamps = self.ts_option();
        SegmentHeader {
            seq: self.snd_nxt,
            ack: self.rcv_nxt,
            flags,
            window: (wnd >> self.rcv_shift) as u16,
            options,
        }
    }

    /// The options of a segment that acknowledges, with `payload` bytes of data: with SACK,
    /// the blocks RFC 2018 §4 and RFC 2883 §4 ask for, as many as fit in the options
    /// space and, beside data, within the sender MSS; none when nothing is held out of
    /// order and no duplicate is to be reported. Takes the oldest ACK cause, unless its
    /// blocks do not fit here (a full-sized segment): then a later ACK answers it.
    fn ack_options(&mut self, payload: usize) -> TcpOptions {
        let mut o = TcpOptions::default();
        let cause = self.ack_causes.first().copied();
        let dsack = cause.filter(|c| c.dsack).map(|c| (c.start, c.end));
        if !self.sack_ok || (dsack.is_none() && self.ooo.is_empty()) {
            if cause.is_some() {
                self.ack_causes.remove(0);
            }
            return o;
        }
        // Beside the timestamps (RFC 7323 §3.2 leaves room for three blocks with them).
        let space = MAX_OPTIONS_LEN - self.ts_len();
        let room = if payload == 0 {
            space
        } else {
            self.smss().saturating_sub(payload).min(space)
        };
        let fit = if room >= 12 {
            ((room - 4) / 8).min(SACK_BLOCKS)
        } else {
            0
        };
        if fit == 0 {
            return o;
        }
        let first = cause.filter(|c| !c.dsack).map(|c| c.start);
        let n = sack_blocks(
            &self.ooo,
            &self.recent_sacks,
            dsack,
            first,
            &mut o.sack_blocks,
        );
        o.sack_count = n.min(fit) as u8;
        // A FIN held out of order is in the block that ends where it is: the block covers
        // the peer's whole last segment, FIN included, as Linux reports it, so that the
        // peer's SACK scoreboard takes that segment for delivered.
        if let Some(fin) = self.peer_fin_at {
            let skip = usize::from(dsack.is_some());
            let count = usize::from(o.sack_count);
            for b in o.sack_blocks.iter_mut().take(count).skip(skip) {
                if SeqNumber(b.1) == fin {
                    b.1 = (fin + 1).0;
                }
            }
        }
        if cause.is_some() {
            self.ack_causes.remove(0);
        }
        if let Some((a, _)) = dsack {
            self.stats.dsacks_sent += 1;
            self.recent_sacks.report(&self.ooo, a);
        }
        if let Some(s) = first {
            self.recent_sacks.report(&self.ooo, s);
        }
        o
    }

    /// A segment that acknowledges went out: the ACK owed is paid unless more causes wait.
    fn acked_now(&mut self) {
        self.ack_now = !self.ack_causes.is_empty();
        self.timers.delayed_ack.stop();
        self.unacked_segments = 0;
    }

    /// The most new data one segment carries now: the sender MSS, less the SACK blocks
    /// that are due (RFC 6691: the MSS counts data only, options come out of it; Linux
    /// does the same), so that a receiver that also sends full-sized data still tells the
    /// peer what it holds out of order.
    fn data_mss(&self) -> usize {
        let smss = self.smss();
        if !self.sack_ok {
            return smss;
        }
        let dsack = self.ack_causes.first().is_some_and(|c| c.dsack);
        let blocks = (self.ooo.len() + usize::from(dsack)).min(SACK_BLOCKS);
        if blocks == 0 {
            return smss;
        }
        smss.saturating_sub(4 + 8 * blocks).max(smss / 2)
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
    /// With SACK, a segment needs a free record in the scoreboard.
    fn sendable(&self) -> usize {
        let (in_flight, unsent) = self.send_progress();
        if self.sack_ok && !self.sb.has_room() {
            return 0;
        }
        let mss = self.data_mss();
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

    /// Sends the segment at SND.UNA again (NewReno's fast retransmit, or a partial
    /// ACK), without moving SND.NXT.
    fn retransmit_first(&mut self, emit: &mut Emit) {
        let (in_flight, _) = self.send_progress();
        if in_flight == 0 {
            return;
        }
        let n = self.smss().min(self.send_buf.len()).min(in_flight);
        let fin = self.fin_sent && n + 1 == in_flight;
        let mut h = self.ack_header(
            if fin {
                TcpFlags::FIN | TcpFlags::ACK
            } else {
                TcpFlags::ACK
            },
            n,
        );
        h.seq = self.snd_una;
        let (a, b) = deque_slices(&self.send_buf, 0, n);
        if emit(&h, a, b) {
            self.stats.retransmits += 1;
            self.acked_now();
        }
    }

    /// Sends scoreboard record `i` again (with SACK). False when no transmit buffer was
    /// free.
    fn retransmit_record(&mut self, i: usize, now: Instant, emit: &mut Emit) -> bool {
        let Some(&r) = self.sb.get(i) else {
            return true;
        };
        let fin = r.is_fin();
        let data = r.len as usize - usize::from(fin);
        let off = r.start - self.snd_una;
        let mut h = self.ack_header(
            if fin {
                TcpFlags::FIN | TcpFlags::ACK
            } else {
                TcpFlags::ACK
            },
            data,
        );
        h.seq = r.start;
        let (a, b) = deque_slices(&self.send_buf, off, data);
        if !emit(&h, a, b) {
            return false;
        }
        self.stats.retransmits += 1;
        // Karn: an ACK of the timed segment could now answer either copy.
        if self
            .rtt
            .timed_end()
            .is_some_and(|end| r.start < end && end <= r.end())
        {
            self.rtt.forget_timed();
        }
        self.sb.on_retransmitted(i, now);
        self.acked_now();
        self.timers.retransmit.set_if_idle(now + self.rtt.rto());
        true
    }

    /// RFC 6675 §5 (C) with `NextSeg` rule 1: every segment deemed lost, and not yet sent
    /// again, goes while the congestion window has room. False when no transmit buffer
    /// was free.
    fn retransmit_lost(&mut self, now: Instant, emit: &mut Emit) -> bool {
        while let Some(i) = self.sb.next_lost() {
            let len = self.sb.get(i).map_or(0, |r| r.len as usize);
            if !self.cwnd_allows(len) {
                break;
            }
            if !self.retransmit_record(i, now, emit) {
                return false;
            }
        }
        true
    }

    /// RFC 6675 `NextSeg` rule 3, in recovery once no lost segment and no new data is left
    /// to send: holes below the highest SACKed segment go again while cwnd allows.
    fn retransmit_holes(&mut self, now: Instant, emit: &mut Emit) {
        while let Some(i) = self.sb.next_unsacked_hole() {
            let len = self.sb.get(i).map_or(0, |r| r.len as usize);
            if !self.cwnd_allows(len) || !self.retransmit_record(i, now, emit) {
                return;
            }
        }
    }

    /// RFC 6675 `NextSeg` rule 4, once a recovery, when rules 1 to 3 leave nothing to
    /// send: the highest segment not SACKed goes again. A lost tail, or a retransmission
    /// lost with nothing sent after it, otherwise waits for the RTO (no loss probe runs in
    /// recovery, RFC 8985 §7.2); the rescue's ACK lets RACK find it lost instead.
    //= https://www.rfc-editor.org/rfc/rfc6675#section-4
    //# (4) If the conditions for (1), (2), and (3) fail, but there exists
    //#     outstanding unSACKed data, we provide the opportunity for a
    //#     single "rescue" retransmission per entry into loss recovery.
    fn rescue_retransmit(&mut self, now: Instant, emit: &mut Emit) {
        let Some(point) = self.cc.recovery_point() else {
            return;
        };
        if self.rescue_rxt.is_some_and(|r| self.snd_una <= r)
            || self.sb.next_lost().is_some()
            || self.sb.next_unsacked_hole().is_some()
            || self.snd_nxt < self.snd_max
        {
            return;
        }
        // Never a copy of what went out this very instant (rule 1's retransmission of a
        // hole that is also the highest segment not SACKed).
        let Some((i, len)) = self.sb.last_unsacked().and_then(|i| {
            let r = self.sb.get(i)?;
            (r.xmit != now).then_some((i, r.len as usize))
        }) else {
            return;
        };
        if self.cwnd_allows(len) && self.retransmit_record(i, now, emit) {
            self.rescue_rxt = Some(point);
            self.stats.rescue_retransmits += 1;
        }
    }

    /// Sends `n` new bytes at SND.NXT; when they are the last the application queued
    /// after closing, the FIN rides on them (one segment less, and no lone FIN at the tail
    /// for a loss probe to wait on). False when no transmit buffer was free.
    fn emit_new_data(&mut self, now: Instant, n: usize, emit: &mut Emit) -> bool {
        let (in_flight, unsent) = self.send_progress();
        let sent_data = in_flight - usize::from(self.fin_sent);
        let mut flags = TcpFlags::ACK;
        let fin = n == unsent && self.fin_queued && !self.fin_sent;
        if n == unsent {
            flags |= TcpFlags::PSH;
        }
        if fin {
            flags |= TcpFlags::FIN;
        }
        let h = self.ack_header(flags, n);
        let (p1, p2) = deque_slices(&self.send_buf, sent_data, n);
        if !emit(&h, p1, p2) {
            return false;
        }
        let len = n + usize::from(fin);
        if self.snd_nxt < self.snd_max {
            self.stats.retransmits += 1;
        } else {
            // Karn: time only data sent for the first time.
            self.rtt.time_segment(self.snd_nxt + len, now);
        }
        if self.sack_ok {
            self.sb.on_sent(self.snd_nxt, len, fin, now);
        }
        if fin {
            self.fin_sent = true;
            self.fin_seq = Some(self.snd_nxt + n);
        }
        self.snd_nxt += len;
        if self.snd_nxt > self.snd_max {
            self.snd_max = self.snd_nxt;
        }
        self.acked_now();
        self.timers.retransmit.set_if_idle(now + self.rtt.rto());
        if fin {
            self.fin_went_out();
        }
        true
    }

    /// Our FIN is out: ESTABLISHED becomes FIN_WAIT_1, CLOSE_WAIT becomes LAST_ACK.
    fn fin_went_out(&mut self) {
        match self.state {
            State::Established | State::SynReceived => self.set_state(State::FinWait1),
            State::CloseWait => self.set_state(State::LastAck),
            _ => {}
        }
    }

    /// RFC 8985 §7.3: the loss probe timer fired. One segment goes, whatever the
    /// congestion window says: new data if there is any and the peer's window takes it,
    /// else the highest segment not SACKed, again. Then the RTO runs, not another
    /// probe timer, until an ACK covers the probe. False when no transmit buffer was free.
    fn send_loss_probe(&mut self, now: Instant, emit: &mut Emit) -> bool {
        let (in_flight, unsent) = self.send_progress();
        if in_flight == 0 {
            return true;
        }
        let wnd_room = (self.snd_wnd as usize).saturating_sub(in_flight);
        let n = unsent.min(self.smss()).min(wnd_room);
        let probe = if n > 0 && self.sb.has_room() && !self.fin_sent {
            if !self.emit_new_data(now, n, emit) {
                return false;
            }
            None
        } else if let Some(i) = self.sb.last_unsacked() {
            let r = self.sb.get(i).map(|r| (r.start, r.end()));
            if !self.retransmit_record(i, now, emit) {
                return false;
            }
            r
        } else {
            return true;
        };
        self.stats.loss_probes += 1;
        self.tlp = Some((self.snd_nxt, probe));
        self.timers.loss_probe.stop();
        self.timers.retransmit.set(now + self.rtt.rto());
        true
    }

    /// RFC 8985 §7.2: (re)arms the loss probe timer for 2·SRTT (plus a little, or the
    /// minimum RTO when one segment is out, for the peer's delayed ACK), never later than
    /// the retransmission timer: when SACK is on, data is out, no recovery runs and no
    /// probe is out already.
    //= https://www.rfc-editor.org/rfc/rfc8985#section-7.2
    //# The sender SHOULD start or restart a loss probe PTO timer after
    //# transmitting new data (that was not itself a loss probe) or upon
    //# receiving an ACK that cumulatively acknowledges new data
    fn arm_loss_probe(&mut self, now: Instant) {
        let in_flight = self.snd_nxt - self.snd_una;
        let ok = self.sack_ok
            && in_flight > 0
            && self.tlp.is_none()
            && !self.cc.in_recovery()
            && self.rto_recover.is_none()
            && self.sending_state();
        let Some(srtt) = self.rtt.srtt().filter(|_| ok) else {
            self.timers.loss_probe.stop();
            return;
        };
        let extra = if in_flight <= self.smss() {
            self.cfg.rto_min
        } else {
            TLP_EXTRA
        };
        let mut at = now + srtt * 2 + extra;
        if let Some(rto) = self.timers.retransmit.deadline() {
            at = at.min(rto);
        }
        self.timers.loss_probe.set(at);
    }

    fn transmit_data(&mut self, now: Instant, emit: &mut Emit) {
        if !self.sending_state() {
            self.fast_rexmit = false;
            self.tlp_due = false;
            return;
        }
        if self.fast_rexmit && !self.sack_ok {
            self.fast_rexmit = false;
            self.retransmit_first(emit);
        }
        if self.sack_ok && self.fast_rexmit {
            self.fast_rexmit = false;
            if let Some(i) = self.sb.next_lost() {
                if !self.retransmit_record(i, now, emit) {
                    self.fast_rexmit = true;
                    return;
                }
            }
        }
        if self.sack_ok {
            if !self.retransmit_lost(now, emit) {
                return;
            }
            if self.tlp_due {
                self.tlp_due = false;
                if !self.send_loss_probe(now, emit) {
                    return;
                }
            }
        }
        let mut sent_new = false;
        loop {
            let (in_flight, unsent) = self.send_progress();
            let sent_data = in_flight - usize::from(self.fin_sent);
            let n = self.sendable();
            // RFC 9293 §3.8.6.1: data waiting on a window that has no room, with nothing in
            // flight to bring an ACK back, starts the persist timer; when it fires, one
            // byte goes out as a window probe.
            let closed = n == 0 && unsent > 0 && in_flight == 0;
            if n > 0 {
                self.window_opened();
                if !self.emit_new_data(now, n, emit) {
                    return;
                }
                sent_new = true;
                continue;
            }
            if closed && self.probe_due {
                let h = self.ack_header(TcpFlags::ACK | TcpFlags::PSH, 1);
                let (p1, p2) = deque_slices(&self.send_buf, sent_data, 1);
                if !emit(&h, p1, p2) {
                    return;
                }
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
            } else if closed {
                self.timers
                    .arm_persist(now, self.rtt.rto(), self.cfg.rto_max);
            } else {
                self.probe_due = false;
            }
            break;
        }
        if self.sack_ok && self.cc.in_recovery() {
            self.retransmit_holes(now, emit);
            self.rescue_retransmit(now, emit);
        }
        // The FIN follows the last byte of data (and may have to wait for the window).
        let all_sent = self.snd_nxt - self.snd_una == self.send_buf.len();
        let recordable = !self.sack_ok || self.sb.has_room();
        if self.fin_queued && !self.fin_sent && all_sent && recordable {
            let h = self.ack_header(TcpFlags::FIN | TcpFlags::ACK, 0);
            if emit(&h, &[], &[]) {
                if self.snd_nxt < self.snd_max {
                    self.stats.retransmits += 1;
                }
                if self.sack_ok {
                    self.sb.on_sent(self.snd_nxt, 1, true, now);
                }
                self.fin_sent = true;
                self.fin_seq = Some(self.snd_nxt);
                self.snd_nxt += 1;
                if self.snd_nxt > self.snd_max {
                    self.snd_max = self.snd_nxt;
                }
                self.acked_now();
                self.timers.retransmit.set_if_idle(now + self.rtt.rto());
                sent_new = true;
                self.fin_went_out();
            }
        }
        if sent_new {
            self.arm_loss_probe(now);
        }
    }
}

/// `n` bytes of `q` from `off`, as at most two slices (fewer if `q` ends first).
fn deque_slices(q: &VecDeque<u8>, off: usize, n: usize) -> (&[u8], &[u8]) {
    let (a, b) = q.as_slices();
    let off = off.min(q.len());
    let n = n.min(q.len() - off);
    if off >= a.len() {
        let o = off - a.len();
        (&b[o..o + n], &b[..0])
    } else {
        let first = (a.len() - off).min(n);
        (&a[off..off + first], &b[..n - first])
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
