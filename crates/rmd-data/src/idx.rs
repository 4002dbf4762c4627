//! Reader for the IDX format of the MNIST family (raw or gzip-compressed files).
//!
//! Files: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`, each optionally with a `.gz` suffix.

use crate::error::{DataError, IoContext, Result};
use crate::raw::{RawDataset, RawSplit};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Base names of the four IDX files (train images, train labels, test images, test labels).
pub const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Row-major data.
    pub data: Vec<u8>,
}

/// Finds `dir/base` or `dir/base.gz` (the raw file when both exist; the reader then checks
/// that the two hold the same array).
pub fn locate(dir: &Path, base: &str) -> Option<PathBuf> {
    [dir.join(base), dir.join(format!("{base}.gz"))].into_iter().find(|p| p.is_file())
}

/// Reads `path`, and when both the raw file and its `.gz` copy exist, both, refusing them
/// when they differ: which one is meant would be a guess.
fn read_idx_unambiguous(path: &Path) -> Result<IdxArray> {
    let array = read_idx(path)?;
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    if path.extension().is_none_or(|e| e != "gz") && gz.is_file() && read_idx(&gz)? != array {
        return Err(DataError::bad(
            path,
            format!("{} holds different data; remove one of the two", gz.display()),
        ));
    }
    Ok(array)
}

/// Reads one IDX file of unsigned bytes (type 0x08), decompressing `.gz` files. The header
/// is read first and then exactly the bytes it announces, so a gzip stream that inflates to
/// more than that is refused without being inflated whole.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let file = std::fs::File::open(path).ctx("opening", path)?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    let result = if gz {
        read_idx_stream(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
            .map_err(|e| e.replace("reading:", "corrupt gzip stream:"))
    } else {
        read_idx_stream(std::io::BufReader::new(file))
    };
    result.map_err(|reason| DataError::bad(path, reason))
}

/// Parses IDX bytes.
pub fn parse_idx(bytes: &[u8]) -> std::result::Result<IdxArray, String> {
    read_idx_stream(bytes)
}

/// Reads an IDX array from a stream: the header, then the announced data and not a byte more.
fn read_idx_stream(mut r: impl Read) -> std::result::Result<IdxArray, String> {
    let read_err = |e: std::io::Error| format!("reading: {e}");
    let mut head = [0u8; 4];
    let got = read_up_to(&mut r, &mut head).map_err(read_err)?;
    if got < 4 || head[0] != 0 || head[1] != 0 {
        return Err("not an IDX file (bad magic number)".into());
    }
    if head[2] != 0x08 {
        return Err(format!("IDX element type 0x{:02x} is not unsigned byte (0x08)", head[2]));
    }
    let ndims = head[3] as usize;
    let mut dim_bytes = vec![0u8; 4 * ndims];
    if ndims == 0 || read_up_to(&mut r, &mut dim_bytes).map_err(read_err)? < dim_bytes.len() {
        return Err("truncated IDX header".into());
    }
    let dims: Vec<usize> =
        dim_bytes.chunks(4).map(|c| u32::from_be_bytes(c.try_into().expect("4 bytes")) as usize).collect();
    let Some(expected) = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) else {
        return Err(format!(
            "header announces dimensions {dims:?}, whose product overflows: corrupt or crafted header"
        ));
    };
    if dims.contains(&0) {
        return Err(format!("header announces dimensions {dims:?}: a dimension of 0 holds no data"));
    }
    // The buffer grows with what arrives (never reserved from the header), and one byte past
    // the announced size is enough to know the file holds more.
    let mut data = Vec::new();
    r.by_ref().take(expected as u64 + 1).read_to_end(&mut data).map_err(read_err)?;
    if data.len() != expected {
        let held = if data.len() > expected { "more".to_string() } else { data.len().to_string() };
        return Err(format!(
            "header announces {dims:?} = {expected} bytes of data but the file holds {held}: truncated or corrupt"
        ));
    }
    Ok(IdxArray { dims, data })
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Encodes an IDX array (for tests and fixtures).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Reads an MNIST-family directory into a dataset named `name` with `classes`.
pub fn read_idx_dataset(dir: &Path, name: &str, classes: &[&str]) -> Result<RawDataset> {
    let mut paths = Vec::new();
    for base in IDX_FILES {
        paths.push(locate(dir, base).ok_or_else(|| {
            DataError::Missing(format!("{}: missing {base} (or {base}.gz)", dir.display()))
        })?);
    }
    let train = read_split(&paths[0], &paths[1], classes.len())?;
    let test = read_split(&paths[2], &paths[3], classes.len())?;
    let (train_split, shape) = train;
    let (test_split, test_shape) = test;
    if shape != test_shape {
        return Err(DataError::bad(
            &paths[2],
            format!("image shape {test_shape:?} differs from training {shape:?}"),
        ));
    }
    Ok(RawDataset {
        name: name.into(),
        classes: classes.iter().map(|s| s.to_string()).collect(),
        coarse_classes: None,
        shape,
        train: train_split,
        test: test_split,
    })
}

fn read_split(images: &Path, labels: &Path, n_classes: usize) -> Result<(RawSplit, [usize; 3])> {
    let img = read_idx_unambiguous(images)?;
    let lab = read_idx_unambiguous(labels)?;
    if img.dims.len() != 3 {
        return Err(DataError::bad(
            images,
            format!("expected 3 dimensions (n, rows, cols), found {:?}", img.dims),
        ));
    }
    if lab.dims.len() != 1 || lab.dims[0] != img.dims[0] {
        return Err(DataError::bad(
            labels,
            format!("holds {:?} labels but {} has {} images", lab.dims, images.display(), img.dims[0]),
        ));
    }
    if let Some((i, l)) = lab.data.iter().enumerate().find(|(_, l)| **l as usize >= n_classes) {
        return Err(DataError::bad(labels, format!("label {l} at index {i} out of range 0..{n_classes}")));
    }
    let split = RawSplit {
        images: img.data,
        labels: lab.data.iter().map(|&l| l as u16).collect(),
        coarse_labels: None,
    };
    Ok((split, [1, img.dims[1], img.dims[2]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_gz(path: &Path, bytes: &[u8]) {
        let f = std::fs::File::create(path).unwrap();
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap();
    }

    #[test]
    fn a_gzip_bomb_is_refused_after_the_announced_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.gz");
        // Announces 4 bytes, inflates to 256 MiB of zeros (a few hundred kB compressed).
        let f = std::fs::File::create(&path).unwrap();
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::best());
        gz.write_all(&encode_idx(&[4], &[1, 2, 3, 4])).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..256 {
            gz.write_all(&zeros).unwrap();
        }
        gz.finish().unwrap();
        let err = read_idx(&path).unwrap_err().to_string();
        assert!(err.contains("4 bytes of data but the file holds more"), "{err}");
    }

    #[test]
    fn a_raw_file_and_a_differing_gz_copy_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("labels");
        std::fs::write(&raw, encode_idx(&[2], &[1, 2])).unwrap();
        write_gz(&dir.path().join("labels.gz"), &encode_idx(&[2], &[1, 2]));
        assert_eq!(read_idx_unambiguous(&raw).unwrap().data, vec![1, 2]);
        write_gz(&dir.path().join("labels.gz"), &encode_idx(&[2], &[3, 4]));
        let err = read_idx_unambiguous(&raw).unwrap_err().to_string();
        assert!(err.contains("labels.gz holds different data"), "{err}");
    }

    #[test]
    fn reads_raw_and_gz_files_and_rejects_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let img: Vec<u8> = (0..5 * 28 * 28).map(|i| (i % 256) as u8).collect();
        std::fs::write(d.join(IDX_FILES[0]), encode_idx(&[5, 28, 28], &img)).unwrap();
        write_gz(&d.join(format!("{}.gz", IDX_FILES[1])), &encode_idx(&[5], &[0, 1, 2, 3, 9]));
        write_gz(&d.join(format!("{}.gz", IDX_FILES[2])), &encode_idx(&[2, 28, 28], &img[..2 * 784]));
        std::fs::write(d.join(IDX_FILES[3]), encode_idx(&[2], &[7, 8])).unwrap();
        let digits: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let names: Vec<&str> = digits.iter().map(String::as_str).collect();
        let ds = read_idx_dataset(d, "mnist", &names).unwrap();
        assert_eq!(ds.shape, [1, 28, 28]);
        assert_eq!(ds.train.labels, vec![0, 1, 2, 3, 9]);
        assert_eq!(ds.test.images, img[..2 * 784].to_vec());

        let full = encode_idx(&[5, 28, 28], &img);
        std::fs::write(d.join(IDX_FILES[0]), &full[..full.len() - 1]).unwrap();
        let err = read_idx_dataset(d, "mnist", &names).unwrap_err().to_string();
        assert!(err.contains(IDX_FILES[0]) && err.contains("truncated"), "{err}");

        std::fs::write(d.join(IDX_FILES[0]), &full).unwrap();
        std::fs::write(d.join(IDX_FILES[3]), encode_idx(&[3], &[7, 8, 1])).unwrap();
        let err = read_idx_dataset(d, "mnist", &names).unwrap_err().to_string();
        assert!(err.contains(IDX_FILES[3]) && err.contains("2 images"), "{err}");
    }

    #[test]
    fn overflowing_or_empty_dimensions_are_refused() {
        // 2^32-1 cubed wraps to a small number in release builds without checked arithmetic.
        let huge = [u32::MAX as usize, u32::MAX as usize, u32::MAX as usize];
        let err = parse_idx(&encode_idx(&huge, &[])).unwrap_err();
        assert!(err.contains("overflows"), "{err}");
        // A product that wraps to exactly 0 in 64 bits.
        let wraps = [1 << 16, 1 << 16, 1 << 16, 1 << 16];
        assert!(parse_idx(&encode_idx(&wraps, &[])).unwrap_err().contains("overflows"));
        assert!(parse_idx(&encode_idx(&[0, 28, 28], &[])).unwrap_err().contains("dimension of 0"));
    }
}
