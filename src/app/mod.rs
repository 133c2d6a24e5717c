//! app/: what users run on the stack: the responder (`serve`), and later the load
//! generator. Applications see the stack API and the validated config, never the driver
//! internals or clap.

pub mod load;
pub mod plot;
pub mod serve;
pub mod sockperf;
