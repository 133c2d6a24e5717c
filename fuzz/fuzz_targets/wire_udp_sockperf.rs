#![no_main]
//! `cargo fuzz run wire_udp_sockperf`: see `xstack_fuzz::wire_udp_sockperf` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| xstack_fuzz::wire_udp_sockperf::run(data));
