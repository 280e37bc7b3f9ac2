//! Maps drawn in mm: the map's pixels inside lateral (x) and depth (z) axes with ticks,
//! depth increasing downwards, and a colour bar labelled in the map's units.

use ndarray::Array3;
use plotters::prelude::*;
use ulm_render::{ImageStyle, MapGrid};

use crate::figure::{FAMILY, Figure, ReportError, register_font, tick};

/// The colour bar of a map: how values became colours, over which range, in what unit.
#[derive(Debug, Clone, PartialEq)]
pub struct ColorBar {
    /// The style the map was drawn with (colormap, γ).
    pub style: ImageStyle,
    /// Values at the bottom and top of the bar (the map's colour range).
    pub range: (f32, f32),
    /// Label with unit, e.g. `speed (mm/s)`.
    pub label: String,
}

/// A map figure: build with [`MapFigure::new`], add [`MapFigure::colorbar`], then
/// [`MapFigure::render`].
#[derive(Debug, Clone, PartialEq)]
pub struct MapFigure {
    /// Title above the map.
    pub title: String,
    /// The map's pixels `[rows = z, cols = x, 3]` (e.g. from `ulm_render::render_rgb`).
    pub image: Array3<u8>,
    /// Outer edges of the map in mm: `[x_lo, x_hi, z_lo, z_hi]`.
    pub extent_mm: [f64; 4],
    /// Optional colour bar.
    pub colorbar: Option<ColorBar>,
    /// The map is scaled so that its longer side is between 360 px and this many pixels
    /// (whole map pixels are shown as blocks when it is small).
    pub max_side: u32,
}

impl MapFigure {
    /// A figure of `image` (`[rows, cols, 3]`) covering the pixel grid `grid`.
    pub fn new(title: &str, image: Array3<u8>, grid: &MapGrid) -> Self {
        let g = &grid.geometry;
        let x_lo = g.x0_mm - g.pixel_size_x_mm / 2.0;
        let z_lo = g.z0_mm - g.pixel_size_z_mm / 2.0;
        let extent_mm =
            [x_lo, x_lo + grid.cols as f64 * g.pixel_size_x_mm, z_lo, z_lo + grid.rows as f64 * g.pixel_size_z_mm];
        Self { title: title.into(), image, extent_mm, colorbar: None, max_side: 900 }
    }

    /// Adds a colour bar for values `range` drawn with `style`, labelled `label` (with unit).
    pub fn colorbar(mut self, style: ImageStyle, range: (f32, f32), label: &str) -> Self {
        self.colorbar = Some(ColorBar { style, range, label: label.into() });
        self
    }

    /// Draws the figure.
    pub fn render(&self) -> Result<Figure, ReportError> {
        register_font();
        let t = &self.title;
        let (rows, cols, ch) = self.image.dim();
        if rows == 0 || cols == 0 || ch != 3 {
            return Err(ReportError::data(
                t,
                format!("expected a non-empty [rows, cols, 3] image, got {:?}", [rows, cols, ch]),
            ));
        }
        let [x_lo, x_hi, z_lo, z_hi] = self.extent_mm;
        if !(x_lo.is_finite() && x_hi.is_finite() && z_lo.is_finite() && z_hi.is_finite() && x_hi > x_lo && z_hi > z_lo)
        {
            return Err(ReportError::data(t, format!("invalid extent {:?} mm", self.extent_mm)));
        }
        let long = rows.max(cols) as f64;
        let scale = if long > self.max_side as f64 { self.max_side as f64 / long } else { (360.0 / long).max(1.0) };
        let (pw, ph) = ((cols as f64 * scale).round() as u32, (rows as f64 * scale).round() as u32);
        // Draw once to measure the room axes, caption and colour bar take, then again at
        // the size that gives the map exactly `pw × ph` pixels (so map pixels stay square).
        let (guess_w, guess_h) = (pw + 90 + if self.colorbar.is_some() { 120 } else { 0 }, ph + 100);
        let (_, (xr, yr)) = self.draw(guess_w, guess_h)?;
        let w = guess_w + pw - (xr.end - xr.start).max(1) as u32;
        let h = guess_h + ph - (yr.end - yr.start).max(1) as u32;
        let (mut rgb, plot_area) = self.draw(w, h)?;
        // The map's pixels, nearest neighbour, into the plotting area.
        let (xr, yr) = &plot_area;
        let (aw, ah) = ((xr.end - xr.start).max(1) as f64, (yr.end - yr.start).max(1) as f64);
        for py in yr.clone() {
            let r = (((py - yr.start) as f64 + 0.5) / ah * rows as f64) as usize;
            for px in xr.clone() {
                let c = (((px - xr.start) as f64 + 0.5) / aw * cols as f64) as usize;
                let (r, c) = (r.min(rows - 1), c.min(cols - 1));
                let i = 3 * (py as usize * w as usize + px as usize);
                for k in 0..3 {
                    rgb[i + k] = self.image[[r, c, k]];
                }
            }
        }
        Ok(Figure { width: w, height: h, rgb, plot_area })
    }
}

impl MapFigure {
    /// Axes, caption and colour bar on a `w × h` canvas; returns the pixels and the
    /// plotting area.
    fn draw(&self, w: u32, h: u32) -> Result<(Vec<u8>, PixelArea), ReportError> {
        let t = &self.title;
        let [x_lo, x_hi, z_lo, z_hi] = self.extent_mm;
        let (left, bottom, margin) = (64u32, 46u32, 12u32);
        let bar_w = if self.colorbar.is_some() { 120 } else { 0 };
        let mut rgb = vec![255u8; w as usize * h as usize * 3];
        let area = {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| ReportError::draw(t, e))?;
            let (main, side) = root.split_horizontally(w.saturating_sub(bar_w));
            let mut chart = ChartBuilder::on(&main)
                .caption(t, (FAMILY, 18))
                .margin(margin)
                .x_label_area_size(bottom - margin)
                .y_label_area_size(left)
                .build_cartesian_2d(x_lo..x_hi, -z_hi..-z_lo)
                .map_err(|e| ReportError::draw(t, e))?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc("x, lateral (mm)")
                .y_desc("z, depth (mm)")
                .label_style((FAMILY, 13))
                .axis_desc_style((FAMILY, 14))
                .x_label_formatter(&|v| tick(*v))
                .y_label_formatter(&|v| tick(-*v))
                .draw()
                .map_err(|e| ReportError::draw(t, e))?;
            let (xr, yr) = chart.plotting_area().get_pixel_range();
            if let Some(cb) = &self.colorbar {
                draw_colorbar(&side, cb, yr.start as u32, h.saturating_sub(yr.end as u32), t)?;
            }
            root.present().map_err(|e| ReportError::draw(t, e))?;
            (xr, yr)
        };
        Ok((rgb, area))
    }
}

/// Pixel columns and rows of a plotting area.
type PixelArea = (std::ops::Range<i32>, std::ops::Range<i32>);

/// The colour bar in `area`, its bar spanning the rows of the map (`top`, `bottom` margins).
fn draw_colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    cb: &ColorBar,
    top: u32,
    bottom: u32,
    t: &str,
) -> Result<(), ReportError> {
    let (lo, hi) = (f64::from(cb.range.0), f64::from(cb.range.1));
    let (lo, hi) =
        if lo.is_finite() && hi.is_finite() && hi > lo { (lo, hi) } else { (lo.min(0.0), lo.max(0.0) + 1.0) };
    let mut chart = ChartBuilder::on(area)
        .margin_top(top)
        .margin_bottom(bottom)
        .margin_left(8)
        .margin_right(4)
        .right_y_label_area_size(78)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(|e| ReportError::draw(t, e))?;
    let steps = 256;
    chart
        .draw_series((0..steps).map(|i| {
            let v0 = lo + (hi - lo) * i as f64 / steps as f64;
            let v1 = lo + (hi - lo) * (i + 1) as f64 / steps as f64;
            let [r, g, b] = cb.style.colour(((v0 + v1) / 2.0) as f32, lo as f32, hi as f32);
            Rectangle::new([(0.0, v0), (1.0, v1)], RGBColor(r, g, b).filled())
        }))
        .map_err(|e| ReportError::draw(t, e))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc(cb.label.as_str())
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .y_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(|e| ReportError::draw(t, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use ulm_core::Geometry;
    use ulm_render::Colormap;

    use super::*;

    #[test]
    fn map_pixels_land_at_their_mm_position_and_the_bar_spans_the_range() {
        // 0.1 mm pixels, 40 rows × 60 cols from (x, z) = (−3, 2) mm (outer corner).
        let g = Geometry::new(0.1, 0.1, -2.95, 2.05, 0.2, 100.0).unwrap();
        let grid = MapGrid::covering(-3.0, 3.0, 2.0, 6.0, 0.1, &g).unwrap();
        assert_eq!((grid.rows, grid.cols), (40, 60));
        let mut img = Array3::<u8>::zeros((40, 60, 3));
        // A green block at rows 30..34 (z 5.0–5.4 mm), cols 10..14 (x −2.0 … −1.6 mm).
        for r in 30..34 {
            for c in 10..14 {
                img[[r, c, 1]] = 255;
            }
        }
        let style = ImageStyle { colormap: Colormap::Plasma, ..ImageStyle::speed() };
        let fig = MapFigure::new("speed", img, &grid).colorbar(style, (0.0, 40.0), "speed (mm/s)").render().unwrap();
        let (xr, yr) = fig.plot_area.clone();
        // Aspect kept: 60 × 40 map pixels → plotting area 1.5 : 1 (within a few pixels).
        let ratio = (xr.end - xr.start) as f64 / (yr.end - yr.start) as f64;
        assert!((ratio - 1.5).abs() < 0.05, "{ratio}");
        let to_px = |x: f64, z: f64| {
            let px = xr.start as f64 + (x + 3.0) / 6.0 * (xr.end - xr.start) as f64;
            let py = yr.start as f64 + (z - 2.0) / 4.0 * (yr.end - yr.start) as f64;
            (px as u32, py as u32)
        };
        let (px, py) = to_px(-1.8, 5.2);
        assert_eq!(fig.pixel(px, py), [0, 255, 0], "block centre");
        let (px, py) = to_px(-1.8, 4.6); // shallower than the block: black
        assert_eq!(fig.pixel(px, py), [0, 0, 0]);
        // Colour bar: right of the map, top row the colormap's top colour, bottom its bottom.
        let bar_x = (xr.end as u32 + 1..fig.width)
            .find(|&x| fig.pixel(x, (yr.start + yr.end) as u32 / 2) != [255, 255, 255] && x > xr.end as u32 + 10)
            .expect("colour bar");
        let near = |a: [u8; 3], b: [u8; 3]| a.iter().zip(&b).all(|(x, y)| x.abs_diff(*y) <= 12);
        let top = fig.pixel(bar_x + 3, yr.start as u32 + 2);
        let bottom = fig.pixel(bar_x + 3, yr.end as u32 - 3);
        assert!(near(top, Colormap::Plasma.rgb(1.0)), "{top:?}");
        assert!(near(bottom, Colormap::Plasma.rgb(0.0)), "{bottom:?}");
        // Labels drawn: dark text pixels right of the bar.
        let dark = (bar_x + 20..fig.width)
            .flat_map(|x| (yr.start as u32..yr.end as u32).map(move |y| (x, y)))
            .filter(|&(x, y)| fig.pixel(x, y).iter().all(|&c| c < 110))
            .count();
        assert!(dark > 100, "colour-bar labels missing ({dark} dark pixels)");
    }
}
