//! The Internet checksum (`wire::checksum`) against the obvious RFC 1071 sum: the fast
//! sum of any bytes, partial sums combined at any even cut, both pseudo-headers, and the
//! RFC 1624 incremental updates against a full recompute (equal, but for the documented
//! case of all-zero data, where the update gives 0x0000 for 0xFFFF).

use crate::frames::{pseudo_header_bytes, reference_sum, take_u16, take_u8};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use xstack::wire::checksum;

pub fn run(data: &[u8]) {
    assert_eq!(checksum::sum(data), reference_sum(&[data]), "sum");
    assert_eq!(checksum::checksum(data), !reference_sum(&[data]));
    let mut rest = data;
    let cut = (usize::from(take_u16(&mut rest)) % (data.len() + 1)) & !1;
    let (a, b) = data.split_at(cut);
    assert_eq!(
        checksum::combine(&[checksum::sum(a), checksum::sum(b)]),
        checksum::sum(data),
        "partial sums at an even cut"
    );
    pseudo_headers(rest);
    updates(rest);
}

fn pseudo_headers(data: &[u8]) {
    let Some(b) = data.get(..37) else {
        return;
    };
    let v4 = |i: usize| Ipv4Addr::new(b[i], b[i + 1], b[i + 2], b[i + 3]);
    let v6 = |i: usize| {
        let mut o = [0u8; 16];
        o.copy_from_slice(&b[i..i + 16]);
        Ipv6Addr::from(o)
    };
    let proto = b[32];
    let len = u32::from_be_bytes([b[33], b[34], b[35], b[36]]);
    let (s4, d4) = (v4(0), v4(4));
    assert_eq!(
        checksum::pseudo_header_v4(s4, d4, proto, len as u16),
        reference_sum(&[&pseudo_header_bytes(
            s4.into(),
            d4.into(),
            proto,
            usize::from(len as u16)
        )])
    );
    let (s6, d6) = (v6(0), v6(16));
    let ph6 = {
        let mut v = Vec::new();
        v.extend_from_slice(&s6.octets());
        v.extend_from_slice(&d6.octets());
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, proto]);
        v
    };
    assert_eq!(
        checksum::pseudo_header_v6(s6, d6, proto, len),
        reference_sum(&[&ph6])
    );
    assert_eq!(
        checksum::pseudo_header(s6.into(), d6.into(), proto, len),
        checksum::pseudo_header_v6(s6, d6, proto, len)
    );
    // Mixed families are summed as IPv4-mapped IPv6.
    let mixed = checksum::pseudo_header(IpAddr::V4(s4), IpAddr::V6(d6), proto, len);
    assert_eq!(
        mixed,
        checksum::pseudo_header_v6(s4.to_ipv6_mapped(), d6, proto, len)
    );
}

fn updates(data: &[u8]) {
    let mut rest = data;
    let at = usize::from(take_u8(&mut rest));
    let new16 = take_u16(&mut rest);
    let new32 = u32::from(take_u16(&mut rest)) << 16 | u32::from(take_u16(&mut rest));
    let buf = rest;
    if buf.len() < 4 {
        return;
    }
    let at = (at % (buf.len() - 2)) & !1;
    let c = checksum::checksum(buf);
    let agrees = |updated: u16, changed: &[u8]| {
        let full = checksum::checksum(changed);
        updated == full || (updated == 0 && full == 0xffff && changed.iter().all(|&x| x == 0))
    };
    let mut changed = buf.to_vec();
    let old16 = u16::from_be_bytes([buf[at], buf[at + 1]]);
    changed[at..at + 2].copy_from_slice(&new16.to_be_bytes());
    let u = checksum::update_u16(c, old16, new16);
    assert!(agrees(u, &changed), "update_u16 {u:#06x} at {at}");
    if at + 4 <= buf.len() {
        let mut changed = buf.to_vec();
        let old32 = u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        changed[at..at + 4].copy_from_slice(&new32.to_be_bytes());
        let u = checksum::update_u32(c, old32, new32);
        assert!(agrees(u, &changed), "update_u32 {u:#06x} at {at}");
    }
}
