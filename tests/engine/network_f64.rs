//! `network_precision: f64` end to end: a small conditioning sweep and small training
//! sweeps (bias, renormalisation, every loss, both reductions) whose `layers.csv` and
//! `epochs.csv` columns match an f64 recomputation from their saved tensors to 1e-9
//! relative (the f32 network's tests allow 1e-4, MEASUREMENTS.md §7).

use std::path::{Path, PathBuf};

use wideprobe::experiment::runner::{run_experiment, RunOptions};
use wideprobe::io::npy::read_npy;
use wideprobe::io::table::Table;
use wideprobe::nn::activation::Activation;
use wideprobe::nn::fcn::{init_weights, init_weights_in};

use crate::common::{self, reference};

fn temp_dir(name: &str) -> PathBuf {
    crate::support::scratch("test", name)
}

fn run(config: &str, dir: &Path) -> Table {
    let path = dir.join("config.in.yaml");
    std::fs::write(&path, config).unwrap();
    let options = RunOptions {
        out: Some(dir.join("out")),
        force: false,
        quiet: true,
        save_tensors: true,
        shard: None,
        offline: true,
    };
    let summary = run_experiment(common::gpu(), &path, &options).unwrap();
    assert!(summary.failed.is_empty(), "{summary:?}");
    let table = if dir.join("out/layers.csv").exists() {
        "layers.csv"
    } else {
        "epochs.csv"
    };
    Table::read(&dir.join("out").join(table)).unwrap()
}

fn load(dir: &Path, name: &str) -> (Vec<usize>, Vec<f64>) {
    let a = read_npy(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    (a.shape.clone(), a.to_f64())
}

/// Eigenvalues of a symmetric matrix by faer, ascending.
fn eigenvalues(a: &[f64], n: usize) -> Vec<f64> {
    let m = faer::Mat::<f64>::from_fn(n, n, |i, j| a[i * n + j]);
    let mut ev = m.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
    ev.sort_by(|x, y| x.total_cmp(y));
    ev
}

/// (λ_min, λ_max) of F Fᵀ / w for features F [n, w].
fn gram_extremes(f: &[f64], n: usize, w: usize) -> (f64, f64) {
    let ev = eigenvalues(&reference::gram(f, n, w, 1.0 / w as f64), n);
    (ev[0], ev[n - 1])
}

/// |got - want| <= 1e-9 (|want| + scale), naming the quantity.
fn close(what: &str, got: f64, want: f64, scale: f64) {
    assert!(
        (got - want).abs() <= 1e-9 * (want.abs() + scale),
        "{what}: {got:e} vs recomputed {want:e} (diff {:e})",
        (got - want).abs()
    );
    eprintln!(
        "{what}: ok ({:.1e} relative)",
        (got - want).abs() / want.abs().max(1e-300)
    );
}

/// Row `r`'s `{prefix}_max` and `{prefix}_min` columns of `t` against the recomputed
/// (λ_min, λ_max); λ_min to 1e-9 of λ_max, as it may be near 0.
fn close_extremes(what: &str, t: &Table, r: usize, prefix: &str, (lo, hi): (f64, f64)) {
    for (end, want, scale) in [("max", hi, 0.0), ("min", lo, hi)] {
        let column = format!("{prefix}_{end}");
        let got = t.f64(r, t.column(&column).unwrap());
        close(&format!("{what}: {column}"), got, want, scale);
    }
}

#[test]
fn f64_weights_round_to_the_f32_networks_weights() {
    let config = common::fcn_config(33, vec![7, 130], 10, Activation::Tanh, 7);
    let w64: Vec<Vec<f64>> = init_weights_in(&config);
    let rounded: Vec<Vec<f32>> = w64
        .iter()
        .map(|w| w.iter().map(|&v| v as f32).collect())
        .collect();
    assert_eq!(rounded, init_weights(&config));
    assert!(
        w64[0].iter().any(|&v| v != (v as f32) as f64),
        "f64 weights carry more bits"
    );
}

#[test]
fn f64_conditioning_matches_its_saved_tensors_to_1e_9() {
    if common::skip_without_f64() {
        return;
    }
    let dir = temp_dir("f64-conditioning");
    let layers = run(
        "kind: conditioning_at_init\ndataset: synthetic\nnetwork_precision: f64\n\
         grid:\n  width: 9\n  depth: 2\n  n: 7\n  activation: tanh\n  renormalize: [true, false]\n",
        &dir,
    );
    assert_eq!(layers.rows.len(), 2 * 3);
    let col = |name: &str| layers.column(name).unwrap();
    for (r, row) in layers.rows.iter().enumerate() {
        assert_eq!(row[col("network_precision")], "f64");
        assert_eq!(row[col("precision")], "f64");
        let tensors = dir
            .join("out/runs")
            .join(&row[col("run_id")])
            .join("tensors");
        let (xs, x) = load(&tensors, "inputs.npy");
        let (n, d) = (xs[0], xs[1]);
        let (w1s, w1) = load(&tensors, "weights_1.npy");
        let (_, w2) = load(&tensors, "weights_2.npy");
        let (_, w3) = load(&tensors, "weights_3.npy");
        let w = w1s[0];
        let net = reference::Network {
            shapes: vec![(w, d), (w, w), (10, w)],
            params: vec![w1, w2, w3],
            activation: "tanh".into(),
            renormalize: row[col("renormalize")] == "true",
            bias: false,
        };
        let l: usize = row[col("layer")].parse().unwrap();
        let features = match l {
            0 => x.clone(),
            _ => {
                let shallower = reference::Network {
                    shapes: net.shapes[..l + 1].to_vec(),
                    params: net.params[..l + 1].to_vec(),
                    ..net.clone()
                };
                shallower.last_hidden(&x, n)
            }
        };
        let width = features.len() / n;
        let want = reference::gram(&features, n, width, 1.0 / width as f64);
        let (_, saved) = load(&tensors, &format!("gram_{l}.npy"));
        common::assert_close(&format!("row {r}: Ĝ^{l}"), &saved, &want, 1e-9, 1e-12, 1e-9);
        let extremes = gram_extremes(&features, n, width);
        close_extremes(&format!("row {r}"), &layers, r, "lambda", extremes);
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Per-example loss and its gradient with respect to the logits, in f64 (§5); `weight`
/// is the reduction's factor (1 for half_sum, 2/k for mean; 1 for cross_entropy).
fn loss_and_gradient(loss: &str, weight: f64, f: &[f64], y: usize) -> (f64, Vec<f64>) {
    let m = f.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = f.iter().map(|v| (v - m).exp()).sum();
    let p: Vec<f64> = f.iter().map(|v| (v - m).exp() / z).collect();
    let onehot = |c: usize| if c == y { 1.0 } else { 0.0 };
    match loss {
        "mse" => {
            let r: Vec<f64> = f.iter().enumerate().map(|(c, v)| v - onehot(c)).collect();
            let l = 0.5 * r.iter().map(|v| v * v).sum::<f64>();
            (weight * l, r.iter().map(|v| weight * v).collect())
        }
        "mse_softmax" => {
            let g: Vec<f64> = p.iter().enumerate().map(|(c, v)| v - onehot(c)).collect();
            let pg: f64 = p.iter().zip(&g).map(|(a, b)| a * b).sum();
            let l = 0.5 * g.iter().map(|v| v * v).sum::<f64>();
            (
                weight * l,
                p.iter()
                    .zip(&g)
                    .map(|(pc, gc)| weight * pc * (gc - pg))
                    .collect(),
            )
        }
        _ => (
            z.ln() + m - f[y],
            p.iter().enumerate().map(|(c, v)| v - onehot(c)).collect(),
        ),
    }
}

fn norm(v: &[Vec<f64>]) -> f64 {
    v.iter().flatten().map(|x| x * x).sum::<f64>().sqrt()
}

/// One epochs.csv row of a run against the f64 reference network `net` on inputs `x`.
fn check_epoch(
    t: &Table, r: usize, net: &reference::Network, x: &[f64], labels: &[usize], mean: bool,
) {
    let col = |name: &str| t.column(name).unwrap();
    let row = &t.rows[r];
    let what = format!("{} epoch {}", row[col("run_id")], row[col("epoch")]);
    let loss = row[col("loss")].as_str();
    let (n, k) = (labels.len(), 10);
    let weight = if mean && loss != "cross_entropy" {
        2.0 / k as f64
    } else {
        1.0
    };
    let logits = net.logits(x, n);
    let per: Vec<(f64, Vec<f64>)> = (0..n)
        .map(|i| loss_and_gradient(loss, weight, &logits[i * k..(i + 1) * k], labels[i]))
        .collect();
    let h = per.iter().map(|(l, _)| l).sum::<f64>() / n as f64;
    close(
        &format!("{what}: train_loss"),
        t.f64(r, col("train_loss")),
        h,
        0.0,
    );
    let d_logits: Vec<f64> = per
        .iter()
        .flat_map(|(_, g)| g.iter().map(|v| v / n as f64))
        .collect();
    let grad_norm = norm(&net.vjp(x, n, &d_logits));
    close(
        &format!("{what}: grad_norm"),
        t.f64(r, col("grad_norm")),
        grad_norm,
        0.0,
    );
    // The NTK J Jᵀ, row i·k + c of J the gradient of logit c of example i.
    let rows: Vec<Vec<f64>> = (0..n * k)
        .map(|p| {
            let mut e = vec![0.0; n * k];
            e[p] = 1.0;
            net.vjp(x, n, &e).concat()
        })
        .collect();
    let kernel: Vec<f64> = rows
        .iter()
        .flat_map(|a| {
            rows.iter()
                .map(move |b| a.iter().zip(b).map(|(u, v)| u * v).sum())
        })
        .collect();
    let ev = eigenvalues(&kernel, n * k);
    close_extremes(&what, t, r, "ntk_lambda", (ev[0], ev[n * k - 1]));
    let w = net.shapes[0].0;
    let extremes = gram_extremes(&net.last_hidden(x, n), n, w);
    close_extremes(&what, t, r, "gram_lambda", extremes);
    if loss != "cross_entropy" {
        // Lemma 2's G: max_i ‖∇θ l_i‖.
        let g_lip = (0..n)
            .map(|i| {
                let mut e = vec![0.0; n * k];
                e[i * k..(i + 1) * k].copy_from_slice(&per[i].1);
                norm(&net.vjp(x, n, &e))
            })
            .fold(0.0, f64::max);
        close(
            &format!("{what}: G_lipschitz"),
            t.f64(r, col("G_lipschitz")),
            g_lip,
            0.0,
        );
    }
}

fn check_training(reduction: &str) {
    let dir = temp_dir(&format!("f64-training-{reduction}"));
    let config = format!(
        "kind: training\ndataset: synthetic\nnetwork_precision: f64\nepochs: 2\nn_test: 0\n\
         bias: true\nloss_reduction: {reduction}\nspectrum_tol_min: 1.0e-12\n\
         grid:\n  depth: 2\n  width: 6\n  activation: tanh\n  renormalize: true\n\
         \x20 loss: [mse, mse_softmax, cross_entropy]\n  lr: 0.5\n  n: 4\n"
    );
    let t = run(&config, &dir);
    let col = |name: &str| t.column(name).unwrap();
    assert_eq!(t.rows.len(), 3 * 3, "3 runs x epochs 0..=2");
    for (r, row) in t.rows.iter().enumerate() {
        assert_eq!(row[col("network_precision")], "f64");
        let stage = match row[col("epoch")].as_str() {
            "0" => "initial",
            "2" => "final",
            _ => continue,
        };
        let tensors = dir
            .join("out/runs")
            .join(&row[col("run_id")])
            .join("tensors");
        let (xs, x) = load(&tensors, "inputs.npy");
        let (_, labels) = load(&tensors, "labels.npy");
        let labels: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
        let names = [
            "weights_1",
            "weights_2",
            "weights_3",
            "bias_1",
            "bias_2",
            "bias_3",
        ];
        let params: Vec<Vec<f64>> = names
            .iter()
            .map(|p| load(&tensors, &format!("{p}_{stage}.npy")).1)
            .collect();
        let w = params[3].len();
        let net = reference::Network {
            shapes: vec![(w, xs[1]), (w, w), (10, w)],
            params,
            activation: "tanh".into(),
            renormalize: true,
            bias: true,
        };
        check_epoch(&t, r, &net, &x, &labels, reduction == "mean");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn f64_training_half_sum_matches_its_saved_tensors_to_1e_9() {
    if common::skip_without_f64() {
        return;
    }
    check_training("half_sum");
}

#[test]
fn f64_training_mean_matches_its_saved_tensors_to_1e_9() {
    if common::skip_without_f64() {
        return;
    }
    check_training("mean");
}
