//! Dual activations (Daniely et al.): E[phi(u) phi(v)] for (u, v) ~ N(0, [[a, c], [c, b]]).
//! ReLU and its normalised form in closed form; tanh by 2-D Gauss-Hermite quadrature.

use std::f64::consts::PI;
use std::sync::OnceLock;

use crate::linalg::tridiag::tridiag_eigen;
use crate::nn::activation::{
    Activation, RELU_NORMALIZED_MEAN, RELU_NORMALIZED_STD, TANH_NORMALIZED_DIVISOR,
};

/// Nodes per axis of the tanh quadrature (MEASUREMENTS.md §4 asks for at least 64).
pub const QUADRATURE_NODES: usize = 96;

/// Gauss-Hermite rule for the standard normal (probabilists' convention): nodes z_i and
/// weights w_i with Σ w_i f(z_i) ≈ E[f(g)], g ~ N(0, 1); weights sum to 1. By
/// Golub-Welsch: the nodes are the eigenvalues of the Jacobi matrix of the Hermite
/// polynomials and the weights the squared first components of its eigenvectors
/// (obtained as last components of the reversed matrix).
pub fn gauss_hermite(n: usize) -> (Vec<f64>, Vec<f64>) {
    let alpha = vec![0.0; n];
    // Probabilists' Hermite recurrence: off-diagonals sqrt(k), reversed (it is symmetric
    // under reversal up to the order of the off-diagonals).
    let beta: Vec<f64> = (1..n).rev().map(|k| (k as f64).sqrt()).collect();
    let eig = tridiag_eigen(&alpha, &beta, false).expect("the Hermite Jacobi matrix is finite");
    // Reversal maps the nodes x to themselves (the spectrum is symmetric), so node i of
    // the reversed matrix pairs with weight last_component[i]^2.
    let weights = eig.last_components.iter().map(|s| s * s).collect();
    (eig.values, weights)
}

fn rule() -> &'static (Vec<f64>, Vec<f64>) {
    static RULE: OnceLock<(Vec<f64>, Vec<f64>)> = OnceLock::new();
    RULE.get_or_init(|| gauss_hermite(QUADRATURE_NODES))
}

/// E[relu(u) relu(v)], the degree-1 arc-cosine kernel.
fn relu_dual(a: f64, b: f64, c: f64) -> f64 {
    if a <= 0.0 || b <= 0.0 {
        return 0.0;
    }
    let s = (a * b).sqrt();
    let rho = (c / s).clamp(-1.0, 1.0);
    s / (2.0 * PI) * ((1.0 - rho * rho).sqrt() + (PI - rho.acos()) * rho)
}

/// E[f(u) f(v)] by quadrature after a Cholesky factorisation of the covariance.
fn quadrature(f: impl Fn(f64) -> f64, a: f64, b: f64, c: f64) -> f64 {
    let (z, w) = rule();
    let sa = a.max(0.0).sqrt();
    // u = sa z1, v = l21 z1 + l22 z2.
    let l21 = if sa > 0.0 { c / sa } else { 0.0 };
    let l22 = (b - l21 * l21).max(0.0).sqrt();
    let mut total = 0.0;
    for (i, &z1) in z.iter().enumerate() {
        let fu = f(sa * z1);
        if fu == 0.0 {
            continue;
        }
        let mut inner = 0.0;
        for (j, &z2) in z.iter().enumerate() {
            inner += w[j] * f(l21 * z1 + l22 * z2);
        }
        total += w[i] * fu * inner;
    }
    total
}

/// E[phi(u) phi(v)] for (u, v) ~ N(0, [[a, c], [c, b]]).
pub fn dual(act: Activation, a: f64, b: f64, c: f64) -> f64 {
    match act {
        Activation::Relu => relu_dual(a, b, c),
        Activation::ReluNormalized => {
            // E[(relu u - m)(relu v - m)] / s², with E[relu u] = sqrt(a / 2π): not
            // sqrt(ab) phihat(rho) unless a = b = 1, because of the mean shift.
            let m = RELU_NORMALIZED_MEAN;
            let eu = (a.max(0.0) / (2.0 * PI)).sqrt();
            let ev = (b.max(0.0) / (2.0 * PI)).sqrt();
            (relu_dual(a, b, c) - m * eu - m * ev + m * m)
                / (RELU_NORMALIZED_STD * RELU_NORMALIZED_STD)
        }
        Activation::Tanh => quadrature(f64::tanh, a, b, c),
        Activation::TanhNormalized => {
            quadrature(f64::tanh, a, b, c) / (TANH_NORMALIZED_DIVISOR * TANH_NORMALIZED_DIVISOR)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hermite_rule_integrates_moments_of_the_normal() {
        let (z, w) = gauss_hermite(QUADRATURE_NODES);
        let moment = |k: i32| z.iter().zip(&w).map(|(x, w)| w * x.powi(k)).sum::<f64>();
        assert!((moment(0) - 1.0).abs() < 1e-13);
        assert!(moment(1).abs() < 1e-13);
        assert!((moment(2) - 1.0).abs() < 1e-12);
        assert!((moment(4) - 3.0).abs() < 1e-11);
        assert!((moment(6) - 15.0).abs() < 1e-10);
    }

    #[test]
    fn tanh_second_moment_matches_the_spec_constant() {
        // tanh's poles at ±iπ/2 limit Gauss-Hermite: 96 nodes give ~1e-11.
        let e = dual(Activation::Tanh, 1.0, 1.0, 1.0);
        assert!((e - 0.394294490397841).abs() < 3e-11, "{e}");
        assert!((dual(Activation::TanhNormalized, 1.0, 1.0, 1.0) - 1.0).abs() < 1e-10);
    }

    #[test]
    fn normalised_duals_fix_zero_and_one() {
        let phihat = |rho: f64| dual(Activation::ReluNormalized, 1.0, 1.0, rho);
        assert!((phihat(1.0) - 1.0).abs() < 1e-12);
        assert!(phihat(0.0).abs() < 1e-12);
        let t = |rho: f64| dual(Activation::TanhNormalized, 1.0, 1.0, rho);
        assert!(t(0.0).abs() < 1e-14);
        for rho in [0.1, 0.5, 0.9] {
            assert!((t(rho) + t(-rho)).abs() < 1e-12, "odd at {rho}");
        }
    }

    /// Monte Carlo estimate of E[phi(u) phi(v)] and its standard error (fixed seed).
    fn monte_carlo(phi: impl Fn(f64) -> f64, a: f64, b: f64, c: f64) -> (f64, f64) {
        monte_carlo_n(phi, a, b, c, 400_000)
    }

    fn monte_carlo_n(
        phi: impl Fn(f64) -> f64, a: f64, b: f64, c: f64, samples: usize,
    ) -> (f64, f64) {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (l21, l22) = (c / a.sqrt(), (b - c * c / a).max(0.0).sqrt());
        let samples: Vec<f64> = (0..samples)
            .map(|_| {
                let z1: f64 = StandardNormal.sample(&mut rng);
                let z2: f64 = StandardNormal.sample(&mut rng);
                phi(a.sqrt() * z1) * phi(l21 * z1 + l22 * z2)
            })
            .collect();
        let n = samples.len() as f64;
        let mean = samples.iter().sum::<f64>() / n;
        let sd = (samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n).sqrt();
        (mean, sd / n.sqrt())
    }

    #[test]
    fn relu_closed_form_against_monte_carlo_and_scaling() {
        for (a, b, c) in [(1.0, 1.0, 0.3), (2.0, 0.5, -0.4), (1.5, 1.5, 1.4)] {
            let exact = dual(Activation::Relu, a, b, c);
            let (mc, se) = monte_carlo(|x| x.max(0.0), a, b, c);
            assert!(
                (exact - mc).abs() < 5.0 * se,
                "({a},{b},{c}): {exact} vs MC {mc} ± {se}"
            );
            let t = 3.7;
            assert!((dual(Activation::Relu, t * a, t * b, t * c) - t * exact).abs() < 1e-12);
        }
        // Raw relu with He gain 2 preserves the diagonal: 2 E[relu(u)^2] = a.
        assert!((2.0 * dual(Activation::Relu, 1.7, 1.7, 1.7) - 1.7).abs() < 1e-12);
        // The tanh quadrature against Monte Carlo to 1e-3 (the target): 4e6
        // samples make the standard error ~2e-4.
        for (a, b, c) in [(2.0, 0.5, 0.6), (1.0, 1.0, -0.7)] {
            let (mc, se) = monte_carlo_n(f64::tanh, a, b, c, 4_000_000);
            let q = dual(Activation::Tanh, a, b, c);
            assert!(
                (q - mc).abs() < 1e-3 && (q - mc).abs() < 5.0 * se,
                "tanh {q} vs MC {mc} ± {se}"
            );
        }
    }

    #[test]
    fn relu_normalized_mean_shift_with_non_unit_variances() {
        let (a, b, c) = (2.0, 0.5, 0.6);
        let (mc, se) = monte_carlo(|x| Activation::ReluNormalized.eval(x), a, b, c);
        let exact = dual(Activation::ReluNormalized, a, b, c);
        assert!((mc - exact).abs() < 5.0 * se, "MC {mc} vs {exact}");
    }
}
