//! Logging setup and the progress bar that library crates report into.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ulm_core::Progress;

/// Sets up `tracing` on stderr: warnings by default, more with `-v`, errors with `-q`.
pub fn init_logging(verbose: u8, quiet: bool) {
    let level = if quiet {
        "error"
    } else {
        match verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ULM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

/// A terminal progress bar (rate and ETA) implementing [`Progress`]; hidden with `-q`
/// or when stderr is not a terminal.
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar for `total` steps of `unit` (e.g. "frames").
    pub fn new(total: u64, unit: &str, quiet: bool) -> Self {
        let pb = ProgressBar::with_draw_target(
            Some(total),
            if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() },
        );
        let template =
            format!("{{msg}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} ({{per_sec}}, ETA {{eta}})");
        pb.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
        Self(pb)
    }
}

impl Progress for Bar {
    fn set_total(&self, total: u64) {
        self.0.set_length(total);
    }
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn set_message(&self, msg: &str) {
        self.0.set_message(msg.to_string());
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
