//! The pipeline stages that compute with models, as cached store artifacts: each stage
//! checks its inputs, derives its artifact's key from parameters and input keys, returns a
//! cached artifact or begins a pending one, runs the model code of `rmd_nn` into the pending
//! directory, and commits it with its metrics.
//!
//! * [`pretrain`]: the RM stage (self-supervised encoder).
//! * [`relations`]: the relations stage (top-K graph of a teacher's embeddings) and the
//!   graph evaluation against a noise artifact.
//! * [`distill`]: the RGRL stage (classifier on noisy labels, relation distillation).

pub mod distill;
pub mod pretrain;
pub mod relations;

use rmd_nn::ComputeDevice;
use rmd_nn::train::{RunOptions, TrainState};
use rmd_store::{
    Artifact, ArtifactSpec, Begin, BeginOptions, CodeIdentity, CommitInfo, PendingArtifact, Store, StoreError,
};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A training stage's pending artifact and the checkpoint directory inside it.
pub struct TrainingRun {
    /// The pending artifact the run writes into.
    pub pending: PendingArtifact,
    checkpoint_dir: PathBuf,
}

impl TrainingRun {
    /// Where the training loop keeps its checkpoint, and how it reports.
    pub fn options(&self, progress: bool, verbose: bool) -> RunOptions<'_> {
        RunOptions {
            checkpoint_dir: &self.checkpoint_dir,
            resumed: self.pending.resumed(),
            progress,
            verbose,
        }
    }
}

/// What [`begin_training`] found.
pub enum BeginTraining {
    /// The artifact is complete in the store.
    Cached(Artifact),
    /// It must be trained.
    Run(TrainingRun),
}

/// Starts (or finds cached) a training stage's artifact; `resume` keeps an interrupted run's
/// checkpoint. Without it, a checkpoint left by an interrupted run of the same key is
/// discarded by the store; this says so first, with the epochs it had done.
pub fn begin_training<L: DeserializeOwned>(
    store: &Store,
    spec: &ArtifactSpec,
    epochs: usize,
    force: bool,
    resume: bool,
) -> Result<BeginTraining, StoreError> {
    let opts = BeginOptions { force, resume };
    let partial = store.partial_dir(&spec.stage, &spec.key()).join("checkpoint");
    let left = if opts.resume || opts.force {
        None
    } else {
        rmd_nn::checkpoint::saved_state::<TrainState<L>>(&partial)
    };
    let begun = store.begin(spec, opts)?;
    // Said only once the store has started afresh: not in plan mode (nothing is discarded)
    // nor when another process is still running it (begin fails).
    if let (Some(state), Begin::Run(_)) = (&left, &begun) {
        rmd_store::report::warn(format!(
            "discarded the checkpoint of an interrupted run ({} of {epochs} epochs done); use --resume to continue such a run",
            state.epochs_done
        ));
    }
    Ok(match begun {
        Begin::Cached(a) => BeginTraining::Cached(a),
        Begin::Run(pending) => {
            let checkpoint_dir = pending.path("checkpoint");
            BeginTraining::Run(TrainingRun { pending, checkpoint_dir })
        }
    })
}

/// Commits a stage's pending artifact with its metrics, seeds (name, value), code identity
/// and the device it ran on.
pub fn commit(
    pending: PendingArtifact,
    metrics: serde_json::Value,
    seeds: &[(&str, u64)],
    compute: &ComputeDevice,
    code: &CodeIdentity,
) -> Result<Artifact, StoreError> {
    pending.commit(CommitInfo {
        metrics,
        seeds: seeds.iter().map(|(name, seed)| (name.to_string(), *seed)).collect::<BTreeMap<_, _>>(),
        code: code.clone(),
        backend: compute.kind.name().to_string(),
        device: compute.description.clone(),
    })
}
