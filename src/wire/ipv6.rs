//! wire/ipv6: the IPv6 header (RFC 8200) and a bounded walk over its extension headers.
//!
//! Layer: `wire/`, sans-IO. It owns the 40-byte fixed header, the extension-header chain
//! (hop-by-hop, routing, fragment and destination options), the link-local multicast
//! addresses a host needs (all-nodes, solicited-node) and their Ethernet mapping
//! (RFC 2464 §7). Invariants of an [`Ipv6Packet`] from `new_checked`: the buffer holds the
//! fixed header, version is 6, and 40 + payload length <= buffer length, so no accessor
//! panics; the payload is bounded by the payload-length field (the buffer may be longer:
//! Ethernet padding). Jumbograms (payload length 0 with a Jumbo Payload option) are not
//! supported: such a packet's chain walks off its empty payload and is `Truncated`.
//!
//! The walk ([`Ipv6Packet::walk`]) never reads past the payload and stops after
//! [`MAX_EXT_HEADERS`] headers or [`MAX_EXT_LEN`] bytes of them (`BadHeaderLength`), so a
//! crafted chain costs a bounded amount of work. It enforces what a host must:
//! hop-by-hop only first, options whose type asks for a discard are refused, a routing
//! header with segments left is refused (a host forwards nothing), and a real fragment
//! ends the walk and is reported; [`Ipv6Repr::parse`] turns that into
//! `WireError::Fragment`, as `Ipv4Repr::parse` does; xstack does not reassemble IPv6.
//! An atomic fragment (offset 0, M clear: RFC 6946) is not a fragment and the walk goes on.

use core::net::Ipv6Addr;

use super::ethernet::EthernetAddress;
use super::ipv4::IpProtocol;
use super::{be, WireError};

/// Next Header values the walk knows (IANA "Assigned Internet Protocol Numbers").
pub mod next_header {
    pub const HOP_BY_HOP: u8 = 0;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const NO_NEXT_HEADER: u8 = 59;
    pub const DEST_OPTIONS: u8 = 60;
}

mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
    pub const PAYLOAD: usize = 40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// The minimum link MTU every IPv6 link supports (RFC 8200 §5).
pub const MIN_MTU: usize = 1280;
/// Most extension headers the walk goes through before it gives up (`BadHeaderLength`).
pub const MAX_EXT_HEADERS: usize = 8;
/// Most bytes of extension headers the walk goes through (`BadHeaderLength`).
pub const MAX_EXT_LEN: usize = 1024;
/// The Hop Limit every Neighbor Discovery message is sent with and must arrive with.
pub const NDP_HOP_LIMIT: u8 = 255;

/// ff02::1, all nodes on the link.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// ff02::2, all routers on the link.
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// The solicited-node multicast address of `addr`: ff02::1:ff00:0/104 followed by the
/// low 24 bits of `addr` (RFC 4291 §2.7.1). Neighbor solicitations for `addr` go there.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// Whether `addr` is a solicited-node multicast address (ff02::1:ffXX:XXXX).
pub fn is_solicited_node(addr: Ipv6Addr) -> bool {
    addr.octets()[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff]
}

/// The Ethernet destination of an IPv6 multicast address: 33:33 and its low 32 bits
/// (RFC 2464 §7); e.g. 33:33:ff:XX:XX:XX for a solicited-node address, 33:33:00:00:00:01
/// for all-nodes.
pub fn multicast_mac(addr: Ipv6Addr) -> EthernetAddress {
    let o = addr.octets();
    EthernetAddress([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// A Fragment header (RFC 8200 §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Fragment {
    /// Offset of the data after this header in the original payload, in bytes.
    pub offset: u16,
    /// The M flag: more fragments follow.
    pub more: bool,
    pub ident: u32,
}

impl Ipv6Fragment {
    /// Offset 0 and M clear: the whole packet in one "fragment" (RFC 6946), processed as
    /// if it had no Fragment header.
    pub const fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }
}

/// What the extension-header walk found: where the upper layer starts and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Payload {
    /// The upper-layer protocol: the Next Header after the last extension header (TCP,
    /// UDP, ICMPv6, or `Unknown` for anything else, No Next Header, ESP and AH included).
    /// After a non-atomic fragment, the protocol of the fragmented payload.
    pub protocol: IpProtocol,
    /// Bytes from the start of the IPv6 header to the upper-layer data (40 plus the
    /// extension headers walked).
    pub offset: usize,
    /// Extension headers walked.
    pub ext_headers: usize,
    /// The last Fragment header seen. When it is not atomic, the walk stopped at it (the
    /// bytes after it are a piece of the payload, not headers).
    pub fragment: Option<Ipv6Fragment>,
}

impl Ipv6Payload {
    /// A piece of a larger packet (a Fragment header that is not atomic).
    pub fn is_fragment(&self) -> bool {
        self.fragment.is_some_and(|f| !f.is_atomic())
    }
}

/// A view over an IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` (< 40 bytes), `BadVersion` (not 6), `BadLength` (40 + payload length
    /// beyond the buffer).
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 6 {
            return Err(WireError::BadVersion);
        }
        if HEADER_LEN + usize::from(self.payload_len()) > b.len() {
            return Err(WireError::BadLength);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW] >> 4
    }

    /// The 8-bit Traffic Class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        let b = self.buffer.as_ref();
        (b[0] << 4) | (b[1] >> 4)
    }

    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x03
    }

    /// The 20-bit Flow Label.
    pub fn flow_label(&self) -> u32 {
        be::u32_at(self.buffer.as_ref(), field::VER_TC_FLOW) & 0x000F_FFFF
    }

    /// Bytes after the fixed header, extension headers included.
    pub fn payload_len(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    /// The fixed header's Next Header: the first extension header or the upper layer.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        Ipv6Addr::from(a)
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        Ipv6Addr::from(a)
    }

    /// The fixed header.
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN]
    }

    /// Everything after the fixed header (extension headers included), bounded by the
    /// payload length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.packet_len()]
    }

    /// The packet bytes, bounded by the payload length.
    pub fn packet(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.packet_len()]
    }

    fn packet_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    /// Walks the extension headers to the upper layer, within the payload and within
    /// [`MAX_EXT_HEADERS`] and [`MAX_EXT_LEN`].
    ///
    /// Errors: `Truncated` (a header runs past the payload), `BadHeaderLength` (the chain
    /// is longer than the bounds), `Malformed` (a hop-by-hop header that is not first, or
    /// an option that runs past its header), `Unsupported` (an option whose type says to
    /// discard the packet when it is not recognised, or a routing header with segments
    /// left: we are its destination only once they reach 0).
    pub fn walk(&self) -> Result<Ipv6Payload, WireError> {
        use next_header::*;
        let payload = self.payload();
        let mut nh = self.next_header();
        let mut at = 0usize;
        let mut count = 0usize;
        let mut fragment = None;
        while matches!(nh, HOP_BY_HOP | ROUTING | FRAGMENT | DEST_OPTIONS) {
            //= https://www.rfc-editor.org/rfc/rfc8200#section-4.3
            //# The Hop-by-Hop Options header, when present, must immediately follow
            //# the IPv6 header.
            if nh == HOP_BY_HOP && count != 0 {
                return Err(WireError::Malformed);
            }
            count += 1;
            if count > MAX_EXT_HEADERS {
                return Err(WireError::BadHeaderLength);
            }
            let start = payload.get(at..at + 2).ok_or(WireError::Truncated)?;
            let len = if nh == FRAGMENT {
                8
            } else {
                (usize::from(start[1]) + 1) * 8
            };
            if at + len > MAX_EXT_LEN {
                return Err(WireError::BadHeaderLength);
            }
            let h = payload.get(at..at + len).ok_or(WireError::Truncated)?;
            let next = h[0];
            at += len;
            match nh {
                HOP_BY_HOP | DEST_OPTIONS => check_options(&h[2..])?,
                ROUTING => {
                    //= https://www.rfc-editor.org/rfc/rfc8200#section-4.4
                    //# If Segments Left is non-zero, the node must discard the packet and
                    //# send an ICMP Parameter Problem, Code 0, message to the packet's
                    //# Source Address, pointing to the unrecognized Routing Type.
                    if h[3] != 0 {
                        return Err(WireError::Unsupported);
                    }
                }
                _ => {
                    let off_m = be::u16_at(h, 2);
                    let f = Ipv6Fragment {
                        offset: off_m & 0xFFF8,
                        more: off_m & 1 != 0,
                        ident: be::u32_at(h, 4),
                    };
                    fragment = Some(f);
                    if !f.is_atomic() {
                        nh = next;
                        break;
                    }
                }
            }
            nh = next;
        }
        Ok(Ipv6Payload {
            protocol: IpProtocol::from(nh),
            offset: HEADER_LEN + at,
            ext_headers: count,
            fragment,
        })
    }

    /// The upper-layer data that `walk` (or [`Ipv6Repr::parse`]) located: the payload
    /// after `ext_len` bytes of extension headers. Empty if `ext_len` is past the payload.
    pub fn upper_layer(&self, ext_len: usize) -> &[u8] {
        self.payload().get(ext_len..).unwrap_or(&[])
    }
}

/// Checks the TLV options of a hop-by-hop or destination options header (RFC 8200 §4.2):
/// Pad1 and PadN are skipped, as is any option whose two high bits are 00 ("skip over
/// this option"); any other unrecognised option means discarding the packet
/// (`Unsupported`). An option running past the header is `Malformed`. Each step consumes
/// at least one byte, so the loop is bounded by the header's length.
fn check_options(mut opts: &[u8]) -> Result<(), WireError> {
    const PAD1: u8 = 0;
    const PADN: u8 = 1;
    while let Some(&t) = opts.first() {
        if t == PAD1 {
            opts = &opts[1..];
            continue;
        }
        let len = usize::from(*opts.get(1).ok_or(WireError::Malformed)?);
        let rest = opts.get(2 + len..).ok_or(WireError::Malformed)?;
        if t != PADN && t >> 6 != 0 {
            return Err(WireError::Unsupported);
        }
        opts = rest;
    }
    Ok(())
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Writes version 6, the traffic class and the flow label (its low 20 bits).
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let v = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000F_FFFF);
        be::set_u32(self.buffer.as_mut(), field::VER_TC_FLOW, v);
    }

    pub fn set_payload_len(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::PAYLOAD_LEN, v);
    }

    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = v;
    }

    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }

    /// Swaps source and destination in place. IPv6 has no header checksum, and a
    /// TCP/UDP/ICMPv6 pseudo-header sum does not depend on the order, so a reply to a
    /// unicast request can be reflected without re-summing.
    pub fn swap_addrs(&mut self) {
        let (s, d) = (self.src_addr(), self.dst_addr());
        self.set_src_addr(d);
        self.set_dst_addr(s);
    }

    /// Everything after the fixed header, bounded by the payload length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.packet_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// A parsed (or to-be-emitted) IPv6 header. Parsing walks the extension headers; emit
/// writes only the fixed header, with the upper-layer protocol as its Next Header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The upper-layer protocol (after any extension headers).
    pub protocol: IpProtocol,
    /// Bytes of upper-layer data (the payload length minus the extension headers).
    pub payload_len: usize,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
    /// Bytes of extension headers before the upper layer (0 from `new`; `emit` writes
    /// none whatever it says).
    pub ext_len: usize,
}

impl Ipv6Repr {
    /// Default Hop Limit, as Linux uses.
    pub const DEFAULT_HOP_LIMIT: u8 = 64;

    /// A header with Hop Limit 64, traffic class and flow label 0, no extension headers.
    pub const fn new(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        protocol: IpProtocol,
        payload_len: usize,
    ) -> Self {
        Ipv6Repr {
            src,
            dst,
            protocol,
            payload_len,
            hop_limit: Self::DEFAULT_HOP_LIMIT,
            traffic_class: 0,
            flow_label: 0,
            ext_len: 0,
        }
    }

    /// Parses and validates: structure (see [`Ipv6Packet::check_len`]), the
    /// extension-header chain (see [`Ipv6Packet::walk`]), then fragments (`Fragment`).
    /// The upper-layer data is `packet.upper_layer(repr.ext_len)`.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Ipv6Repr, WireError> {
        packet.check_len()?;
        let walk = packet.walk()?;
        if walk.is_fragment() {
            return Err(WireError::Fragment);
        }
        let ext_len = walk.offset - HEADER_LEN;
        Ok(Ipv6Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            protocol: walk.protocol,
            payload_len: usize::from(packet.payload_len()) - ext_len,
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
            ext_len,
        })
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// What `emit` writes: the fixed header and the upper-layer data.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the 40-byte header. Panics if the buffer is shorter than 40 bytes;
    /// `payload_len` must be at most 65535.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv6Packet<T>) {
        debug_assert!(self.payload_len <= usize::from(u16::MAX));
        packet.set_version_tc_flow(self.traffic_class, self.flow_label);
        packet.set_payload_len(self.payload_len as u16);
        packet.set_next_header(self.protocol.into());
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A UDP datagram the Linux kernel sent (captured on a veth): 2001:2::a:40000 ->
    /// 2001:2::99:9, flow label 0xef7d3, hop limit 64, payload "ping!".
    const UDP: [u8; 53] = [
        0x60, 0x0e, 0xf7, 0xd3, 0x00, 0x0d, 0x11, 0x40, 0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0x00, 0x0a, 0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x99,
        0x9c, 0x40, 0x00, 0x09, 0x00, 0x0d, 0x23, 0x11, b'p', b'i', b'n', b'g', b'!',
    ];

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_kernel_udp_header() {
        let p = Ipv6Packet::new_checked(&UDP[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0);
        assert_eq!(p.flow_label(), 0xef7d3);
        assert_eq!(p.payload_len(), 13);
        assert_eq!(p.next_header(), next_header::UDP);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), a("2001:2::a"));
        assert_eq!(p.dst_addr(), a("2001:2::99"));
        assert_eq!(p.payload(), &UDP[40..]);
        let w = p.walk().unwrap();
        assert_eq!(
            w,
            Ipv6Payload {
                protocol: IpProtocol::Udp,
                offset: 40,
                ext_headers: 0,
                fragment: None
            }
        );
        let r = Ipv6Repr::parse(&p).unwrap();
        assert_eq!(
            (r.protocol, r.payload_len, r.ext_len),
            (IpProtocol::Udp, 13, 0)
        );
        assert_eq!(p.upper_layer(r.ext_len), &UDP[40..]);
    }

    #[test]
    fn emit_reproduces_kernel_header() {
        let mut r = Ipv6Repr::new(a("2001:2::a"), a("2001:2::99"), IpProtocol::Udp, 13);
        r.flow_label = 0xef7d3;
        let mut buf = [0u8; 40];
        r.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, UDP[..40]);
    }

    #[test]
    fn traffic_class_spans_the_first_two_bytes() {
        let mut b = UDP;
        let mut p = Ipv6Packet::new_unchecked(&mut b[..]);
        p.set_version_tc_flow(0xb8 | 0x01, 0xfffff); // DSCP EF, ECN 1
        assert_eq!(&b[..4], &[0x6b, 0x9f, 0xff, 0xff]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.traffic_class(), p.dscp(), p.ecn()), (0xb9, 46, 1));
        assert_eq!(p.flow_label(), 0xfffff);
    }

    #[test]
    fn structural_errors_are_typed() {
        assert_eq!(
            Ipv6Packet::new_checked(&UDP[..39]).unwrap_err(),
            WireError::Truncated
        );
        let mut b = UDP;
        b[0] = 0x40;
        assert_eq!(
            Ipv6Packet::new_checked(&b[..]).unwrap_err(),
            WireError::BadVersion
        );
        assert_eq!(
            Ipv6Packet::new_checked(&UDP[..52]).unwrap_err(),
            WireError::BadLength
        );
        // Ethernet padding after the payload is excluded.
        let mut padded = UDP.to_vec();
        padded.extend_from_slice(&[0xee; 7]);
        let p = Ipv6Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload().len(), 13);
        assert_eq!(p.packet().len(), 53);
    }

    /// A packet whose payload is `chain` (extension headers and upper-layer bytes) with
    /// the fixed header's Next Header `first`.
    fn with_chain(first: u8, chain: &[u8]) -> Vec<u8> {
        let mut r = Ipv6Repr::new(a("2001:2::1"), a("2001:2::2"), IpProtocol::Udp, chain.len());
        r.hop_limit = 1;
        let mut v = vec![0u8; r.buffer_len()];
        let mut p = Ipv6Packet::new_unchecked(&mut v[..]);
        r.emit(&mut p);
        p.set_next_header(first);
        p.payload_mut().copy_from_slice(chain);
        v
    }

    /// Hop-by-hop with a Router Alert (RFC 2711, as MLD sends it), then destination
    /// options with PadN, then a routing header with segments left 0, then an atomic
    /// fragment, then ICMPv6.
    fn long_valid_chain() -> Vec<u8> {
        let mut c = Vec::new();
        c.extend_from_slice(&[
            next_header::DEST_OPTIONS,
            0,
            0x05,
            0x02,
            0x00,
            0x00,
            0x01,
            0x00,
        ]);
        c.extend_from_slice(&[next_header::ROUTING, 0, 0x01, 0x04, 0, 0, 0, 0]);
        c.extend_from_slice(&[next_header::FRAGMENT, 0, 4, 0, 0, 0, 0, 0]);
        c.extend_from_slice(&[next_header::ICMPV6, 0, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78]);
        c.extend_from_slice(&[128, 0, 0, 0, 0, 1, 0, 1]);
        c
    }

    #[test]
    fn walk_goes_through_every_kind_of_extension_header() {
        let v = with_chain(next_header::HOP_BY_HOP, &long_valid_chain());
        let p = Ipv6Packet::new_checked(&v[..]).unwrap();
        let w = p.walk().unwrap();
        assert_eq!(w.protocol, IpProtocol::Icmpv6);
        assert_eq!(w.offset, 40 + 32);
        assert_eq!(w.ext_headers, 4);
        let f = w.fragment.unwrap();
        assert!(f.is_atomic() && !w.is_fragment());
        assert_eq!(f.ident, 0x1234_5678);
        let r = Ipv6Repr::parse(&p).unwrap();
        assert_eq!((r.ext_len, r.payload_len), (32, 8));
        assert_eq!(p.upper_layer(r.ext_len), &[128, 0, 0, 0, 0, 1, 0, 1]);
    }

    #[test]
    fn fragments_end_the_walk_and_are_rejected_by_parse() {
        // First fragment (offset 0, M set) and a later one (offset 1448, M clear).
        for (off_m, offset, more) in [(0x0001u16, 0u16, true), (0x05a8, 1448, false)] {
            let mut c = vec![next_header::UDP, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef];
            c[2..4].copy_from_slice(&off_m.to_be_bytes());
            c.extend_from_slice(&[0xaa; 16]);
            let v = with_chain(next_header::FRAGMENT, &c);
            let p = Ipv6Packet::new_checked(&v[..]).unwrap();
            let w = p.walk().unwrap();
            assert!(w.is_fragment());
            assert_eq!(w.protocol, IpProtocol::Udp);
            assert_eq!(w.offset, 48);
            assert_eq!(
                w.fragment,
                Some(Ipv6Fragment {
                    offset,
                    more,
                    ident: 0xdead_beef
                })
            );
            assert_eq!(Ipv6Repr::parse(&p).unwrap_err(), WireError::Fragment);
        }
    }

    #[test]
    fn hop_by_hop_must_come_first() {
        let c = [
            next_header::HOP_BY_HOP,
            0,
            1,
            4,
            0,
            0,
            0,
            0, // dest opts
            next_header::UDP,
            0,
            1,
            4,
            0,
            0,
            0,
            0, // hop-by-hop, second: refused
        ];
        let v = with_chain(next_header::DEST_OPTIONS, &c);
        let p = Ipv6Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.walk().unwrap_err(), WireError::Malformed);
    }

    #[test]
    fn chains_past_the_payload_are_truncated() {
        // The header says 16 bytes, 8 are there.
        let v = with_chain(
            next_header::DEST_OPTIONS,
            &[next_header::UDP, 1, 1, 4, 0, 0, 0, 0],
        );
        let p = Ipv6Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.walk().unwrap_err(), WireError::Truncated);
        // Not even the two bytes of next header and length.
        let v = with_chain(next_header::ROUTING, &[next_header::UDP]);
        let p = Ipv6Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.walk().unwrap_err(), WireError::Truncated);
        // An empty payload announcing a header (a jumbogram's payload length 0).
        let v = with_chain(next_header::HOP_BY_HOP, &[]);
        let p = Ipv6Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.walk().unwrap_err(), WireError::Truncated);
    }

    #[test]
    fn too_many_extension_headers_are_refused() {
        let chain = |n: usize| {
            let mut c = Vec::new();
            for i in 0..n {
                let next = if i + 1 == n {
                    next_header::UDP
                } else {
                    next_header::DEST_OPTIONS
                };
                c.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
            }
            c.extend_from_slice(&[0; 8]);
            with_chain(next_header::DEST_OPTIONS, &c)
        };
        let ok = chain(MAX_EXT_HEADERS);
        let w = Ipv6Packet::new_checked(&ok[..]).unwrap().walk().unwrap();
        assert_eq!(w.ext_headers, MAX_EXT_HEADERS);
        let long = chain(MAX_EXT_HEADERS + 1);
        assert_eq!(
            Ipv6Packet::new_checked(&long[..])
                .unwrap()
                .walk()
                .unwrap_err(),
            WireError::BadHeaderLength
        );
        // A "loop": every header names the same kind again, up to the payload's end.
        let mut c = Vec::new();
        for _ in 0..40 {
            c.extend_from_slice(&[next_header::ROUTING, 0, 0, 0, 0, 0, 0, 0]);
        }
        let v = with_chain(next_header::ROUTING, &c);
        let p = Ipv6Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.walk().unwrap_err(), WireError::BadHeaderLength);
    }

    #[test]
    fn too_many_extension_bytes_are_refused() {
        // One destination options header of 8 * 129 = 1032 bytes of PadN.
        let mut c = vec![next_header::UDP, 128];
        let mut left = 1032 - 2;
        while left > 0 {
            let n = left.min(257);
            c.push(1);
            c.push((n - 2) as u8);
            c.extend(std::iter::repeat(0).take(n - 2));
            left -= n;
        }
        assert_eq!(c.len(), 1032);
        let v = with_chain(next_header::DEST_OPTIONS, &c);
        let p = Ipv6Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.walk().unwrap_err(), WireError::BadHeaderLength);
    }

    #[test]
    fn options_are_checked() {
        let opts = |o: [u8; 6]| {
            let mut c = vec![next_header::UDP, 0];
            c.extend_from_slice(&o);
            with_chain(next_header::HOP_BY_HOP, &c)
        };
        let walk = |v: Vec<u8>| {
            Ipv6Packet::new_checked(&v[..])
                .unwrap()
                .walk()
                .map(|w| w.offset)
        };
        // Pad1 x6; PadN of 4; an unknown "skip" option (type 0x1e).
        assert_eq!(walk(opts([0; 6])), Ok(48));
        assert_eq!(walk(opts([1, 4, 0, 0, 0, 0])), Ok(48));
        assert_eq!(walk(opts([0x1e, 4, 9, 9, 9, 9])), Ok(48));
        // Unknown options whose action is "discard" (01, 10, 11): Jumbo Payload is 0xc2.
        for t in [0x5e, 0x9e, 0xc2] {
            assert_eq!(walk(opts([t, 4, 0, 0, 0, 0])), Err(WireError::Unsupported));
        }
        // An option that runs past the header, and one cut after its type.
        assert_eq!(walk(opts([1, 5, 0, 0, 0, 0])), Err(WireError::Malformed));
        assert_eq!(walk(opts([0, 0, 0, 0, 0, 1])), Err(WireError::Malformed));
    }

    #[test]
    fn routing_header_with_segments_left_is_refused() {
        let v = with_chain(
            next_header::ROUTING,
            &[next_header::UDP, 0, 4, 1, 0, 0, 0, 0],
        );
        let p = Ipv6Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.walk().unwrap_err(), WireError::Unsupported);
    }

    #[test]
    fn other_next_headers_end_the_walk_as_the_upper_layer() {
        for nh in [
            next_header::NO_NEXT_HEADER,
            next_header::ESP,
            next_header::AH,
            253,
        ] {
            let v = with_chain(nh, &[1, 2, 3, 4]);
            let w = Ipv6Packet::new_checked(&v[..]).unwrap().walk().unwrap();
            assert_eq!((w.protocol, w.offset), (IpProtocol::Unknown(nh), 40));
        }
    }

    #[test]
    fn multicast_addresses_and_their_macs() {
        let t = a("2001:2::abcd:1234:5678");
        assert_eq!(solicited_node(t), a("ff02::1:ff34:5678"));
        assert!(is_solicited_node(solicited_node(t)));
        assert!(!is_solicited_node(ALL_NODES) && !is_solicited_node(t));
        assert_eq!(
            multicast_mac(solicited_node(t)),
            EthernetAddress([0x33, 0x33, 0xff, 0x34, 0x56, 0x78])
        );
        assert_eq!(
            multicast_mac(ALL_NODES),
            EthernetAddress([0x33, 0x33, 0, 0, 0, 1])
        );
        assert!(multicast_mac(ALL_ROUTERS).is_multicast());
    }

    #[test]
    fn swap_addrs_reverses_the_packet() {
        let mut b = UDP;
        Ipv6Packet::new_checked(&mut b[..]).unwrap().swap_addrs();
        assert_eq!(&b[8..24], &UDP[24..40]);
        assert_eq!(&b[24..40], &UDP[8..24]);
    }

    fn proto_strategy() -> impl Strategy<Value = IpProtocol> {
        // Upper-layer protocols only: an extension-header number would be walked.
        any::<u8>()
            .prop_filter("not an extension header", |n| {
                !matches!(*n, 0 | 43 | 44 | 60)
            })
            .prop_map(IpProtocol::from)
    }

    proptest! {
        #[test]
        fn repr_round_trips(src in any::<u128>(), dst in any::<u128>(), protocol in proto_strategy(),
                            payload_len in 0usize..1500, hop_limit in any::<u8>(),
                            traffic_class in any::<u8>(), flow_label in 0u32..(1 << 20)) {
            let r = Ipv6Repr { src: src.into(), dst: dst.into(), protocol, payload_len, hop_limit,
                               traffic_class, flow_label, ext_len: 0 };
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
            let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Ipv6Repr::parse(&p).unwrap(), r);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Ipv6Packet::new_checked(&data[..]) {
                let _ = Ipv6Repr::parse(&p);
                if let Ok(w) = p.walk() {
                    prop_assert!(w.offset <= p.packet().len());
                    prop_assert!(w.ext_headers <= MAX_EXT_HEADERS);
                    let _ = p.upper_layer(w.offset - HEADER_LEN);
                }
                let _ = (p.payload(), p.flow_label(), p.traffic_class(), p.upper_layer(usize::MAX));
            }
        }

        #[test]
        fn random_chains_never_panic_and_stay_in_bounds(
            first in prop::sample::select(vec![0u8, 43, 44, 60, 17]),
            chain in proptest::collection::vec(
                prop_oneof![Just(0u8), Just(43), Just(44), Just(60), Just(1), Just(6), Just(17), Just(58), any::<u8>()],
                0..300),
        ) {
            let v = with_chain(first, &chain);
            let p = Ipv6Packet::new_checked(&v[..]).unwrap();
            if let Ok(w) = p.walk() {
                prop_assert!(w.offset <= v.len());
                prop_assert!(w.offset - HEADER_LEN <= MAX_EXT_LEN);
            }
            let _ = Ipv6Repr::parse(&p);
        }
    }
}
