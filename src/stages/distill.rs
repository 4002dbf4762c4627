//! The RGRL stage: a classifier trained on a noise artifact's labels, with relation
//! distillation from a relations artifact when given, stored as a `distill` artifact (files:
//! see `rmd_nn::distill`).

use super::BeginTraining;
use super::pretrain::PRETRAIN_STAGE;
use super::relations::RELATIONS_STAGE;
use rmd_data::dataset::{DATASET_STAGE, Dataset};
use rmd_data::noise::{NOISE_STAGE, NoiseLabels};
use rmd_nn::distill::{DistillParams, EpochLog, InitEncoder, Profile};
use rmd_nn::relations::RelationGraph;
use rmd_nn::{ComputeDevice, NnError};
use rmd_store::{Artifact, ArtifactSpec, CodeIdentity, Store};

/// Stage name of RGRL artifacts.
pub const DISTILL_STAGE: &str = "distill";
/// Schema version of RGRL artifacts. 2: L_graph's neighbours are searched among the
/// training images, absent neighbour slots and in-batch neighbours are masked. 3: a noisy
/// validation split is held out and the epoch is selected on it. 4: convolutions and batch
/// norms (forward and gradients) run on the NCHW kernels of vendor/burn-flex.
pub const DISTILL_SCHEMA_VERSION: u32 = 4;

/// The upstream artifacts of a run.
#[derive(Debug, Clone, Copy)]
pub struct DistillInputs<'a> {
    /// The noise artifact (its dataset is the training data).
    pub noise: &'a Artifact,
    /// The relations artifact (the teacher), for RGRL runs.
    pub relations: Option<&'a Artifact>,
    /// The RM artifact whose encoder initialises the backbone (when `init_from_rm`).
    pub init_encoder: Option<&'a Artifact>,
    /// A label-issues artifact over the same noise artifact whose flagged samples are left
    /// out of training (prune and retrain).
    pub drop_flagged: Option<&'a Artifact>,
}

/// The training samples a label-issues artifact flags, by index, after checking that it
/// judged these labels (its `noise` input is `noise`) over `n` samples.
fn flagged_samples(issues: &Artifact, noise: &Artifact, n: usize) -> Result<Vec<u32>, NnError> {
    use crate::cli::short;
    expect_stage(issues, crate::label_issues::LABEL_ISSUES_STAGE, "--drop-flagged")?;
    if issues.manifest.inputs.get("noise").map(String::as_str) != Some(noise.key()) {
        return Err(invalid(format!(
            "--drop-flagged {} judged the labels of noise artifact {}, not those of --noise {}",
            short(issues.key()),
            issues.manifest.inputs.get("noise").map_or("?", |k| short(k)),
            short(noise.key())
        )));
    }
    crate::label_issues::read_flagged(issues, n)
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

fn expect_stage(a: &Artifact, stage: &str, flag: &str) -> Result<(), NnError> {
    if a.stage() == stage {
        Ok(())
    } else {
        Err(invalid(format!("{flag} {} is a {} artifact, not {stage}", a.key(), a.stage())))
    }
}

/// Runs (or finds cached) the RGRL stage. Returns the artifact and whether it was a cache hit.
pub fn run_distill(
    store: &Store,
    inputs: DistillInputs,
    req: &DistillRequest,
    compute: &ComputeDevice,
    code: &CodeIdentity,
) -> anyhow::Result<(Artifact, bool)> {
    let p = &req.params;
    rmd_nn::distill::check_request(p, inputs.relations.is_some(), inputs.init_encoder.is_some())?;
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
        ))
        .into());
    }
    rmd_nn::distill::check_fits(p, &ds.info)?;
    let graph = match inputs.relations {
        Some(a) => {
            expect_stage(a, RELATIONS_STAGE, "--relations")?;
            let g = RelationGraph::open(&a.dir)?;
            g.check_fits(n, None)?;
            if g.dataset_key != ds.key {
                return Err(invalid(format!(
                    "relations artifact {} was built on dataset {}, but the noise artifact labels dataset {}",
                    a.key(),
                    g.dataset_key,
                    ds.key
                ))
                .into());
            }
            Some(g)
        }
        None => None,
    };
    if let Some(a) = inputs.init_encoder {
        expect_stage(a, PRETRAIN_STAGE, "--init-from-rm")?;
    }
    let dropped = match inputs.drop_flagged {
        Some(a) => flagged_samples(a, inputs.noise, n)?,
        None => Vec::new(),
    };

    let mut spec = ArtifactSpec::new(DISTILL_STAGE, DISTILL_SCHEMA_VERSION, p)
        .with_input("dataset", &ds.key)
        .with_input("noise", inputs.noise.key());
    if let Some(a) = inputs.relations {
        spec = spec.with_input("relations", a.key());
    }
    if let Some(a) = inputs.init_encoder {
        spec = spec.with_input("init_encoder", a.key());
    }
    if let Some(a) = inputs.drop_flagged {
        spec = spec.with_input("drop_flagged", a.key());
    }
    let run = match super::begin_training::<EpochLog>(store, &spec, p.epochs, req.force, req.resume)? {
        BeginTraining::Cached(a) => return Ok((a, true)),
        BeginTraining::Run(run) => run,
    };
    let init = inputs.init_encoder.map(|a| InitEncoder { dir: &a.dir, key: a.key() });
    let options = run.options(req.progress, req.verbose);
    let trained = rmd_nn::distill::train(&ds, &labels, graph.as_ref(), init, &dropped, p, compute, options)?;
    trained.write(run.pending.dir())?;
    let teacher = inputs.relations.map(|a| {
        serde_json::json!({
            "knn_acc": a.manifest.metrics.get("knn_acc"),
            "neighbour_label_agreement": a.manifest.metrics.get("neighbour_label_agreement"),
            // Present when the teacher is synthetic (built from clean labels: a diagnostic).
            "synthetic": a.manifest.params.get("synthetic"),
            // Of the neighbours L_graph used (among the training images): clean-label agreement.
            "training_neighbour_label_agreement": trained.training_neighbour_label_agreement,
        })
    });
    let mut metrics = trained.metrics(p, req.profile, &ds.info.name, teacher);
    if inputs.drop_flagged.is_some() {
        metrics["pruned"] = serde_json::json!({
            "flagged": dropped.len(),
            "dropped_from_training": trained.dropped_from_training,
        });
    }
    let artifact = super::commit(run.pending, metrics, &[("distill", p.seed)], compute, code)?;
    Ok((artifact, false))
}
