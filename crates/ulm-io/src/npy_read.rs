//! NPY reader: the header is parsed, the data memory-mapped and converted block by block.

use std::ops::Range;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};
use ulm_core::FrameData;

use crate::convert::{DType, bytes_to_frames};
use crate::reader::{BlockReader, Format, FrameInfo, ReadOptions, as_3d};
use crate::{AxisOrder, Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// What an NPY header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Element type.
    pub dtype: DType,
    /// Array shape as NumPy reports it.
    pub shape: Vec<usize>,
    /// Whether the data is stored column-major.
    pub fortran_order: bool,
    /// Byte offset of the data from the start of the file.
    pub data_offset: usize,
}

impl NpyHeader {
    /// Number of data bytes the header announces (`None` on overflow).
    pub fn data_len(&self) -> Option<usize> {
        self.shape.iter().try_fold(self.dtype.size(), |acc, &d| acc.checked_mul(d))
    }
}

fn parse_descr(descr: &str) -> std::result::Result<DType, String> {
    let supported = "ulm reads float32 (<f4), float64 (<f8), complex64 (<c8), complex128 (<c16), \
                     int16 (<i2), int32 (<i4), uint8 (|u1) and uint16 (<u2)";
    let (endian, code) = descr.split_at(descr.len().min(1));
    if endian == ">" && !matches!(code, "u1" | "i1" | "b1") {
        return Err(format!(
            "big-endian dtype `{descr}` is not supported; convert with `a.astype(a.dtype.newbyteorder('<'))`"
        ));
    }
    if !matches!(endian, "<" | "|" | "=" | ">") {
        return Err(format!("unsupported dtype `{descr}`; {supported}"));
    }
    Ok(match code {
        "f4" => DType::F32,
        "f8" => DType::F64,
        "c8" => DType::C64,
        "c16" => DType::C128,
        "i2" => DType::I16,
        "i4" => DType::I32,
        "u1" => DType::U8,
        "u2" => DType::U16,
        _ => return Err(format!("unsupported dtype `{descr}`; {supported}")),
    })
}

/// Value following `'key':` in a NumPy header dict.
fn dict_value<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    let i = dict.find(&format!("'{key}'")).or_else(|| dict.find(&format!("\"{key}\"")))?;
    let rest = &dict[i + key.len() + 2..];
    let colon = rest.find(':')?;
    Some(rest[colon + 1..].trim_start())
}

/// Parses the header of an NPY file from its first bytes; `path` names it in errors.
pub fn parse_npy_header(path: &Path, bytes: &[u8]) -> Result<NpyHeader> {
    let bad = |m: String| Error::format(path, m);
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        let got: Vec<String> = bytes.iter().take(6).map(|b| format!("{b:02x}")).collect();
        return Err(bad(format!(
            "not an NPY file: wrong magic (expected 93 4e 55 4d 50 59 = \\x93NUMPY, found {})",
            if got.is_empty() { "an empty file".to_string() } else { got.join(" ") }
        )));
    }
    let major = bytes[6];
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("truncated NPY header".into()));
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(bad(format!("unsupported NPY format version {v}.{}", bytes[7]))),
    };
    let end = start + hlen;
    if bytes.len() < end {
        return Err(bad(format!("truncated NPY header: needs {end} bytes, file has {}", bytes.len())));
    }
    let dict = std::str::from_utf8(&bytes[start..end]).map_err(|_| bad("NPY header is not text".into()))?;
    let descr_v = dict_value(dict, "descr").ok_or_else(|| bad("NPY header has no 'descr'".into()))?;
    let q = descr_v.chars().next().unwrap_or(' ');
    if q != '\'' && q != '"' {
        return Err(bad(format!(
            "unsupported structured dtype {}; save a plain numeric array",
            descr_v.split('}').next().unwrap_or("")
        )));
    }
    let descr = &descr_v[1..descr_v[1..].find(q).map_or(0, |i| i + 1)];
    let dtype = parse_descr(descr).map_err(bad)?;
    let fo = dict_value(dict, "fortran_order").ok_or_else(|| bad("NPY header has no 'fortran_order'".into()))?;
    let fortran_order = if fo.starts_with("True") {
        true
    } else if fo.starts_with("False") {
        false
    } else {
        return Err(bad("NPY header: bad 'fortran_order'".into()));
    };
    let sh = dict_value(dict, "shape").ok_or_else(|| bad("NPY header has no 'shape'".into()))?;
    let close = sh.find(')').filter(|_| sh.starts_with('(')).ok_or_else(|| bad("NPY header: bad 'shape'".into()))?;
    let shape = sh[1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| bad(format!("NPY header: bad 'shape' {}", &sh[..=close])))?;
    Ok(NpyHeader { dtype, shape, fortran_order, data_offset: end })
}

/// A memory-mapped NPY file whose data length has been checked against its header.
pub(crate) struct NpyMap {
    path: PathBuf,
    map: memmap2::Mmap,
    /// Parsed header.
    pub header: NpyHeader,
}

impl NpyMap {
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only; like every reader of memory-mapped files we rely
        // on the file not being truncated by another process while we read it.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let header = parse_npy_header(path, &map)?;
        let need = header
            .data_len()
            .and_then(|n| n.checked_add(header.data_offset))
            .ok_or_else(|| Error::format(path, format!("NPY shape {:?} is too large", header.shape)))?;
        if map.len() < need {
            return Err(Error::format(
                path,
                format!(
                    "truncated NPY file: shape {:?} of {} needs {need} bytes, the file has {}",
                    header.shape,
                    header.dtype,
                    map.len()
                ),
            ));
        }
        Ok(Self { path: path.to_path_buf(), map, header })
    }

    /// Drops the pages of `frames` (stored `[t, z, x]`, C order) from this process's
    /// resident memory once they have been copied out: a streaming read of a long
    /// acquisition then keeps about one block resident instead of every page it touched
    /// (file-backed pages count in the resident set until the kernel needs the memory).
    /// The pages stay in the page cache; a later read faults them back in. Other layouts
    /// read strided bytes from the whole file and are left alone.
    fn release(&self, frames: &Range<usize>, shape: [usize; 3], order: AxisOrder) {
        if order != AxisOrder::Tzx || self.header.fortran_order {
            return;
        }
        let frame_bytes = shape[1] * shape[2] * self.header.dtype.size();
        let (start, len) = (self.header.data_offset + frames.start * frame_bytes, frames.len() * frame_bytes);
        if len == 0 || start + len > self.map.len() {
            return;
        }
        #[cfg(unix)]
        {
            // SAFETY: a read-only, shared, file-backed map: `MADV_DONTNEED` only drops this
            // process's copies of the pages, and every later access reads the file again,
            // so no data we own is lost and no reference into the map becomes invalid.
            // memmap2 widens the range to whole pages.
            let _ = unsafe { self.map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, len) };
        }
    }

    /// The data bytes (exactly as many as the header announces).
    pub fn data(&self) -> &[u8] {
        let n = self.header.data_len().unwrap_or(0);
        &self.map[self.header.data_offset..self.header.data_offset + n]
    }
}

/// Opens an NPY frame file: header parsed and checked against the file length, data
/// memory-mapped.
pub(crate) fn open(path: &Path, opts: &ReadOptions) -> Result<(FrameInfo, Box<dyn BlockReader>)> {
    let order = opts.axis_order;
    let map = NpyMap::open(path)?;
    let stored = as_3d(path, &map.header.shape, order, "")?;
    let info = FrameInfo {
        path: path.to_path_buf(),
        format: Format::Npy,
        variable: None,
        dtype: map.header.dtype,
        stored_shape: map.header.shape.clone(),
        fortran_order: map.header.fortran_order,
        axis_order: order,
        shape: order.tzx_shape(stored),
    };
    Ok((info, Box::new(NpyReader::new(map, stored, order))))
}

/// Streams frames from a memory-mapped NPY file.
pub(crate) struct NpyReader {
    map: NpyMap,
    shape: [usize; 3],
    order: AxisOrder,
}

impl NpyReader {
    /// `shape` is the stored 3-D shape (a 2-D file gains its frame axis).
    pub fn new(map: NpyMap, shape: [usize; 3], order: AxisOrder) -> Self {
        Self { map, shape, order }
    }
}

impl BlockReader for NpyReader {
    fn read(&mut self, frames: Range<usize>) -> Result<FrameData> {
        let h = &self.map.header;
        let _ = &self.map.path;
        let out = bytes_to_frames(self.map.data(), h.dtype, self.shape, h.fortran_order, self.order, frames.clone());
        self.map.release(&frames, self.shape, self.order);
        Ok(out)
    }
}

macro_rules! real_nd {
    ($data:expr, $n:literal, $shape:expr, $f:expr) => {{
        let elems: &[[u8; $n]] = bytemuck::cast_slice($data);
        let v = ArrayViewD::from_shape($shape, elems).expect("length checked");
        let conv: Vec<f32> = v.iter().map(|&b| $f(b)).collect();
        conv
    }};
}

/// Reads an NPY array of any real dtype as f32, in its logical (C) order whatever the
/// file's order. Complex files are an error. Used for maps and other non-frame arrays.
pub fn read_npy_f32(path: &Path) -> Result<ArrayD<f32>> {
    let map = NpyMap::open(path)?;
    let h = &map.header;
    let data = map.data();
    let sh = IxDyn(&h.shape);
    let shape = sh.clone().set_f(h.fortran_order);
    let v: Vec<f32> = match h.dtype {
        DType::F32 if !h.fortran_order => bytemuck::pod_collect_to_vec(data),
        DType::F32 => real_nd!(data, 4, shape, f32::from_le_bytes),
        DType::F64 => real_nd!(data, 8, shape, |b| f64::from_le_bytes(b) as f32),
        DType::I16 => real_nd!(data, 2, shape, |b| i16::from_le_bytes(b) as f32),
        DType::I32 => real_nd!(data, 4, shape, |b| i32::from_le_bytes(b) as f32),
        DType::U16 => real_nd!(data, 2, shape, |b| u16::from_le_bytes(b) as f32),
        DType::U8 => real_nd!(data, 1, shape, |b: [u8; 1]| b[0] as f32),
        d => return Err(Error::format(path, format!("expected a real array, found {d}"))),
    };
    ArrayD::from_shape_vec(sh, v).map_err(|e| Error::format(path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy_write::npy_header;

    #[test]
    fn header_parses_and_rejects() {
        let p = Path::new("a.npy");
        let h = npy_header("<c8", &[5, 3, 4], true);
        let hd = parse_npy_header(p, &h).unwrap();
        assert_eq!(hd.dtype, DType::C64);
        assert_eq!(hd.shape, vec![5, 3, 4]);
        assert!(hd.fortran_order);
        assert_eq!(hd.data_offset, h.len());
        assert_eq!(hd.data_len(), Some(5 * 3 * 4 * 8));
        let e = parse_npy_header(p, &npy_header("<i8", &[2], false)).unwrap_err().to_string();
        assert!(e.contains("a.npy") && e.contains("unsupported dtype `<i8`"), "{e}");
        let e = parse_npy_header(p, &npy_header(">f4", &[2], false)).unwrap_err().to_string();
        assert!(e.contains("big-endian"), "{e}");
        let e = parse_npy_header(p, b"PK\x03\x04 not npy").unwrap_err().to_string();
        assert!(e.contains("wrong magic"), "{e}");
        let e = parse_npy_header(p, &h[..40]).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        // Scalars and 1-D shapes.
        assert_eq!(parse_npy_header(p, &npy_header("<f8", &[7], false)).unwrap().shape, vec![7]);
    }
}
