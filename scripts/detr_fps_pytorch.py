"""Frames/s of the shipped DE-DETR architecture in PyTorch/transformers, for `ulm localize`'s figure.

Same work as `ulm localize --method de-detr` on a 256×208 frame: the frame is tiled into
128×128 patches with an overlap of patch/8 (the localizer's default `TileGrid`: 3×2 = 6
tiles), tiles are batched 16 at a time, and each batch goes through HuggingFace
`DeformableDetrForObjectDetection` with the shipped model's architecture (`tiny`: narrow
ResNet with basic blocks, widths 16–128, strides 4/8/16; d 64, 2+2 layers, 4 heads, 4
points, 3 levels; two-stage with box refinement, 100 queries) and
`post_process_object_detection`. Weights are random: the cost does not depend on them.
2 threads, as on the CI machine. Not part of CI (needs torch):

    /work/venvs/torch/bin/python scripts/detr_fps_pytorch.py [--frames 60] [--rows 256 --cols 208]
"""

import argparse
import math
import time

import os
import sys

import torch
from transformers import DeformableDetrForObjectDetection

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_fixtures import presets  # noqa: E402


def tiles_per_axis(length, patch, overlap):
    if length <= patch:
        return 1
    return math.ceil((length - patch) / (patch - overlap)) + 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--cols", type=int, default=208)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # Our `tiny` preset (hf_fixtures.presets) with the shipped model's options.
    cfg = presets(
        num_queries=100, two_stage=True, two_stage_num_proposals=100, with_box_refine=True, dropout=0.0
    )["tiny"]
    model = DeformableDetrForObjectDetection(cfg).eval()
    overlap = args.patch // 8
    per_frame = tiles_per_axis(args.rows, args.patch, overlap) * tiles_per_axis(args.cols, args.patch, overlap)
    total_tiles = per_frame * args.frames
    tiles = torch.randn(args.batch, 1, args.patch, args.patch)
    sizes = torch.tensor([[args.patch, args.patch]] * args.batch)

    def run(n_tiles):
        done = 0
        while done < n_tiles:
            b = min(args.batch, n_tiles - done)
            with torch.no_grad():
                out = model(pixel_values=tiles[:b])
                # transformers 5 reads logits/pred_boxes only; keep the batch's sizes
                _ = post_process(out, sizes[:b])
            done += b

    run(args.batch)  # warm-up
    t0 = time.perf_counter()
    run(total_tiles)
    dt = time.perf_counter() - t0
    print(
        f"pytorch {torch.__version__}, {args.threads} threads: {args.frames} frames of {args.rows}x{args.cols}"
        f" ({per_frame} tiles of {args.patch}² each, batch {args.batch}) in {dt:.2f} s:"
        f" {args.frames / dt:.2f} frames/s"
    )


def post_process(out, sizes, top_k=100):
    """`post_process_object_detection` of transformers' Deformable DETR (sigmoid, top-k over
    queries × classes, boxes scaled to the tile), written out so it does not depend on an
    image processor."""
    prob = out.logits.sigmoid()
    b, q, c = prob.shape
    scores, idx = prob.view(b, -1).topk(min(top_k, q * c), dim=1)
    boxes = torch.gather(out.pred_boxes, 1, (idx // c).unsqueeze(-1).repeat(1, 1, 4))
    h, w = sizes.unbind(1)
    return boxes * torch.stack([w, h, w, h], dim=1)[:, None, :], scores


if __name__ == "__main__":
    main()
