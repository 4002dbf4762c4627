//! Per-epoch checkpoints inside a run's partial directory, shared by the training stages.
//!
//! A checkpoint is written to `checkpoint.new/` (model, optimizer, any named `f32` blobs,
//! `state.json`, then `checksums.json` last: the size and blake3 of every other file) and
//! swapped for `checkpoint/`; a crash during the swap leaves a complete `checkpoint.new/`,
//! which [`Checkpoint::load`] also accepts. A checkpoint is an input like any artifact:
//! [`Checkpoint::load`] re-hashes every file against `checksums.json` and refuses a damaged
//! one, naming the file, instead of training on from altered weights.

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

/// The file written last into a checkpoint: what makes it complete.
const CHECKSUMS_FILE: &str = "checksums.json";

/// Size and blake3 of one checkpoint file.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
struct FileSum {
    bytes: u64,
    blake3: String,
}

type Checksums = std::collections::BTreeMap<String, FileSum>;

fn read_checksums(dir: &Path) -> Option<Checksums> {
    let text = std::fs::read_to_string(dir.join(CHECKSUMS_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

fn read_state<S: DeserializeOwned>(dir: &Path) -> Option<S> {
    read_checksums(dir)?;
    let text = std::fs::read_to_string(dir.join("state.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn sum_of(path: &Path) -> Result<FileSum> {
    let d = rmd_store::hash_file(path).map_err(|e| NnError::Data(e.into()))?;
    Ok(FileSum { bytes: d.bytes, blake3: d.blake3 })
}

/// Re-hashes the files of a complete checkpoint against its `checksums.json`: the first
/// file that is missing, resized or altered is an error naming it.
fn check_sums(dir: &Path) -> Result<()> {
    let sums = read_checksums(dir).ok_or_else(|| NnError::Record {
        path: dir.join(CHECKSUMS_FILE),
        reason: "missing or unreadable".into(),
    })?;
    for (name, expected) in &sums {
        let path = dir.join(name);
        let damaged = |reason: String| NnError::BadRecord {
            path: path.clone(),
            what: "checkpoint file",
            reason: format!(
                "{reason}; the interrupted run cannot be resumed from it: remove {} to start the run over",
                dir.display()
            ),
        };
        let meta = std::fs::symlink_metadata(&path).map_err(|e| damaged(format!("cannot be read ({e})")))?;
        if !meta.is_file() {
            return Err(damaged("is not a regular file".into()));
        }
        let actual = sum_of(&path)?;
        if actual.bytes != expected.bytes {
            return Err(damaged(format!(
                "{} bytes, {CHECKSUMS_FILE} records {}",
                actual.bytes, expected.bytes
            )));
        }
        if actual.blake3 != expected.blake3 {
            return Err(damaged(format!(
                "content changed since it was written (blake3 differs from {CHECKSUMS_FILE})"
            )));
        }
    }
    Ok(())
}

/// The progress record of the checkpoint in `dir` (or its complete staging copy), if any,
/// without loading the model.
pub fn saved_state<S: DeserializeOwned>(dir: &Path) -> Option<S> {
    read_state(dir).or_else(|| read_state(&staging(dir)))
}

/// The file that records how many state tensors the optimizer held when the checkpoint was
/// written, so a record of another kind in `optim.bpk` is told apart from an optimizer's.
const OPTIM_COUNT_FILE: &str = "optim.json";

/// Refuses a checkpoint path that exists but is not a directory (a file left under the name
/// would otherwise fail deep inside a write, or be ignored on resume).
fn refuse_non_directory(dir: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if !m.is_dir() => Err(NnError::BadRecord {
            path: dir.to_path_buf(),
            what: "checkpoint directory",
            reason: "it is a file (or link), not the directory a run keeps its checkpoint in; remove it to resume or start the run".into(),
        }),
        _ => Ok(()),
    }
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
        refuse_non_directory(dir)?;
        let new = staging(dir);
        refuse_non_directory(&new)?;
        if new.exists() {
            std::fs::remove_dir_all(&new).ctx("removing", &new)?;
        }
        std::fs::create_dir_all(&new).ctx("creating", &new)?;
        let m = new.join("model.bpk");
        save_model(model, &m)?;
        let o = new.join("optim.bpk");
        optim.save(&o).map_err(record_err(&o))?;
        let count = new.join(OPTIM_COUNT_FILE);
        let tensors = serde_json::json!({ "optimizer_state_tensors": optim.to_record().len() });
        std::fs::write(&count, tensors.to_string()).ctx("writing", &count)?;
        for (name, values) in blobs {
            let p = new.join(format!("{name}.f32"));
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(&p, bytes).ctx("writing", &p)?;
        }
        let s = new.join("state.json");
        std::fs::write(&s, serde_json::to_vec(state).expect("json")).ctx("writing", &s)?;
        let mut sums = Checksums::new();
        for entry in std::fs::read_dir(&new).ctx("listing", &new)? {
            let path = entry.ctx("listing", &new)?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            sums.insert(name, sum_of(&path)?);
        }
        let c = new.join(CHECKSUMS_FILE);
        std::fs::write(&c, serde_json::to_vec_pretty(&sums).expect("json")).ctx("writing", &c)?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).ctx("removing", dir)?;
        }
        std::fs::rename(&new, dir).ctx("renaming", &new)?;
        Ok(())
    }

    /// Loads the checkpoint in `dir` (or its complete staging copy) into the given fresh
    /// model and optimizer; `None` when there is none. A complete checkpoint whose files do
    /// not match its checksums is an error naming the file.
    pub fn load(dir: &Path, model: M, optim: ModuleOptimizer) -> Result<Option<Self>> {
        refuse_non_directory(dir)?;
        refuse_non_directory(&staging(dir))?;
        let dir = if read_state::<S>(dir).is_some() {
            dir.to_path_buf()
        } else if read_state::<S>(&staging(dir)).is_some() {
            staging(dir)
        } else {
            return Ok(None);
        };
        check_sums(&dir)?;
        let state = read_state(&dir).expect("checked above");
        let m = dir.join("model.bpk");
        let model = model.try_load_file(&m).map_err(|e| NnError::unreadable_record(&m, e))?;
        let o = dir.join("optim.bpk");
        let optim = optim.load(&o).map_err(|e| NnError::unreadable_record(&o, e))?;
        // Checkpoints written before the count was recorded have no optim.json.
        if let Ok(text) = std::fs::read_to_string(dir.join(OPTIM_COUNT_FILE)) {
            let want = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["optimizer_state_tensors"].as_u64());
            let got = optim.to_record().len() as u64;
            if want != Some(got) {
                return Err(NnError::BadRecord {
                    path: o,
                    what: "checkpoint file",
                    reason: format!(
                        "holds {got} optimizer state tensors where the checkpoint recorded {} (a record of another kind, such as a model's, in its place?); remove {} to start the run over",
                        want.map_or("an unreadable count".to_string(), |w| w.to_string()),
                        dir.display()
                    ),
                });
            }
        }
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
