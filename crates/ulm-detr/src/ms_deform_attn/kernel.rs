//! Fused multi-scale deformable sampling on host memory: forward and hand-written backward,
//! rayon-parallel, with the semantics of the official CUDA op (`ms_deform_attn_cuda.cu`,
//! `ms_deformable_im2col` / `ms_deformable_col2im`): bilinear interpolation with zero padding
//! and `align_corners = false`, i.e. pixel coordinate `loc · size − 0.5`; a sample is skipped
//! (zero value, zero gradient) unless `-1 < pixel < size` on both axes.
//!
//! All slices are contiguous row-major `f32`:
//! value `[b, len_in, heads, head_dim]`, locations `[b, len_q, heads, levels, points, 2]` as
//! `(x, y)`, weights `[b, len_q, heads, levels, points]`, output `[b, len_q, heads, head_dim]`.

use rayon::prelude::*;

use super::CoreDims;

/// One bilinear sample: the flat positions of the four corners, their interpolation weights (zero for corners outside the map) and the fractional
/// parts needed by the backward pass.
struct Sample {
    /// Flat positions (level start included) of corners (y0, x0), (y0, x1), (y1, x0),
    /// (y1, x1); `usize::MAX` when outside the map.
    positions: [usize; 4],
    /// Bilinear weights of the four corners (already zero for corners outside).
    weights: [f32; 4],
    /// Fractional parts `(lx, ly)` of the pixel coordinates.
    frac: [f32; 2],
}

/// Geometry of the flattened levels.
struct Levels<'a> {
    shapes: &'a [[usize; 2]],
    starts: Vec<usize>,
}

impl<'a> Levels<'a> {
    fn new(shapes: &'a [[usize; 2]]) -> Self {
        let starts = shapes
            .iter()
            .scan(0, |acc, [h, w]| {
                let start = *acc;
                *acc += h * w;
                Some(start)
            })
            .collect();
        Self { shapes, starts }
    }

    /// Bilinear sample of level `level` at normalised `(x, y)`, or `None` if it reads only
    /// zeros.
    #[inline(always)]
    fn sample(&self, level: usize, x: f32, y: f32) -> Option<Sample> {
        let [h, w] = self.shapes[level];
        let (hf, wf) = (h as f32, w as f32);
        let px = x * wf - 0.5;
        let py = y * hf - 0.5;
        // Written so that NaN fails the test and is skipped.
        if !(py > -1.0 && px > -1.0 && py < hf && px < wf) {
            return None;
        }
        let x0f = px.floor();
        let y0f = py.floor();
        let (lx, ly) = (px - x0f, py - y0f);
        let (hx, hy) = (1.0 - lx, 1.0 - ly);
        let (x0, y0) = (x0f as isize, y0f as isize);
        let (x1, y1) = (x0 + 1, y0 + 1);
        let (wi, hi) = (w as isize, h as isize);
        let start = self.starts[level];
        let corner = |cy: isize, cx: isize, weight: f32| {
            if cy >= 0 && cx >= 0 && cy < hi && cx < wi {
                (start + cy as usize * w + cx as usize, weight)
            } else {
                (usize::MAX, 0.0)
            }
        };
        let c = [corner(y0, x0, hy * hx), corner(y0, x1, hy * lx), corner(y1, x0, ly * hx), corner(y1, x1, ly * lx)];
        Some(Sample { positions: c.map(|(o, _)| o), weights: c.map(|(_, wt)| wt), frac: [lx, ly] })
    }
}

#[inline(always)]
fn axpy(out: &mut [f32], a: f32, x: &[f32]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o += a * v;
    }
}

/// Lanes of the partial sums in [`dot`] and [`dot4`]: independent accumulators let the
/// compiler vectorise the reductions without reassociating floating-point sums itself.
const LANES: usize = 8;

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let body = a.len() / LANES * LANES;
    for (x, y) in a[..body].chunks_exact(LANES).zip(b[..body].chunks_exact(LANES)) {
        for ((acc, x), y) in acc.iter_mut().zip(x).zip(y) {
            *acc += x * y;
        }
    }
    let tail: f32 = a[body..].iter().zip(&b[body..]).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Four dot products `<a, v_k>` in one pass over `a`.
#[inline(always)]
fn dot4(a: &[f32], v: [&[f32]; 4]) -> [f32; 4] {
    let mut acc = [[0.0f32; LANES]; 4];
    let body = a.len() / LANES * LANES;
    for (i, x) in a[..body].chunks_exact(LANES).enumerate() {
        let start = i * LANES;
        for (acc, y) in acc.iter_mut().zip(&v) {
            let y = &y[start..start + LANES];
            for ((acc, x), y) in acc.iter_mut().zip(x).zip(y) {
                *acc += x * y;
            }
        }
    }
    let mut out = [0.0f32; 4];
    for ((out, acc), y) in out.iter_mut().zip(&acc).zip(&v) {
        let tail: f32 = a[body..].iter().zip(&y[body..]).map(|(x, y)| x * y).sum();
        *out = acc.iter().sum::<f32>() + tail;
    }
    out
}

/// Fused forward: `out[b, q, h, :] = Σ_l Σ_p w · bilinear(value_l[b, :, h, :], loc)`.
pub(crate) fn forward(
    dims: &CoreDims,
    shapes: &[[usize; 2]],
    value: &[f32],
    locations: &[f32],
    weights: &[f32],
) -> Vec<f32> {
    let CoreDims { batch, len_in, heads, head_dim, len_q, levels, points } = *dims;
    debug_assert_eq!(value.len(), batch * len_in * heads * head_dim);
    debug_assert_eq!(weights.len(), batch * len_q * heads * levels * points);
    debug_assert_eq!(locations.len(), 2 * weights.len());
    let geo = Levels::new(shapes);
    let row = heads * head_dim;
    let samples_per_head = levels * points;
    let mut out = zeroed(batch * len_q * row);
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(row).enumerate().with_min_len(8).for_each(|(bq, out_row)| {
        let b = bq / len_q;
        for h in 0..heads {
            let base = b * len_in * row + h * head_dim;
            let out_h = &mut out_row[h * head_dim..(h + 1) * head_dim];
            let s0 = (bq * heads + h) * samples_per_head;
            for l in 0..levels {
                for p in 0..points {
                    let s = s0 + l * points + p;
                    let a = weights[s];
                    let Some(smp) = geo.sample(l, locations[2 * s], locations[2 * s + 1]) else {
                        continue;
                    };
                    if smp.positions.iter().all(|&pos| pos != usize::MAX) {
                        // Common case, all corners inside: one pass over the channels.
                        let [v0, v1, v2, v3] = smp.positions.map(|pos| {
                            let off = base + pos * row;
                            &value[off..off + head_dim]
                        });
                        let [c0, c1, c2, c3] = smp.weights.map(|cw| a * cw);
                        for ((((o, x0), x1), x2), x3) in out_h.iter_mut().zip(v0).zip(v1).zip(v2).zip(v3) {
                            *o += c0 * x0 + c1 * x1 + c2 * x2 + c3 * x3;
                        }
                        continue;
                    }
                    for (&pos, &cw) in smp.positions.iter().zip(&smp.weights) {
                        if pos != usize::MAX {
                            let off = base + pos * row;
                            axpy(out_h, a * cw, &value[off..off + head_dim]);
                        }
                    }
                }
            }
        }
    });
    out
}

/// Gradients of the fused op, in the layouts of its inputs.
pub(crate) struct Grads {
    /// `[b, len_in, heads, head_dim]`
    pub value: Vec<f32>,
    /// `[b, len_q, heads, levels, points, 2]`
    pub locations: Vec<f32>,
    /// `[b, len_q, heads, levels, points]`
    pub weights: Vec<f32>,
}

/// A zeroed `f32` buffer whose pages are written now: `vec![0.0; n]` maps copy-on-write zero
/// pages that the scatter-adds below would first read and then write, taking two page faults
/// and a TLB shootdown per page (measured: half the time of the decoder-sized backward).
fn zeroed(n: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(n);
    v.resize(n, 0.0);
    v
}

/// An output buffer that parallel tasks write at disjoint positions.
struct Disjoint<'a> {
    ptr: *mut f32,
    len: usize,
    _buf: std::marker::PhantomData<&'a mut [f32]>,
}

// SAFETY: `Disjoint` hands out slices only through `Disjoint::part`, whose contract is that
// concurrent callers ask for non-overlapping ranges.
unsafe impl Send for Disjoint<'_> {}
unsafe impl Sync for Disjoint<'_> {}

impl<'a> Disjoint<'a> {
    fn new(buf: &'a mut [f32]) -> Self {
        Self { ptr: buf.as_mut_ptr(), len: buf.len(), _buf: std::marker::PhantomData }
    }

    /// `buf[start..start + len]`.
    ///
    /// # Safety
    /// No other live slice from this `Disjoint` may overlap the range.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    unsafe fn part(&self, start: usize, len: usize) -> &mut [f32] {
        assert!(start + len <= self.len, "range {start}..{} outside {}", start + len, self.len);
        // SAFETY: in bounds (checked above), and exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

/// Fused backward given `grad_out` `[b, len_q, heads, head_dim]`, following
/// `ms_deform_attn_col2im_bilinear`. Work is split over (batch, head, query chunk); each task
/// writes the location and weight gradients of its own queries in place. `grad_value` needs a
/// scatter-add, done without atomics in one of two ways:
/// - *direct* (sparse samples: fewer samples per head than value rows, the decoder), one task
///   per (batch, head) adds into its channels `[b, :, h, :]` of `grad_value` in place: no
///   extra buffer, which at decoder size costs more than the sampling itself;
/// - *blocked* (dense samples, the encoder), each task adds into a private contiguous
///   `[len_in, head_dim]` block, which stays in cache where the strided channels would not;
///   the blocks of the same (batch, head) are summed afterwards.
pub(crate) fn backward(
    dims: &CoreDims,
    shapes: &[[usize; 2]],
    value: &[f32],
    locations: &[f32],
    weights: &[f32],
    grad_out: &[f32],
) -> Grads {
    let threads = rayon::current_num_threads().max(1);
    let sparse = dims.len_q * dims.levels * dims.points <= dims.len_in;
    let direct = sparse && dims.batch * dims.heads >= 2 * threads;
    backward_with(dims, shapes, value, locations, weights, grad_out, direct)
}

/// [`backward`] with the `grad_value` strategy chosen by the caller (`direct` or blocked).
pub(crate) fn backward_with(
    dims: &CoreDims,
    shapes: &[[usize; 2]],
    value: &[f32],
    locations: &[f32],
    weights: &[f32],
    grad_out: &[f32],
    direct: bool,
) -> Grads {
    let CoreDims { batch, len_in, heads, head_dim, len_q, levels, points } = *dims;
    debug_assert_eq!(grad_out.len(), batch * len_q * heads * head_dim);
    let geo = Levels::new(shapes);
    let row = heads * head_dim;
    let lp = levels * points;
    let bh = batch * heads;
    // Blocked: enough tasks to feed every thread even when batch · heads is small.
    let threads = rayon::current_num_threads().max(1);
    let splits = if direct { 1 } else { (2 * threads).div_ceil(bh.max(1)).clamp(1, len_q.max(1)) };
    let q_chunk = len_q.div_ceil(splits).max(1);

    let block = len_in * head_dim;
    let mut grad_value = zeroed(batch * len_in * row);
    let mut gv_blocks = if direct { Vec::new() } else { zeroed(bh * splits * block) };
    let mut grad_loc = zeroed(batch * len_q * heads * lp * 2);
    let mut grad_w = zeroed(batch * len_q * heads * lp);

    if !grad_value.is_empty() && !grad_w.is_empty() {
        let tasks: Vec<(usize, usize, usize)> = (0..bh)
            .flat_map(|t| {
                (0..splits).filter_map(move |k| {
                    let q0 = k * q_chunk;
                    (q0 < len_q).then(|| (t, q0, (q0 + q_chunk).min(len_q)))
                })
            })
            .collect();
        let gv_out = Disjoint::new(if direct { &mut grad_value } else { &mut gv_blocks });
        let (gl_out, gw_out) = (Disjoint::new(&mut grad_loc), Disjoint::new(&mut grad_w));
        tasks.par_iter().for_each(|&(t, q0, q1)| {
            let (b, h) = (t / heads, t % heads);
            let base = b * len_in * row + h * head_dim;
            // Where corner `pos` of this task's grad_value lives: `[b, pos, h, :]` directly,
            // or row `pos` of the task's private block.
            let (gv_base, gv_stride) =
                if direct { (base, row) } else { ((t * splits + q0 / q_chunk) * block, head_dim) };
            // SAFETY: tasks differ in (b, h) when `direct` (so in the channels `[b, :, h, :]`
            // they touch) and own distinct blocks otherwise; within a task the corner slices
            // are used one after another.
            let gv = |pos: usize| unsafe { gv_out.part(gv_base + pos * gv_stride, head_dim) };
            for q in q0..q1 {
                let go_off = ((b * len_q + q) * heads + h) * head_dim;
                let go = &grad_out[go_off..go_off + head_dim];
                let s0 = ((b * len_q + q) * heads + h) * lp;
                // SAFETY: the samples `[b, q, h, ..]` belong to this task alone.
                let (gl, gw) = unsafe { (gl_out.part(2 * s0, 2 * lp), gw_out.part(s0, lp)) };
                for (l, &[hl, wl]) in shapes.iter().enumerate() {
                    for p in 0..points {
                        let i = l * points + p;
                        let s = s0 + i;
                        let a = weights[s];
                        let Some(smp) = geo.sample(l, locations[2 * s], locations[2 * s + 1]) else {
                            continue;
                        };
                        // s_k = <grad_out, v_k> for each corner inside the map, and the
                        // scatter-add grad_value[corner k] += a · w_k · grad_out.
                        let c = smp.weights.map(|cw| a * cw);
                        let dots = if smp.positions.iter().all(|&pos| pos != usize::MAX) {
                            let [v0, v1, v2, v3] = smp.positions.map(|pos| {
                                let off = base + pos * row;
                                &value[off..off + head_dim]
                            });
                            let dots = dot4(go, [v0, v1, v2, v3]);
                            for (&pos, &ck) in smp.positions.iter().zip(&c) {
                                axpy(gv(pos), ck, go);
                            }
                            dots
                        } else {
                            let mut dots = [0.0f32; 4];
                            for ((dot_k, &pos), &ck) in dots.iter_mut().zip(&smp.positions).zip(&c) {
                                if pos != usize::MAX {
                                    let off = base + pos * row;
                                    *dot_k = dot(go, &value[off..off + head_dim]);
                                    axpy(gv(pos), ck, go);
                                }
                            }
                            dots
                        };
                        let [lx, ly] = smp.frac;
                        let (hx, hy) = (1.0 - lx, 1.0 - ly);
                        let [s1, s2, s3, s4] = dots;
                        let cw = &smp.weights;
                        gw[i] = cw[0] * s1 + cw[1] * s2 + cw[2] * s3 + cw[3] * s4;
                        let grad_w = -hy * s1 + hy * s2 - ly * s3 + ly * s4;
                        let grad_h = -hx * s1 - lx * s2 + hx * s3 + lx * s4;
                        gl[2 * i] = wl as f32 * grad_w * a;
                        gl[2 * i + 1] = hl as f32 * grad_h * a;
                    }
                }
            }
        });
    }

    if !direct && !gv_blocks.is_empty() {
        // Sum the per-chunk grad_value blocks into the input layout.
        grad_value.par_chunks_mut(row).enumerate().for_each(|(bs, dst)| {
            let (b, s) = (bs / len_in.max(1), bs % len_in.max(1));
            for h in 0..heads {
                let d = &mut dst[h * head_dim..(h + 1) * head_dim];
                for k in 0..splits {
                    let blk = ((b * heads + h) * splits + k) * block + s * head_dim;
                    for (o, v) in d.iter_mut().zip(&gv_blocks[blk..blk + head_dim]) {
                        *o += v;
                    }
                }
            }
        });
    }
    Grads { value: grad_value, locations: grad_loc, weights: grad_w }
}
