//! Teacher embeddings computed outside rmdnet (CLIP, DINOv2, ... in Python): read from a
//! `.npy` file (`[rows, d]`, float32 or float64, C order) or a Parquet file (an `embedding`
//! column of lists or fixed-size lists of float32/float64, and optionally an `index` column
//! that must count 0, 1, 2, ... in row order).
//!
//! Rows are the training images in dataset order, optionally followed by the test images
//! (then the relations stage also reports the kNN accuracy diagnostic). The embeddings are
//! identified by a blake3 hash of their values (as little-endian f32) and shape, so the same
//! embeddings in either format give the same artifact.

use crate::error::{NnError, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use serde::Serialize;
use std::path::Path;

/// Embeddings read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalEmbeddings {
    /// Rows.
    pub rows: usize,
    /// Dimension.
    pub dim: usize,
    /// Row-major values, `[rows, dim]`.
    pub values: Vec<f32>,
}

/// What identifies external embeddings in a relations artifact's parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExternalSource {
    /// blake3 of the values as little-endian f32, after the shape as two u64.
    pub values_blake3: String,
    /// Rows in the file.
    pub rows: usize,
    /// Dimension.
    pub dim: usize,
}

fn bad(path: &Path, reason: impl Into<String>) -> NnError {
    NnError::BadRecord {
        path: path.to_path_buf(),
        what: "embeddings file (.npy or .parquet)",
        reason: reason.into(),
    }
}

impl ExternalEmbeddings {
    /// Reads `.npy` or `.parquet` by extension; every value must be finite and every row
    /// non-zero.
    pub fn read(path: &Path) -> Result<ExternalEmbeddings> {
        // A FIFO, socket or device would block or never end: refused before it is opened.
        if let Some(problem) = rmd_data::input_file_problem(path) {
            return Err(bad(path, format!("it {problem}")));
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let e = match ext.as_str() {
            "npy" => read_npy(path)?,
            "parquet" => read_parquet_embeddings(path)?,
            _ => return Err(bad(path, "unknown extension: expected .npy or .parquet")),
        };
        if e.rows == 0 || e.dim == 0 {
            return Err(bad(path, format!("empty: {} rows of dimension {}", e.rows, e.dim)));
        }
        for (r, row) in e.values.chunks(e.dim).enumerate() {
            if let Some(c) = row.iter().position(|v| !v.is_finite()) {
                return Err(bad(path, format!("row {r}, column {c} is not finite ({})", row[c])));
            }
            if row.iter().all(|&v| v == 0.0) {
                return Err(bad(path, format!("row {r} is all zeros: it has no direction to compare")));
            }
        }
        Ok(e)
    }

    /// The identity recorded in the artifact's parameters.
    pub fn source(&self) -> ExternalSource {
        let mut h = blake3::Hasher::new();
        h.update(&(self.rows as u64).to_le_bytes());
        h.update(&(self.dim as u64).to_le_bytes());
        for v in &self.values {
            h.update(&v.to_le_bytes());
        }
        ExternalSource { values_blake3: h.finalize().to_hex().to_string(), rows: self.rows, dim: self.dim }
    }
}

fn read_npy(path: &Path) -> Result<ExternalEmbeddings> {
    let file = std::fs::File::open(path).map_err(|cause| NnError::Io {
        action: "opening",
        path: path.to_path_buf(),
        cause,
    })?;
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file))
        .map_err(|e| bad(path, format!("not a .npy file: {e}")))?;
    let shape: Vec<u64> = npy.shape().to_vec();
    let [rows, dim] = shape[..] else {
        return Err(bad(path, format!("shape {shape:?}: expected two dimensions [rows, d]")));
    };
    if npy.order() != npyz::Order::C {
        return Err(bad(path, "Fortran order: save with np.ascontiguousarray(x)"));
    }
    // descr() is numpy's repr of the dtype, quoted for a plain type: '<f4'.
    let descr = npy.dtype().descr();
    let item = match descr.trim_matches('\'') {
        "<f4" => 4,
        "<f8" => 8,
        other => return Err(bad(path, format!("dtype {other}: expected float32 (<f4) or float64 (<f8)"))),
    };
    // Before reading: a header that promises more (or less) than the file holds is refused
    // without allocating what it promises.
    let count = (rows as usize).saturating_mul(dim as usize);
    check_npy_size(path, count, item)?;
    let values: Vec<f32> = if item == 4 {
        npy.into_vec::<f32>().map_err(|e| bad(path, format!("reading the values: {e}")))?
    } else {
        let wide = npy.into_vec::<f64>().map_err(|e| bad(path, format!("reading the values: {e}")))?;
        narrow(path, &wide, dim as usize, 0)?
    };
    let (rows, dim) = (rows as usize, dim as usize);
    if values.len() != rows * dim {
        return Err(bad(path, format!("{} values for shape [{rows}, {dim}]: truncated", values.len())));
    }
    Ok(ExternalEmbeddings { rows, dim, values })
}

/// The file must end where its header says the data ends: trailing bytes mean the header's
/// shape or dtype is not the one the data was written with.
fn check_npy_size(path: &Path, values: usize, item: usize) -> Result<()> {
    use std::io::Read;
    let io = |cause| NnError::Io { action: "reading", path: path.to_path_buf(), cause };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len() as usize;
    let mut head = [0u8; 12];
    file.read_exact(&mut head[..len.min(12)]).map_err(io)?;
    // Magic (6 bytes), version (2), then the header length: u16 in version 1, u32 after.
    let data_start = match head[6] {
        1 => 10 + u16::from_le_bytes([head[8], head[9]]) as usize,
        _ => 12 + u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize,
    };
    let expected = values.saturating_mul(item).saturating_add(data_start);
    if len != expected {
        return Err(bad(
            path,
            format!(
                "{len} bytes, but its header describes {values} values of {item} bytes after a {data_start}-byte header ({expected} bytes): the header does not match the data"
            ),
        ));
    }
    Ok(())
}

/// float64 values as float32, refusing finite values that float32 cannot hold (they would
/// become infinite or zero). `first_row` numbers the rows in messages.
fn narrow(path: &Path, values: &[f64], dim: usize, first_row: usize) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(values.len());
    for (i, &v) in values.iter().enumerate() {
        let x = v as f32;
        if v.is_finite() && (x.is_infinite() || (x == 0.0 && v != 0.0)) {
            let (r, c) = (first_row + i / dim.max(1), i % dim.max(1));
            return Err(bad(
                path,
                format!(
                    "row {r}, column {c} is {v:e}, outside float32's range (about 1e-45 to 3e38 in magnitude), which rmdnet computes in: divide the embeddings by a common scale first"
                ),
            ));
        }
        out.push(x);
    }
    Ok(out)
}

/// Values of one list element, row `row` (float32 or float64, no nulls).
fn floats(path: &Path, a: &ArrayRef, row: usize) -> Result<Vec<f32>> {
    if let Some(c) = (0..a.len()).find(|&i| a.is_null(i)) {
        return Err(bad(path, format!("row {row}, column {c} of the embedding is null")));
    }
    match a.data_type() {
        DataType::Float32 => Ok(a.as_primitive::<Float32Type>().values().to_vec()),
        DataType::Float64 => narrow(path, a.as_primitive::<Float64Type>().values(), a.len(), row),
        other => Err(bad(path, format!("embedding values are {other}, expected float32 or float64"))),
    }
}

fn read_parquet_embeddings(path: &Path) -> Result<ExternalEmbeddings> {
    let table = rmd_data::parquet_io::read_parquet(path)?;
    if table.column("index").is_some() {
        let index = rmd_data::parquet_io::int_column(&table, path, "index")?;
        if let Some(r) = index.iter().enumerate().position(|(i, &x)| x != i as i64) {
            return Err(bad(
                path,
                format!(
                    "row {r}: index {} where {r} was expected (rows must be in index order 0, 1, 2, ...)",
                    index[r]
                ),
            ));
        }
    }
    let mut values = Vec::new();
    let mut dim: Option<usize> = None;
    let mut row = 0usize;
    for b in &table.batches {
        let col = b.column_by_name("embedding").ok_or_else(|| {
            bad(path, format!("no 'embedding' column (columns: {:?})", table.column_names()))
        })?;
        if col.null_count() > 0 {
            return Err(bad(path, "the embedding column has nulls"));
        }
        let rows: Vec<ArrayRef> = match col.data_type() {
            DataType::FixedSizeList(..) => {
                let l = col.as_fixed_size_list();
                (0..l.len()).map(|i| l.value(i)).collect()
            }
            DataType::List(_) => {
                let l = col.as_list::<i32>();
                (0..l.len()).map(|i| l.value(i)).collect()
            }
            DataType::LargeList(_) => {
                let l = col.as_list::<i64>();
                (0..l.len()).map(|i| l.value(i)).collect()
            }
            other => {
                return Err(bad(path, format!("the embedding column is {other}, expected a list of floats")));
            }
        };
        for (i, r) in rows.iter().enumerate() {
            let v = floats(path, r, row + i)?;
            match dim {
                None => dim = Some(v.len()),
                Some(d) if d != v.len() => {
                    return Err(bad(
                        path,
                        format!("row {} has {} values but row 0 has {d}", row + i, v.len()),
                    ));
                }
                _ => {}
            }
            values.extend(v);
        }
        row += b.num_rows();
    }
    Ok(ExternalEmbeddings { rows: row, dim: dim.unwrap_or(0), values })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_float32_and_float64_read_to_the_same_values_and_identity() {
        let dir = tempfile::tempdir().unwrap();
        let vals = [1.0f32, 0.0, 0.5, -2.0, 3.0, 0.25];
        let p32 = dir.path().join("a.npy");
        crate::relations::write_npy(&p32, &vals, &[3, 2]).unwrap();
        let a = ExternalEmbeddings::read(&p32).unwrap();
        assert_eq!((a.rows, a.dim), (3, 2));
        assert_eq!(a.values, vals);
        // float64 of the same values.
        let p64 = dir.path().join("b.npy");
        let wide: Vec<f64> = vals.iter().map(|&v| v as f64).collect();
        crate::relations::write_npy(&p64, &wide, &[3, 2]).unwrap();
        let bytes = std::fs::read(&p64).unwrap();
        let b = ExternalEmbeddings::read(&p64).unwrap();
        assert_eq!(b.values, vals);
        assert_eq!(a.source(), b.source());
        // Truncated: the header promises more than the file has.
        std::fs::write(&p64, &bytes[..bytes.len() - 8]).unwrap();
        assert!(ExternalEmbeddings::read(&p64).is_err());
    }

    #[test]
    fn bad_values_and_extensions_are_refused_with_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("z.npy");
        crate::relations::write_npy(&p, &[1.0f32, 2.0, 0.0, 0.0], &[2, 2]).unwrap();
        let e = ExternalEmbeddings::read(&p).unwrap_err().to_string();
        assert!(e.contains("row 1") && e.contains("zeros"), "{e}");
        crate::relations::write_npy(&p, &[1.0f32, f32::NAN], &[1, 2]).unwrap();
        assert!(ExternalEmbeddings::read(&p).unwrap_err().to_string().contains("not finite"));
        crate::relations::write_npy(&p, &[1.0f32, 2.0], &[2]).unwrap();
        assert!(ExternalEmbeddings::read(&p).unwrap_err().to_string().contains("two dimensions"));
        let t = dir.path().join("e.txt");
        std::fs::write(&t, "1 2").unwrap();
        assert!(ExternalEmbeddings::read(&t).unwrap_err().to_string().contains("extension"));
    }

    /// A FIFO named as the embeddings file is refused at once instead of blocking the stage
    /// (nothing ever writes to this one).
    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_before_it_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("emb.npy");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = ExternalEmbeddings::read(&fifo).unwrap_err().to_string();
        assert!(e.contains("is a FIFO, not a regular file") && e.contains("emb.npy"), "{e}");
    }
}
