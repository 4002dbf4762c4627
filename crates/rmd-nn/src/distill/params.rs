//! Parameters of the RGRL stage and its profiles.

use super::losses::BaseLoss;
use super::rgrl::RgrlParams;
use crate::models::ResNetConfig;
use crate::profile::Profile;
use crate::schedule::CosineSchedule;
use serde::{Deserialize, Serialize};

/// Learning-rate schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LrSchedule {
    /// Linear warm-up, then cosine decay to 0.
    Cosine {
        /// Warm-up epochs.
        warmup_epochs: usize,
    },
    /// Multiply by `gamma` at each milestone epoch.
    MultiStep {
        /// Epochs (1-based boundaries) after which the rate drops.
        milestones: Vec<usize>,
        /// Factor per milestone.
        gamma: f64,
    },
}

impl LrSchedule {
    /// Learning rate at `step` (0-based) for a peak `lr`.
    pub fn lr(&self, lr: f64, step: usize, steps_per_epoch: usize, epochs: usize) -> f64 {
        match self {
            LrSchedule::Cosine { warmup_epochs } => CosineSchedule {
                peak: lr,
                warmup: warmup_epochs * steps_per_epoch,
                total: epochs * steps_per_epoch,
            }
            .lr(step),
            LrSchedule::MultiStep { milestones, gamma } => {
                let epoch = step / steps_per_epoch.max(1);
                lr * gamma.powi(milestones.iter().filter(|&&m| epoch >= m).count() as i32)
            }
        }
    }

    /// Checks a multi-step schedule: milestones strictly increasing and ≥ 1, gamma in (0, 1].
    pub fn validate(&self) -> Result<(), String> {
        if let LrSchedule::MultiStep { milestones, gamma } = self {
            if milestones.contains(&0) || milestones.windows(2).any(|w| w[0] >= w[1]) {
                return Err(format!("milestones {milestones:?} must be epochs ≥ 1 in increasing order"));
            }
            if !(gamma.is_finite() && *gamma > 0.0 && *gamma <= 1.0) {
                return Err(format!("gamma {gamma} must be in (0, 1]"));
            }
        }
        Ok(())
    }

    /// Parses `cosine`, `cosine:WARMUP` or `multistep:M1,M2,...:GAMMA`.
    pub fn parse(s: &str) -> Result<LrSchedule, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let num =
            |x: &str| x.parse::<usize>().map_err(|_| format!("schedule {s}: '{x}' is not a whole number"));
        match parts.as_slice() {
            ["cosine"] => Ok(LrSchedule::Cosine { warmup_epochs: 0 }),
            ["cosine", w] => Ok(LrSchedule::Cosine { warmup_epochs: num(w)? }),
            ["multistep", ms, g] => {
                let schedule = LrSchedule::MultiStep {
                    milestones: ms.split(',').map(num).collect::<Result<_, _>>()?,
                    gamma: g.parse().map_err(|_| format!("schedule {s}: '{g}' is not a number"))?,
                };
                schedule.validate().map_err(|e| format!("schedule {s}: {e}"))?;
                Ok(schedule)
            }
            _ => Err(format!("schedule {s}: expected cosine, cosine:WARMUP or multistep:M1,M2:GAMMA")),
        }
    }
}

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalParams {
    /// Test images evaluated after each epoch: the first N of a fixed permutation (None: all).
    pub test_images: Option<usize>,
    /// Training images held out as the noisy validation split (0: none): the first N of a
    /// fixed permutation of the training set, the same for every seed, never trained on.
    /// Epochs are selected on their accuracy against the noisy labels.
    pub val_images: usize,
    /// Flipped training samples whose predictions give the memorisation curve (at most).
    pub memorisation_samples: usize,
}

/// Everything that determines an RGRL artifact (besides its inputs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillParams {
    /// Student backbone.
    pub backbone: ResNetConfig,
    /// Initialise the backbone from the RM encoder (needs an RM artifact of the same
    /// architecture, recorded as an input).
    pub init_from_rm: bool,
    /// Training images: the first N of a seeded permutation of the images outside the
    /// validation split (None: all of them).
    pub images: Option<usize>,
    /// Epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Learning-rate schedule.
    pub schedule: LrSchedule,
    /// SGD momentum (dampening 0).
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Random-crop zero padding (pixels); a horizontal flip with p = 1/2 follows.
    pub crop_padding: usize,
    /// Base loss.
    pub loss: BaseLoss,
    /// Label smoothing ε of the CE base loss: the target is (1 − ε)·one-hot + ε/C (0: off,
    /// and then left out of the parameters, so artifacts made before it keep their keys).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub label_smoothing: f64,
    /// Relation distillation (None: the plain baseline, no relations input).
    pub rgrl: Option<RgrlParams>,
    /// Evaluation.
    pub eval: EvalParams,
    /// Seed of initialisation, sample order and augmentation.
    pub seed: u64,
}

/// Whether a parameter is 0 (such parameters are left out of the key while off).
pub(super) fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl Profile {
    /// Default RGRL parameters of the profile.
    pub fn rgrl_params(self) -> RgrlParams {
        RgrlParams {
            node_weight: 0.3,
            edge_weight: 0.3,
            graph_weight: 0.3,
            tau_teacher: 0.1,
            tau_student: 0.1,
            graph_k: 10,
            graph_tau: 0.1,
            projection_hidden: match self {
                Profile::Smoke => 0,
                Profile::Cpu | Profile::CpuFull => 128,
                Profile::Paper => 512,
            },
            confidence: false,
            neighbour_targets: 0.0,
            weight_schedule: super::rgrl::RelationWeightSchedule::Constant,
        }
    }

    /// The profile's parameters for images with `channels` channels (without RGRL; the
    /// caller adds it when a relations artifact is given).
    pub fn distill_params(self, channels: usize, loss: BaseLoss, seed: u64) -> DistillParams {
        match self {
            Profile::Smoke => DistillParams {
                backbone: ResNetConfig { stem_stride: 2, ..ResNetConfig::small(channels, 8, 2, 1) },
                init_from_rm: false,
                images: Some(256),
                epochs: 2,
                batch_size: 64,
                lr: 0.05,
                schedule: LrSchedule::Cosine { warmup_epochs: 0 },
                momentum: 0.9,
                weight_decay: 5e-4,
                crop_padding: 4,
                loss,
                label_smoothing: 0.0,
                rgrl: None,
                eval: EvalParams { test_images: Some(512), val_images: 64, memorisation_samples: 64 },
                seed,
            },
            Profile::Cpu => DistillParams {
                // The RM cpu encoder's architecture (so --init-from-rm fits), on 10,000 images
                // for 8 epochs, 5,000 held out for validation: about 6 minutes per run on a
                // 2-core CPU (~270 img/s).
                backbone: ResNetConfig { stem_stride: 2, ..ResNetConfig::small(channels, 32, 3, 1) },
                init_from_rm: false,
                images: Some(10_000),
                epochs: 8,
                batch_size: 128,
                lr: 0.05,
                schedule: LrSchedule::Cosine { warmup_epochs: 0 },
                momentum: 0.9,
                weight_decay: 5e-4,
                crop_padding: 4,
                loss,
                label_smoothing: 0.0,
                rgrl: None,
                eval: EvalParams { test_images: None, val_images: 5_000, memorisation_samples: 1_000 },
                seed,
            },
            Profile::CpuFull => DistillParams {
                // The cpu network on all 45,000 training images (5,000 held out), 24 epochs
                // at lr 0.1 with label smoothing 0.1 for CE: chosen on the clean-label
                // validation split (docs/results/cpu-full-recipe.md), 22-27 minutes per
                // run on a 2-core CPU (700-1000 img/s).
                images: None,
                epochs: 24,
                lr: 0.1,
                label_smoothing: if loss == BaseLoss::Ce { 0.1 } else { 0.0 },
                ..Profile::Cpu.distill_params(channels, loss, seed)
            },
            Profile::Paper => DistillParams {
                backbone: ResNetConfig::resnet18(channels),
                init_from_rm: false,
                images: None,
                epochs: 120,
                batch_size: 128,
                lr: 0.02,
                schedule: LrSchedule::MultiStep { milestones: vec![40, 80], gamma: 0.01 },
                momentum: 0.9,
                weight_decay: 1e-3,
                crop_padding: 4,
                loss,
                label_smoothing: 0.0,
                rgrl: None,
                eval: EvalParams { test_images: None, val_images: 5_000, memorisation_samples: 5_000 },
                seed,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let m = LrSchedule::parse("multistep:2,4:0.1").unwrap();
        assert!((m.lr(0.1, 0, 10, 6) - 0.1).abs() < 1e-12);
        assert!((m.lr(0.1, 20, 10, 6) - 0.01).abs() < 1e-12);
        assert!((m.lr(0.1, 45, 10, 6) - 0.001).abs() < 1e-12);
        let c = LrSchedule::parse("cosine").unwrap();
        assert!((c.lr(0.1, 30, 10, 6) - 0.05).abs() < 1e-12);
        assert!(LrSchedule::parse("step").is_err());
        assert!(LrSchedule::parse("multistep:a:0.1").is_err());
        let err = LrSchedule::parse("multistep:80,40:0.1").unwrap_err();
        assert!(err.contains("increasing order"), "{err}");
        assert!(LrSchedule::parse("multistep:40,40:0.1").is_err());
        assert!(LrSchedule::parse("multistep:40:0").unwrap_err().contains("gamma"));
        assert!(LrSchedule::parse("multistep:40:-1").is_err());
    }
}
