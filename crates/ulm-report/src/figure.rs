//! The rendered figure (RGB pixels, PNG encoding), errors, and the embedded font.

use std::ops::Range;
use std::sync::Once;

/// The embedded font (DejaVu Sans subset; licence in `assets/`).
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans-subset.ttf");

/// Font family name figures use.
pub(crate) const FAMILY: &str = "sans-serif";

/// Registers the embedded font with plotters (once per process).
pub(crate) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is committed and checked by the tests; a failure would leave text
        // blank, not crash.
        let _ = plotters::style::register_font(FAMILY, plotters::style::FontStyle::Normal, FONT);
    });
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The figure's data or settings are unusable (e.g. an empty y range).
    #[error("figure `{figure}`: {message}")]
    Data {
        /// The figure's title.
        figure: String,
        /// What is wrong.
        message: String,
    },
    /// Drawing failed.
    #[error("drawing figure `{figure}`: {message}")]
    Draw {
        /// The figure's title.
        figure: String,
        /// The backend's message.
        message: String,
    },
    /// PNG encoding failed.
    #[error("encoding PNG: {0}")]
    Png(String),
}

impl ReportError {
    pub(crate) fn data(figure: &str, message: impl Into<String>) -> Self {
        Self::Data { figure: figure.to_string(), message: message.into() }
    }
    pub(crate) fn draw(figure: &str, e: impl std::fmt::Debug) -> Self {
        Self::Draw { figure: figure.to_string(), message: format!("{e:?}") }
    }
}

/// A rendered figure: `width × height` RGB pixels, row-major from the top left.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `height × width × 3` bytes.
    pub rgb: Vec<u8>,
    /// Pixel columns and rows of the plotting area (inside the axes).
    pub plot_area: (Range<i32>, Range<i32>),
}

impl Figure {
    /// The pixel at column `x`, row `y`.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = 3 * (y as usize * self.width as usize + x as usize);
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// The figure as PNG bytes (8-bit RGB).
    pub fn to_png(&self) -> Result<Vec<u8>, ReportError> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, self.width, self.height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| ReportError::Png(e.to_string()))?;
        w.write_image_data(&self.rgb).map_err(|e| ReportError::Png(e.to_string()))?;
        w.finish().map_err(|e| ReportError::Png(e.to_string()))?;
        Ok(out)
    }
}

/// A short tick label: up to 4 significant digits, scientific outside [1e-3, 1e5).
pub(crate) fn tick(v: f64) -> String {
    let a = v.abs();
    if a < 1e-12 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else {
        let digits = (3 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.digits$}");
        let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
        s.replace('-', "−")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(12.345), "12.35");
        assert_eq!(tick(-2.0), "−2");
        assert_eq!(tick(123456.0), "1.2e5");
        assert_eq!(tick(1e-17), "0");
    }
}
