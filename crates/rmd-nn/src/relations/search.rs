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

/// Bank columns per tile of the fused search: a tile of the bank's panels (d × 1024 floats,
/// 128 KiB at d = 32) stays in cache while a tile of queries is scored against it.
const BANK_TILE: usize = 1024;
// A tile starts on a panel boundary.
const _: () = assert!(BANK_TILE.is_multiple_of(COLUMNS));
/// Queries scored against one bank tile before moving to the next.
const QUERY_TILE: usize = 16;

/// Exact top-K with the dot products fused into the selection (small `d`). The bank is laid
/// out in [`panels`] of [`COLUMNS`] columns, so a query is scored against eight columns at
/// once with every partial sum in registers, and no row of N similarities is ever
/// materialised. The sums are added in the order of a plain eight-lane dot product (eight
/// lanes, then the lanes in order, then the tail; see [`panel_scores`]), so the
/// similarities, and hence the graph, are those of scoring each pair with it, bit for bit.
fn fused_top_k(
    emb: &[f32],
    n: usize,
    d: usize,
    k: usize,
    block: usize,
    mut on_block: impl FnMut(usize),
) -> TopK {
    let bank = panels(emb, n, d);
    let mut dst = vec![0u32; n * k];
    let mut sim = vec![0f32; n * k];
    let mut start = 0;
    while start < n {
        let rows = block.min(n - start);
        dst[start * k..(start + rows) * k]
            .par_chunks_mut(k * QUERY_TILE)
            .zip(sim[start * k..(start + rows) * k].par_chunks_mut(k * QUERY_TILE))
            .enumerate()
            .for_each(|(tile, (dst_tile, sim_tile))| {
                let first = start + tile * QUERY_TILE;
                let queries = dst_tile.len() / k;
                let mut best: Vec<Vec<(f32, u32)>> = vec![Vec::with_capacity(k + 1); queries];
                let mut scores = vec![0f32; BANK_TILE];
                for c0 in (0..n).step_by(BANK_TILE) {
                    let w = BANK_TILE.min(n - c0);
                    for (qi, best) in best.iter_mut().enumerate() {
                        let i = first + qi;
                        let q = &emb[i * d..(i + 1) * d];
                        tile_scores(q, &bank, c0, &mut scores[..w]);
                        for (o, chunk) in scores[..w].chunks(COLUMNS).enumerate() {
                            let first = (c0 + o * COLUMNS) as u32;
                            offer_chunk(best, k, chunk, first.., i);
                        }
                    }
                }
                for (qi, best) in best.into_iter().enumerate() {
                    for (slot, (s, j)) in best.into_iter().enumerate() {
                        dst_tile[qi * k + slot] = j;
                        sim_tile[qi * k + slot] = s;
                    }
                }
            });
        start += rows;
        on_block(start);
    }
    TopK { k, dst, sim }
}

/// Scores of query `q` against bank columns `c0..c0 + out.len()` (`c0` on a panel
/// boundary), one panel at a time: with AVX when the CPU has it (chosen at run time, so
/// the default build runs everywhere), the same sums in the same order either way.
pub(super) fn tile_scores(q: &[f32], bank: &[f32], c0: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU supports AVX (checked just above).
        unsafe { avx::tile_scores(q, bank, c0, out) };
        return;
    }
    tile_scores_portable(q, bank, c0, out);
}

/// [`tile_scores`] with [`panel_scores`]: plain Rust, whatever the CPU.
fn tile_scores_portable(q: &[f32], bank: &[f32], c0: usize, out: &mut [f32]) {
    let d = q.len();
    for (v, chunk) in out.chunks_mut(COLUMNS).enumerate() {
        let panel = c0 / COLUMNS + v;
        let s = panel_scores(q, &bank[panel * d * COLUMNS..(panel + 1) * d * COLUMNS]);
        chunk.copy_from_slice(&s[..chunk.len()]);
    }
}

/// Columns per panel of the bank: eight lanes of eight columns fit the registers.
pub(super) const COLUMNS: usize = 8;

/// The bank in panels of [`COLUMNS`] columns: panel `p` holds, for each dimension `t`, the
/// values of columns `p * COLUMNS ..` (zero past the last column), contiguously.
pub(super) fn panels(emb: &[f32], n: usize, d: usize) -> Vec<f32> {
    let n_panels = n.div_ceil(COLUMNS);
    let mut out = vec![0f32; n_panels * d * COLUMNS];
    for (j, row) in emb.chunks_exact(d).enumerate() {
        let (p, c) = (j / COLUMNS, j % COLUMNS);
        for (t, &v) in row.iter().enumerate() {
            out[(p * d + t) * COLUMNS + c] = v;
        }
    }
    out
}

/// Scores of `q` against one panel's columns, summed as an eight-lane dot product sums:
/// lane `l` accumulates dimensions `l, l + 8, …` below the last multiple of 8 (starting
/// from +0.0), the lanes are added in order, then the remaining dimensions one by one. No
/// fused multiply-add: each product is rounded before it is added. (A lane sum is never
/// -0.0, so adding the lanes from any zero gives the same bits.)
#[inline(always)]
fn panel_scores(q: &[f32], panel: &[f32]) -> [f32; COLUMNS] {
    let d = q.len();
    let full = d / 8 * 8;
    let at = |t: usize| -> &[f32; COLUMNS] {
        panel[t * COLUMNS..(t + 1) * COLUMNS].try_into().expect("panel row")
    };
    let mut s = [0f32; COLUMNS];
    if full > 0 {
        let mut acc = [[0f32; COLUMNS]; 8];
        for (l, lane) in acc.iter_mut().enumerate() {
            let b = at(l);
            for c in 0..COLUMNS {
                lane[c] = 0.0 + q[l] * b[c];
            }
        }
        for base in (8..full).step_by(8) {
            for (l, lane) in acc.iter_mut().enumerate() {
                let b = at(base + l);
                for c in 0..COLUMNS {
                    lane[c] += q[base + l] * b[c];
                }
            }
        }
        s = acc[0];
        for lane in &acc[1..] {
            for c in 0..COLUMNS {
                s[c] += lane[c];
            }
        }
    }
    for (t, &qt) in q.iter().enumerate().skip(full) {
        let b = at(t);
        for c in 0..COLUMNS {
            s[c] += qt * b[c];
        }
    }
    s
}

/// [`panel_scores`] with eight-column AVX registers: one register per lane of the eight-lane
/// dot product, multiplies and adds rounded separately (no fused multiply-add), lanes added
/// in order, then the tail: the portable path's sums, bit for bit.
#[cfg(target_arch = "x86_64")]
mod avx {
    use super::COLUMNS;
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_set1_ps, _mm256_setzero_ps,
        _mm256_storeu_ps,
    };

    /// See [`super::tile_scores`].
    ///
    /// # Safety
    /// The CPU must support AVX.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn tile_scores(q: &[f32], bank: &[f32], c0: usize, out: &mut [f32]) {
        let d = q.len();
        let full = d / 8 * 8;
        for (v, chunk) in out.chunks_mut(COLUMNS).enumerate() {
            let panel = &bank[(c0 / COLUMNS + v) * d * COLUMNS..(c0 / COLUMNS + v + 1) * d * COLUMNS];
            // Row `t` of the panel: the eight columns' values in dimension `t`.
            let row = |t: usize| -> __m256 {
                let r: &[f32; COLUMNS] = panel[t * COLUMNS..(t + 1) * COLUMNS].try_into().expect("panel row");
                // SAFETY: `r` holds eight floats.
                unsafe { _mm256_loadu_ps(r.as_ptr()) }
            };
            let term = |t: usize| _mm256_mul_ps(_mm256_set1_ps(q[t]), row(t));
            let mut s = _mm256_setzero_ps();
            if full > 0 {
                let mut acc = [_mm256_setzero_ps(); 8];
                for (l, lane) in acc.iter_mut().enumerate() {
                    *lane = _mm256_add_ps(_mm256_setzero_ps(), term(l));
                }
                for base in (8..full).step_by(8) {
                    for (l, lane) in acc.iter_mut().enumerate() {
                        *lane = _mm256_add_ps(*lane, term(base + l));
                    }
                }
                s = acc[0];
                for lane in &acc[1..] {
                    s = _mm256_add_ps(s, *lane);
                }
            }
            for t in full..d {
                s = _mm256_add_ps(s, term(t));
            }
            let mut scores = [0f32; COLUMNS];
            // SAFETY: `scores` holds eight floats.
            unsafe { _mm256_storeu_ps(scores.as_mut_ptr(), s) };
            chunk.copy_from_slice(&scores[..chunk.len()]);
        }
    }
}

/// Offers the candidates `ids` with similarities `chunk` (one panel's worth) to `best`,
/// skipping `self_index`. Most chunks hold nothing above the current K-th best: one
/// branch-free test skips them (a value below it in `<` is below it in `total_cmp` too, so
/// nothing [`offer`] keeps is skipped).
#[inline]
pub(super) fn offer_chunk(
    best: &mut Vec<(f32, u32)>,
    k: usize,
    chunk: &[f32],
    ids: impl IntoIterator<Item = u32>,
    self_index: usize,
) {
    if best.len() == k {
        let kth = best[k - 1].0;
        if chunk.iter().fold(true, |all, &s| all & (s < kth)) {
            return;
        }
    }
    for (&s, j) in chunk.iter().zip(ids) {
        if j as usize != self_index {
            offer(best, k, s, j);
        }
    }
}

/// Keeps the `k` best `(similarity, index)` pairs in `best`, sorted by similarity
/// (descending), ties by index, whatever order candidates arrive in. Most candidates fail
/// the comparison with the current K-th best and cost one compare.
#[inline]
pub(super) fn offer(best: &mut Vec<(f32, u32)>, k: usize, s: f32, j: u32) {
    let better = |a: (f32, u32), b: (f32, u32)| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(&a.1)).is_gt();
    if best.len() == k && !better((s, j), best[k - 1]) {
        return;
    }
    let pos = best.iter().position(|&b| better((s, j), b)).unwrap_or(best.len());
    best.insert(pos, (s, j));
    best.truncate(k);
}

/// The K best entries of `row` other than `self_index`, sorted by similarity (descending),
/// ties by index.
fn select_row(row: &[f32], self_index: usize, k: usize, dst: &mut [u32], sim: &mut [f32]) {
    let mut best: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
    offer_chunk(&mut best, k, row, 0.., self_index);
    for (slot, (s, j)) in best.into_iter().enumerate() {
        dst[slot] = j;
        sim[slot] = s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The eight-lane dot product the fused path scored each pair with before it scored
    /// panels: the reference its bits must equal.
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

    /// The fused path gives the same bits as scoring every pair with `dot` and selecting
    /// from whole rows (what it replaced), for dimensions around the lane width, ties and
    /// signed zeros included, across several bank tiles.
    #[test]
    fn fused_path_is_bit_identical_to_whole_row_dot_scoring() {
        for d in [1, 3, 8, 13, 16, 24, 32] {
            let n = 2 * BANK_TILE + 37;
            let k = 7;
            let mut emb: Vec<f32> =
                (0..n * d).map(|i| ((((i * 2654435761) >> 7) % 2001) as f32 / 1000.0) - 1.0).collect();
            for (r, row) in emb.chunks_mut(d).enumerate() {
                if r % 97 == 0 {
                    row.iter_mut().for_each(|x| *x = -0.0);
                }
                if r % 101 == 1 {
                    row.copy_from_slice(&(0..d).map(|t| (t % 3) as f32 * 0.5).collect::<Vec<_>>());
                }
            }
            let got = fused_top_k(&emb, n, d, k, 500, |_| {});
            let mut dst = vec![0u32; n * k];
            let mut sim = vec![0f32; n * k];
            for i in 0..n {
                let q = &emb[i * d..(i + 1) * d];
                let row: Vec<f32> = emb.chunks_exact(d).map(|e| dot(q, e)).collect();
                select_row(&row, i, k, &mut dst[i * k..(i + 1) * k], &mut sim[i * k..(i + 1) * k]);
            }
            assert_eq!(got.dst, dst, "d {d}");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got.sim), bits(&sim), "d {d}");
        }
    }

    /// The AVX scoring (when this CPU has AVX) gives the portable path's bits, for every
    /// dimension up to the fused limit, signed zeros and a partial last panel included.
    #[test]
    fn vector_and_portable_tile_scores_agree_bit_for_bit() {
        let n = 3 * COLUMNS + 5;
        for d in 1..=FUSED_MAX_DIM {
            let mut emb: Vec<f32> =
                (0..n * d).map(|i| ((((i * 2654435761) >> 9) % 4001) as f32 / 2000.0) - 1.0).collect();
            emb[..d].iter_mut().for_each(|x| *x = -0.0);
            let bank = panels(&emb, n, d);
            for i in 0..n {
                let q = &emb[i * d..(i + 1) * d];
                let mut portable = vec![0f32; n];
                let mut dispatched = vec![1f32; n];
                tile_scores_portable(q, &bank, 0, &mut portable);
                tile_scores(q, &bank, 0, &mut dispatched);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&dispatched), bits(&portable), "d {d} query {i}");
            }
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
