//! SimSiam training throughput on the CPU backend: images per second for one full training
//! step (two augmented views, forward, backward, SGD update) at batch 128.
//!
//! `cargo bench -p rmd-nn --bench pretrain_step [-- small|resnet18|all] [--steps N]`
//! (default 12 timed steps after 2 warm-up steps; ResNet-18 at most 3) prints one line per
//! network: `bench simsiam <net> batch 128: <img/s> img/s with augmentation (<x>% of the
//! step); model step alone median <img/s> img/s (min .., max .., N steps)`. `just bench-pretrain` runs it next to
//! the PyTorch equivalent (`bench/simsiam_step.py`) and prints the ratio of the model steps.

mod common;

use burn::tensor::Device;
use rmd_nn::models::{ResNetConfig, SimSiamConfig};
use rmd_nn::step_bench::{StepBenchConfig, StepNet};

fn bench(name: &str, cfg: SimSiamConfig, batch: usize, steps: usize) {
    let cfg = StepBenchConfig { net: StepNet::SimSiam(cfg), batch, steps, warmup: 2 };
    let t = rmd_nn::step_bench::run(&cfg, &Device::flex()).expect("the step bench runs on the CPU");
    println!(
        "bench simsiam {name} batch {batch}: {:.1} img/s with augmentation ({:.1}% of the step); model step alone median {:.1} img/s (min {:.1}, max {:.1}, {steps} steps)",
        t.with_augmentation.median,
        100.0 * t.augmentation_share,
        t.model.median,
        t.model.min,
        t.model.max,
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
