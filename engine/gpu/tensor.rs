//! Typed device tensors: a storage buffer plus its shape, row-major.

use std::marker::PhantomData;

use anyhow::{bail, Result};

use super::context::Gpu;
use super::error::GpuError;
use super::readback::read_mapped;

/// Element types a tensor can hold.
pub trait Element: bytemuck::Pod + std::fmt::Debug + Send + Sync {
    const NAME: &'static str;
    /// A value no kernel produces by accident, written into outputs before tests.
    fn poison() -> Self;
}

impl Element for f32 {
    const NAME: &'static str = "f32";
    fn poison() -> Self {
        f32::NAN
    }
}

impl Element for f64 {
    const NAME: &'static str = "f64";
    fn poison() -> Self {
        f64::NAN
    }
}

impl Element for u32 {
    const NAME: &'static str = "u32";
    fn poison() -> Self {
        u32::MAX
    }
}

/// A row-major tensor in a GPU storage buffer.
pub struct Tensor<T: Element = f32> {
    buffer: wgpu::Buffer,
    shape: Vec<usize>,
    _element: PhantomData<T>,
}

impl<T: Element> Tensor<T> {
    /// A tensor of the given shape, zero-filled.
    pub fn zeros(gpu: &Gpu, shape: &[usize]) -> Result<Self> {
        let len: usize = shape.iter().product();
        let bytes = (len * std::mem::size_of::<T>()) as u64;
        gpu.check_binding_size(&format!("a {} tensor of shape {shape:?}", T::NAME), bytes)?;
        // Padded to 32 bytes: never zero-sized (a binding cannot be empty), and whole
        // vec4s for kernels that read four elements at a time (32 bytes in f64).
        let size = bytes.max(32).next_multiple_of(32);
        let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tensor"),
            size,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Tensor {
            buffer,
            shape: shape.to_vec(),
            _element: PhantomData,
        })
    }

    /// The same buffer seen with another shape of the same element count (a reshape;
    /// writes through either are visible in both).
    pub fn view(&self, shape: &[usize]) -> Result<Self> {
        let len: usize = shape.iter().product();
        if len != self.len() {
            bail!(GpuError::Shape(format!(
                "cannot view a tensor of shape {:?} as {shape:?}: {} vs {len} elements",
                self.shape,
                self.len()
            )));
        }
        Ok(Tensor {
            buffer: self.buffer.clone(),
            shape: shape.to_vec(),
            _element: PhantomData,
        })
    }

    /// Uploads `data` (row-major, `shape.product()` elements).
    pub fn from_slice(gpu: &Gpu, shape: &[usize], data: &[T]) -> Result<Self> {
        let len: usize = shape.iter().product();
        if data.len() != len {
            bail!(GpuError::Shape(format!(
                "shape {shape:?} holds {len} elements but {} were given",
                data.len()
            )));
        }
        let t = Self::zeros(gpu, shape)?;
        t.write(gpu, data)?;
        Ok(t)
    }

    /// Overwrites the whole tensor with `data`.
    pub fn write(&self, gpu: &Gpu, data: &[T]) -> Result<()> {
        if data.len() != self.len() {
            bail!(GpuError::Shape(format!(
                "tensor of shape {:?} holds {} elements but {} were written",
                self.shape,
                self.len(),
                data.len()
            )));
        }
        if !data.is_empty() {
            gpu.queue
                .write_buffer(&self.buffer, 0, bytemuck::cast_slice(data));
        }
        Ok(())
    }

    /// Fills every element with `value`.
    pub fn fill(&self, gpu: &Gpu, value: T) -> Result<()> {
        self.write(gpu, &vec![value; self.len()])
    }

    /// Fills with [`Element::poison`], so that an element a kernel forgot to write
    /// shows up as NaN (or u32::MAX) instead of a plausible zero.
    pub fn poison(&self, gpu: &Gpu) -> Result<()> {
        self.fill(gpu, T::poison())
    }

    /// Downloads the tensor (waits for all submitted work).
    pub fn to_vec(&self, gpu: &Gpu) -> Result<Vec<T>> {
        let bytes = self.bytes();
        if bytes == 0 {
            return Ok(Vec::new());
        }
        // Copies are done in multiples of 4 bytes; our sizes always are.
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tensor readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        encoder.copy_buffer_to_buffer(&self.buffer, 0, &staging, 0, bytes);
        gpu.queue.submit([encoder.finish()]);
        read_mapped(gpu, &staging, bytes)
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the data in bytes (the buffer may be padded beyond it).
    pub fn bytes(&self) -> u64 {
        (self.len() * std::mem::size_of::<T>()) as u64
    }

    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Rows and columns of a matrix; an error naming `what` for other ranks.
    pub fn dims2(&self, what: &str) -> Result<(usize, usize)> {
        match self.shape[..] {
            [r, c] => Ok((r, c)),
            _ => bail!(GpuError::Shape(format!(
                "{what} must be a matrix, but has shape {:?}",
                self.shape
            ))),
        }
    }
}

impl<T: Element> std::fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor<{}>{:?}", T::NAME, self.shape)
    }
}
