//! The CPU backend's training-mode batch norm (vendor/burn-flex, `batch_norm_nchw`), checked
//! through burn's public API with autodiff: output, batch mean and variance, and the
//! gradients of `sum(batch_norm(x) · r)` for the input, γ and β, against f64 formulas, on a
//! convolution activation `[N, C, H, W]` and a projector activation `[N, C]`.

mod common;

use burn::tensor::module::batch_norm_train;
use burn::tensor::{Device, Tensor, TensorData};

const EPSILON: f64 = 1e-5;

/// Reference results: (output, mean, variance, input gradient, γ gradient, β gradient).
struct Expected {
    output: Vec<f64>,
    mean: Vec<f64>,
    variance: Vec<f64>,
    dx: Vec<f64>,
    dgamma: Vec<f64>,
    dbeta: Vec<f64>,
}

fn reference(
    x: &[f32],
    r: &[f32],
    gamma: &[f32],
    beta: &[f32],
    n: usize,
    c: usize,
    plane: usize,
) -> Expected {
    let index = |b: usize, ch: usize, s: usize| (b * c + ch) * plane + s;
    let count = (n * plane) as f64;
    let mut e = Expected {
        output: vec![0.0; x.len()],
        mean: vec![0.0; c],
        variance: vec![0.0; c],
        dx: vec![0.0; x.len()],
        dgamma: vec![0.0; c],
        dbeta: vec![0.0; c],
    };
    for ch in 0..c {
        let cells: Vec<usize> = (0..n).flat_map(|b| (0..plane).map(move |s| index(b, ch, s))).collect();
        let mean = cells.iter().map(|&i| x[i] as f64).sum::<f64>() / count;
        let variance = cells.iter().map(|&i| (x[i] as f64 - mean).powi(2)).sum::<f64>() / count;
        let inv_std = 1.0 / (variance + EPSILON).sqrt();
        let xhat = |i: usize| (x[i] as f64 - mean) * inv_std;
        let dbeta: f64 = cells.iter().map(|&i| r[i] as f64).sum();
        let dgamma: f64 = cells.iter().map(|&i| r[i] as f64 * xhat(i)).sum();
        for &i in &cells {
            e.output[i] = xhat(i) * gamma[ch] as f64 + beta[ch] as f64;
            e.dx[i] = gamma[ch] as f64 * inv_std * (r[i] as f64 - dbeta / count - xhat(i) * dgamma / count);
        }
        (e.mean[ch], e.variance[ch], e.dgamma[ch], e.dbeta[ch]) = (mean, variance, dgamma, dbeta);
    }
    e
}

fn assert_close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g as f64 - w).abs() <= 2e-4 * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
    }
}

fn check<const D: usize>(shape: [usize; D]) {
    let (n, c) = (shape[0], shape[1]);
    let plane: usize = shape[2..].iter().product();
    let len = n * c * plane;
    // An offset mean and a non-unit spread, so centring and scaling both matter.
    let (x, r) = (common::values(len, 1, 3.0, 2.0), common::values(len, 2, -1.0, 2.0));
    let (gamma, beta) = (common::values(c, 3, 0.5, 2.0), common::values(c, 4, -1.0, 2.0));
    let device = Device::flex().autodiff();
    let tensor = |v: &[f32]| Tensor::<D>::from_data(TensorData::new(v.to_vec(), shape), &device);
    let channel =
        |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [c]), &device).require_grad();
    let (xt, gt, bt) = (tensor(&x).require_grad(), channel(&gamma), channel(&beta));
    let result = batch_norm_train(xt.clone(), gt.clone(), bt.clone(), EPSILON);
    let grads = (result.output.clone() * tensor(&r)).sum().backward();
    let vec = |data: TensorData| data.try_to_vec::<f32>().expect("f32 tensor");
    let e = reference(&x, &r, &gamma, &beta, n, c, plane);
    let what = format!("{shape:?}");
    assert_close(&vec(result.output.into_data()), &e.output, &format!("{what} output"));
    assert_close(&vec(result.mean.into_data()), &e.mean, &format!("{what} mean"));
    assert_close(&vec(result.variance.into_data()), &e.variance, &format!("{what} variance"));
    assert_close(&vec(xt.grad(&grads).expect("input gradient").into_data()), &e.dx, &format!("{what} dx"));
    assert_close(&vec(gt.grad(&grads).expect("γ gradient").into_data()), &e.dgamma, &format!("{what} dγ"));
    assert_close(&vec(bt.grad(&grads).expect("β gradient").into_data()), &e.dbeta, &format!("{what} dβ"));
}

#[test]
fn convolution_activations_match_the_formulas() {
    check([6, 5, 4, 3]);
}

#[test]
fn projector_activations_match_the_formulas() {
    check([16, 7]);
}
