//! The noise stage: from a dataset artifact and a noise request to a noise artifact with
//! `labels.parquet` and `transition.parquet`, and the reader later stages use.
//!
//! `labels.parquet`: `index` u32, `clean_label` u16, `noisy_label` u16, `is_noisy` bool,
//! one row per training sample in dataset order.
//! `transition.parquet`: one row per (true, noisy) class pair: `true_class` u16,
//! `true_class_name` string, `noisy_class` u16, `noisy_class_name` string, `count` u64,
//! `fraction` f64 (of the true class's samples).

use super::class_conditional::{AsymMap, asym_targets, flip_with_targets, pair_targets, symmetric};
use super::label_file::{LabelFileSpec, file_hash, read_label_file};
use super::{NoiseKind, NoiseOutcome, instance_dependent};
use crate::dataset::{DATASET_STAGE, Dataset};
use crate::error::{DataError, Result};
use crate::parquet_io::{int_column, read_parquet, write_parquet};
use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt16Array, UInt32Array, UInt64Array,
};
use rmd_store::{Artifact, ArtifactSpec, Begin, BeginOptions, CodeIdentity, CommitInfo, Store};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Stage name of noise artifacts.
pub const NOISE_STAGE: &str = "noise";
/// Schema version of noise artifacts.
pub const NOISE_SCHEMA_VERSION: u32 = 1;

/// What noise to inject.
#[derive(Debug, Clone)]
pub struct NoiseRequest {
    /// The model.
    pub kind: NoiseKind,
    /// Nominal rate (all kinds but `file`).
    pub rate: Option<f64>,
    /// Seed (all kinds but `file`).
    pub seed: u64,
    /// Map for `asym`; defaults by class count (cifar10 for 10, block5 for 100).
    pub asym_map: Option<AsymMap>,
    /// The file for `file`.
    pub label_file: Option<LabelFileSpec>,
}

#[derive(Debug, Serialize)]
struct LabelFileParams {
    blake3: String,
    column: String,
    index_column: Option<String>,
}

/// The parameters that determine a noise artifact (hashed into its key).
#[derive(Debug, Serialize)]
struct NoiseParams {
    noise: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    asym_map: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label_file: Option<LabelFileParams>,
}

fn params_for(req: &NoiseRequest, ds: &Dataset) -> Result<(NoiseParams, Option<AsymMap>)> {
    let needs_rate = req.kind != NoiseKind::File;
    match (needs_rate, req.rate) {
        (true, None) => return Err(DataError::invalid(format!("--noise {} needs --rate", req.kind.name()))),
        (true, Some(r)) if !(0.0..=1.0).contains(&r) || r.is_nan() => {
            return Err(DataError::invalid(format!("--rate {r} is outside [0, 1]")));
        }
        (true, Some(r)) if req.kind == NoiseKind::Instance && (r <= 0.0 || r >= 1.0) => {
            return Err(DataError::invalid(format!(
                "instance noise needs a rate strictly between 0 and 1, not {r}"
            )));
        }
        (false, Some(_)) => return Err(DataError::invalid("--rate does not apply to --noise file")),
        _ => {}
    }
    if req.kind != NoiseKind::Asym && req.asym_map.is_some() {
        return Err(DataError::invalid("--asym-map applies only to --noise asym"));
    }
    if (req.kind == NoiseKind::File) != req.label_file.is_some() {
        return Err(DataError::invalid(if req.kind == NoiseKind::File {
            "--noise file needs --labels-file and --label-column"
        } else {
            "--labels-file applies only to --noise file"
        }));
    }
    let map = if req.kind == NoiseKind::Asym {
        Some(match req.asym_map {
            Some(m) => m,
            None => AsymMap::default_for(ds.info.num_classes()).ok_or_else(|| {
                DataError::invalid(format!(
                    "--noise asym has no default map for {} classes: choose --asym-map",
                    ds.info.num_classes()
                ))
            })?,
        })
    } else {
        None
    };
    let label_file = match &req.label_file {
        Some(f) => Some(LabelFileParams {
            blake3: match crate::input_file_problem(&f.path) {
                None => file_hash(&f.path)?,
                Some(problem) => return Err(DataError::bad(&f.path, format!("the label file {problem}"))),
            },
            column: f.column.clone(),
            index_column: f.index_column.clone(),
        }),
        None => None,
    };
    Ok((
        NoiseParams {
            noise: req.kind.name(),
            rate: req.rate,
            seed: needs_rate.then_some(req.seed),
            asym_map: map.map(AsymMap::name),
            label_file,
        },
        map,
    ))
}

/// Runs (or finds in the cache) the noise stage. Returns the artifact and whether it was a
/// cache hit.
pub fn run_noise_stage(
    store: &Store,
    dataset: &Artifact,
    req: &NoiseRequest,
    code: &CodeIdentity,
    force: bool,
) -> Result<(Artifact, bool)> {
    let ds = Dataset::open(dataset)?;
    let (params, map) = params_for(req, &ds)?;
    let spec = ArtifactSpec::new(NOISE_STAGE, NOISE_SCHEMA_VERSION, &params).with_input("dataset", &ds.key);
    let pending = match store.begin(&spec, BeginOptions { force, resume: false })? {
        Begin::Cached(a) => return Ok((a, true)),
        Begin::Run(p) => p,
    };
    let clean = ds.train.labels();
    let c = ds.info.num_classes();
    let rate = req.rate.unwrap_or(0.0);
    let mut extra = serde_json::Map::new();
    let mut sources: Option<Vec<u16>> = None;
    let noisy = match req.kind {
        NoiseKind::Sym => symmetric(clean, c, rate, false, req.seed),
        NoiseKind::SymIncl => symmetric(clean, c, rate, true, req.seed),
        NoiseKind::Pair => flip_with_targets(clean, &pair_targets(c), rate, req.seed),
        NoiseKind::Asym => {
            let targets = asym_targets(
                map.expect("asym has a map"),
                &ds.info.classes,
                clean,
                ds.train.coarse_labels(),
            )?;
            sources = Some((0..c as u16).filter(|&k| targets[k as usize].is_some()).collect());
            flip_with_targets(clean, &targets, rate, req.seed)
        }
        NoiseKind::Instance => {
            instance_dependent(clean, ds.train.all_images(), ds.info.channels, c, rate, req.seed)
        }
        NoiseKind::File => {
            let f = req.label_file.as_ref().expect("file noise has a file");
            let imported = read_label_file(f, clean, &ds.info.classes)?;
            extra.insert("label_file".into(), json!(f.path.display().to_string()));
            extra.insert("label_column".into(), json!(f.column));
            extra.insert("index_column".into(), json!(imported.index_column));
            extra.insert("clean_label_mismatches".into(), json!(imported.clean_mismatches));
            imported.noisy
        }
    };
    let outcome = NoiseOutcome::new(clean, noisy, c);
    write_labels(&pending.path("labels.parquet"), clean, &outcome.noisy, pending.key(), &ds, req.kind)?;
    write_transition(&pending.path("transition.parquet"), &outcome, &ds.info.classes)?;

    let per_class: BTreeMap<&str, f64> =
        ds.info.classes.iter().map(String::as_str).zip(outcome.per_class_rate()).collect();
    let mut metrics = json!({
        "noise": req.kind.name(),
        "asym_map": map.map(AsymMap::name),
        "nominal_rate": req.rate,
        "actual_rate": outcome.actual_rate(),
        "n_samples": clean.len(),
        "n_noisy": outcome.num_noisy(),
        "per_class_rate": per_class,
    });
    if let Some(src) = &sources {
        let in_src: u64 = src.iter().map(|&k| outcome.counts[k as usize].iter().sum::<u64>()).sum();
        let flipped: u64 = src
            .iter()
            .map(|&k| outcome.counts[k as usize].iter().sum::<u64>() - outcome.counts[k as usize][k as usize])
            .sum();
        metrics["source_classes"] =
            json!(src.iter().map(|&k| &ds.info.classes[k as usize]).collect::<Vec<_>>());
        metrics["source_rate"] = json!(if in_src == 0 { 0.0 } else { flipped as f64 / in_src as f64 });
    }
    for (k, v) in extra {
        metrics[k] = v;
    }
    let mut seeds = BTreeMap::new();
    if req.kind != NoiseKind::File {
        seeds.insert("noise".to_string(), req.seed);
    }
    let artifact = pending.commit(CommitInfo {
        metrics,
        seeds,
        code: code.clone(),
        backend: "none".into(),
        device: "cpu".into(),
    })?;
    Ok((artifact, false))
}

fn batch_err(path: &Path) -> impl Fn(arrow_schema::ArrowError) -> DataError + '_ {
    move |e| DataError::Parquet { path: path.to_path_buf(), reason: e.to_string() }
}

fn write_labels(
    path: &Path,
    clean: &[u16],
    noisy: &[u16],
    key: &str,
    ds: &Dataset,
    kind: NoiseKind,
) -> Result<()> {
    let n = clean.len() as u32;
    let is_noisy: BooleanArray = clean.iter().zip(noisy).map(|(a, b)| Some(a != b)).collect();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("index", Arc::new(UInt32Array::from_iter_values(0..n))),
        ("clean_label", Arc::new(UInt16Array::from(clean.to_vec()))),
        ("noisy_label", Arc::new(UInt16Array::from(noisy.to_vec()))),
        ("is_noisy", Arc::new(is_noisy)),
    ];
    let batch = RecordBatch::try_from_iter_with_nullable(cols.into_iter().map(|(n, a)| (n, a, false)))
        .map_err(batch_err(path))?;
    let mut meta = BTreeMap::new();
    meta.insert("rmdnet.artifact_key".to_string(), key.to_string());
    meta.insert("rmdnet.dataset_key".to_string(), ds.key.clone());
    meta.insert("rmdnet.noise".to_string(), kind.name().to_string());
    meta.insert("rmdnet.classes".to_string(), serde_json::to_string(&ds.info.classes).expect("json"));
    write_parquet(path, &batch, &meta)
}

fn write_transition(path: &Path, o: &NoiseOutcome, classes: &[String]) -> Result<()> {
    let c = classes.len();
    let t = o.transition();
    let mut tc = Vec::new();
    let mut tn = Vec::new();
    let mut nc = Vec::new();
    let mut nn = Vec::new();
    let mut count = Vec::new();
    let mut frac = Vec::new();
    for i in 0..c {
        for j in 0..c {
            tc.push(i as u16);
            tn.push(classes[i].clone());
            nc.push(j as u16);
            nn.push(classes[j].clone());
            count.push(o.counts[i][j]);
            frac.push(t[i][j]);
        }
    }
    let cols: Vec<(&str, ArrayRef, bool)> = vec![
        ("true_class", Arc::new(UInt16Array::from(tc)), false),
        ("true_class_name", Arc::new(StringArray::from(tn)), false),
        ("noisy_class", Arc::new(UInt16Array::from(nc)), false),
        ("noisy_class_name", Arc::new(StringArray::from(nn)), false),
        ("count", Arc::new(UInt64Array::from(count)), false),
        ("fraction", Arc::new(Float64Array::from(frac)), false),
    ];
    let batch = RecordBatch::try_from_iter_with_nullable(cols).map_err(batch_err(path))?;
    write_parquet(path, &batch, &BTreeMap::new())
}

/// The labels of a noise artifact, for the stages that train on them.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseLabels {
    /// Key of the dataset artifact the labels belong to.
    pub dataset_key: String,
    /// Clean label per training sample.
    pub clean: Vec<u16>,
    /// Noisy label per training sample.
    pub noisy: Vec<u16>,
}

impl NoiseLabels {
    /// Reads `labels.parquet` of a noise artifact, checking row order and length.
    pub fn open(artifact: &Artifact) -> Result<NoiseLabels> {
        let path = artifact.path("labels.parquet");
        let dataset_key = artifact.manifest.inputs.get(DATASET_STAGE).cloned().ok_or_else(|| {
            DataError::bad(artifact.path("manifest.json"), "noise artifact has no dataset input")
        })?;
        let table = read_parquet(&path)?;
        let index = int_column(&table, &path, "index")?;
        if index.iter().enumerate().any(|(i, &x)| x != i as i64) {
            return Err(DataError::bad(&path, "rows are not in index order 0..n"));
        }
        let to16 = |v: Vec<i64>| v.into_iter().map(|x| x as u16).collect::<Vec<_>>();
        Ok(NoiseLabels {
            dataset_key,
            clean: to16(int_column(&table, &path, "clean_label")?),
            noisy: to16(int_column(&table, &path, "noisy_label")?),
        })
    }
}
