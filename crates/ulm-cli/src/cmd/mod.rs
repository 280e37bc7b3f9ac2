//! One module per subcommand. Each has clap `Args` (raw options) and `run`, which
//! validates the options into the library's config and calls the library.

pub mod dataset;
pub mod demo;
pub mod eval;
pub mod eval_maps;
pub mod filter;
pub mod info;
pub mod localize;
pub mod render;
pub mod simulate;
pub mod track;

/// What every subcommand gets besides its own options.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// `-q`: no progress bars, errors only.
    pub quiet: bool,
}
