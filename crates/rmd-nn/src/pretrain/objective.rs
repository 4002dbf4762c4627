//! What the RM stage optimises: SimSiam's or SimCLR's loss on two augmented views of each
//! image, with the kNN monitor after an epoch.

use super::log::EpochLog;
use super::params::{KnnParams, PretrainParams, RmMethod};
use crate::error::Result;
use crate::knn::{embed, knn_accuracy};
use crate::models::{ResNet, SimSiam};
use crate::schedule::CosineSchedule;
use crate::train::{Batch, EpochEnd, Objective, round_to};
use burn::tensor::{Device, Tensor, TensorData};
use rmd_data::augment::{ImageShape, Normalizer, SimSiamAugment, Stream, simsiam_batch};
use rmd_data::dataset::Dataset;
use rmd_data::loader::epoch_permutation;
use std::time::Instant;

/// The RM objective over one dataset.
pub(super) struct RmObjective<'a> {
    pub params: &'a PretrainParams,
    pub dataset: &'a Dataset,
    pub shape: ImageShape,
    pub augment: SimSiamAugment,
    pub normalizer: &'a Normalizer,
    pub schedule: CosineSchedule,
    /// Where the views are built (autodiff).
    pub device: Device,
    /// Where the monitor embeds (no autodiff).
    pub eval_device: Device,
    /// Seconds spent augmenting in the current epoch.
    pub aug_secs: f64,
}

impl Objective<SimSiam> for RmObjective<'_> {
    type Log = EpochLog;

    fn loss(&mut self, model: &SimSiam, batch: &Batch) -> Result<Tensor<1>> {
        let p = self.params;
        let idx = batch.indices;
        let t_aug = Instant::now();
        let images = self.dataset.train.gather(idx);
        let view = |v: u32| {
            let stream = Stream { seed: p.seed, epoch: batch.epoch as u64, view: v };
            simsiam_batch(&images, idx, self.shape, &self.augment, self.normalizer, stream)
        };
        let (v1, v2) = (view(0), view(1));
        self.aug_secs += t_aug.elapsed().as_secs_f64();
        let dims = [idx.len(), self.shape.channels, self.shape.height, self.shape.width];
        let x1 = Tensor::<4>::from_data(TensorData::new(v1, dims), &self.device);
        let x2 = Tensor::<4>::from_data(TensorData::new(v2, dims), &self.device);
        Ok(match p.method {
            RmMethod::SimSiam => model.loss(x1, x2),
            RmMethod::SimClr { temperature } => model.contrastive_loss(x1, x2, temperature),
        })
    }

    fn lr(&self, global_step: usize) -> f64 {
        self.schedule.lr(global_step)
    }

    fn end_epoch(&mut self, model: &SimSiam, end: &EpochEnd) -> EpochLog {
        let p = self.params;
        let last = end.epoch + 1 == p.epochs;
        let knn_acc = (last || (p.knn.every > 0 && (end.epoch + 1).is_multiple_of(p.knn.every))).then(|| {
            monitor(
                &model.encoder,
                self.dataset,
                &p.knn,
                self.shape,
                self.normalizer,
                &self.eval_device,
                p.seed,
            )
        });
        let aug_share = self.aug_secs / end.train_secs;
        self.aug_secs = 0.0;
        EpochLog {
            epoch: end.epoch + 1,
            loss: end.mean_loss,
            lr: end.lr,
            knn_acc,
            seconds: round_to(end.started.elapsed().as_secs_f64(), 3),
            images_per_s: round_to(end.images_per_s, 2),
            aug_share: round_to(aug_share, 4),
        }
    }
}

/// Weighted kNN accuracy of the encoder: test images against training images, both subsets
/// drawn with fixed seeds so every evaluation uses the same images.
fn monitor(
    encoder: &ResNet,
    ds: &Dataset,
    knn: &KnnParams,
    shape: ImageShape,
    norm: &Normalizer,
    device: &Device,
    seed: u64,
) -> f64 {
    let pick = |n: usize, limit: Option<usize>, salt: u64| -> Vec<u32> {
        let mut v = epoch_permutation(n, seed ^ salt, 0);
        v.truncate(limit.unwrap_or(n).min(n));
        v.sort_unstable();
        v
    };
    let train_idx = pick(ds.info.n_train, knn.train_images, 0xA1);
    let test_idx = pick(ds.info.n_test, knn.test_images, 0xB2);
    let (train, dim) = embed(encoder, &ds.train, &train_idx, shape, norm, device, 256);
    let (test, _) = embed(encoder, &ds.test, &test_idx, shape, norm, device, 256);
    let train_labels: Vec<u16> = train_idx.iter().map(|&i| ds.train.labels()[i as usize]).collect();
    let test_labels: Vec<u16> = test_idx.iter().map(|&i| ds.test.labels()[i as usize]).collect();
    knn_accuracy(
        &train,
        &train_labels,
        &test,
        &test_labels,
        dim,
        ds.info.num_classes(),
        knn.k,
        knn.temperature as f32,
        device,
    )
}
