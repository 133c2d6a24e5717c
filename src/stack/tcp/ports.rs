//! Ephemeral ports for active opens (RFC 6335: 49152–65535). A worker owns a share of
//! them ([`PortSet`]), so that the worker a reply belongs to is known from its port
//! without a lookup (see `runtime/steer.rs`), and [`EphemeralPorts`] records which
//! connection holds each port of the share.
//!
//! Invariants: a port is held by at most one connection of this endpoint at a time; the
//! holder array is allocated once, so choosing a port never allocates.

pub use crate::config::{PortSet, EPHEMERAL_FIRST};

const FREE: u32 = u32::MAX;

/// Which connection holds each port of a [`PortSet`], and where the next search starts.
pub struct EphemeralPorts {
    set: PortSet,
    next: usize,
    holder: Box<[u32]>,
}

impl EphemeralPorts {
    pub fn new(set: PortSet) -> Self {
        EphemeralPorts {
            set,
            next: 0,
            holder: vec![FREE; set.len()].into_boxed_slice(),
        }
    }

    pub fn set(&self) -> PortSet {
        self.set
    }

    /// How many ports the share holds.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The next port to try for a new connection. Successive calls go round the share,
    /// starting after the last port handed out, so that a freed port rests as long as
    /// possible before it is reused.
    /// An empty share has none: the caller checks `is_empty` first.
    pub fn next_candidate(&mut self) -> Option<u16> {
        if self.set.is_empty() {
            return None;
        }
        let port = self.set.port(self.next);
        self.next = (self.next + 1) % self.set.len();
        Some(port)
    }

    /// The slot of the connection that holds `port`, if any.
    pub fn holder(&self, port: u16) -> Option<u32> {
        let h = *self.holder.get(self.set.index(port)?)?;
        (h != FREE).then_some(h)
    }

    /// Records that connection `slot` holds `port`.
    pub fn hold(&mut self, port: u16, slot: u32) {
        if let Some(h) = self.set.index(port).and_then(|i| self.holder.get_mut(i)) {
            *h = slot;
        }
    }

    /// Frees `port` if connection `slot` holds it.
    pub fn release(&mut self, port: u16, slot: u32) {
        if let Some(h) = self.set.index(port).and_then(|i| self.holder.get_mut(i)) {
            if *h == slot {
                *h = FREE;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_rotate_through_the_share_once_each() {
        let mut p = EphemeralPorts::new(PortSet::of_worker(1, 2));
        let first: Vec<u16> = (0..3).map(|_| p.next_candidate().unwrap()).collect();
        assert_eq!(first, vec![49153, 49155, 49157]);
        assert_eq!(p.len(), 8192);
        let all: Vec<u16> = (0..p.len()).map(|_| p.next_candidate().unwrap()).collect();
        assert_eq!(
            all[0], 49159,
            "the search goes on after the last port handed out"
        );
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 8192, "each port once");
    }

    #[test]
    fn a_port_is_released_only_by_its_holder() {
        let mut p = EphemeralPorts::new(PortSet::ALL);
        p.hold(50000, 7);
        assert_eq!(p.holder(50000), Some(7));
        p.release(50000, 8);
        assert_eq!(p.holder(50000), Some(7));
        p.release(50000, 7);
        assert_eq!(p.holder(50000), None);
        assert_eq!(p.holder(80), None, "not an ephemeral port");
    }
}
