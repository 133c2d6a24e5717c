#![no_main]
//! `cargo fuzz run wire_ipv4_icmp`: see `xstack_fuzz::wire_ipv4_icmp` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| xstack_fuzz::wire_ipv4_icmp::run(data));
