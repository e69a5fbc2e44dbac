//! Training figures from small hand-written `epochs.csv` / `runs.csv` tables: every
//! figure is drawn, the fig. 2a means are the hand-computed ones, runs that fail the
//! accuracy filter (or failed outright) are left out, and figures without data are
//! skipped.

use std::collections::HashMap;
use std::path::PathBuf;

use wideprobe::analysis::figures::{Scale, Series};
use wideprobe::analysis::figures_conditioning::{conditioning_figures, draw_conditioning_rows};
use wideprobe::analysis::figures_training::{draw_training, fig2a_series, training_figures};
use wideprobe::experiment::conditioning::layers_header;
use wideprobe::experiment::training::{epochs_header, runs_header, EPOCH_COLUMNS};
use wideprobe::io::table::Table;
use wideprobe::io::tables::{LayerRow, Row};

fn temp_dir(name: &str) -> PathBuf {
    crate::support::scratch("test-figures-training", name)
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

impl Run {
    /// A finished run that passes the accuracy filter.
    const fn done(
        id: &'static str, n: usize, activation: &'static str, loss: &'static str, lr: f64,
    ) -> Self {
        let (status, passes) = ("done", true);
        Run {
            id,
            n,
            activation,
            loss,
            lr,
            status,
            passes,
        }
    }

    /// The same run failing the accuracy filter, with runs.csv's `status`.
    const fn rejected(self, status: &'static str) -> Self {
        Run {
            status,
            passes: false,
            ..self
        }
    }
}

/// One run a line, as a table (rustfmt would give each argument a line).
#[rustfmt::skip]
const RUNS: [Run; 9] = [
    // MSE, lr 0.001, two runs that pass and one that does not (its values must not count).
    Run::done("mse_a", 10, "relu_normalized", "mse", 0.001),
    Run::done("mse_b", 10, "relu_normalized", "mse", 0.001),
    Run::done("mse_rejected", 10, "relu_normalized", "mse", 0.001).rejected("done"),
    // MSE at a second lr and a second n; the lr 0.5 run only fails the filter.
    Run::done("mse_c", 20, "relu_normalized", "mse", 0.01),
    Run::done("mse_diverged", 20, "relu_normalized", "mse", 0.5).rejected("diverged"),
    // Cross-entropy: a diverged ReLU run counts for 2c, a failed one does not.
    Run::done("ce_relu_diverged", 10, "relu_normalized", "cross_entropy", 0.1).rejected("diverged"),
    Run::done("ce_relu_failed", 10, "relu", "cross_entropy", 0.1).rejected("failed"),
    Run::done("ce_tanh", 10, "tanh", "cross_entropy", 0.1),
    Run::done("softmax", 10, "tanh_normalized", "mse_softmax", 0.01),
];

const EPOCHS: usize = 4;

/// Columns that are empty at epoch 0 (bounds and ratios need epoch t - 1).
const EMPTY_AT_INIT: [&str; 2] = ["ratio_eta_ntk", "gen_gap"];

/// The epoch columns that hold true or false.
const FLAG_COLUMNS: [&str; 4] = [
    "ntk_converged",
    "eta_exceeds_2_over_L_ntk",
    "eta_exceeds_2_over_L_grad",
    "vacuous",
];

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
                    // Flags are false (as the numbers here once read): the reader now
                    // refuses a number in a flag column.
                    let text = if FLAG_COLUMNS.contains(name) {
                        "false".to_string()
                    } else {
                        value(i, c, epoch).to_string()
                    };
                    cells.insert(name, text);
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
        ["η = 0.001", "η = 0.01", "ratio 1 (bound tight)"]
    );

    let ratio = column_index("ratio_eta_ntk");
    let (a, b) = (
        value(run_index("mse_a"), ratio, 2),
        value(run_index("mse_b"), ratio, 2),
    );
    let rejected = value(run_index("mse_rejected"), ratio, 2);
    let lr = series(&all, "η = 0.001");
    let mean = y_at(lr, 2.0).unwrap();
    assert!(
        (mean - (a + b) / 2.0).abs() < 1e-12,
        "mean {mean}, want {}; with the rejected run it would be {}",
        (a + b) / 2.0,
        (a + b + rejected) / 3.0
    );
    // The 95% band of two values (a non-negative ratio): the percentile bootstrap of the
    // mean over the four resamples {a,a}, {a,b}, {b,a}, {b,b}, inside [min, max].
    let band = lr.band.as_ref().unwrap();
    let (_, lo, hi) = band.iter().find(|p| p.0 == 2.0).copied().unwrap();
    assert!(lo >= a.min(b) - 1e-12 && hi <= a.max(b) + 1e-12 && lo < mean && mean < hi);
    // Ratios are empty at epoch 0: no point there, rather than a zero.
    assert_eq!(y_at(lr, 0.0), None);
    assert_eq!(lr.points.len(), EPOCHS - 1);

    let reference = series(&all, "ratio 1 (bound tight)");
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
    let lr = series(&fig2c.panels[0].series, "η = 0.1");
    // Only the diverged run: the failed one (raw `relu`, same lr) must not pull the mean.
    assert_eq!(
        y_at(lr, 1.0),
        Some(value(run_index("ce_relu_diverged"), kappa, 1))
    );
    let fig2d = figures
        .iter()
        .find(|f| f.stem == "fig2d_ntk_kappa_tanh")
        .unwrap();
    let lr = series(&fig2d.panels[0].series, "η = 0.1");
    assert_eq!(y_at(lr, 3.0), Some(value(run_index("ce_tanh"), kappa, 3)));

    // 4b: bound and gap on a log axis; the negative mean gap of epoch 2 cannot be drawn.
    let fig4b = figures
        .iter()
        .find(|f| f.stem == "fig4b_generalization_mse_softmax")
        .unwrap();
    let chart = &fig4b.panels[0];
    assert_eq!(chart.y_scale, Scale::Log);
    let gap = chart
        .series
        .iter()
        .find(|s| s.label == "n = 10" && s.dashed)
        .unwrap();
    assert!(y_at(gap, 2.0).unwrap() <= 0.0);
    let want = value(run_index("softmax"), column_index("gen_gap"), 3);
    assert!((y_at(gap, 3.0).unwrap() - want).abs() < 1e-12);
    assert!(fig4b.note.caption.contains("≤ 0 have no point"));

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

/// The opening tags `<name ...>` of an SVG document.
fn tags<'a>(svg: &'a str, name: &str) -> Vec<&'a str> {
    svg.split(&format!("<{name} "))
        .skip(1)
        .map(|t| &t[..t.find('>').unwrap()])
        .collect()
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let tag = format!(" {tag}");
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(tag[start..start + tag[start..].find('"')?].to_string())
}

fn num_attr(tag: &str, name: &str) -> f64 {
    attr(tag, name).unwrap().parse().unwrap()
}

/// Every pixel of drawn data: points, lines (the axes are black, data lines are not)
/// sampled every pixel, and band polygons' vertices.
fn data_pixels(svg: &str) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = tags(svg, "circle")
        .iter()
        .map(|t| (num_attr(t, "cx"), num_attr(t, "cy")))
        .collect();
    let parse = |pts: String| -> Vec<(f64, f64)> {
        pts.split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    };
    for t in tags(svg, "polyline") {
        if attr(t, "stroke").as_deref() == Some("#000000") {
            continue;
        }
        let pts = parse(attr(t, "points").unwrap());
        for w in pts.windows(2) {
            let steps = (w[1].0 - w[0].0).abs().max((w[1].1 - w[0].1).abs()).ceil() as usize;
            for i in 0..=steps.max(1) {
                let f = i as f64 / steps.max(1) as f64;
                out.push((
                    w[0].0 + f * (w[1].0 - w[0].0),
                    w[0].1 + f * (w[1].1 - w[0].1),
                ));
            }
        }
    }
    for t in tags(svg, "polygon") {
        out.extend(parse(attr(t, "points").unwrap()));
    }
    out
}

/// The legend boxes (x0, y0, x1, y1): the rectangles with the legend's border colour.
fn legend_boxes(svg: &str) -> Vec<(f64, f64, f64, f64)> {
    tags(svg, "rect")
        .iter()
        .filter(|t| attr(t, "stroke").as_deref() == Some("#404040"))
        .map(|t| {
            let (x, y) = (num_attr(t, "x"), num_attr(t, "y"));
            (x, y, x + num_attr(t, "width"), y + num_attr(t, "height"))
        })
        .collect()
}

/// (attributes, content) of every text element.
fn texts(svg: &str) -> Vec<(String, String)> {
    svg.split("<text ")
        .skip(1)
        .map(|t| {
            let close = t.find('>').unwrap();
            let content = &t[close + 1..t.find("</text>").unwrap()];
            (t[..close].to_string(), content.trim().to_string())
        })
        .collect()
}

/// The x axes' tick labels: centred, unrotated texts sharing a baseline, three or more.
fn x_tick_labels(svg: &str) -> Vec<Vec<String>> {
    let mut rows: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (a, content) in texts(svg) {
        if a.contains("text-anchor=\"middle\"") && !a.contains("transform") {
            rows.entry(attr(&a, "y").unwrap())
                .or_default()
                .push(content);
        }
    }
    rows.into_values().filter(|r| r.len() >= 3).collect()
}

/// The checks a reader makes of a drawn figure: legends cover no data, the epoch or
/// layer axis has integer labels, a synthetic run says so.
fn check_svg(path: &std::path::Path, synthetic: bool) {
    let svg = std::fs::read_to_string(path).unwrap();
    let name = path.display();
    let boxes = legend_boxes(&svg);
    assert!(!boxes.is_empty(), "{name}: no legend");
    for (x0, y0, x1, y1) in boxes {
        for (x, y) in data_pixels(&svg) {
            let inside = x > x0 && x < x1 && y > y0 && y < y1;
            assert!(!inside, "{name}: data at ({x}, {y}) under the legend");
        }
    }
    let ticks = x_tick_labels(&svg);
    assert!(!ticks.is_empty(), "{name}: no x tick labels");
    for label in ticks.iter().flatten() {
        assert!(label.parse::<i64>().is_ok(), "{name}: tick label {label}");
    }
    let says = texts(&svg)
        .iter()
        .any(|(_, t)| t.contains("synthetic data"));
    assert_eq!(says, synthetic, "{name}: synthetic subtitle");
}

#[test]
fn drawn_training_figures_pass_a_readers_checks() {
    let dir = temp_dir("svg");
    let (mut epochs, runs) = tables();
    epochs.write(&dir.join("epochs.csv")).unwrap();
    runs.write(&dir.join("runs.csv")).unwrap();
    for stem in draw_training(&dir).unwrap() {
        check_svg(&stem.with_extension("svg"), true);
        let note = std::fs::read_to_string(stem.with_extension("json")).unwrap();
        assert!(note.contains("\"synthetic\": true"), "{note}");
    }
    // The same tables as CIFAR-10: no synthetic subtitle.
    let dataset = epochs.column("dataset").unwrap();
    for r in &mut epochs.rows {
        r[dataset] = "cifar10".into();
    }
    epochs.write(&dir.join("epochs.csv")).unwrap();
    for stem in draw_training(&dir).unwrap() {
        check_svg(&stem.with_extension("svg"), false);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// layers.csv of a small grid whose λ_min and Gershgorin proxies are small and spread,
/// so a Student-t band over three seeds would go below 0.
fn conditioning_rows() -> Vec<LayerRow> {
    let header = layers_header();
    let mut t = Table::new(&header);
    for (width, n) in [(64, 16), (128, 32), (64, 48), (128, 16)] {
        for renormalize in [true, false] {
            for seed in 0..3u32 {
                for layer in 0..=4usize {
                    let spread = [0.01, 0.02, 0.4][seed as usize];
                    let cells: HashMap<&str, String> = HashMap::from([
                        ("run_id", format!("w{width}_n{n}_{renormalize}_s{seed}")),
                        ("dataset", "synthetic".to_string()),
                        ("width", width.to_string()),
                        ("depth", "4".to_string()),
                        ("n", n.to_string()),
                        ("activation", "relu_normalized".to_string()),
                        ("renormalize", renormalize.to_string()),
                        ("seed", seed.to_string()),
                        ("layer", layer.to_string()),
                        ("lambda_min", (spread / (1 + layer) as f64).to_string()),
                        ("lambda_max", (2.0 + spread * layer as f64).to_string()),
                        (
                            "log10_kappa",
                            (1.0 + 0.1 * layer as f64 + spread).to_string(),
                        ),
                        ("max_offdiag_rowsum", (spread * layer as f64).to_string()),
                        ("max_abs_offdiag", (spread * 0.5).to_string()),
                    ]);
                    let h: Vec<String> = header.iter().map(|s| s.to_string()).collect();
                    t.push(row(&h, &cells)).unwrap();
                }
            }
        }
    }
    LayerRow::from_table(&t).unwrap()
}

#[test]
fn conditioning_figures_name_their_lines_and_keep_bands_non_negative() {
    let rows = conditioning_rows();
    let figures = conditioning_figures(&rows, None, "cond");
    let fig1a = &figures[0].panels[0];
    // Two (n, width) pairs share n/w = 0.25: the legend names both.
    let labels: Vec<&str> = fig1a.series.iter().map(|s| s.label.as_str()).collect();
    assert!(labels.contains(&"n 16, width 64 (n/w 0.25)"), "{labels:?}");
    assert!(labels.contains(&"n 32, width 128 (n/w 0.25)"), "{labels:?}");
    let c16 = fig1a
        .series
        .iter()
        .find(|s| s.label.starts_with("n 16, width 64"));
    let c32 = fig1a
        .series
        .iter()
        .find(|s| s.label.starts_with("n 32, width 128"));
    assert_ne!(c16.unwrap().color, c32.unwrap().color);
    for f in &figures {
        assert!(
            f.note.caption.contains("Data: ") && f.note.synthetic,
            "{}",
            f.stem
        );
        for s in &f.panels[0].series {
            for &(_, lo, _) in s.band.iter().flatten() {
                assert!(lo >= 0.0, "{}: band below 0 ({lo})", f.stem);
            }
        }
        if f.panels[0].series.iter().any(|s| s.band.is_some()) {
            assert!(f.note.caption.contains("bootstrap"), "{}", f.note.caption);
        }
    }
    let fig1c = figures.iter().find(|f| f.note.figure == "1c").unwrap();
    assert_eq!(fig1c.panels[0].y_scale, Scale::Log);
    assert!(fig1c.panels[0].y_label_drawn().contains("log scale"));

    let dir = temp_dir("conditioning-svg");
    draw_conditioning_rows(&dir, &rows, None).unwrap();
    for f in &figures {
        let svg = dir.join("figures").join(format!("{}.svg", f.stem));
        check_svg(&svg, true);
        // No tick below 0 on a non-negative quantity's axis.
        let text = std::fs::read_to_string(&svg).unwrap();
        for (a, t) in texts(&text) {
            if a.contains("text-anchor=\"end\"") {
                assert!(!t.starts_with('-'), "{}: y tick {t}", f.stem);
            }
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}
