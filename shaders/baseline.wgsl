// baseline: the reference launches every `wideprobe bench` reports beside its kernel.
//
// Entry points:
//   noop: does nothing; its time is the fixed cost of one launch (dispatch and the
//         barrier around a compute pass), the floor under every kernel's time.
//   copy: dst[i] = src[i]; bytes read plus bytes written per second is the streaming
//         bandwidth the benches quote their GB/s against ("fraction of copy peak").
//
// Bindings (noop binds nothing; copy, in this order):
//   src     (read)        len vec4<f32>
//   dst     (read_write)  len vec4<f32>
//   params  (uniform)     len (in vec4s)
//
// Work split: one invocation per vec4 (16-byte loads and stores, the widest WGSL has),
// WG invocations per workgroup; the host lays the workgroups out with grid_1d, so the
// workgroup index is wg.x + wg.y * nwg.x. Invocations past `len` do nothing.

struct Params {
    len: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;

const WG: u32 = 256u;

@compute @workgroup_size(1)
fn noop() {
}

@compute @workgroup_size(WG)
fn copy(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wg.x + wg.y * nwg.x) * WG + lid;
    if i < params.len {
        dst[i] = src[i];
    }
}
