//! The host's share of a batch of dense spectra on the host's cores: each matrix's band
//! → tridiagonal reduction and tridiagonal eigensolve is independent of the others'
//! (a conditioning run's layers: 31 of them at the paper's depth), and runs after the
//! GPU's work, so the cores are free.

/// `f` of every item, in order, computed on up to the host's available parallelism in
/// scoped threads (contiguous chunks: a batch's matrices have one order, so equal cost).
/// One item, or one core, runs inline.
pub fn map_in_parallel<I: Sync, O: Send>(items: &[I], f: impl Fn(&I) -> O + Sync) -> Vec<O> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let threads = cores.min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let per_thread = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = items
            .chunks(per_thread)
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<O>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_order_whatever_the_split() {
        for len in [0, 1, 2, 3, 7, 31, 64] {
            let items: Vec<usize> = (0..len).collect();
            let got = map_in_parallel(&items, |&i| i * i + 1);
            let want: Vec<usize> = items.iter().map(|&i| i * i + 1).collect();
            assert_eq!(got, want, "{len} items");
        }
    }
}
