//! Findings 1, 2 and 6: conditioning at initialisation, from layers.csv and
//! infinite_width.csv.

use std::collections::{BTreeMap, BTreeSet};

use super::findings::{all_of, combine, finding, num, part_label, Finding, Verdict};
use super::stats::mean;
use crate::io::tables::{InfiniteRow, LayerRow};

/// A network configuration of the conditioning grid (seeds are averaged over).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct NetKey {
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
pub(super) struct LayerCell {
    log10_kappa: Vec<f64>,
    lambda_min: Vec<f64>,
    max_offdiag_rowsum: Vec<f64>,
}

pub(super) type Curves = BTreeMap<NetKey, BTreeMap<usize, LayerCell>>;

pub(super) fn conditioning_curves(rows: &[LayerRow]) -> Curves {
    let mut curves = Curves::new();
    for row in rows {
        let key = NetKey {
            activation: row.activation.clone(),
            depth: row.depth,
            width: row.width,
            n: row.n,
            renormalize: row.renormalize,
        };
        let cell = curves.entry(key).or_default().entry(row.layer).or_default();
        cell.log10_kappa.push(row.log10_kappa);
        cell.lambda_min.push(row.lambda_min);
        cell.max_offdiag_rowsum.push(row.max_offdiag_rowsum);
    }
    curves
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

pub(super) fn finding_1(curves: &Curves) -> Finding {
    let mut evidence = Vec::new();
    let part_a = finding_1a(curves, &mut evidence);
    let part_b = finding_1b(curves, &mut evidence);
    let part_c = finding_1c(curves, &mut evidence);
    finding(1, combine(&[part_a, part_b, part_c]), evidence.join("; "))
}

/// Finding 1 (a): renormalised nets keep falling.
fn finding_1a(curves: &Curves, evidence: &mut Vec<String>) -> Option<bool> {
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
    part_a
}

/// Finding 1 (b): wider is lower at the last layer, for the same n.
fn finding_1b(curves: &Curves, evidence: &mut Vec<String>) -> Option<bool> {
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
    part_b
}

/// Finding 1 (c): plain nets turn back up somewhere, and end above renormalised ones.
fn finding_1c(curves: &Curves, evidence: &mut Vec<String>) -> Option<bool> {
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
    part_c
}

/// Mean lambda_min of the infinite-width kernel at `layer` for a configuration.
fn infinite_lambda_min(infinite: Option<&[InfiniteRow]>, key: &NetKey, layer: usize) -> f64 {
    let Some(rows) = infinite else {
        return f64::NAN;
    };
    let values: Vec<f64> = rows
        .iter()
        .filter(|r| {
            r.activation == key.activation
                && r.depth == key.depth
                && r.n == key.n
                && r.renormalize == key.renormalize
                && r.layer == layer
        })
        .map(|r| r.lambda_min)
        .collect();
    mean(&values)
}

pub(super) fn finding_2(curves: &Curves, infinite: Option<&[InfiniteRow]>) -> Finding {
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
        let inf = infinite_lambda_min(infinite, wide, depth);
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
    finding(2, combine(&parts), evidence.join("; "))
}

pub(super) fn finding_6(curves: &Curves) -> Finding {
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
