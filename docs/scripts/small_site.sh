#!/usr/bin/env bash
# The small-site proxy of issue 14: five stratified subsets of the Aria folder with 65 images per class
# (130, as a new hospital might have), each trained with `leuknode train` (its default recipe unless more
# flags are given) and evaluated on every other image of the folder (3,126 images, 86 % blasts).
#
#   docs/scripts/small_site.sh ARIA_DIR NAME [train flags...]
#   BIN=/path/to/leuknode SEEDS="0 1 2 3 4" WORK=/tmp/leuknode-small docs/scripts/small_site.sh ../shared/datasets/aria2021 default
#
# Writes WORK/sSEED/NAME.safetensors, NAME.train.txt and NAME.eval.json / NAME--tta.eval.json per seed, and
# prints one line per seed and the mean (min-max) over the seeds (docs/scripts/small_site_table.py).
# The subsets are symlinks; no image is copied.
set -euo pipefail
aria=${1:?usage: small_site.sh ARIA_DIR NAME [train flags...]}
name=${2:?usage: small_site.sh ARIA_DIR NAME [train flags...]}
shift 2
BIN=${BIN:-.build/release/leuknode}
SEEDS=${SEEDS:-0 1 2 3 4}
WORK=${WORK:-/tmp/leuknode-small}
here=$(cd "$(dirname "$0")" && pwd)
for seed in $SEEDS; do
  dir=$WORK/s$seed
  if [ ! -d "$dir/train" ]; then
    python3 - "$aria" "$dir" "$seed" <<'PY'
import os, random, sys
root, out, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
classes = {'hem': ['Benign'], 'all': ['Early', 'Pre', 'Pro']}
for part in ('train', 'test'):
    for c in classes: os.makedirs(f'{out}/{part}/{c}', exist_ok=True)
for c, folders in classes.items():
    files = sorted(os.path.abspath(f'{root}/{f}/{x}') for f in folders for x in os.listdir(f'{root}/{f}'))
    rng.shuffle(files)
    for i, f in enumerate(files):
        os.symlink(f, f'{out}/{"train" if i < 65 else "test"}/{c}/{os.path.basename(f)}')
PY
  fi
  start=$(date +%s.%N)
  "$BIN" train --dataset "$dir/train" --out "$dir/$name.safetensors" --seed "$seed" "$@" > "$dir/$name.train.txt"
  end=$(date +%s.%N)
  echo "seed $seed: trained in $(python3 -c "print(round($end - $start, 1))") s wall, load $(cut -d' ' -f1-3 /proc/loadavg)" \
    | tee -a "$dir/$name.train.txt"
  "$BIN" evaluate --model "$dir/$name.safetensors" --dataset "$dir/test" --json > "$dir/$name.eval.json"
  "$BIN" evaluate --model "$dir/$name.safetensors" --dataset "$dir/test" --json --tta > "$dir/$name--tta.eval.json"
done
python3 "$here/small_site_table.py" "$WORK" "$name"
