//! IPv4 and ICMPv4 (`wire::ipv4`, `wire::icmp`): every accessor of an accepted view, the
//! header checksum against a plain RFC 1071 sum, parse → emit → parse, the in-place
//! rewrites the stack answers with (TTL reset, address swap, echo request into reply)
//! keeping checksums valid, and the port unreachable builder writing a message that
//! verifies and quotes what RFC 792 says, into any size of buffer.

use crate::frames::{l3, reference_sum};
use xstack::wire::icmp::{self, msg_type};
use xstack::wire::{Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr};

pub fn run(data: &[u8]) {
    let ip = l3(data);
    if let Ok(p) = Ipv4Packet::new_checked(ip) {
        ipv4(data, ip, &p);
        icmpv4(p.payload());
    } else {
        // The ICMP parsers behind a header that does not hold together.
        icmpv4(ip.get(20..).unwrap_or(&[]));
    }
}

fn ipv4(data: &[u8], ip: &[u8], p: &Ipv4Packet<&[u8]>) {
    let _ = (p.dscp(), p.ecn(), p.ident(), p.dont_frag(), p.more_frags());
    let _ = (p.frag_offset(), p.is_fragment(), p.ttl(), p.checksum());
    let _ = (
        p.src_addr(),
        p.dst_addr(),
        p.options(),
        p.protocol().to_string(),
    );
    assert_eq!(p.version(), 4);
    assert!(p.header_len() >= 20 && p.header_len() + p.payload().len() == p.packet().len());
    let ok = p.verify_checksum();
    assert_eq!(ok, reference_sum(&[p.header()]) == 0xffff);
    let proto = p.protocol();
    assert_eq!(IpProtocol::from(u8::from(proto)), proto);

    // In-place rewrites of a copy.
    let mut copy = ip.to_vec();
    let mut q = Ipv4Packet::new_unchecked(&mut copy[..]);
    let ttl = data.last().copied().unwrap_or(0);
    q.set_ttl_update_checksum(ttl);
    assert_eq!(q.ttl(), ttl);
    if ok {
        assert!(
            q.verify_checksum(),
            "RFC 1624 TTL update broke a good checksum"
        );
    }
    q.swap_addrs();
    assert_eq!((q.src_addr(), q.dst_addr()), (p.dst_addr(), p.src_addr()));
    if ok {
        assert!(q.verify_checksum(), "an address swap changes no checksum");
    }
    q.fill_checksum();
    assert!(q.verify_checksum());

    let Ok(repr) = Ipv4Repr::parse(p) else {
        return;
    };
    assert!(ok && !p.is_fragment());
    assert_eq!(repr.payload_len, p.payload().len());
    let mut out = vec![0u8; repr.buffer_len()];
    let mut e = Ipv4Packet::new_unchecked(&mut out[..]);
    repr.emit(&mut e);
    e.payload_mut().copy_from_slice(p.payload());
    let back = Ipv4Repr::parse(&Ipv4Packet::new_checked(&out[..]).unwrap());
    assert_eq!(back, Ok(repr));
    // Without options and with only DF set, the header has one spelling, but for the
    // checksum: 0x0000 and 0xFFFF are both ones'-complement zero, and either verifies.
    if p.header_len() == 20 && ip[6..8] == [0x40, 0] {
        assert_eq!((&out[..10], &out[12..20]), (&ip[..10], &ip[12..20]));
    }

    // The port unreachable about it, into buffers of every size.
    let may = icmp::may_send_icmp_error(p);
    if may {
        assert!(!p.dst_addr().is_broadcast() && !p.dst_addr().is_multicast());
    }
    let want = icmp::dst_unreachable_len(p);
    for cap in [0, 7, want - 1, want, 576] {
        let mut out = vec![0u8; cap];
        match icmp::emit_port_unreachable(p.packet(), &mut out) {
            Ok(len) => {
                assert_eq!(len, want);
                let m = Icmpv4Packet::new_checked(&out[..len]).unwrap();
                let repr = Icmpv4Repr::parse(&m).expect("what we emit parses");
                let quoted = &p.packet()[..len - 8];
                assert_eq!(repr, Icmpv4Repr::DstUnreachable { code: 3, quoted });
                assert!(quoted.len() == p.header_len() + p.payload().len().min(8));
            }
            Err(_) => assert!(cap < want),
        }
    }
}

fn icmpv4(msg: &[u8]) {
    let Ok(m) = Icmpv4Packet::new_checked(msg) else {
        return;
    };
    let _ = (m.msg_type(), m.msg_code(), m.checksum(), m.echo_ident());
    let _ = (m.echo_seq_no(), m.rest_of_header(), m.data());
    let ok = m.verify_checksum();
    assert_eq!(ok, reference_sum(&[msg]) == 0xffff);
    if ok && m.msg_type() == msg_type::ECHO_REQUEST {
        let mut copy = msg.to_vec();
        let mut r = Icmpv4Packet::new_unchecked(&mut copy[..]);
        r.echo_request_into_reply();
        assert_eq!(r.msg_type(), msg_type::ECHO_REPLY);
        assert!(r.verify_checksum(), "the reply's patched checksum is wrong");
        assert_eq!(copy[4..], msg[4..]);
    }
    let Ok(repr) = Icmpv4Repr::parse(&m) else {
        return;
    };
    assert_eq!(repr.buffer_len(), msg.len());
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
    let e = Icmpv4Packet::new_checked(&out[..]).unwrap();
    assert!(e.verify_checksum());
    assert_eq!(Icmpv4Repr::parse(&e), Ok(repr));
    if matches!(
        repr,
        Icmpv4Repr::EchoRequest { .. } | Icmpv4Repr::EchoReply { .. }
    ) {
        assert_eq!((&out[..2], &out[4..]), (&msg[..2], &msg[4..]));
    }
}
