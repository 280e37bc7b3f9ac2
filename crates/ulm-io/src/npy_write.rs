use std::io::{BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use ndarray::{ArrayBase, Data, Dimension};
use num_complex::{Complex32, Complex64};

use crate::atomic::{persist, temp_beside};
use crate::{Error, Result, atomic_write};

/// An element type that NPY files store (little-endian).
pub trait NpyElement: Copy + bytemuck::Pod {
    /// NumPy `descr` string, e.g. `<f4`.
    const DESCR: &'static str;
}

impl NpyElement for f32 {
    const DESCR: &'static str = "<f4";
}
impl NpyElement for f64 {
    const DESCR: &'static str = "<f8";
}
impl NpyElement for i16 {
    const DESCR: &'static str = "<i2";
}
impl NpyElement for u8 {
    const DESCR: &'static str = "|u1";
}
impl NpyElement for Complex32 {
    const DESCR: &'static str = "<c8";
}
impl NpyElement for Complex64 {
    const DESCR: &'static str = "<c16";
}

/// NPY v1.0 header for a C-order array of `shape`, padded so the data starts on a
/// 64-byte boundary.
pub(crate) fn npy_header(descr: &str, shape: &[usize], fortran_order: bool) -> Vec<u8> {
    let shape_s = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let order = if fortran_order { "True" } else { "False" };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape_s}, }}");
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    dict.extend(std::iter::repeat_n(' ', pad));
    dict.push('\n');
    let mut h = Vec::with_capacity(10 + dict.len());
    h.extend_from_slice(b"\x93NUMPY\x01\x00");
    h.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h
}

/// Writes an array as a C-order `.npy` file (atomically).
pub fn write_npy<T, S, D>(path: &Path, array: &ArrayBase<S, D>) -> Result<()>
where
    T: NpyElement,
    S: Data<Elem = T>,
    D: Dimension,
{
    let header = npy_header(T::DESCR, array.shape(), false);
    atomic_write(path, |w| {
        w.write_all(&header)?;
        if let Some(slice) = array.as_slice() {
            w.write_all(bytemuck::cast_slice(slice))?;
        } else {
            for v in array.iter() {
                w.write_all(bytemuck::bytes_of(v))?;
            }
        }
        Ok(())
    })
}

/// Writes a C-order `.npy` file block by block, for results larger than memory (e.g. a
/// clutter-filtered 8,000-frame stack). The shape is fixed up front; the data goes to a
/// temporary file that [`NpyStreamWriter::finish`] renames into place once exactly the
/// announced number of elements has been written. Dropped unfinished, it leaves no file
/// and an existing `path` untouched.
pub struct NpyStreamWriter<T: NpyElement> {
    path: PathBuf,
    out: BufWriter<tempfile::NamedTempFile>,
    expected: usize,
    written: usize,
    _t: PhantomData<T>,
}

impl<T: NpyElement> NpyStreamWriter<T> {
    /// Starts a file of the given shape.
    pub fn create(path: &Path, shape: &[usize]) -> Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, temp_beside(path)?);
        out.write_all(&npy_header(T::DESCR, shape, false)).map_err(|e| Error::io(path, e))?;
        Ok(Self { path: path.to_path_buf(), out, expected: shape.iter().product(), written: 0, _t: PhantomData })
    }

    /// Appends elements in C order.
    pub fn write(&mut self, data: &[T]) -> Result<()> {
        if self.written + data.len() > self.expected {
            return Err(Error::format(
                &self.path,
                format!("{} elements written to an array of {}", self.written + data.len(), self.expected),
            ));
        }
        self.out.write_all(bytemuck::cast_slice(data)).map_err(|e| Error::io(&self.path, e))?;
        self.written += data.len();
        Ok(())
    }

    /// Checks that the array is complete, then syncs and renames the file into place.
    pub fn finish(self) -> Result<()> {
        let Self { path, out, expected, written, .. } = self;
        if written != expected {
            return Err(Error::format(&path, format!("only {written} of {expected} elements written")));
        }
        let tmp = out.into_inner().map_err(|e| Error::io(&path, e.into_error()))?;
        persist(tmp, &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_parsable() {
        let h = npy_header("<f4", &[3, 4, 5], false);
        assert_eq!(h.len() % 64, 0);
        let text = std::str::from_utf8(&h[10..]).unwrap();
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4, 5), }"));
        assert!(text.ends_with('\n'));
        assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize, h.len() - 10);
    }

    #[test]
    fn streamed_file_equals_one_shot_file_and_incomplete_leaves_nothing() {
        use ndarray::Array3;
        let dir = tempfile::tempdir().unwrap();
        let a = Array3::<Complex32>::from_shape_fn((5, 3, 2), |(f, r, c)| Complex32::new(f as f32, (r * 2 + c) as f32));
        let one = dir.path().join("one.npy");
        write_npy(&one, &a).unwrap();
        let streamed = dir.path().join("streamed.npy");
        let mut w = NpyStreamWriter::<Complex32>::create(&streamed, &[5, 3, 2]).unwrap();
        let flat = a.as_slice().unwrap();
        w.write(&flat[..12]).unwrap();
        w.write(&flat[12..]).unwrap();
        assert!(w.write(&flat[..1]).is_err(), "writing past the announced shape must fail");
        w.finish().unwrap();
        assert_eq!(std::fs::read(&one).unwrap(), std::fs::read(&streamed).unwrap());

        let partial = dir.path().join("partial.npy");
        let mut w = NpyStreamWriter::<f32>::create(&partial, &[4]).unwrap();
        w.write(&[1.0, 2.0]).unwrap();
        let e = w.finish().unwrap_err().to_string();
        assert!(e.contains("partial.npy") && e.contains("only 2 of 4"), "{e}");
        assert!(!partial.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "no temporary file left behind");
    }
}
