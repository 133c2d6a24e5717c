//! wire/: zero-copy packet views with parse and emit, and Internet checksums. Sans-IO.
//!
//! This layer sits between `driver/` (which hands over raw frames) and `stack/`/`proto/`
//! (which decide what to do with them). It owns the byte layout of every header xstack
//! speaks: Ethernet, ARP, IPv4, ICMPv4, IPv6 (with a bounded extension-header walk),
//! ICMPv6, Neighbor Discovery (solicitation and advertisement), UDP, TCP (with options)
//! and the sockperf message header, plus the RFC 1071 checksum arithmetic and the IPv4
//! and IPv6 pseudo-headers. Invariants: no syscalls, no clocks, no
//! allocation, and entirely safe Rust; every `XxxPacket::new_checked` guarantees that no
//! accessor of the returned view can panic, and malformed input of any shape yields a
//! [`WireError`] (a drop reason the stack counts), never a panic.
//!
//! Conventions shared by every module:
//! - `XxxPacket<T: AsRef<[u8]>>` is a view over a buffer; field byte ranges are constants
//!   in a private `field` module. Setters exist when `T: AsMut<[u8]>`.
//! - `XxxRepr` is the parsed, validated, owned-by-value form: `parse` checks everything
//!   (lengths, checksums, versions), `emit` writes a well-formed header into a view whose
//!   buffer is at least `buffer_len()` bytes long (emit panics on a short buffer: that is a
//!   programming error, not malformed input).

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ndp;
pub mod sockperf;
pub mod tcp;
pub mod udp;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
pub use icmp::{Icmpv4Packet, Icmpv4Repr};
pub use icmpv6::{Icmpv6Packet, Icmpv6Repr};
pub use ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Fragment, Ipv6Packet, Ipv6Payload, Ipv6Repr};
pub use ndp::{NaFlags, NdpOptions, NdpRepr};
pub use sockperf::{SockperfHeader, SockperfRepr};
pub use tcp::{TcpFlags, TcpOptions, TcpPacket, TcpRepr, MAX_SACK_BLOCKS};
pub use udp::{UdpPacket, UdpRepr};

/// Why a packet was rejected. Every variant is a drop reason that the stack counts under
/// the key returned by [`WireError::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than the fixed part of the header.
    #[error("truncated packet")]
    Truncated,
    /// A checksum did not verify.
    #[error("bad checksum")]
    BadChecksum,
    /// A length field disagrees with the buffer (too small, or larger than what arrived).
    #[error("length field disagrees with the buffer")]
    BadLength,
    /// The IP version field is not 4 (in an IPv4 view) or not 6 (in an IPv6 view).
    #[error("bad IP version")]
    BadVersion,
    /// The IPv4 IHL or the TCP data offset is out of range or past the buffer, or an IPv6
    /// extension-header chain is longer than the walk's bounds
    /// ([`ipv6::MAX_EXT_HEADERS`] headers, [`ipv6::MAX_EXT_LEN`] bytes).
    #[error("bad header length")]
    BadHeaderLength,
    /// An IPv4 fragment (the stack reassembles those: `proto::reassembly`), or an IPv6
    /// packet with a (non-atomic) Fragment header (dropped: IPv6 is not reassembled).
    #[error("IP fragment")]
    Fragment,
    /// Structurally invalid content: bad options (TCP, IPv6 extension headers, Neighbor
    /// Discovery), bad ARP address sizes, a hop-by-hop header that is not first, and the
    /// like.
    #[error("malformed packet")]
    Malformed,
    /// Well-formed but not something xstack handles (e.g. ARP for non-Ethernet/IPv4, an
    /// unknown ICMP type, an IPv6 option that says "discard if unrecognised", a routing
    /// header with segments left).
    #[error("unsupported packet")]
    Unsupported,
}

impl WireError {
    /// Every variant, in declaration order (handy to pre-register counters).
    pub const ALL: [WireError; 8] = [
        WireError::Truncated,
        WireError::BadChecksum,
        WireError::BadLength,
        WireError::BadVersion,
        WireError::BadHeaderLength,
        WireError::Fragment,
        WireError::Malformed,
        WireError::Unsupported,
    ];

    /// A snake_case name usable as a counter key.
    pub const fn as_str(&self) -> &'static str {
        match self {
            WireError::Truncated => "truncated",
            WireError::BadChecksum => "bad_checksum",
            WireError::BadLength => "bad_length",
            WireError::BadVersion => "bad_version",
            WireError::BadHeaderLength => "bad_header_length",
            WireError::Fragment => "fragment",
            WireError::Malformed => "malformed",
            WireError::Unsupported => "unsupported",
        }
    }
}

/// Big-endian field helpers shared by the views. Callers guarantee the range is in bounds
/// (each view's `new_checked` establishes that).
pub(crate) mod be {
    #[inline]
    pub fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([b[at], b[at + 1]])
    }
    #[inline]
    pub fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    #[inline]
    pub fn u64_at(b: &[u8], at: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        u64::from_be_bytes(w)
    }
    #[inline]
    pub fn set_u16(b: &mut [u8], at: usize, v: u16) {
        b[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }
    #[inline]
    pub fn set_u32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
    #[inline]
    pub fn set_u64(b: &mut [u8], at: usize, v: u64) {
        b[at..at + 8].copy_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;
    use proptest::prelude::*;

    /// Parses a frame through every layer as the stack's demux would, exercising every
    /// accessor of every view that `new_checked` accepted.
    fn parse_all(frame: &[u8]) {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return;
        };
        let _ = EthernetRepr::parse(&eth);
        match eth.ethertype() {
            EtherType::Arp => {
                if let Ok(p) = ArpPacket::new_checked(eth.payload()) {
                    let _ = ArpRepr::parse(&p);
                }
            }
            EtherType::Ipv4 => {
                let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
                    return;
                };
                let _ = Ipv4Repr::parse(&ip);
                let _ = icmp::may_send_icmp_error(&ip);
                let mut out = [0u8; 128];
                let _ = icmp::emit_port_unreachable(ip.packet(), &mut out);
                let (src, dst) = (ip.src_addr(), ip.dst_addr());
                match ip.protocol() {
                    IpProtocol::Tcp => {
                        if let Ok(t) = TcpPacket::new_checked(ip.payload()) {
                            let _ = TcpRepr::parse(&t, src, dst);
                            let _ = TcpRepr::parse_unverified(&t);
                        }
                    }
                    IpProtocol::Udp => {
                        if let Ok(u) = UdpPacket::new_checked(ip.payload()) {
                            let _ = UdpRepr::parse(&u, src, dst);
                            if let Ok(h) = SockperfHeader::new_checked(u.payload()) {
                                let _ = (SockperfRepr::parse(&h), h.check_datagram());
                            }
                        }
                    }
                    IpProtocol::Icmp => {
                        if let Ok(i) = Icmpv4Packet::new_checked(ip.payload()) {
                            let _ = Icmpv4Repr::parse(&i);
                        }
                    }
                    IpProtocol::Icmpv6 | IpProtocol::Unknown(_) => {}
                }
            }
            EtherType::Ipv6 => parse_all_v6(eth.payload()),
            _ => {}
        }
    }

    /// The IPv6 half of [`parse_all`]: header, extension-header walk, upper layer, and
    /// every ICMPv6 and Neighbor Discovery parser and the error builders.
    fn parse_all_v6(packet: &[u8]) {
        let Ok(ip) = Ipv6Packet::new_checked(packet) else {
            return;
        };
        let _ = icmpv6::may_send_icmpv6_error(&ip);
        let mut out = [0u8; 1300];
        let _ = icmpv6::emit_port_unreachable(ip.packet(), &mut out);
        let Ok(walk) = ip.walk() else {
            return;
        };
        let _ = Ipv6Repr::parse(&ip);
        let upper = ip.upper_layer(walk.offset - ipv6::HEADER_LEN);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        match walk.protocol {
            IpProtocol::Tcp => {
                if let Ok(t) = TcpPacket::new_checked(upper) {
                    let _ = TcpRepr::parse(&t, src, dst);
                }
            }
            IpProtocol::Udp => {
                if let Ok(u) = UdpPacket::new_checked(upper) {
                    let _ = UdpRepr::parse(&u, src, dst);
                }
            }
            IpProtocol::Icmpv6 => {
                if let Ok(i) = Icmpv6Packet::new_checked(upper) {
                    let _ = Icmpv6Repr::parse(&i, src, dst);
                    let _ = NdpRepr::parse(&i);
                }
            }
            _ => {}
        }
    }

    /// A valid Ethernet/IPv6 frame: a UDP datagram, a TCP segment, an ICMPv6 echo or a
    /// neighbor solicitation, after a hop-by-hop header when `kind` >= 4.
    fn valid_frame_v6(kind: u8) -> Vec<u8> {
        let a: core::net::Ipv6Addr = "2001:2::1".parse().unwrap();
        let b: core::net::Ipv6Addr = "2001:2::2".parse().unwrap();
        let mut l4 = Vec::new();
        let proto = match kind % 4 {
            0 => {
                let r = UdpRepr {
                    src_port: 1,
                    dst_port: 2,
                    payload_len: 5,
                };
                l4.resize(r.buffer_len(), b'x');
                r.emit(&mut UdpPacket::new_unchecked(&mut l4[..]), a, b);
                IpProtocol::Udp
            }
            1 => {
                let r = TcpRepr {
                    src_port: 1,
                    dst_port: 2,
                    seq: 3,
                    ack: 4,
                    flags: TcpFlags::SYN,
                    window: 5,
                    urgent: 0,
                    options: TcpOptions {
                        mss: Some(1440),
                        ..TcpOptions::default()
                    },
                    payload: b"",
                };
                l4.resize(r.buffer_len(), 0);
                r.emit(&mut TcpPacket::new_unchecked(&mut l4[..]), a, b);
                IpProtocol::Tcp
            }
            2 => {
                let r = Icmpv6Repr::EchoRequest {
                    ident: 1,
                    seq_no: 2,
                    data: b"abcd",
                };
                l4.resize(r.buffer_len(), 0);
                r.emit(&mut Icmpv6Packet::new_unchecked(&mut l4[..]), a, b);
                IpProtocol::Icmpv6
            }
            _ => {
                let r = NdpRepr::NeighborSolicit {
                    target: b,
                    source_lladdr: Some(EthernetAddress([2, 0, 0, 0, 0, 1])),
                };
                l4.resize(r.buffer_len(), 0);
                r.emit(&mut Icmpv6Packet::new_unchecked(&mut l4[..]), a, b);
                IpProtocol::Icmpv6
            }
        };
        let hbh: &[u8] = if kind >= 4 {
            &[0, 0, 0x05, 0x02, 0, 0, 0x01, 0]
        } else {
            &[]
        };
        let mut ip = Ipv6Repr::new(a, b, proto, hbh.len() + l4.len());
        ip.hop_limit = 255;
        let mut frame = vec![0u8; 14 + ip.buffer_len()];
        let mut f = EthernetFrame::new_unchecked(&mut frame[..]);
        EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            ethertype: EtherType::Ipv6,
        }
        .emit(&mut f);
        let mut p = Ipv6Packet::new_unchecked(f.payload_mut());
        ip.emit(&mut p);
        if !hbh.is_empty() {
            p.set_next_header(ipv6::next_header::HOP_BY_HOP);
            let pl = p.payload_mut();
            pl[..8].copy_from_slice(hbh);
            pl[0] = proto.into();
        }
        p.payload_mut()[hbh.len()..].copy_from_slice(&l4);
        frame
    }

    #[test]
    fn valid_v6_frames_parse_through_every_layer() {
        for kind in 0..8 {
            let frame = valid_frame_v6(kind);
            let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
            let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
            let r = Ipv6Repr::parse(&ip).unwrap();
            assert_eq!(r.ext_len, if kind >= 4 { 8 } else { 0 });
            let upper = ip.upper_layer(r.ext_len);
            let (s, d) = (r.src, r.dst);
            match r.protocol {
                IpProtocol::Udp => {
                    UdpRepr::parse(&UdpPacket::new_checked(upper).unwrap(), s, d).unwrap();
                }
                IpProtocol::Tcp => {
                    TcpRepr::parse(&TcpPacket::new_checked(upper).unwrap(), s, d).unwrap();
                }
                _ => {
                    let i = Icmpv6Packet::new_checked(upper).unwrap();
                    let repr = Icmpv6Repr::parse(&i, s, d).unwrap();
                    assert_eq!(
                        matches!(repr, Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit { .. })),
                        kind % 4 == 3
                    );
                }
            }
        }
    }

    /// A valid Ethernet/IPv4 frame carrying `l4` (a TCP segment with options, a UDP
    /// sockperf datagram, or an ICMP echo), with the IP checksum filled.
    fn valid_frame(kind: u8) -> Vec<u8> {
        let (a, b) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        let mut l4 = vec![0u8; 0];
        let proto = match kind % 3 {
            0 => {
                let opts = TcpOptions {
                    mss: Some(1460),
                    window_scale: Some(7),
                    sack_permitted: true,
                    timestamps: Some((1, 2)),
                    ..TcpOptions::default()
                };
                let r = TcpRepr {
                    src_port: 1,
                    dst_port: 2,
                    seq: 3,
                    ack: 4,
                    flags: TcpFlags::SYN,
                    window: 5,
                    urgent: 0,
                    options: opts,
                    payload: b"xyz",
                };
                l4.resize(r.buffer_len(), 0);
                r.emit(&mut TcpPacket::new_unchecked(&mut l4[..]), a, b);
                IpProtocol::Tcp
            }
            1 => {
                let r = UdpRepr {
                    src_port: 1,
                    dst_port: 2,
                    payload_len: 14,
                };
                l4.resize(r.buffer_len(), 0);
                let mut u = UdpPacket::new_unchecked(&mut l4[..]);
                r.emit_header(&mut u);
                let sp = SockperfRepr {
                    seq: 9,
                    flags: 3,
                    msg_len: 14,
                };
                sp.emit(&mut SockperfHeader::new_unchecked(u.payload_mut()));
                u.fill_checksum(a, b);
                IpProtocol::Udp
            }
            _ => {
                let r = Icmpv4Repr::EchoRequest {
                    ident: 1,
                    seq_no: 2,
                    data: b"abcd",
                };
                l4.resize(r.buffer_len(), 0);
                r.emit(&mut Icmpv4Packet::new_unchecked(&mut l4[..]));
                IpProtocol::Icmp
            }
        };
        let ip = Ipv4Repr::new(a, b, proto, l4.len());
        let eth = EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            ethertype: EtherType::Ipv4,
        };
        let mut frame = vec![0u8; eth.buffer_len(ip.buffer_len())];
        let mut f = EthernetFrame::new_unchecked(&mut frame[..]);
        eth.emit(&mut f);
        let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
        ip.emit(&mut p);
        p.payload_mut().copy_from_slice(&l4);
        frame
    }

    #[test]
    fn valid_frames_parse_through_every_layer() {
        for kind in 0..3 {
            let frame = valid_frame(kind);
            let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
            let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
            let r = Ipv4Repr::parse(&ip).unwrap();
            let (s, d) = (r.src, r.dst);
            match r.protocol {
                IpProtocol::Tcp => {
                    TcpRepr::parse(&TcpPacket::new_checked(ip.payload()).unwrap(), s, d).unwrap();
                }
                IpProtocol::Udp => {
                    let u = UdpPacket::new_checked(ip.payload()).unwrap();
                    UdpRepr::parse(&u, s, d).unwrap();
                    SockperfHeader::new_checked(u.payload())
                        .unwrap()
                        .check_datagram()
                        .unwrap();
                }
                _ => {
                    Icmpv4Repr::parse(&Icmpv4Packet::new_checked(ip.payload()).unwrap()).unwrap();
                }
            }
        }
    }

    proptest! {
        #[test]
        fn mutated_valid_frames_never_panic(
            kind in 0u8..3,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
            cut in any::<prop::sample::Index>(),
            refix_ip_checksum in any::<bool>(),
        ) {
            let mut frame = valid_frame(kind);
            for (at, v) in flips {
                let i = at.index(frame.len());
                frame[i] = v;
            }
            let len = cut.index(frame.len() + 1);
            frame.truncate(len);
            if refix_ip_checksum && frame.len() >= 34 {
                // Reach the upper layers even after a header byte changed.
                let mut p = Ipv4Packet::new_unchecked(&mut frame[14..]);
                if p.check_len().is_ok() {
                    p.fill_checksum();
                }
            }
            parse_all(&frame);
        }

        #[test]
        fn mutated_valid_v6_frames_never_panic(
            kind in 0u8..8,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut frame = valid_frame_v6(kind);
            for (at, v) in flips {
                let i = at.index(frame.len());
                frame[i] = v;
            }
            let len = cut.index(frame.len() + 1);
            frame.truncate(len);
            parse_all(&frame);
        }

        #[test]
        fn random_v6_packets_never_panic(
            next in prop::sample::select(vec![0u8, 6, 17, 43, 44, 58, 60]),
            body in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            // A plausible fixed header (version 6, payload length = what follows) so
            // that the walk and the upper layers see the random bytes.
            let mut p = vec![0x60, 0, 0, 0, 0, 0, next, 255];
            p[4..6].copy_from_slice(&(body.len() as u16).to_be_bytes());
            p.extend_from_slice(&[0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            p.extend_from_slice(&[0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2]);
            p.extend_from_slice(&body);
            parse_all_v6(&p);
        }

        #[test]
        fn random_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..120)) {
            parse_all(&frame);
        }
    }

    #[test]
    fn wire_error_counter_keys_are_unique_snake_case() {
        for (i, a) in WireError::ALL.iter().enumerate() {
            let key = a.as_str();
            assert!(
                key.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{key}"
            );
            for b in &WireError::ALL[i + 1..] {
                assert_ne!(key, b.as_str());
            }
        }
    }

    #[test]
    fn wire_error_displays_a_human_message() {
        assert_eq!(WireError::BadChecksum.to_string(), "bad checksum");
    }
}
