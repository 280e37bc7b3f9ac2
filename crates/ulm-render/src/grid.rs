use serde::{Deserialize, Serialize};
use ulm_core::{Geometry, Localizations, Tracks};

use crate::RenderError;

/// Largest map the renderer accepts (pixels), a guard against a mistyped pixel size.
pub const MAX_PIXELS: usize = 1 << 28;

/// The pixel grid of a map: a geometry (pixel centres at integer indices) and a size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MapGrid {
    /// Geometry of the map's pixels (pitch, origin, wavelength, frame rate).
    pub geometry: Geometry,
    /// Rows (depth).
    pub rows: usize,
    /// Columns (lateral).
    pub cols: usize,
}

impl MapGrid {
    /// The super-resolved grid over the field of view of a `rows × cols` acquisition
    /// with geometry `base`, with square pixels of `pixel_mm` (e.g. λ/10). The field of
    /// view runs from the outer edge of the first pixel to that of the last; the map
    /// covers it with whole pixels starting at the same corner.
    pub fn super_resolved(base: &Geometry, rows: usize, cols: usize, pixel_mm: f64) -> Result<Self, RenderError> {
        let width = cols as f64 * base.pixel_size_x_mm;
        let depth = rows as f64 * base.pixel_size_z_mm;
        let x_lo = base.x0_mm - base.pixel_size_x_mm / 2.0;
        let z_lo = base.z0_mm - base.pixel_size_z_mm / 2.0;
        Self::covering(x_lo, x_lo + width, z_lo, z_lo + depth, pixel_mm, base)
    }

    /// The grid of square `pixel_mm` pixels covering `[x_lo, x_hi] × [z_lo, z_hi]` (mm),
    /// first pixel's outer corner at `(x_lo, z_lo)`; wavelength and frame rate from `like`.
    pub fn covering(
        x_lo: f64,
        x_hi: f64,
        z_lo: f64,
        z_hi: f64,
        pixel_mm: f64,
        like: &Geometry,
    ) -> Result<Self, RenderError> {
        if !(pixel_mm.is_finite() && pixel_mm > 0.0) {
            return Err(RenderError::Config(format!("pixel size must be > 0 mm, got {pixel_mm}")));
        }
        if !(x_hi > x_lo && z_hi > z_lo) {
            return Err(RenderError::Grid(format!("empty field of view x [{x_lo}, {x_hi}], z [{z_lo}, {z_hi}] mm")));
        }
        // Round up, forgiving float noise just above an integer.
        let n = |len: f64| ((len / pixel_mm) - 1e-9).ceil().max(1.0);
        let (cols, rows) = (n(x_hi - x_lo), n(z_hi - z_lo));
        if cols * rows > MAX_PIXELS as f64 {
            return Err(RenderError::Grid(format!(
                "{rows} × {cols} pixels of {pixel_mm} mm is too large (limit {MAX_PIXELS})"
            )));
        }
        let geometry = Geometry::new(
            pixel_mm,
            pixel_mm,
            x_lo + pixel_mm / 2.0,
            z_lo + pixel_mm / 2.0,
            like.wavelength_mm,
            like.frame_rate_hz,
        )?;
        Ok(Self { geometry, rows: rows as usize, cols: cols as usize })
    }

    /// The super-resolved grid over every localization and track point (no margin): the
    /// field of view of the data when neither a given field nor the acquisition grid says
    /// what it is (`ulm render` and `ulm.render`).
    ///
    /// # Errors
    /// No localization and no track point, or an invalid grid.
    pub fn bounding_data(
        locs: Option<&Localizations>,
        tracks: Option<&Tracks>,
        base: &Geometry,
        pixel_mm: f64,
    ) -> Result<Self, RenderError> {
        let mut pts: Vec<(f64, f64)> = Vec::new();
        if let Some(l) = locs {
            pts.extend(l.x_mm.iter().zip(&l.z_mm).map(|(&x, &z)| (x, z)));
        }
        if let Some(t) = tracks {
            pts.extend(t.tracks.iter().flat_map(|t| t.points.iter().map(|p| (p.x_mm, p.z_mm))));
        }
        if pts.is_empty() {
            return Err(RenderError::Config(
                "no localizations or track points to render and no field of view given".into(),
            ));
        }
        Self::bounding(pts, base, pixel_mm, 0.0)
    }

    /// The super-resolved grid over the bounding box of `points` (`(x_mm, z_mm)`), grown
    /// by `margin_mm` on every side and widened to whole pixels of the acquisition grid
    /// `base`, with square pixels of `pixel_mm`: the field of view of the data when no
    /// frames say what it is. Non-finite points are skipped; no finite point is an error.
    pub fn bounding(
        points: impl IntoIterator<Item = (f64, f64)>,
        base: &Geometry,
        pixel_mm: f64,
        margin_mm: f64,
    ) -> Result<Self, RenderError> {
        let (x_lo, x_hi, z_lo, z_hi) = points
            .into_iter()
            .filter(|(x, z)| x.is_finite() && z.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY), |b, (x, z)| {
                (b.0.min(x), b.1.max(x), b.2.min(z), b.3.max(z))
            });
        if x_lo > x_hi {
            return Err(RenderError::Grid("no positions to bound (empty or non-finite)".into()));
        }
        if !(margin_mm.is_finite() && margin_mm >= 0.0) {
            return Err(RenderError::Config(format!("margin must be >= 0 mm, got {margin_mm}")));
        }
        let (c_lo, r_lo) = base.mm_to_px(x_lo - margin_mm, z_lo - margin_mm);
        let (c_hi, r_hi) = base.mm_to_px(x_hi + margin_mm, z_hi + margin_mm);
        let (c0, r0) = (c_lo.round(), r_lo.round());
        let corner = Geometry::new(
            base.pixel_size_x_mm,
            base.pixel_size_z_mm,
            base.col_to_x_mm(c0),
            base.row_to_z_mm(r0),
            base.wavelength_mm,
            base.frame_rate_hz,
        )?;
        let count = |hi: f64, lo: f64| {
            let n = hi.round() - lo + 1.0;
            if n <= MAX_PIXELS as f64 { Ok(n as usize) } else { Err(RenderError::Grid(format!("{n} pixels wide"))) }
        };
        Self::super_resolved(&corner, count(r_hi, r0)?, count(c_hi, c0)?, pixel_mm)
    }

    /// Fractional `(col, row)` of a position in mm.
    #[inline]
    pub fn px(&self, x_mm: f64, z_mm: f64) -> (f64, f64) {
        self.geometry.mm_to_px(x_mm, z_mm)
    }

    /// Flat index of the pixel containing `(col, row)` (fractional), if inside.
    #[inline]
    pub fn index(&self, col: f64, row: f64) -> Option<usize> {
        let (c, r) = (col.round(), row.round());
        (c >= 0.0 && r >= 0.0 && (c as usize) < self.cols && (r as usize) < self.rows)
            .then(|| r as usize * self.cols + c as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn super_resolved_grid_keeps_the_field_of_view() {
        // 0.1 mm pixels, 20 × 30, λ = 0.2 mm: λ/10 pixels give 100 × 150.
        let g = Geometry::new(0.1, 0.1, -1.45, 2.05, 0.2, 500.0).unwrap();
        let m = MapGrid::super_resolved(&g, 20, 30, 0.02).unwrap();
        assert_eq!((m.rows, m.cols), (100, 150));
        assert!((m.geometry.x0_mm - (-1.5 + 0.01)).abs() < 1e-12);
        assert!((m.geometry.z0_mm - (2.0 + 0.01)).abs() < 1e-12);
        // Five SR pixels per base pixel: the centre of base pixel (0, 0) is that of SR
        // pixel (2, 2).
        let (c, r) = m.px(-1.45, 2.05);
        assert!((c - 2.0).abs() < 1e-9 && (r - 2.0).abs() < 1e-9, "{c} {r}");
        assert_eq!(m.index(-0.6, 0.0), None);
        assert_eq!(m.index(149.4, 99.4), Some(100 * 150 - 1));
        assert!(MapGrid::super_resolved(&g, 20, 30, 0.0).is_err());
    }

    #[test]
    fn bounding_covers_whole_acquisition_pixels() {
        // 0.1 mm pixels with centres at x = 0.0, 0.1, … and z = 1.0, 1.1, …
        let g = Geometry::new(0.1, 0.1, 0.0, 1.0, 0.2, 500.0).unwrap();
        // x 0.23 … 0.51 → cols 2.3 … 5.1 → pixels 2..=5 (4 wide, x edges 0.15 … 0.55);
        // z 1.04 … 1.26 → rows 0.4 … 2.6 → pixels 0..=3 (4 deep, z edges 0.95 … 1.35).
        let pts = [(0.23, 1.26), (0.51, 1.04), (f64::NAN, 0.0)];
        let m = MapGrid::bounding(pts, &g, 0.02, 0.0).unwrap();
        assert_eq!((m.rows, m.cols), (20, 20));
        assert!((m.geometry.x0_mm - 0.16).abs() < 1e-12, "{}", m.geometry.x0_mm);
        assert!((m.geometry.z0_mm - 0.96).abs() < 1e-12, "{}", m.geometry.z0_mm);
        // A 0.06 mm margin reaches cols 1.7 … 5.7 → pixels 2..=6 and rows −0.2 … 3.2 → 0..=3.
        let m = MapGrid::bounding(pts, &g, 0.02, 0.06).unwrap();
        assert_eq!((m.rows, m.cols), (20, 25));
        assert!(MapGrid::bounding([(f64::NAN, 1.0)], &g, 0.02, 0.0).is_err());
        assert!(MapGrid::bounding(pts, &g, 0.02, -1.0).is_err());
    }
}
