use wideprobe::gpu::Batch;
use wideprobe::linalg::Real;
use wideprobe::ops::matmul::{split_depth, MATMUL_K_SLICE, SPLIT_MIN_DEPTH, SPLIT_TARGET_GROUPS};
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

/// Products with few output tiles and a deep inner dimension are split over the depth
/// (split-k): every layout, ragged shapes, alpha on the sum and beta applied once.
#[test]
fn split_depth_products_all_layouts() {
    for layout in Layout::ALL {
        for (dims, ab) in [
            ((7, 33, 1_000), (1.0, 0.0)),
            ((130, 129, 2_049), (-0.5, 0.75)),
            ((1, 1, 4_100), (2.0, 1.0)),
        ] {
            assert!(split_depth(tiles(dims), dims.2.min(MATMUL_K_SLICE)).1 > 1);
            check::<f32>(MatmulVariant::Tiled, layout, dims, ab);
        }
    }
    if !common::skip_without_f64() {
        check::<f64>(
            MatmulVariant::Tiled,
            Layout::TN,
            (33, 7, 1_031),
            (-0.3, 0.7),
        );
        check::<f64>(
            MatmulVariant::Tiled,
            Layout::NT,
            (130, 3, 9_001),
            (1.0, 0.0),
        );
    }
}

/// 128 x 128 output tiles of an m x n x k product.
fn tiles((m, n, _): (usize, usize, usize)) -> usize {
    m.div_ceil(128) * n.div_ceil(128)
}

/// The split covers the depth with non-empty splits of whole staged slices, and leaves
/// products that fill the device or are shallow alone.
#[test]
fn split_depth_covers_the_depth() {
    for tiles in [1, 2, 3, 16, 127, 128, 1000] {
        for depth in [0, 1, 255, 256, 511, 512, 1_000, 3_072, 4_096] {
            let (len, splits) = split_depth(tiles, depth);
            assert!(
                splits >= 1 && len * splits >= depth,
                "{tiles} {depth}: {len} x {splits}"
            );
            if splits > 1 {
                assert!(
                    len % 16 == 0 && len * (splits - 1) < depth,
                    "{tiles} {depth}: {len}"
                );
                assert!(tiles * splits <= 2 * SPLIT_TARGET_GROUPS && len >= SPLIT_MIN_DEPTH / 2);
            } else {
                assert_eq!(len, depth);
            }
            if tiles >= SPLIT_TARGET_GROUPS || depth < 2 * SPLIT_MIN_DEPTH {
                assert_eq!(splits, 1, "{tiles} {depth}");
            }
        }
    }
}

/// Two split products of different sizes in one batch share the partial-sum buffer
/// (the second grows it): each must still get its own sums.
#[test]
fn split_products_in_one_batch_keep_their_own_sums() {
    let mm = Matmul::<f32>::new(common::gpu(), MatmulVariant::Tiled).unwrap();
    let mut rng = common::rng("split products in one batch");
    let shapes = [(3, 5, 700), (40, 9, 1_300), (3, 5, 700)];
    let inputs: Vec<_> = shapes
        .iter()
        .map(|&(m, n, k)| {
            let a: Vec<f32> = common::random_real(&mut rng, m * k);
            let b: Vec<f32> = common::random_real(&mut rng, k * n);
            let c = common::zeros::<f32>(&[m, n]);
            c.poison(common::gpu()).unwrap();
            (
                common::upload(&[m, k], &a),
                common::upload(&[k, n], &b),
                c,
                a,
                b,
            )
        })
        .collect();
    common::launch(|batch| {
        for (a, b, c, _, _) in &inputs {
            mm.record(batch, Layout::NN, 1.0, a, b, 0.0, c)?;
        }
        Ok(())
    });
    for (&(m, n, k), (_, _, c, a, b)) in shapes.iter().zip(&inputs) {
        let zero = vec![0.0; m * n];
        let want = reference::matmul(
            false,
            false,
            m,
            n,
            k,
            1.0,
            &common::real_to_f64(a),
            &common::real_to_f64(b),
            0.0,
            &zero,
        );
        let atol = 1e-6 * (k as f64).sqrt() + 1e-6;
        common::assert_close_real(
            "split product",
            &common::download(c),
            &want,
            1e-5,
            atol,
            1e-5,
        );
    }
}
