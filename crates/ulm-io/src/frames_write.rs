use std::path::Path;

use ulm_core::{FrameData, FrameStack};

use crate::{Meta, Result, read_meta, sidecar_path, write_meta, write_npy};

/// Writes a frame stack as `.npy` (float32 or complex64, `[frames, rows, cols]`, C order)
/// and its geometry into the `meta.json` beside it, both atomically. Keys of an existing
/// sidecar that are not geometry (e.g. simulation parameters) are kept.
pub fn write_frames_npy(path: &Path, stack: &FrameStack) -> Result<()> {
    match stack.data() {
        FrameData::Real(a) => write_npy(path, a)?,
        FrameData::Complex(a) => write_npy(path, a)?,
    }
    let mp = sidecar_path(path);
    let mut meta = Meta::from_geometry(stack.geometry());
    if mp.is_file()
        && let Ok(old) = read_meta(&mp)
    {
        meta.extra = old.extra;
    }
    write_meta(&mp, &meta)
}
