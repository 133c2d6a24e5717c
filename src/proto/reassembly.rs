//! proto/reassembly: IPv4 reassembly (RFC 791 §3.2, RFC 815, RFC 1122 §3.3.2), sans-IO.
//!
//! Layer: `proto/`. It owns the datagrams in reassembly: a fixed pool of buffers made
//! when it is built, each big enough for the largest IPv4 datagram, and for each one a
//! bit table of the 8-byte blocks received (RFC 791's RCVBT). The stack hands it every
//! fragment for one of its addresses with the time; it says whether the fragment is held,
//! completes a datagram (which then lies in one buffer as one frame: the link-layer
//! header of its first-arriving fragment, a 20-byte IPv4 header and the data), or is
//! discarded, and why. It never sends anything; the stack answers.
//!
//! Rules, and the choices made where the RFCs leave them open:
//! - A datagram is identified by (source, destination, protocol, identification)
//!   (RFC 791).
//! - Fragments may arrive in any order, and the datagram is whole when every block from
//!   0 to the end that the last fragment (MF clear) names is held.
//! - Overlap (RFC 5722's rule, which Linux also applies to IPv4 for overlaps that are not
//!   plain copies): a fragment whose bytes are all held already *and identical* is a
//!   duplicate — dropped alone, the datagram kept. Any other overlap (partial, or the same
//!   range with other bytes) discards the whole datagram, so that no mix of two senders'
//!   data is ever delivered.
//! - Invalid fragments, dropped alone: empty ones, one with MF set whose length is not a
//!   multiple of 8, and one whose data would end past [`MAX_DATA`] (the reassembled
//!   datagram, with its 20-byte header, would pass 65 535 bytes). Inconsistent ones
//!   discard the whole datagram: a second last fragment with another end, data past the
//!   end already known, a last fragment ending before data already held.
//! - Bounded memory: at most [`ReassemblyConfig::slots`] datagrams at once, of which at
//!   most [`ReassemblyConfig::per_source`] from one source address; a fragment that would
//!   start another is dropped (nothing held is evicted, so a flood from one source can
//!   take only its own share, and none of what others are sending).
//! - A fixed timeout from the first-arriving fragment (RFC 1122: "a fixed value, not set
//!   from the remaining TTL"), [`DEFAULT_TIMEOUT`] by default: shorter than RFC 1122's
//!   recommended 60–120 s and Linux's 30 s, since a datagram on a LAN is whole within
//!   milliseconds and a shorter hold frees the pool sooner under a flood. A datagram
//!   given up reports whether fragment zero was held, so that the stack can send ICMP
//!   time exceeded quoting it (RFC 1122 §3.3.2, RFC 792).
//!
//! Invariants: nothing is allocated after [`Reassembler::new`]; a slot is either free
//! or holds exactly the fragments counted in it; every fragment handed in is accounted
//! for exactly once — held (and later part of a datagram, or discarded with it), or
//! discarded at once.

//= https://www.rfc-editor.org/rfc/rfc1122#section-3.3.2
//# The IP layer MUST implement reassembly of IP datagrams.

use crate::time::Instant;
use crate::wire::ipv4::HEADER_LEN;
use crate::wire::Ipv4Packet;
use core::net::Ipv4Addr;
use core::time::Duration;

/// The most data a reassembled datagram carries: with its 20-byte header, 65 535 bytes.
pub const MAX_DATA: usize = u16::MAX as usize - HEADER_LEN;
/// Data blocks of 8 bytes (RFC 791's fragment blocks) that [`MAX_DATA`] spans, rounded
/// up to whole 64-bit words of the bit table.
const WORDS: usize = MAX_DATA.div_ceil(8).div_ceil(64);
/// The default reassembly timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much reassembly may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// Datagrams in reassembly at once, all sources together. Each takes a buffer of
    /// about 64 KiB, made at start (pages a datagram never reaches are never touched).
    pub slots: usize,
    /// Of those, at most this many from one source address.
    pub per_source: usize,
    /// A datagram not whole this long after its first fragment arrived is given up.
    pub timeout: Duration,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            slots: 32,
            per_source: 8,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// What names one datagram among the fragments (RFC 791).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ident: u16,
}

/// One received fragment, as the stack found it in a frame.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    pub key: FragmentKey,
    /// Where its data goes in the datagram, in bytes (a multiple of 8).
    pub offset: usize,
    /// The MF flag: more fragments follow this one.
    pub more: bool,
    /// The link-layer header it came with; the reassembled frame carries the one of the
    /// datagram's first-arriving fragment. Its length must be the reassembler's.
    pub link: &'a [u8],
    /// Its IPv4 header (at least 20 bytes; options are not carried into the datagram).
    pub header: &'a [u8],
    /// Its data, bounded by the IPv4 total length.
    pub data: &'a [u8],
}

/// Why fragments were discarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discard {
    /// Overlapped what its datagram held, other than as an identical copy: the whole
    /// datagram went.
    Overlap,
    /// Every byte already held, identical: this fragment alone went.
    Duplicate,
    /// A fragment no sender makes (this one alone went), or one that disagrees with the
    /// end of its datagram (the whole datagram went).
    Invalid,
    /// Would start a datagram while its source already had its share in reassembly.
    SourceFull,
    /// Would start a datagram while every buffer was in use.
    TableFull,
}

/// What became of a fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Kept until the rest of its datagram arrives.
    Held,
    /// It completed its datagram, which is the first `len` bytes of slot `slot`'s
    /// buffer (see [`Reassembler::take`]).
    Complete { slot: usize, len: usize },
    /// `frames` fragments were thrown away: this one, and any its datagram held.
    Discarded { why: Discard, frames: usize },
}

/// A datagram given up at its timeout.
#[derive(Debug)]
pub struct Expired<'a> {
    /// The fragments it held.
    pub frames: usize,
    /// When fragment zero was held: the datagram's link-layer header, then fragment
    /// zero as an IPv4 packet (its 20-byte header, options left out, and its data),
    /// followed by whatever data was held after it without a gap — what ICMP time
    /// exceeded quotes the start of.
    pub first: Option<&'a [u8]>,
}

struct Slot {
    key: Option<FragmentKey>,
    /// Given up at this time.
    deadline: Instant,
    /// The data length, once the last fragment arrived.
    end: Option<usize>,
    /// The highest end of any fragment held.
    max_end: usize,
    /// Blocks of 8 bytes held.
    covered: usize,
    /// Fragments held.
    frames: usize,
    /// Fragment zero is held (its header is in the buffer).
    first: bool,
    /// One bit per 8-byte block of data held.
    blocks: [u64; WORDS],
    /// The link-layer header, the IPv4 header, then the data; `link + 20 + MAX_DATA`
    /// bytes, except while taken.
    buf: Vec<u8>,
}

impl Slot {
    fn is_free(&self) -> bool {
        self.key.is_none() && !self.buf.is_empty()
    }

    fn clear(&mut self) {
        self.key = None;
        self.end = None;
        self.max_end = 0;
        self.covered = 0;
        self.frames = 0;
        self.first = false;
        self.blocks = [0; WORDS];
    }
}

/// The datagrams in reassembly on one worker.
pub struct Reassembler {
    cfg: ReassemblyConfig,
    link: usize,
    slots: Vec<Slot>,
    /// Slots holding a datagram.
    active: usize,
}

impl core::fmt::Debug for Reassembler {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reassembler")
            .field("cfg", &self.cfg)
            .field("active", &self.active)
            .finish()
    }
}

impl Reassembler {
    /// A reassembler whose frames start with a link-layer header of `link` bytes (14 for
    /// Ethernet), with every buffer made now.
    pub fn new(cfg: ReassemblyConfig, link: usize) -> Self {
        let cfg = ReassemblyConfig {
            slots: cfg.slots.max(1),
            per_source: cfg.per_source.clamp(1, cfg.slots.max(1)),
            ..cfg
        };
        let slots = (0..cfg.slots)
            .map(|_| Slot {
                key: None,
                deadline: Instant::NEVER,
                end: None,
                max_end: 0,
                covered: 0,
                frames: 0,
                first: false,
                blocks: [0; WORDS],
                buf: vec![0; link + HEADER_LEN + MAX_DATA],
            })
            .collect();
        Reassembler {
            cfg,
            link,
            slots,
            active: 0,
        }
    }

    pub fn config(&self) -> &ReassemblyConfig {
        &self.cfg
    }

    /// Datagrams in reassembly now.
    pub fn in_progress(&self) -> usize {
        self.active
    }

    /// Takes one fragment received at `now`.
    pub fn insert(&mut self, now: Instant, frag: &Fragment<'_>) -> Outcome {
        let len = frag.data.len();
        let end = frag.offset + len;
        let alone = |why| Outcome::Discarded { why, frames: 1 };
        //= https://www.rfc-editor.org/rfc/rfc791#section-3.2
        //# If this is not the last fragment, then it must contain an integral number
        //# of 8-octet blocks.
        if len == 0
            || (frag.more && len % 8 != 0)
            || end > MAX_DATA
            || frag.header.len() < HEADER_LEN
            || frag.link.len() != self.link
        {
            return alone(Discard::Invalid);
        }
        let i = match self.find(&frag.key) {
            Some(i) => i,
            None => match self.start(now, frag) {
                Ok(i) => i,
                Err(why) => return alone(why),
            },
        };
        let slot = &mut self.slots[i];
        // The end of the datagram: named by the last fragment, never contradicted.
        let inconsistent = match (frag.more, slot.end) {
            (false, Some(e)) => e != end,
            (false, None) => end < slot.max_end,
            (true, Some(e)) => end > e,
            (true, None) => false,
        };
        if inconsistent {
            return self.discard(i, Discard::Invalid);
        }
        let data_at = self.link + HEADER_LEN;
        let (first_block, last_block) = (frag.offset / 8, end.div_ceil(8));
        let held = count_ones(&slot.blocks, first_block, last_block);
        if held == last_block - first_block {
            let same = slot.buf[data_at + frag.offset..data_at + end] == *frag.data;
            if same {
                return alone(Discard::Duplicate);
            }
            return self.discard(i, Discard::Overlap);
        }
        if held > 0 {
            return self.discard(i, Discard::Overlap);
        }
        slot.buf[data_at + frag.offset..data_at + end].copy_from_slice(frag.data);
        set_ones(&mut slot.blocks, first_block, last_block);
        slot.covered += last_block - first_block;
        slot.frames += 1;
        slot.max_end = slot.max_end.max(end);
        if !frag.more {
            slot.end = Some(end);
        }
        if frag.offset == 0 {
            // The datagram's header is fragment zero's (RFC 791), without its options.
            let h = &mut slot.buf[self.link..data_at];
            h.copy_from_slice(&frag.header[..HEADER_LEN]);
            let mut ip = Ipv4Packet::new_unchecked(h);
            ip.set_version_and_header_len(4, HEADER_LEN);
            ip.set_total_len((HEADER_LEN + len) as u16);
            ip.fill_checksum();
            slot.first = true;
        }
        match slot.end {
            Some(e) if slot.covered == e.div_ceil(8) => {
                let h = &mut slot.buf[self.link..data_at];
                let mut ip = Ipv4Packet::new_unchecked(h);
                ip.set_total_len((HEADER_LEN + e) as u16);
                ip.set_flags_and_offset(false, false, 0);
                ip.fill_checksum();
                Outcome::Complete {
                    slot: i,
                    len: data_at + e,
                }
            }
            _ => Outcome::Held,
        }
    }

    /// The buffer of the datagram [`Outcome::Complete`] named, taken out so that the
    /// caller can handle it as a frame (and rewrite it into a reply) while it holds
    /// `self`. The slot is free but unusable until [`Reassembler::restore`] gives the
    /// buffer back; nothing is allocated either way.
    pub fn take(&mut self, slot: usize) -> Vec<u8> {
        let s = &mut self.slots[slot];
        if s.key.is_some() {
            s.clear();
            self.active -= 1;
        }
        core::mem::take(&mut s.buf)
    }

    /// Gives back a buffer [`Reassembler::take`] took.
    pub fn restore(&mut self, slot: usize, buf: Vec<u8>) {
        debug_assert!(self.slots[slot].buf.is_empty());
        debug_assert_eq!(buf.len(), self.link + HEADER_LEN + MAX_DATA);
        self.slots[slot].buf = buf;
    }

    /// The earliest time a datagram is due to be given up.
    pub fn poll_at(&self) -> Option<Instant> {
        if self.active == 0 {
            return None;
        }
        self.slots
            .iter()
            .filter(|s| s.key.is_some())
            .map(|s| s.deadline)
            .min()
    }

    /// Gives up every datagram whose time is up at `now`, telling `on_expired` about
    /// each.
    pub fn expire(&mut self, now: Instant, on_expired: &mut dyn FnMut(Expired<'_>)) {
        if self.active == 0 {
            return;
        }
        let quote = self.link + HEADER_LEN;
        for s in &mut self.slots {
            if s.key.is_none() || s.deadline > now {
                continue;
            }
            let first_len = if s.first {
                // The data from 0 up to the first gap, fragment zero's included.
                let held = first_run(&s.blocks) * 8;
                Some(quote + held.min(s.max_end))
            } else {
                None
            };
            on_expired(Expired {
                frames: s.frames,
                first: first_len.map(|n| &s.buf[..n]),
            });
            s.clear();
            self.active -= 1;
        }
    }

    fn find(&self, key: &FragmentKey) -> Option<usize> {
        if self.active == 0 {
            return None;
        }
        self.slots.iter().position(|s| s.key.as_ref() == Some(key))
    }

    /// A slot for a new datagram, within the bounds.
    fn start(&mut self, now: Instant, frag: &Fragment<'_>) -> Result<usize, Discard> {
        let from_source = self
            .slots
            .iter()
            .filter(|s| s.key.is_some_and(|k| k.src == frag.key.src))
            .count();
        if from_source >= self.cfg.per_source {
            return Err(Discard::SourceFull);
        }
        let i = self
            .slots
            .iter()
            .position(Slot::is_free)
            .ok_or(Discard::TableFull)?;
        let link = self.link;
        let s = &mut self.slots[i];
        s.clear();
        s.key = Some(frag.key);
        s.deadline = now + self.cfg.timeout;
        s.buf[..link].copy_from_slice(frag.link);
        self.active += 1;
        Ok(i)
    }

    /// Throws away slot `i`'s datagram and the fragment that broke it.
    fn discard(&mut self, i: usize, why: Discard) -> Outcome {
        let s = &mut self.slots[i];
        let frames = s.frames + 1;
        s.clear();
        self.active -= 1;
        Outcome::Discarded { why, frames }
    }
}

/// Bits set in `[from, to)` of the bit table.
fn count_ones(bits: &[u64; WORDS], from: usize, to: usize) -> usize {
    let mut n = 0;
    let mut b = from;
    while b < to {
        let (w, shift) = (b / 64, b % 64);
        let take = (64 - shift).min(to - b);
        let mask = if take == 64 {
            u64::MAX
        } else {
            ((1u64 << take) - 1) << shift
        };
        n += (bits[w] & mask).count_ones() as usize;
        b += take;
    }
    n
}

/// Sets the bits `[from, to)` of the bit table.
fn set_ones(bits: &mut [u64; WORDS], from: usize, to: usize) {
    let mut b = from;
    while b < to {
        let (w, shift) = (b / 64, b % 64);
        let take = (64 - shift).min(to - b);
        let mask = if take == 64 {
            u64::MAX
        } else {
            ((1u64 << take) - 1) << shift
        };
        bits[w] |= mask;
        b += take;
    }
}

/// How many blocks from block 0 on are held without a gap.
fn first_run(bits: &[u64; WORDS]) -> usize {
    let mut n = 0;
    for &w in bits {
        let ones = w.trailing_ones() as usize;
        n += ones;
        if ones < 64 {
            break;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: usize = 14;
    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    fn key(ident: u16) -> FragmentKey {
        FragmentKey {
            src: SRC,
            dst: DST,
            protocol: 17,
            ident,
        }
    }

    /// The datagram's data: `n` bytes that differ at every offset.
    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// The 20-byte header of a fragment.
    fn header(k: &FragmentKey, offset: usize, more: bool, len: usize) -> [u8; 20] {
        let mut h = [0u8; 20];
        let mut ip = Ipv4Packet::new_unchecked(&mut h[..]);
        ip.set_version_and_header_len(4, 20);
        ip.set_total_len((20 + len) as u16);
        ip.set_flags_and_offset(false, more, offset as u16);
        ip.set_ident(k.ident);
        ip.set_ttl(64);
        ip.set_protocol(k.protocol.into());
        ip.set_src_addr(k.src);
        ip.set_dst_addr(k.dst);
        ip.fill_checksum();
        h
    }

    struct T {
        r: Reassembler,
        now: Instant,
    }

    impl T {
        fn new(cfg: ReassemblyConfig) -> T {
            T {
                r: Reassembler::new(cfg, LINK),
                now: Instant::ZERO,
            }
        }

        fn frag(&mut self, k: FragmentKey, data: &[u8], offset: usize, more: bool) -> Outcome {
            let h = header(&k, offset, more, data.len());
            let link = [0xaa; LINK];
            self.r.insert(
                self.now,
                &Fragment {
                    key: k,
                    offset,
                    more,
                    link: &link,
                    header: &h,
                    data,
                },
            )
        }

        /// Sends `whole[from..to]` as the fragment at `from`, MF set unless it ends the
        /// datagram.
        fn piece(&mut self, k: FragmentKey, whole: &[u8], from: usize, to: usize) -> Outcome {
            self.frag(k, &whole[from..to], from, to < whole.len())
        }

        /// The completed datagram: checks its header and returns its data.
        fn datagram(&mut self, o: Outcome, k: FragmentKey) -> Vec<u8> {
            let Outcome::Complete { slot, len } = o else {
                panic!("not complete: {o:?}");
            };
            let buf = self.r.take(slot);
            let ip = Ipv4Packet::new_checked(&buf[LINK..len]).unwrap();
            assert!(ip.verify_checksum());
            assert!(!ip.is_fragment() && !ip.dont_frag());
            assert_eq!(ip.header_len(), 20);
            assert_eq!(usize::from(ip.total_len()), len - LINK);
            assert_eq!(
                (ip.src_addr(), ip.dst_addr(), ip.ident()),
                (k.src, k.dst, k.ident)
            );
            assert_eq!(&buf[..LINK], &[0xaa; LINK]);
            let data = ip.payload().to_vec();
            self.r.restore(slot, buf);
            data
        }
    }

    /// What `expire` at `ms` milliseconds gives up: (frames, fragment zero's quote).
    fn expired(r: &mut Reassembler, ms: u64) -> Vec<(usize, Option<Vec<u8>>)> {
        let mut seen = Vec::new();
        r.expire(Instant::from_millis(ms), &mut |e| {
            seen.push((e.frames, e.first.map(|f| f.to_vec())))
        });
        seen
    }

    fn split(n: usize, chunk: usize) -> Vec<(usize, usize)> {
        (0..n)
            .step_by(chunk)
            .map(|s| (s, (s + chunk).min(n)))
            .collect()
    }

    #[test]
    fn fragments_in_order_make_the_datagram() {
        let mut t = T::new(ReassemblyConfig::default());
        let whole = payload(4008);
        let pieces = split(whole.len(), 1480);
        assert_eq!(pieces.len(), 3);
        for &(a, b) in &pieces[..2] {
            assert_eq!(t.piece(key(1), &whole, a, b), Outcome::Held);
        }
        let (a, b) = pieces[2];
        let o = t.piece(key(1), &whole, a, b);
        assert_eq!(t.datagram(o, key(1)), whole);
        assert_eq!(t.r.in_progress(), 0);
    }

    #[test]
    fn fragments_in_reverse_and_shuffled_make_the_datagram() {
        let mut t = T::new(ReassemblyConfig::default());
        let whole = payload(9000);
        let pieces = split(whole.len(), 1480);
        for &(a, b) in pieces[1..].iter().rev() {
            assert_eq!(t.piece(key(2), &whole, a, b), Outcome::Held);
        }
        let o = t.piece(key(2), &whole, 0, 1480);
        assert_eq!(t.datagram(o, key(2)), whole);
        // Shuffled, with pieces of 8 bytes (the smallest) and odd sizes.
        let whole = payload(1001);
        let mut pieces = split(whole.len(), 8);
        let n = pieces.len();
        for i in 0..n {
            pieces.swap(i, (i * 37 + 11) % n);
        }
        let (last, rest) = pieces.split_last().unwrap();
        for &(a, b) in rest {
            assert_eq!(t.piece(key(3), &whole, a, b), Outcome::Held, "{a}..{b}");
        }
        let o = t.piece(key(3), &whole, last.0, last.1);
        assert_eq!(t.datagram(o, key(3)), whole);
    }

    #[test]
    fn interleaved_datagrams_stay_apart() {
        let mut t = T::new(ReassemblyConfig::default());
        let (x, y) = (payload(3000), vec![0x5a; 3000]);
        let other = FragmentKey {
            protocol: 1,
            ..key(7)
        };
        assert_eq!(t.piece(key(7), &x, 0, 1480), Outcome::Held);
        assert_eq!(t.piece(other, &y, 0, 1480), Outcome::Held);
        assert_eq!(t.piece(other, &y, 1480, 2960), Outcome::Held);
        assert_eq!(t.piece(key(7), &x, 1480, 2960), Outcome::Held);
        let o = t.piece(key(7), &x, 2960, 3000);
        assert_eq!(t.datagram(o, key(7)), x);
        let o = t.piece(other, &y, 2960, 3000);
        assert_eq!(t.datagram(o, other), y);
    }

    #[test]
    fn an_identical_duplicate_is_dropped_alone() {
        let mut t = T::new(ReassemblyConfig::default());
        let whole = payload(3000);
        assert_eq!(t.piece(key(1), &whole, 0, 1480), Outcome::Held);
        let dup = Outcome::Discarded {
            why: Discard::Duplicate,
            frames: 1,
        };
        assert_eq!(t.piece(key(1), &whole, 0, 1480), dup);
        // A piece lying inside what is held, with the same bytes, is a copy too.
        assert_eq!(t.piece(key(1), &whole, 8, 800), dup);
        assert_eq!(t.piece(key(1), &whole, 2960, 3000), Outcome::Held);
        assert_eq!(t.piece(key(1), &whole, 2960, 3000), dup);
        let o = t.piece(key(1), &whole, 1480, 2960);
        assert_eq!(t.datagram(o, key(1)), whole);
    }

    #[test]
    fn an_overlap_discards_the_whole_datagram() {
        let mut t = T::new(ReassemblyConfig::default());
        let whole = payload(3000);
        // Partial overlap with the same bytes.
        assert_eq!(t.piece(key(1), &whole, 0, 1480), Outcome::Held);
        assert_eq!(t.piece(key(1), &whole, 2960, 3000), Outcome::Held);
        assert_eq!(
            t.piece(key(1), &whole, 1472, 2960),
            Outcome::Discarded {
                why: Discard::Overlap,
                frames: 3
            }
        );
        assert_eq!(t.r.in_progress(), 0);
        // What follows starts afresh: the rest alone is no datagram.
        assert_eq!(t.piece(key(1), &whole, 1480, 2960), Outcome::Held);
        // The same range with other bytes (RFC 5722's teardrop-like rewrite).
        let mut t = T::new(ReassemblyConfig::default());
        assert_eq!(t.piece(key(2), &whole, 0, 1480), Outcome::Held);
        let mut forged = whole.clone();
        forged[100] ^= 1;
        assert_eq!(
            t.piece(key(2), &forged, 0, 1480),
            Outcome::Discarded {
                why: Discard::Overlap,
                frames: 2
            }
        );
        // A piece covering a held one and more.
        assert_eq!(t.piece(key(3), &whole, 8, 16), Outcome::Held);
        assert_eq!(
            t.piece(key(3), &whole, 0, 1480),
            Outcome::Discarded {
                why: Discard::Overlap,
                frames: 2
            }
        );
    }

    #[test]
    fn fragments_no_sender_makes_are_invalid_and_dropped_alone() {
        let mut t = T::new(ReassemblyConfig::default());
        let whole = payload(3000);
        let alone = Outcome::Discarded {
            why: Discard::Invalid,
            frames: 1,
        };
        assert_eq!(t.piece(key(1), &whole, 0, 1480), Outcome::Held);
        // MF set and not a whole number of 8-byte blocks.
        assert_eq!(t.frag(key(1), &whole[1480..1490], 1480, true), alone);
        // Empty.
        assert_eq!(t.frag(key(1), &[], 1480, true), alone);
        assert_eq!(t.frag(key(1), &[], 1480, false), alone);
        // Past 65 535 bytes with the header ("ping of death").
        assert_eq!(t.frag(key(1), &[0; 16], 65_512, false), alone);
        assert_eq!(t.frag(key(1), &[0; 8], 65_512, true), alone);
        // None of that touched the datagram.
        assert_eq!(t.r.in_progress(), 1);
        assert_eq!(t.piece(key(1), &whole, 2960, 3000), Outcome::Held);
        let o = t.piece(key(1), &whole, 1480, 2960);
        assert_eq!(t.datagram(o, key(1)), whole);
    }

    #[test]
    fn fragments_that_contradict_the_end_discard_the_datagram() {
        let whole = payload(3000);
        let broke = |frames| Outcome::Discarded {
            why: Discard::Invalid,
            frames,
        };
        // Two last fragments with different ends.
        let mut t = T::new(ReassemblyConfig::default());
        assert_eq!(t.piece(key(1), &whole, 2960, 3000), Outcome::Held);
        assert_eq!(t.frag(key(1), &whole[1480..2000], 1480, false), broke(2));
        // Data past the known end.
        assert_eq!(
            t.frag(key(2), &whole[1480..2000], 1480, false),
            Outcome::Held
        );
        assert_eq!(t.frag(key(2), &[0; 16], 2000, true), broke(2));
        // A last fragment ending before data already held.
        assert_eq!(
            t.frag(key(3), &whole[1480..2960], 1480, true),
            Outcome::Held
        );
        assert_eq!(t.frag(key(3), &whole[0..1000], 0, false), broke(2));
        assert_eq!(t.r.in_progress(), 0);
    }

    #[test]
    fn the_largest_datagram_is_65535_bytes_with_its_header() {
        let mut t = T::new(ReassemblyConfig::default());
        let whole = payload(MAX_DATA);
        assert_eq!(MAX_DATA, 65_515);
        let pieces = split(whole.len(), 1480);
        let (last, rest) = pieces.split_last().unwrap();
        for &(a, b) in rest {
            assert_eq!(t.piece(key(9), &whole, a, b), Outcome::Held);
        }
        let o = t.piece(key(9), &whole, last.0, last.1);
        let Outcome::Complete { len, .. } = o else {
            panic!("{o:?}")
        };
        assert_eq!(len, LINK + 65_535);
        assert_eq!(t.datagram(o, key(9)), whole);
        // One byte more is refused, and the rest of it times out.
        let mut t = T::new(ReassemblyConfig::default());
        let big = payload(MAX_DATA + 1);
        for &(a, b) in &split(big.len(), 1480)[..44] {
            assert_eq!(t.piece(key(10), &big, a, b), Outcome::Held);
        }
        assert_eq!(
            t.piece(key(10), &big, 44 * 1480, big.len()),
            Outcome::Discarded {
                why: Discard::Invalid,
                frames: 1
            }
        );
    }

    #[test]
    fn a_datagram_not_whole_in_time_is_given_up_and_quoted() {
        let cfg = ReassemblyConfig {
            timeout: Duration::from_secs(5),
            ..ReassemblyConfig::default()
        };
        let mut t = T::new(cfg);
        let whole = payload(3000);
        assert_eq!(t.piece(key(1), &whole, 0, 1480), Outcome::Held);
        t.now = Instant::from_millis(1000);
        assert_eq!(t.piece(key(1), &whole, 2960, 3000), Outcome::Held);
        // Fragment zero missing from another datagram: nothing to quote.
        assert_eq!(t.piece(key(2), &whole, 1480, 2960), Outcome::Held);
        // The deadline runs from the first fragment, not the last.
        assert_eq!(t.r.poll_at(), Some(Instant::from_millis(5000)));
        assert!(expired(&mut t.r, 4999).is_empty());
        let mut seen = expired(&mut t.r, 5000);
        assert_eq!(seen.len(), 1);
        let (frames, first) = seen.pop().unwrap();
        assert_eq!(frames, 2);
        let first = first.unwrap();
        assert_eq!(first.len(), LINK + 1500);
        let ip = Ipv4Packet::new_checked(&first[LINK..]).unwrap();
        assert!(ip.verify_checksum() && ip.more_frags());
        assert_eq!((ip.ident(), usize::from(ip.total_len())), (1, 1500));
        assert_eq!(ip.payload(), &whole[..1480]);
        assert_eq!(expired(&mut t.r, 6000), vec![(1, None)]);
        assert_eq!((t.r.in_progress(), t.r.poll_at()), (0, None));
        // The last piece, late, starts a datagram of its own.
        assert_eq!(t.piece(key(1), &whole, 1480, 2960), Outcome::Held);
    }

    #[test]
    fn one_source_gets_its_share_and_the_pool_is_bounded() {
        let cfg = ReassemblyConfig {
            slots: 4,
            per_source: 2,
            timeout: Duration::from_secs(5),
        };
        let mut t = T::new(cfg);
        let whole = payload(3000);
        let from = |src: [u8; 4], ident| FragmentKey {
            src: src.into(),
            ..key(ident)
        };
        let a = [198, 18, 0, 1];
        assert_eq!(t.piece(from(a, 1), &whole, 0, 1480), Outcome::Held);
        assert_eq!(t.piece(from(a, 2), &whole, 0, 1480), Outcome::Held);
        let refused = |why| Outcome::Discarded { why, frames: 1 };
        assert_eq!(
            t.piece(from(a, 3), &whole, 0, 1480),
            refused(Discard::SourceFull)
        );
        // Its datagrams already started go on.
        assert_eq!(t.piece(from(a, 1), &whole, 1480, 2960), Outcome::Held);
        // Others still get room, up to the pool's size.
        assert_eq!(
            t.piece(from([198, 18, 0, 5], 1), &whole, 0, 1480),
            Outcome::Held
        );
        assert_eq!(
            t.piece(from([198, 18, 0, 6], 1), &whole, 0, 1480),
            Outcome::Held
        );
        assert_eq!(
            t.piece(from([198, 18, 0, 7], 1), &whole, 0, 1480),
            refused(Discard::TableFull)
        );
        // A completed datagram frees its slot for the next.
        let o = t.piece(from(a, 1), &whole, 2960, 3000);
        assert_eq!(t.datagram(o, from(a, 1)), whole);
        assert_eq!(
            t.piece(from([198, 18, 0, 7], 1), &whole, 0, 1480),
            Outcome::Held
        );
        // So does the timeout.
        assert_eq!(expired(&mut t.r, 5000).len(), 4);
        assert_eq!(t.r.in_progress(), 0);
        assert_eq!(t.piece(from(a, 3), &whole, 0, 1480), Outcome::Held);
    }

    #[test]
    fn a_taken_buffer_is_not_handed_out_until_restored() {
        let cfg = ReassemblyConfig {
            slots: 1,
            per_source: 1,
            timeout: Duration::from_secs(5),
        };
        let mut t = T::new(cfg);
        let whole = payload(16);
        assert_eq!(t.piece(key(1), &whole, 0, 8), Outcome::Held);
        let Outcome::Complete { slot, .. } = t.piece(key(1), &whole, 8, 16) else {
            panic!()
        };
        let buf = t.r.take(slot);
        assert_eq!(
            t.piece(key(2), &whole, 0, 8),
            Outcome::Discarded {
                why: Discard::TableFull,
                frames: 1
            }
        );
        t.r.restore(slot, buf);
        assert_eq!(t.piece(key(2), &whole, 0, 8), Outcome::Held);
    }

    #[test]
    fn bit_table_ranges() {
        let mut b = [0u64; WORDS];
        set_ones(&mut b, 3, 130);
        assert_eq!(count_ones(&b, 0, 200), 127);
        assert_eq!(count_ones(&b, 60, 70), 10);
        assert_eq!(count_ones(&b, 0, 3), 0);
        assert_eq!(count_ones(&b, 130, 8190), 0);
        assert_eq!(first_run(&b), 0);
        set_ones(&mut b, 0, 3);
        assert_eq!(first_run(&b), 130);
        assert!(WORDS * 64 >= MAX_DATA.div_ceil(8));
    }
}
