//! The memory of one connection: its send queue and its receive ring. A connection is
//! given its buffers when it is made and hands them back when it no longer needs them;
//! where they come from and where they go (fresh allocation, or a pool of finished
//! connections' buffers) is the caller's policy, not the state machine's.
//!
//! Invariants: `send` holds at least the configured send capacity; `recv` exactly the
//! configured receive capacity; a `Buffers` taken back from a connection is empty.

use super::conn::TcpConfig;
use super::ring::Ring;
use std::collections::VecDeque;

pub struct Buffers {
    pub(super) send: VecDeque<u8>,
    pub(super) recv: Ring,
}

impl Buffers {
    /// Newly allocated buffers of the sizes `cfg` asks for.
    pub fn for_config(cfg: &TcpConfig) -> Self {
        Buffers {
            send: VecDeque::with_capacity(cfg.send_buffer),
            recv: Ring::new(cfg.recv_buffer),
        }
    }

    /// Whether these buffers are the sizes `cfg` asks for.
    pub fn fits(&self, cfg: &TcpConfig) -> bool {
        self.send.capacity() >= cfg.send_buffer && self.recv.capacity() == cfg.recv_buffer.max(1)
    }

    /// Whether there is memory here worth keeping.
    pub fn holds_memory(&self) -> bool {
        self.send.capacity() > 0 && self.recv.capacity() > 1
    }

    /// Empties both, keeping their memory.
    pub fn clear(&mut self) {
        self.send.clear();
        self.recv.reset();
    }

    /// Where the receive ring's memory is (tests check that buffers are reused).
    #[cfg(test)]
    pub fn recv_ptr(&self) -> *const u8 {
        self.recv.peek_ptr()
    }
}
