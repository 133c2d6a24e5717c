#![no_main]
//! `cargo fuzz run wire_checksum`: see `xstack_fuzz::wire_checksum` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| xstack_fuzz::wire_checksum::run(data));
