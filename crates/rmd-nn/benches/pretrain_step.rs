//! SimSiam training throughput on the CPU backend: images per second for one full training
//! step (two augmented views, forward, backward, SGD update) at batch 128.
//!
//! `cargo bench -p rmd-nn --bench pretrain_step [-- small|resnet18|all] [--steps N]`
//! prints one line per network: `bench simsiam <net> batch 128: <img/s> img/s (<ms> ms/step,
//! augmentation <x>%; model step alone <img/s> img/s)`. `just bench-pretrain` runs it next to
//! the PyTorch equivalent (`bench/simsiam_step.py`) and prints the ratio of the model steps.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Tensor, TensorData};
use rmd_data::augment::{ImageShape, Normalizer, SimSiamAugment, Stream, simsiam_batch};
use rmd_nn::models::{ResNetConfig, SimSiamConfig};
use std::time::Instant;

fn bench(name: &str, cfg: SimSiamConfig, batch: usize, steps: usize) {
    let device = Device::flex().autodiff();
    device.seed(1);
    let mut model = cfg.init(&device);
    let mut optim = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(0.9).with_dampening(0.0)))
        .with_weight_decay(Some(WeightDecayConfig::new(5e-4)))
        .init();
    let shape = ImageShape { channels: 3, height: 32, width: 32 };
    let images: Vec<u8> = (0..batch * shape.len()).map(|i| ((i * 2654435761usize) >> 13) as u8).collect();
    let idx: Vec<u32> = (0..batch as u32).collect();
    let norm = Normalizer::from_images(&images, 3, 1024);
    let aug = SimSiamAugment::default();
    let mut aug_secs = 0.0;
    let mut timed = 0.0;
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
        // The first two steps warm up allocators and caches.
        if step >= 2 {
            timed += t0.elapsed().as_secs_f64();
            aug_secs += t_aug;
        }
    }
    let per_step = timed / steps as f64;
    let model_step = (timed - aug_secs) / steps as f64;
    println!(
        "bench simsiam {name} batch {batch}: {:.1} img/s ({:.0} ms/step, augmentation {:.1}%; model step alone {:.1} img/s)",
        batch as f64 / per_step,
        per_step * 1000.0,
        100.0 * aug_secs / timed,
        batch as f64 / model_step
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let which = args
        .iter()
        .find(|a| !a.starts_with("--") && a.parse::<usize>().is_err())
        .cloned()
        .unwrap_or("all".into());
    let steps = args
        .iter()
        .position(|a| a == "--steps")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
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
