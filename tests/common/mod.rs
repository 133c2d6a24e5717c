//! What the simulated-network tests share: stacks built the way the binary builds them
//! (with fixed secrets, so a run replays exactly), and [`Pair`], two engines on the
//! simulated link driven the way the worker loop drives them — receive a batch, then
//! poll — on virtual time, bounded in steps so that a livelock fails instead of hanging.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;
use xstack::app::responder::Responder;
use xstack::app::serve::responder_stack_with;
use xstack::config::{AddrSet, AppProto, DriverChoice, LoadConfig, LoadMode, PollMode, Transport};
use xstack::driver::sim::{Faults, SimClock, SimDevice, SimLink};
use xstack::driver::{Device, DeviceInfo};
use xstack::metrics::StackCounters;
use xstack::stack::{App, Engine, Secrets, Stack, StackConfig};
use xstack::time::Instant;

/// The configuration of a test stack owning `ip` (ADDR/PREFIX): UDP echo on `echo`,
/// sockperf on `sockperf`, fixed secrets.
pub fn config(ip: &str, mac: [u8; 6], echo: Vec<u16>, sockperf: Option<u16>) -> StackConfig {
    StackConfig {
        udp_echo: echo,
        sockperf,
        tcp_capacity: 1 << 16,
        icmp_unreachable_rate: 1000,
        ..StackConfig::new(
            AddrSet::parse_all(&[ip]).unwrap(),
            mac,
            Secrets::from_seed(1),
        )
    }
}

/// A stack with application `app` (see [`config`]).
pub fn stack_with<A: App>(
    ip: &str,
    mac: [u8; 6],
    echo: Vec<u16>,
    sockperf: Option<u16>,
    app: A,
) -> Stack<A> {
    Stack::new(
        config(ip, mac, echo, sockperf),
        Arc::new(StackCounters::default()),
        app,
    )
}

/// A stack with no application: ARP, ICMP echo and the UDP services.
pub fn stack(ip: &str, mac: [u8; 6], echo: Vec<u16>, sockperf: Option<u16>) -> Stack {
    stack_with(ip, mac, echo, sockperf, xstack::stack::NoApp)
}

/// `xstack serve`'s stack: echo (UDP and TCP) on `echo`, sockperf on `sockperf`.
pub fn responder(
    ip: &str,
    mac: [u8; 6],
    echo: Vec<u16>,
    sockperf: Option<u16>,
    counters: Arc<StackCounters>,
) -> Stack<Responder> {
    let tcp = echo.clone();
    responder_stack_with(config(ip, mac, echo, sockperf), &tcp, counters)
}

/// One end of a [`Pair`]: an engine and its device.
pub struct Node<E> {
    pub engine: E,
    pub dev: SimDevice,
}

impl<E: Engine> Node<E> {
    /// What the worker loop does once: the whole receive batch, then poll.
    fn step(&mut self, now: Instant) {
        let engine = &mut self.engine;
        self.dev
            .receive(64, &mut |f, tx| engine.on_frame(now, f, tx))
            .unwrap();
        engine.poll(now, self.dev.transmitter());
    }
}

/// Two engines on one simulated link: `a` (usually the client) and `b`.
pub struct Pair<A, B> {
    pub clock: SimClock,
    pub a: Node<A>,
    pub b: Node<B>,
    /// Bounds on how far virtual time moves in one step.
    pub min_step: Duration,
    pub max_step: Duration,
}

impl<A: Engine, B: Engine> Pair<A, B> {
    /// Builds both ends on a link with `faults` (seeded by `seed`); each engine is made
    /// from its device's description.
    pub fn new(
        faults: Faults,
        seed: u64,
        a: impl FnOnce(&DeviceInfo) -> A,
        b: impl FnOnce(&DeviceInfo) -> B,
    ) -> Self {
        let clock = SimClock::new();
        let (da, db) = SimLink::pair(&clock, faults, seed);
        Pair {
            a: Node {
                engine: a(da.info()),
                dev: da,
            },
            b: Node {
                engine: b(db.info()),
                dev: db,
            },
            clock,
            min_step: Duration::from_micros(1),
            max_step: Duration::from_millis(10),
        }
    }

    /// One step of both ends, then virtual time jumps to the next thing that happens —
    /// a frame's arrival or either end's next timer — but at least `min_step` and at most
    /// `max_step` ahead.
    pub fn step(&mut self) {
        self.step_ends(true, true);
    }

    /// One step of the ends chosen (a silent end neither receives nor polls), then time
    /// moves on as in [`step`](Self::step).
    pub fn step_ends(&mut self, a: bool, b: bool) {
        let now = self.clock.now();
        if a {
            self.a.step(now);
        }
        if b {
            self.b.step(now);
        }
        let next = [
            self.a.dev.next_arrival(),
            self.b.dev.next_arrival(),
            self.a.engine.poll_at(),
            self.b.engine.poll_at(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + self.max_step);
        self.clock
            .set(next.max(now + self.min_step).min(now + self.max_step));
    }

    /// Steps until `done` holds; panics after `max_steps` (a livelock, not a hang).
    /// Returns the steps taken.
    pub fn run_until(&mut self, max_steps: u32, mut done: impl FnMut(&Self) -> bool) -> u32 {
        for i in 0..max_steps {
            if done(self) {
                return i;
            }
            self.step();
        }
        panic!(
            "not done after {max_steps} steps (virtual time {:?})",
            self.clock.now()
        );
    }

    /// Steps `n` times.
    pub fn steps(&mut self, n: u32) {
        for _ in 0..n {
            self.step();
        }
    }
}

/// A closed-loop UDP load from 198.18.0.10 to 198.18.0.2:`port`: 4 flows, 64 B, 2000
/// requests, 50 ms timeout.
pub fn load_config(port: u16, app: AppProto) -> LoadConfig {
    LoadConfig {
        iface: "sim0".into(),
        addrs: AddrSet::parse_all(&["198.18.0.10/24"]).unwrap(),
        target: format!("198.18.0.2:{port}").parse().unwrap(),
        driver: DriverChoice::Auto,
        transport: Transport::Udp,
        app,
        exchange: None,
        pipeline: None,
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
        pcap: None,
        max_errors: Default::default(),
        start_at: None,
        instance: "sim".into(),
        poll: PollMode::Busy,
        queues: 1,
        shared_umem: false,
        xdp_mode: None,
        cores: Vec::new(),
        ports: xstack::config::PortSet::ALL,
        shared: None,
        congestion: Default::default(),
    }
}

/// The load generator's TCP stack on 198.18.0.10, its buffers sized by the load.
pub fn tcp_load_stack(cfg: &LoadConfig, mac: [u8; 6]) -> Stack<xstack::app::load::tcp::TcpLoad> {
    let app = xstack::app::load::tcp::TcpLoad::new(cfg, Instant::ZERO);
    Stack::new(
        StackConfig {
            tcp: app.tcp_config(),
            ..config("198.18.0.10/24", mac, vec![], None)
        },
        Arc::new(StackCounters::default()),
        app,
    )
}

/// A server stack on 198.18.0.2 whose application `app` listens on TCP port 80.
pub fn port_80_stack<A: App>(mac: [u8; 6], app: A) -> Stack<A> {
    Stack::new(
        StackConfig {
            tcp_listen: vec![80],
            ..config("198.18.0.2/24", mac, vec![], None)
        },
        Arc::new(StackCounters::default()),
        app,
    )
}

/// `--app http --url URL` over TCP (see [`load_config`] for the rest), the request
/// built as the command line builds it.
pub fn http_load_config(url: &str, mode: LoadMode) -> LoadConfig {
    use xstack::app::load::http;
    let u = http::parse_url(url).unwrap();
    let request = http::build_request(&u, "GET", &[], b"");
    LoadConfig {
        transport: Transport::Tcp,
        mode,
        app: AppProto::Http,
        size: request.len(),
        target: u.target,
        exchange: Some(xstack::config::Exchange::Http {
            url: url.into(),
            method: "GET".into(),
            request: request.into(),
        }),
        ..load_config(u.target.port(), AppProto::Http)
    }
}
