//! Dataset artifacts: import of raw data into the store (keyed by content), resolution of
//! `--dataset NAME|KEY`, and read access through memory-mapped image files.
//!
//! Artifact files: `dataset.json` ([`DatasetInfo`]), `train_images.u8` and `test_images.u8`
//! (N×C×H×W bytes), `train_labels.parquet` and `test_labels.parquet`
//! (`index` u32, `label` u16, and `coarse_label` u16 for datasets with superclasses).

use crate::error::{DataError, IoContext, Result};
use crate::parquet_io::{int_column, read_parquet, write_parquet};
use crate::raw::{RawDataset, RawSplit};
use crate::sources::{KnownDataset, SourceLocation, SourceOptions};
use arrow_array::{ArrayRef, RecordBatch, UInt16Array, UInt32Array};
use rmd_store::{Artifact, ArtifactSpec, Begin, BeginOptions, CodeIdentity, CommitInfo, Store};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Stage name of dataset artifacts.
pub const DATASET_STAGE: &str = "dataset";
/// Schema version of dataset artifacts.
pub const DATASET_SCHEMA_VERSION: u32 = 1;

/// Description of a dataset artifact (`dataset.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Dataset name.
    pub name: String,
    /// Class names by index.
    pub classes: Vec<String>,
    /// Coarse class names, when the dataset has superclasses.
    pub coarse_classes: Option<Vec<String>>,
    /// Channels per image.
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Training images.
    pub n_train: usize,
    /// Test images.
    pub n_test: usize,
    /// blake3 over the description and every image and label: the dataset's identity.
    pub content_blake3: String,
}

impl DatasetInfo {
    /// Bytes per image.
    pub fn image_bytes(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// Reads the description of a dataset artifact (`dataset.json`) without opening its
    /// images.
    pub fn read(artifact: &Artifact) -> Result<DatasetInfo> {
        let info_path = artifact.path("dataset.json");
        let text = std::fs::read_to_string(&info_path).ctx("reading", &info_path)?;
        serde_json::from_str(&text).map_err(|e| DataError::bad(&info_path, format!("unreadable: {e}")))
    }
}

#[derive(Serialize)]
struct DatasetParams<'a> {
    name: &'a str,
    content_blake3: &'a str,
}

/// Hashes a raw dataset's description, images and labels.
pub fn content_hash(raw: &RawDataset) -> String {
    let header = raw_header(raw);
    fn part(s: &RawSplit) -> SplitParts<'_> {
        (Images::Bytes(&s.images), s.labels.as_slice(), s.coarse_labels.as_deref())
    }
    hash_content(&header, [part(&raw.train), part(&raw.test)]).expect("in-memory images hash")
}

/// Recomputes the content hash of an opened dataset artifact from its files (what
/// [`content_hash`] gave for the raw data it was imported from, when nothing was changed).
pub fn stored_content_hash(ds: &Dataset) -> String {
    let i = &ds.info;
    let shape = [i.channels, i.height, i.width];
    let header = header_of(&i.name, &i.classes, i.coarse_classes.as_deref(), shape, [i.n_train, i.n_test]);
    fn part(s: &Split) -> SplitParts<'_> {
        (Images::Bytes(s.all_images()), s.labels(), s.coarse_labels())
    }
    hash_content(&header, [part(&ds.train), part(&ds.test)]).expect("mapped images hash")
}

/// The description part of the content hash: name, classes, shape and split sizes.
fn header_of(
    name: &str,
    classes: &[String],
    coarse_classes: Option<&[String]>,
    shape: [usize; 3],
    [n_train, n_test]: [usize; 2],
) -> serde_json::Value {
    serde_json::json!({
        "name": name, "classes": classes, "coarse_classes": coarse_classes,
        "shape": shape, "n_train": n_train, "n_test": n_test,
    })
}

/// [`header_of`] a raw dataset (its split sizes are its labels' counts).
fn raw_header(raw: &RawDataset) -> serde_json::Value {
    let sizes = [raw.train.len(), raw.test.len()];
    header_of(&raw.name, &raw.classes, raw.coarse_classes.as_deref(), raw.shape, sizes)
}

/// One split as hashed: images, labels and coarse labels.
type SplitParts<'a> = (Images<'a>, &'a [u16], Option<&'a [u16]>);

fn hash_content(header: &serde_json::Value, splits: [SplitParts; 2]) -> Result<String> {
    let mut h = blake3::Hasher::new();
    h.update(rmd_store::canonical_json(header).as_bytes());
    for (images, labels, coarse) in splits {
        match images {
            Images::Bytes(b) => {
                h.update(b);
            }
            // Read through a small buffer: the file's pages are never mapped into this process.
            Images::File(path) => {
                let file = std::fs::File::open(path).ctx("opening", path)?;
                h.update_reader(file).ctx("reading", path)?;
            }
        }
        for l in labels {
            h.update(&l.to_le_bytes());
        }
        for l in coarse.into_iter().flatten() {
            h.update(&l.to_le_bytes());
        }
    }
    Ok(h.finalize().to_hex().to_string())
}

fn check_names(raw: &RawDataset) -> Result<()> {
    crate::raw::check_class_names(&raw.classes)
        .map_err(|e| DataError::invalid(format!("{}: {e}", raw.name)))?;
    if let Some(coarse) = &raw.coarse_classes {
        crate::raw::check_class_names(coarse)
            .map_err(|e| DataError::invalid(format!("{} (coarse classes): {e}", raw.name)))?;
    }
    Ok(())
}

fn check_raw(raw: &RawDataset) -> Result<()> {
    check_names(raw)?;
    for (name, s) in [("train", &raw.train), ("test", &raw.test)] {
        check_split(raw, name, s, s.images.len())?;
    }
    Ok(())
}

/// A split has images, `image_len` bytes of them: one image's worth per label.
fn check_split(raw: &RawDataset, name: &str, s: &RawSplit, image_len: usize) -> Result<()> {
    if s.is_empty() {
        return Err(DataError::invalid(format!("{}: the {name} split is empty", raw.name)));
    }
    if image_len != s.len() * raw.image_bytes() {
        return Err(DataError::invalid(format!(
            "{}: {name} split has {image_len} image bytes for {} labels of {} bytes each",
            raw.name,
            s.len(),
            raw.image_bytes()
        )));
    }
    Ok(())
}

/// Imports a raw dataset into the store (a cache hit when the same content is there).
pub fn import_raw(store: &Store, raw: &RawDataset, code: &CodeIdentity, source: &str) -> Result<Artifact> {
    check_raw(raw)?;
    let content = content_hash(raw);
    let splits = [("train", &raw.train), ("test", &raw.test)].map(|(name, s)| SplitOut {
        name,
        images: Images::Bytes(&s.images),
        labels: &s.labels,
        coarse: s.coarse_labels.as_deref(),
    });
    commit_dataset(store, raw, content, splits, code, source)
}

/// A dataset whose images were streamed to files (in N×C×H×W order) rather than held in
/// memory: [`import_streamed`] hashes the files (read through a small buffer) and moves
/// them into the artifact.
pub struct StreamedDataset {
    /// Name, classes, shape and the splits' labels; the splits' image bytes are empty (they
    /// are in `image_files`).
    pub raw: RawDataset,
    /// Files holding the training and test images; moved into the artifact (same file
    /// system as the store).
    pub image_files: [PathBuf; 2],
}

/// Imports a dataset whose images are in files (a cache hit when the same content is there):
/// the same artifact, key and bytes as [`import_raw`] of the same images in memory.
pub fn import_streamed(
    store: &Store,
    d: StreamedDataset,
    code: &CodeIdentity,
    source: &str,
) -> Result<Artifact> {
    let raw = &d.raw;
    let [train_file, test_file] = &d.image_files;
    for ((name, split), path) in [("train", &raw.train), ("test", &raw.test)].into_iter().zip(&d.image_files)
    {
        let len = std::fs::metadata(path).ctx("reading", path)?.len() as usize;
        check_split(raw, name, split, len)?;
    }
    check_names(raw)?;
    let header = raw_header(raw);
    fn part<'a>(s: &'a RawSplit, file: &'a Path) -> SplitParts<'a> {
        (Images::File(file), &s.labels, s.coarse_labels.as_deref())
    }
    let content = hash_content(&header, [part(&raw.train, train_file), part(&raw.test, test_file)])?;
    let splits =
        [("train", &raw.train, train_file), ("test", &raw.test, test_file)].map(|(name, s, file)| SplitOut {
            name,
            images: Images::File(file),
            labels: &s.labels,
            coarse: s.coarse_labels.as_deref(),
        });
    commit_dataset(store, raw, content, splits, code, source)
}

/// Where a split's image bytes are.
enum Images<'a> {
    /// In memory.
    Bytes(&'a [u8]),
    /// In a file, moved into the artifact.
    File(&'a Path),
}

/// One split as written into a dataset artifact.
struct SplitOut<'a> {
    name: &'static str,
    images: Images<'a>,
    labels: &'a [u16],
    coarse: Option<&'a [u16]>,
}

/// Begins the dataset artifact of `content` (returning it when cached), writes its files
/// and commits it. `raw` gives the name, classes and shape.
fn commit_dataset(
    store: &Store,
    raw: &RawDataset,
    content: String,
    splits: [SplitOut; 2],
    code: &CodeIdentity,
    source: &str,
) -> Result<Artifact> {
    let spec = ArtifactSpec::new(
        DATASET_STAGE,
        DATASET_SCHEMA_VERSION,
        &DatasetParams { name: &raw.name, content_blake3: &content },
    );
    let pending = match store.begin(&spec, BeginOptions::default())? {
        Begin::Cached(a) => return Ok(a),
        Begin::Run(p) => p,
    };
    let info = DatasetInfo {
        name: raw.name.clone(),
        classes: raw.classes.clone(),
        coarse_classes: raw.coarse_classes.clone(),
        channels: raw.shape[0],
        height: raw.shape[1],
        width: raw.shape[2],
        n_train: splits[0].labels.len(),
        n_test: splits[1].labels.len(),
        content_blake3: content,
    };
    let json = serde_json::to_string_pretty(&info).expect("info serialises");
    let p = pending.path("dataset.json");
    std::fs::write(&p, json).ctx("writing", &p)?;
    for split in &splits {
        let p = pending.path(&format!("{}_images.u8", split.name));
        match split.images {
            Images::Bytes(b) => std::fs::write(&p, b).ctx("writing", &p)?,
            Images::File(f) => std::fs::rename(f, &p).ctx("moving into the artifact", f)?,
        }
        write_labels(&pending.path(&format!("{}_labels.parquet", split.name)), split, &info, pending.key())?;
    }
    let metrics = serde_json::json!({
        "name": info.name, "n_train": info.n_train, "n_test": info.n_test,
        "num_classes": info.num_classes(), "shape": raw.shape, "source": source,
    });
    Ok(pending.commit(CommitInfo {
        metrics,
        code: code.clone(),
        backend: "none".into(),
        device: "cpu".into(),
        ..Default::default()
    })?)
}

fn write_labels(path: &Path, split: &SplitOut, info: &DatasetInfo, key: &str) -> Result<()> {
    let n = split.labels.len() as u32;
    let mut cols: Vec<(&str, ArrayRef)> = vec![
        ("index", Arc::new(UInt32Array::from_iter_values(0..n))),
        ("label", Arc::new(UInt16Array::from(split.labels.to_vec()))),
    ];
    if let Some(c) = split.coarse {
        cols.push(("coarse_label", Arc::new(UInt16Array::from(c.to_vec()))));
    }
    let batch = RecordBatch::try_from_iter(cols)
        .map_err(|e| DataError::Parquet { path: path.into(), reason: e.to_string() })?;
    let mut meta = BTreeMap::new();
    meta.insert("rmdnet.dataset_key".into(), key.to_string());
    meta.insert("rmdnet.classes".into(), serde_json::to_string(&info.classes).expect("json"));
    write_parquet(path, &batch, &meta)
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct SourceIndex {
    dir: String,
    files: Vec<(String, u64, u128)>,
    key: String,
}

fn stat_files(files: &[PathBuf]) -> Result<Vec<(String, u64, u128)>> {
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).ctx("inspecting", f)?;
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            Ok((f.display().to_string(), m.len(), mtime))
        })
        .collect()
}

/// Resolves `--dataset`: a known name (located under the data directory, imported on first
/// use; later runs recognise unchanged files by size and mtime without re-hashing them) or
/// the key (prefix) of a dataset artifact already in the store.
pub fn resolve_dataset(
    store: &Store,
    what: &str,
    sources: &SourceOptions,
    code: &CodeIdentity,
) -> Result<Artifact> {
    let pointed = || -> Result<Option<Artifact>> {
        let Some(ptr) = crate::import::read_name_pointer(store, what)? else { return Ok(None) };
        match store.lookup_key(DATASET_STAGE, &ptr.key)? {
            Some(a) => Ok(Some(a)),
            None => Err(DataError::invalid(format!(
                "dataset '{what}' was imported from {} as {}, which is no longer in the store {}: import it again (rmd dataset --from ...)",
                ptr.source,
                &ptr.key[..12.min(ptr.key.len())],
                store.root().display()
            ))),
        }
    };
    let Some(known) = KnownDataset::parse(what) else {
        if let Some(a) = pointed()? {
            return Ok(a);
        }
        return store.find(Some(DATASET_STAGE), what).map_err(|e| match e {
            rmd_store::StoreError::NotFound { .. } => DataError::invalid(format!(
                "unknown dataset '{what}': not one of {}, not a name given to `rmd dataset --from`, and no dataset artifact with that key prefix in {}",
                KnownDataset::ALL.map(|k| k.name()).join(", "),
                store.root().display()
            )),
            other => other.into(),
        });
    };
    // Imported from another source under this name (e.g. torchvision's CIFAR files) and
    // the official files are not here: the imported artifact.
    let expected_dir = sources.data_dir.join(known.dir_name());
    if known.present_files(&expected_dir).len() != known.required_files().len()
        && let Some(a) = pointed()?
    {
        return Ok(a);
    }
    let location = known.locate_source(sources)?;
    let dir = location.path().to_path_buf();
    let canonical = std::fs::canonicalize(&dir).unwrap_or(dir.clone());
    let files = match &location {
        SourceLocation::Binary(_) => known.present_files(&dir),
        SourceLocation::Python(p) if p.is_dir() => crate::import::cifar_python::member_files(p),
        SourceLocation::Python(p) => vec![p.clone()],
    };
    let index_dir = store.stage_dir(DATASET_STAGE).join(".sources");
    let tag = blake3::hash(canonical.display().to_string().as_bytes()).to_hex();
    let index_path = index_dir.join(format!("{}-{}.json", known.name(), &tag[..16]));
    let stats = stat_files(&files)?;
    if let Ok(text) = std::fs::read_to_string(&index_path)
        && let Ok(idx) = serde_json::from_str::<SourceIndex>(&text)
        && idx.files == stats
        && let Some(a) = store.lookup_key(DATASET_STAGE, &idx.key)?
    {
        return Ok(a);
    }
    rmd_store::report::note(format!("importing {} from {}", known.name(), dir.display()));
    let raw = match &location {
        SourceLocation::Binary(_) => known.read(&dir)?,
        SourceLocation::Python(p) => {
            let raw = crate::import::cifar_python::read_cifar_python(p)?;
            if raw.name != known.name() {
                return Err(DataError::bad(p, format!("holds {}, not {}", raw.name, known.name())));
            }
            raw
        }
    };
    let artifact = import_raw(store, &raw, code, &format!("{} ({})", known.name(), canonical.display()))?;
    let idx =
        SourceIndex { dir: canonical.display().to_string(), files: stats, key: artifact.key().to_string() };
    write_json_atomically(&index_path, &idx)?;
    Ok(artifact)
}

/// Writes a small JSON file beside the artifacts (a source index, a name pointer) through a
/// temporary file and a rename, creating its directory: readers see the old or the new
/// file, never a part of one.
pub(crate) fn write_json_atomically(path: &Path, value: &impl Serialize) -> Result<()> {
    let dir = path.parent().expect("a file in a directory");
    std::fs::create_dir_all(dir).ctx("creating", dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec_pretty(value).expect("json")).ctx("writing", &tmp)?;
    std::fs::rename(&tmp, path).ctx("renaming", &tmp)?;
    Ok(())
}

/// One split of an opened dataset artifact; images are memory-mapped, not copied.
#[derive(Debug)]
pub struct Split {
    images: memmap2::Mmap,
    labels: Vec<u16>,
    coarse_labels: Option<Vec<u16>>,
    image_bytes: usize,
}

impl Split {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Labels by index.
    pub fn labels(&self) -> &[u16] {
        &self.labels
    }

    /// Coarse labels, when present.
    pub fn coarse_labels(&self) -> Option<&[u16]> {
        self.coarse_labels.as_deref()
    }

    /// Bytes of image `i` (C×H×W).
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * self.image_bytes..(i + 1) * self.image_bytes]
    }

    /// All image bytes.
    pub fn all_images(&self) -> &[u8] {
        &self.images
    }

    /// Copies the images at `indices`, concatenated.
    pub fn gather(&self, indices: &[u32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(indices.len() * self.image_bytes);
        for &i in indices {
            out.extend_from_slice(self.image(i as usize));
        }
        out
    }
}

/// An opened dataset artifact.
#[derive(Debug)]
pub struct Dataset {
    /// The artifact key.
    pub key: String,
    /// Its description.
    pub info: DatasetInfo,
    /// Training split.
    pub train: Split,
    /// Test split.
    pub test: Split,
}

impl Dataset {
    /// Opens a dataset artifact, checking file sizes and label ranges.
    pub fn open(artifact: &Artifact) -> Result<Dataset> {
        let info = DatasetInfo::read(artifact)?;
        let train = open_split(artifact, "train", info.n_train, &info)?;
        let test = open_split(artifact, "test", info.n_test, &info)?;
        Ok(Dataset { key: artifact.key().to_string(), info, train, test })
    }
}

fn open_split(artifact: &Artifact, name: &str, n: usize, info: &DatasetInfo) -> Result<Split> {
    let img_path = artifact.path(&format!("{name}_images.u8"));
    let file = std::fs::File::open(&img_path).ctx("opening", &img_path)?;
    // SAFETY: artifact files are immutable once committed; the store never rewrites them.
    let images = unsafe { memmap2::Mmap::map(&file) }.ctx("mapping", &img_path)?;
    let expected =
        [info.channels, info.height, info.width, n].iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if expected != Some(images.len()) {
        return Err(DataError::bad(
            &img_path,
            format!("{} bytes, expected {n} images of {} bytes", images.len(), info.image_bytes()),
        ));
    }
    let lab_path = artifact.path(&format!("{name}_labels.parquet"));
    let table = read_parquet(&lab_path)?;
    let to_u16 = |v: Vec<i64>, limit: usize, what: &str| -> Result<Vec<u16>> {
        if v.len() != n {
            return Err(DataError::bad(&lab_path, format!("{} {what} values, expected {n}", v.len())));
        }
        if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| **x < 0 || **x as usize >= limit) {
            return Err(DataError::bad(&lab_path, format!("{what} {x} at row {i} out of range 0..{limit}")));
        }
        Ok(v.into_iter().map(|x| x as u16).collect())
    };
    let labels = to_u16(int_column(&table, &lab_path, "label")?, info.num_classes(), "label")?;
    let coarse_labels = match &info.coarse_classes {
        Some(c) => Some(to_u16(int_column(&table, &lab_path, "coarse_label")?, c.len(), "coarse_label")?),
        None => None,
    };
    Ok(Split { images, labels, coarse_labels, image_bytes: info.image_bytes() })
}
