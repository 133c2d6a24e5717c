//! Tier 3: `xstack load --proto tcp` against xstack's own TCP responder over the
//! simulated link, on virtual time: ping-pong with 16 connections, open loop, crr,
//! stream, sockperf over TCP, a refused port, and a lossy link.

mod common;

use std::sync::Arc;
use std::time::Duration;
use xstack::app::load::engine::Phase;
use xstack::app::load::tcp::TcpLoad;
use xstack::config::{AppProto, LoadConfig, LoadMode, Transport};
use xstack::driver::sim::{Faults, SimClock, SimDevice, SimLink};
use xstack::driver::Device;
use xstack::metrics::{StackCounters, StackSnapshot};
use xstack::proto::arp::ArpConfig;
use xstack::runtime::Engine;
use xstack::stack::{Stack, StackConfig};

fn tcp_config(port: u16, app: AppProto, mode: LoadMode) -> LoadConfig {
    LoadConfig {
        transport: Transport::Tcp,
        mode,
        timeout: Duration::from_secs(2),
        ..common::load_config(port, app)
    }
}

struct Run {
    clock: SimClock,
    client_dev: SimDevice,
    server_dev: SimDevice,
    load: TcpLoad,
    server: Stack,
    server_counters: Arc<StackCounters>,
}

impl Run {
    fn new(cfg: &LoadConfig, faults: Faults) -> Run {
        let clock = SimClock::new();
        let (client_dev, server_dev) = SimLink::pair(&clock, faults, 5);
        let client = common::stack("198.18.0.10/24", client_dev.info().mac, vec![], None);
        let server_counters = Arc::new(StackCounters::default());
        let server = Stack::new(
            StackConfig {
                addr: "198.18.0.2/24".parse().unwrap(),
                mac: server_dev.info().mac,
                mtu: 1500,
                udp_echo: vec![],
                sockperf: Some(11111),
                tcp_echo: vec![7],
                tcp_capacity: 1 << 16,
                icmp_unreachable_rate: 1000,
                arp: ArpConfig::default(),
                gratuitous_arp: false,
            },
            server_counters.clone(),
        );
        Run {
            load: TcpLoad::new(cfg, client, 1460, clock.now()),
            clock,
            client_dev,
            server_dev,
            server,
            server_counters,
        }
    }

    /// Runs until the load is finished, 10 us of virtual time a step; bounded.
    fn until_done(&mut self, max_steps: u32) -> StackSnapshot {
        for _ in 0..max_steps {
            if self.load.finished() {
                // Let the last FIN exchanges reach the server.
                for _ in 0..1000 {
                    self.step();
                }
                return self.server_counters.snapshot();
            }
            self.step();
        }
        panic!(
            "load did not finish in {max_steps} steps: {:?}",
            self.load.phase()
        );
    }

    fn step(&mut self) {
        let now = self.clock.now();
        let load = &mut self.load;
        self.client_dev
            .receive(64, &mut |f, tx| load.on_frame(now, f, tx))
            .unwrap();
        load.poll(now, self.client_dev.transmitter());
        let server = &mut self.server;
        self.server_dev
            .receive(64, &mut |f, tx| server.handle_frame(now, f, tx))
            .unwrap();
        server.poll(now, self.server_dev.transmitter());
        self.clock.advance(Duration::from_micros(10));
    }
}

#[test]
fn pingpong_with_16_connections_echoes_every_request() {
    let cfg = LoadConfig {
        connections: 16,
        ..tcp_config(7, AppProto::Echo, LoadMode::PingPong)
    };
    let mut run = Run::new(&cfg, Faults::default());
    let server = run.until_done(2_000_000);
    let m = run.load.total();
    assert_eq!(m.requests, 2000);
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    assert_eq!(run.load.phase(), Phase::Done);
    assert_eq!(server.tcp_connections_opened, 16);
    assert_eq!(server.tcp_closed_fin, 16, "every connection closed by FIN");
    assert_eq!(server.tcp_table_inserted, server.tcp_table_removed);
}

#[test]
fn open_loop_keeps_the_schedule_and_reports_both_latencies() {
    let cfg = LoadConfig {
        connections: 4,
        rate: Some(20_000.0),
        requests: Some(1000),
        ..tcp_config(7, AppProto::Echo, LoadMode::PingPong)
    };
    let mut run = Run::new(&cfg, Faults::default());
    run.until_done(2_000_000);
    let m = run.load.total();
    assert_eq!(m.requests, 1000);
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    assert_eq!(m.uncorrected.len(), 1000);
    assert!(m.corrected.value_at_quantile(0.5) >= m.uncorrected.value_at_quantile(0.5));
}

#[test]
fn crr_opens_a_connection_per_request_on_fresh_ports() {
    let cfg = LoadConfig {
        connections: 2,
        requests: Some(300),
        ..tcp_config(7, AppProto::Echo, LoadMode::Crr)
    };
    let mut run = Run::new(&cfg, Faults::default());
    let server = run.until_done(4_000_000);
    let m = run.load.total();
    assert_eq!(m.requests, 300);
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    assert_eq!(server.tcp_connections_opened, 300);
    assert_eq!(server.tcp_closed_fin, 300);
    assert_eq!(run.load.time_wait_reused, 0, "300 ports: none reused");
    // Every port is still in TIME_WAIT on our side: we closed first.
    assert_eq!(run.load.connections(), 300);
}

#[test]
fn stream_checks_every_echoed_byte() {
    let cfg = LoadConfig {
        connections: 2,
        requests: None,
        duration: Some(Duration::from_millis(200)),
        ..tcp_config(7, AppProto::Echo, LoadMode::Stream)
    };
    let mut run = Run::new(&cfg, Faults::default());
    run.until_done(2_000_000);
    let m = run.load.total();
    assert!(m.bytes > 1_000_000, "{} bytes", m.bytes);
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
}

#[test]
fn sockperf_over_tcp_against_xstacks_responder() {
    let cfg = tcp_config(11111, AppProto::Sockperf, LoadMode::PingPong);
    let mut run = Run::new(&cfg, Faults::default());
    run.until_done(2_000_000);
    let m = run.load.total();
    assert_eq!(m.requests, 2000);
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
}

#[test]
fn a_closed_port_counts_as_refused() {
    let cfg = LoadConfig {
        connections: 1,
        requests: Some(5),
        ..tcp_config(9, AppProto::Echo, LoadMode::PingPong)
    };
    let mut run = Run::new(&cfg, Faults::default());
    run.until_done(2_000_000);
    let m = run.load.total();
    assert_eq!(m.requests, 0);
    assert_eq!(m.errors.refused, 5, "{:?}", m.errors);
}

#[test]
fn a_lossy_link_costs_time_but_no_wrong_bytes() {
    let cfg = LoadConfig {
        connections: 4,
        requests: Some(500),
        ..tcp_config(7, AppProto::Echo, LoadMode::PingPong)
    };
    let faults = Faults {
        loss: 0.02,
        reorder: 0.02,
        ..Faults::default()
    };
    let mut run = Run::new(&cfg, faults);
    run.until_done(20_000_000);
    let m = run.load.total();
    assert_eq!(m.errors.mismatch, 0);
    assert_eq!(m.requests + m.errors.total(), 500);
    assert!(m.requests > 450, "{} answered, {:?}", m.requests, m.errors);
}

// More transactions than ephemeral ports: once every port has been used, ports are
// reused out of TIME_WAIT (after a second there, and with a higher ISN), and every
// transaction still succeeds. Two connections make about 8000 transactions a virtual
// second here, so the ports run out after about two seconds, when the first are
// reusable. (Faster than 16 384 a second, the ports are the limit: the extra attempts
// count as `overload`.)
#[test]
fn crr_reuses_time_wait_ports_once_all_are_taken() {
    let cfg = LoadConfig {
        connections: 2,
        requests: Some(17_000),
        ..tcp_config(7, AppProto::Echo, LoadMode::Crr)
    };
    let mut run = Run::new(&cfg, Faults::default());
    let server = run.until_done(40_000_000);
    let m = run.load.total();
    assert_eq!(
        m.requests, 17_000,
        "{:?} reused {}",
        m.errors, run.load.time_wait_reused
    );
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    assert!(
        run.load.time_wait_reused >= 17_000 - 16_384,
        "{}",
        run.load.time_wait_reused
    );
    assert_eq!(server.tcp_connections_opened, 17_000);
    assert_eq!(server.tcp_closed_fin, 17_000);
}
