// vector: level-1 and level-2 BLAS-like operations in Real (f32 or f64, from the
// precision prelude), for the Krylov solvers (Lanczos, power, Golub-Kahan). Data,
// accumulators and alpha/beta are all Real; the prelude's real_sqrt gives nrm2 its square
// root in either precision.
//
// The *_scalar entry points and vector_normalize take their scalar from a device buffer
// `s` instead of params: a step's norm or Rayleigh quotient is written there by a dot
// product or nrm2 (vector_finish) and read back from there, so a block of solver steps is
// recorded into one submission with no readback in between.
//
// Vectors are flat arrays; A is a matrix with n columns stored row-major, of which the
// first `rows` rows are used (Lanczos keeps its basis as the rows of A).
//
// Entry points:
//   vector_axpy:            y[i] += alpha * x[i],  i < n
//   vector_scale:           y[i] *= alpha,         i < n  (in place: one read_write binding)
//   vector_copy:            y[i] = x[i],           i < n
//   vector_dot_partials:    out[g] = sum over i = g, g + G, g + 2G, ... < n of x[i] * x2[i]
//   vector_sum_sq_partials: out[g] = same with x[i]^2
//   vector_finish:          out[0] = sum of partials[0..count], or its sqrt if take_sqrt
//   vector_gemv_n:          y[r] = alpha * sum_j A[r, j] x[j] + beta * y[r],  r < rows
//   vector_gemv_rows:       the same, split differently (below)
//   vector_gemv_t:          y[j] = alpha * sum_{r < rows} A[r, j] x[r] + beta * y[j],  j < n
//   vector_set_row:         a_out[row, j] = x[j],  j < n
//   vector_get_row:         y[j] = a[row, j],      j < n
//   vector_normalize:       y[i] = x[i] / s[index];  a_out[row, i] = y[i],  i < n
//   vector_div_scalar:      y[i] = x[i] / s[index],  i < n
//   vector_axpy_scalar:     y[i] += c * s[index] * x[i], c = -1 if negate else 1, i < n
// With beta == 0 the gemvs do not read y (BLAS semantics: NaN in y does not leak).
// A zero or non-finite device divisor gives Inf/NaN, as IEEE arithmetic does: the host
// reads the divisor back with the block and discards what followed it (breakdown) or
// stops with an error (non-finite).
//
// Bindings (each entry point binds only what it uses, in this order):
//   x         (read)        n (gemv_n, gemv_rows) / rows (gemv_t) / n (the rest)
//   x2        (read)        n, the second operand of a dot product
//   a         (read)        at least (rows or row + 1) x n
//   partials  (read)        count, the first stage of a dot product
//   s         (read)        at least index + 1 device scalars (*_scalar, normalize)
//   y         (read_write)  output vector; scale updates it in place
//   a_out     (read_write)  the matrix set_row (and normalize) writes one row of
//   out       (read_write)  partial sums (stage 1) or the result (stage 2)
//   params    (uniform)     sizes, index and negate, then alpha and beta
//
// Work split:
// - Elementwise ops (the device-scalar ones included: every invocation reads the same
//   scalar), gemv_t, set_row, get_row: one invocation per element (column), WG
//   per workgroup; the host lays the workgroups out with grid_1d, so element
//   (wg.x + wg.y * nwg.x) * WG + lid. gemv_t loops over the rows: neighbouring
//   invocations read neighbouring columns of a row, so the reads are coalesced.
// - gemv_n: one workgroup per output row (grid_1d); invocation l sums columns
//   l, l + WG, ... of the row, then a tree in workgroup memory sums the WG partials.
// - gemv_rows: WG / ROW_LANES rows per workgroup, ROW_LANES neighbouring invocations
//   per row (neighbouring columns: a row's lanes read one contiguous stretch), each
//   summing every ROW_LANES-th column; after one barrier the row's first lane adds its
//   ROW_LANES partials in order. On a CPU driver each barrier switches between all of a
//   workgroup's SIMD groups, so gemv_n's eight per row cost far more than the
//   arithmetic: 5x at n = 300 in Lanczos on lavapipe (docs/PERFORMANCE.md).
//   ops::vector_split::GemvSplit chooses between the two.
// - Dot products in two stages: G workgroups (G <= 1024, one dimension) each sum a
//   grid-strided share of the products into out[g] (sequential per invocation, then a
//   tree), then one workgroup sums the G partials (G / WG in sequence per invocation,
//   then a tree). Each result is a sum of at most n / (G WG) + log2(WG) + G / WG +
//   log2(WG) rounding steps deep, which keeps the result accurate to ~1e-5 (Real) or
//   ~1e-14 (f64) relative for n up to tens of millions. The host picks G
//   (ops::vector_split::dot_partials): one element per invocation on GPUs, up to 128
//   on CPU drivers, where each workgroup's tree costs more than its sums.
// Sums of squares are not rescaled (unlike BLAS nrm2): they overflow only for entries
// beyond ~1e19 (Real) or ~1e154 (f64).

struct Params {
    n: u32,
    rows: u32,
    row: u32,
    count: u32,
    take_sqrt: u32,
    index: u32,
    negate: u32,
    _pad: u32,
    // Offset 32, a multiple of 8 as f64 needs; the host fills both through RealPair.
    alpha: Real,
    beta: Real,
}

@group(0) @binding(0) var<storage, read> x: array<Real>;
@group(0) @binding(1) var<storage, read> x2: array<Real>;
@group(0) @binding(2) var<storage, read> a: array<Real>;
@group(0) @binding(3) var<storage, read> partials: array<Real>;
@group(0) @binding(4) var<storage, read> s: array<Real>;
@group(0) @binding(5) var<storage, read_write> y: array<Real>;
@group(0) @binding(6) var<storage, read_write> a_out: array<Real>;
@group(0) @binding(7) var<storage, read_write> out: array<Real>;
@group(0) @binding(8) var<uniform> params: Params;

// gemv_n and the dot products reduce with sum_over_workgroup (shaders/common.wgsl), so
// every entry point uses its workgroup size.
const WG: u32 = REDUCTION_WG;

// alpha * sum + beta * y[i], without reading y when beta == 0.
fn gemv_store(i: u32, sum: Real) {
    var v = params.alpha * sum;
    if params.beta != Real(0.0) {
        v += params.beta * y[i];
    }
    y[i] = v;
}

@compute @workgroup_size(WG)
fn vector_axpy(id: Invocation) {
    let i = flat_index(id, WG);
    if i < params.n {
        y[i] += params.alpha * x[i];
    }
}

@compute @workgroup_size(WG)
fn vector_scale(id: Invocation) {
    let i = flat_index(id, WG);
    if i < params.n {
        y[i] *= params.alpha;
    }
}

@compute @workgroup_size(WG)
fn vector_copy(id: Invocation) {
    let i = flat_index(id, WG);
    if i < params.n {
        y[i] = x[i];
    }
}

@compute @workgroup_size(WG)
fn vector_dot_partials(id: Invocation) {
    let stride = id.nwg.x * WG;
    var sum = Real(0.0);
    for (var i = id.wg.x * WG + id.lid; i < params.n; i += stride) {
        sum += x[i] * x2[i];
    }
    let total = sum_over_workgroup(id.lid, sum);
    if id.lid == 0u {
        out[id.wg.x] = total;
    }
}

@compute @workgroup_size(WG)
fn vector_sum_sq_partials(id: Invocation) {
    let stride = id.nwg.x * WG;
    var sum = Real(0.0);
    for (var i = id.wg.x * WG + id.lid; i < params.n; i += stride) {
        let v = x[i];
        sum += v * v;
    }
    let total = sum_over_workgroup(id.lid, sum);
    if id.lid == 0u {
        out[id.wg.x] = total;
    }
}

// Launched as a single workgroup.
@compute @workgroup_size(WG)
fn vector_finish(@builtin(local_invocation_index) lid: u32) {
    var sum = Real(0.0);
    for (var g = lid; g < params.count; g += WG) {
        sum += partials[g];
    }
    let total = sum_over_workgroup(lid, sum);
    if lid == 0u {
        if params.take_sqrt != 0u {
            out[0] = real_sqrt(total);
        } else {
            out[0] = total;
        }
    }
}

@compute @workgroup_size(WG)
fn vector_gemv_n(id: Invocation) {
    let r = flat_group(id);
    let row_in_range = r < params.rows;
    var sum = Real(0.0);
    if row_in_range {
        let start = r * params.n;
        for (var j = id.lid; j < params.n; j += WG) {
            sum += a[start + j] * x[j];
        }
    }
    let total = sum_over_workgroup(id.lid, sum);
    if row_in_range && id.lid == 0u {
        gemv_store(r, total);
    }
}

// Invocations per row of vector_gemv_rows: a power of two dividing WG, set by the host
// (GEMV_ROW_LANES in ops/vector_split.rs; ops/vector.rs lays out the workgroups from
// it).
override ROW_LANES: u32 = 8u;

@compute @workgroup_size(WG)
fn vector_gemv_rows(id: Invocation) {
    let r = flat_group(id) * (WG / ROW_LANES) + id.lid / ROW_LANES;
    let lane = id.lid % ROW_LANES;
    var sum = Real(0.0);
    if r < params.rows {
        let start = r * params.n;
        for (var j = lane; j < params.n; j += ROW_LANES) {
            sum += a[start + j] * x[j];
        }
    }
    reduction_scratch[id.lid] = sum;
    workgroupBarrier();
    if r < params.rows && lane == 0u {
        var total = Real(0.0);
        for (var k = 0u; k < ROW_LANES; k++) {
            total += reduction_scratch[id.lid + k];
        }
        gemv_store(r, total);
    }
}

@compute @workgroup_size(WG)
fn vector_gemv_t(id: Invocation) {
    let j = flat_index(id, WG);
    if j >= params.n {
        return;
    }
    var sum = Real(0.0);
    for (var r = 0u; r < params.rows; r++) {
        sum += a[r * params.n + j] * x[r];
    }
    gemv_store(j, sum);
}

@compute @workgroup_size(WG)
fn vector_set_row(id: Invocation) {
    let j = flat_index(id, WG);
    if j < params.n {
        a_out[params.row * params.n + j] = x[j];
    }
}

@compute @workgroup_size(WG)
fn vector_get_row(id: Invocation) {
    let j = flat_index(id, WG);
    if j < params.n {
        y[j] = a[params.row * params.n + j];
    }
}

@compute @workgroup_size(WG)
fn vector_normalize(id: Invocation) {
    let i = flat_index(id, WG);
    if i < params.n {
        let v = x[i] / s[params.index];
        y[i] = v;
        a_out[params.row * params.n + i] = v;
    }
}

@compute @workgroup_size(WG)
fn vector_div_scalar(id: Invocation) {
    let i = flat_index(id, WG);
    if i < params.n {
        y[i] = x[i] / s[params.index];
    }
}

@compute @workgroup_size(WG)
fn vector_axpy_scalar(id: Invocation) {
    let i = flat_index(id, WG);
    if i < params.n {
        var c = s[params.index];
        if params.negate != 0u {
            c = -c;
        }
        y[i] += c * x[i];
    }
}
