//! Figures drawn from the CSV outputs (so `wideprobe plot RUN_DIR` can redraw them),
//! as PNG and SVG, with plotters and a bundled font.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Context as _, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

pub use super::figures_conditioning::{draw_conditioning, draw_conditioning_rows};

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

/// One line of a chart, optionally with a band (lower, upper) around it.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub band: Option<Vec<(f64, f64, f64)>>,
    pub color: usize,
    pub dashed: bool,
}

pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn bounds(chart: &Chart) -> (f64, f64, f64, f64) {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for s in &chart.series {
        for &(x, y) in &s.points {
            if x.is_finite() && y.is_finite() {
                xs.push(x);
                ys.push(y);
            }
        }
        for &(x, lo, hi) in s.band.iter().flatten() {
            if x.is_finite() && lo.is_finite() && hi.is_finite() {
                ys.push(lo);
                ys.push(hi);
            }
        }
    }
    let fold = |v: &[f64]| {
        let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        if !lo.is_finite() {
            (0.0, 1.0)
        } else if hi - lo < 1e-12 * (1.0 + lo.abs()) {
            (lo - 0.5, hi + 0.5)
        } else {
            let pad = 0.05 * (hi - lo);
            (lo - pad, hi + pad)
        }
    };
    let (x0, x1) = fold(&xs);
    let (y0, y1) = fold(&ys);
    (x0, x1, y0, y1)
}

fn draw_on<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, chart: &Chart) -> Result<()>
where
    DB::ErrorType: 'static,
{
    plot_on(&root, chart)?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// Plots `chart` on `root` without presenting it, so that several charts can share one
/// drawing (panels) and the file is written once.
fn plot_on<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (x0, x1, y0, y1) = bounds(chart);
    let mut c = ChartBuilder::on(root)
        .caption(&chart.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| anyhow!("{e}"))?;
    c.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for s in &chart.series {
        let color = PALETTE[s.color % PALETTE.len()];
        if let Some(band) = &s.band {
            let mut poly: Vec<(f64, f64)> = band.iter().map(|&(x, lo, _)| (x, lo)).collect();
            poly.extend(band.iter().rev().map(|&(x, _, hi)| (x, hi)));
            c.draw_series(std::iter::once(Polygon::new(
                poly,
                color.mix(0.18).filled(),
            )))
            .map_err(|e| anyhow!("{e}"))?;
        }
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .cloned()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        let style = ShapeStyle::from(&color).stroke_width(2);
        let drawn = if s.dashed {
            c.draw_series(DashedLineSeries::new(points.clone(), 8, 5, style))
                .map_err(|e| anyhow!("{e}"))?
        } else {
            c.draw_series(LineSeries::new(points.clone(), style))
                .map_err(|e| anyhow!("{e}"))?
        };
        let dashed = s.dashed;
        drawn.label(&s.label).legend(move |(x, y)| {
            if dashed {
                PathElement::new(
                    vec![(x, y), (x + 8, y)],
                    ShapeStyle::from(&color).stroke_width(2),
                )
            } else {
                PathElement::new(
                    vec![(x, y), (x + 20, y)],
                    ShapeStyle::from(&color).stroke_width(2),
                )
            }
        });
        c.draw_series(points.iter().map(|&p| Circle::new(p, 2, color.filled())))
            .map_err(|e| anyhow!("{e}"))?;
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// Writes `<stem>.png` and `<stem>.svg`.
pub fn draw(chart: &Chart, stem: &Path) -> Result<()> {
    register_font()?;
    let png = stem.with_extension("png");
    draw_on(
        BitMapBackend::new(&png, (900, 600)).into_drawing_area(),
        chart,
    )
    .with_context(|| format!("cannot write the figure {}", png.display()))?;
    let svg = stem.with_extension("svg");
    draw_on(SVGBackend::new(&svg, (900, 600)).into_drawing_area(), chart)
        .with_context(|| format!("cannot write the figure {}", svg.display()))?;
    Ok(())
}

/// Writes `<stem>.png` and `<stem>.svg` with `charts` as panels of one figure, `cols`
/// panels a row, each panel the size of a single chart.
pub fn draw_panels(charts: &[Chart], cols: usize, stem: &Path) -> Result<()> {
    register_font()?;
    let cols = cols.clamp(1, charts.len().max(1));
    let rows = charts.len().div_ceil(cols).max(1);
    let size = (900 * cols as u32, 600 * rows as u32);
    let png = stem.with_extension("png");
    draw_panels_on(
        BitMapBackend::new(&png, size).into_drawing_area(),
        charts,
        (rows, cols),
    )
    .with_context(|| format!("cannot write the figure {}", png.display()))?;
    let svg = stem.with_extension("svg");
    draw_panels_on(
        SVGBackend::new(&svg, size).into_drawing_area(),
        charts,
        (rows, cols),
    )
    .with_context(|| format!("cannot write the figure {}", svg.display()))?;
    Ok(())
}

fn draw_panels_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    charts: &[Chart],
    grid: (usize, usize),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    // Empty cells of the last row stay white.
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    for (area, chart) in root.split_evenly(grid).iter().zip(charts) {
        plot_on(area, chart)?;
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
