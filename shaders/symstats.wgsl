// symstats: per-row statistics of a square matrix A [n, n] (Real: f32 or f64 from the
// precision prelude; row-major), for the
// Gershgorin proxies of MEASUREMENTS.md §3 and Frobenius distances (Eq. 13).
//
// Entry points (one 64-invocation workgroup per row, rows spread over x and y):
// - row_stats: stats[4 i + 0] = A_ii, stats[4 i + 1] = sum_{j != i} |A_ij|,
//   stats[4 i + 2] = max_{j != i} |A_ij| (0 when n = 1), stats[4 i + 3] = 0.
//   Bindings: a (read), stats [n, 4] (read_write), params.
// - row_diff_sq: out[i] = sum_j (A_ij - B_ij)^2.
//   Bindings: a (read), b [n, n] (read), out [n] (read_write), params.
// Each invocation strides over the row; a tree reduction in workgroup memory combines them.

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> a: array<Real>;
@group(0) @binding(1) var<storage, read> b: array<Real>;
@group(0) @binding(2) var<storage, read_write> stats: array<Real>;
@group(0) @binding(3) var<storage, read_write> out: array<Real>;
@group(0) @binding(4) var<uniform> params: Params;

// row_diff_sq reduces with sum_over_invocations (shaders/common.wgsl); row_stats sums
// and takes maxima in one tree of its own. 64 invocations, not REDUCTION_WG: rows are
// short (Gram and NTK orders), and on CPU drivers a wider tree's barriers cost more than
// the row's arithmetic (docs/PERFORMANCE.md).
// At most REDUCTION_WG: sum_over_invocations uses REDUCTION_WG slots of scratch.
const WG: u32 = 64u;
var<workgroup> partial_sum: array<Real, WG>;
var<workgroup> partial_max: array<Real, WG>;

@compute @workgroup_size(WG)
fn row_stats(id: Invocation) {
    let row = flat_group(id);
    let n = params.n;
    // Rows past n still take part in the barriers below, with neutral values.
    var s = Real(0.0);
    var m = Real(0.0);
    if row < n {
        for (var j = id.lid; j < n; j += WG) {
            if j != row {
                let v = abs(a[row * n + j]);
                s += v;
                m = max(m, v);
            }
        }
    }
    partial_sum[id.lid] = s;
    partial_max[id.lid] = m;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if id.lid < stride {
            partial_sum[id.lid] += partial_sum[id.lid + stride];
            partial_max[id.lid] = max(partial_max[id.lid], partial_max[id.lid + stride]);
        }
        workgroupBarrier();
    }
    if id.lid == 0u && row < n {
        stats[4u * row] = a[row * n + row];
        stats[4u * row + 1u] = partial_sum[0];
        stats[4u * row + 2u] = partial_max[0];
        stats[4u * row + 3u] = Real(0.0);
    }
}

@compute @workgroup_size(WG)
fn row_diff_sq(id: Invocation) {
    let row = flat_group(id);
    let n = params.n;
    var s = Real(0.0);
    if row < n {
        for (var j = id.lid; j < n; j += WG) {
            let d = a[row * n + j] - b[row * n + j];
            s += d * d;
        }
    }
    let total = sum_over_invocations(id.lid, s, WG);
    if id.lid == 0u && row < n {
        out[row] = total;
    }
}
