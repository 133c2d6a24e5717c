//! Tier 2 of the TCP tests: two connections over a simulated link on virtual time, with
//! seeded loss, duplication and reordering, moving data both ways at once and checked
//! byte for byte. Bounded in steps, so a livelock fails instead of hanging.

use super::congestion::Congestion;
use super::conn::{ConnStats, Connection, Segment, SegmentHeader, State, TcpConfig};
use super::Buffers;
use crate::driver::sim::Rng;
use crate::time::Instant;
use core::time::Duration;
use std::collections::VecDeque;

struct Wire {
    at: Instant,
    to_server: bool,
    header: SegmentHeader,
    payload: Vec<u8>,
}

struct Link {
    rng: Rng,
    loss: f64,
    duplicate: f64,
    reorder: f64,
    in_flight: VecDeque<Wire>,
}

impl Link {
    fn send(&mut self, now: Instant, to_server: bool, h: &SegmentHeader, a: &[u8], b: &[u8]) {
        if self.rng.chance(self.loss) {
            return;
        }
        let copies = if self.rng.chance(self.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut at = now + Duration::from_millis(1);
            if self.rng.chance(self.reorder) {
                at += Duration::from_micros(self.rng.below(3000));
            }
            self.in_flight.push_back(Wire {
                at,
                to_server,
                header: *h,
                payload: [a, b].concat(),
            });
        }
    }
}

fn pattern(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(seed) ^ (i >> 8) as u8)
        .collect()
}

/// One side: what it still has to send, what it received.
struct End {
    conn: Option<Connection>,
    to_send: Vec<u8>,
    sent: usize,
    received: Vec<u8>,
    /// The application reads nothing before this time (a stalled receiver).
    stall_until: Instant,
}

impl End {
    fn new(conn: Option<Connection>, to_send: Vec<u8>) -> Self {
        End {
            conn,
            to_send,
            sent: 0,
            received: Vec::new(),
            stall_until: Instant::ZERO,
        }
    }

    fn app(&mut self, now: Instant) {
        let Some(c) = self.conn.as_mut() else { return };
        if self.sent < self.to_send.len() {
            self.sent += c.send(&self.to_send[self.sent..]);
            if self.sent == self.to_send.len() {
                c.close();
            }
        }
        if now < self.stall_until {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            let n = c.recv(&mut buf);
            if n == 0 {
                break;
            }
            self.received.extend_from_slice(&buf[..n]);
        }
    }
}

/// What a transfer took: virtual time, and the two sides' counters.
struct Outcome {
    took: Duration,
    client: ConnStats,
    server: ConnStats,
}

/// Moves `size` bytes each way over a link with the given faults.
fn transfer(size: usize, loss: f64, duplicate: f64, reorder: f64, seed: u64) -> Outcome {
    transfer_with(size, loss, duplicate, reorder, seed, Duration::ZERO)
}

/// As `transfer`, with the server's application reading nothing for `stall` at first, so
/// that its window closes.
fn transfer_with(
    size: usize,
    loss: f64,
    duplicate: f64,
    reorder: f64,
    seed: u64,
    stall: Duration,
) -> Outcome {
    transfer_sack(
        size,
        loss,
        duplicate,
        reorder,
        seed,
        stall,
        true,
        Congestion::NewReno,
    )
}

/// As `transfer_with`; both ends offer SACK only if `sack`, and run `congestion`.
#[allow(clippy::too_many_arguments)]
fn transfer_sack(
    size: usize,
    loss: f64,
    duplicate: f64,
    reorder: f64,
    seed: u64,
    stall: Duration,
    sack: bool,
    congestion: Congestion,
) -> Outcome {
    // TIME_WAIT as long as RFC 9293 says (the default): a client that left it early
    // would leave the server's lost FIN unanswered (this link sends no RST for a closed
    // connection), and reaching TIME_WAIT counts as done anyway.
    let cfg = TcpConfig {
        max_retries: 30,
        sack,
        congestion,
        ..TcpConfig::default()
    };
    let mut link = Link {
        rng: Rng::new(seed),
        loss,
        duplicate,
        reorder,
        in_flight: VecDeque::new(),
    };
    let mut client = End::new(
        Some(Connection::connect(
            cfg,
            Instant::ZERO,
            0xfff0_0000,
            Buffers::for_config(&cfg),
        )),
        pattern(7, size),
    );
    let mut server = End::new(None, pattern(13, size));
    server.stall_until = Instant::ZERO + stall;
    let mut server_stats = ConnStats::default();
    let mut now = Instant::ZERO;
    for _ in 0..50_000_000u32 {
        // Deliver what has arrived.
        let mut i = 0;
        while i < link.in_flight.len() {
            if link.in_flight[i].at > now {
                i += 1;
                continue;
            }
            let w = link.in_flight.remove(i).unwrap_or_else(|| unreachable!());
            let seg = Segment {
                seq: w.header.seq,
                ack: w.header.ack,
                flags: w.header.flags,
                window: w.header.window,
                options: w.header.options,
                payload: &w.payload,
            };
            if w.to_server {
                match server.conn.as_mut() {
                    Some(c) => c.handle_segment(now, &seg),
                    None if seg.flags.contains(crate::wire::TcpFlags::SYN) => {
                        server.conn = Some(Connection::accept(
                            cfg,
                            now,
                            0x7fff_0000,
                            &seg,
                            Buffers::for_config(&cfg),
                        ))
                    }
                    None => {}
                }
            } else if let Some(c) = client.conn.as_mut() {
                c.handle_segment(now, &seg);
            }
        }
        client.app(now);
        server.app(now);
        for (end, to_server) in [(&mut client, true), (&mut server, false)] {
            let Some(c) = end.conn.as_mut() else { continue };
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
            c.poll_transmit(now, &mut |h, a, b| {
                link.send(now, to_server, h, a, b);
                true
            });
        }
        let done = |e: &End| {
            e.conn
                .as_ref()
                .is_some_and(|c| matches!(c.state(), State::Closed | State::TimeWait))
                && e.received.len() == size
        };
        if done(&client) && done(&server) {
            assert_eq!(
                client.received, server.to_send,
                "server to client, byte for byte"
            );
            assert_eq!(
                server.received, client.to_send,
                "client to server, byte for byte"
            );
            if let Some(c) = server.conn.as_ref() {
                server_stats = c.stats();
            }
            return Outcome {
                took: now.saturating_since(Instant::ZERO),
                client: client.conn.as_ref().map(|c| c.stats()).unwrap_or_default(),
                server: server_stats,
            };
        }
        // Jump to the next thing that can happen, at most 1 ms ahead.
        let next = [
            link.in_flight.iter().map(|w| w.at).min(),
            client.conn.as_ref().and_then(|c| c.poll_timeout()),
            server.conn.as_ref().and_then(|c| c.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + Duration::from_millis(1));
        now = next
            .max(now + Duration::from_micros(1))
            .min(now + Duration::from_millis(1));
    }
    panic!(
        "no completion at {now}: client got {}/{size} ({:?}), server got {}/{size} ({:?}), {} in flight",
        client.received.len(),
        client.conn.as_ref().map(|c| c.debug_vars()),
        server.received.len(),
        server.conn.as_ref().map(|c| c.debug_vars()),
        link.in_flight.len()
    );
}

const TEN_MB: usize = 10 << 20;

#[test]
fn one_mebibyte_each_way_on_a_clean_link() {
    let o = transfer(1 << 20, 0.0, 0.0, 0.0, 1);
    assert!(o.took < Duration::from_secs(2), "{:?}", o.took);
    assert_eq!(o.client.retransmits + o.server.retransmits, 0);
}

#[test]
fn ten_megabytes_each_way_on_a_clean_link() {
    let o = transfer(TEN_MB, 0.0, 0.0, 0.0, 1);
    assert_eq!(o.client.retransmits + o.server.retransmits, 0);
}

// RFC 5681 §3.2: at 1 % loss many losses are repaired by fast retransmit; the rest (a
// loss in a window's last segments, or a lost retransmission) wait for the timer.
#[test]
fn ten_megabytes_each_way_at_1_percent_loss_uses_fast_retransmit() {
    let o = transfer(TEN_MB, 0.01, 0.0, 0.0, 2);
    let fast = o.client.fast_retransmits + o.server.fast_retransmits;
    let timeouts = o.client.timeouts + o.server.timeouts;
    assert!(
        fast > 0 && 2 * fast >= timeouts,
        "fast {fast} timeouts {timeouts}"
    );
}

#[test]
fn ten_megabytes_each_way_at_5_percent_loss_with_duplication_and_reordering() {
    transfer(TEN_MB, 0.05, 0.02, 0.1, 3);
}

#[test]
fn ten_megabytes_each_way_at_20_percent_loss_with_duplication_and_reordering() {
    transfer(TEN_MB, 0.20, 0.02, 0.1, 4);
}

// RFC 9293 §3.8.6.1: a receiver that stops reading closes its window; the sender
// probes it with the persist timer and the transfer completes once reading resumes.
#[test]
fn a_stalled_receiver_closes_the_window_and_the_transfer_resumes() {
    let o = transfer_with(TEN_MB, 0.0, 0.0, 0.0, 5, Duration::from_secs(5));
    assert!(o.took > Duration::from_secs(5));
}

#[test]
fn a_stalled_receiver_on_a_lossy_link() {
    transfer_with(1 << 20, 0.05, 0.0, 0.05, 6, Duration::from_secs(3));
}

#[test]
fn one_mebibyte_each_way_at_1_percent_loss() {
    transfer(1 << 20, 0.01, 0.0, 0.0, 2);
}

#[test]
fn one_mebibyte_each_way_at_5_percent_loss_with_duplication_and_reordering() {
    transfer(1 << 20, 0.05, 0.02, 0.1, 3);
}

#[test]
fn transfers_survive_many_seeds_at_2_percent_loss() {
    for seed in 10..20 {
        transfer(64 << 10, 0.02, 0.01, 0.05, seed);
    }
}

/// 256 KiB each way at `loss` in both directions, for seeds 1 to 8: what each took.
fn quarter_mebibyte_each_way(loss: f64, sack: bool) -> Vec<Duration> {
    quarter_mebibyte_each_way_with(loss, sack, Congestion::NewReno)
}

fn quarter_mebibyte_each_way_with(loss: f64, sack: bool, cc: Congestion) -> Vec<Duration> {
    (1..=8)
        .map(|seed| {
            let o = transfer_sack(256 << 10, loss, 0.0, 0.0, seed, Duration::ZERO, sack, cc);
            if cc == Congestion::NewReno {
                assert_eq!(o.client.loss_probes + o.server.loss_probes > 0, sack);
            }
            o.took
        })
        .collect()
}

// RFC 2018 SACK with RFC 6675 recovery and RACK-TLP (RFC 8985), against 10 % loss both
// ways: before them (four out-of-order ranges, coalesced duplicate ACKs, NewReno only),
// the same eight transfers took 65 s of virtual time in all and up to 11 s each; now
// about 6 s in all.
#[test]
fn a_quarter_mebibyte_each_way_at_10_percent_loss_with_sack_is_quick() {
    let took = quarter_mebibyte_each_way(0.10, true);
    let total: Duration = took.iter().sum();
    assert!(total < Duration::from_secs(10), "{took:?}");
    assert!(took.iter().all(|&t| t < Duration::from_secs(3)), "{took:?}");
}

// The same at 20 %: before, 135 s in all and 14 s at best; now about 35 s in all (a
// run of timeouts, each twice as long as the last, can still make one take 15 s).
#[test]
fn a_quarter_mebibyte_each_way_at_20_percent_loss_with_sack_is_quick() {
    let took = quarter_mebibyte_each_way(0.20, true);
    let total: Duration = took.iter().sum();
    assert!(total < Duration::from_secs(45), "{took:?}");
    assert!(
        took.iter().all(|&t| t < Duration::from_secs(20)),
        "{took:?}"
    );
}

// A peer without SACK still gets its data through at 20 % loss, by NewReno.
#[test]
fn a_quarter_mebibyte_each_way_at_20_percent_loss_without_sack_completes() {
    let took = quarter_mebibyte_each_way(0.20, false);
    assert!(
        took.iter().all(|&t| t < Duration::from_secs(120)),
        "{took:?}"
    );
}

// BBR's window does not halve at each random loss: the same eight transfers at 20 % loss
// take much less virtual time than with NewReno, with SACK and without.
#[test]
fn bbr_recovers_from_random_loss_faster_than_newreno() {
    for sack in [true, false] {
        let reno: Duration = quarter_mebibyte_each_way_with(0.20, sack, Congestion::NewReno)
            .iter()
            .sum();
        let bbr: Duration = quarter_mebibyte_each_way_with(0.20, sack, Congestion::Bbr)
            .iter()
            .sum();
        eprintln!("sack {sack}: newreno {reno:?}, bbr {bbr:?}");
        assert!(bbr * 2 < reno, "sack {sack}: newreno {reno:?}, bbr {bbr:?}");
    }
}
