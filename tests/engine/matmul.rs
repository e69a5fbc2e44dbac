use wideprobe::gpu::{Batch, Element, Tensor};
use wideprobe::linalg::Real;
use wideprobe::ops::matmul::{
    split_depth, MatView, Symmetry, MATMUL_K_SLICE, SPLIT_MIN_DEPTH, SPLIT_TARGET_GROUPS,
};
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
    let want = reference_product(layout, (m, n, k), (alpha, beta), &a_data, &b_data, &c_data);
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

// ---- Views: blocks of larger buffers, symmetric A, lower-only C ------------------------

/// Where a `rows x cols` matrix sits in a larger buffer for the view tests: element
/// (r, c) at `base + (row0 + r) * stride + col0 + c`, with padding on both sides of
/// every row (stride > cols), whole rows above and below, and elements before and after.
#[derive(Clone, Copy, Debug)]
struct Block {
    rows: usize,
    cols: usize,
    base: usize,
    row0: usize,
    col0: usize,
    stride: usize,
}

impl Block {
    /// `salt` varies the placement, so that the three operands differ in offset and
    /// stride.
    fn new(rows: usize, cols: usize, salt: usize) -> Self {
        Block {
            rows,
            cols,
            base: 3 + 2 * salt,
            row0: 1 + salt % 2,
            col0: 2 + salt,
            stride: cols + 5 + 3 * salt,
        }
    }

    /// Elements of the whole buffer.
    fn len(&self) -> usize {
        self.base + (self.row0 + self.rows + 1) * self.stride + 4
    }

    fn at(&self, r: usize, c: usize) -> usize {
        self.base + (self.row0 + r) * self.stride + self.col0 + c
    }

    fn contains(&self, i: usize) -> bool {
        if i < self.base {
            return false;
        }
        let (r, c) = ((i - self.base) / self.stride, (i - self.base) % self.stride);
        (self.row0..self.row0 + self.rows).contains(&r)
            && (self.col0..self.col0 + self.cols).contains(&c)
    }

    /// The whole buffer: `data` (row-major `rows x cols`) in the block, `outside` elsewhere.
    fn place<T: Copy>(&self, data: &[T], outside: T) -> Vec<T> {
        assert_eq!(data.len(), self.rows * self.cols);
        let mut buf = vec![outside; self.len()];
        for r in 0..self.rows {
            for c in 0..self.cols {
                buf[self.at(r, c)] = data[r * self.cols + c];
            }
        }
        buf
    }

    /// The block's elements, row-major, out of the whole buffer.
    fn take<T: Copy>(&self, buf: &[T]) -> Vec<T> {
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for r in 0..self.rows {
            for c in 0..self.cols {
                out.push(buf[self.at(r, c)]);
            }
        }
        out
    }

    fn view<'a, T: Real>(&self, t: &'a Tensor<T>) -> MatView<'a, T> {
        MatView::block(
            t,
            self.base,
            self.stride,
            (self.row0, self.col0),
            (self.rows, self.cols),
        )
        .unwrap()
    }
}

/// The bits of an element, for "unchanged" checks (NaN included).
fn bits<T: Element>(x: T) -> Vec<u8> {
    bytemuck::bytes_of(&x).to_vec()
}

/// What C's buffer holds outside the block: finite, exact in both precisions, and not
/// a value any product here gives.
const SENTINEL: f64 = -1234.5;

/// What C holds above its diagonal in the lower-only tests (beta != 0): of the size of
/// the products, so that `alpha * sum + beta * UPPER_SENTINEL` is never the sentinel
/// itself (an element written would look untouched).
const UPPER_SENTINEL: f64 = 0.8125;

/// Splits of the first depth slice the wrapper makes for `variant` (1: not split); the
/// tiles are the shader's (128 x 128 tiled, 128 x 32 skinny).
fn splits(variant: MatmulVariant, (m, n, k): (usize, usize, usize)) -> usize {
    let (tm, tn) = match variant {
        MatmulVariant::Naive => return 1,
        MatmulVariant::Tiled => (128, 128),
        MatmulVariant::Skinny => (128, 32),
    };
    split_depth(m.div_ceil(tm) * n.div_ceil(tn), k.min(MATMUL_K_SLICE)).1
}

/// The f64 reference of alpha op(A) op(B) + beta C for operands in `T`, op(A) m x k and
/// op(B) k x n as `layout` stores them; C is not read when beta is 0.
fn reference_product<T: Real>(
    layout: Layout, (m, n, k): (usize, usize, usize), (alpha, beta): (f64, f64), a: &[T], b: &[T],
    c: &[T],
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

/// The tolerances of [`check`]: (relative Frobenius, atol, rtol) for depth k.
fn tolerances<T: Real>(k: usize, alpha: f64) -> (f64, f64, f64) {
    let s = common::ulp_scale::<T>();
    let atol = s * (1e-6 * (k as f64).sqrt() * alpha.abs().max(1.0) + 1e-6);
    (s * 1e-5, atol, s * 1e-5)
}

/// `record_views` with A, B and C each a block of its own larger buffer: A and B as
/// stored (`a` is `ar x ac`, `b` is `br x bc`), NaN around them (a read outside the
/// block poisons the result), C's block `c` (m x n) with [`SENTINEL`] around it.
/// Asserts that no element of C's buffer outside the block changed (bitwise) and
/// returns the block.
#[allow(clippy::too_many_arguments)]
fn product_in_blocks<T: Real>(
    what: &str, variant: MatmulVariant, how: (Layout, Symmetry), (alpha, beta): (f64, f64),
    (a, ar, ac): (&[T], usize, usize), (b, br, bc): (&[T], usize, usize), c: &[T],
    (m, n): (usize, usize),
) -> Vec<T> {
    let (block_a, block_b, block_c) = (
        Block::new(ar, ac, 0),
        Block::new(br, bc, 1),
        Block::new(m, n, 2),
    );
    let a_buf = common::upload(&[block_a.len()], &block_a.place(a, T::poison()));
    let b_buf = common::upload(&[block_b.len()], &block_b.place(b, T::poison()));
    let c_init = block_c.place(c, T::from_f64(SENTINEL));
    let c_buf = common::upload(&[block_c.len()], &c_init);
    let mm = Matmul::<T>::new(common::gpu(), variant).unwrap();
    common::launch(|batch| {
        mm.record_views(
            batch,
            how,
            alpha,
            block_a.view(&a_buf),
            block_b.view(&b_buf),
            beta,
            block_c.view(&c_buf),
        )
    });
    let got = common::download(&c_buf);
    let changed: Vec<usize> = (0..got.len())
        .filter(|&i| !block_c.contains(i) && bits(got[i]) != bits(c_init[i]))
        .collect();
    assert!(
        changed.is_empty(),
        "{what}: {} elements of C's buffer outside the block changed, first at {:?} \
         (block {block_c:?}): {:?}",
        changed.len(),
        &changed[..changed.len().min(8)],
        changed.iter().take(4).map(|&i| got[i]).collect::<Vec<_>>()
    );
    block_c.take(&got)
}

/// C = alpha op(A) op(B) + beta C on blocks of larger buffers, against the f64
/// reference; C's block poisoned (and so never to be read) when beta is 0.
fn check_views<T: Real>(
    variant: MatmulVariant, layout: Layout, (m, n, k): (usize, usize, usize), ab: (f64, f64),
) {
    let (alpha, beta) = ab;
    let what = format!(
        "matmul views {} {} {} {m}x{n}x{k} alpha {alpha} beta {beta}",
        T::NAME,
        variant.name(),
        layout.name()
    );
    let mut rng = common::rng(&what);
    let a: Vec<T> = common::random_real(&mut rng, m * k);
    let b: Vec<T> = common::random_real(&mut rng, k * n);
    let c: Vec<T> = if beta == 0.0 {
        vec![T::poison(); m * n]
    } else {
        common::random_real(&mut rng, m * n)
    };
    let (ar, ac) = if layout.trans_a() { (k, m) } else { (m, k) };
    let (br, bc) = if layout.trans_b() { (n, k) } else { (k, n) };
    let got = product_in_blocks(
        &what,
        variant,
        (layout, Symmetry::NONE),
        ab,
        (&a, ar, ac),
        (&b, br, bc),
        &c,
        (m, n),
    );
    let want = reference_product(layout, (m, n, k), (alpha, beta), &a, &b, &c);
    let (rel, atol, rtol) = tolerances::<T>(k, alpha);
    common::assert_close_real(&what, &got, &want, rel, atol, rtol);
}

/// Ragged view products; the last two are deep with few output tiles, so that the
/// tiled and skinny variants split them over the depth.
const VIEW_SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (7, 1, 33),
    (1, 130, 7),
    (33, 7, 130),
    (130, 33, 7),
    (130, 130, 33),
    (7, 33, 600),
    (130, 7, 1_000),
];

/// Every variant and layout on blocks of larger buffers (nonzero offsets, row strides
/// larger than the columns): the product, and C's buffer untouched outside its block.
fn views_are_blocks_of_larger_buffers<T: Real>() {
    for variant in [MatmulVariant::Tiled, MatmulVariant::Skinny] {
        for dims in &VIEW_SHAPES[VIEW_SHAPES.len() - 2..] {
            assert!(splits(variant, *dims) > 1, "{dims:?} must split");
        }
    }
    for variant in MatmulVariant::ALL {
        for layout in Layout::ALL {
            for (i, &dims) in VIEW_SHAPES.iter().enumerate() {
                let ab = if i % 3 == 2 {
                    (1.25, 0.0)
                } else {
                    (-0.5, 0.75)
                };
                check_views::<T>(variant, layout, dims, ab);
            }
        }
    }
}

precision_tests!(views_are_blocks_of_larger_buffers);

/// The skinny kernel against the tiled one on the same inputs (and both against the
/// reference): a product with a few 128 x 32 tiles, and a deep one both split.
fn skinny_agrees_with_tiled<T: Real>() {
    let (tiled, skinny) = (
        Matmul::<T>::new(common::gpu(), MatmulVariant::Tiled).unwrap(),
        Matmul::<T>::new(common::gpu(), MatmulVariant::Skinny).unwrap(),
    );
    let split_dims = (130, 64, 1_000);
    assert!(splits(MatmulVariant::Tiled, split_dims) > 1);
    assert!(splits(MatmulVariant::Skinny, split_dims) > 1);
    for (m, n, k) in [(257, 33, 300), split_dims] {
        for layout in Layout::ALL {
            let (alpha, beta) = (-0.75, 0.5);
            let what = format!("skinny vs tiled {} {} {m}x{n}x{k}", T::NAME, layout.name());
            let mut rng = common::rng(&what);
            let a: Vec<T> = common::random_real(&mut rng, m * k);
            let b: Vec<T> = common::random_real(&mut rng, k * n);
            let c: Vec<T> = common::random_real(&mut rng, m * n);
            let a_shape = if layout.trans_a() { [k, m] } else { [m, k] };
            let b_shape = if layout.trans_b() { [n, k] } else { [k, n] };
            let (a_t, b_t) = (common::upload(&a_shape, &a), common::upload(&b_shape, &b));
            let (c_tiled, c_skinny) = (common::upload(&[m, n], &c), common::upload(&[m, n], &c));
            common::launch(|batch| {
                tiled.record(batch, layout, alpha, &a_t, &b_t, beta, &c_tiled)?;
                skinny.record(batch, layout, alpha, &a_t, &b_t, beta, &c_skinny)
            });
            let (got_tiled, got_skinny) = (common::download(&c_tiled), common::download(&c_skinny));
            let want = reference_product(layout, (m, n, k), (alpha, beta), &a, &b, &c);
            let (rel, atol, rtol) = tolerances::<T>(k, alpha);
            common::assert_close_real(
                &format!("{what}: tiled"),
                &got_tiled,
                &want,
                rel,
                atol,
                rtol,
            );
            common::assert_close_real(
                &format!("{what}: skinny"),
                &got_skinny,
                &want,
                rel,
                atol,
                rtol,
            );
            common::assert_close_real(
                &format!("{what}: skinny against tiled"),
                &got_skinny,
                &common::real_to_f64(&got_tiled),
                rel,
                atol,
                rtol,
            );
            let identical = got_tiled
                .iter()
                .zip(&got_skinny)
                .all(|(x, y)| bits(*x) == bits(*y));
            eprintln!("{what}: bit-identical to tiled: {identical}");
        }
    }
}

precision_tests!(skinny_agrees_with_tiled);

/// Symmetry::symmetric_a: A (square, a block of a larger buffer) holds only its lower
/// triangle, NaN above it; the product must be the one with the symmetric matrix.
/// Shapes of one and several row tiles, and one deep enough to split.
fn symmetric_a_reads_only_the_lower_triangle<T: Real>() {
    let split_dims = (520, 520, 7);
    for variant in [MatmulVariant::Tiled, MatmulVariant::Skinny] {
        let (m, _, n) = split_dims;
        assert!(
            splits(variant, (m, n, m)) > 1,
            "{} must split",
            variant.name()
        );
    }
    let symmetric = Symmetry {
        symmetric_a: true,
        ..Symmetry::NONE
    };
    for variant in MatmulVariant::ALL {
        for layout in Layout::ALL {
            for (i, &(m, _, n)) in [
                (1, 1, 3),
                (33, 33, 7),
                (130, 130, 33),
                (257, 257, 5),
                split_dims,
            ]
            .iter()
            .enumerate()
            {
                if layout != Layout::NN && i % 2 == 1 {
                    // Every layout on some shapes: A's transpose is A.
                    continue;
                }
                let (alpha, beta) = (-0.5, 0.75);
                let what = format!(
                    "matmul symmetric A {} {} {} {m}x{n}x{m}",
                    T::NAME,
                    variant.name(),
                    layout.name()
                );
                let mut rng = common::rng(&what);
                let lower: Vec<T> = common::random_real(&mut rng, m * m);
                let full: Vec<T> = (0..m * m)
                    .map(|i| {
                        let (r, c) = (i / m, i % m);
                        lower[r.max(c) * m + r.min(c)]
                    })
                    .collect();
                let stored: Vec<T> = (0..m * m)
                    .map(|i| if i % m > i / m { T::poison() } else { lower[i] })
                    .collect();
                let b: Vec<T> = common::random_real(&mut rng, m * n);
                let c: Vec<T> = common::random_real(&mut rng, m * n);
                let (br, bc) = if layout.trans_b() { (n, m) } else { (m, n) };
                let got = product_in_blocks(
                    &what,
                    variant,
                    (layout, symmetric),
                    (alpha, beta),
                    (&stored, m, m),
                    (&b, br, bc),
                    &c,
                    (m, n),
                );
                let want = reference_product(layout, (m, n, m), (alpha, beta), &full, &b, &c);
                let (rel, atol, rtol) = tolerances::<T>(m, alpha);
                common::assert_close_real(&what, &got, &want, rel, atol, rtol);
            }
        }
    }
}

precision_tests!(symmetric_a_reads_only_the_lower_triangle);

/// Symmetry::lower_only: C (a square block of a larger buffer) must be right on and
/// below its diagonal; above it each element is either untouched or right. The tiled
/// kernel skips the tiles strictly above the diagonal (documented), so at order 257
/// some upper elements stay untouched there unless the product is split.
fn check_lower_only<T: Real>(
    variant: MatmulVariant, layout: Layout, (n, k): (usize, usize), (alpha, beta): (f64, f64),
) {
    let what = format!(
        "matmul lower only {} {} {} {n}x{n}x{k} alpha {alpha} beta {beta}",
        T::NAME,
        variant.name(),
        layout.name()
    );
    let mut rng = common::rng(&what);
    let a: Vec<T> = common::random_real(&mut rng, n * k);
    let b: Vec<T> = common::random_real(&mut rng, k * n);
    // Above the diagonal C holds UPPER_SENTINEL, or NaN when beta = 0 (never to be read).
    let c: Vec<T> = if beta == 0.0 {
        vec![T::poison(); n * n]
    } else {
        let random: Vec<T> = common::random_real(&mut rng, n * n);
        (0..n * n)
            .map(|i| {
                if i % n > i / n {
                    T::from_f64(UPPER_SENTINEL)
                } else {
                    random[i]
                }
            })
            .collect()
    };
    let (ar, ac) = if layout.trans_a() { (k, n) } else { (n, k) };
    let (br, bc) = if layout.trans_b() { (n, k) } else { (k, n) };
    let lower = Symmetry {
        lower_only: true,
        ..Symmetry::NONE
    };
    let got = product_in_blocks(
        &what,
        variant,
        (layout, lower),
        (alpha, beta),
        (&a, ar, ac),
        (&b, br, bc),
        &c,
        (n, n),
    );
    let want = reference_product(layout, (n, n, k), (alpha, beta), &a, &b, &c);
    let is_lower = |i: usize| i % n <= i / n;
    let pick = |v: &[f64], keep: &dyn Fn(usize) -> bool| -> Vec<f64> {
        (0..n * n).filter(|&i| keep(i)).map(|i| v[i]).collect()
    };
    let (rel, atol, rtol) = tolerances::<T>(k, alpha);
    common::assert_close(
        &format!("{what}: lower triangle"),
        &pick(&common::real_to_f64(&got), &is_lower),
        &pick(&want, &is_lower),
        rel,
        atol,
        rtol,
    );
    let mut untouched = 0;
    let mut wrong = Vec::new();
    for i in (0..n * n).filter(|&i| !is_lower(i)) {
        if bits(got[i]) == bits(c[i]) {
            untouched += 1;
        } else if (got[i].to_f64() - want[i]).abs() > atol + rtol * want[i].abs()
            || got[i].to_f64().is_nan()
        {
            wrong.push((i / n, i % n, got[i].to_f64(), want[i]));
        }
    }
    assert!(
        wrong.is_empty(),
        "{what}: {} elements above the diagonal neither untouched nor right, first (row, \
         col, got, want): {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(6)]
    );
    if variant == MatmulVariant::Tiled && splits(variant, (n, n, k)) == 1 && n > 128 {
        assert!(
            untouched > 0,
            "{what}: the tiled kernel wrote every tile above the diagonal"
        );
    }
    eprintln!("{what}: {untouched} elements above the diagonal untouched");
}

fn lower_only_writes_the_lower_triangle<T: Real>() {
    assert!(splits(MatmulVariant::Tiled, (130, 130, 1_000)) > 1);
    for variant in MatmulVariant::ALL {
        for layout in Layout::ALL {
            for n in [1, 7, 130, 257] {
                check_lower_only::<T>(variant, layout, (n, 64), (-1.0, 1.0));
            }
            check_lower_only::<T>(variant, layout, (257, 33), (0.5, 0.0));
            check_lower_only::<T>(variant, layout, (7, 5), (-0.75, 1.25));
        }
        // Deep enough to split: the split sum writes the whole of C.
        check_lower_only::<T>(variant, Layout::NT, (130, 1_000), (-1.0, 1.0));
    }
}

precision_tests!(lower_only_writes_the_lower_triangle);

/// Views that do not fit, strides below the columns, C sharing a buffer with A or B
/// and a non-square symmetric A: errors that name the problem, not panics.
#[test]
fn bad_views_are_errors_naming_the_problem() {
    let gpu = common::gpu();
    let mm = Matmul::<f32>::new(gpu, MatmulVariant::Tiled).unwrap();
    let buf = common::zeros::<f32>(&[20]);
    let a = common::zeros::<f32>(&[4, 4]);
    let b = common::zeros::<f32>(&[4, 4]);
    fn whole(t: &Tensor<f32>) -> MatView<'_, f32> {
        MatView::whole(t, "X").unwrap()
    }
    let none = (Layout::NN, Symmetry::NONE);
    let mut batch = Batch::new(gpu);

    // The last row past the end: offset 2 + 1 * 5, rows to 7 + 2 * 5 + 5 = 22 > 20.
    common::assert_error_names(
        MatView::block(&buf, 2, 5, (1, 0), (3, 5)).map_err(Into::into),
        &["3x5", "offset 7", "stride 5", "20 elements", "does not fit"],
    );
    // Exactly filling the buffer is fine.
    assert!(MatView::block(&buf, 0, 5, (1, 0), (3, 5)).is_ok());
    // A view built by hand is checked by record_views.
    let past_end = MatView {
        tensor: &buf,
        offset: 18,
        rows: 1,
        cols: 3,
        stride: 3,
    };
    let b13 = common::zeros::<f32>(&[3, 4]);
    let c14 = common::zeros::<f32>(&[1, 4]);
    common::assert_error_names(
        mm.record_views(
            &mut batch,
            none,
            1.0,
            past_end,
            whole(&b13),
            0.0,
            whole(&c14),
        ),
        &["1x3", "offset 18", "20 elements", "does not fit"],
    );
    let c_past_end = MatView {
        tensor: &buf,
        offset: 10,
        rows: 4,
        cols: 4,
        stride: 4,
    };
    common::assert_error_names(
        mm.record_views(&mut batch, none, 1.0, whole(&a), whole(&b), 0.0, c_past_end),
        &["4x4", "offset 10", "20 elements"],
    );

    // Row stride below the columns.
    common::assert_error_names(
        MatView::block(&buf, 0, 3, (0, 0), (2, 4)).map_err(Into::into),
        &["2x4", "stride 3", "stride >= columns"],
    );
    let narrow = MatView {
        tensor: &buf,
        offset: 0,
        rows: 1,
        cols: 4,
        stride: 3,
    };
    let b44 = whole(&b);
    let c14_view = whole(&c14);
    common::assert_error_names(
        mm.record_views(&mut batch, none, 1.0, narrow, b44, 0.0, c14_view),
        &["1x4", "stride 3", "stride >= columns"],
    );

    // C sharing a buffer with A or B: disjoint blocks of one buffer, or a reshape.
    let shared = common::zeros::<f32>(&[64]);
    let left = MatView::block(&shared, 0, 8, (0, 0), (4, 4)).unwrap();
    let right = MatView::block(&shared, 0, 8, (0, 4), (4, 4)).unwrap();
    common::assert_error_names(
        mm.record_views(&mut batch, none, 1.0, left, whole(&b), 0.0, right),
        &["C shares a buffer with A or B"],
    );
    common::assert_error_names(
        mm.record_views(&mut batch, none, 1.0, whole(&a), left, 0.0, right),
        &["C shares a buffer with A or B"],
    );
    let alias = a.view(&[4, 4]).unwrap();
    common::assert_error_names(
        mm.record(&mut batch, Layout::NN, 1.0, &a, &b, 0.0, &alias),
        &["C shares a buffer with A or B"],
    );

    // A symmetric A must be square.
    let a34 = common::zeros::<f32>(&[3, 4]);
    let c34 = common::zeros::<f32>(&[3, 4]);
    let symmetric = Symmetry {
        symmetric_a: true,
        ..Symmetry::NONE
    };
    common::assert_error_names(
        mm.record_views(
            &mut batch,
            (Layout::NN, symmetric),
            1.0,
            whole(&a34),
            whole(&b),
            0.0,
            whole(&c34),
        ),
        &["symmetric A must be square", "3x4"],
    );

    // Views of the wrong sizes name both shapes, as whole matrices do.
    let b52 = common::zeros::<f32>(&[5, 2]);
    common::assert_error_names(
        mm.record_views(
            &mut batch,
            none,
            1.0,
            whole(&a34),
            whole(&b52),
            0.0,
            whole(&c34),
        ),
        &["[3, 4]", "[5, 2]"],
    );
    // Nothing was recorded: the batch still submits.
    batch.submit().unwrap();
}

/// A view whose last row ends exactly at the end of its buffer (the bound the check
/// allows) gives the right product.
#[test]
fn view_ending_at_the_buffer_end_is_read_whole() {
    let mut rng = common::rng("matmul view at the buffer end");
    let data: Vec<f32> = common::random_real(&mut rng, 20);
    let buf = common::upload(&[20], &data);
    let b_data: Vec<f32> = common::random_real(&mut rng, 10);
    let b = common::upload(&[5, 2], &b_data);
    let c = common::poisoned::<f32>(&[3, 2]);
    let mm = Matmul::<f32>::new(common::gpu(), MatmulVariant::Skinny).unwrap();
    common::launch(|batch| {
        let a = MatView::block(&buf, 0, 5, (1, 0), (3, 5))?;
        mm.record_views(
            batch,
            (Layout::NN, Symmetry::NONE),
            1.0,
            a,
            MatView::whole(&b, "B")?,
            0.0,
            MatView::whole(&c, "C")?,
        )
    });
    let want = reference::matmul(
        false,
        false,
        3,
        2,
        5,
        1.0,
        &common::to_f64(&data[5..]),
        &common::to_f64(&b_data),
        0.0,
        &[0.0; 6],
    );
    common::assert_close_f32(
        "view at the buffer end",
        &common::download(&c),
        &want,
        1e-6,
        1e-6,
        1e-6,
    );
}
