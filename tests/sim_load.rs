//! Tier 3: the load generator against xstack's own responder over the simulated link, on
//! virtual time: closed and open loop, echo and sockperf, refused ports, and the
//! coordinated-omission correction on a synthetic stall of the sender.

mod common;

use common::{stack, stack_with};
use std::time::Duration;
use xstack::app::load::engine::{Phase, UdpLoad};
use xstack::config::{AppProto, LoadConfig};
use xstack::driver::sim::{Faults, SimClock, SimDevice, SimLink};
use xstack::driver::Device;
use xstack::metrics::hist::LatencySummary;
use xstack::stack::Engine;
use xstack::stack::Stack;

fn config(port: u16, app: AppProto) -> xstack::config::LoadConfig {
    common::load_config(port, app)
}

struct Run {
    clock: SimClock,
    client_dev: SimDevice,
    server_dev: SimDevice,
    load: Stack<UdpLoad>,
    server: Stack,
}

impl Run {
    fn new(cfg: &LoadConfig) -> Run {
        let clock = SimClock::new();
        let (client_dev, server_dev) = SimLink::pair(&clock, Faults::default(), 3);
        let server = stack("198.18.0.2/24", server_dev.info().mac, vec![7], Some(11111));
        Run {
            load: stack_with(
                "198.18.0.10/24",
                client_dev.info().mac,
                vec![],
                None,
                UdpLoad::new(cfg, clock.now()),
            ),
            clock,
            client_dev,
            server_dev,
            server,
        }
    }

    fn step_client(&mut self) {
        let now = self.clock.now();
        let load = &mut self.load;
        self.client_dev
            .receive(64, &mut |f, tx| load.on_frame(now, f, tx))
            .unwrap();
        load.poll(now, self.client_dev.transmitter());
    }

    fn step_server(&mut self) {
        let now = self.clock.now();
        let server = &mut self.server;
        self.server_dev
            .receive(64, &mut |f, tx| server.handle_frame(now, f, tx))
            .unwrap();
        server.poll(now, self.server_dev.transmitter());
    }

    /// Runs until the load is finished, 10 us of virtual time a step; bounded.
    fn until_done(&mut self, max_steps: u32) {
        for _ in 0..max_steps {
            if self.load.finished() {
                return;
            }
            self.step_client();
            self.step_server();
            self.clock.advance(Duration::from_micros(10));
        }
        panic!(
            "load did not finish in {max_steps} steps: {:?}",
            self.load.app().phase()
        );
    }
}

#[test]
fn closed_loop_echo_completes_every_request_without_errors() {
    let cfg = config(7, AppProto::Echo);
    let mut run = Run::new(&cfg);
    run.until_done(200_000);
    let t = run.load.app().total();
    assert_eq!(run.load.app().phase(), Phase::Done);
    assert_eq!(t.requests, 2000);
    assert_eq!(t.errors.total(), 0, "{:?}", t.errors);
    let s = LatencySummary::of(&t.corrected);
    // The sim link adds 50 us each way; steps are 10 us.
    assert!(s.p50 >= 100_000 && s.p50 <= 130_000, "p50 {} ns", s.p50);
    assert!(s.p50 <= s.p99 && s.p99 <= s.max);
}

#[test]
fn closed_loop_sockperf_is_answered() {
    let cfg = config(11111, AppProto::Sockperf);
    let mut run = Run::new(&cfg);
    run.until_done(200_000);
    let t = run.load.app().total();
    assert_eq!((t.requests, t.errors.total()), (2000, 0), "{:?}", t.errors);
}

#[test]
fn a_closed_port_counts_as_refused() {
    let mut cfg = config(9, AppProto::Echo);
    cfg.requests = Some(20);
    let mut run = Run::new(&cfg);
    run.until_done(200_000);
    let t = run.load.app().total();
    assert_eq!(t.requests, 0);
    assert_eq!(t.errors.refused, 20, "{:?}", t.errors);
}

#[test]
fn a_silent_server_counts_timeouts() {
    let mut cfg = config(7, AppProto::Echo);
    cfg.requests = Some(8);
    let mut run = Run::new(&cfg);
    // Let ARP resolve; the server goes silent as the first requests leave.
    while run.load.app().phase() != Phase::Measuring {
        run.step_client();
        run.step_server();
        run.clock.advance(Duration::from_micros(10));
    }
    let done_before = run.load.app().total().requests;
    for _ in 0..100_000 {
        if run.load.finished() {
            break;
        }
        run.step_client();
        run.clock.advance(Duration::from_micros(10));
    }
    let t = run.load.app().total();
    assert!(run.load.finished());
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
    while !run.load.finished() {
        steps += 1;
        assert!(steps < 500_000, "bounded");
        // At 100 ms the sender stalls for 50 ms: nothing is polled, nothing leaves.
        let t = run.clock.now().as_millis();
        if !(100..150).contains(&t) {
            run.step_client();
        }
        run.step_server();
        run.clock.advance(Duration::from_micros(10));
    }
    let t = run.load.app().total();
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
