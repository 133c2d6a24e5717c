//! proto/: sans-IO protocol logic. Takes `now` and parsed packets, returns what to send.

pub mod arp;
pub mod ndp;
pub mod ratelimit;
pub mod reassembly;
pub mod tcp;
