//! driver/sim/threaded: an in-memory, multi-queue Ethernet link on real time, whose
//! devices can each run on a thread of their own — the link the worker-loop tests run
//! `runtime::run_worker` on, with several workers and steering.
//!
//! [`SimNet::new`] makes two ends, A and B, each with a number of receive queues; every
//! queue is one [`ThreadedSimDevice`] (one worker's device, as one AF_XDP socket is). A
//! frame sent by a device of one end lands on one receive queue of the other end, chosen
//! by [`Spread`]: a flow hash as RSS computes it, a fixed queue, or round robin. Frames
//! are copied out of the sender's buffer into a buffer of a pool made up front, and a
//! reflected frame moves its buffer to the other end; buffers cycle between the pool and
//! the queues, so nothing is allocated per frame.
//!
//! Invariants:
//! - A queue delivers its frames in the order they were pushed; a full queue drops the
//!   frame and counts it (`rx_ring_full` of the device that owns the queue).
//! - A frame is visible to the receiver as soon as it is sent; `flush` is the "kick": it
//!   wakes the receivers of the queues it sent to that sleep in `wait`. A sleeper either
//!   sees the frame before it sleeps or is woken (the same fence pairing as the steering
//!   mesh's inboxes).
//! - `wait` sleeps in `poll()` on the queue's eventfd and the caller's [`Doorbell`], so a
//!   hand-off from another worker wakes it as on the socket drivers. No `unsafe` here:
//!   the eventfd and `poll()` are the driver module's own.

use crate::driver::{
    poll_readable, Device, DeviceInfo, Doorbell, DriverError, DriverKind, DriverStats, Transmit,
    Verdict,
};
use core::time::Duration;
use crossbeam::queue::ArrayQueue;
use std::os::fd::AsRawFd;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Arc;

/// Frames one receive queue holds by default.
pub const QUEUE_FRAMES: usize = 1024;
/// Bytes of one frame buffer: a 1500-byte MTU frame fits.
const FRAME_CAPACITY: usize = 2048;
/// The link's IP MTU.
const MTU: usize = 1500;

/// Which receive queue of the far end a frame lands on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spread {
    /// A hash over the IPv4 source and destination addresses and, for TCP and UDP (not
    /// fragments), the ports, as RSS does: one direction of one flow always lands on
    /// one queue. Frames that are not IPv4 (ARP) land on queue 0.
    FlowHash,
    /// Every frame lands on queue `k` (modulo the queue count).
    Queue(usize),
    /// Each sending device cycles through the queues, frame by frame.
    RoundRobin,
}

impl Spread {
    /// The queue among `queues` for `frame`; `turn` is the sender's round-robin count.
    fn pick(self, frame: &[u8], queues: usize, turn: &mut usize) -> usize {
        if queues <= 1 {
            return 0;
        }
        match self {
            Spread::FlowHash => flow_hash(frame).map_or(0, |h| (h % queues as u64) as usize),
            Spread::Queue(k) => k % queues,
            Spread::RoundRobin => {
                let q = *turn % queues;
                *turn = turn.wrapping_add(1);
                q
            }
        }
    }
}

/// The RSS-like hash of an IPv4 frame, or `None` for anything else. Raw offsets: a frame
/// too short to tell is hashed by what it has, and the stack that receives it counts why.
pub fn flow_hash(frame: &[u8]) -> Option<u64> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let ihl = usize::from(*ip.first()? & 0x0f) * 4;
    let addrs = ip.get(12..20)?;
    let mut h = u64::from_be_bytes(addrs.try_into().ok()?);
    let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x3fff;
    let proto = *ip.get(9)?;
    if frag == 0 && (proto == 6 || proto == 17) {
        if let Some(p) = ip.get(ihl..ihl + 4) {
            let ports = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
            h ^= u64::from(ports).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    // The murmur3 finalizer: every input bit moves every output bit.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    Some(h)
}

/// One receive queue: its frames, and how to wake the worker that sleeps on it.
struct RxQueue {
    frames: ArrayQueue<Vec<u8>>,
    /// Set while the queue's device sleeps in `wait`.
    sleeping: AtomicBool,
    wake: Doorbell,
    /// Frames dropped because the queue was full.
    overflow: AtomicU64,
}

/// What every device of one [`SimNet`] shares.
struct Link {
    /// The receive queues of end A (0) and end B (1).
    ends: [Vec<RxQueue>; 2],
    /// Free frame buffers.
    pool: ArrayQueue<Vec<u8>>,
    spread: Spread,
}

impl Link {
    /// Puts `frame` on queue `q` of end `to`; a full queue drops it back to the pool.
    fn push(&self, to: usize, q: usize, frame: Vec<u8>) -> bool {
        let queue = &self.ends[to][q];
        match queue.frames.push(frame) {
            Ok(()) => true,
            Err(frame) => {
                queue.overflow.fetch_add(1, Relaxed);
                let _ = self.pool.push(frame);
                false
            }
        }
    }
}

/// A multi-queue link between two ends; see the module documentation.
pub struct SimNet {
    /// End A's devices, one per receive queue, MAC 02:00:00:00:00:01.
    pub a: Vec<ThreadedSimDevice>,
    /// End B's devices, MAC 02:00:00:00:00:02.
    pub b: Vec<ThreadedSimDevice>,
}

impl SimNet {
    /// A link with `queues_a` and `queues_b` receive queues (at least one each) of
    /// [`QUEUE_FRAMES`] frames, frames spread over them by `spread`.
    pub fn new(queues_a: usize, queues_b: usize, spread: Spread) -> std::io::Result<SimNet> {
        Self::with_queue_frames(queues_a, queues_b, spread, QUEUE_FRAMES)
    }

    /// The same with queues of `frames` frames each.
    pub fn with_queue_frames(
        queues_a: usize,
        queues_b: usize,
        spread: Spread,
        frames: usize,
    ) -> std::io::Result<SimNet> {
        let counts = [queues_a.max(1), queues_b.max(1)];
        let queues = |n: usize| {
            (0..n)
                .map(|_| {
                    Ok(RxQueue {
                        frames: ArrayQueue::new(frames.max(1)),
                        sleeping: AtomicBool::new(false),
                        wake: Doorbell::new()?,
                        overflow: AtomicU64::new(0),
                    })
                })
                .collect::<std::io::Result<Vec<_>>>()
        };
        // Every queue full, and one more frame in each device's hands: the pool never
        // runs dry while a queue has room.
        let buffers = (counts[0] + counts[1]) * (frames.max(1) + 1);
        let pool = ArrayQueue::new(buffers);
        for _ in 0..buffers {
            let _ = pool.push(Vec::with_capacity(FRAME_CAPACITY));
        }
        let link = Arc::new(Link {
            ends: [queues(counts[0])?, queues(counts[1])?],
            pool,
            spread,
        });
        let end = |e: usize| {
            (0..counts[e])
                .map(|q| ThreadedSimDevice::new(link.clone(), e, q, counts[1 - e]))
                .collect()
        };
        Ok(SimNet {
            a: end(0),
            b: end(1),
        })
    }
}

/// The transmit half of a [`ThreadedSimDevice`].
pub struct ThreadedTx {
    link: Arc<Link>,
    /// The far end.
    to: usize,
    /// Round-robin count of this sender.
    turn: usize,
    /// Far queues sent to since the last flush.
    kick: Vec<bool>,
    sent: u64,
    no_buffer: u64,
}

impl ThreadedTx {
    /// Sends `frame` (a pool buffer) to the queue the spread picks.
    fn launch(&mut self, frame: Vec<u8>) {
        let q = self
            .link
            .spread
            .pick(&frame, self.kick.len(), &mut self.turn);
        self.sent += 1;
        if self.link.push(self.to, q, frame) {
            self.kick[q] = true;
        }
    }
}

impl Transmit for ThreadedTx {
    fn frame_capacity(&self) -> usize {
        FRAME_CAPACITY
    }

    fn send_with(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let Some(mut frame) = self.link.pool.pop() else {
            self.no_buffer += 1;
            return false;
        };
        frame.resize(FRAME_CAPACITY, 0);
        let len = build(&mut frame).min(FRAME_CAPACITY);
        if len == 0 {
            let _ = self.link.pool.push(frame);
            return true;
        }
        frame.truncate(len);
        self.launch(frame);
        true
    }
}

/// What ended each of a device's sleeps in `wait`, so a test can tell that a worker
/// really slept and what woke it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wakes {
    /// Calls of `wait` that slept (no frame was waiting).
    pub slept: u64,
    /// Sleeps ended by the caller's doorbell (a hand-off from another worker).
    pub by_bell: u64,
    /// Sleeps ended by a frame on the queue (the sender's flush).
    pub by_frame: u64,
    /// Sleeps that ran to the timeout, or woke with nothing to do.
    pub timed_out: u64,
}

/// One receive queue of one end of a [`SimNet`], with a transmitter to the other end.
/// It is `Send`: each can run on its own worker thread.
pub struct ThreadedSimDevice {
    info: DeviceInfo,
    end: usize,
    tx: ThreadedTx,
    rx_frames: u64,
    wakes: Wakes,
}

impl ThreadedSimDevice {
    fn new(link: Arc<Link>, end: usize, queue: usize, far_queues: usize) -> Self {
        ThreadedSimDevice {
            info: DeviceInfo {
                name: format!("sim{}{queue}", if end == 0 { 'a' } else { 'b' }),
                kind: DriverKind::Sim,
                mac: [0x02, 0, 0, 0, 0, end as u8 + 1],
                mtu: MTU,
                frame_capacity: FRAME_CAPACITY,
                queue: queue as u32,
            },
            end,
            tx: ThreadedTx {
                link,
                to: 1 - end,
                turn: queue,
                kick: vec![false; far_queues],
                sent: 0,
                no_buffer: 0,
            },
            rx_frames: 0,
            wakes: Wakes::default(),
        }
    }

    /// What ended this device's sleeps so far.
    pub fn wakes(&self) -> Wakes {
        self.wakes
    }

    fn queue(&self) -> &RxQueue {
        &self.tx.link.ends[self.end][self.info.queue as usize]
    }

    /// Puts a raw frame on the link towards the other end, as if this device sent it.
    pub fn inject(&mut self, frame: &[u8]) {
        self.tx.send_with(&mut |buf| {
            buf[..frame.len()].copy_from_slice(frame);
            frame.len()
        });
    }

    /// Frames waiting in this device's receive queue.
    pub fn pending(&self) -> usize {
        self.queue().frames.len()
    }
}

impl Device for ThreadedSimDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn receive(
        &mut self,
        budget: usize,
        handler: &mut dyn FnMut(&mut [u8], &mut dyn Transmit) -> Verdict,
    ) -> Result<usize, DriverError> {
        let link = self.tx.link.clone();
        let queue = &link.ends[self.end][self.info.queue as usize];
        let mut n = 0;
        while n < budget {
            let Some(mut frame) = queue.frames.pop() else {
                break;
            };
            n += 1;
            match handler(&mut frame, &mut self.tx) {
                Verdict::Drop => {
                    let _ = link.pool.push(frame);
                }
                Verdict::Reflect(len) => {
                    frame.truncate(len);
                    self.tx.launch(frame);
                }
            }
        }
        self.rx_frames += n as u64;
        Ok(n)
    }

    fn transmitter(&mut self) -> &mut dyn Transmit {
        &mut self.tx
    }

    /// The kick: wakes the sleeping receivers of the queues sent to since the last flush.
    fn flush(&mut self) -> Result<(), DriverError> {
        let far = &self.tx.link.ends[self.tx.to];
        for (q, kick) in self.tx.kick.iter_mut().enumerate() {
            if std::mem::take(kick) {
                // Pairs with the fence in `wait`: either the receiver sees the frame
                // before it sleeps, or this sees it sleeping and rings.
                fence(SeqCst);
                if far[q].sleeping.load(Relaxed) {
                    far[q].wake.ring();
                }
            }
        }
        Ok(())
    }

    fn wait(&mut self, timeout: Duration, bell: Option<&Doorbell>) -> Result<(), DriverError> {
        let link = &self.tx.link;
        let queue = &link.ends[self.end][self.info.queue as usize];
        queue.sleeping.store(true, Relaxed);
        fence(SeqCst);
        let r = if queue.frames.is_empty() {
            let r = poll_readable(queue.wake.fd.as_raw_fd(), bell, timeout, &self.info.name);
            let w = &mut self.wakes;
            w.slept += 1;
            if bell.is_some_and(Doorbell::is_rung) {
                w.by_bell += 1;
            } else if !queue.frames.is_empty() {
                w.by_frame += 1;
            } else {
                w.timed_out += 1;
            }
            r
        } else {
            Ok(())
        };
        queue.sleeping.store(false, Relaxed);
        queue.wake.clear();
        r
    }

    fn stats(&self) -> DriverStats {
        DriverStats {
            rx_frames: self.rx_frames,
            tx_frames: self.tx.sent,
            rx_ring_full: self.queue().overflow.load(Relaxed),
            tx_no_buffer: self.tx.no_buffer,
            ..DriverStats::default()
        }
    }
}

// Each device must be able to move to its worker's thread.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<ThreadedSimDevice>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant as WallClock;

    /// An Ethernet + IPv4 + UDP frame from `src:sport` to `dst:dport` (headers only,
    /// checksums left zero: the link does not look at them).
    fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&[0, 8, 0, 0]);
        f
    }

    fn drain(dev: &mut ThreadedSimDevice) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        dev.receive(usize::MAX, &mut |f, _| {
            got.push(f.to_vec());
            Verdict::Drop
        })
        .unwrap();
        got
    }

    const A: [u8; 4] = [198, 18, 0, 10];
    const B: [u8; 4] = [198, 18, 0, 2];

    #[test]
    fn a_flow_hash_keeps_a_flow_on_one_queue_and_spreads_flows() {
        let mut net = SimNet::new(1, 4, Spread::FlowHash).unwrap();
        let mut per_queue = [0usize; 4];
        for port in 49152..49152 + 200u16 {
            // Three frames of the same flow: all on one queue.
            for _ in 0..3 {
                net.a[0].inject(&udp(A, port, B, 7));
            }
            let got: Vec<_> = net.b.iter_mut().map(|d| drain(d).len()).collect();
            assert_eq!(got.iter().sum::<usize>(), 3);
            let q = got
                .iter()
                .position(|&n| n == 3)
                .expect("one queue has all three");
            per_queue[q] += 1;
        }
        assert!(per_queue.iter().all(|&n| n > 25), "{per_queue:?}");
        // Not IPv4: queue 0.
        let mut arp = vec![0xff; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        net.a[0].inject(&arp);
        assert_eq!(drain(&mut net.b[0]), vec![arp]);
        // The reverse direction of a flow hashes apart from the forward one (RSS is not
        // symmetric): across flows, some replies land elsewhere.
        let apart = (49152..49152 + 64u16)
            .filter(|&p| flow_hash(&udp(A, p, B, 7)) != flow_hash(&udp(B, 7, A, p)))
            .count();
        assert!(apart > 50, "{apart}");
    }

    #[test]
    fn a_fixed_queue_and_round_robin() {
        let mut net = SimNet::new(1, 3, Spread::Queue(2)).unwrap();
        for p in 0..5 {
            net.a[0].inject(&udp(A, 50000 + p, B, 7));
        }
        assert_eq!(drain(&mut net.b[2]).len(), 5);
        assert!(drain(&mut net.b[0]).is_empty() && drain(&mut net.b[1]).is_empty());

        let mut net = SimNet::new(1, 3, Spread::RoundRobin).unwrap();
        for i in 0..9u8 {
            net.a[0].inject(&[i; 60]);
        }
        for (q, dev) in net.b.iter_mut().enumerate() {
            let firsts: Vec<u8> = drain(dev).iter().map(|f| f[0]).collect();
            let q = q as u8;
            assert_eq!(firsts, vec![q, q + 3, q + 6], "queue {q}");
        }
    }

    #[test]
    fn reflect_moves_the_frame_to_the_other_end_and_stats_count() {
        let mut net = SimNet::new(2, 1, Spread::Queue(1)).unwrap();
        net.a[0].inject(&[7u8; 100]);
        let n = net.b[0]
            .receive(8, &mut |f, _| {
                f[0] = 9;
                Verdict::Reflect(50)
            })
            .unwrap();
        assert_eq!(n, 1);
        let got = drain(&mut net.a[1]);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].len(), got[0][0]), (50, 9));
        let b = net.b[0].stats();
        assert_eq!((b.rx_frames, b.tx_frames), (1, 1));
        assert_eq!(net.a[1].stats().rx_frames, 1);
        assert_eq!(net.a[0].stats().tx_frames, 1);
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let mut net = SimNet::with_queue_frames(1, 1, Spread::FlowHash, 4).unwrap();
        for _ in 0..7 {
            net.a[0].inject(&[1; 60]);
        }
        assert_eq!(net.b[0].pending(), 4);
        assert_eq!(net.b[0].stats().rx_ring_full, 3);
        assert_eq!(drain(&mut net.b[0]).len(), 4);
        // Every buffer went back: the queue fills again.
        for _ in 0..4 {
            net.a[0].inject(&[1; 60]);
        }
        assert_eq!(net.b[0].pending(), 4);
        assert_eq!(net.a[0].stats().tx_no_buffer, 0);
    }

    #[test]
    fn wait_times_out_when_nothing_comes() {
        let mut net = SimNet::new(1, 1, Spread::FlowHash).unwrap();
        let t = WallClock::now();
        net.b[0].wait(Duration::from_millis(30), None).unwrap();
        let slept = t.elapsed();
        assert!(slept >= Duration::from_millis(25), "{slept:?}");
        let w = net.b[0].wakes();
        assert_eq!((w.slept, w.timed_out), (1, 1), "{w:?}");
    }

    #[test]
    fn wait_returns_at_once_when_a_frame_is_waiting() {
        let mut net = SimNet::new(1, 1, Spread::FlowHash).unwrap();
        net.a[0].inject(&[1; 60]);
        let t = WallClock::now();
        net.b[0].wait(Duration::from_secs(5), None).unwrap();
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        assert_eq!(net.b[0].wakes().slept, 0, "it did not sleep");
    }

    /// Waits until queue `q` of end B says it sleeps in `wait`.
    fn until_asleep(link: &Link, q: usize) {
        let t = WallClock::now();
        while !link.ends[1][q].sleeping.load(Relaxed) {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "the receiver never slept"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_send_and_flush_wake_a_sleeping_receiver() {
        let SimNet { mut a, mut b } = SimNet::new(1, 1, Spread::FlowHash).unwrap();
        let link = a[0].tx.link.clone();
        let mut rx = b.pop().unwrap();
        let sleeper = std::thread::spawn(move || {
            rx.wait(Duration::from_secs(10), None).unwrap();
            (rx.wakes(), drain(&mut rx).len())
        });
        until_asleep(&link, 0);
        let t = WallClock::now();
        a[0].inject(&[1; 60]);
        a[0].flush().unwrap();
        let (wakes, got) = sleeper.join().unwrap();
        assert_eq!(got, 1);
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        // It may have seen the frame before it slept; if it slept, the frame woke it.
        assert_eq!(wakes.timed_out + wakes.by_bell, 0, "{wakes:?}");
    }

    #[test]
    fn the_doorbell_wakes_a_sleeping_receiver() {
        let SimNet { a, mut b } = SimNet::new(1, 1, Spread::FlowHash).unwrap();
        let link = a[0].tx.link.clone();
        let bell = Arc::new(Doorbell::new().unwrap());
        let mut rx = b.pop().unwrap();
        let theirs = bell.clone();
        let sleeper = std::thread::spawn(move || {
            rx.wait(Duration::from_secs(10), Some(&theirs)).unwrap();
            rx.wakes()
        });
        until_asleep(&link, 0);
        let t = WallClock::now();
        bell.ring();
        let wakes = sleeper.join().unwrap();
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert_eq!((wakes.slept, wakes.by_bell), (1, 1), "{wakes:?}");
    }
}
