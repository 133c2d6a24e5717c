//! Tier 3 for TCP: two xstack endpoints on the simulated link. One is a whole `Stack`
//! serving RFC 862 echo; the other is a client driving a `proto::tcp::Connection` over
//! its own end of the link, both driven by the `Pair` harness (`tests/common`). Seeded loss, duplication, reordering and corruption, on
//! virtual time; every transfer is checked byte for byte, and the server's table must be
//! empty once the client has closed.

mod common;

use common::Pair;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use xstack::app::responder::Responder;
use xstack::app::serve::responder_stack_with;
use xstack::driver::sim::Faults;
use xstack::driver::{Transmit, Verdict};
use xstack::metrics::{StackCounters, StackSnapshot};
use xstack::proto::arp::ArpConfig;
use xstack::proto::tcp::{
    Buffers, Connection, Segment, SegmentHeader, SeqNumber, State, TcpConfig,
};
use xstack::stack::trace::{Captured, Tracer};
use xstack::stack::{Engine, Secrets, Stack, StackConfig};
use xstack::time::Instant;
use xstack::wire::{
    EtherType, EthernetAddress, EthernetFrame, IpProtocol, Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr,
};

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const CLIENT_PORT: u16 = 49152;
const ECHO: u16 = 7;
const TEN_MB: usize = 10 << 20;

fn server(counters: Arc<StackCounters>) -> Stack<Responder> {
    responder_stack_with(
        StackConfig {
            mtu: 1500,
            udp_echo: Vec::new(),
            sockperf: None,
            tcp_capacity: 1024,
            icmp_unreachable_rate: 10,
            arp: ArpConfig::default(),
            gratuitous_arp: false,
            ..StackConfig::new(
                xstack::config::AddrSet::parse_all(&["198.18.0.2/24"]).unwrap(),
                SERVER_MAC,
                Secrets::from_seed(1),
            )
        },
        &[ECHO],
        counters,
    )
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8 ^ (i >> 12) as u8).collect()
}

/// Writes a client segment as a whole frame.
fn client_frame(buf: &mut [u8], h: &SegmentHeader, p1: &[u8], p2: &[u8]) -> usize {
    let repr = TcpRepr {
        src_port: CLIENT_PORT,
        dst_port: ECHO,
        seq: h.seq.0,
        ack: h.ack.0,
        flags: h.flags,
        window: h.window,
        urgent: 0,
        options: h.options,
        payload: &[],
    };
    let tcp_len = repr.header_len() + p1.len() + p2.len();
    let len = 14 + 20 + tcp_len;
    let mut eth = EthernetFrame::new_unchecked(&mut buf[..14]);
    eth.set_dst_addr(EthernetAddress(SERVER_MAC));
    eth.set_src_addr(EthernetAddress(CLIENT_MAC));
    eth.set_ethertype(EtherType::Ipv4);
    Ipv4Repr::new(CLIENT_IP, SERVER_IP, IpProtocol::Tcp, tcp_len)
        .emit(&mut Ipv4Packet::new_unchecked(&mut buf[14..34]));
    let mut pkt = TcpPacket::new_unchecked(&mut buf[34..len]);
    repr.emit_header(&mut pkt);
    let payload = pkt.payload_mut();
    payload[..p1.len()].copy_from_slice(p1);
    payload[p1.len()..].copy_from_slice(p2);
    pkt.fill_checksum(CLIENT_IP, SERVER_IP);
    len
}

/// Parses a frame from the server; None for anything damaged or not ours.
fn parse(frame: &[u8]) -> Option<TcpRepr<'_>> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Ipv4 || eth.dst_addr() != EthernetAddress(CLIENT_MAC) {
        return None;
    }
    let ip_bytes = &frame[14..];
    let ip = Ipv4Packet::new_checked(ip_bytes).ok()?;
    let r = Ipv4Repr::parse(&ip).ok()?;
    if r.protocol != IpProtocol::Tcp || r.src != SERVER_IP || r.dst != CLIENT_IP {
        return None;
    }
    let hl = ip.header_len();
    let tcp_bytes = &ip_bytes[hl..hl + r.payload_len];
    let tcp = TcpPacket::new_checked(tcp_bytes).ok()?;
    let t = TcpRepr::parse(&tcp, SERVER_IP, CLIENT_IP).ok()?;
    (t.dst_port == CLIENT_PORT && t.src_port == ECHO).then_some(t)
}

struct Run {
    faults: Faults,
    seed: u64,
    size: usize,
    /// The client reads nothing before this much virtual time has passed.
    stall: Duration,
    backlog: Option<usize>,
    tracer: Option<Tracer>,
}

impl Run {
    fn new(size: usize) -> Self {
        Run {
            faults: Faults::default(),
            seed: 1,
            size,
            stall: Duration::ZERO,
            backlog: None,
            tracer: None,
        }
    }
}

struct Outcome {
    took: Duration,
    server: StackSnapshot,
    client_retransmits: u64,
}

/// The client end: a bare `Connection` on its own end of the link, driven as an engine,
/// that sends `data`, closes, and reads the echo (not before `stall` has passed).
struct BareClient {
    conn: Connection,
    data: Vec<u8>,
    sent: usize,
    received: Vec<u8>,
    buf: Vec<u8>,
    start: Instant,
    stall: Duration,
    /// The stall is over: the client reads.
    reading: bool,
}

impl Engine for BareClient {
    fn on_frame(&mut self, now: Instant, frame: &mut [u8], _: &mut dyn Transmit) -> Verdict {
        if let Some(t) = parse(frame) {
            let seg = Segment {
                seq: SeqNumber(t.seq),
                ack: SeqNumber(t.ack),
                flags: t.flags,
                window: t.window,
                options: t.options,
                payload: t.payload,
            };
            self.conn.handle_segment(now, &seg);
        }
        Verdict::Drop
    }

    fn poll(&mut self, now: Instant, tx: &mut dyn Transmit) {
        let c = &mut self.conn;
        if self.sent < self.data.len() {
            self.sent += c.send(&self.data[self.sent..]);
            if self.sent == self.data.len() {
                c.close();
            }
        }
        self.reading |= now.saturating_since(self.start) >= self.stall;
        if self.reading {
            loop {
                let n = c.recv(&mut self.buf);
                if n == 0 {
                    break;
                }
                self.received.extend_from_slice(&self.buf[..n]);
            }
        }
        while c.poll_event().is_some() {}
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
        c.poll_transmit(now, &mut |h, a, b| {
            tx.send_with(&mut |buf| client_frame(buf, h, a, b))
        });
    }

    fn poll_at(&self) -> Option<Instant> {
        // While stalled, wake when reading may start.
        let read_at = (!self.reading).then(|| self.start + self.stall);
        [self.conn.poll_timeout(), read_at]
            .into_iter()
            .flatten()
            .min()
    }
}

/// The client sends `size` bytes and closes; the server echoes them and closes after it.
fn echo(run: Run) -> Outcome {
    let counters = Arc::new(StackCounters::default());
    let cfg = TcpConfig {
        time_wait: Duration::from_secs(1),
        max_retries: 30,
        ..TcpConfig::default()
    };
    let data = pattern(run.size);
    let mut pair = Pair::new(
        run.faults,
        run.seed,
        |_| BareClient {
            conn: Connection::connect(cfg, Instant::ZERO, 0x1234_5678, Buffers::for_config(&cfg)),
            data: data.clone(),
            sent: 0,
            received: Vec::with_capacity(run.size),
            buf: vec![0u8; 65536],
            start: Instant::ZERO,
            stall: run.stall,
            reading: false,
        },
        |_| {
            let mut stack = server(counters.clone());
            if let Some(b) = run.backlog {
                stack.set_syn_backlog(b);
            }
            match run.tracer {
                Some(t) => stack.with_tracer(t),
                None => stack,
            }
        },
    );
    let done = |p: &Pair<BareClient, Stack<Responder>>| {
        let c = &p.a.engine;
        matches!(c.conn.state(), State::TimeWait | State::Closed)
            && c.received.len() == c.data.len()
            && p.b.engine.tcp_connections() == 0
    };
    let bound = 20_000_000;
    for _ in 0..bound {
        if done(&pair) {
            let c = &pair.a.engine;
            assert!(c.received == data, "the echo differs from what was sent");
            return Outcome {
                took: pair.clock.now().saturating_since(c.start),
                server: counters.snapshot(),
                client_retransmits: c.conn.stats().retransmits,
            };
        }
        pair.step();
    }
    let c = &pair.a.engine;
    panic!(
        "no completion in {bound} steps: sent {}, echoed {}/{}, client {}, server holds {} connections",
        c.sent,
        c.received.len(),
        run.size,
        c.conn.debug_vars(),
        pair.b.engine.tcp_connections()
    );
}

fn lossy(loss: f64, seed: u64) -> Run {
    Run {
        faults: Faults {
            loss,
            duplicate: 0.01,
            reorder: 0.05,
            corrupt: 0.01,
            ..Faults::default()
        },
        seed,
        ..Run::new(TEN_MB)
    }
}

#[test]
fn ten_megabytes_echoed_on_a_clean_link() {
    let o = echo(Run::new(TEN_MB));
    assert_eq!(o.server.tcp_retransmits + o.client_retransmits, 0);
    assert_eq!(o.server.tcp_closed_fin, 1);
}

#[test]
fn ten_megabytes_echoed_at_1_percent_loss_with_reordering_duplication_and_corruption() {
    let o = echo(lossy(0.01, 2));
    assert!(o.server.tcp_retransmits > 0 && o.client_retransmits > 0);
    assert_eq!(o.server.tcp_closed_fin, 1);
}

#[test]
fn ten_megabytes_echoed_at_5_percent_loss_with_reordering_duplication_and_corruption() {
    let o = echo(lossy(0.05, 3));
    assert!(o.server.tcp_out_of_order > 0);
    assert_eq!(o.server.tcp_closed_fin, 1);
}

#[test]
fn ten_megabytes_echoed_at_20_percent_loss_with_reordering_duplication_and_corruption() {
    let o = echo(lossy(0.20, 4));
    assert_eq!(o.server.tcp_closed_fin, 1);
}

// RFC 9293 §3.8.6: the client stops reading, the server's echo fills the client's
// window, the server stops reading, and its window closes too; both sides probe, and
// the transfer completes when the client reads again.
#[test]
fn a_stalled_receiver_closes_both_windows_and_the_echo_resumes() {
    let o = echo(Run {
        stall: Duration::from_secs(5),
        ..Run::new(TEN_MB)
    });
    assert!(o.took > Duration::from_secs(5));
    assert_eq!(o.server.tcp_closed_fin, 1);
}

// RFC 4987 §3.6: with the half-open backlog full (here: zero), the SYN-ACK is a cookie,
// nothing is stored, and the returning ACK creates the connection.
#[test]
fn a_full_backlog_answers_with_syn_cookies_and_the_connection_works() {
    let o = echo(Run {
        backlog: Some(0),
        ..Run::new(100_000)
    });
    assert_eq!(o.server.tcp_syn_cookies_sent, 1);
    assert_eq!(o.server.tcp_syn_cookies_ok, 1);
    assert_eq!(o.server.tcp_closed_fin, 1);
}

#[test]
fn syn_cookies_survive_loss() {
    let o = echo(Run {
        backlog: Some(0),
        tracer: std::env::var("SIM_TRACE").is_ok().then(Tracer::stderr),
        ..lossy(0.05, 9)
    });
    assert!(o.server.tcp_syn_cookies_ok >= 1);
}

// --trace: the ladder shows the three-way handshake, the data, and the passive close
// through CLOSE_WAIT and LAST_ACK, each transition where it happens.
#[test]
fn the_trace_draws_the_whole_life_of_a_connection() {
    let out = Captured::default();
    echo(Run {
        tracer: Some(Tracer::new(Box::new(out.clone()))),
        ..Run::new(10)
    });
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    let find = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{text}"))
    };
    let syn = find("──── SYN ");
    let listen = find("LISTEN → SYN_RCVD");
    let synack = find("◀─── SYN,ACK");
    let est = find("SYN_RCVD → ESTABLISHED");
    let close_wait = find("ESTABLISHED → CLOSE_WAIT");
    let last_ack = find("CLOSE_WAIT → LAST_ACK");
    let closed = find("LAST_ACK → CLOSED");
    assert!(syn < listen && listen < synack && synack < est);
    assert!(est < close_wait && close_wait < last_ack && last_ack < closed);
    assert!(lines[syn].contains("198.18.0.1:49152") && lines[syn].ends_with(":7"));
    assert!(
        lines.iter().any(|l| l.contains("len=10 ")),
        "the data rungs"
    );
}

/// Collects what the stack sends.
struct Collect(Vec<Vec<u8>>);

impl xstack::driver::Transmit for Collect {
    fn frame_capacity(&self) -> usize {
        1514
    }
    fn send_with(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let mut buf = vec![0u8; 1514];
        let n = build(&mut buf);
        if n > 0 {
            buf.truncate(n);
            self.0.push(buf);
        }
        true
    }
}

// Batching: segments that arrive in one receive batch are answered once per connection,
// after the batch: four in-order data segments get one segment back, carrying the echo
// of all four and one cumulative ACK, not four ACKs and four echoes.
#[test]
fn a_batch_of_segments_is_acknowledged_once_per_connection() {
    use xstack::wire::{TcpFlags, TcpOptions};
    let mut s = server(Arc::new(StackCounters::default()));
    let now = xstack::time::Instant::from_millis(1);
    let mut out = Collect(Vec::new());
    let mut frame = vec![0u8; 1514];
    let mut deliver =
        |s: &mut Stack<Responder>, h: SegmentHeader, payload: &[u8], out: &mut Collect| {
            let n = client_frame(&mut frame, &h, payload, &[]);
            if let Verdict::Reflect(len) = s.on_frame(now, &mut frame[..n], out) {
                out.0.push(frame[..len].to_vec());
            }
        };
    let hdr = |seq: u32, ack: u32, flags: TcpFlags| SegmentHeader {
        seq: SeqNumber(seq),
        ack: SeqNumber(ack),
        flags,
        window: 65535,
        options: TcpOptions::default(),
    };
    // The handshake.
    deliver(&mut s, hdr(1000, 0, TcpFlags::SYN), &[], &mut out);
    s.poll(now, &mut out);
    let synack = out.0.iter().find_map(|f| parse(f)).expect("a SYN-ACK");
    assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
    let our_ack = synack.seq.wrapping_add(1);
    deliver(&mut s, hdr(1001, our_ack, TcpFlags::ACK), &[], &mut out);
    s.poll(now, &mut out);
    out.0.clear();
    // One batch: four segments of 100 bytes, then the end-of-batch poll.
    let data = pattern(400);
    for k in 0..4u32 {
        let at = (k * 100) as usize;
        deliver(
            &mut s,
            hdr(1001 + k * 100, our_ack, TcpFlags::ACK | TcpFlags::PSH),
            &data[at..at + 100],
            &mut out,
        );
    }
    assert!(out.0.is_empty(), "nothing goes out before the batch ends");
    s.poll(now, &mut out);
    let sent: Vec<_> = out.0.iter().filter_map(|f| parse(f)).collect();
    assert_eq!(
        sent.len(),
        1,
        "one segment for the batch, got {}",
        sent.len()
    );
    assert_eq!(sent[0].ack, 1401, "one cumulative ACK");
    assert_eq!(sent[0].payload, &data[..], "the echo of all four");
}
