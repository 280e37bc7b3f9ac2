//! `ulm track` (placeholder until its issue lands).

use super::Context;

/// Options of `ulm track`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ulm track`.
pub fn run(_args: Args, _ctx: &Context) -> anyhow::Result<()> {
    anyhow::bail!("`ulm track` is not available yet")
}
