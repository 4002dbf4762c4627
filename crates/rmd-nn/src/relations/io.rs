//! Parquet files of a relations artifact, and the reading API later stages use.
//!
//! `embeddings.parquet`: `index` u32, `embedding` FixedSizeList<f32, d> (L2-normalised).
//! `graph.parquet`: `src` u32, `dst` u32, `rank` u16 (0 = nearest), `similarity` f32;
//! exactly K rows per src, sorted by (src, rank), no self edges.
//! Both carry key-value metadata: `rmdnet.artifact_key`, `rmdnet.encoder_key`,
//! `rmdnet.dataset_key`, `rmdnet.k`, `rmdnet.dim`, `rmdnet.n`.

use super::search::TopK;
use crate::error::{NnError, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, UInt16Type, UInt32Type};
use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, UInt16Array, UInt32Array};
use arrow_schema::{DataType, Field};
use rmd_data::parquet_io::{read_parquet, write_parquet};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

fn invalid(path: &Path, reason: impl Into<String>) -> NnError {
    NnError::Record { path: path.to_path_buf(), reason: reason.into() }
}

/// A relations file that does not read back as one (an input problem).
fn unreadable(path: &Path, reason: impl Into<String>) -> NnError {
    NnError::BadRecord { path: path.to_path_buf(), what: "relations file", reason: reason.into() }
}

/// Writes `embeddings.parquet`.
pub fn write_embeddings(
    path: &Path,
    emb: &[f32],
    n: usize,
    d: usize,
    meta: &BTreeMap<String, String>,
) -> Result<()> {
    let field = Arc::new(Field::new("item", DataType::Float32, false));
    let values: ArrayRef = Arc::new(Float32Array::from(emb.to_vec()));
    let list = FixedSizeListArray::try_new(field, d as i32, values, None)
        .map_err(|e| invalid(path, e.to_string()))?;
    let cols: Vec<(&str, ArrayRef, bool)> = vec![
        ("index", Arc::new(UInt32Array::from_iter_values(0..n as u32)), false),
        ("embedding", Arc::new(list), false),
    ];
    let batch = RecordBatch::try_from_iter_with_nullable(cols).map_err(|e| invalid(path, e.to_string()))?;
    Ok(write_parquet(path, &batch, meta)?)
}

/// Writes `graph.parquet`.
pub fn write_graph(path: &Path, top: &TopK, meta: &BTreeMap<String, String>) -> Result<()> {
    let n = top.dst.len() / top.k;
    let src = UInt32Array::from_iter_values((0..n as u32).flat_map(|i| std::iter::repeat_n(i, top.k)));
    let rank = UInt16Array::from_iter_values((0..n).flat_map(|_| 0..top.k as u16));
    let cols: Vec<(&str, ArrayRef, bool)> = vec![
        ("src", Arc::new(src), false),
        ("dst", Arc::new(UInt32Array::from(top.dst.clone())), false),
        ("rank", Arc::new(rank), false),
        ("similarity", Arc::new(Float32Array::from(top.sim.clone())), false),
    ];
    let batch = RecordBatch::try_from_iter_with_nullable(cols).map_err(|e| invalid(path, e.to_string()))?;
    Ok(write_parquet(path, &batch, meta)?)
}

/// A relations artifact in memory: the top-K graph and the embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct RelationGraph {
    /// Samples.
    pub n: usize,
    /// Neighbours per sample.
    pub k: usize,
    /// Embedding dimension.
    pub dim: usize,
    /// Neighbour indices, `[n, k]`.
    pub dst: Vec<u32>,
    /// Similarities, `[n, k]`.
    pub sim: Vec<f32>,
    /// L2-normalised embeddings, `[n, dim]`.
    pub embeddings: Vec<f32>,
    /// The encoder (RM) artifact key.
    pub encoder_key: String,
    /// The dataset artifact key.
    pub dataset_key: String,
}

impl RelationGraph {
    /// Reads and checks a relations artifact (K rows per src in order, no self edges,
    /// indices in range, embedding rows complete).
    pub fn open(dir: &Path) -> Result<RelationGraph> {
        let gpath = dir.join("graph.parquet");
        let g = read_parquet(&gpath)?;
        let meta_usize = |key: &str| -> Result<usize> {
            g.metadata
                .get(key)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| unreadable(&gpath, format!("missing or bad metadata {key}")))
        };
        let (n, k, dim) = (meta_usize("rmdnet.n")?, meta_usize("rmdnet.k")?, meta_usize("rmdnet.dim")?);
        let encoder_key = g.metadata.get("rmdnet.encoder_key").cloned().unwrap_or_default();
        let dataset_key = g.metadata.get("rmdnet.dataset_key").cloned().unwrap_or_default();
        if g.num_rows() != n * k {
            return Err(unreadable(&gpath, format!("{} rows, expected n·k = {n}·{k}", g.num_rows())));
        }
        let mut dst = Vec::with_capacity(n * k);
        let mut sim = Vec::with_capacity(n * k);
        let mut src_ok = true;
        let mut row = 0usize;
        for b in &g.batches {
            let s = b
                .column_by_name("src")
                .ok_or_else(|| unreadable(&gpath, "no src column"))?
                .as_primitive::<UInt32Type>();
            let dcol = b
                .column_by_name("dst")
                .ok_or_else(|| unreadable(&gpath, "no dst column"))?
                .as_primitive::<UInt32Type>();
            let r = b
                .column_by_name("rank")
                .ok_or_else(|| unreadable(&gpath, "no rank column"))?
                .as_primitive::<UInt16Type>();
            let sm = b
                .column_by_name("similarity")
                .ok_or_else(|| unreadable(&gpath, "no similarity column"))?
                .as_primitive::<Float32Type>();
            for t in 0..b.num_rows() {
                let (i, j) = (s.value(t) as usize, dcol.value(t) as usize);
                src_ok &= i == row / k && r.value(t) as usize == row % k && j < n && j != i;
                dst.push(j as u32);
                sim.push(sm.value(t));
                row += 1;
            }
        }
        if !src_ok {
            return Err(unreadable(
                &gpath,
                "rows are not K per src in (src, rank) order with valid, non-self dst",
            ));
        }
        let epath = dir.join("embeddings.parquet");
        let e = read_parquet(&epath)?;
        if e.num_rows() != n {
            return Err(unreadable(
                &epath,
                format!("{} embeddings for a graph of {n} samples", e.num_rows()),
            ));
        }
        let mut embeddings = Vec::with_capacity(n * dim);
        for b in &e.batches {
            let list = b
                .column_by_name("embedding")
                .ok_or_else(|| unreadable(&epath, "no embedding column"))?
                .as_fixed_size_list();
            if list.value_length() as usize != dim {
                return Err(unreadable(
                    &epath,
                    format!("embedding size {} but metadata says {dim}", list.value_length()),
                ));
            }
            embeddings.extend_from_slice(list.values().as_primitive::<Float32Type>().values());
        }
        Ok(RelationGraph { n, k, dim, dst, sim, embeddings, encoder_key, dataset_key })
    }

    /// Neighbours of sample `i` and their similarities, nearest first.
    pub fn neighbours(&self, i: usize) -> (&[u32], &[f32]) {
        (&self.dst[i * self.k..(i + 1) * self.k], &self.sim[i * self.k..(i + 1) * self.k])
    }

    /// Embeddings of the given samples, concatenated (`[len, dim]`).
    pub fn embeddings_of(&self, indices: &[u32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            out.extend_from_slice(&self.embeddings[i as usize * self.dim..(i as usize + 1) * self.dim]);
        }
        out
    }

    /// Checks that the graph fits a dataset of `n` samples (and, when given, a student
    /// expecting `dim`-dimensional teacher embeddings).
    pub fn check_fits(&self, n: usize, dim: Option<usize>) -> Result<()> {
        if self.n != n {
            return Err(NnError::Invalid(format!(
                "the relation graph has {} samples but the dataset has {n}: it was built for another dataset",
                self.n
            )));
        }
        if let Some(d) = dim
            && d != self.dim
        {
            return Err(NnError::Invalid(format!(
                "the relation embeddings have {} dimensions, expected {d}",
                self.dim
            )));
        }
        Ok(())
    }
}

/// Writes a little-endian `.npy` file (version 1.0) of f32 or u32 values with `shape`.
pub fn write_npy<T: NpyElement>(path: &Path, values: &[T], shape: &[usize]) -> Result<()> {
    let shape_str = match shape {
        [n] => format!("({n},)"),
        dims => format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {shape_str}, }}", T::DESCR);
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + values.len() * 8);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        v.extend_le(&mut out);
    }
    // A user-named file: written through a temporary, never through a planted symlink.
    rmd_store::output::write_file(path, &out).map_err(|e| NnError::Data(e.into()))
}

/// Element types `write_npy` supports.
pub trait NpyElement {
    /// numpy dtype descriptor.
    const DESCR: &'static str;
    /// Appends the value's little-endian bytes.
    fn extend_le(&self, out: &mut Vec<u8>);
}

impl NpyElement for f32 {
    const DESCR: &'static str = "<f4";
    fn extend_le(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElement for f64 {
    const DESCR: &'static str = "<f8";
    fn extend_le(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElement for u32 {
    const DESCR: &'static str = "<u4";
    fn extend_le(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}
