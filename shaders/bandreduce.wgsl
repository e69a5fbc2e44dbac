// bandreduce: the first stage of the two-stage dense eigensolver (linalg/two_stage.rs):
// a symmetric matrix is reduced to band form B = Q^T A Q with semi-bandwidth b by
// blocked Householder transformations, most of the work in matmul (LAPACK sytrd_sy2sb,
// MAGMA, ELPA). The host then reduces the band to tridiagonal form (linalg/band.rs).
// One body in `Real`, instantiated per precision by a prelude (ops/shaders.rs).
//
// Panel of columns [c, c + b), rows c + b .. n below the band (m = n - c - b rows),
// P[i, j] = work[(c + b + i) n + c + j]:
//   `panel` (one workgroup): Householder QR of P in place, P = Q R with
//   Q = H_0 H_1 ... H_{b-1} = I - V T V^T (LAPACK geqr2, then larft's compact WY form):
//   R stays in the work matrix with zeros below it; V (m x b, zero above its diagonal)
//   goes to `right` columns [0, b) and to `left` columns [b, 2b); T (b x b, upper
//   triangular) to `tfac`.
//   The host then records, with the matmul kernels on views of these buffers:
//     Y = A22 V;  W = Y T (into `left` columns [0, b));  Z = V^T W;  M = T^T Z (`tz`),
//   then `finish_w`: W -= V M / 2, copied into `right` columns [b, 2b); then
//     A22 -= left right^T = W V^T + V W^T,
//   which is A22 <- Q^T A22 Q, A22 = work[c + b .., c + b ..] kept as its lower triangle
//   (read as symmetric, updated below the diagonal: SYMMETRIC_A, LOWER_ONLY in matmul.wgsl).
//   H_j = I - tau_j v_j v_j^T with v_j = x - alpha e_1 unscaled and
//   tau_j = 1 / (x.x + |x_0| ||x||), as in tridiagonalize.wgsl (no cancellation);
//   tau_j = 0 and alpha = x_0 when x is zero below x_0.
// `extract_band`: band[j (b + 1) + k] = work[(j + k) n + j] (0 past the end), the lower
//   band the host reads back.
//
// Backward stable like any Householder reduction: B is the exact reduction of A + E with
// ||E|| <= c n u ||A||.
//
// Work split of `panel`: invocation (l, g) = (lid % PANEL_COLS, lid / PANEL_COLS) owns
// column l of the panel and rows g, g + ROW_GROUPS, ..., so neighbouring invocations
// touch neighbouring addresses of a row. Per reflector: the products of v with every
// other column (for the update, and for T), then the update, which also takes the next
// column's reflector input. Loop iterations: an invocation makes about 2 b m / ROW_GROUPS,
// but a SIMD group of them runs the union of their loops, about 3 b m / ROW_GROUPS
// (lavapipe ends loops past 65,535 in all; the host keeps m within that,
// ops/bandreduce.rs max_panel_rows).
//
// Bindings:
//   work   (read_write)  [count, n, n] the symmetric matrices, reduced in place
//   left   (read_write)  [n, 2b] [W | V] of the panel being reduced
//   right  (read_write)  [n, 2b] [V | W]
//   tfac   (read_write)  [b, b] T
//   band   (read_write)  [count, n, b + 1] the lower bands
//   params (uniform)     n, b, the panel's first column c, the matrix
//   tz     (read_write)  [b, b] T^T V^T Y T, from the host's matmuls

struct Params {
    n: u32,
    b: u32,
    col: u32,
    // Which matrix of a stack: work holds [count, n, n], band [count, n, b + 1].
    mat: u32,
}

@group(0) @binding(0) var<storage, read_write> work: array<Real>;
@group(0) @binding(1) var<storage, read_write> left: array<Real>;
@group(0) @binding(2) var<storage, read_write> right: array<Real>;
@group(0) @binding(3) var<storage, read_write> tfac: array<Real>;
@group(0) @binding(4) var<storage, read_write> band: array<Real>;
@group(0) @binding(5) var<uniform> params: Params;
@group(0) @binding(6) var<storage, read_write> tz: array<Real>;

// The most columns a panel has (b <= PANEL_COLS; MAX_BAND in ops/bandreduce.rs);
// PANEL_COLS times ROW_GROUPS is the workgroup size.
const PANEL_COLS: u32 = 32u;
const ROW_GROUPS: u32 = 8u;
const PANEL_WG: u32 = PANEL_COLS * ROW_GROUPS;

// The slot of (column l, row group g) in `partial`: the invocation index that owns it.
// Consecutive invocations own consecutive columns, so a GPU warp reads a row's
// contiguous entries.
fn slot(l: u32, g: u32) -> u32 {
    return g * PANEL_COLS + l;
}

var<workgroup> partial: array<Real, PANEL_WG>;
var<workgroup> dots: array<Real, PANEL_COLS>;
// T, row-major with row stride PANEL_COLS.
var<workgroup> t_local: array<Real, PANEL_COLS * PANEL_COLS>;

// The first of the rows i >= start with i % ROW_GROUPS == g: every loop over a column's
// rows takes the same rows for the same g, so an invocation reads back what it wrote
// itself and needs no barrier for it.
fn first_row(start: u32, g: u32) -> u32 {
    return start + (g + ROW_GROUPS - start % ROW_GROUPS) % ROW_GROUPS;
}

// Column j of the panel below its diagonal, rows of group g: moved into V (both
// copies), zeroed in the panel (R has zeros there); returns their sum of squares. Rows
// above the diagonal of V's column are zeroed too.
fn take_column(p0: u32, n: u32, m: u32, stride: u32, b: u32, j: u32, g: u32) -> Real {
    var ss = Real(0.0);
    for (var i = first_row(j + 1u, g); i < m; i += ROW_GROUPS) {
        let x = work[p0 + i * n + j];
        right[i * stride + j] = x;
        left[i * stride + b + j] = x;
        work[p0 + i * n + j] = Real(0.0);
        ss += x * x;
    }
    for (var i = g; i < min(j, m); i += ROW_GROUPS) {
        right[i * stride + j] = Real(0.0);
        left[i * stride + b + j] = Real(0.0);
    }
    return ss;
}

// The reflector of column j from its sums of squares in `partial`, by one invocation:
// v_j = x0 - alpha, R[j, j] = alpha, T[j, j] = tau.
fn form_reflector(p0: u32, n: u32, m: u32, stride: u32, b: u32, j: u32) {
    var sigma = Real(0.0);
    for (var q = 0u; q < ROW_GROUPS; q++) {
        sigma += partial[slot(j, q)];
    }
    var x0 = Real(0.0);
    if j < m {
        x0 = work[p0 + j * n + j];
    }
    let total = sigma + x0 * x0;
    let xnorm = real_sqrt(total);
    // Nothing below x0 to annihilate: H = I (LAPACK's larfg), exact; a reflection
    // would only add rounding.
    var alpha = x0;
    var tau = Real(0.0);
    if sigma != Real(0.0) {
        alpha = select(-xnorm, xnorm, x0 < Real(0.0));
        tau = Real(1.0) / (total + abs(x0) * xnorm);
    }
    if j < m {
        right[j * stride + j] = x0 - alpha;
        left[j * stride + b + j] = x0 - alpha;
        work[p0 + j * n + j] = alpha;
    }
    t_local[j * PANEL_COLS + j] = tau;
}

@compute @workgroup_size(PANEL_WG)
fn panel(@builtin(local_invocation_index) lid: u32) {
    let n = params.n;
    let b = params.b;
    let m = n - params.col - b;
    // P[i, j] = work[p0 + i n + j]
    let p0 = params.mat * n * n + (params.col + b) * n + params.col;
    let stride = 2u * b; // of left and right
    let l = lid % PANEL_COLS;
    let g = lid / PANEL_COLS;
    for (var i = lid; i < PANEL_COLS * PANEL_COLS; i += PANEL_WG) {
        t_local[i] = Real(0.0);
    }
    var ss = Real(0.0);
    if l == 0u {
        ss = take_column(p0, n, m, stride, b, 0u, g);
    }
    partial[lid] = ss;

    for (var j = 0u; j < b; j++) {
        workgroupBarrier();
        storageBarrier();
        if lid == 0u {
            form_reflector(p0, n, m, stride, b, j);
        }
        workgroupBarrier();
        storageBarrier();
        let tau = t_local[j * PANEL_COLS + j];

        // Products of v with the columns to its right (to update them) and with the
        // reflectors to its left (for T's column j), over rows j .. m.
        var d = Real(0.0);
        if l < b && l != j {
            for (var i = first_row(j, g); i < m; i += ROW_GROUPS) {
                var other: Real;
                if l > j {
                    other = work[p0 + i * n + l];
                } else {
                    other = right[i * stride + l];
                }
                d += right[i * stride + j] * other;
            }
        }
        partial[lid] = d;
        workgroupBarrier();
        if g == 0u {
            var s = Real(0.0);
            for (var q = 0u; q < ROW_GROUPS; q++) {
                s += partial[slot(l, q)];
            }
            dots[l] = s;
        }
        workgroupBarrier();

        // H_j applied to the columns to the right; column j + 1, once updated, taken
        // for the next reflector by the same invocations (same rows).
        // T[0..j, j] = -tau T[0..j, 0..j] V^T v.
        ss = Real(0.0);
        if l > j && l < b {
            let f = tau * dots[l];
            for (var i = first_row(j, g); i < m; i += ROW_GROUPS) {
                work[p0 + i * n + l] -= f * right[i * stride + j];
            }
            if l == j + 1u {
                ss = take_column(p0, n, m, stride, b, l, g);
            }
        }
        if g == 0u && l < j {
            var s = Real(0.0);
            for (var q = l; q < j; q++) {
                s += t_local[l * PANEL_COLS + q] * dots[q];
            }
            t_local[l * PANEL_COLS + j] = -tau * s;
        }
        partial[lid] = ss;
    }
    workgroupBarrier();
    for (var i = lid; i < b * b; i += PANEL_WG) {
        tfac[i] = t_local[(i / b) * PANEL_COLS + i % b];
    }
}

const BAND_WG: u32 = 256u;

// W[i, l] -= (V M)[i, l] / 2 over the panel's m = n - c - b rows, both copies written.
@compute @workgroup_size(BAND_WG)
fn finish_w(id: Invocation) {
    let b = params.b;
    let m = params.n - params.col - b;
    let at = flat_index(id, BAND_WG);
    if at >= m * b {
        return;
    }
    let i = at / b;
    let l = at % b;
    let stride = 2u * b;
    var vm = Real(0.0);
    for (var k = 0u; k < b; k++) {
        vm += right[i * stride + k] * tz[k * b + l];
    }
    let w = left[i * stride + l] - Real(0.5) * vm;
    left[i * stride + l] = w;
    right[i * stride + b + l] = w;
}

@compute @workgroup_size(BAND_WG)
fn extract_band(id: Invocation) {
    let n = params.n;
    let width = params.b + 1u;
    let i = flat_index(id, BAND_WG);
    if i >= n * width {
        return;
    }
    let j = i / width;
    let k = i % width;
    var x = Real(0.0);
    if j + k < n {
        x = work[params.mat * n * n + (j + k) * n + j];
    }
    band[params.mat * n * width + i] = x;
}
