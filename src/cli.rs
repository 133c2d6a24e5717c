//! The command line: clap derive structs, and their conversion into validated configs.
//! This is the only module that sees clap types; everything else takes a `config::*`.

use crate::config::{ConfigError, DriverChoice, IfaceAddr, PollMode, ServeConfig};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "xstack",
    version,
    about = "A kernel-bypass TCP/UDP stack: echo responder, load generator, latency benchmark"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Answer ARP, ICMP echo, UDP echo and sockperf on an interface xstack owns.
    Serve(ServeArgs),
    /// Draw HdrHistogram interval logs as one percentile-distribution SVG.
    Plot(PlotArgs),
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// Interval logs written with --hdr-log; each becomes one line, named after its file.
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// The SVG file to write.
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
    /// Spin on the rings without sleeping.
    Busy,
    /// Spin for a while, then sleep in poll() until traffic comes.
    Adaptive,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Interface to own, e.g. xsb0.
    #[arg(long)]
    pub iface: String,
    /// The address xstack answers for, with its prefix, e.g. 198.18.0.2/24. It must not
    /// be configured on the kernel's interface.
    #[arg(long, value_name = "ADDR/PREFIX")]
    pub ip: String,
    #[arg(long, value_enum, default_value_t = DriverArg::Auto)]
    pub driver: DriverArg,
    /// Echo UDP datagrams sent to this port (repeatable).
    #[arg(long = "udp-echo", value_name = "PORT")]
    pub udp_echo: Vec<u16>,
    /// Answer sockperf clients on this UDP port.
    #[arg(long, value_name = "PORT")]
    pub sockperf: Option<u16>,
    /// Number of queues, one worker thread each.
    #[arg(long, default_value_t = 1)]
    pub queues: u32,
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
}

impl ServeArgs {
    pub fn into_config(self) -> Result<ServeConfig, ConfigError> {
        let addr: IfaceAddr = self.ip.parse()?;
        let mut udp_echo = self.udp_echo;
        udp_echo.sort_unstable();
        udp_echo.dedup();
        if udp_echo.contains(&0) || self.sockperf == Some(0) {
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
            return Err(ConfigError::Invalid("--queues must be between 1 and 64".into()));
        }
        if !(self.interval >= 0.0 && self.interval <= 3600.0) {
            return Err(ConfigError::Invalid(
                "--interval must be between 0 and 3600 seconds".into(),
            ));
        }
        Ok(ServeConfig {
            iface: self.iface,
            addr,
            driver: match self.driver {
                DriverArg::Auto => DriverChoice::Auto,
                DriverArg::Xdp => DriverChoice::Xdp,
                DriverArg::Packet => DriverChoice::Packet,
            },
            udp_echo,
            sockperf: self.sockperf,
            queues: self.queues,
            pcap: self.pcap,
            json: self.json,
            poll: match self.poll {
                PollArg::Busy => PollMode::Busy,
                PollArg::Adaptive => PollMode::Adaptive,
            },
            interval: std::time::Duration::from_secs_f64(self.interval),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> Result<ServeConfig, String> {
        let mut v = vec!["xstack", "serve"];
        v.extend_from_slice(args);
        match Cli::try_parse_from(v).map_err(|e| e.to_string())?.command {
            Command::Serve(a) => a.into_config().map_err(|e| e.to_string()),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn serve_parses_the_documented_contract() {
        let c = serve(&[
            "--iface", "xsb0", "--ip", "198.18.0.2/24", "--driver", "packet", "--udp-echo", "7",
            "--udp-echo", "9", "--sockperf", "11111", "--json",
        ])
        .unwrap();
        assert_eq!(c.iface, "xsb0");
        assert_eq!(c.addr.ip, core::net::Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(c.addr.prefix, 24);
        assert_eq!(c.driver, DriverChoice::Packet);
        assert_eq!(c.udp_echo, vec![7, 9]);
        assert_eq!(c.sockperf, Some(11111));
        assert!(c.json);
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
        assert!(serve(&["--iface", "x", "--ip", "198.18.0.2/24", "--udp-echo", "0"])
            .unwrap_err()
            .contains("port 0"));
        assert!(serve(&[
            "--iface", "x", "--ip", "198.18.0.2/24", "--udp-echo", "5", "--sockperf", "5"
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
