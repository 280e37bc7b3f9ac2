//! MATLAB level-5 MAT-file reader (`save -v6`, `-v7`, scipy's `savemat`): numeric
//! arrays of class double, single, int16, int32, uint8 and uint16, real or complex
//! (double, single, int16), compressed (`miCOMPRESSED`, zlib) or not. MATLAB stores
//! column-major; shapes are MATLAB's `size()`.

use std::io::Read;
use std::ops::Range;
use std::path::Path;

use flate2::read::ZlibDecoder;
use num_complex::Complex32;
use ulm_core::FrameData;

use crate::convert::{DType, convert_view, stored_view};
use crate::reader::{BlockReader, Format, FrameInfo, ReadOptions, as_3d};
use crate::{AxisOrder, Error, Result};

const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

/// Header of one variable (`miMATRIX`).
#[derive(Debug, Clone)]
struct VarHeader {
    name: String,
    class: u8,
    complex: bool,
    dims: Vec<usize>,
    /// Offset of the real part's tag inside the matrix content.
    data_offset: usize,
}

fn class_name(c: u8) -> &'static str {
    match c {
        1 => "cell",
        2 => "struct",
        3 => "object",
        4 => "char",
        5 => "sparse",
        6 => "double",
        7 => "single",
        8 => "int8",
        9 => "uint8",
        10 => "int16",
        11 => "uint16",
        12 => "int32",
        13 => "uint32",
        14 => "int64",
        15 => "uint64",
        _ => "unknown",
    }
}

fn class_dtype(class: u8, complex: bool) -> Option<DType> {
    Some(match (class, complex) {
        (6, false) => DType::F64,
        (7, false) => DType::F32,
        (10, false) => DType::I16,
        (12, false) => DType::I32,
        (9, false) => DType::U8,
        (11, false) => DType::U16,
        (6, true) => DType::C128,
        (7, true) => DType::C64,
        (10, true) => DType::CI16,
        _ => return None,
    })
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    b.get(i..i + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Reads a data-element tag at `pos`: `(type, nbytes, data offset, next element offset)`.
fn tag(b: &[u8], pos: usize) -> Option<(u32, usize, usize, usize)> {
    let t = u32_at(b, pos)?;
    if t >> 16 != 0 {
        // Small data element: type and size in one word, data in the next 4 bytes.
        return Some((t & 0xffff, (t >> 16) as usize, pos + 4, pos + 8));
    }
    let n = u32_at(b, pos + 4)? as usize;
    let next = pos + 8 + if t == MI_COMPRESSED { n } else { n.div_ceil(8) * 8 };
    Some((t, n, pos + 8, next))
}

/// Parses flags, dimensions and name of a matrix's content; `None` if `b` is too short.
fn parse_header(b: &[u8]) -> Option<VarHeader> {
    let (_, n, d, next) = tag(b, 0)?;
    if n < 8 {
        return None;
    }
    let flags = u32_at(b, d)?;
    let (_, n, d, next2) = tag(b, next)?;
    let dims = (0..n / 4).map(|k| u32_at(b, d + 4 * k).map(|v| v as usize)).collect::<Option<Vec<_>>>()?;
    let (_, n, d, next3) = tag(b, next2)?;
    let name = String::from_utf8_lossy(b.get(d..d + n)?).into_owned();
    Some(VarHeader { name, class: (flags & 0xff) as u8, complex: flags & 0x800 != 0, dims, data_offset: next3 })
}

/// Converts one numeric sub-element (any storage type) to f32.
fn numeric_to_f32(path: &Path, b: &[u8], pos: usize, count: usize) -> Result<(Vec<f32>, usize)> {
    let (ty, n, d, next) = tag(b, pos).ok_or_else(|| Error::format(path, "truncated MAT data element"))?;
    let data = b.get(d..d + n).ok_or_else(|| Error::format(path, "truncated MAT data element"))?;
    macro_rules! conv {
        ($t:ty, $sz:literal) => {
            data.chunks_exact($sz).map(|c| <$t>::from_le_bytes(c.try_into().expect("chunk size")) as f32).collect()
        };
    }
    let v: Vec<f32> = match ty {
        1 => data.iter().map(|&x| x as i8 as f32).collect(),
        2 => data.iter().map(|&x| x as f32).collect(),
        3 => conv!(i16, 2),
        4 => conv!(u16, 2),
        5 => conv!(i32, 4),
        6 => conv!(u32, 4),
        7 => conv!(f32, 4),
        9 => conv!(f64, 8),
        12 => conv!(i64, 8),
        13 => conv!(u64, 8),
        t => return Err(Error::format(path, format!("unsupported MAT storage type {t}"))),
    };
    if v.len() != count {
        return Err(Error::format(path, format!("MAT variable holds {} values, its dimensions need {count}", v.len())));
    }
    Ok((v, next))
}

/// One top-level variable: its header and where its content lives.
struct Entry {
    header: Option<VarHeader>,
    /// Matrix content range in the file (uncompressed) or compressed payload range.
    range: Range<usize>,
    compressed: bool,
}

fn inflate(path: &Path, data: &[u8], limit: Option<u64>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let r = ZlibDecoder::new(data).take(limit.unwrap_or(u64::MAX)).read_to_end(&mut out);
    match r {
        Ok(_) => Ok(out),
        // A partial read of the first bytes may stop early; keep what came out.
        Err(_) if limit.is_some() && !out.is_empty() => Ok(out),
        Err(e) => Err(Error::format(path, format!("corrupt compressed MAT variable: {e}"))),
    }
}

fn entries(path: &Path, b: &[u8]) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut pos = 128;
    while pos + 8 <= b.len() {
        let (ty, n, d, next) = tag(b, pos).ok_or_else(|| Error::format(path, "truncated MAT file"))?;
        if d + n > b.len() {
            return Err(Error::format(
                path,
                format!("truncated MAT file: element at byte {pos} needs {} bytes, the file has {}", d + n, b.len()),
            ));
        }
        match ty {
            MI_MATRIX => {
                out.push(Entry { header: parse_header(&b[d..d + n]), range: d..d + n, compressed: false });
            }
            MI_COMPRESSED => {
                let first = inflate(path, &b[d..d + n], Some(4096))?;
                let header = match tag(&first, 0) {
                    Some((MI_MATRIX, _, hd, _)) => parse_header(&first[hd..]),
                    _ => None,
                };
                out.push(Entry { header, range: d..d + n, compressed: true });
            }
            _ => {}
        }
        pos = next;
    }
    if pos < b.len() && b[pos..].iter().any(|&x| x != 0) {
        return Err(Error::format(path, format!("truncated MAT file: {} stray bytes at the end", b.len() - pos)));
    }
    Ok(out)
}

fn is_frames(h: &VarHeader) -> bool {
    class_dtype(h.class, h.complex).is_some() && (h.dims.len() == 2 || h.dims.len() == 3)
}

pub(crate) fn open(path: &Path, opts: &ReadOptions) -> Result<(FrameInfo, Box<dyn BlockReader>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: read-only map; the file must not be truncated by another process meanwhile.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    let b: &[u8] = &map;
    if b.len() < 128 || !b.starts_with(b"MATLAB") {
        return Err(Error::format(path, "not a MATLAB MAT-file (no `MATLAB` header text)"));
    }
    match &b[126..128] {
        b"IM" => {}
        b"MI" => return Err(Error::format(path, "big-endian MAT-files are not supported")),
        _ => {
            return Err(Error::format(
                path,
                "not a level-5 MAT-file (bad endian indicator; v4 files are not supported)",
            ));
        }
    }
    let all = entries(path, b)?;
    let names: Vec<String> = all
        .iter()
        .filter_map(|e| e.header.as_ref())
        .map(|h| format!("{} ({} {:?})", h.name, class_name(h.class), h.dims))
        .collect();
    let list = if names.is_empty() { "none".to_string() } else { names.join(", ") };
    let pick = match &opts.dataset {
        Some(want) => all
            .iter()
            .find(|e| e.header.as_ref().is_some_and(|h| &h.name == want))
            .ok_or_else(|| Error::format(path, format!("no variable `{want}` in the MAT-file (variables: {list})")))?,
        None => {
            let frames: Vec<&Entry> = all.iter().filter(|e| e.header.as_ref().is_some_and(is_frames)).collect();
            match frames.as_slice() {
                [one] => *one,
                _ => {
                    let iq = frames.iter().find(|e| e.header.as_ref().is_some_and(|h| h.name == "IQ"));
                    match (iq, frames.is_empty()) {
                        (Some(e), _) => *e,
                        (None, true) => {
                            return Err(Error::format(
                                path,
                                format!("no numeric 2-D/3-D variable (variables: {list})"),
                            ));
                        }
                        (None, false) => {
                            return Err(Error::format(
                                path,
                                format!("several variables ({list}); choose one with --dataset"),
                            ));
                        }
                    }
                }
            }
        }
    };
    let content: std::borrow::Cow<[u8]> = if pick.compressed {
        let full = inflate(path, &b[pick.range.clone()], None)?;
        match tag(&full, 0) {
            Some((MI_MATRIX, n, d, _)) if d + n <= full.len() => full[d..d + n].to_vec().into(),
            _ => return Err(Error::format(path, "compressed MAT variable is not a matrix")),
        }
    } else {
        b[pick.range.clone()].into()
    };
    let h = parse_header(&content).ok_or_else(|| Error::format(path, "truncated MAT variable header"))?;
    let dtype = class_dtype(h.class, h.complex).ok_or_else(|| {
        Error::format(
            path,
            format!(
                "variable `{}` is {}{}; ulm reads double, single, int16, int32, uint8, uint16 arrays \
                 (complex: double, single, int16)",
                h.name,
                if h.complex { "complex " } else { "" },
                class_name(h.class)
            ),
        )
    })?;
    let order = opts.axis_order;
    let stored = as_3d(path, &h.dims, order, &format!("variable `{}`: ", h.name))?;
    let count: usize = h.dims.iter().product();
    let (re, next) = numeric_to_f32(path, &content, h.data_offset, count)?;
    let data = if h.complex {
        let (im, _) = numeric_to_f32(path, &content, next, count)?;
        Samples::Complex(re.into_iter().zip(im).map(|(r, i)| Complex32::new(r, i)).collect())
    } else {
        Samples::Real(re)
    };
    let info = FrameInfo {
        path: path.to_path_buf(),
        format: Format::MatV5,
        variable: Some(h.name.clone()),
        dtype,
        stored_shape: h.dims.clone(),
        fortran_order: true,
        axis_order: order,
        shape: order.tzx_shape(stored),
    };
    Ok((info, Box::new(Mat5Reader { data, stored, order })))
}

enum Samples {
    Real(Vec<f32>),
    Complex(Vec<Complex32>),
}

struct Mat5Reader {
    data: Samples,
    stored: [usize; 3],
    order: AxisOrder,
}

impl BlockReader for Mat5Reader {
    fn read(&mut self, frames: Range<usize>) -> Result<FrameData> {
        Ok(match &self.data {
            Samples::Real(v) => {
                FrameData::Real(convert_view(stored_view(v, self.stored, true), self.order, frames, |x| x))
            }
            Samples::Complex(v) => {
                FrameData::Complex(convert_view(stored_view(v, self.stored, true), self.order, frames, |x| x))
            }
        })
    }
}
