//! The JSON documents xstack writes — `load --json` and `serve --json` — as typed,
//! versioned structs. The same structs produce the JSON Schema (`schemars`), which is
//! committed as `docs/schema/load.schema.json` and `docs/schema/serve.schema.json`; a test
//! fails when the two drift apart, and another validates real output against the files.
//! `docs/json.md` describes every field with an example.
//!
//! Rules: `schema_version` changes when a field changes meaning or goes away (adding a
//! field does not); latency figures are `null` when there are no samples, never 0; the
//! keys scripts already read from `load --json` (`requests`, `errors`, `errors_by_kind`,
//! `duration_s`, `throughput_rps`, `latency_us` with `p50`, `p99`, `p999`, `max`,
//! `drops`) keep their meaning.

use crate::config::{
    AppProto, DriverChoice, LoadConfig, LoadMode, PollMode, ServeConfig, Transport,
};
use crate::metrics::StackSnapshot;
use hdrhistogram::Histogram;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The version of every document's layout.
pub const SCHEMA_VERSION: u32 = 1;

/// The time as RFC 3339 UTC with microseconds, e.g. `2026-12-01T10:15:02.123456Z`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// Latency percentiles of one histogram, in microseconds; each `null` without samples.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct Latency {
    /// Samples in the histogram.
    pub samples: u64,
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub stdev: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub p9999: Option<f64>,
    pub max: Option<f64>,
}

impl Latency {
    /// From a histogram of nanoseconds.
    pub fn of(h: &Histogram<u64>) -> Self {
        let some = !h.is_empty();
        let us = |ns: f64| some.then(|| (ns / 1000.0 * 1000.0).round() / 1000.0);
        let q = |p: f64| us(h.value_at_quantile(p) as f64);
        Latency {
            samples: h.len(),
            min: us(h.min() as f64),
            mean: us(h.mean()),
            stdev: us(h.stdev()),
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            p999: q(0.999),
            p9999: q(0.9999),
            max: us(h.max() as f64),
        }
    }
}

/// `--max-errors` and friends: how the run ended and why, with the exit status.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct Outcome {
    /// `ok`, `no_success` (no request succeeded), `too_many_errors` (past
    /// `--max-errors`), `interrupted` (SIGINT or SIGTERM; what was measured until
    /// then is reported), or `link_lost` (the interface was deleted or went down).
    pub status: String,
    /// The process's exit status: 0, 3, 130 (SIGINT), 143 (SIGTERM) or 1 (link_lost).
    pub exit_code: u8,
    /// One sentence, for anything but `ok`.
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ErrorsByKind {
    /// No reply within `--timeout-ms`.
    pub timeout: u64,
    /// Refused: an ICMP port unreachable (UDP), a RST to the SYN (TCP).
    pub refused: u64,
    /// TCP: an established connection reset with requests outstanding, or closed by the
    /// server before it answered anything.
    pub reset: u64,
    /// A reply whose bytes differ from the request's.
    pub mismatch: u64,
    /// `--app http` / `raw`: bytes that are not a response (bad status line or
    /// framing, a response nobody asked for); the connection was dropped.
    pub malformed: u64,
    /// Open loop: a request due while its flow had too many outstanding.
    pub overload: u64,
}

/// Replies worth knowing about that are not errors, as sockperf counts them.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct Replies {
    /// Requests never answered (the timeouts).
    pub dropped: u64,
    /// A reply to a request no longer waited for: after its timeout, or a second copy.
    pub late_or_duplicate: u64,
    /// A reply that overtook an older unanswered request of the same flow.
    pub out_of_order: u64,
    /// TCP request/response apps: connections the server closed after answering
    /// (`Connection: close`, or its FIN), which the client opened again.
    pub server_closes: u64,
    /// Requests such a close left unanswered, sent again on the new connection.
    pub retried: u64,
}

/// `--app http`: the responses by status.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct HttpCounts {
    /// The URL requested.
    pub url: String,
    pub method: String,
    /// Responses in the measured span (= `requests`).
    pub responses: u64,
    /// By status class: `1xx`…`5xx` (each key present).
    pub by_class: BTreeMap<String, u64>,
    /// By status code, e.g. `"200"`: only the codes seen.
    pub by_code: BTreeMap<String, u64>,
    /// Body bytes received (chunked: the chunks' data), = `bytes_received`.
    pub body_bytes: u64,
}

/// One reporting interval of the measured span.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct Interval {
    /// Start, in seconds from the start of the measured span.
    pub t_s: f64,
    pub length_s: f64,
    pub requests: u64,
    pub rate_rps: f64,
    pub errors: u64,
    /// Echoed payload bits a second.
    pub throughput_bps: f64,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub max_us: Option<f64>,
}

/// The effective configuration of a load run, every setting with its value.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct LoadSettings {
    pub iface: String,
    pub ip: String,
    pub target: String,
    /// The driver asked for (`auto`, `xdp`, `packet`); the top-level `driver` is the one used.
    pub driver: String,
    pub proto: String,
    pub app: String,
    pub mode: String,
    pub connections: u32,
    pub size: usize,
    /// `--pipeline`: requests in flight per connection at most (null: the default).
    pub pipeline: Option<u32>,
    /// `--url` (http).
    pub url: Option<String>,
    pub duration_s: Option<f64>,
    pub requests: Option<u64>,
    pub warmup_s: f64,
    pub rate_rps: Option<f64>,
    pub interval_s: f64,
    pub timeout_ms: u64,
    pub max_errors: String,
    pub queues: u32,
    pub cores: Vec<usize>,
    pub poll: String,
    pub umem: String,
    pub hdr_log: Option<String>,
    pub plot: Option<String>,
    pub pcap: Option<String>,
    /// `--start-at`, RFC 3339 UTC.
    pub start_at: Option<String>,
    /// The source ports, LO-HI (`--ports`, or the part left beside the kernel's own
    /// ephemeral ports with `--shared`).
    pub ports: String,
    /// `--shared`: the addresses are the kernel's too; xstack took only its source ports.
    pub shared: bool,
}

/// `xstack load --json`.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct LoadDoc {
    pub xstack_version: String,
    pub schema_version: u32,
    /// Always `load`.
    pub kind: String,
    /// This instance's name (`--instance`; default hostname-PID), as in its log's tags.
    pub instance: String,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    pub config: LoadSettings,
    /// The driver the workers ran on.
    pub driver: String,
    /// Workers (queues) used.
    pub queues: u32,
    pub outcome: Outcome,
    /// Stopped by SIGINT or SIGTERM before the run was done.
    pub interrupted: bool,
    pub target: String,
    pub proto: String,
    pub app: String,
    pub mode: String,
    pub connections: u32,
    pub size: usize,
    /// Requests answered correctly in the measured span.
    pub requests: u64,
    /// Failed requests, all kinds.
    pub errors: u64,
    pub errors_by_kind: ErrorsByKind,
    pub replies: Replies,
    /// The measured span: from the end of warm-up until sending stopped (or the
    /// interruption).
    pub duration_s: f64,
    pub throughput_rps: f64,
    pub rate_target_rps: Option<f64>,
    pub throughput_bps: f64,
    /// Payload bytes of the successful replies: the echoed bytes, HTTP body bytes, raw
    /// response bytes.
    pub bytes_received: u64,
    /// `--app http` only: responses by status, body bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCounts>,
    /// crr only: completed transactions a second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections_per_s: Option<f64>,
    /// From the intended send time in open loop (coordinated omission corrected).
    pub latency_us: Latency,
    /// Open loop only: from the actual send time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_uncorrected_us: Option<Latency>,
    /// Frames handed to the worker owning their flow.
    pub steered_frames: u64,
    /// Every counter of the load generator's own stack by name (`tcp_connections_opened`,
    /// `tcp_time_wait_reused`, `arp_requests_sent`, …; see docs/json.md).
    pub stack: BTreeMap<String, u64>,
    /// Frames the load generator's own stack dropped, in all and by reason.
    pub drops_total: u64,
    pub drops: BTreeMap<String, u64>,
    /// What held a figure back, one sentence each (e.g. the ephemeral-port ceiling, or
    /// partial checksums from the peer, as printed on stderr at the first one).
    pub limits: Vec<String>,
    /// AF_XDP: what xstack's XDP program did with each frame (absent on AF_PACKET).
    pub xdp: Option<XdpCounters>,
    /// Why the run stopped early: the interface was deleted or went down (outcome
    /// `link_lost`, exit status 1).
    pub link_lost: Option<String>,
    /// The workers' busy time over the whole run (warm-up and drain included): their
    /// batches that received frames, kick included, summed over the workers, in
    /// seconds. A busy-polling client's CPU is always near 100 %; `busy_s / run_s` is
    /// the part of it that did work.
    pub busy_s: f64,
    /// How long the workers' loops ran, summed over the workers, in seconds.
    pub run_s: f64,
    pub intervals: Vec<Interval>,
}

/// The effective configuration of a serve run.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct ServeSettings {
    pub iface: String,
    pub ip: String,
    pub driver: String,
    pub udp_echo: Vec<u16>,
    pub tcp_echo: Vec<u16>,
    pub sockperf: Option<u16>,
    pub queues: u32,
    pub cores: Vec<usize>,
    pub poll: String,
    pub umem: String,
    pub interval_s: f64,
    pub syn_backlog: usize,
    pub trace: bool,
    pub pcap: Option<String>,
    /// `--claim`: the ports of an address shared with the kernel, as `udp:7`, `tcp:7`
    /// (empty: xstack owns its addresses).
    pub claim: Vec<String>,
    /// `--reflect-in-xdp`: ICMP echo, UDP echo and sockperf answered in the XDP program.
    pub reflect_in_xdp: bool,
}

/// Time per busy batch, with how many batches and frames. The latency is sampled: one
/// busy batch in 16 is timed (the split costs the loop a clock read).
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct BatchTimes {
    pub batches: u64,
    pub frames: u64,
    #[serde(flatten)]
    pub latency: Latency,
}

/// `xstack serve --json`: the summary when it stops.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct ServeDoc {
    pub xstack_version: String,
    pub schema_version: u32,
    /// Always `serve`.
    pub kind: String,
    pub started_at: String,
    pub config: ServeSettings,
    pub driver: String,
    pub queues: u32,
    pub duration_s: f64,
    /// Every stack counter by name (`rx_frames`, `tcp_closed_fin`, …; see docs/json.md).
    #[serde(flatten)]
    pub counters: BTreeMap<String, u64>,
    pub drops_total: u64,
    pub drops: BTreeMap<String, u64>,
    pub rx_ring_full: u64,
    pub rx_oversize: u64,
    /// Frames whose TCP/UDP checksum the sender's offload left partial, finished by the
    /// packet driver (`TP_STATUS_CSUMNOTREADY`) and then handled as any other.
    pub rx_checksum_completed: u64,
    /// AF_XDP: what xstack's XDP program did with each frame (absent on AF_PACKET).
    pub xdp: Option<XdpCounters>,
    /// `--reflect-in-xdp`: the replies xstack's XDP program made itself, with XDP_TX
    /// (null without the flag). The stack never saw those requests: they are in none of
    /// its counters.
    pub reflected_in_xdp: Option<ReflectedCounters>,
    /// What the user was told to do about trouble met during the run (partial checksums,
    /// super-frames), one sentence each, as printed on stderr at the first such frame.
    pub advice: Vec<String>,
    /// Why serve stopped early: the interface was deleted or went down (it then exits
    /// with status 1).
    pub link_lost: Option<String>,
    pub tx_no_buffer: u64,
    pub tx_errors: u64,
    /// TCP connections still in the tables when the workers stopped.
    pub tcp_connections_left: u64,
    /// Time in the stack per busy batch.
    pub batch_us: BatchTimes,
    /// Time of the TX kick per busy batch.
    pub flush_us: Latency,
    /// The workers' busy time: their batches that received frames, kick included,
    /// summed over the workers, in seconds (a busy-polling worker's CPU is always near
    /// 100 %; this is the part that did work).
    pub busy_s: f64,
    /// How long the workers' loops ran, summed over the workers, in seconds.
    pub run_s: f64,
}

/// The per-verdict counters of xstack's XDP program.
#[derive(Clone, Copy, Debug, Serialize, JsonSchema, PartialEq)]
pub struct XdpCounters {
    /// Frames sent to an AF_XDP socket.
    pub redirected: u64,
    /// Frames passed to the kernel's stack (not xstack's).
    pub passed: u64,
    /// Frames for xstack too long for an AF_XDP frame (GSO super-frames), dropped.
    pub oversize: u64,
    /// Frames for xstack on a queue without a socket, dropped.
    pub no_socket: u64,
}

/// What xstack's XDP program answered itself (`serve --reflect-in-xdp`).
#[derive(Clone, Copy, Debug, Serialize, JsonSchema, PartialEq)]
pub struct ReflectedCounters {
    /// ICMP echo replies.
    pub icmp_echo: u64,
    /// UDP echo replies.
    pub udp_echo: u64,
    /// sockperf replies (messages with PONG_REQUEST, CLIENT cleared).
    pub sockperf: u64,
    /// sockperf messages without PONG_REQUEST, dropped as the stack drops them.
    pub sockperf_no_reply: u64,
}

impl ReflectedCounters {
    pub fn of(r: crate::driver::XdpReflected) -> Self {
        ReflectedCounters {
            icmp_echo: r.icmp_echo,
            udp_echo: r.udp_echo,
            sockperf: r.sockperf,
            sockperf_no_reply: r.sockperf_no_reply,
        }
    }
}

impl XdpCounters {
    pub fn of(v: crate::driver::XdpVerdicts) -> Self {
        XdpCounters {
            redirected: v.redirected,
            passed: v.passed,
            oversize: v.oversize,
            no_socket: v.no_socket,
        }
    }
}

/// Every drop reason with its count (zeros included, so the keys are stable).
pub fn drops(s: &StackSnapshot) -> BTreeMap<String, u64> {
    crate::metrics::DropReason::ALL
        .iter()
        .map(|&r| (r.as_str().to_string(), s.drops[r as usize]))
        .collect()
}

pub fn driver_name(d: DriverChoice) -> &'static str {
    match d {
        DriverChoice::Auto => "auto",
        DriverChoice::Xdp => "xdp",
        DriverChoice::Packet => "packet",
    }
}

pub fn poll_name(p: PollMode) -> &'static str {
    match p {
        PollMode::Busy => "busy",
        PollMode::Adaptive => "adaptive",
    }
}

pub fn umem_name(shared: bool) -> &'static str {
    if shared {
        "shared"
    } else {
        "per-queue"
    }
}

pub fn proto_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    }
}

pub fn app_name(a: AppProto) -> &'static str {
    match a {
        AppProto::Echo => "echo",
        AppProto::Sockperf => "sockperf",
        AppProto::Http => "http",
        AppProto::Raw => "raw",
    }
}

pub fn mode_name(m: LoadMode) -> &'static str {
    match m {
        LoadMode::PingPong => "pingpong",
        LoadMode::Stream => "stream",
        LoadMode::Crr => "crr",
    }
}

fn path(p: &Option<std::path::PathBuf>) -> Option<String> {
    p.as_ref().map(|p| p.display().to_string())
}

impl LoadSettings {
    pub fn of(cfg: &LoadConfig) -> Self {
        LoadSettings {
            iface: cfg.iface.clone(),
            ip: cfg.addrs.to_string(),
            target: cfg.target.to_string(),
            driver: driver_name(cfg.driver).into(),
            proto: proto_name(cfg.transport).into(),
            app: app_name(cfg.app).into(),
            mode: mode_name(cfg.mode).into(),
            connections: cfg.connections,
            size: cfg.size,
            pipeline: cfg.pipeline,
            url: match &cfg.exchange {
                Some(crate::config::Exchange::Http { url, .. }) => Some(url.clone()),
                _ => None,
            },
            duration_s: cfg.duration.map(|d| d.as_secs_f64()),
            requests: cfg.requests,
            warmup_s: cfg.warmup.as_secs_f64(),
            rate_rps: cfg.rate,
            interval_s: cfg.interval.as_secs_f64(),
            timeout_ms: cfg.timeout.as_millis() as u64,
            max_errors: cfg.max_errors.to_string(),
            queues: cfg.queues,
            cores: cfg.cores.clone(),
            poll: poll_name(cfg.poll).into(),
            umem: umem_name(cfg.shared_umem).into(),
            hdr_log: path(&cfg.hdr_log),
            plot: path(&cfg.plot),
            pcap: path(&cfg.pcap),
            start_at: cfg.start_at.map(rfc3339),
            ports: {
                let (lo, hi) = cfg.ports.bounds();
                format!("{lo}-{hi}")
            },
            shared: cfg.shared.is_some(),
        }
    }
}

impl ServeSettings {
    pub fn of(cfg: &ServeConfig) -> Self {
        ServeSettings {
            iface: cfg.iface.clone(),
            ip: cfg.addrs.to_string(),
            driver: driver_name(cfg.driver).into(),
            udp_echo: cfg.udp_echo.clone(),
            tcp_echo: cfg.tcp_echo.clone(),
            sockperf: cfg.sockperf,
            queues: cfg.queues,
            cores: cfg.cores.clone(),
            poll: poll_name(cfg.poll).into(),
            umem: umem_name(cfg.shared_umem).into(),
            interval_s: cfg.interval.as_secs_f64(),
            syn_backlog: cfg.syn_backlog,
            trace: cfg.trace,
            pcap: path(&cfg.pcap),
            claim: cfg
                .claims
                .iter()
                .map(|&(proto, port)| match proto {
                    crate::driver::open::ClaimProto::Tcp => format!("tcp:{port}"),
                    crate::driver::open::ClaimProto::Udp => format!("udp:{port}"),
                })
                .collect(),
            reflect_in_xdp: cfg.reflect_in_xdp,
        }
    }
}

/// The JSON Schema of `load --json`, as committed in docs/schema/load.schema.json.
pub fn load_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(LoadDoc)).unwrap_or_default()
}

/// The JSON Schema of `serve --json`, as committed in docs/schema/serve.schema.json.
pub fn serve_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ServeDoc)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::hist::latency_histogram;

    fn committed(name: &str) -> serde_json::Value {
        let path = format!("{}/docs/schema/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The committed schema files are the ones the structs produce (regenerate them
    /// with `cargo run --release -- schema load > docs/schema/load.schema.json`).
    #[test]
    fn the_committed_schemas_match_the_structs() {
        assert_eq!(
            committed("load.schema.json"),
            load_schema(),
            "docs/schema/load.schema.json is stale: regenerate it with `xstack schema load`"
        );
        assert_eq!(
            committed("serve.schema.json"),
            serve_schema(),
            "docs/schema/serve.schema.json is stale: regenerate it with `xstack schema serve`"
        );
    }

    #[test]
    fn an_empty_histogram_gives_null_percentiles_not_zeros() {
        let l = Latency::of(&latency_histogram());
        assert_eq!(l.samples, 0);
        assert_eq!((l.p50, l.p99, l.p999, l.max), (None, None, None, None));
        let v = serde_json::to_value(&l).unwrap();
        assert!(v["p50"].is_null() && v["max"].is_null());
        let mut h = latency_histogram();
        h.record(12_345).unwrap();
        let l = Latency::of(&h);
        assert_eq!(l.samples, 1);
        assert!(
            l.p50.is_some_and(|p| (p - 12.345).abs() < 0.02),
            "{:?}",
            l.p50
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_764_584_102_123_456);
        assert_eq!(rfc3339(t), "2025-12-01T10:15:02.123456Z");
    }
}
