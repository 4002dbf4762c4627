//! Full verification: re-hash every output and check the manifest's own consistency.

use crate::error::Result;
use crate::hashing::{hash_file, list_files};
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::store::Store;
use std::path::Path;

/// One problem found in one artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Stage directory of the artifact.
    pub stage: String,
    /// Key directory of the artifact.
    pub key: String,
    /// What is wrong, naming the file.
    pub what: String,
}

/// The outcome of [`Store::verify`].
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// Number of artifacts checked.
    pub checked: usize,
    /// Tampered, missing or inconsistent content: verification fails.
    pub problems: Vec<Problem>,
    /// Worth knowing but not a failure (an input artifact that is not in this store).
    pub warnings: Vec<Problem>,
}

impl Store {
    /// Re-hashes the outputs of every artifact (or of the one matching `prefix`, complete
    /// or damaged).
    pub fn verify(&self, prefix: Option<&str>) -> Result<VerifyReport> {
        let mut targets = Vec::new();
        match prefix {
            // Resolved without the lookup's own content check: the full check follows.
            Some(p) => targets.push(self.resolve(None, p)?),
            None => {
                for stage in self.stages()? {
                    for key in self.key_dirs(&stage)? {
                        targets.push((stage.clone(), key));
                    }
                }
            }
        }
        let mut report = VerifyReport::default();
        for (stage, key) in targets {
            report.checked += 1;
            let dir = self.artifact_dir(&stage, &key);
            let (problems, manifest) = verify_dir(&dir, &stage, &key, self.content_check());
            report.problems.extend(problems.into_iter().map(|what| Problem {
                stage: stage.clone(),
                key: key.clone(),
                what,
            }));
            if let Some(m) = manifest {
                for (role, input) in &m.inputs {
                    if self.find(None, input).is_err() {
                        report.warnings.push(Problem {
                            stage: stage.clone(),
                            key: key.clone(),
                            what: format!("input '{role}' ({}) is not in this store", short(input)),
                        });
                    }
                }
            }
        }
        Ok(report)
    }
}

/// Checks one artifact directory; returns its problems and, when readable, its manifest.
pub(crate) fn verify_dir(
    dir: &Path,
    stage: &str,
    key: &str,
    content_check: Option<crate::ContentCheck>,
) -> (Vec<String>, Option<Manifest>) {
    let mut problems = Vec::new();
    let manifest = match Manifest::read(dir) {
        Ok(m) => m,
        Err(e) => return (vec![e.to_string()], None),
    };
    if manifest.key != key {
        problems.push(format!("{MANIFEST_FILE}: records key {} but lives under {}", manifest.key, key));
    }
    if manifest.stage != stage {
        problems.push(format!("{MANIFEST_FILE}: records stage {} but lives under {stage}/", manifest.stage));
    }
    let recomputed = manifest.spec().key();
    if recomputed != manifest.key {
        problems.push(format!(
            "{MANIFEST_FILE}: params/inputs hash to {} not to the recorded key (manifest edited?)",
            short(&recomputed)
        ));
    }
    let content_ok = {
        let hashes = hash_problems(dir, &manifest);
        let ok = hashes.is_empty();
        problems.extend(hashes);
        ok
    };
    match list_files(dir) {
        Ok(files) => {
            for f in files {
                if f != MANIFEST_FILE && !manifest.outputs.contains_key(&f) {
                    problems.push(format!("{f}: not listed in the manifest"));
                }
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    // Format-level checks only make sense on files that are what the manifest says.
    if content_ok && let Some(check) = content_check {
        problems.extend(check(dir, &manifest));
    }
    (problems, Some(manifest))
}

/// Re-hashes every output listed in the manifest: one line per file whose size or blake3
/// differs from the record, or that cannot be read.
pub(crate) fn hash_problems(dir: &Path, manifest: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, expected) in &manifest.outputs {
        let path = dir.join(name);
        match crate::hashing::regular_file(&path).and_then(|_| hash_file(&path)) {
            Ok(d) if d.bytes != expected.bytes => {
                problems.push(format!("{name}: {} bytes, manifest records {}", d.bytes, expected.bytes))
            }
            Ok(d) if d.blake3 != expected.blake3 => problems.push(format!(
                "{name}: content changed (blake3 {} != recorded {})",
                short(&d.blake3),
                short(&expected.blake3)
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    problems
}

/// A digest of a manifest's output list (names, sizes, hashes): what a verified artifact
/// is remembered by within one process.
pub(crate) fn outputs_digest(manifest: &Manifest) -> String {
    let mut h = blake3::Hasher::new();
    for (name, out) in &manifest.outputs {
        h.update(name.as_bytes());
        h.update(&[0]);
        h.update(out.blake3.as_bytes());
        h.update(&out.bytes.to_le_bytes());
    }
    h.finalize().to_hex().to_string()
}

fn short(key: &str) -> &str {
    &key[..key.len().min(12)]
}

#[cfg(test)]
mod tests {
    use crate::{ArtifactSpec, Begin, BeginOptions, CommitInfo, Store};

    #[test]
    fn verify_catches_a_flipped_byte_an_extra_file_and_an_edited_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let spec = ArtifactSpec::new("demo", 1, &serde_json::json!({"a": 1}));
        let a = match store.begin(&spec, BeginOptions::default()).unwrap() {
            Begin::Run(p) => {
                std::fs::write(p.path("x.bin"), vec![1u8; 1000]).unwrap();
                p.commit(CommitInfo::default()).unwrap()
            }
            Begin::Cached(_) => panic!(),
        };
        assert!(store.verify(None).unwrap().problems.is_empty());

        let mut bytes = std::fs::read(a.path("x.bin")).unwrap();
        bytes[500] ^= 0x01;
        std::fs::write(a.path("x.bin"), &bytes).unwrap();
        let r = store.verify(None).unwrap();
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert!(r.problems[0].what.contains("x.bin: content changed"));
        // By key prefix too: a damaged artifact is listed, not refused.
        let r = store.verify(Some(&a.key()[..8])).unwrap();
        assert!(r.problems.iter().any(|p| p.what.contains("x.bin: content changed")), "{:?}", r.problems);
        bytes[500] ^= 0x01;
        std::fs::write(a.path("x.bin"), &bytes).unwrap();

        std::fs::write(a.path("extra.txt"), b"x").unwrap();
        let r = store.verify(Some(&a.key()[..8])).unwrap();
        assert!(r.problems.iter().any(|p| p.what.contains("extra.txt")));
        std::fs::remove_file(a.path("extra.txt")).unwrap();

        let text = std::fs::read_to_string(a.path("manifest.json")).unwrap();
        std::fs::write(a.path("manifest.json"), text.replace("\"a\": 1", "\"a\": 2")).unwrap();
        let r = store.verify(None).unwrap();
        assert!(r.problems.iter().any(|p| p.what.contains("manifest edited")), "{:?}", r.problems);
    }
}
