//! Base losses on noisy labels: CE, GCE, SCE and ELR, each a function of the logits and the
//! one-hot noisy targets. ELR keeps a per-sample target memory ([`ElrMemory`]).

use burn::tensor::Tensor;
use burn::tensor::activation::{log_softmax, softmax};
use serde::{Deserialize, Serialize};

/// A base loss and its parameters (recorded in the artifact params).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum BaseLoss {
    /// Cross-entropy.
    Ce,
    /// Generalized cross-entropy (Zhang & Sabuncu 2018): (1 − p_y^q) / q.
    Gce {
        /// Truncation exponent q ∈ (0, 1]; q → 0 is CE, q = 1 is MAE.
        q: f64,
    },
    /// Symmetric cross-entropy (Wang et al. 2019): α·CE + β·RCE, where RCE takes log 0 as
    /// log(`log_clamp`).
    Sce {
        /// Weight of CE.
        alpha: f64,
        /// Weight of reverse CE.
        beta: f64,
        /// The value log 0 is clamped to (as log of this), 1e-4 in the paper.
        log_clamp: f64,
    },
    /// Early-learning regularization (Liu et al. 2020): CE + λ·mean log(1 − ⟨t_i, p_i⟩), t_i a
    /// per-sample running average of the model's predictions.
    Elr {
        /// Regulariser weight λ.
        lambda: f64,
        /// Target momentum β.
        beta: f64,
    },
}

impl BaseLoss {
    /// The loss's name (ce, gce, sce, elr).
    pub fn name(&self) -> &'static str {
        match self {
            BaseLoss::Ce => "ce",
            BaseLoss::Gce { .. } => "gce",
            BaseLoss::Sce { .. } => "sce",
            BaseLoss::Elr { .. } => "elr",
        }
    }

    /// The loss with the usual parameters for a dataset of `num_classes` classes (CIFAR-10
    /// values below 100 classes, CIFAR-100 values from 100).
    pub fn default_for(name: &str, num_classes: usize) -> Result<BaseLoss, String> {
        let many = num_classes >= 100;
        Ok(match name {
            "ce" => BaseLoss::Ce,
            "gce" => BaseLoss::Gce { q: 0.7 },
            "sce" if many => BaseLoss::Sce { alpha: 6.0, beta: 0.1, log_clamp: 1e-4 },
            "sce" => BaseLoss::Sce { alpha: 0.1, beta: 1.0, log_clamp: 1e-4 },
            "elr" if many => BaseLoss::Elr { lambda: 7.0, beta: 0.9 },
            "elr" => BaseLoss::Elr { lambda: 3.0, beta: 0.7 },
            other => return Err(format!("unknown loss '{other}': expected ce, gce, sce or elr")),
        })
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            BaseLoss::Ce => Ok(()),
            BaseLoss::Gce { q } if q > 0.0 && q <= 1.0 => Ok(()),
            BaseLoss::Gce { q } => Err(format!("GCE q must be in (0, 1], got {q}")),
            BaseLoss::Sce { alpha, beta, log_clamp }
                if alpha >= 0.0 && beta >= 0.0 && log_clamp > 0.0 && log_clamp < 1.0 =>
            {
                Ok(())
            }
            BaseLoss::Sce { .. } => Err("SCE needs α, β ≥ 0 and 0 < log_clamp < 1".into()),
            BaseLoss::Elr { lambda, beta } if lambda >= 0.0 && (0.0..1.0).contains(&beta) => Ok(()),
            BaseLoss::Elr { .. } => Err("ELR needs λ ≥ 0 and 0 ≤ β < 1".into()),
        }
    }

    /// The loss of a batch: `logits` `[b, c]`, `onehot` noisy targets `[b, c]`, and for ELR
    /// the batch's (already updated) target memory rows `[b, c]`.
    pub fn forward(&self, logits: Tensor<2>, onehot: Tensor<2>, elr_targets: Option<Tensor<2>>) -> Tensor<1> {
        let ce = || (onehot.clone() * log_softmax(logits.clone(), 1)).sum_dim(1).mean().neg();
        match *self {
            BaseLoss::Ce => ce(),
            BaseLoss::Gce { q } => {
                let p_y = (softmax(logits.clone(), 1) * onehot.clone()).sum_dim(1).clamp_min(1e-7);
                (p_y.powf_scalar(q as f32).neg() + 1.0).mean() / q as f32
            }
            BaseLoss::Sce { alpha, beta, log_clamp } => {
                let p = softmax(logits.clone(), 1).clamp(1e-7, 1.0);
                let log_target = onehot.clone().clamp(log_clamp as f32, 1.0).log();
                let rce = (p * log_target).sum_dim(1).mean().neg();
                ce() * alpha as f32 + rce * beta as f32
            }
            BaseLoss::Elr { lambda, .. } => {
                let t = elr_targets.expect("ELR needs its target memory");
                let p = softmax(logits.clone(), 1).clamp(1e-4, 1.0 - 1e-4);
                let reg = ((p * t).sum_dim(1).neg() + 1.0).log().mean();
                ce() + reg * lambda as f32
            }
        }
    }
}

/// ELR's per-sample targets t_i ← β·t_i + (1 − β)·p̂_i, p̂ the clamped, renormalised
/// prediction (detached). Starts at zero, as in the reference implementation.
#[derive(Debug, Clone, PartialEq)]
pub struct ElrMemory {
    /// `[n, classes]` row-major.
    pub targets: Vec<f32>,
    /// Classes.
    pub classes: usize,
    /// Momentum β.
    pub beta: f32,
}

impl ElrMemory {
    /// Zero targets for `n` samples.
    pub fn new(n: usize, classes: usize, beta: f64) -> Self {
        ElrMemory { targets: vec![0.0; n * classes], classes, beta: beta as f32 }
    }

    /// Updates the rows of `indices` from the batch's softmax `probs` (`[b, classes]`) and
    /// returns the updated rows.
    pub fn update(&mut self, indices: &[u32], probs: &[f32]) -> Vec<f32> {
        let c = self.classes;
        let mut rows = Vec::with_capacity(indices.len() * c);
        for (r, &i) in indices.iter().enumerate() {
            let p: Vec<f32> = probs[r * c..(r + 1) * c].iter().map(|v| v.clamp(1e-4, 1.0 - 1e-4)).collect();
            let sum: f32 = p.iter().sum();
            let t = &mut self.targets[i as usize * c..(i as usize + 1) * c];
            for (t, p) in t.iter_mut().zip(&p) {
                *t = self.beta * *t + (1.0 - self.beta) * p / sum;
            }
            rows.extend_from_slice(t);
        }
        rows
    }
}

/// One-hot rows of `labels` (`[b, classes]` row-major).
pub fn one_hot(labels: &[u16], classes: usize) -> Vec<f32> {
    let mut out = vec![0f32; labels.len() * classes];
    for (r, &l) in labels.iter().enumerate() {
        out[r * classes + l as usize] = 1.0;
    }
    out
}

/// Label-smoothed targets: (1 − ε)·one-hot + ε/classes per row; exactly [`one_hot`] for
/// ε = 0.
pub fn smoothed_one_hot(labels: &[u16], classes: usize, epsilon: f64) -> Vec<f32> {
    let mut out = one_hot(labels, classes);
    if epsilon > 0.0 {
        let (keep, spread) = ((1.0 - epsilon) as f32, (epsilon / classes as f64) as f32);
        out.iter_mut().for_each(|v| *v = *v * keep + spread);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn smoothed_targets_keep_their_mass() {
        assert_eq!(smoothed_one_hot(&[1, 0], 3, 0.0), one_hot(&[1, 0], 3));
        let t = smoothed_one_hot(&[2], 4, 0.2);
        assert!((t[2] - 0.85).abs() < 1e-6 && (t[0] - 0.05).abs() < 1e-6, "{t:?}");
        assert!((t.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_data().try_to_vec::<f32>().unwrap()[0]
    }

    fn setup() -> (Tensor<2>, Tensor<2>, Vec<f32>) {
        let device = Device::flex();
        let logits_v = vec![2.0f32, 0.5, -1.0, 0.1, 0.2, 0.3];
        let logits = Tensor::<2>::from_data(TensorData::new(logits_v.clone(), [2, 3]), &device);
        let onehot = Tensor::<2>::from_data(TensorData::new(one_hot(&[0, 2], 3), [2, 3]), &device);
        (logits, onehot, logits_v)
    }

    fn probs(row: &[f32]) -> Vec<f32> {
        let m = row.iter().cloned().fold(f32::MIN, f32::max);
        let e: Vec<f32> = row.iter().map(|v| (v - m).exp()).collect();
        let s: f32 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    #[test]
    fn losses_match_their_formulas() {
        let (logits, onehot, v) = setup();
        let (p0, p1) = (probs(&v[0..3]), probs(&v[3..6]));
        let ce = -(p0[0].ln() + p1[2].ln()) / 2.0;
        assert!((scalar(BaseLoss::Ce.forward(logits.clone(), onehot.clone(), None)) - ce).abs() < 1e-5);
        let q = 0.7f32;
        let gce = ((1.0 - p0[0].powf(q)) / q + (1.0 - p1[2].powf(q)) / q) / 2.0;
        let got = scalar(BaseLoss::Gce { q: 0.7 }.forward(logits.clone(), onehot.clone(), None));
        assert!((got - gce).abs() < 1e-5, "{got} vs {gce}");
        // RCE = −log(1e-4)·(1 − p_y).
        let rce = -(1e-4f32).ln() * ((1.0 - p0[0]) + (1.0 - p1[2])) / 2.0;
        let sce = BaseLoss::Sce { alpha: 0.1, beta: 1.0, log_clamp: 1e-4 };
        let got = scalar(sce.forward(logits.clone(), onehot.clone(), None));
        assert!((got - (0.1 * ce + rce)).abs() < 1e-4, "{got} vs {}", 0.1 * ce + rce);
        let t = Tensor::<2>::from_data(
            TensorData::new(vec![0.5f32, 0.5, 0.0, 0.0, 0.0, 1.0], [2, 3]),
            &Device::flex(),
        );
        let reg = ((1.0 - (0.5 * p0[0] + 0.5 * p0[1])).ln() + (1.0 - p1[2]).ln()) / 2.0;
        let got = scalar(BaseLoss::Elr { lambda: 3.0, beta: 0.7 }.forward(logits, onehot, Some(t)));
        assert!((got - (ce + 3.0 * reg)).abs() < 1e-4, "{got} vs {}", ce + 3.0 * reg);
    }

    #[test]
    fn elr_memory_is_a_running_average() {
        let mut m = ElrMemory::new(3, 2, 0.5);
        let rows = m.update(&[2], &[0.25, 0.75]);
        assert_eq!(rows, vec![0.125, 0.375]);
        let rows = m.update(&[2], &[0.25, 0.75]);
        assert_eq!(rows, vec![0.1875, 0.5625]);
        assert_eq!(&m.targets[..4], &[0.0; 4]);
    }

    #[test]
    fn defaults_and_validation() {
        assert_eq!(
            BaseLoss::default_for("sce", 100).unwrap(),
            BaseLoss::Sce { alpha: 6.0, beta: 0.1, log_clamp: 1e-4 }
        );
        assert!(BaseLoss::default_for("mae", 10).is_err());
        assert!(BaseLoss::Gce { q: 0.0 }.validate().is_err());
        assert!(BaseLoss::Elr { lambda: 3.0, beta: 1.0 }.validate().is_err());
    }
}
