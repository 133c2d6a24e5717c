//! Tier 3 on real time: the worker loop itself. Threads run `runtime::run_worker` —
//! receive a batch, hand frames to their owners through the steering mesh, poll, flush,
//! sleep in the device's `wait` with the doorbell — on the threaded simulated link
//! (`driver::sim::SimNet`), whose flow hash puts a share of the frames on a queue whose
//! worker does not own the flow. Two `serve` workers (`SteerRule::ByArrival`, the
//! default, with the owner map; or `SteerRule::ByPeer`, the older rule) answer one or two
//! `load` workers (`SteerRule::ByLocalPort`), or a client scripted frame by frame, built
//! as the launcher builds them.
//!
//! Every run is bounded in wall time: a watchdog stops the workers after [`WATCHDOG`]
//! and fails the test with what they counted, instead of hanging. The tests take turns
//! (one lock), so that the workers of one do not compete with another's for the cores.

mod common;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as WallClock};
use xstack::app::load::engine::{Measured, Phase, UdpLoad};
use xstack::app::load::load_stack;
use xstack::app::load::tcp::TcpLoad;
use xstack::app::serve::responder_stack;
use xstack::config::{AppProto, DriverChoice, LoadConfig, PollMode, ServeConfig, Transport};
use xstack::driver::sim::{SimNet, Spread, ThreadedSimDevice, Wakes};
use xstack::driver::{Device, DriverStats};
use xstack::metrics::{DropReason, StackCounters, StackSnapshot};
use xstack::proto::tcp::TcpConfig;
use xstack::runtime::launch::WorkerEnv;
use xstack::runtime::steer::{route, Mesh, OwnerMap, PortSet, Route, Steer, SteerRule};
use xstack::runtime::{run_worker, Clock, WorkerOptions, WorkerStats};
use xstack::stack::{Secrets, Stack, DEFAULT_SYN_BACKLOG};

/// The longest a run may take before the watchdog stops it and fails the test.
const WATCHDOG: Duration = Duration::from_secs(20);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `xstack serve` on 198.18.0.2: UDP and TCP echo on port 7.
fn serve_config(queues: u32) -> ServeConfig {
    ServeConfig {
        iface: "simb".into(),
        addrs: xstack::config::AddrSet::parse_all(&["198.18.0.2/24"]).unwrap(),
        driver: DriverChoice::Auto,
        udp_echo: vec![7],
        sockperf: None,
        tcp_echo: vec![7],
        queues,
        shared_umem: false,
        xdp_mode: None,
        claims: Vec::new(),
        pcap: None,
        json: false,
        poll: PollMode::Adaptive,
        interval: Duration::ZERO,
        trace: false,
        syn_backlog: DEFAULT_SYN_BACKLOG,
        max_connections: 65536,
        cores: Vec::new(),
        congestion: Default::default(),
        reflect_in_xdp: false,
    }
}

/// `xstack load` from 198.18.0.10 to the echo port, closed loop, bounded by `requests`.
fn load_config(transport: Transport, connections: u32, requests: u64, queues: u32) -> LoadConfig {
    LoadConfig {
        iface: "sima".into(),
        transport,
        connections,
        requests: Some(requests),
        // Long enough that a busy machine does not make a timeout of a slow reply.
        timeout: Duration::from_secs(2),
        poll: PollMode::Adaptive,
        queues,
        ..common::load_config(7, AppProto::Echo)
    }
}

/// What one worker thread hands back.
struct Done<R> {
    result: R,
    worker: WorkerStats,
    driver: DriverStats,
    wakes: Wakes,
}

/// What a load worker measured.
struct LoadResult {
    measured: Measured,
    phase: Phase,
    /// Datagrams sent (UDP only).
    sent: Option<u64>,
}

/// Sets the stop flags when the test ends, however it ends, so that no worker outlives
/// a failed test.
struct StopOnDrop(Vec<Arc<AtomicBool>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        for s in &self.0 {
            s.store(true, Relaxed);
        }
    }
}

/// Starts one worker thread: `build` makes its engine from its device, then the real
/// worker loop runs until `stop` is set or the engine (and every worker of its mesh) is
/// done; `finish` turns the engine into the thread's result.
fn spawn<E, R>(
    name: String,
    mut dev: ThreadedSimDevice,
    steer: Option<Steer>,
    clock: Clock,
    stop: Arc<AtomicBool>,
    build: impl FnOnce(&ThreadedSimDevice) -> E + Send + 'static,
    finish: impl FnOnce(E) -> R + Send + 'static,
) -> JoinHandle<Done<R>>
where
    E: xstack::stack::Engine,
    R: Send + 'static,
{
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let mut engine = build(&dev);
            let opts = WorkerOptions {
                poll: PollMode::Adaptive,
                ..WorkerOptions::default()
            };
            let worker = run_worker(&mut dev, &mut engine, &clock, &stop, &opts, steer.as_ref())
                .expect("the sim device does not fail");
            Done {
                result: finish(engine),
                worker,
                driver: dev.stats(),
                wakes: dev.wakes(),
            }
        })
        .unwrap()
}

/// One steering mesh for `n` workers, or none for a single worker (as the launcher does).
/// With `SteerRule::ByArrival` the mesh has an owner map, sized as serve sizes it.
fn steers(n: usize, rule: SteerRule, counters: &[Arc<StackCounters>]) -> Vec<Option<Steer>> {
    match n {
        1 => vec![None],
        n => {
            let mesh = match rule {
                SteerRule::ByArrival => {
                    let connections = serve_config(n as u32).max_connections * n;
                    Mesh::with_owners(n, OwnerMap::new(n, connections, 0x0ae5)).unwrap()
                }
                _ => Mesh::new(n).unwrap(),
            };
            (0..n)
                .map(|w| Some(Steer::new(mesh.clone(), w, rule, counters[w].clone())))
                .collect()
        }
    }
}

/// Serve workers, one on each of `devs`, steering by `rule` (with the run's ownership
/// when that is by arrival), each counting into its own of `counters`.
fn spawn_serve(
    devs: Vec<ThreadedSimDevice>,
    rule: SteerRule,
    counters: &[Arc<StackCounters>],
    cfg: &ServeConfig,
    clock: Clock,
    stop: &Arc<AtomicBool>,
) -> Vec<JoinHandle<Done<()>>> {
    let n = devs.len();
    devs.into_iter()
        .zip(steers(n, rule, counters))
        .enumerate()
        .map(|(w, (dev, steer))| {
            let (scfg, c) = (cfg.clone(), counters[w].clone());
            let ownership = steer.as_ref().and_then(Steer::ownership);
            spawn(
                format!("serve{w}"),
                dev,
                steer,
                clock,
                stop.clone(),
                move |dev| {
                    let info = dev.info();
                    responder_stack(&scfg, info.mac, info.mtu, Secrets::from_seed(1), c)
                        .with_ownership(ownership)
                },
                |_| (),
            )
        })
        .collect()
}

/// What load worker `w` of `workers` is built from, as the launcher hands it over.
fn load_env(
    dev: &ThreadedSimDevice,
    w: usize,
    workers: usize,
    counters: Arc<StackCounters>,
    clock: Clock,
) -> WorkerEnv<'_> {
    WorkerEnv {
        queue: w as u32,
        workers: workers as u32,
        info: dev.info(),
        counters,
        secrets: Secrets::from_seed(2),
        clock,
        ownership: None,
    }
}

/// Which load application a run uses.
#[derive(Clone, Copy)]
enum Load {
    Tcp,
    Udp,
}

/// A run's load workers on end A and serve workers on end B, and what they measured.
struct Outcome {
    load: Vec<Done<LoadResult>>,
    serve: Vec<Done<()>>,
    load_workers: Vec<StackSnapshot>,
    serve_workers: Vec<StackSnapshot>,
    /// From the start until the last load worker returned.
    elapsed: Duration,
}

fn merged(snaps: &[StackSnapshot]) -> StackSnapshot {
    let mut total = StackSnapshot::default();
    for s in snaps {
        total.merge(s);
    }
    total
}

impl Outcome {
    fn serve_total(&self) -> StackSnapshot {
        merged(&self.serve_workers)
    }

    fn load_total(&self) -> StackSnapshot {
        merged(&self.load_workers)
    }

    fn measured(&self) -> Measured {
        let mut m = self.load[0].result.measured.clone();
        for d in &self.load[1..] {
            m.merge(&d.result.measured);
        }
        m
    }

    fn drivers(&self) -> DriverStats {
        let mut total = DriverStats::default();
        for d in &self.load {
            total.merge(&d.driver);
        }
        for d in &self.serve {
            total.merge(&d.driver);
        }
        total
    }

    /// What ended the serve workers' sleeps, summed.
    fn serve_wakes(&self) -> Wakes {
        self.serve.iter().fold(Wakes::default(), |a, d| Wakes {
            slept: a.slept + d.wakes.slept,
            by_bell: a.by_bell + d.wakes.by_bell,
            by_frame: a.by_frame + d.wakes.by_frame,
            timed_out: a.timed_out + d.wakes.timed_out,
        })
    }

    /// One line of what the run saw, printed for `--nocapture`.
    fn describe(&self, name: &str) -> String {
        let (s, l, m) = (self.serve_total(), self.load_total(), self.measured());
        let frames: u64 = self.serve.iter().map(|d| d.worker.frames).sum();
        format!(
            "{name}: {} requests in {:.3} s, {} errors; serve: steered out {} in {}, \
             {} conns opened per worker {:?}, {} closed by FIN, {} frames in busy batches; \
             sleeps {} (woken by bell {}, by frame {}); load: steered out {} in {}",
            m.requests,
            self.elapsed.as_secs_f64(),
            m.errors.total(),
            s.steered_out,
            s.steered_in,
            s.tcp_connections_opened,
            self.serve_workers
                .iter()
                .map(|w| w.tcp_connections_opened)
                .collect::<Vec<_>>(),
            s.tcp_closed_fin,
            frames,
            self.serve_wakes().slept,
            self.serve_wakes().by_bell,
            self.serve_wakes().by_frame,
            l.steered_out,
            l.steered_in,
        )
    }
}

/// Runs `cfg.queues` load workers against `serve_queues` serve workers (owning TCP by the
/// peer hash) over a link that spreads frames by `spread`; returns once the load is done
/// and the servers' tables are empty (or a bounded while after), the servers stopped.
fn run(load: Load, cfg: &LoadConfig, serve_queues: usize, spread: Spread) -> Outcome {
    run_with(load, cfg, serve_queues, spread, SteerRule::ByPeer)
}

/// [`run`], the serve workers steering by `rule`.
fn run_with(
    load: Load,
    cfg: &LoadConfig,
    serve_queues: usize,
    spread: Spread,
    rule: SteerRule,
) -> Outcome {
    run_serving(load, cfg, serve_config(serve_queues as u32), spread, rule)
}

/// [`run_with`], serve configured by `serve_cfg` (one worker per `serve_cfg.queues`).
fn run_serving(
    load: Load,
    cfg: &LoadConfig,
    serve_cfg: ServeConfig,
    spread: Spread,
    rule: SteerRule,
) -> Outcome {
    let serve_queues = serve_cfg.queues as usize;
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let load_queues = cfg.queues.max(1) as usize;
    let net = SimNet::new(load_queues, serve_queues, spread).unwrap();
    let clock = Clock::new();
    let started = WallClock::now();
    let serve_stop = Arc::new(AtomicBool::new(false));
    let load_stop = Arc::new(AtomicBool::new(false));
    let _guard = StopOnDrop(vec![serve_stop.clone(), load_stop.clone()]);

    let serve_counters: Vec<_> = (0..serve_queues)
        .map(|_| Arc::new(StackCounters::default()))
        .collect();
    let serve = spawn_serve(net.b, rule, &serve_counters, &serve_cfg, clock, &serve_stop);

    let load_counters: Vec<_> = (0..load_queues)
        .map(|_| Arc::new(StackCounters::default()))
        .collect();
    let loads: Vec<_> = net
        .a
        .into_iter()
        .zip(steers(load_queues, SteerRule::ByLocalPort, &load_counters))
        .enumerate()
        .map(|(w, (dev, steer))| {
            let share = cfg.share(w as u32);
            let counters = load_counters[w].clone();
            let name = format!("load{w}");
            let stop = load_stop.clone();
            match load {
                Load::Tcp => spawn(
                    name,
                    dev,
                    steer,
                    clock,
                    stop,
                    move |dev| {
                        let app = TcpLoad::new(&share, clock.now());
                        let tcp = app.tcp_config();
                        load_stack(
                            &share,
                            &load_env(dev, w, load_queues, counters, clock),
                            tcp,
                            app,
                        )
                    },
                    |s: Stack<TcpLoad>| LoadResult {
                        measured: s.app().total().clone(),
                        phase: s.app().phase(),
                        sent: None,
                    },
                ),
                Load::Udp => spawn(
                    name,
                    dev,
                    steer,
                    clock,
                    stop,
                    move |dev| {
                        let ports = PortSet::of_worker(w, load_queues);
                        let app = UdpLoad::new(&share, clock.now()).with_ports(ports);
                        let env = load_env(dev, w, load_queues, counters, clock);
                        load_stack(&share, &env, TcpConfig::default(), app)
                    },
                    |s: Stack<UdpLoad>| LoadResult {
                        measured: s.app().total().clone(),
                        phase: s.app().phase(),
                        sent: Some(s.app().sent()),
                    },
                ),
            }
        })
        .collect();

    // The watchdog: the load must finish, and then the servers' tables empty, in time.
    let snaps = |c: &[Arc<StackCounters>]| c.iter().map(|c| c.snapshot()).collect::<Vec<_>>();
    while !loads.iter().all(JoinHandle::is_finished) {
        if started.elapsed() > WATCHDOG {
            load_stop.store(true, Relaxed);
            serve_stop.store(true, Relaxed);
            panic!(
                "the load did not finish within {WATCHDOG:?}: load {:?}, serve {:?}",
                merged(&snaps(&load_counters)),
                merged(&snaps(&serve_counters))
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = started.elapsed();
    let load: Vec<_> = loads
        .into_iter()
        .map(|h| h.join().expect("a load worker panicked"))
        .collect();
    // The last ACKs of the FIN exchanges may still be on their way to the servers.
    while started.elapsed() < WATCHDOG {
        let s = merged(&snaps(&serve_counters));
        if s.tcp_table_inserted == s.tcp_table_removed {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    serve_stop.store(true, Relaxed);
    let serve: Vec<_> = serve
        .into_iter()
        .map(|h| h.join().expect("a serve worker panicked"))
        .collect();
    Outcome {
        load,
        serve,
        load_workers: snaps(&load_counters),
        serve_workers: snaps(&serve_counters),
        elapsed,
    }
}

/// What every run must show: every request answered, no errors, no frame lost on the
/// link or in the mesh, and the serving side's hand-off path really taken.
fn assert_clean(out: &Outcome, requests: u64) {
    let m = out.measured();
    assert_eq!(
        m.requests, requests,
        "every request answered: {:?}",
        m.errors
    );
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    for d in &out.load {
        assert_eq!(d.result.phase, Phase::Done);
    }
    let d = out.drivers();
    assert_eq!((d.rx_ring_full, d.tx_no_buffer), (0, 0), "{d:?}");
    let (serve, load) = (out.serve_total(), out.load_total());
    for (s, other) in [(&serve, &load), (&load, &serve)] {
        assert_eq!(s.drops[DropReason::SteerFull as usize], 0, "{s:?}");
        assert_eq!(s.steered_out, s.steered_in, "every hand-off handled");
        // The only frames dropped are the other side's announcements of itself.
        let drops: Vec<_> = s.drops_by_reason().collect();
        let announced = other.gratuitous_arps;
        assert_eq!(drops, vec![(DropReason::NotForUs, announced)], "{drops:?}");
    }
}

/// The TCP side of [`assert_clean`]: every connection the servers opened is closed by
/// the FIN exchange and gone from their tables, and both servers owned some.
fn assert_tcp_closed(out: &Outcome, connections: u64) {
    let s = out.serve_total();
    assert_eq!(s.tcp_connections_opened, connections);
    assert_eq!(s.tcp_closed_fin, s.tcp_connections_opened, "closed by FIN");
    assert_eq!(
        s.tcp_table_inserted - s.tcp_table_removed,
        0,
        "tables empty"
    );
    assert_eq!(s.tcp_closed_rst + s.tcp_closed_timeout, 0);
    // A segment handed to a worker without its connection would have been answered by
    // a RST.
    assert_eq!((s.tcp_rst_sent, out.load_total().tcp_rst_sent), (0, 0));
    for (w, sw) in out.serve_workers.iter().enumerate() {
        assert!(sw.tcp_connections_opened > 0, "serve worker {w} owns none");
    }
    assert!(
        s.steered_out > 0,
        "no segment landed on the wrong serve worker"
    );
}

#[test]
fn one_load_worker_and_two_steering_serve_workers_echo_tcp() {
    let cfg = load_config(Transport::Tcp, 16, 4000, 1);
    let out = run(Load::Tcp, &cfg, 2, Spread::FlowHash);
    println!("{}", out.describe("tcp 1x2"));
    assert_clean(&out, 4000);
    assert_tcp_closed(&out, 16);
}

#[test]
fn two_load_workers_and_two_serve_workers_steer_both_ways_over_tcp() {
    let cfg = load_config(Transport::Tcp, 16, 4000, 2);
    let out = run(Load::Tcp, &cfg, 2, Spread::FlowHash);
    println!("{}", out.describe("tcp 2x2"));
    assert_clean(&out, 4000);
    assert_tcp_closed(&out, 16);
    assert!(
        out.load_total().steered_out > 0,
        "no reply landed on the wrong load worker"
    );
    for (w, d) in out.load.iter().enumerate() {
        assert_eq!(d.result.measured.requests, 2000, "load worker {w}'s share");
    }
}

// Round robin puts every other segment of a connection on the other queue, so half of
// a connection's segments reach its owner through the mesh, and may overtake (or be
// overtaken by) those that came straight: TCP sees reordering, and must still deliver.
#[test]
fn round_robin_spreading_reorders_but_loses_nothing() {
    let cfg = load_config(Transport::Tcp, 16, 4000, 2);
    let out = run(Load::Tcp, &cfg, 2, Spread::RoundRobin);
    println!("{}", out.describe("tcp 2x2 round robin"));
    assert_clean(&out, 4000);
    assert_tcp_closed(&out, 16);
}

#[test]
fn udp_flows_from_two_load_workers_are_each_echoed_once() {
    let cfg = load_config(Transport::Udp, 8, 4000, 2);
    let out = run(Load::Udp, &cfg, 2, Spread::FlowHash);
    println!("{}", out.describe("udp 2x2"));
    assert_clean(&out, 4000);
    let sent: u64 = out.load.iter().map(|d| d.result.sent.unwrap()).sum();
    assert_eq!(sent, 4000, "no request sent twice");
    assert_eq!(
        out.serve_total().udp_echo_replies,
        4000,
        "every datagram echoed exactly once"
    );
    assert!(
        out.load_total().steered_out > 0,
        "no reply landed on the wrong load worker"
    );
}

// Paced requests leave the workers idle between them for longer than they spin, so
// they sleep in the device's wait: a request wakes the worker of the queue it lands
// on (the link's kick), and when that worker does not own the connection, its hand-off
// rings the owner's doorbell. The wake counts show both paths taken.
#[test]
fn paced_requests_wake_sleeping_workers_by_frame_and_by_doorbell() {
    let cfg = LoadConfig {
        rate: Some(2000.0),
        ..load_config(Transport::Tcp, 16, 600, 1)
    };
    let out = run(Load::Tcp, &cfg, 2, Spread::FlowHash);
    println!("{}", out.describe("tcp 1x2 paced"));
    assert_clean(&out, 600);
    assert_tcp_closed(&out, 16);
    let w = out.serve_wakes();
    assert!(w.by_frame > 0, "no sleep ended by a frame: {w:?}");
    assert!(
        w.by_bell > 0,
        "no sleep ended by a hand-off's doorbell: {w:?}"
    );
}

// A client that keeps each connection on one queue (as the kernel's TCP does): every
// segment lands on serve queue 1. By arrival, worker 1 owns every connection and nothing
// is handed over; by the peer hash, the connections whose hash picks worker 0 cross
// between the workers on every segment. The load checks every echoed byte.
#[test]
fn by_arrival_connections_kept_to_one_queue_are_served_there_without_hand_offs() {
    let cfg = load_config(Transport::Tcp, 16, 4000, 1);
    let out = run_with(Load::Tcp, &cfg, 2, Spread::Queue(1), SteerRule::ByArrival);
    println!("{}", out.describe("tcp 1x2 one queue, by arrival"));
    assert_clean(&out, 4000);
    let s = out.serve_total();
    assert_eq!(s.tcp_connections_opened, 16);
    assert_eq!(s.tcp_closed_fin, 16, "closed by FIN");
    assert_eq!(s.tcp_table_inserted, s.tcp_table_removed, "tables empty");
    assert_eq!(s.tcp_rst_sent + s.tcp_closed_rst + s.tcp_closed_timeout, 0);
    assert_eq!(
        out.serve_workers[1].tcp_connections_opened, 16,
        "every connection on the worker of its queue"
    );
    assert_eq!((s.steered_out, s.steered_in), (0, 0), "nothing handed over");

    // The older rule, on the same link: some of the same connections belong to worker 0.
    let old = run(Load::Tcp, &cfg, 2, Spread::Queue(1));
    println!("{}", old.describe("tcp 1x2 one queue, by peer"));
    assert_clean(&old, 4000);
    assert!(old.serve_workers[0].tcp_connections_opened > 0);
    assert!(old.serve_total().steered_out > 0);
}

// Every SYN answered by a cookie (no SYN backlog), on queue 1: the cookie's ACK has no
// owner entry, so it goes to the peer-hash owner — worker 0 for some of the connections —
// which never sent a cookie itself, and must still take it (one secret, and the workers
// share when cookies went out). Without that, those connections would be reset.
#[test]
fn by_arrival_a_cookie_ack_is_taken_by_the_worker_it_goes_to() {
    let cfg = load_config(Transport::Tcp, 16, 2000, 1);
    let serve_cfg = ServeConfig {
        syn_backlog: 0,
        ..serve_config(2)
    };
    let out = run_serving(
        Load::Tcp,
        &cfg,
        serve_cfg,
        Spread::Queue(1),
        SteerRule::ByArrival,
    );
    println!("{}", out.describe("tcp 1x2 cookies, by arrival"));
    assert_clean(&out, 2000);
    let (w0, w1) = (&out.serve_workers[0], &out.serve_workers[1]);
    assert_eq!(
        w1.tcp_syn_cookies_sent, 16,
        "every SYN answered where it landed"
    );
    assert_eq!(w0.tcp_syn_cookies_sent, 0);
    assert!(w0.tcp_syn_cookies_ok > 0, "worker 0 took none: {w0:?}");
    assert_eq!(w0.tcp_syn_cookies_ok + w1.tcp_syn_cookies_ok, 16);
    let s = out.serve_total();
    assert_eq!((s.tcp_connections_opened, s.tcp_closed_fin), (16, 16));
    assert_eq!(s.tcp_rst_sent + s.tcp_closed_rst, 0);
}

// Round robin by arrival: a connection belongs to the worker its SYN reached, and half
// of its segments reach it through the owner map and the mesh.
#[test]
fn by_arrival_round_robin_spreading_follows_the_owner_map() {
    let cfg = load_config(Transport::Tcp, 16, 4000, 2);
    let out = run_with(Load::Tcp, &cfg, 2, Spread::RoundRobin, SteerRule::ByArrival);
    println!("{}", out.describe("tcp 2x2 round robin, by arrival"));
    assert_clean(&out, 4000);
    assert_tcp_closed(&out, 16);
}

// ---- a client scripted frame by frame, against two serve workers ----

const CLIENT_IP: [u8; 4] = [198, 18, 0, 10];
const SERVER_IP: [u8; 4] = [198, 18, 0, 2];
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;

fn csum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for b in parts.concat().chunks(2) {
        sum += u32::from(u16::from_be_bytes([b[0], *b.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A TCP segment from the client's `sport` to the server's echo port, as a whole frame.
fn segment(
    macs: ([u8; 6], [u8; 6]),
    sport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&7u16.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    let len = (t.len() as u16).to_be_bytes();
    let c = csum(&[&CLIENT_IP, &SERVER_IP, &[0, 6], &len, &t]);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0];
    ip[2..4].copy_from_slice(&((20 + t.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&CLIENT_IP);
    ip.extend_from_slice(&SERVER_IP);
    let c = csum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = macs.1.to_vec();
    f.extend_from_slice(&macs.0);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&t);
    f
}

/// (seq, ack, flags, payload) of a TCP segment from the server, if `frame` is one.
fn parse_segment(frame: &[u8]) -> Option<(u32, u32, u8, Vec<u8>)> {
    if frame.get(12..14)? != [0x08, 0x00] || *frame.get(23)? != 6 {
        return None;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
    let t = frame.get(14 + ihl..14 + total)?;
    let w = |i: usize| u32::from_be_bytes(t[i..i + 4].try_into().unwrap());
    let off = usize::from(t[12] >> 4) * 4;
    Some((w(4), w(8), t[13], t[off..].to_vec()))
}

/// The client's end: sends frames (each onto the next serve queue, by round robin) and
/// collects the server's TCP segments.
struct Client {
    dev: ThreadedSimDevice,
    macs: ([u8; 6], [u8; 6]),
    port: u16,
}

impl Client {
    fn send(&mut self, seq: u32, ack: u32, flags: u8, payload: &[u8]) {
        let f = segment(self.macs, self.port, seq, ack, flags, payload);
        let tx = self.dev.transmitter();
        assert!(tx.send_with(&mut |buf| {
            buf[..f.len()].copy_from_slice(&f);
            f.len()
        }));
        self.dev.flush().unwrap();
    }

    /// The server's segments until `enough` says so, or the watchdog.
    fn until(
        &mut self,
        mut enough: impl FnMut(&[(u32, u32, u8, Vec<u8>)]) -> bool,
    ) -> Vec<(u32, u32, u8, Vec<u8>)> {
        let started = WallClock::now();
        let mut got = Vec::new();
        while !enough(&got) {
            assert!(started.elapsed() < WATCHDOG, "the server said only {got:?}");
            self.dev
                .receive(64, &mut |frame, _| {
                    got.extend(parse_segment(frame));
                    xstack::driver::Verdict::Drop
                })
                .unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        got
    }
}

// RFC 9293 §3.10.7.4 for a SYN in SYN-RECEIVED, across queues: the first SYN lands on
// queue 0, whose worker is not the peer-hash owner, and makes the connection there; its
// retransmission lands on queue 1 and is handed to that owner by the map, which answers
// it as a retransmission — no second connection. The connection then echoes byte-exact
// and closes by FIN, and its entry goes with it.
#[test]
fn by_arrival_a_syn_retransmitted_onto_the_other_queue_makes_no_second_connection() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut net = SimNet::new(1, 2, Spread::RoundRobin).unwrap();
    let clock = Clock::new();
    let stop = Arc::new(AtomicBool::new(false));
    let _guard = StopOnDrop(vec![stop.clone()]);
    let counters: Vec<_> = (0..2).map(|_| Arc::new(StackCounters::default())).collect();
    let server_mac = net.b[0].info().mac;
    let serve_cfg = serve_config(2);
    let serve = spawn_serve(
        std::mem::take(&mut net.b),
        SteerRule::ByArrival,
        &counters,
        &serve_cfg,
        clock,
        &stop,
    );
    let dev = net.a.pop().unwrap();
    let client_mac = dev.info().mac;
    // A port the peer hash gives to worker 1: the first SYN (round robin: queue 0) does
    // not land on it.
    let mac_of = |port| segment((client_mac, server_mac), port, 0, 0, SYN, &[]);
    let port = (40000..)
        .find(|&p| route(SteerRule::ByPeer, None, &mac_of(p), 0, 2) == Route::To(1))
        .unwrap();
    let mut client = Client {
        dev,
        macs: (client_mac, server_mac),
        port,
    };
    let snap = |w: usize| counters[w].snapshot();

    client.send(1000, 0, SYN, &[]);
    let first = client.until(|g| g.iter().any(|s| s.2 == SYN | ACK));
    let (iss, _, _, _) = *first.iter().find(|s| s.2 == SYN | ACK).unwrap();
    client.send(1000, 0, SYN, &[]);
    // The retransmission is answered (a SYN-ACK again) by the same connection.
    client.until(|g| g.iter().any(|s| s.2 & SYN != 0));
    assert_eq!(
        (snap(0).tcp_table_inserted, snap(1).tcp_table_inserted),
        (1, 0),
        "one connection, on the worker the first SYN reached"
    );
    assert_eq!(
        snap(1).steered_out,
        1,
        "the retransmission went to the owner"
    );
    assert_eq!(snap(1).drops[DropReason::TcpOwnedElsewhere as usize], 0);

    // Established, it echoes byte for byte, over either queue.
    let text = b"one connection, two queues, one owner";
    client.send(1001, iss.wrapping_add(1), ACK | PSH, text);
    let mut echoed = Vec::new();
    client.until(|g| {
        echoed = g.iter().flat_map(|s| s.3.clone()).collect();
        echoed.len() >= text.len()
    });
    assert_eq!(echoed, text);
    let next = 1001 + text.len() as u32;
    client.send(
        next,
        iss.wrapping_add(1 + text.len() as u32),
        FIN | ACK,
        &[],
    );
    let fin = client.until(|g| g.iter().any(|s| s.2 & FIN != 0));
    let (fin_seq, _, _, _) = *fin.iter().find(|s| s.2 & FIN != 0).unwrap();
    client.send(next + 1, fin_seq.wrapping_add(1), ACK, &[]);
    let started = WallClock::now();
    while snap(0).tcp_table_removed < 1 && started.elapsed() < WATCHDOG {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (s0, s1) = (snap(0), snap(1));
    assert_eq!((s0.tcp_closed_fin, s0.tcp_table_removed), (1, 1), "{s0:?}");
    assert_eq!(s0.tcp_rst_sent + s1.tcp_rst_sent, 0);
    assert_eq!(s1.tcp_table_inserted, 0, "{s1:?}");

    // Its entry went with it: the 4-tuple opens anew on the worker its SYN reaches (the
    // sixth frame of the round robin: queue 1).
    let handed = snap(1).steered_out;
    client.send(50_000, 0, SYN, &[]);
    client.until(|g| g.iter().any(|s| s.2 == SYN | ACK));
    assert_eq!(
        (snap(0).tcp_table_inserted, snap(1).tcp_table_inserted),
        (1, 1)
    );
    assert_eq!(
        snap(1).steered_out,
        handed,
        "the new SYN stayed where it landed"
    );
    stop.store(true, Relaxed);
    for h in serve {
        h.join().expect("a serve worker panicked");
    }
}
