//! Parameters of the RM (self-supervised pre-training) stage and its profiles.

use crate::models::{ResNetConfig, SimSiamConfig};
use crate::profile::Profile;
use rmd_data::augment::{ColorJitter, SimSiamAugment};
use serde::{Deserialize, Serialize};

/// Augmentation parameters (recorded in the artifact key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AugmentParams {
    /// Random resized crop: smallest area fraction.
    pub crop_scale_min: f64,
    /// Colour-jitter strengths: brightness, contrast, saturation, hue.
    pub jitter: [f64; 4],
    /// Probability of colour jitter.
    pub jitter_p: f64,
    /// Probability of grayscale.
    pub grayscale_p: f64,
}

impl Default for AugmentParams {
    fn default() -> Self {
        AugmentParams { crop_scale_min: 0.2, jitter: [0.4, 0.4, 0.4, 0.1], jitter_p: 0.8, grayscale_p: 0.2 }
    }
}

impl AugmentParams {
    /// The augmentation pipeline these parameters describe.
    pub fn pipeline(&self) -> SimSiamAugment {
        // Parameters are f64 so they print as written (0.2, not 0.20000000298023224) in
        // manifests; the pipeline itself works in f32.
        SimSiamAugment {
            crop_scale: (self.crop_scale_min as f32, 1.0),
            jitter: ColorJitter {
                brightness: self.jitter[0] as f32,
                contrast: self.jitter[1] as f32,
                saturation: self.jitter[2] as f32,
                hue: self.jitter[3] as f32,
            },
            jitter_p: self.jitter_p as f32,
            grayscale_p: self.grayscale_p as f32,
            ..SimSiamAugment::default()
        }
    }
}

/// The kNN monitor (a diagnostic that reads clean labels; it never feeds training).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnnParams {
    /// Neighbours.
    pub k: usize,
    /// Vote temperature.
    pub temperature: f64,
    /// Run every this many epochs (and after the last).
    pub every: usize,
    /// Training images in the neighbour bank (None: all of them).
    pub train_images: Option<usize>,
    /// Test images classified (None: all of them).
    pub test_images: Option<usize>,
}

/// The self-supervised objective of the RM stage.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RmMethod {
    /// SimSiam (Chen & He 2021): a predictor and a stop-gradient, no negatives.
    #[default]
    SimSiam,
    /// SimCLR (Chen et al. 2020): NT-Xent with the batch's other images as negatives.
    SimClr {
        /// Softmax temperature τ of the cosine similarities.
        temperature: f64,
    },
}

impl RmMethod {
    /// The temperature SimCLR uses when none is given (the SimCLR paper's best for CIFAR-10).
    pub const DEFAULT_SIMCLR_TEMPERATURE: f64 = 0.5;

    /// The method's name: `simsiam` or `simclr`.
    pub fn name(&self) -> &'static str {
        match self {
            RmMethod::SimSiam => "simsiam",
            RmMethod::SimClr { .. } => "simclr",
        }
    }

    /// Whether this is SimSiam (left out of the key, so SimSiam keys predate the choice).
    pub fn is_simsiam(&self) -> bool {
        *self == RmMethod::SimSiam
    }
}

/// Everything that determines an RM artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainParams {
    /// The objective (absent from the key when SimSiam).
    #[serde(default, skip_serializing_if = "RmMethod::is_simsiam")]
    pub method: RmMethod,
    /// Encoder, projector and predictor (SimCLR leaves the predictor out).
    pub model: SimSiamConfig,
    /// Training images used: the first N of a seeded permutation (None: all).
    pub images: Option<usize>,
    /// Epochs.
    pub epochs: usize,
    /// Batch size (each image contributes two views).
    pub batch_size: usize,
    /// Base learning rate: lr = base_lr · batch_size / 256.
    pub base_lr: f64,
    /// SGD momentum (dampening 0, as in PyTorch).
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Linear warm-up epochs before the cosine decay.
    pub warmup_epochs: usize,
    /// Augmentations.
    pub augment: AugmentParams,
    /// Monitor.
    pub knn: KnnParams,
    /// Seed of initialisation, sample order and augmentation.
    pub seed: u64,
}

impl PretrainParams {
    /// Checks the values that the model's own validation does not: a batch of at least two
    /// images (batch norm needs two), at least one epoch, a positive finite learning rate,
    /// momentum in [0, 1) and a finite, non-negative weight decay.
    pub fn validate(&self) -> Result<(), String> {
        self.model.validate()?;
        if self.batch_size < 2 {
            return Err(format!(
                "batch size {} is too small: batch norm needs at least 2 images",
                self.batch_size
            ));
        }
        if self.epochs == 0 {
            return Err("epochs must be ≥ 1".into());
        }
        if let RmMethod::SimClr { temperature } = self.method
            && !(temperature.is_finite() && temperature > 0.0)
        {
            return Err(format!("the SimCLR temperature must be positive and finite, not {temperature}"));
        }
        if self.images == Some(0) {
            return Err("images must be ≥ 1 (omit it to use all)".into());
        }
        crate::schedule::check_sgd(self.base_lr, self.momentum, self.weight_decay)
    }
}

impl Profile {
    /// The profile's parameters for images with `channels` channels.
    pub fn pretrain_params(self, channels: usize, seed: u64) -> PretrainParams {
        match self {
            Profile::Smoke => PretrainParams {
                method: RmMethod::SimSiam,
                // A stride-2 stem keeps embedding all 50k CIFAR images (relations) to seconds.
                model: SimSiamConfig {
                    encoder: ResNetConfig { stem_stride: 2, ..ResNetConfig::small(channels, 8, 2, 1) },
                    proj_dim: 64,
                    proj_layers: 2,
                    pred_hidden: 16,
                },
                images: Some(256),
                epochs: 1,
                batch_size: 64,
                base_lr: 0.06,
                momentum: 0.9,
                weight_decay: 5e-4,
                warmup_epochs: 0,
                augment: AugmentParams::default(),
                knn: KnnParams {
                    k: 20,
                    temperature: 0.1,
                    every: 1,
                    train_images: Some(256),
                    test_images: Some(128),
                },
                seed,
            },
            Profile::Cpu => PretrainParams {
                // SimCLR at τ 0.1 learns far faster per CPU-minute than SimSiam at this scale
                // (README, "Choosing the RM recipe": kNN 0.42 vs 0.31 after 15,000 images).
                method: RmMethod::SimClr { temperature: 0.1 },
                // Sized for ~60 minutes on a 2-core CPU (burn flex, ~140 img/s): a stride-2 stem
                // quarters the cost of every later layer at unchanged width.
                model: SimSiamConfig {
                    encoder: ResNetConfig { stem_stride: 2, ..ResNetConfig::small(channels, 32, 3, 1) },
                    proj_dim: 512,
                    proj_layers: 2,
                    pred_hidden: 128,
                },
                images: None,
                epochs: 9,
                batch_size: 128,
                base_lr: 0.06,
                momentum: 0.9,
                weight_decay: 5e-4,
                warmup_epochs: 0,
                augment: AugmentParams::default(),
                knn: KnnParams {
                    k: 200,
                    temperature: 0.1,
                    every: 1,
                    train_images: Some(10_000),
                    test_images: Some(2_000),
                },
                seed,
            },
            // The cpu RM for 30 epochs (the cpu-long pipelines' teacher: the same key).
            Profile::CpuFull => PretrainParams { epochs: 30, ..Profile::Cpu.pretrain_params(channels, seed) },
            Profile::Paper => PretrainParams {
                method: RmMethod::SimSiam,
                model: SimSiamConfig {
                    encoder: ResNetConfig::resnet18(channels),
                    proj_dim: 2048,
                    proj_layers: 3,
                    pred_hidden: 512,
                },
                images: None,
                epochs: 800,
                batch_size: 512,
                base_lr: 0.03,
                momentum: 0.9,
                weight_decay: 5e-4,
                warmup_epochs: 0,
                augment: AugmentParams::default(),
                knn: KnnParams { k: 200, temperature: 0.1, every: 10, train_images: None, test_images: None },
                seed,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simsiam_is_absent_from_the_serialised_parameters_and_simclr_is_named() {
        let mut p = Profile::Smoke.pretrain_params(3, 1);
        let json = serde_json::to_value(&p).unwrap();
        assert!(json.get("method").is_none(), "{json}");
        let back: PretrainParams = serde_json::from_value(json).unwrap();
        assert_eq!(back.method, RmMethod::SimSiam);
        p.method = RmMethod::SimClr { temperature: 0.5 };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["method"], serde_json::json!({"simclr": {"temperature": 0.5}}));
        assert_eq!(serde_json::from_value::<PretrainParams>(json).unwrap(), p);
    }

    #[test]
    fn a_non_positive_temperature_is_refused() {
        let mut p = Profile::Smoke.pretrain_params(3, 1);
        for t in [0.0, -0.1, f64::NAN] {
            p.method = RmMethod::SimClr { temperature: t };
            assert!(p.validate().unwrap_err().contains("temperature"));
        }
        p.method = RmMethod::SimClr { temperature: 0.2 };
        p.validate().unwrap();
    }
}
