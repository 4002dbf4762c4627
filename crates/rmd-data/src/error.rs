//! Errors of dataset reading, import and noise. Every variant names the file or the value.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// What can go wrong with data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file system operation failed.
    #[error("{action} {}: {cause}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error (shown in the message, so not chained as a source:
        /// `{:#}` would print it twice).
        cause: std::io::Error,
    },
    /// A data file is malformed (truncated, wrong size, bad header, bad value).
    #[error("{}: {reason}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Dataset files are missing and could not be downloaded.
    #[error("{0}")]
    Missing(String),
    /// A request that does not fit the data (unknown dataset, class, noise variant...).
    #[error("{0}")]
    Invalid(String),
    /// Writing or reading Parquet failed.
    #[error("parquet {}: {reason}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        reason: String,
    },
    /// An error from the artifact store.
    #[error(transparent)]
    Store(#[from] rmd_store::StoreError),
}

impl DataError {
    /// True when the user's input is at fault (exit code 2), not the machine.
    pub fn is_input_error(&self) -> bool {
        match self {
            DataError::BadFile { .. } | DataError::Missing(_) | DataError::Invalid(_) => true,
            DataError::Store(e) => e.is_input_error(),
            DataError::Io { cause, .. } => rmd_store::io_is_input_error(cause),
            DataError::Parquet { .. } => false,
        }
    }

    pub(crate) fn bad(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        DataError::BadFile { path: path.into(), reason: reason.into() }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        DataError::Invalid(msg.into())
    }
}

/// Attaches a path and an action to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|cause| DataError::Io { action, path: path.into(), cause })
    }
}
