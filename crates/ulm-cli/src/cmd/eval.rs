//! `ulm eval` (placeholder until its issue lands). Localization metrics live here; map
//! metrics (`--maps`) in `eval_maps.rs`, flattened into these options.

use super::Context;

/// Options of `ulm eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    maps: super::eval_maps::MapArgs,
}

/// Runs `ulm eval`.
pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    if args.maps.requested() {
        return super::eval_maps::run(args.maps, ctx);
    }
    anyhow::bail!("`ulm eval` is not available yet")
}
