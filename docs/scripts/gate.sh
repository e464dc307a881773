#!/bin/sh
# The promotion gate in the attack harness (issue 13, docs/results.md "Promotion gate"): the Byzantine
# benchmark's setting (10 nodes of synthetic cells, Dirichlet 0.5, everyone with everyone, 10 rounds of 20
# steps, 3 attackers) with `--gate`: every honest node holds out 15% of its images and serves a merged
# model only when it passes the default floors there. Writes docs/results/gate/<attack>-<rule>-s<seed>/
# {summary.json,progress.log}; summarise with docs/scripts/gate_table.py.
#
# Usage: docs/scripts/gate.sh [SEED ...]   (RUNS, BIN, JOBS as in byzantine.sh)
set -eu
BIN=${BIN:-.build/debug/leuknode}
JOBS=${JOBS:-2}
# The recipe these figures were measured with (before one-local-epoch rounds became the default).
BASE="--nodes 10 --rounds 10 --dirichlet 0.5 --topology full --no-baselines --gate --exchanges-per-round 1 --class-balance local --batch 32 --steps-per-round 20"
OUT=docs/results/gate
RUNS=${RUNS:-"none:clipped sign-flip:mean sign-flip:clipped alie:mean gaussian:mean label-flip:mean"}

run() {
    run=$1; seed=$2
    attack=${run%%:*}; rule=${run##*:}
    f="$BASE --aggregation $rule"
    [ "$attack" = none ] || f="$f --byzantine 3 --attack $attack"
    dir="$OUT/$attack-$rule-s$seed"
    mkdir -p "$dir"
    # shellcheck disable=SC2086
    "$BIN" simulate $f --seed "$seed" --out "$dir/result.json" 2> "$dir/progress.log" > /dev/null
    python3 "$(dirname "$0")/byzantine_summary.py" "$dir"
    echo "done $dir"
}

# Runs side by side with xargs -P, as byzantine.sh does.
export BIN JOBS
if [ "${1:-}" = --one ]; then run "$2" "$3"; exit 0; fi
seeds=${*:-0}
for seed in $seeds; do
    for r in $RUNS; do echo "$r $seed"; done
done | xargs -P "$JOBS" -L 1 "$0" --one
