//! Python bindings of ulm: the native module `ulm._ulm` behind the `ulm` package.
//!
//! The Python package (`python/ulm/__init__.py`) is a thin layer over this module: it
//! turns pandas DataFrames into NumPy columns and back, converts dtypes, and documents
//! every verb (numpydoc, units). Each function here takes NumPy arrays and plain values,
//! builds the library's validated config with the CLI's defaults, and runs the library
//! call with the GIL released (`Python::detach`), so other Python threads (and Dask's
//! threaded workers) run meanwhile. Frames are read from the NumPy buffer in place
//! (any strides) and results are moved into NumPy arrays without a copy.
//!
//! Errors become `ulm.UlmError` (a `ValueError`), or `OSError` / `FileNotFoundError`
//! when the operating system refused, carrying the library's message (see [`errors`]).
//!
//! Built by maturin (`pip install ./crates/ulm-py`, or `maturin develop` in a virtual
//! environment). The crate does not link libpython (pyo3's `extension-module`, stable
//! ABI from Python 3.9), so `cargo build`/`cargo test --workspace` need no Python; its
//! tests are the pytest suite in `crates/ulm-py/tests`.
//!
//! ```python
//! import ulm
//! sim = ulm.simulate("sparse", frames=200, seed=1)
//! locs = ulm.localize(sim["iq"], sim["meta"], method="radial")
//! tracks = ulm.track(locs, sim["meta"])
//! density = ulm.render(locs, sim["meta"])
//! print(ulm.evaluate(locs, sim["gt"], sim["meta"])["overall"]["f1"])
//! ```

mod errors;
mod frames;
mod map_metrics;
mod methods;
mod tables;
mod verbs;

use pyo3::prelude::*;

/// The native module `ulm._ulm`.
#[pymodule]
fn _ulm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("UlmError", m.py().get_type::<errors::UlmError>())?;
    m.add("LOCALIZATION_METHODS", methods::names())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(verbs::read_meta, m)?)?;
    m.add_function(wrap_pyfunction!(verbs::read, m)?)?;
    m.add_function(wrap_pyfunction!(verbs::simulate, m)?)?;
    m.add_function(wrap_pyfunction!(verbs::svd_filter, m)?)?;
    m.add_function(wrap_pyfunction!(verbs::bandpass, m)?)?;
    m.add_function(wrap_pyfunction!(verbs::localize, m)?)?;
    m.add_function(wrap_pyfunction!(verbs::track, m)?)?;
    m.add_function(wrap_pyfunction!(verbs::render, m)?)?;
    m.add_function(wrap_pyfunction!(verbs::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(map_metrics::dice, m)?)?;
    m.add_function(wrap_pyfunction!(map_metrics::mtf, m)?)?;
    m.add_function(wrap_pyfunction!(map_metrics::frc, m)?)?;
    Ok(())
}
