//! Supervised training throughput of the RGRL stage's classifier on the CPU backend: one
//! cross-entropy step (crop+flip augmentation, forward, backward, SGD update) on the
//! cpu-profile network (the RM cpu encoder's ResNet and a linear head, 10 classes) at
//! batch 128.
//!
//! `cargo bench -p rmd-nn --bench distill_step [-- --steps N]` (default 12 timed steps after
//! 2 warm-up steps) prints `bench supervised small batch 128: model step median <img/s>
//! img/s (min <..>, max <..>, N steps; augmentation <x>% of the step)`. `just bench-distill`
//! runs it next to the PyTorch equivalent (`bench/supervised_step.py`) and prints the ratio.

mod common;

use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use rmd_data::augment::{ImageShape, Normalizer, Stream, crop_flip_batch};
use rmd_nn::distill::losses::{BaseLoss, one_hot};
use rmd_nn::models::{ClassifierConfig, ResNetConfig};
use std::time::Instant;

fn main() {
    let (_, steps) = common::args(12);
    // On a pool thread, as the stage binaries run.
    rmd_nn::backend::on_pool_thread(None, || bench(steps));
}

/// Times `steps` supervised steps after two warm-up steps and prints the spread.
fn bench(steps: usize) {
    let (batch, classes) = (128, 10);
    let device = Device::flex().autodiff();
    device.seed(1);
    let cfg = ClassifierConfig {
        backbone: ResNetConfig { stem_stride: 2, ..ResNetConfig::small(3, 32, 3, 1) },
        num_classes: classes,
        projection: vec![],
    };
    let mut model = cfg.init(&device);
    let mut optim = common::sgd();
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
    let spread = common::Spread::of(model_steps);
    let aug = aug_share.iter().sum::<f64>() / aug_share.len() as f64;
    println!(
        "bench supervised small batch {batch}: model step median {:.1} img/s (min {:.1}, max {:.1}, {steps} steps; augmentation {:.1}% of the step)",
        spread.median,
        spread.min,
        spread.max,
        100.0 * aug
    );
}
