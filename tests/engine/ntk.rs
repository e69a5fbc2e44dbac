//! The empirical NTK: the explicit layerwise assembly against J Jᵀ from an f64
//! finite-difference Jacobian of the reference network, and the matrix-free operator
//! (VJP then JVP) against the explicit matrix, product by product and in its extreme
//! eigenvalues.

use std::sync::Arc;

use wideprobe::gpu::{Batch, Tensor};
use wideprobe::linalg::{
    lanczos, DenseMatrix, LanczosOptions, Precision, SpectrumMethod, SymmetricOperator,
};
use wideprobe::nn::activation::Activation;
use wideprobe::nn::fcn::forward_cached;
use wideprobe::nn::ntk::{ntk_explicit, ntk_spectrum, NtkKernels, NtkMethod, NtkOperator};
use wideprobe::nn::{Fcn, FcnConfig, ForwardOps};
use wideprobe::ops::vector::VectorOps;

use crate::common::{self, reference};

struct Setup {
    fcn: Fcn,
    x: Vec<f32>,
    n: usize,
    net: reference::Network,
}

fn setup(
    what: &str, act: Activation, renormalize: bool, bias: bool, n: usize, widths: Vec<usize>,
) -> Setup {
    let gpu = common::gpu();
    let mut rng = common::rng(what);
    let (d, k) = (5, 3);
    let config = FcnConfig {
        renormalize,
        bias,
        ..common::fcn_config(d, widths, k, act, rand::Rng::random(&mut rng))
    };
    let fcn = Fcn::init(gpu, config).unwrap();
    for b in &fcn.params.biases {
        b.write(gpu, &common::random_vec(&mut rng, b.len()))
            .unwrap();
    }
    let net = common::reference_network(&fcn);
    let x = common::inputs_clear_of_kinks(&mut rng, &net, n, d);
    Setup { fcn, x, n, net }
}

/// K = J Jᵀ from the f64 finite-difference Jacobian.
fn reference_ntk(s: &Setup) -> Vec<f64> {
    let (j, p) = s.net.jacobian(&common::to_f64(&s.x), s.n, 1e-6);
    let rows = j.len() / p;
    reference::matmul(false, true, rows, rows, p, 1.0, &j, &j, 0.0, &[])
}

#[test]
fn explicit_ntk_matches_the_jacobian_for_every_activation_renorm_and_bias() {
    let gpu = common::gpu();
    let ops = ForwardOps::new(gpu).unwrap();
    let kernels = NtkKernels::new(gpu).unwrap();
    for act in Activation::ALL {
        for (renormalize, bias) in [(false, false), (true, false), (false, true), (true, true)] {
            let what = format!("ntk {} renorm {renormalize} bias {bias}", act.name());
            // Raw relu zeroes a whole row of width w with probability 2^-w, which
            // renormalisation rejects: widths of 24 make that ~1e-7 per example.
            let s = setup(&what, act, renormalize, bias, 4, vec![25, 24]);
            let xt = Tensor::from_slice(gpu, &[s.n, 5], &s.x).unwrap();
            let cache = forward_cached(gpu, &ops, &s.fcn, &xt).unwrap();
            let want = reference_ntk(&s);
            let k32 = ntk_explicit::<f32, f32>(gpu, &ops, &kernels, &s.fcn, &cache).unwrap();
            let got = k32.to_vec(gpu).unwrap();
            common::assert_close_f32(&format!("{what} (f32)"), &got, &want, 1e-4, 1e-4, 1e-3);
            if gpu.has_f64() {
                let k64 = ntk_explicit::<f32, f64>(gpu, &ops, &kernels, &s.fcn, &cache).unwrap();
                let got = k64.to_vec(gpu).unwrap();
                common::assert_close(&format!("{what} (f64)"), &got, &want, 1e-4, 1e-4, 1e-3);
            }
        }
    }
}

#[test]
fn explicit_ntk_of_a_linear_model_is_the_input_gram_per_logit() {
    // No hidden layer: f = x Wᵀ (+ b), so K[(i,c),(j,c')] = (<x_i, x_j> + 1) δ_cc'.
    let gpu = common::gpu();
    let ops = ForwardOps::new(gpu).unwrap();
    let kernels = NtkKernels::new(gpu).unwrap();
    let s = setup("ntk linear", Activation::Relu, false, true, 7, vec![]);
    let xt = Tensor::from_slice(gpu, &[s.n, 5], &s.x).unwrap();
    let cache = forward_cached(gpu, &ops, &s.fcn, &xt).unwrap();
    let got = ntk_explicit::<f32, f32>(gpu, &ops, &kernels, &s.fcn, &cache)
        .unwrap()
        .to_vec(gpu)
        .unwrap();
    let x = common::to_f64(&s.x);
    let g = reference::gram(&x, s.n, 5, 1.0);
    let k = 3;
    let order = s.n * k;
    let want: Vec<f64> = (0..order * order)
        .map(|idx| {
            let (p, q) = (idx / order, idx % order);
            if p % k == q % k {
                g[(p / k) * s.n + q / k] + 1.0
            } else {
                0.0
            }
        })
        .collect();
    common::assert_close_f32("linear ntk", &got, &want, 1e-5, 1e-5, 1e-4);
}

#[test]
fn matrix_free_products_match_the_explicit_ntk() {
    let gpu = common::gpu();
    let ops = ForwardOps::new(gpu).unwrap();
    let kernels = NtkKernels::new(gpu).unwrap();
    let vectors = VectorOps::<f32>::new(gpu).unwrap();
    for (act, renormalize, bias) in [
        (Activation::ReluNormalized, false, false),
        (Activation::TanhNormalized, true, true),
        (Activation::Relu, true, false),
        (Activation::Tanh, false, true),
    ] {
        let what = format!(
            "matrix-free {} renorm {renormalize} bias {bias}",
            act.name()
        );
        let s = setup(&what, act, renormalize, bias, 11, vec![33, 26, 24]);
        let xt = Tensor::from_slice(gpu, &[s.n, 5], &s.x).unwrap();
        let cache = forward_cached(gpu, &ops, &s.fcn, &xt).unwrap();
        let kernel = ntk_explicit::<f32, f32>(gpu, &ops, &kernels, &s.fcn, &cache).unwrap();
        let order = s.n * 3;
        let mut rng = common::rng(&what);
        let v = common::random_vec(&mut rng, order);
        let vt = Tensor::from_slice(gpu, &[order], &v).unwrap();
        let explicit = Tensor::<f32>::zeros(gpu, &[order]).unwrap();
        let free = Tensor::<f32>::zeros(gpu, &[order]).unwrap();
        free.poison(gpu).unwrap();
        let op = NtkOperator {
            ops: &ops,
            fcn: &s.fcn,
            cache: &cache,
        };
        assert_eq!(op.order(), order);
        let mut batch = Batch::new(gpu);
        vectors
            .gemv(&mut batch, false, order, 1.0, &kernel, &vt, 0.0, &explicit)
            .unwrap();
        op.apply(&mut batch, &vt, &free).unwrap();
        batch.submit().unwrap();
        let want = common::to_f64(&explicit.to_vec(gpu).unwrap());
        let got = free.to_vec(gpu).unwrap();
        common::assert_close_f32(&what, &got, &want, 1e-4, 1e-4, 1e-3);
    }
}

#[test]
fn explicit_and_matrix_free_ntk_have_the_same_extreme_eigenvalues() {
    let gpu = common::gpu();
    let ops = ForwardOps::new(gpu).unwrap();
    let kernels = NtkKernels::new(gpu).unwrap();
    let v32 = Arc::new(VectorOps::<f32>::new(gpu).unwrap());
    let v64 = gpu
        .has_f64()
        .then(|| Arc::new(VectorOps::<f64>::new(gpu).unwrap()));
    let precision = Precision::Auto.resolve(gpu).unwrap();
    let s = setup(
        "ntk spectrum",
        Activation::TanhNormalized,
        false,
        true,
        13,
        vec![40, 40],
    );
    let xt = Tensor::from_slice(gpu, &[s.n, 5], &s.x).unwrap();
    let cache = forward_cached(gpu, &ops, &s.fcn, &xt).unwrap();
    let options = LanczosOptions {
        seed: 5,
        ..Default::default()
    };
    let run = |method| {
        ntk_spectrum(
            gpu,
            &ops,
            &kernels,
            &v32,
            v64.as_ref(),
            &s.fcn,
            &cache,
            method,
            (precision, SpectrumMethod::Auto),
            &options,
        )
        .unwrap()
    };
    let explicit = run(NtkMethod::Explicit);
    let free = run(NtkMethod::MatrixFree);
    assert_eq!(run(NtkMethod::Auto).method, NtkMethod::Explicit);
    assert_eq!(free.method, NtkMethod::MatrixFree);
    // The explicit matrix is stored, so auto solves it densely; the operator by Lanczos.
    assert_eq!(explicit.spectrum.method, "dense");
    assert_eq!(free.spectrum.method, "lanczos");
    // The reference: a dense f64 solve of J Jᵀ (all 39 eigenvalues via full Lanczos).
    let want = reference_ntk(&s);
    let order = s.n * 3;
    let dense = DenseMatrix::<f32>::from_host(gpu, order, &want).unwrap();
    let full = lanczos(
        gpu,
        v32.clone(),
        &dense,
        &LanczosOptions {
            full: true,
            ..Default::default()
        },
    )
    .unwrap();
    let (lo, hi) = (full.lambda_min(), full.lambda_max());
    for (name, r) in [("explicit", &explicit), ("matrix-free", &free)] {
        let got_hi = r.spectrum.lambda_max();
        let got_lo = r.spectrum.lambda_min();
        assert!(
            (got_hi - hi).abs() <= 1e-4 * hi,
            "{name}: lambda_max {got_hi} vs {hi}"
        );
        // f32 network passes and a finite-difference reference: ~1e-5 of λ_max.
        assert!(
            (got_lo - lo).abs() <= 1e-4 * hi,
            "{name}: lambda_min {got_lo} vs {lo} (lambda_max {hi})"
        );
    }
}
