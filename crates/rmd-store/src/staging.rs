//! Artifacts received from elsewhere (a bundle, a remote) are written into a hidden
//! `.import-<pid>-<ns>` directory of the store, verified there exactly as `store verify`
//! verifies installed ones, and only then moved into place, inputs before the artifacts that
//! use them. Nothing that fails a check is ever installed.

use crate::error::{IoContext, Result, StoreError};
use crate::pending::unique_suffix;
use crate::store::Store;
use crate::verify::verify_dir;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A staging directory inside a store; removed (with whatever is left in it) when dropped.
/// `store gc` also removes one left by a killed process.
#[derive(Debug)]
pub struct Staging {
    root: PathBuf,
}

impl Staging {
    /// The staging directory itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Where the files of `stage/key` go before they are verified and installed.
    pub fn artifact_dir(&self, stage: &str, key: &str) -> PathBuf {
        self.root.join(stage).join(key)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// What [`Store::install_staged`] did.
#[derive(Debug, Default, Clone)]
pub struct InstallSummary {
    /// `stage/key` of the artifacts added to the store, in installation order.
    pub installed: Vec<String>,
    /// `stage/key` of those the store already had complete.
    pub already_present: Vec<String>,
}

/// Why staged artifacts were not installed.
#[derive(Debug)]
pub enum InstallError {
    /// A staged artifact fails a check (named `stage/key` and the problem); nothing was
    /// installed.
    Refused(String),
    /// The store itself failed (I/O).
    Store(StoreError),
}

impl From<StoreError> for InstallError {
    fn from(e: StoreError) -> Self {
        InstallError::Store(e)
    }
}

impl Store {
    /// A new staging directory inside the store (same file system, so installing is a
    /// rename).
    pub fn staging(&self) -> Result<Staging> {
        let root = self.root().join(format!(".import-{}", unique_suffix()));
        std::fs::create_dir_all(&root).ctx("creating", &root)?;
        Ok(Staging { root })
    }

    /// Verifies every staged artifact in `artifacts` (`(stage, key)`): manifest readable and
    /// hashing to its key, every output with its recorded size and blake3, no unlisted file,
    /// the installed content check; every input staged too or already in this store. Only
    /// when all pass are they moved into place, each after its inputs. `received_in` names
    /// where they came from in messages ("the bundle", "the pull").
    pub fn install_staged(
        &self,
        staging: &Staging,
        artifacts: &[(String, String)],
        received_in: &str,
    ) -> std::result::Result<InstallSummary, InstallError> {
        let mut manifests = Vec::new();
        for (stage, key) in artifacts {
            if !crate::layout::is_stage_name(stage) || !crate::store::is_key(key) {
                return Err(InstallError::Refused(format!("bad artifact name {stage:?}/{key:?}")));
            }
            let dir = staging.artifact_dir(stage, key);
            let (problems, manifest) = verify_dir(&dir, stage, key, self.content_check());
            match manifest {
                Some(m) if problems.is_empty() => manifests.push(m),
                _ => {
                    return Err(InstallError::Refused(format!(
                        "artifact {stage}/{key} fails verification: {}",
                        problems.join("; ")
                    )));
                }
            }
        }
        let staged: BTreeSet<&str> = artifacts.iter().map(|(_, k)| k.as_str()).collect();
        for m in &manifests {
            for (role, input) in &m.inputs {
                if !staged.contains(input.as_str()) && self.find(None, input).is_err() {
                    return Err(InstallError::Refused(format!(
                        "artifact {}/{} needs input '{role}' ({}), which is neither in {received_in} nor in this store",
                        m.stage,
                        m.key,
                        &input[..input.len().min(12)]
                    )));
                }
            }
        }
        // Inputs first: an artifact is installed once every staged input of it is.
        let mut summary = InstallSummary::default();
        let mut done: BTreeSet<String> = BTreeSet::new();
        while done.len() < manifests.len() {
            let before = done.len();
            for m in &manifests {
                if done.contains(&m.key) {
                    continue;
                }
                let ready = m.inputs.values().all(|i| !staged.contains(i.as_str()) || done.contains(i));
                if !ready {
                    continue;
                }
                let name = format!("{}/{}", m.stage, m.key);
                if self.install_dir(&m.stage, &m.key, &staging.artifact_dir(&m.stage, &m.key))? {
                    summary.installed.push(name);
                } else {
                    summary.already_present.push(name);
                }
                done.insert(m.key.clone());
            }
            if done.len() == before {
                return Err(InstallError::Refused("the received artifacts' inputs form a cycle".into()));
            }
        }
        Ok(summary)
    }

    /// The problems `store verify` finds in an artifact directory outside the store (empty
    /// when it would pass): used to check what a remote holds.
    pub fn verify_artifact_dir(&self, dir: &Path, stage: &str, key: &str) -> Vec<String> {
        verify_dir(dir, stage, key, self.content_check()).0
    }
}

#[cfg(test)]
mod tests {
    use crate::{ArtifactSpec, Begin, BeginOptions, CommitInfo, Store};
    use serde_json::json;

    fn produce(store: &Store, spec: &ArtifactSpec, bytes: &[u8]) -> String {
        match store.begin(spec, BeginOptions::default()).unwrap() {
            Begin::Run(p) => {
                std::fs::write(p.path("data.bin"), bytes).unwrap();
                p.commit(CommitInfo::default()).unwrap().key().to_string()
            }
            Begin::Cached(_) => panic!("fresh store"),
        }
    }

    fn copy_into(staging: &super::Staging, from: &Store, stage: &str, key: &str) {
        let dest = staging.artifact_dir(stage, key);
        std::fs::create_dir_all(&dest).unwrap();
        for e in std::fs::read_dir(from.artifact_dir(stage, key)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dest.join(e.file_name())).unwrap();
        }
    }

    #[test]
    fn staged_artifacts_install_inputs_first_and_tampered_ones_never() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(dir.path().join("a")).unwrap();
        let up = ArtifactSpec::new("up", 1, &json!({"n": 1}));
        let up_key = produce(&a, &up, &[1u8; 100]);
        let down = ArtifactSpec::new("down", 1, &json!({"n": 2})).with_input("x", &up_key);
        let down_key = produce(&a, &down, &[2u8; 50]);

        let b = Store::open(dir.path().join("b")).unwrap();
        // Without its input, the downstream artifact is refused.
        let st = b.staging().unwrap();
        copy_into(&st, &a, "down", &down_key);
        let err = b.install_staged(&st, &[("down".into(), down_key.clone())], "the test").unwrap_err();
        assert!(matches!(&err, super::InstallError::Refused(r) if r.contains("needs input 'x'")), "{err:?}");
        drop(st);
        assert!(b.list().unwrap().is_empty());

        // A changed byte is refused, naming the file.
        let st = b.staging().unwrap();
        copy_into(&st, &a, "up", &up_key);
        copy_into(&st, &a, "down", &down_key);
        let f = st.artifact_dir("up", &up_key).join("data.bin");
        std::fs::write(&f, [9u8; 100]).unwrap();
        let both = [("down".to_string(), down_key.clone()), ("up".to_string(), up_key.clone())];
        let err = b.install_staged(&st, &both, "the test").unwrap_err();
        assert!(matches!(&err, super::InstallError::Refused(r) if r.contains("data.bin")), "{err:?}");
        assert!(b.list().unwrap().is_empty());
        let staging_path = st.path().to_path_buf();
        drop(st);
        assert!(!staging_path.exists(), "a dropped staging directory is removed");

        // Intact: both installed, the input first, and verify passes.
        let st = b.staging().unwrap();
        copy_into(&st, &a, "up", &up_key);
        copy_into(&st, &a, "down", &down_key);
        let s = b.install_staged(&st, &both, "the test").unwrap();
        assert_eq!(s.installed, vec![format!("up/{up_key}"), format!("down/{down_key}")]);
        assert!(b.verify(None).unwrap().problems.is_empty());
    }
}
