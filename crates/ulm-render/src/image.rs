//! Turning a map into a picture: power-law compression, a colormap, a 1 mm scale bar and
//! a colour bar labelled with its end values (a 3 × 5 pixel font, so no font files).

use ndarray::{Array2, Array3};
use serde::{Deserialize, Serialize};

use crate::{Colormap, MapGrid};

/// How to draw a map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImageStyle {
    /// Colormap.
    pub colormap: Colormap,
    /// Power-law compression: shown value `((v − lo) / (hi − lo))^gamma` (1/3 suits
    /// densities, 1 speeds).
    pub gamma: f32,
    /// Value range `(lo, hi)`; `None` for `(0, max)`.
    pub range: Option<(f32, f32)>,
    /// Length of the scale bar in mm (`None`: no bar).
    pub scale_bar_mm: Option<f64>,
    /// Whether to add a colour bar on the right.
    pub colorbar: bool,
}

impl ImageStyle {
    /// Inferno, γ = 1/3, 1 mm scale bar, colour bar.
    pub fn density() -> Self {
        Self { colormap: Colormap::Inferno, gamma: 1.0 / 3.0, range: None, scale_bar_mm: Some(1.0), colorbar: true }
    }
    /// Plasma, γ = 1, 1 mm scale bar, colour bar.
    pub fn speed() -> Self {
        Self { colormap: Colormap::Plasma, gamma: 1.0, ..Self::density() }
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

/// Draws `map` with `style`. Pixels where `mask` is 0 (e.g. no track) are black.
/// Returns `[rows, cols (+ colour bar), 3]`, row 0 at the top (shallowest).
pub fn render_rgb(map: &Array2<f32>, grid: &MapGrid, style: &ImageStyle, mask: Option<&Array2<f32>>) -> Array3<u8> {
    let (lo, hi) = value_range(map, style);
    let (rows, cols) = map.dim();
    let mut img = Array3::<u8>::zeros((rows, cols, 3));
    for ((r, c), &v) in map.indexed_iter() {
        if mask.is_some_and(|m| m[[r, c]] <= 0.0) {
            continue;
        }
        let rgb = style.colormap.rgb(normalise(v, lo, hi, style.gamma));
        for k in 0..3 {
            img[[r, c, k]] = rgb[k];
        }
    }
    decorate(img, grid, style, lo, hi)
}

/// Draws the axial direction (`direction` in [−1, 1]) with brightness from the
/// compressed `density`: up-flow blue, down-flow red, no flow black.
pub fn render_direction_rgb(
    direction: &Array2<f32>,
    density: &Array2<f32>,
    grid: &MapGrid,
    style: &ImageStyle,
) -> Array3<u8> {
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
    decorate(img, grid, &ImageStyle { colormap: Colormap::Direction, gamma: 1.0, ..*style }, -1.0, 1.0)
}

/// Adds the scale bar and the colour bar.
fn decorate(mut img: Array3<u8>, grid: &MapGrid, style: &ImageStyle, lo: f32, hi: f32) -> Array3<u8> {
    let (rows, cols, _) = img.dim();
    let font = (rows.min(cols) / 160).max(1);
    if let Some(mm) = style.scale_bar_mm {
        let len = (mm / grid.geometry.pixel_size_x_mm).round() as usize;
        let thick = (rows / 100).max(2);
        let margin = (rows.min(cols) / 25).max(3);
        if len + margin < cols && thick + margin + 7 * font < rows {
            let top = rows - margin - thick;
            fill(&mut img, top, margin, thick, len, [255, 255, 255]);
            let label = format!("{mm}mm");
            let text_w = text_width(&label) * font;
            let x = (margin + len / 2).saturating_sub(text_w / 2);
            text(&mut img, top - 7 * font, x, &label, font);
        }
    }
    if !style.colorbar {
        return img;
    }
    let gap = (cols / 50).max(4);
    let bar_w = (cols / 30).max(8);
    let lo_s = number(lo);
    let hi_s = number(hi);
    let label_w = text_width(&lo_s).max(text_width(&hi_s)) * font + 2 * font;
    let extra = gap + bar_w + gap / 2 + label_w;
    let mut out = Array3::<u8>::zeros((rows, cols + extra, 3));
    out.slice_mut(ndarray::s![.., ..cols, ..]).assign(&img);
    let top = 5 * font + 2;
    let bottom = rows.saturating_sub(5 * font + 2);
    if bottom > top + 2 {
        let h = bottom - top;
        for r in top..bottom {
            // Top of the bar is the high end; the colour is the map's shown value.
            let t = (bottom - 1 - r) as f32 / (h - 1).max(1) as f32;
            let rgb = style.colormap.rgb(if style.colormap == Colormap::Direction { t } else { t.powf(style.gamma) });
            fill(&mut out, r, cols + gap, 1, bar_w, rgb);
        }
        let x = cols + gap + bar_w + gap / 2;
        text(&mut out, top.saturating_sub(2 * font), x, &hi_s, font);
        text(&mut out, bottom.saturating_sub(3 * font), x, &lo_s, font);
    }
    out
}

fn fill(img: &mut Array3<u8>, top: usize, left: usize, h: usize, w: usize, rgb: [u8; 3]) {
    let (rows, cols, _) = img.dim();
    for r in top..(top + h).min(rows) {
        for c in left..(left + w).min(cols) {
            for k in 0..3 {
                img[[r, c, k]] = rgb[k];
            }
        }
    }
}

/// A short label: 3 significant digits, scientific outside [0.01, 10000).
fn number(v: f32) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(0.01..10000.0).contains(&a) {
        format!("{v:.1e}")
    } else {
        let digits = (2 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
    }
}

/// Glyphs 5 pixels high: `(width, rows)`, bit `width − 1` of a row is its leftmost pixel.
fn glyph(ch: char) -> (usize, [u8; 5]) {
    let g = match ch {
        'm' => return (5, [0, 0, 0b11010, 0b10101, 0b10101]),
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        '+' => [0, 2, 7, 2, 0],
        'e' => [0, 7, 7, 4, 7],
        _ => [0; 5],
    };
    (3, g)
}

/// Width of `s` in font pixels (before scaling), one blank column between glyphs.
fn text_width(s: &str) -> usize {
    s.chars().map(|c| glyph(c).0 + 1).sum()
}

fn text(img: &mut Array3<u8>, top: usize, left: usize, s: &str, scale: usize) {
    let mut x = left;
    for ch in s.chars() {
        let (w, g) = glyph(ch);
        for (r, bits) in g.iter().enumerate() {
            for c in 0..w {
                if bits >> (w - 1 - c) & 1 == 1 {
                    fill(img, top + r * scale, x + c * scale, scale, scale, [255, 255, 255]);
                }
            }
        }
        x += (w + 1) * scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ulm_core::Geometry;

    #[test]
    fn labels_are_short() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(1.0), "1");
        assert_eq!(number(-1.0), "-1");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(123456.0), "1.2e5");
    }

    #[test]
    fn scale_bar_is_one_mm_long() {
        let g = Geometry::new(0.02, 0.02, 0.0, 0.0, 0.2, 100.0).unwrap();
        let grid = MapGrid::covering(0.0, 4.0, 0.0, 4.0, 0.02, &g).unwrap();
        let map = Array2::<f32>::zeros((grid.rows, grid.cols));
        let style = ImageStyle { colorbar: false, ..ImageStyle::density() };
        let img = render_rgb(&map, &grid, &style, None);
        assert_eq!(img.dim(), (200, 200, 3));
        // The bar is the only white run on its bottom row: 1 mm / 0.02 mm = 50 pixels.
        let row = (0..200).rev().find(|&r| img[[r, 20, 0]] == 255).unwrap();
        let white = (0..200).filter(|&c| img[[row, c, 0]] == 255).count();
        assert_eq!(white, 50);
        let with_bar = render_rgb(&map, &grid, &ImageStyle::density(), None);
        assert!(with_bar.dim().1 > 200);
    }
}
