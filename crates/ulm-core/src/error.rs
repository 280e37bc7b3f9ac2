use thiserror::Error;

/// Errors of the shared data model.
#[derive(Debug, Error)]
pub enum Error {
    /// An array or table does not have the shape that an operation needs.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A value is out of its valid range (non-positive pixel size, NaN, …).
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// Frames contain NaN or infinite samples.
    #[error("non-finite sample (NaN or Inf) in frame {frame} at row {row}, col {col}")]
    NonFinite {
        /// Frame index of the first offending sample.
        frame: usize,
        /// Row (depth) index of the first offending sample.
        row: usize,
        /// Column (lateral) index of the first offending sample.
        col: usize,
    },
    /// A column that the operation needs is missing from a table.
    #[error("missing column `{0}`")]
    MissingColumn(String),
    /// A frame source failed while reading (wraps the reader's own error text).
    #[error("reading frames: {0}")]
    Read(String),
}

/// Result with the data model's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
