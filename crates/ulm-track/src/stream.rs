//! [`link_frames`]: the streaming loop from frames in to tracks out, for file-to-file
//! linking that reads, links and writes at the same time.

use std::time::{Duration, Instant};

use ulm_core::{Progress, Track};

use crate::predict::{KalmanPredictor, NoPredictor, Predictor, VelocityPredictor};
use crate::{LinkConfig, Linker, PredictorKind, TrackError};

/// Points handed to the sink at once (at least; whole tracks): few enough wake-ups of a
/// writer thread, a short wait for the first ones.
const EMIT_POINTS: usize = 4096;

/// What [`link_frames`] consumed and produced.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StreamStats {
    /// Localizations read.
    pub rows: usize,
    /// Highest frame with localizations + 1 (0 for no input).
    pub n_frames: usize,
    /// Tracks handed to the sink (those of at least `min_length` points).
    pub tracks: usize,
    /// Points of those tracks.
    pub points: usize,
    /// Seconds spent inside the linker, not waiting for input or for the sink: comparable
    /// with [`link`](crate::link) on an in-memory table.
    pub link_secs: f64,
}

/// Links frames as they arrive and hands finished tracks to `sink` as soon as they are
/// final, in increasing id order, in batches of whole tracks: the concatenated batches
/// are exactly the tracks of [`link`](crate::link) on the same localizations.
///
/// `frames` yields `(frame, [x_mm, z_mm] positions)` in strictly increasing frame order
/// (frames without localizations may be left out; they count towards `memory`). The first
/// error of `frames`, of the linker (converted by `From<TrackError>`) or of `sink` stops
/// the loop and is returned. `progress` gets one step per frame number, up to the last
/// frame; its total is the caller's to set.
pub fn link_frames<P, E>(
    frames: impl IntoIterator<Item = Result<(u32, Vec<[f64; 2]>), E>>,
    config: &LinkConfig,
    predictor: P,
    progress: &dyn Progress,
    mut sink: impl FnMut(Vec<Track>) -> Result<(), E>,
) -> Result<StreamStats, E>
where
    P: Predictor,
    E: From<TrackError>,
{
    let mut linker = Linker::new(*config, predictor)?;
    let mut stats = StreamStats::default();
    let mut busy = Duration::ZERO;
    let mut batch: Vec<Track> = Vec::new();
    let mut batch_points = 0;
    for item in frames {
        let (frame, positions) = item?;
        let start = Instant::now();
        linker.push_frame(frame, &positions)?;
        let ready = linker.take_ready();
        busy += start.elapsed();
        stats.rows += positions.len();
        progress.inc(frame as u64 + 1 - stats.n_frames as u64);
        stats.n_frames = frame as usize + 1;
        batch_points += ready.iter().map(Track::len).sum::<usize>();
        batch.extend(ready);
        if batch_points >= EMIT_POINTS {
            stats.tracks += batch.len();
            stats.points += batch_points;
            sink(std::mem::take(&mut batch))?;
            batch_points = 0;
        }
    }
    let start = Instant::now();
    batch.extend(linker.finish());
    busy += start.elapsed();
    stats.tracks += batch.len();
    stats.points += batch.iter().map(Track::len).sum::<usize>();
    if !batch.is_empty() {
        sink(batch)?;
    }
    stats.link_secs = busy.as_secs_f64();
    progress.finish();
    Ok(stats)
}

/// [`link_frames`] with a predictor chosen at run time.
pub fn link_frames_with<E: From<TrackError>>(
    frames: impl IntoIterator<Item = Result<(u32, Vec<[f64; 2]>), E>>,
    config: &LinkConfig,
    kind: PredictorKind,
    progress: &dyn Progress,
    sink: impl FnMut(Vec<Track>) -> Result<(), E>,
) -> Result<StreamStats, E> {
    match kind {
        PredictorKind::None => link_frames(frames, config, NoPredictor, progress, sink),
        PredictorKind::Velocity => link_frames(frames, config, VelocityPredictor, progress, sink),
        PredictorKind::Kalman => {
            let p = KalmanPredictor::from_search_range(config.search_range_mm);
            link_frames(frames, config, p, progress, sink)
        }
    }
}
