//! Network architectures: residual encoders, the SimSiam heads and the classifier.

mod classifier;
mod ids;
mod resnet;
mod simsiam;

pub use classifier::{Classifier, ClassifierConfig, ClassifierOutput};
pub use resnet::{BasicBlock, ResNet, ResNetConfig};
pub use simsiam::{Mlp, MlpConfig, SimSiam, SimSiamConfig, negative_cosine};
