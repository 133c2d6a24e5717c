//! The bodies of xstack's fuzz targets (`fuzz/fuzz_targets/*.rs` are one line each).
//!
//! Each module is one target: `run(data)` takes the fuzzer's bytes and panics only when
//! a property of xstack's code fails, never because of the input. Beyond "no panic, no
//! out-of-bounds" they check what the code promises:
//!
//! - `wire_*`: every parser over an Ethernet frame at its own layer (a frame too broken
//!   to reach that layer is still fed to it from the usual offset), every accessor of a
//!   view that `new_checked` accepted, parse → emit → parse giving the same value (and,
//!   where the format has one spelling, the same bytes), incremental checksum updates
//!   agreeing with a recompute, and every error builder writing a message that verifies.
//! - `wire_checksum`: the fast checksum against a plain RFC 1071 sum, partial sums,
//!   pseudo-headers, RFC 1624 updates.
//! - `app_http`: the HTTP/1.1 and raw response parsers find the same responses however
//!   the stream is cut into reads.
//! - `stack`: a whole `Stack` (the serve responder, IPv4 and IPv6) on the simulated link,
//!   fed a sequence of frames after a handshake prefix that leaves it with established
//!   connections, with its invariants checked after every frame (see [`stack`]).
//!
//! The same functions replay the committed corpus under `cargo test` (see `tests/`), so
//! a crash found once stays fixed without libFuzzer.

pub mod app_http;
pub mod frames;
pub mod stack;
pub mod wire_checksum;
pub mod wire_ethernet_arp;
pub mod wire_ipv4_icmp;
pub mod wire_ipv6_icmpv6_ndp;
pub mod wire_tcp;
pub mod wire_udp_sockperf;
