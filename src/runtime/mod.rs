//! runtime/: the per-core worker loop. A worker owns one device (one queue) and one
//! engine (the stack plus its applications), and repeats: receive a batch, let the engine
//! answer each frame, run due timers, flush the transmit queue with one kick. Between
//! batches it spins or sleeps according to the [`PollMode`](crate::config::PollMode).
//!
//! This module holds the one place that reads the OS clock ([`Clock`]).

pub mod host;
pub mod launch;
pub mod steer;

use crate::config::PollMode;
use crate::driver::{Device, DriverError, Verdict};
use crate::metrics::hist::{latency_histogram, record};
use crate::stack::Engine;
use crate::time::Instant;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;
use steer::{Route, Steer};

/// The monotonic clock, as nanoseconds since the clock was made.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    #[inline]
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.origin.elapsed().as_nanos() as u64)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// Tuning of the worker loop.
#[derive(Clone, Copy, Debug)]
pub struct WorkerOptions {
    pub poll: PollMode,
    /// Frames per receive batch.
    pub batch: usize,
    /// In adaptive mode, how long to keep spinning after the last frame before sleeping.
    pub spin: Duration,
    /// Longest sleep, so that a stop request is noticed promptly.
    pub max_sleep: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            poll: PollMode::Adaptive,
            batch: 64,
            spin: Duration::from_micros(200),
            max_sleep: Duration::from_millis(20),
        }
    }
}

/// What one worker measured about itself.
#[derive(Clone, Debug)]
pub struct WorkerStats {
    /// Time from the start of a batch that received frames until its replies are
    /// queued: the receive ring, parsing, the state machines, building frames. In ns.
    /// Sampled: one busy batch in [`SPLIT_EVERY`] (the split costs a clock read).
    pub batch_ns: Histogram<u64>,
    /// Time of that batch's TX flush (the kick), in ns. On veth the kick runs the peer's
    /// receive path in the same system call, so it is counted apart. Sampled as above.
    pub flush_ns: Histogram<u64>,
    /// Batches that received frames.
    pub batches: u64,
    /// Frames received in those batches.
    pub frames: u64,
    /// The worker's own busy-time counter: the time of the batches that received
    /// frames, from the receive to the end of the kick, in ns. A busy-polling worker's
    /// CPU is always near 100 %; this is the part of it that did work.
    pub busy_ns: u64,
    /// How long the worker's loop ran, in ns.
    pub run_ns: u64,
}

impl WorkerStats {
    pub fn new() -> Self {
        WorkerStats {
            batch_ns: latency_histogram(),
            flush_ns: latency_histogram(),
            batches: 0,
            frames: 0,
            busy_ns: 0,
            run_ns: 0,
        }
    }

    pub fn merge(&mut self, other: &WorkerStats) {
        // Cannot fail: both histograms have the project's bounds.
        let _ = self.batch_ns.add(&other.batch_ns);
        let _ = self.flush_ns.add(&other.flush_ns);
        self.batches += other.batches;
        self.frames += other.frames;
        self.busy_ns += other.busy_ns;
        self.run_ns += other.run_ns;
    }
}

impl Default for WorkerStats {
    fn default() -> Self {
        Self::new()
    }
}

/// Pins the calling thread to `core`; says why if it cannot.
pub fn pin_to_core(core: usize) -> Result<(), String> {
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    match ids.into_iter().find(|c| c.id == core) {
        Some(id) if core_affinity::set_for_current(id) => Ok(()),
        Some(_) => Err(format!("cannot pin a worker to core {core}")),
        None => Err(format!(
            "there is no core {core} on this machine (it has {})",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        )),
    }
}

/// One busy batch in this many has its time split between the stack and the TX kick
/// ([`WorkerStats::batch_ns`], [`WorkerStats::flush_ns`]); the others read the clock
/// once.
pub const SPLIT_EVERY: u64 = 16;

/// How long a stopping worker keeps kicking out the frames still on its TX ring.
pub const DRAIN_TX_FOR: Duration = Duration::from_millis(200);

/// Flushes until the device has sent everything queued (AF_XDP in copy mode sends 32
/// frames a kick), for at most [`DRAIN_TX_FOR`]. Measured: a load run that closed
/// 100 000 connections lost about 400 of its last frames — the final ACKs, so the
/// server's side stayed in LAST_ACK — with the socket at exit.
fn drain_tx<D: Device + ?Sized>(dev: &mut D, clock: &Clock) -> Result<(), DriverError> {
    let until = clock.now() + DRAIN_TX_FOR;
    while dev.tx_unsent() && clock.now() < until {
        dev.flush()?;
        std::thread::yield_now();
    }
    Ok(())
}

/// Runs `engine` on `dev` until `stop` is set. Returns the driver's error if the device
/// fails; a malformed frame never ends the loop (the engine counts and drops it).
///
/// With `steer`, frames whose flow another worker owns are handed to it, and the frames
/// handed to this worker are handled after each receive batch, in the same batch.
pub fn run_worker<D: Device + ?Sized, E: Engine>(
    dev: &mut D,
    engine: &mut E,
    clock: &Clock,
    stop: &AtomicBool,
    opts: &WorkerOptions,
    steer: Option<&Steer>,
) -> Result<WorkerStats, DriverError> {
    let mut stats = WorkerStats::new();
    let started = clock.now();
    let mut last_busy = started;
    let stats_done = |stats: &mut WorkerStats, now: Instant| {
        stats.run_ns = now.saturating_since(started).as_nanos() as u64;
    };
    // One clock read a loop: the time a busy batch ends (after its kick) is the time the
    // next one starts with. A read costs about 45 ns on this project's VMs, and a round
    // trip crosses two loops. The frames of a batch and the timers it serves all take
    // that one `now`.
    let mut now = started;
    loop {
        let mut n = dev.receive(opts.batch, &mut |frame, tx| {
            if let Some(s) = steer {
                match s.route(frame) {
                    Route::Here => {}
                    Route::To(k) => {
                        s.hand_off(k, frame);
                        return Verdict::Drop;
                    }
                    Route::Everyone => s.hand_to_others(frame),
                }
            }
            engine.on_frame(now, frame, tx)
        })?;
        if let Some(s) = steer {
            let tx = dev.transmitter();
            n += s.drain(opts.batch, &mut |frame| {
                if let Verdict::Reflect(len) = engine.on_frame(now, frame, tx) {
                    // The frame is not in driver memory: copy the reply out.
                    tx.send_with(&mut |buf| match buf.get_mut(..len) {
                        Some(out) => {
                            out.copy_from_slice(&frame[..len]);
                            len
                        }
                        None => 0,
                    });
                }
            });
        }
        // The engine's housekeeping (timers, the application's schedule, ARP) runs when
        // frames came in or when it says something is due; an idle loop is then the
        // receive ring, the flush and the clock. A load generator's `poll` was a fifth of
        // its idle loop, which delayed noticing a reply by as much.
        if n > 0 || engine.poll_at().is_some_and(|t| t <= now) {
            engine.poll(now, dev.transmitter());
        }
        let began = now;
        if n > 0 {
            let split = stats.batches % SPLIT_EVERY == 0;
            let queued = if split { Some(clock.now()) } else { None };
            dev.flush()?;
            now = clock.now();
            if let Some(queued) = queued {
                record(
                    &mut stats.batch_ns,
                    queued.saturating_since(began).as_nanos() as u64,
                );
                record(
                    &mut stats.flush_ns,
                    now.saturating_since(queued).as_nanos() as u64,
                );
            }
            stats.batches += 1;
            stats.frames += n as u64;
            stats.busy_ns += now.saturating_since(began).as_nanos() as u64;
        } else {
            dev.flush()?;
            now = clock.now();
        }
        if stop.load(Relaxed) {
            drain_tx(dev, clock)?;
            stats_done(&mut stats, clock.now());
            return Ok(stats);
        }
        // A worker with steering keeps forwarding until every worker is done.
        if engine.finished() && steer.map_or(true, Steer::finish) {
            drain_tx(dev, clock)?;
            stats_done(&mut stats, clock.now());
            return Ok(stats);
        }
        if n > 0 {
            last_busy = began;
            continue;
        }
        match opts.poll {
            PollMode::Busy => std::hint::spin_loop(),
            PollMode::Adaptive => {
                if now.saturating_since(last_busy) < opts.spin {
                    // sched_yield, not a spin hint: with more workers than cores (two
                    // xstack instances on a 2-core host) a pure spin holds the core for a
                    // whole time slice. Measured on bench/queues.sh with two workers a
                    // side: 41k req/s spinning, 576k yielding; one worker alone on its
                    // core pays about 0.6 us of p50 for it (use --poll busy there).
                    std::thread::yield_now();
                    continue;
                }
                let until_timer = engine
                    .poll_at()
                    .map_or(opts.max_sleep, |t| t.saturating_since(now));
                let sleep = until_timer.min(opts.max_sleep);
                if !sleep.is_zero() {
                    match steer {
                        Some(s) => s.sleep(dev, sleep)?,
                        None => dev.wait(sleep, None)?,
                    }
                    now = clock.now();
                }
            }
        }
    }
}
