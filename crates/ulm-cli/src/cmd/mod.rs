//! One module per subcommand. Each has clap `Args` (raw options) and `run`, which
//! validates the options into the library's config and calls the library.

pub mod bench;
pub mod dataset;
pub mod demo;
pub mod detector;
pub mod eval;
pub mod eval_maps;
pub mod filter;
pub mod info;
pub mod localize;
pub mod render;
pub mod run;
pub mod simulate;
pub mod track;
pub mod train;

/// What every subcommand gets besides its own options.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// `-q`: no progress bars, errors only.
    pub quiet: bool,
}

impl Context {
    /// The command's one-line human summary (what it read and wrote), on stderr unless
    /// `-q`. Results a script reads go to stdout through [`crate::output::print`].
    pub fn summary(&self, line: impl std::fmt::Display) {
        if !self.quiet {
            crate::output::eprint_line(&line.to_string());
        }
    }
}
