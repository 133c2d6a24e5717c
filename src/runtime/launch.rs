//! Starting and stopping a run's workers, for `serve` and `load` alike: one thread per
//! queue, pinned (`--cores`), each opening its queue's device (wrapped for `--pcap`),
//! building its engine, and waiting at one start line until every worker has its socket
//! (a reply landing on a queue without one would be lost); then the worker loop, and at
//! the end the merge of every worker's driver, stack and loop statistics — one `merge`
//! per statistics type, so no field can be left out.
//!
//! What runs on a worker is the caller's: `build` makes its engine from the worker's
//! [`WorkerEnv`], and `finish` turns the engine into the caller's per-worker result once
//! the loop has returned (it is told when: an interrupted run measures up to then). The caller's thread meanwhile prints live lines from
//! [`Crew::counters`] or its own channels, until the workers finish or `stop` is set.

use super::steer::{Mesh, OwnerMap, Steer, SteerRule, MAX_OWNERS};
use super::{pin_to_core, run_worker, Clock, WorkerOptions, WorkerStats};
use crate::config::{AddrSet, DriverChoice, PollMode};
use crate::driver::open::{partial_checksum_advice, ClaimProto, Filter, OpenOptions, Reflect};
use crate::driver::{self, Device, DeviceInfo, DriverError, DriverStats, XdpMode, XdpVerdicts};
use crate::metrics::{DropReason, StackCounters, StackSnapshot};
use crate::stack::{Engine, Ownership, Secrets};
use crate::time::Instant;
use anyhow::{bail, Context};
use core::hash::BuildHasher;
use std::collections::hash_map::RandomState;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

/// Where and how a run's workers run.
#[derive(Clone, Debug)]
pub struct LaunchSpec {
    /// Names the threads (`xstack-serve0`, …).
    pub role: &'static str,
    pub iface: String,
    /// The addresses xstack owns on the interface.
    pub addrs: AddrSet,
    pub driver: DriverChoice,
    pub queues: u32,
    pub cores: Vec<usize>,
    pub shared_umem: bool,
    pub pcap: Option<PathBuf>,
    pub poll: PollMode,
    /// Which worker owns a frame that landed on another worker's queue.
    pub steer: SteerRule,
    /// TCP connections one worker holds at most (sizes the owner map of
    /// [`SteerRule::ByArrival`]).
    pub connections: usize,
    /// AF_XDP: attach the XDP program in this mode (None: native, else generic).
    pub xdp_mode: Option<XdpMode>,
    /// Shared-address mode: the address stays the kernel's, and xstack takes only these
    /// protocol/port pairs of it (empty: xstack owns the address).
    pub claims: Vec<(ClaimProto, u16)>,
    /// `serve --reflect-in-xdp`: the ports the XDP program answers itself (the MAC and
    /// the broadcast address are filled in here, from the interface and `addrs`).
    pub reflect: Option<Reflect>,
}

/// Why `serve --reflect-in-xdp` cannot run when `--driver auto` finds AF_XDP unusable
/// (`why`) and would fall back to AF_PACKET.
pub fn reflect_fallback_refusal(why: &str) -> String {
    format!(
        "--reflect-in-xdp answers in xstack's XDP program, and AF_XDP cannot be used here \
         ({why}), so serve would fall back to AF_PACKET, which has none: fix AF_XDP, or drop \
         --reflect-in-xdp to run on AF_PACKET"
    )
}

/// What a worker's engine is built from.
pub struct WorkerEnv<'a> {
    pub queue: u32,
    pub workers: u32,
    pub info: &'a DeviceInfo,
    /// The stack's counters of this worker (the live lines and the summary read them).
    pub counters: Arc<StackCounters>,
    /// The run's secrets (drawn from the OS once per run).
    pub secrets: Secrets,
    pub clock: Clock,
    /// What the worker's stack claims the connections peers open from, when the run's
    /// workers own them by arrival ([`SteerRule::ByArrival`]).
    pub ownership: Option<Arc<dyn Ownership>>,
}

/// What one worker hands back.
struct WorkerDone<R> {
    result: R,
    driver: DriverStats,
    worker: WorkerStats,
}

/// What a worker says when another one could not start (that one says why).
#[derive(Debug, thiserror::Error)]
#[error("another worker failed to start")]
struct OtherFailed;

/// The start line: every worker arrives with its device open, or says it failed.
struct StartLine {
    workers: usize,
    arrived: AtomicUsize,
    failed: AtomicBool,
}

impl StartLine {
    /// Says whether this worker is ready, then waits for the others; true when all are.
    fn arrive(&self, ready: bool, stop: &AtomicBool) -> bool {
        if !ready {
            self.failed.store(true, Relaxed);
            return false;
        }
        self.arrived.fetch_add(1, Relaxed);
        loop {
            if self.failed.load(Relaxed) || stop.load(Relaxed) {
                return false;
            }
            if self.arrived.load(Relaxed) == self.workers {
                return true;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// A run's workers, started and past the start line.
pub struct Crew<R> {
    handles: Vec<JoinHandle<anyhow::Result<WorkerDone<R>>>>,
    counters: Vec<Arc<StackCounters>>,
    /// The run's open options: its XDP program (kept attached until the join) and its
    /// notices.
    open: OpenOptions,
    iface: String,
    /// The sentences told to the user while the run went on (each once).
    advice: Vec<String>,
    /// The interface's index at the start, to notice it going away.
    ifindex: u32,
    /// Why the run stopped early because of the interface, once it did.
    link_lost: Option<String>,
    /// The driver the workers run on (`xdp`, `packet`).
    pub driver: String,
    pub clock: Clock,
    stop: Arc<AtomicBool>,
}

/// What a finished run's workers measured, merged, with each worker's own result.
pub struct Joined<R> {
    pub results: Vec<R>,
    pub driver: String,
    pub driver_stats: DriverStats,
    pub stack: StackSnapshot,
    pub workers: WorkerStats,
    /// The XDP program's per-verdict counters, on AF_XDP.
    pub xdp: Option<XdpVerdicts>,
    /// What the user was told to do while the run went on, one sentence each.
    pub advice: Vec<String>,
    /// Set when the run stopped because the interface was deleted or went down.
    pub link_lost: Option<String>,
}

/// Secrets for one run, from the OS's randomness (through std's `RandomState`, which
/// the OS seeds).
///
/// The ISN secret is the exception: a hash of this boot's ID (the kernel's
/// `random/boot_id`), so it is the same for every run until the next boot, and the
/// ISN clock starts at the time since boot (`/proc/uptime`). A run's ISNs for a 4-tuple
/// then lie above the ISNs an earlier run used for it, so a server that still holds that
/// 4-tuple in TIME_WAIT takes the new SYN at once (RFC 6191) instead of answering with a
/// challenge ACK. Where either file is missing, both are drawn at random.
pub fn os_secrets() -> Secrets {
    let mut s = Secrets::from_seed(RandomState::new().hash_one(std::process::id()));
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id");
    let uptime = std::fs::read_to_string("/proc/uptime").ok().and_then(|u| {
        let secs: f64 = u.split_whitespace().next()?.parse().ok()?;
        Some((secs * 1e9) as u64)
    });
    if let (Ok(boot), Some(up)) = (boot, uptime) {
        s.isn = Secrets::from_seed(fnv1a(boot.trim().as_bytes())).isn;
        s.isn_epoch_ns = up;
    }
    s
}

/// FNV-1a over `bytes`: a fixed hash (the same in every process) to spread the boot ID.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Starts `spec.queues` workers, each running the engine `build` makes, and returns once
/// all of them are past the start line (or the first error, after stopping the others).
pub fn launch<E, R, B, F>(
    spec: &LaunchSpec,
    stop: Arc<AtomicBool>,
    build: B,
    finish: F,
) -> anyhow::Result<Crew<R>>
where
    E: Engine,
    R: Send + 'static,
    B: Fn(&WorkerEnv) -> anyhow::Result<E> + Send + Sync + 'static,
    F: Fn(E, Instant) -> R + Send + Sync + 'static,
{
    let info = driver::iface::lookup(&spec.iface)?;
    let shared = !spec.claims.is_empty();
    // What the user says to share an address: serve claims ports, load its source ports.
    let (flag, share_how) = match spec.role {
        "load" => ("--shared", "--shared"),
        _ => ("--claim", "--claim PROTO:PORT,..."),
    };
    if shared && spec.driver == DriverChoice::Packet {
        bail!(
            "{flag} shares an address with the kernel by steering xstack's ports in \
             xstack's XDP program: it needs --driver xdp (AF_PACKET sees, and the kernel \
             answers, every frame)"
        );
    }
    if shared && !spec.addrs.ips6().is_empty() {
        bail!(
            "{flag} shares IPv4 addresses only: give xstack an IPv6 address of its own, \
             in a run of its own"
        );
    }
    let missing = spec.addrs.ips().iter().find(|ip| !info.ipv4.contains(ip));
    if let (true, Some(ip)) = (shared, missing) {
        bail!(
            "{flag} shares {ip} with the kernel, but it is not configured on {}: add it \
             (ip addr add {ip}/{} dev {}), or drop {flag} to let xstack own it",
            spec.iface,
            spec.addrs.prefix(),
            spec.iface
        );
    }
    let taken = spec.addrs.ips().iter().find(|ip| info.ipv4.contains(ip));
    if let (false, Some(ip)) = (shared, taken) {
        bail!(
            "{ip} is configured on the kernel's interface {}: the kernel would answer for it \
             too. Remove it (ip addr del {ip}/{} dev {}) and let xstack own it, or share it \
             with {share_how}",
            spec.iface,
            spec.addrs.prefix(),
            spec.iface
        );
    }
    let n = spec.queues.max(1);
    if spec.driver != DriverChoice::Packet && n > info.rx_queues {
        bail!(
            "--queues {n}: {} has {} receive queue{}, and AF_XDP binds one socket per queue",
            spec.iface,
            info.rx_queues,
            if info.rx_queues == 1 { "" } else { "s" }
        );
    }
    let clock = Clock::new();
    let secrets = os_secrets();
    // One fanout group (AF_PACKET) or UMEM (AF_XDP, --umem shared) for all the workers;
    // without a fanout group every AF_PACKET socket would see, and answer, every frame.
    if spec.reflect.is_some() && spec.driver == DriverChoice::Packet {
        bail!(
            "--reflect-in-xdp answers in xstack's XDP program, and --driver packet has none: \
             use --driver xdp (or auto), or drop --reflect-in-xdp"
        );
    }
    let reflect = spec.reflect.clone().map(|r| Reflect {
        mac: info.mac,
        broadcast: spec
            .addrs
            .primary()
            .filter(|p| p.prefix < 31)
            .map(|p| p.broadcast()),
        ..r
    });
    let filter = if shared {
        Filter {
            shared_v4: spec.addrs.ips().to_vec(),
            claims: spec.claims.clone(),
            reflect,
            ..Filter::default()
        }
    } else {
        Filter {
            owned_v4: spec.addrs.ips().to_vec(),
            owned_v6: spec.addrs.ips6().to_vec(),
            reflect,
            ..Filter::default()
        }
    };
    let open = OpenOptions::for_run(
        spec.driver,
        &spec.iface,
        n,
        spec.shared_umem,
        spec.xdp_mode,
        &filter,
    )?;
    if let (true, Some(why)) = (shared, open.xdp_unavailable()) {
        bail!("{flag} needs xstack's XDP program, and AF_XDP cannot be used here: {why}");
    }
    if let (true, Some(why)) = (spec.reflect.is_some(), open.xdp_unavailable()) {
        bail!("{}", reflect_fallback_refusal(why));
    }
    let kept = open.clone();
    let mesh = match n {
        1 => None,
        n if spec.steer == SteerRule::ByArrival && n as usize <= MAX_OWNERS => {
            // Every worker's connections, in one map, keyed per run.
            let seed = RandomState::new().hash_one(("owners", std::process::id()));
            let map = OwnerMap::new(
                n as usize,
                spec.connections.saturating_mul(n as usize),
                seed,
            );
            Some(Mesh::with_owners(n as usize, map).context("cannot make the workers' queues")?)
        }
        n => Some(Mesh::new(n as usize).context("cannot make the workers' queues")?),
    };
    let shared = Arc::new(Shared {
        spec: spec.clone(),
        link_at_start: info.index,
        open,
        clock,
        secrets,
        stop: stop.clone(),
        start: StartLine {
            workers: n as usize,
            arrived: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
        },
        build,
        finish,
    });
    let (ready_tx, ready_rx) = mpsc::channel::<Result<String, ()>>();
    let mut handles = Vec::new();
    let mut counters = Vec::new();
    for queue in 0..n {
        let c = Arc::new(StackCounters::default());
        counters.push(c.clone());
        let steer = mesh
            .clone()
            .map(|m| Steer::new(m, queue as usize, spec.steer, c.clone()));
        let shared = shared.clone();
        let ready = ready_tx.clone();
        let handle = std::thread::Builder::new()
            .name(format!("xstack-{}{queue}", spec.role))
            .spawn(move || shared.worker(queue, n, c, steer, ready))
            .context("cannot start a worker thread")?;
        handles.push(handle);
    }
    drop(ready_tx);
    let mut driver = String::new();
    let mut all_ready = true;
    for _ in 0..n {
        match ready_rx.recv() {
            Ok(Ok(kind)) => driver = kind,
            _ => all_ready = false,
        }
    }
    let crew = Crew {
        handles,
        counters,
        open: kept,
        iface: spec.iface.clone(),
        advice: Vec::new(),
        ifindex: info.index,
        link_lost: None,
        driver,
        clock,
        stop,
    };
    if !all_ready {
        // The failing worker's error says why.
        crew.stop.store(true, Relaxed);
        return Err(crew
            .join()
            .err()
            .unwrap_or_else(|| anyhow::anyhow!("a worker stopped before it was ready")));
    }
    Ok(crew)
}

/// What every worker of a run shares.
struct Shared<B, F> {
    spec: LaunchSpec,
    /// The interface's index at the start.
    link_at_start: u32,
    open: driver::open::OpenOptions,
    clock: Clock,
    secrets: Secrets,
    stop: Arc<AtomicBool>,
    start: StartLine,
    build: B,
    finish: F,
}

impl<B, F> Shared<B, F> {
    /// The interface's index now, if it is there and up.
    fn link_index(&self) -> Option<u32> {
        let i = driver::iface::index(&self.spec.iface).ok()?;
        driver::iface::link_lost(&self.spec.iface, i)
            .is_none()
            .then_some(i)
    }

    /// Pins the thread and opens queue `queue`'s device, wrapped for `--pcap`.
    fn open(&self, queue: u32) -> anyhow::Result<Box<dyn Device>> {
        let spec = &self.spec;
        if !spec.cores.is_empty() {
            let core = spec.cores[queue as usize % spec.cores.len()];
            pin_to_core(core).map_err(|e| anyhow::anyhow!("--cores: {e}"))?;
        }
        let dev = driver::open::open_with(spec.driver, &spec.iface, queue, &self.open)?;
        let Some(path) = &spec.pcap else {
            return Ok(dev);
        };
        let path = if spec.queues > 1 {
            path.with_extension(format!("q{queue}.pcap"))
        } else {
            path.clone()
        };
        let dev = driver::pcap::PcapDevice::create(dev, &path).map_err(|e| {
            DriverError::Unsupported(format!("cannot write pcap file {}: {e}", path.display()))
        })?;
        Ok(Box::new(dev))
    }

    /// One worker: opens its queue, builds its engine, waits at the start line, runs.
    fn worker<E, R>(
        &self,
        queue: u32,
        workers: u32,
        counters: Arc<StackCounters>,
        steer: Option<Steer>,
        ready: mpsc::Sender<Result<String, ()>>,
    ) -> anyhow::Result<WorkerDone<R>>
    where
        E: Engine,
        B: Fn(&WorkerEnv) -> anyhow::Result<E>,
        F: Fn(E, Instant) -> R,
    {
        let opened = self.open(queue).and_then(|dev| {
            let env = WorkerEnv {
                queue,
                workers,
                info: dev.info(),
                counters,
                secrets: self.secrets,
                clock: self.clock,
                ownership: steer.as_ref().and_then(Steer::ownership),
            };
            let engine = (self.build)(&env)?;
            Ok((dev, engine))
        });
        if !self.start.arrive(opened.is_ok(), &self.stop) {
            let _ = ready.send(Err(()));
            return Err(opened.err().unwrap_or_else(|| OtherFailed.into()));
        }
        let (mut dev, mut engine) = opened?;
        let _ = ready.send(Ok(dev.info().kind.to_string()));
        let opts = WorkerOptions {
            poll: self.spec.poll,
            ..WorkerOptions::default()
        };
        let worker = match run_worker(
            &mut *dev,
            &mut engine,
            &self.clock,
            &self.stop,
            &opts,
            steer.as_ref(),
        ) {
            Ok(w) => w,
            // The interface went away under the socket (AF_PACKET says ENETDOWN or
            // ENXIO): a stop, which the main thread reports, not a worker's failure.
            Err(_) if self.link_index() != Some(self.link_at_start) => {
                self.stop.store(true, Relaxed);
                WorkerStats::new()
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "worker for {} queue {queue} failed",
                    self.spec.iface
                )))
            }
        };
        Ok(WorkerDone {
            result: (self.finish)(engine, self.clock.now()),
            driver: dev.stats(),
            worker,
        })
    }
}

impl<R> Crew<R> {
    /// Every worker's stack counters, to read while they run.
    pub fn counters(&self) -> &[Arc<StackCounters>] {
        &self.counters
    }

    /// The workers' counters, merged.
    pub fn snapshot(&self) -> StackSnapshot {
        let mut total = StackSnapshot::default();
        for c in &self.counters {
            total.merge(&c.snapshot());
        }
        total
    }

    /// Tells the user, once each, what to do about trouble the run has met so far (one
    /// sentence on stderr, kept for the summary). Cheap: call it from the live loop.
    pub fn advise(&mut self) {
        let partial = self.open.notices.partial_checksums() > 0;
        let oversize = self.open.xdp_verdicts().is_some_and(|v| v.oversize > 0);
        let mut say = |s: String| {
            if !self.advice.contains(&s) {
                driver::log::notice(&s);
                self.advice.push(s);
            }
        };
        if partial {
            say(partial_checksum_advice(&self.iface));
        }
        if oversize {
            say(format!(
                "frames on {} are larger than an AF_XDP frame: the sending peer's TSO/GSO \
                 hands over super-frames, which AF_XDP drops (oversize). Turn them off on \
                 the peer (`ethtool -K <peer> tso off gso off`), or use --driver packet, \
                 which takes them",
                self.iface
            ));
        }
    }

    /// Frames the drivers dropped so far as partial checksums (AF_XDP), before the stack
    /// saw them: the live line adds them to the stack's drops.
    pub fn partial_checksums(&self) -> u64 {
        self.open.notices.partial_checksums()
    }

    /// Checks that the interface is still there and up (a few system calls: call it from
    /// the live loop). When it is not, says so in one sentence, stops the workers, and
    /// returns true; the run's summary follows, and the binary exits non-zero.
    pub fn check_link(&mut self) -> bool {
        if self.link_lost.is_some() {
            return true;
        }
        let Some(why) = driver::iface::link_lost(&self.iface, self.ifindex) else {
            return false;
        };
        driver::log::notice(&format!("{why}: stopping"));
        self.link_lost = Some(why);
        self.stop.store(true, Relaxed);
        true
    }

    /// Whether every worker has returned.
    pub fn finished(&self) -> bool {
        self.handles.iter().all(JoinHandle::is_finished)
    }

    /// Waits for every worker and merges what they measured. A worker that failed stops
    /// the others; its error is the one returned.
    pub fn join(mut self) -> anyhow::Result<Joined<R>> {
        let mut joined = Joined {
            results: Vec::with_capacity(self.handles.len()),
            driver: std::mem::take(&mut self.driver),
            driver_stats: DriverStats::default(),
            stack: StackSnapshot::default(),
            workers: WorkerStats::new(),
            xdp: None,
            advice: Vec::new(),
            link_lost: None,
        };
        let mut failure: Option<anyhow::Error> = None;
        for h in std::mem::take(&mut self.handles) {
            match h.join() {
                Ok(Ok(done)) => {
                    joined.driver_stats.merge(&done.driver);
                    joined.workers.merge(&done.worker);
                    joined.results.push(done.result);
                }
                Ok(Err(e)) => {
                    self.stop.store(true, Relaxed);
                    // The worker that failed says why; the others only that one did.
                    if failure.as_ref().map_or(true, |f| f.is::<OtherFailed>()) {
                        failure = Some(e);
                    }
                }
                Err(_) => {
                    self.stop.store(true, Relaxed);
                    failure.get_or_insert(anyhow::anyhow!("a worker thread panicked"));
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => {
                // Counted after the workers stopped, so the last frames are in.
                for c in &self.counters {
                    joined.stack.merge(&c.snapshot());
                }
                // The program counts until it is detached, when `self.open` goes.
                self.advise();
                joined.xdp = self.open.xdp_verdicts();
                joined.advice = std::mem::take(&mut self.advice);
                joined.link_lost = self.link_lost.take();
                // Frames the driver or the XDP program dropped before the stack saw them
                // count under their reasons too.
                let d = &joined.driver_stats;
                joined.stack.drops[DropReason::PartialChecksum as usize] += d.rx_partial_checksum;
                joined.stack.drops[DropReason::Oversize as usize] +=
                    d.rx_oversize + joined.xdp.map_or(0, |v| v.oversize);
                Ok(joined)
            }
        }
    }
}

#[cfg(test)]
mod isn_tests {
    use super::os_secrets;

    #[test]
    fn the_isn_secret_lasts_the_boot_and_its_clock_runs_from_boot() {
        let (a, b) = (os_secrets(), os_secrets());
        if std::path::Path::new("/proc/sys/kernel/random/boot_id").exists() {
            assert_eq!(a.isn, b.isn, "one secret per boot");
            assert!(b.isn_epoch_ns >= a.isn_epoch_ns && a.isn_epoch_ns > 0);
        }
        assert_ne!(
            a.table_seed, b.table_seed,
            "the other keys are drawn per run"
        );
    }
}

#[cfg(test)]
mod reflect_tests {
    #[test]
    fn the_fallback_refusal_says_why_and_what_to_do() {
        let s = super::reflect_fallback_refusal("AF_XDP bind on xsb0 failed: no such device");
        assert!(
            s.starts_with("--reflect-in-xdp answers in xstack's XDP program"),
            "{s}"
        );
        assert!(
            s.contains("(AF_XDP bind on xsb0 failed: no such device)"),
            "{s}"
        );
        assert!(s.contains("fall back to AF_PACKET"), "{s}");
        assert!(s.contains("drop --reflect-in-xdp"), "{s}");
    }
}
