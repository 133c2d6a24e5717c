//! driver/offload: the one piece of a NIC's checksum offload a software link leaves to
//! its receiver. A kernel peer whose device (veth) claims TX checksum offload hands over
//! TCP and UDP segments whose checksum field holds only the sum of the pseudo-header
//! (CHECKSUM_PARTIAL): a real NIC would finish it on the way to the wire, veth does not.
//!
//! - AF_PACKET says so per frame (`TP_STATUS_CSUMNOTREADY`), and the kernel's own stack
//!   accepts such a frame without checking it (it never left the host). The packet driver
//!   does what the NIC would have done — [`complete`] finishes the checksum in place — so
//!   the stack verifies it as any other frame and a reply reflected from it carries a
//!   correct checksum.
//! - AF_XDP says nothing. [`is_partial`] recognises the kernel's pattern (the field equals
//!   the folded pseudo-header sum, and the full checksum does not verify) so that such a
//!   frame can be counted under a reason of its own instead of `bad_checksum`.
//!
//! Only the few header fields needed to find the checksum are read here (the Ethernet
//! type, the IPv4 IHL and total length, the IPv6 payload length and next header); the
//! stack parses and checks the frame in full afterwards. Nothing here allocates or panics
//! on any input.

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// Where one frame's TCP or UDP checksum lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct L4 {
    /// Offset of the transport header in the frame.
    start: usize,
    /// End of the transport segment (the IP length, never past the frame).
    end: usize,
    /// Offset of the checksum field.
    field: usize,
    proto: u8,
    /// Offset of the IP source address, and the addresses' length (4 or 16).
    addrs: usize,
    addr_len: usize,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The transport segment of an IPv4 or IPv6 packet that starts at `net` in `frame`, if it
/// is TCP or UDP and its headers are within the frame. IPv6 extension headers are not
/// walked: a kernel peer's TCP and UDP carry none.
fn locate(frame: &[u8], net: usize) -> Option<L4> {
    let first = *frame.get(net)?;
    let (start, end, proto, addrs, addr_len) = match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            let total = usize::from(be16(frame, net + 2)?);
            // A fragment's checksum covers the whole datagram: not ours to find.
            let frag = be16(frame, net + 6)? & 0x3fff;
            if ihl < 20 || total < ihl || frag != 0 {
                return None;
            }
            (net + ihl, net + total, *frame.get(net + 9)?, net + 12, 4)
        }
        6 => {
            let payload = usize::from(be16(frame, net + 4)?);
            (
                net + 40,
                net + 40 + payload,
                *frame.get(net + 6)?,
                net + 8,
                16,
            )
        }
        _ => return None,
    };
    let field = match proto {
        PROTO_TCP => start + 16,
        PROTO_UDP => start + 6,
        _ => return None,
    };
    if end > frame.len() || field + 2 > end {
        return None;
    }
    Some(L4 {
        start,
        end,
        field,
        proto,
        addrs,
        addr_len,
    })
}

/// The network header's offset in an Ethernet frame, for IPv4 and IPv6 (untagged).
fn network_offset(frame: &[u8]) -> Option<usize> {
    match be16(frame, 12)? {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Some(14),
        _ => None,
    }
}

/// The 32-bit sum of `b` as big-endian 16-bit words (an odd byte padded with zero).
fn sum(b: &[u8]) -> u64 {
    let mut s: u64 = 0;
    let mut words = b.chunks_exact(2);
    for w in &mut words {
        s += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        s += u64::from(*last) << 8;
    }
    s
}

/// Folds a sum into 16 bits, one's complement (RFC 1071).
fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The sum of the pseudo-header (RFC 768, RFC 9293 §3.1, RFC 8200 §8.1).
fn pseudo_sum(frame: &[u8], l4: &L4) -> u64 {
    let addrs = &frame[l4.addrs..l4.addrs + 2 * l4.addr_len];
    sum(addrs) + u64::from(l4.proto) + (l4.end - l4.start) as u64
}

/// Finishes the partial TCP or UDP checksum of the IP packet at `net` in `frame`, as the
/// NIC would have: the field already holds the pseudo-header sum, so the checksum is the
/// complement of the sum over the segment from its first byte. Returns false, leaving the
/// frame as it is, if there is no TCP or UDP segment to finish.
pub fn complete(frame: &mut [u8], net: usize) -> bool {
    let Some(l4) = locate(frame, net) else {
        return false;
    };
    let mut c = !fold(sum(&frame[l4.start..l4.end]));
    if c == 0 && l4.proto == PROTO_UDP {
        // Zero means "no checksum" in UDP over IPv4; the same sum is sent as all ones.
        c = 0xffff;
    }
    frame[l4.field..l4.field + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// Whether the TCP or UDP checksum of an Ethernet frame is one a sender's checksum
/// offload left unfinished: the field holds the folded pseudo-header sum and the full
/// checksum does not verify. Cheap for ordinary frames: the full sum is taken only when
/// the field matches, which a finished checksum does once in 65536.
pub fn is_partial(frame: &[u8]) -> bool {
    let Some(l4) = network_offset(frame).and_then(|net| locate(frame, net)) else {
        return false;
    };
    let field = u16::from_be_bytes([frame[l4.field], frame[l4.field + 1]]);
    let pseudo = fold(pseudo_sum(frame, &l4));
    // One's complement has two zeros: 0x0000 and 0xffff are the same sum.
    let same = |a: u16, b: u16| a == b || (a == 0 && b == 0xffff) || (a == 0xffff && b == 0);
    if !same(field, pseudo) {
        return false;
    }
    let full = fold(pseudo_sum(frame, &l4) + sum(&frame[l4.start..l4.end]));
    full != 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet + IPv4 + UDP frame from 198.18.0.1:5000 to 198.18.0.2:7.
    fn udp4(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let total = 20 + 8 + payload.len();
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, PROTO_UDP, 0, 0];
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        ip.extend_from_slice(&[198, 18, 0, 1, 198, 18, 0, 2]);
        f.extend_from_slice(&ip);
        let ulen = (8 + payload.len()) as u16;
        f.extend_from_slice(&5000u16.to_be_bytes());
        f.extend_from_slice(&7u16.to_be_bytes());
        f.extend_from_slice(&ulen.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        f
    }

    /// The frame as a kernel with TX checksum offload hands it over: the field holds the
    /// folded pseudo-header sum.
    fn partial(mut f: Vec<u8>) -> Vec<u8> {
        let l4 = locate(&f, 14).unwrap();
        let p = fold(pseudo_sum(&f, &l4));
        f[l4.field..l4.field + 2].copy_from_slice(&p.to_be_bytes());
        f
    }

    /// The frame with its checksum computed in full, the ordinary way.
    fn full(mut f: Vec<u8>) -> Vec<u8> {
        let l4 = locate(&f, 14).unwrap();
        f[l4.field..l4.field + 2].fill(0);
        let c = !fold(pseudo_sum(&f, &l4) + sum(&f[l4.start..l4.end]));
        f[l4.field..l4.field + 2].copy_from_slice(&c.to_be_bytes());
        f
    }

    fn verifies(f: &[u8]) -> bool {
        let l4 = locate(f, 14).unwrap();
        fold(pseudo_sum(f, &l4) + sum(&f[l4.start..l4.end])) == 0xffff
    }

    #[test]
    fn a_partial_udp_checksum_is_recognised_and_completed_to_the_full_one() {
        for payload in [&b"hello, xstack"[..], b"odd", b""] {
            let want = full(udp4(payload));
            let mut got = partial(udp4(payload));
            assert!(is_partial(&got), "{payload:?}");
            assert!(!verifies(&got));
            assert!(complete(&mut got, 14));
            assert_eq!(got, want, "{payload:?}");
            assert!(verifies(&got));
            assert!(!is_partial(&got), "a finished checksum is not partial");
        }
    }

    #[test]
    fn a_partial_tcp_checksum_over_ipv6_is_completed() {
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        let seg: Vec<u8> = (0..33u8).collect(); // 20-byte header + 13 bytes, odd length
        let mut ip = vec![0x60, 0, 0, 0];
        ip.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        ip.extend_from_slice(&[PROTO_TCP, 64]);
        ip.extend_from_slice(&[0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        ip.extend_from_slice(&[0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        f.extend_from_slice(&ip);
        f.extend_from_slice(&seg);
        let want = full(f.clone());
        let mut got = partial(f);
        assert!(is_partial(&got));
        assert!(complete(&mut got, 14));
        assert_eq!(got, want);
    }

    #[test]
    fn a_corrupted_frame_is_not_taken_for_a_partial_one() {
        let mut f = full(udp4(b"some payload"));
        f[50] ^= 0x10;
        assert!(!verifies(&f));
        assert!(!is_partial(&f), "wrong, but not the offload's pattern");
    }

    #[test]
    fn frames_without_a_segment_to_finish_are_left_alone() {
        let mut short = udp4(b"x");
        short.truncate(30);
        let before = short.clone();
        assert!(!complete(&mut short, 14));
        assert!(!is_partial(&short));
        assert_eq!(short, before);
        let mut frag = partial(udp4(b"fragment"));
        frag[14 + 6] = 0x20; // more fragments
        assert!(!complete(&mut frag, 14));
        let mut icmp = udp4(b"ping");
        icmp[14 + 9] = 1;
        assert!(!complete(&mut icmp, 14));
        let mut arp = udp4(b"");
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert!(!is_partial(&arp));
        for n in 0..40 {
            let mut f = udp4(b"abc");
            f.truncate(n);
            let _ = complete(&mut f, 14);
            let _ = is_partial(&f);
        }
    }
}
