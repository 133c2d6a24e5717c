//! wire/: zero-copy packet views with parse and emit, and Internet checksums. Sans-IO.
//!
//! This layer sits between `driver/` (which hands over raw frames) and `stack/`/`proto/`
//! (which decide what to do with them). It owns the byte layout of every header xstack
//! speaks: Ethernet, ARP, IPv4, ICMPv4, UDP, TCP (with options) and the sockperf message
//! header, plus the RFC 1071 checksum arithmetic. Invariants: no syscalls, no clocks, no
//! `unsafe`, no allocation; every `XxxPacket::new_checked` guarantees that no accessor of
//! the returned view can panic, and malformed input of any shape yields a [`WireError`]
//! (a drop reason the stack counts), never a panic.
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
pub mod ipv4;
pub mod sockperf;
pub mod tcp;
pub mod udp;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
pub use icmp::{Icmpv4Packet, Icmpv4Repr};
pub use ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
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
    /// The IP version field is not 4.
    #[error("bad IP version")]
    BadVersion,
    /// The IPv4 IHL or the TCP data offset is out of range or past the buffer.
    #[error("bad header length")]
    BadHeaderLength,
    /// An IPv4 fragment: xstack does not reassemble.
    #[error("IPv4 fragment")]
    Fragment,
    /// Structurally invalid content: bad options, bad ARP address sizes, and the like.
    #[error("malformed packet")]
    Malformed,
    /// Well-formed but not something xstack handles (e.g. ARP for non-Ethernet/IPv4).
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
