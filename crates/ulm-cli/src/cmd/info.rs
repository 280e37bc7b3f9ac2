//! `ulm info` (placeholder until its issue lands).

use super::Context;

/// Options of `ulm info`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ulm info`.
pub fn run(_args: Args, _ctx: &Context) -> anyhow::Result<()> {
    anyhow::bail!("`ulm info` is not available yet")
}
