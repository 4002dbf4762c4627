//! The RM stage's per-epoch log (`epochs.csv`).

use crate::train::EpochRecord;
use serde::{Deserialize, Serialize};

/// One epoch's figures; the field order is the column order of `epochs.csv`, which leaves
/// out the timing fields.
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
    /// Wall seconds (training and monitor), to the millisecond. Not in `epochs.csv` (see
    /// [`crate::train::TIMING_COLUMNS`]): 0 when read from one.
    #[serde(default)]
    pub seconds: f64,
    /// Training images per second (each image is two views), two decimals. Not in
    /// `epochs.csv`, like `seconds`.
    #[serde(default)]
    pub images_per_s: f64,
    /// Share of the training time spent augmenting, four decimals. Not in `epochs.csv`.
    #[serde(default)]
    pub aug_share: f64,
}

impl EpochRecord for EpochLog {
    // bench/gpu_check_summary.py reads these lines (its EPOCH pattern): keep the two in step.
    fn describe(&self, epochs: usize) -> String {
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
