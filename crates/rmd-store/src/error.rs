//! Errors of the store. Every variant names the file or key it is about.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("reading", "renaming", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A manifest could not be parsed or is inconsistent.
    #[error("corrupt manifest {}: {reason}", path.display())]
    CorruptManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No artifact matches a key or key prefix.
    #[error("no artifact{} matches key '{prefix}' in store {}", stage.as_ref().map(|s| format!(" of stage '{s}'")).unwrap_or_default(), store.display())]
    NotFound {
        /// The key or prefix asked for.
        prefix: String,
        /// The stage searched, if one was named.
        stage: Option<String>,
        /// The store root.
        store: PathBuf,
    },
    /// A key prefix matches more than one artifact.
    #[error("key prefix '{prefix}' is ambiguous: it matches {}; give more characters", candidates.join(", "))]
    Ambiguous {
        /// The prefix asked for.
        prefix: String,
        /// `stage/key` of every match.
        candidates: Vec<String>,
    },
    /// A bundle file is malformed or fails verification.
    #[error("bundle {}: {reason}", path.display())]
    Bundle {
        /// The bundle file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An artifact's outputs do not match its manifest.
    #[error("artifact {stage}/{key} failed verification: {}", problems.join("; "))]
    Tampered {
        /// Stage of the artifact.
        stage: String,
        /// Key of the artifact.
        key: String,
        /// One line per problem found.
        problems: Vec<String>,
    },
    /// Plan mode: the artifact is not cached and would be computed.
    #[error("plan: the {stage} artifact {key} is not cached and would be computed")]
    WouldRun {
        /// The stage.
        stage: String,
        /// The key it would get.
        key: String,
    },
    /// The stage asked to commit a file that is not a regular file, or an invalid name.
    #[error("invalid output {name:?}: {reason}")]
    InvalidOutput {
        /// The offending relative path.
        name: String,
        /// Why it is invalid.
        reason: String,
    },
}

impl StoreError {
    /// True when the error comes from what the user asked for (an unknown key, a bad
    /// bundle), not from a failure of the machine; binaries exit with code 2 for these.
    pub fn is_input_error(&self) -> bool {
        matches!(self, StoreError::NotFound { .. } | StoreError::Ambiguous { .. } | StoreError::Bundle { .. })
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io { action, path: path.into(), source }
    }
}

/// Attaches a path and an action to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| StoreError::io(action, path, e))
    }
}
