//! Exact top-K neighbour search by cosine similarity, in row blocks so memory stays bounded
//! (never the full N×N matrix): each block of queries is multiplied with the whole bank on
//! the backend, then each row's K best are selected on the CPU.

use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

/// Each sample's K nearest other samples: `dst[i*k..(i+1)*k]` and their similarities,
/// sorted by similarity (descending), ties by index.
#[derive(Debug, Clone, PartialEq)]
pub struct TopK {
    /// Neighbours per sample.
    pub k: usize,
    /// Neighbour indices, row-major `[n, k]`.
    pub dst: Vec<u32>,
    /// Cosine similarities, row-major `[n, k]`.
    pub sim: Vec<f32>,
}

/// Exact top-K of every row of `emb` (`[n, d]`, L2-normalised) against all other rows.
/// `on_block` is called with the number of rows done after each block.
pub fn exact_top_k(
    emb: &[f32],
    n: usize,
    d: usize,
    k: usize,
    block: usize,
    device: &Device,
    mut on_block: impl FnMut(usize),
) -> TopK {
    assert!(k < n, "k must be smaller than the number of samples");
    if d <= FUSED_MAX_DIM {
        return fused_top_k(emb, n, d, k, block, on_block);
    }
    let bank = Tensor::<2>::from_data(TensorData::new(emb.to_vec(), [n, d]), device).transpose();
    let mut dst = vec![0u32; n * k];
    let mut sim = vec![0f32; n * k];
    let mut start = 0;
    while start < n {
        let rows = block.min(n - start);
        let q = Tensor::<2>::from_data(
            TensorData::new(emb[start * d..(start + rows) * d].to_vec(), [rows, d]),
            device,
        );
        let sims = q.matmul(bank.clone()).into_data().try_to_vec::<f32>().expect("f32 similarities");
        dst[start * k..(start + rows) * k]
            .par_chunks_mut(k)
            .zip(sim[start * k..(start + rows) * k].par_chunks_mut(k))
            .enumerate()
            .for_each(|(r, (dst_row, sim_row))| {
                let i = start + r;
                let row = &sims[r * n..(r + 1) * n];
                select_row(row, i, k, dst_row, sim_row);
            });
        start += rows;
        on_block(start);
    }
    TopK { k, dst, sim }
}

/// Up to this dimension, similarities are computed inside the selection loop on the CPU:
/// a GEMM with a tiny inner dimension is bound by writing its N×block output (measured for
/// d = 16, N = 50k: 0.45 s GEMM + 0.17 s copy + 0.27 s selection per 1024-row block).
pub const FUSED_MAX_DIM: usize = 32;

/// Exact top-K with the dot products fused into the selection (small `d`).
fn fused_top_k(
    emb: &[f32],
    n: usize,
    d: usize,
    k: usize,
    block: usize,
    mut on_block: impl FnMut(usize),
) -> TopK {
    let mut dst = vec![0u32; n * k];
    let mut sim = vec![0f32; n * k];
    let mut start = 0;
    while start < n {
        let rows = block.min(n - start);
        dst[start * k..(start + rows) * k]
            .par_chunks_mut(k)
            .zip(sim[start * k..(start + rows) * k].par_chunks_mut(k))
            .enumerate()
            .for_each(|(r, (dst_row, sim_row))| {
                let i = start + r;
                let q = &emb[i * d..(i + 1) * d];
                let row: Vec<f32> = emb.chunks_exact(d).map(|e| dot(q, e)).collect();
                select_row(&row, i, k, dst_row, sim_row);
            });
        start += rows;
        on_block(start);
    }
    TopK { k, dst, sim }
}

/// Dot product in eight independent lanes, so the compiler can use SIMD (a plain float sum
/// must keep its order and stays scalar).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let full = a.len() / 8 * 8;
    for (ca, cb) in a[..full].chunks_exact(8).zip(b[..full].chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += ca[l] * cb[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for t in full..a.len() {
        s += a[t] * b[t];
    }
    s
}

/// The K best entries of `row` other than `self_index`, sorted by similarity (descending),
/// ties by index. One pass with a sorted buffer of K: most entries fail the comparison with
/// the current K-th best and cost one compare.
fn select_row(row: &[f32], self_index: usize, k: usize, dst: &mut [u32], sim: &mut [f32]) {
    use std::cmp::Ordering::Greater;
    let mut best: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
    for (j, &s) in row.iter().enumerate() {
        if j == self_index || (best.len() == k && s.total_cmp(&best[k - 1].0) != Greater) {
            continue;
        }
        // Scanning j upwards, an equal similarity already in the buffer has the smaller index
        // and stays in front.
        let pos = best.iter().position(|b| s.total_cmp(&b.0) == Greater).unwrap_or(best.len());
        best.insert(pos, (s, j as u32));
        best.truncate(k);
    }
    for (slot, (s, j)) in best.into_iter().enumerate() {
        dst[slot] = j;
        sim[slot] = s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(emb: &[f32], n: usize, d: usize, k: usize) -> Vec<Vec<u32>> {
        (0..n)
            .map(|i| {
                let mut s: Vec<(f32, u32)> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| ((0..d).map(|t| emb[i * d + t] * emb[j * d + t]).sum(), j as u32))
                    .collect();
                s.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                s.into_iter().take(k).map(|x| x.1).collect()
            })
            .collect()
    }

    #[test]
    fn blocked_search_matches_brute_force() {
        // d = 5 takes the fused CPU path, d = 40 the GEMM path.
        for d in [5, FUSED_MAX_DIM + 8] {
            check_against_brute_force(d);
        }
    }

    #[test]
    fn exact_ties_are_broken_by_index_on_both_paths() {
        // Rows are one of three one-hot vectors: similarities are exactly 1 or 0, so every
        // neighbour list is decided by the tie rule alone.
        for d in [5, FUSED_MAX_DIM + 8] {
            let n = 12;
            let mut emb = vec![0f32; n * d];
            for i in 0..n {
                emb[i * d + i % 3] = 1.0;
            }
            let got = exact_top_k(&emb, n, d, 5, 4, &Device::flex(), |_| {});
            assert_eq!(&got.dst[..5], &[3, 6, 9, 1, 2], "row 0, d {d}");
            assert_eq!(&got.sim[..5], &[1.0, 1.0, 1.0, 0.0, 0.0], "row 0, d {d}");
            assert_eq!(&got.dst[7 * 5..8 * 5], &[1, 4, 10, 0, 2], "row 7, d {d}");
            assert_eq!(&got.dst[11 * 5..12 * 5], &[2, 5, 8, 0, 1], "row 11, d {d}");
        }
    }

    fn check_against_brute_force(d: usize) {
        let (n, k) = (97, 6);
        let mut emb: Vec<f32> = (0..n * d).map(|i| (((i * 7919) % 101) as f32 / 50.0) - 1.0).collect();
        for r in emb.chunks_mut(d) {
            let norm = r.iter().map(|x| x * x).sum::<f32>().sqrt();
            r.iter_mut().for_each(|x| *x /= norm);
        }
        let mut calls = 0;
        let got = exact_top_k(&emb, n, d, k, 10, &Device::flex(), |_| calls += 1);
        assert_eq!(calls, 10);
        let want = brute(&emb, n, d, k);
        for i in 0..n {
            let row = &got.dst[i * k..(i + 1) * k];
            assert!(!row.contains(&(i as u32)), "no self edges");
            assert!(got.sim[i * k..(i + 1) * k].windows(2).all(|w| w[0] >= w[1]), "sorted");
            // Similarities agree with brute force (indices may swap on near-ties).
            for (slot, &j) in want[i].iter().enumerate() {
                let s: f32 = (0..d).map(|t| emb[i * d + t] * emb[j as usize * d + t]).sum();
                assert!((s - got.sim[i * k + slot]).abs() < 1e-5);
            }
        }
    }
}
