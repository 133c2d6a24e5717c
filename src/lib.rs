//! xstack: a kernel-bypass TCP/UDP stack. See `docs/architecture.md` for the layers;
//! data flows `driver → wire → stack → proto → app` on receive and back on send.

pub mod app;
pub mod cli;
pub mod config;
pub mod driver;
pub mod metrics;
pub mod proto;
pub mod runtime;
pub mod stack;
pub mod time;
pub mod wire;
