//! driver/ring: the single-producer single-consumer protocol of the four AF_XDP rings
//! (fill, completion, RX, TX), in Rust over their mmap'd memory, so that a batch costs
//! two atomic operations on the shared indices instead of several calls into libxdp.
//!
//! A ring is a power-of-two array of entries and two free-running `u32` indices, each
//! written by one side only: `producer` by the side that fills entries, `consumer` by
//! the side that takes them. Entries `consumer..producer` (wrapping) are full. Both
//! indices wrap at 2^32; only their differences and `index & mask` are ever used.
//!
//! Ordering (Documentation/networking/af_xdp.rst, the kernel's xsk_queue.h, libxdp's
//! xsk.h): the producer writes entries, then stores `producer` with Release; the
//! consumer loads `producer` with Acquire, reads the entries, then stores `consumer`
//! with Release; the producer loads `consumer` with Acquire before reusing those slots.
//! So no entry is read before it is written, nor overwritten before it is read.
//!
//! Each end keeps a cached copy of the peer's index and reloads it only when the cache
//! says the ring cannot satisfy the request (a producer that sees fewer free slots than
//! it asked for, a consumer that sees none ready), which keeps the peer's cache line
//! out of the common path. Its own index it keeps in a plain field and only stores.
//!
//! [`Producer::reserve`] and [`Consumer::peek`] return guards: writing or reading goes
//! through the guard's slots, and only [`Reserved::submit`] / [`Peeked::release`]
//! publish; a guard dropped without that leaves the ring as it was.
//!
//! The memory is either a ring the kernel mapped for an AF_XDP socket ([`RingMap::xsk`],
//! the offsets from `getsockopt(XDP_MMAP_OFFSETS)`) or an anonymous mapping laid out the
//! same way ([`RingMap::anonymous`]), on which the tests run both ends in-process.

use core::marker::PhantomData;
use core::sync::atomic::{AtomicU32, Ordering};
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;

/// The `flags` bit that says the kernel wants a kick (XDP_RING_NEED_WAKEUP).
pub const NEED_WAKEUP: u32 = 1;

/// An RX or TX ring entry, as `struct xdp_desc` in linux/if_xdp.h.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpDesc {
    /// Offset of the packet's first byte in the UMEM.
    pub addr: u64,
    pub len: u32,
    pub options: u32,
}

/// What a ring entry may be: plain data the kernel reads and writes as bytes.
///
/// # Safety
///
/// Implementors are `repr(C)` (or primitive) with no padding and no invalid bit
/// patterns, so any bytes the peer wrote are a valid value.
pub unsafe trait Entry: Copy + Default + 'static {}
// SAFETY: a u64 is valid for every bit pattern.
unsafe impl Entry for u64 {}
// SAFETY: two u32 after a u64, repr(C): 16 bytes, no padding; every bit pattern valid.
unsafe impl Entry for XdpDesc {}

/// Which of a socket's rings to map, with its page offset (linux/if_xdp.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingKind {
    Rx,
    Tx,
    Fill,
    Completion,
}

impl RingKind {
    fn pgoff(self) -> libc::off_t {
        match self {
            RingKind::Rx => libc::XDP_PGOFF_RX_RING,
            RingKind::Tx => libc::XDP_PGOFF_TX_RING,
            RingKind::Fill => libc::XDP_UMEM_PGOFF_FILL_RING as libc::off_t,
            RingKind::Completion => libc::XDP_UMEM_PGOFF_COMPLETION_RING as libc::off_t,
        }
    }
}

/// A mapped ring: where its indices, flags and entries are, and the mapping that keeps
/// them alive (unmapped when the last end that uses it drops).
pub struct RingMap<T: Entry> {
    map: Arc<Mapping>,
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    entries: *mut T,
    size: u32,
}

struct Mapping {
    addr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is plain memory; unmapping it from whichever thread drops the last
// reference is fine.
unsafe impl Send for Mapping {}
// SAFETY: `Mapping` only holds the address for `munmap`; nothing reads through it.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `addr`/`len` are exactly what mmap returned and were given, and every
        // pointer into the mapping lives in a `RingMap` that holds this `Arc`, so none
        // is left when it drops.
        unsafe { libc::munmap(self.addr, self.len) };
    }
}

/// Offsets of one ring's parts in its mapping (`struct xdp_ring_offset`).
#[derive(Clone, Copy, Debug)]
pub struct Offsets {
    pub producer: usize,
    pub consumer: usize,
    pub flags: usize,
    pub desc: usize,
}

impl<T: Entry> RingMap<T> {
    /// Builds the pointers into `map`, checking that every part lies inside it.
    fn new(map: Mapping, off: Offsets, size: u32) -> io::Result<Self> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        if !size.is_power_of_two() {
            return Err(bad("ring size is not a power of two"));
        }
        let entries_end = off
            .desc
            .checked_add(size as usize * core::mem::size_of::<T>())
            .ok_or_else(|| bad("ring too large"))?;
        let word_ok = |o: usize| o % 4 == 0 && o + 4 <= map.len;
        if !(word_ok(off.producer) && word_ok(off.consumer) && word_ok(off.flags))
            || off.desc % core::mem::align_of::<T>() != 0
            || entries_end > map.len
        {
            return Err(bad("ring offsets fall outside the mapping"));
        }
        let base = map.addr.cast::<u8>();
        // SAFETY: each offset was checked above to lie inside the mapping, aligned for
        // its type; the mapping is page-aligned, so alignment of offsets is alignment.
        unsafe {
            Ok(RingMap {
                producer: base.add(off.producer).cast(),
                consumer: base.add(off.consumer).cast(),
                flags: base.add(off.flags).cast(),
                entries: base.add(off.desc).cast(),
                size,
                map: Arc::new(map),
            })
        }
    }

    /// A ring in anonymous memory laid out as the kernel lays one out (each index on a
    /// cache line of its own), with both indices at `start`: for tests and benchmarks.
    pub fn anonymous(size: u32, start: u32) -> io::Result<Self> {
        let off = Offsets {
            producer: 0,
            consumer: 64,
            flags: 128,
            desc: 192,
        };
        let len = off.desc + size as usize * core::mem::size_of::<T>();
        // SAFETY: a fresh private anonymous mapping; no pointers are passed in.
        let addr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ring = RingMap::new(Mapping { addr, len }, off, size)?;
        ring.producer().store(start, Ordering::Relaxed);
        ring.consumer().store(start, Ordering::Relaxed);
        Ok(ring)
    }

    /// Maps `kind` of the AF_XDP socket `fd` again (the kernel allows any number of
    /// mappings of a ring), given the size it was created with. Fill and completion
    /// rings are mapped from the socket they were registered on and, once the socket is
    /// bound, are that socket's own (with a shared UMEM, each socket on another queue
    /// has its own pair).
    pub fn xsk(fd: RawFd, kind: RingKind, size: u32) -> io::Result<Self> {
        let mut all: libc::xdp_mmap_offsets = xdp_mmap_offsets_zeroed();
        let mut optlen = core::mem::size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
        // SAFETY: `all` and `optlen` are live and writable; the kernel writes at most
        // `optlen` bytes and updates `optlen`.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_XDP,
                libc::XDP_MMAP_OFFSETS,
                (&mut all as *mut libc::xdp_mmap_offsets).cast(),
                &mut optlen,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        if optlen as usize != core::mem::size_of::<libc::xdp_mmap_offsets>() {
            // Kernels before 5.4 have no flags offset: no need_wakeup either.
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the kernel's XDP_MMAP_OFFSETS has no flags (Linux 5.4 or later needed)",
            ));
        }
        let o = match kind {
            RingKind::Rx => all.rx,
            RingKind::Tx => all.tx,
            RingKind::Fill => all.fr,
            RingKind::Completion => all.cr,
        };
        let off = Offsets {
            producer: o.producer as usize,
            consumer: o.consumer as usize,
            flags: o.flags as usize,
            desc: o.desc as usize,
        };
        let len = off.desc + size as usize * core::mem::size_of::<T>();
        // SAFETY: maps the ring the kernel allocated for this socket, shared, at its
        // documented page offset; no pointers are passed in. The kernel refuses a length
        // beyond the ring.
        let addr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                kind.pgoff(),
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        RingMap::new(Mapping { addr, len }, off, size)
    }

    /// A second view of the same ring (its other end, in tests).
    pub fn share(&self) -> Self {
        RingMap {
            map: self.map.clone(),
            ..*self
        }
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping (held by `self.map`), 4-aligned; the
        // kernel and we only ever access it atomically.
        unsafe { &*self.producer }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { &*self.consumer }
    }

    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { &*self.flags }
    }

    fn slot(&self, index: u32) -> *mut T {
        // SAFETY: `index & (size - 1)` is below `size`, and `entries` has room for `size`
        // entries inside the mapping.
        unsafe { self.entries.add((index & (self.size - 1)) as usize) }
    }
}

impl<T: Entry> Clone for RingMap<T> {
    fn clone(&self) -> Self {
        self.share()
    }
}

fn xdp_mmap_offsets_zeroed() -> libc::xdp_mmap_offsets {
    let z = libc::xdp_ring_offset {
        producer: 0,
        consumer: 0,
        desc: 0,
        flags: 0,
    };
    libc::xdp_mmap_offsets {
        rx: z,
        tx: z,
        fr: z,
        cr: z,
    }
}

// SAFETY: a ring end is used by one thread at a time (it is not Sync, and every method
// takes `&mut self`); the memory it points into is shared with the peer only through
// the atomic indices and the protocol above, and kept alive by the `Arc`.
unsafe impl<T: Entry> Send for RingMap<T> {}

/// The producing end of a ring: our fill and TX rings (and the kernel's role on RX and
/// completion, in tests).
pub struct Producer<T: Entry> {
    ring: RingMap<T>,
    /// Our index: entries before it are published.
    prod: u32,
    /// The consumer's index as last loaded, plus the ring size: `cached_cons - prod` is
    /// the free room we know of (as libxdp keeps it).
    cached_cons: u32,
}

impl<T: Entry> Producer<T> {
    /// Takes over the producing end of `ring`, from the indices in its memory.
    pub fn new(ring: RingMap<T>) -> Self {
        let prod = ring.producer().load(Ordering::Relaxed);
        let cached_cons = ring
            .consumer()
            .load(Ordering::Acquire)
            .wrapping_add(ring.size);
        Producer {
            ring,
            prod,
            cached_cons,
        }
    }

    pub fn size(&self) -> u32 {
        self.ring.size
    }

    /// Free slots, at least `want` if the ring has them: answered from the cache when it
    /// shows `want`, else after reloading the consumer's index.
    pub fn free(&mut self, want: u32) -> u32 {
        let free = self.cached_cons.wrapping_sub(self.prod);
        if free >= want {
            return free;
        }
        // Acquire: the consumer's reads of the slots it gives back happen before our
        // writes into them.
        self.cached_cons = self
            .ring
            .consumer()
            .load(Ordering::Acquire)
            .wrapping_add(self.ring.size);
        self.cached_cons.wrapping_sub(self.prod)
    }

    /// Up to `n` slots to write, fewer if the ring has less room (none when full).
    pub fn reserve(&mut self, n: u32) -> Reserved<'_, T> {
        let len = self.free(n).min(n);
        Reserved {
            ring: self,
            len,
            _not_send: PhantomData,
        }
    }

    /// Whether the consumer (the kernel) asked to be kicked. A plain (Relaxed) load, as
    /// libxdp reads the flag: it may be ordered before the `submit` that precedes it, so
    /// a kick can be missed once; the XDP driver kicks again at every flush while frames
    /// it sent are not back, which covers that.
    pub fn needs_wakeup(&self) -> bool {
        self.ring.flags().load(Ordering::Relaxed) & NEED_WAKEUP != 0
    }

    /// Entries published and not yet consumed, by the last look at the consumer.
    pub fn outstanding(&mut self) -> u32 {
        self.ring.size - self.free(self.ring.size)
    }
}

/// Slots reserved on a [`Producer`]: `set` fills them, `submit` publishes a prefix.
/// Dropped unsubmitted, nothing is published.
pub struct Reserved<'a, T: Entry> {
    ring: &'a mut Producer<T>,
    len: u32,
    _not_send: PhantomData<*mut T>,
}

impl<T: Entry> Reserved<'_, T> {
    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the `i`-th reserved slot. Out of range, nothing is written (a caller's
    /// bug, caught in debug builds).
    pub fn set(&mut self, i: u32, entry: T) {
        debug_assert!(i < self.len, "slot {i} of {} reserved", self.len);
        if i < self.len {
            let p = self.ring.ring.slot(self.ring.prod.wrapping_add(i));
            // SAFETY: the slot is between our index and the consumer's plus the size, so
            // the consumer has given it back and does not read it until we publish.
            unsafe { p.write(entry) };
        }
    }

    /// Publishes the first `n` reserved slots (at most all of them).
    pub fn submit(self, n: u32) {
        let n = n.min(self.len);
        self.ring.prod = self.ring.prod.wrapping_add(n);
        // Release: the entries written above are visible before the index that says so.
        self.ring
            .ring
            .producer()
            .store(self.ring.prod, Ordering::Release);
    }
}

/// The consuming end of a ring: our RX and completion rings (and the kernel's role on
/// fill and TX, in tests).
pub struct Consumer<T: Entry> {
    ring: RingMap<T>,
    /// The producer's index as last loaded.
    cached_prod: u32,
    /// Our index: entries before it are given back.
    cons: u32,
}

impl<T: Entry> Consumer<T> {
    /// Takes over the consuming end of `ring`, from the indices in its memory.
    pub fn new(ring: RingMap<T>) -> Self {
        let cons = ring.consumer().load(Ordering::Relaxed);
        let cached_prod = ring.producer().load(Ordering::Acquire);
        Consumer {
            ring,
            cached_prod,
            cons,
        }
    }

    pub fn size(&self) -> u32 {
        self.ring.size
    }

    /// Entries ready: answered from the cache unless it shows none, in which case the
    /// producer's index is reloaded.
    pub fn available(&mut self) -> u32 {
        let ready = self.cached_prod.wrapping_sub(self.cons);
        if ready > 0 {
            return ready;
        }
        // Acquire: the producer's writes of the entries happen before our reads.
        self.cached_prod = self.ring.producer().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cons)
    }

    /// Up to `n` ready entries to read (none when the ring is empty).
    pub fn peek(&mut self, n: u32) -> Peeked<'_, T> {
        let len = self.available().min(n);
        Peeked {
            ring: self,
            len,
            _not_send: PhantomData,
        }
    }

    /// Whether the producer (the kernel) asked to be kicked.
    pub fn needs_wakeup(&self) -> bool {
        self.ring.flags().load(Ordering::Relaxed) & NEED_WAKEUP != 0
    }
}

/// Entries peeked on a [`Consumer`]: `get` reads them, `release` gives a prefix back.
/// Dropped unreleased, they stay on the ring for the next peek.
pub struct Peeked<'a, T: Entry> {
    ring: &'a mut Consumer<T>,
    len: u32,
    _not_send: PhantomData<*mut T>,
}

impl<T: Entry> Peeked<'_, T> {
    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`-th peeked entry (the default value out of range: a caller's bug, caught
    /// in debug builds).
    pub fn get(&self, i: u32) -> T {
        debug_assert!(i < self.len, "entry {i} of {} peeked", self.len);
        if i >= self.len {
            return T::default();
        }
        let p = self.ring.ring.slot(self.ring.cons.wrapping_add(i));
        // SAFETY: the slot is between our index and the producer's as loaded with
        // Acquire, so it has been written and is not rewritten until we release it.
        unsafe { p.read() }
    }

    /// Gives the first `n` peeked entries back to the producer (at most all of them).
    pub fn release(self, n: u32) {
        let n = n.min(self.len);
        self.ring.cons = self.ring.cons.wrapping_add(n);
        // Release: our reads of the entries happen before the producer may reuse them.
        self.ring
            .ring
            .consumer()
            .store(self.ring.cons, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair<T: Entry>(size: u32, start: u32) -> (Producer<T>, Consumer<T>) {
        let ring = RingMap::<T>::anonymous(size, start).unwrap();
        let other = ring.share();
        (Producer::new(ring), Consumer::new(other))
    }

    fn push(p: &mut Producer<u64>, vals: &[u64]) -> u32 {
        let mut r = p.reserve(vals.len() as u32);
        let n = r.len();
        for i in 0..n {
            r.set(i, vals[i as usize]);
        }
        r.submit(n);
        n
    }

    fn pop(c: &mut Consumer<u64>, n: u32) -> Vec<u64> {
        let got = c.peek(n);
        let v: Vec<u64> = (0..got.len()).map(|i| got.get(i)).collect();
        let k = got.len();
        got.release(k);
        v
    }

    #[test]
    fn entries_come_out_in_order_across_the_u32_wrap() {
        // Indices start 3 short of 2^32, so the batches below cross the wrap.
        let (mut p, mut c) = pair::<u64>(8, u32::MAX - 2);
        let mut next = 0u64;
        let mut want = 0u64;
        for round in 0..50 {
            let k = 1 + round % 8;
            let vals: Vec<u64> = (next..next + k as u64).collect();
            assert_eq!(push(&mut p, &vals), k);
            next += k as u64;
            for v in pop(&mut c, 8) {
                assert_eq!(v, want);
                want += 1;
            }
        }
        assert_eq!(want, next);
        assert!(p.ring.producer().load(Ordering::Relaxed) < 1000, "wrapped");
    }

    #[test]
    fn a_full_ring_reserves_nothing_until_the_consumer_releases() {
        let (mut p, mut c) = pair::<u64>(4, 0);
        assert_eq!(push(&mut p, &[1, 2, 3]), 3);
        // One slot left: a reservation of three gets one.
        assert_eq!(p.reserve(3).len(), 1);
        assert_eq!(push(&mut p, &[4, 5]), 1);
        assert_eq!(p.reserve(1).len(), 0, "full");
        assert_eq!(p.outstanding(), 4);
        assert_eq!(pop(&mut c, 2), vec![1, 2]);
        assert_eq!(p.reserve(4).len(), 2, "room comes back once released");
        assert_eq!(push(&mut p, &[6, 7]), 2);
        // The consumer's cache still shows two: it takes those without looking again.
        assert_eq!(pop(&mut c, 9), vec![3, 4]);
        assert_eq!(pop(&mut c, 9), vec![6, 7]);
        assert_eq!(p.outstanding(), 0);
    }

    #[test]
    fn an_empty_ring_peeks_nothing_and_an_unreleased_peek_stays() {
        let (mut p, mut c) = pair::<XdpDesc>(4, 7);
        assert!(c.peek(4).is_empty());
        let d = XdpDesc {
            addr: 4096 + 256,
            len: 60,
            options: 0,
        };
        let mut r = p.reserve(1);
        r.set(0, d);
        r.submit(1);
        {
            let got = c.peek(4);
            assert_eq!((got.len(), got.get(0)), (1, d));
            // dropped without release
        }
        let got = c.peek(4);
        assert_eq!(got.len(), 1, "still there");
        got.release(1);
        assert!(c.peek(4).is_empty());
    }

    #[test]
    fn an_unsubmitted_reservation_publishes_nothing() {
        let (mut p, mut c) = pair::<u64>(4, 0);
        {
            let mut r = p.reserve(2);
            r.set(0, 9);
            r.set(1, 9);
        }
        assert!(c.peek(4).is_empty());
        let mut r = p.reserve(2);
        r.set(0, 1);
        r.set(1, 2);
        r.submit(1);
        assert_eq!(pop(&mut c, 4), vec![1], "only the submitted prefix");
    }

    #[test]
    fn the_peer_index_is_reloaded_only_when_the_cache_runs_short() {
        let (mut p, mut c) = pair::<u64>(8, 0);
        assert_eq!(push(&mut p, &[1, 2, 3, 4]), 4);
        // The consumer caches the producer's index on its first look.
        assert_eq!(c.available(), 4);
        assert_eq!(push(&mut p, &[5, 6]), 2);
        assert_eq!(c.available(), 4, "cache not empty: no reload");
        assert_eq!(pop(&mut c, 4), vec![1, 2, 3, 4]);
        assert_eq!(c.available(), 2, "empty cache: reloaded");
        // The producer's cache of the consumer: 2 free by its last load.
        assert_eq!(pop(&mut c, 2), vec![5, 6]);
        assert_eq!(p.free(2), 2, "cache shows 2: no reload");
        assert_eq!(
            p.free(3),
            8,
            "asked for more than the cache shows: reloaded"
        );
    }

    #[test]
    fn need_wakeup_is_the_flags_bit() {
        let (p, c) = pair::<u64>(4, 0);
        assert!(!p.needs_wakeup() && !c.needs_wakeup());
        p.ring.flags().store(NEED_WAKEUP, Ordering::Relaxed);
        assert!(p.needs_wakeup() && c.needs_wakeup());
    }

    #[test]
    fn bad_geometry_is_refused() {
        assert!(RingMap::<u64>::anonymous(6, 0).is_err());
    }

    #[test]
    fn two_threads_move_a_million_entries_without_loss_or_duplication() {
        const N: u64 = 1_000_000;
        // Start near the wrap so the run crosses it.
        let (mut p, mut c) = pair::<XdpDesc>(64, u32::MAX - 1000);
        let producer = std::thread::spawn(move || {
            let mut next = 0u64;
            while next < N {
                let want = (N - next).min(17) as u32;
                let mut r = p.reserve(want);
                let n = r.len();
                for i in 0..n {
                    let v = next + u64::from(i);
                    r.set(
                        i,
                        XdpDesc {
                            addr: v,
                            len: v as u32 ^ 0x5a5a,
                            options: 0,
                        },
                    );
                }
                r.submit(n);
                next += u64::from(n);
                if n == 0 {
                    std::hint::spin_loop();
                }
            }
        });
        let mut want = 0u64;
        while want < N {
            let got = c.peek(23);
            let n = got.len();
            for i in 0..n {
                let d = got.get(i);
                assert_eq!(d.addr, want, "in order, none lost or repeated");
                assert_eq!(
                    d.len,
                    want as u32 ^ 0x5a5a,
                    "entry written before published"
                );
                want += 1;
            }
            got.release(n);
            if n == 0 {
                std::hint::spin_loop();
            }
        }
        producer.join().unwrap();
        assert!(c.peek(1).is_empty(), "nothing beyond the last");
    }
}
