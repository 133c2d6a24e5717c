//! Opening a device by choice: `--driver xdp|packet|auto`. `auto` tries AF_XDP and falls
//! back to AF_PACKET, and says on stderr which one it chose and why.

use super::packet::{PacketDevice, PacketOptions};
use super::{Device, DriverError};
use crate::config::DriverChoice;

/// How the devices of a multi-queue run are opened.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// AF_PACKET: the fanout group and the like.
    pub packet: PacketOptions,
    /// AF_XDP: a UMEM shared by the run's sockets, if wanted.
    #[cfg(feature = "xdp")]
    pub xdp: super::xdp::XdpOptions,
}

impl OpenOptions {
    /// The options of a run with `queues` workers: a fanout group when several AF_PACKET
    /// sockets share the interface, and with `shared_umem` one UMEM for all the AF_XDP
    /// sockets (made here, before the workers start).
    pub fn for_run(
        choice: DriverChoice,
        iface: &str,
        queues: u32,
        shared_umem: bool,
    ) -> Result<OpenOptions, DriverError> {
        let mut o = OpenOptions::default();
        if queues > 1 {
            o.packet.fanout_group = Some(std::process::id() as u16);
        }
        if shared_umem && choice != DriverChoice::Packet {
            o.set_shared_umem(choice, iface, queues)?;
        }
        Ok(o)
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
            Err(e @ (DriverError::PermissionDenied { .. } | DriverError::NoSuchInterface(_))) => {
                Err(e)
            }
            Err(e) => {
                eprintln!("xstack: AF_XDP unavailable ({e}); falling back to AF_PACKET");
                open_with(DriverChoice::Packet, iface, queue, opts)
            }
        },
    }
}

#[cfg(feature = "xdp")]
fn open_xdp(iface: &str, queue: u32, opts: &OpenOptions) -> Result<Box<dyn Device>, DriverError> {
    use super::xdp::{XdpDevice, XdpMode};
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
    eprintln!("xstack: driver xdp on {iface} queue {queue} (AF_XDP, {mode} mode{umem})");
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
