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
//   goes to `v` and to `vwv` columns [0, b) and [2b, 3b); T (b x b, upper triangular)
//   to `tfac`.
//   The host then records, with the matmul kernels on views of these buffers:
//     X = V T;  W = A22 X (= Y T for Y = A22 V; into `vwv` columns [b, 2b));
//     M = X^T W (= T^T V^T Y T);  W -= V M / 2;
//     A22 -= [W | V] [V | W]^T = W V^T + V W^T (columns [b, 3b) and [0, 2b) of `vwv`),
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
// Work split of `panel`: invocation l owns column l of the panel, which it copies into
// `scratch` (transposed: its rows contiguous) and walks all of, so that only the
// reflector needs sharing: one barrier per column. Invocation j forms reflector
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
//   vwv    (read_write)  [n, 3b] [V | W | V] of the panel being reduced: W once, so
//                        that the products that finish it write it in one place
//   v      (read_write)  [n, b] V again, where those products read it (a binding
//                        written in a launch must not alias another)
//   tfac   (read_write)  [b, b] T
//   band   (read_write)  [count, n, b + 1] the lower bands
//   params (read)        n, b, the panel's first column c, the matrix
//   scratch (read_write) [b, ceil(m / 4)] vec4s: the panel transposed, during `panel`

struct Params {
    n: u32,
    b: u32,
    col: u32,
    // Which matrix of a stack: work holds [count, n, n], band [count, n, b + 1].
    mat: u32,
}

@group(0) @binding(0) var<storage, read_write> work: array<Real>;
@group(0) @binding(1) var<storage, read_write> vwv: array<Real>;
@group(0) @binding(2) var<storage, read_write> v: array<Real>;
@group(0) @binding(3) var<storage, read_write> tfac: array<Real>;
@group(0) @binding(4) var<storage, read_write> band: array<Real>;
// In a storage buffer, not a uniform one: lavapipe folds a uniform buffer's values into
// the shader where they bound loops, and compiled `panel` anew for each panel's column
// (the first launches of a solve took 4-6 ms instead of about 1; docs/PERFORMANCE.md).
@group(0) @binding(5) var<storage, read> params: Params;

// The most columns a panel has (b <= PANEL_COLS; MAX_BAND in ops/bandreduce.rs), and
// the panel kernel's workgroup size.
const PANEL_COLS: u32 = 32u;

// tau_j of each reflector, from the invocation that formed it.
var<workgroup> taus: array<Real, PANEL_COLS>;
// vdots[l * PANEL_COLS + j] = v_l . v_j for l < j, by invocation l.
var<workgroup> vdots: array<Real, PANEL_COLS * PANEL_COLS>;

// The panel, transposed, while it is reduced: column l of P is
// scratch[l * m4 + i / 4][i % 4] for rows i in [0, m), zero in the rows past m up to
// 4 m4. The invocation that owns a column reads four of its rows per load, where P's rows
// are n apart: on lavapipe every load an invocation makes costs about the same whatever
// its width, and the panel was bound by them (docs/PERFORMANCE.md, ninth session).
// Column j's rows above j are zeroed when reflector j is formed (R goes to `work`), so
// that column holds v_j and every product over it may start at the vec4 holding row j.
@group(0) @binding(7) var<storage, read_write> scratch: array<vec4<Real>>;

// The panel's geometry, the same for every invocation, set once by `panel`:
// P[i, j] = work[p0 + i n + j] for rows i in [0, m); V[i, j] = v[i b + j];
// m4 = ceil(m / 4), the vec4s of a column of `scratch`.
struct PanelShape {
    p0: u32,
    n: u32,
    m: u32,
    b: u32,
    m4: u32,
}

var<private> shape: PanelShape;

fn at_p(i: u32, j: u32) -> u32 {
    return shape.p0 + i * shape.n + j;
}

// The vec4 of column l of the transposed panel holding rows 4 r .. 4 r + 3.
fn at_s(r: u32, l: u32) -> u32 {
    return l * shape.m4 + r;
}

// Row i of column l of the panel, zero past its last row.
fn panel_or_zero(i: u32, l: u32) -> Real {
    if i < shape.m {
        return work[at_p(i, l)];
    }
    return Real(0.0);
}

// Rows 4 r .. 4 r + 3 of column l of the panel.
fn four_rows(r: u32, l: u32) -> vec4<Real> {
    let i = 4u * r;
    return vec4<Real>(
        panel_or_zero(i, l),
        panel_or_zero(i + 1u, l),
        panel_or_zero(i + 2u, l),
        panel_or_zero(i + 3u, l),
    );
}

// Rows per iteration of the row loops, two vec4s (see `max_panel_rows` in
// ops/bandreduce.rs: lavapipe ends an invocation's loops after 65,535 iterations in all).
const ROWS_PER_STEP: u32 = 8u;

// Column l of the panel into column l of `scratch`.
fn load_column(l: u32) {
    var r = 0u;
    for (; r + 2u <= shape.m4; r += 2u) {
        scratch[at_s(r, l)] = four_rows(r, l);
        scratch[at_s(r + 1u, l)] = four_rows(r + 1u, l);
    }
    if r < shape.m4 {
        scratch[at_s(r, l)] = four_rows(r, l);
    }
}

// Column j of `scratch` (v_j, zero above row j) . column l, from the vec4 holding row j.
fn dot_columns(j: u32, l: u32) -> Real {
    var d = Real(0.0);
    var r = j / 4u;
    for (; r + 2u <= shape.m4; r += 2u) {
        d += dot(scratch[at_s(r, j)], scratch[at_s(r, l)])
            + dot(scratch[at_s(r + 1u, j)], scratch[at_s(r + 1u, l)]);
    }
    if r < shape.m4 {
        d += dot(scratch[at_s(r, j)], scratch[at_s(r, l)]);
    }
    return d;
}

// Column l of `scratch` -= f v_j (rows above j are unchanged: v_j is zero there).
fn apply_reflector(j: u32, l: u32, f: Real) {
    var r = j / 4u;
    for (; r + 2u <= shape.m4; r += 2u) {
        scratch[at_s(r, l)] -= f * scratch[at_s(r, j)];
        scratch[at_s(r + 1u, l)] -= f * scratch[at_s(r + 1u, j)];
    }
    if r < shape.m4 {
        scratch[at_s(r, l)] -= f * scratch[at_s(r, j)];
    }
}

// The sum of squares of column l below its diagonal (rows l + 1 .. m).
fn below_diagonal_squares(l: u32) -> Real {
    let r0 = (l + 1u) / 4u;
    if r0 >= shape.m4 {
        return Real(0.0);
    }
    // Rows 4 r0 .. l of the first vec4 are on or above the diagonal.
    let first = scratch[at_s(r0, l)];
    let rows = vec4<u32>(4u * r0) + vec4<u32>(0u, 1u, 2u, 3u);
    let below = select(vec4<Real>(Real(0.0)), first, rows > vec4<u32>(l));
    var ss = dot(below, below);
    var r = r0 + 1u;
    for (; r + 2u <= shape.m4; r += 2u) {
        let x = scratch[at_s(r, l)];
        let y = scratch[at_s(r + 1u, l)];
        ss += dot(x, x) + dot(y, y);
    }
    if r < shape.m4 {
        let x = scratch[at_s(r, l)];
        ss += dot(x, x);
    }
    return ss;
}

// Reflector j from the sum of squares `sigma` of its column below x0, by the invocation
// that owns the column: R[.., j] (rows 0 ..= j, alpha on the diagonal) into `work`;
// column j of `scratch` becomes v_j = x - alpha e_j, zero above row j; tau_j into `taus`.
fn form_reflector(j: u32, sigma: Real) {
    var x0 = Real(0.0);
    if j < shape.m {
        x0 = scratch[at_s(j / 4u, j)][j % 4u];
    }
    let reflector = householder(x0, sigma);
    let alpha = reflector.x;
    let tau = reflector.y;
    for (var q = 0u; q < min(j, shape.m); q++) {
        work[at_p(q, j)] = scratch[at_s(q / 4u, j)][q % 4u];
        scratch[at_s(q / 4u, j)][q % 4u] = Real(0.0);
    }
    if j < shape.m {
        work[at_p(j, j)] = alpha;
        scratch[at_s(j / 4u, j)][j % 4u] = x0 - alpha;
    }
    taus[j] = tau;
}

// Row i of column l of V (all three copies); zero in the panel below R's diagonal. Nothing
// for rows past the panel's last (`store_column` takes eight at a time): there, `work`
// is the next matrix of a stack.
fn store_row(i: u32, l: u32, x: Real) {
    if i >= shape.m {
        return;
    }
    let b = shape.b;
    v[i * b + l] = x;
    vwv[i * 3u * b + l] = x;
    vwv[i * 3u * b + 2u * b + l] = x;
    if i > l {
        work[at_p(i, l)] = Real(0.0);
    }
}

// Column l of `scratch` (v_l) into V, and zeros into the panel below R's diagonal.
fn store_column(l: u32) {
    var r = 0u;
    for (; r + 2u <= shape.m4; r += 2u) {
        // Unrolled: an inner loop would count against lavapipe's cap.
        let x = scratch[at_s(r, l)];
        let y = scratch[at_s(r + 1u, l)];
        let i = 4u * r;
        store_row(i, l, x.x);
        store_row(i + 1u, l, x.y);
        store_row(i + 2u, l, x.z);
        store_row(i + 3u, l, x.w);
        store_row(i + 4u, l, y.x);
        store_row(i + 5u, l, y.y);
        store_row(i + 6u, l, y.z);
        store_row(i + 7u, l, y.w);
    }
    if r < shape.m4 {
        let x = scratch[at_s(r, l)];
        for (var c = 0u; c < 4u; c++) {
            store_row(4u * r + c, l, x[c]);
        }
    }
}

// The panel's shape, from `params`, into `shape`.
fn panel_shape() {
    let n = params.n;
    let b = params.b;
    let p0 = params.mat * n * n + (params.col + b) * n + params.col;
    let m = n - params.col - b;
    shape = PanelShape(p0, n, m, b, (m + 3u) / 4u);
}

// The panel's shape into `shape`, and column l into `scratch` by invocation l; returns
// the sum of squares below the diagonal of column 0 (for invocation 0; zero elsewhere).
fn panel_begin(l: u32) -> Real {
    let b = params.b;
    panel_shape();
    // Each invocation loads and first reads its own column: no barrier before the loop.
    if l < b {
        load_column(l);
    }
    if l == 0u {
        return below_diagonal_squares(0u);
    }
    return Real(0.0);
}

// Reflector j, formed by invocation j from its column (`sigma` its sum of squares below
// the diagonal), then visible to every invocation.
fn publish_reflector(l: u32, j: u32, sigma: Real) {
    if l == j {
        form_reflector(j, sigma);
    }
    workgroupBarrier();
    storageBarrier();
}

@compute @workgroup_size(PANEL_COLS)
fn panel(@builtin(local_invocation_index) l: u32) {
    let b = params.b;
    var sigma = panel_begin(l);
    for (var j = 0u; j < b; j++) {
        publish_reflector(l, j, sigma);
        if l < b && l != j {
            let d = dot_columns(j, l);
            if l > j {
                apply_reflector(j, l, taus[j] * d);
                if l == j + 1u {
                    sigma = below_diagonal_squares(l);
                }
            } else {
                vdots[l * PANEL_COLS + j] = d;
            }
        }
    }
    panel_end(l);
}

// After the last reflector: V and R out of `scratch` by invocation l, and row l of T.
fn panel_end(l: u32) {
    let b = params.b;
    workgroupBarrier();
    if l < b {
        store_column(l);
    }
    t_row(l);
}

// Row l of T, into `tfac`, once `taus` and `vdots` are complete.
fn t_row(l: u32) {
    let b = params.b;
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
