//! Errors of the store. Every variant names the file or key it is about.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("{action} {}: {cause}", path.display())]
    Io {
        /// What was being done ("reading", "renaming", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error (shown in the message, so not chained as a source:
        /// `{:#}` would print it twice).
        cause: std::io::Error,
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
    /// A directory given as a store is not one (no store marker and not empty, or a file).
    #[error("{} is not an rmdnet store: {reason}", path.display())]
    NotAStore {
        /// The directory (or file) given as the store.
        path: PathBuf,
        /// Why it is not accepted.
        reason: String,
    },
    /// A stored artifact's files no longer match its manifest (changed, missing, resized),
    /// so it is not served.
    #[error(
        "artifact {stage}/{} is damaged: {reason}. `rmd store verify {}` lists the problems; rerun the stage that made it (it replaces a damaged artifact) or import it again",
        &key[..key.len().min(12)], &key[..key.len().min(12)]
    )]
    Damaged {
        /// Stage of the artifact.
        stage: String,
        /// Key of the artifact.
        key: String,
        /// What is wrong, naming the file.
        reason: String,
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
        match self {
            StoreError::NotFound { .. }
            | StoreError::Ambiguous { .. }
            | StoreError::Bundle { .. }
            | StoreError::NotAStore { .. }
            | StoreError::Damaged { .. }
            | StoreError::Tampered { .. }
            | StoreError::CorruptManifest { .. } => true,
            StoreError::Io { cause, .. } => io_is_input_error(cause),
            StoreError::WouldRun { .. } | StoreError::InvalidOutput { .. } => false,
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        StoreError::Io { action, path: path.into(), cause }
    }
}

/// True for the I/O failures the user can act on (exit 2): the named file is at fault
/// (missing, unreadable, not valid, a directory where a file was expected) or its place is
/// (a full disk, a quota, a read-only file system), as opposed to the machine failing (an
/// interrupted device, an unexpected OS error).
pub fn io_is_input_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        NotFound
            | PermissionDenied
            | InvalidData
            | InvalidInput
            | IsADirectory
            | NotADirectory
            | UnexpectedEof
            | StorageFull
            | QuotaExceeded
            | ReadOnlyFilesystem
            | FileTooLarge
    )
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
