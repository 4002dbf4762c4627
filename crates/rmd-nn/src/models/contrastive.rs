//! SimCLR's contrastive objective (Chen et al. 2020), NT-Xent: for a batch of B images seen
//! as two views, the 2B projections are L2-normalised, and each one must pick its other view
//! out of the 2B − 1 others (in-batch negatives) in a softmax over cosine similarities
//! divided by a temperature τ:
//! L = −1/(2B) Σ_i log( exp(s(i, pos(i))/τ) / Σ_{j≠i} exp(s(i, j)/τ) ).

use burn::tensor::activation::log_softmax;
use burn::tensor::{Tensor, TensorData};

/// Added to a row's own similarity so that it drops out of the softmax (exp underflows to 0).
const SELF_LOGIT_PENALTY: f32 = -1.0e9;

/// NT-Xent of two views' projections `z1`, `z2` (`[batch, dim]`, row i of both is the same
/// image) at temperature `temperature`: a scalar tensor, minimum 0, ln(2B − 1) for
/// uninformative projections.
pub fn nt_xent(z1: Tensor<2>, z2: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [batch, _] = z1.dims();
    let n = 2 * batch;
    let device = z1.device();
    let z = Tensor::cat(vec![z1, z2], 0);
    let norm = z.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-8);
    let z = z / norm;
    let logits = z.clone().matmul(z.transpose()).div_scalar(temperature);
    let (self_penalty, positives) = masks(batch);
    let self_penalty = Tensor::<2>::from_data(TensorData::new(self_penalty, [n, n]), &device);
    let positives = Tensor::<2>::from_data(TensorData::new(positives, [n, n]), &device);
    let log_prob = log_softmax(logits + self_penalty, 1);
    (log_prob * positives).sum().div_scalar(-(n as f64))
}

/// The additive mask that removes each row's self-similarity and the 0/1 matrix that picks
/// each row's positive (row i < B pairs with i + B and back), both `[2B, 2B]` row-major.
fn masks(batch: usize) -> (Vec<f32>, Vec<f32>) {
    let n = 2 * batch;
    let mut self_penalty = vec![0.0f32; n * n];
    let mut positives = vec![0.0f32; n * n];
    for i in 0..n {
        self_penalty[i * n + i] = SELF_LOGIT_PENALTY;
        positives[i * n + (i + batch) % n] = 1.0;
    }
    (self_penalty, positives)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn value(t: Tensor<1>) -> f64 {
        t.into_data().try_to_vec::<f32>().unwrap()[0] as f64
    }

    /// The loss written out in f64 loops, straight from the definition.
    fn reference(z1: &[Vec<f64>], z2: &[Vec<f64>], tau: f64) -> f64 {
        let z: Vec<Vec<f64>> = z1
            .iter()
            .chain(z2)
            .map(|v| {
                let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                v.iter().map(|x| x / n).collect()
            })
            .collect();
        let (b, n) = (z1.len(), 2 * z1.len());
        let sim = |i: usize, j: usize| z[i].iter().zip(&z[j]).map(|(a, b)| a * b).sum::<f64>() / tau;
        let mut total = 0.0;
        for i in 0..n {
            let denom: f64 = (0..n).filter(|&j| j != i).map(|j| sim(i, j).exp()).sum();
            total -= (sim(i, (i + b) % n).exp() / denom).ln();
        }
        total / n as f64
    }

    fn tensor(rows: &[Vec<f64>], device: &Device) -> Tensor<2> {
        let d = rows[0].len();
        let flat: Vec<f32> = rows.iter().flatten().map(|&x| x as f32).collect();
        Tensor::from_data(TensorData::new(flat, [rows.len(), d]), device)
    }

    #[test]
    fn matches_the_definition() {
        let device = Device::flex();
        let z1 = vec![vec![1.0, 0.2, -0.5], vec![0.3, -1.0, 0.8], vec![-0.7, 0.4, 0.1]];
        let z2 = vec![vec![0.9, 0.1, -0.2], vec![0.5, -0.6, 1.1], vec![0.2, 0.9, -0.3]];
        for tau in [0.1, 0.5, 1.0] {
            let got = value(nt_xent(tensor(&z1, &device), tensor(&z2, &device), tau));
            let want = reference(&z1, &z2, tau);
            assert!((got - want).abs() < 1e-4 * want.max(1.0), "tau {tau}: {got} vs {want}");
        }
    }

    #[test]
    fn uninformative_projections_give_log_of_the_negatives() {
        // All projections equal: every candidate is as likely as the positive.
        let device = Device::flex();
        let rows = vec![vec![1.0, 2.0]; 4];
        let got = value(nt_xent(tensor(&rows, &device), tensor(&rows, &device), 0.5));
        assert!((got - 7f64.ln()).abs() < 1e-4, "{got}");
    }

    #[test]
    fn aligned_views_of_distinct_images_score_lower_than_swapped_ones() {
        let device = Device::flex();
        let z1 = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let swapped = vec![vec![0.0, 1.0], vec![1.0, 0.0]];
        let aligned = value(nt_xent(tensor(&z1, &device), tensor(&z1, &device), 0.2));
        let wrong = value(nt_xent(tensor(&z1, &device), tensor(&swapped, &device), 0.2));
        assert!(aligned < 0.1 && wrong > 1.0, "aligned {aligned}, swapped {wrong}");
    }

    #[test]
    fn both_views_receive_gradient() {
        let device = Device::flex().autodiff();
        let t = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [2, 3]), &device).require_grad();
        let z1 = t(vec![1.0, 0.5, -0.2, 0.3, 0.9, 0.1]);
        let z2 = t(vec![0.2, 1.0, 0.4, -0.5, 0.1, 0.8]);
        let grads = nt_xent(z1.clone(), z2.clone(), 0.5).backward();
        for g in [z1.grad(&grads), z2.grad(&grads)] {
            let norm = g.unwrap().powi_scalar(2).sum().into_data().try_to_vec::<f32>().unwrap()[0];
            assert!(norm > 1e-6 && norm.is_finite(), "{norm}");
        }
    }
}
