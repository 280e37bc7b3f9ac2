//! Super-resolved maps from localizations and tracks.
//!
//! * [`MapGrid`] — the map's pixel grid (default pixel λ/10 over the acquisition's field
//!   of view).
//! * [`gaussian_density`] — a fixed Gaussian around each localization (the paper's
//!   Fig. 2 maps).
//! * [`track_maps`] — tracks interpolated to sub-pixel steps, each counted once per
//!   pixel (the paper's Fig. 3 maps, PALA's): density, mean speed (mm/s) and signed axial
//!   direction.
//! * [`temporal_mean`] + [`resample_bilinear`] — the temporal-mean baseline.
//! * [`render_rgb`], [`render_direction_rgb`] — map pixels with power-law compression
//!   and perceptual colormaps (`ulm-report` draws them with mm axes and a colour bar).
//!
//! ```
//! use ulm_core::{Geometry, Localizations};
//! use ulm_render::{MapGrid, gaussian_density};
//!
//! let g = Geometry::new(0.1, 0.1, 0.0, 0.0, 0.2, 500.0).unwrap();
//! let grid = MapGrid::super_resolved(&g, 10, 10, g.wavelength_mm / 10.0).unwrap();
//! let mut locs = Localizations::new();
//! locs.push(0, 0.5, 0.5, 1.0);
//! let map = gaussian_density(&locs, &grid, 1.0).unwrap();
//! assert_eq!(map.dim(), (50, 50));
//! assert!((map.sum() - 1.0).abs() < 1e-5); // unit mass per localization
//! ```

mod colormap;
mod density;
mod error;
mod grid;
mod image;
mod temporal;

pub use colormap::Colormap;
pub use density::{TrackMaps, gaussian_density, track_maps};
pub use error::RenderError;
pub use grid::{MAX_PIXELS, MapGrid};
pub use image::{ImageStyle, render_direction_rgb, render_rgb, value_range};
pub use temporal::{resample_bilinear, temporal_mean};
