//! `ulm render` (placeholder until its issue lands).

use super::Context;

/// Options of `ulm render`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ulm render`.
pub fn run(_args: Args, _ctx: &Context) -> anyhow::Result<()> {
    anyhow::bail!("`ulm render` is not available yet")
}
