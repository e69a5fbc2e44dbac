//! The epoch rows of a training folder grouped for the training figures: by a key and
//! by epoch, with means and bands, and the captions' summary of the runs used.

use std::collections::{BTreeMap, BTreeSet};

use super::runs::RunStatuses;
use super::stats::BandMethod;
use crate::io::tables::EpochRow;

/// The bands of the training figures: every banded quantity (the loss ratio, λ_min,
/// log10 κ) is non-negative.
pub(super) const BAND: BandMethod = BandMethod::Bootstrap;

/// The dataset (synthetic or not) and the caption's words on the runs of `rows`.
pub(super) fn source(rows: &[&EpochRow], folder: &str) -> (bool, String) {
    fn list<T: Ord + ToString>(v: impl Iterator<Item = T>) -> String {
        let set: BTreeSet<T> = v.collect();
        set.iter().map(T::to_string).collect::<Vec<_>>().join(", ")
    }
    let runs = rows
        .iter()
        .map(|r| &r.run_id)
        .collect::<BTreeSet<_>>()
        .len();
    let text = format!(
        "{runs} runs of {folder}/epochs.csv (config {folder}/config.yaml): {}, depth {}, \
         width {}, n {}, η {}, seeds {}",
        list(rows.iter().map(|r| r.activation.clone())),
        list(rows.iter().map(|r| r.depth)),
        list(rows.iter().map(|r| r.width)),
        list(rows.iter().map(|r| r.n)),
        list(rows.iter().map(|r| Lr(r.lr))),
        list(rows.iter().map(|r| r.seed)),
    );
    (rows.iter().any(|r| r.dataset.contains("synthetic")), text)
}

/// Finite values of one quantity per epoch.
pub(super) type PerEpoch = BTreeMap<i64, Vec<f64>>;

/// One quantity of an epoch row; None when it was not measured.
pub(super) type Quantity = fn(&EpochRow) -> Option<f64>;

/// The finite values of `value` over `rows`, by `key` and then by epoch. Missing
/// (empty) and non-finite cells are left out, and keys or epochs left without values
/// do not appear.
pub(super) fn group_by_epoch<K: Ord>(
    rows: &[&EpochRow], key: impl Fn(&EpochRow) -> K, value: Quantity,
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
pub(super) type LineWithBand = (Vec<(f64, f64)>, Vec<(f64, f64, f64)>);

/// The mean per epoch and its 95% band (`BAND`).
pub(super) fn mean_with_band(per_epoch: &PerEpoch) -> LineWithBand {
    per_epoch
        .iter()
        .map(|(&epoch, v)| {
            let (mean, lo, hi) = BAND.interval(v);
            let x = epoch as f64;
            ((x, mean), (x, lo, hi))
        })
        .unzip()
}

/// A learning rate as a map key, ordered numerically.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Lr(pub f64);

impl Eq for Lr {}

impl std::fmt::Display for Lr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

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
pub(super) struct Epochs<'a> {
    rows: &'a [EpochRow],
    pub statuses: &'a RunStatuses,
    /// Every learning rate and example count in the table, ascending: colour indices.
    pub lrs: Vec<Lr>,
    pub ns: Vec<usize>,
}

impl<'a> Epochs<'a> {
    pub fn new(rows: &'a [EpochRow], statuses: &'a RunStatuses) -> Self {
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

    pub fn rows(&self, keep: impl Fn(&EpochRow) -> bool) -> Vec<&'a EpochRow> {
        self.rows.iter().filter(|r| keep(r)).collect()
    }
}
