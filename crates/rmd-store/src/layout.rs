//! The names the store itself creates, so that nothing else is ever taken for its own.
//!
//! ```text
//! <root>/.rmdnet-store                      marker: this directory is a store
//! <root>/.remotes.toml                      the store's named remotes (`rmd store remote`)
//! <root>/<stage>/<key>/                     a complete artifact (manifest.json last)
//! <root>/<stage>/.partial-<key>/            a run in progress or interrupted (checkpoints)
//! <root>/<stage>/.lock-<key>                per-key OS file lock
//! <root>/<stage>/.trash-<key>-<pid>-<ns>/   a replaced artifact being removed
//! <root>/<stage>/.sources/                  a stage's own index (the dataset source stats)
//! <root>/.import-<pid>-<ns>/                an import being unpacked
//! <root>/.quarantine/<stage>/<key>-<pid>-<ns>/  artifacts gc moved aside (never deleted)
//! ```

use crate::error::{IoContext, Result};
use crate::store::{STORE_MARKER, is_key};
use std::path::Path;

/// The file naming a store's remotes (written by `rmd store remote add`).
pub const REMOTES_FILE: &str = ".remotes.toml";

/// Top-level directory where gc moves artifacts it cannot vouch for.
pub const QUARANTINE_DIR: &str = ".quarantine";

/// `.partial-<key>` → the key.
pub(crate) fn partial_key(name: &str) -> Option<&str> {
    name.strip_prefix(".partial-").filter(|k| is_key(k))
}

/// `.lock-<key>` → the key.
pub(crate) fn lock_key(name: &str) -> Option<&str> {
    name.strip_prefix(".lock-").filter(|k| is_key(k))
}

/// `.trash-<key>-<pid>-<nanos>` → the key.
pub(crate) fn trash_key(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(".trash-")?;
    let (key, suffix) = rest.split_at_checked(64)?;
    (is_key(key) && is_unique_suffix(suffix.strip_prefix('-')?)).then_some(key)
}

/// `.import-<pid>-<nanos>` → the pid.
pub(crate) fn import_pid(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(".import-")?;
    is_unique_suffix(rest).then(|| rest.split('-').next().unwrap_or(""))
}

/// `<pid>-<nanos>`, as written by `unique_suffix`.
fn is_unique_suffix(s: &str) -> bool {
    let mut parts = s.split('-');
    let digits = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

/// A stage directory name: lowercase letters, digits, `-` and `_`.
pub fn is_stage_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Entries under `root` (as `relative/path`) that a store does not create. Empty for an
/// empty directory and for a store made before the marker existed.
pub(crate) fn foreign_entries(root: &Path) -> Result<Vec<String>> {
    let mut foreign = Vec::new();
    for entry in std::fs::read_dir(root).ctx("listing", root)? {
        let entry = entry.ctx("listing", root)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().ctx("inspecting", entry.path())?.is_dir();
        if name == STORE_MARKER
            || (!is_dir && name == REMOTES_FILE)
            || (is_dir && (import_pid(&name).is_some() || name == QUARANTINE_DIR))
        {
            continue;
        }
        if !is_dir || !is_stage_name(&name) {
            foreign.push(name);
            continue;
        }
        let stage_dir = entry.path();
        for inner in std::fs::read_dir(&stage_dir).ctx("listing", &stage_dir)? {
            let inner = inner.ctx("listing", &stage_dir)?;
            let inner_name = inner.file_name().to_string_lossy().into_owned();
            let inner_is_dir = inner.file_type().ctx("inspecting", inner.path())?.is_dir();
            let ours = if inner_is_dir {
                (is_key(&inner_name) && inner.path().join(crate::MANIFEST_FILE).is_file())
                    || partial_key(&inner_name).is_some()
                    || trash_key(&inner_name).is_some()
                    || inner_name == ".sources"
            } else {
                lock_key(&inner_name).is_some()
            };
            if !ours {
                foreign.push(format!("{name}/{inner_name}"));
            }
        }
    }
    foreign.sort();
    Ok(foreign)
}

/// Whether some `<stage>/<key>/` under `root` holds a manifest that reads as one and names
/// that key: the evidence that an unmarked directory is a store made before markers.
pub(crate) fn holds_an_artifact(root: &Path) -> Result<bool> {
    for entry in std::fs::read_dir(root).ctx("listing", root)? {
        let entry = entry.ctx("listing", root)?;
        if !entry.file_type().ctx("inspecting", entry.path())?.is_dir() {
            continue;
        }
        let stage_dir = entry.path();
        let Ok(inner) = std::fs::read_dir(&stage_dir) else { continue };
        for e in inner.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if is_key(&name) && crate::Manifest::read(&e.path()).is_ok_and(|m| m.key == name) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn only_the_store_s_own_names_are_recognised() {
        assert_eq!(partial_key(&format!(".partial-{K}")), Some(K));
        assert_eq!(partial_key(".partial-notes"), None);
        assert_eq!(lock_key(&format!(".lock-{K}")), Some(K));
        assert_eq!(trash_key(&format!(".trash-{K}-12-345")), Some(K));
        assert_eq!(trash_key(&format!(".trash-{K}")), None);
        assert_eq!(trash_key(".trash-photos"), None);
        assert_eq!(import_pid(".import-12-345"), Some("12"));
        assert_eq!(import_pid(".import-old-stuff"), None);
    }

    #[test]
    fn a_directory_with_other_things_is_foreign() {
        let dir = tempfile::tempdir().unwrap();
        assert!(foreign_entries(dir.path()).unwrap().is_empty());
        std::fs::create_dir_all(dir.path().join("noise").join(format!(".partial-{K}"))).unwrap();
        assert!(foreign_entries(dir.path()).unwrap().is_empty());
        std::fs::create_dir_all(dir.path().join("documents/.partial-notes")).unwrap();
        std::fs::create_dir_all(dir.path().join("Photos")).unwrap();
        std::fs::write(dir.path().join("thesis.tex"), b"x").unwrap();
        assert_eq!(
            foreign_entries(dir.path()).unwrap(),
            vec!["Photos", "documents/.partial-notes", "thesis.tex"]
        );
    }
}
