use thiserror::Error;

/// Errors of the tracking stage.
#[derive(Debug, Error)]
pub enum TrackError {
    /// A configuration value is out of range.
    #[error("invalid tracking configuration: {0}")]
    Config(String),
    /// Frames were not given in strictly increasing order.
    #[error("frame {got} given after frame {last}: frames must strictly increase")]
    FrameOrder {
        /// The last frame seen.
        last: u32,
        /// The offending frame.
        got: u32,
    },
    /// A position is NaN or infinite.
    #[error("frame {frame}: localization {index} has a non-finite position")]
    NonFinite {
        /// Frame index.
        frame: u32,
        /// Index of the localization within its frame.
        index: usize,
    },
}
