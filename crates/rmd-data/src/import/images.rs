//! Users' own images: a folder of class folders or a list of (path, label[, split]), decoded
//! (PNG, JPEG), brought to one size and imported as a dataset.
//!
//! Folder layouts: `ROOT/train/<class>/*` and `ROOT/test/<class>/*`, or `ROOT/<class>/*`
//! with a test share drawn per class (`test_fraction`). Lists: a CSV, TSV or Parquet file
//! with columns `path` (relative to the list's directory, or absolute), `label` (a class
//! name; integers are names too, ordered numerically) and optionally `split` (`train` or
//! `test`). Classes are ordered by name, images by path within a split, so the same files
//! give the same dataset. Every problem is collected and reported together, each naming its
//! file: unreadable or corrupt images, images of another size (without a size to bring them
//! to), files that are not images, empty class folders.

use crate::error::{DataError, IoContext, Result};
use crate::raw::{RawDataset, RawSplit};
use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Extensions of the image files read (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// How images of another size are brought to the requested one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fit {
    /// Scale so the shorter side fits, then cut the centre (keeps the aspect ratio).
    #[default]
    Crop,
    /// Scale both sides independently (distorts non-matching aspect ratios).
    Stretch,
}

/// How to turn the files into a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageImportOptions {
    /// Dataset name.
    pub name: String,
    /// Target size (width, height); `None`: keep the size, which all images must share.
    pub size: Option<(u32, u32)>,
    /// How other sizes are fitted to `size`.
    pub fit: Fit,
    /// 1 (grey) or 3 (RGB); `None`: 1 when every image is grey, else 3.
    pub channels: Option<usize>,
    /// Share of each class drawn as the test split when the source has no split.
    pub test_fraction: Option<f64>,
    /// Seed of that draw.
    pub seed: u64,
    /// Show a progress bar while decoding.
    pub progress: bool,
}

/// Which split an image belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SplitName {
    /// Training split.
    Train,
    /// Test split.
    Test,
}

/// One image file and its given class.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImageEntry {
    /// Split, when the source says.
    pub split: Option<SplitName>,
    /// Class name.
    pub class: String,
    /// The file.
    pub path: PathBuf,
}

/// What a scan of a folder or list found, before any image is decoded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scan {
    /// Where the files came from (shown in summaries and recorded in the manifest).
    pub source: PathBuf,
    /// Image files with their classes.
    pub entries: Vec<ImageEntry>,
    /// Files skipped because their extension is not an image's.
    pub skipped: Vec<PathBuf>,
    /// Class folders without any image.
    pub empty_class_dirs: Vec<PathBuf>,
}

impl Scan {
    /// Class names in dataset order: by name, or numerically when every name is an integer.
    pub fn classes(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.entries.iter().map(|e| e.class.as_str()).collect();
        let mut v: Vec<String> = set.into_iter().map(String::from).collect();
        if v.iter().all(|c| c.parse::<i64>().is_ok()) {
            v.sort_by_key(|c| c.parse::<i64>().unwrap_or(0));
        }
        v
    }

    /// A few lines on what was found: images per split and class, skipped files, empty
    /// class folders.
    pub fn summary(&self) -> String {
        let mut counts: BTreeMap<(&str, Option<SplitName>), usize> = BTreeMap::new();
        for e in &self.entries {
            *counts.entry((e.class.as_str(), e.split)).or_default() += 1;
        }
        let classes = self.classes();
        let per_split = |s: Option<SplitName>| self.entries.iter().filter(|e| e.split == s).count();
        let mut out =
            format!("{}: {} images in {} classes", self.source.display(), self.entries.len(), classes.len());
        let (tr, te, un) =
            (per_split(Some(SplitName::Train)), per_split(Some(SplitName::Test)), per_split(None));
        if un == 0 {
            out += &format!(" ({tr} train, {te} test)");
        }
        out.push('\n');
        for c in &classes {
            let n = |s| counts.get(&(c.as_str(), s)).copied().unwrap_or(0);
            if un == 0 {
                out += &format!(
                    "  {c}: {} train, {} test\n",
                    n(Some(SplitName::Train)),
                    n(Some(SplitName::Test))
                );
            } else {
                out += &format!("  {c}: {}\n", n(None));
            }
        }
        if !self.skipped.is_empty() {
            out += &format!(
                "  skipped {} files that are not {}: {}\n",
                self.skipped.len(),
                IMAGE_EXTENSIONS.join("/"),
                list_paths(&self.skipped)
            );
        }
        for d in &self.empty_class_dirs {
            out += &format!("  warning: {} holds no image\n", d.display());
        }
        out
    }
}

/// The first `shown` items, then "and N more" when there are others.
fn first_of(mut items: Vec<String>, shown: usize) -> Vec<String> {
    let n = items.len();
    items.truncate(shown);
    if n > shown {
        items.push(format!("and {} more", n - shown));
    }
    items
}

fn list_paths(paths: &[PathBuf]) -> String {
    first_of(paths.iter().map(|p| p.display().to_string()).collect(), 10).join(", ")
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .ctx("listing", dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .ctx("listing", dir)?;
    v.sort();
    Ok(v)
}

/// The directories a folder scan has entered, by their real path: a directory reached a
/// second time (through a symbolic link) would count its images twice, and one that is its
/// own ancestor (a link loop) would never end. Both are refused, naming the link.
#[derive(Default)]
struct Visited {
    /// Real path of every directory entered, with the path it was reached by.
    dirs: BTreeMap<PathBuf, PathBuf>,
}

impl Visited {
    /// Records that the walk enters `dir`; an error when it has been entered before.
    fn enter(&mut self, dir: &Path) -> Result<()> {
        let real = std::fs::canonicalize(dir).ctx("resolving", dir)?;
        if let Some(first) = self.dirs.get(&real) {
            let what = if dir.starts_with(first) {
                format!("a symbolic link loop: it leads back to {}", first.display())
            } else {
                format!(
                    "the same directory as {} (through a symbolic link): its images would be counted twice",
                    first.display()
                )
            };
            return Err(DataError::bad(
                dir,
                format!("{what}; remove the link or pass the folders without it"),
            ));
        }
        self.dirs.insert(real, dir.to_path_buf());
        Ok(())
    }
}

/// Every file under `dir`, recursively, sorted by path; hidden entries are ignored.
fn files_under(dir: &Path, visited: &mut Visited, out: &mut Vec<PathBuf>) -> Result<()> {
    visited.enter(dir)?;
    for p in sorted_dir(dir)? {
        if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
            continue;
        }
        if p.is_dir() {
            files_under(&p, visited, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// Refuses two entries that are one file (a file linked into two places, or into two
/// classes): which label it has would be a guess.
fn refuse_same_file_twice(entries: &[ImageEntry]) -> Result<()> {
    let mut by_real: BTreeMap<PathBuf, &ImageEntry> = BTreeMap::new();
    for e in entries {
        let Ok(real) = std::fs::canonicalize(&e.path) else { continue }; // reported when decoded
        if let Some(first) = by_real.insert(real, e) {
            return Err(DataError::bad(
                &e.path,
                format!(
                    "the same file as {} (class '{}'), here as class '{}': each image must appear once",
                    first.path.display(),
                    first.class,
                    e.class
                ),
            ));
        }
    }
    Ok(())
}

fn scan_class_dirs(
    root: &Path,
    split: Option<SplitName>,
    visited: &mut Visited,
    scan: &mut Scan,
) -> Result<()> {
    for class_dir in sorted_dir(root)? {
        let Some(name) = class_dir.file_name() else { continue };
        if name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        // A class is named by its folder: a name that is not text would be lost or guessed.
        let Some(class) = name.to_str().map(String::from) else {
            return Err(DataError::bad(
                &class_dir,
                "the folder name is not valid UTF-8, so it cannot name a class; rename the folder"
                    .to_string(),
            ));
        };
        if !class_dir.is_dir() {
            scan.skipped.push(class_dir);
            continue;
        }
        let mut files = Vec::new();
        files_under(&class_dir, visited, &mut files)?;
        let before = scan.entries.len();
        for f in files {
            if is_image(&f) {
                scan.entries.push(ImageEntry { split, class: class.clone(), path: f });
            } else {
                scan.skipped.push(f);
            }
        }
        if scan.entries.len() == before {
            scan.empty_class_dirs.push(class_dir);
        }
    }
    Ok(())
}

/// Scans an image folder: `ROOT/train/<class>/…` (with `ROOT/test/<class>/…` unless a test
/// share will be drawn) or `ROOT/<class>/…`.
pub fn scan_folder(root: &Path) -> Result<Scan> {
    if !root.is_dir() {
        return Err(DataError::Missing(format!("{}: no such directory", root.display())));
    }
    let mut scan = Scan { source: root.to_path_buf(), ..Default::default() };
    let mut visited = Visited::default();
    visited.enter(root)?;
    let train = root.join("train");
    if train.is_dir() {
        visited.enter(&train)?;
        scan_class_dirs(&train, Some(SplitName::Train), &mut visited, &mut scan)?;
        let test = root.join("test");
        if test.is_dir() {
            visited.enter(&test)?;
            scan_class_dirs(&test, Some(SplitName::Test), &mut visited, &mut scan)?;
        } else {
            // No test folder: the test share is drawn from train (needs test_fraction).
            for e in &mut scan.entries {
                e.split = None;
            }
        }
    } else {
        scan_class_dirs(root, None, &mut visited, &mut scan)?;
    }
    refuse_same_file_twice(&scan.entries)?;
    if scan.entries.is_empty() {
        return Err(DataError::bad(
            root,
            format!(
                "no image found: expected train/<class>/*.png|jpg (and test/<class>/...) or <class>/*.png|jpg under it{}",
                if scan.skipped.is_empty() {
                    String::new()
                } else {
                    format!(" (skipped: {})", list_paths(&scan.skipped))
                }
            ),
        ));
    }
    Ok(scan)
}

/// Reads an image list: columns `path`, `label` and optionally `split` (CSV, TSV, Parquet).
pub fn scan_list(list: &Path) -> Result<Scan> {
    let table = crate::table::open_table(list)?;
    for needed in ["path", "label"] {
        if !table.columns.iter().any(|c| c == needed) {
            return Err(DataError::bad(
                list,
                format!(
                    "no column '{needed}' (columns: {}); an image list needs path and label, and may have split",
                    table.columns.join(", ")
                ),
            ));
        }
    }
    let paths = table.text("path")?;
    let labels = table.text("label")?;
    let splits = if table.columns.iter().any(|c| c == "split") { Some(table.text("split")?) } else { None };
    let base = list.parent().unwrap_or(Path::new("."));
    let mut scan = Scan { source: list.to_path_buf(), ..Default::default() };
    let mut problems = Vec::new();
    // The same file twice: refused (with different labels which one is meant is a guess;
    // with the same label it would be trained on twice).
    let mut first_row: std::collections::HashMap<PathBuf, usize> = std::collections::HashMap::new();
    for r in 0..table.rows {
        let row = r + 2; // 1-based, after the header line
        let split = match splits.as_ref().map(|s| s[r].to_ascii_lowercase()) {
            None => None,
            Some(s) if s == "train" => Some(SplitName::Train),
            Some(s) if s == "test" => Some(SplitName::Test),
            Some(s) => {
                problems.push(format!("row {row}: split '{s}' is neither train nor test"));
                continue;
            }
        };
        if labels[r].trim().is_empty() {
            problems.push(format!("row {row}: empty label"));
            continue;
        }
        let p = PathBuf::from(&paths[r]);
        let path = if p.is_absolute() { p } else { base.join(p) };
        if let Some(problem) = crate::input_file_problem(&path) {
            problems.push(format!("row {row}: {} {problem}", path.display()));
            continue;
        }
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if let Some(first) = first_row.insert(canonical, row) {
            problems.push(format!("row {row}: {} is listed again (first on row {first})", path.display()));
            continue;
        }
        scan.entries.push(ImageEntry { split, class: labels[r].trim().to_string(), path });
    }
    if !problems.is_empty() {
        return Err(DataError::bad(
            list,
            format!("{} problems:\n  {}", problems.len(), problems.join("\n  ")),
        ));
    }
    if scan.entries.is_empty() {
        return Err(DataError::bad(list, "lists no image"));
    }
    let with_split = scan.entries.iter().filter(|e| e.split.is_some()).count();
    if with_split != 0 && with_split != scan.entries.len() {
        return Err(DataError::bad(list, "some rows have a split and others do not; give every row one"));
    }
    scan.entries.sort();
    Ok(scan)
}

/// Assigns a split to every entry: as given, or a seeded per-class draw of `fraction` as
/// test (at least one test image per class with two or more images).
fn assign_splits(scan: &Scan, opts: &ImageImportOptions) -> Result<Vec<(SplitName, ImageEntry)>> {
    let has_split = scan.entries.iter().all(|e| e.split.is_some());
    if has_split {
        if opts.test_fraction.is_some() {
            return Err(DataError::invalid(format!(
                "{} already has train and test splits; drop --test-fraction",
                scan.source.display()
            )));
        }
        return Ok(scan.entries.iter().map(|e| (e.split.expect("checked"), e.clone())).collect());
    }
    let Some(fraction) = opts.test_fraction else {
        return Err(DataError::invalid(format!(
            "{} has no test split (no test/ folder or split column): give --test-fraction F to hold out a share F of each class as the test split",
            scan.source.display()
        )));
    };
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(DataError::invalid(format!("--test-fraction {fraction} must be in (0, 1)")));
    }
    let mut by_class: BTreeMap<&str, Vec<&ImageEntry>> = BTreeMap::new();
    for e in &scan.entries {
        by_class.entry(e.class.as_str()).or_default().push(e);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    let mut out = Vec::new();
    for (_, mut entries) in by_class {
        entries.sort();
        entries.shuffle(&mut rng);
        let n = entries.len();
        let n_test = if n >= 2 { ((n as f64 * fraction).round() as usize).clamp(1, n - 1) } else { 0 };
        for (i, e) in entries.into_iter().enumerate() {
            out.push((if i < n_test { SplitName::Test } else { SplitName::Train }, e.clone()));
        }
    }
    out.sort_by(|a, b| (a.0, &a.1.path).cmp(&(b.0, &b.1.path)));
    Ok(out)
}

/// A reader of the image at `path`, its format guessed from its content.
fn open_image(
    path: &Path,
) -> std::result::Result<image::ImageReader<std::io::BufReader<std::fs::File>>, String> {
    image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())
}

fn decode(path: &Path) -> std::result::Result<DynamicImage, String> {
    open_image(path)?.decode().map_err(|e| e.to_string().trim().to_string())
}

fn fit_to(img: DynamicImage, (w, h): (u32, u32), fit: Fit) -> DynamicImage {
    if img.dimensions() == (w, h) {
        return img;
    }
    match fit {
        Fit::Stretch => img.resize_exact(w, h, FilterType::Triangle),
        Fit::Crop => img.resize_to_fill(w, h, FilterType::Triangle),
    }
}

/// Channel-major bytes of an image with `channels` channels.
fn to_chw(img: &DynamicImage, channels: usize) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let plane = (w * h) as usize;
    if channels == 1 {
        return img.to_luma8().into_raw();
    }
    let rgb = img.to_rgb8();
    let mut out = vec![0u8; 3 * plane];
    for (i, px) in rgb.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = px.0[c];
        }
    }
    out
}

/// Decodes every image of a scan into a dataset in memory. All problems are reported at
/// once, each with its file. ([`import_images`] streams them into the store instead.)
pub fn load_images(scan: &Scan, opts: &ImageImportOptions) -> Result<RawDataset> {
    let mut images = [Vec::new(), Vec::new()];
    let mut raw = decode_into(scan, opts, |split, chw| {
        images[usize::from(split == SplitName::Test)].extend_from_slice(chw);
        Ok(())
    })?;
    [raw.train.images, raw.test.images] = images;
    Ok(raw)
}

/// Decodes every image of a scan straight into the files of a dataset artifact, a chunk of
/// images at a time, so memory stays bounded whatever the number of images (the decoded
/// images are never all in memory). The same artifact as [`load_images`] then
/// [`crate::dataset::import_raw`]; nothing is stored when any image has a problem.
pub fn import_images(
    store: &rmd_store::Store,
    scan: &Scan,
    opts: &ImageImportOptions,
    code: &rmd_store::CodeIdentity,
    source: &str,
) -> Result<rmd_store::Artifact> {
    use std::io::Write;
    let staging = store.staging()?;
    let files = ["train", "test"].map(|s| staging.path().join(format!("{s}_images.u8")));
    let mut writers = Vec::new();
    for f in &files {
        writers.push(std::io::BufWriter::new(std::fs::File::create(f).ctx("creating", f)?));
    }
    let raw = decode_into(scan, opts, |split, chw| {
        let i = usize::from(split == SplitName::Test);
        writers[i].write_all(chw).ctx("writing", &files[i])
    })?;
    for (w, f) in writers.into_iter().zip(&files) {
        w.into_inner().map_err(|e| e.into_error()).ctx("writing", f)?;
    }
    let streamed = crate::dataset::StreamedDataset { raw, image_files: files };
    crate::dataset::import_streamed(store, streamed, code, source)
}

/// Images decoded per unit of parallel work: bounds the decoded images held at once.
const DECODE_CHUNK: usize = 2048;

/// Reads every image's header (size, colour type), chooses the dataset's size and channels,
/// then decodes the images a chunk at a time in dataset order (training split first),
/// passing each one's channel-major bytes to `write`. Every problem (unreadable, corrupt,
/// wrong size) is collected and reported together; after the first, nothing more is written.
/// Returns the dataset with its labels (in the order the images were written) and no image
/// bytes.
fn decode_into(
    scan: &Scan,
    opts: &ImageImportOptions,
    mut write: impl FnMut(SplitName, &[u8]) -> Result<()>,
) -> Result<RawDataset> {
    if let Some(c) = opts.channels
        && c != 1
        && c != 3
    {
        return Err(DataError::invalid(format!("--channels {c}: must be 1 or 3")));
    }
    let entries = assign_splits(scan, opts)?;
    let classes = scan.classes();
    let class_index: BTreeMap<&str, u16> =
        classes.iter().enumerate().map(|(i, c)| (c.as_str(), i as u16)).collect();
    if classes.len() > u16::MAX as usize {
        return Err(DataError::invalid(format!("{} classes: at most {}", classes.len(), u16::MAX)));
    }
    let bar = crate::progress::count_bar(entries.len() as u64, opts.progress, "reading image headers");
    let headers: Vec<std::result::Result<Header, String>> = entries
        .par_iter()
        .map(|(_, e)| {
            let r = probe(&e.path);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    let mut problems: Vec<String> = Vec::new();
    // Without a target size, every image must have the most common size.
    let mut sizes: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    for header in headers.iter().flatten() {
        *sizes.entry(header.dims).or_default() += 1;
    }
    let (w, h) = match opts.size {
        Some(s) => s,
        None => {
            sizes.iter().max_by_key(|(s, n)| (**n, std::cmp::Reverse(**s))).map(|(s, _)| *s).unwrap_or((0, 0))
        }
    };
    let channels = opts.channels.unwrap_or(if headers.iter().flatten().all(|h| h.grey) { 1 } else { 3 });
    let mut raw = RawDataset {
        name: opts.name.clone(),
        classes: classes.clone(),
        coarse_classes: None,
        shape: [channels, h as usize, w as usize],
        train: RawSplit::default(),
        test: RawSplit::default(),
    };
    let bar = crate::progress::count_bar(entries.len() as u64, opts.progress, "decoding images");
    for chunk in entries.chunks(DECODE_CHUNK) {
        let decoded: Vec<std::result::Result<Vec<u8>, String>> = chunk
            .par_iter()
            .map(|(_, e)| {
                let r = decode(&e.path).map_err(|why| format!("cannot decode: {why}")).and_then(|img| {
                    let img = match opts.size {
                        Some(size) => fit_to(img, size, opts.fit),
                        None => img,
                    };
                    let (iw, ih) = img.dimensions();
                    if (iw, ih) != (w, h) {
                        return Err(format!(
                            "{iw}x{ih} pixels, but most images are {w}x{h}; give --size WxH (and --fit crop|stretch) to bring every image to one size"
                        ));
                    }
                    Ok(to_chw(&img, channels))
                });
                bar.inc(1);
                r
            })
            .collect();
        for ((split, e), r) in chunk.iter().zip(decoded) {
            match r {
                Err(problem) => problems.push(format!("{}: {problem}", e.path.display())),
                Ok(chw) if problems.is_empty() => {
                    write(*split, &chw)?;
                    let s = if *split == SplitName::Train { &mut raw.train } else { &mut raw.test };
                    s.labels.push(class_index[e.class.as_str()]);
                }
                Ok(_) => {}
            }
        }
    }
    bar.finish_and_clear();
    if !problems.is_empty() {
        let n = problems.len();
        return Err(DataError::bad(
            &scan.source,
            format!(
                "{n} of {} images cannot be imported:\n  {}",
                entries.len(),
                first_of(problems, 50).join("\n  ")
            ),
        ));
    }
    for (what, s) in [("train", &raw.train), ("test", &raw.test)] {
        if s.is_empty() {
            return Err(DataError::bad(&scan.source, format!("the {what} split has no image")));
        }
    }
    Ok(raw)
}

/// What an image's header says.
struct Header {
    /// Width and height.
    dims: (u32, u32),
    /// Grey (one channel, with or without alpha).
    grey: bool,
}

/// An image's size and whether it is grey, from its header alone.
fn probe(path: &Path) -> std::result::Result<Header, String> {
    use image::{ColorType, ImageDecoder};
    let decoder = open_image(path)?.into_decoder().map_err(|e| e.to_string().trim().to_string())?;
    let grey =
        matches!(decoder.color_type(), ColorType::L8 | ColorType::La8 | ColorType::L16 | ColorType::La16);
    Ok(Header { dims: decoder.dimensions(), grey })
}

/// Parses `--size`: `N` (N×N) or `WxH`.
pub fn parse_size(s: &str) -> std::result::Result<(u32, u32), String> {
    let bad = || format!("'{s}': expected N or WIDTHxHEIGHT, e.g. 32 or 64x48");
    let (w, h) = match s.split_once(['x', 'X']) {
        Some((w, h)) => (w.trim().parse().map_err(|_| bad())?, h.trim().parse().map_err(|_| bad())?),
        None => {
            let n = s.trim().parse().map_err(|_| bad())?;
            (n, n)
        }
    };
    if w == 0 || h == 0 || w > 4096 || h > 4096 {
        return Err(format!("'{s}': each side must be 1..4096 pixels"));
    }
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ImageImportOptions {
        ImageImportOptions {
            name: "t".into(),
            size: None,
            fit: Fit::Crop,
            channels: None,
            test_fraction: None,
            seed: 1,
            progress: false,
        }
    }

    fn png(path: &Path, w: u32, h: u32, shade: u8) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([shade, (x * 10) as u8, (y * 10) as u8]))
            .save(path)
            .unwrap();
    }

    /// A class folder whose name is not UTF-8 is refused, naming it; it used to be skipped
    /// with its images and no word.
    #[cfg(unix)]
    #[test]
    fn a_class_folder_whose_name_is_not_text_is_refused() {
        use std::os::unix::ffi::OsStrExt;
        let tmp = tempfile::tempdir().unwrap();
        png(&tmp.path().join("cat/0.png"), 4, 3, 10);
        let odd = tmp.path().join(std::ffi::OsStr::from_bytes(b"d\xffg"));
        png(&odd.join("0.png"), 4, 3, 20);
        let err = scan_folder(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("not valid UTF-8") && err.contains("d\u{fffd}g"), "{err}");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("32").unwrap(), (32, 32));
        assert_eq!(parse_size("64x48").unwrap(), (64, 48));
        assert!(parse_size("0").is_err());
        assert!(parse_size("a").is_err());
        assert!(parse_size("32x").is_err());
    }

    #[test]
    fn folder_pixels_are_stored_channel_major_and_splits_are_drawn_per_class() {
        let tmp = tempfile::tempdir().unwrap();
        for (c, shade) in [("cat", 10u8), ("dog", 200)] {
            for i in 0..5 {
                png(&tmp.path().join(format!("{c}/{i}.png")), 4, 3, shade + i);
            }
        }
        let scan = scan_folder(tmp.path()).unwrap();
        assert_eq!(scan.classes(), ["cat", "dog"]);
        let err = load_images(&scan, &opts()).unwrap_err().to_string();
        assert!(err.contains("--test-fraction"), "{err}");
        let raw = load_images(&scan, &ImageImportOptions { test_fraction: Some(0.4), ..opts() }).unwrap();
        assert_eq!(raw.shape, [3, 3, 4]);
        assert_eq!((raw.train.len(), raw.test.len()), (6, 4));
        assert_eq!(raw.test.labels, [0, 0, 1, 1]);
        // Channel-major: the red plane of a cat image is its shade, then green = x * 10.
        let img0 = &raw.train.images[..36];
        assert!(img0[..12].iter().all(|&v| (10..15).contains(&v)), "{img0:?}");
        assert_eq!(&img0[12..16], &[0, 10, 20, 30]);
        // The same seed gives the same split; the draw depends on it.
        let again = load_images(&scan, &ImageImportOptions { test_fraction: Some(0.4), ..opts() }).unwrap();
        assert_eq!(again, raw);
    }

    /// Streaming into the store gives the artifact importing the in-memory dataset gives
    /// (key and image bytes); a corrupt image stores nothing and leaves no staging files.
    #[test]
    fn streamed_import_equals_the_in_memory_import_and_stores_nothing_on_a_problem() {
        let tmp = tempfile::tempdir().unwrap();
        for (c, shade) in [("cat", 10u8), ("dog", 200)] {
            for i in 0..(DECODE_CHUNK / 2 + 3) {
                png(&tmp.path().join(format!("src/{c}/{i}.png")), 4, 3, shade.wrapping_add(i as u8));
            }
        }
        let scan = scan_folder(&tmp.path().join("src")).unwrap();
        let o = ImageImportOptions { test_fraction: Some(0.25), ..opts() };
        let code = rmd_store::CodeIdentity::default();
        let a = rmd_store::Store::open(tmp.path().join("a")).unwrap();
        let b = rmd_store::Store::open(tmp.path().join("b")).unwrap();
        let streamed = import_images(&a, &scan, &o, &code, "test").unwrap();
        let raw = load_images(&scan, &o).unwrap();
        let in_memory = crate::dataset::import_raw(&b, &raw, &code, "test").unwrap();
        assert_eq!(streamed.key(), in_memory.key());
        for f in ["train_images.u8", "test_images.u8", "train_labels.parquet", "dataset.json"] {
            assert_eq!(
                std::fs::read(streamed.path(f)).unwrap(),
                std::fs::read(in_memory.path(f)).unwrap(),
                "{f}"
            );
        }
        let ds = crate::dataset::Dataset::open(&streamed).unwrap();
        assert_eq!(crate::dataset::stored_content_hash(&ds), ds.info.content_blake3);

        // A truncated image past the first chunk: an error naming it, nothing stored.
        let bad = tmp.path().join("src/dog/1000.png");
        let bytes = std::fs::read(&bad).unwrap();
        std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
        let c = rmd_store::Store::open(tmp.path().join("c")).unwrap();
        let err = import_images(&c, &scan, &o, &code, "test").unwrap_err().to_string();
        assert!(err.contains("1000.png") && err.contains("cannot decode"), "{err}");
        let left: Vec<_> = std::fs::read_dir(tmp.path().join("c"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| !n.starts_with(".rmdnet"))
            .collect();
        assert!(left.iter().all(|n| !n.starts_with(".import") && n != "dataset"), "{left:?}");
    }

    #[test]
    fn integer_class_names_sort_numerically() {
        let scan = Scan {
            entries: ["10", "2", "1"]
                .iter()
                .map(|c| ImageEntry { split: None, class: c.to_string(), path: PathBuf::from(c) })
                .collect(),
            ..Default::default()
        };
        assert_eq!(scan.classes(), ["1", "2", "10"]);
    }
}
