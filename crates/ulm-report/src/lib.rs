//! Figures for ulm reports: line plots with labelled axes and units, and maps drawn in
//! mm with a colour bar in the map's units. Drawn with `plotters` on its bitmap backend
//! with an embedded font (DejaVu Sans, rendered by `ab_glyph`): pure Rust, no system
//! font or graphics library. A [`Figure`] is RGB pixels that encode to PNG bytes, ready
//! to write to a file or to embed in the self-contained HTML report ([`HtmlReport`]:
//! sections of text, tables and figures in one file, PNGs embedded as base64).
//!
//! ```
//! use ulm_report::LinePlot;
//!
//! let f: Vec<f64> = (0..50).map(|i| i as f64 * 0.2).collect();
//! let mtf: Vec<f64> = f.iter().map(|v| (-v / 3.0).exp()).collect();
//! let fig = LinePlot::new("MTF", "spatial frequency (1/mm)", "MTF")
//!     .series("measured", &f, &mtf)
//!     .reference_line(0.5, "half")
//!     .render()
//!     .unwrap();
//! assert_eq!((fig.width, fig.height), (640, 420));
//! let png = fig.to_png().unwrap();
//! assert_eq!(&png[1..4], b"PNG");
//! ```

mod figure;
mod html;
mod line;
mod map;

pub use figure::{Figure, ReportError};
pub use html::{Block, HtmlReport, Section, escape};
pub use line::{LinePlot, Series};
pub use map::{ColorBar, MapFigure};
