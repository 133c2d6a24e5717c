#![no_main]
//! `cargo fuzz run app_http`: see `xstack_fuzz::app_http` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| xstack_fuzz::app_http::run(data));
