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
        manifest.validate().map_err(corrupt)?;
        Ok(manifest)
    }

    /// Checks every field a reader relies on, so that a manifest from a bundle, a remote or a
    /// tampered store is refused here rather than trusted (or sliced, printed, joined into a
    /// path) later: the key and every input key are 64 lowercase hex digits, the stage, input
    /// roles and seed roles are short ASCII ids, output names are plain ASCII file names with
    /// 64-hex hashes, text fields hold no control characters, and the wall time is a finite,
    /// non-negative number. The message names the field (values are shown escaped).
    pub fn validate(&self) -> std::result::Result<(), String> {
        let key = |field: &str, v: &str| {
            if crate::is_key(v) {
                Ok(())
            } else {
                Err(format!("{field} {:?} is not a 64-digit lowercase hex key", shown(v)))
            }
        };
        if self.manifest_format != MANIFEST_FORMAT {
            return Err(format!(
                "manifest_format {} is not {MANIFEST_FORMAT}, the one this build reads",
                self.manifest_format
            ));
        }
        check_id("stage", &self.stage)?;
        key("key", &self.key)?;
        for (role, k) in &self.inputs {
            check_id("input role", role)?;
            key(&format!("input {role}"), k)?;
        }
        for (name, out) in &self.outputs {
            check_output_name(name)?;
            if !name.is_ascii() || name.chars().any(|c| c.is_ascii_control()) {
                return Err(format!("output name {:?} is not a plain ASCII file name", shown(name)));
            }
            if !crate::is_key(&out.blake3) {
                return Err(format!(
                    "output {name}: blake3 {:?} is not 64 lowercase hex digits",
                    shown(&out.blake3)
                ));
            }
        }
        for role in self.seeds.keys() {
            check_id("seed role", role)?;
        }
        let c = &self.code;
        let texts = [
            ("backend", Some(&self.backend)),
            ("device", Some(&self.device)),
            ("started_at", Some(&self.started_at)),
            ("finished_at", Some(&self.finished_at)),
            ("code.package_version", Some(&c.package_version)),
            ("code.git_commit", c.git_commit.as_ref()),
            ("code.cargo_lock_blake3", c.cargo_lock_blake3.as_ref()),
            ("code.burn_version", c.burn_version.as_ref()),
        ];
        for (field, text) in texts {
            if let Some(t) = text
                && (t.chars().any(char::is_control) || t.len() > 1024)
            {
                return Err(format!("{field} {:?} holds control characters or is over 1024 bytes", shown(t)));
            }
        }
        if !(self.wall_seconds.is_finite() && self.wall_seconds >= 0.0) {
            return Err(format!("wall_seconds {} is not a finite, non-negative number", self.wall_seconds));
        }
        Ok(())
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

/// An id a manifest uses as a name (stage, input or seed role): 1 to 64 ASCII letters,
/// digits, `_`, `-` or `.`.
fn check_id(field: &str, id: &str) -> std::result::Result<(), String> {
    let ok = (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(format!("{field} {:?} is not an id (1-64 ASCII letters, digits, '_', '-', '.')", shown(id)))
    }
}

/// A hostile value as it may be shown in a message: escaped and cut to 80 characters.
fn shown(v: &str) -> String {
    let mut e: String = v.escape_debug().take(80).collect();
    if v.escape_debug().count() > 80 {
        e.push('…');
    }
    e
}

/// Current time as RFC 3339 (UTC, second precision).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> serde_json::Value {
        let k = "a".repeat(64);
        serde_json::json!({
            "manifest_format": 1, "stage": "noise", "stage_schema_version": 1, "key": k,
            "params": {}, "inputs": {"dataset": k}, "outputs": {"labels.parquet": {"blake3": k, "bytes": 3}},
            "metrics": {}, "seeds": {"noise": 1}, "code": {"package_version": "0.1.0", "git_commit": null,
            "git_dirty": null, "cargo_lock_blake3": null, "burn_version": null},
            "backend": "none", "device": "cpu", "started_at": "2026-01-01T00:00:00Z",
            "finished_at": "2026-01-01T00:00:01Z", "wall_seconds": 1.0
        })
    }

    #[test]
    fn hostile_fields_make_a_manifest_corrupt_not_a_panic() {
        let path = Path::new("x/manifest.json");
        Manifest::parse(&good().to_string(), path).unwrap();
        let cases: [(&str, serde_json::Value, &str); 9] = [
            ("/inputs/dataset", "../../etc".into(), "input dataset"),
            ("/inputs/dataset", "é".repeat(32).into(), "not a 64-digit"),
            ("/key", "ABC".into(), "key"),
            ("/stage", "no\u{1b}[2J".into(), "stage"),
            ("/stage", "élan".into(), "stage"),
            ("/device", "cpu\u{7}".into(), "device"),
            ("/outputs/labels.parquet/blake3", "zz".into(), "blake3"),
            ("/manifest_format", 7.into(), "manifest_format"),
            ("/seeds", serde_json::json!({"ro le": 1}), "seed role"),
        ];
        for (at, value, want) in cases {
            let mut m = good();
            *m.pointer_mut(at).unwrap() = value;
            let err = Manifest::parse(&m.to_string(), path).unwrap_err().to_string();
            assert!(err.contains(want) && err.contains("x/manifest.json"), "{at}: {err}");
        }
        let mut m = good();
        m["inputs"] = serde_json::json!({"é": "a".repeat(64)});
        assert!(Manifest::parse(&m.to_string(), path).unwrap_err().to_string().contains("input role"));
        let mut m = good();
        m["outputs"] = serde_json::json!({"ü.bin": {"blake3": "a".repeat(64), "bytes": 1}});
        assert!(Manifest::parse(&m.to_string(), path).unwrap_err().to_string().contains("ASCII"));
    }

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
