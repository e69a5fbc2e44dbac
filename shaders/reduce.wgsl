// reduce: per-row reductions of a Real (f32 or f64, from the precision prelude) matrix X (rows x cols, row-major).
//
// Entry points:
//   reduce_sum:     out[i] = sum_j X[i, j]
//   reduce_sum_sq:  out[i] = sum_j X[i, j]^2
//   reduce_max:     out[i] = max_j X[i, j]
//   reduce_argmax:  out_index[i] = the smallest j with X[i, j] = max_j X[i, j]
//
// NaN: sum and sum_sq propagate NaN as IEEE arithmetic does. max and argmax treat NaN as
// larger than every number (NumPy's np.max / np.argmax): a row holding a NaN has max NaN
// and argmax the index of its first NaN. NaN is detected from the bits (the prelude's
// real_is_nan), not with x != x, which WGSL lets a compiler fold to false.
// Empty rows (cols = 0): sum and sum_sq 0, max -inf, argmax 0xffffffff (no index).
//
// Bindings (each entry point binds only what it uses, in this order):
//   x          (read)        rows x cols
//   out        (read_write)  rows, Real (sum, sum_sq, max)
//   out_index  (read_write)  rows, u32 (argmax)
//   params     (uniform)     rows, cols
//
// Work split: one workgroup of WG invocations per row; the host lays the workgroups out
// with grid_1d, so the row is wg.x + wg.y * nwg.x. Invocation l folds columns
// l, l + WG, l + 2 WG, ... in increasing order (neighbours read neighbouring addresses),
// then a tree in workgroup memory combines the WG partial results. Workgroups past the
// last row still run the tree (it has barriers) and write nothing.

struct Params {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<Real>;
@group(0) @binding(1) var<storage, read_write> out: array<Real>;
@group(0) @binding(2) var<storage, read_write> out_index: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

// A power of two, for the tree reduction.
const WG: u32 = 256u;

const KIND_SUM: u32 = 0u;
const KIND_SUM_SQ: u32 = 1u;
const KIND_MAX: u32 = 2u;

// Marks "no element yet" in argmax; larger than any column index a row can have.
const NO_INDEX: u32 = 0xffffffffu;

var<workgroup> partial: array<Real, WG>;
var<workgroup> partial_index: array<u32, WG>;

// Whether candidate (b, ib) beats the current best (a, ia) in argmax order: NaN above
// everything, then larger values, then on ties the smaller index.
fn beats(a: Real, ia: u32, b: Real, ib: u32) -> bool {
    let nan_a = real_is_nan(a);
    let nan_b = real_is_nan(b);
    if nan_a || nan_b {
        return nan_b && (!nan_a || ib < ia);
    }
    return b > a || (b == a && ib < ia);
}

// max with NaN winning (see the header); the identity is -inf.
fn max_nan(a: Real, b: Real) -> Real {
    if real_is_nan(a) {
        return a;
    }
    if real_is_nan(b) {
        return b;
    }
    return max(a, b);
}

fn combine(kind: u32, a: Real, b: Real) -> Real {
    if kind == KIND_MAX {
        return max_nan(a, b);
    }
    return a + b;
}

// Shared by the three value reductions; `kind` is a constant at each call site.
fn reduce_row(kind: u32, id: Invocation) {
    let lid = id.lid;
    let row = flat_group(id);
    let row_in_range = row < params.rows;
    var acc = Real(0.0);
    if kind == KIND_MAX {
        acc = real_neg_inf();
    }
    if row_in_range {
        let start = row * params.cols;
        for (var j = lid; j < params.cols; j += WG) {
            let v = x[start + j];
            if kind == KIND_SUM_SQ {
                acc += v * v;
            } else {
                acc = combine(kind, acc, v);
            }
        }
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            partial[lid] = combine(kind, partial[lid], partial[lid + stride]);
        }
        workgroupBarrier();
    }
    if row_in_range && lid == 0u {
        out[row] = partial[0];
    }
}

@compute @workgroup_size(WG)
fn reduce_sum(id: Invocation) {
    reduce_row(KIND_SUM, id);
}

@compute @workgroup_size(WG)
fn reduce_sum_sq(id: Invocation) {
    reduce_row(KIND_SUM_SQ, id);
}

@compute @workgroup_size(WG)
fn reduce_max(id: Invocation) {
    reduce_row(KIND_MAX, id);
}

@compute @workgroup_size(WG)
fn reduce_argmax(id: Invocation) {
    let row = flat_group(id);
    let row_in_range = row < params.rows;
    var best = real_neg_inf();
    var best_index = NO_INDEX;
    if row_in_range {
        let start = row * params.cols;
        // Columns come in increasing order, so a tie keeps the earlier one.
        for (var j = id.lid; j < params.cols; j += WG) {
            let v = x[start + j];
            if beats(best, best_index, v, j) {
                best = v;
                best_index = j;
            }
        }
    }
    partial[id.lid] = best;
    partial_index[id.lid] = best_index;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if id.lid < stride {
            let v = partial[id.lid + stride];
            let iv = partial_index[id.lid + stride];
            if beats(partial[id.lid], partial_index[id.lid], v, iv) {
                partial[id.lid] = v;
                partial_index[id.lid] = iv;
            }
        }
        workgroupBarrier();
    }
    if row_in_range && id.lid == 0u {
        out_index[row] = partial_index[0];
    }
}
