//! The RM stage: self-supervised pre-training (SimSiam or SimCLR, [`RmMethod`]) of an
//! encoder on all training images (labels unused), with per-epoch checkpoints in the run's
//! partial directory and `--resume`.
//!
//! Artifact files: `encoder.bpk` (the encoder record, burnpack), `simsiam.bpk` or
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
use crate::train::{TrainState, Trainer};
use burn::module::Module;
use burn::tensor::Device;
use objective::RmObjective;
use rmd_data::augment::{ImageShape, Normalizer};
use rmd_data::dataset::{DATASET_STAGE, Dataset};
use rmd_data::loader::epoch_permutation;
use rmd_store::{Artifact, ArtifactSpec, Begin, BeginOptions, CodeIdentity, CommitInfo, Store};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Stage name of RM artifacts.
pub const PRETRAIN_STAGE: &str = "pretrain";
/// Schema version of RM artifacts.
pub const PRETRAIN_SCHEMA_VERSION: u32 = 1;

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

/// Loads the encoder of an RM artifact on `device`.
pub fn load_encoder(artifact: &Artifact, device: &Device) -> Result<(ResNet, RmModelInfo)> {
    let info_path = artifact.path("model.json");
    let text = std::fs::read_to_string(&info_path).ctx("reading", &info_path)?;
    let info: RmModelInfo =
        serde_json::from_str(&text).map_err(|e| NnError::unreadable_description(&info_path, e))?;
    let path = artifact.path("encoder.bpk");
    let encoder = info
        .model
        .encoder
        .init(device)
        .try_load_file(&path)
        .map_err(|e| NnError::unreadable_record(&path, e))?;
    Ok((encoder, info))
}

/// How to run the stage.
#[derive(Debug, Clone)]
pub struct PretrainRequest {
    /// The parameters (from a profile, possibly overridden).
    pub params: PretrainParams,
    /// The profile they came from (recorded in metrics).
    pub profile: Profile,
    /// Continue an interrupted run from its last checkpoint.
    pub resume: bool,
    /// Recompute even when cached.
    pub force: bool,
    /// Draw a progress bar.
    pub progress: bool,
    /// Print one line per epoch on stderr.
    pub verbose: bool,
}

/// Runs (or finds cached) the RM stage on a dataset artifact. Returns the artifact and
/// whether it was a cache hit.
pub fn run_pretrain(
    store: &Store,
    dataset: &Artifact,
    req: &PretrainRequest,
    compute: &ComputeDevice,
    code: &CodeIdentity,
) -> Result<(Artifact, bool)> {
    let p = &req.params;
    p.validate().map_err(NnError::Invalid)?;
    if dataset.stage() != DATASET_STAGE {
        return Err(NnError::Invalid(format!(
            "{} is a {} artifact, not a dataset",
            dataset.key(),
            dataset.stage()
        )));
    }
    let ds = Dataset::open(dataset)?;
    if p.model.encoder.in_channels != ds.info.channels {
        return Err(NnError::Invalid(format!(
            "the encoder takes {} channels but {} images have {}",
            p.model.encoder.in_channels, ds.info.name, ds.info.channels
        )));
    }
    let n_images = p.images.map_or(ds.info.n_train, |n| n.min(ds.info.n_train));
    let steps_per_epoch = n_images / p.batch_size;
    if steps_per_epoch == 0 || p.epochs == 0 {
        return Err(NnError::Invalid(format!(
            "{n_images} images with batch size {} and {} epochs leave no training step",
            p.batch_size, p.epochs
        )));
    }
    let spec = ArtifactSpec::new(PRETRAIN_STAGE, PRETRAIN_SCHEMA_VERSION, p).with_input("dataset", &ds.key);
    let opts = BeginOptions { force: req.force, resume: req.resume };
    let pending =
        match crate::checkpoint::begin_training(store, &spec, p.epochs, opts, |s: &TrainState<EpochLog>| {
            s.epochs_done
        })? {
            Begin::Cached(a) => return Ok((a, true)),
            Begin::Run(pending) => pending,
        };

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
        progress: req.progress,
        verbose: req.verbose,
    };
    let mut objective = RmObjective {
        params: p,
        dataset: &ds,
        shape,
        augment: p.augment.pipeline(),
        normalizer: &norm,
        schedule,
        device: device.clone(),
        eval_device: compute.device.clone(),
        aug_secs: 0.0,
    };
    let (model, log): (SimSiam, _) =
        trainer.run(&pending.path("checkpoint"), pending.resumed(), fresh, &mut objective)?;

    crate::checkpoint::save_model(&model.encoder, &pending.path("encoder.bpk"))?;
    crate::checkpoint::save_model(&model, &pending.path(&format!("{}.bpk", p.method.name())))?;
    let info = RmModelInfo {
        model: p.model.clone(),
        normalizer_mean: norm.mean.clone(),
        normalizer_std: norm.std.clone(),
        encoder_dim: p.model.encoder.out_dim(),
        dataset_key: ds.key.clone(),
        image_shape: [shape.channels, shape.height, shape.width],
    };
    let info_path = pending.path("model.json");
    std::fs::write(&info_path, serde_json::to_vec_pretty(&info).expect("json")).ctx("writing", &info_path)?;
    crate::train::write_csv(&pending.path("epochs.csv"), &log)?;

    let last = log.last().expect("at least one epoch");
    let train_secs: f64 = log.iter().map(|e| e.seconds).sum();
    let best_knn = log.iter().filter_map(|e| e.knn_acc).fold(f64::NAN, f64::max);
    let metrics = serde_json::json!({
        "profile": req.profile.name(),
        "method": p.method.name(),
        "dataset": ds.info.name,
        "epochs": p.epochs,
        "images": subset.len(),
        "encoder_dim": info.encoder_dim,
        "final_loss": last.loss,
        "final_knn_acc": last.knn_acc,
        "best_knn_acc": if best_knn.is_nan() { None } else { Some(best_knn) },
        "train_seconds": train_secs,
        "images_per_s": log.iter().map(|e| e.images_per_s).sum::<f64>() / log.len() as f64,
        "aug_share": log.iter().map(|e| e.aug_share).sum::<f64>() / log.len() as f64,
        "knn_note": "kNN accuracy is a diagnostic computed with the clean training and test labels; training never reads labels",
    });
    let mut seeds = BTreeMap::new();
    seeds.insert("pretrain".to_string(), p.seed);
    let artifact = pending.commit(CommitInfo {
        metrics,
        seeds,
        code: code.clone(),
        backend: compute.kind.name().to_string(),
        device: compute.description.clone(),
    })?;
    Ok((artifact, false))
}
