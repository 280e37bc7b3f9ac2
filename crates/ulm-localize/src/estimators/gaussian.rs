//! 2-D Gaussian least-squares fit by Levenberg–Marquardt.

use super::coord;

const NP: usize = 6; // A, x0, z0, σx, σz, B

/// Fits `B + A exp(-(x-x0)²/2σx² - (z-z0)²/2σz²)` to the patch and returns `(x0, z0)`.
///
/// Starts from the background-subtracted centroid with σ from the second moments, damps
/// the Gauss–Newton step with Marquardt's diagonal scaling, and stops when the step is
/// below 1e-7 px or after 100 iterations. `None` when the fit diverges (non-finite, σ or
/// A not positive).
pub fn gaussian_fit(patch: &[f32], n: usize) -> Option<(f64, f64)> {
    let scale = patch.iter().fold(0.0f32, |m, &v| m.max(v.abs())) as f64;
    if !(scale > 0.0 && scale.is_finite()) {
        return None;
    }
    let data: Vec<f64> = patch.iter().map(|&v| v as f64 / scale).collect();
    let lo = data.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = data.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // Initial guess from moments of the background-subtracted patch.
    let (mut s, mut sx, mut sz) = (0.0, 0.0, 0.0);
    for r in 0..n {
        for c in 0..n {
            let w = data[r * n + c] - lo;
            s += w;
            sx += w * coord(c, n);
            sz += w * coord(r, n);
        }
    }
    if s <= 0.0 {
        return None;
    }
    let (x0, z0) = (sx / s, sz / s);
    let (mut vx, mut vz) = (0.0, 0.0);
    for r in 0..n {
        for c in 0..n {
            let w = data[r * n + c] - lo;
            vx += w * (coord(c, n) - x0).powi(2);
            vz += w * (coord(r, n) - z0).powi(2);
        }
    }
    let clamp_sigma = |v: f64| v.sqrt().clamp(0.5, n as f64 / 2.0);
    let mut p = [hi - lo, x0, z0, clamp_sigma(vx / s), clamp_sigma(vz / s), lo];

    let mut lambda = 1e-3;
    let mut cost = residual_cost(&data, n, &p);
    for _ in 0..100 {
        let (jtj, jtr) = normal_equations(&data, n, &p);
        let mut improved = false;
        for _ in 0..12 {
            let mut a = jtj;
            for (k, row) in a.iter_mut().enumerate() {
                row[k] += lambda * jtj[k][k].max(1e-12);
            }
            let Some(step) = solve_spd(a, jtr.map(|v| -v)) else {
                lambda *= 10.0;
                continue;
            };
            let mut q = p;
            for k in 0..NP {
                q[k] += step[k];
            }
            if q[3] <= 0.0 || q[4] <= 0.0 {
                lambda *= 10.0;
                continue;
            }
            let c = residual_cost(&data, n, &q);
            if c < cost {
                let small = step[1].abs().max(step[2].abs()) < 1e-7;
                p = q;
                cost = c;
                lambda = (lambda / 10.0).max(1e-12);
                improved = true;
                if small {
                    return finish(&p);
                }
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break; // at a minimum (to the precision the damping can reach)
        }
    }
    finish(&p)
}

fn finish(p: &[f64; NP]) -> Option<(f64, f64)> {
    (p.iter().all(|v| v.is_finite()) && p[0] > 0.0 && p[3] > 0.0 && p[4] > 0.0).then_some((p[1], p[2]))
}

#[inline]
fn model_and_grad(x: f64, z: f64, p: &[f64; NP]) -> (f64, [f64; NP]) {
    let (a, x0, z0, sx, sz) = (p[0], p[1], p[2], p[3], p[4]);
    let (dx, dz) = (x - x0, z - z0);
    let e = (-(dx * dx) / (2.0 * sx * sx) - (dz * dz) / (2.0 * sz * sz)).exp();
    let ae = a * e;
    let f = p[5] + ae;
    let g = [
        e,
        ae * dx / (sx * sx),
        ae * dz / (sz * sz),
        ae * dx * dx / (sx * sx * sx),
        ae * dz * dz / (sz * sz * sz),
        1.0,
    ];
    (f, g)
}

fn residual_cost(data: &[f64], n: usize, p: &[f64; NP]) -> f64 {
    let mut c = 0.0;
    for r in 0..n {
        for col in 0..n {
            let (f, _) = model_and_grad(coord(col, n), coord(r, n), p);
            let d = f - data[r * n + col];
            c += d * d;
        }
    }
    c
}

#[allow(clippy::needless_range_loop)]
fn normal_equations(data: &[f64], n: usize, p: &[f64; NP]) -> ([[f64; NP]; NP], [f64; NP]) {
    let mut jtj = [[0.0; NP]; NP];
    let mut jtr = [0.0; NP];
    for r in 0..n {
        for col in 0..n {
            let (f, g) = model_and_grad(coord(col, n), coord(r, n), p);
            let res = f - data[r * n + col];
            for i in 0..NP {
                jtr[i] += g[i] * res;
                for j in 0..=i {
                    jtj[i][j] += g[i] * g[j];
                }
            }
        }
    }
    for i in 0..NP {
        for j in 0..i {
            jtj[j][i] = jtj[i][j];
        }
    }
    (jtj, jtr)
}

/// Cholesky solve of a small symmetric positive-definite system.
#[allow(clippy::needless_range_loop)] // index form mirrors the textbook algorithm
fn solve_spd(mut a: [[f64; NP]; NP], b: [f64; NP]) -> Option<[f64; NP]> {
    for j in 0..NP {
        let mut d = a[j][j];
        for k in 0..j {
            d -= a[j][k] * a[j][k];
        }
        if d.is_nan() || d <= 0.0 {
            return None;
        }
        let d = d.sqrt();
        a[j][j] = d;
        for i in j + 1..NP {
            let mut s = a[i][j];
            for k in 0..j {
                s -= a[i][k] * a[j][k];
            }
            a[i][j] = s / d;
        }
    }
    let mut y = [0.0; NP];
    for i in 0..NP {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i][k] * y[k];
        }
        y[i] = s / a[i][i];
    }
    let mut x = [0.0; NP];
    for i in (0..NP).rev() {
        let mut s = y[i];
        for k in i + 1..NP {
            s -= a[k][i] * x[k];
        }
        x[i] = s / a[i][i];
    }
    Some(x)
}
