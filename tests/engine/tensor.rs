use wideprobe::gpu::{GpuError, Tensor};

use crate::common;

#[test]
fn upload_download_round_trip_for_each_element_type() {
    let gpu = common::gpu();
    let mut rng = common::rng("tensor round trip");
    for len in [1usize, 7, 33, 130, 1000] {
        let data = common::random_vec(&mut rng, len);
        let t = Tensor::from_slice(gpu, &[len], &data).unwrap();
        assert_eq!(t.to_vec(gpu).unwrap(), data);
        let d64: Vec<f64> = common::to_f64(&data);
        let t = Tensor::from_slice(gpu, &[len], &d64).unwrap();
        assert_eq!(t.to_vec(gpu).unwrap(), d64);
        let du: Vec<u32> = (0..len as u32).collect();
        let t = Tensor::from_slice(gpu, &[len], &du).unwrap();
        assert_eq!(t.to_vec(gpu).unwrap(), du);
    }
}

#[test]
fn poison_fills_nan() {
    let gpu = common::gpu();
    let t = Tensor::<f32>::zeros(gpu, &[7, 3]).unwrap();
    assert!(t.to_vec(gpu).unwrap().iter().all(|&x| x == 0.0));
    t.poison(gpu).unwrap();
    assert!(t.to_vec(gpu).unwrap().iter().all(|x| x.is_nan()));
}

#[test]
fn wrong_length_upload_is_an_error() {
    let gpu = common::gpu();
    let err = Tensor::from_slice(gpu, &[2, 3], &[1.0f32; 5]).unwrap_err();
    assert!(err.to_string().contains("[2, 3]"), "{err}");
}

#[test]
fn tensor_over_the_binding_limit_is_refused_with_size_and_limit() {
    let gpu = common::gpu();
    let limit = gpu.max_binding_bytes();
    // One row more than fits; nothing is allocated, the check comes first.
    let cols = 1024usize;
    let rows = (limit as usize / 4) / cols + 1;
    let err = Tensor::<f32>::zeros(gpu, &[rows, cols]).unwrap_err();
    let typed = err.downcast_ref::<GpuError>().expect("a GpuError");
    assert!(matches!(typed, GpuError::TooLarge { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&limit.to_string()),
        "message names the limit: {msg}"
    );
    assert!(
        msg.contains(&((rows * cols * 4) as u64).to_string()),
        "message names the size: {msg}"
    );
    // The same size is fine one row shorter.
    assert!(rows * cols * 4 - cols * 4 <= limit as usize);
}

/// Params may come from a read-only storage binding named `params` (shaders/bandreduce.wgsl
/// reads them so); a kernel with two such slots is refused instead of half-bound.
#[test]
fn params_bind_from_storage_and_a_second_slot_is_refused() {
    use wideprobe::gpu::{Batch, Shader};
    static STORAGE_PARAMS: Shader = Shader {
        name: "storage_params",
        source: "@group(0) @binding(0) var<storage, read_write> out: array<u32>;
                 @group(0) @binding(1) var<storage, read> params: vec4<u32>;
                 @compute @workgroup_size(1) fn main() { out[0] = params.x + params.w; }",
        features: wgpu::Features::empty(),
        trusted: false,
    };
    static TWO_SLOTS: Shader = Shader {
        name: "two_params_slots",
        source: "@group(0) @binding(0) var<storage, read_write> out: array<u32>;
                 @group(0) @binding(1) var<storage, read> params: vec4<u32>;
                 @group(0) @binding(2) var<uniform> more: vec4<u32>;
                 @compute @workgroup_size(1) fn main() { out[0] = params.x + more.x; }",
        features: wgpu::Features::empty(),
        trusted: false,
    };
    let gpu = common::gpu();
    let out = Tensor::<u32>::zeros(gpu, &[1]).unwrap();
    let kernel = gpu.kernel(&STORAGE_PARAMS, "main", &[]).unwrap();
    common::launch(|batch| {
        batch.dispatch(&kernel, &[out.buffer()], Some(&[3u32, 0, 0, 4]), [1, 1, 1])
    });
    assert_eq!(out.to_vec(gpu).unwrap(), [7]);
    let kernel = gpu.kernel(&TWO_SLOTS, "main", &[]).unwrap();
    let batch = Batch::new(gpu);
    let err = batch.bind(&kernel, &[out.buffer()], Some(&[3u32, 0, 0, 4]));
    common::assert_error_names(
        err.map(|_| ()),
        &["two_params_slots", "more than one params"],
    );
}
