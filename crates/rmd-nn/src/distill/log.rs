//! The RGRL stage's per-epoch log and its per-class CSV files.

use crate::error::Result;
use crate::train::{EpochRecord, write_csv};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// One epoch's figures; the field order is the column order of `epochs.csv` (`None`: an
/// empty cell, for switched-off terms), which leaves out the timing fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Mean total training loss.
    pub loss: f64,
    /// Mean base loss.
    pub base_loss: f64,
    /// Mean L_node (unweighted; None when off).
    pub node_loss: Option<f64>,
    /// Mean L_edge (unweighted; None when off).
    pub edge_loss: Option<f64>,
    /// Mean L_graph over the steps where it applied (unweighted; None when off).
    pub graph_loss: Option<f64>,
    /// Share of training predictions (augmented, train mode) equal to the noisy label.
    pub train_acc_noisy: f64,
    /// Accuracy on the validation split against its noisy labels (None without one).
    pub val_acc_noisy: Option<f64>,
    /// Clean test accuracy.
    pub test_acc: f64,
    /// Share of the tracked flipped training samples predicted as their noisy label.
    pub memorised: f64,
    /// Share of the tracked flipped training samples predicted as their clean label.
    pub corrected: f64,
    /// Wall seconds of the epoch (training and evaluation), to the millisecond. Not in
    /// `epochs.csv` (see [`crate::train::TIMING_COLUMNS`]): 0 when read from one.
    #[serde(default)]
    pub seconds: f64,
    /// Training images per second, two decimals. Not in `epochs.csv`, like `seconds`.
    #[serde(default)]
    pub images_per_s: f64,
}

impl EpochRecord for EpochLog {
    fn describe(&self, epochs: usize) -> String {
        let mut terms = String::new();
        for (name, v) in [("node", self.node_loss), ("edge", self.edge_loss), ("graph", self.graph_loss)] {
            if let Some(v) = v {
                let _ = write!(terms, " {name} {v:.4}");
            }
        }
        let val = self.val_acc_noisy.map(|v| format!(" noisy val acc {v:.4},")).unwrap_or_default();
        format!(
            "epoch {}/{epochs}: loss {:.4} (base {:.4}{terms}),{val} test acc {:.4}, flipped samples: {:.3} memorised / {:.3} clean, {:.0} img/s, {:.0}s",
            self.epoch,
            self.loss,
            self.base_loss,
            self.test_acc,
            self.memorised,
            self.corrected,
            self.images_per_s,
            self.seconds
        )
    }
}

/// A row of `per_class.csv`.
#[derive(Debug, Serialize)]
struct PerClassRow<'a> {
    class: usize,
    name: &'a str,
    /// Empty when the class has no test image.
    accuracy: Option<f64>,
    support: u64,
}

/// A row of `confusion.csv`.
#[derive(Debug, Serialize)]
struct ConfusionRow<'a> {
    true_label: usize,
    true_name: &'a str,
    predicted_label: usize,
    predicted_name: &'a str,
    count: u64,
}

/// Writes per-class test accuracy: class, name, accuracy, support.
pub fn write_per_class_csv(
    path: &Path,
    classes: &[String],
    confusion: &[Vec<u64>],
    acc: &[f64],
) -> Result<()> {
    let rows: Vec<PerClassRow> = classes
        .iter()
        .enumerate()
        .map(|(c, name)| PerClassRow {
            class: c,
            name,
            accuracy: (!acc[c].is_nan()).then_some(acc[c]),
            support: confusion[c].iter().sum(),
        })
        .collect();
    write_csv(path, &rows)
}

/// Writes the confusion matrix in long format: true_label, true_name, predicted_label,
/// predicted_name, count (every pair, zeros included).
pub fn write_confusion_csv(path: &Path, classes: &[String], confusion: &[Vec<u64>]) -> Result<()> {
    let rows: Vec<ConfusionRow> = confusion
        .iter()
        .enumerate()
        .flat_map(|(t, row)| {
            row.iter().enumerate().map(move |(p, &count)| ConfusionRow {
                true_label: t,
                true_name: &classes[t],
                predicted_label: p,
                predicted_name: &classes[p],
                count,
            })
        })
        .collect();
    write_csv(path, &rows)
}
