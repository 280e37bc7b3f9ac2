//! `ulm filter` (placeholder until its issue lands).

use super::Context;

/// Options of `ulm filter`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ulm filter`.
pub fn run(_args: Args, _ctx: &Context) -> anyhow::Result<()> {
    anyhow::bail!("`ulm filter` is not available yet")
}
