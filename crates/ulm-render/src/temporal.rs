//! The temporal-mean baseline: the mean envelope over all frames, resampled onto a map
//! grid (the paper's "temporal mean" map).

use ndarray::{Array2, Axis};
use ulm_core::{FrameSource, Geometry, Progress};

use crate::{MapGrid, RenderError};

/// Mean envelope (|IQ| for complex frames) over all frames of `src`, at the
/// acquisition's resolution, read `block` frames at a time (bounded memory).
pub fn temporal_mean(
    src: &mut dyn FrameSource,
    block: usize,
    progress: &dyn Progress,
) -> Result<Array2<f32>, RenderError> {
    let [n, rows, cols] = src.shape();
    if n == 0 || rows == 0 || cols == 0 {
        return Err(RenderError::Grid(format!("no frames to average ({n} × {rows} × {cols})")));
    }
    let block = block.max(1);
    progress.set_total(n as u64);
    let mut sum = Array2::<f64>::zeros((rows, cols));
    let mut start = 0;
    while start < n {
        let stack = src.read_block(start, block)?;
        let env = stack.envelope();
        for frame in env.axis_iter(Axis(0)) {
            sum.zip_mut_with(&frame, |s, &v| *s += v as f64);
        }
        let got = stack.n_frames().max(1);
        progress.inc(got as u64);
        start += got;
    }
    progress.finish();
    Ok(sum.mapv(|v| (v / n as f64) as f32))
}

/// Bilinear resampling of `map` (pixels of geometry `from`) at the pixel centres of
/// `to`; outside the source's pixel centres the nearest edge value is used.
pub fn resample_bilinear(map: &Array2<f32>, from: &Geometry, to: &MapGrid) -> Array2<f32> {
    let (rows, cols) = map.dim();
    let clamp = |v: f64, n: usize| v.clamp(0.0, (n.max(1) - 1) as f64);
    Array2::from_shape_fn((to.rows, to.cols), |(r, c)| {
        let (x, z) = to.geometry.px_to_mm(c as f64, r as f64);
        let (fc, fr) = from.mm_to_px(x, z);
        let (fc, fr) = (clamp(fc, cols), clamp(fr, rows));
        let (c0, r0) = (fc.floor() as usize, fr.floor() as usize);
        let (c1, r1) = ((c0 + 1).min(cols - 1), (r0 + 1).min(rows - 1));
        let (tc, tr) = ((fc - c0 as f64) as f32, (fr - r0 as f64) as f32);
        let top = map[[r0, c0]] * (1.0 - tc) + map[[r0, c1]] * tc;
        let bottom = map[[r1, c0]] * (1.0 - tc) + map[[r1, c1]] * tc;
        top * (1.0 - tr) + bottom * tr
    })
}
