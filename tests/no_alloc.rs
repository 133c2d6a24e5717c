//! Nothing allocates per packet on the hot path: after a warm-up, a steady-state run of
//! the load generator against xstack's responder over the sim driver — UDP echo, closed
//! loop, 4 flows; and TCP echo ping-pong, 4 connections — makes zero heap allocations on
//! the test's thread, counted by a wrapping global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
mod common;

use common::Pair;
use std::sync::Arc;
use std::time::Duration;
use xstack::app::load::engine::UdpLoad;
use xstack::app::load::tcp::TcpLoad;
use xstack::config::{AppProto, LoadConfig};
use xstack::config::{LoadMode, Transport};
use xstack::driver::sim::Faults;
use xstack::metrics::StackCounters;
use xstack::stack::{Stack, StackConfig};
use xstack::time::Instant;

struct Counting;

thread_local! {
    /// Only a test's own thread is counted, and each test counts its own: the test
    /// harness allocates on its threads at any time, and tests run in parallel.
    static COUNTING: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
    static ALLOCS: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
}

fn count() {
    if COUNTING.with(|c| c.get()) {
        ALLOCS.with(|a| a.set(a.get() + 1));
    }
}

fn allocations() -> u64 {
    ALLOCS.with(|a| a.get())
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
    let cfg = LoadConfig {
        size: 512,
        requests: Some(200_000),
        timeout: Duration::from_millis(100),
        ..common::load_config(7, AppProto::Echo)
    };
    let mut pair = Pair::new(
        Faults::default(),
        9,
        |dev| {
            let app = UdpLoad::new(&cfg, Instant::ZERO);
            common::stack_with("198.18.0.10/24", dev.mac, vec![], None, app)
        },
        |dev| common::stack("198.18.0.2/24", dev.mac, vec![7], None),
    );
    // Warm-up: ARP, buffer pools and queues reach their working size.
    pair.steps(5_000);
    let before_requests = pair.a.engine.app().total().requests;
    let before = allocations();
    assert!(before > 0, "the counter sees the warm-up's allocations");
    pair.steps(20_000);
    let allocs = allocations() - before;
    let requests = pair.a.engine.app().total().requests - before_requests;
    assert!(
        requests > 5_000,
        "only {requests} requests in the measured span"
    );
    assert_eq!(
        allocs, 0,
        "{allocs} allocations for {requests} request/reply pairs"
    );
}

#[test]
fn steady_state_tcp_pingpong_allocates_nothing() {
    COUNTING.with(|c| c.set(true));
    let cfg = LoadConfig {
        transport: Transport::Tcp,
        mode: LoadMode::PingPong,
        size: 512,
        requests: Some(1_000_000),
        timeout: Duration::from_millis(100),
        ..common::load_config(7, AppProto::Echo)
    };
    let mut pair = Pair::new(
        Faults::default(),
        11,
        |dev| {
            let app = TcpLoad::new(&cfg, Instant::ZERO);
            Stack::new(
                StackConfig {
                    tcp: app.tcp_config(),
                    ..common::config("198.18.0.10/24", dev.mac, vec![], None)
                },
                Arc::new(StackCounters::default()),
                app,
            )
        },
        |dev| {
            let counters = Arc::new(StackCounters::default());
            common::responder("198.18.0.2/24", dev.mac, vec![7], None, counters)
        },
    );
    // Warm-up: ARP, the handshakes, the buffer caches, the timer heap and the deadline
    // queue reach their working size (the heap holds about one entry per request sent
    // in the last retransmission timeout).
    pair.steps(60_000);
    let before_requests = pair.a.engine.app().total().requests;
    let before = allocations();
    assert!(before > 0, "the counter sees the warm-up's allocations");
    pair.steps(20_000);
    let allocs = allocations() - before;
    let requests = pair.a.engine.app().total().requests - before_requests;
    assert!(
        requests > 5_000,
        "only {requests} requests in the measured span"
    );
    assert_eq!(
        allocs, 0,
        "{allocs} allocations for {requests} request/response pairs"
    );
}
