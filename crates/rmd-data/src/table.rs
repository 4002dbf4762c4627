//! Tables read from CSV, TSV or Parquet files, one column at a time, as text or integers
//! whatever the file format (label files, image lists).

use crate::error::{DataError, Result};
use crate::parquet_io::{column_type, int_column, is_text, read_parquet, string_column};
use std::path::Path;

/// A column's cells as text or integers, whatever the file format.
pub(crate) enum Cells {
    Ints(Vec<i64>),
    Text(Vec<String>),
}

/// Reads one column of a table by name.
pub(crate) type ColumnReader = Box<dyn Fn(&str) -> Result<Cells>>;

pub(crate) struct Table {
    pub(crate) columns: Vec<String>,
    pub(crate) get: ColumnReader,
    pub(crate) rows: usize,
}

pub(crate) fn open_table(path: &Path) -> Result<Table> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "parquet" | "pq" => {
            let table = read_parquet(path)?;
            let columns = table.column_names();
            let rows = table.num_rows();
            let path = path.to_path_buf();
            Ok(Table {
                columns,
                rows,
                get: Box::new(move |name| match column_type(&table, name) {
                    Some(t) if is_text(&t) => Ok(Cells::Text(string_column(&table, &path, name)?)),
                    Some(t) if !t.is_integer() => Err(DataError::bad(
                        &path,
                        format!(
                            "column '{name}' holds {t} values, neither text (UTF-8 strings) nor integers: write it as strings"
                        ),
                    )),
                    _ => Ok(Cells::Ints(int_column(&table, &path, name)?)),
                }),
            })
        }
        "csv" | "tsv" | "txt" => {
            let delim = if ext == "tsv" { b'\t' } else { b',' };
            let mut rdr = csv::ReaderBuilder::new()
                .delimiter(delim)
                .trim(csv::Trim::All)
                .from_path(path)
                .map_err(|e| DataError::bad(path, format!("cannot read as CSV: {e}")))?;
            let columns: Vec<String> = rdr
                .headers()
                .map_err(|e| DataError::bad(path, format!("cannot read the CSV header: {e}")))?
                .iter()
                .map(String::from)
                .collect();
            if columns.iter().all(String::is_empty) {
                return Err(DataError::bad(path, "empty: no header line naming its columns"));
            }
            let mut data: Vec<Vec<String>> = vec![Vec::new(); columns.len()];
            for (i, rec) in rdr.records().enumerate() {
                let rec = rec.map_err(|e| DataError::bad(path, format!("row {}: {e}", i + 2)))?;
                for (c, cell) in rec.iter().enumerate() {
                    data[c].push(cell.to_string());
                }
            }
            let rows = data.first().map(Vec::len).unwrap_or(0);
            let cols = columns.clone();
            Ok(Table {
                columns,
                rows,
                get: Box::new(move |name| {
                    let i = cols.iter().position(|c| c == name).expect("caller checked the column");
                    Ok(Cells::Text(data[i].clone()))
                }),
            })
        }
        _ => Err(DataError::bad(path, "unknown label-file type: expected .csv, .tsv or .parquet")),
    }
}

impl Table {
    /// A column's cells as text (integers written in decimal).
    pub(crate) fn text(&self, name: &str) -> Result<Vec<String>> {
        Ok(match (self.get)(name)? {
            Cells::Text(v) => v,
            Cells::Ints(v) => v.into_iter().map(|x| x.to_string()).collect(),
        })
    }
}
