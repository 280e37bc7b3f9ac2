#!/usr/bin/env python3
"""PyTorch counterpart of `cargo bench --bench train_step` (ulm-detr): one training step of
the `tiny` and `paper` DE-DETR presets in HuggingFace transformers, 2 threads.

The models are `DeformableDetrForObjectDetection` built from the same HF configs as
`scripts/hf_fixtures.py --time` (mirrors of our presets), in training mode, with HF's own
loss (Hungarian matcher with class cost 2 / L1 5 / GIoU 2, sigmoid focal loss, auxiliary
losses on every decoder layer, as our `CriterionConfig::deformable_detr()`), and **every
parameter trained**: transformers freezes its backbone by default (and its ResNet parameter
names never match its own unfreeze filter), so `requires_grad` is set on every parameter.

Batch 8 of 1x256x256 random patches with 10 small boxes (4-8 px) each. Rows, median of
`--reps` after 2 warm-up runs:

- `fwd_bwd/NAME`: forward + loss + backward (gradients zeroed before);
- `adamw/NAME`: `torch.optim.AdamW.step()` alone (lr 1e-4, weight decay 1e-4, eps 1e-8,
  torch's default implementation for CPU tensors);
- `train_step/NAME`: zero grads, forward + loss + backward, global gradient norm, AdamW step.

Usage (from the repository root):
    /work/venvs/torch/bin/python scripts/train_step_pytorch.py [--configs tiny,paper] [--reps 5]
"""

import argparse
import json
import os
import sys
import time

import torch
from transformers import DeformableDetrForObjectDetection

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_fixtures import presets  # noqa: E402

BATCH = 8
SIZE = 256
BOXES = 10


def batch(gen):
    x = torch.rand(BATCH, 1, SIZE, SIZE, generator=gen)
    labels = []
    for _ in range(BATCH):
        wh = (4 + 4 * torch.rand(BOXES, 2, generator=gen)) / SIZE
        c = 0.05 + 0.9 * torch.rand(BOXES, 2, generator=gen)
        labels.append({"class_labels": torch.zeros(BOXES, dtype=torch.long), "boxes": torch.cat([c, wh], 1)})
    return x, labels


def median_ms(fn, reps, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default="tiny,paper")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    x, labels = batch(gen)
    configs = presets(auxiliary_loss=True, class_cost=2)
    results = {}
    for name in args.configs.split(","):
        model = DeformableDetrForObjectDetection(configs[name]).train()
        params = list(model.parameters())
        for p in params:
            p.requires_grad_(True)
        n_params = sum(p.numel() for p in params)
        opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-4, eps=1e-8)

        def fwd_bwd():
            opt.zero_grad(set_to_none=True)
            out = model(pixel_values=x, labels=labels)
            assert torch.isfinite(out.loss)
            out.loss.backward()

        def step():
            fwd_bwd()
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params if p.grad is not None]))
            assert torch.isfinite(norm)
            opt.step()

        row = {}

        def report(key, ms):
            row[key] = ms
            print(f"{key}/{name:5} pytorch {ms:9.1f} ms", flush=True)

        report("fwd_bwd", median_ms(fwd_bwd, args.reps))
        # Only parameters the loss does not reach (e.g. the ResNet stage 4 that `tiny` does not
        # return) get no gradient.
        n_params = sum(p.numel() for p in params if p.grad is not None)
        print(f"{name}: {n_params / 1e6:.2f} M parameters trained, batch {BATCH}x1x{SIZE}x{SIZE}", flush=True)
        report("adamw", median_ms(opt.step, max(args.reps, 10)))
        report("train_step", median_ms(step, args.reps))
        results[name] = row
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "ms": results}))


if __name__ == "__main__":
    main()
