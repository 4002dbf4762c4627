//! A teacher of known quality, for diagnosis: embeddings built from the dataset's *clean*
//! labels, e_i = normalise(μ_{y_i} + σ·ε_i), with one random unit prototype μ_c per class and
//! per-sample Gaussian noise ε_i ~ N(0, I/d). σ is calibrated (bisection) so that the exact
//! top-K neighbour graph's agreement with the clean labels is the requested purity, so the
//! graph (L_graph) and the embeddings (L_node, L_edge) carry the same quality. Artifacts built
//! this way are marked as such: a diagnostic, never a result.

use super::diagnostics::label_agreement;
use super::search::{TopK, exact_top_k};
use burn::tensor::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

/// What determines a synthetic teacher (recorded in the relations artifact's params).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyntheticTeacher {
    /// Requested top-K neighbour agreement with the clean labels, in (1/C, 1].
    pub purity: f64,
    /// Embedding dimension.
    pub dim: usize,
    /// Seed of the prototypes and the per-sample noise.
    pub seed: u64,
    /// Marker kept in the params: the embeddings come from the clean labels.
    pub built_from: &'static str,
}

impl SyntheticTeacher {
    /// A synthetic teacher of the given purity.
    pub fn new(purity: f64, dim: usize, seed: u64) -> Self {
        SyntheticTeacher { purity, dim, seed, built_from: "clean labels (diagnostic teacher)" }
    }

    /// Checks the request against the number of classes.
    pub fn validate(&self, classes: usize) -> Result<(), String> {
        let chance = 1.0 / classes as f64;
        if !(self.purity.is_finite() && self.purity > chance && self.purity <= 1.0) {
            return Err(format!(
                "--synthetic-purity {} must be above chance (1/{classes} = {chance:.3}) and at most 1",
                self.purity
            ));
        }
        if self.dim < 2 {
            return Err(format!("--synthetic-dim {} must be at least 2", self.dim));
        }
        Ok(())
    }
}

/// The calibrated embeddings of a synthetic teacher.
pub struct SyntheticEmbeddings {
    /// Training embeddings, L2-normalised, `[n, dim]`.
    pub train: Vec<f32>,
    /// Test embeddings from the test labels (same prototypes and σ), `[n_test, dim]`.
    pub test: Vec<f32>,
    /// The noise scale σ found.
    pub sigma: f64,
    /// The top-K graph of `train`.
    pub graph: TopK,
    /// Its agreement with the clean labels (the purity reached).
    pub agreement: f64,
    /// Bisection steps taken.
    pub steps: usize,
}

/// Builds and calibrates the embeddings: bisection on log σ until the graph's agreement is
/// within `tolerance` of the requested purity (or after `max_steps`, keeping the closest).
#[allow(clippy::too_many_arguments)]
pub fn synthesize(
    teacher: &SyntheticTeacher,
    train_labels: &[u16],
    test_labels: &[u16],
    classes: usize,
    k: usize,
    device: &Device,
    tolerance: f64,
    max_steps: usize,
    mut on_step: impl FnMut(usize, f64, f64),
) -> SyntheticEmbeddings {
    let d = teacher.dim;
    let mut rng = ChaCha8Rng::seed_from_u64(teacher.seed);
    let gauss = |count: usize, rng: &mut ChaCha8Rng| -> Vec<f32> {
        (0..count)
            .map(|_| {
                let z: f64 = StandardNormal.sample(rng);
                z as f32
            })
            .collect()
    };
    let mut prototypes = gauss(classes * d, &mut rng);
    prototypes.chunks_mut(d).for_each(normalise);
    let scale = 1.0 / (d as f32).sqrt();
    let train_noise: Vec<f32> = gauss(train_labels.len() * d, &mut rng).iter().map(|z| z * scale).collect();
    let test_noise: Vec<f32> = gauss(test_labels.len() * d, &mut rng).iter().map(|z| z * scale).collect();
    let build = |labels: &[u16], noise: &[f32], sigma: f32| -> Vec<f32> {
        let mut out = Vec::with_capacity(labels.len() * d);
        for (i, &y) in labels.iter().enumerate() {
            let mu = &prototypes[y as usize * d..(y as usize + 1) * d];
            let start = out.len();
            out.extend(mu.iter().zip(&noise[i * d..(i + 1) * d]).map(|(m, e)| m + sigma * e));
            normalise(&mut out[start..]);
        }
        out
    };
    let n = train_labels.len();
    let evaluate = |sigma: f64| {
        let emb = build(train_labels, &train_noise, sigma as f32);
        let graph = exact_top_k(&emb, n, d, k, 1024, device, |_| {});
        let agreement = label_agreement(&graph.dst, k, train_labels);
        (emb, graph, agreement)
    };
    // Agreement falls from 1 (σ → 0) to chance (σ → ∞): bisection on log σ.
    let (mut lo, mut hi) = (1e-3f64.ln(), 1e2f64.ln());
    let mut best: Option<(f64, Vec<f32>, TopK, f64)> = None;
    let mut steps = 0;
    while steps < max_steps {
        steps += 1;
        let sigma = ((lo + hi) / 2.0).exp();
        let (emb, graph, agreement) = evaluate(sigma);
        on_step(steps, sigma, agreement);
        let closer =
            best.as_ref().is_none_or(|b| (agreement - teacher.purity).abs() < (b.3 - teacher.purity).abs());
        if agreement > teacher.purity {
            lo = sigma.ln();
        } else {
            hi = sigma.ln();
        }
        if closer {
            best = Some((sigma, emb, graph, agreement));
        }
        if best.as_ref().is_some_and(|b| (b.3 - teacher.purity).abs() <= tolerance) {
            break;
        }
    }
    let (sigma, train, graph, agreement) = best.expect("at least one step");
    let test = build(test_labels, &test_noise, sigma as f32);
    SyntheticEmbeddings { train, test, sigma, graph, agreement, steps }
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_reaches_the_requested_purity_and_is_deterministic() {
        let labels: Vec<u16> = (0..2000u32).map(|i| (i % 10) as u16).collect();
        let test: Vec<u16> = (0..200u32).map(|i| (i % 10) as u16).collect();
        let device = Device::flex();
        for purity in [0.3, 0.7, 1.0] {
            let t = SyntheticTeacher::new(purity, 16, 5);
            let a = synthesize(&t, &labels, &test, 10, 10, &device, 0.01, 20, |_, _, _| {});
            assert!((a.agreement - purity).abs() <= 0.01, "purity {purity}: reached {}", a.agreement);
            assert_eq!(a.graph.dst.len(), 2000 * 10);
            let b = synthesize(&t, &labels, &test, 10, 10, &device, 0.01, 20, |_, _, _| {});
            assert_eq!(a.train, b.train, "same seed, same embeddings");
            assert_eq!(a.test.len(), 200 * 16);
        }
        assert!(SyntheticTeacher::new(0.05, 16, 1).validate(10).is_err(), "below chance");
        assert!(SyntheticTeacher::new(1.2, 16, 1).validate(10).is_err());
        assert!(SyntheticTeacher::new(0.5, 16, 1).validate(10).is_ok());
    }
}
