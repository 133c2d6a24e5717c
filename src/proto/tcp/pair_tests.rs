//! Two connections over an in-test simulated link: seeded loss, reordering and
//! duplication, virtual time that jumps to the next timer, bounded in steps so a livelock
//! fails instead of hanging. Transfers are checked byte for byte.

use core::time::Duration;

use super::conn::{Connection, State, TcpConfig};
use super::segment::{Segment, SegmentHeader};
use crate::time::Instant;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// True with probability `permille`/1000.
    fn chance(&mut self, permille: u64) -> bool {
        self.next() % 1000 < permille
    }
}

struct Packet {
    at: Instant,
    hdr: SegmentHeader,
    payload: Vec<u8>,
}

struct Link {
    rng: XorShift,
    loss_permille: u64,
    /// In flight to side 0 and side 1.
    queues: [Vec<Packet>; 2],
    delay: Duration,
}

impl Link {
    fn send(&mut self, to: usize, now: Instant, hdr: &SegmentHeader, a: &[u8], b: &[u8]) {
        if self.rng.chance(self.loss_permille) {
            return;
        }
        let copies = if self.rng.chance(10) { 2 } else { 1 };
        for _ in 0..copies {
            // reorder: some packets take up to 5 ms longer
            let jitter = if self.rng.chance(30) {
                Duration::from_micros(self.rng.next() % 5000)
            } else {
                Duration::ZERO
            };
            self.queues[to].push(Packet {
                at: now + self.delay + jitter,
                hdr: *hdr,
                payload: [a, b].concat(),
            });
        }
    }
    fn next_arrival(&self) -> Option<Instant> {
        self.queues.iter().flatten().map(|p| p.at).min()
    }
}

struct Side {
    conn: Connection,
    to_send: Vec<u8>,
    sent: usize,
    received: Vec<u8>,
    closed: bool,
    close_reason: Option<super::conn::CloseReason>,
}

fn run_transfer(seed: u64, loss_permille: u64, size: usize) {
    run_transfer_sizes(seed, loss_permille, size, size);
}

/// Client sends `size0` bytes, server sends `size1`; returns (client, server) stats.
fn run_transfer_sizes(
    seed: u64,
    loss_permille: u64,
    size0: usize,
    size1: usize,
) -> (super::conn::TcpStats, super::conn::TcpStats) {
    let cfg = TcpConfig::default();
    let mut rng = XorShift(seed);
    let payload = |rng: &mut XorShift, size: usize| -> Vec<u8> {
        (0..size).map(|_| rng.next() as u8).collect::<Vec<u8>>()
    };
    let data0 = payload(&mut rng, size0);
    let data1 = payload(&mut rng, size1);
    let mut now = Instant::from_millis(1);
    let mut link = Link {
        rng: XorShift(seed ^ 0x9e37_79b9_7f4a_7c15),
        loss_permille,
        queues: [Vec::new(), Vec::new()],
        delay: Duration::from_millis(5),
    };
    let client = Connection::connect(cfg, now, 0xffff_f000);
    let mut sides: Vec<Option<Side>> = vec![
        Some(Side {
            conn: client,
            to_send: data0.clone(),
            sent: 0,
            received: Vec::new(),
            closed: false,
            close_reason: None,
        }),
        None,
    ];
    let mut steps = 0u32;
    let mut buf = vec![0u8; 8192];
    loop {
        steps += 1;
        assert!(
            steps < 2_000_000,
            "livelock: no progress after {steps} steps"
        );

        // deliver everything due
        for to in 0..2 {
            let mut due = Vec::new();
            let q = &mut link.queues[to];
            let mut i = 0;
            while i < q.len() {
                if q[i].at <= now {
                    due.push(q.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            due.sort_by_key(|p| p.at);
            for p in due {
                let seg = Segment {
                    seq: p.hdr.seq,
                    ack: p.hdr.ack,
                    flags: p.hdr.flags,
                    window: p.hdr.window,
                    options: p.hdr.options,
                    payload: &p.payload,
                };
                match &mut sides[to] {
                    Some(s) => s.conn.handle_segment(now, &seg),
                    None => {
                        // the listener: the first SYN creates the server side
                        if seg.flags.contains(crate::wire::tcp::TcpFlags::SYN)
                            && !seg.flags.contains(crate::wire::tcp::TcpFlags::ACK)
                        {
                            sides[1] = Some(Side {
                                conn: Connection::accept(cfg, now, 0x7fff_0000, &seg),
                                to_send: data1.clone(),
                                sent: 0,
                                received: Vec::new(),
                                closed: false,
                                close_reason: None,
                            });
                        }
                    }
                }
            }
        }

        // timers, apps, transmit
        for (i, side) in sides.iter_mut().enumerate() {
            let Some(s) = side else { continue };
            if s.conn.poll_timeout().is_some_and(|t| t <= now) {
                s.conn.handle_timeout(now);
            }
            if s.sent < s.to_send.len() {
                s.sent += s.conn.send(&s.to_send[s.sent..]);
            } else if !s.closed && matches!(s.conn.state(), State::Established | State::CloseWait) {
                s.conn.close();
                s.closed = true;
            }
            loop {
                let n = s.conn.recv(&mut buf);
                if n == 0 {
                    break;
                }
                s.received.extend_from_slice(&buf[..n]);
            }
            while let Some(e) = s.conn.poll_event() {
                if let super::conn::Event::Closed { reason } = e {
                    s.close_reason = Some(reason);
                }
            }
            let to = 1 - i;
            s.conn.poll_transmit(now, &mut |h, a, b| {
                link.send(to, now, h, a, b);
                true
            });
        }

        let done = sides.iter().enumerate().all(|(i, s)| {
            s.as_ref().is_some_and(|s| {
                matches!(s.conn.state(), State::Closed | State::TimeWait)
                    && s.received.len() == if i == 0 { size1 } else { size0 }
            })
        });
        if done {
            break;
        }
        let next = [
            link.next_arrival(),
            sides[0].as_ref().and_then(|s| s.conn.poll_timeout()),
            sides[1].as_ref().and_then(|s| s.conn.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(t) => now = t.max(now),
            None => panic!(
                "stalled at {:?}: {:?} / {:?}",
                now,
                sides[0].as_ref().map(|s| (
                    s.conn.state(),
                    s.close_reason,
                    s.received.len(),
                    s.sent,
                    s.conn.stats()
                )),
                sides[1].as_ref().map(|s| (
                    s.conn.state(),
                    s.close_reason,
                    s.received.len(),
                    s.sent,
                    s.conn.stats()
                ))
            ),
        }
    }
    let s0 = sides[0].as_ref().unwrap();
    let s1 = sides[1].as_ref().unwrap();
    assert!(s0.received == data1, "client received corrupted data");
    assert!(s1.received == data0, "server received corrupted data");
    if loss_permille > 0 {
        assert!(s0.conn.stats().retransmits + s1.conn.stats().retransmits > 0);
    }
    (s0.conn.stats(), s1.conn.stats())
}

const MB: usize = 1 << 20;

#[test]
fn pair_transfer_1mb_each_way_no_loss() {
    run_transfer(1, 0, MB);
}

#[test]
fn pair_transfer_1mb_each_way_1pct_loss() {
    run_transfer(2, 10, MB);
}

#[test]
fn pair_transfer_1mb_each_way_5pct_loss() {
    run_transfer(3, 50, MB);
}

#[test]
fn pair_transfer_many_seeds_5pct_loss_small() {
    for seed in 10..40 {
        run_transfer(seed, 50, 64 * 1024);
    }
}

#[test]
fn pair_one_way_1mb_1pct_loss_uses_fast_retransmit() {
    let (client, server) = run_transfer_sizes(4, 10, MB, 0);
    assert!(client.fast_retransmits > 0, "{client:?} {server:?}");
}

#[test]
fn pair_one_way_many_seeds_with_loss() {
    for seed in 100..120 {
        run_transfer_sizes(seed, 20 + seed % 60, 256 * 1024, 1000);
    }
}
