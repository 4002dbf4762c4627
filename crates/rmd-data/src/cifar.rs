//! Readers for the official CIFAR-10 and CIFAR-100 *binary version* layouts.
//!
//! CIFAR-10 (`cifar-10-batches-bin/`): `data_batch_1.bin`..`data_batch_5.bin`,
//! `test_batch.bin`, `batches.meta.txt`; each record is 1 label byte + 3072 pixel bytes
//! (1024 red, 1024 green, 1024 blue, row-major 32x32).
//! CIFAR-100 (`cifar-100-binary/`): `train.bin`, `test.bin`, `coarse_label_names.txt`,
//! `fine_label_names.txt`; each record is 1 coarse byte + 1 fine byte + 3072 pixel bytes.
//!
//! Local files are checked by record size, not by the archive md5 (a local copy may have
//! been re-encoded). Record counts are not fixed, so tests can write small files, but they
//! must keep the official proportions: the six CIFAR-10 files hold equally many records
//! (10,000 each), and CIFAR-100's `train.bin` five times as many as `test.bin` (50,000 and
//! 10,000). A file with a record too many or too few is refused, not imported as 50,001
//! images.

use crate::error::{DataError, IoContext, Result};
use crate::raw::{RawDataset, RawSplit};
use std::path::Path;

/// Pixels per CIFAR image.
pub const CIFAR_PIXELS: usize = 3 * 32 * 32;

/// CIFAR-10 training batch files, in the official order.
pub const CIFAR10_TRAIN_FILES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
/// CIFAR-10 test file.
pub const CIFAR10_TEST_FILE: &str = "test_batch.bin";
/// CIFAR-10 class-name file.
pub const CIFAR10_META_FILE: &str = "batches.meta.txt";
/// CIFAR-100 files.
pub const CIFAR100_FILES: [&str; 4] =
    ["train.bin", "test.bin", "fine_label_names.txt", "coarse_label_names.txt"];

/// Reads a CIFAR-10 binary directory.
pub fn read_cifar10(dir: &Path) -> Result<RawDataset> {
    let classes = read_names(&dir.join(CIFAR10_META_FILE), 10)?;
    let mut train = RawSplit::default();
    let mut counts = Vec::new();
    for f in CIFAR10_TRAIN_FILES {
        let before = train.len();
        read_records(&dir.join(f), 1, &mut train, 10, 0)?;
        counts.push((f, train.len() - before));
    }
    let mut test = RawSplit::default();
    read_records(&dir.join(CIFAR10_TEST_FILE), 1, &mut test, 10, 0)?;
    counts.push((CIFAR10_TEST_FILE, test.len()));
    assemble_cifar10(classes, train, test, &counts, |f| dir.join(f))
}

/// CIFAR-10 from its splits, after checking that every batch file (`counts`: file and
/// images, the test file last) holds the same number of images; `path_of` names a file.
pub(crate) fn assemble_cifar10(
    classes: Vec<String>,
    train: RawSplit,
    test: RawSplit,
    counts: &[(&str, usize)],
    path_of: impl Fn(&str) -> std::path::PathBuf,
) -> Result<RawDataset> {
    let (first, expected) = counts[0];
    if let Some((f, n)) = counts.iter().find(|(_, n)| *n != expected) {
        return Err(DataError::bad(
            path_of(f),
            format!(
                "{n} images, but {first} has {expected}: every CIFAR-10 batch file holds the same number (10,000 in the official files); an image is missing or extra"
            ),
        ));
    }
    Ok(RawDataset { name: "cifar10".into(), classes, coarse_classes: None, shape: [3, 32, 32], train, test })
}

/// Reads a CIFAR-100 binary directory (fine labels as the labels, coarse kept).
pub fn read_cifar100(dir: &Path) -> Result<RawDataset> {
    let classes = read_names(&dir.join("fine_label_names.txt"), 100)?;
    let coarse = read_names(&dir.join("coarse_label_names.txt"), 20)?;
    let mut train = RawSplit { coarse_labels: Some(Vec::new()), ..Default::default() };
    read_records(&dir.join("train.bin"), 2, &mut train, 100, 20)?;
    let mut test = RawSplit { coarse_labels: Some(Vec::new()), ..Default::default() };
    read_records(&dir.join("test.bin"), 2, &mut test, 100, 20)?;
    assemble_cifar100(classes, coarse, train, test, &dir.join("train.bin"))
}

/// CIFAR-100 from its splits, after checking the official proportion (the training split
/// five times the test split); `train_file` is named when it does not hold.
pub(crate) fn assemble_cifar100(
    classes: Vec<String>,
    coarse: Vec<String>,
    train: RawSplit,
    test: RawSplit,
    train_file: &Path,
) -> Result<RawDataset> {
    if train.len() != 5 * test.len() {
        return Err(DataError::bad(
            train_file,
            format!(
                "{} images for {} in the test file: CIFAR-100's training file holds five times as many as its test file (50,000 and 10,000 in the official files); an image is missing or extra",
                train.len(),
                test.len()
            ),
        ));
    }
    Ok(RawDataset {
        name: "cifar100".into(),
        classes,
        coarse_classes: Some(coarse),
        shape: [3, 32, 32],
        train,
        test,
    })
}

/// Reads a label-name file: one name per non-empty line, exactly `expected` of them.
fn read_names(path: &Path, expected: usize) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).ctx("reading", path)?;
    let names: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if names.len() != expected {
        return Err(DataError::bad(path, format!("expected {expected} class names, found {}", names.len())));
    }
    crate::raw::check_class_names(&names).map_err(|e| DataError::bad(path, e))?;
    Ok(names)
}

/// Appends the records of one binary file to `split`. `label_bytes` is 1 (CIFAR-10:
/// label) or 2 (CIFAR-100: coarse, fine).
fn read_records(
    path: &Path,
    label_bytes: usize,
    split: &mut RawSplit,
    classes: u16,
    coarse: u16,
) -> Result<()> {
    let bytes = std::fs::read(path).ctx("reading", path)?;
    let record = label_bytes + CIFAR_PIXELS;
    if bytes.is_empty() || bytes.len() % record != 0 {
        return Err(DataError::bad(
            path,
            format!(
                "size {} bytes is not a positive multiple of the {record}-byte record: truncated or not a CIFAR binary file",
                bytes.len()
            ),
        ));
    }
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let label = rec[label_bytes - 1] as u16;
        if label >= classes {
            return Err(DataError::bad(path, format!("record {i}: label {label} out of range 0..{classes}")));
        }
        if label_bytes == 2 {
            let c = rec[0] as u16;
            if c >= coarse {
                return Err(DataError::bad(
                    path,
                    format!("record {i}: coarse label {c} out of range 0..{coarse}"),
                ));
            }
            split.coarse_labels.as_mut().expect("coarse vector").push(c);
        }
        split.labels.push(label);
        split.images.extend_from_slice(&rec[label_bytes..]);
    }
    Ok(())
}

/// Writes CIFAR binary records (for tests and fixtures): `labels` holds one or two label
/// bytes per record, `images` 3072 bytes per record.
pub fn write_records(path: &Path, labels: &[Vec<u8>], images: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(labels.len() * (CIFAR_PIXELS + 2));
    for (i, l) in labels.iter().enumerate() {
        out.extend_from_slice(l);
        out.extend_from_slice(&images[i * CIFAR_PIXELS..(i + 1) * CIFAR_PIXELS]);
    }
    std::fs::write(path, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixels(n: usize, seed: u8) -> Vec<u8> {
        (0..n * CIFAR_PIXELS).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    #[test]
    fn cifar100_layout_keeps_coarse_and_fine() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let fine: Vec<String> = (0..100).map(|i| format!("fine{i}")).collect();
        let coarse: Vec<String> = (0..20).map(|i| format!("coarse{i}")).collect();
        std::fs::write(d.join("fine_label_names.txt"), fine.join("\n") + "\n").unwrap();
        std::fs::write(d.join("coarse_label_names.txt"), coarse.join("\n")).unwrap();
        let train_labels: Vec<Vec<u8>> = (0..5).map(|i| vec![(i % 20) as u8, (i * 13 % 100) as u8]).collect();
        write_records(&d.join("train.bin"), &train_labels, &pixels(5, 1)).unwrap();
        write_records(&d.join("test.bin"), &[vec![19, 99]], &pixels(1, 2)).unwrap();
        let ds = read_cifar100(d).unwrap();
        assert_eq!(ds.train.len(), 5);
        assert_eq!(ds.train.labels[3], 39);
        assert_eq!(ds.train.coarse_labels.as_ref().unwrap()[3], 3);
        assert_eq!(ds.test.labels, vec![99]);
        assert_eq!(&ds.train.images[..CIFAR_PIXELS], &pixels(5, 1)[..CIFAR_PIXELS]);
        assert_eq!(ds.classes[5], "fine5");
        assert_eq!(ds.coarse_classes.as_ref().unwrap()[19], "coarse19");
        // One record too many in train.bin is refused.
        let extra: Vec<Vec<u8>> = (0..6).map(|i| vec![(i % 20) as u8, (i * 13 % 100) as u8]).collect();
        write_records(&d.join("train.bin"), &extra, &pixels(6, 1)).unwrap();
        let err = read_cifar100(d).unwrap_err().to_string();
        assert!(err.contains("train.bin") && err.contains("five times"), "{err}");
    }

    #[test]
    fn truncated_and_out_of_range_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let names =
            ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
        std::fs::write(d.join(CIFAR10_META_FILE), names.join("\n")).unwrap();
        for f in CIFAR10_TRAIN_FILES.iter().chain([&CIFAR10_TEST_FILE]) {
            write_records(&d.join(f), &[vec![1], vec![2]], &pixels(2, 0)).unwrap();
        }
        assert_eq!(read_cifar10(d).unwrap().train.len(), 10);
        // A record too many or too few in one batch file.
        let p = d.join("data_batch_5.bin");
        write_records(&p, &[vec![1], vec![2], vec![3]], &pixels(3, 0)).unwrap();
        let err = read_cifar10(d).unwrap_err().to_string();
        assert!(
            err.contains("data_batch_5.bin") && err.contains("3 images, but data_batch_1.bin has 2"),
            "{err}"
        );
        write_records(&d.join(CIFAR10_TEST_FILE), &[vec![1]], &pixels(1, 0)).unwrap();
        write_records(&p, &[vec![1], vec![2]], &pixels(2, 0)).unwrap();
        let err = read_cifar10(d).unwrap_err().to_string();
        assert!(err.contains("test_batch.bin") && err.contains("1 images"), "{err}");
        write_records(&d.join(CIFAR10_TEST_FILE), &[vec![1], vec![2]], &pixels(2, 0)).unwrap();
        let p = d.join("data_batch_3.bin");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 5]).unwrap();
        let err = read_cifar10(d).unwrap_err().to_string();
        assert!(err.contains("data_batch_3.bin") && err.contains("truncated"), "{err}");
        write_records(&p, &[vec![10]], &pixels(1, 0)).unwrap();
        let err = read_cifar10(d).unwrap_err().to_string();
        assert!(err.contains("data_batch_3.bin") && err.contains("label 10 out of range"), "{err}");
    }
}
