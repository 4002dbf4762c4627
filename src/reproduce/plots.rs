//! Report plots, each written as PNG and SVG with plotters: test-accuracy curves, the
//! memorisation curve, each run's per-epoch difference from its base, the realised noise
//! transition matrix and a 2-D (PCA) map of the RM embeddings coloured by clean label with
//! flipped samples marked.

use super::report::RunResult;
use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use rmd_data::noise::NoiseLabels;
use rmd_nn::relations::RelationGraph;
use rmd_store::{Artifact, Store};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Points drawn in the embedding map.
const MAP_POINTS: usize = 4000;

/// Registers the bundled font as "sans-serif" for PNG text (once per process).
pub(crate) fn register_font() {
    REGISTER.call_once(|| {
        // The bundled font is valid; a failure would only leave PNG text unrendered.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e}")
}

/// Draws one chart into `<out>/<stem>.png` and `<out>/<stem>.svg`; returns both names.
fn both(
    out: &Path,
    stem: &str,
    size: (u32, u32),
    draw_png: impl Fn(DrawingArea<BitMapBackend, Shift>) -> anyhow::Result<()>,
    draw_svg: impl Fn(DrawingArea<SVGBackend, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<String>> {
    register_font();
    let png = format!("{stem}.png");
    let svg = format!("{stem}.svg");
    // A failed write (a full disk, say) names the plot being written, in plain words.
    let writing = |dest: &Path, e: &dyn std::fmt::Display| anyhow!("writing {}: {e}", dest.display());
    let png_dest = out.join(&png);
    rmd_store::output::write_via(&png_dest, |path| -> anyhow::Result<()> {
        let root = BitMapBackend::new(path, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| writing(&png_dest, &e))?;
        draw_png(root.clone())?;
        root.present().map_err(|e| writing(&png_dest, &e))
    })?;
    let svg_dest = out.join(&svg);
    rmd_store::output::write_via(&svg_dest, |path| -> anyhow::Result<()> {
        let root = SVGBackend::new(path, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| writing(&svg_dest, &e))?;
        draw_svg(root.clone())?;
        root.present().map_err(|e| writing(&svg_dest, &e))
    })?;
    Ok(vec![png, svg])
}

macro_rules! both {
    ($out:expr, $stem:expr, $size:expr, |$root:ident| $body:expr) => {
        both($out, $stem, $size, |$root| $body, |$root| $body)
    };
}

/// One epoch of a run's curves: (epoch, test acc, memorised, corrected).
type CurvePoint = (usize, f64, f64, f64);

/// Per epoch, sums of (test acc, memorised, corrected) and the number of seeds.
type EpochSums = BTreeMap<usize, (f64, f64, f64, f64)>;

/// Per run name, the per-epoch mean over seeds of (test acc, memorised, corrected).
fn curves(runs: &[&RunResult]) -> Vec<(String, Vec<CurvePoint>)> {
    let mut order: Vec<String> = Vec::new();
    let mut acc: BTreeMap<String, EpochSums> = BTreeMap::new();
    for r in runs {
        let name = r.label();
        if !order.contains(&name) {
            order.push(name.clone());
        }
        let m = acc.entry(name).or_default();
        for e in &r.epochs {
            let s = m.entry(e.epoch).or_default();
            *s = (s.0 + e.test_acc, s.1 + e.memorised, s.2 + e.corrected, s.3 + 1.0);
        }
    }
    order
        .into_iter()
        .map(|name| {
            let pts = acc[&name].iter().map(|(&ep, s)| (ep, s.0 / s.3, s.1 / s.3, s.2 / s.3)).collect();
            (name, pts)
        })
        .collect()
}

/// Draws the chart's legend at `position`, in the style every report plot shares.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(position)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)
}

fn colour(i: usize) -> RGBColor {
    let c = Palette99::pick(i).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

fn line_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    y_label: &str,
    series: &[(String, Vec<(usize, f64)>)],
    dashed: bool,
) -> anyhow::Result<()> {
    let max_epoch = series.iter().flat_map(|s| s.1.iter().map(|p| p.0)).max().unwrap_or(1).max(2);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(1f64..max_epoch as f64, 0f64..1f64)
        .map_err(err)?;
    chart.configure_mesh().x_desc("epoch").y_desc(y_label).draw().map_err(err)?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = colour(i);
        let points: Vec<(f64, f64)> = pts.iter().map(|&(e, v)| (e as f64, v)).collect();
        let style = c.stroke_width(2);
        if dashed {
            chart.draw_series(DashedLineSeries::new(points, 6, 4, style)).map_err(err)?
        } else {
            chart.draw_series(LineSeries::new(points, style)).map_err(err)?
        }
        .label(name.clone())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

fn heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    m: &[Vec<f64>],
) -> anyhow::Result<()> {
    let c = m.len();
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(40)
        .build_cartesian_2d(0f64..c as f64, c as f64..0f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("noisy label")
        .y_desc("clean label")
        .x_labels(c.min(10))
        .y_labels(c.min(10))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(m.iter().enumerate().flat_map(|(t, row)| {
            row.iter().enumerate().map(move |(n, &v)| {
                let shade = (255.0 * (1.0 - v.clamp(0.0, 1.0))) as u8;
                Rectangle::new(
                    [(n as f64, t as f64), (n as f64 + 1.0, t as f64 + 1.0)],
                    RGBColor(shade, shade, 255).filled(),
                )
            })
        }))
        .map_err(err)?;
    if c <= 20 {
        chart
            .draw_series(m.iter().enumerate().flat_map(|(t, row)| {
                row.iter().enumerate().filter(|(_, v)| **v >= 0.005).map(move |(n, &v)| {
                    let colour = if v > 0.5 { WHITE } else { BLACK };
                    Text::new(
                        format!("{v:.2}"),
                        (n as f64 + 0.2, t as f64 + 0.35),
                        ("sans-serif", 11).into_font().color(&colour),
                    )
                })
            }))
            .map_err(err)?;
    }
    Ok(())
}

/// Top-2 principal components of `x` (`[n, d]`) by power iteration on the covariance.
fn pca2(x: &[f32], n: usize, d: usize) -> Vec<(f64, f64)> {
    let mut mean = vec![0f64; d];
    for r in x.chunks(d) {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += *v as f64 / n as f64;
        }
    }
    let mut cov = vec![0f64; d * d];
    for r in x.chunks(d) {
        for i in 0..d {
            let a = r[i] as f64 - mean[i];
            for j in 0..d {
                cov[i * d + j] += a * (r[j] as f64 - mean[j]);
            }
        }
    }
    let mut comps: Vec<Vec<f64>> = Vec::new();
    for k in 0..2 {
        let mut v: Vec<f64> = (0..d).map(|i| 1.0 + ((i * 7 + k * 13) % 11) as f64 / 11.0).collect();
        for _ in 0..200 {
            let mut w: Vec<f64> = (0..d).map(|i| (0..d).map(|j| cov[i * d + j] * v[j]).sum()).collect();
            for c in &comps {
                let dot: f64 = w.iter().zip(c).map(|(a, b)| a * b).sum();
                w.iter_mut().zip(c).for_each(|(a, b)| *a -= dot * b);
            }
            let norm = w.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-12);
            v = w.into_iter().map(|a| a / norm).collect();
        }
        comps.push(v);
    }
    x.chunks(d)
        .map(|r| {
            let proj =
                |c: &Vec<f64>| r.iter().zip(c).zip(&mean).map(|((v, c), m)| (*v as f64 - m) * c).sum::<f64>();
            (proj(&comps[0]), proj(&comps[1]))
        })
        .collect()
}

fn embedding_map<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    pts: &[(f64, f64)],
    clean: &[u16],
    flipped: &[bool],
    names: &[String],
) -> anyhow::Result<()> {
    let classes = names.len().max(1);
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart.configure_mesh().disable_mesh().x_desc("PC 1").y_desc("PC 2").draw().map_err(err)?;
    let hue = |c: u16| HSLColor(c as f64 / classes as f64, 0.75, 0.5);
    // One series per class, so the legend names the colours (up to 20 classes).
    for (c, name) in names.iter().enumerate() {
        let colour = hue(c as u16);
        let series = chart
            .draw_series(
                pts.iter()
                    .zip(clean)
                    .filter(|(_, l)| **l as usize == c)
                    .map(|(&p, _)| Circle::new(p, 2, colour.filled())),
            )
            .map_err(err)?;
        if names.len() <= 20 {
            series.label(name.clone()).legend(move |(x, y)| Circle::new((x + 8, y), 4, colour.filled()));
        }
    }
    chart
        .draw_series(
            pts.iter()
                .zip(flipped)
                .filter(|(_, f)| **f)
                .map(|(&p, _)| Cross::new(p, 3, BLACK.stroke_width(1))),
        )
        .map_err(err)?
        .label("flipped label")
        .legend(|(x, y)| Cross::new((x + 8, y), 3, BLACK.stroke_width(1)));
    legend(&mut chart, SeriesLabelPosition::MiddleRight)?;
    Ok(())
}

/// Draws every plot of one noise setting (the embedding map only when a teacher graph is
/// given); returns the file names.
pub fn draw_all(
    out: &Path,
    noise_id: &str,
    runs: &[&RunResult],
    noise: &Artifact,
    teacher: Option<&RelationGraph>,
    store: &Store,
) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    let cs = curves(runs);
    let acc: Vec<(String, Vec<(usize, f64)>)> =
        cs.iter().map(|(n, p)| (n.clone(), p.iter().map(|q| (q.0, q.1)).collect())).collect();
    files.extend(both!(out, &format!("accuracy-{noise_id}"), (900, 560), |root| line_chart(
        &root,
        &format!("clean test accuracy ({noise_id})"),
        "test accuracy",
        &acc,
        false
    ))?);

    let memo: Vec<(String, Vec<(usize, f64)>)> =
        cs.iter().map(|(n, p)| (n.clone(), p.iter().map(|q| (q.0, q.2)).collect())).collect();
    let corr: Vec<(String, Vec<(usize, f64)>)> =
        cs.iter().map(|(n, p)| (n.clone(), p.iter().map(|q| (q.0, q.3)).collect())).collect();
    files.extend(both!(out, &format!("memorisation-{noise_id}"), (1200, 520), |root| {
        let (left, right) = root.split_horizontally(600);
        line_chart(
            &left,
            "flipped samples predicted as their noisy label",
            "share (memorised)",
            &memo,
            false,
        )?;
        line_chart(&right, "flipped samples predicted as their clean label", "share (corrected)", &corr, true)
    })?);

    let labels = NoiseLabels::open(noise)?;
    let dataset = store.find(Some("dataset"), &labels.dataset_key)?;
    let names = rmd_data::Dataset::open(&dataset)?.info.classes;
    let classes = names.len();
    let mut counts = vec![vec![0f64; classes]; classes];
    for (&c, &y) in labels.clean.iter().zip(&labels.noisy) {
        counts[c as usize][y as usize] += 1.0;
    }
    let matrix: Vec<Vec<f64>> = counts
        .iter()
        .map(|row| {
            let total: f64 = row.iter().sum();
            row.iter().map(|v| if total > 0.0 { v / total } else { 0.0 }).collect()
        })
        .collect();
    files.extend(both!(out, &format!("transition-{noise_id}"), (720, 680), |root| heatmap(
        &root,
        &format!("realised noise transition P(noisy | clean), {noise_id}"),
        &matrix
    ))?);

    let Some(graph) = teacher else { return Ok(files) };
    let step = (graph.n / MAP_POINTS).max(1);
    let idx: Vec<u32> = (0..graph.n as u32).step_by(step).collect();
    let emb = graph.embeddings_of(&idx);
    let pts = pca2(&emb, idx.len(), graph.dim);
    let clean: Vec<u16> = idx.iter().map(|&i| labels.clean[i as usize]).collect();
    let flipped: Vec<bool> =
        idx.iter().map(|&i| labels.clean[i as usize] != labels.noisy[i as usize]).collect();
    files.extend(both!(out, &format!("embeddings-{noise_id}"), (800, 720), |root| embedding_map(
        &root,
        &format!("teacher embeddings (PCA), colour = clean label, x = flipped ({noise_id})"),
        &pts,
        &clean,
        &flipped,
        &names
    ))?);
    Ok(files)
}

/// A run's mean difference from its base at one epoch (paired by seed).
#[derive(Debug, Clone, PartialEq)]
pub struct EpochDelta {
    /// 1-based epoch.
    pub epoch: usize,
    /// Δ noisy-validation accuracy (None without a validation split).
    pub val: Option<f64>,
    /// Δ clean test accuracy.
    pub test: f64,
    /// Seeds both runs have.
    pub seeds: usize,
}

fn delta_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[(String, Vec<(usize, f64)>)],
) -> anyhow::Result<()> {
    let pts = || series.iter().flat_map(|s| s.1.iter());
    let max_epoch = pts().map(|p| p.0).max().unwrap_or(1).max(2);
    let lo = pts().map(|p| p.1).fold(0.0f64, f64::min);
    let hi = pts().map(|p| p.1).fold(0.0f64, f64::max);
    let pad = ((hi - lo) * 0.1).max(0.005);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(1f64..max_epoch as f64, (100.0 * (lo - pad))..(100.0 * (hi + pad)))
        .map_err(err)?;
    chart.configure_mesh().x_desc("epoch").y_desc("Δ accuracy (points)").draw().map_err(err)?;
    chart
        .draw_series(LineSeries::new(vec![(1.0, 0.0), (max_epoch as f64, 0.0)], BLACK.mix(0.4)))
        .map_err(err)?;
    for (i, (name, points)) in series.iter().enumerate() {
        let c = colour(i);
        let points: Vec<(f64, f64)> = points.iter().map(|&(e, v)| (e as f64, 100.0 * v)).collect();
        chart
            .draw_series(LineSeries::new(points, c.stroke_width(2)))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

/// Draws each run's per-epoch difference from its base (`delta-<noise>.png`/`.svg`): noisy
/// validation accuracy on the left (runs without a validation split left out), clean test
/// accuracy on the right; returns the file names.
pub fn draw_deltas(
    out: &Path,
    noise_id: &str,
    series: &[(String, Vec<EpochDelta>)],
) -> anyhow::Result<Vec<String>> {
    let val: Vec<(String, Vec<(usize, f64)>)> = series
        .iter()
        .filter_map(|(n, d)| {
            Some((n.clone(), d.iter().map(|e| Some((e.epoch, e.val?))).collect::<Option<Vec<_>>>()?))
        })
        .collect();
    let test: Vec<(String, Vec<(usize, f64)>)> =
        series.iter().map(|(n, d)| (n.clone(), d.iter().map(|e| (e.epoch, e.test)).collect())).collect();
    both!(out, &format!("delta-{noise_id}"), (1200, 520), |root| {
        let (left, right) = root.split_horizontally(600);
        delta_chart(&left, &format!("run − its base, noisy validation accuracy ({noise_id})"), &val)?;
        delta_chart(&right, &format!("run − its base, clean test accuracy ({noise_id})"), &test)
    })
}

/// One line of the sweep plot: (purity, mean Δ, std of Δ) per synthetic teacher, and the
/// RM teacher's point(s), marked apart.
#[derive(Debug, Clone)]
pub struct SweepSeries {
    /// Legend entry (the noise setting, with the run when there are several).
    pub name: String,
    /// Synthetic teachers' points, by purity.
    pub points: Vec<(f64, f64, f64)>,
    /// The RM teacher's points.
    pub real_teacher: Vec<(f64, f64, f64)>,
}

fn sweep_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    series: &[SweepSeries],
) -> anyhow::Result<()> {
    let all = || series.iter().flat_map(|s| s.points.iter().chain(&s.real_teacher));
    let lo = all().map(|p| p.1 - p.2).fold(0.0f64, f64::min);
    let hi = all().map(|p| p.1 + p.2).fold(0.0f64, f64::max);
    let pad = ((hi - lo) * 0.1).max(0.005);
    let x_lo = all().map(|p| p.0).fold(1.0f64, f64::min).min(0.2) - 0.02;
    let mut chart = ChartBuilder::on(root)
        .caption("RGRL gain against teacher purity", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_lo..1.02f64, (100.0 * (lo - pad))..(100.0 * (hi + pad)))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("teacher's top-K neighbour agreement with the clean labels")
        .y_desc("Δ val-selected test accuracy (points)")
        .draw()
        .map_err(err)?;
    chart.draw_series(LineSeries::new(vec![(x_lo, 0.0), (1.02, 0.0)], BLACK.mix(0.4))).map_err(err)?;
    for (i, s) in series.iter().enumerate() {
        let c = colour(i);
        let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, 100.0 * p.1)).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
            .map_err(err)?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled()))).map_err(err)?;
        chart
            .draw_series(s.points.iter().chain(&s.real_teacher).map(|p| {
                ErrorBar::new_vertical(
                    p.0,
                    100.0 * (p.1 - p.2),
                    100.0 * p.1,
                    100.0 * (p.1 + p.2),
                    c.stroke_width(1),
                    8,
                )
            }))
            .map_err(err)?;
        chart
            .draw_series(
                s.real_teacher.iter().map(|p| TriangleMarker::new((p.0, 100.0 * p.1), 8, c.filled())),
            )
            .map_err(err)?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

/// Draws the teacher sweep (`sweep.png`, `sweep.svg`); returns the file names.
pub fn draw_sweep(out: &Path, series: &[SweepSeries]) -> anyhow::Result<Vec<String>> {
    both!(out, "sweep", (900, 600), |root| sweep_chart(&root, series))
}

fn rm_curves_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    series: &[(String, Vec<(f64, f64)>)],
) -> anyhow::Result<()> {
    let pts = || series.iter().flat_map(|s| s.1.iter());
    let max_min = pts().map(|p| p.0).fold(1.0f64, f64::max) * 1.05;
    let hi = (pts().map(|p| p.1).fold(0.0f64, f64::max) + 0.05).min(1.0);
    let lo = (pts().map(|p| p.1).fold(1.0f64, f64::min) - 0.05).max(0.0);
    let mut chart = ChartBuilder::on(root)
        .caption("RM teacher: kNN accuracy against training time", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..max_min, lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("training minutes (monitor excluded)")
        .y_desc("kNN accuracy (monitor, clean labels)")
        .draw()
        .map_err(err)?;
    for (i, (name, points)) in series.iter().enumerate() {
        let c = colour(i);
        chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled()))).map_err(err)?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

/// Draws RM curves, kNN accuracy against training minutes, one series per (label, points)
/// (`rm-curves.png`, `rm-curves.svg`); returns the file names.
pub fn draw_rm_curves(out: &Path, series: &[(String, Vec<(f64, f64)>)]) -> anyhow::Result<Vec<String>> {
    both!(out, "rm-curves", (900, 600), |root| rm_curves_chart(&root, series))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_finds_the_direction_of_largest_spread() {
        // Points along (1, 1, 0) with a little spread along (0, 0, 1).
        let mut x = Vec::new();
        for i in 0..50 {
            let t = i as f32 - 25.0;
            x.extend([t, t, 0.1 * ((i % 3) as f32 - 1.0)]);
        }
        let p = pca2(&x, 50, 3);
        let spread1 = p.iter().map(|q| q.0.abs()).fold(0.0, f64::max);
        let spread2 = p.iter().map(|q| q.1.abs()).fold(0.0, f64::max);
        assert!(spread1 > 30.0 && spread2 < 1.0, "{spread1} {spread2}");
    }

    #[test]
    fn the_sweep_plot_is_written_as_png_and_svg() {
        let tmp = tempfile::tempdir().unwrap();
        let series = vec![SweepSeries {
            name: "sym-0.5".into(),
            points: vec![(0.3, -0.01, 0.005), (0.9, 0.05, 0.003)],
            real_teacher: vec![(0.28, -0.02, 0.01)],
        }];
        let files = draw_sweep(tmp.path(), &series).unwrap();
        assert_eq!(files, ["sweep.png", "sweep.svg"]);
        assert_eq!(&std::fs::read(tmp.path().join("sweep.png")).unwrap()[..4], b"\x89PNG");
        let svg = std::fs::read_to_string(tmp.path().join("sweep.svg")).unwrap();
        assert!(svg.contains("sym-0.5") && svg.contains("teacher purity"), "legend and caption in the SVG");
    }
}
