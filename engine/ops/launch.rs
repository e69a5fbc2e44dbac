//! What every wrapper does to launch a kernel, written once: build the family's kernels,
//! lay out the params the shader declares, and dispatch over a `grid_1d` grid. The
//! buffers go in the order of the shader's bindings; `Batch::dispatch` checks them
//! against naga's reflection.

use std::sync::{Arc, Mutex};

use anyhow::Result;

use super::real::RealPair;
use crate::gpu::{grid_1d, groups_for, Batch, Element, Gpu, Kernel, Shader, Tensor};

/// The params of a family whose WGSL `Params` holds up to four u32 (sizes, indices,
/// flags), in declaration order, padded to 16 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Words {
    words: [u32; 4],
}

impl Words {
    /// `values` in the order the shader's `Params` declares them, the rest 0. The
    /// wrappers check beforehand that every value fits the shader's u32 arithmetic.
    pub fn new<const N: usize>(values: [usize; N]) -> Self {
        const { assert!(N <= 4, "a Words params struct holds four u32") };
        let mut words = [0; 4];
        for (word, value) in words.iter_mut().zip(values) {
            *word = value as u32;
        }
        Words { words }
    }
}

/// The params of a family whose WGSL `Params` holds up to four u32 and then `Real`
/// scalars at byte 16 (a multiple of 8, as f64 needs), filled through [`RealPair`].
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct WordsAndReals {
    words: Words,
    reals: RealPair,
}

const _: () = assert!(std::mem::offset_of!(WordsAndReals, reals) == 16);

impl WordsAndReals {
    /// `values` as in [`Words::new`], then the scalars in the precision's layout.
    pub fn new<const N: usize>(values: [usize; N], reals: RealPair) -> Self {
        WordsAndReals {
            words: Words::new(values),
            reals,
        }
    }
}

/// How a launch's workgroups cover its work, laid out over x and y by `grid_1d`.
#[derive(Clone, Copy, Debug)]
pub enum Grid {
    /// One invocation per element, in workgroups of the size the kernel's shader declares.
    Elements(usize),
    /// One workgroup per item (a row, a matrix, a tile).
    Groups(usize),
}

/// Records one launch of `kernel` with the shader's `params` over `grid`.
pub fn launch<P: bytemuck::Pod>(
    batch: &mut Batch, kernel: &Kernel, buffers: &[&wgpu::Buffer], params: &P, grid: Grid,
) -> Result<()> {
    let groups = match grid {
        Grid::Elements(len) => groups_for(len, kernel.workgroup_size[0]),
        Grid::Groups(count) => count as u64,
    };
    let workgroups = grid_1d(batch.gpu(), groups)?;
    batch.dispatch(kernel, buffers, Some(params), workgroups)
}

/// The tiles (`[height, width]` each) of a `[rows, columns]` output that hold an entry
/// on or below its diagonal (`lower`) or on or above it: the workgroups of a launch that lists
/// them with shaders/common.wgsl's `triangle_tile`, which counts them the same way.
pub fn triangle_tiles([rows, cols]: [usize; 2], [height, width]: [u32; 2], lower: bool) -> u64 {
    let (height, width) = (height as u64, width as u64);
    let col_tiles = (cols as u64).div_ceil(width);
    (0..(rows as u64).div_ceil(height))
        .map(|y| match lower {
            true => (height * (y + 1)).div_ceil(width).min(col_tiles),
            false => col_tiles - (height * y / width).min(col_tiles),
        })
        .sum()
}

/// The kernels of `entries`, in order, of one shader built without overrides.
pub fn kernels<const N: usize>(
    gpu: &Gpu, shader: &'static Shader, entries: [&str; N],
) -> Result<[Arc<Kernel>; N]> {
    let built = entries
        .iter()
        .map(|entry| gpu.kernel(shader, entry, &[]))
        .collect::<Result<Vec<_>>>()?;
    Ok(built
        .try_into()
        .unwrap_or_else(|_| unreachable!("one kernel per entry point")))
}

/// One kernel per value of a vocabulary (a loss, a layout, a reduction), built once.
pub struct KernelsBy<K> {
    kernels: Vec<(K, Arc<Kernel>)>,
}

impl<K: Copy + PartialEq + std::fmt::Debug> KernelsBy<K> {
    /// `build` makes the kernel of each key, usually the entry point with the key's
    /// override value.
    pub fn new(
        keys: impl IntoIterator<Item = K>, mut build: impl FnMut(K) -> Result<Arc<Kernel>>,
    ) -> Result<Self> {
        let kernels = keys
            .into_iter()
            .map(|key| Ok((key, build(key)?)))
            .collect::<Result<_>>()?;
        Ok(KernelsBy { kernels })
    }

    /// The kernel of `key`; every key of the vocabulary was built by `new`.
    pub fn get(&self, key: K) -> &Kernel {
        match self.kernels.iter().find(|(k, _)| *k == key) {
            Some((_, kernel)) => kernel,
            None => unreachable!("no kernel built for {key:?}"),
        }
    }
}

/// A scratch buffer a wrapper keeps across launches (the partial sums of split products),
/// grown to the largest length asked for. Launches in a batch run in order, so one buffer
/// serves them all; a replaced buffer lives on until the launches bound to it have run.
pub struct Scratch<T: Element>(Mutex<Option<Tensor<T>>>);

impl<T: Element> Default for Scratch<T> {
    fn default() -> Self {
        Scratch(Mutex::new(None))
    }
}

impl<T: Element> Scratch<T> {
    /// The buffer, with room for at least `len` elements (contents unspecified).
    pub fn at_least(&self, gpu: &Gpu, len: usize) -> Result<wgpu::Buffer> {
        let mut slot = self.0.lock().unwrap();
        if slot.as_ref().is_none_or(|t| t.len() < len) {
            *slot = Some(Tensor::zeros(gpu, &[len])?);
        }
        Ok(slot.as_ref().expect("allocated above").buffer().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::triangle_tiles;

    /// The count against every tile tested one by one: from below, a tile whose first
    /// column is at or left of its last row; from above, one whose last column is at or
    /// right of its first row.
    #[test]
    fn triangle_tiles_counts_the_tiles_on_one_side_of_the_diagonal() {
        for (rows, cols) in [
            (1usize, 1usize),
            (7, 7),
            (16, 16),
            (33, 33),
            (130, 130),
            (257, 257),
            (40, 7),
            (7, 40),
        ] {
            for [height, width] in [[16u32, 32u32], [16, 64], [16, 16]] {
                let (h, w) = (height as usize, width as usize);
                let tiles = |lower: bool| {
                    let all = (0..rows.div_ceil(h))
                        .flat_map(|y| (0..cols.div_ceil(w)).map(move |x| (x, y)));
                    all.filter(|&(x, y)| match lower {
                        true => x * w < h * (y + 1),
                        false => (x + 1) * w > h * y,
                    })
                    .count() as u64
                };
                for lower in [true, false] {
                    assert_eq!(
                        triangle_tiles([rows, cols], [height, width], lower),
                        tiles(lower),
                        "{rows} x {cols} in {height} x {width} tiles, lower {lower}"
                    );
                }
            }
        }
    }
}
