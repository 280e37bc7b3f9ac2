//! Density maps: a fixed Gaussian around each localization (the paper's Fig. 2) and
//! track-based counts (its Fig. 3, PALA's).

use ndarray::Array2;
use ulm_core::{Localizations, Tracks};

use crate::{MapGrid, RenderError};

/// Adds a Gaussian of standard deviation `sigma_px` (map pixels) around every
/// localization, truncated at 3σ and normalised to unit sum: the map sums to the number
/// of localizations (those whose kernel lies inside the grid) and reads "localizations
/// per pixel".
pub fn gaussian_density(locs: &Localizations, grid: &MapGrid, sigma_px: f64) -> Result<Array2<f32>, RenderError> {
    if !(sigma_px.is_finite() && sigma_px > 0.0) {
        return Err(RenderError::Config(format!("Gaussian σ must be > 0 pixels, got {sigma_px}")));
    }
    let mut map = Array2::<f64>::zeros((grid.rows, grid.cols));
    let half = (3.0 * sigma_px).ceil() as i64;
    let inv2s2 = 1.0 / (2.0 * sigma_px * sigma_px);
    let mut wx = vec![0.0; (2 * half + 1) as usize];
    let mut wz = wx.clone();
    for i in 0..locs.len() {
        let (c, r) = grid.px(locs.x_mm[i], locs.z_mm[i]);
        let (c0, r0) = (c.round() as i64, r.round() as i64);
        if c0 + half < 0 || r0 + half < 0 || c0 - half >= grid.cols as i64 || r0 - half >= grid.rows as i64 {
            continue;
        }
        // Separable kernel: one exp per row and per column.
        for k in 0..wx.len() {
            let d = (k as i64 - half) as f64;
            wx[k] = (-(c0 as f64 + d - c).powi(2) * inv2s2).exp();
            wz[k] = (-(r0 as f64 + d - r).powi(2) * inv2s2).exp();
        }
        let norm = 1.0 / (wx.iter().sum::<f64>() * wz.iter().sum::<f64>());
        wz.iter_mut().for_each(|w| *w *= norm);
        for (kr, &w_r) in wz.iter().enumerate() {
            let rr = r0 + kr as i64 - half;
            if rr < 0 || rr >= grid.rows as i64 {
                continue;
            }
            for (kc, &w_c) in wx.iter().enumerate() {
                let cc = c0 + kc as i64 - half;
                if cc >= 0 && cc < grid.cols as i64 {
                    map[[rr as usize, cc as usize]] += w_r * w_c;
                }
            }
        }
    }
    Ok(map.mapv(|v| v as f32))
}

/// Maps made from tracks: each track is interpolated to sub-pixel steps and counted once
/// per pixel it crosses.
#[derive(Debug, Clone)]
pub struct TrackMaps {
    /// Number of tracks through each pixel (the track density map).
    pub density: Array2<f32>,
    /// Mean speed (mm/s) of the tracks through each pixel; 0 where none has a velocity.
    pub speed: Array2<f32>,
    /// Mean axial direction in [−1, 1]: +1 all tracks flow towards depth (down), −1 all
    /// towards the probe (up); 0 where there is no track.
    pub direction: Array2<f32>,
}

/// Renders [`TrackMaps`]. Consecutive points are joined by straight segments sampled
/// every `step_px` map pixels (≤ 0.5 recommended, so no pixel on the path is skipped);
/// the velocity of a segment is its displacement over its duration (frame rate from the
/// grid's geometry). Within a pixel a track contributes once: density 1, its mean speed
/// and the sign of its mean axial velocity there.
pub fn track_maps(tracks: &Tracks, grid: &MapGrid, step_px: f64) -> Result<TrackMaps, RenderError> {
    if !(step_px.is_finite() && step_px > 0.0 && step_px <= 1.0) {
        return Err(RenderError::Config(format!("interpolation step must be in (0, 1] pixel, got {step_px}")));
    }
    let n = grid.rows * grid.cols;
    let mut density = vec![0u32; n];
    let mut speed_sum = vec![0.0f64; n];
    let mut dir_sum = vec![0.0f64; n];
    let mut vel_count = vec![0u32; n];
    let fr = grid.geometry.frame_rate_hz;
    // (pixel, vx, vz) samples of one track.
    let mut samples: Vec<(usize, f64, f64)> = Vec::new();
    for t in &tracks.tracks {
        samples.clear();
        let pts = &t.points;
        if pts.len() == 1 {
            let (c, r) = grid.px(pts[0].x_mm, pts[0].z_mm);
            if let Some(i) = grid.index(c, r) {
                samples.push((i, f64::NAN, f64::NAN));
            }
        }
        for w in pts.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let dt = (b.frame as f64 - a.frame as f64) / fr;
            let (vx, vz) = ((b.x_mm - a.x_mm) / dt, (b.z_mm - a.z_mm) / dt);
            let (ca, ra) = grid.px(a.x_mm, a.z_mm);
            let (cb, rb) = grid.px(b.x_mm, b.z_mm);
            let len = (cb - ca).hypot(rb - ra);
            let steps = ((len / step_px).ceil() as usize).max(1);
            // The segment's end is the next segment's start; the last one adds it below.
            for s in 0..steps {
                let f = s as f64 / steps as f64;
                if let Some(i) = grid.index(ca + (cb - ca) * f, ra + (rb - ra) * f) {
                    samples.push((i, vx, vz));
                }
            }
        }
        if pts.len() >= 2 {
            let (a, b) = (&pts[pts.len() - 2], &pts[pts.len() - 1]);
            let dt = (b.frame as f64 - a.frame as f64) / fr;
            let (c, r) = grid.px(b.x_mm, b.z_mm);
            if let Some(i) = grid.index(c, r) {
                samples.push((i, (b.x_mm - a.x_mm) / dt, (b.z_mm - a.z_mm) / dt));
            }
        }
        samples.sort_by_key(|s| s.0);
        for group in samples.chunk_by(|a, b| a.0 == b.0) {
            let i = group[0].0;
            density[i] += 1;
            let valid: Vec<&(usize, f64, f64)> = group.iter().filter(|s| s.1.is_finite() && s.2.is_finite()).collect();
            if !valid.is_empty() {
                let k = valid.len() as f64;
                let speed = valid.iter().map(|s| s.1.hypot(s.2)).sum::<f64>() / k;
                let vz = valid.iter().map(|s| s.2).sum::<f64>() / k;
                speed_sum[i] += speed;
                dir_sum[i] += if vz > 0.0 {
                    1.0
                } else if vz < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                vel_count[i] += 1;
            }
        }
    }
    let shape = (grid.rows, grid.cols);
    let mean = |sum: &[f64]| {
        Array2::from_shape_fn(shape, |(r, c)| {
            let i = r * grid.cols + c;
            if vel_count[i] > 0 { (sum[i] / vel_count[i] as f64) as f32 } else { 0.0 }
        })
    };
    Ok(TrackMaps {
        density: Array2::from_shape_fn(shape, |(r, c)| density[r * grid.cols + c] as f32),
        speed: mean(&speed_sum),
        direction: mean(&dir_sum),
    })
}
