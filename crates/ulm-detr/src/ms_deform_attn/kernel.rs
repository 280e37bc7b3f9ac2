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
    let mut out = vec![0.0f32; batch * len_q * row];
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

/// Raw view of an output buffer that parallel tasks write at disjoint indices.
#[derive(Clone, Copy)]
struct Disjoint {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: a `Disjoint` is only shared by tasks that write disjoint index ranges of a buffer
// that outlives them (see `backward`).
unsafe impl Send for Disjoint {}
unsafe impl Sync for Disjoint {}

impl Disjoint {
    fn new(buf: &mut [f32]) -> Self {
        Self { ptr: buf.as_mut_ptr(), len: buf.len() }
    }

    /// `buf[off..off + n]`.
    ///
    /// # Safety
    /// No other live reference, in this task or another, overlaps `off..off + n`.
    #[inline(always)]
    unsafe fn slice<'a>(self, off: usize, n: usize) -> &'a mut [f32] {
        assert!(off + n <= self.len, "disjoint write out of bounds");
        // SAFETY: in bounds (checked above); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(off), n) }
    }
}

/// Fused backward given `grad_out` `[b, len_q, heads, head_dim]`, following
/// `ms_deform_attn_col2im_bilinear`. Work is split over (batch, head, query chunk) tasks that
/// write the gradients in their final layouts: the sampling-location and attention-weight
/// gradients at their own `(b, q, head)` entries, and `grad_value` — a scatter-add — into the
/// columns of their head, so no two tasks touch the same element and no atomics are needed.
/// Only when `batch · heads` is too small to feed every thread are queries split into chunks;
/// chunks after the first then scatter into private blocks summed afterwards.
pub(crate) fn backward(
    dims: &CoreDims,
    shapes: &[[usize; 2]],
    value: &[f32],
    locations: &[f32],
    weights: &[f32],
    grad_out: &[f32],
) -> Grads {
    let CoreDims { batch, len_in, heads, head_dim, len_q, levels, points } = *dims;
    debug_assert_eq!(grad_out.len(), batch * len_q * heads * head_dim);
    let geo = Levels::new(shapes);
    let row = heads * head_dim;
    let lp = levels * points;
    let bh = batch * heads;
    let mut grad_value = vec![0.0f32; batch * len_in * row];
    let mut grad_loc = vec![0.0f32; batch * len_q * heads * lp * 2];
    let mut grad_w = vec![0.0f32; batch * len_q * heads * lp];
    if grad_value.is_empty() || grad_w.is_empty() {
        return Grads { value: grad_value, locations: grad_loc, weights: grad_w };
    }
    // Enough tasks to feed every thread even when batch · heads is small.
    let threads = rayon::current_num_threads().max(1);
    let q_chunk = len_q.div_ceil((2 * threads).div_ceil(bh).clamp(1, len_q));
    let splits = len_q.div_ceil(q_chunk);
    // Private grad_value blocks `[len_in, head_dim]` of chunks 1.. of each (b, head).
    let block = len_in * head_dim;
    let mut extra = vec![0.0f32; bh * (splits - 1) * block];
    let tasks: Vec<(usize, usize)> = (0..bh).flat_map(|t| (0..splits).map(move |k| (t, k))).collect();
    let (gv_all, gx_all) = (Disjoint::new(&mut grad_value), Disjoint::new(&mut extra));
    let (gl_all, gw_all) = (Disjoint::new(&mut grad_loc), Disjoint::new(&mut grad_w));
    tasks.par_iter().for_each(|&(t, k)| {
        let (b, h) = (t / heads, t % heads);
        let (q0, q1) = (k * q_chunk, ((k + 1) * q_chunk).min(len_q));
        let base = b * len_in * row + h * head_dim;
        // Where this task scatters grad_value row `pos`: `gv_off + pos * gv_stride`.
        let (gv, gv_off, gv_stride) =
            if k == 0 { (gv_all, base, row) } else { (gx_all, (t * (splits - 1) + k - 1) * block, head_dim) };
        // SAFETY (all `slice` calls below): task (b, h, k) writes grad_loc / grad_w only at
        // the entries of its own (b, q ∈ q0..q1, h), and grad_value only in head h's columns
        // of batch b (k = 0, one task per (b, h)) or in its own block (k ≥ 1); each slice is
        // dropped before the next one over the same row is made, and the four corner rows
        // of one sample are distinct positions.
        let row_at = |pos: usize| unsafe { gv.slice(gv_off + pos * gv_stride, head_dim) };
        for q in q0..q1 {
            let go_off = ((b * len_q + q) * heads + h) * head_dim;
            let go = &grad_out[go_off..go_off + head_dim];
            let s0 = ((b * len_q + q) * heads + h) * lp;
            let gw = unsafe { gw_all.slice(s0, lp) };
            let gl = unsafe { gl_all.slice(2 * s0, 2 * lp) };
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
                        // All four inside: one pass over the channels.
                        let [v0, v1, v2, v3] = smp.positions.map(|pos| {
                            let off = base + pos * row;
                            &value[off..off + head_dim]
                        });
                        let dots = dot4(go, [v0, v1, v2, v3]);
                        let [g0, g1, g2, g3] = smp.positions.map(row_at);
                        for ((((&g, d0), d1), d2), d3) in go.iter().zip(g0).zip(g1).zip(g2).zip(g3) {
                            *d0 += c[0] * g;
                            *d1 += c[1] * g;
                            *d2 += c[2] * g;
                            *d3 += c[3] * g;
                        }
                        dots
                    } else {
                        let mut dots = [0.0f32; 4];
                        for ((dot_k, &pos), &ck) in dots.iter_mut().zip(&smp.positions).zip(&c) {
                            if pos != usize::MAX {
                                let off = base + pos * row;
                                *dot_k = dot(go, &value[off..off + head_dim]);
                                axpy(row_at(pos), ck, go);
                            }
                        }
                        dots
                    };
                    let [lx, ly] = smp.frac;
                    let (hx, hy) = (1.0 - lx, 1.0 - ly);
                    let [s1, s2, s3, s4] = dots;
                    let cw = &smp.weights;
                    gw[i] = cw[0] * s1 + cw[1] * s2 + cw[2] * s3 + cw[3] * s4;
                    let grad_x = -hy * s1 + hy * s2 - ly * s3 + ly * s4;
                    let grad_y = -hx * s1 - lx * s2 + hx * s3 + lx * s4;
                    gl[2 * i] = wl as f32 * grad_x * a;
                    gl[2 * i + 1] = hl as f32 * grad_y * a;
                }
            }
        }
    });

    if splits > 1 {
        // Add the private blocks of chunks 1.. into grad_value.
        grad_value.par_chunks_mut(row).enumerate().for_each(|(bs, dst)| {
            let (b, pos) = (bs / len_in, bs % len_in);
            for h in 0..heads {
                let d = &mut dst[h * head_dim..(h + 1) * head_dim];
                for k in 1..splits {
                    let blk = ((b * heads + h) * (splits - 1) + k - 1) * block + pos * head_dim;
                    for (o, v) in d.iter_mut().zip(&extra[blk..blk + head_dim]) {
                        *o += v;
                    }
                }
            }
        });
    }
    Grads { value: grad_value, locations: grad_loc, weights: grad_w }
}
