//! Relation-guided representation learning: supervised training of a classifier on noisy
//! labels with a plug-and-play base loss and, given a teacher's relation graph, relation
//! distillation from it (see [`rgrl`]); resumable from per-epoch checkpoints ([`train`]).
//! The RGRL stage (`rmdnet::stages::distill`) stores what it writes:
//!
//! Files (written by [`TrainedClassifier::write`]): `classifier.bpk` (the classifier record), `model.json`
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
pub use rgrl::{RelationWeightSchedule, RgrlParams};
pub use split::{TrainValSplit, select_epoch};

use crate::backend::ComputeDevice;
use crate::error::{IoContext, NnError, Result};
use crate::models::{Classifier, ClassifierConfig};
use crate::pretrain::load_encoder;
use crate::relations::RelationGraph;
use crate::train::{RunOptions, Trainer};
use burn::module::Module;
use burn::tensor::Device;
use objective::{EvalSets, RgrlObjective};
use rmd_data::augment::{ImageShape, Normalizer};
use rmd_data::dataset::{Dataset, DatasetInfo};
use rmd_data::noise::NoiseLabels;
use serde::{Deserialize, Serialize};
use std::path::Path;

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

fn invalid(msg: impl Into<String>) -> NnError {
    NnError::Invalid(msg.into())
}

/// Checks the parameters against what the run is given: a teacher exactly when there are
/// RGRL parameters, an RM encoder exactly when initialising from one, and sane loop
/// settings.
pub fn check_request(p: &DistillParams, has_teacher: bool, has_init: bool) -> Result<()> {
    p.backbone.validate().map_err(NnError::Invalid)?;
    p.loss.validate().map_err(NnError::Invalid)?;
    if !(0.0..1.0).contains(&p.label_smoothing) {
        return Err(invalid(format!("label smoothing {} must be in [0, 1)", p.label_smoothing)));
    }
    if p.label_smoothing > 0.0 && p.loss != BaseLoss::Ce {
        return Err(invalid(format!("label smoothing applies to the ce loss only, not {}", p.loss.name())));
    }
    match (&p.rgrl, has_teacher) {
        (Some(r), true) => r.validate().map_err(NnError::Invalid)?,
        (None, false) => {}
        (Some(_), false) => return Err(invalid("RGRL parameters given without a relations artifact")),
        (None, true) => return Err(invalid("a relations artifact given without RGRL parameters")),
    }
    if p.init_from_rm != has_init {
        return Err(invalid("init_from_rm needs exactly one RM artifact to initialise from"));
    }
    if p.epochs == 0 || p.batch_size < 2 {
        return Err(invalid("epochs must be ≥ 1 and the batch size ≥ 2"));
    }
    if p.images == Some(0) {
        return Err(invalid("images must be ≥ 1 (omit it to use all)"));
    }
    p.schedule.validate().map_err(NnError::Invalid)?;
    crate::schedule::check_sgd(p.lr, p.momentum, p.weight_decay).map_err(NnError::Invalid)
}

/// Checks that the backbone takes the dataset's images.
pub fn check_fits(p: &DistillParams, info: &DatasetInfo) -> Result<()> {
    if p.backbone.in_channels != info.channels {
        return Err(invalid(format!(
            "the backbone takes {} channels but {} images have {}",
            p.backbone.in_channels, info.name, info.channels
        )));
    }
    Ok(())
}

/// An RM encoder the backbone starts from.
#[derive(Debug, Clone, Copy)]
pub struct InitEncoder<'a> {
    /// The RM artifact's directory.
    pub dir: &'a Path,
    /// Its key (named in errors).
    pub key: &'a str,
}

/// A trained classifier, its description, its epoch log and what its metrics need.
pub struct TrainedClassifier {
    /// The classifier.
    pub model: Classifier,
    /// What is needed to rebuild and feed it.
    pub info: DistillModelInfo,
    /// One row per epoch.
    pub log: Vec<EpochLog>,
    /// Last epoch's confusion on the evaluated test images (clean label × prediction).
    pub confusion: Vec<Vec<u64>>,
    /// Run name (base loss and RGRL terms).
    pub run_name: String,
    /// Training images used.
    pub images: usize,
    /// Of them, images whose noisy label differs from the clean one.
    pub flipped: usize,
    /// Validation images held out.
    pub val_images: usize,
    /// Training-subset images left out because they were listed as excluded.
    pub dropped_from_training: usize,
    /// Of the neighbours L_graph used (among the training images): clean-label agreement.
    pub training_neighbour_label_agreement: Option<f64>,
}

/// The classifier for the run: the backbone, a linear head over the dataset's classes and,
/// when L_node is on, a projection onto the teacher's embedding dimension.
fn classifier_config(
    p: &DistillParams,
    graph: Option<&RelationGraph>,
    classes: usize,
) -> Result<ClassifierConfig> {
    let needs_projection = p.rgrl.as_ref().is_some_and(|r| r.node_weight > 0.0);
    let config = ClassifierConfig {
        backbone: p.backbone.clone(),
        num_classes: classes,
        projection: match (graph, &p.rgrl) {
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
    config.validate().map_err(NnError::Invalid)?;
    Ok(config)
}

/// L_graph's neighbours (and the confidence weights and neighbour targets) among the images
/// being trained on, when a relation term needs them: the teacher's graph itself when
/// training on every image, else a search among the training subset.
fn training_neighbours(
    p: &DistillParams,
    graph: Option<&RelationGraph>,
    n: usize,
    subset: &[u32],
    device: &Device,
) -> Option<rgrl::TrainingNeighbours> {
    let needed =
        p.rgrl.as_ref().is_some_and(|r| r.graph_weight > 0.0 || r.confidence || r.neighbour_targets > 0.0);
    match (graph, needed) {
        (Some(g), true) if subset.len() == n => {
            Some(rgrl::TrainingNeighbours::from_graph(n, g.k, g.dst.clone(), g.sim.clone()))
        }
        (Some(g), true) => {
            Some(rgrl::TrainingNeighbours::search(&g.embeddings, n, g.dim, subset, g.k, device))
        }
        _ => None,
    }
}

/// Trains a classifier on the noisy `labels` of `ds`, distilling from `graph` when given;
/// the training samples listed in `excluded` (sorted indices) are left out of training
/// (prune and retrain), the validation split is not changed.
#[allow(clippy::too_many_arguments)]
pub fn train(
    ds: &Dataset,
    labels: &NoiseLabels,
    graph: Option<&RelationGraph>,
    init_encoder: Option<InitEncoder>,
    excluded: &[u32],
    p: &DistillParams,
    compute: &ComputeDevice,
    run: RunOptions,
) -> Result<TrainedClassifier> {
    let n = ds.info.n_train;
    let classes = ds.info.num_classes();
    // Data: the training subset, flipped samples tracked for memorisation, test subset.
    let shape = ImageShape { channels: ds.info.channels, height: ds.info.height, width: ds.info.width };
    let norm = Normalizer::from_images(ds.train.all_images(), shape.channels, shape.height * shape.width);
    let TrainValSplit { train: mut subset, val: val_idx } =
        TrainValSplit::new(n, p.eval.val_images, p.images, p.seed).map_err(invalid)?;
    let before = subset.len();
    subset.retain(|i| excluded.binary_search(i).is_err());
    let dropped_from_training = before - subset.len();
    let steps_per_epoch = subset.len() / p.batch_size;
    if steps_per_epoch == 0 {
        let pruned = if dropped_from_training > 0 {
            format!(" (after leaving out {dropped_from_training} flagged samples)")
        } else {
            String::new()
        };
        return Err(invalid(format!(
            "{} training images{pruned} with batch size {} leave no training step",
            subset.len(),
            p.batch_size
        )));
    }
    let flipped: Vec<u32> =
        subset.iter().copied().filter(|&i| labels.noisy[i as usize] != labels.clean[i as usize]).collect();
    let eval_sets = EvalSets::draw(ds, labels, &flipped, val_idx, p);

    // Model and optimizer.
    let model_cfg = classifier_config(p, graph, classes)?;
    let device = compute.device.clone().autodiff();
    let plain_device = compute.device.clone();
    let fresh = || -> Result<(Classifier, burn::optim::ModuleOptimizer)> {
        device.seed(p.seed);
        let optim = crate::schedule::sgd(p.momentum, p.weight_decay);
        let mut model = model_cfg.init(&device);
        if let Some(a) = init_encoder {
            let (encoder, info) = load_encoder(a.dir, &device)?;
            if info.model.encoder != p.backbone {
                return Err(invalid(format!(
                    "the RM encoder of {} is {:?}, not the backbone {:?}",
                    a.key, info.model.encoder, p.backbone
                )));
            }
            model.backbone = encoder;
        }
        Ok((model, optim))
    };
    let train_neighbours = training_neighbours(p, graph, n, &subset, &plain_device);
    let run_name = match &p.rgrl {
        Some(r) => format!("{}+rgrl({})", p.loss.name(), r.describe()),
        None => p.loss.name().to_string(),
    };
    let trainer = Trainer {
        epochs: p.epochs,
        batch_size: p.batch_size,
        seed: p.seed,
        subset: &subset,
        label: run_name.clone(),
    };
    let val_images = eval_sets.val_idx.len();
    let mut objective = RgrlObjective::new(
        p,
        ds,
        labels,
        &norm,
        graph,
        train_neighbours.as_ref(),
        eval_sets,
        steps_per_epoch,
        device.clone(),
        plain_device,
    );
    let (model, log) = trainer.run(run, fresh, &mut objective)?;
    let last_pred = match std::mem::take(&mut objective.last_test_pred) {
        // Resumed from a checkpoint written after the last epoch: evaluate once more.
        v if v.is_empty() => objective.predict_test(&model),
        v => v,
    };
    let test_labels = &objective.eval.test_labels;

    let info = DistillModelInfo {
        model: model_cfg,
        normalizer_mean: norm.mean.clone(),
        normalizer_std: norm.std.clone(),
        image_shape: [shape.channels, shape.height, shape.width],
        classes: ds.info.classes.clone(),
        dataset_key: ds.key.clone(),
    };
    Ok(TrainedClassifier {
        model,
        info,
        log,
        confusion: confusion(&last_pred, test_labels, classes),
        run_name,
        images: subset.len(),
        flipped: flipped.len(),
        val_images,
        dropped_from_training,
        training_neighbour_label_agreement: train_neighbours
            .as_ref()
            .map(|t| t.label_agreement(&subset, &labels.clean)),
    })
}

impl TrainedClassifier {
    /// Writes `classifier.bpk`, `model.json`, `epochs.csv`, `per_class.csv` and
    /// `confusion.csv` (last epoch, clean test labels) into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        crate::checkpoint::save_model(&self.model, &dir.join("classifier.bpk"))?;
        let ipath = dir.join("model.json");
        std::fs::write(&ipath, serde_json::to_vec_pretty(&self.info).expect("json"))
            .ctx("writing", &ipath)?;
        crate::train::write_log_csv(&dir.join("epochs.csv"), &self.log)?;
        let classes = &self.info.classes;
        let per_class = per_class_accuracy(&self.confusion);
        log::write_per_class_csv(&dir.join("per_class.csv"), classes, &self.confusion, &per_class)?;
        log::write_confusion_csv(&dir.join("confusion.csv"), classes, &self.confusion)
    }

    /// The run's figures, as recorded in the artifact's metrics (`teacher`: what the stage
    /// knows of the relations artifact, null without one).
    pub fn metrics(
        &self,
        p: &DistillParams,
        profile: Profile,
        dataset_name: &str,
        teacher: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let log = &self.log;
        let last = log.last().expect("at least one epoch");
        // "Best on test" is reported as a labelled extra; selection uses the validation split.
        let best = log.iter().max_by(|a, b| a.test_acc.total_cmp(&b.test_acc)).expect("at least one epoch");
        let selected =
            select_epoch(&log.iter().map(|e| e.val_acc_noisy).collect::<Vec<_>>()).map(|i| &log[i]);
        let train_secs: f64 = log.iter().map(|e| e.seconds).sum();
        let per_class = per_class_accuracy(&self.confusion);
        let rgrl = p.rgrl.as_ref();
        serde_json::json!({
            "profile": profile.name(),
            "dataset": dataset_name,
            "run": self.run_name,
            "loss": p.loss.name(),
            "rgrl": rgrl.is_some(),
            "rgrl_terms": rgrl.map(|r| r.describe()),
            "epochs": p.epochs,
            "images": self.images,
            "flipped_in_training_set": self.flipped,
            "test_images": self.confusion.iter().flatten().sum::<u64>(),
            "val_images": self.val_images,
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
            "epoch_seconds": log.iter().map(|e| e.seconds).collect::<Vec<_>>(),
            "epoch_images_per_s": log.iter().map(|e| e.images_per_s).collect::<Vec<_>>(),
            "teacher": teacher,
        })
    }
}

/// Loads the classifier of an RGRL artifact directory on `device`.
pub fn load_classifier(dir: &Path, device: &Device) -> Result<(Classifier, DistillModelInfo)> {
    let info_path = dir.join("model.json");
    let text = std::fs::read_to_string(&info_path).ctx("reading", &info_path)?;
    let info: DistillModelInfo =
        serde_json::from_str(&text).map_err(|e| NnError::unreadable_description(&info_path, e))?;
    let path = dir.join("classifier.bpk");
    let model =
        info.model.init(device).try_load_file(&path).map_err(|e| NnError::unreadable_record(&path, e))?;
    Ok((model, info))
}
