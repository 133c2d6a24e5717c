//! The buffers of finished connections, kept by the endpoint for the next ones: a new
//! connection then costs no allocation and no zeroing of its receive ring, which
//! dominated a connect/request/close exchange before the pool existed. A few dozen are
//! kept (a burst of closes frees the rest); buffers of another size than the current
//! configuration asks for are not kept. An idle connection gives its buffers back here
//! too and takes a set again when a segment or a send reaches it.
//!
//! Freed buffers go back to the C library's heap, which keeps them resident; the pool
//! counts what it freed, and the endpoint then has the heap trimmed
//! (`driver::heap::trim`, at most once a second), so memory falls back after a burst.

use crate::proto::tcp::{Buffers, TcpConfig};

/// How many sets of buffers are kept at most.
pub const KEEP: usize = 64;

pub struct BufferPool {
    spare: Vec<Buffers>,
    keep: usize,
    /// Sets dropped since the last `take_freed`.
    freed: usize,
    /// Sets handed out and not given back: the connections that hold buffers now, and
    /// the most that ever did at once.
    lent: usize,
    peak_lent: usize,
}

impl BufferPool {
    pub fn new(keep: usize) -> Self {
        BufferPool {
            spare: Vec::with_capacity(keep),
            keep,
            freed: 0,
            lent: 0,
            peak_lent: 0,
        }
    }

    /// Buffers for a new connection: a kept set if one fits `cfg`, else new ones.
    pub fn take(&mut self, cfg: &TcpConfig) -> Buffers {
        self.lent += 1;
        self.peak_lent = self.peak_lent.max(self.lent);
        match self.spare.last() {
            Some(b) if b.fits(cfg) => self.spare.pop().unwrap_or_else(|| Buffers::for_config(cfg)),
            _ => Buffers::for_config(cfg),
        }
    }

    /// Keeps `bufs` for a later connection if they hold memory and there is room; frees
    /// them otherwise.
    pub fn give(&mut self, mut bufs: Buffers) {
        if !bufs.holds_memory() {
            return;
        }
        self.lent = self.lent.saturating_sub(1);
        if self.spare.len() < self.keep {
            bufs.clear();
            self.spare.push(bufs);
        } else {
            self.freed += 1;
        }
    }

    /// How many sets were freed since the last call (the heap may hold their memory).
    pub fn take_freed(&mut self) -> usize {
        core::mem::take(&mut self.freed)
    }

    /// Sets freed since the last `take_freed`.
    pub fn freed(&self) -> usize {
        self.freed
    }

    pub fn len(&self) -> usize {
        self.spare.len()
    }

    /// Sets held by connections now.
    pub fn lent(&self) -> usize {
        self.lent
    }

    /// The most sets connections held at once.
    pub fn peak_lent(&self) -> usize {
        self.peak_lent
    }

    pub fn is_empty(&self) -> bool {
        self.spare.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_connection_takes_the_buffers_of_a_finished_one() {
        let cfg = TcpConfig::default();
        let mut pool = BufferPool::new(2);
        let first = pool.take(&cfg);
        let at = first.recv_ptr();
        pool.give(first);
        assert_eq!(pool.len(), 1);
        assert_eq!((pool.lent(), pool.peak_lent()), (0, 1));
        let again = pool.take(&cfg);
        assert_eq!(again.recv_ptr(), at, "the receive ring was not reused");
        assert_eq!(pool.lent(), 1);
        assert!(again.fits(&cfg));
        assert!(pool.is_empty());
    }

    #[test]
    fn buffers_of_another_size_are_not_handed_out_and_the_pool_is_bounded() {
        let cfg = TcpConfig::default();
        let small = TcpConfig {
            recv_buffer: 4096,
            send_buffer: 4096,
            ..cfg
        };
        let mut pool = BufferPool::new(1);
        pool.give(Buffers::for_config(&small));
        pool.give(Buffers::for_config(&small));
        assert_eq!(pool.len(), 1, "bounded");
        assert_eq!(pool.take_freed(), 1, "the one past the bound was freed");
        assert_eq!(pool.freed(), 0);
        let b = pool.take(&cfg);
        assert!(
            b.fits(&cfg),
            "a smaller set is not handed out for a larger config"
        );
        assert_eq!(pool.len(), 1);
    }
}
