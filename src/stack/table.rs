//! The per-worker connection table: flow key → slot. A worker owns its table outright, so
//! a lookup takes no lock and writes no shared cache line.
//!
//! Invariants:
//! - Capacity is fixed at creation: the index and the slot vector are allocated once
//!   (reserved: pages are touched only as slots are used); a full table refuses the insert
//!   (the caller counts it).
//! - An entry lives in a box of its own, allocated by the insert and freed by the remove,
//!   so a slot costs a pointer while empty: a table that held a million connections
//!   gives their memory back when they end (a slot vector of entries would keep its
//!   high-water mark resident for ever).
//! - The hash is keyed with a per-table random seed, so a peer cannot aim many flows at
//!   one bucket (hash flooding).
//! - A slot index stays valid until its entry is removed; indices are reused after that.

use core::hash::{BuildHasher, Hasher};
use core::net::IpAddr;
#[cfg(test)]
use core::net::Ipv4Addr;
use std::collections::HashMap;

/// Identifies a flow: the local address and port (a stack may own several addresses,
/// of either family) and the remote end. Both addresses are of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    pub local_ip: IpAddr,
    pub local_port: u16,
    pub remote_ip: IpAddr,
    pub remote_port: u16,
}

impl core::hash::Hash for FlowKey {
    /// IPv4 as two words (the remote end and ports, then the local address), so the map
    /// does two multiplies per lookup; IPv6 as five.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let ports = (u64::from(self.remote_port) << 16) | u64::from(self.local_port);
        match (self.local_ip, self.remote_ip) {
            (IpAddr::V4(l), IpAddr::V4(r)) => {
                state.write_u64((u64::from(u32::from(r)) << 32) | ports);
                state.write_u64(u64::from(u32::from(l)));
            }
            (l, r) => {
                let (l, r) = (bits(l), bits(r));
                state.write_u64(r as u64 ^ (ports << 32));
                state.write_u64((r >> 64) as u64);
                state.write_u64(l as u64);
                state.write_u64((l >> 64) as u64);
                state.write_u64(ports | 1 << 63);
            }
        }
    }
}

fn bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// A keyed multiply-fold hash over the packed 64-bit flow key.
#[derive(Clone, Copy, Debug)]
pub struct FlowHashBuilder {
    k0: u64,
    k1: u64,
}

impl FlowHashBuilder {
    pub fn with_seed(seed: u64) -> Self {
        FlowHashBuilder {
            k0: seed ^ 0x243f_6a88_85a3_08d3,
            k1: seed.rotate_left(29) ^ 0x1319_8a2e_0370_7344,
        }
    }
}

pub struct FlowHasher {
    k0: u64,
    k1: u64,
    state: u64,
}

impl Hasher for FlowHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, x: u64) {
        let m = u128::from(x ^ self.state ^ self.k0) * u128::from(self.k1 | 1);
        self.state = (m as u64) ^ ((m >> 64) as u64);
    }
    fn finish(&self) -> u64 {
        self.state
    }
}

impl BuildHasher for FlowHashBuilder {
    type Hasher = FlowHasher;
    fn build_hasher(&self) -> FlowHasher {
        FlowHasher {
            k0: self.k0,
            k1: self.k1,
            state: 0,
        }
    }
}

/// The insert was refused: the table holds `capacity` entries already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableFull;

pub struct ConnTable<V> {
    index: HashMap<FlowKey, u32, FlowHashBuilder>,
    slots: Vec<Option<Box<(FlowKey, V)>>>,
    free: Vec<u32>,
    capacity: usize,
}

impl<V> ConnTable<V> {
    /// A table for up to `capacity` flows, hashed with `seed` (take it from a random source).
    pub fn new(capacity: usize, seed: u64) -> Self {
        let capacity = capacity.min(u32::MAX as usize);
        ConnTable {
            index: HashMap::with_capacity_and_hasher(capacity, FlowHashBuilder::with_seed(seed)),
            slots: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The slot of `key`, if it is in the table.
    #[inline]
    pub fn find(&self, key: &FlowKey) -> Option<u32> {
        self.index.get(key).copied()
    }

    /// Adds `key` with `value` and returns its slot; refuses when full or already present
    /// (then returns the existing slot as an error-free lookup would).
    pub fn insert(&mut self, key: FlowKey, value: V) -> Result<u32, TableFull> {
        if let Some(i) = self.find(&key) {
            match &mut self.slots[i as usize] {
                Some(entry) => **entry = (key, value),
                empty => *empty = Some(Box::new((key, value))),
            }
            return Ok(i);
        }
        if self.index.len() >= self.capacity {
            return Err(TableFull);
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(Box::new((key, value)));
                i
            }
            None => {
                self.slots.push(Some(Box::new((key, value))));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, i);
        Ok(i)
    }

    #[inline]
    pub fn get(&self, slot: u32) -> Option<&V> {
        self.slots.get(slot as usize)?.as_deref().map(|(_, v)| v)
    }

    #[inline]
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut V> {
        self.slots
            .get_mut(slot as usize)?
            .as_deref_mut()
            .map(|(_, v)| v)
    }

    pub fn key(&self, slot: u32) -> Option<FlowKey> {
        self.slots.get(slot as usize)?.as_deref().map(|(k, _)| *k)
    }

    /// Removes the entry in `slot` and returns it.
    pub fn remove(&mut self, slot: u32) -> Option<(FlowKey, V)> {
        let entry = *self.slots.get_mut(slot as usize)?.take()?;
        self.index.remove(&entry.0);
        self.free.push(slot);
        Some(entry)
    }

    /// The first occupied slot at or after `from`.
    pub fn next_slot(&self, from: u32) -> Option<u32> {
        self.slots
            .get(from as usize..)?
            .iter()
            .position(Option::is_some)
            .map(|i| from + i as u32)
    }

    /// Every occupied slot, in slot order.
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| i as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> FlowKey {
        FlowKey {
            local_ip: Ipv4Addr::new(198, 18, 0, 2).into(),
            local_port: 7,
            remote_ip: Ipv4Addr::from(0xc612_0000 | (n >> 16)).into(),
            remote_port: n as u16,
        }
    }

    #[test]
    fn insert_find_remove_and_reuse() {
        let mut t = ConnTable::new(4, 1);
        let a = t.insert(key(1), "a").unwrap();
        let b = t.insert(key(2), "b").unwrap();
        assert_eq!(t.find(&key(1)), Some(a));
        assert_eq!(t.get(b), Some(&"b"));
        assert_eq!(t.remove(a), Some((key(1), "a")));
        assert_eq!(t.find(&key(1)), None);
        assert_eq!(t.get(a), None);
        let c = t.insert(key(3), "c").unwrap();
        assert_eq!(c, a, "the freed slot is reused");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_full_table_refuses() {
        let mut t = ConnTable::new(2, 1);
        t.insert(key(1), ()).unwrap();
        t.insert(key(2), ()).unwrap();
        assert_eq!(t.insert(key(3), ()), Err(TableFull));
        // Replacing an existing key is not growth.
        assert!(t.insert(key(2), ()).is_ok());
    }

    #[test]
    fn holds_a_million_flows() {
        let n = 1_000_000;
        let mut t = ConnTable::new(n, 0xfeed);
        for i in 0..n as u32 {
            t.insert(key(i), i).unwrap();
        }
        assert_eq!(t.len(), n);
        for i in (0..n as u32).step_by(997) {
            let s = t.find(&key(i)).unwrap();
            assert_eq!(t.get(s), Some(&i));
        }
        assert_eq!(t.insert(key(n as u32), 0), Err(TableFull));
    }

    #[test]
    fn the_local_address_is_part_of_the_key() {
        let mut t = ConnTable::new(4, 1);
        let a = t.insert(key(1), "a").unwrap();
        let other = FlowKey {
            local_ip: Ipv4Addr::new(198, 18, 0, 3).into(),
            ..key(1)
        };
        assert_eq!(t.find(&other), None);
        let b = t.insert(other, "b").unwrap();
        assert_ne!(a, b);
        assert_eq!(t.find(&key(1)), Some(a));
        assert_eq!(t.find(&other), Some(b));
    }

    #[test]
    fn ipv6_flows_are_keys_of_their_own() {
        let v6 = |last: u16| FlowKey {
            local_ip: core::net::Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2).into(),
            local_port: 7,
            remote_ip: core::net::Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, last).into(),
            remote_port: 40000,
        };
        let mut t = ConnTable::new(8, 1);
        let a = t.insert(v6(1), "a").unwrap();
        let b = t.insert(v6(3), "b").unwrap();
        let c = t.insert(key(1), "c").unwrap();
        assert_eq!(
            (t.find(&v6(1)), t.find(&v6(3)), t.find(&key(1))),
            (Some(a), Some(b), Some(c))
        );
        assert_eq!(t.find(&v6(4)), None);
        assert_eq!(t.remove(a), Some((v6(1), "a")));
        assert_eq!(t.find(&v6(1)), None);
    }

    #[test]
    fn the_seed_changes_the_hash() {
        let h = |seed| FlowHashBuilder::with_seed(seed).hash_one(key(5));
        assert_ne!(h(1), h(2));
        assert_eq!(h(1), h(1));
    }
}
