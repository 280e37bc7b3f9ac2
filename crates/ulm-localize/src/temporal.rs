//! Temporal support: a localization is kept only where a bubble is also found in a
//! neighbouring frame.
//!
//! A microbubble echo persists over several frames at ULM frame rates (it moves a fraction
//! of a wavelength per frame), while the false detections of a single-frame localizer —
//! noise peaks near the threshold — do not repeat at the same place. The filter keeps a
//! localization of frame `f` when at least [`TemporalSupport::min_frames`] of the frames
//! `f ± 1 … f ± frames` hold a localization within the distance a bubble can travel in
//! between: `tolerance_wavelengths · λ + max_speed_mm_s · |Δf| / frame_rate_hz`. It applies
//! to any method's table (it reads only `frame`, `x_mm`, `z_mm`), before tracking.
//!
//! What it costs: a bubble seen in one frame only (entering and leaving the plane within
//! a frame) is dropped, and one faster than `max_speed_mm_s` may be. The tracker's
//! shortest-track rule (`ulm track --min-length`) makes the same bet later; this filter
//! makes it on the localizations themselves, so that per-frame figures (precision,
//! density maps) see it.
//!
//! ```
//! use ulm_core::{Geometry, Localizations};
//! use ulm_localize::TemporalSupport;
//!
//! // λ = 0.1 mm, 1000 frames/s: a bubble moving 0.02 mm per frame, and a lone echo.
//! let g = Geometry::new(0.05, 0.05, 0.0, 0.0, 0.1, 1000.0).unwrap();
//! let mut t = Localizations::new();
//! for f in 0..4 {
//!     t.push(f, 1.0 + 0.02 * f as f64, 2.0, 0.9);
//! }
//! t.push(2, 3.0, 4.0, 0.5);
//! let kept = TemporalSupport::default().apply(&t, &g).unwrap();
//! assert_eq!(kept.len(), 4);
//! assert!(kept.x_mm.iter().all(|&x| x < 2.0));
//! ```

use serde::{Deserialize, Serialize};
use ulm_core::{Geometry, Localizations};

use crate::LocalizeError;

/// Settings of the temporal-support filter (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TemporalSupport {
    /// Frames looked at on each side (1: the previous and the next frame) [default: 2].
    pub frames: usize,
    /// Fastest bubble expected, mm/s: the search radius grows by this speed times the
    /// time between the frames [default: 50].
    pub max_speed_mm_s: f64,
    /// Search radius for a bubble that does not move, in wavelengths: the localization
    /// error allowed between the two frames [default: 0.5, the pairing gate].
    pub tolerance_wavelengths: f64,
    /// How many of the `2 × frames` neighbouring frames must hold a localization in
    /// reach [default: 1].
    pub min_frames: usize,
}

impl Default for TemporalSupport {
    fn default() -> Self {
        Self { frames: 2, max_speed_mm_s: 50.0, tolerance_wavelengths: 0.5, min_frames: 1 }
    }
}

impl TemporalSupport {
    /// Checks the settings: `frames ≥ 1`, `1 ≤ min_frames ≤ 2 × frames`, finite
    /// non-negative speed and tolerance, not both zero.
    pub fn validate(&self) -> Result<(), LocalizeError> {
        let bad = |m: String| Err(LocalizeError::Config(format!("temporal support: {m}")));
        if self.frames == 0 {
            return bad("frames must be >= 1".into());
        }
        if self.min_frames == 0 || self.min_frames > 2 * self.frames {
            return bad(format!("min_frames must be in 1..={} (2 × frames), got {}", 2 * self.frames, self.min_frames));
        }
        for (name, v) in
            [("max_speed_mm_s", self.max_speed_mm_s), ("tolerance_wavelengths", self.tolerance_wavelengths)]
        {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} must be finite and >= 0, got {v}"));
            }
        }
        if self.max_speed_mm_s == 0.0 && self.tolerance_wavelengths == 0.0 {
            return bad("max_speed_mm_s and tolerance_wavelengths are both 0: nothing would be in reach".into());
        }
        Ok(())
    }

    /// The defaults with `frames` on each side and `max_speed_mm_s`, validated; `None` for
    /// `frames = 0` (off): the command-line form (`--temporal-support K --max-speed V`).
    pub fn from_frames(frames: usize, max_speed_mm_s: f64) -> Result<Option<Self>, LocalizeError> {
        if frames == 0 {
            return Ok(None);
        }
        let s = Self { frames, max_speed_mm_s, ..Self::default() };
        s.validate()?;
        Ok(Some(s))
    }

    /// `table` through `filter` when there is one, with the number of rows before it
    /// (`None` without a filter: `table` comes back as it is). What every caller records
    /// as `n_before_temporal_support`.
    pub fn apply_optional(
        filter: Option<&Self>,
        table: Localizations,
        geometry: &Geometry,
    ) -> Result<(Localizations, Option<usize>), LocalizeError> {
        match filter {
            Some(f) => Ok((f.apply(&table, geometry)?, Some(table.len()))),
            None => Ok((table, None)),
        }
    }

    /// Search radius in mm between frames `gap` apart.
    pub fn radius_mm(&self, gap: usize, geometry: &Geometry) -> f64 {
        self.tolerance_wavelengths * geometry.wavelength_mm + self.max_speed_mm_s * gap as f64 / geometry.frame_rate_hz
    }

    /// One flag per row of `table`: whether it has temporal support. Rows may come in
    /// any order; positions must be finite ([`Localizations::validate`]).
    pub fn support(&self, table: &Localizations, geometry: &Geometry) -> Result<Vec<bool>, LocalizeError> {
        self.validate()?;
        table.validate().map_err(|e| LocalizeError::Config(format!("localization table: {e}")))?;
        let by_frame = FrameIndex::new(table);
        let radii: Vec<f64> = (1..=self.frames).map(|gap| self.radius_mm(gap, geometry)).collect();
        let keep = (0..table.len())
            .map(|i| {
                let (f, x, z) = (table.frame[i] as i64, table.x_mm[i], table.z_mm[i]);
                let mut found = 0;
                for (k, &r) in radii.iter().enumerate() {
                    let gap = k as i64 + 1;
                    for nf in [f - gap, f + gap] {
                        if by_frame.any_within(table, nf, x, z, r) {
                            found += 1;
                        }
                    }
                }
                found >= self.min_frames
            })
            .collect();
        Ok(keep)
    }

    /// The rows of `table` with temporal support, in their order, every column kept.
    pub fn apply(&self, table: &Localizations, geometry: &Geometry) -> Result<Localizations, LocalizeError> {
        let keep = self.support(table, geometry)?;
        let idx: Vec<usize> = keep.iter().enumerate().filter_map(|(i, &k)| k.then_some(i)).collect();
        Ok(table.select(&idx))
    }
}

/// Rows grouped by frame, each group sorted by `x_mm`, for range queries.
struct FrameIndex {
    /// `(frame, rows sorted by x)`, sorted by frame.
    frames: Vec<(i64, Vec<usize>)>,
}

impl FrameIndex {
    fn new(table: &Localizations) -> Self {
        let mut order: Vec<usize> = (0..table.len()).collect();
        order.sort_by(|&a, &b| table.frame[a].cmp(&table.frame[b]).then(table.x_mm[a].total_cmp(&table.x_mm[b])));
        let mut frames: Vec<(i64, Vec<usize>)> = Vec::new();
        for i in order {
            let f = table.frame[i] as i64;
            match frames.last_mut() {
                Some((last, rows)) if *last == f => rows.push(i),
                _ => frames.push((f, vec![i])),
            }
        }
        Self { frames }
    }

    /// Whether frame `f` holds a row within `r` mm of `(x, z)`.
    fn any_within(&self, table: &Localizations, f: i64, x: f64, z: f64, r: f64) -> bool {
        let Ok(k) = self.frames.binary_search_by_key(&f, |(frame, _)| *frame) else {
            return false;
        };
        let rows = &self.frames[k].1;
        let start = rows.partition_point(|&j| table.x_mm[j] < x - r);
        rows[start..]
            .iter()
            .take_while(|&&j| table.x_mm[j] <= x + r)
            .any(|&j| (table.x_mm[j] - x).hypot(table.z_mm[j] - z) <= r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// λ = 0.1 mm, 1000 frames/s.
    fn geometry() -> Geometry {
        Geometry::new(0.05, 0.05, 0.0, 0.0, 0.1, 1000.0).unwrap()
    }

    #[test]
    fn radius_by_hand() {
        let s = TemporalSupport::default();
        // 0.5 λ + 50 mm/s × gap / 1000 Hz = 0.05 + 0.05 × gap mm.
        assert!((s.radius_mm(1, &geometry()) - 0.10).abs() < 1e-12);
        assert!((s.radius_mm(2, &geometry()) - 0.15).abs() < 1e-12);
    }

    #[test]
    fn keeps_rows_in_reach_by_hand() {
        let g = geometry();
        let mut t = Localizations::new();
        // Rows out of frame order on purpose.
        t.push(5, 1.0, 1.0, 0.9); // 0: partner row 1 at 0.099 mm, frame 6 → kept
        t.push(6, 1.099, 1.0, 0.8); // 1: kept (row 0)
        t.push(10, 2.0, 2.0, 0.7); // 2: frame 11 partner at 0.101 mm > 0.10; frame 12 at 0.149 ≤ 0.15 → kept
        t.push(11, 2.0, 2.101, 0.7); // 3: row 2 at 0.101 (gap 1, > 0.10); row 4 at 0.048 (gap 1) → kept
        t.push(12, 2.0, 2.149, 0.7); // 4: row 3 (gap 1, 0.048) → kept
        t.push(20, 3.0, 3.0, 0.6); // 5: frame 21 at 0.1005 mm (> 0.10), frame 23 is gap 3 → dropped
        t.push(21, 3.0 + 0.1005, 3.0, 0.6); // 6: row 5 too far at gap 1; row 7 at gap 2, 0.1005 ≤ 0.15 → kept
        t.push(23, 3.0, 3.0, 0.6); // 7: row 6 (gap 2) at 0.1005 ≤ 0.15 → kept
        t.push(30, 4.0, 4.0, 0.5); // 8: nothing else in frames 28..=32 → dropped
        t.push(30, 4.01, 4.0, 0.5); // 9: the same frame does not count → dropped
        let keep = TemporalSupport::default().support(&t, &g).unwrap();
        assert_eq!(keep, [true, true, true, true, true, false, true, true, false, false]);
    }

    #[test]
    fn min_frames_and_frames() {
        let g = geometry();
        let mut t = Localizations::new();
        for f in 0..5 {
            t.push(f, 1.0, 1.0, 1.0);
        }
        // One frame each side, both needed: the ends have one neighbour only.
        let s = TemporalSupport { frames: 1, min_frames: 2, ..TemporalSupport::default() };
        assert_eq!(s.support(&t, &g).unwrap(), [false, true, true, true, false]);
        // Four neighbours of four: only the middle row.
        let s = TemporalSupport { frames: 2, min_frames: 4, ..TemporalSupport::default() };
        assert_eq!(s.support(&t, &g).unwrap(), [false, false, true, false, false]);
    }

    #[test]
    fn apply_keeps_every_column() {
        let g = geometry();
        let mut t = Localizations::new();
        t.push(0, 1.0, 1.0, 0.9);
        t.push(0, 5.0, 5.0, 0.4);
        t.push(1, 1.01, 1.0, 0.8);
        t.w_mm = Some(vec![0.1, 0.2, 0.3]);
        t.h_mm = Some(vec![0.4, 0.5, 0.6]);
        t.set_extra("track_id", vec!["7".into(), "8".into(), "9".into()]);
        let kept = TemporalSupport::default().apply(&t, &g).unwrap();
        assert_eq!(kept.frame, [0, 1]);
        assert_eq!(kept.score, [0.9, 0.8]);
        assert_eq!(kept.w_mm.as_deref(), Some(&[0.1, 0.3][..]));
        assert_eq!(kept.h_mm.as_deref(), Some(&[0.4, 0.6][..]));
        assert_eq!(kept.extra("track_id").unwrap().values, ["7", "9"]);
        let empty = TemporalSupport::default().apply(&Localizations::new(), &g).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn command_line_form_and_optional_apply() {
        let g = geometry();
        assert_eq!(TemporalSupport::from_frames(0, -1.0).unwrap(), None);
        let s = TemporalSupport::from_frames(3, 80.0).unwrap().unwrap();
        assert_eq!((s.frames, s.max_speed_mm_s, s.min_frames, s.tolerance_wavelengths), (3, 80.0, 1, 0.5));
        assert!(TemporalSupport::from_frames(2, f64::NAN).is_err());
        let mut t = Localizations::new();
        t.push(0, 1.0, 1.0, 0.9);
        t.push(1, 1.0, 1.0, 0.9);
        t.push(1, 3.0, 3.0, 0.9);
        let (kept, before) = TemporalSupport::apply_optional(Some(&s), t.clone(), &g).unwrap();
        assert_eq!((kept.len(), before), (2, Some(3)));
        let (same, before) = TemporalSupport::apply_optional(None, t.clone(), &g).unwrap();
        assert_eq!((same, before), (t, None));
    }

    #[test]
    fn bad_settings_and_tables() {
        let g = geometry();
        let t = Localizations::new();
        for s in [
            TemporalSupport { frames: 0, ..TemporalSupport::default() },
            TemporalSupport { min_frames: 0, ..TemporalSupport::default() },
            TemporalSupport { min_frames: 5, ..TemporalSupport::default() },
            TemporalSupport { max_speed_mm_s: f64::NAN, ..TemporalSupport::default() },
            TemporalSupport { max_speed_mm_s: -1.0, ..TemporalSupport::default() },
            TemporalSupport { tolerance_wavelengths: f64::INFINITY, ..TemporalSupport::default() },
            TemporalSupport { max_speed_mm_s: 0.0, tolerance_wavelengths: 0.0, ..TemporalSupport::default() },
        ] {
            assert!(s.support(&t, &g).is_err(), "{s:?}");
        }
        let mut bad = Localizations::new();
        bad.push(0, f64::NAN, 1.0, 1.0);
        let e = TemporalSupport::default().support(&bad, &g).unwrap_err().to_string();
        assert!(e.contains("non-finite"), "{e}");
    }

    /// The sorted-range search against a brute-force pass over every pair.
    #[test]
    fn matches_brute_force() {
        let g = geometry();
        let mut t = Localizations::new();
        // A deterministic scatter: 60 frames, up to 7 rows each, in a 0.5 mm square.
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for f in 0..60 {
            for _ in 0..(f % 8) {
                t.push(f, 0.5 * next(), 0.5 * next(), 1.0);
            }
        }
        for s in [
            TemporalSupport::default(),
            TemporalSupport { frames: 1, min_frames: 2, ..TemporalSupport::default() },
            TemporalSupport { frames: 3, min_frames: 2, max_speed_mm_s: 120.0, ..TemporalSupport::default() },
        ] {
            let fast = s.support(&t, &g).unwrap();
            let brute: Vec<bool> = (0..t.len())
                .map(|i| {
                    let mut n = 0;
                    for gap in 1..=s.frames as i64 {
                        for nf in [t.frame[i] as i64 - gap, t.frame[i] as i64 + gap] {
                            let r = s.radius_mm(gap as usize, &g);
                            if (0..t.len()).any(|j| {
                                t.frame[j] as i64 == nf && (t.x_mm[j] - t.x_mm[i]).hypot(t.z_mm[j] - t.z_mm[i]) <= r
                            }) {
                                n += 1;
                            }
                        }
                    }
                    n >= s.min_frames
                })
                .collect();
            assert_eq!(fast, brute, "{s:?}");
            assert!(fast.iter().any(|&k| k) && fast.iter().any(|&k| !k), "{s:?}: the scatter must test both outcomes");
        }
    }
}
