//! The operands of a product: views of matrices inside buffers ([`MatView`]), the
//! product's dimensions from its layout ([`matmul_dims`]), and the checks every product
//! passes before it is recorded (shapes, fit, aliasing, u32 indexing).

use anyhow::Result;

use super::matmul::{Layout, Symmetry};
use super::real::{check_u32_index, Real};
use crate::gpu::{GpuError, Tensor};

/// A matrix stored inside a buffer: `rows x cols` (as stored, before any transpose),
/// element (r, c) at `offset + r * stride + c`. A whole 2-D tensor is the view
/// [`MatView::whole`]; a block of one, such as the trailing matrix of a reduction, is
/// [`MatView::block`].
#[derive(Clone, Copy)]
pub struct MatView<'a, T: Real> {
    pub tensor: &'a Tensor<T>,
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
}

impl<'a, T: Real> MatView<'a, T> {
    /// All of a matrix `[rows, cols]`; the shape error matmul has always given otherwise.
    pub fn whole(tensor: &'a Tensor<T>, what: &str) -> Result<Self, GpuError> {
        match *tensor.shape() {
            [rows, cols] => Ok(MatView {
                tensor,
                offset: 0,
                rows,
                cols,
                stride: cols,
            }),
            ref s => Err(GpuError::Shape(format!(
                "matmul: {what} must be a matrix, but has shape {s:?}"
            ))),
        }
    }

    /// Rows `row..row + rows` and columns `col..col + cols` of a matrix stored row-major
    /// with `stride` elements per row, starting at element `base` of `tensor`.
    pub fn block(
        tensor: &'a Tensor<T>, base: usize, stride: usize, (row, col): (usize, usize),
        (rows, cols): (usize, usize),
    ) -> Result<Self, GpuError> {
        let view = MatView {
            tensor,
            offset: base + row * stride + col,
            rows,
            cols,
            stride,
        };
        view.check()?;
        Ok(view)
    }

    /// One past the last element the view reaches (0 when it is empty).
    fn end(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            return self.offset;
        }
        self.offset + (self.rows - 1) * self.stride + self.cols
    }

    fn check(&self) -> Result<(), GpuError> {
        if self.cols > self.stride || self.end() > self.tensor.len() {
            return Err(GpuError::Shape(format!(
                "matmul: a {}x{} view at offset {} with row stride {} does not fit in a \
                 buffer of {} elements (need stride >= columns and the last row inside)",
                self.rows,
                self.cols,
                self.offset,
                self.stride,
                self.tensor.len()
            )));
        }
        Ok(())
    }

    fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    pub(super) fn offset_stride(&self) -> [u32; 2] {
        [self.offset as u32, self.stride as u32]
    }
}

/// Dimensions of a product: op(A) is m x k, op(B) is k x n.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulDims {
    pub m: usize,
    pub n: usize,
    pub k: usize,
}

impl MatmulDims {
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }
}

/// Checks operand shapes and returns the product's dimensions.
pub fn matmul_dims(
    layout: Layout, a: &[usize], b: &[usize], c: &[usize],
) -> Result<MatmulDims, GpuError> {
    let two = |what: &str, s: &[usize]| match s {
        [r, cols] => Ok((*r, *cols)),
        _ => Err(GpuError::Shape(format!(
            "matmul: {what} must be a matrix, but has shape {s:?}"
        ))),
    };
    let (ar, ac) = two("A", a)?;
    let (br, bc) = two("B", b)?;
    let (cr, cc) = two("C", c)?;
    let (m, k) = if layout.trans_a() { (ac, ar) } else { (ar, ac) };
    let (kb, n) = if layout.trans_b() { (bc, br) } else { (br, bc) };
    if k != kb || (cr, cc) != (m, n) {
        return Err(GpuError::Shape(format!(
            "matmul {}: A {a:?} and B {b:?} give op(A) {m}x{k} and op(B) {kb}x{n}, C is {c:?}; \
             need the inner sizes equal and C {m}x{n}",
            layout.name()
        )));
    }
    Ok(MatmulDims { m, n, k })
}

/// The kernels index A, B and C with u32 sums (offset + row stride + column) and the
/// split partial sums with u32 products: every view and the partial sums (tiles rounded
/// up) must fit.
fn check_indexing(dims: MatmulDims, ends: [usize; 3]) -> Result<()> {
    let round = |x: usize| x.next_multiple_of(128) as u128;
    let reach = ends.into_iter().max().unwrap_or(0) as u128;
    check_u32_index(
        &format!("matmul {}x{}x{}", dims.m, dims.n, dims.k),
        (round(dims.m) * round(dims.n)).max(reach),
    )
}

/// Checks a product's views (shapes, fit, aliasing, u32 indexing) and returns its
/// dimensions.
pub(super) fn check_views<T: Real>(
    layout: Layout, symmetry: Symmetry, [a, b, c]: [&MatView<T>; 3],
) -> Result<MatmulDims> {
    if symmetry.symmetric_a && a.rows != a.cols {
        return Err(GpuError::Shape(format!(
            "matmul: a symmetric A must be square, got {}x{}",
            a.rows, a.cols
        ))
        .into());
    }
    let dims = matmul_dims(layout, &a.shape(), &b.shape(), &c.shape())?;
    for view in [a, b, c] {
        view.check()?;
    }
    if c.tensor.buffer() == a.tensor.buffer() || c.tensor.buffer() == b.tensor.buffer() {
        return Err(GpuError::Shape(
            "matmul: C shares a buffer with A or B; write the product to another buffer".into(),
        )
        .into());
    }
    check_indexing(dims, [a.end(), b.end(), c.end()])?;
    Ok(dims)
}
