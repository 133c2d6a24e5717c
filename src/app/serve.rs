//! `xstack serve`: one worker thread per queue, each with its own device and stack, until
//! SIGINT or SIGTERM; then a summary of what every worker counted.

use crate::config::{DriverChoice, ServeConfig};
use crate::driver::{self, Device, DriverStats};
use crate::metrics::hist::LatencySummary;
use crate::metrics::{StackCounters, StackSnapshot};
use crate::runtime::steer::{Mesh, Steer, SteerRule};
use crate::runtime::{pin_to_core, run_worker, Clock, WorkerOptions, WorkerStats};
use crate::stack::trace::Tracer;
use crate::stack::{Stack, StackConfig};
use anyhow::{bail, Context};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// What a serve run reports when it stops.
pub struct ServeSummary {
    pub driver: String,
    pub stack: StackSnapshot,
    pub driver_stats: DriverStats,
    /// The workers' batch times, merged.
    pub workers: WorkerStats,
    pub duration: Duration,
}

/// Runs the responder until `stop` is set (the binary sets it from SIGINT/SIGTERM).
pub fn run(cfg: &ServeConfig, stop: Arc<AtomicBool>) -> anyhow::Result<ServeSummary> {
    let info = driver::iface::lookup(&cfg.iface)?;
    if cfg.driver == DriverChoice::Packet && info.ipv4.contains(&cfg.addr.ip) {
        bail!(
            "{} is configured on the kernel's interface {}: in packet mode the kernel would \
             answer for it too. Remove it (ip addr del {}/{} dev {}) and let xstack own it",
            cfg.addr.ip,
            cfg.iface,
            cfg.addr.ip,
            cfg.addr.prefix,
            cfg.iface
        );
    }
    let clock = Clock::new();
    let started = clock.now();
    let (ready_tx, ready_rx) = mpsc::channel::<anyhow::Result<String>>();
    let mut workers = Vec::new();
    let mut counters = Vec::new();
    // One fanout group (AF_PACKET) or UMEM (AF_XDP, --umem shared) for all the workers;
    // without a fanout group every AF_PACKET socket would see, and answer, every frame.
    let open =
        driver::open::OpenOptions::for_run(cfg.driver, &cfg.iface, cfg.queues, cfg.shared_umem)?;
    // TCP connections belong to one worker each: a segment that lands on another queue
    // is handed over (UDP, ICMP and ARP requests are answered where they land).
    let mesh = match cfg.queues {
        1 => None,
        n => Some(Mesh::new(n as usize).context("cannot make the workers' queues")?),
    };
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        clock,
        open,
        stop: stop.clone(),
    });
    for queue in 0..cfg.queues {
        let c = Arc::new(StackCounters::default());
        counters.push(c.clone());
        let steer = mesh
            .clone()
            .map(|m| Steer::new(m, queue as usize, SteerRule::ByPeer, c.clone()));
        let shared = shared.clone();
        let ready = ready_tx.clone();
        let handle = thread::Builder::new()
            .name(format!("xstack-q{queue}"))
            .spawn(move || worker(&shared, queue, c, steer, ready))
            .context("cannot start a worker thread")?;
        workers.push(handle);
    }
    drop(ready_tx);

    let mut driver_name = String::new();
    let mut failure = None;
    for _ in 0..cfg.queues {
        match ready_rx.recv() {
            Ok(Ok(name)) => driver_name = name,
            Ok(Err(e)) => {
                failure.get_or_insert(e);
            }
            Err(_) => {
                failure.get_or_insert(anyhow::anyhow!("a worker stopped before it was ready"));
            }
        }
    }
    if let Some(e) = failure {
        stop.store(true, Relaxed);
        for w in workers {
            let _ = w.join();
        }
        return Err(e);
    }

    println!(
        "xstack: ready on {} {}/{} (driver {}, {} queue{})",
        cfg.iface,
        cfg.addr.ip,
        cfg.addr.prefix,
        driver_name,
        cfg.queues,
        if cfg.queues == 1 { "" } else { "s" }
    );
    std::io::stdout().flush().ok();

    live_report(cfg.interval, &stop, &counters, &clock);

    let mut driver_stats = DriverStats::default();
    let mut worker_stats = WorkerStats::new();
    for w in workers {
        match w.join() {
            Ok(Ok((s, ws))) => {
                worker_stats.merge(&ws);
                driver_stats.rx_frames += s.rx_frames;
                driver_stats.tx_frames += s.tx_frames;
                driver_stats.rx_ring_full += s.rx_ring_full;
                driver_stats.tx_no_buffer += s.tx_no_buffer;
                driver_stats.tx_errors += s.tx_errors;
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => bail!("a worker thread panicked"),
        }
    }
    Ok(ServeSummary {
        driver: driver_name,
        stack: merged(&counters),
        driver_stats,
        workers: worker_stats,
        duration: clock.now().saturating_since(started),
    })
}

fn merged(counters: &[Arc<StackCounters>]) -> StackSnapshot {
    let mut total = StackSnapshot::default();
    for c in counters {
        total.merge(&c.snapshot());
    }
    total
}

/// Waits for the stop flag, printing a live line to stderr every `interval` if asked.
fn live_report(
    interval: Duration,
    stop: &AtomicBool,
    counters: &[Arc<StackCounters>],
    clock: &Clock,
) {
    let tick = Duration::from_millis(50);
    let mut last = merged(counters);
    let mut last_t = clock.now();
    while !stop.load(Relaxed) {
        thread::sleep(tick);
        if interval.is_zero() || clock.now().saturating_since(last_t) < interval {
            continue;
        }
        let now = clock.now();
        let cur = merged(counters);
        let secs = now.saturating_since(last_t).as_secs_f64();
        eprintln!(
            "xstack: rx {:.0} pps, tx {:.0} pps, tcp conns {} (+{} opened), drops {} (+{})",
            (cur.rx_frames - last.rx_frames) as f64 / secs,
            (cur.tx_frames - last.tx_frames) as f64 / secs,
            cur.tcp_table_inserted - cur.tcp_table_removed,
            cur.tcp_connections_opened - last.tcp_connections_opened,
            cur.drops_total(),
            cur.drops_total() - last.drops_total()
        );
        last = cur;
        last_t = now;
    }
}

/// What every worker of a serve run shares.
struct Shared {
    cfg: ServeConfig,
    clock: Clock,
    open: driver::open::OpenOptions,
    stop: Arc<AtomicBool>,
}

/// One worker: opens its queue, reports readiness, serves until stopped.
fn worker(
    shared: &Shared,
    queue: u32,
    counters: Arc<StackCounters>,
    steer: Option<Steer>,
    ready: mpsc::Sender<anyhow::Result<String>>,
) -> anyhow::Result<(DriverStats, WorkerStats)> {
    let Shared {
        cfg,
        clock,
        open,
        stop,
    } = shared;
    if !cfg.cores.is_empty() {
        let core = cfg.cores[queue as usize % cfg.cores.len()];
        if let Err(e) = pin_to_core(core) {
            let _ = ready.send(Err(anyhow::anyhow!("--cores: {e}")));
            return Ok(Default::default());
        }
    }
    let opened = driver::open::open_with(cfg.driver, &cfg.iface, queue, open).and_then(|dev| {
        match &cfg.pcap {
            None => Ok(dev),
            Some(path) => {
                let path = if cfg.queues > 1 {
                    path.with_extension(format!("q{queue}.pcap"))
                } else {
                    path.clone()
                };
                driver::pcap::PcapDevice::create(dev, &path)
                    .map(|d| Box::new(d) as Box<dyn Device>)
                    .map_err(|e| {
                        driver::DriverError::Unsupported(format!(
                            "cannot write pcap file {}: {e}",
                            path.display()
                        ))
                    })
            }
        }
    });
    let mut dev = match opened {
        Ok(d) => d,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return Ok(Default::default());
        }
    };
    let info = dev.info().clone();
    let mut stack = Stack::new(
        StackConfig {
            mac: info.mac,
            mtu: info.mtu,
            ..StackConfig::serve(cfg)
        },
        counters,
    );
    stack.set_syn_backlog(cfg.syn_backlog);
    if cfg.trace {
        stack = stack.with_tracer(Tracer::stderr());
    }
    let _ = ready.send(Ok(info.kind.to_string()));
    let opts = WorkerOptions {
        poll: cfg.poll,
        ..WorkerOptions::default()
    };
    let ws = run_worker(&mut *dev, &mut stack, clock, stop, &opts, steer.as_ref())
        .with_context(|| format!("worker for {} queue {queue} failed", cfg.iface))?;
    Ok((dev.stats(), ws))
}

impl ServeSummary {
    /// The one-line JSON object printed with `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = self.stack.to_json();
        m.insert("driver".into(), self.driver.clone().into());
        m.insert("duration_s".into(), self.duration.as_secs_f64().into());
        m.insert("rx_ring_full".into(), self.driver_stats.rx_ring_full.into());
        m.insert("tx_no_buffer".into(), self.driver_stats.tx_no_buffer.into());
        m.insert("tx_errors".into(), self.driver_stats.tx_errors.into());
        m.insert(
            "tcp_connections_left".into(),
            self.connections_left().into(),
        );
        let mut b = LatencySummary::of(&self.workers.batch_ns).to_json_us();
        b["batches"] = self.workers.batch_ns.len().into();
        b["frames"] = self.workers.frames.into();
        m.insert("batch_us".into(), b);
        m.insert(
            "flush_us".into(),
            LatencySummary::of(&self.workers.flush_ns).to_json_us(),
        );
        serde_json::Value::Object(m)
    }

    /// TCP connections still in the tables when the workers stopped.
    pub fn connections_left(&self) -> u64 {
        self.stack.tcp_table_inserted - self.stack.tcp_table_removed
    }

    /// The human-readable summary.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "xstack: stopped after {:.1} s (driver {})",
            self.duration.as_secs_f64(),
            self.driver
        );
        for (name, v) in self.stack.fields() {
            if v > 0 || name == "rx_frames" || name == "tx_frames" {
                let _ = writeln!(s, "  {name:<28} {v}");
            }
        }
        let _ = writeln!(
            s,
            "  {:<28} {}",
            "tcp_connections_left",
            self.connections_left()
        );
        if !self.workers.batch_ns.is_empty() {
            let _ = writeln!(
                s,
                "  time in the stack per batch ({} batches, {} frames): {}",
                self.workers.batch_ns.len(),
                self.workers.frames,
                LatencySummary::of(&self.workers.batch_ns).to_line()
            );
            let _ = writeln!(
                s,
                "  time in the TX kick per batch: {}",
                LatencySummary::of(&self.workers.flush_ns).to_line()
            );
        }
        let _ = writeln!(s, "  {:<28} {}", "drops_total", self.stack.drops_total());
        for (r, n) in self.stack.drops_by_reason() {
            let _ = writeln!(s, "    {:<26} {n}", r.as_str());
        }
        let d = &self.driver_stats;
        for (name, v) in [
            ("rx_ring_full", d.rx_ring_full),
            ("tx_no_buffer", d.tx_no_buffer),
            ("tx_errors", d.tx_errors),
        ] {
            if v > 0 {
                let _ = writeln!(s, "  {name:<28} {v}");
            }
        }
        s
    }
}
