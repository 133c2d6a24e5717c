//! driver/: the bottom layer. It moves Ethernet frames between the NIC (or a simulated
//! link) and the stack, in batches, and owns every `unsafe` block of the project: rings,
//! mmap'd memory and sockets. Every driver implements [`Device`]; the stack never knows
//! which one it runs on.
//!
//! Invariants:
//! - `receive` hands each frame to the handler exactly once, in arrival order, and gets
//!   the buffer back before the next frame is handed over.
//! - A [`Verdict::Reflect`] transmits the received buffer itself, rewritten in place, with
//!   no copy where the driver can (AF_XDP reuses the UMEM frame).
//! - Frames queued through [`Transmit`] leave no later than the next [`Device::flush`]:
//!   a driver kicks the kernel at most once per flush.
//! - Nothing here allocates per frame once the device is open.

use core::time::Duration;
use std::fmt;
use std::os::fd::AsRawFd;

pub mod heap;
pub mod iface;
pub mod log;
pub mod offload;
pub mod open;
pub mod packet;
pub mod pcap;
pub mod ring;
pub mod sim;
#[cfg(feature = "xdp")]
pub mod xdp;

/// Which implementation a device is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverKind {
    /// AF_XDP sockets through xsk-rs.
    Xdp,
    /// AF_PACKET raw sockets.
    Packet,
    /// The in-memory link used by tests.
    Sim,
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriverKind::Xdp => "xdp",
            DriverKind::Packet => "packet",
            DriverKind::Sim => "sim",
        })
    }
}

/// How an XDP program is attached: in the driver (native) or on the skb (generic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    Native,
    Generic,
}

/// What `--xdp-mode auto` does on one interface: the mode to try first, the one to fall
/// back to if the first cannot attach, and why, for the one sentence on stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoXdpMode {
    pub first: XdpMode,
    pub fallback: Option<XdpMode>,
    pub why: String,
}

/// The `auto` rule, by the interface's kernel driver (`ethtool -i`) and the run's
/// `queues`:
/// - `veth`, one queue: generic first. A veth does AF_XDP in copy mode either way, and on
///   the lab's veth pair generic measured faster than native: UDP ping-pong p50 about 0.6
///   times native's, echo throughput about 1.2 times (docs/performance.md, "XDP mode").
/// - `veth`, more queues: native first. Generic XDP on a veth takes every frame in on
///   queue 0, whatever queue the peer sent it on, so one worker gets all the work and
///   hands half of it on; native keeps the peer's transmit queue as the receive queue
///   (docs/performance.md, "Scaling with queues").
/// - any other driver, or one the kernel will not name: native first (the driver's own
///   XDP, and zero-copy where it has it), generic when native cannot attach.
pub fn auto_xdp_mode(driver: Option<&str>, queues: u32) -> AutoXdpMode {
    match driver {
        Some("veth") if queues > 1 => AutoXdpMode {
            first: XdpMode::Native,
            fallback: Some(XdpMode::Generic),
            why: format!(
                "its driver is veth and {queues} queues are served: generic XDP on a veth \
                 takes every frame in on queue 0, native keeps the queue the peer sent on \
                 (docs/performance.md)"
            ),
        },
        Some("veth") => AutoXdpMode {
            first: XdpMode::Generic,
            fallback: Some(XdpMode::Native),
            why: "its driver is veth, where AF_XDP copies either way and generic XDP \
                  measured faster than native (docs/performance.md)"
                .into(),
        },
        Some(d) => AutoXdpMode {
            first: XdpMode::Native,
            fallback: Some(XdpMode::Generic),
            why: format!("its driver is {d}, and native XDP runs in the driver"),
        },
        None => AutoXdpMode {
            first: XdpMode::Native,
            fallback: Some(XdpMode::Generic),
            why: "its driver is not known (ethtool -i says nothing), so native is tried first"
                .into(),
        },
    }
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        })
    }
}

/// The per-verdict counters of xstack's XDP program, summed over the CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpVerdicts {
    /// Frames sent to an AF_XDP socket.
    pub redirected: u64,
    /// Frames passed to the kernel's stack.
    pub passed: u64,
    /// Frames for xstack too long for an AF_XDP frame (GSO super-frames), dropped.
    pub oversize: u64,
    /// Frames for xstack on a queue without a socket, dropped.
    pub no_socket: u64,
    /// `serve --reflect-in-xdp`: what the program answered itself (None when off).
    pub reflected: Option<XdpReflected>,
}

/// What xstack's XDP program answered itself with XDP_TX (`serve --reflect-in-xdp`),
/// summed over the CPUs. The stack never saw these frames: they are in none of its
/// counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpReflected {
    /// ICMP echo replies.
    pub icmp_echo: u64,
    /// UDP echo replies.
    pub udp_echo: u64,
    /// sockperf replies (messages with PONG_REQUEST).
    pub sockperf: u64,
    /// sockperf messages that asked for no reply, dropped (as the stack drops them).
    pub sockperf_no_reply: u64,
}

impl XdpReflected {
    /// Replies sent.
    pub fn replies(&self) -> u64 {
        self.icmp_echo + self.udp_echo + self.sockperf
    }
}

/// What a driver tells the stack about the link it sits on.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// Interface name (`xsb0`), or a label for simulated devices.
    pub name: String,
    pub kind: DriverKind,
    /// The interface's hardware address.
    pub mac: [u8; 6],
    /// IP MTU of the link: the largest IPv4 packet, without the Ethernet header.
    pub mtu: usize,
    /// Bytes available in one transmit buffer (at least `mtu + 14`).
    pub frame_capacity: usize,
    /// Queue index this device serves.
    pub queue: u32,
}

/// What the stack wants done with a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Release the buffer; nothing goes out.
    Drop,
    /// Transmit the first `len` bytes of the (rewritten) receive buffer. `len` never
    /// exceeds the received length.
    Reflect(usize),
}

/// Queue frames for transmission. Frames are written straight into driver memory.
pub trait Transmit {
    /// Largest frame `send_with` can build.
    fn frame_capacity(&self) -> usize;

    /// Builds one frame in place: `build` gets a buffer of `frame_capacity()` bytes and
    /// returns the frame length, or 0 to cancel. Returns `false`, without calling `build`,
    /// when no transmit buffer is free right now; the caller counts that as a TX drop.
    fn send_with(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool;
}

/// Counters a driver keeps itself (ring overflows seen by the kernel and the like).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    pub rx_frames: u64,
    pub tx_frames: u64,
    /// Frames the kernel dropped before we could read them, for want of room: on AF_XDP
    /// the RX ring was full (with the socket's other receive drops), on AF_PACKET the
    /// socket's receive buffer (PACKET_STATISTICS tp_drops).
    pub rx_ring_full: u64,
    /// Frames larger than a buffer (GRO/TSO super-frames), dropped.
    pub rx_oversize: u64,
    /// Frames whose TCP/UDP checksum the sender's offload left partial and the driver
    /// finished (AF_PACKET's `TP_STATUS_CSUMNOTREADY`).
    pub rx_checksum_completed: u64,
    /// Frames whose TCP/UDP checksum the sender's offload left partial, recognised and
    /// dropped (AF_XDP, which cannot tell them from corrupt ones for certain).
    pub rx_partial_checksum: u64,
    /// Frames the stack wanted to send but no TX buffer was free.
    pub tx_no_buffer: u64,
    /// Frames the kernel refused to send.
    pub tx_errors: u64,
}

impl DriverStats {
    /// Adds `other` into `self` (merging workers). Every field is named, so a new one
    /// cannot be left out without the compiler saying so.
    pub fn merge(&mut self, other: &DriverStats) {
        let DriverStats {
            rx_frames,
            tx_frames,
            rx_ring_full,
            rx_oversize,
            rx_checksum_completed,
            rx_partial_checksum,
            tx_no_buffer,
            tx_errors,
        } = *other;
        self.rx_frames += rx_frames;
        self.tx_frames += tx_frames;
        self.rx_ring_full += rx_ring_full;
        self.rx_oversize += rx_oversize;
        self.rx_checksum_completed += rx_checksum_completed;
        self.rx_partial_checksum += rx_partial_checksum;
        self.tx_no_buffer += tx_no_buffer;
        self.tx_errors += tx_errors;
    }
}

/// A network device: batched receive, transmit in place, one kick per flush.
pub trait Device {
    fn info(&self) -> &DeviceInfo;

    /// Receives up to `budget` frames that are ready now and hands each to `handler`
    /// together with a [`Transmit`] for any extra frames it wants to send. Never blocks.
    /// Returns how many frames were handed over.
    fn receive(
        &mut self,
        budget: usize,
        handler: &mut dyn FnMut(&mut [u8], &mut dyn Transmit) -> Verdict,
    ) -> Result<usize, DriverError>;

    /// Transmit access outside of `receive`: timers, the load generator.
    fn transmitter(&mut self) -> &mut dyn Transmit;

    /// Sends what is queued (one kernel kick at most) and reclaims completed buffers.
    fn flush(&mut self) -> Result<(), DriverError>;

    /// Sleeps until a frame may be ready, `bell` rings, or `timeout` passes, whichever
    /// comes first.
    fn wait(&mut self, timeout: Duration, bell: Option<&Doorbell>) -> Result<(), DriverError>;

    fn stats(&self) -> DriverStats;

    /// Frames queued or handed to the kernel that it has not sent yet (AF_XDP sends a
    /// bounded batch a kick): a worker that stops flushes until there are none, or the
    /// last frames of a run (the final ACKs of its closes) would be lost with the socket.
    fn tx_unsent(&self) -> bool {
        false
    }
}

/// Why a driver could not open or keep running. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(
        "no network interface named '{0}' — check `ip link` (inside the right network namespace)"
    )]
    NoSuchInterface(String),
    #[error("{what} on {iface} failed: permission denied — run as root or grant CAP_NET_ADMIN,CAP_NET_RAW,CAP_BPF")]
    PermissionDenied { what: &'static str, iface: String },
    #[error("{what} on {iface} failed: {err}{hint}")]
    Os {
        what: &'static str,
        iface: String,
        err: std::io::Error,
        /// Extra advice, starting with " — ", or empty.
        hint: &'static str,
    },
    #[error("{0}")]
    Unsupported(String),
    /// The interface is taken (another XDP program, another xstack): falling back to
    /// another driver would not help the user, so `auto` does not.
    #[error("{0}")]
    Busy(String),
}

impl DriverError {
    /// The errno behind this error, if there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            DriverError::Os { err, .. } => err.raw_os_error(),
            _ => None,
        }
    }

    /// Wraps an OS error, turning EPERM/EACCES into [`DriverError::PermissionDenied`].
    pub fn os(what: &'static str, iface: &str, source: std::io::Error) -> Self {
        Self::os_hint(what, iface, source, "")
    }

    pub fn os_hint(
        what: &'static str,
        iface: &str,
        source: std::io::Error,
        hint: &'static str,
    ) -> Self {
        match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => DriverError::PermissionDenied {
                what,
                iface: iface.to_string(),
            },
            Some(libc::ENODEV) => DriverError::NoSuchInterface(iface.to_string()),
            _ => DriverError::Os {
                what,
                iface: iface.to_string(),
                err: source,
                hint,
            },
        }
    }
}

/// Sleeps until `fd` is readable, `bell` rings, or `timeout` passes (at least 1 ms);
/// EINTR counts as a wake-up. The `wait` of the socket-based drivers.
fn poll_readable(
    fd: std::os::fd::RawFd,
    bell: Option<&Doorbell>,
    timeout: Duration,
    iface: &str,
) -> Result<(), DriverError> {
    let pfd = |fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let mut fds = [pfd(fd), pfd(bell.map_or(-1, |b| b.fd.as_raw_fd()))];
    let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
    // SAFETY: valid pollfds that live across the call (a negative fd is ignored).
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(DriverError::os("poll", iface, e));
        }
    }
    Ok(())
}

/// Wakes a worker that sleeps in [`Device::wait`] from another thread: an eventfd.
/// `ring` is a system call, so callers ring only a worker that said it sleeps.
#[derive(Debug)]
pub struct Doorbell {
    fd: std::os::fd::OwnedFd,
}

impl Doorbell {
    pub fn new() -> std::io::Result<Doorbell> {
        use std::os::fd::FromRawFd;
        // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor
        // that nothing else owns.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: see above.
        Ok(Doorbell {
            fd: unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Wakes the sleeper (and the next `wait`, until `clear`).
    pub fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64. A full counter (EAGAIN) is already
        // ringing, so the result does not matter.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Silences it after a wake-up.
    pub fn clear(&self) {
        let mut n: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64; EAGAIN (not rung) is fine.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
    }

    /// Whether it has rung since the last `clear`, without waiting or silencing it.
    pub fn is_rung(&self) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd that lives across the call; a zero timeout never
        // blocks.
        unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
    }
}

/// A boxed device is a device, so wrappers (pcap) compose with `open`'s boxed result.
impl<D: Device + ?Sized> Device for Box<D> {
    fn info(&self) -> &DeviceInfo {
        (**self).info()
    }
    fn receive(
        &mut self,
        budget: usize,
        handler: &mut dyn FnMut(&mut [u8], &mut dyn Transmit) -> Verdict,
    ) -> Result<usize, DriverError> {
        (**self).receive(budget, handler)
    }
    fn transmitter(&mut self) -> &mut dyn Transmit {
        (**self).transmitter()
    }
    fn flush(&mut self) -> Result<(), DriverError> {
        (**self).flush()
    }
    fn wait(&mut self, timeout: Duration, bell: Option<&Doorbell>) -> Result<(), DriverError> {
        (**self).wait(timeout, bell)
    }
    fn stats(&self) -> DriverStats {
        (**self).stats()
    }
    fn tx_unsent(&self) -> bool {
        (**self).tx_unsent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_takes_generic_on_a_one_queue_veth_and_native_first_elsewhere() {
        let veth = auto_xdp_mode(Some("veth"), 1);
        assert_eq!(
            (veth.first, veth.fallback),
            (XdpMode::Generic, Some(XdpMode::Native))
        );
        assert!(veth.why.contains("veth"), "{}", veth.why);
        let two = auto_xdp_mode(Some("veth"), 2);
        assert_eq!(
            (two.first, two.fallback),
            (XdpMode::Native, Some(XdpMode::Generic))
        );
        assert!(two.why.contains("queue 0"), "{}", two.why);
        for other in [Some("ixgbe"), Some("virtio_net"), Some("mlx5_core"), None] {
            let a = auto_xdp_mode(other, 1);
            assert_eq!(
                (a.first, a.fallback),
                (XdpMode::Native, Some(XdpMode::Generic)),
                "{other:?}"
            );
        }
        assert!(auto_xdp_mode(Some("ixgbe"), 4).why.contains("ixgbe"));
    }

    #[test]
    fn a_doorbell_stays_rung_until_cleared() {
        let bell = Doorbell::new().unwrap();
        assert!(!bell.is_rung());
        bell.ring();
        bell.ring();
        assert!(
            bell.is_rung() && bell.is_rung(),
            "looking does not silence it"
        );
        bell.clear();
        assert!(!bell.is_rung());
    }
}
