//! The ARP cache (RFC 826) with expiry, and the resolution of peers we must send to.
//! Sans-IO: the stack feeds it what it learns and asks it whom to query; it never sends.
//!
//! Invariants: at most `capacity` entries (a full cache evicts the entry that expires
//! first); an entry older than its lifetime is never returned; a peer being resolved is
//! asked at most `max_tries` times, `retry` apart, then reported as failed.

use crate::time::Instant;
use crate::wire::EthernetAddress;
use core::net::Ipv4Addr;
use core::time::Duration;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug)]
pub struct ArpConfig {
    /// How long a learned entry stays valid.
    pub lifetime: Duration,
    /// Time between requests while resolving.
    pub retry: Duration,
    /// Requests before a resolution fails.
    pub max_tries: u32,
    pub capacity: usize,
}

impl Default for ArpConfig {
    fn default() -> Self {
        ArpConfig {
            lifetime: Duration::from_secs(60),
            retry: Duration::from_millis(500),
            max_tries: 6,
            capacity: 1024,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    mac: EthernetAddress,
    expires: Instant,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    next_try: Instant,
    tries: u32,
}

/// What resolving a peer looks like right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    Known(EthernetAddress),
    /// Requests are going out.
    Pending,
    /// Every try went unanswered.
    Failed,
}

#[derive(Debug)]
pub struct ArpCache {
    cfg: ArpConfig,
    entries: HashMap<Ipv4Addr, Entry>,
    pending: HashMap<Ipv4Addr, Pending>,
    failed: Vec<Ipv4Addr>,
}

impl ArpCache {
    pub fn new(cfg: ArpConfig) -> Self {
        ArpCache {
            entries: HashMap::with_capacity(cfg.capacity),
            pending: HashMap::new(),
            failed: Vec::new(),
            cfg,
        }
    }

    /// The MAC of `ip`, if known and fresh.
    pub fn lookup(&self, ip: Ipv4Addr, now: Instant) -> Option<EthernetAddress> {
        self.entries
            .get(&ip)
            .filter(|e| e.expires > now)
            .map(|e| e.mac)
    }

    /// Records that `ip` is at `mac` (from an ARP packet that names it).
    pub fn insert(&mut self, ip: Ipv4Addr, mac: EthernetAddress, now: Instant) {
        if self
            .entries
            .get(&ip)
            .is_some_and(|e| e.expires == Instant::NEVER)
        {
            return;
        }
        if !self.entries.contains_key(&ip) && self.entries.len() >= self.cfg.capacity {
            self.evict(now);
        }
        self.entries.insert(
            ip,
            Entry {
                mac,
                expires: now + self.cfg.lifetime,
            },
        );
        self.pending.remove(&ip);
        self.failed.retain(|&f| f != ip);
    }

    /// Records, for good, that `ip` is at `mac`: an entry that never expires and that
    /// ARP packets do not change (a neighbour the kernel resolved for us).
    pub fn insert_static(&mut self, ip: Ipv4Addr, mac: EthernetAddress) {
        self.entries.insert(
            ip,
            Entry {
                mac,
                expires: Instant::NEVER,
            },
        );
        self.pending.remove(&ip);
        self.failed.retain(|&f| f != ip);
    }

    /// RFC 826: a packet from `ip` updates an entry that exists, and creates none.
    pub fn refresh(&mut self, ip: Ipv4Addr, mac: EthernetAddress, now: Instant) -> bool {
        match self.entries.get_mut(&ip) {
            Some(e) if e.expires == Instant::NEVER => true,
            Some(e) => {
                e.mac = mac;
                e.expires = now + self.cfg.lifetime;
                true
            }
            None => false,
        }
    }

    fn evict(&mut self, now: Instant) {
        self.entries.retain(|_, e| e.expires > now);
        if self.entries.len() >= self.cfg.capacity {
            if let Some(ip) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(ip, _)| *ip)
            {
                self.entries.remove(&ip);
            }
        }
    }

    /// Where resolving `ip` stands; starts resolving it if nothing is known.
    pub fn resolve(&mut self, ip: Ipv4Addr, now: Instant) -> Resolution {
        if let Some(mac) = self.lookup(ip, now) {
            return Resolution::Known(mac);
        }
        if self.failed.contains(&ip) {
            return Resolution::Failed;
        }
        self.pending.entry(ip).or_insert(Pending {
            next_try: now,
            tries: 0,
        });
        Resolution::Pending
    }

    /// Forgets a failed resolution so that it can be tried again.
    pub fn clear_failure(&mut self, ip: Ipv4Addr) {
        self.failed.retain(|&f| f != ip);
    }

    /// The next peer to send an ARP request for now, if any; counts it as a try.
    pub fn poll_request(&mut self, now: Instant) -> Option<Ipv4Addr> {
        let (ip, p) = self.pending.iter_mut().find(|(_, p)| p.next_try <= now)?;
        let ip = *ip;
        if p.tries >= self.cfg.max_tries {
            self.pending.remove(&ip);
            self.failed.push(ip);
            return None;
        }
        p.tries += 1;
        p.next_try = now + self.cfg.retry;
        Some(ip)
    }

    /// When `poll_request` next has something to do.
    pub fn poll_at(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.next_try).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 9]);

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn entries_expire_after_their_lifetime() {
        let mut c = ArpCache::new(ArpConfig::default());
        c.insert(IP, MAC, t(0));
        assert_eq!(c.lookup(IP, t(59_999)), Some(MAC));
        assert_eq!(c.lookup(IP, t(60_000)), None);
    }

    #[test]
    fn a_static_entry_never_expires_and_arp_does_not_change_it() {
        let mut c = ArpCache::new(ArpConfig::default());
        c.insert_static(IP, MAC);
        let far = t(0) + Duration::from_secs(86_400 * 365);
        assert_eq!(c.lookup(IP, far), Some(MAC));
        let other = EthernetAddress([2, 0, 0, 0, 0, 7]);
        assert!(c.refresh(IP, other, t(1)));
        c.insert(IP, other, t(1));
        assert_eq!(c.lookup(IP, far), Some(MAC), "the kernel's word stands");
        assert_eq!(c.resolve(IP, far), Resolution::Known(MAC));
    }

    #[test]
    fn refresh_updates_but_never_creates() {
        let mut c = ArpCache::new(ArpConfig::default());
        assert!(!c.refresh(IP, MAC, t(0)));
        assert_eq!(c.lookup(IP, t(0)), None);
        c.insert(IP, EthernetAddress([2, 0, 0, 0, 0, 1]), t(0));
        assert!(c.refresh(IP, MAC, t(10)));
        assert_eq!(c.lookup(IP, t(10)), Some(MAC));
    }

    #[test]
    fn resolution_retries_then_fails() {
        let cfg = ArpConfig::default();
        let mut c = ArpCache::new(cfg);
        assert_eq!(c.resolve(IP, t(0)), Resolution::Pending);
        let mut sent = 0;
        let mut now = t(0);
        for _ in 0..20 {
            while c.poll_request(now).is_some() {
                sent += 1;
            }
            now += cfg.retry;
        }
        assert_eq!(sent, cfg.max_tries);
        assert_eq!(c.resolve(IP, now), Resolution::Failed);
        // An answer, even late, clears the failure.
        c.insert(IP, MAC, now);
        assert_eq!(c.resolve(IP, now), Resolution::Known(MAC));
    }

    #[test]
    fn a_full_cache_evicts_the_oldest() {
        let mut c = ArpCache::new(ArpConfig {
            capacity: 2,
            ..ArpConfig::default()
        });
        let ip = |n| Ipv4Addr::new(198, 18, 0, n);
        c.insert(ip(1), MAC, t(0));
        c.insert(ip(2), MAC, t(1));
        c.insert(ip(3), MAC, t(2));
        assert_eq!(c.lookup(ip(1), t(3)), None);
        assert!(c.lookup(ip(2), t(3)).is_some() && c.lookup(ip(3), t(3)).is_some());
    }
}
