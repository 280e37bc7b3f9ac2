//! Interpolation estimator: Lanczos-3 upsampling of the patch and the argmax of the result.

use super::coord;

const A: f64 = 3.0;

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        let p = std::f64::consts::PI * x;
        p.sin() / p
    }
}

fn lanczos(x: f64) -> f64 {
    if x.abs() < A { sinc(x) * sinc(x / A) } else { 0.0 }
}

/// Evaluates the Lanczos-3 interpolant of the patch on a grid of step `1/upsample` px that
/// spans the patch (pixel centres included, so the patch centre is a grid point and an
/// unshifted bubble gives exactly 0) and returns the grid point of the maximum. Weights
/// are renormalised to sum to one where the kernel runs past the patch. The result is
/// quantised to `1/upsample` px (RMS error `1/(upsample·√12)` on top of the interpolation
/// error).
pub fn lanczos_argmax(patch: &[f32], n: usize, upsample: usize) -> Option<(f64, f64)> {
    let up = upsample.max(1);
    let h = n / 2;
    let k = 2 * h * up + 1;
    let t = |q: usize| -(h as f64) + q as f64 / up as f64;
    // 1-D weights w[q][i], normalised.
    let mut w = vec![0.0f64; k * n];
    for q in 0..k {
        let row = &mut w[q * n..(q + 1) * n];
        let mut s = 0.0;
        for (i, v) in row.iter_mut().enumerate() {
            *v = lanczos(t(q) - coord(i, n));
            s += *v;
        }
        if s.abs() > 1e-12 {
            row.iter_mut().for_each(|v| *v /= s);
        }
    }
    // Interpolate along x for every row: tmp[r][qx].
    let mut tmp = vec![0.0f64; n * k];
    for r in 0..n {
        for qx in 0..k {
            let wx = &w[qx * n..(qx + 1) * n];
            tmp[r * k + qx] = (0..n).map(|c| wx[c] * patch[r * n + c] as f64).sum();
        }
    }
    // Then along z, keeping only the running argmax.
    let mut best = (f64::NEG_INFINITY, 0usize, 0usize);
    for qz in 0..k {
        let wz = &w[qz * n..(qz + 1) * n];
        for qx in 0..k {
            let v: f64 = (0..n).map(|r| wz[r] * tmp[r * k + qx]).sum();
            if v > best.0 {
                best = (v, qx, qz);
            }
        }
    }
    best.0.is_finite().then(|| (t(best.1), t(best.2)))
}
