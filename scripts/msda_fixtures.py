#!/usr/bin/env python3
"""Parity fixtures and CPU timings for `ulm-detr`'s multi-scale deformable attention.

The sampling core below is the pure-PyTorch reference of Deformable DETR
(`ms_deform_attn_core_pytorch` in the official `models/ops/functions/ms_deform_attn_func.py`),
and `msdeformattn_forward` follows the official `MSDeformAttn.forward`
(`models/ops/modules/ms_deform_attn.py`) with that core in place of the CUDA op.
Writes into `crates/ulm-detr/tests/fixtures/msda/`:

- `core.safetensors`: random `value`, `sampling_locations` (a quarter of them outside [0, 1]),
  `attention_weights`, `spatial_shapes`, an output cotangent `grad_output`, the core's
  `output` and, by autograd of `sum(output * grad_output)`, `grad_value`,
  `grad_sampling_locations`, `grad_attention_weights`.
- `module.safetensors`: the four projections of a small `MSDeformAttn` (PyTorch layout,
  weight `[out, in]`, random non-structured values), `query`, `input_flatten`,
  `input_padding_mask` (as 0/1 u8), `reference_points_2`, `reference_points_4`,
  `spatial_shapes`, and the outputs `output_2` / `output_4` for the two kinds of reference
  points; plus `init_sampling_offsets_bias` from the official `_reset_parameters` for
  (n_heads 8, n_levels 4, n_points 4).

With `--time` it times the core (forward, forward+backward) at the benchmark sizes of
`crates/ulm-detr/benches/ms_deform_attn.rs` with `torch.set_num_threads(2)`.

Usage (from the repository root, in a venv with torch and safetensors):
    python scripts/msda_fixtures.py          # write fixtures
    python scripts/msda_fixtures.py --time   # timings only
"""

import argparse
import math
import os
import time

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join("crates", "ulm-detr", "tests", "fixtures", "msda")


def ms_deform_attn_core_pytorch(value, value_spatial_shapes, sampling_locations, attention_weights):
    """The reference's pure-PyTorch sampling core (grid_sample, zeros, align_corners=False)."""
    n, _, m, d = value.shape
    _, lq, m, levels, points, _ = sampling_locations.shape
    value_list = value.split([h * w for h, w in value_spatial_shapes], dim=1)
    sampling_grids = 2 * sampling_locations - 1
    sampling_value_list = []
    for lid, (h, w) in enumerate(value_spatial_shapes):
        # n, h*w, m, d -> n, h*w, m*d -> n, m*d, h*w -> n*m, d, h, w
        value_l = value_list[lid].flatten(2).transpose(1, 2).reshape(n * m, d, h, w)
        # n, lq, m, points, 2 -> n, m, lq, points, 2 -> n*m, lq, points, 2
        grid_l = sampling_grids[:, :, :, lid].transpose(1, 2).flatten(0, 1)
        # n*m, d, lq, points
        sampling_value_list.append(
            F.grid_sample(value_l, grid_l, mode="bilinear", padding_mode="zeros", align_corners=False)
        )
    # (n, lq, m, levels, points) -> (n, m, lq, levels, points) -> (n*m, 1, lq, levels*points)
    attention_weights = attention_weights.transpose(1, 2).reshape(n * m, 1, lq, levels * points)
    output = (
        (torch.stack(sampling_value_list, dim=-2).flatten(-2) * attention_weights)
        .sum(-1)
        .view(n, m * d, lq)
    )
    return output.transpose(1, 2).contiguous()


def init_sampling_offsets_bias(n_heads, n_levels, n_points):
    """The official `MSDeformAttn._reset_parameters` bias of `sampling_offsets`."""
    thetas = torch.arange(n_heads, dtype=torch.float32) * (2.0 * math.pi / n_heads)
    grid_init = torch.stack([thetas.cos(), thetas.sin()], -1)
    grid_init = (
        (grid_init / grid_init.abs().max(-1, keepdim=True)[0])
        .view(n_heads, 1, 1, 2)
        .repeat(1, n_levels, n_points, 1)
    )
    for i in range(n_points):
        grid_init[:, :, i, :] *= i + 1
    return grid_init.view(-1)


def msdeformattn_forward(p, cfg, query, reference_points, input_flatten, spatial_shapes, padding_mask):
    """The official `MSDeformAttn.forward` with the pure-PyTorch core."""
    d_model, n_levels, n_heads, n_points = cfg
    n, len_q, _ = query.shape
    _, len_in, _ = input_flatten.shape
    lin = lambda x, name: F.linear(x, p[name + ".weight"], p[name + ".bias"])  # noqa: E731
    value = lin(input_flatten, "value_proj")
    if padding_mask is not None:
        value = value.masked_fill(padding_mask[..., None], float(0))
    value = value.view(n, len_in, n_heads, d_model // n_heads)
    offsets = lin(query, "sampling_offsets").view(n, len_q, n_heads, n_levels, n_points, 2)
    weights = lin(query, "attention_weights").view(n, len_q, n_heads, n_levels * n_points)
    weights = F.softmax(weights, -1).view(n, len_q, n_heads, n_levels, n_points)
    shapes = torch.tensor(spatial_shapes, dtype=torch.long)
    if reference_points.shape[-1] == 2:
        normalizer = torch.stack([shapes[..., 1], shapes[..., 0]], -1)
        locations = (
            reference_points[:, :, None, :, None, :]
            + offsets / normalizer[None, None, None, :, None, :]
        )
    else:
        locations = (
            reference_points[:, :, None, :, None, :2]
            + offsets / n_points * reference_points[:, :, None, :, None, 2:] * 0.5
        )
    output = ms_deform_attn_core_pytorch(value, spatial_shapes, locations, weights)
    return lin(output, "output_proj")


def core_fixture(gen):
    shapes = [[6, 5], [3, 4], [2, 2], [1, 3]]
    n, m, d, lq, points = 2, 3, 4, 7, 2
    len_in = sum(h * w for h, w in shapes)
    levels = len(shapes)
    value = torch.randn(n, len_in, m, d, generator=gen)
    loc = torch.rand(n, lq, m, levels, points, 2, generator=gen) * 1.5 - 0.25
    weights = torch.rand(n, lq, m, levels, points, generator=gen)
    grad_output = torch.randn(n, lq, m * d, generator=gen)
    leaves = [t.clone().requires_grad_(True) for t in (value, loc, weights)]
    output = ms_deform_attn_core_pytorch(leaves[0], shapes, leaves[1], leaves[2])
    (output * grad_output).sum().backward()
    outside = ((loc < 0) | (loc > 1)).float().mean().item()
    assert outside > 0.15, outside
    return {
        "value": value,
        "sampling_locations": loc,
        "attention_weights": weights,
        "spatial_shapes": torch.tensor(shapes, dtype=torch.int64),
        "grad_output": grad_output,
        "output": output.detach(),
        "grad_value": leaves[0].grad,
        "grad_sampling_locations": leaves[1].grad,
        "grad_attention_weights": leaves[2].grad,
    }


def module_fixture(gen):
    d_model, n_levels, n_heads, n_points = 16, 2, 2, 3
    cfg = (d_model, n_levels, n_heads, n_points)
    shapes = [[5, 6], [3, 3]]
    n, len_q = 2, 4
    len_in = sum(h * w for h, w in shapes)
    outs = {
        "sampling_offsets": n_heads * n_levels * n_points * 2,
        "attention_weights": n_heads * n_levels * n_points,
        "value_proj": d_model,
        "output_proj": d_model,
    }
    p = {}
    for name, d_out in outs.items():
        # Large enough that offsets move samples by pixels and weights are far from uniform.
        p[name + ".weight"] = torch.randn(d_out, d_model, generator=gen) * 0.3
        p[name + ".bias"] = torch.randn(d_out, generator=gen) * 0.3
    query = torch.randn(n, len_q, d_model, generator=gen)
    input_flatten = torch.randn(n, len_in, d_model, generator=gen)
    mask = torch.zeros(n, len_in, dtype=torch.bool)
    mask[1, 20:] = True
    ref2 = torch.rand(n, len_q, n_levels, 2, generator=gen)
    ref4 = torch.cat(
        [torch.rand(n, len_q, n_levels, 2, generator=gen), torch.rand(n, len_q, n_levels, 2, generator=gen) * 0.5 + 0.1],
        -1,
    )
    with torch.no_grad():
        out2 = msdeformattn_forward(p, cfg, query, ref2, input_flatten, shapes, mask)
        out4 = msdeformattn_forward(p, cfg, query, ref4, input_flatten, shapes, mask)
    tensors = dict(p)
    tensors.update(
        {
            "query": query,
            "input_flatten": input_flatten,
            "input_padding_mask": mask.to(torch.uint8),
            "reference_points_2": ref2,
            "reference_points_4": ref4,
            "spatial_shapes": torch.tensor(shapes, dtype=torch.int64),
            "output_2": out2,
            "output_4": out4,
            "init_sampling_offsets_bias": init_sampling_offsets_bias(8, 4, 4),
        }
    )
    return tensors


def bench_inputs(len_q, gen):
    shapes = [[64, 64], [32, 32], [16, 16], [8, 8]]
    n, m, d, levels, points = 1, 8, 32, 4, 4
    len_in = sum(h * w for h, w in shapes)
    value = torch.randn(n, len_in, m, d, generator=gen)
    loc = torch.rand(n, len_q, m, levels, points, 2, generator=gen) * 1.2 - 0.1
    weights = torch.rand(n, len_q, m, levels, points, generator=gen)
    return shapes, value, loc, weights


def time_it(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def run_timings():
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, median of runs")
    for case, len_q in (("decoder", 300), ("encoder", 5440)):
        shapes, value, loc, weights = bench_inputs(len_q, gen)
        reps = 10 if len_q < 1000 else 5

        def fwd():
            with torch.no_grad():
                ms_deform_attn_core_pytorch(value, shapes, loc, weights)

        def fwd_bwd():
            v, l, w = (t.clone().requires_grad_(True) for t in (value, loc, weights))
            ms_deform_attn_core_pytorch(v, shapes, l, w).sum().backward()

        print(f"ms_deform_attn/{case}/pytorch_fwd      {time_it(fwd, reps) * 1e3:9.2f} ms (len_q {len_q})")
        print(f"ms_deform_attn/{case}/pytorch_fwd_bwd  {time_it(fwd_bwd, reps) * 1e3:9.2f} ms (len_q {len_q})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", action="store_true", help="time the PyTorch core instead")
    args = parser.parse_args()
    if args.time:
        run_timings()
        return
    gen = torch.Generator().manual_seed(20240607)
    os.makedirs(OUT, exist_ok=True)
    for name, tensors in (("core", core_fixture(gen)), ("module", module_fixture(gen))):
        path = os.path.join(OUT, f"{name}.safetensors")
        save_file({k: v.contiguous() for k, v in tensors.items()}, path)
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
