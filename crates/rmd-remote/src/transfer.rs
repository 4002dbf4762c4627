//! Push, pull, status and verify.
//!
//! The remote holds exactly the local layout: `<stage>/<key>/<file>` and
//! `<stage>/<key>/manifest.json`, so a store directory published by a web server is a
//! remote as it is. A push uploads every file of an artifact first and its manifest last,
//! written only if absent: an artifact without its manifest is invisible, so an interrupted
//! push never leaves one that looks complete, and rerunning it finishes the upload. A pull
//! downloads into the store's staging directory and installs only what passes the checks of
//! `rmd store verify` (every file's size and blake3, the key re-derived from the manifest,
//! the content check of embedded keys), inputs first.

use crate::connect::Remote;
use crate::error::{RemoteError, Result};
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rmd_store::{Artifact, InstallError, MANIFEST_FILE, Manifest, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// Largest manifest accepted from a remote (they are a few kB).
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// What a push or pull did.
#[derive(Debug, Default, Clone)]
pub struct TransferSummary {
    /// `stage/key` of the artifacts transferred, inputs first.
    pub transferred: Vec<String>,
    /// `stage/key` of those already at the destination.
    pub already_there: Vec<String>,
    /// One line per thing worth knowing (a repaired upload, another computation kept).
    pub notes: Vec<String>,
    /// Bytes of files transferred.
    pub bytes: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl TransferSummary {
    /// "3 artifact(s), 12.4 MB in 1.2 s (10.3 MB/s); 2 already there".
    pub fn line(&self, verb: &str) -> String {
        format!(
            "{verb} {} artifact(s), {:.1} MB in {:.1} s ({:.1} MB/s); {} already there",
            self.transferred.len(),
            self.bytes as f64 / 1e6,
            self.seconds,
            self.bytes as f64 / 1e6 / self.seconds.max(1e-9),
            self.already_there.len()
        )
    }
}

/// Where each artifact is, local store against remote.
#[derive(Debug, Default, Clone)]
pub struct StatusReport {
    /// `stage/key` in both.
    pub both: Vec<String>,
    /// Only in the local store.
    pub only_local: Vec<String>,
    /// Only on the remote (`None` when the remote cannot list).
    pub only_remote: Option<Vec<String>>,
    /// `stage/key` on the remote with files but no manifest: an interrupted push (invisible
    /// to pulls; a rerun of the push completes it).
    pub incomplete_remote: Vec<String>,
}

/// Problems found by downloading and verifying a remote's artifacts.
#[derive(Debug, Default, Clone)]
pub struct RemoteVerifyReport {
    /// Artifacts checked.
    pub checked: usize,
    /// `(stage/key, problem)`.
    pub problems: Vec<(String, String)>,
    /// Keys with files but no manifest (interrupted pushes; invisible).
    pub incomplete: Vec<String>,
    /// Bytes downloaded.
    pub bytes: u64,
}

fn bar(total: u64, message: &str) -> ProgressBar {
    let b = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    b.set_draw_target(if rmd_store::report::is_quiet() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    });
    b.set_message(message.to_string());
    b
}

fn manifest_rel(stage: &str, key: &str) -> String {
    format!("{stage}/{key}/{MANIFEST_FILE}")
}

/// `stage/key` → (stage, key) for names the remote lists.
fn split_artifact(rel: &str) -> Option<(String, String, String)> {
    let mut parts = rel.splitn(3, '/');
    let (stage, key, file) = (parts.next()?, parts.next()?, parts.next()?);
    (rmd_store::is_stage_name(stage) && rmd_store::is_key(key) && !file.contains('/'))
        .then(|| (stage.to_string(), key.to_string(), file.to_string()))
}

/// The (created) staging directory of `stage/key`.
fn staged_dir(staging: &rmd_store::Staging, stage: &str, key: &str) -> Result<std::path::PathBuf> {
    let dir = staging.artifact_dir(stage, key);
    std::fs::create_dir_all(&dir).map_err(|e| rmd_store::StoreError::Io {
        action: "creating",
        path: dir.clone(),
        cause: e,
    })?;
    Ok(dir)
}

/// An artifact with every input (transitively) from the local store, inputs first.
fn with_inputs(store: &Store, roots: &[Artifact]) -> Result<Vec<Artifact>> {
    let mut order: Vec<Artifact> = Vec::new();
    let mut seen = BTreeSet::new();
    fn visit(
        store: &Store,
        a: Artifact,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<Artifact>,
    ) -> Result<()> {
        if !seen.insert(a.key().to_string()) {
            return Ok(());
        }
        for (role, input) in &a.manifest.inputs {
            let up = store.find(None, input).map_err(|e| match e {
                rmd_store::StoreError::NotFound { .. } => RemoteError::config(format!(
                    "input '{role}' ({}) of {}/{} is not in the local store, so the remote would get an artifact whose inputs it cannot serve",
                    &input[..input.len().min(12)],
                    a.stage(),
                    &a.key()[..12]
                )),
                other => other.into(),
            })?;
            visit(store, up, seen, order)?;
        }
        order.push(a);
        Ok(())
    }
    for r in roots {
        visit(store, r.clone(), &mut seen, &mut order)?;
    }
    Ok(order)
}

impl Remote {
    fn refuse_read_only(&self) -> Result<()> {
        if self.is_read_only() {
            return Err(RemoteError::User {
                remote: self.label().to_string(),
                message: "a web server remote is read-only; push to the S3, GCS, Azure or folder remote it is published from".into(),
            });
        }
        Ok(())
    }

    /// The remote's manifest of `stage/key` (raw bytes and parsed), if it has one.
    fn remote_manifest(&self, stage: &str, key: &str) -> Result<Option<(Bytes, Manifest)>> {
        let rel = manifest_rel(stage, key);
        let Some(bytes) = self.block_on(self.read_small(&rel, MAX_MANIFEST_BYTES))? else { return Ok(None) };
        let text = std::str::from_utf8(&bytes).map_err(|_| RemoteError::Refused {
            remote: self.label().to_string(),
            message: format!("{rel}: not UTF-8 text"),
        })?;
        let m = Manifest::parse(text, std::path::Path::new(&rel))
            .map_err(|e| RemoteError::Refused { remote: self.label().to_string(), message: e.to_string() })?;
        if m.key != key || m.stage != stage || m.spec().key() != key {
            return Err(RemoteError::Refused {
                remote: self.label().to_string(),
                message: format!(
                    "{rel}: records {}/{}, and its params hash to {}",
                    m.stage,
                    m.key,
                    m.spec().key()
                ),
            });
        }
        Ok(Some((bytes, m)))
    }

    /// Whether the remote has a manifest for `stage/key` (the artifact is published).
    pub fn has(&self, stage: &str, key: &str) -> Result<bool> {
        Ok(self.block_on(self.size_of(&manifest_rel(stage, key)))?.is_some())
    }

    /// Uploads the artifacts matching `prefixes` (from `store`) and every input they depend
    /// on: files first, the manifest last and only if absent.
    pub fn push(&self, store: &Store, prefixes: &[String]) -> Result<TransferSummary> {
        self.refuse_read_only()?;
        let started = Instant::now();
        self.block_on(self.probe())?;
        let roots: Vec<Artifact> = prefixes.iter().map(|p| store.find(None, p)).collect::<Result<_, _>>()?;
        let order = with_inputs(store, &roots)?;
        let total: u64 = order.iter().flat_map(|a| a.manifest.outputs.values()).map(|o| o.bytes).sum();
        let progress = bar(total, &format!("push to {}", self.label()));
        let mut summary = TransferSummary::default();
        for a in &order {
            let name = format!("{}/{}", a.stage(), a.key());
            let local_bytes = std::fs::read(a.dir.join(MANIFEST_FILE)).map_err(|e| {
                rmd_store::StoreError::Io { action: "reading", path: a.dir.join(MANIFEST_FILE), cause: e }
            })?;
            let artifact_bytes: u64 = a.manifest.outputs.values().map(|o| o.bytes).sum();
            if let Some((_, remote)) = self.remote_manifest(a.stage(), a.key())? {
                if remote.outputs == a.manifest.outputs {
                    // Same content: make sure every file is there (a file removed remotely
                    // is uploaded again).
                    let before = summary.bytes;
                    let repaired = self.upload_missing(a, &progress, &mut summary)?;
                    progress.inc(artifact_bytes - (summary.bytes - before));
                    if repaired > 0 {
                        summary.notes.push(format!("{name}: {repaired} missing file(s) uploaded again"));
                        summary.transferred.push(name);
                    } else {
                        summary.already_there.push(name);
                    }
                } else {
                    summary.notes.push(format!(
                        "{name}: the remote holds another computation of this key (finished {}); kept it",
                        remote.finished_at
                    ));
                    summary.already_there.push(name);
                    progress.inc(artifact_bytes);
                }
                continue;
            }
            for (file, out) in &a.manifest.outputs {
                let rel = format!("{name}/{file}");
                self.block_on(self.upload(&rel, &a.dir.join(file), &|n| progress.inc(n)))?;
                summary.bytes += out.bytes;
            }
            let written = self.block_on(
                self.put_if_absent(&manifest_rel(a.stage(), a.key()), Bytes::from(local_bytes.clone())),
            )?;
            if !written {
                // Someone else published this key while we uploaded.
                match self.remote_manifest(a.stage(), a.key())? {
                    Some((_, remote)) if remote.outputs == a.manifest.outputs => {}
                    _ => {
                        // Another computation of the key raced ours and some of its files may
                        // now be ours: publish ours whole (files again, then the manifest), so
                        // manifest and files agree. A pull of the mix in between is refused by
                        // verification, never served.
                        for file in a.manifest.outputs.keys() {
                            self.block_on(self.upload(
                                &format!("{name}/{file}"),
                                &a.dir.join(file),
                                &|_| {},
                            ))?;
                        }
                        self.block_on(
                            self.put_replacing(&manifest_rel(a.stage(), a.key()), Bytes::from(local_bytes)),
                        )?;
                        summary.notes.push(format!(
                            "{name}: another computation of this key was pushed at the same time; this one replaced it"
                        ));
                    }
                }
            }
            summary.transferred.push(name);
        }
        progress.finish_and_clear();
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(summary)
    }

    /// Uploads the files of a published artifact that the remote lacks or holds at another
    /// size; returns how many.
    fn upload_missing(
        &self,
        a: &Artifact,
        progress: &ProgressBar,
        summary: &mut TransferSummary,
    ) -> Result<usize> {
        let mut n = 0;
        for (file, out) in &a.manifest.outputs {
            let rel = format!("{}/{}/{file}", a.stage(), a.key());
            if self.block_on(self.size_of(&rel))? != Some(out.bytes) {
                self.block_on(self.upload(&rel, &a.dir.join(file), &|b| progress.inc(b)))?;
                summary.bytes += out.bytes;
                n += 1;
            }
        }
        Ok(n)
    }

    /// `(stage, key)` of the remote artifact whose key is or starts with `prefix`. A full
    /// key is first asked for under each of `stages`; otherwise (or for a stage not among
    /// them) a remote that can list is searched. A web server needs full keys.
    pub fn resolve(&self, prefix: &str, stages: &[String]) -> Result<(String, String)> {
        let p = prefix.to_ascii_lowercase();
        let user = |message: String| RemoteError::User { remote: self.label().to_string(), message };
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(user(format!("'{prefix}' is not an artifact key or key prefix")));
        }
        // A full key (every input a manifest names) is looked for under each stage name: a
        // few HEAD requests instead of listing the whole remote once per input.
        if p.len() == 64 {
            for s in stages {
                if self.has(s, &p)? {
                    return Ok((s.clone(), p));
                }
            }
            if !self.can_list() {
                return Err(user(format!(
                    "no artifact with key {} (looked under {})",
                    &p[..12],
                    stages.join(", ")
                )));
            }
        } else if !self.can_list() {
            return Err(user(format!(
                "'{prefix}': a web server cannot list what it serves; give the full 64-character key"
            )));
        }
        let mut found = BTreeSet::new();
        for (rel, _) in self.block_on(self.list_all())? {
            if let Some((stage, key, file)) = split_artifact(&rel)
                && file == MANIFEST_FILE
                && key.starts_with(&p)
            {
                found.insert((stage, key));
            }
        }
        match found.len() {
            0 => Err(user(format!("no artifact with key '{prefix}'"))),
            1 => Ok(found.into_iter().next().expect("one")),
            _ => Err(user(format!(
                "key prefix '{prefix}' is ambiguous: {}; give more characters",
                found.iter().map(|(s, k)| format!("{s}/{}", &k[..12])).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Downloads the artifacts `(stage, key)` and every input the local store lacks, verifies
    /// all of them, and installs them (inputs first) only when every one passes.
    pub fn pull(
        &self,
        store: &Store,
        roots: &[(String, String)],
        stages: &[String],
    ) -> Result<TransferSummary> {
        let started = Instant::now();
        self.block_on(self.probe())?;
        let mut summary = TransferSummary::default();
        // Collect: remote manifests of everything the local store lacks.
        let mut wanted: BTreeMap<String, (String, Bytes, Manifest)> = BTreeMap::new();
        let mut todo: Vec<(String, String)> = roots.to_vec();
        while let Some((stage, key)) = todo.pop() {
            if wanted.contains_key(&key) {
                continue;
            }
            if store.lookup_key(&stage, &key)?.is_some() {
                summary.already_there.push(format!("{stage}/{key}"));
                continue;
            }
            let Some((bytes, m)) = self.remote_manifest(&stage, &key)? else {
                return Err(RemoteError::User {
                    remote: self.label().to_string(),
                    message: format!("{stage}/{}: not on the remote", &key[..key.len().min(12)]),
                });
            };
            for (role, input) in &m.inputs {
                if store.find(None, input).is_ok() {
                    continue;
                }
                let (s, k) = self.resolve(input, stages).map_err(|e| RemoteError::User {
                    remote: self.label().to_string(),
                    message: format!(
                        "{stage}/{}: its input '{role}' ({}) is neither in the local store nor on the remote ({e})",
                        &key[..12],
                        &input[..input.len().min(12)]
                    ),
                })?;
                todo.push((s, k));
            }
            wanted.insert(key.clone(), (stage, bytes, m));
        }
        if wanted.is_empty() {
            summary.seconds = started.elapsed().as_secs_f64();
            return Ok(summary);
        }
        let staging = store.staging()?;
        let total: u64 = wanted.values().flat_map(|(_, _, m)| m.outputs.values()).map(|o| o.bytes).sum();
        let progress = bar(total, &format!("pull from {}", self.label()));
        for (key, (stage, bytes, m)) in &wanted {
            let dir = staged_dir(&staging, stage, key)?;
            for (file, out) in &m.outputs {
                let rel = format!("{stage}/{key}/{file}");
                self.block_on(self.download(&rel, &dir.join(file), out.bytes, &|n| progress.inc(n)))?;
                summary.bytes += out.bytes;
            }
            let mpath = dir.join(MANIFEST_FILE);
            std::fs::write(&mpath, bytes).map_err(|e| rmd_store::StoreError::Io {
                action: "writing",
                path: mpath.clone(),
                cause: e,
            })?;
        }
        progress.finish_and_clear();
        let items: Vec<(String, String)> =
            wanted.iter().map(|(k, (s, _, _))| (s.clone(), k.clone())).collect();
        let installed = store.install_staged(&staging, &items, "the pull").map_err(|e| match e {
            InstallError::Refused(reason) => RemoteError::Refused {
                remote: self.label().to_string(),
                message: format!("{reason}; nothing was installed"),
            },
            InstallError::Store(e) => e.into(),
        })?;
        summary.transferred = installed.installed;
        summary.already_there.extend(installed.already_present);
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(summary)
    }

    /// Local artifacts against remote ones.
    pub fn status(&self, store: &Store) -> Result<StatusReport> {
        let local: BTreeSet<String> =
            store.list()?.iter().map(|a| format!("{}/{}", a.stage(), a.key())).collect();
        let mut report = StatusReport::default();
        if self.can_list() {
            let (published, incomplete) = self.published()?;
            report.both = local.intersection(&published).cloned().collect();
            report.only_local = local.difference(&published).cloned().collect();
            report.only_remote = Some(published.difference(&local).cloned().collect());
            report.incomplete_remote = incomplete;
        } else {
            for a in &local {
                let (stage, key) = a.split_once('/').expect("stage/key");
                if self.has(stage, key)? {
                    report.both.push(a.clone());
                } else {
                    report.only_local.push(a.clone());
                }
            }
        }
        Ok(report)
    }

    /// `stage/key` of the published artifacts (with a manifest), and of those with files but
    /// no manifest.
    fn published(&self) -> Result<(BTreeSet<String>, Vec<String>)> {
        let mut with_manifest = BTreeSet::new();
        let mut any = BTreeSet::new();
        for (rel, _) in self.block_on(self.list_all())? {
            if let Some((stage, key, file)) = split_artifact(&rel) {
                let name = format!("{stage}/{key}");
                if file == MANIFEST_FILE {
                    with_manifest.insert(name.clone());
                }
                any.insert(name);
            }
        }
        let incomplete = any.difference(&with_manifest).cloned().collect();
        Ok((with_manifest, incomplete))
    }

    /// Downloads every published artifact (or those matching `prefixes`) into the store's
    /// staging directory and verifies it as `store verify` would; nothing is installed.
    pub fn verify(
        &self,
        store: &Store,
        prefixes: &[String],
        stages: &[String],
    ) -> Result<RemoteVerifyReport> {
        let mut report = RemoteVerifyReport::default();
        let targets: Vec<(String, String)> = if prefixes.is_empty() {
            let (published, incomplete) = self.published()?;
            report.incomplete = incomplete;
            published
                .iter()
                .map(|n| {
                    let (s, k) = n.split_once('/').expect("stage/key");
                    (s.to_string(), k.to_string())
                })
                .collect()
        } else {
            prefixes.iter().map(|p| self.resolve(p, stages)).collect::<Result<_>>()?
        };
        let progress = bar(0, &format!("verify {}", self.label()));
        for (stage, key) in &targets {
            report.checked += 1;
            let name = format!("{stage}/{key}");
            let m = match self.remote_manifest(stage, key) {
                Ok(Some((bytes, m))) => (bytes, m),
                Ok(None) => {
                    report.problems.push((name, "manifest.json: missing".into()));
                    continue;
                }
                Err(e) => {
                    report.problems.push((name, e.to_string()));
                    continue;
                }
            };
            progress.inc_length(m.1.outputs.values().map(|o| o.bytes).sum());
            let staging = store.staging()?;
            let dir = staged_dir(&staging, stage, key)?;
            let mut fetched = true;
            for (file, out) in &m.1.outputs {
                match self.block_on(self.download(
                    &format!("{name}/{file}"),
                    &dir.join(file),
                    out.bytes,
                    &|n| progress.inc(n),
                )) {
                    Ok(()) => report.bytes += out.bytes,
                    Err(e @ (RemoteError::Refused { .. } | RemoteError::User { .. })) => {
                        report.problems.push((name.clone(), e.to_string()));
                        fetched = false;
                    }
                    Err(e) => return Err(e),
                }
            }
            if fetched {
                std::fs::write(dir.join(MANIFEST_FILE), &m.0).map_err(|e| rmd_store::StoreError::Io {
                    action: "writing",
                    path: dir.join(MANIFEST_FILE),
                    cause: e,
                })?;
                for p in store.verify_artifact_dir(&dir, stage, key) {
                    report.problems.push((name.clone(), p));
                }
            }
        }
        progress.finish_and_clear();
        Ok(report)
    }

    /// A small record the remote keeps beside the artifacts (e.g. `dataset/.names/NAME.json`,
    /// which dataset key a name stands for), if present.
    pub fn read_record(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.block_on(self.read_small(rel, MAX_MANIFEST_BYTES))?.map(|b| b.to_vec()))
    }

    /// Writes such a record (replacing an older one).
    pub fn write_record(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.refuse_read_only()?;
        self.block_on(self.put_replacing(rel, Bytes::copy_from_slice(bytes)))
    }
}
