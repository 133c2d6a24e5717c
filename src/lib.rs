//! xstack: a kernel-bypass TCP/UDP stack. See `docs/architecture.md` for the layers;
//! data flows `driver → wire → stack → proto → app` on receive and back on send.

pub mod driver;
pub mod proto;
pub mod time;
pub mod wire;
pub mod metrics;
pub mod cli;
pub mod config;
pub mod runtime;
pub mod app;
pub mod stack;
