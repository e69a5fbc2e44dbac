//! Matmul on whole matrices: every variant and layout against the f64 reference on
//! ragged shapes, alpha and beta, deep and split products, and the skinny kernel against
//! the tiled one. The helpers here (operands, reference, tolerances) serve the view
//! tests in `matmul_views` too.

use rand::rngs::StdRng;
use rand::Rng;
use wideprobe::gpu::{Batch, Element, Tensor};
use wideprobe::linalg::Real;
use wideprobe::ops::matmul::{split_depth, MATMUL_K_SLICE, SPLIT_MIN_DEPTH, SPLIT_TARGET_GROUPS};
use wideprobe::ops::{Layout, Matmul, MatmulVariant};

use crate::common::{self, reference};

/// The m x n x k of a product: op(A) m x k, op(B) k x n.
pub(crate) type Dims = (usize, usize, usize);

/// Shapes chosen to straddle the 16 and 128 tiles: 1, 7, 33, 130 and one of a few hundred.
/// Those with at most 32 rows and more columns (1 x 130, 5 x 33, 32 x 257) run the tiled
/// variant as a transposed skinny product (ops::matmul::SHORT_ROWS), 32 x 257 x 700 split
/// over its depth.
const SHAPES: &[Dims] = &[
    (1, 1, 1),
    (7, 1, 33),
    (1, 130, 7),
    (5, 33, 3),
    (32, 257, 700),
    (33, 7, 130),
    (130, 33, 1),
    (129, 131, 17),
    (257, 130, 33),
    (33, 300, 129),
];

/// Fresh inputs (all of T's bits) of an m x n x k product: A and B as a layout stores
/// them, with their stored (rows, cols).
pub(crate) struct Operands<T> {
    pub a: Vec<T>,
    pub b: Vec<T>,
    pub a_dims: (usize, usize),
    pub b_dims: (usize, usize),
}

/// A (m x k as op(A)) then B (k x n as op(B)) from `rng`, stored as `layout` says.
fn operands<T: Real>(rng: &mut impl Rng, layout: Layout, (m, n, k): Dims) -> Operands<T> {
    Operands {
        a: common::random_real(rng, m * k),
        b: common::random_real(rng, k * n),
        a_dims: if layout.trans_a() { (k, m) } else { (m, k) },
        b_dims: if layout.trans_b() { (n, k) } else { (k, n) },
    }
}

impl<T: Real> Operands<T> {
    /// A and B on the GPU, each a whole matrix of its stored shape.
    fn upload(&self) -> (Tensor<T>, Tensor<T>) {
        let ((ar, ac), (br, bc)) = (self.a_dims, self.b_dims);
        (
            common::upload(&[ar, ac], &self.a),
            common::upload(&[br, bc], &self.b),
        )
    }
}

/// A product check's case: its name (`kind T variant layout mxnxk alpha A beta B`), the
/// generator seeded for it, and the operands A and B, its first draws.
pub(crate) fn product_case<T: Real>(
    kind: &str, variant: MatmulVariant, layout: Layout, (m, n, k): Dims, (alpha, beta): (f64, f64),
) -> (String, StdRng, Operands<T>) {
    let what = format!(
        "{kind} {} {} {} {m}x{n}x{k} alpha {alpha} beta {beta}",
        T::NAME,
        variant.name(),
        layout.name()
    );
    let mut rng = common::rng(&what);
    let inputs = operands(&mut rng, layout, (m, n, k));
    (what, rng, inputs)
}

/// The f64 reference of alpha op(A) op(B) + beta C for operands in `T`, op(A) m x k and
/// op(B) k x n as `layout` stores them; C is not read when beta is 0.
pub(crate) fn reference_product<T: Real>(
    layout: Layout, (m, n, k): Dims, (alpha, beta): (f64, f64), a: &[T], b: &[T], c: &[T],
) -> Vec<f64> {
    let c = if beta == 0.0 {
        vec![0.0; m * n]
    } else {
        common::real_to_f64(c)
    };
    reference::matmul(
        layout.trans_a(),
        layout.trans_b(),
        m,
        n,
        k,
        alpha,
        &common::real_to_f64(a),
        &common::real_to_f64(b),
        beta,
        &c,
    )
}

/// The tolerances of a product of depth k: (relative Frobenius, atol, rtol). Each
/// output sums k products of numbers below 1: rounding grows like sqrt(k) eps; f32's
/// tolerances, scaled to T's ulps (near 1e-14 relative for f64).
pub(crate) fn tolerances<T: Real>(k: usize, alpha: f64) -> (f64, f64, f64) {
    let s = common::ulp_scale::<T>();
    let atol = s * (1e-6 * (k as f64).sqrt() * alpha.abs().max(1.0) + 1e-6);
    (s * 1e-5, atol, s * 1e-5)
}

/// The bits of an element, for "unchanged" checks (NaN included).
pub(crate) fn bits<T: Element>(x: T) -> Vec<u8> {
    bytemuck::bytes_of(&x).to_vec()
}

/// The variants this adapter runs: all but the broadcast one where it lacks subgroups
/// (the GL backend).
pub(crate) fn variants() -> Vec<MatmulVariant> {
    common::runnable(MatmulVariant::ALL, |v| v.available(common::gpu()))
}

/// Splits of the first depth slice the wrapper makes for `variant` (1: not split); the
/// tiles are the shader's (128 x 128 tiled, 128 x 32 skinny).
pub(crate) fn splits(variant: MatmulVariant, (m, n, k): Dims) -> usize {
    let (tm, tn) = match variant {
        MatmulVariant::Naive => return 1,
        MatmulVariant::Tiled => (128, 128),
        MatmulVariant::Skinny => (128, 32),
        MatmulVariant::Broadcast => return 1,
    };
    split_depth(m.div_ceil(tm) * n.div_ceil(tn), k.min(MATMUL_K_SLICE)).1
}

/// C = alpha op(A) op(B) + beta C in `T`, on fresh inputs (all of T's bits), against the
/// f64 reference.
fn check<T: Real>(variant: MatmulVariant, layout: Layout, dims: Dims, ab: (f64, f64)) {
    let ((m, n, k), (alpha, beta)) = (dims, ab);
    let (what, mut rng, inputs) = product_case::<T>("matmul", variant, layout, dims, ab);
    let c_data: Vec<T> = common::random_real(&mut rng, m * n);
    let (a, b) = inputs.upload();
    let c = common::upload(&[m, n], &c_data);
    if beta == 0.0 {
        // C must not be read at all when beta is 0.
        c.poison(common::gpu()).unwrap();
    }
    let mm = Matmul::<T>::new(common::gpu(), variant).unwrap();
    common::launch(|batch| mm.record(batch, layout, alpha, &a, &b, beta, &c));
    let want = reference_product(layout, dims, ab, &inputs.a, &inputs.b, &c_data);
    let (rel, atol, rtol) = tolerances::<T>(k, alpha);
    common::assert_close_real(&what, &common::download(&c), &want, rel, atol, rtol);
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
    for variant in variants() {
        for layout in [Layout::NN, Layout::NT, Layout::TN] {
            check::<f32>(variant, layout, (33, 130, 7), (-0.5, 0.75));
            check::<f32>(variant, layout, (130, 7, 33), (2.0, 1.0));
            check::<f32>(variant, layout, (7, 33, 130), (0.0, -1.0));
        }
    }
}

#[test]
fn empty_inner_dimension_gives_beta_c() {
    for variant in variants() {
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
    for variant in variants() {
        for layout in Layout::ALL {
            check::<f32>(variant, layout, (2, 3, 70_001), (1.0, 0.0));
        }
    }
}

/// A product deeper than one launch's slice of the inner dimension: the later slices
/// accumulate into C, so alpha must scale every slice and beta apply exactly once.
#[test]
fn deep_product_scales_every_slice_and_applies_beta_once() {
    for variant in variants() {
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
    for variant in variants() {
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
    for variant in variants() {
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
fn tiles((m, n, _): Dims) -> usize {
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
    for (&dims, (_, _, c, a, b)) in shapes.iter().zip(&inputs) {
        let want = reference_product(Layout::NN, dims, (1.0, 0.0), a, b, &[]);
        let (rel, atol, rtol) = tolerances::<f32>(dims.2, 1.0);
        let got = common::download(c);
        common::assert_close_real("split product", &got, &want, rel, atol, rtol);
    }
}

/// The skinny kernel against the tiled one on the same inputs (and both against the
/// reference): a product with a few 128 x 32 tiles, and a deep one both split.
fn skinny_agrees_with_tiled<T: Real>() {
    let variants = (
        Matmul::<T>::new(common::gpu(), MatmulVariant::Tiled).unwrap(),
        Matmul::<T>::new(common::gpu(), MatmulVariant::Skinny).unwrap(),
    );
    let split_dims = (130, 64, 1_000);
    assert!(splits(MatmulVariant::Tiled, split_dims) > 1);
    assert!(splits(MatmulVariant::Skinny, split_dims) > 1);
    for dims in [(257, 33, 300), split_dims] {
        for layout in Layout::ALL {
            compare_skinny_with_tiled(&variants, layout, dims);
        }
    }
}

precision_tests!(skinny_agrees_with_tiled);

/// One product of [`skinny_agrees_with_tiled`]: both variants on the same inputs, each
/// against the reference and the skinny result against the tiled one.
fn compare_skinny_with_tiled<T: Real>(
    (tiled, skinny): &(Matmul<T>, Matmul<T>), layout: Layout, (m, n, k): Dims,
) {
    let (alpha, beta) = (-0.75, 0.5);
    let what = format!("skinny vs tiled {} {} {m}x{n}x{k}", T::NAME, layout.name());
    let mut rng = common::rng(&what);
    let inputs = operands::<T>(&mut rng, layout, (m, n, k));
    let c: Vec<T> = common::random_real(&mut rng, m * n);
    let (a_t, b_t) = inputs.upload();
    let (c_tiled, c_skinny) = (common::upload(&[m, n], &c), common::upload(&[m, n], &c));
    common::launch(|batch| {
        tiled.record(batch, layout, alpha, &a_t, &b_t, beta, &c_tiled)?;
        skinny.record(batch, layout, alpha, &a_t, &b_t, beta, &c_skinny)
    });
    let (got_tiled, got_skinny) = (common::download(&c_tiled), common::download(&c_skinny));
    let want = reference_product(layout, (m, n, k), (alpha, beta), &inputs.a, &inputs.b, &c);
    let tiled_f64 = common::real_to_f64(&got_tiled);
    let (rel, atol, rtol) = tolerances::<T>(k, alpha);
    for (against, got, want) in [
        ("tiled", &got_tiled, &want),
        ("skinny", &got_skinny, &want),
        ("skinny against tiled", &got_skinny, &tiled_f64),
    ] {
        common::assert_close_real(&format!("{what}: {against}"), got, want, rel, atol, rtol);
    }
    let identical = got_tiled
        .iter()
        .zip(&got_skinny)
        .all(|(x, y)| bits(*x) == bits(*y));
    eprintln!("{what}: bit-identical to tiled: {identical}");
}
