#![no_main]
//! `cargo fuzz run stack`: see `xstack_fuzz::stack` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| xstack_fuzz::stack::run(data));
