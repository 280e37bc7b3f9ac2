use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Imaging geometry: pixel grid in mm, wavelength and frame rate.
///
/// Pixel centres sit at integer indices: `x_mm = x0_mm + col * pixel_size_x_mm` and
/// `z_mm = z0_mm + row * pixel_size_z_mm` (row = depth z, col = lateral x).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Geometry {
    /// Lateral pixel pitch (column spacing) in mm.
    pub pixel_size_x_mm: f64,
    /// Axial pixel pitch (row spacing) in mm.
    pub pixel_size_z_mm: f64,
    /// Lateral position of the centre of column 0, in mm.
    pub x0_mm: f64,
    /// Depth of the centre of row 0, in mm.
    pub z0_mm: f64,
    /// Acoustic wavelength at the centre frequency, in mm.
    pub wavelength_mm: f64,
    /// Frame rate in Hz.
    pub frame_rate_hz: f64,
}

impl Geometry {
    /// Builds and validates a geometry (all sizes finite, pitches, wavelength and frame
    /// rate strictly positive).
    pub fn new(
        pixel_size_x_mm: f64,
        pixel_size_z_mm: f64,
        x0_mm: f64,
        z0_mm: f64,
        wavelength_mm: f64,
        frame_rate_hz: f64,
    ) -> Result<Self> {
        let g = Self { pixel_size_x_mm, pixel_size_z_mm, x0_mm, z0_mm, wavelength_mm, frame_rate_hz };
        g.validate()?;
        Ok(g)
    }

    /// A geometry on a λ/2 grid for a given wavelength, with the origin at `(x0, z0)`.
    pub fn half_wavelength_grid(wavelength_mm: f64, x0_mm: f64, z0_mm: f64, frame_rate_hz: f64) -> Result<Self> {
        Self::new(wavelength_mm / 2.0, wavelength_mm / 2.0, x0_mm, z0_mm, wavelength_mm, frame_rate_hz)
    }

    /// Wavelength from centre frequency (Hz) and speed of sound (m/s): `λ = c / f`, in mm.
    pub fn wavelength_from(center_frequency_hz: f64, speed_of_sound_m_s: f64) -> Result<f64> {
        if !(center_frequency_hz.is_finite() && center_frequency_hz > 0.0) {
            return Err(Error::InvalidValue(format!("center_frequency_hz must be > 0, got {center_frequency_hz}")));
        }
        if !(speed_of_sound_m_s.is_finite() && speed_of_sound_m_s > 0.0) {
            return Err(Error::InvalidValue(format!("speed_of_sound_m_s must be > 0, got {speed_of_sound_m_s}")));
        }
        Ok(speed_of_sound_m_s / center_frequency_hz * 1e3)
    }

    /// Checks that every field is finite and that sizes and rates are positive.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("pixel_size_x_mm", self.pixel_size_x_mm),
            ("pixel_size_z_mm", self.pixel_size_z_mm),
            ("wavelength_mm", self.wavelength_mm),
            ("frame_rate_hz", self.frame_rate_hz),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::InvalidValue(format!("{name} must be finite and > 0, got {v}")));
            }
        }
        for (name, v) in [("x0_mm", self.x0_mm), ("z0_mm", self.z0_mm)] {
            if !v.is_finite() {
                return Err(Error::InvalidValue(format!("{name} must be finite, got {v}")));
            }
        }
        Ok(())
    }

    /// Lateral position (mm) of a (fractional) column index.
    #[inline]
    pub fn col_to_x_mm(&self, col: f64) -> f64 {
        self.x0_mm + col * self.pixel_size_x_mm
    }

    /// Depth (mm) of a (fractional) row index.
    #[inline]
    pub fn row_to_z_mm(&self, row: f64) -> f64 {
        self.z0_mm + row * self.pixel_size_z_mm
    }

    /// Fractional column index of a lateral position in mm.
    #[inline]
    pub fn x_mm_to_col(&self, x_mm: f64) -> f64 {
        (x_mm - self.x0_mm) / self.pixel_size_x_mm
    }

    /// Fractional row index of a depth in mm.
    #[inline]
    pub fn z_mm_to_row(&self, z_mm: f64) -> f64 {
        (z_mm - self.z0_mm) / self.pixel_size_z_mm
    }

    /// `(x_mm, z_mm)` of a fractional `(col, row)` position.
    #[inline]
    pub fn px_to_mm(&self, col: f64, row: f64) -> (f64, f64) {
        (self.col_to_x_mm(col), self.row_to_z_mm(row))
    }

    /// Fractional `(col, row)` of a position `(x_mm, z_mm)`.
    #[inline]
    pub fn mm_to_px(&self, x_mm: f64, z_mm: f64) -> (f64, f64) {
        (self.x_mm_to_col(x_mm), self.z_mm_to_row(z_mm))
    }

    /// Time between frames in seconds.
    #[inline]
    pub fn frame_period_s(&self) -> f64 {
        1.0 / self.frame_rate_hz
    }

    /// The lateral extent `[x_min, x_max]` in mm covered by `cols` pixel *centres*.
    pub fn x_range_mm(&self, cols: usize) -> (f64, f64) {
        (self.x0_mm, self.col_to_x_mm(cols.saturating_sub(1) as f64))
    }

    /// The depth extent `[z_min, z_max]` in mm covered by `rows` pixel *centres*.
    pub fn z_range_mm(&self, rows: usize) -> (f64, f64) {
        (self.z0_mm, self.row_to_z_mm(rows.saturating_sub(1) as f64))
    }

    /// The same field of view resampled by an integer-free factor: pixel pitch divided by
    /// `factor`, origin moved so that the *edges* of the field of view are kept
    /// (edge of pixel 0 at `x0 - pitch/2`).
    pub fn upsampled(&self, factor_x: f64, factor_z: f64) -> Result<Self> {
        if !(factor_x.is_finite() && factor_x > 0.0 && factor_z.is_finite() && factor_z > 0.0) {
            return Err(Error::InvalidValue(format!("upsampling factors must be > 0, got {factor_x}, {factor_z}")));
        }
        let px = self.pixel_size_x_mm / factor_x;
        let pz = self.pixel_size_z_mm / factor_z;
        Self::new(
            px,
            pz,
            self.x0_mm - self.pixel_size_x_mm / 2.0 + px / 2.0,
            self.z0_mm - self.pixel_size_z_mm / 2.0 + pz / 2.0,
            self.wavelength_mm,
            self.frame_rate_hz,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn conversions_round_trip() {
        let g = Geometry::new(0.05, 0.1, -3.2, 4.0, 0.1, 500.0).unwrap();
        let (x, z) = g.px_to_mm(12.25, 7.5);
        assert_relative_eq!(x, -3.2 + 12.25 * 0.05);
        assert_relative_eq!(z, 4.0 + 7.5 * 0.1);
        let (c, r) = g.mm_to_px(x, z);
        assert_relative_eq!(c, 12.25, epsilon = 1e-12);
        assert_relative_eq!(r, 7.5, epsilon = 1e-12);
    }

    #[test]
    fn wavelength_from_frequency() {
        // 15.625 MHz at 1540 m/s (PALA's in-vivo probe): λ = 98.56 µm.
        let l = Geometry::wavelength_from(15.625e6, 1540.0).unwrap();
        assert_relative_eq!(l, 0.098_56, epsilon = 1e-9);
        assert!(Geometry::wavelength_from(0.0, 1540.0).is_err());
    }

    #[test]
    fn invalid_geometry_rejected() {
        assert!(Geometry::new(0.0, 0.1, 0.0, 0.0, 0.1, 100.0).is_err());
        assert!(Geometry::new(0.1, 0.1, f64::NAN, 0.0, 0.1, 100.0).is_err());
        assert!(Geometry::new(0.1, 0.1, 0.0, 0.0, 0.1, -1.0).is_err());
    }

    #[test]
    fn upsampling_keeps_field_of_view_edges() {
        let g = Geometry::new(0.1, 0.2, 0.0, 1.0, 0.1, 100.0).unwrap();
        let u = g.upsampled(10.0, 10.0).unwrap();
        // Left edge of pixel 0 stays at -0.05 mm.
        assert_relative_eq!(u.x0_mm - u.pixel_size_x_mm / 2.0, -0.05, epsilon = 1e-12);
        assert_relative_eq!(u.z0_mm - u.pixel_size_z_mm / 2.0, 0.9, epsilon = 1e-12);
        assert_relative_eq!(u.pixel_size_x_mm, 0.01);
    }
}
