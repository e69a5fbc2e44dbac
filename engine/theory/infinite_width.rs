//! Infinite-width kernels (MEASUREMENTS.md §4): Σ^0 = X Xᵀ / d and
//! Σ^{l+1}_ij = E[phi(u) phi(v)], (u, v) ~ N(0, g [[S_ii, S_ij], [S_ij, S_jj]]),
//! optionally rescaled to unit diagonal after each layer (renormalisation).

use anyhow::{bail, Result};

use super::dual::dual;
use crate::nn::activation::Activation;

#[derive(Clone, Debug)]
pub struct InfiniteWidthConfig {
    pub activation: Activation,
    pub depth: usize,
    pub renormalize: bool,
    /// Init gain g of the hidden layers; `None` for the activation's default.
    pub gain: Option<f64>,
}

/// Points of the ρ table used when every diagonal entry is equal (the common case):
/// the layer map is then a function of the off-diagonal entry alone.
const TABLE_POINTS: usize = 4001;

/// Evaluates `f` on [-q, q] at TABLE_POINTS nodes and interpolates with cubic Hermite
/// splines (slopes by central differences), accurate to ~1e-12 for the smooth tanh duals.
struct Table {
    q: f64,
    values: Vec<f64>,
}

impl Table {
    fn new(q: f64, f: impl Fn(f64) -> f64) -> Table {
        let values = (0..TABLE_POINTS)
            .map(|i| f(-q + 2.0 * q * i as f64 / (TABLE_POINTS - 1) as f64))
            .collect();
        Table { q, values }
    }

    fn eval(&self, c: f64) -> f64 {
        let h = 2.0 * self.q / (TABLE_POINTS - 1) as f64;
        let t = ((c + self.q) / h).clamp(0.0, (TABLE_POINTS - 1) as f64);
        let i = (t.floor() as usize).min(TABLE_POINTS - 2);
        let s = t - i as f64;
        let v = &self.values;
        let slope = |k: usize| {
            if k == 0 {
                v[1] - v[0]
            } else if k == TABLE_POINTS - 1 {
                v[k] - v[k - 1]
            } else {
                0.5 * (v[k + 1] - v[k - 1])
            }
        };
        let (p0, p1, m0, m1) = (v[i], v[i + 1], slope(i), slope(i + 1));
        let (s2, s3) = (s * s, s * s * s);
        (2.0 * s3 - 3.0 * s2 + 1.0) * p0
            + (s3 - 2.0 * s2 + s) * m0
            + (-2.0 * s3 + 3.0 * s2) * p1
            + (s3 - s2) * m1
    }
}

fn next_layer(s: &[f64], n: usize, act: Activation, g: f64) -> Vec<f64> {
    let diag: Vec<f64> = (0..n).map(|i| s[i * n + i]).collect();
    let q = diag[0];
    let equal = diag
        .iter()
        .all(|&d| (d - q).abs() <= 1e-13 * q.abs().max(1e-300));
    let quadrature = matches!(act, Activation::Tanh | Activation::TanhNormalized);
    let table =
        (equal && quadrature && n > 64).then(|| Table::new(g * q, |c| dual(act, g * q, g * q, c)));
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let c = g * s[i * n + j];
            let v = match (&table, i == j) {
                (Some(t), false) => t.eval(c),
                _ => dual(act, g * diag[i], g * diag[j], c),
            };
            out[i * n + j] = v;
            out[j * n + i] = v;
        }
    }
    out
}

/// Calls `f(l, Σ^l)` for l = 0..=depth (n x n, row-major), keeping one matrix alive.
pub fn for_each_infinite_width_kernel(
    x: &[f32], n: usize, d: usize, cfg: &InfiniteWidthConfig,
    mut f: impl FnMut(usize, &[f64]) -> Result<()>,
) -> Result<()> {
    if x.len() != n * d || d == 0 {
        bail!(
            "infinite-width kernels need x of {n} x {d} values, got {}",
            x.len()
        );
    }
    let g = cfg.gain.unwrap_or_else(|| cfg.activation.init_gain());
    let mut s = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let v = (0..d)
                .map(|k| x[i * d + k] as f64 * x[j * d + k] as f64)
                .sum::<f64>()
                / d as f64;
            s[i * n + j] = v;
            s[j * n + i] = v;
        }
    }
    f(0, &s)?;
    for l in 1..=cfg.depth {
        s = next_layer(&s, n, cfg.activation, g);
        if cfg.renormalize {
            let diag: Vec<f64> = (0..n).map(|i| s[i * n + i]).collect();
            if let Some(i) = diag.iter().position(|&v| v.is_nan() || v <= 0.0) {
                bail!("infinite-width kernel at layer {l}: example {i} has zero variance and cannot be renormalised");
            }
            for i in 0..n {
                for j in 0..n {
                    s[i * n + j] /= (diag[i] * diag[j]).sqrt();
                }
            }
        }
        f(l, &s)?;
    }
    Ok(())
}

/// Σ^0 .. Σ^depth, all kept (small n only).
pub fn infinite_width_kernels(
    x: &[f32], n: usize, d: usize, cfg: &InfiniteWidthConfig,
) -> Result<Vec<Vec<f64>>> {
    let mut all = Vec::new();
    for_each_infinite_width_kernel(x, n, d, cfg, |_, s| {
        all.push(s.to_vec());
        Ok(())
    })?;
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit_rows(n: usize, d: usize, seed: u64) -> Vec<f32> {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut x: Vec<f32> = (0..n * d)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        for row in x.chunks_mut(d) {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            row.iter_mut().for_each(|v| *v *= (d as f32).sqrt() / norm);
        }
        x
    }

    #[test]
    fn normalised_activations_keep_unit_diagonal_and_correlations_rise() {
        let (n, d) = (6, 50);
        let x = unit_rows(n, d, 1);
        for act in [Activation::ReluNormalized, Activation::TanhNormalized] {
            let cfg = InfiniteWidthConfig {
                activation: act,
                depth: 5,
                renormalize: false,
                gain: None,
            };
            let ks = infinite_width_kernels(&x, n, d, &cfg).unwrap();
            for s in &ks {
                for i in 0..n {
                    assert!(
                        (s[i * n + i] - 1.0).abs() < 1e-3,
                        "{} diag {}",
                        act.name(),
                        s[i * n + i]
                    );
                    for j in 0..n {
                        assert_eq!(s[i * n + j], s[j * n + i]);
                    }
                }
            }
        }
        // relu_normalized: off-diagonal correlations move toward the fixed point 1.
        let cfg = InfiniteWidthConfig {
            activation: Activation::Relu,
            depth: 6,
            renormalize: true,
            gain: None,
        };
        let ks = infinite_width_kernels(&x, n, d, &cfg).unwrap();
        let mean_off = |s: &Vec<f64>| {
            (0..n)
                .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
                .map(|(i, j)| s[i * n + j])
                .sum::<f64>()
                / (n * (n - 1)) as f64
        };
        for l in 1..ks.len() {
            assert!(mean_off(&ks[l]) > mean_off(&ks[l - 1]), "layer {l}");
            for i in 0..n {
                assert!((ks[l][i * n + i] - 1.0).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn raw_relu_with_he_gain_preserves_the_diagonal() {
        let (n, d) = (4, 30);
        let x = unit_rows(n, d, 2);
        let cfg = InfiniteWidthConfig {
            activation: Activation::Relu,
            depth: 4,
            renormalize: false,
            gain: None,
        };
        for s in infinite_width_kernels(&x, n, d, &cfg).unwrap() {
            for i in 0..n {
                assert!((s[i * n + i] - 1.0).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn tanh_table_matches_direct_quadrature() {
        let t = Table::new(1.0, |c| dual(Activation::TanhNormalized, 1.0, 1.0, c));
        for c in [-0.99, -0.3, 0.0, 0.123, 0.77, 0.999] {
            let direct = dual(Activation::TanhNormalized, 1.0, 1.0, c);
            assert!(
                (t.eval(c) - direct).abs() < 1e-10,
                "{c}: {} vs {direct}",
                t.eval(c)
            );
        }
    }
}
