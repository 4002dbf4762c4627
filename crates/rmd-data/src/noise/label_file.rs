//! Noisy labels imported from a CSV or Parquet file (e.g. the CIFAR-10N release).

use crate::error::{DataError, IoContext, Result};
use crate::table::{Cells, open_table};
use std::path::{Path, PathBuf};

/// Which file and columns to import.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelFileSpec {
    /// A `.csv` or `.parquet` file.
    pub path: PathBuf,
    /// Column holding the noisy labels (class indices or class names).
    pub column: String,
    /// Column holding the sample index; `index` is used when present and none is named.
    pub index_column: Option<String>,
    /// Proceed even when the file's `clean_label` column disagrees with the dataset.
    pub allow_clean_mismatch: bool,
}

/// Labels read from a file, aligned with the dataset's sample order.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedLabels {
    /// Noisy label per sample index.
    pub noisy: Vec<u16>,
    /// Index column used, if any.
    pub index_column: Option<String>,
    /// Samples where the file's `clean_label` column disagrees with the dataset, if it has one.
    pub clean_mismatches: Option<usize>,
}

fn to_classes(cells: Cells, path: &Path, column: &str, classes: &[String]) -> Result<Vec<u16>> {
    let c = classes.len() as i64;
    let check = |row: usize, v: i64| -> Result<u16> {
        if (0..c).contains(&v) {
            Ok(v as u16)
        } else {
            Err(DataError::bad(
                path,
                format!("column '{column}' row {row}: class index {v} out of range 0..{c}"),
            ))
        }
    };
    match cells {
        Cells::Ints(v) => v.into_iter().enumerate().map(|(r, x)| check(r, x)).collect(),
        Cells::Text(v) => v
            .into_iter()
            .enumerate()
            .map(|(r, s)| {
                if let Ok(x) = s.parse::<i64>() {
                    return check(r, x);
                }
                classes
                    .iter()
                    .position(|name| name == &s)
                    .or_else(|| classes.iter().position(|name| name.eq_ignore_ascii_case(&s)))
                    .map(|i| i as u16)
                    .ok_or_else(|| {
                        DataError::bad(
                            path,
                            format!(
                                "column '{column}' row {r}: unknown class name '{s}' (classes: {})",
                                classes.join(", ")
                            ),
                        )
                    })
            })
            .collect(),
    }
}

/// Reads noisy labels for a dataset with `clean` labels and `classes`, aligned by the index
/// column when there is one. The file must have exactly one row per sample.
pub fn read_label_file(spec: &LabelFileSpec, clean: &[u16], classes: &[String]) -> Result<ImportedLabels> {
    let path = &spec.path;
    if let Some(problem) = crate::input_file_problem(path) {
        return Err(DataError::bad(path, format!("the label file {problem}")));
    }
    let table = open_table(path)?;
    if let Some((i, c)) = table.columns.iter().enumerate().find(|(i, c)| table.columns[..*i].contains(c)) {
        return Err(DataError::bad(
            path,
            format!(
                "column '{c}' appears twice (columns {} and {}): rename one so the choice is not ambiguous",
                table.columns.iter().position(|x| x == c).expect("seen before") + 1,
                i + 1
            ),
        ));
    }
    let has = |c: &str| table.columns.iter().any(|x| x == c);
    if !has(&spec.column) {
        return Err(DataError::bad(
            path,
            format!("no column '{}' (columns: {})", spec.column, table.columns.join(", ")),
        ));
    }
    let n = clean.len();
    if table.rows != n {
        return Err(DataError::bad(
            path,
            format!(
                "{} rows but the dataset has {n} training samples: wrong file or wrong dataset",
                table.rows
            ),
        ));
    }
    let index_column = match &spec.index_column {
        Some(c) if !has(c) => return Err(DataError::bad(path, format!("no index column '{c}'"))),
        Some(c) => Some(c.clone()),
        None if has("index") => Some("index".to_string()),
        None => None,
    };
    let order: Vec<usize> = match &index_column {
        Some(c) => {
            let cells = (table.get)(c)?;
            let idx: Vec<i64> = match cells {
                Cells::Ints(v) => v,
                Cells::Text(v) => v
                    .iter()
                    .enumerate()
                    .map(|(r, s)| {
                        s.parse::<i64>().map_err(|_| {
                            DataError::bad(
                                path,
                                format!("index column '{c}' row {r}: '{s}' is not an integer"),
                            )
                        })
                    })
                    .collect::<Result<_>>()?,
            };
            let mut seen = vec![false; n];
            for (r, &i) in idx.iter().enumerate() {
                if i < 0 || i as usize >= n || std::mem::replace(&mut seen[i as usize], true) {
                    return Err(DataError::bad(
                        path,
                        format!("index column '{c}' row {r}: index {i} is out of range 0..{n} or repeated"),
                    ));
                }
            }
            idx.into_iter().map(|i| i as usize).collect()
        }
        None => (0..n).collect(),
    };
    let labels = to_classes((table.get)(&spec.column)?, path, &spec.column, classes)?;
    let mut noisy = vec![0u16; n];
    for (row, &i) in order.iter().enumerate() {
        noisy[i] = labels[row];
    }
    let clean_mismatches = if has("clean_label") && spec.column != "clean_label" {
        let file_clean = to_classes((table.get)("clean_label")?, path, "clean_label", classes)?;
        let mismatched: Vec<usize> = order
            .iter()
            .enumerate()
            .filter(|(row, i)| file_clean[*row] != clean[**i])
            .map(|(_, i)| *i)
            .collect();
        if let Some(&first) = mismatched.first()
            && !spec.allow_clean_mismatch
        {
            let row = order.iter().position(|&i| i == first).expect("index present");
            return Err(DataError::bad(
                path,
                format!(
                    "its clean_label column disagrees with the dataset at {} of {n} samples (first at index {first}: file {}, dataset {}); \
                     is the file aligned with the dataset's official training order? (--allow-clean-mismatch proceeds anyway)",
                    mismatched.len(),
                    file_clean[row],
                    clean[first]
                ),
            ));
        }
        Some(mismatched.len())
    } else {
        None
    };
    Ok(ImportedLabels { noisy, index_column, clean_mismatches })
}

/// blake3 of a file's bytes (label files are small).
pub(crate) fn file_hash(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).ctx("reading", path)?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["airplane", "automobile", "bird"].map(String::from).to_vec()
    }

    fn spec(path: PathBuf, column: &str) -> LabelFileSpec {
        LabelFileSpec { path, column: column.into(), index_column: None, allow_clean_mismatch: false }
    }

    #[test]
    fn csv_by_index_with_names_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.csv");
        std::fs::write(&p, "index,clean_label,noisy\n2,2,airplane\n0,0,bird\n1,1,1\n").unwrap();
        let clean = [0u16, 1, 2];
        let got = read_label_file(&spec(p.clone(), "noisy"), &clean, &names()).unwrap();
        assert_eq!(got.noisy, vec![2, 1, 0]);
        assert_eq!(got.clean_mismatches, Some(0));

        let err = read_label_file(&spec(p.clone(), "noisy"), &[0, 1], &names()).unwrap_err().to_string();
        assert!(
            err.contains("l.csv") && err.contains("3 rows") && err.contains("2 training samples"),
            "{err}"
        );

        std::fs::write(&p, "index,noisy\n0,airplane\n1,zebra\n2,bird\n").unwrap();
        let err = read_label_file(&spec(p.clone(), "noisy"), &clean, &names()).unwrap_err().to_string();
        assert!(err.contains("unknown class name 'zebra'"), "{err}");

        std::fs::write(&p, "index,noisy\n0,0\n1,7\n2,1\n").unwrap();
        let err = read_label_file(&spec(p.clone(), "noisy"), &clean, &names()).unwrap_err().to_string();
        assert!(err.contains("class index 7 out of range"), "{err}");

        std::fs::write(&p, "index,noisy\n0,0\n0,1\n2,1\n").unwrap();
        let err = read_label_file(&spec(p.clone(), "noisy"), &clean, &names()).unwrap_err().to_string();
        assert!(err.contains("repeated"), "{err}");

        std::fs::write(&p, "index,clean_label,noisy\n0,1,0\n1,1,1\n2,2,1\n").unwrap();
        let err = read_label_file(&spec(p.clone(), "noisy"), &clean, &names()).unwrap_err().to_string();
        assert!(err.contains("disagrees") && err.contains("1 of 3"), "{err}");
        let mut s = spec(p.clone(), "noisy");
        s.allow_clean_mismatch = true;
        assert_eq!(read_label_file(&s, &clean, &names()).unwrap().clean_mismatches, Some(1));

        let err = read_label_file(&spec(p.clone(), "nope"), &clean, &names()).unwrap_err().to_string();
        assert!(err.contains("no column 'nope'"), "{err}");

        std::fs::write(&p, "index,noisy,noisy\n0,0,1\n1,1,2\n2,2,0\n").unwrap();
        let err = read_label_file(&spec(p, "noisy"), &clean, &names()).unwrap_err().to_string();
        assert!(err.contains("column 'noisy' appears twice (columns 2 and 3)"), "{err}");
    }
}
