#![no_main]
//! `cargo fuzz run wire_tcp`: see `xstack_fuzz::wire_tcp` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| xstack_fuzz::wire_tcp::run(data));
