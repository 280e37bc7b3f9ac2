//! Host kernels: a convolution and its weight gradient as `im2col` + one matrix product per
//! image.

use rayon::prelude::*;

/// Geometry of one 2-D convolution (one group, symmetric padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input `[h, w]`.
    pub input: [usize; 2],
    /// Output channels.
    pub c_out: usize,
    /// Kernel `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Stride `[sh, sw]`.
    pub stride: [usize; 2],
    /// Zero padding on each side `[ph, pw]`.
    pub padding: [usize; 2],
    /// Dilation `[dh, dw]`.
    pub dilation: [usize; 2],
}

impl ConvGeom {
    /// Output `[h, w]` (burn's and PyTorch's rule); `None` when the kernel does not fit.
    pub fn output(&self) -> Option<[usize; 2]> {
        let size = |i: usize| {
            let reach = self.dilation[i] * (self.kernel[i].checked_sub(1)?) + 1;
            let span = (self.input[i] + 2 * self.padding[i]).checked_sub(reach)?;
            Some(span / self.stride[i] + 1)
        };
        Some([size(0)?, size(1)?])
    }

    /// Rows of the `im2col` matrix: `c_in · kh · kw`.
    fn rows(&self) -> usize {
        self.c_in * self.kernel[0] * self.kernel[1]
    }
}

/// Writes output rows `oh_range` of image `x` `[c_in, h, w]` as its `im2col` matrix
/// `[c_in·kh·kw, len(oh_range)·wo]` (row `(ci, ki, kj)`, column `(oh, ow)`:
/// `x[ci, oh·sh − ph + ki·dh, ow·sw − pw + kj·dw]`, zero outside the image).
fn im2col(x: &[f32], g: &ConvGeom, wo: usize, oh_range: std::ops::Range<usize>, col: &mut [f32]) {
    let [h, w] = g.input;
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [ph, pw] = g.padding;
    let [dh, dw] = g.dilation;
    let p = oh_range.len() * wo;
    for ci in 0..g.c_in {
        let plane = &x[ci * h * w..(ci + 1) * h * w];
        for ki in 0..kh {
            for kj in 0..kw {
                let row = &mut col[((ci * kh + ki) * kw + kj) * p..][..p];
                // Output columns whose input column lies inside the image: iw = ow·sw + off.
                let off = (kj * dw) as isize - pw as isize;
                let lo = if off >= 0 { 0 } else { (-off) as usize }.div_ceil(sw).min(wo);
                let hi = if (w as isize) > off { ((w as isize - off) as usize).div_ceil(sw).min(wo) } else { 0 };
                let hi = hi.max(lo);
                for (r, oh) in oh_range.clone().enumerate() {
                    let dst = &mut row[r * wo..(r + 1) * wo];
                    let ih = (oh * sh + ki * dh) as isize - ph as isize;
                    if ih < 0 || ih >= h as isize {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &plane[ih as usize * w..(ih as usize + 1) * w];
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    let start = (lo as isize * sw as isize + off) as usize;
                    if sw == 1 {
                        dst[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
                    } else {
                        for (d, s) in dst[lo..hi].iter_mut().zip(src[start..].iter().step_by(sw)) {
                            *d = *s;
                        }
                    }
                }
            }
        }
    }
}

/// `dst[m × n] (+)= lhs[m × k] · rhs` with the given (row, column) strides of `lhs` and
/// `rhs`; `dst` is row-major with row stride `dst_rs` (≥ `n`). With `accumulate` false `dst` is
/// only written, never read: a fresh zeroed allocation read first would map the shared zero
/// page and then fault again (with a TLB shootdown) on the write, which made a 33 MB output
/// three times slower than burn's convolution.
///
/// # Safety
/// The strides must address memory inside `lhs` and `rhs` for every `(i, j)` of their shapes.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_acc(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    lhs: &[f32],
    lhs_strides: [isize; 2],
    rhs: &[f32],
    rhs_strides: [isize; 2],
    parallelism: gemm::Parallelism,
) {
    assert!(dst_rs >= n && (m == 0 || n == 0 || dst.len() >= (m - 1) * dst_rs + n), "destination size");
    // SAFETY: dst holds m rows of n at stride dst_rs (checked); the caller vouches for lhs
    // and rhs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_strides[1],
            lhs_strides[0],
            rhs.as_ptr(),
            rhs_strides[1],
            rhs_strides[0],
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// The convolution `[b, c_out, ho, wo]` (flattened, no bias) of `x` `[b, c_in, h, w]` with
/// `weight` `[c_out, c_in, kh, kw]`, both contiguous: `weight · im2col(x_b)` per image.
///
/// Images are split into one contiguous block per rayon thread (one product per image); a
/// single image uses every thread inside its product.
///
/// # Panics
/// If the slice lengths disagree with `g`.
pub(crate) fn forward(x: &[f32], weight: &[f32], g: &ConvGeom) -> Vec<f32> {
    let [ho, wo] = g.output().expect("the kernel fits the padded input");
    let (rows, p) = (g.rows(), ho * wo);
    let in_len = g.c_in * g.input[0] * g.input[1];
    let out_len = g.c_out * p;
    assert_eq!(x.len(), g.batch * in_len, "input length");
    assert_eq!(weight.len(), g.c_out * rows, "weight length");
    let mut out = vec![0.0f32; g.batch * out_len];
    if out.is_empty() {
        return out;
    }
    let blocks = rayon::current_num_threads().clamp(1, g.batch);
    let parallelism = if blocks == 1 { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    let per_block = g.batch.div_ceil(blocks);
    // Output rows per tile: about TILE columns, so that a tile's im2col stays in cache.
    const TILE: usize = 2048;
    let tile_rows = (TILE / wo.max(1)).clamp(1, ho.max(1));
    out.par_chunks_mut(per_block * out_len).enumerate().for_each(|(block, out_block)| {
        let mut col = vec![0.0f32; rows * tile_rows * wo];
        for (i, y_b) in out_block.chunks_mut(out_len).enumerate() {
            let b = block * per_block + i;
            for oh0 in (0..ho).step_by(tile_rows) {
                let oh1 = (oh0 + tile_rows).min(ho);
                let cols = (oh1 - oh0) * wo;
                let col = &mut col[..rows * cols];
                im2col(&x[b * in_len..(b + 1) * in_len], g, wo, oh0..oh1, col);
                // [c_out × rows] · [rows × cols] into columns oh0·wo.. of y_b (row stride p).
                // SAFETY: weight is c_out × rows with strides (rows, 1); col is rows × cols with
                // strides (cols, 1).
                unsafe {
                    gemm_acc(
                        g.c_out,
                        cols,
                        rows,
                        &mut y_b[oh0 * wo..],
                        p,
                        false,
                        weight,
                        [rows as isize, 1],
                        col,
                        [cols as isize, 1],
                        parallelism,
                    )
                };
            }
        }
    });
    out
}

/// Gradient of the weight `[c_out, c_in, kh, kw]` (flattened) of a convolution with input
/// `x` `[b, c_in, h, w]` and output gradient `grad` `[b, c_out, ho, wo]`, both contiguous:
/// `Σ_b grad_b · im2col(x_b)ᵀ`.
///
/// Images are split into one contiguous block per rayon thread; each block sums into its own
/// buffer and the blocks are added in order, so the result is deterministic for a given
/// thread count.
///
/// # Panics
/// If the slice lengths disagree with `g`.
pub(crate) fn weight_grad(x: &[f32], grad: &[f32], g: &ConvGeom) -> Vec<f32> {
    let [ho, wo] = g.output().expect("the kernel fits the padded input");
    let (rows, p) = (g.rows(), ho * wo);
    let in_len = g.c_in * g.input[0] * g.input[1];
    assert_eq!(x.len(), g.batch * in_len, "input length");
    assert_eq!(grad.len(), g.batch * g.c_out * p, "output-gradient length");
    let blocks = rayon::current_num_threads().clamp(1, g.batch.max(1));
    // One block: let the product itself use every thread.
    let parallelism = if blocks == 1 { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    let per_block = g.batch.div_ceil(blocks).max(1);
    let partials: Vec<Vec<f32>> = (0..blocks)
        .into_par_iter()
        .map(|block| {
            let mut acc = vec![0.0f32; g.c_out * rows];
            let mut col = vec![0.0f32; rows * p];
            for b in (block * per_block)..((block + 1) * per_block).min(g.batch) {
                im2col(&x[b * in_len..(b + 1) * in_len], g, wo, 0..ho, &mut col);
                let grad_b = &grad[b * g.c_out * p..(b + 1) * g.c_out * p];
                // [c_out × p] (row-major) · [p × rows] (col read transposed: (pi, r) at r·p + pi)
                // SAFETY: grad_b is c_out × p with strides (p, 1); col is rows × p, read as
                // p × rows with strides (1, p).
                unsafe {
                    gemm_acc(
                        g.c_out,
                        rows,
                        p,
                        &mut acc,
                        rows,
                        true,
                        grad_b,
                        [p as isize, 1],
                        &col,
                        [1, p as isize],
                        parallelism,
                    )
                };
            }
            acc
        })
        .collect();
    let mut partials = partials.into_iter();
    let mut total = partials.next().unwrap_or_else(|| vec![0.0; g.c_out * rows]);
    for part in partials {
        for (t, v) in total.iter_mut().zip(part) {
            *t += v;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    /// Every term of the convolution by its definition: calls `term(x_index, weight_index,
    /// output_index)` for each input pixel inside the image that a kernel tap reads.
    fn for_each_term(g: &ConvGeom, mut term: impl FnMut(usize, usize, usize)) {
        let [ho, wo] = g.output().unwrap();
        let [h, w] = g.input;
        let [kh, kw] = g.kernel;
        for b in 0..g.batch {
            for co in 0..g.c_out {
                for oh in 0..ho {
                    for ow in 0..wo {
                        for ci in 0..g.c_in {
                            for ki in 0..kh {
                                for kj in 0..kw {
                                    let ih = (oh * g.stride[0] + ki * g.dilation[0]) as isize - g.padding[0] as isize;
                                    let iw = (ow * g.stride[1] + kj * g.dilation[1]) as isize - g.padding[1] as isize;
                                    if ih < 0 || iw < 0 || ih >= h as isize || iw >= w as isize {
                                        continue;
                                    }
                                    term(
                                        ((b * g.c_in + ci) * h + ih as usize) * w + iw as usize,
                                        ((co * g.c_in + ci) * kh + ki) * kw + kj,
                                        ((b * g.c_out + co) * ho + oh) * wo + ow,
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The weight gradient by its definition (sums in f64).
    fn weight_grad_by_definition(x: &[f32], grad: &[f32], g: &ConvGeom) -> Vec<f32> {
        let mut out = vec![0.0f64; g.c_out * g.rows()];
        for_each_term(g, |xi, wi, yi| out[wi] += x[xi] as f64 * grad[yi] as f64);
        out.into_iter().map(|v| v as f32).collect()
    }

    /// The convolution by its definition (sums in f64).
    fn forward_by_definition(x: &[f32], weight: &[f32], g: &ConvGeom) -> Vec<f32> {
        let [ho, wo] = g.output().unwrap();
        let mut out = vec![0.0f64; g.batch * g.c_out * ho * wo];
        for_each_term(g, |xi, wi, yi| out[yi] += x[xi] as f64 * weight[wi] as f64);
        out.into_iter().map(|v| v as f32).collect()
    }

    /// Output sizes by the convolution formula, checked by hand for a few cases.
    #[test]
    fn output_size_rule() {
        let g = |input, kernel, stride, padding, dilation| ConvGeom {
            batch: 1,
            c_in: 1,
            input,
            c_out: 1,
            kernel,
            stride,
            padding,
            dilation,
        };
        // (7 + 2 − 3) / 2 + 1 = 4; (5 + 0 − 3) / 1 + 1 = 3
        assert_eq!(g([7, 5], [3, 3], [2, 1], [1, 0], [1, 1]).output(), Some([4, 3]));
        // 7 × 7 stride 2 pad 3 on 256: (256 + 6 − 7) / 2 + 1 = 128
        assert_eq!(g([256, 256], [7, 7], [2, 2], [3, 3], [1, 1]).output(), Some([128, 128]));
        // dilation 2 makes a 3 × 3 kernel reach 5: (6 − 5) / 1 + 1 = 2
        assert_eq!(g([6, 6], [3, 3], [1, 1], [0, 0], [2, 2]).output(), Some([2, 2]));
        // a kernel larger than the padded input
        assert_eq!(g([2, 2], [3, 3], [1, 1], [0, 0], [1, 1]).output(), None);
    }

    /// The im2col products (weight gradient and output) equal the definition on odd sizes, strides, paddings and
    /// dilations, including borders where whole kernel rows fall outside the image.
    #[test]
    fn weight_grad_equals_definition() {
        let cases = [
            // (batch, c_in, [h, w], c_out, kernel, stride, padding, dilation)
            (3, 2, [7, 6], 4, [3, 3], [1, 1], [1, 1], [1, 1]),
            (2, 3, [9, 8], 5, [3, 3], [2, 2], [1, 1], [1, 1]),
            (1, 2, [11, 10], 3, [7, 7], [2, 2], [3, 3], [1, 1]),
            (4, 1, [8, 9], 2, [3, 2], [2, 3], [2, 0], [2, 1]),
            (5, 3, [4, 5], 2, [5, 5], [1, 1], [3, 3], [1, 1]),
        ];
        for (seed, (batch, c_in, input, c_out, kernel, stride, padding, dilation)) in cases.into_iter().enumerate() {
            let g = ConvGeom { batch, c_in, input, c_out, kernel, stride, padding, dilation };
            let [ho, wo] = g.output().unwrap();
            let x = lcg(batch * c_in * input[0] * input[1], seed as u64);
            let grad = lcg(batch * c_out * ho * wo, 100 + seed as u64);
            let got = weight_grad(&x, &grad, &g);
            let want = weight_grad_by_definition(&x, &grad, &g);
            assert_eq!(got.len(), want.len());
            let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "case {seed}: weight gradient max |Δ| {worst}");

            let weight = lcg(c_out * c_in * kernel[0] * kernel[1], 200 + seed as u64);
            let got = forward(&x, &weight, &g);
            let want = forward_by_definition(&x, &weight, &g);
            assert_eq!(got.len(), want.len());
            let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "case {seed}: output max |Δ| {worst}");
        }
    }
}
