//! Ephemeral ports for active opens (RFC 6335: 49152–65535). A worker owns a share of
//! them ([`PortSet`]), so that the worker a reply belongs to is known from its port
//! without a lookup (see `runtime/steer.rs`), and [`EphemeralPorts`] records which
//! connection holds each port of the share.
//!
//! Invariants: a port is held by at most one connection of this endpoint at a time; the
//! holder array is allocated once, so choosing a port never allocates.

/// First ephemeral port (RFC 6335).
pub const EPHEMERAL_FIRST: u16 = 49152;

/// The ephemeral ports one load worker owns: `first, first + stride, …` up to 65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSet {
    first: u16,
    stride: u16,
}

impl PortSet {
    /// All of 49152–65535 (one worker).
    pub const ALL: PortSet = PortSet {
        first: EPHEMERAL_FIRST,
        stride: 1,
    };

    /// The ports of worker `me` of `workers` when ports are shared out by `(port - 49152) % workers`.
    pub fn of_worker(me: usize, workers: usize) -> PortSet {
        assert!(me < workers && workers <= 64, "worker {me} of {workers}");
        PortSet {
            first: EPHEMERAL_FIRST + me as u16,
            stride: workers as u16,
        }
    }

    /// How many ports the set holds.
    pub fn len(&self) -> usize {
        usize::from(u16::MAX - self.first) / usize::from(self.stride) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The `i`th port. `i` must be below `len()`.
    pub fn port(&self, i: usize) -> u16 {
        debug_assert!(i < self.len());
        self.first + (i as u16) * self.stride
    }

    /// The index of `port`, if the set holds it.
    pub fn index(&self, port: u16) -> Option<usize> {
        let off = port.checked_sub(self.first)?;
        (off % self.stride == 0).then(|| usize::from(off / self.stride))
    }
}

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
        false
    }

    /// The next port to try for a new connection. Successive calls go round the share,
    /// starting after the last port handed out, so that a freed port rests as long as
    /// possible before it is reused.
    pub fn next_candidate(&mut self) -> u16 {
        let port = self.set.port(self.next);
        self.next = (self.next + 1) % self.set.len();
        port
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
        let first: Vec<u16> = (0..3).map(|_| p.next_candidate()).collect();
        assert_eq!(first, vec![49153, 49155, 49157]);
        assert_eq!(p.len(), 8192);
        let all: Vec<u16> = (0..p.len()).map(|_| p.next_candidate()).collect();
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
