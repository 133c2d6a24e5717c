#![no_main]
//! `cargo fuzz run wire_ipv6_icmpv6_ndp`: see `xstack_fuzz::wire_ipv6_icmpv6_ndp` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| xstack_fuzz::wire_ipv6_icmpv6_ndp::run(data));
