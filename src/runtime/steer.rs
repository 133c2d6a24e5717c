//! Flow steering between workers. Each worker owns the connections and flows of its
//! share of the port space, and its tables are touched by it alone. A NIC (or veth) picks
//! the receive queue by its own hash, which need not agree with ours: the kernel peer
//! chooses its transmit queue per socket, so the replies to a flow one worker opened can
//! land on another worker's queue. Such a frame is copied into a pooled buffer and handed
//! to its owner through a lock-free queue ([`crossbeam::queue::ArrayQueue`]), and counted.
//!
//! The owner of a frame is decided by [`SteerRule`]: `serve` owns a TCP connection on the
//! worker whose queue its SYN arrived on, and records it in an [`OwnerMap`] that every
//! worker reads (or, the older rule, by a hash of the peer's address and port); `load`
//! owns flows by its own (ephemeral) port, and each load worker takes only the ports it
//! owns.
//!
//! Arrival ownership, frame by frame (IPv4 and IPv6 TCP): the 4-tuple's entry in the map
//! names its owner; with none, a SYN (without ACK) stays on the worker it arrived on —
//! unless the map's bucket for it is full, when it goes to the peer-hash owner — and
//! anything else goes to the peer-hash owner (IPv4) or stays (IPv6, as before). The stack
//! claims the entry when it makes the connection ([`Ownership::claim`]: refused when
//! another worker holds the 4-tuple, so a SYN retransmitted onto another queue reaches
//! the first connection and makes no second one; with the bucket full, granted only to
//! the peer-hash owner, which then gets every frame of it by the fallback) and releases
//! it when the connection leaves the table. A SYN cookie's ACK has no entry, so it goes
//! to the peer-hash owner, which checks it with the run's one cookie secret (the stacks
//! tell each other when cookies went out). The map is allocated once, sized from the
//! connections every worker may hold; nothing is allocated per frame, and a lookup is
//! one hash and one cache line of atomic loads. ARP replies go to every worker, so each one's
//! cache learns the peer; everything stateless stays where it lands, and so do IPv4
//! fragments, which are reassembled by the worker they reach.
//!
//! Nothing is allocated per frame: the buffers are made when the mesh is built and cycle
//! between the pool and the inboxes.

use crate::driver::{Device, Doorbell, DriverError};
use crate::metrics::{DropReason, StackCounters};
use crate::stack::table::FlowKey;
use crate::stack::Ownership;
use crate::time::Instant;
use crate::wire::icmp::msg_type;
use crate::wire::{ArpOperation, EtherType, IpProtocol};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use crossbeam::queue::ArrayQueue;
use std::sync::atomic::{
    fence, AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::SeqCst,
};
use std::sync::Arc;
use std::time::Duration;

pub use crate::stack::tcp::ports::{PortSet, EPHEMERAL_FIRST};

/// Frames one worker can have waiting from the others.
const INBOX: usize = 1024;
/// Bytes a pooled buffer holds before it has to grow (a 1500-byte MTU frame fits).
const BUFFER: usize = 2048;

/// How a worker decides which worker owns a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SteerRule {
    /// TCP by the peer's address and port (a server: the peers pick the ports).
    ByPeer,
    /// TCP by the queue a connection's SYN arrived on, recorded in the mesh's
    /// [`OwnerMap`]; what the map does not hold goes as [`SteerRule::ByPeer`] (a server
    /// whose peers keep a connection on one queue: no hand-offs). Without a map, the same
    /// as `ByPeer`.
    ByArrival,
    /// TCP and UDP by our own port, `(port - 49152) % workers` (a client that picks its
    /// ports so: see [`PortSet::of_worker`]). ICMP errors go by the port they quote.
    ByLocalPort,
}

/// Where a frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// This worker handles it.
    Here,
    /// Worker `k` owns it.
    To(usize),
    /// Every worker should see it (ARP replies).
    Everyone,
}

/// Which worker owns `frame` among `workers`, as seen by worker `me`, by `rule` and, for
/// [`SteerRule::ByArrival`], the run's `owners`. Frames too short to tell stay `Here`,
/// where the stack counts them as malformed.
pub fn route(
    rule: SteerRule,
    owners: Option<&OwnerMap>,
    frame: &[u8],
    me: usize,
    workers: usize,
) -> Route {
    if workers <= 1 || frame.len() < 14 {
        return Route::Here;
    }
    let owners = match (rule, owners) {
        (SteerRule::ByArrival, Some(m)) => Some(m),
        _ => None,
    };
    let rule = match rule {
        SteerRule::ByArrival if owners.is_none() => SteerRule::ByPeer,
        r => r,
    };
    // Raw offsets rather than the checked wire views: a frame too short or odd to tell
    // simply stays, and the stack that handles it counts why.
    let owner = match EtherType::from(u16::from_be_bytes([frame[12], frame[13]])) {
        EtherType::Arp => {
            // The opcode is at 14 + 6.
            let op = frame.get(20..22).map(|b| u16::from_be_bytes([b[0], b[1]]));
            return match op.map(ArpOperation::from) {
                Some(ArpOperation::Reply) => Route::Everyone,
                _ => Route::Here,
            };
        }
        EtherType::Ipv4 => ipv4_owner(rule, owners, &frame[14..], me, workers),
        EtherType::Ipv6 => owners.and_then(|m| ipv6_owner(m, &frame[14..], me)),
        _ => None,
    };
    match owner {
        Some(k) if k != me => Route::To(k),
        _ => Route::Here,
    }
}

fn ipv4_owner(
    rule: SteerRule,
    owners: Option<&OwnerMap>,
    ip: &[u8],
    me: usize,
    workers: usize,
) -> Option<usize> {
    // A fragment stays where it landed: only the first carries the ports, so no rule by
    // port can send all the pieces of one datagram to one worker, and a NIC hashes a
    // fragment by its addresses alone, which puts every piece on one queue.
    let flags_offset = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
    if flags_offset & 0x3fff != 0 {
        return None;
    }
    let ihl = usize::from(*ip.first()? & 0x0f) * 4;
    let (proto, src) = (*ip.get(9)?, ip.get(12..16)?);
    let l4 = ip.get(ihl..)?;
    let port = |at: usize| l4.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    match (rule, IpProtocol::from(proto)) {
        (SteerRule::ByPeer, IpProtocol::Tcp) => Some(peer_owner(
            [src[0], src[1], src[2], src[3]],
            port(0)?,
            workers,
        )),
        (SteerRule::ByArrival, IpProtocol::Tcp) => {
            let map = owners?;
            let dst = ip.get(16..20)?;
            let flags = *l4.get(13)?;
            let key = FlowKey {
                local_ip: IpAddr::V4(Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3])),
                local_port: port(2)?,
                remote_ip: IpAddr::V4(Ipv4Addr::new(src[0], src[1], src[2], src[3])),
                remote_port: port(0)?,
            };
            let (owner, full) = map.lookup(&key);
            if let Some(k) = owner {
                return Some(k);
            }
            if is_syn(flags) && !full {
                return Some(me);
            }
            Some(peer_owner(
                [src[0], src[1], src[2], src[3]],
                port(0)?,
                workers,
            ))
        }
        (SteerRule::ByLocalPort, IpProtocol::Tcp | IpProtocol::Udp) => {
            local_port_owner(port(2)?, workers)
        }
        (SteerRule::ByLocalPort, IpProtocol::Icmp) => {
            // Destination unreachable quoting one of our datagrams: 8 bytes of ICMP, then
            // the original IP header, then its source port (ours).
            if *l4.first()? != msg_type::DST_UNREACHABLE {
                return None;
            }
            let quoted = l4.get(8..)?;
            let qihl = usize::from(*quoted.first()? & 0x0f) * 4;
            let b = quoted.get(qihl..qihl + 2)?;
            local_port_owner(u16::from_be_bytes([b[0], b[1]]), workers)
        }
        _ => None,
    }
}

/// IPv6 TCP by arrival: the map's owner, else where it landed (no rule by peer covers
/// IPv6). Only a TCP header right after the fixed header is looked at; a frame with
/// extension headers stays.
fn ipv6_owner(map: &OwnerMap, ip: &[u8], me: usize) -> Option<usize> {
    if IpProtocol::from(*ip.get(6)?) != IpProtocol::Tcp {
        return None;
    }
    let addr = |at: usize| -> Option<IpAddr> {
        let b: [u8; 16] = ip.get(at..at + 16)?.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(b)))
    };
    let l4 = ip.get(40..)?;
    let port = |at: usize| l4.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let key = FlowKey {
        local_ip: addr(24)?,
        local_port: port(2)?,
        remote_ip: addr(8)?,
        remote_port: port(0)?,
    };
    map.lookup(&key).0.filter(|&k| k != me)
}

/// A SYN that opens a connection: SYN without ACK, RST or FIN (as the stack tells one).
fn is_syn(flags: u8) -> bool {
    const FIN: u8 = 0x01;
    const SYN: u8 = 0x02;
    const RST: u8 = 0x04;
    const ACK: u8 = 0x10;
    flags & (SYN | ACK | RST | FIN) == SYN
}

/// The owner of a TCP connection by the peer's IPv4 address and port.
fn peer_owner(peer: [u8; 4], port: u16, workers: usize) -> usize {
    let peer = u32::from_be_bytes(peer);
    let h = peer.wrapping_mul(0x9e37_79b1) ^ u32::from(port).wrapping_mul(0x85eb_ca6b);
    (h >> 16) as usize % workers
}

/// The owner `key` falls back to when the owner map cannot hold it: the peer-hash owner
/// for IPv4, none for IPv6 (its frames stay where they land).
fn fallback_owner(key: &FlowKey, workers: usize) -> Option<usize> {
    match key.remote_ip {
        IpAddr::V4(ip) => Some(peer_owner(ip.octets(), key.remote_port, workers)),
        IpAddr::V6(_) => None,
    }
}

/// Entries of one bucket of the owner map: 8 × 8 bytes, one cache line.
const WAYS: usize = 8;
/// Buckets hold at least this many times the connections the map is sized for, so a
/// bucket fills only far out in the tail.
const SLACK: usize = 2;
/// Workers an entry can name (8 bits).
pub const MAX_OWNERS: usize = 255;

#[repr(align(64))]
struct Bucket([AtomicU64; WAYS]);

/// Which worker owns each TCP connection a peer opened: fixed-size, set-associative
/// buckets of `AtomicU64` entries, each a 56-bit keyed hash of the 4-tuple (never 0)
/// above an 8-bit owner; 0 is a free way. Shared by every worker of a run and lock-free:
/// a worker adds and removes only its own entries, and adds one by a compare-and-swap
/// into a free way. Allocated once; nothing is allocated afterwards.
///
/// Two workers claiming one 4-tuple at once (one SYN on two queues) each place an entry
/// and then look for another one of the same tag; whoever sees the other's gives way.
/// Of two placements the later one's look sees the earlier (unless it gave way already),
/// so at most one worker keeps the 4-tuple; both may give way, and then the peer's
/// retransmitted SYN tries again. The hash is keyed by a secret of the run but not
/// cryptographic: it spreads honest 4-tuples, and a peer that cannot see the key cannot
/// aim at one bucket. Two live 4-tuples of one bucket with one tag (odds near 2^-56)
/// would share an entry.
pub struct OwnerMap {
    buckets: Box<[Bucket]>,
    seed: u64,
    workers: usize,
    /// When the last SYN cookie went out, in ns of the run's clock plus one; 0 for never.
    last_cookie: AtomicU64,
}

/// What [`OwnerMap::claim`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claimed {
    /// The 4-tuple is the claimer's now (or was already).
    Mine,
    /// Another worker holds it (or claimed it at the same time).
    Taken(usize),
    /// Its bucket has no free way.
    Full,
}

impl OwnerMap {
    /// A map for `workers` workers (at most [`MAX_OWNERS`]) holding `connections`
    /// connections in all, keyed by `seed`.
    pub fn new(workers: usize, connections: usize, seed: u64) -> OwnerMap {
        assert!(workers <= MAX_OWNERS, "an owner is 8 bits");
        let n = (connections.max(1) * SLACK)
            .div_ceil(WAYS)
            .next_power_of_two();
        OwnerMap {
            buckets: (0..n)
                .map(|_| Bucket(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            seed,
            workers,
            last_cookie: AtomicU64::new(0),
        }
    }

    /// The bytes the map holds.
    pub fn bytes(&self) -> usize {
        self.buckets.len() * core::mem::size_of::<Bucket>()
    }

    /// `key`'s bucket and its tag (the top 56 bits of a second hash, never 0).
    fn place(&self, key: &FlowKey) -> (&[AtomicU64; WAYS], u64) {
        let mut h = self.seed;
        let mut mix = |w: u64| {
            h = (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            h ^= h >> 29;
        };
        mix((u64::from(key.remote_port) << 16) | u64::from(key.local_port));
        for ip in [key.remote_ip, key.local_ip] {
            match ip {
                IpAddr::V4(a) => mix(u64::from(u32::from(a))),
                IpAddr::V6(a) => {
                    let b = u128::from(a);
                    mix(b as u64);
                    mix((b >> 64) as u64);
                }
            }
        }
        let mut t = (h ^ 0x94d0_49bb_1331_11eb).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        t ^= t >> 31;
        let bucket = (h as usize) & (self.buckets.len() - 1);
        ((&self.buckets[bucket].0), (t >> 8).max(1))
    }

    /// The worker that holds `key`, if one does, and whether `key`'s bucket is full (so
    /// that a new connection for it could not be recorded).
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> (Option<usize>, bool) {
        let (ways, tag) = self.place(key);
        let mut full = true;
        for w in ways {
            let v = w.load(Acquire);
            if v >> 8 == tag {
                return (Some((v & 0xff) as usize), false);
            }
            full &= v != 0;
        }
        (None, full)
    }

    /// Records that worker `me` holds `key`, unless another does or there is no room.
    pub fn claim(&self, key: &FlowKey, me: usize) -> Claimed {
        let (ways, tag) = self.place(key);
        for w in ways {
            let v = w.load(SeqCst);
            if v >> 8 == tag {
                return match (v & 0xff) as usize {
                    k if k == me => Claimed::Mine,
                    k => Claimed::Taken(k),
                };
            }
        }
        let mine = tag << 8 | me as u64;
        let Some(at) = ways
            .iter()
            .position(|w| w.compare_exchange(0, mine, SeqCst, SeqCst).is_ok())
        else {
            return Claimed::Full;
        };
        // Another worker may have placed the same 4-tuple meanwhile: give way to it.
        for (i, w) in ways.iter().enumerate() {
            let v = w.load(SeqCst);
            if i != at && v >> 8 == tag {
                ways[at].store(0, SeqCst);
                return Claimed::Taken((v & 0xff) as usize);
            }
        }
        Claimed::Mine
    }

    /// Removes worker `me`'s entry for `key` (nothing if it has none).
    pub fn release(&self, key: &FlowKey, me: usize) {
        let (ways, tag) = self.place(key);
        let mine = tag << 8 | me as u64;
        for w in ways {
            if w.compare_exchange(mine, 0, SeqCst, Relaxed).is_ok() {
                return;
            }
        }
    }

    /// Entries held (a scan of the whole map: for tests and summaries).
    pub fn len(&self) -> usize {
        self.buckets
            .iter()
            .flat_map(|b| &b.0)
            .filter(|w| w.load(Relaxed) != 0)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Worker `me`'s view of the owner map, as its stack sees it ([`Ownership`]).
pub struct Owner {
    map: Arc<OwnerMap>,
    me: usize,
}

impl Ownership for Owner {
    fn claim(&self, key: &FlowKey) -> bool {
        match self.map.claim(key, self.me) {
            Claimed::Mine => true,
            Claimed::Taken(_) => false,
            // Not recorded: the steering sends its frames to the fallback owner.
            Claimed::Full => fallback_owner(key, self.map.workers).map_or(true, |k| k == self.me),
        }
    }

    fn release(&self, key: &FlowKey) {
        self.map.release(key, self.me);
    }

    fn cookie_sent(&self, now: Instant) {
        // Written at most once a second a worker, so a SYN flood does not bounce the
        // line between the cores.
        let t = now.as_nanos().saturating_add(1);
        let last = self.map.last_cookie.load(Relaxed);
        if last == 0 || t.saturating_sub(last) >= 1_000_000_000 {
            self.map.last_cookie.store(t, Relaxed);
        }
    }

    fn last_cookie(&self) -> Option<Instant> {
        match self.map.last_cookie.load(Relaxed) {
            0 => None,
            t => Some(Instant::from_nanos(t - 1)),
        }
    }
}

fn local_port_owner(port: u16, workers: usize) -> Option<usize> {
    (port >= EPHEMERAL_FIRST).then(|| usize::from(port - EPHEMERAL_FIRST) % workers)
}

/// One worker's mailbox: frames for it (each in a buffer of the pool), and how to wake
/// it when it sleeps.
struct Inbox {
    frames: ArrayQueue<Vec<u8>>,
    /// Set while the worker sleeps in the driver's `wait`.
    sleeping: AtomicBool,
    /// Set once the worker's own work is done; it keeps forwarding until all are.
    finished: AtomicBool,
    bell: Doorbell,
}

/// The queues every worker of one run shares: an inbox each and a pool of buffers.
pub struct Mesh {
    inboxes: Vec<Inbox>,
    pool: ArrayQueue<Vec<u8>>,
    /// Who owns which TCP connection, for [`SteerRule::ByArrival`].
    owners: Option<Arc<OwnerMap>>,
}

impl Mesh {
    /// Builds the inboxes and the buffers for `workers` workers, up front.
    pub fn new(workers: usize) -> std::io::Result<Arc<Mesh>> {
        Self::build(workers, None)
    }

    /// The same, with an owner map for [`SteerRule::ByArrival`].
    pub fn with_owners(workers: usize, owners: OwnerMap) -> std::io::Result<Arc<Mesh>> {
        Self::build(workers, Some(Arc::new(owners)))
    }

    fn build(workers: usize, owners: Option<Arc<OwnerMap>>) -> std::io::Result<Arc<Mesh>> {
        let buffers = INBOX * workers;
        let pool = ArrayQueue::new(buffers);
        for _ in 0..buffers {
            let _ = pool.push(Vec::with_capacity(BUFFER));
        }
        let inboxes = (0..workers)
            .map(|_| {
                Ok(Inbox {
                    frames: ArrayQueue::new(INBOX),
                    sleeping: AtomicBool::new(false),
                    finished: AtomicBool::new(false),
                    bell: Doorbell::new()?,
                })
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Arc::new(Mesh {
            inboxes,
            pool,
            owners,
        }))
    }

    pub fn workers(&self) -> usize {
        self.inboxes.len()
    }
}

/// One worker's end of the mesh.
pub struct Steer {
    me: usize,
    rule: SteerRule,
    mesh: Arc<Mesh>,
    counters: Arc<StackCounters>,
}

impl Steer {
    /// Worker `me`'s end; `counters` are that worker's own (it is their only writer).
    pub fn new(mesh: Arc<Mesh>, me: usize, rule: SteerRule, counters: Arc<StackCounters>) -> Self {
        assert!(me < mesh.workers());
        Steer {
            me,
            rule,
            mesh,
            counters,
        }
    }

    /// Where `frame`, received by this worker, belongs.
    #[inline]
    pub fn route(&self, frame: &[u8]) -> Route {
        route(
            self.rule,
            self.mesh.owners.as_deref(),
            frame,
            self.me,
            self.mesh.workers(),
        )
    }

    /// What this worker's stack claims its connections from, when the rule is
    /// [`SteerRule::ByArrival`] and the mesh has an owner map.
    pub fn ownership(&self) -> Option<Arc<dyn Ownership>> {
        match (self.rule, &self.mesh.owners) {
            (SteerRule::ByArrival, Some(map)) => Some(Arc::new(Owner {
                map: map.clone(),
                me: self.me,
            })),
            _ => None,
        }
    }

    /// Copies `frame` to worker `to`'s inbox; counted, or dropped and counted when the
    /// pool or the inbox is exhausted.
    pub fn hand_off(&self, to: usize, frame: &[u8]) {
        let Some(mut p) = self.mesh.pool.pop() else {
            self.counters.count_drop(DropReason::SteerFull);
            return;
        };
        p.clear();
        p.extend_from_slice(frame);
        let inbox = &self.mesh.inboxes[to];
        match inbox.frames.push(p) {
            Ok(()) => {
                self.counters.steered_out.inc();
                // Pairs with the fence in `sleep`: either the owner sees the frame before
                // it sleeps, or this sees it sleeping and rings.
                fence(SeqCst);
                if inbox.sleeping.load(Relaxed) {
                    inbox.bell.ring();
                }
            }
            Err(p) => {
                let _ = self.mesh.pool.push(p);
                self.counters.count_drop(DropReason::SteerFull);
            }
        }
    }

    /// Copies `frame` to every other worker.
    pub fn hand_to_others(&self, frame: &[u8]) {
        for k in (0..self.mesh.workers()).filter(|&k| k != self.me) {
            self.hand_off(k, frame);
        }
    }

    /// Hands each frame waiting for this worker to `handle` (up to `budget` of them);
    /// returns how many there were.
    pub fn drain(&self, budget: usize, handle: &mut dyn FnMut(&mut [u8])) -> usize {
        let inbox = &self.mesh.inboxes[self.me].frames;
        let mut n = 0;
        while n < budget {
            let Some(mut p) = inbox.pop() else { break };
            handle(&mut p);
            let _ = self.mesh.pool.push(p);
            n += 1;
        }
        self.counters.steered_in.add(n as u64);
        n
    }

    /// Records that this worker's engine is done, and says whether every worker's is.
    /// Until then its queue still receives frames of the others' flows, so it keeps
    /// handing them over.
    pub fn finish(&self) -> bool {
        self.mesh.inboxes[self.me].finished.store(true, Relaxed);
        self.mesh.inboxes.iter().all(|i| i.finished.load(Relaxed))
    }

    /// True when frames are waiting for this worker.
    #[cfg(test)]
    fn pending(&self) -> bool {
        !self.mesh.inboxes[self.me].frames.is_empty()
    }

    /// Sleeps in `dev.wait` for at most `timeout`, unless frames are waiting; a hand-off
    /// to this worker wakes it.
    pub fn sleep<D: Device + ?Sized>(
        &self,
        dev: &mut D,
        timeout: Duration,
    ) -> Result<(), DriverError> {
        let inbox = &self.mesh.inboxes[self.me];
        inbox.sleeping.store(true, Relaxed);
        fence(SeqCst);
        let r = if inbox.frames.is_empty() {
            dev.wait(timeout, Some(&inbox.bell))
        } else {
            Ok(())
        };
        inbox.sleeping.store(false, Relaxed);
        inbox.bell.clear();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn ipv4(proto: u8, src: [u8; 4], l4: &[u8]) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&[198, 18, 0, 1]);
        ip.extend_from_slice(l4);
        eth(0x0800, &ip)
    }

    fn ports(src: u16, dst: u16) -> Vec<u8> {
        let mut l4 = src.to_be_bytes().to_vec();
        l4.extend_from_slice(&dst.to_be_bytes());
        l4.extend_from_slice(&[0; 16]);
        l4
    }

    #[test]
    fn load_frames_go_to_the_owner_of_the_local_port() {
        for (dst, owner) in [(49152, 0), (49153, 1), (49154, 2), (49155, 0), (65535, 0)] {
            let f = ipv4(17, [198, 18, 0, 2], &ports(7, dst));
            let want = if owner == 0 {
                Route::Here
            } else {
                Route::To(owner)
            };
            assert_eq!(
                route(SteerRule::ByLocalPort, None, &f, 0, 3),
                want,
                "port {dst}"
            );
            let tcp = ipv4(6, [198, 18, 0, 2], &ports(7, dst));
            assert_eq!(route(SteerRule::ByLocalPort, None, &tcp, 0, 3), want);
        }
        // Below the ephemeral range nobody owns it by port.
        let f = ipv4(17, [198, 18, 0, 2], &ports(7, 5000));
        assert_eq!(route(SteerRule::ByLocalPort, None, &f, 1, 3), Route::Here);
    }

    #[test]
    fn fragments_stay_where_they_land() {
        for (flags_offset, rule) in [
            (0x2000u16, SteerRule::ByLocalPort), // first fragment: MF, offset 0
            (0x00b9, SteerRule::ByLocalPort),    // last: offset 1480
            (0x20b9, SteerRule::ByPeer),         // middle
        ] {
            for proto in [6, 17] {
                let mut f = ipv4(proto, [198, 18, 0, 2], &ports(40000, 49153));
                f[14 + 6..14 + 8].copy_from_slice(&flags_offset.to_be_bytes());
                for me in 0..3 {
                    assert_eq!(
                        route(rule, None, &f, me, 3),
                        Route::Here,
                        "{flags_offset:#x}"
                    );
                }
            }
        }
        // DF alone is no fragment: that one goes to its owner.
        let mut f = ipv4(17, [198, 18, 0, 2], &ports(40000, 49153));
        f[14 + 6] = 0x40;
        assert_eq!(route(SteerRule::ByLocalPort, None, &f, 0, 3), Route::To(1));
    }

    #[test]
    fn port_unreachable_goes_by_the_quoted_port() {
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        let quoted = ipv4(17, [198, 18, 0, 1], &ports(49153, 7));
        icmp.extend_from_slice(&quoted[14..]);
        let f = ipv4(1, [198, 18, 0, 2], &icmp);
        assert_eq!(route(SteerRule::ByLocalPort, None, &f, 0, 2), Route::To(1));
        // An echo reply is stateless: it stays.
        let echo = ipv4(1, [198, 18, 0, 2], &[0, 0, 0, 0, 0, 1, 0, 1]);
        assert_eq!(
            route(SteerRule::ByLocalPort, None, &echo, 0, 2),
            Route::Here
        );
    }

    #[test]
    fn serve_spreads_tcp_peers_and_keeps_a_peer_on_one_worker() {
        let mut seen = [0usize; 4];
        for port in 40000..40400u16 {
            let f = ipv4(6, [198, 18, 0, 1], &ports(port, 7));
            let k = match route(SteerRule::ByPeer, None, &f, 0, 4) {
                Route::Here => 0,
                Route::To(k) => k,
                Route::Everyone => unreachable!(),
            };
            seen[k] += 1;
            // Every worker agrees on the owner.
            for me in 0..4 {
                let r = route(SteerRule::ByPeer, None, &f, me, 4);
                assert_eq!(r == Route::Here, me == k);
            }
        }
        assert!(seen.iter().all(|&n| n > 60), "{seen:?}");
        // UDP is stateless for a server: answered where it lands.
        let f = ipv4(17, [198, 18, 0, 1], &ports(40001, 7));
        assert_eq!(route(SteerRule::ByPeer, None, &f, 0, 4), Route::Here);
    }

    #[test]
    fn arp_replies_go_everywhere_and_requests_stay() {
        let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 2];
        arp.extend_from_slice(&[0; 20]);
        assert_eq!(
            route(SteerRule::ByPeer, None, &eth(0x0806, &arp), 0, 2),
            Route::Everyone
        );
        arp[7] = 1;
        assert_eq!(
            route(SteerRule::ByLocalPort, None, &eth(0x0806, &arp), 0, 2),
            Route::Here
        );
    }

    #[test]
    fn short_and_odd_frames_stay_here() {
        for f in [
            vec![],
            vec![0; 13],
            eth(0x0800, &[0x4f]),
            eth(0x0800, &[0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6]),
            eth(0x86dd, &[0; 40]),
        ] {
            assert_eq!(route(SteerRule::ByPeer, None, &f, 0, 2), Route::Here);
            assert_eq!(route(SteerRule::ByLocalPort, None, &f, 0, 2), Route::Here);
        }
        let f = ipv4(6, [198, 18, 0, 1], &ports(40000, 49153));
        assert_eq!(route(SteerRule::ByLocalPort, None, &f, 0, 1), Route::Here);
    }

    #[test]
    fn port_sets_partition_the_ephemeral_range() {
        assert_eq!(PortSet::ALL.len(), 16384);
        let sets: Vec<_> = (0..3).map(|w| PortSet::of_worker(w, 3)).collect();
        assert_eq!(sets.iter().map(PortSet::len).sum::<usize>(), 16384);
        for (w, s) in sets.iter().enumerate() {
            for i in [0, 1, s.len() - 1] {
                let p = s.port(i);
                assert_eq!(s.index(p), Some(i));
                assert_eq!(local_port_owner(p, 3), Some(w));
            }
            assert_eq!(s.index(EPHEMERAL_FIRST + w as u16 + 1), None);
        }
        assert_eq!(sets[0].index(100), None);
    }

    fn tcp(src: [u8; 4], sport: u16, dport: u16, flags: u8) -> Vec<u8> {
        let mut l4 = ports(sport, dport);
        l4[12] = 5 << 4;
        l4[13] = flags;
        ipv4(6, src, &l4)
    }

    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PEER: [u8; 4] = [198, 18, 0, 10];

    /// The key the stack of 198.18.0.1 files `PEER:sport`'s connection under.
    fn key(sport: u16, dport: u16) -> FlowKey {
        FlowKey {
            local_ip: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
            local_port: dport,
            remote_ip: IpAddr::V4(Ipv4Addr::from(PEER)),
            remote_port: sport,
        }
    }

    fn owner_of(r: Route, me: usize) -> usize {
        match r {
            Route::Here => me,
            Route::To(k) => k,
            Route::Everyone => unreachable!(),
        }
    }

    /// A peer port whose peer-hash owner among 2 workers is `k`.
    fn port_owned_by(k: usize) -> u16 {
        (40000..).find(|&p| peer_owner(PEER, p, 2) == k).unwrap()
    }

    #[test]
    fn the_owner_map_records_looks_up_and_removes() {
        let map = OwnerMap::new(4, 1000, 7);
        let (a, b) = (key(40000, 7), key(40001, 7));
        assert_eq!(map.lookup(&a), (None, false));
        assert_eq!(map.claim(&a, 2), Claimed::Mine);
        assert_eq!(
            map.claim(&a, 2),
            Claimed::Mine,
            "claiming again is no change"
        );
        assert_eq!(map.claim(&a, 1), Claimed::Taken(2));
        assert_eq!(map.lookup(&a), (Some(2), false));
        assert_eq!(map.lookup(&b), (None, false));
        assert_eq!(map.claim(&b, 3), Claimed::Mine);
        assert_eq!(map.len(), 2);
        // Only the owner removes its entry.
        map.release(&a, 1);
        assert_eq!(map.lookup(&a).0, Some(2));
        map.release(&a, 2);
        assert_eq!(map.lookup(&a).0, None);
        assert_eq!(map.lookup(&b).0, Some(3));
        map.release(&b, 3);
        assert!(map.is_empty());
        // Sized from the connections, with room to spare, and allocated once.
        assert!(map.bytes() >= 1000 * 8 * SLACK, "{}", map.bytes());
        // IPv6 tuples have entries of their own.
        let v6 = FlowKey {
            local_ip: "2001:2::1".parse().unwrap(),
            local_port: 7,
            remote_ip: "2001:2::10".parse().unwrap(),
            remote_port: 40000,
        };
        assert_eq!(map.claim(&v6, 1), Claimed::Mine);
        assert_eq!(map.lookup(&v6).0, Some(1));
        assert_eq!(map.lookup(&a).0, None);
    }

    #[test]
    fn a_full_bucket_refuses_and_says_so() {
        // One bucket: every key shares it.
        let map = OwnerMap::new(2, 1, 7);
        assert_eq!(map.buckets.len(), 1);
        for p in 0..WAYS as u16 {
            assert_eq!(map.claim(&key(40000 + p, 7), 0), Claimed::Mine);
        }
        let late = key(41000, 7);
        assert_eq!(map.lookup(&late), (None, true));
        assert_eq!(map.claim(&late, 1), Claimed::Full);
        // Those held are still found, and a freed way is taken again.
        assert_eq!(map.lookup(&key(40003, 7)), (Some(0), false));
        map.release(&key(40003, 7), 0);
        assert_eq!(map.lookup(&late), (None, false));
        assert_eq!(map.claim(&late, 1), Claimed::Mine);
        assert_eq!(map.lookup(&key(40003, 7)), (None, true));
    }

    #[test]
    fn a_stack_may_own_a_full_buckets_tuple_only_as_its_fallback_owner() {
        let map = Arc::new(OwnerMap::new(2, 1, 7));
        for p in 0..WAYS as u16 {
            map.claim(&key(30000 + p, 7), 0);
        }
        let owners: Vec<_> = (0..2)
            .map(|me| Owner {
                map: map.clone(),
                me,
            })
            .collect();
        for k in 0..2 {
            let p = port_owned_by(k);
            assert!(owners[k].claim(&key(p, 7)), "the peer-hash owner makes it");
            assert!(!owners[1 - k].claim(&key(p, 7)), "the other one does not");
        }
        // A tuple another worker holds is refused; the holder's is granted.
        assert!(owners[0].claim(&key(30001, 7)));
        assert!(!owners[1].claim(&key(30001, 7)));
    }

    #[test]
    fn cookies_sent_by_one_worker_are_known_to_the_others() {
        let map = Arc::new(OwnerMap::new(2, 16, 7));
        let (a, b) = (
            Owner {
                map: map.clone(),
                me: 0,
            },
            Owner {
                map: map.clone(),
                me: 1,
            },
        );
        assert_eq!(b.last_cookie(), None);
        let t = Instant::from_nanos(5_000_000_000);
        a.cookie_sent(t);
        assert_eq!(b.last_cookie(), Some(t));
        // Within a second it is not written again; after, it is.
        a.cookie_sent(t + Duration::from_millis(500));
        assert_eq!(b.last_cookie(), Some(t));
        b.cookie_sent(t + Duration::from_secs(2));
        assert_eq!(a.last_cookie(), Some(t + Duration::from_secs(2)));
        // Time zero is a time too.
        let fresh = Owner {
            map: Arc::new(OwnerMap::new(2, 16, 7)),
            me: 0,
        };
        fresh.cookie_sent(Instant::ZERO);
        assert_eq!(fresh.last_cookie(), Some(Instant::ZERO));
    }

    #[test]
    fn two_threads_claiming_one_tuple_never_both_own_it() {
        use std::sync::atomic::AtomicUsize;
        const ROUNDS: usize = 200;
        const KEYS: u16 = 64;
        let map = Arc::new(OwnerMap::new(2, 256, 9));
        // A spinning start line, so that both threads claim the same keys in lockstep.
        let line = Arc::new(AtomicUsize::new(0));
        let sync = |line: &AtomicUsize, n: &mut usize| {
            *n += 2;
            line.fetch_add(1, SeqCst);
            while line.load(SeqCst) < *n {
                std::hint::spin_loop();
            }
        };
        let threads: Vec<_> = (0..2)
            .map(|me| {
                let (map, line) = (map.clone(), line.clone());
                std::thread::spawn(move || {
                    let mut n = 0;
                    let mut won = Vec::new();
                    for r in 0..ROUNDS {
                        let keys: Vec<_> = (0..KEYS).map(|i| key(i, 1 + r as u16)).collect();
                        sync(&line, &mut n);
                        let got: Vec<_> = keys.iter().map(|k| map.claim(k, me)).collect();
                        sync(&line, &mut n);
                        for (k, c) in keys.iter().zip(&got) {
                            if *c == Claimed::Mine {
                                // The map names the one that kept it.
                                assert_eq!(map.lookup(k).0, Some(me), "round {r}");
                                won.push((r, k.remote_port));
                            }
                        }
                        sync(&line, &mut n);
                        for (k, c) in keys.iter().zip(&got) {
                            if *c == Claimed::Mine {
                                map.release(k, me);
                            }
                        }
                    }
                    won
                })
            })
            .collect();
        let won: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(won[0].iter().all(|w| !won[1].contains(w)), "both owned one");
        // Nearly every tuple has an owner (both give way only on an exact tie).
        let total = ROUNDS * usize::from(KEYS);
        assert!(
            won[0].len() + won[1].len() > total / 2,
            "{}",
            won[0].len() + won[1].len()
        );
        assert!(map.is_empty());
    }

    #[test]
    fn two_threads_share_buckets_without_losing_entries() {
        // 64 connections in 16 buckets: the threads' entries mix in every bucket.
        let map = Arc::new(OwnerMap::new(2, 64, 11));
        let threads: Vec<_> = (0..2usize)
            .map(|me| {
                let map = map.clone();
                std::thread::spawn(move || {
                    for round in 0..2000u16 {
                        let keys: Vec<_> = (0..24u16)
                            .map(|i| key(1000 * (me as u16 + 1) + i, 7 + round % 3))
                            .collect();
                        for k in &keys {
                            assert_eq!(map.claim(k, me), Claimed::Mine);
                        }
                        for k in &keys {
                            assert_eq!(map.lookup(k).0, Some(me));
                        }
                        for k in &keys {
                            map.release(k, me);
                        }
                        for k in &keys {
                            assert_eq!(map.lookup(k).0, None);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(map.is_empty());
    }

    fn arrival(map: &OwnerMap, f: &[u8], me: usize) -> Route {
        route(SteerRule::ByArrival, Some(map), f, me, 2)
    }

    #[test]
    fn by_arrival_a_syn_stays_where_it_lands_and_the_connection_follows_its_owner() {
        let map = OwnerMap::new(2, 1000, 3);
        // A peer whose hash picks worker 0, on worker 1's queue.
        let p = port_owned_by(0);
        let syn = tcp(PEER, p, 7, SYN);
        assert_eq!(route(SteerRule::ByPeer, None, &syn, 1, 2), Route::To(0));
        assert_eq!(arrival(&map, &syn, 1), Route::Here);
        assert_eq!(arrival(&map, &syn, 0), Route::Here);
        // Before the stack claims it, everything else goes by the peer hash.
        let ack = tcp(PEER, p, 7, ACK);
        assert_eq!(arrival(&map, &ack, 1), Route::To(0));
        // Worker 1 made the connection: all its frames go there, from either queue —
        // the SYN retransmitted onto queue 0 too.
        assert_eq!(map.claim(&key(p, 7), 1), Claimed::Mine);
        for f in [&syn, &ack, &tcp(PEER, p, 7, 0x04), &tcp(PEER, p, 7, 0x11)] {
            assert_eq!(arrival(&map, f, 1), Route::Here);
            assert_eq!(arrival(&map, f, 0), Route::To(1));
        }
        // The same peer's other connection is not it.
        let other = tcp(PEER, p + 2, 7, ACK);
        assert_eq!(
            owner_of(arrival(&map, &other, 1), 1),
            peer_owner(PEER, p + 2, 2)
        );
        // Gone from the table: back to the peer hash.
        map.release(&key(p, 7), 1);
        assert_eq!(arrival(&map, &ack, 1), Route::To(0));
        // A SYN-ACK or SYN+RST opens nothing: by the peer hash.
        assert_eq!(arrival(&map, &tcp(PEER, p, 7, SYN | ACK), 1), Route::To(0));
        assert_eq!(arrival(&map, &tcp(PEER, p, 7, SYN | 0x04), 1), Route::To(0));
        // UDP, ICMP and fragments stay, as by peer.
        assert_eq!(arrival(&map, &ipv4(17, PEER, &ports(p, 7)), 1), Route::Here);
        let mut frag = ack.clone();
        frag[14 + 6] = 0x20;
        assert_eq!(arrival(&map, &frag, 1), Route::Here);
    }

    #[test]
    fn by_arrival_a_syn_for_a_full_bucket_goes_to_the_peer_hash_owner() {
        let map = OwnerMap::new(2, 1, 3);
        for i in 0..WAYS as u16 {
            map.claim(&key(20000 + i, 80), 0);
        }
        for k in 0..2 {
            let syn = tcp(PEER, port_owned_by(k), 7, SYN);
            for me in 0..2 {
                assert_eq!(owner_of(arrival(&map, &syn, me), me), k);
            }
        }
        // Held entries still win over the hash.
        let held = tcp(PEER, 20003, 80, ACK);
        assert_eq!(arrival(&map, &held, 1), Route::To(0));
    }

    #[test]
    fn by_arrival_ipv6_tcp_follows_the_map_and_otherwise_stays() {
        let map = OwnerMap::new(2, 100, 3);
        let (local, remote): (Ipv6Addr, Ipv6Addr) =
            ("2001:2::1".parse().unwrap(), "2001:2::10".parse().unwrap());
        let mut ip = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
        ip.extend_from_slice(&remote.octets());
        ip.extend_from_slice(&local.octets());
        ip.extend_from_slice(&ports(40000, 7));
        let f = eth(0x86dd, &ip);
        assert_eq!(arrival(&map, &f, 1), Route::Here);
        let k = FlowKey {
            local_ip: IpAddr::V6(local),
            local_port: 7,
            remote_ip: IpAddr::V6(remote),
            remote_port: 40000,
        };
        map.claim(&k, 0);
        assert_eq!(arrival(&map, &f, 1), Route::To(0));
        assert_eq!(arrival(&map, &f, 0), Route::Here);
        // With an extension header (hop-by-hop) it stays: the ports are elsewhere.
        let mut hbh = f.clone();
        hbh[14 + 6] = 0;
        assert_eq!(arrival(&map, &hbh, 1), Route::Here);
        // The rule by peer leaves IPv6 alone, map or not.
        assert_eq!(route(SteerRule::ByPeer, Some(&map), &f, 1, 2), Route::Here);
    }

    #[test]
    fn by_arrival_without_a_map_is_by_peer() {
        for p in 40000..40050 {
            for flags in [SYN, ACK] {
                let f = tcp(PEER, p, 7, flags);
                for me in 0..2 {
                    assert_eq!(
                        route(SteerRule::ByArrival, None, &f, me, 2),
                        route(SteerRule::ByPeer, None, &f, me, 2)
                    );
                }
            }
        }
    }

    #[test]
    fn a_steer_hands_its_stack_an_ownership_only_by_arrival_with_a_map() {
        let c = Arc::new(StackCounters::default());
        let with = Mesh::with_owners(2, OwnerMap::new(2, 16, 1)).unwrap();
        let without = Mesh::new(2).unwrap();
        assert!(Steer::new(with.clone(), 1, SteerRule::ByArrival, c.clone())
            .ownership()
            .is_some());
        assert!(Steer::new(with, 1, SteerRule::ByPeer, c.clone())
            .ownership()
            .is_none());
        assert!(Steer::new(without, 1, SteerRule::ByArrival, c)
            .ownership()
            .is_none());
    }

    #[test]
    fn frames_cross_between_workers_and_buffers_come_back() {
        let mesh = Mesh::new(2).unwrap();
        let c0 = Arc::new(StackCounters::default());
        let c1 = Arc::new(StackCounters::default());
        let s0 = Steer::new(mesh.clone(), 0, SteerRule::ByLocalPort, c0.clone());
        let s1 = Steer::new(mesh.clone(), 1, SteerRule::ByLocalPort, c1.clone());
        let f = ipv4(17, [198, 18, 0, 2], &ports(7, 49153));
        assert_eq!(s0.route(&f), Route::To(1));
        s0.hand_off(1, &f);
        assert!(s1.pending() && !s0.pending());
        let mut got = Vec::new();
        assert_eq!(s1.drain(64, &mut |b| got.push(b.to_vec())), 1);
        assert_eq!(got, vec![f.clone()]);
        assert_eq!(c0.steered_out.get(), 1);
        assert_eq!(c1.steered_in.get(), 1);
        assert_eq!(mesh.pool.len(), 2 * INBOX);
        // A full inbox drops and counts, and keeps the buffer.
        for _ in 0..INBOX + 5 {
            s0.hand_off(1, &f);
        }
        assert_eq!(c0.snapshot().drops[DropReason::SteerFull as usize], 5);
        assert_eq!(s1.drain(usize::MAX, &mut |_| {}), INBOX);
        assert_eq!(mesh.pool.len(), 2 * INBOX);
    }
}
