//! Gradients of the whole network against central finite differences of the f64
//! reference network, for every activation, loss and renormalisation setting; the
//! losses themselves; and gradient descent lowering the loss.

use rand::rngs::StdRng;
use wideprobe::gpu::{Batch, Tensor};
use wideprobe::linalg::Real;
use wideprobe::nn::activation::Activation;
use wideprobe::nn::fcn::{backward, forward_cached};
use wideprobe::nn::loss::{Loss, LossReduction, Objective};
use wideprobe::nn::step::TrainStep;
use wideprobe::nn::{Fcn, FcnConfig, ForwardOps};
use wideprobe::ops::loss::{check_labels, LossOp};

use crate::common::{self, reference};

/// Per-example loss of logits `f` with label `y`, in f64, written from MEASUREMENTS.md
/// §5: `half_sum` is (1/2) Σ_c r_c², `mean` is PyTorch's MSELoss, (1/k) Σ_c r_c².
fn loss_f64(objective: Objective, f: &[f64], y: usize) -> f64 {
    let m = f.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = f.iter().map(|v| (v - m).exp()).sum();
    let onehot = |c: usize| if c == y { 1.0 } else { 0.0 };
    let outputs: Vec<f64> = match objective.loss {
        Loss::Mse => f.to_vec(),
        Loss::MseSoftmax => f.iter().map(|v| (v - m).exp() / z).collect(),
        Loss::CrossEntropy => return z.ln() + m - f[y],
    };
    let squares: f64 = outputs
        .iter()
        .enumerate()
        .map(|(c, v)| (v - onehot(c)).powi(2))
        .sum();
    match objective.reduction {
        LossReduction::HalfSum => 0.5 * squares,
        LossReduction::Mean => squares / f.len() as f64,
    }
}

/// h(θ) = mean loss of the f64 reference network.
fn h_f64(net: &reference::Network, x: &[f64], n: usize, labels: &[u32], loss: Objective) -> f64 {
    let logits = net.logits(x, n);
    let k = net.shapes.last().unwrap().0;
    (0..n)
        .map(|i| loss_f64(loss, &logits[i * k..(i + 1) * k], labels[i] as usize))
        .sum::<f64>()
        / n as f64
}

/// The network's gradients in `T` against central differences of the f64 reference
/// network at the same parameters: f32 to ~1e-4, f64 to ~1e-7 (the differences' own
/// error, about 1e-10 with step 1e-6).
fn check_gradients<T: Real>(act: Activation, objective: Objective, renormalize: bool, bias: bool) {
    let gpu = common::gpu();
    let (loss, reduction) = (objective.loss, objective.reduction);
    let mut rng = common::rng(&format!(
        "gradients {} {} {} {} {renormalize} {bias}",
        <T as Real>::PRECISION.name(),
        act.name(),
        loss.name(),
        reduction.name()
    ));
    let (n, d, k) = (5, 7, 3);
    let labels: Vec<u32> = (0..n as u32).map(|i| i % k as u32).collect();
    // Wide enough that renormalising raw relu meets an all-zero example with
    // probability ~ 2 layers x 5 examples x 2^-24, about 1e-6 per check.
    let config = FcnConfig {
        renormalize,
        bias,
        ..common::fcn_config(d, vec![24, 24], k, act, rand::Rng::random(&mut rng))
    };
    let fcn = Fcn::<T>::init(gpu, config).unwrap();
    // Biases start at 0; random ones test their gradient and their effect on the others.
    for b in &fcn.params.biases {
        b.write(gpu, &common::random_real::<T>(&mut rng, b.len()))
            .unwrap();
    }
    let mut net = common::reference_network(&fcn);
    let x: Vec<T> = common::inputs_clear_of_kinks(&mut rng, &net, n, d);
    let x64 = common::real_to_f64(&x);

    let ops = ForwardOps::<T>::new(gpu).unwrap();
    let loss_op = LossOp::<T>::new(gpu).unwrap();
    let xt = Tensor::from_slice(gpu, &[n, d], &x).unwrap();
    let yt = Tensor::from_slice(gpu, &[n], &labels).unwrap();
    let cache = forward_cached(gpu, &ops, &fcn, &xt).unwrap();
    let losses = Tensor::<T>::zeros(gpu, &[n]).unwrap();
    let d_logits = Tensor::<T>::zeros(gpu, &[n, k]).unwrap();
    losses.poison(gpu).unwrap();
    d_logits.poison(gpu).unwrap();
    let weight = objective.weight(k);
    common::launch(|b| {
        loss_op.forward_backward(b, loss, weight, &cache.logits, &yt, &losses, &d_logits)
    });
    let grads = backward(gpu, &ops, &fcn, &cache, &d_logits).unwrap();

    let what = format!(
        "{} {} {} {} renorm {renormalize} bias {bias}",
        <T as Real>::PRECISION.name(),
        act.name(),
        loss.name(),
        reduction.name()
    );
    let h = losses
        .to_vec(gpu)
        .unwrap()
        .iter()
        .map(|&v| v.to_f64())
        .sum::<f64>()
        / n as f64;
    let want_h = h_f64(&net, &x64, n, &labels, objective);
    let f64_net = <T as wideprobe::ops::Real>::NEEDS_F64;
    let h_tol = if f64_net { 1e-12 } else { 1e-5 };
    assert!(
        (h - want_h).abs() <= h_tol * (1.0 + want_h.abs()),
        "{what}: h {h} vs {want_h}"
    );

    let layers = fcn.config.layer_shapes().len();
    for (t, grad) in grads.tensors().enumerate() {
        let got = grad.to_vec(gpu).unwrap();
        let step = 1e-6;
        let numeric: Vec<f64> = (0..got.len())
            .map(|p| {
                let orig = net.params[t][p];
                net.params[t][p] = orig + step;
                let up = h_f64(&net, &x64, n, &labels, objective);
                net.params[t][p] = orig - step;
                let down = h_f64(&net, &x64, n, &labels, objective);
                net.params[t][p] = orig;
                (up - down) / (2.0 * step)
            })
            .collect();
        let name = if t < layers {
            format!("d_W{}", t + 1)
        } else {
            format!("d_b{}", t - layers + 1)
        };
        // f32 forward and backward against f64 differences: ~1e-6 relative, plus the
        // differences' own error (~1e-10); f64: the differences' error only.
        let (rel, atol, rtol) = if f64_net {
            (1e-7, 1e-9, 1e-6)
        } else {
            (1e-4, 1e-5, 1e-3)
        };
        common::assert_close_real(&format!("{what}: {name}"), &got, &numeric, rel, atol, rtol);
    }
}

/// [`check_gradients`] for every activation and every loss (half-sum reduction).
fn check_every_activation_and_loss<T: Real>(renormalize: bool, bias: bool) {
    for act in Activation::ALL {
        for loss in Loss::ALL {
            check_gradients::<T>(act, loss.into(), renormalize, bias);
        }
    }
}

#[test]
fn gradients_match_finite_differences_for_every_activation_and_loss() {
    check_every_activation_and_loss::<f32>(false, false);
}

#[test]
fn gradients_match_finite_differences_with_the_mean_reduction() {
    for act in [Activation::ReluNormalized, Activation::Tanh] {
        for loss in [Loss::Mse, Loss::MseSoftmax] {
            let objective = Objective {
                loss,
                reduction: LossReduction::Mean,
            };
            check_gradients::<f32>(act, objective, false, true);
        }
    }
}

#[test]
fn gradients_match_finite_differences_with_renormalisation() {
    check_every_activation_and_loss::<f32>(true, false);
}

#[test]
fn gradients_match_finite_differences_with_bias() {
    for act in Activation::ALL {
        for (loss, renormalize) in [(Loss::Mse, false), (Loss::CrossEntropy, true)] {
            check_gradients::<f32>(act, loss.into(), renormalize, true);
        }
    }
    check_gradients::<f32>(Activation::Tanh, Loss::MseSoftmax.into(), false, true);
}

/// The f64 network (network_precision: f64): every activation and loss, then
/// renormalisation and bias under both reductions, to 1e-7 of the differences.
#[test]
fn f64_gradients_match_finite_differences_to_1e_7() {
    if common::skip_without_f64() {
        return;
    }
    check_every_activation_and_loss::<f64>(false, false);
    for act in [Activation::ReluNormalized, Activation::Tanh] {
        check_gradients::<f64>(act, Loss::CrossEntropy.into(), true, true);
        for loss in [Loss::Mse, Loss::MseSoftmax] {
            for reduction in [LossReduction::HalfSum, LossReduction::Mean] {
                check_gradients::<f64>(act, Objective { loss, reduction }, true, true);
            }
        }
    }
}

/// Inputs for the descent tests, from the generator for `test`: n examples of d
/// features uniform in [-1, 1) and their labels `label(i)`, on the GPU ([n, d] and [n]);
/// also the labels, and the generator for later draws.
fn labelled_inputs(
    test: &str, (n, d): (usize, usize), label: impl Fn(u32) -> u32,
) -> (Tensor<f32>, Tensor<u32>, Vec<u32>, StdRng) {
    let gpu = common::gpu();
    let mut rng = common::rng(test);
    let x = common::random_vec(&mut rng, n * d);
    let labels: Vec<u32> = (0..n as u32).map(label).collect();
    let xt = Tensor::from_slice(gpu, &[n, d], &x).unwrap();
    let yt = Tensor::from_slice(gpu, &[n], &labels).unwrap();
    (xt, yt, labels, rng)
}

#[test]
fn gradient_descent_lowers_the_loss() {
    let gpu = common::gpu();
    let (n, d, k) = (20, 33, 10);
    let (xt, yt, _, _) = labelled_inputs("gradient descent", (n, d), |i| i % k as u32);
    let config = FcnConfig {
        bias: true,
        ..common::fcn_config(d, vec![64, 64], k, Activation::ReluNormalized, 3)
    };
    let fcn = Fcn::init(gpu, config).unwrap();
    let ops = ForwardOps::new(gpu).unwrap();
    let loss_op = LossOp::new(gpu).unwrap();
    let losses = Tensor::<f32>::zeros(gpu, &[n]).unwrap();
    let d_logits = Tensor::<f32>::zeros(gpu, &[n, k]).unwrap();
    let mut history = Vec::new();
    for _ in 0..20 {
        let cache = forward_cached(gpu, &ops, &fcn, &xt).unwrap();
        common::launch(|b| {
            loss_op.forward_backward(b, Loss::Mse, 1.0, &cache.logits, &yt, &losses, &d_logits)
        });
        history.push(losses.to_vec(gpu).unwrap().iter().sum::<f32>() / n as f32);
        let grads = backward(gpu, &ops, &fcn, &cache, &d_logits).unwrap();
        let mut batch = Batch::new(gpu);
        for (g, w) in grads.tensors().zip(fcn.params.tensors()) {
            loss_op.gd_step(&mut batch, 0.05, g, w).unwrap();
        }
        batch.submit().unwrap();
    }
    eprintln!("loss: {:?}", history);
    assert!(
        history.windows(2).all(|w| w[1] <= w[0]),
        "not monotone: {history:?}"
    );
    assert!(history[19] < 0.8 * history[0], "{history:?}");
}

#[test]
fn labels_outside_the_outputs_are_an_error_naming_the_example() {
    let err = check_labels(&[0, 9, 10, 2], 10).unwrap_err().to_string();
    assert!(
        err.contains("example 2") && err.contains("label 10"),
        "{err}"
    );
    assert!(check_labels(&[0, 9], 10).is_ok());
}

/// MEASUREMENTS.md §5: the `mean` reduction is the half-sum one times 2/k, in the loss
/// and its gradient, so gradient descent with η_mean is gradient descent on the
/// half-sum loss with η_half = (2/k)·η_mean, step for step.
#[test]
fn mean_reduction_is_half_sum_scaled_by_2_over_k_step_for_step() {
    let gpu = common::gpu();
    let (n, d, k) = (13, 7, 10);
    let label = |i: u32| (i * 7) % k as u32;
    let (xt, yt, labels, mut rng) = labelled_inputs("mean reduction", (n, d), label);
    let seed = rand::Rng::random(&mut rng);
    let step = TrainStep::new(gpu).unwrap();
    let factor = 2.0 / k as f64;
    let lr_mean = 0.5;
    for loss in [Loss::Mse, Loss::MseSoftmax] {
        let runs = [
            (LossReduction::Mean, lr_mean),
            (LossReduction::HalfSum, factor * lr_mean),
        ]
        .map(|(reduction, lr)| {
            let config = FcnConfig {
                bias: true,
                ..common::fcn_config(d, vec![33, 33], k, Activation::Tanh, seed)
            };
            let fcn = Fcn::init(gpu, config).unwrap();
            let objective = Objective { loss, reduction };
            let mut history = Vec::new();
            for _ in 0..4 {
                let losses = Tensor::<f32>::zeros(gpu, &[n]).unwrap();
                let d_logits = Tensor::<f32>::zeros(gpu, &[n, k]).unwrap();
                losses.poison(gpu).unwrap();
                let mut batch = Batch::new(gpu);
                let record = step
                    .record_loss_and_gradients(
                        &mut batch, &fcn, &xt, &yt, objective, &losses, &d_logits,
                    )
                    .unwrap();
                batch.submit().unwrap();
                let logits = common::to_f64(&record.cache.logits.to_vec(gpu).unwrap());
                let h: f64 = losses.to_vec(gpu).unwrap().iter().map(|&l| l as f64).sum();
                let grads: Vec<Vec<f64>> = record
                    .grads
                    .tensors()
                    .map(|g| common::to_f64(&g.to_vec(gpu).unwrap()))
                    .collect();
                history.push((h / n as f64, logits, grads));
                common::launch(|b| step.record_gd_step(b, &fcn, &record.grads, lr));
            }
            history
        });
        let [mean, half] = runs;
        for (t, ((h_mean, logits, g_mean), (h_half, logits_half, g_half))) in
            mean.iter().zip(&half).enumerate()
        {
            let what = format!("{} epoch {t}", loss.name());
            // The same parameters, so the same logits ...
            common::assert_close(
                &format!("{what}: logits"),
                logits,
                logits_half,
                1e-5,
                1e-6,
                1e-4,
            );
            // ... and h_mean, computed here from PyTorch's definition, is 2/k h_half.
            if loss == Loss::Mse {
                let torch: f64 = logits
                    .chunks(k)
                    .zip(&labels)
                    .flat_map(|(row, &y)| {
                        row.iter().enumerate().map(move |(c, f)| {
                            (f - if c == y as usize { 1.0 } else { 0.0 }).powi(2)
                        })
                    })
                    .sum::<f64>()
                    / (n * k) as f64;
                assert!(
                    (h_mean - torch).abs() <= 1e-5 * torch,
                    "{what}: h {h_mean} vs {torch}"
                );
            }
            assert!(
                (h_mean - factor * h_half).abs() <= 1e-6 * h_mean,
                "{what}: h_mean {h_mean} vs (2/k) h_half {}",
                factor * h_half
            );
            for (gm, gh) in g_mean.iter().zip(g_half) {
                let scaled: Vec<f64> = gh.iter().map(|g| factor * g).collect();
                common::assert_close(&format!("{what}: gradient"), gm, &scaled, 1e-5, 1e-8, 1e-4);
            }
        }
    }
}
