//! Per-epoch checkpoints inside a run's partial directory, shared by the training stages.
//!
//! A checkpoint is written to `checkpoint.new/` (model, optimizer, any named `f32` blobs,
//! then `state.json` last) and swapped for `checkpoint/`; a crash during the swap leaves a
//! complete `checkpoint.new/`, which [`Checkpoint::load`] also accepts.

use crate::error::{IoContext, NnError, Result};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// A loaded checkpoint.
pub struct Checkpoint<M, S> {
    /// The model.
    pub model: M,
    /// The optimizer with its momentum buffers.
    pub optim: ModuleOptimizer,
    /// The stage's progress record (`state.json`).
    pub state: S,
    /// The directory it was read from (for [`Checkpoint::blob`]).
    pub dir: PathBuf,
}

fn staging(dir: &Path) -> PathBuf {
    dir.with_file_name(format!("{}.new", dir.file_name().and_then(|n| n.to_str()).unwrap_or("checkpoint")))
}

fn read_state<S: DeserializeOwned>(dir: &Path) -> Option<S> {
    let text = std::fs::read_to_string(dir.join("state.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The progress record of the checkpoint in `dir` (or its complete staging copy), if any,
/// without loading the model.
pub fn saved_state<S: DeserializeOwned>(dir: &Path) -> Option<S> {
    read_state(dir).or_else(|| read_state(&staging(dir)))
}

fn record_err(path: &Path) -> impl Fn(burn::store::RecordError) -> NnError + '_ {
    move |e| NnError::Record { path: path.to_path_buf(), reason: e.to_string() }
}

impl<M: Module + Clone, S: Serialize + DeserializeOwned> Checkpoint<M, S> {
    /// Writes a checkpoint, replacing the previous one. `blobs` are extra `f32` arrays
    /// (per-sample memories) stored as little-endian files named after them.
    pub fn save(
        dir: &Path,
        model: &M,
        optim: &ModuleOptimizer,
        state: &S,
        blobs: &[(&str, &[f32])],
    ) -> Result<()> {
        let new = staging(dir);
        if new.exists() {
            std::fs::remove_dir_all(&new).ctx("removing", &new)?;
        }
        std::fs::create_dir_all(&new).ctx("creating", &new)?;
        let m = new.join("model.bpk");
        save_model(model, &m)?;
        let o = new.join("optim.bpk");
        optim.save(&o).map_err(record_err(&o))?;
        for (name, values) in blobs {
            let p = new.join(format!("{name}.f32"));
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(&p, bytes).ctx("writing", &p)?;
        }
        let s = new.join("state.json");
        std::fs::write(&s, serde_json::to_vec(state).expect("json")).ctx("writing", &s)?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).ctx("removing", dir)?;
        }
        std::fs::rename(&new, dir).ctx("renaming", &new)?;
        Ok(())
    }

    /// Loads the checkpoint in `dir` (or its complete staging copy) into the given fresh
    /// model and optimizer; `None` when there is none.
    pub fn load(dir: &Path, model: M, optim: ModuleOptimizer) -> Result<Option<Self>> {
        let dir = if read_state::<S>(dir).is_some() {
            dir.to_path_buf()
        } else if read_state::<S>(&staging(dir)).is_some() {
            staging(dir)
        } else {
            return Ok(None);
        };
        let state = read_state(&dir).expect("checked above");
        let m = dir.join("model.bpk");
        let model = model.try_load_file(&m).map_err(|e| NnError::unreadable_record(&m, e))?;
        let o = dir.join("optim.bpk");
        let optim = optim.load(&o).map_err(|e| NnError::unreadable_record(&o, e))?;
        Ok(Some(Checkpoint { model, optim, state, dir }))
    }

    /// Reads a blob saved with the checkpoint, checking its length.
    pub fn blob(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        let p = self.dir.join(format!("{name}.f32"));
        let bytes = std::fs::read(&p).ctx("reading", &p)?;
        if bytes.len() != len * 4 {
            return Err(NnError::Record {
                path: p,
                reason: format!("{} bytes, expected {} ({len} f32 values)", bytes.len(), len * 4),
            });
        }
        Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
}

/// Saves a model record to `path` after folding every batch-norm running statistic's
/// pending update into its stored value. burn keeps the latest update of a running
/// statistic aside (per thread) until the statistic is next read, and a record holds only
/// the stored value: without this, a checkpoint is one update behind the live model and a
/// resumed run ends with other running statistics than an uninterrupted one.
pub fn save_model<M: Module + Clone>(model: &M, path: &Path) -> Result<()> {
    // `valid()` synchronises the running statistics it shares with `model` (the returned
    // evaluation copy itself is not needed).
    let _ = model.valid();
    model.clone().save_file(path).map_err(record_err(path))
}

/// Removes a run's checkpoint directory and any staging copy once the artifact is complete.
pub fn remove(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).ctx("removing", dir)?;
    }
    let _ = std::fs::remove_dir_all(staging(dir));
    Ok(())
}
