//! What the targets share: finding a layer inside a frame, the lab's addresses, and a
//! plain RFC 1071 sum to check the fast one against.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use xstack::wire::{Ipv4Packet, Ipv6Packet};

/// The lab's kernel peer and xstack's side (`scripts/lab.sh`), which the captured corpus
/// uses; also the fallback addresses of a frame whose IP header does not parse.
pub const PEER_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const OURS_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const PEER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
pub const OURS_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

/// The bytes after the Ethernet header (empty if there are none).
pub fn l3(frame: &[u8]) -> &[u8] {
    frame.get(14..).unwrap_or(&[])
}

/// The upper-layer bytes of the frame's IP packet and its addresses: through the IPv4
/// header (total length and IHL respected) or the IPv6 header and its extension headers,
/// whichever the version nibble names. A packet whose header does not hold together is
/// still looked into: its upper layer is taken to start after a bare header, between the
/// lab's addresses, so that mutated frames keep reaching the upper-layer parsers.
pub fn l4(frame: &[u8]) -> (&[u8], IpAddr, IpAddr) {
    let ip = l3(frame);
    match ip.first().map(|b| b >> 4) {
        Some(6) => {
            if let Ok(p) = Ipv6Packet::new_checked(ip) {
                let (s, d) = (p.src_addr().into(), p.dst_addr().into());
                if let Ok(w) = p.walk() {
                    let off = w.offset;
                    let end = 40 + usize::from(p.payload_len());
                    return (&ip[off.min(end)..end], s, d);
                }
                return (ip.get(40..).unwrap_or(&[]), s, d);
            }
            (ip.get(40..).unwrap_or(&[]), PEER_V6.into(), OURS_V6.into())
        }
        _ => {
            if let Ok(p) = Ipv4Packet::new_checked(ip) {
                let (s, d) = (p.src_addr().into(), p.dst_addr().into());
                let (hl, total) = (p.header_len(), usize::from(p.total_len()));
                return (&ip[hl..total], s, d);
            }
            (ip.get(20..).unwrap_or(&[]), PEER_V4.into(), OURS_V4.into())
        }
    }
}

/// The RFC 1071 sum of the concatenation of `parts`, the slow and obvious way: 16-bit
/// big-endian words, an odd last byte padded with zero, end-around carry.
pub fn reference_sum(parts: &[&[u8]]) -> u16 {
    let mut acc: u32 = 0;
    let mut hi: Option<u8> = None;
    for &b in parts.iter().flat_map(|p| p.iter()) {
        match hi.take() {
            Some(h) => {
                acc += u32::from(u16::from_be_bytes([h, b]));
                acc = (acc & 0xffff) + (acc >> 16);
            }
            None => hi = Some(b),
        }
    }
    if let Some(h) = hi {
        acc += u32::from(h) << 8;
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The pseudo-header bytes of RFC 9293 §3.1 / RFC 8200 §8.1 for an upper layer of `len`
/// bytes of protocol `proto` between `src` and `dst` (one family).
pub fn pseudo_header_bytes(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut v = Vec::with_capacity(12);
            v.extend_from_slice(&s.octets());
            v.extend_from_slice(&d.octets());
            v.extend_from_slice(&[0, proto]);
            v.extend_from_slice(&(len as u16).to_be_bytes());
            v
        }
        _ => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            let mut v = Vec::with_capacity(40);
            v.extend_from_slice(&v6(src).octets());
            v.extend_from_slice(&v6(dst).octets());
            v.extend_from_slice(&(len as u32).to_be_bytes());
            v.extend_from_slice(&[0, 0, 0, proto]);
            v
        }
    }
}

/// Whether the upper-layer bytes `l4` of protocol `proto` sum, with their pseudo-header,
/// to 0xffff (a correct checksum), by the reference sum.
pub fn l4_checksum_ok(l4: &[u8], src: IpAddr, dst: IpAddr, proto: u8) -> bool {
    let ph = pseudo_header_bytes(src, dst, proto, l4.len());
    reference_sum(&[&ph, l4]) == 0xffff
}

/// Reads a little-endian u16 from the front of `data`, advancing it (0 past the end).
pub fn take_u16(data: &mut &[u8]) -> u16 {
    let v = match data {
        [a, b, ..] => u16::from_le_bytes([*a, *b]),
        [a] => u16::from(*a),
        [] => 0,
    };
    *data = data.get(2..).unwrap_or(&[]);
    v
}

/// Reads one byte from the front of `data`, advancing it (0 past the end).
pub fn take_u8(data: &mut &[u8]) -> u8 {
    let v = data.first().copied().unwrap_or(0);
    *data = data.get(1..).unwrap_or(&[]);
    v
}
