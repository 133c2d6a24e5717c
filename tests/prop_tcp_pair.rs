//! Property tests of TCP between two whole stacks (tier 3): a client `Stack` that opens a
//! connection and a server `Stack` that accepts it, each sending its own bytes and
//! reading the other's, over a link whose fate for every frame, in each direction, is
//! drawn by proptest: delivered, lost, duplicated, delayed past later frames (reordered)
//! or corrupted (one bit of the IP packet flipped). A schedule is finite (the frames after
//! it are delivered) and loses at most 16 frames in one direction, while the stacks here
//! retry 40 times, so that every schedule must end in a completed transfer; proptest
//! shrinks a failing one to the shortest it can find.
//!
//! Each case asserts: both byte streams arrive exact; both connections close by the FIN
//! exchange (never by RST or timeout), each application hearing `closed` once; after
//! TIME_WAIT, in virtual time, neither connection table holds anything; the heap the
//! test's thread holds beyond what it held before the connection opened stays under a
//! bound that does not grow with the bytes moved or the time taken; and the run ends
//! within a bounded number of steps (a livelock fails instead of hanging). One property
//! has the server stop reading part way, and stay stopped for minutes of virtual time
//! once its window has closed: the client's window probes must keep the connection
//! alive (no reset, no timeout) until it reads again.
//!
//! `PROP_TCP_CASES=N` runs N cases of each property (defaults: 256 and 64, half a second
//! in a release build); `PROP_TCP_TRACE=1` draws both stacks' ladders (`--trace`) on
//! stderr, for a failing case; `PROP_TCP_SHOW=1` prints each case's outcome (virtual
//! time, steps, heap growth, frames in flight, window probes).

use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use xstack::config::AddrSet;
use xstack::driver::{Transmit, Verdict};
use xstack::metrics::StackCounters;
use xstack::proto::tcp::{CloseReason, State, TcpConfig};
use xstack::stack::{App, ConnId, Engine, Net, Secrets, Stack, StackConfig, TcpSocket};
use xstack::time::Instant;
use xstack::wire::EthernetAddress;

// ---- the heap the test's thread holds ----

struct Counting;

thread_local! {
    /// Bytes this thread holds (allocated minus freed) and the most it held since the
    /// last `reset_peak`. Thread-local: tests run in parallel on the harness's threads.
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn grow(n: i64) {
    LIVE.with(|l| {
        let v = l.get() + n;
        l.set(v);
        PEAK.with(|p| p.set(p.get().max(v)));
    });
}

fn live() -> i64 {
    LIVE.with(|l| l.get())
}

fn peak() -> i64 {
    PEAK.with(|p| p.get())
}

fn reset_peak() {
    PEAK.with(|p| p.set(live()));
}

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        grow(l.size() as i64);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        grow(-(l.size() as i64));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        grow(n as i64 - l.size() as i64);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---- the link ----

/// What the link does to one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Deliver,
    Lose,
    Duplicate,
    /// Held back this many microseconds past the latency: later frames overtake it.
    Delay(u32),
    /// One bit flipped in the IP packet: (byte index modulo its length, bit). Not in
    /// the Ethernet header: on a real link the frame check sequence drops a frame
    /// damaged on the wire, so what reaches a stack damaged was damaged past the link
    /// layer, which the IP, TCP and UDP checksums are there to catch.
    Corrupt(u16, u8),
}

const LATENCY: Duration = Duration::from_micros(500);
/// A schedule loses (or corrupts) at most this many frames in one direction. Every
/// failed try of a segment (or a window probe) needs a loss one way or the other, so no
/// segment fails more than twice this, and the stacks here retry more often than that
/// (`RETRIES`): every schedule must end in a completed transfer.
const MAX_LOST: usize = 16;
const RETRIES: u32 = 2 * MAX_LOST as u32 + 8;

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        10 => Just(Fate::Deliver),
        2 => Just(Fate::Lose),
        1 => Just(Fate::Duplicate),
        2 => (0u32..30_000).prop_map(Fate::Delay),
        1 => (any::<u16>(), 0u8..8).prop_map(|(i, b)| Fate::Corrupt(i, b)),
    ]
}

/// A schedule for one direction: up to `len` fates, the losses past [`MAX_LOST`] made
/// deliveries.
fn schedule(len: usize) -> impl Strategy<Value = Vec<Fate>> {
    prop::collection::vec(fate(), 0..len).prop_map(|mut s| {
        let mut lost = 0;
        for f in &mut s {
            if matches!(f, Fate::Lose | Fate::Corrupt(..)) {
                lost += 1;
                if lost > MAX_LOST {
                    *f = Fate::Deliver;
                }
            }
        }
        s
    })
}

/// Two directions: 0 towards the server, 1 towards the client.
struct Link {
    schedules: [Vec<Fate>; 2],
    sent: [usize; 2],
    order: u64,
    /// In flight: (arrival, order) -> (direction, frame).
    flight: BTreeMap<(Instant, u64), (usize, Vec<u8>)>,
    most_in_flight: usize,
}

impl Link {
    fn launch(&mut self, now: Instant, dir: usize, mut frame: Vec<u8>) {
        assert!(
            frame.len() <= 1514,
            "a {}-byte frame on a 1500-byte MTU",
            frame.len()
        );
        let fate = self.schedules[dir]
            .get(self.sent[dir])
            .copied()
            .unwrap_or(Fate::Deliver);
        self.sent[dir] += 1;
        let mut at = now + LATENCY;
        let copies = match fate {
            Fate::Lose => 0,
            Fate::Deliver => 1,
            Fate::Duplicate => 2,
            Fate::Delay(us) => {
                at += Duration::from_micros(u64::from(us));
                1
            }
            Fate::Corrupt(i, bit) => {
                let i = 14 + usize::from(i) % frame.len().saturating_sub(14).max(1);
                if let Some(b) = frame.get_mut(i) {
                    *b ^= 1 << bit;
                }
                1
            }
        };
        for _ in 0..copies {
            self.order += 1;
            self.flight.insert((at, self.order), (dir, frame.clone()));
        }
        self.most_in_flight = self.most_in_flight.max(self.flight.len());
    }

    fn next_arrival(&self) -> Option<Instant> {
        self.flight.keys().next().map(|k| k.0)
    }

    /// The frames due by `now` towards direction `dir`'s end, in arrival order.
    fn due(&mut self, now: Instant, dir: usize) -> Vec<Vec<u8>> {
        let keys: Vec<_> = self
            .flight
            .iter()
            .filter(|(k, v)| k.0 <= now && v.0 == dir)
            .map(|(k, _)| *k)
            .take(64)
            .collect();
        keys.iter()
            .filter_map(|k| self.flight.remove(k))
            .map(|(_, f)| f)
            .collect()
    }
}

/// The transmit side of one end: what it sends goes on the link in direction `dir`.
struct Tx<'a> {
    link: &'a mut Link,
    dir: usize,
    now: Instant,
    scratch: Vec<u8>,
}

impl Transmit for Tx<'_> {
    fn frame_capacity(&self) -> usize {
        self.scratch.len()
    }

    fn send_with(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let n = build(&mut self.scratch).min(self.scratch.len());
        if n > 0 {
            let f = self.scratch[..n].to_vec();
            self.link.launch(self.now, self.dir, f);
        }
        true
    }
}

// ---- the applications ----

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PORT: u16 = 5001;
/// Bytes waiting in the receive buffer (64 KiB, `TcpConfig`'s default) at which a
/// stalled receiver's window counts as closed: less than 4 segments' room left.
const WINDOW_CLOSED: usize = 64 * 1024 - 4 * 1460;

fn pattern(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(seed) ^ (i >> 9) as u8)
        .collect()
}

/// One connection, as its application sees it.
struct Flow {
    sent: usize,
    received: Vec<u8>,
    closing: bool,
    /// The state the connection was in when the application last heard of it.
    last_state: Option<State>,
    /// The handshake completed (`connected`).
    established: bool,
}

/// How a receiver stops reading: once it has read `after` bytes, until `stall` has
/// passed since its receive buffer filled (its window closed).
#[derive(Clone, Copy, Debug)]
struct Stall {
    after: usize,
    stall: Duration,
}

/// Where a stalled receiver is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reading {
    On,
    /// Stopped; the window has not closed yet.
    Stopped,
    /// Stopped, and the window closed at the first instant: reading resumes at the second.
    Closed(Instant, Instant),
    /// Read again after a stall: (when the window closed, when reading resumed).
    Resumed(Instant, Instant),
}

/// Sends `data` on its one connection (the client opens it), closes once all is
/// written, and reads everything the peer sends, but for a `stall`.
struct Peer {
    client: bool,
    data: Arc<Vec<u8>>,
    expect: usize,
    stall: Option<Stall>,
    reading: Reading,
    connecting: bool,
    conns: Vec<ConnId>,
    closed: Vec<(CloseReason, Flow)>,
    scratch: Vec<u8>,
    /// The connection's state, made up front so that its receive vector is not counted
    /// as heap the stacks took.
    spare: Option<Flow>,
}

impl Peer {
    fn new(client: bool, data: Vec<u8>, expect: usize, stall: Option<Stall>) -> Peer {
        Peer {
            client,
            data: Arc::new(data),
            expect,
            stall,
            reading: Reading::On,
            connecting: client,
            conns: Vec::new(),
            closed: Vec::with_capacity(1),
            scratch: vec![0; 16384],
            spare: Some(Flow {
                sent: 0,
                received: Vec::with_capacity(expect),
                closing: false,
                last_state: None,
                established: false,
            }),
        }
    }

    fn flow(&mut self) -> Flow {
        self.spare.take().unwrap_or(Flow {
            sent: 0,
            received: Vec::with_capacity(self.expect),
            closing: false,
            last_state: None,
            established: false,
        })
    }

    /// Reads what there is, but not past `limit` bytes in all.
    fn read(scratch: &mut [u8], flow: &mut Flow, sock: &mut TcpSocket<'_>, limit: usize) {
        loop {
            let room = limit.saturating_sub(flow.received.len()).min(scratch.len());
            let n = sock.recv(&mut scratch[..room]);
            if n == 0 {
                break;
            }
            flow.received.extend_from_slice(&scratch[..n]);
        }
    }

    fn write(data: &[u8], flow: &mut Flow, sock: &mut TcpSocket<'_>) {
        if flow.sent < data.len() {
            flow.sent += sock.send(&data[flow.sent..]);
        }
        if flow.sent == data.len() && !flow.closing {
            sock.close();
            flow.closing = true;
        }
    }
}

impl App for Peer {
    type Conn = Flow;

    fn accept(&mut self, _: Instant, port: u16) -> Option<Flow> {
        (!self.client && port == PORT).then(|| self.flow())
    }

    fn connected(&mut self, _: Instant, flow: &mut Flow, sock: &mut TcpSocket<'_>) {
        flow.established = true;
        self.conns.push(sock.id());
        Peer::write(&self.data, flow, sock);
    }

    fn readable(&mut self, now: Instant, flow: &mut Flow, sock: &mut TcpSocket<'_>) {
        flow.last_state = Some(sock.state());
        match (self.reading, self.stall) {
            (Reading::On, Some(st)) => {
                Peer::read(&mut self.scratch, flow, sock, st.after);
                if flow.received.len() >= st.after {
                    self.reading = Reading::Stopped;
                }
            }
            (Reading::Stopped, Some(st)) if sock.recv_available() >= WINDOW_CLOSED => {
                self.reading = Reading::Closed(now, now + st.stall);
            }
            (Reading::Stopped | Reading::Closed(..), _) => {}
            _ => Peer::read(&mut self.scratch, flow, sock, usize::MAX),
        }
    }

    fn writable(&mut self, _: Instant, flow: &mut Flow, sock: &mut TcpSocket<'_>) {
        flow.last_state = Some(sock.state());
        Peer::write(&self.data, flow, sock);
    }

    fn closed(&mut self, _: Instant, _: ConnId, flow: Flow, reason: CloseReason) {
        self.closed.push((reason, flow));
    }

    fn poll(&mut self, now: Instant, net: &mut Net<'_, Flow>) {
        if self.connecting {
            let to = SocketAddr::new(IpAddr::V4(SERVER_IP), PORT);
            let flow = self.flow();
            net.connect(to, flow).expect("connect");
            self.connecting = false;
        }
        if let Reading::Closed(closed, resume) = self.reading {
            if now >= resume {
                // The stall is over: read what waited (reading reopens the window).
                self.reading = Reading::Resumed(closed, now);
                for &id in &self.conns {
                    if let Some((mut sock, flow)) = net.socket(id) {
                        Peer::read(&mut self.scratch, flow, &mut sock, usize::MAX);
                    }
                }
            }
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        if self.connecting {
            return Some(Instant::ZERO);
        }
        match self.reading {
            Reading::Closed(_, resume) => Some(resume),
            _ => None,
        }
    }
}

fn stack(ip: &str, mac: [u8; 6], listen: Vec<u16>, app: Peer) -> Stack<Peer> {
    let cfg = StackConfig {
        tcp_listen: listen,
        tcp_capacity: 64,
        gratuitous_arp: false,
        tcp: TcpConfig {
            max_retries: RETRIES,
            syn_retries: RETRIES,
            ..TcpConfig::default()
        },
        ..StackConfig::new(
            AddrSet::parse_all(&[ip]).unwrap(),
            mac,
            Secrets::from_seed(3),
        )
    };
    Stack::new(cfg, Arc::new(StackCounters::default()), app)
}

// ---- one run ----

struct Case {
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    schedules: [Vec<Fate>; 2],
    /// How the server stops reading, if it does.
    stall: Option<Stall>,
}

struct Outcome {
    took: Duration,
    heap_growth: i64,
    most_in_flight: usize,
    window_probes: u64,
    /// Connections whose TIME_WAIT a RST ended (see `run`).
    rsts_in_time_wait: u64,
    /// Where the server's reading ended up.
    reading: Reading,
    steps: u32,
}

/// Heap the two stacks and the link may hold beyond what they held before the
/// connection opened: both connections' buffers (64 KiB each way, as `TcpConfig`'s
/// defaults), a window's worth of frames in flight each way, with room for duplicates,
/// and the heaps and lists the endpoints grow to their high-water mark.
const HEAP_BOUND: i64 = 2 << 20;
const MAX_STEPS: u32 = 400_000;

fn run(case: &Case) -> Outcome {
    let start = Instant::ZERO;
    let (a, b) = (case.to_server.len(), case.to_client.len());
    let mut client = stack(
        "198.18.0.1/24",
        CLIENT_MAC,
        vec![],
        Peer::new(true, case.to_server.clone(), b, None),
    );
    let mut server = stack(
        "198.18.0.2/24",
        SERVER_MAC,
        vec![PORT],
        Peer::new(false, case.to_client.clone(), a, case.stall),
    );
    // Resolved already: the property is about TCP (ARP has its own retry limit).
    client
        .arp_cache()
        .insert(SERVER_IP, EthernetAddress(SERVER_MAC), start);
    server
        .arp_cache()
        .insert(CLIENT_IP, EthernetAddress(CLIENT_MAC), start);
    let mut link = Link {
        schedules: case.schedules.clone(),
        sent: [0, 0],
        order: 0,
        flight: BTreeMap::new(),
        most_in_flight: 0,
    };
    let scratch = vec![0u8; 2048];
    let mut tx_scratch = [scratch.clone(), scratch];
    if std::env::var("PROP_TCP_TRACE").is_ok() {
        client = client.with_tracer(xstack::stack::trace::Tracer::stderr());
        server = server.with_tracer(xstack::stack::trace::Tracer::stderr());
    }
    let base = live();
    reset_peak();
    let mut now = start;
    let done = |c: &Stack<Peer>, s: &Stack<Peer>| {
        !c.app().closed.is_empty()
            && !s.app().closed.is_empty()
            && c.tcp_connections() == 0
            && s.tcp_connections() == 0
    };
    let mut steps = 0;
    while !done(&client, &server) {
        steps += 1;
        assert!(
            steps < MAX_STEPS,
            "no end after {steps} steps, at {now}: client holds {} connections, closed {:?}, got {}/{b}; server holds {}, closed {:?}, got {}/{a}; {} frames in flight",
            client.tcp_connections(),
            client.app().closed.iter().map(|c| c.0).collect::<Vec<_>>(),
            client.app().closed.first().map_or(0, |c| c.1.received.len()),
            server.tcp_connections(),
            server.app().closed.iter().map(|c| c.0).collect::<Vec<_>>(),
            server.app().closed.first().map_or(0, |c| c.1.received.len()),
            link.flight.len()
        );
        // Each end as the worker loop runs it: the frames that have arrived, then poll.
        for (end, engine) in [(0usize, &mut server), (1, &mut client)] {
            let out = 1 - end;
            let mut tx = Tx {
                link: &mut link,
                dir: out,
                now,
                scratch: core::mem::take(&mut tx_scratch[end]),
            };
            let frames = tx.link.due(now, end);
            for mut f in frames {
                if let Verdict::Reflect(n) = engine.on_frame(now, &mut f, &mut tx) {
                    f.truncate(n);
                    tx.link.launch(now, out, f);
                }
            }
            engine.poll(now, &mut tx);
            tx_scratch[end] = tx.scratch;
        }
        let next = [link.next_arrival(), client.poll_at(), server.poll_at()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + Duration::from_secs(1));
        now = next
            .max(now + Duration::from_micros(1))
            .min(now + Duration::from_secs(1));
    }
    let growth = peak() - base;
    let mut rsts_in_time_wait = 0;
    for (who, s, want) in [
        ("client", &client, &case.to_client),
        ("server", &server, &case.to_server),
    ] {
        // One connection moved the data. On the server, a SYN the link delayed or
        // duplicated may arrive after that connection has closed and open another,
        // which never completes its handshake (the client has no connection, or holds
        // the 4-tuple in TIME_WAIT) and must end by RST or by giving up; such "ghosts"
        // are the TCP of RFC 9293, and RFC 1337 describes what they do to TIME_WAIT.
        let (real, ghosts): (Vec<_>, Vec<_>) =
            s.app().closed.iter().partition(|(_, f)| f.established);
        assert_eq!(real.len(), 1, "the {who} had {} connections", real.len());
        assert!(who == "server" || ghosts.is_empty(), "the client's ghosts");
        for (reason, _) in &ghosts {
            assert_ne!(*reason, CloseReason::Fin, "a half-open ghost closed by FIN");
        }
        let (reason, flow) = real[0];
        // A RST may end TIME_WAIT once both FINs were exchanged and acknowledged: a
        // duplicate of the last ACK reaching the other end after it closed (answered, as
        // a segment for no connection, by a RST: RFC 9293 §3.10.7.1), or a ghost's
        // RST; TIME_WAIT accepts a RST at RCV.NXT (§3.10.7.4, the "assassination" of
        // RFC 1337, which Linux also allows by default). Nothing else may end by RST.
        let assassinated = *reason == CloseReason::Rst && flow.last_state == Some(State::TimeWait);
        assert!(
            *reason == CloseReason::Fin || assassinated,
            "the {who}'s connection ended by {reason:?}, last seen in {:?}",
            flow.last_state
        );
        rsts_in_time_wait += u64::from(assassinated);
        assert!(
            flow.received == **want,
            "the {who} got {} bytes, not the {} sent, or not the same ones",
            flow.received.len(),
            want.len()
        );
        let c = s.counters().snapshot();
        assert_eq!(c.tcp_table_inserted, c.tcp_table_removed, "{who}'s table");
        let closes = c.tcp_closed_fin + c.tcp_closed_rst + c.tcp_closed_timeout;
        assert_eq!(closes, 1 + ghosts.len() as u64, "{who}'s closes");
        assert!(c.tcp_closed_timeout <= ghosts.len() as u64, "{who} gave up");
    }
    Outcome {
        took: now.saturating_since(start),
        heap_growth: growth,
        most_in_flight: link.most_in_flight,
        window_probes: client.counters().snapshot().tcp_window_probes,
        rsts_in_time_wait,
        reading: server.app().reading,
        steps,
    }
}

fn cases(default: u32) -> u32 {
    std::env::var("PROP_TCP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn check_bounds(o: &Outcome) -> Result<(), TestCaseError> {
    if std::env::var("PROP_TCP_SHOW").is_ok() {
        eprintln!(
            "took {:?} in {} steps, heap {}, in flight {}, probes {}, RST in TIME_WAIT {}",
            o.took, o.steps, o.heap_growth, o.most_in_flight, o.window_probes, o.rsts_in_time_wait
        );
    }
    prop_assert!(
        o.heap_growth < HEAP_BOUND,
        "the heap grew by {} bytes during the transfer (bound {HEAP_BOUND})",
        o.heap_growth
    );
    // A window each way (64 KiB, about 45 full segments) and their ACKs, duplicated.
    prop_assert!(
        o.most_in_flight < 400,
        "{} frames in flight",
        o.most_in_flight
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    // Random schedules of loss, duplication, reordering and corruption in both
    // directions: both streams exact, both ends closed by FIN, both tables empty after
    // TIME_WAIT, the heap bounded.
    #[test]
    fn transfers_both_ways_survive_any_schedule(
        to_server in 0usize..150_000,
        to_client in 0usize..150_000,
        up in schedule(400),
        down in schedule(400),
    ) {
        let case = Case {
            to_server: pattern(7, to_server),
            to_client: pattern(13, to_client),
            schedules: [up, down],
            stall: None,
        };
        let o = run(&case);
        check_bounds(&o)?;
        prop_assert!(o.rsts_in_time_wait <= 1, "both ends reset");
        // TIME_WAIT (60 s) passed in virtual time before the tables emptied, unless a
        // RST ended it.
        prop_assert!(
            o.took >= Duration::from_secs(60) || o.rsts_in_time_wait > 0,
            "done after {:?}",
            o.took
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    // RFC 9293 §3.8.6.1: the server stops reading for minutes; its window closes, the
    // client probes it (persist timer, backing off to RTO max), and neither end resets
    // or gives up; when the server reads again, the transfer completes.
    #[test]
    fn a_receiver_that_stops_reading_for_minutes_keeps_the_connection(
        to_server in 200_000usize..400_000,
        to_client in 0usize..20_000,
        after in 0usize..50_000,
        stall_s in 60u64..600,
        up in schedule(150),
        down in schedule(150),
    ) {
        let stall = Duration::from_secs(stall_s);
        let case = Case {
            to_server: pattern(7, to_server),
            to_client: pattern(13, to_client),
            schedules: [up, down],
            stall: Some(Stall { after, stall }),
        };
        let o = run(&case);
        check_bounds(&o)?;
        // The window closed and stayed closed for the whole stall, with data waiting:
        // the client probed it.
        let Reading::Resumed(closed, resumed) = o.reading else {
            return Err(TestCaseError::fail(format!("the stall never began: {:?}", o.reading)));
        };
        prop_assert!(resumed.saturating_since(closed) >= stall);
        prop_assert!(o.window_probes > 0, "no window probe during a {stall_s} s stall");
    }
}
