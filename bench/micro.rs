//! Micro-benchmarks of the per-packet work, with no I/O: `cargo bench --bench micro`.
//! Each prints ns per operation (median of several rounds). These are for finding
//! regressions and hot spots; machine-to-machine comparisons belong to bench/compare.sh,
//! which measures ratios against the kernel in one run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant as WallClock;
use xstack::driver::{Transmit, Verdict};
use xstack::metrics::hist::{latency_histogram, record};
use xstack::metrics::StackCounters;
use xstack::proto::tcp::{Buffers, Connection, Segment, SeqNumber, TcpConfig};
use xstack::stack::table::{ConnTable, FlowKey};
use xstack::stack::{NoApp, Secrets, Stack, StackConfig};
use xstack::time::Instant;
use xstack::wire::{checksum, Ipv4Packet, TcpFlags, TcpOptions, UdpPacket};

/// Counts the bytes held on the heap, to measure what a connection costs.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        HELD.fetch_add(l.size(), Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        HELD.fetch_sub(l.size(), Relaxed);
        System.dealloc(p, l)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn held() -> usize {
    HELD.load(Relaxed)
}

/// Runs `f` `iters` times per round, several rounds, and prints the median ns/op.
fn bench(name: &str, iters: u64, mut f: impl FnMut(u64)) {
    let mut rounds: Vec<f64> = (0..7)
        .map(|_| {
            let t = WallClock::now();
            for i in 0..iters {
                f(i);
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    println!("{name:<48} {:>9.1} ns/op", rounds[rounds.len() / 2]);
}

fn udp_frame(len: usize) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8 + len];
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12] = 0x08;
    let ip_len = (20 + 8 + len) as u16;
    f[14] = 0x45;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[198, 18, 0, 1]);
    f[30..34].copy_from_slice(&[198, 18, 0, 2]);
    Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
    f[34..36].copy_from_slice(&40000u16.to_be_bytes());
    f[36..38].copy_from_slice(&7u16.to_be_bytes());
    f[38..40].copy_from_slice(&((8 + len) as u16).to_be_bytes());
    UdpPacket::new_unchecked(&mut f[34..]).fill_checksum(
        std::net::Ipv4Addr::new(198, 18, 0, 1),
        std::net::Ipv4Addr::new(198, 18, 0, 2),
    );
    f
}

struct NoTx;
impl Transmit for NoTx {
    fn frame_capacity(&self) -> usize {
        2048
    }
    fn send_with(&mut self, _: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        false
    }
}

fn main() {
    for len in [64usize, 1472] {
        let f = udp_frame(len);
        bench(
            &format!("checksum over a {len} B UDP payload"),
            1_000_000,
            |_| {
                black_box(checksum::checksum(black_box(&f[42..])));
            },
        );
    }

    let mut stack = Stack::new(
        StackConfig {
            tcp_listen: Vec::new(),
            ..serve_config()
        },
        Arc::new(StackCounters::default()),
        NoApp,
    );
    for len in [64usize, 1472] {
        let mut f = udp_frame(len);
        let mut tx = NoTx;
        // Echoing twice restores the original frame, so every iteration sees a request.
        bench(
            &format!("stack: parse+verify+echo a {len} B UDP datagram"),
            1_000_000,
            |_| {
                let v = stack.handle_frame(Instant::ZERO, black_box(&mut f), &mut tx);
                assert!(matches!(v, Verdict::Reflect(_)));
                f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
                f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
                let (mut ip, _) = (Ipv4Packet::new_unchecked(&mut f[14..]), ());
                ip.set_src_addr([198, 18, 0, 1].into());
                ip.set_dst_addr([198, 18, 0, 2].into());
                let mut u = UdpPacket::new_unchecked(&mut f[34..]);
                u.swap_ports();
            },
        );
    }

    let n = 1_000_000u32;
    let key = |i: u32| FlowKey {
        local_ip: std::net::Ipv4Addr::new(198, 18, 0, 2).into(),
        local_port: 7,
        remote_ip: std::net::Ipv4Addr::from(0xc612_0000 | (i >> 16)).into(),
        remote_port: i as u16,
    };
    let mut table = ConnTable::new(n as usize, 0x5eed);
    for i in 0..n {
        table.insert(key(i), i).unwrap();
    }
    let mut x = 1u32;
    bench("connection table: lookup among 1M flows", 2_000_000, |_| {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        black_box(table.find(&key(black_box(x % n))));
    });

    let mut h = latency_histogram();
    bench("histogram: record one latency", 5_000_000, |i| {
        record(&mut h, black_box(10_000 + (i & 0xffff)));
    });
    drop(table);

    // The AF_XDP ring protocol (driver/ring), both ends in this thread: a batch of 64
    // descriptors reserved, written and submitted, then peeked, read and released.
    {
        use xstack::driver::ring::{Consumer, Producer, RingMap, XdpDesc};
        let ring = RingMap::<XdpDesc>::anonymous(2048, 0).expect("anonymous ring");
        let (mut p, mut c) = (Producer::new(ring.share()), Consumer::new(ring));
        bench("ring: 64 descs reserve/submit/peek/release", 200_000, |i| {
            let mut r = p.reserve(64);
            let n = r.len();
            for k in 0..n {
                r.set(
                    k,
                    XdpDesc {
                        addr: i + u64::from(k),
                        len: 60,
                        options: 0,
                    },
                );
            }
            r.submit(n);
            let got = c.peek(64);
            let mut sum = 0u64;
            for k in 0..got.len() {
                sum += got.get(k).addr;
            }
            let m = got.len();
            got.release(m);
            black_box(sum);
        });
    }

    // Memory per idle TCP connection. The table reserves a slot (a pointer, an index
    // entry, a free-list entry) for each connection it may hold; a connection's state is
    // boxed into its slot while it lives, and its buffers come on top only while it has
    // data to hold.
    let slots = 1 << 20;
    let before = held();
    let big = Stack::new(
        StackConfig {
            tcp_capacity: slots,
            ..serve_config()
        },
        Arc::new(StackCounters::default()),
        NoApp,
    );
    let with_table = held() - before;
    drop(big);
    let before = held();
    let small = Stack::new(serve_config(), Arc::new(StackCounters::default()), NoApp);
    let without = held() - before;
    drop(small);
    let per_slot = (with_table - without) as f64 / (slots - 1024) as f64;
    let cfg = TcpConfig::default();
    let before = held();
    let conns: Vec<Connection> = (0..1000)
        .map(|i| {
            let syn = Segment {
                seq: SeqNumber(i),
                ack: SeqNumber(0),
                flags: TcpFlags::SYN,
                window: 65535,
                options: TcpOptions::default(),
                payload: &[],
            };
            Connection::accept(cfg, Instant::ZERO, i, &syn, Buffers::for_config(&cfg))
        })
        .collect();
    let heap_per_conn =
        (held() - before) as f64 / 1000.0 - std::mem::size_of::<Connection>() as f64;
    drop(conns);
    println!(
        "{:<48} {per_slot:>9.0} B",
        "TCP table reservation per slot (untouched until used)"
    );
    println!(
        "{:<48} {:>9} B",
        "TCP connection state (without buffers)",
        std::mem::size_of::<Connection>()
    );
    println!(
        "{:<48} {heap_per_conn:>9.0} B",
        format!(
            "TCP connection buffers ({} KiB send + {} KiB receive)",
            cfg.send_buffer >> 10,
            cfg.recv_buffer >> 10
        )
    );
}

fn serve_config() -> StackConfig {
    StackConfig {
        mtu: 1500,
        udp_echo: vec![7],
        tcp_listen: vec![7],
        tcp_capacity: 1024,
        icmp_unreachable_rate: 100,
        gratuitous_arp: false,
        ..StackConfig::new(
            xstack::config::AddrSet::parse_all(&["198.18.0.2/24"]).unwrap(),
            [2, 0, 0, 0, 0, 2],
            Secrets::from_seed(1),
        )
    }
}
