#!/usr/bin/env python3
"""Parity fixtures and CPU timings for `ulm-detr` from HuggingFace `transformers`.

Builds small, randomly initialised `DeformableDetrForObjectDetection` (plain,
with iterative box refinement, two-stage, several classes, 1 and 5 feature
levels, a timm ResNet-18 backbone) and `DetrForObjectDetection` models (plain,
`auxiliary_loss`) with no download (HF ResNet or timm backbones,
`use_pretrained_backbone=False`), perturbs every
parameter and buffer so that no weight keeps its structured initial value,
runs them in eval mode on a fixed grey image replicated to 3 channels and
writes, for each model, into `crates/ulm-detr/tests/fixtures/hf/<name>/`:

- `model.safetensors`: `model.state_dict()` under HF key names,
- `config.json`: the HF config,
- `io.safetensors`: `pixel_values` (the single-channel image, [b, 1, h, w]),
  `logits`, `pred_boxes` and per-decoder-layer outputs.

The timm fixture also holds `config_4x.json`, the same model described the way
transformers 4.x wrote it (`use_timm_backbone`, `backbone`, `backbone_kwargs`);
the script checks that transformers builds the same model from it.

`resolved_configs.json` lists sparse `config.json` files (fields left out) with
the values transformers 5 resolves for them (class count, backbone kind,
architecture and returned stages, sizes), for the loader's default-resolution
test. transformers asks the Hub whether a `backbone` name is a repository; this
script answers "no" offline, as the Hub does for timm names such as `resnet18`.

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

import timm
import torch
import transformers.backbone_utils
from safetensors.torch import save_file
from transformers import (
    DeformableDetrConfig,
    DeformableDetrForObjectDetection,
    DetrConfig,
    DetrForObjectDetection,
    ResNetConfig,
)

class _NoHub:
    """Offline stand-in for `hf_api()`: no timm model name is a Hub repository."""

    def repo_exists(self, name):
        return False


transformers.backbone_utils.hf_api = lambda: _NoHub()

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


def save(name, model, pixel_values, tensors, config_json=None):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    # Tied/aliased heads (HF ties `model.decoder.bbox_embed` to `bbox_embed` with box
    # refinement): drop the alias, as `save_pretrained` does, so the loader must
    # resolve it.
    state = {k: v for k, v in state.items() if not k.startswith("model.decoder.bbox_embed.")}
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    save_file(state, os.path.join(d, "model.safetensors"))
    if config_json is None:
        model.config.to_json_file(os.path.join(d, "config.json"))
    else:
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config_json, f, indent=2, sort_keys=True)
    io = {"pixel_values": pixel_values.contiguous()}
    io.update({k: v.detach().contiguous() for k, v in tensors.items()})
    save_file(io, os.path.join(d, "io.safetensors"))
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print(f"{name}: {len(state)} tensors, {size / 1024:.0f} KiB")


def deformable(name, gen, with_box_refine=False, two_stage=False, cfg=None, shape=(2, 64, 80), extra=None):
    if cfg is None:
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
    grey = grey_input(gen, *shape)
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
    if extra is not None:
        extra(name, model, grey, out)
    return model


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


def tiny_resnet(out_features):
    """A 4-stage basic-block ResNet, widths 8..16, one block per stage (new fixtures)."""
    return ResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 8, 16, 16],
        depths=[1, 1, 1, 1],
        layer_type="basic",
        out_features=out_features,
    )


def small_deformable(**kw):
    """Deformable DETR with a d_model of 32 (GroupNorm(32, d) needs a multiple of 32)."""
    args = dict(
        use_pretrained_backbone=False,
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=4,
        encoder_ffn_dim=16,
        decoder_ffn_dim=24,
        encoder_n_points=2,
        decoder_n_points=3,
        num_queries=7,
    )
    args.update(kw)
    return DeformableDetrConfig(**args)


def timm_extra(name, model, grey, out):
    """Writes `config_4x.json` and checks transformers builds the same model from it."""
    d = os.path.join(OUT, name)
    cfg5 = json.loads(model.config.to_json_string())
    bb = cfg5.pop("backbone_config")
    assert bb["model_type"] == "timm_backbone", bb
    cfg4 = dict(cfg5)
    cfg4.update(
        use_timm_backbone=True,
        backbone=bb["backbone"],
        backbone_kwargs={"out_indices": bb["out_indices"], "in_chans": 3},
        backbone_config=None,
        transformers_version="4.46.0",
    )
    with open(os.path.join(d, "config_4x.json"), "w") as f:
        json.dump(cfg4, f, indent=2, sort_keys=True)
    m4 = DeformableDetrForObjectDetection(DeformableDetrConfig.from_dict(cfg4)).eval()
    m4.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        out4 = m4(pixel_values=grey.repeat(1, 3, 1, 1))
    assert torch.equal(out4.logits, out.logits) and torch.equal(out4.pred_boxes, out.pred_boxes)


def detr_aux(name, gen):
    """DETR with `auxiliary_loss`: the decoder normalises between layers."""
    cfg = DetrConfig(
        use_timm_backbone=False,
        use_pretrained_backbone=False,
        backbone=None,
        backbone_config=tiny_resnet(["stage3"]),
        d_model=24,
        encoder_layers=1,
        decoder_layers=3,
        encoder_attention_heads=2,
        decoder_attention_heads=3,
        encoder_ffn_dim=16,
        decoder_ffn_dim=20,
        num_queries=6,
        num_labels=4,
        auxiliary_loss=True,
    )
    model = DetrForObjectDetection(cfg).eval()
    perturb(model, gen)
    grey = grey_input(gen, 3, 40, 56)
    with torch.no_grad():
        out = model(pixel_values=grey.repeat(1, 3, 1, 1))
        inner = model.model(pixel_values=grey.repeat(1, 3, 1, 1))
        # [layers, b, q, d] -> [b, layers, q, d]
        hs = inner.intermediate_hidden_states.transpose(0, 1)
        aux_logits = model.class_labels_classifier(hs)
        aux_boxes = model.bbox_predictor(hs).sigmoid()
    # The model output is the last layer normalised once more, not the last intermediate.
    assert not torch.allclose(aux_logits[:, -1], out.logits, atol=1e-4)
    tensors = {
        "logits": out.logits,
        "pred_boxes": out.pred_boxes,
        "aux_logits": aux_logits,
        "aux_boxes": aux_boxes,
        "encoder_last_hidden_state": out.encoder_last_hidden_state,
    }
    save(name, model, grey, tensors)


def resolved_configs():
    """Sparse config.json files and what transformers 5 resolves them to."""
    cases = [
        ("deformable", {}),
        ("deformable", {"num_feature_levels": 1}),
        ("deformable", {"use_timm_backbone": False}),
        ("deformable", {"use_timm_backbone": True, "backbone": "resnet18",
                        "backbone_kwargs": {"out_indices": [1, 2], "in_chans": 3}}),
        ("deformable", {"backbone": "resnet34", "backbone_kwargs": {}}),
        ("deformable", {"backbone": "resnet50", "backbone_kwargs": {"in_chans": 1}}),
        ("deformable", {"backbone_config": {"model_type": "resnet", "layer_type": "basic", "depths": [1, 1, 1, 1],
                                            "hidden_sizes": [8, 16, 32, 64], "out_features": ["stage1", "stage3"]},
                        "num_labels": 5}),
        ("deformable", {"backbone_config": {"model_type": "resnet", "out_indices": [2, 4]}}),
        ("deformable", {"backbone_config": {"model_type": "timm_backbone", "backbone": "resnet101",
                                            "out_indices": [2, 3, 4]},
                        "id2label": {"0": "a", "1": "b", "2": "c"}}),
        ("deformable", {"backbone_config": {"model_type": "timm_backbone", "backbone": "resnet50"}}),
        ("deformable", {"use_timm_backbone": False, "backbone_kwargs": {"out_indices": [2, 3, 4]}}),
        ("deformable", {"num_labels": 7, "id2label": {"0": "x"}}),
        ("deformable", {"num_labels": 3, "d_model": 64, "encoder_layers": 1, "two_stage": True,
                        "with_box_refine": True, "two_stage_num_proposals": 50}),
        ("detr", {}),
        ("detr", {"use_timm_backbone": False}),
        ("detr", {"backbone": "resnet18", "backbone_kwargs": {"out_indices": [1, 2, 3], "in_chans": 3}}),
        ("detr", {"backbone_config": {"model_type": "resnet", "out_features": ["stage2", "stage3"]},
                  "auxiliary_loss": True, "num_labels": 91}),
    ]
    out = []
    for family, raw in cases:
        cls = DeformableDetrConfig if family == "deformable" else DetrConfig
        cfg = cls.from_dict(dict(raw))
        bb = cfg.backbone_config
        if bb.model_type == "timm_backbone":
            m = timm.create_model(bb.backbone, pretrained=False, features_only=True, out_indices=(1, 2, 3, 4))
            layers = [m.layer1, m.layer2, m.layer3, m.layer4]
            arch = {
                "embedding_size": m.conv1.out_channels,
                "hidden_sizes": [int(c) for c in m.feature_info.channels()],
                "depths": [len(layer) for layer in layers],
                "block": "basic" if type(layers[0][0]).__name__ == "BasicBlock" else "bottleneck",
            }
            stages = [i % 5 for i in bb.out_indices]
        else:
            arch = {
                "embedding_size": bb.embedding_size,
                "hidden_sizes": list(bb.hidden_sizes),
                "depths": list(bb.depths),
                "block": bb.layer_type,
            }
            stages = list(bb.out_indices)
        resolved = {
            "num_labels": cfg.num_labels,
            "backbone_kind": bb.model_type,
            "backbone_stages": stages,
            **{f"backbone_{k}": v for k, v in arch.items()},
        }
        keys = ["d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads", "decoder_attention_heads",
                "encoder_ffn_dim", "decoder_ffn_dim", "num_queries", "dropout", "activation_dropout",
                "attention_dropout"]
        if family == "deformable":
            keys += ["num_feature_levels", "encoder_n_points", "decoder_n_points", "two_stage", "with_box_refine",
                     "two_stage_num_proposals"]
        else:
            keys += ["auxiliary_loss"]
        resolved.update({k: getattr(cfg, k) for k in keys})
        out.append({"family": family, "config": raw, "resolved": resolved})
    path = os.path.join(OUT, "resolved_configs.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    print(f"resolved_configs.json: {len(out)} cases")


def presets(**overrides):
    """HF configs mirroring our `DeformableDetrConfig::tiny()` / `::paper()` presets
    (`overrides` applied to both; also used by `scripts/train_step_pytorch.py`)."""
    configs = {
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
    for cfg in configs.values():
        for key, value in overrides.items():
            setattr(cfg, key, value)
    return configs


def timing():
    torch.set_num_threads(2)
    presets_ = presets()
    results = {}
    for name, cfg in presets_.items():
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
    # Fixtures of issue 15: tiny widths (the backbone stages 8..16 wide).
    deformable(
        "deformable_detr_classes",
        gen,
        cfg=small_deformable(
            use_timm_backbone=False,
            backbone_config=tiny_resnet(["stage2", "stage3", "stage4"]),
            num_feature_levels=4,
            with_box_refine=True,
            id2label={0: "bubble", 1: "cluster", 2: "artefact"},
        ),
        shape=(3, 48, 72),
    )
    m = deformable(
        "deformable_detr_1level",
        gen,
        # Two classes: transformers writes neither `num_labels` nor `id2label`.
        cfg=small_deformable(use_timm_backbone=False, backbone_config=tiny_resnet(["stage3"]), num_feature_levels=1),
        shape=(2, 40, 56),
    )
    written = json.load(open(os.path.join(OUT, "deformable_detr_1level", "config.json")))
    assert "num_labels" not in written and "id2label" not in written, written.keys()
    deformable(
        "deformable_detr_5levels",
        gen,
        cfg=small_deformable(
            use_timm_backbone=False,
            backbone_config=tiny_resnet(["stage1", "stage2", "stage3"]),
            num_feature_levels=5,
            num_labels=1,
            two_stage=True,
            with_box_refine=True,
            two_stage_num_proposals=9,
        ),
        shape=(2, 96, 112),
    )
    deformable(
        "deformable_detr_timm",
        gen,
        # transformers 5 turns these 4.x-style arguments into a `timm_backbone` sub-config.
        cfg=small_deformable(
            use_timm_backbone=True,
            backbone="resnet18",
            backbone_kwargs={"out_indices": [1], "in_chans": 3},
            num_feature_levels=2,
            num_labels=1,
        ),
        shape=(2, 32, 48),
        extra=timm_extra,
    )
    detr_aux("detr_aux", gen)
    resolved_configs()


if __name__ == "__main__":
    main()
