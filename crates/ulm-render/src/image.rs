//! Turning a map into pixels: power-law compression and a colormap. Axes in mm, the
//! colour bar and its labels are drawn around these pixels by `ulm-report`'s
//! `MapFigure`.

use ndarray::{Array2, Array3};
use serde::{Deserialize, Serialize};

use crate::Colormap;

/// How to colour a map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImageStyle {
    /// Colormap.
    pub colormap: Colormap,
    /// Power-law compression: shown value `((v − lo) / (hi − lo))^gamma` (1/3 suits
    /// densities, 1 speeds).
    pub gamma: f32,
    /// Value range `(lo, hi)`; `None` for `(0, max)`.
    pub range: Option<(f32, f32)>,
}

impl ImageStyle {
    /// Inferno, γ = 1/3.
    pub fn density() -> Self {
        Self { colormap: Colormap::Inferno, gamma: 1.0 / 3.0, range: None }
    }
    /// Plasma, γ = 1.
    pub fn speed() -> Self {
        Self { colormap: Colormap::Plasma, gamma: 1.0, ..Self::density() }
    }
    /// The axial-direction style: blue (−1, up) through black to red (+1, down).
    pub fn direction() -> Self {
        Self { colormap: Colormap::Direction, gamma: 1.0, range: Some((-1.0, 1.0)) }
    }

    /// The colour of value `v` when the map's range is `(lo, hi)` (also what a colour
    /// bar shows at `v`).
    pub fn colour(&self, v: f32, lo: f32, hi: f32) -> [u8; 3] {
        self.colormap.rgb(normalise(v, lo, hi, self.gamma))
    }
}

/// The `(lo, hi)` range used for `map` under `style`.
pub fn value_range(map: &Array2<f32>, style: &ImageStyle) -> (f32, f32) {
    style.range.unwrap_or_else(|| (0.0, map.iter().copied().filter(|v| v.is_finite()).fold(0.0, f32::max)))
}

fn normalise(v: f32, lo: f32, hi: f32, gamma: f32) -> f32 {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) || !v.is_finite() {
        return 0.0;
    }
    ((v - lo) / (hi - lo)).clamp(0.0, 1.0).powf(gamma)
}

/// Colours `map` with `style`. Pixels where `mask` is 0 (e.g. no track) are black.
/// Returns `[rows, cols, 3]`, row 0 at the top (shallowest).
pub fn render_rgb(map: &Array2<f32>, style: &ImageStyle, mask: Option<&Array2<f32>>) -> Array3<u8> {
    let (lo, hi) = value_range(map, style);
    let (rows, cols) = map.dim();
    let mut img = Array3::<u8>::zeros((rows, cols, 3));
    for ((r, c), &v) in map.indexed_iter() {
        if mask.is_some_and(|m| m[[r, c]] <= 0.0) {
            continue;
        }
        let rgb = style.colour(v, lo, hi);
        for k in 0..3 {
            img[[r, c, k]] = rgb[k];
        }
    }
    img
}

/// Colours the axial direction (`direction` in [−1, 1]) with brightness from the
/// compressed `density` (`style` gives its γ): up-flow blue, down-flow red, no flow
/// black. A colour bar for it is [`ImageStyle::direction`] over `(−1, 1)`.
pub fn render_direction_rgb(direction: &Array2<f32>, density: &Array2<f32>, style: &ImageStyle) -> Array3<u8> {
    let (dlo, dhi) = value_range(density, &ImageStyle { range: None, ..*style });
    let (rows, cols) = direction.dim();
    let mut img = Array3::<u8>::zeros((rows, cols, 3));
    for ((r, c), &d) in direction.indexed_iter() {
        let w = normalise(density[[r, c]], dlo, dhi, style.gamma);
        let rgb = Colormap::Direction.rgb(0.5 + 0.5 * d.clamp(-1.0, 1.0) * w);
        for k in 0..3 {
            img[[r, c, k]] = rgb[k];
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_follow_range_gamma_and_mask() {
        // Values 0, 1, 8 with range (0, 8) and γ = 1/3: shown 0, 0.5, 1.
        let map = Array2::from_shape_vec((1, 3), vec![0.0f32, 1.0, 8.0]).unwrap();
        let style = ImageStyle { colormap: Colormap::Gray, ..ImageStyle::density() };
        let img = render_rgb(&map, &style, None);
        assert_eq!(img[[0, 0, 0]], Colormap::Gray.rgb(0.0)[0]);
        assert_eq!(img[[0, 1, 0]], Colormap::Gray.rgb(0.5)[0]);
        assert_eq!(img[[0, 2, 0]], Colormap::Gray.rgb(1.0)[0]);
        assert_eq!(style.colour(1.0, 0.0, 8.0), Colormap::Gray.rgb(0.5));
        let mask = Array2::from_shape_vec((1, 3), vec![1.0f32, 0.0, 1.0]).unwrap();
        assert_eq!(render_rgb(&map, &style, Some(&mask))[[0, 1, 0]], 0);
        // Direction: full density, +1 → the top colour of the direction map.
        let d = Array2::from_elem((1, 1), 1.0f32);
        let img = render_direction_rgb(&d, &d, &ImageStyle::density());
        assert_eq!([img[[0, 0, 0]], img[[0, 0, 1]], img[[0, 0, 2]]], ImageStyle::direction().colour(1.0, -1.0, 1.0));
    }
}
