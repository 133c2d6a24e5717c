//! Latency histograms: one HdrHistogram per worker (1 ns to 60 s at 3 significant
//! digits), merged at report time, summarised as the percentiles people compare
//! (p50 … p99.99, max), and printed as HdrHistogram's percentile distribution table,
//! the one users of sockperf and wrk2 know. Interval logs are `metrics::hlog`.

use hdrhistogram::Histogram;
use serde_json::{Map, Value};

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

#[cfg(test)]
mod tests {
    use super::*;

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
