//! Which training images a run trains on and which it holds out as the noisy validation
//! split (for choosing epochs and settings without looking at the test set).

use rmd_data::loader::epoch_permutation;

/// Salt of the validation permutation (fixed: the same images for every seed).
const VAL_SALT: u64 = 0xD4u64 << 56;
/// Salt of the training-subset permutation (combined with the run's seed).
const SUBSET_SALT: u64 = 0xD1u64 << 56;

/// The training images and the held-out validation images of a run, each sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainValSplit {
    /// Indices trained on.
    pub train: Vec<u32>,
    /// Indices held out (never trained on), evaluated against their noisy labels.
    pub val: Vec<u32>,
}

impl TrainValSplit {
    /// Splits `n` training images: the validation split is the first `val_images` of a
    /// permutation that does not depend on `seed`; the training images are the first `images`
    /// (None: all) of a `seed`-dependent permutation of the rest.
    pub fn new(n: usize, val_images: usize, images: Option<usize>, seed: u64) -> Result<Self, String> {
        if val_images >= n {
            return Err(format!(
                "a validation split of {val_images} images leaves none of the {n} training images to train on"
            ));
        }
        let held = epoch_permutation(n, VAL_SALT, 0);
        let mut val: Vec<u32> = held[..val_images].to_vec();
        let rest: Vec<u32> = {
            let mut r = held[val_images..].to_vec();
            r.sort_unstable();
            r
        };
        let order = epoch_permutation(rest.len(), seed ^ SUBSET_SALT, 0);
        let take = images.unwrap_or(rest.len()).min(rest.len());
        let mut train: Vec<u32> = order[..take].iter().map(|&j| rest[j as usize]).collect();
        train.sort_unstable();
        val.sort_unstable();
        Ok(TrainValSplit { train, val })
    }
}

/// The epoch chosen on the validation split: the highest noisy validation accuracy, the
/// earliest of ties. None when no epoch has a validation accuracy.
pub fn select_epoch(val_acc: &[Option<f64>]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, v) in val_acc.iter().enumerate() {
        if let Some(v) = *v
            && best.is_none_or(|(_, b)| v > b)
        {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_is_disjoint_fixed_across_seeds_and_training_varies() {
        let a = TrainValSplit::new(1000, 100, Some(300), 1).unwrap();
        let b = TrainValSplit::new(1000, 100, Some(300), 2).unwrap();
        assert_eq!((a.val.len(), a.train.len()), (100, 300));
        assert_eq!(a.val, b.val, "the validation split must not depend on the seed");
        assert_ne!(a.train, b.train, "the training subset is drawn with the seed");
        for s in [&a, &b] {
            assert!(s.train.iter().all(|i| s.val.binary_search(i).is_err()), "overlap");
            assert!(s.train.windows(2).all(|w| w[0] < w[1]) && s.val.windows(2).all(|w| w[0] < w[1]));
        }
        let all = TrainValSplit::new(1000, 100, None, 1).unwrap();
        assert_eq!(all.train.len(), 900);
        let none = TrainValSplit::new(1000, 0, None, 1).unwrap();
        assert_eq!((none.train.len(), none.val.len()), (1000, 0));
        assert_eq!(
            TrainValSplit::new(10, 3, Some(3), 5).unwrap(),
            TrainValSplit::new(10, 3, Some(3), 5).unwrap()
        );
    }

    #[test]
    fn a_split_that_leaves_nothing_to_train_on_is_refused() {
        let e = TrainValSplit::new(100, 100, None, 1).unwrap_err();
        assert!(e.contains("leaves none"), "{e}");
    }

    #[test]
    fn the_selected_epoch_is_the_earliest_best_on_validation() {
        assert_eq!(select_epoch(&[Some(0.3), Some(0.5), Some(0.5), Some(0.4)]), Some(1));
        assert_eq!(select_epoch(&[None, None]), None);
        assert_eq!(select_epoch(&[]), None);
    }
}
