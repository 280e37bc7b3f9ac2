//! Map evaluation options of `ulm eval` (`--maps …`): Dice, MTF, FRC (placeholder until its
//! issue lands).

/// Map-evaluation options, flattened into `ulm eval`'s options.
#[derive(Debug, Default, clap::Args)]
pub struct MapArgs {}

impl MapArgs {
    /// Whether any map evaluation was asked for.
    pub fn requested(&self) -> bool {
        false
    }
}

/// Runs the map evaluation.
pub fn run(_args: MapArgs, _ctx: &super::Context) -> anyhow::Result<()> {
    anyhow::bail!("map evaluation is not available yet")
}
