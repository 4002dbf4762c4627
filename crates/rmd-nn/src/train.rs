//! The training loop every training stage shares.
//!
//! A stage describes *what* it optimises as an [`Objective`] (the loss of one batch, the
//! learning rate of a step, what to record at the end of an epoch, any per-sample state to
//! keep in checkpoints); [`Trainer::run`] owns *how*: the epoch permutations over the
//! training subset, resume from the run's checkpoint, the divergence check, the optimizer
//! step, per-epoch checkpoints, the progress bar or (without a terminal) progress lines with
//! an ETA, and the per-epoch log. A new method is a new objective, not a new loop.
//!
//! The order of every random draw and every floating-point operation is the one the RM and
//! RGRL stages had before they shared this loop, so their artifacts are unchanged.

use crate::checkpoint::Checkpoint;
use crate::error::{IoContext, NnError, Result};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use rmd_data::loader::epoch_permutation;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// One row of a stage's per-epoch log (`epochs.csv`, and the checkpoint's `state.json`).
pub trait EpochRecord: Clone + Serialize + DeserializeOwned {
    /// A one-line summary for stderr.
    fn describe(&self, epochs: usize) -> String;
}

/// Progress saved with each checkpoint: the epochs done and their log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState<L> {
    /// Completed epochs.
    pub epochs_done: usize,
    /// Their log.
    pub log: Vec<L>,
}

/// A training stage's checkpoint.
pub type TrainCheckpoint<M, L> = Checkpoint<M, TrainState<L>>;

/// The batch a step trains on.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// 0-based epoch.
    pub epoch: usize,
    /// 0-based step within the epoch.
    pub step: usize,
    /// Training-set rows of the batch's images.
    pub indices: &'a [u32],
}

/// What the loop measured over an epoch, handed to [`Objective::end_epoch`].
#[derive(Debug, Clone, Copy)]
pub struct EpochEnd {
    /// 0-based epoch.
    pub epoch: usize,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Mean of the steps' total losses.
    pub mean_loss: f64,
    /// When the epoch started (the log's `seconds` include any evaluation after training).
    pub started: Instant,
    /// Seconds spent in the training steps.
    pub train_secs: f64,
    /// Training images per second (steps × batch size / `train_secs`).
    pub images_per_s: f64,
}

/// What a training stage optimises.
pub trait Objective<M> {
    /// The stage's per-epoch log row.
    type Log: EpochRecord;

    /// The loss of one batch (a scalar tensor on the autodiff device). Per-step figures the
    /// log needs (loss terms, agreement counts) are accumulated by the objective itself.
    fn loss(&mut self, model: &M, batch: &Batch) -> Result<Tensor<1>>;

    /// The learning rate of a step (`global_step` counts from the first step of epoch 1).
    fn lr(&self, global_step: usize) -> f64;

    /// Evaluates the model after an epoch and returns the epoch's log row; resets the
    /// objective's per-epoch sums.
    fn end_epoch(&mut self, model: &M, end: &EpochEnd) -> Self::Log;

    /// Per-sample state saved with each checkpoint (name, values).
    fn checkpoint_blobs(&self) -> Vec<(&'static str, Vec<f32>)> {
        Vec::new()
    }

    /// Restores the state of [`Objective::checkpoint_blobs`] from a checkpoint.
    fn restore(&mut self, _checkpoint: &TrainCheckpoint<M, Self::Log>) -> Result<()> {
        Ok(())
    }
}

/// Where a training run keeps its per-epoch checkpoint and how it reports.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions<'a> {
    /// The checkpoint directory (inside the run's partial artifact directory).
    pub checkpoint_dir: &'a Path,
    /// Continue from the checkpoint there, if any.
    pub resumed: bool,
    /// Draw a progress bar.
    pub progress: bool,
    /// Print the epoch summaries (and, without a progress bar, progress lines) on stderr.
    pub verbose: bool,
}

/// The epoch loop's settings.
#[derive(Debug, Clone)]
pub struct Trainer<'a> {
    /// Epochs to train.
    pub epochs: usize,
    /// Images per step (the last partial batch of an epoch is dropped).
    pub batch_size: usize,
    /// Seed of the epoch permutations.
    pub seed: u64,
    /// The training-set rows trained on (each epoch visits them in a seeded order).
    pub subset: &'a [u32],
    /// Name shown on the progress bar and progress lines.
    pub label: String,
}

/// How often per epoch a progress line is printed when no progress bar is drawn.
const PROGRESS_LINES_PER_EPOCH: usize = 10;

impl Trainer<'_> {
    /// Optimizer steps per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.subset.len() / self.batch_size
    }

    /// Trains from `fresh()` (or, when `run.resumed`, from the checkpoint in
    /// `run.checkpoint_dir`) to the last epoch, checkpointing after every epoch but the last;
    /// removes the checkpoint at the end. Returns the trained model and the whole epoch log.
    pub fn run<M, O>(
        &self,
        run: RunOptions,
        fresh: impl Fn() -> Result<(M, ModuleOptimizer)>,
        objective: &mut O,
    ) -> Result<(M, Vec<O::Log>)>
    where
        M: Module + Clone,
        O: Objective<M>,
    {
        let steps_per_epoch = self.steps_per_epoch();
        if steps_per_epoch == 0 || self.epochs == 0 {
            return Err(NnError::Invalid(format!(
                "{} images with batch size {} and {} epochs leave no training step",
                self.subset.len(),
                self.batch_size,
                self.epochs
            )));
        }
        let (mut model, mut optim) = fresh()?;
        let mut log: Vec<O::Log> = Vec::new();
        let say = |message: &str| {
            if run.verbose {
                eprintln!("{message}");
            }
        };
        if run.resumed {
            match TrainCheckpoint::<M, O::Log>::load(run.checkpoint_dir, model, optim)? {
                Some(c) => {
                    say(&format!("resuming after epoch {} of {}", c.state.epochs_done, self.epochs));
                    objective.restore(&c)?;
                    (model, optim, log) = (c.model, c.optim, c.state.log);
                }
                None => {
                    say("no checkpoint to resume from; starting at epoch 1");
                    (model, optim) = fresh()?;
                }
            }
        }

        let start_epoch = log.len();
        let bar =
            rmd_data::progress::count_bar((self.epochs * steps_per_epoch) as u64, run.progress, &self.label);
        bar.set_position((start_epoch * steps_per_epoch) as u64);
        for epoch in start_epoch..self.epochs {
            let started = Instant::now();
            let order = epoch_permutation(self.subset.len(), self.seed, epoch as u64);
            let mut loss_sum = 0.0;
            let mut lr = 0.0;
            for step in 0..steps_per_epoch {
                let indices: Vec<u32> = order[step * self.batch_size..(step + 1) * self.batch_size]
                    .iter()
                    .map(|&i| self.subset[i as usize])
                    .collect();
                let loss = objective.loss(&model, &Batch { epoch, step, indices: &indices })?;
                let value = scalar(loss.clone());
                if !value.is_finite() {
                    return Err(NnError::Diverged(format!(
                        "loss {value} at epoch {} step {step}",
                        epoch + 1
                    )));
                }
                lr = objective.lr(epoch * steps_per_epoch + step);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(lr, model, grads);
                loss_sum += value;
                bar.inc(1);
                bar.set_message(format!(
                    "{} epoch {}/{} loss {value:.4}",
                    self.label,
                    epoch + 1,
                    self.epochs
                ));
                if !run.progress
                    && run.verbose
                    && (step + 1) % (steps_per_epoch / PROGRESS_LINES_PER_EPOCH).max(1) == 0
                {
                    let per_step = started.elapsed().as_secs_f64() / (step + 1) as f64;
                    let remaining = (self.epochs - epoch) * steps_per_epoch - (step + 1);
                    eprintln!(
                        "  epoch {}/{} step {}/{steps_per_epoch}: mean loss {:.4}, {:.0} img/s, eta {:.1} min",
                        epoch + 1,
                        self.epochs,
                        step + 1,
                        loss_sum / (step + 1) as f64,
                        self.batch_size as f64 / per_step,
                        remaining as f64 * per_step / 60.0
                    );
                }
            }
            let train_secs = started.elapsed().as_secs_f64();
            let end = EpochEnd {
                epoch,
                lr,
                mean_loss: loss_sum / steps_per_epoch as f64,
                started,
                train_secs,
                images_per_s: (steps_per_epoch * self.batch_size) as f64 / train_secs,
            };
            let entry = objective.end_epoch(&model, &end);
            if run.verbose {
                bar.suspend(|| eprintln!("{}", entry.describe(self.epochs)));
            }
            log.push(entry);
            if epoch + 1 < self.epochs {
                let state = TrainState { epochs_done: log.len(), log: log.clone() };
                let blobs = objective.checkpoint_blobs();
                let blobs: Vec<(&str, &[f32])> = blobs.iter().map(|(n, v)| (*n, v.as_slice())).collect();
                TrainCheckpoint::save(run.checkpoint_dir, &model, &optim, &state, &blobs)?;
            }
        }
        bar.finish_and_clear();
        crate::checkpoint::remove(run.checkpoint_dir)?;
        Ok((model, log))
    }
}

/// The value of a one-element tensor.
pub fn scalar(t: Tensor<1>) -> f64 {
    t.into_data().try_to_vec::<f32>().expect("scalar f32")[0] as f64
}

/// Rounds a timing figure to `decimals` places (the log keeps wall-clock figures short).
pub fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// Writes log rows as CSV with a header from the row type's field names (`None` is an empty
/// cell). Numbers are written in their shortest round-trip form.
pub fn write_csv<R: Serialize>(path: &Path, rows: &[R]) -> Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row).map_err(|e| NnError::Invalid(format!("{}: {e}", path.display())))?;
    }
    let bytes = writer.into_inner().map_err(|e| NnError::Invalid(format!("{}: {e}", path.display())))?;
    std::fs::write(path, bytes).ctx("writing", path)
}

/// The columns of a per-epoch log that measure wall-clock time: kept in the checkpoint's
/// progress record and the manifest's metrics (`epoch_seconds`, `epoch_images_per_s`), left
/// out of `epochs.csv`, so the same seed and inputs give the same bytes there (and a resumed
/// run the same file as an uninterrupted one).
pub const TIMING_COLUMNS: [&str; 3] = ["seconds", "images_per_s", "aug_share"];

/// [`write_csv`] without the [`TIMING_COLUMNS`] (those a row type has).
pub fn write_log_csv<R: Serialize>(path: &Path, rows: &[R]) -> Result<()> {
    let invalid = |e: csv::Error| NnError::Invalid(format!("{}: {e}", path.display()));
    let mut full = csv::Writer::from_writer(Vec::new());
    for row in rows {
        full.serialize(row).map_err(invalid)?;
    }
    let full = full.into_inner().map_err(|e| NnError::Invalid(format!("{}: {e}", path.display())))?;
    let mut reader = csv::Reader::from_reader(full.as_slice());
    let header = reader.headers().map_err(invalid)?.clone();
    let keep: Vec<usize> = (0..header.len()).filter(|&i| !TIMING_COLUMNS.contains(&&header[i])).collect();
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(keep.iter().map(|&i| &header[i])).map_err(invalid)?;
    for record in reader.records() {
        let record = record.map_err(invalid)?;
        out.write_record(keep.iter().map(|&i| &record[i])).map_err(invalid)?;
    }
    let bytes = out.into_inner().map_err(|e| NnError::Invalid(format!("{}: {e}", path.display())))?;
    std::fs::write(path, bytes).ctx("writing", path)
}

/// Reads log rows written by [`write_csv`].
pub fn read_csv<R: DeserializeOwned>(path: &Path) -> Result<Vec<R>> {
    let bad = |e: csv::Error| NnError::BadRecord {
        path: path.to_path_buf(),
        what: "epoch log",
        reason: e.to_string(),
    };
    let mut reader = csv::Reader::from_path(path).map_err(bad)?;
    reader.deserialize().collect::<std::result::Result<Vec<R>, _>>().map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ids::IdAssigner;
    use burn::nn::{Initializer, Linear, LinearConfig};
    use burn::tensor::{Device, TensorData};

    /// One epoch's mean loss.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct ToyLog {
        epoch: usize,
        loss: f64,
    }

    impl EpochRecord for ToyLog {
        fn describe(&self, epochs: usize) -> String {
            format!("epoch {}/{epochs}: loss {}", self.epoch, self.loss)
        }
    }

    /// Least squares y = 2x + 1 on eight points; can fail or diverge at a chosen step.
    struct Toy {
        device: Device,
        fail_at: Option<(usize, usize)>,
        nan_at: Option<(usize, usize)>,
    }

    impl Objective<Linear> for Toy {
        type Log = ToyLog;

        fn loss(&mut self, model: &Linear, batch: &Batch) -> Result<Tensor<1>> {
            if self.fail_at == Some((batch.epoch, batch.step)) {
                return Err(NnError::Invalid("injected crash".into()));
            }
            let b = batch.indices.len();
            let x: Vec<f32> = batch.indices.iter().map(|&i| i as f32 / 8.0).collect();
            let y: Vec<f32> = x.iter().map(|v| 2.0 * v + 1.0).collect();
            let x = Tensor::<2>::from_data(TensorData::new(x, [b, 1]), &self.device);
            let y = Tensor::<2>::from_data(TensorData::new(y, [b, 1]), &self.device);
            let loss = (model.forward(x) - y).powf_scalar(2.0).mean();
            Ok(if self.nan_at == Some((batch.epoch, batch.step)) { loss * f32::NAN } else { loss })
        }

        fn lr(&self, _global_step: usize) -> f64 {
            0.1
        }

        fn end_epoch(&mut self, _model: &Linear, end: &EpochEnd) -> ToyLog {
            ToyLog { epoch: end.epoch + 1, loss: end.mean_loss }
        }
    }

    fn toy(fail_at: Option<(usize, usize)>, nan_at: Option<(usize, usize)>) -> Toy {
        Toy { device: Device::flex().autodiff(), fail_at, nan_at }
    }

    fn run(dir: &Path, resumed: bool, objective: &mut Toy) -> Result<(Linear, Vec<ToyLog>)> {
        let subset: Vec<u32> = (0..8).collect();
        let trainer = Trainer { epochs: 3, batch_size: 4, seed: 7, subset: &subset, label: "toy".into() };
        let device = objective.device.clone();
        // Constant initial weights: the device's RNG is shared with tests running alongside.
        let fresh = || {
            let config = LinearConfig::new(1, 1).with_initializer(Initializer::Constant { value: 0.0 });
            let model = config.init(&device).map(&mut IdAssigner::default());
            Ok((model, crate::schedule::sgd(0.9, 0.0)))
        };
        let options = RunOptions { checkpoint_dir: dir, resumed, progress: false, verbose: false };
        trainer.run(options, fresh, objective)
    }

    fn weights(m: &Linear) -> Vec<f32> {
        let mut w = m.weight.val().into_data().try_to_vec::<f32>().unwrap();
        w.extend(m.bias.as_ref().unwrap().val().into_data().try_to_vec::<f32>().unwrap());
        w
    }

    #[test]
    fn a_run_resumed_after_a_crash_ends_where_an_uninterrupted_one_does() {
        let tmp = tempfile::tempdir().unwrap();
        let (whole, whole_log) = run(&tmp.path().join("a"), false, &mut toy(None, None)).unwrap();
        assert_eq!(whole_log.len(), 3);
        assert!(whole_log[2].loss < whole_log[0].loss, "{whole_log:?}");
        assert!(!tmp.path().join("a").exists(), "the checkpoint is removed at the end");

        // Crash in epoch 2: epoch 1's checkpoint (model, momentum, log) survives.
        let dir = tmp.path().join("b");
        let crashed = run(&dir, false, &mut toy(Some((1, 1)), None));
        assert!(matches!(crashed, Err(NnError::Invalid(_))));
        assert!(dir.join("state.json").exists());
        let (resumed, resumed_log) = run(&dir, true, &mut toy(None, None)).unwrap();
        assert_eq!(resumed_log, whole_log);
        assert_eq!(weights(&resumed), weights(&whole));
    }

    #[test]
    fn a_non_finite_loss_stops_the_run_and_names_the_step() {
        let tmp = tempfile::tempdir().unwrap();
        match run(tmp.path(), false, &mut toy(None, Some((1, 0)))) {
            Err(NnError::Diverged(msg)) => assert_eq!(msg, "loss NaN at epoch 2 step 0"),
            other => panic!("expected divergence, got {:?}", other.map(|(_, log)| log)),
        }
    }

    #[test]
    fn log_rows_round_trip_through_csv_with_empty_cells_for_none() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Row {
            epoch: usize,
            acc: Option<f64>,
        }
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("log.csv");
        let rows = vec![Row { epoch: 1, acc: None }, Row { epoch: 2, acc: Some(0.5) }];
        write_csv(&path, &rows).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "epoch,acc\n1,\n2,0.5\n");
        assert_eq!(read_csv::<Row>(&path).unwrap(), rows);
        std::fs::write(&path, "epoch,acc\nx,1\n").unwrap();
        assert!(matches!(read_csv::<Row>(&path), Err(NnError::BadRecord { .. })));
    }
}
