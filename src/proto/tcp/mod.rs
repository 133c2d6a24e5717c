//! proto/tcp: the TCP state machine (RFC 9293), sans-IO.
//!
//! Layer: proto/. Owns one connection's TCB ([`conn::Connection`]), sequence arithmetic,
//! the reply for segments with no connection, and ISN generation. Nothing here reads a
//! clock or touches a socket: every entry point takes `now`, and output leaves through a
//! closure handed to `poll_transmit`. Buffers are allocated once per connection.

pub mod isn;
pub mod rst;
pub mod segment;
pub mod seq;

pub use rst::rst_for_no_connection;
pub use segment::{Segment, SegmentHeader};
pub use seq::SeqNumber;

pub mod conn;
mod ring;

pub use conn::{CloseReason, Connection, EmitFn, Event, State, TcpConfig, TcpStats};

#[cfg(test)]
mod pair_tests;
#[cfg(test)]
mod tests;
