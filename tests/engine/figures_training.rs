//! Training figures from small hand-written `epochs.csv` / `runs.csv` tables: every
//! figure is drawn, the fig. 2a means are the hand-computed ones, runs that fail the
//! accuracy filter (or failed outright) are left out, and figures without data are
//! skipped.

use std::collections::HashMap;
use std::path::PathBuf;

use wideprobe::analysis::figures::Series;
use wideprobe::analysis::figures_training::{draw_training, fig2a_series, training_figures};
use wideprobe::experiment::training::{epochs_header, runs_header, EPOCH_COLUMNS};
use wideprobe::io::table::Table;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "wideprobe-test-figures-training-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A run of the synthetic tables: its grid point and what runs.csv says of it.
struct Run {
    id: &'static str,
    n: usize,
    activation: &'static str,
    loss: &'static str,
    lr: f64,
    status: &'static str,
    passes: bool,
}

/// A row of `header` from named cells; unnamed cells are empty (not measured).
fn row(header: &[String], cells: &HashMap<&str, String>) -> Vec<String> {
    header
        .iter()
        .map(|h| cells.get(h.as_str()).cloned().unwrap_or_default())
        .collect()
}

fn run_cells(run: &Run) -> HashMap<&'static str, String> {
    HashMap::from([
        ("run_id", run.id.to_string()),
        ("dataset", "synthetic".to_string()),
        ("depth", "2".to_string()),
        ("width", "64".to_string()),
        ("n", run.n.to_string()),
        ("activation", run.activation.to_string()),
        ("loss", run.loss.to_string()),
        ("lr", run.lr.to_string()),
        ("renormalize", "true".to_string()),
        ("bias", "false".to_string()),
        ("seed", "0".to_string()),
    ])
}

/// A deterministic value per (run, column, epoch), distinct across all of them.
fn value(run_index: usize, column: usize, epoch: usize) -> f64 {
    0.5 + run_index as f64 + 0.1 * column as f64 + 0.01 * epoch as f64
}

const RUNS: [Run; 9] = [
    // MSE, lr 0.001, two runs that pass and one that does not (its values must not count).
    Run {
        id: "mse_a",
        n: 10,
        activation: "relu_normalized",
        loss: "mse",
        lr: 0.001,
        status: "done",
        passes: true,
    },
    Run {
        id: "mse_b",
        n: 10,
        activation: "relu_normalized",
        loss: "mse",
        lr: 0.001,
        status: "done",
        passes: true,
    },
    Run {
        id: "mse_rejected",
        n: 10,
        activation: "relu_normalized",
        loss: "mse",
        lr: 0.001,
        status: "done",
        passes: false,
    },
    // MSE at a second lr and a second n; the lr 0.5 run only fails the filter.
    Run {
        id: "mse_c",
        n: 20,
        activation: "relu_normalized",
        loss: "mse",
        lr: 0.01,
        status: "done",
        passes: true,
    },
    Run {
        id: "mse_diverged",
        n: 20,
        activation: "relu_normalized",
        loss: "mse",
        lr: 0.5,
        status: "diverged",
        passes: false,
    },
    // Cross-entropy: a diverged ReLU run counts for 2c, a failed one does not.
    Run {
        id: "ce_relu_diverged",
        n: 10,
        activation: "relu_normalized",
        loss: "cross_entropy",
        lr: 0.1,
        status: "diverged",
        passes: false,
    },
    Run {
        id: "ce_relu_failed",
        n: 10,
        activation: "relu",
        loss: "cross_entropy",
        lr: 0.1,
        status: "failed",
        passes: false,
    },
    Run {
        id: "ce_tanh",
        n: 10,
        activation: "tanh",
        loss: "cross_entropy",
        lr: 0.1,
        status: "done",
        passes: true,
    },
    Run {
        id: "softmax",
        n: 10,
        activation: "tanh_normalized",
        loss: "mse_softmax",
        lr: 0.01,
        status: "done",
        passes: true,
    },
];

const EPOCHS: usize = 4;

/// Columns that are empty at epoch 0 (bounds and ratios need epoch t - 1).
const EMPTY_AT_INIT: [&str; 2] = ["ratio_eta_ntk", "gen_gap"];

fn tables() -> (Table, Table) {
    let epoch_header = epochs_header();
    let run_header = runs_header();
    let mut epochs = Table::new(&epoch_header);
    let mut runs = Table::new(&run_header);
    for (i, run) in RUNS.iter().enumerate() {
        for epoch in 0..EPOCHS {
            let mut cells = run_cells(run);
            cells.insert("epoch", epoch.to_string());
            for (c, name) in EPOCH_COLUMNS.iter().enumerate().skip(1) {
                if !(epoch == 0 && EMPTY_AT_INIT.contains(name)) {
                    cells.insert(name, value(i, c, epoch).to_string());
                }
            }
            // A negative measured gap at epoch 2 of the softmax run: no point on a log axis.
            if run.id == "softmax" && epoch == 2 {
                cells.insert("gen_gap", "-0.25".to_string());
            }
            let header = epochs.header.clone();
            epochs.push(row(&header, &cells)).unwrap();
        }
        let mut cells = run_cells(run);
        cells.insert("status", run.status.to_string());
        cells.insert("epochs_run", EPOCHS.to_string());
        cells.insert("passes_accuracy_filter", run.passes.to_string());
        let header = runs.header.clone();
        runs.push(row(&header, &cells)).unwrap();
    }
    (epochs, runs)
}

fn column_index(name: &str) -> usize {
    EPOCH_COLUMNS.iter().position(|&c| c == name).unwrap()
}

fn run_index(id: &str) -> usize {
    RUNS.iter().position(|r| r.id == id).unwrap()
}

fn series<'a>(all: &'a [Series], label: &str) -> &'a Series {
    all.iter()
        .find(|s| s.label == label)
        .unwrap_or_else(|| panic!("no series `{label}` among {:?}", labels(all)))
}

fn labels(all: &[Series]) -> Vec<&str> {
    all.iter().map(|s| s.label.as_str()).collect()
}

fn y_at(s: &Series, epoch: f64) -> Option<f64> {
    s.points.iter().find(|p| p.0 == epoch).map(|p| p.1)
}

#[test]
fn fig2a_means_the_passing_mse_runs_per_lr_and_epoch() {
    let (epochs, runs) = tables();
    let all = fig2a_series(&epochs, &runs).unwrap();
    // lr 0.5 has only a run failing the filter, cross-entropy and softmax runs are not MSE.
    assert_eq!(
        labels(&all),
        ["lr 0.001", "lr 0.01", "ratio = 1 (bound tight)"]
    );

    let ratio = column_index("ratio_eta_ntk");
    let (a, b) = (
        value(run_index("mse_a"), ratio, 2),
        value(run_index("mse_b"), ratio, 2),
    );
    let rejected = value(run_index("mse_rejected"), ratio, 2);
    let lr = series(&all, "lr 0.001");
    let mean = y_at(lr, 2.0).unwrap();
    assert!(
        (mean - (a + b) / 2.0).abs() < 1e-12,
        "mean {mean}, want {}; with the rejected run it would be {}",
        (a + b) / 2.0,
        (a + b + rejected) / 3.0
    );
    // The 95% band of two values: t(1 dof) = 12.706 times the standard error.
    let half = 12.706 * ((a - b).abs() / 2f64.sqrt()) / 2f64.sqrt();
    let band = lr.band.as_ref().unwrap();
    let (_, lo, hi) = band.iter().find(|p| p.0 == 2.0).copied().unwrap();
    assert!((lo - (mean - half)).abs() < 1e-9 && (hi - (mean + half)).abs() < 1e-9);
    // Ratios are empty at epoch 0: no point there, rather than a zero.
    assert_eq!(y_at(lr, 0.0), None);
    assert_eq!(lr.points.len(), EPOCHS - 1);

    let reference = series(&all, "ratio = 1 (bound tight)");
    assert!(reference.dashed);
    assert_eq!(reference.points, [(1.0, 1.0), (3.0, 1.0)]);
}

#[test]
fn kappa_figures_keep_diverged_runs_and_drop_failed_ones() {
    let (epochs, runs) = tables();
    let figures = training_figures(&epochs, &runs).unwrap();
    let kappa = column_index("ntk_log10_kappa");
    let fig2c = figures
        .iter()
        .find(|f| f.stem == "fig2c_ntk_kappa_relu")
        .unwrap();
    let lr = series(&fig2c.panels[0].series, "lr 0.1");
    // Only the diverged run: the failed one (raw `relu`, same lr) must not pull the mean.
    assert_eq!(
        y_at(lr, 1.0),
        Some(value(run_index("ce_relu_diverged"), kappa, 1))
    );
    let fig2d = figures
        .iter()
        .find(|f| f.stem == "fig2d_ntk_kappa_tanh")
        .unwrap();
    let lr = series(&fig2d.panels[0].series, "lr 0.1");
    assert_eq!(y_at(lr, 3.0), Some(value(run_index("ce_tanh"), kappa, 3)));

    // 4b: log10 of the gap, with no point where the gap is negative.
    let fig4b = figures
        .iter()
        .find(|f| f.stem == "fig4b_generalization_mse_softmax")
        .unwrap();
    let gap = series(&fig4b.panels[0].series, "n = 10: measured gap");
    assert!(gap.dashed);
    assert_eq!(y_at(gap, 2.0), None);
    let want = value(run_index("softmax"), column_index("gen_gap"), 3).log10();
    assert!((y_at(gap, 3.0).unwrap() - want).abs() < 1e-12);

    // 2b: one panel per n with passing MSE runs.
    let fig2b = figures.iter().find(|f| f.stem == "fig2b_eq13").unwrap();
    assert_eq!(fig2b.panels.len(), 2);
}

#[test]
fn figures_without_data_are_skipped() {
    let (mut epochs, runs) = tables();
    let loss = epochs.column("loss").unwrap();
    epochs.rows.retain(|r| r[loss] == "mse");
    let stems: Vec<String> = training_figures(&epochs, &runs)
        .unwrap()
        .into_iter()
        .map(|f| f.stem)
        .collect();
    assert_eq!(
        stems,
        [
            "fig2a_loss_prediction",
            "fig2b_eq13",
            "fig4a_generalization_mse"
        ]
    );
}

#[test]
fn draw_training_writes_every_figure() {
    let dir = temp_dir("draw");
    let (epochs, runs) = tables();
    epochs.write(&dir.join("epochs.csv")).unwrap();
    runs.write(&dir.join("runs.csv")).unwrap();
    let stems = draw_training(&dir).unwrap();
    let expected = [
        "fig2a_loss_prediction",
        "fig2b_eq13",
        "fig2c_ntk_kappa_relu",
        "fig2d_ntk_kappa_tanh",
        "fig4a_generalization_mse",
        "fig4b_generalization_mse_softmax",
    ];
    let figures = dir.join("figures");
    assert_eq!(
        stems,
        expected.iter().map(|s| figures.join(s)).collect::<Vec<_>>()
    );
    for stem in expected {
        for ext in ["png", "svg"] {
            let path = figures.join(format!("{stem}.{ext}"));
            let size = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .len();
            assert!(size > 0, "{} is empty", path.display());
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}
