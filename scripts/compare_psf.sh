#!/usr/bin/env bash
# Classical pipeline on Gaussian- vs physical-PSF data: same seed → same vessels and bubbles.
#
#   ULM=target/release/ulm FRAMES=1000 PRESETS="sparse dense tissue deep cortex" scripts/compare_psf.sh OUT
#
# For every preset × PSF: simulate (with the first frame as a PNG preview and the
# ground-truth density map), SVD-filter the tissue preset, localize with radial symmetry,
# link, evaluate at λ/2 and render the localization / track maps (OUT/PRESET-PSF/maps/).
# Prints the simulation time per PSF and a markdown table of P, R, F1, RMSE.
set -euo pipefail
ULM=${ULM:-ulm}
OUT=${1:-/tmp/cmp_psf}
FRAMES=${FRAMES:-200}
PRESETS=${PRESETS:-"sparse cortex"}
mkdir -p "$OUT"
for preset in $PRESETS; do
  for psf in gaussian physical; do
    d="$OUT/$preset-$psf"
    t0=$(date +%s.%N)
    "$ULM" -q simulate --preset "$preset" --psf "$psf" --frames "$FRAMES" --seed 1 --preview --out "$d"
    t1=$(date +%s.%N)
    echo "$t0 $t1" > "$d/simulate.time"
    frames="$d/iq.npy"
    if [ "$preset" = tissue ]; then
      "$ULM" -q filter "$frames" --meta "$d/meta.json" --out "$d/filtered.npy"
      frames="$d/filtered.npy"
    fi
    "$ULM" -q localize "$frames" --meta "$d/meta.json" --method radial --out "$d/radial.csv"
    "$ULM" -q track "$d/radial.csv" --meta "$d/meta.json" --out "$d/tracks.csv"
    "$ULM" -q render --locs "$d/radial.csv" --tracks "$d/tracks.csv" --meta "$d/meta.json" --out-dir "$d/maps"
    "$ULM" -q eval --pred "$d/radial.csv" --gt "$d/gt.csv" --meta "$d/meta.json" --json "$d/radial.eval.json" > "$d/radial.eval.txt"
  done
done
python3 - "$OUT" "$FRAMES" "$PRESETS" <<'PY'
import json, sys, os
out, frames, presets = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
print("| data | PSF | precision | recall | F1 | RMSE (λ) | simulation frames/s |")
print("|---|---|---|---|---|---|---|")
for preset in presets:
    for psf in ["gaussian", "physical"]:
        d = os.path.join(out, f"{preset}-{psf}")
        r = json.load(open(os.path.join(d, "radial.eval.json")))["report"]["overall"]
        t0, t1 = map(float, open(os.path.join(d, "simulate.time")).read().split())
        f = lambda v, n=3: "-" if v is None else f"{v:.{n}f}"
        print(f"| {preset} | {psf} | {f(r['precision'])} | {f(r['recall'])} | {f(r['f1'])} | {f(r['rmse_wavelengths'])} | {frames / (t1 - t0):.1f} |")
PY
