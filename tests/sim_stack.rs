//! Tier 3: the whole stack on the simulated link. A scripted peer on the other end of a
//! `sim` link sends hand-built frames (built here with their own checksum code, not with
//! `wire/`) and checks the replies byte by byte; the `Pair` harness (`tests/common`)
//! drives both ends.

mod common;

use common::Pair;
use std::sync::Arc;
use std::time::Duration;
use xstack::app::responder::Responder;
use xstack::app::serve::responder_stack_with;
use xstack::driver::sim::{Faults, SimClock, SimLink};
use xstack::driver::{Device, Transmit, Verdict};
use xstack::metrics::{DropReason, StackCounters, StackSnapshot};
use xstack::proto::arp::ArpConfig;
use xstack::stack::{App, Engine, NoApp, Secrets, Stack, StackConfig};
use xstack::time::Instant;

const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const PEER_IP: [u8; 4] = [198, 18, 0, 1];
const OUR_IP: [u8; 4] = [198, 18, 0, 2];
const ECHO: u16 = 7;
const SOCKPERF: u16 = 11111;
/// The TCP port the `tcp()` segments go to; [`Lab::tcp_echo`] listens on it.
const TCP_ECHO: u16 = 80;

/// The scripted peer's end: records every frame that reaches it.
#[derive(Default)]
struct Recorder {
    got: Vec<Vec<u8>>,
}

impl Engine for Recorder {
    fn on_frame(&mut self, _: Instant, frame: &mut [u8], _: &mut dyn Transmit) -> Verdict {
        self.got.push(frame.to_vec());
        Verdict::Drop
    }
    fn poll(&mut self, _: Instant, _: &mut dyn Transmit) {}
    fn poll_at(&self) -> Option<Instant> {
        None
    }
}

struct Lab<A: App = NoApp> {
    pair: Pair<Recorder, Stack<A>>,
    counters: Arc<StackCounters>,
}

/// The stack under test: 198.18.0.2/24, UDP echo and sockperf, no gratuitous ARP.
fn lab_config() -> StackConfig {
    StackConfig {
        mtu: 1500,
        udp_echo: vec![ECHO],
        sockperf: Some(SOCKPERF),
        tcp_capacity: 1024,
        icmp_unreachable_rate: 10,
        arp: ArpConfig::default(),
        gratuitous_arp: false,
        ..StackConfig::new(
            xstack::config::AddrSet::parse_all(&["198.18.0.2/24"]).unwrap(),
            OUR_MAC,
            Secrets::from_seed(1),
        )
    }
}

impl Lab {
    /// No application: nothing listens on TCP.
    fn new() -> Lab {
        Lab::with(|cfg, c| Stack::new(cfg, c, NoApp))
    }
}

impl Lab<Responder> {
    /// `xstack serve`'s responder, with TCP echo listening on [`TCP_ECHO`].
    fn tcp_echo() -> Lab<Responder> {
        Lab::with(|cfg, c| responder_stack_with(cfg, &[TCP_ECHO], c))
    }
}

impl<A: App> Lab<A> {
    fn with(build: impl FnOnce(StackConfig, Arc<StackCounters>) -> Stack<A>) -> Lab<A> {
        Lab::with_config(lab_config(), build)
    }

    fn with_config(
        cfg: StackConfig,
        build: impl FnOnce(StackConfig, Arc<StackCounters>) -> Stack<A>,
    ) -> Lab<A> {
        let counters = Arc::new(StackCounters::default());
        let c = counters.clone();
        let mut pair = Pair::new(
            Faults::default(),
            7,
            |_| Recorder::default(),
            |_| build(cfg, c),
        );
        pair.max_step = Duration::from_millis(1);
        Lab { pair, counters }
    }

    /// Lets the link deliver, the stack answer, and the answers come back: steps until
    /// nothing is on the link (bounded), and returns what reached the peer. An exchange
    /// takes exactly 2 ms of virtual time (the rate-limit tests count on it).
    fn run(&mut self) -> Vec<Vec<u8>> {
        let start = self.pair.clock.now();
        for _ in 0..16 {
            self.pair.step();
            let quiet = self.pair.a.dev.next_arrival().is_none()
                && self.pair.b.dev.next_arrival().is_none();
            if quiet {
                break;
            }
        }
        let end = start + Duration::from_millis(2);
        assert!(self.pair.clock.now() <= end, "an exchange took over 2 ms");
        self.pair.clock.set(end);
        std::mem::take(&mut self.pair.a.engine.got)
    }

    fn exchange(&mut self, frame: &[u8]) -> Vec<Vec<u8>> {
        self.pair.a.dev.inject(frame);
        self.run()
    }

    fn stats(&self) -> StackSnapshot {
        self.counters.snapshot()
    }
}

// ---- hand-rolled packet building, independent of wire/ ----

fn csum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for p in parts {
        for &b in *p {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(hi) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn eth(dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ipv4(protocol: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    ipv4_from(PEER_IP, protocol, options, payload)
}

fn ipv4_from(src: [u8; 4], protocol: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let hl = 20 + options.len();
    let mut h = vec![0u8; hl];
    h[0] = 0x40 | (hl / 4) as u8;
    h[2..4].copy_from_slice(&((hl + payload.len()) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    h[6] = 0x40; // DF
    h[8] = 33;
    h[9] = protocol;
    h[12..16].copy_from_slice(&src);
    h[16..20].copy_from_slice(&OUR_IP);
    h[20..].copy_from_slice(options);
    let c = csum(&[&h]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    udp_from(PEER_IP, sport, dport, payload)
}

fn udp_from(src: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let pseudo = [&src[..], &OUR_IP[..], &[0, 17], &len.to_be_bytes()[..]].concat();
    let mut c = csum(&[&pseudo, &u]);
    if c == 0 {
        c = 0xffff;
    }
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

fn udp_frame(dport: u16, payload: &[u8]) -> Vec<u8> {
    eth(OUR_MAC, 0x0800, &ipv4(17, &[], &udp(40000, dport, payload)))
}

fn icmp_echo(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(payload);
    let c = csum(&[&m]);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

fn arp(op: u16, target_ip: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4];
    a.extend_from_slice(&op.to_be_bytes());
    a.extend_from_slice(&PEER_MAC);
    a.extend_from_slice(&PEER_IP);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&target_ip);
    a
}

fn sockperf_msg(seq: u64, flags: u16, total: usize) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&(total as u32).to_be_bytes());
    m.resize(total, 0xab);
    m
}

/// Checks the IPv4 header checksum and addresses of a reply, returns (protocol, payload).
fn ip_reply(frame: &[u8]) -> (u8, &[u8]) {
    assert_eq!(&frame[0..6], &PEER_MAC, "reply goes to the peer's MAC");
    assert_eq!(&frame[6..12], &OUR_MAC, "reply comes from our MAC");
    assert_eq!(&frame[12..14], &[0x08, 0x00]);
    let ip = &frame[14..];
    let hl = usize::from(ip[0] & 0xf) * 4;
    assert_eq!(csum(&[&ip[..hl]]), 0, "IPv4 header checksum verifies");
    assert_eq!(&ip[12..16], &OUR_IP);
    assert_eq!(&ip[16..20], &PEER_IP);
    assert_eq!(ip[8], 64, "TTL reset to 64");
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    assert_eq!(total, ip.len(), "no trailing bytes after the IP packet");
    (ip[9], &ip[hl..total])
}

fn udp_reply_payload(frame: &[u8]) -> Vec<u8> {
    let (proto, u) = ip_reply(frame);
    assert_eq!(proto, 17);
    let pseudo = [
        &OUR_IP[..],
        &PEER_IP[..],
        &[0, 17],
        &(u.len() as u16).to_be_bytes()[..],
    ]
    .concat();
    assert_eq!(csum(&[&pseudo, u]), 0, "UDP checksum verifies");
    assert_eq!(
        u16::from_be_bytes([u[2], u[3]]),
        40000,
        "dst port is the client's"
    );
    u[8..].to_vec()
}

// ---- the tests ----

#[test]
fn arp_request_for_our_address_is_answered() {
    let mut lab = Lab::new();
    let got = lab.exchange(&eth([0xff; 6], 0x0806, &arp(1, OUR_IP)));
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(&r[0..6], &PEER_MAC);
    assert_eq!(&r[12..14], &[0x08, 0x06]);
    let a = &r[14..];
    assert_eq!(&a[6..8], &[0, 2], "operation reply");
    assert_eq!(&a[8..14], &OUR_MAC);
    assert_eq!(&a[14..18], &OUR_IP);
    assert_eq!(&a[18..24], &PEER_MAC);
    assert_eq!(&a[24..28], &PEER_IP);
    assert_eq!(lab.stats().arp_replies, 1);
}

#[test]
fn arp_request_for_another_address_is_not_answered() {
    let mut lab = Lab::new();
    assert!(lab
        .exchange(&eth([0xff; 6], 0x0806, &arp(1, [198, 18, 0, 9])))
        .is_empty());
    assert_eq!(lab.stats().drops[DropReason::NotForUs as usize], 1);
}

/// A stack owning 198.18.0.2-198.18.0.4 answers ARP, ping and UDP echo on each of them,
/// from the address that was asked, and nothing for the next address.
#[test]
fn every_address_of_a_range_is_answered_from_itself() {
    let cfg = StackConfig {
        addrs: xstack::config::AddrSet::parse_all(&["198.18.0.2-198.18.0.4/24"]).unwrap(),
        ..lab_config()
    };
    let mut lab = Lab::with_config(cfg, |cfg, c| Stack::new(cfg, c, NoApp));
    for last in [2u8, 3, 4] {
        let ours = [198, 18, 0, last];
        let got = lab.exchange(&eth([0xff; 6], 0x0806, &arp(1, ours)));
        assert_eq!(got.len(), 1, "ARP for .{last}");
        assert_eq!(&got[0][14 + 14..14 + 18], &ours, "the sender is .{last}");

        let mut ip = ipv4(1, &[], &icmp_echo(1, u16::from(last), b"ping"));
        ip[16..20].copy_from_slice(&ours);
        ip[10..12].copy_from_slice(&[0, 0]);
        let c = csum(&[&ip[..20]]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let got = lab.exchange(&eth(OUR_MAC, 0x0800, &ip));
        assert_eq!(got.len(), 1, "ping to .{last}");
        assert_eq!(
            &got[0][14 + 12..14 + 16],
            &ours,
            "the reply comes from .{last}"
        );
        assert_eq!(&got[0][14 + 16..14 + 20], &PEER_IP);

        // UDP echo: the pseudo-header names the address asked.
        let mut u = udp(40000, ECHO, b"hello");
        u[6..8].copy_from_slice(&[0, 0]);
        let pseudo = [&PEER_IP[..], &ours[..], &[0, 17], &13u16.to_be_bytes()[..]].concat();
        let c = csum(&[&pseudo, &u]);
        u[6..8].copy_from_slice(&c.to_be_bytes());
        let mut ip = ipv4(17, &[], &u);
        ip[16..20].copy_from_slice(&ours);
        ip[10..12].copy_from_slice(&[0, 0]);
        let c = csum(&[&ip[..20]]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let got = lab.exchange(&eth(OUR_MAC, 0x0800, &ip));
        assert_eq!(got.len(), 1, "UDP echo to .{last}");
        let r = &got[0][14..];
        assert_eq!(&r[12..16], &ours);
        let pseudo = [&ours[..], &PEER_IP[..], &[0, 17], &13u16.to_be_bytes()[..]].concat();
        assert_eq!(csum(&[&pseudo, &r[20..]]), 0, "UDP checksum verifies");
        assert_eq!(&r[28..], b"hello");
    }
    assert!(lab
        .exchange(&eth([0xff; 6], 0x0806, &arp(1, [198, 18, 0, 5])))
        .is_empty());
    let s = lab.stats();
    assert_eq!(
        (s.arp_replies, s.icmp_echo_replies, s.udp_echo_replies),
        (3, 3, 3)
    );
    assert_eq!(s.drops[DropReason::NotForUs as usize], 1);
}

#[test]
fn gratuitous_arp_announces_our_address_at_start() {
    let clock = SimClock::new();
    let (mut peer, mut dut) = SimLink::pair(&clock, Faults::default(), 1);
    let mut stack = Stack::new(
        StackConfig {
            mtu: 1500,
            udp_echo: vec![],
            sockperf: None,
            tcp_capacity: 1024,
            icmp_unreachable_rate: 1,
            arp: ArpConfig::default(),
            gratuitous_arp: true,
            ..StackConfig::new(
                xstack::config::AddrSet::parse_all(&["198.18.0.2/24"]).unwrap(),
                OUR_MAC,
                Secrets::from_seed(1),
            )
        },
        Arc::new(StackCounters::default()),
        NoApp,
    );
    stack.poll(clock.now(), dut.transmitter());
    stack.poll(clock.now(), dut.transmitter());
    clock.advance(Duration::from_millis(1));
    let mut got = Vec::new();
    peer.receive(8, &mut |f, _| {
        got.push(f.to_vec());
        Verdict::Drop
    })
    .unwrap();
    assert_eq!(got.len(), 1, "announced exactly once");
    let f = &got[0];
    assert_eq!(&f[0..6], &[0xff; 6]);
    assert_eq!(&f[12..14], &[0x08, 0x06]);
    assert_eq!(&f[14 + 14..14 + 18], &OUR_IP, "sender IP");
    assert_eq!(&f[14 + 24..14 + 28], &OUR_IP, "target IP is our own");
}

#[test]
fn icmp_echo_request_gets_a_reply_with_the_same_payload() {
    let mut lab = Lab::new();
    let payload: Vec<u8> = (0..56).collect();
    let got = lab.exchange(&eth(
        OUR_MAC,
        0x0800,
        &ipv4(1, &[], &icmp_echo(0x77, 3, &payload)),
    ));
    assert_eq!(got.len(), 1);
    let (proto, m) = ip_reply(&got[0]);
    assert_eq!(proto, 1);
    assert_eq!(m[0], 0, "echo reply");
    assert_eq!(csum(&[m]), 0, "ICMP checksum verifies");
    assert_eq!(&m[4..8], &[0, 0x77, 0, 3], "identifier and sequence kept");
    assert_eq!(&m[8..], &payload[..]);
    assert_eq!(lab.stats().icmp_echo_replies, 1);
}

#[test]
fn udp_echo_returns_every_size_byte_exact() {
    let mut lab = Lab::new();
    for size in [0usize, 1, 2, 3, 17, 100, 1000, 1471, 1472] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
        let got = lab.exchange(&udp_frame(ECHO, &payload));
        assert_eq!(got.len(), 1, "size {size}");
        assert_eq!(udp_reply_payload(&got[0]), payload, "size {size}");
    }
    assert_eq!(lab.stats().udp_echo_replies, 9);
}

#[test]
fn udp_with_zero_checksum_is_accepted() {
    let mut lab = Lab::new();
    let mut f = udp_frame(ECHO, b"no checksum");
    f[14 + 20 + 6] = 0;
    f[14 + 20 + 7] = 0;
    let got = lab.exchange(&f);
    assert_eq!(got.len(), 1);
}

#[test]
fn ethernet_padding_is_not_echoed() {
    let mut lab = Lab::new();
    let mut f = udp_frame(ECHO, b"hi");
    f.resize(60, 0);
    let got = lab.exchange(&f);
    assert_eq!(udp_reply_payload(&got[0]), b"hi");
}

#[test]
fn sockperf_pong_request_is_answered_with_the_client_bit_cleared() {
    let mut lab = Lab::new();
    let got = lab.exchange(&udp_frame(SOCKPERF, &sockperf_msg(42, 1 | 2, 64)));
    assert_eq!(got.len(), 1);
    let reply = udp_reply_payload(&got[0]);
    assert_eq!(reply.len(), 64);
    assert_eq!(&reply[0..8], &42u64.to_be_bytes());
    assert_eq!(
        u16::from_be_bytes([reply[8], reply[9]]),
        2,
        "client bit cleared"
    );
    assert_eq!(&reply[10..14], &64u32.to_be_bytes());
    // Without the pong-request bit there is no reply.
    assert!(lab
        .exchange(&udp_frame(SOCKPERF, &sockperf_msg(43, 1, 64)))
        .is_empty());
    let s = lab.stats();
    assert_eq!((s.sockperf_replies, s.sockperf_no_reply), (1, 1));
}

#[test]
fn udp_to_a_closed_port_gets_a_rate_limited_port_unreachable() {
    let mut lab = Lab::new();
    let request = udp_frame(9999, b"anyone?");
    let got = lab.exchange(&request);
    assert_eq!(got.len(), 1);
    let (proto, m) = ip_reply(&got[0]);
    assert_eq!(proto, 1);
    assert_eq!(
        (m[0], m[1]),
        (3, 3),
        "destination unreachable, port unreachable"
    );
    assert_eq!(csum(&[m]), 0);
    assert_eq!(
        &m[8..8 + 28],
        &request[14..14 + 28],
        "quotes the IP header and 8 bytes"
    );
    // The limit is 10 a second with a burst of 10. The flood below spans 102 ms of
    // virtual time (2 ms an exchange), which earns exactly one more token.
    let mut answered = 1;
    for _ in 0..50 {
        answered += lab.exchange(&request).len();
    }
    assert_eq!(answered, 11);
    let s = lab.stats();
    assert_eq!(s.icmp_unreachables, 11);
    assert_eq!(s.icmp_unreachables_limited, 40);
    assert_eq!(s.drops[DropReason::UdpClosedPort as usize], 51);
}

#[test]
fn ipv4_options_are_accepted_and_the_reply_has_none() {
    let mut lab = Lab::new();
    // Two NOPs and an end-of-list pad the options to 4 bytes.
    let f = eth(
        OUR_MAC,
        0x0800,
        &ipv4(17, &[1, 1, 0, 0], &udp(40000, ECHO, b"opt")),
    );
    let got = lab.exchange(&f);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0][14], 0x45, "20-byte header in the reply");
    assert_eq!(udp_reply_payload(&got[0]), b"opt");
}

#[test]
fn malformed_frames_are_counted_by_reason_and_never_answered() {
    let mut lab = Lab::new();
    let good = udp_frame(ECHO, b"payload!");
    let mut cases: Vec<(Vec<u8>, DropReason)> = Vec::new();
    cases.push((good[..10].to_vec(), DropReason::Truncated));
    cases.push((good[..14 + 12].to_vec(), DropReason::Truncated));
    let mut bad_ip_csum = good.clone();
    bad_ip_csum[14 + 10] ^= 0xff;
    cases.push((bad_ip_csum, DropReason::BadChecksum));
    let mut bad_udp_csum = good.clone();
    let n = bad_udp_csum.len();
    bad_udp_csum[n - 1] ^= 0x01;
    cases.push((bad_udp_csum, DropReason::BadChecksum));
    // Cut short of its IPv4 total length.
    cases.push((
        eth(OUR_MAC, 0x0800, &ipv4(17, &[], &udp(1, ECHO, b"x"))[..25]),
        DropReason::BadLength,
    ));
    let mut frag = ipv4(17, &[], &udp(40000, ECHO, b"frag"));
    frag[6] = 0x20; // MF
    let c = {
        frag[10] = 0;
        frag[11] = 0;
        csum(&[&frag[..20]])
    };
    frag[10..12].copy_from_slice(&c.to_be_bytes());
    // A fragment (MF) whose data is not a whole number of 8-byte blocks.
    cases.push((eth(OUR_MAC, 0x0800, &frag), DropReason::FragmentInvalid));
    let mut long = ipv4(17, &[], &udp(40000, ECHO, b"long"));
    long[2..4].copy_from_slice(&2000u16.to_be_bytes());
    long[10] = 0;
    long[11] = 0;
    let c = csum(&[&long[..20]]);
    long[10..12].copy_from_slice(&c.to_be_bytes());
    cases.push((eth(OUR_MAC, 0x0800, &long), DropReason::BadLength));
    cases.push((
        eth(OUR_MAC, 0x86dd, &[0u8; 60]),
        DropReason::UnknownEthertype,
    ));
    cases.push((
        eth(OUR_MAC, 0x0800, &ipv4(47, &[], &[0u8; 20])),
        DropReason::UnknownProtocol,
    ));
    cases.push((
        eth([0xff; 6], 0x0806, &arp(1, OUR_IP)[..20]),
        DropReason::Truncated,
    ));
    cases.push((
        eth(
            [2, 9, 9, 9, 9, 9],
            0x0800,
            &ipv4(17, &[], &udp(1, ECHO, b"x")),
        ),
        DropReason::NotForUs,
    ));

    for (frame, reason) in &cases {
        let before = lab.stats().drops[*reason as usize];
        let got = lab.exchange(frame);
        assert!(got.is_empty(), "{reason:?} must not be answered");
        assert_eq!(
            lab.stats().drops[*reason as usize],
            before + 1,
            "{reason:?} counted"
        );
    }

    // Random bytes: nothing panics and everything is accounted for.
    let mut x: u64 = 0x1234_5678;
    for i in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 1600) as usize;
        let mut f: Vec<u8> = (0..len).map(|j| (x >> (j % 56)) as u8 ^ j as u8).collect();
        // Half of them look like IPv4 for us, so the deeper parsers see garbage too.
        if i % 2 == 0 && f.len() > 14 {
            f[0..6].copy_from_slice(&OUR_MAC);
            f[6..12].copy_from_slice(&PEER_MAC);
            f[12] = 0x08;
            f[13] = 0;
        }
        lab.exchange(&f);
    }
    // The stack still answers afterwards.
    let got = lab.exchange(&udp_frame(ECHO, b"still alive"));
    assert_eq!(udp_reply_payload(&got[0]), b"still alive");
    let s = lab.stats();
    assert_eq!(s.rx_frames, cases.len() as u64 + 2000 + 1);
}

fn tcp(seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    tcp_from(PEER_IP, TCP_ECHO, seq, ack, flags, payload)
}

/// A TCP segment from `src` to our port `dport`, as a whole frame.
fn tcp_from(src: [u8; 4], dport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&40001u16.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    let pseudo = [
        &src[..],
        &OUR_IP[..],
        &[0, 6],
        &(t.len() as u16).to_be_bytes()[..],
    ]
    .concat();
    let c = csum(&[&pseudo, &t]);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    eth(OUR_MAC, 0x0800, &ipv4_from(src, 6, &[], &t))
}

/// (seq, ack, flags) of a TCP reply, after checking its checksums and ports.
fn tcp_reply(frame: &[u8]) -> (u32, u32, u8) {
    let (_, t) = ip_reply(frame);
    assert_eq!(t.len(), 20, "no options, no payload");
    tcp_segment(frame)
}

/// (seq, ack, flags) of any TCP segment from the stack (options and payload allowed),
/// after checking its checksums and ports.
fn tcp_segment(frame: &[u8]) -> (u32, u32, u8) {
    let (proto, t) = ip_reply(frame);
    assert_eq!(proto, 6);
    let pseudo = [
        &OUR_IP[..],
        &PEER_IP[..],
        &[0, 6],
        &(t.len() as u16).to_be_bytes()[..],
    ]
    .concat();
    assert_eq!(csum(&[&pseudo, t]), 0, "TCP checksum verifies");
    assert_eq!(&t[0..4], &[0, 80, 0x9c, 0x41], "ports swapped");
    let w = |i: usize| u32::from_be_bytes(t[i..i + 4].try_into().unwrap());
    (w(4), w(8), t[13])
}

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const URG: u8 = 0x20;
const FIN: u8 = 0x01;

// RFC 9293 §3.10.7.1: a segment without ACK to a closed port gets
// <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SYN and FIN counting in SEG.LEN.
#[test]
fn syn_to_a_closed_port_gets_rst_ack_with_seq_zero() {
    let mut lab = Lab::new();
    let got = lab.exchange(&tcp(1000, 0, SYN, b""));
    assert_eq!(tcp_reply(&got[0]), (0, 1001, RST | ACK));
    let got = lab.exchange(&tcp(5000, 0, SYN | FIN, b"abc"));
    assert_eq!(tcp_reply(&got[0]), (0, 5005, RST | ACK));
    assert_eq!(lab.stats().tcp_rst_sent, 2);
}

// RFC 9293 §3.10.7.1: a segment with ACK to a closed port gets <SEQ=SEG.ACK><CTL=RST>.
#[test]
fn ack_to_a_closed_port_gets_rst_with_seq_from_the_ack() {
    let mut lab = Lab::new();
    let got = lab.exchange(&tcp(1000, 0xdead_beef, ACK, b"data"));
    assert_eq!(tcp_reply(&got[0]), (0xdead_beef, 0, RST));
}

// RFC 9293 §3.10.7.1: "An incoming segment containing a RST is discarded."
#[test]
fn a_rst_is_never_answered_with_a_rst() {
    let mut lab = Lab::new();
    assert!(lab.exchange(&tcp(1000, 7, RST | ACK, b"")).is_empty());
    assert!(lab.exchange(&tcp(1000, 0, RST, b"")).is_empty());
    let s = lab.stats();
    assert_eq!(s.tcp_rst_sent, 0);
    assert_eq!(s.drops[DropReason::TcpNoListener as usize], 2);
}

#[test]
fn tcp_with_a_bad_checksum_is_dropped_unanswered() {
    let mut lab = Lab::new();
    let mut f = tcp(1000, 0, SYN, b"");
    let n = f.len();
    f[n - 3] ^= 0x40;
    assert!(lab.exchange(&f).is_empty());
    assert_eq!(lab.stats().drops[DropReason::BadChecksum as usize], 1);
}

/// Opens a connection from `seq` to the TCP echo, closes it from the peer's side, and
/// lets the echo's LAST_ACK end: the connection leaves the table (memory freed).
fn open_and_close(lab: &mut Lab<Responder>, seq: u32) {
    let got = lab.exchange(&tcp(seq, 0, SYN, b""));
    let (iss, ack, flags) = tcp_segment(&got[0]);
    assert_eq!((ack, flags), (seq + 1, SYN | ACK));
    assert!(lab.exchange(&tcp(seq + 1, iss + 1, ACK, b"")).is_empty());
    let got = lab.exchange(&tcp(seq + 1, iss + 1, FIN | ACK, b""));
    assert!(got.iter().any(|f| tcp_segment(f).2 & FIN != 0), "{got:?}");
    assert!(lab.exchange(&tcp(seq + 2, iss + 2, ACK, b"")).is_empty());
}

// Memory a connection gives back is returned to the system by a trim a second later.
// A connection that ended while a trim waited must not leave the stack, once that trim
// is done, asking to be polled at once and for ever (a crash the stack fuzz target found:
// fuzz/regressions/stack): the trim covered it.
#[test]
fn a_connection_that_ends_while_a_trim_waits_leaves_no_poll_due_at_once() {
    let mut lab = Lab::tcp_echo();
    open_and_close(&mut lab, 1000);
    open_and_close(&mut lab, 90_000);
    assert_eq!(lab.stats().tcp_table_removed, 2);
    let trim_done = lab.pair.clock.now() + Duration::from_secs(2);
    lab.pair.clock.set(trim_done);
    lab.pair.step();
    let now = lab.pair.clock.now();
    let at = lab.pair.b.engine.poll_at();
    assert!(
        at.map_or(true, |t| t > now),
        "polled at {now}, wants a poll again at {at:?}"
    );
}

// RFC 9293 §3.10.7.4, LAST-ACK STATE: the ACK of our FIN deletes the TCB, and a new SYN on
// the same 4-tuple then meets LISTEN. A client that reuses its port at once sends that
// SYN a fraction of a millisecond after the ACK, so both land in one receive batch: the
// connection the ACK closed must be gone before the SYN is looked up.
//= https://www.rfc-editor.org/rfc/rfc9293#section-3.10.7.4
//# LAST-ACK STATE
//#   The only thing that can arrive in this state is an acknowledgment
//#   of our FIN.  If our FIN is now acknowledged, delete the TCB, enter
//#   the CLOSED state, and return.
#[test]
fn a_syn_in_the_same_batch_as_the_last_ack_of_last_ack_gets_a_syn_ack() {
    let mut lab = Lab::tcp_echo();
    let got = lab.exchange(&tcp(1000, 0, SYN, b""));
    let (iss, ack, flags) = tcp_segment(&got[0]);
    assert_eq!((ack, flags), (1001, SYN | ACK));
    assert!(lab.exchange(&tcp(1001, iss + 1, ACK, b"")).is_empty());
    // The peer closes; echo has nothing left to send and closes too: LAST_ACK.
    let got = lab.exchange(&tcp(1001, iss + 1, FIN | ACK, b""));
    let fin = got.iter().map(|f| tcp_segment(f)).find(|s| s.2 & FIN != 0);
    assert_eq!(fin, Some((iss + 1, 1002, FIN | ACK)), "{got:?}");
    // The last ACK, and 0.3 ms later a new SYN from the same port: one batch.
    lab.pair.a.dev.inject(&tcp(1002, iss + 2, ACK, b""));
    lab.pair.a.dev.inject(&tcp(90_000, 0, SYN, b""));
    let got = lab.run();
    let replies: Vec<_> = got.iter().map(|f| tcp_segment(f)).collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!((replies[0].1, replies[0].2), (90_001, SYN | ACK));
    let s = lab.stats();
    assert_eq!(s.tcp_closed_fin, 1, "the first connection closed by FIN");
    assert_eq!(
        s.tcp_table_inserted - s.tcp_table_removed,
        1,
        "only the new one is left"
    );
}

// RFC 9293 §3.10.7.2, LISTEN STATE, fourth: a segment with none of SYN, RST and ACK is
// dropped, not answered (a RST would tell a scanner the port listens, and §3.10.7.1's
// RST is for CLOSED, where it still goes).
//= https://www.rfc-editor.org/rfc/rfc9293#section-3.10.7.2
//# Any other control or text-bearing segment (not containing SYN)
//# must have an ACK and thus would have been discarded by the ACK
//# processing in the second step, unless it was first discarded by
//# RST checking in the first step.  So you are unlikely to get here,
//# but if you do, drop the segment and return.
#[test]
fn a_segment_without_syn_rst_or_ack_to_a_listening_port_is_dropped_unanswered() {
    let mut lab = Lab::tcp_echo();
    for flags in [0, FIN, PSH, FIN | PSH | URG] {
        let got = lab.exchange(&tcp(1000, 0, flags, b"data"));
        assert!(got.is_empty(), "flags {flags:#04x} answered");
    }
    let s = lab.stats();
    assert_eq!(s.drops[DropReason::TcpListenNoFlags as usize], 4);
    assert_eq!(s.drops_total(), 4, "each counted once");
    assert_eq!((s.tcp_rst_sent, s.tcp_table_inserted), (0, 0));
    // To a port nobody listens on, the same segment still gets §3.10.7.1's RST.
    let mut lab = Lab::new();
    let got = lab.exchange(&tcp(1000, 0, 0, b"data"));
    assert_eq!(tcp_reply(&got[0]), (0, 1004, RST | ACK));
}

// RFC 768: the length field is "the length in octets of this user datagram including
// this header and the data"; IP payload past it is not part of the datagram. Linux
// answers such a datagram and ignores the trailing bytes; so does xstack, echoing only
// the datagram (with an IP header that says so). A length beyond the IP payload is
// still dropped.
//= https://www.rfc-editor.org/rfc/rfc768
//# Length  is the length  in octets  of this user datagram  including  this
//# header  and the data.
#[test]
fn a_udp_length_shorter_than_the_ip_payload_is_answered_without_the_tail() {
    let mut lab = Lab::new();
    let mut payload = udp(40000, ECHO, b"hello");
    payload.extend_from_slice(b"TRAILING BYTES");
    let got = lab.exchange(&eth(OUR_MAC, 0x0800, &ipv4(17, &[], &payload)));
    assert_eq!(got.len(), 1, "echoed");
    assert_eq!(
        udp_reply_payload(&got[0]),
        b"hello",
        "without the trailing bytes"
    );
    // sockperf's answer likewise.
    let mut payload = udp(40000, SOCKPERF, &sockperf_msg(7, 1 | 2, 32));
    payload.extend_from_slice(&[0xee; 9]);
    let got = lab.exchange(&eth(OUR_MAC, 0x0800, &ipv4(17, &[], &payload)));
    assert_eq!(udp_reply_payload(&got[0]).len(), 32);
    assert_eq!(lab.stats().drops_total(), 0);
    // A length field past the end of the IP payload is a malformed datagram.
    let mut long = udp(40000, ECHO, b"hello");
    long[4..6].copy_from_slice(&20u16.to_be_bytes());
    assert!(lab
        .exchange(&eth(OUR_MAC, 0x0800, &ipv4(17, &[], &long)))
        .is_empty());
    assert_eq!(lab.stats().drops[DropReason::BadLength as usize], 1);
}

// RFC 1122 §3.2.1.3: no host sends from 0.0.0.0/8 ({0, Host-number} outside start-up),
// 127.0.0.0/8, a multicast address, the limited broadcast or a directed broadcast (here
// our subnet's, 198.18.0.255), and "a host MUST silently discard an incoming datagram
// containing an IP source address that is invalid by the rules of this section";
// §4.2.3.10 says the same of a SYN. Nothing is answered: no echo, no ICMP, no RST, and
// no half-open connection; each is counted as martian_source.
//= https://www.rfc-editor.org/rfc/rfc1122#section-3.2.1.3
//# A host MUST silently discard an incoming datagram containing an IP
//# source address that is invalid by the rules of this section.
#[test]
fn packets_from_martian_sources_are_discarded_silently() {
    let mut lab = Lab::tcp_echo();
    let martians: [[u8; 4]; 8] = [
        [198, 18, 0, 255],
        [127, 0, 0, 1],
        [127, 1, 2, 3],
        [0, 0, 0, 0],
        [0, 1, 2, 3],
        [224, 0, 0, 1],
        [239, 255, 255, 250],
        [255, 255, 255, 255],
    ];
    let mut sent = 0;
    for m in martians {
        let frames = [
            eth(
                OUR_MAC,
                0x0800,
                &ipv4_from(m, 1, &[], &icmp_echo(1, 1, b"x")),
            ),
            eth(
                OUR_MAC,
                0x0800,
                &ipv4_from(m, 17, &[], &udp_from(m, 4000, ECHO, b"x")),
            ),
            eth(
                OUR_MAC,
                0x0800,
                &ipv4_from(m, 17, &[], &udp_from(m, 4000, 9, b"x")),
            ),
            tcp_from(m, TCP_ECHO, 1000, 0, SYN, b""),
            tcp_from(m, 9, 1000, 0, SYN, b""),
        ];
        for f in &frames {
            let got = lab.exchange(f);
            assert!(got.is_empty(), "from {m:?}: {got:?}");
            sent += 1;
        }
    }
    let s = lab.stats();
    assert_eq!(s.drops[DropReason::MartianSource as usize], sent);
    assert_eq!(s.drops_total(), sent, "each counted once");
    assert_eq!((s.tcp_table_inserted, s.tcp_rst_sent), (0, 0));
    // Our subnet's network address and other subnets' broadcast addresses are hosts as
    // far as we can tell.
    for ok in [[198, 18, 0, 0], [198, 18, 1, 255]] {
        let f = eth(
            OUR_MAC,
            0x0800,
            &ipv4_from(ok, 1, &[], &icmp_echo(1, 1, b"x")),
        );
        assert_eq!(lab.exchange(&f).len(), 1, "{ok:?} is answered");
    }
}

// A frame with a VLAN tag belongs to a VLAN, and xstack serves only the untagged LAN:
// answering it untagged would answer, on our LAN, for a host on another one. 802.1Q,
// 802.1ad (double-tagged) and the pre-standard 0x9100 tag are all dropped as
// vlan_tagged. (On AF_PACKET the kernel takes the tag out of the frame; the packet
// driver puts it back, so the stack sees what AF_XDP sees.)
#[test]
fn vlan_tagged_frames_are_dropped_as_vlan_tagged() {
    let mut lab = Lab::new();
    let ping = ipv4(1, &[], &icmp_echo(1, 1, b"x"));
    for tpid in [0x8100u16, 0x88a8, 0x9100] {
        let mut inner = vec![0, 5, 0x08, 0x00];
        inner.extend_from_slice(&ping);
        let got = lab.exchange(&eth(OUR_MAC, tpid, &inner));
        assert!(got.is_empty(), "tag {tpid:#06x} answered");
    }
    let s = lab.stats();
    assert_eq!(s.drops[DropReason::VlanTagged as usize], 3);
    assert_eq!(s.drops_total(), 3);
    // Untagged, the same ping is answered.
    assert_eq!(lab.exchange(&eth(OUR_MAC, 0x0800, &ping)).len(), 1);
}

// ---- IPv6 (hand-built frames, independent of wire/) ----

const PEER6: [u8; 16] = [0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const OUR6: [u8; 16] = [0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
/// ff02::1:ff00:2, our solicited-node group, and its MAC.
const OUR_GROUP: [u8; 16] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2];
const OUR_GROUP_MAC: [u8; 6] = [0x33, 0x33, 0xff, 0, 0, 2];

/// The lab stack with 2001:2::2/64 beside 198.18.0.2/24.
fn lab6() -> Lab {
    let cfg = StackConfig {
        addrs: xstack::config::AddrSet::parse_all(&["198.18.0.2/24", "2001:2::2/64"]).unwrap(),
        ..lab_config()
    };
    Lab::with_config(cfg, |cfg, c| Stack::new(cfg, c, NoApp))
}

/// An IPv6 packet: `ext` extension-header bytes (their own next-header chain, the first
/// byte of each naming the next) before an upper layer of protocol `next`.
fn ipv6_pkt(src: [u8; 16], dst: [u8; 16], hop: u8, first: u8, ext: &[u8], upper: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&((ext.len() + upper.len()) as u16).to_be_bytes());
    h.push(first);
    h.push(hop);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(ext);
    h.extend_from_slice(upper);
    h
}

/// An upper-layer message with its checksum (at `at`) over the IPv6 pseudo-header.
fn with_csum6(src: [u8; 16], dst: [u8; 16], proto: u8, mut msg: Vec<u8>, at: usize) -> Vec<u8> {
    let len = (msg.len() as u32).to_be_bytes();
    let pseudo = [&src[..], &dst[..], &len[..], &[0, 0, 0, proto]].concat();
    msg[at..at + 2].copy_from_slice(&[0, 0]);
    let c = csum(&[&pseudo, &msg]);
    msg[at..at + 2].copy_from_slice(&c.to_be_bytes());
    msg
}

/// A neighbour solicitation for `target`, with a source link-layer option unless from ::.
fn ns(src: [u8; 16], target: [u8; 16]) -> Vec<u8> {
    let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&target);
    if src != [0; 16] {
        m.extend_from_slice(&[1, 1]);
        m.extend_from_slice(&PEER_MAC);
    }
    with_csum6(src, OUR_GROUP, 58, m, 2)
}

fn ns_frame(src: [u8; 16], hop: u8) -> Vec<u8> {
    eth(
        OUR_GROUP_MAC,
        0x86dd,
        &ipv6_pkt(src, OUR_GROUP, hop, 58, &[], &ns(src, OUR6)),
    )
}

#[test]
fn a_neighbour_solicitation_for_our_ipv6_address_gets_a_solicited_advertisement() {
    let mut lab = lab6();
    let got = lab.exchange(&ns_frame(PEER6, 255));
    assert_eq!(got.len(), 1, "one NA");
    let f = &got[0];
    assert_eq!(&f[0..6], &PEER_MAC, "to the solicitor's link-layer address");
    assert_eq!(&f[12..14], &[0x86, 0xdd]);
    let ip = &f[14..];
    assert_eq!(ip[7], 255, "hop limit 255");
    assert_eq!(&ip[8..24], &OUR6);
    assert_eq!(&ip[24..40], &PEER6);
    let na = &ip[40..];
    assert_eq!(na[0], 136, "neighbour advertisement");
    assert_eq!(na[4] & 0xe0, 0x60, "solicited and override, not router");
    assert_eq!(&na[8..24], &OUR6, "target");
    assert_eq!(&na[24..26], &[2, 1], "target link-layer address option");
    assert_eq!(&na[26..32], &OUR_MAC);
    let len = (na.len() as u32).to_be_bytes();
    let pseudo = [&OUR6[..], &PEER6[..], &len[..], &[0, 0, 0, 58]].concat();
    assert_eq!(csum(&[&pseudo, na]), 0, "ICMPv6 checksum verifies");
    assert_eq!(lab.stats().ndp_solicitations_received, 1);
    assert_eq!(lab.stats().ndp_advertisements_sent, 1);
}

#[test]
fn a_dad_probe_for_our_address_is_answered_to_all_nodes() {
    let mut lab = lab6();
    let got = lab.exchange(&ns_frame([0; 16], 255));
    assert_eq!(got.len(), 1);
    let f = &got[0];
    assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1], "to all-nodes");
    assert_eq!(
        &f[14 + 24..14 + 40],
        &[0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    );
    assert_eq!(f[14 + 40 + 4] & 0x40, 0, "not solicited (RFC 4861 §7.2.4)");
}

#[test]
fn neighbour_discovery_from_off_link_is_dropped_by_reason() {
    let mut lab = lab6();
    assert!(lab.exchange(&ns_frame(PEER6, 64)).is_empty());
    assert_eq!(lab.stats().drops[DropReason::NdpHopLimit as usize], 1);
    // A DAD probe must not carry a source link-layer address: build one that does.
    let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&OUR6);
    m.extend_from_slice(&[1, 1]);
    m.extend_from_slice(&PEER_MAC);
    let m = with_csum6([0; 16], OUR_GROUP, 58, m, 2);
    let f = eth(
        OUR_GROUP_MAC,
        0x86dd,
        &ipv6_pkt([0; 16], OUR_GROUP, 255, 58, &[], &m),
    );
    assert!(lab.exchange(&f).is_empty());
    // An option of length 0.
    let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&OUR6);
    m.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    let m = with_csum6(PEER6, OUR_GROUP, 58, m, 2);
    let f = eth(
        OUR_GROUP_MAC,
        0x86dd,
        &ipv6_pkt(PEER6, OUR_GROUP, 255, 58, &[], &m),
    );
    assert!(lab.exchange(&f).is_empty());
    let s = lab.stats();
    assert_eq!(s.drops[DropReason::NdpInvalid as usize], 1, "the DAD probe");
    assert_eq!(
        s.drops[DropReason::Malformed as usize],
        1,
        "the zero-length option"
    );
    assert_eq!(s.ndp_advertisements_sent, 0);
}

#[test]
fn icmpv6_echo_and_udp_echo_are_answered_over_ipv6() {
    let mut lab = lab6();
    let mut echo = vec![128, 0, 0, 0, 0, 9, 0, 1];
    echo.extend_from_slice(b"ping six");
    let echo = with_csum6(PEER6, OUR6, 58, echo, 2);
    let got = lab.exchange(&eth(
        OUR_MAC,
        0x86dd,
        &ipv6_pkt(PEER6, OUR6, 64, 58, &[], &echo),
    ));
    assert_eq!(got.len(), 1);
    let ip = &got[0][14..];
    assert_eq!((&ip[8..24], &ip[24..40]), (&OUR6[..], &PEER6[..]));
    let m = &ip[40..];
    assert_eq!(m[0], 129, "echo reply");
    let len = (m.len() as u32).to_be_bytes();
    let pseudo = [&OUR6[..], &PEER6[..], &len[..], &[0, 0, 0, 58]].concat();
    assert_eq!(csum(&[&pseudo, m]), 0);
    assert_eq!(&m[8..], b"ping six");

    // UDP echo, behind a destination-options header (which the reply does not carry).
    let mut u = vec![0x9c, 0x40, 0, ECHO as u8, 0, 13, 0, 0];
    u.extend_from_slice(b"hello");
    let u = with_csum6(PEER6, OUR6, 17, u, 6);
    let dest_opts = [17, 0, 1, 4, 0, 0, 0, 0]; // next UDP, 8 bytes, a PadN option
    let got = lab.exchange(&eth(
        OUR_MAC,
        0x86dd,
        &ipv6_pkt(PEER6, OUR6, 64, 60, &dest_opts, &u),
    ));
    assert_eq!(got.len(), 1, "{:?}", lab.stats().drops);
    let ip = &got[0][14..];
    assert_eq!(ip[6], 17, "no extension header in the reply");
    assert_eq!(u16::from_be_bytes([ip[4], ip[5]]), 13);
    let r = &ip[40..];
    let pseudo = [
        &OUR6[..],
        &PEER6[..],
        &13u32.to_be_bytes()[..],
        &[0, 0, 0, 17],
    ]
    .concat();
    assert_eq!(csum(&[&pseudo, r]), 0, "UDP checksum verifies");
    assert_eq!(&r[8..], b"hello");
    let s = lab.stats();
    assert_eq!((s.icmpv6_echo_replies, s.udp_echo_replies), (1, 1));
}

#[test]
fn a_closed_udp_port_over_ipv6_gets_an_icmpv6_port_unreachable() {
    let mut lab = lab6();
    let u = with_csum6(
        PEER6,
        OUR6,
        17,
        vec![0x9c, 0x40, 0, 99, 0, 9, 0, 0, b'x'],
        6,
    );
    let got = lab.exchange(&eth(
        OUR_MAC,
        0x86dd,
        &ipv6_pkt(PEER6, OUR6, 64, 17, &[], &u),
    ));
    assert_eq!(got.len(), 1);
    let ip = &got[0][14..];
    assert_eq!(ip[6], 58);
    let m = &ip[40..];
    assert_eq!((m[0], m[1]), (1, 4), "destination unreachable, port");
    assert_eq!(
        &m[8 + 8..8 + 24],
        &PEER6,
        "the quote starts with the datagram's header"
    );
    let len = (m.len() as u32).to_be_bytes();
    let pseudo = [&OUR6[..], &PEER6[..], &len[..], &[0, 0, 0, 58]].concat();
    assert_eq!(csum(&[&pseudo, m]), 0);
    assert_eq!(lab.stats().drops[DropReason::UdpClosedPort as usize], 1);
}

#[test]
fn malformed_ipv6_is_counted_by_reason_and_never_answered() {
    let mut lab = lab6();
    let udp = with_csum6(
        PEER6,
        OUR6,
        17,
        vec![0x9c, 0x40, 0, ECHO as u8, 0, 9, 0, 0, b'x'],
        6,
    );
    let good = ipv6_pkt(PEER6, OUR6, 64, 17, &[], &udp);
    let mut cases: Vec<(Vec<u8>, DropReason)> = Vec::new();
    cases.push((good[..30].to_vec(), DropReason::Truncated));
    let mut long = good.clone();
    long[4..6].copy_from_slice(&200u16.to_be_bytes());
    cases.push((long, DropReason::BadLength));
    let mut v4 = good.clone();
    v4[0] = 0x40;
    cases.push((v4, DropReason::BadVersion));
    // Nine destination-options headers: past the walk's bound.
    let mut chain = Vec::new();
    for i in 0..9 {
        chain.extend_from_slice(&[if i < 8 { 60 } else { 17 }, 0, 1, 4, 0, 0, 0, 0]);
    }
    cases.push((
        ipv6_pkt(PEER6, OUR6, 64, 60, &chain, &udp),
        DropReason::BadHeaderLength,
    ));
    // A fragment (offset 8).
    let frag = [17, 0, 0, 8, 0, 0, 0, 1];
    cases.push((
        ipv6_pkt(PEER6, OUR6, 64, 44, &frag, &udp),
        DropReason::Fragment,
    ));
    // A bad UDP checksum, and a zero one (invalid over IPv6).
    let mut bad = udp.clone();
    bad[6] ^= 0xff;
    cases.push((
        ipv6_pkt(PEER6, OUR6, 64, 17, &[], &bad),
        DropReason::BadChecksum,
    ));
    let mut zero = udp.clone();
    zero[6..8].copy_from_slice(&[0, 0]);
    cases.push((
        ipv6_pkt(PEER6, OUR6, 64, 17, &[], &zero),
        DropReason::BadChecksum,
    ));
    // A bad ICMPv6 checksum.
    let mut echo = with_csum6(PEER6, OUR6, 58, vec![128, 0, 0, 0, 0, 1, 0, 1], 2);
    echo[2] ^= 1;
    cases.push((
        ipv6_pkt(PEER6, OUR6, 64, 58, &[], &echo),
        DropReason::BadChecksum,
    ));
    // To someone else.
    let mut other = good.clone();
    other[39] = 9;
    cases.push((other, DropReason::NotForUs));
    for (pkt, reason) in &cases {
        let before = lab.stats().drops[*reason as usize];
        assert!(
            lab.exchange(&eth(OUR_MAC, 0x86dd, pkt)).is_empty(),
            "{reason:?} answered"
        );
        assert_eq!(
            lab.stats().drops[*reason as usize],
            before + 1,
            "{reason:?} not counted"
        );
    }
    // An MLD report is ignored, and that is no drop.
    let drops: u64 = lab.stats().drops.iter().sum();
    let mld = with_csum6(
        PEER6,
        [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        58,
        vec![
            131, 0, 0, 0, 0, 0, 0, 0, 0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        ],
        2,
    );
    let dst = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let f = eth(
        [0x33, 0x33, 0, 0, 0, 1],
        0x86dd,
        &ipv6_pkt(PEER6, dst, 1, 58, &[], &mld),
    );
    assert!(lab.exchange(&f).is_empty());
    assert_eq!(lab.stats().icmpv6_ignored, 1);
    assert_eq!(lab.stats().drops.iter().sum::<u64>(), drops);
    // Still answering.
    assert_eq!(lab.exchange(&eth(OUR_MAC, 0x86dd, &good)).len(), 1);
}

// ---- IPv4 fragments: reassembly, and replies larger than the MTU ----

/// An IPv4 datagram from the peer with identification `ident` and DF clear, as a
/// sender that fragments builds it.
fn datagram(protocol: u8, ident: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = ipv4(protocol, &[], payload);
    d[4..6].copy_from_slice(&ident.to_be_bytes());
    d[6] = 0;
    d[10] = 0;
    d[11] = 0;
    let c = csum(&[&d[..20]]);
    d[10..12].copy_from_slice(&c.to_be_bytes());
    d
}

/// Cuts a datagram (20-byte header) into fragments of at most `mtu` bytes, as RFC 791
/// says: each with the header, MF set but on the last, the offset in 8-byte units.
/// Returns (offset, frame) pairs.
fn fragment(d: &[u8], mtu: usize) -> Vec<(usize, Vec<u8>)> {
    let data = &d[20..];
    let chunk = (mtu - 20) / 8 * 8;
    let mut out = Vec::new();
    for (i, piece) in data.chunks(chunk).enumerate() {
        let offset = i * chunk;
        let mut h = d[..20].to_vec();
        h[2..4].copy_from_slice(&((20 + piece.len()) as u16).to_be_bytes());
        let more = offset + piece.len() < data.len();
        let fo = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
        h[6..8].copy_from_slice(&fo.to_be_bytes());
        h[10] = 0;
        h[11] = 0;
        let c = csum(&[&h]);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h.extend_from_slice(piece);
        out.push((offset, eth(OUR_MAC, 0x0800, &h)));
    }
    out
}

/// Checks every reply fragment (to the peer, from us, header checksum, DF clear, MF on
/// all but the last, offsets back to back, `ident`, no frame past a 1500-byte MTU) and
/// puts the datagram's payload back together. Returns (protocol, payload).
fn reassemble_reply(frames: &[Vec<u8>], ident: u16) -> (u8, Vec<u8>) {
    let mut whole = Vec::new();
    let mut protocol = None;
    for (i, f) in frames.iter().enumerate() {
        assert!(
            f.len() <= 1514,
            "fragment {i}: {} bytes, past the MTU",
            f.len()
        );
        let (proto, body) = ip_reply(f);
        let ip = &f[14..];
        assert_eq!(
            u16::from_be_bytes([ip[4], ip[5]]),
            ident,
            "fragment {i}: ident"
        );
        let fo = u16::from_be_bytes([ip[6], ip[7]]);
        assert_eq!(fo & 0x4000, 0, "fragment {i}: DF clear");
        let more = fo & 0x2000 != 0;
        assert_eq!(more, i + 1 < frames.len(), "fragment {i}: MF");
        assert_eq!(
            usize::from(fo & 0x1fff) * 8,
            whole.len(),
            "fragment {i}: offset"
        );
        if more {
            assert_eq!(body.len() % 8, 0, "fragment {i}: 8-byte blocks");
        }
        assert!(*protocol.get_or_insert(proto) == proto);
        whole.extend_from_slice(body);
    }
    (protocol.unwrap(), whole)
}

/// A UDP datagram (our address to the peer's) checked: checksum over the pseudo-header,
/// ports; returns its payload.
fn udp_datagram_payload(u: &[u8], client_port: u16) -> Vec<u8> {
    let pseudo = [
        &OUR_IP[..],
        &PEER_IP[..],
        &[0, 17],
        &(u.len() as u16).to_be_bytes()[..],
    ]
    .concat();
    assert_eq!(csum(&[&pseudo, u]), 0, "UDP checksum verifies");
    assert_eq!(usize::from(u16::from_be_bytes([u[4], u[5]])), u.len());
    assert_eq!(u16::from_be_bytes([u[2], u[3]]), client_port);
    u[8..].to_vec()
}

fn exchange_all(lab: &mut Lab<impl App>, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    for f in frames {
        lab.pair.a.dev.inject(f);
    }
    lab.run()
}

#[test]
fn a_udp_echo_of_4000_bytes_through_1500_byte_frames_is_answered_in_fragments() {
    let mut lab = Lab::new();
    let payload: Vec<u8> = (0..4000).map(|i| (i * 13 + i / 256) as u8).collect();
    let d = datagram(17, 0x4242, &udp(40000, ECHO, &payload));
    let frags = fragment(&d, 1500);
    assert_eq!(frags.len(), 3);
    let frames: Vec<Vec<u8>> = frags.into_iter().map(|(_, f)| f).collect();
    let got = exchange_all(&mut lab, &frames);
    assert_eq!(got.len(), 3, "the reply in 3 fragments");
    let (proto, u) = reassemble_reply(&got, 0x4242);
    assert_eq!(proto, 17);
    assert_eq!(u.len(), 4008);
    assert_eq!(
        got.iter().map(|f| f.len() - 34).collect::<Vec<_>>(),
        vec![1480, 1480, 1048]
    );
    assert_eq!(udp_datagram_payload(&u, 40000), payload);
    let s = lab.stats();
    assert_eq!(
        (
            s.ipv4_fragments_received,
            s.ipv4_reassembled,
            s.udp_echo_replies
        ),
        (3, 1, 1)
    );
    assert_eq!(
        (s.ipv4_fragmented, s.ipv4_fragments_sent, s.tx_frames),
        (1, 3, 3)
    );
    assert_eq!(
        s.drops_total(),
        0,
        "{:?}",
        s.drops_by_reason().collect::<Vec<_>>()
    );
}

#[test]
fn fragments_in_any_order_make_the_same_datagram_and_small_replies_go_whole() {
    let mut lab = Lab::new();
    // 9000 bytes, in reverse.
    let payload: Vec<u8> = (0..9000).map(|i| (i * 31) as u8).collect();
    let d = datagram(17, 7, &udp(40000, ECHO, &payload));
    let frames: Vec<Vec<u8>> = fragment(&d, 1500)
        .into_iter()
        .rev()
        .map(|(_, f)| f)
        .collect();
    let got = exchange_all(&mut lab, &frames);
    assert_eq!(got.len(), 7);
    let (_, u) = reassemble_reply(&got, 7);
    assert_eq!(udp_datagram_payload(&u, 40000), payload);
    // Fragments smaller than the MTU (a path with a 576-byte link): the reply fits one
    // frame here and leaves whole, its header a plain one.
    let d = datagram(17, 8, &udp(40000, ECHO, &payload[..1200]));
    let frames: Vec<Vec<u8>> = fragment(&d, 576).into_iter().map(|(_, f)| f).collect();
    assert_eq!(frames.len(), 3);
    let got = exchange_all(&mut lab, &frames);
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0][14 + 6..14 + 8], &[0, 0], "no MF, no offset");
    assert_eq!(udp_reply_payload(&got[0]), &payload[..1200]);
    assert_eq!(lab.stats().ipv4_fragmented, 1);
}

#[test]
fn a_ping_of_3000_bytes_and_a_large_sockperf_message_are_answered_in_fragments() {
    let mut lab = Lab::new();
    let data: Vec<u8> = (0..3000).map(|i| i as u8).collect();
    let d = datagram(1, 0x99, &icmp_echo(0x51, 1, &data));
    let frames: Vec<Vec<u8>> = fragment(&d, 1500).into_iter().map(|(_, f)| f).collect();
    let got = exchange_all(&mut lab, &frames);
    assert_eq!(got.len(), 3);
    let (proto, m) = reassemble_reply(&got, 0x99);
    assert_eq!(proto, 1);
    assert_eq!(m[0], 0, "echo reply");
    assert_eq!(csum(&[&m]), 0, "ICMP checksum verifies");
    assert_eq!(&m[4..8], &[0, 0x51, 0, 1]);
    assert_eq!(&m[8..], &data[..]);
    // sockperf: a 5000-byte ping-pong message.
    let msg = sockperf_msg(9, 1 | 2, 5000);
    let d = datagram(17, 0x9a, &udp(40000, SOCKPERF, &msg));
    let frames: Vec<Vec<u8>> = fragment(&d, 1500).into_iter().map(|(_, f)| f).collect();
    let got = exchange_all(&mut lab, &frames);
    assert_eq!(got.len(), 4);
    let (_, u) = reassemble_reply(&got, 0x9a);
    let reply = udp_datagram_payload(&u, 40000);
    assert_eq!(reply.len(), 5000);
    assert_eq!(&reply[..8], &msg[..8], "sequence number kept");
    assert_eq!(&reply[8..10], &[0, 2], "client bit cleared");
    assert_eq!(&reply[10..], &msg[10..]);
    let s = lab.stats();
    assert_eq!((s.icmp_echo_replies, s.sockperf_replies), (1, 1));
}

#[test]
fn a_reassembled_datagram_to_a_closed_port_gets_a_port_unreachable() {
    let mut lab = Lab::new();
    let d = datagram(17, 3, &udp(40000, 9, &[0x77; 2000]));
    let frames: Vec<Vec<u8>> = fragment(&d, 1500).into_iter().map(|(_, f)| f).collect();
    let got = exchange_all(&mut lab, &frames);
    assert_eq!(got.len(), 1);
    let (proto, m) = ip_reply(&got[0]);
    assert_eq!((proto, m[0], m[1]), (1, 3, 3));
    // It quotes the datagram's header (as reassembled) and its first 8 bytes.
    assert_eq!(&m[8 + 12..8 + 20], &d[12..20]);
    assert_eq!(&m[8 + 20..8 + 28], &d[20..28]);
    assert_eq!(lab.stats().drops[DropReason::UdpClosedPort as usize], 1);
}

#[test]
fn bad_fragments_are_dropped_by_reason() {
    let mut lab = Lab::new();
    let payload = vec![0x33; 4000];
    let d = datagram(17, 11, &udp(40000, ECHO, &payload));
    let f: Vec<Vec<u8>> = fragment(&d, 1500).into_iter().map(|(_, f)| f).collect();
    let count = |lab: &Lab, r: DropReason| lab.stats().drops[r as usize];
    // A duplicate: dropped alone; the datagram still completes.
    assert!(exchange_all(&mut lab, &f[..1]).is_empty());
    assert!(exchange_all(&mut lab, &f[..1]).is_empty());
    assert_eq!(count(&lab, DropReason::FragmentDuplicate), 1);
    assert_eq!(exchange_all(&mut lab, &f[1..]).len(), 3);
    // An overlap with other bytes: the whole datagram goes, every fragment counted.
    let d = datagram(17, 12, &udp(40000, ECHO, &payload));
    let f: Vec<Vec<u8>> = fragment(&d, 1500).into_iter().map(|(_, f)| f).collect();
    let mut forged = f[0].clone();
    forged[14 + 20 + 100] ^= 0xff;
    assert!(exchange_all(&mut lab, &[f[0].clone(), forged]).is_empty());
    assert_eq!(count(&lab, DropReason::FragmentOverlap), 2);
    // The rest alone no longer completes anything.
    assert!(exchange_all(&mut lab, &f[1..]).is_empty());
    // Past 65 535 bytes: invalid, alone.
    let mut big = f[2].clone();
    big[14 + 6..14 + 8].copy_from_slice(&(0x1fffu16).to_be_bytes());
    big[14 + 10] = 0;
    big[14 + 11] = 0;
    let c = csum(&[&big[14..34]]);
    big[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    assert!(lab.exchange(&big).is_empty());
    assert_eq!(count(&lab, DropReason::FragmentInvalid), 1);
    // A fragment for another address is not ours to hold.
    let mut other = f[0].clone();
    other[14 + 19] = 9;
    other[14 + 10] = 0;
    other[14 + 11] = 0;
    let c = csum(&[&other[14..34]]);
    other[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    assert!(lab.exchange(&other).is_empty());
    assert_eq!(count(&lab, DropReason::NotForUs), 1);
    let s = lab.stats();
    assert_eq!(s.ipv4_reassembled, 1);
    assert_eq!(s.udp_echo_replies, 1);
}

#[test]
fn a_datagram_not_whole_in_time_is_given_up_with_a_time_exceeded() {
    let mut lab = Lab::new();
    let d = datagram(17, 21, &udp(40000, ECHO, &[0x44; 4000]));
    let f: Vec<Vec<u8>> = fragment(&d, 1500).into_iter().map(|(_, f)| f).collect();
    // Fragment zero and the last arrive; the middle never does.
    assert!(exchange_all(&mut lab, &[f[0].clone(), f[2].clone()]).is_empty());
    // Another datagram of which only a later fragment came: no time exceeded for it.
    let d2 = datagram(17, 22, &udp(40000, ECHO, &[0x45; 4000]));
    let f2: Vec<Vec<u8>> = fragment(&d2, 1500).into_iter().map(|(_, f)| f).collect();
    assert!(lab.exchange(&f2[1]).is_empty());
    lab.pair.clock.advance(Duration::from_secs(9));
    assert!(lab.run().is_empty(), "nothing before the timeout");
    lab.pair.clock.advance(Duration::from_secs(1));
    let got = lab.run();
    assert_eq!(
        got.len(),
        1,
        "one time exceeded, for the datagram with fragment zero"
    );
    let (proto, m) = ip_reply(&got[0]);
    assert_eq!((proto, m[0], m[1]), (1, 11, 1), "time exceeded, reassembly");
    assert_eq!(csum(&[m]), 0);
    // It quotes fragment zero's header and the first 8 bytes of its data.
    let quoted = &m[8..];
    assert_eq!(quoted.len(), 28);
    assert_eq!(&quoted[4..6], &21u16.to_be_bytes());
    assert_eq!(&quoted[12..20], &d[12..20]);
    assert_eq!(&quoted[20..28], &d[20..28]);
    let s = lab.stats();
    assert_eq!(s.drops[DropReason::FragmentTimeout as usize], 3);
    assert_eq!(s.icmp_time_exceeded, 1);
    // Still answering whole datagrams afterwards, and a datagram sent again in full.
    let got = exchange_all(&mut lab, &f);
    assert_eq!(got.len(), 3);
}

#[test]
fn one_source_cannot_take_every_reassembly_buffer() {
    let mut cfg = lab_config();
    cfg.reassembly.slots = 4;
    cfg.reassembly.per_source = 2;
    let mut lab = Lab::with_config(cfg, |cfg, c| Stack::new(cfg, c, NoApp));
    let first = |src: [u8; 4], ident: u16| {
        let mut d = ipv4_from(src, 17, &[], &udp_from(src, 40000, ECHO, &[1; 3000]));
        d[4..6].copy_from_slice(&ident.to_be_bytes());
        d[6] = 0;
        d[10] = 0;
        d[11] = 0;
        let c = csum(&[&d[..20]]);
        d[10..12].copy_from_slice(&c.to_be_bytes());
        fragment(&d, 1500).remove(0).1
    };
    let count = |lab: &Lab, r: DropReason| lab.stats().drops[r as usize];
    for ident in 1..=3 {
        assert!(lab.exchange(&first(PEER_IP, ident)).is_empty());
    }
    assert_eq!(count(&lab, DropReason::FragmentSourceFull), 1);
    for host in 5..=7 {
        assert!(lab.exchange(&first([198, 18, 0, host], 1)).is_empty());
    }
    assert_eq!(count(&lab, DropReason::FragmentTableFull), 1);
    // Whole datagrams are answered all the while.
    assert_eq!(lab.exchange(&udp_frame(ECHO, b"whole")).len(), 1);
}

// ---- SACK at the endpoint (RFC 2018) ----

/// A TCP segment from the peer to [`TCP_ECHO`] with the raw options area `options` (a
/// multiple of 4 bytes, padded by the caller).
fn tcp_opts(seq: u32, ack: u32, flags: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let mut t = Vec::new();
    t.extend_from_slice(&40001u16.to_be_bytes());
    t.extend_from_slice(&TCP_ECHO.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    let off = ((20 + options.len()) / 4) as u8;
    t.extend_from_slice(&[off << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(options);
    t.extend_from_slice(payload);
    let pseudo = [
        &PEER_IP[..],
        &OUR_IP[..],
        &[0, 6],
        &(t.len() as u16).to_be_bytes()[..],
    ]
    .concat();
    let c = csum(&[&pseudo, &t]);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    eth(OUR_MAC, 0x0800, &ipv4_from(PEER_IP, 6, &[], &t))
}

/// The options area and the payload of a TCP segment from the stack.
fn tcp_options_and_payload(frame: &[u8]) -> (Vec<u8>, Vec<u8>) {
    tcp_segment(frame);
    let (_, t) = ip_reply(frame);
    let hl = usize::from(t[12] >> 4) * 4;
    (t[20..hl].to_vec(), t[hl..].to_vec())
}

/// The SACK blocks in an options area (kind 5), as (left, right).
fn sack_blocks(opts: &[u8]) -> Vec<(u32, u32)> {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let len = usize::from(opts[i + 1]);
                if kind == 5 {
                    let w = |j: usize| u32::from_be_bytes(opts[j..j + 4].try_into().unwrap());
                    return (i + 2..i + len)
                        .step_by(8)
                        .map(|j| (w(j), w(j + 4)))
                        .collect();
                }
                i += len;
            }
        }
    }
    Vec::new()
}

/// MSS 1460 and SACK-permitted, as a SYN's options.
const SYN_SACK_OPTS: [u8; 8] = [2, 4, 0x05, 0xb4, 1, 1, 4, 2];

/// A SYN with SACK-permitted gets a SYN-ACK with it (from a cookie too, when `backlog`
/// is 0), and the connection, once the ACK completes it, reports out-of-order data in
/// SACK blocks. Returns the lab and the ISS.
fn sack_connection(backlog: Option<usize>) -> (Lab<Responder>, u32) {
    let mut lab = Lab::with(|cfg, c| {
        let mut s = responder_stack_with(cfg, &[TCP_ECHO], c);
        if let Some(b) = backlog {
            s.set_syn_backlog(b);
        }
        s
    });
    let got = lab.exchange(&tcp_opts(1000, 0, SYN, &SYN_SACK_OPTS, b""));
    let (iss, ack, flags) = tcp_segment(&got[0]);
    assert_eq!((ack, flags), (1001, SYN | ACK));
    let (opts, _) = tcp_options_and_payload(&got[0]);
    assert!(
        opts.windows(2).any(|w| w == [4, 2]),
        "SACK-permitted answered: {opts:?}"
    );
    assert!(lab.exchange(&tcp(1001, iss + 1, ACK, b"")).is_empty());
    // Out of order: the immediate ACK carries the block.
    let got = lab.exchange(&tcp(1101, iss + 1, ACK, &[7; 100]));
    let acks: Vec<_> = got.iter().map(|f| tcp_options_and_payload(f)).collect();
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(sack_blocks(&acks[0].0), vec![(1101, 1201)]);
    assert_eq!(lab.stats().tcp_sack_connections, 1);
    (lab, iss)
}

// RFC 2018 §2 at the endpoint: SACK-permitted answered and used.
#[test]
fn a_syn_with_sack_permitted_gets_it_back_and_out_of_order_data_is_sacked() {
    sack_connection(None);
}

// RFC 4987 SYN cookies keep SACK-permitted (in a bit of the cookie, see stack/cookie.rs).
#[test]
fn a_syn_cookie_connection_keeps_sack() {
    let (lab, _) = sack_connection(Some(0));
    let s = lab.stats();
    assert_eq!((s.tcp_syn_cookies_sent, s.tcp_syn_cookies_ok), (1, 1));
}

// RFC 9293 §3.1 MUST-7 with Linux's practice: a SACK option of a bad length is ignored
// and counted; the segment itself is taken (here: echoed).
#[test]
fn a_malformed_sack_option_is_ignored_and_counted_and_the_segment_taken() {
    let (mut lab, iss) = sack_connection(None);
    let bad = [1, 1, 5, 6, 0, 0, 0, 0];
    let got = lab.exchange(&tcp_opts(1001, iss + 1, ACK | PSH, &bad, &[9; 100]));
    let echoed: Vec<u8> = got
        .iter()
        .flat_map(|f| tcp_options_and_payload(f).1)
        .collect();
    assert!(echoed.starts_with(&[9; 100]), "{got:?}");
    let s = lab.stats();
    assert_eq!(s.tcp_sack_malformed, 1);
    assert_eq!(s.drops[DropReason::Malformed as usize], 0);
}
