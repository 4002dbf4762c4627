//! Centring of teacher embeddings. Post-ReLU encoder features share a large common
//! component, so their cosine similarities crowd near 1 (top-K similarities ≈ 0.97 for the
//! cpu RM) and softmax(similarity / τ) targets are nearly uniform. Subtracting the training
//! mean before normalising spreads the similarities out.

/// Subtracts the mean row of `train` (`[n, d]`) from every row of `train` and `test`, then
/// L2-normalises every row. Returns the mean that was subtracted.
pub fn centre_and_normalise(train: &mut [f32], test: &mut [f32], d: usize) -> Vec<f32> {
    let n = train.len() / d;
    let mut mean = vec![0f64; d];
    for row in train.chunks(d) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    for row in train.chunks_mut(d).chain(test.chunks_mut(d)) {
        unit_row(row, &mean);
    }
    mean.iter().map(|&m| m as f32).collect()
}

/// L2-normalises every row of `rows` (`[n, d]`); a zero row stays zero.
pub fn normalise_rows(rows: &mut [f32], d: usize) {
    let zero = vec![0f64; d];
    for row in rows.chunks_mut(d) {
        unit_row(row, &zero);
    }
}

/// Replaces `row` by the unit vector along `row - mean`, computed in f64 after dividing by
/// the largest magnitude: rows of any finite magnitude (1e30 as well as 1e-45, where the
/// squares overflow or underflow f32) come out with norm 1. A row equal to `mean` stays zero.
fn unit_row(row: &mut [f32], mean: &[f64]) {
    let centred: Vec<f64> = row.iter().zip(mean).map(|(&v, &m)| v as f64 - m).collect();
    let largest = centred.iter().fold(0f64, |a, v| a.max(v.abs()));
    if largest == 0.0 || !largest.is_finite() {
        row.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    let norm = centred.iter().map(|v| (v / largest).powi(2)).sum::<f64>().sqrt();
    for (out, v) in row.iter_mut().zip(&centred) {
        *out = (v / largest / norm) as f32;
    }
}

/// Mean and standard deviation of a set of similarities (the top-K ones of a graph).
pub fn spread(sim: &[f32]) -> (f64, f64) {
    let n = sim.len().max(1) as f64;
    let mean = sim.iter().map(|&s| s as f64).sum::<f64>() / n;
    let var = sim.iter().map(|&s| (s as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centring_removes_the_common_component_and_keeps_unit_rows() {
        // Two groups sharing a large common offset: cosine ≈ 1 across groups before centring.
        let mut train = vec![10.0, 10.0, 1.0, 10.0, 10.0, -1.0, 10.0, 10.0, 1.1, 10.0, 10.0, -0.9];
        let mut test = vec![10.0, 10.0, 1.0];
        let cos = |a: &[f32], b: &[f32]| {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            dot / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt())
        };
        assert!(cos(&train[0..3], &train[3..6]) > 0.98);
        let mean = centre_and_normalise(&mut train, &mut test, 3);
        assert!((mean[0] - 10.0).abs() < 1e-6 && (mean[2] - 0.05).abs() < 1e-6, "{mean:?}");
        assert!(cos(&train[0..3], &train[3..6]) < -0.9, "opposite groups after centring");
        for row in train.chunks(3).chain(test.chunks(3)) {
            assert!((row.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
        }
        let (m, s) = spread(&[0.5, 0.7]);
        assert!((m - 0.6).abs() < 1e-6 && (s - 0.1).abs() < 1e-6);
    }

    #[test]
    fn rows_of_extreme_magnitude_come_out_with_unit_norm() {
        let d = 3;
        let mut rows = vec![1e30, -2e30, 2e30, 1e-45, 0.0, -1e-45, 3.0e38, 3.0e38, -3.0e38, 0.0, 0.0, 0.0];
        normalise_rows(&mut rows, d);
        for (i, row) in rows.chunks(d).take(3).enumerate() {
            let norm = row.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-6, "row {i}: {row:?}");
        }
        assert!((rows[0] - 1.0 / 3.0).abs() < 1e-6 && (rows[1] + 2.0 / 3.0).abs() < 1e-6);
        assert!((rows[3] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6, "{:?}", &rows[3..6]);
        assert_eq!(&rows[9..], &[0.0, 0.0, 0.0], "a zero row stays zero");
        // Centring rows far apart in magnitude does not overflow either.
        let mut train = vec![3.0e38, 1.0, -3.0e38, 1.0];
        let mut test = vec![-3.0e38, -3.0e38];
        centre_and_normalise(&mut train, &mut test, 2);
        assert!(train.iter().chain(&test).all(|v| v.is_finite()));
        assert!((train[0] - 1.0).abs() < 1e-6 && (train[2] + 1.0).abs() < 1e-6);
    }
}
