//! What the kernel of this host (this network namespace) says, for a run that shares an
//! address with it (`load --shared`): its own ephemeral port range, the ports it keeps
//! out of that range, the ports its sockets hold, and its neighbour table. All of it is
//! read from /proc; the parsers take the text, so they are tested without a kernel.

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

/// The kernel's ephemeral ports (`net.ipv4.ip_local_port_range`), inclusive.
pub fn ephemeral_range() -> std::io::Result<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")?;
    parse_range(&text).ok_or_else(|| std::io::Error::other(format!("cannot read '{text}'")))
}

fn parse_range(text: &str) -> Option<(u16, u16)> {
    let mut it = text.split_whitespace().map(str::parse::<u16>);
    let lo = it.next()?.ok()?;
    let hi = it.next()?.ok()?;
    (lo <= hi).then_some((lo, hi))
}

/// The ports the kernel never picks as ephemeral (`net.ipv4.ip_local_reserved_ports`,
/// e.g. "61000-65535,8080"), as inclusive ranges.
pub fn reserved_ports() -> Vec<(u16, u16)> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_reserved_ports")
        .map(|t| parse_port_list(&t))
        .unwrap_or_default()
}

fn parse_port_list(text: &str) -> Vec<(u16, u16)> {
    text.trim()
        .split(',')
        .filter_map(|part| {
            let part = part.trim();
            match part.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => part.parse().ok().map(|p| (p, p)),
            }
        })
        .collect()
}

/// A kernel socket bound to a port: "tcp" or "udp", its local address, its port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    pub proto: &'static str,
    pub addr: core::net::IpAddr,
    pub port: u16,
}

/// Every TCP and UDP socket of the kernel's (IPv4 and IPv6), by its local address.
pub fn bound_sockets() -> Vec<Bound> {
    let mut out = Vec::new();
    for (file, proto) in [
        ("/proc/net/tcp", "tcp"),
        ("/proc/net/tcp6", "tcp"),
        ("/proc/net/udp", "udp"),
        ("/proc/net/udp6", "udp"),
    ] {
        if let Ok(text) = std::fs::read_to_string(file) {
            out.extend(parse_sockets(&text, proto));
        }
    }
    out
}

/// The local addresses of a /proc/net/{tcp,udp}{,6} table: "0100007F:0016" is
/// 127.0.0.1:22 on this (little-endian) host: the address is printed as the host's u32
/// words of its bytes, the port in hex.
fn parse_sockets<'a>(text: &'a str, proto: &'static str) -> impl Iterator<Item = Bound> + 'a {
    text.lines().skip(1).filter_map(move |line| {
        let local = line.split_whitespace().nth(1)?;
        let (addr, port) = local.split_once(':')?;
        let port = u16::from_str_radix(port, 16).ok()?;
        let words: Option<Vec<u32>> = (0..addr.len() / 8)
            .map(|i| u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok())
            .collect();
        let words = words?;
        let addr = match words.as_slice() {
            [a] => core::net::IpAddr::V4(Ipv4Addr::from(a.to_ne_bytes())),
            [a, b, c, d] => {
                let mut bytes = [0u8; 16];
                for (i, w) in [a, b, c, d].into_iter().enumerate() {
                    bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
                }
                core::net::IpAddr::V6(bytes.into())
            }
            _ => return None,
        };
        Some(Bound { proto, addr, port })
    })
}

impl Bound {
    /// Whether traffic to `ip` on this socket's port would be this socket's: it is bound
    /// to `ip` itself, or to a wildcard address (IPv6's :: takes IPv4 too, unless the
    /// socket is IPv6-only, which /proc does not show: counted as taking it).
    pub fn takes(&self, ip: Ipv4Addr) -> bool {
        match self.addr {
            core::net::IpAddr::V4(a) => a == ip || a.is_unspecified(),
            core::net::IpAddr::V6(a) => a.is_unspecified() || a.to_ipv4_mapped() == Some(ip),
        }
    }
}

/// The MAC the kernel's neighbour table has for `ip` on `iface`, if its entry is
/// complete (/proc/net/arp, flag ATF_COM).
pub fn neighbour(iface: &str, ip: Ipv4Addr) -> Option<[u8; 6]> {
    let text = std::fs::read_to_string("/proc/net/arp").ok()?;
    parse_arp(&text, iface, ip)
}

fn parse_arp(text: &str, iface: &str, ip: Ipv4Addr) -> Option<[u8; 6]> {
    const ATF_COM: u32 = 0x2;
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [addr, _hw_type, flags, mac, _mask, dev] = f.as_slice() else {
            return None;
        };
        if *dev != iface || addr.parse::<Ipv4Addr>().ok()? != ip {
            return None;
        }
        let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()?;
        if flags & ATF_COM == 0 {
            return None;
        }
        let mut out = [0u8; 6];
        let mut parts = mac.split(':');
        for b in &mut out {
            *b = u8::from_str_radix(parts.next()?, 16).ok()?;
        }
        (parts.next().is_none() && out != [0; 6]).then_some(out)
    })
}

/// The port a nudge goes to: discard (RFC 863), which a host that runs no such service
/// answers with an ICMP port unreachable at most.
const DISCARD: u16 = 9;

/// The kernel's MAC for `peer` on `iface`, asking the kernel to resolve it when its
/// table has none: one empty UDP datagram from `local` (an address of the kernel's) to
/// the peer's discard port makes the kernel send its ARP requests. Waits up to `wait`.
pub fn resolve_neighbour(
    iface: &str,
    local: Ipv4Addr,
    peer: Ipv4Addr,
    wait: Duration,
) -> Option<[u8; 6]> {
    if let Some(mac) = neighbour(iface, peer) {
        return Some(mac);
    }
    let sock = std::net::UdpSocket::bind(SocketAddrV4::new(local, 0)).ok()?;
    let deadline = Instant::now() + wait;
    let mut next_nudge = Instant::now();
    while Instant::now() < deadline {
        if Instant::now() >= next_nudge {
            let _ = sock.send_to(&[], SocketAddr::V4(SocketAddrV4::new(peer, DISCARD)));
            next_nudge = Instant::now() + Duration::from_millis(500);
        }
        std::thread::sleep(Duration::from_millis(10));
        if let Some(mac) = neighbour(iface, peer) {
            return Some(mac);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_and_lists() {
        assert_eq!(parse_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_range("9 8"), None);
        assert_eq!(parse_range(""), None);
        assert_eq!(
            parse_port_list("61000-65535,8080\n"),
            vec![(61000, 65535), (8080, 8080)]
        );
        assert_eq!(parse_port_list("\n"), vec![]);
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn socket_tables_give_local_addresses_and_ports() {
        let v4 = "  sl  local_address rem_address   st\n   0: 00000000:07E8 00000000:0000 0A\n   1: 020012C6:EE48 010012C6:0007 01\n";
        let got: Vec<Bound> = parse_sockets(v4, "tcp").collect();
        assert_eq!(got[0].port, 2024);
        assert!(
            got[0].takes(Ipv4Addr::new(198, 18, 0, 2)),
            "0.0.0.0 takes every address"
        );
        assert_eq!(
            got[1].addr,
            core::net::IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2))
        );
        assert_eq!(got[1].port, 61000);
        assert!(!got[1].takes(Ipv4Addr::new(198, 18, 0, 3)));
        // ::ffff:198.18.0.2 port 7, and :: port 22.
        let v6 = "  sl  local_address                         remote_address\n   0: 0000000000000000FFFF0000020012C6:0007 00000000000000000000000000000000:0000 07\n   1: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A\n";
        let got: Vec<Bound> = parse_sockets(v6, "udp").collect();
        assert_eq!(got.len(), 2);
        assert!(got[0].takes(Ipv4Addr::new(198, 18, 0, 2)));
        assert!(!got[0].takes(Ipv4Addr::new(198, 18, 0, 9)));
        assert!(got[1].takes(Ipv4Addr::new(198, 18, 0, 9)));
    }

    #[test]
    fn only_complete_arp_entries_of_the_interface_count() {
        let t = "IP address       HW type     Flags       HW address            Mask     Device\n\
                 198.18.0.1       0x1         0x2         02:00:00:00:00:0a     *        xsb0\n\
                 198.18.0.5       0x1         0x0         00:00:00:00:00:00     *        xsb0\n\
                 198.18.0.1       0x1         0x2         02:00:00:00:00:0b     *        other0\n";
        let ip = |d| Ipv4Addr::new(198, 18, 0, d);
        assert_eq!(parse_arp(t, "xsb0", ip(1)), Some([2, 0, 0, 0, 0, 0x0a]));
        assert_eq!(parse_arp(t, "other0", ip(1)), Some([2, 0, 0, 0, 0, 0x0b]));
        assert_eq!(parse_arp(t, "xsb0", ip(5)), None, "incomplete");
        assert_eq!(parse_arp(t, "xsb0", ip(9)), None);
    }
}
