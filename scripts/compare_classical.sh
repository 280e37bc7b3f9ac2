#!/usr/bin/env bash
# Comparison of the classical localizers on simulated sparse / dense / tissue data.
# Usage: scripts/compare_classical.sh OUTDIR   (ulm on PATH, or ULM=target/release/ulm)
# Produces the comparison table quoted in the notes of the classical-localizer issue.
set -euo pipefail
ULM=${ULM:-ulm}
OUT=${1:-/tmp/compare}
mkdir -p "$OUT"
for preset in sparse dense tissue; do
  d="$OUT/$preset"
  "$ULM" -q simulate --preset "$preset" --frames 200 --seed 1 --out "$d"
  frames="$d/iq.npy"
  if [ "$preset" = tissue ]; then
    "$ULM" -q filter "$d/iq.npy" --out "$d/filtered/iqf.npy"
    frames="$d/filtered/iqf.npy"
  fi
  for m in no-shift centroid gaussian radial interp morph; do
    "$ULM" -q localize "$frames" --method "$m" --out "$d/$m.csv"
    "$ULM" eval --pred "$d/$m.csv" --gt "$d/gt.csv" --meta "$d/meta.json" --json "$d/$m.eval.json" > "$d/$m.eval.txt"
  done
done
python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
print("| data | method | precision | recall | F1 | Jaccard | RMSE (λ) |")
print("|---|---|---|---|---|---|---|")
for preset in ["sparse", "dense", "tissue"]:
    for m in ["no-shift", "centroid", "gaussian", "radial", "interp", "morph"]:
        r = json.load(open(os.path.join(out, preset, m + ".eval.json")))["report"]["overall"]
        f = lambda v, d=3: "-" if v is None else f"{v:.{d}f}"
        print(f"| {preset} | {m} | {f(r['precision'])} | {f(r['recall'])} | {f(r['f1'])} | {f(r['jaccard'])} | {f(r['rmse_wavelengths'], 4)} |")
PY
