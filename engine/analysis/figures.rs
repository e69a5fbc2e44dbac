//! Figures drawn from the CSV outputs (so `wideprobe plot RUN_DIR` can redraw them),
//! as PNG and SVG, with plotters and a bundled font.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::io::table::Table;

static FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

fn register_font() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("could not load the bundled font"))
    }
}

/// One line of a chart, optionally with a band (lower, upper) around it.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub band: Option<Vec<(f64, f64, f64)>>,
    pub color: usize,
    pub dashed: bool,
}

pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn bounds(chart: &Chart) -> (f64, f64, f64, f64) {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for s in &chart.series {
        for &(x, y) in &s.points {
            if x.is_finite() && y.is_finite() {
                xs.push(x);
                ys.push(y);
            }
        }
        for &(x, lo, hi) in s.band.iter().flatten() {
            if x.is_finite() && lo.is_finite() && hi.is_finite() {
                ys.push(lo);
                ys.push(hi);
            }
        }
    }
    let fold = |v: &[f64]| {
        let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        if !lo.is_finite() {
            (0.0, 1.0)
        } else if hi - lo < 1e-12 * (1.0 + lo.abs()) {
            (lo - 0.5, hi + 0.5)
        } else {
            let pad = 0.05 * (hi - lo);
            (lo - pad, hi + pad)
        }
    };
    let (x0, x1) = fold(&xs);
    let (y0, y1) = fold(&ys);
    (x0, x1, y0, y1)
}

fn draw_on<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, chart: &Chart) -> Result<()>
where
    DB::ErrorType: 'static,
{
    plot_on(&root, chart)?;
    root.present().map_err(|e| anyhow!("{e:?}"))?;
    Ok(())
}

/// Plots `chart` on `root` without presenting it, so that several charts can share one
/// drawing (panels) and the file is written once.
fn plot_on<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let (x0, x1, y0, y1) = bounds(chart);
    let mut c = ChartBuilder::on(root)
        .caption(&chart.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| anyhow!("{e:?}"))?;
    c.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    for s in &chart.series {
        let color = PALETTE[s.color % PALETTE.len()];
        if let Some(band) = &s.band {
            let mut poly: Vec<(f64, f64)> = band.iter().map(|&(x, lo, _)| (x, lo)).collect();
            poly.extend(band.iter().rev().map(|&(x, _, hi)| (x, hi)));
            c.draw_series(std::iter::once(Polygon::new(
                poly,
                color.mix(0.18).filled(),
            )))
            .map_err(|e| anyhow!("{e:?}"))?;
        }
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .cloned()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        let style = ShapeStyle::from(&color).stroke_width(2);
        let drawn = if s.dashed {
            c.draw_series(DashedLineSeries::new(points.clone(), 8, 5, style))
                .map_err(|e| anyhow!("{e:?}"))?
        } else {
            c.draw_series(LineSeries::new(points.clone(), style))
                .map_err(|e| anyhow!("{e:?}"))?
        };
        let dashed = s.dashed;
        drawn.label(&s.label).legend(move |(x, y)| {
            if dashed {
                PathElement::new(
                    vec![(x, y), (x + 8, y)],
                    ShapeStyle::from(&color).stroke_width(2),
                )
            } else {
                PathElement::new(
                    vec![(x, y), (x + 20, y)],
                    ShapeStyle::from(&color).stroke_width(2),
                )
            }
        });
        c.draw_series(points.iter().map(|&p| Circle::new(p, 2, color.filled())))
            .map_err(|e| anyhow!("{e:?}"))?;
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    Ok(())
}

/// Writes `<stem>.png` and `<stem>.svg`.
pub fn draw(chart: &Chart, stem: &Path) -> Result<()> {
    register_font()?;
    let png = stem.with_extension("png");
    draw_on(
        BitMapBackend::new(&png, (900, 600)).into_drawing_area(),
        chart,
    )?;
    let svg = stem.with_extension("svg");
    draw_on(SVGBackend::new(&svg, (900, 600)).into_drawing_area(), chart)?;
    Ok(())
}

/// Writes `<stem>.png` and `<stem>.svg` with `charts` as panels of one figure, `cols`
/// panels a row, each panel the size of a single chart.
pub fn draw_panels(charts: &[Chart], cols: usize, stem: &Path) -> Result<()> {
    register_font()?;
    let cols = cols.clamp(1, charts.len().max(1));
    let rows = charts.len().div_ceil(cols).max(1);
    let size = (900 * cols as u32, 600 * rows as u32);
    let png = stem.with_extension("png");
    draw_panels_on(
        BitMapBackend::new(&png, size).into_drawing_area(),
        charts,
        (rows, cols),
    )?;
    let svg = stem.with_extension("svg");
    draw_panels_on(
        SVGBackend::new(&svg, size).into_drawing_area(),
        charts,
        (rows, cols),
    )?;
    Ok(())
}

fn draw_panels_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    charts: &[Chart],
    grid: (usize, usize),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    // Empty cells of the last row stay white.
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    for (area, chart) in root.split_evenly(grid).iter().zip(charts) {
        plot_on(area, chart)?;
    }
    root.present().map_err(|e| anyhow!("{e:?}"))?;
    Ok(())
}

/// Mean and a 95% confidence half-width (Student t for small samples) of `v`.
pub fn mean_ci(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    // Two-sided 97.5% quantiles of Student's t for 1..=10 degrees of freedom, then 1.96.
    const T: [f64; 10] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    ];
    let t = T.get(v.len() - 2).copied().unwrap_or(1.96);
    (mean, t * (var / n).sqrt())
}

/// Rows of the layers table as typed records.
struct LayerRow {
    width: usize,
    n: usize,
    renormalize: bool,
    activation: String,
    layer: usize,
    log10_kappa: f64,
    lambda_min: f64,
    lambda_max: f64,
    max_offdiag_rowsum: f64,
    max_abs_offdiag: f64,
}

fn layer_rows(t: &Table) -> Result<Vec<LayerRow>> {
    let c = |name| t.column(name);
    let (cw, cn, cr, ca, cl, ck, cmin, cmax, crs, cmo) = (
        c("width")?,
        c("n")?,
        c("renormalize")?,
        c("activation")?,
        c("layer")?,
        c("log10_kappa")?,
        c("lambda_min")?,
        c("lambda_max")?,
        c("max_offdiag_rowsum")?,
        c("max_abs_offdiag")?,
    );
    Ok((0..t.rows.len())
        .map(|i| LayerRow {
            width: t.f64(i, cw) as usize,
            n: t.f64(i, cn) as usize,
            renormalize: t.rows[i][cr] == "true",
            activation: t.rows[i][ca].clone(),
            layer: t.f64(i, cl) as usize,
            log10_kappa: t.f64(i, ck),
            lambda_min: t.f64(i, cmin),
            lambda_max: t.f64(i, cmax),
            max_offdiag_rowsum: t.f64(i, crs),
            max_abs_offdiag: t.f64(i, cmo),
        })
        .collect())
}

/// A line (layer, mean) and its optional 95% band (layer, low, high).
type LineWithBand = (Vec<(f64, f64)>, Option<Vec<(f64, f64, f64)>>);

/// Groups values by key, then by layer, and returns one series per key with the mean
/// (and 95% band when `band`) per layer. Keys iterate in order.
fn series_by<K: Ord + Clone>(
    rows: &[&LayerRow],
    key: impl Fn(&LayerRow) -> K,
    value: impl Fn(&LayerRow) -> f64,
    band: bool,
) -> BTreeMap<K, LineWithBand> {
    let mut groups: BTreeMap<K, BTreeMap<usize, Vec<f64>>> = BTreeMap::new();
    for r in rows {
        let v = value(r);
        if v.is_finite() {
            groups
                .entry(key(r))
                .or_default()
                .entry(r.layer)
                .or_default()
                .push(v);
        }
    }
    groups
        .into_iter()
        .map(|(k, layers)| {
            let stats: Vec<(f64, f64, f64)> = layers
                .iter()
                .map(|(&l, v)| {
                    let (m, h) = mean_ci(v);
                    (l as f64, m, h)
                })
                .collect();
            let points = stats.iter().map(|&(x, m, _)| (x, m)).collect();
            let b = band.then(|| stats.iter().map(|&(x, m, h)| (x, m - h, m + h)).collect());
            (k, (points, b))
        })
        .collect()
}

/// The example count the per-width figures use: 500 when present (as in the paper),
/// else the largest.
fn chosen_n(rows: &[LayerRow]) -> usize {
    let ns: Vec<usize> = rows.iter().map(|r| r.n).collect();
    if ns.contains(&500) {
        500
    } else {
        ns.into_iter().max().unwrap_or(0)
    }
}

/// One series per (renormalise, width) of `value`, mean and 95% band over seeds;
/// colour by width, renormalised solid and plain dashed.
fn width_series(sel: &[&LayerRow], widths: &[usize], value: fn(&LayerRow) -> f64) -> Vec<Series> {
    series_by(sel, |r| (r.renormalize, r.width), value, true)
        .into_iter()
        .map(|((renorm, w), (points, band))| Series {
            label: format!("width {w} ({})", renorm_label(renorm)),
            points,
            band,
            color: widths.iter().position(|&x| x == w).unwrap_or(0),
            dashed: !renorm,
        })
        .collect()
}

fn renorm_label(r: bool) -> &'static str {
    if r {
        "renormalised"
    } else {
        "plain"
    }
}

/// Figures 1a-1d and 3a-3b from `layers.csv` and `infinite_width.csv` in `out`.
/// With several activations in the grid, one set of figures per activation (file names
/// end in `_<activation>`); with one, plain names.
pub fn draw_conditioning(out: &Path) -> Result<()> {
    let layers = Table::read(&out.join("layers.csv"))?;
    let infinite = Table::read(&out.join("infinite_width.csv")).ok();
    let dir = out.join("figures");
    std::fs::create_dir_all(&dir)?;
    let column = layers.column("activation")?;
    let mut activations: Vec<String> = layers.rows.iter().map(|r| r[column].clone()).collect();
    activations.sort();
    activations.dedup();
    if activations.len() <= 1 {
        return draw_set(&dir, &layers, infinite.as_ref(), "");
    }
    let only = |t: &Table, act: &str| -> Result<Table> {
        let c = t.column("activation")?;
        Ok(Table {
            header: t.header.clone(),
            rows: t.rows.iter().filter(|r| r[c] == act).cloned().collect(),
        })
    };
    for act in &activations {
        let inf = match &infinite {
            Some(t) => Some(only(t, act)?),
            None => None,
        };
        draw_set(&dir, &only(&layers, act)?, inf.as_ref(), &format!("_{act}"))?;
    }
    Ok(())
}

/// Figures 1a-1d and 3a-3b of one activation's rows; `suffix` ends every file name.
fn draw_set(dir: &Path, layers: &Table, infinite: Option<&Table>, suffix: &str) -> Result<()> {
    let rows = layer_rows(layers)?;
    if rows.is_empty() {
        return Ok(());
    }
    let activations: Vec<String> = {
        let mut a: Vec<String> = rows.iter().map(|r| r.activation.clone()).collect();
        a.sort();
        a.dedup();
        a
    };
    let act_note = activations.join(", ");
    let all: Vec<&LayerRow> = rows.iter().collect();

    // 1a: mean log10 κ per layer, one line per examples/width ratio; renormalised solid.
    let s = series_by(
        &all,
        |r| {
            (
                r.renormalize,
                ((r.n as f64 / r.width as f64) * 1e6).round() as i64,
            )
        },
        |r| r.log10_kappa,
        false,
    );
    let ratios: Vec<i64> = {
        let mut v: Vec<i64> = s.keys().map(|k| k.1).collect();
        v.sort();
        v.dedup();
        v
    };
    let fig1a = Chart {
        title: format!("Fig. 1a: conditioning of the Gram matrix at init ({act_note})"),
        x_label: "layer".into(),
        y_label: "mean log10 κ(Ĝ)".into(),
        series: s
            .into_iter()
            .map(|((renorm, ratio), (points, _))| Series {
                label: format!("n/w = {:.3} ({})", ratio as f64 / 1e6, renorm_label(renorm)),
                points,
                band: None,
                color: ratios.iter().position(|&x| x == ratio).unwrap_or(0),
                dashed: !renorm,
            })
            .collect(),
    };
    draw(
        &fig1a,
        &dir.join(format!("fig1a_log10_kappa_by_ratio{suffix}")),
    )?;

    // 1b: n = 500 (or the largest n), one line per width, 95% band over seeds.
    let n_sel = chosen_n(&rows);
    let sel: Vec<&LayerRow> = rows.iter().filter(|r| r.n == n_sel).collect();
    let widths: Vec<usize> = {
        let mut v: Vec<usize> = sel.iter().map(|r| r.width).collect();
        v.sort();
        v.dedup();
        v
    };
    let fig1b = Chart {
        title: format!("Fig. 1b: log10 κ(Ĝ) per layer, n = {n_sel}, mean and 95% band over seeds"),
        x_label: "layer".into(),
        y_label: "log10 κ(Ĝ)".into(),
        series: width_series(&sel, &widths, |r| r.log10_kappa),
    };
    draw(
        &fig1b,
        &dir.join(format!("fig1b_log10_kappa_by_width{suffix}")),
    )?;

    // 1c / 1d: normalised λ_min and λ_max per layer per width, with the infinite-width line.
    for (fig, name, pick, column) in [
        (
            "1c",
            "λ_min",
            (|r: &LayerRow| r.lambda_min) as fn(&LayerRow) -> f64,
            "lambda_min",
        ),
        (
            "1d",
            "λ_max",
            (|r: &LayerRow| r.lambda_max) as fn(&LayerRow) -> f64,
            "lambda_max",
        ),
    ] {
        let mut series = width_series(&sel, &widths, pick);
        if let Some(t) = infinite {
            if let (Ok(cn), Ok(cl), Ok(cv), Ok(cr)) = (
                t.column("n"),
                t.column("layer"),
                t.column(column),
                t.column("renormalize"),
            ) {
                for renorm in [false, true] {
                    let mut per_layer: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
                    for i in 0..t.rows.len() {
                        if t.f64(i, cn) as usize == n_sel && (t.rows[i][cr] == "true") == renorm {
                            per_layer
                                .entry(t.f64(i, cl) as usize)
                                .or_default()
                                .push(t.f64(i, cv));
                        }
                    }
                    if !per_layer.is_empty() {
                        series.push(Series {
                            label: format!("infinite width ({})", renorm_label(renorm)),
                            points: per_layer
                                .iter()
                                .map(|(&l, v)| (l as f64, mean_ci(v).0))
                                .collect(),
                            band: None,
                            color: 7,
                            dashed: !renorm,
                        });
                    }
                }
            }
        }
        let chart = Chart {
            title: format!("Fig. {fig}: normalised {name} of Ĝ per layer, n = {n_sel}"),
            x_label: "layer".into(),
            y_label: format!("{name}(Ĝ)"),
            series,
        };
        draw(
            &chart,
            &dir.join(format!("fig{fig}_{column}_by_width{suffix}")),
        )?;
    }

    // 3a / 3b: Gershgorin proxies, renormalised (solid) against plain (dashed).
    for (fig, what, pick, file) in [
        (
            "3a",
            "max off-diagonal row sum of Ĝ",
            (|r: &LayerRow| r.max_offdiag_rowsum) as fn(&LayerRow) -> f64,
            "max_offdiag_rowsum",
        ),
        (
            "3b",
            "max |off-diagonal| of Ĝ",
            (|r: &LayerRow| r.max_abs_offdiag) as fn(&LayerRow) -> f64,
            "max_abs_offdiag",
        ),
    ] {
        let chart = Chart {
            title: format!("Fig. {fig}: Gershgorin proxy: {what}, n = {n_sel}"),
            x_label: "layer".into(),
            y_label: what.into(),
            series: width_series(&sel, &widths, pick),
        };
        draw(&chart, &dir.join(format!("fig{fig}_{file}{suffix}")))?;
    }
    Ok(())
}
