//! Tier 3: `xstack load --proto tcp` against xstack's own TCP responder over the
//! simulated link, on virtual time: ping-pong with 16 connections, open loop, crr,
//! stream, sockperf over TCP, a refused port, a lossy link, and thousands of idle
//! connections.

mod common;

use common::Pair;
use std::sync::Arc;
use std::time::Duration;
use xstack::app::load::engine::Phase;
use xstack::app::load::tcp::{TcpLoad, MAX_CLOSING, MAX_HANDSHAKES};
use xstack::app::responder::Responder;
use xstack::config::{AppProto, LoadConfig, LoadMode, Transport};
use xstack::driver::sim::Faults;
use xstack::metrics::{StackCounters, StackSnapshot};
use xstack::stack::{Engine, Stack, StackConfig};
use xstack::time::Instant;

fn tcp_config(port: u16, app: AppProto, mode: LoadMode) -> LoadConfig {
    LoadConfig {
        transport: Transport::Tcp,
        mode,
        timeout: Duration::from_secs(2),
        ..common::load_config(port, app)
    }
}

/// xstack load (TCP) against xstack serve's echo and sockperf on the simulated link.
struct Run {
    pair: Pair<Stack<TcpLoad>, Stack<Responder>>,
    client_counters: Arc<StackCounters>,
    server_counters: Arc<StackCounters>,
}

impl Run {
    fn new(cfg: &LoadConfig, faults: Faults) -> Run {
        let client_counters = Arc::new(StackCounters::default());
        let server_counters = Arc::new(StackCounters::default());
        let (cc, sc) = (client_counters.clone(), server_counters.clone());
        let pair = Pair::new(
            faults,
            5,
            |dev| {
                let app = TcpLoad::new(cfg, Instant::ZERO);
                Stack::new(
                    StackConfig {
                        tcp: app.tcp_config(),
                        tcp_capacity: 1 << 16,
                        ..common::config(&cfg.addrs.to_string(), dev.mac, vec![], None)
                    },
                    cc,
                    app,
                )
            },
            |dev| common::responder("198.18.0.2/24", dev.mac, vec![7], Some(11111), sc),
        );
        Run {
            pair,
            client_counters,
            server_counters,
        }
    }

    fn load(&self) -> &TcpLoad {
        self.pair.a.engine.app()
    }

    fn client(&self) -> StackSnapshot {
        self.client_counters.snapshot()
    }

    /// Runs until the load is finished; bounded.
    fn until_done(&mut self, max_steps: u32) -> StackSnapshot {
        self.pair.run_until(max_steps, |p| p.a.engine.finished());
        // Let the last FIN exchanges reach the server.
        self.pair.steps(1000);
        self.server_counters.snapshot()
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
    let m = run.load().total();
    assert_eq!(m.requests, 2000);
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    assert_eq!(run.load().phase(), Phase::Done);
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
    let m = run.load().total();
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
    let m = run.load().total();
    assert_eq!(m.requests, 300);
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    assert_eq!(server.tcp_connections_opened, 300);
    assert_eq!(server.tcp_closed_fin, 300);
    assert_eq!(
        run.client().tcp_time_wait_reused,
        0,
        "300 ports: none reused"
    );
    // Every port is still in TIME_WAIT on our side: we closed first.
    assert_eq!(
        (run.client().tcp_table_inserted - run.client().tcp_table_removed),
        300
    );
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
    let m = run.load().total();
    assert!(m.bytes > 1_000_000, "{} bytes", m.bytes);
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
}

#[test]
fn sockperf_over_tcp_against_xstacks_responder() {
    let cfg = tcp_config(11111, AppProto::Sockperf, LoadMode::PingPong);
    let mut run = Run::new(&cfg, Faults::default());
    run.until_done(2_000_000);
    let m = run.load().total();
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
    let m = run.load().total();
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
    let m = run.load().total();
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
    let m = run.load().total();
    assert_eq!(
        m.requests,
        17_000,
        "{:?} reused {}",
        m.errors,
        run.client().tcp_time_wait_reused
    );
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    assert!(
        run.client().tcp_time_wait_reused >= 17_000 - 16_384,
        "{}",
        run.client().tcp_time_wait_reused
    );
    assert_eq!(server.tcp_connections_opened, 17_000);
    assert_eq!(server.tcp_closed_fin, 17_000);
}

// The same 17 000 transactions from two source addresses: each has all 16 384 ports, so
// no port needs to come back out of TIME_WAIT, and the connections alternate between
// the addresses.
#[test]
fn crr_from_two_addresses_has_twice_the_ports() {
    let cfg = LoadConfig {
        addrs: xstack::config::AddrSet::parse_all(&["198.18.0.10-198.18.0.11/24"]).unwrap(),
        connections: 2,
        requests: Some(17_000),
        ..tcp_config(7, AppProto::Echo, LoadMode::Crr)
    };
    let mut run = Run::new(&cfg, Faults::default());
    let server = run.until_done(40_000_000);
    let m = run.load().total();
    assert_eq!(m.requests, 17_000, "{:?}", m.errors);
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    assert_eq!(run.client().tcp_time_wait_reused, 0);
    assert_eq!(run.client().tcp_connect_no_port, 0);
    assert_eq!(server.tcp_connections_opened, 17_000);
    assert_eq!(
        run.client().tcp_table_inserted - run.client().tcp_table_removed,
        17_000,
        "every connection still in TIME_WAIT on our side"
    );
}

/// Thousands of connections opened at once over a link that holds 2048 frames in flight
/// (as an AF_XDP ring does): the handshake window keeps the SYNs under that, so none is
/// lost and sent again. Once open, idle connections hold no buffers on either side, and
/// the most sets held at once, opening and closing included, is bounded by the windows,
/// not by the connections. Every connection ends with the FIN exchange.
#[test]
fn thousands_of_idle_connections_open_without_retransmission_and_hold_no_buffers() {
    let n = 5000;
    let cfg = LoadConfig {
        connections: n,
        rate: Some(100.0),
        requests: None,
        duration: Some(Duration::from_secs(2)),
        timeout: Duration::from_secs(5),
        ..tcp_config(7, AppProto::Echo, LoadMode::PingPong)
    };
    let faults = Faults {
        queue_limit: 2048,
        ..Faults::default()
    };
    let mut run = Run::new(&cfg, faults);
    let mut most = 0;
    run.pair.run_until(2_000_000, |p| {
        let load = p.a.engine.app();
        most = most.max(load.handshakes());
        load.phase() != Phase::Resolving
    });
    assert!(
        most > MAX_HANDSHAKES / 2 && most <= MAX_HANDSHAKES,
        "{most} handshakes at once"
    );
    assert_eq!(run.client().tcp_connections_opened, u64::from(n));
    // The hold: a request now and then, on one connection at a time.
    let mut steps = 0;
    while run.load().phase() == Phase::Measuring {
        let (client, _) = run.pair.a.engine.tcp_buffer_sets();
        let (server, _) = run.pair.b.engine.tcp_buffer_sets();
        assert!(
            client <= 4 && server <= 4,
            "{client} and {server} connections hold buffers while idle"
        );
        run.pair.step();
        steps += 1;
        assert!(steps < 1_000_000, "the hold does not end");
    }
    let server = run.until_done(4_000_000);
    let (_, client_peak) = run.pair.a.engine.tcp_buffer_sets();
    let (_, server_peak) = run.pair.b.engine.tcp_buffer_sets();
    let bound = MAX_CLOSING + 64;
    assert!(
        client_peak <= bound && server_peak <= bound,
        "at most {client_peak} (load) and {server_peak} (serve) sets at once for {n} connections"
    );
    let m = run.load().total();
    assert!(m.requests >= 150, "{} requests", m.requests);
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    let client = run.client();
    assert_eq!(client.tcp_retransmits, 0, "SYNs or FINs were sent again");
    assert_eq!(server.tcp_retransmits, 0);
    assert_eq!(
        server.tcp_syn_cookies_sent, 0,
        "the server's SYN backlog overflowed"
    );
    assert_eq!(run.pair.a.dev.link_stats().queue_drops, 0);
    assert_eq!(run.pair.b.dev.link_stats().queue_drops, 0);
    assert_eq!(
        server.tcp_closed_fin,
        u64::from(n),
        "every connection closed by FIN"
    );
    assert_eq!(server.tcp_table_inserted, server.tcp_table_removed);
}
