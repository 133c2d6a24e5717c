//! Flow steering between workers. Each worker owns the connections and flows of its
//! share of the port space, and its tables are touched by it alone. A NIC (or veth) picks
//! the receive queue by its own hash, which need not agree with ours: the kernel peer
//! chooses its transmit queue per socket, so the replies to a flow one worker opened can
//! land on another worker's queue. Such a frame is copied into a pooled buffer and handed
//! to its owner through a lock-free queue ([`crossbeam::queue::ArrayQueue`]), and counted.
//!
//! The owner of a frame is decided by [`SteerRule`]: `serve` owns TCP connections by the
//! peer's address and port; `load` owns flows by its own (ephemeral) port, and each load
//! worker takes only the ports it owns. ARP replies go to every worker, so each one's
//! cache learns the peer; everything stateless stays where it lands, and so do IPv4
//! fragments, which are reassembled by the worker they reach.
//!
//! Nothing is allocated per frame: the buffers are made when the mesh is built and cycle
//! between the pool and the inboxes.

use crate::driver::{Device, Doorbell, DriverError};
use crate::metrics::{DropReason, StackCounters};
use crate::wire::icmp::msg_type;
use crate::wire::{ArpOperation, EtherType, IpProtocol};
use crossbeam::queue::ArrayQueue;
use std::sync::atomic::{fence, AtomicBool, Ordering::Relaxed, Ordering::SeqCst};
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

/// Which worker owns `frame` among `workers`, as seen by worker `me`. Frames too short
/// to tell stay `Here`, where the stack counts them as malformed.
pub fn route(rule: SteerRule, frame: &[u8], me: usize, workers: usize) -> Route {
    if workers <= 1 || frame.len() < 14 {
        return Route::Here;
    }
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
        EtherType::Ipv4 => ipv4_owner(rule, &frame[14..], workers),
        _ => None,
    };
    match owner {
        Some(k) if k != me => Route::To(k),
        _ => Route::Here,
    }
}

fn ipv4_owner(rule: SteerRule, ip: &[u8], workers: usize) -> Option<usize> {
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
        (SteerRule::ByPeer, IpProtocol::Tcp) => {
            let peer = u32::from_be_bytes([src[0], src[1], src[2], src[3]]);
            let h = peer.wrapping_mul(0x9e37_79b1) ^ u32::from(port(0)?).wrapping_mul(0x85eb_ca6b);
            Some((h >> 16) as usize % workers)
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
}

impl Mesh {
    /// Builds the inboxes and the buffers for `workers` workers, up front.
    pub fn new(workers: usize) -> std::io::Result<Arc<Mesh>> {
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
        Ok(Arc::new(Mesh { inboxes, pool }))
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
        route(self.rule, frame, self.me, self.mesh.workers())
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
            assert_eq!(route(SteerRule::ByLocalPort, &f, 0, 3), want, "port {dst}");
            let tcp = ipv4(6, [198, 18, 0, 2], &ports(7, dst));
            assert_eq!(route(SteerRule::ByLocalPort, &tcp, 0, 3), want);
        }
        // Below the ephemeral range nobody owns it by port.
        let f = ipv4(17, [198, 18, 0, 2], &ports(7, 5000));
        assert_eq!(route(SteerRule::ByLocalPort, &f, 1, 3), Route::Here);
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
                    assert_eq!(route(rule, &f, me, 3), Route::Here, "{flags_offset:#x}");
                }
            }
        }
        // DF alone is no fragment: that one goes to its owner.
        let mut f = ipv4(17, [198, 18, 0, 2], &ports(40000, 49153));
        f[14 + 6] = 0x40;
        assert_eq!(route(SteerRule::ByLocalPort, &f, 0, 3), Route::To(1));
    }

    #[test]
    fn port_unreachable_goes_by_the_quoted_port() {
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        let quoted = ipv4(17, [198, 18, 0, 1], &ports(49153, 7));
        icmp.extend_from_slice(&quoted[14..]);
        let f = ipv4(1, [198, 18, 0, 2], &icmp);
        assert_eq!(route(SteerRule::ByLocalPort, &f, 0, 2), Route::To(1));
        // An echo reply is stateless: it stays.
        let echo = ipv4(1, [198, 18, 0, 2], &[0, 0, 0, 0, 0, 1, 0, 1]);
        assert_eq!(route(SteerRule::ByLocalPort, &echo, 0, 2), Route::Here);
    }

    #[test]
    fn serve_spreads_tcp_peers_and_keeps_a_peer_on_one_worker() {
        let mut seen = [0usize; 4];
        for port in 40000..40400u16 {
            let f = ipv4(6, [198, 18, 0, 1], &ports(port, 7));
            let k = match route(SteerRule::ByPeer, &f, 0, 4) {
                Route::Here => 0,
                Route::To(k) => k,
                Route::Everyone => unreachable!(),
            };
            seen[k] += 1;
            // Every worker agrees on the owner.
            for me in 0..4 {
                let r = route(SteerRule::ByPeer, &f, me, 4);
                assert_eq!(r == Route::Here, me == k);
            }
        }
        assert!(seen.iter().all(|&n| n > 60), "{seen:?}");
        // UDP is stateless for a server: answered where it lands.
        let f = ipv4(17, [198, 18, 0, 1], &ports(40001, 7));
        assert_eq!(route(SteerRule::ByPeer, &f, 0, 4), Route::Here);
    }

    #[test]
    fn arp_replies_go_everywhere_and_requests_stay() {
        let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 2];
        arp.extend_from_slice(&[0; 20]);
        assert_eq!(
            route(SteerRule::ByPeer, &eth(0x0806, &arp), 0, 2),
            Route::Everyone
        );
        arp[7] = 1;
        assert_eq!(
            route(SteerRule::ByLocalPort, &eth(0x0806, &arp), 0, 2),
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
            assert_eq!(route(SteerRule::ByPeer, &f, 0, 2), Route::Here);
            assert_eq!(route(SteerRule::ByLocalPort, &f, 0, 2), Route::Here);
        }
        let f = ipv4(6, [198, 18, 0, 1], &ports(40000, 49153));
        assert_eq!(route(SteerRule::ByLocalPort, &f, 0, 1), Route::Here);
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
