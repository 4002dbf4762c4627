//! Garbage collection: temporaries, artifacts whose inputs are gone, and (on request)
//! everything not needed by a set of artifacts to keep.

use crate::error::{IoContext, Result};
use crate::manifest::MANIFEST_FILE;
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
    /// Bytes freed (or that would be).
    pub bytes: u64,
}

impl Store {
    /// Removes partial directories of runs no process is working on, leftovers of
    /// replaced artifacts and imports, key directories without a manifest, artifacts whose
    /// inputs are no longer in the store, and, with `keep`, every artifact outside the
    /// kept artifacts' input closure.
    pub fn gc(&self, opts: &GcOptions) -> Result<GcReport> {
        let mut report = GcReport::default();
        let mut doomed: Vec<(PathBuf, String)> = Vec::new();

        for entry in std::fs::read_dir(self.root()).ctx("listing", self.root())? {
            let entry = entry.ctx("listing", self.root())?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(rest) = name.strip_prefix(".import-") {
                let pid = rest.split('-').next().unwrap_or("");
                if !Path::new("/proc").join(pid).exists() {
                    doomed.push((entry.path(), "abandoned import".into()));
                }
            }
        }

        // stage/key → inputs, for complete artifacts.
        let mut graph: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for stage in self.stages()? {
            let stage_dir = self.stage_dir(&stage);
            for entry in std::fs::read_dir(&stage_dir).ctx("listing", &stage_dir)? {
                let entry = entry.ctx("listing", &stage_dir)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(key) = name.strip_prefix(".partial-") {
                    if !lock_is_held(&stage_dir.join(format!(".lock-{key}"))) {
                        doomed.push((entry.path(), "interrupted run".into()));
                    }
                } else if name.starts_with(".trash-") {
                    doomed.push((entry.path(), "replaced artifact".into()));
                }
            }
            for key in self.key_dirs(&stage)? {
                let dir = self.artifact_dir(&stage, &key);
                match crate::Manifest::read(&dir) {
                    Ok(m) => {
                        graph.insert((stage.clone(), key), m.inputs.values().cloned().collect());
                    }
                    Err(_) if !dir.join(MANIFEST_FILE).exists() => {
                        doomed.push((dir, "no manifest".into()));
                    }
                    // A present but unreadable manifest is for `verify` to report.
                    Err(_) => {}
                }
            }
        }

        // Artifacts whose inputs are missing, transitively.
        let mut present: BTreeSet<String> = graph.keys().map(|(_, k)| k.clone()).collect();
        loop {
            let dangling: Vec<(String, String)> = graph
                .iter()
                .filter(|((_, k), inputs)| present.contains(k) && inputs.iter().any(|i| !present.contains(i)))
                .map(|(sk, _)| sk.clone())
                .collect();
            if dangling.is_empty() {
                break;
            }
            for (stage, key) in dangling {
                present.remove(&key);
                doomed.push((self.artifact_dir(&stage, &key), "an input is no longer in the store".into()));
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
                if present.contains(key) && !keep.contains(key) {
                    doomed.push((self.artifact_dir(stage, key), "not needed by a kept artifact".into()));
                }
            }
        }

        for (path, why) in doomed {
            report.bytes += dir_size(&path);
            report.removed.push(format!("{} ({why})", path.display()));
            if !opts.dry_run {
                std::fs::remove_dir_all(&path).ctx("removing", &path)?;
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
    fn gc_removes_partials_dangling_and_unkept() {
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

        // remove c: d dangles
        std::fs::remove_dir_all(store.artifact_dir("up", &c)).unwrap();
        let r = store.gc(&GcOptions::default()).unwrap();
        assert_eq!(r.removed.len(), 1, "{:?}", r.removed);
        assert!(store.lookup_key("down", &d).unwrap().is_none());

        let e = make(&store, "up", 5, None);
        store.gc(&GcOptions { keep: vec![b[..10].to_string()], dry_run: false }).unwrap();
        assert!(store.lookup_key("down", &b).unwrap().is_some());
        assert!(store.lookup_key("up", &a).unwrap().is_some());
        assert!(store.lookup_key("up", &e).unwrap().is_none());
    }
}
