#!/usr/bin/env python3
"""Parity fixtures and CPU timings for `ulm-detr` from HuggingFace `transformers`.

Builds small, randomly initialised `DeformableDetrForObjectDetection` (plain,
with iterative box refinement) and `DetrForObjectDetection` models (no
download: HF ResNet backbone, `use_pretrained_backbone=False`), perturbs every
parameter and buffer so that no weight keeps its structured initial value,
runs them in eval mode on a fixed grey image replicated to 3 channels and
writes, for each model, into `crates/ulm-detr/tests/fixtures/hf/<name>/`:

- `model.safetensors`: `model.state_dict()` under HF key names,
- `config.json`: the HF config,
- `io.safetensors`: `pixel_values` (the single-channel image, [b, 1, h, w]),
  `logits`, `pred_boxes` and per-decoder-layer outputs.

With `--time` it also times the forward pass of the `tiny` and `paper`
DE-DETR presets on a 1x1x256x256 input with `torch.set_num_threads(2)`.

Usage (from the repository root, in a venv with torch, transformers, safetensors):
    python scripts/hf_fixtures.py            # write fixtures
    python scripts/hf_fixtures.py --time     # timings only
"""

import argparse
import json
import os
import time

import torch
from safetensors.torch import save_file
from transformers import (
    DeformableDetrConfig,
    DeformableDetrForObjectDetection,
    DetrConfig,
    DetrForObjectDetection,
    ResNetConfig,
)

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "ulm-detr", "tests", "fixtures", "hf")


def small_resnet(out_features, num_channels=3):
    """A 4-stage basic-block ResNet, widths 8..64, one block per stage."""
    return ResNetConfig(
        num_channels=num_channels,
        embedding_size=8,
        hidden_sizes=[8, 16, 32, 64],
        depths=[1, 2, 1, 1],
        layer_type="basic",
        out_features=out_features,
    )


def perturb(model, gen):
    """Move every parameter and buffer away from its structured initial value."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
        for name, b in model.named_buffers():
            if name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen))
            elif name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=gen))
            elif b.is_floating_point():
                b.add_(0.05 * torch.randn(b.shape, generator=gen))


def grey_input(gen, batch=2, height=64, width=80):
    """Smooth random blobs on a noisy background: [b, 1, h, w]."""
    img = 0.1 * torch.randn(batch, 1, height, width, generator=gen)
    yy, xx = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    for b in range(batch):
        for _ in range(6):
            cy = float(torch.rand(1, generator=gen)) * height
            cx = float(torch.rand(1, generator=gen)) * width
            img[b, 0] += torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0)
    return img


def inverse_sigmoid(x, eps=1e-5):
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def save(name, model, pixel_values, tensors):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    # Tied/aliased heads (HF ties `model.decoder.bbox_embed` to `bbox_embed` with box
    # refinement): drop the alias, as `save_pretrained` does, so the loader must
    # resolve it.
    state = {k: v for k, v in state.items() if not k.startswith("model.decoder.bbox_embed.")}
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    save_file(state, os.path.join(d, "model.safetensors"))
    model.config.to_json_file(os.path.join(d, "config.json"))
    io = {"pixel_values": pixel_values.contiguous()}
    io.update({k: v.detach().contiguous() for k, v in tensors.items()})
    save_file(io, os.path.join(d, "io.safetensors"))
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print(f"{name}: {len(state)} tensors, {size / 1024:.0f} KiB")


def deformable(name, gen, with_box_refine=False, two_stage=False):
    cfg = DeformableDetrConfig(
        use_timm_backbone=False,
        use_pretrained_backbone=False,
        backbone=None,
        backbone_config=small_resnet(["stage2", "stage3", "stage4"]),
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=48,
        num_feature_levels=4,
        encoder_n_points=3,
        decoder_n_points=2,
        num_queries=10,
        num_labels=1,
        with_box_refine=with_box_refine,
        two_stage=two_stage,
        two_stage_num_proposals=10,
    )
    model = DeformableDetrForObjectDetection(cfg).eval()
    perturb(model, gen)
    grey = grey_input(gen)
    with torch.no_grad():
        out = model(pixel_values=grey.repeat(1, 3, 1, 1))
        # Per-layer outputs, computed as the HF head loop does.
        hs = out.intermediate_hidden_states
        aux_logits, aux_boxes = [], []
        for lvl in range(hs.shape[1]):
            ref = out.init_reference_points if lvl == 0 else out.intermediate_reference_points[:, lvl - 1]
            ref = inverse_sigmoid(ref)
            delta = model.bbox_embed[lvl](hs[:, lvl])
            if ref.shape[-1] == 4:
                coord = delta + ref
            else:
                coord = torch.cat([delta[..., :2] + ref, delta[..., 2:]], -1)
            aux_logits.append(model.class_embed[lvl](hs[:, lvl]))
            aux_boxes.append(coord.sigmoid())
    tensors = {
        "logits": out.logits,
        "pred_boxes": out.pred_boxes,
        "aux_logits": torch.stack(aux_logits, 1),
        "aux_boxes": torch.stack(aux_boxes, 1),
        "encoder_last_hidden_state": out.encoder_last_hidden_state,
        "init_reference_points": out.init_reference_points,
    }
    assert torch.allclose(tensors["aux_logits"][:, -1], out.logits, atol=1e-6)
    assert torch.allclose(tensors["aux_boxes"][:, -1], out.pred_boxes, atol=1e-6)
    save(name, model, grey, tensors)


def detr(name, gen):
    cfg = DetrConfig(
        use_timm_backbone=False,
        use_pretrained_backbone=False,
        backbone=None,
        backbone_config=small_resnet(["stage4"]),
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=48,
        num_queries=10,
        num_labels=1,
        auxiliary_loss=False,
    )
    model = DetrForObjectDetection(cfg).eval()
    perturb(model, gen)
    grey = grey_input(gen)
    with torch.no_grad():
        out = model(pixel_values=grey.repeat(1, 3, 1, 1))
    tensors = {
        "logits": out.logits,
        "pred_boxes": out.pred_boxes,
        "encoder_last_hidden_state": out.encoder_last_hidden_state,
    }
    save(name, model, grey, tensors)


def timing():
    torch.set_num_threads(2)
    presets = {
        # Mirrors `DeformableDetrConfig::tiny()` in ulm-detr.
        "tiny": DeformableDetrConfig(
            use_timm_backbone=False,
            use_pretrained_backbone=False,
            backbone=None,
            backbone_config=ResNetConfig(
                num_channels=1,
                embedding_size=16,
                hidden_sizes=[16, 32, 64, 128],
                depths=[1, 1, 1, 1],
                layer_type="basic",
                out_features=["stage1", "stage2", "stage3"],
            ),
            d_model=64,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=128,
            decoder_ffn_dim=128,
            num_feature_levels=3,
            encoder_n_points=4,
            decoder_n_points=4,
            num_queries=16,
            num_labels=1,
        ),
        # Mirrors `DeformableDetrConfig::paper()`: ResNet-50, d=256, 2+2 layers.
        "paper": DeformableDetrConfig(
            use_timm_backbone=False,
            use_pretrained_backbone=False,
            backbone=None,
            backbone_config=ResNetConfig(num_channels=1, out_features=["stage2", "stage3", "stage4"]),
            d_model=256,
            encoder_layers=2,
            decoder_layers=2,
            num_queries=300,
            num_labels=1,
            dropout=0.2,
        ),
    }
    results = {}
    for name, cfg in presets.items():
        model = DeformableDetrForObjectDetection(cfg).eval()
        x = torch.randn(1, 1, 256, 256)
        with torch.no_grad():
            for _ in range(2):
                model(pixel_values=x)
            n = 10 if name == "tiny" else 5
            t0 = time.perf_counter()
            for _ in range(n):
                model(pixel_values=x)
            dt = (time.perf_counter() - t0) / n
        results[name] = dt * 1e3
        print(f"pytorch deformable_detr/{name} 1x1x256x256, 2 threads: {dt * 1e3:.1f} ms/forward")
    print(json.dumps({"torch": torch.__version__, "ms": results}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--time", action="store_true", help="time tiny/paper presets instead of writing fixtures")
    args = ap.parse_args()
    if args.time:
        timing()
        return
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    deformable("deformable_detr", gen)
    deformable("deformable_detr_refine", gen, with_box_refine=True)
    deformable("deformable_detr_two_stage", gen, with_box_refine=True, two_stage=True)
    detr("detr", gen)


if __name__ == "__main__":
    main()
