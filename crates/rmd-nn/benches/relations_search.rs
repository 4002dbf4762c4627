//! Exact top-K search cost against the machine's own matrix-multiply rate.
//!
//! `cargo bench -p rmd-nn --bench relations_search [-- --n 50000 --d 512 --k 10 --block 1024]`
//! times (1) the blocked similarity GEMM alone (the same block shapes, results copied back,
//! nothing selected) and (2) the full exact top-K search, on random L2-normalised
//! embeddings with the flex backend, and prints both, their ratio and the peak resident
//! memory of the process.

use burn::tensor::{Device, Tensor, TensorData};
use rmd_nn::relations::exact_top_k;
use std::time::Instant;

mod search_common;
use search_common::{arg, peak_rss_mb};

fn main() {
    // As the relations stage runs.
    rmd_nn::host_memory::keep_freed_blocks();
    let args: Vec<String> = std::env::args().collect();
    let (n, d, k, block) = (
        arg(&args, "--n", 50_000),
        arg(&args, "--d", 512),
        arg(&args, "--k", 10),
        arg(&args, "--block", 1024),
    );
    let device = Device::flex();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut emb: Vec<f32> = (0..n * d)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    for row in emb.chunks_mut(d) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        row.iter_mut().for_each(|x| *x /= norm);
    }
    let flop = 2.0 * n as f64 * n as f64 * d as f64;

    let t = Instant::now();
    let bank = Tensor::<2>::from_data(TensorData::new(emb.clone(), [n, d]), &device).transpose();
    let mut start = 0;
    let mut checksum = 0f64;
    while start < n {
        let rows = block.min(n - start);
        let q = Tensor::<2>::from_data(
            TensorData::new(emb[start * d..(start + rows) * d].to_vec(), [rows, d]),
            &device,
        );
        let sims = q.matmul(bank.clone()).into_data().try_to_vec::<f32>().unwrap();
        checksum += sims[0] as f64;
        start += rows;
    }
    let gemm = t.elapsed().as_secs_f64();
    drop(bank);

    let t = Instant::now();
    let top = exact_top_k(&emb, n, d, k, block, &device, |_| {});
    let search = t.elapsed().as_secs_f64();
    assert_eq!(top.dst.len(), n * k);
    println!(
        "bench relations n {n} d {d} k {k} block {block}: gemm {gemm:.1}s ({:.1} GFLOP/s), exact top-k {search:.1}s, \
         ratio {:.2}, peak memory {:.0} MB (checksum {checksum:.3})",
        flop / gemm / 1e9,
        search / gemm,
        peak_rss_mb()
    );
}
