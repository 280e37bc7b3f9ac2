//! Frames as images: a folder of PNG/TIFF files (one frame each, natural name order), a
//! single PNG, or a multi-page TIFF (one frame per page). Greyscale 8/16-bit integer or
//! float samples; colour images are accepted only when every pixel is grey (R = G = B).
//! Image row 0 (the top) is depth row 0. Frames are decoded when a block asks for them.

use std::fs::File;
use std::io::BufReader;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ndarray::Array3;
use ulm_core::FrameData;

use crate::convert::DType;
use crate::reader::{BlockReader, Format, FrameInfo, ReadOptions};
use crate::{AxisOrder, Error, Result};

/// One decoded grey frame.
struct Image {
    rows: usize,
    cols: usize,
    dtype: DType,
    pixels: Vec<f32>,
}

impl Image {
    /// An image whose decoded samples must number `rows × cols` (a decoder may hand back
    /// fewer for a malformed file).
    fn new(path: &Path, rows: usize, cols: usize, dtype: DType, pixels: Vec<f32>) -> Result<Self> {
        if rows.checked_mul(cols) != Some(pixels.len()) {
            return Err(Error::format(
                path,
                format!("decoded {} samples for a {rows}×{cols}-pixel frame (corrupt image?)", pixels.len()),
            ));
        }
        Ok(Image { rows, cols, dtype, pixels })
    }
}

fn grey(path: &Path, channels: usize, alpha: bool, v: Vec<f32>) -> Result<Vec<f32>> {
    if channels == 1 {
        return Ok(v);
    }
    let colour = if alpha { channels - 1 } else { channels };
    let mut out = Vec::with_capacity(v.len() / channels);
    for px in v.chunks_exact(channels) {
        if px[..colour].iter().any(|&c| c != px[0]) {
            return Err(Error::format(path, "colour image: frames must be greyscale (R = G = B)"));
        }
        out.push(px[0]);
    }
    Ok(out)
}

/// Most bytes a decoded image may take when its file holds `file_len` bytes: image
/// headers can announce any size, but compressed pixel data cannot expand beyond what its
/// codec allows (deflate ≈ 1032 : 1; TIFF's LZW < 4096 : 1), so a larger announcement is
/// a corrupt or hostile header, refused before anything is allocated.
fn decode_budget(path: &Path, expansion: u64) -> Result<usize> {
    let len = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    Ok(usize::try_from(len.saturating_mul(expansion).saturating_add(1 << 20)).unwrap_or(usize::MAX))
}

fn decode_png(path: &Path) -> Result<Image> {
    let budget = decode_budget(path, 1040)?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut dec = png::Decoder::new_with_limits(BufReader::new(file), png::Limits { bytes: budget.min(64 << 20) });
    dec.set_transformations(png::Transformations::EXPAND);
    let bad = |e: png::DecodingError| Error::format(path, format!("invalid PNG: {e}"));
    let mut reader = dec.read_info().map_err(bad)?;
    let size = reader.output_buffer_size().ok_or_else(|| Error::format(path, "PNG image too large"))?;
    if size > budget {
        let (w, h) = (reader.info().width, reader.info().height);
        return Err(Error::format(path, format!("PNG header announces {w}×{h} pixels, more than the file can hold")));
    }
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(bad)?;
    buf.truncate(info.buffer_size());
    let (channels, alpha) = match info.color_type {
        png::ColorType::Grayscale => (1, false),
        png::ColorType::GrayscaleAlpha => (2, true),
        png::ColorType::Rgb => (3, false),
        png::ColorType::Rgba => (4, true),
        png::ColorType::Indexed => return Err(Error::format(path, "palette PNG: frames must be greyscale")),
    };
    let (dtype, v): (DType, Vec<f32>) = match info.bit_depth {
        png::BitDepth::Sixteen => {
            (DType::U16, buf.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]) as f32).collect())
        }
        _ => (DType::U8, buf.iter().map(|&b| b as f32).collect()),
    };
    Image::new(path, info.height as usize, info.width as usize, dtype, grey(path, channels, alpha, v)?)
}

fn tiff_err(path: &Path, e: tiff::TiffError) -> Error {
    Error::format(path, format!("invalid TIFF: {e}"))
}

fn decode_tiff_page(path: &Path, dec: &mut tiff::decoder::Decoder<BufReader<File>>) -> Result<Image> {
    use tiff::ColorType as C;
    use tiff::decoder::DecodingResult as D;
    let (w, h) = dec.dimensions().map_err(|e| tiff_err(path, e))?;
    let (channels, alpha) = match dec.colortype().map_err(|e| tiff_err(path, e))? {
        C::Gray(_) => (1, false),
        C::GrayA(_) => (2, true),
        C::RGB(_) => (3, false),
        C::RGBA(_) => (4, true),
        c => return Err(Error::format(path, format!("TIFF colour type {c:?}: frames must be greyscale"))),
    };
    let (dtype, v): (DType, Vec<f32>) = match dec.read_image().map_err(|e| tiff_err(path, e))? {
        D::U8(v) => (DType::U8, v.into_iter().map(f32::from).collect()),
        D::U16(v) => (DType::U16, v.into_iter().map(f32::from).collect()),
        D::I16(v) => (DType::I16, v.into_iter().map(f32::from).collect()),
        D::I32(v) => (DType::I32, v.into_iter().map(|x| x as f32).collect()),
        D::F32(v) => (DType::F32, v),
        D::F64(v) => (DType::F64, v.into_iter().map(|x| x as f32).collect()),
        _ => return Err(Error::format(path, "unsupported TIFF sample type (use 8/16-bit integer or float)")),
    };
    Image::new(path, h as usize, w as usize, dtype, grey(path, channels, alpha, v)?)
}

/// Size in bytes of a TIFF field type (0 for types the `tiff` crate does not read).
fn tiff_type_size(t: u16) -> u64 {
    match t {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 | 17 | 18 => 8,
        _ => 0,
    }
}

/// Walks the chain of image file directories and checks that every tag's values lie
/// inside the file. The `tiff` crate sizes its value lists by the count a tag announces
/// before reading them (and reads the first directory before it accepts limits), so a
/// lying count would otherwise make it allocate gigabytes for a tiny file.
fn check_tiff_directories(path: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let bad = |m: String| Error::format(path, format!("invalid TIFF: {m}"));
    let mut read_at = |off: u64, buf: &mut [u8]| -> Result<()> {
        if off.checked_add(buf.len() as u64).is_none_or(|end| end > len) {
            return Err(bad(format!("structure at byte {off} runs past the end of the {len}-byte file")));
        }
        f.seek(SeekFrom::Start(off)).and_then(|_| f.read_exact(buf)).map_err(|e| Error::io(path, e))
    };
    let mut head = [0u8; 16];
    let n = usize::try_from(len.min(16)).unwrap_or(16);
    read_at(0, &mut head[..n])?;
    let le = head.starts_with(b"II");
    let u16_of = |b: &[u8]| if le { u16::from_le_bytes([b[0], b[1]]) } else { u16::from_be_bytes([b[0], b[1]]) };
    let u32_of = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        u64::from(if le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) })
    };
    let u64_of = |b: &[u8]| {
        let a: [u8; 8] = b[..8].try_into().unwrap_or_default();
        if le { u64::from_le_bytes(a) } else { u64::from_be_bytes(a) }
    };
    if n < 8 || !(head.starts_with(b"II") || head.starts_with(b"MM")) {
        return Ok(()); // not TIFF: the decoder says so
    }
    let big = u16_of(&head[2..4]) == 43;
    let mut next = if big {
        if n < 16 { return Err(bad("truncated header".into())) } else { u64_of(&head[8..16]) }
    } else {
        u32_of(&head[4..8])
    };
    let (count_len, entry_len, inline) = if big { (8u64, 20u64, 8u64) } else { (2, 12, 4) };
    let mut seen = std::collections::HashSet::new();
    while next != 0 {
        if !seen.insert(next) {
            return Err(bad(format!("the directory at byte {next} is linked twice")));
        }
        let mut c = [0u8; 8];
        read_at(next, &mut c[..count_len as usize])?;
        let count = if big { u64_of(&c) } else { u64::from(u16_of(&c)) };
        let size = count.checked_mul(entry_len).and_then(|s| s.checked_add(count_len + inline));
        let mut dir = vec![
            0u8;
            usize::try_from(size.filter(|&s| next.saturating_add(s) <= len).ok_or_else(|| {
                bad(format!("directory at byte {next} announces {count} entries, past the end of the file"))
            })?)
            .unwrap_or(0)
        ];
        read_at(next, &mut dir)?;
        for e in dir[count_len as usize..].chunks_exact(entry_len as usize).take(count as usize) {
            let (tag, ty) = (u16_of(&e[0..2]), u16_of(&e[2..4]));
            let (n, value) =
                if big { (u64_of(&e[4..12]), u64_of(&e[12..20])) } else { (u32_of(&e[4..8]), u32_of(&e[8..12])) };
            if n == 0 {
                // The `tiff` crate indexes the first value of some tags unchecked.
                return Err(bad(format!("tag {tag} holds no values")));
            }
            let bytes = n.saturating_mul(tiff_type_size(ty));
            if bytes > inline && value.checked_add(bytes).is_none_or(|end| end > len) {
                return Err(bad(format!("tag {tag} announces {n} values past the end of the {len}-byte file")));
            }
        }
        let tail = &dir[dir.len() - inline as usize..];
        next = if big { u64_of(tail) } else { u32_of(tail) };
    }
    Ok(())
}

/// Opens a TIFF decoder with limits from the file size; `check` first walks the
/// directories (once per file: block reads of a checked multi-page file skip it).
fn open_tiff(path: &Path, check: bool) -> Result<tiff::decoder::Decoder<BufReader<File>>> {
    if check {
        check_tiff_directories(path)?;
    }
    let budget = decode_budget(path, 4096)?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut limits = tiff::decoder::Limits::default();
    limits.decoding_buffer_size = limits.decoding_buffer_size.min(budget);
    limits.intermediate_buffer_size = limits.intermediate_buffer_size.min(budget);
    limits.ifd_value_size = limits.ifd_value_size.min(budget);
    let dec = tiff::decoder::Decoder::new(BufReader::new(file)).map_err(|e| tiff_err(path, e))?;
    Ok(dec.with_limits(limits))
}

fn decode_file(path: &Path) -> Result<Image> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    if ext == "png" { decode_png(path) } else { decode_tiff_page(path, &mut open_tiff(path, true)?) }
}

/// Key for natural ordering: `frame2.png` before `frame10.png`.
fn natural_key(name: &str) -> Vec<(u8, String, u128)> {
    let mut out = Vec::new();
    let mut chars = name.chars().peekable();
    while let Some(&c) = chars.peek() {
        let digit = c.is_ascii_digit();
        let mut part = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_digit() != digit {
                break;
            }
            part.push(c);
            chars.next();
        }
        out.push(if digit { (0, String::new(), part.parse().unwrap_or(u128::MAX)) } else { (1, part, 0) });
    }
    out
}

fn list_folder(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "tif" | "tiff"))
        })
        .collect();
    files.sort_by_cached_key(|p| natural_key(&p.file_name().unwrap_or_default().to_string_lossy()));
    if files.is_empty() {
        return Err(Error::format(dir, "folder holds no .png, .tif or .tiff frames"));
    }
    Ok(files)
}

fn count_pages(path: &Path) -> Result<usize> {
    let mut dec = open_tiff(path, false)?;
    let mut n = 1;
    while dec.more_images() {
        dec.next_image().map_err(|e| tiff_err(path, e))?;
        n += 1;
    }
    Ok(n)
}

pub(crate) fn open(path: &Path, opts: &ReadOptions, format: Format) -> Result<(FrameInfo, Box<dyn BlockReader>)> {
    if opts.axis_order != AxisOrder::Tzx {
        return Err(Error::format(
            path,
            "--axis-order does not apply to image frames (rows are depth, columns lateral)",
        ));
    }
    let (source, first, n) = match format {
        Format::ImageFolder => {
            let files = list_folder(path)?;
            let first = decode_file(&files[0])?;
            let n = files.len();
            (Pages::Files(files), first, n)
        }
        Format::Png => (Pages::Files(vec![path.to_path_buf()]), decode_png(path)?, 1),
        _ => {
            let first = decode_tiff_page(path, &mut open_tiff(path, true)?)?;
            (Pages::Tiff(path.to_path_buf()), first, count_pages(path)?)
        }
    };
    let info = FrameInfo {
        path: path.to_path_buf(),
        format,
        variable: None,
        dtype: first.dtype,
        stored_shape: vec![n, first.rows, first.cols],
        fortran_order: false,
        axis_order: AxisOrder::Tzx,
        shape: [n, first.rows, first.cols],
    };
    Ok((info, Box::new(ImageReader { pages: source, rows: first.rows, cols: first.cols })))
}

enum Pages {
    Files(Vec<PathBuf>),
    Tiff(PathBuf),
}

struct ImageReader {
    pages: Pages,
    rows: usize,
    cols: usize,
}

impl ImageReader {
    fn check(&self, path: &Path, img: &Image, k: usize) -> Result<()> {
        if (img.rows, img.cols) != (self.rows, self.cols) {
            return Err(Error::format(
                path,
                format!("frame {k} is {}×{} pixels, frame 0 is {}×{}", img.rows, img.cols, self.rows, self.cols),
            ));
        }
        Ok(())
    }
}

impl BlockReader for ImageReader {
    fn read(&mut self, frames: Range<usize>) -> Result<FrameData> {
        let mut out = Array3::<f32>::zeros((frames.len(), self.rows, self.cols));
        let per = self.rows * self.cols;
        let flat = out.as_slice_mut().expect("standard layout");
        match &self.pages {
            Pages::Files(files) => {
                for (i, k) in frames.clone().enumerate() {
                    let img = decode_file(&files[k])?;
                    self.check(&files[k], &img, k)?;
                    flat[i * per..(i + 1) * per].copy_from_slice(&img.pixels);
                }
            }
            Pages::Tiff(path) => {
                let mut dec = open_tiff(path, false)?;
                if frames.start > 0 {
                    dec.seek_to_image(frames.start).map_err(|e| tiff_err(path, e))?;
                }
                for (i, k) in frames.clone().enumerate() {
                    if i > 0 {
                        dec.next_image().map_err(|e| tiff_err(path, e))?;
                    }
                    let img = decode_tiff_page(path, &mut dec)?;
                    self.check(path, &img, k)?;
                    flat[i * per..(i + 1) * per].copy_from_slice(&img.pixels);
                }
            }
        }
        Ok(FrameData::Real(out))
    }
}

#[cfg(test)]
mod tests {
    use super::natural_key;

    #[test]
    fn natural_order() {
        let mut v = vec!["f10.png", "f2.png", "f1.png", "g0.png"];
        v.sort_by_key(|s| natural_key(s));
        assert_eq!(v, ["f1.png", "f2.png", "f10.png", "g0.png"]);
    }
}
