//! proto/tcp/ring: a byte ring allocated once, used for a connection's send and receive
//! buffers. Bytes `0..len` (logical indices from `head`) are valid; the receive side may
//! also write ahead of `len` (out-of-order data) and commit it later.

/// Fixed-capacity byte ring.
#[derive(Debug)]
pub struct Ring {
    buf: Box<[u8]>,
    head: usize,
    len: usize,
}

impl Ring {
    pub fn new(cap: usize) -> Ring {
        Ring {
            buf: vec![0u8; cap.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }
    /// A ring that holds nothing and owns no memory (a `Box<[u8]>` of length 0 does not
    /// allocate). Only for a buffer that has been given away; every write is refused.
    pub fn none() -> Ring {
        Ring {
            buf: Box::default(),
            head: 0,
            len: 0,
        }
    }

    /// Where the ring's memory is (tests check that buffers are reused).
    #[cfg(test)]
    pub fn peek_ptr(&self) -> *const u8 {
        self.buf.as_ptr()
    }

    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Empties the ring for reuse (the old bytes stay in memory but are never valid).
    pub fn reset(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn free(&self) -> usize {
        self.buf.len() - self.len
    }

    /// Writes `data` at logical index `len + off` without committing it. Returns how
    /// many bytes fitted.
    pub fn write_at(&mut self, off: usize, data: &[u8]) -> usize {
        let cap = self.buf.len();
        if off >= self.free() {
            return 0;
        }
        let n = data.len().min(self.free() - off);
        let start = (self.head + self.len + off) % cap;
        let first = n.min(cap - start);
        self.buf[start..start + first].copy_from_slice(&data[..first]);
        self.buf[..n - first].copy_from_slice(&data[first..n]);
        n
    }

    /// Makes `n` bytes written past `len` valid.
    pub fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.buf.len());
    }

    /// Up to `n` valid bytes from logical index `off`, as at most two slices.
    pub fn peek(&self, off: usize, n: usize) -> (&[u8], &[u8]) {
        let cap = self.buf.len();
        if off >= self.len {
            return (&[], &[]);
        }
        let n = n.min(self.len - off);
        let start = (self.head + off) % cap;
        let first = n.min(cap - start);
        (&self.buf[start..start + first], &self.buf[..n - first])
    }

    /// Drops `n` bytes from the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if n == 0 {
            // Also the whole story for a ring that owns no memory.
            return;
        }
        self.head = (self.head + n) % self.buf.len();
        self.len -= n;
    }

    /// Copies out and consumes up to `out.len()` bytes.
    pub fn pop(&mut self, out: &mut [u8]) -> usize {
        let (a, b) = self.peek(0, out.len());
        let (na, nb) = (a.len(), b.len());
        out[..na].copy_from_slice(a);
        out[na..na + nb].copy_from_slice(b);
        self.consume(na + nb);
        na + nb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_writes_ahead() {
        let mut r = Ring::new(8);
        assert_eq!(r.write_at(0, b"abcdef"), 6);
        r.commit(6);
        r.consume(4);
        assert_eq!(r.write_at(0, b"ghijklmn"), 6);
        r.commit(6);
        let (a, b) = r.peek(0, 8);
        assert_eq!([a, b].concat(), b"efghijkl");
        let mut out = [0u8; 3];
        assert_eq!(r.pop(&mut out), 3);
        assert_eq!(&out, b"efg");
        // out of order: write at +2, then fill the hole
        assert_eq!(r.free(), 3);
        assert_eq!(r.write_at(1, b"XYZ"), 2);
        assert_eq!(r.write_at(0, b"U"), 1);
        r.commit(3);
        let (a, b) = r.peek(5, 3);
        assert_eq!([a, b].concat(), b"UXY");
    }

    #[test]
    fn a_ring_without_memory_refuses_writes_and_reads_nothing() {
        let mut r = Ring::none();
        assert_eq!(r.write_at(0, b"abc"), 0);
        r.commit(3);
        assert_eq!(r.len(), 0);
        let mut out = [0u8; 4];
        assert_eq!(r.pop(&mut out), 0);
        r.consume(1);
        assert!(r.is_empty());
    }
}
