//! The RM stage: self-supervised pre-training (SimSiam or SimCLR, [`RmMethod`]) of an
//! encoder on all training images (labels unused), with per-epoch checkpoints in the run's
//! partial directory and `--resume`.
//!
//! Artifact files: `encoder.bpk` (the encoder record, burnpack), `simsiam.bpk` or
//! `simclr.bpk` (encoder, projector and predictor; SimCLR leaves the predictor untrained),
//! `model.json` ([`RmModelInfo`]: architecture, input normalisation, dataset key) and
//! `epochs.csv` ([`EpochLog`] rows: per-epoch loss, lr, kNN accuracy, seconds, images/s,
//! augmentation share of the step time).

mod checkpoint;
mod params;

pub use crate::profile::Profile;
pub use checkpoint::EpochLog;
pub use params::{AugmentParams, KnnParams, PretrainParams, RmMethod};

use crate::backend::ComputeDevice;
use crate::error::{IoContext, NnError, Result};
use crate::knn::{embed, knn_accuracy};
use crate::models::{ResNet, SimSiam, SimSiamConfig};
use crate::schedule::CosineSchedule;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use checkpoint::{Checkpoint, CheckpointState};
use rmd_data::augment::{ImageShape, Normalizer, Stream, simsiam_batch};
use rmd_data::dataset::{DATASET_STAGE, Dataset};
use rmd_data::loader::epoch_permutation;
use rmd_store::{Artifact, ArtifactSpec, Begin, BeginOptions, CodeIdentity, CommitInfo, Store};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;

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
        match crate::checkpoint::begin_training(store, &spec, p.epochs, opts, |s: &CheckpointState| {
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
        (p.model.init(&device), optim)
    };
    let (mut model, mut optim): (SimSiam, _) = fresh();
    let mut log: Vec<EpochLog> = Vec::new();
    let ckpt_dir = pending.path("checkpoint");
    if pending.resumed() {
        match Checkpoint::load(&ckpt_dir, model, optim)? {
            Some(c) => {
                eprintln!("resuming after epoch {} of {}", c.state.epochs_done, p.epochs);
                (model, optim, log) = (c.model, c.optim, c.state.log);
            }
            None => {
                eprintln!("no checkpoint to resume from; starting at epoch 1");
                (model, optim) = fresh();
            }
        }
    }
    let start_epoch = log.len();
    let aug = p.augment.pipeline();
    let plain_device = compute.device.clone();
    let bar = rmd_data::progress::count_bar(
        (p.epochs * steps_per_epoch) as u64,
        req.progress,
        &format!("{} {}", p.method.name(), ds.info.name),
    );
    bar.set_position((start_epoch * steps_per_epoch) as u64);

    for epoch in start_epoch..p.epochs {
        let started = Instant::now();
        let mut aug_secs = 0.0;
        let order = epoch_permutation(subset.len(), p.seed, epoch as u64);
        let mut loss_sum = 0.0;
        let mut lr = 0.0;
        for step in 0..steps_per_epoch {
            let idx: Vec<u32> = order[step * p.batch_size..(step + 1) * p.batch_size]
                .iter()
                .map(|&i| subset[i as usize])
                .collect();
            let t_aug = Instant::now();
            let images = ds.train.gather(&idx);
            let view = |v: u32| {
                let stream = Stream { seed: p.seed, epoch: epoch as u64, view: v };
                simsiam_batch(&images, &idx, shape, &aug, &norm, stream)
            };
            let (v1, v2) = (view(0), view(1));
            aug_secs += t_aug.elapsed().as_secs_f64();
            let dims = [idx.len(), shape.channels, shape.height, shape.width];
            let x1 = Tensor::<4>::from_data(TensorData::new(v1, dims), &device);
            let x2 = Tensor::<4>::from_data(TensorData::new(v2, dims), &device);
            let global_step = epoch * steps_per_epoch + step;
            lr = schedule.lr(global_step);
            let loss = match p.method {
                RmMethod::SimSiam => model.loss(x1, x2),
                RmMethod::SimClr { temperature } => model.contrastive_loss(x1, x2, temperature),
            };
            let value = loss.clone().into_data().try_to_vec::<f32>().expect("scalar loss")[0] as f64;
            if !value.is_finite() {
                return Err(NnError::Diverged(format!("loss {value} at epoch {} step {step}", epoch + 1)));
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            loss_sum += value;
            bar.inc(1);
            // Without a terminal (logs), report progress ten times per epoch instead of a bar.
            if !req.progress && req.verbose && (step + 1) % (steps_per_epoch / 10).max(1) == 0 {
                let per_step = started.elapsed().as_secs_f64() / (step + 1) as f64;
                let remaining = (p.epochs - epoch) * steps_per_epoch - (step + 1);
                eprintln!(
                    "  epoch {}/{} step {}/{steps_per_epoch}: mean loss {:.4}, {:.0} img/s, eta {:.0} min",
                    epoch + 1,
                    p.epochs,
                    step + 1,
                    loss_sum / (step + 1) as f64,
                    p.batch_size as f64 / per_step,
                    remaining as f64 * per_step / 60.0
                );
            }
            bar.set_message(format!(
                "{} {} epoch {}/{} loss {value:.4}",
                p.method.name(),
                ds.info.name,
                epoch + 1,
                p.epochs
            ));
        }
        let train_secs = started.elapsed().as_secs_f64();
        let last = epoch + 1 == p.epochs;
        let knn_acc = if last || (p.knn.every > 0 && (epoch + 1) % p.knn.every == 0) {
            Some(monitor(&model.encoder, &ds, &p.knn, shape, &norm, &plain_device, p.seed))
        } else {
            None
        };
        let entry = EpochLog {
            epoch: epoch + 1,
            loss: loss_sum / steps_per_epoch as f64,
            lr,
            knn_acc,
            seconds: started.elapsed().as_secs_f64(),
            images_per_s: (steps_per_epoch * p.batch_size) as f64 / train_secs,
            aug_share: aug_secs / train_secs,
        };
        if req.verbose {
            bar.suspend(|| eprintln!("{}", entry.describe(p.epochs)));
        }
        log.push(entry);
        if !last {
            let state = CheckpointState { epochs_done: log.len(), log: log.clone() };
            Checkpoint::save(&ckpt_dir, &model, &optim, &state, &[])?;
        }
    }
    bar.finish_and_clear();
    crate::checkpoint::remove(&ckpt_dir)?;

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
    checkpoint::write_csv(&pending.path("epochs.csv"), &log)?;

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
