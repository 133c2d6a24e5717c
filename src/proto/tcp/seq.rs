//! proto/tcp/seq: TCP sequence numbers as a newtype with modular arithmetic.
//!
//! Sequence space is 2^32 and wraps (RFC 9293 §3.4). Two numbers are compared by the
//! sign of their 32-bit wrapping difference (RFC 1982 serial-number arithmetic), which is
//! meaningful as long as they are less than 2^31 apart — always true for a TCP window.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence (or acknowledgment) number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// Signed distance `self - other` in sequence space.
    pub fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// Distance `self - earlier` when `self` is known not to be before `earlier`;
    /// zero otherwise.
    pub fn dist_from(self, earlier: SeqNumber) -> usize {
        let d = self.diff(earlier);
        if d < 0 {
            0
        } else {
            d as usize
        }
    }

    pub fn lt(self, other: SeqNumber) -> bool {
        self.diff(other) < 0
    }
    pub fn le(self, other: SeqNumber) -> bool {
        self.diff(other) <= 0
    }
    pub fn gt(self, other: SeqNumber) -> bool {
        self.diff(other) > 0
    }
    pub fn ge(self, other: SeqNumber) -> bool {
        self.diff(other) >= 0
    }

    /// `lo <= self < hi` in sequence space.
    pub fn in_range(self, lo: SeqNumber, hi: SeqNumber) -> bool {
        lo.le(self) && self.lt(hi)
    }

    /// The later of two numbers.
    pub fn max_seq(self, other: SeqNumber) -> SeqNumber {
        if self.ge(other) {
            self
        } else {
            other
        }
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl Add<usize> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, n: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n as u32))
    }
}

impl AddAssign<usize> for SeqNumber {
    fn add_assign(&mut self, n: usize) {
        *self = *self + n;
    }
}

impl Sub<usize> for SeqNumber {
    type Output = SeqNumber;
    fn sub(self, n: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(n as u32))
    }
}

impl Sub<SeqNumber> for SeqNumber {
    type Output = i32;
    fn sub(self, other: SeqNumber) -> i32 {
        self.diff(other)
    }
}

impl fmt::Debug for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_without_wrap() {
        let a = SeqNumber(100);
        let b = SeqNumber(200);
        assert!(a.lt(b) && a.le(b) && b.gt(a) && b.ge(a));
        assert!(a < b);
        assert_eq!(b - a, 100);
        assert_eq!(a - b, -100);
        assert_eq!(b.dist_from(a), 100);
        assert_eq!(a.dist_from(b), 0);
    }

    #[test]
    fn ordering_across_wrap() {
        let a = SeqNumber(u32::MAX - 10);
        let b = a + 20;
        assert_eq!(b.0, 9);
        assert!(a.lt(b));
        assert!(b.gt(a));
        assert_eq!(b - a, 20);
        assert_eq!(b.dist_from(a), 20);
        assert_eq!(b - 20usize, a);
        assert!(SeqNumber(5).in_range(a, b));
        assert!(!b.in_range(a, b));
        assert!(a.in_range(a, b));
        assert_eq!(a.max_seq(b), b);
    }

    #[test]
    fn equal_and_half_space() {
        let a = SeqNumber(7);
        assert!(a.le(a) && a.ge(a) && !a.lt(a) && !a.gt(a));
        let far = a + (1usize << 31) - 1;
        assert!(a.lt(far));
    }
}
