//! The statistics the findings and the figures share: means, medians and 95%
//! confidence intervals (Student t for signed quantities, a percentile bootstrap for
//! non-negative ones), each computed in one place.

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

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine coefficients: about 15 digits).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = G[0] + (1..9).map(|i| G[i] / (x + i as f64)).sum::<f64>();
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    d = 1.0 / if d.abs() < TINY { TINY } else { d };
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        for aa in [
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ] {
            d = 1.0 + aa * d;
            d = 1.0 / if d.abs() < TINY { TINY } else { d };
            c = 1.0 + aa / c;
            if c.abs() < TINY {
                c = TINY;
            }
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The regularised incomplete beta function I_x(a, b), 0 <= x <= 1.
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_fraction(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// P(T <= t) for Student's t with `dof` degrees of freedom.
pub fn t_cdf(t: f64, dof: f64) -> f64 {
    let tail = 0.5 * incomplete_beta(0.5 * dof, 0.5, dof / (dof + t * t));
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The two-sided 95% quantile of Student's t (its 97.5% point) for `dof` degrees of
/// freedom, by bisection on the t CDF (any dof; 1.95996... in the normal limit); NaN
/// for 0.
pub fn t_quantile_95(dof: usize) -> f64 {
    if dof == 0 {
        return f64::NAN;
    }
    let (mut lo, mut hi) = (0.0_f64, 1000.0_f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, dof as f64) < 0.975 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Mean and a 95% confidence half-width (Student t) of `v`; the half-width is 0 for
/// fewer than two values.
pub fn mean_ci(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, t_quantile_95(v.len() - 1) * (var / n).sqrt())
}

/// How a figure's 95% band around a mean is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BandMethod {
    /// mean ± t(0.975, n-1) s / √n: for quantities of either sign.
    StudentT,
    /// The 2.5% and 97.5% points of the means of resamples with replacement: inside the
    /// values' range, so a non-negative quantity keeps a non-negative band.
    Bootstrap,
}

impl BandMethod {
    /// The band's description for a caption.
    pub fn describe(self) -> &'static str {
        match self {
            BandMethod::StudentT => {
                "95% Student-t interval of the mean (mean ± t(0.975, n−1)·s/√n)"
            }
            BandMethod::Bootstrap => {
                "95% percentile-bootstrap interval of the mean (every resample for up to 6 \
                 values, 4000 seeded resamples beyond; it stays within the values' range, \
                 so it is narrow for 2-3 seeds)"
            }
        }
    }

    /// (mean, low, high) of `v` by this method; low = high = mean for one value.
    pub fn interval(self, v: &[f64]) -> (f64, f64, f64) {
        match self {
            BandMethod::StudentT => {
                let (m, h) = mean_ci(v);
                (m, m - h, m + h)
            }
            BandMethod::Bootstrap => bootstrap_mean_ci(v),
        }
    }
}

/// The percentile bootstrap of the mean: (mean, 2.5% point, 97.5% point) of the means of
/// resamples of `v` with replacement. Exact (every one of the n^n resamples) for up to 6
/// values, 4000 resamples from a fixed seed beyond, so a figure redraws identically.
pub fn bootstrap_mean_ci(v: &[f64]) -> (f64, f64, f64) {
    let n = v.len();
    let m = v.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (m, m, m);
    }
    let mut means = Vec::new();
    if n <= 6 {
        let total = n.pow(n as u32);
        for mut code in 0..total {
            let mut sum = 0.0;
            for _ in 0..n {
                sum += v[code % n];
                code /= n;
            }
            means.push(sum / n as f64);
        }
    } else {
        let mut state: u64 = 0x5EED_B007_5712_AB1E;
        let mut next = || {
            // splitmix64
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        for _ in 0..4000 {
            let sum: f64 = (0..n).map(|_| v[(next() % n as u64) as usize]).sum();
            means.push(sum / n as f64);
        }
    }
    means.sort_by(f64::total_cmp);
    (
        m,
        quantile_sorted(&means, 0.025),
        quantile_sorted(&means, 0.975),
    )
}

/// The `q` quantile of sorted values, interpolating linearly between ranks.
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos - pos.floor());
    match sorted.get(i + 1) {
        Some(&next) => sorted[i] + frac * (next - sorted[i]),
        None => sorted[i],
    }
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
    fn t_quantiles_match_published_tables() {
        // Two-sided 95% points of Student's t (e.g. NIST/SEMATECH handbook, table 1.3.6.7.2).
        for (dof, t) in [
            (1, 12.706),
            (2, 4.303),
            (3, 3.182),
            (5, 2.571),
            (10, 2.228),
            (11, 2.201),
            (15, 2.131),
            (20, 2.086),
            (30, 2.042),
            (60, 2.000),
            (120, 1.980),
        ] {
            let q = t_quantile_95(dof);
            assert!((q - t).abs() < 5e-4, "dof {dof}: {q} vs {t}");
        }
        assert!((t_quantile_95(100_000) - 1.959_96).abs() < 1e-3);
        assert!(t_quantile_95(0).is_nan());
        assert!((t_cdf(0.0, 4.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn confidence_half_width_uses_student_t() {
        let (m, h) = mean_ci(&[1.0, 3.0]);
        assert_eq!(m, 2.0);
        // s = sqrt(2), n = 2: t(0.975, 1) * sqrt(2) / sqrt(2).
        assert!((h - 12.706).abs() < 1e-3, "{h}");
        assert_eq!(mean_ci(&[5.0]), (5.0, 0.0));
    }

    #[test]
    fn bootstrap_bands_stay_inside_the_values() {
        // Three seeds of a small positive quantity: the t band goes below 0, the bootstrap
        // band does not.
        let v = [0.01, 0.02, 0.3];
        let (m, h) = mean_ci(&v);
        assert!(m - h < 0.0);
        let (bm, lo, hi) = bootstrap_mean_ci(&v);
        assert!((bm - m).abs() < 1e-15);
        assert!(lo >= 0.01 && lo < bm && hi > bm && hi <= 0.3, "{lo} {hi}");
        // Exact enumeration is symmetric for symmetric data.
        let (_, lo, hi) = bootstrap_mean_ci(&[1.0, 2.0, 3.0]);
        assert!((lo + hi - 4.0).abs() < 1e-12, "{lo} {hi}");
        // Many values: seeded resampling, repeatable, close to the t interval.
        let many: Vec<f64> = (0..40).map(|i| (i as f64 * 0.37).sin() + 2.0).collect();
        let a = bootstrap_mean_ci(&many);
        assert_eq!(a, bootstrap_mean_ci(&many));
        let (m, h) = mean_ci(&many);
        assert!((a.1 - (m - h)).abs() < 0.3 * h && (a.2 - (m + h)).abs() < 0.3 * h);
        assert_eq!(bootstrap_mean_ci(&[4.0]), (4.0, 4.0, 4.0));
        assert_eq!(BandMethod::Bootstrap.interval(&[4.0]), (4.0, 4.0, 4.0));
    }
}
