//! Training and generalisation figures (2a-2d, 4a-4b) drawn from a training run
//! directory's `epochs.csv` and `runs.csv`, as PNG and SVG through the helpers of
//! `figures`. Empty cells (quantities not measured at an epoch) and non-finite values are
//! missing data: they are left out of means, never plotted as zero.
//!
//! The figures are built as plain data first (`training_figures`, `fig2a_series`), so
//! that their aggregation can be checked without drawing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Result;

pub use super::figures::Figure;
use super::figures::{draw_figure_set, subtitle, Chart, FigureNote, Scale, Series};
use super::figures_epochs::{group_by_epoch, mean_with_band, source, Epochs, Lr, Quantity, BAND};
use super::runs::RunStatuses;
use super::stats::mean;
use crate::io::table::Table;
use crate::io::tables::{EpochRow, Row, RunRow};

/// The reference lines' colour (grey).
const REFERENCE_COLOR: usize = 7;

/// Reads `<out>/epochs.csv` and `<out>/runs.csv`, writes every figure that has data into
/// `<out>/figures/` and returns the stems written (each has a `.png` and a `.svg`).
pub fn draw_training(out: &Path) -> Result<Vec<PathBuf>> {
    let epochs = EpochRow::read(&out.join("epochs.csv"))?;
    let runs = RunRow::read(&out.join("runs.csv"))?;
    draw_training_rows(out, &epochs, &runs)
}

/// Writes every training figure that has data into `<out>/figures/`, from rows the
/// caller holds; returns the stems written (each has a `.png`, a `.svg` and a `.json`
/// caption).
pub fn draw_training_rows(
    out: &Path, epochs: &[EpochRow], runs: &[RunRow],
) -> Result<Vec<PathBuf>> {
    draw_figure_set(out, |folder| training_figures_in(epochs, runs, folder))
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
    training_figures_in(epochs, runs, ".")
}

/// `training_figures_of`, captions naming `folder` as the runs' folder.
fn training_figures_in(epochs: &[EpochRow], runs: &[RunRow], folder: &str) -> Vec<Figure> {
    let statuses = RunStatuses::new(Some(runs));
    let data = Epochs::new(epochs, &statuses);
    let mut figs = Figures {
        folder,
        list: Vec::new(),
    };
    fig2ab(&mut figs, &data);
    fig2cd(&mut figs, &data);
    fig4(&mut figs, &data);
    figs.list
}

/// The figures built so far, and the folder their captions name.
struct Figures<'f> {
    folder: &'f str,
    list: Vec<Figure>,
}

impl Figures<'_> {
    /// Adds a figure of `panels` (none: no figure) whose data are `rows`: the subtitle
    /// says when they are synthetic, the caption `what` and which runs.
    fn push(
        &mut self, stem: &str, id: &str, panels: Vec<Chart>, rows: Vec<&EpochRow>, what: String,
    ) {
        if panels.is_empty() {
            return;
        }
        let (synthetic, runs) = source(&rows, self.folder);
        let panels: Vec<Chart> = panels
            .into_iter()
            .map(|mut c| {
                c.subtitle = subtitle(synthetic, c.subtitle.as_deref().unwrap_or(""));
                c
            })
            .collect();
        self.list.push(Figure {
            stem: stem.into(),
            note: FigureNote {
                figure: id.into(),
                title: panels[0].title.clone(),
                caption: format!("{what} Data: {runs}."),
                synthetic,
            },
            panels,
        });
    }
}

/// Figures 2a and 2b (MSE runs passing the filter).
fn fig2ab(figs: &mut Figures, data: &Epochs) {
    let band = BAND.describe();

    let mse = data.rows(|r| r.loss == "mse" && data.statuses.passes(&r.run_id));
    let fig2a = chart_if_data(
        "Fig. 2a: loss over its Lemma 1 prediction",
        "(h_t − h*) / (bound_t − h*)",
        "MSE, η-aware bound with NTK constants, mean over runs",
        fig2a_from(data),
    );
    figs.push(
        "fig2a_loss_prediction",
        "2a",
        fig2a,
        mse.clone(),
        format!(
            "Mean over MSE runs passing the accuracy filter of ratio_eta_ntk (the loss \
             above its minimum over the η-aware Lemma 1 prediction with NTK constants), one \
             line per learning rate η, all other grid values pooled; grey dashed: ratio 1 \
             (bound tight). Band: {band}."
        ),
    );
    figs.push(
        "fig2b_eq13",
        "2b",
        fig2b_panels(data),
        mse,
        format!(
            "Per example count n (one panel each), the mean over MSE runs passing the \
             accuracy filter of λ_min of the last hidden layer's normalised Gram matrix \
             (solid, band: {band}) and of its Eq. 13 lower bound (dashed, mean only), on a \
             log axis: epochs where the bound's mean is ≤ 0 (vacuous) have no point, and \
             the legend says from which epoch it stays there."
        ),
    );
}

/// Figures 2c and 2d (cross-entropy, ReLU and tanh).
fn fig2cd(figs: &mut Figures, data: &Epochs) {
    let band = BAND.describe();
    for (id, stem, prefix, name) in [
        ("2c", "fig2c_ntk_kappa_relu", "relu", "ReLU"),
        ("2d", "fig2d_ntk_kappa_tanh", "tanh", "tanh"),
    ] {
        let (series, rows) = kappa_series(data, prefix);
        let charts = chart_if_data(
            &format!("Fig. {id}: log10 κ(NTK) during training, {name}"),
            "log10 κ(NTK)",
            "cross-entropy, mean over runs (diverged runs included)",
            series,
        );
        let caption = format!(
            "Mean over cross-entropy {name} runs that did not fail (diverged ones \
             included: their spikes are the point) of log10 κ of the empirical NTK, one \
             line per learning rate η. Band: {band}."
        );
        figs.push(stem, id, charts, rows, caption);
    }
}

/// Figures 4a and 4b (MSE on logits, MSE on softmax outputs).
fn fig4(figs: &mut Figures, data: &Epochs) {
    for (id, stem, loss, what) in [
        ("4a", "fig4a_generalization_mse", "mse", "MSE on logits"),
        (
            "4b",
            "fig4b_generalization_mse_softmax",
            "mse_softmax",
            "MSE on softmax outputs",
        ),
    ] {
        let (series, rows) = generalization_series(data, loss);
        let mut charts = chart_if_data(
            &format!("Fig. {id}: stability bound vs generalisation gap"),
            "bound / measured gap",
            &format!("{what}, mean over runs"),
            series,
        );
        for c in &mut charts {
            c.y_scale = Scale::Log;
            c.notes = vec![
                ("solid: bound (Lemma 2)".into(), false),
                ("dashed: measured gap".into(), true),
            ];
        }
        figs.push(
            stem,
            id,
            charts,
            rows,
            format!(
                "Per example count n (colour), the mean over {what} runs passing the \
                 accuracy filter of the Lemma 2 stability bound gen_bound_grad (solid) and of \
                 the measured generalisation gap, test minus train loss (dashed), on a log \
                 axis; epochs where the mean gap is ≤ 0 have no point. No band."
            ),
        );
    }
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
            label: "ratio 1 (bound tight)".into(),
            points: vec![(x0, 1.0), (x1, 1.0)],
            band: None,
            color: REFERENCE_COLOR,
            dashed: true,
        });
    }
    series
}

/// Figure 2b: one panel per example count, measured λ_min of the last hidden layer's
/// normalised Gram matrix (solid) against the Eq. 13 lower bound (dashed), on a log axis;
/// the bound's label says from which epoch its mean stays ≤ 0 (vacuous).
fn fig2b_panels(data: &Epochs) -> Vec<Chart> {
    let rows = data.rows(|r| r.loss == "mse" && data.statuses.passes(&r.run_id));
    let measured = group_by_epoch(&rows, |r| r.n, |r| r.gram_lambda_min);
    let lower = group_by_epoch(&rows, |r| r.n, |r| r.lambda_min_lower_eq13);
    let ns: BTreeSet<usize> = measured.keys().chain(lower.keys()).copied().collect();
    ns.into_iter()
        .filter_map(|n| {
            let mut series = Vec::new();
            if let Some(per_epoch) = measured.get(&n) {
                let (points, band) = mean_with_band(per_epoch);
                series.push(Series {
                    label: "λ_min(Ĝ) measured".into(),
                    points,
                    band: Some(band),
                    color: 0,
                    dashed: false,
                });
            }
            if let Some(per_epoch) = lower.get(&n) {
                let points: Vec<(f64, f64)> = per_epoch
                    .iter()
                    .map(|(&e, v)| (e as f64, mean(v)))
                    .collect();
                let label = match vacuous_from(&points) {
                    Some(e) => format!("Eq. 13 lower bound (≤ 0, vacuous, from epoch {e})"),
                    None => "Eq. 13 lower bound".into(),
                };
                series.push(Series {
                    label,
                    points,
                    band: None,
                    color: 3,
                    dashed: true,
                });
            }
            let mut chart = chart_if_data(
                &format!("Fig. 2b: λ_min of the last hidden Ĝ, n = {n}"),
                "λ_min(Ĝ)",
                "MSE, measured vs Eq. 13 lower bound, mean over runs",
                series,
            )
            .pop()?;
            chart.y_scale = Scale::Log;
            Some(chart)
        })
        .collect()
}

/// The first epoch from which every later mean is ≤ 0 (None when the last one is
/// positive).
pub fn vacuous_from(points: &[(f64, f64)]) -> Option<i64> {
    let mut from = None;
    for &(e, v) in points.iter().rev() {
        if v <= 0.0 {
            from = Some(e as i64);
        } else {
            break;
        }
    }
    from
}

/// Figures 2c / 2d: `ntk_log10_kappa` of cross-entropy runs whose activation starts with
/// `activation`, per learning rate, and the rows used. Every run that did not fail
/// counts, diverged ones included: the high learning-rate spikes before divergence are
/// the point.
fn kappa_series<'a>(data: &Epochs<'a>, activation: &str) -> (Vec<Series>, Vec<&'a EpochRow>) {
    let rows = data.rows(|r| {
        r.loss == "cross_entropy"
            && r.activation.starts_with(activation)
            && !data.statuses.failed(&r.run_id)
    });
    (lr_series(data, &rows, |r| r.ntk_log10_kappa), rows)
}

/// Figures 4a / 4b: per example count (colour), the mean over runs passing the filter of
/// `gen_bound_grad` (solid) and of the measured `gen_gap` (dashed), both drawn on a log
/// axis (epochs whose mean is not positive have no point); and the rows used.
fn generalization_series<'a>(data: &Epochs<'a>, loss: &str) -> (Vec<Series>, Vec<&'a EpochRow>) {
    let rows = data.rows(|r| r.loss == loss && data.statuses.passes(&r.run_id));
    let bounds = group_by_epoch(&rows, |r| r.n, |r| r.gen_bound_grad);
    let gaps = group_by_epoch(&rows, |r| r.n, |r| r.gen_gap);
    let mut series = Vec::new();
    for &n in &data.ns {
        let color = data.ns.iter().position(|&m| m == n).unwrap_or(0);
        for (values, dashed) in [(bounds.get(&n), false), (gaps.get(&n), true)] {
            if let Some(per_epoch) = values {
                series.push(Series {
                    label: format!("n = {n}"),
                    points: per_epoch
                        .iter()
                        .map(|(&e, v)| (e as f64, mean(v)))
                        .collect(),
                    band: None,
                    color,
                    dashed,
                });
            }
        }
    }
    (series, rows)
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
                label: format!("η = {lr}"),
                points,
                band: Some(band),
                color: data.lrs.iter().position(|&l| l == lr).unwrap_or(0),
                dashed: false,
            }
        })
        .collect()
}

/// A one-chart figure over epochs, or none when no series has a point.
fn chart_if_data(title: &str, y_label: &str, subtitle: &str, series: Vec<Series>) -> Vec<Chart> {
    let has_data = series
        .iter()
        .any(|s| s.points.iter().any(|(x, y)| x.is_finite() && y.is_finite()));
    if !has_data {
        return Vec::new();
    }
    let mut chart = Chart::new(title, "epoch", y_label, series);
    chart.subtitle = Some(subtitle.into());
    vec![chart]
}

/// The smallest and largest epoch of any point of `series`.
fn epoch_range(series: &[Series]) -> Option<(f64, f64)> {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    (lo <= hi).then_some((lo, hi))
}
