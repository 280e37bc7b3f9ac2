//! HDF5 and MATLAB v7.3 reader (through the HDF5 C library, `hdf5-metno`).
//!
//! MATLAB writes arrays column-major, so a MATLAB `[z, x, t]` array appears to HDF5 as
//! `[t, x, z]`. For v7.3 files (and any dataset with a `MATLAB_class` attribute) the HDF5
//! dimensions are reversed, so shapes and `--axis-order` speak MATLAB's `size()`. Plain
//! HDF5 datasets are taken as their HDF5 (C-order) dimensions, as h5py shows them.
//! Complex data is a compound of two numbers named `real`/`imag` (MATLAB), `r`/`i`
//! (h5py) or `re`/`im`. Blocks of frames are read as hyperslabs.

use std::ops::Range;
use std::path::{Path, PathBuf};

use hdf5::H5Type;
use hdf5::types::{FloatSize, IntSize, TypeDescriptor};
use ndarray::{Array3, ArrayView3, Ix2, Ix3, s};
use num_complex::Complex32;
use ulm_core::FrameData;

use crate::convert::{DType, convert_view};
use crate::formats::as_3d;
use crate::source::{BlockReader, FrameInfo, ReadOptions};
use crate::{AxisOrder, Error, Format, Result};

macro_rules! complex_struct {
    ($name:ident, $re:ident, $im:ident) => {
        #[derive(H5Type, Clone, Copy, Default)]
        #[repr(C)]
        struct $name {
            $re: f32,
            $im: f32,
        }
        impl From<$name> for Complex32 {
            fn from(c: $name) -> Complex32 {
                Complex32::new(c.$re, c.$im)
            }
        }
    };
}
complex_struct!(MatlabComplex, real, imag);
complex_struct!(H5pyComplex, r, i);
complex_struct!(ReImComplex, re, im);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ComplexNames {
    RealImag,
    RI,
    ReIm,
}

fn h5err(path: &Path, what: &str, e: hdf5::Error) -> Error {
    Error::format(path, format!("{what}: {e}"))
}

/// Sample type of an HDF5 datatype, with the field naming of complex compounds.
fn classify(t: &TypeDescriptor) -> Option<(DType, Option<ComplexNames>)> {
    let real = |t: &TypeDescriptor| match t {
        TypeDescriptor::Float(FloatSize::U4) => Some(DType::F32),
        TypeDescriptor::Float(FloatSize::U8) => Some(DType::F64),
        TypeDescriptor::Integer(IntSize::U2) => Some(DType::I16),
        TypeDescriptor::Integer(IntSize::U4) => Some(DType::I32),
        TypeDescriptor::Unsigned(IntSize::U1) => Some(DType::U8),
        TypeDescriptor::Unsigned(IntSize::U2) => Some(DType::U16),
        _ => None,
    };
    match t {
        TypeDescriptor::Compound(c) if c.fields.len() == 2 => {
            let names = match (c.fields[0].name.as_str(), c.fields[1].name.as_str()) {
                ("real", "imag") => ComplexNames::RealImag,
                ("r", "i") => ComplexNames::RI,
                ("re", "im") => ComplexNames::ReIm,
                _ => return None,
            };
            let d = match (real(&c.fields[0].ty)?, real(&c.fields[1].ty)?) {
                (DType::F32, DType::F32) => DType::C64,
                (DType::F64, DType::F64) => DType::C128,
                (DType::I16, DType::I16) => DType::CI16,
                (DType::F32 | DType::F64, DType::F32 | DType::F64) => DType::C128,
                _ => DType::C64,
            };
            Some((d, Some(names)))
        }
        t => real(t).map(|d| (d, None)),
    }
}

fn is_matlab_dataset(ds: &hdf5::Dataset) -> bool {
    ds.attr_names().map(|n| n.iter().any(|a| a == "MATLAB_class")).unwrap_or(false)
}

/// Names of the numeric 2-D/3-D datasets in the root group and one level below.
fn candidates(file: &hdf5::File) -> Vec<String> {
    let mut out = Vec::new();
    let visit = |g: &hdf5::Group, prefix: &str, out: &mut Vec<String>, depth: usize| -> Vec<String> {
        let mut groups = Vec::new();
        for name in g.member_names().unwrap_or_default() {
            if name.starts_with('#') {
                continue; // MATLAB's #refs# / #subsystem#
            }
            let full = format!("{prefix}{name}");
            if let Ok(ds) = g.dataset(&name) {
                let nd = ds.ndim();
                let ok = ds.dtype().and_then(|t| t.to_descriptor()).ok().and_then(|t| classify(&t)).is_some();
                if ok && (nd == 2 || nd == 3) {
                    out.push(full);
                }
            } else if depth == 0 && g.group(&name).is_ok() {
                groups.push(full);
            }
        }
        groups
    };
    let groups = visit(file, "", &mut out, 0);
    for gname in groups {
        if let Ok(g) = file.group(&gname) {
            visit(&g, &format!("{gname}/"), &mut out, 1);
        }
    }
    out
}

fn choose_dataset(path: &Path, file: &hdf5::File, opts: &ReadOptions) -> Result<String> {
    let cands = candidates(file);
    let list = if cands.is_empty() { "none".to_string() } else { cands.join(", ") };
    match &opts.dataset {
        Some(name) => {
            if file.dataset(name).is_err() {
                return Err(Error::format(
                    path,
                    format!("no variable/dataset `{name}` in the file (numeric 2-D/3-D datasets: {list})"),
                ));
            }
            Ok(name.clone())
        }
        None => match cands.as_slice() {
            [one] => Ok(one.clone()),
            _ if cands.iter().any(|c| c == "IQ") => Ok("IQ".into()),
            [] => Err(Error::format(path, "no numeric 2-D or 3-D dataset in the file")),
            _ => Err(Error::format(path, format!("several datasets ({list}); choose one with --dataset"))),
        },
    }
}

pub(crate) fn open(path: &Path, opts: &ReadOptions, format: Format) -> Result<(FrameInfo, Box<dyn BlockReader>)> {
    hdf5::silence_errors(true);
    let file = hdf5::File::open(path).map_err(|e| h5err(path, "cannot open as HDF5", e))?;
    let name = choose_dataset(path, &file, opts)?;
    let ds = file.dataset(&name).map_err(|e| h5err(path, &format!("dataset `{name}`"), e))?;
    let desc = ds.dtype().and_then(|t| t.to_descriptor()).map_err(|e| h5err(path, &format!("dataset `{name}`"), e))?;
    let (dtype, complex) = classify(&desc).ok_or_else(|| {
        Error::format(
            path,
            format!(
                "dataset `{name}` has unsupported type {desc}; ulm reads float32/64, int16/32, uint8/16 \
                 and complex compounds (real, imag)"
            ),
        )
    })?;
    let matlab = format == Format::MatV73 || is_matlab_dataset(&ds);
    let h5_shape = ds.shape();
    let logical: Vec<usize> = if matlab { h5_shape.iter().rev().copied().collect() } else { h5_shape.clone() };
    let order = opts.axis_order;
    let stored = as_3d(path, &logical, order, &format!("dataset `{name}`: "))?;
    let info = FrameInfo {
        path: path.to_path_buf(),
        format: if matlab && format == Format::Hdf5 { Format::MatV73 } else { format },
        variable: Some(name.clone()),
        dtype,
        stored_shape: logical.clone(),
        fortran_order: matlab,
        axis_order: order,
        shape: order.tzx_shape(stored),
    };
    let reader = H5Reader { path: path.to_path_buf(), ds, complex, matlab, stored, order, ndim: h5_shape.len() };
    Ok((info, Box::new(reader)))
}

struct H5Reader {
    path: PathBuf,
    ds: hdf5::Dataset,
    complex: Option<ComplexNames>,
    matlab: bool,
    /// Logical stored shape (MATLAB `size()` for MATLAB data), 3-D.
    stored: [usize; 3],
    order: AxisOrder,
    ndim: usize,
}

impl H5Reader {
    /// Reads the hyperslab holding `frames`, in HDF5 axis order (a 2-D dataset gains a
    /// leading axis of length 1).
    fn hyperslab<T: H5Type + Copy + Default>(&self, frames: &Range<usize>) -> Result<Array3<T>> {
        let err = |e| h5err(&self.path, "reading dataset", e);
        if self.ndim == 2 {
            let a = self.ds.read::<T, Ix2>().map_err(err)?;
            return Ok(a.insert_axis(ndarray::Axis(0)));
        }
        let t_logical = self.order.time_axis();
        let t_h5 = if self.matlab { 2 - t_logical } else { t_logical };
        let (a, b) = (frames.start, frames.end);
        let arr = match t_h5 {
            0 => self.ds.read_slice::<T, _, Ix3>(s![a..b, .., ..]),
            1 => self.ds.read_slice::<T, _, Ix3>(s![.., a..b, ..]),
            _ => self.ds.read_slice::<T, _, Ix3>(s![.., .., a..b]),
        };
        arr.map_err(err)
    }

    fn convert<T, U>(&self, frames: Range<usize>, f: impl Fn(T) -> U + Sync + Send) -> Result<Array3<U>>
    where
        T: H5Type + Copy + Default + Sync,
        U: Copy + Default + Send + Sync,
    {
        let n = frames.len();
        let slab = self.hyperslab::<T>(&frames)?;
        let view: ArrayView3<T> = if self.ndim == 2 {
            // A single frame: HDF5 [a, b] (MATLAB [b, a]) → logical stored 3-D shape.
            let v = slab.index_axis(ndarray::Axis(0), 0);
            let v = if self.matlab { v.reversed_axes() } else { v };
            // Put the length-1 axis where `t` sits in the stored order.
            let perm = match self.order.time_axis() {
                0 => [0, 1, 2],
                1 => [1, 0, 2],
                _ => [1, 2, 0],
            };
            let v = v.insert_axis(ndarray::Axis(0)).permuted_axes(perm);
            debug_assert_eq!(v.shape(), &self.stored);
            v
        } else if self.matlab {
            slab.view().reversed_axes()
        } else {
            slab.view()
        };
        Ok(convert_view(view, self.order, 0..n, f))
    }
}

impl BlockReader for H5Reader {
    fn read(&mut self, frames: Range<usize>) -> Result<FrameData> {
        Ok(match self.complex {
            None => FrameData::Real(self.convert::<f32, f32>(frames, |v| v)?),
            Some(ComplexNames::RealImag) => {
                FrameData::Complex(self.convert::<MatlabComplex, _>(frames, Complex32::from)?)
            }
            Some(ComplexNames::RI) => FrameData::Complex(self.convert::<H5pyComplex, _>(frames, Complex32::from)?),
            Some(ComplexNames::ReIm) => FrameData::Complex(self.convert::<ReImComplex, _>(frames, Complex32::from)?),
        })
    }
}
