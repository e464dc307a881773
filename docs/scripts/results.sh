#!/bin/sh
# Reproduces the figures of docs/results.md. Run from the repository root after
# `swift build -c release`. Each run writes docs/results/<name>/result.json, the stderr progress
# log docs/results/<name>/progress.log, and the plots + summary of `leuknode report`.
# Usage: docs/scripts/results.sh [name ...]   (no name: every run, which takes a long while on 2 cores)
set -eu
BIN=${BIN:-.build/release/leuknode}
ARIA=${ARIA:-/work/shared/datasets/aria2021}
MAP=Benign=hem,Early=all,Pre=all,Pro=all

run() {
    name=$1; shift
    mkdir -p "docs/results/$name"
    echo "== $name: leuknode simulate $*" >&2
    "$BIN" simulate "$@" --out "docs/results/$name/result.json" 2> "docs/results/$name/progress.log" \
        > "docs/results/$name/table.txt"
    "$BIN" report --from "docs/results/$name/result.json" --out "docs/results/$name" > /dev/null
}

want() { [ -z "$SELECTED" ] || echo " $SELECTED " | grep -q " $1 "; }
SELECTED="$*"

want synthetic-3 && run synthetic-3 --synthetic --nodes 3 --rounds 15 --steps-per-round 8 --size 32 --images-per-node 200 --dirichlet 0.5 --seed 0
want synthetic-8 && run synthetic-8 --synthetic --nodes 8 --rounds 15 --steps-per-round 8 --size 32 --images-per-node 150 --dirichlet 0.5 --seed 0
want synthetic-32 && run synthetic-32 --synthetic --nodes 32 --rounds 8 --steps-per-round 4 --size 16 --images-per-node 100 --test-images 320 --dirichlet 0.5 --seed 0
want synthetic-4-one-class && run synthetic-4-one-class --synthetic --nodes 4 --rounds 12 --steps-per-round 8 --size 32 --images-per-node 150 --one-class-per-node --seed 0
want aria-4-a0.5 && run aria-4-a0.5 --dataset "$ARIA" --label-map "$MAP" --nodes 4 --rounds 15 --steps-per-round 8 --size 32 --dirichlet 0.5 --seed 0
want aria-8-a0.5 && run aria-8-a0.5 --dataset "$ARIA" --label-map "$MAP" --nodes 8 --rounds 15 --steps-per-round 8 --size 32 --dirichlet 0.5 --seed 0
want aria-8-a0.5-lr0.03 && run aria-8-a0.5-lr0.03 --dataset "$ARIA" --label-map "$MAP" --nodes 8 --rounds 15 --steps-per-round 8 --size 32 --dirichlet 0.5 --learning-rate 0.03 --seed 0
want aria-8-a0.5-r30 && run aria-8-a0.5-r30 --dataset "$ARIA" --label-map "$MAP" --nodes 8 --rounds 30 --steps-per-round 8 --size 32 --dirichlet 0.5 --learning-rate 0.03 --seed 0
want aria-4-a0.5-lr0.03 && run aria-4-a0.5-lr0.03 --dataset "$ARIA" --label-map "$MAP" --nodes 4 --rounds 15 --steps-per-round 8 --size 32 --dirichlet 0.5 --learning-rate 0.03 --seed 0
want aria-8-a0.1-lr0.03 && run aria-8-a0.1-lr0.03 --dataset "$ARIA" --label-map "$MAP" --nodes 8 --rounds 15 --steps-per-round 8 --size 32 --dirichlet 0.1 --learning-rate 0.03 --seed 0
want aria-4-a0.1 && run aria-4-a0.1 --dataset "$ARIA" --label-map "$MAP" --nodes 4 --rounds 15 --steps-per-round 8 --size 32 --dirichlet 0.1 --seed 0
want aria-8-a0.1 && run aria-8-a0.1 --dataset "$ARIA" --label-map "$MAP" --nodes 8 --rounds 15 --steps-per-round 8 --size 32 --dirichlet 0.1 --seed 0
want aria-8-a0.5-64 && run aria-8-a0.5-64 --dataset "$ARIA" --label-map "$MAP" --nodes 8 --rounds 15 --steps-per-round 8 --size 64 --dirichlet 0.5 --learning-rate 0.03 --seed 0
want aria-8-one-class && run aria-8-one-class --dataset "$ARIA" --label-map "$MAP" --nodes 8 --rounds 15 --steps-per-round 8 --size 32 --one-class-per-node --learning-rate 0.03 --seed 0
exit 0
