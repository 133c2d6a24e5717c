//! `xstack load`: a load generator and latency benchmark on the stack. A worker runs the
//! engine on its own device; the main thread prints a live line per interval, writes the
//! HdrHistogram interval log, and at the end prints the report (text, or one JSON object
//! on the last line of stdout) and the percentile plot.

pub mod engine;
pub mod schedule;
pub mod tcp;

use crate::config::{LoadConfig, LoadMode, Transport};
use crate::driver;
use crate::metrics::hist::{percentile_table, HdrLog, LatencySummary};
use crate::metrics::plot::percentile_svg;
use crate::metrics::{StackCounters, StackSnapshot};
use crate::proto::arp::ArpConfig;
use crate::runtime::steer::{Mesh, PortSet, Steer, SteerRule};
use crate::runtime::{pin_to_core, run_worker, Clock, WorkerOptions};
use crate::stack::{Stack, StackConfig};
use anyhow::{bail, Context};
use engine::{Measured, Phase, UdpLoad};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tcp::TcpLoad;

/// What a load run measured.
pub struct LoadReport {
    pub total: Measured,
    pub span: Duration,
    pub open_loop: bool,
    pub stack: StackSnapshot,
    pub driver: String,
}

impl LoadReport {
    pub fn throughput(&self) -> f64 {
        let s = self.span.as_secs_f64();
        if s > 0.0 {
            self.total.requests as f64 / s
        } else {
            0.0
        }
    }

    pub fn to_json(&self, cfg: &LoadConfig) -> Value {
        let e = &self.total.errors;
        let mut v = json!({
            "target": cfg.target.to_string(),
            "proto": match cfg.transport { Transport::Udp => "udp", Transport::Tcp => "tcp" },
            "app": format!("{:?}", cfg.app).to_lowercase(),
            "mode": format!("{:?}", cfg.mode).to_lowercase(),
            "driver": self.driver,
            "connections": cfg.connections,
            "size": cfg.size,
            "requests": self.total.requests,
            "errors": e.total(),
            "errors_by_kind": {
                "timeout": e.timeout, "refused": e.refused,
                "mismatch": e.mismatch, "overload": e.overload,
            },
            "duration_s": self.span.as_secs_f64(),
            "throughput_rps": self.throughput(),
            "rate_target_rps": cfg.rate,
            "latency_us": LatencySummary::of(&self.total.corrected).to_json_us(),
        });
        if self.open_loop {
            v["latency_uncorrected_us"] = LatencySummary::of(&self.total.uncorrected).to_json_us();
        }
        v["throughput_bps"] = self.bits_per_second().into();
        v["queues"] = cfg.queues.into();
        v["steered_frames"] = self.stack.steered_out.into();
        // Frames the load generator's own stack dropped, by reason.
        let stack = self.stack.to_json();
        v["drops_total"] = stack["drops_total"].clone();
        v["drops"] = stack["drops"].clone();
        if cfg.mode == LoadMode::Crr {
            v["connections_per_s"] = self.throughput().into();
        }
        v
    }

    /// Payload bits a second that came back (requests × size, or the stream's bytes).
    pub fn bits_per_second(&self) -> f64 {
        let s = self.span.as_secs_f64();
        if s > 0.0 {
            self.total.bytes as f64 * 8.0 / s
        } else {
            0.0
        }
    }

    pub fn to_text(&self, cfg: &LoadConfig) -> String {
        let e = &self.total.errors;
        let mut s = format!(
            "xstack load: {} {} {:?} to {} over {} ({} connection{}, {} B)\n",
            match cfg.transport {
                Transport::Udp => "udp",
                Transport::Tcp => "tcp",
            },
            format!("{:?}", cfg.app).to_lowercase(),
            cfg.mode,
            cfg.target,
            self.driver,
            cfg.connections,
            if cfg.connections == 1 { "" } else { "s" },
            cfg.size
        );
        if cfg.mode == LoadMode::Stream {
            s += &format!(
                "  echoed {} bytes = {:.1} Mbit/s\n",
                self.total.bytes,
                self.bits_per_second() / 1e6
            );
        }
        if cfg.mode == LoadMode::Crr {
            s += &format!(
                "  {:.0} connections/s (connect, request, response, close)\n",
                self.throughput()
            );
        }
        s += &format!(
            "  requests {} in {:.3} s = {:.0} req/s{}\n  errors {} (timeout {}, refused {}, mismatch {}, overload {})\n",
            self.total.requests,
            self.span.as_secs_f64(),
            self.throughput(),
            cfg.rate.map(|r| format!(" (target {r:.0})")).unwrap_or_default(),
            e.total(),
            e.timeout,
            e.refused,
            e.mismatch,
            e.overload
        );
        let label = if self.open_loop {
            "latency (from intended send time)"
        } else {
            "latency"
        };
        s += &format!(
            "  {label}: {}\n",
            LatencySummary::of(&self.total.corrected).to_line()
        );
        if self.open_loop {
            s += &format!(
                "  latency (from actual send time): {}\n",
                LatencySummary::of(&self.total.uncorrected).to_line()
            );
        }
        s += "\n";
        s += &percentile_table(&self.total.corrected, 5);
        s
    }
}

/// What the runner needs of an engine, UDP or TCP.
trait LoadEngine: crate::runtime::Engine {
    fn flush_report(&mut self);
    fn total(&self) -> &Measured;
    fn measured_span(&self) -> Duration;
    fn phase(&self) -> Phase;
}

macro_rules! load_engine {
    ($t:ty) => {
        impl LoadEngine for $t {
            fn flush_report(&mut self) {
                <$t>::flush_report(self)
            }
            fn total(&self) -> &Measured {
                <$t>::total(self)
            }
            fn measured_span(&self) -> Duration {
                <$t>::measured_span(self)
            }
            fn phase(&self) -> Phase {
                <$t>::phase(self)
            }
        }
    };
}
load_engine!(UdpLoad);
load_engine!(TcpLoad);

type WorkerResult = (Measured, Duration, Phase, StackSnapshot, String);

/// Runs `engine` on `dev` until it finishes or `stop` is set.
fn drive<E: LoadEngine>(
    mut engine: E,
    dev: &mut dyn driver::Device,
    clock: &Clock,
    stop: &AtomicBool,
    opts: &WorkerOptions,
    steer: Option<&Steer>,
) -> anyhow::Result<(Measured, Duration, Phase)> {
    run_worker(dev, &mut engine, clock, stop, opts, steer)?;
    engine.flush_report();
    Ok((
        engine.total().clone(),
        engine.measured_span(),
        engine.phase(),
    ))
}

/// Pins worker `w` and opens its queue.
fn open_worker_device(
    cfg: &LoadConfig,
    w: u32,
    opts: &driver::open::OpenOptions,
) -> anyhow::Result<Box<dyn driver::Device>> {
    if !cfg.cores.is_empty() {
        let core = cfg.cores[w as usize % cfg.cores.len()];
        pin_to_core(core).map_err(|e| anyhow::anyhow!("--cores: {e}"))?;
    }
    Ok(driver::open::open_with(cfg.driver, &cfg.iface, w, opts)?)
}

/// What a worker says when another one could not start (that one says why).
#[derive(Debug, thiserror::Error)]
#[error("another load worker failed to start")]
struct OtherFailed;

/// What the load workers of one run share: the clock, the stop flag, the steering
/// mesh, and the line where they wait for each other before the first frame goes out.
struct Crew {
    workers: u32,
    clock: Clock,
    stop: Arc<AtomicBool>,
    mesh: Option<Arc<Mesh>>,
    open: driver::open::OpenOptions,
    arrived: AtomicUsize,
    failed: AtomicBool,
}

impl Crew {
    /// Says whether this worker is ready, then waits for the others; true when all are.
    fn arrive(&self, ready: bool) -> bool {
        if !ready {
            self.failed.store(true, Relaxed);
            return false;
        }
        self.arrived.fetch_add(1, Relaxed);
        loop {
            if self.failed.load(Relaxed) || self.stop.load(Relaxed) {
                return false;
            }
            if self.arrived.load(Relaxed) == self.workers as usize {
                return true;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// One load worker: its share of the run (`cfg` from [`LoadConfig::share`]) on queue `w`
/// of the crew's, from the ports it owns.
fn worker(
    cfg: &LoadConfig,
    w: u32,
    crew: &Crew,
    report: crossbeam::channel::Sender<Measured>,
) -> anyhow::Result<WorkerResult> {
    let (workers, clock, stop) = (crew.workers, &crew.clock, &*crew.stop);
    let opened = open_worker_device(cfg, w, &crew.open);
    // Nobody sends before every queue has its socket: a reply landing on a queue
    // without one would be lost.
    if !crew.arrive(opened.is_ok()) {
        return Err(opened.err().unwrap_or_else(|| OtherFailed.into()));
    }
    let mut dev = opened?;
    let info = dev.info().clone();
    let counters = Arc::new(StackCounters::default());
    let steer = crew
        .mesh
        .clone()
        .map(|m| Steer::new(m, w as usize, SteerRule::ByLocalPort, counters.clone()));
    let ports = PortSet::of_worker(w as usize, workers as usize);
    let stack = Stack::new(
        StackConfig {
            addr: cfg.addr,
            mac: info.mac,
            mtu: info.mtu,
            udp_echo: Vec::new(),
            sockperf: None,
            tcp_echo: Vec::new(),
            tcp_capacity: 1024,
            icmp_unreachable_rate: 10,
            arp: ArpConfig::default(),
            // One announcement is enough for the link.
            gratuitous_arp: w == 0,
        },
        counters.clone(),
    );
    let opts = WorkerOptions {
        poll: cfg.poll,
        ..WorkerOptions::default()
    };
    let now = clock.now();
    let (measured, span, phase) = match cfg.transport {
        Transport::Udp => {
            let engine = UdpLoad::new(cfg, stack, now)
                .with_ports(ports)
                .with_reporter(report, cfg.interval);
            drive(engine, &mut *dev, clock, stop, &opts, steer.as_ref())?
        }
        Transport::Tcp => {
            let mss = info.mtu.saturating_sub(40).clamp(536, 8960) as u16;
            let engine = TcpLoad::new(cfg, stack, mss, now)
                .with_ports(ports)
                .with_reporter(report, cfg.interval);
            drive(engine, &mut *dev, clock, stop, &opts, steer.as_ref())?
        }
    };
    Ok((
        measured,
        span,
        phase,
        counters.snapshot(),
        info.kind.to_string(),
    ))
}

/// The workers' next interval, merged: once each has sent it, or (`partial`, at the
/// end) from whoever has one left.
fn merged_interval(pending: &mut [VecDeque<Measured>], partial: bool) -> Option<Measured> {
    let waiting = |q: &VecDeque<Measured>| q.is_empty();
    if pending.iter().all(waiting) || (!partial && pending.iter().any(waiting)) {
        return None;
    }
    let mut m = Measured::new();
    for x in pending.iter_mut().filter_map(VecDeque::pop_front) {
        m.merge(&x);
    }
    Some(m)
}

/// Runs a load test until it completes or `stop` is set.
pub fn run(cfg: &LoadConfig, stop: Arc<AtomicBool>) -> anyhow::Result<LoadReport> {
    let clock = Clock::new();
    let n = cfg.queues.max(1);
    let mesh = match n {
        1 => None,
        n => Some(Mesh::new(n as usize).context("cannot make the workers' queues")?),
    };
    let mut intervals = Vec::new();
    let mut workers = Vec::new();
    let crew = Arc::new(Crew {
        workers: n,
        clock,
        stop: stop.clone(),
        mesh,
        open: driver::open::OpenOptions::for_run(cfg.driver, &cfg.iface, n, cfg.shared_umem)?,
        arrived: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
    });
    for w in 0..n {
        let (tx, rx) = crossbeam::channel::unbounded::<Measured>();
        intervals.push(rx);
        let share = cfg.share(w);
        let crew = crew.clone();
        workers.push(
            std::thread::Builder::new()
                .name(format!("xstack-load{w}"))
                .spawn(move || worker(&share, w, &crew, tx))
                .context("cannot start a load worker")?,
        );
    }
    // Interval k is printed once every worker has sent its interval k.
    let mut pending: Vec<VecDeque<Measured>> = (0..n).map(|_| VecDeque::new()).collect();

    let mut log = match &cfg.hdr_log {
        Some(p) => Some(HdrLog::new(
            std::io::BufWriter::new(
                std::fs::File::create(p)
                    .with_context(|| format!("cannot create {}", p.display()))?,
            ),
            SystemTime::now(),
        )),
        None => None,
    };
    let tty = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut offset = Duration::ZERO;
    while !workers.iter().all(|w| w.is_finished()) {
        let mut sel = crossbeam::channel::Select::new();
        for rx in &intervals {
            sel.recv(rx);
        }
        let ready = sel.ready_timeout(Duration::from_millis(100));
        for (q, rx) in pending.iter_mut().zip(&intervals) {
            q.extend(rx.try_iter());
        }
        if ready.is_err() && tty {
            if let Some(d) = cfg.duration {
                let total = (d + cfg.warmup).as_secs_f64();
                let pct = (started.elapsed().as_secs_f64() / total * 100.0).min(100.0);
                eprint!(
                    "\r[{:<40}] {:3.0}%\r",
                    "=".repeat((pct / 2.5) as usize),
                    pct
                );
            }
        }
        while let Some(m) = merged_interval(&mut pending, false) {
            if m.requests == 0 && m.errors.total() == 0 {
                offset += cfg.interval;
                continue;
            }
            let s = LatencySummary::of(&m.corrected);
            let secs = cfg.interval.as_secs_f64();
            if cfg.mode == LoadMode::Stream {
                eprintln!(
                    "xstack load: {:8.1} Mbit/s echoed  errors {}",
                    m.bytes as f64 * 8.0 / secs / 1e6,
                    m.errors.total()
                );
            } else {
                eprintln!(
                    "xstack load: {:8.0} req/s  p50 {:9.3} us  p99 {:9.3} us  errors {}",
                    m.requests as f64 / secs,
                    s.p50 as f64 / 1000.0,
                    s.p99 as f64 / 1000.0,
                    m.errors.total()
                );
            }
            if let Some(l) = &mut log {
                l.append(&m.corrected, offset, cfg.interval, None)?;
            }
            offset += cfg.interval;
        }
    }
    if tty {
        eprint!("\r{:60}\r", "");
    }
    let mut total = Measured::new();
    let mut span = Duration::ZERO;
    let mut phase = Phase::Done;
    let mut stack = StackSnapshot::default();
    let mut driver = String::new();
    let mut failure: Option<anyhow::Error> = None;
    for w in workers {
        match w.join() {
            Ok(Ok((m, sp, ph, st, d))) => {
                total.merge(&m);
                span = span.max(sp);
                if ph == Phase::Unreachable {
                    phase = ph;
                }
                stack.merge(&st);
                driver = d;
            }
            Ok(Err(e)) => {
                stop.store(true, Relaxed);
                // The worker that failed says why; the others only that one did.
                if failure.as_ref().map_or(true, |f| f.is::<OtherFailed>()) {
                    failure = Some(e);
                }
            }
            Err(_) => {
                stop.store(true, Relaxed);
                failure.get_or_insert(anyhow::anyhow!("a load worker panicked"));
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    // Intervals that arrived after the loop, the last partial one included.
    for (q, rx) in pending.iter_mut().zip(&intervals) {
        q.extend(rx.try_iter());
    }
    while let Some(m) = merged_interval(&mut pending, true) {
        if let Some(l) = &mut log {
            if !m.corrected.is_empty() {
                l.append(&m.corrected, offset, cfg.interval, None)?;
            }
        }
        offset += cfg.interval;
    }
    if let Some(l) = log {
        l.into_inner().flush()?;
    }
    if phase == Phase::Unreachable {
        bail!(
            "no ARP reply from {} on {} after the retries: is the target up and on this link?",
            cfg.target.ip(),
            cfg.iface
        );
    }
    let report = LoadReport {
        total,
        span,
        open_loop: cfg.rate.is_some(),
        stack,
        driver,
    };
    if let Some(p) = &cfg.plot {
        let label = format!("{} {}", cfg.target, report.driver);
        std::fs::write(
            p,
            percentile_svg("xstack load", &[(label, &report.total.corrected)]),
        )
        .with_context(|| format!("cannot write {}", p.display()))?;
    }
    if stop.load(Relaxed) && report.total.requests == 0 {
        bail!("stopped before any reply was measured");
    }
    Ok(report)
}
