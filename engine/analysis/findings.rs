//! The paper's seven findings (MEASUREMENTS.md §9) judged from the CSV tables of
//! finished experiments by stated, mechanical rules.
//!
//! Every verdict comes from the tables alone, so anyone can recompute it from the same
//! files: each finding carries its rule and the numbers the rule compared. Rules with
//! several parts share one combination: every part holds, reproduced; no part holds,
//! not reproduced; otherwise (some hold, or a part cannot be evaluated) inconclusive.

use std::fmt;
use std::path::Path;

use anyhow::{Context as _, Result};

use super::findings_conditioning::{conditioning_curves, finding_1, finding_2, finding_6};
use super::findings_training::{finding_3, finding_4, finding_5, finding_7, TrainingTable};
use super::runs::RunStatuses;
use crate::io::tables::{EpochRow, InfiniteRow, LayerRow, Row, RunRow};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Reproduced,
    NotReproduced,
    Inconclusive,
    /// The tables hold synthetic data: the paper's claims are about CIFAR-10, so the
    /// rule's outcome on them tests nothing.
    NotTested,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Reproduced => "reproduced",
            Verdict::NotReproduced => "not reproduced",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NotTested => "not tested (synthetic data)",
        })
    }
}

/// One of the paper's findings, the numbers measured for it and the verdict.
#[derive(Clone, Debug)]
pub struct Finding {
    pub number: usize,
    /// The paper's claim, as MEASUREMENTS.md §9 states it.
    pub claim: String,
    /// The measured numbers the rule compared.
    pub evidence: String,
    pub verdict: Verdict,
    /// The mechanical rule that turns the numbers into the verdict.
    pub rule: String,
    /// What the rule gave on the tables; equal to `verdict` unless the data are synthetic.
    pub rule_verdict: Verdict,
    /// The paper's figures the finding is about ("1a", "2b", …).
    pub figures: &'static [&'static str],
}

/// The paper's figures of each finding, in finding order.
const FIGURES: [&[&str]; 7] = [
    &["1a", "1b"],
    &["1c", "1d"],
    &["2a"],
    &["2b"],
    &["2c", "2d"],
    &["3a", "3b"],
    &["4a", "4b"],
];

impl Finding {
    /// Marks the finding as not tested when its data are synthetic (the rule's outcome
    /// stays in `rule_verdict` and the evidence).
    fn on_synthetic_data(mut self, synthetic: bool) -> Finding {
        if synthetic {
            self.verdict = Verdict::NotTested;
        }
        self
    }
}

const CLAIMS: [&str; 7] = [
    "At init, log-conditioning of G (log10 κ) falls with depth for finite widths; lower for a larger \
     width/examples ratio; with renormalisation it keeps falling; without it there is a layer \
     after which it rises again (Fig. 1a, 1b).",
    "Normalised λ_min rises over the first layers then plateaus, higher for wider nets, \
     approaching the infinite-width line (Fig. 1c, 1d).",
    "Lemma 1's bound is conservative in early epochs and tight at later ones (Fig. 2a).",
    "The Eq. 13 lower bound degrades fast and becomes vacuous, while λ_min(G) stays \
     roughly stable (Fig. 2b).",
    "Conditioning worsens slowly during training and can improve; high learning rates spike \
     then settle below the start (Fig. 2c, 2d).",
    "Gershgorin proxies separate renormalised and plain nets where κ does (Fig. 3).",
    "Stability bounds are vacuous (Fig. 4).",
];

const RULES: [&str; 7] = [
    "Means over seeds of log10_kappa in layers.csv, per (activation, depth, width, n, \
     renormalize), full-rank groups only (n <= width). (a) renormalised: the last layer is \
     below layer 1 in every group; (b) at the last layer, for every (activation, depth, n, \
     renormalize) with two or more widths, the widest width is below the narrowest; \
     (c) plain: the layer of the minimum over layers 1..depth is before the last layer in at \
     least one group, and at the widest width and largest n of each (activation, depth) the \
     renormalised last layer is below the plain one. All hold: reproduced; none: not \
     reproduced; otherwise inconclusive.",
    "Means over seeds of lambda_min in layers.csv for renormalised nets (plain when there are \
     none), per (activation, depth), at the largest full-rank n; widest and narrowest width \
     at that n. (a) widest: last layer > layer 1; (b) last layer: widest >= narrowest; \
     (c) last layer: |widest - infinite| < |narrowest - infinite|, infinite = mean lambda_min \
     of infinite_width.csv with the same depth, n, activation and renormalize. Each part \
     must hold for every (activation, depth). All hold: reproduced; none: not reproduced; \
     otherwise inconclusive.",
    "epochs.csv, loss mse, runs passing the accuracy filter (runs.csv), ratio_eta_ntk pooled \
     over runs. (a) the median over epochs 1..3 is below the median over each run's last \
     third of epochs (3 t > 2 T, T its last epoch); (b) that last-third median lies in \
     [0.5, 1.5]. Both: reproduced; neither: not reproduced; otherwise inconclusive.",
    "epochs.csv, loss mse, runs passing the accuracy filter, each run's last row with a \
     value. (a) lambda_min_lower_eq13 <= 0 in more than half of the runs; (b) final \
     gram_lambda_min / epoch-0 gram_lambda_min lies in [0.5, 2] in more than half of the \
     runs. Both: reproduced; neither: not reproduced; otherwise inconclusive.",
    "epochs.csv, loss cross_entropy (every loss when there is no cross_entropy run), runs \
     passing the accuracy filter, ntk_log10_kappa; at the highest lr, means over runs of \
     each run's epoch-0 value, maximum over epochs and final value. (a) mean maximum > mean \
     epoch-0 value (a spike); (b) mean final < mean epoch-0 value (settles below the start). \
     Both: reproduced; neither: not reproduced; otherwise inconclusive.",
    "layers.csv, last layer, means over seeds, full-rank (activation, depth, width, n) groups \
     holding both renormalised and plain nets: the sign of (plain - renormalised) of \
     log10_kappa equals the sign of (plain - renormalised) of max_offdiag_rowsum in more than \
     half of the groups: reproduced; otherwise not reproduced.",
    "epochs.csv of the generalisation experiment, loss mse or mse_softmax, runs passing the \
     accuracy filter, each run's last row with a `vacuous` value: vacuous in at least 90% of \
     the runs: reproduced; otherwise not reproduced.",
];

const RUN_CONDITIONING: &str =
    "run `wideprobe run experiments/fig1_conditioning.yaml` (or quick.yaml) and pass its \
     output directory";
const RUN_TRAINING: &str = "run a training experiment (Fig. 2) and pass its output directory";
const RUN_GENERALIZATION: &str =
    "run a generalisation experiment (Fig. 4, loss mse or mse_softmax) and pass its output \
     directory";

pub(super) fn finding(number: usize, verdict: Verdict, evidence: String) -> Finding {
    Finding {
        number,
        claim: CLAIMS[number - 1].to_string(),
        evidence,
        verdict,
        rule: RULES[number - 1].to_string(),
        rule_verdict: verdict,
        figures: FIGURES[number - 1],
    }
}

/// Combines the parts of a rule: all hold, reproduced; none holds, not reproduced;
/// otherwise (mixed, or a part that could not be evaluated) inconclusive.
pub(super) fn combine(parts: &[Option<bool>]) -> Verdict {
    if parts.iter().all(|p| *p == Some(true)) {
        Verdict::Reproduced
    } else if parts.iter().all(|p| *p == Some(false)) {
        Verdict::NotReproduced
    } else {
        Verdict::Inconclusive
    }
}

/// A condition checked over several groups: None when no group could be checked,
/// else whether it held in every group that could.
pub(super) fn all_of(checks: impl IntoIterator<Item = Option<bool>>) -> Option<bool> {
    let known: Vec<bool> = checks.into_iter().flatten().collect();
    if known.is_empty() {
        None
    } else {
        Some(known.iter().all(|&b| b))
    }
}

pub(super) fn part_label(p: Option<bool>) -> &'static str {
    match p {
        Some(true) => "holds",
        Some(false) => "fails",
        None => "not evaluated",
    }
}

/// A number with three significant digits (scientific beyond [1e-3, 1e4)).
pub(super) fn num(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else if x == 0.0 {
        "0".into()
    } else if !(1e-3..1e4).contains(&x.abs()) {
        format!("{x:.2e}")
    } else {
        let decimals = (2 - x.abs().log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$}")
    }
}

/// Reads `<dir>/<file>` as rows of `R` when both exist; Err(evidence) saying what is
/// missing otherwise.
fn read_rows<R: Row>(
    dir: Option<&Path>, file: &str, how: &str,
) -> Result<std::result::Result<Vec<R>, String>> {
    let Some(dir) = dir else {
        return Ok(Err(format!("no data: {how}")));
    };
    let path = dir.join(file);
    if !path.is_file() {
        return Ok(Err(format!("no data: {} not found; {how}", path.display())));
    }
    Ok(Ok(R::read(&path)?))
}

/// The training tables of `dir` with their accuracy filter (runs.csv, when present);
/// Err(evidence) when epochs.csv is missing.
fn read_training_table(
    dir: Option<&Path>, how: &str,
) -> Result<std::result::Result<(TrainingTable, bool), String>> {
    let epochs = match read_rows::<EpochRow>(dir, "epochs.csv", how)? {
        Ok(epochs) => epochs,
        Err(missing) => return Ok(Err(missing)),
    };
    let runs = match dir.map(|d| d.join("runs.csv")).filter(|p| p.is_file()) {
        Some(path) => Some(RunRow::read(&path)?),
        None => None,
    };
    let statuses = RunStatuses::new(runs.as_deref());
    let synthetic = epochs.iter().any(|r| r.dataset.contains("synthetic"));
    Ok(Ok((TrainingTable::new(epochs, &statuses), synthetic)))
}

/// The seven findings of MEASUREMENTS.md §9, judged from the CSV tables in the output
/// directories of a conditioning experiment (layers.csv, infinite_width.csv), a training
/// experiment (epochs.csv, runs.csv) and a generalisation experiment (the same files).
/// A missing directory or table makes its findings inconclusive ("no data: ..."); tables
/// of synthetic data make theirs "not tested (synthetic data)", the rule's outcome kept;
/// a table without a column a rule needs is an error.
pub fn evaluate_findings(
    conditioning: Option<&Path>, training: Option<&Path>, generalization: Option<&Path>,
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();

    match read_rows::<LayerRow>(conditioning, "layers.csv", RUN_CONDITIONING)? {
        Ok(layers) => {
            let curves = conditioning_curves(&layers);
            let synthetic = layers.iter().any(|r| r.dataset.contains("synthetic"));
            let infinite = read_rows::<InfiniteRow>(conditioning, "infinite_width.csv", "")
                .context("infinite_width.csv")?
                .ok();
            for f in [
                finding_1(&curves),
                finding_2(&curves, infinite.as_deref()),
                finding_6(&curves),
            ] {
                findings.push(f.on_synthetic_data(synthetic));
            }
        }
        Err(missing) => {
            for number in [1, 2, 6] {
                findings.push(finding(number, Verdict::Inconclusive, missing.clone()));
            }
        }
    }

    match read_training_table(training, RUN_TRAINING).context("training tables")? {
        Ok((t, synthetic)) => {
            for f in [finding_3(&t), finding_4(&t), finding_5(&t)] {
                findings.push(f.on_synthetic_data(synthetic));
            }
        }
        Err(missing) => {
            for number in [3, 4, 5] {
                findings.push(finding(number, Verdict::Inconclusive, missing.clone()));
            }
        }
    }

    match read_training_table(generalization, RUN_GENERALIZATION)
        .context("generalisation tables")?
    {
        Ok((t, synthetic)) => findings.push(finding_7(&t).on_synthetic_data(synthetic)),
        Err(missing) => findings.push(finding(7, Verdict::Inconclusive, missing)),
    }

    findings.sort_by_key(|f| f.number);
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_three_significant_digits() {
        assert_eq!(num(1.7312), "1.73");
        assert_eq!(num(0.41), "0.410");
        assert_eq!(num(123.456), "123");
        assert_eq!(num(f64::INFINITY), "inf");
        assert_eq!(num(2.5e-5), "2.50e-5");
    }

    #[test]
    fn parts_combine_into_verdicts() {
        assert_eq!(combine(&[Some(true), Some(true)]), Verdict::Reproduced);
        assert_eq!(combine(&[Some(false), Some(false)]), Verdict::NotReproduced);
        assert_eq!(combine(&[Some(true), Some(false)]), Verdict::Inconclusive);
        assert_eq!(combine(&[Some(true), None]), Verdict::Inconclusive);
    }
}
