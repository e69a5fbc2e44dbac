//! The experiment layer: config errors, grid expansion, and a small conditioning sweep
//! end to end, whose numbers are recomputed independently from its saved tensors.

use std::path::{Path, PathBuf};

use wideprobe::experiment::config::{parse_config, ExperimentConfig};
use wideprobe::experiment::runner::{run_experiment, RunOptions};
use wideprobe::io::npy::read_npy;
use wideprobe::io::table::Table;

use crate::common;
use crate::support::{assert_no_earlier_rows_or_figures, figure_files};

fn temp_dir(name: &str) -> PathBuf {
    crate::support::scratch("test", name)
}

const SMALL: &str = "\
kind: conditioning_at_init
dataset: synthetic
grid:
  width: [9, 40]
  depth: 2
  n: 7
  renormalize: [true, false]
  seed: [0, 1]
";

#[test]
fn grid_expands_to_the_cartesian_product_seeds_innermost() {
    let ExperimentConfig::Conditioning(c) = parse_config(SMALL, "small.yaml").unwrap() else {
        panic!("a conditioning config");
    };
    let runs = c.runs();
    assert_eq!(runs.len(), 2 * 2 * 2);
    assert_eq!(runs[0].id(), "w9_d2_n7_relu_normalized_renorm_s0");
    assert_eq!(runs[1].id(), "w9_d2_n7_relu_normalized_renorm_s1");
    assert_eq!(runs[7].id(), "w40_d2_n7_relu_normalized_plain_s1");
}

#[test]
fn the_shipped_configs_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let runs = match wideprobe::experiment::config::load_config(&path).unwrap() {
                ExperimentConfig::Conditioning(c) => c.runs().len(),
                ExperimentConfig::Training(c) => c.runs().len(),
            };
            assert!(runs > 0, "{}", path.display());
            count += 1;
        }
    }
    assert!(count >= 2);
    let ExperimentConfig::Conditioning(fig1) =
        wideprobe::experiment::config::load_config(&dir.join("fig1_conditioning.yaml")).unwrap()
    else {
        panic!("fig1 is a conditioning config");
    };
    assert_eq!(fig1.runs().len(), 144, "the paper's grid");
}

#[test]
fn config_errors_name_the_problem() {
    // Each broken config, and what its error must name.
    let training =
        "kind: training\ndataset: synthetic\ngrid:\n  width: 8\n  depth: 1\n  n: 4\n  lr: 0.1\n";
    let cases: [(String, &[&str]); 14] = [
        (
            SMALL.replace("dataset:", "datset:"),
            &["datset", "dataset", "c.yaml"],
        ),
        (SMALL.replace("  depth: 2", "  dept: 2"), &["dept", "width"]),
        (
            SMALL.replace("  depth: 2", "  depth: deep"),
            &["line", "column"],
        ),
        (
            "kind: training_wheels\ngrid: {}".into(),
            &["training_wheels", "conditioning_at_init"],
        ),
        ("grid: {}".into(), &["kind"]),
        (SMALL.replace("  n: 7", "  n: [7, 0]"), &["grid.n"]),
        (
            SMALL.replace("  n: 7", "  n: 7\n  activation: sigmoid"),
            &["sigmoid"],
        ),
        // Sizes that would exhaust the host before any check of the network.
        (
            SMALL.replace("  n: 7", "  n: [7, 100000000]"),
            &["grid.n", "100000000", "at most 50000"],
        ),
        (
            SMALL.replace("  depth: 2", "  depth: 4000000000"),
            &["grid.depth", "at most 10000"],
        ),
        (
            format!("{training}epochs: 18446744073709551615\n"),
            &["epochs", "at most 1000000"],
        ),
        (
            format!("{training}n_test: 100000000\n"),
            &["n_test", "at most 10000"],
        ),
        (
            training.replace("  n: 4", "  n: 50001"),
            &["grid.n", "50001"],
        ),
        // A repeated value would name one run twice.
        (
            SMALL.replace("width: [9, 40]", "width: [9, 40, 9]"),
            &["grid.width", "9", "more than once"],
        ),
        (
            training.replace("lr: 0.1", "lr: [0.1, 0.10, 1e-1]"),
            &["grid.lr", "0.1", "more than once"],
        ),
    ];
    for (config, names) in cases {
        common::assert_error_names(parse_config(&config, "c.yaml"), names);
    }
}

/// Options of a quiet, offline run into `out`.
fn options(out: &Path, save_tensors: bool) -> RunOptions {
    RunOptions {
        out: Some(out.to_path_buf()),
        force: false,
        quiet: true,
        save_tensors,
        shard: None,
        offline: true,
    }
}

/// A conditioning sweep of one tiny run per activation of `activations` (a YAML value).
fn tiny_sweep(activations: &str) -> String {
    format!(
        "kind: conditioning_at_init\ndataset: synthetic\ninfinite_width: false\ngrid:\n  \
         width: 9\n  depth: 2\n  n: 7\n  activation: {activations}\n  seed: 0\n"
    )
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("exp.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Eigenvalues of a symmetric matrix by faer, ascending.
fn eigenvalues(a: &[f64], n: usize) -> Vec<f64> {
    let m = faer::Mat::<f64>::from_fn(n, n, |i, j| a[i * n + j]);
    let mut ev = m.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
    ev.sort_by(|x, y| x.total_cmp(y));
    ev
}

#[test]
fn conditioning_sweep_end_to_end_resumes_and_matches_its_saved_tensors() {
    let gpu = common::gpu();
    let dir = temp_dir("sweep");
    // Tensors through the --save-tensors option (the config does not ask for them).
    let config = write_config(&dir, SMALL);
    let out = dir.join("out");
    let options = options(&out, true);
    let summary = run_experiment(gpu, &config, &options).unwrap();
    assert_eq!(
        (summary.done, summary.skipped, summary.failed.len()),
        (8, 0, 0)
    );

    let layers = Table::read(&out.join("layers.csv")).unwrap();
    assert_eq!(layers.rows.len(), 8 * 3, "8 runs x layers 0..=2");
    for name in ["manifest.json", "infinite_width.csv", "config.yaml"] {
        assert!(out.join(name).exists(), "{name} missing");
    }
    for fig in [
        "fig1a_log10_kappa_by_ratio",
        "fig1b_log10_kappa_by_width",
        "fig1c_lambda_min_by_width",
        "fig1d_lambda_max_by_width",
        "fig3a_max_offdiag_rowsum",
        "fig3b_max_abs_offdiag",
    ] {
        for ext in ["png", "svg"] {
            let p = out.join("figures").join(format!("{fig}.{ext}"));
            assert!(
                p.metadata().map(|m| m.len() > 1000).unwrap_or(false),
                "{} missing or empty",
                p.display()
            );
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["dataset"]["synthetic"], true);
    assert_eq!(manifest["runs"].as_array().unwrap().len(), 8);

    // Independent check: every layer's λ_min, λ_max and Gershgorin proxies from the
    // saved Ĝ^l, and Ĝ^0 itself from the saved inputs, in f64 on the host.
    let col = |name: &str| layers.column(name).unwrap();
    for (i, row) in layers.rows.iter().enumerate() {
        let run_dir = out.join("runs").join(&row[col("run_id")]).join("tensors");
        // f64 where the adapter has it; f32 on others (e.g. WGPU_BACKEND=gl): there the
        // Gram matrix is f32-accumulated and the spectrum meets the f32 targets of §7.
        let (gram_tol, eig_tol) = match row[col("precision")].as_str() {
            "f64" => (1e-9, 1e-10),
            _ => (1e-5, 1e-5),
        };
        let l: usize = row[col("layer")].parse().unwrap();
        let g = read_npy(&run_dir.join(format!("gram_{l}.npy"))).unwrap();
        let n = g.shape[0];
        let gv = g.to_f64();
        if l == 0 {
            let x = read_npy(&run_dir.join("inputs.npy")).unwrap();
            let (xn, d) = (x.shape[0], x.shape[1]);
            let xv = x.to_f64();
            for a in 0..xn {
                for b in 0..xn {
                    let s: f64 =
                        (0..d).map(|k| xv[a * d + k] * xv[b * d + k]).sum::<f64>() / d as f64;
                    assert!(
                        (s - gv[a * n + b]).abs() <= gram_tol * (1.0 + s.abs()),
                        "Ĝ^0[{a},{b}] {s} vs {}",
                        gv[a * n + b]
                    );
                }
            }
        }
        let ev = eigenvalues(&gv, n);
        let (lo, hi) = (ev[0], ev[n - 1]);
        let got_lo = layers.f64(i, col("lambda_min"));
        let got_hi = layers.f64(i, col("lambda_max"));
        assert!(
            (got_hi - hi).abs() <= eig_tol * hi,
            "row {i}: λ_max {got_hi} vs {hi}"
        );
        assert!(
            (got_lo - lo).abs() <= eig_tol * hi,
            "row {i}: λ_min {got_lo} vs {lo}"
        );
        let min_diag = (0..n).map(|a| gv[a * n + a]).fold(f64::INFINITY, f64::min);
        assert!(
            (layers.f64(i, col("min_diag")) - min_diag).abs() <= 1e-12 * (1.0 + min_diag.abs())
        );
    }

    // Re-running skips every finished run; --force recomputes them.
    let again = run_experiment(gpu, &config, &options).unwrap();
    assert_eq!((again.done, again.skipped), (0, 8));
    let forced = run_experiment(
        gpu,
        &config,
        &RunOptions {
            force: true,
            ..options
        },
    )
    .unwrap();
    assert_eq!((forced.done, forced.skipped), (8, 0));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_failing_run_is_recorded_and_the_sweep_goes_on() {
    let gpu = common::gpu();
    let dir = temp_dir("failing");
    // Renormalising needs a non-zero activation vector: with relu and width 1, some
    // example is all-zero at layer 1 for almost every seed; the others must finish.
    let text = "\
kind: conditioning_at_init
dataset: synthetic
infinite_width: false
grid:
  width: [1, 64]
  depth: 3
  n: 20
  activation: relu
  renormalize: true
  seed: [0, 1, 2]
";
    let config = write_config(&dir, text);
    let out = dir.join("out");
    let summary = run_experiment(gpu, &config, &options(&out, false)).unwrap();
    assert_eq!(summary.done + summary.failed.len(), 6);
    assert!(summary.done >= 3, "the width-64 runs finish");
    assert!(
        !summary.failed.is_empty(),
        "width-1 relu with renormalisation should fail somewhere"
    );
    assert!(
        summary.failed[0].1.contains("cannot be renormalised"),
        "{}",
        summary.failed[0].1
    );
    let layers = Table::read(&out.join("layers.csv")).unwrap();
    assert_eq!(layers.rows.len(), summary.done * 4);
    let _ = std::fs::remove_dir_all(dir);
}

/// When every run fails, nothing earlier is presented as today's: the tables keep their
/// header and no row, and the figures of an earlier sweep in the same folder are gone
/// (the drawing clears them first, with nothing to draw).
#[test]
fn a_sweep_whose_runs_all_fail_leaves_no_earlier_figure_or_row() {
    let gpu = common::gpu();
    let dir = temp_dir("all-failing");
    let out = dir.join("out");
    let options = options(&out, false);
    let earlier = write_config(&dir, &tiny_sweep("relu_normalized"));
    run_experiment(gpu, &earlier, &options).unwrap();
    assert!(
        !figure_files(&out).is_empty(),
        "the earlier sweep drew no figure"
    );
    // Width 1 with relu: some example of 20 is all-zero at layer 1 (each is with
    // probability 1/2), and a zero vector cannot be renormalised.
    let failing = write_config(
        &dir,
        "kind: conditioning_at_init\ndataset: synthetic\ninfinite_width: false\ngrid:\n  \
         width: 1\n  depth: 3\n  n: 20\n  activation: relu\n  renormalize: true\n  \
         seed: [0, 1]\n",
    );
    let summary = run_experiment(gpu, &failing, &options).unwrap();
    assert_eq!((summary.done, summary.failed.len()), (0, 2));
    for (_, why) in &summary.failed {
        assert!(why.contains("cannot be renormalised"), "{why}");
    }
    assert_no_earlier_rows_or_figures(&out, "layers.csv");
    let _ = std::fs::remove_dir_all(dir);
}

/// The key list that unknown-key errors and the key check use is Common's own fields.
#[test]
fn common_keys_are_the_common_fields() {
    use wideprobe::experiment::config::Common;
    // network_precision is serialised only when it is not the default f32.
    let common = Common {
        network_precision: wideprobe::nn::NetworkPrecision::F64,
        ..Default::default()
    };
    let value = serde_json::to_value(common).unwrap();
    let mut fields: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = Common::KEYS.to_vec();
    fields.sort();
    keys.sort();
    assert_eq!(fields, keys);
}

/// Figures are drawn whole each time: after a sweep's settings change in the same
/// folder, no figure from the earlier settings stays beside the new ones.
#[test]
fn figures_from_earlier_settings_do_not_stay() {
    let gpu = common::gpu();
    let dir = temp_dir("stale-figures");
    let out = dir.join("out");
    let options = options(&out, false);
    let both = write_config(&dir, &tiny_sweep("[relu_normalized, tanh_normalized]"));
    run_experiment(gpu, &both, &options).unwrap();
    let before = figure_files(&out);
    assert!(
        before.iter().any(|f| f.contains("tanh_normalized")),
        "{before:?}"
    );
    let relu = write_config(&dir, &tiny_sweep("relu_normalized"));
    run_experiment(gpu, &relu, &options).unwrap();
    let after = figure_files(&out);
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|f| !f.contains("tanh")),
        "figures of the earlier settings stayed: {after:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
