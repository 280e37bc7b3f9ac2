use ndarray::{Array2, Array3, ArrayView2, Axis, s};
use num_complex::Complex32;

use crate::{Error, Geometry, Result};

/// Samples of a frame stack: real (envelope, B-mode, any real-valued data) or complex IQ.
/// Both are `[frames, rows = z, cols = x]`.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameData {
    /// Real-valued frames (envelope, B-mode, filtered magnitude …).
    Real(Array3<f32>),
    /// Complex beamformed IQ frames.
    Complex(Array3<Complex32>),
}

impl FrameData {
    /// `[frames, rows, cols]`.
    pub fn shape(&self) -> [usize; 3] {
        let s = match self {
            FrameData::Real(a) => a.dim(),
            FrameData::Complex(a) => a.dim(),
        };
        [s.0, s.1, s.2]
    }
}

/// A stack of frames with its imaging geometry.
///
/// # Shapes
/// `[frames, rows = z (depth), cols = x (lateral)]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameStack {
    data: FrameData,
    geometry: Geometry,
}

impl FrameStack {
    /// Wraps frames and geometry; the geometry is validated.
    pub fn new(data: FrameData, geometry: Geometry) -> Result<Self> {
        geometry.validate()?;
        Ok(Self { data, geometry })
    }

    /// Real-valued stack.
    pub fn from_real(frames: Array3<f32>, geometry: Geometry) -> Result<Self> {
        Self::new(FrameData::Real(frames), geometry)
    }

    /// Complex IQ stack.
    pub fn from_complex(frames: Array3<Complex32>, geometry: Geometry) -> Result<Self> {
        Self::new(FrameData::Complex(frames), geometry)
    }

    /// The samples.
    pub fn data(&self) -> &FrameData {
        &self.data
    }

    /// The samples, mutably.
    pub fn data_mut(&mut self) -> &mut FrameData {
        &mut self.data
    }

    /// Consumes the stack, returning its samples.
    pub fn into_data(self) -> FrameData {
        self.data
    }

    /// The imaging geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Replaces the geometry (validated).
    pub fn set_geometry(&mut self, geometry: Geometry) -> Result<()> {
        geometry.validate()?;
        self.geometry = geometry;
        Ok(())
    }

    /// `[frames, rows, cols]`.
    pub fn shape(&self) -> [usize; 3] {
        self.data.shape()
    }

    /// Number of frames.
    pub fn n_frames(&self) -> usize {
        self.shape()[0]
    }

    /// Rows (depth samples) per frame.
    pub fn rows(&self) -> usize {
        self.shape()[1]
    }

    /// Columns (lateral samples) per frame.
    pub fn cols(&self) -> usize {
        self.shape()[2]
    }

    /// Whether the samples are complex IQ.
    pub fn is_complex(&self) -> bool {
        matches!(self.data, FrameData::Complex(_))
    }

    /// Sample type name as it is held in memory (`float32` or `complex64`).
    pub fn dtype_name(&self) -> &'static str {
        if self.is_complex() { "complex64" } else { "float32" }
    }

    /// Bytes held by the samples.
    pub fn memory_bytes(&self) -> usize {
        let n: usize = self.shape().iter().product();
        n * if self.is_complex() { 8 } else { 4 }
    }

    /// Envelope (magnitude) of the frames: `|IQ|` for complex data, the data itself for
    /// real data.
    pub fn envelope(&self) -> Array3<f32> {
        match &self.data {
            FrameData::Real(a) => a.clone(),
            FrameData::Complex(a) => a.mapv(|c| c.norm()),
        }
    }

    /// Envelope of one frame `[rows, cols]`.
    ///
    /// # Panics
    /// If `frame >= n_frames()`.
    pub fn frame_envelope(&self, frame: usize) -> Array2<f32> {
        match &self.data {
            FrameData::Real(a) => a.index_axis(Axis(0), frame).to_owned(),
            FrameData::Complex(a) => a.index_axis(Axis(0), frame).mapv(|c| c.norm()),
        }
    }

    /// View of one real frame, if the data is real.
    pub fn real_frame(&self, frame: usize) -> Option<ArrayView2<'_, f32>> {
        match &self.data {
            FrameData::Real(a) if frame < a.dim().0 => Some(a.index_axis(Axis(0), frame)),
            _ => None,
        }
    }

    /// A copy of frames `start .. start + len` (clamped to the stack).
    pub fn slice_frames(&self, start: usize, len: usize) -> FrameStack {
        let n = self.n_frames();
        let a = start.min(n);
        let b = start.saturating_add(len).min(n);
        let data = match &self.data {
            FrameData::Real(x) => FrameData::Real(x.slice(s![a..b, .., ..]).to_owned()),
            FrameData::Complex(x) => FrameData::Complex(x.slice(s![a..b, .., ..]).to_owned()),
        };
        FrameStack { data, geometry: self.geometry }
    }

    /// Fails with [`Error::NonFinite`] naming the first NaN/Inf sample.
    pub fn check_finite(&self) -> Result<()> {
        fn first_bad<T>(a: &Array3<T>, ok: impl Fn(&T) -> bool) -> Result<()> {
            if let Some(((f, r, c), _)) = a.indexed_iter().find(|(_, v)| !ok(v)) {
                return Err(Error::NonFinite { frame: f, row: r, col: c });
            }
            Ok(())
        }
        match &self.data {
            FrameData::Real(a) => first_bad(a, |v| v.is_finite()),
            FrameData::Complex(a) => first_bad(a, |v| v.re.is_finite() && v.im.is_finite()),
        }
    }

    /// Checks that the stack has at least one frame and non-empty frames.
    pub fn check_non_empty(&self) -> Result<()> {
        let [f, r, c] = self.shape();
        if f == 0 || r == 0 || c == 0 {
            return Err(Error::Shape(format!("empty frame stack [{f}, {r}, {c}]")));
        }
        Ok(())
    }

    /// `(min, max)` of the envelope (magnitude for complex data), `None` when empty.
    pub fn value_range(&self) -> Option<(f32, f32)> {
        let fold = |it: &mut dyn Iterator<Item = f32>| {
            it.fold(None, |acc: Option<(f32, f32)>, v| match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            })
        };
        match &self.data {
            FrameData::Real(a) => fold(&mut a.iter().copied()),
            FrameData::Complex(a) => fold(&mut a.iter().map(|c| c.norm())),
        }
    }
}

/// A source of frames read block by block, so that stacks larger than memory (or simply
/// long acquisitions) can be processed in bounded memory.
pub trait FrameSource {
    /// `[frames, rows, cols]` of the whole acquisition.
    fn shape(&self) -> [usize; 3];
    /// Geometry of the acquisition.
    fn geometry(&self) -> &Geometry;
    /// Whether the samples are complex IQ.
    fn is_complex(&self) -> bool;
    /// Reads frames `start .. start + len` (clamped to the end of the acquisition).
    fn read_block(&mut self, start: usize, len: usize) -> Result<FrameStack>;

    /// Number of frames.
    fn n_frames(&self) -> usize {
        self.shape()[0]
    }
}

/// [`FrameSource`] over a stack already in memory.
#[derive(Debug, Clone)]
pub struct InMemorySource {
    stack: FrameStack,
}

impl InMemorySource {
    /// Wraps an in-memory stack.
    pub fn new(stack: FrameStack) -> Self {
        Self { stack }
    }
}

impl FrameSource for InMemorySource {
    fn shape(&self) -> [usize; 3] {
        self.stack.shape()
    }
    fn geometry(&self) -> &Geometry {
        self.stack.geometry()
    }
    fn is_complex(&self) -> bool {
        self.stack.is_complex()
    }
    fn read_block(&mut self, start: usize, len: usize) -> Result<FrameStack> {
        Ok(self.stack.slice_frames(start, len))
    }
}

/// [`FrameSource`] over a stack in memory that refuses to hand out more than `limit`
/// frames per read (it panics) and records what was read: tests use it to prove that a
/// block loop never collects the whole acquisition.
#[derive(Debug, Clone)]
pub struct BlockGuardSource {
    inner: InMemorySource,
    limit: usize,
    largest: usize,
    frames_read: usize,
}

impl BlockGuardSource {
    /// Wraps `stack`; a read of more than `limit` frames panics.
    pub fn new(stack: FrameStack, limit: usize) -> Self {
        Self { inner: InMemorySource::new(stack), limit, largest: 0, frames_read: 0 }
    }
    /// The largest number of frames handed out by one read.
    pub fn largest_read(&self) -> usize {
        self.largest
    }
    /// Total frames handed out (each frame once ⇔ equals the stack's frame count).
    pub fn frames_read(&self) -> usize {
        self.frames_read
    }
}

impl FrameSource for BlockGuardSource {
    fn shape(&self) -> [usize; 3] {
        self.inner.shape()
    }
    fn geometry(&self) -> &Geometry {
        self.inner.geometry()
    }
    fn is_complex(&self) -> bool {
        self.inner.is_complex()
    }
    fn read_block(&mut self, start: usize, len: usize) -> Result<FrameStack> {
        assert!(len <= self.limit, "asked for {len} frames at once (limit {})", self.limit);
        let b = self.inner.read_block(start, len)?;
        self.largest = self.largest.max(b.n_frames());
        self.frames_read += b.n_frames();
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom() -> Geometry {
        Geometry::new(0.1, 0.1, 0.0, 0.0, 0.2, 100.0).unwrap()
    }

    #[test]
    fn envelope_of_complex_is_magnitude() {
        let mut a = Array3::<Complex32>::zeros((2, 2, 3));
        a[[1, 0, 2]] = Complex32::new(3.0, 4.0);
        let s = FrameStack::from_complex(a, geom()).unwrap();
        assert_eq!(s.envelope()[[1, 0, 2]], 5.0);
        assert_eq!(s.value_range(), Some((0.0, 5.0)));
        assert_eq!(s.memory_bytes(), 2 * 2 * 3 * 8);
    }

    #[test]
    fn non_finite_reported_with_position() {
        let mut a = Array3::<f32>::zeros((3, 4, 5));
        a[[2, 1, 3]] = f32::NAN;
        let s = FrameStack::from_real(a, geom()).unwrap();
        match s.check_finite() {
            Err(Error::NonFinite { frame: 2, row: 1, col: 3 }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn blocks_cover_the_stack() {
        let a = Array3::from_shape_fn((10, 2, 2), |(f, _, _)| f as f32);
        let mut src = InMemorySource::new(FrameStack::from_real(a, geom()).unwrap());
        let b = src.read_block(8, 5).unwrap();
        assert_eq!(b.n_frames(), 2);
        assert_eq!(b.real_frame(1).unwrap()[[0, 0]], 9.0);
    }
}
