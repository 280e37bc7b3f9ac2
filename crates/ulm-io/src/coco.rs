//! COCO detection JSON (the training-data interchange format) and the 16-bit grey PNG
//! patches that go with it.
//!
//! Only the parts of COCO that detection training uses: `info`, `images`
//! (`id, file_name, width, height`), `annotations` (`id, image_id, category_id,
//! bbox = [x, y, w, h]` in pixels of the image, `area`, `iscrowd`) and `categories`
//! (`id, name`). Every other key of an image or annotation is kept in its `extra` map
//! (ulm stores e.g. the patch geometry and the exact centre in mm there), so files made
//! elsewhere read and files made here train the official PyTorch implementations.
//!
//! [`read_coco`] checks what a trainer relies on — unique ids, annotations that point to
//! an existing image and category, finite boxes with positive size — and names the file
//! and the offending entry in its error.
//!
//! ```
//! use ulm_io::coco::{CocoAnnotation, CocoCategory, CocoDataset, CocoImage};
//! let dir = tempfile::tempdir().unwrap();
//! let mut ds = CocoDataset::new(vec![CocoCategory::new(1, "microbubble")]);
//! ds.images.push(CocoImage::new(1, "a.png", 4, 3));
//! ds.annotations.push(CocoAnnotation::new(1, 1, 1, [0.5, 1.0, 2.0, 1.5]));
//! let path = dir.path().join("train.json");
//! ulm_io::coco::write_coco(&path, &ds).unwrap();
//! assert_eq!(ulm_io::coco::read_coco(&path).unwrap(), ds);
//! ```

use std::collections::HashSet;
use std::io::BufReader;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Result, atomic_write, atomic_write_bytes};

/// A COCO detection dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoDataset {
    /// Free-form description (ulm stores its intensity scaling here).
    #[serde(default)]
    pub info: Map<String, Value>,
    /// The images.
    pub images: Vec<CocoImage>,
    /// The boxes.
    #[serde(default)]
    pub annotations: Vec<CocoAnnotation>,
    /// The classes.
    pub categories: Vec<CocoCategory>,
}

/// One image of a COCO dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoImage {
    /// Unique image id.
    pub id: u64,
    /// Path of the image, relative to the images folder.
    pub file_name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Other keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One box of a COCO dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoAnnotation {
    /// Unique annotation id.
    pub id: u64,
    /// Image it belongs to.
    pub image_id: u64,
    /// Its class.
    pub category_id: u64,
    /// `[x, y, w, h]`: top-left corner and size in pixels of the image, where pixel
    /// `(row, col)` covers `[col, col + 1) × [row, row + 1)`.
    pub bbox: [f64; 4],
    /// Box area in pixels² (`w · h` here).
    #[serde(default)]
    pub area: f64,
    /// COCO's crowd flag (always 0 here).
    #[serde(default)]
    pub iscrowd: u8,
    /// Other keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One class of a COCO dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoCategory {
    /// Class id (COCO numbers from 1).
    pub id: u64,
    /// Class name (`microbubble`).
    pub name: String,
    /// Parent class name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supercategory: Option<String>,
}

impl CocoDataset {
    /// An empty dataset with these categories.
    pub fn new(categories: Vec<CocoCategory>) -> Self {
        Self { info: Map::new(), images: Vec::new(), annotations: Vec::new(), categories }
    }
}

impl CocoImage {
    /// An image entry without extra keys.
    pub fn new(id: u64, file_name: impl Into<String>, width: u32, height: u32) -> Self {
        Self { id, file_name: file_name.into(), width, height, extra: Map::new() }
    }
}

impl CocoAnnotation {
    /// A box entry (area `w · h`, not a crowd) without extra keys.
    pub fn new(id: u64, image_id: u64, category_id: u64, bbox: [f64; 4]) -> Self {
        Self { id, image_id, category_id, bbox, area: bbox[2] * bbox[3], iscrowd: 0, extra: Map::new() }
    }
}

impl CocoCategory {
    /// A category without a supercategory.
    pub fn new(id: u64, name: impl Into<String>) -> Self {
        Self { id, name: name.into(), supercategory: None }
    }
}

/// Checks ids, references and boxes; the error names `path` and the entry.
pub fn validate_coco(ds: &CocoDataset, path: &Path) -> Result<()> {
    let mut images = HashSet::new();
    for (i, im) in ds.images.iter().enumerate() {
        if !images.insert(im.id) {
            return Err(Error::format(path, format!("images[{i}]: duplicate image id {}", im.id)));
        }
        if im.width == 0 || im.height == 0 {
            return Err(Error::format(
                path,
                format!("images[{i}] (id {}): empty {}×{} image", im.id, im.width, im.height),
            ));
        }
    }
    let mut cats = HashSet::new();
    for (i, c) in ds.categories.iter().enumerate() {
        if !cats.insert(c.id) {
            return Err(Error::format(path, format!("categories[{i}]: duplicate category id {}", c.id)));
        }
    }
    let mut anns = HashSet::new();
    for (i, a) in ds.annotations.iter().enumerate() {
        if !anns.insert(a.id) {
            return Err(Error::format(path, format!("annotations[{i}]: duplicate annotation id {}", a.id)));
        }
        if !images.contains(&a.image_id) {
            return Err(Error::format(
                path,
                format!("annotations[{i}] (id {}): unknown image_id {}", a.id, a.image_id),
            ));
        }
        if !cats.contains(&a.category_id) {
            return Err(Error::format(
                path,
                format!("annotations[{i}] (id {}): unknown category_id {}", a.id, a.category_id),
            ));
        }
        let [x, y, w, h] = a.bbox;
        if !(x.is_finite() && y.is_finite() && w.is_finite() && h.is_finite() && w > 0.0 && h > 0.0) {
            return Err(Error::format(
                path,
                format!("annotations[{i}] (id {}): bbox {:?} must be finite with w, h > 0", a.id, a.bbox),
            ));
        }
    }
    Ok(())
}

/// Reads and validates a COCO JSON file.
pub fn read_coco(path: &Path) -> Result<CocoDataset> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let ds: CocoDataset = serde_json::from_reader(BufReader::new(file))
        .map_err(|e| Error::format(path, format!("not a COCO detection JSON: {e}")))?;
    validate_coco(&ds, path)?;
    Ok(ds)
}

/// Validates and writes a COCO JSON file atomically.
pub fn write_coco(path: &Path, ds: &CocoDataset) -> Result<()> {
    validate_coco(ds, path)?;
    let text = serde_json::to_vec(ds).map_err(|e| Error::format(path, format!("serialising COCO: {e}")))?;
    atomic_write_bytes(path, &text)
}

/// Writes a `height × width` 16-bit grey PNG (row-major, row 0 at the top), atomically.
pub fn write_png_gray16(path: &Path, width: usize, height: usize, pixels: &[u16]) -> Result<()> {
    if width == 0 || height == 0 || pixels.len() != width * height {
        return Err(Error::format(path, format!("cannot write {} pixels as a {width}×{height} image", pixels.len())));
    }
    // PNG stores 16-bit samples big-endian.
    let data: Vec<u8> = pixels.iter().flat_map(|v| v.to_be_bytes()).collect();
    atomic_write(path, |w| {
        let mut enc = png::Encoder::new(w, width as u32, height as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Sixteen);
        let mut writer = enc.write_header().map_err(std::io::Error::other)?;
        writer.write_image_data(&data).map_err(std::io::Error::other)?;
        writer.finish().map_err(std::io::Error::other)?;
        Ok(())
    })
}

/// A grey image read back from PNG: samples widened to `u16`, with the bit depth they had.
#[derive(Debug, Clone, PartialEq)]
pub struct GrayImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Bits per sample in the file (8 or 16).
    pub bit_depth: u8,
    /// Row-major samples.
    pub pixels: Vec<u16>,
}

/// Reads an 8- or 16-bit grey PNG (colour images only when every pixel is grey).
pub fn read_png_gray(path: &Path) -> Result<GrayImage> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut dec = png::Decoder::new(BufReader::new(file));
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec.read_info().map_err(|e| Error::format(path, format!("not a PNG image: {e}")))?;
    let size =
        reader.output_buffer_size().ok_or_else(|| Error::format(path, "PNG image too large for this machine"))?;
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(|e| Error::format(path, format!("corrupt PNG image: {e}")))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let depth = match info.bit_depth {
        png::BitDepth::Eight => 8u8,
        png::BitDepth::Sixteen => 16,
        d => return Err(Error::format(path, format!("unsupported PNG bit depth {d:?}"))),
    };
    let bytes = &buf[..info.buffer_size()];
    let samples: Vec<u16> = if depth == 16 {
        bytes.chunks_exact(2).map(|b| u16::from_be_bytes([b[0], b[1]])).collect()
    } else {
        bytes.iter().map(|&b| b as u16).collect()
    };
    let has_alpha = matches!(info.color_type, png::ColorType::GrayscaleAlpha | png::ColorType::Rgba);
    let colour = if has_alpha { channels - 1 } else { channels };
    let mut pixels = Vec::with_capacity(w * h);
    for px in samples.chunks_exact(channels) {
        if px[..colour].iter().any(|&c| c != px[0]) {
            return Err(Error::format(path, "colour image: patches must be greyscale (R = G = B)"));
        }
        pixels.push(px[0]);
    }
    if pixels.len() != w * h {
        return Err(Error::format(path, "truncated PNG image"));
    }
    Ok(GrayImage { width: w, height: h, bit_depth: depth, pixels })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HAND: &str = r#"{
      "info": {"description": "hand-written"},
      "images": [{"id": 7, "file_name": "p.png", "width": 8, "height": 6, "license": 3}],
      "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [1, 2, 3, 2], "area": 6, "iscrowd": 0, "segmentation": []}],
      "categories": [{"id": 1, "name": "microbubble", "supercategory": "bubble"}]
    }"#;

    #[test]
    fn hand_written_file_reads_and_keeps_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        std::fs::write(&p, HAND).unwrap();
        let ds = read_coco(&p).unwrap();
        assert_eq!(ds.images[0].extra["license"], 3);
        assert_eq!(ds.annotations[0].bbox, [1.0, 2.0, 3.0, 2.0]);
        assert_eq!(ds.categories[0].supercategory.as_deref(), Some("bubble"));
        let q = dir.path().join("d.json");
        write_coco(&q, &ds).unwrap();
        assert_eq!(read_coco(&q).unwrap(), ds);
    }

    #[test]
    fn bad_files_name_file_and_entry() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.json");
        for (text, want) in [
            (HAND.replace("\"image_id\": 7", "\"image_id\": 8"), "unknown image_id 8"),
            (HAND.replace("[1, 2, 3, 2]", "[1, 2, 0, 2]"), "w, h > 0"),
            (HAND.replace("\"category_id\": 1", "\"category_id\": 2"), "unknown category_id 2"),
            (HAND.replace("\"images\"", "\"imgs\""), "not a COCO"),
            ("{".to_string(), "not a COCO"),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = read_coco(&p).unwrap_err().to_string();
            assert!(e.contains("bad.json") && e.contains(want), "{e}");
        }
        assert!(read_coco(&dir.path().join("missing.json")).unwrap_err().to_string().contains("missing.json"));
    }

    #[test]
    fn png16_round_trip_and_png8_widens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.png");
        let px: Vec<u16> = (0..12).map(|i| (i * 5000 + 1) as u16).collect();
        write_png_gray16(&p, 4, 3, &px).unwrap();
        let im = read_png_gray(&p).unwrap();
        assert_eq!((im.width, im.height, im.bit_depth), (4, 3, 16));
        assert_eq!(im.pixels, px);
        let q = dir.path().join("b.png");
        crate::write_png_gray8(&q, &ndarray::Array2::from_shape_fn((2, 3), |(r, c)| (r * 3 + c) as u8 * 40)).unwrap();
        let im = read_png_gray(&q).unwrap();
        assert_eq!((im.bit_depth, im.pixels), (8, vec![0, 40, 80, 120, 160, 200]));
        std::fs::write(&q, b"nope").unwrap();
        assert!(read_png_gray(&q).unwrap_err().to_string().contains("b.png"));
        assert!(write_png_gray16(&p, 4, 4, &px).is_err());
    }
}
