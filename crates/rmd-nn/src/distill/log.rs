//! The RGRL stage's per-epoch log and its CSV files.

use crate::error::{IoContext, Result};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// One epoch's figures.
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
    /// Wall seconds of the epoch (training and evaluation).
    pub seconds: f64,
    /// Training images per second.
    pub images_per_s: f64,
}

impl EpochLog {
    /// A one-line summary.
    pub fn describe(&self, epochs: usize) -> String {
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

fn opt(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// Writes the epoch log as CSV (empty cells for switched-off terms).
pub fn write_epochs_csv(path: &Path, log: &[EpochLog]) -> Result<()> {
    let mut text = String::from(
        "epoch,lr,loss,base_loss,node_loss,edge_loss,graph_loss,train_acc_noisy,val_acc_noisy,test_acc,memorised,corrected,seconds,images_per_s\n",
    );
    for e in log {
        let _ = writeln!(
            text,
            "{},{},{},{},{},{},{},{},{},{},{},{},{:.3},{:.2}",
            e.epoch,
            e.lr,
            e.loss,
            e.base_loss,
            opt(e.node_loss),
            opt(e.edge_loss),
            opt(e.graph_loss),
            e.train_acc_noisy,
            opt(e.val_acc_noisy),
            e.test_acc,
            e.memorised,
            e.corrected,
            e.seconds,
            e.images_per_s
        );
    }
    std::fs::write(path, text).ctx("writing", path)
}

/// Quotes a CSV field when it needs it.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// Writes per-class test accuracy: class, name, accuracy, support.
pub fn write_per_class_csv(
    path: &Path,
    classes: &[String],
    confusion: &[Vec<u64>],
    acc: &[f64],
) -> Result<()> {
    let mut text = String::from("class,name,accuracy,support\n");
    for (c, name) in classes.iter().enumerate() {
        let support: u64 = confusion[c].iter().sum();
        let a = if acc[c].is_nan() { String::new() } else { acc[c].to_string() };
        let _ = writeln!(text, "{c},{},{a},{support}", field(name));
    }
    std::fs::write(path, text).ctx("writing", path)
}

/// Writes the confusion matrix in long format: true_label, true_name, predicted_label,
/// predicted_name, count (every pair, zeros included).
pub fn write_confusion_csv(path: &Path, classes: &[String], confusion: &[Vec<u64>]) -> Result<()> {
    let mut text = String::from("true_label,true_name,predicted_label,predicted_name,count\n");
    for (t, row) in confusion.iter().enumerate() {
        for (p, n) in row.iter().enumerate() {
            let _ = writeln!(text, "{t},{},{p},{},{n}", field(&classes[t]), field(&classes[p]));
        }
    }
    std::fs::write(path, text).ctx("writing", path)
}
