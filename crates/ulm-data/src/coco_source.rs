//! `[data.*] source = "coco"`: a COCO detection dataset as training or validation samples,
//! so a model can be trained or fine-tuned on a user's own frames and labels.
//!
//! The usual route: `ulm dataset --frames my_iq.npy --gt my_gt.csv --patch 128 --out
//! data/mine` writes `train.json`, `val.json`, `test.json` (leakage-free split) with their
//! 16-bit PNG patches; a training config then names `data/mine/train.json` and
//! `data/mine/val.json`. COCO files made elsewhere work too (8- or 16-bit grey PNGs taken
//! as envelope amplitudes, see [`coco_import`]); images without ulm's geometry keys take
//! theirs from `meta`.
//!
//! The config keeps what inference needs without the data: the patch side and the input
//! normalisation. Both are checked against the dataset when it is loaded, so a model
//! folder never records a normalisation its training data did not use.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::dataset::INTENSITY_KEY;
use crate::{AugmentConfig, DataError, ImportScaling, Normalization, PatchDataset, coco_import};

/// Settings of a COCO source (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CocoSourceConfig {
    /// The COCO JSON (e.g. `data/mine/train.json` from `ulm dataset`), relative to the
    /// working directory.
    pub json: PathBuf,
    /// Folder of the images; default: the folder named like the JSON's stem beside it
    /// (what `ulm dataset` writes), else the JSON's folder.
    #[serde(default)]
    pub images_dir: Option<PathBuf>,
    /// `meta.json` with the geometry of images that lack ulm's `ulm` keys; not needed for
    /// `ulm dataset` output.
    #[serde(default)]
    pub meta: Option<PathBuf>,
    /// Side of every (square) patch, pixels; inference tiles frames with it.
    pub patch: usize,
    /// Input normalisation: how envelope images are normalised here and how frames are at
    /// inference. For `ulm dataset` output it must equal the one recorded in the JSON
    /// (default 10 / 40 dB, `ulm dataset`'s).
    #[serde(default)]
    pub normalization: Normalization,
    /// Augmentation of training samples (`{}`: every augmentation at its default
    /// probability); none when absent.
    #[serde(default)]
    pub augment: Option<AugmentConfig>,
}

impl CocoSourceConfig {
    /// Checks the settings without reading the dataset.
    ///
    /// # Errors
    /// [`DataError::Config`] naming the field.
    pub fn validate(&self) -> Result<(), DataError> {
        if self.json.as_os_str().is_empty() {
            return Err(DataError::Config("json must name a COCO file".into()));
        }
        if !(16..=1024).contains(&self.patch) {
            return Err(DataError::Config(format!("patch = {} must be in 16..=1024", self.patch)));
        }
        self.normalization.validate()
    }

    /// Reads the dataset: every image, its boxes and exact centres.
    ///
    /// # Errors
    /// An unreadable or malformed JSON or image (named), an image that is not
    /// `patch × patch`, a normalisation that differs from the one the dataset was written
    /// with, or an empty dataset.
    pub fn load(&self) -> Result<PatchDataset, DataError> {
        self.validate()?;
        let json = self.json.as_path();
        let bad = |msg: String| DataError::Io(ulm_io::Error::format(json, msg));
        let recorded = ulm_io::coco::read_coco(json)?
            .info
            .get(INTENSITY_KEY)
            .and_then(|v| v.get("normalization"))
            .cloned()
            .map(serde_json::from_value::<Normalization>)
            .transpose()
            .map_err(|e| bad(format!("info.{INTENSITY_KEY}.normalization: {e}")))?;
        if let Some(rec) = recorded
            && rec != self.normalization
        {
            return Err(bad(format!(
                "the patches were normalised with floor_db = {}, range_db = {}; set \
                 normalization = {{ floor_db = {}, range_db = {} }} in this [data.*] table \
                 (inference normalises frames the same way)",
                rec.floor_db, rec.range_db, rec.floor_db, rec.range_db
            )));
        }
        let geometry = match &self.meta {
            Some(p) => Some(ulm_io::read_meta(p)?.geometry(p)?),
            None => None,
        };
        let ds =
            coco_import(json, self.images_dir.as_deref(), geometry.as_ref(), ImportScaling::Auto, &self.normalization)?;
        if ds.samples().is_empty() {
            return Err(bad("the dataset has no image".into()));
        }
        let patch = self.patch;
        if let Some((i, s)) = ds.samples().iter().enumerate().find(|(_, s)| s.height != patch || s.width != patch) {
            return Err(bad(format!(
                "image {i} is {}×{} pixels; every image must be {patch}×{patch} (the config's patch): \
                 re-export with `ulm dataset --patch {patch}`, or set patch",
                s.width, s.height
            )));
        }
        Ok(match &self.augment {
            Some(a) => ds.with_augmentation(a.clone()),
            None => ds,
        })
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array3;
    use ulm_core::{Geometry, Localizations};

    use super::*;
    use crate::{BoxSize, SampleSource, TileGrid};

    /// Two 64² frames with a bright pixel per bubble, exported as `ulm dataset` does
    /// (48² patches), into `dir/train.json` + `dir/train/`.
    fn export(dir: &std::path::Path, norm: &Normalization) -> PatchDataset {
        let g = Geometry::new(0.05, 0.05, -1.0, 2.0, 0.1, 1000.0).unwrap();
        let mut env = Array3::from_elem((2, 64, 64), 1.0f32);
        let mut truth = Localizations::new();
        for (f, col, row) in [(0u32, 10.2f64, 20.7f64), (1, 50.0, 3.3), (1, 33.0, 40.0)] {
            env[[f as usize, row.round() as usize, col.round() as usize]] = 1000.0;
            truth.push(f, g.col_to_x_mm(col), g.row_to_z_mm(row), 1.0);
        }
        let grid = TileGrid::with_patch(64, 64, 48, 48, 8).unwrap();
        let boxes = BoxSize::Wavelengths { w: 3.0, h: 1.5 };
        let ds = PatchDataset::from_frames(env.view(), &g, &truth, 0..2, &grid, &boxes, norm).unwrap();
        ds.write_coco(&dir.join("train.json"), &dir.join("train"), norm).unwrap();
        ds
    }

    fn config(dir: &std::path::Path, patch: usize) -> CocoSourceConfig {
        CocoSourceConfig {
            json: dir.join("train.json"),
            images_dir: None,
            meta: None,
            patch,
            normalization: Normalization::default(),
            augment: None,
        }
    }

    #[test]
    fn loads_what_ulm_dataset_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let written = export(dir.path(), &Normalization::default());
        let src = config(dir.path(), 48).load().unwrap();
        assert_eq!(src.len(), written.len());
        let boxes: usize = (0..src.len()).map(|i| src.sample(i, None).boxes.len()).sum();
        let want: usize = written.samples().iter().map(|s| s.boxes.len()).sum();
        assert!(want >= 3, "every bubble is in at least one patch");
        assert_eq!(boxes, want);
        for (i, w) in written.samples().iter().enumerate() {
            let s = src.sample(i, None);
            assert_eq!(s.centers_mm, w.centers_mm);
            // 16-bit PNG: within half a quantisation step.
            assert!(s.image.iter().zip(&w.image).all(|(a, b)| (a - b).abs() <= 0.5 / 65535.0 + 1e-7));
        }
        // Augmentation applies only with a seed, as for every source.
        let aug =
            CocoSourceConfig { augment: Some(AugmentConfig::default()), ..config(dir.path(), 48) }.load().unwrap();
        assert_eq!(aug.sample(0, None), src.sample(0, None));
    }

    #[test]
    fn wrong_patch_or_normalisation_or_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        export(dir.path(), &Normalization { floor_db: 6.0, range_db: 30.0 });
        let e = config(dir.path(), 48).load().unwrap_err().to_string();
        assert!(e.contains("train.json") && e.contains("floor_db = 6") && e.contains("range_db = 30"), "{e}");
        let ok = CocoSourceConfig {
            normalization: Normalization { floor_db: 6.0, range_db: 30.0 },
            ..config(dir.path(), 48)
        };
        assert!(ok.load().is_ok());
        let e = CocoSourceConfig { patch: 64, ..ok.clone() }.load().unwrap_err().to_string();
        assert!(e.contains("48×48") && e.contains("64×64") && e.contains("train.json"), "{e}");
        let e =
            CocoSourceConfig { json: dir.path().join("missing.json"), ..ok.clone() }.load().unwrap_err().to_string();
        assert!(e.contains("missing.json"), "{e}");
        let e = CocoSourceConfig { patch: 8, ..ok }.validate().unwrap_err().to_string();
        assert!(e.contains("patch = 8"), "{e}");
    }
}
