//! `xstack report FILE.hlog…`: reads HdrHistogram interval logs (several runs, or
//! several hosts of one run), adds their histograms up exactly, and prints one report:
//! a row per input (so that an outlier log stands out), the merged percentiles, the time
//! span the intervals cover, and HdrHistogram's percentile distribution table; or, with
//! `--json`, one JSON object; and with `--plot`, the merged percentile distribution.
//!
//! Which histograms: `--tag T` takes the intervals tagged T from every input; without
//! it each input gives its main latency, its untagged intervals (an xstack closed-loop
//! run) or else those tagged `corrected` (open loop). Any input without them is an
//! error, never silently left out.

use crate::metrics::hist::{percentile_table, LatencySummary};
use crate::metrics::hlog::{
    epoch_seconds, merge_exact, utc_from_epoch, IntervalLog, LogReadError, CORRECTED, UNCORRECTED,
};
use crate::metrics::plot::{self, Curve, PlotError, PlotFormat};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// What `xstack report` was asked for.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub logs: Vec<PathBuf>,
    pub tag: Option<String>,
    pub json: bool,
    pub plot: Option<PathBuf>,
    pub title: Option<String>,
}

/// Why there is no report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} is not an HdrHistogram interval log: {error}", path.display())]
    NotALog { path: PathBuf, error: LogReadError },
    #[error(
        "{} holds no interval histograms: not an HdrHistogram interval log, or an empty one",
        path.display()
    )]
    Empty { path: PathBuf },
    #[error("{} has no intervals tagged '{tag}' (its tags: {present})", path.display())]
    NoSuchTag {
        path: PathBuf,
        tag: String,
        present: String,
    },
    #[error(
        "{} has neither untagged nor '{CORRECTED}' intervals: pick one with --tag (its tags: {present})",
        path.display()
    )]
    NoDefault { path: PathBuf, present: String },
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error("cannot write {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Reads the logs, prints the report on stdout, and writes the plot if asked.
pub fn run(opts: &Options) -> Result<(), ReportError> {
    let report = Report::read(&opts.logs, opts.tag.as_deref())?;
    if let Some(path) = &opts.plot {
        let title = opts.title.clone().unwrap_or_else(|| report.default_title());
        report.write_plot(path, &title)?;
        eprintln!("xstack: wrote {}", path.display());
    }
    if opts.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

/// One input: its log and the histograms taken from it.
#[derive(Clone, Debug)]
pub struct Input {
    pub path: PathBuf,
    pub log: IntervalLog,
    /// The tag taken (`None`: the untagged intervals).
    pub tag: Option<String>,
    /// Its intervals with that tag, added up.
    pub merged: Histogram<u64>,
}

impl Input {
    fn intervals(&self) -> usize {
        self.log.with_tag(self.tag.as_deref()).count()
    }

    /// When its first interval with the tag began and its last ended, since the epoch,
    /// if the log says.
    fn span(&self) -> Option<(Duration, Duration)> {
        let mut span: Option<(Duration, Duration)> = None;
        for iv in self.log.with_tag(self.tag.as_deref()) {
            let start = self.log.absolute_start(iv)?;
            let end = start + iv.length;
            span = Some(match span {
                Some((a, b)) => (a.min(start), b.max(end)),
                None => (start, end),
            });
        }
        span
    }

    /// The file, and the instance that wrote it when the log says.
    fn name(&self) -> String {
        match &self.log.instance {
            Some(who) => format!("{} [{who}]", self.path.display()),
            None => self.path.display().to_string(),
        }
    }
}

/// The merged report of several logs.
#[derive(Clone, Debug)]
pub struct Report {
    pub inputs: Vec<Input>,
    /// The tag asked for with `--tag`.
    pub tag: Option<String>,
    pub merged: Histogram<u64>,
}

impl Report {
    /// Reads and merges the logs at `paths`.
    pub fn read(paths: &[PathBuf], tag: Option<&str>) -> Result<Self, ReportError> {
        let mut logs = Vec::new();
        for path in paths {
            let bytes = std::fs::read(path).map_err(|error| ReportError::Read {
                path: path.clone(),
                error,
            })?;
            let log = IntervalLog::parse(&bytes).map_err(|error| ReportError::NotALog {
                path: path.clone(),
                error,
            })?;
            logs.push((path.clone(), log));
        }
        Report::of_logs(logs, tag)
    }

    /// Merges logs already read.
    pub fn of_logs(
        logs: Vec<(PathBuf, IntervalLog)>,
        tag: Option<&str>,
    ) -> Result<Self, ReportError> {
        let mut inputs = Vec::new();
        for (path, log) in logs {
            if log.intervals.is_empty() {
                return Err(ReportError::Empty { path });
            }
            let present = tag_list(&log);
            let chosen = match tag {
                Some(t) if log.tags().contains(&Some(t)) => Some(t.to_string()),
                Some(t) => {
                    return Err(ReportError::NoSuchTag {
                        path,
                        tag: t.to_string(),
                        present,
                    })
                }
                None => match log.primary_tag() {
                    Some(t) => t.map(str::to_string),
                    None => return Err(ReportError::NoDefault { path, present }),
                },
            };
            let merged = log
                .merged(chosen.as_deref())
                .unwrap_or_else(|| unreachable!("the tag is present"));
            inputs.push(Input {
                path,
                log,
                tag: chosen,
                merged,
            });
        }
        let merged = merge_exact(inputs.iter().map(|i| &i.merged))
            .unwrap_or_else(crate::metrics::hist::latency_histogram);
        Ok(Report {
            inputs,
            tag: tag.map(str::to_string),
            merged,
        })
    }

    pub fn samples(&self) -> u64 {
        self.merged.len()
    }

    pub fn intervals(&self) -> usize {
        self.inputs.iter().map(Input::intervals).sum()
    }

    /// From the earliest interval start to the latest end over every input, if each
    /// log says when its intervals were.
    pub fn span(&self) -> Option<(Duration, Duration)> {
        let mut out: Option<(Duration, Duration)> = None;
        for input in &self.inputs {
            let (a, b) = input.span()?;
            out = Some(match out {
                Some((x, y)) => (x.min(a), y.max(b)),
                None => (a, b),
            });
        }
        out
    }

    /// Whether every input's measured window overlaps every other's (the instances of a
    /// scale-out run started with one `--start-at`); `None` when a log does not say when
    /// its intervals were, or there is one input.
    pub fn windows_overlap(&self) -> Option<bool> {
        if self.inputs.len() < 2 {
            return None;
        }
        let spans: Option<Vec<_>> = self.inputs.iter().map(Input::span).collect();
        let spans = spans?;
        let latest_start = spans.iter().map(|s| s.0).max()?;
        let earliest_end = spans.iter().map(|s| s.1).min()?;
        Some(latest_start < earliest_end)
    }

    /// The report as text: inputs, span, merged percentiles, and the table.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let n = self.inputs.len();
        let _ = write!(
            s,
            "xstack report: {n} log{}, {} intervals, {} samples",
            if n == 1 { "" } else { "s" },
            self.intervals(),
            self.samples()
        );
        match self.span() {
            Some((a, b)) => {
                let _ = writeln!(
                    s,
                    ", {} to {} ({:.3} s)",
                    utc_from_epoch(a),
                    utc_from_epoch(b),
                    b.saturating_sub(a).as_secs_f64()
                );
            }
            None => s.push_str(", times unknown (a log has no StartTime or BaseTime)\n"),
        }
        let width = self
            .inputs
            .iter()
            .map(|i| i.name().chars().count())
            .chain([3])
            .max()
            .unwrap_or(3);
        let tag_width = self
            .inputs
            .iter()
            .map(|i| tag_name(i.tag.as_deref()).len())
            .chain([3])
            .max()
            .unwrap_or(3);
        let _ = writeln!(
            s,
            "\n  {:<width$}  {:<tag_width$}  {:>9}  {:>10}  {:>11}  {:>11}  {:>11}",
            "log", "tag", "intervals", "samples", "p50 (us)", "p99 (us)", "max (us)"
        );
        for i in &self.inputs {
            let _ = writeln!(
                s,
                "  {:<width$}  {:<tag_width$}  {:>9}  {:>10}  {}",
                i.name(),
                tag_name(i.tag.as_deref()),
                i.intervals(),
                i.merged.len(),
                row_percentiles(&i.merged)
            );
        }
        if n > 1 {
            let _ = writeln!(
                s,
                "  {:<width$}  {:<tag_width$}  {:>9}  {:>10}  {}",
                "all",
                "",
                self.intervals(),
                self.samples(),
                row_percentiles(&self.merged)
            );
        }
        if self.windows_overlap() == Some(false) {
            s.push_str(
                "\n  warning: the logs' measured windows do not overlap, so their merge is not \
                 one window of load: start the instances with one --start-at\n",
            );
        }
        s.push('\n');
        if self.merged.is_empty() {
            s.push_str("  latency: no samples\n");
        } else {
            let _ = writeln!(
                s,
                "  latency: {}",
                LatencySummary::of(&self.merged).to_line()
            );
        }
        s.push('\n');
        s += &percentile_table(&self.merged, 5);
        s
    }

    /// The report as one JSON object (`schema_version` 1).
    pub fn to_json(&self) -> Value {
        let secs = |d: Duration| epoch_seconds(UNIX_EPOCH + d);
        let inputs: Vec<Value> = self
            .inputs
            .iter()
            .map(|i| {
                let tags: Vec<Value> = i
                    .log
                    .tags()
                    .into_iter()
                    .map(|t| {
                        let ivs: Vec<_> = i.log.with_tag(t).collect();
                        json!({
                            "tag": t,
                            "intervals": ivs.len(),
                            "samples": ivs.iter().map(|iv| iv.histogram.len()).sum::<u64>(),
                        })
                    })
                    .collect();
                let span = i.span();
                json!({
                    "file": i.name(),
                    "instance": i.log.instance,
                    "tag": i.tag,
                    "intervals": i.intervals(),
                    "samples": i.merged.len(),
                    "start_time": i.log.start_time.map(secs),
                    "span_s": span.map(|(a, b)| b.saturating_sub(a).as_secs_f64()),
                    "tags": tags,
                    "latency_us": percentiles_us(&i.merged, &[("p50", 0.5), ("p99", 0.99)]),
                })
            })
            .collect();
        let span = self.span();
        json!({
            "schema_version": 1,
            "tag": self.tag,
            "inputs": inputs,
            "intervals": self.intervals(),
            "samples": self.samples(),
            "start_time": span.map(|s| secs(s.0)),
            "end_time": span.map(|s| secs(s.1)),
            "span_s": span.map(|(a, b)| b.saturating_sub(a).as_secs_f64()),
            "windows_overlap": self.windows_overlap(),
            "latency_us": percentiles_us(
                &self.merged,
                &[("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999), ("p9999", 0.9999)],
            ),
        })
    }

    /// "xstack report: a.hlog, b.hlog".
    pub fn default_title(&self) -> String {
        let names: Vec<String> = self
            .inputs
            .iter()
            .map(|i| {
                i.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| i.name())
            })
            .collect();
        format!("xstack report: {}", names.join(", "))
    }

    /// The curves to plot: the merged latency, and beside a merge of `corrected` ones
    /// the merged `uncorrected`, when every input has it and no tag was asked for.
    pub fn curves(&self) -> Vec<(String, Histogram<u64>)> {
        let label = tag_name(self.inputs.first().and_then(|i| i.tag.as_deref()));
        let same_tag = self.inputs.iter().all(|i| i.tag == self.inputs[0].tag);
        let label = if same_tag { label } else { "latency" };
        let mut out = vec![(label.to_string(), self.merged.clone())];
        let all_corrected = self
            .inputs
            .iter()
            .all(|i| i.tag.as_deref() == Some(CORRECTED));
        if self.tag.is_none() && all_corrected {
            let parts: Option<Vec<Histogram<u64>>> = self
                .inputs
                .iter()
                .map(|i| i.log.merged(Some(UNCORRECTED)))
                .collect();
            if let Some(u) = parts.and_then(|p| merge_exact(p.iter())) {
                out.push((UNCORRECTED.to_string(), u));
            }
        }
        out
    }

    /// Draws the merged percentile distribution to `path` (SVG or PNG by extension).
    pub fn write_plot(&self, path: &Path, title: &str) -> Result<(), ReportError> {
        let format = PlotFormat::of_path(path)?;
        let curves = self.curves();
        let refs: Vec<Curve> = curves.iter().map(|(l, h)| Curve::new(l, h)).collect();
        let bytes = plot::render(format, title, &refs)?;
        std::fs::write(path, bytes).map_err(|error| ReportError::Write {
            path: path.to_path_buf(),
            error,
        })
    }
}

/// A tag as people read it: untagged intervals are the plain latency.
fn tag_name(tag: Option<&str>) -> &str {
    tag.unwrap_or("latency")
}

/// "corrected, uncorrected", or "(untagged)" for untagged intervals.
fn tag_list(log: &IntervalLog) -> String {
    let tags: Vec<&str> = log
        .tags()
        .into_iter()
        .map(|t| t.unwrap_or("(untagged)"))
        .collect();
    if tags.is_empty() {
        "none".into()
    } else {
        tags.join(", ")
    }
}

/// p50, p99 and max of a row, in microseconds, or dashes without samples.
fn row_percentiles(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return format!("{:>11}  {:>11}  {:>11}", "-", "-", "-");
    }
    let us = |ns: u64| ns as f64 / 1000.0;
    format!(
        "{:11.3}  {:11.3}  {:11.3}",
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.99)),
        us(h.max())
    )
}

/// The named quantiles and `max`, in microseconds rounded to the nanosecond; all `null`
/// without samples.
fn percentiles_us(h: &Histogram<u64>, quantiles: &[(&str, f64)]) -> Value {
    let us = |ns: u64| Value::from((ns as f64 / 1000.0 * 1000.0).round() / 1000.0);
    let mut m = serde_json::Map::new();
    for &(name, q) in quantiles {
        let v = if h.is_empty() {
            Value::Null
        } else {
            us(h.value_at_quantile(q))
        };
        m.insert(name.into(), v);
    }
    let max = if h.is_empty() {
        Value::Null
    } else {
        us(h.max())
    };
    m.insert("max".into(), max);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::hist::{latency_histogram, record};
    use crate::metrics::hlog::HdrLogWriter;
    use std::time::SystemTime;

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = latency_histogram();
        for v in values {
            record(&mut h, v);
        }
        h
    }

    /// A log as xstack load writes it: `n` one-second intervals from `start` (epoch
    /// seconds), each holding `per` samples around `base` ns, open loop if asked.
    fn log_bytes(start: u64, n: u64, per: u64, base: u64, open_loop: bool) -> Vec<u8> {
        let mut w = HdrLogWriter::new(
            Vec::new(),
            "test run",
            SystemTime::UNIX_EPOCH + Duration::from_secs(start),
        )
        .unwrap();
        for k in 0..n {
            let h = hist((0..per).map(|i| base + i * 10));
            let (at, len) = (Duration::from_secs(k), Duration::from_secs(1));
            if open_loop {
                w.write(Some(CORRECTED), at, len, &h).unwrap();
                let u = hist((0..per).map(|i| base / 2 + i));
                w.write(Some(UNCORRECTED), at, len, &u).unwrap();
            } else {
                w.write(None, at, len, &h).unwrap();
            }
        }
        w.finish().unwrap()
    }

    fn report(logs: &[(&str, Vec<u8>)], tag: Option<&str>) -> Result<Report, ReportError> {
        let parsed = logs
            .iter()
            .map(|(name, b)| (PathBuf::from(name), IntervalLog::parse(b).unwrap()))
            .collect();
        Report::of_logs(parsed, tag)
    }

    #[test]
    fn two_hosts_merge_exactly_and_each_gets_a_row() {
        let a = log_bytes(1_718_000_000, 3, 1000, 20_000, true);
        let b = log_bytes(1_718_000_001, 3, 500, 900_000, true);
        let r = report(&[("a.hlog", a), ("b.hlog", b)], None).unwrap();
        assert_eq!((r.samples(), r.intervals()), (4500, 6));
        let mut direct = r.inputs[0].merged.clone();
        direct.add(&r.inputs[1].merged).unwrap();
        assert_eq!(r.merged, direct);
        assert_eq!(
            r.span(),
            Some((
                Duration::from_secs(1_718_000_000),
                Duration::from_secs(1_718_000_004)
            ))
        );
        let t = r.to_text();
        assert!(
            t.starts_with(
                "xstack report: 2 logs, 6 intervals, 4500 samples, \
                 2024-06-10T06:13:20.000Z to 2024-06-10T06:13:24.000Z (4.000 s)\n"
            ),
            "{t}"
        );
        let row = |name: &str| {
            t.lines()
                .find(|l| l.trim_start().starts_with(name))
                .unwrap()
        };
        assert!(row("a.hlog").contains("corrected") && row("a.hlog").contains("  3   "));
        assert!(row("b.hlog").contains("500"), "{t}");
        assert!(row("all").contains("4500"), "{t}");
        assert!(t.contains("Value     Percentile TotalCount 1/(1-Percentile)"));
        assert!(t.contains("Total count    =         4500"), "{t}");
        // The outlier log is visible in its own row: b's p50 is 900 us, a's 20 us.
        assert!(
            row("b.hlog").contains("902.") || row("b.hlog").contains("90"),
            "{t}"
        );
        // Plots hold both curves of an open-loop merge.
        let curves = r.curves();
        assert_eq!(curves.len(), 2);
        assert_eq!(
            (curves[0].0.as_str(), curves[0].1.len()),
            ("corrected", 4500)
        );
        assert_eq!(
            (curves[1].0.as_str(), curves[1].1.len()),
            ("uncorrected", 4500)
        );
    }

    #[test]
    fn windows_that_do_not_overlap_are_warned_about() {
        // a: 3 s from t0; b: 3 s from t0 + 1 s (overlap); c: 3 s from t0 + 10 s (none).
        let a = log_bytes(1_718_000_000, 3, 100, 20_000, false);
        let b = log_bytes(1_718_000_001, 3, 100, 20_000, false);
        let c = log_bytes(1_718_000_010, 3, 100, 20_000, false);
        let ok = report(&[("a.hlog", a.clone()), ("b.hlog", b)], None).unwrap();
        assert_eq!(ok.windows_overlap(), Some(true));
        assert!(!ok.to_text().contains("do not overlap"));
        let apart = report(&[("a.hlog", a), ("c.hlog", c)], None).unwrap();
        assert_eq!(apart.windows_overlap(), Some(false));
        assert!(apart
            .to_text()
            .contains("warning: the logs' measured windows do not overlap"));
        assert_eq!(apart.to_json()["windows_overlap"], false);
    }

    #[test]
    fn json_has_the_documented_fields() {
        let a = log_bytes(1_718_000_000, 2, 100, 20_000, true);
        let r = report(&[("a.hlog", a)], None).unwrap();
        let j = r.to_json();
        assert_eq!(j["schema_version"], 1);
        assert_eq!(j["samples"], 200);
        assert_eq!(j["intervals"], 2);
        assert_eq!(j["span_s"], 2.0);
        assert_eq!(j["start_time"], 1_718_000_000.0);
        let lat = &j["latency_us"];
        for k in ["p50", "p90", "p99", "p999", "p9999", "max"] {
            assert!(lat[k].as_f64().unwrap() >= 20.0, "{k}: {lat}");
        }
        let input = &j["inputs"][0];
        assert_eq!(input["file"], "a.hlog");
        assert_eq!(input["tag"], "corrected");
        assert_eq!(input["intervals"], 2);
        assert_eq!(input["samples"], 200);
        assert_eq!(input["start_time"], 1_718_000_000.0);
        assert_eq!(
            input["tags"],
            json!([
                {"tag": "corrected", "intervals": 2, "samples": 200},
                {"tag": "uncorrected", "intervals": 2, "samples": 200},
            ])
        );
        assert!(input["latency_us"]["p99"].is_number());
    }

    #[test]
    fn no_samples_give_nulls_not_zeros() {
        let mut w = HdrLogWriter::new(Vec::new(), "", SystemTime::UNIX_EPOCH).unwrap();
        w.write(
            None,
            Duration::ZERO,
            Duration::from_secs(1),
            &latency_histogram(),
        )
        .unwrap();
        let r = report(&[("e.hlog", w.finish().unwrap())], None).unwrap();
        let j = r.to_json();
        assert_eq!(j["samples"], 0);
        assert!(j["latency_us"]["p50"].is_null() && j["latency_us"]["max"].is_null());
        assert!(r.to_text().contains("latency: no samples"));
        assert!(matches!(
            r.write_plot(Path::new("/nonexistent/x.svg"), "t"),
            Err(ReportError::Plot(PlotError::NoSamples))
        ));
    }

    #[test]
    fn tags_are_picked_or_refused() {
        let open = log_bytes(1_718_000_000, 2, 10, 20_000, true);
        let closed = log_bytes(1_718_000_000, 2, 10, 20_000, false);
        let r = report(&[("o.hlog", open.clone())], Some(UNCORRECTED)).unwrap();
        assert_eq!(r.inputs[0].tag.as_deref(), Some(UNCORRECTED));
        assert_eq!(r.curves().len(), 1, "an asked-for tag is plotted alone");
        // Closed loop is untagged; open and closed merge their main latency.
        let r = report(
            &[("o.hlog", open.clone()), ("c.hlog", closed.clone())],
            None,
        )
        .unwrap();
        assert_eq!(r.samples(), 40);
        assert_eq!(r.curves().len(), 1);
        let e = report(&[("c.hlog", closed)], Some(CORRECTED)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "c.hlog has no intervals tagged 'corrected' (its tags: (untagged))"
        );
        // Another tool's log with tags of its own needs --tag.
        let mut w = HdrLogWriter::new(Vec::new(), "", SystemTime::UNIX_EPOCH).unwrap();
        w.write(
            Some("reads"),
            Duration::ZERO,
            Duration::from_secs(1),
            &hist([1]),
        )
        .unwrap();
        let other = w.finish().unwrap();
        let e = report(&[("x.hlog", other.clone())], None).unwrap_err();
        assert!(
            e.to_string()
                .contains("pick one with --tag (its tags: reads)"),
            "{e}"
        );
        assert_eq!(
            report(&[("x.hlog", other)], Some("reads"))
                .unwrap()
                .samples(),
            1
        );
    }

    #[test]
    fn missing_and_foreign_files_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("xstack-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.hlog");
        let e = Report::read(&[missing], None).unwrap_err();
        assert!(matches!(e, ReportError::Read { .. }));
        assert!(
            e.to_string().starts_with("cannot read ") && e.to_string().contains("missing.hlog")
        );
        let text = dir.join("notes.txt");
        std::fs::write(&text, "hello\nworld\n").unwrap();
        let e = Report::read(&[text], None).unwrap_err();
        assert!(
            e.to_string().ends_with(
                "notes.txt is not an HdrHistogram interval log: \
                 line 1 is neither a comment, the legend nor an interval histogram"
            ),
            "{e}"
        );
        let empty = dir.join("empty.hlog");
        std::fs::write(&empty, "").unwrap();
        assert!(matches!(
            Report::read(&[empty], None).unwrap_err(),
            ReportError::Empty { .. }
        ));
        let good = dir.join("good.hlog");
        std::fs::write(&good, log_bytes(1_718_000_000, 2, 100, 20_000, false)).unwrap();
        let r = Report::read(&[good], None).unwrap();
        let svg = dir.join("r.svg");
        r.write_plot(&svg, &r.default_title()).unwrap();
        let s = std::fs::read_to_string(&svg).unwrap();
        assert!(s.contains("xstack report: good.hlog") && s.contains("latency: n=200"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
