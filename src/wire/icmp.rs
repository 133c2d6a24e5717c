//! wire/icmp: ICMPv4 (RFC 792): echo request/reply, destination unreachable and time
//! exceeded.
//!
//! Layer: `wire/`, sans-IO. It owns the ICMPv4 message layout, its checksum (over the whole
//! message), and the construction of the destination-unreachable and time-exceeded errors
//! that quote the offending datagram (RFC 792, RFC 1122 §3.2.2, RFC 1812 §4.3.2.3). Invariants: an
//! [`Icmpv4Packet`] from `new_checked` holds at least the 8-byte header, so no accessor
//! panics; the buffer it wraps must be exactly the ICMP message (the IPv4 payload, bounded
//! by total length), because the checksum covers every byte of it.

use core::net::Ipv4Addr;

use super::ipv4::{IpProtocol, Ipv4Packet};
use super::{be, checksum, WireError};

/// ICMPv4 message types xstack knows by name.
pub mod msg_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAMETER_PROBLEM: u8 = 12;
}

/// Destination-unreachable codes (RFC 792).
pub mod unreach_code {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const PORT: u8 = 3;
    pub const FRAG_NEEDED: u8 = 4;
}

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ_NO: usize = 6;
    pub const REST: core::ops::Range<usize> = 4..8;
    pub const DATA: usize = 8;
}

/// Time-exceeded codes (RFC 792).
pub mod time_exceeded_code {
    /// Time to live exceeded in transit.
    pub const TTL: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const REASSEMBLY: u8 = 1;
}

/// Length of the ICMP header (type, code, checksum, rest-of-header).
pub const HEADER_LEN: usize = field::DATA;
/// Payload bytes of the offending datagram quoted after its IP header (RFC 792).
pub const QUOTED_PAYLOAD_LEN: usize = 8;

/// A view over an ICMPv4 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Echo identifier (meaningful for echo request/reply).
    pub fn echo_ident(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::IDENT)
    }

    /// Echo sequence number (meaningful for echo request/reply).
    pub fn echo_seq_no(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::SEQ_NO)
    }

    /// The 4 type-specific bytes after the checksum.
    pub fn rest_of_header(&self) -> &[u8] {
        &self.buffer.as_ref()[field::REST]
    }

    /// Everything after the 8-byte header: echo data, or the quoted datagram of an error.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    /// The checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(self.buffer.as_ref()) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn set_echo_ident(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::IDENT, v);
    }

    pub fn set_echo_seq_no(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::SEQ_NO, v);
    }

    pub fn rest_of_header_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::REST]
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }

    /// Recomputes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Turns an echo request into an echo reply in place, updating the checksum
    /// incrementally (RFC 1624) instead of re-summing the data.
    ///
    /// The update gives 0x0000 where a recompute gives 0xFFFF when every other word of
    /// the reply is zero (identifier, sequence number and data all zero): that reply
    /// would sum to 0 and fail the receiver's check. 0xFFFF is written instead, which
    /// verifies whatever the data (it is the other ones'-complement zero).
    pub fn echo_request_into_reply(&mut self) {
        let old = u16::from_be_bytes([self.msg_type(), self.msg_code()]);
        self.set_msg_type(msg_type::ECHO_REPLY);
        let new = u16::from_be_bytes([self.msg_type(), self.msg_code()]);
        let c = checksum::update_u16(self.checksum(), old, new);
        self.set_checksum(if c == 0 { 0xFFFF } else { c });
    }
}

/// A parsed ICMPv4 message of a kind xstack handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    /// `quoted` is the offending IP header plus the start of its payload.
    DstUnreachable { code: u8, quoted: &'a [u8] },
    /// Quotes as `DstUnreachable` does.
    TimeExceeded { code: u8, quoted: &'a [u8] },
}

impl<'a> Icmpv4Repr<'a> {
    /// Verifies the checksum (`BadChecksum`); echo with code != 0 is `Malformed`; types other
    /// than echo request/reply, destination unreachable and time exceeded are
    /// `Unsupported`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Icmpv4Packet<&'a T>) -> Result<Self, WireError> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        let whole: &'a T = packet.buffer;
        let data = &whole.as_ref()[field::DATA..];
        match (packet.msg_type(), packet.msg_code()) {
            (msg_type::ECHO_REQUEST, 0) => Ok(Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (msg_type::ECHO_REPLY, 0) => Ok(Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (msg_type::ECHO_REQUEST | msg_type::ECHO_REPLY, _) => Err(WireError::Malformed),
            (msg_type::DST_UNREACHABLE, code) => {
                Ok(Icmpv4Repr::DstUnreachable { code, quoted: data })
            }
            (msg_type::TIME_EXCEEDED, code) => Ok(Icmpv4Repr::TimeExceeded { code, quoted: data }),
            _ => Err(WireError::Unsupported),
        }
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => {
                    data.len()
                }
                Icmpv4Repr::DstUnreachable { quoted, .. }
                | Icmpv4Repr::TimeExceeded { quoted, .. } => quoted.len(),
            }
    }

    /// Writes the message and its checksum. The packet's buffer must be exactly
    /// `buffer_len()` bytes (the checksum covers all of it); panics if shorter.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Icmpv4Packet<T>) {
        let len = self.buffer_len();
        match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }
            | Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                let t = if matches!(self, Icmpv4Repr::EchoRequest { .. }) {
                    msg_type::ECHO_REQUEST
                } else {
                    msg_type::ECHO_REPLY
                };
                packet.set_msg_type(t);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                packet.data_mut()[..data.len()].copy_from_slice(data);
            }
            Icmpv4Repr::DstUnreachable { code, quoted }
            | Icmpv4Repr::TimeExceeded { code, quoted } => {
                let t = if matches!(self, Icmpv4Repr::DstUnreachable { .. }) {
                    msg_type::DST_UNREACHABLE
                } else {
                    msg_type::TIME_EXCEEDED
                };
                packet.set_msg_type(t);
                packet.set_msg_code(code);
                packet.rest_of_header_mut().fill(0);
                packet.data_mut()[..quoted.len()].copy_from_slice(quoted);
            }
        }
        packet.set_checksum(0);
        let c = checksum::checksum(&packet.buffer.as_ref()[..len]);
        packet.set_checksum(c);
    }
}

fn is_unique_host(a: Ipv4Addr) -> bool {
    !(a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_loopback()
        || a.octets()[0] >= 240)
}

/// Whether RFC 1122 §3.2.2 / RFC 1812 §4.3.2.7 allow answering `original` with an ICMP
/// error. No error is sent about: an ICMP error message (or an ICMP message too short to
/// tell), a datagram to an IP broadcast or multicast address, a non-initial fragment, or a
/// datagram whose source is not a unique host (0.0.0.0, broadcast, multicast, loopback,
/// class E). The caller must also refuse frames that arrived as link-layer broadcast or
/// multicast and datagrams to a subnet-directed broadcast (this layer knows no netmask).
pub fn may_send_icmp_error<T: AsRef<[u8]>>(original: &Ipv4Packet<T>) -> bool {
    if original.frag_offset() != 0 {
        return false;
    }
    let dst = original.dst_addr();
    if dst.is_broadcast() || dst.is_multicast() {
        return false;
    }
    if !is_unique_host(original.src_addr()) {
        return false;
    }
    if original.protocol() == IpProtocol::Icmp {
        match original.payload().first() {
            None => return false,
            Some(&t) => {
                let is_error = matches!(
                    t,
                    msg_type::DST_UNREACHABLE
                        | msg_type::SOURCE_QUENCH
                        | msg_type::REDIRECT
                        | msg_type::TIME_EXCEEDED
                        | msg_type::PARAMETER_PROBLEM
                );
                if is_error {
                    return false;
                }
            }
        }
    }
    true
}

/// Length of the destination-unreachable message that quotes `original` (which must pass
/// `Ipv4Packet::new_checked`): header + original IP header + up to 8 payload bytes.
pub fn dst_unreachable_len<T: AsRef<[u8]>>(original: &Ipv4Packet<T>) -> usize {
    HEADER_LEN + original.header_len() + original.payload().len().min(QUOTED_PAYLOAD_LEN)
}

/// Builds an ICMP destination unreachable (type 3, `code`) into `out`, quoting the IP
/// header of `original` (the offending datagram's bytes from its IP header on, options
/// included, as received) and the first 8 bytes of its payload (fewer if it is shorter).
/// Returns the ICMP message length; the caller wraps it in an IPv4 header addressed to the
/// original source. Errors: whatever `Ipv4Packet::new_checked` says about `original`, or
/// `Truncated` if `out` is too small. It does not apply [`may_send_icmp_error`]; call that
/// first.
pub fn emit_dst_unreachable(code: u8, original: &[u8], out: &mut [u8]) -> Result<usize, WireError> {
    emit_quoting(original, out, |quoted| Icmpv4Repr::DstUnreachable {
        code,
        quoted,
    })
}

/// Builds an ICMP time exceeded (type 11, `code`) into `out`, quoting `original` as
/// [`emit_dst_unreachable`] does; the same errors, and the same caller's duties.
pub fn emit_time_exceeded(code: u8, original: &[u8], out: &mut [u8]) -> Result<usize, WireError> {
    emit_quoting(original, out, |quoted| Icmpv4Repr::TimeExceeded {
        code,
        quoted,
    })
}

/// An error message quoting `original`'s IP header and up to 8 bytes of its payload.
fn emit_quoting<'a>(
    original: &'a [u8],
    out: &mut [u8],
    repr: impl FnOnce(&'a [u8]) -> Icmpv4Repr<'a>,
) -> Result<usize, WireError> {
    let orig = Ipv4Packet::new_checked(original)?;
    let quote_len = orig.header_len() + orig.payload().len().min(QUOTED_PAYLOAD_LEN);
    let len = HEADER_LEN + quote_len;
    if out.len() < len {
        return Err(WireError::Truncated);
    }
    repr(&original[..quote_len]).emit(&mut Icmpv4Packet::new_unchecked(&mut out[..len]));
    Ok(len)
}

/// [`emit_dst_unreachable`] with code 3 (port unreachable): the answer to a UDP datagram
/// for a port nobody listens on.
pub fn emit_port_unreachable(original: &[u8], out: &mut [u8]) -> Result<usize, WireError> {
    emit_dst_unreachable(unreach_code::PORT, original, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `ping -c1` from Linux iputils: id 0x1c2b, seq 1, 56 data bytes (a 16-byte timeval,
    /// then 0x10..0x37). Checksum computed independently.
    fn echo_request() -> Vec<u8> {
        let mut v = vec![0x08, 0x00, 0xf1, 0x9a, 0x1c, 0x2b, 0x00, 0x01];
        v.extend_from_slice(&[
            0x5f, 0x1e, 0x8a, 0x65, 0, 0, 0, 0, 0x40, 0xe2, 0x01, 0, 0, 0, 0, 0,
        ]);
        v.extend(0x10u8..0x38);
        v
    }

    #[test]
    fn parses_linux_ping_request() {
        let buf = echo_request();
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        match Icmpv4Repr::parse(&p).unwrap() {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                assert_eq!((ident, seq_no, data.len()), (0x1c2b, 1, 56));
                assert_eq!(data[16], 0x10);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    // Found by the wire_ipv4_icmp fuzz target: an echo request whose identifier,
    // sequence number and data are all zero was answered with checksum 0x0000, which sums
    // to 0 and fails the check (Linux drops such a reply).
    #[test]
    fn an_all_zero_echo_request_gets_a_reply_that_verifies() {
        for len in [8, 9, 64] {
            let mut req = vec![0u8; len];
            req[0] = msg_type::ECHO_REQUEST;
            Icmpv4Packet::new_unchecked(&mut req[..]).fill_checksum();
            assert_eq!(req[2..4], [0xf7, 0xff]);
            let mut p = Icmpv4Packet::new_unchecked(&mut req[..]);
            p.echo_request_into_reply();
            assert_eq!(p.msg_type(), msg_type::ECHO_REPLY);
            assert!(
                p.verify_checksum(),
                "{len} bytes: checksum {:#06x}",
                p.checksum()
            );
        }
    }

    #[test]
    fn emit_reply_matches_independent_checksum() {
        let req = echo_request();
        let mut out = vec![0u8; req.len()];
        let reply = Icmpv4Repr::EchoReply {
            ident: 0x1c2b,
            seq_no: 1,
            data: &req[8..],
        };
        assert_eq!(reply.buffer_len(), req.len());
        reply.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
        assert_eq!(&out[..4], &[0x00, 0x00, 0xf9, 0x9a]);
        assert_eq!(&out[4..], &req[4..]);
    }

    #[test]
    fn in_place_request_to_reply_matches_full_emit() {
        let mut buf = echo_request();
        let mut p = Icmpv4Packet::new_checked(&mut buf[..]).unwrap();
        p.echo_request_into_reply();
        assert_eq!(p.checksum(), 0xf99a);
        assert!(p.verify_checksum());
    }

    #[test]
    fn corrupted_echo_fails_checksum() {
        let mut buf = echo_request();
        buf[20] ^= 1;
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p).unwrap_err(), WireError::BadChecksum);
    }

    #[test]
    fn unknown_type_is_unsupported_and_bad_echo_code_is_malformed() {
        let mut buf = [13u8, 0, 0, 0, 0, 0, 0, 0]; // timestamp request
        Icmpv4Packet::new_unchecked(&mut buf[..]).fill_checksum();
        assert_eq!(
            Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&buf[..]).unwrap()).unwrap_err(),
            WireError::Unsupported
        );
        let mut buf = [8u8, 1, 0, 0, 0, 0, 0, 0];
        Icmpv4Packet::new_unchecked(&mut buf[..]).fill_checksum();
        assert_eq!(
            Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&buf[..]).unwrap()).unwrap_err(),
            WireError::Malformed
        );
        assert_eq!(
            Icmpv4Packet::new_checked(&buf[..7]).unwrap_err(),
            WireError::Truncated
        );
    }

    /// UDP 198.18.0.1:40000 -> 198.18.0.2:9 carrying "ping" (IP checksum 0x9c71, UDP
    /// checksum 0 = none).
    const UDP_DATAGRAM: [u8; 32] = [
        0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x9c, 0x71, 0xc6, 0x12, 0x00,
        0x01, 0xc6, 0x12, 0x00, 0x02, 0x9c, 0x40, 0x00, 0x09, 0x00, 0x0c, 0x00, 0x00, b'p', b'i',
        b'n', b'g',
    ];

    #[test]
    fn port_unreachable_quotes_header_and_first_8_payload_bytes() {
        let mut out = [0u8; 64];
        let n = emit_port_unreachable(&UDP_DATAGRAM, &mut out).unwrap();
        assert_eq!(n, 8 + 20 + 8);
        assert_eq!(&out[..8], &[3, 3, 0x60, 0xa7, 0, 0, 0, 0]);
        assert_eq!(&out[8..n], &UDP_DATAGRAM[..28]);
        let p = Icmpv4Packet::new_checked(&out[..n]).unwrap();
        assert_eq!(
            Icmpv4Repr::parse(&p).unwrap(),
            Icmpv4Repr::DstUnreachable {
                code: 3,
                quoted: &UDP_DATAGRAM[..28]
            }
        );
        assert_eq!(
            dst_unreachable_len(&Ipv4Packet::new_checked(&UDP_DATAGRAM[..]).unwrap()),
            n
        );
    }

    #[test]
    fn time_exceeded_quotes_as_unreachable_does() {
        let mut out = [0u8; 64];
        let n =
            emit_time_exceeded(time_exceeded_code::REASSEMBLY, &UDP_DATAGRAM, &mut out).unwrap();
        assert_eq!(n, 8 + 20 + 8);
        // The checksum: the port unreachable's (0x60a7 over type/code 0x0303), moved by
        // the type/code word's difference (0x0b01 - 0x0303), worked out by hand.
        assert_eq!(&out[..8], &[11, 1, 0x58, 0xa9, 0, 0, 0, 0]);
        assert_eq!(&out[8..n], &UDP_DATAGRAM[..28]);
        let p = Icmpv4Packet::new_checked(&out[..n]).unwrap();
        assert_eq!(
            Icmpv4Repr::parse(&p).unwrap(),
            Icmpv4Repr::TimeExceeded {
                code: 1,
                quoted: &UDP_DATAGRAM[..28]
            }
        );
    }

    #[test]
    fn port_unreachable_quotes_less_when_payload_is_short_and_ignores_padding() {
        let mut orig = [0u8; 46];
        orig[..24].copy_from_slice(&UDP_DATAGRAM[..24]);
        orig[3] = 24; // total length 24: 4 payload bytes, then Ethernet padding
        Ipv4Packet::new_unchecked(&mut orig[..]).fill_checksum();
        let mut out = [0u8; 64];
        let n = emit_port_unreachable(&orig, &mut out).unwrap();
        assert_eq!(n, 8 + 24);
        assert!(Icmpv4Packet::new_checked(&out[..n])
            .unwrap()
            .verify_checksum());
    }

    #[test]
    fn port_unreachable_reports_bad_original_or_short_output() {
        let mut out = [0u8; 64];
        assert_eq!(
            emit_port_unreachable(&UDP_DATAGRAM[..10], &mut out).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            emit_port_unreachable(&UDP_DATAGRAM, &mut out[..35]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn no_icmp_error_about_errors_broadcasts_fragments_or_bad_sources() {
        let ok = Ipv4Packet::new_checked(&UDP_DATAGRAM[..]).unwrap();
        assert!(may_send_icmp_error(&ok));
        let with = |f: &dyn Fn(&mut Ipv4Packet<&mut [u8]>)| {
            let mut b = UDP_DATAGRAM;
            let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
            f(&mut p);
            may_send_icmp_error(&Ipv4Packet::new_unchecked(&b[..]))
        };
        assert!(!with(&|p| p.set_dst_addr(Ipv4Addr::BROADCAST)));
        assert!(!with(&|p| p.set_dst_addr(Ipv4Addr::new(224, 0, 0, 1))));
        assert!(!with(&|p| p.set_src_addr(Ipv4Addr::UNSPECIFIED)));
        assert!(!with(&|p| p.set_src_addr(Ipv4Addr::new(239, 1, 1, 1))));
        assert!(!with(&|p| p.set_flags_and_offset(false, false, 8)));
        assert!(
            with(&|p| p.set_flags_and_offset(false, true, 0)),
            "first fragment may be answered"
        );
        assert!(!with(&|p| {
            p.set_protocol(IpProtocol::Icmp);
            p.payload_mut()[0] = msg_type::DST_UNREACHABLE;
        }));
        assert!(with(&|p| {
            p.set_protocol(IpProtocol::Icmp);
            p.payload_mut()[0] = msg_type::ECHO_REQUEST;
        }));
    }

    proptest! {
        #[test]
        fn echo_repr_round_trips(req in any::<bool>(), ident in any::<u16>(), seq_no in any::<u16>(),
                                 data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let r = if req {
                Icmpv4Repr::EchoRequest { ident, seq_no, data: &data }
            } else {
                Icmpv4Repr::EchoReply { ident, seq_no, data: &data }
            };
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
            let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Icmpv4Repr::parse(&p).unwrap(), r);
        }

        #[test]
        fn dst_unreachable_repr_round_trips(code in 0u8..16, quoted in proptest::collection::vec(any::<u8>(), 0..68)) {
            let r = Icmpv4Repr::DstUnreachable { code, quoted: &quoted };
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
            let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Icmpv4Repr::parse(&p).unwrap(), r);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            if let Ok(p) = Icmpv4Packet::new_checked(&data[..]) {
                let _ = Icmpv4Repr::parse(&p);
                let _ = (p.rest_of_header(), p.data(), p.echo_seq_no());
            }
            let mut out = [0u8; 128];
            let _ = emit_port_unreachable(&data, &mut out);
            if let Ok(ip) = Ipv4Packet::new_checked(&data[..]) {
                let _ = may_send_icmp_error(&ip);
            }
        }
    }
}
