// gram_bcast: the Gram kernel for CPU Vulkan drivers, G = scale * X X^T as in
// shaders/gram.wgsl (joined after it and shaders/subgroup.wgsl by engine/ops/shaders.rs;
// needs the adapter's SUBGROUP feature, so that gram.wgsl itself does not).
//
// Laid out as shaders/matmul_bcast.wgsl's A B^T with A = B = X: on lavapipe a load whose
// address differs between lanes is a loop over them, a value moved between lanes one
// register operation, and a barrier a switch between every SIMD group of the workgroup;
// `gram` crosses two barriers per 16 depths. Here every invocation of a workgroup takes
// the same 16 rows of G and four columns of its own; at each depth lane l reads X's rows
// l, l + BCAST_SG, ... of the 16 and every lane takes them by subgroupBroadcast. No
// workgroup memory, no barriers, no split over the depth. Only tiles with an entry on
// or above the diagonal are launched; each entry with col >= row is stored at (row, col) and
// (col, row), so G is exactly symmetric. Entries are widened to Real before multiplying
// (in f64 the products of f32 values are exact), summed over the depth in blocks of BK.

// The same buffer as `x`, four elements per index.
@group(0) @binding(3) var<storage, read> x_vec: array<vec4<GramInput>>;

// As in matmul_bcast.wgsl: the adapter's smallest subgroup size (at most 16), and the
// invocations per workgroup, a multiple of every subgroup size the adapter may use.
override BCAST_SG: u32 = 8u;
override BCAST_W: u32 = 8u;
override BCAST_LANES: u32 = min(BCAST_SG, 16u);
override BCAST_LOADS: u32 = 16u / BCAST_LANES;
// d is a multiple of 4, so that every row of X is whole vec4s (the host checks).
override X_VEC4: bool = false;

// Row `row` of X at depths kk .. kk + 4, widened; depths from k_stop on read as zero.
fn gram_x4(row: u32, kk: u32, k_stop: u32) -> vec4<Real> {
    if X_VEC4 {
        return vec4<Real>(x_vec[(row * params.d + kk) / 4u]);
    }
    var v = vec4<Real>(Real(0.0));
    for (var d = 0u; d < 4u; d++) {
        if kk + d < k_stop {
            v[d] = Real(x[row * params.d + kk + d]);
        }
    }
    return v;
}

@compute @workgroup_size(BCAST_W)
fn gram_bcast(
    id: Invocation,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let n = params.n;
    let width = BCAST_W * 4u;
    // One workgroup per tile with an entry on or above the diagonal (common.wgsl
    // triangle_tile): the entries below it are their mirrors'.
    let tile = triangle_tile(flat_group(id), n, n, 16u, width, false);
    if tile.y * 16u >= n {
        return;
    }
    let row0 = tile.y * 16u;
    let col0 = tile.x * width;
    let col = col0 + id.lid * 4u;
    let last = n - 1u;
    var rows: array<u32, 4>;
    for (var j = 0u; j < BCAST_LOADS; j++) {
        rows[j] = min(row0 + lane + j * BCAST_LANES, last);
    }
    var acc: array<vec4<Real>, 16>;
    for (var k0 = 0u; k0 < params.d; k0 += BK) {
        let k_stop = min(k0 + BK, params.d);
        var part: array<vec4<Real>, 16>;
        for (var kk = k0; kk < k_stop; kk += 4u) {
            // This invocation's four columns at the four depths: bd[d][q] = X[col + q][kk + d].
            var bd: array<vec4<Real>, 4>;
            for (var q = 0u; q < 4u; q++) {
                let xq = gram_x4(min(col + q, last), kk, k_stop);
                for (var d = 0u; d < 4u; d++) {
                    bd[d][q] = xq[d];
                }
            }
            var a4: array<vec4<Real>, 4>;
            for (var j = 0u; j < BCAST_LOADS; j++) {
                a4[j] = gram_x4(rows[j], kk, k_stop);
            }
            broadcast_tile_step(&part, a4, bd, BCAST_LANES);
        }
        for (var r = 0u; r < 16u; r++) {
            acc[r] += part[r];
        }
    }
    for (var r = 0u; r < 16u; r++) {
        let row = row0 + r;
        for (var q = 0u; q < 4u; q++) {
            let c = col + q;
            if row < n && c < n && c >= row {
                let v = params.scale * acc[r][q];
                g[row * n + c] = v;
                g[c * n + row] = v;
            }
        }
    }
}
