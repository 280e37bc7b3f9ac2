//! The streaming [`Linker`] (one frame at a time, bounded memory) and the batch
//! wrappers [`link`] / [`link_with`].

use std::collections::BTreeMap;

use ulm_core::{Localizations, Progress, Track, TrackPoint, Tracks};

use crate::index::CandidateIndex;
use crate::predict::{KalmanPredictor, NoPredictor, Predictor, VelocityPredictor};
use crate::subnet::{Edge, Subnets};
use crate::{LinkConfig, TrackError};

/// A track still open for linking.
#[derive(Debug, Clone)]
struct Live<S> {
    id: u64,
    points: Vec<TrackPoint>,
    last_pos: [f64; 2],
    last_frame: u32,
    /// Speed over the last accepted step, mm per frame.
    last_speed: Option<f64>,
    state: S,
}

/// Links localizations frame by frame. Memory holds only the open tracks (those seen in
/// the last `memory + 1` frames); closed tracks are handed out by
/// [`Linker::take_finished`].
///
/// ```
/// use ulm_track::{LinkConfig, Linker, NoPredictor};
/// let mut linker = Linker::new(LinkConfig::new(0.1, 1000.0), NoPredictor).unwrap();
/// let a = linker.next_frame(0, &[[0.0, 5.0], [1.0, 5.0]]).unwrap();
/// let b = linker.next_frame(1, &[[1.02, 5.0], [0.03, 5.0]]).unwrap();
/// assert_eq!((b[0], b[1]), (a[1], a[0]));
/// let tracks = linker.finish();
/// assert_eq!(tracks.len(), 2);
/// assert!((tracks[0].points[0].vx_mm_s - 30.0).abs() < 1e-9); // 0.03 mm per ms
/// ```
#[derive(Debug)]
pub struct Linker<P: Predictor> {
    config: LinkConfig,
    predictor: P,
    /// Open tracks in creation (= id) order.
    live: Vec<Live<P::State>>,
    /// Closed tracks not yet taken, by id.
    finished: BTreeMap<u64, Track>,
    next_id: u64,
    last_frame: Option<u32>,
    // Buffers reused from frame to frame.
    index: CandidateIndex,
    predicted: Vec<[f64; 2]>,
    edges: Vec<Edge>,
    subnets: Subnets,
    links: Vec<Option<usize>>,
    ids: Vec<u64>,
    closed: Vec<Live<P::State>>,
}

impl<P: Predictor> Linker<P> {
    /// A linker with a validated configuration and a predictor.
    pub fn new(config: LinkConfig, predictor: P) -> Result<Self, TrackError> {
        config.validate()?;
        Ok(Self {
            config,
            predictor,
            live: Vec::new(),
            finished: BTreeMap::new(),
            next_id: 0,
            last_frame: None,
            index: CandidateIndex::new(config.index),
            predicted: Vec::new(),
            edges: Vec::new(),
            subnets: Subnets::default(),
            links: Vec::new(),
            ids: Vec::new(),
            closed: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Number of open tracks.
    pub fn n_open(&self) -> usize {
        self.live.len()
    }

    /// Links the localizations `positions` (`[x_mm, z_mm]`) of `frame` to the open
    /// tracks. Frames must strictly increase; frames may be skipped (a skipped frame
    /// counts towards `memory`). Returns the track id given to each position.
    pub fn next_frame(&mut self, frame: u32, positions: &[[f64; 2]]) -> Result<Vec<u64>, TrackError> {
        self.push_frame(frame, positions)?;
        Ok(self.ids.clone())
    }

    /// [`Linker::next_frame`] without the ids: they are left in [`Linker::last_ids`], a
    /// buffer reused from frame to frame (no allocation per frame).
    pub fn push_frame(&mut self, frame: u32, positions: &[[f64; 2]]) -> Result<(), TrackError> {
        if let Some(last) = self.last_frame
            && frame <= last
        {
            return Err(TrackError::FrameOrder { last, got: frame });
        }
        if let Some(index) = positions.iter().position(|p| !(p[0].is_finite() && p[1].is_finite())) {
            return Err(TrackError::NonFinite { frame, index });
        }
        self.last_frame = Some(frame);
        self.expire(frame);

        let r = self.config.search_range_mm;
        self.candidates(frame, positions);
        let mut links = std::mem::take(&mut self.links);
        self.subnets.solve(self.live.len(), positions.len(), &self.edges, r * r, &mut links);

        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.resize(positions.len(), 0);
        for (d, link) in links.iter().enumerate() {
            let pos = positions[d];
            let accepted = link.filter(|&s| self.accept(s, frame, pos));
            match accepted {
                Some(s) => {
                    let t = &mut self.live[s];
                    let step = ((pos[0] - t.last_pos[0]).powi(2) + (pos[1] - t.last_pos[1]).powi(2)).sqrt();
                    t.last_speed = Some(step / (frame - t.last_frame) as f64);
                    t.last_pos = pos;
                    t.last_frame = frame;
                    t.points.push(point(frame, pos));
                    self.predictor.observe(&mut t.state, frame, pos);
                    ids[d] = t.id;
                }
                None => ids[d] = u64::MAX, // new track, numbered below in input order
            }
        }
        self.links = links;
        for (d, id) in ids.iter_mut().enumerate() {
            if *id == u64::MAX {
                *id = self.open(frame, positions[d]);
            }
        }
        self.ids = ids;
        Ok(())
    }

    /// The track id given to each position by the last [`Linker::push_frame`] (or
    /// [`Linker::next_frame`]).
    pub fn last_ids(&self) -> &[u64] {
        &self.ids
    }

    /// Tracks closed so far (memory expired), sorted by id, each with velocities in mm/s,
    /// those shorter than `min_length` already dropped.
    pub fn take_finished(&mut self) -> Vec<Track> {
        std::mem::take(&mut self.finished).into_values().collect()
    }

    /// The closed tracks whose ids are below every open track's id, sorted by id: the next
    /// run of the output in id order, final (no later frame can add a track before them).
    /// Concatenating `take_ready` after each frame and [`Linker::finish`] at the end gives
    /// exactly the tracks of [`Linker::finish`] alone, in the same order.
    pub fn take_ready(&mut self) -> Vec<Track> {
        // Ids are given in creation order and `live` keeps that order.
        let bound = self.live.first().map_or(self.next_id, |t| t.id);
        if self.finished.first_key_value().is_none_or(|(&id, _)| id >= bound) {
            return Vec::new();
        }
        let later = self.finished.split_off(&bound);
        std::mem::replace(&mut self.finished, later).into_values().collect()
    }

    /// Closes every open track and returns all tracks not yet taken, sorted by id.
    pub fn finish(mut self) -> Vec<Track> {
        let live = std::mem::take(&mut self.live);
        for t in live {
            self.close(t);
        }
        self.take_finished()
    }

    fn open(&mut self, frame: u32, pos: [f64; 2]) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.live.push(Live {
            id,
            points: {
                // Typical tracks are tens of points: fewer reallocations than from 1.
                let mut p = Vec::with_capacity(8);
                p.push(point(frame, pos));
                p
            },
            last_pos: pos,
            last_frame: frame,
            last_speed: None,
            state: self.predictor.start(frame, pos),
        });
        id
    }

    /// Closes tracks that can no longer be continued at `frame`.
    fn expire(&mut self, frame: u32) {
        let horizon = self.config.memory as u64 + 1;
        // Order-preserving, so that sources stay in creation order (reproducible ties).
        let mut closed = std::mem::take(&mut self.closed);
        closed.extend(self.live.extract_if(.., |t| (frame - t.last_frame) as u64 > horizon));
        for t in closed.drain(..) {
            self.close(t);
        }
        self.closed = closed;
    }

    fn close(&mut self, t: Live<P::State>) {
        if t.points.len() >= self.config.min_length.max(1) {
            let mut track = Track { id: t.id, points: t.points };
            track.compute_velocities(self.config.frame_rate_hz);
            self.finished.insert(track.id, track);
        }
    }

    /// Candidate links: every (open track, position) pair within the search range of
    /// the track's predicted position.
    fn candidates(&mut self, frame: u32, positions: &[[f64; 2]]) {
        self.edges.clear();
        if self.live.is_empty() || positions.is_empty() {
            return;
        }
        let r = self.config.search_range_mm;
        self.predicted.clear();
        self.predicted.extend(self.live.iter().map(|t| self.predictor.predict(&t.state, frame)));
        self.index.rebuild(&self.predicted, r);
        for (d, &p) in positions.iter().enumerate() {
            self.index.within(p, r, |s, d2| self.edges.push((s, d, d2)));
        }
    }

    /// Velocity rejection: is the step of open track `s` to `pos` at `frame` plausible?
    fn accept(&self, s: usize, frame: u32, pos: [f64; 2]) -> bool {
        let (Some(ratio), Some(prev)) = (self.config.max_speed_ratio, self.live[s].last_speed) else {
            return true;
        };
        let t = &self.live[s];
        let step = ((pos[0] - t.last_pos[0]).powi(2) + (pos[1] - t.last_pos[1]).powi(2)).sqrt();
        let speed = step / (frame - t.last_frame) as f64;
        speed <= ratio * prev || speed <= self.config.min_rejectable_step_mm
    }
}

fn point(frame: u32, pos: [f64; 2]) -> TrackPoint {
    TrackPoint { frame, x_mm: pos[0], z_mm: pos[1], vx_mm_s: f64::NAN, vz_mm_s: f64::NAN }
}

/// Which predictor to use, for callers that choose at run time (the CLI).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PredictorKind {
    /// [`NoPredictor`] (Brownian; trackpy's default).
    None,
    /// [`VelocityPredictor`] (the paper's Eq. 6).
    Velocity,
    /// [`KalmanPredictor::from_search_range`].
    Kalman,
}

/// Result of batch linking: the tracks and, for each input row, its track id (`None`
/// where its track was dropped by the length filter).
#[derive(Debug, Clone, Default)]
pub struct Linked {
    /// Tracks sorted by id, velocities in mm/s.
    pub tracks: Tracks,
    /// Track id of each localization row, in input order.
    pub row_track: Vec<Option<u64>>,
}

/// Links a whole localization table with the given predictor.
pub fn link<P: Predictor>(
    locs: &Localizations,
    config: &LinkConfig,
    predictor: P,
    progress: &dyn Progress,
) -> Result<Linked, TrackError> {
    let mut linker = Linker::new(*config, predictor)?;
    let by_frame = locs.rows_by_frame(0);
    progress.set_total(by_frame.len() as u64);
    let mut row_id = vec![u64::MAX; locs.len()];
    let mut pos = Vec::new();
    for (frame, rows) in by_frame.iter().enumerate() {
        if !rows.is_empty() {
            pos.clear();
            pos.extend(rows.iter().map(|&i| [locs.x_mm[i], locs.z_mm[i]]));
            linker.push_frame(frame as u32, &pos)?;
            for (&i, &id) in rows.iter().zip(linker.last_ids()) {
                row_id[i] = id;
            }
        }
        progress.inc(1);
    }
    let tracks = linker.finish();
    let kept: std::collections::HashSet<u64> = tracks.iter().map(|t| t.id).collect();
    let row_track = row_id.into_iter().map(|id| kept.contains(&id).then_some(id)).collect();
    progress.finish();
    Ok(Linked { tracks: Tracks { tracks }, row_track })
}

/// [`link`] with a predictor chosen at run time.
pub fn link_with(
    locs: &Localizations,
    config: &LinkConfig,
    kind: PredictorKind,
    progress: &dyn Progress,
) -> Result<Linked, TrackError> {
    match kind {
        PredictorKind::None => link(locs, config, NoPredictor, progress),
        PredictorKind::Velocity => link(locs, config, VelocityPredictor, progress),
        PredictorKind::Kalman => {
            link(locs, config, KalmanPredictor::from_search_range(config.search_range_mm), progress)
        }
    }
}
