//! `rmd predict`: a trained classifier's predictions on a dataset split, as Parquet.
//!
//! Columns: `index` (u32), `predicted_label` (u16), `predicted_class` (string), `confidence`
//! (f32, the top probability), `label` and `correct` (the split's stored label and whether the
//! prediction equals it), `probabilities` and `logits` (fixed-size lists of f32, one per
//! class). The file is
//! written beside its destination and renamed into place, so it is complete or absent.

use crate::stages::distill::DISTILL_STAGE;
use anyhow::bail;
use arrow_array::{
    ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, RecordBatch, StringArray, UInt16Array,
    UInt32Array,
};
use rmd_data::dataset::Dataset;
use rmd_nn::ComputeDevice;
use rmd_nn::distill::{accuracy, argmax, load_classifier, logits, softmax_rows};
use rmd_store::Artifact;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::cli::{UsageError, expect_stage, short};

/// Which split of the dataset to predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitChoice {
    /// The test split.
    Test,
    /// The training split.
    Train,
}

/// What a prediction run found.
#[derive(Debug, Clone)]
pub struct PredictSummary {
    /// Images predicted.
    pub n: usize,
    /// Accuracy against the split's stored labels.
    pub accuracy: f64,
    /// The classifier manifest's last-epoch test accuracy, when it was measured on this
    /// whole test split (so the two must be equal).
    pub manifest_test_acc: Option<f64>,
}

/// Predicts `split` of `dataset` with the classifier of `classifier` and writes `out`.
pub fn predict_to_parquet(
    classifier: &Artifact,
    dataset: &Artifact,
    split: SplitChoice,
    out: &Path,
    compute: &ComputeDevice,
) -> anyhow::Result<PredictSummary> {
    expect_stage(classifier, DISTILL_STAGE, "--classifier")?;
    // Refused before any work: a symlink, FIFO, device or directory is never replaced.
    rmd_store::output::check_replaceable(out)?;
    let (model, info) = load_classifier(&classifier.dir, &compute.device)?;
    let ds = Dataset::open(dataset)?;
    let shape = [ds.info.channels, ds.info.height, ds.info.width];
    if shape != info.image_shape {
        bail!(UsageError(format!(
            "dataset {} has {:?} (C, H, W) images but the classifier takes {:?}",
            short(&ds.key),
            shape,
            info.image_shape
        )));
    }
    if ds.info.classes != info.classes {
        bail!(UsageError(format!(
            "dataset {} has classes {:?} but the classifier predicts {:?}",
            short(&ds.key),
            ds.info.classes,
            info.classes
        )));
    }
    let data = match split {
        SplitChoice::Test => &ds.test,
        SplitChoice::Train => &ds.train,
    };
    let (img, norm) = (info.shape(), info.normalizer());
    let indices: Vec<u32> = (0..data.len() as u32).collect();
    // Batches of 500, as the training stage evaluates, so the logits are the same numbers.
    let (raw, classes) = logits(&model, data, &indices, img, &norm, &compute.device, 500);
    let predicted: Vec<u16> = raw.chunks(classes.max(1)).map(|r| argmax(r) as u16).collect();
    let probs: Vec<f32> = softmax_rows(&raw, classes).into_iter().map(|p| p as f32).collect();
    let labels = data.labels();
    let acc = accuracy(&predicted, labels);

    let names = |l: u16| info.classes[l as usize].as_str();
    let item = Arc::new(arrow_schema::Field::new("item", arrow_schema::DataType::Float32, false));
    let list = |values: Vec<f32>| {
        FixedSizeListArray::try_new(item.clone(), classes as i32, Arc::new(Float32Array::from(values)), None)
    };
    let prob_list = list(probs.clone())?;
    let logit_list = list(raw.clone())?;
    let cols: Vec<(&str, ArrayRef, bool)> = vec![
        ("index", Arc::new(UInt32Array::from(indices)), false),
        ("predicted_label", Arc::new(UInt16Array::from(predicted.clone())), false),
        (
            "predicted_class",
            Arc::new(StringArray::from_iter_values(predicted.iter().map(|&l| names(l)))),
            false,
        ),
        (
            "confidence",
            Arc::new(Float32Array::from_iter_values(
                probs.chunks(classes.max(1)).map(|r| r.iter().fold(0.0f32, |a, &b| a.max(b))),
            )),
            false,
        ),
        ("label", Arc::new(UInt16Array::from(labels.to_vec())), false),
        (
            "correct",
            Arc::new(BooleanArray::from_iter(predicted.iter().zip(labels).map(|(p, l)| Some(p == l)))),
            false,
        ),
        ("probabilities", Arc::new(prob_list), false),
        ("logits", Arc::new(logit_list), false),
    ];
    let batch = RecordBatch::try_from_iter_with_nullable(cols)?;
    let mut meta = BTreeMap::new();
    meta.insert("rmdnet.classifier_key".to_string(), classifier.key().to_string());
    meta.insert("rmdnet.dataset_key".to_string(), ds.key.clone());
    meta.insert("rmdnet.split".to_string(), format!("{split:?}").to_lowercase());
    meta.insert("rmdnet.classes".to_string(), serde_json::to_string(&info.classes)?);
    write_atomically(out, &batch, &meta)?;

    // The manifest's test accuracy was measured on the whole test split when it counted as
    // many test images as the split has.
    let whole_test = classifier.manifest.metrics["test_images"].as_u64() == Some(data.len() as u64);
    let manifest_test_acc = (split == SplitChoice::Test && whole_test && ds.key == info.dataset_key)
        .then(|| classifier.manifest.metrics["last_test_acc"].as_f64())
        .flatten();
    Ok(PredictSummary { n: predicted.len(), accuracy: acc, manifest_test_acc })
}

/// Writes the Parquet file next to `out` and renames it into place.
fn write_atomically(out: &Path, batch: &RecordBatch, meta: &BTreeMap<String, String>) -> anyhow::Result<()> {
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        bail!(UsageError(format!("--out {}: directory {} does not exist", out.display(), dir.display())));
    }
    rmd_store::output::write_via(out, |tmp| -> anyhow::Result<()> {
        Ok(rmd_data::parquet_io::write_parquet(tmp, batch, meta)?)
    })
}
