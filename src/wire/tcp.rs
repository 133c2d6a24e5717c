//! wire/tcp: the TCP header (RFC 9293 §3.1) and the options xstack speaks (MSS, window
//! scale and timestamps from RFC 7323, SACK-permitted and SACK from RFC 2018).
//!
//! Layer: `wire/`, sans-IO. It owns the header layout, the option encoding and the
//! pseudo-header checksum; sequence arithmetic and every decision belong to `proto/tcp`.
//! Invariants of a [`TcpPacket`] from `new_checked`: the buffer holds the 20-byte header
//! and 5 <= data offset and data offset × 4 <= buffer length, so no accessor panics. TCP
//! has no length field: the segment is the whole buffer, so the buffer handed to the view
//! must be exactly the IPv4 payload (bounded by total length), or over IPv6 exactly the
//! upper-layer data after the extension headers — the checksum covers all of it (the
//! checksum methods take either family's addresses: the IPv6 pseudo-header is RFC 8200 §8.1). Options are parsed without panicking whatever their bytes: truncated, zero/one
//! length or overrunning options are `WireError::Malformed`; unknown ones are skipped.

use core::fmt;
use core::net::IpAddr;
#[cfg(test)]
use core::net::{Ipv4Addr, Ipv6Addr};
use core::ops::{BitAnd, BitOr, BitOrAssign};

use super::ipv4::IpProtocol;
use super::{be, checksum, WireError};

/// TCP control bits (RFC 9293 §3.1), as they sit in byte 13 of the header.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const NONE: TcpFlags = TcpFlags(0);
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);

    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    pub const fn union(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }

    /// The bits of `self` not in `other`.
    pub const fn difference(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & !other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Display order: the connection-shaping bits first, as tcpdump users read them.
    const NAMES: [(TcpFlags, &'static str); 8] = [
        (TcpFlags::SYN, "SYN"),
        (TcpFlags::FIN, "FIN"),
        (TcpFlags::RST, "RST"),
        (TcpFlags::PSH, "PSH"),
        (TcpFlags::ACK, "ACK"),
        (TcpFlags::URG, "URG"),
        (TcpFlags::ECE, "ECE"),
        (TcpFlags::CWR, "CWR"),
    ];
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.union(rhs)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut first = true;
        for (flag, name) in TcpFlags::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Largest number of SACK blocks one header can carry.
pub const MAX_SACK_BLOCKS: usize = 4;

/// Largest options area (data offset 15).
pub const MAX_OPTIONS_LEN: usize = 40;

/// Largest window scale shift (RFC 7323 §2.3); larger received values are clamped.
pub const MAX_WINDOW_SCALE: u8 = 14;

/// Option kinds (IANA "TCP Option Kind Numbers").
pub mod option_kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// The TCP options xstack understands (RFC 9293, RFC 7323, RFC 2018).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// (TSval, TSecr)
    pub timestamps: Option<(u32, u32)>,
    /// SACK blocks (left, right) as raw sequence numbers; the first `sack_count` are valid.
    pub sack_blocks: [(u32, u32); MAX_SACK_BLOCKS],
    pub sack_count: u8,
    /// A SACK option whose length was not 2 + 8n (1 <= n <= 4) was seen and ignored
    /// (parsing only; never emitted).
    pub sack_malformed: bool,
}

impl TcpOptions {
    /// The valid SACK blocks.
    pub fn sack(&self) -> &[(u32, u32)] {
        &self.sack_blocks[..usize::from(self.sack_count).min(MAX_SACK_BLOCKS)]
    }

    /// Parses an options area (RFC 9293 §3.1 and §3.2: options the receiver does not
    /// implement are ignored if they carry a length, MUST-6; an illegal length such as
    /// zero must be handled without crashing, MUST-7). Later duplicates overwrite earlier ones; parsing stops at
    /// EOL; unknown kinds are skipped by their length. A kind without a length byte, a
    /// length below 2 or past the end, or a known kind other than SACK with the wrong
    /// length is `Malformed`. A SACK option of a length other than 2 + 8n with
    /// 1 <= n <= 4 is skipped by its length and flagged in `sack_malformed` (as Linux
    /// ignores it): the segment is still good, only its SACK information is not. A
    /// window scale above 14 is read as 14.
    pub fn parse(mut bytes: &[u8]) -> Result<TcpOptions, WireError> {
        let mut o = TcpOptions::default();
        while let [kind, rest @ ..] = bytes {
            match *kind {
                option_kind::EOL => break,
                option_kind::NOP => {
                    bytes = rest;
                    continue;
                }
                _ => {}
            }
            let len = usize::from(*rest.first().ok_or(WireError::Malformed)?);
            if len < 2 || len > bytes.len() {
                return Err(WireError::Malformed);
            }
            let body = &bytes[2..len];
            match *kind {
                option_kind::MSS => {
                    let [a, b] = *body else {
                        return Err(WireError::Malformed);
                    };
                    o.mss = Some(u16::from_be_bytes([a, b]));
                }
                option_kind::WINDOW_SCALE => {
                    let [s] = *body else {
                        return Err(WireError::Malformed);
                    };
                    o.window_scale = Some(s.min(MAX_WINDOW_SCALE));
                }
                option_kind::SACK_PERMITTED => {
                    if !body.is_empty() {
                        return Err(WireError::Malformed);
                    }
                    o.sack_permitted = true;
                }
                option_kind::TIMESTAMPS => {
                    if body.len() != 8 {
                        return Err(WireError::Malformed);
                    }
                    o.timestamps = Some((be::u32_at(body, 0), be::u32_at(body, 4)));
                }
                option_kind::SACK => {
                    let n = body.len() / 8;
                    if body.len() % 8 != 0 || n == 0 || n > MAX_SACK_BLOCKS {
                        o.sack_malformed = true;
                        o.sack_count = 0;
                        bytes = &bytes[len..];
                        continue;
                    }
                    o.sack_blocks = [(0, 0); MAX_SACK_BLOCKS];
                    for (i, blk) in body.chunks_exact(8).enumerate() {
                        o.sack_blocks[i] = (be::u32_at(blk, 0), be::u32_at(blk, 4));
                    }
                    o.sack_count = n as u8;
                }
                _ => {}
            }
            bytes = &bytes[len..];
        }
        Ok(o)
    }

    fn fixed_emit_len(&self) -> usize {
        let mut len = 0;
        if self.mss.is_some() {
            len += 4;
        }
        if self.timestamps.is_some() {
            len += 12; // SACK-perm + TS, or NOP NOP TS
        } else if self.sack_permitted {
            len += 4; // NOP NOP SACK-perm
        }
        if self.window_scale.is_some() {
            len += 4; // NOP WS
        }
        len
    }

    /// How many SACK blocks `emit` writes: the first `sack_count` (at most 4) that fit in
    /// the 40-byte options area after the other options.
    pub fn sack_blocks_emitted(&self) -> usize {
        let avail = MAX_OPTIONS_LEN.saturating_sub(self.fixed_emit_len());
        let want = usize::from(self.sack_count).min(MAX_SACK_BLOCKS);
        if want == 0 || avail < 12 {
            0
        } else {
            want.min((avail - 4) / 8)
        }
    }

    /// Bytes `emit` writes: a multiple of 4, at most 40.
    pub fn emit_len(&self) -> usize {
        let n = self.sack_blocks_emitted();
        self.fixed_emit_len() + if n > 0 { 4 + 8 * n } else { 0 }
    }

    /// Writes the options in the order Linux uses — MSS; SACK-permitted + timestamps (or
    /// NOP NOP timestamps); NOP NOP SACK-permitted when there are no timestamps; NOP
    /// window scale; NOP NOP SACK blocks — every piece padded with NOPs to 4 bytes.
    /// Returns the bytes written ([`emit_len`](Self::emit_len)); panics if `buf` is shorter.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        use option_kind::*;
        let len = self.emit_len();
        let buf = &mut buf[..len];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            buf[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        if let Some(mss) = self.mss {
            let m = mss.to_be_bytes();
            put(&[MSS, 4, m[0], m[1]]);
        }
        if let Some((val, ecr)) = self.timestamps {
            if self.sack_permitted {
                put(&[SACK_PERMITTED, 2]);
            } else {
                put(&[NOP, NOP]);
            }
            put(&[TIMESTAMPS, 10]);
            put(&val.to_be_bytes());
            put(&ecr.to_be_bytes());
        } else if self.sack_permitted {
            put(&[NOP, NOP, SACK_PERMITTED, 2]);
        }
        if let Some(ws) = self.window_scale {
            put(&[NOP, WINDOW_SCALE, 3, ws]);
        }
        let n = self.sack_blocks_emitted();
        if n > 0 {
            put(&[NOP, NOP, SACK, (2 + 8 * n) as u8]);
            for &(l, r) in &self.sack_blocks[..n] {
                put(&l.to_be_bytes());
                put(&r.to_be_bytes());
            }
        }
        debug_assert_eq!(at, len);
        len
    }
}

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
    pub const OPTIONS: usize = 20;
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = field::OPTIONS;
/// Largest TCP header (data offset 15).
pub const MAX_HEADER_LEN: usize = HEADER_LEN + MAX_OPTIONS_LEN;

const PROTO_TCP: u8 = 6;

/// A view over a TCP segment (the whole IPv4 payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if shorter than 20 bytes; `BadHeaderLength` if the data offset is below
    /// 5 or the header it announces is longer than the buffer.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN || hl > len {
            return Err(WireError::BadHeaderLength);
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

    pub fn seq_number(&self) -> u32 {
        be::u32_at(self.buffer.as_ref(), field::SEQ)
    }

    pub fn ack_number(&self) -> u32 {
        be::u32_at(self.buffer.as_ref(), field::ACK)
    }

    /// Header length in bytes (data offset × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }

    pub fn window_len(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::WINDOW)
    }

    pub fn checksum(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn urgent_at(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::URGENT)
    }

    /// The raw options area (between byte 20 and the data offset).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// Everything after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Length of the whole segment (the buffer), as the pseudo-header counts it.
    pub fn segment_len(&self) -> usize {
        self.buffer.as_ref().len()
    }

    /// The checksum over the pseudo-header (IPv4 or IPv6, as the addresses are) and the
    /// whole buffer verifies.
    pub fn verify_checksum(&self, src: impl Into<IpAddr>, dst: impl Into<IpAddr>) -> bool {
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_header(src.into(), dst.into(), PROTO_TCP, b.len() as u32);
        checksum::combine(&[ph, checksum::sum(b)]) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    pub fn set_src_port(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    pub fn set_seq_number(&mut self, v: u32) {
        be::set_u32(self.buffer.as_mut(), field::SEQ, v);
    }

    pub fn set_ack_number(&mut self, v: u32) {
        be::set_u32(self.buffer.as_mut(), field::ACK, v);
    }

    /// Sets the data offset from a header length in bytes (a multiple of 4, 20..=60);
    /// the reserved bits are cleared.
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::DATA_OFF] = ((len / 4) as u8) << 4;
    }

    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = flags.0;
    }

    pub fn set_window_len(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::WINDOW, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn set_urgent_at(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::URGENT, v);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }

    /// Computes the checksum over the pseudo-header (IPv4 or IPv6) and the whole buffer
    /// (header, options and payload): call it after the payload is in place.
    pub fn fill_checksum(&mut self, src: impl Into<IpAddr>, dst: impl Into<IpAddr>) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_header(src.into(), dst.into(), PROTO_TCP, b.len() as u32);
        let c = !checksum::combine(&[ph, checksum::sum(b)]);
        self.set_checksum(c);
    }
}

/// A parsed (or to-be-emitted) TCP segment. Sequence numbers are raw `u32`s; wrapping
/// comparison is `proto/tcp`'s business.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// The IP protocol number for TCP.
    pub const PROTOCOL: IpProtocol = IpProtocol::Tcp;

    /// Checks structure, the checksum over the pseudo-header (`BadChecksum`) and the options
    /// (`Malformed`).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
    ) -> Result<TcpRepr<'a>, WireError> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        Self::parse_unverified(packet)
    }

    /// [`parse`](Self::parse) without the checksum check, for segments whose checksum a
    /// kernel peer with offload left partial (veth): the caller decides.
    pub fn parse_unverified<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
    ) -> Result<TcpRepr<'a>, WireError> {
        packet.check_len()?;
        let whole: &'a T = packet.buffer;
        let bytes: &'a [u8] = whole.as_ref();
        let hl = packet.header_len();
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: packet.ack_number(),
            flags: packet.flags(),
            window: packet.window_len(),
            urgent: packet.urgent_at(),
            options: TcpOptions::parse(&bytes[field::OPTIONS..hl])?,
            payload: &bytes[hl..],
        })
    }

    /// Header plus options, as `emit_header` writes them.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.emit_len()
    }

    /// Header, options and payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Sequence space the segment occupies: payload plus one for SYN and one for FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len()
            + usize::from(self.flags.contains(TcpFlags::SYN))
            + usize::from(self.flags.contains(TcpFlags::FIN))
    }

    /// Writes the header and options and zeroes the checksum; `self.payload` is ignored and
    /// the bytes after `header_len()` are untouched. For a payload held in pieces (a ring
    /// buffer): size the packet's buffer to `header_len() + payload length`, call this,
    /// copy the pieces into `payload_mut()`, then call
    /// [`TcpPacket::fill_checksum`]. Panics if the buffer is shorter than `header_len()`.
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut TcpPacket<T>) {
        let hl = self.header_len();
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq);
        packet.set_ack_number(self.ack);
        packet.set_header_len(hl);
        packet.set_flags(self.flags);
        packet.set_window_len(self.window);
        packet.set_checksum(0);
        packet.set_urgent_at(self.urgent);
        self.options.emit(packet.options_mut());
    }

    /// Writes header, options and payload, then the checksum. The packet's buffer must be
    /// exactly `buffer_len()` bytes (TCP has no length field: the checksum covers the whole
    /// buffer); panics if shorter.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
    ) {
        debug_assert_eq!(packet.segment_len(), self.buffer_len());
        self.emit_header(packet);
        packet.payload_mut()[..self.payload.len()].copy_from_slice(self.payload);
        packet.fill_checksum(src, dst);
    }
}

impl fmt::Display for TcpRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TCP {}->{} [{}] seq={} ack={} win={} len={}",
            self.src_port,
            self.dst_port,
            self.flags,
            self.seq,
            self.ack,
            self.window,
            self.payload.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    /// A Linux SYN (198.18.0.1:45678 -> 198.18.0.2:7): MSS 1460, SACK-permitted,
    /// timestamps, NOP, window scale 7 — 40-byte header; checksum computed independently.
    const LINUX_SYN: [u8; 40] = [
        0xb2, 0x6e, 0x00, 0x07, // ports 45678 -> 7
        0x1a, 0x2b, 0x3c, 0x4d, // seq
        0x00, 0x00, 0x00, 0x00, // ack
        0xa0, 0x02, // data offset 10, SYN
        0xfa, 0xf0, // window 64240
        0xe1, 0x5f, // checksum
        0x00, 0x00, // urgent
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
        0x04, 0x02, // SACK permitted
        0x08, 0x0a, 0x00, 0x12, 0xd6, 0x87, 0x00, 0x00, 0x00, 0x00, // TS
        0x01, // NOP
        0x03, 0x03, 0x07, // WS 7
    ];

    fn linux_syn_repr() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 45678,
            dst_port: 7,
            seq: 0x1a2b3c4d,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 64240,
            urgent: 0,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some((0x0012d687, 0)),
                ..TcpOptions::default()
            },
            payload: &[],
        }
    }

    /// 198.18.0.2:7 -> 198.18.0.1:45678, PSH|ACK, "hello\n", NOP NOP TS, NOP NOP SACK with
    /// two blocks — 52-byte header; checksum computed independently.
    fn ack_with_sack() -> Vec<u8> {
        let mut v = vec![
            0x00, 0x07, 0xb2, 0x6e, 0x55, 0x66, 0x77, 0x88, 0x1a, 0x2b, 0x3c, 0x4e, 0xd0, 0x18,
            0x01, 0xf6, 0xa3, 0xf3, 0x00, 0x00, // header
            0x01, 0x01, 0x08, 0x0a, 0x00, 0x12, 0xd7, 0x00, 0x00, 0x12, 0xd6,
            0x87, // NOP NOP TS
            0x01, 0x01, 0x05, 0x12, // NOP NOP SACK len 18
        ];
        for x in [1000u32, 2000, 3000, 4000] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend_from_slice(b"hello\n");
        v
    }

    /// A SYN the Linux kernel sent over IPv6 (captured on a veth with TX checksum offload
    /// off): 2001:2::a:40001 -> 2001:2::99:7, MSS 1440, SACK-permitted, timestamps,
    /// window scale 10; checksum 0x100c, which an independent Python sum over the
    /// pseudo-header and segment also gives.
    const SYN6: [u8; 40] = [
        0x9c, 0x41, 0x00, 0x07, 0x8c, 0x82, 0x46, 0x4a, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfd,
        0x20, 0x10, 0x0c, 0x00, 0x00, 0x02, 0x04, 0x05, 0xa0, 0x04, 0x02, 0x08, 0x0a, 0xc9, 0x32,
        0xc1, 0xf3, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
    ];

    #[test]
    fn parses_kernel_syn_over_ipv6() {
        let (a6, b6): (Ipv6Addr, Ipv6Addr) =
            ("2001:2::a".parse().unwrap(), "2001:2::99".parse().unwrap());
        let p = TcpPacket::new_checked(&SYN6[..]).unwrap();
        assert!(p.verify_checksum(a6, b6));
        assert!(!p.verify_checksum(b6, b6));
        let r = TcpRepr::parse(&p, a6, b6).unwrap();
        assert_eq!((r.src_port, r.dst_port, r.flags), (40001, 7, TcpFlags::SYN));
        assert_eq!(r.options.mss, Some(1440));
        assert_eq!(r.options.window_scale, Some(10));
        let mut out = [0u8; 40];
        r.emit(&mut TcpPacket::new_unchecked(&mut out[..]), a6, b6);
        assert_eq!(out, SYN6);
    }

    #[test]
    fn parses_linux_syn_with_options() {
        let p = TcpPacket::new_checked(&LINUX_SYN[..]).unwrap();
        assert_eq!(p.header_len(), 40);
        assert!(p.verify_checksum(A, B));
        assert_eq!(p.options().len(), 20);
        assert_eq!(TcpRepr::parse(&p, A, B).unwrap(), linux_syn_repr());
    }

    #[test]
    fn emit_reproduces_linux_syn_byte_for_byte() {
        let r = linux_syn_repr();
        assert_eq!(r.header_len(), 40);
        let mut buf = [0u8; 40];
        r.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), A, B);
        assert_eq!(buf, LINUX_SYN);
    }

    #[test]
    fn parses_ack_with_timestamps_sack_and_payload() {
        let buf = ack_with_sack();
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        let r = TcpRepr::parse(&p, B, A).unwrap();
        assert_eq!(r.flags, TcpFlags::PSH | TcpFlags::ACK);
        assert_eq!((r.seq, r.ack, r.window), (0x55667788, 0x1a2b3c4e, 502));
        assert_eq!(r.options.timestamps, Some((0x0012d700, 0x0012d687)));
        assert_eq!(r.options.sack(), &[(1000, 2000), (3000, 4000)]);
        assert_eq!(r.payload, b"hello\n");
        assert_eq!(r.segment_len(), 6);
        // And back: Linux's NOP NOP TS, NOP NOP SACK layout is what we emit too.
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut TcpPacket::new_unchecked(&mut out[..]), B, A);
        assert_eq!(out, buf);
    }

    #[test]
    fn header_then_payload_in_pieces_then_fill_checksum_equals_emit() {
        let buf = ack_with_sack();
        let r = TcpRepr::parse(&TcpPacket::new_checked(&buf[..]).unwrap(), B, A).unwrap();
        let (first, second) = r.payload.split_at(2); // a payload split across a ring's wrap
        let header_only = TcpRepr { payload: &[], ..r };
        let mut out = vec![0u8; header_only.header_len() + first.len() + second.len()];
        let mut p = TcpPacket::new_unchecked(&mut out[..]);
        header_only.emit_header(&mut p);
        p.payload_mut()[..first.len()].copy_from_slice(first);
        p.payload_mut()[first.len()..].copy_from_slice(second);
        p.fill_checksum(B, A);
        assert_eq!(out, buf);
    }

    #[test]
    fn corrupted_segment_or_wrong_addresses_fail_checksum() {
        let mut buf = ack_with_sack();
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        // (Swapping src and dst would not be caught: the sum is order-independent.)
        let c = Ipv4Addr::new(198, 18, 0, 3);
        assert_eq!(
            TcpRepr::parse(&p, B, c).unwrap_err(),
            WireError::BadChecksum
        );
        let last = buf.len() - 1;
        buf[last] ^= 1;
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, B, A).unwrap_err(),
            WireError::BadChecksum
        );
        assert!(TcpRepr::parse_unverified(&p).is_ok());
    }

    #[test]
    fn data_offset_is_checked() {
        assert_eq!(
            TcpPacket::new_checked(&LINUX_SYN[..19]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            TcpPacket::new_checked(&LINUX_SYN[..39]).unwrap_err(),
            WireError::BadHeaderLength
        );
        let mut b = LINUX_SYN;
        b[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            WireError::BadHeaderLength
        );
        b[12] = 0x50;
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert!(p.options().is_empty());
        assert_eq!(p.payload().len(), 20);
    }

    #[test]
    fn flags_display_in_fixed_order() {
        assert_eq!(TcpFlags::NONE.to_string(), "none");
        assert_eq!((TcpFlags::ACK | TcpFlags::SYN).to_string(), "SYN,ACK");
        assert_eq!(
            format!("{:?}", TcpFlags(0xff)),
            "SYN,FIN,RST,PSH,ACK,URG,ECE,CWR"
        );
        let mut f = TcpFlags::FIN;
        f |= TcpFlags::ACK;
        assert!(f.contains(TcpFlags::ACK) && f.intersects(TcpFlags::ACK | TcpFlags::RST));
        assert!(!f.contains(TcpFlags::ACK | TcpFlags::RST));
        assert_eq!(f.difference(TcpFlags::ACK), TcpFlags::FIN);
        assert_eq!(f & TcpFlags::ACK, TcpFlags::ACK);
    }

    #[test]
    fn options_parse_skips_unknown_and_stops_at_eol() {
        // Unknown kind 30 (MPTCP) with 6 bytes, then MSS, EOL, then garbage that is ignored.
        let bytes = [30, 6, 1, 2, 3, 4, 2, 4, 0x23, 0x28, 0, 0xff, 0xff, 0xff];
        let o = TcpOptions::parse(&bytes).unwrap();
        assert_eq!(
            o,
            TcpOptions {
                mss: Some(9000),
                ..TcpOptions::default()
            }
        );
    }

    #[test]
    fn malformed_options_are_rejected_not_panicked_on() {
        for bad in [
            &[2u8][..],                    // kind without length
            &[2, 4, 0x05][..],             // overruns
            &[30, 0][..],                  // zero length
            &[30, 1, 1, 1][..],            // length one
            &[2, 3, 5][..],                // MSS wrong length
            &[3, 4, 7, 0][..],             // WS wrong length
            &[4, 3, 0][..],                // SACK-perm wrong length
            &[8, 8, 0, 0, 0, 0, 0, 0][..], // TS wrong length
            &[1, 1, 1, 30, 41][..],        // length past the end
            &[5, 10, 0, 0, 0, 0][..],      // SACK length past the end
        ] {
            assert_eq!(TcpOptions::parse(bad), Err(WireError::Malformed), "{bad:?}");
        }
    }

    // A SACK option of the wrong length spoils only the SACK information: it is skipped
    // and flagged, and the options around it still count (Linux ignores it too).
    #[test]
    fn a_malformed_sack_option_is_ignored_and_flagged() {
        for bad in [
            &[5u8, 2][..],           // no blocks
            &[5, 6, 0, 0, 0, 0][..], // not 2 + 8n
            &[
                5, 42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ][..], // five blocks
        ] {
            let mut area = bad.to_vec();
            area.extend_from_slice(&[2, 4, 0x05, 0xb4]);
            let o = TcpOptions::parse(&area).unwrap_or_else(|e| panic!("{bad:?}: {e:?}"));
            assert!(o.sack_malformed, "{bad:?}");
            assert_eq!(o.sack(), &[], "{bad:?}");
            assert_eq!(o.mss, Some(1460), "the option after it is read: {bad:?}");
        }
        let good = TcpOptions::parse(&[5, 10, 0, 0, 0, 1, 0, 0, 0, 2]).unwrap();
        assert!(!good.sack_malformed);
        assert_eq!(good.sack(), &[(1, 2)]);
    }

    #[test]
    fn window_scale_above_14_is_clamped() {
        assert_eq!(
            TcpOptions::parse(&[3, 3, 15, 0]).unwrap().window_scale,
            Some(14)
        );
    }

    #[test]
    fn options_emit_uses_linux_layouts_and_4_byte_alignment() {
        let ts_only = TcpOptions {
            timestamps: Some((1, 2)),
            ..Default::default()
        };
        let mut buf = [0u8; 40];
        assert_eq!(ts_only.emit(&mut buf), 12);
        assert_eq!(&buf[..4], &[1, 1, 8, 10]);
        let sp_only = TcpOptions {
            sack_permitted: true,
            mss: Some(536),
            ..Default::default()
        };
        assert_eq!(sp_only.emit(&mut buf), 8);
        assert_eq!(&buf[..8], &[2, 4, 0x02, 0x18, 1, 1, 4, 2]);
        let ws_only = TcpOptions {
            window_scale: Some(0),
            ..Default::default()
        };
        assert_eq!(ws_only.emit(&mut buf), 4);
        assert_eq!(&buf[..4], &[1, 3, 3, 0]);
        assert_eq!(TcpOptions::default().emit_len(), 0);
    }

    #[test]
    fn sack_blocks_that_do_not_fit_are_dropped_from_the_end() {
        let o = TcpOptions {
            timestamps: Some((1, 2)),
            sack_blocks: [(1, 2), (3, 4), (5, 6), (7, 8)],
            sack_count: 4,
            ..Default::default()
        };
        assert_eq!(o.sack_blocks_emitted(), 3);
        assert_eq!(o.emit_len(), 40);
        let mut buf = [0u8; 40];
        o.emit(&mut buf);
        assert_eq!(
            TcpOptions::parse(&buf).unwrap().sack(),
            &[(1, 2), (3, 4), (5, 6)]
        );
        let no_ts = TcpOptions {
            timestamps: None,
            ..o
        };
        assert_eq!(no_ts.sack_blocks_emitted(), 4);
        assert_eq!(no_ts.emit_len(), 36);
        let bogus_count = TcpOptions {
            sack_count: 200,
            ..no_ts
        };
        assert_eq!(bogus_count.sack(), &no_ts.sack_blocks);
        assert_eq!(bogus_count.emit_len(), 36);
    }

    fn options_strategy() -> impl Strategy<Value = TcpOptions> {
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(0u8..=MAX_WINDOW_SCALE),
            any::<bool>(),
            proptest::option::of(any::<(u32, u32)>()),
            any::<[(u32, u32); MAX_SACK_BLOCKS]>(),
            0u8..=MAX_SACK_BLOCKS as u8,
        )
            .prop_map(
                |(mss, window_scale, sack_permitted, timestamps, mut sack_blocks, sack_count)| {
                    for b in &mut sack_blocks[usize::from(sack_count)..] {
                        *b = (0, 0);
                    }
                    TcpOptions {
                        mss,
                        window_scale,
                        sack_permitted,
                        timestamps,
                        sack_blocks,
                        sack_count,
                        sack_malformed: false,
                    }
                },
            )
    }

    /// What survives an emit: SACK blocks beyond the space are dropped.
    fn after_emit(mut o: TcpOptions) -> TcpOptions {
        let n = o.sack_blocks_emitted();
        for b in &mut o.sack_blocks[n..] {
            *b = (0, 0);
        }
        o.sack_count = n as u8;
        o
    }

    proptest! {
        #[test]
        fn repr_round_trips_v6(seq in any::<u32>(), flags in any::<u8>(), options in options_strategy(),
                               payload in proptest::collection::vec(any::<u8>(), 0..200),
                               src in any::<u128>(), dst in any::<u128>()) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let r = TcpRepr { src_port: 1, dst_port: 2, seq, ack: 3, flags: TcpFlags(flags), window: 4,
                              urgent: 0, options: after_emit(options), payload: &payload };
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), src, dst);
            let p = TcpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(TcpRepr::parse(&p, src, dst).unwrap(), r);
        }

        #[test]
        fn options_round_trip(o in options_strategy()) {
            let mut buf = [0u8; MAX_OPTIONS_LEN];
            let n = o.emit(&mut buf);
            prop_assert_eq!(n, o.emit_len());
            prop_assert!(n % 4 == 0 && n <= MAX_OPTIONS_LEN);
            prop_assert_eq!(TcpOptions::parse(&buf[..n]).unwrap(), after_emit(o));
        }

        #[test]
        fn repr_round_trips(src_port in any::<u16>(), dst_port in any::<u16>(), seq in any::<u32>(), ack in any::<u32>(),
                            flags in any::<u8>(), window in any::<u16>(), urgent in any::<u16>(),
                            options in options_strategy(), payload in proptest::collection::vec(any::<u8>(), 0..200),
                            src in any::<u32>(), dst in any::<u32>()) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let r = TcpRepr { src_port, dst_port, seq, ack, flags: TcpFlags(flags), window, urgent,
                              options: after_emit(options), payload: &payload };
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), src, dst);
            let p = TcpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(TcpRepr::parse(&p, src, dst).unwrap(), r);
        }

        #[test]
        fn options_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
            let _ = TcpOptions::parse(&bytes);
        }

        #[test]
        fn options_parse_never_panics_on_plausible_kinds(
            bytes in proptest::collection::vec(prop_oneof![0u8..=10, any::<u8>()], 0..48)
        ) {
            if let Ok(o) = TcpOptions::parse(&bytes) {
                prop_assert!(usize::from(o.sack_count) <= MAX_SACK_BLOCKS);
                prop_assert!(o.window_scale.unwrap_or(0) <= MAX_WINDOW_SCALE);
            }
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..100), src in any::<u32>(), dst in any::<u32>()) {
            if let Ok(p) = TcpPacket::new_checked(&data[..]) {
                let _ = TcpRepr::parse(&p, Ipv4Addr::from(src), Ipv4Addr::from(dst));
                let _ = TcpRepr::parse_unverified(&p);
                let _ = (p.options(), p.payload(), p.flags().to_string());
            }
        }
    }
}
