//! driver/xdp/program: xstack's own XDP program (`redirect.bpf.c`, built by build.rs and
//! embedded), loaded through libbpf and attached with a BPF link, one per interface and
//! run. It redirects to the AF_XDP sockets only the frames for xstack's addresses (and, on
//! an address shared with the kernel, its claimed ports) and passes everything else to
//! the kernel, so the kernel keeps its own traffic on the interface.
//!
//! Invariants:
//! - Attached through a BPF link: the kernel detaches it when the link's last descriptor
//!   closes, so a killed xstack leaves nothing behind.
//! - A program already on the interface is replaced only if xstack left it (its name is
//!   xstack's, and no link holds it, i.e. no xstack runs it); an xstack that runs it is
//!   named (its PID is in the program's config map) and the start is refused; any other
//!   program is never touched: it is named, with how to remove it.
//! - libbpf's and libxdp's messages go through [`route_library_messages`]: silent unless
//!   `-v`.

use super::super::iface;
use super::super::open::{ClaimProto, Filter};
use super::super::DriverError;
use super::super::{XdpMode, XdpVerdicts as Verdicts};
use core::ffi::{c_char, c_int, c_void};
use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The eBPF object build.rs made from `redirect.bpf.c`.
static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/redirect.bpf.o"));

/// The program's name, as the kernel shows it (`ip link`: `prog/xdp id N name …`).
pub const PROGRAM_NAME: &str = "xstack_redirect";
/// Bumped when the maps or their meaning change.
const PROGRAM_VERSION: u32 = 2;

/// Values of the address maps.
const ADDR_OWNED: u32 = 1;
/// The config flag that switches the program's IPv6 branch on.
const CFG_IPV6: u32 = 1;
/// The config flag that switches the stateless replies in XDP on (`--reflect-in-xdp`).
const CFG_REFLECT: u32 = 2;
/// Values of `reflect_ports`.
const SVC_ECHO: u8 = 1;
const SVC_SOCKPERF: u8 = 2;
/// Slots of the `reflects` map.
const R_ICMP_ECHO: u32 = 0;
const R_UDP_ECHO: u32 = 1;
const R_SOCKPERF: u32 = 2;
const R_SOCKPERF_NO_REPLY: u32 = 3;
const ADDR_SHARED: u32 = 2;
/// Slots of the `verdicts` map.
const V_REDIRECTED: u32 = 0;
const V_PASSED: u32 = 1;
const V_OVERSIZE: u32 = 2;
const V_NO_SOCKET: u32 = 3;

/// `struct config` of redirect.bpf.c.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Config {
    flags: u32,
    max_frame: u32,
    owner_pid: u32,
    version: u32,
    /// The interface's MAC (read with CFG_REFLECT).
    mac: [u8; 6],
    pad: u16,
    /// The subnet's directed broadcast, network byte order (0: none).
    broadcast: u32,
}

// The layout redirect.bpf.c's `struct config` has: four u32, the MAC, two bytes of
// padding, the broadcast address.
const _: () = assert!(core::mem::size_of::<Config>() == 28);

/// xstack's program, attached to one interface for as long as this lives.
pub struct Program {
    obj: *mut libbpf_sys::bpf_object,
    /// The BPF link: closing it detaches the program.
    _link: OwnedFd,
    xsks: RawFd,
    verdicts: RawFd,
    /// The `reflects` map, when the stateless replies are on.
    reflects: Option<RawFd>,
    mode: XdpMode,
    iface: String,
    id: u32,
}

// SAFETY: the bpf_object is only read (map descriptors) after it is loaded, and is
// closed once, on drop; libbpf's objects are not tied to a thread.
unsafe impl Send for Program {}
// SAFETY: as above: after loading, every method uses only the map descriptors, with
// system calls that are safe to make from several threads at once.
unsafe impl Sync for Program {}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Program({} id {} on {})",
            PROGRAM_NAME, self.id, self.iface
        )
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: `obj` came from bpf_object__open_mem and is closed exactly once; the
        // map descriptors it owns are not used after this.
        unsafe { libbpf_sys::bpf_object__close(self.obj) };
    }
}

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// A libbpf return code (a negative errno) as an io::Error.
fn neg(r: c_int) -> std::io::Error {
    std::io::Error::from_raw_os_error(r.saturating_neg())
}

/// What is attached to an interface now.
#[derive(Debug)]
struct Attached {
    id: u32,
    name: String,
    mode: XdpMode,
    /// Attached through a BPF link (so some process holds it open).
    by_link: bool,
}

/// The program attached to `ifindex` (driver or generic mode), if any.
fn attached(ifindex: u32, iface_name: &str) -> Result<Option<Attached>, DriverError> {
    let mut q = libbpf_sys::bpf_xdp_query_opts {
        sz: core::mem::size_of::<libbpf_sys::bpf_xdp_query_opts>() as _,
        ..Default::default()
    };
    // SAFETY: `q` is a live, sized bpf_xdp_query_opts that libbpf fills in.
    let r = unsafe { libbpf_sys::bpf_xdp_query(ifindex as c_int, 0, &mut q) };
    if r < 0 {
        return Err(DriverError::os(
            "querying its XDP program",
            iface_name,
            neg(r),
        ));
    }
    let (id, mode) = if q.drv_prog_id != 0 {
        (q.drv_prog_id, XdpMode::Native)
    } else if q.skb_prog_id != 0 {
        (q.skb_prog_id, XdpMode::Generic)
    } else if q.prog_id != 0 {
        (q.prog_id, XdpMode::Native)
    } else {
        return Ok(None);
    };
    let name = prog_name(id).unwrap_or_else(|| "?".into());
    Ok(Some(Attached {
        id,
        name,
        mode,
        by_link: held_by_link(id),
    }))
}

fn fd_of(fd: c_int) -> Option<OwnedFd> {
    // SAFETY: a non-negative descriptor returned by libbpf is new and ours alone.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

fn prog_info(id: u32) -> Option<(libbpf_sys::bpf_prog_info, OwnedFd)> {
    // SAFETY: plain syscall wrapper; the result is checked.
    let fd = fd_of(unsafe { libbpf_sys::bpf_prog_get_fd_by_id(id) })?;
    let mut info = libbpf_sys::bpf_prog_info::default();
    let mut len = core::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
    // SAFETY: `info` is a live bpf_prog_info of `len` bytes; with nr_map_ids 0 the
    // kernel writes no map ids through a pointer.
    let r = unsafe { libbpf_sys::bpf_prog_get_info_by_fd(fd.as_raw_fd(), &mut info, &mut len) };
    (r == 0).then_some((info, fd))
}

fn prog_name(id: u32) -> Option<String> {
    let (info, _) = prog_info(id)?;
    // SAFETY: the kernel NUL-terminates the 16-byte name.
    let name = unsafe { CStr::from_ptr(info.name.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// Whether an XDP BPF link holds program `id`.
fn held_by_link(prog_id: u32) -> bool {
    let mut id = 0u32;
    loop {
        let mut next = 0u32;
        // SAFETY: plain syscall wrapper writing one u32.
        if unsafe { libbpf_sys::bpf_link_get_next_id(id, &mut next) } != 0 {
            return false;
        }
        id = next;
        // SAFETY: as above.
        let Some(fd) = fd_of(unsafe { libbpf_sys::bpf_link_get_fd_by_id(id) }) else {
            continue;
        };
        let mut info = libbpf_sys::bpf_link_info::default();
        let mut len = core::mem::size_of::<libbpf_sys::bpf_link_info>() as u32;
        // SAFETY: `info` is a live bpf_link_info of `len` bytes.
        let r = unsafe { libbpf_sys::bpf_link_get_info_by_fd(fd.as_raw_fd(), &mut info, &mut len) };
        if r == 0 && info.type_ == libbpf_sys::BPF_LINK_TYPE_XDP && info.prog_id == prog_id {
            return true;
        }
    }
}

/// The PID an xstack program's config map names as its owner.
fn owner_pid(prog_id: u32) -> Option<u32> {
    let (mut info, fd) = prog_info(prog_id)?;
    let n = info.nr_map_ids.min(16);
    let mut ids = [0u32; 16];
    info = libbpf_sys::bpf_prog_info {
        nr_map_ids: n,
        map_ids: ids.as_mut_ptr() as u64,
        ..Default::default()
    };
    let mut len = core::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
    // SAFETY: map_ids points at room for `n` u32s, which is all the kernel writes.
    let r = unsafe { libbpf_sys::bpf_prog_get_info_by_fd(fd.as_raw_fd(), &mut info, &mut len) };
    if r != 0 {
        return None;
    }
    for &map_id in &ids[..n as usize] {
        // SAFETY: plain syscall wrapper; the result is checked.
        let Some(mfd) = fd_of(unsafe { libbpf_sys::bpf_map_get_fd_by_id(map_id) }) else {
            continue;
        };
        let mut mi = libbpf_sys::bpf_map_info::default();
        let mut mlen = core::mem::size_of::<libbpf_sys::bpf_map_info>() as u32;
        // SAFETY: `mi` is a live bpf_map_info of `mlen` bytes.
        if unsafe { libbpf_sys::bpf_map_get_info_by_fd(mfd.as_raw_fd(), &mut mi, &mut mlen) } != 0 {
            continue;
        }
        // SAFETY: the kernel NUL-terminates the name.
        let name = unsafe { CStr::from_ptr(mi.name.as_ptr()) };
        if name.to_bytes() != b"config" || mi.value_size as usize != core::mem::size_of::<Config>()
        {
            continue;
        }
        let key = 0u32;
        let mut cfg = Config::default();
        // SAFETY: key and value are live and of the map's key and value sizes.
        let r = unsafe {
            libbpf_sys::bpf_map_lookup_elem(
                mfd.as_raw_fd(),
                (&key as *const u32).cast(),
                (&mut cfg as *mut Config).cast(),
            )
        };
        if r == 0 && cfg.owner_pid != 0 {
            return Some(cfg.owner_pid);
        }
    }
    None
}

fn mode_flags(mode: XdpMode) -> u32 {
    match mode {
        XdpMode::Native => libbpf_sys::XDP_FLAGS_DRV_MODE,
        XdpMode::Generic => libbpf_sys::XDP_FLAGS_SKB_MODE,
    }
}

/// Makes sure nothing stands in the way of attaching: an earlier xstack's program left
/// attached is removed (with a notice); anything else is an error that says what to do.
fn clear_the_way(ifindex: u32, iface_name: &str) -> Result<(), DriverError> {
    let Some(old) = attached(ifindex, iface_name)? else {
        return Ok(());
    };
    let off = match old.mode {
        XdpMode::Native => "xdp",
        XdpMode::Generic => "xdpgeneric",
    };
    if old.name != PROGRAM_NAME {
        return Err(DriverError::Busy(format!(
            "{iface_name} already has an XDP program that xstack did not attach \
             (id {}, name {}, {} mode); xstack leaves it alone. If nothing needs it, \
             remove it with `ip link set dev {iface_name} {off} off` and start xstack again",
            old.id, old.name, old.mode
        )));
    }
    if old.by_link {
        let who = match owner_pid(old.id) {
            Some(pid) => format!("xstack (pid {pid})"),
            None => "another xstack".into(),
        };
        return Err(DriverError::Busy(format!(
            "{who} is already running on {iface_name} (XDP program id {}); stop it first, \
             or run this one on another interface",
            old.id
        )));
    }
    crate::driver::log::notice(&format!(
        "replacing the XDP program {} (id {}) that an earlier xstack left attached to \
         {iface_name}",
        old.name, old.id
    ));
    // SAFETY: plain netlink request; a null opts detaches whatever is in that mode.
    let r = unsafe {
        libbpf_sys::bpf_xdp_detach(ifindex as c_int, mode_flags(old.mode), core::ptr::null())
    };
    if r < 0 {
        return Err(DriverError::os(
            "removing the XDP program an earlier xstack left",
            iface_name,
            neg(r),
        ));
    }
    Ok(())
}

fn map_fd(obj: *mut libbpf_sys::bpf_object, name: &CStr) -> Result<RawFd, String> {
    // SAFETY: `obj` is a loaded object and `name` a NUL-terminated string.
    let fd = unsafe { libbpf_sys::bpf_object__find_map_fd_by_name(obj, name.as_ptr()) };
    if fd < 0 {
        Err(format!("the XDP program has no map {name:?}"))
    } else {
        Ok(fd)
    }
}

fn update<K, V>(fd: RawFd, key: &K, value: &V) -> std::io::Result<()> {
    // SAFETY: key and value are live values of the map's key and value types (the
    // callers pass the types redirect.bpf.c declares).
    let r = unsafe {
        libbpf_sys::bpf_map_update_elem(
            fd,
            (key as *const K).cast::<c_void>(),
            (value as *const V).cast::<c_void>(),
            0,
        )
    };
    if r < 0 {
        Err(neg(r))
    } else {
        Ok(())
    }
}

impl Program {
    /// Loads xstack's program, fills its maps from `filter`, and attaches it to
    /// `iface_name` through a BPF link: in `mode`, or, for `auto` (`None`), in the mode
    /// [`super::super::auto_xdp_mode`] picks for the interface's driver, falling back to
    /// the other; `auto` says its choice and why in one sentence on stderr.
    pub fn attach(
        iface_name: &str,
        queues: u32,
        mode: Option<XdpMode>,
        filter: &Filter,
    ) -> Result<Program, DriverError> {
        let ifc = iface::lookup(iface_name)?;
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            DriverError::Unsupported(format!("XDP program on {iface_name}: {what}: {e}"))
        };
        clear_the_way(ifc.index, iface_name)?;
        // SAFETY: OBJECT is a static byte slice that outlives the object (libbpf copies
        // what it needs); null opts take the defaults.
        let obj = unsafe {
            libbpf_sys::bpf_object__open_mem(
                OBJECT.as_ptr().cast(),
                OBJECT.len() as _,
                core::ptr::null(),
            )
        };
        if obj.is_null() {
            return Err(bad("opening the embedded object", &errno()));
        }
        // From here on, `guard` closes the object on every early return.
        struct Guard(*mut libbpf_sys::bpf_object);
        impl Drop for Guard {
            fn drop(&mut self) {
                if !self.0.is_null() {
                    // SAFETY: an object from bpf_object__open_mem, closed once.
                    unsafe { libbpf_sys::bpf_object__close(self.0) };
                }
            }
        }
        let mut guard = Guard(obj);
        // SAFETY: `obj` is an opened, not yet loaded object.
        let r = unsafe { libbpf_sys::bpf_object__load(obj) };
        if r < 0 {
            return Err(DriverError::os_hint(
                "loading the XDP program",
                iface_name,
                neg(r),
                " — run with -v for the verifier's log",
            ));
        }
        let fds = (|| {
            Ok::<_, String>((
                map_fd(obj, c"xsks")?,
                map_fd(obj, c"addrs_v4")?,
                map_fd(obj, c"claims")?,
                map_fd(obj, c"verdicts")?,
                map_fd(obj, c"config")?,
                map_fd(obj, c"addrs_v6")?,
                map_fd(obj, c"reflect_ports")?,
                map_fd(obj, c"reflects")?,
            ))
        })();
        let (xsks, addrs_v4, claims, verdicts, config, addrs_v6, reflect_ports, reflects) =
            fds.map_err(|e| bad("maps", &e))?;
        let fill = || -> std::io::Result<()> {
            for a in &filter.owned_v4 {
                update(addrs_v4, &u32::from_ne_bytes(a.octets()), &ADDR_OWNED)?;
            }
            for a in &filter.shared_v4 {
                update(addrs_v4, &u32::from_ne_bytes(a.octets()), &ADDR_SHARED)?;
            }
            for a in &filter.owned_v6 {
                // The address, and its solicited-node group ff02::1:ffXX:XXXX (RFC 4291
                // §2.7.1), where neighbour solicitations for it arrive.
                let o = a.octets();
                let group = [
                    0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
                ];
                update(addrs_v6, &o, &ADDR_OWNED)?;
                update(addrs_v6, &group, &ADDR_OWNED)?;
            }
            for &(proto, port) in &filter.claims {
                let base = match proto {
                    ClaimProto::Tcp => 0u32,
                    ClaimProto::Udp => 65536,
                };
                update(claims, &(base + u32::from(port)), &1u8)?;
            }
            let mut cfg = Config {
                flags: if filter.owned_v6.is_empty() {
                    0
                } else {
                    CFG_IPV6
                },
                max_frame: match filter.max_frame {
                    0 => super::FRAME_DATA as u32,
                    n => n,
                },
                owner_pid: std::process::id(),
                version: PROGRAM_VERSION,
                ..Config::default()
            };
            if let Some(r) = &filter.reflect {
                for &port in &r.udp_echo {
                    update(reflect_ports, &u32::from(port), &SVC_ECHO)?;
                }
                if let Some(port) = r.sockperf {
                    update(reflect_ports, &u32::from(port), &SVC_SOCKPERF)?;
                }
                cfg.flags |= CFG_REFLECT;
                cfg.mac = r.mac;
                cfg.broadcast = r.broadcast.map_or(0, |b| u32::from_ne_bytes(b.octets()));
            }
            update(config, &0u32, &cfg)
        };
        fill().map_err(|e| DriverError::os("filling the XDP program's maps", iface_name, e))?;
        // SAFETY: a loaded object and a NUL-terminated name.
        let prog = unsafe {
            libbpf_sys::bpf_object__find_program_by_name(obj, c"xstack_redirect".as_ptr())
        };
        if prog.is_null() {
            return Err(bad("program", &"xstack_redirect not found"));
        }
        // SAFETY: `prog` belongs to the loaded object.
        let prog_fd = unsafe { libbpf_sys::bpf_program__fd(prog) };
        let try_mode = |m: XdpMode| {
            let opts = libbpf_sys::bpf_link_create_opts {
                sz: core::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _,
                flags: mode_flags(m),
                ..Default::default()
            };
            // SAFETY: a loaded program's fd, an interface index and sized opts.
            let fd = unsafe {
                libbpf_sys::bpf_link_create(prog_fd, ifc.index as c_int, libbpf_sys::BPF_XDP, &opts)
            };
            if fd < 0 {
                Err(neg(fd))
            } else {
                Ok(fd_of(fd).expect("non-negative"))
            }
        };
        let (mode, link) = match mode {
            Some(m) => (m, try_mode(m)),
            None => {
                // --xdp-mode auto: by the interface's driver (super::super::auto_xdp_mode),
                // said in one sentence.
                let driver = iface::driver_name(iface_name);
                let auto = super::super::auto_xdp_mode(driver.as_deref(), queues);
                match (try_mode(auto.first), auto.fallback) {
                    (Ok(l), _) => {
                        eprintln!(
                            "xstack: --xdp-mode auto chose {} on {iface_name}: {}.",
                            auto.first, auto.why
                        );
                        (auto.first, Ok(l))
                    }
                    (Err(e), Some(then)) => {
                        let link = try_mode(then);
                        if link.is_ok() {
                            eprintln!(
                                "xstack: --xdp-mode auto chose {then} on {iface_name}: {} \
                                 would have been first ({}), but it failed to attach ({e}).",
                                auto.first, auto.why
                            );
                        }
                        (then, link)
                    }
                    (Err(e), None) => (auto.first, Err(e)),
                }
            }
        };
        let link = link.map_err(|e| {
            DriverError::os_hint(
                "attaching the XDP program",
                iface_name,
                e,
                " — is another XDP program attached (ip link show), or XDP unsupported here?",
            )
        })?;
        let mut info = libbpf_sys::bpf_prog_info::default();
        let mut len = core::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
        // SAFETY: `info` is a live bpf_prog_info of `len` bytes.
        unsafe { libbpf_sys::bpf_prog_get_info_by_fd(prog_fd, &mut info, &mut len) };
        guard.0 = core::ptr::null_mut();
        Ok(Program {
            obj,
            _link: link,
            xsks,
            verdicts,
            reflects: filter.reflect.is_some().then_some(reflects),
            mode,
            iface: iface_name.into(),
            id: info.id,
        })
    }

    pub fn mode(&self) -> XdpMode {
        self.mode
    }

    /// The program's id, as `ip link` shows it.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Sends the frames of `queue` to the AF_XDP socket `sock`.
    pub fn insert_socket(&self, queue: u32, sock: RawFd) -> Result<(), DriverError> {
        update(self.xsks, &queue, &(sock as u32))
            .map_err(|e| DriverError::os("adding the AF_XDP socket to the XSKMAP", &self.iface, e))
    }

    /// The per-verdict counters, and what the program answered itself, summed over the
    /// CPUs.
    pub fn verdicts(&self) -> Verdicts {
        // SAFETY: no arguments; reads /sys once and caches.
        let cpus = unsafe { libbpf_sys::libbpf_num_possible_cpus() }.max(1) as usize;
        let mut vals = vec![0u64; cpus];
        let mut read = |map: RawFd, slot: u32| -> u64 {
            // SAFETY: a per-CPU array's lookup writes one u64 per possible CPU, which
            // `vals` has room for.
            let r = unsafe {
                libbpf_sys::bpf_map_lookup_elem(
                    map,
                    (&slot as *const u32).cast(),
                    vals.as_mut_ptr().cast(),
                )
            };
            if r == 0 {
                vals.iter().sum()
            } else {
                0
            }
        };
        let v = self.verdicts;
        Verdicts {
            redirected: read(v, V_REDIRECTED),
            passed: read(v, V_PASSED),
            oversize: read(v, V_OVERSIZE),
            no_socket: read(v, V_NO_SOCKET),
            reflected: self.reflects.map(|m| super::super::XdpReflected {
                icmp_echo: read(m, R_ICMP_ECHO),
                udp_echo: read(m, R_UDP_ECHO),
                sockperf: read(m, R_SOCKPERF),
                sockperf_no_reply: read(m, R_SOCKPERF_NO_REPLY),
            }),
        }
    }
}

extern "C" {
    fn vsnprintf(
        buf: *mut c_char,
        n: usize,
        fmt: *const c_char,
        ap: *mut libbpf_sys::__va_list_tag,
    ) -> c_int;
}

fn forward(prefix: &str, fmt: *const c_char, ap: *mut libbpf_sys::__va_list_tag) -> c_int {
    if !crate::driver::log::verbose() {
        return 0;
    }
    let mut buf = [0 as c_char; 512];
    // SAFETY: `buf` has room for 512 bytes, and vsnprintf writes at most that, NUL
    // included; `fmt` and `ap` are the library's, handed to us for this call.
    let n = unsafe { vsnprintf(buf.as_mut_ptr(), buf.len(), fmt, ap) };
    if n < 0 {
        return 0;
    }
    // SAFETY: vsnprintf NUL-terminated `buf`.
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();
    crate::driver::log::library(prefix, text.trim_end());
    n
}

unsafe extern "C" fn libbpf_print(
    _level: libbpf_sys::libbpf_print_level,
    fmt: *const c_char,
    ap: *mut libbpf_sys::__va_list_tag,
) -> c_int {
    forward("libbpf", fmt, ap)
}

unsafe extern "C" fn libxdp_print(
    _level: libxdp_sys::libxdp_print_level,
    fmt: *const c_char,
    ap: *mut libxdp_sys::__va_list_tag,
) -> c_int {
    forward("libxdp", fmt, ap.cast())
}

/// Sends libbpf's and libxdp's messages through xstack's logging (`driver::log`): none
/// unless `-v`.
pub fn route_library_messages() {
    // SAFETY: installs callbacks with the signatures the libraries declare; they live
    // for the whole program.
    unsafe {
        libbpf_sys::libbpf_set_print(Some(libbpf_print));
        libxdp_sys::libxdp_set_print(Some(libxdp_print));
    }
}
