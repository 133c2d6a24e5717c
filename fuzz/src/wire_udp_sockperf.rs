//! UDP and the sockperf header (`wire::udp`, `wire::sockperf`): the datagram view
//! bounded by its length field, the checksum over either family's pseudo-header (zero
//! is "none" over IPv4 only) against a plain RFC 1071 sum, parse → emit → parse, and
//! sockperf's header with its one spelling.

use crate::frames::{l4, l4_checksum_ok};
use core::net::IpAddr;
use xstack::wire::sockperf::HEADER_LEN as SOCKPERF_HEADER;
use xstack::wire::{SockperfHeader, SockperfRepr, UdpPacket, UdpRepr};

pub fn run(data: &[u8]) {
    let (dgram, src, dst) = l4(data);
    udp(dgram, src, dst);
    // sockperf from the start of the input too.
    sockperf(data);
}

fn udp(b: &[u8], src: IpAddr, dst: IpAddr) {
    let Ok(p) = UdpPacket::new_checked(b) else {
        return;
    };
    let _ = (p.src_port(), p.dst_port(), p.checksum());
    assert_eq!(p.datagram().len(), usize::from(p.len()));
    assert_eq!(p.payload(), &p.datagram()[8..]);
    let ok = p.verify_checksum(src, dst);
    let want = if p.checksum() == 0 {
        src.is_ipv4()
    } else {
        l4_checksum_ok(p.datagram(), src, dst, 17)
    };
    assert_eq!(ok, want, "UDP checksum");
    let mut copy = b.to_vec();
    let mut q = UdpPacket::new_unchecked(&mut copy[..]);
    q.swap_ports();
    assert_eq!((q.src_port(), q.dst_port()), (p.dst_port(), p.src_port()));
    if ok {
        assert!(
            q.verify_checksum(src, dst),
            "a port swap changes no checksum"
        );
    }
    let unverified = UdpRepr::parse_unverified(&p);
    match UdpRepr::parse(&p, src, dst) {
        Ok(r) => assert_eq!(r, unverified),
        Err(_) => assert!(!ok),
    }
    let r = unverified;
    let mut out = vec![0u8; r.buffer_len()];
    out[8..].copy_from_slice(p.payload());
    let mut e = UdpPacket::new_unchecked(&mut out[..]);
    r.emit(&mut e, src, dst);
    assert_ne!(e.checksum(), 0, "an emitted checksum is never 0 (\"none\")");
    assert_eq!(UdpRepr::parse(&e, src, dst), Ok(r));
    assert_eq!(out[..6], b[..6]);
    if let Ok(h) = SockperfHeader::new_checked(p.payload()) {
        let _ = h.check_datagram();
    }
    sockperf(p.payload());
}

fn sockperf(b: &[u8]) {
    let Ok(h) = SockperfHeader::new_checked(b) else {
        return;
    };
    let _ = (
        h.seq(),
        h.is_client(),
        h.is_pong_request(),
        h.is_warmup(),
        h.body(),
    );
    let fits = h.check_datagram().is_ok();
    assert_eq!(fits, h.msg_len() as usize == b.len());
    let Ok(r) = SockperfRepr::parse(&h) else {
        return;
    };
    let mut out = [0u8; SOCKPERF_HEADER];
    r.emit(&mut SockperfHeader::new_unchecked(&mut out[..]));
    assert_eq!(
        out[..],
        b[..SOCKPERF_HEADER],
        "sockperf's header has one spelling"
    );
    let mut copy = b.to_vec();
    let mut reply = SockperfHeader::new_unchecked(&mut copy[..]);
    reply.make_reply();
    assert!(!reply.is_client());
    assert_eq!(reply.flags() | 1, h.flags() | 1);
}
