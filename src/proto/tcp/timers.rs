//! proto/tcp/timers: one connection's deadlines (retransmission, persist, delayed ACK,
//! TIME_WAIT, and with SACK the loss probe and RACK's reordering timer) and the earliest
//! of them, which `Connection::poll_timeout` reports. Sans-IO:
//! a timer is an instant the caller's clock is compared with; nothing here reads a clock
//! or fires by itself. The connection decides what happens when one expires.
//!
//! Invariants: a timer is either idle or armed at one instant; [`Timers::next_deadline`]
//! is the earliest armed one, or `None` when all are idle; the persist back-off counts
//! the window probes sent since the peer's window last had room.

use crate::time::Instant;
use core::time::Duration;

/// The persist timer's back-off doubles at most this many times (64 × RTO).
const PERSIST_BACKOFF_MAX: u32 = 6;

/// One deadline, armed or idle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timer(Option<Instant>);

impl Timer {
    /// Not armed.
    pub const IDLE: Timer = Timer(None);

    /// Arms it at `at`, moving it if it was armed.
    pub fn set(&mut self, at: Instant) {
        self.0 = Some(at);
    }

    /// Arms it at `at` unless it is armed already (it then keeps its deadline).
    pub fn set_if_idle(&mut self, at: Instant) {
        if self.0.is_none() {
            self.0 = Some(at);
        }
    }

    pub fn stop(&mut self) {
        self.0 = None;
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.0
    }

    pub fn is_armed(&self) -> bool {
        self.0.is_some()
    }

    /// Armed, and its deadline has come at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        self.0.is_some_and(|t| now >= t)
    }
}

/// The timers of one connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timers {
    /// Unacknowledged data (or SYN, or FIN) is resent when it expires (RFC 6298 §5).
    pub retransmit: Timer,
    /// Data waits on a closed window: probe it when this expires (RFC 9293 §3.8.6.1).
    pub persist: Timer,
    /// An ACK held back goes out by then (RFC 9293 §3.8.6.3).
    pub delayed_ack: Timer,
    /// TIME_WAIT ends, and the connection closes (2×MSL, RFC 9293 §3.6).
    pub time_wait: Timer,
    /// A tail loss probe goes out (RFC 8985 §7.2).
    pub loss_probe: Timer,
    /// RACK looks again at segments it waits on (RFC 8985 §6.3).
    pub reorder: Timer,
    /// Window probes sent since the window last had room.
    persist_backoff: u32,
}

impl Timers {
    /// All idle.
    pub const fn new() -> Self {
        Timers {
            retransmit: Timer::IDLE,
            persist: Timer::IDLE,
            delayed_ack: Timer::IDLE,
            time_wait: Timer::IDLE,
            loss_probe: Timer::IDLE,
            reorder: Timer::IDLE,
            persist_backoff: 0,
        }
    }

    /// The earliest armed deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.retransmit,
            self.persist,
            self.delayed_ack,
            self.time_wait,
            self.loss_probe,
            self.reorder,
        ]
        .into_iter()
        .filter_map(|t| t.deadline())
        .min()
    }

    /// Data waits on a window with no room, and nothing in flight will bring an ACK that
    /// opens it: arms the persist timer, unless it runs already, `rto` doubled for each
    /// probe sent since the window last had room (at most 64 times, and never past
    /// `max`). It is not the retransmission timer: probes do not back the RTO off.
    //= https://www.rfc-editor.org/rfc/rfc9293#section-3.8.6.1
    //# The sending TCP peer must regularly transmit at least one octet of new
    //# data (if available), or retransmit to the receiving TCP peer even if
    //# the send window is zero, in order to "probe" the window.
    pub fn arm_persist(&mut self, now: Instant, rto: Duration, max: Duration) {
        if !self.persist.is_armed() {
            let wait = rto * (1 << self.persist_backoff.min(PERSIST_BACKOFF_MAX));
            self.persist.set(now + wait.min(max));
        }
    }

    /// The persist timer has expired at `now` (true once per expiry): a probe is due,
    /// and the next wait is twice as long.
    pub fn persist_fired(&mut self, now: Instant) -> bool {
        if !self.persist.expired(now) {
            return false;
        }
        self.persist.stop();
        self.persist_backoff += 1;
        true
    }

    /// The window has room for data again: no probing, and the back-off starts over.
    pub fn window_opened(&mut self) {
        self.persist.stop();
        self.persist_backoff = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    const RTO: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(60);

    #[test]
    fn a_timer_expires_at_its_deadline_not_before() {
        let mut x = Timer::IDLE;
        assert!(!x.expired(t(1_000_000)), "an idle timer never expires");
        x.set(t(100));
        assert!(!x.expired(t(99)));
        assert!(x.expired(t(100)));
        x.stop();
        assert_eq!(x.deadline(), None);
    }

    #[test]
    fn set_if_idle_keeps_a_running_deadline() {
        let mut x = Timer::IDLE;
        x.set_if_idle(t(100));
        x.set_if_idle(t(50));
        assert_eq!(x.deadline(), Some(t(100)));
        x.set(t(50));
        assert_eq!(x.deadline(), Some(t(50)), "set moves it");
    }

    #[test]
    fn the_next_deadline_is_the_earliest_armed_timer() {
        let mut ts = Timers::new();
        assert_eq!(ts.next_deadline(), None);
        ts.time_wait.set(t(60_000));
        assert_eq!(ts.next_deadline(), Some(t(60_000)));
        ts.retransmit.set(t(300));
        ts.delayed_ack.set(t(40));
        ts.persist.set(t(500));
        assert_eq!(ts.next_deadline(), Some(t(40)));
        ts.delayed_ack.stop();
        assert_eq!(ts.next_deadline(), Some(t(300)));
        ts.retransmit.stop();
        assert_eq!(ts.next_deadline(), Some(t(500)));
    }

    // RFC 9293 §3.8.6.1: a probe when the persist timer fires, each next one after twice
    // the wait, and the back-off ends when the window opens.
    #[test]
    fn persist_probes_back_off_until_the_window_opens() {
        let mut ts = Timers::new();
        ts.arm_persist(t(0), RTO, MAX);
        assert_eq!(ts.persist.deadline(), Some(t(200)));
        ts.arm_persist(t(100), RTO, MAX);
        assert_eq!(
            ts.persist.deadline(),
            Some(t(200)),
            "a running timer is kept"
        );
        assert!(!ts.persist_fired(t(199)));
        assert!(ts.persist_fired(t(200)), "the first probe");
        assert!(!ts.persist.is_armed());
        assert!(!ts.persist_fired(t(200)), "once per expiry");
        ts.arm_persist(t(200), RTO, MAX);
        assert_eq!(ts.persist.deadline(), Some(t(600)), "twice the wait");
        assert!(ts.persist_fired(t(600)));
        ts.window_opened();
        assert!(!ts.persist.is_armed());
        ts.arm_persist(t(1000), RTO, MAX);
        assert_eq!(
            ts.persist.deadline(),
            Some(t(1200)),
            "the back-off starts over"
        );
    }

    #[test]
    fn the_persist_wait_is_capped() {
        let mut ts = Timers::new();
        let mut now = t(0);
        let mut waits = Vec::new();
        for _ in 0..9 {
            ts.arm_persist(now, RTO, MAX);
            let at = ts.persist.deadline().unwrap();
            waits.push((at - now).as_millis());
            now = at;
            assert!(ts.persist_fired(now));
        }
        assert_eq!(
            waits,
            [200, 400, 800, 1600, 3200, 6400, 12_800, 12_800, 12_800],
            "at most 64 × RTO"
        );
        let (rto, max) = (Duration::from_secs(2), Duration::from_secs(3));
        let mut ts = Timers::new();
        ts.arm_persist(t(0), rto, max);
        assert!(ts.persist_fired(t(2000)));
        ts.arm_persist(t(2000), rto, max);
        assert_eq!(
            ts.persist.deadline(),
            Some(t(5000)),
            "never past the maximum"
        );
    }
}
