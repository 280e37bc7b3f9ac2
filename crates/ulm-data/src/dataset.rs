//! Patches from frames + ground truth ([`frame_patches`], [`PatchDataset::from_frames`]),
//! an in-memory [`SampleSource`] ([`PatchDataset`]), and the COCO + 16-bit PNG export
//! ([`CocoExport`]) and import ([`coco_import`]).
//!
//! **Export format.** One grey 16-bit PNG per patch, `u16 = round(65535 · v)` of the
//! normalised value `v ∈ [0, 1]` ([`crate::normalize_patch`]); the COCO `info` holds this
//! scaling and the normalisation parameters under `ulm_intensity`. Each image entry keeps
//! `ulm: {frame, tile, valid_rows, valid_cols, x0_mm, z0_mm, pixel_size_x_mm,
//! pixel_size_z_mm, wavelength_mm, frame_rate_hz}` (the padding mask and the patch
//! geometry), each annotation `center_mm: [x, z]` (the exact centre) and `bbox = [x, y, w,
//! h]` in patch pixels where pixel `(row, col)` covers `[col, col + 1) × [row, row + 1)`
//! (so a bubble at pixel centre `col` has box centre `col + 0.5`), category 1
//! `microbubble`. The official PyTorch Deformable-DETR reads the images with PIL's
//! `convert('RGB')`, which clips 16-bit values at 255: load them with
//! `np.asarray(Image.open(p), np.float32) / 65535` instead (one line in its
//! `datasets/coco.py`).
//!
//! **Import.** Any COCO detection file: images with ulm's scaling are read back as
//! normalised values; other images are taken as envelope amplitudes and normalised
//! ([`ImportScaling`]). Without the `ulm` image keys, the geometry comes from the caller
//! (e.g. the acquisition's `meta.json`) and the patch is taken as unpadded.

use std::ops::Range;
use std::path::{Path, PathBuf};

use ndarray::{ArrayView2, ArrayView3, Axis};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use ulm_core::{Geometry, Localizations};
use ulm_io::coco::{CocoAnnotation, CocoCategory, CocoDataset, CocoImage};

use crate::boxes::{inside, patch_box};
use crate::{
    AugmentConfig, BoxSize, DataError, Normalization, Sample, SampleSource, TileGrid, augment, normalize_patch,
};

/// A ground-truth bubble of one frame: position in mm and box size in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GtPoint {
    /// Lateral position, mm.
    pub x_mm: f64,
    /// Depth, mm.
    pub z_mm: f64,
    /// Box width, pixels.
    pub w_px: f64,
    /// Box height, pixels.
    pub h_px: f64,
}

/// The ground truth of frames `0..n_frames`, grouped by frame, with box sizes from the
/// table's `w_mm`/`h_mm` columns when it has them, else from `boxes`. Rows of later frames
/// are ignored.
pub fn points_by_frame(
    truth: &Localizations,
    n_frames: usize,
    geometry: &Geometry,
    boxes: &BoxSize,
) -> Result<Vec<Vec<GtPoint>>, DataError> {
    boxes.validate()?;
    let mut out = vec![Vec::new(); n_frames];
    for i in 0..truth.len() {
        let f = truth.frame[i] as usize;
        if f >= n_frames {
            continue;
        }
        let (x, z) = (truth.x_mm[i], truth.z_mm[i]);
        if !(x.is_finite() && z.is_finite()) {
            return Err(DataError::Config(format!("ground-truth row {i} has a non-finite position")));
        }
        let (mut w, mut h) = boxes.size_px(z, geometry);
        if let (Some(wm), Some(hm)) = (&truth.w_mm, &truth.h_mm)
            && wm[i].is_finite()
            && hm[i].is_finite()
            && wm[i] > 0.0
            && hm[i] > 0.0
        {
            (w, h) = (wm[i] / geometry.pixel_size_x_mm, hm[i] / geometry.pixel_size_z_mm);
        }
        out[f].push(GtPoint { x_mm: x, z_mm: z, w_px: w, h_px: h });
    }
    Ok(out)
}

/// The patches of one envelope frame: one [`Sample`] per tile of `grid`, normalised, with
/// the boxes of the bubbles whose centres lie in the tile's valid area.
pub fn frame_patches(
    frame: ArrayView2<'_, f32>,
    geometry: &Geometry,
    points: &[GtPoint],
    grid: &TileGrid,
    norm: &Normalization,
) -> Result<Vec<Sample>, DataError> {
    let mut out = Vec::with_capacity(grid.len());
    for tile in grid.tiles() {
        let raw = grid.extract(frame, &tile)?;
        let (w, h) = (grid.patch_cols, grid.patch_rows);
        let image = normalize_patch(&raw, w, h, tile.valid_rows, tile.valid_cols, norm);
        let g = grid.tile_geometry(geometry, &tile);
        let mut s = Sample {
            image,
            height: h,
            width: w,
            valid_rows: tile.valid_rows,
            valid_cols: tile.valid_cols,
            boxes: Vec::new(),
            geometry: g,
            centers_mm: Vec::new(),
        };
        for p in points {
            let (col, row) = g.mm_to_px(p.x_mm, p.z_mm);
            if inside(col, row, tile.valid_cols, tile.valid_rows) {
                s.boxes.push(patch_box(col, row, p.w_px, p.h_px, tile.valid_cols, tile.valid_rows, w, h));
                s.centers_mm.push((p.x_mm, p.z_mm));
            }
        }
        out.push(s);
    }
    Ok(out)
}

/// Where a patch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchOrigin {
    /// Frame index in the acquisition.
    pub frame: usize,
    /// Tile index in the grid.
    pub tile: usize,
}

/// An in-memory [`SampleSource`]: patches with their origin and an optional augmentation.
#[derive(Debug, Clone, Default)]
pub struct PatchDataset {
    samples: Vec<Sample>,
    origins: Vec<PatchOrigin>,
    augment: Option<AugmentConfig>,
}

impl PatchDataset {
    /// A dataset of given samples (origins numbered as frames, tile 0).
    pub fn new(samples: Vec<Sample>) -> Self {
        let origins = (0..samples.len()).map(|i| PatchOrigin { frame: i, tile: 0 }).collect();
        Self { samples, origins, augment: None }
    }

    /// The patches of `frames` (a range of the envelope stack `[frames, rows, cols]`),
    /// frame by frame, tile by tile.
    pub fn from_frames(
        envelope: ArrayView3<'_, f32>,
        geometry: &Geometry,
        truth: &Localizations,
        frames: Range<usize>,
        grid: &TileGrid,
        boxes: &BoxSize,
        norm: &Normalization,
    ) -> Result<Self, DataError> {
        norm.validate()?;
        let n = envelope.len_of(Axis(0));
        if frames.end > n {
            return Err(DataError::Config(format!("frames {frames:?} beyond the {n} frames of the stack")));
        }
        let points = points_by_frame(truth, n, geometry, boxes)?;
        let mut ds = Self::default();
        for f in frames {
            for (t, s) in frame_patches(envelope.index_axis(Axis(0), f), geometry, &points[f], grid, norm)?
                .into_iter()
                .enumerate()
            {
                ds.samples.push(s);
                ds.origins.push(PatchOrigin { frame: f, tile: t });
            }
        }
        Ok(ds)
    }

    /// Applies `cfg` to samples requested with an augmentation seed.
    pub fn with_augmentation(mut self, cfg: AugmentConfig) -> Self {
        self.augment = Some(cfg);
        self
    }

    /// The stored samples.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Where each sample came from.
    pub fn origins(&self) -> &[PatchOrigin] {
        &self.origins
    }

    /// Writes every sample with [`CocoExport`]: PNGs into `images_dir`, the JSON to `json`.
    pub fn write_coco(&self, json: &Path, images_dir: &Path, norm: &Normalization) -> Result<CocoDataset, DataError> {
        let mut ex = CocoExport::new(images_dir, norm)?;
        for (s, o) in self.samples.iter().zip(&self.origins) {
            ex.add(s, *o)?;
        }
        ex.finish(json)
    }
}

impl SampleSource for PatchDataset {
    fn len(&self) -> usize {
        self.samples.len()
    }

    fn sample(&self, index: usize, augment_seed: Option<u64>) -> Sample {
        match (&self.augment, augment_seed) {
            (Some(cfg), Some(seed)) => augment(&self.samples[index], cfg, seed),
            _ => self.samples[index].clone(),
        }
    }
}

/// Key of the intensity scaling in the COCO `info`.
pub const INTENSITY_KEY: &str = "ulm_intensity";

/// Writes samples as 16-bit PNGs and collects their COCO entries (see the module docs).
#[derive(Debug)]
pub struct CocoExport {
    images_dir: PathBuf,
    ds: CocoDataset,
}

impl CocoExport {
    /// Creates `images_dir` and an empty dataset whose `info` records the scaling.
    pub fn new(images_dir: &Path, norm: &Normalization) -> Result<Self, DataError> {
        std::fs::create_dir_all(images_dir).map_err(|e| ulm_io::Error::io(images_dir, e))?;
        let mut ds = CocoDataset::new(vec![CocoCategory::new(1, "microbubble")]);
        ds.info.insert("description".into(), json!("ulm microbubble patches"));
        ds.info.insert(
            INTENSITY_KEY.into(),
            json!({
                "u16": "round(65535 * v)",
                "v": "clamp((20 log10(envelope / median of the patch's valid area) + floor_db) / (floor_db + range_db), 0, 1)",
                "normalization": norm,
            }),
        );
        Ok(Self { images_dir: images_dir.to_path_buf(), ds })
    }

    /// Number of images added.
    pub fn len(&self) -> usize {
        self.ds.images.len()
    }

    /// Whether no image was added.
    pub fn is_empty(&self) -> bool {
        self.ds.images.is_empty()
    }

    /// Writes `sample` as `NNNNNN.png` and appends its entries; returns the image id.
    pub fn add(&mut self, sample: &Sample, origin: PatchOrigin) -> Result<u64, DataError> {
        let id = self.ds.images.len() as u64 + 1;
        let name = format!("{:06}.png", id - 1);
        let px: Vec<u16> = sample.image.iter().map(|&v| (v.clamp(0.0, 1.0) * 65535.0).round() as u16).collect();
        ulm_io::coco::write_png_gray16(&self.images_dir.join(&name), sample.width, sample.height, &px)?;
        let g = &sample.geometry;
        let mut im = CocoImage::new(id, name, sample.width as u32, sample.height as u32);
        im.extra.insert(
            "ulm".into(),
            json!({
                "frame": origin.frame, "tile": origin.tile,
                "valid_rows": sample.valid_rows, "valid_cols": sample.valid_cols,
                "x0_mm": g.x0_mm, "z0_mm": g.z0_mm,
                "pixel_size_x_mm": g.pixel_size_x_mm, "pixel_size_z_mm": g.pixel_size_z_mm,
                "wavelength_mm": g.wavelength_mm, "frame_rate_hz": g.frame_rate_hz,
            }),
        );
        self.ds.images.push(im);
        let (wd, ht) = (sample.width as f64, sample.height as f64);
        for (b, c) in sample.boxes.iter().zip(&sample.centers_mm) {
            let [cx, cy, bw, bh] = b.map(f64::from);
            let bbox = [(cx - bw / 2.0) * wd, (cy - bh / 2.0) * ht, bw * wd, bh * ht];
            let mut a = CocoAnnotation::new(self.ds.annotations.len() as u64 + 1, id, 1, bbox);
            a.extra.insert("center_mm".into(), json!([c.0, c.1]));
            self.ds.annotations.push(a);
        }
        Ok(id)
    }

    /// Writes the COCO JSON to `json` and returns it.
    pub fn finish(self, json: &Path) -> Result<CocoDataset, DataError> {
        ulm_io::coco::write_coco(json, &self.ds)?;
        Ok(self.ds)
    }
}

/// How imported pixel values become normalised values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportScaling {
    /// ulm's own scaling when `info` records it, else [`ImportScaling::Envelope`].
    #[default]
    Auto,
    /// Already normalised: `v = pixel / (2^bits − 1)` (e.g. B-mode images).
    Linear,
    /// Envelope amplitudes: normalised with [`normalize_patch`].
    Envelope,
}

/// Reads a COCO JSON and its images (`images_dir`, default: the folder named like the
/// JSON's stem beside it if it exists, else the JSON's folder) into a [`PatchDataset`].
/// `geometry` is used for images without ulm's `ulm` keys (its origin is the patch's).
pub fn coco_import(
    json: &Path,
    images_dir: Option<&Path>,
    geometry: Option<&Geometry>,
    scaling: ImportScaling,
    norm: &Normalization,
) -> Result<PatchDataset, DataError> {
    let ds = ulm_io::coco::read_coco(json)?;
    let bad = |msg: String| DataError::Io(ulm_io::Error::format(json, msg));
    let parent = json.parent().unwrap_or(Path::new("."));
    let dir = match images_dir {
        Some(d) => d.to_path_buf(),
        None => {
            let stem = parent.join(json.file_stem().unwrap_or_default());
            if stem.is_dir() { stem } else { parent.to_path_buf() }
        }
    };
    let ours = ds.info.contains_key(INTENSITY_KEY);
    let scaling = match scaling {
        ImportScaling::Auto if ours => ImportScaling::Linear,
        ImportScaling::Auto => ImportScaling::Envelope,
        s => s,
    };
    let Some(cat) = ds.categories.iter().find(|c| c.name == "microbubble").or(ds.categories.first()) else {
        return Err(bad("no category".into()));
    };
    let mut by_image: std::collections::HashMap<u64, Vec<&CocoAnnotation>> = Default::default();
    for a in ds.annotations.iter().filter(|a| a.category_id == cat.id) {
        by_image.entry(a.image_id).or_default().push(a);
    }
    let mut out = PatchDataset::default();
    for (i, im) in ds.images.iter().enumerate() {
        let path = dir.join(&im.file_name);
        let png = ulm_io::coco::read_png_gray(&path)?;
        let (w, h) = (png.width, png.height);
        if (w, h) != (im.width as usize, im.height as usize) {
            return Err(bad(format!(
                "images[{i}] ({}): the file is {w}×{h}, the JSON says {}×{}",
                im.file_name, im.width, im.height
            )));
        }
        let meta = im.extra.get("ulm").and_then(Value::as_object);
        let num = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_f64);
        let (vr, vc) = match (num("valid_rows"), num("valid_cols")) {
            (Some(r), Some(c)) if r >= 1.0 && c >= 1.0 && r as usize <= h && c as usize <= w => {
                (r as usize, c as usize)
            }
            (None, None) => (h, w),
            _ => return Err(bad(format!("images[{i}] ({}): invalid ulm.valid_rows/valid_cols", im.file_name))),
        };
        let g = match (
            num("x0_mm"),
            num("z0_mm"),
            num("pixel_size_x_mm"),
            num("pixel_size_z_mm"),
            num("wavelength_mm"),
            num("frame_rate_hz"),
        ) {
            (Some(x0), Some(z0), Some(px), Some(pz), Some(l), Some(fr)) => {
                Geometry::new(px, pz, x0, z0, l, fr).map_err(|e| bad(format!("images[{i}] ({}): {e}", im.file_name)))?
            }
            _ => *geometry.ok_or_else(|| {
                bad(format!("images[{i}] ({}) has no ulm geometry keys: give the geometry (meta.json)", im.file_name))
            })?,
        };
        let max = if png.bit_depth == 16 { 65535.0 } else { 255.0 };
        let raw: Vec<f32> = png.pixels.iter().map(|&p| p as f32).collect();
        let image = match scaling {
            ImportScaling::Envelope => normalize_patch(&raw, w, h, vr, vc, norm),
            _ => raw.iter().map(|v| v / max).collect(),
        };
        let mut s = Sample {
            image,
            height: h,
            width: w,
            valid_rows: vr,
            valid_cols: vc,
            boxes: vec![],
            geometry: g,
            centers_mm: vec![],
        };
        for a in by_image.get(&im.id).map(Vec::as_slice).unwrap_or_default() {
            let [x, y, bw, bh] = a.bbox;
            // Box centre in pixel-edge coordinates → pixel index (centre convention).
            let (col, row) = (x + bw / 2.0 - 0.5, y + bh / 2.0 - 0.5);
            let center = match a
                .extra
                .get("center_mm")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_f64).collect::<Vec<_>>())
            {
                Some(v) if v.len() == 2 => (v[0], v[1]),
                _ => g.px_to_mm(col, row),
            };
            s.boxes.push([
                ((x + bw / 2.0) / w as f64) as f32,
                ((y + bh / 2.0) / h as f64) as f32,
                (bw / w as f64) as f32,
                (bh / h as f64) as f32,
            ]);
            s.centers_mm.push(center);
        }
        let frame = num("frame").map_or(i, |f| f as usize);
        let tile = num("tile").map_or(0, |t| t as usize);
        out.samples.push(s);
        out.origins.push(PatchOrigin { frame, tile });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
