//! Approximate top-K neighbour graphs for large N: an inverted-file index (IVF). Spherical
//! k-means splits the rows into `lists` cells; each row is scored exactly against the
//! members of the `probes` cells whose centroids are nearest to it, with the exact search's
//! dot-product kernel. The cost is about N · probes · N / lists dot products instead of N²,
//! and the graph is the exact one wherever a row's true neighbours lie in its probed cells.
//!
//! Deterministic for a seed: the k-means sample and initial centroids are drawn from the
//! seed, sums run in row order, and every row's search is independent of the others, so
//! the graph is the same bytes whatever the thread count. [`sampled_recall`] measures the
//! result against exact search on a seeded sample of rows.

use super::search::{COLUMNS, TopK, offer, offer_chunk, panels, tile_scores};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Parameters of an IVF graph (all part of the artifact key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IvfParams {
    /// Cells of the k-means partition.
    pub lists: usize,
    /// Cells each row is scored against (its `probes` nearest centroids).
    pub probes: usize,
    /// k-means iterations.
    pub iterations: usize,
    /// Seed of the k-means sample and initial centroids.
    pub seed: u64,
}

impl IvfParams {
    /// Default parameters for `n` rows: about 2·√N cells, 32 probed, 10 k-means iterations.
    pub fn for_rows(n: usize, seed: u64) -> Self {
        let lists = ((2.0 * (n as f64).sqrt()).round() as usize).clamp(1, n.max(1));
        IvfParams { lists, probes: 32.min(lists), iterations: 10, seed }
    }

    /// Checks the parameters against `n` rows.
    pub fn validate(&self, n: usize) -> Result<(), String> {
        if self.lists == 0 || self.lists > n {
            return Err(format!("--ivf-lists {} must be between 1 and the {n} samples", self.lists));
        }
        if self.probes == 0 || self.probes > self.lists {
            return Err(format!(
                "--ivf-probes {} must be between 1 and --ivf-lists {}",
                self.probes, self.lists
            ));
        }
        Ok(())
    }
}

/// Rows of the k-means sample per cell.
const SAMPLE_PER_LIST: usize = 64;
/// Rows per block when rows are scored against the centroids on the backend.
const CENTROID_BLOCK: usize = 4096;
/// Rows per unit of parallel search work (progress is reported after each block).
const SEARCH_BLOCK: usize = 8192;

/// The approximate top-K of every row of `emb` (`[n, d]`, L2-normalised) against all other
/// rows, sorted by similarity (descending), ties by index; `on_block` is called with the
/// number of rows done. Similarities are exact for the neighbours found.
pub fn ivf_top_k(
    emb: &[f32],
    n: usize,
    d: usize,
    k: usize,
    params: &IvfParams,
    device: &Device,
    mut on_block: impl FnMut(usize),
) -> TopK {
    assert!(k < n, "k must be smaller than the number of samples");
    params.validate(n).expect("valid IVF parameters");
    let centroids = kmeans(emb, n, d, params, device);
    let probed = nearest_centroids(emb, n, d, &centroids, params.lists, params.probes, device);
    let cells = Cells::new(emb, n, d, params.lists, &probed, params.probes, centroids);

    // Rows ordered by their home cell, so a block's rows share the cells they score.
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by_key(|&i| (probed[i as usize * params.probes], i));
    let mut dst = vec![0u32; n * k];
    let mut sim = vec![0f32; n * k];
    let mut done = 0;
    for block in order.chunks(SEARCH_BLOCK) {
        let found: Vec<Vec<(f32, u32)>> = block
            .par_iter()
            .map_init(
                || vec![0f32; cells.longest],
                |scores, &i| {
                    let i = i as usize;
                    let lists = &probed[i * params.probes..(i + 1) * params.probes];
                    let q = &emb[i * d..(i + 1) * d];
                    let mut best = Vec::with_capacity(k + 1);
                    cells.search(q, i, lists, k, false, scores, &mut best);
                    if best.len() < k {
                        // The probed cells hold fewer than K other rows: probe on, nearest
                        // centroid first, until K are found (K < N, so they are).
                        cells.search(q, i, &cells.ranked_beyond(q, lists), k, true, scores, &mut best);
                    }
                    best
                },
            )
            .collect();
        for (&i, best) in block.iter().zip(found) {
            let i = i as usize;
            for (slot, (s, j)) in best.into_iter().enumerate() {
                dst[i * k + slot] = j;
                sim[i * k + slot] = s;
            }
        }
        done += block.len();
        on_block(done);
    }
    TopK { k, dst, sim }
}

/// The rows of each cell, in index order, with their embeddings in the exact search's
/// panel layout (each cell starting on a panel boundary).
struct Cells {
    /// Row indices of cell `c`: `members[starts[c]..starts[c + 1]]`.
    members: Vec<u32>,
    starts: Vec<usize>,
    /// First panel of cell `c`.
    first_panel: Vec<usize>,
    bank: Vec<f32>,
    d: usize,
    /// Members of the largest cell.
    longest: usize,
    /// Unit-norm centroids, `[lists, d]`.
    centroids: Vec<f32>,
}

impl Cells {
    fn new(
        emb: &[f32],
        n: usize,
        d: usize,
        lists: usize,
        probed: &[u32],
        probes: usize,
        centroids: Vec<f32>,
    ) -> Self {
        let mut counts = vec![0usize; lists];
        for i in 0..n {
            counts[probed[i * probes] as usize] += 1;
        }
        let mut starts = vec![0usize; lists + 1];
        let mut first_panel = vec![0usize; lists + 1];
        for c in 0..lists {
            starts[c + 1] = starts[c] + counts[c];
            first_panel[c + 1] = first_panel[c] + counts[c].div_ceil(COLUMNS);
        }
        let mut members = vec![0u32; n];
        let mut fill = starts.clone();
        for i in 0..n {
            let c = probed[i * probes] as usize;
            members[fill[c]] = i as u32;
            fill[c] += 1;
        }
        let mut bank = vec![0f32; first_panel[lists] * COLUMNS * d];
        bank.par_chunks_mut(COLUMNS * d).enumerate().for_each(|(p, panel)| {
            let c = first_panel.partition_point(|&f| f <= p) - 1;
            let from = starts[c] + (p - first_panel[c]) * COLUMNS;
            let rows: Vec<f32> = members[from..starts[c + 1].min(from + COLUMNS)]
                .iter()
                .flat_map(|&j| emb[j as usize * d..(j as usize + 1) * d].iter().copied())
                .collect();
            panel.copy_from_slice(&panels(&rows, rows.len() / d, d)[..COLUMNS * d]);
        });
        let longest = counts.iter().copied().max().unwrap_or(0).div_ceil(COLUMNS) * COLUMNS;
        Cells { members, starts, first_panel, bank, d, longest, centroids }
    }

    /// Every cell not in `probed`, nearest centroid to `q` first (ties by index).
    fn ranked_beyond(&self, q: &[f32], probed: &[u32]) -> Vec<u32> {
        let lists = self.starts.len() - 1;
        let mut ranked: Vec<(f32, u32)> = (0..lists as u32)
            .filter(|c| !probed.contains(c))
            .map(|c| {
                let centroid = &self.centroids[c as usize * self.d..(c as usize + 1) * self.d];
                (q.iter().zip(centroid).map(|(a, b)| a * b).sum::<f32>(), c)
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.into_iter().map(|(_, c)| c).collect()
    }

    /// Offers the members of `lists` to `best`, the K best for query row `i` so far (itself
    /// excluded), sorted by similarity (descending), ties by index. With `until_full`, stops
    /// before the first cell that finds `best` already holding K.
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        q: &[f32],
        i: usize,
        lists: &[u32],
        k: usize,
        until_full: bool,
        scores: &mut [f32],
        best: &mut Vec<(f32, u32)>,
    ) {
        for &c in lists {
            if until_full && best.len() == k {
                break;
            }
            let c = c as usize;
            let members = &self.members[self.starts[c]..self.starts[c + 1]];
            let out = &mut scores[..members.len()];
            let panel0 = self.first_panel[c];
            let bank = &self.bank[panel0 * COLUMNS * self.d..self.first_panel[c + 1] * COLUMNS * self.d];
            tile_scores(q, bank, 0, out);
            for (chunk, ids) in out.chunks(COLUMNS).zip(members.chunks(COLUMNS)) {
                offer_chunk(best, k, chunk, ids.iter().copied(), i);
            }
        }
    }
}

/// Spherical k-means on a seeded sample of rows: `lists` unit-norm centroids, `[lists, d]`.
fn kmeans(emb: &[f32], n: usize, d: usize, params: &IvfParams, device: &Device) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut rows: Vec<u32> = (0..n as u32).collect();
    rows.shuffle(&mut rng);
    let mut sample: Vec<u32> = rows[..n.min(params.lists * SAMPLE_PER_LIST)].to_vec();
    // The first `lists` of the shuffled sample start the centroids.
    let mut centroids: Vec<f32> = sample[..params.lists]
        .iter()
        .flat_map(|&i| emb[i as usize * d..(i as usize + 1) * d].to_vec())
        .collect();
    sample.sort_unstable();
    let sample_emb: Vec<f32> =
        sample.iter().flat_map(|&i| emb[i as usize * d..(i as usize + 1) * d].iter().copied()).collect();
    for _ in 0..params.iterations {
        let nearest = nearest_centroids(&sample_emb, sample.len(), d, &centroids, params.lists, 1, device);
        let mut sums = vec![0f64; params.lists * d];
        let mut counts = vec![0usize; params.lists];
        for (r, &c) in nearest.iter().enumerate() {
            let c = c as usize;
            counts[c] += 1;
            for (acc, &v) in sums[c * d..(c + 1) * d].iter_mut().zip(&sample_emb[r * d..(r + 1) * d]) {
                *acc += v as f64;
            }
        }
        for c in 0..params.lists {
            let sum = &sums[c * d..(c + 1) * d];
            let norm = sum.iter().map(|x| x * x).sum::<f64>().sqrt();
            // An empty (or degenerate) cell keeps its centroid.
            if counts[c] > 0 && norm > 0.0 {
                for (out, &v) in centroids[c * d..(c + 1) * d].iter_mut().zip(sum) {
                    *out = (v / norm) as f32;
                }
            }
        }
    }
    centroids
}

/// For each row of `emb`, the indices of its `probes` most similar centroids (descending,
/// ties by index), row-major `[n, probes]`.
fn nearest_centroids(
    emb: &[f32],
    n: usize,
    d: usize,
    centroids: &[f32],
    lists: usize,
    probes: usize,
    device: &Device,
) -> Vec<u32> {
    let bank = Tensor::<2>::from_data(TensorData::new(centroids.to_vec(), [lists, d]), device).transpose();
    let mut out = vec![0u32; n * probes];
    for (b, rows) in out.chunks_mut(CENTROID_BLOCK * probes).enumerate() {
        let start = b * CENTROID_BLOCK;
        let count = rows.len() / probes;
        let q = Tensor::<2>::from_data(
            TensorData::new(emb[start * d..(start + count) * d].to_vec(), [count, d]),
            device,
        );
        let sims = q.matmul(bank.clone()).into_data().try_to_vec::<f32>().expect("f32 similarities");
        rows.par_chunks_mut(probes).zip(sims.par_chunks(lists)).for_each(|(row, s)| {
            let mut best: Vec<(f32, u32)> = Vec::with_capacity(probes + 1);
            for (c, &v) in s.iter().enumerate() {
                offer(&mut best, probes, v, c as u32);
            }
            for (slot, (_, c)) in row.iter_mut().zip(best) {
                *slot = c;
            }
        });
    }
    out
}

/// Recall of an approximate graph against exact search on a sample of rows.
#[derive(Debug, Clone, Serialize)]
pub struct Recall {
    /// Rows checked (seeded sample without replacement).
    pub rows: usize,
    /// Mean over the sampled rows of the fraction of their K neighbours that are among the
    /// exact top K (a neighbour tied with the exact K-th similarity counts as found).
    pub recall_at_k: f64,
    /// The lowest recall of a sampled row.
    pub worst_row: f64,
    /// Seed of the sample.
    pub seed: u64,
}

/// Measures `graph` against exact search (the same dot-product kernel) on `rows` rows of
/// `emb` drawn with `seed`.
pub fn sampled_recall(emb: &[f32], n: usize, d: usize, graph: &TopK, rows: usize, seed: u64) -> Recall {
    let k = graph.k;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7265_6361_6c6c);
    let mut all: Vec<u32> = (0..n as u32).collect();
    all.shuffle(&mut rng);
    let mut sample = all[..rows.min(n)].to_vec();
    sample.sort_unstable();
    let bank = panels(emb, n, d);
    let per_row: Vec<f64> = sample
        .par_iter()
        .map_init(
            || vec![0f32; n.div_ceil(COLUMNS) * COLUMNS],
            |scores, &i| {
                let i = i as usize;
                let out = &mut scores[..n];
                tile_scores(&emb[i * d..(i + 1) * d], &bank, 0, out);
                let mut best: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
                offer_chunk(&mut best, k, out, 0.., i);
                let kth = best[k - 1].0;
                let found = graph.dst[i * k..(i + 1) * k]
                    .iter()
                    .filter(|&&j| j as usize != i && out[j as usize] >= kth)
                    .count();
                found as f64 / k as f64
            },
        )
        .collect();
    let recall_at_k = per_row.iter().sum::<f64>() / per_row.len().max(1) as f64;
    let worst_row = per_row.iter().copied().fold(1.0, f64::min);
    Recall { rows: sample.len(), recall_at_k, worst_row, seed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relations::exact_top_k;

    /// Unit rows around `classes` random centres.
    fn clustered(n: usize, d: usize, classes: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let centres: Vec<f32> = (0..classes * d).map(|_| next()).collect();
        let mut emb = vec![0f32; n * d];
        for (i, row) in emb.chunks_mut(d).enumerate() {
            let c = i % classes;
            for (t, x) in row.iter_mut().enumerate() {
                *x = centres[c * d + t] + 0.3 * next();
            }
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            row.iter_mut().for_each(|x| *x /= norm);
        }
        emb
    }

    #[test]
    fn probing_every_cell_is_the_exact_graph() {
        let (n, d, k) = (700, 40, 7);
        let emb = clustered(n, d, 9, 3);
        let exact = exact_top_k(&emb, n, d, k, 256, &Device::flex(), |_| {});
        let params = IvfParams { lists: 12, probes: 12, iterations: 5, seed: 1 };
        let got = ivf_top_k(&emb, n, d, k, &params, &Device::flex(), |_| {});
        assert_eq!(got.dst, exact.dst);
        let r = sampled_recall(&emb, n, d, &got, 200, 9);
        assert_eq!((r.rows, r.recall_at_k, r.worst_row), (200, 1.0, 1.0));
    }

    #[test]
    fn few_probes_are_approximate_deterministic_and_measured() {
        let (n, d, k) = (3000, 48, 10);
        let emb = clustered(n, d, 30, 5);
        let params = IvfParams { lists: 60, probes: 3, iterations: 8, seed: 2 };
        let mut calls = 0;
        let a = ivf_top_k(&emb, n, d, k, &params, &Device::flex(), |_| calls += 1);
        assert_eq!(calls, n.div_ceil(SEARCH_BLOCK));
        let b = ivf_top_k(&emb, n, d, k, &params, &Device::flex(), |_| {});
        assert_eq!((&a.dst, &a.sim), (&b.dst, &b.sim), "same seed, same graph");
        for i in 0..n {
            let row = &a.dst[i * k..(i + 1) * k];
            assert!(!row.contains(&(i as u32)), "no self edges");
            assert!(a.sim[i * k..(i + 1) * k].windows(2).all(|w| w[0] >= w[1]), "sorted");
        }
        let r = sampled_recall(&emb, n, d, &a, 300, 1);
        assert!(r.recall_at_k > 0.6 && r.recall_at_k <= 1.0, "{r:?}");
        // One probe of many cells misses neighbours: the measurement must see it.
        let one = IvfParams { lists: 300, probes: 1, iterations: 8, seed: 2 };
        let worse = ivf_top_k(&emb, n, d, k, &one, &Device::flex(), |_| {});
        let r1 = sampled_recall(&emb, n, d, &worse, 300, 1);
        assert!(r1.recall_at_k < r.recall_at_k, "{r1:?} vs {r:?}");
    }

    #[test]
    fn rows_in_cells_smaller_than_k_still_get_k_distinct_neighbours() {
        let (n, d, k) = (200, 16, 9);
        let emb = clustered(n, d, 4, 7);
        // 100 cells of about two rows, one probed: most rows must probe on.
        let params = IvfParams { lists: 100, probes: 1, iterations: 3, seed: 3 };
        let got = ivf_top_k(&emb, n, d, k, &params, &Device::flex(), |_| {});
        for i in 0..n {
            let mut row = got.dst[i * k..(i + 1) * k].to_vec();
            assert!(!row.contains(&(i as u32)), "row {i}: no self edge in {row:?}");
            row.sort_unstable();
            row.dedup();
            assert_eq!(row.len(), k, "row {i}: {k} distinct neighbours");
        }
    }

    #[test]
    fn parameters_are_checked() {
        assert!(IvfParams { lists: 0, probes: 1, iterations: 1, seed: 0 }.validate(10).is_err());
        assert!(IvfParams { lists: 11, probes: 1, iterations: 1, seed: 0 }.validate(10).is_err());
        assert!(IvfParams { lists: 4, probes: 5, iterations: 1, seed: 0 }.validate(10).is_err());
        assert!(IvfParams::for_rows(10, 0).validate(10).is_ok());
        assert_eq!(IvfParams::for_rows(1_000_000, 0).lists, 2000);
    }
}
