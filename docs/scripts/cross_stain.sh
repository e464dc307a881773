#!/usr/bin/env bash
# The cross-stain proxy of issue 14, on the project's synthetic cells: train on site A's stain (200 images),
# test on 1,000 images of site A (same stain) and of site B (another lab's stain colours, strength and light),
# with and without --stain-normalize; five seeds. The gap is same-stain minus cross-stain accuracy, and
# "recovered" is the share of it that normalisation wins back.
#
#   BIN=.build/release/leuknode WORK=/tmp/leuknode-stain SITE_A=0 SITE_B=3 docs/scripts/cross_stain.sh [train flags...]
set -euo pipefail
BIN=${BIN:-.build/release/leuknode}
WORK=${WORK:-/tmp/leuknode-stain}
SITE_A=${SITE_A:-0}
SITE_B=${SITE_B:-3}
SEEDS=${SEEDS:-0 1 2 3 4}
mkdir -p "$WORK"
for seed in $SEEDS; do
  d=$WORK/s$seed
  [ -d "$d/train" ] || "$BIN" dataset synth --out "$d/train" --count 200 --seed $((100 + seed)) --site "$SITE_A" > /dev/null
  [ -d "$d/same" ] || "$BIN" dataset synth --out "$d/same" --count 1000 --seed $((200 + seed)) --site "$SITE_A" > /dev/null
  [ -d "$d/other" ] || "$BIN" dataset synth --out "$d/other" --count 1000 --seed $((300 + seed)) --site "$SITE_B" > /dev/null
  for variant in plain stain; do
    flags=(); [ "$variant" = stain ] && flags=(--stain-normalize)
    "$BIN" train --dataset "$d/train" --out "$d/$variant.safetensors" --seed "$seed" "${flags[@]}" "$@" > "$d/$variant.train.txt"
    for test in same other; do
      "$BIN" evaluate --model "$d/$variant.safetensors" --dataset "$d/$test" --json > "$d/$variant.$test.json"
    done
  done
done
python3 - "$WORK" $SEEDS <<'PY'
import json, statistics, sys
work, seeds = sys.argv[1], sys.argv[2:]
def acc(seed, variant, test): return json.load(open(f"{work}/s{seed}/{variant}.{test}.json"))["accuracy"]
rows = {(v, t): [acc(s, v, t) for s in seeds] for v in ("plain", "stain") for t in ("same", "other")}
for (v, t), values in rows.items():
    print(f"{v:>6} on {t:>5} stain: accuracy {statistics.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})")
gap = statistics.mean(rows["plain", "same"]) - statistics.mean(rows["plain", "other"])
won = statistics.mean(rows["stain", "other"]) - statistics.mean(rows["plain", "other"])
print(f"gap {gap:.3f}; normalisation wins back {won:.3f} ({100 * won / gap:.0f} % of the gap)" if gap > 0 else f"no gap ({gap:.3f})")
PY
