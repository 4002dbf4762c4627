//! The RGRL student: a residual backbone, a linear classification head and, when relation
//! distillation is on, a projection ψ from the backbone features to the teacher's embedding
//! space.

use super::ids::IdAssigner;
use super::resnet::{ResNet, ResNetConfig};
use super::simsiam::{Mlp, MlpConfig};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Architecture of a classifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// The backbone φ_S.
    pub backbone: ResNetConfig,
    /// Output classes.
    pub num_classes: usize,
    /// Sizes of the projection ψ after the backbone features (hidden..., teacher dimension);
    /// empty when no relation term needs it.
    pub projection: Vec<usize>,
}

impl ClassifierConfig {
    /// Builds the network with fresh weights (parameter ids renumbered deterministically,
    /// backbone first, so a backbone record from an RM encoder loads into it).
    pub fn init(&self, device: &Device) -> Classifier {
        let mut ids = IdAssigner::default();
        let backbone = self.backbone.init(device).with_ids(&mut ids);
        let feat = self.backbone.out_dim();
        let head = LinearConfig::new(feat, self.num_classes).init(device).map(&mut ids);
        let projection = (!self.projection.is_empty()).then(|| {
            let mut dims = vec![feat];
            dims.extend_from_slice(&self.projection);
            MlpConfig { dims, norm_last: false }.init(device).with_ids(&mut ids)
        });
        Classifier { backbone, head, projection }
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), String> {
        self.backbone.validate()?;
        if self.num_classes < 2 {
            return Err(format!("a classifier needs at least 2 classes, got {}", self.num_classes));
        }
        if self.projection.contains(&0) {
            return Err("projection sizes must be positive".into());
        }
        Ok(())
    }
}

/// Backbone, head and optional projection.
#[derive(Module, Debug)]
pub struct Classifier {
    /// The backbone φ_S.
    pub backbone: ResNet,
    /// The linear classification head.
    pub head: Linear,
    /// The projection ψ into the teacher's embedding space.
    pub projection: Option<Mlp>,
}

/// What one forward pass gives.
pub struct ClassifierOutput {
    /// Backbone features `[batch, features]`.
    pub features: Tensor<2>,
    /// Class scores `[batch, classes]`.
    pub logits: Tensor<2>,
    /// ψ(features) `[batch, teacher_dim]`, when the model has a projection.
    pub projected: Option<Tensor<2>>,
}

impl Classifier {
    /// Forward pass of a batch of images.
    pub fn forward(&self, x: Tensor<4>) -> ClassifierOutput {
        let features = self.backbone.forward(x);
        let logits = self.head.forward(features.clone());
        let projected = self.projection.as_ref().map(|p| p.forward(features.clone()));
        ClassifierOutput { features, logits, projected }
    }

    /// Class scores only (evaluation).
    pub fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.backbone.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn shapes_with_and_without_projection() {
        let device = Device::flex();
        let mut cfg = ClassifierConfig {
            backbone: ResNetConfig::small(3, 4, 2, 1),
            num_classes: 10,
            projection: vec![16],
        };
        let x = Tensor::<4>::random([2, 3, 16, 16], Distribution::Normal(0.0, 1.0), &device);
        let out = cfg.init(&device).forward(x.clone());
        assert_eq!(out.features.dims(), [2, 8]);
        assert_eq!(out.logits.dims(), [2, 10]);
        assert_eq!(out.projected.unwrap().dims(), [2, 16]);
        cfg.projection.clear();
        assert!(cfg.init(&device).forward(x).projected.is_none());
        cfg.num_classes = 1;
        assert!(cfg.validate().is_err());
    }
}
