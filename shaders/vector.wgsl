// vector: BLAS-1/2 operations on f32 vectors, for the Krylov solvers.
// shaders/vector_f64.wgsl is the same file in f64 (keep them in step).
//
// Params: n (vector length or columns of A), rows (rows of A used), alpha, beta.
// Entry points and bindings:
// - axpy:        x [n] (read), y [n] (read_write):   y += alpha x
// - scale:       y [n] (read_write):                 y *= alpha
// - dot_partial: x [n], y2 [n] (read), partials [P] (read_write): partials[g] = sum over
//                workgroup g's strided share of x[i] y2[i]; P = number of workgroups (<= 1024).
// - dot_final:   partials [P] (read), out [1] (read_write): out[0] = sum_g partials[g]
//                (rows = P), or its square root when beta != 0 (nrm2).
// - gemv_n:      a [m, n] (read), x [n] (read), y [>= rows] (read_write):
//                y[r] = alpha sum_j a[r, j] x[j] + beta y[r] for r < rows; one workgroup per
//                row (rows spread over x and y), a tree reduction across the row.
// - gemv_t:      a [m, n] (read), x [>= rows] (read), y [n] (read_write):
//                y[c] = alpha sum_{r < rows} a[r, c] x[r] + beta y[c]; one invocation per
//                column, so neighbouring invocations read neighbouring addresses.
// When beta == 0, y is not read (NaN in y does not leak).

struct Params {
    n: u32,
    rows: u32,
    _pad0: u32,
    _pad1: u32,
    alpha: f32,
    beta: f32,
    _pad2: u32,
    _pad3: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y2: array<f32>;
@group(0) @binding(3) var<storage, read> partials_in: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

const WG: u32 = 256u;
var<workgroup> scratch: array<f32, 256>;

fn linear_id(wg: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
    return (wg.x + wg.y * nwg.x) * WG + li;
}

// Sums scratch[0..256] into scratch[0]; every invocation of the workgroup must call it.
fn reduce_scratch(li: u32) {
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if li < stride {
            scratch[li] += scratch[li + stride];
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn axpy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = linear_id(wg, nwg, li);
    if i < params.n {
        y[i] += params.alpha * x[i];
    }
}

@compute @workgroup_size(256)
fn scale(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
    let i = linear_id(wg, nwg, li);
    if i < params.n {
        y[i] *= params.alpha;
    }
}

@compute @workgroup_size(256)
fn dot_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let stride = nwg.x * WG;
    var s = 0.0;
    for (var i = wg.x * WG + li; i < params.n; i += stride) {
        s += x[i] * y2[i];
    }
    scratch[li] = s;
    reduce_scratch(li);
    if li == 0u {
        partials[wg.x] = scratch[0];
    }
}

@compute @workgroup_size(256)
fn dot_final(@builtin(local_invocation_index) li: u32) {
    var s = 0.0;
    for (var i = li; i < params.rows; i += WG) {
        s += partials_in[i];
    }
    scratch[li] = s;
    reduce_scratch(li);
    if li == 0u {
        if params.beta != 0.0 {
            out[0] = sqrt(max(scratch[0], 0.0));
        } else {
            out[0] = scratch[0];
        }
    }
}

@compute @workgroup_size(256)
fn gemv_n(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let row = wg.x + wg.y * nwg.x;
    var s = 0.0;
    if row < params.rows {
        for (var j = li; j < params.n; j += WG) {
            s += a[row * params.n + j] * x[j];
        }
    }
    scratch[li] = s;
    reduce_scratch(li);
    if li == 0u && row < params.rows {
        var v = params.alpha * scratch[0];
        if params.beta != 0.0 {
            v += params.beta * y[row];
        }
        y[row] = v;
    }
}

@compute @workgroup_size(256)
fn gemv_t(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let col = linear_id(wg, nwg, li);
    if col >= params.n {
        return;
    }
    var s = 0.0;
    for (var r = 0u; r < params.rows; r++) {
        s += a[r * params.n + col] * x[r];
    }
    var v = params.alpha * s;
    if params.beta != 0.0 {
        v += params.beta * y[col];
    }
    y[col] = v;
}
