//! PL loss prediction (MEASUREMENTS.md §6) and the stability bound of Lemma 2 (§8):
//! formulas only, evaluated on measured constants.

/// The tightest PL constant at θ_t: μ = ½‖∇h‖² / (h − h*). Infinite when h = h*.
pub fn mu_grad(grad_norm: f64, h: f64, h_star: f64) -> f64 {
    0.5 * grad_norm * grad_norm / (h - h_star)
}

/// Bounds on h_t from the constants (μ, L) and loss of the previous epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossPrediction {
    /// Lemma 1 verbatim: h* + (1 − μ/L)(h_{t−1} − h*).
    pub bound_lemma1: f64,
    /// Step-size aware descent lemma: h* + (1 − 2ημ(1 − ηL/2))(h_{t−1} − h*).
    pub bound_eta: f64,
    /// (h_t − h*) / (bound − h*): below 1 the bound held, near 1 it was tight.
    pub ratio_lemma1: f64,
    pub ratio_eta: f64,
    /// η > 2/L: the descent lemma does not apply.
    pub eta_exceeds_2_over_l: bool,
}

pub fn predict_loss(
    h_prev: f64, h_now: f64, h_star: f64, mu: f64, smoothness: f64, eta: f64,
) -> LossPrediction {
    let gap = h_prev - h_star;
    let bound_lemma1 = h_star + (1.0 - mu / smoothness) * gap;
    let bound_eta = h_star + (1.0 - 2.0 * eta * mu * (1.0 - eta * smoothness / 2.0)) * gap;
    LossPrediction {
        bound_lemma1,
        bound_eta,
        ratio_lemma1: (h_now - h_star) / (bound_lemma1 - h_star),
        ratio_eta: (h_now - h_star) / (bound_eta - h_star),
        eta_exceeds_2_over_l: eta > 2.0 / smoothness,
    }
}

/// Lemma 2's uniform-stability generalisation bound.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StabilityBound {
    pub beta: f64,
    pub gen_bound: f64,
    /// gen_bound ≥ M: says nothing a loss bounded by M does not.
    pub vacuous: bool,
}

/// β = 2√ε_A √(2G²/μ) + (2G²/μ)/(n − 1); gen_bound = √((M² + 12 M n β) / (2 n δ)).
/// ε_A is the training loss (the optimisation error against h* = 0), G the Lipschitz
/// constant (max per-example gradient norm), M the loss bound, δ the failure
/// probability.
pub fn stability_bound(
    eps_a: f64, g_lipschitz: f64, mu: f64, n: usize, m: f64, delta: f64,
) -> StabilityBound {
    let n_f = n as f64;
    let ratio = 2.0 * g_lipschitz * g_lipschitz / mu;
    let beta = 2.0 * eps_a.max(0.0).sqrt() * ratio.sqrt() + ratio / (n_f - 1.0);
    let gen_bound = ((m * m + 12.0 * m * n_f * beta) / (2.0 * n_f * delta)).sqrt();
    StabilityBound {
        beta,
        gen_bound,
        vacuous: gen_bound >= m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_prediction_by_hand() {
        // h_{t-1} = 2, h* = 0, μ = 1, L = 4, η = 0.1:
        // Lemma 1: (1 - 1/4) 2 = 1.5; η-aware: (1 - 2·0.1·1·(1 - 0.2)) 2 = 0.84·2 = 1.68.
        let p = predict_loss(2.0, 1.2, 0.0, 1.0, 4.0, 0.1);
        assert!((p.bound_lemma1 - 1.5).abs() < 1e-15);
        assert!((p.bound_eta - 1.68).abs() < 1e-15);
        assert!((p.ratio_lemma1 - 0.8).abs() < 1e-15);
        assert!((p.ratio_eta - 1.2 / 1.68).abs() < 1e-15);
        assert!(!p.eta_exceeds_2_over_l);
        assert!(predict_loss(2.0, 1.0, 0.0, 1.0, 4.0, 0.6).eta_exceeds_2_over_l);
        // h* shifts everything.
        let q = predict_loss(3.0, 2.2, 1.0, 1.0, 4.0, 0.1);
        assert!((q.bound_lemma1 - 2.5).abs() < 1e-15 && (q.ratio_lemma1 - 0.8).abs() < 1e-15);
    }

    #[test]
    fn mu_grad_by_hand() {
        assert_eq!(mu_grad(2.0, 0.5, 0.0), 4.0);
        assert_eq!(mu_grad(2.0, 1.5, 1.0), 4.0);
    }

    #[test]
    fn stability_bound_by_hand() {
        // ε_A = 0.04, G = 1, μ = 0.5, n = 5, M = 1, δ = 0.05:
        // 2G²/μ = 4; β = 2·0.2·2 + 4/4 = 1.8; gen = √((1 + 12·5·1.8) / 0.5) = √218.
        let b = stability_bound(0.04, 1.0, 0.5, 5, 1.0, 0.05);
        assert!((b.beta - 1.8).abs() < 1e-14);
        assert!((b.gen_bound - 218f64.sqrt()).abs() < 1e-12);
        assert!(b.vacuous);
    }

    #[test]
    fn vacuous_flag_on_both_sides_of_m() {
        // β = 0 (ε_A = 0, G = 0): gen = M / √(2nδ); with 2nδ = 4, gen = M/2 < M.
        let tight = stability_bound(0.0, 0.0, 1.0, 40, 2.0, 0.05);
        assert!((tight.gen_bound - 1.0).abs() < 1e-14 && !tight.vacuous);
        // 2nδ = 1/2: gen = √2 M ≥ M.
        let loose = stability_bound(0.0, 0.0, 1.0, 5, 2.0, 0.05);
        assert!(loose.gen_bound > 2.0 && loose.vacuous);
    }
}
