//! Validated configuration, built from the command line by `cli` (or by tests directly).
//! Nothing here knows about clap; every value here has already been checked.

use core::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// A configuration the user asked for that cannot work. The message says why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
}

/// Which driver to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverChoice {
    Auto,
    Xdp,
    Packet,
}

/// How a worker waits for traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollMode {
    /// Never sleep, never yield: for a core per worker and the lowest latency.
    Busy,
    /// For a while after the last frame, poll and yield the core between polls (so that
    /// workers sharing a core take turns), then sleep in the driver's `wait`.
    Adaptive,
}

/// An IPv4 address with its prefix length: the address xstack owns and its subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfaceAddr {
    pub ip: Ipv4Addr,
    pub prefix: u8,
}

impl IfaceAddr {
    pub fn netmask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// Whether `other` is on this subnet (reachable without a router).
    pub fn contains(&self, other: Ipv4Addr) -> bool {
        (u32::from(self.ip) ^ u32::from(other)) & self.netmask() == 0
    }

    /// The subnet's directed broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.ip) | !self.netmask())
    }
}

impl FromStr for IfaceAddr {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let (ip, prefix) = s.split_once('/').ok_or_else(|| {
            ConfigError::Invalid(format!(
                "'{s}' is not ADDR/PREFIX: give the address with its prefix length, e.g. 198.18.0.2/24"
            ))
        })?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| ConfigError::Invalid(format!("'{ip}' is not an IPv4 address")))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (1..=32).contains(p))
            .ok_or_else(|| {
                ConfigError::Invalid(format!("prefix '/{prefix}' must be a number from 1 to 32"))
            })?;
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback() {
            return Err(ConfigError::Invalid(format!(
                "{ip} cannot be owned by an interface: give a unicast address"
            )));
        }
        Ok(IfaceAddr { ip, prefix })
    }
}

/// What the load generator speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// The application protocol on top of the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppProto {
    /// Replies equal requests (RFC 862).
    Echo,
    /// sockperf's header with the pong-request bit set.
    Sockperf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadMode {
    PingPong,
    Stream,
    Crr,
}

/// The smallest request that can carry the load generator's own fields (sequence number,
/// intended and actual send times) after the application header.
pub const fn min_request_size(app: AppProto) -> usize {
    match app {
        AppProto::Echo => 24,
        AppProto::Sockperf => 14 + 24,
    }
}

/// Everything `xstack load` needs.
/// The latest `--start-at` accepted, from now.
pub const START_AT_MAX_AHEAD: Duration = Duration::from_secs(24 * 3600);
/// How far in the past a `--start-at` may lie (clocks of hosts differ a little).
pub const START_AT_MAX_LATE: Duration = Duration::from_secs(1);

/// `--start-at RFC3339|UNIX_SECONDS`, checked against `now`: not more than a second in
/// the past, not more than a day ahead.
pub fn parse_start_at(
    s: &str,
    now: std::time::SystemTime,
) -> Result<std::time::SystemTime, ConfigError> {
    use std::time::UNIX_EPOCH;
    let t = if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let secs: f64 = s.parse().map_err(|_| {
            ConfigError::Invalid(format!("--start-at '{s}' is not a number of seconds"))
        })?;
        UNIX_EPOCH + Duration::from_secs_f64(secs)
    } else {
        humantime::parse_rfc3339_weak(s).map_err(|e| {
            ConfigError::Invalid(format!(
                "--start-at '{s}' is neither an RFC 3339 time (2026-12-01T10:30:00Z) nor Unix seconds: {e}"
            ))
        })?
    };
    let stamp = |t: std::time::SystemTime| humantime::format_rfc3339_seconds(t).to_string();
    if t + START_AT_MAX_LATE < now {
        return Err(ConfigError::Invalid(format!(
            "--start-at {} is in the past (it is {} now): give a time ahead, e.g. a minute from now",
            stamp(t),
            stamp(now)
        )));
    }
    if t > now + START_AT_MAX_AHEAD {
        return Err(ConfigError::Invalid(format!(
            "--start-at {} is more than a day ahead (it is {} now)",
            stamp(t),
            stamp(now)
        )));
    }
    Ok(t)
}

/// How many failed requests a load run may have and still count as a success
/// (`--max-errors N|P%`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxErrors {
    /// At most this many.
    Count(u64),
    /// At most this share of all requests, in percent.
    Percent(f64),
}

impl Default for MaxErrors {
    /// Any error fails the run: what a CI job expects of a load test that went wrong.
    fn default() -> Self {
        MaxErrors::Count(0)
    }
}

impl MaxErrors {
    /// Whether `errors` out of `errors + ok` requests passes this limit.
    pub fn allows(&self, errors: u64, ok: u64) -> bool {
        match *self {
            MaxErrors::Count(n) => errors <= n,
            MaxErrors::Percent(p) => {
                let total = errors + ok;
                total == 0 || errors as f64 * 100.0 <= p * total as f64
            }
        }
    }
}

impl std::fmt::Display for MaxErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxErrors::Count(n) => write!(f, "{n}"),
            MaxErrors::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl FromStr for MaxErrors {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = || {
            ConfigError::Invalid(format!(
                "--max-errors '{s}' is neither a count (e.g. 10) nor a percentage (e.g. 0.5%)"
            ))
        };
        match s.strip_suffix('%') {
            Some(p) => {
                let p: f64 = p.trim().parse().map_err(|_| bad())?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(ConfigError::Invalid(format!(
                        "--max-errors {s}: a percentage from 0% to 100%"
                    )));
                }
                Ok(MaxErrors::Percent(p))
            }
            None => s.trim().parse().map(MaxErrors::Count).map_err(|_| bad()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub iface: String,
    pub addr: IfaceAddr,
    pub target: std::net::SocketAddrV4,
    pub driver: DriverChoice,
    pub transport: Transport,
    pub app: AppProto,
    pub mode: LoadMode,
    pub connections: u32,
    pub size: usize,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub warmup: Duration,
    /// Open loop: requests a second across all flows.
    pub rate: Option<f64>,
    pub interval: Duration,
    pub timeout: Duration,
    pub json: bool,
    pub hdr_log: Option<PathBuf>,
    /// Record every frame to this pcap file.
    pub pcap: Option<PathBuf>,
    /// Failed requests allowed before the run counts as failed (exit status 3).
    pub max_errors: MaxErrors,
    /// Start at this wall-clock instant (`--start-at`), so that instances on many hosts
    /// measure the same window.
    pub start_at: Option<std::time::SystemTime>,
    /// Who this instance is, in the report and the log (`--instance`).
    pub instance: String,
    pub plot: Option<PathBuf>,
    pub poll: PollMode,
    /// Worker threads, one per queue.
    pub queues: u32,
    /// AF_XDP: one UMEM for all the queues' sockets instead of one each.
    pub shared_umem: bool,
    /// AF_XDP: where the XDP program runs (None: native, else generic).
    pub xdp_mode: Option<crate::driver::XdpMode>,
    /// Worker i runs pinned to `cores[i % len]`; empty: not pinned.
    pub cores: Vec<usize>,
}

impl LoadConfig {
    /// Worker `w`'s share of a run with `queues` workers: its part of the connections,
    /// of the open-loop rate and of the request limit (the first workers take the
    /// remainders).
    pub fn share(&self, w: u32) -> LoadConfig {
        let n = self.queues.max(1);
        let split =
            |total: u64| total / u64::from(n) + u64::from(u64::from(w) < total % u64::from(n));
        LoadConfig {
            connections: split(u64::from(self.connections)) as u32,
            rate: self.rate.map(|r| r / f64::from(n)),
            requests: self.requests.map(split),
            queues: 1,
            ..self.clone()
        }
    }
}

/// Everything `xstack serve` needs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub iface: String,
    pub addr: IfaceAddr,
    pub driver: DriverChoice,
    /// UDP ports that echo (sorted, unique).
    pub udp_echo: Vec<u16>,
    /// UDP port of the sockperf responder.
    pub sockperf: Option<u16>,
    /// TCP ports that echo (sorted, unique).
    pub tcp_echo: Vec<u16>,
    pub queues: u32,
    /// AF_XDP: one UMEM for all the queues' sockets instead of one each.
    pub shared_umem: bool,
    /// AF_XDP: where the XDP program runs (None: native, else generic).
    pub xdp_mode: Option<crate::driver::XdpMode>,
    /// Shared-address mode: the protocol/port pairs xstack takes on an address the kernel
    /// keeps (empty: xstack owns the address outright).
    pub claims: Vec<(crate::driver::open::ClaimProto, u16)>,
    pub pcap: Option<PathBuf>,
    pub json: bool,
    pub poll: PollMode,
    /// Live report period; zero disables it.
    pub interval: Duration,
    /// Print the TCP ladder of every connection on stderr.
    pub trace: bool,
    /// Connections allowed in SYN_RCVD before SYN cookies answer.
    pub syn_backlog: usize,
    /// Worker i runs pinned to `cores[i % len]`; empty: not pinned.
    pub cores: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_at_takes_rfc3339_or_unix_seconds_within_a_day() {
        use std::time::{Duration, UNIX_EPOCH};
        let now = UNIX_EPOCH + Duration::from_secs(1_780_000_000);
        let t = parse_start_at("1780000060", now).unwrap();
        assert_eq!(t, now + Duration::from_secs(60));
        let r = parse_start_at("2026-05-28T20:27:40Z", now).unwrap();
        assert_eq!(r, UNIX_EPOCH + Duration::from_secs(1_780_000_060));
        assert!(
            parse_start_at("1779999999.5", now).is_ok(),
            "half a second late is fine"
        );
        let late = parse_start_at("1779999990", now).unwrap_err().to_string();
        assert!(late.contains("in the past"), "{late}");
        let far = parse_start_at("1780090000", now).unwrap_err().to_string();
        assert!(far.contains("more than a day"), "{far}");
        assert!(parse_start_at("tomorrow", now).is_err());
    }

    #[test]
    fn subnet_arithmetic() {
        let a: IfaceAddr = "198.18.0.2/24".parse().unwrap();
        assert!(a.contains(Ipv4Addr::new(198, 18, 0, 200)));
        assert!(!a.contains(Ipv4Addr::new(198, 18, 1, 1)));
        assert_eq!(a.broadcast(), Ipv4Addr::new(198, 18, 0, 255));
        let h: IfaceAddr = "198.18.0.2/32".parse().unwrap();
        assert!(!h.contains(Ipv4Addr::new(198, 18, 0, 3)));
        assert_eq!(h.broadcast(), h.ip);
    }
}
