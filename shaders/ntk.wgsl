// ntk: the pieces of the explicit empirical NTK (MEASUREMENTS.md section 6) that are not
// Gram matrices, in Real (f32 or f64, from the precision prelude).
// With k outputs, row p = i * k + c of the NTK belongs to example i and
// logit c, and
//   K = sum_l (A_l A_l^T (+ 1 with bias) kron 1_{k x k}) .* (Delta_l Delta_l^T),
// where A_l (n rows) is layer l's input and Delta_l (n k rows) holds d f_c(x_i) / d z^l.
//
// Entry points:
//   ntk_repeat_rows:  out[i * k + c, j] = x[i, j] for c < k: a forward quantity of
//                     example i, once per logit, for the batched backward of the n k
//                     one-hot cotangents.
//   ntk_accumulate:   K[p, q] += (GA[p / k, q / k] + offset) * D[p, q], GA = A A^T (n x n),
//                     D = Delta Delta^T (nk x nk).
//
// Bindings (each entry point binds only what it uses, in this order):
//   x   (read)        rows x cols (repeat)
//   ga  (read)        n x n (accumulate)
//   dd  (read)        nk x nk (accumulate)
//   out (read_write)  rows k x cols (repeat)
//   kernel_matrix (read_write)  nk x nk (accumulate)
//   params (uniform)  rows (n), cols, k, offset
//
// Work split: one output element per invocation; workgroups laid out with grid_1d
// (linear workgroup index wg.x + wg.y * nwg.x).

struct Params {
    rows: u32,
    cols: u32,
    k: u32,
    _pad: u32,
    // Offset 16, a multiple of 8 as f64 needs; the host fills it through RealPair.
    offset: Real,
}

@group(0) @binding(0) var<storage, read> x: array<Real>;
@group(0) @binding(1) var<storage, read> ga: array<Real>;
@group(0) @binding(2) var<storage, read> dd: array<Real>;
@group(0) @binding(3) var<storage, read_write> out: array<Real>;
@group(0) @binding(4) var<storage, read_write> kernel_matrix: array<Real>;
@group(0) @binding(5) var<uniform> params: Params;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn ntk_repeat_rows(id: Invocation) {
    let index = flat_index(id, WG);
    if index >= params.rows * params.k * params.cols {
        return;
    }
    let row = index / params.cols;
    let col = index % params.cols;
    out[index] = x[(row / params.k) * params.cols + col];
}

@compute @workgroup_size(WG)
fn ntk_accumulate(id: Invocation) {
    let order = params.rows * params.k;
    let index = flat_index(id, WG);
    if index >= order * order {
        return;
    }
    let p = index / order;
    let q = index % order;
    let g = ga[(p / params.k) * params.rows + q / params.k] + params.offset;
    kernel_matrix[index] += g * dd[index];
}
