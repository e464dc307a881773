#!/bin/sh
# Reproduces the figures of docs/results.md. Run from the repository root after
# `swift build -c release`. Each run writes docs/results/<name>/result.json, the stderr progress
# log docs/results/<name>/progress.log, and the plots + summary of `leuknode report`.
# Usage: docs/scripts/results.sh [name ...]   (no name: every run, which takes a long while on 2 cores)
set -eu
BIN=${BIN:-.build/release/leuknode}
ARIA=${ARIA:-/work/shared/datasets/aria2021}
MAP=Benign=hem,Early=all,Pre=all,Pro=all

# Every run here predates averaging inside the round: PIN keeps the one exchange a round and the local
# class balance they were measured with.
PIN="--exchanges-per-round 1 --class-balance local"

run() {
    name=$1; shift
    mkdir -p "docs/results/$name"
    echo "== $name: leuknode simulate $*" >&2
    "$BIN" simulate $PIN "$@" --out "docs/results/$name/result.json" 2> "docs/results/$name/progress.log" \
        > "docs/results/$name/table.txt"
    "$BIN" report --from "docs/results/$name/result.json" --out "docs/results/$name" > /dev/null
}

want() { [ -z "$SELECTED" ] || echo " $SELECTED " | grep -q " $1 "; }
SELECTED="$*"

# Federation recipe since the gossip fix (mixing against the published state): 32 local steps per
# round, 3 gossip exchanges between rounds, learning rate 0.03 cosine-annealed, local class balance.
FED="--batch 32 --steps-per-round 32 --gossip-per-round 3 --learning-rate 0.03 --seed 0"
# Synthetic cells are learnt within a few dozen steps: 8 steps per round at the default rate 0.01.
want synthetic-3 && run synthetic-3 --synthetic --nodes 3 --rounds 15 --batch 32 --steps-per-round 8 --size 32 --images-per-node 200 --dirichlet 0.5 --seed 0
want synthetic-8 && run synthetic-8 --synthetic --nodes 8 --rounds 15 --batch 32 --steps-per-round 8 --size 32 --images-per-node 150 --dirichlet 0.5 --seed 0
want synthetic-32 && run synthetic-32 --synthetic --nodes 32 --rounds 8 --batch 32 --steps-per-round 4 --size 16 --images-per-node 100 --test-images 320 --dirichlet 0.5 --seed 0
want synthetic-4-one-class && run synthetic-4-one-class --synthetic --nodes 4 --rounds 12 --batch 32 --steps-per-round 8 --size 32 --images-per-node 150 --one-class-per-node --seed 0
# The target run: Aria, 8 nodes, Dirichlet 0.5, trained to convergence (90 rounds), with 10
# gossip exchanges between rounds; and the same with the recipe's 3 exchanges.
want aria-8-a0.5 && run aria-8-a0.5 --dataset "$ARIA" --label-map "$MAP" --nodes 8 --rounds 90 --size 32 --dirichlet 0.5 \
    --batch 32 --steps-per-round 32 --gossip-per-round 10 --learning-rate 0.03 --seed 0
want aria-8-a0.5-g3 && run aria-8-a0.5-g3 --dataset "$ARIA" --label-map "$MAP" --nodes 8 --rounds 90 --size 32 --dirichlet 0.5 $FED
want aria-4-a0.5 && run aria-4-a0.5 --dataset "$ARIA" --label-map "$MAP" --nodes 4 --rounds 30 --size 32 --dirichlet 0.5 $FED
want aria-8-a0.1 && run aria-8-a0.1 --dataset "$ARIA" --label-map "$MAP" --nodes 8 --rounds 30 --size 32 --dirichlet 0.1 $FED
want aria-4-a0.1 && run aria-4-a0.1 --dataset "$ARIA" --label-map "$MAP" --nodes 4 --rounds 30 --size 32 --dirichlet 0.1 $FED
want aria-8-one-class && run aria-8-one-class --dataset "$ARIA" --label-map "$MAP" --nodes 8 --rounds 30 --size 32 --one-class-per-node $FED
exit 0
