// tridiagonalize: Householder reduction of symmetric matrices to tridiagonal form,
// Q^T A Q = T (LAPACK sytd2, unblocked), for the dense eigensolver (linalg/dense.rs):
// the host then finds the eigenvalues of T (linalg/tridiag.rs). One body in `Real`,
// instantiated per precision by a prelude (ops/shaders.rs).
//
// Column k (k = 0 .. n-2) with x = A[k+1.., k] of length m = n-k-1:
//   alpha = -sign(x0) ||x||, v = x - alpha e1, tau = 2 / v.v
// except that when x is zero below x0, H = I: tau = 0, alpha = x0 (LAPACK's larfg). The
// last column (m = 1) is such a case; reflecting it anyway cost a 2 x 2 matrix 8 u ||A||.
//   p = tau A22 v,  w = p - (tau/2)(p.v) v,  A22 -= v w^T + w v^T
// which applies H = I - tau v v^T on both sides; d[k] = A[k, k], e[k] = alpha.
// Backward stable: T is the exact reduction of A + E, ||E|| bounded in linalg/dense.rs.
//
// Two ways to run it, the same reduction (sums taken in another order):
// - one workgroup per matrix (`tridiagonalize`): many small matrices in one launch;
// - the wide reduction (`mirror`, then `reflect` and `update` per column), which spreads
//   each column's trailing-matrix work over many workgroups: for large matrices on a
//   GPU, where one workgroup would use one of a hundred cores.
//
// Entry points:
//   tridiagonalize: reduces each of `count` matrices; only the lower triangle of each
//                   input is read (the upper is taken as its mirror image).
//   mirror:         work = a with the upper triangle taken from the lower (wide path).
//   reflect:        one workgroup per matrix, column k: finishes column k-1's update
//                   vector w from `update`'s partial sums, applies column k-1's
//                   reflection to column k, forms column k's reflector (v, tau) and
//                   writes d[k], e[k].
//   update:         many workgroups per matrix: applies column k-1's two-sided update
//                   to the trailing matrix A[k+1.., k+1..] and, in the same pass over
//                   it, sums the products with column k's reflector (p = A22 v) in
//                   partial sums per chunk of rows. Every element is read and written
//                   once per column.
//   The host records mirror, reflect, update, reflect, ..., reflect (n reflects, n - 1
//   updates) in one pass with the same bindings each time: the column index lives on
//   the device (`step`, advanced by reflect), so no launch needs its own parameters.
//
// Bindings:
//   a        (read)        [count, n, n] symmetric matrices, row-major
//   work     (read_write)  [count, n, n] a copy of a, reduced in place
//   tri      (read_write)  [count, 2n]: d[0..n], then e[0..n-1], then a 0
//   scratch  (read_write)  [count, 4n]: two slots of v, then p (overwritten by w)
//   params   (uniform)     n, count, and the columns [k_begin, k_end) this launch reduces
//   vecs     (read_write)  [count, 3n] wide path: v of even columns, v of odd columns, w
//   psum     (read_write)  [count, CHUNKS n] wide path: update's partial sums of A22 v
//   taus     (read_write)  [count, 2] wide path: tau of even and odd columns
//   step     (read_write)  [count] wide path: the next column reflect reduces (starts 0)
//
// A launch reduces a range of columns, the host records ranges of bounded work into
// one batch: lavapipe was measured to leave a single long launch unfinished past
// about 1e7 element updates (n ~ 240 in one launch), the rest of T unwritten. The first range also copies a into work; the last writes d[n-1].
//
// Work split: one workgroup per matrix (workgroup id wg.x + wg.y * nwg.x), so a batch
// of matrices is one dispatch and each matrix gets exactly the same arithmetic whether
// reduced alone or in a batch. Within a column, invocation l owns elements
// i = l, l + MATRIX_WG, ... of v, p and w, and columns j = l, l + MATRIX_WG, ... of the
// rank-2 update (neighbouring invocations touch neighbouring addresses). Barriers separate
// the phases; reductions are trees in workgroup memory. Sums of squares are not
// rescaled: entries beyond ~1e19 (f32) or ~1e154 (f64) overflow.

struct Params {
    n: u32,
    count: u32,
    k_begin: u32,
    k_end: u32,
}

@group(0) @binding(0) var<storage, read> a: array<Real>;
@group(0) @binding(1) var<storage, read_write> work: array<Real>;
@group(0) @binding(2) var<storage, read_write> tri: array<Real>;
@group(0) @binding(3) var<storage, read_write> scratch: array<Real>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<storage, read_write> vecs: array<Real>;
@group(0) @binding(6) var<storage, read_write> psum: array<Real>;
@group(0) @binding(7) var<storage, read_write> taus: array<Real>;
@group(0) @binding(8) var<storage, read_write> step: array<u32>;

// Invocations per workgroup of the wide reduction (mirror, reflect, update): the
// reduction's (shaders/common.wgsl).
const WG: u32 = REDUCTION_WG;

// Invocations of the one-workgroup-per-matrix reduction. It serves orders below
// WIDE_FROM_ORDER (128, ops/tridiagonalize.rs), where 64 invocations cover a column in
// two elements each; a wider workgroup mostly idles through the 20 barriers per column,
// and lavapipe's barrier cost grows with the invocations it switches between (a 256-wide
// workgroup made quick.yaml's reductions about 4x slower there; docs/PERFORMANCE.md).
// At most REDUCTION_WG: sum_over_invocations uses REDUCTION_WG slots of scratch.
const MATRIX_WG: u32 = 64u;

// The vectors every invocation walks through for each column (v, and the pending
// column's v and w), copied into workgroup memory four rows per vec4 when the trailing
// matrix has at most 4 CACHED4 rows: on lavapipe each load costs about the same
// whatever its width, and these were three of the five loads per element (17.7 -> 14.5
// ms per launch in quick.yaml, docs/PERFORMANCE.md). The rows are walked by two loops,
// the cached one first, rather than by one loop choosing per row: lavapipe runs both
// sides of a branch it cannot prove uniform, but leaves a loop as soon as no invocation
// is in it.
const CACHED4: u32 = 32u;
var<workgroup> cached_v: array<vec4<Real>, CACHED4>;
var<workgroup> cached_pending_v: array<vec4<Real>, CACHED4>;
var<workgroup> cached_pending_w: array<vec4<Real>, CACHED4>;

// scratch[at + 4 r4 .. at + 4 r4 + 3], zero from row `m` on.
fn four_from_scratch(at: u32, r4: u32, m: u32) -> vec4<Real> {
    var x = vec4<Real>(Real(0.0));
    for (var q = 0u; q < 4u; q++) {
        if 4u * r4 + q < m {
            x[q] = scratch[at + 4u * r4 + q];
        }
    }
    return x;
}

@compute @workgroup_size(MATRIX_WG)
fn tridiagonalize(id: Invocation) {
    let mat = flat_group(id);
    if mat >= params.count || params.n == 0u {
        return;
    }
    let n = params.n;
    let base = mat * n * n;
    let tb = mat * 2u * n;

    // work = a, mirrored from the lower triangle.
    if params.k_begin == 0u {
        for (var idx = id.lid; idx < n * n; idx += MATRIX_WG) {
            let i = idx / n;
            let j = idx % n;
            work[base + idx] = a[base + select(idx, j * n + i, j > i)];
        }
    }
    storageBarrier();

    // Column k's rank-2 update is applied in the same pass over the trailing matrix as
    // column k + 1's product A22 v (as the wide reduction does), so each element is read
    // once per column, not twice; column k + 1's own column and diagonal get it on the fly.
    // The update of the launch's last column is applied alone at the end.
    let last = min(params.k_end, n - 1u);
    for (var k = params.k_begin; k < last; k++) {
        let m = n - k - 1u;
        let col = base + (k + 1u) * n + k; // x[i] = work[col + i n]
        let corner = base + (k + 1u) * n + k + 1u; // A22[r, c] = work[corner + r n + c]
        let vb = reflector_slot(mat, n, k); // v, then p (overwritten by w) at vb + n
        let pb = vb + n;
        // Column k - 1's v and w over rows k .. n-1, when its update is still pending.
        let pending = k > params.k_begin;
        let qv = reflector_slot(mat, n, k + 1u);
        let qw = qv + n;

        var ss = Real(0.0);
        for (var i = id.lid; i < m; i += MATRIX_WG) {
            var xi = work[col + i * n];
            if pending {
                xi -= scratch[qv + 1u + i] * scratch[qw] + scratch[qw + 1u + i] * scratch[qv];
            }
            scratch[vb + i] = xi;
            ss += select(xi * xi, Real(0.0), i == 0u);
        }
        storageBarrier();
        let tail = sum_over_invocations(id.lid, ss, MATRIX_WG);
        // Every invocation forms the reflector from the same values.
        let x0 = scratch[vb];
        let reflector = householder(x0, tail);
        let alpha = reflector.x;
        let tau = reflector.y;
        storageBarrier();
        if id.lid == 0u {
            var dk = work[base + k * n + k];
            if pending {
                dk -= scratch[qv] * scratch[qw] + scratch[qw] * scratch[qv];
            }
            scratch[vb] = x0 - alpha;
            tri[tb + k] = dk;
            tri[tb + n + k] = alpha;
        }
        storageBarrier();

        let cached = m <= 4u * CACHED4;
        if cached {
            for (var r4 = id.lid; 4u * r4 < m; r4 += MATRIX_WG) {
                cached_v[r4] = four_from_scratch(vb, r4, m);
                if pending {
                    cached_pending_v[r4] = four_from_scratch(qv + 1u, r4, m);
                    cached_pending_w[r4] = four_from_scratch(qw + 1u, r4, m);
                }
            }
        }
        workgroupBarrier();

        // Column i of A22 (row i, by symmetry) is invocation i's: column k - 1's update
        // applied to it, then p = tau A22 v, and the local share of p.v. Rows four at a
        // time, summed in order.
        var pv = Real(0.0);
        for (var i = id.lid; i < m; i += MATRIX_WG) {
            var sum = Real(0.0);
            if pending {
                let vi = scratch[qv + 1u + i];
                let wi = scratch[qw + 1u + i];
                var r = 0u;
                for (; r + 4u <= m && cached; r += 4u) {
                    let v4 = cached_v[r / 4u];
                    let pv4 = cached_pending_v[r / 4u];
                    let pw4 = cached_pending_w[r / 4u];
                    let at = corner + r * n + i;
                    let x = work[at] - (pv4.x * wi + pw4.x * vi);
                    let y = work[at + n] - (pv4.y * wi + pw4.y * vi);
                    let z = work[at + 2u * n] - (pv4.z * wi + pw4.z * vi);
                    let w = work[at + 3u * n] - (pv4.w * wi + pw4.w * vi);
                    work[at] = x;
                    work[at + n] = y;
                    work[at + 2u * n] = z;
                    work[at + 3u * n] = w;
                    sum += x * v4.x;
                    sum += y * v4.y;
                    sum += z * v4.z;
                    sum += w * v4.w;
                }
                for (; r < m; r++) {
                    let at = corner + r * n + i;
                    let x = work[at] - (scratch[qv + 1u + r] * wi + scratch[qw + 1u + r] * vi);
                    work[at] = x;
                    sum += x * scratch[vb + r];
                }
            } else {
                var r = 0u;
                for (; r + 4u <= m && cached; r += 4u) {
                    let v4 = cached_v[r / 4u];
                    let at = corner + r * n + i;
                    sum += work[at] * v4.x;
                    sum += work[at + n] * v4.y;
                    sum += work[at + 2u * n] * v4.z;
                    sum += work[at + 3u * n] * v4.w;
                }
                for (; r < m; r++) {
                    sum += work[corner + r * n + i] * scratch[vb + r];
                }
            }
            let p = tau * sum;
            scratch[pb + i] = p;
            pv += p * scratch[vb + i];
        }
        let half_k = Real(0.5) * tau * sum_over_invocations(id.lid, pv, MATRIX_WG);
        // w = p - K v, by the invocation that wrote p[i].
        for (var i = id.lid; i < m; i += MATRIX_WG) {
            scratch[pb + i] -= half_k * scratch[vb + i];
        }
        storageBarrier();
    }
    // The last column's update, A22 -= v w^T + w v^T, for the next launch and d[n-1].
    if last > params.k_begin {
        let k = last - 1u;
        let m = n - k - 1u;
        let corner = base + (k + 1u) * n + k + 1u;
        let vb = reflector_slot(mat, n, k);
        let pb = vb + n;
        for (var j = id.lid; j < m; j += MATRIX_WG) {
            let vj = scratch[vb + j];
            let wj = scratch[pb + j];
            for (var r = 0u; r < m; r++) {
                let at = corner + r * n + j;
                work[at] -= scratch[vb + r] * wj + scratch[pb + r] * vj;
            }
        }
        storageBarrier();
    }
    if id.lid == 0u && params.k_end + 1u >= n {
        tri[tb + n - 1u] = work[base + (n - 1u) * n + n - 1u];
        tri[tb + 2u * n - 1u] = Real(0.0);
    }
}

// Where column k's v (n slots, then its p and w, n more) lives in scratch: two such
// slots per matrix, alternating, so column k - 1's stay while column k's are formed.
fn reflector_slot(mat: u32, n: u32, k: u32) -> u32 {
    return (2u * mat + k % 2u) * 2u * n;
}

// ---- The wide reduction -------------------------------------------------------------

// The wide reduction's shape, read by the host from the shader (ops/tridiagonalize.rs):
// columns of the trailing matrix one `update` workgroup covers (a divisor of WG; WG / COLS
// rows at a time), the least rows per chunk, and the most chunks of rows `update` splits
// the trailing matrix into: `reflect` sums CHUNKS partial sums per element, so this
// bounds its single-workgroup work (CHUNKS m reads).
override COLS: u32 = 64u;
override CHUNK_ROWS: u32 = 64u;
override CHUNKS: u32 = 16u;

var<workgroup> column: u32;

// Chunks of rows for a trailing matrix of order m: CHUNK_ROWS or more rows per chunk.
fn chunk_count(m: u32) -> u32 {
    return clamp((m + CHUNK_ROWS - 1u) / CHUNK_ROWS, 1u, CHUNKS);
}

@compute @workgroup_size(WG)
fn mirror(id: Invocation) {
    let n = params.n;
    let idx = flat_group(id) * WG + id.lid;
    if idx >= params.count * n * n {
        return;
    }
    let base = (idx / (n * n)) * n * n;
    let i = (idx % (n * n)) / n;
    let j = idx % n;
    work[idx] = a[base + select(i * n + j, j * n + i, j > i)];
}

@compute @workgroup_size(WG)
fn reflect(id: Invocation) {
    let mat = flat_group(id);
    if mat >= params.count {
        return;
    }
    let n = params.n;
    // The column, read through workgroup memory so that the compiler knows every
    // invocation has the same one (barriers below depend on it).
    if id.lid == 0u {
        column = step[mat];
    }
    let k = workgroupUniformLoad(&column);
    let base = mat * n * n;
    let tb = mat * 2u * n;
    let vb_prev = mat * 3u * n + ((k + 1u) % 2u) * n; // v of column k - 1
    let vb = mat * 3u * n + (k % 2u) * n; // v of column k (replaces column k - 2's)
    let wb = mat * 3u * n + 2u * n; // w of column k - 1
    let pb = mat * CHUNKS * n;

    // w = p - (tau/2)(p.v) v for column k - 1, with p = tau A22 v from update's sums.
    var wk = Real(0.0);
    var vk = Real(0.0);
    if k >= 1u {
        let tau_prev = taus[mat * 2u + (k + 1u) % 2u];
        let chunks = chunk_count(n - k);
        var pv = Real(0.0);
        for (var i = k + id.lid; i < n; i += WG) {
            var sum = Real(0.0);
            for (var c = 0u; c < chunks; c++) {
                sum += psum[pb + c * n + i];
            }
            let p = tau_prev * sum;
            vecs[wb + i] = p;
            pv += p * vecs[vb_prev + i];
        }
        let half_k = Real(0.5) * tau_prev * sum_over_workgroup(id.lid, pv);
        for (var i = k + id.lid; i < n; i += WG) {
            vecs[wb + i] -= half_k * vecs[vb_prev + i];
        }
        storageBarrier();
        wk = vecs[wb + k];
        vk = vecs[vb_prev + k];
    }

    // Column k after column k - 1's update, read as row k (the matrix is kept whole):
    // x_i = A[k, i] - v_i w_k - w_i v_k for i >= k; x_k is d[k]. The reflector's v
    // holds x_i, i > k, then v[k+1] = x0 - alpha.
    var ss = Real(0.0);
    for (var i = k + 1u + id.lid; i < n; i += WG) {
        var xi = work[base + k * n + i];
        if k >= 1u {
            xi -= vecs[vb_prev + i] * wk + vecs[wb + i] * vk;
        }
        vecs[vb + i] = xi;
        ss += select(xi * xi, Real(0.0), i == k + 1u);
    }
    let tail = sum_over_workgroup(id.lid, ss);
    let dk = work[base + k * n + k] - Real(2.0) * vk * wk;
    if k + 1u >= n {
        if id.lid == 0u {
            tri[tb + k] = dk;
            tri[tb + 2u * n - 1u] = Real(0.0);
            step[mat] = k + 1u;
        }
        return;
    }
    var x0 = work[base + k * n + k + 1u];
    if k >= 1u {
        x0 -= vecs[vb_prev + k + 1u] * wk + vecs[wb + k + 1u] * vk;
    }
    let reflector = householder(x0, tail);
    let alpha = reflector.x;
    let tau = reflector.y;
    if id.lid == 0u {
        vecs[vb + k + 1u] = x0 - alpha;
        taus[mat * 2u + k % 2u] = tau;
        tri[tb + k] = dk;
        tri[tb + n + k] = alpha;
        step[mat] = k + 1u;
    }
}

// Workgroup (x: 64 columns, y: a chunk of rows, z: the matrix) of the trailing matrix of
// column k = step - 1. Invocation l covers column x COLS + l % COLS and every
// (WG / COLS)-th row of the chunk from l / COLS: neighbouring invocations touch
// neighbouring addresses.
@compute @workgroup_size(WG)
fn update(id: Invocation) {
    let mat = id.wg.z;
    let n = params.n;
    let k = step[mat] - 1u;
    let lo = k + 1u;
    let m = n - lo;
    let chunks = chunk_count(m);
    let rows = (m + chunks - 1u) / chunks;
    let col = lo + id.wg.x * COLS + id.lid % COLS;
    let row_begin = lo + id.wg.y * rows;
    let row_end = min(row_begin + rows, n);
    let base = mat * n * n;
    let vb_prev = mat * 3u * n + ((k + 1u) % 2u) * n;
    let vb = mat * 3u * n + (k % 2u) * n;
    let wb = mat * 3u * n + 2u * n;

    var acc = Real(0.0);
    if col < n {
        var vc = Real(0.0);
        var wc = Real(0.0);
        if k >= 1u {
            vc = vecs[vb_prev + col];
            wc = vecs[wb + col];
        }
        for (var r = row_begin + id.lid / COLS; r < row_end; r += WG / COLS) {
            let at = base + r * n + col;
            var value = work[at];
            if k >= 1u {
                value -= vecs[vb_prev + r] * wc + vecs[wb + r] * vc;
                work[at] = value;
            }
            acc += value * vecs[vb + r];
        }
    }
    workgroupBarrier();
    reduction_scratch[id.lid] = acc;
    workgroupBarrier();
    if id.lid < COLS && col < n {
        var sum = Real(0.0);
        for (var g = 0u; g < WG / COLS; g++) {
            sum += reduction_scratch[g * COLS + id.lid];
        }
        psum[mat * CHUNKS * n + id.wg.y * n + col] = sum;
    }
}
