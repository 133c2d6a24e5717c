//! The application interface of the stack: what an application on top (the echo and
//! sockperf responders, the load generator, later an HTTP client) implements, and the
//! handles the stack lends it. The stack calls the application; the application never
//! holds a reference into the stack between calls.
//!
//! - Stream side (TCP): [`App::accept`] for a connection to a listening port,
//!   [`App::connected`] when a handshake completes, [`App::readable`] and
//!   [`App::writable`] while there is data to read or room to write (level-triggered: on
//!   every service of the connection that finds it so), [`App::closed`] once, with the
//!   application's per-connection state handed back.
//! - Datagram side (UDP): [`App::datagram`] for a datagram to a port the stack does not
//!   answer itself, or [`App::datagram_in_place`], the same with the payload lent
//!   mutably, so that the application may write its next datagram over it and have the
//!   stack send the frame back; and [`App::unreachable`] for an ICMP port unreachable
//!   that quotes one of ours.
//! - Its own work: [`App::poll`] after every batch, with a [`Net`](super::Net) handle to
//!   open connections, write on them and send datagrams; [`App::poll_at`] and
//!   [`App::finished`] for the worker loop.
//!
//! Invariants: a [`ConnId`] names one connection until [`App::closed`] is called for it;
//! the per-connection state `Conn` lives in the connection table beside the TCB, so a
//! callback gets both without a second lookup.

use super::tcp::pool::BufferPool;
use super::Net;
use crate::proto::tcp::{CloseReason, Connection, State, TcpConfig};
use crate::time::Instant;
use core::net::SocketAddr;

/// Names one connection of the endpoint: its table slot, and its local port as a check
/// that the slot has not been reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnId {
    pub(super) slot: u32,
    pub(super) local_port: u16,
}

/// One connection, lent to the application for the length of a call.
///
/// A connection that gave its buffers back while idle gets a set only when the
/// application queues bytes on it (`send`): looking at it, reading nothing, closing or
/// aborting it needs none, so an application may touch every one of a million idle
/// connections without a set of buffers for each.
pub struct TcpSocket<'a> {
    pub(super) conn: &'a mut Connection,
    pub(super) id: ConnId,
    pub(super) remote: SocketAddr,
    /// Where a set of buffers comes from if `send` needs one (`None`: the connection
    /// holds its buffers for the length of the call).
    pub(super) lender: Option<(&'a mut BufferPool, &'a TcpConfig)>,
}

impl TcpSocket<'_> {
    pub fn id(&self) -> ConnId {
        self.id
    }

    pub fn local_port(&self) -> u16 {
        self.id.local_port
    }

    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    pub fn state(&self) -> State {
        self.conn.state()
    }

    /// Queues bytes to send; returns how many fit.
    pub fn send(&mut self, data: &[u8]) -> usize {
        if data.is_empty() {
            return 0;
        }
        if self.conn.needs_buffers() {
            match &mut self.lender {
                Some((pool, cfg)) => self.conn.lend(pool.take(cfg)),
                None => return 0,
            }
        }
        self.conn.send(data)
    }

    /// Bytes `send` would take now.
    pub fn send_capacity(&self) -> usize {
        self.conn.send_capacity()
    }

    /// Reads in-order bytes; returns how many.
    pub fn recv(&mut self, buf: &mut [u8]) -> usize {
        self.conn.recv(buf)
    }

    pub fn recv_available(&self) -> usize {
        self.conn.recv_available()
    }

    /// The peer has closed its side and every byte it sent has been read.
    pub fn peer_done(&self) -> bool {
        self.conn.peer_done()
    }

    /// Closes our side: a FIN follows the queued bytes.
    pub fn close(&mut self) {
        self.conn.close()
    }

    /// Resets the connection.
    pub fn abort(&mut self) {
        self.conn.abort()
    }
}

/// What the application did with a datagram lent to [`App::datagram_in_place`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatagramAction {
    /// Not the application's: the stack answers as for a closed port.
    NotMine,
    /// Taken; the frame is released.
    Taken,
    /// Taken, and the payload rewritten in place (same length) is to go back to the
    /// sender, from the address and port it was sent to.
    Reply,
}

/// An application on the stack. Every method has a default that does nothing (or
/// refuses), so an application implements only the side it uses.
pub trait App {
    /// What the application keeps for each of its connections.
    type Conn;

    /// A connection to listening port `local_port` is being created (a SYN, or the ACK
    /// of a SYN cookie). `None` refuses it: the peer gets a RST.
    fn accept(&mut self, now: Instant, local_port: u16) -> Option<Self::Conn> {
        let _ = (now, local_port);
        None
    }

    /// The handshake completed (either direction).
    fn connected(&mut self, now: Instant, conn: &mut Self::Conn, sock: &mut TcpSocket<'_>) {
        let _ = (now, conn, sock);
    }

    /// There are bytes to read, or the peer has closed (see [`TcpSocket::peer_done`]).
    fn readable(&mut self, now: Instant, conn: &mut Self::Conn, sock: &mut TcpSocket<'_>) {
        let _ = (now, conn, sock);
    }

    /// The connection is established and its send buffer has room.
    fn writable(&mut self, now: Instant, conn: &mut Self::Conn, sock: &mut TcpSocket<'_>) {
        let _ = (now, conn, sock);
    }

    /// The connection is gone; its state comes back. Called once per connection.
    fn closed(&mut self, now: Instant, id: ConnId, conn: Self::Conn, reason: CloseReason) {
        let _ = (now, id, conn, reason);
    }

    /// A datagram from `from` to `local` (one of our addresses and a port the stack does
    /// not serve itself). Returns whether the application took it; if not, the stack
    /// answers as for a closed port.
    fn datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        local: SocketAddr,
        payload: &[u8],
    ) -> bool {
        let _ = (now, from, local, payload);
        false
    }

    /// A datagram as for [`App::datagram`], whose payload the application may overwrite
    /// with a datagram of the same length to send back to `from` from `local`
    /// ([`DatagramAction::Reply`]): the stack turns the received frame around, with new
    /// headers and checksum, as if the application had sent it with `Net::send_udp`,
    /// and nothing is allocated or copied. The stack calls this instead of `datagram`
    /// where it can send the frame back as it is (not for a reassembled datagram), and
    /// the default hands the datagram to `datagram`.
    fn datagram_in_place(
        &mut self,
        now: Instant,
        from: SocketAddr,
        local: SocketAddr,
        payload: &mut [u8],
    ) -> DatagramAction {
        if self.datagram(now, from, local, payload) {
            DatagramAction::Taken
        } else {
            DatagramAction::NotMine
        }
    }

    /// An ICMP port unreachable: the datagram we sent from `local` to `to` found no
    /// listener. Returns whether the application took it.
    fn unreachable(&mut self, now: Instant, to: SocketAddr, local: SocketAddr) -> bool {
        let _ = (now, to, local);
        false
    }

    /// The application's own work, after every batch: open connections, write on them,
    /// send datagrams.
    fn poll(&mut self, now: Instant, net: &mut Net<'_, Self::Conn>) {
        let _ = (now, net);
    }

    /// The next time `poll` has work to do.
    fn poll_at(&self) -> Option<Instant> {
        None
    }

    /// The application's work is done (a bounded load run).
    fn finished(&self) -> bool {
        false
    }
}

/// No application: a stack that answers ARP, ICMP echo and its UDP services, and
/// refuses every TCP connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoApp;

impl App for NoApp {
    type Conn = ();
}
