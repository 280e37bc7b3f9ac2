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

/// Fused backward given `grad_out` `[b, len_q, heads, head_dim]`, following
/// `ms_deform_attn_col2im_bilinear`. Work is split over (batch, head, query chunk) with one
/// private `grad_value` block per task, so the scatter-add needs no atomics; blocks of the same
/// (batch, head) are summed afterwards.
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
    // Enough tasks to feed every thread even when batch · heads is small.
    let threads = rayon::current_num_threads().max(1);
    let splits = (2 * threads).div_ceil(bh.max(1)).clamp(1, len_q.max(1));
    let q_chunk = len_q.div_ceil(splits).max(1);

    let block = len_in * head_dim;
    let mut gv_blocks = vec![0.0f32; bh * splits * block];
    // [b, heads, len_q, levels, points (, 2)]: contiguous per (b, head, query chunk)
    let mut gl_t = vec![0.0f32; bh * len_q * lp * 2];
    let mut gw_t = vec![0.0f32; bh * len_q * lp];

    if !gv_blocks.is_empty() && !gw_t.is_empty() {
        // Chunk lengths per task: the last chunk of each (b, h) may be shorter.
        let tasks: Vec<(usize, usize, usize)> = (0..bh)
            .flat_map(|t| {
                (0..splits).filter_map(move |k| {
                    let q0 = k * q_chunk;
                    (q0 < len_q).then(|| (t, q0, (q0 + q_chunk).min(len_q)))
                })
            })
            .collect();
        let mut gl_parts = split_by(&mut gl_t, tasks.iter().map(|&(_, a, e)| (e - a) * lp * 2));
        let mut gw_parts = split_by(&mut gw_t, tasks.iter().map(|&(_, a, e)| (e - a) * lp));
        let mut gv_parts: Vec<&mut [f32]> = gv_blocks.chunks_mut(block).collect();
        // One private grad_value block per task: index blocks by (b·heads + h)·splits + k.
        let gv_iter: Vec<&mut [f32]> = tasks
            .iter()
            .map(|&(t, q0, _)| {
                let k = q0 / q_chunk;
                std::mem::take(&mut gv_parts[t * splits + k])
            })
            .collect();
        tasks
            .par_iter()
            .zip(gv_iter.into_par_iter())
            .zip(gl_parts.par_iter_mut())
            .zip(gw_parts.par_iter_mut())
            .for_each(|(((&(t, q0, q1), gv), gl), gw)| {
                let (b, h) = (t / heads, t % heads);
                let base = b * len_in * row + h * head_dim;
                for q in q0..q1 {
                    let go_off = ((b * len_q + q) * heads + h) * head_dim;
                    let go = &grad_out[go_off..go_off + head_dim];
                    let s0 = ((b * len_q + q) * heads + h) * lp;
                    let local = (q - q0) * lp;
                    for (l, &[hl, wl]) in shapes.iter().enumerate() {
                        for p in 0..points {
                            let s = s0 + l * points + p;
                            let i = local + l * points + p;
                            let a = weights[s];
                            let Some(smp) = geo.sample(l, locations[2 * s], locations[2 * s + 1]) else {
                                continue;
                            };
                            // s_k = <grad_out, v_k> for each corner inside the map, and the
                            // scatter-add grad_value[corner k] += a · w_k · grad_out.
                            let c = smp.weights.map(|cw| a * cw);
                            let dots = if smp.positions.iter().all(|&pos| pos != usize::MAX) {
                                // All four inside: corners (y0, x0..=x1) and (y1, x0..=x1) are
                                // two runs of two adjacent rows; one pass over the channels.
                                let [p00, _, p10, _] = smp.positions;
                                let [v0, v1, v2, v3] = smp.positions.map(|pos| {
                                    let off = base + pos * row;
                                    &value[off..off + head_dim]
                                });
                                let dots = dot4(go, [v0, v1, v2, v3]);
                                let (top, bottom) = gv.split_at_mut(p10 * head_dim);
                                let (g0, g1) = top[p00 * head_dim..(p00 + 2) * head_dim].split_at_mut(head_dim);
                                let (g2, g3) = bottom[..2 * head_dim].split_at_mut(head_dim);
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
                                        axpy(&mut gv[pos * head_dim..(pos + 1) * head_dim], ck, go);
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

    // Back to the input layouts, summing the per-chunk grad_value blocks.
    let mut grad_value = vec![0.0f32; batch * len_in * row];
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
    let mut grad_loc = vec![0.0f32; gl_t.len()];
    let mut grad_w = vec![0.0f32; gw_t.len()];
    for b in 0..batch {
        for h in 0..heads {
            for q in 0..len_q {
                let src = ((b * heads + h) * len_q + q) * lp;
                let dst = ((b * len_q + q) * heads + h) * lp;
                grad_w[dst..dst + lp].copy_from_slice(&gw_t[src..src + lp]);
                grad_loc[2 * dst..2 * (dst + lp)].copy_from_slice(&gl_t[2 * src..2 * (src + lp)]);
            }
        }
    }
    Grads { value: grad_value, locations: grad_loc, weights: grad_w }
}

/// Splits `buf` into consecutive mutable parts of the given lengths.
fn split_by(buf: &mut [f32], lens: impl Iterator<Item = usize>) -> Vec<&mut [f32]> {
    let mut rest = buf;
    let mut parts = Vec::new();
    for len in lens {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
        parts.push(head);
        rest = tail;
    }
    parts
}
