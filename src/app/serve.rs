//! `xstack serve`: the responder configuration of the stack — UDP echo and sockperf on
//! the stack's fast path, TCP echo and sockperf ([`Responder`]) on its endpoint — on one
//! worker per queue, until SIGINT or SIGTERM; then a summary of what every worker counted.

use super::json;
use super::responder::Responder;
use crate::config::ServeConfig;
use crate::driver::open::Reflect;
use crate::driver::DriverStats;
use crate::metrics::hist::LatencySummary;
use crate::metrics::{DropReason, StackCounters, StackSnapshot};
use crate::runtime::launch::{launch, Crew, LaunchSpec};
use crate::runtime::steer::SteerRule;
use crate::runtime::WorkerStats;
use crate::stack::trace::Tracer;
use crate::stack::{Stack, StackConfig};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
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
    pub started_at: std::time::SystemTime,
    /// The XDP program's per-verdict counters, on AF_XDP.
    pub xdp: Option<crate::driver::XdpVerdicts>,
    /// What the user was told to do during the run, one sentence each.
    pub advice: Vec<String>,
    /// Why the run stopped early, when the interface was deleted or went down (the
    /// binary then exits non-zero).
    pub link_lost: Option<String>,
}

/// The stack one serve worker runs: `cfg`'s services on a device with `mac` and `mtu`.
pub fn responder_stack(
    cfg: &ServeConfig,
    mac: [u8; 6],
    mtu: usize,
    secrets: crate::stack::Secrets,
    counters: Arc<StackCounters>,
) -> Stack<Responder> {
    let app = Responder::new(&cfg.tcp_echo, cfg.sockperf, counters.clone());
    // Sharing the address, the kernel keeps its ARP: no announcement, no answers.
    let owned = cfg.claims.is_empty();
    let stack = Stack::new(
        StackConfig {
            mac,
            mtu,
            answer_arp: owned,
            gratuitous_arp: owned,
            ..StackConfig::serve(cfg, secrets)
        },
        counters,
        app,
    );
    if cfg.trace {
        stack.with_tracer(Tracer::stderr())
    } else {
        stack
    }
}

/// A responder stack from a stack configuration, with TCP echo on `tcp_echo` and sockperf
/// on `cfg.sockperf` (both listened on), for tests and benchmarks.
pub fn responder_stack_with(
    mut cfg: StackConfig,
    tcp_echo: &[u16],
    counters: Arc<StackCounters>,
) -> Stack<Responder> {
    cfg.tcp_listen.extend_from_slice(tcp_echo);
    cfg.tcp_listen.extend(cfg.sockperf);
    let app = Responder::new(tcp_echo, cfg.sockperf, counters.clone());
    Stack::new(cfg, counters, app)
}

/// The environment variable that picks how serve's workers own TCP connections, read
/// once at the start: `arrival` (the default) or `peer`, the older rule, kept to compare
/// against (`bench/queues.sh`, `tests/kernel/queues.sh`).
pub const STEER_ENV: &str = "XSTACK_SERVE_STEER";

/// The rule [`STEER_ENV`] names (`value` is its value, if set).
pub fn steer_rule(value: Option<&str>) -> anyhow::Result<SteerRule> {
    match value {
        None | Some("arrival") => Ok(SteerRule::ByArrival),
        Some("peer") => Ok(SteerRule::ByPeer),
        Some(other) => anyhow::bail!(
            "{STEER_ENV}={other:?}: say `arrival` (a TCP connection belongs to the worker \
             whose queue its SYN arrived on; the default) or `peer` (to the worker a hash \
             of the peer's address and port picks), or leave it unset"
        ),
    }
}

/// Runs the responder until `stop` is set (the binary sets it from SIGINT/SIGTERM).
pub fn run(cfg: &ServeConfig, stop: Arc<AtomicBool>) -> anyhow::Result<ServeSummary> {
    let steer = match std::env::var(STEER_ENV) {
        Ok(v) => steer_rule(Some(&v))?,
        Err(std::env::VarError::NotPresent) => steer_rule(None)?,
        Err(e) => anyhow::bail!("{STEER_ENV}: {e}"),
    };
    let spec = LaunchSpec {
        role: "serve",
        iface: cfg.iface.clone(),
        addrs: cfg.addrs.clone(),
        driver: cfg.driver,
        queues: cfg.queues,
        cores: cfg.cores.clone(),
        shared_umem: cfg.shared_umem,
        xdp_mode: cfg.xdp_mode,
        claims: cfg.claims.clone(),
        reflect: cfg.reflect_in_xdp.then(|| {
            let (udp_echo, sockperf) = Reflect::ports_for(&cfg.udp_echo, cfg.sockperf, &cfg.claims);
            Reflect {
                udp_echo,
                sockperf,
                ..Reflect::default()
            }
        }),
        pcap: cfg.pcap.clone(),
        poll: cfg.poll,
        // TCP connections belong to one worker each, the one whose queue the SYN
        // arrived on: a segment that lands on another queue is handed over (UDP, ICMP and
        // ARP requests are answered where they land).
        steer,
        connections: cfg.max_connections,
    };
    if cfg.reflect_in_xdp && cfg.pcap.is_some() {
        eprintln!(
            "xstack: --pcap records what the stack sees: the requests answered in XDP \
             (--reflect-in-xdp) and their replies are not in it"
        );
    }
    let served = cfg.clone();
    let crew = launch(
        &spec,
        stop.clone(),
        move |env| {
            Ok(responder_stack(
                &served,
                env.info.mac,
                env.info.mtu,
                env.secrets,
                env.counters.clone(),
            )
            .with_ownership(env.ownership.clone()))
        },
        |_stack, _| (),
    )?;
    let started = crew.clock.now();
    let started_at = std::time::SystemTime::now();
    let ready = format!(
        "xstack: ready on {} {} (driver {}, {} queue{})",
        cfg.iface,
        cfg.addrs,
        crew.driver,
        cfg.queues,
        if cfg.queues == 1 { "" } else { "s" }
    );
    // With --json, stdout carries the one JSON document alone.
    if cfg.json {
        eprintln!("{ready}");
    } else {
        println!("{ready}");
        std::io::stdout().flush().ok();
    }

    let mut crew = crew;
    live_report(cfg.interval, &stop, &mut crew);

    let clock = crew.clock;
    let joined = crew.join()?;
    Ok(ServeSummary {
        xdp: joined.xdp,
        advice: joined.advice,
        link_lost: joined.link_lost,
        driver: joined.driver,
        stack: joined.stack,
        driver_stats: joined.driver_stats,
        workers: joined.workers,
        duration: clock.now().saturating_since(started),
        started_at,
    })
}

fn merged(counters: &[Arc<StackCounters>]) -> StackSnapshot {
    let mut total = StackSnapshot::default();
    for c in counters {
        total.merge(&c.snapshot());
    }
    total
}

/// The reason most of an interval's drops had, as `: N REASON`, or nothing.
fn top_reason(cur: &StackSnapshot, last: &StackSnapshot) -> String {
    DropReason::ALL
        .iter()
        .map(|&r| (r, cur.drops[r as usize] - last.drops[r as usize]))
        .filter(|&(_, n)| n > 0)
        .max_by_key(|&(_, n)| n)
        .map_or(String::new(), |(r, n)| format!(": {n} {}", r.as_str()))
}

/// Waits for the stop flag, printing a live line to stderr every `interval` if asked, and
/// at once the advice the run's trouble calls for.
fn live_report<R>(interval: Duration, stop: &AtomicBool, crew: &mut Crew<R>) {
    let tick = Duration::from_millis(50);
    let clock = crew.clock;
    let mut last = merged(crew.counters());
    let mut last_t = clock.now();
    while !stop.load(Relaxed) {
        thread::sleep(tick);
        crew.advise();
        if crew.check_link() {
            break;
        }
        if interval.is_zero() || clock.now().saturating_since(last_t) < interval {
            continue;
        }
        let now = clock.now();
        let mut cur = merged(crew.counters());
        // Dropped by the driver before the stack: counted under their reason too.
        cur.drops[DropReason::PartialChecksum as usize] += crew.partial_checksums();
        let secs = now.saturating_since(last_t).as_secs_f64();
        eprintln!(
            "xstack: rx {:.0} pps, tx {:.0} pps, tcp conns {} (+{} opened), drops {} (+{}{})",
            (cur.rx_frames - last.rx_frames) as f64 / secs,
            (cur.tx_frames - last.tx_frames) as f64 / secs,
            cur.tcp_table_inserted - cur.tcp_table_removed,
            cur.tcp_connections_opened - last.tcp_connections_opened,
            cur.drops_total(),
            cur.drops_total() - last.drops_total(),
            top_reason(&cur, &last)
        );
        last = cur;
        last_t = now;
    }
}

impl ServeSummary {
    /// The document `--json` prints: one JSON object, the only thing on stdout.
    pub fn to_doc(&self, cfg: &ServeConfig) -> json::ServeDoc {
        let counters = self
            .stack
            .fields()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let d = &self.driver_stats;
        json::ServeDoc {
            xstack_version: env!("CARGO_PKG_VERSION").into(),
            schema_version: json::SCHEMA_VERSION,
            kind: "serve".into(),
            started_at: json::rfc3339(self.started_at),
            config: json::ServeSettings::of(cfg),
            driver: self.driver.clone(),
            queues: cfg.queues,
            duration_s: self.duration.as_secs_f64(),
            counters,
            drops_total: self.stack.drops_total(),
            drops: json::drops(&self.stack),
            rx_ring_full: d.rx_ring_full,
            rx_oversize: d.rx_oversize,
            rx_checksum_completed: d.rx_checksum_completed,
            xdp: self.xdp.map(json::XdpCounters::of),
            reflected_in_xdp: self
                .xdp
                .and_then(|x| x.reflected)
                .map(json::ReflectedCounters::of),
            advice: self.advice.clone(),
            link_lost: self.link_lost.clone(),
            tx_no_buffer: d.tx_no_buffer,
            tx_errors: d.tx_errors,
            tcp_connections_left: self.connections_left(),
            batch_us: json::BatchTimes {
                batches: self.workers.batches,
                frames: self.workers.frames,
                latency: json::Latency::of(&self.workers.batch_ns),
            },
            flush_us: json::Latency::of(&self.workers.flush_ns),
            busy_s: self.workers.busy_ns as f64 / 1e9,
            run_s: self.workers.run_ns as f64 / 1e9,
        }
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
                "  time in the stack per batch ({} batches, {} frames; 1 in {} timed): {}",
                self.workers.batches,
                self.workers.frames,
                crate::runtime::SPLIT_EVERY,
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
        if let Some(x) = &self.xdp {
            let _ = writeln!(
                s,
                "  xdp program: {} redirected, {} passed to the kernel, {} oversize, {} on a queue without a socket",
                x.redirected, x.passed, x.oversize, x.no_socket
            );
            if let Some(r) = &x.reflected {
                let _ = writeln!(
                    s,
                    "  answered in xdp (--reflect-in-xdp): {} icmp echo, {} udp echo, {} sockperf replies; {} sockperf messages without a reply request dropped",
                    r.icmp_echo, r.udp_echo, r.sockperf, r.sockperf_no_reply
                );
            }
        }
        for a in &self.advice {
            let _ = writeln!(s, "  advice: {a}");
        }
        if let Some(why) = &self.link_lost {
            let _ = writeln!(s, "  stopped early: {why}");
        }
        let d = &self.driver_stats;
        for (name, v) in [
            ("rx_ring_full", d.rx_ring_full),
            ("rx_oversize", d.rx_oversize),
            ("rx_checksum_completed", d.rx_checksum_completed),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(xdp: Option<crate::driver::XdpVerdicts>) -> ServeSummary {
        ServeSummary {
            driver: "xdp".into(),
            stack: StackSnapshot::default(),
            driver_stats: DriverStats::default(),
            workers: WorkerStats::new(),
            duration: Duration::from_secs(1),
            started_at: std::time::SystemTime::now(),
            xdp,
            advice: Vec::new(),
            link_lost: None,
        }
    }

    #[test]
    fn the_summary_shows_what_xdp_answered_only_when_it_did() {
        let on = summary(Some(crate::driver::XdpVerdicts {
            redirected: 9,
            reflected: Some(crate::driver::XdpReflected {
                icmp_echo: 100,
                udp_echo: 2000,
                sockperf: 31,
                sockperf_no_reply: 4,
            }),
            ..Default::default()
        }));
        let text = on.to_text();
        assert!(
            text.contains(
                "answered in xdp (--reflect-in-xdp): 100 icmp echo, 2000 udp echo, 31 sockperf \
                 replies; 4 sockperf messages without a reply request dropped"
            ),
            "{text}"
        );
        let off = summary(Some(crate::driver::XdpVerdicts::default())).to_text();
        assert!(!off.contains("answered in xdp"), "{off}");
        assert!(!summary(None).to_text().contains("answered in xdp"));
        assert_eq!(
            on.xdp.and_then(|x| x.reflected).map(|r| r.replies()),
            Some(2131)
        );
    }

    #[test]
    fn the_live_line_names_the_interval_s_main_drop_reason() {
        let last = StackSnapshot::default();
        let mut cur = StackSnapshot::default();
        assert_eq!(top_reason(&cur, &last), "");
        cur.drops[DropReason::PartialChecksum as usize] = 12;
        cur.drops[DropReason::NotForUs as usize] = 2;
        assert_eq!(top_reason(&cur, &last), ": 12 partial_checksum");
        assert_eq!(top_reason(&cur, &cur), "", "nothing new in this interval");
    }
}

#[cfg(test)]
mod steer_env_tests {
    use super::*;

    #[test]
    fn the_steering_rule_comes_from_the_environment_and_bad_values_are_refused() {
        assert_eq!(steer_rule(None).unwrap(), SteerRule::ByArrival);
        assert_eq!(steer_rule(Some("arrival")).unwrap(), SteerRule::ByArrival);
        assert_eq!(steer_rule(Some("peer")).unwrap(), SteerRule::ByPeer);
        for bad in ["", "Peer", "hash", "arrival "] {
            let e = steer_rule(Some(bad)).unwrap_err().to_string();
            assert!(e.contains(STEER_ENV) && e.contains("arrival"), "{e}");
        }
    }
}
