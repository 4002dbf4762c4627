//! Relation-graph diagnostics: neighbour label agreement and how well neighbour
//! disagreement detects flipped labels (ROC-AUC).

/// Fraction of (sample, neighbour) pairs whose labels agree.
pub fn label_agreement(dst: &[u32], k: usize, labels: &[u16]) -> f64 {
    let agree = dst.iter().enumerate().filter(|&(e, &j)| labels[e / k] == labels[j as usize]).count();
    agree as f64 / dst.len().max(1) as f64
}

/// Per sample: how many of its K neighbours carry the same label as itself.
fn same_label_counts(dst: &[u32], k: usize, labels: &[u16]) -> impl Iterator<Item = usize> {
    dst.chunks(k)
        .enumerate()
        .map(move |(i, row)| row.iter().filter(|&&j| labels[j as usize] == labels[i]).count())
}

/// Per sample: the fraction of its K neighbours whose (noisy) label differs from its own.
pub fn disagreement_scores(dst: &[u32], k: usize, noisy: &[u16]) -> Vec<f64> {
    same_label_counts(dst, k, noisy).map(|same| (k - same) as f64 / k as f64).collect()
}

/// Per sample: the fraction of its K neighbours whose label equals its own.
pub fn neighbour_agreement(dst: &[u32], k: usize, labels: &[u16]) -> Vec<f64> {
    same_label_counts(dst, k, labels).map(|same| same as f64 / k as f64).collect()
}

/// ROC-AUC of `scores` as a detector of `positive` (Mann–Whitney, ties counted half).
/// `None` when one class is empty.
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average ranks over ties (1-based).
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += order[i..=j].iter().filter(|&&o| positive[o]).count() as f64 * avg;
        i = j + 1;
    }
    let p = n_pos as f64;
    Some((rank_sum_pos - p * (p + 1.0) / 2.0) / (p * n_neg as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_random_and_tied_scores() {
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]), Some(0.0));
        assert_eq!(roc_auc(&[0.5, 0.5, 0.5, 0.5], &[false, true, false, true]), Some(0.5));
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
        // One positive above two of three negatives, tied with none: 2/3.
        let auc = roc_auc(&[0.1, 0.2, 0.3, 0.25], &[false, false, false, true]).unwrap();
        assert!((auc - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn agreement_and_scores() {
        // 3 samples, k = 2.
        let dst = [1u32, 2, 0, 2, 0, 1];
        let labels = [0u16, 0, 1];
        assert!((label_agreement(&dst, 2, &labels) - 2.0 / 6.0).abs() < 1e-12);
        assert_eq!(disagreement_scores(&dst, 2, &labels), vec![0.5, 0.5, 1.0]);
    }
}
