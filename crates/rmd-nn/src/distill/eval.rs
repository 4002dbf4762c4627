//! Evaluation of a classifier: predictions, accuracy, per-class accuracy, the confusion
//! matrix and the memorisation measure on noisy training samples.

use crate::knn::eval_batch;
use crate::models::Classifier;
use burn::module::Module;
use burn::tensor::Device;
use rmd_data::Split;
use rmd_data::augment::{ImageShape, Normalizer};

/// Predicted classes of the images at `indices` (evaluation mode, no augmentation).
pub fn predict(
    model: &Classifier,
    split: &Split,
    indices: &[u32],
    shape: ImageShape,
    norm: &Normalizer,
    device: &Device,
    batch: usize,
) -> Vec<u16> {
    let (v, c) = logits(model, split, indices, shape, norm, device, batch);
    v.chunks(c.max(1)).map(|row| argmax(row) as u16).collect()
}

/// The logits of the images at `indices` (evaluation mode, no augmentation), row-major
/// `[indices.len(), classes]`, and the number of classes.
pub fn logits(
    model: &Classifier,
    split: &Split,
    indices: &[u32],
    shape: ImageShape,
    norm: &Normalizer,
    device: &Device,
    batch: usize,
) -> (Vec<f32>, usize) {
    let model = model.valid();
    let mut out = Vec::new();
    let mut classes = 0;
    for chunk in indices.chunks(batch.max(1)) {
        let logits = model.logits(eval_batch(split, chunk, shape, norm, device));
        classes = logits.dims()[1];
        out.extend(logits.into_data().try_to_vec::<f32>().expect("f32 logits"));
    }
    (out, classes)
}

/// Softmax of each row of `[rows, classes]` logits (computed in f64, max-subtracted).
pub fn softmax_rows(logits: &[f32], classes: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks(classes.max(1)) {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let e: Vec<f64> = row.iter().map(|&x| (x as f64 - m).exp()).collect();
        let z: f64 = e.iter().sum();
        out.extend(e.iter().map(|v| v / z));
    }
    out
}

/// Index of the largest value (the first on ties).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

/// Share of predictions equal to the labels.
pub fn accuracy(pred: &[u16], labels: &[u16]) -> f64 {
    if pred.is_empty() {
        return f64::NAN;
    }
    pred.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / pred.len() as f64
}

/// Confusion counts `[true][predicted]`.
pub fn confusion(pred: &[u16], labels: &[u16], classes: usize) -> Vec<Vec<u64>> {
    let mut m = vec![vec![0u64; classes]; classes];
    for (&p, &l) in pred.iter().zip(labels) {
        m[l as usize][p as usize] += 1;
    }
    m
}

/// Per-class accuracy (recall) from a confusion matrix; NaN for a class without samples.
pub fn per_class_accuracy(confusion: &[Vec<u64>]) -> Vec<f64> {
    confusion
        .iter()
        .enumerate()
        .map(|(c, row)| {
            let total: u64 = row.iter().sum();
            if total == 0 { f64::NAN } else { row[c] as f64 / total as f64 }
        })
        .collect()
}

/// How the model treats training samples whose label was flipped: the share predicted as
/// their noisy label (memorised) and as their clean label (still correct).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Memorisation {
    /// Share predicted as the noisy label.
    pub noisy: f64,
    /// Share predicted as the clean label.
    pub clean: f64,
}

/// Memorisation of the flipped samples given their predictions.
pub fn memorisation(pred: &[u16], clean: &[u16], noisy: &[u16]) -> Memorisation {
    let n = pred.len().max(1) as f64;
    Memorisation {
        noisy: pred.iter().zip(noisy).filter(|(p, y)| p == y).count() as f64 / n,
        clean: pred.iter().zip(clean).filter(|(p, y)| p == y).count() as f64 / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_from_predictions() {
        let pred = [0u16, 1, 1, 2];
        let labels = [0u16, 1, 2, 2];
        assert_eq!(accuracy(&pred, &labels), 0.75);
        let m = confusion(&pred, &labels, 3);
        assert_eq!(m[2], vec![0, 1, 1]);
        assert_eq!(per_class_accuracy(&m), vec![1.0, 1.0, 0.5]);
        let memo = memorisation(&[1, 1, 0, 2], &[0, 0, 0, 0], &[1, 2, 1, 2]);
        assert_eq!(memo, Memorisation { noisy: 0.5, clean: 0.25 });
        assert_eq!(argmax(&[0.1, 0.5, 0.5]), 1);
        let p = softmax_rows(&[0.0, 0.0, 1000.0, 0.0], 2);
        assert_eq!(&p[..2], &[0.5, 0.5]);
        assert_eq!(&p[2..], &[1.0, 0.0]);
    }
}
