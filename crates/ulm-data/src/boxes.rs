//! Ground truth → boxes: one box per bubble, centred exactly on it.
//!
//! **Size** ([`BoxSize`]): fixed in pixels, fixed in wavelengths, or `scale ×` the FWHM of
//! the simulator's PSF model at the bubble's depth (lateral FWHM grows with depth, axial
//! FWHM is set by the pulse). The default for simulator data is [`BoxSize::default_psf`]:
//! **2 × FWHM**, i.e. the box reaches the −24 dB contour of the Gaussian main lobe, about
//! where a bubble at the simulator's 25–30 dB SNR sinks into the noise — the extent of the
//! echo one would "mask" by eye, as the paper did. Where no PSF model is known (a user's
//! frames + CSV) the default is [`BoxSize::default_wavelengths`], 3 λ × 1.5 λ: the same
//! 2 × FWHM for an F-number-1.5 lateral beam and a 1.5-cycle pulse; a CSV with `w_mm`,
//! `h_mm` columns gives its own sizes.
//!
//! **Border rule** ([`patch_box`]): a bubble belongs to a patch when its centre lies inside
//! the patch's valid area, pixel edge to pixel edge (`-0.5 ≤ col < valid_cols - 0.5`, the
//! half-open interval, so a bubble exactly on the border between two abutting tiles
//! belongs to one of them). A box cut by the valid area's border is **shrunk
//! symmetrically about the bubble centre** until it fits, so its centre stays the exact
//! localisation target; it keeps at least 1 px per side, so for a bubble within 0.5 px of
//! the border the box may reach up to 0.5 px beyond it.

use serde::{Deserialize, Serialize};
use ulm_core::Geometry;
use ulm_sim::ImagingConfig;
use ulm_sim::psf::GaussianPsf;

use crate::DataError;

/// How big a bubble's box is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum BoxSize {
    /// Fixed width (lateral) and height (axial) in pixels.
    Pixels {
        /// Width, px.
        w: f64,
        /// Height, px.
        h: f64,
    },
    /// Fixed width and height in wavelengths.
    Wavelengths {
        /// Width, λ.
        w: f64,
        /// Height, λ.
        h: f64,
    },
    /// `scale ×` the simulator PSF's FWHM at the bubble's depth (lateral × axial).
    Psf {
        /// The imaging parameters of the acquisition (`meta.json` → `simulation.config.imaging`).
        imaging: ImagingConfig,
        /// Multiple of the FWHM.
        scale: f64,
    },
}

impl BoxSize {
    /// The default for simulator data: 2 × the PSF's FWHM at depth (see the module docs).
    pub fn default_psf(imaging: ImagingConfig) -> Self {
        BoxSize::Psf { imaging, scale: 2.0 }
    }

    /// The default without a PSF model: 3 λ × 1.5 λ (see the module docs).
    pub fn default_wavelengths() -> Self {
        BoxSize::Wavelengths { w: 3.0, h: 1.5 }
    }

    /// Checks that sizes are finite and positive.
    pub fn validate(&self) -> Result<(), DataError> {
        let (a, b, what) = match self {
            BoxSize::Pixels { w, h } => (*w, *h, "box size in pixels"),
            BoxSize::Wavelengths { w, h } => (*w, *h, "box size in wavelengths"),
            BoxSize::Psf { scale, .. } => (*scale, *scale, "PSF box scale"),
        };
        if !(a.is_finite() && b.is_finite() && a > 0.0 && b > 0.0) {
            return Err(DataError::Config(format!("{what} must be finite and > 0, got {a} × {b}")));
        }
        Ok(())
    }

    /// Box `(w, h)` in pixels of `geometry` for a bubble at depth `z_mm`.
    pub fn size_px(&self, z_mm: f64, geometry: &Geometry) -> (f64, f64) {
        let (px, pz) = (geometry.pixel_size_x_mm, geometry.pixel_size_z_mm);
        match self {
            BoxSize::Pixels { w, h } => (*w, *h),
            BoxSize::Wavelengths { w, h } => (w * geometry.wavelength_mm / px, h * geometry.wavelength_mm / pz),
            BoxSize::Psf { imaging, scale } => {
                let psf = GaussianPsf::new(imaging, geometry.wavelength_mm);
                (scale * psf.lateral_fwhm_mm(z_mm) / px, scale * psf.axial_fwhm_mm() / pz)
            }
        }
    }
}

/// Whether a bubble at patch pixel `(col, row)` lies in the valid area (half-open, pixel
/// edge to pixel edge; see the module docs).
pub fn inside(col: f64, row: f64, valid_cols: usize, valid_rows: usize) -> bool {
    let (xe, ye) = (col + 0.5, row + 0.5);
    xe >= 0.0 && xe < valid_cols as f64 && ye >= 0.0 && ye < valid_rows as f64
}

/// The DETR box `[cx, cy, w, h]` (fractions of the full `width × height` patch) of a
/// bubble at patch pixel `(col, row)` with box size `(w_px, h_px)`, shrunk symmetrically to
/// the valid area (see the module docs). The caller checks [`inside`] first.
#[allow(clippy::too_many_arguments)]
pub fn patch_box(
    col: f64,
    row: f64,
    w_px: f64,
    h_px: f64,
    valid_cols: usize,
    valid_rows: usize,
    width: usize,
    height: usize,
) -> [f32; 4] {
    let half = |e: f64, size: f64, valid: usize| (size / 2.0).min(e).min(valid as f64 - e).max(0.5);
    let (xe, ye) = (col + 0.5, row + 0.5);
    let hw = half(xe, w_px, valid_cols);
    let hh = half(ye, h_px, valid_rows);
    [
        (xe / width as f64) as f32,
        (ye / height as f64) as f32,
        (2.0 * hw / width as f64) as f32,
        (2.0 * hh / height as f64) as f32,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_is_centred_on_the_bubble_by_hand() {
        // Bubble at col 10.25, row 3: pixel edges x ∈ [10.75 - 2, 10.75 + 2] in a 32 × 16 patch.
        let b = patch_box(10.25, 3.0, 4.0, 2.0, 32, 16, 32, 16);
        assert_eq!(b, [10.75 / 32.0, 3.5 / 16.0, 4.0 / 32.0, 2.0 / 16.0]);
    }

    #[test]
    fn border_boxes_shrink_symmetrically() {
        // Centre 1.0 px from the left edge (col 0.5): a 6 px box becomes 2 px, same centre.
        let b = patch_box(0.5, 5.0, 6.0, 2.0, 20, 20, 32, 32);
        assert_eq!(b[0], 1.0 / 32.0);
        assert_eq!(b[2], 2.0 / 32.0);
        // Near the valid area's far edge (valid 20 of 32): distance 20 - 19.0 = 1.0.
        let b = patch_box(18.5, 5.0, 6.0, 2.0, 20, 20, 32, 32);
        assert_eq!((b[0], b[2]), (19.0 / 32.0, 2.0 / 32.0));
        // On the edge: at least 1 px.
        let b = patch_box(-0.5, 5.0, 6.0, 2.0, 20, 20, 32, 32);
        assert_eq!((b[0], b[2]), (0.0, 1.0 / 32.0));
    }

    #[test]
    fn inside_is_half_open() {
        assert!(inside(-0.5, 0.0, 4, 4));
        assert!(!inside(3.5, 0.0, 4, 4));
        assert!(inside(3.49, 3.49, 4, 4));
        assert!(!inside(0.0, -0.51, 4, 4));
    }

    #[test]
    fn psf_size_grows_with_depth_like_the_simulator() {
        let g = Geometry::new(0.05, 0.05, 0.0, 1.0, 0.1, 1000.0).unwrap();
        let imaging = ImagingConfig::default(); // aperture 8 mm, F# min 1.5, factor 1, 1.5 cycles
        let b = BoxSize::default_psf(imaging);
        // Shallow: F# = 1.5 → lateral FWHM 0.15 mm → 2 × 0.15 / 0.05 = 6 px; axial 0.075 mm → 3 px.
        let (w, h) = b.size_px(4.0, &g);
        assert!((w - 6.0).abs() < 1e-9 && (h - 3.0).abs() < 1e-9, "{w} {h}");
        // Deep: F# = 16 / 8 = 2 → 8 px.
        assert!((b.size_px(16.0, &g).0 - 8.0).abs() < 1e-9);
        let (w, h) = BoxSize::default_wavelengths().size_px(9.0, &g);
        assert!((w - 6.0).abs() < 1e-12 && (h - 3.0).abs() < 1e-12);
        assert!(BoxSize::Pixels { w: 0.0, h: 1.0 }.validate().is_err());
    }
}
