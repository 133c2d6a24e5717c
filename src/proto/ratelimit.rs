//! A token bucket on caller-supplied time: `rate` tokens a second, at most `burst` saved.
//! Used to bound ICMP port-unreachable messages (RFC 1812 §4.3.2.8) and RFC 5961
//! challenge ACKs.

use crate::time::Instant;

#[derive(Clone, Debug)]
pub struct TokenBucket {
    /// Nanoseconds it takes to earn one token; 0 means unlimited.
    ns_per_token: u64,
    burst: u64,
    /// Saved tokens, scaled by `ns_per_token` so that refills need no division.
    credit_ns: u64,
    last: Instant,
}

impl TokenBucket {
    /// `rate` tokens per second (0 = never allow), bursts of up to `burst`. Starts full.
    pub fn new(rate: u32, burst: u32) -> Self {
        let ns_per_token = if rate == 0 {
            u64::MAX
        } else {
            1_000_000_000 / u64::from(rate)
        };
        let burst = u64::from(burst.max(1));
        TokenBucket {
            ns_per_token,
            burst,
            credit_ns: ns_per_token.saturating_mul(burst),
            last: Instant::ZERO,
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        if self.ns_per_token == u64::MAX {
            return false;
        }
        let cap = self.ns_per_token.saturating_mul(self.burst);
        let earned = now.as_nanos().saturating_sub(self.last.as_nanos());
        self.credit_ns = self.credit_ns.saturating_add(earned).min(cap);
        self.last = self.last.max(now);
        if self.credit_ns >= self.ns_per_token {
            self.credit_ns -= self.ns_per_token;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_the_rate() {
        let mut b = TokenBucket::new(10, 3);
        let t0 = Instant::from_millis(1000);
        assert!(b.take(t0) && b.take(t0) && b.take(t0));
        assert!(!b.take(t0), "burst spent");
        assert!(!b.take(t0 + core::time::Duration::from_millis(99)));
        assert!(b.take(t0 + core::time::Duration::from_millis(100)));
        // A long quiet spell refills only up to the burst.
        let later = t0 + core::time::Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| b.take(later)).count(), 3);
    }

    #[test]
    fn zero_rate_never_allows() {
        let mut b = TokenBucket::new(0, 5);
        assert!(!b.take(Instant::from_millis(5)));
    }
}
