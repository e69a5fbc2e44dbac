
// Shared by every kernel family (joined after the precision prelude by
// engine/ops/shaders.rs): the invocation ids of a launch, as one entry-point parameter,
// and the indexing and workgroup reduction the families have in common.
struct Invocation {
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
}

// The workgroup's index in a 1-D launch laid out by the host's grid_1d (x, then y).
fn flat_group(id: Invocation) -> u32 {
    return id.wg.x + id.wg.y * id.nwg.x;
}

// The element of a one-element-per-invocation launch of `group_size`-invocation
// workgroups laid out by grid_1d.
fn flat_index(id: Invocation, group_size: u32) -> u32 {
    return flat_group(id) * group_size + id.lid;
}

// Tile (column tile, row tile) of workgroup `flat` of a launch with one workgroup per
// tile (`height` rows, `width` columns) of a rows x cols output that holds an entry on
// or below its diagonal (`lower`: a column at or left of one of the tile's rows) or on
// or above it, row tile by row tile (the host counts them: ops::launch::triangle_tiles);
// a row tile past the last where `flat` is past the last tile. Every workgroup then has
// a whole tile's work, so a CPU driver that gives each thread an equal run of
// consecutive workgroups (lavapipe) gives each an equal share of the work: over a grid
// of all tiles, one of two threads had about 70% of it (docs/PERFORMANCE.md).
fn triangle_tile(
    flat: u32,
    rows: u32,
    cols: u32,
    height: u32,
    width: u32,
    lower: bool,
) -> vec2<u32> {
    let col_tiles = (cols + width - 1u) / width;
    var t = flat;
    var y = 0u;
    for (; y * height < rows; y++) {
        var first = 0u;
        var end = col_tiles;
        if lower {
            end = min((height * (y + 1u) + width - 1u) / width, col_tiles);
        } else {
            first = min(height * y / width, col_tiles);
        }
        if t < end - first {
            return vec2<u32>(first + t, y);
        }
        t -= end - first;
    }
    return vec2<u32>(0u, y);
}

// Invocations per workgroup of the kernels that call sum_over_workgroup: a power of two,
// for the tree.
const REDUCTION_WG: u32 = 256u;

// The tree's scratch. An entry point's workgroup memory is what it statically uses, so
// kernels that never reduce do not pay for it.
var<workgroup> reduction_scratch: array<Real, REDUCTION_WG>;

// Sum of `value` over a workgroup of REDUCTION_WG invocations, returned to every
// invocation. Every invocation must call it (it has barriers), so invocations without
// work take part with 0 rather than returning early. The first barrier keeps the
// readers of a previous call's result ahead of this call's writers, so a kernel may
// reduce more than once.
fn sum_over_workgroup(lid: u32, value: Real) -> Real {
    return sum_over_invocations(lid, value, REDUCTION_WG);
}

// sum_over_workgroup for a workgroup of `size` invocations: a power of two, at most
// REDUCTION_WG, uniform across the workgroup. Smaller workgroups pay fewer barrier
// levels, and on CPU drivers (lavapipe) each barrier also switches fewer invocations.
fn sum_over_invocations(lid: u32, value: Real, size: u32) -> Real {
    workgroupBarrier();
    reduction_scratch[lid] = value;
    workgroupBarrier();
    for (var stride = size / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            reduction_scratch[lid] += reduction_scratch[lid + stride];
        }
        workgroupBarrier();
    }
    return reduction_scratch[0];
}

// The Householder reflector H = I - tau v v^T, v = x - alpha e1, of a column x with first
// entry x0 and sum of squares `tail` below it: alpha = -sign(x0) ||x|| and
// tau = 1 / (x.x + |x0| ||x||), i.e. 2 / v.v without cancellation; or H = I (alpha = x0,
// tau = 0) when nothing lies below x0, exact, where a reflection would only add rounding
// (LAPACK's larfg). Returns (alpha, tau).
fn householder(x0: Real, tail: Real) -> vec2<Real> {
    if tail == Real(0.0) {
        return vec2<Real>(x0, Real(0.0));
    }
    let sigma = tail + x0 * x0;
    let xnorm = real_sqrt(sigma);
    return vec2<Real>(select(-xnorm, xnorm, x0 < Real(0.0)), Real(1.0) / (sigma + abs(x0) * xnorm));
}
