//! The manifest: the record of how an artifact was made, written last into its directory.

use crate::error::{IoContext, Result, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

/// File name of the manifest inside an artifact directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Version of the manifest layout itself (not of any stage).
pub const MANIFEST_FORMAT: u32 = 1;

/// One output file: its content hash and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// blake3 of the file content, lowercase hex.
    pub blake3: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// The code that produced an artifact. Recorded, never part of the key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CodeIdentity {
    /// Version of the rmdnet package.
    pub package_version: String,
    /// Git commit of the build, when built from a git checkout.
    pub git_commit: Option<String>,
    /// Whether the checkout had uncommitted changes at build time.
    pub git_dirty: Option<bool>,
    /// blake3 of Cargo.lock at build time.
    pub cargo_lock_blake3: Option<String>,
    /// Version of the burn framework linked in, for stages that use it.
    pub burn_version: Option<String>,
}

/// Everything known about an artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version of this manifest.
    pub manifest_format: u32,
    /// Stage that produced the artifact.
    pub stage: String,
    /// The stage's output schema version.
    pub stage_schema_version: u32,
    /// The artifact key (blake3 of the canonical spec).
    pub key: String,
    /// The parameters that determine the content.
    pub params: Value,
    /// Upstream artifacts: role → key.
    pub inputs: BTreeMap<String, String>,
    /// Output files (plain file names inside the artifact directory) → hash and size.
    pub outputs: BTreeMap<String, OutputFile>,
    /// Stage-specific figures (rates, accuracies, ...).
    pub metrics: Value,
    /// Random seeds used, by role.
    pub seeds: BTreeMap<String, u64>,
    /// The code that produced it.
    pub code: CodeIdentity,
    /// Compute backend (`flex`, `cuda`, `wgpu`, or `none` for stages without tensors).
    pub backend: String,
    /// Device description.
    pub device: String,
    /// Start of the run that produced it (RFC 3339, UTC).
    pub started_at: String,
    /// End of that run (RFC 3339, UTC).
    pub finished_at: String,
    /// Wall-clock seconds of that run (of the last session, when resumed).
    pub wall_seconds: f64,
}

impl Manifest {
    /// Reads and parses `dir/manifest.json`.
    /// Output names that are not plain file names ([`check_output_name`]) make the manifest
    /// corrupt: every reader of a manifest goes through here, so no output name can point
    /// outside its artifact.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).ctx("reading", &path)?;
        Manifest::parse(&text, &path)
    }

    /// Parses a manifest's text (`path` names it in errors), with the output-name check of
    /// [`Manifest::read`].
    pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
        let corrupt = |reason: String| StoreError::CorruptManifest { path: path.to_path_buf(), reason };
        let manifest: Manifest = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
        for name in manifest.outputs.keys() {
            check_output_name(name).map_err(corrupt)?;
        }
        Ok(manifest)
    }

    /// The spec this manifest claims to have been made from.
    pub fn spec(&self) -> crate::ArtifactSpec {
        crate::ArtifactSpec {
            stage: self.stage.clone(),
            schema_version: self.stage_schema_version,
            params: self.params.clone(),
            inputs: self.inputs.clone(),
        }
    }

    /// Pretty JSON of the manifest.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("manifest serialises")
    }
}

/// Checks that `name` is a plain file name inside an artifact directory: not empty, not `.`
/// or `..`, no path separator or NUL, and not the manifest's own name.
pub fn check_output_name(name: &str) -> std::result::Result<(), String> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && name != MANIFEST_FILE
        && !name.contains(['/', '\\', '\0']);
    if plain {
        Ok(())
    } else {
        Err(format!("output name {name:?} is not a plain file name inside the artifact"))
    }
}

/// Current time as RFC 3339 (UTC, second precision).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::check_output_name;

    #[test]
    fn only_plain_file_names_are_output_names() {
        for ok in ["graph.parquet", ".hidden", "a..b", "epochs.csv"] {
            assert!(check_output_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "/etc/passwd", "a/b", "a\\b", "x\0y", "manifest.json"] {
            assert!(check_output_name(bad).is_err(), "{bad:?}");
        }
    }
}
