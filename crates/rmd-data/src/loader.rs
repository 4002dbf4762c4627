//! Seeded sample orders: the per-epoch permutations every training loop iterates in.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// The sample order of one epoch: a permutation of `0..n` determined by `(seed, epoch)`.
pub fn epoch_permutation(n: usize, seed: u64, epoch: u64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch);
    order.shuffle(&mut rng);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_seeded_and_differ_by_epoch() {
        let a = epoch_permutation(1000, 7, 0);
        assert_eq!(a, epoch_permutation(1000, 7, 0));
        assert_ne!(a, epoch_permutation(1000, 7, 1));
        assert_ne!(a, epoch_permutation(1000, 8, 0));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<u32>>());
    }
}
