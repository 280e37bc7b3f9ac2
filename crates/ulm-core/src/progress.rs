/// Progress reporting for long library work. Library crates never print; the CLI passes
/// an implementation that draws a progress bar.
pub trait Progress: Sync {
    /// Sets (or resets) the total number of steps.
    fn set_total(&self, total: u64);
    /// Advances by `n` steps.
    fn inc(&self, n: u64);
    /// Describes the current phase (e.g. "SVD block 3/8").
    fn set_message(&self, _msg: &str) {}
    /// Marks the work as finished.
    fn finish(&self) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_total(&self, _total: u64) {}
    fn inc(&self, _n: u64) {}
}
