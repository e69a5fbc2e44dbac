//! Many small results of one batch, of any element types, copied into one buffer at
//! the end of the batch and read back at once: a training epoch's losses, logits,
//! norms and statistics cost one readback instead of one each.

use std::marker::PhantomData;
use std::ops::Range;

use anyhow::Result;

use crate::gpu::{Batch, Element, Gpu, Tensor};

/// The tensors to read back, in the order they were added. Holds a handle to each
/// buffer, so a temporary may be dropped once added.
#[derive(Default)]
pub struct Gather {
    parts: Vec<(wgpu::Buffer, u64)>,
}

/// Where one added tensor lies in the gathered bytes; typed by its element.
pub struct Part<T: Element> {
    index: usize,
    _element: PhantomData<T>,
}

impl<T: Element> Clone for Part<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Element> Copy for Part<T> {}

/// The gathered bytes, recorded into a batch and not yet read.
pub struct PendingGather {
    buffer: Tensor<u32>,
    spans: Vec<Range<usize>>,
}

/// The gathered bytes on the host.
pub struct Gathered {
    bytes: Vec<u8>,
    spans: Vec<Range<usize>>,
}

impl Gather {
    /// Adds the whole of `tensor`; its values are the ones it holds at the end of the
    /// batch [`Gather::record`] records into.
    pub fn add<T: Element>(&mut self, tensor: &Tensor<T>) -> Part<T> {
        self.parts.push((tensor.buffer().clone(), tensor.bytes()));
        Part {
            index: self.parts.len() - 1,
            _element: PhantomData,
        }
    }

    /// Records the copies of every added tensor into one buffer, after everything
    /// `batch` holds so far.
    pub fn record(self, batch: &mut Batch) -> Result<PendingGather> {
        let mut spans = Vec::with_capacity(self.parts.len());
        let mut end = 0usize;
        for (_, bytes) in &self.parts {
            spans.push(end..end + *bytes as usize);
            end += *bytes as usize;
        }
        // Tensors hold whole 4-byte words (f32, f64, u32), so every offset is aligned.
        let buffer = Tensor::<u32>::zeros(batch.gpu(), &[end / 4])?;
        for ((source, bytes), span) in self.parts.iter().zip(&spans) {
            if *bytes > 0 {
                batch.copy_region(source, 0, buffer.buffer(), span.start as u64, *bytes);
            }
        }
        Ok(PendingGather { buffer, spans })
    }
}

/// Records a measurement into a batch of its own with its own gather, submits once and
/// reads back once: a measurement taken alone rather than batched with others.
pub fn record_alone<P>(
    gpu: &Gpu, record: impl FnOnce(&mut Batch, &mut Gather) -> Result<P>,
) -> Result<(P, Gathered)> {
    let mut batch = Batch::new(gpu);
    let mut gather = Gather::default();
    let pending = record(&mut batch, &mut gather)?;
    let read = gather.record(&mut batch)?;
    batch.submit()?;
    Ok((pending, read.read(gpu)?))
}

impl PendingGather {
    /// One readback of everything gathered (call after the batch was submitted).
    pub fn read(self, gpu: &Gpu) -> Result<Gathered> {
        let words = self.buffer.to_vec(gpu)?;
        Ok(Gathered {
            bytes: bytemuck::cast_slice(&words).to_vec(),
            spans: self.spans,
        })
    }
}

impl Gathered {
    /// The values of one added tensor.
    pub fn get<T: Element>(&self, part: Part<T>) -> Vec<T> {
        bytemuck::pod_collect_to_vec(&self.bytes[self.spans[part.index].clone()])
    }

    /// [`Gathered::get`] widened to f64.
    pub fn get_f64<T: crate::linalg::Real>(&self, part: Part<T>) -> Vec<f64> {
        self.get(part).into_iter().map(T::to_f64).collect()
    }
}
