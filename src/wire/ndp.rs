//! wire/ndp: Neighbor Discovery neighbor solicitation and advertisement (RFC 4861 §4.3,
//! §4.4) and the options they carry (§4.6), over Ethernet.
//!
//! Layer: `wire/`, sans-IO. It owns the layout of the two messages a host needs to find
//! its neighbours and be found (router discovery is not implemented: those types are
//! ignored by `wire::icmpv6`), the option walk, and a builder of the whole Ethernet frame
//! of one message. Everything that needs the IPv6 header or a policy (hop limit 255,
//! unspecified-source rules, the neighbour cache, what to answer) is `proto::ndp`'s.
//!
//! Invariants: [`NdpRepr::parse`] reads only within the ICMPv6 message, and the option
//! walk consumes at least 8 bytes per option and stops after [`MAX_OPTIONS`], so it is
//! bounded whatever the bytes. Options of length 0 make the message `Malformed` (RFC 4861
//! §4.6: "Nodes MUST silently discard an ND packet that contains an option with length
//! zero"); unknown options are skipped; of a repeated link-layer address option the first
//! counts.

use core::net::Ipv6Addr;

use super::ethernet::{self, EtherType, EthernetAddress, EthernetFrame};
use super::icmpv6::{msg_type, Icmpv6Packet};
use super::ipv4::IpProtocol;
use super::ipv6::{self, Ipv6Packet, Ipv6Repr, NDP_HOP_LIMIT};
use super::WireError;

/// Neighbor Discovery option types (RFC 4861 §4.6, RFC 7527 for the nonce).
pub mod option_type {
    pub const SOURCE_LLADDR: u8 = 1;
    pub const TARGET_LLADDR: u8 = 2;
    pub const PREFIX_INFO: u8 = 3;
    pub const REDIRECTED_HEADER: u8 = 4;
    pub const MTU: u8 = 5;
    pub const NONCE: u8 = 14;
}

mod field {
    use core::ops::Range;
    pub const FLAGS: usize = 4;
    pub const TARGET: Range<usize> = 8..24;
    pub const OPTIONS: usize = 24;
}

/// Length of a neighbor solicitation or advertisement without options: the shortest
/// valid one (RFC 4861 §7.1.1: "ICMP length (derived from the IP length) is 24 or more
/// octets").
pub const MESSAGE_LEN: usize = field::OPTIONS;
/// Length of a link-layer address option for Ethernet (type, length 1, 6-byte MAC).
pub const LLADDR_OPTION_LEN: usize = 8;
/// Most options the walk reads before it refuses the message (`Malformed`).
pub const MAX_OPTIONS: usize = 32;

/// The flags of a neighbor advertisement (RFC 4861 §4.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NaFlags {
    /// R: the sender is a router.
    pub router: bool,
    /// S: sent in response to a solicitation.
    pub solicited: bool,
    /// O: the advertisement should override a cached link-layer address.
    pub override_: bool,
}

impl NaFlags {
    const R: u8 = 0x80;
    const S: u8 = 0x40;
    const O: u8 = 0x20;

    /// From the first byte of the flags word (reserved bits ignored).
    pub const fn from_byte(b: u8) -> NaFlags {
        NaFlags {
            router: b & Self::R != 0,
            solicited: b & Self::S != 0,
            override_: b & Self::O != 0,
        }
    }

    pub const fn to_byte(self) -> u8 {
        (if self.router { Self::R } else { 0 })
            | (if self.solicited { Self::S } else { 0 })
            | (if self.override_ { Self::O } else { 0 })
    }
}

/// The link-layer address options found in a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NdpOptions {
    pub source_lladdr: Option<EthernetAddress>,
    pub target_lladdr: Option<EthernetAddress>,
}

impl NdpOptions {
    /// Walks the options in `bytes` (everything after the fixed part of the message).
    /// `Malformed`: an option of length 0, one that runs past the message (or a lone
    /// trailing byte), a link-layer address option whose length is not 1 (8 bytes, the
    /// Ethernet form), or more than [`MAX_OPTIONS`] options.
    pub fn parse(mut bytes: &[u8]) -> Result<NdpOptions, WireError> {
        let mut opts = NdpOptions::default();
        let mut count = 0;
        while !bytes.is_empty() {
            count += 1;
            if count > MAX_OPTIONS {
                return Err(WireError::Malformed);
            }
            let (t, units) = match bytes {
                [t, units, ..] => (*t, usize::from(*units)),
                _ => return Err(WireError::Malformed),
            };
            let len = units * 8;
            if len == 0 || len > bytes.len() {
                return Err(WireError::Malformed);
            }
            let (opt, rest) = bytes.split_at(len);
            let slot = match t {
                option_type::SOURCE_LLADDR => Some(&mut opts.source_lladdr),
                option_type::TARGET_LLADDR => Some(&mut opts.target_lladdr),
                _ => None,
            };
            if let Some(slot) = slot {
                if len != LLADDR_OPTION_LEN {
                    return Err(WireError::Malformed);
                }
                if slot.is_none() {
                    *slot = Some(EthernetAddress::from_bytes(&opt[2..8]));
                }
            }
            bytes = rest;
        }
        Ok(opts)
    }
}

/// Writes a link-layer address option of `kind` for `mac` into the first 8 bytes of
/// `buf` (panics if shorter).
fn emit_lladdr_option(kind: u8, mac: EthernetAddress, buf: &mut [u8]) {
    buf[0] = kind;
    buf[1] = 1;
    buf[2..8].copy_from_slice(mac.as_bytes());
}

/// A parsed (or to-be-emitted) neighbor solicitation or advertisement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NdpRepr {
    /// "What is the link-layer address of `target`?" (or, from ::, "is anyone using
    /// `target`?", duplicate address detection).
    NeighborSolicit {
        target: Ipv6Addr,
        source_lladdr: Option<EthernetAddress>,
    },
    /// "`target` is at `target_lladdr`."
    NeighborAdvert {
        flags: NaFlags,
        target: Ipv6Addr,
        target_lladdr: Option<EthernetAddress>,
    },
}

impl NdpRepr {
    /// Structural parse of a message of type 135 or 136 (`Unsupported` otherwise): code 0
    /// (`Malformed`), at least [`MESSAGE_LEN`] bytes (`Truncated`), options as
    /// [`NdpOptions::parse`] says. The checksum is not verified here
    /// (`Icmpv6Repr::parse` does it), nor anything that needs the IPv6 header.
    pub fn parse<T: AsRef<[u8]>>(packet: &Icmpv6Packet<T>) -> Result<NdpRepr, WireError> {
        let b = packet.message();
        let t = packet.msg_type();
        if t != msg_type::NEIGHBOR_SOLICIT && t != msg_type::NEIGHBOR_ADVERT {
            return Err(WireError::Unsupported);
        }
        if packet.msg_code() != 0 {
            return Err(WireError::Malformed);
        }
        if b.len() < MESSAGE_LEN {
            return Err(WireError::Truncated);
        }
        let mut target = [0u8; 16];
        target.copy_from_slice(&b[field::TARGET]);
        let target = Ipv6Addr::from(target);
        let opts = NdpOptions::parse(&b[field::OPTIONS..])?;
        Ok(if t == msg_type::NEIGHBOR_SOLICIT {
            NdpRepr::NeighborSolicit {
                target,
                source_lladdr: opts.source_lladdr,
            }
        } else {
            NdpRepr::NeighborAdvert {
                flags: NaFlags::from_byte(b[field::FLAGS]),
                target,
                target_lladdr: opts.target_lladdr,
            }
        })
    }

    /// The target address.
    pub const fn target(&self) -> Ipv6Addr {
        match *self {
            NdpRepr::NeighborSolicit { target, .. } | NdpRepr::NeighborAdvert { target, .. } => {
                target
            }
        }
    }

    /// The link-layer address option carried (source for a solicitation, target for an
    /// advertisement).
    pub const fn lladdr(&self) -> Option<EthernetAddress> {
        match *self {
            NdpRepr::NeighborSolicit { source_lladdr, .. } => source_lladdr,
            NdpRepr::NeighborAdvert { target_lladdr, .. } => target_lladdr,
        }
    }

    /// The ICMPv6 message length `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        MESSAGE_LEN
            + match self.lladdr() {
                Some(_) => LLADDR_OPTION_LEN,
                None => 0,
            }
    }

    /// Writes the message, its option and its checksum (over the pseudo-header of `src`,
    /// `dst`). The packet's buffer must be exactly `buffer_len()` bytes; panics if
    /// shorter.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Icmpv6Packet<T>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) {
        let (t, flags, opt_kind) = match *self {
            NdpRepr::NeighborSolicit { .. } => {
                (msg_type::NEIGHBOR_SOLICIT, 0, option_type::SOURCE_LLADDR)
            }
            NdpRepr::NeighborAdvert { flags, .. } => (
                msg_type::NEIGHBOR_ADVERT,
                flags.to_byte(),
                option_type::TARGET_LLADDR,
            ),
        };
        packet.set_msg_type(t);
        packet.set_msg_code(0);
        packet.set_param(u32::from(flags) << 24);
        let body = packet.data_mut();
        body[..16].copy_from_slice(&self.target().octets());
        if let Some(mac) = self.lladdr() {
            emit_lladdr_option(opt_kind, mac, &mut body[16..]);
        }
        packet.fill_checksum_over(self.buffer_len(), src, dst);
    }

    /// Writes a whole Ethernet frame carrying this message into `buf`: Ethernet
    /// `src_mac` -> `dst_mac`, IPv6 `src` -> `dst` with hop limit 255, the message.
    /// Returns the frame length, or `Truncated` if `buf` is too short.
    pub fn emit_frame(
        &self,
        src_mac: EthernetAddress,
        dst_mac: EthernetAddress,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        buf: &mut [u8],
    ) -> Result<usize, WireError> {
        let msg_len = self.buffer_len();
        let ip_end = ethernet::HEADER_LEN + ipv6::HEADER_LEN;
        let total = ip_end + msg_len;
        if buf.len() < total {
            return Err(WireError::Truncated);
        }
        let mut eth = EthernetFrame::new_unchecked(&mut buf[..total]);
        eth.set_dst_addr(dst_mac);
        eth.set_src_addr(src_mac);
        eth.set_ethertype(EtherType::Ipv6);
        let mut ip = Ipv6Repr::new(src, dst, IpProtocol::Icmpv6, msg_len);
        ip.hop_limit = NDP_HOP_LIMIT;
        ip.emit(&mut Ipv6Packet::new_unchecked(
            &mut buf[ethernet::HEADER_LEN..ip_end],
        ));
        self.emit(
            &mut Icmpv6Packet::new_unchecked(&mut buf[ip_end..total]),
            src,
            dst,
        );
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmpv6::Icmpv6Repr;
    use proptest::prelude::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const MAC_A: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x0a]);
    const MAC_B: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x0b]);

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // Frames the Linux kernel sent on a veth (02:..:0a <-> 02:..:0b, 2001:2::a/64 and
    // 2001:2::b/64), captured with an AF_PACKET socket; every ICMPv6 checksum also
    // matches an independent Python sum over pseudo-header and message.

    /// Duplicate address detection for 2001:2::a: from ::, to its solicited-node group,
    /// no source link-layer option, but an RFC 7527 nonce option (type 14).
    const DAD_NS: &str = "3333ff00000a02000000000a86dd6000000000203aff00000000000000000000000000000000ff0200000000000000000001ff00000a8700be32000000002001000200000000000000000000000a0e01bf2ad4c2fa67";
    /// Address resolution of 2001:2::99 from 2001:2::a, with a source link-layer option.
    const RESOLVE_NS: &str = "3333ff00009902000000000a86dd6000000000203aff2001000200000000000000000000000aff0200000000000000000001ff000099870036530000000020010002000000000000000000000099010102000000000a";
    /// The solicited advertisement 2001:2::b gave 2001:2::a: S and O set, target
    /// link-layer option.
    const SOLICITED_NA: &str = "02000000000a02000000000b86dd6000000000203aff2001000200000000000000000000000b2001000200000000000000000000000a8800b36f600000002001000200000000000000000000000b020102000000000b";

    fn parse_frame(f: &[u8]) -> (Ipv6Addr, Ipv6Addr, u8, NdpRepr) {
        let eth = EthernetFrame::new_checked(f).unwrap();
        let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
        let r = Ipv6Repr::parse(&ip).unwrap();
        assert_eq!(r.protocol, IpProtocol::Icmpv6);
        let msg = ip.upper_layer(r.ext_len);
        let p = Icmpv6Packet::new_checked(msg).unwrap();
        match Icmpv6Repr::parse(&p, r.src, r.dst).unwrap() {
            Icmpv6Repr::Ndp(n) => (r.src, r.dst, r.hop_limit, n),
            other => panic!("not NDP: {other:?}"),
        }
    }

    #[test]
    fn parses_kernel_dad_probe_skipping_the_nonce() {
        let (src, dst, hop, n) = parse_frame(&hex(DAD_NS));
        assert_eq!(
            (src, dst, hop),
            (Ipv6Addr::UNSPECIFIED, a("ff02::1:ff00:a"), 255)
        );
        assert_eq!(
            n,
            NdpRepr::NeighborSolicit {
                target: a("2001:2::a"),
                source_lladdr: None
            }
        );
    }

    #[test]
    fn parses_kernel_resolution_and_emit_reproduces_it() {
        let f = hex(RESOLVE_NS);
        let (src, dst, _, n) = parse_frame(&f);
        assert_eq!(
            n,
            NdpRepr::NeighborSolicit {
                target: a("2001:2::99"),
                source_lladdr: Some(MAC_A)
            }
        );
        assert_eq!(dst, ipv6::solicited_node(n.target()));
        let mut out = [0u8; 128];
        let dst_mac = ipv6::multicast_mac(dst);
        let len = n.emit_frame(MAC_A, dst_mac, src, dst, &mut out).unwrap();
        assert_eq!(&out[..len], &f[..]);
    }

    #[test]
    fn parses_kernel_advertisement_and_emit_reproduces_it() {
        let f = hex(SOLICITED_NA);
        let (src, dst, _, n) = parse_frame(&f);
        let flags = NaFlags {
            router: false,
            solicited: true,
            override_: true,
        };
        assert_eq!(
            n,
            NdpRepr::NeighborAdvert {
                flags,
                target: a("2001:2::b"),
                target_lladdr: Some(MAC_B)
            }
        );
        let mut out = [0u8; 128];
        let len = n.emit_frame(MAC_B, MAC_A, src, dst, &mut out).unwrap();
        assert_eq!(&out[..len], &f[..]);
        assert_eq!(
            n.emit_frame(MAC_B, MAC_A, src, dst, &mut out[..85]),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn na_flags_round_trip_through_their_byte() {
        for b in 0..8u8 {
            let f = NaFlags::from_byte(b << 5);
            assert_eq!(f.to_byte(), b << 5);
        }
        assert_eq!(NaFlags::from_byte(0x1f), NaFlags::default());
    }

    /// A solicitation for 2001:2::b whose options are `opts`.
    fn ns_with(opts: &[u8]) -> Vec<u8> {
        let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&a("2001:2::b").octets());
        m.extend_from_slice(opts);
        m
    }

    fn parse(m: &[u8]) -> Result<NdpRepr, WireError> {
        NdpRepr::parse(&Icmpv6Packet::new_checked(m).unwrap())
    }

    #[test]
    fn option_rules() {
        let slla = [1, 1, 2, 0, 0, 0, 0, 0x0a];
        let other = [1, 1, 2, 0, 0, 0, 0, 0x0c];
        let unknown = [99, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
        // Unknown options are skipped, before or after.
        let m = ns_with(&[&unknown[..], &slla].concat());
        assert_eq!(parse(&m).unwrap().lladdr(), Some(MAC_A));
        let m = ns_with(&[&slla[..], &unknown].concat());
        assert_eq!(parse(&m).unwrap().lladdr(), Some(MAC_A));
        // Of a repeated option, the first counts.
        let m = ns_with(&[slla, other].concat());
        assert_eq!(parse(&m).unwrap().lladdr(), Some(MAC_A));
        // Length 0 is refused, even after a good option (it would loop forever).
        let m = ns_with(&[&slla[..], &[99, 0, 0, 0, 0, 0, 0, 0]].concat());
        assert_eq!(parse(&m), Err(WireError::Malformed));
        // An option past the end, and a lone trailing byte.
        assert_eq!(
            parse(&ns_with(&[1, 2, 2, 0, 0, 0, 0, 0x0a])),
            Err(WireError::Malformed)
        );
        assert_eq!(parse(&ns_with(&[1])), Err(WireError::Malformed));
        // A link-layer option that is not the 8-byte Ethernet form.
        let long = [2, 2, 2, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse(&ns_with(&long)), Err(WireError::Malformed));
        // Bounded count.
        let opt8 = [99, 1, 0, 0, 0, 0, 0, 0];
        let many = opt8.repeat(MAX_OPTIONS);
        assert!(parse(&ns_with(&many)).is_ok());
        let too_many = opt8.repeat(MAX_OPTIONS + 1);
        assert_eq!(parse(&ns_with(&too_many)), Err(WireError::Malformed));
    }

    #[test]
    fn structural_rules() {
        let m = ns_with(&[]);
        assert!(parse(&m).is_ok());
        assert_eq!(parse(&m[..23]), Err(WireError::Truncated));
        let mut bad_code = m.clone();
        bad_code[1] = 1;
        assert_eq!(parse(&bad_code), Err(WireError::Malformed));
        let mut other_type = m.clone();
        other_type[0] = 133;
        assert_eq!(parse(&other_type), Err(WireError::Unsupported));
    }

    fn mac() -> impl Strategy<Value = Option<EthernetAddress>> {
        proptest::option::of(any::<[u8; 6]>().prop_map(EthernetAddress))
    }

    proptest! {
        #[test]
        fn repr_round_trips(ns in any::<bool>(), flags in 0u8..8, target in any::<u128>(), lladdr in mac(),
                            src in any::<u128>(), dst in any::<u128>()) {
            let (src, dst, target) = (Ipv6Addr::from(src), Ipv6Addr::from(dst), Ipv6Addr::from(target));
            let r = if ns {
                NdpRepr::NeighborSolicit { target, source_lladdr: lladdr }
            } else {
                NdpRepr::NeighborAdvert { flags: NaFlags::from_byte(flags << 5), target, target_lladdr: lladdr }
            };
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut Icmpv6Packet::new_unchecked(&mut buf[..]), src, dst);
            let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Icmpv6Repr::parse(&p, src, dst).unwrap(), Icmpv6Repr::Ndp(r));
        }

        #[test]
        fn random_options_never_panic(opts in proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1), Just(2), any::<u8>()], 0..400)) {
            let o = NdpOptions::parse(&opts);
            let m = ns_with(&opts);
            prop_assert_eq!(parse(&m).map(|r| r.lladdr()), o.map(|o| o.source_lladdr));
        }
    }
}
