//! Tier 3 on real time: the worker loop itself. Threads run `runtime::run_worker` —
//! receive a batch, hand frames to their owners through the steering mesh, poll, flush,
//! sleep in the device's `wait` with the doorbell — on the threaded simulated link
//! (`driver::sim::SimNet`), whose flow hash puts a share of the frames on a queue whose
//! worker does not own the flow. Two `serve` workers (`SteerRule::ByPeer`) answer one or
//! two `load` workers (`SteerRule::ByLocalPort`), built as the launcher builds them.
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
use xstack::runtime::steer::{Mesh, PortSet, Steer, SteerRule};
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
fn steers(n: usize, rule: SteerRule, counters: &[Arc<StackCounters>]) -> Vec<Option<Steer>> {
    match n {
        1 => vec![None],
        n => {
            let mesh = Mesh::new(n).unwrap();
            (0..n)
                .map(|w| Some(Steer::new(mesh.clone(), w, rule, counters[w].clone())))
                .collect()
        }
    }
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

/// Runs `cfg.queues` load workers against `serve_queues` serve workers over a link that
/// spreads frames by `spread`; returns once the load is done and the servers' tables are
/// empty (or a bounded while after), the servers stopped.
fn run(load: Load, cfg: &LoadConfig, serve_queues: usize, spread: Spread) -> Outcome {
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
    let serve_cfg = serve_config(serve_queues as u32);
    let serve: Vec<_> = net
        .b
        .into_iter()
        .zip(steers(serve_queues, SteerRule::ByPeer, &serve_counters))
        .enumerate()
        .map(|(w, (dev, steer))| {
            let (scfg, counters) = (serve_cfg.clone(), serve_counters[w].clone());
            spawn(
                format!("serve{w}"),
                dev,
                steer,
                clock,
                serve_stop.clone(),
                move |dev| {
                    let info = dev.info();
                    responder_stack(&scfg, info.mac, info.mtu, Secrets::from_seed(1), counters)
                },
                |_| (),
            )
        })
        .collect();

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
