use wideprobe::gpu::{Batch, Tensor};
use wideprobe::linalg::Real;
use wideprobe::ops::gram::Gram;

use crate::common::{self, reference};

/// (n, d): n straddles the 64-row tile (1 tile, partial tiles, several tiles), d the
/// 16-deep slices.
const SHAPES: &[(usize, usize)] = &[
    (1, 1),
    (1, 33),
    (7, 130),
    (33, 7),
    (64, 16),
    (65, 17),
    (130, 33),
    (257, 300),
];

/// G = scale X Xᵀ of `x` [n, d] (f32) on the GPU, summed and stored in `T`, poisoned first.
fn gpu_gram<T: Real>(gram: &Gram, x: &[f32], (n, d): (usize, usize), scale: f64) -> Vec<T> {
    let (xt, g) = (common::upload(&[n, d], x), common::poisoned::<T>(&[n, n]));
    common::launch(|b| gram.record(b, &xt, scale, &g));
    common::download(&g)
}

/// G[i, j] and G[j, i] are the same bits: the kernel computes one and mirrors it.
fn assert_exactly_symmetric<T: Real>(what: &str, g: &[T], n: usize) {
    for i in 0..n {
        for j in 0..i {
            let (lower, upper) = (g[i * n + j].to_f64(), g[j * n + i].to_f64());
            assert_eq!(
                lower.to_bits(),
                upper.to_bits(),
                "{what}: G[{i},{j}] != G[{j},{i}]"
            );
        }
    }
}

#[test]
fn f32_gram_matches_reference_and_is_exactly_symmetric() {
    let gram = Gram::new(common::gpu()).unwrap();
    let mut rng = common::rng("gram f32");
    for &(n, d) in SHAPES {
        let what = format!("gram f32 {n}x{d}");
        let x = common::random_vec(&mut rng, n * d);
        let scale = 1.0 / d as f32;
        let got = gpu_gram::<f32>(&gram, &x, (n, d), scale as f64);
        let want = reference::gram(&common::to_f64(&x), n, d, scale as f64);
        let atol = 1e-6 * (d as f64).sqrt() * scale as f64 + 1e-7;
        common::assert_close_f32(&what, &got, &want, 1e-5, atol, 1e-5);
        assert_exactly_symmetric(&what, &got, n);
    }
}

#[test]
fn f64_gram_is_exact_to_f64_rounding() {
    if common::skip_without_f64() {
        return;
    }
    let gram = Gram::new(common::gpu()).unwrap();
    let mut rng = common::rng("gram f64");
    for &(n, d) in SHAPES {
        let what = format!("gram f64 {n}x{d}");
        let x = common::random_vec(&mut rng, n * d);
        let got = gpu_gram::<f64>(&gram, &x, (n, d), 0.5);
        let want = reference::gram(&common::to_f64(&x), n, d, 0.5);
        common::assert_close(&what, &got, &want, 1e-13, 1e-14, 1e-13);
        assert_exactly_symmetric(&what, &got, n);
    }
}

#[test]
fn f64_accumulation_resolves_what_f32_cannot() {
    // Rows sharing a large common component with tiny differences: the Gram matrix is
    // a huge constant plus a small structured part that f32 sums lose.
    if common::skip_without_f64() {
        return;
    }
    let gpu = common::gpu();
    let mut rng = common::rng("gram cancellation");
    let (n, d) = (33, 300);
    let noise = common::random_vec(&mut rng, n * d);
    let x: Vec<f32> = noise.iter().map(|e| 1.0 + 1e-3 * e).collect();
    let want = reference::gram(&common::to_f64(&x), n, d, 1.0);
    let xt = Tensor::from_slice(gpu, &[n, d], &x).unwrap();
    let g32 = Tensor::<f32>::zeros(gpu, &[n, n]).unwrap();
    let g64 = Tensor::<f64>::zeros(gpu, &[n, n]).unwrap();
    let gram = Gram::new(gpu).unwrap();
    common::launch(|b| {
        gram.record(b, &xt, 1.0, &g32)?;
        gram.record(b, &xt, 1.0, &g64)
    });
    // Error in the part that matters: G minus its mean (the common component).
    let centred_err = |got: &[f64]| {
        let mean = want.iter().sum::<f64>() / want.len() as f64;
        let num: f64 = got.iter().zip(&want).map(|(g, w)| (g - w).powi(2)).sum();
        let den: f64 = want.iter().map(|w| (w - mean).powi(2)).sum();
        (num / den).sqrt()
    };
    let e32 = centred_err(&common::to_f64(&g32.to_vec(gpu).unwrap()));
    let e64 = centred_err(&g64.to_vec(gpu).unwrap());
    eprintln!("relative error of the centred Gram matrix: f32 {e32:.1e}, f64 {e64:.1e}");
    assert!(e64 < 1e-9, "f64 accumulation error {e64:e}");
    assert!(
        e32 > 1e3 * e64,
        "the f32 error {e32:e} should be far larger"
    );
}

#[test]
fn zero_width_gives_zero_and_shape_errors_name_shapes() {
    let gram = Gram::new(common::gpu()).unwrap();
    let g = gpu_gram::<f32>(&gram, &[], (5, 0), 1.0);
    assert!(g.iter().all(|&v| v == 0.0), "{g:?}");
    let wrong = common::zeros::<f32>(&[4, 5]);
    let x = common::zeros::<f32>(&[5, 3]);
    let mut batch = Batch::new(common::gpu());
    let err = gram.record(&mut batch, &x, 1.0, &wrong);
    common::assert_error_names(err, &["[5, 3]", "[4, 5]"]);
}
