//! Quick-look images: the ground-truth density map and log-compressed frames.

use ndarray::Array2;
use ulm_core::{Geometry, Localizations};

/// Histogram of localizations on a grid `upsample` times finer than `geometry`'s (λ/10
/// for a λ/2 grid and `upsample = 5`), over the `rows × cols` field of view. Cell
/// `(i, j)` covers sub-pixel `i` (depth) and `j` (lateral); pixel edges are kept, so
/// cell centres sit at `x0 − p/2 + (j + 0.5) p / upsample`.
pub fn density_counts(
    locs: &Localizations,
    geometry: &Geometry,
    rows: usize,
    cols: usize,
    upsample: usize,
) -> Array2<u32> {
    let (h, w) = (rows * upsample, cols * upsample);
    let mut img = Array2::<u32>::zeros((h, w));
    for i in 0..locs.len() {
        let (c, r) = geometry.mm_to_px(locs.x_mm[i], locs.z_mm[i]);
        let j = ((c + 0.5) * upsample as f64).floor();
        let k = ((r + 0.5) * upsample as f64).floor();
        if j >= 0.0 && k >= 0.0 && (j as usize) < w && (k as usize) < h {
            img[[k as usize, j as usize]] += 1;
        }
    }
    img
}

/// The ground-truth density map as an 8-bit grey image: counts on a λ/10 grid
/// ([`density_counts`] with 5× upsampling of a λ/2 grid), compressed by `(n / max)^γ`
/// with `γ = 1/3` so that faint capillaries stay visible next to large vessels.
pub fn density_image(locs: &Localizations, geometry: &Geometry, rows: usize, cols: usize) -> Array2<u8> {
    let up = ((geometry.pixel_size_x_mm / (geometry.wavelength_mm / 10.0)).round() as usize).max(1);
    let counts = density_counts(locs, geometry, rows, cols, up);
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    counts.mapv(|n| ((n as f64 / max).powf(1.0 / 3.0) * 255.0).round() as u8)
}

/// An envelope frame log-compressed to 8 bits over `dynamic_range_db` below its maximum.
pub fn log_compress(envelope: &Array2<f32>, dynamic_range_db: f64) -> Array2<u8> {
    let max = envelope.iter().copied().fold(0f32, f32::max).max(f32::MIN_POSITIVE) as f64;
    envelope.mapv(|v| {
        let db = 20.0 * ((v as f64).max(1e-30) / max).log10();
        (((db + dynamic_range_db) / dynamic_range_db).clamp(0.0, 1.0) * 255.0).round() as u8
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_the_right_cell() {
        let g = Geometry::new(0.05, 0.05, -1.0, 2.0, 0.1, 1000.0).unwrap();
        let mut l = Localizations::new();
        // Centre of pixel (row 3, col 4): cell (3*5 + 2, 4*5 + 2).
        let (x, z) = g.px_to_mm(4.0, 3.0);
        l.push(0, x, z, 1.0);
        l.push(1, x, z, 1.0);
        // Left edge of pixel 0: cell column 0. Outside: dropped.
        l.push(2, g.col_to_x_mm(-0.49), z, 1.0);
        l.push(3, g.col_to_x_mm(-0.51), z, 1.0);
        let c = density_counts(&l, &g, 10, 10, 5);
        assert_eq!(c[[17, 22]], 2);
        assert_eq!(c[[17, 0]], 1);
        assert_eq!(c.sum(), 3);
        let img = density_image(&l, &g, 10, 10);
        assert_eq!(img.dim(), (50, 50));
        assert_eq!(img[[17, 22]], 255);
    }

    #[test]
    fn log_compression_maps_range() {
        let e = Array2::from_shape_vec((1, 3), vec![1.0f32, 0.1, 0.001]).unwrap();
        let u = log_compress(&e, 40.0);
        assert_eq!(u[[0, 0]], 255);
        assert_eq!(u[[0, 1]], 128); // −20 dB of 40 dB
        assert_eq!(u[[0, 2]], 0);
    }
}
