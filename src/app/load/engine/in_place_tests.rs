//! Tests of building a closed-loop request over the reply it follows: the engine on a
//! real stack, its frames captured, the target's replies written by hand. When the
//! flow may send at once the reply frame goes back as the next request, with the next
//! sequence number; open loop, the end of sending, an exhausted `--requests`, a full
//! window, another length and the switch turned off all leave it to `poll`, and the
//! counts come out the same either way.

use super::*;
use crate::config::{AddrSet, Transport};
use crate::driver::Verdict;
use crate::metrics::StackCounters;
use crate::stack::in_place_tests::Capture;
use crate::stack::{Secrets, Stack, StackConfig};
use crate::wire::{
    EtherType, EthernetAddress, EthernetFrame, IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};
use core::net::Ipv4Addr;
use std::sync::Arc;

const OURS: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const TARGET_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const TARGET: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const ETH: usize = 14;
const PAYLOAD_AT: usize = 14 + 20 + 8;

/// Closed-loop UDP echo from 198.18.0.10 to 198.18.0.2:7: `flows` flows, 64 B,
/// `requests` requests, 50 ms timeout.
fn config(flows: u32, requests: Option<u64>) -> LoadConfig {
    LoadConfig {
        duration: None,
        requests,
        timeout: Duration::from_millis(50),
        ..LoadConfig::for_tests(Transport::Udp, flows, None)
    }
}

/// The load's stack, the target's MAC known from the start, and what it sends.
struct Rig {
    stack: Stack<UdpLoad>,
    tx: Capture,
    now: Instant,
}

impl Rig {
    fn new(cfg: &LoadConfig) -> Self {
        Self::with(UdpLoad::new(cfg, Instant::ZERO))
    }

    fn with(load: UdpLoad) -> Self {
        let mut cfg = StackConfig::new(
            AddrSet::parse_all(&["198.18.0.10/24"]).unwrap(),
            OURS,
            Secrets::from_seed(1),
        );
        cfg.gratuitous_arp = false;
        cfg.neighbours = vec![(TARGET, TARGET_MAC)];
        Rig {
            stack: Stack::new(cfg, Arc::new(StackCounters::default()), load),
            tx: Capture::default(),
            now: Instant::ZERO,
        }
    }

    fn load(&self) -> &UdpLoad {
        self.stack.app()
    }

    /// Polls the stack; returns the frames it sent.
    fn poll(&mut self) -> Vec<Vec<u8>> {
        self.stack.poll(self.now, &mut self.tx);
        std::mem::take(&mut self.tx.0)
    }

    /// Hands the stack a frame; returns the frame it sent back, if any (nothing else
    /// may be sent while it is handled).
    fn deliver(&mut self, mut frame: Vec<u8>) -> Option<Vec<u8>> {
        let v = self.stack.handle_frame(self.now, &mut frame, &mut self.tx);
        assert!(self.tx.0.is_empty(), "nothing sent beside the verdict");
        match v {
            Verdict::Drop => None,
            Verdict::Reflect(n) => {
                frame.truncate(n);
                Some(frame)
            }
        }
    }

    fn in_place(&self) -> u64 {
        self.stack.counters().snapshot().udp_sent_in_place
    }
}

/// The target's answer to `request` (a frame the load sent), with `payload`: as the
/// kernel would write it, its own identification and TTL.
fn answer_with(request: &[u8], payload: &[u8]) -> Vec<u8> {
    let ip = Ipv4Packet::new_checked(&request[ETH..]).unwrap();
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    let (ours, port) = (ip.src_addr(), udp.src_port());
    assert_eq!(ip.dst_addr(), TARGET);
    let mut f = vec![0u8; PAYLOAD_AT + payload.len()];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst_addr(EthernetAddress(OURS));
    eth.set_src_addr(EthernetAddress(TARGET_MAC));
    eth.set_ethertype(EtherType::Ipv4);
    Ipv4Repr {
        ident: 0x4242,
        ttl: 63,
        ..Ipv4Repr::new(TARGET, ours, IpProtocol::Udp, 8 + payload.len())
    }
    .emit(&mut Ipv4Packet::new_unchecked(&mut f[ETH..ETH + 20]));
    f[PAYLOAD_AT..].copy_from_slice(payload);
    UdpRepr {
        src_port: 7,
        dst_port: port,
        payload_len: payload.len(),
    }
    .emit(
        &mut UdpPacket::new_unchecked(&mut f[ETH + 20..]),
        TARGET,
        ours,
    );
    f
}

/// The echo of `request`.
fn echo(request: &[u8]) -> Vec<u8> {
    answer_with(request, &request[PAYLOAD_AT..])
}

/// The sequence number of the echo request `frame` holds, and its source port; checks
/// that it is a well-formed request (checksums, payload).
fn request_seq(frame: &[u8]) -> (u64, u16) {
    let ip = Ipv4Packet::new_checked(&frame[ETH..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.dst_addr(), TARGET);
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert!(udp.verify_checksum(ip.src_addr(), ip.dst_addr()));
    assert_eq!(udp.dst_port(), 7);
    let p = udp.payload();
    let seq = u64::from_be_bytes(p[..8].try_into().unwrap());
    let mut want = vec![0u8; 64];
    fill_request(AppProto::Echo, seq, &mut want);
    assert_eq!(p, &want[..]);
    (seq, udp.src_port())
}

#[test]
fn a_reply_in_closed_loop_becomes_the_next_request_in_place() {
    let mut rig = Rig::new(&config(1, Some(10)));
    let first = rig.poll();
    assert_eq!(first.len(), 1);
    let (seq, port) = request_seq(&first[0]);
    assert_eq!(seq, 1);
    let mut frame = first.into_iter().next().unwrap();
    // Replies 1..9 each come back as requests 2..10; the tenth ends the run.
    for want in 2..=10 {
        rig.now += Duration::from_micros(10);
        let back = rig.deliver(echo(&frame)).expect("sent back in place");
        assert_eq!(request_seq(&back), (want, port));
        assert_eq!(
            EthernetFrame::new_checked(&back[..]).unwrap().dst_addr().0,
            TARGET_MAC
        );
        assert_eq!(
            (
                rig.load().sent(),
                rig.load().in_flight,
                rig.load().total().requests
            ),
            (want, 1, want - 1)
        );
        assert!(rig.poll().is_empty(), "poll has nothing more to send");
        frame = back;
    }
    rig.now += Duration::from_micros(10);
    assert_eq!(
        rig.deliver(echo(&frame)),
        None,
        "no request past --requests"
    );
    assert!(rig.poll().is_empty());
    let load = rig.load();
    assert_eq!(load.phase(), Phase::Done);
    assert_eq!(
        (load.sent(), load.in_flight, load.total().requests),
        (10, 0, 10)
    );
    assert_eq!(load.total().errors.total(), 0);
    assert_eq!(load.total().corrected.len(), 10);
    assert_eq!(rig.in_place(), 9);
}

/// Runs `flows` flows to the end, echoing each request in whatever frame it left in;
/// returns (sent, in place, requests answered, errors).
fn run_to_end(load: UdpLoad, flows: u32) -> (u64, u64, u64, u64) {
    let mut rig = Rig::with(load);
    let mut pending = rig.poll();
    assert_eq!(pending.len(), flows as usize);
    for _ in 0..1000 {
        if rig.load().finished() {
            break;
        }
        rig.now += Duration::from_micros(5);
        let mut next = Vec::new();
        for f in pending.drain(..) {
            next.extend(rig.deliver(echo(&f)));
        }
        next.extend(rig.poll());
        pending = next;
    }
    let load = rig.load();
    assert!(load.finished());
    assert_eq!(load.in_flight, 0);
    (
        load.sent(),
        rig.in_place(),
        load.total().requests,
        load.total().errors.total(),
    )
}

#[test]
fn in_place_or_not_a_run_counts_the_same() {
    let cfg = config(4, Some(103));
    // 4 requests from the first poll, every other one over the reply before it.
    let on = run_to_end(UdpLoad::new(&cfg, Instant::ZERO), 4);
    assert_eq!(on, (103, 99, 103, 0));
    let off = run_to_end(UdpLoad::new(&cfg, Instant::ZERO).with_in_place(false), 4);
    assert_eq!(off, (103, 0, 103, 0));
}

#[test]
fn open_loop_sends_on_its_schedule_not_in_place() {
    let mut cfg = config(1, Some(3));
    cfg.rate = Some(1000.0);
    let mut rig = Rig::new(&cfg);
    let mut seen = Vec::new();
    for _ in 0..50 {
        for f in rig.poll() {
            seen.push(request_seq(&f).0);
            assert_eq!(
                rig.deliver(echo(&f)),
                None,
                "open loop answers nothing in place"
            );
        }
        if rig.load().finished() {
            break;
        }
        rig.now += Duration::from_micros(250);
    }
    assert_eq!(seen, [1, 2, 3]);
    assert_eq!(rig.load().phase(), Phase::Done);
    assert_eq!((rig.load().total().requests, rig.in_place()), (3, 0));
}

#[test]
fn a_reply_once_sending_has_stopped_is_not_followed() {
    let mut cfg = config(1, None);
    cfg.duration = Some(Duration::from_millis(1));
    let mut rig = Rig::new(&cfg);
    let req = rig.poll().pop().unwrap();
    // At the stop time, before the poll that would see it: sending is over.
    rig.now = Instant::ZERO + Duration::from_millis(1);
    assert_eq!(rig.deliver(echo(&req)), None);
    assert!(rig.poll().is_empty());
    let load = rig.load();
    assert_eq!(load.phase(), Phase::Done);
    assert_eq!(
        (load.sent(), load.total().requests, rig.in_place()),
        (1, 1, 0)
    );
}

#[test]
fn a_reply_while_draining_is_not_followed() {
    let mut cfg = config(2, None);
    cfg.duration = Some(Duration::from_millis(1));
    let mut rig = Rig::new(&cfg);
    let reqs = rig.poll();
    rig.now = Instant::ZERO + Duration::from_millis(1);
    assert!(rig.poll().is_empty());
    assert_eq!(rig.load().phase(), Phase::Draining);
    for r in &reqs {
        assert_eq!(rig.deliver(echo(r)), None);
    }
    assert!(rig.poll().is_empty());
    let load = rig.load();
    assert_eq!(load.phase(), Phase::Done);
    assert_eq!(
        (load.sent(), load.total().requests, rig.in_place()),
        (2, 2, 0)
    );
}

#[test]
fn a_reply_with_the_requests_all_sent_is_not_followed() {
    let mut rig = Rig::new(&config(2, Some(2)));
    let reqs = rig.poll();
    assert_eq!(reqs.len(), 2);
    assert_eq!(rig.deliver(echo(&reqs[0])), None);
    assert!(rig.poll().is_empty());
    assert_eq!(rig.load().phase(), Phase::Measuring);
    assert_eq!(rig.deliver(echo(&reqs[1])), None);
    assert!(rig.poll().is_empty());
    let load = rig.load();
    assert_eq!(load.phase(), Phase::Done);
    assert_eq!(
        (load.sent(), load.total().requests, rig.in_place()),
        (2, 2, 0)
    );
}

#[test]
fn a_flow_whose_window_is_still_full_after_the_reply_waits() {
    // Two requests in flight on one flow, then a window of one: the first reply
    // leaves the window full.
    let mut rig = Rig::new(&config(1, None));
    rig.stack.app_mut().window = 2;
    let mut reqs = rig.poll();
    rig.stack.app_mut().ready.push_back(0);
    reqs.extend(rig.poll());
    assert_eq!(
        reqs.iter().map(|f| request_seq(f).0).collect::<Vec<_>>(),
        [1, 2]
    );
    rig.stack.app_mut().window = 1;
    assert_eq!(rig.deliver(echo(&reqs[0])), None);
    assert_eq!(rig.load().in_flight, 1);
    assert!(rig.poll().is_empty(), "poll finds the window full too");
    let back = rig.deliver(echo(&reqs[1])).expect("room again");
    assert_eq!(request_seq(&back).0, 3);
    assert_eq!(
        (rig.load().sent(), rig.load().in_flight, rig.in_place()),
        (3, 1, 1)
    );
    assert_eq!(rig.load().total().requests, 2);
}

#[test]
fn a_reply_of_another_length_leaves_the_request_to_poll() {
    let mut rig = Rig::new(&config(1, None));
    let req = rig.poll().pop().unwrap();
    let mut longer = req[PAYLOAD_AT..].to_vec();
    longer.push(0);
    assert_eq!(rig.deliver(answer_with(&req, &longer)), None);
    assert_eq!(rig.load().total().errors.mismatch, 1);
    let next = rig.poll();
    assert_eq!(next.len(), 1);
    assert_eq!(request_seq(&next[0]).0, 2);
    assert_eq!(
        (rig.load().sent(), rig.load().in_flight, rig.in_place()),
        (2, 1, 0)
    );
}

#[test]
fn a_raw_request_goes_in_place_over_a_reply_of_its_own_length() {
    let mut cfg = config(1, None);
    cfg.app = AppProto::Raw;
    cfg.size = 5;
    cfg.exchange = Some(Exchange::Raw {
        request: Arc::from(&b"PING\n"[..]),
        framing: RawFraming::Delimiter(b"\n".to_vec()),
    });
    let mut rig = Rig::new(&cfg);
    let req = rig.poll().pop().unwrap();
    assert_eq!(&req[PAYLOAD_AT..], b"PING\n");
    let back = rig
        .deliver(answer_with(&req, b"PONG\n"))
        .expect("same length: in place");
    assert_eq!(&back[PAYLOAD_AT..], b"PING\n");
    assert_eq!(rig.in_place(), 1);
    assert_eq!(rig.deliver(answer_with(&back, b"PONG!\n")), None);
    let next = rig.poll();
    assert_eq!(next.len(), 1);
    assert_eq!(&next[0][PAYLOAD_AT..], b"PING\n");
    let load = rig.load();
    assert_eq!(
        (load.sent(), load.in_flight, load.total().requests),
        (3, 1, 2)
    );
    assert_eq!((rig.in_place(), load.total().errors.total()), (1, 0));
}

#[test]
fn in_warmup_a_reply_is_followed_until_measuring_is_due() {
    let mut cfg = config(1, Some(10));
    cfg.warmup = Duration::from_millis(1);
    let mut rig = Rig::new(&cfg);
    let req = rig.poll().pop().unwrap();
    rig.now = Instant::ZERO + Duration::from_micros(500);
    let back = rig.deliver(echo(&req)).expect("in warm-up");
    assert_eq!(request_seq(&back).0, 2);
    // Measuring is due, but only the next poll starts it (and counts the budget).
    rig.now = Instant::ZERO + Duration::from_millis(1);
    assert_eq!(rig.deliver(echo(&back)), None);
    let next = rig.poll();
    assert_eq!(rig.load().phase(), Phase::Measuring);
    assert_eq!(next.len(), 1);
    assert_eq!(request_seq(&next[0]).0, 3);
    assert_eq!(
        rig.load().total().requests,
        0,
        "warm-up replies are not measured"
    );
    rig.now += Duration::from_micros(10);
    let back = rig.deliver(echo(&next[0])).expect("measuring");
    assert_eq!(request_seq(&back).0, 4);
    assert_eq!((rig.load().total().requests, rig.in_place()), (1, 2));
}

#[test]
fn the_switch_reads_its_environment_value() {
    use crate::app::load::in_place;
    assert!(in_place(None).unwrap());
    assert!(in_place(Some("1")).unwrap());
    assert!(!in_place(Some("0")).unwrap());
    let e = in_place(Some("off")).unwrap_err().to_string();
    assert!(
        e.contains("XSTACK_LOAD_IN_PLACE") && e.contains("say 1"),
        "{e}"
    );
}
