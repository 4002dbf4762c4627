//! Per-epoch checkpoints inside the run's partial directory, and the epoch log.
//!
//! A checkpoint is written to `checkpoint.new/` (model, optimizer, then `state.json` last)
//! and swapped for `checkpoint/`; a crash during the swap leaves a complete
//! `checkpoint.new/`, which [`Checkpoint::load`] also accepts.

use crate::error::{IoContext, NnError, Result};
use crate::models::SimSiam;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One epoch's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// kNN accuracy, when the monitor ran.
    pub knn_acc: Option<f64>,
    /// Wall seconds (training and monitor).
    pub seconds: f64,
    /// Training images per second (each image is two views).
    pub images_per_s: f64,
    /// Share of the training time spent augmenting.
    pub aug_share: f64,
}

impl EpochLog {
    /// A one-line summary.
    pub fn describe(&self, epochs: usize) -> String {
        format!(
            "epoch {}/{epochs}: loss {:.4}, lr {:.4}, {}{:.0} img/s, augmentation {:.0}% of the step, {:.0}s",
            self.epoch,
            self.loss,
            self.lr,
            self.knn_acc.map(|a| format!("kNN acc {a:.4}, ")).unwrap_or_default(),
            self.images_per_s,
            100.0 * self.aug_share,
            self.seconds
        )
    }
}

/// Progress recorded with a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Completed epochs.
    pub epochs_done: usize,
    /// Their log.
    pub log: Vec<EpochLog>,
}

/// A loaded checkpoint.
pub struct Checkpoint {
    /// The model.
    pub model: SimSiam,
    /// The optimizer with its momentum buffers.
    pub optim: ModuleOptimizer,
    /// Progress.
    pub state: CheckpointState,
}

fn staging(dir: &Path) -> PathBuf {
    dir.with_file_name(format!("{}.new", dir.file_name().and_then(|n| n.to_str()).unwrap_or("checkpoint")))
}

fn read_state(dir: &Path) -> Option<CheckpointState> {
    let text = std::fs::read_to_string(dir.join("state.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn record_err(path: &Path) -> impl Fn(burn::store::RecordError) -> NnError + '_ {
    move |e| NnError::Record { path: path.to_path_buf(), reason: format!("{e:?}") }
}

impl Checkpoint {
    /// The state of the checkpoint in `dir` (or its staging copy), if any.
    pub fn peek(dir: &Path) -> Option<CheckpointState> {
        read_state(dir).or_else(|| read_state(&staging(dir)))
    }

    /// Writes a checkpoint, replacing the previous one.
    pub fn save(dir: &Path, model: &SimSiam, optim: &ModuleOptimizer, log: &[EpochLog]) -> Result<()> {
        let new = staging(dir);
        if new.exists() {
            std::fs::remove_dir_all(&new).ctx("removing", &new)?;
        }
        std::fs::create_dir_all(&new).ctx("creating", &new)?;
        let m = new.join("model.bpk");
        model.clone().save_file(&m).map_err(record_err(&m))?;
        let o = new.join("optim.bpk");
        optim.save(&o).map_err(record_err(&o))?;
        let state = CheckpointState { epochs_done: log.len(), log: log.to_vec() };
        let s = new.join("state.json");
        std::fs::write(&s, serde_json::to_vec(&state).expect("json")).ctx("writing", &s)?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).ctx("removing", dir)?;
        }
        std::fs::rename(&new, dir).ctx("renaming", &new)?;
        Ok(())
    }

    /// Loads the checkpoint in `dir` (or its complete staging copy) into the given fresh
    /// model and optimizer; `None` when there is none.
    pub fn load(dir: &Path, model: SimSiam, optim: ModuleOptimizer) -> Result<Option<Checkpoint>> {
        let dir = if read_state(dir).is_some() {
            dir.to_path_buf()
        } else if read_state(&staging(dir)).is_some() {
            staging(dir)
        } else {
            return Ok(None);
        };
        let state = read_state(&dir).expect("checked above");
        let m = dir.join("model.bpk");
        let model = model.try_load_file(&m).map_err(record_err(&m))?;
        let o = dir.join("optim.bpk");
        let optim = optim.load(&o).map_err(record_err(&o))?;
        Ok(Some(Checkpoint { model, optim, state }))
    }
}

/// Writes the epoch log as CSV (empty cells for epochs without a kNN evaluation).
pub fn write_csv(path: &Path, log: &[EpochLog]) -> Result<()> {
    let mut text = String::from("epoch,loss,lr,knn_acc,seconds,images_per_s,aug_share\n");
    for e in log {
        text.push_str(&format!(
            "{},{},{},{},{:.3},{:.2},{:.4}\n",
            e.epoch,
            e.loss,
            e.lr,
            e.knn_acc.map(|a| a.to_string()).unwrap_or_default(),
            e.seconds,
            e.images_per_s,
            e.aug_share
        ));
    }
    std::fs::write(path, text).ctx("writing", path)
}
