//! `wideprobe reproduce` end to end on tiny configs: three sweeps, every figure, and a
//! report whose finding table is computed from the CSVs.

use wideprobe::analysis::report::{evaluate_findings, Verdict};
use wideprobe::experiment::reproduce::{reproduce_set, ExperimentSet, ReproduceOptions};
use wideprobe::io::table::Table;

use crate::common;

const TINY: ExperimentSet = ExperimentSet {
    conditioning: (
        "c.yaml",
        "kind: conditioning_at_init\ndataset: synthetic\ngrid:\n  width: [12, 30]\n  depth: 3\n  n: 6\n  renormalize: [true, false]\n  seed: [0, 1]\n",
    ),
    training: (
        "t.yaml",
        "kind: training\ndataset: synthetic\nepochs: 3\nn_test: 4\ngrid:\n  depth: 1\n  width: 16\n  activation: [relu_normalized, tanh_normalized]\n  loss: [mse, cross_entropy]\n  lr: [0.001, 0.01]\n  n: 5\n",
    ),
    generalization: (
        "g.yaml",
        "kind: training\ndataset: synthetic\nepochs: 5\nn_test: 4\ngrid:\n  depth: 1\n  width: 16\n  loss: [mse, mse_softmax]\n  lr: 0.003\n  n: [4, 6]\n",
    ),
};

#[test]
fn reproduce_writes_every_figure_and_a_report_computed_from_the_tables() {
    let out = std::env::temp_dir().join(format!("wideprobe-test-reproduce-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let summary = reproduce_set(
        common::gpu(),
        &TINY,
        &ReproduceOptions {
            quick: true,
            out: Some(out.clone()),
            force: false,
            quiet: true,
            offline: true,
        },
    )
    .unwrap();
    for (name, r) in &summary.sweeps {
        assert!(r.is_ok(), "{name}: {:?}", r.as_ref().err());
    }
    for figure in [
        "conditioning/figures/fig1a_log10_kappa_by_ratio.png",
        "training/figures/fig2a_loss_prediction.png",
        "training/figures/fig2b_eq13.png",
        "training/figures/fig2c_ntk_kappa_relu.png",
        "training/figures/fig2d_ntk_kappa_tanh.png",
        "generalization/figures/fig4a_generalization_mse.png",
        "generalization/figures/fig4b_generalization_mse_softmax.png",
    ] {
        let path = out.join(figure);
        assert!(
            std::fs::metadata(&path).is_ok_and(|m| m.len() > 0),
            "{} missing; figures: {:?}",
            path.display(),
            std::fs::read_dir(path.parent().unwrap()).map(|d| d.count())
        );
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_eq!(summary.findings.len(), 7);
    for f in &summary.findings {
        assert!(
            md.contains(&f.evidence) || md.contains(&f.claim),
            "finding {}",
            f.number
        );
    }
    assert!(md.contains("fig2a_loss_prediction.png"));
    let images = html.matches("data:image/png;base64,").count();
    assert!(images >= 7, "{images} inlined figures");
    assert!(
        md.contains("SYNTHETIC"),
        "the report says the data was synthetic"
    );

    // The verdicts come from the tables: make every final Eq. 13 bound positive and
    // finding 4 (the bound becomes vacuous) can no longer be reproduced.
    let before = evaluate_findings(
        Some(&out.join("conditioning")),
        Some(&out.join("training")),
        Some(&out.join("generalization")),
    )
    .unwrap();
    let path = out.join("training/epochs.csv");
    let mut epochs = Table::read(&path).unwrap();
    let c = epochs.column("lambda_min_lower_eq13").unwrap();
    for row in &mut epochs.rows {
        if !row[c].is_empty() {
            row[c] = "1".into();
        }
    }
    epochs.write(&path).unwrap();
    let after = evaluate_findings(
        Some(&out.join("conditioning")),
        Some(&out.join("training")),
        Some(&out.join("generalization")),
    )
    .unwrap();
    assert_ne!(after[3].verdict, Verdict::Reproduced, "{:?}", after[3]);
    assert!(
        before[3].evidence != after[3].evidence,
        "finding 4's evidence follows the table: {} vs {}",
        before[3].evidence,
        after[3].evidence
    );
}
