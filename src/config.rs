//! Validated configuration, built from the command line by `cli` (or by tests directly).
//! Nothing here knows about clap; every value here has already been checked.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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

/// Most addresses one `--ip` set may hold: each costs every worker a port holder table
/// (64 KiB) and the peer an ARP entry.
pub const MAX_ADDRS: usize = 256;

/// The addresses xstack owns on an interface: IPv4 ones on one subnet (one prefix)
/// and IPv6 ones on one prefix, at least one address in all. Kept sorted and without
/// duplicates, so membership is a binary search and the index of an address names it
/// compactly (per-address port tables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrSet {
    prefix: u8,
    ips: Vec<Ipv4Addr>,
    prefix6: u8,
    ips6: Vec<Ipv6Addr>,
}

impl AddrSet {
    /// One address.
    pub fn single(addr: IfaceAddr) -> Self {
        AddrSet {
            prefix: addr.prefix,
            ips: vec![addr.ip],
            prefix6: 64,
            ips6: Vec::new(),
        }
    }

    /// The addresses of every `--ip` value given: each `ADDR/PREFIX` or a range
    /// `FIRST-LAST/PREFIX`. All must lie on one subnet.
    pub fn parse_all<S: AsRef<str>>(values: &[S]) -> Result<Self, ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if values.is_empty() {
            return bad("give xstack's address with --ip ADDR/PREFIX".into());
        }
        let mut ips = Vec::new();
        let mut ips6: Vec<Ipv6Addr> = Vec::new();
        let mut first: Option<IfaceAddr> = None;
        let mut first6: Option<(Ipv6Addr, u8)> = None;
        for v in values {
            let v = v.as_ref();
            if v.contains(':') {
                let (ip, prefix) = parse_v6(v)?;
                let (net, p) = *first6.get_or_insert((ip, prefix));
                if prefix != p || !same_prefix6(net, ip, p) {
                    return bad(format!(
                        "--ip {v} is not on {net}/{p}: all of xstack's IPv6 addresses must share one prefix"
                    ));
                }
                ips6.push(ip);
                continue;
            }
            let (range, addrs) = parse_range(v)?;
            let subnet = *first.get_or_insert(range);
            if range.prefix != subnet.prefix || !subnet.contains(range.ip) {
                return bad(format!(
                    "--ip {v} is not on {}/{}: all of xstack's addresses must share one subnet",
                    subnet.ip, subnet.prefix
                ));
            }
            ips.extend(addrs);
            if ips.len() + ips6.len() > MAX_ADDRS {
                return bad(format!(
                    "--ip gives more than {MAX_ADDRS} addresses; give a shorter range"
                ));
            }
        }
        ips.sort_unstable();
        ips.dedup();
        ips6.sort_unstable();
        ips6.dedup();
        let prefix = first.map_or(32, |f| f.prefix);
        let prefix6 = first6.map_or(64, |f| f.1);
        let set = AddrSet {
            prefix,
            ips,
            prefix6,
            ips6,
        };
        if let Some(p) = set.primary() {
            let bcast = p.broadcast();
            if set.prefix < 31 && set.ips.contains(&bcast) {
                return bad(format!(
                    "{bcast} is the broadcast address of /{}: it cannot be owned",
                    set.prefix
                ));
            }
        }
        Ok(set)
    }

    /// The first (lowest) IPv4 address: the source of ARP requests and the one a summary
    /// names first. None when the set holds IPv6 addresses only.
    pub fn primary(&self) -> Option<IfaceAddr> {
        self.ips.first().map(|&ip| IfaceAddr {
            ip,
            prefix: self.prefix,
        })
    }

    /// The IPv6 addresses, sorted.
    pub fn ips6(&self) -> &[Ipv6Addr] {
        &self.ips6
    }

    pub fn prefix6(&self) -> u8 {
        self.prefix6
    }

    /// Whether `ip` is one of our IPv6 addresses.
    #[inline]
    pub fn contains6(&self, ip: Ipv6Addr) -> bool {
        self.ips6.binary_search(&ip).is_ok()
    }

    /// Every address, IPv4 first, each family sorted (the order `IpAddr` sorts in).
    pub fn all(&self) -> Vec<IpAddr> {
        let v4 = self.ips.iter().map(|&a| IpAddr::V4(a));
        v4.chain(self.ips6.iter().map(|&a| IpAddr::V6(a))).collect()
    }

    /// Addresses of both families.
    pub fn count(&self) -> usize {
        self.ips.len() + self.ips6.len()
    }

    /// Whether `ip` (either family) is on one of our subnets.
    pub fn on_link_ip(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.primary().is_some_and(|p| p.contains(a)),
            IpAddr::V6(a) => self
                .ips6
                .first()
                .is_some_and(|&ours| same_prefix6(ours, a, self.prefix6)),
        }
    }

    /// Whether `ip` (either family) is ours.
    pub fn contains_ip(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.contains(a),
            IpAddr::V6(a) => self.contains6(a),
        }
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn ips(&self) -> &[Ipv4Addr] {
        &self.ips
    }

    /// IPv4 addresses (`count` is both families').
    pub fn len(&self) -> usize {
        self.ips.len()
    }

    /// No IPv4 address (the set may still hold IPv6 ones).
    pub fn is_empty(&self) -> bool {
        self.ips.is_empty()
    }

    /// The index of `ip` in the set, if it is one of ours.
    #[inline]
    pub fn index_of(&self, ip: Ipv4Addr) -> Option<usize> {
        if self.ips.len() == 1 {
            return (self.ips[0] == ip).then_some(0);
        }
        self.ips.binary_search(&ip).ok()
    }

    #[inline]
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.index_of(ip).is_some()
    }

    /// Whether `other` is on our subnet (reachable without a router).
    pub fn on_link(&self, other: Ipv4Addr) -> bool {
        self.primary().is_some_and(|p| p.contains(other))
    }

    /// `--instance-index I --instances N`: instance `i`'s slice of `n` disjoint, nearly
    /// equal, contiguous slices (the first ones one address longer).
    pub fn slice(&self, i: usize, n: usize) -> Result<AddrSet, ConfigError> {
        if n == 0 || i >= n {
            return Err(ConfigError::Invalid(format!(
                "--instance-index {i} must be below --instances {n}"
            )));
        }
        if n > self.ips.len() && !(self.ips.is_empty() && n <= self.ips6.len()) {
            return Err(ConfigError::Invalid(format!(
                "--instances {n} needs at least {n} addresses in --ip (it gives {}): \
                 give each instance its own source address, e.g. --ip 198.18.0.10-198.18.0.{}/{}",
                self.ips.len(),
                9 + n.min(245),
                self.prefix
            )));
        }
        if !self.ips.is_empty() && !self.ips6.is_empty() && n > self.ips6.len() {
            return Err(ConfigError::Invalid(format!(
                "--instances {n} needs at least {n} IPv6 addresses in --ip too (it gives {})",
                self.ips6.len()
            )));
        }
        Ok(AddrSet {
            prefix: self.prefix,
            ips: nth_slice(&self.ips, i, n).to_vec(),
            prefix6: self.prefix6,
            ips6: nth_slice(&self.ips6, i, n).to_vec(),
        })
    }
}

/// The `i`th of `n` nearly equal, contiguous slices of `all` (the first ones one longer).
fn nth_slice<T>(all: &[T], i: usize, n: usize) -> &[T] {
    let (q, r) = (all.len() / n, all.len() % n);
    let start = i * q + i.min(r);
    &all[start..start + q + usize::from(i < r)]
}

/// `ADDR/PREFIX` for IPv6: a unicast address that is not link-local, multicast,
/// loopback or unspecified, and a prefix length from 1 to 128.
fn parse_v6(v: &str) -> Result<(Ipv6Addr, u8), ConfigError> {
    let bad = |m: String| Err(ConfigError::Invalid(m));
    let Some((ip, prefix)) = v.split_once('/') else {
        return bad(format!(
            "'{v}' is not ADDR/PREFIX: give the IPv6 address with its prefix length, e.g. 2001:2::2/64"
        ));
    };
    let Ok(ip) = ip.parse::<Ipv6Addr>() else {
        return bad(format!("'{ip}' is not an IPv6 address"));
    };
    let Some(prefix) = prefix.parse::<u8>().ok().filter(|p| (1..=128).contains(p)) else {
        return bad(format!("prefix '/{prefix}' must be a number from 1 to 128"));
    };
    let link_local = ip.segments()[0] & 0xffc0 == 0xfe80;
    if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || link_local {
        return bad(format!(
            "{ip} cannot be owned by an interface: give a global unicast IPv6 address"
        ));
    }
    Ok((ip, prefix))
}

/// Whether `a` and `b` share their first `prefix` bits.
pub fn same_prefix6(a: Ipv6Addr, b: Ipv6Addr, prefix: u8) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix.min(128)))
    };
    (u128::from(a) ^ u128::from(b)) & mask == 0
}

impl AddrSet {
    /// The IPv4 part as `--ip` writes it: `ADDR/P`, `FIRST-LAST/P` or `A,B,C/P`.
    fn fmt_v4(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (first, last) = (self.ips[0], self.ips[self.ips.len() - 1]);
        if self.ips.len() == 1 {
            write!(f, "{first}/{}", self.prefix)
        } else if (u32::from(last) - u32::from(first)) as usize + 1 == self.ips.len() {
            write!(f, "{first}-{last}/{}", self.prefix)
        } else {
            let list: Vec<String> = self.ips.iter().map(Ipv4Addr::to_string).collect();
            write!(f, "{}/{}", list.join(","), self.prefix)
        }
    }
}

impl From<IfaceAddr> for AddrSet {
    fn from(a: IfaceAddr) -> Self {
        AddrSet::single(a)
    }
}

/// `ADDR/PREFIX` or `FIRST-LAST/PREFIX`: the subnet it names (its first address) and
/// its addresses.
fn parse_range(v: &str) -> Result<(IfaceAddr, Vec<Ipv4Addr>), ConfigError> {
    let Some((first, rest)) = v.split_once('-') else {
        let a: IfaceAddr = v.parse()?;
        return Ok((a, vec![a.ip]));
    };
    let a: IfaceAddr = format!("{first}/{}", rest.split_once('/').map_or("", |r| r.1)).parse()?;
    let last: IfaceAddr = rest.parse().map_err(|e: ConfigError| {
        ConfigError::Invalid(format!(
            "--ip {v}: FIRST-LAST/PREFIX, e.g. 198.18.0.10-198.18.0.49/24 ({e})"
        ))
    })?;
    let (lo, hi) = (u32::from(a.ip), u32::from(last.ip));
    if hi < lo {
        return Err(ConfigError::Invalid(format!(
            "--ip {v}: the range ends before it begins"
        )));
    }
    if !a.contains(last.ip) {
        return Err(ConfigError::Invalid(format!(
            "--ip {v}: the range leaves its /{} subnet",
            a.prefix
        )));
    }
    if (hi - lo) as usize >= MAX_ADDRS {
        return Err(ConfigError::Invalid(format!(
            "--ip {v} gives more than {MAX_ADDRS} addresses; give a shorter range"
        )));
    }
    Ok((a, (lo..=hi).map(Ipv4Addr::from).collect()))
}

impl std::fmt::Display for AddrSet {
    /// IPv4: `ADDR/P`, `FIRST-LAST/P` for a contiguous range, else `A,B,C/P`; then the
    /// IPv6 addresses, each `ADDR/P`, all after a space.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.ips.is_empty() {
            self.fmt_v4(f)?;
        }
        for (i, a) in self.ips6.iter().enumerate() {
            let sep = if i == 0 && self.ips.is_empty() {
                ""
            } else {
                " "
            };
            write!(f, "{sep}{a}/{}", self.prefix6)?;
        }
        Ok(())
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
    /// HTTP/1.1 requests (`--url`); responses parsed as HTTP (TCP only).
    Http,
    /// The bytes of `--request-file`; responses framed by size or delimiter (TCP only).
    Raw,
}

/// How a `--app raw` response ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawFraming {
    /// After exactly this many bytes (`--response-bytes`).
    Bytes(usize),
    /// After the first occurrence of these bytes (`--response-delimiter`).
    Delimiter(Vec<u8>),
}

/// What `--app http` and `--app raw` send and how their responses are framed: the
/// request's bytes, built once when the command line is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exchange {
    Http {
        /// `--url` as given.
        url: String,
        method: String,
        request: std::sync::Arc<[u8]>,
    },
    Raw {
        request: std::sync::Arc<[u8]>,
        framing: RawFraming,
    },
}

impl Exchange {
    pub fn request(&self) -> &[u8] {
        match self {
            Exchange::Http { request, .. } | Exchange::Raw { request, .. } => request,
        }
    }
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
        // The request is the user's bytes, whatever their length.
        AppProto::Http | AppProto::Raw => 1,
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
    /// The generator's addresses; connections and flows are spread over them.
    pub addrs: AddrSet,
    pub target: std::net::SocketAddr,
    pub driver: DriverChoice,
    pub transport: Transport,
    pub app: AppProto,
    /// `--app http` and `raw`: the request and the response framing.
    pub exchange: Option<Exchange>,
    /// Requests in flight per connection at most (`--pipeline`): the closed loop keeps
    /// this many in flight; `None` is 1 in closed loop and `rate × timeout` spread over
    /// the connections in open loop.
    pub pipeline: Option<u32>,
    pub mode: LoadMode,
    pub connections: u32,
    /// Bytes per request (for http and raw, the request's length).
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
    /// The source ports of the whole run (`--ports`; all of 49152–65535 by default).
    pub ports: PortSet,
    /// `--shared`: the --ip addresses are the kernel's too (filled in at start).
    pub shared: Option<SharedAddress>,
    /// The TCP congestion controller.
    pub congestion: Congestion,
}

/// First ephemeral port (RFC 6335).
pub const EPHEMERAL_FIRST: u16 = 49152;

/// The ephemeral ports one load worker owns: `first, first + stride, …` up to `last`.
/// The run as a whole may use part of the range only (`--ports`, and beside the kernel's
/// own ephemeral ports in shared-address mode); workers still share it out by
/// `(port - 49152) % workers`, so that the owner of a port is known without a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSet {
    first: u16,
    last: u16,
    stride: u16,
}

impl PortSet {
    /// All of 49152–65535 (one worker).
    pub const ALL: PortSet = PortSet {
        first: EPHEMERAL_FIRST,
        last: u16::MAX,
        stride: 1,
    };

    /// The ports `lo..=hi` of the ephemeral range, or None if that is not a part of it.
    pub fn range(lo: u16, hi: u16) -> Option<PortSet> {
        (EPHEMERAL_FIRST <= lo && lo <= hi).then_some(PortSet {
            first: lo,
            last: hi,
            stride: 1,
        })
    }

    /// The ports of worker `me` of `workers` when all of 49152–65535 is shared out by
    /// `(port - 49152) % workers`.
    pub fn of_worker(me: usize, workers: usize) -> PortSet {
        PortSet::ALL.share(me, workers)
    }

    /// Worker `me`'s share of this (whole-run) set: its ports `p` with
    /// `(p - 49152) % workers == me`. It may be empty when the set is smaller than the
    /// number of workers.
    pub fn share(self, me: usize, workers: usize) -> PortSet {
        assert!(me < workers && workers <= 64, "worker {me} of {workers}");
        debug_assert_eq!(self.stride, 1, "a share of a share");
        let w = workers as u32;
        let off = (u32::from(self.first) - u32::from(EPHEMERAL_FIRST)) % w;
        let skip = (me as u32 + w - off) % w;
        let stride = workers as u16;
        match u16::try_from(u32::from(self.first) + skip) {
            Ok(first) if first <= self.last => PortSet {
                first,
                last: self.last,
                stride,
            },
            // Fewer ports than workers: this one has none.
            _ => PortSet {
                first: u16::MAX,
                last: u16::MAX - 1,
                stride,
            },
        }
    }

    /// The first and last port of the set (`--ports`, as given).
    pub fn bounds(&self) -> (u16, u16) {
        (self.first, self.last)
    }

    /// How many ports the set holds.
    pub fn len(&self) -> usize {
        if self.first > self.last {
            return 0;
        }
        usize::from(self.last - self.first) / usize::from(self.stride) + 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `port` is one of the set's.
    pub fn contains(&self, port: u16) -> bool {
        self.index(port).is_some()
    }

    /// The `i`th port. `i` must be below `len()`.
    pub fn port(&self, i: usize) -> u16 {
        debug_assert!(i < self.len());
        self.first + (i as u16) * self.stride
    }

    /// The index of `port`, if the set holds it.
    pub fn index(&self, port: u16) -> Option<usize> {
        if port > self.last {
            return None;
        }
        let off = port.checked_sub(self.first)?;
        (off % self.stride == 0).then(|| usize::from(off / self.stride))
    }
}

/// What a load run on addresses the kernel shares needs from the kernel: set at start
/// from its neighbour table, before the workers run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharedAddress {
    /// No --ports was given: take the part of 49152–65535 above the kernel's own
    /// ephemeral range.
    pub pick_ports: bool,
    /// The on-link peers' MACs, as the kernel knows them (its ARP stays the kernel's).
    pub neighbours: Vec<(core::net::Ipv4Addr, [u8; 6])>,
}

#[cfg(test)]
impl LoadConfig {
    /// For unit tests: echo ping-pong from 198.18.0.10 on xsa0 to 198.18.0.2:7, 64 B,
    /// for 2 s, 1 s timeout, busy polling, one queue.
    pub(crate) fn for_tests(transport: Transport, connections: u32, rate: Option<f64>) -> Self {
        LoadConfig {
            iface: "xsa0".into(),
            addrs: AddrSet::parse_all(&["198.18.0.10/24"]).unwrap(),
            target: "198.18.0.2:7".parse().unwrap(),
            driver: DriverChoice::Auto,
            transport,
            app: AppProto::Echo,
            exchange: None,
            pipeline: None,
            mode: LoadMode::PingPong,
            connections,
            size: 64,
            duration: Some(Duration::from_secs(2)),
            requests: None,
            warmup: Duration::ZERO,
            rate,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            json: false,
            hdr_log: None,
            pcap: None,
            max_errors: Default::default(),
            start_at: None,
            instance: "test".into(),
            plot: None,
            poll: PollMode::Busy,
            queues: 1,
            shared_umem: false,
            xdp_mode: None,
            cores: Vec::new(),
            ports: PortSet::ALL,
            shared: None,
            congestion: Default::default(),
        }
    }
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
    pub addrs: AddrSet,
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
    /// TCP connections a worker holds at most.
    pub max_connections: usize,
    /// Worker i runs pinned to `cores[i % len]`; empty: not pinned.
    pub cores: Vec<usize>,
    /// The TCP congestion controller.
    pub congestion: Congestion,
    /// `--reflect-in-xdp`: ICMP echo, UDP echo and sockperf answered in xstack's XDP
    /// program (XDP_TX) instead of the stack.
    pub reflect_in_xdp: bool,
}

/// The TCP congestion controller (`--congestion`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Congestion {
    /// RFC 5681 and RFC 6582 (with RFC 6675's recovery when SACK is on): the standard,
    /// and the default. Every loss halves the window.
    #[default]
    NewReno,
    /// Model-based, after BBR (`proto/tcp/bbr.rs`): the window follows the measured
    /// bandwidth and RTT, and random loss does not shrink it.
    Bbr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_range_is_shared_out_by_the_whole_range_rule() {
        assert_eq!(PortSet::range(61000, 65535).unwrap().len(), 4536);
        assert_eq!(
            PortSet::range(1024, 2000),
            None,
            "below the ephemeral range"
        );
        assert_eq!(PortSet::range(60000, 59999), None);
        let whole = PortSet::range(61000, 65535).unwrap();
        for workers in [1, 2, 3, 7] {
            let shares: Vec<PortSet> = (0..workers).map(|w| whole.share(w, workers)).collect();
            assert_eq!(shares.iter().map(PortSet::len).sum::<usize>(), 4536);
            for (w, s) in shares.iter().enumerate() {
                for i in 0..s.len() {
                    let p = s.port(i);
                    assert!((61000..=65535).contains(&p));
                    // The owner by port, as steering computes it.
                    assert_eq!(usize::from(p - EPHEMERAL_FIRST) % workers, w);
                }
                assert!(!s.contains(60999), "below the range");
            }
        }
        // Fewer ports than workers: some shares are empty, none is out of range.
        let two = PortSet::range(65534, 65535).unwrap();
        let shares: Vec<usize> = (0..3).map(|w| two.share(w, 3).len()).collect();
        assert_eq!(shares.iter().sum::<usize>(), 2);
        assert!(
            two.share(0, 3).is_empty() || two.share(1, 3).is_empty() || two.share(2, 3).is_empty()
        );
        assert_eq!(PortSet::ALL.share(1, 2), PortSet::of_worker(1, 2));
    }

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
    fn addr_sets_take_ranges_and_lists_on_one_subnet() {
        let one = AddrSet::parse_all(&["198.18.0.2/24"]).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one.to_string(), "198.18.0.2/24");
        let r = AddrSet::parse_all(&["198.18.0.10-198.18.0.49/24"]).unwrap();
        assert_eq!(r.len(), 40);
        assert_eq!(r.primary().unwrap().ip, Ipv4Addr::new(198, 18, 0, 10));
        assert_eq!(r.index_of(Ipv4Addr::new(198, 18, 0, 49)), Some(39));
        assert_eq!(r.index_of(Ipv4Addr::new(198, 18, 0, 50)), None);
        assert_eq!(r.to_string(), "198.18.0.10-198.18.0.49/24");
        let l =
            AddrSet::parse_all(&["198.18.0.20/24", "198.18.0.10/24", "198.18.0.20/24"]).unwrap();
        assert_eq!(
            l.ips(),
            &[Ipv4Addr::new(198, 18, 0, 10), Ipv4Addr::new(198, 18, 0, 20)]
        );
        assert_eq!(l.to_string(), "198.18.0.10,198.18.0.20/24");
        for bad in [
            &["198.18.0.2/24", "198.18.1.2/24"][..],
            &["198.18.0.2/24", "198.18.0.3/25"],
            &["198.18.0.9-198.18.0.3/24"],
            &["198.18.0.250-198.18.1.3/24"],
            &["198.18.0.0-198.18.3.255/22"],
            &["198.18.0.250-198.18.0.255/24"],
            &["198.18.0.2-x/24"],
        ] {
            assert!(AddrSet::parse_all(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn instance_slices_are_disjoint_and_cover_the_set() {
        let r = AddrSet::parse_all(&["198.18.0.10-198.18.0.19/24"]).unwrap();
        let slices: Vec<AddrSet> = (0..3).map(|i| r.slice(i, 3).unwrap()).collect();
        assert_eq!(
            slices.iter().map(AddrSet::len).collect::<Vec<_>>(),
            [4, 3, 3]
        );
        let all: Vec<Ipv4Addr> = slices.iter().flat_map(|s| s.ips().to_vec()).collect();
        assert_eq!(all, r.ips());
        assert!(r.slice(3, 3).is_err());
        let e = r.slice(0, 11).unwrap_err().to_string();
        assert!(e.contains("at least 11 addresses"), "{e}");
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
