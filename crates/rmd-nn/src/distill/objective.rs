//! What the RGRL stage optimises: the base loss on the noisy labels plus, with a teacher,
//! the weighted relation terms (L_node, L_edge, L_graph); after an epoch, the evaluation
//! on the test, validation and memorisation subsets.

use super::eval::{self, accuracy, memorisation, predict};
use super::log::EpochLog;
use super::losses::{self, ElrMemory};
use super::params::DistillParams;
use super::rgrl::{self, MemoryBank, TrainingNeighbours};
use crate::error::Result;
use crate::models::Classifier;
use crate::relations::RelationGraph;
use crate::train::{Batch, EpochEnd, Objective, TrainCheckpoint, round_to, scalar};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use rmd_data::augment::{ImageShape, Normalizer, Stream, crop_flip_batch};
use rmd_data::dataset::Dataset;
use rmd_data::loader::epoch_permutation;
use rmd_data::noise::NoiseLabels;

/// The subsets evaluated after every epoch, with their labels.
pub(super) struct EvalSets {
    /// Test rows and their clean labels.
    pub test_idx: Vec<u32>,
    pub test_labels: Vec<u16>,
    /// Tracked flipped training rows, their clean and noisy labels.
    pub memo_idx: Vec<u32>,
    pub memo_clean: Vec<u16>,
    pub memo_noisy: Vec<u16>,
    /// Held-out validation rows and their noisy labels.
    pub val_idx: Vec<u32>,
    pub val_noisy: Vec<u16>,
}

/// Salts separating the evaluation permutations from the epoch permutations.
const TEST_SALT: u64 = 0xD2u64 << 56;
const MEMO_SALT: u64 = 0xD3u64 << 56;

impl EvalSets {
    /// Draws the evaluation subsets with the run's seed: up to `memorisation_samples` of the
    /// `flipped` training rows, up to `test_images` test rows, and the validation rows given.
    pub fn draw(
        ds: &Dataset,
        labels: &NoiseLabels,
        flipped: &[u32],
        val_idx: Vec<u32>,
        p: &DistillParams,
    ) -> EvalSets {
        let pick = |total: usize, limit: Option<usize>, salt: u64| -> Vec<u32> {
            let mut v = epoch_permutation(total, p.seed ^ salt, 0);
            v.truncate(limit.unwrap_or(total).min(total));
            v.sort_unstable();
            v
        };
        let memo_idx: Vec<u32> = pick(flipped.len(), Some(p.eval.memorisation_samples), MEMO_SALT)
            .into_iter()
            .map(|j| flipped[j as usize])
            .collect();
        let test_idx = pick(ds.info.n_test, p.eval.test_images, TEST_SALT);
        EvalSets {
            test_labels: test_idx.iter().map(|&i| ds.test.labels()[i as usize]).collect(),
            test_idx,
            memo_clean: memo_idx.iter().map(|&i| labels.clean[i as usize]).collect(),
            memo_noisy: memo_idx.iter().map(|&i| labels.noisy[i as usize]).collect(),
            memo_idx,
            val_noisy: val_idx.iter().map(|&i| labels.noisy[i as usize]).collect(),
            val_idx,
        }
    }
}

/// Per-epoch sums of the loss terms.
#[derive(Debug, Default, Clone, Copy)]
struct TermSums {
    base: f64,
    node: f64,
    edge: f64,
    graph: f64,
    /// Steps where L_graph applied.
    graph_steps: usize,
    /// Training predictions equal to the noisy label.
    agree: usize,
}

/// The RGRL objective over one noisy training set.
pub(super) struct RgrlObjective<'a> {
    pub params: &'a DistillParams,
    pub dataset: &'a Dataset,
    pub labels: &'a NoiseLabels,
    pub shape: ImageShape,
    pub normalizer: &'a Normalizer,
    pub classes: usize,
    /// The teacher, for RGRL runs.
    pub graph: Option<&'a RelationGraph>,
    /// L_graph's neighbours among the training images (and the confidence weights).
    pub train_neighbours: Option<&'a TrainingNeighbours>,
    /// With neighbour targets: the teacher-neighbour vote of the noisy labels, `[n, classes]`.
    neighbour_votes: Option<Vec<f32>>,
    /// ELR's per-sample target memory, for ELR runs.
    pub elr: Option<ElrMemory>,
    /// L_graph's memory of student features.
    pub bank: Option<MemoryBank>,
    pub eval: EvalSets,
    pub steps_per_epoch: usize,
    /// Where batches are built (autodiff).
    pub device: Device,
    /// Where evaluation runs (no autodiff).
    pub eval_device: Device,
    /// The last evaluated epoch's test predictions.
    pub last_test_pred: Vec<u16>,
    sums: TermSums,
}

impl<'a> RgrlObjective<'a> {
    /// An objective with empty per-epoch sums. `eval` lists the evaluation subsets.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        params: &'a DistillParams,
        dataset: &'a Dataset,
        labels: &'a NoiseLabels,
        normalizer: &'a Normalizer,
        graph: Option<&'a RelationGraph>,
        train_neighbours: Option<&'a TrainingNeighbours>,
        eval: EvalSets,
        steps_per_epoch: usize,
        device: Device,
        eval_device: Device,
    ) -> Self {
        let info = &dataset.info;
        let (n, classes) = (info.n_train, info.num_classes());
        let elr = match params.loss {
            losses::BaseLoss::Elr { beta, .. } => Some(ElrMemory::new(n, classes, beta)),
            _ => None,
        };
        let use_graph = params.rgrl.as_ref().is_some_and(|r| r.graph_weight > 0.0);
        let bank = use_graph.then(|| MemoryBank::new(n, params.backbone.out_dim()));
        let neighbour_votes = match (&params.rgrl, train_neighbours) {
            (Some(r), Some(tn)) if r.neighbour_targets > 0.0 => {
                Some(tn.label_votes(&labels.noisy, classes, r.graph_tau))
            }
            _ => None,
        };
        RgrlObjective {
            params,
            dataset,
            labels,
            shape: ImageShape { channels: info.channels, height: info.height, width: info.width },
            normalizer,
            classes,
            graph,
            train_neighbours,
            neighbour_votes,
            elr,
            bank,
            eval,
            steps_per_epoch,
            device,
            eval_device,
            last_test_pred: Vec::new(),
            sums: TermSums::default(),
        }
    }

    /// Test-set predictions of `model` on the evaluated test subset.
    pub fn predict_test(&self, model: &Classifier) -> Vec<u16> {
        predict(
            model,
            &self.dataset.test,
            &self.eval.test_idx,
            self.shape,
            self.normalizer,
            &self.eval_device,
            500,
        )
    }

    /// The relation terms of one batch added to `total` (and to the epoch's sums), their
    /// weights scaled by the weight schedule at global step `step`.
    fn add_relation_terms(
        &mut self,
        out: &crate::models::ClassifierOutput,
        idx: &[u32],
        step: usize,
        mut total: Tensor<1>,
    ) -> Tensor<1> {
        let (Some(r), Some(g)) = (&self.params.rgrl, self.graph) else {
            return total;
        };
        let scale = r.weight_schedule.factor(step, self.params.epochs * self.steps_per_epoch);
        let weight = |w: f64| (w * scale) as f32;
        let b = idx.len();
        // The batch's teacher embeddings, built once for L_node and L_edge.
        let teacher = (r.node_weight > 0.0 || r.edge_weight > 0.0)
            .then(|| Tensor::<2>::from_data(TensorData::new(g.embeddings_of(idx), [b, g.dim]), &self.device));
        // Per-sample confidence in the teacher ([b, 1]), when asked for.
        let confidence = match (self.train_neighbours, r.confidence) {
            (Some(tn), true) => {
                let w: Vec<f32> = idx
                    .iter()
                    .map(|&i| tn.confidence(i as usize, &self.labels.noisy, self.classes))
                    .collect();
                Some(Tensor::<2>::from_data(TensorData::new(w, [b, 1]), &self.device))
            }
            _ => None,
        };
        let weigh = |rows: Tensor<2>| match &confidence {
            Some(w) => rows * w.clone(),
            None => rows,
        };
        if let (true, Some(e)) = (r.node_weight > 0.0, &teacher) {
            let l = weigh(rgrl::node_loss_rows(out.projected.clone().expect("projection"), e.clone())).mean();
            self.sums.node += scalar(l.clone());
            total = total + l * weight(r.node_weight);
        }
        if let (true, Some(e)) = (r.edge_weight > 0.0, teacher) {
            let l = weigh(rgrl::edge_loss_rows(out.features.clone(), e, r.tau_teacher, r.tau_student)).mean();
            self.sums.edge += scalar(l.clone());
            total = total + l * weight(r.edge_weight);
        }
        if let (Some(bank), Some(tn)) = (&mut self.bank, self.train_neighbours) {
            let k = r.graph_k.min(tn.k);
            let gb = rgrl::graph_batch(idx, tn, bank, k, r.graph_tau);
            // Unweighted runs keep graph_loss's single sum, so their results do not change.
            let l = match &confidence {
                Some(_) => rgrl::graph_loss_rows(out.features.clone(), &gb, k, r.tau_student)
                    .map(|rows| weigh(rows).sum() / gb.rows_used as f32),
                None => rgrl::graph_loss(out.features.clone(), &gb, k, r.tau_student),
            };
            if let Some(l) = l {
                self.sums.graph += scalar(l.clone());
                self.sums.graph_steps += 1;
                total = total + l * weight(r.graph_weight);
            }
            let h = rgrl::l2_normalize(out.features.clone().detach());
            bank.write(idx, &h.into_data().try_to_vec::<f32>().expect("f32 features"));
        }
        total
    }
}

/// Mixes each batch row of `target` (`[b, classes]`) with its sample's neighbour vote:
/// (1 − α)·target + α·vote.
fn mix_neighbour_votes(target: &mut [f32], idx: &[u32], votes: &[f32], classes: usize, alpha: f32) {
    for (row, &i) in target.chunks_exact_mut(classes).zip(idx) {
        let vote = &votes[i as usize * classes..(i as usize + 1) * classes];
        for (t, v) in row.iter_mut().zip(vote) {
            *t = (1.0 - alpha) * *t + alpha * v;
        }
    }
}

impl Objective<Classifier> for RgrlObjective<'_> {
    type Log = EpochLog;

    fn loss(&mut self, model: &Classifier, batch: &Batch) -> Result<Tensor<1>> {
        let p = self.params;
        let (idx, classes) = (batch.indices, self.classes);
        let b = idx.len();
        let shape = self.shape;
        let images = self.dataset.train.gather(idx);
        let x = crop_flip_batch(
            &images,
            idx,
            shape,
            p.crop_padding,
            self.normalizer,
            Stream { seed: p.seed, epoch: batch.epoch as u64, view: 0 },
        );
        let x = Tensor::<4>::from_data(
            TensorData::new(x, [b, shape.channels, shape.height, shape.width]),
            &self.device,
        );
        let noisy: Vec<u16> = idx.iter().map(|&i| self.labels.noisy[i as usize]).collect();
        let mut target = losses::smoothed_one_hot(&noisy, classes, p.label_smoothing);
        if let (Some(votes), Some(r)) = (&self.neighbour_votes, &p.rgrl) {
            mix_neighbour_votes(&mut target, idx, votes, classes, r.neighbour_targets as f32);
        }
        let onehot = Tensor::<2>::from_data(TensorData::new(target, [b, classes]), &self.device);
        let out = model.forward(x);
        let logits_v = out.logits.clone().into_data().try_to_vec::<f32>().expect("f32 logits");
        self.sums.agree += (0..b)
            .filter(|&r| eval::argmax(&logits_v[r * classes..(r + 1) * classes]) == noisy[r] as usize)
            .count();
        let device = &self.device;
        let elr_targets = self.elr.as_mut().map(|m| {
            let probs = softmax(out.logits.clone().detach(), 1).into_data().try_to_vec::<f32>().expect("f32");
            Tensor::<2>::from_data(TensorData::new(m.update(idx, &probs), [b, classes]), device)
        });
        let base = p.loss.forward(out.logits.clone(), onehot, elr_targets);
        let total = base.clone();
        self.sums.base += scalar(base);
        let step = batch.epoch * self.steps_per_epoch + batch.step;
        Ok(self.add_relation_terms(&out, idx, step, total))
    }

    fn lr(&self, global_step: usize) -> f64 {
        let p = self.params;
        p.schedule.lr(p.lr, global_step, self.steps_per_epoch, p.epochs)
    }

    fn end_epoch(&mut self, model: &Classifier, end: &EpochEnd) -> EpochLog {
        let (ds, shape, norm, dev) = (self.dataset, self.shape, self.normalizer, &self.eval_device);
        let e = &self.eval;
        let test_pred = self.predict_test(model);
        let memo_pred = predict(model, &ds.train, &e.memo_idx, shape, norm, dev, 500);
        let val_acc_noisy = (!e.val_idx.is_empty())
            .then(|| accuracy(&predict(model, &ds.train, &e.val_idx, shape, norm, dev, 500), &e.val_noisy));
        let memo = memorisation(&memo_pred, &e.memo_clean, &e.memo_noisy);
        let steps = self.steps_per_epoch as f64;
        let s = std::mem::take(&mut self.sums);
        let rgrl = self.params.rgrl.as_ref();
        let on = |w: Option<f64>, sum: f64, count: f64| w.filter(|w| *w > 0.0).map(|_| sum / count.max(1.0));
        let entry = EpochLog {
            epoch: end.epoch + 1,
            lr: end.lr,
            loss: end.mean_loss,
            base_loss: s.base / steps,
            node_loss: on(rgrl.map(|r| r.node_weight), s.node, steps),
            edge_loss: on(rgrl.map(|r| r.edge_weight), s.edge, steps),
            graph_loss: on(rgrl.map(|r| r.graph_weight), s.graph, s.graph_steps as f64),
            train_acc_noisy: s.agree as f64 / (self.steps_per_epoch * self.params.batch_size) as f64,
            val_acc_noisy,
            test_acc: accuracy(&test_pred, &e.test_labels),
            memorised: memo.noisy,
            corrected: memo.clean,
            seconds: round_to(end.started.elapsed().as_secs_f64(), 3),
            images_per_s: round_to(end.images_per_s, 2),
        };
        self.last_test_pred = test_pred;
        entry
    }

    fn checkpoint_blobs(&self) -> Vec<(&'static str, Vec<f32>)> {
        let mut blobs = Vec::new();
        if let Some(m) = &self.elr {
            blobs.push(("elr_targets", m.targets.clone()));
        }
        if let Some(b) = &self.bank {
            blobs.push(("memory_bank", b.to_blob()));
        }
        blobs
    }

    fn restore(&mut self, checkpoint: &TrainCheckpoint<Classifier, EpochLog>) -> Result<()> {
        let (n, classes) = (self.dataset.info.n_train, self.classes);
        if let Some(m) = &mut self.elr {
            m.targets = checkpoint.blob("elr_targets", n * classes)?;
        }
        if self.bank.is_some() {
            let dim = self.params.backbone.out_dim();
            self.bank = Some(MemoryBank::from_blob(checkpoint.blob("memory_bank", n * dim + n)?, n, dim));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::mix_neighbour_votes;

    #[test]
    fn neighbour_votes_mix_into_the_batch_targets_by_dataset_index() {
        // Batch of dataset images 2 and 0 (two classes); image 2's neighbours all say class 1.
        let votes = [0.5f32, 0.5, 0.0, 0.0, 0.0, 1.0];
        let mut target = vec![1.0f32, 0.0, 1.0, 0.0];
        mix_neighbour_votes(&mut target, &[2, 0], &votes, 2, 0.25);
        assert_eq!(target, vec![0.75, 0.25, 0.875, 0.125]);
        // Each row stays a distribution.
        assert!(target.chunks(2).all(|r| (r[0] + r[1] - 1.0).abs() < 1e-6));
    }
}
