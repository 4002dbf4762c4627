//! `rmd export`: a trained classifier's or RM encoder's weights as SafeTensors for PyTorch.
//!
//! Writes `classifier.safetensors` (or `encoder.safetensors`) and `export.json` into a
//! directory: the architecture, the input normalisation and the class names, everything
//! `python/rmdnet_torch.py` needs to rebuild the module and feed it. Files are written under
//! temporary names and renamed into place, `export.json` last, so a directory with
//! `export.json` is complete.

use crate::cli::{UsageError, short};
use crate::stages::distill::DISTILL_STAGE;
use crate::stages::pretrain::PRETRAIN_STAGE;
use anyhow::{Context, bail};
use rmd_nn::distill::load_classifier;
use rmd_nn::models::ResNetConfig;
use rmd_nn::models::export::{export_classifier, export_encoder};
use rmd_nn::pretrain::load_encoder;
use rmd_store::Artifact;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What `export.json` describes.
#[derive(Debug, Clone, Serialize)]
pub struct ExportInfo {
    /// "classifier" or "encoder".
    pub kind: &'static str,
    /// The artifact exported.
    pub artifact: String,
    /// The weights file, beside this description.
    pub weights: String,
    /// The residual backbone.
    pub backbone: ResNetConfig,
    /// Classes by output index (classifiers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// Per-channel mean of `pixel / 255` subtracted before the network.
    pub normalizer_mean: Vec<f32>,
    /// Per-channel standard deviation divided by after subtracting the mean.
    pub normalizer_std: Vec<f32>,
    /// Channels, height, width of the input images.
    pub image_shape: [usize; 3],
    /// The dataset artifact the model was trained on.
    pub dataset_key: String,
}

/// Exports `artifact` (an RGRL-stage classifier or an RM encoder) into `out`; returns the
/// paths written.
pub fn export(artifact: &Artifact, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    crate::cli::create_output_dir(out, "--out")?;
    let device = rmd_nn::ComputeDevice::select(rmd_nn::BackendKind::Flex, None)?.device;
    let meta = |kind: &str| {
        vec![("rmdnet.artifact_key", artifact.key().to_string()), ("rmdnet.kind", kind.to_string())]
    };
    let info = match artifact.stage() {
        DISTILL_STAGE => {
            let (model, m) = load_classifier(&artifact.dir, &device)?;
            let info = ExportInfo {
                kind: "classifier",
                artifact: artifact.key().to_string(),
                weights: "classifier.safetensors".into(),
                backbone: m.model.backbone.clone(),
                classes: Some(m.classes.clone()),
                normalizer_mean: m.normalizer_mean,
                normalizer_std: m.normalizer_std,
                image_shape: m.image_shape,
                dataset_key: m.dataset_key,
            };
            write_weights(&out.join(&info.weights), |tmp| {
                Ok(export_classifier(&model, tmp, &meta("classifier"))?)
            })?;
            info
        }
        PRETRAIN_STAGE => {
            let (model, m) = load_encoder(&artifact.dir, &device)?;
            let info = ExportInfo {
                kind: "encoder",
                artifact: artifact.key().to_string(),
                weights: "encoder.safetensors".into(),
                backbone: m.model.encoder.clone(),
                classes: None,
                normalizer_mean: m.normalizer_mean,
                normalizer_std: m.normalizer_std,
                image_shape: m.image_shape,
                dataset_key: m.dataset_key,
            };
            write_weights(&out.join(&info.weights), |tmp| {
                Ok(export_encoder(&model, tmp, &meta("encoder"))?)
            })?;
            info
        }
        other => bail!(UsageError(format!(
            "{} is a {other} artifact: only classifiers (distill) and RM encoders (pretrain) can be exported",
            short(artifact.key())
        ))),
    };
    let weights = out.join(&info.weights);
    let json = out.join("export.json");
    rmd_store::output::write_file(&json, (serde_json::to_string_pretty(&info)? + "\n").as_bytes())?;
    Ok(vec![weights, json])
}

/// Writes a weights file through a temporary name ([`rmd_store::output::write_via`]), readable
/// by everyone: the SafeTensors writer creates its file owner-only, and exported weights are
/// for sharing.
fn write_weights(dest: &Path, write: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<()> {
    rmd_store::output::write_via(dest, |tmp| {
        write(tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o644))
                .with_context(|| format!("setting permissions of {}", tmp.display()))?;
        }
        Ok(())
    })
}
