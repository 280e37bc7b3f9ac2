//! `ulm`: Ultrasound Localization Microscopy from frame stacks to super-resolved maps.
//!
//! Thin glue over the library crates: one file per subcommand in `cmd/`, each parsing
//! raw options into the library's validated config. The output rules (stdout for
//! results, one summary line on stderr, the run config beside the outputs, exit codes
//! 0 / 1 / 2, a closed pipe is not an error) live in `output.rs`.

mod cmd;
mod output;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Ultrasound Localization Microscopy: simulate, filter, localize, track, render and
/// evaluate microbubble data.
///
/// Units everywhere: positions in mm, velocities in mm/s, frame rate in Hz, wavelength
/// in mm. Arrays are [frames, rows = depth z, cols = lateral x]; pixel centres sit at
/// integer indices (x_mm = x0_mm + col * pixel_size_x_mm).
#[derive(Debug, Parser)]
#[command(name = "ulm", version, about, long_about, propagate_version = true)]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors; no progress bars.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print shape, sample type, geometry, value range and memory size of a frame file.
    Info(cmd::info::Args),
    /// Simulate a ULM acquisition with ground truth (vessels, flow, bubbles, PSF, clutter).
    Simulate(cmd::simulate::Args),
    /// Remove tissue clutter by SVD of the space × time matrix (optional band-pass).
    Filter(cmd::filter::Args),
    /// Localize microbubbles in frames with a classical method.
    Localize(cmd::localize::Args),
    /// Link localizations into tracks (velocities in mm/s).
    Track(cmd::track::Args),
    /// Train DE-DETR or DETR from a train.toml (writes runs/NAME/; --resume continues).
    Train(cmd::train::Args),
    /// Render super-resolved density, velocity and direction maps.
    Render(cmd::render::Args),
    /// Training data for the learned localizers: COCO JSON + 16-bit PNG patches, split
    /// without leakage (from a simulation, frames + ground truth, or a randomised mix).
    Dataset(cmd::dataset::Args),
    /// Evaluate localizations (precision, recall, RMSE …) or maps (Dice, MTF, FRC).
    Eval(cmd::eval::Args),
    /// Run the whole pipeline from a pipeline.toml (filter → localize, several methods side
    /// by side → track → render → eval) and write every result and an HTML report.
    Run(cmd::run::Args),
    /// Run the whole pipeline on built-in simulated data (no download) and write every
    /// intermediate result, map and the HTML report to one folder.
    Demo(cmd::demo::Args),
    /// Compare every localizer on simulated data with ground truth: precision, recall, F1,
    /// Jaccard, RMSE, COCO AP/AR, Dice of maps, frames/s (bench.md + bench.json).
    Bench(Box<cmd::bench::Args>),
}

/// Runs one subcommand.
pub(crate) fn dispatch(command: Command, ctx: &cmd::Context) -> anyhow::Result<()> {
    match command {
        Command::Info(a) => cmd::info::run(a, ctx),
        Command::Simulate(a) => cmd::simulate::run(a, ctx),
        Command::Filter(a) => cmd::filter::run(a, ctx),
        Command::Localize(a) => cmd::localize::run(a, ctx),
        Command::Track(a) => cmd::track::run(a, ctx),
        Command::Train(a) => cmd::train::run(a, ctx),
        Command::Render(a) => cmd::render::run(a, ctx),
        Command::Dataset(a) => cmd::dataset::run(a, ctx),
        Command::Eval(a) => cmd::eval::run(a, ctx),
        Command::Run(a) => cmd::run::run(a, ctx),
        Command::Demo(a) => cmd::demo::run(a, ctx),
        Command::Bench(a) => cmd::bench::run(*a, ctx),
    }
}

fn main() -> ExitCode {
    // Usage errors are the user's to fix: exit 1 (clap's own default is 2, which we keep
    // for internal errors). `--help` and `--version` exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    progress::init_logging(cli.verbose, cli.quiet);
    let ctx = cmd::Context { quiet: cli.quiet };
    let result = std::panic::catch_unwind(|| dispatch(cli.command, &ctx));
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            let code = output::exit_code(&e);
            if code != 0 {
                output::eprint_line(&format!("error: {}", output::error_message(&e)));
            }
            ExitCode::from(code)
        }
        Err(_) => {
            output::eprint_line("internal error: ulm panicked (this is a bug; please report it with the command line)");
            ExitCode::from(2)
        }
    }
}
