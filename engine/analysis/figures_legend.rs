//! The legend of a figure: drawn here (not by plotters) so that its box can be placed
//! where it covers no data. The corners and edge midpoints of the plot area are tried
//! against every drawn point, line and band (in pixels); when none is free, the legend
//! goes to the right of the plot area.

use plotters::coord::Shift;
use plotters::prelude::*;

/// One legend row: a line sample (solid or dashed) and its text.
pub struct LegendEntry {
    pub label: String,
    pub color: RGBColor,
    pub dashed: bool,
}

/// The legend box's border colour: tests find the box in the SVG by it.
pub const LEGEND_BORDER: RGBColor = RGBColor(64, 64, 64);
const FONT_SIZE: u32 = 13;
const ROW: i32 = 18;
const PAD: i32 = 6;
const SAMPLE: i32 = 24;
/// Distance kept between the legend and the plot area's edge, and around data.
pub const GAP: i32 = 8;

/// The legend's (width, height) in pixels.
pub fn legend_size<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>, entries: &[LegendEntry],
) -> (i32, i32) {
    let font = ("sans-serif", FONT_SIZE).into_font();
    let text_w = entries
        .iter()
        .map(|e| {
            area.estimate_text_size(&e.label, &font.clone().into())
                .map_or(0, |s| s.0 as i32)
        })
        .max()
        .unwrap_or(0);
    (
        PAD + SAMPLE + 6 + text_w + PAD,
        2 * PAD + ROW * entries.len() as i32,
    )
}

/// The top-left corner (absolute pixels) of a `size` box inside `plot` (x and y pixel
/// ranges) that holds none of `occupied`, trying the upper right first; None when no
/// candidate is free.
pub fn free_spot(
    plot: (std::ops::Range<i32>, std::ops::Range<i32>), size: (i32, i32), occupied: &[(i32, i32)],
) -> Option<(i32, i32)> {
    let (xr, yr) = plot;
    let (w, h) = size;
    if w + 2 * GAP > xr.end - xr.start || h + 2 * GAP > yr.end - yr.start {
        return None;
    }
    let (left, right) = (xr.start + GAP, xr.end - GAP - w);
    let (top, bottom) = (yr.start + GAP, yr.end - GAP - h);
    let (mid_x, mid_y) = ((xr.start + xr.end - w) / 2, (yr.start + yr.end - h) / 2);
    let candidates = [
        (right, top),
        (left, top),
        (right, bottom),
        (left, bottom),
        (mid_x, top),
        (mid_x, bottom),
        (right, mid_y),
        (left, mid_y),
    ];
    candidates.into_iter().find(|&(x, y)| {
        !occupied.iter().any(|&(px, py)| {
            px >= x - GAP / 2 && px <= x + w + GAP / 2 && py >= y - GAP / 2 && py <= y + h + GAP / 2
        })
    })
}

/// Pixels along the segment a-b, about every two pixels.
pub fn along(a: (i32, i32), b: (i32, i32), out: &mut Vec<(i32, i32)>) {
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()) / 2).max(1);
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        out.push((
            a.0 + ((b.0 - a.0) as f64 * t).round() as i32,
            a.1 + ((b.1 - a.1) as f64 * t).round() as i32,
        ));
    }
}

/// Draws the legend with its top-left corner at `at` (absolute pixels) on `area`.
pub fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>, entries: &[LegendEntry], at: (i32, i32),
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, h) = legend_size(area, entries);
    let base = area.get_base_pixel();
    let (x0, y0) = (at.0 - base.0, at.1 - base.1);
    area.draw(&Rectangle::new(
        [(x0, y0), (x0 + w, y0 + h)],
        WHITE.filled(),
    ))?;
    area.draw(&Rectangle::new(
        [(x0, y0), (x0 + w, y0 + h)],
        ShapeStyle::from(&LEGEND_BORDER).stroke_width(1),
    ))?;
    let font = ("sans-serif", FONT_SIZE).into_font();
    for (i, e) in entries.iter().enumerate() {
        let y = y0 + PAD + ROW * i as i32;
        let mid = y + ROW / 2;
        // Line samples as thin filled rectangles: polylines in the SVG are data only.
        let pieces: &[(i32, i32)] = if e.dashed {
            &[(0, 6), (9, 15), (18, 24)]
        } else {
            &[(0, SAMPLE)]
        };
        for &(a, b) in pieces {
            area.draw(&Rectangle::new(
                [(x0 + PAD + a, mid - 1), (x0 + PAD + b, mid + 1)],
                e.color.filled(),
            ))?;
        }
        area.draw(&Text::new(
            e.label.clone(),
            (x0 + PAD + SAMPLE + 6, y + 2),
            font.clone(),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_free_candidate_wins() {
        let plot = (0..400, 0..300);
        // Data in the upper right: the legend goes to the upper left.
        let mut occupied = Vec::new();
        along((300, 10), (399, 10), &mut occupied);
        assert_eq!(
            free_spot(plot.clone(), (80, 40), &occupied),
            Some((GAP, GAP))
        );
        assert_eq!(
            free_spot(plot.clone(), (80, 40), &[]),
            Some((400 - GAP - 80, GAP))
        );
        // Data everywhere: none.
        let mut everywhere = Vec::new();
        for y in (0..300).step_by(5) {
            along((0, y), (399, y), &mut everywhere);
        }
        assert_eq!(free_spot(plot.clone(), (80, 40), &everywhere), None);
        assert_eq!(free_spot(plot, (500, 40), &[]), None, "too wide");
    }
}
