//! SimSiam training throughput on the CPU backend: images per second for one full training
//! step (two augmented views, forward, backward, SGD update) at batch 128.
//!
//! `cargo bench -p rmd-nn --bench pretrain_step [-- small|resnet18|all] [--steps N]`
//! (default 12 timed steps after 2 warm-up steps; ResNet-18 at most 3) prints one line per
//! network: `bench simsiam <net> batch 128: <img/s> img/s with augmentation (<x>% of the
//! step); model step alone median <img/s> img/s (min .., max .., N steps)`. `just bench-pretrain` runs it next to
//! the PyTorch equivalent (`bench/simsiam_step.py`) and prints the ratio of the model steps.

mod common;

use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use rmd_data::augment::{ImageShape, Normalizer, SimSiamAugment, Stream, simsiam_batch};
use rmd_nn::models::{ResNetConfig, SimSiamConfig};
use std::time::Instant;

fn bench(name: &str, cfg: SimSiamConfig, batch: usize, steps: usize) {
    let device = Device::flex().autodiff();
    device.seed(1);
    let mut model = cfg.init(&device);
    let mut optim = common::sgd();
    let shape = ImageShape { channels: 3, height: 32, width: 32 };
    let images: Vec<u8> = (0..batch * shape.len()).map(|i| ((i * 2654435761usize) >> 13) as u8).collect();
    let idx: Vec<u32> = (0..batch as u32).collect();
    let norm = Normalizer::from_images(&images, 3, 1024);
    let aug = SimSiamAugment::default();
    let mut model_rates = Vec::new();
    let mut step_rates = Vec::new();
    let mut aug_share = Vec::new();
    for step in 0..steps + 2 {
        let t0 = Instant::now();
        let v1 =
            simsiam_batch(&images, &idx, shape, &aug, &norm, Stream { seed: 1, epoch: step as u64, view: 0 });
        let v2 =
            simsiam_batch(&images, &idx, shape, &aug, &norm, Stream { seed: 1, epoch: step as u64, view: 1 });
        let t_aug = t0.elapsed().as_secs_f64();
        let dims = [batch, 3, 32, 32];
        let x1 = Tensor::<4>::from_data(TensorData::new(v1, dims), &device);
        let x2 = Tensor::<4>::from_data(TensorData::new(v2, dims), &device);
        let loss = model.loss(x1, x2);
        let _ = loss.clone().into_data();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.05, model, grads);
        let total = t0.elapsed().as_secs_f64();
        // The first two steps warm up allocators and caches.
        if step >= 2 {
            step_rates.push(batch as f64 / total);
            model_rates.push(batch as f64 / (total - t_aug));
            aug_share.push(t_aug / total);
        }
    }
    let step = common::Spread::of(step_rates);
    let model_step = common::Spread::of(model_rates);
    println!(
        "bench simsiam {name} batch {batch}: {:.1} img/s with augmentation ({:.1}% of the step); model step alone median {:.1} img/s (min {:.1}, max {:.1}, {steps} steps)",
        step.median,
        100.0 * aug_share.iter().sum::<f64>() / aug_share.len() as f64,
        model_step.median,
        model_step.min,
        model_step.max,
    );
}

fn main() {
    let (args, steps) = common::args(12);
    // On a pool thread, as the stage binaries run. `--one-thread` (for bench/profile.sh)
    // makes it a one-thread pool, so every op runs inline on it and each sample's call
    // stack shows which layer and pass asked for the work.
    let threads = args.iter().any(|a| a == "--one-thread").then_some(1);
    rmd_nn::backend::on_pool_thread(threads, || run(&args, steps));
}

/// Runs the benches `args` name (`small`, `resnet18`, `all`, or `RMD_BENCH_ARCH`).
fn run(args: &[String], steps: usize) {
    let which = args
        .iter()
        .find(|a| !a.starts_with("--") && a.parse::<usize>().is_err())
        .cloned()
        .unwrap_or("all".into());
    let cpu_profile = rmd_nn::Profile::Cpu.pretrain_params(3, 1).model;
    // RMD_BENCH_ARCH=width:stages:blocks:stem_stride:proj_dim:pred_hidden:batch tries a variant.
    if let Ok(spec) = std::env::var("RMD_BENCH_ARCH") {
        let v: Vec<usize> = spec.split(':').map(|x| x.parse().expect("numbers")).collect();
        let mut encoder = ResNetConfig::small(3, v[0], v[1], v[2]);
        encoder.stem_stride = v[3];
        let cfg = SimSiamConfig { encoder, proj_dim: v[4], proj_layers: 2, pred_hidden: v[5] };
        bench(&format!("custom {spec}"), cfg, v[6], steps);
        return;
    }
    if which == "small" || which == "all" {
        bench("small (cpu profile)", cpu_profile, 128, steps);
    }
    if which == "resnet18" || which == "all" {
        let cfg = SimSiamConfig {
            encoder: ResNetConfig::resnet18(3),
            proj_dim: 2048,
            proj_layers: 3,
            pred_hidden: 512,
        };
        bench("resnet18 (paper profile)", cfg, 128, steps.min(3));
    }
}
