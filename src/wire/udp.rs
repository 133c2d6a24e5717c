//! wire/udp: the UDP header (RFC 768) and its IPv4 and IPv6 pseudo-header checksums.
//!
//! Layer: `wire/`, sans-IO. It owns the 8-byte UDP header. Invariants of a [`UdpPacket`]
//! from `new_checked`: 8 <= length field <= buffer length, so no accessor panics; the
//! payload is bounded by the length field (the buffer may be longer). Over IPv4 a
//! checksum field of 0 means the sender computed none, and is accepted; over IPv6 the
//! checksum is mandatory and a 0 field is invalid (RFC 8200 §8.1): the checksum methods
//! take either family's addresses and reject it over IPv6. Either way a computed checksum of 0 is sent as 0xFFFF (RFC 768).

use core::net::IpAddr;
#[cfg(test)]
use core::net::{Ipv4Addr, Ipv6Addr};

use super::ipv4::IpProtocol;
use super::{be, checksum, WireError};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
    pub const PAYLOAD: usize = 8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::PAYLOAD;

const PROTO_UDP: u8 = 17;

/// A view over a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if the buffer is shorter than 8 bytes; `BadLength` if the length field
    /// is below 8 or beyond the buffer.
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN || len > b.len() {
            return Err(WireError::BadLength);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The length field: header plus payload.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::LENGTH)
    }

    pub fn checksum(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The payload, bounded by the length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..usize::from(self.len())]
    }

    /// The datagram bytes, bounded by the length field.
    pub fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.len())]
    }

    /// True if the checksum verifies over the pseudo-header and the datagram (bounded by
    /// the length field). Over IPv4 a checksum field of 0 means "none" and passes; over
    /// IPv6 the checksum is mandatory and 0 fails.
    //= https://www.rfc-editor.org/rfc/rfc8200#section-8.1
    //# IPv6 receivers must discard UDP packets containing a zero checksum
    //# and should log the error.
    pub fn verify_checksum(&self, src: impl Into<IpAddr>, dst: impl Into<IpAddr>) -> bool {
        let (src, dst) = (src.into(), dst.into());
        if self.checksum() == 0 {
            return src.is_ipv4();
        }
        let ph = checksum::pseudo_header(src, dst, PROTO_UDP, u32::from(self.len()));
        checksum::combine(&[ph, checksum::sum(self.datagram())]) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    pub fn set_src_port(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    pub fn set_len(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::LENGTH, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// The payload, bounded by the length field.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[field::PAYLOAD..end]
    }

    /// Computes the checksum over the pseudo-header and the datagram (bounded by the
    /// length field); a computed 0 is written as 0xFFFF.
    //= https://www.rfc-editor.org/rfc/rfc768
    //# If the computed  checksum  is zero,  it is transmitted  as all ones (the
    //# equivalent  in one's complement  arithmetic).   An all zero  transmitted
    //# checksum  value means that the transmitter  generated  no checksum
    pub fn fill_checksum(&mut self, src: impl Into<IpAddr>, dst: impl Into<IpAddr>) {
        self.set_checksum(0);
        let ph = checksum::pseudo_header(src.into(), dst.into(), PROTO_UDP, u32::from(self.len()));
        let c = !checksum::combine(&[ph, checksum::sum(self.datagram())]);
        self.set_checksum(if c == 0 { 0xFFFF } else { c });
    }

    /// Swaps source and destination ports in place; the checksum is unchanged (the sum
    /// is order-independent), so a datagram can be echoed without re-summing it.
    pub fn swap_ports(&mut self) {
        let (s, d) = (self.src_port(), self.dst_port());
        self.set_src_port(d);
        self.set_dst_port(s);
    }
}

/// A parsed UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload_len: usize,
}

impl UdpRepr {
    /// The IP protocol number for UDP.
    pub const PROTOCOL: IpProtocol = IpProtocol::Udp;

    /// Checks structure and the checksum (`BadChecksum`; 0 = none is accepted).
    pub fn parse<T: AsRef<[u8]>>(
        packet: &UdpPacket<T>,
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
    ) -> Result<UdpRepr, WireError> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        Ok(Self::parse_unverified(packet))
    }

    /// Parses without verifying the checksum, for frames whose checksum a kernel peer with
    /// offload left partial (veth): the caller decides. `packet` must come from
    /// `new_checked`.
    pub fn parse_unverified<T: AsRef<[u8]>>(packet: &UdpPacket<T>) -> UdpRepr {
        UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()).saturating_sub(HEADER_LEN),
        }
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes ports and length, and zeroes the checksum; the payload area is untouched.
    /// Panics if the buffer is shorter than 8 bytes; `payload_len` must be at most 65527.
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut UdpPacket<T>) {
        debug_assert!(self.payload_len <= usize::from(u16::MAX) - HEADER_LEN);
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len((HEADER_LEN + self.payload_len) as u16);
        packet.set_checksum(0);
    }

    /// Writes the header and the checksum, assuming the payload is already in place after
    /// the header (write it through `payload_mut` after `emit_header`, or copy it first).
    /// Panics if the buffer is shorter than `buffer_len()`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
    ) {
        self.emit_header(packet);
        packet.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    /// 198.18.0.1:40000 -> 198.18.0.2:9, "ping"; checksum computed independently.
    const PING: [u8; 12] = [
        0x9c, 0x40, 0x00, 0x09, 0x00, 0x0c, 0xf8, 0x93, b'p', b'i', b'n', b'g',
    ];

    #[test]
    fn parses_datagram_with_known_checksum() {
        let p = UdpPacket::new_checked(&PING[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len()), (40000, 9, 12));
        assert_eq!(p.payload(), b"ping");
        assert!(p.verify_checksum(A, B));
        assert!(
            !p.verify_checksum(A, Ipv4Addr::new(198, 18, 0, 3)),
            "pseudo-header covers the addresses"
        );
        assert_eq!(
            UdpRepr::parse(&p, A, B).unwrap(),
            UdpRepr {
                src_port: 40000,
                dst_port: 9,
                payload_len: 4
            }
        );
    }

    #[test]
    fn emit_odd_length_payload_matches_independent_checksum() {
        let mut buf = [0u8; 13];
        buf[8..].copy_from_slice(b"pong!");
        let r = UdpRepr {
            src_port: 9,
            dst_port: 40000,
            payload_len: 5,
        };
        r.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), B, A);
        assert_eq!(&buf[..8], &[0x00, 0x09, 0x9c, 0x40, 0x00, 0x0d, 0xd7, 0x8b]);
    }

    #[test]
    fn zero_checksum_means_none_and_is_accepted() {
        let mut b = PING;
        b[6] = 0;
        b[7] = 0;
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert!(UdpRepr::parse(&p, A, B).is_ok());
    }

    #[test]
    fn computed_zero_is_sent_as_ffff() {
        // Choose the payload word so that the data sums to all ones: the checksum is 0.
        let r = UdpRepr {
            src_port: 1,
            dst_port: 2,
            payload_len: 2,
        };
        let mut buf = [0u8; 10];
        r.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), A, B);
        let c = u16::from_be_bytes([buf[6], buf[7]]);
        buf[8..10].copy_from_slice(&c.to_be_bytes());
        let mut p = UdpPacket::new_unchecked(&mut buf[..]);
        p.fill_checksum(A, B);
        assert_eq!(p.checksum(), 0xFFFF);
        assert!(UdpRepr::parse(&p, A, B).is_ok());
    }

    #[test]
    fn corrupted_payload_fails_checksum() {
        let mut b = PING;
        b[11] ^= 0x20;
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            UdpRepr::parse(&p, A, B).unwrap_err(),
            WireError::BadChecksum
        );
    }

    #[test]
    fn length_field_is_checked_and_bounds_the_payload() {
        assert_eq!(
            UdpPacket::new_checked(&PING[..7]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            UdpPacket::new_checked(&PING[..11]).unwrap_err(),
            WireError::BadLength
        );
        let mut b = PING;
        b[5] = 7;
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            WireError::BadLength
        );
        let mut padded = [0u8; 20];
        padded[..12].copy_from_slice(&PING);
        let p = UdpPacket::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload(), b"ping");
        assert!(UdpRepr::parse(&p, A, B).is_ok());
    }

    #[test]
    fn swapping_ports_keeps_the_checksum_valid() {
        let mut b = PING;
        let mut p = UdpPacket::new_checked(&mut b[..]).unwrap();
        p.swap_ports();
        assert_eq!((p.src_port(), p.dst_port()), (9, 40000));
        assert!(p.verify_checksum(B, A));
    }

    const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0xa);
    const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x99);

    /// The kernel's datagram 2001:2::a:40000 -> 2001:2::99:9, "ping!", checksum 0x2311
    /// (captured; see `checksum::tests::kernel_udp_over_ipv6_checksum_verifies`).
    const PING6: [u8; 13] = [
        0x9c, 0x40, 0x00, 0x09, 0x00, 0x0d, 0x23, 0x11, b'p', b'i', b'n', b'g', b'!',
    ];

    #[test]
    fn parses_kernel_datagram_over_ipv6() {
        let p = UdpPacket::new_checked(&PING6[..]).unwrap();
        assert!(p.verify_checksum(A6, B6));
        assert!(
            !p.verify_checksum(A6, A6),
            "pseudo-header covers the addresses"
        );
        assert_eq!(
            UdpRepr::parse(&p, A6, B6).unwrap(),
            UdpRepr {
                src_port: 40000,
                dst_port: 9,
                payload_len: 5
            }
        );
        let mut out = [0u8; 13];
        out[8..].copy_from_slice(b"ping!");
        let r = UdpRepr::parse_unverified(&p);
        r.emit(&mut UdpPacket::new_unchecked(&mut out[..]), A6, B6);
        assert_eq!(out, PING6);
    }

    #[test]
    fn zero_checksum_is_invalid_over_ipv6_but_not_over_ipv4() {
        let mut b = PING6;
        b[6] = 0;
        b[7] = 0;
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert!(!p.verify_checksum(A6, B6));
        assert_eq!(
            UdpRepr::parse(&p, A6, B6).unwrap_err(),
            WireError::BadChecksum
        );
        assert!(UdpRepr::parse(&p, A, B).is_ok(), "IPv4 behaviour unchanged");
    }

    #[test]
    fn computed_zero_is_sent_as_ffff_over_ipv6() {
        let r = UdpRepr {
            src_port: 1,
            dst_port: 2,
            payload_len: 2,
        };
        let mut buf = [0u8; 10];
        r.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), A6, B6);
        let c = u16::from_be_bytes([buf[6], buf[7]]);
        buf[8..10].copy_from_slice(&c.to_be_bytes());
        let mut p = UdpPacket::new_unchecked(&mut buf[..]);
        p.fill_checksum(A6, B6);
        assert_eq!(p.checksum(), 0xFFFF);
        assert!(UdpRepr::parse(&p, A6, B6).is_ok());
    }

    proptest! {
        #[test]
        fn repr_round_trips_v6(src_port in any::<u16>(), dst_port in any::<u16>(), src in any::<u128>(), dst in any::<u128>(),
                               payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let r = UdpRepr { src_port, dst_port, payload_len: payload.len() };
            let mut buf = vec![0u8; r.buffer_len()];
            buf[HEADER_LEN..].copy_from_slice(&payload);
            r.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), src, dst);
            let p = UdpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_ne!(p.checksum(), 0);
            prop_assert_eq!(UdpRepr::parse(&p, src, dst).unwrap(), r);
        }

        #[test]
        fn repr_round_trips(src_port in any::<u16>(), dst_port in any::<u16>(), src in any::<u32>(), dst in any::<u32>(),
                            payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let r = UdpRepr { src_port, dst_port, payload_len: payload.len() };
            let mut buf = vec![0u8; r.buffer_len()];
            let mut p = UdpPacket::new_unchecked(&mut buf[..]);
            r.emit_header(&mut p);
            p.payload_mut().copy_from_slice(&payload);
            p.fill_checksum(src, dst);
            prop_assert_ne!(p.checksum(), 0);
            let p = UdpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(UdpRepr::parse(&p, src, dst).unwrap(), r);
            prop_assert_eq!(p.payload(), &payload[..]);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64), src in any::<u32>(), dst in any::<u32>()) {
            if let Ok(p) = UdpPacket::new_checked(&data[..]) {
                let _ = UdpRepr::parse(&p, Ipv4Addr::from(src), Ipv4Addr::from(dst));
                let _ = UdpRepr::parse(&p, Ipv6Addr::from(u128::from(src) << 64), Ipv6Addr::from(u128::from(dst)));
                let _ = p.payload();
            }
        }
    }
}
