//! The statistics the findings and the figures share: means, medians and 95%
//! confidence half-widths, each computed in one place.

/// The mean of the values that are not NaN (NaN when there are none); an infinite value
/// (kappa of a singular matrix) stays in, so the mean says so.
pub fn mean(values: &[f64]) -> f64 {
    let v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The median of the values that are not NaN (NaN when there are none); the mean of
/// the two middle values for an even count.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

/// The two-sided 95% quantile of Student's t (its 97.5% point) for `dof` degrees of
/// freedom: tabulated for 1..=10, the normal 1.96 beyond.
pub fn t_quantile_95(dof: usize) -> f64 {
    const T: [f64; 10] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    ];
    match dof {
        0 => f64::NAN,
        d => T.get(d - 1).copied().unwrap_or(1.96),
    }
}

/// Mean and a 95% confidence half-width (Student t for small samples) of `v`; the
/// half-width is 0 for fewer than two values.
pub fn mean_ci(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, t_quantile_95(v.len() - 1) * (var / n).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_skip_nan_and_average_the_middle_pair() {
        assert_eq!(median(&[3.0, f64::NAN, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[f64::NAN]).is_nan());
        assert_eq!(mean(&[1.0, f64::NAN, 3.0]), 2.0);
        assert_eq!(mean(&[1.0, f64::INFINITY]), f64::INFINITY);
    }

    #[test]
    fn confidence_half_width_uses_student_t() {
        let (m, h) = mean_ci(&[1.0, 3.0]);
        assert_eq!(m, 2.0);
        // s = sqrt(2), n = 2: 12.706 * sqrt(2) / sqrt(2).
        assert!((h - 12.706).abs() < 1e-12, "{h}");
        assert_eq!(mean_ci(&[5.0]), (5.0, 0.0));
        assert_eq!(t_quantile_95(30), 1.96);
    }
}
