use wideprobe::gpu::Batch;
use wideprobe::linalg::Real;
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

/// C = alpha op(A) op(B) + beta C in `T`, on fresh inputs (all of T's bits), against the
/// f64 reference.
fn check<T: Real>(
    variant: MatmulVariant, layout: Layout, dims: (usize, usize, usize), ab: (f64, f64),
) {
    let ((m, n, k), (alpha, beta)) = (dims, ab);
    let what = format!(
        "matmul {} {} {} {m}x{n}x{k} alpha {alpha} beta {beta}",
        T::NAME,
        variant.name(),
        layout.name()
    );
    let mut rng = common::rng(&what);
    let a_data: Vec<T> = common::random_real(&mut rng, m * k);
    let b_data: Vec<T> = common::random_real(&mut rng, k * n);
    let c_data: Vec<T> = common::random_real(&mut rng, m * n);
    let a_shape = if layout.trans_a() { [k, m] } else { [m, k] };
    let b_shape = if layout.trans_b() { [n, k] } else { [k, n] };
    let a = common::upload(&a_shape, &a_data);
    let b = common::upload(&b_shape, &b_data);
    let c = common::upload(&[m, n], &c_data);
    if beta == 0.0 {
        // C must not be read at all when beta is 0.
        c.poison(common::gpu()).unwrap();
    }
    let mm = Matmul::<T>::new(common::gpu(), variant).unwrap();
    common::launch(|batch| mm.record(batch, layout, alpha, &a, &b, beta, &c));
    let want = reference::matmul(
        layout.trans_a(),
        layout.trans_b(),
        m,
        n,
        k,
        alpha,
        &common::real_to_f64(&a_data),
        &common::real_to_f64(&b_data),
        beta,
        &common::real_to_f64(&c_data),
    );
    // Each output sums k products of numbers below 1: rounding grows like sqrt(k) eps;
    // f32's tolerances, scaled to T's ulps (near 1e-14 relative for f64).
    let s = common::ulp_scale::<T>();
    let atol = s * (1e-6 * (k as f64).sqrt() * alpha.abs().max(1.0) + 1e-6);
    let got = common::download(&c);
    common::assert_close_real(&what, &got, &want, s * 1e-5, atol, s * 1e-5);
}

#[test]
fn naive_all_layouts_ragged_shapes() {
    for layout in Layout::ALL {
        for &(m, n, k) in SHAPES {
            check::<f32>(MatmulVariant::Naive, layout, (m, n, k), (1.0, 0.0));
        }
    }
}

#[test]
fn tiled_all_layouts_ragged_shapes() {
    for layout in Layout::ALL {
        for &(m, n, k) in SHAPES {
            check::<f32>(MatmulVariant::Tiled, layout, (m, n, k), (1.0, 0.0));
        }
    }
}

#[test]
fn alpha_and_beta_scale_and_accumulate() {
    for variant in MatmulVariant::ALL {
        for layout in [Layout::NN, Layout::NT, Layout::TN] {
            check::<f32>(variant, layout, (33, 130, 7), (-0.5, 0.75));
            check::<f32>(variant, layout, (130, 7, 33), (2.0, 1.0));
            check::<f32>(variant, layout, (7, 33, 130), (0.0, -1.0));
        }
    }
}

#[test]
fn empty_inner_dimension_gives_beta_c() {
    for variant in MatmulVariant::ALL {
        check::<f32>(variant, Layout::NN, (7, 33, 0), (1.0, 0.5));
        check::<f32>(variant, Layout::TN, (33, 7, 0), (1.0, 0.0));
    }
}

#[test]
fn tiled_agrees_with_naive_on_a_larger_unaligned_product() {
    check::<f32>(
        MatmulVariant::Tiled,
        Layout::NT,
        (300, 257, 263),
        (1.0, 0.0),
    );
}

#[test]
fn mismatched_shapes_are_errors_naming_both() {
    let a = common::zeros::<f32>(&[3, 4]);
    let b = common::zeros::<f32>(&[5, 6]);
    let c = common::zeros::<f32>(&[3, 6]);
    let mm = Matmul::<f32>::new(common::gpu(), MatmulVariant::Tiled).unwrap();
    let mut batch = Batch::new(common::gpu());
    let err = mm.record(&mut batch, Layout::NN, 1.0, &a, &b, 0.0, &c);
    common::assert_error_names(err, &["[3, 4]", "[5, 6]"]);
}

/// Issue 13 row 7: from k = 65,535 on, `bench matmul --m 4 --n 4 --k 70000` gave a
/// wrong product. A deep, narrow product must be right in every layout and variant.
#[test]
fn deep_inner_dimension_past_65535_is_right() {
    for variant in MatmulVariant::ALL {
        for layout in Layout::ALL {
            check::<f32>(variant, layout, (2, 3, 70_001), (1.0, 0.0));
        }
    }
}

/// A product deeper than one launch's slice of the inner dimension: the later slices
/// accumulate into C, so alpha must scale every slice and beta apply exactly once.
#[test]
fn deep_product_scales_every_slice_and_applies_beta_once() {
    for variant in MatmulVariant::ALL {
        for layout in [Layout::NN, Layout::TT] {
            check::<f32>(variant, layout, (5, 7, 9_001), (-0.5, 0.75));
        }
    }
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
                check::<f64>(variant, layout, dims, (1.0, 0.0));
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
        check::<f64>(variant, Layout::NT, (33, 130, 7), (-0.3, 0.7));
        check::<f64>(variant, Layout::TN, (7, 33, 0), (1.0, 0.5));
        // Deeper than one launch's slice: alpha on every slice, beta once.
        check::<f64>(variant, Layout::NN, (5, 7, 9_001), (-0.5, 0.75));
    }
}
