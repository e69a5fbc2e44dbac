//! Conditioning figures (1a-1d, 3a-3b) from `layers.csv` and `infinite_width.csv`, or
//! from rows the caller holds, through the drawing helpers of `figures`. The figures are
//! built as plain data first (`conditioning_figures`), so tests can check them without
//! drawing. Every quantity here is non-negative, so the bands are percentile-bootstrap
//! intervals of the mean over seeds (they stay within the seeds' values).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::figures::{draw_figure_set, subtitle, Chart, Figure, FigureNote, Scale, Series};
use super::stats::BandMethod;
use crate::io::tables::{InfiniteRow, LayerRow, Row};

/// The band method of every conditioning figure.
const BAND: BandMethod = BandMethod::Bootstrap;

/// A line (layer, mean) and its 95% band (layer, low, high).
type LineWithBand = (Vec<(f64, f64)>, Vec<(f64, f64, f64)>);

/// Groups values by key, then by layer, and returns one line per key with the mean and
/// its bootstrap band per layer. Keys iterate in order.
fn series_by<K: Ord + Clone>(
    rows: &[&LayerRow], key: impl Fn(&LayerRow) -> K, value: impl Fn(&LayerRow) -> f64,
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
            let stats: Vec<(f64, f64, f64, f64)> = layers
                .iter()
                .map(|(&l, v)| {
                    let (m, lo, hi) = BAND.interval(v);
                    (l as f64, m, lo, hi)
                })
                .collect();
            let points = stats.iter().map(|&(x, m, _, _)| (x, m)).collect();
            let band = stats.iter().map(|&(x, _, lo, hi)| (x, lo, hi)).collect();
            (k, (points, band))
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

/// One series per (renormalise, width) of `value`, mean and band over seeds; colour by
/// width (one legend row per width), renormalised solid and plain dashed.
fn width_series(sel: &[&LayerRow], widths: &[usize], value: fn(&LayerRow) -> f64) -> Vec<Series> {
    series_by(sel, |r| (r.renormalize, r.width), value)
        .into_iter()
        .map(|((renorm, w), (points, band))| Series {
            label: format!("width {w}"),
            points,
            band: Some(band),
            color: widths.iter().position(|&x| x == w).unwrap_or(0),
            dashed: !renorm,
        })
        .collect()
}

/// The legend rows saying what solid and dashed mean, for the styles present.
pub fn renorm_notes(series: &[Series]) -> Vec<(String, bool)> {
    let mut notes = Vec::new();
    if series.iter().any(|s| !s.dashed) {
        notes.push(("solid: renormalised".to_string(), false));
    }
    if series.iter().any(|s| s.dashed) {
        notes.push(("dashed: plain (not renormalised)".to_string(), true));
    }
    notes
}

/// Figures 1a-1d and 3a-3b from `layers.csv` and `infinite_width.csv` in `out`.
/// With several activations in the grid, one set of figures per activation (file names
/// end in `_<activation>`); with one, plain names. Returns the stems written (each has
/// a `.png`, a `.svg` and a `.json` caption).
pub fn draw_conditioning(out: &Path) -> Result<Vec<PathBuf>> {
    let layers = LayerRow::read(&out.join("layers.csv"))?;
    let infinite = InfiniteRow::read(&out.join("infinite_width.csv")).ok();
    draw_conditioning_rows(out, &layers, infinite.as_deref())
}

/// `draw_conditioning` from rows the caller holds.
pub fn draw_conditioning_rows(
    out: &Path, layers: &[LayerRow], infinite: Option<&[InfiniteRow]>,
) -> Result<Vec<PathBuf>> {
    draw_figure_set(out, |folder| conditioning_figures(layers, infinite, folder))
}

/// The distinct values, ascending.
fn distinct<T: Ord>(values: impl Iterator<Item = T>) -> Vec<T> {
    values.collect::<BTreeSet<T>>().into_iter().collect()
}

/// Every conditioning figure of `layers` (one set per activation when there are
/// several), each with its caption; `folder` names the run folder in captions.
pub fn conditioning_figures(
    layers: &[LayerRow], infinite: Option<&[InfiniteRow]>, folder: &str,
) -> Vec<Figure> {
    let activations = distinct(layers.iter().map(|r| r.activation.clone()));
    let mut figures = Vec::new();
    for act in &activations {
        let rows: Vec<&LayerRow> = layers.iter().filter(|r| &r.activation == act).collect();
        let inf: Option<Vec<&InfiniteRow>> =
            infinite.map(|t| t.iter().filter(|r| &r.activation == act).collect());
        let suffix = if activations.len() > 1 {
            format!("_{act}")
        } else {
            String::new()
        };
        figures.extend(figure_set(&rows, inf.as_deref(), &suffix, folder));
    }
    figures
}

/// The distinct values, ascending, joined by commas.
fn listed<T: Ord + ToString>(values: impl Iterator<Item = T>) -> String {
    let text: Vec<String> = distinct(values).iter().map(T::to_string).collect();
    text.join(", ")
}

/// What the captions say of the rows a figure uses: the runs and the grid.
struct Source {
    synthetic: bool,
    text: String,
}

fn source(rows: &[&LayerRow], folder: &str) -> Source {
    let runs = distinct(rows.iter().map(|r| r.run_id.as_str())).len();
    let text = format!(
        "{runs} runs of {folder}/layers.csv (config {folder}/config.yaml): {}, depth {}, \
         widths {}, n {}, seeds {}",
        listed(rows.iter().map(|r| r.activation.clone())),
        listed(rows.iter().map(|r| r.depth)),
        listed(rows.iter().map(|r| r.width)),
        listed(rows.iter().map(|r| r.n)),
        listed(rows.iter().map(|r| r.seed)),
    );
    Source {
        synthetic: rows.iter().any(|r| r.dataset.contains("synthetic")),
        text,
    }
}

fn figure(stem: String, id: &str, mut chart: Chart, src: &Source, what: &str) -> Figure {
    chart.subtitle = subtitle(src.synthetic, chart.subtitle.as_deref().unwrap_or(""));
    let note = FigureNote {
        figure: id.into(),
        title: chart.title.clone(),
        caption: format!("{what} Data: {}.", src.text),
        synthetic: src.synthetic,
    };
    Figure {
        stem,
        panels: vec![chart],
        note,
    }
}

/// Figures 1a-1d and 3a-3b of one activation's rows; `suffix` ends every file name.
fn figure_set(
    rows: &[&LayerRow], infinite: Option<&[&InfiniteRow]>, suffix: &str, folder: &str,
) -> Vec<Figure> {
    if rows.is_empty() {
        return Vec::new();
    }
    let act = distinct(rows.iter().map(|r| r.activation.clone())).join(", ");
    let mut out = vec![figure(
        format!("fig1a_log10_kappa_by_ratio{suffix}"),
        "1a",
        fig1a(rows, &act),
        &source(rows, folder),
        "Mean over seeds of log10 κ(Ĝ), the condition number of each layer's normalised \
         Gram matrix at initialisation, one colour per (n, width) pair (n/w in the \
         legend), renormalised solid and plain dashed; no band.",
    )];
    // 1b-1d, 3a-3b: n = 500 (or the largest n), one line per width, 95% band over seeds.
    let n = chosen_n(rows);
    let sel: Vec<&LayerRow> = rows.iter().copied().filter(|r| r.n == n).collect();
    let per_width = PerWidth {
        widths: distinct(sel.iter().map(|r| r.width)),
        src: source(&sel, folder),
        sel,
        act: &act,
        n,
        suffix,
    };
    out.push(per_width.fig1b());
    out.extend(per_width.lambda_figures(infinite));
    out.extend(per_width.gershgorin_figures());
    out
}

/// The figures of one activation's rows at one n, one line per width (1b-1d, 3a-3b).
struct PerWidth<'a> {
    sel: Vec<&'a LayerRow>,
    widths: Vec<usize>,
    src: Source,
    act: &'a str,
    n: usize,
    suffix: &'a str,
}

impl PerWidth<'_> {
    /// A chart of `pick` per layer, one line per width, renormalised solid.
    fn chart(&self, title: &str, y: &str, pick: fn(&LayerRow) -> f64) -> Chart {
        let series = width_series(&self.sel, &self.widths, pick);
        let mut chart = Chart::new(title, "layer", y, series);
        chart.subtitle = Some(format!("{}, n = {}, mean over seeds", self.act, self.n));
        chart.notes = renorm_notes(&chart.series);
        chart
    }

    /// The figure of `chart`, its file `fig<id>_<name><suffix>`.
    fn figure(&self, id: &str, name: &str, chart: Chart, what: &str) -> Figure {
        let stem = format!("fig{id}_{name}{}", self.suffix);
        figure(stem, id, chart, &self.src, what)
    }

    fn fig1b(&self) -> Figure {
        let c = self.chart("Fig. 1b: log10 κ(Ĝ) per layer", "log10 κ(Ĝ)", |r| {
            r.log10_kappa
        });
        let what = format!(
            "Mean over seeds of log10 κ(Ĝ) per layer at n = {}, one colour per width, \
             renormalised solid and plain dashed. Band: {}.",
            self.n,
            BAND.describe()
        );
        self.figure("1b", "log10_kappa_by_width", c, &what)
    }

    /// 1c / 1d, with the infinite-width kernel's line when there is one.
    fn lambda_figures(&self, infinite: Option<&[&InfiniteRow]>) -> Vec<Figure> {
        let (n, band) = (self.n, BAND.describe());
        let mut out = Vec::new();
        for (id, name, pick, inf_pick, column, scale) in LAMBDA_FIGURES {
            let mut c = self.chart(
                &format!("Fig. {id}: normalised {name}(Ĝ) per layer"),
                &format!("{name}(Ĝ)"),
                pick,
            );
            if let Some(t) = infinite {
                c.series.extend(infinite_series(t, n, inf_pick));
                c.notes = renorm_notes(&c.series);
            }
            c.y_scale = scale;
            let log = if scale == Scale::Log {
                " on a log axis"
            } else {
                ""
            };
            let what = format!(
                "Mean over seeds of {name} of each layer's normalised Gram matrix Ĝ at \
                 n = {n}{log}, one colour per width, grey: the infinite-width kernel \
                 (mean over seeds), renormalised solid and plain dashed. Band: {band}."
            );
            out.push(self.figure(id, &format!("{column}_by_width"), c, &what));
        }
        out
    }

    /// 3a / 3b: Gershgorin proxies, renormalised (solid) against plain (dashed).
    fn gershgorin_figures(&self) -> Vec<Figure> {
        let (n, band) = (self.n, BAND.describe());
        GERSHGORIN_FIGURES
            .into_iter()
            .map(|(id, what, pick, file)| {
                let c = self.chart(&format!("Fig. {id}: Gershgorin proxy, {what}"), what, pick);
                let caption = format!(
                    "Mean over seeds of the {what} per layer at n = {n}, one colour per \
                     width, renormalised solid and plain dashed. Band: {band}."
                );
                self.figure(id, file, c, &caption)
            })
            .collect()
    }
}

/// A λ figure: (figure, quantity, its value in layers.csv and in infinite_width.csv,
/// file name part, y scale).
type LambdaFigure = (
    &'static str,
    &'static str,
    fn(&LayerRow) -> f64,
    fn(&InfiniteRow) -> f64,
    &'static str,
    Scale,
);

/// Figures 1c / 1d: λ_min spans decades between widths (log axis), λ_max does not.
const LAMBDA_FIGURES: [LambdaFigure; 2] = [
    (
        "1c",
        "λ_min",
        |r| r.lambda_min,
        |r| r.lambda_min,
        "lambda_min",
        Scale::Log,
    ),
    (
        "1d",
        "λ_max",
        |r| r.lambda_max,
        |r| r.lambda_max,
        "lambda_max",
        Scale::Linear,
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

/// Figure 1a: mean log10 κ per layer, one colour per (n, width) pair (two pairs can
/// share a ratio n/w, so the legend names both); renormalised solid, plain dashed.
fn fig1a(rows: &[&LayerRow], act: &str) -> Chart {
    let lines = series_by(rows, |r| (r.n, r.width, r.renormalize), |r| r.log10_kappa);
    let pairs = distinct(lines.keys().map(|k| (k.0, k.1)));
    let series: Vec<Series> = lines
        .into_iter()
        .map(|((n, w, renorm), (points, _))| Series {
            label: format!("n {n}, width {w} (n/w {})", ratio(n, w)),
            points,
            band: None,
            color: pairs.iter().position(|&p| p == (n, w)).unwrap_or(0),
            dashed: !renorm,
        })
        .collect();
    let mut chart = Chart::new(
        "Fig. 1a: conditioning of Ĝ at initialisation",
        "layer",
        "mean log10 κ(Ĝ)",
        series,
    );
    chart.subtitle = Some(format!("{act}, mean over seeds"));
    chart.notes = renorm_notes(&chart.series);
    chart
}

/// n/w with up to three significant digits.
fn ratio(n: usize, w: usize) -> String {
    super::figures_axes::compact(n as f64 / w as f64)
}

/// The infinite-width line of `pick` at n = `n`, per renormalisation (mean over seeds).
fn infinite_series(rows: &[&InfiniteRow], n: usize, pick: fn(&InfiniteRow) -> f64) -> Vec<Series> {
    let mut series = Vec::new();
    for renorm in [true, false] {
        let mut per_layer: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.n == n && r.renormalize == renorm) {
            per_layer.entry(r.layer).or_default().push(pick(r));
        }
        if !per_layer.is_empty() {
            series.push(Series {
                label: "infinite width".into(),
                points: per_layer
                    .iter()
                    .map(|(&l, v)| (l as f64, super::stats::mean(v)))
                    .collect(),
                band: None,
                color: 7,
                dashed: !renorm,
            });
        }
    }
    series
}
