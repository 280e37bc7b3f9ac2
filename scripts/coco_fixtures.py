#!/usr/bin/env python3
"""Fixture for `ulm_eval::coco`: random ground-truth + detection sets and pycocotools' 12 stats.

Each set has 1-6 images of 256 x 256 px, 1-2 categories, ground-truth boxes of every size
class (tiny 3-8 px boxes like our microbubbles, small, medium, large), some crowd boxes,
images without ground truth, images without detections, and detections made of jittered
copies of the ground truth (near and far misses at every IoU), duplicates, pure false
positives and scores rounded to 0.05 (many ties). Coordinates are multiples of 0.25 px so
that IoUs land exactly on thresholds now and then. `COCOeval(..., 'bbox')` with default
parameters gives the expected stats.

Usage (venv with `pip install pycocotools numpy`):
    python scripts/coco_fixtures.py --out crates/ulm-eval/tests/fixtures/coco_pycocotools.json
"""
import argparse
import contextlib
import io
import json

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def q(v):
    """Round to a multiple of 0.25 px (exact in binary and in JSON)."""
    return float(np.round(v * 4) / 4)


def random_box(rng, size_class):
    lo, hi = {"tiny": (3, 8), "small": (8, 32), "medium": (32, 96), "large": (96, 200)}[size_class]
    w, h = rng.uniform(lo, hi, 2)
    x, y = rng.uniform(0, 256 - w), rng.uniform(0, 256 - h)
    return [q(x), q(y), max(q(w), 0.25), max(q(h), 0.25)]


def make_set(rng):
    n_img = int(rng.integers(1, 7))
    img_ids = sorted(rng.choice(np.arange(1, 50), n_img, replace=False).tolist())
    cats = [1] if rng.random() < 0.7 else [1, 2]
    classes = ["tiny", "small", "medium", "large"]
    p_class = rng.dirichlet(np.ones(4))
    gts, dts = [], []
    for im in img_ids:
        n_gt = 0 if rng.random() < 0.15 else int(rng.integers(1, 12))
        img_gts = []
        for _ in range(n_gt):
            b = random_box(rng, rng.choice(classes, p=p_class))
            crowd = int(rng.random() < 0.05)
            img_gts.append([im, int(rng.choice(cats)), *b, crowd])
        gts += img_gts
        if rng.random() < 0.15:
            continue  # an image without detections
        for g in img_gts:
            if rng.random() < 0.2:
                continue  # missed
            for _ in range(1 + int(rng.random() < 0.2)):  # sometimes a duplicate
                x, y, w, h = g[2:6]
                s = rng.uniform(0.0, 0.35)  # jitter as a fraction of the size
                b = [q(x + rng.normal(0, s) * w), q(y + rng.normal(0, s) * h),
                     max(q(w * np.exp(rng.normal(0, s))), 0.25), max(q(h * np.exp(rng.normal(0, s))), 0.25)]
                cat = g[1] if rng.random() < 0.9 else int(rng.choice(cats))
                dts.append([im, cat, *b, round(float(rng.integers(0, 21)) * 0.05, 2)])
        for _ in range(int(rng.poisson(2))):  # false positives
            b = random_box(rng, rng.choice(classes, p=p_class))
            dts.append([im, int(rng.choice(cats)), *b, round(float(rng.integers(0, 21)) * 0.05, 2)])
    if not dts:  # pycocotools' loadRes needs at least one result
        dts.append([img_ids[0], cats[0], *random_box(rng, "small"), 0.5])
    return {"images": img_ids, "categories": cats, "gt": gts, "dt": dts}


def pycoco_stats(s):
    gt = COCO()
    gt.dataset = {
        "images": [{"id": i, "width": 256, "height": 256} for i in s["images"]],
        "categories": [{"id": c, "name": f"c{c}"} for c in s["categories"]],
        "annotations": [{"id": k + 1, "image_id": g[0], "category_id": g[1], "bbox": g[2:6],
                         "area": g[4] * g[5], "iscrowd": g[6]} for k, g in enumerate(s["gt"])],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes([{"image_id": d[0], "category_id": d[1], "bbox": d[2:6], "score": d[6]} for d in s["dt"]])
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sets", type=int, default=300)
    ap.add_argument("--seed", type=int, default=9)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    sets = []
    for _ in range(a.sets):
        s = make_set(rng)
        s["stats"] = pycoco_stats(s)
        sets.append(s)
    import pycocotools
    doc = {"generator": "scripts/coco_fixtures.py", "seed": a.seed,
           "pycocotools": getattr(pycocotools, "__version__", "unknown"),
           "gt_row": "image_id, category_id, x, y, w, h, iscrowd (area = w*h)",
           "dt_row": "image_id, category_id, x, y, w, h, score", "sets": sets}
    with open(a.out, "w") as fh:
        # One set per line: small diffs, readable.
        fh.write("{\n")
        for k in ("generator", "seed", "pycocotools", "gt_row", "dt_row"):
            fh.write(f" {json.dumps(k)}: {json.dumps(doc[k])},\n")
        fh.write(' "sets": [\n')
        fh.write(",\n".join("  " + json.dumps(s, separators=(",", ":")) for s in sets))
        fh.write("\n ]\n}\n")
    n_gt = sum(len(s["gt"]) for s in sets)
    n_dt = sum(len(s["dt"]) for s in sets)
    n_img = sum(len(s["images"]) for s in sets)
    print(f"wrote {a.out}: {len(sets)} sets, {n_img} images, {n_gt} ground truths, {n_dt} detections")


if __name__ == "__main__":
    main()
