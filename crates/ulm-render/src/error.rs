use thiserror::Error;

/// Errors of the rendering stage.
#[derive(Debug, Error)]
pub enum RenderError {
    /// A parameter is out of range.
    #[error("invalid rendering parameter: {0}")]
    Config(String),
    /// The map grid would be empty or unreasonably large.
    #[error("map grid: {0}")]
    Grid(String),
    /// An error of the shared data model (e.g. reading frames).
    #[error(transparent)]
    Core(#[from] ulm_core::Error),
}
