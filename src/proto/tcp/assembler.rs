//! proto/tcp/assembler: which sequence ranges a connection holds out of order, beyond
//! RCV.NXT, and the SACK blocks (RFC 2018) that report them. Sans-IO bookkeeping only:
//! the bytes themselves sit in the receive ring past its in-order bytes (the connection
//! writes them there), so what is held is bounded by the receive window, in bytes; this
//! records where they are and says how far RCV.NXT may move once the hole before them
//! fills.
//!
//! The ranges live in a list allocated once with the connection's buffers (see
//! [`ranges_for`]): one range for every [`BYTES_PER_RANGE`] bytes of receive buffer, so
//! that any pattern of segments and holes averaging that many bytes or more fits whole
//! in the window. A segment that would need a range more than that is not kept (its
//! bytes are not committed and the peer sends them again): a peer that fragments its
//! window into tiny pieces cannot make the connection hold unbounded bookkeeping.
//!
//! Invariants: the ranges are sorted, none overlaps or touches another (each insert
//! merges every range it meets), and after [`Assembler::advance`] every range starts
//! beyond the RCV.NXT it returned; the list never grows past the capacity it was given,
//! so nothing here allocates once the connection exists.

use super::seq::SeqNumber;

/// Receive-buffer bytes per out-of-order range kept (see the module comment).
pub const BYTES_PER_RANGE: usize = 256;

/// The out-of-order ranges a connection with a `recv_buffer`-byte receive buffer keeps
/// at most: every pattern of ranges and holes of [`BYTES_PER_RANGE`] / 2 bytes and more
/// (full segments of any MSS a peer may use, 536 and up, with single-segment holes).
pub fn ranges_for(recv_buffer: usize) -> usize {
    (recv_buffer / BYTES_PER_RANGE).max(8)
}

/// The `[start, end)` ranges held beyond RCV.NXT, in sequence order.
//= https://www.rfc-editor.org/rfc/rfc9293#section-3.10.7.4
//# Segments with higher beginning sequence numbers SHOULD be held for later
//# processing (SHLD-31).
#[derive(Debug, Default)]
pub struct Assembler {
    ranges: Vec<(SeqNumber, SeqNumber)>,
    /// Most ranges held; `ranges` has at least this capacity.
    limit: usize,
}

/// What [`Assembler::insert`] did with a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// Held (merged with every range it meets). `dup` is the first part of it that was
    /// already held (RFC 2883 reports it as a D-SACK), if any.
    Held { dup: Option<(SeqNumber, SeqNumber)> },
    /// Not held: it meets no range and the list is full. Its bytes are forgotten.
    Full,
}

impl Assembler {
    /// Nothing held, room for `limit` ranges (allocated now, once).
    pub fn with_capacity(limit: usize) -> Self {
        Assembler {
            ranges: Vec::with_capacity(limit),
            limit,
        }
    }

    /// Takes the memory of `v` (emptied) for an assembler of at most `limit` ranges; a
    /// `v` with less capacity is grown once here.
    pub fn from_vec(mut v: Vec<(SeqNumber, SeqNumber)>, limit: usize) -> Self {
        v.clear();
        v.reserve_exact(limit);
        Assembler { ranges: v, limit }
    }

    /// Gives the list's memory back (emptied); the assembler holds nothing after.
    pub fn take_vec(&mut self) -> Vec<(SeqNumber, SeqNumber)> {
        self.limit = 0;
        let mut v = core::mem::take(&mut self.ranges);
        v.clear();
        v
    }

    /// Takes the memory of `v` (emptied) for at most `limit` ranges, into an assembler
    /// whose memory was taken (`take_vec`).
    pub fn put_vec(&mut self, mut v: Vec<(SeqNumber, SeqNumber)>, limit: usize) {
        debug_assert!(self.ranges.is_empty());
        v.clear();
        v.reserve_exact(limit);
        self.ranges = v;
        self.limit = limit;
    }

    /// Most ranges held.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many ranges are held.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// No data is held out of order.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Records `[start, end)` as held, merged with every range it overlaps or touches.
    pub fn insert(&mut self, start: SeqNumber, end: SeqNumber) -> Inserted {
        if end <= start {
            return Inserted::Held { dup: None };
        }
        // The first range that ends at or after `start`: every one before it lies wholly
        // below, with a gap.
        let i = self.ranges.partition_point(|&(_, b)| b < start);
        // Ranges from i on that start at or before `end` meet the new one.
        let mut j = i;
        let mut dup = None;
        let (mut s, mut e) = (start, end);
        while j < self.ranges.len() && self.ranges[j].0 <= end {
            let (a, b) = self.ranges[j];
            if dup.is_none() {
                let (ds, de) = (a.max_seq(start), b.min_seq(end));
                if ds < de {
                    dup = Some((ds, de));
                }
            }
            s = s.min_seq(a);
            e = e.max_seq(b);
            j += 1;
        }
        if i == j {
            if self.ranges.len() >= self.limit {
                return Inserted::Full;
            }
            self.ranges.insert(i, (s, e));
        } else {
            self.ranges[i] = (s, e);
            self.ranges.drain(i + 1..j);
        }
        Inserted::Held { dup }
    }

    /// The first part of `[start, end)` that is held already, if any.
    pub fn overlap(&self, start: SeqNumber, end: SeqNumber) -> Option<(SeqNumber, SeqNumber)> {
        let i = self.ranges.partition_point(|&(_, b)| b <= start);
        let &(a, b) = self.ranges.get(i)?;
        let (ds, de) = (a.max_seq(start), b.min_seq(end));
        (ds < de).then_some((ds, de))
    }

    /// RCV.NXT has reached `rcv_nxt`: takes out every range it reaches (directly, or
    /// through ranges it reaches) and returns where RCV.NXT moves, the end of the
    /// contiguous data. The bytes from `rcv_nxt` to the result are now in order.
    pub fn advance(&mut self, rcv_nxt: SeqNumber) -> SeqNumber {
        let mut next = rcv_nxt;
        let mut n = 0;
        for &(a, b) in &self.ranges {
            if a > next {
                break;
            }
            next = next.max_seq(b);
            n += 1;
        }
        self.ranges.drain(..n);
        next
    }

    /// The held range that holds `seq`, if any.
    pub fn block_containing(&self, seq: SeqNumber) -> Option<(SeqNumber, SeqNumber)> {
        let i = self.ranges.partition_point(|&(_, b)| b <= seq);
        self.ranges.get(i).copied().filter(|&(a, _)| a <= seq)
    }

    /// The held ranges, in sequence order.
    pub fn ranges(&self) -> &[(SeqNumber, SeqNumber)] {
        &self.ranges
    }

    /// Where the highest held data ends.
    pub fn highest(&self) -> Option<SeqNumber> {
        self.ranges.last().map(|&(_, b)| b)
    }
}

/// SACK blocks one ACK carries at most (RFC 2018 §3: four without timestamps).
pub const SACK_BLOCKS: usize = 4;

/// The blocks a receiver reported first in its latest ACKs, most recent first (RFC 2018
/// §4), remembered by a sequence number inside each: a held range only grows until
/// RCV.NXT passes it, so that number stays inside the block it named.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecentBlocks {
    seqs: [SeqNumber; SACK_BLOCKS],
    len: u8,
}

impl RecentBlocks {
    /// `seq` (inside the block just reported first) becomes the most recent; an older
    /// entry for the same block goes.
    pub fn report(&mut self, ooo: &Assembler, seq: SeqNumber) {
        let Some(block) = ooo.block_containing(seq) else {
            return;
        };
        let mut kept = [seq; SACK_BLOCKS];
        let mut n = 1;
        for &s in self.seqs() {
            if n < SACK_BLOCKS && !(block.0 <= s && s < block.1) {
                kept[n] = s;
                n += 1;
            }
        }
        self.seqs = kept;
        self.len = n as u8;
    }

    /// The remembered sequence numbers, most recent first.
    pub fn seqs(&self) -> &[SeqNumber] {
        &self.seqs[..usize::from(self.len)]
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// The SACK blocks of one ACK (RFC 2018 §4, RFC 2883 §4), at most [`SACK_BLOCKS`]:
/// first `dsack` if there is one (a duplicate that arrived; RFC 2883: "the first SACK
/// block SHOULD specify the contiguous block of data ... which triggered the ACK") and
/// then the held block around it, if it lies in one; else the block that holds `first`
/// (the out-of-order segment that triggered this ACK); then the blocks reported first
/// most recently; then any other held blocks, highest first. No block appears twice.
pub fn sack_blocks(
    ooo: &Assembler,
    recent: &RecentBlocks,
    dsack: Option<(SeqNumber, SeqNumber)>,
    first: Option<SeqNumber>,
    out: &mut [(u32, u32); SACK_BLOCKS],
) -> usize {
    let mut n = 0;
    let push = |b: (SeqNumber, SeqNumber), out: &mut [(u32, u32); SACK_BLOCKS], n: &mut usize| {
        let b = (b.0 .0, b.1 .0);
        if *n < SACK_BLOCKS && !out[..*n].contains(&b) {
            out[*n] = b;
            *n += 1;
        }
    };
    if let Some(d) = dsack {
        push(d, out, &mut n);
        //= https://www.rfc-editor.org/rfc/rfc2883#section-4
        //# If the D-SACK block reports a duplicate contiguous sequence from a
        //# (possibly larger) block of data in the receiver's data queue above
        //# the cumulative acknowledgement, then the second SACK block in that
        //# SACK option should specify that (possibly larger) block of data.
        // (Even when it is the D-SACK block itself: that is how the sender tells a
        // duplicate above the cumulative ACK from new SACK information.)
        if let Some(b) = ooo.block_containing(d.0) {
            out[n] = (b.0 .0, b.1 .0);
            n += 1;
        }
    }
    //= https://www.rfc-editor.org/rfc/rfc2018#section-4
    //# * The first SACK block (i.e., the one immediately following the
    //#   kind and length fields in the option) MUST specify the contiguous
    //#   block of data containing the segment which triggered this ACK,
    //#   unless that segment advanced the Acknowledgment Number field in
    //#   the header.
    if let Some(b) = first.and_then(|s| ooo.block_containing(s)) {
        push(b, out, &mut n);
    }
    //# * The SACK option SHOULD be filled out by repeating the most
    //#   recently reported SACK blocks (based on first SACK blocks in
    //#   previous SACK options) that are not subsets of a SACK block
    //#   already included in the SACK option being constructed.
    for &s in recent.seqs() {
        if let Some(b) = ooo.block_containing(s) {
            push(b, out, &mut n);
        }
    }
    for &b in ooo.ranges().iter().rev() {
        if n == SACK_BLOCKS {
            break;
        }
        push(b, out, &mut n);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sq(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    /// The held ranges as plain numbers.
    fn held(a: &Assembler) -> Vec<(u32, u32)> {
        a.ranges().iter().map(|&(s, e)| (s.0, e.0)).collect()
    }

    fn held_ok(a: &mut Assembler, s: u32, e: u32) {
        assert!(
            matches!(a.insert(sq(s), sq(e)), Inserted::Held { .. }),
            "{s}..{e}"
        );
    }

    #[test]
    fn a_new_assembler_holds_nothing_and_does_not_move_rcv_nxt() {
        let mut a = Assembler::with_capacity(8);
        assert!(a.is_empty());
        assert_eq!(a.advance(sq(100)), sq(100));
    }

    #[test]
    fn separate_ranges_are_kept_apart_in_order() {
        let mut a = Assembler::with_capacity(8);
        held_ok(&mut a, 400, 500);
        held_ok(&mut a, 200, 300);
        assert_eq!(held(&a), vec![(200, 300), (400, 500)]);
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn overlapping_and_touching_ranges_merge() {
        let mut a = Assembler::with_capacity(8);
        held_ok(&mut a, 200, 300);
        assert_eq!(
            a.insert(sq(250), sq(350)),
            Inserted::Held {
                dup: Some((sq(250), sq(300)))
            },
            "the overlap is a duplicate"
        );
        assert_eq!(held(&a), vec![(200, 350)], "overlap");
        assert_eq!(a.insert(sq(350), sq(400)), Inserted::Held { dup: None });
        assert_eq!(held(&a), vec![(200, 400)], "touching at the end");
        held_ok(&mut a, 150, 200);
        assert_eq!(held(&a), vec![(150, 400)], "touching at the start");
        assert_eq!(
            a.insert(sq(160), sq(170)),
            Inserted::Held {
                dup: Some((sq(160), sq(170)))
            }
        );
        assert_eq!(held(&a), vec![(150, 400)], "inside");
    }

    #[test]
    fn a_range_bridging_several_merges_them_all() {
        let mut a = Assembler::with_capacity(8);
        for s in [200, 400, 600] {
            held_ok(&mut a, s, s + 100);
        }
        held_ok(&mut a, 250, 650);
        assert_eq!(held(&a), vec![(200, 700)]);
    }

    // What is held is bounded by bytes: a 64 KiB receive buffer keeps 256 ranges, far
    // more than the 22 holes full segments can leave in its window; past the limit, a
    // range that merges still fits.
    #[test]
    fn the_range_limit_follows_the_receive_buffer() {
        assert_eq!(ranges_for(64 * 1024), 256);
        assert_eq!(ranges_for(1024), 8, "never fewer than eight");
        let mut a = Assembler::with_capacity(ranges_for(64 * 1024));
        for i in 0..256u32 {
            held_ok(&mut a, 1000 + 200 * i, 1100 + 200 * i);
        }
        assert_eq!(a.insert(sq(100_000), sq(100_100)), Inserted::Full);
        assert_eq!(a.len(), 256);
        held_ok(&mut a, 1100, 1150);
        assert_eq!(a.len(), 256, "it merges, so it fits");
        assert_eq!(a.ranges()[0], (sq(1000), sq(1150)));
        assert!(a.ranges.capacity() >= 256);
    }

    #[test]
    fn advance_stops_at_the_first_hole() {
        let mut a = Assembler::with_capacity(8);
        held_ok(&mut a, 200, 300);
        assert_eq!(a.advance(sq(150)), sq(150), "a hole remains");
        assert_eq!(a.len(), 1);
        assert_eq!(a.advance(sq(200)), sq(300), "the hole is filled");
        assert!(a.is_empty());
    }

    #[test]
    fn advance_goes_through_every_range_it_reaches() {
        let mut a = Assembler::with_capacity(8);
        held_ok(&mut a, 400, 500);
        held_ok(&mut a, 300, 399);
        held_ok(&mut a, 200, 300);
        held_ok(&mut a, 700, 800);
        assert_eq!(held(&a), vec![(200, 399), (400, 500), (700, 800)]);
        assert_eq!(a.advance(sq(150)), sq(150));
        assert_eq!(a.advance(sq(200)), sq(399), "stops short of 400");
        assert_eq!(held(&a), vec![(400, 500), (700, 800)]);
        assert_eq!(a.advance(sq(450)), sq(500), "a range RCV.NXT is inside of");
        assert_eq!(held(&a), vec![(700, 800)]);
    }

    #[test]
    fn ranges_already_behind_rcv_nxt_are_dropped() {
        let mut a = Assembler::with_capacity(8);
        held_ok(&mut a, 200, 300);
        held_ok(&mut a, 400, 500);
        assert_eq!(a.advance(sq(600)), sq(600));
        assert!(a.is_empty());
    }

    #[test]
    fn ranges_across_the_sequence_wrap() {
        let mut a = Assembler::with_capacity(8);
        let near = u32::MAX - 50;
        held_ok(&mut a, near, near.wrapping_add(100));
        held_ok(&mut a, near.wrapping_add(100), near.wrapping_add(200));
        assert_eq!(a.len(), 1, "merged across 2^32");
        assert_eq!(a.advance(sq(near - 10)), sq(near - 10));
        assert_eq!(a.advance(sq(near)), sq(near) + 200);
        assert!(a.is_empty());
    }

    #[test]
    fn the_block_holding_a_sequence_number() {
        let mut a = Assembler::with_capacity(8);
        held_ok(&mut a, 200, 300);
        held_ok(&mut a, 400, 500);
        assert_eq!(a.block_containing(sq(200)), Some((sq(200), sq(300))));
        assert_eq!(a.block_containing(sq(299)), Some((sq(200), sq(300))));
        assert_eq!(a.block_containing(sq(300)), None);
        assert_eq!(a.block_containing(sq(450)), Some((sq(400), sq(500))));
        assert_eq!(a.block_containing(sq(100)), None);
        assert_eq!(a.overlap(sq(250), sq(450)), Some((sq(250), sq(300))));
        assert_eq!(a.overlap(sq(300), sq(400)), None);
    }

    fn blocks(
        a: &Assembler,
        r: &RecentBlocks,
        d: Option<(u32, u32)>,
        f: Option<u32>,
    ) -> Vec<(u32, u32)> {
        let mut out = [(0, 0); SACK_BLOCKS];
        let n = sack_blocks(a, r, d.map(|(s, e)| (sq(s), sq(e))), f.map(sq), &mut out);
        out[..n].to_vec()
    }

    // RFC 2018 §4: the first block holds the segment that triggered the ACK, then the
    // most recently reported first blocks, then others; four at most.
    #[test]
    fn the_first_sack_block_holds_the_triggering_segment_then_the_most_recent() {
        let mut a = Assembler::with_capacity(8);
        let mut r = RecentBlocks::default();
        for s in [200, 400, 600, 800, 1000] {
            held_ok(&mut a, s, s + 100);
            r.report(&a, sq(s));
        }
        assert_eq!(
            blocks(&a, &r, None, Some(450)),
            vec![(400, 500), (1000, 1100), (800, 900), (600, 700)]
        );
        r.report(&a, sq(450));
        assert_eq!(
            blocks(&a, &r, None, Some(250)),
            vec![(200, 300), (400, 500), (1000, 1100), (800, 900)]
        );
        // A block RCV.NXT has passed is reported no more.
        a.advance(sq(200));
        assert_eq!(
            blocks(&a, &r, None, None),
            vec![(400, 500), (1000, 1100), (800, 900), (600, 700)]
        );
    }

    // RFC 2883 §4: a D-SACK block comes first, then the held block it lies in.
    #[test]
    fn a_dsack_block_comes_first_then_the_block_around_it() {
        let mut a = Assembler::with_capacity(8);
        let r = RecentBlocks::default();
        held_ok(&mut a, 200, 300);
        held_ok(&mut a, 400, 500);
        assert_eq!(
            blocks(&a, &r, Some((420, 440)), None),
            vec![(420, 440), (400, 500), (200, 300)]
        );
        assert_eq!(
            blocks(&a, &r, Some((50, 100)), None),
            vec![(50, 100), (400, 500), (200, 300)],
            "below RCV.NXT: no block around it"
        );
        assert_eq!(
            blocks(&a, &r, Some((400, 500)), None),
            vec![(400, 500), (400, 500), (200, 300)],
            "a whole block again: the second block repeats it, so the sender can tell"
        );
    }
}
