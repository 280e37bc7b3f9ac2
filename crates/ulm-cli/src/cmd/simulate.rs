//! `ulm simulate` (placeholder until its issue lands).

use super::Context;

/// Options of `ulm simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ulm simulate`.
pub fn run(_args: Args, _ctx: &Context) -> anyhow::Result<()> {
    anyhow::bail!("`ulm simulate` is not available yet")
}
