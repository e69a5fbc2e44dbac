// matmul: C = alpha * op(A) * op(B) + beta * C in Real (f32 or f64, from the precision
// prelude), row-major storage.
//
// op(A) is m x k: A is stored m x k, or k x m when TRANS_A (then op(A) = A^T).
// op(B) is k x n: B is stored k x n, or n x k when TRANS_B.
// C is m x n. When beta == 0, C is not read (BLAS semantics: NaN in C does not leak).
//
// One launch sums the inner indices k_begin <= kk < k_end only; the host splits a deep
// product into such slices, each accumulated into C with beta = 1 (see MATMUL_K_SLICE in
// engine/ops/matmul.rs for why).
//
// Bindings: a (read), b (read), c (read_write), params (uniform), partial (read_write;
// the split entry points only).
//
// Entry points:
// - matmul_naive: one output per invocation, 16x16 workgroups; the reference variant.
// - matmul_tiled: a 128x128 output tile per 256-invocation workgroup. Each step stages a
//   128xBK slice of op(A) and a BKx128 slice of op(B) in workgroup memory as vec4s, and
//   each invocation accumulates an 8x8 block in registers (rows ty*4+{0..3} and
//   64+ty*4+{0..3}, columns tx*4+{0..3} and 64+tx*4+{0..3}, so that neighbouring
//   invocations read neighbouring vec4s of the staged slices). Loads outside the matrix
//   read 0 and stores outside it are skipped, so any m, n, k works.
//   Global loads are scalar: rows of arbitrary length are not 16-byte aligned.
//   The slice depth BK is 16 in f32 and 8 in f64, so the staged slices take 16 KiB of
//   workgroup memory in both (WebGPU's default limit); each output sums the
//   products of a slice on their own and adds that to its total (blocked summation).
// - matmul_skinny (and matmul_skinny_split): a 128 x 32 tile, 4 x 4 outputs per
//   invocation, for products with few columns (see SKINNY_M below).
// - matmul_split, then matmul_split_sum: the tiled kernel with the depth split over the
//   workgroups' z index (split-k), for products with too few output tiles to fill the
//   device (a 96 x 384 output is 3 tiles: 3 workgroups on a device with dozens of cores,
//   each summing all of a deep k). Split z sums depths [k_begin + z split_len, ...) into
//   partial[z]; matmul_split_sum then writes C = alpha * sum_z partial[z] + beta * C, one
//   output per invocation, adding the splits in order (deterministic).

struct Params {
    m: u32,
    n: u32,
    k: u32,
    k_begin: u32,
    k_end: u32,
    // Split entry points: the depth of one split (a multiple of BK) and the splits.
    split_len: u32,
    splits: u32,
    // Each operand is a view of its buffer: element (r, c) as stored is at
    // offset + r * stride + c, so a product can read or update a block of a larger
    // matrix (the dense eigensolver's trailing matrix) without copying it out.
    a_offset: u32,
    a_stride: u32,
    b_offset: u32,
    b_stride: u32,
    c_offset: u32,
    c_stride: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    // Offset 64, a multiple of 8 as f64 needs; the host fills both through RealPair.
    alpha: Real,
    beta: Real,
}

@group(0) @binding(0) var<storage, read> a: array<Real>;
@group(0) @binding(1) var<storage, read> b: array<Real>;
@group(0) @binding(2) var<storage, read_write> c: array<Real>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read_write> partial: array<Real>;

override TRANS_A: bool = false;
override TRANS_B: bool = false;
// A is symmetric and only its lower triangle is read (element (r, c) with c > r is
// taken from (c, r)): for the dense eigensolver's trailing matrix, which is kept
// lower (LOWER_ONLY below).
override SYMMETRIC_A: bool = false;
// The tiled kernel skips output tiles strictly above the diagonal, and the broadcast
// kernel (matmul_bcast.wgsl) launches none for them: only C's lower triangle (and the
// diagonal tiles whole) is written, for symmetric updates.
override LOWER_ONLY: bool = false;
// C is stored transposed: output (row, col) goes to C[col, row]. The host computes a
// product with few rows as its transpose on the skinny tile (ops/matmul.rs SHORT_ROWS).
override TRANS_C: bool = false;

// op(A)[row, kk], caller guarantees row < m and kk < k_end <= k.
fn op_a(row: u32, kk: u32) -> Real {
    if SYMMETRIC_A {
        return a[params.a_offset + max(row, kk) * params.a_stride + min(row, kk)];
    }
    if TRANS_A {
        return a[params.a_offset + kk * params.a_stride + row];
    }
    return a[params.a_offset + row * params.a_stride + kk];
}

// op(B)[kk, col], caller guarantees kk < k_end <= k and col < n.
fn op_b(kk: u32, col: u32) -> Real {
    if TRANS_B {
        return b[params.b_offset + col * params.b_stride + kk];
    }
    return b[params.b_offset + kk * params.b_stride + col];
}

fn store(row: u32, col: u32, value: Real) {
    var i: u32;
    if TRANS_C {
        i = params.c_offset + col * params.c_stride + row;
    } else {
        i = params.c_offset + row * params.c_stride + col;
    }
    var out = params.alpha * value;
    if params.beta != Real(0.0) {
        out += params.beta * c[i];
    }
    c[i] = out;
}

@compute @workgroup_size(16, 16)
fn matmul_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    let row = gid.y;
    if row >= params.m || col >= params.n {
        return;
    }
    var sum = Real(0.0);
    for (var kk = params.k_begin; kk < params.k_end; kk++) {
        sum += op_a(row, kk) * op_b(kk, col);
    }
    store(row, col, sum);
}

// The tiled variant's output tile, read by the host (Kernel::override_value) to size the
// grid. The register blocking below (16x16 invocations, 8x8 outputs each) is written for
// 128 x 128: these are not meant to be overridden, only declared in one place.
override TILED_M: u32 = 128u;
override TILED_N: u32 = 128u;
// Depth of a staged slice: 16 in f32, 8 in f64 (16 KiB of workgroup memory either way).
const BK: u32 = 64u / REAL_BYTES;
// vec4 loads per invocation per operand and step: BK * 32 vec4s over 256 invocations.
const STAGE_STEPS: u32 = BK / 8u;

// tile_a[kk * 32 + r4] holds op(A) rows 4*r4 .. 4*r4+3 of the tile at depth kk.
var<workgroup> tile_a: array<vec4<Real>, BK * 32u>;
// tile_b[kk * 32 + c4] holds op(B) columns 4*c4 .. 4*c4+3 of the tile at depth kk.
var<workgroup> tile_b: array<vec4<Real>, BK * 32u>;

fn load_a4(row: u32, kk: u32, k_end: u32) -> vec4<Real> {
    var v = vec4<Real>(Real(0.0));
    if kk < k_end {
        for (var q = 0u; q < 4u; q++) {
            if row + q < params.m {
                v[q] = op_a(row + q, kk);
            }
        }
    }
    return v;
}

fn load_b4(kk: u32, col: u32, k_end: u32) -> vec4<Real> {
    var v = vec4<Real>(Real(0.0));
    if kk < k_end {
        for (var q = 0u; q < 4u; q++) {
            if col + q < params.n {
                v[q] = op_b(kk, col + q);
            }
        }
    }
    return v;
}

// Stages op(A) rows row0 .. row0 + 128 at depths k0 .. k0 + BK into tile_a: BK x 32
// vec4s, STAGE_STEPS per invocation. The invocation-to-element map follows the storage
// order, so that neighbours read neighbouring addresses.
fn stage_a(li: u32, row0: u32, k0: u32, k_end: u32) {
    for (var s = 0u; s < STAGE_STEPS; s++) {
        var kk: u32;
        var r4: u32;
        if TRANS_A {
            r4 = li % 32u;
            kk = li / 32u + 8u * s;
        } else {
            kk = li % BK;
            r4 = li / BK + (256u / BK) * s;
        }
        tile_a[kk * 32u + r4] = load_a4(row0 + 4u * r4, k0 + kk, k_end);
    }
}

// Workgroup wg's 128 x 128 tile of op(A) op(B) summed over depths [k_begin, k_end): the
// invocation's 8x8 block, acc[i * 2 + j] for row block i (0..8) and column half j.
fn tile_sums(
    wg: vec3<u32>, lid: vec3<u32>, li: u32, k_begin: u32, k_end: u32,
) -> array<vec4<Real>, 16> {
    let row0 = wg.y * TILED_M;
    let col0 = wg.x * TILED_N;
    let tx = lid.x;
    let ty = lid.y;
    // Zero: WGSL initialises a var declared without a value to zero.
    var acc: array<vec4<Real>, 16>;

    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        stage_a(li, row0, k0, k_end);
        for (var s = 0u; s < STAGE_STEPS; s++) {
            var kk: u32;
            var c4: u32;
            if TRANS_B {
                kk = li % BK;
                c4 = li / BK + (256u / BK) * s;
            } else {
                c4 = li % 32u;
                kk = li / 32u + 8u * s;
            }
            tile_b[kk * 32u + c4] = load_b4(k0 + kk, col0 + 4u * c4, k_end);
        }
        workgroupBarrier();

        // Blocked summation: the BK products of a slice are summed on their own, then
        // added to the running total, so a sum over k rounds about sqrt(k / BK + BK)
        // times rather than sqrt(k) (numpy's f32 forward at depth 30 had half the error
        // of plain sequential sums; benches/forward_accuracy.py).
        var part: array<vec4<Real>, 16>;
        for (var kk = 0u; kk < BK; kk++) {
            let a_lo = tile_a[kk * 32u + ty];
            let a_hi = tile_a[kk * 32u + 16u + ty];
            let b_lo = tile_b[kk * 32u + tx];
            let b_hi = tile_b[kk * 32u + 16u + tx];
            for (var q = 0u; q < 4u; q++) {
                part[q * 2u] += a_lo[q] * b_lo;
                part[q * 2u + 1u] += a_lo[q] * b_hi;
                part[(q + 4u) * 2u] += a_hi[q] * b_lo;
                part[(q + 4u) * 2u + 1u] += a_hi[q] * b_hi;
            }
        }
        for (var i = 0u; i < 16u; i++) {
            acc[i] += part[i];
        }
        workgroupBarrier();
    }
    return acc;
}

// (row, column) of the invocation's output e (0..64) in workgroup wg's tile: its value is
// acc[e / 4][e % 4] of tile_sums (block row e / 8: rows ty*4 + 0..4, then 64 + ty*4 +
// 0..4; column half (e / 4) % 2: columns j*64 + tx*4 + e % 4).
fn output_at(wg: vec3<u32>, lid: vec3<u32>, e: u32) -> vec2<u32> {
    let i = e / 8u;
    let row = wg.y * TILED_M + select(0u, 64u, i >= 4u) + lid.y * 4u + i % 4u;
    let col = wg.x * TILED_N + ((e / 4u) % 2u) * 64u + lid.x * 4u + e % 4u;
    return vec2<u32>(row, col);
}

@compute @workgroup_size(16, 16)
fn matmul_tiled(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    // The tile's first column is past its last row: strictly above the diagonal.
    if LOWER_ONLY && wg.x * TILED_N >= (wg.y + 1u) * TILED_M {
        return;
    }
    var acc = tile_sums(wg, lid, li, params.k_begin, params.k_end);
    for (var e = 0u; e < 64u; e++) {
        let at = output_at(wg, lid, e);
        if at.x < params.m && at.y < params.n {
            store(at.x, at.y, acc[e / 4u][e % 4u]);
        }
    }
}

@compute @workgroup_size(16, 16)
fn matmul_split(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    // Splits past the end sum nothing and write zeros, so every partial is written.
    let k_begin = min(params.k_begin + wg.z * params.split_len, params.k_end);
    let k_end = min(k_begin + params.split_len, params.k_end);
    var acc = tile_sums(wg, lid, li, k_begin, k_end);
    let base = wg.z * params.m * params.n;
    for (var e = 0u; e < 64u; e++) {
        let at = output_at(wg, lid, e);
        if at.x < params.m && at.y < params.n {
            partial[base + at.x * params.n + at.y] = acc[e / 4u][e % 4u];
        }
    }
}

// C = alpha * (partial[0] + ... + partial[splits - 1]) + beta * C, one output per
// invocation over a grid_1d layout.
const SUM_WG: u32 = 256u;

@compute @workgroup_size(SUM_WG)
fn matmul_split_sum(id: Invocation) {
    let i = flat_index(id, SUM_WG);
    let len = params.m * params.n;
    if i >= len {
        return;
    }
    var sum = Real(0.0);
    for (var z = 0u; z < params.splits; z++) {
        sum += partial[z * len + i];
    }
    store(i / params.n, i % params.n, sum);
}

// ---- The skinny variant ---------------------------------------------------------------

// Its output tile, 128 rows x 32 columns (read by the host like TILED_M / TILED_N), for
// products with few columns: the dense eigensolver's A22 V (m x b, b <= 32) and the
// small products of its panels, where a 128 x 128 tile would compute mostly padding.
// Invocation li owns rows (li / 8) * 4 + 0..4 and columns (li % 8) * 4 + 0..4.
override SKINNY_M: u32 = 128u;
override SKINNY_N: u32 = 32u;

// skinny_b[kk * 8 + c4] holds op(B) columns 4*c4 .. 4*c4+3 of the tile at depth kk.
var<workgroup> skinny_b: array<vec4<Real>, BK * 8u>;

// Workgroup wg's 128 x 32 tile summed over depths [k_begin, k_end): the invocation's
// 4 x 4 block, acc[q] for row q of it. Blocked summation as in tile_sums.
fn skinny_sums(wg: vec3<u32>, li: u32, k_begin: u32, k_end: u32) -> array<vec4<Real>, 4> {
    let row0 = wg.y * SKINNY_M;
    let col0 = wg.x * SKINNY_N;
    let tx = li % 8u;
    let ty = li / 8u;
    // Zero: WGSL initialises a var declared without a value to zero.
    var acc: array<vec4<Real>, 4>;
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        stage_a(li, row0, k0, k_end);
        if li < BK * 8u {
            var kk: u32;
            var c4: u32;
            if TRANS_B {
                kk = li % BK;
                c4 = li / BK;
            } else {
                c4 = li % 8u;
                kk = li / 8u;
            }
            skinny_b[kk * 8u + c4] = load_b4(k0 + kk, col0 + 4u * c4, k_end);
        }
        workgroupBarrier();
        var part: array<vec4<Real>, 4>;
        for (var kk = 0u; kk < BK; kk++) {
            let a4 = tile_a[kk * 32u + ty];
            let b4 = skinny_b[kk * 8u + tx];
            for (var q = 0u; q < 4u; q++) {
                part[q] += a4[q] * b4;
            }
        }
        for (var q = 0u; q < 4u; q++) {
            acc[q] += part[q];
        }
        workgroupBarrier();
    }
    return acc;
}

// (row, column) of the invocation's output e (0..16) in workgroup wg's skinny tile: its
// value is acc[e / 4][e % 4] of skinny_sums.
fn skinny_at(wg: vec3<u32>, li: u32, e: u32) -> vec2<u32> {
    let row = wg.y * SKINNY_M + (li / 8u) * 4u + e / 4u;
    let col = wg.x * SKINNY_N + (li % 8u) * 4u + e % 4u;
    return vec2<u32>(row, col);
}

@compute @workgroup_size(256)
fn matmul_skinny(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let acc = skinny_sums(wg, li, params.k_begin, params.k_end);
    for (var e = 0u; e < 16u; e++) {
        let at = skinny_at(wg, li, e);
        if at.x < params.m && at.y < params.n {
            store(at.x, at.y, acc[e / 4u][e % 4u]);
        }
    }
}

@compute @workgroup_size(256)
fn matmul_skinny_split(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let k_begin = min(params.k_begin + wg.z * params.split_len, params.k_end);
    let k_end = min(k_begin + params.split_len, params.k_end);
    let acc = skinny_sums(wg, li, k_begin, k_end);
    let base = wg.z * params.m * params.n;
    for (var e = 0u; e < 16u; e++) {
        let at = skinny_at(wg, li, e);
        if at.x < params.m && at.y < params.n {
            partial[base + at.x * params.n + at.y] = acc[e / 4u][e % 4u];
        }
    }
}
