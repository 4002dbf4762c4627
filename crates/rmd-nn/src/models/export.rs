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

/// A SafeTensors file store at `path` in PyTorch's conventions, with `metadata` entries.
fn pytorch_store(path: &Path, metadata: &[(&str, String)]) -> SafetensorsStore {
    let mut store = SafetensorsStore::from_file(path).with_to_adapter(BurnToPyTorchAdapter).overwrite(true);
    for (k, v) in metadata {
        store = store.metadata(*k, v.clone());
    }
    store
}

/// Writes the classifier's backbone and head to `path` (metadata: `rmdnet.*` entries given).
pub fn export_classifier(model: &Classifier, path: &Path, metadata: &[(&str, String)]) -> Result<()> {
    let mut store = pytorch_store(path, metadata).with_regex(r"^(backbone|head)\.");
    model.save_into(&mut store).map_err(save_err(path))?;
    sort_header(path)
}

/// Writes an RM encoder to `path`.
pub fn export_encoder(model: &ResNet, path: &Path, metadata: &[(&str, String)]) -> Result<()> {
    let mut store = pytorch_store(path, metadata).match_all();
    model.save_into(&mut store).map_err(save_err(path))?;
    sort_header(path)
}

/// Rewrites the file's JSON header with sorted keys, in place and at the same length: the
/// writer emits its metadata map in a random order, and the same model must give the same
/// bytes.
fn sort_header(path: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let bad = |reason: String| NnError::Record { path: path.to_path_buf(), reason };
    let io = |cause| NnError::Io { action: "rewriting the header of", path: path.to_path_buf(), cause };
    let mut f = std::fs::OpenOptions::new().read(true).write(true).open(path).map_err(io)?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(io)?;
    let n = u64::from_le_bytes(len) as usize;
    let mut header = vec![0u8; n];
    f.read_exact(&mut header).map_err(io)?;
    // serde_json's map is ordered by key, so re-serialising sorts every level.
    let value: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| bad(format!("unreadable SafeTensors header: {e}")))?;
    let mut sorted = serde_json::to_vec(&value).map_err(|e| bad(e.to_string()))?;
    if sorted.len() > n {
        return Err(bad(format!("sorted header is {} bytes, longer than the {n} written", sorted.len())));
    }
    sorted.resize(n, b' ');
    f.seek(SeekFrom::Start(8)).map_err(io)?;
    f.write_all(&sorted).map_err(io)?;
    f.sync_all().map_err(io)
}
