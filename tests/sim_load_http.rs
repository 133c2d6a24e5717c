//! `xstack load --app http` and `--app raw` over the simulated link, against a scripted
//! HTTP server written here as an application on a second stack: keep-alive with
//! Content-Length, chunked bodies, pipelining, a server that closes after N requests,
//! status codes counted, a malformed status line, a server that never answers, crr, and
//! a raw fixed-size exchange. Virtual time; every run is bounded in steps.

mod common;

use common::Pair;
use std::sync::Arc;
use std::time::Duration;
use xstack::app::load::engine::Measured;
use xstack::app::load::tcp::TcpLoad;
use xstack::config::{AppProto, Exchange, LoadConfig, LoadMode, RawFraming};
use xstack::driver::sim::Faults;
use xstack::stack::{App, Engine, Stack, TcpSocket};
use xstack::time::Instant;

/// What the scripted server answers to each request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Script {
    /// 200 with a body of this many bytes and Content-Length.
    Length(usize),
    /// 200 with this many bytes in chunks of 7.
    Chunked(usize),
    /// 200 with a 5-byte body, and `Connection: close` on the n-th response of a
    /// connection, then it closes.
    CloseAfter(u32),
    /// This status, body "oops".
    Status(u16),
    /// Every third response on a connection has a broken status line.
    Malformed,
    /// Reads requests, never answers.
    Silent,
    /// `--app raw`: answers every 4-byte request "PING" with "+PONG\r\n".
    Pong,
}

#[derive(Default)]
struct ServerConn {
    /// Bytes of a request head seen so far (the end of the last one scanned).
    tail: Vec<u8>,
    served: u32,
}

struct HttpServer {
    script: Script,
    /// Requests seen, all connections.
    requests: u64,
    /// Bytes waiting for room in the send buffer (one buffer per server is enough:
    /// the tests' responses always fit).
    scratch: Vec<u8>,
}

impl HttpServer {
    fn respond(&mut self, conn: &mut ServerConn, sock: &mut TcpSocket<'_>) -> bool {
        conn.served += 1;
        self.requests += 1;
        self.scratch.clear();
        let mut close = false;
        match self.script {
            Script::Length(n) => {
                self.scratch.extend_from_slice(
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").as_bytes(),
                );
                self.scratch.resize(self.scratch.len() + n, b'x');
            }
            Script::Chunked(n) => {
                self.scratch
                    .extend_from_slice(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                let mut left = n;
                while left > 0 {
                    let k = left.min(7);
                    self.scratch
                        .extend_from_slice(format!("{k:x}\r\n").as_bytes());
                    self.scratch.resize(self.scratch.len() + k, b'c');
                    self.scratch.extend_from_slice(b"\r\n");
                    left -= k;
                }
                self.scratch.extend_from_slice(b"0\r\n\r\n");
            }
            Script::CloseAfter(n) => {
                close = conn.served == n;
                let c = if close { "Connection: close\r\n" } else { "" };
                self.scratch.extend_from_slice(
                    format!("HTTP/1.1 200 OK\r\n{c}Content-Length: 5\r\n\r\nhello").as_bytes(),
                );
            }
            Script::Status(code) => self.scratch.extend_from_slice(
                format!("HTTP/1.1 {code} Whatever\r\nContent-Length: 4\r\n\r\noops").as_bytes(),
            ),
            Script::Malformed if conn.served % 3 == 0 => self
                .scratch
                .extend_from_slice(b"HTTP/1.1 2x0 Broken\r\n\r\n"),
            Script::Malformed => self
                .scratch
                .extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            Script::Silent => return false,
            Script::Pong => self.scratch.extend_from_slice(b"+PONG\r\n"),
        }
        assert_eq!(
            sock.send(&self.scratch),
            self.scratch.len(),
            "response fits"
        );
        if close {
            sock.close();
        }
        close
    }
}

impl App for HttpServer {
    type Conn = ServerConn;

    fn accept(&mut self, _now: Instant, port: u16) -> Option<ServerConn> {
        (port == 80).then(ServerConn::default)
    }

    fn readable(&mut self, _now: Instant, conn: &mut ServerConn, sock: &mut TcpSocket<'_>) {
        let mut buf = [0u8; 4096];
        loop {
            let n = sock.recv(&mut buf);
            if n == 0 {
                break;
            }
            conn.tail.extend_from_slice(&buf[..n]);
            let end: &[u8] = if self.script == Script::Pong {
                b"PING"
            } else {
                b"\r\n\r\n"
            };
            while let Some(k) = conn.tail.windows(end.len()).position(|w| w == end) {
                conn.tail.drain(..k + end.len());
                if self.respond(conn, sock) {
                    return;
                }
            }
        }
        if sock.peer_done() {
            sock.close();
        }
    }
}

fn http_config(port: u16, mode: LoadMode) -> LoadConfig {
    LoadConfig {
        timeout: Duration::from_millis(200),
        requests: Some(400),
        ..common::http_load_config(&format!("http://198.18.0.2:{port}/index.html"), mode)
    }
}

struct Run {
    pair: Pair<Stack<TcpLoad>, Stack<HttpServer>>,
}

impl Run {
    fn new(cfg: &LoadConfig, script: Script, faults: Faults) -> Run {
        let pair = Pair::new(
            faults,
            7,
            |dev| common::tcp_load_stack(cfg, dev.mac),
            |dev| {
                let server = HttpServer {
                    script,
                    requests: 0,
                    scratch: Vec::new(),
                };
                common::port_80_stack(dev.mac, server)
            },
        );
        Run { pair }
    }

    fn until_done(&mut self, max_steps: u32) -> Measured {
        let steps = self.pair.run_until(max_steps, |p| p.a.engine.finished());
        assert!(
            steps < max_steps,
            "the run did not finish in {max_steps} steps"
        );
        self.pair.a.engine.app().total().clone()
    }

    fn server_requests(&self) -> u64 {
        self.pair.b.engine.app().requests
    }
}

fn run(cfg: &LoadConfig, script: Script) -> Measured {
    Run::new(cfg, script, Faults::default()).until_done(400_000)
}

#[test]
fn keep_alive_content_length_counts_body_bytes_and_status() {
    let cfg = LoadConfig {
        connections: 4,
        ..http_config(80, LoadMode::PingPong)
    };
    let mut r = Run::new(&cfg, Script::Length(1000), Faults::default());
    let m = r.until_done(400_000);
    assert_eq!(
        r.server_requests(),
        400,
        "one request per response, none lost"
    );
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    assert_eq!(m.requests, 400);
    assert_eq!(m.with_status(200), 400);
    assert_eq!(m.bytes, 400 * 1000, "body bytes only");
    assert_eq!(m.replies.server_closes, 0);
}

#[test]
fn chunked_bodies_over_a_lossy_link() {
    let cfg = LoadConfig {
        connections: 2,
        requests: Some(200),
        timeout: Duration::from_secs(2),
        ..http_config(80, LoadMode::PingPong)
    };
    let faults = Faults {
        loss: 0.02,
        ..Faults::default()
    };
    let m = Run::new(&cfg, Script::Chunked(3000), faults).until_done(2_000_000);
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    assert_eq!((m.requests, m.bytes), (200, 200 * 3000));
}

#[test]
fn pipelining_keeps_depth_requests_in_flight() {
    let cfg = LoadConfig {
        connections: 2,
        pipeline: Some(4),
        ..http_config(80, LoadMode::PingPong)
    };
    let mut r = Run::new(&cfg, Script::Length(10), Faults::default());
    let mut most = 0;
    for _ in 0..20_000 {
        r.pair.step();
        most = most.max(r.pair.a.engine.app().in_flight());
    }
    assert_eq!(most, 8, "2 connections × depth 4 in flight at most");
    let m = r.until_done(400_000);
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    assert_eq!(m.requests, 400);
}

#[test]
fn a_server_that_closes_after_n_is_reconnected_and_requests_retried() {
    for depth in [1, 4] {
        let cfg = LoadConfig {
            connections: 2,
            pipeline: Some(depth),
            ..http_config(80, LoadMode::PingPong)
        };
        let m = run(&cfg, Script::CloseAfter(10));
        assert_eq!(m.errors.total(), 0, "depth {depth}: {:?}", m.errors);
        assert_eq!(m.requests, 400);
        assert!(
            m.replies.server_closes >= 400 / 10 - 2,
            "depth {depth}: {} server closes",
            m.replies.server_closes
        );
        if depth > 1 {
            assert!(
                m.replies.retried > 0,
                "pipelined requests behind a close are retried"
            );
        }
    }
}

#[test]
fn status_codes_are_counted_not_errors() {
    let cfg = http_config(80, LoadMode::PingPong);
    for code in [404, 500] {
        let m = run(&cfg, Script::Status(code));
        assert_eq!(m.errors.total(), 0);
        assert_eq!(m.with_status(code), 400, "{code}");
        assert_eq!(m.with_status(200), 0);
    }
}

#[test]
fn a_malformed_status_line_is_counted_and_the_run_goes_on() {
    let cfg = LoadConfig {
        connections: 2,
        max_errors: xstack::config::MaxErrors::Percent(100.0),
        ..http_config(80, LoadMode::PingPong)
    };
    let m = run(&cfg, Script::Malformed);
    // Every connection answers two good responses, then a bad one, and is dropped.
    assert!(m.errors.malformed > 0, "{:?}", m.errors);
    assert_eq!(m.errors.total(), m.errors.malformed, "{:?}", m.errors);
    assert_eq!(m.requests + m.errors.malformed, 400);
    assert!(
        m.requests.abs_diff(2 * m.errors.malformed) <= 8,
        "{} good, {} malformed",
        m.requests,
        m.errors.malformed
    );
}

#[test]
fn a_silent_server_times_out_and_the_run_ends_on_time() {
    let cfg = LoadConfig {
        connections: 2,
        requests: None,
        duration: Some(Duration::from_millis(500)),
        timeout: Duration::from_millis(100),
        ..http_config(80, LoadMode::PingPong)
    };
    let mut r = Run::new(&cfg, Script::Silent, Faults::default());
    let m = r.until_done(2_000_000);
    assert_eq!(m.requests, 0);
    // One request per connection every ~110 ms (timeout, pause, reconnect) for 0.5 s.
    assert!((6..=12).contains(&m.errors.timeout), "{:?}", m.errors);
    assert_eq!(m.errors.total(), m.errors.timeout);
    let now = r
        .pair
        .a
        .engine
        .app()
        .measured_span(Instant::from_nanos(u64::MAX / 2));
    assert!(now <= Duration::from_millis(510), "measured span {now:?}");
}

#[test]
fn crr_opens_a_connection_per_request() {
    let cfg = LoadConfig {
        connections: 2,
        requests: Some(50),
        ..http_config(80, LoadMode::Crr)
    };
    let m = run(&cfg, Script::Length(100));
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    assert_eq!((m.requests, m.bytes, m.with_status(200)), (50, 5000, 50));
}

#[test]
fn raw_fixed_size_and_delimited_responses() {
    for framing in [
        RawFraming::Bytes(7),
        RawFraming::Delimiter(b"\r\n".to_vec()),
    ] {
        let cfg = LoadConfig {
            app: AppProto::Raw,
            size: 4,
            pipeline: Some(2),
            exchange: Some(Exchange::Raw {
                request: Arc::from(&b"PING"[..]),
                framing: framing.clone(),
            }),
            ..http_config(80, LoadMode::PingPong)
        };
        let m = run(&cfg, Script::Pong);
        assert_eq!(m.errors.total(), 0, "{framing:?}: {:?}", m.errors);
        assert_eq!((m.requests, m.bytes), (400, 400 * 7), "{framing:?}");
    }
}

#[test]
fn open_loop_http_corrects_from_the_intended_time() {
    let cfg = LoadConfig {
        connections: 4,
        rate: Some(20_000.0),
        requests: Some(2000),
        ..http_config(80, LoadMode::PingPong)
    };
    let m = run(&cfg, Script::CloseAfter(100));
    assert_eq!(m.errors.total(), 0, "{:?}", m.errors);
    assert_eq!(m.requests, 2000);
    assert_eq!(m.corrected.len(), 2000);
    assert!(m.replies.server_closes > 0);
}

#[test]
fn an_http_report_matches_the_schema_and_counts_by_code() {
    use std::time::SystemTime;
    use xstack::app::load::LoadReport;
    let cfg = http_config(80, LoadMode::PingPong);
    let mut r = Run::new(&cfg, Script::Length(100), Faults::default());
    let total = r.until_done(400_000);
    let report = LoadReport {
        span: r.pair.a.engine.app().measured_span(r.pair.clock.now()),
        total,
        open_loop: false,
        stack: r.pair.a.engine.counters().snapshot(),
        driver: "sim".into(),
        started_at: SystemTime::now(),
        intervals: Vec::new(),
        interrupted: false,
        xdp: None,
        advice: Vec::new(),
        link_lost: None,
        busy_ns: 0,
        run_ns: 0,
    };
    let outcome = report.outcome(&cfg, None);
    assert_eq!(outcome.exit_code, 0, "{outcome:?}");
    let doc = serde_json::to_value(report.to_doc(&cfg, outcome)).unwrap();
    let path = format!(
        "{}/docs/schema/load.schema.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(doc["app"], "http");
    assert_eq!(doc["http"]["by_code"], serde_json::json!({"200": 400}));
    assert_eq!(doc["http"]["by_class"]["2xx"], 400);
    assert_eq!(doc["http"]["by_class"]["5xx"], 0);
    assert_eq!(doc["http"]["body_bytes"], 40_000);
    assert_eq!(doc["bytes_received"], 40_000);
    assert_eq!(doc["errors_by_kind"]["malformed"], 0);
    assert_eq!(doc["config"]["url"], "http://198.18.0.2:80/index.html");
    let text = report.to_text(&cfg, &report.outcome(&cfg, None));
    assert!(
        text.contains(
            "GET http://198.18.0.2:80/index.html: responses 400 (200 400), body bytes 40000"
        ),
        "{text}"
    );
}
