//! Figures drawn from the CSV outputs (so `wideprobe plot RUN_DIR` can redraw them),
//! as PNG and SVG, with plotters and a bundled font. Every figure has a title that fits
//! its width, an optional subtitle (the dataset when it is synthetic), axes with ticks
//! chosen in `figures_axes` and a legend placed where it covers no data
//! (`figures_legend`). Beside each figure, `<stem>.json` holds its caption for the
//! report.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, Context as _, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::figures_axes::Axis;
pub use super::figures_axes::Scale;
pub use super::figures_conditioning::{draw_conditioning, draw_conditioning_rows};
use super::figures_legend::{along, draw_legend, free_spot, legend_size, LegendEntry, GAP};

static FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

fn register_font() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("could not load the bundled font"))
    }
}

/// One line of a chart, optionally with a band (lower, upper) around it. Series with
/// the same label share one legend row; an empty label has none.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub band: Option<Vec<(f64, f64, f64)>>,
    pub color: usize,
    pub dashed: bool,
}

pub struct Chart {
    pub title: String,
    /// A second, smaller title line: what the data is (synthetic data is said here).
    pub subtitle: Option<String>,
    pub x_label: String,
    pub y_label: String,
    pub x_scale: Scale,
    /// A log y axis says so on its label.
    pub y_scale: Scale,
    pub series: Vec<Series>,
    /// Legend rows in grey after the series' rows: what solid and dashed mean.
    pub notes: Vec<(String, bool)>,
}

impl Chart {
    /// A chart over an integer x axis (layers, epochs) and a linear y axis.
    pub fn new(title: &str, x_label: &str, y_label: &str, series: Vec<Series>) -> Chart {
        Chart {
            title: title.into(),
            subtitle: None,
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_scale: Scale::Integer,
            y_scale: Scale::Linear,
            series,
            notes: Vec::new(),
        }
    }

    /// The y axis's label as drawn: a log scale is stated.
    pub fn y_label_drawn(&self) -> String {
        match self.y_scale {
            Scale::Log => format!("{} (log scale)", self.y_label),
            _ => self.y_label.clone(),
        }
    }
}

/// One figure to draw: its file stem (no extension), its panels (one chart or several)
/// and what the report says of it.
pub struct Figure {
    pub stem: String,
    pub panels: Vec<Chart>,
    pub note: FigureNote,
}

/// What the report says of a figure, written beside it as `<stem>.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FigureNote {
    /// The paper's figure it reproduces: "1a", "2b", …
    pub figure: String,
    pub title: String,
    /// What is plotted, from which runs, and how any band is computed.
    pub caption: String,
    /// Whether any of its data is synthetic.
    pub synthetic: bool,
}

/// Panels a row in multi-panel figures.
const PANEL_COLUMNS: usize = 2;

/// Draws a whole set of figures into `<out>/figures/`, after removing the ones an earlier
/// drawing left there ([`fresh_figures_dir`]); `figures` makes the set, given the run
/// folder's name for the captions. Returns the stems written (each has a `.png`, a `.svg`
/// and a `.json` caption).
pub fn draw_figure_set(
    out: &Path, figures: impl FnOnce(&str) -> Vec<Figure>,
) -> Result<Vec<PathBuf>> {
    let dir = fresh_figures_dir(out)?;
    let folder = out
        .file_name()
        .map_or_else(|| ".".into(), |f| f.to_string_lossy().into_owned());
    let mut stems = Vec::new();
    for figure in figures(&folder) {
        let stem = dir.join(&figure.stem);
        match figure.panels.as_slice() {
            [chart] => draw(chart, &stem),
            panels => draw_panels(panels, PANEL_COLUMNS, &stem),
        }
        .with_context(|| format!("drawing {}", figure.stem))?;
        write_note(&stem, &figure.note)?;
        stems.push(stem);
    }
    Ok(stems)
}

/// `<out>/figures`, created if need be, without the figures (and captions) an earlier
/// drawing left there: a set of figures is always drawn whole, so none from earlier
/// settings or runs can stay beside the new ones. Other files are left alone.
fn fresh_figures_dir(out: &Path) -> Result<PathBuf> {
    let dir = out.join("figures");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let entries =
        std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let drawn = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("png" | "svg" | "json")
        );
        if drawn && path.is_file() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove the old figure {}", path.display()))?;
        }
    }
    Ok(dir)
}

/// Writes `<stem>.json`.
pub fn write_note(stem: &Path, note: &FigureNote) -> Result<()> {
    let path = stem.with_extension("json");
    std::fs::write(&path, serde_json::to_string_pretty(note)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The note beside a figure file (`x.png` → `x.json`), if there is one.
pub fn read_note(figure: &Path) -> Option<FigureNote> {
    let text = std::fs::read_to_string(figure.with_extension("json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The subtitle of a figure: "synthetic data (not CIFAR-10)" first when it is.
pub fn subtitle(synthetic: bool, rest: &str) -> Option<String> {
    match (synthetic, rest.is_empty()) {
        (true, true) => Some(SYNTHETIC.into()),
        (true, false) => Some(format!("{SYNTHETIC} · {rest}")),
        (false, true) => None,
        (false, false) => Some(rest.into()),
    }
}

/// The subtitle's words for a figure made from synthetic data.
pub const SYNTHETIC: &str = "synthetic data (not CIFAR-10)";

/// Twelve distinguishable colours as 0xRRGGBB (tab10 without its grey, and two more);
/// the grey reference colour is index 7 so older indices keep their meaning.
const PALETTE: [u32; 12] = [
    0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22,
    0x17becf, 0x000080, 0x808000,
];

/// The palette's colour `i` (wrapping).
pub fn color(i: usize) -> RGBColor {
    let [_, r, g, b] = PALETTE[i % PALETTE.len()].to_be_bytes();
    RGBColor(r, g, b)
}

/// A series with its values placed on the axes (log10 where the axis is a log one);
/// None marks a point that cannot be drawn, and breaks the line there.
struct Placed {
    points: Vec<Option<(f64, f64)>>,
    band: Vec<Option<(f64, f64, f64)>>,
}

fn place(chart: &Chart) -> Vec<Placed> {
    let (xs, ys) = (chart.x_scale, chart.y_scale);
    chart
        .series
        .iter()
        .map(|s| Placed {
            points: s
                .points
                .iter()
                .map(|&(x, y)| Some((xs.place(x)?, ys.place(y)?)))
                .collect(),
            band: s
                .band
                .iter()
                .flatten()
                .map(|&(x, lo, hi)| Some((xs.place(x)?, ys.place(lo)?, ys.place(hi)?)))
                .collect(),
        })
        .collect()
}

fn axes(chart: &Chart, placed: &[Placed]) -> (Axis, Axis) {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for p in placed {
        for &(x, y) in p.points.iter().flatten() {
            xs.push(x);
            ys.push(y);
        }
        for &(_, lo, hi) in p.band.iter().flatten() {
            ys.extend([lo, hi]);
        }
    }
    (Axis::new(&xs, chart.x_scale), Axis::new(&ys, chart.y_scale))
}

fn legend_entries(chart: &Chart) -> Vec<LegendEntry> {
    let mut entries: Vec<LegendEntry> = Vec::new();
    for s in chart.series.iter().filter(|s| !s.label.is_empty()) {
        // A colour's row shows a solid line when any of its lines is solid.
        if let Some(e) = entries.iter_mut().find(|e| e.label == s.label) {
            e.dashed &= s.dashed;
        } else {
            entries.push(LegendEntry {
                label: s.label.clone(),
                color: color(s.color),
                dashed: s.dashed,
            });
        }
    }
    entries.extend(chart.notes.iter().map(|(label, dashed)| LegendEntry {
        label: label.clone(),
        color: RGBColor(60, 60, 60),
        dashed: *dashed,
    }));
    entries
}

type Ctx<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

fn build<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>, (x, y): &(Axis, Axis), extra_right: i32,
) -> Result<Ctx<'a, DB>>
where
    DB::ErrorType: 'static,
{
    ChartBuilder::on(area)
        .margin(12)
        .margin_right(12 + extra_right)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(x.clone(), y.clone())
        .map_err(|e| anyhow!("{e}"))
}

/// Every pixel a series, its points or its band covers in `c`.
fn occupied<DB: DrawingBackend>(c: &Ctx<'_, DB>, placed: &[Placed]) -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    for p in placed {
        for pair in p.points.windows(2) {
            match (pair[0], pair[1]) {
                (Some(a), Some(b)) => along(c.backend_coord(&a), c.backend_coord(&b), &mut out),
                (Some(a), None) | (None, Some(a)) => out.push(c.backend_coord(&a)),
                _ => {}
            }
        }
        if let [Some(a)] = p.points.as_slice() {
            out.push(c.backend_coord(a));
        }
        // The band: vertical strokes from low to high, every few pixels along x.
        for pair in p.band.windows(2) {
            if let (Some(a), Some(b)) = (pair[0], pair[1]) {
                let steps =
                    ((c.backend_coord(&(b.0, b.1)).0 - c.backend_coord(&(a.0, a.1)).0).abs() / 3)
                        .max(1);
                for i in 0..=steps {
                    let t = i as f64 / steps as f64;
                    let x = a.0 + t * (b.0 - a.0);
                    let lo = a.1 + t * (b.1 - a.1);
                    let hi = a.2 + t * (b.2 - a.2);
                    along(
                        c.backend_coord(&(x, lo)),
                        c.backend_coord(&(x, hi)),
                        &mut out,
                    );
                }
            }
        }
    }
    out
}

/// Draws `text` centred at the top of `area` in the largest size from `size` down that
/// fits its width, and returns the area below it.
fn fitted_title<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>, text: &str, size: u32, color: RGBColor,
) -> Result<DrawingArea<DB, Shift>>
where
    DB::ErrorType: 'static,
{
    let width = area.dim_in_pixel().0.saturating_sub(24);
    let mut s = size;
    while s > 10 {
        let font = ("sans-serif", s).into_font();
        match area.estimate_text_size(text, &font.into()) {
            Ok((w, _)) if w > width => s -= 1,
            _ => break,
        }
    }
    let style = ("sans-serif", s).into_font().color(&color);
    area.titled(text, style).map_err(|e| anyhow!("{e}"))
}

/// Plots `chart` on `root` without presenting it, so that several charts can share one
/// drawing (panels) and the file is written once.
fn plot_on<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e}");
    root.fill(&WHITE).map_err(e)?;
    let mut area = fitted_title(root, &chart.title, 22, BLACK)?;
    if let Some(sub) = &chart.subtitle {
        area = fitted_title(&area, sub, 15, RGBColor(90, 90, 90))?;
    }
    let placed = place(chart);
    let axes = axes(chart, &placed);
    let entries = legend_entries(chart);
    let size = legend_size(root, &entries);
    // Inside the plot area where a spot is free of data, else to its right.
    let inside = {
        let c = build(&area, &axes, 0)?;
        free_spot(
            c.plotting_area().get_pixel_range(),
            size,
            &occupied(&c, &placed),
        )
    };
    let (mut c, at) = match inside {
        Some(at) => (build(&area, &axes, 0)?, at),
        None => {
            let c = build(&area, &axes, size.0 + GAP)?;
            let (xr, yr) = c.plotting_area().get_pixel_range();
            (c, (xr.end + GAP, yr.start))
        }
    };
    let (x_axis, y_axis) = axes;
    let (fx, fy) = (|v: &f64| x_axis.label(*v), |v: &f64| y_axis.label(*v));
    c.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(chart.y_label_drawn())
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(e)?;
    for (s, p) in chart.series.iter().zip(&placed) {
        draw_series(&mut c, s, p)?;
    }
    if !entries.is_empty() {
        draw_legend(root, &entries, at).map_err(e)?;
    }
    Ok(())
}

/// Contiguous runs of drawable values.
fn runs<T: Copy>(values: &[Option<T>]) -> Vec<Vec<T>> {
    values
        .split(Option::is_none)
        .map(|run| run.iter().flatten().copied().collect::<Vec<T>>())
        .filter(|run| !run.is_empty())
        .collect()
}

fn draw_series<DB: DrawingBackend>(c: &mut Ctx<'_, DB>, s: &Series, p: &Placed) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e}");
    let col = color(s.color);
    for band in runs(&p.band) {
        let mut poly: Vec<(f64, f64)> = band.iter().map(|&(x, lo, _)| (x, lo)).collect();
        poly.extend(band.iter().rev().map(|&(x, _, hi)| (x, hi)));
        c.draw_series(std::iter::once(Polygon::new(poly, col.mix(0.18).filled())))
            .map_err(e)?;
    }
    let style = ShapeStyle::from(&col).stroke_width(2);
    for line in runs(&p.points) {
        if s.dashed {
            c.draw_series(DashedLineSeries::new(line.clone(), 8, 5, style))
                .map_err(e)?;
        } else {
            c.draw_series(LineSeries::new(line.clone(), style))
                .map_err(e)?;
        }
        c.draw_series(line.iter().map(|&pt| Circle::new(pt, 2, col.filled())))
            .map_err(e)?;
    }
    Ok(())
}

/// Writes `<stem>.png` and `<stem>.svg`.
pub fn draw(chart: &Chart, stem: &Path) -> Result<()> {
    draw_panels(std::slice::from_ref(chart), 1, stem)
}

/// Writes `<stem>.png` and `<stem>.svg` with `charts` as panels of one figure, `cols`
/// panels a row, each panel the size of a single chart.
pub fn draw_panels(charts: &[Chart], cols: usize, stem: &Path) -> Result<()> {
    register_font()?;
    let cols = cols.clamp(1, charts.len().max(1));
    let rows = charts.len().div_ceil(cols).max(1);
    let (size, grid) = ((900 * cols as u32, 600 * rows as u32), (rows, cols));
    let cannot_write = |path: &Path| format!("cannot write the figure {}", path.display());
    let (png, svg) = (stem.with_extension("png"), stem.with_extension("svg"));
    draw_panels_on(
        BitMapBackend::new(&png, size).into_drawing_area(),
        charts,
        grid,
    )
    .with_context(|| cannot_write(&png))?;
    draw_panels_on(
        SVGBackend::new(&svg, size).into_drawing_area(),
        charts,
        grid,
    )
    .with_context(|| cannot_write(&svg))
}

fn draw_panels_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>, charts: &[Chart], grid: (usize, usize),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    // Empty cells of the last row stay white (every panel fills its own).
    if charts.len() < grid.0 * grid.1 {
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    }
    for (area, chart) in root.split_evenly(grid).iter().zip(charts) {
        plot_on(area, chart)?;
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
