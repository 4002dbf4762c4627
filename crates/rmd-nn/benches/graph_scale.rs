//! Neighbour-graph cost at scale: exact search against the IVF approximation on generated
//! embeddings with known classes.
//!
//! `cargo bench -p rmd-nn --bench graph_scale -- --n 100000 --index ivf [--d 128 --k 10
//! --classes 100 --separation 0.5 --lists L --probes P --recall-rows 1000 --seed 1]`
//! generates N unit rows from a mixture: each class has a random centre (entries of
//! standard deviation `--separation`) and a random 16-dimensional subspace of
//! within-class variation, plus isotropic noise (a low intrinsic dimension, as learned
//! embeddings have). It builds the graph with `--index exact` or `--index ivf` and prints
//! one line: seconds, recall@K against exact search on a seeded sample of rows, the
//! fraction of neighbours in the row's own class, and the process's peak resident memory.
//! Run one index per process so each peak is its own.

use burn::tensor::Device;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rmd_nn::relations::ivf::{IvfParams, ivf_top_k, sampled_recall};
use rmd_nn::relations::{exact_top_k, label_agreement};
use std::time::Instant;

mod search_common;
use search_common::{arg, peak_rss_mb};

/// `n` unit rows of dimension `d` from `classes` classes (labels `i % classes`).
fn mixture(n: usize, d: usize, classes: usize, separation: f32, seed: u64) -> (Vec<f32>, Vec<u16>) {
    const SUBSPACE: usize = 16;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut normal = |scale: f32| scale * rng.sample::<f32, _>(StandardNormal);
    let centres: Vec<f32> = (0..classes * d).map(|_| normal(separation)).collect();
    let bases: Vec<f32> = (0..classes * SUBSPACE * d).map(|_| normal(0.35)).collect();
    let mut emb = vec![0f32; n * d];
    let labels: Vec<u16> = (0..n).map(|i| (i % classes) as u16).collect();
    for (row, &c) in emb.chunks_mut(d).zip(&labels) {
        let c = c as usize;
        let z: Vec<f32> = (0..SUBSPACE).map(|_| normal(1.0)).collect();
        for (t, x) in row.iter_mut().enumerate() {
            *x = centres[c * d + t] + normal(0.1);
        }
        for (s, &zs) in z.iter().enumerate() {
            let basis = &bases[(c * SUBSPACE + s) * d..(c * SUBSPACE + s + 1) * d];
            row.iter_mut().zip(basis).for_each(|(x, b)| *x += zs * b);
        }
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        row.iter_mut().for_each(|x| *x /= norm);
    }
    (emb, labels)
}

fn main() {
    rmd_nn::host_memory::keep_freed_blocks();
    let args: Vec<String> = std::env::args().collect();
    let n: usize = arg(&args, "--n", 100_000);
    let d: usize = arg(&args, "--d", 128);
    let k: usize = arg(&args, "--k", 10);
    let classes: usize = arg(&args, "--classes", 100);
    let seed: u64 = arg(&args, "--seed", 1);
    let separation: f32 = arg(&args, "--separation", 0.5);
    let index: String = arg(&args, "--index", "ivf".to_string());
    let recall_rows: usize = arg(&args, "--recall-rows", 1000);
    let defaults = IvfParams::for_rows(n, seed);
    let params = IvfParams {
        lists: arg(&args, "--lists", defaults.lists),
        probes: arg(&args, "--probes", defaults.probes),
        iterations: arg(&args, "--iterations", defaults.iterations),
        seed,
    };
    let t = Instant::now();
    let (emb, labels) = mixture(n, d, classes, separation, seed);
    let generate = t.elapsed().as_secs_f64();
    let device = Device::flex();
    let t = Instant::now();
    let (graph, what) = match index.as_str() {
        "exact" => (exact_top_k(&emb, n, d, k, 1024, &device, |_| {}), "exact".to_string()),
        "ivf" => (
            ivf_top_k(&emb, n, d, k, &params, &device, |_| {}),
            format!("ivf lists {} probes {} iterations {}", params.lists, params.probes, params.iterations),
        ),
        other => panic!("--index {other}: exact or ivf"),
    };
    let seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let recall = sampled_recall(&emb, n, d, &graph, recall_rows, seed);
    let check = t.elapsed().as_secs_f64();
    println!(
        "graph n {n} d {d} k {k} {what}: {seconds:.1} s, recall@{k} {:.4} (worst row {:.2}, {} rows, checked in {check:.1} s), same-class neighbours {:.4}, peak memory {:.0} MB (data generated in {generate:.1} s)",
        recall.recall_at_k,
        recall.worst_row,
        recall.rows,
        label_agreement(&graph.dst, k, &labels),
        peak_rss_mb()
    );
}
