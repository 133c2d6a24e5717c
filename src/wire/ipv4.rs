//! wire/ipv4: the IPv4 header (RFC 791), with options carried but not interpreted.
//!
//! Layer: `wire/`, sans-IO. It owns the IPv4 header layout, its checksum and the
//! [`IpProtocol`] numbers. Invariants of an [`Ipv4Packet`] from `new_checked`: version is 4,
//! 20 <= header length (IHL×4) <= total length <= buffer length, so no accessor panics.
//! The buffer may be longer than the total length (Ethernet minimum-frame padding): the
//! payload is always bounded by the total length. A fragment (MF set or offset != 0)
//! parses as a view, and [`Ipv4Repr::parse`] reports it, once the header checksum has
//! verified, as `WireError::Fragment`: the stack then hands it to reassembly
//! (`proto::reassembly`).

use core::fmt;
use core::net::Ipv4Addr;

use super::{be, checksum, WireError};

/// The IPv4 protocol / IPv6 next-header number of an upper layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    Icmp,
    Tcp,
    Udp,
    /// ICMP for IPv6 (58); over IPv4 it is just an unknown protocol to the stack.
    Icmpv6,
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        match v {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            58 => IpProtocol::Icmpv6,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(p: IpProtocol) -> u8 {
        match p {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Icmpv6 => 58,
            IpProtocol::Unknown(v) => v,
        }
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::Icmp => f.write_str("ICMP"),
            IpProtocol::Tcp => f.write_str("TCP"),
            IpProtocol::Udp => f.write_str("UDP"),
            IpProtocol::Icmpv6 => f.write_str("ICMPv6"),
            IpProtocol::Unknown(v) => write!(f, "proto {v}"),
        }
    }
}

mod field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
    pub const OPTIONS: usize = 20;
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::OPTIONS;
/// Largest IPv4 header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1FFF;

/// A view over an IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` (< 20 bytes), `BadVersion` (not 4), `BadHeaderLength` (IHL < 5 or past
    /// the buffer), `BadLength` (total length < header length or > buffer).
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 4 {
            return Err(WireError::BadVersion);
        }
        let hlen = self.header_len();
        if hlen < HEADER_LEN || hlen > b.len() {
            return Err(WireError::BadHeaderLength);
        }
        let total = usize::from(self.total_len());
        if total < hlen || total > b.len() {
            return Err(WireError::BadLength);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0F) * 4
    }

    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Total length field: header plus payload.
    pub fn total_len(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::LENGTH)
    }

    pub fn ident(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::IDENT)
    }

    fn flags_offset(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::FLG_OFF)
    }

    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flags_offset() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the 13-bit field × 8).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & OFFSET_MASK) << 3
    }

    /// MF set or a non-zero offset: this is a piece of a larger datagram.
    pub fn is_fragment(&self) -> bool {
        self.flags_offset() & (FLAG_MF | OFFSET_MASK) != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> IpProtocol {
        self.buffer.as_ref()[field::PROTOCOL].into()
    }

    pub fn checksum(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(be::u32_at(self.buffer.as_ref(), field::SRC))
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(be::u32_at(self.buffer.as_ref(), field::DST))
    }

    /// The options bytes (empty when IHL is 5).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// The header bytes, options included.
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }

    /// The header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(self.header()) == 0xFFFF
    }

    /// The payload, bounded by the total length (padding after it is excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }

    /// The packet bytes, bounded by the total length.
    pub fn packet(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    pub fn set_version_and_header_len(&mut self, version: u8, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = (version << 4) | ((header_len / 4) as u8 & 0x0F);
    }

    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = (dscp << 2) | (ecn & 0x03);
    }

    pub fn set_total_len(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::LENGTH, v);
    }

    pub fn set_ident(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::IDENT, v);
    }

    /// Sets DF, MF and the fragment offset (in bytes; must be a multiple of 8).
    pub fn set_flags_and_offset(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut v = (offset >> 3) & OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        be::set_u16(self.buffer.as_mut(), field::FLG_OFF, v);
    }

    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    pub fn set_protocol(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = p.into();
    }

    pub fn set_checksum(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        be::set_u32(self.buffer.as_mut(), field::SRC, a.into());
    }

    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        be::set_u32(self.buffer.as_mut(), field::DST, a.into());
    }

    /// Recomputes the header checksum over the header (options included).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }

    /// Swaps source and destination in place. Neither the header checksum nor a TCP/UDP
    /// pseudo-header sum changes (the sum is order-independent), so a datagram can be
    /// reflected without recomputing either.
    pub fn swap_addrs(&mut self) {
        let (s, d) = (self.src_addr(), self.dst_addr());
        self.set_src_addr(d);
        self.set_dst_addr(s);
    }

    /// Sets the TTL and patches the header checksum incrementally (RFC 1624), for a
    /// reflected datagram that should leave with a fresh TTL.
    pub fn set_ttl_update_checksum(&mut self, ttl: u8) {
        let proto = self.buffer.as_ref()[field::PROTOCOL];
        let old = u16::from_be_bytes([self.ttl(), proto]);
        let new = u16::from_be_bytes([ttl, proto]);
        self.set_ttl(ttl);
        let c = checksum::update_u16(self.checksum(), old, new);
        self.set_checksum(c);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }

    /// The payload, bounded by the total length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[start..end]
    }
}

/// A parsed (or to-be-emitted) IPv4 header. Options are skipped on parse and never
/// emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    /// Bytes after the header (total length − header length).
    pub payload_len: usize,
    pub ttl: u8,
    pub dscp: u8,
    pub ecn: u8,
    pub ident: u16,
}

impl Ipv4Repr {
    /// Default TTL, as Linux uses.
    pub const DEFAULT_TTL: u8 = 64;

    /// A header with TTL 64, DSCP/ECN 0 and identification 0.
    pub const fn new(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        payload_len: usize,
    ) -> Self {
        Ipv4Repr {
            src,
            dst,
            protocol,
            payload_len,
            ttl: Self::DEFAULT_TTL,
            dscp: 0,
            ecn: 0,
            ident: 0,
        }
    }

    /// Parses and validates: structure (see [`Ipv4Packet::check_len`]), header checksum
    /// (`BadChecksum`), then fragments (`Fragment`).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Ipv4Repr, WireError> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        if packet.is_fragment() {
            return Err(WireError::Fragment);
        }
        Ok(Ipv4Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            ttl: packet.ttl(),
            dscp: packet.dscp(),
            ecn: packet.ecn(),
            ident: packet.ident(),
        })
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes a 20-byte header (IHL 5, DF set, offset 0) and its checksum. Panics if the
    /// buffer is shorter than 20 bytes; `payload_len` must be at most 65515.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv4Packet<T>) {
        debug_assert!(self.payload_len <= usize::from(u16::MAX) - HEADER_LEN);
        packet.set_version_and_header_len(4, HEADER_LEN);
        packet.set_dscp_ecn(self.dscp, self.ecn);
        packet.set_total_len((HEADER_LEN + self.payload_len) as u16);
        packet.set_ident(self.ident);
        packet.set_flags_and_offset(true, false, 0);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A 20-byte header: 198.18.0.1 -> 198.18.0.199, UDP, total length 0x73, DF,
    /// TTL 64, checksum 0xad8d (computed independently).
    const HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xad, 0x8d, 0xc6, 0x12, 0x00,
        0x01, 0xc6, 0x12, 0x00, 0xc7,
    ];

    fn packet_with_payload() -> Vec<u8> {
        let mut v = HEADER.to_vec();
        v.resize(0x73, 0xab);
        v
    }

    #[test]
    fn parses_known_header() {
        let buf = packet_with_payload();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 0x73);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::Udp);
        assert!(p.verify_checksum());
        assert!(p.options().is_empty());
        assert_eq!(p.payload().len(), 0x73 - 20);
        let r = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(r.src, Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(r.dst, Ipv4Addr::new(198, 18, 0, 199));
        assert_eq!(r.payload_len, 0x73 - 20);
    }

    #[test]
    fn emit_reproduces_known_header() {
        let r = Ipv4Repr::new(
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(198, 18, 0, 199),
            IpProtocol::Udp,
            0x73 - 20,
        );
        let mut buf = [0u8; 20];
        r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, HEADER);
    }

    #[test]
    fn ethernet_padding_after_total_length_is_excluded_from_payload() {
        // A 28-byte datagram (e.g. a small ICMP echo) arrives in a 46-byte padded payload.
        let r = Ipv4Repr::new(
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(198, 18, 0, 2),
            IpProtocol::Icmp,
            8,
        );
        let mut buf = [0xeeu8; 46];
        r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.payload().len(), 8);
        assert_eq!(p.packet().len(), 28);
        assert_eq!(Ipv4Repr::parse(&p).unwrap(), r);
    }

    #[test]
    fn header_with_options_exposes_them_and_verifies() {
        // IHL 6: one 4-byte option (Router Alert, RFC 2113: 94 04 00 00).
        let mut buf = [0u8; 28];
        buf[0] = 0x46;
        buf[2..4].copy_from_slice(&28u16.to_be_bytes());
        buf[8] = 1;
        buf[9] = 17;
        buf[12..16].copy_from_slice(&[198, 18, 0, 1]);
        buf[16..20].copy_from_slice(&[198, 18, 0, 2]);
        buf[20..24].copy_from_slice(&[0x94, 0x04, 0x00, 0x00]);
        let mut p = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
        p.fill_checksum();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(p.payload().len(), 4);
        let r = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(r.payload_len, 4);
    }

    #[test]
    fn structural_errors_are_typed() {
        let buf = packet_with_payload();
        assert_eq!(
            Ipv4Packet::new_checked(&buf[..19]).unwrap_err(),
            WireError::Truncated
        );
        let mut b = buf.clone();
        b[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            WireError::BadVersion
        );
        let mut b = buf.clone();
        b[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            WireError::BadHeaderLength
        );
        let mut b = buf.clone();
        b[0] = 0x4f; // 60-byte header, buffer has 115: fine structurally
        assert!(Ipv4Packet::new_checked(&b[..]).is_ok());
        assert_eq!(
            Ipv4Packet::new_checked(&b[..40]).unwrap_err(),
            WireError::BadHeaderLength
        );
        // total length beyond the buffer
        assert_eq!(
            Ipv4Packet::new_checked(&buf[..0x72]).unwrap_err(),
            WireError::BadLength
        );
        // total length below the header length
        let mut b = buf.clone();
        b[2] = 0;
        b[3] = 19;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            WireError::BadLength
        );
    }

    #[test]
    fn corrupted_header_fails_checksum() {
        let mut b = packet_with_payload();
        b[8] = 63; // TTL changed without fixing the checksum
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p).unwrap_err(), WireError::BadChecksum);
    }

    #[test]
    fn fragments_are_rejected() {
        for (df_mf_off, is_frag) in [
            (0x4000u16, false),
            (0x2000, true),
            (0x0001, true),
            (0x6000, true),
        ] {
            let mut b = packet_with_payload();
            b[6..8].copy_from_slice(&df_mf_off.to_be_bytes());
            let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
            p.fill_checksum();
            assert_eq!(p.is_fragment(), is_frag, "{df_mf_off:#x}");
            assert_eq!(
                Ipv4Repr::parse(&p).err() == Some(WireError::Fragment),
                is_frag
            );
        }
        let mut b = packet_with_payload();
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_flags_and_offset(false, true, 1480);
        assert_eq!(p.frag_offset(), 1480);
        assert!(p.more_frags() && !p.dont_frag());
    }

    #[test]
    fn reflect_in_place_keeps_the_header_valid() {
        let mut b = packet_with_payload();
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.swap_addrs();
        p.set_ttl_update_checksum(255);
        assert_eq!(p.src_addr(), Ipv4Addr::new(198, 18, 0, 199));
        assert_eq!(p.ttl(), 255);
        assert!(p.verify_checksum());
    }

    fn proto_strategy() -> impl Strategy<Value = IpProtocol> {
        any::<u8>().prop_map(IpProtocol::from)
    }

    proptest! {
        #[test]
        fn repr_round_trips(src in any::<u32>(), dst in any::<u32>(), protocol in proto_strategy(),
                            payload_len in 0usize..1500, ttl in any::<u8>(), dscp in 0u8..64,
                            ecn in 0u8..4, ident in any::<u16>()) {
            let r = Ipv4Repr { src: src.into(), dst: dst.into(), protocol, payload_len, ttl, dscp, ecn, ident };
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
            let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Ipv4Repr::parse(&p).unwrap(), r);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            if let Ok(p) = Ipv4Packet::new_checked(&data[..]) {
                let _ = Ipv4Repr::parse(&p);
                let _ = (p.options(), p.payload(), p.packet(), p.frag_offset(), p.verify_checksum());
            }
        }

        #[test]
        fn random_bytes_after_a_plausible_first_byte_never_panic(
            ihl in 0u8..16, data in proptest::collection::vec(any::<u8>(), 0..100)
        ) {
            let mut data = data;
            if !data.is_empty() { data[0] = 0x40 | ihl; }
            if let Ok(p) = Ipv4Packet::new_checked(&data[..]) {
                let _ = Ipv4Repr::parse(&p);
                let _ = (p.options(), p.payload());
            }
        }
    }
}
