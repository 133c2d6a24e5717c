//! proto/tcp/assembler: which sequence ranges a connection holds out of order, beyond
//! RCV.NXT. Sans-IO bookkeeping only: the bytes themselves sit in the receive ring past its
//! in-order bytes (the connection writes them there); this records where they are and says
//! how far RCV.NXT may move once the hole before them fills.
//!
//! Invariants: at most [`OOO_RANGES`] ranges; no two ranges overlap or touch (each insert
//! merges every range it meets); after [`Assembler::advance`] every range starts beyond
//! the RCV.NXT it returned. A range that would need a slot more than there are is
//! forgotten: its bytes are not committed, and the peer sends them again.

use super::seq::SeqNumber;

/// Out-of-order ranges kept for reassembly; a segment that would need one more is
/// dropped (and later retransmitted by the peer).
pub const OOO_RANGES: usize = 4;

/// The `[start, end)` ranges held beyond RCV.NXT, in no particular order.
//= https://www.rfc-editor.org/rfc/rfc9293#section-3.10.7.4
//# Segments with higher beginning sequence numbers SHOULD be held for later
//# processing (SHLD-31).
#[derive(Clone, Copy, Debug)]
pub struct Assembler {
    ranges: [(SeqNumber, SeqNumber); OOO_RANGES],
    count: usize,
}

impl Default for Assembler {
    fn default() -> Self {
        Self::new()
    }
}

impl Assembler {
    /// Nothing held.
    pub const fn new() -> Self {
        Assembler {
            ranges: [(SeqNumber(0), SeqNumber(0)); OOO_RANGES],
            count: 0,
        }
    }

    /// How many ranges are held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// No data is held out of order.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Records `[start, end)` as held, merged with every range it overlaps or touches.
    /// Returns false when it touches none and every slot is taken: then it is forgotten.
    pub fn insert(&mut self, start: SeqNumber, end: SeqNumber) -> bool {
        let (mut s, mut e) = (start, end);
        let mut i = 0;
        while i < self.count {
            let (a, b) = self.ranges[i];
            if a <= e && s <= b {
                if a < s {
                    s = a;
                }
                if b > e {
                    e = b;
                }
                self.remove(i);
            } else {
                i += 1;
            }
        }
        if self.count == OOO_RANGES {
            return false;
        }
        self.ranges[self.count] = (s, e);
        self.count += 1;
        true
    }

    /// RCV.NXT has reached `rcv_nxt`: takes out every range it reaches (directly, or
    /// through ranges it reaches) and returns where RCV.NXT moves, the end of the
    /// contiguous data. The bytes from `rcv_nxt` to the result are now in order.
    pub fn advance(&mut self, rcv_nxt: SeqNumber) -> SeqNumber {
        let mut next = rcv_nxt;
        let mut i = 0;
        while i < self.count {
            let (a, b) = self.ranges[i];
            if a <= next {
                if b > next {
                    next = b;
                }
                self.remove(i);
                i = 0; // RCV.NXT moved: earlier ranges may now be reached
            } else {
                i += 1;
            }
        }
        next
    }

    /// The held ranges, in no particular order.
    pub fn ranges(&self) -> &[(SeqNumber, SeqNumber)] {
        &self.ranges[..self.count]
    }

    /// Drops range `i`; the last one takes its slot.
    fn remove(&mut self, i: usize) {
        self.count -= 1;
        self.ranges[i] = self.ranges[self.count];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sq(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    /// The held ranges as sorted plain numbers.
    fn held(a: &Assembler) -> Vec<(u32, u32)> {
        let mut v: Vec<_> = a.ranges().iter().map(|&(s, e)| (s.0, e.0)).collect();
        v.sort();
        v
    }

    #[test]
    fn a_new_assembler_holds_nothing_and_does_not_move_rcv_nxt() {
        let mut a = Assembler::new();
        assert!(a.is_empty());
        assert_eq!(a.advance(sq(100)), sq(100));
    }

    #[test]
    fn separate_ranges_are_kept_apart() {
        let mut a = Assembler::new();
        assert!(a.insert(sq(200), sq(300)));
        assert!(a.insert(sq(400), sq(500)));
        assert_eq!(held(&a), vec![(200, 300), (400, 500)]);
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn overlapping_and_touching_ranges_merge() {
        let mut a = Assembler::new();
        a.insert(sq(200), sq(300));
        a.insert(sq(250), sq(350));
        assert_eq!(held(&a), vec![(200, 350)], "overlap");
        a.insert(sq(350), sq(400));
        assert_eq!(held(&a), vec![(200, 400)], "touching at the end");
        a.insert(sq(150), sq(200));
        assert_eq!(held(&a), vec![(150, 400)], "touching at the start");
        a.insert(sq(160), sq(170));
        assert_eq!(held(&a), vec![(150, 400)], "inside");
    }

    #[test]
    fn a_range_bridging_several_merges_them_all() {
        let mut a = Assembler::new();
        for s in [200, 400, 600] {
            a.insert(sq(s), sq(s + 100));
        }
        assert!(a.insert(sq(250), sq(650)));
        assert_eq!(held(&a), vec![(200, 700)]);
    }

    // Today's limit: four ranges; a fifth that touches none is forgotten, but one that
    // merges still fits.
    #[test]
    fn a_fifth_separate_range_is_dropped() {
        let mut a = Assembler::new();
        for s in [200, 400, 600, 800] {
            assert!(a.insert(sq(s), sq(s + 100)));
        }
        assert!(!a.insert(sq(1000), sq(1100)));
        assert_eq!(
            held(&a),
            vec![(200, 300), (400, 500), (600, 700), (800, 900)]
        );
        assert!(a.insert(sq(900), sq(950)), "it merges, so it fits");
        assert_eq!(a.len(), OOO_RANGES);
        assert_eq!(held(&a).last(), Some(&(800, 950)));
    }

    #[test]
    fn advance_stops_at_the_first_hole() {
        let mut a = Assembler::new();
        a.insert(sq(200), sq(300));
        assert_eq!(a.advance(sq(150)), sq(150), "a hole remains");
        assert_eq!(a.len(), 1);
        assert_eq!(a.advance(sq(200)), sq(300), "the hole is filled");
        assert!(a.is_empty());
    }

    #[test]
    fn advance_goes_through_every_range_it_reaches() {
        let mut a = Assembler::new();
        // Inserted so that the slot order is not the sequence order.
        a.insert(sq(400), sq(500));
        a.insert(sq(300), sq(399));
        a.insert(sq(200), sq(300));
        a.insert(sq(700), sq(800));
        assert_eq!(a.advance(sq(150)), sq(150));
        assert_eq!(a.advance(sq(200)), sq(399), "stops short of 400");
        assert_eq!(held(&a), vec![(400, 500), (700, 800)]);
        assert_eq!(a.advance(sq(450)), sq(500), "a range RCV.NXT is inside of");
        assert_eq!(held(&a), vec![(700, 800)]);
    }

    #[test]
    fn ranges_already_behind_rcv_nxt_are_dropped() {
        let mut a = Assembler::new();
        a.insert(sq(200), sq(300));
        a.insert(sq(400), sq(500));
        assert_eq!(a.advance(sq(600)), sq(600));
        assert!(a.is_empty());
    }

    #[test]
    fn ranges_across_the_sequence_wrap() {
        let mut a = Assembler::new();
        let near = u32::MAX - 50;
        a.insert(sq(near), sq(near) + 100);
        a.insert(sq(near) + 100, sq(near) + 200);
        assert_eq!(a.len(), 1, "merged across 2^32");
        assert_eq!(a.advance(sq(near - 10)), sq(near - 10));
        assert_eq!(a.advance(sq(near)), sq(near) + 200);
        assert!(a.is_empty());
    }
}
