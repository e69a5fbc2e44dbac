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
// Work split of `panel`: invocation l owns column l of the panel (neighbouring
// invocations touch neighbouring addresses of a row) and walks all of its rows, so that
// only the reflector needs sharing: one barrier per column. Invocation j forms reflector
// j from its own column; then every other invocation takes its product with v_j, and
// those to the right apply H_j to their column (the one at j + 1 then takes its column
// for the next reflector), those to the left keep v_l . v_j for T, which is formed once
// at the end, row l by invocation l. (On a CPU driver a barrier switches between every
// SIMD group of the workgroup: a row split, 256 invocations, four barriers per column,
// took 15-45% longer per panel on lavapipe at n = 300, docs/PERFORMANCE.md.)
// The row loops take ROWS_PER_STEP rows per iteration, unrolled by hand, because
// lavapipe ends an invocation's loops after 65,535 iterations in all
// (ops/bandreduce.rs max_panel_rows).
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

// The most columns a panel has (b <= PANEL_COLS; MAX_BAND in ops/bandreduce.rs), and
// the panel kernel's workgroup size.
const PANEL_COLS: u32 = 32u;

// tau_j of each reflector, from the invocation that formed it.
var<workgroup> taus: array<Real, PANEL_COLS>;
// vdots[l * PANEL_COLS + j] = v_l . v_j for l < j, by invocation l.
var<workgroup> vdots: array<Real, PANEL_COLS * PANEL_COLS>;

// The panel's geometry, the same for every invocation, set once by `panel`:
// P[i, j] = work[p0 + i n + j] for rows i in [0, m); V[i, j] = right[i stride + j].
struct PanelShape {
    p0: u32,
    n: u32,
    m: u32,
    b: u32,
    stride: u32,
}

var<private> shape: PanelShape;

fn at_p(i: u32, j: u32) -> u32 {
    return shape.p0 + i * shape.n + j;
}

fn at_v(i: u32, j: u32) -> u32 {
    return i * shape.stride + j;
}

// v_j[i] P[i, l] summed over rows i .. i + 3.
fn four_with_panel(i: u32, j: u32, l: u32) -> Real {
    return right[at_v(i, j)] * work[at_p(i, l)]
        + right[at_v(i + 1u, j)] * work[at_p(i + 1u, l)]
        + right[at_v(i + 2u, j)] * work[at_p(i + 2u, l)]
        + right[at_v(i + 3u, j)] * work[at_p(i + 3u, l)];
}

// v_j[i] v_l[i] summed over rows i .. i + 3.
fn four_with_v(i: u32, j: u32, l: u32) -> Real {
    return right[at_v(i, j)] * right[at_v(i, l)]
        + right[at_v(i + 1u, j)] * right[at_v(i + 1u, l)]
        + right[at_v(i + 2u, j)] * right[at_v(i + 2u, l)]
        + right[at_v(i + 3u, j)] * right[at_v(i + 3u, l)];
}

// Rows per iteration of the row loops (see `max_panel_rows` in ops/bandreduce.rs).
const ROWS_PER_STEP: u32 = 8u;

// v_j . x over rows [j, m) (v_j is zero above j), x column l of the panel (l > j) or
// of V (l < j). Two loops, not one with a branch inside: a SIMD group whose invocations
// take both would run both loads in every iteration.
fn dot_with_v(j: u32, l: u32) -> Real {
    var d = Real(0.0);
    var i = j;
    if l > j {
        for (; i + ROWS_PER_STEP <= shape.m; i += ROWS_PER_STEP) {
            d += four_with_panel(i, j, l) + four_with_panel(i + 4u, j, l);
        }
        for (; i < shape.m; i++) {
            d += right[at_v(i, j)] * work[at_p(i, l)];
        }
    } else {
        for (; i + ROWS_PER_STEP <= shape.m; i += ROWS_PER_STEP) {
            d += four_with_v(i, j, l) + four_with_v(i + 4u, j, l);
        }
        for (; i < shape.m; i++) {
            d += right[at_v(i, j)] * right[at_v(i, l)];
        }
    }
    return d;
}

// Column l of the panel -= f v_j, rows i .. i + 3.
fn four_updates(i: u32, j: u32, l: u32, f: Real) {
    work[at_p(i, l)] -= f * right[at_v(i, j)];
    work[at_p(i + 1u, l)] -= f * right[at_v(i + 1u, j)];
    work[at_p(i + 2u, l)] -= f * right[at_v(i + 2u, j)];
    work[at_p(i + 3u, l)] -= f * right[at_v(i + 3u, j)];
}

// Column l of the panel -= f v_j over rows [j, m).
fn apply_reflector(j: u32, l: u32, f: Real) {
    var i = j;
    for (; i + ROWS_PER_STEP <= shape.m; i += ROWS_PER_STEP) {
        four_updates(i, j, l, f);
        four_updates(i + 4u, j, l, f);
    }
    for (; i < shape.m; i++) {
        work[at_p(i, l)] -= f * right[at_v(i, j)];
    }
}

// Row i of column j of the panel moved into V (both copies) and zeroed in the panel;
// returns its square.
fn take_row(i: u32, j: u32) -> Real {
    let x = work[at_p(i, j)];
    right[at_v(i, j)] = x;
    left[at_v(i, shape.b + j)] = x;
    work[at_p(i, j)] = Real(0.0);
    return x * x;
}

// Column j of the panel below its diagonal moved into V (both copies), zeroed in the
// panel (R has zeros there); returns their sum of squares. Rows above the diagonal of
// V's column are zeroed too.
fn take_column(j: u32) -> Real {
    var ss = Real(0.0);
    var i = j + 1u;
    for (; i + ROWS_PER_STEP <= shape.m; i += ROWS_PER_STEP) {
        ss += take_row(i, j) + take_row(i + 1u, j) + take_row(i + 2u, j) + take_row(i + 3u, j)
            + take_row(i + 4u, j) + take_row(i + 5u, j) + take_row(i + 6u, j)
            + take_row(i + 7u, j);
    }
    for (; i < shape.m; i++) {
        ss += take_row(i, j);
    }
    for (var r = 0u; r < min(j, shape.m); r++) {
        right[at_v(r, j)] = Real(0.0);
        left[at_v(r, shape.b + j)] = Real(0.0);
    }
    return ss;
}

// Reflector j from the sum of squares `sigma` of its column below x0, by the invocation
// that owns the column: v_j = x0 - alpha, R[j, j] = alpha, tau_j into `taus`.
fn form_reflector(j: u32, sigma: Real) {
    var x0 = Real(0.0);
    if j < shape.m {
        x0 = work[at_p(j, j)];
    }
    let reflector = householder(x0, sigma);
    let alpha = reflector.x;
    let tau = reflector.y;
    if j < shape.m {
        right[at_v(j, j)] = x0 - alpha;
        left[at_v(j, shape.b + j)] = x0 - alpha;
        work[at_p(j, j)] = alpha;
    }
    taus[j] = tau;
}

@compute @workgroup_size(PANEL_COLS)
fn panel(@builtin(local_invocation_index) l: u32) {
    let n = params.n;
    let b = params.b;
    let p0 = params.mat * n * n + (params.col + b) * n + params.col;
    // 2b: the row stride of `left` and `right`.
    shape = PanelShape(p0, n, n - params.col - b, b, 2u * b);
    var sigma = Real(0.0);
    if l == 0u {
        sigma = take_column(0u);
    }
    for (var j = 0u; j < b; j++) {
        if l == j {
            form_reflector(j, sigma);
        }
        workgroupBarrier();
        storageBarrier();
        if l < b && l != j {
            let d = dot_with_v(j, l);
            if l > j {
                apply_reflector(j, l, taus[j] * d);
                if l == j + 1u {
                    sigma = take_column(l);
                }
            } else {
                vdots[l * PANEL_COLS + j] = d;
            }
        }
    }
    workgroupBarrier();
    // Row l of T (Q = H_0 ... H_{b-1} = I - V T V^T, LAPACK larft): T[l, l] = tau_l,
    // T[l, j] = -tau_j sum_{q in [l, j)} T[l, q] v_q . v_j; row l needs only itself.
    if l < b {
        var row: array<Real, PANEL_COLS>;
        for (var j = 0u; j < b; j++) {
            var t = Real(0.0);
            if j == l {
                t = taus[l];
            } else if j > l {
                var s = Real(0.0);
                for (var q = l; q < j; q++) {
                    s += row[q] * vdots[q * PANEL_COLS + j];
                }
                t = -taus[j] * s;
            }
            row[j] = t;
            tfac[l * b + j] = t;
        }
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
