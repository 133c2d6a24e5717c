//! wire/icmpv6: ICMPv6 (RFC 4443): echo request/reply, the error messages (destination
//! unreachable, packet too big, time exceeded, parameter problem), and the types a host
//! meets on a link and may ignore (router solicitation/advertisement, redirect, MLD).
//!
//! Layer: `wire/`, sans-IO. It owns the ICMPv6 message layout, its checksum (over the IPv6
//! pseudo-header and the whole message, RFC 4443 §2.3), and the construction of an error
//! that quotes as much of the invoking packet as fits in the minimum MTU (RFC 4443 §2.4
//! (c)). Neighbor Discovery messages are parsed by `wire::ndp` and appear here as
//! [`Icmpv6Repr::Ndp`]. Invariants: an [`Icmpv6Packet`] from `new_checked` holds at least
//! the 8-byte header, so no accessor panics; the buffer it wraps must be exactly the
//! ICMPv6 message (the upper-layer data of its IPv6 packet), because the checksum covers
//! every byte of it.

use core::net::Ipv6Addr;

use super::ipv4::IpProtocol;
use super::ipv6::{self, Ipv6Packet, MIN_MTU};
use super::ndp::NdpRepr;
use super::{be, checksum, WireError};

/// ICMPv6 message types xstack knows by name (IANA "ICMPv6 Parameters").
pub mod msg_type {
    pub const DST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const MLD_QUERY: u8 = 130;
    pub const MLD_REPORT: u8 = 131;
    pub const MLD_DONE: u8 = 132;
    pub const ROUTER_SOLICIT: u8 = 133;
    pub const ROUTER_ADVERT: u8 = 134;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
    pub const REDIRECT: u8 = 137;
    pub const MLDV2_REPORT: u8 = 143;

    /// Types 0..=127 are error messages, 128..=255 informational (RFC 4443 §2.1).
    pub const fn is_error(t: u8) -> bool {
        t < 128
    }

    /// Types a host on a link receives and may ignore without it being an error:
    /// router solicitation and advertisement (xstack configures its addresses itself),
    /// redirect (it has no routes to change), and MLD queries, reports and done (it
    /// answers no queries; the switch floods what it does not snoop).
    pub const fn is_ignorable(t: u8) -> bool {
        matches!(
            t,
            ROUTER_SOLICIT
                | ROUTER_ADVERT
                | REDIRECT
                | MLD_QUERY
                | MLD_REPORT
                | MLD_DONE
                | MLDV2_REPORT
        )
    }
}

/// Destination-unreachable codes (RFC 4443 §3.1).
pub mod unreach_code {
    pub const NO_ROUTE: u8 = 0;
    pub const ADMIN_PROHIBITED: u8 = 1;
    pub const BEYOND_SCOPE: u8 = 2;
    pub const ADDRESS: u8 = 3;
    pub const PORT: u8 = 4;
    pub const SOURCE_POLICY: u8 = 5;
    pub const REJECT_ROUTE: u8 = 6;
}

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const BODY: usize = 4;
    pub const IDENT: usize = 4;
    pub const SEQ_NO: usize = 6;
    pub const MTU: usize = 4;
    pub const POINTER: usize = 4;
    pub const DATA: usize = 8;
}

/// Length of the ICMPv6 header as xstack reads it: type, code, checksum and the 4
/// type-specific bytes every message it knows has.
pub const HEADER_LEN: usize = field::DATA;
/// Most bytes of the invoking packet an error quotes: the whole error then fits in the
/// minimum MTU (1280 − 40 − 8 = 1232).
//= https://www.rfc-editor.org/rfc/rfc4443#section-3.1
//# As much of invoking packet as possible without the ICMPv6 packet
//# exceeding the minimum IPv6 MTU [IPv6]
pub const MAX_QUOTED_LEN: usize = MIN_MTU - ipv6::HEADER_LEN - HEADER_LEN;

/// A view over an ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if shorter than the 8-byte header.
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

    /// The MTU of a packet too big message.
    pub fn mtu(&self) -> u32 {
        be::u32_at(self.buffer.as_ref(), field::MTU)
    }

    /// The pointer of a parameter problem message.
    pub fn pointer(&self) -> u32 {
        be::u32_at(self.buffer.as_ref(), field::POINTER)
    }

    /// The whole message length.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.buffer.as_ref().len()
    }

    /// Everything after the checksum (the message body).
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[field::BODY..]
    }

    /// Everything after the 8-byte header: echo data, or the quoted packet of an error.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    /// The whole message.
    pub fn message(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The checksum over the IPv6 pseudo-header (`src`, `dst` of the enclosing packet)
    /// and the whole message verifies.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_header_v6(src, dst, PROTO_ICMPV6, b.len() as u32);
        checksum::combine(&[ph, checksum::sum(b)]) == 0xFFFF
    }
}

const PROTO_ICMPV6: u8 = ipv6::next_header::ICMPV6;

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
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

    /// Sets the 32-bit field after the checksum: MTU, pointer, or the unused word.
    pub fn set_param(&mut self, v: u32) {
        be::set_u32(self.buffer.as_mut(), field::MTU, v);
    }

    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::BODY..]
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }

    /// Recomputes the checksum over the pseudo-header and the whole buffer.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        let len = self.buffer.as_ref().len();
        self.fill_checksum_over(len, src, dst);
    }

    /// Recomputes the checksum over the pseudo-header and the first `len` bytes of the
    /// buffer, the message an emitter just wrote (panics if `len` is past the buffer).
    pub(super) fn fill_checksum_over(&mut self, len: usize, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let b = &self.buffer.as_ref()[..len];
        let ph = checksum::pseudo_header_v6(src, dst, PROTO_ICMPV6, len as u32);
        let c = !checksum::combine(&[ph, checksum::sum(b)]);
        self.set_checksum(c);
    }

    /// Turns an echo request into an echo reply in place, updating the checksum
    /// incrementally (RFC 1624). Valid when the reply's addresses are the request's
    /// swapped (the pseudo-header sum is the same); a reply to a request sent to a
    /// multicast address leaves from a unicast one and needs `fill_checksum` instead.
    pub fn echo_request_into_reply(&mut self) {
        let old = u16::from_be_bytes([self.msg_type(), self.msg_code()]);
        self.set_msg_type(msg_type::ECHO_REPLY);
        let new = u16::from_be_bytes([self.msg_type(), self.msg_code()]);
        let c = checksum::update_u16(self.checksum(), old, new);
        self.set_checksum(c);
    }
}

/// A parsed ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Repr<'a> {
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
    /// `quoted` is the start of the invoking packet, from its IPv6 header on.
    DstUnreachable {
        code: u8,
        quoted: &'a [u8],
    },
    PacketTooBig {
        mtu: u32,
        quoted: &'a [u8],
    },
    TimeExceeded {
        code: u8,
        quoted: &'a [u8],
    },
    ParamProblem {
        code: u8,
        pointer: u32,
        quoted: &'a [u8],
    },
    /// A neighbor solicitation or advertisement, structurally valid (see
    /// [`NdpRepr::parse`]); the RFC 4861 §7.1 checks that need the IPv6 header are
    /// `proto::ndp`'s.
    Ndp(NdpRepr),
    /// A type in [`msg_type::is_ignorable`]: a host drops it without counting an error.
    Ignored {
        msg_type: u8,
        code: u8,
        body: &'a [u8],
    },
}

impl<'a> Icmpv6Repr<'a> {
    /// Verifies the checksum against the enclosing packet's addresses (`BadChecksum`);
    /// echo with a code other than 0 is `Malformed`; neighbor discovery as
    /// [`NdpRepr::parse`] says; a type xstack does not know is `Unsupported`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Icmpv6Packet<&'a T>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) -> Result<Self, WireError> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        let whole: &'a T = packet.buffer;
        let whole: &'a [u8] = whole.as_ref();
        let data = &whole[field::DATA..];
        let (t, code) = (packet.msg_type(), packet.msg_code());
        match t {
            msg_type::ECHO_REQUEST | msg_type::ECHO_REPLY if code != 0 => Err(WireError::Malformed),
            msg_type::ECHO_REQUEST => Ok(Icmpv6Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            msg_type::ECHO_REPLY => Ok(Icmpv6Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            msg_type::DST_UNREACHABLE => Ok(Icmpv6Repr::DstUnreachable { code, quoted: data }),
            msg_type::PACKET_TOO_BIG => Ok(Icmpv6Repr::PacketTooBig {
                mtu: packet.mtu(),
                quoted: data,
            }),
            msg_type::TIME_EXCEEDED => Ok(Icmpv6Repr::TimeExceeded { code, quoted: data }),
            msg_type::PARAM_PROBLEM => Ok(Icmpv6Repr::ParamProblem {
                code,
                pointer: packet.pointer(),
                quoted: data,
            }),
            msg_type::NEIGHBOR_SOLICIT | msg_type::NEIGHBOR_ADVERT => {
                NdpRepr::parse(packet).map(Icmpv6Repr::Ndp)
            }
            t if msg_type::is_ignorable(t) => Ok(Icmpv6Repr::Ignored {
                msg_type: t,
                code,
                body: &whole[field::BODY..],
            }),
            _ => Err(WireError::Unsupported),
        }
    }

    /// The message length `emit` writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv6Repr::EchoRequest { data, .. } | Icmpv6Repr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
            Icmpv6Repr::DstUnreachable { quoted, .. }
            | Icmpv6Repr::PacketTooBig { quoted, .. }
            | Icmpv6Repr::TimeExceeded { quoted, .. }
            | Icmpv6Repr::ParamProblem { quoted, .. } => HEADER_LEN + quoted.len(),
            Icmpv6Repr::Ndp(n) => n.buffer_len(),
            Icmpv6Repr::Ignored { body, .. } => field::BODY + body.len(),
        }
    }

    /// Writes the message and its checksum (over the pseudo-header of `src`, `dst`). The
    /// packet's buffer must be exactly `buffer_len()` bytes (the checksum covers all of
    /// it); panics if shorter.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Icmpv6Packet<T>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) {
        let (t, code, param, tail): (u8, u8, u32, &[u8]) = match *self {
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (
                msg_type::ECHO_REQUEST,
                0,
                (u32::from(ident) << 16) | u32::from(seq_no),
                data,
            ),
            Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (
                msg_type::ECHO_REPLY,
                0,
                (u32::from(ident) << 16) | u32::from(seq_no),
                data,
            ),
            Icmpv6Repr::DstUnreachable { code, quoted } => {
                (msg_type::DST_UNREACHABLE, code, 0, quoted)
            }
            Icmpv6Repr::PacketTooBig { mtu, quoted } => (msg_type::PACKET_TOO_BIG, 0, mtu, quoted),
            Icmpv6Repr::TimeExceeded { code, quoted } => (msg_type::TIME_EXCEEDED, code, 0, quoted),
            Icmpv6Repr::ParamProblem {
                code,
                pointer,
                quoted,
            } => (msg_type::PARAM_PROBLEM, code, pointer, quoted),
            Icmpv6Repr::Ndp(n) => {
                n.emit(packet, src, dst);
                return;
            }
            Icmpv6Repr::Ignored {
                msg_type,
                code,
                body,
            } => {
                packet.set_msg_type(msg_type);
                packet.set_msg_code(code);
                packet.body_mut()[..body.len()].copy_from_slice(body);
                packet.fill_checksum_over(self.buffer_len(), src, dst);
                return;
            }
        };
        packet.set_msg_type(t);
        packet.set_msg_code(code);
        packet.set_param(param);
        packet.data_mut()[..tail.len()].copy_from_slice(tail);
        packet.fill_checksum_over(self.buffer_len(), src, dst);
    }
}

/// Whether RFC 4443 §2.4 (e) allows answering `original` with an ICMPv6 error (xstack
/// sends only destination unreachable). No error is sent about: a packet to a multicast
/// address, a packet whose source does not identify a single node (unspecified,
/// multicast, loopback), a packet whose header chain does not parse (we cannot tell what
/// it carries), a non-initial fragment, an ICMPv6 error or redirect (or an ICMPv6 message
/// too short to tell). The caller must also refuse frames that arrived as link-layer
/// multicast or broadcast, and rate-limit what it sends (§2.4 (f)).
pub fn may_send_icmpv6_error<T: AsRef<[u8]>>(original: &Ipv6Packet<T>) -> bool {
    let (src, dst) = (original.src_addr(), original.dst_addr());
    if dst.is_multicast() || src.is_unspecified() || src.is_multicast() || src.is_loopback() {
        return false;
    }
    let Ok(walk) = original.walk() else {
        return false;
    };
    if walk.fragment.is_some_and(|f| f.offset != 0) {
        return false;
    }
    if walk.protocol == IpProtocol::Icmpv6 {
        let upper = original.upper_layer(walk.offset - ipv6::HEADER_LEN);
        match upper.first() {
            None => return false,
            Some(&t) if msg_type::is_error(t) || t == msg_type::REDIRECT => return false,
            Some(_) => {}
        }
    }
    true
}

/// Length of the error [`emit_error`] writes about `original` (a packet that passes
/// `Ipv6Packet::new_checked`) into a buffer of `out_len` bytes: the header and as much of
/// the packet as fits in both [`MAX_QUOTED_LEN`] and the buffer.
pub fn error_len<T: AsRef<[u8]>>(original: &Ipv6Packet<T>, out_len: usize) -> usize {
    HEADER_LEN
        + original
            .packet()
            .len()
            .min(MAX_QUOTED_LEN)
            .min(out_len.saturating_sub(HEADER_LEN))
}

/// Builds an ICMPv6 error of type `msg_type` (an error type: 1..=127) with `code` and the
/// 32-bit `param` (MTU, pointer, or 0 for unused) into `out`, quoting the start of
/// `original` (the invoking IPv6 packet, from its header on, bounded by its payload
/// length): as much as fits in [`MAX_QUOTED_LEN`] and in `out`. The checksum is over the
/// pseudo-header of the error's own packet, `src` -> `dst`. Returns the message length;
/// the caller wraps it in an IPv6 header with next header 58. Errors: whatever
/// `Ipv6Packet::new_checked` says about `original`, or `Truncated` if `out` cannot hold
/// the header and the invoking packet's fixed header. It does not apply
/// [`may_send_icmpv6_error`]; call that first.
pub fn emit_error(
    msg_type: u8,
    code: u8,
    param: u32,
    original: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    out: &mut [u8],
) -> Result<usize, WireError> {
    debug_assert!(msg_type::is_error(msg_type));
    let orig = Ipv6Packet::new_checked(original)?;
    if out.len() < HEADER_LEN + ipv6::HEADER_LEN {
        return Err(WireError::Truncated);
    }
    let len = error_len(&orig, out.len());
    let quoted = &orig.packet()[..len - HEADER_LEN];
    let mut p = Icmpv6Packet::new_unchecked(&mut out[..len]);
    p.set_msg_type(msg_type);
    p.set_msg_code(code);
    p.set_param(param);
    p.data_mut().copy_from_slice(quoted);
    p.fill_checksum(src, dst);
    Ok(len)
}

/// [`emit_error`] for a destination unreachable (type 1) with `code`.
pub fn emit_dst_unreachable(
    code: u8,
    original: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    out: &mut [u8],
) -> Result<usize, WireError> {
    emit_error(msg_type::DST_UNREACHABLE, code, 0, original, src, dst, out)
}

/// A port unreachable (type 1, code 4) about `original`, from its destination back to
/// its source: the answer to a UDP datagram for a port nobody listens on.
pub fn emit_port_unreachable(original: &[u8], out: &mut [u8]) -> Result<usize, WireError> {
    let orig = Ipv6Packet::new_checked(original)?;
    let (src, dst) = (orig.dst_addr(), orig.src_addr());
    emit_dst_unreachable(unreach_code::PORT, original, src, dst, out)
}

/// [`emit_error`] for a packet too big (type 2, code 0) carrying `mtu`.
pub fn emit_packet_too_big(
    mtu: u32,
    original: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    out: &mut [u8],
) -> Result<usize, WireError> {
    emit_error(msg_type::PACKET_TOO_BIG, 0, mtu, original, src, dst, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv6::{next_header, Ipv6Repr};
    use proptest::prelude::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// `ping -6 -c1 -s 8 2001:2::2` from Linux iputils (captured on loopback): id
    /// 0x476e, seq 1, data 00..07, checksum 0xec2b (also what an independent Python sum
    /// over the pseudo-header and message gives).
    const ECHO: [u8; 16] = [
        0x80, 0x00, 0xec, 0x2b, 0x47, 0x6e, 0x00, 0x01, 0, 1, 2, 3, 4, 5, 6, 7,
    ];
    const PING_ADDR: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

    #[test]
    fn parses_linux_ping6_request() {
        let p = Icmpv6Packet::new_checked(&ECHO[..]).unwrap();
        assert!(p.verify_checksum(PING_ADDR, PING_ADDR));
        assert!(!p.verify_checksum(PING_ADDR, a("2001:2::3")));
        assert_eq!(
            Icmpv6Repr::parse(&p, PING_ADDR, PING_ADDR).unwrap(),
            Icmpv6Repr::EchoRequest {
                ident: 0x476e,
                seq_no: 1,
                data: &ECHO[8..]
            }
        );
    }

    #[test]
    fn in_place_reply_matches_full_emit() {
        let mut buf = ECHO;
        let mut p = Icmpv6Packet::new_checked(&mut buf[..]).unwrap();
        p.echo_request_into_reply();
        assert!(p.verify_checksum(PING_ADDR, PING_ADDR));
        let mut out = [0u8; 16];
        let reply = Icmpv6Repr::EchoReply {
            ident: 0x476e,
            seq_no: 1,
            data: &ECHO[8..],
        };
        assert_eq!(reply.buffer_len(), 16);
        reply.emit(
            &mut Icmpv6Packet::new_unchecked(&mut out[..]),
            PING_ADDR,
            PING_ADDR,
        );
        assert_eq!(out, buf);
        assert_eq!(&out[..4], &[0x81, 0x00, 0xeb, 0x2b]);
    }

    /// The UDP datagram 2001:2::a:40002 -> 2001:2::b:9 "ping" that the kernel answered
    /// with the port unreachable below.
    const UDP_TO_CLOSED: [u8; 52] = [
        0x60, 0, 0, 0, 0x00, 0x0c, 0x11, 0x40, 0x20, 0x01, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0x0a, 0x20, 0x01, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b, 0x9c, 0x42, 0x00,
        0x09, 0x00, 0x0c, 0x44, 0x9f, b'p', b'i', b'n', b'g',
    ];

    /// Linux's port unreachable for it (captured): type 1 code 4, checksum 0x4d3b, the
    /// whole datagram quoted.
    fn kernel_port_unreachable() -> Vec<u8> {
        let mut v = vec![0x01, 0x04, 0x4d, 0x3b, 0, 0, 0, 0];
        v.extend_from_slice(&UDP_TO_CLOSED);
        v
    }

    #[test]
    fn port_unreachable_matches_the_kernels_byte_for_byte() {
        let mut out = [0u8; 1500];
        let n = emit_port_unreachable(&UDP_TO_CLOSED, &mut out).unwrap();
        assert_eq!(&out[..n], &kernel_port_unreachable()[..]);
        let p = Icmpv6Packet::new_checked(&out[..n]).unwrap();
        let (us, them) = (a("2001:2::b"), a("2001:2::a"));
        assert_eq!(
            Icmpv6Repr::parse(&p, us, them).unwrap(),
            Icmpv6Repr::DstUnreachable {
                code: unreach_code::PORT,
                quoted: &UDP_TO_CLOSED
            }
        );
        assert!(may_send_icmpv6_error(
            &Ipv6Packet::new_checked(&UDP_TO_CLOSED[..]).unwrap()
        ));
    }

    /// A UDP packet of `payload` bytes 2001:2::a -> 2001:2::b.
    fn big_udp(payload: usize) -> Vec<u8> {
        let r = Ipv6Repr::new(a("2001:2::a"), a("2001:2::b"), IpProtocol::Udp, payload);
        let mut v = vec![0x5au8; r.buffer_len()];
        r.emit(&mut Ipv6Packet::new_unchecked(&mut v[..]));
        v
    }

    #[test]
    fn errors_quote_up_to_the_minimum_mtu() {
        let orig = big_udp(1400);
        let mut out = [0u8; 2000];
        let n = emit_port_unreachable(&orig, &mut out).unwrap();
        assert_eq!(n, HEADER_LEN + MAX_QUOTED_LEN);
        assert_eq!(ipv6::HEADER_LEN + n, MIN_MTU);
        assert_eq!(&out[8..n], &orig[..MAX_QUOTED_LEN]);
        // A smaller output buffer quotes less, still a valid message.
        let n = emit_port_unreachable(&orig, &mut out[..300]).unwrap();
        assert_eq!(n, 300);
        let p = Icmpv6Packet::new_checked(&out[..n]).unwrap();
        assert!(p.verify_checksum(a("2001:2::b"), a("2001:2::a")));
        // Ethernet padding after the original's payload length is not quoted.
        let mut padded = UDP_TO_CLOSED.to_vec();
        padded.extend_from_slice(&[0; 10]);
        assert_eq!(emit_port_unreachable(&padded, &mut out).unwrap(), 8 + 52);
    }

    #[test]
    fn error_emitters_report_bad_original_or_short_output() {
        let mut out = [0u8; 100];
        assert_eq!(
            emit_port_unreachable(&UDP_TO_CLOSED[..30], &mut out).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            emit_port_unreachable(&UDP_TO_CLOSED[..51], &mut out).unwrap_err(),
            WireError::BadLength
        );
        assert_eq!(
            emit_port_unreachable(&UDP_TO_CLOSED, &mut out[..47]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn packet_too_big_carries_the_mtu() {
        let orig = big_udp(1452);
        let (src, dst) = (a("2001:2::1"), a("2001:2::a"));
        let mut out = [0u8; 1300];
        let n = emit_packet_too_big(1280, &orig, src, dst, &mut out).unwrap();
        let p = Icmpv6Packet::new_checked(&out[..n]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code(), p.mtu()), (2, 0, 1280));
        assert_eq!(
            Icmpv6Repr::parse(&p, src, dst).unwrap(),
            Icmpv6Repr::PacketTooBig {
                mtu: 1280,
                quoted: &orig[..MAX_QUOTED_LEN]
            }
        );
    }

    #[test]
    fn no_error_about_multicast_bad_sources_errors_or_later_fragments() {
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = UDP_TO_CLOSED.to_vec();
            f(&mut b);
            may_send_icmpv6_error(&Ipv6Packet::new_checked(&b[..]).unwrap())
        };
        let set = |b: &mut Vec<u8>, at: usize, addr: Ipv6Addr| {
            b[at..at + 16].copy_from_slice(&addr.octets());
        };
        assert!(with(&|_| {}));
        assert!(!with(&|b| set(b, 24, ipv6::ALL_NODES)));
        assert!(!with(&|b| set(b, 24, a("ff02::1:ff00:b"))));
        assert!(!with(&|b| set(b, 8, Ipv6Addr::UNSPECIFIED)));
        assert!(!with(&|b| set(b, 8, Ipv6Addr::LOCALHOST)));
        assert!(!with(&|b| set(b, 8, a("ff05::2"))));
        // ICMPv6 errors and redirects are not answered; echo is.
        for (t, ok) in [(1u8, false), (4, false), (137, false), (128, true)] {
            assert_eq!(
                with(&|b| {
                    b[6] = next_header::ICMPV6;
                    b[40] = t;
                }),
                ok,
                "type {t}"
            );
        }
        // An ICMPv6 packet with an empty body: cannot tell, so no.
        assert!(!with(&|b| {
            b[4..6].copy_from_slice(&0u16.to_be_bytes());
            b[6] = next_header::ICMPV6;
        }));
        // A chain that does not parse: no.
        assert!(!with(&|b| b[6] = next_header::ROUTING));
        // Fragments: the first may be answered, a later one not.
        let frag = |off_m: u16| {
            let mut b = UDP_TO_CLOSED[..40].to_vec();
            b[4..6].copy_from_slice(&20u16.to_be_bytes());
            b[6] = next_header::FRAGMENT;
            b.extend_from_slice(&[next_header::UDP, 0]);
            b.extend_from_slice(&off_m.to_be_bytes());
            b.extend_from_slice(&[0, 0, 0, 1]);
            b.extend_from_slice(&UDP_TO_CLOSED[40..]);
            may_send_icmpv6_error(&Ipv6Packet::new_checked(&b[..]).unwrap())
        };
        assert!(frag(0x0001));
        assert!(!frag(0x0100));
    }

    #[test]
    fn router_and_mld_messages_are_recognised_and_ignored() {
        let (src, dst) = (a("fe80::1"), ipv6::ALL_NODES);
        for t in [130u8, 131, 132, 133, 134, 137, 143] {
            let mut m = vec![t, 0, 0, 0, 0, 0, 0, 0];
            m.extend_from_slice(&[0; 16]);
            Icmpv6Packet::new_unchecked(&mut m[..]).fill_checksum(src, dst);
            let p = Icmpv6Packet::new_checked(&m[..]).unwrap();
            assert!(msg_type::is_ignorable(t));
            assert_eq!(
                Icmpv6Repr::parse(&p, src, dst).unwrap(),
                Icmpv6Repr::Ignored {
                    msg_type: t,
                    code: 0,
                    body: &m[4..]
                }
            );
        }
    }

    #[test]
    fn unknown_types_bad_echo_codes_and_bad_checksums_are_typed() {
        let (src, dst) = (a("2001:2::1"), a("2001:2::2"));
        let parse = |mut m: [u8; 8], fix: bool| {
            let mut p = Icmpv6Packet::new_unchecked(&mut m[..]);
            if fix {
                p.fill_checksum(src, dst);
            }
            Icmpv6Repr::parse(&Icmpv6Packet::new_checked(&m[..]).unwrap(), src, dst).err()
        };
        assert_eq!(
            parse([200, 0, 0, 0, 0, 0, 0, 0], true),
            Some(WireError::Unsupported)
        );
        assert_eq!(
            parse([100, 0, 0, 0, 0, 0, 0, 0], true),
            Some(WireError::Unsupported)
        );
        assert_eq!(
            parse([128, 1, 0, 0, 0, 0, 0, 0], true),
            Some(WireError::Malformed)
        );
        assert_eq!(
            parse([128, 0, 0, 0, 0, 0, 0, 0], false),
            Some(WireError::BadChecksum)
        );
        assert_eq!(
            Icmpv6Packet::new_checked(&[128u8, 0, 0, 0, 0, 0, 0][..]).unwrap_err(),
            WireError::Truncated
        );
    }

    fn quoted() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..100)
    }

    proptest! {
        #[test]
        fn repr_round_trips(kind in 0u8..7, ident in any::<u16>(), seq_no in any::<u16>(),
                            code in any::<u8>(), param in any::<u32>(), data in quoted(),
                            src in any::<u128>(), dst in any::<u128>()) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let mut body = param.to_be_bytes().to_vec();
            body.extend_from_slice(&data);
            let r = match kind {
                0 => Icmpv6Repr::EchoRequest { ident, seq_no, data: &data },
                1 => Icmpv6Repr::EchoReply { ident, seq_no, data: &data },
                2 => Icmpv6Repr::DstUnreachable { code, quoted: &data },
                3 => Icmpv6Repr::PacketTooBig { mtu: param, quoted: &data },
                4 => Icmpv6Repr::TimeExceeded { code, quoted: &data },
                5 => Icmpv6Repr::ParamProblem { code, pointer: param, quoted: &data },
                _ => Icmpv6Repr::Ignored { msg_type: msg_type::ROUTER_ADVERT, code, body: &body },
            };
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut Icmpv6Packet::new_unchecked(&mut buf[..]), src, dst);
            let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Icmpv6Repr::parse(&p, src, dst).unwrap(), r);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..120),
                                    src in any::<u128>(), dst in any::<u128>()) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            if let Ok(p) = Icmpv6Packet::new_checked(&data[..]) {
                let _ = Icmpv6Repr::parse(&p, src, dst);
                let _ = NdpRepr::parse(&p);
                let _ = (p.body(), p.data(), p.mtu(), p.pointer(), p.echo_seq_no());
            }
            let mut out = [0u8; 256];
            let _ = emit_port_unreachable(&data, &mut out);
            let _ = emit_packet_too_big(1280, &data, src, dst, &mut out[..60]);
            if let Ok(ip) = Ipv6Packet::new_checked(&data[..]) {
                let _ = may_send_icmpv6_error(&ip);
                let _ = error_len(&ip, 0);
            }
        }
    }
}
