//! proto/tcp: the TCP state machine (RFC 9293), sans-IO. `conn` is one connection (the
//! TCB), built from small parts each with its own tests: `rtt` (RFC 6298 RTO),
//! `congestion` (the congestion-control trait and NewReno) with `bbr` (a model-based
//! window), `assembler` (out-of-order
//! ranges and the SACK blocks that report them), `scoreboard` (the segments in flight
//! with SACK: RFC 6675 and RACK), `timers` (deadlines), `events` (the event queue); `seq` is sequence-number
//! arithmetic, `ring` the byte ring of the buffers and `buffers` the memory a connection
//! is given and hands back (the stack keeps the pool). The stack owns the connection
//! table, the listening ports and the wire format; it feeds segments in and sends what
//! comes out.

pub mod assembler;
pub mod bbr;
pub mod buffers;
pub mod congestion;
pub mod conn;
pub mod events;
mod ring;
pub mod rtt;
pub mod scoreboard;
pub mod seq;
pub mod timers;

pub use buffers::Buffers;
pub use conn::{
    CloseReason, ConnStats, Connection, Event, Segment, SegmentHeader, State, TcpConfig,
};
pub use seq::SeqNumber;
#[cfg(test)]
mod pair_tests;
