//! Training and generalisation figures (2a-2d, 4a-4b) drawn from a training run
//! directory's `epochs.csv` and `runs.csv`, as PNG and SVG through the helpers of
//! `figures`. Empty cells (quantities not measured at an epoch) and non-finite values are
//! missing data: they are left out of means, never plotted as zero.
//!
//! The figures are built as plain data first (`training_figures`, `fig2a_series`), so
//! that their aggregation can be checked without drawing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::figures::{draw, draw_panels, Chart, Series};
use super::runs::RunStatuses;
use super::stats::mean_ci;
use crate::io::table::Table;
use crate::io::tables::{EpochRow, Row, RunRow};

/// One figure to draw: its file stem (no extension) and its panels, one chart or several.
pub struct Figure {
    pub stem: String,
    pub panels: Vec<Chart>,
}

/// Panels a row in multi-panel figures.
const PANEL_COLUMNS: usize = 2;

/// The reference lines' colour (grey, the last of the palette).
const REFERENCE_COLOR: usize = 7;

/// Reads `<out>/epochs.csv` and `<out>/runs.csv`, writes every figure that has data into
/// `<out>/figures/` and returns the stems written (each has a `.png` and a `.svg`).
pub fn draw_training(out: &Path) -> Result<Vec<PathBuf>> {
    let epochs = EpochRow::read(&out.join("epochs.csv"))?;
    let runs = RunRow::read(&out.join("runs.csv"))?;
    draw_training_rows(out, &epochs, &runs)
}

/// Writes every training figure that has data into `<out>/figures/`, from rows the
/// caller holds; returns the stems written (each has a `.png` and a `.svg`).
pub fn draw_training_rows(
    out: &Path,
    epochs: &[EpochRow],
    runs: &[RunRow],
) -> Result<Vec<PathBuf>> {
    let dir = out.join("figures");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut stems = Vec::new();
    for figure in training_figures_of(epochs, runs) {
        let stem = dir.join(&figure.stem);
        match figure.panels.as_slice() {
            [chart] => draw(chart, &stem),
            panels => draw_panels(panels, PANEL_COLUMNS, &stem),
        }
        .with_context(|| format!("drawing {}", figure.stem))?;
        stems.push(stem);
    }
    Ok(stems)
}

/// Every training figure that has data, in order 2a, 2b, 2c, 2d, 4a, 4b. A figure with
/// no data (say, no cross-entropy runs for 2c) is left out.
pub fn training_figures(epochs: &Table, runs: &Table) -> Result<Vec<Figure>> {
    Ok(training_figures_of(
        &EpochRow::from_table(epochs)?,
        &RunRow::from_table(runs)?,
    ))
}

/// `training_figures` of rows the caller holds.
pub fn training_figures_of(epochs: &[EpochRow], runs: &[RunRow]) -> Vec<Figure> {
    let statuses = RunStatuses::new(Some(runs));
    let data = Epochs::new(epochs, &statuses);
    let mut figures = Vec::new();
    let mut push = |stem: &str, panels: Vec<Chart>| {
        if !panels.is_empty() {
            figures.push(Figure {
                stem: stem.to_string(),
                panels,
            });
        }
    };

    let fig2a = fig2a_from(&data);
    push(
        "fig2a_loss_prediction",
        chart_if_data(
            "Fig. 2a: loss / PL prediction (eta-aware bound, NTK constants)",
            "(h_t - h*) / (bound_t - h*)",
            fig2a,
        ),
    );
    push("fig2b_eq13", fig2b_panels(&data));
    for (fig, stem, prefix, name) in [
        ("2c", "fig2c_ntk_kappa_relu", "relu", "ReLU"),
        ("2d", "fig2d_ntk_kappa_tanh", "tanh", "tanh"),
    ] {
        push(
            stem,
            chart_if_data(
                &format!("Fig. {fig}: log10 kappa(NTK) during training, cross-entropy, {name}"),
                "log10 kappa(NTK)",
                kappa_series(&data, prefix),
            ),
        );
    }
    for (fig, stem, loss, what) in [
        ("4a", "fig4a_generalization_mse", "mse", "MSE on logits"),
        (
            "4b",
            "fig4b_generalization_mse_softmax",
            "mse_softmax",
            "MSE on softmax outputs",
        ),
    ] {
        push(
            stem,
            chart_if_data(
                &format!(
                    "Fig. {fig}: stability bound (Lemma 2) vs measured generalisation gap, {what}"
                ),
                "log10 of bound / measured gap",
                generalization_series(&data, loss),
            ),
        );
    }
    figures
}

/// Figure 2a's series: per learning rate, the mean over MSE runs that pass the accuracy
/// filter of `ratio_eta_ntk` per epoch with a 95% band, then the reference line y = 1.
/// Empty when no such run has a ratio.
pub fn fig2a_series(epochs: &Table, runs: &Table) -> Result<Vec<Series>> {
    let (epochs, runs) = (EpochRow::from_table(epochs)?, RunRow::from_table(runs)?);
    let statuses = RunStatuses::new(Some(&runs));
    Ok(fig2a_from(&Epochs::new(&epochs, &statuses)))
}

fn fig2a_from(data: &Epochs) -> Vec<Series> {
    let rows = data.rows(|r| r.loss == "mse" && data.statuses.passes(&r.run_id));
    let mut series = lr_series(data, &rows, |r| r.ratio_eta_ntk);
    if let Some((x0, x1)) = epoch_range(&series) {
        series.push(Series {
            label: "ratio = 1 (bound tight)".into(),
            points: vec![(x0, 1.0), (x1, 1.0)],
            band: None,
            color: REFERENCE_COLOR,
            dashed: true,
        });
    }
    series
}

/// Figure 2b: one panel per example count, measured λ_min of the last hidden layer's
/// normalised Gram matrix (solid) against the Eq. 13 lower bound (dashed).
fn fig2b_panels(data: &Epochs) -> Vec<Chart> {
    let rows = data.rows(|r| r.loss == "mse" && data.statuses.passes(&r.run_id));
    let by_n_measured = group_by_epoch(&rows, |r| r.n, |r| r.gram_lambda_min);
    let by_n_lower = group_by_epoch(&rows, |r| r.n, |r| r.lambda_min_lower_eq13);
    let mut ns: Vec<usize> = by_n_measured
        .keys()
        .chain(by_n_lower.keys())
        .copied()
        .collect();
    ns.sort();
    ns.dedup();
    ns.into_iter()
        .filter_map(|n| {
            let mut series = Vec::new();
            for (values, label, color, dashed) in [
                (by_n_measured.get(&n), "lambda_min(Ghat) measured", 0, false),
                (by_n_lower.get(&n), "Eq. 13 lower bound", 3, true),
            ] {
                if let Some(per_epoch) = values {
                    let (points, band) = mean_with_band(per_epoch);
                    series.push(Series {
                        label: label.into(),
                        points,
                        band: Some(band),
                        color,
                        dashed,
                    });
                }
            }
            chart_if_data(
                &format!("Fig. 2b: lambda_min of last hidden Ghat vs Eq. 13 lower bound, n = {n}"),
                "lambda_min(Ghat)",
                series,
            )
            .pop()
        })
        .collect()
}

/// Figures 2c / 2d: `ntk_log10_kappa` of cross-entropy runs whose activation starts with
/// `activation`, per learning rate. Every run that did not fail counts, diverged ones
/// included: the high learning-rate spikes before divergence are the point.
fn kappa_series(data: &Epochs, activation: &str) -> Vec<Series> {
    let rows = data.rows(|r| {
        r.loss == "cross_entropy"
            && r.activation.starts_with(activation)
            && !data.statuses.failed(&r.run_id)
    });
    lr_series(data, &rows, |r| r.ntk_log10_kappa)
}

/// Figures 4a / 4b: per example count, log10 of the mean over runs passing the filter of
/// `gen_bound_grad` (solid) and of the measured `gen_gap` (dashed, same colour). The
/// mean is taken before the log (the log of a mean gap, not a geometric mean); epochs
/// whose mean is not positive have no point.
fn generalization_series(data: &Epochs, loss: &str) -> Vec<Series> {
    let rows = data.rows(|r| r.loss == loss && data.statuses.passes(&r.run_id));
    let bounds = group_by_epoch(&rows, |r| r.n, |r| r.gen_bound_grad);
    let gaps = group_by_epoch(&rows, |r| r.n, |r| r.gen_gap);
    let mut series = Vec::new();
    for &n in &data.ns {
        let color = data.ns.iter().position(|&m| m == n).unwrap_or(0);
        for (values, what, dashed) in [
            (bounds.get(&n), "bound (Lemma 2)", false),
            (gaps.get(&n), "measured gap", true),
        ] {
            if let Some(per_epoch) = values {
                series.push(Series {
                    label: format!("n = {n}: {what}"),
                    points: log10_of_mean(per_epoch),
                    band: None,
                    color,
                    dashed,
                });
            }
        }
    }
    series
}

/// One solid series per learning rate of the mean of `value` per epoch with a 95%
/// band; colours follow the learning rate's place among all the table's rates, so a rate
/// keeps its colour across figures.
fn lr_series(data: &Epochs, rows: &[&EpochRow], value: Quantity) -> Vec<Series> {
    group_by_epoch(rows, |r| Lr(r.lr), value)
        .into_iter()
        .map(|(lr, per_epoch)| {
            let (points, band) = mean_with_band(&per_epoch);
            Series {
                label: format!("lr {}", lr.0),
                points,
                band: Some(band),
                color: data.lrs.iter().position(|&l| l == lr).unwrap_or(0),
                dashed: false,
            }
        })
        .collect()
}

/// A one-chart figure, or none when no series has a point.
fn chart_if_data(title: &str, y_label: &str, series: Vec<Series>) -> Vec<Chart> {
    let has_data = series
        .iter()
        .any(|s| s.points.iter().any(|(x, y)| x.is_finite() && y.is_finite()));
    if !has_data {
        return Vec::new();
    }
    vec![Chart {
        title: title.into(),
        x_label: "epoch".into(),
        y_label: y_label.into(),
        series,
    }]
}

/// The smallest and largest epoch of any point of `series`.
fn epoch_range(series: &[Series]) -> Option<(f64, f64)> {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    (lo <= hi).then_some((lo, hi))
}

/// Finite values of one quantity per epoch.
type PerEpoch = BTreeMap<i64, Vec<f64>>;

/// One quantity of an epoch row; None when it was not measured.
type Quantity = fn(&EpochRow) -> Option<f64>;

/// The finite values of `value` over `rows`, by `key` and then by epoch. Missing
/// (empty) and non-finite cells are left out, and keys or epochs left without values
/// do not appear.
fn group_by_epoch<K: Ord>(
    rows: &[&EpochRow],
    key: impl Fn(&EpochRow) -> K,
    value: Quantity,
) -> BTreeMap<K, PerEpoch> {
    let mut groups: BTreeMap<K, PerEpoch> = BTreeMap::new();
    for r in rows {
        if let Some(v) = value(r).filter(|v| v.is_finite()) {
            groups
                .entry(key(r))
                .or_default()
                .entry(r.epoch as i64)
                .or_default()
                .push(v);
        }
    }
    groups
}

/// A line (epoch, mean) and its 95% band (epoch, low, high).
type LineWithBand = (Vec<(f64, f64)>, Vec<(f64, f64, f64)>);

/// The mean per epoch and its 95% band.
fn mean_with_band(per_epoch: &PerEpoch) -> LineWithBand {
    per_epoch
        .iter()
        .map(|(&epoch, v)| {
            let (mean, half) = mean_ci(v);
            let x = epoch as f64;
            ((x, mean), (x, mean - half, mean + half))
        })
        .unzip()
}

/// log10 of the mean per epoch, only where the mean is positive.
fn log10_of_mean(per_epoch: &PerEpoch) -> Vec<(f64, f64)> {
    per_epoch
        .iter()
        .filter_map(|(&epoch, v)| {
            let mean = mean_ci(v).0;
            (mean > 0.0).then(|| (epoch as f64, mean.log10()))
        })
        .collect()
}

/// A learning rate as a map key, ordered numerically.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Lr(f64);

impl Eq for Lr {}

impl PartialOrd for Lr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Lr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// `epochs.csv` rows with the run statuses that filter them.
struct Epochs<'a> {
    rows: &'a [EpochRow],
    statuses: &'a RunStatuses,
    /// Every learning rate and example count in the table, ascending: colour indices.
    lrs: Vec<Lr>,
    ns: Vec<usize>,
}

impl<'a> Epochs<'a> {
    fn new(rows: &'a [EpochRow], statuses: &'a RunStatuses) -> Self {
        let mut lrs: Vec<Lr> = rows.iter().map(|r| Lr(r.lr)).collect();
        lrs.sort();
        lrs.dedup();
        let mut ns: Vec<usize> = rows.iter().map(|r| r.n).collect();
        ns.sort();
        ns.dedup();
        Epochs {
            rows,
            statuses,
            lrs,
            ns,
        }
    }

    fn rows(&self, keep: impl Fn(&EpochRow) -> bool) -> Vec<&'a EpochRow> {
        self.rows.iter().filter(|r| keep(r)).collect()
    }
}
