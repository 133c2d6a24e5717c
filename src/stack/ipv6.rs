//! The stack's IPv6 side: the demultiplexing of an IPv6 frame, Neighbor Discovery for
//! our addresses (RFC 4861: NS answered, DAD probes included; NA and NS senders learnt
//! into the neighbour cache), ICMPv6 echo (RFC 4443 §4), UDP echo and sockperf, ICMPv6
//! port unreachable (rate-limited, with IPv4's bucket), and TCP into the one endpoint.
//!
//! A frame is checked by `wire::ipv6` (the extension-header walk is bounded), then its
//! extension headers are removed — the upper layer slid down to the fixed header, as the
//! IPv4 side does with options — so everything after this sees a bare 40-byte header,
//! and every reply written over a request carries none.

use super::{
    drop_reason, swap_macs, swap_udp_ports_at, Stack, UdpService, ETH_HEADER, IPV6_HEADER, TTL,
    UDP_HEADER,
};
use crate::driver::{Transmit, Verdict};
use crate::metrics::DropReason;
use crate::proto::ndp::{self, NdpInvalid};
use crate::stack::App;
use crate::time::Instant;
use crate::wire::icmpv6::{self, msg_type, unreach_code};
use crate::wire::ipv6::{is_solicited_node, solicited_node, ALL_NODES};
use crate::wire::{
    EtherType, EthernetFrame, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet, Ipv6Repr, NdpRepr,
    UdpPacket,
};
use core::net::{IpAddr, Ipv6Addr, SocketAddr};

/// Whether the destination MAC of a frame may carry IPv6 for us: an IPv6 multicast MAC
/// (33:33:…, RFC 2464 §7); which group it is is checked at the IP layer.
pub(super) fn is_ipv6_multicast_mac(mac: [u8; 6]) -> bool {
    mac[0] == 0x33 && mac[1] == 0x33
}

impl<A: App> Stack<A> {
    /// Whether `dst` is a multicast group we are in: all-nodes and the solicited-node
    /// group of each of our addresses.
    fn in_group(&self, dst: Ipv6Addr) -> bool {
        dst == ALL_NODES
            || (is_solicited_node(dst)
                && self.addrs.ips6().iter().any(|&a| solicited_node(a) == dst))
    }

    pub(super) fn handle_ipv6(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        tx: &mut dyn Transmit,
    ) -> Verdict {
        let parsed =
            Ipv6Packet::new_checked(&frame[ETH_HEADER..]).and_then(|p| Ipv6Repr::parse(&p));
        let r = match parsed {
            Ok(r) => r,
            Err(e) => return self.dropped(drop_reason(e)),
        };
        let ours = self.addrs.contains6(r.dst);
        let group = r.dst.is_multicast() && self.in_group(r.dst);
        if !ours && !group {
            return self.dropped(DropReason::NotForUs);
        }
        if r.src.is_multicast() || r.src.is_loopback() {
            return self.dropped(DropReason::MartianSource);
        }
        if self.addrs.contains6(r.src) {
            return self.dropped(DropReason::BadSource);
        }
        // Slide the upper layer down over the extension headers.
        let upper = ETH_HEADER + IPV6_HEADER;
        if r.ext_len > 0 {
            frame.copy_within(upper + r.ext_len..upper + r.ext_len + r.payload_len, upper);
            let mut ip = Ipv6Packet::new_unchecked(&mut frame[ETH_HEADER..]);
            ip.set_next_header(r.protocol.into());
            ip.set_payload_len(r.payload_len as u16);
        }
        let frame = &mut frame[..upper + r.payload_len];
        match r.protocol {
            IpProtocol::Icmpv6 => self.handle_icmpv6(now, frame, &r, ours, tx),
            _ if !ours => self.dropped(DropReason::NotForUs),
            IpProtocol::Udp => self.handle_udp6(now, frame, &r, tx),
            IpProtocol::Tcp => {
                self.tcp
                    .on_segment(now, frame, r.src.into(), r.dst.into(), &mut self.app)
            }
            _ => self.dropped(DropReason::UnknownProtocol),
        }
    }

    fn handle_icmpv6(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        r: &Ipv6Repr,
        ours: bool,
        tx: &mut dyn Transmit,
    ) -> Verdict {
        let body = &frame[ETH_HEADER + IPV6_HEADER..];
        let packet = match Icmpv6Packet::new_checked(body) {
            Ok(p) => p,
            Err(e) => return self.dropped(drop_reason(e)),
        };
        if matches!(
            packet.msg_type(),
            msg_type::NEIGHBOR_SOLICIT | msg_type::NEIGHBOR_ADVERT
        ) {
            return self.handle_ndp(now, frame, r, tx);
        }
        let repr = match Icmpv6Repr::parse(&packet, r.src, r.dst) {
            Ok(repr) => repr,
            Err(e) => return self.dropped(drop_reason(e)),
        };
        match repr {
            // Router discovery, redirects and MLD are for routers and multicast
            // listeners: a host on one link ignores them, and that is no error.
            Icmpv6Repr::Ignored { .. } => {
                self.counters.icmpv6_ignored.inc();
                Verdict::Drop
            }
            Icmpv6Repr::EchoRequest { .. } if ours => {
                let mut p = Icmpv6Packet::new_unchecked(&mut frame[ETH_HEADER + IPV6_HEADER..]);
                p.echo_request_into_reply();
                reverse_ipv6(frame, self.mac);
                self.counters.icmpv6_echo_replies.inc();
                self.reflected(frame.len())
            }
            Icmpv6Repr::DstUnreachable { code, quoted } if code == unreach_code::PORT => {
                if let Some((to, local)) = quoted_udp(quoted) {
                    if self.addrs.contains6(local.0) {
                        let to = SocketAddr::new(IpAddr::V6(to.0), to.1);
                        let local = SocketAddr::new(IpAddr::V6(local.0), local.1);
                        if self.app.unreachable(now, to, local) {
                            return Verdict::Drop;
                        }
                    }
                }
                self.dropped(DropReason::Unsupported)
            }
            _ => self.dropped(DropReason::Unsupported),
        }
    }

    /// Neighbor Discovery: checks every RFC 4861 §7.1 rule, learns the sender, answers a
    /// solicitation for one of our addresses (a DAD probe to all-nodes).
    fn handle_ndp(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        r: &Ipv6Repr,
        tx: &mut dyn Transmit,
    ) -> Verdict {
        let icmp = &frame[ETH_HEADER + IPV6_HEADER..];
        let msg = match ndp::check_message(r.hop_limit, r.src, r.dst, icmp) {
            Ok(m) => m,
            Err(NdpInvalid::HopLimit) => return self.dropped(DropReason::NdpHopLimit),
            Err(NdpInvalid::Wire(e)) => return self.dropped(drop_reason(e)),
            Err(_) => return self.dropped(DropReason::NdpInvalid),
        };
        match msg {
            NdpRepr::NeighborSolicit { target, .. } => {
                if !self.addrs.contains6(target) {
                    return self.dropped(DropReason::NotForUs);
                }
                self.counters.ndp_solicitations_received.inc();
                if !r.src.is_unspecified() {
                    self.nd.handle_solicitation(r.src, &msg, now);
                }
                let eth_src = EthernetFrame::new_unchecked(&*frame).src_addr();
                let addrs = &self.addrs;
                let Some(answer) = ndp::answer_solicitation(
                    r.src,
                    eth_src,
                    &msg,
                    |t| addrs.contains6(t),
                    self.mac,
                ) else {
                    return Verdict::Drop;
                };
                let mac = self.mac;
                if tx.send_with(&mut |buf| answer.emit_frame(mac, buf).unwrap_or(0)) {
                    self.counters.ndp_advertisements_sent.inc();
                    self.counters.tx_frames.inc();
                } else {
                    self.counters.count_drop(DropReason::TxNoBuffer);
                }
                Verdict::Drop
            }
            NdpRepr::NeighborAdvert { .. } => {
                self.nd.handle_advertisement(&msg, now);
                Verdict::Drop
            }
        }
    }

    fn handle_udp6(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        r: &Ipv6Repr,
        tx: &mut dyn Transmit,
    ) -> Verdict {
        let off = ETH_HEADER + IPV6_HEADER;
        let udp = match UdpPacket::new_checked(&frame[off..]) {
            Ok(u) => u,
            Err(e) => return self.dropped(drop_reason(e)),
        };
        // Bytes after the datagram's length are not part of it (as over IPv4).
        let end = off + usize::from(udp.len());
        let trimmed = end < frame.len();
        let frame = &mut frame[..end];
        if trimmed {
            // A reply reflected from here ends where the datagram does: so must the
            // payload length it carries (no header checksum to patch over IPv6).
            Ipv6Packet::new_unchecked(&mut frame[ETH_HEADER..]).set_payload_len((end - off) as u16);
        }
        let udp = UdpPacket::new_unchecked(&frame[off..]);
        // A zero checksum is invalid over IPv6 (RFC 8200 §8.1): verify says so.
        if !udp.verify_checksum(r.src, r.dst) {
            return self.dropped(DropReason::BadChecksum);
        }
        let port = udp.dst_port();
        match self.udp[usize::from(port)] {
            UdpService::Echo => {
                self.counters.udp_echo_replies.inc();
                reverse_ipv6(frame, self.mac);
                swap_udp_ports_at(frame, off);
                self.reflected(frame.len())
            }
            UdpService::Sockperf => {
                if self.sockperf_pong(frame, off) {
                    reverse_ipv6(frame, self.mac);
                    swap_udp_ports_at(frame, off);
                    return self.reflected(frame.len());
                }
                Verdict::Drop
            }
            UdpService::Closed => {
                let from = SocketAddr::new(IpAddr::V6(r.src), udp.src_port());
                let to = SocketAddr::new(IpAddr::V6(r.dst), port);
                self.deliver_datagram(now, frame, off + UDP_HEADER, from, to, true, tx)
            }
        }
    }

    /// RFC 4443 §3.1: a rate-limited destination unreachable (port) for a datagram to a
    /// closed port.
    pub(super) fn port_unreachable6(&mut self, now: Instant, frame: &[u8], tx: &mut dyn Transmit) {
        let request = &frame[ETH_HEADER..];
        let original = Ipv6Packet::new_unchecked(request);
        if !icmpv6::may_send_icmpv6_error(&original) {
            return;
        }
        if !self.unreachable_limit.take(now) {
            self.counters.icmp_unreachables_limited.inc();
            return;
        }
        let peer_mac = EthernetFrame::new_unchecked(frame).src_addr();
        let (mac, ours, peer) = (self.mac, original.dst_addr(), original.src_addr());
        let sent = tx.send_with(&mut |buf| {
            let (head, body) = buf.split_at_mut(ETH_HEADER + IPV6_HEADER);
            let Ok(len) = icmpv6::emit_port_unreachable(request, body) else {
                return 0;
            };
            let mut eth = EthernetFrame::new_unchecked(&mut *head);
            eth.set_dst_addr(peer_mac);
            eth.set_src_addr(mac);
            eth.set_ethertype(EtherType::Ipv6);
            Ipv6Repr::new(ours, peer, IpProtocol::Icmpv6, len)
                .emit(&mut Ipv6Packet::new_unchecked(&mut head[ETH_HEADER..]));
            ETH_HEADER + IPV6_HEADER + len
        });
        if sent {
            self.counters.icmp_unreachables.inc();
            self.counters.tx_frames.inc();
        } else {
            self.counters.count_drop(DropReason::TxNoBuffer);
        }
    }
}

/// Turns an IPv6 request into its reply: MACs and addresses swapped, hop limit reset.
/// No IPv6 header checksum exists, and swapping leaves the pseudo-header sum as it was.
fn reverse_ipv6(frame: &mut [u8], mac: crate::wire::EthernetAddress) {
    swap_macs(frame, mac);
    let mut ip = Ipv6Packet::new_unchecked(&mut frame[ETH_HEADER..]);
    ip.swap_addrs();
    ip.set_hop_limit(TTL);
}

/// The UDP ports and addresses quoted in an ICMPv6 error: ((their address, port), (our
/// address, port)) of the datagram we sent, if the quote holds its IPv6 header and UDP
/// ports.
fn quoted_udp(quoted: &[u8]) -> Option<((Ipv6Addr, u16), (Ipv6Addr, u16))> {
    if quoted.len() < IPV6_HEADER + 4 || quoted[0] >> 4 != 6 || quoted[6] != 17 {
        return None;
    }
    let addr = |at: usize| {
        let mut b = [0u8; 16];
        b.copy_from_slice(&quoted[at..at + 16]);
        Ipv6Addr::from(b)
    };
    let port = |at: usize| u16::from_be_bytes([quoted[at], quoted[at + 1]]);
    Some((
        (addr(24), port(IPV6_HEADER + 2)),
        (addr(8), port(IPV6_HEADER)),
    ))
}
