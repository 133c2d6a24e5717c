//! Opening a device by choice: `--driver xdp|packet|auto`. `auto` tries AF_XDP and falls
//! back to AF_PACKET, and says on stderr which one it chose and why.
//!
//! For AF_XDP, what is set up once per run, before the workers open their queues, is
//! here too: xstack's XDP program with its [`Filter`] (what it redirects), and the shared
//! UMEM if asked for. The run's [`Notices`] count, as they come, the frames the user
//! should be told about at once (partial checksums, super-frames).

use super::packet::{PacketDevice, PacketOptions};
use super::{Device, DriverError, XdpMode};
use crate::config::DriverChoice;
use core::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// A transport protocol whose port can be claimed on a shared address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClaimProto {
    Tcp,
    Udp,
}

/// What xstack's XDP program sends to xstack; everything else goes to the kernel.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Addresses xstack owns outright: ARP for them and all their IPv4.
    pub owned_v4: Vec<Ipv4Addr>,
    /// Addresses the kernel has too: it keeps their ARP and every port not claimed.
    pub shared_v4: Vec<Ipv4Addr>,
    /// IPv6 addresses xstack owns outright: all their IPv6, and the neighbour discovery
    /// sent to their solicited-node groups.
    pub owned_v6: Vec<std::net::Ipv6Addr>,
    /// Ports of the shared addresses that are xstack's.
    pub claims: Vec<(ClaimProto, u16)>,
    /// Longest frame a socket takes (0: the AF_XDP frame's data room, 1792 bytes).
    pub max_frame: u32,
    /// `serve --reflect-in-xdp`: what the program answers itself with XDP_TX.
    pub reflect: Option<Reflect>,
}

/// The stateless IPv4 replies xstack's XDP program makes itself (`serve
/// --reflect-in-xdp`): ICMP echo on owned addresses, UDP echo and sockperf on these
/// ports, each answered exactly as the stack would answer it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reflect {
    /// The interface's MAC: the stack takes IPv4 only to it, and answers from it.
    pub mac: [u8; 6],
    /// The directed broadcast of the stack's subnet, a martian source (None for a /31
    /// or /32, which have none).
    pub broadcast: Option<Ipv4Addr>,
    /// UDP echo ports to answer (on a shared address, only claimed ones).
    pub udp_echo: Vec<u16>,
    /// The sockperf UDP port to answer (on a shared address, only if claimed).
    pub sockperf: Option<u16>,
}

impl Reflect {
    /// The ports the program may answer: on a shared address (`claims` not empty) only
    /// those claimed for UDP, since the kernel keeps every other port.
    pub fn ports_for(
        udp_echo: &[u16],
        sockperf: Option<u16>,
        claims: &[(ClaimProto, u16)],
    ) -> (Vec<u16>, Option<u16>) {
        let shared = !claims.is_empty();
        let ok = |p: u16| !shared || claims.contains(&(ClaimProto::Udp, p));
        (
            udp_echo.iter().copied().filter(|&p| ok(p)).collect(),
            sockperf.filter(|&p| ok(p)),
        )
    }
}

/// Counts, shared by a run's devices and read by its main thread while the run goes on,
/// of frames the user should hear about as soon as the first one comes.
#[derive(Debug, Default)]
pub struct Notices {
    partial_checksum: AtomicU64,
}

impl Notices {
    /// Counts frames with a checksum the sender's offload left partial (AF_XDP).
    pub fn partial_checksum(&self, n: u64) {
        self.partial_checksum.fetch_add(n, Relaxed);
    }

    pub fn partial_checksums(&self) -> u64 {
        self.partial_checksum.load(Relaxed)
    }
}

/// The one sentence that says what to do about partial checksums on AF_XDP.
pub fn partial_checksum_advice(iface: &str) -> String {
    format!(
        "frames on {iface} carry partial checksums: the sending peer's TX checksum offload \
         leaves them for a NIC to finish, and a veth never does, so AF_XDP cannot check \
         them and drops them (partial_checksum). Turn it off on the peer \
         (`ethtool -K <peer> tx off`), or use --driver packet, which finishes them"
    )
}

/// How the devices of a multi-queue run are opened.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// AF_PACKET: the fanout group and the like.
    pub packet: PacketOptions,
    /// AF_XDP: the run's program, a UMEM shared by the run's sockets if wanted.
    #[cfg(feature = "xdp")]
    pub xdp: super::xdp::XdpOptions,
    /// Why AF_XDP cannot be used on this run (auto falls back with this reason).
    xdp_unavailable: Option<String>,
    pub notices: Arc<Notices>,
}

/// The per-verdict counters of xstack's XDP program, when one ran.
pub use super::XdpVerdicts;

impl OpenOptions {
    /// The options of a run with `queues` workers: a fanout group when several AF_PACKET
    /// sockets share the interface; for AF_XDP, xstack's program attached with `filter`
    /// (in `mode`, or as `auto` chooses by the driver) and, with `shared_umem`, one UMEM for all the
    /// sockets (made here, before the workers start).
    pub fn for_run(
        choice: DriverChoice,
        iface: &str,
        queues: u32,
        shared_umem: bool,
        mode: Option<XdpMode>,
        filter: &Filter,
    ) -> Result<OpenOptions, DriverError> {
        let mut o = OpenOptions::default();
        if queues > 1 {
            o.packet.fanout_group = Some(std::process::id() as u16);
        }
        if choice != DriverChoice::Packet {
            o.attach_program(choice, iface, queues, mode, filter)?;
        }
        if shared_umem && choice != DriverChoice::Packet && o.xdp_unavailable.is_none() {
            o.set_shared_umem(choice, iface, queues)?;
        }
        Ok(o)
    }

    /// Why AF_XDP cannot be used on this run, when `auto` is to fall back to AF_PACKET.
    pub fn xdp_unavailable(&self) -> Option<&str> {
        self.xdp_unavailable.as_deref()
    }

    /// The counters of the run's XDP program, if it has one.
    pub fn xdp_verdicts(&self) -> Option<XdpVerdicts> {
        #[cfg(feature = "xdp")]
        if let Some(p) = &self.xdp.program {
            return Some(p.verdicts());
        }
        None
    }

    #[cfg(feature = "xdp")]
    fn attach_program(
        &mut self,
        choice: DriverChoice,
        iface: &str,
        queues: u32,
        mode: Option<XdpMode>,
        filter: &Filter,
    ) -> Result<(), DriverError> {
        self.xdp.notices = self.notices.clone();
        self.xdp.mode = mode;
        match super::xdp::program::Program::attach(iface, queues, mode, filter) {
            Ok(p) => self.xdp.program = Some(Arc::new(p)),
            // With `auto`, a program that cannot be loaded means AF_PACKET; opening the
            // socket says why.
            Err(e @ (DriverError::Unsupported(_) | DriverError::Os { .. }))
                if choice == DriverChoice::Auto =>
            {
                self.xdp_unavailable = Some(e.to_string())
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    #[cfg(not(feature = "xdp"))]
    fn attach_program(
        &mut self,
        _: DriverChoice,
        _: &str,
        _: u32,
        _: Option<XdpMode>,
        _: &Filter,
    ) -> Result<(), DriverError> {
        self.xdp_unavailable = Some("this xstack was built without the `xdp` feature".into());
        Ok(())
    }

    #[cfg(feature = "xdp")]
    fn set_shared_umem(
        &mut self,
        choice: DriverChoice,
        iface: &str,
        queues: u32,
    ) -> Result<(), DriverError> {
        match super::xdp::SharedUmem::new(iface, queues) {
            Ok(u) => self.xdp.shared = Some(std::sync::Arc::new(u)),
            // With `auto`, a UMEM that cannot be made means AF_PACKET: say nothing yet,
            // opening the socket will say why.
            Err(DriverError::Unsupported(_)) if choice == DriverChoice::Auto => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    #[cfg(not(feature = "xdp"))]
    fn set_shared_umem(&mut self, _: DriverChoice, _: &str, _: u32) -> Result<(), DriverError> {
        Ok(())
    }
}

/// Opens queue `queue` of `iface` with the chosen driver.
pub fn open(choice: DriverChoice, iface: &str, queue: u32) -> Result<Box<dyn Device>, DriverError> {
    open_with(choice, iface, queue, &OpenOptions::default())
}

/// [`open`] with the options of a multi-queue run.
pub fn open_with(
    choice: DriverChoice,
    iface: &str,
    queue: u32,
    opts: &OpenOptions,
) -> Result<Box<dyn Device>, DriverError> {
    match choice {
        DriverChoice::Packet => {
            let d = PacketDevice::open(iface, queue, &opts.packet)?;
            eprintln!(
                "xstack: driver packet on {iface} queue {queue} (AF_PACKET, recvmmsg/sendmmsg)"
            );
            Ok(Box::new(d))
        }
        DriverChoice::Xdp => open_xdp(iface, queue, opts),
        DriverChoice::Auto => match open_xdp(iface, queue, opts) {
            Ok(d) => Ok(d),
            // Nothing else will work either: say so rather than fall back.
            Err(
                e @ (DriverError::PermissionDenied { .. }
                | DriverError::NoSuchInterface(_)
                | DriverError::Busy(_)),
            ) => Err(e),
            Err(e) => {
                eprintln!("xstack: AF_XDP unavailable ({e}); falling back to AF_PACKET");
                open_with(DriverChoice::Packet, iface, queue, opts)
            }
        },
    }
}

#[cfg(feature = "xdp")]
fn open_xdp(iface: &str, queue: u32, opts: &OpenOptions) -> Result<Box<dyn Device>, DriverError> {
    use super::xdp::XdpDevice;
    if let Some(why) = &opts.xdp_unavailable {
        return Err(DriverError::Unsupported(why.clone()));
    }
    let d = XdpDevice::open(iface, queue, &opts.xdp)?;
    let mode = match d.mode() {
        XdpMode::Native => "native",
        XdpMode::Generic => "generic (skb)",
    };
    let umem = if opts.xdp.shared.is_some() {
        ", shared UMEM"
    } else {
        ""
    };
    let id = opts.xdp.program.as_ref().map_or(0, |p| p.id());
    eprintln!(
        "xstack: driver xdp on {iface} queue {queue} (AF_XDP, {mode} mode{umem}, XDP program {} id {id})",
        super::xdp::program::PROGRAM_NAME
    );
    Ok(Box::new(d))
}

#[cfg(not(feature = "xdp"))]
fn open_xdp(
    _iface: &str,
    _queue: u32,
    _opts: &OpenOptions,
) -> Result<Box<dyn Device>, DriverError> {
    Err(DriverError::Unsupported(
        "this xstack was built without the `xdp` feature".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflected_ports_on_a_shared_address_are_the_claimed_udp_ones() {
        use ClaimProto::{Tcp, Udp};
        // Owned: every echo port and the sockperf port.
        assert_eq!(
            Reflect::ports_for(&[7, 9], Some(11111), &[]),
            (vec![7, 9], Some(11111))
        );
        // Shared: a TCP claim of the same port is not a UDP one.
        assert_eq!(
            Reflect::ports_for(&[7, 9], Some(11111), &[(Tcp, 7), (Udp, 9), (Tcp, 11111)]),
            (vec![9], None)
        );
        assert_eq!(
            Reflect::ports_for(&[7], Some(11111), &[(Udp, 11111)]),
            (vec![], Some(11111))
        );
    }
}
