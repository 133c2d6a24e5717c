//! Nothing allocates per packet on the hot path: after a warm-up, a steady-state run of
//! the load generator over the sim driver — UDP echo against xstack's responder, closed
//! loop, 4 flows; TCP echo ping-pong, 4 connections; HTTP keep-alive, pipelined 4 deep,
//! against a chunked static server; and 4000-byte UDP echo in IPv4 fragments, reassembled
//! and answered in fragments — makes zero heap allocations on the test's thread, counted
//! by a wrapping global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
mod common;

use common::Pair;
use std::sync::Arc;
use std::time::Duration;
use xstack::app::load::engine::UdpLoad;
use xstack::config::{AppProto, LoadConfig};
use xstack::config::{LoadMode, Transport};
use xstack::driver::sim::Faults;
use xstack::driver::{Transmit, Verdict};
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

/// A client that sends a 4000-byte UDP echo request in three IPv4 fragments, built once,
/// and the next (with the next identification) when the three fragments of the reply
/// are back.
struct FragmentingClient {
    frames: Vec<Vec<u8>>,
    ident: u16,
    got: usize,
    replies: u64,
    due: bool,
}

/// The Internet checksum of `b` (RFC 1071).
fn csum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl FragmentingClient {
    fn new(client_mac: [u8; 6], server_mac: [u8; 6]) -> Self {
        let (src, dst) = ([198, 18, 0, 10], [198, 18, 0, 2]);
        let payload: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
        let mut udp = vec![0x9c, 0x40, 0, 7];
        udp.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(&payload);
        let pseudo = [
            &src[..],
            &dst[..],
            &[0, 17],
            &(udp.len() as u16).to_be_bytes(),
        ]
        .concat();
        let c = csum(&[pseudo, udp.clone()].concat());
        udp[6..8].copy_from_slice(&c.to_be_bytes());
        let frames = udp
            .chunks(1480)
            .enumerate()
            .map(|(i, piece)| {
                let mut f = server_mac.to_vec();
                f.extend_from_slice(&client_mac);
                f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
                f.extend_from_slice(&(20 + piece.len() as u16).to_be_bytes());
                let more = if (i + 1) * 1480 < udp.len() {
                    0x2000
                } else {
                    0
                };
                f.extend_from_slice(&[0, 0]);
                f.extend_from_slice(&((i * 1480 / 8) as u16 | more).to_be_bytes());
                f.extend_from_slice(&[64, 17, 0, 0]);
                f.extend_from_slice(&src);
                f.extend_from_slice(&dst);
                f.extend_from_slice(piece);
                f
            })
            .collect();
        FragmentingClient {
            frames,
            ident: 0,
            got: 0,
            replies: 0,
            due: true,
        }
    }
}

impl Engine for FragmentingClient {
    fn on_frame(&mut self, _: Instant, frame: &mut [u8], _: &mut dyn Transmit) -> Verdict {
        let fragment = frame.len() > 34
            && frame[12..14] == [0x08, 0x00]
            && frame[14 + 9] == 17
            && u16::from_be_bytes([frame[14 + 4], frame[14 + 5]]) == self.ident
            && frame[14 + 6..14 + 8] != [0, 0];
        if fragment {
            self.got += 1;
            if self.got == self.frames.len() {
                self.got = 0;
                self.replies += 1;
                self.due = true;
            }
        }
        Verdict::Drop
    }

    fn poll(&mut self, _: Instant, tx: &mut dyn Transmit) {
        if !self.due {
            return;
        }
        self.due = false;
        self.ident = self.ident.wrapping_add(1);
        for f in &mut self.frames {
            f[14 + 4..14 + 6].copy_from_slice(&self.ident.to_be_bytes());
            f[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
            let c = csum(&f[14..34]);
            f[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
            let f = &f[..];
            tx.send_with(&mut |buf| {
                buf[..f.len()].copy_from_slice(f);
                f.len()
            });
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        self.due.then_some(Instant::ZERO)
    }
}

#[test]
fn steady_state_fragmented_udp_echo_allocates_nothing() {
    COUNTING.with(|c| c.set(true));
    let mut pair = Pair::new(
        Faults::default(),
        17,
        |dev| FragmentingClient::new(dev.mac, [0x02, 0, 0, 0, 0, 0x02]),
        |dev| common::stack("198.18.0.2/24", dev.mac, vec![7], None),
    );
    let (allocs, requests) = steady_state(&mut pair, 2_000, |p| p.a.engine.replies);
    let s = pair.b.engine.counters().snapshot();
    assert!(s.ipv4_reassembled >= requests && s.ipv4_fragments_sent >= 3 * requests);
    assert_eq!(
        s.drops_total(),
        0,
        "{:?}",
        s.drops_by_reason().collect::<Vec<_>>()
    );
    assert_eq!(
        allocs, 0,
        "{allocs} allocations for {requests} fragmented datagrams and their replies"
    );
}
