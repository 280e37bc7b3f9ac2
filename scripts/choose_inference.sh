#!/usr/bin/env bash
# Chooses a model folder's inference pitch and score threshold on validation frames and
# writes them to its inference.json (read by `ulm localize --method de-detr|detr`).
#
#   scripts/choose_inference.sh MODEL_DIR WORK_DIR [PITCHES] [THRESHOLDS]
#
# Validation frames: the sparse, dense and tissue presets (tissue SVD-filtered), FRAMES
# frames each (default 50) at seed SEED (default 30000) — not the seed of `ulm bench`
# (20000) nor of the probes (101). For every pitch (wavelengths; "native" = frames as given)
# and threshold it localizes and evaluates at λ/2, and keeps the pair with the best mean F1
# over the three presets. The table of every pair goes to WORK_DIR/choice.md and, with the
# choice, into inference.json's `selected_on`. ULM=path/to/ulm (default: ulm on PATH);
# METHOD=detr for a DETR folder (default de-detr).
set -euo pipefail
MODEL=$1; WORK=$2
PITCHES=${3:-"native 0.4 0.3333333333 0.25"}
THRESHOLDS=${4:-"0.3 0.4 0.5 0.6"}
ULM=${ULM:-ulm}; METHOD=${METHOD:-de-detr}; FRAMES=${FRAMES:-50}; SEED=${SEED:-30000}
mkdir -p "$WORK"
for p in sparse dense tissue; do
  d=$WORK/$p
  if [ ! -f "$d/sim/meta.json" ]; then
    $ULM -q simulate --preset $p --frames "$FRAMES" --seed "$SEED" --out "$d/sim"
    [ $p = tissue ] && $ULM -q filter "$d/sim/iq.npy" --meta "$d/sim/meta.json" --out "$d/filtered/iq.npy"
  fi
done
rows=$WORK/rows.tsv; : > "$rows"
for pitch in $PITCHES; do
  if [ "$pitch" = native ]; then opt=(--native-pitch); else opt=(--pixel-pitch "$pitch"); fi
  for t in $THRESHOLDS; do
    for p in sparse dense tissue; do
      d=$WORK/$p; f=$d/sim/iq.npy; [ $p = tissue ] && f=$d/filtered/iq.npy
      out=$d/p$pitch-t$t
      $ULM -q localize "$f" --meta "$d/sim/meta.json" --method "$METHOD" --weights "$MODEL" "${opt[@]}" \
        --score-threshold "$t" --out "$out.csv"
      $ULM -q eval --pred "$out.csv" --gt "$d/sim/gt.csv" --meta "$d/sim/meta.json" --json "$out.json" > /dev/null
      printf '%s\t%s\t%s\t%s\n' "$pitch" "$t" "$p" "$out.json" >> "$rows"
    done
  done
done
python3 - "$rows" "$MODEL" "$WORK" "$FRAMES" "$SEED" <<'EOF'
import json, sys, collections
rows, model, work, frames, seed = sys.argv[1:]
f1 = collections.defaultdict(dict)
for line in open(rows):
    pitch, t, p, path = line.rstrip('\n').split('\t')
    r = json.load(open(path))['report']['overall']
    f1[(pitch, t)][p] = (r['precision'], r['recall'], r['f1'])
table = ['| pitch (λ) | threshold | sparse P/R/F1 | dense P/R/F1 | tissue P/R/F1 | mean F1 |', '|---|---|---|---|---|---|']
best = None
for (pitch, t), v in f1.items():
    mean = sum(x[2] for x in v.values()) / len(v)
    cell = lambda p: '%.3f / %.3f / %.3f' % v[p]
    table.append(f'| {pitch} | {t} | {cell("sparse")} | {cell("dense")} | {cell("tissue")} | {mean:.3f} |')
    if best is None or mean > best[0]:
        best = (mean, pitch, t)
mean, pitch, t = best
text = '\n'.join(table)
open(f'{work}/choice.md', 'w').write(text + f'\n\nchosen: pitch {pitch}, threshold {t} (mean F1 {mean:.3f})\n')
print(text); print(f'chosen: pitch {pitch}, threshold {t}, mean F1 {mean:.3f}')
if pitch == 'native':
    print('native pitch chosen: no inference.json written'); sys.exit(0)
choice = {
    'pixel_pitch_wavelengths': float(pitch),
    'score_threshold': float(t),
    'selected_on': f'scripts/choose_inference.sh: best mean F1 at λ/2 over {frames} frames each of the sparse, dense '
                   f'and tissue (SVD-filtered) presets, seed {seed}: mean F1 {mean:.3f} (pitches and thresholds tried: '
                   + '; '.join(f'{p}/{th} {sum(x[2] for x in v.values()) / len(v):.3f}' for (p, th), v in f1.items()) + ')',
}
tmp = f'{model}/inference.json.tmp'
json.dump(choice, open(tmp, 'w'), indent=2)
import os; os.replace(tmp, f'{model}/inference.json')
print(f'wrote {model}/inference.json')
EOF
