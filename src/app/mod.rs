//! app/: what users run on the stack: the responders (`serve`: `responder`, `sockperf`)
//! and the load generator (`load`). Applications implement `stack::App` and see the
//! stack's handles and the validated config, never the driver internals or clap.

pub mod json;
pub mod load;
pub mod plot;
pub mod report;
pub mod responder;
pub mod serve;
pub mod sockperf;
