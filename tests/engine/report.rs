//! The reproduction report: verdicts computed from small synthetic tables where each
//! finding holds, a changed cell flipping the verdict, missing data, and the written
//! report (markdown links, HTML with the figures inlined as base64 that decodes back).
//! No GPU needed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use wideprobe::analysis::report::{
    base64_encode, escape_html, evaluate_findings, write_report, Finding, Verdict,
};
use wideprobe::experiment::conditioning::{infinite_header, layers_header};
use wideprobe::experiment::training::{epochs_header, runs_header};
use wideprobe::io::table::Table;

fn temp_dir(name: &str) -> PathBuf {
    crate::support::scratch("report", name)
}

/// A row of `header` from named cells; the others are empty.
fn row(header: &[&str], cells: &[(&str, String)]) -> Vec<String> {
    let named: HashMap<&str, &String> = cells.iter().map(|(k, v)| (*k, v)).collect();
    for k in named.keys() {
        assert!(header.contains(k), "no column {k}");
    }
    header
        .iter()
        .map(|h| named.get(h).map(|v| v.to_string()).unwrap_or_default())
        .collect()
}

/// The dataset the tables name: CIFAR-10, so the rules' verdicts stand (synthetic data
/// makes every verdict "not tested").
const DATASET: &str = "cifar10";

const DEPTH: usize = 4;
const N: usize = 32;
const WIDTHS: [usize; 2] = [64, 256];

/// log10 kappa of the synthetic nets: renormalised ones fall with depth, plain ones fall
/// to layer 2 and rise after it; the wider net is lower by 0.5 everywhere.
fn synthetic_log10_kappa(width: usize, renormalize: bool, layer: usize) -> f64 {
    let offset = if width == WIDTHS[1] { -0.5 } else { 0.0 };
    let plain = [3.0, 2.8, 2.6, 2.7, 2.9];
    let curve = if renormalize {
        3.0 - 0.2 * layer as f64
    } else {
        plain[layer]
    };
    curve + offset
}

/// The cells both conditioning tables share: the grid point (but the width) and layer.
fn grid_cells(renormalize: bool, seed: usize, layer: usize) -> Vec<(&'static str, String)> {
    vec![
        ("dataset", DATASET.into()),
        ("depth", DEPTH.to_string()),
        ("n", N.to_string()),
        ("activation", "relu_normalized".into()),
        ("renormalize", renormalize.to_string()),
        ("seed", seed.to_string()),
        ("layer", layer.to_string()),
    ]
}

/// A conditioning output where findings 1, 2 and 6 hold: layers.csv for widths 64 and
/// 256, n 32, depth 4, renormalised and plain, seeds 0 and 1; infinite_width.csv at 0.6.
fn write_conditioning(dir: &Path) {
    // The engine's own schema, so these tables have exactly the columns runs write.
    let layer_header = layers_header();
    let infinite_header = infinite_header();
    let mut layers = Table::new(&layer_header);
    let mut infinite = Table::new(&infinite_header);
    for &width in &WIDTHS {
        for renormalize in [true, false] {
            for seed in 0..2 {
                let jitter = 0.02 * seed as f64;
                for layer in 0..=DEPTH {
                    let log10_kappa = synthetic_log10_kappa(width, renormalize, layer) + jitter;
                    // Rises with depth toward 0.3 (narrow) or 0.5 (wide).
                    let plateau = if width == WIDTHS[1] { 0.5 } else { 0.3 };
                    let lambda_min = 0.01 + plateau * (1.0 - (-(layer as f64)).exp());
                    let rowsum = if renormalize { 5.0 } else { 10.0 } + jitter;
                    let mut cells = grid_cells(renormalize, seed, layer);
                    cells.extend([
                        ("run_id", format!("w{width}_r{renormalize}_s{seed}")),
                        ("width", width.to_string()),
                        ("lambda_min", lambda_min.to_string()),
                        ("log10_kappa", log10_kappa.to_string()),
                        ("kappa", 10f64.powf(log10_kappa).to_string()),
                        ("max_offdiag_rowsum", rowsum.to_string()),
                        ("precision", "f64".into()),
                    ]);
                    layers.push(row(&layer_header, &cells)).unwrap();
                }
            }
        }
    }
    for renormalize in [true, false] {
        for seed in 0..2 {
            for layer in 0..=DEPTH {
                let mut cells = grid_cells(renormalize, seed, layer);
                cells.push(("lambda_min", "0.6".into()));
                infinite.push(row(&infinite_header, &cells)).unwrap();
            }
        }
    }
    layers.write(&dir.join("layers.csv")).unwrap();
    infinite.write(&dir.join("infinite_width.csv")).unwrap();
}

/// A training output on its own: the training runs in `root/train`, read as the
/// training folder, or the generalisation runs in `root/gen`, read as the
/// generalisation folder.
#[derive(Clone, Copy)]
enum Output {
    Train,
    Gen,
}

/// The verdict of finding `index` (0-based) over one training `output` alone, written
/// (the folder created if needed) with `column` set to `value` in the rows of
/// epochs.csv where `select` holds.
fn verdict_after_edit(
    root: &Path, output: Output, (column, value): (&str, &str),
    select: impl Fn(&Table, usize) -> bool, index: usize,
) -> Verdict {
    let (dir, runs) = match output {
        Output::Train => (root.join("train"), training_runs()),
        Output::Gen => (root.join("gen"), generalization_runs()),
    };
    std::fs::create_dir_all(&dir).unwrap();
    write_training(&dir, &runs);
    edit(&dir.join("epochs.csv"), column, value, select);
    let read = Some(dir.as_path());
    let findings = match output {
        Output::Train => evaluate_findings(None, read, None),
        Output::Gen => evaluate_findings(None, None, read),
    };
    findings.unwrap()[index].verdict
}

/// Sets `column` to `value` in the rows of `path` that `select` picks.
fn edit(path: &Path, column: &str, value: &str, select: impl Fn(&Table, usize) -> bool) {
    let mut t = Table::read(path).unwrap();
    let c = t.column(column).unwrap();
    let picked: Vec<usize> = (0..t.rows.len()).filter(|&i| select(&t, i)).collect();
    assert!(!picked.is_empty(), "the edit selects no row");
    for i in picked {
        t.rows[i][c] = value.to_string();
    }
    t.write(path).unwrap();
}

fn cell<'a>(t: &'a Table, i: usize, column: &str) -> &'a str {
    &t.rows[i][t.column(column).unwrap()]
}

const EPOCHS: usize = 9;

/// One synthetic training run: (run id, loss, lr, passes the filter).
struct SyntheticRun {
    id: &'static str,
    loss: &'static str,
    lr: f64,
    passes: bool,
}

/// A training output (epochs.csv, runs.csv) where findings 3, 4, 5 and 7 hold; a run
/// failing the accuracy filter holds values that would break them.
fn write_training(dir: &Path, runs: &[SyntheticRun]) {
    let epoch_header = epochs_header();
    let run_header = runs_header();
    let mut epochs = Table::new(&epoch_header);
    let mut summary = Table::new(&run_header);
    for run in runs {
        let run_cells = vec![
            ("run_id", run.id.to_string()),
            ("dataset", DATASET.into()),
            ("depth", "2".into()),
            ("width", "128".into()),
            ("n", "32".into()),
            ("activation", "relu_normalized".into()),
            ("loss", run.loss.into()),
            ("lr", run.lr.to_string()),
            ("renormalize", "false".into()),
            ("bias", "false".into()),
            ("seed", "0".into()),
        ];
        for t in 0..=EPOCHS {
            let mut cells = run_cells.clone();
            cells.push(("epoch", t.to_string()));
            // Conservative early (0.3), tight late (0.95); the failing run is wild.
            if t >= 1 && run.loss == "mse" {
                let ratio = if !run.passes {
                    5.0
                } else if t <= 3 {
                    0.3
                } else {
                    0.95
                };
                cells.push(("ratio_eta_ntk", ratio.to_string()));
            }
            // A spike at epoch 1 then below the start at the highest lr; a slow rise else.
            let kappa = if run.lr >= 0.5 {
                [3.0, 3.8, 3.5, 3.2, 3.0, 2.9, 2.9, 2.8, 2.8, 2.7][t]
            } else {
                3.0 + 0.01 * t as f64
            };
            cells.push(("ntk_log10_kappa", kappa.to_string()));
            cells.push(("gram_lambda_min", (0.3 + 0.005 * t as f64).to_string()));
            cells.push(("lambda_min_lower_eq13", (0.3 - 0.1 * t as f64).to_string()));
            if run.loss.starts_with("mse") {
                cells.push(("gen_bound_grad", "40.0".into()));
                cells.push(("lemma2_M", "1".into()));
                cells.push(("gen_gap", "0.05".into()));
                cells.push(("vacuous", (run.passes).to_string()));
            }
            epochs.push(row(&epoch_header, &cells)).unwrap();
        }
        let mut cells = run_cells.clone();
        cells.push(("status", "done".into()));
        cells.push(("passes_accuracy_filter", run.passes.to_string()));
        summary.push(row(&run_header, &cells)).unwrap();
    }
    epochs.write(&dir.join("epochs.csv")).unwrap();
    summary.write(&dir.join("runs.csv")).unwrap();
}

fn training_runs() -> Vec<SyntheticRun> {
    vec![
        SyntheticRun {
            id: "mse_a",
            loss: "mse",
            lr: 0.1,
            passes: true,
        },
        SyntheticRun {
            id: "mse_b",
            loss: "mse",
            lr: 0.1,
            passes: true,
        },
        SyntheticRun {
            id: "mse_failed",
            loss: "mse",
            lr: 0.1,
            passes: false,
        },
        SyntheticRun {
            id: "ce_low",
            loss: "cross_entropy",
            lr: 0.01,
            passes: true,
        },
        SyntheticRun {
            id: "ce_high",
            loss: "cross_entropy",
            lr: 0.5,
            passes: true,
        },
    ]
}

fn generalization_runs() -> Vec<SyntheticRun> {
    vec![
        SyntheticRun {
            id: "gen_a",
            loss: "mse_softmax",
            lr: 0.1,
            passes: true,
        },
        SyntheticRun {
            id: "gen_b",
            loss: "mse",
            lr: 0.1,
            passes: true,
        },
    ]
}

fn verdicts(findings: &[Finding]) -> Vec<Verdict> {
    assert_eq!(
        findings.iter().map(|f| f.number).collect::<Vec<_>>(),
        (1..=7).collect::<Vec<_>>()
    );
    findings.iter().map(|f| f.verdict).collect()
}

fn show(findings: &[Finding]) {
    for f in findings {
        eprintln!("{}: {} | {}", f.number, f.verdict, f.evidence);
    }
}

#[test]
fn findings_hold_on_tables_built_to_show_them() {
    let root = temp_dir("hold");
    let (cond, train, gen) = (root.join("cond"), root.join("train"), root.join("gen"));
    for d in [&cond, &train, &gen] {
        std::fs::create_dir_all(d).unwrap();
    }
    write_conditioning(&cond);
    write_training(&train, &training_runs());
    write_training(&gen, &generalization_runs());
    let findings = evaluate_findings(Some(&cond), Some(&train), Some(&gen)).unwrap();
    show(&findings);
    assert_eq!(verdicts(&findings), vec![Verdict::Reproduced; 7]);
    // The evidence carries the numbers the rule compared.
    assert!(
        findings[0]
            .evidence
            .contains("log10 kappa at layer 4, renormalised vs plain"),
        "{}",
        findings[0].evidence
    );
    assert!(findings[0].evidence.contains("1.71 vs 2.41"));
    assert!(findings[6].evidence.contains("2 of 2 runs"));
    for f in &findings {
        assert!(!f.rule.is_empty() && !f.claim.is_empty());
    }
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_changed_cell_changes_the_verdict() {
    let root = temp_dir("flip");
    write_conditioning(&root);
    let layers = root.join("layers.csv");
    // The wide renormalised net ends above the plain one: findings 1 and 6 fail.
    edit(&layers, "log10_kappa", "5.0", |t, i| {
        cell(t, i, "width") == "256"
            && cell(t, i, "renormalize") == "true"
            && cell(t, i, "layer") == "4"
    });
    let findings = evaluate_findings(Some(&root), None, None).unwrap();
    show(&findings);
    assert_eq!(findings[0].verdict, Verdict::NotReproduced);
    assert_eq!(
        findings[1].verdict,
        Verdict::Reproduced,
        "lambda_min untouched"
    );
    assert_eq!(findings[5].verdict, Verdict::NotReproduced);

    // The infinite-width line far below both widths: the narrower net is now closer.
    write_conditioning(&root);
    edit(
        &root.join("infinite_width.csv"),
        "lambda_min",
        "0.1",
        |_, _| true,
    );
    let findings = evaluate_findings(Some(&root), None, None).unwrap();
    assert_eq!(findings[0].verdict, Verdict::Reproduced);
    assert_eq!(findings[1].verdict, Verdict::Inconclusive);

    // Training: one of two generalisation runs with a bound that is not vacuous.
    let gen_a = |t: &Table, i| cell(t, i, "run_id") == "gen_a";
    let verdict = verdict_after_edit(&root, Output::Gen, ("vacuous", "false"), gen_a, 6);
    assert_eq!(verdict, Verdict::NotReproduced);

    // Late ratios far above 1: conservative early, but not tight late.
    let late = |t: &Table, i| cell(t, i, "ratio_eta_ntk") == "0.95";
    let verdict = verdict_after_edit(&root, Output::Train, ("ratio_eta_ntk", "3.0"), late, 2);
    assert_eq!(verdict, Verdict::Inconclusive);

    // The accuracy filter: the training runs hold one failing mse run whose bound is not
    // vacuous; it counts only once runs.csv (the filter) is gone.
    let train = root.join("train");
    write_training(&train, &training_runs());
    let findings = evaluate_findings(None, None, Some(&train)).unwrap();
    assert_eq!(findings[6].verdict, Verdict::Reproduced);
    assert!(
        findings[6].evidence.contains("1 excluded"),
        "{}",
        findings[6].evidence
    );
    std::fs::remove_file(train.join("runs.csv")).unwrap();
    let findings = evaluate_findings(None, None, Some(&train)).unwrap();
    assert_eq!(findings[6].verdict, Verdict::NotReproduced);
    assert!(findings[6].evidence.contains("accuracy filter not applied"));

    // The highest lr ends above its start: no settling below it.
    let last_of_ce_high =
        |t: &Table, i| cell(t, i, "run_id") == "ce_high" && cell(t, i, "epoch") == "9";
    let verdict = verdict_after_edit(
        &root,
        Output::Train,
        ("ntk_log10_kappa", "3.6"),
        last_of_ce_high,
        4,
    );
    assert_eq!(verdict, Verdict::Inconclusive, "spike but no settling");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn missing_directories_and_tables_are_inconclusive() {
    let findings = evaluate_findings(None, None, None).unwrap();
    assert_eq!(verdicts(&findings), vec![Verdict::Inconclusive; 7]);
    for f in &findings {
        assert!(f.evidence.starts_with("no data: run"), "{}", f.evidence);
    }
    let empty = temp_dir("empty");
    let findings = evaluate_findings(Some(&empty), Some(&empty), Some(&empty)).unwrap();
    assert_eq!(verdicts(&findings), vec![Verdict::Inconclusive; 7]);
    for f in &findings {
        assert!(f.evidence.starts_with("no data:"), "{}", f.evidence);
        assert!(f.evidence.contains("not found"), "{}", f.evidence);
    }
    std::fs::remove_dir_all(empty).unwrap();
}

#[test]
fn base64_matches_rfc_4648_vectors() {
    for (input, expected) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64_encode(input.as_bytes()), expected, "{input:?}");
    }
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(decode_base64(&base64_encode(&all)), all);
}

#[test]
fn html_special_characters_are_escaped() {
    assert_eq!(
        escape_html("a < b && c > \"d\" 'e'"),
        "a &lt; b &amp;&amp; c &gt; &quot;d&quot; &#39;e&#39;"
    );
}

/// An independent decoder for the test (standard alphabet, `=` padding).
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a') as u32 + 26,
            b'0'..=b'9' => (c - b'0') as u32 + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    assert_eq!(text.len() % 4, 0, "base64 length");
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let mut triple = 0u32;
        for &c in &chunk[..4 - pad] {
            triple = (triple << 6) | value(c);
        }
        triple <<= 6 * pad as u32;
        let bytes = [(triple >> 16) as u8, (triple >> 8) as u8, triple as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}

/// Draws a small PNG with plotters (the same encoder the figures use).
fn tiny_png(path: &Path, color: RGBColor) {
    let area = BitMapBackend::new(path, (4, 3)).into_drawing_area();
    area.fill(&color).unwrap();
    area.present().unwrap();
}

#[test]
fn the_report_links_and_inlines_every_figure() {
    let root = temp_dir("write");
    let cond = root.join("cond");
    std::fs::create_dir_all(cond.join("figures")).unwrap();
    write_conditioning(&cond);
    let figures = vec![
        cond.join("figures").join("fig1a.png"),
        cond.join("figures").join("fig3a.png"),
    ];
    tiny_png(&figures[0], RED);
    tiny_png(&figures[1], BLUE);
    let findings = evaluate_findings(Some(&cond), None, None).unwrap();
    let out = root.join("report");
    let meta = serde_json::json!({"adapter": "test <adapter> & co", "date": "2026-01-01"});
    write_report(&out, &findings, &figures, &meta).unwrap();

    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| # | the paper's claim | measured | verdict | figures |"));
    assert!(
        md.contains("device: test <adapter> & co"),
        "the adapter is the device"
    );
    assert!(md.contains("](../cond/figures/fig1a.png)"), "{md}");
    assert!(md.contains("](../cond/figures/fig3a.png)"));
    assert!(md.contains("## Rules"));
    for f in &findings {
        assert!(md.contains(&format!("| {} |", f.number)));
        assert!(md.contains(&format!("**{}**", f.verdict)));
    }

    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<style>"));
    assert!(html.contains("test &lt;adapter&gt; &amp; co"));
    assert!(!html.contains("<adapter>"));
    let marker = "<img src=\"data:image/png;base64,";
    assert_eq!(html.matches(marker).count(), figures.len());
    for (payload, figure) in html.split(marker).skip(1).zip(&figures) {
        let encoded = &payload[..payload.find('"').unwrap()];
        let bytes = decode_base64(encoded);
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "PNG signature");
        assert_eq!(bytes, std::fs::read(figure).unwrap());
    }
    assert!(html.contains("alt=\"Fig. 1a: fig1a\""), "{html}");
    assert!(html.contains("<figure id=\"fig3a\">"));
    assert!(html.contains("<figcaption><b>Fig. 3a.</b> fig3a, drawn from the tables in cond"));
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn synthetic_tables_are_not_tested() {
    let root = temp_dir("synthetic");
    let (cond, gen) = (root.join("cond"), root.join("gen"));
    for d in [&cond, &gen] {
        std::fs::create_dir_all(d).unwrap();
    }
    write_conditioning(&cond);
    write_training(&gen, &generalization_runs());
    edit(&cond.join("layers.csv"), "dataset", "synthetic", |_, _| {
        true
    });
    edit(&gen.join("epochs.csv"), "dataset", "synthetic", |_, _| true);
    let findings = evaluate_findings(Some(&cond), None, Some(&gen)).unwrap();
    for i in [0, 1, 5, 6] {
        assert_eq!(findings[i].verdict, Verdict::NotTested, "{:?}", findings[i]);
        assert_eq!(findings[i].rule_verdict, Verdict::Reproduced);
    }
    assert_eq!(
        findings[2].verdict,
        Verdict::Inconclusive,
        "no training data"
    );
    let out = root.join("report");
    write_report(&out, &findings, &[], &serde_json::json!({})).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        !html.contains(">reproduced<"),
        "a synthetic verdict says reproduced"
    );
    assert_eq!(html.matches(">not tested (synthetic data)").count(), 4);
    assert!(html.contains("class=\"banner\""));
    std::fs::remove_dir_all(root).unwrap();
}

/// A figure file and its caption note in `<dir>/figures/`.
fn figure_with_note(dir: &Path, stem: &str, color: RGBColor) -> PathBuf {
    let figures = dir.join("figures");
    std::fs::create_dir_all(&figures).unwrap();
    let png = figures.join(format!("{stem}.png"));
    tiny_png(&png, color);
    let id = stem[3..].split('_').next().unwrap();
    let note = serde_json::json!({
        "figure": id,
        "title": format!("Fig. {id}: what {stem} shows"),
        "caption": format!("caption of {stem} in {}", dir.file_name().unwrap().to_string_lossy()),
        "synthetic": false,
    });
    std::fs::write(png.with_extension("json"), note.to_string()).unwrap();
    png
}

#[test]
fn each_figure_appears_once_with_its_caption_and_findings_link_to_them() {
    let root = temp_dir("once");
    let (cond, train, gen) = (
        root.join("conditioning"),
        root.join("training"),
        root.join("generalization"),
    );
    let mut figures = Vec::new();
    for stem in [
        "fig1a_a", "fig1b_b", "fig1c_c", "fig1d_d", "fig3a_e", "fig3b_f",
    ] {
        figures.push(figure_with_note(&cond, stem, RED));
    }
    // Both training folders draw 2a, 2b and 4a: 2a/2b are the training folder's,
    // 4a the generalisation folder's.
    for stem in ["fig2a_x", "fig2b_y", "fig2c_z", "fig2d_w", "fig4a_v"] {
        figures.push(figure_with_note(&train, stem, BLUE));
    }
    for stem in ["fig2a_x", "fig2b_y", "fig4a_v", "fig4b_u"] {
        figures.push(figure_with_note(&gen, stem, GREEN));
    }
    for d in [&cond, &train, &gen] {
        write_training(d, &training_runs());
    }
    write_conditioning(&cond);
    let findings = evaluate_findings(Some(&cond), Some(&train), Some(&gen)).unwrap();
    let out = root.clone();
    write_report(
        &out,
        &findings,
        &figures,
        &serde_json::json!({"command": "wideprobe reproduce --quick"}),
    )
    .unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let ids: Vec<&str> = html
        .split("<figure id=\"")
        .skip(1)
        .map(|t| &t[..t.find('"').unwrap()])
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "a figure twice: {ids:?}");
    assert_eq!(ids.len(), 12);
    assert!(html.contains("caption of fig2a_x in training"));
    assert!(html.contains("caption of fig4a_v in generalization"));
    assert!(!html.contains("caption of fig2a_x in generalization"));
    assert!(!html.contains("caption of fig4a_v in training"));
    // Every figure has a caption, not a file name.
    assert_eq!(html.matches("<figcaption>").count(), 12);
    assert!(
        html.contains("<a href=\"#fig2c_z\">Fig. 2c: what fig2c_z shows</a>"),
        "contents"
    );
    // Every finding links to at least one figure that is in the report.
    let rows: Vec<&str> = html.split("<tr><td>").skip(1).collect();
    assert_eq!(rows.len(), 7);
    for row in rows {
        let link = row
            .split("<a href=\"#")
            .nth(1)
            .map(|t| &t[..t.find('"').unwrap()]);
        let link = link.unwrap_or_else(|| panic!("no figure link: {row}"));
        assert!(ids.contains(&link), "{link} is not a figure of the report");
    }
    assert!(md.contains("[Fig. 4a](#fig4a_v)"));
    assert!(md.contains("<a id=\"fig4a_v\"></a>"));
    // The header: device, precision, dataset, scale.
    for key in ["device", "precision", "dataset", "scale"] {
        assert!(html.contains(&format!("<li><b>{key}</b>: ")), "{key}");
    }
    assert!(html.contains("<b>scale</b>: quick grid"));
    std::fs::remove_dir_all(root).unwrap();
}
