//! wire/checksum: the Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Layer: `wire/`, sans-IO. It owns the ones'-complement arithmetic every other wire module
//! uses: a fast sum over a byte slice, folding, the IPv4 and IPv6 pseudo-headers, combining partial
//! sums and the incremental update used when a field of an already-checksummed packet is
//! rewritten in place (e.g. swapping addresses or ports for an echo).
//!
//! Vocabulary: a *sum* is the folded 16-bit ones'-complement sum of big-endian words
//! (not complemented); a *checksum* is the complement of a sum, as it is written into a
//! header. A buffer with a correct checksum in it sums to `0xFFFF`.
//! Partial sums may be combined only when each part starts at an even byte offset of the
//! whole; an odd trailing byte is padded with a zero byte on the right (RFC 1071 §4.1).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Folds a wide accumulator of 16-bit word sums into a 16-bit ones'-complement sum
/// (end-around carry).
#[inline]
pub const fn fold(mut acc: u64) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

/// The ones'-complement sum of `data` taken as big-endian 16-bit words; an odd last byte
/// counts as the high byte of a word whose low byte is zero.
///
/// It adds big-endian 32-bit words into a 64-bit accumulator (no carry handling needed
/// until 2^32 words) and folds once at the end: 2^16 ≡ 1 (mod 2^16 − 1), so the sum of
/// the 32-bit words folds to the same value as the sum of the 16-bit words.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut pair = rest.chunks_exact(2);
    for w in &mut pair {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = pair.remainder() {
        acc += u64::from(*last) << 8;
    }
    fold(acc)
}

/// Ones'-complement sum of several partial sums (each over a part starting at an even
/// offset of the whole).
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// The checksum (complemented sum) of `data`, as written into a header.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// The sum of the IPv4 pseudo-header used by TCP and UDP (RFC 9293 §3.1, RFC 768):
/// source, destination, zero, protocol, and the TCP/UDP length.
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    let s = u32::from(src);
    let d = u32::from(dst);
    fold(
        u64::from(s >> 16)
            + u64::from(s & 0xFFFF)
            + u64::from(d >> 16)
            + u64::from(d & 0xFFFF)
            + u64::from(protocol)
            + u64::from(length),
    )
}

/// The sum of the IPv6 pseudo-header used by UDP, TCP and ICMPv6 (RFC 8200 §8.1):
/// source address, destination address, the 32-bit upper-layer packet length, three zero
/// bytes and the next-header value of the upper-layer protocol.
///
/// `src` and `dst` are those of the IPv6 header, except that a packet with a Routing
/// header uses its final destination as `dst` (xstack, a host, never sends one); `length`
/// is the upper-layer length, not the IPv6 payload length when extension headers precede
/// it; `next_header` is the upper-layer protocol (17, 6 or 58), not the IPv6 header's
/// Next Header field when extension headers follow it.
//= https://www.rfc-editor.org/rfc/rfc8200#section-8.1
//# Unlike IPv4, the default behavior when UDP packets are
//# originated by an IPv6 node is that the UDP checksum is not optional.
#[inline]
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u16 {
    let mut acc: u64 = 0;
    for a in [src, dst] {
        let v = u128::from(a);
        acc += (v >> 96) as u32 as u64
            + (v >> 64) as u32 as u64
            + (v >> 32) as u32 as u64
            + v as u32 as u64;
    }
    fold(acc + u64::from(length) + u64::from(next_header))
}

/// The pseudo-header sum of either family: both addresses must be of one family (an
/// IPv4 address paired with an IPv6 one is summed as its IPv4-mapped form).
#[inline]
pub fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, length: u32) -> u16 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => pseudo_header_v4(s, d, protocol, length as u16),
        _ => pseudo_header_v6(v6(src), v6(dst), protocol, length),
    }
}

fn v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// RFC 1624 eqn. 3: the new checksum after one 16-bit word (at an even offset) changes
/// from `old_word` to `new_word`: `HC' = ~(~HC + ~m + m')`.
///
/// Equal to a full recompute up to the two ones'-complement zeros: the result may be
/// `0x0000` where a recompute gives `0xFFFF` only if every word of the data is zero.
/// A UDP checksum of 0 means "none" and must not be updated (the caller checks that).
#[inline]
pub const fn update_u16(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    let acc = (!old_checksum) as u64 + (!old_word) as u64 + new_word as u64;
    !fold(acc)
}

/// [`update_u16`] for a 32-bit field at an even offset (e.g. an IPv4 address).
#[inline]
pub const fn update_u32(old_checksum: u16, old: u32, new: u32) -> u16 {
    let c = update_u16(old_checksum, (old >> 16) as u16, (new >> 16) as u16);
    update_u16(c, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ipv6_pseudo_header_on_literal_bytes() {
        let (a, b): (Ipv6Addr, Ipv6Addr) =
            ("2001:2::1".parse().unwrap(), "2001:2::2".parse().unwrap());
        // RFC 8200 §8.1: src, dst, 32-bit length, 24 zero bits, next header.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&a.octets());
        bytes.extend_from_slice(&b.octets());
        bytes.extend_from_slice(&13u32.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 17]);
        assert_eq!(pseudo_header_v6(a, b, 17, 13), sum(&bytes));
        // By hand: 0x2001+0x0002+0x0001 + 0x2001+0x0002+0x0002 + 13 + 17.
        assert_eq!(pseudo_header_v6(a, b, 17, 13), 0x4027);
        assert_eq!(pseudo_header(a.into(), b.into(), 17, 13), 0x4027);
        // A jumbo length counts both of its halves.
        let big = pseudo_header_v6(a, b, 6, 0x0001_0002);
        assert_eq!(big, fold(0x4009 + 1 + 2 + 6));
    }

    #[test]
    fn rfc1071_example_sums_to_ddf2() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), 0x220d);
    }

    #[test]
    fn odd_length_pads_last_byte_on_the_right() {
        assert_eq!(sum(&[0x12]), 0x1200);
        assert_eq!(sum(&[0x00, 0x01, 0x02]), 0x0201);
        assert_eq!(sum(&[0xff, 0xff, 0x00, 0x01, 0x80]), 0x8001);
    }

    #[test]
    fn empty_slice_sums_to_zero() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(checksum(&[]), 0xFFFF);
    }

    #[test]
    fn known_ipv4_header_checksum_is_ad8d() {
        // A well-known 20-byte header (198.18.0.1 -> 198.18.0.199, UDP, total 0x73),
        // whose checksum field holds 0xad8d (computed independently).
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xad, 0x8d, 0xc6, 0x12,
            0x00, 0x01, 0xc6, 0x12, 0x00, 0xc7,
        ];
        assert_eq!(sum(&h), 0xFFFF, "a correct header sums to all ones");
        h[10] = 0;
        h[11] = 0;
        assert_eq!(checksum(&h), 0xad8d);
    }

    #[test]
    fn pseudo_header_matches_summing_its_bytes() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(198, 18, 0, 2);
        let bytes = [198, 18, 0, 1, 198, 18, 0, 2, 0, 6, 0x05, 0xdc];
        assert_eq!(pseudo_header_v4(src, dst, 6, 1500), sum(&bytes));
    }

    #[test]
    fn pseudo_header_v6_matches_summing_its_bytes() {
        let src: Ipv6Addr = "2001:2::a".parse().unwrap();
        let dst: Ipv6Addr = "2001:2:ffff:1234:5678:9abc:def0:99".parse().unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&0x0001_0203u32.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(pseudo_header_v6(src, dst, 58, 0x0001_0203), sum(&bytes));
    }

    /// A UDP datagram the Linux kernel sent (captured with an AF_PACKET socket on a veth
    /// with TX checksum offload off, in a private namespace): 2001:2::a:40000 ->
    /// 2001:2::99:9, payload "ping!" (odd length), checksum 0x2311. Cross-checked with an
    /// independent Python implementation:
    /// `d = src + dst + struct.pack("!I", 13) + b"\0\0\0\x11" + udp + b"\0";`
    /// `acc = sum(struct.unpack("!%dH" % (len(d)//2), d))`, folded, complemented: 0x2311.
    #[test]
    fn kernel_udp_over_ipv6_checksum_verifies() {
        let src: Ipv6Addr = "2001:2::a".parse().unwrap();
        let dst: Ipv6Addr = "2001:2::99".parse().unwrap();
        let mut udp = [
            0x9c, 0x40, 0x00, 0x09, 0x00, 0x0d, 0x23, 0x11, b'p', b'i', b'n', b'g', b'!',
        ];
        let ph = pseudo_header_v6(src, dst, 17, 13);
        assert_eq!(combine(&[ph, sum(&udp)]), 0xFFFF);
        udp[6] = 0;
        udp[7] = 0;
        assert_eq!(!combine(&[ph, sum(&udp)]), 0x2311);
    }

    #[test]
    fn rfc1624_example_update() {
        // RFC 1624 §4: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000.
        assert_eq!(update_u16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    fn same_ones_complement(a: u16, b: u16) -> bool {
        a == b || (a == 0 && b == 0xFFFF) || (a == 0xFFFF && b == 0)
    }

    proptest! {
        #[test]
        fn sum_equals_naive_word_sum(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut acc: u64 = 0;
            for (i, b) in data.iter().enumerate() {
                acc += if i % 2 == 0 { u64::from(*b) << 8 } else { u64::from(*b) };
            }
            prop_assert_eq!(sum(&data), fold(acc));
        }

        #[test]
        fn combine_of_even_split_equals_whole(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            cut in 0usize..150,
        ) {
            let cut = (cut * 2).min(data.len() & !1);
            let (a, b) = data.split_at(cut);
            prop_assert_eq!(combine(&[sum(a), sum(b)]), sum(&data));
        }

        #[test]
        fn incremental_u16_update_equals_full_recompute(
            data in proptest::collection::vec(any::<u8>(), 2..200),
            idx in any::<prop::sample::Index>(),
            new_word in any::<u16>(),
        ) {
            let mut data = data;
            let words = data.len() / 2;
            let at = idx.index(words) * 2;
            let old_csum = checksum(&data);
            let old_word = u16::from_be_bytes([data[at], data[at + 1]]);
            data[at..at + 2].copy_from_slice(&new_word.to_be_bytes());
            let inc = update_u16(old_csum, old_word, new_word);
            prop_assert!(same_ones_complement(inc, checksum(&data)), "{inc:#x} vs {:#x}", checksum(&data));
        }

        #[test]
        fn incremental_u32_update_equals_full_recompute(
            data in proptest::collection::vec(any::<u8>(), 4..200),
            idx in any::<prop::sample::Index>(),
            new in any::<u32>(),
        ) {
            let mut data = data;
            let at = idx.index(data.len() / 2 - 1) * 2;
            let old_csum = checksum(&data);
            let old = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            data[at..at + 4].copy_from_slice(&new.to_be_bytes());
            let inc = update_u32(old_csum, old, new);
            prop_assert!(same_ones_complement(inc, checksum(&data)));
        }

        #[test]
        fn data_with_its_checksum_appended_verifies(
            data in proptest::collection::vec(any::<u8>(), 0..100).prop_map(|mut v| { v.push(1); if v.len() % 2 == 1 { v.push(0) }; v })
        ) {
            let c = checksum(&data);
            let mut all = data.clone();
            all.extend_from_slice(&c.to_be_bytes());
            prop_assert_eq!(sum(&all), 0xFFFF);
        }
    }
}
