//! One-pass conversion of stored arrays (any element type, C or Fortran order, any axis
//! order) into ulm's `[frames, rows, cols]` f32 / complex64 layout.

use std::ops::Range;

use ndarray::parallel::prelude::*;
use ndarray::{Array3, ArrayView3, Axis, ShapeBuilder, Zip, s};
use num_complex::Complex32;
use ulm_core::FrameData;

use crate::AxisOrder;

/// Element type of the samples as stored on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// 8-bit unsigned integer.
    U8,
    /// 16-bit unsigned integer.
    U16,
    /// 16-bit signed integer.
    I16,
    /// 32-bit signed integer.
    I32,
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// Complex of two 16-bit signed integers (MATLAB `int16` complex).
    CI16,
    /// Complex of two 32-bit floats.
    C64,
    /// Complex of two 64-bit floats.
    C128,
}

impl DType {
    /// NumPy-style name (`float32`, `complex64`, …).
    pub fn name(self) -> &'static str {
        match self {
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::CI16 => "complex int16",
            DType::C64 => "complex64",
            DType::C128 => "complex128",
        }
    }

    /// Whether the samples are complex.
    pub fn is_complex(self) -> bool {
        matches!(self, DType::CI16 | DType::C64 | DType::C128)
    }

    /// Bytes per sample.
    pub fn size(self) -> usize {
        match self {
            DType::U8 => 1,
            DType::U16 | DType::I16 => 2,
            DType::I32 | DType::F32 | DType::CI16 => 4,
            DType::F64 | DType::C64 => 8,
            DType::C128 => 16,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Tile edge of the blocked transposing copy: a `T × Z × X` tile of 16³ samples (32 KiB of
/// complex64) stays in L1/L2 whichever axis the stored data runs along.
const TILE: usize = 16;

/// Copies frames `frames` of a stored array into a standard-layout `[t, z, x]` array,
/// converting each element with `f`. One pass, parallel over blocks of frames, and tiled
/// so that reordering axes (Fortran order, `zxt`) does not thrash the caches.
pub(crate) fn convert_view<A, T>(
    stored: ArrayView3<'_, A>,
    order: AxisOrder,
    frames: Range<usize>,
    f: impl Fn(A) -> T + Sync + Send,
) -> Array3<T>
where
    A: Copy + Sync,
    T: Copy + Send + Sync,
{
    let tzx = stored.permuted_axes(order.to_tzx());
    let block = tzx.slice(s![frames, .., ..]);
    let mut out = Array3::<T>::uninit(block.dim());
    let (_, nz, nx) = block.dim();
    let chunks_out = out.axis_chunks_iter_mut(Axis(0), TILE).into_par_iter();
    let chunks_in = block.axis_chunks_iter(Axis(0), TILE).into_par_iter();
    chunks_out.zip(chunks_in).for_each(|(mut o, i)| {
        for z0 in (0..nz).step_by(TILE) {
            for x0 in (0..nx).step_by(TILE) {
                let (z1, x1) = ((z0 + TILE).min(nz), (x0 + TILE).min(nx));
                let mut ot = o.slice_mut(s![.., z0..z1, x0..x1]);
                let it = i.slice(s![.., z0..z1, x0..x1]);
                Zip::from(&mut ot).and(&it).for_each(|o, &a| {
                    o.write(f(a));
                });
            }
        }
    });
    // SAFETY: the tiles above cover `out` exactly, so every element was written.
    unsafe { out.assume_init() }
}

/// A stored array view over `data` of logical `shape`, C order or Fortran order.
pub(crate) fn stored_view<A>(data: &[A], shape: [usize; 3], fortran: bool) -> ArrayView3<'_, A> {
    let sh = (shape[0], shape[1], shape[2]);
    let r = ArrayView3::from_shape(sh.set_f(fortran), data);
    // Callers check the data length against the shape before building views.
    r.expect("stored_view: data length matches shape")
}

fn le<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}

macro_rules! from_bytes {
    ($bytes:expr, $n:literal, $shape:expr, $fortran:expr, $order:expr, $frames:expr, $f:expr) => {{
        let elems: &[[u8; $n]] = bytemuck::cast_slice($bytes);
        convert_view(stored_view(elems, $shape, $fortran), $order, $frames, $f)
    }};
}

/// Converts frames `frames` of a little-endian byte buffer holding an array of `dtype`
/// with logical `shape` (C or Fortran order) into [`FrameData`]. `bytes.len()` must be
/// exactly `shape.product() * dtype.size()`.
///
/// The common case — C order, `[t, z, x]`, f32 or complex64 — is a bulk copy.
pub(crate) fn bytes_to_frames(
    bytes: &[u8],
    dtype: DType,
    shape: [usize; 3],
    fortran: bool,
    order: AxisOrder,
    frames: Range<usize>,
) -> FrameData {
    let plain = order == AxisOrder::Tzx && !fortran;
    if plain && cfg!(target_endian = "little") {
        let frame_bytes = shape[1] * shape[2] * dtype.size();
        let sub = &bytes[frames.start * frame_bytes..frames.end * frame_bytes];
        let dim = (frames.len(), shape[1], shape[2]);
        // One bulk copy out of the map (memcpy; also fine for unaligned data).
        match dtype {
            DType::F32 => {
                let v: Vec<f32> = bytemuck::pod_collect_to_vec(sub);
                return FrameData::Real(Array3::from_shape_vec(dim, v).expect("length checked"));
            }
            DType::C64 => {
                let v: Vec<Complex32> = bytemuck::pod_collect_to_vec(sub);
                return FrameData::Complex(Array3::from_shape_vec(dim, v).expect("length checked"));
            }
            _ => {}
        }
    }
    match dtype {
        DType::U8 => FrameData::Real(from_bytes!(bytes, 1, shape, fortran, order, frames, |b: [u8; 1]| b[0] as f32)),
        DType::U16 => {
            FrameData::Real(from_bytes!(bytes, 2, shape, fortran, order, frames, |b| u16::from_le_bytes(b) as f32))
        }
        DType::I16 => {
            FrameData::Real(from_bytes!(bytes, 2, shape, fortran, order, frames, |b| i16::from_le_bytes(b) as f32))
        }
        DType::I32 => {
            FrameData::Real(from_bytes!(bytes, 4, shape, fortran, order, frames, |b| i32::from_le_bytes(b) as f32))
        }
        DType::F32 => FrameData::Real(from_bytes!(bytes, 4, shape, fortran, order, frames, f32::from_le_bytes)),
        DType::F64 => {
            FrameData::Real(from_bytes!(bytes, 8, shape, fortran, order, frames, |b| f64::from_le_bytes(b) as f32))
        }
        DType::CI16 => FrameData::Complex(from_bytes!(bytes, 4, shape, fortran, order, frames, |b: [u8; 4]| {
            Complex32::new(i16::from_le_bytes(le(&b[..2])) as f32, i16::from_le_bytes(le(&b[2..])) as f32)
        })),
        DType::C64 => FrameData::Complex(from_bytes!(bytes, 8, shape, fortran, order, frames, |b: [u8; 8]| {
            Complex32::new(f32::from_le_bytes(le(&b[..4])), f32::from_le_bytes(le(&b[4..])))
        })),
        DType::C128 => FrameData::Complex(from_bytes!(bytes, 16, shape, fortran, order, frames, |b: [u8; 16]| {
            Complex32::new(f64::from_le_bytes(le(&b[..8])) as f32, f64::from_le_bytes(le(&b[8..])) as f32)
        })),
    }
}

/// First non-finite sample of `data` as `(frame, row, col)`.
pub(crate) fn first_non_finite(data: &FrameData) -> Option<(usize, usize, usize)> {
    match data {
        FrameData::Real(a) => a.indexed_iter().find(|(_, v)| !v.is_finite()).map(|(i, _)| i),
        FrameData::Complex(a) => {
            a.indexed_iter().find(|(_, v)| !(v.re.is_finite() && v.im.is_finite())).map(|(i, _)| i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_f32(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn c_order_fast_path_and_fortran_agree() {
        // Logical [t=2, z=3, x=4], value = 100 t + 10 z + x.
        let val = |t: usize, z: usize, x: usize| (100 * t + 10 * z + x) as f32;
        let mut c = Vec::new();
        for t in 0..2 {
            for z in 0..3 {
                for x in 0..4 {
                    c.push(val(t, z, x));
                }
            }
        }
        let mut f = Vec::new();
        for x in 0..4 {
            for z in 0..3 {
                for t in 0..2 {
                    f.push(val(t, z, x));
                }
            }
        }
        let a = bytes_to_frames(&bytes_f32(&c), DType::F32, [2, 3, 4], false, AxisOrder::Tzx, 0..2);
        let b = bytes_to_frames(&bytes_f32(&f), DType::F32, [2, 3, 4], true, AxisOrder::Tzx, 0..2);
        assert_eq!(a, b);
        let FrameData::Real(a) = a else { panic!() };
        assert_eq!(a[[1, 2, 3]], 123.0);
        assert!(a.is_standard_layout());
        let blk = bytes_to_frames(&bytes_f32(&f), DType::F32, [2, 3, 4], true, AxisOrder::Tzx, 1..2);
        let FrameData::Real(blk) = blk else { panic!() };
        assert_eq!(blk[[0, 1, 2]], 112.0);
    }

    #[test]
    fn tiled_copy_covers_partial_tiles() {
        // Stored [x=18, t=37, z=20] in Fortran order: every tile edge is partial somewhere.
        let (nt, nz, nx) = (37, 20, 18);
        let val = |t: usize, z: usize, x: usize| (t * 10000 + z * 100 + x) as f32;
        let mut v = Vec::new();
        for z in 0..nz {
            for t in 0..nt {
                for x in 0..nx {
                    v.push(val(t, z, x));
                }
            }
        }
        let d = bytes_to_frames(&bytes_f32(&v), DType::F32, [nx, nt, nz], true, AxisOrder::Xtz, 3..36);
        let FrameData::Real(a) = d else { panic!() };
        assert_eq!(a, Array3::from_shape_fn((33, nz, nx), |(t, z, x)| val(t + 3, z, x)));
    }

    #[test]
    fn unaligned_bytes_take_the_copying_path() {
        let v: Vec<f32> = (0..24).map(|i| i as f32 * 1.5).collect();
        let mut buf = vec![0u8];
        buf.extend(bytes_f32(&v));
        let d = bytes_to_frames(&buf[1..], DType::F32, [2, 3, 4], false, AxisOrder::Tzx, 1..2);
        let FrameData::Real(a) = d else { panic!() };
        assert_eq!(a.as_slice().unwrap(), &v[12..]);
        let c = bytes_to_frames(&buf[1..], DType::C64, [1, 3, 4], false, AxisOrder::Tzx, 0..1);
        let FrameData::Complex(c) = c else { panic!() };
        assert_eq!(c[[0, 2, 3]], Complex32::new(v[22], v[23]));
    }

    #[test]
    fn zxt_is_permuted() {
        // Stored [z=2, x=3, t=4] C order.
        let mut v = Vec::new();
        for z in 0..2 {
            for x in 0..3 {
                for t in 0..4 {
                    v.push((100 * t + 10 * z + x) as f32);
                }
            }
        }
        let d = bytes_to_frames(&bytes_f32(&v), DType::F32, [2, 3, 4], false, AxisOrder::Zxt, 1..3);
        let FrameData::Real(a) = d else { panic!() };
        assert_eq!(a.dim(), (2, 2, 3));
        assert_eq!(a[[0, 1, 2]], 112.0);
        assert_eq!(a[[1, 0, 1]], 201.0);
    }
}
