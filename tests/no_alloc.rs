//! Nothing allocates per packet on the hot path: after a warm-up, a steady-state run of
//! the load generator against xstack's responder (UDP echo, closed loop, 4 flows) over the
//! sim driver makes zero heap allocations, counted by a wrapping global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
mod common;

use std::time::Duration;
use xstack::app::load::engine::UdpLoad;
use xstack::config::{AppProto, LoadConfig};
use xstack::driver::sim::{Faults, SimClock, SimLink};
use xstack::driver::Device;
use xstack::stack::{Engine, Stack};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Only the test's own thread is counted: the test harness allocates on its threads
    /// at any time.
    static COUNTING: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

fn count() {
    if COUNTING.with(|c| c.get()) {
        ALLOCS.fetch_add(1, Relaxed);
    }
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_udp_echo_allocates_nothing() {
    COUNTING.with(|c| c.set(true));
    let clock = SimClock::new();
    let (mut cdev, mut sdev) = SimLink::pair(&clock, Faults::default(), 9);
    let mut server = common::stack("198.18.0.2/24", sdev.info().mac, vec![7], None);
    let cfg = LoadConfig {
        size: 512,
        requests: Some(200_000),
        timeout: Duration::from_millis(100),
        ..common::load_config(7, AppProto::Echo)
    };
    let mut load = common::stack_with(
        "198.18.0.10/24",
        cdev.info().mac,
        vec![],
        None,
        UdpLoad::new(&cfg, clock.now()),
    );
    let mut step = |n: u32, load: &mut Stack<UdpLoad>| {
        for _ in 0..n {
            let now = clock.now();
            cdev.receive(64, &mut |f, tx| load.on_frame(now, f, tx))
                .unwrap();
            load.poll(now, cdev.transmitter());
            sdev.receive(64, &mut |f, tx| server.handle_frame(now, f, tx))
                .unwrap();
            server.poll(now, sdev.transmitter());
            clock.advance(Duration::from_micros(10));
        }
    };
    // Warm-up: ARP, buffer pools and queues reach their working size.
    step(5_000, &mut load);
    let before_requests = load.app().total().requests;
    let before = ALLOCS.load(Relaxed);
    assert!(before > 0, "the counter sees the warm-up's allocations");
    step(20_000, &mut load);
    let allocs = ALLOCS.load(Relaxed) - before;
    let requests = load.app().total().requests - before_requests;
    assert!(
        requests > 5_000,
        "only {requests} requests in the measured span"
    );
    assert_eq!(
        allocs, 0,
        "{allocs} allocations for {requests} request/reply pairs"
    );
}
