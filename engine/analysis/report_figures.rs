//! The figures of the report: each once (a figure drawn in two experiment folders is
//! shown from the folder that owns it), with its caption, anchor and data URI, and the
//! header lines (device, precision, dataset, scale) read from the folders' manifests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::figures::read_note;

/// A figure as the templates show it: a link for markdown, a data URI for HTML (None
/// for a file a page cannot show).
#[derive(Serialize)]
pub(super) struct FigureView {
    /// The paper's figure ("1a"); empty when unknown.
    pub id: String,
    /// The HTML anchor: the file stem, unique in the report.
    pub anchor: String,
    /// "Fig. 1a" (with the activation when there are several).
    pub label: String,
    pub title: String,
    pub caption: String,
    pub link: String,
    pub data_uri: Option<String>,
}

/// "1a" of "fig1a_log10_kappa_by_ratio".
fn figure_id(stem: &str) -> String {
    stem.strip_prefix("fig")
        .and_then(|r| r.split('_').next())
        .unwrap_or("")
        .to_string()
}

/// The folder a figure is drawn from (`<folder>/figures/<file>`).
fn folder_of(fig: &Path) -> Option<&Path> {
    fig.parent().and_then(Path::parent)
}

/// Keeps one file per figure name: Fig. 4 from a folder named like `generalization`,
/// every other figure from the first folder that has it (the training folder draws 4a
/// from its MSE runs, the generalisation folder 2a and 2b from its own).
pub(super) fn unique_figures(figures: &[PathBuf]) -> Vec<PathBuf> {
    let mut chosen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut order = Vec::new();
    for fig in figures {
        let Some(name) = fig.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let owns = |f: &Path| {
            let folder = folder_of(f).and_then(Path::file_name);
            let folder = folder.map(|n| n.to_string_lossy().to_lowercase());
            name.starts_with("fig4") == folder.is_some_and(|n| n.contains("generali"))
        };
        match chosen.get(&name) {
            None => {
                order.push(name.clone());
                chosen.insert(name, fig.clone());
            }
            Some(kept) if !owns(kept) && owns(fig) => {
                chosen.insert(name, fig.clone());
            }
            Some(_) => {}
        }
    }
    let mut out: Vec<PathBuf> = order
        .into_iter()
        .filter_map(|n| chosen.remove(&n))
        .collect();
    out.sort_by_key(|p| p.file_name().map(|n| n.to_os_string()));
    out
}

pub(super) fn figure_view(
    fig: &Path, out: &Path, link: String, data_uri: Option<String>,
) -> FigureView {
    let stem = fig
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let id = figure_id(&stem);
    let note = read_note(fig);
    let folder = folder_of(fig)
        .and_then(|f| f.strip_prefix(out).ok().or(f.file_name().map(Path::new)))
        .map_or_else(String::new, |f| f.display().to_string());
    let suffix = stem
        .rsplit_once('_')
        .map(|(_, s)| s)
        .filter(|s| s.ends_with("normalized"));
    let label = match suffix {
        Some(act) => format!("Fig. {id} ({act})"),
        None => format!("Fig. {id}"),
    };
    let (title, caption) = match note {
        // The title without its "Fig. 1a: " (the label says it).
        Some(n) => (
            n.title
                .split_once(": ")
                .map_or(n.title.clone(), |(_, t)| t.to_string()),
            n.caption,
        ),
        None => (
            stem.clone(),
            format!("{stem}, drawn from the tables in {folder} (no caption file beside it)."),
        ),
    };
    FigureView {
        id,
        anchor: stem,
        label,
        title,
        caption,
        link,
        data_uri,
    }
}

/// The report's header lines: device, precision, dataset and scale first (from `meta`
/// where it has them, else from the folders' manifests), then the rest of `meta`.
pub(super) fn header_lines(
    meta: Vec<(String, String)>, folders: &[&Path],
) -> Result<Vec<(String, String)>> {
    let mut manifests = Vec::new();
    for dir in folders {
        let path = dir.join("manifest.json");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let m: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("cannot parse {}", path.display()))?;
            manifests.push(m);
        }
    }
    let get = |key: &str| meta.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let distinct = |f: &dyn Fn(&serde_json::Value) -> Option<String>| {
        let mut v: Vec<String> = manifests.iter().filter_map(f).collect();
        v.sort();
        v.dedup();
        (!v.is_empty()).then(|| v.join(", "))
    };
    let device = get("adapter").or_else(|| {
        distinct(&|m| {
            Some(format!(
                "{} ({})",
                m["adapter"]["name"].as_str()?,
                m["adapter"]["backend"].as_str()?
            ))
        })
    });
    let precision = distinct(&|m| m["precision"].as_str().map(str::to_string));
    let dataset = get("dataset").or_else(|| {
        distinct(&|m| {
            let d = &m["dataset"];
            let name = d["name"].as_str()?.to_string();
            Some(if d["synthetic"].as_bool() == Some(true) {
                format!("{name} (SYNTHETIC: not CIFAR-10)")
            } else {
                name
            })
        })
    });
    let scale = scale_of(folders, get("command").as_deref());
    let unknown = || "unknown".to_string();
    let mut lines = vec![
        ("device".to_string(), device.unwrap_or_else(unknown)),
        ("precision".into(), precision.unwrap_or_else(unknown)),
        ("dataset".into(), dataset.unwrap_or_else(unknown)),
        ("scale".into(), scale),
    ];
    lines.extend(meta.into_iter().filter(|(k, _)| {
        !["adapter", "dataset", "device", "precision", "scale"].contains(&k.as_str())
    }));
    Ok(lines)
}

/// "quick grid" or "paper grid" when every folder's config.yaml is one of the
/// compiled-in configs of that set (or the command says `--quick`), else "custom".
fn scale_of(folders: &[&Path], command: Option<&str>) -> String {
    use crate::experiment::reproduce::{ExperimentSet, PAPER, QUICK};
    let texts = |set: &ExperimentSet| [set.conditioning.1, set.training.1, set.generalization.1];
    let configs: Vec<String> = folders
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("config.yaml")).ok())
        .collect();
    let all_in = |set: &ExperimentSet| {
        !configs.is_empty() && configs.iter().all(|c| texts(set).contains(&c.as_str()))
    };
    if all_in(&QUICK) || command.is_some_and(|c| c.contains("--quick")) {
        "quick grid (experiments/quick*.yaml: small widths and n, a few seeds)".into()
    } else if all_in(&PAPER) {
        "paper grid (experiments/fig*.yaml)".into()
    } else if configs.is_empty() {
        "unknown".into()
    } else {
        "custom configs (see each folder's config.yaml)".into()
    }
}
