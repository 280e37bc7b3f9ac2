#!/usr/bin/env python3
"""Parity and timing of `ulm track` against trackpy 0.7 (no predictor), CSV and Parquet.

Links the same localizations with trackpy's `link` and with `ulm track --predictor none
--no-speed-rejection --min-length 1` (same search range and memory), compares the sets of
links (pairs of consecutive points of a track, keyed by input row), explains each
difference, and times both on the same input.

Usage (venv with `pip install trackpy==0.7 pandas numpy pyarrow`):
    python scripts/trackpy_parity.py --ulm target/release/ulm --frames 1000 --out /tmp/parity
    python scripts/trackpy_parity.py --ulm target/release/ulm --frames 1000 --per-frame 138  # ~131k rows
    python scripts/trackpy_parity.py --ulm ... --locs sim/gt.csv --meta sim/meta.json ...
    python scripts/trackpy_parity.py --fixture crates/ulm-track/tests/fixtures  # small fixture

Without --locs a synthetic set is generated (seeded): bubbles on smooth random paths
(0.02–0.1 mm/frame) in a 10 × 10 mm field, 5 µm localization noise, 5 % missed
detections (so memory matters), births and deaths; every frame is non-empty (trackpy
counts memory in present frames, ulm in frame numbers: identical when none is empty).

Timing (best of --repeats): trackpy on `tp.link` of an in-memory DataFrame; ulm both on
its linking alone (the time `ulm -v track` logs: in-memory table to tracks, like with
like) and on the whole CLI process (reading, linking, writing), once with CSV input and
output and once with the same table as Parquet (written by pyarrow, snappy; ulm writes the
tracks as Parquet, which pandas reads back for the parity check).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import trackpy as tp


def synthetic(frames, per_frame, seed, field_mm=10.0):
    rng = np.random.default_rng(seed)
    rows = []
    n = per_frame
    pos = rng.uniform(0, field_mm, (n, 2))
    ang = rng.uniform(0, 2 * np.pi, n)
    speed = rng.uniform(0.02, 0.1, n)
    turn = rng.normal(0, 0.05, n)
    for f in range(frames):
        # deaths (mean life 40 frames) and leaving the field -> rebirth elsewhere
        dead = (rng.random(n) < 1 / 40) | (pos < 0).any(1) | (pos > field_mm).any(1)
        k = dead.sum()
        pos[dead] = rng.uniform(0, field_mm, (k, 2))
        ang[dead] = rng.uniform(0, 2 * np.pi, k)
        speed[dead] = rng.uniform(0.02, 0.1, k)
        turn[dead] = rng.normal(0, 0.05, k)
        seen = rng.random(n) > 0.05
        noisy = pos + rng.normal(0, 0.005, (n, 2))
        for i in np.flatnonzero(seen):
            rows.append((f, noisy[i, 0], noisy[i, 1]))
        ang += turn
        pos += speed[:, None] * np.stack([np.cos(ang), np.sin(ang)], 1)
    df = pd.DataFrame(rows, columns=["frame", "x_mm", "z_mm"])
    assert df.frame.nunique() == frames
    return df


def links_from_ids(frame, ids):
    """Set of (row_a, row_b): consecutive rows of the same track (rows sorted by frame)."""
    order = np.lexsort((frame, ids))
    out = set()
    for a, b in zip(order[:-1], order[1:]):
        if ids[a] == ids[b]:
            out.add((int(a), int(b)))
    return out


def run_trackpy(df, search_range, memory):
    t0 = time.perf_counter()
    linked = tp.link(df, search_range, memory=memory, pos_columns=["x_mm", "z_mm"], t_column="frame")
    secs = time.perf_counter() - t0
    linked = linked.sort_index()
    return linked["particle"].to_numpy(), secs


def run_ulm(ulm, csv_path, meta_path, out_dir, search_range, memory, ext="csv"):
    tracks = os.path.join(out_dir, f"ulm_tracks.{ext}")
    cmd = [ulm, "-v", "track", csv_path, "--meta", meta_path, "--search-range-mm", repr(search_range),
           "--memory", str(memory), "--min-length", "1", "--predictor", "none", "--no-speed-rejection",
           "--out", tracks]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    m = re.search(r"linking took ([0-9.]+) s", res.stderr)
    table = pd.read_parquet(tracks) if ext == "parquet" else pd.read_csv(tracks)
    return table, secs, float(m.group(1))


def nm(v):
    """Positions in whole nanometres: ulm's tracks CSV rounds them to 1e-6 mm."""
    return np.rint(np.asarray(v) * 1e6).astype(np.int64)


def ulm_ids(df, tracks):
    """Track id of each input row, matched by (frame, x, z) to the nanometre (a rounding
    tie may fall either way: the neighbouring nanometres are tried too)."""
    key = {(int(f), x, z): i for i, (f, x, z) in enumerate(zip(df.frame, nm(df.x_mm), nm(df.z_mm)))}
    assert len(key) == len(df), "two input rows within 1 nm of each other"
    ids = np.full(len(df), -1, dtype=np.int64)
    for tid, f, x, z in zip(tracks.track_id, tracks.frame, nm(tracks.x_mm), nm(tracks.z_mm)):
        i = next(key[k] for k in ((int(f), x + a, z + b) for a in (0, -1, 1) for b in (0, -1, 1)) if k in key)
        ids[i] = tid
    assert (ids >= 0).all(), "some rows missing from ulm's output"
    return ids


def explain(df, a_links, b_links, search_range):
    """Classify links found by only one side."""
    xy = df[["x_mm", "z_mm"]].to_numpy()
    report = []
    for name, only in (("trackpy_only", a_links - b_links), ("ulm_only", b_links - a_links)):
        for a, b in sorted(only):
            d = float(np.hypot(*(xy[a] - xy[b])))
            report.append({"side": name, "row_a": a, "row_b": b, "frame_a": int(df.frame[a]),
                           "frame_b": int(df.frame[b]), "dist_mm": d, "at_range_edge": abs(d - search_range) < 1e-6})
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ulm", default="target/release/ulm", help="path to the ulm binary")
    ap.add_argument("--locs", help="localization CSV (frame,x_mm,z_mm); default: synthetic")
    ap.add_argument("--meta", help="meta.json of --locs")
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--per-frame", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--search-range-mm", type=float, default=0.15)
    ap.add_argument("--memory", type=int, default=1)
    ap.add_argument("--out", default="/tmp/ulm_trackpy_parity")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fixture", help="write a small fixture (locs + trackpy ids) to this folder and exit")
    a = ap.parse_args()

    tp.quiet()
    if a.fixture:
        # Small and dense (40 bubbles in 3 x 3 mm) so that subnets with several bubbles occur.
        os.makedirs(a.fixture, exist_ok=True)
        path = os.path.join(a.fixture, "trackpy_links.csv")
        synthetic(60, 40, a.seed, field_mm=3.0).to_csv(path, index=False, float_format="%.9g")
        df = pd.read_csv(path)  # link exactly the values that the Rust test reads
        ids, _ = run_trackpy(df, a.search_range_mm, a.memory)
        df.assign(trackpy_particle=ids).to_csv(path, index=False, float_format="%.9g")
        print(f"wrote {path}: {len(df)} rows, search_range {a.search_range_mm} mm, memory {a.memory}, "
              f"trackpy {tp.__version__}")
        return

    os.makedirs(a.out, exist_ok=True)
    if a.locs:
        df = pd.read_csv(a.locs)[["frame", "x_mm", "z_mm"]]
        meta = a.meta or os.path.join(os.path.dirname(a.locs), "meta.json")
    else:
        df = synthetic(a.frames, a.per_frame, a.seed)
        meta = os.path.join(a.out, "meta.json")
        with open(meta, "w") as fh:
            json.dump({"frame_rate_hz": 1000.0, "pixel_size_x_mm": 0.1, "pixel_size_z_mm": 0.1, "x0_mm": 0.0,
                       "z0_mm": 0.0, "wavelength_mm": 0.2}, fh)
    df = df.sort_values("frame", kind="stable").reset_index(drop=True)
    csv_path = os.path.join(a.out, "locs.csv")
    df.to_csv(csv_path, index=False, float_format="%.17g")
    df = pd.read_csv(csv_path)  # the exact values ulm reads
    pq_path = os.path.join(a.out, "locs.parquet")
    df.to_parquet(pq_path, index=False)

    tp_runs = [run_trackpy(df, a.search_range_mm, a.memory) for _ in range(a.repeats)]
    tp_ids, tp_secs = tp_runs[0][0], min(r[1] for r in tp_runs)
    ulm_runs = [run_ulm(a.ulm, csv_path, meta, a.out, a.search_range_mm, a.memory) for _ in range(a.repeats)]
    tracks = ulm_runs[0][0]
    ulm_secs, ulm_link_secs = min(r[1] for r in ulm_runs), min(r[2] for r in ulm_runs)
    pq_runs = [run_ulm(a.ulm, pq_path, meta, a.out, a.search_range_mm, a.memory, "parquet") for _ in range(a.repeats)]
    pq_secs = min(r[1] for r in pq_runs)
    pq_tracks = pq_runs[0][0]
    # The CSV rounds positions to 1e-6 mm and velocities to 1e-4 mm/s; Parquet keeps every bit.
    tol = {"track_id": 0, "frame": 0, "x_mm": 5e-7, "z_mm": 5e-7, "vx_mm_s": 5e-5, "vz_mm_s": 5e-5}
    same = (pq_tracks.columns.tolist() == tracks.columns.tolist() and len(pq_tracks) == len(tracks)
            and all(np.allclose(pq_tracks[c].to_numpy(), tracks[c].to_numpy(), rtol=0, atol=tol[c] * (1 + 1e-9),
                                equal_nan=True) for c in tracks))
    assert same, "Parquet and CSV runs gave different tracks"
    u_ids = ulm_ids(df, tracks)
    fr = df.frame.to_numpy()
    tp_links, u_links = links_from_ids(fr, tp_ids), links_from_ids(fr, u_ids)
    diffs = explain(df, tp_links, u_links, a.search_range_mm)
    summary = {
        "rows": len(df), "frames": int(df.frame.nunique()), "search_range_mm": a.search_range_mm,
        "memory": a.memory, "trackpy_version": tp.__version__,
        "trackpy_links": len(tp_links), "ulm_links": len(u_links), "common_links": len(tp_links & u_links),
        "trackpy_only": len(tp_links - u_links), "ulm_only": len(u_links - tp_links),
        "trackpy_tracks": int(len(np.unique(tp_ids))), "ulm_tracks": int(len(np.unique(u_ids))),
        "trackpy_link_s": round(tp_secs, 3), "ulm_link_s": round(ulm_link_secs, 4),
        "ulm_cli_s": round(ulm_secs, 3), "speedup_link": round(tp_secs / ulm_link_secs, 1),
        "speedup_cli": round(tp_secs / ulm_secs, 1), "ulm_cli_parquet_s": round(pq_secs, 3),
        "speedup_cli_parquet": round(tp_secs / pq_secs, 1), "repeats": a.repeats,
    }
    with open(os.path.join(a.out, "parity.json"), "w") as fh:
        json.dump({"summary": summary, "differences": diffs}, fh, indent=1)
    print(json.dumps(summary, indent=1))
    for d in diffs[:20]:
        print(d)
    return 0 if not diffs else 1


if __name__ == "__main__":
    sys.exit(main())
