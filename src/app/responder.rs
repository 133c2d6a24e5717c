//! The stream applications `xstack serve` runs on the stack's TCP endpoint: RFC 862 echo
//! and the sockperf responder (messages framed by the length in their header,
//! `app/sockperf.rs`), each on the ports the configuration gives it. The UDP services
//! are answered by the stack's fast path and are not here.
//!
//! Invariants: the peer's window does the pacing — an application reads only what it
//! can answer into its send buffer, so nothing is buffered here beyond one partial
//! sockperf message per connection; a connection closes once the peer has closed and
//! everything it sent has been answered.

use super::sockperf::SockperfFramer;
use crate::metrics::StackCounters;
use crate::stack::{App, TcpSocket};
use crate::time::Instant;
use std::sync::Arc;

/// What runs on a TCP port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Closed,
    Echo,
    Sockperf,
}

/// The application on one connection.
pub enum Session {
    Echo,
    Sockperf(SockperfFramer),
}

pub struct Responder {
    ports: Box<[Service]>,
    /// Bytes on their way from a connection's receive buffer to its send buffer.
    scratch: Box<[u8]>,
    /// sockperf replies on their way to a send buffer.
    replies: Vec<u8>,
    counters: Arc<StackCounters>,
}

impl Responder {
    /// Echo on `echo` ports and sockperf on `sockperf`; the stack must listen on them
    /// (`StackConfig::serve` does).
    pub fn new(echo: &[u16], sockperf: Option<u16>, counters: Arc<StackCounters>) -> Self {
        let mut ports = vec![Service::Closed; 65536].into_boxed_slice();
        for &p in echo {
            ports[usize::from(p)] = Service::Echo;
        }
        if let Some(p) = sockperf {
            ports[usize::from(p)] = Service::Sockperf;
        }
        Responder {
            ports,
            scratch: vec![0u8; 64 * 1024].into_boxed_slice(),
            replies: Vec::with_capacity(64 * 1024),
            counters,
        }
    }

    /// RFC 862: send back whatever arrives, as much as the send buffer takes.
    fn echo(&mut self, sock: &mut TcpSocket<'_>) {
        loop {
            let n = sock
                .recv_available()
                .min(sock.send_capacity())
                .min(self.scratch.len());
            if n == 0 {
                break;
            }
            let got = sock.recv(&mut self.scratch[..n]);
            sock.send(&self.scratch[..got]);
        }
    }

    /// sockperf: whole messages in, a reply for each that asks for one. Reading stops
    /// while replies would not fit.
    fn sockperf(&mut self, framer: &mut SockperfFramer, sock: &mut TcpSocket<'_>) {
        loop {
            // Replies to what is fed are at most what the framer holds plus what is fed.
            let room = sock.send_capacity().saturating_sub(framer.pending());
            let n = sock.recv_available().min(self.scratch.len()).min(room);
            if n == 0 {
                break;
            }
            let got = sock.recv(&mut self.scratch[..n]);
            self.replies.clear();
            let (before_r, before_n) = (framer.replies, framer.no_reply);
            if framer
                .feed(&self.scratch[..got], &mut self.replies)
                .is_err()
            {
                sock.abort();
                return;
            }
            self.counters
                .sockperf_replies
                .add(framer.replies - before_r);
            self.counters
                .sockperf_no_reply
                .add(framer.no_reply - before_n);
            sock.send(&self.replies);
        }
    }
}

impl App for Responder {
    type Conn = Session;

    fn accept(&mut self, _now: Instant, local_port: u16) -> Option<Session> {
        match self.ports[usize::from(local_port)] {
            Service::Closed => None,
            Service::Echo => Some(Session::Echo),
            Service::Sockperf => Some(Session::Sockperf(SockperfFramer::new())),
        }
    }

    fn readable(&mut self, _now: Instant, conn: &mut Session, sock: &mut TcpSocket<'_>) {
        self.writable(_now, conn, sock);
    }

    fn writable(&mut self, _now: Instant, conn: &mut Session, sock: &mut TcpSocket<'_>) {
        match conn {
            Session::Echo => self.echo(sock),
            Session::Sockperf(framer) => self.sockperf(framer, sock),
        }
        // Close once the peer has closed and everything it sent has been answered.
        if sock.peer_done() {
            sock.close();
        }
    }
}
