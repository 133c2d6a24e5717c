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
use crate::runtime::{pin_to_core, run_worker, Clock, WorkerOptions};
use crate::stack::{Stack, StackConfig};
use anyhow::{bail, Context};
use engine::{Measured, Phase, UdpLoad};
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
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
    counters: &StackCounters,
    kind: String,
) -> anyhow::Result<WorkerResult> {
    run_worker(dev, &mut engine, clock, stop, opts)?;
    engine.flush_report();
    Ok((
        engine.total().clone(),
        engine.measured_span(),
        engine.phase(),
        counters.snapshot(),
        kind,
    ))
}

/// Runs a load test until it completes or `stop` is set.
pub fn run(cfg: &LoadConfig, stop: Arc<AtomicBool>) -> anyhow::Result<LoadReport> {
    let clock = Clock::new();
    let (tx, rx) = crossbeam::channel::unbounded::<Measured>();
    let worker_cfg = cfg.clone();
    let worker_stop = stop.clone();
    let worker = std::thread::Builder::new()
        .name("xstack-load".into())
        .spawn(move || -> anyhow::Result<WorkerResult> {
            let cfg = worker_cfg;
            if let Some(&core) = cfg.cores.first() {
                pin_to_core(core).map_err(|e| anyhow::anyhow!("--cores: {e}"))?;
            }
            let mut dev = driver::open::open(cfg.driver, &cfg.iface, 0)?;
            let info = dev.info().clone();
            let counters = Arc::new(StackCounters::default());
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
                    gratuitous_arp: true,
                },
                counters.clone(),
            );
            let opts = WorkerOptions {
                poll: cfg.poll,
                ..WorkerOptions::default()
            };
            let kind = info.kind.to_string();
            let now = clock.now();
            match cfg.transport {
                Transport::Udp => {
                    let engine = UdpLoad::new(&cfg, stack, now).with_reporter(tx, cfg.interval);
                    drive(
                        engine,
                        &mut *dev,
                        &clock,
                        &worker_stop,
                        &opts,
                        &counters,
                        kind,
                    )
                }
                Transport::Tcp => {
                    let mss = info.mtu.saturating_sub(40).clamp(536, 8960) as u16;
                    let engine =
                        TcpLoad::new(&cfg, stack, mss, now).with_reporter(tx, cfg.interval);
                    drive(
                        engine,
                        &mut *dev,
                        &clock,
                        &worker_stop,
                        &opts,
                        &counters,
                        kind,
                    )
                }
            }
        })
        .context("cannot start the load worker")?;

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
    while !worker.is_finished() {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(m) if m.requests == 0 && m.errors.total() == 0 => offset += cfg.interval,
            Ok(m) => {
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
            Err(_) if tty => {
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
            Err(_) => {}
        }
    }
    if tty {
        eprint!("\r{:60}\r", "");
    }
    let (total, span, phase, stack, driver) = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the load worker panicked"))??;
    // Intervals that arrived after the loop, the last partial one included.
    for m in rx.try_iter() {
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
