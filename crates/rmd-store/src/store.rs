//! The store root, artifact lookup and listing.

use crate::error::{IoContext, Result, StoreError};
use crate::key::ArtifactSpec;
use crate::manifest::{MANIFEST_FILE, Manifest};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Environment variable that overrides the default store location.
pub const STORE_ENV: &str = "RMD_STORE";

/// The file that makes a directory a store. `Store::open` writes it into a new or empty
/// directory and refuses any other directory without it, so store verbs (notably `gc`) never
/// act on a directory that holds something else.
pub const STORE_MARKER: &str = ".rmdnet-store";

const MARKER_CONTENT: &str = "{\"rmdnet_store_format\": 1}\n";

/// A check of an artifact's content beyond its recorded hashes, supplied by the layer that
/// knows the file formats (e.g. keys embedded in Parquet metadata, a dataset's content
/// hash). Returns one line per problem, naming the file; empty means consistent. It runs in
/// `verify`, `export` and `import`.
pub type ContentCheck = fn(dir: &Path, manifest: &Manifest) -> Vec<String>;

/// A store rooted at a directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    plan_only: bool,
    content_check: Option<ContentCheck>,
}

/// Artifacts whose content this process has already re-hashed: (directory, blake3 of the
/// manifest's output list). Lookups hash each artifact once per process.
static VERIFIED: Mutex<Option<HashSet<(PathBuf, String)>>> = Mutex::new(None);

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

    /// Size check: every output exists with its recorded size (content is checked on lookup).
    /// Returns one line per problem; empty means complete.
    pub fn size_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, out) in &self.manifest.outputs {
            match crate::hashing::regular_file(&self.dir.join(name)) {
                Ok(m) if m.len() == out.bytes => {}
                Ok(m) => problems.push(format!("{name}: {} bytes, manifest records {}", m.len(), out.bytes)),
                Err(e) => problems.push(format!("{name}: {e}")),
            }
        }
        problems
    }
}

impl Store {
    /// Opens a store rooted at `root`, creating it when `root` does not exist or is an empty
    /// directory. A non-empty directory must carry the store marker ([`STORE_MARKER`]); one
    /// made before markers existed is adopted when everything in it has the store's layout
    /// and it holds at least one complete artifact.
    /// Anything else is refused with [`StoreError::NotAStore`].
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        let not_a_store = |reason: String| StoreError::NotAStore { path: root.clone(), reason };
        match std::fs::metadata(&root) {
            Ok(m) if !m.is_dir() => return Err(not_a_store("it is a file, not a directory".into())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&root).ctx("creating store directory", &root)?;
            }
            Err(e) => return Err(StoreError::io("inspecting", &root, e)),
        }
        let marker = root.join(STORE_MARKER);
        if !marker.is_file() {
            let foreign = crate::layout::foreign_entries(&root)?;
            if !foreign.is_empty() {
                return Err(not_a_store(format!(
                    "it has no {STORE_MARKER} marker and holds things a store does not ({}{}). Give --store a new or empty directory",
                    foreign.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
                    if foreign.len() > 3 {
                        format!(" and {} more", foreign.len() - 3)
                    } else {
                        String::new()
                    }
                )));
            }
            let empty = std::fs::read_dir(&root).ctx("listing", &root)?.next().is_none();
            if !empty && !crate::layout::holds_an_artifact(&root)? {
                return Err(not_a_store(format!(
                    "it has no {STORE_MARKER} marker and no complete artifact, so it is not taken for a store made before markers (whose leftovers gc would delete). Give --store a new or empty directory"
                )));
            }
            std::fs::write(&marker, MARKER_CONTENT).ctx("writing the store marker", &marker)?;
        }
        Ok(Store { root, plan_only: false, content_check: None })
    }

    /// The same store with a content check run by `verify`, `export` and `import`.
    pub fn with_content_check(mut self, check: ContentCheck) -> Store {
        self.content_check = Some(check);
        self
    }

    pub(crate) fn content_check(&self) -> Option<ContentCheck> {
        self.content_check
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
        if manifest.key != key || manifest.stage != stage || manifest.spec().key() != key {
            return Ok(Lookup::Broken(format!(
                "{} records {}/{}",
                dir.join(MANIFEST_FILE).display(),
                manifest.stage,
                manifest.key
            )));
        }
        let artifact = Artifact { dir, manifest };
        let problems = artifact.size_problems();
        if !problems.is_empty() {
            return Ok(Lookup::Broken(problems.join("; ")));
        }
        let memo_key = (artifact.dir.clone(), crate::verify::outputs_digest(&artifact.manifest));
        let known_good = VERIFIED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|s| s.contains(&memo_key));
        if !known_good {
            // The same checks as `store verify` (hashes, unlisted files, the installed
            // format-level check): a consumer never builds on what verify would refuse.
            let (problems, _) = crate::verify::verify_dir(&artifact.dir, stage, key, self.content_check);
            if !problems.is_empty() {
                return Ok(Lookup::Broken(problems.join("; ")));
            }
            VERIFIED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(HashSet::new)
                .insert(memo_key);
        }
        Ok(Lookup::Complete(Box::new(artifact)))
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
        let (s, key) = self.resolve(stage, prefix)?;
        match self.inspect(&s, &key)? {
            Lookup::Complete(a) => Ok(*a),
            Lookup::Broken(reason) => Err(StoreError::Damaged { stage: s, key, reason }),
            Lookup::Missing => unreachable!("listed directory vanished"),
        }
    }

    /// `(stage, key)` of the one key directory (complete or not) whose key starts with
    /// `prefix`, in `stage` if given; nothing is read or checked inside it.
    pub(crate) fn resolve(&self, stage: Option<&str>, prefix: &str) -> Result<(String, String)> {
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
            1 => Ok(matches.remove(0)),
            _ => Err(StoreError::Ambiguous {
                prefix: prefix.to_string(),
                candidates: matches.iter().map(|(s, k)| format!("{s}/{}", &k[..12])).collect(),
            }),
        }
    }
}

/// True for a 64-digit lowercase hex string (an artifact key).
pub fn is_key(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Begin, BeginOptions, CommitInfo};
    use serde_json::json;

    fn produce(store: &Store, n: u32, content: &[u8]) -> Artifact {
        match store.begin(&ArtifactSpec::new("demo", 1, &json!({ "n": n })), BeginOptions::default()).unwrap()
        {
            Begin::Run(p) => {
                std::fs::write(p.path("out.bin"), content).unwrap();
                p.commit(CommitInfo::default()).unwrap()
            }
            Begin::Cached(_) => panic!("expected a fresh run"),
        }
    }

    #[test]
    fn only_new_empty_or_marked_directories_open_as_stores() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new");
        Store::open(&new).unwrap();
        assert!(new.join(STORE_MARKER).is_file());
        Store::open(&new).unwrap();

        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("Documents/.partial-notes")).unwrap();
        std::fs::write(home.join("Documents/.partial-notes/thesis.tex"), b"x").unwrap();
        let err = Store::open(&home).unwrap_err();
        assert!(err.is_input_error());
        let msg = err.to_string();
        assert!(msg.contains("is not an rmdnet store") && msg.contains("Documents"), "{msg}");
        assert!(!home.join(STORE_MARKER).exists());

        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(Store::open(&file).unwrap_err().to_string().contains("is a file"));
    }

    #[test]
    fn a_folder_with_only_store_like_names_is_not_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let key = "0123456789abcdef".repeat(4);
        let file = dir.path().join(format!("backup/.partial-{key}/thesis.tex"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"years of work").unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(err.is_input_error() && err.to_string().contains("no complete artifact"), "{err}");
        assert!(!dir.path().join(STORE_MARKER).exists());
        assert_eq!(std::fs::read(&file).unwrap(), b"years of work");
    }

    #[test]
    fn a_store_made_before_markers_is_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = produce(&store, 1, b"hello");
        std::fs::remove_file(dir.path().join(STORE_MARKER)).unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(dir.path().join(STORE_MARKER).is_file());
        assert!(store.lookup_key("demo", a.key()).unwrap().is_some());
    }

    #[test]
    fn a_same_size_change_is_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = produce(&store, 2, b"hello world");
        // In another process (no memory of earlier checks) the change is caught on lookup.
        VERIFIED.lock().unwrap().take();
        std::fs::write(a.path("out.bin"), b"hello World").unwrap();
        assert!(store.lookup_key("demo", a.key()).unwrap().is_none());
        let err = store.find(None, &a.key()[..10]).unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }) && err.is_input_error());
        assert!(err.to_string().contains("out.bin: content changed"), "{err}");
        // Producing the key again replaces the damaged artifact.
        match store.begin(&ArtifactSpec::new("demo", 1, &json!({ "n": 2 })), BeginOptions::default()).unwrap()
        {
            Begin::Run(p) => {
                assert!(p.replaces().unwrap().contains("content changed"));
                std::fs::write(p.path("out.bin"), b"hello world").unwrap();
                p.commit(CommitInfo::default()).unwrap();
            }
            Begin::Cached(_) => panic!("a damaged artifact must not be a cache hit"),
        }
        assert!(store.find(None, &a.key()[..10]).is_ok());
    }

    #[test]
    fn an_edited_manifest_is_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = produce(&store, 3, b"x");
        let text = std::fs::read_to_string(a.path(MANIFEST_FILE)).unwrap();
        std::fs::write(a.path(MANIFEST_FILE), text.replace("\"n\": 3", "\"n\": 4")).unwrap();
        assert!(store.lookup_key("demo", a.key()).unwrap().is_none());
    }
}
