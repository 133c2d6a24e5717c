//! proto/tcp/congestion: how much one connection may have in flight. Sans-IO: it hears of
//! ACKs, duplicate ACKs and timeouts and answers with a window; it sends nothing itself, and
//! says when the segment at SND.UNA is to be sent again at once.
//!
//! [`CongestionControl`] is what the connection needs of an algorithm; [`NewReno`] (RFC 5681
//! with RFC 6582's fast recovery, RFC 6928's initial window) is the default, and
//! [`Bbr`] (model-based, `bbr.rs`) the other. The connection holds a [`Controller`], an
//! enum of the two, so calls are static (no `dyn` per connection).
//!
//! Invariants of [`NewReno`]: the window is never below one segment; ssthresh is at least
//! two segments once a loss has set it; it is in recovery from the third duplicate ACK
//! until an ACK reaches the `recover` point taken then, or a timeout.

use super::bbr::Bbr;
use super::seq::SeqNumber;
use crate::time::Instant;
use core::time::Duration;

/// RFC 6928: the initial congestion window, in segments.
pub const INITIAL_WINDOW: usize = 10;

/// The duplicate ACK that starts a fast retransmit (RFC 5681 §3.2).
const DUP_ACK_THRESHOLD: u32 = 3;

/// What the sender has out: SND.UNA and SND.MAX (the highest sequence number sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flight {
    pub snd_una: SeqNumber,
    pub snd_max: SeqNumber,
}

impl Flight {
    /// RFC 5681's FlightSize: sent and not yet acknowledged.
    pub fn size(&self) -> usize {
        self.snd_max - self.snd_una
    }
}

/// What the connection is to do after an ACK, besides sending what the window allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Reaction {
    Nothing,
    /// A loss was detected by duplicate ACKs: send the segment at SND.UNA again now. A
    /// recovery starts (the connection counts it, and stops timing a segment: Karn).
    FastRetransmit,
    /// In recovery, an ACK that covered part of the flight only: the segment at the new
    /// SND.UNA is lost too; send it again now.
    PartialAck,
}

/// A congestion controller, as the connection drives it. Sequence numbers and sizes are
/// in bytes; `smss` is the sender MSS.
pub trait CongestionControl {
    /// The sender MSS is now `smss` (from the peer's SYN): the window restarts at the
    /// initial window for it.
    fn set_mss(&mut self, smss: u16);

    /// Before `on_ack` or after the SACK blocks of any ACK: `delivered` counts the bytes
    /// the peer has (cumulatively acknowledged or SACKed) since the connection began,
    /// modulo 2^32; `rtt` is the RTT sample this ACK gave, if any. A model-based
    /// controller measures the path with it; a loss-based one needs nothing of it.
    fn on_delivered(
        &mut self,
        _now: Instant,
        _delivered: u32,
        _flight: Flight,
        _rtt: Option<Duration>,
    ) {
    }

    /// An ACK acknowledged `acked` new bytes; `flight` is after it (SND.UNA moved).
    fn on_ack(&mut self, acked: usize, flight: Flight) -> Reaction;

    /// A duplicate ACK (RFC 5681 §2: nothing new acknowledged, no data, same window, data
    /// outstanding).
    fn on_dup_ack(&mut self, flight: Flight) -> Reaction;

    /// The retransmission timer expired on a synchronized connection, with `flight` out;
    /// the connection goes back to SND.UNA.
    fn on_timeout(&mut self, flight: Flight);

    /// A connection with SACK found a loss (RFC 6675 §5 step 4, or a loss a probe
    /// repaired, RFC 8985 §7.4.2): a recovery starts that lasts until everything in
    /// `flight` is acknowledged; the window no longer inflates or deflates with ACKs
    /// in it (the connection's `pipe` paces it).
    fn on_sack_loss(&mut self, flight: Flight);

    /// The congestion window: the most the connection may have in flight.
    fn window(&self) -> usize;

    /// The slow-start threshold (`usize::MAX` until a loss).
    fn ssthresh(&self) -> usize;

    /// The recovery point while in loss recovery (fast recovery, for NewReno): RFC 6582's
    /// "recover", RFC 6675's "RecoveryPoint", SND.MAX when it began.
    fn recovery_point(&self) -> Option<SeqNumber>;

    /// In loss recovery.
    fn in_recovery(&self) -> bool {
        self.recovery_point().is_some()
    }
}

/// Which congestion controller a connection runs (a configuration value, so it lives
/// in `config`).
pub use crate::config::Congestion;

/// The controller a connection holds: one of the algorithms, called statically. BBR's
/// state is boxed, so that connections that run NewReno (the default) carry no more
/// than NewReno's.
#[derive(Clone, Debug)]
pub enum Controller {
    NewReno(NewReno),
    Bbr(Box<Bbr>),
}

impl Controller {
    pub fn new(algorithm: Congestion, smss: u16) -> Self {
        match algorithm {
            Congestion::NewReno => Controller::NewReno(NewReno::new(smss)),
            Congestion::Bbr => Controller::Bbr(Box::new(Bbr::new(smss))),
        }
    }

    /// Sets NewReno's window (tests that need a given flight).
    #[cfg(test)]
    pub fn cwnd_for_test(&mut self, cwnd: usize) {
        match self {
            Controller::NewReno(cc) => cc.cwnd_for_test(cwnd),
            Controller::Bbr(_) => panic!("cwnd_for_test is for NewReno"),
        }
    }
}

/// `Controller` delegates each call to the algorithm it holds.
macro_rules! delegate {
    ($self:ident, $cc:ident => $call:expr) => {
        match $self {
            Controller::NewReno($cc) => $call,
            Controller::Bbr($cc) => $call,
        }
    };
}

impl CongestionControl for Controller {
    fn set_mss(&mut self, smss: u16) {
        delegate!(self, cc => cc.set_mss(smss))
    }
    fn on_delivered(
        &mut self,
        now: Instant,
        delivered: u32,
        flight: Flight,
        rtt: Option<Duration>,
    ) {
        delegate!(self, cc => cc.on_delivered(now, delivered, flight, rtt))
    }
    fn on_ack(&mut self, acked: usize, flight: Flight) -> Reaction {
        delegate!(self, cc => cc.on_ack(acked, flight))
    }
    fn on_dup_ack(&mut self, flight: Flight) -> Reaction {
        delegate!(self, cc => cc.on_dup_ack(flight))
    }
    fn on_timeout(&mut self, flight: Flight) {
        delegate!(self, cc => cc.on_timeout(flight))
    }
    fn on_sack_loss(&mut self, flight: Flight) {
        delegate!(self, cc => cc.on_sack_loss(flight))
    }
    fn window(&self) -> usize {
        delegate!(self, cc => cc.window())
    }
    fn ssthresh(&self) -> usize {
        delegate!(self, cc => cc.ssthresh())
    }
    fn recovery_point(&self) -> Option<SeqNumber> {
        delegate!(self, cc => cc.recovery_point())
    }
}

/// Slow start, congestion avoidance, fast retransmit and NewReno fast recovery.
#[derive(Clone, Copy, Debug)]
pub struct NewReno {
    /// The sender MSS (16 bits, as on the wire: it keeps the TCB small).
    smss: u16,
    cwnd: usize,
    ssthresh: usize,
    dup_acks: u32,
    /// In fast recovery until SND.UNA reaches this (RFC 6582's "recover", RFC 6675's
    /// "RecoveryPoint").
    recover: Option<SeqNumber>,
    /// The recovery is RFC 6675's (SACK), not NewReno's.
    sack_recovery: bool,
}

impl NewReno {
    /// Before any loss, with the initial window for `smss`.
    //= https://www.rfc-editor.org/rfc/rfc5681#section-3.1
    //# The initial value of ssthresh SHOULD be set arbitrarily high (e.g.,
    //# to the size of the largest possible advertised window)
    pub fn new(smss: u16) -> Self {
        NewReno {
            smss,
            cwnd: INITIAL_WINDOW * usize::from(smss),
            ssthresh: usize::MAX,
            dup_acks: 0,
            recover: None,
            sack_recovery: false,
        }
    }

    /// RFC 5681 equation (4): ssthresh = max(FlightSize / 2, 2·SMSS).
    fn halved(&self, flight: Flight) -> usize {
        (flight.size() / 2).max(2 * self.smss())
    }

    fn smss(&self) -> usize {
        usize::from(self.smss)
    }

    /// Sets the window (tests that need a given flight).
    #[cfg(test)]
    pub fn cwnd_for_test(&mut self, cwnd: usize) {
        self.cwnd = cwnd;
    }
}

impl CongestionControl for NewReno {
    /// RFC 6928 §2 gives min(10·MSS, max(2·MSS, 14600)); the window here is ten segments
    /// whatever the MSS.
    fn set_mss(&mut self, smss: u16) {
        self.smss = smss;
        self.cwnd = INITIAL_WINDOW * self.smss();
    }

    fn on_ack(&mut self, acked: usize, flight: Flight) -> Reaction {
        let smss = self.smss();
        self.dup_acks = 0;
        match self.recover {
            // RFC 6675: in a SACK recovery cwnd stays where it was set; `pipe` decides.
            Some(recover) if self.sack_recovery && flight.snd_una < recover => Reaction::Nothing,
            Some(_) if self.sack_recovery => {
                self.recover = None;
                self.sack_recovery = false;
                self.cwnd = self.ssthresh.max(self.smss());
                Reaction::Nothing
            }
            //= https://www.rfc-editor.org/rfc/rfc6582#section-3.2
            //# If this ACK does *not* acknowledge all of the data up to and
            //# including recover, then this is a partial ACK.  In this case,
            //# retransmit the first unacknowledged segment.  Deflate the
            //# congestion window by the amount of new data acknowledged by the
            //# Cumulative Acknowledgment field.  If the partial ACK acknowledges
            //# at least one SMSS of new data, then add back SMSS bytes to the
            //# congestion window.
            // (SMSS is added back whatever the ACK covered.)
            Some(recover) if flight.snd_una < recover => {
                self.cwnd = self.cwnd.saturating_sub(acked) + smss;
                Reaction::PartialAck
            }
            //= https://www.rfc-editor.org/rfc/rfc6582#section-3.2
            //# Set cwnd to either (1) min (ssthresh, max(FlightSize, SMSS) + SMSS)
            //# or (2) ssthresh
            // Option (1), with FlightSize taken as it is (and cwnd at least one segment).
            Some(_) => {
                self.recover = None;
                self.cwnd = self.ssthresh.min(flight.size() + smss).max(smss);
                Reaction::Nothing
            }
            //= https://www.rfc-editor.org/rfc/rfc5681#section-3.1
            //# During slow start, a TCP increments cwnd by at most SMSS bytes for
            //# each ACK received that cumulatively acknowledges new data.
            None if self.cwnd < self.ssthresh => {
                self.cwnd += acked.min(smss);
                Reaction::Nothing
            }
            //= https://www.rfc-editor.org/rfc/rfc5681#section-3.1
            //#    cwnd += SMSS*SMSS/cwnd                     (3)
            None => {
                self.cwnd += (smss * smss / self.cwnd).max(1);
                Reaction::Nothing
            }
        }
    }

    fn on_dup_ack(&mut self, flight: Flight) -> Reaction {
        self.dup_acks += 1;
        if self.recover.is_some() {
            //= https://www.rfc-editor.org/rfc/rfc5681#section-3.2
            //# 4. For each additional duplicate ACK received (after the third),
            //#    cwnd MUST be incremented by SMSS.
            if self.dup_acks > DUP_ACK_THRESHOLD {
                self.cwnd += self.smss();
            }
            return Reaction::Nothing;
        }
        if self.dup_acks != DUP_ACK_THRESHOLD {
            return Reaction::Nothing;
        }
        //= https://www.rfc-editor.org/rfc/rfc5681#section-3.2
        //# 2. When the third duplicate ACK is received, a TCP MUST set ssthresh
        //#    to no more than the value given in equation (4).
        //# [...]
        //# 3. The lost segment starting at SND.UNA MUST be retransmitted and
        //#    cwnd set to ssthresh plus 3*SMSS.
        self.ssthresh = self.halved(flight);
        self.cwnd = self.ssthresh + 3 * self.smss();
        // RFC 6582 §3.2 step 2: recovery lasts until everything sent so far is acknowledged.
        self.recover = Some(flight.snd_max);
        Reaction::FastRetransmit
    }

    //= https://www.rfc-editor.org/rfc/rfc5681#section-3.1
    //# Furthermore, upon a timeout (as specified in [RFC2988]) cwnd MUST be
    //# set to no more than the loss window, LW, which equals 1 full-sized
    //# segment (regardless of the value of IW).
    fn on_timeout(&mut self, flight: Flight) {
        self.ssthresh = self.halved(flight);
        self.cwnd = self.smss();
        self.recover = None;
        self.sack_recovery = false;
        self.dup_acks = 0;
    }

    //= https://www.rfc-editor.org/rfc/rfc6675#section-5
    //# (4.2) ssthresh = cwnd = (FlightSize / 2)
    //#
    //#       The congestion window (cwnd) and slow start threshold
    //#       (ssthresh) are reduced to half of FlightSize per [RFC5681].
    // (With RFC 5681's floor of two segments, equation (4).)
    fn on_sack_loss(&mut self, flight: Flight) {
        self.ssthresh = self.halved(flight);
        self.cwnd = self.ssthresh;
        self.recover = Some(flight.snd_max);
        self.sack_recovery = true;
        self.dup_acks = 0;
    }

    fn window(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn recovery_point(&self) -> Option<SeqNumber> {
        self.recover
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;
    const MSS16: u16 = MSS as u16;
    const UNA: u32 = 10_000;

    /// `bytes` out from SND.UNA = `una`.
    fn flight(una: u32, bytes: usize) -> Flight {
        Flight {
            snd_una: SeqNumber(una),
            snd_max: SeqNumber(una) + bytes,
        }
    }

    /// Three duplicate ACKs with `segments` full segments in flight from UNA.
    fn in_recovery(segments: usize) -> NewReno {
        let mut cc = NewReno::new(MSS16);
        let f = flight(UNA, segments * MSS);
        assert_eq!(cc.on_dup_ack(f), Reaction::Nothing);
        assert_eq!(cc.on_dup_ack(f), Reaction::Nothing);
        assert_eq!(cc.on_dup_ack(f), Reaction::FastRetransmit);
        cc
    }

    // RFC 6928: ten segments to start with; RFC 5681 §3.1: ssthresh arbitrarily high.
    #[test]
    fn the_initial_window_is_ten_segments() {
        let mut cc = NewReno::new(536);
        assert_eq!((cc.window(), cc.ssthresh()), (5360, usize::MAX));
        cc.set_mss(MSS16);
        assert_eq!(cc.window(), 10 * MSS);
        assert!(!cc.in_recovery());
    }

    // RFC 5681 §3.1, equation (2): in slow start each ACK adds min(acked, SMSS).
    #[test]
    fn slow_start_adds_at_most_a_segment_per_ack() {
        let mut cc = NewReno::new(MSS16);
        assert_eq!(cc.on_ack(2 * MSS, flight(UNA, 0)), Reaction::Nothing);
        assert_eq!(
            cc.window(),
            11 * MSS,
            "a stretch ACK still adds one segment"
        );
        let _ = cc.on_ack(300, flight(UNA, 0));
        assert_eq!(cc.window(), 11 * MSS + 300);
    }

    // RFC 5681 §3.1, equation (3): at or above ssthresh, SMSS·SMSS/cwnd per ACK (at least 1).
    #[test]
    fn congestion_avoidance_adds_about_a_segment_per_window() {
        let mut cc = NewReno::new(MSS16);
        cc.on_timeout(flight(UNA, 8 * MSS));
        assert_eq!((cc.window(), cc.ssthresh()), (MSS, 4 * MSS));
        for _ in 0..3 {
            let _ = cc.on_ack(MSS, flight(UNA, 0));
        }
        assert_eq!(cc.window(), 4 * MSS, "slow start up to ssthresh");
        let _ = cc.on_ack(MSS, flight(UNA, 0));
        assert_eq!(cc.window(), 4 * MSS + MSS / 4);
        let mut big = NewReno::new(1);
        big.on_timeout(flight(UNA, 0));
        for _ in 0..10 {
            let _ = big.on_ack(1, flight(UNA, 0));
        }
        assert_eq!(big.window(), 11, "never less than one byte per ACK");
    }

    // RFC 5681 §3.2 steps 2 and 3: the third duplicate ACK halves the flight into ssthresh,
    // sets cwnd to ssthresh + 3·SMSS and starts recovery; the first two change nothing.
    #[test]
    fn the_third_duplicate_ack_starts_a_fast_retransmit() {
        let cc = in_recovery(10);
        assert_eq!(cc.ssthresh(), 5 * MSS);
        assert_eq!(cc.window(), 8 * MSS);
        assert!(cc.in_recovery());
    }

    // RFC 5681 equation (4): ssthresh is never below two segments.
    #[test]
    fn ssthresh_is_at_least_two_segments() {
        let cc = in_recovery(1);
        assert_eq!(cc.ssthresh(), 2 * MSS);
        let mut cc = NewReno::new(MSS16);
        cc.on_timeout(flight(UNA, 0));
        assert_eq!(cc.ssthresh(), 2 * MSS);
    }

    // RFC 5681 §3.2 step 4: each further duplicate ACK in recovery inflates by SMSS, and
    // none starts another fast retransmit.
    #[test]
    fn further_duplicate_acks_inflate_the_window() {
        let mut cc = in_recovery(10);
        for i in 1..=4 {
            assert_eq!(cc.on_dup_ack(flight(UNA, 10 * MSS)), Reaction::Nothing);
            assert_eq!(cc.window(), (8 + i) * MSS);
        }
    }

    // A new ACK restarts the duplicate count: two, an ACK, two more is no fast retransmit.
    #[test]
    fn a_new_ack_restarts_the_duplicate_count() {
        let mut cc = NewReno::new(MSS16);
        let _ = cc.on_dup_ack(flight(UNA, 5 * MSS));
        let _ = cc.on_dup_ack(flight(UNA, 5 * MSS));
        let _ = cc.on_ack(MSS, flight(UNA + 1000, 4 * MSS));
        assert_eq!(
            cc.on_dup_ack(flight(UNA + 1000, 4 * MSS)),
            Reaction::Nothing
        );
        assert_eq!(
            cc.on_dup_ack(flight(UNA + 1000, 4 * MSS)),
            Reaction::Nothing
        );
        assert!(!cc.in_recovery());
        assert_eq!(
            cc.on_dup_ack(flight(UNA + 1000, 4 * MSS)),
            Reaction::FastRetransmit
        );
    }

    // RFC 6582 §3.2 step 3: a partial ACK resends the next hole and deflates the window by
    // what it acknowledged, adding one segment back; recovery goes on.
    #[test]
    fn a_partial_ack_resends_the_next_hole_and_deflates() {
        let mut cc = in_recovery(10);
        let r = cc.on_ack(2 * MSS, flight(UNA + 2000, 8 * MSS));
        assert_eq!(r, Reaction::PartialAck);
        assert_eq!(cc.window(), 8 * MSS - 2 * MSS + MSS);
        assert!(cc.in_recovery());
    }

    // RFC 6582 §3.2 step 3: the ACK that reaches `recover` ends recovery with
    // cwnd = min(ssthresh, FlightSize + SMSS).
    #[test]
    fn the_full_ack_ends_recovery() {
        let mut cc = in_recovery(10);
        // New data went out during recovery: 3 segments are still in flight past recover.
        let r = cc.on_ack(10 * MSS, flight(UNA + 10 * MSS as u32, 3 * MSS));
        assert_eq!(r, Reaction::Nothing);
        assert!(!cc.in_recovery());
        assert_eq!(cc.window(), 4 * MSS, "FlightSize + SMSS, below ssthresh");
        let mut cc = in_recovery(10);
        let _ = cc.on_ack(10 * MSS, flight(UNA + 10 * MSS as u32, 9 * MSS));
        assert_eq!(cc.window(), 5 * MSS, "capped by ssthresh");
    }

    // RFC 5681 §3.1: a timeout sets cwnd to one segment and halves the flight into ssthresh,
    // and ends any recovery.
    #[test]
    fn a_timeout_collapses_the_window_to_one_segment() {
        let mut cc = in_recovery(10);
        cc.on_timeout(flight(UNA, 6 * MSS));
        assert_eq!((cc.window(), cc.ssthresh()), (MSS, 3 * MSS));
        assert!(!cc.in_recovery());
        // The duplicate count restarts too.
        let _ = cc.on_dup_ack(flight(UNA, 6 * MSS));
        let _ = cc.on_dup_ack(flight(UNA, 6 * MSS));
        assert_eq!(
            cc.on_dup_ack(flight(UNA, 6 * MSS)),
            Reaction::FastRetransmit
        );
    }

    // `recover` is compared modulo 2^32.
    #[test]
    fn recovery_ends_across_the_sequence_wrap() {
        let mut cc = NewReno::new(MSS16);
        let una = u32::MAX - 1500;
        for _ in 0..3 {
            let _ = cc.on_dup_ack(flight(una, 4 * MSS));
        }
        assert_eq!(
            cc.on_ack(MSS, flight(una.wrapping_add(1000), 3 * MSS)),
            Reaction::PartialAck
        );
        let _ = cc.on_ack(3 * MSS, flight(una.wrapping_add(4000), 0));
        assert!(!cc.in_recovery());
    }
}
