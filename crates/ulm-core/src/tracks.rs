/// One point of a track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackPoint {
    /// Frame index.
    pub frame: u32,
    /// Lateral position in mm.
    pub x_mm: f64,
    /// Depth in mm.
    pub z_mm: f64,
    /// Lateral velocity in mm/s (NaN where undefined, e.g. a one-point track).
    pub vx_mm_s: f64,
    /// Axial velocity in mm/s, positive towards depth (NaN where undefined).
    pub vz_mm_s: f64,
}

/// A linked sequence of localizations of one microbubble, ordered by frame (gaps allowed).
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Track identifier, unique within a [`Tracks`] set.
    pub id: u64,
    /// Points in increasing frame order.
    pub points: Vec<TrackPoint>,
}

impl Track {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the track has no points.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Frames spanned, first to last inclusive (gaps counted).
    pub fn span_frames(&self) -> u32 {
        match (self.points.first(), self.points.last()) {
            (Some(a), Some(b)) => b.frame - a.frame + 1,
            _ => 0,
        }
    }

    /// Recomputes velocities by finite differences in mm/s (central inside the track,
    /// one-sided at its ends; NaN for a single point).
    pub fn compute_velocities(&mut self, frame_rate_hz: f64) {
        let n = self.points.len();
        if n < 2 {
            for p in &mut self.points {
                p.vx_mm_s = f64::NAN;
                p.vz_mm_s = f64::NAN;
            }
            return;
        }
        let v = |a: &TrackPoint, b: &TrackPoint| {
            let dt = (b.frame as f64 - a.frame as f64) / frame_rate_hz;
            ((b.x_mm - a.x_mm) / dt, (b.z_mm - a.z_mm) / dt)
        };
        // In place (only the velocity fields change; the differences read positions).
        for i in 0..n {
            let (a, b) = if i == 0 {
                (0, 1)
            } else if i == n - 1 {
                (n - 2, n - 1)
            } else {
                (i - 1, i + 1)
            };
            let (vx, vz) = v(&self.points[a], &self.points[b]);
            let p = &mut self.points[i];
            p.vx_mm_s = vx;
            p.vz_mm_s = vz;
        }
    }
}

/// A set of tracks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tracks {
    /// The tracks.
    pub tracks: Vec<Track>,
}

impl Tracks {
    /// Tracks from `(track id, point)` rows in any order: tracks of increasing id, points
    /// sorted by frame (stable: rows of equal frame keep their order). Linear on a table
    /// already grouped and ordered.
    pub fn from_rows(mut rows: Vec<(u64, TrackPoint)>) -> Self {
        rows.sort_by_key(|(id, p)| (*id, p.frame));
        let mut tracks: Vec<Track> = Vec::new();
        for (id, p) in rows {
            match tracks.last_mut() {
                Some(t) if t.id == id => t.points.push(p),
                _ => tracks.push(Track { id, points: vec![p] }),
            }
        }
        Self { tracks }
    }

    /// Number of tracks.
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    /// Whether there are no tracks.
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Total number of points over all tracks.
    pub fn n_points(&self) -> usize {
        self.tracks.iter().map(Track::len).sum()
    }

    /// Keeps tracks with at least `min_len` points.
    pub fn retain_min_len(&mut self, min_len: usize) {
        self.tracks.retain(|t| t.len() >= min_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velocities_in_mm_per_s() {
        let p = |frame, x_mm, z_mm| TrackPoint { frame, x_mm, z_mm, vx_mm_s: 0.0, vz_mm_s: 0.0 };
        // 0.01 mm per frame at 1 kHz = 10 mm/s; a one-frame gap doubles dt.
        let mut t = Track { id: 1, points: vec![p(0, 0.0, 1.0), p(1, 0.01, 1.0), p(3, 0.03, 1.0)] };
        t.compute_velocities(1000.0);
        for q in &t.points {
            assert!((q.vx_mm_s - 10.0).abs() < 1e-9, "{q:?}");
            assert_eq!(q.vz_mm_s, 0.0);
        }
        assert_eq!(t.span_frames(), 4);
    }
}
