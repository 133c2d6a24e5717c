//! wire/arp: ARP (RFC 826) for Ethernet hardware and IPv4 protocol addresses only.
//!
//! Layer: `wire/`, sans-IO. It owns the 28-byte Ethernet/IPv4 ARP packet. Invariants: an
//! [`ArpPacket`] from `new_checked` holds at least [`PACKET_LEN`] bytes and at least as many
//! as its own hlen/plen fields announce, so no accessor panics. The address accessors read
//! the Ethernet/IPv4 layout; they are meaningful only once [`ArpRepr::parse`] has checked
//! htype 1 / ptype 0x0800 (else `Unsupported`) and hlen 6 / plen 4 (else `Malformed`).
//! Trailing bytes (Ethernet padding) are ignored.

use core::net::Ipv4Addr;

use super::ethernet::EthernetAddress;
use super::{be, WireError};

/// ARP hardware type for Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// ARP protocol type for IPv4 (the IPv4 EtherType).
pub const PTYPE_IPV4: u16 = 0x0800;

/// The ARP operation code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    Request,
    Reply,
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(v: u16) -> Self {
        match v {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Unknown(other),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(op: ArpOperation) -> u16 {
        match op {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(v) => v,
        }
    }
}

mod field {
    use core::ops::Range;
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const FIXED_END: usize = 8;
    // Ethernet/IPv4 layout of the variable part.
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: usize = 14;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: usize = 24;
    pub const END: usize = 28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::END;

/// A view over an ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if the buffer is shorter than an Ethernet/IPv4 ARP packet or than the
    /// length its own hlen/plen fields announce.
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < PACKET_LEN {
            return Err(WireError::Truncated);
        }
        let announced =
            field::FIXED_END + 2 * (usize::from(b[field::HLEN]) + usize::from(b[field::PLEN]));
        if b.len() < announced {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn hardware_type(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::HTYPE)
    }

    pub fn protocol_type(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::PTYPE)
    }

    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    pub fn operation(&self) -> ArpOperation {
        be::u16_at(self.buffer.as_ref(), field::OPER).into()
    }

    pub fn source_hardware_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::SHA])
    }

    pub fn source_protocol_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(be::u32_at(self.buffer.as_ref(), field::SPA))
    }

    pub fn target_hardware_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::THA])
    }

    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(be::u32_at(self.buffer.as_ref(), field::TPA))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    pub fn set_hardware_type(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::HTYPE, v);
    }

    pub fn set_protocol_type(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::PTYPE, v);
    }

    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }

    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }

    pub fn set_operation(&mut self, op: ArpOperation) {
        be::set_u16(self.buffer.as_mut(), field::OPER, op.into());
    }

    pub fn set_source_hardware_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&a.0);
    }

    pub fn set_source_protocol_addr(&mut self, a: Ipv4Addr) {
        be::set_u32(self.buffer.as_mut(), field::SPA, a.into());
    }

    pub fn set_target_hardware_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&a.0);
    }

    pub fn set_target_protocol_addr(&mut self, a: Ipv4Addr) {
        be::set_u32(self.buffer.as_mut(), field::TPA, a.into());
    }
}

/// A parsed Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    pub operation: ArpOperation,
    pub source_hw: EthernetAddress,
    pub source_ip: Ipv4Addr,
    pub target_hw: EthernetAddress,
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Checks the packet is Ethernet/IPv4 (`Unsupported` otherwise) with 6/4-byte
    /// addresses (`Malformed` otherwise). Unknown operations are returned as such.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<ArpRepr, WireError> {
        packet.check_len()?;
        if packet.hardware_type() != HTYPE_ETHERNET || packet.protocol_type() != PTYPE_IPV4 {
            return Err(WireError::Unsupported);
        }
        if packet.hardware_len() != 6 || packet.protocol_len() != 4 {
            return Err(WireError::Malformed);
        }
        Ok(ArpRepr {
            operation: packet.operation(),
            source_hw: packet.source_hardware_addr(),
            source_ip: packet.source_protocol_addr(),
            target_hw: packet.target_hardware_addr(),
            target_ip: packet.target_protocol_addr(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    pub const fn header_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the whole packet; panics if the buffer is shorter than [`PACKET_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ArpPacket<T>) {
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(PTYPE_IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(self.source_hw);
        packet.set_source_protocol_addr(self.source_ip);
        packet.set_target_hardware_addr(self.target_hw);
        packet.set_target_protocol_addr(self.target_ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ethernet::{EtherType, EthernetFrame};
    use proptest::prelude::*;

    /// A broadcast who-has 198.18.0.2 tell 198.18.0.1 as Linux sends it: a 42-byte frame
    /// padded to the 60-byte Ethernet minimum with zeros.
    const ARP_REQUEST_FRAME: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst: broadcast
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // src
        0x08, 0x06, // ARP
        0x00, 0x01, // htype Ethernet
        0x08, 0x00, // ptype IPv4
        0x06, 0x04, // hlen, plen
        0x00, 0x01, // request
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // sha
        0xc6, 0x12, 0x00, 0x01, // spa 198.18.0.1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // tha
        0xc6, 0x12, 0x00, 0x02, // tpa 198.18.0.2
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
    ];

    fn request_repr() -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Request,
            source_hw: EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            source_ip: Ipv4Addr::new(198, 18, 0, 1),
            target_hw: EthernetAddress([0; 6]),
            target_ip: Ipv4Addr::new(198, 18, 0, 2),
        }
    }

    #[test]
    fn parses_captured_request_inside_padded_frame() {
        let f = EthernetFrame::new_checked(&ARP_REQUEST_FRAME[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::Arp);
        let p = ArpPacket::new_checked(f.payload()).unwrap();
        assert_eq!(ArpRepr::parse(&p).unwrap(), request_repr());
    }

    #[test]
    fn emit_reproduces_the_captured_bytes() {
        let mut buf = [0u8; PACKET_LEN];
        request_repr().emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        assert_eq!(buf[..], ARP_REQUEST_FRAME[14..42]);
    }

    #[test]
    fn non_ethernet_hardware_is_unsupported() {
        let mut b: [u8; 28] = ARP_REQUEST_FRAME[14..42].try_into().unwrap();
        b[1] = 6; // IEEE 802
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p).unwrap_err(), WireError::Unsupported);
    }

    #[test]
    fn non_ipv4_protocol_is_unsupported() {
        let mut b: [u8; 28] = ARP_REQUEST_FRAME[14..42].try_into().unwrap();
        b[2] = 0x86;
        b[3] = 0xdd;
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p).unwrap_err(), WireError::Unsupported);
    }

    #[test]
    fn wrong_address_sizes_are_malformed() {
        let mut b: [u8; 28] = ARP_REQUEST_FRAME[14..42].try_into().unwrap();
        b[5] = 3;
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p).unwrap_err(), WireError::Malformed);
    }

    #[test]
    fn oversized_announced_lengths_are_truncated() {
        let mut b: [u8; 28] = ARP_REQUEST_FRAME[14..42].try_into().unwrap();
        b[4] = 200;
        assert_eq!(
            ArpPacket::new_checked(&b[..]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            ArpPacket::new_checked(&ARP_REQUEST_FRAME[14..41]).unwrap_err(),
            WireError::Truncated
        );
    }

    fn op_strategy() -> impl Strategy<Value = ArpOperation> {
        any::<u16>().prop_map(ArpOperation::from)
    }

    proptest! {
        #[test]
        fn repr_round_trips(op in op_strategy(), sha in any::<[u8; 6]>(), spa in any::<u32>(),
                            tha in any::<[u8; 6]>(), tpa in any::<u32>()) {
            let repr = ArpRepr {
                operation: op,
                source_hw: EthernetAddress(sha),
                source_ip: Ipv4Addr::from(spa),
                target_hw: EthernetAddress(tha),
                target_ip: Ipv4Addr::from(tpa),
            };
            let mut buf = [0u8; PACKET_LEN];
            repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
            prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()).unwrap(), repr);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = ArpPacket::new_checked(&data[..]) {
                let _ = ArpRepr::parse(&p);
                let _ = (p.operation(), p.source_hardware_addr(), p.target_protocol_addr());
            }
        }

        #[test]
        fn valid_header_with_random_tail_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut data = vec![0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02];
            data.extend_from_slice(&tail);
            if let Ok(p) = ArpPacket::new_checked(&data[..]) {
                prop_assert!(ArpRepr::parse(&p).is_ok());
            }
        }
    }
}
