//! The classical localizer: candidate detection, then a sub-pixel estimator on a patch
//! around each candidate.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};
use ulm_core::Geometry;

use crate::detect::{DetectConfig, count_maxima_in_patch, regional_maxima};
use crate::estimators::Method;
use crate::{Detection, LocalizeError, Localizer};

/// Settings of [`ClassicalLocalizer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassicalConfig {
    /// Sub-pixel estimator.
    pub method: Method,
    /// Side of the square patch around each candidate, pixels (odd, ≥ 3). Default 5: the
    /// PSF's lateral FWHM is ≈ 3 px at λ/2 pixels, and PALA's window is `2 round(fwhm/2)+1`.
    pub patch: usize,
    /// Localizations further than this from the candidate pixel (per axis, pixels) have
    /// diverged and are discarded. Default `patch / 2` (half the patch, as PALA's fwhm/2).
    pub max_shift_px: Option<f64>,
    /// Candidate detection.
    pub detect: DetectConfig,
}

impl ClassicalConfig {
    /// Defaults for `method`.
    pub fn new(method: Method) -> Self {
        Self { method, patch: 5, max_shift_px: None, detect: DetectConfig::default() }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), LocalizeError> {
        if self.patch < 3 || self.patch.is_multiple_of(2) {
            return Err(LocalizeError::Config(format!("patch must be odd and >= 3, got {}", self.patch)));
        }
        if let Some(s) = self.max_shift_px
            && !(s.is_finite() && s > 0.0)
        {
            return Err(LocalizeError::Config(format!("max_shift_px must be > 0, got {s}")));
        }
        let d = &self.detect;
        if !(d.threshold_rel.is_finite() && (0.0..=1.0).contains(&d.threshold_rel)) {
            return Err(LocalizeError::Config(format!("threshold_rel must be in [0, 1], got {}", d.threshold_rel)));
        }
        if !(d.crowd_level.is_finite() && (0.0..=1.0).contains(&d.crowd_level)) {
            return Err(LocalizeError::Config(format!("crowd_level must be in [0, 1], got {}", d.crowd_level)));
        }
        if !(d.min_separation_px.is_finite() && d.min_separation_px >= 0.0) {
            return Err(LocalizeError::Config(format!("min_separation_px must be >= 0, got {}", d.min_separation_px)));
        }
        match self.method {
            Method::Interp { upsample } if upsample == 0 || upsample > 100 => {
                Err(LocalizeError::Config(format!("interp upsampling must be in 1..=100, got {upsample}")))
            }
            Method::Morph { level } if !(level > 0.0 && level < 1.0) => {
                Err(LocalizeError::Config(format!("morph level must be in (0, 1), got {level}")))
            }
            _ => Ok(()),
        }
    }
}

/// Detection + sub-pixel estimation, implementing [`Localizer`].
#[derive(Debug, Clone)]
pub struct ClassicalLocalizer {
    cfg: ClassicalConfig,
}

impl ClassicalLocalizer {
    /// A validated localizer.
    pub fn new(cfg: ClassicalConfig) -> Result<Self, LocalizeError> {
        cfg.validate()?;
        Ok(Self { cfg })
    }

    /// Its settings.
    pub fn config(&self) -> &ClassicalConfig {
        &self.cfg
    }

    /// Localizes in pixel coordinates: `(col, row, score)` per bubble.
    pub fn localize_px(&self, frame: ArrayView2<'_, f32>) -> Vec<(f64, f64, f32)> {
        let n = self.cfg.patch;
        let h = n / 2;
        let max_shift = self.cfg.max_shift_px.unwrap_or(n as f64 / 2.0);
        let cands = regional_maxima(frame, h + self.cfg.detect.border_margin_px, &self.cfg.detect);
        let mut out = Vec::with_capacity(cands.len());
        let mut patch = vec![0.0f32; n * n];
        for c in cands {
            for (pr, r) in (c.row - h..=c.row + h).enumerate() {
                for (pc, col) in (c.col - h..=c.col + h).enumerate() {
                    patch[pr * n + pc] = frame[[r, col]];
                }
            }
            if let Some(limit) = self.cfg.detect.max_maxima_in_patch
                && count_maxima_in_patch(&patch, n, self.cfg.detect.crowd_level * c.value) > limit
            {
                continue;
            }
            let Some((dx, dz)) = self.cfg.method.estimate(&patch, n) else { continue };
            if !(dx.abs() <= max_shift && dz.abs() <= max_shift) {
                continue; // diverged (or NaN)
            }
            out.push((c.col as f64 + dx, c.row as f64 + dz, c.value));
        }
        out
    }
}

impl Localizer for ClassicalLocalizer {
    fn name(&self) -> &str {
        self.cfg.method.name()
    }

    fn localize_frame(&self, frame: ArrayView2<'_, f32>, frame_index: u32, geometry: &Geometry) -> Vec<Detection> {
        self.localize_px(frame)
            .into_iter()
            .map(|(col, row, score)| {
                let (x_mm, z_mm) = geometry.px_to_mm(col, row);
                Detection::new(frame_index, x_mm, z_mm, score)
            })
            .collect()
    }
}
