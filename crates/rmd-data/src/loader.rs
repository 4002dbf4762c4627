//! Seeded mini-batch iteration over a split: per-epoch permutations and batches that copy
//! only the images they hold.

use crate::dataset::Split;
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

/// One mini-batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Sample indices in the split.
    pub indices: Vec<u32>,
    /// Images, concatenated (B×C×H×W bytes).
    pub images: Vec<u8>,
    /// Labels of those samples.
    pub labels: Vec<u16>,
}

/// Iterator over the mini-batches of a split in a given order.
#[derive(Debug)]
pub struct Batches<'a> {
    split: &'a Split,
    order: Vec<u32>,
    batch_size: usize,
    drop_last: bool,
    pos: usize,
}

impl<'a> Batches<'a> {
    /// Batches over `order` (use [`epoch_permutation`] for training, `0..n` for evaluation).
    pub fn new(split: &'a Split, order: Vec<u32>, batch_size: usize, drop_last: bool) -> Self {
        assert!(batch_size > 0, "batch size must be positive");
        Batches { split, order, batch_size, drop_last, pos: 0 }
    }

    /// Number of batches this iterator yields in total.
    pub fn num_batches(&self) -> usize {
        if self.drop_last {
            self.order.len() / self.batch_size
        } else {
            self.order.len().div_ceil(self.batch_size)
        }
    }
}

impl Iterator for Batches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let remaining = self.order.len() - self.pos;
        if remaining == 0 || (self.drop_last && remaining < self.batch_size) {
            return None;
        }
        let end = self.pos + remaining.min(self.batch_size);
        let indices = self.order[self.pos..end].to_vec();
        self.pos = end;
        let labels = indices.iter().map(|&i| self.split.labels()[i as usize]).collect();
        Some(Batch { images: self.split.gather(&indices), indices, labels })
    }
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
