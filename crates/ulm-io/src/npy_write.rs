use std::io::Write;
use std::path::Path;

use ndarray::{ArrayBase, Data, Dimension};
use num_complex::{Complex32, Complex64};

use crate::{Result, atomic_write};

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
}
