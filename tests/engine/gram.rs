use wideprobe::gpu::{Batch, Tensor};
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

#[test]
fn f32_gram_matches_reference_and_is_exactly_symmetric() {
    let gpu = common::gpu();
    let gram = Gram::new(gpu).unwrap();
    let mut rng = common::rng("gram f32");
    for &(n, d) in SHAPES {
        let x = common::random_vec(&mut rng, n * d);
        let scale = 1.0 / d as f32;
        let xt = Tensor::from_slice(gpu, &[n, d], &x).unwrap();
        let g = Tensor::<f32>::zeros(gpu, &[n, n]).unwrap();
        g.poison(gpu).unwrap();
        let mut batch = Batch::new(gpu);
        gram.record(&mut batch, &xt, scale as f64, &g).unwrap();
        batch.submit().unwrap();
        let got = g.to_vec(gpu).unwrap();
        let want = reference::gram(&common::to_f64(&x), n, d, scale as f64);
        let atol = 1e-6 * (d as f64).sqrt() * scale as f64 + 1e-7;
        common::assert_close_f32(&format!("gram f32 {n}x{d}"), &got, &want, 1e-5, atol, 1e-5);
        for i in 0..n {
            for j in 0..i {
                assert_eq!(
                    got[i * n + j].to_bits(),
                    got[j * n + i].to_bits(),
                    "G[{i},{j}] != G[{j},{i}]"
                );
            }
        }
    }
}

#[test]
fn f64_gram_is_exact_to_f64_rounding() {
    let gpu = common::gpu();
    if !gpu.has_f64() {
        eprintln!("skipped: adapter has no SHADER_F64");
        return;
    }
    let gram = Gram::new(gpu).unwrap();
    let mut rng = common::rng("gram f64");
    for &(n, d) in SHAPES {
        let x = common::random_vec(&mut rng, n * d);
        let xt = Tensor::from_slice(gpu, &[n, d], &x).unwrap();
        let g = Tensor::<f64>::zeros(gpu, &[n, n]).unwrap();
        g.poison(gpu).unwrap();
        let mut batch = Batch::new(gpu);
        gram.record(&mut batch, &xt, 0.5, &g).unwrap();
        batch.submit().unwrap();
        let got = g.to_vec(gpu).unwrap();
        let want = reference::gram(&common::to_f64(&x), n, d, 0.5);
        common::assert_close(
            &format!("gram f64 {n}x{d}"),
            &got,
            &want,
            1e-13,
            1e-14,
            1e-13,
        );
        for i in 0..n {
            for j in 0..i {
                assert_eq!(got[i * n + j].to_bits(), got[j * n + i].to_bits());
            }
        }
    }
}

#[test]
fn f64_accumulation_resolves_what_f32_cannot() {
    // Rows sharing a large common component with tiny differences: the Gram matrix is
    // a huge constant plus a small structured part that f32 sums lose.
    let gpu = common::gpu();
    if !gpu.has_f64() {
        eprintln!("skipped: adapter has no SHADER_F64");
        return;
    }
    let mut rng = common::rng("gram cancellation");
    let (n, d) = (33, 300);
    let noise = common::random_vec(&mut rng, n * d);
    let x: Vec<f32> = noise.iter().map(|e| 1.0 + 1e-3 * e).collect();
    let want = reference::gram(&common::to_f64(&x), n, d, 1.0);
    let xt = Tensor::from_slice(gpu, &[n, d], &x).unwrap();
    let g32 = Tensor::<f32>::zeros(gpu, &[n, n]).unwrap();
    let g64 = Tensor::<f64>::zeros(gpu, &[n, n]).unwrap();
    let gram = Gram::new(gpu).unwrap();
    let mut batch = Batch::new(gpu);
    gram.record(&mut batch, &xt, 1.0, &g32).unwrap();
    gram.record(&mut batch, &xt, 1.0, &g64).unwrap();
    batch.submit().unwrap();
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
    let gpu = common::gpu();
    let gram = Gram::new(gpu).unwrap();
    let x = Tensor::<f32>::zeros(gpu, &[5, 0]).unwrap();
    let g = Tensor::<f32>::zeros(gpu, &[5, 5]).unwrap();
    g.poison(gpu).unwrap();
    let mut batch = Batch::new(gpu);
    gram.record(&mut batch, &x, 1.0, &g).unwrap();
    batch.submit().unwrap();
    assert!(g.to_vec(gpu).unwrap().iter().all(|&v| v == 0.0));
    let wrong = Tensor::<f32>::zeros(gpu, &[4, 5]).unwrap();
    let x = Tensor::<f32>::zeros(gpu, &[5, 3]).unwrap();
    let err = gram
        .record(&mut Batch::new(gpu), &x, 1.0, &wrong)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[5, 3]") && err.contains("[4, 5]"), "{err}");
}
