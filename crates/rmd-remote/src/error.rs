//! Errors of remote operations. Every message names the remote (its name, or its URL with
//! any user information removed) and, where there is one, the artifact; credentials never
//! appear in them (see [`crate::connect::Remote::redact`]).

/// Result alias of this crate.
pub type Result<T, E = RemoteError> = std::result::Result<T, E>;

/// What can go wrong with a remote.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// A remote name, URL, option or config file is wrong (exit 2).
    #[error("{0}")]
    Config(String),
    /// Something the user can fix: unreachable host, refused credentials, missing bucket,
    /// an artifact the remote does not have, a read-only remote written to (exit 2).
    #[error("remote {remote}: {message}")]
    User {
        /// The remote, as shown to the user.
        remote: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// What the remote holds fails verification; nothing of it was installed (exit 2).
    #[error("remote {remote}: {message}")]
    Refused {
        /// The remote, as shown to the user.
        remote: String,
        /// The artifact and file at fault.
        message: String,
    },
    /// A failure of the remote service or the machine (exit 1).
    #[error("remote {remote}: {message}")]
    Failed {
        /// The remote, as shown to the user.
        remote: String,
        /// What failed.
        message: String,
    },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] rmd_store::StoreError),
}

impl RemoteError {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        RemoteError::Config(message.into())
    }

    /// True when the user can fix the cause (binaries exit with code 2).
    pub fn is_input_error(&self) -> bool {
        match self {
            RemoteError::Config(_) | RemoteError::User { .. } | RemoteError::Refused { .. } => true,
            RemoteError::Failed { .. } => false,
            RemoteError::Store(e) => e.is_input_error(),
        }
    }
}
