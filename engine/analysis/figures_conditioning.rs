//! Conditioning figures (1a-1d, 3a-3b) from `layers.csv` and `infinite_width.csv`, or
//! from rows the caller holds, through the drawing helpers of `figures`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use super::figures::{draw, Chart, Series};
use super::stats::mean_ci;
use crate::io::tables::{InfiniteRow, LayerRow, Row};

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
fn chosen_n(rows: &[&LayerRow]) -> usize {
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
    let layers = LayerRow::read(&out.join("layers.csv"))?;
    let infinite = InfiniteRow::read(&out.join("infinite_width.csv")).ok();
    draw_conditioning_rows(out, &layers, infinite.as_deref())
}

/// `draw_conditioning` from rows the caller holds.
pub fn draw_conditioning_rows(
    out: &Path,
    layers: &[LayerRow],
    infinite: Option<&[InfiniteRow]>,
) -> Result<()> {
    let dir = out.join("figures");
    std::fs::create_dir_all(&dir)?;
    let activations = distinct(layers.iter().map(|r| r.activation.clone()));
    if activations.len() <= 1 {
        let all: Vec<&LayerRow> = layers.iter().collect();
        let inf: Option<Vec<&InfiniteRow>> = infinite.map(|t| t.iter().collect());
        return draw_set(&dir, &all, inf.as_deref(), "");
    }
    for act in &activations {
        let rows: Vec<&LayerRow> = layers.iter().filter(|r| &r.activation == act).collect();
        let inf: Option<Vec<&InfiniteRow>> =
            infinite.map(|t| t.iter().filter(|r| &r.activation == act).collect());
        draw_set(&dir, &rows, inf.as_deref(), &format!("_{act}"))?;
    }
    Ok(())
}

/// The distinct values, ascending.
fn distinct<T: Ord>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = values.collect();
    v.sort();
    v.dedup();
    v
}

/// Figures 1a-1d and 3a-3b of one activation's rows; `suffix` ends every file name.
fn draw_set(
    dir: &Path,
    rows: &[&LayerRow],
    infinite: Option<&[&InfiniteRow]>,
    suffix: &str,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let act_note = distinct(rows.iter().map(|r| r.activation.clone())).join(", ");
    draw(
        &fig1a(rows, &act_note),
        &dir.join(format!("fig1a_log10_kappa_by_ratio{suffix}")),
    )?;
    // 1b-1d, 3a-3b: n = 500 (or the largest n), one line per width, 95% band over seeds.
    let n_sel = chosen_n(rows);
    let sel: Vec<&LayerRow> = rows.iter().copied().filter(|r| r.n == n_sel).collect();
    let widths = distinct(sel.iter().map(|r| r.width));
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
    for (fig, name, pick, infinite_pick, column) in LAMBDA_FIGURES {
        let mut series = width_series(&sel, &widths, pick);
        if let Some(t) = infinite {
            series.extend(infinite_series(t, n_sel, infinite_pick));
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
    for (fig, what, pick, file) in GERSHGORIN_FIGURES {
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

/// Figures 1c / 1d: (figure, quantity, its value in layers.csv and in
/// infinite_width.csv, file name part).
#[allow(clippy::type_complexity)]
const LAMBDA_FIGURES: [(
    &str,
    &str,
    fn(&LayerRow) -> f64,
    fn(&InfiniteRow) -> f64,
    &str,
); 2] = [
    (
        "1c",
        "λ_min",
        |r| r.lambda_min,
        |r| r.lambda_min,
        "lambda_min",
    ),
    (
        "1d",
        "λ_max",
        |r| r.lambda_max,
        |r| r.lambda_max,
        "lambda_max",
    ),
];

/// A Gershgorin figure: (figure, what, its value, file name part).
type GershgorinFigure = (
    &'static str,
    &'static str,
    fn(&LayerRow) -> f64,
    &'static str,
);

/// Figures 3a / 3b.
const GERSHGORIN_FIGURES: [GershgorinFigure; 2] = [
    (
        "3a",
        "max off-diagonal row sum of Ĝ",
        |r| r.max_offdiag_rowsum,
        "max_offdiag_rowsum",
    ),
    (
        "3b",
        "max |off-diagonal| of Ĝ",
        |r| r.max_abs_offdiag,
        "max_abs_offdiag",
    ),
];

/// Figure 1a: mean log10 κ per layer, one line per examples/width ratio; renormalised
/// solid.
fn fig1a(rows: &[&LayerRow], act_note: &str) -> Chart {
    let s = series_by(
        rows,
        |r| {
            (
                r.renormalize,
                ((r.n as f64 / r.width as f64) * 1e6).round() as i64,
            )
        },
        |r| r.log10_kappa,
        false,
    );
    let ratios = distinct(s.keys().map(|k| k.1));
    Chart {
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
    }
}

/// The infinite-width line of `pick` at n = `n`, per renormalisation (mean over seeds).
fn infinite_series(rows: &[&InfiniteRow], n: usize, pick: fn(&InfiniteRow) -> f64) -> Vec<Series> {
    let mut series = Vec::new();
    for renorm in [false, true] {
        let mut per_layer: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.n == n && r.renormalize == renorm) {
            per_layer.entry(r.layer).or_default().push(pick(r));
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
    series
}
