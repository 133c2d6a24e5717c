//! What a load run leaves besides its report: the HdrHistogram interval log
//! (`--hdr-log`), the percentile plot (`--plot`), and the rule that decides which of the
//! workers' intervals were measured.
//!
//! The workers hand over an interval every `--interval` from the start of measuring, and
//! one more, partial, when they finish. Replies to requests sent before sending stopped
//! still count (they are in the report), but an interval that begins after sending
//! stopped — after `--duration`, or after `--requests` were all done — is not one the
//! run measured: its samples are folded into the last measured interval, so the log
//! holds exactly the measured intervals and its counts add up to the report's. The last
//! interval's length is cut to the measured span when the run ended inside it.
//!
//! Log tags: an open-loop run writes each interval twice, `Tag=corrected` (latency from
//! the intended send time) and `Tag=uncorrected` (from the actual send time); a
//! closed-loop run, where the two are the same, writes one untagged histogram.

use super::engine::Measured;
use crate::app::json;
use crate::config::{LoadConfig, Transport};
use crate::metrics::hlog::{HdrLogWriter, LogWriteError, CORRECTED, UNCORRECTED};
use crate::metrics::plot::{self, Curve, PlotFormat};
use anyhow::Context;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The run's configuration in one line, for the plot's title and the log's header:
/// `xstack load udp echo pingpong 198.18.0.2:7, 16 flows, 64 B`.
pub fn run_title(cfg: &LoadConfig) -> String {
    let (proto, unit) = match cfg.transport {
        Transport::Udp => ("udp", "flow"),
        Transport::Tcp => ("tcp", "connection"),
    };
    let plural = if cfg.connections == 1 { "" } else { "s" };
    let rate = cfg
        .rate
        .map(|r| format!(", open loop at {r} req/s"))
        .unwrap_or_default();
    format!(
        "xstack load {proto} {} {} {}, {} {unit}{plural}, {} B{rate}",
        format!("{:?}", cfg.app).to_lowercase(),
        format!("{:?}", cfg.mode).to_lowercase(),
        cfg.target,
        cfg.connections,
        cfg.size
    )
}

/// Where the intervals go, and which of them were measured.
pub struct Intervals<W: Write> {
    every: Duration,
    /// With `--duration`: the index of the last interval that begins before it ends.
    last: Option<u64>,
    /// With `--requests`: once this many are done, sending has stopped.
    limit: Option<u64>,
    done: u64,
    next: u64,
    /// The latest measured interval, written when the next measured one comes (or at the
    /// end), so that what comes after the end can be folded into it.
    held: Option<(u64, Measured)>,
    log: Option<Log<W>>,
    /// The measured intervals as the JSON report gives them, the same as the log's.
    series: Vec<json::Interval>,
}

/// The interval log: its header is written with the first interval, whose arrival
/// tells when measuring began.
struct Log<W: Write> {
    state: LogState<W>,
    comment: String,
    open_loop: bool,
    created: SystemTime,
}

enum LogState<W: Write> {
    Waiting(W),
    Writing(HdrLogWriter<W>),
    /// Only while changing from one to the other.
    Gone,
}

impl Intervals<BufWriter<File>> {
    /// The intervals of a run of `cfg`, written to `--hdr-log` if it is given (the file is
    /// created now, so that a bad path fails before the run).
    pub fn for_run(cfg: &LoadConfig) -> anyhow::Result<Self> {
        let log = match &cfg.hdr_log {
            Some(p) => Some(BufWriter::new(
                File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
            )),
            None => None,
        };
        Ok(Intervals::new(
            cfg.interval,
            cfg.duration,
            cfg.requests,
            log.map(|w| {
                let title = format!(
                    "{}\n{}{}",
                    run_title(cfg),
                    crate::metrics::hlog::INSTANCE_COMMENT,
                    cfg.instance
                );
                (w, title, cfg.rate.is_some())
            }),
        ))
    }
}

impl<W: Write> Intervals<W> {
    /// Intervals of length `every`, for a run bounded by `duration` and/or `requests`,
    /// logged to `log` (the writer, the run's title, and whether it is open loop).
    pub fn new(
        every: Duration,
        duration: Option<Duration>,
        requests: Option<u64>,
        log: Option<(W, String, bool)>,
    ) -> Self {
        let ns = |d: Duration| d.as_nanos().max(1);
        // A microsecond of slack: --duration 0.9 at --interval 0.3 is three intervals.
        let last = duration.map(|d| {
            let n = ns(d).saturating_sub(1000).max(1).div_ceil(ns(every));
            (n as u64).saturating_sub(1)
        });
        Intervals {
            every,
            last,
            limit: requests,
            done: 0,
            next: 0,
            held: None,
            series: Vec::new(),
            log: log.map(|(w, title, open_loop)| Log {
                state: LogState::Waiting(w),
                comment: log_comment(&title, open_loop),
                open_loop,
                created: SystemTime::now(),
            }),
        }
    }

    /// Takes the workers' next interval, merged. Returns whether the run measured it
    /// (false: it began after sending stopped, and went into the last measured one).
    pub fn push(&mut self, m: &Measured) -> Result<bool, LogWriteError> {
        let k = self.next;
        self.next += 1;
        let after_end =
            self.last.is_some_and(|l| k > l) || self.limit.is_some_and(|n| self.done >= n);
        self.done += m.requests + m.errors.total();
        if after_end {
            match &mut self.held {
                Some((_, h)) => h.merge(m),
                None => self.held = Some((k, m.clone())),
            }
            return Ok(false);
        }
        if let Some((j, h)) = self.held.replace((k, m.clone())) {
            self.write(j, &h, self.every)?;
        }
        Ok(true)
    }

    /// Writes the last interval, cut to the measured `span` if the run ended inside it,
    /// and flushes the log. A run that measured nothing leaves a log with its header only.
    /// Returns the measured intervals, for the JSON report.
    pub fn finish(mut self, span: Duration) -> Result<Vec<json::Interval>, LogWriteError> {
        self.finish_log(span)?;
        Ok(std::mem::take(&mut self.series))
    }

    /// As [`finish`](Self::finish), handing back the log's writer instead (tests).
    pub fn finish_log(&mut self, span: Duration) -> Result<Option<W>, LogWriteError> {
        if let Some((j, h)) = self.held.take() {
            let start = self.start_of(j);
            let length = match span.checked_sub(start) {
                Some(left) if !left.is_zero() => left.min(self.every),
                _ => self.every,
            };
            self.write(j, &h, length)?;
        }
        match self.log.take() {
            Some(mut log) => Ok(Some(log.writer()?.finish()?)),
            None => Ok(None),
        }
    }

    fn start_of(&self, k: u64) -> Duration {
        Duration::from_nanos((self.every.as_nanos() as u64).saturating_mul(k))
    }

    fn write(&mut self, k: u64, m: &Measured, length: Duration) -> Result<(), LogWriteError> {
        let start = self.start_of(k);
        let every = self.every;
        let secs = length.as_secs_f64().max(1e-9);
        let l = json::Latency::of(&m.corrected);
        self.series.push(json::Interval {
            t_s: start.as_secs_f64(),
            length_s: length.as_secs_f64(),
            requests: m.requests,
            rate_rps: m.requests as f64 / secs,
            errors: m.errors.total(),
            throughput_bps: m.bytes as f64 * 8.0 / secs,
            p50_us: l.p50,
            p99_us: l.p99,
            max_us: l.max,
        });
        let Some(log) = &mut self.log else {
            return Ok(());
        };
        let open_loop = log.open_loop;
        let w = log.writer_from(every)?;
        if open_loop {
            w.write(Some(CORRECTED), start, length, &m.corrected)?;
            w.write(Some(UNCORRECTED), start, length, &m.uncorrected)
        } else {
            w.write(None, start, length, &m.corrected)
        }
    }
}

impl<W: Write> Log<W> {
    /// The writer, its header written now if it was not: measuring began one interval
    /// before the first one arrived (and not before the log was created).
    fn writer_from(&mut self, every: Duration) -> Result<&mut HdrLogWriter<W>, LogWriteError> {
        if let LogState::Waiting(_) = self.state {
            let LogState::Waiting(out) = std::mem::replace(&mut self.state, LogState::Gone) else {
                unreachable!("checked above");
            };
            let start = SystemTime::now()
                .checked_sub(every)
                .map_or(self.created, |t| t.max(self.created));
            self.state = LogState::Writing(HdrLogWriter::new(out, &self.comment, start)?);
        }
        match &mut self.state {
            LogState::Writing(w) => Ok(w),
            _ => unreachable!("made above"),
        }
    }

    fn writer(&mut self) -> Result<HdrLogWriter<W>, LogWriteError> {
        self.writer_from(Duration::ZERO)?;
        match std::mem::replace(&mut self.state, LogState::Gone) {
            LogState::Writing(w) => Ok(w),
            _ => unreachable!("made above"),
        }
    }
}

/// The header comment: the run, the unit, and what the tags mean.
fn log_comment(title: &str, open_loop: bool) -> String {
    let tags = if open_loop {
        "open loop: Tag=corrected is latency from the intended send time, \
         Tag=uncorrected from the actual send time"
    } else {
        "closed loop: untagged, latency from the send time"
    };
    format!("{title}\nvalues in nanoseconds; {tags}")
}

/// Draws the run's latency to `path` (SVG or PNG by its extension): corrected and
/// uncorrected in open loop, with the run's configuration as the title.
pub fn write_plot(
    path: &Path,
    cfg: &LoadConfig,
    total: &Measured,
    open_loop: bool,
) -> anyhow::Result<()> {
    let format = PlotFormat::of_path(path)?;
    let curves = if open_loop {
        vec![
            Curve::new("corrected (from intended send time)", &total.corrected),
            Curve::new("uncorrected (from actual send time)", &total.uncorrected),
        ]
    } else {
        vec![Curve::new("latency", &total.corrected)]
    };
    let bytes = plot::render(format, &run_title(cfg), &curves)?;
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::hist::record;
    use crate::metrics::hlog::IntervalLog;

    fn interval(samples: &[u64]) -> Measured {
        let mut m = Measured::new();
        for &v in samples {
            record(&mut m.corrected, v);
            record(&mut m.uncorrected, v / 2);
            m.requests += 1;
        }
        m
    }

    fn log_of(
        duration: Option<f64>,
        requests: Option<u64>,
        open_loop: bool,
        pushed: &[&[u64]],
        span: f64,
    ) -> (Vec<bool>, IntervalLog, String) {
        let mut iv = Intervals::new(
            Duration::from_secs(1),
            duration.map(Duration::from_secs_f64),
            requests,
            Some((Vec::new(), "xstack load test".to_string(), open_loop)),
        );
        let measured = pushed
            .iter()
            .map(|s| iv.push(&interval(s)).unwrap())
            .collect();
        let bytes = iv
            .finish_log(Duration::from_secs_f64(span))
            .unwrap()
            .unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        (measured, IntervalLog::parse(&bytes).unwrap(), text)
    }

    /// A 3 s run: the stray reply that came back after the end (the fourth, partial
    /// interval) is folded into the third, not logged as a phantom interval.
    #[test]
    fn the_interval_after_the_end_is_folded_into_the_last() {
        let (measured, log, text) = log_of(
            Some(3.0),
            None,
            false,
            &[&[1000, 2000], &[3000], &[4000, 5000], &[900_000]],
            3.000_004,
        );
        assert_eq!(measured, [true, true, true, false]);
        let counts: Vec<(u64, u64, f64)> = log
            .intervals
            .iter()
            .map(|i| (i.start.as_secs(), i.histogram.len(), i.length.as_secs_f64()))
            .collect();
        assert_eq!(counts, [(0, 2, 1.0), (1, 1, 1.0), (2, 3, 1.0)], "{text}");
        assert_eq!(log.tags(), [None]);
        assert!(
            text.contains("#closed loop: untagged") || text.contains("; closed loop: untagged")
        );
    }

    #[test]
    fn open_loop_logs_both_tags_with_the_same_counts() {
        let (_, log, _) = log_of(Some(2.0), None, true, &[&[1000, 2000], &[3000]], 2.0);
        assert_eq!(log.tags(), [Some(CORRECTED), Some(UNCORRECTED)]);
        let c = log.merged(Some(CORRECTED)).unwrap();
        let u = log.merged(Some(UNCORRECTED)).unwrap();
        assert_eq!((c.len(), u.len()), (3, 3));
        assert_eq!(log.intervals.len(), 4);
        assert!(u.max() < c.max());
    }

    /// A run bounded by --requests ends inside its last interval: that interval is cut
    /// to the measured span, and the empty ones the workers send afterwards are not logged.
    #[test]
    fn a_request_bounded_run_ends_with_a_partial_interval() {
        let (measured, log, _) = log_of(
            None,
            Some(5),
            false,
            &[&[1000, 1000], &[1000, 1000], &[1000], &[], &[]],
            2.3,
        );
        assert_eq!(measured, [true, true, true, false, false]);
        let lengths: Vec<f64> = log
            .intervals
            .iter()
            .map(|i| i.length.as_secs_f64())
            .collect();
        assert_eq!(lengths, [1.0, 1.0, 0.3]);
        assert_eq!(log.merged(None).unwrap().len(), 5);
    }

    #[test]
    fn durations_that_are_not_whole_intervals() {
        let last = |d: f64, every: f64| {
            Intervals::<Vec<u8>>::new(
                Duration::from_secs_f64(every),
                Some(Duration::from_secs_f64(d)),
                None,
                None,
            )
            .last
        };
        assert_eq!(last(3.0, 1.0), Some(2));
        assert_eq!(last(2.5, 1.0), Some(2));
        assert_eq!(last(0.9, 0.3), Some(2));
        assert_eq!(last(0.5, 1.0), Some(0));
    }

    #[test]
    fn a_run_that_measured_nothing_leaves_a_header() {
        let (measured, log, text) = log_of(Some(1.0), None, false, &[], 0.0);
        assert!(measured.is_empty() && log.intervals.is_empty());
        assert!(
            text.contains("#[Histogram log format version 1.3]"),
            "{text}"
        );
    }

    #[test]
    fn the_title_says_what_ran() {
        assert_eq!(
            run_title(&LoadConfig::for_tests(Transport::Udp, 16, None)),
            "xstack load udp echo pingpong 198.18.0.2:7, 16 flows, 64 B"
        );
        assert_eq!(
            run_title(&LoadConfig::for_tests(Transport::Tcp, 1, Some(5000.0))),
            "xstack load tcp echo pingpong 198.18.0.2:7, 1 connection, 64 B, open loop at 5000 req/s"
        );
    }

    #[test]
    fn load_plots_corrected_and_uncorrected_in_open_loop() {
        let dir = std::env::temp_dir().join(format!("xstack-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let m = interval(&[20_000, 21_000, 5_000_000]);
        let svg = dir.join("open.svg");
        write_plot(
            &svg,
            &LoadConfig::for_tests(Transport::Udp, 16, Some(1000.0)),
            &m,
            true,
        )
        .unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("corrected (from intended send time): n=3"));
        assert!(text.contains("uncorrected (from actual send time): n=3"));
        assert!(text.contains("16 flows, 64 B, open loop at 1000 req/s"));
        let png = dir.join("closed.png");
        write_plot(
            &png,
            &LoadConfig::for_tests(Transport::Udp, 16, None),
            &m,
            false,
        )
        .unwrap();
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
        assert!(write_plot(
            &dir.join("x.pdf"),
            &LoadConfig::for_tests(Transport::Udp, 1, None),
            &m,
            false
        )
        .is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
