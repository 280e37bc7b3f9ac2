//! `ulm localize` (placeholder until its issue lands).

use super::Context;

/// Options of `ulm localize`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ulm localize`.
pub fn run(_args: Args, _ctx: &Context) -> anyhow::Result<()> {
    anyhow::bail!("`ulm localize` is not available yet")
}
