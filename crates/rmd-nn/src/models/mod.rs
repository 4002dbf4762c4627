//! Network architectures: residual encoders and the SimSiam heads.

mod ids;
mod resnet;
mod simsiam;

pub use resnet::{BasicBlock, ResNet, ResNetConfig};
pub use simsiam::{Mlp, MlpConfig, SimSiam, SimSiamConfig, negative_cosine};
