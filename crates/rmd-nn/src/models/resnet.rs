//! Residual encoders for small images: the CIFAR ResNet-18 (3×3 stem, no max-pool) and
//! smaller variants with width and depth as parameters. Any input channel count and image
//! size work: the network ends in global average pooling.

use super::ids::IdAssigner;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

fn one() -> usize {
    1
}

/// Architecture of a residual encoder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResNetConfig {
    /// Input channels (3 for CIFAR, 1 for MNIST-family).
    pub in_channels: usize,
    /// Channels of the 3×3 stem convolution.
    pub stem_width: usize,
    /// Stride of the stem (1 for the CIFAR ResNets; 2 quarters the cost of every later layer).
    #[serde(default = "one")]
    pub stem_stride: usize,
    /// Channels of each stage; every stage after the first halves the resolution.
    pub widths: Vec<usize>,
    /// Basic blocks per stage.
    pub blocks: Vec<usize>,
}

impl ResNetConfig {
    /// The CIFAR ResNet-18: stem 64, stages 64/128/256/512 with 2 blocks each (512-d output).
    pub fn resnet18(in_channels: usize) -> Self {
        ResNetConfig {
            in_channels,
            stem_width: 64,
            stem_stride: 1,
            widths: vec![64, 128, 256, 512],
            blocks: vec![2, 2, 2, 2],
        }
    }

    /// A small residual network: `stages` stages of widths `width·2^i`, `blocks` blocks each.
    pub fn small(in_channels: usize, width: usize, stages: usize, blocks: usize) -> Self {
        ResNetConfig {
            in_channels,
            stem_width: width,
            stem_stride: 1,
            widths: (0..stages).map(|i| width << i).collect(),
            blocks: vec![blocks; stages],
        }
    }

    /// How the stages name the network in their messages: `ResNet-18`, else its stage
    /// widths and blocks, with the stem stride when it is not 1.
    pub fn describe(&self) -> String {
        let base = if *self == ResNetConfig::resnet18(self.in_channels) {
            "ResNet-18".to_string()
        } else {
            format!("ResNet widths {:?} blocks {:?}", self.widths, self.blocks)
        };
        if self.stem_stride == 1 { base } else { format!("{base}, stem stride {}", self.stem_stride) }
    }

    /// Dimension of the pooled output features.
    pub fn out_dim(&self) -> usize {
        *self.widths.last().expect("at least one stage")
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), String> {
        if self.widths.is_empty() || self.widths.len() != self.blocks.len() {
            return Err("widths and blocks must be non-empty and of equal length".into());
        }
        if self.in_channels == 0
            || self.stem_width == 0
            || self.widths.contains(&0)
            || self.blocks.contains(&0)
        {
            return Err("channels, widths and block counts must be positive".into());
        }
        Ok(())
    }

    /// Parameters as burn counts them (`num_params`: weights, and per batch-norm channel its
    /// scale, shift and two running statistics), as f64 so absurd widths do not overflow.
    pub fn parameter_count(&self) -> f64 {
        let (mut params, mut c) =
            (9.0 * self.in_channels as f64 * self.stem_width as f64, self.stem_width as f64);
        params += 4.0 * c;
        for (stage, (&w, &n)) in self.widths.iter().zip(&self.blocks).enumerate() {
            let w = w as f64;
            for b in 0..n {
                params += 9.0 * c * w + 9.0 * w * w + 8.0 * w;
                if b == 0 && (stage > 0 || c != w) {
                    params += c * w + 4.0 * w;
                }
                c = w;
            }
        }
        params
    }

    /// A rough upper estimate of the bytes one training step of `batch` images of
    /// `height × width` needs (f32): every layer's output kept for the backward pass with
    /// its batch-norm and activation copies and gradient (×5), plus weights, gradients and
    /// optimiser state (×4). Used to refuse settings that cannot fit before allocating.
    pub fn training_bytes(&self, batch: usize, height: usize, width: usize) -> f64 {
        let (mut h, mut w) = (
            (height / self.stem_stride.max(1)).max(1) as f64,
            (width / self.stem_stride.max(1)).max(1) as f64,
        );
        let mut values = self.stem_width as f64 * h * w;
        for (stage, (&ch, &n)) in self.widths.iter().zip(&self.blocks).enumerate() {
            if stage > 0 {
                h = (h / 2.0).ceil();
                w = (w / 2.0).ceil();
            }
            values += 3.0 * n as f64 * ch as f64 * h * w;
        }
        4.0 * (5.0 * batch as f64 * values + 4.0 * self.parameter_count())
    }

    /// Builds the network with fresh weights on `device`.
    pub fn init(&self, device: &Device) -> ResNet {
        let stem = conv3x3(self.in_channels, self.stem_width, self.stem_stride, device);
        let stem_bn = BatchNormConfig::new(self.stem_width).init(device);
        let mut blocks = Vec::new();
        let mut channels = self.stem_width;
        for (stage, (&width, &count)) in self.widths.iter().zip(&self.blocks).enumerate() {
            for b in 0..count {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(channels, width, stride, device));
                channels = width;
            }
        }
        ResNet { stem, stem_bn, blocks }.with_ids(&mut IdAssigner::default())
    }
}

fn conv3x3(input: usize, output: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// Projection shortcut of a block that changes resolution or width.
#[derive(Module, Debug)]
pub struct Shortcut {
    conv: Conv2d,
    bn: BatchNorm,
}

/// Two 3×3 convolutions with batch norm and a residual connection.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    shortcut: Option<Shortcut>,
}

impl BasicBlock {
    fn new(input: usize, output: usize, stride: usize, device: &Device) -> Self {
        let shortcut = (stride != 1 || input != output).then(|| Shortcut {
            conv: Conv2dConfig::new([input, output], [1, 1])
                .with_stride([stride, stride])
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(output).init(device),
        });
        BasicBlock {
            conv1: conv3x3(input, output, stride, device),
            bn1: BatchNormConfig::new(output).init(device),
            conv2: conv3x3(output, output, 1, device),
            bn2: BatchNormConfig::new(output).init(device),
            shortcut,
        }
    }

    /// Forward pass.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = relu(self.bn1.forward(self.conv1.forward(x.clone())));
        let out = self.bn2.forward(self.conv2.forward(out));
        let skip = match &self.shortcut {
            Some(s) => s.bn.forward(s.conv.forward(x)),
            None => x,
        };
        relu(out + skip)
    }
}

/// A residual encoder: stem, basic blocks, global average pooling.
#[derive(Module, Debug)]
pub struct ResNet {
    stem: Conv2d,
    stem_bn: BatchNorm,
    blocks: Vec<BasicBlock>,
}

impl ResNet {
    /// Renumbers parameter and buffer ids deterministically.
    pub(crate) fn with_ids(self, ids: &mut IdAssigner) -> Self {
        let mut net = self.map(ids);
        ids.running_stats(&mut net.stem_bn);
        for b in &mut net.blocks {
            ids.running_stats(&mut b.bn1);
            ids.running_stats(&mut b.bn2);
            if let Some(s) = &mut b.shortcut {
                ids.running_stats(&mut s.bn);
            }
        }
        net
    }

    /// Images `[batch, channels, height, width]` → features `[batch, out_dim]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = relu(self.stem_bn.forward(self.stem.forward(x)));
        for block in &self.blocks {
            x = block.forward(x);
        }
        let [b, c, _, _] = x.dims();
        x.mean_dim(3).mean_dim(2).reshape([b, c])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn the_parameter_count_is_the_networks() {
        let device = Device::flex();
        for cfg in [
            ResNetConfig::small(3, 8, 3, 1),
            ResNetConfig { stem_stride: 2, ..ResNetConfig::small(3, 32, 3, 1) },
            ResNetConfig::small(1, 4, 2, 2),
            ResNetConfig { stem_width: 5, ..ResNetConfig::small(3, 8, 2, 2) },
        ] {
            assert_eq!(cfg.parameter_count(), cfg.init(&device).num_params() as f64, "{cfg:?}");
        }
        let huge = ResNetConfig::small(3, 1 << 20, 4, 2);
        assert!(huge.training_bytes(128, 32, 32) > 1e15, "absurd widths give an absurd estimate");
        let cpu = ResNetConfig { stem_stride: 2, ..ResNetConfig::small(3, 32, 3, 1) };
        assert!(cpu.training_bytes(128, 32, 32) < 1e9, "the cpu profile fits easily");
    }

    #[test]
    fn output_shapes_for_cifar_and_mnist_inputs() {
        let device = Device::flex();
        let cfg = ResNetConfig::small(3, 8, 3, 1);
        assert_eq!(cfg.out_dim(), 32);
        let net = cfg.init(&device);
        let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
        assert_eq!(net.forward(x).dims(), [2, 32]);
        let net = ResNetConfig::small(1, 4, 2, 2).init(&device);
        let x = Tensor::<4>::random([3, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
        assert_eq!(net.forward(x).dims(), [3, 8]);
        assert_eq!(ResNetConfig::resnet18(3).out_dim(), 512);
        assert!(
            ResNetConfig { in_channels: 3, stem_width: 8, stem_stride: 1, widths: vec![8], blocks: vec![] }
                .validate()
                .is_err()
        );
    }
}
