//! proto/tcp/events: the events one connection has for its owner (the stack or an
//! application), queued until `Connection::poll_event` takes them. Sans-IO and
//! allocation-free: a fixed ring inside the connection.
//!
//! Invariants: events come out in the order they were raised; at most [`CAPACITY`] are
//! held. When the owner does not poll and the ring is full, the oldest is dropped.

use super::conn::Event;

/// Events held at most.
pub const CAPACITY: usize = 16;

/// A fixed ring of events, oldest first.
#[derive(Clone, Copy, Debug)]
pub struct EventQueue {
    ring: [Option<Event>; CAPACITY],
    head: usize,
    len: usize,
}

impl Default for EventQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl EventQueue {
    /// Empty.
    pub const fn new() -> Self {
        EventQueue {
            ring: [None; CAPACITY],
            head: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `e`.
    pub fn push(&mut self, e: Event) {
        if self.len == CAPACITY {
            // The application is not draining events; keep the newest.
            self.head = (self.head + 1) % CAPACITY;
            self.len -= 1;
        }
        self.ring[(self.head + self.len) % CAPACITY] = Some(e);
        self.len += 1;
    }

    /// The oldest event, taken out.
    pub fn pop(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        let e = self.ring[self.head].take();
        self.head = (self.head + 1) % CAPACITY;
        self.len -= 1;
        e
    }
}
