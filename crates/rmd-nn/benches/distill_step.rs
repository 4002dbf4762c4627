//! Supervised training throughput of the RGRL stage's classifier on the CPU backend: one
//! cross-entropy step (crop+flip augmentation, forward, backward, SGD update) on the
//! cpu-profile network (the RM cpu encoder's ResNet and a linear head, 10 classes) at
//! batch 128.
//!
//! `cargo bench -p rmd-nn --bench distill_step [-- --steps N]` (default 12 timed steps after
//! 2 warm-up steps) prints `bench supervised small batch 128: model step median <img/s>
//! img/s (min <..>, max <..>, N steps; augmentation <x>% of the step)`. `just bench-distill`
//! runs it next to the PyTorch equivalent (`bench/supervised_step.py`) and prints the ratio.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Tensor, TensorData};
use rmd_data::augment::{ImageShape, Normalizer, Stream, crop_flip_batch};
use rmd_nn::distill::losses::{BaseLoss, one_hot};
use rmd_nn::models::{ClassifierConfig, ResNetConfig};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let steps: usize = args
        .iter()
        .position(|a| a == "--steps")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let (batch, classes) = (128, 10);
    let device = Device::flex().autodiff();
    device.seed(1);
    let cfg = ClassifierConfig {
        backbone: ResNetConfig { stem_stride: 2, ..ResNetConfig::small(3, 32, 3, 1) },
        num_classes: classes,
        projection: vec![],
    };
    let mut model = cfg.init(&device);
    let mut optim = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(0.9).with_dampening(0.0)))
        .with_weight_decay(Some(WeightDecayConfig::new(5e-4)))
        .init();
    let shape = ImageShape { channels: 3, height: 32, width: 32 };
    let images: Vec<u8> = (0..batch * shape.len()).map(|i| ((i * 2654435761usize) >> 13) as u8).collect();
    let labels: Vec<u16> = (0..batch).map(|i| (i % classes) as u16).collect();
    let idx: Vec<u32> = (0..batch as u32).collect();
    let norm = Normalizer::from_images(&images, 3, 1024);
    let mut model_steps = Vec::new();
    let mut aug_share = Vec::new();
    for step in 0..steps + 2 {
        let t0 = Instant::now();
        let x =
            crop_flip_batch(&images, &idx, shape, 4, &norm, Stream { seed: 1, epoch: step as u64, view: 0 });
        let t_aug = t0.elapsed().as_secs_f64();
        let x = Tensor::<4>::from_data(TensorData::new(x, [batch, 3, 32, 32]), &device);
        let y = Tensor::<2>::from_data(TensorData::new(one_hot(&labels, classes), [batch, classes]), &device);
        let loss = BaseLoss::Ce.forward(model.logits(x), y, None);
        let _ = loss.clone().into_data();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.05, model, grads);
        let total = t0.elapsed().as_secs_f64();
        // The first two steps warm up allocators and caches.
        if step >= 2 {
            model_steps.push(batch as f64 / (total - t_aug));
            aug_share.push(t_aug / total);
        }
    }
    model_steps.sort_by(f64::total_cmp);
    let median = model_steps[model_steps.len() / 2];
    let aug = aug_share.iter().sum::<f64>() / aug_share.len() as f64;
    println!(
        "bench supervised small batch {batch}: model step median {median:.1} img/s (min {:.1}, max {:.1}, {steps} steps; augmentation {:.1}% of the step)",
        model_steps[0],
        model_steps[model_steps.len() - 1],
        100.0 * aug
    );
}
