//! proto/tcp/bbr: a model-based congestion window, after BBR (the `draft-cardwell-iccrg-bbr-
//! congestion-control` design that Linux's `tcp_bbr` implements). It estimates the path's
//! bottleneck bandwidth (the highest delivery rate of the last ten round trips) and its
//! round-trip propagation time (the lowest RTT of the last ten seconds), and keeps
//! twice their product in flight. Random loss is not taken for congestion: the window
//! follows the measured rate, not the losses, which is what a lossy path needs (a Reno
//! sender under 10 % random loss holds a few segments and waits out timeout after
//! timeout).
//!
//! What it leaves out: pacing (a polling stack sends a window at once; the gain of 2 on
//! the window is BBR's own allowance for that), the PROBE_RTT phase (min RTT is taken
//! over ten seconds, and renewed when it expires), and BBRv2's response to persistent
//! high loss. Loss recovery itself (which segment to resend, and when) stays RFC 6675 /
//! RACK-TLP with SACK and RFC 6582 without, driven by the inner [`NewReno`], whose own
//! window is not used.
//!
//! Invariants: the window is never below [`MIN_WINDOW`] segments but after a timeout
//! (one segment then, growing back by what each ACK delivers); the model applies once
//! a bandwidth sample and an RTT sample exist.

use super::congestion::{CongestionControl, Flight, NewReno, Reaction, INITIAL_WINDOW};
use super::seq::SeqNumber;
use crate::time::Instant;
use core::time::Duration;

/// Round trips the bandwidth maximum is taken over.
const BW_ROUNDS: usize = 10;
/// How long an RTT sample stays the minimum.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
/// The window is this many times the estimated bandwidth-delay product.
const CWND_GAIN_PCT: u64 = 200;
/// One round in eight probes for more bandwidth with a larger window.
const PROBE_GAIN_PCT: u64 = 250;
const PROBE_EVERY: u64 = 8;
/// Startup ends when three rounds in a row do not raise the bandwidth by a quarter.
const STARTUP_GROWTH_PCT: u64 = 125;
const STARTUP_STALLS: u8 = 3;
/// The smallest window the model sets, in segments.
pub const MIN_WINDOW: usize = 4;

#[derive(Clone, Debug)]
pub struct Bbr {
    /// Duplicate-ACK counting, recovery points and what to resend.
    recovery: NewReno,
    smss: u16,
    cwnd: usize,
    /// Startup is over: the bandwidth stopped growing.
    filled: bool,
    full_bw: u64,
    stalls: u8,
    /// After a timeout: the window grows back from one segment to the model's.
    restoring: bool,
    /// Delivery rate (bytes/s) of each of the last rounds, by round number modulo.
    bw: [u64; BW_ROUNDS],
    min_rtt: Option<(Duration, Instant)>,
    round: u64,
    /// The round ends when SND.UNA passes this (what had been sent when it began);
    /// none before the first ACK.
    round_end: Option<SeqNumber>,
    round_start: Instant,
    /// The delivered-bytes counter when the round began.
    round_delivered: u32,
}

impl Bbr {
    pub fn new(smss: u16) -> Self {
        Bbr {
            recovery: NewReno::new(smss),
            smss,
            cwnd: INITIAL_WINDOW * usize::from(smss),
            filled: false,
            full_bw: 0,
            stalls: 0,
            restoring: false,
            bw: [0; BW_ROUNDS],
            min_rtt: None,
            round: 0,
            round_end: None,
            round_start: Instant::ZERO,
            round_delivered: 0,
        }
    }

    fn smss(&self) -> usize {
        usize::from(self.smss)
    }

    /// The highest delivery rate of the last rounds, bytes per second.
    pub fn bandwidth(&self) -> u64 {
        self.bw.iter().copied().max().unwrap_or(0)
    }

    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt.map(|(d, _)| d)
    }

    /// The model's window: gain × bandwidth × min RTT, at least [`MIN_WINDOW`]
    /// segments; `None` until both are measured.
    fn model_window(&self) -> Option<usize> {
        let bw = self.bandwidth();
        let rtt = self.min_rtt()?;
        if bw == 0 {
            return None;
        }
        let gain = if self.round % PROBE_EVERY == 0 {
            PROBE_GAIN_PCT
        } else {
            CWND_GAIN_PCT
        };
        let bdp = u128::from(bw) * rtt.as_nanos() / 1_000_000_000;
        let w = (bdp * u128::from(gain) / 100).min(usize::MAX as u128) as usize;
        Some(w.max(MIN_WINDOW * self.smss()))
    }

    /// A round ended at `now` having delivered `bytes` since it began.
    fn end_round(&mut self, now: Instant, bytes: u32) {
        let elapsed = now.saturating_since(self.round_start).as_nanos();
        let rate = match elapsed {
            0 => 0,
            ns => u128::from(bytes) * 1_000_000_000 / ns,
        };
        self.round += 1;
        self.bw[(self.round % BW_ROUNDS as u64) as usize] = rate.min(u128::from(u64::MAX)) as u64;
        if !self.filled {
            let bw = self.bandwidth();
            if bw * 100 >= self.full_bw * STARTUP_GROWTH_PCT {
                self.full_bw = bw;
                self.stalls = 0;
            } else {
                self.stalls += 1;
                self.filled = self.stalls >= STARTUP_STALLS;
            }
        }
    }
}

impl CongestionControl for Bbr {
    fn set_mss(&mut self, smss: u16) {
        self.smss = smss;
        self.recovery.set_mss(smss);
        self.cwnd = INITIAL_WINDOW * self.smss();
    }

    fn on_delivered(
        &mut self,
        now: Instant,
        delivered: u32,
        flight: Flight,
        rtt: Option<Duration>,
    ) {
        if let Some(r) = rtt.filter(|r| !r.is_zero()) {
            let expired = self
                .min_rtt
                .is_some_and(|(_, at)| now.saturating_since(at) > MIN_RTT_WINDOW);
            if self.min_rtt.map_or(true, |(m, _)| r <= m) || expired {
                self.min_rtt = Some((r, now));
            }
        }
        let ended = self.round_end.map(|end| flight.snd_una >= end);
        if ended != Some(false) {
            if ended == Some(true) {
                let bytes = delivered.wrapping_sub(self.round_delivered);
                self.end_round(now, bytes);
            }
            self.round_start = now;
            self.round_delivered = delivered;
            self.round_end = Some(flight.snd_max);
        }
    }

    fn on_ack(&mut self, acked: usize, flight: Flight) -> Reaction {
        let r = self.recovery.on_ack(acked, flight);
        match self.model_window() {
            Some(model) if self.filled && !self.restoring => self.cwnd = model,
            Some(model) if self.restoring => {
                self.cwnd = (self.cwnd + acked).min(model.max(self.cwnd));
                self.restoring = self.cwnd < model;
            }
            // Startup: as slow start, a segment's worth more per segment delivered,
            // the window doubling each round trip.
            _ => self.cwnd += acked,
        }
        r
    }

    fn on_dup_ack(&mut self, flight: Flight) -> Reaction {
        self.recovery.on_dup_ack(flight)
    }

    /// RFC 5681 §3.1's loss window (as BBR does on a timeout), then back to the model's
    /// window as fast as ACKs come.
    fn on_timeout(&mut self, flight: Flight) {
        self.recovery.on_timeout(flight);
        self.cwnd = self.smss();
        self.restoring = true;
    }

    fn on_sack_loss(&mut self, flight: Flight) {
        self.recovery.on_sack_loss(flight);
    }

    fn window(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        usize::MAX
    }

    fn recovery_point(&self) -> Option<SeqNumber> {
        self.recovery.recovery_point()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn flight(una: u32, max: u32) -> Flight {
        Flight {
            snd_una: SeqNumber(una),
            snd_max: SeqNumber(max),
        }
    }

    /// Drives `rounds` round trips of `rtt_us`, each delivering `per_round` bytes in
    /// ACKs of one segment, all of it sent as the round begins.
    fn run(cc: &mut Bbr, rounds: u32, per_round: u32, rtt_us: u64, t0: &mut u64, una: &mut u32) {
        for _ in 0..rounds {
            let max = *una + per_round;
            let acks = per_round / MSS as u32;
            for i in 1..=acks {
                *una += MSS as u32;
                let now = Instant::from_micros(*t0 + rtt_us * u64::from(i) / u64::from(acks));
                cc.on_delivered(
                    now,
                    *una,
                    flight(*una, max),
                    Some(Duration::from_micros(rtt_us)),
                );
                let _ = cc.on_ack(MSS, flight(*una, max));
            }
            *t0 += rtt_us;
        }
    }

    /// Past startup: twelve rounds of 10 kB in 1 ms (10 MB/s). Returns the controller,
    /// the time and SND.UNA reached.
    fn settled() -> (Bbr, u64, u32) {
        let mut cc = Bbr::new(MSS as u16);
        let (mut t, mut una) = (1_000u64, 0u32);
        run(&mut cc, 12, 10_000, 1_000, &mut t, &mut una);
        (cc, t, una)
    }

    // Startup grows the window as slow start does, one segment per segment delivered.
    #[test]
    fn startup_doubles_the_window_each_round() {
        let mut cc = Bbr::new(MSS as u16);
        assert_eq!(cc.window(), 10 * MSS);
        for i in 0..5 {
            let _ = cc.on_ack(MSS, flight(i * 1000, 20_000));
        }
        assert_eq!(cc.window(), 15 * MSS);
    }

    // Once the bandwidth stops growing, the window is twice bandwidth × min RTT: 10 MB/s
    // over 1 ms is 10 kB, so 20 segments (one round in eight probes with 2.5×).
    #[test]
    fn the_window_settles_at_twice_the_bandwidth_delay_product() {
        let (cc, _, _) = settled();
        assert!(cc.filled, "startup ends when the rate stops growing");
        let bw = cc.bandwidth();
        assert!((9_000_000..=11_000_000).contains(&bw), "bandwidth {bw}");
        assert_eq!(cc.min_rtt(), Some(Duration::from_micros(1_000)));
        let w = cc.window();
        assert!(
            (18 * MSS..=26 * MSS).contains(&w),
            "window {w} is not about 2 × 10 kB"
        );
    }

    // Random loss is not congestion: a SACK loss, or a fast retransmit, leaves the window
    // where the model put it (NewReno would halve it).
    #[test]
    fn loss_does_not_shrink_the_window() {
        let (mut cc, mut t, mut una) = settled();
        let before = cc.window();
        cc.on_sack_loss(flight(una, una + 20_000));
        assert!(cc.in_recovery());
        assert_eq!(cc.window(), before);
        run(&mut cc, 3, 10_000, 1_000, &mut t, &mut una);
        assert!(
            cc.window() >= before * 8 / 10,
            "{} after {before}",
            cc.window()
        );
        // Without SACK the third duplicate ACK still asks for a fast retransmit.
        let mut cc = Bbr::new(MSS as u16);
        let f = flight(0, 10_000);
        assert_eq!(cc.on_dup_ack(f), Reaction::Nothing);
        assert_eq!(cc.on_dup_ack(f), Reaction::Nothing);
        assert_eq!(cc.on_dup_ack(f), Reaction::FastRetransmit);
        assert_eq!(cc.window(), 10 * MSS);
    }

    // A timeout drops the window to one segment; ACKs bring it back to the model's, no
    // further.
    #[test]
    fn after_a_timeout_the_window_grows_back_to_the_model() {
        let (mut cc, mut t, mut una) = settled();
        let model = cc.model_window().unwrap();
        cc.on_timeout(flight(una, una + 10_000));
        assert_eq!(cc.window(), MSS);
        let _ = cc.on_ack(MSS, flight(una + 1000, una + 10_000));
        assert_eq!(cc.window(), 2 * MSS);
        run(&mut cc, 4, 10_000, 1_000, &mut t, &mut una);
        assert!(!cc.restoring);
        assert!(cc.window() <= model.max(cc.model_window().unwrap()));
    }

    // The bandwidth is the maximum of the last ten rounds: a slow round does not pull the
    // window down, ten of them do.
    #[test]
    fn the_bandwidth_is_the_best_of_the_last_ten_rounds() {
        let (mut cc, mut t, mut una) = settled();
        let fast = cc.bandwidth();
        run(&mut cc, 1, 2_000, 1_000, &mut t, &mut una);
        assert_eq!(cc.bandwidth(), fast);
        run(&mut cc, 11, 2_000, 1_000, &mut t, &mut una);
        assert!(cc.bandwidth() < fast / 3, "{} of {fast}", cc.bandwidth());
        assert!(cc.window() >= MIN_WINDOW * MSS);
    }
}
