//! Every committed input of every target — the seed corpus (`fuzz/corpus/<target>/`)
//! and the inputs that once crashed it (`fuzz/regressions/<target>/`) — replayed through
//! the target's body on the plain toolchain, without libFuzzer or a sanitizer:
//! `cargo test --release --manifest-path fuzz/Cargo.toml`. Each crash the fuzzers found
//! also has a unit test beside the code it broke; this keeps the inputs themselves.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seeds = 0;
    let mut failed = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            if dir == "corpus" {
                seeds += 1;
            }
            if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
                failed.push(path.display().to_string());
            }
        }
    }
    assert!(seeds > 0, "no seed corpus for {target}");
    assert!(failed.is_empty(), "{target} fails on {failed:?}");
}

#[test]
fn wire_ethernet_arp() {
    replay("wire_ethernet_arp", xstack_fuzz::wire_ethernet_arp::run);
}

#[test]
fn wire_ipv4_icmp() {
    replay("wire_ipv4_icmp", xstack_fuzz::wire_ipv4_icmp::run);
}

#[test]
fn wire_ipv6_icmpv6_ndp() {
    replay(
        "wire_ipv6_icmpv6_ndp",
        xstack_fuzz::wire_ipv6_icmpv6_ndp::run,
    );
}

#[test]
fn wire_tcp() {
    replay("wire_tcp", xstack_fuzz::wire_tcp::run);
}

#[test]
fn wire_udp_sockperf() {
    replay("wire_udp_sockperf", xstack_fuzz::wire_udp_sockperf::run);
}

#[test]
fn wire_checksum() {
    replay("wire_checksum", xstack_fuzz::wire_checksum::run);
}

#[test]
fn app_http() {
    replay("app_http", xstack_fuzz::app_http::run);
}

#[test]
fn stack() {
    replay("stack", xstack_fuzz::stack::run);
}
