//! The RM stage's epoch log and checkpoint state (the checkpoint mechanics are in
//! [`crate::checkpoint`]).

use crate::error::{IoContext, Result};
use crate::models::SimSiam;
use serde::{Deserialize, Serialize};
use std::path::Path;

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

/// An RM checkpoint.
pub type Checkpoint = crate::checkpoint::Checkpoint<SimSiam, CheckpointState>;

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
