//! Tests of [`App::datagram_in_place`]: a datagram answered over the received frame
//! leaves as the very bytes `Net::send_udp` builds for the same datagram, whatever the
//! received frame's IP header said (identification, TTL, DF, options, trailing bytes,
//! a zero checksum); a reassembled datagram goes to `datagram` instead.

use super::*;
use crate::config::AddrSet;
use crate::wire::Ipv6Packet;
use core::net::Ipv6Addr;

const OURS: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const PEER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const PEER4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const OURS4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const OURS6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const OUR_PORT: u16 = 50000;
const PEER_PORT: u16 = 7;

/// Transmit buffers that keep every frame built in them (the load engine's tests use
/// them too).
#[derive(Default)]
pub(crate) struct Capture(pub(crate) Vec<Vec<u8>>);

impl Transmit for Capture {
    fn frame_capacity(&self) -> usize {
        2048
    }

    fn send_with(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let mut buf = vec![0u8; 2048];
        let n = build(&mut buf);
        if n > 0 {
            buf.truncate(n);
            self.0.push(buf);
        }
        true
    }
}

fn answer(i: usize) -> u8 {
    (i as u8).wrapping_mul(7).wrapping_add(3)
}

/// Answers every datagram over it with the `answer` pattern (or takes it, with
/// `reply: false`), and sends the same datagram with `send_udp` when asked to.
#[derive(Default)]
struct Answerer {
    reply: bool,
    in_place: u32,
    plain: u32,
    /// (local, remote, len) to send from the next poll.
    send: Option<(SocketAddr, SocketAddr, usize)>,
}

impl App for Answerer {
    type Conn = ();

    fn datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) -> bool {
        self.plain += 1;
        true
    }

    fn datagram_in_place(
        &mut self,
        _: Instant,
        from: SocketAddr,
        local: SocketAddr,
        payload: &mut [u8],
    ) -> DatagramAction {
        self.in_place += 1;
        assert_eq!(from.port(), PEER_PORT);
        assert_eq!(local.port(), OUR_PORT);
        if !self.reply {
            return DatagramAction::Taken;
        }
        for (i, b) in payload.iter_mut().enumerate() {
            *b = answer(i);
        }
        DatagramAction::Reply
    }

    fn poll(&mut self, _: Instant, net: &mut Net<'_, ()>) {
        if let Some((local, remote, len)) = self.send.take() {
            assert!(net.send_udp(local, remote, len, &mut |p| {
                for (i, b) in p.iter_mut().enumerate() {
                    *b = answer(i);
                }
            }));
        }
    }
}

fn stack() -> Stack<Answerer> {
    let mut cfg = StackConfig::new(
        AddrSet::parse_all(&["198.18.0.2/24", "2001:2::2/64"]).unwrap(),
        OURS,
        Secrets::from_seed(1),
    );
    cfg.gratuitous_arp = false;
    cfg.neighbours = vec![(PEER4, PEER)];
    let mut s = Stack::new(cfg, Arc::new(StackCounters::default()), Answerer::default());
    s.announce_pending = 0;
    s.nd.insert(PEER6, EthernetAddress(PEER), Instant::ZERO);
    s.app_mut().reply = true;
    s
}

/// A UDP datagram from the peer's port 7 to our port 50000, in a frame with an IPv4
/// header as a kernel might write it: identification 0x1234, no DF, TTL 63, ECN set,
/// `options` bytes of IP options (NOPs) and `trailing` bytes after the datagram inside
/// the IP payload; a zero UDP checksum if `zero_checksum`.
fn request4(len: usize, options: usize, trailing: usize, zero_checksum: bool) -> Vec<u8> {
    let header = IPV4_HEADER + options;
    let udp_len = UDP_HEADER + len;
    let mut f = vec![0u8; ETH_HEADER + header + udp_len + trailing];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst_addr(EthernetAddress(OURS));
    eth.set_src_addr(EthernetAddress(PEER));
    eth.set_ethertype(EtherType::Ipv4);
    let udp_at = ETH_HEADER + header;
    for (i, b) in f[udp_at + UDP_HEADER..udp_at + udp_len]
        .iter_mut()
        .enumerate()
    {
        *b = (i as u8) ^ 0x5a;
    }
    let mut udp = UdpPacket::new_unchecked(&mut f[udp_at..udp_at + udp_len]);
    UdpRepr {
        src_port: PEER_PORT,
        dst_port: OUR_PORT,
        payload_len: len,
    }
    .emit(&mut udp, PEER4, OURS4);
    if zero_checksum {
        udp.set_checksum(0);
    }
    f[ETH_HEADER + IPV4_HEADER..udp_at].fill(1);
    let mut ip = Ipv4Packet::new_unchecked(&mut f[ETH_HEADER..]);
    ip.set_version_and_header_len(4, header);
    ip.set_dscp_ecn(0, 1);
    ip.set_total_len((header + udp_len + trailing) as u16);
    ip.set_ident(0x1234);
    ip.set_flags_and_offset(false, false, 0);
    ip.set_ttl(63);
    ip.set_protocol(IpProtocol::Udp);
    ip.set_src_addr(PEER4);
    ip.set_dst_addr(OURS4);
    ip.fill_checksum();
    f
}

/// The same over IPv6: flow label and traffic class set, hop limit 63, `trailing`
/// bytes after the datagram inside the IPv6 payload.
fn request6(len: usize, trailing: usize) -> Vec<u8> {
    let udp_len = UDP_HEADER + len;
    let mut f = vec![0u8; ETH_HEADER + IPV6_HEADER + udp_len + trailing];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst_addr(EthernetAddress(OURS));
    eth.set_src_addr(EthernetAddress(PEER));
    eth.set_ethertype(EtherType::Ipv6);
    let udp_at = ETH_HEADER + IPV6_HEADER;
    for (i, b) in f[udp_at + UDP_HEADER..udp_at + udp_len]
        .iter_mut()
        .enumerate()
    {
        *b = (i as u8) ^ 0x5a;
    }
    UdpRepr {
        src_port: PEER_PORT,
        dst_port: OUR_PORT,
        payload_len: len,
    }
    .emit(
        &mut UdpPacket::new_unchecked(&mut f[udp_at..udp_at + udp_len]),
        PEER6,
        OURS6,
    );
    let mut ip = Ipv6Packet::new_unchecked(&mut f[ETH_HEADER..]);
    Ipv6Repr {
        traffic_class: 0x21,
        flow_label: 0xef7d3,
        hop_limit: 63,
        ..Ipv6Repr::new(PEER6, OURS6, IpProtocol::Udp, udp_len + trailing)
    }
    .emit(&mut ip);
    f
}

/// The reply the stack writes over `request`, and the frame `send_udp` builds for
/// the same datagram.
fn reply_and_reference(mut request: Vec<u8>, len: usize, v6: bool) -> (Vec<u8>, Vec<u8>) {
    let mut s = stack();
    let mut tx = Capture::default();
    let verdict = s.handle_frame(Instant::ZERO, &mut request, &mut tx);
    let Verdict::Reflect(n) = verdict else {
        panic!("not reflected: {verdict:?}");
    };
    assert!(tx.0.is_empty(), "nothing else is sent");
    let c = s.counters().snapshot();
    assert_eq!((c.udp_sent_in_place, c.tx_frames), (1, 1));
    assert_eq!((s.app().in_place, s.app().plain), (1, 0));
    let (ours, peer): (IpAddr, IpAddr) = if v6 {
        (OURS6.into(), PEER6.into())
    } else {
        (OURS4.into(), PEER4.into())
    };
    s.app_mut().send = Some((
        SocketAddr::new(ours, OUR_PORT),
        SocketAddr::new(peer, PEER_PORT),
        len,
    ));
    s.poll(Instant::ZERO, &mut tx);
    assert_eq!(tx.0.len(), 1, "send_udp sent one frame");
    request.truncate(n);
    (request, tx.0.pop().unwrap())
}

fn check_udp(frame: &[u8], ip_len: usize, src: IpAddr, dst: IpAddr, len: usize) {
    let udp = UdpPacket::new_checked(&frame[ETH_HEADER + ip_len..]).unwrap();
    assert_eq!((udp.src_port(), udp.dst_port()), (OUR_PORT, PEER_PORT));
    assert_eq!(usize::from(udp.len()), UDP_HEADER + len);
    assert_ne!(udp.checksum(), 0);
    assert!(udp.verify_checksum(src, dst), "the UDP checksum verifies");
    assert!(udp
        .payload()
        .iter()
        .enumerate()
        .all(|(i, &b)| b == answer(i)));
}

#[test]
fn an_ipv4_datagram_answered_in_place_is_what_send_udp_builds() {
    // Plain; with options, bytes past the datagram and a zero checksum; an odd length.
    for (len, options, trailing, zero) in [(32, 0, 0, false), (64, 8, 5, true), (1, 4, 0, false)] {
        let (reply, reference) =
            reply_and_reference(request4(len, options, trailing, zero), len, false);
        assert_eq!(
            reply, reference,
            "len {len} options {options} trailing {trailing}"
        );
        assert_eq!(reply.len(), ETH_HEADER + IPV4_HEADER + UDP_HEADER + len);
        let eth = EthernetFrame::new_checked(&reply[..]).unwrap();
        assert_eq!((eth.dst_addr().0, eth.src_addr().0), (PEER, OURS));
        let ip = Ipv4Packet::new_checked(&reply[ETH_HEADER..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!((ip.src_addr(), ip.dst_addr()), (OURS4, PEER4));
        assert_eq!((ip.ident(), ip.ttl(), ip.dont_frag()), (0, TTL, true));
        assert_eq!(ip.header_len(), IPV4_HEADER);
        check_udp(&reply, IPV4_HEADER, OURS4.into(), PEER4.into(), len);
    }
}

#[test]
fn an_ipv6_datagram_answered_in_place_is_what_send_udp_builds() {
    for (len, trailing) in [(32, 0), (57, 6)] {
        let (reply, reference) = reply_and_reference(request6(len, trailing), len, true);
        assert_eq!(reply, reference, "len {len} trailing {trailing}");
        assert_eq!(reply.len(), ETH_HEADER + IPV6_HEADER + UDP_HEADER + len);
        let ip = Ipv6Packet::new_checked(&reply[ETH_HEADER..]).unwrap();
        assert_eq!((ip.src_addr(), ip.dst_addr()), (OURS6, PEER6));
        assert_eq!(
            (ip.hop_limit(), ip.flow_label(), ip.traffic_class()),
            (TTL, 0, 0)
        );
        assert_eq!(usize::from(ip.payload_len()), UDP_HEADER + len);
        check_udp(&reply, IPV6_HEADER, OURS6.into(), PEER6.into(), len);
    }
}

#[test]
fn a_datagram_taken_in_place_is_not_sent() {
    let mut s = stack();
    s.app_mut().reply = false;
    let mut tx = Capture::default();
    for mut f in [request4(16, 0, 0, false), request6(16, 0)] {
        assert_eq!(
            s.handle_frame(Instant::ZERO, &mut f, &mut tx),
            Verdict::Drop
        );
    }
    assert!(tx.0.is_empty());
    let c = s.counters().snapshot();
    assert_eq!(
        (c.udp_sent_in_place, c.tx_frames, c.drops_total()),
        (0, 0, 0)
    );
    assert_eq!(s.app().in_place, 2);
}

#[test]
fn a_reassembled_datagram_goes_to_datagram_not_in_place() {
    let mut s = stack();
    let mut tx = Capture::default();
    // One datagram of 8 + 40 bytes in two fragments of 24 bytes each.
    let whole = request4(40, 0, 0, false);
    let data = &whole[ETH_HEADER + IPV4_HEADER..];
    for (offset, more) in [(0usize, true), (24, false)] {
        let piece = &data[offset..offset + 24];
        let mut f = whole[..ETH_HEADER + IPV4_HEADER].to_vec();
        f.extend_from_slice(piece);
        let mut ip = Ipv4Packet::new_unchecked(&mut f[ETH_HEADER..]);
        ip.set_total_len((IPV4_HEADER + piece.len()) as u16);
        ip.set_flags_and_offset(false, more, offset as u16);
        ip.fill_checksum();
        assert_eq!(
            s.handle_frame(Instant::ZERO, &mut f, &mut tx),
            Verdict::Drop
        );
    }
    assert!(tx.0.is_empty(), "nothing sent");
    assert_eq!(s.counters().snapshot().ipv4_reassembled, 1);
    assert_eq!((s.app().in_place, s.app().plain), (0, 1));
}

// The UDP echo over IPv6 of a datagram shorter than its IPv6 payload: the reply ends where
// the datagram does, and its payload length says so (as fit_ip_length does over IPv4).
#[test]
fn an_ipv6_echo_of_a_datagram_with_trailing_bytes_carries_its_own_length() {
    let mut cfg = StackConfig::new(
        AddrSet::parse_all(&["198.18.0.2/24", "2001:2::2/64"]).unwrap(),
        OURS,
        Secrets::from_seed(1),
    );
    cfg.gratuitous_arp = false;
    cfg.udp_echo = vec![OUR_PORT];
    let mut s = Stack::new(cfg, Arc::new(StackCounters::default()), NoApp);
    s.announce_pending = 0;
    let mut frame = request6(20, 5);
    let mut tx = Capture::default();
    let Verdict::Reflect(n) = s.handle_frame(Instant::ZERO, &mut frame, &mut tx) else {
        panic!("not echoed");
    };
    assert_eq!(n, ETH_HEADER + IPV6_HEADER + UDP_HEADER + 20);
    let ip = Ipv6Packet::new_unchecked(&frame[ETH_HEADER..n]);
    assert_eq!(usize::from(ip.payload_len()), UDP_HEADER + 20);
    let udp = UdpPacket::new_unchecked(&frame[ETH_HEADER + IPV6_HEADER..n]);
    assert!(udp.verify_checksum(OURS6, PEER6));
    assert_eq!(udp.dst_port(), PEER_PORT);
}
