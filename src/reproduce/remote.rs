//! A pipeline's artifacts and a remote: the dataset a pipeline names (through the remote's
//! name record `dataset/.names/NAME.json`), and the artifacts a plan lists, for
//! `rmd store push --pipeline`.

use super::{Pipeline, ReproduceOptions, StageRunner, reproduce};
use rmd_data::import::NamePointer;
use rmd_remote::Remote;
use rmd_store::Store;
use std::path::{Path, PathBuf};

/// The remote's record of which dataset artifact a name stands for.
fn record_path(name: &str) -> String {
    format!("{}/.names/{name}.json", rmd_data::dataset::DATASET_STAGE)
}

/// Records on the remote that `name` is the dataset artifact `key` (so a machine without the
/// raw files can pull it by name).
pub fn push_name_record(remote: &Remote, name: &str, key: &str) -> anyhow::Result<()> {
    let ptr = NamePointer { name: name.to_string(), key: key.to_string(), source: "pushed".into() };
    remote.write_record(&record_path(name), serde_json::to_string_pretty(&ptr)?.as_bytes())?;
    Ok(())
}

/// What the remote's dataset record meant for this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RemoteDataset {
    /// Nothing to use: the remote names no such dataset, or this store's own name stands.
    None,
    /// The dataset artifact is in the store and the name points at it.
    Pulled,
    /// A dry run: the remote's key, which the plan uses, and whether this store has that
    /// artifact (else the plan cannot ask the stages for their keys); nothing was downloaded
    /// or written.
    WouldPull { key: String, have: bool },
}

/// When the remote names a dataset artifact for `name`: pulls it if this store lacks it, and
/// points the name at it when the store has no pointer of that name yet (recorded with the
/// remote as its source), so `rmd dataset NAME` finds it without the raw files. A local
/// pointer to another artifact is never replaced unless `adopt` says so (it warns instead).
/// A dry run reads the record and changes nothing: it returns the key the plan would use.
pub(super) fn pull_dataset(
    remote: &Remote,
    store: &Store,
    name: &str,
    dry_run: bool,
    adopt: bool,
    verbose: bool,
) -> anyhow::Result<RemoteDataset> {
    let Some(bytes) = remote.read_record(&record_path(name))? else {
        if verbose {
            eprintln!("  the remote names no dataset '{name}'; it is imported from the data directory");
        }
        return Ok(RemoteDataset::None);
    };
    let ptr: NamePointer = serde_json::from_slice(&bytes).map_err(|e| rmd_remote::RemoteError::Refused {
        remote: remote.label().to_string(),
        message: format!("{}: unreadable ({e})", record_path(name)),
    })?;
    if !rmd_store::is_key(&ptr.key) || ptr.name != name {
        return Err(rmd_remote::RemoteError::Refused {
            remote: remote.label().to_string(),
            message: format!(
                "{}: names {:?} as {:?}, not a dataset key",
                record_path(name),
                ptr.name.escape_debug().to_string(),
                ptr.key.escape_debug().to_string()
            ),
        }
        .into());
    }
    let current = rmd_data::import::read_name_pointer(store, name)?;
    if let Some(c) = current.as_ref().filter(|c| c.key != ptr.key)
        && !adopt
    {
        eprintln!(
            "warning: the remote names dataset '{name}' {}, this store's '{name}' is {} ({}); keeping this store's (--adopt-remote-dataset uses the remote's)",
            &ptr.key[..12],
            &c.key[..12],
            c.source
        );
        return Ok(RemoteDataset::None);
    }
    let have = store.lookup_key(rmd_data::dataset::DATASET_STAGE, &ptr.key)?.is_some();
    if dry_run {
        if verbose {
            let what = if have { "in this store" } else { "would be pulled" };
            eprintln!(
                "  dataset {name} {} from the remote ({what}; dry run: nothing changed)",
                &ptr.key[..12]
            );
        }
        return Ok(RemoteDataset::WouldPull { key: ptr.key, have });
    }
    if !have {
        let s =
            remote.pull(store, &[(rmd_data::dataset::DATASET_STAGE.to_string(), ptr.key.clone())], &[])?;
        if verbose {
            eprintln!("  pulled dataset {name} {} ({})", &ptr.key[..12], s.line("pulled"));
        }
    }
    if current.as_ref().is_none_or(|c| c.key != ptr.key) {
        rmd_data::import::write_name_pointer(
            store,
            &NamePointer {
                name: name.to_string(),
                key: ptr.key,
                source: format!("remote {}", remote.label()),
            },
        )?;
    }
    Ok(RemoteDataset::Pulled)
}

/// The artifacts of a pipeline's plan: those the store has and those it lacks.
#[derive(Debug, Clone)]
pub struct PlannedArtifacts {
    /// The pipeline's dataset name.
    pub dataset_name: String,
    /// Its artifact key.
    pub dataset_key: String,
    /// Keys the store has (the dataset first).
    pub present: Vec<String>,
    /// How many planned artifacts it lacks.
    pub missing: usize,
}

/// The pipelines directory: `override`, else ./pipelines when present, else the one of the
/// source tree this binary was built from.
pub fn pipelines_dir(over: Option<&Path>) -> PathBuf {
    over.map(Path::to_path_buf).unwrap_or_else(|| {
        let local = PathBuf::from("pipelines");
        if local.is_dir() { local } else { PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines") }
    })
}

/// Plans `name` under `profile` (no stage runs; the dataset is imported when missing) and
/// lists its artifacts.
pub fn planned_artifacts(
    name: &str,
    profile: &str,
    store: &Path,
    data_dir: &Path,
) -> anyhow::Result<PlannedArtifacts> {
    let pipeline = Pipeline::load(
        &Pipeline::locate(name, &pipelines_dir(None)).map_err(crate::cli::UsageError::from_err)?,
    )
    .map_err(|e| crate::cli::UsageError(format!("{e:#}")))?;
    pipeline.profile(profile).map_err(crate::cli::UsageError::from_err)?;
    let runner = StageRunner::beside_current_exe(store, data_dir, true, None, true)?;
    let opts = ReproduceOptions {
        pipeline,
        profile: profile.to_string(),
        dry_run: true,
        cached_only: false,
        force: Vec::new(),
        out: std::env::temp_dir(),
        verbose: false,
        remote: None,
        push: false,
        adopt_remote_dataset: false,
    };
    let o = reproduce(&opts, &runner)?;
    let mut present = vec![o.dataset.1.clone()];
    present.extend(o.present.into_iter().map(|(_, k)| k));
    Ok(PlannedArtifacts { dataset_name: o.dataset.0, dataset_key: o.dataset.1, present, missing: o.missing })
}
