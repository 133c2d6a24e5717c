//! proto/tcp/scoreboard: what a sender with SACK (RFC 2018) has in flight, segment by
//! segment, and which of it is delivered, lost or sent again. Sans-IO: the connection
//! tells it what went out and what the ACKs say, at times it passes in; it answers which
//! segment to send again and how much is in the network. It holds the RFC 6675 rules
//! (`IsLost`, `pipe`, the lost segments `NextSeg` picks) and the RACK half of RFC 8985
//! (time-based loss detection: a segment is lost when one sent after it, by more than a
//! reordering window, has been delivered — lost retransmissions included).
//!
//! Invariants: the records tile `[SND.UNA, SND.NXT)` in order, one per segment sent
//! (the FIN counts one); they live in a list allocated once with the connection's
//! buffers ([`records_for`]) and never grow past it, so a sender with that many
//! segments out sends no more until some are acknowledged; the byte sums behind
//! [`Scoreboard::pipe`] always equal what the records' flags say.

use super::seq::SeqNumber;
use crate::time::Instant;
use core::time::Duration;
use std::collections::VecDeque;

/// Send-buffer bytes per segment record (see [`records_for`]).
pub const BYTES_PER_RECORD: usize = 256;

/// Segments a connection with a `send_buffer`-byte send buffer keeps records for, at
/// most: at least 64, and one per [`BYTES_PER_RECORD`] bytes of buffer.
pub fn records_for(send_buffer: usize) -> usize {
    (send_buffer / BYTES_PER_RECORD).max(64)
}

/// RFC 6675's DupThresh.
pub const DUP_THRESH: usize = 3;

/// One segment sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    pub start: SeqNumber,
    /// Sequence space it covers (a FIN counts one).
    pub len: u32,
    /// When it was last sent (RACK's `xmit_ts`).
    pub xmit: Instant,
    flags: u8,
}

/// Delivered: a SACK block covered it.
const SACKED: u8 = 1;
/// Deemed lost (RFC 6675 `IsLost`, RACK, or a timeout) and not yet delivered.
const LOST: u8 = 2;
/// A retransmission of it is in the network (RFC 6675: at or below `HighRxt`).
const RETRANS: u8 = 4;
/// Sent more than once (RACK's `Segment.retransmitted`).
const EVER_RETRANS: u8 = 8;
/// It is our FIN.
const FIN: u8 = 16;

impl Sent {
    pub fn end(&self) -> SeqNumber {
        self.start + self.len as usize
    }
    pub fn is_fin(&self) -> bool {
        self.flags & FIN != 0
    }
    pub fn sacked(&self) -> bool {
        self.flags & SACKED != 0
    }
    pub fn lost(&self) -> bool {
        self.flags & LOST != 0
    }
    pub fn retransmitted(&self) -> bool {
        self.flags & RETRANS != 0
    }
    pub fn ever_retransmitted(&self) -> bool {
        self.flags & EVER_RETRANS != 0
    }
}

/// What one ACK's SACK option said, once checked (RFC 2018 §3, RFC 2883 §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SackSummary {
    /// Bytes newly marked delivered.
    pub newly_sacked: usize,
    /// The first block reported a duplicate (D-SACK).
    pub dsack: bool,
    /// That block.
    pub dsack_block: Option<(SeqNumber, SeqNumber)>,
    /// Blocks that were neither valid SACK blocks nor a D-SACK, ignored.
    pub ignored: u32,
}

impl SackSummary {
    /// The D-SACK block covers all of `[a, b)`.
    pub fn dsack_covers(&self, a: SeqNumber, b: SeqNumber) -> bool {
        self.dsack_block.is_some_and(|(l, r)| l <= a && b <= r)
    }
}

/// The latest delivered segment as RACK sees it (RFC 8985 §6.2, step 2).
#[derive(Clone, Copy, Debug)]
struct Rack {
    xmit: Instant,
    end: SeqNumber,
    rtt: Duration,
}

pub struct Scoreboard {
    segs: VecDeque<Sent>,
    limit: usize,
    /// Sequence space of all records, and of those SACKed; of those lost and of those
    /// retransmitted, not counting any SACKed.
    total: usize,
    sacked: usize,
    lost: usize,
    retrans: usize,
    /// The highest sequence number a SACK block has covered (the end of the highest).
    high_sacked: Option<SeqNumber>,
    // RACK (RFC 8985 §6).
    rack: Option<Rack>,
    min_rtt: Option<Duration>,
    /// The highest end of a delivered segment (RACK.fack).
    fack: Option<SeqNumber>,
    reordering_seen: bool,
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
    dsack_round: Option<SeqNumber>,
}

impl Scoreboard {
    /// Keeps records in `v` (emptied), `limit` at most; a `v` with less capacity is grown
    /// once here.
    pub fn from_deque(mut v: VecDeque<Sent>, limit: usize) -> Self {
        v.clear();
        v.reserve_exact(limit);
        Scoreboard {
            segs: v,
            limit,
            total: 0,
            sacked: 0,
            lost: 0,
            retrans: 0,
            high_sacked: None,
            rack: None,
            min_rtt: None,
            fack: None,
            reordering_seen: false,
            reo_wnd_mult: 1,
            reo_wnd_persist: 0,
            dsack_round: None,
        }
    }

    /// Gives the list's memory back, emptied; nothing can be recorded after.
    pub fn take_deque(&mut self) -> VecDeque<Sent> {
        self.clear();
        self.limit = 0;
        core::mem::take(&mut self.segs)
    }

    /// Takes back the list's memory from an idle connection: keeps records in `v`
    /// (emptied), `limit` at most. The scoreboard's other state (RACK, reordering) is
    /// untouched.
    pub fn put_deque(&mut self, mut v: VecDeque<Sent>, limit: usize) {
        debug_assert!(self.segs.is_empty());
        v.clear();
        v.reserve_exact(limit);
        self.segs = v;
        self.limit = limit;
    }

    /// Lends the memory of an empty list out (the connection is idle); nothing can be
    /// recorded until `put_deque`. The other state stays, unlike `take_deque`.
    pub fn lend_deque(&mut self) -> VecDeque<Sent> {
        debug_assert!(self.segs.is_empty());
        self.limit = 0;
        core::mem::take(&mut self.segs)
    }

    /// Forgets every record (the sender went back to SND.UNA).
    pub fn clear(&mut self) {
        self.segs.clear();
        self.total = 0;
        self.sacked = 0;
        self.lost = 0;
        self.retrans = 0;
        self.high_sacked = None;
    }

    /// The records tile exactly `[una, nxt)`.
    pub fn covers(&self, una: SeqNumber, nxt: SeqNumber) -> bool {
        self.segs.front().map_or(una == nxt, |s| s.start == una) && self.total == nxt - una
    }

    /// Room for one more record.
    pub fn has_room(&self) -> bool {
        self.segs.len() < self.limit
    }

    pub fn len(&self) -> usize {
        self.segs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&Sent> {
        self.segs.get(i)
    }

    /// The records, in sequence order.
    pub fn iter(&self) -> impl Iterator<Item = &Sent> {
        self.segs.iter()
    }

    /// RFC 6675's `pipe`: the octets in the network, counted as `SetPipe` does — each
    /// unSACKed octet once if it is not lost, and once more if it was sent again.
    //= https://www.rfc-editor.org/rfc/rfc6675#section-4
    //# (a) If IsLost (S1) returns false:
    //#
    //#      Pipe is incremented by 1 octet.
    //# [...]
    //# (b) If S1 <= HighRxt:
    //#
    //#      Pipe is incremented by 1 octet.
    pub fn pipe(&self) -> usize {
        self.total - self.sacked - self.lost + self.retrans
    }

    /// Bytes SACKed.
    pub fn sacked_bytes(&self) -> usize {
        self.sacked
    }

    /// Some record is lost and not yet sent again.
    pub fn has_lost(&self) -> bool {
        self.next_lost().is_some()
    }

    /// Some record is marked lost (sent again or not).
    pub fn any_lost(&self) -> bool {
        self.lost > 0
    }

    /// The record of the segment that starts at `start` and covers `len` went out at
    /// `now`; false (nothing recorded) when the list is full.
    pub fn on_sent(&mut self, start: SeqNumber, len: usize, fin: bool, now: Instant) -> bool {
        if !self.has_room() || len == 0 {
            return false;
        }
        debug_assert!(self.segs.back().map_or(true, |s| s.end() == start));
        self.segs.push_back(Sent {
            start,
            len: len as u32,
            xmit: now,
            flags: if fin { FIN } else { 0 },
        });
        self.total += len;
        true
    }

    /// Record `i` was sent again at `now`.
    pub fn on_retransmitted(&mut self, i: usize, now: Instant) {
        if let Some(s) = self.segs.get(i) {
            let f = s.flags | RETRANS | EVER_RETRANS;
            self.set_flags(i, f);
            self.segs[i].xmit = now;
        }
    }

    /// Sets record `i`'s flags, keeping the sums right.
    fn set_flags(&mut self, i: usize, flags: u8) {
        let s = self.segs[i];
        let len = s.len as usize;
        let (old, new) = (s.flags, flags);
        let part = |f: u8, bit: u8| f & SACKED == 0 && f & bit != 0;
        if old & SACKED != 0 {
            self.sacked -= len;
        }
        if part(old, LOST) {
            self.lost -= len;
        }
        if part(old, RETRANS) {
            self.retrans -= len;
        }
        if new & SACKED != 0 {
            self.sacked += len;
        }
        if part(new, LOST) {
            self.lost += len;
        }
        if part(new, RETRANS) {
            self.retrans += len;
        }
        self.segs[i].flags = new;
    }

    /// The cumulative ACK reached `ack` at `now`: records wholly below it go (those not
    /// SACKed before are delivered now, for RACK), and one it cuts is trimmed.
    pub fn on_cum_ack(&mut self, ack: SeqNumber, now: Instant) {
        while let Some(&s) = self.segs.front() {
            if s.end() <= ack {
                if !s.sacked() {
                    self.delivered(&s, now);
                }
                self.set_flags(0, 0);
                self.total -= s.len as usize;
                self.segs.pop_front();
            } else if s.start < ack {
                // Part of it arrived (the peer kept what fitted its window).
                let cut = ack - s.start;
                let f = s.flags;
                self.set_flags(0, 0);
                self.total -= cut;
                let r = &mut self.segs[0];
                r.start = ack;
                r.len -= cut as u32;
                self.set_flags(0, f);
                break;
            } else {
                break;
            }
        }
        if self.high_sacked.is_some_and(|h| h <= ack) {
            self.high_sacked = None;
        }
        if self.dsack_round.is_some_and(|r| ack >= r) {
            self.dsack_round = None;
        }
    }

    /// The first record is SACKed although the cumulative ACK stopped just below it:
    /// the receiver has thrown away data it SACKed (reneging, RFC 2018 §8).
    pub fn reneged(&self) -> bool {
        self.segs.front().is_some_and(|s| s.sacked())
    }

    /// Forgets every SACK (after reneging): the records count as in flight again.
    pub fn clear_sacked(&mut self) {
        for i in 0..self.segs.len() {
            let f = self.segs[i].flags & !SACKED;
            self.set_flags(i, f);
        }
        self.high_sacked = None;
    }

    /// Takes in the SACK blocks of an ACK whose cumulative acknowledgment is `una` (SND.UNA
    /// after it), with `snd_max` the highest sequence number sent. The first block is a
    /// D-SACK when it lies below `una` or inside the second block (RFC 2883 §4); it marks
    /// nothing. Every other block must lie within `[una, snd_max]` and not be empty, or it
    /// is ignored (RFC 2018 §3 lets nothing else through). A block whose edge falls inside
    /// a record splits it, when there is room for one more record; otherwise the part is
    /// left unmarked (it is sent again if need be).
    pub fn on_sack(
        &mut self,
        blocks: &[(u32, u32)],
        una: SeqNumber,
        snd_max: SeqNumber,
        now: Instant,
    ) -> SackSummary {
        let mut sum = SackSummary::default();
        // The valid blocks, to be taken in sequence order (RACK's reordering test asks
        // for deliveries in ascending order).
        let mut valid = [(SeqNumber(0), SeqNumber(0)); 4];
        let mut n = 0;
        for (k, &(l, r)) in blocks.iter().enumerate() {
            let (l, r) = (SeqNumber(l), SeqNumber(r));
            if k == 0 {
                let below = l < r && r <= una && una - r < (1 << 30) && r - l < (1 << 30);
                let inside = blocks
                    .get(1)
                    .is_some_and(|&(l2, r2)| l < r && SeqNumber(l2) <= l && r <= SeqNumber(r2));
                //= https://www.rfc-editor.org/rfc/rfc2883#section-4
                //# If the D-SACK block reports a duplicate contiguous sequence from a
                //# (possibly larger) block of data in the receiver's data queue above
                //# the cumulative acknowledgement, then the second SACK block in that
                //# SACK option should specify that (possibly larger) block of data.
                if below || inside {
                    sum.dsack = true;
                    sum.dsack_block = Some((l, r));
                    continue;
                }
            }
            if !(una <= l && l < r && r <= snd_max) || n == valid.len() {
                sum.ignored += 1;
                continue;
            }
            valid[n] = (l, r);
            n += 1;
        }
        let valid = &mut valid[..n];
        valid.sort_unstable_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(core::cmp::Ordering::Equal));
        for &(l, r) in valid.iter() {
            sum.newly_sacked += self.mark_sacked(l, r, now);
        }
        if sum.dsack && self.dsack_round.is_none() {
            // RFC 8985 §6.2 step 4: a round with a D-SACK widens the reordering window.
            self.dsack_round = Some(snd_max);
            self.reo_wnd_mult = (self.reo_wnd_mult + 1).min(16);
            self.reo_wnd_persist = 16;
        }
        sum
    }

    /// Marks the records inside `[l, r)` SACKed; returns the bytes newly marked.
    fn mark_sacked(&mut self, l: SeqNumber, r: SeqNumber, now: Instant) -> usize {
        let mut i = self.segs.partition_point(|s| s.end() <= l);
        let mut newly = 0;
        while i < self.segs.len() {
            let s = self.segs[i];
            if s.start >= r {
                break;
            }
            if s.sacked() {
                i += 1;
                continue;
            }
            // Split off the part before `l`, or after `r`, when the block covers only part.
            if s.start < l {
                // Split or not, the part before `l` stays unmarked.
                self.split(i, l);
                i += 1;
                continue;
            }
            if s.end() > r && !self.split(i, r) {
                break;
            }
            let s = self.segs[i];
            self.delivered(&s, now);
            let f = s.flags | SACKED;
            self.set_flags(i, f);
            newly += s.len as usize;
            if self.high_sacked.map_or(true, |h| s.end() > h) {
                self.high_sacked = Some(s.end());
            }
            i += 1;
        }
        newly
    }

    /// Splits record `i` at `at` (strictly inside it) into two with the same flags and
    /// time; false when there is no room for another record.
    fn split(&mut self, i: usize, at: SeqNumber) -> bool {
        if !self.has_room() || self.segs.len() >= self.segs.capacity() {
            return false;
        }
        let s = self.segs[i];
        let head = (at - s.start) as u32;
        if head == 0 || head >= s.len {
            return false;
        }
        // The FIN stays with the part that ends where the record ended.
        let mut first = s;
        first.len = head;
        first.flags &= !FIN;
        let mut second = s;
        second.start = at;
        second.len = s.len - head;
        self.segs[i] = first;
        self.segs.insert(i + 1, second);
        true
    }

    /// An RTT sample the connection took (RFC 6298's, the handshake's included): RACK's
    /// minimum RTT counts it too.
    pub fn rtt_sample(&mut self, r: Duration) {
        self.min_rtt = Some(self.min_rtt.map_or(r, |m| m.min(r)));
    }

    /// RFC 8985 §6.2 steps 2 and 3: a segment sent at `s.xmit` has been delivered now.
    fn delivered(&mut self, s: &Sent, now: Instant) {
        let rtt = now.saturating_since(s.xmit);
        if !s.ever_retransmitted() {
            self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
            if self.fack.is_some_and(|f| s.end() < f) {
                self.reordering_seen = true;
            }
        } else if self.min_rtt.map_or(true, |m| rtt < m) {
            //= https://www.rfc-editor.org/rfc/rfc8985#section-6.2
            //# If Segment.retransmitted is TRUE and rtt < RACK.min_RTT, return.
            // (It is the original that arrived; the retransmission says nothing.)
            return;
        }
        if self.fack.map_or(true, |f| s.end() > f) {
            self.fack = Some(s.end());
        }
        let newer = self
            .rack
            .map_or(true, |r| sent_after(s.xmit, s.end(), r.xmit, r.end));
        if newer {
            self.rack = Some(Rack {
                xmit: s.xmit,
                end: s.end(),
                rtt,
            });
        }
    }

    /// RFC 6675 `IsLost`: marks lost every record that has DupThresh SACKed segments, or
    /// more than (DupThresh - 1)·SMSS SACKed bytes, above it.
    //= https://www.rfc-editor.org/rfc/rfc6675#section-4
    //# IsLost (SeqNum):
    //#
    //#    This routine returns whether the given sequence number is
    //#    considered to be lost.  The routine returns true when either
    //#    DupThresh discontiguous SACKed sequences have arrived above
    //#    'SeqNum' or more than (DupThresh - 1) * SMSS bytes with sequence
    //#    numbers greater than 'SeqNum' have been SACKed.  Otherwise, the
    //#    routine returns false.
    pub fn mark_lost_by_sacks(&mut self, smss: usize) {
        if self.sacked == 0 {
            return;
        }
        let (mut count, mut bytes) = (0usize, 0usize);
        for i in (0..self.segs.len()).rev() {
            let s = self.segs[i];
            if s.sacked() {
                count += 1;
                bytes += s.len as usize;
            } else if (count >= DUP_THRESH || bytes > (DUP_THRESH - 1) * smss) && !s.lost() {
                self.set_flags(i, s.flags | LOST);
            }
        }
    }

    /// RFC 6675 §5 step 4.3 (DupThresh duplicate ACKs without `IsLost`): the first
    /// record is taken as lost.
    pub fn mark_first_lost(&mut self) {
        if let Some(s) = self.segs.front().copied() {
            if !s.sacked() && !s.lost() {
                self.set_flags(0, s.flags | LOST);
            }
        }
    }

    /// A retransmission timeout (RFC 6675 §5.1): every record not SACKed is lost, none
    /// is in the network any more.
    pub fn mark_all_lost(&mut self) {
        for i in 0..self.segs.len() {
            let s = self.segs[i];
            if !s.sacked() {
                self.set_flags(i, (s.flags | LOST) & !RETRANS);
            }
        }
    }

    /// RFC 8985 §6.2 step 4: the reordering window. `srtt` caps it; in recovery (or with
    /// DupThresh segments SACKed) and no reordering seen, it is zero.
    pub fn reo_wnd(&self, in_recovery: bool, srtt: Option<Duration>) -> Duration {
        if !self.reordering_seen && (in_recovery || self.sacked_segments() >= DUP_THRESH) {
            return Duration::ZERO;
        }
        let Some(min) = self.min_rtt else {
            return Duration::ZERO;
        };
        let w = min * self.reo_wnd_mult / 4;
        srtt.map_or(w, |s| w.min(s))
    }

    /// Recovery ended: after 16 recoveries without a D-SACK the window shrinks back.
    pub fn recovery_ended(&mut self) {
        if self.reo_wnd_persist > 0 {
            self.reo_wnd_persist -= 1;
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
    }

    fn sacked_segments(&self) -> usize {
        if self.sacked == 0 {
            return 0;
        }
        self.segs
            .iter()
            .filter(|s| s.sacked())
            .take(DUP_THRESH)
            .count()
    }

    /// RFC 8985 §6.2 step 5, `RACK_detect_loss`: every record sent before the latest
    /// delivered one whose time is up (its send time + RACK.rtt + `reo_wnd`) is lost,
    /// and a retransmission of it is no longer in the network. Returns how long until
    /// the next such record's time is up, if one is waiting (the reordering timer).
    pub fn rack_detect(&mut self, now: Instant, reo_wnd: Duration) -> Option<Duration> {
        let rack = self.rack?;
        let mut wait: Option<Duration> = None;
        for i in 0..self.segs.len() {
            let s = self.segs[i];
            // Delivered, or lost and not yet sent again: nothing to decide.
            if s.sacked() || (s.lost() && !s.retransmitted()) {
                continue;
            }
            if !sent_after(rack.xmit, rack.end, s.xmit, s.end()) {
                continue;
            }
            let due = s.xmit + rack.rtt + reo_wnd;
            if due <= now {
                //= https://www.rfc-editor.org/rfc/rfc8985#section-6.2
                //# If remaining <= 0:
                //#     Segment.lost = TRUE
                self.set_flags(i, (s.flags | LOST) & !RETRANS);
            } else {
                let left = due.saturating_since(now);
                wait = Some(wait.map_or(left, |w| w.max(left)));
            }
        }
        wait
    }

    /// The first record lost and not yet sent again: RFC 6675 `NextSeg` rule 1.
    //= https://www.rfc-editor.org/rfc/rfc6675#section-4
    //# (1) If there exists a smallest unSACKed sequence number 'S2' that
    //#     meets the following three criteria for determining loss, the
    //#     sequence range of one segment of up to SMSS octets starting
    //#     with S2 MUST be returned.
    pub fn next_lost(&self) -> Option<usize> {
        if self.lost == 0 {
            return None;
        }
        self.segs
            .iter()
            .position(|s| s.flags & (SACKED | LOST | RETRANS) == LOST)
    }

    /// RFC 6675 `NextSeg` rule 3: the first record below the highest SACKed one that is
    /// neither SACKed, lost nor sent again.
    //= https://www.rfc-editor.org/rfc/rfc6675#section-4
    //# (3) If the conditions for rules (1) and (2) fail, but there exists
    //#     an unSACKed sequence number 'S3' that meets the criteria for
    //#     detecting loss given in steps (1.a) and (1.b) above
    //#     (specifically excluding step (1.c)), then one segment of up to
    //#     SMSS octets starting with S3 SHOULD be returned.
    pub fn next_unsacked_hole(&self) -> Option<usize> {
        let high = self.high_sacked?;
        self.segs
            .iter()
            .take_while(|s| s.end() <= high)
            .position(|s| s.flags & (SACKED | LOST | RETRANS) == 0)
    }

    /// The highest record not SACKed (a tail loss probe sends it again).
    pub fn last_unsacked(&self) -> Option<usize> {
        self.segs.iter().rposition(|s| !s.sacked())
    }

    /// Checks the sums against the flags (tests).
    #[cfg(test)]
    pub fn check(&self) {
        let mut t = (0, 0, 0, 0);
        for s in &self.segs {
            let len = s.len as usize;
            t.0 += len;
            if s.sacked() {
                t.1 += len;
            } else {
                if s.lost() {
                    t.2 += len;
                }
                if s.retransmitted() {
                    t.3 += len;
                }
            }
        }
        assert_eq!(t, (self.total, self.sacked, self.lost, self.retrans));
        for w in self.segs.as_slices().0.windows(2) {
            assert_eq!(w[0].end(), w[1].start, "records tile the flight");
        }
    }
}

/// RFC 8985 `RACK_sent_after(t1, seq1, t2, seq2)`: a segment sent at `t1` ending at
/// `seq1` went out after one sent at `t2` ending at `seq2` (the sequence breaks ties of
/// segments sent at the same instant).
fn sent_after(t1: Instant, seq1: SeqNumber, t2: Instant, seq2: SeqNumber) -> bool {
    t1 > t2 || (t1 == t2 && seq1 > seq2)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn t(us: u64) -> Instant {
        Instant::from_micros(us)
    }

    /// `n` segments of MSS from 1000, sent 10 µs apart from t = 0.
    fn board(n: usize) -> Scoreboard {
        let mut b = Scoreboard::from_deque(VecDeque::new(), 64);
        for i in 0..n {
            assert!(b.on_sent(SeqNumber(1000) + i * MSS, MSS, false, t(10 * i as u64)));
        }
        b
    }

    fn seq(i: usize) -> u32 {
        (SeqNumber(1000) + i * MSS).0
    }

    fn flags(b: &Scoreboard) -> String {
        b.iter()
            .map(|s| match (s.sacked(), s.lost(), s.retransmitted()) {
                (true, _, _) => 'S',
                (_, true, true) => 'R',
                (_, true, false) => 'L',
                (_, false, true) => 'r',
                _ => '.',
            })
            .collect()
    }

    #[test]
    fn pipe_counts_what_is_in_the_network() {
        let mut b = board(6);
        assert_eq!(b.pipe(), 6 * MSS);
        let s = b.on_sack(
            &[(seq(2), seq(4))],
            SeqNumber(seq(0)),
            SeqNumber(seq(6)),
            t(100),
        );
        assert_eq!(s.newly_sacked, 2 * MSS);
        assert_eq!(b.pipe(), 4 * MSS);
        b.mark_first_lost();
        assert_eq!(b.pipe(), 3 * MSS, "a lost segment is not in the network");
        b.on_retransmitted(0, t(200));
        assert_eq!(b.pipe(), 4 * MSS, "its retransmission is");
        b.check();
    }

    // RFC 6675 IsLost: three SACKed segments above a hole make it lost; two do not.
    #[test]
    fn a_hole_is_lost_with_three_sacked_segments_above_it() {
        let mut b = board(6);
        b.on_sack(
            &[(seq(1), seq(3))],
            SeqNumber(seq(0)),
            SeqNumber(seq(6)),
            t(100),
        );
        b.mark_lost_by_sacks(MSS);
        assert_eq!(flags(&b), ".SS...");
        b.on_sack(
            &[(seq(4), seq(5)), (seq(1), seq(3))],
            SeqNumber(seq(0)),
            SeqNumber(seq(6)),
            t(110),
        );
        b.mark_lost_by_sacks(MSS);
        assert_eq!(
            flags(&b),
            "LSS.S.",
            "the hole at 3 has one SACKed segment above it"
        );
        assert_eq!(b.next_lost(), Some(0));
        b.check();
    }

    // RFC 2018 §3 blocks outside [SND.UNA, SND.MAX] or empty are ignored; RFC 2883: a first
    // block below the cumulative ACK, or inside the second, is a D-SACK.
    #[test]
    fn invalid_blocks_are_ignored_and_dsacks_recognised() {
        let mut b = board(4);
        let (una, max) = (SeqNumber(seq(1)), SeqNumber(seq(4)));
        b.on_cum_ack(una, t(50));
        let s = b.on_sack(&[(seq(0), seq(1))], una, max, t(60));
        assert_eq!((s.dsack, s.newly_sacked, s.ignored), (true, 0, 0));
        let s = b.on_sack(&[(seq(2), seq(3)), (seq(2), seq(4))], una, max, t(60));
        assert!(s.dsack, "inside the second block");
        assert_eq!(s.newly_sacked, 2 * MSS, "the second block still counts");
        let s = b.on_sack(
            &[(seq(3), seq(3)), (seq(3), seq(9)), (5, 1), (seq(0), seq(2))],
            una,
            max,
            t(70),
        );
        assert_eq!((s.dsack, s.newly_sacked, s.ignored), (false, 0, 4));
        b.check();
    }

    #[test]
    fn a_block_edge_inside_a_segment_splits_it() {
        let mut b = board(3);
        let s = b.on_sack(
            &[(seq(1) + 500, seq(3))],
            SeqNumber(seq(0)),
            SeqNumber(seq(3)),
            t(50),
        );
        assert_eq!(s.newly_sacked, 1500);
        assert_eq!(b.len(), 4);
        assert_eq!(flags(&b), "..SS");
        b.check();
        b.on_cum_ack(SeqNumber(seq(0) + 300), t(60));
        assert_eq!(
            b.get(0).map(|s| (s.start.0, s.len)),
            Some((seq(0) + 300, 700))
        );
        b.check();
    }

    // RFC 8985 §6.2: a segment sent before the latest delivered one is lost once RACK.rtt
    // plus the reordering window has passed since it was sent; the reordering timer waits
    // for the rest.
    #[test]
    fn rack_marks_segments_sent_before_a_delivered_one_lost_when_their_time_is_up() {
        let mut b = board(4); // sent at 0, 10, 20, 30 µs
        b.on_sack(
            &[(seq(3), seq(4))],
            SeqNumber(seq(0)),
            SeqNumber(seq(4)),
            t(1030),
        );
        // RACK.rtt = 1000 µs (segment 3, sent at 30); reordering window 100 µs.
        let w = b.rack_detect(t(1030), Duration::from_micros(100));
        assert_eq!(flags(&b), "...S");
        // RFC 8985's timer waits for the last of them: segment 2, due at 1120.
        assert_eq!(w, Some(Duration::from_micros(90)));
        assert_eq!(
            b.rack_detect(t(1115), Duration::from_micros(100)),
            Some(Duration::from_micros(5))
        );
        assert_eq!(flags(&b), "LL.S");
        b.rack_detect(t(1120), Duration::from_micros(100));
        assert_eq!(flags(&b), "LLLS");
        b.check();
    }

    // RFC 8985: a retransmission is lost too when data sent after it is delivered and its
    // time is up; RFC 6675 alone never sends a segment a third time before a timeout.
    #[test]
    fn rack_detects_a_lost_retransmission() {
        let mut b = board(5);
        b.mark_first_lost();
        b.on_retransmitted(0, t(2000));
        assert_eq!(flags(&b), "R....");
        b.on_sent(SeqNumber(seq(5)), MSS, false, t(2010));
        // The segment sent after the retransmission arrives; the retransmission does not.
        b.on_sack(
            &[(seq(5), seq(6))],
            SeqNumber(seq(0)),
            SeqNumber(seq(6)),
            t(3010),
        );
        b.rack_detect(t(3010), Duration::ZERO);
        assert!(flags(&b).starts_with('L'), "{}", flags(&b));
        assert_eq!(b.next_lost(), Some(0), "it is sent a third time");
        b.check();
    }

    // RFC 8985 §6.2 step 2: the ACK of a retransmitted segment faster than the minimum
    // RTT came for the original: it does not move RACK on.
    #[test]
    fn an_ambiguous_delivery_of_a_retransmission_is_not_a_rack_sample() {
        let mut b = board(3);
        b.on_sack(
            &[(seq(1), seq(2))],
            SeqNumber(seq(0)),
            SeqNumber(seq(3)),
            t(1010),
        );
        assert_eq!(b.min_rtt, Some(Duration::from_micros(1000)));
        b.on_retransmitted(2, t(1500));
        b.on_sack(
            &[(seq(2), seq(3))],
            SeqNumber(seq(0)),
            SeqNumber(seq(3)),
            t(1600),
        );
        assert_eq!(b.rack.map(|r| r.end), Some(SeqNumber(seq(2))), "not moved");
    }

    #[test]
    fn a_timeout_marks_everything_unsacked_lost() {
        let mut b = board(4);
        b.on_sack(
            &[(seq(2), seq(3))],
            SeqNumber(seq(0)),
            SeqNumber(seq(4)),
            t(50),
        );
        b.on_retransmitted(0, t(60));
        b.mark_all_lost();
        assert_eq!(flags(&b), "LLSL");
        assert_eq!(b.pipe(), 0);
        b.check();
    }

    #[test]
    fn reneging_is_seen_and_forgets_the_sacks() {
        let mut b = board(3);
        b.on_sack(
            &[(seq(1), seq(3))],
            SeqNumber(seq(0)),
            SeqNumber(seq(3)),
            t(50),
        );
        b.on_cum_ack(SeqNumber(seq(1)), t(60));
        assert!(b.reneged());
        b.clear_sacked();
        assert_eq!(b.pipe(), 2 * MSS);
        b.check();
    }

    #[test]
    fn the_record_list_is_bounded() {
        assert_eq!(records_for(64 << 10), 256);
        assert_eq!(records_for(4096), 64);
        let mut b = Scoreboard::from_deque(VecDeque::new(), 2);
        assert!(b.on_sent(SeqNumber(0), 10, false, t(0)));
        assert!(b.on_sent(SeqNumber(10), 10, false, t(0)));
        assert!(!b.has_room());
        assert!(!b.on_sent(SeqNumber(20), 10, false, t(0)));
        // No room to split: the partly covered record stays unmarked.
        let s = b.on_sack(&[(5, 20)], SeqNumber(0), SeqNumber(20), t(5));
        assert_eq!(s.newly_sacked, 10);
        assert_eq!(flags(&b), ".S");
    }
}
