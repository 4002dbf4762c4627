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
    let mean: Vec<f32> = mean.iter().map(|m| (m / n.max(1) as f64) as f32).collect();
    for row in train.chunks_mut(d).chain(test.chunks_mut(d)) {
        row.iter_mut().zip(&mean).for_each(|(v, m)| *v -= m);
    }
    normalise_rows(train, d);
    normalise_rows(test, d);
    mean
}

/// L2-normalises every row of `rows` (`[n, d]`); a zero row stays zero.
pub fn normalise_rows(rows: &mut [f32], d: usize) {
    for row in rows.chunks_mut(d) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
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
}
