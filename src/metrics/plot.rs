//! Percentile-distribution plots, as SVG or PNG, drawn with `plotters`.
//!
//! Latency (y) against percentile (x) on HdrHistogram's usual axis: x is 1/(1-p) on a
//! logarithmic scale, so that 90 %, 99 %, 99.9 %, … are equally spaced and the tail gets
//! as much room as the body. The y axis is logarithmic when the latencies shown span
//! more than two decades, linear otherwise. Each curve ends at its maximum, which is
//! marked and labelled; the legend gives each curve's count and key percentiles. Several
//! curves share one picture: the corrected and uncorrected latency of an open-loop run,
//! or several runs.
//!
//! Text is laid out with DejaVu Sans embedded in the binary (the `dejavu` crate, through
//! plotters' `ab_glyph` feature), so rendering needs no system fonts.

use hdrhistogram::Histogram;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// The picture's size in pixels (SVG user units).
pub const WIDTH: u32 = 1000;
pub const HEIGHT: u32 = 600;
/// The percentile axis shows at least 99 % and at most 99.99999 %.
const MIN_NINES: f64 = 2.0;
const MAX_NINES: f64 = 7.0;
/// Points per curve.
const STEPS: u32 = 400;
const FONT: &str = "sans-serif";
/// The height of a line of label text, in pixels.
const LABEL_HEIGHT: i32 = 17;
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// One line of a plot: a latency histogram in nanoseconds and its legend label.
#[derive(Clone, Copy, Debug)]
pub struct Curve<'a> {
    pub label: &'a str,
    pub histogram: &'a Histogram<u64>,
}

impl<'a> Curve<'a> {
    pub fn new(label: &'a str, histogram: &'a Histogram<u64>) -> Self {
        Curve { label, histogram }
    }
}

/// Why a plot was not made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("nothing to plot: no curve holds a sample")]
    NoSamples,
    #[error("{0}: a plot is written as .svg or .png")]
    UnknownFormat(PathBuf),
    #[error("cannot draw the plot: {0}")]
    Draw(String),
    #[error("cannot encode the PNG: {0}")]
    Encode(String),
}

/// The file formats a plot is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotFormat {
    Svg,
    Png,
}

impl PlotFormat {
    /// The format a file name asks for, by its extension.
    pub fn of_path(path: &Path) -> Result<Self, PlotError> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext.to_ascii_lowercase().as_str() {
            "svg" => Ok(PlotFormat::Svg),
            "png" => Ok(PlotFormat::Png),
            _ => Err(PlotError::UnknownFormat(path.to_path_buf())),
        }
    }
}

/// The plot as the bytes of a file of `format`.
pub fn render(format: PlotFormat, title: &str, curves: &[Curve]) -> Result<Vec<u8>, PlotError> {
    match format {
        PlotFormat::Svg => percentile_svg(title, curves).map(String::into_bytes),
        PlotFormat::Png => percentile_png(title, curves),
    }
}

/// The plot as an SVG document.
pub fn percentile_svg(title: &str, curves: &[Curve]) -> Result<String, PlotError> {
    let layout = Layout::of(curves)?;
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, title, &layout).map_err(|e| PlotError::Draw(e.to_string()))?;
        root.present().map_err(|e| PlotError::Draw(e.to_string()))?;
    }
    Ok(svg)
}

/// The plot as a PNG image (8-bit RGB).
pub fn percentile_png(title: &str, curves: &[Curve]) -> Result<Vec<u8>, PlotError> {
    let pixels = percentile_rgb(title, curves)?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|e| PlotError::Encode(e.to_string()))?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| PlotError::Encode(e.to_string()))?;
    writer
        .finish()
        .map_err(|e| PlotError::Encode(e.to_string()))?;
    Ok(out)
}

/// The plot's pixels, RGB, row by row.
fn percentile_rgb(title: &str, curves: &[Curve]) -> Result<Vec<u8>, PlotError> {
    let layout = Layout::of(curves)?;
    register_font();
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, title, &layout).map_err(|e| PlotError::Draw(e.to_string()))?;
        root.present().map_err(|e| PlotError::Draw(e.to_string()))?;
    }
    Ok(pixels)
}

/// Makes the embedded font plotters' sans-serif, once.
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Cannot fail: the bytes are a valid TrueType font.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

/// How latency maps to the y axis.
#[derive(Clone, Copy, Debug, PartialEq)]
enum YScale {
    /// y is the latency in microseconds.
    Linear { top: f64, step: f64 },
    /// y is log10 of the latency in microseconds.
    Log { bottom: f64, top: f64 },
}

impl YScale {
    /// A linear scale for latencies up to `hi`, unless `lo` to `hi` spans more than two
    /// decades.
    fn for_range(lo: f64, hi: f64) -> Self {
        let lo = lo.max(1e-3);
        let hi = hi.max(lo);
        if hi / lo > 100.0 {
            YScale::Log {
                bottom: lo.log10().floor(),
                top: hi.log10() + 0.12,
            }
        } else {
            let step = nice_ceiling(hi * 1.08 / 5.0);
            YScale::Linear {
                top: (hi * 1.08 / step).ceil() * step,
                step,
            }
        }
    }

    fn map(&self, us: f64) -> f64 {
        match self {
            YScale::Linear { .. } => us,
            YScale::Log { .. } => us.max(1e-3).log10(),
        }
    }

    fn unmap(&self, y: f64) -> f64 {
        match self {
            YScale::Linear { .. } => y,
            YScale::Log { .. } => 10f64.powf(y),
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        match *self {
            YScale::Linear { top, .. } => 0.0..top,
            YScale::Log { bottom, top } => bottom..top,
        }
    }

    /// Where the grid lines and labels go (in axis units): multiples of the step, or 1, 2
    /// and 5 times each power of ten.
    fn key_points(&self) -> Vec<f64> {
        match *self {
            YScale::Linear { top, step } => (0..)
                .map(|i| f64::from(i) * step)
                .take_while(|&v| v <= top + step * 1e-9)
                .collect(),
            YScale::Log { bottom, top } => {
                let mut out = Vec::new();
                let mut e = bottom.floor() as i32;
                while f64::from(e) <= top {
                    for m in [1.0, 2.0, 5.0] {
                        let y = (m * 10f64.powi(e)).log10();
                        if y >= bottom - 1e-9 && y <= top {
                            out.push(y);
                        }
                    }
                    e += 1;
                }
                out
            }
        }
    }
}

/// One curve, ready to draw: points in axis units and where its maximum is.
#[derive(Clone, Debug)]
struct Line {
    legend: String,
    points: Vec<(f64, f64)>,
    max_at: (f64, f64),
    max_us: f64,
}

/// What the picture will show, computed before anything is drawn.
#[derive(Clone, Debug)]
struct Layout {
    /// The x axis runs from 0 to this many nines (x = log10(1/(1-p))).
    nines: f64,
    y: YScale,
    lines: Vec<Line>,
}

impl Layout {
    fn of(curves: &[Curve]) -> Result<Self, PlotError> {
        let shown: Vec<&Curve> = curves.iter().filter(|c| !c.histogram.is_empty()).collect();
        if shown.is_empty() {
            return Err(PlotError::NoSamples);
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        let most = shown.iter().map(|c| c.histogram.len()).max().unwrap_or(1);
        // 100 001 samples show five nines, not six.
        let nines = ((most as f64).log10() - 0.01)
            .ceil()
            .clamp(MIN_NINES, MAX_NINES);
        let lo = shown
            .iter()
            .map(|c| us(c.histogram.min()))
            .fold(f64::MAX, f64::min);
        let hi = shown
            .iter()
            .map(|c| us(c.histogram.max()))
            .fold(0.0, f64::max);
        let y = YScale::for_range(lo, hi);
        let lines = shown
            .iter()
            .map(|c| {
                let h = c.histogram;
                // A curve goes as far as its samples do: p = 1 - 1/n is its last sample.
                let end = (h.len() as f64).log10().min(nines);
                let mut points: Vec<(f64, f64)> = (0..=STEPS)
                    .map(|i| {
                        let x = end * f64::from(i) / f64::from(STEPS);
                        let q = 1.0 - 10f64.powf(-x);
                        (x, y.map(us(h.value_at_quantile(q))))
                    })
                    .collect();
                let max_at = (end, y.map(us(h.max())));
                points.push(max_at);
                Line {
                    legend: format!(
                        "{}: n={}, p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
                        c.label,
                        h.len(),
                        short(us(h.value_at_quantile(0.5))),
                        short(us(h.value_at_quantile(0.99))),
                        short(us(h.value_at_quantile(0.999))),
                        short(us(h.max()))
                    ),
                    points,
                    max_at,
                    max_us: us(h.max()),
                }
            })
            .collect();
        Ok(Layout { nines, y, lines })
    }

    /// Grid lines on the percentile axis: 0 %, 50 %, then every nine.
    fn x_key_points(&self) -> Vec<f64> {
        let mut v = vec![0.0, 2f64.log10()];
        v.extend((1..=self.nines as u32).map(f64::from));
        v
    }
}

/// "0%", "50%", "90%", "99%", "99.9%", … for a point of the x axis.
fn percentile_label(x: f64) -> String {
    if (x - 2f64.log10()).abs() < 1e-9 {
        return "50%".into();
    }
    let n = x.round().max(0.0) as usize;
    if n == 0 {
        return "0%".into();
    }
    let pct = 100.0 - 10f64.powi(2 - n as i32);
    format!("{pct:.*}%", n.saturating_sub(2))
}

/// A latency in microseconds with about three significant digits.
fn short(us: f64) -> String {
    let decimals = match us.abs() {
        v if v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        v if v >= 1.0 => 2,
        _ => 3,
    };
    format!("{us:.decimals$}")
}

/// An axis label for a latency: no trailing zeros.
fn axis_label(us: f64) -> String {
    let s = format!("{us:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// The smallest 1, 2 or 5 times a power of ten at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&c| c >= v * (1.0 - 1e-12))
        .unwrap_or(10.0 * p)
}

/// A linear axis whose grid lines and labels are exactly at `keys`.
#[derive(Clone, Debug)]
struct Axis {
    range: std::ops::Range<f64>,
    keys: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let f = if span > 0.0 {
            (v - self.range.start) / span
        } else {
            0.5
        };
        limit.0 + (f64::from(limit.1 - limit.0) * f).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.keys.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    layout: &Layout,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let x_keys = layout.x_key_points();
    let y_keys = layout.y.key_points();
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(16)
        .margin_right(40)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(
            Axis {
                range: 0.0..layout.nines,
                keys: x_keys,
            },
            Axis {
                range: layout.y.range(),
                keys: y_keys,
            },
        )?;
    let y_label = |y: &f64| axis_label(layout.y.unmap(*y));
    let y_desc = match layout.y {
        YScale::Linear { .. } => "latency (µs)",
        YScale::Log { .. } => "latency (µs, log scale)",
    };
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc(y_desc)
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&y_label)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .bold_line_style(BLACK.mix(0.15))
        .draw()?;
    for (i, line) in layout.lines.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(line.legend.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
        // The maximum: a dot at the end of the curve.
        chart.draw_series(std::iter::once(Circle::new(line.max_at, 5, color.filled())))?;
    }
    // Its label goes above and left of the dot (below it when the dot is at the top), and
    // labels that would overlap are moved down, one under the other.
    let top = chart.plotting_area().get_pixel_range().1.start;
    let mut marks: Vec<(usize, (i32, i32))> = layout
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| (i, chart.backend_coord(&l.max_at)))
        .collect();
    marks.sort_by_key(|&(_, (_, y))| y);
    let mut last_top = i32::MIN;
    for (i, (x, y)) in marks {
        let above = y - 8 - LABEL_HEIGHT;
        let want = if above < top { y + 8 } else { above };
        let label_top = want.max(last_top.saturating_add(LABEL_HEIGHT + 1));
        last_top = label_top;
        let color = PALETTE[i % PALETTE.len()];
        let style = TextStyle::from((FONT, 14).into_font())
            .color(&color)
            .pos(Pos::new(HPos::Right, VPos::Top));
        root.draw(&Text::new(
            format!("max {} µs", short(layout.lines[i].max_us)),
            (x - 8, label_top),
            style,
        ))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::hist::{latency_histogram, record};

    /// Latencies as a real ping-pong run records them: a body near 20 µs, a tail to a few
    /// hundred, and one stall of 4 ms.
    fn recorded_run() -> (Histogram<u64>, Histogram<u64>) {
        let (mut corrected, mut uncorrected) = (latency_histogram(), latency_histogram());
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for i in 0..50_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let base = 18_000 + x % 6_000;
            let v = if i % 1000 == 0 {
                base + (x % 300_000)
            } else {
                base
            };
            record(&mut uncorrected, v);
            record(&mut corrected, if i % 10_000 == 0 { 4_000_000 } else { v });
        }
        (corrected, uncorrected)
    }

    /// The text of every `<text>` element, trimmed.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                let body = &t[t.find('>')? + 1..];
                Some(body[..body.find("</text>")?].trim().to_string())
            })
            .collect()
    }

    #[test]
    fn svg_has_the_nines_axis_the_max_and_both_curves() {
        let (c, u) = recorded_run();
        let svg = percentile_svg(
            "xstack load udp echo pingpong 198.18.0.2:7, 16 flows, 64 B",
            &[Curve::new("corrected", &c), Curve::new("uncorrected", &u)],
        )
        .unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        let texts = texts(&svg);
        let has = |t: &str| texts.iter().any(|x| x == t);
        for label in ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"] {
            assert!(has(label), "no {label} in {texts:?}");
        }
        assert!(!has("99.9999%"), "5e4 samples show five nines");
        assert!(has(
            "xstack load udp echo pingpong 198.18.0.2:7, 16 flows, 64 B"
        ));
        assert!(
            has("percentile") && has("latency (µs, log scale)"),
            "{texts:?}"
        );
        // The maximum of each curve, marked (4 ms for corrected, the tail for uncorrected).
        assert!(has("max 4002 µs"), "{texts:?}");
        assert_eq!(texts.iter().filter(|t| t.starts_with("max ")).count(), 2);
        assert!(texts
            .iter()
            .any(|t| t.starts_with("corrected: n=50000, p50 ")));
        assert!(texts
            .iter()
            .any(|t| t.starts_with("uncorrected: n=50000, p50 ")));
        // One line per curve in its colour (the legend's marks are thicker).
        for c in &PALETTE[..2] {
            let stroke = format!(
                "stroke=\"#{:02X}{:02X}{:02X}\" stroke-width=\"2\"",
                c.0, c.1, c.2
            );
            let lines = svg.lines().filter(|l| l.starts_with("<polyline"));
            assert_eq!(lines.filter(|l| l.contains(&stroke)).count(), 1, "{stroke}");
        }
    }

    #[test]
    fn titles_are_escaped() {
        let (c, _) = recorded_run();
        let svg = percentile_svg("a <vs> b & c", &[Curve::new("x", &c)]).unwrap();
        assert!(svg.contains("a &lt;vs&gt; b &amp; c"), "{svg}");
    }

    #[test]
    fn png_of_a_real_run_is_a_picture() {
        let (c, u) = recorded_run();
        let bytes = percentile_png(
            "run",
            &[Curve::new("corrected", &c), Curve::new("uncorrected", &u)],
        )
        .unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        let px: Vec<&[u8]> = buf[..info.buffer_size()].chunks(3).collect();
        let not_white = px.iter().filter(|p| p != &&[255, 255, 255]).count();
        let near = |p: &[u8], c: RGBColor| {
            p.iter()
                .zip([c.0, c.1, c.2])
                .all(|(&a, b)| a.abs_diff(b) < 40)
        };
        let blue = px.iter().filter(|p| near(p, PALETTE[0])).count();
        let orange = px.iter().filter(|p| near(p, PALETTE[1])).count();
        // Text, grid, axes and two curves: far from blank, far from full.
        assert!(not_white > 5_000 && not_white < px.len() / 2, "{not_white}");
        assert!(blue > 500 && orange > 500, "blue {blue}, orange {orange}");
        // Dark pixels are the text and the axes: the font was found and drawn.
        let dark = px.iter().filter(|p| p.iter().all(|&v| v < 80)).count();
        assert!(dark > 1_000, "{dark}");
    }

    #[test]
    fn narrow_ranges_get_a_linear_axis_and_wide_ones_a_log_axis() {
        assert!(matches!(
            YScale::for_range(10.0, 900.0),
            YScale::Linear { .. }
        ));
        assert!(matches!(
            YScale::for_range(10.0, 1001.0),
            YScale::Log { .. }
        ));
        let lin = YScale::for_range(10.0, 42.0);
        assert_eq!(lin.key_points(), [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
        let log = YScale::for_range(15.0, 4000.0);
        let labels: Vec<String> = log
            .key_points()
            .iter()
            .map(|&y| axis_label(log.unmap(y)))
            .collect();
        assert_eq!(
            labels,
            ["10", "20", "50", "100", "200", "500", "1000", "2000", "5000"]
        );
    }

    #[test]
    fn percentile_labels() {
        let labels: Vec<String> = [0.0, 2f64.log10(), 1.0, 2.0, 3.0, 4.0, 6.0]
            .iter()
            .map(|&x| percentile_label(x))
            .collect();
        assert_eq!(
            labels,
            ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.9999%"]
        );
    }

    #[test]
    fn empty_curves_are_not_plotted_and_nothing_is_an_error() {
        let empty = latency_histogram();
        assert!(matches!(
            percentile_svg("t", &[Curve::new("x", &empty)]),
            Err(PlotError::NoSamples)
        ));
        assert!(matches!(
            percentile_png("t", &[]),
            Err(PlotError::NoSamples)
        ));
        let mut one = latency_histogram();
        record(&mut one, 12_345);
        let svg = percentile_svg("t", &[Curve::new("x", &empty), Curve::new("y", &one)]).unwrap();
        let texts = texts(&svg);
        assert!(texts.iter().any(|t| t.starts_with("y: n=1,")), "{texts:?}");
        assert!(!texts.iter().any(|t| t.starts_with("x: ")), "{texts:?}");
        assert!(texts.iter().any(|t| t == "max 12.4 µs"), "{texts:?}");
    }

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(
            PlotFormat::of_path(Path::new("a.svg")).unwrap(),
            PlotFormat::Svg
        );
        assert_eq!(
            PlotFormat::of_path(Path::new("a.PNG")).unwrap(),
            PlotFormat::Png
        );
        assert!(PlotFormat::of_path(Path::new("a.pdf")).is_err());
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0.7), 1.0);
        assert_eq!(nice_ceiling(13.0), 20.0);
        assert_eq!(nice_ceiling(420.0), 500.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
    }
}
