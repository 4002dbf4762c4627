//! The teacher's label evidence: each sample's neighbours vote with their given labels,
//! nearer neighbours weighing more. `rmd label-issues` scores labels with it, and RGRL's
//! neighbour targets train on it.

/// Similarity-weighted vote of the K neighbours' given labels for each row of a neighbour
/// table, row-major `[rows, classes]` with `rows = dst.len() / k`: p_r(c) = Σ_j w_rj [y_j = c] /
/// Σ_j w_rj with w_rj = exp((s_rj − max_j s_rj) / τ), so that with τ → ∞ it is the plain
/// fraction of neighbours labelled c. `dst` holds dataset indices into `given`; a row without
/// neighbours (k = 0) is all zeros.
pub fn neighbour_votes(
    dst: &[u32],
    sim: &[f32],
    k: usize,
    given: &[u16],
    classes: usize,
    tau: f64,
) -> Vec<f64> {
    let rows = dst.len().checked_div(k).unwrap_or(0);
    let mut out = vec![0.0; rows * classes];
    for r in 0..rows {
        let (nb, s) = (&dst[r * k..(r + 1) * k], &sim[r * k..(r + 1) * k]);
        let top = s.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let row = &mut out[r * classes..(r + 1) * classes];
        let mut total = 0.0;
        for (&j, &sj) in nb.iter().zip(s) {
            let w = ((sj as f64 - top) / tau).exp();
            row[given[j as usize] as usize] += w;
            total += w;
        }
        if total > 0.0 {
            row.iter_mut().for_each(|p| *p /= total);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_weight_nearer_neighbours_more_and_sum_to_one() {
        // Sample 0's neighbours: 1 (label 1, sim 0.9) and 2 (label 0, sim 0.5).
        let dst = [1, 2, 0, 2, 0, 1];
        let sim = [0.9, 0.5, 0.9, 0.8, 0.5, 0.8];
        let given = [0u16, 1, 0];
        let p = neighbour_votes(&dst, &sim, 2, &given, 2, 0.1);
        let w = (-0.4f64 / 0.1).exp();
        assert!((p[1] - 1.0 / (1.0 + w)).abs() < 1e-6, "{p:?}");
        assert!((p[0] + p[1] - 1.0).abs() < 1e-12);
        // A huge τ is the plain neighbour fraction.
        let flat = neighbour_votes(&dst, &sim, 2, &given, 2, 1e9);
        assert!((flat[0] - 0.5).abs() < 1e-6 && (flat[4] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn a_table_of_some_rows_votes_with_labels_of_the_whole_dataset() {
        // One row (a subset's sample) whose neighbours are dataset indices 3 and 4.
        let p = neighbour_votes(&[3, 4], &[0.5, 0.5], 2, &[0, 0, 0, 2, 1], 3, 0.1);
        assert_eq!(p, vec![0.0, 0.5, 0.5]);
        assert!(neighbour_votes(&[], &[], 0, &[0], 3, 0.1).is_empty());
    }
}
