use wideprobe::gpu::Tensor;
use wideprobe::nn::activation::Activation;
use wideprobe::nn::fcn::init_weights;
use wideprobe::nn::{forward, Fcn, FcnConfig, ForwardOps};

use crate::common::{self, reference};

/// The initial weights of `config`, each with its shape: (fan_out, fan_in, row-major).
fn shaped_init_weights(config: &FcnConfig) -> Vec<(usize, usize, Vec<f32>)> {
    config
        .layer_shapes()
        .into_iter()
        .zip(init_weights(config))
        .map(|((o, i), w)| (o, i, w))
        .collect()
}

/// Shaped weights in f64, as the reference forward takes them.
fn to_f64_weights(weights: &[(usize, usize, Vec<f32>)]) -> Vec<(usize, usize, Vec<f64>)> {
    weights
        .iter()
        .map(|(o, i, w)| (*o, *i, common::to_f64(w)))
        .collect()
}

/// `tol`: relative tolerance of every layer's output and of the logits.
fn check(
    activation: Activation, renormalize: bool, n: usize, d: usize, widths: Vec<usize>, tol: f64,
) {
    let gpu = common::gpu();
    let mut rng = common::rng(&format!("fcn {} renorm {renormalize}", activation.name()));
    let config = FcnConfig {
        renormalize,
        ..common::fcn_config(
            d,
            widths.clone(),
            10,
            activation,
            rand::Rng::random(&mut rng),
        )
    };
    let host_weights = to_f64_weights(&shaped_init_weights(&config));
    let fcn = Fcn::init(gpu, config).unwrap();
    // Raw relu zeroes a row of width 17 about once in 130,000 draws, which renormalising
    // rejects; rows near 0 or kinks only multiply rounding.
    let x: Vec<f32> =
        common::inputs_clear_of_kinks(&mut rng, &common::reference_network(&fcn), n, d);
    let (want_layers, want_logits) = reference::fcn_forward(
        &common::to_f64(&x),
        n,
        &host_weights,
        |z| activation.eval(z),
        renormalize,
    );
    let ops = ForwardOps::new(gpu).unwrap();
    let xt = Tensor::from_slice(gpu, &[n, d], &x).unwrap();
    let mut seen = Vec::new();
    let logits = forward(gpu, &ops, &fcn, &xt, |l, f| {
        let got = f.to_vec(gpu)?;
        // Each layer is a length-fan_in dot product followed by a 1-Lipschitz map: errors
        // grow like sqrt(fan_in) u per layer.
        common::assert_close_f32(
            &format!("{} renorm {renormalize} layer {l}", activation.name()),
            &got,
            &want_layers[l],
            tol,
            tol,
            tol,
        );
        seen.push(l);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, (0..=widths.len()).collect::<Vec<_>>());
    common::assert_close_f32(
        "logits",
        &logits.to_vec(gpu).unwrap(),
        &want_logits,
        tol,
        tol,
        tol,
    );
}

#[test]
fn forward_matches_f64_reference_for_every_activation() {
    for act in Activation::ALL {
        check(act, false, 7, 33, vec![130, 17, 33], 1e-5);
        check(act, true, 7, 33, vec![130, 17, 33], 1e-5);
    }
}

#[test]
fn forward_with_one_example_and_deep_narrow_layers() {
    // Renormalising a width-7 vector whose entries nearly cancel (the mean shift of
    // relu_normalized) multiplies f32 rounding by sqrt(7) / |a|, over 12 layers: a rare
    // seed reached 1e-5 at the last layer, so this deep, narrow case gets 1e-4.
    check(Activation::ReluNormalized, true, 1, 7, vec![7; 12], 1e-4);
}

#[test]
fn init_is_seeded_and_variance_preserving() {
    let config = common::fcn_config(300, vec![400], 10, Activation::Relu, 5);
    let a = init_weights(&config);
    assert_eq!(a, init_weights(&config));
    let var = |w: &[f32]| w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / w.len() as f64;
    // Raw relu: He init, variance 2 / fan_in; the output layer gain 1 / fan_in.
    assert!(
        (var(&a[0]) * 300.0 - 2.0).abs() < 0.02,
        "{}",
        var(&a[0]) * 300.0
    );
    assert!(
        (var(&a[1]) * 400.0 - 1.0).abs() < 0.05,
        "{}",
        var(&a[1]) * 400.0
    );
}

#[test]
fn renormalizing_an_all_zero_example_is_an_error_naming_it() {
    let gpu = common::gpu();
    let (n, d) = (3, 7);
    let mut x = vec![1.0f32; n * d];
    x[d..2 * d].iter_mut().for_each(|v| *v = 0.0); // example 1 is zero: relu(0) = 0
    let config = FcnConfig {
        renormalize: true,
        ..common::fcn_config(d, vec![5], 2, Activation::Relu, 1)
    };
    let fcn = Fcn::init(gpu, config).unwrap();
    let ops = ForwardOps::new(gpu).unwrap();
    let xt = Tensor::from_slice(gpu, &[n, d], &x).unwrap();
    let err = forward(gpu, &ops, &fcn, &xt, |_, _| Ok(()));
    common::assert_error_names(err, &["example 1", "layer 1"]);
}

/// MEASUREMENTS.md §4: as the width grows, Ĝ^l approaches the infinite-width Σ^l, the
/// Frobenius distance falling like 1/sqrt(width) (finite-width fluctuations).
#[test]
fn finite_width_gram_approaches_the_infinite_width_kernel() {
    use wideprobe::data::{load_dataset, DatasetChoice, InputNorm};
    use wideprobe::ops::gram::Gram;
    use wideprobe::theory::infinite_width::{infinite_width_kernels, InfiniteWidthConfig};

    let gpu = common::gpu();
    let (n, depth) = (8, 2);
    let ds = load_dataset(
        DatasetChoice::Synthetic,
        None,
        InputNorm::SqrtFanIn,
        n,
        0,
        4,
    )
    .unwrap();
    let sigma = infinite_width_kernels(
        &ds.x_train,
        n,
        ds.d,
        &InfiniteWidthConfig {
            activation: Activation::ReluNormalized,
            depth,
            renormalize: false,
            gain: None,
        },
    )
    .unwrap();
    let ops = ForwardOps::new(gpu).unwrap();
    let gram = Gram::new(gpu).unwrap();
    let x = Tensor::from_slice(gpu, &[n, ds.d], &ds.x_train).unwrap();
    let mut distance = Vec::new();
    for width in [256, 1024, 4096] {
        let mut total = 0.0;
        let seeds = 4;
        for seed in 0..seeds {
            let config = common::fcn_config(
                ds.d,
                vec![width; depth],
                10,
                Activation::ReluNormalized,
                100 + seed,
            );
            let fcn = Fcn::init(gpu, config).unwrap();
            let mut last = Vec::new();
            forward(gpu, &ops, &fcn, &x, |l, f| {
                if l == depth {
                    let g = Tensor::<f32>::zeros(gpu, &[n, n])?;
                    let mut batch = wideprobe::gpu::Batch::new(gpu);
                    gram.record(&mut batch, f, 1.0 / width as f64, &g)?;
                    batch.submit()?;
                    last = g.to_vec(gpu)?;
                }
                Ok(())
            })
            .unwrap();
            let d2: f64 = last
                .iter()
                .zip(&sigma[depth])
                .map(|(a, b)| (*a as f64 - b).powi(2))
                .sum();
            total += d2.sqrt();
        }
        distance.push(total / seeds as f64);
    }
    eprintln!("‖Ĝ^{depth} - Σ^{depth}‖_F at widths 256, 1024, 4096: {distance:?}");
    assert!(
        distance[0] > distance[1] && distance[1] > distance[2],
        "{distance:?}"
    );
    // 16x the width: 4x closer, give or take the seeds' spread.
    let ratio = distance[0] / distance[2];
    assert!(
        (2.5..6.4).contains(&ratio),
        "ratio {ratio} (expected about 4): {distance:?}"
    );
}

/// Relative Frobenius distance of Ĝ = F Fᵀ / w of two feature sets.
fn gram_distance(f: &[f64], reference: &[f64], n: usize) -> f64 {
    let w = f.len() / n;
    let (g, r) = (
        reference::gram(f, n, w, 1.0 / w as f64),
        reference::gram(reference, n, w, 1.0 / w as f64),
    );
    let diff: f64 = g.iter().zip(&r).map(|(a, b)| (a - b) * (a - b)).sum();
    (diff / r.iter().map(|b| b * b).sum::<f64>()).sqrt()
}

/// The f32 forward at depth 30 (issue 14): its Ĝ at the last layer is within the stated
/// bound of the f64 reference (MEASUREMENTS.md §7: 1e-4 relative), and on average better
/// than an f32 forward whose dot products are plain sequential f32 sums (the summation numpy's
/// f32 forward beat by 2x before the tiled matmul summed each slice on its own;
/// benches/forward_accuracy.py measures both against numpy).
#[test]
fn f32_forward_at_depth_30_is_within_its_bound_and_beats_sequential_sums() {
    let gpu = common::gpu();
    let mut rng = common::rng("fcn depth 30 accuracy");
    let (n, d, width, depth) = (12, 301, 190, 30);
    let x = common::random_vec(&mut rng, n * d);
    // One net's error at depth 30 varies by 2x from seed to seed, and about one net in
    // 150 errs more than the sequential sums (up to 3.8x): compare the median over nets.
    let mut ratios = Vec::new();
    let nets = [Activation::ReluNormalized, Activation::TanhNormalized].repeat(6);
    for activation in nets {
        let config = common::fcn_config(
            d,
            vec![width; depth],
            10,
            activation,
            rand::Rng::random(&mut rng),
        );
        let weights = shaped_init_weights(&config);
        let wide = to_f64_weights(&weights);
        let phi = |z: f64| activation.eval(z);
        let (want, _) = reference::fcn_forward(&common::to_f64(&x), n, &wide, phi, false);
        // Sequential f32 sums, the activation in f64 rounded to f32.
        let mut a = x.clone();
        for (o, i, w) in &weights[..depth] {
            a = (0..n * o)
                .map(|e| {
                    let (row, col) = (e / o, e % o);
                    let z = (0..*i).fold(0.0f32, |s, p| s + a[row * i + p] * w[col * i + p]);
                    phi(z as f64) as f32
                })
                .collect();
        }
        let sequential = gram_distance(&common::to_f64(&a), &want[depth], n);
        let fcn = Fcn::init(gpu, config).unwrap();
        let ops = ForwardOps::new(gpu).unwrap();
        let xt = Tensor::from_slice(gpu, &[n, d], &x).unwrap();
        let mut ours = f64::NAN;
        forward(gpu, &ops, &fcn, &xt, |l, f| {
            if l == depth {
                ours = gram_distance(&common::to_f64(&f.to_vec(gpu)?), &want[depth], n);
            }
            Ok(())
        })
        .unwrap();
        eprintln!(
            "{}: Ĝ_30 relative error {ours:.2e}, sequential f32 sums {sequential:.2e}",
            activation.name()
        );
        assert!(
            ours <= 1e-4,
            "{}: {ours:e} above the bound",
            activation.name()
        );
        ratios.push(ours / sequential);
    }
    // Sequential sums on the GPU would give ratios near 1; blocked ones gave a median of
    // 0.56 over 300 nets, 3% of them above 0.85. Measured again on lavapipe (2026-12-02),
    // this test's median of 12 over 45 runs of the broadcast kernel (what lavapipe runs):
    // mean 0.56, standard deviation 0.05, largest 0.69; over 35 runs of the tiled one
    // (`WIDEPROBE_MATMUL=tiled`, what GPUs run): mean 0.57, deviation 0.06, largest 0.70.
    // 0.85 is about six deviations above the first mean and five above the second. (The
    // mean of 6 failed 3 runs in 150.)
    ratios.sort_by(f64::total_cmp);
    let mid = ratios.len() / 2;
    let median = (ratios[mid - 1] + ratios[mid]) / 2.0;
    assert!(
        median <= 0.85,
        "error over sequential sums: median {median:.2} of {ratios:.2?}"
    );
}
