#!/bin/sh
# The Byzantine-robustness benchmark of issue 13 (docs/results.md, "Byzantine peers on the node's default
# recipe"): 10 nodes of synthetic cells, Dirichlet 0.5, everyone with everyone, 10 rounds of the node's default
# recipe (one local epoch a round in 80 exchanges, adaptive class balance), 3 of them attackers (chosen by the seed), for each attack and each mixing
# rule, plus the runs without attackers. Baselines are skipped (only the federated nodes are compared). Each
# run writes docs/results/byzantine-inround/<attack>-<rule>-s<seed>/
# {summary.json,progress.log,table.txt,time.txt} (byzantine_summary.py keeps the figures and drops the per-image
# scores); summarise with docs/scripts/byzantine_table.py.
#
# Usage: docs/scripts/byzantine.sh [SEED ...]            every attack x rule (seeds default to 0)
#        RUNS="sign-flip:mean none:trimmed" docs/scripts/byzantine.sh 0 1 2
# BIN (default .build/debug/leuknode; a release build gives the same numbers faster; copy it elsewhere if you
# rebuild during a sweep, or runs started during the link fail) and JOBS (default 2: one training thread per
# run, two runs side by side on a 2-core machine) can be set. ARIA=1 runs on the real images of Aria et al.
# (../shared/datasets/aria2021, 64x64) instead, into docs/results/byzantine-aria/. GATE=1 runs every node as
# `leuknode start` does: 15% of its images held out as its validation split, the promotion gate, and the
# peers' models scored on that split every round (`simulate --gate`); into .../byzantine[-aria]-gate-inround/.
# Every recipe below runs SGD on the local steps, the default optimiser, and pins it; RECIPE=adam runs the in-round
# recipe with Adam on the averaged model's move (`--optimizer adam`, folders -adam).
# RECIPE=epoch runs the previous default (one exchange a round, each node's own class counts) into the
# "-epoch" folders, RECIPE=old the recipe of the earlier sections (fixed batches of 32, 20 steps a round) into
# the folders without a suffix, so that their rows reproduce. SUFFIX is appended to the output folder; EXTRA is
# appended to every run's flags (e.g. EXTRA="--clip-quantile 0.67").
set -eu
BIN=${BIN:-.build/debug/leuknode}
JOBS=${JOBS:-2}
# RECIPE=default: the node's default recipe (folders -inround); RECIPE=adam the same with Adam on the averaged
# model's move (folders -adam); RECIPE=epoch the one-local-epoch recipe with one exchange a
# round and each node's own class counts (folders -epoch); RECIPE=old the one the first figures were measured
# with (fixed batches of 32, 20 steps a round; no folder suffix).
BASE="--nodes 10 --rounds 10 --dirichlet 0.5 --topology full --no-baselines"
PIN="--exchanges-per-round 1 --class-balance local"
SGD="--optimizer sgd"
case ${RECIPE:-default} in
default) EPOCH=-inround; BASE="$BASE $SGD" ;;
adam) EPOCH=-adam; BASE="$BASE --optimizer adam" ;;
epoch) EPOCH=-epoch; BASE="$BASE $SGD $PIN" ;;
old) EPOCH=""; BASE="$BASE $SGD $PIN --batch 32 --steps-per-round 20" ;;
*) echo "RECIPE is default, adam, epoch or old, not ${RECIPE}" >&2; exit 2 ;;
esac
OUT=docs/results/byzantine
if [ "${ARIA:-}" = 1 ]; then
    BASE="$BASE --dataset ${ARIA_DIR:-/work/shared/datasets/aria2021} --label-map Benign=hem,Early=all,Pre=all,Pro=all"
    OUT=docs/results/byzantine-aria
fi
if [ "${GATE:-}" = 1 ]; then
    BASE="$BASE --gate"
    OUT=$OUT-gate
fi
# SUFFIX keeps a re-run beside the figures it supersedes (e.g. SUFFIX=-camps: docs/results/byzantine-camps/).
OUT=$OUT$EPOCH${SUFFIX:-}
ATTACKS="none sign-flip alie gaussian label-flip stale free-rider"
RULES="mean clipped trimmed"
if [ -z "${RUNS:-}" ]; then
    RUNS=""
    for a in $ATTACKS; do for r in $RULES; do RUNS="$RUNS $a:$r"; done; done
fi

flags() {
    attack=${1%%:*}; rule=${1##*:}
    case $rule in
    mean) f="--aggregation mean" ;;
    clipped) f="--aggregation clipped" ;;
    # Each honest node has 9 neighbours, 3 of them attackers: drop 3 from each end per parameter.
    trimmed) f="--aggregation trimmed-mean --trim 3" ;;
    *) echo "unknown rule $rule" >&2; exit 2 ;;
    esac
    [ "$attack" = none ] || f="$f --byzantine 3 --attack $attack"
    echo "$BASE $f ${EXTRA:-}"
}

run() {
    run=$1; seed=$2
    dir="$OUT/$(echo "$run" | tr : -)-s$seed"
    # KEEP=1 skips runs that already have their summary (to resume a sweep that stopped).
    if [ "${KEEP:-}" = 1 ] && [ -f "$dir/summary.json" ]; then echo "kept $dir"; return; fi
    mkdir -p "$dir"
    start=$(date +%s.%N)
    # shellcheck disable=SC2046
    "$BIN" simulate $(flags "$run") --seed "$seed" --out "$dir/result.json" 2> "$dir/progress.log" > "$dir/table.txt"
    end=$(date +%s.%N)
    echo "wall $(echo "$end - $start" | bc) s, load $(cut -d' ' -f1-3 /proc/loadavg)" > "$dir/time.txt"
    python3 "$(dirname "$0")/byzantine_summary.py" "$dir"
}

# Two runs side by side (xargs -P): `jobs` in a POSIX sh cannot count background runs reliably.
export BIN JOBS ARIA ARIA_DIR GATE SUFFIX EXTRA RECIPE KEEP
if [ "${1:-}" = --one ]; then run "$2" "$3"; exit 0; fi
seeds=${*:-0}
for seed in $seeds; do
    for r in $RUNS; do echo "$r $seed"; done
done | xargs -P "$JOBS" -L 1 "$0" --one
