//! Relation modeling: self-supervised pre-training (SimSiam or SimCLR, [`RmMethod`]) of an
//! encoder on the training images (labels unused), resumable from per-epoch checkpoints
//! ([`train`]). The RM stage (`rmdnet::stages::pretrain`) stores what it writes:
//!
//! Files (written by [`TrainedRm::write`]): `encoder.bpk` (the encoder record, burnpack), `simsiam.bpk` or
//! `simclr.bpk` (encoder, projector and predictor; SimCLR leaves the predictor untrained),
//! `model.json` ([`RmModelInfo`]: architecture, input normalisation, dataset key) and
//! `epochs.csv` ([`EpochLog`] rows: per-epoch loss, lr, kNN accuracy, seconds, images/s,
//! augmentation share of the step time).

mod log;
mod objective;
mod params;

pub use crate::profile::Profile;
pub use log::EpochLog;
pub use params::{AugmentParams, KnnParams, PretrainParams, RmMethod};

use crate::backend::ComputeDevice;
use crate::error::{IoContext, NnError, Result};
use crate::models::{ResNet, SimSiam, SimSiamConfig};
use crate::schedule::CosineSchedule;
use crate::train::{RunOptions, Trainer};
use burn::module::Module;
use burn::tensor::Device;
use objective::RmObjective;
use rmd_data::augment::{ImageShape, Normalizer};
use rmd_data::dataset::{Dataset, DatasetInfo};
use rmd_data::loader::epoch_permutation;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Salt separating the training-subset permutation from the epoch permutations.
const SUBSET_SALT: u64 = 0x5u64 << 60;

/// What later stages need to rebuild and feed the encoder (`model.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RmModelInfo {
    /// The architecture.
    pub model: SimSiamConfig,
    /// Input normalisation (training-set statistics).
    pub normalizer_mean: Vec<f32>,
    /// Input normalisation (training-set statistics).
    pub normalizer_std: Vec<f32>,
    /// Encoder output dimension.
    pub encoder_dim: usize,
    /// Key of the dataset artifact it was trained on.
    pub dataset_key: String,
    /// Image shape: channels, height, width.
    pub image_shape: [usize; 3],
}

impl RmModelInfo {
    /// The input normaliser.
    pub fn normalizer(&self) -> Normalizer {
        Normalizer { mean: self.normalizer_mean.clone(), std: self.normalizer_std.clone() }
    }

    /// The image shape.
    pub fn shape(&self) -> ImageShape {
        ImageShape { channels: self.image_shape[0], height: self.image_shape[1], width: self.image_shape[2] }
    }
}

/// Loads the encoder of an RM artifact directory on `device`.
pub fn load_encoder(dir: &Path, device: &Device) -> Result<(ResNet, RmModelInfo)> {
    let info_path = dir.join("model.json");
    let text = std::fs::read_to_string(&info_path).ctx("reading", &info_path)?;
    let info: RmModelInfo =
        serde_json::from_str(&text).map_err(|e| NnError::unreadable_description(&info_path, e))?;
    let path = dir.join("encoder.bpk");
    let encoder = info
        .model
        .encoder
        .init(device)
        .try_load_file(&path)
        .map_err(|e| NnError::unreadable_record(&path, e))?;
    Ok((encoder, info))
}

/// Checks the parameters against the dataset before any work starts: the encoder's input
/// channels, and at least one training step.
pub fn check_fits(p: &PretrainParams, info: &DatasetInfo) -> Result<()> {
    if p.model.encoder.in_channels != info.channels {
        return Err(NnError::Invalid(format!(
            "the encoder takes {} channels but {} images have {}",
            p.model.encoder.in_channels, info.name, info.channels
        )));
    }
    let n_images = p.images.map_or(info.n_train, |n| n.min(info.n_train));
    if n_images / p.batch_size == 0 || p.epochs == 0 {
        return Err(NnError::Invalid(format!(
            "{n_images} images with batch size {} and {} epochs leave no training step",
            p.batch_size, p.epochs
        )));
    }
    Ok(())
}

/// A trained RM model, its description and its epoch log.
pub struct TrainedRm {
    /// Encoder and heads.
    pub model: SimSiam,
    /// What later stages need to rebuild and feed the encoder.
    pub info: RmModelInfo,
    /// One row per epoch.
    pub log: Vec<EpochLog>,
    /// Training images used.
    pub images: usize,
}

/// Trains an RM encoder on `ds` (all training images, or the seeded subset `p.images`).
pub fn train(
    ds: &Dataset,
    p: &PretrainParams,
    compute: &ComputeDevice,
    run: RunOptions,
) -> Result<TrainedRm> {
    let shape = ImageShape { channels: ds.info.channels, height: ds.info.height, width: ds.info.width };
    let norm = Normalizer::from_images(ds.train.all_images(), shape.channels, shape.height * shape.width);
    let subset: Vec<u32> = match p.images {
        Some(n) if n < ds.info.n_train => {
            let mut s = epoch_permutation(ds.info.n_train, p.seed ^ SUBSET_SALT, 0);
            s.truncate(n);
            s.sort_unstable();
            s
        }
        _ => (0..ds.info.n_train as u32).collect(),
    };
    let steps_per_epoch = subset.len() / p.batch_size;
    let schedule = CosineSchedule {
        peak: p.base_lr * p.batch_size as f64 / 256.0,
        warmup: p.warmup_epochs * steps_per_epoch,
        total: p.epochs * steps_per_epoch,
    };

    let device = compute.device.clone().autodiff();
    // Seeding right before initialisation makes the initial weights a function of the seed.
    let fresh = || {
        device.seed(p.seed);
        let optim = crate::schedule::sgd(p.momentum, p.weight_decay);
        Ok((p.model.init(&device), optim))
    };
    let trainer = Trainer {
        epochs: p.epochs,
        batch_size: p.batch_size,
        seed: p.seed,
        subset: &subset,
        label: format!("{} {}", p.method.name(), ds.info.name),
    };
    let mut objective = RmObjective {
        params: p,
        dataset: ds,
        shape,
        augment: p.augment.pipeline(),
        normalizer: &norm,
        schedule,
        device: device.clone(),
        eval_device: compute.device.clone(),
        aug_secs: 0.0,
    };
    let (model, log): (SimSiam, _) = trainer.run(run, fresh, &mut objective)?;
    let info = RmModelInfo {
        model: p.model.clone(),
        normalizer_mean: norm.mean.clone(),
        normalizer_std: norm.std.clone(),
        encoder_dim: p.model.encoder.out_dim(),
        dataset_key: ds.key.clone(),
        image_shape: [shape.channels, shape.height, shape.width],
    };
    Ok(TrainedRm { model, info, log, images: subset.len() })
}

impl TrainedRm {
    /// Writes `encoder.bpk`, `simsiam.bpk` or `simclr.bpk` (by `method`), `model.json` and
    /// `epochs.csv` into `dir`.
    pub fn write(&self, dir: &Path, method: RmMethod) -> Result<()> {
        crate::checkpoint::save_model(&self.model.encoder, &dir.join("encoder.bpk"))?;
        crate::checkpoint::save_model(&self.model, &dir.join(format!("{}.bpk", method.name())))?;
        let info_path = dir.join("model.json");
        std::fs::write(&info_path, serde_json::to_vec_pretty(&self.info).expect("json"))
            .ctx("writing", &info_path)?;
        crate::train::write_log_csv(&dir.join("epochs.csv"), &self.log)
    }

    /// The run's figures, as recorded in the artifact's metrics.
    pub fn metrics(&self, p: &PretrainParams, profile: Profile, dataset_name: &str) -> serde_json::Value {
        let log = &self.log;
        let last = log.last().expect("at least one epoch");
        let train_secs: f64 = log.iter().map(|e| e.seconds).sum();
        let best_knn = log.iter().filter_map(|e| e.knn_acc).fold(f64::NAN, f64::max);
        serde_json::json!({
            "profile": profile.name(),
            "method": p.method.name(),
            "dataset": dataset_name,
            "epochs": p.epochs,
            "images": self.images,
            "encoder_dim": self.info.encoder_dim,
            "final_loss": last.loss,
            "final_knn_acc": last.knn_acc,
            "best_knn_acc": if best_knn.is_nan() { None } else { Some(best_knn) },
            "train_seconds": train_secs,
            "images_per_s": log.iter().map(|e| e.images_per_s).sum::<f64>() / log.len() as f64,
            "aug_share": log.iter().map(|e| e.aug_share).sum::<f64>() / log.len() as f64,
            "epoch_seconds": log.iter().map(|e| e.seconds).collect::<Vec<_>>(),
            "epoch_images_per_s": log.iter().map(|e| e.images_per_s).collect::<Vec<_>>(),
            "knn_note": "kNN accuracy is a diagnostic computed with the clean training and test labels; training never reads labels",
        })
    }
}
