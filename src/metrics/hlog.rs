//! HdrHistogram interval logs, written and read.
//!
//! The format is HdrHistogram's own (`HistogramLogWriter`, log format version 1.3): a
//! header of `#` lines (a free comment, `#[Histogram log format version 1.3]`,
//! `#[StartTime: …]`, `#[BaseTime: …]`), the legend line, then one line per interval
//! histogram, `[Tag=T,]start,length,max,histogram`: the start in seconds since BaseTime,
//! the length in seconds, the interval's maximum divided by the `#[MaxValueDivisor]` the
//! header states, and the histogram in the V2 deflate-compressed encoding, in base64.
//! Values in xstack's logs are nanoseconds; the maximum column is in microseconds.
//!
//! [`HdrLogWriter`] writes one log: the header once, when it is made, then every
//! interval it is handed, in order. [`IntervalLog`] reads one (any writer's, through the
//! `hdrhistogram` crate's parser) and adds intervals up exactly.

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use std::io::Write;
use std::time::{Duration, SystemTime};

/// The log format version the header announces (the one with tags).
pub const FORMAT_VERSION: &str = "1.3";
/// The legend line of HdrHistogram's logs.
pub const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";
/// Interval maxima are written in microseconds (values are nanoseconds).
pub const MAX_VALUE_DIVISOR: f64 = 1000.0;

/// Why a log could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LogWriteError {
    #[error("cannot write the interval log: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot encode an interval histogram: {0}")]
    Encode(String),
    #[error("'{0}' cannot be a log tag (tags have no commas, spaces or line breaks)")]
    BadTag(String),
}

/// Writes one HdrHistogram interval log.
pub struct HdrLogWriter<W: Write> {
    out: W,
    serializer: V2DeflateSerializer,
    raw: Vec<u8>,
    text: String,
}

impl<W: Write> HdrLogWriter<W> {
    /// Writes the header to `out`: `comment` (each of its lines as a `#` line), the format
    /// version, `start` as both StartTime and BaseTime (so interval timestamps are seconds
    /// since it), the maximum's divisor and the legend.
    pub fn new(mut out: W, comment: &str, start: SystemTime) -> Result<Self, LogWriteError> {
        for line in comment.lines() {
            writeln!(out, "#{line}")?;
        }
        // Both forms of the start, from the same milliseconds.
        let since = start
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let ms = since.as_millis() + u128::from(since.subsec_nanos() % 1_000_000 >= 500_000);
        let secs = format!("{}.{:03}", ms / 1000, ms % 1000);
        let date = utc_from_epoch(Duration::from_millis(ms as u64));
        writeln!(out, "#[Histogram log format version {FORMAT_VERSION}]")?;
        writeln!(out, "#[StartTime: {secs} (seconds since epoch), {date}]")?;
        writeln!(out, "#[BaseTime: {secs} (seconds since epoch)]")?;
        writeln!(out, "#[MaxValueDivisor: {MAX_VALUE_DIVISOR:.3}]")?;
        writeln!(out, "{LEGEND}")?;
        Ok(HdrLogWriter {
            out,
            serializer: V2DeflateSerializer::new(),
            raw: Vec::new(),
            text: String::new(),
        })
    }

    /// Appends the histogram of one interval, which began `start` after BaseTime and
    /// lasted `length`, with an optional tag.
    pub fn write(
        &mut self,
        tag: Option<&str>,
        start: Duration,
        length: Duration,
        h: &Histogram<u64>,
    ) -> Result<(), LogWriteError> {
        use base64::Engine as _;
        if let Some(t) = tag {
            if t.is_empty() || t.contains([',', ' ', '\r', '\n']) {
                return Err(LogWriteError::BadTag(t.to_string()));
            }
            write!(self.out, "Tag={t},")?;
        }
        self.raw.clear();
        self.serializer
            .serialize(h, &mut self.raw)
            .map_err(|e| LogWriteError::Encode(format!("{e:?}")))?;
        self.text.clear();
        base64::engine::general_purpose::STANDARD.encode_string(&self.raw, &mut self.text);
        writeln!(
            self.out,
            "{:.3},{:.3},{:.3},{}",
            start.as_secs_f64(),
            length.as_secs_f64(),
            h.max() as f64 / MAX_VALUE_DIVISOR,
            self.text
        )?;
        Ok(())
    }

    /// Flushes the log and hands the writer back.
    pub fn finish(mut self) -> Result<W, LogWriteError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Why bytes are not a readable interval log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogReadError {
    #[error("line {line} is neither a comment, the legend nor an interval histogram")]
    Syntax { line: usize },
    #[error("interval {index} (line {line}): the histogram is not valid base64")]
    Base64 { index: usize, line: usize },
    #[error("interval {index} (line {line}): the histogram cannot be decoded ({reason})")]
    Histogram {
        index: usize,
        line: usize,
        reason: String,
    },
}

/// One interval histogram of a log.
#[derive(Clone, Debug)]
pub struct LoggedInterval {
    pub tag: Option<String>,
    /// The timestamp as written (seconds since BaseTime when the log has one).
    pub start: Duration,
    pub length: Duration,
    pub histogram: Histogram<u64>,
}

/// An interval log, read whole.
#[derive(Clone, Debug, Default)]
pub struct IntervalLog {
    /// `#[StartTime]`, since the epoch.
    pub start_time: Option<Duration>,
    /// `#[BaseTime]`, since the epoch.
    pub base_time: Option<Duration>,
    /// Who wrote it: a comment line `#instance: NAME` (xstack load's `--instance`).
    pub instance: Option<String>,
    pub intervals: Vec<LoggedInterval>,
}

/// The prefix of the comment line that names the instance that wrote a log.
pub const INSTANCE_COMMENT: &str = "instance: ";

/// The instance a log's `#instance: NAME` comment names, if it has one.
fn instance_comment(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes.get(..bytes.len().min(4096))?).ok()?;
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix('#')?.strip_prefix(INSTANCE_COMMENT))
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
}

impl IntervalLog {
    /// Parses a log with the `hdrhistogram` crate's reader and decodes every histogram.
    pub fn parse(bytes: &[u8]) -> Result<Self, LogReadError> {
        use base64::Engine as _;
        let line_of = |offset: usize| {
            1 + bytes[..offset.min(bytes.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
        };
        let mut log = IntervalLog {
            instance: instance_comment(bytes),
            ..IntervalLog::default()
        };
        let mut de = Deserializer::new();
        for entry in IntervalLogIterator::new(bytes) {
            let entry = entry.map_err(|e| {
                let hdrhistogram::serialization::interval_log::LogIteratorError::ParseError {
                    offset,
                } = e;
                LogReadError::Syntax {
                    line: line_of(offset),
                }
            })?;
            match entry {
                LogEntry::StartTime(t) => log.start_time = Some(t),
                LogEntry::BaseTime(t) => log.base_time = Some(t),
                LogEntry::Interval(iv) => {
                    let index = log.intervals.len() + 1;
                    // The encoded text is a slice of `bytes`: its place gives the line.
                    let at = (iv.encoded_histogram().as_ptr() as usize)
                        .saturating_sub(bytes.as_ptr() as usize);
                    let line = line_of(at);
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(iv.encoded_histogram())
                        .map_err(|_| LogReadError::Base64 { index, line })?;
                    let histogram: Histogram<u64> =
                        de.deserialize(&mut &raw[..])
                            .map_err(|e| LogReadError::Histogram {
                                index,
                                line,
                                reason: format!("{e:?}"),
                            })?;
                    log.intervals.push(LoggedInterval {
                        tag: iv.tag().map(|t| t.as_str().to_string()),
                        start: iv.start_timestamp(),
                        length: iv.duration(),
                        histogram,
                    });
                }
            }
        }
        Ok(log)
    }

    /// The tags of its intervals, each once, in the order they first appear (`None` for
    /// untagged intervals).
    pub fn tags(&self) -> Vec<Option<&str>> {
        let mut out: Vec<Option<&str>> = Vec::new();
        for iv in &self.intervals {
            let t = iv.tag.as_deref();
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }

    /// The intervals with this tag (`None`: the untagged ones).
    pub fn with_tag<'a>(
        &'a self,
        tag: Option<&'a str>,
    ) -> impl Iterator<Item = &'a LoggedInterval> + 'a {
        self.intervals
            .iter()
            .filter(move |iv| iv.tag.as_deref() == tag)
    }

    /// The latency a log holds when no tag is asked for: the untagged intervals (a
    /// closed-loop run), else those tagged `corrected` (an open-loop run).
    pub fn primary_tag(&self) -> Option<Option<&str>> {
        let tags = self.tags();
        [None, Some(CORRECTED)]
            .into_iter()
            .find(|t| tags.contains(t))
    }

    /// The intervals with this tag added up, exactly; `None` if no interval has it.
    pub fn merged(&self, tag: Option<&str>) -> Option<Histogram<u64>> {
        merge_exact(self.with_tag(tag).map(|iv| &iv.histogram))
    }

    /// When an interval began, in seconds since the epoch, if the log says. Timestamps
    /// are relative to BaseTime when there is one; otherwise, as HdrHistogram's reader
    /// decides, a timestamp under a year is relative to StartTime and any other is
    /// absolute.
    pub fn absolute_start(&self, iv: &LoggedInterval) -> Option<Duration> {
        const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
        match (self.base_time, self.start_time) {
            (Some(base), _) => Some(base + iv.start),
            (None, Some(start)) if iv.start < YEAR => Some(start + iv.start),
            _ if iv.start >= YEAR => Some(iv.start),
            _ => None,
        }
    }
}

/// The tags xstack load writes in open loop: latency from the intended send time, and
/// from the actual one.
pub const CORRECTED: &str = "corrected";
pub const UNCORRECTED: &str = "uncorrected";

/// Adds histograms up exactly: the sum has the first one's bounds and precision and
/// grows to hold larger values; `None` if there are none.
pub fn merge_exact<'a>(
    parts: impl IntoIterator<Item = &'a Histogram<u64>>,
) -> Option<Histogram<u64>> {
    let mut total: Option<Histogram<u64>> = None;
    for h in parts {
        let t = total.get_or_insert_with(|| {
            let mut t = Histogram::new_from(h);
            t.auto(true);
            t
        });
        // Cannot fail: `t` resizes itself to hold any value of `h`.
        let _ = t.add(h);
    }
    total
}

/// Seconds since the epoch (negative before it, which no clock here gives).
pub fn epoch_seconds(t: SystemTime) -> f64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// An instant given as time since the epoch, as an ISO 8601 UTC timestamp with
/// milliseconds (truncated), e.g. `2024-06-10T06:13:20.123Z`.
pub fn utc_from_epoch(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (the algorithm from
/// Howard Hinnant's "chrono-compatible low-level date algorithms").
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_comment_names_the_writer() {
        let mut w = HdrLogWriter::new(
            Vec::new(),
            "a run\ninstance: load-7",
            std::time::UNIX_EPOCH + Duration::from_secs(1_718_000_000),
        )
        .unwrap();
        let mut h = crate::metrics::hist::latency_histogram();
        h.record(1000).unwrap();
        w.write(None, Duration::ZERO, Duration::from_secs(1), &h)
            .unwrap();
        let bytes = w.finish().unwrap();
        let log = IntervalLog::parse(&bytes).unwrap();
        assert_eq!(log.instance.as_deref(), Some("load-7"));
        let plain = IntervalLog::parse(b"#[StartTime: 1.000 (seconds since epoch)]\n").unwrap();
        assert_eq!(plain.instance, None);
    }
    use crate::metrics::hist::{latency_histogram, record};

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = latency_histogram();
        for v in values {
            record(&mut h, v);
        }
        h
    }

    const START: Duration = Duration::from_millis(1_718_000_000_123);

    fn write_log(intervals: &[(Option<&str>, u64, &Histogram<u64>)]) -> Vec<u8> {
        let mut w = HdrLogWriter::new(
            Vec::new(),
            "xstack load udp echo pingpong 198.18.0.2:7, 2 flows, 64 B\nvalues in nanoseconds",
            SystemTime::UNIX_EPOCH + START,
        )
        .unwrap();
        for (tag, k, h) in intervals {
            w.write(*tag, Duration::from_secs(*k), Duration::from_secs(1), h)
                .unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn header_lines_are_hdrhistograms_once_each() {
        let h = hist([1000, 2000]);
        let text = String::from_utf8(write_log(&[(None, 0, &h), (None, 1, &h)])).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..7],
            [
                "#xstack load udp echo pingpong 198.18.0.2:7, 2 flows, 64 B",
                "#values in nanoseconds",
                "#[Histogram log format version 1.3]",
                "#[StartTime: 1718000000.123 (seconds since epoch), 2024-06-10T06:13:20.123Z]",
                "#[BaseTime: 1718000000.123 (seconds since epoch)]",
                "#[MaxValueDivisor: 1000.000]",
                "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"",
            ]
        );
        assert_eq!(lines.len(), 9, "{text}");
        assert!(
            lines[7].starts_with("0.000,1.000,2.000,HISTF"),
            "{}",
            lines[7]
        );
        assert!(lines[8].starts_with("1.000,1.000,2.000,"), "{}", lines[8]);
        for once in [
            "#[MaxValueDivisor",
            "#[StartTime",
            "#[BaseTime",
            "format version",
            "\"StartTimestamp\"",
        ] {
            assert_eq!(text.matches(once).count(), 1, "{once} in\n{text}");
        }
    }

    #[test]
    fn tagged_lines_start_with_the_tag_and_bad_tags_are_refused() {
        let h = hist([5000]);
        let text = String::from_utf8(write_log(&[
            (Some(CORRECTED), 0, &h),
            (Some(UNCORRECTED), 0, &h),
        ]))
        .unwrap();
        assert!(
            text.contains("\nTag=corrected,0.000,1.000,5.003,"),
            "{text}"
        );
        assert!(
            text.contains("\nTag=uncorrected,0.000,1.000,5.003,"),
            "{text}"
        );
        let mut w = HdrLogWriter::new(Vec::new(), "", SystemTime::UNIX_EPOCH).unwrap();
        for bad in ["a b", "a,b", "", "a\nb"] {
            assert!(matches!(
                w.write(Some(bad), Duration::ZERO, Duration::from_secs(1), &h),
                Err(LogWriteError::BadTag(_))
            ));
        }
    }

    /// The log read back with the `hdrhistogram` crate's own parser and deserializer:
    /// every interval, with its tag and times, and the counts add up.
    #[test]
    fn the_crate_reader_gets_every_interval_back() {
        use base64::Engine as _;
        let a = hist((1..=1000).map(|v| v * 1000));
        let b = hist((1..=10).map(|v| v * 1_000_000));
        let bytes = write_log(&[
            (Some(CORRECTED), 0, &a),
            (Some(UNCORRECTED), 0, &b),
            (Some(CORRECTED), 1, &b),
            (Some(UNCORRECTED), 1, &a),
        ]);
        let mut de = Deserializer::new();
        let mut seen = Vec::new();
        let (mut start, mut base) = (None, None);
        for e in IntervalLogIterator::new(&bytes) {
            match e.unwrap() {
                LogEntry::StartTime(t) => start = Some(t),
                LogEntry::BaseTime(t) => base = Some(t),
                LogEntry::Interval(iv) => {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(iv.encoded_histogram())
                        .unwrap();
                    let h: Histogram<u64> = de.deserialize(&mut &raw[..]).unwrap();
                    seen.push((
                        iv.tag().unwrap().as_str().to_string(),
                        iv.start_timestamp().as_secs(),
                        iv.duration(),
                        h,
                    ));
                }
            }
        }
        assert_eq!(start, Some(START));
        assert_eq!(base, Some(START));
        let counts: Vec<_> = seen
            .iter()
            .map(|s| (s.0.as_str(), s.1, s.3.len()))
            .collect();
        assert_eq!(
            counts,
            [
                ("corrected", 0, 1000),
                ("uncorrected", 0, 10),
                ("corrected", 1, 10),
                ("uncorrected", 1, 1000)
            ]
        );
        assert!(seen.iter().all(|s| s.2 == Duration::from_secs(1)));
        assert_eq!(seen[0].3, a);
        assert_eq!(seen[1].3, b);

        // Our reader agrees with the crate's.
        let log = IntervalLog::parse(&bytes).unwrap();
        assert_eq!(log.tags(), [Some(CORRECTED), Some(UNCORRECTED)]);
        assert_eq!(log.primary_tag(), Some(Some(CORRECTED)));
        let total = log.merged(Some(CORRECTED)).unwrap();
        assert_eq!(total.len(), 1010);
        assert_eq!(total.max(), b.max());
        assert!(log.merged(None).is_none());
        assert_eq!(
            log.absolute_start(&log.intervals[2]),
            Some(START + Duration::from_secs(1))
        );
    }

    #[test]
    fn merging_is_exact() {
        let a = hist((1..=5000).map(|v| v * 997));
        let b = hist((1..=3000).map(|v| v * 50_000));
        let m = merge_exact([&a, &b]).unwrap();
        let mut direct = a.clone();
        direct.add(&b).unwrap();
        assert_eq!(m.len(), 8000);
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(m.value_at_quantile(q), direct.value_at_quantile(q));
        }
        assert!(merge_exact([]).is_none());
    }

    #[test]
    fn bad_input_is_refused_with_the_line() {
        assert_eq!(
            IntervalLog::parse(b"#a comment\nhello\n").unwrap_err(),
            LogReadError::Syntax { line: 2 }
        );
        assert_eq!(
            IntervalLog::parse(b"\x89PNG\r\n").unwrap_err(),
            LogReadError::Syntax { line: 1 }
        );
        assert_eq!(
            IntervalLog::parse(b"#x\nTag=x,0.1,1.0,2.0,notbase64!!\n").unwrap_err(),
            LogReadError::Base64 { index: 1, line: 2 }
        );
        assert!(matches!(
            IntervalLog::parse(b"0.1,1.0,2.0,AAAA\n").unwrap_err(),
            LogReadError::Histogram {
                index: 1,
                line: 1,
                ..
            }
        ));
        let empty = IntervalLog::parse(b"").unwrap();
        assert!(empty.intervals.is_empty() && empty.primary_tag().is_none());
    }

    #[test]
    fn start_times_round_to_the_same_millisecond_in_both_forms() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_999_600_000);
        let text = String::from_utf8(
            HdrLogWriter::new(Vec::new(), "", at)
                .unwrap()
                .finish()
                .unwrap(),
        )
        .unwrap();
        assert!(
            text.contains("#[StartTime: 2.000 (seconds since epoch), 1970-01-01T00:00:02.000Z]"),
            "{text}"
        );
    }

    #[test]
    fn utc_timestamps() {
        assert_eq!(utc_from_epoch(Duration::ZERO), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            utc_from_epoch(Duration::from_millis(951_782_400_000 + 86_399_999)),
            "2000-02-29T23:59:59.999Z"
        );
        assert_eq!(
            utc_from_epoch(Duration::from_secs(4_102_444_800)),
            "2100-01-01T00:00:00.000Z"
        );
    }
}
