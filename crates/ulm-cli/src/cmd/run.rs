//! `ulm run --config pipeline.toml [--out DIR]`: the whole pipeline from one file (glue
//! over `ulm_pipeline::run`): frames → filter → localize (one or several methods) →
//! track → render → eval → `report.html`, with a progress bar per stage.

use std::path::{Path, PathBuf};

use ulm_core::Progress;
use ulm_pipeline::{PipelineConfig, RunOptions, RunSummary, Stages};

use super::Context;
use crate::progress::Bar;

/// Options of `ulm run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pipeline file (TOML; every key documented in configs/pipeline.example.toml).
    #[arg(long, value_name = "TOML")]
    config: PathBuf,
    /// Output folder (created; files in it are replaced) [default: out/<config file stem>].
    #[arg(short, long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// One terminal progress bar per pipeline stage.
pub struct Bars {
    /// `-q`: no bars.
    pub quiet: bool,
}

impl Stages for Bars {
    fn stage(&self, name: &str, unit: &str) -> Box<dyn Progress + '_> {
        let bar = Bar::new(0, unit, self.quiet);
        bar.set_message(name);
        Box::new(bar)
    }
}

/// The command line as typed (words with spaces or quotes quoted), for the report.
pub fn command_line() -> String {
    std::env::args()
        .enumerate()
        .map(|(i, a)| {
            let a = if i == 0 {
                Path::new(&a).file_name().map_or(a.clone(), |f| f.to_string_lossy().into_owned())
            } else {
                a
            };
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$\\`".contains(c)) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The one-line summary of a run.
pub fn summary_line(s: &RunSummary) -> String {
    let methods: Vec<String> = s
        .methods
        .iter()
        .map(|m| {
            let f1 = m.metrics.as_ref().and_then(|r| r.overall.f1).map(|f| format!(", F1 {f:.3}")).unwrap_or_default();
            format!("{} ({} localizations in {} frames{f1})", m.method, m.n_localizations, m.frames)
        })
        .collect();
    format!(
        "{} frames of {} × {} in {:.1} s: {}; report {}",
        s.shape[0],
        s.shape[1],
        s.shape[2],
        s.seconds,
        methods.join("; "),
        s.report.display()
    )
}

/// Runs `ulm run`.
pub fn run(a: Args, ctx: &Context) -> anyhow::Result<()> {
    let cfg = PipelineConfig::from_file(&a.config)?;
    let out = a.out.unwrap_or_else(|| {
        Path::new("out").join(a.config.file_stem().map_or_else(|| "run".into(), |s| s.to_string_lossy().into_owned()))
    });
    let bars = Bars { quiet: ctx.quiet };
    let mut opts = RunOptions::new(&out, &command_line(), &bars);
    opts.config_dir = a.config.parent().map(Path::to_path_buf);
    let summary = ulm_pipeline::run(&cfg, &opts)?;
    ctx.summary(summary_line(&summary));
    Ok(())
}
