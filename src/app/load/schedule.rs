//! The open-loop schedule: request k is *intended* to leave at `start + k / rate`,
//! whatever happened to the requests before it. A sender that falls behind (a stall, a
//! full ring) catches up by sending the missed requests at once, and each keeps its
//! intended time, so a stall shows in the latency of every request it delayed. This is the
//! correction for coordinated omission that wrk2 makes.

use crate::time::Instant;

#[derive(Clone, Debug)]
pub struct Schedule {
    period_ns: f64,
    start: Instant,
    next: u64,
    /// A request that could not be sent (no TX buffer) and goes first next time.
    retry: Option<u64>,
}

impl Schedule {
    /// `rate` requests a second, starting at `now`.
    pub fn new(rate: f64, now: Instant) -> Self {
        Schedule {
            period_ns: 1e9 / rate,
            start: now,
            next: 0,
            retry: None,
        }
    }

    /// Starts over at `now` (after warm-up or address resolution).
    pub fn restart(&mut self, now: Instant) {
        self.start = now;
        self.next = 0;
        self.retry = None;
    }

    fn intended(&self, k: u64) -> Instant {
        Instant::from_nanos(self.start.as_nanos() + (k as f64 * self.period_ns) as u64)
    }

    /// The next request that is due at `now`: its index and intended send time.
    pub fn due(&mut self, now: Instant) -> Option<(u64, Instant)> {
        if let Some(k) = self.retry.take() {
            return Some((k, self.intended(k)));
        }
        let t = self.intended(self.next);
        if t > now {
            return None;
        }
        self.next += 1;
        Some((self.next - 1, t))
    }

    /// Gives request `k` back: it could not be sent and goes first next time.
    pub fn retry(&mut self, k: u64) {
        self.retry = Some(k);
    }

    /// When the next request is due.
    pub fn next_at(&self) -> Instant {
        match self.retry {
            Some(k) => self.intended(k),
            None => self.intended(self.next),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(s: &mut Schedule, now: Instant) -> Vec<(u64, u64)> {
        std::iter::from_fn(|| s.due(now).map(|(k, t)| (k, t.as_micros()))).collect()
    }

    #[test]
    fn requests_are_evenly_spaced() {
        let mut s = Schedule::new(1000.0, Instant::from_millis(10));
        assert_eq!(drain(&mut s, Instant::from_millis(10)), vec![(0, 10_000)]);
        assert_eq!(drain(&mut s, Instant::from_micros(10_999)), vec![]);
        assert_eq!(s.next_at(), Instant::from_millis(11));
        assert_eq!(drain(&mut s, Instant::from_millis(11)), vec![(1, 11_000)]);
    }

    #[test]
    fn a_stalled_sender_catches_up_with_the_intended_times() {
        let mut s = Schedule::new(1000.0, Instant::ZERO);
        drain(&mut s, Instant::ZERO);
        // Nothing was sent for 5 ms: five requests are due at once, each with its own
        // intended time, not the time they finally leave.
        let got = drain(&mut s, Instant::from_millis(5));
        assert_eq!(
            got,
            vec![(1, 1000), (2, 2000), (3, 3000), (4, 4000), (5, 5000)]
        );
    }

    #[test]
    fn a_request_given_back_goes_first() {
        let mut s = Schedule::new(100.0, Instant::ZERO);
        let (k, _) = s.due(Instant::ZERO).unwrap();
        s.retry(k);
        assert_eq!(s.next_at(), Instant::ZERO);
        assert_eq!(s.due(Instant::ZERO), Some((0, Instant::ZERO)));
        assert_eq!(s.due(Instant::ZERO), None);
    }

    #[test]
    fn fractional_periods_do_not_drift() {
        let mut s = Schedule::new(3.0, Instant::ZERO);
        let got = drain(&mut s, Instant::from_millis(10_000));
        assert_eq!(got.len(), 31, "0 s .. 10 s at 3/s");
        assert_eq!(got[30].1, 10_000_000);
    }
}
