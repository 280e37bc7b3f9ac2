//! Errors of the crate.

use std::path::PathBuf;

/// Errors from loading or saving weights and configurations.
#[derive(Debug, thiserror::Error)]
pub enum DetrError {
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file could not be written (atomically).
    #[error("{}: {message}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A safetensors file is malformed or holds an unsupported dtype.
    #[error("{}: {message}", .path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A configuration file is malformed or describes an unsupported model.
    #[error("{}: {message}", .path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Tensors in a checkpoint do not fit the model.
    #[error("{}: {count} tensor(s) do not fit the model: {details}", .path.display())]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// How many tensors.
        count: usize,
        /// `key: file [..] vs model [..]`, semicolon separated.
        details: String,
    },
    /// An inference setting is out of range; the message names it.
    #[error("invalid detector setting: {0}")]
    Setting(String),
    /// Strict loading found missing or unexpected keys.
    #[error("{}: {report}", .path.display())]
    Incomplete {
        /// The file.
        path: PathBuf,
        /// The loading report.
        report: Box<crate::weights::LoadReport>,
    },
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, DetrError>;
