//! Relocatable bundles: one artifact and its inputs, as a gzip-compressed tar file.
//!
//! Layout inside the tar: `rmdnet-bundle.json` (the list of artifacts), then every file of
//! every artifact as `<stage>/<key>/<file>`. Manifests hold no absolute paths, so a bundle
//! imported into another store is a cache hit there for the same spec.

use crate::error::{IoContext, Result, StoreError};
use crate::manifest::MANIFEST_FILE;
use crate::store::{Artifact, Store, is_key};
use crate::verify::verify_dir;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Component, Path};

const BUNDLE_INDEX: &str = "rmdnet-bundle.json";

#[derive(Debug, Serialize, Deserialize)]
struct BundleIndex {
    bundle_format: u32,
    /// `stage/key` of the artifact the bundle was made for.
    root: String,
    /// `stage/key` of every artifact in the bundle.
    artifacts: Vec<String>,
    /// `stage/key` of inputs deliberately left out (`export --without STAGE`): the store
    /// that imports the bundle must already have them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    left_out: Vec<String>,
}

/// What an export wrote.
#[derive(Debug)]
pub struct ExportSummary {
    /// `stage/key` of every artifact written, the requested one first.
    pub artifacts: Vec<String>,
    /// `stage/key` of the inputs left out because of their stage.
    pub left_out: Vec<String>,
    /// Size of the bundle file.
    pub bytes: u64,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    /// `stage/key` of the artifact the bundle was made for.
    pub root: String,
    /// Artifacts added to the store.
    pub imported: Vec<String>,
    /// Artifacts the store already had complete.
    pub already_present: Vec<String>,
}

impl Store {
    /// Writes the artifact matching `prefix` and all its inputs (transitively) to `file`,
    /// except inputs whose stage is in `without` (nor what only they lead to): those the
    /// importing store must already have, e.g. noise artifacts, which hold the dataset's
    /// labels and are recomputed in seconds, or relations shared separately. Every artifact
    /// is verified first; the bundle is written to a temporary name and renamed, so a failed
    /// export leaves no bundle.
    pub fn export(&self, prefix: &str, file: &Path, without: &BTreeSet<String>) -> Result<ExportSummary> {
        // symlink_metadata, not exists(): a dangling symlink is an existing path too, and is
        // refused here rather than after the whole bundle has been written.
        if std::fs::symlink_metadata(file).is_ok() {
            return Err(StoreError::Bundle {
                path: file.to_path_buf(),
                reason: "already exists; remove it or give another file name".into(),
            });
        }
        let root = self.find(None, prefix)?;
        if without.contains(root.stage()) {
            return Err(StoreError::Bundle {
                path: file.to_path_buf(),
                reason: format!(
                    "--without {} would leave out {}/{} itself, the artifact being exported",
                    root.stage(),
                    root.stage(),
                    root.key()
                ),
            });
        }
        // A stage this store has never made is a typo, which would otherwise leave
        // everything in; a real stage the artifact happens not to depend on is fine, so one
        // `--without` list serves every artifact of a pipeline.
        if let Some(stage) =
            without.iter().find(|s| !crate::layout::is_stage_name(s) || !self.stage_dir(s).is_dir())
        {
            return Err(StoreError::Bundle {
                path: file.to_path_buf(),
                reason: format!("--without {stage}: this store has no artifacts of a stage of that name"),
            });
        }
        let mut order: Vec<Artifact> = Vec::new();
        let mut left_out = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut todo = vec![root.clone()];
        while let Some(a) = todo.pop() {
            if !seen.insert(a.key().to_string()) {
                continue;
            }
            if without.contains(a.stage()) {
                left_out.insert(format!("{}/{}", a.stage(), a.key()));
                continue;
            }
            for (role, input) in &a.manifest.inputs {
                let up = self.find(None, input).map_err(|_| StoreError::Bundle {
                    path: file.to_path_buf(),
                    reason: format!(
                        "input '{role}' ({input}) of {}/{} is not in the store, so the bundle would be incomplete",
                        a.stage(),
                        a.key()
                    ),
                })?;
                todo.push(up);
            }
            order.push(a);
        }
        for a in &order {
            let (problems, _) = verify_dir(&a.dir, a.stage(), a.key(), self.content_check());
            if !problems.is_empty() {
                return Err(StoreError::Tampered { stage: a.stage().into(), key: a.key().into(), problems });
            }
        }
        let index = BundleIndex {
            bundle_format: 1,
            root: format!("{}/{}", root.stage(), root.key()),
            artifacts: order.iter().map(|a| format!("{}/{}", a.stage(), a.key())).collect(),
            left_out: left_out.into_iter().collect(),
        };
        let (out, tmp) = crate::output::temp_file_beside(file)?;
        let result = (|| -> Result<()> {
            let gz = flate2::write::GzEncoder::new(BufWriter::new(out), flate2::Compression::fast());
            let mut tar = tar::Builder::new(gz);
            // Verified above as regular files; a link swapped in since is stored as a link
            // (and refused on import), never followed.
            tar.follow_symlinks(false);
            let index_json = serde_json::to_vec_pretty(&index).expect("index serialises");
            let mut header = tar::Header::new_gnu();
            header.set_size(index_json.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, BUNDLE_INDEX, index_json.as_slice()).ctx("writing", &tmp)?;
            for a in &order {
                let mut files: Vec<&String> = a.manifest.outputs.keys().collect();
                let manifest_name = MANIFEST_FILE.to_string();
                files.push(&manifest_name);
                for name in files {
                    let src = a.dir.join(name);
                    let dest = format!("{}/{}/{}", a.stage(), a.key(), name);
                    tar.append_path_with_name(&src, &dest).ctx("adding to bundle", &src)?;
                }
            }
            let gz = tar.into_inner().ctx("writing", &tmp)?;
            let buf = gz.finish().ctx("writing", &tmp)?;
            let f = buf.into_inner().map_err(|e| StoreError::io("writing", &tmp, e.into_error()))?;
            f.sync_all().ctx("syncing", &tmp)?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        crate::output::publish(&tmp, file)?;
        let bytes = std::fs::metadata(file).ctx("inspecting", file)?.len();
        Ok(ExportSummary { artifacts: index.artifacts, left_out: index.left_out, bytes })
    }

    /// Unpacks a bundle into a temporary directory of the store, verifies every artifact in
    /// it (hashes and keys), then moves each into place unless the store already has it.
    pub fn import(&self, file: &Path) -> Result<ImportSummary> {
        let staging = self.staging()?;
        self.import_via(file, &staging)
    }

    fn import_via(&self, file: &Path, staged: &crate::Staging) -> Result<ImportSummary> {
        let staging = staged.path();
        let bad = |reason: String| StoreError::Bundle { path: file.to_path_buf(), reason };
        // First pass: only the index and the manifests (small) are read; the sizes they
        // declare bound what the second pass writes, so a bundle cannot fill the disk with
        // unlisted or oversized entries before it is refused, and a bundle this store cannot
        // take (a left-out input it lacks) is refused before anything is unpacked.
        let (index, manifests) = read_metadata(file, &bad)?;
        let index = index.ok_or_else(|| bad(format!("no {BUNDLE_INDEX} inside")))?;
        if !index.artifacts.contains(&index.root) {
            return Err(bad(format!("its root {} is not among its artifacts", index.root)));
        }
        // Every left-out input this store lacks is named at once, so one round of making
        // them is enough.
        let mut lacking = Vec::new();
        for item in &index.left_out {
            let (stage, key) = split_item(item).map_err(&bad)?;
            if self.find(Some(stage), key).is_err() {
                lacking.push(format!("{stage} {} (--without {stage})", key.get(..12).unwrap_or(key)));
            }
        }
        if !lacking.is_empty() {
            return Err(bad(format!(
                "it was exported without {} input(s) this store lacks: {}; make those artifacts \
                 here first (the same command on the same data gives the same key), then import again",
                lacking.len(),
                lacking.join(", ")
            )));
        }
        let f = File::open(file).ctx("opening", file)?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(f)));
        let entries = archive.entries().map_err(|e| bad(format!("not a bundle (tar.gz): {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad(format!("truncated or corrupt: {e}")))?;
            let path = entry.path().map_err(|e| bad(format!("bad entry name: {e}")))?.into_owned();
            if !entry.header().entry_type().is_file() {
                return Err(bad(format!("entry {} is not a regular file", path.display())));
            }
            check_entry_path(&path).map_err(bad)?;
            if path == Path::new(BUNDLE_INDEX) {
                continue; // read and checked in the first pass; nothing reads it from disk
            }
            let size =
                entry.header().size().map_err(|e| bad(format!("bad size of {}: {e}", path.display())))?;
            match artifact_file(&path) {
                Some((artifact, name)) if name != MANIFEST_FILE => {
                    match manifests.get(&artifact).and_then(|m| m.outputs.get(&name)) {
                        Some(out) if out.bytes == size => {}
                        Some(out) => {
                            return Err(bad(format!(
                                "entry {} is {size} bytes but its manifest records {}",
                                path.display(),
                                out.bytes
                            )));
                        }
                        None => {
                            return Err(bad(format!(
                                "entry {} is not listed in its artifact's manifest",
                                path.display()
                            )));
                        }
                    }
                }
                _ if size > MAX_METADATA_BYTES => {
                    return Err(bad(format!(
                        "{} declares {size} bytes: not an index or manifest",
                        path.display()
                    )));
                }
                _ => {}
            }
            let dest = staging.join(&path);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).ctx("creating", parent)?;
            }
            entry.unpack(&dest).map_err(|e| {
                // A full disk, a quota or a read-only store is not the bundle's fault: it is
                // reported as a write to the file that failed (still exit 2: the user acts).
                if is_write_side(&e) {
                    StoreError::io("unpacking into", &dest, e)
                } else {
                    bad(format!("truncated or corrupt at {}: {e}", path.display()))
                }
            })?;
        }
        let on_disk = staged_artifacts(staging)?;
        let in_index: BTreeSet<String> = index.artifacts.iter().cloned().collect();
        if let Some(extra) = on_disk.difference(&in_index).next() {
            return Err(bad(format!("it holds files of {extra}, which its index does not list")));
        }
        let items: Vec<(String, String)> = index
            .artifacts
            .iter()
            .map(|item| split_item(item).map(|(s, k)| (s.to_string(), k.to_string())))
            .collect::<std::result::Result<_, _>>()
            .map_err(bad)?;
        // The same checks as every other way in (verify, inputs present), then inputs first.
        let installed = self.install_staged(staged, &items, "the bundle").map_err(|e| match e {
            crate::InstallError::Refused(reason) => bad(reason),
            crate::InstallError::Store(e) => e,
        })?;
        let summary = ImportSummary {
            root: index.root.clone(),
            imported: installed.installed,
            already_present: installed.already_present,
        };
        Ok(summary)
    }
}

/// Largest manifest or index a bundle may hold (they are a few kB).
const MAX_METADATA_BYTES: u64 = 16 << 20;

/// The index (if any) and the manifests of a bundle, by `stage/key`, read without
/// unpacking anything else. A bundle with two indexes is refused: which one the second pass
/// unpacked last would be a matter of entry order.
fn read_metadata(
    file: &Path,
    bad: &dyn Fn(String) -> StoreError,
) -> Result<(Option<BundleIndex>, std::collections::BTreeMap<String, crate::Manifest>)> {
    use std::io::Read;
    let f = File::open(file).ctx("opening", file)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(f)));
    let mut manifests = std::collections::BTreeMap::new();
    let mut index = None;
    for entry in archive.entries().map_err(|e| bad(format!("not a bundle (tar.gz): {e}")))? {
        let mut entry = entry.map_err(|e| bad(format!("truncated or corrupt: {e}")))?;
        let path = entry.path().map_err(|e| bad(format!("bad entry name: {e}")))?.into_owned();
        let is_index = path == Path::new(BUNDLE_INDEX);
        let manifest_of = match artifact_file(&path) {
            Some((artifact, name)) if name == MANIFEST_FILE => Some(artifact),
            _ => None,
        };
        if !is_index && manifest_of.is_none() {
            continue;
        }
        let size = entry.header().size().map_err(|e| bad(format!("bad size of {}: {e}", path.display())))?;
        if size > MAX_METADATA_BYTES {
            return Err(bad(format!("{} declares {size} bytes: not an index or manifest", path.display())));
        }
        let mut text = String::new();
        entry
            .by_ref()
            .take(MAX_METADATA_BYTES)
            .read_to_string(&mut text)
            .map_err(|e| bad(format!("unreadable {}: {e}", path.display())))?;
        match manifest_of {
            Some(artifact) => {
                manifests.insert(artifact, crate::Manifest::parse(&text, &path)?);
            }
            None if index.is_some() => return Err(bad(format!("it holds two {BUNDLE_INDEX} entries"))),
            None => {
                index = Some(
                    serde_json::from_str::<BundleIndex>(&text)
                        .map_err(|e| bad(format!("unreadable {BUNDLE_INDEX}: {e}")))?,
                );
            }
        }
    }
    Ok((index, manifests))
}

/// `stage/key` and the file name of an entry `stage/key/file`.
fn artifact_file(path: &Path) -> Option<(String, String)> {
    let parts: Vec<&str> = path.iter().map(|p| p.to_str()).collect::<Option<_>>()?;
    match parts.as_slice() {
        [stage, key, name] => Some((format!("{stage}/{key}"), name.to_string())),
        _ => None,
    }
}

/// `stage/key` of every artifact directory unpacked under `staging`.
fn staged_artifacts(staging: &Path) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for stage in std::fs::read_dir(staging).ctx("listing", staging)? {
        let stage = stage.ctx("listing", staging)?;
        if !stage.file_type().ctx("inspecting", stage.path())?.is_dir() {
            continue;
        }
        for key in std::fs::read_dir(stage.path()).ctx("listing", stage.path())? {
            let key = key.ctx("listing", stage.path())?;
            out.insert(format!(
                "{}/{}",
                stage.file_name().to_string_lossy(),
                key.file_name().to_string_lossy()
            ));
        }
    }
    Ok(out)
}

/// Whether an error while unpacking came from writing on this machine (no space, a quota, a
/// read-only file system, no permission) rather than from reading the bundle.
fn is_write_side(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), StorageFull | QuotaExceeded | ReadOnlyFilesystem | PermissionDenied | FileTooLarge)
}

fn split_item(item: &str) -> std::result::Result<(&str, &str), String> {
    match item.split_once('/') {
        Some((stage, key)) if crate::layout::is_stage_name(stage) && is_key(key) => Ok((stage, key)),
        _ => Err(format!("bad artifact name {item:?} in index")),
    }
}

/// Accepts only `rmdnet-bundle.json` and `stage/key/file` (plain names, no `..` or roots).
fn check_entry_path(path: &Path) -> std::result::Result<(), String> {
    if path == Path::new(BUNDLE_INDEX) {
        return Ok(());
    }
    let parts: Vec<&str> = path
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str().ok_or_else(|| "non-UTF-8 entry name".to_string()),
            _ => Err(format!("entry {} escapes the bundle", path.display())),
        })
        .collect::<std::result::Result<_, _>>()?;
    if parts.len() != 3 || !crate::layout::is_stage_name(parts[0]) || !is_key(parts[1]) {
        return Err(format!("unexpected entry {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{ArtifactSpec, Begin, BeginOptions, CommitInfo, Store};
    use serde_json::json;
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    /// Makes the artifact of `spec` in `store` with one file, returning its key.
    fn make(store: &Store, spec: &ArtifactSpec, file: &str, bytes: &[u8]) -> String {
        match store.begin(spec, BeginOptions::default()).unwrap() {
            Begin::Run(p) => {
                std::fs::write(p.path(file), bytes).unwrap();
                p.commit(CommitInfo::default()).unwrap().key().to_string()
            }
            Begin::Cached(a) => a.key().to_string(),
        }
    }

    /// Copies the bundle `from` to `to`, entry by entry, letting `edit` change each entry's
    /// bytes (its header follows the new size).
    fn rewrite(from: &Path, to: &Path, edit: impl Fn(&Path, &mut Vec<u8>)) {
        let entries = read_entries(from);
        write_entries(
            to,
            entries.into_iter().map(|(path, mut data)| {
                edit(&path, &mut data);
                (path, data)
            }),
        );
    }

    fn read_entries(file: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(file).unwrap()));
        let entries = ar.entries().unwrap();
        entries
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().into_owned();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut data).unwrap();
                (path, data)
            })
            .collect()
    }

    fn write_entries(file: &Path, entries: impl IntoIterator<Item = (PathBuf, Vec<u8>)>) {
        let out = std::fs::File::create(file).unwrap();
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(out, flate2::Compression::fast()));
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, &path, data.as_slice()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }

    /// A write that fails for lack of space (/dev/full) is this machine's problem: reported
    /// as a write (exit 2, the user frees space), never as a corrupt bundle.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_is_told_apart_from_a_corrupt_bundle() {
        use std::io::Write;
        let mut full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let e = full.write_all(&[0; 4096]).and_then(|()| full.flush()).unwrap_err();
        assert!(super::is_write_side(&e), "{e:?}");
        assert!(crate::error::io_is_input_error(&e));
        assert!(!super::is_write_side(&std::io::Error::from(std::io::ErrorKind::UnexpectedEof)));
    }

    #[test]
    fn export_without_a_stage_leaves_it_out_and_import_needs_it_first() {
        let dir = tempfile::tempdir().unwrap();
        let a_store = Store::open(dir.path().join("a")).unwrap();
        let labels = ArtifactSpec::new("labels", 1, &json!({"rate": 0.5}));
        let labels_key = make(&a_store, &labels, "labels.bin", &[1, 2, 3]);
        let weights = ArtifactSpec::new("weights", 1, &json!({"epochs": 3}));
        let weights_key = make(&a_store, &weights, "w.bin", &[7; 300]);
        let run = ArtifactSpec::new("run", 1, &json!({"seed": 1}))
            .with_input("labels", &labels_key)
            .with_input("init", &weights_key);
        let run_key = make(&a_store, &run, "model.bin", &[5; 900]);

        let bundle = dir.path().join("run.tar.gz");
        let without: BTreeSet<String> = ["labels".to_string()].into();
        let ex = a_store.export(&run_key[..10], &bundle, &without).unwrap();
        assert_eq!(ex.artifacts, vec![format!("run/{run_key}"), format!("weights/{weights_key}")]);
        assert_eq!(ex.left_out, vec![format!("labels/{labels_key}")]);
        let names: Vec<String> =
            tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(&bundle).unwrap()))
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
                .collect();
        assert!(!names.iter().any(|n| n.starts_with("labels/")), "{names:?}");

        // A store without the left-out input refuses the bundle, naming it, and installs nothing.
        let b_store = Store::open(dir.path().join("b")).unwrap();
        let err = b_store.import(&bundle).unwrap_err().to_string();
        assert!(err.contains("--without labels") && err.contains(&labels_key[..12]), "{err}");
        assert!(b_store.list().unwrap().is_empty());
        // Several left out: every missing one is named, not only the first.
        let slim = dir.path().join("slim.tar.gz");
        let both: BTreeSet<String> = ["labels".to_string(), "weights".to_string()].into();
        a_store.export(&run_key[..10], &slim, &both).unwrap();
        let err = b_store.import(&slim).unwrap_err().to_string();
        assert!(
            err.contains("2 input(s)")
                && err.contains("--without labels")
                && err.contains("--without weights"),
            "{err}"
        );
        // It is refused from the index and manifests alone, before any payload is unpacked: a
        // payload of the wrong size, which unpacking would report, is not reached.
        let oversized = dir.path().join("oversized.tar.gz");
        rewrite(&bundle, &oversized, |path, data| {
            if path.ends_with("w.bin") {
                data.push(0);
            }
        });
        let err = b_store.import(&oversized).unwrap_err().to_string();
        assert!(err.contains("--without labels") && !err.contains("w.bin"), "{err}");
        // A bundle with a second index is refused.
        let two_indexes = dir.path().join("two-indexes.tar.gz");
        let mut entries = read_entries(&bundle);
        entries.push((super::BUNDLE_INDEX.into(), b"{}".to_vec()));
        write_entries(&two_indexes, entries);
        let err = b_store.import(&two_indexes).unwrap_err().to_string();
        assert!(err.contains("two rmdnet-bundle.json"), "{err}");
        assert!(b_store.list().unwrap().is_empty());

        // Once the store has made the same input (same spec and bytes), the import completes
        // and the run is a cache hit.
        assert_eq!(make(&b_store, &labels, "labels.bin", &[1, 2, 3]), labels_key);
        let im = b_store.import(&bundle).unwrap();
        assert_eq!(im.imported.len(), 2);
        assert!(matches!(b_store.begin(&run, BeginOptions::default()).unwrap(), Begin::Cached(_)));
        assert!(b_store.verify(None).unwrap().problems.is_empty());

        // The exported artifact's own stage cannot be left out.
        let err = a_store
            .export(&run_key[..10], &dir.path().join("x.tar.gz"), &["run".to_string()].into())
            .unwrap_err()
            .to_string();
        assert!(err.contains("--without run"), "{err}");
        assert!(!dir.path().join("x.tar.gz").exists());
        // Nor a stage the store has never made (a typo would otherwise leave everything in);
        // a real stage the artifact does not depend on leaves nothing out.
        let err = a_store
            .export(&run_key[..10], &dir.path().join("x.tar.gz"), &["lables".to_string()].into())
            .unwrap_err()
            .to_string();
        assert!(err.contains("--without lables") && err.contains("no artifacts of a stage"), "{err}");
        let ex = a_store.export(&weights_key[..10], &dir.path().join("w.tar.gz"), &without).unwrap();
        assert_eq!((ex.artifacts.len(), ex.left_out.len()), (1, 0));
        assert!(!dir.path().join("x.tar.gz").exists());
    }

    #[test]
    fn export_import_roundtrip_is_a_cache_hit_and_rejects_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let a_store = Store::open(dir.path().join("a")).unwrap();
        let up = ArtifactSpec::new("up", 1, &json!({"n": 1}));
        let up_key = make(&a_store, &up, "data.bin", &[3; 5000]);
        let down = ArtifactSpec::new("down", 1, &json!({"k": 10})).with_input("up", &up_key);
        make(&a_store, &down, "graph.bin", &[9; 700]);
        let bundle = dir.path().join("down.tar.gz");
        let ex = a_store.export(&down.key()[..8], &bundle, &BTreeSet::new()).unwrap();
        assert_eq!(ex.artifacts.len(), 2);
        assert!(ex.left_out.is_empty());

        let b_store = Store::open(dir.path().join("b")).unwrap();
        let im = b_store.import(&bundle).unwrap();
        assert_eq!(im.imported.len(), 2);
        assert!(matches!(b_store.begin(&down, BeginOptions::default()).unwrap(), Begin::Cached(_)));
        assert!(b_store.verify(None).unwrap().problems.is_empty());
        let again = b_store.import(&bundle).unwrap();
        assert_eq!(again.already_present.len(), 2);

        // A bundle whose payload was altered is refused, and nothing is installed.
        let c_store = Store::open(dir.path().join("c")).unwrap();
        let tampered = dir.path().join("tampered.tar.gz");
        rewrite(&bundle, &tampered, |path, data| {
            if path.ends_with("data.bin") {
                data[10] ^= 0xff;
            }
        });
        let err = c_store.import(&tampered).unwrap_err().to_string();
        assert!(err.contains("data.bin") && err.contains("fails verification"), "{err}");
        assert!(c_store.list().unwrap().is_empty());

        // A truncated bundle is refused too.
        let bytes = std::fs::read(&bundle).unwrap();
        let cut = dir.path().join("cut.tar.gz");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        assert!(c_store.import(&cut).is_err());
        assert!(c_store.list().unwrap().is_empty());
    }
}
