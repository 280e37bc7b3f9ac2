//! Radial-symmetry centre (Parthasarathy, Nature Methods 2012), the estimator PALA found
//! best.
//!
//! The intensity gradient of a radially symmetric spot points at its centre. Gradients
//! are taken at the `(n-1) × (n-1)` midpoints between pixels, along the two diagonals
//! `u = (+1, −1)` and `v = (−1, −1)` in `(x, z)` (z grows with the row index):
//! `dI/du = I[r, c+1] − I[r+1, c]`, `dI/dv = I[r, c] − I[r+1, c+1]`, so that
//! `∂I/∂x ∝ du − dv` and `∂I/∂z ∝ −(du + dv)`. Both are smoothed by a 3 × 3 box filter
//! (zero outside, as MATLAB's `conv2(…, 'same')`). Each midpoint defines a line along its
//! gradient; the centre minimises the weighted sum of squared distances to those lines,
//! with weights `|∇I|² / (distance of the midpoint to the |∇I|²-weighted centroid)`.
//!
//! The original writes each line as `z = m x + b` and needs special cases for vertical
//! lines (`m = ±∞`) and zero gradients. We write the same distance with the line's unit
//! normal `n̂ ∝ (−∂I/∂z, ∂I/∂x)`: `dist² = ((P − M)·n̂)²`, which equals
//! `(z − m x − b)² / (m² + 1)` term by term, so the solution is the same without the
//! special cases.

/// Radial-symmetry centre of the patch, `(dx, dz)` from its centre in pixels.
pub fn radial_symmetry(patch: &[f32], n: usize) -> Option<(f64, f64)> {
    if n < 3 {
        return None;
    }
    let m = n - 1;
    const STACK: usize = 16 * 16; // patches up to 17 × 17 need no allocation
    if m * m <= STACK {
        let mut buf = [0.0f64; 4 * STACK];
        let (du, rest) = buf.split_at_mut(m * m);
        let (dv, rest) = rest.split_at_mut(m * m);
        let (gx, rest) = rest.split_at_mut(m * m);
        fill(patch, n, du, dv);
        solve(du, dv, gx, &mut rest[..m * m], m)
    } else {
        let mut buf = vec![0.0f64; 4 * m * m];
        let (du, rest) = buf.split_at_mut(m * m);
        let (dv, rest) = rest.split_at_mut(m * m);
        let (gx, gz) = rest.split_at_mut(m * m);
        fill(patch, n, du, dv);
        solve(du, dv, gx, gz, m)
    }
}

fn fill(patch: &[f32], n: usize, du: &mut [f64], dv: &mut [f64]) {
    let m = n - 1;
    for r in 0..m {
        for c in 0..m {
            let i = |rr: usize, cc: usize| patch[rr * n + cc] as f64;
            du[r * m + c] = i(r, c + 1) - i(r + 1, c);
            dv[r * m + c] = i(r, c) - i(r + 1, c + 1);
        }
    }
}

/// 3 × 3 box mean with zero padding at (r, c) of an m × m grid.
#[inline]
fn box3(g: &[f64], m: usize, r: usize, c: usize) -> f64 {
    let mut s = 0.0;
    for rr in r.saturating_sub(1)..=(r + 1).min(m - 1) {
        for cc in c.saturating_sub(1)..=(c + 1).min(m - 1) {
            s += g[rr * m + cc];
        }
    }
    s / 9.0
}

fn solve(du: &[f64], dv: &[f64], gx: &mut [f64], gz: &mut [f64], m: usize) -> Option<(f64, f64)> {
    // Midpoint coordinates relative to the patch centre: -(m-1)/2 … (m-1)/2.
    let half = (m as f64 - 1.0) / 2.0;
    let (mut sw, mut cx, mut cz) = (0.0, 0.0, 0.0);
    for r in 0..m {
        for c in 0..m {
            let (fu, fv) = (box3(du, m, r, c), box3(dv, m, r, c));
            let k = r * m + c;
            gx[k] = fu - fv;
            gz[k] = -(fu + fv);
            // |∇I|² up to a constant factor (fu² + fv² in the original).
            let g2 = fu * fu + fv * fv;
            sw += g2;
            cx += g2 * (c as f64 - half);
            cz += g2 * (r as f64 - half);
        }
    }
    if !(sw > 0.0 && sw.is_finite()) {
        return None;
    }
    let (cx, cz) = (cx / sw, cz / sw);
    // Normal equations of Σ w ((P − M)·n̂)²: (Σ w n̂n̂ᵀ) P = Σ w n̂n̂ᵀ M.
    let (mut a11, mut a12, mut a22, mut b1, mut b2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for r in 0..m {
        for c in 0..m {
            let k = r * m + c;
            let (x, z) = (c as f64 - half, r as f64 - half);
            let g2 = gx[k] * gx[k] + gz[k] * gz[k];
            if g2 <= 0.0 {
                continue;
            }
            let dist = ((x - cx).powi(2) + (z - cz).powi(2)).sqrt().max(1e-9);
            // The original weight is (fu² + fv²)/dist = (g2 / 2)/dist; the constant factor
            // cancels. Unit normal: (−gz, gx)/|g|.
            let w = g2 / dist;
            let (nx, nz) = (-gz[k], gx[k]);
            let (nxx, nxz, nzz) = (nx * nx / g2, nx * nz / g2, nz * nz / g2);
            a11 += w * nxx;
            a12 += w * nxz;
            a22 += w * nzz;
            let nm = nxx * x + nxz * z;
            let nm2 = nxz * x + nzz * z;
            b1 += w * nm;
            b2 += w * nm2;
        }
    }
    let det = a11 * a22 - a12 * a12;
    if det.is_nan() || det.abs() <= 1e-12 * (a11 * a22).abs().max(1e-300) {
        return None;
    }
    let xc = (a22 * b1 - a12 * b2) / det;
    let zc = (a11 * b2 - a12 * b1) / det;
    (xc.is_finite() && zc.is_finite()).then_some((xc, zc))
}
