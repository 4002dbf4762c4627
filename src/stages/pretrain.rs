//! The RM stage: a self-supervised encoder trained on a dataset artifact's training images,
//! stored as a `pretrain` artifact (files: see `rmd_nn::pretrain`).

use rmd_data::dataset::{DATASET_STAGE, Dataset};
use rmd_nn::pretrain::{EpochLog, PretrainParams, Profile};
use rmd_nn::train::RunOptions;
use rmd_nn::{ComputeDevice, NnError};
use rmd_store::{Artifact, ArtifactSpec, Begin, BeginOptions, CodeIdentity, CommitInfo, Store};
use std::collections::BTreeMap;

/// Stage name of RM artifacts.
pub const PRETRAIN_STAGE: &str = "pretrain";
/// Schema version of RM artifacts.
pub const PRETRAIN_SCHEMA_VERSION: u32 = 1;

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
    let opts = BeginOptions { force: req.force, resume: req.resume };
    let pending = match super::begin_training::<EpochLog>(store, &spec, p.epochs, opts)? {
        Begin::Cached(a) => return Ok((a, true)),
        Begin::Run(pending) => pending,
    };
    let checkpoint_dir = pending.path("checkpoint");
    let run = RunOptions {
        checkpoint_dir: &checkpoint_dir,
        resumed: pending.resumed(),
        progress: req.progress,
        verbose: req.verbose,
    };
    let trained = rmd_nn::pretrain::train(&ds, p, compute, run)?;
    trained.write(pending.dir(), p.method)?;
    let mut seeds = BTreeMap::new();
    seeds.insert("pretrain".to_string(), p.seed);
    let artifact = pending.commit(CommitInfo {
        metrics: trained.metrics(p, req.profile, &ds.info.name),
        seeds,
        code: code.clone(),
        backend: compute.kind.name().to_string(),
        device: compute.description.clone(),
    })?;
    Ok((artifact, false))
}
