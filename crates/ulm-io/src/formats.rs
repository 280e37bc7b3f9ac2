//! Tells formats apart (extension, then magic bytes) and opens the matching reader.

use std::io::Read;
use std::path::Path;

use crate::reader::{BlockReader, Format, FrameInfo, ReadOptions};
use crate::{Error, Result};

const HDF5_MAGIC: &[u8] = b"\x89HDF\r\n\x1a\n";

fn head(path: &Path, n: usize) -> Result<Vec<u8>> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = Vec::with_capacity(n);
    (&mut f).take(n as u64).read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
    Ok(buf)
}

/// Tells the format of a frame file or folder.
pub fn detect_format(path: &Path) -> Result<Format> {
    if path.is_dir() {
        return Ok(Format::ImageFolder);
    }
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    let h = head(path, 1024)?;
    let hdf5_at = |off: usize| h.len() >= off + 8 && &h[off..off + 8] == HDF5_MAGIC;
    let is_hdf5 = hdf5_at(0) || hdf5_at(512);
    match ext.as_str() {
        "npy" => return Ok(Format::Npy),
        "mat" if is_hdf5 || h.starts_with(b"MATLAB 7.3") => return Ok(Format::MatV73),
        "mat" => return Ok(Format::MatV5),
        "h5" | "hdf5" | "hdf" | "he5" => return Ok(Format::Hdf5),
        "png" => return Ok(Format::Png),
        "tif" | "tiff" => return Ok(Format::Tiff),
        _ => {}
    }
    if h.starts_with(b"\x93NUMPY") {
        Ok(Format::Npy)
    } else if h.starts_with(b"MATLAB 7.3") && is_hdf5 {
        Ok(Format::MatV73)
    } else if is_hdf5 {
        Ok(Format::Hdf5)
    } else if h.starts_with(b"MATLAB 5.0") {
        Ok(Format::MatV5)
    } else if h.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(Format::Png)
    } else if h.starts_with(b"II*\0") || h.starts_with(b"MM\0*") {
        Ok(Format::Tiff)
    } else {
        Err(Error::format(
            path,
            "unknown frame format: expected .npy, .mat (v5 or v7.3), .h5, .png, .tif/.tiff or a folder of images",
        ))
    }
}

pub(crate) fn open(path: &Path, opts: &ReadOptions) -> Result<(FrameInfo, Box<dyn BlockReader>)> {
    if !path.exists() {
        return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder")));
    }
    let format = detect_format(path)?;
    match format {
        Format::Npy => crate::npy_read::open(path, opts),
        Format::MatV5 => crate::mat5::open(path, opts),
        Format::MatV73 | Format::Hdf5 => crate::h5::open(path, opts, format),
        Format::ImageFolder | Format::Png | Format::Tiff => crate::images::open(path, opts, format),
    }
}
