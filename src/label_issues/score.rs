//! The label-issue score of each training sample, from evidence that needs no clean label:
//! a class distribution from the teacher's neighbourhood (and, optionally, a trained
//! classifier's probabilities), compared with the label the sample was given.

/// `(1 − w) · a + w · b`, element-wise (the neighbour and classifier distributions mixed).
pub fn mix(a: &[f64], b: &[f64], w: f64) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| (1.0 - w) * x + w * y).collect()
}

/// The verdict on one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// 1 − p(given label): how strongly the evidence disagrees with the label, in [0, 1].
    pub score: f64,
    /// The class the evidence favours (the given label when it ties for the top).
    pub suggested: u16,
    /// p(suggested class): how firmly the evidence points to it (breaks ties of the score).
    pub suggested_prob: f64,
    /// The evidence favours another class than the given one.
    pub flagged: bool,
}

/// Judges each sample from its class distribution `probs` (`[n, classes]`) and given label.
pub fn judge(probs: &[f64], given: &[u16], classes: usize) -> Vec<Verdict> {
    given
        .iter()
        .enumerate()
        .map(|(i, &y)| {
            let row = &probs[i * classes..(i + 1) * classes];
            let mut best = y as usize;
            for (c, &p) in row.iter().enumerate() {
                if p > row[best] {
                    best = c;
                }
            }
            Verdict {
                score: 1.0 - row[y as usize],
                suggested: best as u16,
                suggested_prob: row[best],
                flagged: best != y as usize,
            }
        })
        .collect()
}

/// 1-based rank of each sample: by score, highest first; among equal scores, the one whose
/// evidence points more firmly to its suggested class first; then by index (a total order).
pub fn ranks(verdicts: &[Verdict]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..verdicts.len()).collect();
    order.sort_by(|&a, &b| {
        let (va, vb) = (&verdicts[a], &verdicts[b]);
        vb.score.total_cmp(&va.score).then(vb.suggested_prob.total_cmp(&va.suggested_prob)).then(a.cmp(&b))
    });
    let mut rank = vec![0u32; verdicts.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r as u32 + 1;
    }
    rank
}

/// How well the flags and the score find the labels that really are wrong (only computable
/// when the clean labels are known: synthetic noise, CIFAR-10N).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DetectionQuality {
    /// Samples whose label really is wrong.
    pub true_issues: usize,
    /// Samples flagged.
    pub flagged: usize,
    /// Share of the flagged samples whose label is wrong.
    pub precision: f64,
    /// Share of the wrong labels that were flagged.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Precision among the `true_issues` highest-scored samples (= recall there).
    pub precision_at_true_count: f64,
    /// ROC-AUC of the score as a detector of wrong labels (None when every label or none is wrong).
    pub roc_auc: Option<f64>,
}

/// Detection quality of `verdicts` against which labels really are wrong.
pub fn detection_quality(verdicts: &[Verdict], ranks: &[u32], is_wrong: &[bool]) -> DetectionQuality {
    let true_issues = is_wrong.iter().filter(|&&w| w).count();
    let flagged = verdicts.iter().filter(|v| v.flagged).count();
    let hits = verdicts.iter().zip(is_wrong).filter(|(v, w)| v.flagged && **w).count();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let (precision, recall) = (ratio(hits, flagged), ratio(hits, true_issues));
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    let top_hits = ranks.iter().zip(is_wrong).filter(|(r, w)| (**r as usize) <= true_issues && **w).count();
    let scores: Vec<f64> = verdicts.iter().map(|v| v.score).collect();
    DetectionQuality {
        true_issues,
        flagged,
        precision,
        recall,
        f1,
        precision_at_true_count: ratio(top_hits, true_issues),
        roc_auc: rmd_nn::relations::roc_auc(&scores, is_wrong),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_keep_the_given_label_on_ties_and_flag_disagreement() {
        let probs = [0.5, 0.5, 0.0, 0.1, 0.2, 0.7];
        let v = judge(&probs, &[1, 0], 3);
        assert_eq!(v[0], Verdict { score: 0.5, suggested: 1, suggested_prob: 0.5, flagged: false });
        assert_eq!(v[1].suggested, 2);
        assert!(v[1].flagged && (v[1].score - 0.9).abs() < 1e-12);
    }

    #[test]
    fn ranks_are_by_score_then_firmness_then_index() {
        let v = |score, suggested_prob| Verdict { score, suggested: 0, suggested_prob, flagged: true };
        assert_eq!(ranks(&[v(0.2, 0.5), v(0.9, 0.5), v(0.2, 0.5), v(0.5, 0.5)]), vec![3, 1, 4, 2]);
        assert_eq!(ranks(&[v(1.0, 0.5), v(1.0, 0.9), v(1.0, 0.5)]), vec![2, 1, 3]);
    }

    #[test]
    fn quality_counts_hits_among_flags_and_top_scores() {
        let v = |score, flagged| Verdict { score, suggested: 0, suggested_prob: 0.5, flagged };
        let verdicts = [v(0.9, true), v(0.8, true), v(0.1, false), v(0.7, false)];
        let r = ranks(&verdicts);
        let q = detection_quality(&verdicts, &r, &[true, false, false, true]);
        assert_eq!((q.true_issues, q.flagged), (2, 2));
        assert_eq!((q.precision, q.recall), (0.5, 0.5));
        assert_eq!(q.precision_at_true_count, 0.5);
        assert_eq!(q.roc_auc, Some(0.75));
        let none = detection_quality(&verdicts, &r, &[false; 4]);
        assert_eq!((none.recall, none.roc_auc), (0.0, None));
    }

    #[test]
    fn mixing_is_convex() {
        assert_eq!(mix(&[1.0, 0.0], &[0.0, 1.0], 0.25), vec![0.75, 0.25]);
    }
}
