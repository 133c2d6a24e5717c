//! proto/tcp/rtt: one connection's retransmission timeout (RTO), estimated per RFC 6298.
//! Sans-IO: the send and ACK times are the caller's. It owns SRTT, RTTVAR and the RTO, and
//! the one segment being timed; the connection decides when to time, when a timeout backs
//! off, and when the back-off ends.
//!
//! Invariants: a computed RTO lies within the [`RtoBounds`] it was computed with (the
//! initial RTO is taken as configured, and a back-off is capped by the maximum only); at
//! most one segment is timed at a time; a retransmission forgets the timed segment, so no
//! sample ever comes from a segment that was sent twice (Karn's rule). The bounds are the
//! connection's configuration, passed in rather than copied, to keep the TCB small.
//!
//! The minimum is configurable and defaults below RFC 6298's one second (§2.4 says
//! SHOULD), as Linux does; RFC 6298 §5.7 (an RTO of 3 s after a lost SYN) is not applied.

use super::seq::SeqNumber;
use crate::time::Instant;
use core::time::Duration;

/// The clock granularity G of RFC 6298 §4: the least the variance term may add.
const G: Duration = Duration::from_millis(1);

/// What a computed RTO is kept within: RFC 6298 §2.4 (a minimum) and §2.5 (a maximum).
/// `min` must not exceed `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtoBounds {
    pub min: Duration,
    pub max: Duration,
}

/// SRTT, RTTVAR and RTO of one connection, and the segment being timed.
#[derive(Clone, Copy, Debug)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    /// The segment being timed: the sequence number it ends at, and when it was sent.
    timed: Option<(SeqNumber, Instant)>,
}

impl RttEstimator {
    /// No sample yet: the RTO is `initial` (RFC 6298 §2.1).
    pub fn new(initial: Duration) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: initial,
            timed: None,
        }
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    /// The smoothed round-trip time; `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The round-trip time variation.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// Starts timing the segment that ends at `end`, sent at `now`, unless one is being
    /// timed already (one measurement at a time, RFC 6298 §3). The caller passes only
    /// segments sent for the first time.
    pub fn time_segment(&mut self, end: SeqNumber, now: Instant) {
        if self.timed.is_none() {
            self.timed = Some((end, now));
        }
    }

    /// Where the timed segment ends, if one is timed.
    pub fn timed_end(&self) -> Option<SeqNumber> {
        self.timed.map(|(end, _)| end)
    }

    /// Whether a segment is being timed.
    pub fn is_timing(&self) -> bool {
        self.timed.is_some()
    }

    /// Forgets the timed segment: it has been (or is about to be) sent again, and an ACK
    /// for it could answer either copy.
    //= https://www.rfc-editor.org/rfc/rfc6298#section-3
    //# TCP MUST use Karn's algorithm [KP87] for taking RTT samples.  That
    //# is, RTT samples MUST NOT be made using segments that were
    //# retransmitted (and thus for which it is ambiguous whether the reply
    //# was for the first instance of the packet or a later instance).
    pub fn forget_timed(&mut self) {
        self.timed = None;
    }

    /// SND.UNA has moved to `ack` at `now`: if that covers the timed segment, the time since
    /// it was sent is a sample, and is returned.
    pub fn on_ack(&mut self, ack: SeqNumber, now: Instant, bounds: RtoBounds) -> Option<Duration> {
        let (end, sent) = self.timed?;
        if ack < end {
            return None;
        }
        let r = now.saturating_since(sent);
        self.sample(r, bounds);
        self.timed = None;
        Some(r)
    }

    /// Takes the round-trip sample `r` into SRTT and RTTVAR and recomputes the RTO within
    /// `bounds`.
    //= https://www.rfc-editor.org/rfc/rfc6298#section-2
    //# (2.2) When the first RTT measurement R is made, the host MUST set
    //#
    //#          SRTT <- R
    //#          RTTVAR <- R/2
    //#          RTO <- SRTT + max (G, K*RTTVAR)
    //#
    //#       where K = 4.
    //#
    //# (2.3) When a subsequent RTT measurement R' is made, a host MUST set
    //#
    //#          RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|
    //#          SRTT <- (1 - alpha) * SRTT + alpha * R'
    //#
    //#       The value of SRTT used in the update to RTTVAR is its value
    //#       before updating SRTT itself using the second assignment.
    //#  [...]
    //#       The above SHOULD be computed using alpha=1/8 and beta=1/4
    pub fn sample(&mut self, r: Duration, bounds: RtoBounds) {
        let srtt = match self.srtt {
            None => {
                self.rttvar = r / 2;
                r
            }
            Some(srtt) => {
                let diff = if srtt > r { srtt - r } else { r - srtt };
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                (srtt * 7 + r) / 8
            }
        };
        self.srtt = Some(srtt);
        self.rto = self.computed(srtt, bounds);
    }

    /// A retransmission timeout: doubles the RTO (up to the maximum) and forgets the timed
    /// segment, which is about to be sent again.
    //= https://www.rfc-editor.org/rfc/rfc6298#section-5
    //# (5.5) The host MUST set RTO <- RTO * 2 ("back off the timer").  The
    //#       maximum value discussed in (2.5) above may be used to provide
    //#       an upper bound to this doubling operation.
    pub fn back_off(&mut self, bounds: RtoBounds) {
        self.rto = (self.rto * 2).min(bounds.max);
        self.forget_timed();
    }

    /// An ACK of new data after timeouts: the RTO returns to what SRTT and RTTVAR say, as
    /// Linux does (Karn's rule forbids samples from retransmissions, not this). Before the
    /// first sample there is nothing to return to, and the backed-off RTO stays.
    pub fn end_back_off(&mut self, bounds: RtoBounds) {
        if let Some(srtt) = self.srtt {
            self.rto = self.computed(srtt, bounds);
        }
    }

    /// RFC 6298 §2.3: RTO = SRTT + max(G, 4·RTTVAR), within the bounds (§2.4, §2.5).
    fn computed(&self, srtt: Duration, bounds: RtoBounds) -> Duration {
        (srtt + (self.rttvar * 4).max(G)).clamp(bounds.min, bounds.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn t(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    /// 200 ms floor, 60 s ceiling: the connection's defaults.
    const B: RtoBounds = RtoBounds {
        min: Duration::from_millis(200),
        max: Duration::from_secs(60),
    };

    /// 1 s initial: the connection's default.
    fn estimator() -> RttEstimator {
        RttEstimator::new(ms(1000))
    }

    // RFC 6298 §2.1: before any sample the RTO is the initial one.
    #[test]
    fn before_any_sample_the_rto_is_the_initial_one() {
        let r = estimator();
        assert_eq!((r.rto(), r.srtt(), r.rttvar()), (ms(1000), None, ms(0)));
        assert!(!r.is_timing());
    }

    // RFC 6298 §2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4·RTTVAR.
    #[test]
    fn the_first_sample_sets_srtt_and_half_of_it_as_rttvar() {
        let mut r = estimator();
        r.sample(ms(100), B);
        assert_eq!(r.srtt(), Some(ms(100)));
        assert_eq!(r.rttvar(), ms(50));
        assert_eq!(r.rto(), ms(300));
    }

    // RFC 6298 §2.3: RTTVAR from the old SRTT first, then SRTT, with alpha 1/8, beta 1/4.
    #[test]
    fn later_samples_are_smoothed_with_alpha_one_eighth_and_beta_one_quarter() {
        let mut r = estimator();
        r.sample(ms(100), B);
        r.sample(ms(200), B);
        // RTTVAR = 3/4·50 + 1/4·|100 - 200| = 62.5; SRTT = 7/8·100 + 1/8·200 = 112.5.
        assert_eq!(r.rttvar(), Duration::from_micros(62_500));
        assert_eq!(r.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(r.rto(), Duration::from_micros(112_500 + 4 * 62_500));
        // A sample equal to SRTT shrinks only the variation.
        r.sample(Duration::from_micros(112_500), B);
        assert_eq!(r.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(r.rttvar(), Duration::from_micros(46_875));
    }

    // RFC 6298 §2.4 and §2.5: a computed RTO stays within the configured bounds.
    #[test]
    fn a_computed_rto_is_clamped_to_the_bounds() {
        let mut r = estimator();
        r.sample(ms(1), B);
        assert_eq!(r.rto(), ms(200), "raised to the minimum");
        let mut r = estimator();
        r.sample(ms(40_000), B);
        assert_eq!(r.rto(), ms(60_000), "cut to the maximum");
    }

    // RFC 6298 §4: with no variation the variance term still adds the granularity G.
    #[test]
    fn the_variance_term_is_at_least_the_clock_granularity() {
        let b = RtoBounds { min: ms(0), ..B };
        let mut r = estimator();
        r.sample(ms(0), b);
        assert_eq!(r.rto(), G);
        r.sample(ms(10), b);
        r.sample(ms(10), b);
        assert!(r.rto() >= r.srtt().unwrap() + G);
    }

    // RFC 6298 §5.5: each timeout doubles the RTO, up to the maximum.
    #[test]
    fn back_off_doubles_the_rto_up_to_the_maximum() {
        let b = RtoBounds { max: ms(5000), ..B };
        let mut r = estimator();
        r.back_off(b);
        assert_eq!(r.rto(), ms(2000));
        r.back_off(b);
        assert_eq!(r.rto(), ms(4000));
        r.back_off(b);
        assert_eq!(r.rto(), ms(5000));
        r.back_off(b);
        assert_eq!(r.rto(), ms(5000));
    }

    // An ACK of new data ends the back-off: the RTO is SRTT + 4·RTTVAR again; without a
    // sample there is nothing to return to.
    #[test]
    fn ending_the_back_off_returns_to_the_computed_rto() {
        let mut r = estimator();
        r.end_back_off(B);
        assert_eq!(r.rto(), ms(1000));
        r.back_off(B);
        r.end_back_off(B);
        assert_eq!(r.rto(), ms(2000), "no sample: the back-off stays");
        r.sample(ms(100), B);
        r.back_off(B);
        r.back_off(B);
        assert_eq!(r.rto(), ms(1200));
        r.end_back_off(B);
        assert_eq!(r.rto(), ms(300));
    }

    // RFC 6298 §3: one segment is timed at a time; the ACK that covers it is a sample.
    #[test]
    fn the_ack_covering_the_timed_segment_is_a_sample() {
        let mut r = estimator();
        r.time_segment(SeqNumber(1100), t(10));
        r.time_segment(SeqNumber(1200), t(20));
        r.on_ack(SeqNumber(1050), t(50), B);
        assert_eq!(r.srtt(), None, "a partial ACK is no sample");
        assert!(r.is_timing());
        r.on_ack(SeqNumber(1200), t(90), B);
        assert_eq!(
            r.srtt(),
            Some(ms(80)),
            "timed from the first segment's send"
        );
        assert!(!r.is_timing());
        r.on_ack(SeqNumber(1300), t(500), B);
        assert_eq!(r.srtt(), Some(ms(80)), "nothing timed, no sample");
    }

    // RFC 6298 §3 (Karn): a retransmission forgets the timed segment, by timeout or not.
    #[test]
    fn karn_no_sample_after_a_retransmission() {
        let mut r = estimator();
        r.time_segment(SeqNumber(1100), t(10));
        r.back_off(B);
        r.on_ack(SeqNumber(1100), t(3000), B);
        assert_eq!(r.srtt(), None);
        r.time_segment(SeqNumber(1200), t(3000));
        r.forget_timed();
        r.on_ack(SeqNumber(1200), t(3100), B);
        assert_eq!(r.srtt(), None);
    }

    // Sequence numbers wrap: the timed segment may end past 2^32.
    #[test]
    fn the_timed_segment_may_end_across_the_wrap() {
        let mut r = estimator();
        r.time_segment(SeqNumber(u32::MAX - 10) + 100, t(0));
        r.on_ack(SeqNumber(u32::MAX - 5), t(5), B);
        assert_eq!(r.srtt(), None);
        r.on_ack(SeqNumber(89), t(7), B);
        assert_eq!(r.srtt(), Some(ms(7)));
    }
}
