//! The fine-grid localization map: rendering the training target from exact centres, and
//! reading centres back from a predicted map (local maxima + sub-pixel refinement).
//!
//! # The fine grid
//! A patch of `h × w` pixels maps to a map of `h·F × w·F` fine pixels (`F` = upsample).
//! Patch pixel `c` covers `[c − ½, c + ½)` (pixel centres at integer indices), so fine pixel
//! `k` has its centre at patch coordinate `(k + ½) / F − ½`, and patch coordinate `c` sits at
//! fine coordinate `u = (c + ½) · F − ½`.

/// Fine coordinate of patch coordinate `c` (see the module docs).
pub fn to_fine(c: f64, upsample: usize) -> f64 {
    (c + 0.5) * upsample as f64 - 0.5
}

/// Patch coordinate of fine coordinate `u` (inverse of [`to_fine`]).
pub fn from_fine(u: f64, upsample: usize) -> f64 {
    (u + 0.5) / upsample as f64 - 0.5
}

/// The training target: each centre `(col, row)` (patch pixels, fractional) drawn on the
/// `height·F × width·F` fine grid as a Gaussian of peak 1 and standard deviation
/// `sigma_px` patch pixels (`sigma_px · F` fine pixels), centred exactly on it — a delta at
/// the exact position blurred by a small Gaussian. Overlapping bubbles take the maximum, so
/// every bubble keeps a peak of 1 (a sum would merge close pairs into one brighter blob).
/// Row-major `[height·F, width·F]`.
pub fn render_target(centers: &[(f64, f64)], height: usize, width: usize, upsample: usize, sigma_px: f64) -> Vec<f32> {
    let (fh, fw) = (height * upsample, width * upsample);
    let mut map = vec![0f32; fh * fw];
    let s = sigma_px * upsample as f64;
    let reach = (4.0 * s).ceil();
    let inv = 1.0 / (2.0 * s * s);
    for &(col, row) in centers {
        let (u, v) = (to_fine(col, upsample), to_fine(row, upsample));
        if !(u.is_finite() && v.is_finite()) {
            continue;
        }
        let r0 = (v - reach).max(0.0) as usize;
        let r1 = ((v + reach).min(fh as f64 - 1.0)).floor();
        let c0 = (u - reach).max(0.0) as usize;
        let c1 = ((u + reach).min(fw as f64 - 1.0)).floor();
        if r1 < 0.0 || c1 < 0.0 {
            continue;
        }
        for r in r0..=r1 as usize {
            let dr = r as f64 - v;
            for c in c0..=c1 as usize {
                let dc = c as f64 - u;
                let g = (-(dr * dr + dc * dc) * inv).exp() as f32;
                let m = &mut map[r * fw + c];
                *m = m.max(g);
            }
        }
    }
    map
}

/// A local maximum of a predicted map, in patch pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    /// Column (lateral), patch pixels, fractional.
    pub col: f64,
    /// Row (depth), patch pixels, fractional.
    pub row: f64,
    /// Map value at the peak's fine pixel, in `[0, 1]`.
    pub score: f32,
}

/// Settings of [`find_peaks`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeakConfig {
    /// Fine-grid factor of the map.
    pub upsample: usize,
    /// A peak is the maximum of the `(2·radius + 1)²` fine pixels around it.
    pub radius: usize,
    /// Keep peaks with a value ≥ this.
    pub min_score: f32,
    /// Keep at most this many peaks (the highest).
    pub max_peaks: usize,
}

/// Offset of a peak from its sample `m` given its neighbours `l` (at −1) and `r` (at +1):
/// the vertex of the parabola through the logarithms (exact for a Gaussian), or through the
/// values when one of them is not positive; 0 when the three do not bend down; clamped to
/// ±½.
pub fn subpixel_offset(l: f32, m: f32, r: f32) -> f64 {
    let vertex = |l: f64, m: f64, r: f64| {
        let d = l - 2.0 * m + r;
        if d < 0.0 { (0.5 * (l - r) / d).clamp(-0.5, 0.5) } else { 0.0 }
    };
    let (l, m, r) = (f64::from(l), f64::from(m), f64::from(r));
    if l > 0.0 && m > 0.0 && r > 0.0 { vertex(l.ln(), m.ln(), r.ln()) } else { vertex(l, m, r) }
}

/// Local maxima of a row-major `[fh, fw]` map within its valid `valid_fh × valid_fw` fine
/// pixels, refined to sub-pixel positions along each axis ([`subpixel_offset`]) and returned
/// in patch pixels, highest first. Ties between equal neighbours go to the first in raster
/// order, so a plateau gives one peak.
pub fn find_peaks(map: &[f32], fh: usize, fw: usize, valid_fh: usize, valid_fw: usize, cfg: &PeakConfig) -> Vec<Peak> {
    debug_assert_eq!(map.len(), fh * fw);
    let (vh, vw) = (valid_fh.min(fh), valid_fw.min(fw));
    let rad = cfg.radius as isize;
    let mut peaks = Vec::new();
    for r in 0..vh {
        for c in 0..vw {
            let v = map[r * fw + c];
            if v.is_nan() || v < cfg.min_score {
                continue;
            }
            let mut is_max = true;
            'window: for dr in -rad..=rad {
                let rr = r as isize + dr;
                if rr < 0 || rr >= vh as isize {
                    continue;
                }
                for dc in -rad..=rad {
                    let cc = c as isize + dc;
                    if cc < 0 || cc >= vw as isize || (dr == 0 && dc == 0) {
                        continue;
                    }
                    let n = map[rr as usize * fw + cc as usize];
                    let earlier = dr < 0 || (dr == 0 && dc < 0);
                    if n > v || (earlier && n == v) {
                        is_max = false;
                        break 'window;
                    }
                }
            }
            if !is_max {
                continue;
            }
            let at = |rr: usize, cc: usize| map[rr * fw + cc];
            let dc = if c > 0 && c + 1 < vw { subpixel_offset(at(r, c - 1), v, at(r, c + 1)) } else { 0.0 };
            let dr = if r > 0 && r + 1 < vh { subpixel_offset(at(r - 1, c), v, at(r + 1, c)) } else { 0.0 };
            peaks.push(Peak {
                col: from_fine(c as f64 + dc, cfg.upsample),
                row: from_fine(r as f64 + dr, cfg.upsample),
                score: v,
            });
        }
    }
    peaks.sort_by(|a, b| b.score.total_cmp(&a.score));
    peaks.truncate(cfg.max_peaks);
    peaks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_values_by_hand() {
        // F = 4, σ = 0.25 px = 1 fine px. Centre (col 2, row 3) → fine (u, v) = (9.5, 13.5).
        let m = render_target(&[(2.0, 3.0)], 6, 5, 4, 0.25);
        assert_eq!(m.len(), 24 * 20);
        let at = |r: usize, c: usize| f64::from(m[r * 20 + c]);
        // (13, 9): d² = 0.25 + 0.25 → exp(−0.25); (14, 11): d² = 0.25 + 2.25 → exp(−1.25).
        assert!((at(13, 9) - (-0.25f64).exp()).abs() < 1e-6);
        assert!((at(13, 10) - (-0.25f64).exp()).abs() < 1e-6);
        assert!((at(14, 11) - (-1.25f64).exp()).abs() < 1e-6);
        // Beyond 4σ (reach 4 fine px): nothing drawn.
        assert_eq!(at(13, 15), 0.0);
        assert_eq!(at(0, 0), 0.0);
        // Two centres: the maximum, not the sum. (col 2.25, row 3) → u = 10.5: at (13, 10)
        // both give exp(−0.25).
        let m2 = render_target(&[(2.0, 3.0), (2.25, 3.0)], 6, 5, 4, 0.25);
        assert!((f64::from(m2[13 * 20 + 10]) - (-0.25f64).exp()).abs() < 1e-6);
        // A centre on the border and one far outside do not panic.
        let m3 = render_target(&[(-0.5, -0.5), (100.0, -50.0), (f64::NAN, 1.0)], 6, 5, 4, 0.25);
        assert!((f64::from(m3[0]) - (-0.25f64).exp()).abs() < 1e-6);
    }

    #[test]
    fn peaks_recover_rendered_centres_exactly() {
        let centres = [(3.3, 2.7), (10.05, 9.9), (0.8, 11.2)];
        for f in [2usize, 4, 8] {
            let m = render_target(&centres, 14, 13, f, 0.3);
            let cfg = PeakConfig { upsample: f, radius: f / 2, min_score: 0.05, max_peaks: 10 };
            let p = find_peaks(&m, 14 * f, 13 * f, 14 * f, 13 * f, &cfg);
            assert_eq!(p.len(), 3, "F {f}: {p:?}");
            for &(c, r) in &centres {
                let q = p.iter().find(|q| (q.col - c).abs() < 0.3 && (q.row - r).abs() < 0.3).unwrap();
                // The log-parabola is exact for a sampled Gaussian.
                assert!((q.col - c).abs() < 1e-5 && (q.row - r).abs() < 1e-5, "F {f}: {q:?} vs {c}, {r}");
            }
        }
        // A plateau gives one peak; a peak outside the valid area is ignored; thresholds and
        // the count limit apply.
        let mut m = vec![0f32; 8 * 8];
        m[2 * 8 + 2] = 0.5;
        m[2 * 8 + 3] = 0.5;
        m[6 * 8 + 6] = 0.9;
        let cfg = PeakConfig { upsample: 1, radius: 1, min_score: 0.1, max_peaks: 10 };
        let p = find_peaks(&m, 8, 8, 8, 8, &cfg);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].score, p[1].score), (0.9, 0.5));
        assert_eq!(find_peaks(&m, 8, 8, 5, 5, &cfg).len(), 1);
        assert_eq!(find_peaks(&m, 8, 8, 8, 8, &PeakConfig { max_peaks: 1, ..cfg }).len(), 1);
        assert_eq!(find_peaks(&m, 8, 8, 8, 8, &PeakConfig { min_score: 0.6, ..cfg }).len(), 1);
        // Offsets by hand: values 1, 2, 1 → 0 (symmetric); 0, 1, 0.5 (a zero: the plain
        // parabola) → 0.5 · (0 − 0.5) / (0 − 2 + 0.5) = 1/6.
        assert_eq!(subpixel_offset(1.0, 2.0, 1.0), 0.0);
        assert!((subpixel_offset(0.0, 1.0, 0.5) - 1.0 / 6.0).abs() < 1e-12);
        assert_eq!(subpixel_offset(1.0, 1.0, 1.0), 0.0);
    }
}
