//! `--trace`: each TCP connection's life as a ladder, the picture of a TCP textbook. Every
//! segment is a rung with its direction, flags, seq, ack, window and length; every state
//! transition is printed where it happens, on xstack's side:
//!
//! ```text
//!     0.000000 s  198.18.0.1:41234  ──── SYN       seq=3954112    ack=0          win=64240 len=0    ───▶  :7
//!     0.000000 s  198.18.0.1:41234                                                                     :7  LISTEN → SYN_RCVD
//!     0.000011 s  198.18.0.1:41234  ◀─── SYN,ACK   seq=1000       ack=3954113    win=65535 len=0    ────  :7
//! ```
//!
//! The peer is on the left and xstack's port on the right. Tracing is off unless asked
//! for; when off the stack only tests that it is absent.

use crate::proto::tcp::State;
use crate::time::Instant;
use crate::wire::TcpFlags;
use core::net::SocketAddr;
use std::io::Write;

/// One segment as the trace shows it.
#[derive(Clone, Copy, Debug)]
pub struct Rung {
    pub inbound: bool,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub len: usize,
}

pub struct Tracer {
    out: Box<dyn Write + Send>,
    start: Option<Instant>,
}

impl Tracer {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Tracer { out, start: None }
    }

    /// Lines to stderr.
    pub fn stderr() -> Self {
        Tracer::new(Box::new(std::io::stderr()))
    }

    fn stamp(&mut self, now: Instant) -> f64 {
        let start = *self.start.get_or_insert(now);
        now.saturating_since(start).as_secs_f64()
    }

    pub fn segment(&mut self, now: Instant, peer: SocketAddr, port: u16, r: &Rung) {
        let t = self.stamp(now);
        let body = format!(
            "{:<9} seq={:<10} ack={:<10} win={:<5} len={:<4}",
            r.flags.to_string(),
            r.seq,
            r.ack,
            r.window,
            r.len
        );
        let (left, right) = if r.inbound {
            ("────", "───▶")
        } else {
            ("◀───", "────")
        };
        let peer = peer.to_string();
        // Trace output is best effort: a closed stderr must not stop the worker.
        let _ = writeln!(
            self.out,
            "{t:12.6} s  {peer:<21}  {left} {body} {right}  :{port}"
        );
    }

    pub fn state(&mut self, now: Instant, peer: SocketAddr, port: u16, from: State, to: State) {
        let t = self.stamp(now);
        let peer = peer.to_string();
        let _ = writeln!(
            self.out,
            "{t:12.6} s  {peer:<21}  {:74}  :{port}  {from} → {to}",
            ""
        );
    }
}

/// A trace sink that keeps the text in memory, for tests: clone it, hand one clone to
/// [`Tracer::new`], read the other with [`Captured::text`].
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_point_the_right_way_and_transitions_are_named() {
        let buf = Captured::default();
        let mut t = Tracer::new(Box::new(buf.clone()));
        let peer: SocketAddr = "198.18.0.1:41234".parse().unwrap();
        let syn = Rung {
            inbound: true,
            flags: TcpFlags::SYN,
            seq: 100,
            ack: 0,
            window: 64240,
            len: 0,
        };
        t.segment(Instant::ZERO, peer, 7, &syn);
        t.state(Instant::ZERO, peer, 7, State::Listen, State::SynReceived);
        let synack = Rung {
            inbound: false,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            seq: 9000,
            ack: 101,
            ..syn
        };
        t.segment(Instant::from_millis(1), peer, 7, &synack);
        let text = buf.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].contains("──── SYN ") && lines[0].contains("───▶  :7"));
        assert!(lines[0].contains("198.18.0.1:41234") && lines[0].contains("seq=100 "));
        assert!(lines[1].ends_with(":7  LISTEN → SYN_RCVD"));
        assert!(lines[2].contains("◀─── SYN,ACK") && lines[2].contains("ack=101 "));
        assert!(lines[2].starts_with("    0.001000 s"));
    }
}
