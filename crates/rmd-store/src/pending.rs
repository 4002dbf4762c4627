//! Producing an artifact: lock, write into a partial directory, commit by rename.

use crate::error::{IoContext, Result, StoreError};
use crate::hashing::{hash_file, list_files};
use crate::key::ArtifactSpec;
use crate::manifest::{CodeIdentity, MANIFEST_FILE, MANIFEST_FORMAT, Manifest, OutputFile, now_rfc3339};
use crate::store::{Artifact, Lookup, Store};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Debug hook for crash tests: milliseconds to sleep after a stage has written its outputs
/// and before the manifest is written, so a test can kill the process mid-artifact.
pub const STALL_ENV: &str = "RMD_STORE_STALL_BEFORE_COMMIT_MS";

/// How to start producing an artifact.
#[derive(Debug, Clone, Copy, Default)]
pub struct BeginOptions {
    /// Recompute even when a complete artifact exists (it is replaced on commit).
    pub force: bool,
    /// Keep the files of an interrupted earlier run of the same key (checkpoints).
    pub resume: bool,
}

/// Result of [`Store::begin`].
#[derive(Debug)]
pub enum Begin {
    /// A complete artifact already exists (possibly finished by a concurrent process).
    Cached(Artifact),
    /// The caller must produce the outputs, then [`PendingArtifact::commit`].
    Run(PendingArtifact),
}

/// What the stage reports when it commits.
#[derive(Debug, Clone, Default)]
pub struct CommitInfo {
    /// Stage-specific figures.
    pub metrics: Value,
    /// Seeds by role.
    pub seeds: BTreeMap<String, u64>,
    /// The producing code.
    pub code: CodeIdentity,
    /// Compute backend name.
    pub backend: String,
    /// Device description.
    pub device: String,
}

/// An artifact being produced. Holds the per-key lock until committed or dropped; a dropped
/// (or killed) one leaves only a hidden `.partial-<key>` directory, never a complete-looking one.
#[derive(Debug)]
pub struct PendingArtifact {
    store: Store,
    spec: ArtifactSpec,
    key: String,
    partial: PathBuf,
    _lock: File,
    started_at: String,
    started: Instant,
    resumed: bool,
    replaced: Option<String>,
}

impl Store {
    /// Starts producing the artifact for `spec`, or returns the cached one.
    ///
    /// Blocks while another process holds the lock of the same key, then re-checks the
    /// cache, so two concurrent runs of one key produce it once.
    pub fn begin(&self, spec: &ArtifactSpec, opts: BeginOptions) -> Result<Begin> {
        let key = spec.key();
        if !opts.force
            && let Some(a) = self.lookup_key(&spec.stage, &key)?
        {
            return Ok(Begin::Cached(a));
        }
        if self.is_planning() {
            crate::plan::record(&spec.stage, &key);
            return Err(StoreError::WouldRun { stage: spec.stage.clone(), key });
        }
        let lock = self.lock_key(&spec.stage, &key)?;
        let replaced = match self.inspect(&spec.stage, &key)? {
            Lookup::Complete(a) if !opts.force => return Ok(Begin::Cached(*a)),
            Lookup::Complete(_) => Some("forced rerun".to_string()),
            Lookup::Broken(reason) => {
                crate::report::warn(format!(
                    "{}/{} is damaged ({reason}); computing it again to replace it",
                    spec.stage,
                    &key[..12.min(key.len())]
                ));
                Some(reason)
            }
            Lookup::Missing => None,
        };
        let partial = self.partial_dir(&spec.stage, &key);
        let mut resumed = false;
        if partial.exists() {
            if opts.resume {
                resumed = true;
            } else {
                std::fs::remove_dir_all(&partial).ctx("removing stale", &partial)?;
            }
        }
        std::fs::create_dir_all(&partial).ctx("creating", &partial)?;
        Ok(Begin::Run(PendingArtifact {
            store: self.clone(),
            spec: spec.clone(),
            key,
            partial,
            _lock: lock,
            started_at: now_rfc3339(),
            started: Instant::now(),
            resumed,
            replaced,
        }))
    }
}

impl Store {
    /// Takes the per-key lock of `stage/key`, waiting (with a message) while another process
    /// holds it. The lock is released when the returned file is dropped.
    pub(crate) fn lock_key(&self, stage: &str, key: &str) -> Result<File> {
        let stage_dir = self.stage_dir(stage);
        std::fs::create_dir_all(&stage_dir).ctx("creating", &stage_dir)?;
        let lock_path = stage_dir.join(format!(".lock-{key}"));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .ctx("opening lock file", &lock_path)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                crate::report::note(format!(
                    "waiting for another process producing {stage}/{}",
                    &key[..12.min(key.len())]
                ));
                lock.lock().ctx("locking", &lock_path)?;
            }
            Err(TryLockError::Error(e)) => return Err(StoreError::io("locking", &lock_path, e)),
        }
        Ok(lock)
    }

    /// Moves a verified, complete artifact directory `src` into place as `stage/key`
    /// (under the key's lock). Returns false when a complete artifact was already there.
    pub(crate) fn install_dir(&self, stage: &str, key: &str, src: &Path) -> Result<bool> {
        let _lock = self.lock_key(stage, key)?;
        let final_dir = self.artifact_dir(stage, key);
        match self.inspect(stage, key)? {
            Lookup::Complete(_) => return Ok(false),
            Lookup::Broken(_) => {
                let t = self.stage_dir(stage).join(format!(".trash-{key}-{}", unique_suffix()));
                std::fs::rename(&final_dir, &t).ctx("moving aside", &final_dir)?;
                std::fs::remove_dir_all(&t).ctx("removing", &t)?;
            }
            Lookup::Missing => {}
        }
        std::fs::rename(src, &final_dir).ctx("renaming into place", src)?;
        sync_dir(&self.stage_dir(stage))?;
        Ok(true)
    }
}

impl PendingArtifact {
    /// Directory to write outputs into.
    pub fn dir(&self) -> &Path {
        &self.partial
    }

    /// Path of an output file inside the partial directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.partial.join(name)
    }

    /// The key being produced.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The spec being produced.
    pub fn spec(&self) -> &ArtifactSpec {
        &self.spec
    }

    /// True when files of an interrupted earlier run were kept (`resume`).
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// Why an existing final directory will be replaced on commit (forced, or broken).
    pub fn replaces(&self) -> Option<&str> {
        self.replaced.as_deref()
    }

    /// Hashes every file in the partial directory, writes the manifest last, and renames
    /// the directory into place. Every file is synced before the rename.
    pub fn commit(self, info: CommitInfo) -> Result<Artifact> {
        if let Some(ms) = std::env::var(STALL_ENV).ok().and_then(|v| v.parse::<u64>().ok()) {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        let mut outputs = BTreeMap::new();
        for name in list_files(&self.partial)? {
            if name == MANIFEST_FILE || name.ends_with(".manifest.tmp") {
                return Err(StoreError::InvalidOutput { name, reason: "reserved for the store".into() });
            }
            if let Err(reason) = crate::manifest::check_output_name(&name) {
                return Err(StoreError::InvalidOutput { name, reason });
            }
            let path = self.partial.join(&name);
            crate::hashing::regular_file(&path)?;
            File::open(&path).and_then(|f| f.sync_all()).ctx("syncing", &path)?;
            let digest = hash_file(&path)?;
            outputs.insert(name, OutputFile { blake3: digest.blake3, bytes: digest.bytes });
        }
        let manifest = Manifest {
            manifest_format: MANIFEST_FORMAT,
            stage: self.spec.stage.clone(),
            stage_schema_version: self.spec.schema_version,
            key: self.key.clone(),
            params: self.spec.params.clone(),
            inputs: self.spec.inputs.clone(),
            outputs,
            metrics: info.metrics,
            seeds: info.seeds,
            code: info.code,
            backend: info.backend,
            device: info.device,
            started_at: self.started_at.clone(),
            finished_at: now_rfc3339(),
            wall_seconds: self.started.elapsed().as_secs_f64(),
        };
        write_synced(&self.partial, MANIFEST_FILE, manifest.to_json_pretty().as_bytes())?;
        sync_dir(&self.partial)?;

        let final_dir = self.store.artifact_dir(&self.spec.stage, &self.key);
        let stage_dir = self.store.stage_dir(&self.spec.stage);
        let mut trash = None;
        if final_dir.exists() {
            let t = stage_dir.join(format!(".trash-{}-{}", self.key, unique_suffix()));
            std::fs::rename(&final_dir, &t).ctx("moving aside", &final_dir)?;
            trash = Some(t);
        }
        std::fs::rename(&self.partial, &final_dir).ctx("renaming into place", &self.partial)?;
        sync_dir(&stage_dir)?;
        if let Some(t) = trash {
            std::fs::remove_dir_all(&t).ctx("removing", &t)?;
        }
        Ok(Artifact { dir: final_dir, manifest })
    }
}

impl Drop for PendingArtifact {
    /// A run that ends without a commit keeps its partial directory only when it wrote
    /// something there (checkpoints to resume from); an empty one (inputs rejected after the
    /// lock was taken) is removed. After a commit the directory has been renamed away.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.partial);
    }
}

/// Writes `dir/name` through a temporary file, syncs it and renames it into place.
fn write_synced(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{name}.manifest.tmp"));
    let path = dir.join(name);
    let mut f = File::create(&tmp).ctx("creating", &tmp)?;
    f.write_all(bytes).ctx("writing", &tmp)?;
    f.sync_all().ctx("syncing", &tmp)?;
    drop(f);
    std::fs::rename(&tmp, &path).ctx("renaming", &tmp)?;
    Ok(())
}

/// fsync of a directory, so renames inside it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).ctx("syncing directory", dir)
}

/// A suffix unique within this machine: process id and nanoseconds.
pub(crate) fn unique_suffix() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(rate: f64) -> ArtifactSpec {
        ArtifactSpec::new("demo", 1, &json!({ "rate": rate }))
    }

    fn produce(store: &Store, spec: &ArtifactSpec, content: &[u8]) -> Artifact {
        match store.begin(spec, BeginOptions::default()).unwrap() {
            Begin::Run(p) => {
                std::fs::write(p.path("out.bin"), content).unwrap();
                p.commit(CommitInfo::default()).unwrap()
            }
            Begin::Cached(_) => panic!("expected a fresh run"),
        }
    }

    #[test]
    fn commit_then_cache_hit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = spec(0.4);
        let a = produce(&store, &s, b"hello");
        assert_eq!(a.key(), s.key());
        assert_eq!(a.manifest.outputs["out.bin"].bytes, 5);
        assert!(matches!(store.begin(&s, BeginOptions::default()).unwrap(), Begin::Cached(_)));
        assert!(!store.partial_dir("demo", &s.key()).exists());
    }

    #[test]
    fn only_plain_regular_files_are_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s")).unwrap();
        let outside = dir.path().join("outside.bin");
        std::fs::write(&outside, b"host").unwrap();
        for (n, make) in [
            (
                1,
                &(|p: &PendingArtifact| {
                    std::fs::create_dir_all(p.path("sub")).unwrap();
                    std::fs::write(p.path("sub/x.bin"), b"x").unwrap();
                }) as &dyn Fn(&PendingArtifact),
            ),
            (2, &|p: &PendingArtifact| std::os::unix::fs::symlink(&outside, p.path("x.bin")).unwrap()),
        ] {
            let spec = ArtifactSpec::new("demo", 1, &json!({ "n": n }));
            let Begin::Run(p) = store.begin(&spec, BeginOptions::default()).unwrap() else { panic!() };
            make(&p);
            let err = p.commit(CommitInfo::default()).unwrap_err();
            assert!(
                err.to_string().contains("not a plain file name")
                    || err.to_string().contains("symbolic link"),
                "{err}"
            );
            assert!(store.lookup(&spec).unwrap().is_none());
        }
    }

    #[test]
    fn dropped_run_leaves_no_complete_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = spec(0.1);
        match store.begin(&s, BeginOptions::default()).unwrap() {
            Begin::Run(p) => std::fs::write(p.path("out.bin"), b"half").unwrap(),
            Begin::Cached(_) => panic!(),
        }
        assert!(store.lookup(&s).unwrap().is_none());
        assert!(store.list().unwrap().is_empty());
        // A resume keeps the partial files; a plain begin wipes them.
        match store.begin(&s, BeginOptions { resume: true, ..Default::default() }).unwrap() {
            Begin::Run(p) => {
                assert!(p.resumed());
                assert!(p.path("out.bin").exists());
            }
            Begin::Cached(_) => panic!(),
        }
        match store.begin(&s, BeginOptions::default()).unwrap() {
            Begin::Run(p) => assert!(!p.path("out.bin").exists()),
            Begin::Cached(_) => panic!(),
        }
    }

    #[test]
    fn a_run_that_writes_nothing_leaves_no_partial_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = spec(0.7);
        match store.begin(&s, BeginOptions::default()).unwrap() {
            Begin::Run(p) => assert!(p.dir().is_dir()),
            Begin::Cached(_) => panic!(),
        }
        assert!(!store.partial_dir("demo", &s.key()).exists(), "an empty partial is removed on drop");
    }

    #[test]
    fn size_mismatch_is_not_a_cache_hit_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = spec(0.2);
        let a = produce(&store, &s, b"hello");
        std::fs::write(a.path("out.bin"), b"hello world").unwrap();
        assert!(store.lookup(&s).unwrap().is_none());
        match store.begin(&s, BeginOptions::default()).unwrap() {
            Begin::Run(p) => {
                assert!(p.replaces().unwrap().contains("out.bin"));
                std::fs::write(p.path("out.bin"), b"hello").unwrap();
                p.commit(CommitInfo::default()).unwrap();
            }
            Begin::Cached(_) => panic!("broken artifact must not be a hit"),
        }
        assert!(store.lookup(&s).unwrap().is_some());
    }

    #[test]
    fn force_replaces_a_complete_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = spec(0.3);
        produce(&store, &s, b"one");
        match store.begin(&s, BeginOptions { force: true, ..Default::default() }).unwrap() {
            Begin::Run(p) => {
                std::fs::write(p.path("out.bin"), b"two!").unwrap();
                p.commit(CommitInfo::default()).unwrap();
            }
            Begin::Cached(_) => panic!("force must rerun"),
        }
        let a = store.lookup(&s).unwrap().unwrap();
        assert_eq!(std::fs::read(a.path("out.bin")).unwrap(), b"two!");
    }

    #[test]
    fn concurrent_producers_of_one_key_do_not_corrupt_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = spec(0.5);
        let ran = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| match store.begin(&s, BeginOptions::default()).unwrap() {
                    Begin::Run(p) => {
                        ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        std::fs::write(p.path("out.bin"), vec![7u8; 100_000]).unwrap();
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        p.commit(CommitInfo::default()).unwrap();
                    }
                    Begin::Cached(a) => assert_eq!(a.key(), s.key()),
                });
            }
        });
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 1, "exactly one producer ran");
        assert!(store.verify(None).unwrap().problems.is_empty());
    }
}
