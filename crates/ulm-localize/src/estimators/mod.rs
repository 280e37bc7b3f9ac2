//! Sub-pixel estimators: each takes an `n × n` row-major patch (odd `n`) centred on a
//! candidate and returns the offset `(dx, dz)` of the bubble from the patch centre, in
//! pixels (`dx` along columns, `dz` along rows), or `None` when it fails.

mod gaussian;
mod interp;
mod radial;

use std::str::FromStr;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

pub use gaussian::gaussian_fit;
pub use interp::lanczos_argmax;
pub use radial::radial_symmetry;

/// A sub-pixel estimator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "method")]
pub enum Method {
    /// The pixel of the maximum itself (no sub-pixel step): the reference floor.
    NoShift,
    /// Intensity-weighted centroid of the patch after subtracting its minimum (PALA's
    /// weighted average, with the background removed so that it is not pulled towards the
    /// patch centre).
    Centroid,
    /// Least-squares fit of `B + A exp(-(x-x0)²/2σx² - (z-z0)²/2σz²)` by
    /// Levenberg–Marquardt (all six parameters free).
    Gaussian,
    /// Radial symmetry centre (Parthasarathy 2012), as in PALA.
    Radial,
    /// Lanczos-3 interpolation on a grid `upsample` times finer, then the argmax.
    Interp {
        /// Upsampling factor (grid step `1/upsample` px). Default 10 (PALA).
        upsample: usize,
    },
    /// Morphological: threshold at `level` between the patch minimum and maximum, keep the
    /// 8-connected component that holds the centre pixel, and take the centroid of the
    /// intensity above the threshold within it (the paper's morphological baseline).
    Morph {
        /// Threshold as a fraction of (max − min) above the minimum. Default 0.5 (half
        /// maximum).
        level: f32,
    },
}

impl Method {
    /// Names accepted by [`Method::from_str`] (with default parameters).
    pub const NAMES: [&'static str; 6] = ["no-shift", "centroid", "gaussian", "radial", "interp", "morph"];

    /// The method's name.
    pub fn name(&self) -> &'static str {
        match self {
            Method::NoShift => "no-shift",
            Method::Centroid => "centroid",
            Method::Gaussian => "gaussian",
            Method::Radial => "radial",
            Method::Interp { .. } => "interp",
            Method::Morph { .. } => "morph",
        }
    }

    /// Offset `(dx, dz)` in pixels of the bubble from the centre of the `n × n` patch.
    pub fn estimate(&self, patch: &[f32], n: usize) -> Option<(f64, f64)> {
        debug_assert_eq!(patch.len(), n * n);
        debug_assert!(n % 2 == 1);
        match *self {
            Method::NoShift => Some((0.0, 0.0)),
            Method::Centroid => centroid(patch, n),
            Method::Gaussian => gaussian_fit(patch, n),
            Method::Radial => radial_symmetry(patch, n),
            Method::Interp { upsample } => lanczos_argmax(patch, n, upsample),
            Method::Morph { level } => morph(patch, n, level),
        }
    }
}

impl Method {
    /// Re-estimates the position of a bubble found near frame pixel `(col, row)` by another
    /// method (e.g. a detector's box centre): moves to the brightest pixel within
    /// `search_px` pixels (per axis) of the nearest pixel, runs this estimator on the
    /// `patch × patch` window (odd `patch`) centred there, and returns the sub-pixel
    /// `(col, row)`.
    ///
    /// `None` when the start lies outside the frame, the window does not fit inside it,
    /// the estimator fails, or its offset exceeds half the window (diverged): the caller
    /// keeps its own position then.
    pub fn refine_at(
        &self,
        frame: ArrayView2<'_, f32>,
        col: f64,
        row: f64,
        patch: usize,
        search_px: usize,
    ) -> Option<(f64, f64)> {
        let (rows, cols) = frame.dim();
        if patch.is_multiple_of(2) || !(col.is_finite() && row.is_finite()) {
            return None;
        }
        let (c0, r0) = (col.round(), row.round());
        if c0 < 0.0 || r0 < 0.0 || c0 >= cols as f64 || r0 >= rows as f64 {
            return None;
        }
        let (c0, r0) = (c0 as usize, r0 as usize);
        let (mut cm, mut rm, mut best) = (c0, r0, f32::NEG_INFINITY);
        for r in r0.saturating_sub(search_px)..=(r0 + search_px).min(rows - 1) {
            for c in c0.saturating_sub(search_px)..=(c0 + search_px).min(cols - 1) {
                if frame[[r, c]] > best {
                    (cm, rm, best) = (c, r, frame[[r, c]]);
                }
            }
        }
        let h = patch / 2;
        if cm < h || rm < h || cm + h >= cols || rm + h >= rows {
            return None;
        }
        let window: Vec<f32> = (rm - h..=rm + h).flat_map(|r| (cm - h..=cm + h).map(move |c| frame[[r, c]])).collect();
        let (dx, dz) = self.estimate(&window, patch)?;
        let limit = patch as f64 / 2.0;
        (dx.abs() <= limit && dz.abs() <= limit).then_some((cm as f64 + dx, rm as f64 + dz))
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "no-shift" | "noshift" | "none" => Ok(Method::NoShift),
            "centroid" | "wa" => Ok(Method::Centroid),
            "gaussian" | "gauss" => Ok(Method::Gaussian),
            "radial" => Ok(Method::Radial),
            "interp" => Ok(Method::Interp { upsample: 10 }),
            "morph" => Ok(Method::Morph { level: 0.5 }),
            other => Err(format!("unknown method `{other}` (expected one of {})", Method::NAMES.join(", "))),
        }
    }
}

/// Centre-relative coordinate of index `i` in a patch of size `n`.
#[inline]
pub(crate) fn coord(i: usize, n: usize) -> f64 {
    i as f64 - (n / 2) as f64
}

fn min_max(patch: &[f32]) -> (f32, f32) {
    patch.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

/// Background-subtracted weighted centroid.
fn centroid(patch: &[f32], n: usize) -> Option<(f64, f64)> {
    let (lo, _) = min_max(patch);
    let (mut s, mut sx, mut sz) = (0.0f64, 0.0f64, 0.0f64);
    for r in 0..n {
        for c in 0..n {
            let w = (patch[r * n + c] - lo) as f64;
            s += w;
            sx += w * coord(c, n);
            sz += w * coord(r, n);
        }
    }
    (s > 0.0 && s.is_finite()).then(|| (sx / s, sz / s))
}

/// Threshold, connected component of the centre, centroid of the excess intensity.
fn morph(patch: &[f32], n: usize, level: f32) -> Option<(f64, f64)> {
    let (lo, hi) = min_max(patch);
    let thr = lo + level * (hi - lo);
    let centre = (n / 2) * n + n / 2;
    if patch[centre].is_nan() || patch[centre] <= thr {
        return None;
    }
    // Flood fill (8-connected) from the centre over pixels above the threshold.
    let mut seen = vec![false; n * n];
    let mut stack = vec![centre];
    seen[centre] = true;
    let (mut s, mut sx, mut sz) = (0.0f64, 0.0f64, 0.0f64);
    while let Some(i) = stack.pop() {
        let (r, c) = (i / n, i % n);
        let w = (patch[i] - thr) as f64;
        s += w;
        sx += w * coord(c, n);
        sz += w * coord(r, n);
        for rr in r.saturating_sub(1)..=(r + 1).min(n - 1) {
            for cc in c.saturating_sub(1)..=(c + 1).min(n - 1) {
                let j = rr * n + cc;
                if !seen[j] && patch[j] > thr {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
    }
    (s > 0.0).then(|| (sx / s, sz / s))
}

#[cfg(test)]
pub(crate) mod test_util {
    /// An `n × n` patch of `B + A exp(-((x-dx)²/2σx² + (z-dz)²/2σz²))`, sampled at pixel
    /// centres (centre-relative coordinates).
    pub fn gaussian_patch(n: usize, dx: f64, dz: f64, sx: f64, sz: f64, bg: f64) -> Vec<f32> {
        let h = (n / 2) as f64;
        let mut p = Vec::with_capacity(n * n);
        for r in 0..n {
            for c in 0..n {
                let (x, z) = (c as f64 - h - dx, r as f64 - h - dz);
                p.push((bg + (-(x * x) / (2.0 * sx * sx) - (z * z) / (2.0 * sz * sz)).exp()) as f32);
            }
        }
        p
    }
}

#[cfg(test)]
mod tests;
