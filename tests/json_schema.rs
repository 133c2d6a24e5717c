//! The `--json` documents, checked against the committed JSON Schemas
//! (docs/schema/*.schema.json) with a validator nobody here wrote, for a real simulated
//! run; and the exit-status rules of `xstack load`.

mod common;

use common::Pair;
use std::time::{Duration, SystemTime};
use xstack::app::load::engine::UdpLoad;
use xstack::app::load::{LoadReport, EXIT_RUN_FAILED, EXIT_SIGINT};
use xstack::app::serve::ServeSummary;
use xstack::config::{AppProto, LoadConfig, MaxErrors, ServeConfig};
use xstack::driver::sim::Faults;
use xstack::driver::DriverStats;
use xstack::runtime::WorkerStats;
use xstack::stack::{Engine, Stack};
use xstack::time::Instant;

fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("{}/docs/schema/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn assert_valid(v: &jsonschema::Validator, doc: &serde_json::Value) {
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

/// A short closed-loop UDP run against xstack's responder, as a report.
fn udp_report(cfg: &LoadConfig) -> LoadReport {
    let mut pair: Pair<Stack<UdpLoad>, Stack> = Pair::new(
        Faults::default(),
        3,
        |dev| {
            let app = UdpLoad::new(cfg, Instant::ZERO);
            common::stack_with("198.18.0.10/24", dev.mac, vec![], None, app)
        },
        |dev| common::stack("198.18.0.2/24", dev.mac, vec![7], None),
    );
    pair.run_until(200_000, |p| p.a.engine.finished());
    let app = pair.a.engine.app();
    LoadReport {
        total: app.total().clone(),
        span: app.measured_span(pair.clock.now()),
        open_loop: cfg.rate.is_some(),
        stack: pair.a.engine.counters().snapshot(),
        driver: "sim".into(),
        started_at: SystemTime::now(),
        intervals: Vec::new(),
        interrupted: false,
        xdp: None,
        advice: Vec::new(),
        link_lost: None,
        busy_ns: 0,
        run_ns: 0,
    }
}

#[test]
fn a_load_document_of_a_real_run_matches_the_schema() {
    let cfg = common::load_config(7, AppProto::Echo);
    let report = udp_report(&cfg);
    let outcome = report.outcome(&cfg, None);
    assert_eq!(outcome.exit_code, 0, "{outcome:?}");
    let doc = serde_json::to_value(report.to_doc(&cfg, outcome)).unwrap();
    assert_valid(&schema("load.schema.json"), &doc);
    // The keys scripts already read keep their place and meaning.
    assert_eq!(doc["requests"], 2000);
    assert_eq!(doc["errors"], 0);
    assert!(doc["latency_us"]["p50"].as_f64().is_some_and(|p| p > 0.0));
    assert!(doc["drops"].is_object() && doc["errors_by_kind"]["timeout"] == 0);
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["config"]["target"], "198.18.0.2:7");
    // Something that is not a load document is refused by the schema.
    let mut broken = doc.clone();
    broken["requests"] = "many".into();
    assert!(!schema("load.schema.json").is_valid(&broken));
}

#[test]
fn a_run_where_nothing_succeeded_has_null_latency_and_exit_status_3() {
    // Nobody serves UDP port 9: every request is refused.
    let cfg = LoadConfig {
        requests: Some(20),
        ..common::load_config(9, AppProto::Echo)
    };
    let report = udp_report(&cfg);
    let outcome = report.outcome(&cfg, None);
    assert_eq!(
        (outcome.status.as_str(), outcome.exit_code),
        ("no_success", EXIT_RUN_FAILED)
    );
    let doc = serde_json::to_value(report.to_doc(&cfg, outcome)).unwrap();
    assert_valid(&schema("load.schema.json"), &doc);
    assert!(doc["latency_us"]["p50"].is_null() && doc["latency_us"]["max"].is_null());
    assert_eq!(doc["errors_by_kind"]["refused"], 20);
    let text = report.to_text(&cfg, &report.outcome(&cfg, None));
    assert!(text.contains("latency: no samples"), "{text}");
    assert!(!text.contains("p50 0.000"), "{text}");
}

#[test]
fn max_errors_counts_and_shares() {
    let cfg = common::load_config(7, AppProto::Echo);
    let mut report = udp_report(&cfg);
    report.total.errors.timeout = 10; // 10 of 2010 failed: 0.5 %
    let with = |m: MaxErrors| {
        let cfg = LoadConfig {
            max_errors: m,
            ..cfg.clone()
        };
        report.outcome(&cfg, None).exit_code
    };
    assert_eq!(
        with(MaxErrors::Count(0)),
        EXIT_RUN_FAILED,
        "the default allows none"
    );
    assert_eq!(with(MaxErrors::Count(10)), 0);
    assert_eq!(with(MaxErrors::Count(9)), EXIT_RUN_FAILED);
    assert_eq!(with(MaxErrors::Percent(1.0)), 0);
    assert_eq!(with(MaxErrors::Percent(0.4)), EXIT_RUN_FAILED);
    assert_eq!("0.5%".parse::<MaxErrors>(), Ok(MaxErrors::Percent(0.5)));
    assert_eq!("12".parse::<MaxErrors>(), Ok(MaxErrors::Count(12)));
    assert!("lots".parse::<MaxErrors>().is_err() && "150%".parse::<MaxErrors>().is_err());
}

#[test]
fn an_interrupted_run_reports_the_span_it_measured() {
    // A long open-ended run, stopped after 300 ms of virtual time.
    let cfg = LoadConfig {
        requests: None,
        duration: Some(Duration::from_secs(60)),
        ..common::load_config(7, AppProto::Echo)
    };
    let mut pair: Pair<Stack<UdpLoad>, Stack> = Pair::new(
        Faults::default(),
        3,
        |dev| {
            let app = UdpLoad::new(&cfg, Instant::ZERO);
            common::stack_with("198.18.0.10/24", dev.mac, vec![], None, app)
        },
        |dev| common::stack("198.18.0.2/24", dev.mac, vec![7], None),
    );
    pair.run_until(10_000_000, |p| {
        p.clock.now() >= Instant::ZERO + Duration::from_millis(300)
    });
    let app = pair.a.engine.app();
    let span = app.measured_span(pair.clock.now());
    assert!(
        span > Duration::from_millis(250) && span <= Duration::from_millis(301),
        "{span:?}"
    );
    let report = LoadReport {
        total: app.total().clone(),
        span,
        open_loop: false,
        stack: pair.a.engine.counters().snapshot(),
        driver: "sim".into(),
        started_at: SystemTime::now(),
        intervals: Vec::new(),
        interrupted: true,
        xdp: None,
        advice: Vec::new(),
        link_lost: None,
        busy_ns: 0,
        run_ns: 0,
    };
    let outcome = report.outcome(&cfg, Some(EXIT_SIGINT));
    assert_eq!(
        (outcome.status.as_str(), outcome.exit_code),
        ("interrupted", 130)
    );
    let doc = serde_json::to_value(report.to_doc(&cfg, outcome)).unwrap();
    assert_valid(&schema("load.schema.json"), &doc);
    assert_eq!(doc["interrupted"], true);
    assert!(doc["throughput_rps"].as_f64().unwrap() > 1000.0, "{doc}");
    assert!(doc["duration_s"].as_f64().unwrap() > 0.25);
}

#[test]
fn a_serve_document_matches_the_schema() {
    let cfg = ServeConfig {
        iface: "sim0".into(),
        addrs: xstack::config::AddrSet::parse_all(&["198.18.0.2/24"]).unwrap(),
        driver: xstack::config::DriverChoice::Auto,
        udp_echo: vec![7],
        sockperf: Some(11111),
        tcp_echo: vec![7],
        queues: 1,
        shared_umem: false,
        xdp_mode: None,
        claims: Vec::new(),
        pcap: None,
        json: true,
        poll: xstack::config::PollMode::Adaptive,
        interval: Duration::ZERO,
        trace: false,
        syn_backlog: 1024,
        max_connections: 65536,
        cores: Vec::new(),
        congestion: Default::default(),
        reflect_in_xdp: true,
    };
    let summary = ServeSummary {
        driver: "sim".into(),
        stack: Default::default(),
        driver_stats: DriverStats::default(),
        workers: WorkerStats::new(),
        duration: Duration::from_secs(1),
        started_at: SystemTime::now(),
        xdp: Some(xstack::driver::XdpVerdicts {
            redirected: 5,
            passed: 2,
            reflected: Some(xstack::driver::XdpReflected {
                icmp_echo: 3,
                udp_echo: 4,
                sockperf: 6,
                sockperf_no_reply: 1,
            }),
            ..Default::default()
        }),
        advice: vec!["a sentence".into()],
        link_lost: None,
    };
    let doc = serde_json::to_value(summary.to_doc(&cfg)).unwrap();
    assert_eq!(doc["xdp"]["redirected"], 5);
    assert_eq!(doc["config"]["reflect_in_xdp"], true);
    assert_eq!(doc["reflected_in_xdp"]["icmp_echo"], 3);
    assert_eq!(doc["reflected_in_xdp"]["udp_echo"], 4);
    assert_eq!(doc["reflected_in_xdp"]["sockperf"], 6);
    assert_eq!(doc["reflected_in_xdp"]["sockperf_no_reply"], 1);
    assert_eq!(doc["advice"][0], "a sentence");
    assert_valid(&schema("serve.schema.json"), &doc);
    assert_eq!(doc["kind"], "serve");
    assert_eq!(doc["rx_frames"], 0, "the counters stay top-level keys");
    assert!(doc["batch_us"]["p50"].is_null());
}
