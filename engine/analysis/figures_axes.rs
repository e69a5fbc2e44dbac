//! Axes of the figures: the data range, tick positions chosen here (integers on layer
//! and epoch axes, decades on log axes, round steps otherwise) and tick labels without
//! "1.0" or "-0.0".

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;

/// How an axis maps its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Whole numbers only (layers, epochs): ticks and labels are integers.
    Integer,
    /// log10: non-positive values have no place on the axis.
    Log,
}

impl Scale {
    /// The value as placed on the axis: log10 for a log axis (None where not positive),
    /// the value itself otherwise (None where not finite).
    pub fn place(self, v: f64) -> Option<f64> {
        let placed = match self {
            Scale::Log if v > 0.0 => v.log10(),
            Scale::Log => return None,
            _ => v,
        };
        placed.is_finite().then_some(placed)
    }
}

/// A coordinate with the tick positions chosen by `ticks` (plotters' own pick cannot
/// be told to keep to integers or decades).
#[derive(Clone)]
pub struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub scale: Scale,
    pub ticks: Vec<f64>,
}

impl Ranged for Axis {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.lo..self.hi).map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl Axis {
    /// An axis over the placed values `values` (already through `Scale::place`), padded
    /// by 5% (integer axes: to the data's whole range, no padding needed past it).
    pub fn new(values: &[f64], scale: Scale) -> Axis {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if !lo.is_finite() || !hi.is_finite() {
            (0.0, 1.0)
        } else if hi - lo < 1e-12 * (1.0 + lo.abs()) {
            (lo - 0.5, hi + 0.5)
        } else {
            let pad = 0.05 * (hi - lo);
            (lo - pad, hi + pad)
        };
        let ticks = match scale {
            Scale::Integer => integer_ticks(lo, hi),
            Scale::Linear => round_ticks(lo, hi).0,
            Scale::Log => log_ticks(lo, hi),
        };
        Axis {
            lo,
            hi,
            scale,
            ticks,
        }
    }

    /// A tick's label.
    pub fn label(&self, v: f64) -> String {
        match self.scale {
            Scale::Integer => format!("{}", v.round() as i64),
            Scale::Log => compact(10f64.powf(v)),
            Scale::Linear => {
                let step = round_ticks(self.lo, self.hi).1;
                let k = (step.log10() + 1e-9).floor();
                let quarter = ((step / 10f64.powf(k)) - 2.5).abs() < 1e-9;
                let decimals = (f64::from(u8::from(quarter)) - k).max(0.0) as usize;
                no_negative_zero(format!("{v:.decimals$}"))
            }
        }
    }
}

/// "-0", "-0.0" … as "0".
fn no_negative_zero(s: String) -> String {
    match s.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => s,
    }
}

/// A step of 1, 2, 2.5 or 5 times a power of ten giving about six ticks over lo..hi,
/// and the ticks.
fn round_ticks(lo: f64, hi: f64) -> (Vec<f64>, f64) {
    let raw = (hi - lo) / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    ((first..=last).map(|k| k as f64 * step).collect(), step)
}

/// Whole-number ticks over lo..hi, at most about ten: a step of 1, 2, 5, 10, 20, …
fn integer_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (first, last) = (lo.ceil() as i64, hi.floor() as i64);
    let span = (last - first).max(0);
    let mut step = 1i64;
    let mut k = 0;
    while span / step > 10 {
        step = [1, 2, 5][(k + 1) % 3] * 10i64.pow(((k + 1) / 3) as u32);
        k += 1;
    }
    let start = first.div_euclid(step) * step;
    (0..)
        .map(|i| start + i * step)
        .skip_while(|&v| v < first)
        .take_while(|&v| v <= last)
        .map(|v| v as f64)
        .collect()
}

/// Ticks of a log axis (positions are log10 values): the decades, thinned to at most
/// eight; with fewer than three decades, 2× and 5× between them too.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decades: Vec<i64> = (lo.ceil() as i64..=hi.floor() as i64).collect();
    if decades.len() >= 3 {
        let every = decades.len().div_ceil(8);
        return decades
            .iter()
            .filter(|&&d| d.rem_euclid(every as i64) == 0)
            .map(|&d| d as f64)
            .collect();
    }
    let ticks: Vec<f64> = (lo.floor() as i64..=hi.ceil() as i64)
        .flat_map(|d| [1.0f64, 2.0, 5.0].map(|m| d as f64 + m.log10()))
        .filter(|v| (lo..=hi).contains(v))
        .collect();
    if ticks.len() >= 2 {
        return ticks;
    }
    // Less than a factor of ten: round values of the quantity itself.
    round_ticks(10f64.powf(lo), 10f64.powf(hi))
        .0
        .into_iter()
        .filter(|&v| v > 0.0)
        .map(f64::log10)
        .collect()
}

/// A value with up to three significant digits, trailing zeros dropped; powers of ten
/// beyond 1e-4..1e5 as 1e-6, 1e7.
pub fn compact(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let e = x.abs().log10().floor();
    if !(-4.0..5.0).contains(&e) {
        let s = format!("{x:.2e}");
        let (m, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        return format!("{m}e{exp}");
    }
    let decimals = (2.0 - e).max(0.0) as usize;
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    no_negative_zero(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_axes_tick_at_whole_numbers() {
        let axis = Axis::new(&[1.0, 8.0], Scale::Integer);
        assert_eq!(axis.ticks, (1..=8).map(f64::from).collect::<Vec<_>>());
        assert_eq!(axis.label(3.0), "3");
        let axis = Axis::new(&[0.0, 30.0], Scale::Integer);
        assert_eq!(axis.ticks.first(), Some(&0.0));
        assert!(axis.ticks.len() <= 11 && axis.ticks.iter().all(|t| t.fract() == 0.0));
        assert_eq!(Axis::new(&[-0.2, 0.0], Scale::Integer).label(-0.0), "0");
    }

    #[test]
    fn linear_labels_have_no_negative_zero() {
        let axis = Axis::new(&[-1.0, 1.0], Scale::Linear);
        let labels: Vec<String> = axis.ticks.iter().map(|&t| axis.label(t)).collect();
        assert!(labels.contains(&"0.0".to_string()) || labels.contains(&"0".to_string()));
        assert_eq!(labels, ["-1.0", "-0.5", "0.0", "0.5", "1.0"]);
        assert_eq!(axis.label(-0.0), "0.0");
        assert_eq!(axis.label(-1e-17), "0.0");
        let axis = Axis::new(&[0.0, 1.2], Scale::Linear);
        assert_eq!(axis.ticks[1], 0.25);
        assert_eq!(axis.label(0.25), "0.25");
    }

    #[test]
    fn log_axes_tick_at_decades() {
        let axis = Axis::new(&[-2.0, 1.0], Scale::Log);
        let labels: Vec<String> = axis.ticks.iter().map(|&t| axis.label(t)).collect();
        assert_eq!(labels, ["0.01", "0.1", "1", "10"]);
        let axis = Axis::new(&[-1.5, -0.5], Scale::Log);
        assert!(axis.ticks.len() >= 2);
        assert_eq!(Scale::Log.place(-1.0), None);
        assert_eq!(compact(1e-6), "1e-6");
        assert_eq!(compact(0.0123), "0.0123");
        assert_eq!(compact(250.0), "250");
    }
}
