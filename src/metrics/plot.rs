//! Percentile-distribution plots as SVG: latency against percentile on the usual
//! logarithmic "nines" axis (x = 1/(1-p): 0 %, 90 %, 99 %, 99.9 % … equally spaced), one
//! line per run so that several runs can be compared on one picture.

use hdrhistogram::Histogram;
use std::fmt::Write as _;

const W: f64 = 900.0;
const H: f64 = 520.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 70.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// (percentile as a fraction, latency in microseconds) points of one run.
fn curve(h: &Histogram<u64>, max_nines: f64) -> Vec<(f64, f64)> {
    let mut pts = Vec::new();
    let steps = 200;
    for i in 0..=steps {
        let nines = max_nines * f64::from(i) / f64::from(steps);
        let q = 1.0 - 10f64.powf(-nines);
        pts.push((nines, h.value_at_quantile(q) as f64 / 1000.0));
    }
    pts
}

/// Renders the runs, each `(label, histogram in ns)`, as one SVG document.
pub fn percentile_svg(title: &str, runs: &[(String, &Histogram<u64>)]) -> String {
    // Show as many nines as the largest run can support, between 2 and 6.
    let max_count = runs.iter().map(|(_, h)| h.len()).max().unwrap_or(0).max(1);
    let max_nines = (max_count as f64).log10().floor().clamp(2.0, 6.0);
    let curves: Vec<_> = runs.iter().map(|(_, h)| curve(h, max_nines)).collect();
    let y_max = curves
        .iter()
        .flat_map(|c| c.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    let y_top = nice_ceiling(y_max);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x = |nines: f64| LEFT + pw * nines / max_nines;
    let y = |us: f64| TOP + ph * (1.0 - us / y_top);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    // Grid and x labels: 0 %, 90 %, 99 %, …
    for n in 0..=max_nines as u32 {
        let px = x(f64::from(n));
        let label = match n {
            0 => "0%".to_string(),
            _ => format!("{}%", trim_float(100.0 * (1.0 - 10f64.powi(-(n as i32))))),
        };
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#ddd"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            TOP + ph,
            TOP + ph + 18.0
        );
    }
    for i in 0..=5 {
        let v = y_top * f64::from(i) / 5.0;
        let py = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + pw,
            LEFT - 8.0,
            py + 4.0,
            trim_float(v)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        LEFT + pw / 2.0,
        H - 25.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(20,{:.1}) rotate(-90)" text-anchor="middle">latency (us)</text>"#,
        TOP + ph / 2.0
    );
    for (i, ((label, h), c)) in runs.iter().zip(&curves).enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut d = String::new();
        for (j, (n, us)) in c.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if j == 0 { "M" } else { "L" },
                x(*n),
                y(*us)
            );
        }
        let _ = writeln!(
            s,
            r#"<path d="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
            d.trim_end()
        );
        let ly = TOP + 16.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="14" height="4" fill="{color}"/><text x="{:.1}" y="{:.1}">{} (n={}, p50 {:.1} us, p99.9 {:.1} us)</text>"#,
            LEFT + 12.0,
            ly - 6.0,
            LEFT + 32.0,
            ly,
            escape(label),
            h.len(),
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.999) as f64 / 1000.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The smallest 1, 2 or 5 times a power of ten at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * p)
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::hist::{latency_histogram, record};

    #[test]
    fn plots_every_run_with_a_legend_and_nines_axis() {
        let mut a = latency_histogram();
        let mut b = latency_histogram();
        for i in 1..=100_000u64 {
            record(&mut a, 10_000 + i);
            record(&mut b, 20_000 + 2 * i);
        }
        let svg = percentile_svg("a <vs> b", &[("kernel".into(), &a), ("xstack".into(), &b)]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<path").count(), 2);
        assert!(svg.contains("kernel (n=100000") && svg.contains("xstack (n=100000"));
        assert!(svg.contains(">99.999%<"), "five nines for 1e5 samples");
        assert!(svg.contains("a &lt;vs&gt; b"));
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0.7), 1.0);
        assert_eq!(nice_ceiling(13.0), 20.0);
        assert_eq!(nice_ceiling(420.0), 500.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
    }
}
