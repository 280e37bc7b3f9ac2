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

/// The temporal-support filter's options (`ulm localize`, `ulm bench`): see
/// `ulm_localize::temporal`.
#[derive(Debug, Clone, clap::Args)]
pub struct TemporalArgs {
    /// Keep a localization only if another is found near it in at least one of the K
    /// frames before or after it (within λ/2 plus the distance a bubble covers at
    /// --max-speed): drops isolated false detections such as noise peaks; 0 = off.
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub temporal_support: usize,
    /// With --temporal-support: the fastest bubble expected, mm/s.
    #[arg(long, default_value_t = 50.0, value_name = "MM_S", requires = "temporal_support")]
    pub max_speed: f64,
}

impl TemporalArgs {
    /// The validated filter settings; `None` when off.
    pub fn config(&self) -> anyhow::Result<Option<ulm_localize::TemporalSupport>> {
        ulm_localize::TemporalSupport::from_frames(self.temporal_support, self.max_speed)
            .map_err(|e| anyhow::anyhow!("--temporal-support/--max-speed: {e}"))
    }
}

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
