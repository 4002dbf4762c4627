//! Export of trained weights to SafeTensors in PyTorch's conventions (linear weights as
//! `[out, in]`, batch-norm `weight`/`bias`/`running_mean`/`running_var`), so the equivalent
//! PyTorch module (`python/rmdnet_torch.py`) loads them with `load_state_dict`.
//!
//! Tensor names are the module paths: `backbone.stem.weight`, `backbone.stem_bn.weight`,
//! `backbone.blocks.0.conv1.weight`, `backbone.blocks.1.shortcut.conv.weight`, ...,
//! `head.weight`, `head.bias` for a classifier (its RGRL projection is left out: prediction
//! does not use it); the same without the `backbone.` prefix for an encoder.

use super::{Classifier, ResNet};
use crate::error::{NnError, Result};
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
use std::path::Path;

fn save_err(path: &Path) -> impl Fn(burn::store::SafetensorsStoreError) -> NnError + '_ {
    move |e| NnError::Record { path: path.to_path_buf(), reason: format!("writing SafeTensors: {e}") }
}

/// Writes the classifier's backbone and head to `path` (metadata: `rmdnet.*` entries given).
pub fn export_classifier(model: &Classifier, path: &Path, metadata: &[(&str, String)]) -> Result<()> {
    let mut store = SafetensorsStore::from_file(path)
        .with_regex(r"^(backbone|head)\.")
        .with_to_adapter(BurnToPyTorchAdapter)
        .overwrite(true);
    for (k, v) in metadata {
        store = store.metadata(*k, v.clone());
    }
    model.save_into(&mut store).map_err(save_err(path))
}

/// Writes an RM encoder to `path`.
pub fn export_encoder(model: &ResNet, path: &Path, metadata: &[(&str, String)]) -> Result<()> {
    let mut store =
        SafetensorsStore::from_file(path).match_all().with_to_adapter(BurnToPyTorchAdapter).overwrite(true);
    for (k, v) in metadata {
        store = store.metadata(*k, v.clone());
    }
    model.save_into(&mut store).map_err(save_err(path))
}
