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

use rmd_nn::train::TrainState;
use rmd_store::{ArtifactSpec, Begin, BeginOptions, Store};
use serde::de::DeserializeOwned;

/// Starts (or finds cached) a training stage's artifact. Without `--resume`, a checkpoint
/// left by an interrupted run of the same key is discarded by the store; this says so first,
/// with the epochs it had done.
pub fn begin_training<L: DeserializeOwned>(
    store: &Store,
    spec: &ArtifactSpec,
    epochs: usize,
    opts: BeginOptions,
) -> Result<Begin, rmd_store::StoreError> {
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
    Ok(begun)
}
