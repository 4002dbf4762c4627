//! Garbage collection. It deletes only what it can prove is the store's own leftover:
//! partial directories of runs no process holds, replaced artifacts, and abandoned imports,
//! each recognised by the exact name the store gives it (see `layout`). A key directory
//! without a readable manifest is moved to `<root>/.quarantine/`, never deleted. Artifacts
//! whose inputs are gone are reported and kept. With `keep`, every artifact outside the
//! kept artifacts' input closure is removed, as asked.

use crate::error::{IoContext, Result};
use crate::layout::{QUARANTINE_DIR, import_pid, partial_key, trash_key};
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::pending::unique_suffix;
use crate::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

/// What `gc` may remove.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Keys (or unique prefixes) to keep with all their inputs; when non-empty, every other
    /// artifact is removed.
    pub keep: Vec<String>,
    /// Only report what would be removed.
    pub dry_run: bool,
}

/// What `gc` removed (or would remove).
#[derive(Debug, Default)]
pub struct GcReport {
    /// One line per removed path, with the reason.
    pub removed: Vec<String>,
    /// One line per artifact directory moved to the quarantine, with the reason and where.
    pub quarantined: Vec<String>,
    /// Artifacts kept although something is wrong with them (an input is not in the store).
    pub warnings: Vec<String>,
    /// Bytes freed (or that would be).
    pub bytes: u64,
}

impl Store {
    /// Collects garbage (see the module documentation).
    pub fn gc(&self, opts: &GcOptions) -> Result<GcReport> {
        let mut report = GcReport::default();
        let mut doomed: Vec<(PathBuf, String)> = Vec::new();
        let mut unkept: Vec<(String, String)> = Vec::new();
        let mut suspect: Vec<(String, String, String)> = Vec::new();

        for entry in std::fs::read_dir(self.root()).ctx("listing", self.root())? {
            let entry = entry.ctx("listing", self.root())?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = import_pid(&name)
                && !Path::new("/proc").join(pid).exists()
            {
                doomed.push((entry.path(), "abandoned import".into()));
            }
        }

        // stage/key → inputs, for artifacts with a readable manifest.
        let mut graph: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        let mut present: BTreeSet<String> = BTreeSet::new();
        for stage in self.stages()? {
            let stage_dir = self.stage_dir(&stage);
            for entry in std::fs::read_dir(&stage_dir).ctx("listing", &stage_dir)? {
                let entry = entry.ctx("listing", &stage_dir)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !entry.file_type().ctx("inspecting", entry.path())?.is_dir() {
                    continue;
                }
                if let Some(key) = partial_key(&name) {
                    if !lock_is_held(&stage_dir.join(format!(".lock-{key}"))) {
                        doomed.push((entry.path(), "interrupted run (no process is working on it)".into()));
                    }
                } else if trash_key(&name).is_some() {
                    doomed.push((entry.path(), "replaced artifact".into()));
                }
            }
            for key in self.key_dirs(&stage)? {
                let dir = self.artifact_dir(&stage, &key);
                present.insert(key.clone());
                match Manifest::read(&dir) {
                    Ok(m) => {
                        graph.insert((stage.clone(), key), m.inputs.values().cloned().collect());
                    }
                    Err(_) if !dir.join(MANIFEST_FILE).exists() => {
                        suspect.push((stage.clone(), key, format!("no {MANIFEST_FILE}")));
                    }
                    Err(e) => suspect.push((stage.clone(), key, e.to_string())),
                }
            }
        }

        // Artifacts whose inputs are not in the store: worth knowing, never removed here.
        for ((stage, key), inputs) in &graph {
            for input in inputs.iter().filter(|i| !present.contains(*i)) {
                report.warnings.push(format!(
                    "{stage}/{}: input {} is not in the store (kept)",
                    &key[..12],
                    &input[..input.len().min(12)]
                ));
            }
        }

        if !opts.keep.is_empty() {
            let mut keep = BTreeSet::new();
            let mut todo: Vec<String> = Vec::new();
            for prefix in &opts.keep {
                todo.push(self.find(None, prefix)?.key().to_string());
            }
            let inputs_of: BTreeMap<&String, &Vec<String>> = graph.iter().map(|((_, k), v)| (k, v)).collect();
            while let Some(k) = todo.pop() {
                if keep.insert(k.clone())
                    && let Some(inputs) = inputs_of.get(&k)
                {
                    todo.extend(inputs.iter().cloned());
                }
            }
            for (stage, key) in graph.keys() {
                if !keep.contains(key) {
                    unkept.push((stage.clone(), key.clone()));
                }
            }
        }

        for (stage, key, why) in suspect {
            let dir = self.artifact_dir(&stage, &key);
            let dest =
                self.root().join(QUARANTINE_DIR).join(&stage).join(format!("{key}-{}", unique_suffix()));
            report.quarantined.push(format!("{} ({why}) -> {}", dir.display(), dest.display()));
            if !opts.dry_run {
                let _lock = self.lock_key(&stage, &key)?;
                if Manifest::read(&dir).is_ok() {
                    continue; // completed meanwhile by an import
                }
                let parent = dest.parent().expect("quarantine path has a parent");
                std::fs::create_dir_all(parent).ctx("creating", parent)?;
                std::fs::rename(&dir, &dest).ctx("moving to quarantine", &dir)?;
            }
        }
        for (path, why) in doomed {
            report.bytes += dir_size(&path);
            report.removed.push(format!("{} ({why})", path.display()));
            if !opts.dry_run {
                std::fs::remove_dir_all(&path).ctx("removing", &path)?;
            }
        }
        // An unkept artifact leaves its key in one rename (under the key's lock) before it
        // is deleted: a kill mid-delete leaves a `.trash-` directory that the next gc
        // finishes, never a half-deleted artifact under its key.
        for (stage, key) in unkept {
            let dir = self.artifact_dir(&stage, &key);
            report.bytes += dir_size(&dir);
            report.removed.push(format!("{} (not needed by a kept artifact)", dir.display()));
            if !opts.dry_run {
                let _lock = self.lock_key(&stage, &key)?;
                let trash = self.stage_dir(&stage).join(format!(".trash-{key}-{}", unique_suffix()));
                std::fs::rename(&dir, &trash).ctx("moving aside", &dir)?;
                std::fs::remove_dir_all(&trash).ctx("removing", &trash)?;
            }
        }
        Ok(report)
    }
}

fn lock_is_held(lock_path: &Path) -> bool {
    match OpenOptions::new().write(true).open(lock_path) {
        Ok(f) => f.try_lock().is_err(),
        Err(_) => false,
    }
}

fn dir_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path).map(|it| it.flatten().map(|e| dir_size(&e.path())).sum()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ArtifactSpec, Begin, BeginOptions, CommitInfo};
    use serde_json::json;

    fn make(store: &Store, stage: &str, n: u32, input: Option<&str>) -> String {
        let mut spec = ArtifactSpec::new(stage, 1, &json!({ "n": n }));
        if let Some(i) = input {
            spec = spec.with_input("up", i);
        }
        match store.begin(&spec, BeginOptions::default()).unwrap() {
            Begin::Run(p) => {
                std::fs::write(p.path("f"), n.to_le_bytes()).unwrap();
                p.commit(CommitInfo::default()).unwrap().key().to_string()
            }
            Begin::Cached(a) => a.key().to_string(),
        }
    }

    #[test]
    fn gc_removes_partials_and_unkept_but_keeps_artifacts_with_missing_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = make(&store, "up", 1, None);
        let b = make(&store, "down", 2, Some(&a));
        let c = make(&store, "up", 3, None);
        let d = make(&store, "down", 4, Some(&c));
        // an interrupted run
        let spec = ArtifactSpec::new("down", 1, &json!({"n": 9}));
        if let Begin::Run(p) = store.begin(&spec, BeginOptions::default()).unwrap() {
            std::fs::write(p.path("f"), b"partial").unwrap();
        }
        // a held partial must survive
        let held = ArtifactSpec::new("down", 1, &json!({"n": 10}));
        let _pending = match store.begin(&held, BeginOptions::default()).unwrap() {
            Begin::Run(p) => p,
            Begin::Cached(_) => panic!(),
        };
        let r = store.gc(&GcOptions { dry_run: true, ..Default::default() }).unwrap();
        assert_eq!(r.removed.len(), 1, "{:?}", r.removed);
        store.gc(&GcOptions::default()).unwrap();
        assert!(!store.stage_dir("down").join(format!(".partial-{}", spec.key())).exists());
        assert!(store.stage_dir("down").join(format!(".partial-{}", held.key())).exists());

        // remove c: d's input is gone, but d is intact: kept, with a warning
        std::fs::remove_dir_all(store.artifact_dir("up", &c)).unwrap();
        let r = store.gc(&GcOptions::default()).unwrap();
        assert!(r.removed.is_empty(), "{:?}", r.removed);
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(store.lookup_key("down", &d).unwrap().is_some());

        let e = make(&store, "up", 5, None);
        store.gc(&GcOptions { keep: vec![b[..10].to_string()], dry_run: false }).unwrap();
        assert!(store.lookup_key("down", &b).unwrap().is_some());
        assert!(store.lookup_key("up", &a).unwrap().is_some());
        assert!(store.lookup_key("up", &e).unwrap().is_none());
        assert!(store.lookup_key("down", &d).unwrap().is_none(), "--keep removes what it does not keep");
    }

    #[test]
    fn gc_never_deletes_what_is_not_its_own_and_quarantines_a_manifestless_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = make(&store, "up", 1, None);
        let b = make(&store, "down", 2, Some(&a));
        // Things a person put inside the store that merely look like leftovers.
        let notes = dir.path().join("documents/.partial-notes/thesis.tex");
        std::fs::create_dir_all(notes.parent().unwrap()).unwrap();
        std::fs::write(&notes, b"chapter 1").unwrap();
        let trash_like = store.stage_dir("up").join(".trash-photos");
        std::fs::create_dir_all(&trash_like).unwrap();
        let import_like = dir.path().join(".import-old");
        std::fs::create_dir_all(&import_like).unwrap();
        let hexdir = store.stage_dir("up").join("f".repeat(64));
        std::fs::create_dir_all(&hexdir).unwrap();
        std::fs::write(hexdir.join("data.bin"), b"precious").unwrap();
        // The manifest of an intact artifact goes missing.
        std::fs::remove_file(store.artifact_dir("up", &a).join(MANIFEST_FILE)).unwrap();

        let r = store.gc(&GcOptions::default()).unwrap();
        assert!(r.removed.is_empty(), "{:?}", r.removed);
        assert_eq!(r.quarantined.len(), 2, "{:?}", r.quarantined);
        assert!(notes.is_file() && trash_like.is_dir() && import_like.is_dir());
        // Both manifest-less directories are in the quarantine with their files.
        let q = dir.path().join(QUARANTINE_DIR).join("up");
        let moved: Vec<_> = std::fs::read_dir(&q).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(moved.len(), 2);
        assert!(moved.iter().any(|m| std::fs::read(m.join("data.bin")).is_ok_and(|d| d == b"precious")));
        assert!(moved.iter().any(|m| m.join("f").is_file()));
        // The downstream artifact is intact and still served.
        assert!(store.lookup_key("down", &b).unwrap().is_some());
        assert_eq!(r.warnings.len(), 0, "quarantine happens after the input check: {:?}", r.warnings);
        // A second gc finds the input missing now, warns, and still keeps it.
        let r = store.gc(&GcOptions::default()).unwrap();
        assert!(r.removed.is_empty() && r.quarantined.is_empty());
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(store.lookup_key("down", &b).unwrap().is_some());
    }
}
