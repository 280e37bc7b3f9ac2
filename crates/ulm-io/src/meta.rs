use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ulm_core::Geometry;

use crate::{Error, Result, atomic_write_bytes};

/// The `meta.json` sidecar of an acquisition. Keys (all SI-with-mm units in their names):
/// `frame_rate_hz`, `pixel_size_x_mm`, `pixel_size_z_mm`, `x0_mm`, `z0_mm`, and either
/// `wavelength_mm` or both `center_frequency_hz` and `speed_of_sound_m_s`. Optional
/// `n_frames`, `rows`, `cols` describe the stack (checked against the frames when
/// present). Other keys (e.g. simulation parameters) are kept in [`Meta::extra`];
/// readers ignore them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Frame rate in Hz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_rate_hz: Option<f64>,
    /// Lateral pixel pitch in mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_size_x_mm: Option<f64>,
    /// Axial pixel pitch in mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_size_z_mm: Option<f64>,
    /// Lateral position of column 0's centre, mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x0_mm: Option<f64>,
    /// Depth of row 0's centre, mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z0_mm: Option<f64>,
    /// Wavelength in mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wavelength_mm: Option<f64>,
    /// Transmit centre frequency in Hz (used when `wavelength_mm` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub center_frequency_hz: Option<f64>,
    /// Speed of sound in m/s (used when `wavelength_mm` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_of_sound_m_s: Option<f64>,
    /// Number of frames of the acquisition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_frames: Option<usize>,
    /// Image rows (depth pixels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
    /// Image columns (lateral pixels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cols: Option<usize>,
    /// Every other key, kept as it was.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Meta {
    /// The sidecar describing `geometry`.
    pub fn from_geometry(g: &Geometry) -> Self {
        Self {
            frame_rate_hz: Some(g.frame_rate_hz),
            pixel_size_x_mm: Some(g.pixel_size_x_mm),
            pixel_size_z_mm: Some(g.pixel_size_z_mm),
            x0_mm: Some(g.x0_mm),
            z0_mm: Some(g.z0_mm),
            wavelength_mm: Some(g.wavelength_mm),
            ..Self::default()
        }
    }

    /// The image grid `(rows, cols)`: the `rows`/`cols` keys, else the grid of the
    /// simulation config that `ulm simulate` stores (`simulation.config.grid`).
    pub fn grid_shape(&self) -> Option<(usize, usize)> {
        if let (Some(r), Some(c)) = (self.rows, self.cols) {
            return Some((r, c));
        }
        let grid = self.extra.get("simulation")?.get("config")?.get("grid")?;
        let get = |k: &str| grid.get(k)?.as_u64().and_then(|n| usize::try_from(n).ok());
        Some((self.rows.or_else(|| get("rows"))?, self.cols.or_else(|| get("cols"))?))
    }

    /// Image rows: the `rows` key, else as [`Meta::grid_shape`].
    pub fn grid_rows(&self) -> Option<usize> {
        self.rows.or_else(|| self.grid_shape().map(|(r, _)| r))
    }

    /// The geometry this sidecar describes; `path` names the file in errors.
    pub fn geometry(&self, path: &Path) -> Result<Geometry> {
        // A missing key is often a misspelt one: name the keys that were not recognised.
        let others = if self.extra.is_empty() {
            String::new()
        } else {
            format!(" (unrecognised keys present: {})", self.extra.keys().cloned().collect::<Vec<_>>().join(", "))
        };
        let need =
            |name: &str, v: Option<f64>| v.ok_or_else(|| Error::format(path, format!("missing key `{name}`{others}")));
        let wavelength_mm = match (self.wavelength_mm, self.center_frequency_hz, self.speed_of_sound_m_s) {
            (Some(l), _, _) => l,
            (None, Some(f), Some(c)) => Geometry::wavelength_from(f, c).map_err(|e| Error::data(path, e))?,
            _ => {
                return Err(Error::format(
                    path,
                    format!(
                        "missing key `wavelength_mm` (or both `center_frequency_hz` and `speed_of_sound_m_s`){others}"
                    ),
                ));
            }
        };
        Geometry::new(
            need("pixel_size_x_mm", self.pixel_size_x_mm)?,
            need("pixel_size_z_mm", self.pixel_size_z_mm)?,
            need("x0_mm", self.x0_mm)?,
            need("z0_mm", self.z0_mm)?,
            wavelength_mm,
            need("frame_rate_hz", self.frame_rate_hz)?,
        )
        .map_err(|e| Error::data(path, e))
    }
}

/// `meta.json` in the folder of `frames_path`.
pub fn sidecar_path(frames_path: &Path) -> PathBuf {
    frames_path.parent().unwrap_or(Path::new(".")).join("meta.json")
}

/// Reads a `meta.json` sidecar.
pub fn read_meta(path: &Path) -> Result<Meta> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::format(path, format!("invalid meta.json: {e}")))
}

/// Writes a `meta.json` sidecar (pretty-printed, atomically).
pub fn write_meta(path: &Path, meta: &Meta) -> Result<()> {
    let mut text = serde_json::to_string_pretty(meta).map_err(|e| Error::format(path, e.to_string()))?;
    text.push('\n');
    atomic_write_bytes(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_extra_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("meta.json");
        let g = Geometry::new(0.05, 0.05, -5.0, 3.0, 0.1, 1000.0).unwrap();
        let mut m = Meta::from_geometry(&g);
        m.extra.insert("preset".into(), "sparse".into());
        write_meta(&p, &m).unwrap();
        let back = read_meta(&p).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.geometry(&p).unwrap(), g);
    }

    #[test]
    fn wavelength_from_frequency_and_missing_key_named() {
        let p = Path::new("x/meta.json");
        let m: Meta = serde_json::from_str(
            r#"{"frame_rate_hz": 500, "pixel_size_x_mm": 0.1, "pixel_size_z_mm": 0.1, "x0_mm": 0, "z0_mm": 1,
                "center_frequency_hz": 15.625e6, "speed_of_sound_m_s": 1540, "unknown": [1,2]}"#,
        )
        .unwrap();
        assert!((m.geometry(p).unwrap().wavelength_mm - 0.09856).abs() < 1e-9);
        let mut m2 = m.clone();
        m2.frame_rate_hz = None;
        let e = m2.geometry(p).unwrap_err().to_string();
        assert!(e.contains("x/meta.json") && e.contains("frame_rate_hz"), "{e}");
    }

    #[test]
    fn grid_shape_from_keys_or_simulation_config() {
        let m: Meta = serde_json::from_str(r#"{"rows": 40, "cols": 30, "n_frames": 7}"#).unwrap();
        assert_eq!((m.grid_shape(), m.grid_rows(), m.n_frames), (Some((40, 30)), Some(40), Some(7)));
        assert!(m.extra.is_empty());
        let old: Meta =
            serde_json::from_str(r#"{"simulation": {"config": {"grid": {"rows": 256, "cols": 208}}}}"#).unwrap();
        assert_eq!(old.grid_shape(), Some((256, 208)));
        let rows_only: Meta = serde_json::from_str(r#"{"rows": 12}"#).unwrap();
        assert_eq!((rows_only.grid_shape(), rows_only.grid_rows()), (None, Some(12)));
        let e = serde_json::from_str::<Meta>(r#"{"rows": -3}"#).unwrap_err().to_string();
        assert!(e.contains("invalid value"), "{e}");
    }
}
