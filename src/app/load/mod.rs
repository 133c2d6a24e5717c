//! `xstack load`: a load generator and latency benchmark on the stack. A worker runs the
//! engine on its own device; the main thread prints a live line per interval, writes the
//! HdrHistogram interval log, and at the end prints the report (text, or one JSON object
//! on the last line of stdout) and the percentile plot.

pub mod engine;
pub mod output;
pub mod schedule;
pub mod tcp;

use crate::config::{LoadConfig, LoadMode, Transport};
use crate::metrics::hist::{percentile_table, LatencySummary};
use crate::metrics::StackSnapshot;
use crate::proto::tcp::TcpConfig;
use crate::runtime::launch::{launch, LaunchSpec, WorkerEnv};
use crate::runtime::steer::SteerRule;
use crate::stack::tcp::ports::PortSet;
use crate::stack::{App, Stack, StackConfig};
use anyhow::bail;
use engine::{Measured, Phase, UdpLoad};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
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

/// What the runner needs of a load application, UDP or TCP.
trait LoadApp: App {
    fn flush_report(&mut self);
    fn total(&self) -> &Measured;
    fn measured_span(&self) -> Duration;
    fn phase(&self) -> Phase;
}

macro_rules! load_app {
    ($t:ty) => {
        impl LoadApp for $t {
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
load_app!(UdpLoad);
load_app!(TcpLoad);

/// The stack one load worker runs: the generator's address on the worker's device,
/// opening connections and sending datagrams from the ephemeral ports it owns.
pub fn load_stack<A: App>(cfg: &LoadConfig, env: &WorkerEnv, tcp: TcpConfig, app: A) -> Stack<A> {
    Stack::new(
        StackConfig {
            mtu: env.info.mtu,
            tcp,
            // Room for every port of the share in TIME_WAIT, and more.
            tcp_capacity: PortSet::ALL.len() + 1024,
            ports: PortSet::of_worker(env.queue as usize, env.workers as usize),
            icmp_unreachable_rate: 10,
            // One announcement is enough for the link.
            gratuitous_arp: env.queue == 0,
            ..StackConfig::new(cfg.addr, env.info.mac, env.secrets)
        },
        env.counters.clone(),
        app,
    )
}

/// What one worker measured.
type WorkerResult = (Measured, Duration, Phase);

fn finish<A: LoadApp>(mut stack: Stack<A>) -> WorkerResult {
    let app = stack.app_mut();
    app.flush_report();
    (app.total().clone(), app.measured_span(), app.phase())
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
    let n = cfg.queues.max(1);
    let spec = LaunchSpec {
        role: "load",
        iface: cfg.iface.clone(),
        addr: cfg.addr,
        driver: cfg.driver,
        queues: n,
        cores: cfg.cores.clone(),
        shared_umem: cfg.shared_umem,
        pcap: cfg.pcap.clone(),
        poll: cfg.poll,
        // A flow belongs to the worker that owns its local port.
        steer: SteerRule::ByLocalPort,
    };
    let mut intervals = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..n {
        let (tx, rx) = crossbeam::channel::unbounded::<Measured>();
        intervals.push(rx);
        senders.push(tx);
    }
    let whole = cfg.clone();
    let crew = match cfg.transport {
        Transport::Udp => launch(
            &spec,
            stop.clone(),
            move |env| {
                let share = whole.share(env.queue);
                let ports = PortSet::of_worker(env.queue as usize, env.workers as usize);
                let app = UdpLoad::new(&share, env.clock.now())
                    .with_ports(ports)
                    .with_reporter(senders[env.queue as usize].clone(), share.interval);
                Ok(load_stack(&share, env, TcpConfig::default(), app))
            },
            finish,
        )?,
        Transport::Tcp => launch(
            &spec,
            stop.clone(),
            move |env| {
                let share = whole.share(env.queue);
                let app = TcpLoad::new(&share, env.clock.now())
                    .with_reporter(senders[env.queue as usize].clone(), share.interval);
                let tcp = app.tcp_config();
                Ok(load_stack(&share, env, tcp, app))
            },
            finish,
        )?,
    };
    // Interval k is printed once every worker has sent its interval k.
    let mut pending: Vec<VecDeque<Measured>> = (0..n).map(|_| VecDeque::new()).collect();

    // The measured intervals, and the --hdr-log they go to.
    let mut measured = output::Intervals::for_run(cfg)?;
    let tty = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    while !crew.finished() {
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
            if !measured.push(&m)? || (m.requests == 0 && m.errors.total() == 0) {
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
        }
    }
    if tty {
        eprint!("\r{:60}\r", "");
    }
    let joined = crew.join()?;
    let mut total = Measured::new();
    let mut span = Duration::ZERO;
    let mut phase = Phase::Done;
    for (m, sp, ph) in &joined.results {
        total.merge(m);
        span = span.max(*sp);
        if *ph == Phase::Unreachable {
            phase = *ph;
        }
    }
    let (stack, driver) = (joined.stack, joined.driver);
    // Intervals that arrived after the loop, the last partial one included.
    for (q, rx) in pending.iter_mut().zip(&intervals) {
        q.extend(rx.try_iter());
    }
    while let Some(m) = merged_interval(&mut pending, true) {
        measured.push(&m)?;
    }
    measured.finish(span)?;
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
        output::write_plot(p, cfg, &report.total, report.open_loop)?;
    }
    if stop.load(Relaxed) && report.total.requests == 0 {
        bail!("stopped before any reply was measured");
    }
    Ok(report)
}
