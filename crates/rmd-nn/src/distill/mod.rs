//! The RGRL stage: supervised training of a classifier on noisy labels with a plug-and-play
//! base loss and, given a relations artifact, relation distillation from the RM teacher
//! (see [`rgrl`]). Per-epoch checkpoints in the run's partial directory and `--resume`, as
//! in the RM stage.
//!
//! Artifact files: `classifier.bpk` (the classifier record), `model.json`
//! ([`DistillModelInfo`]), `epochs.csv` ([`EpochLog`] per epoch: losses, test accuracy,
//! memorisation), `per_class.csv` and `confusion.csv` (last epoch, clean test labels).

mod eval;
mod log;
pub mod losses;
mod objective;
mod params;
pub mod rgrl;
mod split;

pub use crate::profile::Profile;
pub use eval::{
    Memorisation, accuracy, argmax, confusion, logits, memorisation, per_class_accuracy, predict,
    softmax_rows,
};
pub use log::EpochLog;
pub use losses::{BaseLoss, ElrMemory};
pub use params::{DistillParams, EvalParams, LrSchedule};
pub use rgrl::RgrlParams;
pub use split::{TrainValSplit, select_epoch};

use crate::backend::ComputeDevice;
use crate::error::{IoContext, NnError, Result};
use crate::models::{Classifier, ClassifierConfig};
use crate::pretrain::{PRETRAIN_STAGE, load_encoder};
use crate::relations::{RELATIONS_STAGE, RelationGraph};
use crate::train::{TrainState, Trainer};
use burn::module::Module;
use burn::tensor::Device;
use objective::{EvalSets, RgrlObjective};
use rmd_data::augment::{ImageShape, Normalizer};
use rmd_data::dataset::{DATASET_STAGE, Dataset};
use rmd_data::loader::epoch_permutation;
use rmd_data::noise::{NOISE_STAGE, NoiseLabels};
use rmd_store::{Artifact, ArtifactSpec, Begin, BeginOptions, CodeIdentity, CommitInfo, Store};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Stage name of RGRL artifacts.
pub const DISTILL_STAGE: &str = "distill";
/// Schema version of RGRL artifacts. 2: L_graph's neighbours are searched among the
/// training images, absent neighbour slots and in-batch neighbours are masked. 3: a noisy
/// validation split is held out and the epoch is selected on it.
pub const DISTILL_SCHEMA_VERSION: u32 = 3;

/// Salts separating the evaluation permutations from the epoch permutations.
const TEST_SALT: u64 = 0xD2u64 << 56;
const MEMO_SALT: u64 = 0xD3u64 << 56;

/// What is needed to rebuild the classifier and feed it (`model.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillModelInfo {
    /// The architecture.
    pub model: ClassifierConfig,
    /// Input normalisation (training-set statistics).
    pub normalizer_mean: Vec<f32>,
    /// Input normalisation (training-set statistics).
    pub normalizer_std: Vec<f32>,
    /// Image shape: channels, height, width.
    pub image_shape: [usize; 3],
    /// Class names by output index.
    pub classes: Vec<String>,
    /// Key of the dataset artifact.
    pub dataset_key: String,
}

impl DistillModelInfo {
    /// The input normaliser (the training set's statistics).
    pub fn normalizer(&self) -> Normalizer {
        Normalizer { mean: self.normalizer_mean.clone(), std: self.normalizer_std.clone() }
    }

    /// The image shape.
    pub fn shape(&self) -> ImageShape {
        ImageShape { channels: self.image_shape[0], height: self.image_shape[1], width: self.image_shape[2] }
    }
}

/// The upstream artifacts of a run.
#[derive(Debug, Clone, Copy)]
pub struct DistillInputs<'a> {
    /// The noise artifact (its dataset is the training data).
    pub noise: &'a Artifact,
    /// The relations artifact (the teacher), for RGRL runs.
    pub relations: Option<&'a Artifact>,
    /// The RM artifact whose encoder initialises the backbone (when `init_from_rm`).
    pub init_encoder: Option<&'a Artifact>,
}

/// How to run the stage.
#[derive(Debug, Clone)]
pub struct DistillRequest {
    /// The parameters (from a profile, possibly overridden).
    pub params: DistillParams,
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

fn invalid(msg: impl Into<String>) -> NnError {
    NnError::Invalid(msg.into())
}

fn expect_stage(a: &Artifact, stage: &str, flag: &str) -> Result<()> {
    if a.stage() == stage {
        Ok(())
    } else {
        Err(invalid(format!("{flag} {} is a {} artifact, not {stage}", a.key(), a.stage())))
    }
}

/// Checks the parameters against the inputs.
fn validate(p: &DistillParams, inputs: &DistillInputs) -> Result<()> {
    p.backbone.validate().map_err(NnError::Invalid)?;
    p.loss.validate().map_err(NnError::Invalid)?;
    match (&p.rgrl, inputs.relations) {
        (Some(r), Some(_)) => r.validate().map_err(NnError::Invalid)?,
        (None, None) => {}
        (Some(_), None) => return Err(invalid("RGRL parameters given without a relations artifact")),
        (None, Some(_)) => return Err(invalid("a relations artifact given without RGRL parameters")),
    }
    if p.init_from_rm != inputs.init_encoder.is_some() {
        return Err(invalid("init_from_rm needs exactly one RM artifact to initialise from"));
    }
    if p.epochs == 0 || p.batch_size < 2 {
        return Err(invalid("epochs must be ≥ 1 and the batch size ≥ 2"));
    }
    if p.images == Some(0) {
        return Err(invalid("images must be ≥ 1 (omit it to use all)"));
    }
    p.schedule.validate().map_err(NnError::Invalid)?;
    crate::schedule::check_sgd(p.lr, p.momentum, p.weight_decay).map_err(NnError::Invalid)?;
    Ok(())
}

/// Runs (or finds cached) the RGRL stage. Returns the artifact and whether it was a cache hit.
pub fn run_distill(
    store: &Store,
    inputs: DistillInputs,
    req: &DistillRequest,
    compute: &ComputeDevice,
    code: &CodeIdentity,
) -> Result<(Artifact, bool)> {
    let p = &req.params;
    validate(p, &inputs)?;
    expect_stage(inputs.noise, NOISE_STAGE, "--noise")?;
    let labels = NoiseLabels::open(inputs.noise)?;
    let dataset = store.lookup_key(DATASET_STAGE, &labels.dataset_key)?.ok_or_else(|| {
        invalid(format!(
            "the dataset artifact {} of noise artifact {} is not in the store {}",
            labels.dataset_key,
            inputs.noise.key(),
            store.root().display()
        ))
    })?;
    let ds = Dataset::open(&dataset)?;
    let n = ds.info.n_train;
    if labels.noisy.len() != n {
        return Err(invalid(format!(
            "{} has {} labels but the dataset has {n} training images",
            inputs.noise.path("labels.parquet").display(),
            labels.noisy.len()
        )));
    }
    let classes = ds.info.num_classes();
    if p.backbone.in_channels != ds.info.channels {
        return Err(invalid(format!(
            "the backbone takes {} channels but {} images have {}",
            p.backbone.in_channels, ds.info.name, ds.info.channels
        )));
    }
    let graph = match inputs.relations {
        Some(a) => {
            expect_stage(a, RELATIONS_STAGE, "--relations")?;
            let g = RelationGraph::open(a)?;
            g.check_fits(n, None)?;
            if g.dataset_key != ds.key {
                return Err(invalid(format!(
                    "relations artifact {} was built on dataset {}, but the noise artifact labels dataset {}",
                    a.key(),
                    g.dataset_key,
                    ds.key
                )));
            }
            Some(g)
        }
        None => None,
    };
    let init_backbone = match inputs.init_encoder {
        Some(a) => {
            expect_stage(a, PRETRAIN_STAGE, "--init-from-rm")?;
            Some(a)
        }
        None => None,
    };

    let mut spec = ArtifactSpec::new(DISTILL_STAGE, DISTILL_SCHEMA_VERSION, p)
        .with_input("dataset", &ds.key)
        .with_input("noise", inputs.noise.key());
    if let Some(a) = inputs.relations {
        spec = spec.with_input("relations", a.key());
    }
    if let Some(a) = init_backbone {
        spec = spec.with_input("init_encoder", a.key());
    }
    let opts = BeginOptions { force: req.force, resume: req.resume };
    let pending =
        match crate::checkpoint::begin_training(store, &spec, p.epochs, opts, |s: &TrainState<EpochLog>| {
            s.epochs_done
        })? {
            Begin::Cached(a) => return Ok((a, true)),
            Begin::Run(pending) => pending,
        };

    // Data: the training subset, flipped samples tracked for memorisation, test subset.
    let shape = ImageShape { channels: ds.info.channels, height: ds.info.height, width: ds.info.width };
    let norm = Normalizer::from_images(ds.train.all_images(), shape.channels, shape.height * shape.width);
    let pick = |total: usize, limit: Option<usize>, salt: u64| -> Vec<u32> {
        let mut v = epoch_permutation(total, p.seed ^ salt, 0);
        v.truncate(limit.unwrap_or(total).min(total));
        v.sort_unstable();
        v
    };
    let TrainValSplit { train: subset, val: val_idx } =
        TrainValSplit::new(n, p.eval.val_images, p.images, p.seed).map_err(invalid)?;
    let val_noisy: Vec<u16> = val_idx.iter().map(|&i| labels.noisy[i as usize]).collect();
    let steps_per_epoch = subset.len() / p.batch_size;
    if steps_per_epoch == 0 {
        return Err(invalid(format!(
            "{} training images with batch size {} leave no training step",
            subset.len(),
            p.batch_size
        )));
    }
    let flipped: Vec<u32> =
        subset.iter().copied().filter(|&i| labels.noisy[i as usize] != labels.clean[i as usize]).collect();
    let memo_idx: Vec<u32> = pick(flipped.len(), Some(p.eval.memorisation_samples), MEMO_SALT)
        .into_iter()
        .map(|j| flipped[j as usize])
        .collect();
    let memo_clean: Vec<u16> = memo_idx.iter().map(|&i| labels.clean[i as usize]).collect();
    let memo_noisy: Vec<u16> = memo_idx.iter().map(|&i| labels.noisy[i as usize]).collect();
    let test_idx = pick(ds.info.n_test, p.eval.test_images, TEST_SALT);
    let test_labels: Vec<u16> = test_idx.iter().map(|&i| ds.test.labels()[i as usize]).collect();

    // Model and optimizer.
    let rgrl = p.rgrl.clone();
    let needs_projection = rgrl.as_ref().is_some_and(|r| r.node_weight > 0.0);
    let model_cfg = ClassifierConfig {
        backbone: p.backbone.clone(),
        num_classes: classes,
        projection: match (&graph, &rgrl) {
            (Some(g), Some(r)) if needs_projection => {
                if r.projection_hidden > 0 {
                    vec![r.projection_hidden, g.dim]
                } else {
                    vec![g.dim]
                }
            }
            _ => vec![],
        },
    };
    model_cfg.validate().map_err(NnError::Invalid)?;
    let device = compute.device.clone().autodiff();
    let plain_device = compute.device.clone();
    let fresh = || -> Result<(Classifier, burn::optim::ModuleOptimizer)> {
        device.seed(p.seed);
        let optim = crate::schedule::sgd(p.momentum, p.weight_decay);
        let mut model = model_cfg.init(&device);
        if let Some(a) = init_backbone {
            let (encoder, info) = load_encoder(a, &device)?;
            if info.model.encoder != p.backbone {
                return Err(invalid(format!(
                    "the RM encoder of {} is {:?}, not the backbone {:?}",
                    a.key(),
                    info.model.encoder,
                    p.backbone
                )));
            }
            model.backbone = encoder;
        }
        Ok((model, optim))
    };
    let use_graph = rgrl.as_ref().is_some_and(|r| r.graph_weight > 0.0);
    let use_confidence = rgrl.as_ref().is_some_and(|r| r.confidence);
    // L_graph's neighbours (and the confidence weights) come from the images being trained on.
    let train_neighbours = match (&graph, use_graph || use_confidence) {
        (Some(g), true) if subset.len() == n => {
            Some(rgrl::TrainingNeighbours::from_graph(n, g.k, g.dst.clone(), g.sim.clone()))
        }
        (Some(g), true) => {
            Some(rgrl::TrainingNeighbours::search(&g.embeddings, n, g.dim, &subset, g.k, &plain_device))
        }
        _ => None,
    };
    let run_name = match &rgrl {
        Some(r) => format!("{}+rgrl({})", p.loss.name(), r.describe()),
        None => p.loss.name().to_string(),
    };
    let trainer = Trainer {
        epochs: p.epochs,
        batch_size: p.batch_size,
        seed: p.seed,
        subset: &subset,
        label: run_name.clone(),
        progress: req.progress,
        verbose: req.verbose,
    };
    let eval_sets = EvalSets {
        test_idx: test_idx.clone(),
        test_labels: test_labels.clone(),
        memo_idx,
        memo_clean,
        memo_noisy,
        val_idx: val_idx.clone(),
        val_noisy,
    };
    let mut objective = RgrlObjective::new(
        p,
        &ds,
        &labels,
        &norm,
        graph.as_ref(),
        train_neighbours.as_ref(),
        eval_sets,
        steps_per_epoch,
        device.clone(),
        plain_device.clone(),
    );
    let (model, log) = trainer.run(&pending.path("checkpoint"), pending.resumed(), fresh, &mut objective)?;
    let last_pred = match std::mem::take(&mut objective.last_test_pred) {
        // Resumed from a checkpoint written after the last epoch: evaluate once more.
        v if v.is_empty() => objective.predict_test(&model),
        v => v,
    };

    // Outputs.
    crate::checkpoint::save_model(&model, &pending.path("classifier.bpk"))?;
    let info = DistillModelInfo {
        model: model_cfg.clone(),
        normalizer_mean: norm.mean.clone(),
        normalizer_std: norm.std.clone(),
        image_shape: [shape.channels, shape.height, shape.width],
        classes: ds.info.classes.clone(),
        dataset_key: ds.key.clone(),
    };
    let ipath = pending.path("model.json");
    std::fs::write(&ipath, serde_json::to_vec_pretty(&info).expect("json")).ctx("writing", &ipath)?;
    crate::train::write_csv(&pending.path("epochs.csv"), &log)?;
    let conf = confusion(&last_pred, &test_labels, classes);
    let per_class = per_class_accuracy(&conf);
    log::write_per_class_csv(&pending.path("per_class.csv"), &ds.info.classes, &conf, &per_class)?;
    log::write_confusion_csv(&pending.path("confusion.csv"), &ds.info.classes, &conf)?;

    let last = log.last().expect("at least one epoch");
    // "Best on test" is reported as a labelled extra; selection uses the validation split.
    let best = log.iter().max_by(|a, b| a.test_acc.total_cmp(&b.test_acc)).expect("at least one epoch");
    let selected = select_epoch(&log.iter().map(|e| e.val_acc_noisy).collect::<Vec<_>>()).map(|i| &log[i]);
    let train_secs: f64 = log.iter().map(|e| e.seconds).sum();
    let teacher = inputs.relations.map(|a| {
        serde_json::json!({
            "knn_acc": a.manifest.metrics.get("knn_acc"),
            "neighbour_label_agreement": a.manifest.metrics.get("neighbour_label_agreement"),
            // Present when the teacher is synthetic (built from clean labels: a diagnostic).
            "synthetic": a.manifest.params.get("synthetic"),
            // Of the neighbours L_graph used (among the training images): clean-label agreement.
            "training_neighbour_label_agreement":
                train_neighbours.as_ref().map(|t| t.label_agreement(&subset, &labels.clean)),
        })
    });
    let metrics = serde_json::json!({
        "profile": req.profile.name(),
        "dataset": ds.info.name,
        "run": run_name,
        "loss": p.loss.name(),
        "rgrl": rgrl.is_some(),
        "rgrl_terms": rgrl.as_ref().map(|r| r.describe()),
        "epochs": p.epochs,
        "images": subset.len(),
        "flipped_in_training_set": flipped.len(),
        "test_images": test_idx.len(),
        "val_images": val_idx.len(),
        "val_selected_epoch": selected.map(|e| e.epoch),
        "val_selected_val_acc_noisy": selected.and_then(|e| e.val_acc_noisy),
        "val_selected_test_acc": selected.map(|e| e.test_acc),
        "last_test_acc": last.test_acc,
        "best_test_acc": best.test_acc,
        "best_epoch": best.epoch,
        "last_memorised": last.memorised,
        "last_corrected": last.corrected,
        "per_class_test_acc": per_class.iter().map(|a| if a.is_nan() { None } else { Some(*a) }).collect::<Vec<_>>(),
        "train_seconds": train_secs,
        "images_per_s": log.iter().map(|e| e.images_per_s).sum::<f64>() / log.len() as f64,
        "teacher": teacher,
    });
    let mut seeds = BTreeMap::new();
    seeds.insert("distill".to_string(), p.seed);
    let artifact = pending.commit(CommitInfo {
        metrics,
        seeds,
        code: code.clone(),
        backend: compute.kind.name().to_string(),
        device: compute.description.clone(),
    })?;
    Ok((artifact, false))
}

/// Loads the classifier of an RGRL artifact on `device`.
pub fn load_classifier(artifact: &Artifact, device: &Device) -> Result<(Classifier, DistillModelInfo)> {
    let info_path = artifact.path("model.json");
    let text = std::fs::read_to_string(&info_path).ctx("reading", &info_path)?;
    let info: DistillModelInfo =
        serde_json::from_str(&text).map_err(|e| NnError::unreadable_description(&info_path, e))?;
    let path = artifact.path("classifier.bpk");
    let model =
        info.model.init(device).try_load_file(&path).map_err(|e| NnError::unreadable_record(&path, e))?;
    Ok((model, info))
}
