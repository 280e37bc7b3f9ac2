#!/usr/bin/env bash
# Classical pipeline on Gaussian- vs physical-PSF data: same seed → same vessels and bubbles.
set -euo pipefail
ULM=${ULM:-ulm}
OUT=${1:-/tmp/cmp_psf}
FRAMES=${FRAMES:-200}
mkdir -p "$OUT"
for preset in sparse cortex; do
  for psf in gaussian physical; do
    d="$OUT/$preset-$psf"
    /usr/bin/time -f "$preset $psf simulate %e s" "$ULM" -q simulate --preset "$preset" --psf "$psf" --frames "$FRAMES" --seed 1 --preview --out "$d"
    "$ULM" -q localize "$d/iq.npy" --method radial --out "$d/radial.csv"
    "$ULM" eval --pred "$d/radial.csv" --gt "$d/gt.csv" --meta "$d/meta.json" --json "$d/radial.eval.json" > "$d/radial.eval.txt"
  done
done
python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
print("| data | PSF | precision | recall | F1 | RMSE (λ) |")
print("|---|---|---|---|---|---|")
for preset in ["sparse", "cortex"]:
    for psf in ["gaussian", "physical"]:
        r = json.load(open(os.path.join(out, f"{preset}-{psf}", "radial.eval.json")))["report"]["overall"]
        f = lambda v, d=3: "-" if v is None else f"{v:.{d}f}"
        print(f"| {preset} | {psf} | {f(r['precision'])} | {f(r['recall'])} | {f(r['f1'])} | {f(r['rmse_wavelengths'], 4)} |")
PY
