//! `xstack plot A.hlog B.hlog -o cmp.svg`: overlays the percentile distributions of
//! several runs, each read from an HdrHistogram interval log (each log's main latency:
//! its untagged intervals, or those tagged `corrected`), as SVG or PNG by the output's
//! extension. `xstack report --plot` draws the merge of several logs instead.

use crate::metrics::hlog::IntervalLog;
use crate::metrics::plot::{self, Curve, PlotFormat};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

pub fn run(logs: &[PathBuf], output: &Path, title: &str) -> anyhow::Result<()> {
    let format = PlotFormat::of_path(output)?;
    let mut runs = Vec::new();
    for path in logs {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let log = IntervalLog::parse(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "{} is not an HdrHistogram interval log: {e}",
                path.display()
            )
        })?;
        let Some(tag) = log.primary_tag() else {
            bail!(
                "{} holds no untagged or 'corrected' intervals (xstack report --tag reads others)",
                path.display()
            );
        };
        let Some(h) = log.merged(tag).filter(|h| !h.is_empty()) else {
            bail!("{} holds no samples", path.display());
        };
        let label = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        runs.push((label, h));
    }
    let curves: Vec<Curve> = runs.iter().map(|(l, h)| Curve::new(l, h)).collect();
    std::fs::write(output, plot::render(format, title, &curves)?)
        .with_context(|| format!("cannot write {}", output.display()))?;
    eprintln!("xstack: wrote {} ({} runs)", output.display(), runs.len());
    Ok(())
}
