//! driver/packet: AF_PACKET raw sockets, the fallback where AF_XDP is not available.
//!
//! One socket per queue, bound to the interface with ETH_P_ALL. Receive is one
//! `recvmmsg` per batch into preallocated buffers; transmit queues frames in preallocated
//! slots and `flush` sends them with one `sendmmsg`. `PACKET_QDISC_BYPASS` skips the qdisc
//! layer, `PACKET_IGNORE_OUTGOING` keeps our own transmissions out of the receive path,
//! and `PACKET_FANOUT` (hash mode) spreads flows over the workers' sockets when there are
//! several queues.
//!
//! 802.1Q tags: the kernel takes a frame's VLAN tag out of it before AF_PACKET sees it (or
//! the tag never was in it, when a VLAN device or hardware offload keeps it in the skb)
//! and reports it only in `PACKET_AUXDATA`. Such a frame would look untagged, as if it
//! were for our LAN. The driver asks for the auxiliary data and writes the tag back into
//! the frame where it was on the wire, so the stack sees what AF_XDP shows it and drops
//! the frame as `vlan_tagged`.
//!
//! Receive drops: a frame that arrives while the socket's receive buffer is full is
//! dropped by the kernel, which counts it (`PACKET_STATISTICS` tp_drops, the `d` of
//! `ss -0 -nem`). The driver adds that count up into `rx_ring_full`, reading it (which
//! resets it) every [`STATS_EVERY`] receive calls and in `stats`.
//!
//! Partial checksums: a kernel peer with TX checksum offload (veth's default) leaves its
//! TCP and UDP checksums for the NIC to finish, and the same auxiliary data says so
//! (`TP_STATUS_CSUMNOTREADY`). The kernel's own stack accepts such a frame unchecked; the
//! driver finishes the checksum as the NIC would have ([`super::offload::complete`]) and
//! counts it in `rx_checksum_completed`, so the stack checks it like any other frame and
//! a reply reflected from it carries a correct checksum.
//!
//! GSO super-frames: a kernel peer with TSO on (veth's default) sends TCP segments of up
//! to 64 KB as one frame, and the kernel's own stack takes them whole. So does this
//! driver: its buffers hold 64 KB, and the stack accepts a TCP segment of any length its
//! window allows. A frame larger still arrives truncated; it is counted in `rx_oversize`
//! and dropped.
//!
//! A reflected frame is not copied: the receive buffer and a free transmit slot trade
//! places.
//!
//! The kernel keeps seeing every frame too. That is harmless for an address the kernel does
//! not have, which is why `serve` refuses to run in packet mode on an address that is
//! configured on the interface.

use super::iface;
use super::{
    Device, DeviceInfo, Doorbell, DriverError, DriverKind, DriverStats, Transmit, Verdict,
};
use core::cell::Cell;
use core::time::Duration;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Bytes a transmit buffer lends to a frame builder: an MTU-sized frame and then some.
const FRAME: usize = 2048;
/// Bytes per buffer (receive and transmit alike, since a reflected frame trades buffers):
/// room for the largest GSO super-frame (an IPv4 packet of 64 KB) and a VLAN tag put
/// back. Pages a frame never reaches are never touched.
const BUFFER: usize = 65536 + 256;
/// Socket buffer size asked for in each direction.
const SOCKET_BUFFER: libc::c_int = 8 << 20;
const PACKET_QDISC_BYPASS: libc::c_int = 20;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const PACKET_FANOUT: libc::c_int = 18;
const PACKET_FANOUT_HASH: libc::c_int = 0;
const PACKET_AUXDATA: libc::c_int = 8;
const PACKET_STATISTICS: libc::c_int = 6;
/// Receive calls between two reads of the kernel's drop count (a 32-bit counter).
const STATS_EVERY: u32 = 1024;
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
/// Bytes of control data per received message: one cmsg with a `tpacket_auxdata`
/// (CMSG_SPACE(20) is 40 on 64-bit Linux), in u64s for the cmsghdr's alignment.
const CONTROL_WORDS: usize = 8;

/// `struct tpacket_stats` (linux/if_packet.h), what PACKET_STATISTICS returns: the counts
/// since it was last read.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketStats {
    tp_packets: u32,
    tp_drops: u32,
}

/// `struct tpacket_auxdata` (linux/if_packet.h), what PACKET_AUXDATA delivers.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketAuxdata {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
}

#[derive(Clone, Copy, Debug)]
pub struct PacketOptions {
    /// Frames per receive call.
    pub batch: usize,
    /// Frames that can wait for the next flush.
    pub tx_slots: usize,
    /// Join this fanout group (hash mode), for multi-queue.
    pub fanout_group: Option<u16>,
}

impl Default for PacketOptions {
    fn default() -> Self {
        PacketOptions {
            batch: 64,
            tx_slots: 256,
            fanout_group: None,
        }
    }
}

/// Message headers for one `recvmmsg`/`sendmmsg` call over a set of buffers.
struct Batch {
    bufs: Vec<Box<[u8]>>,
    lens: Vec<usize>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

impl Batch {
    fn new(n: usize) -> Self {
        Batch {
            bufs: (0..n)
                .map(|_| vec![0u8; BUFFER].into_boxed_slice())
                .collect(),
            lens: vec![0; n],
            // SAFETY: iovec and mmsghdr are plain C structs for which all-zero is valid.
            iovs: (0..n).map(|_| unsafe { core::mem::zeroed() }).collect(),
            // SAFETY: as above.
            msgs: (0..n).map(|_| unsafe { core::mem::zeroed() }).collect(),
        }
    }

    /// Points the first `n` message headers at the buffers (which may have been swapped),
    /// each `lens[i]` bytes long.
    fn prepare(&mut self, n: usize) {
        for i in 0..n {
            self.iovs[i].iov_base = self.bufs[i].as_mut_ptr().cast();
            self.iovs[i].iov_len = self.lens[i];
            let h = &mut self.msgs[i].msg_hdr;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_name = core::ptr::null_mut();
            h.msg_namelen = 0;
            h.msg_control = core::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.msgs[i].msg_len = 0;
        }
    }
}

/// The transmit half: queued frames waiting for `flush`.
pub struct PacketTx {
    fd: RawFd,
    slots: Batch,
    queued: usize,
    iface: String,
    tx_frames: u64,
    tx_errors: u64,
    tx_no_buffer: u64,
}

impl PacketTx {
    fn flush(&mut self) -> Result<(), DriverError> {
        let mut sent = 0;
        self.slots.prepare(self.queued);
        while sent < self.queued {
            // SAFETY: the headers point at `queued - sent` live buffers owned by `slots`.
            let r = unsafe {
                libc::sendmmsg(
                    self.fd,
                    self.slots.msgs.as_mut_ptr().add(sent),
                    (self.queued - sent) as u32,
                    libc::MSG_DONTWAIT,
                )
            };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    // The device queue is full or the frame was refused: drop what is left.
                    Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EMSGSIZE) => {
                        self.tx_errors += (self.queued - sent) as u64;
                        break;
                    }
                    _ => {
                        self.queued = 0;
                        return Err(DriverError::os("AF_PACKET send", &self.iface, e));
                    }
                }
            }
            sent += r as usize;
            self.tx_frames += r as u64;
        }
        self.queued = 0;
        Ok(())
    }

    /// A free slot, flushing first if every slot is queued.
    fn free_slot(&mut self) -> Option<usize> {
        if self.queued == self.slots.bufs.len() && self.flush().is_err() {
            return None;
        }
        (self.queued < self.slots.bufs.len()).then_some(self.queued)
    }
}

impl Transmit for PacketTx {
    fn frame_capacity(&self) -> usize {
        FRAME
    }

    fn send_with(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let Some(i) = self.free_slot() else {
            self.tx_no_buffer += 1;
            return false;
        };
        let len = build(&mut self.slots.bufs[i][..FRAME]).min(FRAME);
        if len > 0 {
            self.slots.lens[i] = len;
            self.queued += 1;
        }
        true
    }
}

pub struct PacketDevice {
    fd: OwnedFd,
    info: DeviceInfo,
    rx: Batch,
    /// Control data (PACKET_AUXDATA) for each receive message.
    rx_control: Vec<[u64; CONTROL_WORDS]>,
    tx: PacketTx,
    stats: DriverStats,
    /// Frames the kernel dropped for want of room in the receive buffer, as read so far
    /// (a Cell: `stats` takes `&self`, and reading the count resets it in the kernel).
    rx_dropped: Cell<u64>,
    /// Receive calls until the drop count is read again.
    stats_countdown: u32,
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: `v` is a live c_int and the length passed is its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const libc::c_int).cast(),
            core::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl PacketDevice {
    pub fn open(iface_name: &str, queue: u32, opts: &PacketOptions) -> Result<Self, DriverError> {
        let ifc = iface::lookup(iface_name)?;
        // Protocol 0 first: nothing is queued to the socket until it is bound.
        // SAFETY: plain socket(2) call; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(DriverError::os(
                "AF_PACKET socket",
                iface_name,
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let f = fd.as_raw_fd();
        // SAFETY: sockaddr_ll is a plain C struct; all-zero is a valid start.
        let mut sll: libc::sockaddr_ll = unsafe { core::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifc.index as i32;
        // SAFETY: `sll` is a valid sockaddr_ll and the length is its size.
        let r = unsafe {
            libc::bind(
                f,
                (&sll as *const libc::sockaddr_ll).cast(),
                core::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(DriverError::os(
                "AF_PACKET bind",
                iface_name,
                std::io::Error::last_os_error(),
            ));
        }
        // The default socket buffers (~200 KB) overflow as soon as a few TCP windows are
        // in flight; the kernel then drops frames silently. 8 MB each way, forced when we
        // may (CAP_NET_ADMIN), else as much as net.core.*mem_max allows.
        for (force, plain) in [
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        ] {
            if setsockopt_int(f, libc::SOL_SOCKET, force, SOCKET_BUFFER).is_err() {
                let _ = setsockopt_int(f, libc::SOL_SOCKET, plain, SOCKET_BUFFER);
            }
        }
        setsockopt_int(f, libc::SOL_PACKET, PACKET_QDISC_BYPASS, 1)
            .map_err(|e| DriverError::os("PACKET_QDISC_BYPASS", iface_name, e))?;
        setsockopt_int(f, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            .map_err(|e| DriverError::os("PACKET_IGNORE_OUTGOING", iface_name, e))?;
        setsockopt_int(f, libc::SOL_PACKET, PACKET_AUXDATA, 1)
            .map_err(|e| DriverError::os("PACKET_AUXDATA", iface_name, e))?;
        if let Some(group) = opts.fanout_group {
            let arg = libc::c_int::from(group) | (PACKET_FANOUT_HASH << 16);
            setsockopt_int(f, libc::SOL_PACKET, PACKET_FANOUT, arg)
                .map_err(|e| DriverError::os("PACKET_FANOUT", iface_name, e))?;
        }
        let batch = opts.batch.clamp(1, 512);
        let tx_slots = opts.tx_slots.clamp(1, 512);
        Ok(PacketDevice {
            info: DeviceInfo {
                name: iface_name.into(),
                kind: DriverKind::Packet,
                mac: ifc.mac,
                mtu: ifc.mtu,
                frame_capacity: FRAME,
                queue,
            },
            rx: Batch::new(batch),
            rx_control: vec![[0; CONTROL_WORDS]; batch],
            tx: PacketTx {
                fd: f,
                slots: Batch::new(tx_slots),
                queued: 0,
                iface: iface_name.into(),
                tx_frames: 0,
                tx_errors: 0,
                tx_no_buffer: 0,
            },
            fd,
            stats: DriverStats::default(),
            rx_dropped: Cell::new(0),
            stats_countdown: STATS_EVERY,
        })
    }

    /// Adds the kernel's receive-drop count since its last read to `rx_dropped`.
    fn take_kernel_drops(&self) {
        let mut st = TpacketStats::default();
        let mut len = core::mem::size_of::<TpacketStats>() as libc::socklen_t;
        // SAFETY: `st` is a live tpacket_stats and `len` its size; the kernel writes at
        // most `len` bytes into it.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_STATISTICS,
                (&mut st as *mut TpacketStats).cast(),
                &mut len,
            )
        };
        if r == 0 {
            self.rx_dropped
                .set(self.rx_dropped.get() + u64::from(st.tp_drops));
        }
    }
}

/// The PACKET_AUXDATA control message of a received frame, if it has one.
fn auxdata(hdr: &libc::msghdr) -> Option<TpacketAuxdata> {
    if hdr.msg_control.is_null() || hdr.msg_flags & libc::MSG_CTRUNC != 0 {
        return None;
    }
    let want = core::mem::size_of::<TpacketAuxdata>();
    // SAFETY: `hdr` was filled in by recvmmsg: msg_control points at this message's
    // control buffer, which we own, and msg_controllen is how much of it the kernel
    // wrote. CMSG_FIRSTHDR and CMSG_NXTHDR return a header inside that length, or null.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(hdr) };
    while !c.is_null() {
        // SAFETY: `c` is non-null and points at a complete cmsghdr inside the buffer.
        let cm = unsafe { &*c };
        // SAFETY: CMSG_LEN only computes a length.
        let need = unsafe { libc::CMSG_LEN(want as u32) } as usize;
        if cm.cmsg_level == libc::SOL_PACKET
            && cm.cmsg_type == PACKET_AUXDATA
            && cm.cmsg_len as usize >= need
        {
            // SAFETY: the message holds `need` bytes from `c`, so its data has a whole
            // tpacket_auxdata, which is plain integers; read_unaligned needs no alignment.
            return Some(unsafe { core::ptr::read_unaligned(libc::CMSG_DATA(c).cast()) });
        }
        // SAFETY: as for CMSG_FIRSTHDR; `c` is a header of this message.
        c = unsafe { libc::CMSG_NXTHDR(hdr, c) };
    }
    None
}

/// The VLAN tag (TPID, TCI) that the kernel took out of a received frame, from its
/// auxiliary data; None for an untagged frame.
fn vlan_tag(aux: &TpacketAuxdata) -> Option<(u16, u16)> {
    if aux.tp_status & TP_STATUS_VLAN_VALID == 0 {
        return None;
    }
    let tpid = if aux.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 {
        aux.tp_vlan_tpid
    } else {
        0x8100
    };
    Some((tpid, aux.tp_vlan_tci))
}

/// Writes a VLAN tag back into the `len`-byte frame at the start of `buf`, after the two
/// MAC addresses, where it was on the wire. Returns the new length, or None if it would
/// not fit in `buf`.
fn restore_vlan_tag(buf: &mut [u8], len: usize, tpid: u16, tci: u16) -> Option<usize> {
    const MACS: usize = 12;
    if len < MACS || len + 4 > buf.len() {
        return None;
    }
    buf.copy_within(MACS..len, MACS + 4);
    buf[MACS..MACS + 2].copy_from_slice(&tpid.to_be_bytes());
    buf[MACS + 2..MACS + 4].copy_from_slice(&tci.to_be_bytes());
    Some(len + 4)
}

impl Device for PacketDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn receive(
        &mut self,
        budget: usize,
        handler: &mut dyn FnMut(&mut [u8], &mut dyn Transmit) -> Verdict,
    ) -> Result<usize, DriverError> {
        let n = budget.min(self.rx.bufs.len());
        if n == 0 {
            return Ok(0);
        }
        self.stats_countdown -= 1;
        if self.stats_countdown == 0 {
            self.stats_countdown = STATS_EVERY;
            self.take_kernel_drops();
        }
        self.rx.lens[..n].fill(BUFFER);
        self.rx.prepare(n);
        for (m, c) in self.rx.msgs[..n].iter_mut().zip(&mut self.rx_control) {
            m.msg_hdr.msg_control = c.as_mut_ptr().cast();
            m.msg_hdr.msg_controllen = core::mem::size_of_val(c);
        }
        let got = loop {
            // SAFETY: the first `n` headers point at `n` live BUFFER-sized buffers.
            let r = unsafe {
                libc::recvmmsg(
                    self.fd.as_raw_fd(),
                    self.rx.msgs.as_mut_ptr(),
                    n as u32,
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                    core::ptr::null_mut(),
                )
            };
            if r >= 0 {
                break r as usize;
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => return Ok(0),
                Some(libc::EINTR) => continue,
                _ => return Err(DriverError::os("AF_PACKET receive", &self.info.name, e)),
            }
        };
        for i in 0..got {
            self.stats.rx_frames += 1;
            let mut len = self.rx.msgs[i].msg_len as usize;
            if len > BUFFER || self.rx.msgs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                self.stats.rx_oversize += 1;
                continue;
            }
            let aux = auxdata(&self.rx.msgs[i].msg_hdr).unwrap_or_default();
            // Finished before a VLAN tag goes back in: `tp_net` is the network header's
            // offset in the frame as received.
            if aux.tp_status & TP_STATUS_CSUMNOTREADY != 0
                && super::offload::complete(&mut self.rx.bufs[i][..len], usize::from(aux.tp_net))
            {
                self.stats.rx_checksum_completed += 1;
            }
            if let Some((tpid, tci)) = vlan_tag(&aux) {
                match restore_vlan_tag(&mut self.rx.bufs[i], len, tpid, tci) {
                    Some(l) => len = l,
                    None => {
                        self.stats.rx_oversize += 1;
                        continue;
                    }
                }
            }
            match handler(&mut self.rx.bufs[i][..len], &mut self.tx) {
                Verdict::Drop => {}
                Verdict::Reflect(out) => match self.tx.free_slot() {
                    Some(slot) => {
                        // Trade buffers: the received frame becomes a queued transmit.
                        core::mem::swap(&mut self.rx.bufs[i], &mut self.tx.slots.bufs[slot]);
                        self.tx.slots.lens[slot] = out.min(len);
                        self.tx.queued += 1;
                    }
                    None => self.tx.tx_no_buffer += 1,
                },
            }
        }
        Ok(got)
    }

    fn transmitter(&mut self) -> &mut dyn Transmit {
        &mut self.tx
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        if self.tx.queued > 0 {
            self.tx.flush()?;
        }
        Ok(())
    }

    fn wait(&mut self, timeout: Duration, bell: Option<&Doorbell>) -> Result<(), DriverError> {
        super::poll_readable(self.fd.as_raw_fd(), bell, timeout, &self.info.name)
    }

    fn stats(&self) -> DriverStats {
        self.take_kernel_drops();
        DriverStats {
            rx_ring_full: self.rx_dropped.get(),
            tx_frames: self.tx.tx_frames,
            tx_errors: self.tx.tx_errors,
            tx_no_buffer: self.tx.tx_no_buffer,
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vlan_tag_goes_back_after_the_mac_addresses() {
        let mut buf = [0u8; 64];
        let frame: Vec<u8> = (1..=20).collect(); // MACs 1..=12, EtherType 13 14, payload
        buf[..20].copy_from_slice(&frame);
        assert_eq!(restore_vlan_tag(&mut buf, 20, 0x8100, 0x2005), Some(24));
        assert_eq!(&buf[..12], &frame[..12]);
        assert_eq!(&buf[12..16], &[0x81, 0x00, 0x20, 0x05]);
        assert_eq!(&buf[16..24], &frame[12..]);
        assert_eq!(restore_vlan_tag(&mut buf, 61, 0x8100, 5), None, "no room");
        assert_eq!(restore_vlan_tag(&mut buf, 10, 0x8100, 5), None, "no MACs");
    }

    /// A control buffer as recvmmsg leaves it: one PACKET_AUXDATA message.
    fn with_auxdata(aux: TpacketAuxdata, check: impl FnOnce(&libc::msghdr)) {
        let mut control = [0u64; CONTROL_WORDS];
        // SAFETY: all-zero is a valid msghdr.
        let mut hdr: libc::msghdr = unsafe { core::mem::zeroed() };
        hdr.msg_control = control.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE and CMSG_LEN only compute lengths.
        let (space, len) = unsafe {
            let n = core::mem::size_of::<TpacketAuxdata>() as u32;
            (libc::CMSG_SPACE(n) as usize, libc::CMSG_LEN(n) as usize)
        };
        assert!(space <= core::mem::size_of_val(&control));
        hdr.msg_controllen = space;
        // SAFETY: the buffer is `space` bytes long and aligned for cmsghdr, so the first
        // header and its data lie inside it.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&hdr);
            (*c).cmsg_level = libc::SOL_PACKET;
            (*c).cmsg_type = PACKET_AUXDATA;
            (*c).cmsg_len = len as _;
            core::ptr::write_unaligned(libc::CMSG_DATA(c).cast(), aux);
        }
        check(&hdr);
    }

    #[test]
    fn the_vlan_tag_is_read_from_packet_auxdata() {
        let tagged = TpacketAuxdata {
            tp_status: TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID,
            tp_vlan_tci: 5,
            tp_vlan_tpid: 0x88a8,
            ..TpacketAuxdata::default()
        };
        let tag = |h: &libc::msghdr| auxdata(h).and_then(|a| vlan_tag(&a));
        with_auxdata(tagged, |h| assert_eq!(tag(h), Some((0x88a8, 5))));
        let old_kernel = TpacketAuxdata {
            tp_status: TP_STATUS_VLAN_VALID,
            ..tagged
        };
        with_auxdata(old_kernel, |h| assert_eq!(tag(h), Some((0x8100, 5))));
        let untagged = TpacketAuxdata {
            tp_status: TP_STATUS_CSUMNOTREADY,
            tp_net: 14,
            ..tagged
        };
        with_auxdata(untagged, |h| {
            assert_eq!(tag(h), None);
            let a = auxdata(h).unwrap();
            assert!(a.tp_status & TP_STATUS_CSUMNOTREADY != 0 && a.tp_net == 14);
        });
        // SAFETY: all-zero is a valid msghdr.
        let none: libc::msghdr = unsafe { core::mem::zeroed() };
        assert!(auxdata(&none).is_none(), "no control data");
    }
}
