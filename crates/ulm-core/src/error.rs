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

/// The message of `e` with its causes, `outer: cause: …`, leaving out a cause whose text
/// the message already holds (errors often write `path: {source}` and also expose the
/// source, which walking the chain would print twice). The CLI's and the Python package's
/// error text.
pub fn chain_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// Result with the data model's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
