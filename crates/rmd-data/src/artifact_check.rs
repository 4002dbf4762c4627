//! Format-level consistency checks of stored artifacts, for the store's `verify`, `export`
//! and `import` ([`rmd_store::Store::with_content_check`]).
//!
//! Hashes prove that files are what a manifest lists; these checks prove that the files
//! belong to that manifest: every Parquet output's embedded `rmdnet.artifact_key` is the
//! artifact's key and every `rmdnet.<role>_key` is the manifest's input of that role, and a
//! dataset artifact's images and labels hash to the content hash its key was made from. A
//! bundle that puts one artifact's files under another's key and parameters is refused.

use crate::dataset::{DATASET_STAGE, Dataset, stored_content_hash};
use parquet::file::reader::{FileReader, SerializedFileReader};
use rmd_store::{Artifact, Manifest};
use std::path::Path;

/// The check to install on a store (see the module documentation).
pub fn check_artifact(dir: &Path, manifest: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    for name in manifest.outputs.keys().filter(|n| n.ends_with(".parquet")) {
        problems.extend(check_parquet_keys(&dir.join(name), name, manifest));
    }
    if manifest.stage == DATASET_STAGE {
        problems.extend(check_dataset_content(dir, manifest));
    }
    problems
}

fn check_parquet_keys(path: &Path, name: &str, manifest: &Manifest) -> Vec<String> {
    let metadata = match std::fs::File::open(path)
        .map_err(|e| e.to_string())
        .and_then(|f| SerializedFileReader::new(f).map_err(|e| e.to_string()))
    {
        Ok(reader) => reader.metadata().file_metadata().key_value_metadata().cloned().unwrap_or_default(),
        Err(e) => return vec![format!("{name}: not a readable Parquet file: {e}")],
    };
    let mut problems = Vec::new();
    for kv in metadata {
        let Some(role) = kv.key.strip_prefix("rmdnet.").and_then(|k| k.strip_suffix("_key")) else {
            continue;
        };
        let value = kv.value.unwrap_or_default();
        let expected = if role == "artifact" || (role == manifest.stage && manifest.stage == DATASET_STAGE) {
            Some(&manifest.key)
        } else {
            manifest.inputs.get(role)
        };
        match expected {
            Some(k) if *k == value => {}
            Some(k) => problems.push(format!(
                "{name}: embedded {} is {} but this artifact's {} is {}: the file belongs to another artifact",
                kv.key,
                short(&value),
                if role == "artifact" || role == manifest.stage { "key".to_string() } else { format!("'{role}' input") },
                short(k)
            )),
            None => problems.push(format!(
                "{name}: embedded {} = {} names an input this artifact does not have",
                kv.key,
                short(&value)
            )),
        }
    }
    problems
}

fn check_dataset_content(dir: &Path, manifest: &Manifest) -> Vec<String> {
    let artifact = Artifact { dir: dir.to_path_buf(), manifest: manifest.clone() };
    let ds = match Dataset::open(&artifact) {
        Ok(ds) => ds,
        Err(e) => return vec![format!("dataset files do not open: {e}")],
    };
    let recorded = manifest.params.get("content_blake3").and_then(|v| v.as_str()).unwrap_or("");
    let actual = stored_content_hash(&ds);
    let mut problems = Vec::new();
    if actual != recorded {
        problems.push(format!(
            "images and labels hash to {} but the key was made from content {}: another dataset's files",
            short(&actual),
            short(recorded)
        ));
    }
    if ds.info.content_blake3 != recorded {
        problems.push(format!(
            "dataset.json records content {} but the key was made from {}",
            short(&ds.info.content_blake3),
            short(recorded)
        ));
    }
    problems
}

fn short(key: &str) -> &str {
    &key[..key.len().min(12)]
}
