//! Facts about a kernel network interface: index, MAC, MTU, queue count and the IPv4
//! addresses the kernel has on it. Read from sysfs where it can be, and getifaddrs(3) for
//! the addresses. (`ip netns exec` remounts /sys, so sysfs shows the namespace's devices.)

use super::DriverError;
use core::net::Ipv4Addr;
use std::ffi::{CStr, CString};
use std::path::PathBuf;

/// What xstack needs to know about an interface before it opens it.
#[derive(Clone, Debug)]
pub struct IfaceInfo {
    pub name: String,
    pub index: u32,
    pub mac: [u8; 6],
    pub mtu: usize,
    pub rx_queues: u32,
    /// IPv4 addresses configured on it by the kernel.
    pub ipv4: Vec<Ipv4Addr>,
}

fn sysfs(iface: &str, file: &str) -> PathBuf {
    PathBuf::from("/sys/class/net").join(iface).join(file)
}

/// The kernel's index of `iface`, or [`DriverError::NoSuchInterface`].
pub fn index(iface: &str) -> Result<u32, DriverError> {
    let name = CString::new(iface).map_err(|_| DriverError::NoSuchInterface(iface.into()))?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if idx == 0 {
        return Err(DriverError::NoSuchInterface(iface.into()));
    }
    Ok(idx)
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.trim().split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Looks `iface` up: fails with a sentence that says what to do if it does not exist.
pub fn lookup(iface: &str) -> Result<IfaceInfo, DriverError> {
    let index = index(iface)?;
    let read = |file: &str| {
        std::fs::read_to_string(sysfs(iface, file)).map_err(|e| {
            DriverError::os_hint(
                "reading interface facts from /sys",
                iface,
                e,
                " — is /sys mounted for this network namespace (ip netns exec mounts it)?",
            )
        })
    };
    let mac = parse_mac(&read("address")?).ok_or_else(|| {
        DriverError::Unsupported(format!(
            "{iface} has no Ethernet address; xstack needs an Ethernet interface"
        ))
    })?;
    let mtu = read("mtu")?.trim().parse().unwrap_or(1500);
    let rx_queues = std::fs::read_dir(sysfs(iface, "queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count() as u32
        })
        .unwrap_or(1)
        .max(1);
    Ok(IfaceInfo {
        name: iface.into(),
        index,
        mac,
        mtu,
        rx_queues,
        ipv4: ipv4_addresses(iface),
    })
}

/// The IPv4 addresses the kernel has configured on `iface` (empty if none or unknown).
pub fn ipv4_addresses(iface: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = core::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head into `head`; we free it below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) };
        // SAFETY: ifa_addr points to a sockaddr of at least its family's size.
        let family = unsafe { (*ifa.ifa_addr).sa_family };
        if name.to_bytes() != iface.as_bytes() || i32::from(family) != libc::AF_INET {
            continue;
        }
        // SAFETY: the family is AF_INET, so the sockaddr is a sockaddr_in.
        let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
        out.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
    }
    // SAFETY: `head` came from getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// The name of the kernel driver behind `iface` (`veth`, `ixgbe`, `virtio_net`...), as
/// `ethtool -i` says it, or `None` if the kernel will not say.
pub fn driver_name(iface: &str) -> Option<String> {
    ethtool_driver(iface).or_else(|| {
        // A device on a bus has its driver in sysfs too.
        let link = std::fs::read_link(sysfs(iface, "device/driver")).ok()?;
        Some(link.file_name()?.to_string_lossy().into_owned())
    })
}

/// `struct ethtool_drvinfo` (linux/ethtool.h).
#[repr(C)]
struct EthtoolDrvinfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

/// `struct ifreq` with its union as the `ifr_data` pointer (40 bytes on 64-bit Linux).
#[repr(C)]
struct IfreqData {
    name: [u8; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _rest: [u8; 24 - core::mem::size_of::<*mut libc::c_void>()],
}

const ETHTOOL_GDRVINFO: u32 = 3;
const SIOCETHTOOL: libc::c_ulong = 0x8946;

fn ethtool_driver(iface: &str) -> Option<String> {
    if iface.len() >= libc::IFNAMSIZ {
        return None;
    }
    let mut info = EthtoolDrvinfo {
        cmd: ETHTOOL_GDRVINFO,
        driver: [0; 32],
        version: [0; 32],
        fw_version: [0; 32],
        bus_info: [0; 32],
        erom_version: [0; 32],
        reserved2: [0; 12],
        n_priv_flags: 0,
        n_stats: 0,
        testinfo_len: 0,
        eedump_len: 0,
        regdump_len: 0,
    };
    let mut req = IfreqData {
        name: [0; libc::IFNAMSIZ],
        data: (&mut info as *mut EthtoolDrvinfo).cast(),
        _rest: [0; 24 - core::mem::size_of::<*mut libc::c_void>()],
    };
    req.name[..iface.len()].copy_from_slice(iface.as_bytes());
    // SAFETY: a datagram socket with no address; closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `req` is a live ifreq whose name is NUL-terminated (shorter than IFNAMSIZ)
    // and whose data points at a live ethtool_drvinfo, which the kernel fills.
    let r = unsafe { libc::ioctl(fd, SIOCETHTOOL as _, &mut req as *mut IfreqData) };
    // SAFETY: `fd` is the socket opened above, closed once.
    unsafe { libc::close(fd) };
    if r != 0 {
        return None;
    }
    let end = info.driver.iter().position(|&b| b == 0).unwrap_or(32);
    let name = String::from_utf8_lossy(&info.driver[..end]).into_owned();
    (!name.is_empty()).then_some(name)
}

/// Why an interface that was there at the start can no longer carry traffic, if it
/// cannot: deleted (or replaced: another index under the name), or down.
pub fn link_lost(iface: &str, index_at_start: u32) -> Option<String> {
    match index(iface) {
        Err(_) => return Some(format!("{iface} went away (the interface was deleted)")),
        Ok(i) if i != index_at_start => {
            return Some(format!(
                "{iface} went away (deleted, and another interface now has the name)"
            ))
        }
        Ok(_) => {}
    }
    // IFF_UP, as `ip link set down` clears it; /sys/class/net/X/flags is hex.
    let flags = std::fs::read_to_string(sysfs(iface, "flags")).ok()?;
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).ok()?;
    (flags & libc::IFF_UP as u32 == 0).then(|| format!("{iface} went down (ip link set down)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_from_sysfs_text() {
        assert_eq!(
            parse_mac("02:ab:00:10:ff:09\n"),
            Some([2, 0xab, 0, 0x10, 0xff, 9])
        );
        assert_eq!(parse_mac("02:ab:00:10:ff"), None);
        assert_eq!(parse_mac("02:ab:00:10:ff:09:01"), None);
        assert_eq!(parse_mac("zz:ab:00:10:ff:09"), None);
    }

    #[test]
    fn a_link_that_is_up_is_not_lost_and_a_missing_one_is() {
        let lo = index("lo").unwrap();
        assert_eq!(link_lost("lo", lo), None);
        assert!(link_lost("lo", lo + 1000).unwrap().contains("went away"));
        assert!(link_lost("xs-no-such-if0", 7).unwrap().contains("deleted"));
    }

    #[test]
    fn loopback_has_no_driver_and_a_missing_interface_none_either() {
        // ethtool -i lo fails (loopback has no driver info), and lo has no device link.
        assert_eq!(driver_name("lo"), None);
        assert_eq!(driver_name("xs-no-such-if0"), None);
        assert_eq!(driver_name("a-name-far-too-long-for-linux"), None);
    }

    #[test]
    fn loopback_is_found_and_a_missing_interface_says_so() {
        assert!(index("lo").is_ok());
        let e = lookup("xs-no-such-if0").unwrap_err();
        assert!(
            e.to_string()
                .contains("no network interface named 'xs-no-such-if0'"),
            "{e}"
        );
    }
}
