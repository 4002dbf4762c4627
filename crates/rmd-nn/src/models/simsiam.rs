//! SimSiam (Chen & He 2021): an encoder f, a projector g (MLP with batch norm) and a
//! predictor h (bottleneck MLP). For two views x1, x2: z = g(f(x)), p = h(z) and
//! L = ½·D(p1, sg(z2)) + ½·D(p2, sg(z1)) with D(p, z) = −cos(p, z), sg the stop-gradient.

use super::ids::IdAssigner;
use super::resnet::{ResNet, ResNetConfig};
use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// An MLP: each layer Linear → (BatchNorm) → ReLU, no ReLU after the last layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Sizes: input, hidden..., output.
    pub dims: Vec<usize>,
    /// Batch norm after the last layer too (projector) or not (predictor).
    pub norm_last: bool,
}

impl MlpConfig {
    /// Builds the MLP.
    pub fn init(&self, device: &Device) -> Mlp {
        let layers = self.dims.len() - 1;
        let linears = (0..layers)
            .map(|i| {
                // A linear followed by batch norm needs no bias.
                let normed = i + 1 < layers || self.norm_last;
                LinearConfig::new(self.dims[i], self.dims[i + 1]).with_bias(!normed).init(device)
            })
            .collect();
        let n_norms = if self.norm_last { layers } else { layers - 1 };
        let norms = (0..n_norms).map(|i| BatchNormConfig::new(self.dims[i + 1]).init(device)).collect();
        Mlp { linears, norms }
    }
}

/// See [`MlpConfig`].
#[derive(Module, Debug)]
pub struct Mlp {
    linears: Vec<Linear>,
    norms: Vec<BatchNorm>,
}

impl Mlp {
    /// Renumbers parameter and buffer ids deterministically.
    pub(crate) fn with_ids(self, ids: &mut IdAssigner) -> Self {
        let mut mlp = self.map(ids);
        for bn in &mut mlp.norms {
            ids.running_stats(bn);
        }
        mlp
    }

    /// `[batch, in]` → `[batch, out]`.
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        let last = self.linears.len() - 1;
        for (i, lin) in self.linears.iter().enumerate() {
            x = lin.forward(x);
            if let Some(bn) = self.norms.get(i) {
                x = bn.forward(x);
            }
            if i < last {
                x = relu(x);
            }
        }
        x
    }
}

/// Architecture of a SimSiam model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimSiamConfig {
    /// The encoder.
    pub encoder: ResNetConfig,
    /// Projector output (and hidden) dimension: 2048 in the paper.
    pub proj_dim: usize,
    /// Projector layers: 3 in the paper (2 for CIFAR in some recipes).
    pub proj_layers: usize,
    /// Predictor bottleneck: 512 in the paper.
    pub pred_hidden: usize,
}

impl SimSiamConfig {
    /// Builds the model with fresh weights.
    pub fn init(&self, device: &Device) -> SimSiam {
        let mut dims = vec![self.encoder.out_dim()];
        dims.extend(std::iter::repeat_n(self.proj_dim, self.proj_layers));
        let mut ids = IdAssigner::default();
        let encoder = self.encoder.init(device).with_ids(&mut ids);
        SimSiam {
            encoder,
            projector: MlpConfig { dims, norm_last: true }.init(device).with_ids(&mut ids),
            predictor: MlpConfig {
                dims: vec![self.proj_dim, self.pred_hidden, self.proj_dim],
                norm_last: false,
            }
            .init(device)
            .with_ids(&mut ids),
        }
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), String> {
        self.encoder.validate()?;
        if self.proj_layers == 0 || self.proj_dim == 0 || self.pred_hidden == 0 {
            return Err("projector layers and dimensions must be positive".into());
        }
        Ok(())
    }
}

/// Encoder + projector + predictor (the predictor is used by SimSiam only; SimCLR trains
/// the encoder and projector).
#[derive(Module, Debug)]
pub struct SimSiam {
    /// The encoder f, kept after training.
    pub encoder: ResNet,
    /// The projector g.
    pub projector: Mlp,
    /// The predictor h.
    pub predictor: Mlp,
}

impl SimSiam {
    /// The symmetric SimSiam loss of two views (a scalar tensor, minimum −1).
    pub fn loss(&self, x1: Tensor<4>, x2: Tensor<4>) -> Tensor<1> {
        let z1 = self.projector.forward(self.encoder.forward(x1));
        let z2 = self.projector.forward(self.encoder.forward(x2));
        let p1 = self.predictor.forward(z1.clone());
        let p2 = self.predictor.forward(z2.clone());
        symmetric_loss(p1, z1, p2, z2)
    }

    /// SimCLR's NT-Xent loss of two views on the encoder and projector, at `temperature`
    /// (see [`super::contrastive::nt_xent`]). The predictor takes no part: it keeps its
    /// initial weights.
    pub fn contrastive_loss(&self, x1: Tensor<4>, x2: Tensor<4>, temperature: f64) -> Tensor<1> {
        let z1 = self.projector.forward(self.encoder.forward(x1));
        let z2 = self.projector.forward(self.encoder.forward(x2));
        super::contrastive::nt_xent(z1, z2, temperature)
    }
}

/// ½·D(p1, sg(z2)) + ½·D(p2, sg(z1)): the targets z are detached, so gradients reach the
/// encoder and projector only through the predictions p.
pub fn symmetric_loss(p1: Tensor<2>, z1: Tensor<2>, p2: Tensor<2>, z2: Tensor<2>) -> Tensor<1> {
    (negative_cosine(p1, z2.detach()) + negative_cosine(p2, z1.detach())) * 0.5
}

/// Mean over the batch of −cos(p_i, z_i).
pub fn negative_cosine(p: Tensor<2>, z: Tensor<2>) -> Tensor<1> {
    let dot = (p.clone() * z.clone()).sum_dim(1);
    let np = p.powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-8);
    let nz = z.powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-8);
    (dot / (np * nz)).mean().neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn negative_cosine_of_equal_and_opposite_vectors() {
        let device = Device::flex();
        let a =
            Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 0.5, 0.5, 0.0], [2, 3]), &device);
        let v = negative_cosine(a.clone(), a.clone() * 3.0).into_data().try_to_vec::<f32>().unwrap()[0];
        assert!((v + 1.0).abs() < 1e-5, "{v}");
        let v = negative_cosine(a.clone(), a.neg()).into_data().try_to_vec::<f32>().unwrap()[0];
        assert!((v - 1.0).abs() < 1e-5, "{v}");
    }

    #[test]
    fn gradients_stop_at_the_targets() {
        let device = Device::flex().autodiff();
        let t = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [2, 3]), &device).require_grad();
        let p1 = t(vec![1.0, 0.5, -0.2, 0.3, 0.9, 0.1]);
        let z1 = t(vec![0.2, 1.0, 0.4, -0.5, 0.1, 0.8]);
        let p2 = t(vec![0.7, -0.3, 0.2, 0.6, 0.6, -0.4]);
        let z2 = t(vec![-0.1, 0.4, 1.0, 0.9, -0.2, 0.3]);
        let loss = symmetric_loss(p1.clone(), z1.clone(), p2.clone(), z2.clone());
        let grads = loss.backward();
        let norm = |g: Option<Tensor<2>>| {
            g.map(|g| g.powi_scalar(2).sum().into_data().try_to_vec::<f32>().unwrap()[0]).unwrap_or(0.0)
        };
        assert!(norm(p1.grad(&grads)) > 1e-6, "predictions receive gradient");
        assert!(norm(p2.grad(&grads)) > 1e-6, "predictions receive gradient");
        assert_eq!(norm(z1.grad(&grads)), 0.0, "no gradient through the target z1");
        assert_eq!(norm(z2.grad(&grads)), 0.0, "no gradient through the target z2");
        // Without the stop-gradient the targets would get one: the check above can fail.
        let both = (negative_cosine(p1, z2.clone()) + negative_cosine(p2, z1.clone())) * 0.5;
        let grads = both.backward();
        assert!(norm(z2.grad(&grads)) > 1e-6);
    }

    #[test]
    fn loss_of_identical_branches_is_minus_one() {
        // With the predictor output equal to the other view's projection the loss is −1.
        let device = Device::flex();
        let z =
            Tensor::<2>::from_data(TensorData::new(vec![0.3f32, -1.0, 2.0, 0.5, 0.5, 0.5], [2, 3]), &device);
        let v =
            symmetric_loss(z.clone(), z.clone(), z.clone(), z).into_data().try_to_vec::<f32>().unwrap()[0];
        assert!((v + 1.0).abs() < 1e-6, "{v}");
    }

    #[test]
    fn loss_is_a_finite_negative_cosine() {
        let device = Device::flex().autodiff();
        let cfg = SimSiamConfig {
            encoder: ResNetConfig::small(3, 4, 2, 1),
            proj_dim: 16,
            proj_layers: 2,
            pred_hidden: 4,
        };
        let model = cfg.init(&device);
        let x1 = Tensor::<4>::random([4, 3, 16, 16], Distribution::Normal(0.0, 1.0), &device);
        let x2 = Tensor::<4>::random([4, 3, 16, 16], Distribution::Normal(0.0, 1.0), &device);
        let v = model.loss(x1, x2).into_data().try_to_vec::<f32>().unwrap()[0];
        assert!(v.is_finite() && (-1.0..=1.0).contains(&v), "{v}");
    }
}
