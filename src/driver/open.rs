//! Opening a device by choice: `--driver xdp|packet|auto`. `auto` tries AF_XDP and falls
//! back to AF_PACKET, and says on stderr which one it chose and why.

use super::packet::{PacketDevice, PacketOptions};
use super::{Device, DriverError};
use crate::config::DriverChoice;

/// Opens queue `queue` of `iface` with the chosen driver.
pub fn open(choice: DriverChoice, iface: &str, queue: u32) -> Result<Box<dyn Device>, DriverError> {
    open_with(choice, iface, queue, &PacketOptions::default())
}

/// [`open`] with AF_PACKET options (the fanout group of a multi-queue run).
pub fn open_with(
    choice: DriverChoice,
    iface: &str,
    queue: u32,
    packet: &PacketOptions,
) -> Result<Box<dyn Device>, DriverError> {
    match choice {
        DriverChoice::Packet => {
            let d = PacketDevice::open(iface, queue, packet)?;
            eprintln!(
                "xstack: driver packet on {iface} queue {queue} (AF_PACKET, recvmmsg/sendmmsg)"
            );
            Ok(Box::new(d))
        }
        DriverChoice::Xdp => open_xdp(iface, queue),
        DriverChoice::Auto => match open_xdp(iface, queue) {
            Ok(d) => Ok(d),
            // Nothing else will work either: say so rather than fall back.
            Err(e @ (DriverError::PermissionDenied { .. } | DriverError::NoSuchInterface(_))) => {
                Err(e)
            }
            Err(e) => {
                eprintln!("xstack: AF_XDP unavailable ({e}); falling back to AF_PACKET");
                open_with(DriverChoice::Packet, iface, queue, packet)
            }
        },
    }
}

#[cfg(feature = "xdp")]
fn open_xdp(iface: &str, queue: u32) -> Result<Box<dyn Device>, DriverError> {
    use super::xdp::{XdpDevice, XdpMode, XdpOptions};
    let d = XdpDevice::open(iface, queue, &XdpOptions { mode: None })?;
    let mode = match d.mode() {
        XdpMode::Native => "native",
        XdpMode::Generic => "generic (skb)",
    };
    eprintln!("xstack: driver xdp on {iface} queue {queue} (AF_XDP, {mode} mode)");
    Ok(Box::new(d))
}

#[cfg(not(feature = "xdp"))]
fn open_xdp(_iface: &str, _queue: u32) -> Result<Box<dyn Device>, DriverError> {
    Err(DriverError::Unsupported(
        "this xstack was built without the `xdp` feature".into(),
    ))
}
