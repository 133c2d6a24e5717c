//! Fixtures shared by the simulated-network tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;
use xstack::config::{AppProto, DriverChoice, LoadConfig, LoadMode, PollMode, Transport};
use xstack::metrics::StackCounters;
use xstack::proto::arp::ArpConfig;
use xstack::stack::{Stack, StackConfig};

/// A stack owning `ip` (ADDR/PREFIX) with UDP echo on `echo` and sockperf on `sockperf`.
pub fn stack(ip: &str, mac: [u8; 6], echo: Vec<u16>, sockperf: Option<u16>) -> Stack {
    Stack::new(
        StackConfig {
            addr: ip.parse().unwrap(),
            mac,
            mtu: 1500,
            udp_echo: echo,
            sockperf,
            tcp_echo: Vec::new(),
            tcp_capacity: 1024,
            icmp_unreachable_rate: 1000,
            arp: ArpConfig::default(),
            gratuitous_arp: true,
        },
        Arc::new(StackCounters::default()),
    )
}

/// A closed-loop UDP load from 198.18.0.10 to 198.18.0.2:`port`: 4 flows, 64 B, 2000
/// requests, 50 ms timeout.
pub fn load_config(port: u16, app: AppProto) -> LoadConfig {
    LoadConfig {
        iface: "sim0".into(),
        addr: "198.18.0.10/24".parse().unwrap(),
        target: format!("198.18.0.2:{port}").parse().unwrap(),
        driver: DriverChoice::Auto,
        transport: Transport::Udp,
        app,
        mode: LoadMode::PingPong,
        connections: 4,
        size: 64,
        duration: None,
        requests: Some(2000),
        warmup: Duration::ZERO,
        rate: None,
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(50),
        json: false,
        hdr_log: None,
        plot: None,
        poll: PollMode::Busy,
        queues: 1,
        shared_umem: false,
        cores: Vec::new(),
    }
}
