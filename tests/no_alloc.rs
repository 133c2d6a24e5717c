//! Nothing allocates per packet on the hot path: after a warm-up, a steady-state run of
//! the load generator over the sim driver — UDP echo against xstack's responder, closed
//! loop, 4 flows; TCP echo ping-pong, 4 connections; and HTTP keep-alive, pipelined 4
//! deep, against a chunked static server — makes zero heap allocations on the test's
//! thread, counted by a wrapping global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
mod common;

use common::Pair;
use std::sync::Arc;
use std::time::Duration;
use xstack::app::load::engine::UdpLoad;
use xstack::config::{AppProto, LoadConfig};
use xstack::config::{LoadMode, Transport};
use xstack::driver::sim::Faults;
use xstack::metrics::StackCounters;
use xstack::stack::Engine;
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

/// After `warm_up` steps, the allocations and the requests of the next 20 000 steps (at
/// least 5 000 requests, or the test fails).
fn steady_state<A: Engine, B: Engine>(
    pair: &mut Pair<A, B>,
    warm_up: u32,
    requests: impl Fn(&Pair<A, B>) -> u64,
) -> (u64, u64) {
    pair.steps(warm_up);
    let before_requests = requests(pair);
    let before = allocations();
    assert!(before > 0, "the counter sees the warm-up's allocations");
    pair.steps(20_000);
    let allocs = allocations() - before;
    let n = requests(pair) - before_requests;
    assert!(n > 5_000, "only {n} requests in the measured span");
    (allocs, n)
}

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
    let (allocs, requests) = steady_state(&mut pair, 5_000, |p| p.a.engine.app().total().requests);
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
        |dev| common::tcp_load_stack(&cfg, dev.mac),
        |dev| {
            let counters = Arc::new(StackCounters::default());
            common::responder("198.18.0.2/24", dev.mac, vec![7], None, counters)
        },
    );
    // Warm-up: ARP, the handshakes, the buffer caches, the timer heap and the deadline
    // queue reach their working size (the heap holds about one entry per request sent
    // in the last retransmission timeout).
    let (allocs, requests) = steady_state(&mut pair, 60_000, |p| p.a.engine.app().total().requests);
    assert_eq!(
        allocs, 0,
        "{allocs} allocations for {requests} request/response pairs"
    );
}

/// An HTTP server that allocates nothing: it counts "\r\n\r\n" across segments and
/// answers each request head with the same chunked response.
struct StaticHttp;

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n\
      0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
      0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
      0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
      0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n0\r\n\r\n";

impl xstack::stack::App for StaticHttp {
    /// Bytes of "\r\n\r\n" matched so far.
    type Conn = usize;

    fn accept(&mut self, _: Instant, port: u16) -> Option<usize> {
        (port == 80).then_some(0)
    }

    fn readable(&mut self, _: Instant, m: &mut usize, sock: &mut xstack::stack::TcpSocket<'_>) {
        let mut buf = [0u8; 2048];
        loop {
            let n = sock.recv(&mut buf);
            if n == 0 {
                return;
            }
            for &b in &buf[..n] {
                *m = match (b, *m) {
                    (b'\r', 0 | 2) | (b'\n', 1 | 3) => *m + 1,
                    (b'\r', _) => 1,
                    _ => 0,
                };
                if *m == 4 {
                    *m = 0;
                    sock.send(RESPONSE);
                }
            }
        }
    }
}

#[test]
fn steady_state_http_pipelined_keep_alive_allocates_nothing() {
    COUNTING.with(|c| c.set(true));
    let cfg = LoadConfig {
        pipeline: Some(4),
        requests: Some(1_000_000),
        timeout: Duration::from_millis(100),
        ..common::http_load_config("http://198.18.0.2/", LoadMode::PingPong)
    };
    let mut pair = Pair::new(
        Faults::default(),
        13,
        |dev| common::tcp_load_stack(&cfg, dev.mac),
        |dev| common::port_80_stack(dev.mac, StaticHttp),
    );
    let (allocs, requests) = steady_state(&mut pair, 60_000, |p| p.a.engine.app().total().requests);
    assert_eq!(pair.a.engine.app().total().errors.total(), 0);
    assert_eq!(
        allocs, 0,
        "{allocs} allocations for {requests} HTTP requests and responses"
    );
}
