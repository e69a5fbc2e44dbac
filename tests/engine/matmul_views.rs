//! Matmul on views: A, B and C blocks of larger buffers (offsets, row strides larger
//! than the columns, C's buffer untouched outside its block), a symmetric A stored as
//! its lower triangle, a lower-only C, and the errors that bad views give.

use wideprobe::gpu::{Batch, Tensor};
use wideprobe::linalg::Real;
use wideprobe::ops::matmul::{broadcast_vec4_reads, MatView, MatmulDims, Symmetry};
use wideprobe::ops::{Layout, Matmul, MatmulVariant};

use crate::common;
use crate::matmul::{
    bits, product_case, reference_product, splits, tolerances, variants, Dims, Operands,
};

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

    /// Like [`Block::new`], with the offset and stride multiples of 4 (rows aligned to
    /// four elements) and at least one padding element after every row.
    fn aligned(rows: usize, cols: usize, salt: usize) -> Self {
        Block {
            base: 4 + 8 * salt,
            col0: 4,
            stride: (cols + 5).next_multiple_of(4) + 4 * salt,
            ..Block::new(rows, cols, salt)
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

/// What C's buffer holds outside the block: finite, exact in both precisions, and not
/// a value any product here gives.
const SENTINEL: f64 = -1234.5;

/// What C holds above its diagonal in the lower-only tests (beta != 0): of the size of
/// the products, so that `alpha * sum + beta * UPPER_SENTINEL` is never the sentinel
/// itself (an element written would look untouched).
const UPPER_SENTINEL: f64 = 0.8125;

/// A symmetric A (its lower triangle read), all else as usual.
const SYMMETRIC_A: Symmetry = Symmetry {
    symmetric_a: true,
    ..Symmetry::NONE
};

/// Only C's lower triangle written, all else as usual.
const LOWER_ONLY: Symmetry = Symmetry {
    lower_only: true,
    ..Symmetry::NONE
};

/// `record_views` with A, B and C each a block of its own larger buffer: A and B as
/// stored (`inputs`), NaN around them (a read outside the block poisons the result),
/// C's block `c` (m x n) with [`SENTINEL`] around it. Asserts that no element of C's
/// buffer outside the block changed (bitwise) and returns the block.
fn product_in_blocks<T: Real>(
    what: &str, variant: MatmulVariant, how: (Layout, Symmetry), ab: (f64, f64),
    inputs: &Operands<T>, c: &[T], (m, n): (usize, usize),
) -> Vec<T> {
    let blocks = [
        Block::new(inputs.a_dims.0, inputs.a_dims.1, 0),
        Block::new(inputs.b_dims.0, inputs.b_dims.1, 1),
        Block::new(m, n, 2),
    ];
    product_in_placed_blocks(what, variant, how, ab, inputs, c, blocks)
}

/// [`product_in_blocks`] with the blocks given.
fn product_in_placed_blocks<T: Real>(
    what: &str, variant: MatmulVariant, how: (Layout, Symmetry), (alpha, beta): (f64, f64),
    inputs: &Operands<T>, c: &[T], [block_a, block_b, block_c]: [Block; 3],
) -> Vec<T> {
    let a_buf = common::upload(&[block_a.len()], &block_a.place(&inputs.a, T::poison()));
    let b_buf = common::upload(&[block_b.len()], &block_b.place(&inputs.b, T::poison()));
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
fn check_views<T: Real>(variant: MatmulVariant, layout: Layout, dims: Dims, ab: (f64, f64)) {
    let ((m, n, k), (alpha, beta)) = (dims, ab);
    let (what, mut rng, inputs) = product_case::<T>("matmul views", variant, layout, dims, ab);
    let c: Vec<T> = if beta == 0.0 {
        vec![T::poison(); m * n]
    } else {
        common::random_real(&mut rng, m * n)
    };
    let got = product_in_blocks(
        &what,
        variant,
        (layout, Symmetry::NONE),
        ab,
        &inputs,
        &c,
        (m, n),
    );
    let want = reference_product(layout, dims, ab, &inputs.a, &inputs.b, &c);
    let (rel, atol, rtol) = tolerances::<T>(k, alpha);
    common::assert_close_real(&what, &got, &want, rel, atol, rtol);
}

/// Ragged view products and their (alpha, beta), every third with beta 0 (C's block
/// then never read); the last two are deep with few output tiles, so that the tiled
/// and skinny variants split them over the depth.
const VIEW_CASES: &[(Dims, (f64, f64))] = &[
    ((1, 1, 1), (-0.5, 0.75)),
    ((7, 1, 33), (-0.5, 0.75)),
    ((1, 130, 7), (1.25, 0.0)),
    ((33, 7, 130), (-0.5, 0.75)),
    ((130, 33, 7), (-0.5, 0.75)),
    ((130, 130, 33), (1.25, 0.0)),
    ((7, 33, 600), (-0.5, 0.75)),
    ((130, 7, 1_000), (-0.5, 0.75)),
];

/// Every variant and layout on blocks of larger buffers (nonzero offsets, row strides
/// larger than the columns): the product, and C's buffer untouched outside its block.
fn views_are_blocks_of_larger_buffers<T: Real>() {
    for variant in [MatmulVariant::Tiled, MatmulVariant::Skinny] {
        for (dims, _) in &VIEW_CASES[VIEW_CASES.len() - 2..] {
            assert!(splits(variant, *dims) > 1, "{dims:?} must split");
        }
    }
    for variant in variants() {
        for layout in Layout::ALL {
            for &(dims, ab) in VIEW_CASES {
                check_views::<T>(variant, layout, dims, ab);
            }
        }
    }
}

precision_tests!(views_are_blocks_of_larger_buffers);

/// The broadcast kernel reads op(A) (as stored) and B four elements at a time where
/// their rows are aligned to four elements: every layout on blocks with offsets and
/// strides multiples of 4, whose last vec4 per row reaches into the NaN padding when k or
/// n is not a multiple of 4 (those depths and columns must not reach C).
fn broadcast_reads_aligned_views<T: Real>() {
    let variant = MatmulVariant::Broadcast;
    if !variant.available(common::gpu()) {
        eprintln!("skipping: the adapter lacks subgroups");
        return;
    }
    for layout in Layout::ALL {
        for &(dims, ab) in VIEW_CASES {
            let ((m, n, k), (alpha, beta)) = (dims, ab);
            let (what, mut rng, inputs) =
                product_case::<T>("matmul aligned views", variant, layout, dims, ab);
            let c: Vec<T> = if beta == 0.0 {
                vec![T::poison(); m * n]
            } else {
                common::random_real(&mut rng, m * n)
            };
            let blocks = [
                Block::aligned(inputs.a_dims.0, inputs.a_dims.1, 0),
                Block::aligned(inputs.b_dims.0, inputs.b_dims.1, 1),
                Block::aligned(m, n, 2),
            ];
            check_four_at_a_time::<T>(layout, &inputs, &blocks, dims);
            let how = (layout, Symmetry::NONE);
            let got = product_in_placed_blocks(&what, variant, how, ab, &inputs, &c, blocks);
            let want = reference_product(layout, dims, ab, &inputs.a, &inputs.b, &c);
            let (rel, atol, rtol) = tolerances::<T>(k, alpha);
            common::assert_close_real(&what, &got, &want, rel, atol, rtol);
        }
    }
}

precision_tests!(broadcast_reads_aligned_views);

/// The aligned blocks do take the four-at-a-time reads: A's unless it is read
/// transposed, B's always.
fn check_four_at_a_time<T: Real>(
    layout: Layout, inputs: &Operands<T>, [a, b, _]: &[Block; 3], (m, n, k): Dims,
) {
    let a_buf = common::zeros::<T>(&[a.len()]);
    let b_buf = common::zeros::<T>(&[b.len()]);
    let dims = MatmulDims { m, n, k };
    assert_eq!((a.rows, a.cols), inputs.a_dims);
    let reads = broadcast_vec4_reads(
        layout,
        Symmetry::NONE,
        [&a.view(&a_buf), &b.view(&b_buf)],
        dims,
    );
    assert_eq!(reads, [!layout.trans_a(), true], "{layout:?} {dims:?}");
}

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
    for variant in variants() {
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
                // Every layout on some shapes: A's transpose is A.
                if layout == Layout::NN || i % 2 == 0 {
                    check_symmetric_a::<T>(variant, layout, (m, n));
                }
            }
        }
    }
}

precision_tests!(symmetric_a_reads_only_the_lower_triangle);

/// One product of [`symmetric_a_reads_only_the_lower_triangle`]: A of order m, B m x n.
fn check_symmetric_a<T: Real>(variant: MatmulVariant, layout: Layout, (m, n): (usize, usize)) {
    let (alpha, beta) = (-0.5, 0.75);
    let (what, mut rng, mut inputs) = product_case::<T>(
        "matmul symmetric A",
        variant,
        layout,
        (m, n, m),
        (alpha, beta),
    );
    let c: Vec<T> = common::random_real(&mut rng, m * n);
    // A's draw is the lower triangle: the full matrix for the reference, and NaN above
    // the diagonal in what the kernel sees.
    let lower = std::mem::take(&mut inputs.a);
    let full: Vec<T> = (0..m * m)
        .map(|i| {
            let (r, c) = (i / m, i % m);
            lower[r.max(c) * m + r.min(c)]
        })
        .collect();
    inputs.a = (0..m * m)
        .map(|i| if i % m > i / m { T::poison() } else { lower[i] })
        .collect();
    let how = (layout, SYMMETRIC_A);
    let got = product_in_blocks(&what, variant, how, (alpha, beta), &inputs, &c, (m, n));
    let want = reference_product(layout, (m, n, m), (alpha, beta), &full, &inputs.b, &c);
    let (rel, atol, rtol) = tolerances::<T>(m, alpha);
    common::assert_close_real(&what, &got, &want, rel, atol, rtol);
}

/// Symmetry::lower_only: C (an m x n block of a larger buffer) must be right on and
/// below its diagonal (column <= row); above it each element is either untouched or
/// right. The tiled kernel skips the tiles strictly above the diagonal and the broadcast
/// kernel launches none for them (documented), so at order 257 some upper elements stay
/// untouched there unless the product is split.
fn check_lower_only<T: Real>(
    variant: MatmulVariant, layout: Layout, (m, n, k): (usize, usize, usize), ab: (f64, f64),
) {
    let (alpha, beta) = ab;
    let (what, mut rng, inputs) =
        product_case::<T>("matmul lower only", variant, layout, (m, n, k), ab);
    let c = lower_only_c::<T>(&mut rng, (m, n), beta);
    let got = product_in_blocks(
        &what,
        variant,
        (layout, LOWER_ONLY),
        ab,
        &inputs,
        &c,
        (m, n),
    );
    let want = reference_product(layout, (m, n, k), ab, &inputs.a, &inputs.b, &c);
    let is_lower = |i: usize| i % n <= i / n;
    let pick = |v: &[f64], keep: &dyn Fn(usize) -> bool| -> Vec<f64> {
        (0..m * n).filter(|&i| keep(i)).map(|i| v[i]).collect()
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
    let untouched = upper_untouched_or_right(&what, (m, n), (&got, &c, &want), (atol, rtol));
    let skips = matches!(variant, MatmulVariant::Tiled | MatmulVariant::Broadcast);
    if skips && splits(variant, (m, n, k)) == 1 && m == n && n > 128 {
        assert!(
            untouched > 0,
            "{what}: the {} kernel wrote every tile above the diagonal",
            variant.name()
        );
    }
    eprintln!("{what}: {untouched} elements above the diagonal untouched");
}

/// C (m x n) for a lower-only product: random on and below the diagonal, and
/// [`UPPER_SENTINEL`] above it, or NaN everywhere when beta = 0 (never to be read).
fn lower_only_c<T: Real>(rng: &mut impl rand::Rng, (m, n): (usize, usize), beta: f64) -> Vec<T> {
    if beta == 0.0 {
        return vec![T::poison(); m * n];
    }
    let random: Vec<T> = common::random_real(rng, m * n);
    (0..m * n)
        .map(|i| {
            if i % n > i / n {
                T::from_f64(UPPER_SENTINEL)
            } else {
                random[i]
            }
        })
        .collect()
}

/// Asserts that each element of C (m x n) above the diagonal is untouched (its bits in
/// `c`) or right (within atol + rtol |want|, not NaN); returns how many are untouched.
fn upper_untouched_or_right<T: Real>(
    what: &str, (m, n): (usize, usize), (got, c, want): (&[T], &[T], &[f64]),
    (atol, rtol): (f64, f64),
) -> usize {
    let mut untouched = 0;
    let mut wrong = Vec::new();
    for i in (0..m * n).filter(|&i| i % n > i / n) {
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
    untouched
}

/// Square and rectangular C (more rows than columns and fewer: the broadcast kernel lists
/// its lower tiles from both counts), at orders that are not multiples of the tiles.
fn lower_only_writes_the_lower_triangle<T: Real>() {
    assert!(splits(MatmulVariant::Tiled, (130, 130, 1_000)) > 1);
    for variant in variants() {
        for layout in Layout::ALL {
            for n in [1, 7, 130, 257] {
                check_lower_only::<T>(variant, layout, (n, n, 64), (-1.0, 1.0));
            }
            check_lower_only::<T>(variant, layout, (257, 257, 33), (0.5, 0.0));
            check_lower_only::<T>(variant, layout, (7, 7, 5), (-0.75, 1.25));
            check_lower_only::<T>(variant, layout, (70, 7, 9), (-1.0, 1.0));
            check_lower_only::<T>(variant, layout, (7, 70, 9), (1.0, 0.0));
            check_lower_only::<T>(variant, layout, (33, 130, 17), (-1.0, 1.0));
        }
        // Deep enough to split: the split sum writes the whole of C.
        check_lower_only::<T>(variant, Layout::NT, (130, 130, 1_000), (-1.0, 1.0));
    }
}

precision_tests!(lower_only_writes_the_lower_triangle);

/// A whole f32 matrix as a view.
fn whole(t: &Tensor<f32>) -> MatView<'_, f32> {
    MatView::whole(t, "X").unwrap()
}

/// A view of `rows x cols` at `offset` with row stride `stride`, built by hand (not
/// checked on the way in).
fn by_hand(
    buf: &Tensor<f32>, offset: usize, (rows, cols): (usize, usize), stride: usize,
) -> MatView<'_, f32> {
    MatView {
        tensor: buf,
        offset,
        rows,
        cols,
        stride,
    }
}

/// Asserts that recording A B into C (layout NN, alpha 1, beta 0) on these views is an
/// error that names every one of `parts`.
fn rejected(
    mm: &Matmul<f32>, batch: &mut Batch, symmetry: Symmetry, [a, b, c]: [MatView<f32>; 3],
    parts: &[&str],
) {
    let how = (Layout::NN, symmetry);
    common::assert_error_names(mm.record_views(batch, how, 1.0, a, b, 0.0, c), parts);
}

/// Views that do not fit, strides below the columns, C sharing a buffer with A or B
/// and a non-square symmetric A: errors that name the problem, not panics.
#[test]
fn bad_views_are_errors_naming_the_problem() {
    let mm = Matmul::<f32>::new(common::gpu(), MatmulVariant::Tiled).unwrap();
    let mut batch = Batch::new(common::gpu());
    views_past_the_buffer_end(&mm, &mut batch);
    strides_below_the_columns(&mm, &mut batch);
    c_sharing_a_buffer_with_a_or_b(&mm, &mut batch);
    symmetric_a_not_square_and_wrong_sizes(&mm, &mut batch);
    // Nothing was recorded: the batch still submits.
    batch.submit().unwrap();
}

/// The last row past the end of the buffer, from `MatView::block` and in views built by
/// hand (which `record_views` checks).
fn views_past_the_buffer_end(mm: &Matmul<f32>, batch: &mut Batch) {
    let buf = common::zeros::<f32>(&[20]);
    // The last row past the end: offset 2 + 1 * 5, rows to 7 + 2 * 5 + 5 = 22 > 20.
    common::assert_error_names(
        MatView::block(&buf, 2, 5, (1, 0), (3, 5)).map_err(Into::into),
        &["3x5", "offset 7", "stride 5", "20 elements", "does not fit"],
    );
    // Exactly filling the buffer is fine.
    assert!(MatView::block(&buf, 0, 5, (1, 0), (3, 5)).is_ok());
    // A view built by hand is checked by record_views.
    let (b13, c14) = (common::zeros::<f32>(&[3, 4]), common::zeros::<f32>(&[1, 4]));
    let a_past_end = [by_hand(&buf, 18, (1, 3), 3), whole(&b13), whole(&c14)];
    let parts = ["1x3", "offset 18", "20 elements", "does not fit"];
    rejected(mm, batch, Symmetry::NONE, a_past_end, &parts);
    let (a, b) = (common::zeros::<f32>(&[4, 4]), common::zeros::<f32>(&[4, 4]));
    let c_past_end = [whole(&a), whole(&b), by_hand(&buf, 10, (4, 4), 4)];
    let parts = ["4x4", "offset 10", "20 elements"];
    rejected(mm, batch, Symmetry::NONE, c_past_end, &parts);
}

/// A row stride below the columns, from `MatView::block` and in a view built by hand.
fn strides_below_the_columns(mm: &Matmul<f32>, batch: &mut Batch) {
    let buf = common::zeros::<f32>(&[20]);
    common::assert_error_names(
        MatView::block(&buf, 0, 3, (0, 0), (2, 4)).map_err(Into::into),
        &["2x4", "stride 3", "stride >= columns"],
    );
    let (b, c14) = (common::zeros::<f32>(&[4, 4]), common::zeros::<f32>(&[1, 4]));
    let narrow = [by_hand(&buf, 0, (1, 4), 3), whole(&b), whole(&c14)];
    let parts = ["1x4", "stride 3", "stride >= columns"];
    rejected(mm, batch, Symmetry::NONE, narrow, &parts);
}

/// C sharing a buffer with A or B: disjoint blocks of one buffer, or a reshape.
fn c_sharing_a_buffer_with_a_or_b(mm: &Matmul<f32>, batch: &mut Batch) {
    let (a, b) = (common::zeros::<f32>(&[4, 4]), common::zeros::<f32>(&[4, 4]));
    let shared = common::zeros::<f32>(&[64]);
    let left = MatView::block(&shared, 0, 8, (0, 0), (4, 4)).unwrap();
    let right = MatView::block(&shared, 0, 8, (0, 4), (4, 4)).unwrap();
    let parts = ["C shares a buffer with A or B"];
    rejected(mm, batch, Symmetry::NONE, [left, whole(&b), right], &parts);
    rejected(mm, batch, Symmetry::NONE, [whole(&a), left, right], &parts);
    let alias = a.view(&[4, 4]).unwrap();
    common::assert_error_names(
        mm.record(batch, Layout::NN, 1.0, &a, &b, 0.0, &alias),
        &parts,
    );
}

/// A symmetric A must be square; views of the wrong sizes name both shapes, as whole
/// matrices do.
fn symmetric_a_not_square_and_wrong_sizes(mm: &Matmul<f32>, batch: &mut Batch) {
    let (a34, c34) = (common::zeros::<f32>(&[3, 4]), common::zeros::<f32>(&[3, 4]));
    let (b44, b52) = (common::zeros::<f32>(&[4, 4]), common::zeros::<f32>(&[5, 2]));
    for (symmetry, b, parts) in [
        (SYMMETRIC_A, &b44, &["symmetric A must be square", "3x4"]),
        (Symmetry::NONE, &b52, &["[3, 4]", "[5, 2]"]),
    ] {
        rejected(
            mm,
            batch,
            symmetry,
            [whole(&a34), whole(b), whole(&c34)],
            parts,
        );
    }
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
    let want = reference_product(Layout::NN, (3, 2, 5), (1.0, 0.0), &data[5..], &b_data, &[]);
    let got = common::download(&c);
    common::assert_close_f32("view at the buffer end", &got, &want, 1e-6, 1e-6, 1e-6);
}
