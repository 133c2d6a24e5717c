//! proto/tcp/events: the events one connection has for its owner (the stack or an
//! application), queued until `Connection::poll_event` takes them. Sans-IO and
//! allocation-free: a fixed ring inside the connection.
//!
//! Invariants: no event is ever dropped, and events come out in the order they were
//! raised, with one coalescing rule: a `Readable` or `PeerClosed` raised while one of
//! the same kind is still queued adds nothing (the one queued already says "there is data
//! to read" or "the peer has closed"; the connection says how much). Each is reported
//! again once polled.
//!
//! Why the ring (of [`CAPACITY`]) cannot fill, however long the owner waits to poll:
//! besides at most one queued `Readable` and one queued `PeerClosed`, a connection raises
//! in its whole life
//! - at most 7 `StateChanged`: every transition goes forward along CLOSED (new) or
//!   LISTEN, SYN_SENT, SYN_RCVD, ESTABLISHED, {FIN_WAIT_1, CLOSE_WAIT}, {FIN_WAIT_2,
//!   CLOSING, LAST_ACK}, TIME_WAIT, CLOSED, and nothing leaves CLOSED (`Connection`
//!   checks this in debug builds);
//! - one `Connected`, raised with the one entry into ESTABLISHED;
//! - at most 2 `Closed`: the connection closes once, and a RST it still owes (after
//!   `abort`, or on giving up) reports `Closed` again if the peer's RST closed it first.
//!
//! That is 12 at most. A push into a full ring would mean that count is broken: debug
//! builds panic there; release builds keep what is queued.

use super::conn::Event;

/// Events held at most: the 12 a connection can raise between two polls (see above),
/// with room to spare.
pub const CAPACITY: usize = 16;
const _: () = assert!(CAPACITY <= u8::MAX as usize, "indices are bytes");

/// A fixed ring of events, oldest first, with `Readable` and `PeerClosed` coalesced.
/// It sits in every connection, so every field is made of bytes: no padding.
#[derive(Clone, Copy, Debug)]
pub struct EventQueue {
    ring: [Option<Event>; CAPACITY],
    /// Where the oldest event is (below `CAPACITY`), and how many there are (at most it).
    head: u8,
    len: u8,
    /// A `Readable` is queued and not yet polled.
    readable: bool,
    /// A `PeerClosed` is queued and not yet polled.
    peer_closed: bool,
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
            readable: false,
            peer_closed: false,
        }
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `e`, unless it is a `Readable` or `PeerClosed` and one is queued already.
    pub fn push(&mut self, e: Event) {
        let pending = match e {
            Event::Readable => self.readable,
            Event::PeerClosed => self.peer_closed,
            _ => false,
        };
        if pending {
            return;
        }
        debug_assert!(
            self.len() < CAPACITY,
            "a connection raised more events than its life allows: {self:?}, then {e:?}"
        );
        if self.len() == CAPACITY {
            return;
        }
        match e {
            Event::Readable => self.readable = true,
            Event::PeerClosed => self.peer_closed = true,
            _ => {}
        }
        self.ring[(usize::from(self.head) + self.len()) % CAPACITY] = Some(e);
        self.len += 1;
    }

    /// The oldest event, taken out.
    pub fn pop(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        let e = self.ring[usize::from(self.head)].take();
        self.head = (self.head + 1) % CAPACITY as u8;
        self.len -= 1;
        match e {
            Some(Event::Readable) => self.readable = false,
            Some(Event::PeerClosed) => self.peer_closed = false,
            _ => {}
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tcp::{CloseReason, State};

    fn drain(q: &mut EventQueue) -> Vec<Event> {
        std::iter::from_fn(|| q.pop()).collect()
    }

    fn change(from: State, to: State) -> Event {
        Event::StateChanged { from, to }
    }

    #[test]
    fn events_come_out_in_the_order_they_were_raised() {
        let mut q = EventQueue::new();
        assert_eq!(q.pop(), None);
        q.push(change(State::SynReceived, State::Established));
        q.push(Event::Connected);
        q.push(Event::Closed(CloseReason::Rst));
        assert_eq!(q.len(), 3);
        assert_eq!(
            drain(&mut q),
            vec![
                change(State::SynReceived, State::Established),
                Event::Connected,
                Event::Closed(CloseReason::Rst)
            ]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn readable_is_queued_once_until_polled() {
        let mut q = EventQueue::new();
        q.push(Event::Readable);
        q.push(Event::Readable);
        q.push(Event::Connected);
        q.push(Event::Readable);
        assert_eq!(drain(&mut q), vec![Event::Readable, Event::Connected]);
        q.push(Event::Readable);
        assert_eq!(
            drain(&mut q),
            vec![Event::Readable],
            "polled: reported again"
        );
    }

    #[test]
    fn peer_closed_is_queued_once_until_polled() {
        let mut q = EventQueue::new();
        q.push(Event::PeerClosed);
        q.push(Event::Readable);
        q.push(Event::PeerClosed);
        assert_eq!(drain(&mut q), vec![Event::PeerClosed, Event::Readable]);
        q.push(Event::PeerClosed);
        assert_eq!(q.pop(), Some(Event::PeerClosed));
    }

    // The bug this queue fixes: a burst of Readable pushed the state changes out.
    #[test]
    fn no_burst_of_readable_pushes_out_a_state_change() {
        let mut q = EventQueue::new();
        q.push(change(State::Listen, State::SynReceived));
        q.push(change(State::SynReceived, State::Established));
        q.push(Event::Connected);
        for _ in 0..1000 {
            q.push(Event::Readable);
        }
        q.push(change(State::Established, State::Closed));
        q.push(Event::Closed(CloseReason::Rst));
        assert_eq!(
            drain(&mut q),
            vec![
                change(State::Listen, State::SynReceived),
                change(State::SynReceived, State::Established),
                Event::Connected,
                Event::Readable,
                change(State::Established, State::Closed),
                Event::Closed(CloseReason::Rst),
            ]
        );
    }

    // The most a connection raises between two polls (module doc) fits, across the wrap.
    #[test]
    fn the_most_a_life_raises_fits_wherever_the_ring_starts() {
        use State::*;
        let life = [
            change(Closed, SynSent),
            change(SynSent, SynReceived),
            change(SynReceived, Established),
            Event::Connected,
            Event::Readable,
            change(Established, CloseWait),
            Event::PeerClosed,
            change(CloseWait, LastAck),
            Event::Readable,
            change(LastAck, Closed),
            Event::Closed(CloseReason::Rst),
            Event::Closed(CloseReason::Rst),
        ];
        for start in 0..CAPACITY {
            let mut q = EventQueue::new();
            for _ in 0..start {
                q.push(Event::Connected);
                q.pop();
            }
            for e in life {
                q.push(e);
            }
            let mut want = life.to_vec();
            want.remove(8); // the second Readable joins the first
            assert_eq!(drain(&mut q), want);
        }
    }
}
