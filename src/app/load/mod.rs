//! `xstack load`: a load generator and latency benchmark on the stack. A worker runs the
//! engine on its own device; the main thread prints a live line per interval, writes the
//! HdrHistogram interval log, and at the end prints the report (text, or one JSON object
//! on the last line of stdout) and the percentile plot.

pub mod engine;
pub mod http;
pub mod live;
pub mod output;
pub mod raw;
pub mod schedule;
pub mod shared;
pub mod tcp;

use super::json;
use crate::config::{Exchange, LoadConfig, LoadMode, Transport};
use crate::metrics::hist::{percentile_table, LatencySummary};
use crate::metrics::StackSnapshot;
use crate::proto::tcp::TcpConfig;
use crate::runtime::launch::{launch, LaunchSpec, WorkerEnv};
use crate::runtime::steer::SteerRule;
use crate::stack::{App, Stack, StackConfig};
use crate::time::Instant;
use anyhow::bail;
use engine::{Measured, Phase, UdpLoad, STATUS_CODES};
use std::collections::VecDeque;
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
    /// When the run started.
    pub started_at: SystemTime,
    /// The measured span's intervals, merged over the workers.
    pub intervals: Vec<json::Interval>,
    /// Stopped by a signal before it was done.
    pub interrupted: bool,
    /// AF_XDP: what xstack's XDP program did with each frame.
    pub xdp: Option<crate::driver::XdpVerdicts>,
    /// What the user was told to do about trouble met during the run (reported among
    /// the limits).
    pub advice: Vec<String>,
    /// Set when the run stopped because the interface was deleted or went down.
    pub link_lost: Option<String>,
    /// The workers' busy time and loop time, summed over them (see `json::LoadDoc`).
    pub busy_ns: u64,
    pub run_ns: u64,
}

/// The exit status of a run that completed, but not well: no request succeeded, or
/// more errors than `--max-errors` allows.
pub const EXIT_RUN_FAILED: u8 = 3;
/// The exit status of a run stopped by SIGINT (after its report), as a shell gives it.
pub const EXIT_SIGINT: u8 = 130;
/// The same for SIGTERM.
pub const EXIT_SIGTERM: u8 = 143;

impl LoadReport {
    pub fn throughput(&self) -> f64 {
        let s = self.span.as_secs_f64();
        if s > 0.0 {
            self.total.requests as f64 / s
        } else {
            0.0
        }
    }

    /// How the run ended, with its exit status. `signal` is the exit status of the
    /// signal that stopped it, if one did.
    pub fn outcome(&self, cfg: &LoadConfig, signal: Option<u8>) -> json::Outcome {
        let (ok, errors) = (self.total.requests, self.total.errors.total());
        let (status, code, reason) = if let Some(why) = &self.link_lost {
            (
                "link_lost",
                1,
                Some(format!(
                    "{why} after {:.3} s of measuring; the figures cover that span",
                    self.span.as_secs_f64()
                )),
            )
        } else if let (true, Some(code)) = (self.interrupted, signal) {
            (
                "interrupted",
                code,
                Some(format!(
                    "stopped by {} after {:.3} s of measuring; the figures cover that span",
                    if code == EXIT_SIGINT {
                        "SIGINT"
                    } else {
                        "SIGTERM"
                    },
                    self.span.as_secs_f64()
                )),
            )
        } else if ok == 0 {
            let why = if errors > 0 {
                format!("all {errors} requests failed ({})", self.total.errors)
            } else {
                "nothing was measured".to_string()
            };
            (
                "no_success",
                EXIT_RUN_FAILED,
                Some(format!("no request succeeded: {why}")),
            )
        } else if !cfg.max_errors.allows(errors, ok) {
            (
                "too_many_errors",
                EXIT_RUN_FAILED,
                Some(format!(
                    "{errors} of {} requests failed ({}), more than --max-errors {} allows",
                    ok + errors,
                    self.total.errors,
                    cfg.max_errors
                )),
            )
        } else {
            ("ok", 0, None)
        };
        json::Outcome {
            status: status.into(),
            exit_code: code,
            reason,
        }
    }

    /// What held a figure back, one sentence each.
    pub fn limits(&self, cfg: &LoadConfig) -> Vec<String> {
        let mut out = self.advice.clone();
        let waits = self.stack.tcp_connect_no_port;
        if cfg.transport == Transport::Tcp && waits > 0 {
            let n = if cfg.target.is_ipv4() {
                cfg.addrs.len()
            } else {
                cfg.addrs.ips6().len()
            };
            let per_s =
                cfg.ports.len() as f64 / crate::stack::tcp::TIME_WAIT_REUSE_AFTER.as_secs_f64();
            out.push(format!(
                "the connection rate was held back by the ephemeral ports of {}: {} ports \
                 per address, each held in TIME_WAIT for at least {} s before reuse, so \
                 about {:.0} new connections a second at most ({waits} connection attempts \
                 waited for a free port); the server may be faster than this figure — \
                 spread the load over more source addresses (--ip FIRST-LAST/PREFIX) to \
                 measure it",
                if n == 1 {
                    "one source address".to_string()
                } else {
                    format!("{n} source addresses")
                },
                cfg.ports.len(),
                crate::stack::tcp::TIME_WAIT_REUSE_AFTER.as_secs(),
                per_s * n as f64
            ));
        }
        out
    }

    /// The report as `load --json` prints it.
    pub fn to_doc(&self, cfg: &LoadConfig, outcome: json::Outcome) -> json::LoadDoc {
        let e = &self.total.errors;
        json::LoadDoc {
            xstack_version: env!("CARGO_PKG_VERSION").into(),
            schema_version: json::SCHEMA_VERSION,
            kind: "load".into(),
            instance: cfg.instance.clone(),
            started_at: json::rfc3339(self.started_at),
            config: json::LoadSettings::of(cfg),
            driver: self.driver.clone(),
            queues: cfg.queues,
            outcome,
            interrupted: self.interrupted,
            target: cfg.target.to_string(),
            proto: json::proto_name(cfg.transport).into(),
            app: json::app_name(cfg.app).into(),
            mode: json::mode_name(cfg.mode).into(),
            connections: cfg.connections,
            size: cfg.size,
            requests: self.total.requests,
            errors: e.total(),
            errors_by_kind: json::ErrorsByKind {
                timeout: e.timeout,
                refused: e.refused,
                reset: e.reset,
                mismatch: e.mismatch,
                malformed: e.malformed,
                overload: e.overload,
            },
            replies: json::Replies {
                dropped: e.timeout,
                late_or_duplicate: self.total.replies.late_or_duplicate,
                out_of_order: self.total.replies.out_of_order,
                server_closes: self.total.replies.server_closes,
                retried: self.total.replies.retried,
            },
            duration_s: self.span.as_secs_f64(),
            throughput_rps: self.throughput(),
            rate_target_rps: cfg.rate,
            throughput_bps: self.bits_per_second(),
            bytes_received: self.total.bytes,
            http: self.http_counts(cfg),
            connections_per_s: (cfg.mode == LoadMode::Crr).then(|| self.throughput()),
            latency_us: json::Latency::of(&self.total.corrected),
            latency_uncorrected_us: self
                .open_loop
                .then(|| json::Latency::of(&self.total.uncorrected)),
            steered_frames: self.stack.steered_out,
            stack: self
                .stack
                .fields()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            drops_total: self.stack.drops_total(),
            drops: json::drops(&self.stack),
            limits: self.limits(cfg),
            xdp: self.xdp.map(json::XdpCounters::of),
            link_lost: self.link_lost.clone(),
            busy_s: self.busy_ns as f64 / 1e9,
            run_s: self.run_ns as f64 / 1e9,
            intervals: self.intervals.clone(),
        }
    }

    /// `--app http`: the responses by status class and code.
    pub fn http_counts(&self, cfg: &LoadConfig) -> Option<json::HttpCounts> {
        let Some(Exchange::Http { url, method, .. }) = &cfg.exchange else {
            return None;
        };
        let t = &self.total;
        let mut by_class: std::collections::BTreeMap<String, u64> =
            (1..=5).map(|k| (format!("{k}xx"), 0)).collect();
        let mut by_code = std::collections::BTreeMap::new();
        for code in STATUS_CODES {
            let n = t.with_status(code);
            if n > 0 {
                *by_class.entry(format!("{}xx", code / 100)).or_default() += n;
                by_code.insert(code.to_string(), n);
            }
        }
        Some(json::HttpCounts {
            url: url.clone(),
            method: method.clone(),
            responses: t.requests,
            by_class,
            by_code,
            body_bytes: t.bytes,
        })
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

    pub fn to_text(&self, cfg: &LoadConfig, outcome: &json::Outcome) -> String {
        let e = &self.total.errors;
        let mut s = format!(
            "xstack load: {} {} {} to {} over {} ({} connection{}, {} B)\n",
            json::proto_name(cfg.transport),
            json::app_name(cfg.app),
            json::mode_name(cfg.mode),
            cfg.target,
            self.driver,
            cfg.connections,
            if cfg.connections == 1 { "" } else { "s" },
            cfg.size
        );
        if self.interrupted {
            s += &format!(
                "  INTERRUPTED: the figures cover the {:.3} s measured before the signal\n",
                self.span.as_secs_f64()
            );
        }
        if cfg.mode == LoadMode::Stream {
            s += &format!(
                "  echoed {} bytes in {:.3} s = {:.1} Mbit/s\n  errors {} ({})\n",
                self.total.bytes,
                self.span.as_secs_f64(),
                self.bits_per_second() / 1e6,
                e.total(),
                e
            );
        } else {
            if cfg.mode == LoadMode::Crr {
                s += &format!(
                    "  {:.0} connections/s (connect, request, response, close)\n",
                    self.throughput()
                );
            }
            s += &format!(
                "  requests {} in {:.3} s = {:.0} req/s{}\n  errors {} ({})\n",
                self.total.requests,
                self.span.as_secs_f64(),
                self.throughput(),
                cfg.rate
                    .map(|r| format!(" (target {r:.0})"))
                    .unwrap_or_default(),
                e.total(),
                e
            );
            if let Some(h) = self.http_counts(cfg) {
                let codes: Vec<String> =
                    h.by_code.iter().map(|(k, n)| format!("{k} {n}")).collect();
                s += &format!(
                    "  {} {}: responses {} ({}), body bytes {}\n",
                    h.method,
                    h.url,
                    h.responses,
                    if codes.is_empty() {
                        "none".to_string()
                    } else {
                        codes.join(", ")
                    },
                    h.body_bytes
                );
            } else if cfg.exchange.is_some() {
                s += &format!("  response bytes {}\n", self.total.bytes);
            }
            let r = &self.total.replies;
            if r.server_closes + r.retried > 0 {
                s += &format!(
                    "  connections closed by the server {}, requests sent again {}\n",
                    r.server_closes, r.retried
                );
            }
            if r.late_or_duplicate + r.out_of_order > 0 {
                s += &format!(
                    "  replies late or duplicated {}, out of order {}\n",
                    r.late_or_duplicate, r.out_of_order
                );
            }
        }
        for l in self.limits(cfg) {
            s += &format!("  limit: {l}\n");
        }
        if let Some(reason) = &outcome.reason {
            s += &format!("  result: {} — {reason}\n", outcome.status);
        }
        if cfg.mode == LoadMode::Stream {
            return s;
        }
        if self.total.corrected.is_empty() {
            s += "  latency: no samples\n";
            return s;
        }
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
    fn measured_span(&self, now: Instant) -> Duration;
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
            fn measured_span(&self, now: Instant) -> Duration {
                <$t>::measured_span(self, now)
            }
            fn phase(&self) -> Phase {
                <$t>::phase(self)
            }
        }
    };
}
load_app!(UdpLoad);
load_app!(TcpLoad);

/// The connection table one load worker needs, for `ports` ephemeral ports of each
/// address. crr leaves a connection in TIME_WAIT per transaction, and so do `--app http`
/// and `raw` when the server says it closes (we close first): room for every port of
/// every address in TIME_WAIT, and more. Echo ping-pong and stream hold their
/// `--connections` (each in TIME_WAIT at the end) and replace one only when it is lost
/// (a reset or a timeout, which leave no TIME_WAIT): twice as many, and more. The table's hash index is reserved at its full size and its entries
/// land anywhere in it, so an index sized for a million ports (2 M buckets, 88 MiB)
/// becomes resident under 100 000 connections; sized by the connections, it costs
/// about 90 bytes a connection.
fn tcp_capacity(cfg: &LoadConfig, ports: usize) -> usize {
    let space = ports * cfg.addrs.count() + 1024;
    match (cfg.transport, cfg.mode) {
        (Transport::Udp, _) => 1024,
        (Transport::Tcp, LoadMode::PingPong | LoadMode::Stream) if cfg.exchange.is_none() => {
            space.min(2 * cfg.connections as usize + 1024)
        }
        (Transport::Tcp, _) => space,
    }
}

/// The stack one load worker runs: the generator's address on the worker's device,
/// opening connections and sending datagrams from the ephemeral ports it owns.
pub fn load_stack<A: App>(cfg: &LoadConfig, env: &WorkerEnv, tcp: TcpConfig, app: A) -> Stack<A> {
    let ports = cfg.ports.share(env.queue as usize, env.workers as usize);
    Stack::new(
        StackConfig {
            mtu: env.info.mtu,
            tcp,
            tcp_capacity: tcp_capacity(cfg, ports.len()),
            ports,
            icmp_unreachable_rate: 10,
            // One announcement is enough for the link; none for an address the kernel
            // shares, whose ARP is the kernel's.
            gratuitous_arp: env.queue == 0 && cfg.shared.is_none(),
            answer_arp: cfg.shared.is_none(),
            neighbours: cfg
                .shared
                .as_ref()
                .map(|s| s.neighbours.clone())
                .unwrap_or_default(),
            ..StackConfig::new(cfg.addrs.clone(), env.info.mac, env.secrets)
        },
        env.counters.clone(),
        app,
    )
}

/// What one worker measured.
type WorkerResult = (Measured, Duration, Phase);

fn finish<A: LoadApp>(mut stack: Stack<A>, now: Instant) -> WorkerResult {
    let app = stack.app_mut();
    app.flush_report();
    (app.total().clone(), app.measured_span(now), app.phase())
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

/// `--start-at`: sleeps until the wall clock reaches `at`, saying so; a stop request
/// ends the wait.
fn wait_until(at: SystemTime, stop: &AtomicBool) -> anyhow::Result<()> {
    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
    eprintln!(
        "xstack load: waiting until {} ({:.1} s) to start",
        json::rfc3339(at),
        left.as_secs_f64()
    );
    while let Ok(left) = at.duration_since(SystemTime::now()) {
        if stop.load(Relaxed) {
            bail!("stopped while waiting for --start-at");
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
    Ok(())
}

/// The environment variable that says whether UDP closed loop builds a request over
/// the reply it follows (`1`, the default) or always in a fresh transmit buffer (`0`,
/// kept to compare against: `bench/ab.sh`), read once at the start.
pub const IN_PLACE_ENV: &str = "XSTACK_LOAD_IN_PLACE";

/// Whether [`IN_PLACE_ENV`]'s value (if set) turns building in place on.
pub fn in_place(value: Option<&str>) -> anyhow::Result<bool> {
    match value {
        None | Some("1") => Ok(true),
        Some("0") => Ok(false),
        Some(other) => bail!(
            "{IN_PLACE_ENV}={other:?}: say 1 (a closed-loop UDP request is written over the \
             reply it follows and sent back in the same buffer; the default) or 0 (every \
             request in a transmit buffer of its own), or leave it unset"
        ),
    }
}

/// Runs a load test until it completes or `stop` is set.
pub fn run(cfg: &LoadConfig, stop: Arc<AtomicBool>) -> anyhow::Result<LoadReport> {
    let in_place = match std::env::var(IN_PLACE_ENV) {
        Ok(v) => in_place(Some(&v))?,
        Err(std::env::VarError::NotPresent) => in_place(None)?,
        Err(e) => bail!("{IN_PLACE_ENV}: {e}"),
    };
    let n = cfg.queues.max(1);
    let spec = LaunchSpec {
        role: "load",
        iface: cfg.iface.clone(),
        addrs: cfg.addrs.clone(),
        driver: cfg.driver,
        queues: n,
        cores: cfg.cores.clone(),
        shared_umem: cfg.shared_umem,
        xdp_mode: cfg.xdp_mode,
        claims: shared::claims(cfg),
        reflect: None,
        pcap: cfg.pcap.clone(),
        poll: cfg.poll,
        // A flow belongs to the worker that owns its local port.
        steer: SteerRule::ByLocalPort,
        // By port, no owner map to size.
        connections: 0,
    };
    let mut intervals = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..n {
        let (tx, rx) = crossbeam::channel::unbounded::<Measured>();
        intervals.push(rx);
        senders.push(tx);
    }
    if let Some(at) = cfg.start_at {
        // Say what is wrong with the interface now, not after the wait.
        crate::driver::iface::lookup(&cfg.iface)?;
        wait_until(at, &stop)?;
    }
    let started_at = SystemTime::now();
    let whole = cfg.clone();
    let mut crew = match cfg.transport {
        Transport::Udp => launch(
            &spec,
            stop.clone(),
            move |env| {
                let share = whole.share(env.queue);
                let ports = whole.ports.share(env.queue as usize, env.workers as usize);
                let app = UdpLoad::new(&share, env.clock.now())
                    .with_in_place(in_place)
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
                let tcp = TcpConfig {
                    congestion: share.congestion,
                    ..app.tcp_config()
                };
                Ok(load_stack(&share, env, tcp, app))
            },
            finish,
        )?,
    };
    // Interval k is printed once every worker has sent its interval k.
    let mut pending: Vec<VecDeque<Measured>> = (0..n).map(|_| VecDeque::new()).collect();

    // The measured intervals, and the --hdr-log they go to.
    let mut measured = output::Intervals::for_run(cfg)?;
    let live = live::Live::new(match (cfg.duration, cfg.requests) {
        (Some(d), _) => Some(live::Bound::Time(d + cfg.warmup)),
        (None, Some(n)) => Some(live::Bound::Requests(n)),
        (None, None) => None,
    });
    let mut done = 0u64;
    let started = std::time::Instant::now();
    while !crew.finished() {
        let mut sel = crossbeam::channel::Select::new();
        for rx in &intervals {
            sel.recv(rx);
        }
        // Woken by an interval, or every 100 ms to move the bar.
        let _ = sel.ready_timeout(Duration::from_millis(100));
        crew.advise();
        crew.check_link();
        for (q, rx) in pending.iter_mut().zip(&intervals) {
            q.extend(rx.try_iter());
        }
        live.progress(started.elapsed(), done);
        while let Some(m) = merged_interval(&mut pending, false) {
            done += m.requests + m.errors.total();
            if !measured.push(&m)? || (m.requests == 0 && m.errors.total() == 0) {
                continue;
            }
            let l = json::Latency::of(&m.corrected);
            let us = |v: Option<f64>| v.map_or("        -".to_string(), |v| format!("{v:9.3}"));
            let secs = cfg.interval.as_secs_f64();
            if cfg.mode == LoadMode::Stream {
                live.line(&format!(
                    "xstack load: {:8.1} Mbit/s echoed  errors {}",
                    m.bytes as f64 * 8.0 / secs / 1e6,
                    m.errors.total()
                ));
            } else {
                live.line(&format!(
                    "xstack load: {:8.0} req/s  p50 {} us  p99 {} us  errors {}",
                    m.requests as f64 / secs,
                    us(l.p50),
                    us(l.p99),
                    m.errors.total()
                ));
            }
        }
    }
    live.finish();
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
    let (stack, driver, xdp, advice) = (joined.stack, joined.driver, joined.xdp, joined.advice);
    let link_lost = joined.link_lost;
    // Intervals that arrived after the loop, the last partial one included.
    for (q, rx) in pending.iter_mut().zip(&intervals) {
        q.extend(rx.try_iter());
    }
    while let Some(m) = merged_interval(&mut pending, true) {
        measured.push(&m)?;
    }
    let series = measured.finish(span)?;
    if phase == Phase::Unreachable {
        bail!(
            "no {} reply from {} on {} after the retries: is the target up and on this link?",
            if cfg.target.is_ipv4() {
                "ARP"
            } else {
                "neighbour discovery"
            },
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
        started_at,
        intervals: series,
        interrupted: stop.load(Relaxed) && phase != Phase::Unreachable,
        xdp,
        advice,
        link_lost,
        busy_ns: joined.workers.busy_ns,
        run_ns: joined.workers.run_ns,
    };
    if let Some(p) = &cfg.plot {
        output::write_plot(p, cfg, &report.total, report.open_loop)?;
    }
    Ok(report)
}
