//! The command line: clap derive structs, and their conversion into validated configs.
//! This is the only module that sees clap types; everything else takes a `config::*`.

use crate::config::{
    AddrSet, AppProto, ConfigError, DriverChoice, IfaceAddr, LoadConfig, LoadMode, PollMode,
    PortSet, ServeConfig, Transport,
};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "xstack",
    version,
    about = "A kernel-bypass TCP/UDP stack: echo responder, load generator, latency benchmark"
)]
pub struct Cli {
    /// Show the messages of libbpf and libxdp (the XDP program's loading, the verifier).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The exit statuses of `xstack load`, as `--help` prints them.
pub const LOAD_EXIT_CODES: &str = "\
Exit status:
  0    the run completed and no more requests failed than --max-errors allows
  1    a usage or set-up error (bad arguments, no privilege, no such interface, ...),
       or the interface was deleted or went down during the run (after the report)
  3    the run completed, but no request succeeded or more failed than --max-errors
  130  stopped by SIGINT (143: SIGTERM); the report of what was measured is printed";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Answer ARP, ICMP echo, UDP echo and sockperf on an interface xstack owns.
    Serve(ServeArgs),
    /// Drive many UDP flows or TCP connections against a server and measure RTT.
    #[command(after_help = LOAD_EXIT_CODES)]
    Load(Box<LoadArgs>),
    /// Draw HdrHistogram interval logs as one percentile-distribution plot (SVG or PNG).
    Plot(PlotArgs),
    /// Merge HdrHistogram interval logs and report their percentiles.
    Report(ReportArgs),
    /// Print the JSON Schema of a --json document (docs/schema/ holds them too).
    Schema(SchemaArgs),
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Interval logs (written with --hdr-log, or by any HdrHistogram tool); their
    /// histograms are added up.
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// Take the intervals with this tag (default: untagged, else "corrected").
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also draw the merged percentile distribution (.svg or .png).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// The plot's title (default: the logs' names).
    #[arg(long)]
    pub title: Option<String>,
}

impl ReportArgs {
    pub fn into_options(self) -> crate::app::report::Options {
        crate::app::report::Options {
            logs: self.logs,
            tag: self.tag,
            json: self.json,
            plot: self.plot,
            title: self.title,
        }
    }
}

#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// Which document.
    #[arg(value_enum)]
    pub document: SchemaDoc,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaDoc {
    /// `xstack load --json`.
    Load,
    /// `xstack serve --json`.
    Serve,
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// Interval logs written with --hdr-log; each becomes one line, named after its file.
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// The plot to write: .svg or .png.
    #[arg(short, long, value_name = "FILE.svg")]
    pub output: PathBuf,
    #[arg(long, default_value = "latency by percentile")]
    pub title: String,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverArg {
    /// AF_XDP if it works on the interface, else AF_PACKET.
    Auto,
    /// AF_XDP sockets (xsk-rs).
    Xdp,
    /// AF_PACKET raw sockets.
    Packet,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollArg {
    /// Spin on the rings without sleeping or yielding (a core per worker).
    Busy,
    /// Poll for a while, yielding the core between polls, then sleep in poll() until
    /// traffic comes.
    Adaptive,
}

/// `--claim udp:7,tcp:7`: the protocol/port pairs of a shared address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims(pub Vec<(crate::driver::open::ClaimProto, u16)>);

pub fn parse_claims(s: &str) -> Result<Claims, String> {
    use crate::driver::open::ClaimProto;
    let mut out = Vec::new();
    for item in s.split(',') {
        let (proto, port) = item
            .split_once(':')
            .ok_or_else(|| format!("'{item}': write PROTO:PORT, e.g. udp:7 or tcp:80"))?;
        let proto = match proto {
            "udp" => ClaimProto::Udp,
            "tcp" => ClaimProto::Tcp,
            p => return Err(format!("'{item}': the protocol is udp or tcp, not '{p}'")),
        };
        let port: u16 = port
            .parse()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("'{item}': the port is 1 to 65535"))?;
        if !out.contains(&(proto, port)) {
            out.push((proto, port));
        }
    }
    Ok(Claims(out))
}

/// `--xdp-mode`: where xstack's XDP program runs.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpModeArg {
    /// By the interface's driver: generic on a veth (measured faster there), native
    /// elsewhere; the other mode if the first cannot attach. Said on stderr.
    Auto,
    /// In the driver (XDP_FLAGS_DRV_MODE).
    Native,
    /// On the skb, for any interface (XDP_FLAGS_SKB_MODE).
    Generic,
}

impl XdpModeArg {
    fn choice(self) -> Option<crate::driver::XdpMode> {
        match self {
            XdpModeArg::Auto => None,
            XdpModeArg::Native => Some(crate::driver::XdpMode::Native),
            XdpModeArg::Generic => Some(crate::driver::XdpMode::Generic),
        }
    }
}

/// `--umem`: how the AF_XDP sockets of several queues get their frames.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum UmemArg {
    /// A UMEM for each queue's socket.
    PerQueue,
    /// One UMEM for all of them (XDP_SHARED_UMEM), each with its own share of frames.
    Shared,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Interface to own, e.g. xsb0.
    #[arg(long)]
    pub iface: String,
    /// The address xstack answers for, with its prefix, e.g. 198.18.0.2/24, or a range
    /// (198.18.0.2-198.18.0.9/24); repeatable, all on one subnet. It must not be
    /// configured on the kernel's interface, unless --claim shares it.
    #[arg(long, value_name = "ADDR/PREFIX", required = true)]
    pub ip: Vec<String>,
    #[arg(long, value_enum, default_value_t = DriverArg::Auto)]
    pub driver: DriverArg,
    /// Echo UDP datagrams sent to this port (repeatable).
    #[arg(long = "udp-echo", value_name = "PORT")]
    pub udp_echo: Vec<u16>,
    /// Answer sockperf clients on this UDP port.
    #[arg(long, value_name = "PORT")]
    pub sockperf: Option<u16>,
    /// Serve RFC 862 echo over TCP on this port (repeatable).
    #[arg(long = "tcp-echo", value_name = "PORT")]
    pub tcp_echo: Vec<u16>,
    /// Share the address with the kernel, which keeps it configured on the interface:
    /// xstack takes only these protocol:port pairs (e.g. udp:7,tcp:7,udp:11111) and the
    /// kernel keeps ARP and everything else (AF_XDP only).
    #[arg(long, value_name = "PROTO:PORT,...", value_parser = parse_claims)]
    pub claim: Option<Claims>,
    /// Number of queues, one worker thread each.
    #[arg(long, default_value_t = 1)]
    pub queues: u32,
    /// With AF_XDP and several queues: one UMEM per queue, or one shared by all.
    #[arg(long, value_enum, default_value_t = UmemArg::PerQueue)]
    pub umem: UmemArg,
    /// With AF_XDP: where xstack's XDP program runs.
    #[arg(long = "xdp-mode", value_enum, default_value_t = XdpModeArg::Auto)]
    pub xdp_mode: XdpModeArg,
    /// Write every frame received and sent to this pcap file.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Print the summary as one JSON object on one line.
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_enum, default_value_t = PollArg::Adaptive)]
    pub poll: PollArg,
    /// Print a live line with rates every this many seconds (0: never).
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    pub interval: f64,
    /// Print every TCP segment and state transition on stderr, as a ladder per
    /// connection. Off by default: it costs a line of output per segment.
    #[arg(long)]
    pub trace: bool,
    /// Connections allowed in SYN_RCVD at once; past this, SYN cookies answer.
    #[arg(long, value_name = "N", default_value_t = crate::stack::DEFAULT_SYN_BACKLOG)]
    pub syn_backlog: usize,
    /// TCP connections each worker (queue) holds at most; past this, a SYN is dropped
    /// (counted). An idle connection costs about 1.2 KiB (no buffers), a busy one its
    /// 128 KiB of buffers more.
    #[arg(long, value_name = "N", default_value_t = crate::stack::DEFAULT_TCP_CAPACITY)]
    pub max_connections: usize,
    /// Pin worker i (queue i) to the i-th core of this list, e.g. 1 or 0-3 or 0,2.
    #[arg(long, value_name = "LIST", value_parser = parse_cores)]
    pub cores: Option<CoreList>,
    /// TCP congestion control: newreno (RFC 5681/6582; every loss halves the window) or
    /// bbr (a model of the path's bandwidth and RTT, as Linux's tcp_bbr: random loss
    /// does not shrink the window).
    #[arg(long, value_enum, default_value = "newreno")]
    pub congestion: CongestionArg,
    /// Answer ICMP echo, UDP echo (--udp-echo) and sockperf (--sockperf) in xstack's XDP
    /// program with XDP_TX, exactly as the stack would, without waking it; TCP and
    /// everything else still go to the stack (AF_XDP only; IPv4 only; with --claim,
    /// only claimed UDP ports, and ICMP stays the kernel's).
    #[arg(long = "reflect-in-xdp")]
    pub reflect_in_xdp: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CongestionArg {
    Newreno,
    Bbr,
}

impl CongestionArg {
    pub fn choice(self) -> crate::config::Congestion {
        match self {
            CongestionArg::Newreno => crate::config::Congestion::NewReno,
            CongestionArg::Bbr => crate::config::Congestion::Bbr,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtoArg {
    Udp,
    Tcp,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppArg {
    /// Replies must equal requests byte for byte (RFC 862 echo).
    Echo,
    /// sockperf's 14-byte header with the pong-request bit, for a real `sockperf server`.
    Sockperf,
    /// HTTP/1.1 requests to --url over keep-alive connections (TCP).
    Http,
    /// The bytes of --request-file; a response is --response-bytes N bytes or ends
    /// with --response-delimiter (TCP).
    Raw,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeArg {
    /// One request in flight per flow (closed loop).
    Pingpong,
    /// Send as fast as the window allows; report throughput.
    Stream,
    /// Connect, one request/response, close; repeated.
    Crr,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Interface to own, e.g. xsa0.
    #[arg(long)]
    pub iface: String,
    /// The load generator's own address, e.g. 198.18.0.10/24, or a range of them
    /// (198.18.0.10-198.18.0.49/24); repeatable, all on one subnet. Connections and
    /// flows are spread over the addresses, each with all of 49152-65535.
    #[arg(long, value_name = "ADDR/PREFIX", required = true)]
    pub ip: Vec<String>,
    /// The server, e.g. 198.18.0.2:7 or '[2001:2::2]:7' (with --app http, --url names it).
    #[arg(long, value_name = "IP:PORT")]
    pub target: Option<String>,
    #[arg(long, value_enum, default_value_t = DriverArg::Auto)]
    pub driver: DriverArg,
    /// The transport (--app http: tcp; --app raw: tcp by default, or udp).
    #[arg(long, value_enum)]
    pub proto: Option<ProtoArg>,
    #[arg(long, value_enum, default_value_t = AppArg::Echo)]
    pub app: AppArg,
    /// --app http: the URL to request, http://IP[:PORT]/PATH or http://[IPV6][:PORT]/PATH
    /// (an address: there is no resolver; give a name with --header 'Host: NAME').
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// --app http: the request method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// --app http: a header field for every request, 'Name: value' (repeatable).
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    pub headers: Vec<String>,
    /// --app http: send this file's bytes as every request's body.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// --app raw: the request, this file's bytes as they are.
    #[arg(long, value_name = "FILE")]
    pub request_file: Option<PathBuf>,
    /// --app raw: a response is exactly this many bytes.
    #[arg(long, value_name = "N")]
    pub response_bytes: Option<usize>,
    /// --app raw: a response ends with these bytes (escapes: \r \n \t \\ \xHH).
    #[arg(long, value_name = "STR")]
    pub response_delimiter: Option<String>,
    /// TCP ping-pong: requests in flight per connection (closed loop keeps this many;
    /// open loop allows at most this many). Default 1 in closed loop, rate × timeout
    /// over the connections in open loop.
    #[arg(long, value_name = "D")]
    pub pipeline: Option<u32>,
    #[arg(long, value_enum, default_value_t = ModeArg::Pingpong)]
    pub mode: ModeArg,
    /// UDP flows or TCP connections.
    #[arg(long, default_value_t = 1)]
    pub connections: u32,
    /// Bytes per request (UDP payload or TCP message).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Stop after this many seconds (excluding warm-up).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Stop after this many measured requests.
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,
    /// Seconds of traffic before measuring starts.
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    pub warmup: f64,
    /// Open loop: this many requests a second across all flows, on a fixed schedule.
    #[arg(long, value_name = "MSGS_PER_SEC")]
    pub rate: Option<f64>,
    /// A live line on stderr every this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub interval: f64,
    /// A reply later than this counts as a timeout.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub timeout_ms: u64,
    /// Wait until this wall-clock instant, then start (warm-up follows): RFC 3339
    /// (2026-12-01T10:30:00Z) or Unix seconds. For instances on many hosts that must
    /// measure the same window; at most a day ahead, at most a second late.
    #[arg(long, value_name = "RFC3339|UNIX_SECONDS")]
    pub start_at: Option<String>,
    /// Name of this instance in the report and the interval log (default: hostname-PID).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// This instance's number, 0 to --instances − 1 (an Indexed Job's
    /// JOB_COMPLETION_INDEX): it takes its own disjoint slice of the --ip addresses.
    #[arg(long, value_name = "I", requires = "instances")]
    pub instance_index: Option<usize>,
    /// How many instances share the --ip addresses (with --instance-index).
    #[arg(long, value_name = "N", requires = "instance_index")]
    pub instances: Option<usize>,
    /// Failed requests (timeouts, refusals, mismatches, overload) the run may have and
    /// still exit 0: a count, or a share of all requests like 0.5%. Past it, exit 3.
    #[arg(long, value_name = "N|P%", default_value = "0")]
    pub max_errors: String,
    /// Print the report as one JSON object on the last line of stdout.
    #[arg(long)]
    pub json: bool,
    /// Write an HdrHistogram interval log.
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,
    /// Write every frame received and sent to this pcap file (one file per queue with
    /// several queues: FILE.q0.pcap, …).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Write a percentile plot (.svg or .png).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Allow a target outside 198.18.0.0/15 and loopback.
    #[arg(long)]
    pub allow_any_target: bool,
    #[arg(long, value_enum, default_value_t = PollArg::Busy)]
    pub poll: PollArg,
    /// Worker threads, one per queue. Each takes its share of the connections (and of
    /// --rate and --requests) and of the ephemeral ports; replies that land on another
    /// worker's queue are handed to it.
    #[arg(long, default_value_t = 1)]
    pub queues: u32,
    /// With AF_XDP and several queues: one UMEM per queue, or one shared by all.
    #[arg(long, value_enum, default_value_t = UmemArg::PerQueue)]
    pub umem: UmemArg,
    /// With AF_XDP: where xstack's XDP program runs.
    #[arg(long = "xdp-mode", value_enum, default_value_t = XdpModeArg::Auto)]
    pub xdp_mode: XdpModeArg,
    /// Pin worker i (queue i) to the i-th core of this list, e.g. 0 or 0-1.
    #[arg(long, value_name = "LIST", value_parser = parse_cores)]
    pub cores: Option<CoreList>,
    /// The source ports to open connections and send datagrams from, LO-HI within
    /// 49152-65535 (default: all of it; with --shared, the part above the kernel's own
    /// ephemeral range).
    #[arg(long, value_name = "LO-HI", value_parser = parse_ports)]
    pub ports: Option<PortSet>,
    /// The --ip addresses are the kernel's too (configured on --iface): xstack's XDP
    /// program takes only the replies to xstack's source ports (--ports) and leaves ARP
    /// and every other port to the kernel; the target's MAC comes from the kernel's
    /// neighbour table. Needs --driver xdp.
    #[arg(long)]
    pub shared: bool,
    /// TCP congestion control: newreno (the default) or bbr (as for serve).
    #[arg(long, value_enum, default_value = "newreno")]
    pub congestion: CongestionArg,
}

/// `--ports LO-HI`: a part of the ephemeral range 49152-65535.
pub fn parse_ports(s: &str) -> Result<PortSet, String> {
    let bad = || format!("'{s}' is not a port range LO-HI within 49152-65535, e.g. 61000-65535");
    let (lo, hi) = s.split_once('-').ok_or_else(bad)?;
    let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
    let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
    PortSet::range(lo, hi).ok_or_else(bad)
}

/// `--umem shared` is an AF_XDP thing.
fn shared_umem_check(umem: UmemArg, driver: DriverArg) -> Result<(), ConfigError> {
    if umem == UmemArg::Shared && driver == DriverArg::Packet {
        return Err(ConfigError::Invalid(
            "--umem shared shares an AF_XDP UMEM: it needs --driver xdp (or auto)".into(),
        ));
    }
    Ok(())
}

/// A list of cores from `--cores`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreList(pub Vec<usize>);

/// A core list: "0", "0,2", "1-3" or a mix ("0,2-3").
pub fn parse_cores(s: &str) -> Result<CoreList, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let bad = || format!("'{part}' is not a core number or a range like 1-3");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b || b - a > 1024 {
                    return Err(format!("'{part}' is not a range of cores"));
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    if out.is_empty() {
        return Err("no core given".into());
    }
    Ok(CoreList(out))
}

/// Whether `ip` may be a load target without --allow-any-target: the benchmarking ranges
/// (198.18.0.0/15, RFC 2544; 2001:2::/48, RFC 5180) and loopback.
pub fn is_lab_address(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(a) => {
            let lab = IfaceAddr {
                ip: core::net::Ipv4Addr::new(198, 18, 0, 0),
                prefix: 15,
            };
            lab.contains(a) || a.is_loopback()
        }
        std::net::IpAddr::V6(a) => {
            let lab = core::net::Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0);
            crate::config::same_prefix6(lab, a, 48) || a.is_loopback()
        }
    }
}

/// The longest run xstack load agrees to, so that every run stops by itself.
pub const MAX_DURATION_S: f64 = 3600.0;

/// `--response-delimiter`: the string with \r, \n, \t, \\ and \xHH escapes.
pub fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex: Vec<u8> = it.by_ref().take(2).collect();
                let v = std::str::from_utf8(&hex)
                    .ok()
                    .filter(|h| h.len() == 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("'{s}': \\x takes two hex digits"))?;
                out.push(v);
            }
            _ => {
                return Err(format!(
                    "'{s}': unknown escape (use \\r \\n \\t \\\\ \\xHH)"
                ))
            }
        }
    }
    Ok(out)
}

/// Reads a file the request is made of: at most 1 MiB.
fn read_request_file(flag: &str, p: &std::path::Path) -> Result<Vec<u8>, ConfigError> {
    let b = std::fs::read(p)
        .map_err(|e| ConfigError::Invalid(format!("{flag} {}: {e}", p.display())))?;
    if b.len() > 1 << 20 {
        return Err(ConfigError::Invalid(format!(
            "{flag} {}: {} bytes, more than the 1 MiB a request may be",
            p.display(),
            b.len()
        )));
    }
    Ok(b)
}

impl LoadArgs {
    /// `--app http` / `raw`: the request and its framing, and the target from `--url`.
    fn exchange(
        &self,
    ) -> Result<
        (
            Option<crate::config::Exchange>,
            Option<std::net::SocketAddr>,
        ),
        ConfigError,
    > {
        use crate::app::load::http;
        use crate::config::{Exchange, RawFraming};
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let http_flags = [
            ("--url", self.url.is_some()),
            ("--header", !self.headers.is_empty()),
            ("--body-file", self.body_file.is_some()),
            ("--method", self.method != "GET"),
        ];
        let raw_flags = [
            ("--request-file", self.request_file.is_some()),
            ("--response-bytes", self.response_bytes.is_some()),
            ("--response-delimiter", self.response_delimiter.is_some()),
        ];
        if self.app != AppArg::Http {
            if let Some((f, _)) = http_flags.iter().find(|(_, given)| *given) {
                return bad(format!("{f} goes with --app http"));
            }
        }
        if self.app != AppArg::Raw {
            if let Some((f, _)) = raw_flags.iter().find(|(_, given)| *given) {
                return bad(format!("{f} goes with --app raw"));
            }
        }
        match self.app {
            AppArg::Http => {
                let Some(u) = &self.url else {
                    return bad("--app http needs --url http://IP[:PORT]/PATH".into());
                };
                let url = http::parse_url(u).map_err(ConfigError::Invalid)?;
                http::check_method(&self.method).map_err(ConfigError::Invalid)?;
                let headers = self
                    .headers
                    .iter()
                    .map(|h| http::parse_header(h))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(ConfigError::Invalid)?;
                let body = match &self.body_file {
                    Some(p) => read_request_file("--body-file", p)?,
                    None => Vec::new(),
                };
                let request = http::build_request(&url, &self.method, &headers, &body);
                Ok((
                    Some(Exchange::Http {
                        url: u.clone(),
                        method: self.method.clone(),
                        request: request.into(),
                    }),
                    Some(url.target),
                ))
            }
            AppArg::Raw => {
                let Some(p) = &self.request_file else {
                    return bad("--app raw needs --request-file FILE (the request's bytes)".into());
                };
                let request = read_request_file("--request-file", p)?;
                if request.is_empty() {
                    return bad(format!("--request-file {} is empty", p.display()));
                }
                let framing = match (self.response_bytes, &self.response_delimiter) {
                    (Some(_), Some(_)) | (None, None) => return bad(
                        "--app raw needs one of --response-bytes N and --response-delimiter STR"
                            .into(),
                    ),
                    (Some(n), None) if n == 0 || n > 1 << 30 => {
                        return bad("--response-bytes must be between 1 and 2^30".into())
                    }
                    (Some(n), None) => RawFraming::Bytes(n),
                    (None, Some(d)) => {
                        let d = unescape(d).map_err(|e| {
                            ConfigError::Invalid(format!("--response-delimiter {e}"))
                        })?;
                        if d.is_empty() || d.len() > 256 {
                            return bad("--response-delimiter must be 1 to 256 bytes long".into());
                        }
                        RawFraming::Delimiter(d)
                    }
                };
                Ok((
                    Some(Exchange::Raw {
                        request: request.into(),
                        framing,
                    }),
                    None,
                ))
            }
            AppArg::Echo | AppArg::Sockperf => Ok((None, None)),
        }
    }

    pub fn into_config(self) -> Result<LoadConfig, ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let mut addrs = AddrSet::parse_all(&self.ip)?;
        if let (Some(i), Some(n)) = (self.instance_index, self.instances) {
            addrs = addrs.slice(i, n)?;
        }
        let (exchange, url_target) = self.exchange()?;
        let target: std::net::SocketAddr = match (&self.target, url_target) {
            (None, Some(t)) => t,
            (Some(t), Some(u)) => {
                return bad(format!(
                    "--target {t} and --url both name the server: --url {u} is enough"
                ))
            }
            (None, None) => return bad("give the server with --target IP:PORT".into()),
            (Some(t), None) => t.parse().map_err(|_| {
                ConfigError::Invalid(format!(
                    "'{t}' is not IP:PORT, e.g. --target 198.18.0.2:7 or --target '[2001:2::2]:7'"
                ))
            })?,
        };
        if !self.allow_any_target && !is_lab_address(target.ip()) {
            let rule = if target.is_ipv4() {
                "198.18.0.0/15 (RFC 2544's benchmarking range)"
            } else {
                "2001:2::/48 (RFC 5180's IPv6 benchmarking range)"
            };
            return bad(format!(
                "target {} is outside {rule} and loopback; load tests only go to lab hosts \
                 unless you pass --allow-any-target",
                target.ip()
            ));
        }
        if target.port() == 0 {
            return bad("the target port cannot be 0".into());
        }
        if addrs.contains_ip(target.ip()) {
            return bad("--target is one of xstack load's own --ip addresses".into());
        }
        let family = if target.is_ipv4() { "IPv4" } else { "IPv6" };
        let ours = if target.is_ipv4() {
            addrs.len()
        } else {
            addrs.ips6().len()
        };
        if ours == 0 {
            return bad(format!(
                "target {} is {family}, but no --ip address is: give xstack load an {family} \
                 address on the target's link too",
                target.ip()
            ));
        }
        if !addrs.on_link_ip(target.ip()) {
            return bad(format!(
                "target {} is not on {}: xstack load reaches on-link hosts only (no router)",
                target.ip(),
                addrs
            ));
        }
        let ports = self.ports.unwrap_or(PortSet::ALL);
        let most = ports.len() * ours;
        if self.connections == 0 || self.connections as usize > most {
            let (lo, hi) = ports.bounds();
            return bad(format!(
                "--connections must be between 1 and {most} (one per source port, \
                 {lo}-{hi}, of each --ip address)"
            ));
        }
        if ports.len() < self.queues as usize {
            return bad(format!(
                "--ports holds {} ports, fewer than --queues {}: every worker needs some",
                ports.len(),
                self.queues
            ));
        }
        if self.shared && self.driver == DriverArg::Packet {
            return bad(
                "--shared shares the address with the kernel by steering xstack's ports in \
                 xstack's XDP program: it needs --driver xdp (AF_PACKET sees, and the kernel \
                 answers, every frame)"
                    .into(),
            );
        }
        if self.shared && !addrs.ips6().is_empty() {
            return bad(
                "--shared takes IPv4 addresses only: an IPv6 address the kernel has too is \
                 not shared (give xstack an IPv6 address of its own)"
                    .into(),
            );
        }
        if self.queues == 0 || self.queues > 64 {
            return bad("--queues must be between 1 and 64".into());
        }
        shared_umem_check(self.umem, self.driver)?;
        if self.connections < self.queues {
            return bad(format!(
                "--connections {} is fewer than --queues {}: every worker needs a connection",
                self.connections, self.queues
            ));
        }
        if self.requests.is_some_and(|r| r < u64::from(self.queues)) {
            return bad(
                "--requests must be at least --queues (each worker measures its share)".into(),
            );
        }
        if self.duration.is_none() && self.requests.is_none() {
            return bad(
                "give --duration SECS or --requests N (or both): every run is bounded".into(),
            );
        }
        if let Some(d) = self.duration {
            if !(d > 0.0 && d <= MAX_DURATION_S) {
                return bad(format!(
                    "--duration must be more than 0 and at most {MAX_DURATION_S} s"
                ));
            }
        }
        if self.requests == Some(0) {
            return bad("--requests must be at least 1".into());
        }
        if !(0.0..=MAX_DURATION_S).contains(&self.warmup) {
            return bad("--warmup must be between 0 and 3600 s".into());
        }
        if let Some(r) = self.rate {
            if !(r > 0.0 && r <= 100_000_000.0) {
                return bad("--rate must be more than 0 and at most 1e8 a second".into());
            }
            if self.mode != ModeArg::Pingpong {
                return bad("--rate (open loop) goes with --mode pingpong".into());
            }
        }
        if !(self.interval > 0.0 && self.interval <= MAX_DURATION_S) {
            return bad("--interval must be more than 0 s".into());
        }
        if self.timeout_ms == 0 || self.timeout_ms > 60_000 {
            return bad("--timeout-ms must be between 1 and 60000".into());
        }
        let transport = match (self.proto, exchange.is_some()) {
            (Some(ProtoArg::Udp), true) if self.app == AppArg::Raw => Transport::Udp,
            (Some(ProtoArg::Udp), true) => {
                return bad("--app http runs over TCP: --proto tcp (the default for it)".into())
            }
            (Some(ProtoArg::Udp), false) => Transport::Udp,
            (Some(ProtoArg::Tcp), _) | (None, true) => Transport::Tcp,
            (None, false) => return bad("give --proto udp or --proto tcp".into()),
        };
        let app = match self.app {
            AppArg::Echo => AppProto::Echo,
            AppArg::Sockperf => AppProto::Sockperf,
            AppArg::Http => AppProto::Http,
            AppArg::Raw => AppProto::Raw,
        };
        let mode = match self.mode {
            ModeArg::Pingpong => LoadMode::PingPong,
            ModeArg::Stream => LoadMode::Stream,
            ModeArg::Crr => LoadMode::Crr,
        };
        if transport == Transport::Udp && mode != LoadMode::PingPong {
            return bad("--mode stream and crr need --proto tcp".into());
        }
        if mode == LoadMode::Stream && app == AppProto::Sockperf {
            return bad(
                "--mode stream checks an echoed byte stream: use --app echo (sockperf servers answer messages, not streams)".into(),
            );
        }
        if mode == LoadMode::Stream && exchange.is_some() {
            return bad(
                "--mode stream checks an echoed byte stream: --app http and raw take pingpong or crr".into(),
            );
        }
        if let Some(d) = self.pipeline {
            if d == 0 || d > 1024 {
                return bad("--pipeline must be between 1 and 1024".into());
            }
            if transport != Transport::Tcp || mode != LoadMode::PingPong {
                return bad("--pipeline goes with --proto tcp --mode pingpong".into());
            }
        }
        let min = crate::config::min_request_size(app);
        let max = if transport == Transport::Udp {
            // An MTU-sized datagram: 1500 − the IP header − 8.
            if target.is_ipv4() {
                1472
            } else {
                1452
            }
        } else {
            1 << 20
        };
        // http and raw: the request is what the user gave, whatever --size says.
        let size = exchange.as_ref().map_or(self.size, |e| e.request().len());
        if size < min || size > max {
            return bad(format!(
                "--size must be between {min} and {max} bytes for this --proto/--app \
                 (a request carries its sequence number and send times)"
            ));
        }
        Ok(LoadConfig {
            iface: self.iface,
            addrs,
            target,
            driver: match self.driver {
                DriverArg::Auto => DriverChoice::Auto,
                DriverArg::Xdp => DriverChoice::Xdp,
                DriverArg::Packet => DriverChoice::Packet,
            },
            transport,
            app,
            exchange,
            pipeline: self.pipeline,
            mode,
            connections: self.connections,
            size,
            duration: self.duration.map(std::time::Duration::from_secs_f64),
            requests: self.requests,
            warmup: std::time::Duration::from_secs_f64(self.warmup),
            rate: self.rate,
            interval: std::time::Duration::from_secs_f64(self.interval),
            timeout: std::time::Duration::from_millis(self.timeout_ms),
            json: self.json,
            hdr_log: self.hdr_log,
            pcap: self.pcap,
            max_errors: self.max_errors.parse()?,
            start_at: self
                .start_at
                .as_deref()
                .map(|s| crate::config::parse_start_at(s, std::time::SystemTime::now()))
                .transpose()?,
            instance: match self.instance {
                Some(name) => check_instance(&name)?,
                None => default_instance(),
            },
            plot: self.plot,
            poll: match self.poll {
                PollArg::Busy => PollMode::Busy,
                PollArg::Adaptive => PollMode::Adaptive,
            },
            queues: self.queues,
            shared_umem: self.umem == UmemArg::Shared,
            xdp_mode: self.xdp_mode.choice(),
            cores: self.cores.map(|c| c.0).unwrap_or_default(),
            ports,
            shared: self.shared.then(|| crate::config::SharedAddress {
                pick_ports: self.ports.is_none(),
                ..Default::default()
            }),
            congestion: self.congestion.choice(),
        })
    }
}

impl ServeArgs {
    pub fn into_config(self) -> Result<ServeConfig, ConfigError> {
        let addrs = AddrSet::parse_all(&self.ip)?;
        let mut udp_echo = self.udp_echo;
        udp_echo.sort_unstable();
        udp_echo.dedup();
        let mut tcp_echo = self.tcp_echo;
        tcp_echo.sort_unstable();
        tcp_echo.dedup();
        if udp_echo.contains(&0) || tcp_echo.contains(&0) || self.sockperf == Some(0) {
            return Err(ConfigError::Invalid("port 0 cannot be served".into()));
        }
        if let Some(p) = self.sockperf {
            if udp_echo.contains(&p) {
                return Err(ConfigError::Invalid(format!(
                    "UDP port {p} is given both to --udp-echo and to --sockperf"
                )));
            }
        }
        if self.queues == 0 || self.queues > 64 {
            return Err(ConfigError::Invalid(
                "--queues must be between 1 and 64".into(),
            ));
        }
        shared_umem_check(self.umem, self.driver)?;
        if !(self.interval >= 0.0 && self.interval <= 3600.0) {
            return Err(ConfigError::Invalid(
                "--interval must be between 0 and 3600 seconds".into(),
            ));
        }
        let claims = self.claim.map(|c| c.0).unwrap_or_default();
        if self.reflect_in_xdp {
            reflect_check(self.driver, &udp_echo, self.sockperf, &claims)?;
        }
        Ok(ServeConfig {
            iface: self.iface,
            addrs,
            driver: match self.driver {
                DriverArg::Auto => DriverChoice::Auto,
                DriverArg::Xdp => DriverChoice::Xdp,
                DriverArg::Packet => DriverChoice::Packet,
            },
            udp_echo,
            tcp_echo,
            sockperf: self.sockperf,
            queues: self.queues,
            shared_umem: self.umem == UmemArg::Shared,
            xdp_mode: self.xdp_mode.choice(),
            claims,
            pcap: self.pcap,
            json: self.json,
            poll: match self.poll {
                PollArg::Busy => PollMode::Busy,
                PollArg::Adaptive => PollMode::Adaptive,
            },
            interval: std::time::Duration::from_secs_f64(self.interval),
            trace: self.trace,
            syn_backlog: self.syn_backlog,
            max_connections: self.max_connections,
            cores: self.cores.map(|c| c.0).unwrap_or_default(),
            congestion: self.congestion.choice(),
            reflect_in_xdp: self.reflect_in_xdp,
        })
    }
}

/// Where `serve --reflect-in-xdp` cannot work, the sentence that says why.
fn reflect_check(
    driver: DriverArg,
    udp_echo: &[u16],
    sockperf: Option<u16>,
    claims: &[(crate::driver::open::ClaimProto, u16)],
) -> Result<(), ConfigError> {
    if driver == DriverArg::Packet {
        return Err(ConfigError::Invalid(
            "--reflect-in-xdp answers in xstack's XDP program, and --driver packet has none: \
             use --driver xdp (or auto), or drop --reflect-in-xdp"
                .into(),
        ));
    }
    if !claims.is_empty() {
        let (echo, sp) = crate::driver::open::Reflect::ports_for(udp_echo, sockperf, claims);
        if echo.is_empty() && sp.is_none() {
            return Err(ConfigError::Invalid(
                "--reflect-in-xdp on an address shared with the kernel (--claim) answers \
                 only the UDP echo and sockperf ports that are claimed (ICMP echo there is \
                 the kernel's), and none of --udp-echo/--sockperf is claimed as udp:PORT"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// `--instance NAME`: printable, no spaces or commas (it becomes an HdrHistogram log tag).
fn check_instance(name: &str) -> Result<String, ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != ',' && c != '"');
    if ok {
        Ok(name.to_string())
    } else {
        Err(ConfigError::Invalid(format!(
            "--instance '{name}': use 1 to 64 printable characters without spaces, commas or quotes"
        )))
    }
}

/// The default instance name: the host's name and our PID.
fn default_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != ',' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_lists_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_cores("1").unwrap().0, vec![1]);
        assert_eq!(parse_cores("0,2-4").unwrap().0, vec![0, 2, 3, 4]);
        let cli = Cli::try_parse_from([
            "xstack",
            "serve",
            "--iface",
            "x",
            "--ip",
            "198.18.0.2/24",
            "--cores",
            "0-1",
        ])
        .unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(a.into_config().unwrap().cores, vec![0, 1]);
        assert!(parse_cores("3-1").is_err());
        assert!(parse_cores("a").is_err());
        assert!(parse_cores("").is_err());
    }

    fn serve(args: &[&str]) -> Result<ServeConfig, String> {
        let mut v = vec!["xstack", "serve"];
        v.extend_from_slice(args);
        match Cli::try_parse_from(v).map_err(|e| e.to_string())?.command {
            Command::Serve(a) => a.into_config().map_err(|e| e.to_string()),
            other => panic!("parsed as {other:?}"),
        }
    }

    fn load(args: &[&str]) -> Result<LoadConfig, String> {
        let mut v = vec![
            "xstack",
            "load",
            "--iface",
            "xsa0",
            "--ip",
            "198.18.0.10/24",
        ];
        v.extend_from_slice(args);
        match Cli::try_parse_from(v).map_err(|e| e.to_string())?.command {
            Command::Load(a) => a.into_config().map_err(|e| e.to_string()),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn load_shares_split_the_run_between_workers() {
        let c = load(&[
            "--target",
            "198.18.0.2:7",
            "--proto",
            "udp",
            "--connections",
            "7",
            "--requests",
            "1001",
            "--rate",
            "3000",
            "--queues",
            "3",
        ])
        .unwrap();
        let shares: Vec<_> = (0..3).map(|w| c.share(w)).collect();
        let conns: Vec<_> = shares.iter().map(|s| s.connections).collect();
        assert_eq!(conns, vec![3, 2, 2]);
        let reqs: Vec<_> = shares.iter().map(|s| s.requests.unwrap()).collect();
        assert_eq!(reqs, vec![334, 334, 333]);
        assert!(shares
            .iter()
            .all(|s| s.rate == Some(1000.0) && s.queues == 1));
    }

    #[test]
    fn load_parses_the_documented_contract() {
        let c = load(&[
            "--target",
            "198.18.0.2:11111",
            "--proto",
            "udp",
            "--app",
            "sockperf",
            "--connections",
            "4",
            "--size",
            "64",
            "--duration",
            "2",
            "--rate",
            "1000",
            "--json",
            "--hdr-log",
            "x.hlog",
        ])
        .unwrap();
        assert_eq!(c.target.to_string(), "198.18.0.2:11111");
        assert_eq!(
            (c.transport, c.app, c.mode),
            (Transport::Udp, AppProto::Sockperf, LoadMode::PingPong)
        );
        assert_eq!(c.connections, 4);
        assert_eq!(c.rate, Some(1000.0));
        assert!(c.json && c.hdr_log.is_some());
    }

    #[test]
    fn load_refuses_targets_outside_the_lab() {
        let e = load(&[
            "--target",
            "8.8.8.8:53",
            "--proto",
            "udp",
            "--requests",
            "1",
        ])
        .unwrap_err();
        assert!(
            e.contains("198.18.0.0/15") && e.contains("--allow-any-target"),
            "{e}"
        );
        // Allowed but still has to be on-link.
        let e = load(&[
            "--target",
            "8.8.8.8:53",
            "--proto",
            "udp",
            "--requests",
            "1",
            "--allow-any-target",
        ])
        .unwrap_err();
        assert!(e.contains("on-link"), "{e}");
    }

    #[test]
    fn load_refuses_nonsense() {
        let base = ["--target", "198.18.0.2:7", "--proto", "udp"];
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            load(&v)
        };
        assert!(with(&[]).unwrap_err().contains("bounded"));
        assert!(with(&["--duration", "0"]).is_err());
        assert!(with(&["--duration", "1", "--mode", "crr"])
            .unwrap_err()
            .contains("tcp"));
        assert!(with(&["--duration", "1", "--size", "2000"])
            .unwrap_err()
            .contains("--size"));
        assert!(with(&["--duration", "1", "--size", "4"])
            .unwrap_err()
            .contains("--size"));
        assert!(with(&["--duration", "1", "--connections", "0"]).is_err());
        assert!(with(&["--duration", "1", "--connections", "16385"]).is_err());
        assert!(with(&["--duration", "1", "--connections", "16384"]).is_ok());
        assert!(with(&["--duration", "1", "--queues", "0"]).is_err());
        assert!(
            with(&["--duration", "1", "--driver", "packet", "--umem", "shared"])
                .unwrap_err()
                .contains("--umem shared")
        );
        assert!(
            with(&["--duration", "1", "--umem", "shared"])
                .unwrap()
                .shared_umem
        );
        assert!(with(&["--duration", "1", "--queues", "2"])
            .unwrap_err()
            .contains("--queues"));
        assert_eq!(
            with(&["--duration", "1", "--queues", "2", "--connections", "2"])
                .unwrap()
                .queues,
            2
        );
        assert!(with(&["--requests", "1", "--queues", "2", "--connections", "2"]).is_err());
        assert!(with(&["--duration", "1", "--rate", "-5"]).is_err());
        assert!(load(&[
            "--target",
            "198.18.0.2",
            "--proto",
            "udp",
            "--duration",
            "1"
        ])
        .unwrap_err()
        .contains("IP:PORT"));
    }

    #[test]
    fn load_http_and_raw_take_their_flags_and_refuse_the_others() {
        let c = load(&[
            "--app",
            "http",
            "--url",
            "http://198.18.0.2:8080/a?b=1",
            "--header",
            "Accept: */*",
            "--pipeline",
            "4",
            "--duration",
            "1",
        ])
        .unwrap();
        assert_eq!(c.target.to_string(), "198.18.0.2:8080");
        assert_eq!(
            (c.transport, c.app, c.pipeline),
            (Transport::Tcp, AppProto::Http, Some(4))
        );
        let req = c.exchange.as_ref().unwrap().request().to_vec();
        assert_eq!(
            req,
            b"GET /a?b=1 HTTP/1.1\r\nHost: 198.18.0.2:8080\r\nAccept: */*\r\n\r\n".to_vec()
        );
        assert_eq!(c.size, req.len());
        let http = |extra: &[&str]| {
            let mut v = vec!["--app", "http", "--duration", "1"];
            v.extend_from_slice(extra);
            load(&v).unwrap_err()
        };
        assert!(http(&[]).contains("--url"));
        assert!(http(&["--url", "http://server.lab/"]).contains("no resolver"));
        assert!(
            http(&["--url", "http://198.18.0.2/", "--target", "198.18.0.2:80"]).contains("--url")
        );
        assert!(http(&["--url", "http://198.18.0.2/", "--proto", "udp"]).contains("TCP"));
        assert!(http(&["--url", "http://198.18.0.2/", "--mode", "stream"]).contains("stream"));
        assert!(http(&["--url", "http://198.18.0.2/", "--pipeline", "0"]).contains("--pipeline"));
        assert!(http(&[
            "--url",
            "http://198.18.0.2/",
            "--mode",
            "crr",
            "--pipeline",
            "2"
        ])
        .contains("--pipeline"));
        assert!(http(&["--url", "http://8.8.8.8/"]).contains("198.18.0.0/15"));
        assert!(http(&["--url", "http://198.18.0.2/", "--header", "Bad"]).contains("--header"));
        let e = load(&[
            "--target",
            "198.18.0.2:7",
            "--proto",
            "tcp",
            "--url",
            "http://198.18.0.2/",
            "--duration",
            "1",
        ])
        .unwrap_err();
        assert!(e.contains("--app http"), "{e}");
        let e = load(&["--target", "198.18.0.2:7", "--duration", "1"]).unwrap_err();
        assert!(e.contains("--proto"), "{e}");

        let f = std::env::temp_dir().join(format!("xstack-cli-ping-{}", std::process::id()));
        std::fs::write(&f, b"PING\r\n").unwrap();
        let file = f.to_str().unwrap();
        let raw = |extra: &[&str]| {
            let mut v = vec![
                "--app",
                "raw",
                "--target",
                "198.18.0.2:6379",
                "--duration",
                "1",
            ];
            v.extend_from_slice(extra);
            load(&v)
        };
        let c = raw(&["--request-file", file, "--response-delimiter", "\\r\\n"]).unwrap();
        assert_eq!(
            c.exchange,
            Some(crate::config::Exchange::Raw {
                request: std::sync::Arc::from(&b"PING\r\n"[..]),
                framing: crate::config::RawFraming::Delimiter(b"\r\n".to_vec()),
            })
        );
        assert!(raw(&["--request-file", file, "--response-bytes", "7"]).is_ok());
        let udp = raw(&[
            "--request-file",
            file,
            "--response-bytes",
            "7",
            "--proto",
            "udp",
        ])
        .unwrap();
        assert_eq!(udp.transport, Transport::Udp);
        assert!(raw(&[
            "--request-file",
            file,
            "--response-bytes",
            "7",
            "--proto",
            "udp",
            "--pipeline",
            "2"
        ])
        .unwrap_err()
        .contains("--pipeline"));
        assert!(raw(&["--request-file", file])
            .unwrap_err()
            .contains("one of"));
        assert!(raw(&[
            "--request-file",
            file,
            "--response-bytes",
            "7",
            "--response-delimiter",
            "x"
        ])
        .unwrap_err()
        .contains("one of"));
        assert!(
            raw(&["--request-file", file, "--response-delimiter", "\\q"])
                .unwrap_err()
                .contains("escape")
        );
        assert!(
            raw(&["--request-file", "/nonexistent/x", "--response-bytes", "1"])
                .unwrap_err()
                .contains("/nonexistent/x")
        );
        assert!(raw(&["--response-bytes", "1"])
            .unwrap_err()
            .contains("--request-file"));
        std::fs::remove_file(&f).unwrap();
        assert_eq!(unescape("a\\x41\\\\").unwrap(), b"aA\\".to_vec());
    }

    #[test]
    fn report_parses_the_documented_contract() {
        let cli = Cli::try_parse_from([
            "xstack",
            "report",
            "a.hlog",
            "b.hlog",
            "--tag",
            "uncorrected",
            "--json",
            "--plot",
            "m.svg",
        ])
        .unwrap();
        let Command::Report(a) = cli.command else {
            panic!("not report")
        };
        let o = a.into_options();
        assert_eq!(o.logs, [PathBuf::from("a.hlog"), PathBuf::from("b.hlog")]);
        assert_eq!(o.tag.as_deref(), Some("uncorrected"));
        assert!(o.json && o.plot.is_some() && o.title.is_none());
        assert!(
            Cli::try_parse_from(["xstack", "report"]).is_err(),
            "a log is required"
        );
    }

    #[test]
    fn serve_parses_the_documented_contract() {
        let c = serve(&[
            "--iface",
            "xsb0",
            "--ip",
            "198.18.0.2/24",
            "--driver",
            "packet",
            "--udp-echo",
            "7",
            "--udp-echo",
            "9",
            "--sockperf",
            "11111",
            "--json",
        ])
        .unwrap();
        assert_eq!(c.iface, "xsb0");
        assert_eq!(
            c.addrs.primary().unwrap().ip,
            core::net::Ipv4Addr::new(198, 18, 0, 2)
        );
        assert_eq!(c.addrs.prefix(), 24);
        assert_eq!(c.driver, DriverChoice::Packet);
        assert_eq!(c.udp_echo, vec![7, 9]);
        assert_eq!(c.sockperf, Some(11111));
        assert!(c.json);
    }

    #[test]
    fn source_ports_and_shared_mode_are_checked() {
        let c = load(&[
            "--target",
            "198.18.0.2:7",
            "--proto",
            "tcp",
            "--duration",
            "1",
        ])
        .unwrap();
        assert_eq!(c.ports, PortSet::ALL);
        assert_eq!(c.shared, None);
        let c = load(&[
            "--target",
            "198.18.0.2:7",
            "--proto",
            "tcp",
            "--duration",
            "1",
            "--ports",
            "61000-61009",
            "--connections",
            "10",
        ])
        .unwrap();
        assert_eq!(c.ports.bounds(), (61000, 61009));
        let e = load(&[
            "--target",
            "198.18.0.2:7",
            "--proto",
            "tcp",
            "--duration",
            "1",
            "--ports",
            "61000-61009",
            "--connections",
            "11",
        ])
        .unwrap_err();
        assert!(
            e.contains("between 1 and 10") && e.contains("61000-61009"),
            "{e}"
        );
        for bad in ["1000-2000", "62000-61000", "61000", "a-b"] {
            let e = load(&[
                "--target",
                "198.18.0.2:7",
                "--duration",
                "1",
                "--ports",
                bad,
            ])
            .unwrap_err();
            assert!(e.contains("within 49152-65535"), "{bad}: {e}");
        }
        let c = load(&[
            "--target",
            "198.18.0.2:7",
            "--proto",
            "tcp",
            "--duration",
            "1",
            "--shared",
        ])
        .unwrap();
        assert!(
            c.shared.unwrap().pick_ports,
            "no --ports: chosen beside the kernel's"
        );
        let e = load(&[
            "--target",
            "198.18.0.2:7",
            "--proto",
            "tcp",
            "--duration",
            "1",
            "--shared",
            "--driver",
            "packet",
        ])
        .unwrap_err();
        assert!(e.contains("needs --driver xdp"), "{e}");
    }

    #[test]
    fn claims_parse_and_bad_ones_say_why() {
        use crate::driver::open::ClaimProto::{Tcp, Udp};
        assert_eq!(
            parse_claims("udp:7,tcp:7,udp:11111,udp:7").unwrap().0,
            vec![(Udp, 7), (Tcp, 7), (Udp, 11111)]
        );
        assert!(parse_claims("sctp:7").unwrap_err().contains("udp or tcp"));
        assert!(parse_claims("udp:0").unwrap_err().contains("1 to 65535"));
        assert!(parse_claims("udp7").unwrap_err().contains("PROTO:PORT"));
        let c = serve(&["--iface", "x", "--ip", "198.18.0.2/24", "--claim", "tcp:7"]).unwrap();
        assert_eq!(c.claims, vec![(Tcp, 7)]);
    }

    #[test]
    fn reflect_in_xdp_is_off_by_default_and_refused_where_it_cannot_work() {
        let base = ["--iface", "x", "--ip", "198.18.0.2/24", "--udp-echo", "7"];
        assert!(!serve(&base).unwrap().reflect_in_xdp, "off by default");
        let on = |extra: &[&str]| {
            let mut a = base.to_vec();
            a.push("--reflect-in-xdp");
            a.extend_from_slice(extra);
            serve(&a)
        };
        assert!(on(&[]).unwrap().reflect_in_xdp);
        assert!(on(&["--driver", "xdp"]).unwrap().reflect_in_xdp);
        let e = on(&["--driver", "packet"]).unwrap_err();
        assert!(
            e.contains(
                "--reflect-in-xdp answers in xstack's XDP program, and --driver packet has none"
            ),
            "{e}"
        );
        // Shared address: only claimed UDP echo/sockperf ports may be answered in XDP.
        let e = on(&["--claim", "tcp:7"]).unwrap_err();
        assert!(
            e.contains("none of --udp-echo/--sockperf is claimed"),
            "{e}"
        );
        assert!(e.contains("ICMP echo there is the kernel's"), "{e}");
        assert!(on(&["--claim", "udp:7,tcp:7"]).unwrap().reflect_in_xdp);
    }

    #[test]
    fn serve_rejects_bad_input_with_a_reason() {
        assert!(serve(&["--iface", "x", "--ip", "198.18.0.2"])
            .unwrap_err()
            .contains("ADDR/PREFIX"));
        assert!(serve(&["--iface", "x", "--ip", "198.18.0.2/33"])
            .unwrap_err()
            .contains("prefix"));
        assert!(serve(&["--iface", "x", "--ip", "nonsense/24"])
            .unwrap_err()
            .contains("address"));
        assert!(
            serve(&["--iface", "x", "--ip", "198.18.0.2/24", "--udp-echo", "0"])
                .unwrap_err()
                .contains("port 0")
        );
        assert!(serve(&[
            "--iface",
            "x",
            "--ip",
            "198.18.0.2/24",
            "--udp-echo",
            "5",
            "--sockperf",
            "5"
        ])
        .unwrap_err()
        .contains("both"));
        assert!(serve(&["--iface", "x", "--ip", "198.18.0.2/24", "--queues", "0"]).is_err());
        assert!(serve(&["--iface", "x", "--ip", "198.18.0.2/24", "--driver", "dpdk"]).is_err());
        assert!(serve(&["--iface", "x", "--ip", "255.255.255.255/24"])
            .unwrap_err()
            .contains("unicast"));
    }
}
