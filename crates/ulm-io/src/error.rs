use std::path::{Path, PathBuf};

use thiserror::Error;

/// Errors of reading and writing files. Each names the file it concerns.
#[derive(Debug, Error)]
pub enum Error {
    /// The operating system refused (missing file, permissions, disk full …).
    #[error("{}: {source}", path.display())]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not in the expected format, or its content is invalid.
    #[error("{}: {msg}", path.display())]
    Format {
        /// File concerned.
        path: PathBuf,
        /// What is wrong, in words.
        msg: String,
    },
    /// The content is well-formed but violates the data model (shape, NaN, geometry).
    #[error("{}: {source}", path.display())]
    Data {
        /// File concerned.
        path: PathBuf,
        /// Underlying data-model error.
        #[source]
        source: ulm_core::Error,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io { path: path.to_path_buf(), source }
    }

    /// An [`Error::Format`] for `path`.
    pub fn format(path: &Path, msg: impl Into<String>) -> Self {
        Error::Format { path: path.to_path_buf(), msg: msg.into() }
    }

    /// An [`Error::Data`] for `path`.
    pub fn data(path: &Path, source: ulm_core::Error) -> Self {
        Error::Data { path: path.to_path_buf(), source }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
