use std::path::Path;

use ndarray::{Array2, Array3};

use crate::{Error, Result, atomic_write};

fn write_png(path: &Path, width: usize, height: usize, color: png::ColorType, data: &[u8]) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::format(path, format!("cannot write an empty {width}×{height} image")));
    }
    atomic_write(path, |w| {
        let mut enc = png::Encoder::new(w, width as u32, height as u32);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(std::io::Error::other)?;
        writer.write_image_data(data).map_err(std::io::Error::other)?;
        writer.finish().map_err(std::io::Error::other)?;
        Ok(())
    })
}

/// Writes a `[rows, cols]` 8-bit grey image (row 0 at the top) as PNG, atomically.
pub fn write_png_gray8(path: &Path, image: &Array2<u8>) -> Result<()> {
    let (h, w) = image.dim();
    let data: Vec<u8> = image.iter().copied().collect();
    write_png(path, w, h, png::ColorType::Grayscale, &data)
}

/// Writes a `[rows, cols, 3]` 8-bit RGB image (row 0 at the top) as PNG, atomically.
pub fn write_png_rgb8(path: &Path, image: &Array3<u8>) -> Result<()> {
    let (h, w, c) = image.dim();
    if c != 3 {
        return Err(Error::format(path, format!("RGB image needs 3 channels, got {c}")));
    }
    let data: Vec<u8> = image.iter().copied().collect();
    write_png(path, w, h, png::ColorType::Rgb, &data)
}
