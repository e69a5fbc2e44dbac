//! Training sweeps end to end: an absurd learning rate diverges without stopping the
//! sweep, finished runs are skipped, and the columns of `epochs.csv` obey their
//! definitions (MEASUREMENTS.md §6, §8); the Lipschitz constant against per-example
//! backprop of an f64 reference network built from the saved tensors.

use std::path::{Path, PathBuf};

use wideprobe::experiment::config::{parse_config, ExperimentConfig};
use wideprobe::experiment::runner::{run_experiment, RunOptions};
use wideprobe::io::npy::read_npy;
use wideprobe::io::table::Table;

use crate::common::{self, reference};
use crate::support::{assert_no_earlier_rows_or_figures, figure_files};

fn temp_dir(name: &str) -> PathBuf {
    crate::support::scratch("test", name)
}

fn run(config: &str, dir: &Path, force: bool) -> wideprobe::experiment::runner::SweepSummary {
    let path = dir.join("config.in.yaml");
    std::fs::write(&path, config).unwrap();
    run_experiment(
        common::gpu(),
        &path,
        &RunOptions {
            out: Some(dir.join("out")),
            force,
            quiet: true,
            save_tensors: false,
            shard: None,
            offline: true,
        },
    )
    .unwrap()
}

/// A training sweep on the synthetic data set: `epochs` epochs, `n_test` test examples,
/// then `rest` (further settings and the grid), as YAML.
fn synthetic_training(epochs: usize, n_test: usize, rest: &str) -> String {
    format!("kind: training\ndataset: synthetic\nepochs: {epochs}\nn_test: {n_test}\n{rest}")
}

/// `run` of `config` in a fresh folder for `test`, where no run may fail: the folder,
/// and the sweep's epochs.csv.
fn epochs_of(test: &str, config: &str) -> (PathBuf, Table) {
    let dir = temp_dir(test);
    let summary = run(config, &dir, false);
    assert!(summary.failed.is_empty(), "{summary:?}");
    let epochs = Table::read(&dir.join("out/epochs.csv")).unwrap();
    (dir, epochs)
}

fn cell(t: &Table, row: usize, name: &str) -> String {
    t.rows[row][t.column(name).unwrap()].clone()
}

fn num(t: &Table, row: usize, name: &str) -> f64 {
    cell(t, row, name).parse().unwrap_or(f64::NAN)
}

const SWEEP: &str = "\
kind: training
dataset: synthetic
epochs: 4
n_test: 5
grid:
  depth: 1
  width: 24
  activation: tanh_normalized
  loss: mse
  lr: [0.002, 1000000.0]
  n: 6
";

#[test]
fn an_absurd_learning_rate_diverges_and_the_sweep_goes_on() {
    let dir = temp_dir("train-diverge");
    let summary = run(SWEEP, &dir, false);
    assert_eq!((summary.done, summary.failed.len()), (2, 0), "{summary:?}");
    assert_eq!(summary.diverged, 1);
    let runs = Table::read(&dir.join("out/runs.csv")).unwrap();
    assert_eq!(runs.rows.len(), 2);
    assert_eq!(cell(&runs, 0, "status"), "done");
    assert_eq!(cell(&runs, 0, "epochs_run"), "4");
    assert_eq!(cell(&runs, 1, "status"), "diverged");
    assert_eq!(cell(&runs, 1, "passes_accuracy_filter"), "false");
    let diverged_at: usize = cell(&runs, 1, "diverged_epoch").parse().unwrap();
    assert!((1..=4).contains(&diverged_at), "{diverged_at}");
    // Its rows before the divergence are kept.
    let epochs = Table::read(&dir.join("out/epochs.csv")).unwrap();
    let lr_col = epochs.column("lr").unwrap();
    let diverged_rows = epochs
        .rows
        .iter()
        .filter(|r| r[lr_col] == "1000000")
        .count();
    assert_eq!(diverged_rows, diverged_at);
    // Re-running skips both finished runs (a diverged run is finished).
    let again = run(SWEEP, &dir, false);
    assert_eq!((again.done, again.skipped), (0, 2));
    // Nothing was loaded this time, yet the manifest still names the data the tables used.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["dataset"]["name"], "synthetic", "{manifest}");
    // A run whose table has other columns (an older wideprobe) is recomputed, not joined.
    let first = dir
        .join("out/runs")
        .join(cell(&runs, 0, "run_id"))
        .join("epochs.csv");
    let text = std::fs::read_to_string(&first).unwrap();
    std::fs::write(&first, text.replacen(",ntk_precision", "", 1)).unwrap();
    let upgraded = run(SWEEP, &dir, false);
    assert_eq!((upgraded.done, upgraded.skipped), (1, 1), "{upgraded:?}");
    assert_eq!(
        Table::read(&dir.join("out/runs.csv")).unwrap().rows.len(),
        2
    );
}

#[test]
fn epoch_columns_obey_their_definitions() {
    let rest = "\
bias: true
grid:
  depth: 2
  width: 20
  activation: relu_normalized
  loss: [mse, mse_softmax]
  lr: 0.01
  n: 5
";
    let (_, t) = epochs_of("train-columns", &synthetic_training(3, 4, rest));
    assert_eq!(t.rows.len(), 2 * 4);
    for r in 0..t.rows.len() {
        let epoch: usize = cell(&t, r, "epoch").parse().unwrap();
        let h = num(&t, r, "train_loss");
        let g = num(&t, r, "grad_norm");
        let what = format!("row {r} ({})", cell(&t, r, "run_id"));
        assert!(
            (num(&t, r, "mu_grad") - 0.5 * g * g / h).abs() <= 1e-9 * (0.5 * g * g / h),
            "{what}"
        );
        let mse = cell(&t, r, "loss") == "mse";
        if mse {
            let n = 5.0;
            for (constant, eigenvalue) in
                [("mu_ntk", "ntk_lambda_min"), ("L_ntk", "ntk_lambda_max")]
            {
                let want = num(&t, r, eigenvalue) / n;
                assert!(
                    (num(&t, r, constant) - want).abs() <= 1e-14 * want,
                    "{what}: {constant}"
                );
            }
        } else {
            assert_eq!(cell(&t, r, "mu_ntk"), "", "{what}: mu_ntk is for mse only");
            assert_eq!(num(&t, r, "lemma2_M"), 1.0, "{what}: M = 1 for mse_softmax");
        }
        // Eq. 13: λ_min(Ĝ_0) − ‖Ĝ_t − Ĝ_0‖_F, equal to λ_min at t = 0.
        if epoch == 0 {
            assert_eq!(num(&t, r, "gram_frobenius_change"), 0.0);
            assert_eq!(
                num(&t, r, "lambda_min_lower_eq13"),
                num(&t, r, "gram_lambda_min")
            );
            assert_eq!(
                cell(&t, r, "ratio_eta_grad"),
                "",
                "{what}: no bound at t = 0"
            );
        } else {
            let lambda0 = num(&t, r - epoch, "gram_lambda_min");
            let want = lambda0 - num(&t, r, "gram_frobenius_change");
            assert!(
                (num(&t, r, "lambda_min_lower_eq13") - want).abs() < 1e-12,
                "{what}"
            );
            // The bounds use the previous row's constants.
            let (h0, eta) = (num(&t, r - 1, "train_loss"), 0.01);
            let (mu, l) = (num(&t, r - 1, "mu_grad"), num(&t, r - 1, "L_secant"));
            let bound = (1.0 - 2.0 * eta * mu * (1.0 - eta * l / 2.0)) * h0;
            assert!(
                (num(&t, r, "bound_eta_grad") - bound).abs() <= 1e-9 * bound.abs(),
                "{what}"
            );
            assert!((num(&t, r, "ratio_eta_grad") - h / bound).abs() <= 1e-9 * (h / bound).abs());
            assert!((num(&t, r, "bound_lemma1_grad") - (1.0 - mu / l) * h0).abs() <= 1e-9 * h0);
            if mse {
                let (mu, l) = (num(&t, r - 1, "mu_ntk"), num(&t, r - 1, "L_ntk"));
                let bound = (1.0 - 2.0 * eta * mu * (1.0 - eta * l / 2.0)) * h0;
                assert!((num(&t, r, "bound_eta_ntk") - bound).abs() <= 1e-9 * bound.abs());
                assert_eq!(
                    cell(&t, r, "eta_exceeds_2_over_L_ntk"),
                    (eta > 2.0 / l).to_string()
                );
            }
        }
        // L_secant looks forward: empty on the last row only.
        assert_eq!(cell(&t, r, "L_secant").is_empty(), epoch == 3, "{what}");
        // Lemma 2 from its own columns.
        let (gl, m, delta) = (num(&t, r, "G_lipschitz"), num(&t, r, "lemma2_M"), 0.05);
        let ratio = 2.0 * gl * gl / num(&t, r, "mu_grad");
        let beta = 2.0 * h.sqrt() * ratio.sqrt() + ratio / 4.0;
        let bound = ((m * m + 12.0 * m * 5.0 * beta) / (2.0 * 5.0 * delta)).sqrt();
        assert!(
            (num(&t, r, "gen_bound_grad") - bound).abs() <= 1e-9 * bound,
            "{what}"
        );
        assert_eq!(cell(&t, r, "vacuous"), (bound >= m).to_string());
        let gap = num(&t, r, "test_loss") - h;
        assert!((num(&t, r, "gen_gap") - gap).abs() <= 1e-12 * (1.0 + gap.abs()));
        assert!(num(&t, r, "ntk_lambda_min") > 0.0 && num(&t, r, "ntk_lambda_max").is_finite());
        assert_eq!(cell(&t, r, "ntk_method"), "explicit");
        let f64_here = common::gpu().has_f64();
        assert_eq!(
            cell(&t, r, "ntk_precision"),
            if f64_here { "f64" } else { "f32" }
        );
    }
}

#[test]
fn lipschitz_constant_matches_per_example_backprop_of_the_reference() {
    // One hidden layer, mse: ∇_{W2} l_i = r_i a_iᵀ and ∇_{W1} l_i = (W2ᵀ r_i ⊙ φ'(z_i)) x_iᵀ
    // with r_i = f(x_i) − y_i, so ‖∇ l_i‖² = ‖r_i‖²‖a_i‖² + ‖W2ᵀ r_i ⊙ φ'(z_i)‖²‖x_i‖².
    let rest = "\
save_tensors: true
grid:
  depth: 1
  width: 16
  activation: tanh
  loss: mse
  lr: 0.01
  n: 7
";
    let (dir, t) = epochs_of("train-lipschitz", &synthetic_training(1, 0, rest));
    let tensors = dir
        .join("out/runs")
        .join(cell(&t, 0, "run_id"))
        .join("tensors");
    let load = |name: &str| {
        let a = read_npy(&tensors.join(name)).unwrap();
        (a.shape.clone(), a.to_f64())
    };
    let (xs, x) = load("inputs.npy");
    let (_, labels) = load("labels.npy");
    let (w1s, w1) = load("weights_1_initial.npy");
    let (_, w2) = load("weights_2_initial.npy");
    let (n, d, w, k) = (xs[0], xs[1], w1s[0], 10);
    let net = reference::Network {
        shapes: vec![(w, d), (k, w)],
        params: vec![w1.clone(), w2.clone()],
        activation: "tanh".into(),
        renormalize: false,
        bias: false,
    };
    let logits = net.logits(&x, n);
    let mut max_norm = 0.0f64;
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        let z: Vec<f64> = (0..w)
            .map(|o| (0..d).map(|p| w1[o * d + p] * xi[p]).sum())
            .collect();
        let a: Vec<f64> = z.iter().map(|v| v.tanh()).collect();
        let r: Vec<f64> = (0..k)
            .map(|c| logits[i * k + c] - if labels[i] as usize == c { 1.0 } else { 0.0 })
            .collect();
        let back: Vec<f64> = (0..w)
            .map(|o| {
                (0..k).map(|c| w2[c * w + o] * r[c]).sum::<f64>() * (1.0 - z[o].tanh().powi(2))
            })
            .collect();
        let sq = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
        max_norm = max_norm.max((sq(&r) * sq(&a) + sq(&back) * sq(xi)).sqrt());
    }
    let got = num(&t, 0, "G_lipschitz");
    assert!(
        (got - max_norm).abs() <= 1e-4 * max_norm,
        "G_lipschitz {got} vs reference {max_norm}"
    );
}

#[test]
fn training_config_errors_name_the_problem() {
    let lr = SWEEP.replace("[0.002, 1000000.0]", "[0.002, -1]");
    common::assert_error_names(parse_config(&lr, "t.yaml"), &["grid.lr", "-1"]);
    let loss = SWEEP.replace("loss: mse", "loss: hinge");
    common::assert_error_names(parse_config(&loss, "t.yaml"), &["hinge", "cross_entropy"]);
    let unknown = SWEEP.replace("epochs:", "epoch:");
    common::assert_error_names(
        parse_config(&unknown, "t.yaml"),
        &["epoch", "measure_every"],
    );
    let ExperimentConfig::Training(c) = parse_config(SWEEP, "t.yaml").unwrap() else {
        panic!("a training config");
    };
    assert_eq!(c.runs().len(), 2);
    assert_eq!(
        c.runs()[1].id(),
        "d1_w24_n6_tanh_normalized_mse_lr1000000_plain_s0"
    );
    // Learning rates whose decimals would pass the file system's 255 bytes per name take
    // the exponent form (was "File name too long"); short ones keep their decimals.
    for (lr, part) in [
        ("1e300", "_lr1e300_"),
        ("1e-320", "_lr1e-320_"),
        ("1e-100", "_lr0.0000"),
    ] {
        let text = SWEEP.replace("[0.002, 1000000.0]", lr);
        let ExperimentConfig::Training(c) = parse_config(&text, "t.yaml").unwrap() else {
            panic!("a training config");
        };
        let id = c.runs()[0].id();
        assert!(id.contains(part) && id.len() <= 255, "lr {lr}: {id}");
    }
}

/// A training sweep whose runs all fail, in the folder of an earlier sweep: runs.csv
/// lists them as failed, epochs.csv keeps its header and no row, and none of the
/// earlier sweep's figures or captions stay (the drawing removes them even with no data).
#[test]
fn a_training_sweep_whose_runs_all_fail_leaves_no_earlier_figure_or_row() {
    let dir = temp_dir("train-all-failing");
    let earlier = synthetic_training(
        3,
        3,
        "grid: {depth: 1, width: 16, activation: tanh_normalized, lr: 0.01, n: 5}\n",
    );
    assert_eq!(run(&earlier, &dir, false).done, 1);
    let out = dir.join("out");
    assert!(
        !figure_files(&out).is_empty(),
        "the earlier sweep drew no figure"
    );
    // Width 1 with relu: some example of 20 is all-zero at layer 1 (each is with
    // probability 1/2), and a zero vector cannot be renormalised.
    let failing = synthetic_training(
        1,
        3,
        "grid: {depth: 2, width: 1, activation: relu, renormalize: true, lr: 0.01, n: 20, \
         seed: [0, 1]}\n",
    );
    let summary = run(&failing, &dir, false);
    assert_eq!((summary.done, summary.failed.len()), (0, 2), "{summary:?}");
    for (_, why) in &summary.failed {
        assert!(why.contains("all-zero"), "{why}");
    }
    let runs = Table::read(&out.join("runs.csv")).unwrap();
    assert_eq!(runs.rows.len(), 2);
    for row in 0..2 {
        assert_eq!(cell(&runs, row, "status"), "failed");
        assert_eq!(cell(&runs, row, "width"), "1");
    }
    assert_no_earlier_rows_or_figures(&out, "epochs.csv");
    let _ = std::fs::remove_dir_all(dir);
}

/// A data problem (an all-zero test example that renormalisation cannot scale) is a
/// failure, not a divergence: only a typed non-finite value means `diverged`.
#[test]
fn a_data_error_fails_the_run_instead_of_diverging() {
    use wideprobe::data::Dataset;
    use wideprobe::error::is_non_finite;
    use wideprobe::experiment::training::{train_run, TrainingOps};
    let gpu = common::gpu();
    let config = "kind: training\nepochs: 1\nn_test: 2\ngrid: {depth: 1, width: 32, \
                  activation: relu, lr: 0.01, n: 4, renormalize: true}\n";
    let ExperimentConfig::Training(config) = parse_config(config, "c.yaml").unwrap() else {
        panic!("a training config");
    };
    let run = &config.runs()[0];
    let d = 3;
    let mut rng = common::rng("data error");
    // Positive inputs keep the training examples' relu layer away from all zeros.
    let x_train: Vec<f32> = common::random_vec(&mut rng, 4 * d)
        .iter()
        .map(|v| v.abs() + 0.5)
        .collect();
    let dataset = Dataset {
        x_train,
        y_train: vec![0, 1, 2, 3],
        x_test: vec![0.0; 2 * d], // relu(W·0) = 0: cannot be renormalised
        y_test: vec![0, 1],
        d,
        train_indices: (0..4).collect(),
        test_indices: (0..2).collect(),
        name: "handmade".into(),
        synthetic: true,
        warnings: Vec::new(),
        provenance: Vec::new(),
        channel_mean: [0.0; 3],
        channel_std: [1.0; 3],
    };
    let ops = TrainingOps::new(
        gpu,
        config.common.precision,
        config.common.network_precision,
    )
    .unwrap();
    let error = match train_run(gpu, &ops, &config, run, &dataset, None, &|_, _| {}) {
        Ok((_, summary)) => panic!("recorded as {} instead of failing", summary.status),
        Err(e) => e,
    };
    let message = format!("{error:#}");
    assert!(message.contains("all-zero"), "{message}");
    assert!(
        !is_non_finite(&error),
        "a data error typed as non-finite: {message}"
    );
}

/// MEASUREMENTS.md §5, §6: gradient descent on the `mean` loss with η is gradient
/// descent on the half-sum loss with (2/k)·η, and every loss-scaled column of
/// epochs.csv (loss, gradient norm, μ_grad, L_secant, μ_ntk = 2λ_min/(n k), L_ntk)
/// carries the factor 2/k while the spectra and the loss-prediction ratios agree.
#[test]
fn mean_reduction_scales_every_loss_constant_by_2_over_k() {
    let config = |reduction: &str, lr: f64| {
        let rest = format!(
            "loss_reduction: {reduction}\n\
             grid:\n  depth: 2\n  width: 20\n  activation: tanh_normalized\n  loss: mse\n  lr: {lr}\n  n: 6\n"
        );
        synthetic_training(3, 4, &rest)
    };
    let (k, n, lr_mean) = (10.0, 6.0, 0.05);
    let factor = 2.0 / k;
    let tables = [("mean", lr_mean), ("half_sum", factor * lr_mean)].map(|(reduction, lr)| {
        let test = format!("train-reduction-{reduction}");
        let (_, t) = epochs_of(&test, &config(reduction, lr));
        assert!((0..t.rows.len()).all(|r| cell(&t, r, "loss_reduction") == reduction));
        t
    });
    let [mean, half] = tables;
    assert_eq!(mean.rows.len(), 4);
    let close = |a: f64, b: f64, rel: f64| (a - b).abs() <= rel * b.abs().max(1e-300);
    for r in 0..mean.rows.len() {
        let what = format!("epoch {r}");
        for column in ["train_loss", "grad_norm", "mu_grad", "mu_ntk", "L_ntk"] {
            let (m, h) = (num(&mean, r, column), num(&half, r, column));
            assert!(
                close(m, factor * h, 1e-4),
                "{what}: {column} {m} vs (2/k)·{h}"
            );
        }
        if r + 1 < mean.rows.len() {
            let (m, h) = (num(&mean, r, "L_secant"), num(&half, r, "L_secant"));
            assert!(
                close(m, factor * h, 1e-3),
                "{what}: L_secant {m} vs (2/k)·{h}"
            );
        }
        let lambda_min = num(&mean, r, "ntk_lambda_min");
        assert!(
            close(lambda_min, num(&half, r, "ntk_lambda_min"), 1e-4),
            "{what}"
        );
        assert!(
            close(num(&mean, r, "mu_ntk"), 2.0 * lambda_min / (n * k), 1e-12),
            "{what}"
        );
        if r > 0 {
            let (m, h) = (
                num(&mean, r, "ratio_eta_ntk"),
                num(&half, r, "ratio_eta_ntk"),
            );
            assert!(close(m, h, 1e-3), "{what}: ratio_eta_ntk {m} vs {h}");
        }
    }
}

/// Issue 11: an epoch is one submission and one readback of its scalars, and a measured
/// epoch adds one readback per dense spectrum (NTK, Ĝ): the same at depth 1 and depth
/// 4, where one submission per layer (or per measurement) would grow with the depth.
/// Counted on a device of its own, since the shared one's counters see other tests.
#[test]
fn an_epoch_costs_the_same_few_round_trips_at_every_depth() {
    use std::sync::Mutex;
    use wideprobe::data::{load_dataset, DatasetChoice, InputNorm};
    use wideprobe::experiment::training::{train_run, TrainingOps};
    use wideprobe::gpu::{Gpu, Traffic};
    let gpu = Gpu::from_env().unwrap();
    let per_epoch = |depth: usize| -> Vec<Traffic> {
        let config = format!(
            "kind: training\ndataset: synthetic\nepochs: 3\nmeasure_every: 2\nn_test: 4\n\
             grid: {{depth: {depth}, width: 16, activation: relu_normalized, loss: mse, \
             lr: 0.01, n: 6, renormalize: true}}\n"
        );
        let ExperimentConfig::Training(config) = parse_config(&config, "c.yaml").unwrap() else {
            panic!("a training config");
        };
        let run = &config.runs()[0];
        let dataset = load_dataset(
            DatasetChoice::Synthetic,
            None,
            InputNorm::SqrtFanIn,
            6,
            4,
            0,
        )
        .unwrap();
        let ops = TrainingOps::new(
            &gpu,
            config.common.precision,
            config.common.network_precision,
        )
        .unwrap();
        let marks = Mutex::new(vec![gpu.traffic()]);
        let on_epoch = |_: usize, _: usize| marks.lock().unwrap().push(gpu.traffic());
        train_run(&gpu, &ops, &config, run, &dataset, None, &on_epoch).unwrap();
        let marks = marks.into_inner().unwrap();
        // Epoch 0 also pays for the network's initialisation: compare from epoch 1.
        marks.windows(2).skip(1).map(|w| w[1] - w[0]).collect()
    };
    let (shallow, deep) = (per_epoch(1), per_epoch(4));
    let unmeasured = Traffic {
        submissions: 1,
        readbacks: 1,
    };
    // Epoch 1 is not measured (measure_every 2); epochs 2 and 3 (the last) are.
    let measured = Traffic {
        submissions: 1,
        readbacks: 3,
    };
    assert_eq!(shallow, [unmeasured, measured, measured], "depth 1");
    assert_eq!(deep, [unmeasured, measured, measured], "depth 4");
}
