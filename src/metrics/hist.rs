//! Latency histograms: one HdrHistogram per worker (1 ns to 60 s at 3 significant
//! digits), merged at report time, summarised as the percentiles people compare
//! (p50 … p99.99, max), printed as HdrHistogram's percentile distribution table (the one
//! users of sockperf and wrk2 know),
//! and written as a standard HdrHistogram interval log (V2, compressed, base64).

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use serde_json::{Map, Value};
use std::io::Write;
use std::time::{Duration, SystemTime};

/// Lowest and highest trackable values, in nanoseconds.
pub const LOWEST_NS: u64 = 1;
pub const HIGHEST_NS: u64 = 60_000_000_000;
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A latency histogram in nanoseconds with the project's bounds.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS)
        .expect("the bounds are constants that hdrhistogram accepts")
}

/// Records `ns`, clamped into the trackable range (a longer stall counts as 60 s).
#[inline]
pub fn record(h: &mut Histogram<u64>, ns: u64) {
    // Cannot fail: the value is clamped to the histogram's own bounds.
    let _ = h.record(ns.clamp(LOWEST_NS, HIGHEST_NS));
}

/// Merges per-worker histograms into one.
pub fn merge<'a>(parts: impl IntoIterator<Item = &'a Histogram<u64>>) -> Histogram<u64> {
    let mut total = latency_histogram();
    for h in parts {
        // Cannot fail: every part has the same bounds as `total`.
        let _ = total.add(h);
    }
    total
}

/// The numbers a latency report gives, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub stdev: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub p9999: u64,
    pub max: u64,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            stdev: h.stdev(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
        }
    }

    /// The JSON object of the report, in microseconds.
    pub fn to_json_us(&self) -> Value {
        let us = |ns: f64| (ns / 1000.0 * 1000.0).round() / 1000.0;
        let mut m = Map::new();
        m.insert("min".into(), us(self.min as f64).into());
        m.insert("mean".into(), us(self.mean).into());
        m.insert("stdev".into(), us(self.stdev).into());
        m.insert("p50".into(), us(self.p50 as f64).into());
        m.insert("p90".into(), us(self.p90 as f64).into());
        m.insert("p99".into(), us(self.p99 as f64).into());
        m.insert("p999".into(), us(self.p999 as f64).into());
        m.insert("p9999".into(), us(self.p9999 as f64).into());
        m.insert("max".into(), us(self.max as f64).into());
        Value::Object(m)
    }

    /// One line: `p50 12.3 us, p99 …`.
    pub fn to_line(&self) -> String {
        let us = |ns: u64| ns as f64 / 1000.0;
        format!(
            "min {:.3} mean {:.3} stdev {:.3} p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3} p99.99 {:.3} max {:.3} (us)",
            us(self.min),
            self.mean / 1000.0,
            self.stdev / 1000.0,
            us(self.p50),
            us(self.p90),
            us(self.p99),
            us(self.p999),
            us(self.p9999),
            us(self.max)
        )
    }
}

/// The percentile distribution table of HdrHistogram's `outputPercentileDistribution`,
/// column for column, with values in microseconds: `Value`, `Percentile`, `TotalCount`
/// (the samples at or below the value), `1/(1-Percentile)` (left blank on the last row,
/// at 100 %), then the `#[Mean …]`, `#[Max …]` and `#[Buckets …]` footer lines.
/// `ticks_per_half` is the number of rows per halving of the distance to 100 %.
pub fn percentile_table(h: &Histogram<u64>, ticks_per_half: u32) -> String {
    use std::fmt::Write as _;
    const US: f64 = 1000.0;
    let digits = usize::from(h.sigfig());
    let mut s = String::new();
    let _ = write!(
        s,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(ticks_per_half.max(1)) {
            total += v.count_since_last_iteration();
            let q = v.quantile_iterated_to();
            let value = v.value_iterated_to() as f64 / US;
            if q < 1.0 {
                let _ = writeln!(
                    s,
                    "{value:12.digits$} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(s, "{value:12.digits$} {q:2.12} {total:10}");
            }
        }
    }
    let (mean, stdev) = if h.is_empty() {
        (0.0, 0.0)
    } else {
        (h.mean() / US, h.stdev() / US)
    };
    let _ = writeln!(
        s,
        "#[Mean    = {mean:12.digits$}, StdDeviation   = {stdev:12.digits$}]"
    );
    let _ = writeln!(
        s,
        "#[Max     = {:12.digits$}, Total count    = {:12}]",
        h.max() as f64 / US,
        h.len()
    );
    let buckets = usize::from(h.buckets());
    // The counts array holds (buckets + 1) half-buckets of sub-buckets.
    let sub_buckets = 2 * h.distinct_values() / (buckets + 1);
    let _ = writeln!(
        s,
        "#[Buckets = {buckets:12}, SubBuckets     = {sub_buckets:12}]"
    );
    s
}

/// Reads an HdrHistogram interval log and adds up all of its intervals.
pub fn read_hdr_log(bytes: &[u8]) -> Result<Histogram<u64>, String> {
    use base64::Engine as _;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;
    let mut total = latency_histogram();
    let mut de = Deserializer::new();
    for (i, entry) in IntervalLogIterator::new(bytes).enumerate() {
        let entry =
            entry.map_err(|e| format!("entry {}: not an interval log line ({e:?})", i + 1))?;
        if let LogEntry::Interval(iv) = entry {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(iv.encoded_histogram())
                .map_err(|e| format!("entry {}: bad base64: {e}", i + 1))?;
            let part: Histogram<u64> = de
                .deserialize(&mut &raw[..])
                .map_err(|e| format!("entry {}: bad histogram: {e:?}", i + 1))?;
            total
                .add(&part)
                .map_err(|e| format!("entry {}: cannot merge: {e:?}", i + 1))?;
        }
    }
    Ok(total)
}

/// Writes an HdrHistogram interval log: one compressed histogram per interval.
pub struct HdrLog<W: Write> {
    out: W,
    serializer: V2DeflateSerializer,
    start: SystemTime,
    header_done: bool,
}

impl<W: Write> HdrLog<W> {
    pub fn new(out: W, start: SystemTime) -> Self {
        HdrLog {
            out,
            serializer: V2DeflateSerializer::new(),
            start,
            header_done: false,
        }
    }

    /// Appends the histogram of one interval, which began `offset` after the start and
    /// lasted `length`.
    pub fn append(
        &mut self,
        h: &Histogram<u64>,
        offset: Duration,
        length: Duration,
        tag: Option<&str>,
    ) -> std::io::Result<()> {
        let mut builder = IntervalLogWriterBuilder::new();
        if !self.header_done {
            builder.add_comment("xstack latency log, values in nanoseconds");
            builder.with_start_time(self.start);
            builder.with_base_time(self.start);
        }
        builder.with_max_value_divisor(1000.0);
        let mut w = builder.begin_log_with(&mut self.out, &mut self.serializer)?;
        self.header_done = true;
        w.write_histogram(h, offset, length, tag.and_then(Tag::new))
            .map_err(|e| std::io::Error::other(format!("cannot write histogram: {e:?}")))
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;

    fn sample() -> Histogram<u64> {
        let mut h = latency_histogram();
        for v in 1..=10_000u64 {
            record(&mut h, v * 1000); // 1 us .. 10 ms
        }
        h
    }

    #[test]
    fn summary_reports_ordered_percentiles() {
        let s = LatencySummary::of(&sample());
        assert_eq!(s.count, 10_000);
        assert!(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99);
        assert!(s.p99 <= s.p999 && s.p999 <= s.p9999 && s.p9999 <= s.max);
        // 3 significant digits: within 0.1 %.
        assert!(
            (s.p50 as f64 - 5_000_000.0).abs() / 5e6 < 0.001,
            "{}",
            s.p50
        );
        assert!(
            (s.p99 as f64 - 9_900_000.0).abs() / 9.9e6 < 0.001,
            "{}",
            s.p99
        );
        let j = s.to_json_us();
        assert!((j["p50"].as_f64().unwrap() - 5000.0).abs() < 5.0);
    }

    #[test]
    fn values_outside_the_range_are_clamped_not_lost() {
        let mut h = latency_histogram();
        record(&mut h, 0);
        record(&mut h, u64::MAX);
        assert_eq!(h.len(), 2);
        assert!(h.max() >= HIGHEST_NS / 2);
    }

    #[test]
    fn merge_adds_workers() {
        let a = sample();
        let mut b = latency_histogram();
        record(&mut b, 20_000_000);
        let m = merge([&a, &b]);
        assert_eq!(m.len(), 10_001);
        assert!(m.max() >= 19_990_000);
    }

    #[test]
    fn interval_log_reads_back_with_the_crate_reader() {
        let h = sample();
        let mut log = HdrLog::new(
            Vec::new(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1000),
        );
        log.append(&h, Duration::ZERO, Duration::from_secs(1), None)
            .unwrap();
        log.append(&h, Duration::from_secs(1), Duration::from_secs(1), None)
            .unwrap();
        let bytes = log.into_inner();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("#xstack latency log"), "{text}");
        let mut total = latency_histogram();
        let mut intervals = 0;
        let mut de = Deserializer::new();
        for entry in IntervalLogIterator::new(&bytes) {
            if let LogEntry::Interval(i) = entry.unwrap() {
                let raw = base64_decode(i.encoded_histogram());
                let part: Histogram<u64> = de.deserialize(&mut &raw[..]).unwrap();
                total.add(&part).unwrap();
                intervals += 1;
            }
        }
        assert_eq!(intervals, 2);
        assert_eq!(total.len(), 2 * h.len());
        assert_eq!(total.value_at_quantile(0.99), h.value_at_quantile(0.99));
        assert_eq!(read_hdr_log(&bytes).unwrap(), total);
        assert!(read_hdr_log(b"Tag=x,0.1,1.0,2.0,notbase64!!\n").is_err());
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    #[test]
    fn percentile_table_has_hdrhistograms_columns_and_footer() {
        let h = sample();
        let t = percentile_table(&h, 5);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        // The first row: the minimum, at percentile 0.
        assert_eq!(
            lines[2],
            "       1.000 0.000000000000          1           1.00"
        );
        let n = lines.len();
        assert_eq!(
            lines[n - 3..],
            [
                "#[Mean    =     5000.505, StdDeviation   =     2886.752]",
                "#[Max     =    10002.431, Total count    =        10000]",
                "#[Buckets =           26, SubBuckets     =         2048]",
            ],
            "{t}"
        );
        // The last row is at 100 %, with no 1/(1-Percentile), and counts everything.
        let last: Vec<&str> = lines[n - 4].split_whitespace().collect();
        assert_eq!(last, ["10002.431", "1.000000000000", "10000"]);
    }

    #[test]
    fn percentile_table_total_count_is_cumulative() {
        let mut h = latency_histogram();
        for v in [1_000u64, 1_000, 2_000, 50_000, 50_000, 50_000, 900_000] {
            record(&mut h, v);
        }
        let t = percentile_table(&h, 5);
        let rows: Vec<Vec<f64>> = t
            .lines()
            .skip(2)
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().map(|x| x.parse().unwrap()).collect())
            .collect();
        assert!(rows.len() > 5, "{t}");
        let mut previous = 0.0;
        for r in &rows {
            let (value_ns, total) = ((r[0] * 1000.0).round() as u64, r[2]);
            assert!(total >= previous, "{t}");
            previous = total;
            // TotalCount is how many samples lie at or below the row's value.
            assert_eq!(total as u64, h.count_between(1, value_ns), "{t}");
            if r[1] < 1.0 {
                assert!((r[3] - 1.0 / (1.0 - r[1])).abs() < 0.01, "{t}");
            }
        }
        assert_eq!(rows.last().unwrap()[2] as u64, h.len());
    }

    #[test]
    fn percentile_table_of_nothing_is_headers_and_zeros() {
        let t = percentile_table(&latency_histogram(), 5);
        assert_eq!(t.lines().count(), 5, "{t}");
        assert!(t.contains("Total count    =            0"), "{t}");
    }
}
