//! torchvision's CIFAR files: the "Python version" of CIFAR-10 and CIFAR-100, pickled dicts
//! of numpy arrays, as an official archive (`cifar-10-python.tar.gz`,
//! `cifar-100-python.tar.gz`, md5-checked) or its extracted directory
//! (`cifar-10-batches-py/`, `cifar-100-python/`).
//!
//! CIFAR-10: `data_batch_1`..`data_batch_5`, `test_batch` (dicts with `data`, a uint8 array
//! of shape (N, 3072), and `labels`) and `batches.meta` (`label_names`). CIFAR-100: `train`,
//! `test` (`data`, `fine_labels`, `coarse_labels`) and `meta` (`fine_label_names`,
//! `coarse_label_names`). The pixel layout is the binary version's (1024 red, 1024 green,
//! 1024 blue bytes per image), so both versions import to the same images, labels and class
//! names, and therefore to the same dataset artifact.
//!
//! The pickles are decoded by `serde-pickle`, which never runs Python code: a numpy array
//! arrives as the state numpy pickles it with (`_reconstruct` + BUILD: version, shape,
//! dtype, order, raw bytes; or protocol 5's `_frombuffer`: raw bytes, dtype, shape, order).
//! Only C-ordered uint8 data of the expected shape is accepted.

use crate::cifar::CIFAR_PIXELS;
use crate::download::{OfficialArchive, md5_file};
use crate::error::{DataError, IoContext, Result};
use crate::raw::{RawDataset, RawSplit};
use serde_pickle::{DeOptions, HashableValue, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// torchvision's `cifar-10-python.tar.gz`.
pub const CIFAR10_PYTHON_ARCHIVE: OfficialArchive = OfficialArchive {
    file_name: "cifar-10-python.tar.gz",
    md5: "c58f30108f718f92721af3b95e74349a",
    extracts_to: "cifar-10-batches-py",
};

/// torchvision's `cifar-100-python.tar.gz`.
pub const CIFAR100_PYTHON_ARCHIVE: OfficialArchive = OfficialArchive {
    file_name: "cifar-100-python.tar.gz",
    md5: "eb9058c3a382ffc7106e4002c42a8d85",
    extracts_to: "cifar-100-python",
};

const CIFAR10_TRAIN: [&str; 5] =
    ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"];

/// Which of the two CIFAR datasets a set of files holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Cifar10,
    Cifar100,
}

impl Variant {
    fn files(self) -> Vec<&'static str> {
        match self {
            Variant::Cifar10 => CIFAR10_TRAIN.iter().copied().chain(["test_batch", "batches.meta"]).collect(),
            Variant::Cifar100 => vec!["train", "test", "meta"],
        }
    }
}

/// Reads torchvision's CIFAR-10 or CIFAR-100 from an archive or an extracted directory
/// (the variant is recognised from the files). The dataset is named `cifar10` or
/// `cifar100`, like the binary version it equals.
pub fn read_cifar_python(path: &Path) -> Result<RawDataset> {
    let (variant, files) = if path.is_dir() { read_dir_files(path)? } else { read_archive_files(path)? };
    let origin = |name: &str| files.get(name).map(|(p, _)| p.clone()).unwrap_or_else(|| path.join(name));
    let load = |name: &str| -> Result<(PathBuf, Value)> {
        let (p, bytes) = &files[name];
        Ok((p.clone(), unpickle(p, bytes)?))
    };
    match variant {
        Variant::Cifar10 => {
            let (meta_path, meta) = load("batches.meta")?;
            let classes = string_list(&meta_path, &meta, "label_names", 10)?;
            let mut train = RawSplit::default();
            let mut counts = Vec::new();
            for f in CIFAR10_TRAIN {
                let (p, v) = load(f)?;
                let before = train.len();
                append_batch(&p, &v, "labels", None, &mut train, 10, 0)?;
                counts.push((f, train.len() - before));
            }
            let mut test = RawSplit::default();
            let (p, v) = load("test_batch")?;
            append_batch(&p, &v, "labels", None, &mut test, 10, 0)?;
            counts.push(("test_batch", test.len()));
            crate::cifar::assemble_cifar10(classes, train, test, &counts, origin)
        }
        Variant::Cifar100 => {
            let (meta_path, meta) = load("meta")?;
            let classes = string_list(&meta_path, &meta, "fine_label_names", 100)?;
            let coarse = string_list(&meta_path, &meta, "coarse_label_names", 20)?;
            let mut train = RawSplit { coarse_labels: Some(Vec::new()), ..Default::default() };
            let (p, v) = load("train")?;
            append_batch(&p, &v, "fine_labels", Some("coarse_labels"), &mut train, 100, 20)?;
            let mut test = RawSplit { coarse_labels: Some(Vec::new()), ..Default::default() };
            let (p, v) = load("test")?;
            append_batch(&p, &v, "fine_labels", Some("coarse_labels"), &mut test, 100, 20)?;
            crate::cifar::assemble_cifar100(classes, coarse, train, test, &origin("train"))
        }
    }
}

type Files = (Variant, BTreeMap<String, (PathBuf, Vec<u8>)>);

fn detect(present: impl Fn(&str) -> bool, place: &Path) -> Result<Variant> {
    for v in [Variant::Cifar10, Variant::Cifar100] {
        if v.files().iter().all(|f| present(f)) {
            return Ok(v);
        }
    }
    let describe = |v: Variant| {
        let missing: Vec<&str> = v.files().into_iter().filter(|f| !present(f)).collect();
        format!("missing {}", missing.join(", "))
    };
    Err(DataError::bad(
        place,
        format!(
            "not torchvision's CIFAR-10 ({}) nor CIFAR-100 ({}); expected the directory cifar-10-batches-py/ or cifar-100-python/, or the archive {} / {}",
            describe(Variant::Cifar10),
            describe(Variant::Cifar100),
            CIFAR10_PYTHON_ARCHIVE.file_name,
            CIFAR100_PYTHON_ARCHIVE.file_name
        ),
    ))
}

/// The member files present in an extracted directory (those of either variant), for
/// recognising an unchanged copy by size and modification time.
pub fn member_files(dir: &Path) -> Vec<PathBuf> {
    [Variant::Cifar10, Variant::Cifar100]
        .into_iter()
        .flat_map(Variant::files)
        .map(|f| dir.join(f))
        .filter(|p| p.is_file())
        .collect()
}

fn read_dir_files(dir: &Path) -> Result<Files> {
    let variant = detect(|f| dir.join(f).is_file(), dir)?;
    let mut files = BTreeMap::new();
    for f in variant.files() {
        let p = dir.join(f);
        let bytes = std::fs::read(&p).ctx("reading", &p)?;
        files.insert(f.to_string(), (p, bytes));
    }
    Ok((variant, files))
}

/// Reads the member files of an official archive into memory (no extraction to disk),
/// after checking its md5.
fn read_archive_files(archive: &Path) -> Result<Files> {
    let name = archive.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let official =
        [CIFAR10_PYTHON_ARCHIVE, CIFAR100_PYTHON_ARCHIVE].into_iter().find(|a| a.file_name == name);
    if let Some(problem) = crate::input_file_problem(archive) {
        return Err(DataError::Missing(format!("{}: {problem}", archive.display())));
    }
    let md5 = md5_file(archive)?;
    match official {
        Some(a) if a.md5 != md5 => {
            return Err(DataError::bad(
                archive,
                format!(
                    "md5 {md5} differs from the official {} of {}: the file is corrupt or another file; extract it and give the directory instead if it was repacked on purpose",
                    a.md5, a.file_name
                ),
            ));
        }
        Some(_) => {}
        None if [CIFAR10_PYTHON_ARCHIVE, CIFAR100_PYTHON_ARCHIVE].iter().any(|a| a.md5 == md5) => {}
        None => {
            return Err(DataError::bad(
                archive,
                format!(
                    "not an official torchvision CIFAR archive (md5 {md5} is neither {}'s {} nor {}'s {}); give the extracted directory instead",
                    CIFAR10_PYTHON_ARCHIVE.file_name,
                    CIFAR10_PYTHON_ARCHIVE.md5,
                    CIFAR100_PYTHON_ARCHIVE.file_name,
                    CIFAR100_PYTHON_ARCHIVE.md5
                ),
            ));
        }
    }
    let f = std::fs::File::open(archive).ctx("opening", archive)?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)));
    let mut members = BTreeMap::new();
    let bad = |e: std::io::Error| DataError::bad(archive, format!("cannot read the archive: {e}"));
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let member = entry.path().map_err(bad)?.to_path_buf();
        let Some(file) = member.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(bad)?;
        members.insert(file, (archive.join(member), bytes));
    }
    let variant = detect(|f| members.contains_key(f), archive)?;
    let keep: Vec<&str> = variant.files();
    members.retain(|k, _| keep.contains(&k.as_str()));
    Ok((variant, members))
}

fn unpickle(path: &Path, bytes: &[u8]) -> Result<Value> {
    serde_pickle::value_from_slice(bytes, DeOptions::new().keep_restore_state())
        .map_err(|e| DataError::bad(path, format!("not a readable pickle: {e}")))
}

/// The value under `key` in a pickled dict whose keys are Python 2 `str` (bytes) or
/// Python 3 `str`.
fn field<'a>(path: &Path, v: &'a Value, key: &str) -> Result<&'a Value> {
    let Value::Dict(items) = v else {
        return Err(DataError::bad(path, "the pickle holds no dict"));
    };
    items
        .iter()
        .find(|(k, _)| match k {
            HashableValue::Bytes(b) => b.as_slice() == key.as_bytes(),
            HashableValue::String(s) => s == key,
            _ => false,
        })
        .map(|(_, v)| v)
        .ok_or_else(|| DataError::bad(path, format!("the pickled dict has no key '{key}'")))
}

/// A pickled value in Python's words, for messages: "the integer 60", "a tuple of 1 item".
fn describe(v: &Value) -> String {
    let items = |n: usize| if n == 1 { "1 item".to_string() } else { format!("{n} items") };
    match v {
        Value::None => "None".into(),
        Value::Bool(b) => format!("the boolean {}", if *b { "True" } else { "False" }),
        Value::I64(n) => format!("the integer {n}"),
        Value::Int(n) => format!("the integer {n}"),
        Value::F64(x) => format!("the float {x}"),
        Value::Bytes(b) => format!("a byte string of {} bytes", b.len()),
        Value::String(s) if s.chars().count() <= 40 => format!("the string '{s}'"),
        Value::String(s) => format!("a string of {} characters", s.chars().count()),
        // Short sequences of numbers are shown as Python writes them: (3,) or [3, 4].
        Value::List(l) if l.len() <= 4 && l.iter().all(is_number) => {
            format!("the list [{}]", l.iter().map(number).collect::<Vec<_>>().join(", "))
        }
        Value::Tuple(t) if t.len() <= 4 && t.iter().all(is_number) => match t.as_slice() {
            [one] => format!("the tuple ({},)", number(one)),
            _ => format!("the tuple ({})", t.iter().map(number).collect::<Vec<_>>().join(", ")),
        },
        Value::List(l) => format!("a list of {}", items(l.len())),
        Value::Tuple(t) => format!("a tuple of {}", items(t.len())),
        Value::Set(s) | Value::FrozenSet(s) => format!("a set of {}", items(s.len())),
        Value::Dict(d) => format!("a dict of {}", items(d.len())),
    }
}

fn is_number(v: &Value) -> bool {
    matches!(v, Value::I64(_) | Value::Int(_) | Value::F64(_))
}

fn number(v: &Value) -> String {
    match v {
        Value::I64(n) => n.to_string(),
        Value::Int(n) => n.to_string(),
        Value::F64(x) => x.to_string(),
        _ => "?".into(),
    }
}

fn string_list(path: &Path, v: &Value, key: &str, expected: usize) -> Result<Vec<String>> {
    let Value::List(items) = field(path, v, key)? else {
        return Err(DataError::bad(path, format!("'{key}' is not a list")));
    };
    let names: Vec<String> = items
        .iter()
        .map(|x| match x {
            Value::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
            Value::String(s) => Ok(s.clone()),
            other => Err(DataError::bad(path, format!("'{key}' holds {}, not names", describe(other)))),
        })
        .collect::<Result<_>>()?;
    if names.len() != expected {
        return Err(DataError::bad(path, format!("'{key}' has {} names, expected {expected}", names.len())));
    }
    Ok(names)
}

fn int_list(path: &Path, v: &Value, key: &str, limit: usize) -> Result<Vec<u16>> {
    let items = match field(path, v, key)? {
        Value::List(items) | Value::Tuple(items) => items,
        _ => return Err(DataError::bad(path, format!("'{key}' is not a list of integers"))),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, x)| match x {
            Value::I64(l) if (0..limit as i64).contains(l) => Ok(*l as u16),
            other => Err(DataError::bad(
                path,
                format!("'{key}'[{i}] is {}, not a class index in 0..{limit}", describe(other)),
            )),
        })
        .collect()
}

/// The raw bytes and shape of a pickled numpy uint8 array.
fn array_bytes<'a>(path: &Path, v: &'a Value) -> Result<(&'a [u8], Vec<i64>)> {
    let shape_of = |s: &Value| -> Option<Vec<i64>> {
        match s {
            Value::Tuple(d) | Value::List(d) => {
                d.iter().map(|x| if let Value::I64(n) = x { Some(*n) } else { None }).collect()
            }
            _ => None,
        }
    };
    let Value::Tuple(parts) = v else {
        return Err(DataError::bad(path, "'data' is not a pickled numpy array"));
    };
    let found = match parts.as_slice() {
        // ndarray.__reduce__ state: (version, shape, dtype, is_fortran, raw bytes).
        [Value::I64(_), shape, _dtype, Value::Bool(fortran), Value::Bytes(raw)] => {
            if *fortran {
                return Err(DataError::bad(path, "'data' is stored in Fortran order; expected C order"));
            }
            shape_of(shape).map(|s| (raw.as_slice(), s))
        }
        // Protocol 5: _frombuffer(raw bytes, dtype, shape, order).
        [Value::Bytes(raw), _dtype, shape, order] => {
            if matches!(order, Value::String(o) if o != "C") {
                return Err(DataError::bad(path, "'data' is not stored in C order"));
            }
            shape_of(shape).map(|s| (raw.as_slice(), s))
        }
        _ => None,
    };
    found.ok_or_else(|| DataError::bad(path, "'data' is not a pickled numpy array of the known layouts"))
}

fn append_batch(
    path: &Path,
    batch: &Value,
    label_key: &str,
    coarse_key: Option<&str>,
    split: &mut RawSplit,
    classes: usize,
    coarse_classes: usize,
) -> Result<()> {
    let labels = int_list(path, batch, label_key, classes)?;
    let (raw, shape) = array_bytes(path, field(path, batch, "data")?)?;
    let n = labels.len();
    if shape != [n as i64, CIFAR_PIXELS as i64] || raw.len() != n * CIFAR_PIXELS {
        return Err(DataError::bad(
            path,
            format!(
                "'data' has shape {shape:?} and {} bytes; expected ({n}, {CIFAR_PIXELS}) uint8 for {n} labels",
                raw.len()
            ),
        ));
    }
    if let Some(key) = coarse_key {
        let coarse = int_list(path, batch, key, coarse_classes)?;
        if coarse.len() != n {
            return Err(DataError::bad(path, format!("{} '{key}' for {n} '{label_key}'", coarse.len())));
        }
        split.coarse_labels.get_or_insert_with(Vec::new).extend(coarse);
    }
    split.images.extend_from_slice(raw);
    split.labels.extend(labels);
    Ok(())
}

/// Test support: writes pickles in the official files' format (Python 2 protocol 2, dict
/// keys as `str`, the data as a numpy array reduced by `_reconstruct`).
#[doc(hidden)]
pub mod write {
    use crate::raw::RawDataset;
    use std::path::Path;

    fn short_str(out: &mut Vec<u8>, s: &[u8]) {
        if s.len() < 256 {
            out.push(b'U');
            out.push(s.len() as u8);
        } else {
            out.push(b'T');
            out.extend((s.len() as u32).to_le_bytes());
        }
        out.extend(s);
    }

    fn int(out: &mut Vec<u8>, v: u32) {
        out.push(b'J');
        out.extend((v as i32).to_le_bytes());
    }

    fn str_list(out: &mut Vec<u8>, items: &[String]) {
        out.extend(b"](");
        for s in items {
            short_str(out, s.as_bytes());
        }
        out.push(b'e');
    }

    fn int_list(out: &mut Vec<u8>, items: &[u16]) {
        out.extend(b"](");
        for &v in items {
            int(out, v as u32);
        }
        out.push(b'e');
    }

    /// Writes one pickled value.
    type ValueWriter<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;

    /// A dict of `(key, writer)` pairs, protocol 2.
    fn dict(entries: Vec<(&str, ValueWriter<'_>)>) -> Vec<u8> {
        let mut out = vec![0x80, 2, b'}', b'('];
        for (k, write) in entries {
            short_str(&mut out, k.as_bytes());
            write(&mut out);
        }
        out.extend(b"u.");
        out
    }

    fn array(out: &mut Vec<u8>, rows: usize, cols: usize, raw: &[u8]) {
        out.extend(b"cnumpy.core.multiarray\n_reconstruct\n");
        out.extend(b"cnumpy\nndarray\n");
        int(out, 0);
        out.push(0x85); // TUPLE1
        short_str(out, b"b");
        out.push(0x87); // TUPLE3
        out.push(b'R');
        // state: (1, (rows, cols), dtype, False, raw)
        out.push(b'(');
        int(out, 1);
        int(out, rows as u32);
        int(out, cols as u32);
        out.push(0x86); // TUPLE2
        out.extend(b"cnumpy\ndtype\n");
        short_str(out, b"u1");
        out.push(0x89); // NEWFALSE
        out.push(0x88); // NEWTRUE
        out.push(0x87);
        out.push(b'R');
        out.push(b'(');
        int(out, 3);
        short_str(out, b"|");
        out.extend(b"NNN");
        out.extend(b"J\xff\xff\xff\xffJ\xff\xff\xff\xff");
        int(out, 0);
        out.extend(b"tb");
        out.push(0x89);
        short_str(out, raw);
        out.extend(b"tb");
    }

    /// Writes `raw` (CIFAR-10 or CIFAR-100, 3×32×32) as torchvision's extracted directory
    /// under `dir`, with CIFAR-10's training images in five equal batches.
    pub fn write_cifar_python(raw: &RawDataset, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let px = 3 * 32 * 32;
        let batch = |images: &[u8], labels: &[u16], coarse: Option<&[u16]>, label_key: &'static str| {
            let n = labels.len();
            let mut entries: Vec<(&str, ValueWriter<'_>)> = vec![
                ("batch_label", Box::new(|o: &mut Vec<u8>| short_str(o, b"written by rmdnet's tests"))),
                (label_key, Box::new(move |o: &mut Vec<u8>| int_list(o, labels))),
                ("data", Box::new(move |o: &mut Vec<u8>| array(o, n, px, images))),
            ];
            if let Some(c) = coarse {
                entries.push(("coarse_labels", Box::new(move |o: &mut Vec<u8>| int_list(o, c))));
            }
            dict(entries)
        };
        match &raw.coarse_classes {
            None => {
                let per = raw.train.len() / 5;
                for b in 0..5 {
                    let (lo, hi) = (b * per, (b + 1) * per);
                    let bytes =
                        batch(&raw.train.images[lo * px..hi * px], &raw.train.labels[lo..hi], None, "labels");
                    std::fs::write(dir.join(format!("data_batch_{}", b + 1)), bytes)?;
                }
                std::fs::write(
                    dir.join("test_batch"),
                    batch(&raw.test.images, &raw.test.labels, None, "labels"),
                )?;
                let meta = dict(vec![("label_names", Box::new(|o: &mut Vec<u8>| str_list(o, &raw.classes)))]);
                std::fs::write(dir.join("batches.meta"), meta)?;
            }
            Some(coarse) => {
                for (name, s) in [("train", &raw.train), ("test", &raw.test)] {
                    let bytes = batch(&s.images, &s.labels, s.coarse_labels.as_deref(), "fine_labels");
                    std::fs::write(dir.join(name), bytes)?;
                }
                let meta = dict(vec![
                    ("fine_label_names", Box::new(|o: &mut Vec<u8>| str_list(o, &raw.classes))),
                    ("coarse_label_names", Box::new(|o: &mut Vec<u8>| str_list(o, coarse))),
                ]);
                std::fs::write(dir.join("meta"), meta)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(coarse: bool, per_split: usize) -> RawDataset {
        let split = |n: usize, off: usize| RawSplit {
            images: (0..n * CIFAR_PIXELS).map(|i| ((i * 31 + off) % 251) as u8).collect(),
            labels: (0..n).map(|i| ((i + off) % if coarse { 100 } else { 10 }) as u16).collect(),
            coarse_labels: coarse.then(|| (0..n).map(|i| ((i + off) % 20) as u16).collect()),
        };
        let k = if coarse { 100 } else { 10 };
        RawDataset {
            name: if coarse { "cifar100" } else { "cifar10" }.into(),
            classes: (0..k).map(|i| format!("class{i}")).collect(),
            coarse_classes: coarse.then(|| (0..20).map(|i| format!("super{i}")).collect()),
            shape: [3, 32, 32],
            train: split(per_split * 5, 0),
            test: split(per_split, 7),
        }
    }

    #[test]
    fn written_pickles_read_back_to_the_same_dataset() {
        for coarse in [false, true] {
            let tmp = tempfile::tempdir().unwrap();
            let raw = small(coarse, 4);
            write::write_cifar_python(&raw, tmp.path()).unwrap();
            assert_eq!(read_cifar_python(tmp.path()).unwrap(), raw, "coarse {coarse}");
        }
    }

    #[test]
    fn broken_and_foreign_files_are_refused_with_the_file_named() {
        let tmp = tempfile::tempdir().unwrap();
        let raw = small(false, 3);
        write::write_cifar_python(&raw, tmp.path()).unwrap();
        // A truncated batch.
        let f = tmp.path().join("data_batch_3");
        let bytes = std::fs::read(&f).unwrap();
        std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
        let err = read_cifar_python(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("data_batch_3") && err.contains("pickle"), "{err}");
        // A missing file: both variants' missing files are listed.
        std::fs::remove_file(&f).unwrap();
        let err = read_cifar_python(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("missing data_batch_3") && err.contains("missing train"), "{err}");
        // A batch with a label count that does not match its data.
        let mut short = small(true, 3);
        short.train.labels.pop();
        short.train.coarse_labels.as_mut().unwrap().pop();
        let tmp2 = tempfile::tempdir().unwrap();
        write::write_cifar_python(&short, tmp2.path()).unwrap();
        let err = read_cifar_python(tmp2.path()).unwrap_err().to_string();
        assert!(err.contains("/train:") && err.contains("shape"), "{err}");
    }

    #[test]
    fn archives_must_be_the_official_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cifar-10-batches-py");
        write::write_cifar_python(&small(false, 2), &dir).unwrap();
        let archive = tmp.path().join("cifar-10-python.tar.gz");
        let f = std::fs::File::create(&archive).unwrap();
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(f, flate2::Compression::fast()));
        tar.append_dir_all("cifar-10-batches-py", &dir).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        let err = read_cifar_python(&archive).unwrap_err().to_string();
        assert!(err.contains("c58f30108f718f92721af3b95e74349a") && err.contains("extract"), "{err}");
        let other = tmp.path().join("mine.tar.gz");
        std::fs::rename(&archive, &other).unwrap();
        let err = read_cifar_python(&other).unwrap_err().to_string();
        assert!(err.contains("not an official torchvision CIFAR archive"), "{err}");
    }
}
