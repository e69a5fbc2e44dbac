use wideprobe::gpu::{Batch, Tensor};
use wideprobe::ops::{Layout, Matmul, MatmulVariant};

use crate::common::{self, reference};

/// Shapes chosen to straddle the 16 and 128 tiles: 1, 7, 33, 130 and one of a few hundred.
const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (7, 1, 33),
    (1, 130, 7),
    (33, 7, 130),
    (130, 33, 1),
    (129, 131, 17),
    (257, 130, 33),
    (33, 300, 129),
];

fn check(
    variant: MatmulVariant,
    layout: Layout,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    beta: f32,
) {
    let gpu = common::gpu();
    let mut rng = common::rng(&format!(
        "matmul {} {} {m}x{n}x{k}",
        variant.name(),
        layout.name()
    ));
    let a_data = common::random_vec(&mut rng, m * k);
    let b_data = common::random_vec(&mut rng, k * n);
    let c_data = common::random_vec(&mut rng, m * n);
    let a_shape = if layout.trans_a() { [k, m] } else { [m, k] };
    let b_shape = if layout.trans_b() { [n, k] } else { [k, n] };
    let a = Tensor::from_slice(gpu, &a_shape, &a_data).unwrap();
    let b = Tensor::from_slice(gpu, &b_shape, &b_data).unwrap();
    let c = Tensor::from_slice(gpu, &[m, n], &c_data).unwrap();
    if beta == 0.0 {
        // C must not be read at all when beta is 0.
        c.poison(gpu).unwrap();
    }
    let mm = Matmul::new(gpu, variant).unwrap();
    let mut batch = Batch::new(gpu);
    mm.record(&mut batch, layout, alpha as f64, &a, &b, beta as f64, &c)
        .unwrap();
    batch.submit().unwrap();
    let got = c.to_vec(gpu).unwrap();
    let want = reference::matmul(
        layout.trans_a(),
        layout.trans_b(),
        m,
        n,
        k,
        alpha as f64,
        &common::to_f64(&a_data),
        &common::to_f64(&b_data),
        beta as f64,
        &common::to_f64(&c_data),
    );
    // Each output sums k products of numbers below 1: rounding grows like sqrt(k) eps.
    let atol = 1e-6 * (k as f64).sqrt() * (alpha.abs() as f64).max(1.0) + 1e-6;
    common::assert_close_f32(
        &format!(
            "matmul {} {} {m}x{n}x{k} alpha {alpha} beta {beta}",
            variant.name(),
            layout.name()
        ),
        &got,
        &want,
        1e-5,
        atol,
        1e-5,
    );
}

#[test]
fn naive_all_layouts_ragged_shapes() {
    for layout in Layout::ALL {
        for &(m, n, k) in SHAPES {
            check(MatmulVariant::Naive, layout, m, n, k, 1.0, 0.0);
        }
    }
}

#[test]
fn tiled_all_layouts_ragged_shapes() {
    for layout in Layout::ALL {
        for &(m, n, k) in SHAPES {
            check(MatmulVariant::Tiled, layout, m, n, k, 1.0, 0.0);
        }
    }
}

#[test]
fn alpha_and_beta_scale_and_accumulate() {
    for variant in MatmulVariant::ALL {
        for layout in [Layout::NN, Layout::NT, Layout::TN] {
            check(variant, layout, 33, 130, 7, -0.5, 0.75);
            check(variant, layout, 130, 7, 33, 2.0, 1.0);
            check(variant, layout, 7, 33, 130, 0.0, -1.0);
        }
    }
}

#[test]
fn empty_inner_dimension_gives_beta_c() {
    for variant in MatmulVariant::ALL {
        check(variant, Layout::NN, 7, 33, 0, 1.0, 0.5);
        check(variant, Layout::TN, 33, 7, 0, 1.0, 0.0);
    }
}

#[test]
fn tiled_agrees_with_naive_on_a_larger_unaligned_product() {
    check(MatmulVariant::Tiled, Layout::NT, 300, 257, 263, 1.0, 0.0);
}

#[test]
fn mismatched_shapes_are_errors_naming_both() {
    let gpu = common::gpu();
    let a = Tensor::<f32>::zeros(gpu, &[3, 4]).unwrap();
    let b = Tensor::<f32>::zeros(gpu, &[5, 6]).unwrap();
    let c = Tensor::<f32>::zeros(gpu, &[3, 6]).unwrap();
    let mm = Matmul::<f32>::new(gpu, MatmulVariant::Tiled).unwrap();
    let mut batch = Batch::new(gpu);
    let err = mm
        .record(&mut batch, Layout::NN, 1.0, &a, &b, 0.0, &c)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[3, 4]") && err.contains("[5, 6]"), "{err}");
}

/// Issue 13 row 7: from k = 65,535 on, `bench matmul --m 4 --n 4 --k 70000` gave a
/// wrong product. A deep, narrow product must be right in every layout and variant.
#[test]
fn deep_inner_dimension_past_65535_is_right() {
    for variant in MatmulVariant::ALL {
        for layout in Layout::ALL {
            check(variant, layout, 2, 3, 70_001, 1.0, 0.0);
        }
    }
}

/// A product deeper than one launch's slice of the inner dimension: the later slices
/// accumulate into C, so alpha must scale every slice and beta apply exactly once.
#[test]
fn deep_product_scales_every_slice_and_applies_beta_once() {
    for variant in MatmulVariant::ALL {
        for layout in [Layout::NN, Layout::TT] {
            check(variant, layout, 5, 7, 9_001, -0.5, 0.75);
        }
    }
}

/// The f64 instantiation against the f64 reference on fresh f64 inputs (all 53 bits):
/// the f32 test's tolerances scaled to f64 ulps, near 1e-14 relative.
fn check_f64(variant: MatmulVariant, layout: Layout, dims: (usize, usize, usize), ab: (f64, f64)) {
    let ((m, n, k), (alpha, beta)) = (dims, ab);
    let gpu = common::gpu();
    let what = format!(
        "matmul f64 {} {} {m}x{n}x{k} alpha {alpha} beta {beta}",
        variant.name(),
        layout.name()
    );
    let mut rng = common::rng(&what);
    let a_data: Vec<f64> = common::random_real(&mut rng, m * k);
    let b_data: Vec<f64> = common::random_real(&mut rng, k * n);
    let c_data: Vec<f64> = common::random_real(&mut rng, m * n);
    let a_shape = if layout.trans_a() { [k, m] } else { [m, k] };
    let b_shape = if layout.trans_b() { [n, k] } else { [k, n] };
    let a = Tensor::from_slice(gpu, &a_shape, &a_data).unwrap();
    let b = Tensor::from_slice(gpu, &b_shape, &b_data).unwrap();
    let c = Tensor::from_slice(gpu, &[m, n], &c_data).unwrap();
    if beta == 0.0 {
        c.poison(gpu).unwrap();
    }
    let mm = Matmul::<f64>::new(gpu, variant).unwrap();
    let mut batch = Batch::new(gpu);
    mm.record(&mut batch, layout, alpha, &a, &b, beta, &c)
        .unwrap();
    batch.submit().unwrap();
    let want = reference::matmul(
        layout.trans_a(),
        layout.trans_b(),
        m,
        n,
        k,
        alpha,
        &a_data,
        &b_data,
        beta,
        &c_data,
    );
    let s = common::F64_OVER_F32;
    let atol = s * (1e-6 * (k as f64).sqrt() * alpha.abs().max(1.0) + 1e-6);
    common::assert_close_real(
        &what,
        &c.to_vec(gpu).unwrap(),
        &want,
        s * 1e-5,
        atol,
        s * 1e-5,
    );
}

#[test]
fn f64_all_variants_and_layouts_ragged_shapes() {
    if common::skip_without_f64() {
        return;
    }
    for variant in MatmulVariant::ALL {
        for layout in Layout::ALL {
            for dims in [
                (1, 1, 1),
                (7, 1, 33),
                (33, 7, 130),
                (130, 33, 7),
                (129, 131, 17),
            ] {
                check_f64(variant, layout, dims, (1.0, 0.0));
            }
        }
    }
}

#[test]
fn f64_alpha_beta_and_deep_products() {
    if common::skip_without_f64() {
        return;
    }
    for variant in MatmulVariant::ALL {
        check_f64(variant, Layout::NT, (33, 130, 7), (-0.3, 0.7));
        check_f64(variant, Layout::TN, (7, 33, 0), (1.0, 0.5));
        // Deeper than one launch's slice: alpha on every slice, beta once.
        check_f64(variant, Layout::NN, (5, 7, 9_001), (-0.5, 0.75));
    }
}
