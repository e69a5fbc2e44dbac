// matmul_bcast: the broadcast variant of matmul, for CPU Vulkan drivers. It is joined
// after shaders/matmul.wgsl (Params, bindings, op_a, op_b, store, BK) by
// engine/ops/shaders.rs, and needs the adapter's SUBGROUP feature, so that matmul.wgsl
// itself does not.
//
// For CPU Vulkan drivers (lavapipe): there, a load whose address the compiler cannot prove
// the same in every lane of a SIMD group is a loop over the lanes, one scalar load per
// component, whether it reads a storage buffer or workgroup memory, while moving a value
// between lanes of a subgroup is one register operation. Every invocation of a workgroup
// takes the same 16 rows of C and four columns of its own. At each depth, lane l of a
// subgroup reads op(A) at rows l, l + BCAST_SG, ... of the 16, and every lane takes the
// 16 values by subgroupBroadcast: per depth an invocation loads 16 / BCAST_SG values of A
// and four of B for 64 multiply-adds (the tiled kernel loads 16 from workgroup memory).
// Where the host has checked that the rows read are aligned to four elements and lie in
// the buffer (A_VEC4, B_VEC4), A and B are read four elements per load from the vec4
// views of the same buffers. No workgroup memory and no barriers. Blocked summation as
// in tile_sums.

// The same buffers as `a` and `b`, four elements per index.
@group(0) @binding(5) var<storage, read> a_vec: array<vec4<Real>>;
@group(0) @binding(6) var<storage, read> b_vec: array<vec4<Real>>;

// The adapter's smallest subgroup size (the host clamps it to 16): lanes 0 .. BCAST_SG - 1
// of every subgroup exist, since BCAST_W is a multiple of every subgroup size the adapter
// may use (the host makes it at least the largest).
override BCAST_SG: u32 = 8u;
// Invocations per workgroup, so the tile is 16 x 4 BCAST_W.
override BCAST_W: u32 = 8u;
// Lanes that read A's rows, and the rows each reads: 16 in all.
override BCAST_LANES: u32 = min(BCAST_SG, 16u);
override BCAST_LOADS: u32 = 16u / BCAST_LANES;
// Rows of the output tile, read by the host: fixed by the broadcasts below.
override BCAST_M: u32 = 16u;
// op(A) is A as stored (not TRANS_A, not SYMMETRIC_A), its offset and stride multiples of
// 4, and every row's vec4 from depth k_begin up to k rounded up to 4 lies in the buffer.
override A_VEC4: bool = false;
// B's offset and stride are multiples of 4 and the vec4s read lie in the buffer: along
// columns (NN: row kk of B) or along depths (TRANS_B: row `col` of B).
override B_VEC4: bool = false;

// op(A) at `row` and depths kk .. kk + 4. Depths past k_stop read what follows in the row
// (A_VEC4: its padding or the next elements) or depth k_stop - 1; the caller zeroes them.
fn bcast_a4(row: u32, kk: u32, k_stop: u32) -> vec4<Real> {
    if A_VEC4 {
        return a_vec[(params.a_offset + row * params.a_stride + kk) / 4u];
    }
    var v: vec4<Real>;
    for (var d = 0u; d < 4u; d++) {
        v[d] = op_a(row, min(kk + d, k_stop - 1u));
    }
    return v;
}

// op(B) at depths kk .. kk + 4 (bd[d]) and columns col .. col + 4, columns past n read
// column n - 1 (their outputs are not stored) and depths past k_stop read as zero.
fn bcast_b4(col: u32, kk: u32, k_stop: u32) -> array<vec4<Real>, 4> {
    var bd: array<vec4<Real>, 4>;
    let last_col = params.n - 1u;
    if B_VEC4 && TRANS_B {
        for (var q = 0u; q < 4u; q++) {
            let at = params.b_offset + min(col + q, last_col) * params.b_stride + kk;
            let v = b_vec[at / 4u];
            for (var d = 0u; d < 4u; d++) {
                bd[d][q] = v[d];
            }
        }
    } else if B_VEC4 {
        // col is a multiple of 4: the vec4 holding column n - 1 stands in past the end.
        let c = min(col, last_col - last_col % 4u);
        for (var d = 0u; d < 4u; d++) {
            bd[d] = b_vec[(params.b_offset + min(kk + d, k_stop - 1u) * params.b_stride + c) / 4u];
        }
    } else {
        for (var d = 0u; d < 4u; d++) {
            for (var q = 0u; q < 4u; q++) {
                bd[d][q] = op_b(min(kk + d, k_stop - 1u), min(col + q, last_col));
            }
        }
    }
    for (var d = 0u; d < 4u; d++) {
        if kk + d >= k_stop {
            bd[d] = vec4<Real>(Real(0.0));
        }
    }
    return bd;
}

@compute @workgroup_size(BCAST_W)
fn matmul_bcast(id: Invocation, @builtin(subgroup_invocation_id) lane: u32) {
    let li = id.lid;
    var wg = id.wg.xy;
    // One workgroup per lower tile, none above the diagonal (common.wgsl triangle_tile).
    if LOWER_ONLY {
        wg = triangle_tile(flat_group(id), params.m, params.n, BCAST_M, BCAST_W * 4u, true);
        // Past the last tile (the host's grid rounds up).
        if wg.y * BCAST_M >= params.m {
            return;
        }
    }
    let row0 = wg.y * 16u;
    let col = wg.x * BCAST_W * 4u + li * 4u;
    // Rows past m read row m - 1; their outputs are not stored.
    let last_row = params.m - 1u;
    var rows: array<u32, 4>;
    for (var j = 0u; j < BCAST_LOADS; j++) {
        rows[j] = min(row0 + lane + j * BCAST_LANES, last_row);
    }
    var acc: array<vec4<Real>, 16>;
    for (var k0 = params.k_begin; k0 < params.k_end; k0 += BK) {
        let k_stop = min(k0 + BK, params.k_end);
        var part: array<vec4<Real>, 16>;
        for (var kk = k0; kk < k_stop; kk += 4u) {
            let bd = bcast_b4(col, kk, k_stop);
            var a4: array<vec4<Real>, 4>;
            for (var j = 0u; j < BCAST_LOADS; j++) {
                a4[j] = bcast_a4(rows[j], kk, k_stop);
                // Depths past k_stop: zero in A too, or 0 * inf would leak.
                for (var d = 0u; d < 4u; d++) {
                    if kk + d >= k_stop {
                        a4[j][d] = Real(0.0);
                    }
                }
            }
            broadcast_tile_step(&part, a4, bd, BCAST_LANES);
        }
        for (var r = 0u; r < 16u; r++) {
            acc[r] += part[r];
        }
    }
    for (var r = 0u; r < 16u; r++) {
        for (var q = 0u; q < 4u; q++) {
            if row0 + r < params.m && col + q < params.n {
                store(row0 + r, col + q, acc[r][q]);
            }
        }
    }
}
