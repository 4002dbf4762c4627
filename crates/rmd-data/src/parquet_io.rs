//! Small helpers around Arrow/Parquet: one-call write with key-value metadata, one-call
//! read, and typed column access with errors that name the file and the column.

use crate::error::{DataError, IoContext, Result};
use arrow_array::{Array, ArrayRef, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::collections::BTreeMap;
use std::path::Path;

/// Writes one record batch to `path` (zstd, statistics on) with file-level key-value
/// metadata (readable as the schema metadata in pyarrow, polars and DuckDB).
pub fn write_parquet(path: &Path, batch: &RecordBatch, metadata: &BTreeMap<String, String>) -> Result<()> {
    let perr = |e: parquet::errors::ParquetError| DataError::Parquet {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(perr)?))
        .set_max_row_group_row_count(Some(64 * 1024))
        .set_key_value_metadata(Some(
            metadata.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())).collect(),
        ))
        .set_created_by(format!("rmdnet {}", env!("CARGO_PKG_VERSION")))
        .build();
    let file = std::fs::File::create(path).ctx("creating", path)?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(perr)?;
    writer.write(batch).map_err(perr)?;
    let file = writer.into_inner().map_err(perr)?;
    file.sync_all().ctx("syncing", path)?;
    Ok(())
}

/// A whole Parquet file in memory: one batch per row group and the key-value metadata.
#[derive(Debug)]
pub struct ParquetTable {
    /// The record batches.
    pub batches: Vec<RecordBatch>,
    /// File-level key-value metadata.
    pub metadata: BTreeMap<String, String>,
}

impl ParquetTable {
    /// Total number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Names of the columns.
    pub fn column_names(&self) -> Vec<String> {
        self.batches
            .first()
            .map(|b| b.schema().fields().iter().map(|f| f.name().clone()).collect())
            .unwrap_or_default()
    }

    /// The chunks of one column, or `None` when there is no such column.
    pub fn column(&self, name: &str) -> Option<Vec<ArrayRef>> {
        let idx = self.batches.first()?.schema().index_of(name).ok()?;
        Some(self.batches.iter().map(|b| b.column(idx).clone()).collect())
    }
}

/// Reads a whole Parquet file.
pub fn read_parquet(path: &Path) -> Result<ParquetTable> {
    let perr =
        |e: parquet::errors::ParquetError| DataError::bad(path, format!("not a readable Parquet file: {e}"));
    let file = std::fs::File::open(path).ctx("opening", path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr)?;
    let metadata = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .filter(|kv| kv.key != "ARROW:schema")
                .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let reader = builder.build().map_err(perr)?;
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| DataError::bad(path, format!("corrupt Parquet data: {e}")))?;
    Ok(ParquetTable { batches, metadata })
}

/// Reads a non-null integer column of any integer type as i64 values.
pub fn int_column(table: &ParquetTable, path: &Path, name: &str) -> Result<Vec<i64>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    use arrow_schema::DataType;
    let chunks = table.column(name).ok_or_else(|| {
        DataError::bad(path, format!("no column '{name}' (columns: {})", table.column_names().join(", ")))
    })?;
    let mut out = Vec::with_capacity(table.num_rows());
    for a in chunks {
        if a.null_count() > 0 {
            return Err(DataError::bad(path, format!("column '{name}' has {} null values", a.null_count())));
        }
        macro_rules! push {
            ($t:ty) => {
                out.extend(a.as_primitive::<$t>().values().iter().map(|&v| v as i64))
            };
        }
        match a.data_type() {
            DataType::Int8 => push!(Int8Type),
            DataType::Int16 => push!(Int16Type),
            DataType::Int32 => push!(Int32Type),
            DataType::Int64 => push!(Int64Type),
            DataType::UInt8 => push!(UInt8Type),
            DataType::UInt16 => push!(UInt16Type),
            DataType::UInt32 => push!(UInt32Type),
            DataType::UInt64 => push!(UInt64Type),
            other => {
                return Err(DataError::bad(
                    path,
                    format!("column '{name}' has type {other}, expected integers"),
                ));
            }
        }
    }
    Ok(out)
}

/// Reads a non-null string column.
pub fn string_column(table: &ParquetTable, path: &Path, name: &str) -> Result<Vec<String>> {
    use arrow_array::cast::AsArray;
    use arrow_schema::DataType;
    let chunks = table.column(name).ok_or_else(|| DataError::bad(path, format!("no column '{name}'")))?;
    let mut out = Vec::with_capacity(table.num_rows());
    for a in chunks {
        if a.null_count() > 0 {
            return Err(DataError::bad(path, format!("column '{name}' has {} null values", a.null_count())));
        }
        match a.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                out.extend(plain_strings(a.as_ref()))
            }
            // A categorical column (pandas `category`, R factors): the names its codes point at.
            DataType::Dictionary(_, values) if is_text(values) => {
                let d = a.as_any_dictionary();
                let names = plain_strings(d.values().as_ref());
                out.extend(d.normalized_keys().into_iter().map(|k| names[k].clone()));
            }
            other => {
                return Err(DataError::bad(
                    path,
                    format!("column '{name}' has type {other}, expected strings"),
                ));
            }
        }
    }
    Ok(out)
}

/// Whether a column of this type holds text (plain strings or categorical names).
pub fn is_text(t: &arrow_schema::DataType) -> bool {
    use arrow_schema::DataType;
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => is_text(values),
        _ => false,
    }
}

/// The cells of a plain string array (Utf8, LargeUtf8 or Utf8View), nulls as "".
fn plain_strings(a: &dyn arrow_array::Array) -> Vec<String> {
    use arrow_array::cast::AsArray;
    use arrow_schema::DataType;
    let own = |s: Option<&str>| s.unwrap_or_default().to_string();
    match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().iter().map(own).collect(),
        DataType::LargeUtf8 => a.as_string::<i64>().iter().map(own).collect(),
        DataType::Utf8View => a.as_string_view().iter().map(own).collect(),
        _ => Vec::new(),
    }
}

/// Data type of a column, if present.
pub fn column_type(table: &ParquetTable, name: &str) -> Option<arrow_schema::DataType> {
    table.column(name).and_then(|c| c.first().map(|a| a.data_type().clone()))
}
