//! The RGRL regulariser: relation distillation from the RM teacher into the student.
//!
//! * L_node = mean_i (1 − cos(ψ(h_i), e_i)), e_i the teacher embedding of sample i.
//! * L_edge = mean_i KL(A_i ‖ S_i) over the batch, A_i = softmax_{j≠i}(e_i·e_j / τ_t) and
//!   S_i = softmax_{j≠i}(ĥ_i·ĥ_j / τ_s), ĥ the L2-normalised backbone features.
//! * L_graph = mean_i CE(w_i, q_i): w_i = softmax(sim_ik / τ_g) over the teacher's top-K
//!   neighbours of i among the images being trained on ([`TrainingNeighbours`]) that are
//!   already in the memory bank; q_i the student's softmax(ĥ_i·m / τ_s) over those
//!   neighbours' memory-bank features m, with the other batch samples (detached) as
//!   negatives. Absent neighbour slots are masked out of the softmax, and a batch sample that
//!   is one of i's neighbours is not also a negative. The bank holds every sample's last ĥ
//!   (detached), written after each step.
//!
//! Each term has its own weight; weight 0 switches it off. With `confidence`, each sample's
//! terms are also weighted by how consistent the noisy labels of its teacher neighbourhood
//! are ([`TrainingNeighbours::confidence`]), so a teacher whose neighbourhoods are mixed
//! pulls less.
//!
//! With `neighbour_targets` α > 0, the base loss's target of each sample mixes in the label
//! evidence of its teacher neighbourhood: (1 − α)·target(ỹ_i) + α·v_i, v_i the
//! similarity-weighted vote of the noisy labels of its training neighbours
//! ([`TrainingNeighbours::label_votes`], temperature τ_g), the evidence `rmd label-issues`
//! scores labels with. It uses the teacher where the relation terms do not: to correct
//! labels rather than to shape features.
//!
//! `weight_schedule` scales the three relation weights over the run: constant (the method as
//! published) or a cosine decay from the full weight at the first step to 0 at the last, so
//! the teacher shapes the features early and the base loss alone finishes training.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Logit added on the diagonal to exclude j = i from the batch softmaxes.
const SELF_MASK: f32 = -1.0e4;

/// Parameters of the regulariser (recorded in the artifact params).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RgrlParams {
    /// λ_node (0: off).
    pub node_weight: f64,
    /// λ_edge (0: off).
    pub edge_weight: f64,
    /// λ_graph (0: off).
    pub graph_weight: f64,
    /// Teacher temperature τ_t of L_edge.
    pub tau_teacher: f64,
    /// Student temperature τ_s of L_edge and L_graph.
    pub tau_student: f64,
    /// Teacher neighbours used by L_graph (at most the graph's K).
    pub graph_k: usize,
    /// Temperature τ_g of the teacher's neighbour weights in L_graph.
    pub graph_tau: f64,
    /// Hidden width of the projection ψ (0: a single linear layer).
    pub projection_hidden: usize,
    /// Weight each sample's relation terms by the consistency of its teacher neighbourhood's
    /// noisy labels (recorded only when on, so keys of runs without it are unchanged).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confidence: bool,
    /// Share α ∈ [0, 1] of the base loss's target taken from the teacher-neighbour vote of
    /// the noisy labels (0: off; recorded only when on, so keys of runs without it are
    /// unchanged).
    #[serde(default, skip_serializing_if = "super::params::is_zero")]
    pub neighbour_targets: f64,
    /// How λ_node, λ_edge and λ_graph change over the run (recorded only when not constant,
    /// so keys of runs without it are unchanged).
    #[serde(default, skip_serializing_if = "RelationWeightSchedule::is_constant")]
    pub weight_schedule: RelationWeightSchedule,
}

/// The factor the relation-term weights are multiplied by at each training step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RelationWeightSchedule {
    /// The full weight at every step.
    #[default]
    Constant,
    /// 0.5·(1 + cos(π·step / steps)): the full weight at the first step, 0 after the last.
    CosineDecay,
}

impl RelationWeightSchedule {
    /// Whether this is the constant schedule (the default).
    pub fn is_constant(&self) -> bool {
        *self == RelationWeightSchedule::Constant
    }

    /// The factor at 0-based `step` of a run of `steps` steps.
    pub fn factor(self, step: usize, steps: usize) -> f64 {
        match self {
            RelationWeightSchedule::Constant => 1.0,
            RelationWeightSchedule::CosineDecay => {
                let t = (step as f64 / steps.max(1) as f64).min(1.0);
                0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

impl RgrlParams {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        let weights = [self.node_weight, self.edge_weight, self.graph_weight];
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err("RGRL weights must be finite and ≥ 0".into());
        }
        if !(0.0..=1.0).contains(&self.neighbour_targets) {
            return Err(format!("neighbour targets α must be in [0, 1], got {}", self.neighbour_targets));
        }
        if weights.iter().all(|w| *w == 0.0) && self.neighbour_targets == 0.0 {
            return Err("every RGRL term is off (node, edge and graph weights and neighbour targets are 0): drop --relations to train the plain baseline".into());
        }
        if !(self.tau_teacher > 0.0 && self.tau_student > 0.0 && self.graph_tau > 0.0) {
            return Err("RGRL temperatures must be > 0".into());
        }
        if self.graph_weight > 0.0 && self.graph_k == 0 {
            return Err("L_graph needs graph_k ≥ 1".into());
        }
        Ok(())
    }

    /// Short description of the active terms, e.g. `node 0.3 + edge 0.3`.
    pub fn describe(&self) -> String {
        let terms: Vec<String> = [
            ("node", self.node_weight),
            ("edge", self.edge_weight),
            ("graph", self.graph_weight),
            ("neighbour targets", self.neighbour_targets),
        ]
        .iter()
        .filter(|(_, w)| *w > 0.0)
        .map(|(n, w)| format!("{n} {w}"))
        .collect();
        let mut terms = terms.join(" + ");
        if self.confidence {
            terms.push_str(", confidence-weighted");
        }
        if self.weight_schedule == RelationWeightSchedule::CosineDecay {
            terms.push_str(", weights decayed (cosine)");
        }
        terms
    }
}

/// Rows L2-normalised.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    x.clone() / x.powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12)
}

/// L_node: mean (1 − cos) between the projected student features and teacher embeddings.
pub fn node_loss(projected: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    node_loss_rows(projected, teacher).mean()
}

/// L_node per sample, `[b, 1]`.
pub fn node_loss_rows(projected: Tensor<2>, teacher: Tensor<2>) -> Tensor<2> {
    let cos = (l2_normalize(projected) * l2_normalize(teacher)).sum_dim(1);
    cos.neg() + 1.0
}

fn self_mask(b: usize, device: &Device) -> Tensor<2> {
    let mut m = vec![0f32; b * b];
    for i in 0..b {
        m[i * b + i] = SELF_MASK;
    }
    Tensor::<2>::from_data(TensorData::new(m, [b, b]), device)
}

/// L_edge: batch relation KL(A ‖ S). `features` are the student's backbone features,
/// `teacher` the teacher embeddings of the same samples (any scale; normalised here).
pub fn edge_loss(features: Tensor<2>, teacher: Tensor<2>, tau_teacher: f64, tau_student: f64) -> Tensor<1> {
    edge_loss_rows(features, teacher, tau_teacher, tau_student).mean()
}

/// L_edge per sample (row i's KL), `[b, 1]`.
pub fn edge_loss_rows(
    features: Tensor<2>,
    teacher: Tensor<2>,
    tau_teacher: f64,
    tau_student: f64,
) -> Tensor<2> {
    let [b, _] = features.dims();
    let device = features.device();
    let mask = self_mask(b, &device);
    let h = l2_normalize(features);
    let e = l2_normalize(teacher);
    let log_s = log_softmax(h.clone().matmul(h.transpose()) / tau_student as f32 + mask.clone(), 1);
    let log_a = log_softmax(e.clone().matmul(e.transpose()) / tau_teacher as f32 + mask, 1).detach();
    (log_a.clone().exp() * (log_a - log_s)).sum_dim(1)
}

/// The per-sample memory bank of detached, normalised student features.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryBank {
    /// `[n, dim]` row-major.
    pub features: Vec<f32>,
    /// Feature dimension.
    pub dim: usize,
    /// Whether each row has been written.
    pub filled: Vec<bool>,
}

impl MemoryBank {
    /// An empty bank of `n` rows.
    pub fn new(n: usize, dim: usize) -> Self {
        MemoryBank { features: vec![0.0; n * dim], dim, filled: vec![false; n] }
    }

    /// Writes the normalised features (`[b, dim]`) of `indices`.
    pub fn write(&mut self, indices: &[u32], normalized: &[f32]) {
        let d = self.dim;
        for (r, &i) in indices.iter().enumerate() {
            self.features[i as usize * d..(i as usize + 1) * d]
                .copy_from_slice(&normalized[r * d..(r + 1) * d]);
            self.filled[i as usize] = true;
        }
    }

    /// The bank as one flat vector with the filled flags as 0/1 appended (for checkpoints).
    pub fn to_blob(&self) -> Vec<f32> {
        let mut v = self.features.clone();
        v.extend(self.filled.iter().map(|&f| f as u8 as f32));
        v
    }

    /// Inverse of [`MemoryBank::to_blob`].
    pub fn from_blob(blob: Vec<f32>, n: usize, dim: usize) -> Self {
        let filled = blob[n * dim..].iter().map(|&f| f != 0.0).collect();
        let mut features = blob;
        features.truncate(n * dim);
        MemoryBank { features, dim, filled }
    }
}

/// Each training image's teacher neighbours among the training images only: when the
/// student trains on a subset, the relations artifact's graph (over every image) would leave
/// most neighbour slots pointing outside it, so the neighbours are searched again within the
/// subset, in the teacher's embeddings.
#[derive(Debug, Clone)]
pub struct TrainingNeighbours {
    /// Neighbours per image.
    pub k: usize,
    /// Row of each dataset index (`u32::MAX` for images outside the training set).
    row_of: Vec<u32>,
    /// `[rows, k]` neighbour dataset indices, most similar first.
    dst: Vec<u32>,
    /// `[rows, k]` teacher similarities.
    sim: Vec<f32>,
}

impl TrainingNeighbours {
    /// Exact top-`k` neighbours of each of `subset` (sorted dataset indices) among `subset`,
    /// by cosine similarity of the teacher `embeddings` (`[n, dim]`, L2-normalised).
    pub fn search(
        embeddings: &[f32],
        n: usize,
        dim: usize,
        subset: &[u32],
        k: usize,
        device: &Device,
    ) -> Self {
        let mut row_of = vec![u32::MAX; n];
        let mut emb = Vec::with_capacity(subset.len() * dim);
        for (r, &i) in subset.iter().enumerate() {
            row_of[i as usize] = r as u32;
            emb.extend_from_slice(&embeddings[i as usize * dim..(i as usize + 1) * dim]);
        }
        let k = k.min(subset.len().saturating_sub(1));
        let top = crate::relations::exact_top_k(&emb, subset.len(), dim, k, 1024, device, |_| {});
        let dst = top.dst.iter().map(|&r| subset[r as usize]).collect();
        TrainingNeighbours { k, row_of, dst, sim: top.sim }
    }

    /// The graph's own neighbour lists, when the student trains on every image it covers.
    pub fn from_graph(n: usize, k: usize, dst: Vec<u32>, sim: Vec<f32>) -> Self {
        TrainingNeighbours { k, row_of: (0..n as u32).collect(), dst, sim }
    }

    /// Share of the neighbour slots of `subset` whose `labels` agree with the image's own
    /// (with clean labels: the teacher's purity on the training images, a diagnostic).
    pub fn label_agreement(&self, subset: &[u32], labels: &[u16]) -> f64 {
        let mut same = 0usize;
        for &i in subset {
            same +=
                self.of(i as usize).0.iter().filter(|&&j| labels[j as usize] == labels[i as usize]).count();
        }
        same as f64 / (subset.len() * self.k).max(1) as f64
    }

    /// Confidence in the teacher around training image `i`: the share of its neighbours that
    /// carry their neighbourhood's most common noisy label, rescaled so that a share of
    /// 1/C (every label different, as good as chance) gives 0 and a share of 1 gives 1.
    pub fn confidence(&self, i: usize, noisy: &[u16], classes: usize) -> f32 {
        let (dst, _) = self.of(i);
        if dst.is_empty() || classes < 2 {
            return 0.0;
        }
        let mut counts = vec![0usize; classes];
        for &j in dst {
            counts[noisy[j as usize] as usize] += 1;
        }
        let share = *counts.iter().max().expect("classes ≥ 2") as f32 / dst.len() as f32;
        let chance = 1.0 / classes as f32;
        ((share - chance) / (1.0 - chance)).clamp(0.0, 1.0)
    }

    /// The similarity-weighted vote of each training image's neighbours' `noisy` labels
    /// (temperature `tau`), `[n, classes]` by dataset index (zero rows for images outside the
    /// training set).
    pub fn label_votes(&self, noisy: &[u16], classes: usize, tau: f64) -> Vec<f32> {
        let rows = crate::relations::neighbour_votes(&self.dst, &self.sim, self.k, noisy, classes, tau);
        let mut out = vec![0f32; self.row_of.len() * classes];
        for (i, &r) in self.row_of.iter().enumerate() {
            if r != u32::MAX {
                let (r, i) = (r as usize, i * classes);
                for (o, v) in out[i..i + classes].iter_mut().zip(&rows[r * classes..(r + 1) * classes]) {
                    *o = *v as f32;
                }
            }
        }
        out
    }

    /// Neighbours of dataset index `i` (a training image) and their similarities.
    pub fn of(&self, i: usize) -> (&[u32], &[f32]) {
        let r = self.row_of[i] as usize;
        (&self.dst[r * self.k..(r + 1) * self.k], &self.sim[r * self.k..(r + 1) * self.k])
    }
}

/// The L_graph targets of one batch: neighbour features from the bank and teacher weights.
pub struct GraphBatch {
    /// `[b, k, dim]` bank features of the neighbours (zero rows where absent).
    pub neighbours: Vec<f32>,
    /// `[b, k]` teacher weights (rows sum to 1, or to 0 for a sample without usable neighbours).
    pub weights: Vec<f32>,
    /// `[b, k]` additive logit mask: 0 for a neighbour slot in use, a large negative value
    /// for an absent one (so it takes no share of the softmax).
    pub slot_mask: Vec<f32>,
    /// `[b, b]` additive logit mask of the batch negatives: the sample itself and batch
    /// samples that are among its neighbours (already positives through the bank) are out.
    pub batch_mask: Vec<f32>,
    /// Samples with at least one usable neighbour.
    pub rows_used: usize,
}

/// Collects each batch sample's usable teacher neighbours: already in the bank, the first
/// `k` of them by rank.
pub fn graph_batch(
    indices: &[u32],
    neighbours: &TrainingNeighbours,
    bank: &MemoryBank,
    k: usize,
    tau: f64,
) -> GraphBatch {
    let d = bank.dim;
    let b = indices.len();
    let mut feats = vec![0f32; b * k * d];
    let mut weights = vec![0f32; b * k];
    let mut slot_mask = vec![SELF_MASK; b * k];
    let mut batch_mask = vec![0f32; b * b];
    let mut rows_used = 0;
    for (r, &i) in indices.iter().enumerate() {
        batch_mask[r * b + r] = SELF_MASK;
        let (dst, sim) = neighbours.of(i as usize);
        let usable: Vec<(u32, f32)> = dst
            .iter()
            .zip(sim)
            .filter(|(j, _)| bank.filled[**j as usize])
            .map(|(&j, &s)| (j, s))
            .take(k)
            .collect();
        if usable.is_empty() {
            continue;
        }
        rows_used += 1;
        let max = usable.iter().map(|(_, s)| *s).fold(f32::MIN, f32::max);
        let ex: Vec<f32> = usable.iter().map(|(_, s)| ((s - max) / tau as f32).exp()).collect();
        let total: f32 = ex.iter().sum();
        for (slot, ((j, _), w)) in usable.iter().zip(&ex).enumerate() {
            weights[r * k + slot] = w / total;
            slot_mask[r * k + slot] = 0.0;
            let src = &bank.features[*j as usize * d..(*j as usize + 1) * d];
            feats[(r * k + slot) * d..(r * k + slot + 1) * d].copy_from_slice(src);
            for (c, _) in indices.iter().enumerate().filter(|(_, x)| **x == *j) {
                batch_mask[r * b + c] = SELF_MASK;
            }
        }
    }
    GraphBatch { neighbours: feats, weights, slot_mask, batch_mask, rows_used }
}

/// L_graph of a batch (see the module docs); `None` when no sample has a usable neighbour.
pub fn graph_loss(features: Tensor<2>, batch: &GraphBatch, k: usize, tau_student: f64) -> Option<Tensor<1>> {
    graph_terms(features, batch, k, tau_student).map(|t| t.sum().neg() / batch.rows_used as f32)
}

/// L_graph per sample, `[b, 1]` (0 for samples without usable neighbours); L_graph is their
/// sum over `rows_used`. `None` when no sample has a usable neighbour.
pub fn graph_loss_rows(
    features: Tensor<2>,
    batch: &GraphBatch,
    k: usize,
    tau_student: f64,
) -> Option<Tensor<2>> {
    graph_terms(features, batch, k, tau_student).map(|t| t.sum_dim(1).neg())
}

/// The `[b, k + b]` terms w · log q whose negated sum is L_graph (times `rows_used`).
fn graph_terms(features: Tensor<2>, batch: &GraphBatch, k: usize, tau_student: f64) -> Option<Tensor<2>> {
    if batch.rows_used == 0 {
        return None;
    }
    let [b, d] = features.dims();
    let device = features.device();
    let h = l2_normalize(features);
    let bank = Tensor::<3>::from_data(TensorData::new(batch.neighbours.clone(), [b, k, d]), &device);
    let slot_mask = Tensor::<2>::from_data(TensorData::new(batch.slot_mask.clone(), [b, k]), &device);
    let batch_mask = Tensor::<2>::from_data(TensorData::new(batch.batch_mask.clone(), [b, b]), &device);
    let to_neighbours = (h.clone().unsqueeze_dim::<3>(1) * bank).sum_dim(2).reshape([b, k]);
    let to_batch = h.clone().matmul(h.detach().transpose());
    // Masks are added after the temperature so that they stay far below every real logit.
    let logits = Tensor::cat(vec![to_neighbours, to_batch], 1) / tau_student as f32
        + Tensor::cat(vec![slot_mask, batch_mask], 1);
    let mut w = vec![0f32; b * (k + b)];
    for r in 0..b {
        w[r * (k + b)..r * (k + b) + k].copy_from_slice(&batch.weights[r * k..(r + 1) * k]);
    }
    let w = Tensor::<2>::from_data(TensorData::new(w, [b, k + b]), &device);
    Some(w * log_softmax(logits, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_data().try_to_vec::<f32>().unwrap()[0]
    }

    fn t2(v: Vec<f32>, shape: [usize; 2]) -> Tensor<2> {
        Tensor::<2>::from_data(TensorData::new(v, shape), &Device::flex())
    }

    #[test]
    fn node_loss_is_zero_for_aligned_and_two_for_opposite() {
        let a = t2(vec![1.0, 2.0, 0.0, 1.0], [2, 2]);
        assert!(scalar(node_loss(a.clone(), a.clone() * 4.0)).abs() < 1e-6);
        assert!((scalar(node_loss(a.clone(), a.neg())) - 2.0).abs() < 1e-6);
    }

    #[test]
    fn edge_loss_vanishes_when_relations_match_and_grows_when_they_differ() {
        let e = t2(vec![1.0, 0.0, 0.9, 0.1, 0.0, 1.0], [3, 2]);
        let same = scalar(edge_loss(e.clone() * 2.0, e.clone(), 0.1, 0.1));
        assert!(same.abs() < 1e-5, "{same}");
        let swapped = t2(vec![0.0, 1.0, 0.9, 0.1, 1.0, 0.0], [3, 2]);
        assert!(scalar(edge_loss(swapped, e, 0.1, 0.1)) > 0.5);
    }

    fn table(n: usize, lists: &[(Vec<u32>, Vec<f32>)]) -> TrainingNeighbours {
        let k = lists[0].0.len();
        let dst = lists.iter().flat_map(|l| l.0.clone()).collect();
        let sim = lists.iter().flat_map(|l| l.1.clone()).collect();
        TrainingNeighbours::from_graph(n, k, dst, sim)
    }

    #[test]
    fn graph_batch_uses_only_known_neighbours_and_the_loss_prefers_them() {
        let mut bank = MemoryBank::new(4, 2);
        bank.write(&[1, 2], &[1.0, 0.0, 0.0, 1.0]);
        let nb = table(
            4,
            &[
                (vec![3, 1, 2], vec![0.9, 0.8, 0.1]),
                (vec![0, 2, 3], vec![0.5, 0.4, 0.3]),
                (vec![0, 1, 3], vec![0.5, 0.4, 0.3]),
                (vec![0, 1, 2], vec![0.5, 0.4, 0.3]),
            ],
        );
        let g = graph_batch(&[0], &nb, &bank, 2, 0.1);
        // Neighbour 3 is not in the bank yet: 1 and 2 remain, weighted by their similarities.
        assert_eq!(g.rows_used, 1);
        assert!(g.weights[0] > 0.99 && g.weights[1] < 0.01, "{:?}", g.weights);
        assert_eq!(&g.neighbours[..4], &[1.0, 0.0, 0.0, 1.0]);
        let near = scalar(graph_loss(t2(vec![1.0, 0.0], [1, 2]), &g, 2, 0.1).unwrap());
        let far = scalar(graph_loss(t2(vec![0.0, 1.0], [1, 2]), &g, 2, 0.1).unwrap());
        assert!(near < far, "{near} vs {far}");
        let empty = MemoryBank::new(4, 2);
        let none = graph_batch(&[0], &nb, &empty, 2, 0.1);
        assert_eq!(none.rows_used, 0);
        assert!(graph_loss(t2(vec![1.0, 0.0], [1, 2]), &none, 2, 0.1).is_none());
    }

    #[test]
    fn absent_slots_take_no_share_of_the_softmax() {
        // One usable neighbour out of three slots: the loss must equal the one-slot loss.
        let mut bank = MemoryBank::new(4, 2);
        bank.write(&[1], &[0.6, 0.8]);
        let three = table(4, &vec![(vec![1, 2, 3], vec![0.9, 0.8, 0.7]); 4]);
        let one = table(4, &vec![(vec![1], vec![0.9]); 4]);
        let h = || t2(vec![0.8, 0.6], [1, 2]);
        let g3 = graph_batch(&[0], &three, &bank, 3, 0.1);
        assert_eq!(g3.slot_mask[0], 0.0);
        assert!(g3.slot_mask[1] < -1.0e3 && g3.slot_mask[2] < -1.0e3);
        let l3 = scalar(graph_loss(h(), &g3, 3, 0.1).unwrap());
        let l1 = scalar(graph_loss(h(), &graph_batch(&[0], &one, &bank, 1, 0.1), 1, 0.1).unwrap());
        // Unmasked, the two zero-feature slots would add e^0 terms to the softmax.
        assert!((l3 - l1).abs() < 1e-5, "{l3} vs {l1}: empty slots leaked into the softmax");
    }

    #[test]
    fn a_neighbour_in_the_batch_is_not_also_a_negative() {
        // Samples 0 and 1 are each other's neighbour and are in the same batch.
        let mut bank = MemoryBank::new(3, 2);
        bank.write(&[0, 1, 2], &[1.0, 0.0, 0.8, 0.6, 0.0, 1.0]);
        let nb = table(3, &[(vec![1], vec![0.9]), (vec![0], vec![0.9]), (vec![0], vec![0.1])]);
        let g = graph_batch(&[0, 1, 2], &nb, &bank, 1, 0.1);
        let m = |r: usize, c: usize| g.batch_mask[r * 3 + c];
        assert!(m(0, 0) < -1.0e3 && m(0, 1) < -1.0e3, "self and the neighbour are out");
        assert_eq!(m(0, 2), 0.0, "a non-neighbour stays a negative");
        assert!(m(1, 0) < -1.0e3 && m(2, 0) < -1.0e3 && m(2, 2) < -1.0e3);
        assert_eq!(m(1, 2), 0.0);
    }

    #[test]
    fn training_neighbours_come_from_the_training_subset_only() {
        // Five points on a circle; the subset leaves out 1 and 3, the nearest of 0 and 2.
        let angles = [0.0f32, 0.1, 0.3, 0.35, 1.0];
        let emb: Vec<f32> = angles.iter().flat_map(|a| [a.cos(), a.sin()]).collect();
        let device = Device::flex();
        let nb = TrainingNeighbours::search(&emb, 5, 2, &[0, 2, 4], 2, &device);
        assert_eq!(nb.k, 2);
        assert_eq!(nb.of(0).0, &[2, 4]);
        assert_eq!(nb.of(2).0, &[0, 4]);
        assert_eq!(nb.of(4).0, &[2, 0]);
        // Every slot is filled with a training image.
        for i in [0, 2, 4] {
            assert!(nb.of(i).0.iter().all(|j| [0, 2, 4].contains(j)));
        }
        // Labels 0, 0, 1 for images 0, 2, 4: 0↔2 agree, every other pair disagrees.
        let labels = [0u16, 9, 0, 9, 1];
        assert!((nb.label_agreement(&[0, 2, 4], &labels) - 2.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn confidence_follows_the_neighbourhood_majority() {
        // Image 0: all four neighbours share a noisy label; image 1: four different labels.
        let t = table(10, &[(vec![2, 3, 4, 5], vec![0.9; 4]), (vec![6, 7, 8, 9], vec![0.9; 4])]);
        let noisy = [0, 0, 1, 1, 1, 1, 0, 1, 2, 3];
        assert_eq!(t.confidence(0, &noisy, 4), 1.0);
        assert_eq!(t.confidence(1, &noisy, 4), 0.0, "a share of 1/C is chance");
        let half = [0, 0, 1, 1, 2, 3, 0, 0, 0, 0];
        assert!((t.confidence(0, &half, 4) - (0.5 - 0.25) / 0.75).abs() < 1e-6);
    }

    #[test]
    fn label_votes_are_by_dataset_index_from_training_neighbours() {
        // Training images 0, 2, 4 of 5; image 0's neighbours 2 (label 1) and 4 (label 1).
        let angles = [0.0f32, 0.1, 0.3, 0.35, 1.0];
        let emb: Vec<f32> = angles.iter().flat_map(|a| [a.cos(), a.sin()]).collect();
        let nb = TrainingNeighbours::search(&emb, 5, 2, &[0, 2, 4], 2, &Device::flex());
        let noisy = [0u16, 0, 1, 0, 1];
        let v = nb.label_votes(&noisy, 2, 1e9);
        assert_eq!(v.len(), 10);
        assert_eq!(&v[0..2], &[0.0, 1.0], "both of image 0's neighbours say 1");
        assert_eq!(&v[2..4], &[0.0, 0.0], "image 1 is not trained on");
        assert_eq!(&v[4..6], &[0.5, 0.5], "image 2: neighbours 0 (label 0) and 4 (label 1)");
        assert_eq!(&v[6..8], &[0.0, 0.0]);
    }

    #[test]
    fn per_row_losses_average_to_the_batch_losses() {
        let a = t2(vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0], [3, 2]);
        let b = t2(vec![1.0, 0.2, 0.3, 1.0, -1.0, 0.5], [3, 2]);
        let rows = node_loss_rows(a.clone(), b.clone());
        assert_eq!(rows.dims(), [3, 1]);
        assert!((scalar(rows.mean()) - scalar(node_loss(a.clone(), b.clone()))).abs() < 1e-6);
        let rows = edge_loss_rows(a.clone(), b.clone(), 0.1, 0.1);
        assert!((scalar(rows.mean()) - scalar(edge_loss(a.clone(), b, 0.1, 0.1))).abs() < 1e-6);
        // L_graph: image 2 has no neighbour in the bank, so its row is 0 and rows_used is 2.
        let mut bank = MemoryBank::new(6, 2);
        bank.write(&[3, 4], &[1.0, 0.0, 0.0, 1.0]);
        let nb = table(
            6,
            &[(vec![3, 4], vec![0.9, 0.2]), (vec![4, 3], vec![0.8, 0.1]), (vec![5, 1], vec![0.5, 0.4])],
        );
        let g = graph_batch(&[0, 1, 2], &nb, &bank, 2, 0.1);
        assert_eq!(g.rows_used, 2);
        let rows = graph_loss_rows(a.clone(), &g, 2, 0.1).unwrap();
        let v = rows.clone().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(v[2], 0.0, "{v:?}");
        let whole = scalar(graph_loss(a, &g, 2, 0.1).unwrap());
        assert!((scalar(rows.sum()) / 2.0 - whole).abs() < 1e-5, "{v:?} vs {whole}");
    }

    #[test]
    fn bank_round_trips_through_a_blob() {
        let mut bank = MemoryBank::new(3, 2);
        bank.write(&[2], &[0.6, 0.8]);
        assert_eq!(MemoryBank::from_blob(bank.to_blob(), 3, 2), bank);
    }

    #[test]
    fn all_terms_off_is_rejected() {
        let p = RgrlParams {
            node_weight: 0.0,
            edge_weight: 0.0,
            graph_weight: 0.0,
            tau_teacher: 0.1,
            tau_student: 0.1,
            graph_k: 5,
            graph_tau: 0.1,
            projection_hidden: 0,
            confidence: false,
            neighbour_targets: 0.0,
            weight_schedule: RelationWeightSchedule::Constant,
        };
        assert!(p.validate().is_err());
        // Neighbour targets alone are a term; outside [0, 1] they are refused.
        assert!(RgrlParams { neighbour_targets: 0.5, ..p.clone() }.validate().is_ok());
        assert!(RgrlParams { neighbour_targets: 1.5, ..p.clone() }.validate().is_err());
        let json = serde_json::to_value(RgrlParams { neighbour_targets: 0.5, ..p.clone() }).unwrap();
        assert_eq!(json["neighbour_targets"], 0.5);
        assert!(serde_json::to_value(&p).unwrap().get("neighbour_targets").is_none());
        // The confidence switch is left out of the params (and keys) while off.
        let json = serde_json::to_value(RgrlParams { edge_weight: 0.3, ..p.clone() }).unwrap();
        assert!(json.get("confidence").is_none(), "{json}");
        let on =
            serde_json::to_value(RgrlParams { edge_weight: 0.3, confidence: true, ..p.clone() }).unwrap();
        assert_eq!(on["confidence"], true);
        assert!(RgrlParams { edge_weight: 0.3, ..p }.validate().is_ok());
    }

    #[test]
    fn cosine_decay_goes_from_the_full_weight_to_zero_and_constant_stays() {
        let d = RelationWeightSchedule::CosineDecay;
        assert_eq!(d.factor(0, 100), 1.0);
        assert!((d.factor(50, 100) - 0.5).abs() < 1e-12);
        assert!(d.factor(99, 100) < 0.001 && d.factor(99, 100) > 0.0);
        assert_eq!(d.factor(100, 100), 0.0);
        assert!((1..100).all(|s| d.factor(s, 100) < d.factor(s - 1, 100)), "strictly decreasing");
        assert_eq!(RelationWeightSchedule::Constant.factor(99, 100), 1.0);
        // Left out of the params (and keys) while constant; named in kebab case when not.
        let p = crate::profile::Profile::Cpu.rgrl_params();
        assert!(serde_json::to_value(&p).unwrap().get("weight_schedule").is_none());
        let json = serde_json::to_value(RgrlParams { weight_schedule: d, ..p.clone() }).unwrap();
        assert_eq!(json["weight_schedule"], "cosine-decay");
        let back: RgrlParams = serde_json::from_value(json).unwrap();
        assert_eq!(back.weight_schedule, d);
        assert!(RgrlParams { weight_schedule: d, ..p }.describe().ends_with("weights decayed (cosine)"));
    }
}
