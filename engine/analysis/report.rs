//! The reproduction report: the findings (`findings`) written as `report.md` and as a
//! self-contained `report.html` (figures inlined as base64), both rendered by one
//! template engine from the templates under `templates/`.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, Result};
use base64::Engine as _;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, Value};
use serde::Serialize;

pub use super::findings::{evaluate_findings, Finding, Verdict};
use super::report_figures::{figure_view, header_lines, unique_figures, FigureView};
use crate::io::table::write_atomic;

/// Standard base64 (RFC 4648, with `=` padding).
pub fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
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
    \"measured\" column. A finding judged on synthetic data is \"not tested\": the paper's \
    claims are about CIFAR-10.";

/// PNG figures under `<dir>/figures/` of each directory, sorted by name within each
/// (the report shows each figure name once: see `report_figures::unique_figures`).
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

/// A finding as the templates show it.
#[derive(Serialize)]
struct FindingView<'a> {
    number: usize,
    claim: &'a str,
    evidence: &'a str,
    verdict: String,
    /// What the rule gave when the verdict is "not tested" (synthetic data).
    rule_verdict: Option<String>,
    /// The CSS class colouring the verdict.
    verdict_class: &'static str,
    rule: &'a str,
    /// (anchor, label) of each figure of the finding in the report.
    figures: Vec<(String, String)>,
}

fn finding_view<'a>(f: &'a Finding, figures: &[FigureView]) -> FindingView<'a> {
    FindingView {
        number: f.number,
        claim: &f.claim,
        evidence: &f.evidence,
        verdict: f.verdict.to_string(),
        rule_verdict: (f.verdict != f.rule_verdict).then(|| f.rule_verdict.to_string()),
        verdict_class: match f.verdict {
            Verdict::Reproduced => "yes",
            Verdict::NotReproduced => "no",
            Verdict::Inconclusive => "open",
            Verdict::NotTested => "untested",
        },
        rule: &f.rule,
        figures: figures
            .iter()
            .filter(|v| f.figures.contains(&v.id.as_str()))
            .map(|v| (v.anchor.clone(), v.label.clone()))
            .collect(),
    }
}

/// The data URI of a figure a page can show (None for other formats).
fn data_uri(fig: &Path) -> Result<Option<String>> {
    Ok(match mime_type(fig) {
        Some(mime) => {
            let bytes = std::fs::read(fig)
                .with_context(|| format!("cannot read figure {}", fig.display()))?;
            Some(format!("data:{mime};base64,{}", base64_encode(&bytes)))
        }
        None => None,
    })
}

/// The two report templates, with escaping done explicitly (`|html`) so that the
/// markdown one is never escaped as HTML.
fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .keep_trailing_newline(true)
            .build()?,
    );
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.add_filter("html", |s: String| escape_html(&s));
    env.add_filter("md_cell", |s: String| md_cell(&s));
    env.add_filter("one_line", |s: String| s.replace('\n', " "));
    env.add_template("report.md", include_str!("templates/report.md.j2"))?;
    env.add_template("report.html", include_str!("templates/report.html.j2"))?;
    Ok(env)
}

/// Writes `out/report.md` (figures linked relative to `out`) and `out/report.html`
/// (self-contained: inline CSS, figures inlined as base64 data URIs).
pub fn write_report(
    out: &Path, findings: &[Finding], figures: &[PathBuf], meta: &serde_json::Value,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let figures = unique_figures(figures);
    let views = figures
        .iter()
        .map(|fig| {
            Ok(figure_view(
                fig,
                out,
                relative_link(fig, out),
                data_uri(fig)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut folders: Vec<&Path> = figures
        .iter()
        .filter_map(|f| f.parent().and_then(Path::parent))
        .collect();
    folders.dedup();
    let header = header_lines(meta_lines(meta), &folders)?;
    let finding_views: Vec<_> = findings.iter().map(|f| finding_view(f, &views)).collect();
    let context = minijinja::context! {
        title => TITLE,
        intro => INTRO,
        meta => header,
        synthetic => findings.iter().any(|f| f.verdict == Verdict::NotTested),
        findings => Value::from(Serde(finding_views)),
        figures => Value::from(Serde(views)),
    };
    let env = environment()?;
    for name in ["report.md", "report.html"] {
        let text = env
            .get_template(name)?
            .render(&context)
            .with_context(|| format!("rendering {name}"))?;
        write_atomic(&out.join(name), text.as_bytes())?;
    }
    Ok(())
}
