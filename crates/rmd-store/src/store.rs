//! The store root, artifact lookup and listing.

use crate::error::{IoContext, Result, StoreError};
use crate::key::ArtifactSpec;
use crate::manifest::{MANIFEST_FILE, Manifest};
use std::path::{Path, PathBuf};

/// Environment variable that overrides the default store location.
pub const STORE_ENV: &str = "RMD_STORE";

/// A store rooted at a directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    plan_only: bool,
}

/// A complete artifact: a directory with a readable manifest.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The artifact directory `<store>/<stage>/<key>`.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

/// What is found under an artifact's final directory.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// Nothing there.
    Missing,
    /// A manifest whose outputs exist with the recorded sizes.
    Complete(Box<Artifact>),
    /// Something there that is not a usable artifact, with the reason.
    Broken(String),
}

impl Artifact {
    /// The artifact key.
    pub fn key(&self) -> &str {
        &self.manifest.key
    }

    /// The stage that produced it.
    pub fn stage(&self) -> &str {
        &self.manifest.stage
    }

    /// Path of one output file (relative name as in the manifest).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Cheap completeness check: every output exists with its recorded size.
    /// Returns one line per problem; empty means complete.
    pub fn size_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, out) in &self.manifest.outputs {
            match std::fs::metadata(self.dir.join(name)) {
                Ok(m) if m.len() == out.bytes => {}
                Ok(m) => problems.push(format!("{name}: {} bytes, manifest records {}", m.len(), out.bytes)),
                Err(e) => problems.push(format!("{name}: {e}")),
            }
        }
        problems
    }
}

impl Store {
    /// Opens (and creates if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        std::fs::create_dir_all(&root).ctx("creating store directory", &root)?;
        Ok(Store { root, plan_only: false })
    }

    /// The same store in plan mode: [`Store::begin`] returns cache hits as usual but, instead
    /// of starting a computation, fails with [`StoreError::WouldRun`] naming the key (and
    /// records it for [`take_planned`](crate::take_planned)). Nothing is written.
    pub fn planning(mut self) -> Store {
        self.plan_only = true;
        self
    }

    /// Whether the store is in plan mode.
    pub fn is_planning(&self) -> bool {
        self.plan_only
    }

    /// The store root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<stage>`.
    pub fn stage_dir(&self, stage: &str) -> PathBuf {
        self.root.join(stage)
    }

    /// `<root>/<stage>/<key>`: where a complete artifact lives.
    pub fn artifact_dir(&self, stage: &str, key: &str) -> PathBuf {
        self.stage_dir(stage).join(key)
    }

    /// `<root>/<stage>/.partial-<key>`: where a run of that key writes (and keeps the
    /// checkpoints of an interrupted run) before its commit.
    pub fn partial_dir(&self, stage: &str, key: &str) -> PathBuf {
        self.stage_dir(stage).join(format!(".partial-{key}"))
    }

    /// The complete artifact for `spec`, if the store has one (a cache hit).
    pub fn lookup(&self, spec: &ArtifactSpec) -> Result<Option<Artifact>> {
        self.lookup_key(&spec.stage, &spec.key())
    }

    /// The complete artifact `stage/key`, if present.
    pub fn lookup_key(&self, stage: &str, key: &str) -> Result<Option<Artifact>> {
        match self.inspect(stage, key)? {
            Lookup::Complete(a) => Ok(Some(*a)),
            _ => Ok(None),
        }
    }

    pub(crate) fn inspect(&self, stage: &str, key: &str) -> Result<Lookup> {
        let dir = self.artifact_dir(stage, key);
        if !dir.exists() {
            return Ok(Lookup::Missing);
        }
        if !dir.join(MANIFEST_FILE).exists() {
            return Ok(Lookup::Broken(format!("{} has no {MANIFEST_FILE}", dir.display())));
        }
        let manifest = match Manifest::read(&dir) {
            Ok(m) => m,
            Err(e) => return Ok(Lookup::Broken(e.to_string())),
        };
        if manifest.key != key || manifest.stage != stage {
            return Ok(Lookup::Broken(format!(
                "{} records {}/{}",
                dir.join(MANIFEST_FILE).display(),
                manifest.stage,
                manifest.key
            )));
        }
        let artifact = Artifact { dir, manifest };
        let problems = artifact.size_problems();
        if problems.is_empty() {
            Ok(Lookup::Complete(Box::new(artifact)))
        } else {
            Ok(Lookup::Broken(problems.join("; ")))
        }
    }

    /// Stage directories present in the store.
    pub fn stages(&self) -> Result<Vec<String>> {
        let mut stages = Vec::new();
        for entry in std::fs::read_dir(&self.root).ctx("listing", &self.root)? {
            let entry = entry.ctx("listing", &self.root)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && entry.file_type().ctx("inspecting", entry.path())?.is_dir() {
                stages.push(name);
            }
        }
        stages.sort();
        Ok(stages)
    }

    /// Names of the key directories of one stage (complete or not), sorted.
    pub(crate) fn key_dirs(&self, stage: &str) -> Result<Vec<String>> {
        let dir = self.stage_dir(stage);
        let mut keys = Vec::new();
        if !dir.exists() {
            return Ok(keys);
        }
        for entry in std::fs::read_dir(&dir).ctx("listing", &dir)? {
            let entry = entry.ctx("listing", &dir)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_key(&name) && entry.file_type().ctx("inspecting", entry.path())?.is_dir() {
                keys.push(name);
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Every artifact with a readable manifest, by stage then start time.
    pub fn list(&self) -> Result<Vec<Artifact>> {
        let mut all = Vec::new();
        for stage in self.stages()? {
            for key in self.key_dirs(&stage)? {
                let dir = self.artifact_dir(&stage, &key);
                if let Ok(manifest) = Manifest::read(&dir) {
                    all.push(Artifact { dir, manifest });
                }
            }
        }
        all.sort_by(|a, b| {
            (a.stage(), &a.manifest.started_at, a.key()).cmp(&(b.stage(), &b.manifest.started_at, b.key()))
        });
        Ok(all)
    }

    /// The one complete artifact whose key starts with `prefix`, in `stage` if given.
    pub fn find(&self, stage: Option<&str>, prefix: &str) -> Result<Artifact> {
        let prefix_lc = prefix.to_ascii_lowercase();
        let stages = match stage {
            Some(s) => vec![s.to_string()],
            None => self.stages()?,
        };
        let mut matches = Vec::new();
        if !prefix_lc.is_empty() && prefix_lc.chars().all(|c| c.is_ascii_hexdigit()) {
            for s in &stages {
                for key in self.key_dirs(s)? {
                    if key.starts_with(&prefix_lc) {
                        matches.push((s.clone(), key));
                    }
                }
            }
        }
        match matches.len() {
            0 => Err(StoreError::NotFound {
                prefix: prefix.to_string(),
                stage: stage.map(str::to_string),
                store: self.root.clone(),
            }),
            1 => {
                let (s, key) = &matches[0];
                match self.inspect(s, key)? {
                    Lookup::Complete(a) => Ok(*a),
                    Lookup::Broken(reason) => Err(StoreError::CorruptManifest {
                        path: self.artifact_dir(s, key).join(MANIFEST_FILE),
                        reason: format!("artifact is incomplete: {reason}"),
                    }),
                    Lookup::Missing => unreachable!("listed directory vanished"),
                }
            }
            _ => Err(StoreError::Ambiguous {
                prefix: prefix.to_string(),
                candidates: matches.iter().map(|(s, k)| format!("{s}/{}", &k[..12])).collect(),
            }),
        }
    }
}

/// True for a 64-digit lowercase hex string (an artifact key).
pub(crate) fn is_key(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
