//! Network architectures: residual encoders, the SimSiam heads, SimCLR's contrastive loss
//! and the classifier.

mod classifier;
mod contrastive;
pub mod export;
pub(crate) mod ids;
mod resnet;
mod simsiam;

pub use classifier::{Classifier, ClassifierConfig, ClassifierOutput};
pub use contrastive::nt_xent;
pub use resnet::{BasicBlock, ResNet, ResNetConfig};
pub use simsiam::{Mlp, MlpConfig, SimSiam, SimSiamConfig, negative_cosine};
