#!/bin/sh
# The label-skew ablation and targets of issue 12 (docs/results.md, "Label skew"). Run from the
# repository root after `swift build -c release --product leuknode`. Each run writes
# docs/results/skew/<name>-s<seed>/{result.json,progress.log,table.txt,time.txt}; two runs go side by
# side (one training thread each) on a 2-core machine. Summarise with docs/scripts/skew_table.py.
# Usage: docs/scripts/skew.sh NAME [SEED ...]   (seeds default to 0 1 2); SUFFIX=-x writes <name>-x-s<seed>
# instead, beside the figures a re-run supersedes; EXTRA is appended to the run's flags.
set -eu
BIN=${BIN:-.build/release/leuknode}
ARIA=${ARIA:-/work/shared/datasets/aria2021}
MAP=Benign=hem,Early=all,Pre=all,Pro=all
# The issue's setting: 4 nodes, Dirichlet 0.5, 10 rounds of about one local epoch, LeukNet-S at 64x64.
# Rows named a4-*, i4-* and o4-* without "epoch" ran before the one-local-epoch recipe (fixed batches of 32,
# 20 steps a round), and keep those flags so they reproduce.
# Every row but the "fedadam" ones ran under SGD on the local steps, the default optimiser, and pins it (a later
# --optimizer, in a row or in EXTRA, wins).
SGD="--optimizer sgd"
# Every run below up to the in-round rows pins the class balance and exchanges it was measured with
# (each node's own counts, one exchange per round), the defaults before averaging inside the round.
PIN="$SGD --exchanges-per-round 1 --class-balance local"
OLD="$PIN --batch 32 --steps-per-round 20"
A4="--dataset $ARIA --label-map $MAP --nodes 4 --rounds 10 --dirichlet 0.5 $OLD"
# The same budget without label skew (IID shares), and with four times the local steps.
I4="--dataset $ARIA --label-map $MAP --nodes 4 --rounds 10 $PIN --batch 32"
O4="--dataset $ARIA --label-map $MAP --nodes 4 --rounds 10 --one-class-per-node $OLD"
# The default recipe (one local epoch per round in --steps-per-round steps), same settings.
E4="--dataset $ARIA --label-map $MAP --nodes 4 --rounds 10 --dirichlet 0.5 $PIN"
EO4="--dataset $ARIA --label-map $MAP --nodes 4 --rounds 10 --one-class-per-node $PIN"
# The issue's 8-node targets: Dirichlet 0.5 in at most 30 rounds, and Dirichlet 0.1.
E8="--dataset $ARIA --label-map $MAP --nodes 8 --rounds 30 $PIN"
# The default recipe since averaging inside the round (80 exchanges a round, class balance adaptive).
N4="--dataset $ARIA --label-map $MAP --nodes 4 --rounds 10 $SGD"
N8="--dataset $ARIA --label-map $MAP --nodes 8 --rounds 30 $SGD"
# Adam on the averaged model's move (`--optimizer adam`, its default placement since 2026-12-08).
D4="--dataset $ARIA --label-map $MAP --nodes 4 --rounds 10 --optimizer adam"
D8="--dataset $ARIA --label-map $MAP --nodes 8 --rounds 30 --optimizer adam"

flags() {
    case $1 in
    a4-balanced) echo "$A4 --logit-adjustment 0" ;;
    a4-balanced-fed) echo "$A4 --logit-adjustment 0 --class-balance federation" ;;
    a4-balanced-lr0.03) echo "$A4 --logit-adjustment 0 --learning-rate 0.03" ;;
    a4-balanced-g3) echo "$A4 --logit-adjustment 0 --gossip-per-round 3" ;;
    a4-la0.5) echo "$A4 --logit-adjustment 0.5" ;;
    a4-la1) echo "$A4 --logit-adjustment 1" ;;
    a4-la1-prox) echo "$A4 --logit-adjustment 1 --proximal 0.01" ;;
    a4-la1-g3) echo "$A4 --logit-adjustment 1 --gossip-per-round 3" ;;
    a4-drift1) echo "$A4 --drift-correction 1" ;;
    a4-glr2) echo "$A4 --global-lr 2" ;;
    a4-glr4) echo "$A4 --global-lr 4" ;;
    a4-gm0.9) echo "$A4 --global-momentum 0.9" ;;
    a4-glr2-gm0.5) echo "$A4 --global-lr 2 --global-momentum 0.5" ;;
    a4-lr0.05) echo "$A4 --learning-rate 0.05" ;;
    a4-lr0.02) echo "$A4 --learning-rate 0.02" ;;
    a4-80) echo "$A4 --steps-per-round 80" ;;
    a4-80-drift1) echo "$A4 --steps-per-round 80 --drift-correction 1" ;;
    a4-80-fed) echo "$A4 --steps-per-round 80 --class-balance federation" ;;
    a4-adam) echo "$A4 --optimizer adam --optimizer-placement local --learning-rate 0.001" ;;
    a4-adam-drift1) echo "$A4 --optimizer adam --optimizer-placement local --learning-rate 0.001 --drift-correction 1" ;;
    a4-adam3) echo "$A4 --optimizer adam --optimizer-placement local --learning-rate 0.003" ;;
    a4-adam3-glr2) echo "$A4 --optimizer adam --optimizer-placement local --learning-rate 0.003 --global-lr 2" ;;
    a4-noaug) echo "$A4 --no-augment" ;;
    a4-mean) echo "$A4 --aggregation mean" ;;
    a4-clipped) echo "$A4 --aggregation clipped" ;;
    a4-cb-none) echo "$A4 --class-balance none" ;;
    i4-iid) echo "$I4 --steps-per-round 20" ;;
    i4-iid-80) echo "$I4 --steps-per-round 80" ;;
    o4-balanced) echo "$O4 --logit-adjustment 0" ;;
    o4-la0.5) echo "$O4 --logit-adjustment 0.5" ;;
    o4-la1) echo "$O4 --logit-adjustment 1" ;;
    o4-rs0.5) echo "$O4 --restricted-softmax 0.5" ;;
    # Fewer local steps per round, more rounds (same 200 steps), with and without the federation's class counts.
    o4-r40s5) echo "$O4 --rounds 40 --steps-per-round 5 --no-baselines" ;;
    o4-r100s2) echo "$O4 --rounds 100 --steps-per-round 2 --no-baselines" ;;
    o4-fed) echo "$O4 --class-balance federation --no-baselines" ;;
    o4-fed-r100s2) echo "$O4 --rounds 100 --steps-per-round 2 --class-balance federation --no-baselines" ;;
    o4-rs0.1) echo "$O4 --restricted-softmax 0.1" ;;
    a4-rs0.5) echo "$A4 --restricted-softmax 0.5" ;;
    # One local epoch per round (the default since this recipe): steps per round, rate, rule, balance.
    a4-epoch) echo "$E4" ;;
    a4-epoch20) echo "$E4 --steps-per-round 20 --no-baselines" ;;
    a4-epoch80) echo "$E4 --steps-per-round 80 --no-baselines" ;;
    a4-epoch80-fed) echo "$E4 --steps-per-round 80 --class-balance federation --no-baselines" ;;
    a4-epoch320) echo "$E4 --steps-per-round 320 --no-baselines" ;;
    a4-epoch-lr0.005) echo "$E4 --learning-rate 0.005 --no-baselines" ;;
    a4-epoch-lr0.02) echo "$E4 --learning-rate 0.02 --no-baselines" ;;
    a4-epoch-mean) echo "$E4 --aggregation mean --no-baselines" ;;
    a4-epoch-fed) echo "$E4 --class-balance federation --no-baselines" ;;
    a4-epoch-gm0.3) echo "$E4 --global-momentum 0.3 --no-baselines" ;;
    a4-epoch-gm0.5) echo "$E4 --global-momentum 0.5 --no-baselines" ;;
    a4-epoch-gm0.7) echo "$E4 --global-momentum 0.7 --no-baselines" ;;
    a4-epoch-drift1) echo "$E4 --drift-correction 1 --no-baselines" ;;
    a4-epoch-drift0.5) echo "$E4 --drift-correction 0.5 --no-baselines" ;;
    o4-epoch) echo "$EO4" ;;
    o4-epoch-fed) echo "$EO4 --class-balance federation --no-baselines" ;;
    o4-epoch-fed-mean) echo "$EO4 --class-balance federation --aggregation mean --no-baselines" ;;
    # Many short rounds (300 of 2 steps of 32) with the federation's class counts, plain and clipped.
    o4-fed-mean-r300s2) echo "$O4 --rounds 300 --steps-per-round 2 --class-balance federation --aggregation mean --no-baselines" ;;
    o4-fed-r300s2) echo "$O4 --rounds 300 --steps-per-round 2 --class-balance federation --no-baselines" ;;
    d8-0.5) echo "$E8 --dirichlet 0.5" ;;
    d8-0.1) echo "$E8 --dirichlet 0.1" ;;
    d8-0.5-mean) echo "$E8 --dirichlet 0.5 --aggregation mean --no-baselines" ;;
    d8-0.1-mean) echo "$E8 --dirichlet 0.1 --aggregation mean --no-baselines" ;;
    # The one-class recipe (300 rounds of 2 steps of 32, the federation's class counts) on Dirichlet 0.1.
    d8-0.1-fed-r300s2) echo "$E8 --dirichlet 0.1 --rounds 300 --steps-per-round 2 --batch 32 --class-balance federation --no-baselines" ;;
    d8-0.1-fed-mean-r300s2) echo "$E8 --dirichlet 0.1 --rounds 300 --steps-per-round 2 --batch 32 --class-balance federation --aggregation mean --no-baselines" ;;
    # Averaging inside the round: the default recipe (first of each group) and its ablation.
    a4-inround) echo "$N4 --dirichlet 0.5" ;;
    a4-inround-nb) echo "$N4 --dirichlet 0.5 --no-baselines" ;;
    a4-inround-x16) echo "$N4 --dirichlet 0.5 --exchanges-per-round 16 --no-baselines" ;;
    a4-inround-x40) echo "$N4 --dirichlet 0.5 --exchanges-per-round 40 --no-baselines" ;;
    a4-inround-x160) echo "$N4 --dirichlet 0.5 --exchanges-per-round 160 --no-baselines" ;;
    a4-inround-local) echo "$N4 --dirichlet 0.5 --class-balance local --no-baselines" ;;
    a4-inround-fed) echo "$N4 --dirichlet 0.5 --class-balance federation --no-baselines" ;;
    a4-inround-fed-x16) echo "$N4 --dirichlet 0.5 --class-balance federation --exchanges-per-round 16 --no-baselines" ;;
    a4-inround-mean) echo "$N4 --dirichlet 0.5 --aggregation mean --no-baselines" ;;
    o4-inround) echo "$N4 --one-class-per-node" ;;
    o4-inround-local) echo "$N4 --one-class-per-node --class-balance local --no-baselines" ;;
    o4-inround-x16) echo "$N4 --one-class-per-node --exchanges-per-round 16 --no-baselines" ;;
    o4-inround-mean) echo "$N4 --one-class-per-node --aggregation mean --no-baselines" ;;
    d8-0.5-inround) echo "$N8 --dirichlet 0.5" ;;
    d8-0.1-inround) echo "$N8 --dirichlet 0.1" ;;
    d8-0.1-inround-fed) echo "$N8 --dirichlet 0.1 --class-balance federation --no-baselines" ;;
    # Adam on the averaged move, the issue's four settings (the -fedadamB folders ran these flags through
    # `SUFFIX=-fedadamB EXTRA="--optimizer adam --optimizer-placement federation --no-baselines"` on the -inround rows).
    a4-fedadam) echo "$D4 --dirichlet 0.5" ;;
    o4-fedadam) echo "$D4 --one-class-per-node" ;;
    d8-0.5-fedadam) echo "$D8 --dirichlet 0.5" ;;
    d8-0.1-fedadam) echo "$D8 --dirichlet 0.1" ;;
    *) echo "unknown run $1" >&2; exit 2 ;;
    esac
}

name=$1; shift
seeds=${*:-0 1 2}
f="$(flags "$name") ${EXTRA:-}"
for seed in $seeds; do
    dir="docs/results/skew/$name${SUFFIX:-}-s$seed"
    mkdir -p "$dir"
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$BIN" simulate $f --seed "$seed" --out "$dir/result.json" 2> "$dir/progress.log" > "$dir/table.txt"
    end=$(date +%s.%N)
    echo "wall $(echo "$end - $start" | bc) s, load $(cut -d' ' -f1-3 /proc/loadavg)" > "$dir/time.txt"
done
