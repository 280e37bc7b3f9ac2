//! Library errors as Python exceptions, with the message the CLI prints.
//!
//! The CLI prints `error: ` and each error of the chain joined by `": "`, leaving out a
//! cause whose text the message already holds (`ulm-cli`'s `output::error_message`).
//! [`message`] builds the same text from the library error (without the CLI's own
//! context such as "opening frames …", which names a command-line option). An error
//! whose cause is the operating system (missing file, permissions) becomes `OSError`
//! (`FileNotFoundError` for a missing file), like Python's own `open`; every other
//! library error (bad input, bad option) becomes `ulm.UlmError`, a `ValueError`.

use std::error::Error as StdError;

use pyo3::PyErr;
use pyo3::create_exception;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};

create_exception!(
    ulm,
    UlmError,
    PyValueError,
    "An error reported by the ulm library: bad input or a bad option. The message is the library's (as the CLI prints it)."
);

/// The error and its causes, joined by `": "`, each cause once (as the CLI prints).
pub fn message(e: &(dyn StdError + 'static)) -> String {
    ulm_core::chain_message(e)
}

/// The first I/O error in the chain of `e`.
fn io_cause<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = c.source();
    }
    None
}

/// A library error as a Python exception (see the module docs for which type).
pub fn to_py<E: StdError + 'static>(e: E) -> PyErr {
    let msg = message(&e);
    match io_cause(&e).map(std::io::Error::kind) {
        Some(std::io::ErrorKind::NotFound) => PyFileNotFoundError::new_err(msg),
        Some(_) => PyOSError::new_err(msg),
        None => UlmError::new_err(msg),
    }
}

/// A bad argument, found by the bindings themselves: `ulm.UlmError` with `msg`.
pub fn invalid(msg: impl Into<String>) -> PyErr {
    UlmError::new_err(msg.into())
}
