use std::path::Path;

use ndarray::Array3;

use crate::{Error, Result, atomic_write};

fn check(path: &Path, dim: (usize, usize, usize)) -> Result<()> {
    let (f, h, w) = dim;
    if f == 0 || h == 0 || w == 0 {
        return Err(Error::format(path, format!("cannot write an empty {f}×{h}×{w} TIFF stack")));
    }
    if h > u32::MAX as usize || w > u32::MAX as usize {
        return Err(Error::format(path, format!("image {h}×{w} is too large for TIFF")));
    }
    Ok(())
}

macro_rules! tiff_writer {
    ($(#[$doc:meta])* $name:ident, $t:ty, $color:ty) => {
        $(#[$doc])*
        pub fn $name(path: &Path, stack: &Array3<$t>) -> Result<()> {
            check(path, stack.dim())?;
            let (f, h, w) = stack.dim();
            let data = stack.as_standard_layout();
            let flat = data.as_slice().expect("standard layout");
            atomic_write(path, |out| {
                let mut enc = tiff::encoder::TiffEncoder::new(out).map_err(std::io::Error::other)?;
                for k in 0..f {
                    enc.write_image::<$color>(w as u32, h as u32, &flat[k * h * w..(k + 1) * h * w])
                        .map_err(std::io::Error::other)?;
                }
                Ok(())
            })
        }
    };
}

tiff_writer!(
    /// Writes a `[frames, rows, cols]` float32 stack as a multi-page greyscale TIFF (one
    /// page per frame, row 0 at the top), atomically. A single map is a 1-frame stack.
    write_tiff_f32,
    f32,
    tiff::encoder::colortype::Gray32Float
);
tiff_writer!(
    /// Writes a `[frames, rows, cols]` 16-bit stack as a multi-page greyscale TIFF,
    /// atomically.
    write_tiff_u16,
    u16,
    tiff::encoder::colortype::Gray16
);
