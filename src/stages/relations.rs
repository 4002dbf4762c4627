//! The relations stage: embed every training image with a frozen RM encoder or a trained
//! classifier's backbone (or take a synthetic or external teacher), find each sample's exact
//! top-K neighbours by cosine similarity, and store `embeddings.parquet` and `graph.parquet` (see
//! `rmd_nn::relations::io`) as a `relations` artifact. Diagnostics: neighbour agreement with
//! the clean labels and weighted kNN accuracy on the test set (both diagnostics only). A
//! separate `graph-eval` artifact per (relations, noise) pair holds the noisy-label
//! detection ROC-AUC, so a second noise setting never recomputes the graph.

use super::distill::DISTILL_STAGE;
use super::pretrain::PRETRAIN_STAGE;
use crate::cli::expect_stage;
use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, UInt32Array};
use rmd_data::augment::{ImageShape, Normalizer};
use rmd_data::dataset::{DATASET_STAGE, Dataset};
use rmd_data::noise::{NOISE_STAGE, NoiseLabels};
use rmd_nn::distill::load_classifier;
use rmd_nn::knn::knn_accuracy;
use rmd_nn::models::ResNet;
use rmd_nn::pretrain::load_encoder;
use rmd_nn::relations::ivf::{IvfParams, Recall, ivf_top_k, sampled_recall};
use rmd_nn::relations::{
    RelationGraph, TopK, centre, disagreement_scores, exact_top_k, external, io, label_agreement, roc_auc,
    synthetic,
};
use rmd_nn::{ComputeDevice, NnError};
use rmd_store::{Artifact, ArtifactSpec, Begin, BeginOptions, CodeIdentity, CommitInfo, Store};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

type Result<T> = anyhow::Result<T>;

/// Stage name of relations artifacts.
pub const RELATIONS_STAGE: &str = "relations";
/// Schema version of relations artifacts. 2: the encoder's convolutions and batch norms
/// run on the NCHW kernels of vendor/burn-flex (embeddings differ by float rounding).
pub const RELATIONS_SCHEMA_VERSION: u32 = 2;
/// Stage name of noisy-label detection evaluations of a graph.
pub const GRAPH_EVAL_STAGE: &str = "graph-eval";
/// Schema version of graph evaluations.
pub const GRAPH_EVAL_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
struct RelationParams {
    k: usize,
    knn_k: usize,
    knn_temperature: f64,
    /// Present only for a synthetic teacher (so RM-teacher keys are unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    synthetic: Option<synthetic::SyntheticTeacher>,
    /// The training mean was subtracted before normalising (recorded only when true, so
    /// keys of uncentred teachers are unchanged).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    centre: bool,
    /// Present only for embeddings given from outside ([`external`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    external: Option<external::ExternalSource>,
    /// Present only for an approximate graph ([`ivf`]); exact search otherwise (so keys of
    /// exact graphs are unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    ivf: Option<IvfParams>,
}

impl RelationParams {
    /// An RM teacher's parameters with `k` neighbours and the kNN diagnostic's settings
    /// (k 200, temperature 0.1), uncentred.
    fn new(k: usize) -> Self {
        RelationParams {
            k,
            knn_k: 200,
            knn_temperature: 0.1,
            synthetic: None,
            centre: false,
            external: None,
            ivf: None,
        }
    }
}

/// How to run the relations stage.
#[derive(Debug, Clone)]
pub struct RelationsRequest {
    /// Neighbours per sample.
    pub k: usize,
    /// Query rows per block of the search (bounds memory: block × N × 4 bytes).
    pub block: usize,
    /// Recompute even when cached.
    pub force: bool,
    /// Progress bar.
    pub progress: bool,
    /// Say what is being done on stderr (calibration steps of a synthetic teacher).
    pub verbose: bool,
    /// Centre the RM embeddings (subtract the training mean) before normalising.
    pub centre: bool,
    /// How the neighbours are found.
    pub search: GraphSearch,
}

/// How a relations stage finds each sample's neighbours.
#[derive(Debug, Clone)]
pub enum GraphSearch {
    /// Exact search (the default and the reference).
    Exact,
    /// The approximate IVF graph, its recall measured against exact search.
    Ivf {
        /// Index parameters; `None` fields take [`IvfParams::for_rows`]'s defaults.
        lists: Option<usize>,
        /// Cells probed per row (default 32).
        probes: Option<usize>,
        /// k-means iterations.
        iterations: usize,
        /// Seed of the k-means sample and initial centroids.
        seed: u64,
        /// Rows of the seeded recall check.
        recall_rows: usize,
        /// Refuse (exit 2, nothing stored) a graph whose measured recall@K is below this.
        min_recall: Option<f64>,
    },
}

impl GraphSearch {
    /// The index parameters for `n` rows (`None` for exact search), checked.
    fn ivf_params(&self, n: usize) -> Result<Option<IvfParams>> {
        let GraphSearch::Ivf { lists, probes, iterations, seed, .. } = self else { return Ok(None) };
        let d = IvfParams::for_rows(n, *seed);
        let lists = lists.unwrap_or(d.lists);
        let p = IvfParams {
            lists,
            probes: probes.unwrap_or(d.probes.min(lists)),
            iterations: *iterations,
            seed: *seed,
        };
        p.validate(n).map_err(NnError::Invalid)?;
        Ok(Some(p))
    }

    /// The `--min-recall` that `recall_at_k` falls short of, if any (never for exact search).
    fn shortfall(&self, recall_at_k: f64) -> Option<f64> {
        match self {
            GraphSearch::Ivf { min_recall: Some(min), .. } if recall_at_k.is_nan() || recall_at_k < *min => {
                Some(*min)
            }
            _ => None,
        }
    }

    /// Checks a graph's measured recall against `--min-recall` (exact graphs always pass).
    pub fn check_recall(&self, artifact: &Artifact) -> Result<()> {
        let got = artifact.manifest.metrics["recall"]["recall_at_k"].as_f64().unwrap_or(f64::NAN);
        if let Some(min) = self.shortfall(got) {
            return Err(NnError::Invalid(format!(
                "relations {} (cached): measured recall@{} {got:.4} is below --min-recall {min}; raise --ivf-probes (or lower --ivf-lists)",
                &artifact.key()[..12],
                artifact.manifest.metrics["k"]
            ))
            .into());
        }
        Ok(())
    }
}

/// Runs (or finds cached) the relations stage for an RM artifact.
pub fn run_relations(
    store: &Store,
    encoder_artifact: &Artifact,
    req: &RelationsRequest,
    compute: &ComputeDevice,
    code: &CodeIdentity,
) -> Result<(Artifact, bool)> {
    expect_stage(encoder_artifact, PRETRAIN_STAGE, "--encoder")?;
    let (encoder, info) = load_encoder(&encoder_artifact.dir, &compute.device)?;
    let teacher = BackboneTeacher {
        input: "encoder",
        artifact: encoder_artifact,
        backbone: &encoder,
        dataset_key: &info.dataset_key,
        shape: info.shape(),
        norm: info.normalizer(),
        dim: info.encoder_dim,
    };
    run_backbone_relations(store, &teacher, req, compute, code)
}

/// Runs (or finds cached) the relations stage with the backbone of a trained classifier (an
/// `rmd-distill` artifact) as the teacher: its penultimate features, the ones its linear
/// head reads. Such a teacher has learnt from the noisy labels; it is the way to a teacher
/// stronger than the RM where the RM is weak (a second round: train, then distil the
/// trained network's relations into a new student).
pub fn run_classifier_relations(
    store: &Store,
    classifier_artifact: &Artifact,
    req: &RelationsRequest,
    compute: &ComputeDevice,
    code: &CodeIdentity,
) -> Result<(Artifact, bool)> {
    expect_stage(classifier_artifact, DISTILL_STAGE, "--classifier")?;
    let (classifier, info) = load_classifier(&classifier_artifact.dir, &compute.device)?;
    let teacher = BackboneTeacher {
        input: "classifier",
        artifact: classifier_artifact,
        backbone: &classifier.backbone,
        dataset_key: &info.dataset_key,
        shape: info.shape(),
        norm: info.normalizer(),
        dim: info.model.backbone.out_dim(),
    };
    run_backbone_relations(store, &teacher, req, compute, code)
}

/// A network whose backbone features are the teacher's embeddings.
struct BackboneTeacher<'a> {
    /// The artifact's input name in the relations artifact (`encoder`, `classifier`).
    input: &'static str,
    artifact: &'a Artifact,
    backbone: &'a ResNet,
    dataset_key: &'a str,
    shape: ImageShape,
    norm: Normalizer,
    /// Feature dimension (used when the training split is empty).
    dim: usize,
}

/// Embeds the training and test images with a teacher's backbone and stores the graph.
fn run_backbone_relations(
    store: &Store,
    teacher: &BackboneTeacher,
    req: &RelationsRequest,
    compute: &ComputeDevice,
    code: &CodeIdentity,
) -> Result<(Artifact, bool)> {
    let device = compute.device.clone();
    let dataset = store.find(Some(DATASET_STAGE), teacher.dataset_key)?;
    let ds = Dataset::open(&dataset)?;
    let n = ds.info.n_train;
    check_k(req.k, n)?;
    let params =
        RelationParams { centre: req.centre, ivf: req.search.ivf_params(n)?, ..RelationParams::new(req.k) };
    let spec = ArtifactSpec::new(RELATIONS_STAGE, RELATIONS_SCHEMA_VERSION, &params)
        .with_input(teacher.input, teacher.artifact.key())
        .with_input("dataset", &ds.key);
    let pending = match store.begin(&spec, BeginOptions { force: req.force, resume: false })? {
        Begin::Cached(a) => return Ok((a, true)),
        Begin::Run(p) => p,
    };
    let started = std::time::Instant::now();

    let (mut train_emb, dim) = rmd_nn::relations::embed_training_images(
        teacher.backbone,
        &ds.train,
        teacher.shape,
        &teacher.norm,
        &device,
        teacher.dim,
        req.progress,
    );
    let test_idx: Vec<u32> = (0..ds.info.n_test as u32).collect();
    let (mut test_emb, _) =
        rmd_nn::knn::embed(teacher.backbone, &ds.test, &test_idx, teacher.shape, &teacher.norm, &device, 256);
    if req.centre {
        centre::centre_and_normalise(&mut train_emb, &mut test_emb, dim);
    }
    let embed_secs = started.elapsed().as_secs_f64();

    let searched = search_and_diagnose(&train_emb, &test_emb, dim, &ds, &params, req, compute)?;
    let mut meta = BTreeMap::new();
    meta.insert(format!("rmdnet.{}_key", teacher.input), teacher.artifact.key().to_string());
    let extra = serde_json::json!({
        "embed_seconds": embed_secs,
        "search_seconds": searched.seconds,
        "diagnostics_note": "label agreement and kNN accuracy use the clean labels: diagnostics only",
    });
    let extra = searched.with_recall(extra);
    let outputs = searched.outputs(&train_emb, dim);
    let artifact = commit_relations(pending, &ds, outputs, meta, extra, compute, code)?;
    Ok((artifact, false))
}

/// K must leave at least one non-neighbour: 1 ≤ K < N.
fn check_k(k: usize, n: usize) -> Result<()> {
    if k == 0 || k >= n {
        return Err(NnError::Invalid(format!("--k {k} must be between 1 and {} (samples − 1)", n - 1)).into());
    }
    Ok(())
}

/// Opens the dataset artifact a synthetic or external teacher is built for.
fn open_dataset(dataset: &Artifact) -> Result<Dataset> {
    if dataset.stage() != DATASET_STAGE {
        return Err(NnError::Invalid(format!(
            "--dataset {} is a {} artifact",
            &dataset.key()[..12],
            dataset.stage()
        ))
        .into());
    }
    Ok(Dataset::open(dataset)?)
}

/// The graph of L2-normalised training embeddings and its diagnostics.
struct Searched {
    top: TopK,
    knn_acc: f64,
    agreement: f64,
    seconds: f64,
    /// Measured recall of an approximate graph.
    recall: Option<Recall>,
}

impl Searched {
    /// `extra` with the measured recall of an approximate graph added.
    fn with_recall(&self, mut extra: serde_json::Value) -> serde_json::Value {
        if let (Some(r), Some(m)) = (&self.recall, extra.as_object_mut()) {
            m.insert("recall".to_string(), serde_json::json!(r));
        }
        extra
    }

    fn outputs<'a>(&'a self, embeddings: &'a [f32], dim: usize) -> RelationOutputs<'a> {
        RelationOutputs { embeddings, dim, top: &self.top, agreement: self.agreement, knn_acc: self.knn_acc }
    }
}

/// Exact top-K search over `train` (with a progress bar), the clean-label agreement of the
/// graph and the weighted kNN accuracy of `test` (NaN when there are no test embeddings).
fn search_and_diagnose(
    train: &[f32],
    test: &[f32],
    dim: usize,
    ds: &Dataset,
    params: &RelationParams,
    req: &RelationsRequest,
    compute: &ComputeDevice,
) -> Result<Searched> {
    let device = &compute.device;
    let n = ds.info.n_train;
    let started = std::time::Instant::now();
    let (top, recall) = match &params.ivf {
        Some(ivf) => {
            let GraphSearch::Ivf { recall_rows, .. } = req.search else {
                unreachable!("IVF parameters come from GraphSearch::Ivf")
            };
            if req.verbose {
                eprintln!(
                    "IVF index: k-means into {} cells ({} iterations), then each sample scored against its {} nearest cells",
                    ivf.lists, ivf.iterations, ivf.probes
                );
            }
            let what = format!("IVF top-{} search ({} cells, {} probed)", req.k, ivf.lists, ivf.probes);
            let bar = rmd_data::progress::count_bar(n as u64, req.progress, &what);
            let top = ivf_top_k(train, n, dim, req.k, ivf, device, |done| bar.set_position(done as u64));
            bar.finish_and_clear();
            if req.verbose {
                eprintln!("measuring recall against exact search on {} seeded rows", recall_rows.min(n));
            }
            let recall = sampled_recall(train, n, dim, &top, recall_rows, ivf.seed);
            if let Some(min) = req.search.shortfall(recall.recall_at_k) {
                return Err(NnError::Invalid(format!(
                    "the IVF graph's recall@{} is {:.4} on {} sampled rows, below --min-recall {min}; nothing was stored. Raise --ivf-probes (now {}) or lower --ivf-lists (now {})",
                    req.k, recall.recall_at_k, recall.rows, ivf.probes, ivf.lists
                ))
                .into());
            }
            (top, Some(recall))
        }
        None => {
            let bar =
                rmd_data::progress::count_bar(n as u64, req.progress, &format!("exact top-{} search", req.k));
            let top =
                exact_top_k(train, n, dim, req.k, req.block, device, |done| bar.set_position(done as u64));
            bar.finish_and_clear();
            (top, None)
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let knn_acc = if test.is_empty() {
        f64::NAN
    } else {
        knn_accuracy(
            train,
            ds.train.labels(),
            test,
            ds.test.labels(),
            dim,
            ds.info.num_classes(),
            params.knn_k,
            params.knn_temperature as f32,
            device,
        )
    };
    let agreement = label_agreement(&top.dst, req.k, ds.train.labels());
    Ok(Searched { top, knn_acc, agreement, seconds, recall })
}

/// What a relations artifact holds, however its embeddings were made.
struct RelationOutputs<'a> {
    embeddings: &'a [f32],
    dim: usize,
    top: &'a TopK,
    agreement: f64,
    knn_acc: f64,
}

/// Writes `embeddings.parquet` and `graph.parquet` with their metadata (`meta` adds to the
/// common keys) and commits with the common metrics plus `extra`.
fn commit_relations(
    pending: rmd_store::PendingArtifact,
    ds: &Dataset,
    out: RelationOutputs,
    mut meta: BTreeMap<String, String>,
    extra: serde_json::Value,
    compute: &ComputeDevice,
    code: &CodeIdentity,
) -> Result<Artifact> {
    let (n, k, dim, top) = (ds.info.n_train, out.top.k, out.dim, out.top);
    meta.insert("rmdnet.artifact_key".to_string(), pending.key().to_string());
    meta.insert("rmdnet.dataset_key".to_string(), ds.key.clone());
    meta.insert("rmdnet.k".to_string(), k.to_string());
    meta.insert("rmdnet.dim".to_string(), dim.to_string());
    meta.insert("rmdnet.n".to_string(), n.to_string());
    io::write_embeddings(&pending.path("embeddings.parquet"), out.embeddings, n, dim, &meta)?;
    io::write_graph(&pending.path("graph.parquet"), top, &meta)?;
    let mean_sim_by_rank: Vec<f64> = (0..k)
        .map(|r| top.sim.iter().skip(r).step_by(k).map(|&s| s as f64).sum::<f64>() / n as f64)
        .collect();
    let mut metrics = serde_json::json!({
        "n": n,
        "k": k,
        "dim": dim,
        "neighbour_label_agreement": out.agreement,
        "knn_acc": out.knn_acc,
        "mean_similarity_by_rank": mean_sim_by_rank,
        // Spread of the top-K similarities: how much a softmax over them can discriminate.
        "topk_similarity_std": centre::spread(&top.sim).1,
    });
    if let (Some(m), Some(e)) = (metrics.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    Ok(super::commit(pending, metrics, &[], compute, code)?)
}

/// Runs (or finds cached) the relations stage with a synthetic teacher of known purity built
/// from the dataset's clean labels ([`synthetic`]): a diagnostic, never a result.
pub fn run_synthetic_relations(
    store: &Store,
    dataset: &Artifact,
    teacher: &synthetic::SyntheticTeacher,
    req: &RelationsRequest,
    compute: &ComputeDevice,
    code: &CodeIdentity,
) -> Result<(Artifact, bool)> {
    let ds = open_dataset(dataset)?;
    let n = ds.info.n_train;
    check_k(req.k, n)?;
    teacher.validate(ds.info.num_classes()).map_err(NnError::Invalid)?;
    let params = RelationParams { synthetic: Some(teacher.clone()), ..RelationParams::new(req.k) };
    let spec =
        ArtifactSpec::new(RELATIONS_STAGE, RELATIONS_SCHEMA_VERSION, &params).with_input("dataset", &ds.key);
    let pending = match store.begin(&spec, BeginOptions { force: req.force, resume: false })? {
        Begin::Cached(a) => return Ok((a, true)),
        Begin::Run(p) => p,
    };
    let started = std::time::Instant::now();
    let device = compute.device.clone();
    let made = synthetic::synthesize(
        teacher,
        ds.train.labels(),
        ds.test.labels(),
        ds.info.num_classes(),
        req.k,
        &device,
        0.005,
        24,
        |step, sigma, agreement| {
            if req.verbose {
                eprintln!(
                    "  calibration step {step}: sigma {sigma:.4} -> neighbour agreement {agreement:.4}"
                );
            }
        },
    );
    let knn = knn_accuracy(
        &made.train,
        ds.train.labels(),
        &made.test,
        ds.test.labels(),
        teacher.dim,
        ds.info.num_classes(),
        200,
        0.1,
        &device,
    );
    let mut meta = BTreeMap::new();
    meta.insert(
        "rmdnet.synthetic_teacher".to_string(),
        "built from the clean labels: a diagnostic".to_string(),
    );
    let extra = serde_json::json!({
        "synthetic_teacher": {
            "requested_purity": teacher.purity,
            "reached_purity": made.agreement,
            "sigma": made.sigma,
            "calibration_steps": made.steps,
            "seconds": started.elapsed().as_secs_f64(),
        },
        "diagnostics_note": "SYNTHETIC TEACHER: embeddings and graph were built from the CLEAN labels to a chosen purity; a diagnostic of the regulariser, never a result",
    });
    let outputs = RelationOutputs {
        embeddings: &made.train,
        dim: teacher.dim,
        top: &made.graph,
        agreement: made.agreement,
        knn_acc: knn,
    };
    let artifact = commit_relations(pending, &ds, outputs, meta, extra, compute, code)?;
    Ok((artifact, false))
}

/// Runs (or finds cached) the relations stage from embeddings computed outside rmdnet
/// ([`external`]): `n_train` rows (training images in dataset order), or `n_train + n_test`
/// rows (then the test rows give the kNN accuracy diagnostic).
pub fn run_external_relations(
    store: &Store,
    dataset: &Artifact,
    emb: &external::ExternalEmbeddings,
    req: &RelationsRequest,
    compute: &ComputeDevice,
    code: &CodeIdentity,
) -> Result<(Artifact, bool)> {
    let ds = open_dataset(dataset)?;
    let (n, n_test) = (ds.info.n_train, ds.info.n_test);
    if emb.rows != n && emb.rows != n + n_test {
        return Err(NnError::Invalid(format!(
            "the embeddings have {} rows but dataset {} has {n} training images (or {} with its {n_test} test images after them)",
            emb.rows,
            &ds.key[..12],
            n + n_test
        ))
        .into());
    }
    check_k(req.k, n)?;
    let source = emb.source();
    let params = RelationParams {
        centre: req.centre,
        external: Some(source.clone()),
        ivf: req.search.ivf_params(n)?,
        ..RelationParams::new(req.k)
    };
    let spec =
        ArtifactSpec::new(RELATIONS_STAGE, RELATIONS_SCHEMA_VERSION, &params).with_input("dataset", &ds.key);
    let pending = match store.begin(&spec, BeginOptions { force: req.force, resume: false })? {
        Begin::Cached(a) => return Ok((a, true)),
        Begin::Run(p) => p,
    };
    let dim = emb.dim;
    let mut train_emb = emb.values[..n * dim].to_vec();
    let mut test_emb = emb.values[n * dim..].to_vec();
    if req.centre {
        centre::centre_and_normalise(&mut train_emb, &mut test_emb, dim);
    } else {
        centre::normalise_rows(&mut train_emb, dim);
        centre::normalise_rows(&mut test_emb, dim);
    }
    let searched = search_and_diagnose(&train_emb, &test_emb, dim, &ds, &params, req, compute)?;
    let mut meta = BTreeMap::new();
    meta.insert("rmdnet.external_embeddings_blake3".to_string(), source.values_blake3.clone());
    let extra = serde_json::json!({
        "search_seconds": searched.seconds,
        "teacher": "external embeddings",
        "diagnostics_note": "label agreement and kNN accuracy use the clean labels: diagnostics only; kNN accuracy is null when the file has no test rows",
    });
    let extra = searched.with_recall(extra);
    let outputs = searched.outputs(&train_emb, dim);
    let artifact = commit_relations(pending, &ds, outputs, meta, extra, compute, code)?;
    Ok((artifact, false))
}

/// Evaluates how well neighbour disagreement detects the flipped labels of a noise artifact
/// (a small `graph-eval` artifact: `scores.parquet` and the AUCs in its metrics).
pub fn run_graph_eval(
    store: &Store,
    relations: &Artifact,
    noise: &Artifact,
    code: &CodeIdentity,
) -> Result<(Artifact, bool)> {
    if relations.stage() != RELATIONS_STAGE || noise.stage() != NOISE_STAGE {
        return Err(NnError::Invalid(
            "graph evaluation needs a relations artifact and a noise artifact".into(),
        )
        .into());
    }
    let spec = ArtifactSpec::new(GRAPH_EVAL_STAGE, GRAPH_EVAL_SCHEMA_VERSION, &serde_json::json!({}))
        .with_input("relations", relations.key())
        .with_input("noise", noise.key());
    let pending = match store.begin(&spec, BeginOptions::default())? {
        Begin::Cached(a) => return Ok((a, true)),
        Begin::Run(p) => p,
    };
    let graph = RelationGraph::open(&relations.dir)?;
    let labels = NoiseLabels::open(noise)?;
    if labels.dataset_key != graph.dataset_key {
        return Err(NnError::Invalid(format!(
            "the noise artifact belongs to dataset {} but the graph to dataset {}",
            &labels.dataset_key[..12],
            &graph.dataset_key[..12.min(graph.dataset_key.len())]
        ))
        .into());
    }
    graph.check_fits(labels.noisy.len(), None)?;
    let scores = disagreement_scores(&graph.dst, graph.k, &labels.noisy);
    let is_noisy: Vec<bool> = labels.clean.iter().zip(&labels.noisy).map(|(c, n)| c != n).collect();
    let auc = roc_auc(&scores, &is_noisy);
    let classes = labels.clean.iter().copied().max().map_or(0, |m| m as usize + 1);
    let per_class: Vec<Option<f64>> = (0..classes)
        .map(|c| {
            let members: Vec<usize> = (0..scores.len()).filter(|&i| labels.clean[i] as usize == c).collect();
            let s: Vec<f64> = members.iter().map(|&i| scores[i]).collect();
            let p: Vec<bool> = members.iter().map(|&i| is_noisy[i]).collect();
            roc_auc(&s, &p)
        })
        .collect();
    let path = pending.path("scores.parquet");
    let cols: Vec<(&str, ArrayRef, bool)> = vec![
        ("index", Arc::new(UInt32Array::from_iter_values(0..scores.len() as u32)), false),
        ("disagreement", Arc::new(Float64Array::from(scores.clone())), false),
        ("is_noisy", Arc::new(BooleanArray::from(is_noisy.clone())), false),
    ];
    let batch = RecordBatch::try_from_iter_with_nullable(cols)
        .map_err(|e| NnError::Record { path: path.clone(), reason: e.to_string() })?;
    rmd_data::parquet_io::write_parquet(&path, &batch, &BTreeMap::new())?;
    let metrics = serde_json::json!({
        "k": graph.k,
        "noise_rate": is_noisy.iter().filter(|&&x| x).count() as f64 / is_noisy.len() as f64,
        "detection_auc": auc,
        "per_class_auc": per_class,
        "note": "score = fraction of the K neighbours whose noisy label differs; AUC against is_noisy; per_class_auc by clean class",
    });
    let artifact = pending.commit(CommitInfo {
        metrics,
        seeds: BTreeMap::new(),
        code: code.clone(),
        backend: "none".into(),
        device: "cpu".into(),
    })?;
    Ok((artifact, false))
}
