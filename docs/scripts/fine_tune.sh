#!/usr/bin/env bash
# What fine-tuning buys (issue 14): a model trained on Aria images (the 3,126 that small_site.sh's seed-0 subset
# leaves out) is fine-tuned on 130 synthetic cells of another lab's stain (site 3), against training on those
# 130 from scratch; all tested on 1,000 more cells of site 3. Five seeds (SEEDS), default recipe everywhere.
#
#   BIN=.build/release/leuknode SMALL=/tmp/leuknode-small WORK=/tmp/leuknode-finetune docs/scripts/fine_tune.sh
# (run docs/scripts/small_site.sh first: it makes $SMALL/s0/test)
set -euo pipefail
BIN=${BIN:-.build/release/leuknode}
SMALL=${SMALL:-/tmp/leuknode-small}
WORK=${WORK:-/tmp/leuknode-finetune}
mkdir -p "$WORK" && cd "$WORK"
[ -f aria.safetensors ] || "$BIN" train --dataset "$SMALL/s0/test" --out aria.safetensors --seed 0 > aria.train.txt
for seed in ${SEEDS:-0 1 2 3 4}; do
  d=s$seed
  [ -d $d/train ] || "$BIN" dataset synth --out $d/train --count 130 --seed $((500 + seed)) --site 3 > /dev/null
  [ -d $d/test ] || "$BIN" dataset synth --out $d/test --count 1000 --seed $((600 + seed)) --site 3 > /dev/null
  "$BIN" train --dataset $d/train --out $d/scratch.safetensors --seed $seed > $d/scratch.txt
  "$BIN" train --dataset $d/train --out $d/tuned.safetensors --seed $seed --init-from aria.safetensors > $d/tuned.txt
  "$BIN" train --dataset $d/train --out $d/frozen.safetensors --seed $seed --init-from aria.safetensors --freeze-features > $d/frozen.txt
  for m in scratch tuned frozen; do
    "$BIN" evaluate --model $d/$m.safetensors --dataset $d/test --json > $d/$m.json
    python3 -c "import json; d=json.load(open('$d/$m.json')); print('seed $seed $m: accuracy', round(d['accuracy'], 3), 'AUC', round(d['auc'], 3))"
  done
done
"$BIN" evaluate --model aria.safetensors --dataset s0/test --json \
  | python3 -c "import json, sys; d = json.load(sys.stdin); print('the Aria model on site 3, not tuned: accuracy', round(d['accuracy'], 3), 'AUC', round(d['auc'], 3))"
