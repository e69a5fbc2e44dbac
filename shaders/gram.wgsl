// gram: G = scale * X X^T for X [n, d] GramInput row-major, G [n, n] Real (f32 or f64, from
// the precision prelude). GramInput is declared between the prelude and this body
// (engine/ops/shaders.rs): f32 features of an f32 network, with Real f32 or f64 (in f64
// the products of f32 values are exact and the sums f64, because an f32-rounded Gram
// matrix cannot resolve condition numbers much past 1e4), or f64 features of an f64
// network with Real f64.
//
// Bindings: x (read), g (read_write), params (read-only storage, not uniform: lavapipe
// folds a uniform's values into the kernel where they bound loops, and re-specialised
// gram_bcast at every launch at some orders: n = 32, d = 128 took 5.5 ms a launch instead
// of 0.13, docs/PERFORMANCE.md).
//
// Split over the depth (few output tiles, deep X: n = 100 is 3 tiles of 64, i.e. 3
// workgroups on a device with dozens of cores, each summing all d products): the host
// launches `gram` or `gram_small` with a z grid of splits, binding a [splits, n, n]
// partial buffer as g and scale 1, so that split z sums depths
// [z split_len, (z + 1) split_len) into g[z n n ..]; then matmul's split sum
// (shaders/matmul.wgsl, matmul_split_sum) writes scale * (partial[0] + ... +
// partial[splits - 1]) into G, adding the splits in order.
// Unsplit, split_len = d and z = 0.
// Symmetry: only the output tiles (bi, bj) with bi <= bj are computed (a triangle of
// T(T+1)/2 tiles, T = ceil(n / tile), decoded from the linear workgroup index; grids over
// x and y); an off-diagonal tile is written to both (bi, bj) and (bj, bi), so G is exactly
// symmetric. Each step stages a tile x 16 slice of rows bi and of rows bj of X as vec4s
// in workgroup memory; each invocation accumulates a 4x4 block (rows ty*4..+4, columns
// tx*4..+4). Loads outside X read 0; stores outside G are skipped.
// Two tile sizes, the same sums in the same order: `gram`, 64 x 64 tiles of 16 x 16
// invocations; `gram_small`, 32 x 32 tiles of 8 x 8, for small n (ops/gram.rs), where a
// 64 x 64 tile is mostly padding and costs as much as a full one (n = 32 took as long as
// n = 64 on lavapipe).

struct Params {
    n: u32,
    d: u32,
    split_len: u32,
    _pad0: u32,
    // Offset 16, a multiple of 8 as f64 needs; the host fills it through RealPair.
    scale: Real,
}

@group(0) @binding(0) var<storage, read> x: array<GramInput>;
@group(0) @binding(1) var<storage, read_write> g: array<Real>;
@group(0) @binding(2) var<storage, read> params: Params;

const BK: u32 = 16u;

// tile_r[kk * quads + r4] holds X rows 4*r4 .. 4*r4+3 of tile bi at depth kk (quads = 16
// or 8 invocations per side); tile_c likewise for bj.
var<workgroup> tile_r: array<vec4<GramInput>, 256>;
var<workgroup> tile_c: array<vec4<GramInput>, 256>;

fn load4(row0: u32, kk: u32, k_end: u32) -> vec4<GramInput> {
    var v = vec4<GramInput>(GramInput(0.0));
    if kk < k_end {
        for (var q = 0u; q < 4u; q++) {
            if row0 + q < params.n {
                v[q] = x[(row0 + q) * params.d + kk];
            }
        }
    }
    return v;
}

// (bi, bj) with bi <= bj from t = bj (bj + 1) / 2 + bi.
fn tile_of(t: u32) -> vec2<u32> {
    var bj = u32(floor((sqrt(8.0 * f32(t) + 1.0) - 1.0) * 0.5));
    // Correct the float estimate exactly.
    while (bj + 1u) * (bj + 2u) / 2u <= t {
        bj += 1u;
    }
    while bj * (bj + 1u) / 2u > t {
        bj -= 1u;
    }
    return vec2<u32>(t - bj * (bj + 1u) / 2u, bj);
}

@compute @workgroup_size(16, 16)
fn gram(id: Invocation, @builtin(local_invocation_id) lid: vec3<u32>) {
    gram_tile(id, lid, 16u);
}

@compute @workgroup_size(8, 8)
fn gram_small(id: Invocation, @builtin(local_invocation_id) lid: vec3<u32>) {
    gram_tile(id, lid, 8u);
}

// One output tile of side 4 quads, by quads x quads invocations.
fn gram_tile(id: Invocation, lid: vec3<u32>, quads: u32) {
    let wg = id.wg;
    let li = id.lid;
    let tile = 4u * quads;
    let tiles = (params.n + tile - 1u) / tile;
    let t = flat_group(id);
    // Uniform across the workgroup, so returning before the barriers is safe.
    if t >= tiles * (tiles + 1u) / 2u {
        return;
    }
    let b = tile_of(t);
    let row0 = b.x * tile;
    let col0 = b.y * tile;
    let tx = lid.x;
    let ty = lid.y;
    // Zero: WGSL initialises a var declared without a value to zero.
    var acc: array<vec4<Real>, 4>;
    let k_begin = min(wg.z * params.split_len, params.d);
    let k_end = min(k_begin + params.split_len, params.d);
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        // quads x 16 vec4s per tile; consecutive invocations take consecutive depths,
        // i.e. consecutive addresses of a row of X.
        for (var e = li; e < quads * BK; e += quads * quads) {
            let kk = e % BK;
            let r4 = e / BK;
            tile_r[kk * quads + r4] = load4(row0 + 4u * r4, k0 + kk, k_end);
            tile_c[kk * quads + r4] = load4(col0 + 4u * r4, k0 + kk, k_end);
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
            // Widened before multiplying: in f64 the product of two f32 values is exact.
            let a = vec4<Real>(tile_r[k * quads + ty]);
            let c = vec4<Real>(tile_c[k * quads + tx]);
            for (var q = 0u; q < 4u; q++) {
                acc[q] += a[q] * c;
            }
        }
        workgroupBarrier();
    }
    let diagonal = b.x == b.y;
    let base = wg.z * params.n * params.n;
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + ty * 4u + i;
        if row >= params.n {
            continue;
        }
        for (var q = 0u; q < 4u; q++) {
            let col = col0 + tx * 4u + q;
            if col < params.n {
                let v = params.scale * acc[i][q];
                g[base + row * params.n + col] = v;
                if !diagonal {
                    g[base + col * params.n + row] = v;
                }
            }
        }
    }
}

