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

/// The K best entries of `row` other than `self_index`, sorted.
fn select_row(row: &[f32], self_index: usize, k: usize, dst: &mut [u32], sim: &mut [f32]) {
    let better = |a: &u32, b: &u32| row[*b as usize].total_cmp(&row[*a as usize]).then(a.cmp(b));
    let mut idx: Vec<u32> = (0..row.len() as u32).filter(|&j| j as usize != self_index).collect();
    idx.select_nth_unstable_by(k - 1, better);
    idx.truncate(k);
    idx.sort_unstable_by(better);
    for (slot, &j) in idx.iter().enumerate() {
        dst[slot] = j;
        sim[slot] = row[j as usize];
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
        let (n, d, k) = (97, 5, 6);
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
