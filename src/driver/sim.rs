//! driver/sim: an in-memory Ethernet link for tests, on virtual time.
//!
//! [`SimLink::pair`] makes two [`SimDevice`]s joined by a link that delays, loses,
//! duplicates, reorders and corrupts frames according to [`Faults`], drawn from a seeded
//! PRNG so every run with the same seed is the same run. Time is a shared [`SimClock`]
//! that the test advances; a frame is delivered once the clock reaches its arrival time.
//!
//! Invariants: no allocation per frame once the link is warm (frame buffers come from a
//! pool and go back to it; the in-flight heap keeps its capacity), so the allocation
//! counting test of the runtime can run on this driver. A reflected frame is moved, not
//! copied, to the other side.
//!
//! [`threaded`] is the other simulated link: multi-queue, on real time, with devices
//! that run on threads of their own, for tests of the worker loop itself.

use super::{
    Device, DeviceInfo, Doorbell, DriverError, DriverKind, DriverStats, Transmit, Verdict,
};
use crate::time::Instant;
use core::time::Duration;
use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;

pub mod threaded;
pub use threaded::{SimNet, Spread, ThreadedSimDevice, Wakes};

/// Virtual time shared by everything in one simulation.
#[derive(Clone, Debug, Default)]
pub struct SimClock(Rc<Cell<Instant>>);

impl SimClock {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn now(&self) -> Instant {
        self.0.get()
    }
    pub fn set(&self, t: Instant) {
        self.0.set(t)
    }
    pub fn advance(&self, d: Duration) {
        self.0.set(self.0.get() + d)
    }
}

/// What the link does to frames. Probabilities are in [0, 1].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// One-way delay of every frame.
    pub latency: Duration,
    pub loss: f64,
    pub duplicate: f64,
    /// A reordered frame is held back by up to `reorder_delay` extra.
    pub reorder: f64,
    pub reorder_delay: Duration,
    /// A corrupted frame has one random byte flipped.
    pub corrupt: f64,
    /// Frames in flight per direction beyond which the link drops (a queue limit).
    pub queue_limit: usize,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency: Duration::from_micros(50),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_micros(200),
            corrupt: 0.0,
            queue_limit: 4096,
        }
    }
}

/// xorshift64*: small, fast and good enough to pick faults.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.next_f64() < p
    }
    /// Uniform in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

struct InFlight {
    at: Instant,
    order: u64,
    frame: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

/// Counts of what the link did, per direction summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub sent: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
    pub queue_drops: u64,
}

struct LinkState {
    clock: SimClock,
    faults: Faults,
    rng: Rng,
    order: u64,
    /// In flight towards end 0 and end 1.
    queues: [BinaryHeap<Reverse<InFlight>>; 2],
    pool: Vec<Vec<u8>>,
    frame_capacity: usize,
    stats: LinkStats,
}

impl LinkState {
    fn buffer(&mut self) -> Vec<u8> {
        match self.pool.pop() {
            Some(mut b) => {
                b.clear();
                b
            }
            None => Vec::with_capacity(self.frame_capacity),
        }
    }

    /// Puts `frame` on the wire towards end `to`, applying the faults.
    fn launch(&mut self, to: usize, frame: Vec<u8>) {
        self.stats.sent += 1;
        let f = self.faults;
        if self.rng.chance(f.loss) {
            self.stats.lost += 1;
            self.pool.push(frame);
            return;
        }
        if self.rng.chance(f.duplicate) {
            let mut copy = self.buffer();
            copy.extend_from_slice(&frame);
            self.stats.duplicated += 1;
            self.enqueue(to, copy);
        }
        self.enqueue(to, frame);
    }

    fn enqueue(&mut self, to: usize, mut frame: Vec<u8>) {
        let f = self.faults;
        if self.queues[to].len() >= f.queue_limit {
            self.stats.queue_drops += 1;
            self.pool.push(frame);
            return;
        }
        if !frame.is_empty() && self.rng.chance(f.corrupt) {
            let i = self.rng.below(frame.len() as u64) as usize;
            frame[i] ^= 1 << self.rng.below(8);
            self.stats.corrupted += 1;
        }
        let mut at = self.clock.now() + f.latency;
        if self.rng.chance(f.reorder) {
            let extra = self.rng.below(f.reorder_delay.as_nanos() as u64 + 1);
            at += Duration::from_nanos(extra);
            self.stats.reordered += 1;
        }
        self.order += 1;
        self.queues[to].push(Reverse(InFlight {
            at,
            order: self.order,
            frame,
        }));
    }
}

/// Factory for a pair of simulated devices.
pub struct SimLink;

impl SimLink {
    /// Two devices joined by one link. End 0 has MAC 02:00:00:00:00:01, end 1 ...:02.
    pub fn pair(clock: &SimClock, faults: Faults, seed: u64) -> (SimDevice, SimDevice) {
        let frame_capacity = 2048;
        let state = Rc::new(RefCell::new(LinkState {
            clock: clock.clone(),
            faults,
            rng: Rng::new(seed),
            order: 0,
            queues: [
                BinaryHeap::with_capacity(faults.queue_limit),
                BinaryHeap::with_capacity(faults.queue_limit),
            ],
            pool: Vec::new(),
            frame_capacity,
            stats: LinkStats::default(),
        }));
        let dev = |end: usize| SimDevice {
            info: DeviceInfo {
                name: format!("sim{end}"),
                kind: DriverKind::Sim,
                mac: [0x02, 0, 0, 0, 0, end as u8 + 1],
                mtu: 1500,
                frame_capacity,
                queue: 0,
            },
            end,
            tx: SimTx {
                state: state.clone(),
                to: 1 - end,
                scratch: vec![0; frame_capacity],
                sent: 0,
            },
            stats: DriverStats::default(),
        };
        (dev(0), dev(1))
    }
}

/// The transmit half of a [`SimDevice`].
pub struct SimTx {
    state: Rc<RefCell<LinkState>>,
    to: usize,
    scratch: Vec<u8>,
    sent: u64,
}

impl Transmit for SimTx {
    fn frame_capacity(&self) -> usize {
        self.scratch.len()
    }

    fn send_with(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let len = build(&mut self.scratch).min(self.scratch.len());
        if len > 0 {
            let mut st = self.state.borrow_mut();
            let mut frame = st.buffer();
            frame.extend_from_slice(&self.scratch[..len]);
            st.launch(self.to, frame);
            self.sent += 1;
        }
        true
    }
}

/// One end of a [`SimLink`].
pub struct SimDevice {
    info: DeviceInfo,
    end: usize,
    tx: SimTx,
    stats: DriverStats,
}

impl SimDevice {
    /// When the next frame for this end arrives, if any is in flight.
    pub fn next_arrival(&self) -> Option<Instant> {
        let st = self.tx.state.borrow();
        st.queues[self.end].peek().map(|Reverse(f)| f.at)
    }

    /// Puts a raw frame on the wire towards the other end, as if this end sent it.
    pub fn inject(&mut self, frame: &[u8]) {
        self.tx.send_with(&mut |buf| {
            buf[..frame.len()].copy_from_slice(frame);
            frame.len()
        });
    }

    pub fn link_stats(&self) -> LinkStats {
        self.tx.state.borrow().stats
    }

    /// Changes the faults of the whole link from now on.
    pub fn set_faults(&self, faults: Faults) {
        self.tx.state.borrow_mut().faults = faults;
    }

    /// Sets the MAC address this device reports.
    pub fn set_mac(&mut self, mac: [u8; 6]) {
        self.info.mac = mac;
    }
}

impl Device for SimDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn receive(
        &mut self,
        budget: usize,
        handler: &mut dyn FnMut(&mut [u8], &mut dyn Transmit) -> Verdict,
    ) -> Result<usize, DriverError> {
        let mut n = 0;
        while n < budget {
            let mut frame = {
                let mut st = self.tx.state.borrow_mut();
                let now = st.clock.now();
                match st.queues[self.end].peek() {
                    Some(Reverse(f)) if f.at <= now => {}
                    _ => break,
                }
                let Some(Reverse(f)) = st.queues[self.end].pop() else {
                    break;
                };
                st.stats.delivered += 1;
                f.frame
            };
            n += 1;
            self.stats.rx_frames += 1;
            match handler(&mut frame, &mut self.tx) {
                Verdict::Drop => self.tx.state.borrow_mut().pool.push(frame),
                Verdict::Reflect(len) => {
                    frame.truncate(len);
                    self.tx.sent += 1;
                    self.tx.state.borrow_mut().launch(self.tx.to, frame);
                }
            }
        }
        Ok(n)
    }

    fn transmitter(&mut self) -> &mut dyn Transmit {
        &mut self.tx
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        Ok(())
    }

    fn wait(&mut self, _timeout: Duration, _bell: Option<&Doorbell>) -> Result<(), DriverError> {
        Ok(())
    }

    fn stats(&self) -> DriverStats {
        DriverStats {
            tx_frames: self.tx.sent,
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames_received(dev: &mut SimDevice) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        dev.receive(usize::MAX, &mut |f, _| {
            got.push(f.to_vec());
            Verdict::Drop
        })
        .unwrap();
        got
    }

    #[test]
    fn frames_arrive_after_the_latency_in_order() {
        let clock = SimClock::new();
        let (mut a, mut b) = SimLink::pair(&clock, Faults::default(), 1);
        for i in 0..10u8 {
            a.inject(&[i; 60]);
        }
        assert!(
            frames_received(&mut b).is_empty(),
            "nothing before the latency"
        );
        assert_eq!(
            b.next_arrival(),
            Some(Instant::ZERO + Duration::from_micros(50))
        );
        clock.advance(Duration::from_micros(50));
        let got = frames_received(&mut b);
        assert_eq!(got.len(), 10);
        for (i, f) in got.iter().enumerate() {
            assert_eq!(f, &vec![i as u8; 60]);
        }
    }

    #[test]
    fn reflect_sends_the_same_frame_back() {
        let clock = SimClock::new();
        let (mut a, mut b) = SimLink::pair(&clock, Faults::default(), 1);
        a.inject(&[7u8; 100]);
        clock.advance(Duration::from_millis(1));
        b.receive(8, &mut |f, _| {
            f[0] = 9;
            Verdict::Reflect(50)
        })
        .unwrap();
        clock.advance(Duration::from_millis(1));
        let got = frames_received(&mut a);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), 50);
        assert_eq!(got[0][0], 9);
    }

    #[test]
    fn faults_are_reproducible_from_the_seed() {
        let run = |seed| {
            let clock = SimClock::new();
            let faults = Faults {
                loss: 0.2,
                duplicate: 0.1,
                reorder: 0.3,
                corrupt: 0.1,
                ..Faults::default()
            };
            let (mut a, mut b) = SimLink::pair(&clock, faults, seed);
            for i in 0..1000u32 {
                a.inject(&i.to_be_bytes());
            }
            clock.advance(Duration::from_secs(1));
            (frames_received(&mut b), a.link_stats())
        };
        let (f1, s1) = run(42);
        let (f2, s2) = run(42);
        assert_eq!(f1, f2);
        assert_eq!(s1, s2);
        assert!(s1.lost > 100 && s1.lost < 300, "{s1:?}");
        assert!(s1.duplicated > 0 && s1.reordered > 0 && s1.corrupted > 0);
        assert_eq!(f1.len() as u64, s1.sent - s1.lost + s1.duplicated);
        let (f3, _) = run(43);
        assert_ne!(f1, f3);
    }

    #[test]
    fn queue_limit_drops_the_excess() {
        let clock = SimClock::new();
        let faults = Faults {
            queue_limit: 5,
            ..Faults::default()
        };
        let (mut a, mut b) = SimLink::pair(&clock, faults, 1);
        for _ in 0..8 {
            a.inject(&[1; 10]);
        }
        clock.advance(Duration::from_millis(1));
        assert_eq!(frames_received(&mut b).len(), 5);
        assert_eq!(a.link_stats().queue_drops, 3);
    }
}
