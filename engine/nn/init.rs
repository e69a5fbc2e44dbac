//! An FCN's initial weights (MEASUREMENTS.md §2), drawn on the host from the seed, and
//! the draws already made in this process, kept for the next run that needs them.

use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

use super::params::FcnConfig;
use crate::linalg::Real;

/// The initial weights of an f32 network: [`init_weights_in`] rounded to f32.
pub fn init_weights(config: &FcnConfig) -> Vec<Vec<f32>> {
    init_weights_in(config)
}

/// The initial weights on the host: W_l entries ~ N(0, g / fan_in), the hidden layers'
/// gain g, 1 for the linear output layer, drawn in f64 and rounded to `T`, so that an
/// f32 and an f64 network of one seed start from the same weights up to f32 rounding.
/// Deterministic in the config's seed.
pub fn init_weights_in<T: Real>(config: &FcnConfig) -> Vec<Vec<T>> {
    let key = InitKey::of(config);
    let weights: usize = key.shapes.iter().map(|&(o, i)| o * i).sum();
    if weights * 8 > CACHE_BYTES {
        return draw(&key, |v| T::from_f64(v));
    }
    cached_draws(key)
        .iter()
        .map(|w| w.iter().map(|&v| T::from_f64(v)).collect())
        .collect()
}

/// Everything the draws depend on.
#[derive(Clone, PartialEq)]
struct InitKey {
    seed: u64,
    shapes: Vec<(usize, usize)>,
    /// Each layer's standard deviation, as bits.
    stds: Vec<u64>,
}

impl InitKey {
    fn of(config: &FcnConfig) -> InitKey {
        let shapes = config.layer_shapes();
        let last = shapes.len() - 1;
        let stds = shapes
            .iter()
            .enumerate()
            .map(|(l, &(_, fan_in))| {
                let g = if l == last { 1.0 } else { config.hidden_gain() };
                (g / fan_in as f64).sqrt().to_bits()
            })
            .collect();
        InitKey {
            seed: config.seed,
            shapes,
            stds,
        }
    }
}

/// Each layer's weights, drawn in order from one generator seeded with the key's seed.
fn draw<T>(key: &InitKey, round: impl Fn(f64) -> T) -> Vec<Vec<T>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(key.seed);
    key.shapes
        .iter()
        .zip(&key.stds)
        .map(|(&(fan_out, fan_in), &std)| {
            let normal = Normal::new(0.0, f64::from_bits(std)).expect("finite std");
            (0..fan_out * fan_in)
                .map(|_| round(normal.sample(&mut rng)))
                .collect()
        })
        .collect()
}

/// Most bytes of f64 draws kept: a sweep draws the same weights for every n,
/// renormalisation or loss of one width and seed (quick.yaml: 4 runs each), and drawing
/// costs ~7 ns a weight on the host, before the device has work.
const CACHE_BYTES: usize = 128 << 20;

/// Most draws kept, whatever their size: a lookup scans them all.
const CACHE_ENTRIES: usize = 16;

type Draws = Arc<Vec<Vec<f64>>>;

/// The draws kept, least recently used first.
static CACHE: Mutex<Vec<(InitKey, Draws)>> = Mutex::new(Vec::new());

/// The draws for `key`, from the cache or drawn and kept (evicting the least recently
/// used beyond [`CACHE_BYTES`] or [`CACHE_ENTRIES`]).
fn cached_draws(key: InitKey) -> Draws {
    let bytes = |d: &Draws| d.iter().map(Vec::len).sum::<usize>() * 8;
    {
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = cache.iter().position(|(k, _)| *k == key) {
            let entry = cache.remove(at);
            let draws = entry.1.clone();
            cache.push(entry);
            return draws;
        }
    }
    let draws: Draws = Arc::new(draw(&key, |v| v));
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.push((key, draws.clone()));
    while cache.len() > CACHE_ENTRIES
        || cache.iter().map(|(_, d)| bytes(d)).sum::<usize>() > CACHE_BYTES
    {
        cache.remove(0);
    }
    draws
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::activation::Activation;

    fn config(seed: u64, widths: Vec<usize>, gain: Option<f64>) -> FcnConfig {
        FcnConfig {
            input_dim: 5,
            widths,
            outputs: 3,
            activation: Activation::Relu,
            renormalize: false,
            gain,
            bias: false,
            seed,
        }
    }

    /// The draws written out from the definition, with no cache.
    fn fresh(config: &FcnConfig) -> Vec<Vec<f64>> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
        let shapes = config.layer_shapes();
        let last = shapes.len() - 1;
        shapes
            .iter()
            .enumerate()
            .map(|(l, &(o, i))| {
                let g = if l == last { 1.0 } else { config.hidden_gain() };
                let normal = Normal::new(0.0, (g / i as f64).sqrt()).unwrap();
                (0..o * i).map(|_| normal.sample(&mut rng)).collect()
            })
            .collect()
    }

    #[test]
    fn kept_draws_are_those_of_their_own_config() {
        let configs = [
            config(7, vec![6, 4], None),
            config(8, vec![6, 4], None),
            config(7, vec![6, 5], None),
            config(7, vec![6, 4], Some(1.0)),
        ];
        // Twice over, so that the second pass reads what the first kept.
        for _ in 0..2 {
            for c in &configs {
                assert_eq!(init_weights_in::<f64>(c), fresh(c));
                let rounded: Vec<Vec<f32>> = fresh(c)
                    .iter()
                    .map(|w| w.iter().map(|&v| v as f32).collect())
                    .collect();
                assert_eq!(init_weights(c), rounded);
            }
        }
    }
}
