
// Shared by every kernel family (joined after the precision prelude by
// engine/ops/shaders.rs): the invocation ids of a launch, as one entry-point parameter.
struct Invocation {
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
}

// The workgroup's index in a 1-D launch laid out by the host's grid_1d (x, then y).
fn flat_group(id: Invocation) -> u32 {
    return id.wg.x + id.wg.y * id.nwg.x;
}

