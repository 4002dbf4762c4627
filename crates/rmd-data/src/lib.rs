//! Datasets and label noise for rmdnet.
//!
//! * [`cifar`], [`idx`]: readers of the official file layouts.
//! * [`download`], [`sources`]: where named datasets live and how they are fetched.
//! * [`import`]: torchvision's CIFAR pickles and users' image folders and lists.
//! * [`dataset`]: dataset artifacts (content-keyed import, memory-mapped access).
//! * [`loader`]: seeded per-epoch sample orders.
//! * [`noise`]: the noise models and the noise stage.
//! * [`parquet_io`]: Parquet helpers shared by the stages.
//! * [`artifact_check`]: format-level checks that stored files belong to their manifest.

pub mod artifact_check;
pub mod augment;
pub mod cifar;
pub mod dataset;
pub mod download;
mod error;
pub mod idx;
pub mod import;
pub mod loader;
pub mod noise;
pub mod parquet_io;
pub mod progress;
pub mod raw;
pub mod sources;
mod table;

pub use dataset::{Dataset, DatasetInfo, Split, resolve_dataset};
pub use error::{DataError, Result};
pub use raw::{RawDataset, RawSplit};
/// Whether an I/O error is the user's input at fault (a missing or unreadable file): exit 2.
pub use rmd_store::io_is_input_error;
pub use sources::{DATA_DIR_ENV, KnownDataset, SourceOptions};

/// Why `path` cannot be read as an input file, in words ("does not exist", "is a FIFO, not
/// a regular file", ...); None when it is a regular file (or a symlink to one). Reading a
/// FIFO or device would block or never end, so they are refused by name.
pub fn input_file_problem(path: &std::path::Path) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => None,
        Ok(m) => Some(format!("is {}, not a regular file", rmd_store::file_kind(&m.file_type()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("does not exist".into()),
        Err(e) => Some(format!("cannot be read: {e}")),
    }
}
