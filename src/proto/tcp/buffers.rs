//! The memory of one connection: its send queue and its receive ring, and the lists that
//! describe them — the out-of-order ranges held in the ring (`assembler`), the segments
//! in flight (`scoreboard`) and the ACKs owed. A connection is given its buffers when it
//! is made and hands them back when it no longer needs them; where they come from and
//! where they go (fresh allocation, or a pool of finished connections' buffers) is the
//! caller's policy, not the state machine's.
//!
//! Invariants: `send` holds at least the configured send capacity; `recv` exactly the
//! configured receive capacity; each list at least the capacity the configuration
//! gives it (so the connection never grows one); a `Buffers` taken back from a
//! connection is empty.

use super::assembler::ranges_for;
use super::conn::{AckCause, TcpConfig, ACK_CAUSES};
use super::ring::Ring;
use super::scoreboard::{records_for, Sent};
use super::seq::SeqNumber;
use std::collections::VecDeque;

pub struct Buffers {
    pub(super) send: VecDeque<u8>,
    pub(super) recv: Ring,
    pub(super) ooo: Vec<(SeqNumber, SeqNumber)>,
    pub(super) sent: VecDeque<Sent>,
    pub(super) acks: Vec<AckCause>,
}

impl Buffers {
    /// Newly allocated buffers of the sizes `cfg` asks for.
    pub fn for_config(cfg: &TcpConfig) -> Self {
        Buffers {
            send: VecDeque::with_capacity(cfg.send_buffer),
            recv: Ring::new(cfg.recv_buffer),
            ooo: Vec::with_capacity(ranges_for(cfg.recv_buffer)),
            sent: VecDeque::with_capacity(records_for(cfg.send_buffer)),
            acks: Vec::with_capacity(ACK_CAUSES),
        }
    }

    /// No buffers at all (nothing allocated): for a connection that is to get its set
    /// when it is first served (`Connection::needs_buffers`), so that opening many
    /// connections at once does not hold a set for each.
    pub fn none() -> Self {
        Buffers {
            send: VecDeque::new(),
            recv: Ring::none(),
            ooo: Vec::new(),
            sent: VecDeque::new(),
            acks: Vec::new(),
        }
    }

    /// Whether these buffers are the sizes `cfg` asks for.
    pub fn fits(&self, cfg: &TcpConfig) -> bool {
        self.send.capacity() >= cfg.send_buffer
            && self.recv.capacity() == cfg.recv_buffer.max(1)
            && self.ooo.capacity() >= ranges_for(cfg.recv_buffer)
            && self.sent.capacity() >= records_for(cfg.send_buffer)
            && self.acks.capacity() >= ACK_CAUSES
    }

    /// Whether there is memory here worth keeping.
    pub fn holds_memory(&self) -> bool {
        self.send.capacity() > 0 && self.recv.capacity() > 1
    }

    /// Empties all, keeping their memory.
    pub fn clear(&mut self) {
        self.send.clear();
        self.recv.reset();
        self.ooo.clear();
        self.sent.clear();
        self.acks.clear();
    }

    /// Where the receive ring's memory is (tests check that buffers are reused).
    #[cfg(test)]
    pub fn recv_ptr(&self) -> *const u8 {
        self.recv.peek_ptr()
    }
}
