//! IPv6, ICMPv6 and Neighbor Discovery (`wire::ipv6`, `wire::icmpv6`, `wire::ndp`,
//! `proto::ndp`'s RFC 4861 §7.1 checks): every accessor of an accepted view; the
//! extension-header walk staying inside the payload and its bounds; parse → emit → parse;
//! the echo reply rewrite keeping the checksum valid; the error builders writing
//! messages that verify and quote the start of the packet, into any size of buffer; and
//! `check_message` agreeing with `Icmpv6Repr::parse` + `validate`.

use crate::frames::{l3, l4_checksum_ok};
use xstack::proto::ndp;
use xstack::wire::icmpv6::{self, msg_type};
use xstack::wire::ipv6::{self, MAX_EXT_HEADERS, MAX_EXT_LEN};
use xstack::wire::{
    Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet, Ipv6Repr, NdpOptions, NdpRepr,
};

pub fn run(data: &[u8]) {
    let ip = l3(data);
    let Ok(p) = Ipv6Packet::new_checked(ip) else {
        // Upper layers behind a header that does not hold together, between the lab's
        // addresses.
        icmp6(
            ip.get(40..).unwrap_or(&[]),
            crate::frames::PEER_V6,
            crate::frames::OURS_V6,
            255,
        );
        return;
    };
    let _ = (p.traffic_class(), p.dscp(), p.ecn(), p.flow_label());
    let _ = (p.next_header(), p.hop_limit(), p.header(), p.payload());
    assert_eq!(p.version(), 6);
    assert_eq!(p.packet().len(), 40 + usize::from(p.payload_len()));
    let (src, dst) = (p.src_addr(), p.dst_addr());
    let _ = (ipv6::is_solicited_node(dst), ipv6::multicast_mac(dst));
    let _ = ipv6::solicited_node(src);

    let mut copy = ip.to_vec();
    let mut q = Ipv6Packet::new_unchecked(&mut copy[..]);
    q.swap_addrs();
    assert_eq!((q.src_addr(), q.dst_addr()), (dst, src));

    let walk = p.walk();
    if let Ok(w) = walk {
        assert!(w.offset >= 40 && w.offset <= p.packet().len(), "{w:?}");
        assert!(w.offset - 40 <= MAX_EXT_LEN && w.ext_headers <= MAX_EXT_HEADERS);
        let upper = p.upper_layer(w.offset - 40);
        assert_eq!(upper.len(), p.packet().len() - w.offset);
        match Ipv6Repr::parse(&p) {
            Ok(r) => {
                assert!(!w.is_fragment());
                assert_eq!((r.ext_len, r.protocol), (w.offset - 40, w.protocol));
                assert_eq!(r.payload_len, upper.len());
                // emit writes the fixed header only, with the upper layer right after.
                let mut out = vec![0u8; r.buffer_len()];
                let mut e = Ipv6Packet::new_unchecked(&mut out[..]);
                r.emit(&mut e);
                e.payload_mut().copy_from_slice(upper);
                let back = Ipv6Repr::parse(&Ipv6Packet::new_checked(&out[..]).unwrap());
                assert_eq!(back, Ok(Ipv6Repr { ext_len: 0, ..r }));
            }
            Err(e) => assert!(w.is_fragment(), "walk ok, parse {e:?}"),
        }
        if w.protocol == IpProtocol::Icmpv6 && !w.is_fragment() {
            icmp6(upper, src, dst, p.hop_limit());
        }
    } else {
        assert!(Ipv6Repr::parse(&p).is_err());
    }

    // The port unreachable about it, into buffers of every size.
    let may = icmpv6::may_send_icmpv6_error(&p);
    if may {
        assert!(walk.is_ok() && !dst.is_multicast() && !src.is_unspecified());
    }
    for cap in [0, 47, 48, 100, 1280, 1500] {
        let mut out = vec![0u8; cap];
        match icmpv6::emit_port_unreachable(p.packet(), &mut out) {
            Ok(len) => {
                assert!(len <= cap && len <= 1280 - 40);
                assert_eq!(len, icmpv6::error_len(&p, cap));
                let m = Icmpv6Packet::new_checked(&out[..len]).unwrap();
                let repr = Icmpv6Repr::parse(&m, dst, src).expect("what we emit parses");
                let quoted = &p.packet()[..len - 8];
                assert_eq!(repr, Icmpv6Repr::DstUnreachable { code: 4, quoted });
            }
            Err(_) => assert!(cap < 48),
        }
    }
    let mut out = [0u8; 1280];
    if let Ok(len) = icmpv6::emit_packet_too_big(1280, p.packet(), dst, src, &mut out) {
        let m = Icmpv6Packet::new_checked(&out[..len]).unwrap();
        assert!(matches!(
            Icmpv6Repr::parse(&m, dst, src),
            Ok(Icmpv6Repr::PacketTooBig { mtu: 1280, .. })
        ));
    }
}

fn icmp6(msg: &[u8], src: core::net::Ipv6Addr, dst: core::net::Ipv6Addr, hop_limit: u8) {
    let _ = NdpOptions::parse(msg.get(24..).unwrap_or(&[]));
    let checked = ndp::check_message(hop_limit, src, dst, msg);
    let Ok(m) = Icmpv6Packet::new_checked(msg) else {
        assert!(checked.is_err());
        return;
    };
    let _ = (m.msg_code(), m.checksum(), m.echo_ident(), m.echo_seq_no());
    let _ = (m.mtu(), m.pointer(), m.body(), m.data(), m.len());
    let t = m.msg_type();
    let _ = (msg_type::is_error(t), msg_type::is_ignorable(t));
    let ok = m.verify_checksum(src, dst);
    assert_eq!(ok, l4_checksum_ok(m.message(), src.into(), dst.into(), 58));
    if ok && t == msg_type::ECHO_REQUEST {
        let mut copy = msg.to_vec();
        let mut r = Icmpv6Packet::new_unchecked(&mut copy[..]);
        r.echo_request_into_reply();
        assert_eq!(r.msg_type(), msg_type::ECHO_REPLY);
        assert!(
            r.verify_checksum(dst, src),
            "the reply's patched checksum is wrong"
        );
    }
    if let Ok(n) = NdpRepr::parse(&m) {
        let _ = (n.target(), n.lladdr());
        let mut out = vec![0u8; n.buffer_len()];
        n.emit(&mut Icmpv6Packet::new_unchecked(&mut out[..]), src, dst);
        let back = Icmpv6Packet::new_checked(&out[..]).unwrap();
        assert_eq!(NdpRepr::parse(&back), Ok(n));
        assert!(back.verify_checksum(src, dst));
    }
    let parsed = Icmpv6Repr::parse(&m, src, dst);
    match &checked {
        Ok(n) => assert_eq!(parsed, Ok(Icmpv6Repr::Ndp(*n))),
        Err(_) => {
            if let Ok(Icmpv6Repr::Ndp(n)) = parsed {
                // Structurally fine: what failed is a rule that needs the IPv6 header.
                assert!(ndp::validate(hop_limit, src, dst, &n).is_err());
            }
        }
    }
    let Ok(repr) = parsed else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Icmpv6Packet::new_unchecked(&mut out[..]), src, dst);
    let e = Icmpv6Packet::new_checked(&out[..]).unwrap();
    assert!(e.verify_checksum(src, dst));
    assert_eq!(Icmpv6Repr::parse(&e, src, dst), Ok(repr));
}
