#!/usr/bin/env bash
# Localization methods side by side on the same held-out simulated frames (λ/2 gate).
#
#   ULM=target/debug/ulm FRAMES=200 scripts/compare_methods.sh OUT_DIR METHOD[=WEIGHTS] ...
#   LOCALIZE_ARGS="--temporal-support 2" (options given to every `ulm localize`)
#   e.g. scripts/compare_methods.sh /tmp/cmp radial gaussian de-detr=runs/ddetr-randomized-128/best unet=models/unet
#
# Data (seed 101, never used for training): sparse, dense, tissue (after the SVD filter) and
# cortex with the physical PSF (a vascular bed / PSF combination the DETR configs of
# configs/*-dense-128.toml never saw); `PRESET-probeB` (e.g. dense-probeB) uses the physical PSF
# of a probe/transmit setting outside every training mix (see below). Prints a markdown table: P, R, F1, RMSE (λ), frames/s
# of the localize step (wall clock, including reading the stack).
set -euo pipefail
ULM=${ULM:-ulm}
OUT=${1:?usage: compare_methods.sh OUT_DIR METHOD[=WEIGHTS] ...}
shift
FRAMES=${FRAMES:-200}
SEED=${SEED:-101}
DATA=${DATA:-"sparse dense tissue cortex-physical"}
mkdir -p "$OUT"
for data in $DATA; do
  d="$OUT/$data"
  preset=${data%%-*}
  psf=gaussian
  [[ "$data" == *-physical ]] && psf=physical
  [[ "$data" == *-probeB ]] && psf=physical
  if [ ! -f "$d/sim/meta.json" ]; then
    "$ULM" -q simulate --preset "$preset" --psf "$psf" --frames "$FRAMES" --seed "$SEED" --out "$d/sim"
    if [[ "$data" == *-probeB ]]; then
      # A probe and transmit setting that no training mix draws (the mix's physical PSF
      # always uses the default probe: 128 elements, 3 angles, Hann apodisation, F# 1,
      # bandwidth 0.67): one plane wave, rectangular apodisation (−13 dB side lobes),
      # F# 1.75 and a 2-cycle, 45 % bandwidth pulse (longer, wider PSF).
      python3 - "$d/sim/config.json" "$d/probeB.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["probe"].update(angles_deg=[0.0], apodization="rectangular", receive_f_number=1.75,
                  fractional_bandwidth=0.45, cycles=2.0)
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
      rm -rf "$d/sim"
      "$ULM" -q simulate --config "$d/probeB.json" --frames "$FRAMES" --seed "$SEED" --out "$d/sim"
    fi
  fi
  frames="$d/sim/iq.npy"
  if [ "$preset" = tissue ]; then
    [ -f "$d/filtered/iq.npy" ] || "$ULM" -q filter "$frames" --meta "$d/sim/meta.json" --out "$d/filtered/iq.npy"
    frames="$d/filtered/iq.npy"
  fi
  for m in "$@"; do
    method=${m%%=*}
    extra=()
    [[ "$m" == *=* ]] && extra=(--weights "${m#*=}")
    # shellcheck disable=SC2206
    extra+=(${LOCALIZE_ARGS:-})
    t0=$(date +%s.%N)
    "$ULM" -q localize "$frames" --meta "$d/sim/meta.json" --method "$method" "${extra[@]}" --out "$d/$method.csv"
    t1=$(date +%s.%N)
    echo "$t0 $t1" > "$d/$method.time"
    "$ULM" -q eval --pred "$d/$method.csv" --gt "$d/sim/gt.csv" --meta "$d/sim/meta.json" --json "$d/$method.eval.json" > /dev/null
  done
done
python3 - "$OUT" "$FRAMES" "$DATA" "$@" <<'PY'
import json, os, sys
out, frames, data, methods = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), [m.split("=")[0] for m in sys.argv[4:]]
print("| data | method | precision | recall | F1 | RMSE (λ) | frames/s |")
print("|---|---|---|---|---|---|---|")
for d in data:
    for m in methods:
        r = json.load(open(os.path.join(out, d, f"{m}.eval.json")))["report"]["overall"]
        t0, t1 = map(float, open(os.path.join(out, d, f"{m}.time")).read().split())
        f = lambda v, n=3: "-" if v is None else f"{v:.{n}f}"
        print(f"| {d} | {m} | {f(r['precision'])} | {f(r['recall'])} | {f(r['f1'])} | {f(r['rmse_wavelengths'])} | {frames / (t1 - t0):.0f} |")
PY
