use serde::{Deserialize, Serialize};

use crate::{SpatialIndex, TrackError};

/// Linking parameters. Positions in mm, time in frames, velocities reported in mm/s.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinkConfig {
    /// Largest distance (mm) between a bubble's predicted position and a candidate in
    /// the next frame (trackpy's `search_range`).
    pub search_range_mm: f64,
    /// Frames a bubble may vanish and still be linked (trackpy's `memory`): a track last
    /// seen at frame `f` can continue at frames up to `f + memory + 1`.
    pub memory: u32,
    /// Tracks with fewer points are dropped (trackpy's `filter_stubs`).
    pub min_length: usize,
    /// Velocity rejection: a step whose speed exceeds this multiple of the track's speed
    /// over its previous step is dropped (the paper uses 3). `None` disables it.
    pub max_speed_ratio: Option<f64>,
    /// Steps no longer than this (mm per frame) are never rejected, so that a bubble
    /// that was (nearly) still can start moving.
    pub min_rejectable_step_mm: f64,
    /// Frame rate in Hz, for velocities in mm/s.
    pub frame_rate_hz: f64,
    /// Spatial index for the candidates within the search range. Both give identical
    /// links (tested); the default, [`SpatialIndex::Grid`], is the faster one here.
    /// Measured with `cargo bench -p ulm-track --bench link` (2-core machine, velocity
    /// predictor, memory 1, 0.15 mm range): linking 1,000 frames × 200 bubbles took
    /// 37.8 ms with the grid vs 44.1 ms with the KD-tree, 1,000 × 2,000 took 1.24 s vs
    /// 1.43 s; the index alone (build + one query per point) 8.0 vs 8.7 µs per
    /// 200-point frame and 74 vs 186 µs per 2,000-point frame. A grid query is O(1)
    /// cells for a fixed radius, a tree query descends O(log n) levels.
    #[serde(default)]
    pub index: SpatialIndex,
}

impl LinkConfig {
    /// A configuration with the given search range and frame rate, no memory, no length
    /// filter and no velocity rejection.
    pub fn new(search_range_mm: f64, frame_rate_hz: f64) -> Self {
        Self {
            search_range_mm,
            memory: 0,
            min_length: 1,
            max_speed_ratio: None,
            min_rejectable_step_mm: 0.0,
            frame_rate_hz,
            index: SpatialIndex::default(),
        }
    }

    /// Checks ranges: search range and frame rate finite and > 0, ratio ≥ 1, floor ≥ 0.
    pub fn validate(&self) -> Result<(), TrackError> {
        let bad = |m: String| Err(TrackError::Config(m));
        if !(self.search_range_mm.is_finite() && self.search_range_mm > 0.0) {
            return bad(format!("search range must be > 0 mm, got {}", self.search_range_mm));
        }
        if !(self.frame_rate_hz.is_finite() && self.frame_rate_hz > 0.0) {
            return bad(format!("frame rate must be > 0 Hz, got {}", self.frame_rate_hz));
        }
        if let Some(r) = self.max_speed_ratio
            && !(r.is_finite() && r >= 1.0)
        {
            return bad(format!("maximum speed ratio must be ≥ 1, got {r}"));
        }
        if !(self.min_rejectable_step_mm.is_finite() && self.min_rejectable_step_mm >= 0.0) {
            return bad(format!("minimum rejectable step must be ≥ 0 mm, got {}", self.min_rejectable_step_mm));
        }
        Ok(())
    }
}
