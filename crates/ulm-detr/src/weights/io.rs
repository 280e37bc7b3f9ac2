//! Reading and writing safetensors files as `f32` tensors.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{DetrError, Result};

/// A tensor read from or written to a file: shape and row-major `f32` values.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

/// Tensors by name, sorted.
pub type TensorMap = BTreeMap<String, Entry>;

fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exp = u32::from((bits >> 10) & 0x1f);
    let man = u32::from(bits & 0x3ff);
    let value = match exp {
        0 => {
            let v = man as f32 * 2f32.powi(-24);
            return if sign == 0 { v } else { -v };
        }
        0x1f => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (man << 13),
    };
    f32::from_bits(value)
}

/// Read every floating-point tensor of a safetensors file (f32, f64, f16 and bf16 are
/// converted to f32; integer tensors are skipped).
///
/// # Errors
/// If the file cannot be read or is not valid safetensors.
pub fn read_safetensors(path: &Path) -> Result<TensorMap> {
    let bytes = std::fs::read(path).map_err(|source| DetrError::Io { path: path.to_path_buf(), source })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| DetrError::Safetensors {
        path: path.to_path_buf(),
        message: format!("not a valid safetensors file: {e}"),
    })?;
    let mut out = TensorMap::new();
    for (name, view) in st.iter() {
        let raw = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F64 => {
                raw.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect()
            }
            Dtype::BF16 => {
                raw.chunks_exact(2).map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16)).collect()
            }
            Dtype::F16 => raw.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
            _ => continue,
        };
        out.insert(name.to_string(), Entry { shape: view.shape().to_vec(), data });
    }
    Ok(out)
}

/// Write tensors as f32 safetensors, atomically.
///
/// # Errors
/// If a tensor's data does not match its shape or the file cannot be written.
pub fn write_safetensors(path: &Path, tensors: &TensorMap) -> Result<()> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(k, e)| {
            let b: Vec<u8> = e.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (k.clone(), b, e.shape.clone())
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(k, b, s)| TensorView::new(Dtype::F32, s.clone(), b).map(|v| (k.clone(), v)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| DetrError::Safetensors { path: path.to_path_buf(), message: format!("cannot serialise: {e}") })?;
    let buffer = safetensors::tensor::serialize(views, None)
        .map_err(|e| DetrError::Safetensors { path: path.to_path_buf(), message: format!("cannot serialise: {e}") })?;
    ulm_io::atomic_write_bytes(path, &buffer)
        .map_err(|e| DetrError::Write { path: path.to_path_buf(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
    }
}
