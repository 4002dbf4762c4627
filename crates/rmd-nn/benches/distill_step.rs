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

use burn::tensor::Device;
use rmd_nn::models::{ClassifierConfig, ResNetConfig};
use rmd_nn::step_bench::{StepBenchConfig, StepNet};

fn main() {
    let (_, steps) = common::args(12);
    // On a pool thread, as the stage binaries run.
    rmd_nn::backend::on_pool_thread(None, || bench(steps));
}

/// Times `steps` supervised steps after two warm-up steps and prints the spread.
fn bench(steps: usize) {
    let batch = 128;
    let net = StepNet::Supervised(ClassifierConfig {
        backbone: ResNetConfig { stem_stride: 2, ..ResNetConfig::small(3, 32, 3, 1) },
        num_classes: 10,
        projection: vec![],
    });
    let cfg = StepBenchConfig { net, batch, steps, warmup: 2 };
    let t = rmd_nn::step_bench::run(&cfg, &Device::flex()).expect("the step bench runs on the CPU");
    println!(
        "bench supervised small batch {batch}: model step median {:.1} img/s (min {:.1}, max {:.1}, {steps} steps; augmentation {:.1}% of the step)",
        t.model.median,
        t.model.min,
        t.model.max,
        100.0 * t.augmentation_share
    );
}
