//! Findings 3, 4, 5 and 7: training and generalisation, from epochs.csv of the runs
//! that pass the accuracy filter (runs.csv).

use std::collections::BTreeMap;

use super::findings::{combine, finding, num, part_label, Finding, Verdict};
use super::runs::RunStatuses;
use super::stats::{mean, median};
use crate::io::tables::{value, EpochRow};

/// One quantity of an epoch row; None when it was not measured.
type Quantity = fn(&EpochRow) -> Option<f64>;

/// One run's rows of epochs.csv, by epoch.
struct TrainingRun {
    loss: String,
    lr: f64,
    /// (epoch, row index in the table), sorted by epoch.
    rows: Vec<(usize, usize)>,
}

/// The epochs of the runs that pass the accuracy filter, by run.
pub(super) struct TrainingTable {
    epochs: Vec<EpochRow>,
    runs: BTreeMap<String, TrainingRun>,
    /// Says whether the accuracy filter was applied.
    filter_note: String,
}

impl TrainingTable {
    /// Keeps the runs of `epochs` that pass the accuracy filter of `statuses` (all
    /// runs, noted, when runs.csv is missing).
    pub(super) fn new(epochs: Vec<EpochRow>, statuses: &RunStatuses) -> TrainingTable {
        let mut runs: BTreeMap<String, TrainingRun> = BTreeMap::new();
        let mut excluded = std::collections::BTreeSet::new();
        for (i, row) in epochs.iter().enumerate() {
            if !statuses.passes(&row.run_id) {
                excluded.insert(row.run_id.clone());
                continue;
            }
            runs.entry(row.run_id.clone())
                .or_insert_with(|| TrainingRun {
                    loss: row.loss.clone(),
                    lr: row.lr,
                    rows: Vec::new(),
                })
                .rows
                .push((row.epoch, i));
        }
        for run in runs.values_mut() {
            run.rows.sort();
        }
        let filter_note = if statuses.filter_applied() {
            format!(
                "{} runs pass the accuracy filter, {} excluded",
                runs.len(),
                excluded.len()
            )
        } else {
            "runs.csv missing: accuracy filter not applied".into()
        };
        TrainingTable {
            epochs,
            runs,
            filter_note,
        }
    }

    fn with_loss<'a>(&'a self, losses: &'a [&str]) -> impl Iterator<Item = &'a TrainingRun> + 'a {
        self.runs
            .values()
            .filter(move |r| losses.contains(&r.loss.as_str()))
    }

    /// (epoch, value) of a run's measured values of `quantity` (NaN left out).
    fn series(&self, run: &TrainingRun, quantity: Quantity) -> Vec<(usize, f64)> {
        run.rows
            .iter()
            .map(|&(e, i)| (e, value(quantity(&self.epochs[i]))))
            .filter(|(_, v)| !v.is_nan())
            .collect()
    }

    /// The run's last recorded `vacuous` flag.
    fn last_vacuous(&self, run: &TrainingRun) -> Option<bool> {
        run.rows
            .iter()
            .rev()
            .find_map(|&(_, i)| self.epochs[i].vacuous)
    }
}

pub(super) fn finding_3(t: &TrainingTable) -> Finding {
    let (mut early, mut late) = (Vec::new(), Vec::new());
    let mut runs = 0;
    for run in t.with_loss(&["mse"]) {
        runs += 1;
        let last = run.rows.last().map_or(0, |r| r.0);
        for (e, v) in t.series(run, |r| r.ratio_eta_ntk) {
            if (1..=3).contains(&e) {
                early.push(v);
            }
            if 3 * e > 2 * last {
                late.push(v);
            }
        }
    }
    if early.is_empty() || late.is_empty() {
        return finding(
            3,
            Verdict::Inconclusive,
            format!(
                "no ratio_eta_ntk values of mse runs ({} mse runs; {})",
                runs, t.filter_note
            ),
        );
    }
    let (me, ml) = (median(&early), median(&late));
    let parts = [Some(me < ml), Some((0.5..=1.5).contains(&ml))];
    finding(
        3,
        combine(&parts),
        format!(
            "median ratio_eta_ntk over epochs 1..3: {} ({} values), over the last third: {} \
             ({} values), {runs} mse runs ({}); (a) {}, (b) {}",
            num(me),
            early.len(),
            num(ml),
            late.len(),
            t.filter_note,
            part_label(parts[0]),
            part_label(parts[1])
        ),
    )
}

pub(super) fn finding_4(t: &TrainingTable) -> Finding {
    let (mut finals, mut ratios) = (Vec::new(), Vec::new());
    for run in t.with_loss(&["mse"]) {
        if let Some(&(_, v)) = t.series(run, |r| r.lambda_min_lower_eq13).last() {
            finals.push(v);
        }
        let gram = t.series(run, |r| r.gram_lambda_min);
        if let (Some(&(0, first)), Some(&(_, last))) = (gram.first(), gram.last()) {
            ratios.push(last / first);
        }
    }
    if finals.is_empty() && ratios.is_empty() {
        return finding(
            4,
            Verdict::Inconclusive,
            format!(
                "no Eq. 13 or gram_lambda_min values of mse runs ({})",
                t.filter_note
            ),
        );
    }
    let vacuous = finals.iter().filter(|&&v| v <= 0.0).count();
    let stable = ratios.iter().filter(|&&r| (0.5..=2.0).contains(&r)).count();
    let parts = [
        (!finals.is_empty()).then_some(2 * vacuous > finals.len()),
        (!ratios.is_empty()).then_some(2 * stable > ratios.len()),
    ];
    finding(
        4,
        combine(&parts),
        format!(
            "final lambda_min_lower_eq13 <= 0 in {vacuous} of {} mse runs (median {}); final / \
             initial gram_lambda_min in [0.5, 2] in {stable} of {} (median {}); {}; (a) {}, (b) {}",
            finals.len(),
            num(median(&finals)),
            ratios.len(),
            num(median(&ratios)),
            t.filter_note,
            part_label(parts[0]),
            part_label(parts[1])
        ),
    )
}

pub(super) fn finding_5(t: &TrainingTable) -> Finding {
    let ce: Vec<&TrainingRun> = t.with_loss(&["cross_entropy"]).collect();
    let (runs, which): (Vec<&TrainingRun>, &str) = if ce.is_empty() {
        (
            t.runs.values().collect(),
            "every loss (no cross_entropy run)",
        )
    } else {
        (ce, "cross_entropy")
    };
    // Per lr: (epoch-0, maximum, final) of each run with an epoch-0 value.
    let mut by_lr: BTreeMap<u64, Vec<(f64, f64, f64)>> = BTreeMap::new();
    for run in runs {
        let s = t.series(run, |r| r.ntk_log10_kappa);
        if let (Some(&(0, start)), Some(&(_, end))) = (s.first(), s.last()) {
            let max = s.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
            // Non-negative floats order like their bit patterns.
            by_lr
                .entry(run.lr.abs().to_bits())
                .or_default()
                .push((start, max, end));
        }
    }
    let Some((&top, top_runs)) = by_lr.iter().next_back() else {
        return finding(
            5,
            Verdict::Inconclusive,
            format!(
                "no ntk_log10_kappa values from epoch 0 of {which} runs ({})",
                t.filter_note
            ),
        );
    };
    let summary = |v: &[(f64, f64, f64)]| {
        let m = |f: fn(&(f64, f64, f64)) -> f64| mean(&v.iter().map(f).collect::<Vec<_>>());
        (m(|x| x.0), m(|x| x.1), m(|x| x.2))
    };
    let (start, max, end) = summary(top_runs);
    let parts = [Some(max > start), Some(end < start)];
    let per_lr: Vec<String> = by_lr
        .iter()
        .map(|(&lr, v)| {
            let (s, m, e) = summary(v);
            format!(
                "lr {} ({} runs): {} -> max {} -> final {}",
                f64::from_bits(lr),
                v.len(),
                num(s),
                num(m),
                num(e)
            )
        })
        .collect();
    finding(
        5,
        combine(&parts),
        format!(
            "mean ntk_log10_kappa of {which} runs, start -> max -> final: {}; highest lr {}: \
             (a) spike {}, (b) settles below the start {}; {}",
            per_lr.join("; "),
            f64::from_bits(top),
            part_label(parts[0]),
            part_label(parts[1]),
            t.filter_note
        ),
    )
}

pub(super) fn finding_7(t: &TrainingTable) -> Finding {
    let (mut flags, mut bounds, mut ms, mut gaps) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in t.with_loss(&["mse", "mse_softmax"]) {
        if let Some(flag) = t.last_vacuous(run) {
            flags.push(flag);
            let last = |q: Quantity| t.series(run, q).last().map_or(f64::NAN, |p| p.1);
            bounds.push(last(|r| r.gen_bound_grad));
            ms.push(last(|r| r.lemma2_m));
            gaps.push(last(|r| r.gen_gap));
        }
    }
    if flags.is_empty() {
        return finding(
            7,
            Verdict::Inconclusive,
            format!(
                "no `vacuous` values of mse or mse_softmax runs ({})",
                t.filter_note
            ),
        );
    }
    let vacuous = flags.iter().filter(|&&b| b).count();
    let verdict = if 10 * vacuous >= 9 * flags.len() {
        Verdict::Reproduced
    } else {
        Verdict::NotReproduced
    };
    finding(
        7,
        verdict,
        format!(
            "vacuous at the final epoch in {vacuous} of {} runs; medians: gen_bound_grad {}, \
             M {}, measured gap {}; {}",
            flags.len(),
            num(median(&bounds)),
            num(median(&ms)),
            num(median(&gaps)),
            t.filter_note
        ),
    )
}
