//! `load --shared`: a load run from addresses the kernel has too. xstack's XDP program
//! takes only the replies to xstack's own source ports; ARP and every other port stay
//! the kernel's. So, before the workers start:
//!
//! - the source ports are chosen (or the given `--ports` checked) so that they are none
//!   of the kernel's: outside its ephemeral range (or reserved from it), and held by no
//!   kernel socket on these addresses;
//! - the target's MAC is taken from the kernel's neighbour table, since the ARP replies
//!   to these addresses are the kernel's to see.

use crate::config::{LoadConfig, PortSet, EPHEMERAL_FIRST};
use crate::driver::open::ClaimProto;
use crate::runtime::host;
use anyhow::bail;
use core::net::IpAddr;
use std::time::Duration;

/// How long the kernel is given to resolve the target.
const RESOLVE_WAIT: Duration = Duration::from_secs(3);

/// Fills in `cfg.ports` and `cfg.shared` from the kernel, or says in one sentence why
/// the run cannot share the addresses.
pub fn prepare(cfg: &mut LoadConfig) -> anyhow::Result<()> {
    let Some(shared) = cfg.shared.as_mut() else {
        return Ok(());
    };
    let info = crate::driver::iface::lookup(&cfg.iface)?;
    if let Some(ip) = cfg.addrs.ips().iter().find(|ip| !info.ipv4.contains(ip)) {
        bail!(
            "--shared shares {ip} with the kernel, but it is not configured on {}: add it \
             (ip addr add {ip}/{} dev {}), or drop --shared to let xstack own it",
            cfg.iface,
            cfg.addrs.prefix(),
            cfg.iface
        );
    }
    let (klo, khi) = host::ephemeral_range()
        .map_err(|e| anyhow::anyhow!("cannot read the kernel's ephemeral port range: {e}"))?;
    let reserved = host::reserved_ports();
    let kernels =
        |p: u16| (klo..=khi).contains(&p) && !reserved.iter().any(|&(a, b)| (a..=b).contains(&p));
    if shared.pick_ports {
        let lo = EPHEMERAL_FIRST.max(khi.saturating_add(1));
        match PortSet::range(lo, u16::MAX).filter(|_| khi < u16::MAX) {
            Some(p) => cfg.ports = p,
            None => bail!(
                "the kernel's own ephemeral ports ({klo}-{khi}, net.ipv4.ip_local_port_range) \
                 leave none of 49152-65535 to xstack: give --ports LO-HI and reserve them \
                 from the kernel (sysctl -w net.ipv4.ip_local_reserved_ports=LO-HI), or \
                 narrow its range (sysctl -w net.ipv4.ip_local_port_range='32768 60999')"
            ),
        }
    }
    let (lo, hi) = cfg.ports.bounds();
    if let Some(p) = (lo..=hi).find(|&p| kernels(p)) {
        bail!(
            "--ports {lo}-{hi} overlaps the kernel's own ephemeral ports ({klo}-{khi}) at \
             {p}: the kernel's connections from those ports would lose their replies to \
             xstack. Reserve them (sysctl -w net.ipv4.ip_local_reserved_ports={lo}-{hi}) \
             or choose ports above {khi}"
        );
    }
    let ours = cfg.addrs.ips();
    if let Some(b) = host::bound_sockets()
        .into_iter()
        .find(|b| (lo..=hi).contains(&b.port) && ours.iter().any(|&ip| b.takes(ip)))
    {
        bail!(
            "a kernel {} socket holds port {} of {} (inside --ports {lo}-{hi}): its traffic \
             would go to xstack. Stop it, or choose --ports without it",
            b.proto,
            b.port,
            b.addr
        );
    }
    let most = cfg.ports.len() * ours.len();
    if cfg.connections as usize > most {
        bail!(
            "--connections {} is more than the {most} source ports xstack has beside the \
             kernel ({lo}-{hi} on {} address{}): lower it, or give more --ip addresses",
            cfg.connections,
            ours.len(),
            if ours.len() == 1 { "" } else { "es" }
        );
    }
    let IpAddr::V4(peer) = cfg.target.ip() else {
        bail!("--shared loads IPv4 targets only");
    };
    let Some(&local) = ours.first() else {
        bail!("--shared needs an IPv4 --ip address");
    };
    let Some(mac) = host::resolve_neighbour(&cfg.iface, local, peer, RESOLVE_WAIT) else {
        bail!(
            "the kernel could not resolve {peer} on {} within {} s (its neighbour table \
             has no complete entry): is the target up and on that link?",
            cfg.iface,
            RESOLVE_WAIT.as_secs()
        );
    };
    shared.neighbours = vec![(peer, mac)];
    Ok(())
}

/// The protocol/port pairs xstack's XDP program gives to a shared run: its source ports,
/// for both transports.
pub fn claims(cfg: &LoadConfig) -> Vec<(ClaimProto, u16)> {
    if cfg.shared.is_none() {
        return Vec::new();
    }
    let (lo, hi) = cfg.ports.bounds();
    (lo..=hi)
        .flat_map(|p| [(ClaimProto::Tcp, p), (ClaimProto::Udp, p)])
        .collect()
}
