#![no_main]
//! `cargo fuzz run wire_ethernet_arp`: see `xstack_fuzz::wire_ethernet_arp` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| xstack_fuzz::wire_ethernet_arp::run(data));
