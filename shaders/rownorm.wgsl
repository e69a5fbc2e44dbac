// rownorm: per-row Euclidean norms of a Real (f32 or f64, from the precision prelude) matrix, renormalisation of every row to a
// target norm (MEASUREMENTS.md section 2: a_i <- a_i * sqrt(w) / ||a_i||), and the
// backward of that renormalisation. X is rows x cols, row-major.
//
// Entry points:
//   rownorm_norms:        norms_out[i] = ||x_i||
//   rownorm_renormalize:  y_i = x_i * (target_norm / norms[i])
//   rownorm_backward:     d_x_i = (target_norm / r) * (d_y_i - ((x_i . d_y_i) / r^2) x_i),
//                         r = norms[i]; the Jacobian of y_i = t x_i / ||x_i|| is
//                         (t / r) (I - x_i x_i^T / r^2), which is symmetric.
//
// Bindings (each entry point binds only what it uses, in this order):
//   x         (read)        rows x cols
//   norms     (read)        rows, the norms the forward used (renormalize, backward)
//   d_y       (read)        rows x cols, gradient w.r.t. y (backward)
//   norms_out (read_write)  rows (norms)
//   y         (read_write)  rows x cols (renormalize)
//   d_x       (read_write)  rows x cols (backward)
//   params    (uniform)     rows, cols, target_norm
//
// Work split: one workgroup of WG invocations per row; the host lays the workgroups out
// with grid_1d, so the row is wg.x + wg.y * nwg.x. Invocation l handles columns
// l, l + WG, l + 2 WG, ...; row sums are reduced by a tree in workgroup memory, in Real
// (sum_over_workgroup).
// Sums of squares are not rescaled (unlike BLAS nrm2): rows here are activations with
// O(1) entries; a row whose squares overflow gets an infinite norm, which the host
// rejects (first_zero_row) like a zero row.

struct Params {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
    // Offset 16, a multiple of 8 as f64 needs; the host fills it through RealPair.
    target_norm: Real,
}

@group(0) @binding(0) var<storage, read> x: array<Real>;
@group(0) @binding(1) var<storage, read> norms: array<Real>;
@group(0) @binding(2) var<storage, read> d_y: array<Real>;
@group(0) @binding(3) var<storage, read_write> norms_out: array<Real>;
@group(0) @binding(4) var<storage, read_write> y: array<Real>;
@group(0) @binding(5) var<storage, read_write> d_x: array<Real>;
@group(0) @binding(6) var<uniform> params: Params;

// One workgroup per row, reducing with sum_over_workgroup (shaders/common.wgsl).
const WG: u32 = REDUCTION_WG;

@compute @workgroup_size(WG)
fn rownorm_norms(id: Invocation) {
    let row = flat_group(id);
    let row_in_range = row < params.rows;
    var sum_sq = Real(0.0);
    if row_in_range {
        let start = row * params.cols;
        for (var j = id.lid; j < params.cols; j += WG) {
            let v = x[start + j];
            sum_sq += v * v;
        }
    }
    let total = sum_over_workgroup(id.lid, sum_sq);
    if row_in_range && id.lid == 0u {
        norms_out[row] = real_sqrt(total);
    }
}

@compute @workgroup_size(WG)
fn rownorm_renormalize(id: Invocation) {
    let row = flat_group(id);
    if row >= params.rows {
        return;
    }
    // A zero norm gives inf here and a non-finite row: the host checks norms first.
    let scale = params.target_norm / norms[row];
    let start = row * params.cols;
    for (var j = id.lid; j < params.cols; j += WG) {
        y[start + j] = x[start + j] * scale;
    }
}

@compute @workgroup_size(WG)
fn rownorm_backward(id: Invocation) {
    let row = flat_group(id);
    let row_in_range = row < params.rows;
    let start = row * params.cols;
    var dot = Real(0.0);
    if row_in_range {
        for (var j = id.lid; j < params.cols; j += WG) {
            dot += x[start + j] * d_y[start + j];
        }
    }
    let x_dot_d_y = sum_over_workgroup(id.lid, dot);
    if !row_in_range {
        return;
    }
    let r = norms[row];
    let scale = params.target_norm / r;
    // Divided by r twice rather than by r * r, which over- or underflows sooner.
    let coef = x_dot_d_y / r / r;
    for (var j = id.lid; j < params.cols; j += WG) {
        d_x[start + j] = scale * (d_y[start + j] - coef * x[start + j]);
    }
}
