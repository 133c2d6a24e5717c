//! Tier 3: the load generator against xstack's own responder over the simulated link, on
//! virtual time: closed and open loop, echo and sockperf, refused ports, and the
//! coordinated-omission correction on a synthetic stall of the sender.

mod common;

use common::{stack, stack_with, Pair};
use std::time::Duration;
use xstack::app::load::engine::{Phase, UdpLoad};
use xstack::config::{AppProto, LoadConfig};
use xstack::driver::sim::Faults;
use xstack::metrics::hist::LatencySummary;
use xstack::stack::{Engine, Stack};
use xstack::time::Instant;

fn config(port: u16, app: AppProto) -> xstack::config::LoadConfig {
    common::load_config(port, app)
}

/// xstack load (UDP) against xstack's responder on the simulated link.
struct Run {
    pair: Pair<Stack<UdpLoad>, Stack>,
}

impl Run {
    fn new(cfg: &LoadConfig) -> Run {
        Run::with_in_place(cfg, true)
    }

    /// `in_place`: closed loop writes the next request over the reply (the default).
    fn with_in_place(cfg: &LoadConfig, in_place: bool) -> Run {
        let pair = Pair::new(
            Faults::default(),
            3,
            |dev| {
                let app = UdpLoad::new(cfg, Instant::ZERO).with_in_place(in_place);
                stack_with(&cfg.addrs.to_string(), dev.mac, vec![], None, app)
            },
            |dev| stack("198.18.0.2/24", dev.mac, vec![7], Some(11111)),
        );
        Run { pair }
    }

    fn load(&self) -> &Stack<UdpLoad> {
        &self.pair.a.engine
    }

    /// Requests the load wrote over the reply before them.
    fn in_place(&self) -> u64 {
        self.load().counters().snapshot().udp_sent_in_place
    }

    /// Runs until the load is finished; bounded.
    fn until_done(&mut self, max_steps: u32) {
        self.pair.run_until(max_steps, |p| p.a.engine.finished());
    }
}

#[test]
fn closed_loop_echo_completes_every_request_without_errors() {
    let cfg = config(7, AppProto::Echo);
    let mut run = Run::new(&cfg);
    run.until_done(200_000);
    let t = run.load().app().total();
    assert_eq!(run.load().app().phase(), Phase::Done);
    assert_eq!(t.requests, 2000);
    assert_eq!(t.errors.total(), 0, "{:?}", t.errors);
    let s = LatencySummary::of(&t.corrected);
    // The sim link adds 50 us each way; steps are 10 us.
    assert!(s.p50 >= 100_000 && s.p50 <= 130_000, "p50 {} ns", s.p50);
    assert!(s.p50 <= s.p99 && s.p99 <= s.max);
    // The first request of each of the 4 flows leaves from a transmit buffer; every
    // later one over the reply before it.
    assert_eq!(run.in_place(), 2000 - 4);
}

#[test]
fn closed_loop_measures_the_same_with_requests_built_in_place_or_not() {
    for app in [AppProto::Echo, AppProto::Sockperf] {
        let port = if app == AppProto::Echo { 7 } else { 11111 };
        let cfg = config(port, app);
        let mut on = Run::with_in_place(&cfg, true);
        on.until_done(200_000);
        let mut off = Run::with_in_place(&cfg, false);
        off.until_done(200_000);
        assert_eq!((on.in_place(), off.in_place()), (1996, 0));
        let (a, b) = (on.load().app().total(), off.load().app().total());
        assert_eq!((a.requests, a.errors), (b.requests, b.errors));
        assert_eq!(on.load().app().sent(), off.load().app().sent());
        // On virtual time the request leaves at the same instant either way.
        assert_eq!(a.corrected, b.corrected, "{app:?}");
        let (sa, sb) = (
            on.load().counters().snapshot(),
            off.load().counters().snapshot(),
        );
        assert_eq!((sa.tx_frames, sa.rx_frames), (sb.tx_frames, sb.rx_frames));
    }
}

#[test]
fn closed_loop_sockperf_is_answered() {
    let cfg = config(11111, AppProto::Sockperf);
    let mut run = Run::new(&cfg);
    run.until_done(200_000);
    let t = run.load().app().total();
    assert_eq!((t.requests, t.errors.total()), (2000, 0), "{:?}", t.errors);
    assert_eq!(run.in_place(), 2000 - 4);
}

#[test]
fn a_closed_port_counts_as_refused() {
    let mut cfg = config(9, AppProto::Echo);
    cfg.requests = Some(20);
    let mut run = Run::new(&cfg);
    run.until_done(200_000);
    let t = run.load().app().total();
    assert_eq!(t.requests, 0);
    assert_eq!(t.errors.refused, 20, "{:?}", t.errors);
}

/// A server application that takes no datagram but notes who sent each.
#[derive(Default)]
struct Senders(std::collections::BTreeSet<std::net::IpAddr>);

impl xstack::stack::App for Senders {
    type Conn = ();
    fn datagram(
        &mut self,
        _now: Instant,
        from: std::net::SocketAddr,
        _local: std::net::SocketAddr,
        _payload: &[u8],
    ) -> bool {
        self.0.insert(from.ip());
        false
    }
}

#[test]
fn flows_spread_over_every_source_address() {
    let cfg = LoadConfig {
        addrs: xstack::config::AddrSet::parse_all(&["198.18.0.10-198.18.0.12/24"]).unwrap(),
        connections: 6,
        requests: Some(600),
        ..config(7, AppProto::Echo)
    };
    let mut run = Run::new(&cfg);
    run.until_done(200_000);
    let t = run.load().app().total();
    assert_eq!((t.requests, t.errors.total()), (600, 0), "{:?}", t.errors);

    // To a closed port: every address sends, and every refusal (an ICMP error quoting
    // the datagram's source address) comes back to its flow.
    let cfg = LoadConfig {
        target: "198.18.0.2:9".parse().unwrap(),
        requests: Some(30),
        ..cfg
    };
    let mut pair = Pair::new(
        Faults::default(),
        3,
        |dev| {
            let app = UdpLoad::new(&cfg, Instant::ZERO);
            stack_with(&cfg.addrs.to_string(), dev.mac, vec![], None, app)
        },
        |dev| stack_with("198.18.0.2/24", dev.mac, vec![], None, Senders::default()),
    );
    pair.run_until(200_000, |p| p.a.engine.finished());
    let t = pair.a.engine.app().total();
    assert_eq!(t.errors.refused, 30, "{:?}", t.errors);
    let seen: Vec<String> = pair
        .b
        .engine
        .app()
        .0
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(seen, ["198.18.0.10", "198.18.0.11", "198.18.0.12"]);
}

#[test]
fn a_silent_server_counts_timeouts() {
    let mut cfg = config(7, AppProto::Echo);
    cfg.requests = Some(8);
    let mut run = Run::new(&cfg);
    // Let ARP resolve; the server goes silent as the first requests leave.
    while run.load().app().phase() != Phase::Measuring {
        run.pair.step();
    }
    let done_before = run.load().app().total().requests;
    for _ in 0..100_000 {
        if run.load().finished() {
            break;
        }
        // The server is silent: only the client runs.
        run.pair.step_ends(true, false);
    }
    let t = run.load().app().total();
    assert!(run.load().finished());
    assert_eq!(done_before, 0);
    assert_eq!(t.requests, 0);
    assert_eq!(t.errors.timeout, 8, "{:?}", t.errors);
}

#[test]
fn open_loop_corrects_coordinated_omission_on_a_sender_stall() {
    let mut cfg = config(7, AppProto::Echo);
    cfg.rate = Some(10_000.0); // one request every 100 us
    cfg.requests = Some(3000);
    cfg.connections = 1;
    cfg.timeout = Duration::from_secs(1);
    let mut run = Run::new(&cfg);
    let mut steps = 0u32;
    while !run.load().finished() {
        steps += 1;
        assert!(steps < 500_000, "bounded");
        // At 100 ms the sender stalls for 50 ms: nothing is polled, nothing leaves.
        let t = run.pair.clock.now().as_millis();
        run.pair.step_ends(!(100..150).contains(&t), true);
    }
    let t = run.load().app().total();
    assert_eq!((t.requests, t.errors.total()), (3000, 0), "{:?}", t.errors);
    let corrected = LatencySummary::of(&t.corrected);
    let uncorrected = LatencySummary::of(&t.uncorrected);
    // ~500 requests were due during the stall: from their intended times they waited
    // up to 50 ms, which the corrected histogram shows in its upper percentiles...
    assert!(
        corrected.max >= 49_000_000,
        "corrected max {}",
        corrected.max
    );
    assert!(
        corrected.p90 >= 5_000_000,
        "corrected p90 {}",
        corrected.p90
    );
    // ... while measured from the actual send time only the one request whose reply
    // waited out the stall looks slow: the stall hides in one sample.
    assert!(
        uncorrected.p99 < 200_000,
        "uncorrected p99 {}",
        uncorrected.p99
    );
    let slow = t.uncorrected.count_between(1_000_000, u64::MAX);
    assert!(slow <= 2, "{slow} slow uncorrected samples");
}

#[test]
fn raw_udp_requests_are_answered_by_framing() {
    use xstack::config::{Exchange, RawFraming};
    let raw = |framing: RawFraming| LoadConfig {
        app: AppProto::Raw,
        size: 6,
        exchange: Some(Exchange::Raw {
            request: std::sync::Arc::from(&b"PING\r\n"[..]),
            framing,
        }),
        ..config(7, AppProto::Raw)
    };
    // The echo answers "PING\r\n": it ends with CRLF and is 6 bytes long.
    for framing in [
        RawFraming::Delimiter(b"\r\n".to_vec()),
        RawFraming::Bytes(6),
    ] {
        let mut run = Run::new(&raw(framing.clone()));
        run.until_done(200_000);
        let t = run.load().app().total();
        assert_eq!(
            (t.requests, t.errors.total()),
            (2000, 0),
            "{framing:?}: {:?}",
            t.errors
        );
        assert_eq!(t.bytes, 2000 * 6);
    }
    // A reply that does not end as it must is a mismatch.
    let mut run = Run::new(&raw(RawFraming::Delimiter(b"+PONG\r\n".to_vec())));
    run.until_done(200_000);
    let t = run.load().app().total();
    assert_eq!((t.requests, t.errors.mismatch), (0, 2000));
}
