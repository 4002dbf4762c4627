//! The RM stage: a self-supervised encoder trained on a dataset artifact's training images,
//! stored as a `pretrain` artifact (files: see `rmd_nn::pretrain`).

use super::BeginTraining;
use rmd_data::dataset::{DATASET_STAGE, Dataset};
use rmd_nn::pretrain::{EpochLog, PretrainParams, Profile};
use rmd_nn::{ComputeDevice, NnError};
use rmd_store::{Artifact, ArtifactSpec, CodeIdentity, Store};

/// Stage name of RM artifacts.
pub const PRETRAIN_STAGE: &str = "pretrain";
/// Schema version of RM artifacts. 2: convolutions and batch norms (forward and gradients)
/// run on the NCHW kernels of vendor/burn-flex (results differ by float rounding).
pub const PRETRAIN_SCHEMA_VERSION: u32 = 2;

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
) -> anyhow::Result<(Artifact, bool)> {
    let p = &req.params;
    p.validate().map_err(NnError::Invalid)?;
    if dataset.stage() != DATASET_STAGE {
        return Err(NnError::Invalid(format!(
            "{} is a {} artifact, not a dataset",
            dataset.key(),
            dataset.stage()
        ))
        .into());
    }
    let ds = Dataset::open(dataset)?;
    rmd_nn::pretrain::check_fits(p, &ds.info)?;
    let spec = ArtifactSpec::new(PRETRAIN_STAGE, PRETRAIN_SCHEMA_VERSION, p).with_input("dataset", &ds.key);
    let run = match super::begin_training::<EpochLog>(store, &spec, p.epochs, req.force, req.resume)? {
        BeginTraining::Cached(a) => return Ok((a, true)),
        BeginTraining::Run(run) => run,
    };
    let trained = rmd_nn::pretrain::train(&ds, p, compute, run.options(req.progress, req.verbose))?;
    trained.write(run.pending.dir(), p.method)?;
    let metrics = trained.metrics(p, req.profile, &ds.info.name);
    let artifact = super::commit(run.pending, metrics, &[("pretrain", p.seed)], compute, code)?;
    Ok((artifact, false))
}
