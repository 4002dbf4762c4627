//! The label-issues stage (`rmd label-issues`): which training labels are probably wrong,
//! without clean labels.
//!
//! Per training sample, the evidence is a class distribution: the similarity-weighted vote of
//! its K teacher neighbours' given labels, optionally mixed with a trained classifier's
//! probabilities. The score is 1 − p(given label); a sample is flagged when another class is
//! more likely than its given one, and that class is suggested. Output (a cached artifact):
//!
//! * `label_issues.parquet`: one row per training sample in index order: `index`,
//!   `given_label`, `given_class`, `suggested_label`, `suggested_class`, `score`,
//!   `suggested_prob` (p of the suggested class), `rank` (1 = most suspicious: by score, then
//!   by `suggested_prob`), `flagged`, `neighbour_agreement` (share of the K neighbours with the
//!   same given label), `classifier_prob_given` and `seen_by_classifier` (null without a
//!   classifier), and, when the clean labels are known, `clean_label` and `is_wrong`;
//! * `contact_sheet.png` and `contact_sheet.html`: the top suspects with their given and
//!   suggested class names;
//! * metrics: counts of flagged samples and, when the clean labels are known (synthetic
//!   noise, CIFAR-10N: the noise artifact changed at least one label), precision and recall
//!   of the flags and the score's ROC-AUC.

pub mod score;
pub mod sheet;

use crate::cli::expect_stage;
use crate::stages::distill::DISTILL_STAGE;
use crate::stages::relations::RELATIONS_STAGE;
use anyhow::{Context, bail};
use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt16Array, UInt32Array};
use rmd_data::dataset::{DATASET_STAGE, Dataset};
use rmd_data::noise::{NOISE_STAGE, NoiseLabels};
use rmd_nn::ComputeDevice;
use rmd_nn::distill::{DistillParams, TrainValSplit, load_classifier, logits, softmax_rows};
use rmd_nn::relations::neighbour_votes;
use rmd_nn::relations::{RelationGraph, neighbour_agreement};
use rmd_store::{Artifact, ArtifactSpec, Begin, BeginOptions, CodeIdentity, CommitInfo, Store};
use score::{DetectionQuality, Verdict, detection_quality, judge, mix, ranks};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Stage name of label-issue artifacts.
pub const LABEL_ISSUES_STAGE: &str = "label-issues";
/// Schema version of label-issue artifacts. 2: the classifier's forward pass runs on the
/// NCHW convolution kernels of vendor/burn-flex.
pub const LABEL_ISSUES_SCHEMA_VERSION: u32 = 2;

/// The parameters that define a label-issue artifact (with its inputs).
#[derive(Debug, Clone, Serialize)]
pub struct LabelIssueParams {
    /// Temperature of the neighbours' similarity weights.
    pub neighbour_tau: f64,
    /// Weight of the classifier's probabilities in the evidence (present with a classifier).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier_weight: Option<f64>,
    /// Suspects shown on the contact sheet.
    pub sheet: usize,
}

/// The inputs of the stage.
#[derive(Debug, Clone, Copy)]
pub struct LabelIssueInputs<'a> {
    /// The labels to check (their dataset holds the images).
    pub noise: &'a Artifact,
    /// The teacher's relations over the same dataset.
    pub relations: &'a Artifact,
    /// A classifier trained on the dataset (an RGRL-stage artifact), optional.
    pub classifier: Option<&'a Artifact>,
}

/// What the stage found, for the summary printed by the binary.
#[derive(Debug, Clone)]
pub struct LabelIssueSummary {
    /// Training samples.
    pub n: usize,
    /// Samples flagged.
    pub flagged: usize,
    /// Detection quality, when the clean labels are known.
    pub quality: Option<DetectionQuality>,
}

impl LabelIssueSummary {
    /// Reads the summary back from an artifact's metrics.
    pub fn from_artifact(a: &Artifact) -> LabelIssueSummary {
        let m = &a.manifest.metrics;
        let get = |k: &str| m[k].as_u64().unwrap_or(0) as usize;
        LabelIssueSummary {
            n: get("n"),
            flagged: get("flagged"),
            quality: serde_json::from_value(m["quality"].clone()).ok().flatten(),
        }
    }
}

/// The classifier's evidence: probabilities `[n, classes]` on every training image and
/// which images it was trained on.
struct ClassifierEvidence {
    probs: Vec<f64>,
    seen: Vec<bool>,
}

fn classifier_evidence(
    artifact: &Artifact,
    ds: &Dataset,
    compute: &ComputeDevice,
) -> anyhow::Result<ClassifierEvidence> {
    let (model, info) = load_classifier(&artifact.dir, &compute.device)?;
    let usage = |msg: String| crate::cli::UsageError(msg);
    if info.dataset_key != ds.key {
        bail!(usage(format!(
            "--classifier {} was trained on dataset {}, not on the noise artifact's dataset {}",
            crate::cli::short(artifact.key()),
            crate::cli::short(&info.dataset_key),
            crate::cli::short(&ds.key)
        )));
    }
    let (shape, norm) = (info.shape(), info.normalizer());
    let n = ds.info.n_train;
    let all: Vec<u32> = (0..n as u32).collect();
    let (raw, classes) = logits(&model, &ds.train, &all, shape, &norm, &compute.device, 500);
    if classes != ds.info.num_classes() {
        bail!(usage(format!(
            "the classifier has {classes} outputs but the dataset {} classes",
            ds.info.num_classes()
        )));
    }
    let params: DistillParams = serde_json::from_value(artifact.manifest.params.clone())
        .context("reading the classifier's parameters from its manifest")?;
    let split = TrainValSplit::new(n, params.eval.val_images, params.images, params.seed)
        .map_err(|e| anyhow::anyhow!("the classifier's training split: {e}"))?;
    let mut seen = vec![false; n];
    split.train.iter().for_each(|&i| seen[i as usize] = true);
    Ok(ClassifierEvidence { probs: softmax_rows(&raw, classes), seen })
}

/// Runs (or finds cached) the label-issues stage.
pub fn run_label_issues(
    store: &Store,
    inputs: LabelIssueInputs,
    params: &LabelIssueParams,
    force: bool,
    compute: &ComputeDevice,
    code: &CodeIdentity,
) -> anyhow::Result<(Artifact, bool)> {
    expect_stage(inputs.noise, NOISE_STAGE, "--noise")?;
    expect_stage(inputs.relations, RELATIONS_STAGE, "--relations")?;
    if let Some(c) = inputs.classifier {
        expect_stage(c, DISTILL_STAGE, "--classifier")?;
    }
    if params.classifier_weight.is_some() != inputs.classifier.is_some() {
        bail!("a classifier weight needs a classifier and a classifier needs a weight");
    }
    let labels = NoiseLabels::open(inputs.noise)?;
    let graph = RelationGraph::open(&inputs.relations.dir)?;
    if graph.dataset_key != labels.dataset_key {
        bail!(crate::cli::UsageError(format!(
            "--relations {} was built on dataset {} but --noise {} labels dataset {}",
            crate::cli::short(inputs.relations.key()),
            crate::cli::short(&graph.dataset_key),
            crate::cli::short(inputs.noise.key()),
            crate::cli::short(&labels.dataset_key)
        )));
    }
    graph.check_fits(labels.noisy.len(), None)?;
    let dataset = store.find(Some(DATASET_STAGE), &labels.dataset_key)?;
    let mut spec = ArtifactSpec::new(LABEL_ISSUES_STAGE, LABEL_ISSUES_SCHEMA_VERSION, params)
        .with_input("dataset", dataset.key())
        .with_input("noise", inputs.noise.key())
        .with_input("relations", inputs.relations.key());
    if let Some(c) = inputs.classifier {
        spec = spec.with_input("classifier", c.key());
    }
    let pending = match store.begin(&spec, BeginOptions { force, resume: false })? {
        Begin::Cached(a) => return Ok((a, true)),
        Begin::Run(p) => p,
    };
    let started = std::time::Instant::now();
    let ds = Dataset::open(&dataset)?;
    let classes = ds.info.num_classes();
    let given = &labels.noisy;
    let votes = neighbour_votes(&graph.dst, &graph.sim, graph.k, given, classes, params.neighbour_tau);
    let evidence = inputs.classifier.map(|c| classifier_evidence(c, &ds, compute)).transpose()?;
    let probs = match (&evidence, params.classifier_weight) {
        (Some(e), Some(w)) => mix(&votes, &e.probs, w),
        _ => votes.clone(),
    };
    let verdicts = judge(&probs, given, classes);
    let rank = ranks(&verdicts);
    let is_wrong: Vec<bool> = labels.clean.iter().zip(given).map(|(c, g)| c != g).collect();
    let clean_known = is_wrong.iter().any(|&w| w);
    let quality = clean_known.then(|| detection_quality(&verdicts, &rank, &is_wrong));

    let mut meta = BTreeMap::new();
    meta.insert("rmdnet.artifact_key".to_string(), pending.key().to_string());
    meta.insert("rmdnet.dataset_key".to_string(), dataset.key().to_string());
    meta.insert("rmdnet.noise_key".to_string(), inputs.noise.key().to_string());
    meta.insert("rmdnet.relations_key".to_string(), inputs.relations.key().to_string());
    let table = Table {
        given,
        classes: &ds.info.classes,
        verdicts: &verdicts,
        rank: &rank,
        agreement: &neighbour_agreement(&graph.dst, graph.k, given),
        evidence: evidence.as_ref().map(|e| (e, classes)),
        clean: clean_known.then_some(labels.clean.as_slice()),
    };
    let path = pending.path("label_issues.parquet");
    rmd_data::parquet_io::write_parquet(&path, &table.batch()?, &meta)?;

    let geo = sheet::Geometry { channels: ds.info.channels, height: ds.info.height, width: ds.info.width };
    let mut order: Vec<usize> = (0..given.len()).collect();
    order.sort_by_key(|&i| rank[i]);
    let suspects: Vec<sheet::Suspect> = order
        .iter()
        .take(params.sheet)
        .map(|&i| sheet::Suspect {
            rank: rank[i],
            index: i as u32,
            given: &ds.info.classes[given[i] as usize],
            suggested: &ds.info.classes[verdicts[i].suggested as usize],
            score: verdicts[i].score,
            wrong: clean_known.then_some(is_wrong[i]),
            pixels: ds.train.image(i),
        })
        .collect();
    let flagged = verdicts.iter().filter(|v| v.flagged).count();
    let summary = summary_lines(given.len(), flagged, quality.as_ref(), inputs.classifier.is_some());
    sheet::write_png(&pending.path("contact_sheet.png"), &suspects, geo)?;
    sheet::write_html(
        &pending.path("contact_sheet.html"),
        &suspects,
        geo,
        &format!("Label issues: the {} most suspicious labels of {}", suspects.len(), ds.info.name),
        &summary,
    )?;

    let per_class_flagged: Vec<usize> = (0..classes)
        .map(|c| verdicts.iter().zip(given).filter(|(v, g)| v.flagged && **g as usize == c).count())
        .collect();
    let metrics = serde_json::json!({
        "n": given.len(),
        "k": graph.k,
        "flagged": flagged,
        "flagged_share": flagged as f64 / given.len().max(1) as f64,
        "per_class_flagged": per_class_flagged,
        "clean_labels_known": clean_known,
        "quality": quality,
        "evidence": if inputs.classifier.is_some() { "neighbours+classifier" } else { "neighbours" },
        "seconds": started.elapsed().as_secs_f64(),
        "note": "score = 1 - p(given label) under the evidence; flagged when another class is more likely; quality only when the noise artifact changed at least one label",
    });
    let artifact = pending.commit(CommitInfo {
        metrics,
        seeds: BTreeMap::new(),
        code: code.clone(),
        backend: if inputs.classifier.is_some() { compute.kind.name().to_string() } else { "none".into() },
        device: if inputs.classifier.is_some() { compute.description.clone() } else { "cpu".into() },
    })?;
    Ok((artifact, false))
}

/// Human summary lines (the HTML page's header; the binary prints its own).
fn summary_lines(n: usize, flagged: usize, q: Option<&DetectionQuality>, classifier: bool) -> Vec<String> {
    let mut lines = vec![format!(
        "{flagged} of {n} labels flagged ({:.1}%): the evidence ({}) favours another class. \
         Sorted by score = 1 − p(given label).",
        100.0 * flagged as f64 / n.max(1) as f64,
        if classifier { "teacher neighbours and classifier" } else { "teacher neighbours" }
    )];
    if let Some(q) = q {
        lines.push(format!(
            "Clean labels known: {} labels are wrong. Flags: precision {:.3}, recall {:.3}; score ROC-AUC {}. \
             Suggested class in green: the given label is wrong; in red: the given label is right.",
            q.true_issues,
            q.precision,
            q.recall,
            q.roc_auc.map_or("n/a".to_string(), |a| format!("{a:.3}")),
        ));
    }
    lines
}

/// The samples a label-issues artifact flags (sorted indices), read from its
/// `label_issues.parquet`, which must hold one row per training sample `0..n` in order.
pub fn read_flagged(issues: &Artifact, n: usize) -> Result<Vec<u32>, rmd_nn::NnError> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    let path = issues.path("label_issues.parquet");
    let table = rmd_data::parquet_io::read_parquet(&path)?;
    let index = rmd_data::parquet_io::int_column(&table, &path, "index")?;
    let bad =
        |reason: String| rmd_nn::NnError::BadRecord { path: path.clone(), what: "label-issue table", reason };
    let mut flags = Vec::with_capacity(index.len());
    for chunk in table.column("flagged").ok_or_else(|| bad("no 'flagged' column".into()))? {
        let b = chunk.as_boolean_opt().ok_or_else(|| bad("'flagged' is not a boolean column".into()))?;
        if b.null_count() > 0 {
            return Err(bad("'flagged' has null values".into()));
        }
        flags.extend(b.values().iter());
    }
    if index.len() != n || flags.len() != n || index.iter().enumerate().any(|(i, &x)| x != i as i64) {
        return Err(bad(format!("expected {n} rows with index 0..{n} in order, one per training sample")));
    }
    Ok((0..n as u32).filter(|&i| flags[i as usize]).collect())
}

/// The rows of `label_issues.parquet`.
struct Table<'a> {
    given: &'a [u16],
    classes: &'a [String],
    verdicts: &'a [Verdict],
    rank: &'a [u32],
    agreement: &'a [f64],
    evidence: Option<(&'a ClassifierEvidence, usize)>,
    clean: Option<&'a [u16]>,
}

impl Table<'_> {
    fn batch(&self) -> anyhow::Result<RecordBatch> {
        let n = self.given.len();
        let name = |l: u16| self.classes[l as usize].as_str();
        let suggested: Vec<u16> = self.verdicts.iter().map(|v| v.suggested).collect();
        let mut cols: Vec<(&str, ArrayRef, bool)> = vec![
            ("index", Arc::new(UInt32Array::from_iter_values(0..n as u32)), false),
            ("given_label", Arc::new(UInt16Array::from(self.given.to_vec())), false),
            (
                "given_class",
                Arc::new(StringArray::from_iter_values(self.given.iter().map(|&l| name(l)))),
                false,
            ),
            ("suggested_label", Arc::new(UInt16Array::from(suggested.clone())), false),
            (
                "suggested_class",
                Arc::new(StringArray::from_iter_values(suggested.iter().map(|&l| name(l)))),
                false,
            ),
            ("score", Arc::new(Float64Array::from_iter_values(self.verdicts.iter().map(|v| v.score))), false),
            (
                "suggested_prob",
                Arc::new(Float64Array::from_iter_values(self.verdicts.iter().map(|v| v.suggested_prob))),
                false,
            ),
            ("rank", Arc::new(UInt32Array::from(self.rank.to_vec())), false),
            (
                "flagged",
                Arc::new(BooleanArray::from_iter(self.verdicts.iter().map(|v| Some(v.flagged)))),
                false,
            ),
            ("neighbour_agreement", Arc::new(Float64Array::from(self.agreement.to_vec())), false),
        ];
        let (prob, seen): (Vec<Option<f64>>, Vec<Option<bool>>) = match self.evidence {
            Some((e, c)) => {
                (0..n).map(|i| (Some(e.probs[i * c + self.given[i] as usize]), Some(e.seen[i]))).unzip()
            }
            None => (vec![None; n], vec![None; n]),
        };
        cols.push(("classifier_prob_given", Arc::new(Float64Array::from(prob)), true));
        cols.push(("seen_by_classifier", Arc::new(BooleanArray::from(seen)), true));
        if let Some(clean) = self.clean {
            let wrong: Vec<bool> = clean.iter().zip(self.given).map(|(c, g)| c != g).collect();
            cols.push(("clean_label", Arc::new(UInt16Array::from(clean.to_vec())), false));
            cols.push(("is_wrong", Arc::new(BooleanArray::from(wrong)), false));
        }
        Ok(RecordBatch::try_from_iter_with_nullable(cols)?)
    }
}
