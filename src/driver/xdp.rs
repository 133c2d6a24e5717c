//! driver/xdp: AF_XDP sockets through xsk-rs (libxdp). One socket per queue, each with
//! its own UMEM, or all of a run's sockets on one [`SharedUmem`] (XDP_SHARED_UMEM, each
//! socket with its own fill and completion rings and its own share of the frames).
//!
//! Frames: a UMEM of [`FRAMES`] frames of 2048 bytes (the smallest chunk AF_XDP allows,
//! and room for a 1500-byte MTU frame plus headroom). Half of them start on the fill ring;
//! the other half form the free pool. One free pool serves both the fill ring's refill and
//! transmission, so a frame is always in exactly one place: the kernel's fill/RX rings, our
//! hands during `receive`, the TX ring/completion ring, or the free pool.
//!
//! A [`Verdict::Reflect`] moves the received frame's descriptor straight onto the TX ring:
//! no copy. `send_with` builds into a frame taken from the free pool. `flush` submits what
//! is pending, kicks the kernel only if the TX ring asks for it (need_wakeup), reclaims the
//! completion ring into the free pool, and refills the fill ring.
//!
//! xsk-rs (libxdp) makes the UMEM and the socket; the hot path does not go through it.
//! The four rings are mapped a second time from the socket ([`super::ring`]) and driven
//! in Rust, and frames are addressed by their UMEM offset from the UMEM's base (a frame's
//! chunk is its offset rounded down to [`FRAME_SIZE`]: the UMEM is in aligned mode). The
//! xsk-rs queues are kept only to hold the socket and for the two system calls, the TX
//! kick (sendto) and the fill ring's wake-up (poll).
//!
//! The XDP program is xstack's own ([`program`]): attached once per run, before the
//! sockets, through a BPF link, and it redirects only xstack's traffic. libxdp is told not
//! to load its default program (which takes every frame of the queue, the kernel's
//! included); each socket is put into the program's XSKMAP at its queue instead.
//! Mode: the program's (`--xdp-mode auto`: by the interface's driver, see
//! [`super::auto_xdp_mode`]; or the mode asked for); the bind lets the kernel pick
//! zero-copy or copy (veth only does copy). Dropping the devices deletes the sockets, and
//! dropping the [`Program`] closes its link, which detaches it.
//!
//! Partial checksums: a frame whose TCP/UDP checksum a kernel peer's TX offload left
//! unfinished (veth's default) carries no mark on AF_XDP. [`offload::is_partial`]
//! recognises the pattern; such frames are counted (`rx_partial_checksum`, and in the
//! run's [`Notices`] so the user is told the fix at once) and dropped before the stack.

pub mod program;

use super::iface;
use super::offload;
use super::open::Notices;
use super::ring::{Consumer, Producer, RingKind, RingMap, XdpDesc};
pub use super::XdpMode;
use super::{
    Device, DeviceInfo, Doorbell, DriverError, DriverKind, DriverStats, Transmit, Verdict,
};
use core::time::Duration;
use program::Program;
use std::num::NonZeroU32;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use xsk_rs::config::{
    BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig, XdpFlags,
};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

/// Frames in one UMEM.
const FRAMES: u32 = 4096;
/// Size of every ring (fill, completion, RX, TX).
const RING: u32 = 2048;
const FRAME_SIZE: u32 = 2048;
/// The kernel's XDP_PACKET_HEADROOM, reserved at the start of every frame.
const XDP_HEADROOM: u32 = 256;
/// Bytes of packet data one frame holds.
const FRAME_DATA: usize = (FRAME_SIZE - XDP_HEADROOM) as usize;

#[derive(Clone, Debug, Default)]
pub struct XdpOptions {
    /// Force a mode instead of letting `auto` choose by the interface's driver.
    pub mode: Option<XdpMode>,
    /// Bind to this UMEM, shared with the run's other sockets, instead of making one.
    pub shared: Option<std::sync::Arc<SharedUmem>>,
    /// The run's XDP program, attached to the interface; each socket joins its XSKMAP.
    pub program: Option<Arc<Program>>,
    /// Where frames the user should hear about are counted as they come.
    pub notices: Arc<Notices>,
}

/// One UMEM for the sockets of several queues: [`FRAMES`] frames for each of them, handed
/// out once per socket. A frame never moves between sockets afterwards: each keeps its
/// share on its own fill ring, RX ring, TX ring, completion ring and free pool.
pub struct SharedUmem {
    umem: Umem,
    /// Frames in it.
    frames: u32,
    /// Descriptors not yet handed to a socket.
    descs: std::sync::Mutex<Vec<FrameDesc>>,
}

impl std::fmt::Debug for SharedUmem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedUmem")
    }
}

impl SharedUmem {
    /// A UMEM with room for `sockets` sockets.
    pub fn new(iface_name: &str, sockets: u32) -> Result<SharedUmem, DriverError> {
        let frames = FRAMES * sockets.max(1);
        let (umem, descs) = new_umem(iface_name, frames)?;
        Ok(SharedUmem {
            umem,
            frames,
            descs: std::sync::Mutex::new(descs),
        })
    }

    /// The frames of one socket.
    fn take_share(&self) -> Option<Vec<FrameDesc>> {
        let mut d = self.descs.lock().ok()?;
        let n = d.len().checked_sub(FRAMES as usize)?;
        Some(d.split_off(n))
    }
}

fn unsupported(iface_name: &str, what: &str, e: &dyn std::fmt::Display) -> DriverError {
    DriverError::Unsupported(format!("AF_XDP {what} on {iface_name} failed: {e}"))
}

/// A UMEM of `frames` frames, and their descriptors.
fn new_umem(iface_name: &str, frames: u32) -> Result<(Umem, Vec<FrameDesc>), DriverError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| unsupported(iface_name, what, e);
    let umem_cfg = UmemConfig::builder()
        .frame_size(FrameSize::new(FRAME_SIZE).map_err(|e| bad("frame size", &e))?)
        .fill_queue_size(QueueSize::new(RING).map_err(|e| bad("ring size", &e))?)
        .comp_queue_size(QueueSize::new(RING).map_err(|e| bad("ring size", &e))?)
        .build()
        .map_err(|e| bad("UMEM config", &e))?;
    let frames = NonZeroU32::new(frames).unwrap_or(NonZeroU32::MIN);
    Umem::new(umem_cfg, frames, false).map_err(|e| match e.source_errno() {
        Some(err) => DriverError::os_hint(
            "AF_XDP UMEM",
            iface_name,
            err,
            " — the UMEM is locked memory: raise `ulimit -l` or run as root",
        ),
        None => bad("UMEM", &e),
    })
}

/// The UMEM's memory, addressed by UMEM offset. Copied freely: the [`Umem`] the device
/// holds keeps the memory mapped for as long as any copy is used.
#[derive(Clone, Copy)]
struct Frames {
    base: *mut u8,
    /// Bytes in the UMEM: a whole number of frames.
    len: u64,
}

// SAFETY: the memory is a process-wide mapping, not tied to a thread; which frames each
// side may touch is decided by the rings, not by the thread.
unsafe impl Send for Frames {}

/// The chunk (frame start) of UMEM offset `addr`.
fn chunk(addr: u64) -> u64 {
    addr & !u64::from(FRAME_SIZE - 1)
}

impl Frames {
    /// The UMEM that `desc` (any of its frames, fresh from xsk-rs) belongs to.
    fn of(umem: &Umem, frames: u32, desc: &FrameDesc) -> Frames {
        // SAFETY: `desc` is a frame of `umem`, read as zero bytes: only its address is used.
        let data = unsafe { umem.data(desc) }.contents().as_ptr();
        // The UMEM is an mmap made by xsk-rs through libc (FFI), so its address is
        // exposed; rebuilding the base from it by an integer-to-pointer cast (the
        // exposed-provenance spelling of Rust before 1.84, this crate's MSRV being 1.80)
        // keeps the whole mapping's provenance, not just the zero bytes of `data`.
        let base = (data as usize - desc.addr()) as *mut u8;
        Frames {
            base,
            len: u64::from(frames) * u64::from(FRAME_SIZE),
        }
    }

    /// The bytes from UMEM offset `addr` to the end of its frame, or `None` if that
    /// frame is not inside the UMEM (the kernel never hands out such an address).
    ///
    /// # Safety
    ///
    /// The frame must be ours (taken from the RX or completion ring or the free pool,
    /// and on no ring since), and no other slice of it may be live.
    #[allow(clippy::mut_from_ref)]
    unsafe fn frame(&self, addr: u64) -> Option<&mut [u8]> {
        let end = chunk(addr).checked_add(u64::from(FRAME_SIZE))?;
        if end > self.len {
            return None;
        }
        // SAFETY: `addr..end` lies inside the UMEM mapping (checked above); the caller
        // guarantees that nobody else, the kernel included, uses the frame meanwhile.
        Some(unsafe {
            core::slice::from_raw_parts_mut(self.base.add(addr as usize), (end - addr) as usize)
        })
    }
}

/// The transmit half: the free pool, frames waiting for `flush`, the TX ring.
pub struct XdpTx {
    frames: Frames,
    tx: Producer<XdpDesc>,
    /// xsk-rs's TX queue: holds the socket, and kicks it.
    txq: TxQueue,
    /// Chunks of the frames nobody uses.
    free: Vec<u64>,
    /// Frames to put on the TX ring at the next flush.
    pending: Vec<XdpDesc>,
    tx_frames: u64,
    /// Frames the completion ring has handed back: `tx_frames - tx_completed` are on the
    /// TX ring or still being sent.
    tx_completed: u64,
    tx_no_buffer: u64,
}

impl Transmit for XdpTx {
    fn frame_capacity(&self) -> usize {
        FRAME_DATA
    }

    fn send_with(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let Some(chunk) = self.free.pop() else {
            self.tx_no_buffer += 1;
            return false;
        };
        let addr = chunk + u64::from(XDP_HEADROOM);
        // SAFETY: the frame came from the free pool, so neither the kernel nor any other
        // descriptor we hold refers to it.
        let Some(buf) = (unsafe { self.frames.frame(addr) }) else {
            // Not one of this UMEM's frames: it cannot have been put in the pool.
            return false;
        };
        let len = build(buf).min(buf.len());
        if len == 0 {
            self.free.push(chunk);
        } else {
            self.pending.push(XdpDesc {
                addr,
                len: len as u32,
                options: 0,
            });
        }
        true
    }
}

pub struct XdpDevice {
    info: DeviceInfo,
    mode: XdpMode,
    /// Keeps the program attached while the socket lives.
    _program: Arc<Program>,
    notices: Arc<Notices>,
    /// Keeps the UMEM (and so every frame) mapped while the device lives.
    _umem: Umem,
    fill: Producer<u64>,
    comp: Consumer<u64>,
    rx: Consumer<XdpDesc>,
    /// xsk-rs's rings: they hold the socket; `fq` wakes the fill ring, `rxq` gives the fd.
    fq: FillQueue,
    _cq: CompQueue,
    rxq: RxQueue,
    tx: XdpTx,
    /// Scratch for descriptors taken off the RX ring.
    scratch: Vec<XdpDesc>,
    stats: DriverStats,
}

/// A bound socket's parts: the UMEM with its frame descriptors, and the four rings.
struct Parts {
    umem: Umem,
    /// Frames in the UMEM (all sockets' shares, if shared).
    umem_frames: u32,
    descs: Vec<FrameDesc>,
    txq: TxQueue,
    rxq: RxQueue,
    fq: FillQueue,
    cq: CompQueue,
}

/// [`create_once`], retried for a while on EBUSY: the kernel releases the socket of a
/// process that just exited asynchronously, so an immediate re-bind can find the queue busy.
fn create(
    iface_name: &str,
    queue: u32,
    program: &Program,
    shared: Option<&SharedUmem>,
) -> Result<Parts, DriverError> {
    let mut tries = 0;
    loop {
        match create_once(iface_name, queue, program, shared) {
            Err(e) if e.errno() == Some(libc::EBUSY) && tries < 20 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            r => return r,
        }
    }
}

fn create_once(
    iface_name: &str,
    queue: u32,
    program: &Program,
    shared: Option<&SharedUmem>,
) -> Result<Parts, DriverError> {
    let unsupported = |what: &str, e: &dyn std::fmt::Display| {
        unsupported(iface_name, &format!("{what} (queue {queue})"), e)
    };
    // Our own UMEM comes with its frames; a shared one gives its share after the bind.
    let (umem, umem_frames, own_descs) = match shared {
        Some(s) => (s.umem.clone(), s.frames, None),
        None => {
            let (u, d) = new_umem(iface_name, FRAMES)?;
            (u, FRAMES, Some(d))
        }
    };
    let sock_cfg = SocketConfig::builder()
        .rx_queue_size(QueueSize::new(RING).map_err(|e| unsupported("ring size", &e))?)
        .tx_queue_size(QueueSize::new(RING).map_err(|e| unsupported("ring size", &e))?)
        .xdp_flags(match program.mode() {
            XdpMode::Native => XdpFlags::XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => XdpFlags::XDP_FLAGS_SKB_MODE,
        })
        // xstack's program is attached already; libxdp's default would take every frame.
        .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
        .bind_flags(BindFlags::XDP_USE_NEED_WAKEUP)
        .build();
    let name: Interface = iface_name
        .parse()
        .map_err(|_| DriverError::NoSuchInterface(iface_name.into()))?;
    // SAFETY: a UMEM of our own, or a shared one whose other sockets are bound to other
    // queues of this interface; either way this socket gets its own fill and completion
    // rings (xsk-rs binds with XDP_SHARED_UMEM when the UMEM already has a socket); with
    // program loading inhibited, libxdp only makes and binds the socket.
    let (txq, rxq, fq_cq) = unsafe { Socket::new(sock_cfg, &umem, &name, queue) }.map_err(|e| {
        match e.source_errno() {
            Some(err) => DriverError::os_hint(
                "AF_XDP bind",
                iface_name,
                err,
                " — is the queue in use by another AF_XDP socket, or XDP unsupported here?",
            ),
            None => unsupported("socket", &e),
        }
    })?;
    let (fq, cq) = fq_cq.ok_or_else(|| unsupported("socket", &"no fill/completion rings"))?;
    program.insert_socket(queue, rxq.fd().as_raw_fd())?;
    let descs = match own_descs {
        Some(d) => d,
        None => shared
            .and_then(SharedUmem::take_share)
            .ok_or_else(|| unsupported("shared UMEM", &"no frames left for this socket"))?,
    };
    Ok(Parts {
        umem,
        umem_frames,
        descs,
        txq,
        rxq,
        fq,
        cq,
    })
}

/// The io::Error behind an xsk-rs error, if it has one.
trait SourceErrno {
    fn source_errno(&self) -> Option<std::io::Error>;
}

impl<E: std::error::Error> SourceErrno for E {
    fn source_errno(&self) -> Option<std::io::Error> {
        let io = std::error::Error::source(self)?.downcast_ref::<std::io::Error>()?;
        io.raw_os_error().map(std::io::Error::from_raw_os_error)
    }
}

impl XdpDevice {
    pub fn open(iface_name: &str, queue: u32, opts: &XdpOptions) -> Result<Self, DriverError> {
        let ifc = iface::lookup(iface_name)?;
        if queue >= ifc.rx_queues {
            return Err(DriverError::Unsupported(format!(
                "{iface_name} has {} receive queue(s); there is no queue {queue}",
                ifc.rx_queues
            )));
        }
        let program = opts.program.clone().ok_or_else(|| {
            DriverError::Unsupported(format!("AF_XDP on {iface_name}: no XDP program attached"))
        })?;
        let parts = create(iface_name, queue, &program, opts.shared.as_deref())?;
        let mode = program.mode();
        let Parts {
            umem,
            umem_frames,
            descs,
            txq,
            rxq,
            fq,
            cq,
        } = parts;
        let Some(first) = descs.first() else {
            return Err(unsupported(
                iface_name,
                "UMEM",
                &"no frames for this socket",
            ));
        };
        let frames = Frames::of(&umem, umem_frames, first);
        let fd = rxq.fd().as_raw_fd();
        fn map<T: super::ring::Entry>(
            fd: std::os::fd::RawFd,
            kind: RingKind,
            iface_name: &str,
        ) -> Result<RingMap<T>, DriverError> {
            let what = match kind {
                RingKind::Fill => "AF_XDP fill ring mmap",
                RingKind::Completion => "AF_XDP completion ring mmap",
                RingKind::Rx => "AF_XDP RX ring mmap",
                RingKind::Tx => "AF_XDP TX ring mmap",
            };
            RingMap::xsk(fd, kind, RING).map_err(|e| DriverError::os(what, iface_name, e))
        }
        let mut fill = Producer::new(map(fd, RingKind::Fill, iface_name)?);
        let comp = Consumer::new(map(fd, RingKind::Completion, iface_name)?);
        let rx = Consumer::new(map(fd, RingKind::Rx, iface_name)?);
        let tx_ring = Producer::new(map(fd, RingKind::Tx, iface_name)?);
        let mut chunks: Vec<u64> = descs.iter().map(|d| chunk(d.addr() as u64)).collect();
        let half = chunks.len() / 2;
        let mut free = Vec::with_capacity(chunks.len());
        free.extend_from_slice(&chunks[half..]);
        chunks.truncate(half);
        let mut r = fill.reserve(chunks.len() as u32);
        let filled = r.len() as usize;
        if filled != chunks.len() {
            return Err(DriverError::Unsupported(format!(
                "AF_XDP on {iface_name}: the fill ring took {filled} of {} frames",
                chunks.len()
            )));
        }
        for (i, &c) in chunks.iter().enumerate() {
            r.set(i as u32, c);
        }
        r.submit(filled as u32);
        Ok(XdpDevice {
            info: DeviceInfo {
                name: iface_name.into(),
                kind: DriverKind::Xdp,
                mac: ifc.mac,
                mtu: ifc.mtu,
                frame_capacity: FRAME_DATA,
                queue,
            },
            mode,
            _program: program,
            notices: opts.notices.clone(),
            tx: XdpTx {
                frames,
                tx: tx_ring,
                txq,
                free,
                pending: Vec::with_capacity(RING as usize),
                tx_frames: 0,
                tx_completed: 0,
                tx_no_buffer: 0,
            },
            _umem: umem,
            fill,
            comp,
            rx,
            fq,
            _cq: cq,
            rxq,
            scratch: vec![XdpDesc::default(); RING as usize],
            stats: DriverStats::default(),
        })
    }

    pub fn mode(&self) -> XdpMode {
        self.mode
    }

    /// Returns completed transmissions to the free pool and tops up the fill ring.
    fn reclaim_and_refill(&mut self) {
        // The completion ring hands back frames the kernel has finished sending; they go
        // to the free pool only.
        let done = self.comp.peek(RING);
        let n = done.len();
        for i in 0..n {
            self.tx.free.push(chunk(done.get(i)));
        }
        done.release(n);
        self.tx.tx_completed += u64::from(n);
        // Keep a quarter of the frames back for transmission.
        let reserve = (FRAMES / 4) as usize;
        let spare = self.tx.free.len().saturating_sub(reserve);
        if spare > 0 {
            let mut r = self.fill.reserve(spare as u32);
            let put = r.len() as usize;
            let from = self.tx.free.len() - put;
            for (i, &c) in self.tx.free[from..].iter().enumerate() {
                r.set(i as u32, c);
            }
            // The frames leave the free pool for the kernel.
            r.submit(put as u32);
            self.tx.free.truncate(from);
        }
        if self.fill.needs_wakeup() {
            // A zero-timeout poll lets the kernel pick up the new fill entries.
            let _ = self.fq.wakeup(self.rxq.fd_mut(), 0);
        }
    }
}

impl Device for XdpDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn receive(
        &mut self,
        budget: usize,
        handler: &mut dyn FnMut(&mut [u8], &mut dyn Transmit) -> Verdict,
    ) -> Result<usize, DriverError> {
        let n = budget.min(self.scratch.len()) as u32;
        // Copy the descriptors out and give the slots back at once, so the kernel has
        // the room while the batch is handled.
        let peeked = self.rx.peek(n);
        let got = peeked.len() as usize;
        for (i, d) in self.scratch[..got].iter_mut().enumerate() {
            *d = peeked.get(i as u32);
        }
        peeked.release(got as u32);
        let frames = self.tx.frames;
        for &desc in &self.scratch[..got] {
            self.stats.rx_frames += 1;
            // SAFETY: the frame was just taken off the RX ring; we are its only user
            // until it goes back to a ring or the free pool below.
            let Some(buf) = (unsafe { frames.frame(desc.addr) }) else {
                // Not a frame of this UMEM: nothing to read, nothing to give back.
                continue;
            };
            let rx_len = (desc.len as usize).min(buf.len());
            let data = &mut buf[..rx_len];
            if offload::is_partial(data) {
                self.stats.rx_partial_checksum += 1;
                self.notices.partial_checksum(1);
                self.tx.free.push(chunk(desc.addr));
                continue;
            }
            match handler(data, &mut self.tx) {
                Verdict::Drop => self.tx.free.push(chunk(desc.addr)),
                Verdict::Reflect(len) => self.tx.pending.push(XdpDesc {
                    addr: desc.addr,
                    len: len.min(rx_len) as u32,
                    options: 0,
                }),
            }
        }
        if got > 0 {
            self.reclaim_and_refill();
        }
        Ok(got)
    }

    fn transmitter(&mut self) -> &mut dyn Transmit {
        &mut self.tx
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        let mut put = 0;
        if !self.tx.pending.is_empty() {
            let mut r = self.tx.tx.reserve(self.tx.pending.len() as u32);
            put = r.len() as usize;
            for (i, &d) in self.tx.pending[..put].iter().enumerate() {
                r.set(i as u32, d);
            }
            // The pending frames are in no ring; from here they are the kernel's.
            r.submit(put as u32);
            self.tx.pending.drain(..put);
            self.tx.tx_frames += put as u64;
        }
        // One kick sends a bounded batch (32 descriptors in copy mode, as on veth): the
        // rest wait on the TX ring for the next kick. So kick again while frames are not
        // back from the kernel, or a burst's tail would wait for the next frame sent —
        // 200 ms later, a retransmission, when every connection waits for an answer.
        let unsent = put > 0 || self.tx.tx_frames > self.tx.tx_completed;
        if unsent && self.tx.tx.needs_wakeup() {
            if let Err(e) = self.tx.txq.wakeup() {
                // A full device queue is transient; anything else is not.
                if !matches!(
                    e.raw_os_error(),
                    Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::ENOBUFS)
                ) {
                    return Err(DriverError::os("AF_XDP TX kick", &self.info.name, e));
                }
            }
        }
        self.reclaim_and_refill();
        Ok(())
    }

    fn wait(&mut self, timeout: Duration, bell: Option<&Doorbell>) -> Result<(), DriverError> {
        super::poll_readable(self.rxq.fd().as_raw_fd(), bell, timeout, &self.info.name)
    }

    fn stats(&self) -> DriverStats {
        let k = self.rxq.fd().xdp_statistics().ok();
        DriverStats {
            tx_frames: self.tx.tx_frames,
            tx_no_buffer: self.tx.tx_no_buffer,
            rx_ring_full: k.as_ref().map_or(0, |s| s.rx_ring_full() + s.rx_dropped()),
            tx_errors: k.as_ref().map_or(0, |s| s.tx_invalid_descs()),
            ..self.stats
        }
    }

    fn tx_unsent(&self) -> bool {
        !self.tx.pending.is_empty() || self.tx.tx_frames > self.tx.tx_completed
    }
}
