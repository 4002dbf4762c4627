//! Datasets from other sources than the official binary files: torchvision's CIFAR
//! pickles ([`cifar_python`]) and users' images in folders or lists ([`images`]). Each is
//! read into a [`RawDataset`] and imported like the official ones, so every later stage
//! treats them alike; `rmd dataset --from KIND PATH --name NAME` runs it, and the name is
//! recorded so that `--dataset NAME` finds the artifact afterwards ([`name_pointer`]).

pub mod cifar_python;
pub mod images;

use crate::dataset::{DATASET_STAGE, import_raw};
use crate::error::{DataError, IoContext, Result};
use crate::raw::RawDataset;
use images::ImageImportOptions;
use rmd_store::{Artifact, CodeIdentity, Store};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The kinds of source `rmd dataset --from` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// torchvision's CIFAR-10/100 Python archive or extracted directory.
    CifarPython,
    /// A folder of class folders.
    ImageFolder,
    /// A CSV/TSV/Parquet list of (path, label[, split]).
    ImageList,
}

impl SourceKind {
    /// Every kind.
    pub const ALL: [SourceKind; 3] =
        [SourceKind::CifarPython, SourceKind::ImageFolder, SourceKind::ImageList];

    /// The kind of a name, with the known names in the error.
    pub fn parse(name: &str) -> std::result::Result<SourceKind, String> {
        SourceKind::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| {
            format!("unknown source kind '{name}': use {}", SourceKind::ALL.map(SourceKind::name).join(", "))
        })
    }

    /// The name used on the command line and in pipeline files.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::CifarPython => "cifar-python",
            SourceKind::ImageFolder => "image-folder",
            SourceKind::ImageList => "image-list",
        }
    }
}

/// Reads a source into a raw dataset; image sources print a summary of what was found on
/// stderr first (unless `quiet`).
pub fn read_source(
    kind: SourceKind,
    path: &Path,
    opts: &ImageImportOptions,
    quiet: bool,
) -> Result<RawDataset> {
    match kind {
        SourceKind::CifarPython => {
            let mut raw = cifar_python::read_cifar_python(path)?;
            if !opts.name.is_empty() {
                if let Some(known) = crate::KnownDataset::parse(&opts.name)
                    && known.name() != raw.name
                {
                    return Err(DataError::invalid(format!(
                        "--name {}: these files hold {}, and `--dataset {}` means the official {} whenever its files are in the data directory; choose a name that is not one of {}",
                        opts.name,
                        raw.name,
                        known.name(),
                        known.name(),
                        crate::KnownDataset::ALL.map(|k| k.name()).join(", ")
                    )));
                }
                raw.name = opts.name.clone();
            }
            Ok(raw)
        }
        SourceKind::ImageFolder | SourceKind::ImageList => {
            images::load_images(&scan_images(kind, path, quiet)?, opts)
        }
    }
}

/// Scans an image folder or list, printing its summary on stderr (unless `quiet`).
fn scan_images(kind: SourceKind, path: &Path, quiet: bool) -> Result<images::Scan> {
    let scan =
        if kind == SourceKind::ImageFolder { images::scan_folder(path)? } else { images::scan_list(path)? };
    if !quiet {
        eprint!("{}", scan.summary());
    }
    Ok(scan)
}

/// Checks a user-given dataset name: letters, digits, `-`, `_`, `.`; at most 64 characters.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !name.starts_with('.');
    if ok && name.chars().all(|c| c.is_ascii_hexdigit()) {
        Err(DataError::invalid(format!(
            "dataset name '{name}': only hexadecimal digits, so `--dataset {name}` could also mean an artifact key starting with them; add a letter beyond a-f or a '-'"
        )))
    } else if ok {
        Ok(())
    } else {
        Err(DataError::invalid(format!(
            "dataset name '{name}': use 1-64 letters, digits, '-', '_' or '.' (not first)"
        )))
    }
}

/// What `--dataset NAME` points at after `rmd dataset --from … --name NAME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamePointer {
    /// The dataset name.
    pub name: String,
    /// Key of the dataset artifact.
    pub key: String,
    /// Where it was imported from.
    pub source: String,
}

/// Path of the pointer file of a dataset name in a store.
pub fn name_pointer(store: &Store, name: &str) -> PathBuf {
    store.stage_dir(DATASET_STAGE).join(".names").join(format!("{name}.json"))
}

/// The pointer of `name`, when one was written.
pub fn read_name_pointer(store: &Store, name: &str) -> Result<Option<NamePointer>> {
    if check_name(name).is_err() {
        return Ok(None);
    }
    let p = name_pointer(store, name);
    match std::fs::read_to_string(&p) {
        Ok(text) => {
            let ptr: NamePointer = serde_json::from_str(&text)
                .map_err(|e| DataError::bad(&p, format!("unreadable dataset name pointer: {e}")))?;
            if !rmd_store::is_key(&ptr.key) || ptr.name != name || ptr.source.chars().any(char::is_control) {
                return Err(DataError::bad(
                    &p,
                    format!(
                        "dataset name pointer names {:?} as {:?}: not this name and a 64-digit hex key",
                        ptr.name.escape_debug().to_string(),
                        ptr.key.escape_debug().to_string()
                    ),
                ));
            }
            Ok(Some(ptr))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).ctx("reading", p),
    }
}

/// Writes (atomically) the pointer of `pointer.name`, e.g. for a dataset pulled from a
/// remote under that name.
pub fn write_name_pointer(store: &Store, pointer: &NamePointer) -> Result<()> {
    check_name(&pointer.name)?;
    crate::dataset::write_json_atomically(&name_pointer(store, &pointer.name), pointer)
}

/// Imports a source under a name: the dataset artifact (a cache hit when the same content
/// is there) and the name pointer (written atomically; a later import of the same name
/// moves it).
pub fn import_source(
    store: &Store,
    kind: SourceKind,
    path: &Path,
    opts: &ImageImportOptions,
    code: &CodeIdentity,
    quiet: bool,
) -> Result<Artifact> {
    if kind != SourceKind::CifarPython || !opts.name.is_empty() {
        check_name(&opts.name)?;
    }
    if kind != SourceKind::CifarPython && crate::KnownDataset::parse(&opts.name).is_some() {
        return Err(DataError::invalid(format!(
            "dataset name '{}' (from --name or the {} name) is an official dataset's: `--dataset {}` means the official files whenever they are in the data directory, so your images could not be reached by it; give them another name with --name",
            opts.name,
            if kind == SourceKind::ImageFolder { "folder" } else { "list file" },
            opts.name
        )));
    }
    let canonical = std::fs::canonicalize(path).unwrap_or(path.to_path_buf());
    let source = format!("{} {}", kind.name(), canonical.display());
    let (artifact, name) = match kind {
        SourceKind::CifarPython => {
            let raw = read_source(kind, path, opts, quiet)?;
            (import_raw(store, &raw, code, &source)?, raw.name)
        }
        SourceKind::ImageFolder | SourceKind::ImageList => {
            let scan = scan_images(kind, path, quiet)?;
            (images::import_images(store, &scan, opts, code, &source)?, opts.name.clone())
        }
    };
    if !store.is_planning() {
        write_name_pointer(store, &NamePointer { name, key: artifact.key().to_string(), source })?;
    }
    Ok(artifact)
}
