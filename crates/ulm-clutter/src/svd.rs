//! SVD clutter filter on the Casorati (pixels × frames) matrix, block by block.
//!
//! For a block `X` (`n_pix × n_t`, one column per frame) we form the Gram matrix
//! `G = Xᴴ X` (`n_t × n_t`, in f64) and take its Hermitian eigendecomposition with faer:
//! `G = V Σ² Vᴴ`. `V` holds the temporal singular vectors of `X` and `Σ` its singular
//! values, exactly as in PALA's `SVDfilter.m` (`svd(X'*X)`), but in double precision so
//! that components 40–60 dB below the tissue keep their accuracy. Keeping components
//! `low..=high` (1-based, by decreasing singular value) is the projection
//! `Y = X V_K V_Kᴴ`; when fewer components are removed than kept we compute the cheaper
//! `Y = X − X V_R V_Rᴴ` (the same matrix).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par, Side, c64};
use ndarray::{Array3, ArrayView3};
use num_complex::Complex32;
use serde::{Deserialize, Serialize};

use crate::ClutterError;

/// Which singular components are kept.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode")]
pub enum Cutoff {
    /// Keep components `low..=high` (1-based, by decreasing singular value, like PALA's
    /// `SVDfilter(IQ, low:high)`); `high = None` keeps up to the last.
    Fixed {
        /// First kept component (≥ 1; `low = 1` removes nothing at the top).
        low: usize,
        /// Last kept component; `None` = the last one.
        high: Option<usize>,
    },
    /// `low` from the elbow of the singular-value curve (see [`auto_low_cutoff`]).
    Auto {
        /// Last kept component; `None` = the last one.
        high: Option<usize>,
    },
}

/// Settings of the SVD filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SvdConfig {
    /// Kept components.
    pub cutoff: Cutoff,
    /// Frames per block (each block gets its own SVD; memory grows with
    /// `pixels × block_frames`). A trailing block shorter than half of this is merged
    /// into the previous one so that no block is too short to separate tissue from
    /// blood. Default 1000.
    pub block_frames: usize,
}

impl Default for SvdConfig {
    fn default() -> Self {
        Self { cutoff: Cutoff::Auto { high: None }, block_frames: 1000 }
    }
}

/// What the filter did to one block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockReport {
    /// First frame of the block.
    pub start_frame: usize,
    /// Frames in the block.
    pub n_frames: usize,
    /// First kept component (1-based).
    pub low: usize,
    /// Last kept component (1-based, inclusive).
    pub high: usize,
    /// Singular values of the block, decreasing.
    pub singular_values: Vec<f64>,
}

/// Temporal singular vectors and singular values of one block.
#[derive(Debug, Clone)]
pub struct SvdBasis {
    /// `n_t × n_t`, column `k` is the temporal singular vector of component `k + 1`.
    v: Mat<c64>,
    singular_values: Vec<f64>,
}

fn casorati(block: ArrayView3<'_, Complex32>) -> Mat<c64> {
    let (nt, rows, cols) = block.dim();
    let npix = rows * cols;
    let block = block.as_standard_layout();
    let data = block.as_slice().expect("standard layout");
    // Column t = frame t, contiguous in both layouts.
    Mat::from_fn(npix, nt, |i, t| {
        let v = data[t * npix + i];
        c64::new(v.re as f64, v.im as f64)
    })
}

impl SvdBasis {
    /// SVD of a block `[frames, rows, cols]` (through the Gram matrix; see the module docs).
    pub fn compute(block: ArrayView3<'_, Complex32>) -> Result<Self, ClutterError> {
        let nt = block.dim().0;
        if nt == 0 {
            return Err(ClutterError::Config("empty block".into()));
        }
        let x = casorati(block);
        Self::from_casorati(&x)
    }

    fn from_casorati(x: &Mat<c64>) -> Result<Self, ClutterError> {
        let nt = x.ncols();
        let mut g = Mat::<c64>::zeros(nt, nt);
        matmul(g.as_mut(), Accum::Replace, x.adjoint(), x.as_ref(), c64::new(1.0, 0.0), Par::rayon(0));
        let evd = g.self_adjoint_eigen(Side::Lower).map_err(|e| ClutterError::Numerical(format!("{e:?}")))?;
        let (u, s) = (evd.U(), evd.S());
        // Eigenvalues come in increasing order: reverse to decreasing singular values.
        let v = Mat::from_fn(nt, nt, |i, k| u[(i, nt - 1 - k)]);
        let singular_values = (0..nt).map(|k| s[nt - 1 - k].re.max(0.0).sqrt()).collect();
        Ok(Self { v, singular_values })
    }

    /// Singular values, decreasing.
    pub fn singular_values(&self) -> &[f64] {
        &self.singular_values
    }

    /// Projects `block` (same number of frames as the block this basis came from) onto
    /// components `low..=high` (1-based, inclusive). Applied to the block itself this is
    /// the SVD filter; applied to a part of it (tissue alone, bubbles alone) it shows what
    /// the filter does to that part, since the projection is linear.
    pub fn project(&self, block: ArrayView3<'_, Complex32>, low: usize, high: usize) -> Array3<Complex32> {
        let x = casorati(block);
        self.project_casorati(&x, block.dim(), low, high)
    }

    fn project_casorati(&self, x: &Mat<c64>, dim: (usize, usize, usize), low: usize, high: usize) -> Array3<Complex32> {
        let nt = self.v.nrows();
        assert_eq!(x.ncols(), nt, "block has {} frames, basis {nt}", x.ncols());
        assert!(low >= 1 && low <= high && high <= nt, "invalid components {low}..={high} of {nt}");
        let kept = high - low + 1;
        let removed = nt - kept;
        let npix = x.nrows();
        let mut y = Mat::<c64>::zeros(npix, nt);
        let one = c64::new(1.0, 0.0);
        if removed < kept {
            // Y = X − (X V_R) V_Rᴴ with R = components outside low..=high.
            let idx: Vec<usize> = (0..nt).filter(|&k| k + 1 < low || k + 1 > high).collect();
            y.copy_from(x);
            if !idx.is_empty() {
                let vr = Mat::from_fn(nt, idx.len(), |i, j| self.v[(i, idx[j])]);
                let mut xv = Mat::<c64>::zeros(npix, idx.len());
                matmul(xv.as_mut(), Accum::Replace, x.as_ref(), vr.as_ref(), one, Par::rayon(0));
                matmul(y.as_mut(), Accum::Add, xv.as_ref(), vr.adjoint(), c64::new(-1.0, 0.0), Par::rayon(0));
            }
        } else {
            let vk = self.v.subcols(low - 1, kept);
            let mut xv = Mat::<c64>::zeros(npix, kept);
            matmul(xv.as_mut(), Accum::Replace, x.as_ref(), vk, one, Par::rayon(0));
            matmul(y.as_mut(), Accum::Replace, xv.as_ref(), vk.adjoint(), one, Par::rayon(0));
        }
        let (_, rows, cols) = dim;
        Array3::from_shape_fn((nt, rows, cols), |(t, r, c)| {
            let v = y[(r * cols + c, t)];
            Complex32::new(v.re as f32, v.im as f32)
        })
    }
}

/// First kept component from the knee of the singular-value curve.
///
/// The curve in dB is fitted by two straight segments, `1..=k` (the steep tissue part)
/// and `k+1..=n` (the flat blood-and-noise part), and `k` minimises the total squared
/// error of the two least-squares lines; the first kept component is `k + 1` (1-based, at
/// least 2 and at most `n`). Unlike the "furthest below the chord" elbow, a two-segment
/// fit is not pulled into the long blood/noise tail (which has its own, gentler knee).
pub fn auto_low_cutoff(singular_values: &[f64]) -> usize {
    let n = singular_values.len();
    if n < 3 {
        return n.max(1);
    }
    let floor = singular_values[0] * 1e-15 + f64::MIN_POSITIVE;
    let y: Vec<f64> = singular_values.iter().map(|&s| 20.0 * s.max(floor).log10()).collect();
    // Prefix sums of x, y, x², xy, y² for O(1) least-squares error of any segment.
    let mut pre = vec![[0.0f64; 5]; n + 1];
    for (i, &v) in y.iter().enumerate() {
        let x = i as f64;
        let p = pre[i];
        pre[i + 1] = [p[0] + x, p[1] + v, p[2] + x * x, p[3] + x * v, p[4] + v * v];
    }
    let sse = |a: usize, b: usize| -> f64 {
        // Points a..b (exclusive), b - a >= 1.
        let m = (b - a) as f64;
        let d: Vec<f64> = (0..5).map(|j| pre[b][j] - pre[a][j]).collect();
        let (sx, sy, sxx, sxy, syy) = (d[0], d[1], d[2], d[3], d[4]);
        let vxx = sxx - sx * sx / m;
        let vxy = sxy - sx * sy / m;
        let vyy = syy - sy * sy / m;
        if vxx <= 0.0 { vyy.max(0.0) } else { (vyy - vxy * vxy / vxx).max(0.0) }
    };
    let mut best = (f64::INFINITY, 1usize);
    for k in 1..=n - 2 {
        let e = sse(0, k) + sse(k, n);
        if e < best.0 {
            best = (e, k);
        }
    }
    // Components 1..=k are tissue: keep from k + 1.
    (best.1 + 1).clamp(2, n)
}

/// Filters one block `[frames, rows, cols]`.
pub fn svd_filter_block(
    block: ArrayView3<'_, Complex32>,
    cutoff: Cutoff,
    start_frame: usize,
) -> Result<(Array3<Complex32>, BlockReport), ClutterError> {
    let nt = block.dim().0;
    let x = casorati(block);
    if nt == 0 {
        return Err(ClutterError::Config("empty block".into()));
    }
    let basis = SvdBasis::from_casorati(&x)?;
    let (low, high) = match cutoff {
        Cutoff::Fixed { low, high } => (low, high),
        Cutoff::Auto { high } => (auto_low_cutoff(&basis.singular_values), high),
    };
    let high = high.unwrap_or(nt).min(nt);
    if low == 0 || low > high {
        return Err(ClutterError::Config(format!(
            "cannot keep components {low}..={high} of a {nt}-frame block (components are numbered from 1)"
        )));
    }
    let y = basis.project_casorati(&x, block.dim(), low, high);
    Ok((y, BlockReport { start_frame, n_frames: nt, low, high, singular_values: basis.singular_values }))
}

/// Frame ranges of the blocks for `n_frames` frames (see [`SvdConfig::block_frames`]).
pub fn block_ranges(n_frames: usize, block_frames: usize) -> Vec<std::ops::Range<usize>> {
    let b = block_frames.max(1);
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    while start < n_frames {
        let end = (start + b).min(n_frames);
        if end - start < b.div_ceil(2)
            && let Some(last) = out.last_mut()
        {
            last.end = end;
        } else {
            out.push(start..end);
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::StandardNormal;

    fn cn(rng: &mut ChaCha8Rng) -> Complex32 {
        Complex32::new(rng.sample(StandardNormal), rng.sample(StandardNormal))
    }

    /// `rank` spatial patterns with slowly varying temporal weights (tissue), a bubble
    /// moving one pixel per frame (blood) and white noise.
    fn synthetic(nt: usize, rows: usize, cols: usize, rank: usize, seed: u64) -> [Array3<Complex32>; 3] {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let patterns: Vec<Vec<Complex32>> =
            (0..rank).map(|_| (0..rows * cols).map(|_| cn(&mut rng) * 100.0).collect()).collect();
        // k cycles over the block: slow, and orthogonal in time so that the rank is exact.
        let freqs: Vec<f32> = (0..rank).map(|k| std::f32::consts::TAU * k as f32 / nt as f32).collect();
        let tissue = Array3::from_shape_fn((nt, rows, cols), |(t, r, c)| {
            (0..rank)
                .map(|k| patterns[k][r * cols + c] * Complex32::from_polar(1.0 / (k + 1) as f32, freqs[k] * t as f32))
                .sum()
        });
        let bubble = Array3::from_shape_fn((nt, rows, cols), |(t, r, c)| {
            let (x, z) = (c as f32 - (t % cols) as f32, r as f32 - rows as f32 / 2.0);
            Complex32::new((-(x * x + z * z) / 2.0).exp(), 0.0)
        });
        let noise = Array3::from_shape_fn((nt, rows, cols), |_| cn(&mut rng) * 0.01);
        [tissue, bubble, noise]
    }

    fn energy(a: &Array3<Complex32>) -> f64 {
        a.iter().map(|v| v.norm_sqr() as f64).sum()
    }

    #[test]
    fn gram_route_matches_a_direct_svd() {
        // Reference: faer's thin SVD of the Casorati matrix itself (a different algorithm).
        let [t, b, n] = synthetic(40, 8, 9, 3, 1);
        let x = &t + &b + &n;
        let cas = casorati(x.view());
        let svd = cas.thin_svd().unwrap();
        let basis = SvdBasis::compute(x.view()).unwrap();
        let s = svd.S();
        for (k, &sv) in basis.singular_values().iter().enumerate() {
            assert!((sv - s[k].re).abs() <= 1e-6 * s[0].re, "σ{k}: {sv} vs {}", s[k].re);
        }
        // Keep components 4..=40: reconstruct U_K Σ_K V_Kᴴ from the reference SVD.
        let (u, v) = (svd.U(), svd.V());
        let (y, rep) = svd_filter_block(x.view(), Cutoff::Fixed { low: 4, high: None }, 0).unwrap();
        assert_eq!((rep.low, rep.high), (4, 40));
        let mut max_err: f64 = 0.0;
        for t in 0..40 {
            for p in 0..72 {
                let mut r = c64::new(0.0, 0.0);
                for k in 3..40 {
                    r += u[(p, k)] * s[k] * v[(t, k)].conj();
                }
                let got = y[[t, p / 9, p % 9]];
                max_err = max_err.max((c64::new(got.re as f64, got.im as f64) - r).norm());
            }
        }
        assert!(max_err < 1e-4, "max error {max_err}");
        // The cheaper complement route (few components removed) gives the same result as
        // the kept-components route.
        let basis_all = basis.project(x.view(), 4, 40);
        let kept_route = basis.project(x.view(), 4, 39);
        assert!((energy(&basis_all) - energy(&y)).abs() < 1e-6 * energy(&y));
        assert!(energy(&kept_route) <= energy(&basis_all));
    }

    #[test]
    fn removes_low_rank_tissue_and_keeps_the_bubble() {
        let [t, b, n] = synthetic(100, 16, 20, 3, 2);
        let x = &t + &b + &n;
        let basis = SvdBasis::compute(x.view()).unwrap();
        assert_eq!(auto_low_cutoff(basis.singular_values()), 4);
        let (lo, hi) = (4, 100);
        let tissue_out = basis.project(t.view(), lo, hi);
        let bubble_out = basis.project(b.view(), lo, hi);
        let rejection_db = 10.0 * (energy(&t) / energy(&tissue_out)).log10();
        let kept = energy(&bubble_out) / energy(&b);
        // The bubble loops along a row every 20 frames, so its temporal mean (a static
        // streak) lies along tissue component 1 (constant in time) and goes with it; its
        // other harmonics (5, 10, … cycles per block) are orthogonal to the tissue's 0, 1
        // and 2 cycles and stay. Expected kept fraction: 1 − (energy of the mean) / energy.
        let mean = b.mean_axis(ndarray::Axis(0)).unwrap();
        let dc = 100.0 * mean.iter().map(|v| v.norm_sqr() as f64).sum::<f64>() / energy(&b);
        assert!(rejection_db > 60.0, "tissue rejection {rejection_db:.1} dB");
        assert!((kept - (1.0 - dc)).abs() < 0.02, "bubble energy kept {kept:.3}, expected {:.3}", 1.0 - dc);
    }

    #[test]
    fn auto_cutoff_finds_the_knee_of_a_tissue_plus_noise_curve() {
        // Three tissue components 60–70 dB above a flat noise floor.
        let x = {
            let [t, _, n] = synthetic(60, 12, 12, 3, 4);
            &t + &n
        };
        let basis = SvdBasis::compute(x.view()).unwrap();
        assert_eq!(auto_low_cutoff(basis.singular_values()), 4);
        // Hand-made curve: 80, 60, 40 dB then a gentle tail from 0 dB.
        let mut s: Vec<f64> = vec![1e4, 1e3, 1e2];
        s.extend((0..40).map(|k| 10f64.powf(-0.01 * k as f64)));
        assert_eq!(auto_low_cutoff(&s), 4);
    }

    #[test]
    fn blocks_cover_every_frame_and_merge_a_short_tail() {
        assert_eq!(block_ranges(2400, 1000), vec![0..1000, 1000..2400]);
        assert_eq!(block_ranges(2500, 1000), vec![0..1000, 1000..2000, 2000..2500]);
        assert_eq!(block_ranges(2600, 1000), vec![0..1000, 1000..2000, 2000..2600]);
        assert_eq!(block_ranges(300, 1000), vec![0..300]);
        assert!(block_ranges(0, 10).is_empty());
    }

    #[test]
    fn impossible_cutoffs_are_errors() {
        let [t, _, _] = synthetic(10, 4, 4, 1, 3);
        assert!(svd_filter_block(t.view(), Cutoff::Fixed { low: 0, high: None }, 0).is_err());
        assert!(svd_filter_block(t.view(), Cutoff::Fixed { low: 11, high: None }, 0).is_err());
    }
}
