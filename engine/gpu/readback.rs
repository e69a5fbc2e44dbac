//! Reading GPU buffers back to the host.

use anyhow::{anyhow, Result};

use super::context::Gpu;

/// Maps the first `bytes` of a MAP_READ buffer and copies them out.
pub(crate) fn read_mapped<T: bytemuck::Pod>(
    gpu: &Gpu, buffer: &wgpu::Buffer, bytes: u64,
) -> Result<Vec<T>> {
    gpu.count_readback();
    let slice = buffer.slice(0..bytes);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    gpu.wait()?;
    rx.recv()
        .map_err(|_| anyhow!("GPU readback was dropped"))?
        .map_err(|e| anyhow!("mapping a GPU buffer for reading failed: {e}"))?;
    let data = {
        let view = slice
            .get_mapped_range()
            .map_err(|e| anyhow!("reading a mapped GPU buffer failed: {e:?}"))?;
        // The mapped bytes need not be aligned for T: copy rather than cast in place.
        bytemuck::pod_collect_to_vec(&view[..])
    };
    buffer.unmap();
    Ok(data)
}
