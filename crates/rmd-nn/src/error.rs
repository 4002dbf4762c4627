//! Errors of the training stages.

/// Result alias of this crate.
pub type Result<T, E = NnError> = std::result::Result<T, E>;

/// What can go wrong while training or reading model artifacts.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// Data or dataset problem.
    #[error(transparent)]
    Data(#[from] rmd_data::DataError),
    /// Backend selection problem.
    #[error(transparent)]
    Backend(#[from] crate::backend::BackendError),
    /// A request that does not fit (bad parameter combination, wrong artifact kind).
    #[error("{0}")]
    Invalid(String),
    /// A model or optimizer record could not be written or read.
    #[error("{}: {reason}", path.display())]
    Record {
        /// The record file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A stored model, optimizer or model description could not be read: the file is
    /// corrupt, truncated, or made for another architecture.
    #[error("{}: not a readable {what}: {reason}", path.display())]
    BadRecord {
        /// The file.
        path: std::path::PathBuf,
        /// What the file should hold ("model record", "model description").
        what: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A file system operation failed.
    #[error("{action} {}: {cause}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error (shown in the message, so not chained as a source:
        /// `{:#}` would print it twice).
        cause: std::io::Error,
    },
    /// Training diverged (loss not finite).
    #[error("training diverged: {0}")]
    Diverged(String),
}

impl NnError {
    /// True when the user's input is at fault (exit code 2).
    pub fn is_input_error(&self) -> bool {
        match self {
            NnError::Data(e) => e.is_input_error(),
            NnError::Backend(_) | NnError::Invalid(_) | NnError::BadRecord { .. } => true,
            NnError::Io { cause, .. } => rmd_data::io_is_input_error(cause),
            NnError::Record { .. } | NnError::Diverged(_) => false,
        }
    }
}

pub(crate) trait IoContext<T> {
    fn ctx(self, action: &'static str, path: impl Into<std::path::PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, action: &'static str, path: impl Into<std::path::PathBuf>) -> Result<T> {
        self.map_err(|cause| NnError::Io { action, path: path.into(), cause })
    }
}

impl NnError {
    /// A model record (`.bpk`) that failed to load.
    pub(crate) fn unreadable_record(path: &std::path::Path, e: burn::store::RecordError) -> NnError {
        NnError::BadRecord {
            path: path.to_path_buf(),
            what: "model record (burnpack)",
            reason: e.to_string(),
        }
    }

    /// A model description (`model.json`) that failed to parse.
    pub(crate) fn unreadable_description(path: &std::path::Path, e: serde_json::Error) -> NnError {
        NnError::BadRecord {
            path: path.to_path_buf(),
            what: "model description (JSON)",
            reason: e.to_string(),
        }
    }
}
