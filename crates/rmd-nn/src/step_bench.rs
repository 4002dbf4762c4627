//! Training-step throughput on any backend: the RM stage's SimSiam step (two augmented
//! views, forward, backward, SGD update) or the RGRL stage's supervised cross-entropy step
//! (crop+flip, forward, backward, SGD update), timed step by step after warm-up steps.
//!
//! `rmd bench-step` runs it on the backend of the user's choice (a GPU check compares it
//! with PyTorch on the same card); the cargo benches `pretrain_step` and `distill_step` run
//! it on the CPU backend. Each step ends with [`Device::sync`], so a GPU's queued work is
//! counted in the step that queued it.

use crate::distill::losses::{BaseLoss, one_hot};
use crate::models::{ClassifierConfig, SimSiamConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use rmd_data::augment::{ImageShape, Normalizer, SimSiamAugment, Stream, crop_flip_batch, simsiam_batch};
use std::time::Instant;

/// The network and objective of a timed step.
#[derive(Debug, Clone)]
pub enum StepNet {
    /// SimSiam's loss on two augmented views (the RM stage's paper objective).
    SimSiam(SimSiamConfig),
    /// Cross-entropy on crop+flip images (the RGRL stage's base loss).
    Supervised(ClassifierConfig),
}

/// What to time.
#[derive(Debug, Clone)]
pub struct StepBenchConfig {
    /// Network and objective.
    pub net: StepNet,
    /// Images per step.
    pub batch: usize,
    /// Timed steps (at least 1).
    pub steps: usize,
    /// Untimed steps first (allocators, caches, a GPU's kernel compilation).
    pub warmup: usize,
}

/// Median, minimum and maximum of per-step rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Median.
    pub median: f64,
    /// Slowest step.
    pub min: f64,
    /// Fastest step.
    pub max: f64,
}

impl Spread {
    /// The spread of `rates` (at least one).
    pub fn of(mut rates: Vec<f64>) -> Spread {
        assert!(!rates.is_empty(), "a spread of no rates");
        rates.sort_by(f64::total_cmp);
        Spread { median: rates[rates.len() / 2], min: rates[0], max: rates[rates.len() - 1] }
    }
}

/// The timed steps' figures, in images per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTimes {
    /// The model step alone (upload, forward, backward, update, sync).
    pub model: Spread,
    /// The whole step, the host's augmentation included.
    pub with_augmentation: Spread,
    /// Mean share of the whole step spent augmenting on the host (0–1).
    pub augmentation_share: f64,
    /// Wall-clock seconds of the warm-up steps (a GPU compiles its kernels then).
    pub warmup_seconds: f64,
}

/// Times `cfg.steps` steps of `cfg.net` on `device` (made an autodiff device here) on
/// deterministic synthetic 32×32 RGB images, after `cfg.warmup` untimed steps.
pub fn run(cfg: &StepBenchConfig, device: &Device) -> Result<StepTimes, String> {
    if cfg.batch == 0 || cfg.steps == 0 {
        return Err("the batch and the number of timed steps must be at least 1".into());
    }
    let device = device.clone().autodiff();
    device.seed(1);
    let shape = ImageShape { channels: 3, height: 32, width: 32 };
    let images: Vec<u8> = (0..cfg.batch * shape.len()).map(|i| ((i * 2654435761usize) >> 13) as u8).collect();
    let idx: Vec<u32> = (0..cfg.batch as u32).collect();
    let norm = Normalizer::from_images(&images, 3, 1024);
    let dims = [cfg.batch, 3, 32, 32];
    let upload = {
        let device = device.clone();
        move |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, dims), &device)
    };
    let mut optim = crate::schedule::sgd(0.9, 5e-4);
    let mut step_fn: Box<dyn FnMut(u64) -> Result<f64, String>> = match &cfg.net {
        StepNet::SimSiam(model_cfg) => {
            let mut model = Some(model_cfg.init(&device));
            let aug = SimSiamAugment::default();
            Box::new(move |step| {
                let t0 = Instant::now();
                let v1 = simsiam_batch(
                    &images,
                    &idx,
                    shape,
                    &aug,
                    &norm,
                    Stream { seed: 1, epoch: step, view: 0 },
                );
                let v2 = simsiam_batch(
                    &images,
                    &idx,
                    shape,
                    &aug,
                    &norm,
                    Stream { seed: 1, epoch: step, view: 1 },
                );
                let t_aug = t0.elapsed().as_secs_f64();
                let current = model.take().expect("the model is put back after every step");
                let loss = current.loss(upload(v1), upload(v2));
                let grads = GradientsParams::from_grads(loss.backward(), &current);
                model = Some(optim.step(0.05, current, grads));
                device.sync().map_err(|e| format!("{e:?}"))?;
                Ok(t_aug)
            })
        }
        StepNet::Supervised(model_cfg) => {
            let classes = model_cfg.num_classes;
            let mut model = Some(model_cfg.init(&device));
            let labels: Vec<u16> = (0..cfg.batch).map(|i| (i % classes) as u16).collect();
            let targets = one_hot(&labels, classes);
            Box::new(move |step| {
                let t0 = Instant::now();
                let x =
                    crop_flip_batch(&images, &idx, shape, 4, &norm, Stream { seed: 1, epoch: step, view: 0 });
                let t_aug = t0.elapsed().as_secs_f64();
                let y = Tensor::<2>::from_data(
                    TensorData::new(targets.clone(), [labels.len(), classes]),
                    &device,
                );
                let current = model.take().expect("the model is put back after every step");
                let loss = BaseLoss::Ce.forward(current.logits(upload(x)), y, None);
                let grads = GradientsParams::from_grads(loss.backward(), &current);
                model = Some(optim.step(0.05, current, grads));
                device.sync().map_err(|e| format!("{e:?}"))?;
                Ok(t_aug)
            })
        }
    };
    let warm = Instant::now();
    for step in 0..cfg.warmup {
        step_fn(step as u64)?;
    }
    let warmup_seconds = warm.elapsed().as_secs_f64();
    let (mut model_rates, mut step_rates, mut aug_share) = (Vec::new(), Vec::new(), Vec::new());
    for step in cfg.warmup..cfg.warmup + cfg.steps {
        let t0 = Instant::now();
        let t_aug = step_fn(step as u64)?;
        let total = t0.elapsed().as_secs_f64();
        step_rates.push(cfg.batch as f64 / total);
        model_rates.push(cfg.batch as f64 / (total - t_aug));
        aug_share.push(t_aug / total);
    }
    Ok(StepTimes {
        model: Spread::of(model_rates),
        with_augmentation: Spread::of(step_rates),
        augmentation_share: aug_share.iter().sum::<f64>() / aug_share.len() as f64,
        warmup_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ResNetConfig;

    #[test]
    fn spread_orders_rates() {
        let s = Spread::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((s.min, s.median, s.max), (1.0, 2.0, 3.0));
    }

    #[test]
    fn both_objectives_time_every_step_on_the_cpu() {
        let encoder = ResNetConfig { stem_stride: 2, ..ResNetConfig::small(3, 8, 2, 1) };
        let nets = [
            StepNet::SimSiam(SimSiamConfig {
                encoder: encoder.clone(),
                proj_dim: 16,
                proj_layers: 2,
                pred_hidden: 8,
            }),
            StepNet::Supervised(ClassifierConfig { backbone: encoder, num_classes: 10, projection: vec![] }),
        ];
        for net in nets {
            let cfg = StepBenchConfig { net, batch: 4, steps: 3, warmup: 1 };
            let t = run(&cfg, &Device::flex()).unwrap();
            assert!(t.model.min > 0.0 && t.model.min <= t.model.median && t.model.median <= t.model.max);
            // The model step alone excludes the augmentation, so it is never the slower figure.
            assert!(t.model.median >= t.with_augmentation.median);
            assert!((0.0..1.0).contains(&t.augmentation_share));
        }
        let bad = StepBenchConfig {
            net: StepNet::Supervised(ClassifierConfig {
                backbone: ResNetConfig::small(3, 8, 2, 1),
                num_classes: 10,
                projection: vec![],
            }),
            batch: 0,
            steps: 1,
            warmup: 0,
        };
        assert!(run(&bad, &Device::flex()).is_err());
    }
}
