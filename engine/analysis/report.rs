//! The reproduction report: the paper's seven findings (MEASUREMENTS.md §9) judged from
//! the CSV tables of finished experiments by stated, mechanical rules, written as
//! `report.md` and as a self-contained `report.html` (figures inlined as base64).
//!
//! Every verdict comes from the tables alone, so anyone can recompute it from the same
//! files: each finding carries its rule and the numbers the rule compared. Rules with
//! several parts share one combination: every part holds, reproduced; no part holds,
//! not reproduced; otherwise (some hold, or a part cannot be evaluated) inconclusive.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::io::table::{write_atomic, Table};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Reproduced,
    NotReproduced,
    Inconclusive,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Reproduced => "reproduced",
            Verdict::NotReproduced => "not reproduced",
            Verdict::Inconclusive => "inconclusive",
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
}

const CLAIMS: [&str; 7] = [
    "At init, log-conditioning of G falls with depth for finite widths; lower for a larger \
     width/examples ratio; with renormalisation it keeps falling; without it there is a layer \
     after which it rises again (Fig. 1a, 1b).",
    "Normalised lambda_min rises over the first layers then plateaus, higher for wider nets, \
     approaching the infinite-width line (Fig. 1c, 1d).",
    "Lemma 1's bound is conservative in early epochs and tight at later ones (Fig. 2a).",
    "The Eq. 13 lower bound degrades fast and becomes vacuous, while lambda_min(G) stays \
     roughly stable (Fig. 2b).",
    "Conditioning worsens slowly during training and can improve; high learning rates spike \
     then settle below the start (Fig. 2c, 2d).",
    "Gershgorin proxies separate renormalised and plain nets where kappa does (Fig. 3).",
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

fn finding(number: usize, verdict: Verdict, evidence: String) -> Finding {
    Finding {
        number,
        claim: CLAIMS[number - 1].to_string(),
        evidence,
        verdict,
        rule: RULES[number - 1].to_string(),
    }
}

/// Combines the parts of a rule: all hold, reproduced; none holds, not reproduced;
/// otherwise (mixed, or a part that could not be evaluated) inconclusive.
fn combine(parts: &[Option<bool>]) -> Verdict {
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
fn all_of(checks: impl IntoIterator<Item = Option<bool>>) -> Option<bool> {
    let known: Vec<bool> = checks.into_iter().flatten().collect();
    if known.is_empty() {
        None
    } else {
        Some(known.iter().all(|&b| b))
    }
}

fn part_label(p: Option<bool>) -> &'static str {
    match p {
        Some(true) => "holds",
        Some(false) => "fails",
        None => "not evaluated",
    }
}

/// A number with three significant digits (scientific beyond [1e-3, 1e4)).
fn num(x: f64) -> String {
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

/// The mean of the values that are not NaN (NaN when there are none); an infinite value
/// (kappa of a singular matrix) stays in, so the mean says so.
fn mean(values: &[f64]) -> f64 {
    let v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The median of the values that are not NaN (NaN when there are none).
fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

/// Reads `<dir>/<file>` when both exist; Err(evidence) saying what is missing otherwise.
fn read_table(
    dir: Option<&Path>,
    file: &str,
    how: &str,
) -> Result<std::result::Result<Table, String>> {
    let Some(dir) = dir else {
        return Ok(Err(format!("no data: {how}")));
    };
    let path = dir.join(file);
    if !path.is_file() {
        return Ok(Err(format!("no data: {} not found; {how}", path.display())));
    }
    Ok(Ok(Table::read(&path)?))
}

// ---------------------------------------------------------------------------------------
// Conditioning at initialisation (findings 1, 2, 6)

/// A network configuration of the conditioning grid (seeds are averaged over).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct NetKey {
    activation: String,
    depth: usize,
    width: usize,
    n: usize,
    renormalize: bool,
}

impl NetKey {
    fn full_rank(&self) -> bool {
        self.n <= self.width
    }
}

/// Values of one layer of one configuration, one per seed.
#[derive(Default)]
struct LayerCell {
    log10_kappa: Vec<f64>,
    lambda_min: Vec<f64>,
    max_offdiag_rowsum: Vec<f64>,
}

type Curves = BTreeMap<NetKey, BTreeMap<usize, LayerCell>>;

fn conditioning_curves(t: &Table) -> Result<Curves> {
    let c = |name| t.column(name);
    let (ca, cd, cw, cn, cr, cl, ck, cmin, crs) = (
        c("activation")?,
        c("depth")?,
        c("width")?,
        c("n")?,
        c("renormalize")?,
        c("layer")?,
        c("log10_kappa")?,
        c("lambda_min")?,
        c("max_offdiag_rowsum")?,
    );
    let mut curves = Curves::new();
    for (i, row) in t.rows.iter().enumerate() {
        let key = NetKey {
            activation: row[ca].clone(),
            depth: t.f64(i, cd) as usize,
            width: t.f64(i, cw) as usize,
            n: t.f64(i, cn) as usize,
            renormalize: row[cr] == "true",
        };
        let cell = curves
            .entry(key)
            .or_default()
            .entry(t.f64(i, cl) as usize)
            .or_default();
        cell.log10_kappa.push(t.f64(i, ck));
        cell.lambda_min.push(t.f64(i, cmin));
        cell.max_offdiag_rowsum.push(t.f64(i, crs));
    }
    Ok(curves)
}

/// Mean over seeds of `pick` at `layer` (NaN when that layer is missing).
fn at(curves: &Curves, key: &NetKey, layer: usize, pick: fn(&LayerCell) -> &Vec<f64>) -> f64 {
    curves
        .get(key)
        .and_then(|layers| layers.get(&layer))
        .map_or(f64::NAN, |cell| mean(pick(cell)))
}

fn kappa(c: &LayerCell) -> &Vec<f64> {
    &c.log10_kappa
}
fn lambda_min(c: &LayerCell) -> &Vec<f64> {
    &c.lambda_min
}
fn rowsum(c: &LayerCell) -> &Vec<f64> {
    &c.max_offdiag_rowsum
}

/// Seeds behind the last-layer mean of a configuration.
fn seeds(curves: &Curves, key: &NetKey) -> usize {
    curves
        .get(key)
        .and_then(|l| l.get(&key.depth))
        .map_or(0, |c| c.log10_kappa.len())
}

fn renorm_word(r: bool) -> &'static str {
    if r {
        "renormalised"
    } else {
        "plain"
    }
}

/// (activation, depth) pairs of the grid, in order.
fn nets(curves: &Curves) -> BTreeSet<(String, usize)> {
    curves
        .keys()
        .map(|k| (k.activation.clone(), k.depth))
        .collect()
}

/// Full-rank configurations of one (activation, depth).
fn full_rank_of<'a>(curves: &'a Curves, act: &str, depth: usize) -> Vec<&'a NetKey> {
    curves
        .keys()
        .filter(|k| k.activation == act && k.depth == depth && k.full_rank())
        .collect()
}

/// The widest width and, at it, the largest n with both renormalised and plain nets
/// (None when no full-rank configuration has both).
fn headline_pair(curves: &Curves, act: &str, depth: usize) -> Option<(NetKey, NetKey)> {
    let keys = full_rank_of(curves, act, depth);
    keys.iter()
        .filter(|k| k.renormalize)
        .filter_map(|k| {
            let plain = NetKey {
                renormalize: false,
                ..(*k).clone()
            };
            curves.contains_key(&plain).then(|| ((*k).clone(), plain))
        })
        .max_by_key(|(k, _)| (k.width, k.n))
}

fn finding_1(curves: &Curves) -> Finding {
    let mut evidence = Vec::new();

    // (a) renormalised nets keep falling: last layer below layer 1 in every group.
    let renorm: Vec<&NetKey> = curves
        .keys()
        .filter(|k| k.renormalize && k.full_rank() && k.depth >= 1)
        .collect();
    let falls: Vec<bool> = renorm
        .iter()
        .map(|k| at(curves, k, k.depth, kappa) < at(curves, k, 1, kappa))
        .collect();
    let part_a = (!falls.is_empty()).then(|| falls.iter().all(|&b| b));
    evidence.push(format!(
        "(a) {}: renormalised last layer below layer 1 in {} of {} groups",
        part_label(part_a),
        falls.iter().filter(|&&b| b).count(),
        falls.len()
    ));

    // (b) wider is lower at the last layer, for the same n.
    let mut by_n: BTreeMap<(String, usize, usize, bool), Vec<&NetKey>> = BTreeMap::new();
    for k in curves.keys().filter(|k| k.full_rank()) {
        by_n.entry((k.activation.clone(), k.depth, k.n, k.renormalize))
            .or_default()
            .push(k);
    }
    let mut wider_lower = Vec::new();
    let mut b_example = None;
    for ((_, depth, n, r), keys) in &by_n {
        if keys.len() < 2 {
            continue;
        }
        let narrow = keys.iter().min_by_key(|k| k.width).unwrap();
        let wide = keys.iter().max_by_key(|k| k.width).unwrap();
        let (kn, kw) = (
            at(curves, narrow, *depth, kappa),
            at(curves, wide, *depth, kappa),
        );
        wider_lower.push(kw < kn);
        b_example = Some(format!(
            "n {n}, {}: width {} {} vs width {} {}",
            renorm_word(*r),
            wide.width,
            num(kw),
            narrow.width,
            num(kn)
        ));
    }
    let part_b = (!wider_lower.is_empty()).then(|| wider_lower.iter().all(|&b| b));
    evidence.push(format!(
        "(b) {}: widest below narrowest at the last layer in {} of {} (n, renormalize) groups{}",
        part_label(part_b),
        wider_lower.iter().filter(|&&b| b).count(),
        wider_lower.len(),
        b_example.map(|e| format!(", e.g. {e}")).unwrap_or_default()
    ));

    // (c) plain nets turn back up somewhere, and end above renormalised ones.
    let plain: Vec<&NetKey> = curves
        .keys()
        .filter(|k| !k.renormalize && k.full_rank() && k.depth >= 1)
        .collect();
    let mut rises = Vec::new();
    for k in &plain {
        let argmin = (1..=k.depth)
            .map(|l| (l, at(curves, k, l, kappa)))
            .filter(|(_, v)| !v.is_nan())
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(l, _)| l);
        if let Some(l) = argmin {
            rises.push((k, l));
        }
    }
    let turn = (!rises.is_empty()).then(|| rises.iter().any(|(k, l)| *l < k.depth));
    let mut below = Vec::new();
    for (act, depth) in nets(curves) {
        if let Some((r, p)) = headline_pair(curves, &act, depth) {
            let (vr, vp) = (at(curves, &r, depth, kappa), at(curves, &p, depth, kappa));
            below.push(Some(vr < vp));
            evidence.push(format!(
                "log10 kappa at layer {depth}, renormalised vs plain ({act}, width {}, n {}, \
                 mean over {} seeds): {} vs {}",
                r.width,
                r.n,
                seeds(curves, &r),
                num(vr),
                num(vp)
            ));
        }
    }
    let below = all_of(below);
    let part_c = match (turn, below) {
        (Some(t), Some(b)) => Some(t && b),
        _ => None,
    };
    let turning: Vec<String> = rises
        .iter()
        .filter(|(k, l)| *l < k.depth)
        .take(3)
        .map(|(k, l)| {
            format!(
                "width {} n {} minimum at layer {l} of {}",
                k.width, k.n, k.depth
            )
        })
        .collect();
    evidence.push(format!(
        "(c) {}: plain nets turning back up in {} of {} groups{}",
        part_label(part_c),
        rises.iter().filter(|(k, l)| *l < k.depth).count(),
        rises.len(),
        if turning.is_empty() {
            String::new()
        } else {
            format!(" ({})", turning.join("; "))
        }
    ));
    finding(1, combine(&[part_a, part_b, part_c]), evidence.join("; "))
}

/// Mean lambda_min of the infinite-width kernel at `layer` for a configuration.
fn infinite_lambda_min(infinite: Option<&Table>, key: &NetKey, layer: usize) -> Result<f64> {
    let Some(t) = infinite else {
        return Ok(f64::NAN);
    };
    let (ca, cd, cn, cr, cl, cv) = (
        t.column("activation")?,
        t.column("depth")?,
        t.column("n")?,
        t.column("renormalize")?,
        t.column("layer")?,
        t.column("lambda_min")?,
    );
    let values: Vec<f64> = (0..t.rows.len())
        .filter(|&i| {
            t.rows[i][ca] == key.activation
                && t.f64(i, cd) as usize == key.depth
                && t.f64(i, cn) as usize == key.n
                && (t.rows[i][cr] == "true") == key.renormalize
                && t.f64(i, cl) as usize == layer
        })
        .map(|i| t.f64(i, cv))
        .collect();
    Ok(mean(&values))
}

fn finding_2(curves: &Curves, infinite: Option<&Table>) -> Result<Finding> {
    let (mut part_a, mut part_b, mut part_c) = (Vec::new(), Vec::new(), Vec::new());
    let mut evidence = Vec::new();
    for (act, depth) in nets(curves) {
        let keys = full_rank_of(curves, &act, depth);
        let renormalize = keys.iter().any(|k| k.renormalize);
        let keys: Vec<&NetKey> = keys
            .into_iter()
            .filter(|k| k.renormalize == renormalize)
            .collect();
        let Some(n) = keys.iter().map(|k| k.n).max() else {
            continue;
        };
        let at_n: Vec<&NetKey> = keys.into_iter().filter(|k| k.n == n).collect();
        let wide = *at_n.iter().max_by_key(|k| k.width).unwrap();
        let narrow = *at_n.iter().min_by_key(|k| k.width).unwrap();
        let (w1, wl) = (
            at(curves, wide, 1, lambda_min),
            at(curves, wide, depth, lambda_min),
        );
        part_a.push(Some(wl > w1));
        let mut text = format!(
            "{act}, {}, n {n}: widest width {} lambda_min {} at layer 1, {} at layer {depth}",
            renorm_word(renormalize),
            wide.width,
            num(w1),
            num(wl)
        );
        let inf = infinite_lambda_min(infinite, wide, depth)?;
        if wide.width != narrow.width {
            let nl = at(curves, narrow, depth, lambda_min);
            part_b.push(Some(wl >= nl));
            part_c.push((!inf.is_nan()).then(|| (wl - inf).abs() < (nl - inf).abs()));
            text.push_str(&format!("; narrowest width {} {}", narrow.width, num(nl)));
        }
        text.push_str(&format!("; infinite width {}", num(inf)));
        evidence.push(text);
    }
    let parts = [all_of(part_a), all_of(part_b), all_of(part_c)];
    if evidence.is_empty() {
        evidence.push("no full-rank configuration (n <= width) in layers.csv".into());
    }
    evidence.push(format!(
        "(a) rise {}, (b) wider higher {}, (c) closer to infinite width {}",
        part_label(parts[0]),
        part_label(parts[1]),
        part_label(parts[2])
    ));
    Ok(finding(2, combine(&parts), evidence.join("; ")))
}

fn finding_6(curves: &Curves) -> Finding {
    let mut agree = 0;
    let mut total = 0;
    for key in curves.keys().filter(|k| k.renormalize && k.full_rank()) {
        let plain = NetKey {
            renormalize: false,
            ..key.clone()
        };
        if !curves.contains_key(&plain) {
            continue;
        }
        let l = key.depth;
        let dk = at(curves, &plain, l, kappa) - at(curves, key, l, kappa);
        let dr = at(curves, &plain, l, rowsum) - at(curves, key, l, rowsum);
        total += 1;
        if dk.signum() == dr.signum() && dk != 0.0 && dr != 0.0 {
            agree += 1;
        }
    }
    if total == 0 {
        return finding(
            6,
            Verdict::Inconclusive,
            "no full-rank configuration with both renormalised and plain nets in layers.csv".into(),
        );
    }
    let mut evidence = vec![format!(
        "signs of (plain - renormalised) agree in {agree} of {total} (activation, depth, \
         width, n) groups"
    )];
    for (act, depth) in nets(curves) {
        if let Some((r, p)) = headline_pair(curves, &act, depth) {
            evidence.push(format!(
                "at layer {depth} ({act}, width {}, n {}): log10 kappa plain {} vs \
                 renormalised {}, max_offdiag_rowsum plain {} vs renormalised {}",
                r.width,
                r.n,
                num(at(curves, &p, depth, kappa)),
                num(at(curves, &r, depth, kappa)),
                num(at(curves, &p, depth, rowsum)),
                num(at(curves, &r, depth, rowsum))
            ));
        }
    }
    let verdict = if 2 * agree > total {
        Verdict::Reproduced
    } else {
        Verdict::NotReproduced
    };
    finding(6, verdict, evidence.join("; "))
}

// ---------------------------------------------------------------------------------------
// Training (findings 3, 4, 5, 7)

/// One run's rows of epochs.csv, by epoch.
struct TrainingRun {
    loss: String,
    lr: f64,
    /// (epoch, row index in the table), sorted by epoch.
    rows: Vec<(usize, usize)>,
}

struct TrainingTable {
    table: Table,
    runs: BTreeMap<String, TrainingRun>,
    /// Says whether the accuracy filter was applied.
    filter_note: String,
}

impl TrainingTable {
    /// Reads `<dir>/epochs.csv`, keeping runs that pass the accuracy filter of
    /// `<dir>/runs.csv` (all runs, noted, when runs.csv is missing).
    fn read(epochs: Table, dir: &Path) -> Result<TrainingTable> {
        let passing: Option<BTreeSet<String>> = {
            let path = dir.join("runs.csv");
            if path.is_file() {
                let runs = Table::read(&path)?;
                let (cid, cpass) = (
                    runs.column("run_id")?,
                    runs.column("passes_accuracy_filter")?,
                );
                Some(
                    runs.rows
                        .iter()
                        .filter(|r| r[cpass] == "true")
                        .map(|r| r[cid].clone())
                        .collect(),
                )
            } else {
                None
            }
        };
        let (cid, closs, clr, cep) = (
            epochs.column("run_id")?,
            epochs.column("loss")?,
            epochs.column("lr")?,
            epochs.column("epoch")?,
        );
        let mut runs: BTreeMap<String, TrainingRun> = BTreeMap::new();
        let mut excluded = BTreeSet::new();
        for (i, row) in epochs.rows.iter().enumerate() {
            let id = &row[cid];
            if passing.as_ref().is_some_and(|p| !p.contains(id)) {
                excluded.insert(id.clone());
                continue;
            }
            runs.entry(id.clone())
                .or_insert_with(|| TrainingRun {
                    loss: row[closs].clone(),
                    lr: epochs.f64(i, clr),
                    rows: Vec::new(),
                })
                .rows
                .push((epochs.f64(i, cep) as usize, i));
        }
        for run in runs.values_mut() {
            run.rows.sort();
        }
        let filter_note = match passing {
            Some(_) => format!(
                "{} runs pass the accuracy filter, {} excluded",
                runs.len(),
                excluded.len()
            ),
            None => "runs.csv missing: accuracy filter not applied".into(),
        };
        Ok(TrainingTable {
            table: epochs,
            runs,
            filter_note,
        })
    }

    fn with_loss<'a>(&'a self, losses: &'a [&str]) -> impl Iterator<Item = &'a TrainingRun> + 'a {
        self.runs
            .values()
            .filter(move |r| losses.contains(&r.loss.as_str()))
    }

    /// (epoch, value) of a run's non-empty cells in `column`.
    fn series(&self, run: &TrainingRun, column: usize) -> Vec<(usize, f64)> {
        run.rows
            .iter()
            .map(|&(e, i)| (e, self.table.f64(i, column)))
            .filter(|(_, v)| !v.is_nan())
            .collect()
    }

    /// The raw cell of a run's last row with a non-empty cell in `column`.
    fn last_cell(&self, run: &TrainingRun, column: usize) -> Option<&str> {
        run.rows
            .iter()
            .rev()
            .map(|&(_, i)| self.table.rows[i][column].as_str())
            .find(|c| !c.is_empty())
    }
}

fn finding_3(t: &TrainingTable) -> Result<Finding> {
    let column = t.table.column("ratio_eta_ntk")?;
    let (mut early, mut late) = (Vec::new(), Vec::new());
    let mut runs = 0;
    for run in t.with_loss(&["mse"]) {
        runs += 1;
        let last = run.rows.last().map_or(0, |r| r.0);
        for (e, v) in t.series(run, column) {
            if (1..=3).contains(&e) {
                early.push(v);
            }
            if 3 * e > 2 * last {
                late.push(v);
            }
        }
    }
    if early.is_empty() || late.is_empty() {
        return Ok(finding(
            3,
            Verdict::Inconclusive,
            format!(
                "no ratio_eta_ntk values of mse runs ({} mse runs; {})",
                runs, t.filter_note
            ),
        ));
    }
    let (me, ml) = (median(&early), median(&late));
    let parts = [Some(me < ml), Some((0.5..=1.5).contains(&ml))];
    Ok(finding(
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
    ))
}

fn finding_4(t: &TrainingTable) -> Result<Finding> {
    let (ceq, cgram) = (
        t.table.column("lambda_min_lower_eq13")?,
        t.table.column("gram_lambda_min")?,
    );
    let (mut finals, mut ratios) = (Vec::new(), Vec::new());
    for run in t.with_loss(&["mse"]) {
        if let Some(&(_, v)) = t.series(run, ceq).last() {
            finals.push(v);
        }
        let gram = t.series(run, cgram);
        if let (Some(&(0, first)), Some(&(_, last))) = (gram.first(), gram.last()) {
            ratios.push(last / first);
        }
    }
    if finals.is_empty() && ratios.is_empty() {
        return Ok(finding(
            4,
            Verdict::Inconclusive,
            format!(
                "no Eq. 13 or gram_lambda_min values of mse runs ({})",
                t.filter_note
            ),
        ));
    }
    let vacuous = finals.iter().filter(|&&v| v <= 0.0).count();
    let stable = ratios.iter().filter(|&&r| (0.5..=2.0).contains(&r)).count();
    let parts = [
        (!finals.is_empty()).then_some(2 * vacuous > finals.len()),
        (!ratios.is_empty()).then_some(2 * stable > ratios.len()),
    ];
    Ok(finding(
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
    ))
}

fn finding_5(t: &TrainingTable) -> Result<Finding> {
    let column = t.table.column("ntk_log10_kappa")?;
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
        let s = t.series(run, column);
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
        return Ok(finding(
            5,
            Verdict::Inconclusive,
            format!(
                "no ntk_log10_kappa values from epoch 0 of {which} runs ({})",
                t.filter_note
            ),
        ));
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
    Ok(finding(
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
    ))
}

fn finding_7(t: &TrainingTable) -> Result<Finding> {
    let (cvac, cbound, cm, cgap) = (
        t.table.column("vacuous")?,
        t.table.column("gen_bound_grad")?,
        t.table.column("lemma2_M")?,
        t.table.column("gen_gap")?,
    );
    let (mut flags, mut bounds, mut ms, mut gaps) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in t.with_loss(&["mse", "mse_softmax"]) {
        if let Some(cell) = t.last_cell(run, cvac) {
            flags.push(cell == "true");
            let last = |c| t.series(run, c).last().map_or(f64::NAN, |p| p.1);
            bounds.push(last(cbound));
            ms.push(last(cm));
            gaps.push(last(cgap));
        }
    }
    if flags.is_empty() {
        return Ok(finding(
            7,
            Verdict::Inconclusive,
            format!(
                "no `vacuous` values of mse or mse_softmax runs ({})",
                t.filter_note
            ),
        ));
    }
    let vacuous = flags.iter().filter(|&&b| b).count();
    let verdict = if 10 * vacuous >= 9 * flags.len() {
        Verdict::Reproduced
    } else {
        Verdict::NotReproduced
    };
    Ok(finding(
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
    ))
}

/// The seven findings of MEASUREMENTS.md §9, judged from the CSV tables in the output
/// directories of a conditioning experiment (layers.csv, infinite_width.csv), a training
/// experiment (epochs.csv, runs.csv) and a generalisation experiment (the same files).
/// A missing directory or table makes its findings inconclusive ("no data: ...");
/// a table without a column a rule needs is an error.
pub fn evaluate_findings(
    conditioning: Option<&Path>,
    training: Option<&Path>,
    generalization: Option<&Path>,
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();

    match read_table(conditioning, "layers.csv", RUN_CONDITIONING)? {
        Ok(layers) => {
            let curves = conditioning_curves(&layers).context("layers.csv")?;
            let infinite = read_table(conditioning, "infinite_width.csv", "")?.ok();
            findings.push(finding_1(&curves));
            findings.push(finding_2(&curves, infinite.as_ref()).context("infinite_width.csv")?);
            findings.push(finding_6(&curves));
        }
        Err(missing) => {
            for number in [1, 2, 6] {
                findings.push(finding(number, Verdict::Inconclusive, missing.clone()));
            }
        }
    }

    match read_table(training, "epochs.csv", RUN_TRAINING)? {
        Ok(epochs) => {
            // The table was found, so the directory was given.
            let dir = training.expect("epochs.csv read from the training directory");
            let t = TrainingTable::read(epochs, dir).context("training tables")?;
            findings.push(finding_3(&t)?);
            findings.push(finding_4(&t)?);
            findings.push(finding_5(&t)?);
        }
        Err(missing) => {
            for number in [3, 4, 5] {
                findings.push(finding(number, Verdict::Inconclusive, missing.clone()));
            }
        }
    }

    match read_table(generalization, "epochs.csv", RUN_GENERALIZATION)? {
        Ok(epochs) => {
            let dir = generalization.expect("epochs.csv read from the generalisation directory");
            let t = TrainingTable::read(epochs, dir).context("generalisation tables")?;
            findings.push(finding_7(&t)?);
        }
        Err(missing) => findings.push(finding(7, Verdict::Inconclusive, missing)),
    }

    findings.sort_by_key(|f| f.number);
    Ok(findings)
}

// ---------------------------------------------------------------------------------------
// Writing the report

/// Standard base64 (RFC 4648, with `=` padding).
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let triple = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            // A chunk of k bytes yields k + 1 characters; the rest is padding.
            if i <= chunk.len() {
                out.push(ALPHABET[((triple >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Escapes the characters HTML gives a meaning to.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A table cell for markdown: pipes escaped, line breaks joined.
fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// `path` relative to `base` with `/` separators (spaces as %20, so markdown links work).
fn relative_link(path: &Path, base: &Path) -> String {
    let absolute = |p: &Path| {
        p.canonicalize().unwrap_or_else(|_| {
            std::env::current_dir()
                .map(|d| d.join(p))
                .unwrap_or_else(|_| p.to_path_buf())
        })
    };
    let (p, b) = (absolute(path), absolute(base));
    let pc: Vec<Component> = p.components().collect();
    let bc: Vec<Component> = b.components().collect();
    let common = pc.iter().zip(&bc).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".into(); bc.len() - common];
    parts.extend(
        pc[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/").replace(' ', "%20")
}

fn mime_type(path: &Path) -> Option<&'static str> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("png") => Some("image/png"),
        Some("svg") => Some("image/svg+xml"),
        Some("jpg" | "jpeg") => Some("image/jpeg"),
        _ => None,
    }
}

/// The figure's caption: its file name and the folder it came from.
fn caption(path: &Path) -> String {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    match path
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.file_name())
    {
        Some(run) => format!("{name} ({})", run.to_string_lossy()),
        None => name,
    }
}

/// `key: value` lines of the meta object (strings unquoted, other values as JSON).
fn meta_lines(meta: &serde_json::Value) -> Vec<(String, String)> {
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match meta {
        serde_json::Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), show(v))).collect(),
        serde_json::Value::Null => Vec::new(),
        other => vec![("meta".into(), show(other))],
    }
}

const TITLE: &str = "wideprobe: the paper's findings, measured";
const INTRO: &str = "Each finding of \"An Empirical Verification of Wide Networks Theory\" \
    (MEASUREMENTS.md §9) judged from the CSV tables of the experiments below, by the rule \
    stated under the table: the verdict is mechanical, and the numbers it compared are in the \
    \"measured\" column.";

/// PNG figures under `<dir>/figures/` of each directory, sorted by name within each.
pub fn figures_in(dirs: &[&Path]) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir.join("figures")) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .collect();
        found.sort();
        all.extend(found);
    }
    all
}

/// Writes `out/report.md` (figures linked relative to `out`) and `out/report.html`
/// (self-contained: inline CSS, figures inlined as base64 data URIs).
pub fn write_report(
    out: &Path,
    findings: &[Finding],
    figures: &[PathBuf],
    meta: &serde_json::Value,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let meta = meta_lines(meta);

    let mut md = format!("# {TITLE}\n\n{INTRO}\n\n");
    for (k, v) in &meta {
        md.push_str(&format!("- {k}: {v}\n"));
    }
    if !meta.is_empty() {
        md.push('\n');
    }
    md.push_str("| # | paper's claim | measured | verdict |\n|---|---|---|---|\n");
    for f in findings {
        md.push_str(&format!(
            "| {} | {} | {} | **{}** |\n",
            f.number,
            md_cell(&f.claim),
            md_cell(&f.evidence),
            f.verdict
        ));
    }
    md.push_str("\n## Rules\n\n");
    for f in findings {
        md.push_str(&format!("{}. {}\n", f.number, f.rule.replace('\n', " ")));
    }
    if !figures.is_empty() {
        md.push_str("\n## Figures\n\n");
        for fig in figures {
            md.push_str(&format!(
                "![{}]({})\n\n",
                caption(fig).replace(['[', ']'], ""),
                relative_link(fig, out)
            ));
        }
    }
    write_atomic(&out.join("report.md"), md.as_bytes())?;

    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p>{}</p>\n",
        escape_html(TITLE),
        escape_html(TITLE),
        escape_html(INTRO)
    );
    if !meta.is_empty() {
        html.push_str("<ul class=\"meta\">\n");
        for (k, v) in &meta {
            html.push_str(&format!(
                "<li><b>{}</b>: {}</li>\n",
                escape_html(k),
                escape_html(v)
            ));
        }
        html.push_str("</ul>\n");
    }
    html.push_str(
        "<table>\n<thead><tr><th>#</th><th>paper's claim</th><th>measured</th>\
         <th>verdict</th></tr></thead>\n<tbody>\n",
    );
    for f in findings {
        let class = match f.verdict {
            Verdict::Reproduced => "yes",
            Verdict::NotReproduced => "no",
            Verdict::Inconclusive => "open",
        };
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td></tr>\n",
            f.number,
            escape_html(&f.claim),
            escape_html(&f.evidence),
            escape_html(&f.verdict.to_string())
        ));
    }
    html.push_str("</tbody>\n</table>\n<h2>Rules</h2>\n<ol>\n");
    for f in findings {
        html.push_str(&format!(
            "<li value=\"{}\">{}</li>\n",
            f.number,
            escape_html(&f.rule)
        ));
    }
    html.push_str("</ol>\n");
    if !figures.is_empty() {
        html.push_str("<h2>Figures</h2>\n");
        for fig in figures {
            let text = escape_html(&caption(fig));
            match mime_type(fig) {
                Some(mime) => {
                    let bytes = std::fs::read(fig)
                        .with_context(|| format!("cannot read figure {}", fig.display()))?;
                    html.push_str(&format!(
                        "<figure>\n<img src=\"data:{mime};base64,{}\" alt=\"{text}\">\n\
                         <figcaption>{text}</figcaption>\n</figure>\n",
                        base64_encode(&bytes)
                    ));
                }
                None => html.push_str(&format!(
                    "<p>{text}: not an image format a page can show</p>\n"
                )),
            }
        }
    }
    html.push_str("</body>\n</html>\n");
    write_atomic(&out.join("report.html"), html.as_bytes())?;
    Ok(())
}

const CSS: &str =
    "body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; \
padding: 0 1rem; color: #222; line-height: 1.45; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.4rem 0.6rem; vertical-align: top; text-align: left; }
th { background: #f2f2f2; }
td.yes { color: #1a7f37; font-weight: bold; }
td.no { color: #cf222e; font-weight: bold; }
td.open { color: #9a6700; font-weight: bold; }
ul.meta { color: #555; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9rem; }
";

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
