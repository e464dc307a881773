#!/usr/bin/env bash
# What LeukData's bounds and overflow checks cost (docs/data.md, "Bounds checks").
#
# Usage: docs/scripts/bounds_checks.sh [LEUKNODE_BINARY] [WORK_DIR]
# Synthesises two datasets once (2,000 PNGs of 64 px, 2,000 PNGs of 257 px, seed 1), runs
# `leuknode dataset decode-bench` three times on each and prints the median of the runs for both
# figures (decode on one thread, from memory; read + decode + resize to 64 on two threads), with the
# load average before each run. Run it with a binary built before and after the change to compare.
set -euo pipefail
bin=${1:-.build/release/leuknode}
work=${2:-/tmp/leuk-bounds}
mkdir -p "$work"
for size in 64 257; do
    [ -d "$work/synth$size" ] || "$bin" dataset synth --out "$work/synth$size" --count 2000 --size "$size" --seed 1 >/dev/null
done

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for size in 64 257; do
    decode=() cache=()
    for run in 1 2 3; do
        load=$(cut -d' ' -f1-3 /proc/loadavg)
        out=$("$bin" dataset decode-bench "$work/synth$size" --passes 3 --threads 2 --size 64)
        d=$(sed -n 's/^decode .* = \([0-9]*\) images\/s.*/\1/p' <<<"$out")
        c=$(sed -n 's/^cache .* = \([0-9]*\) images\/s.*/\1/p' <<<"$out")
        echo "synth$size run $run (load $load): decode $d images/s, cache $c images/s"
        decode+=("$d") cache+=("$c")
    done
    echo "synth$size median: decode $(printf '%s\n' "${decode[@]}" | median) images/s, cache $(printf '%s\n' "${cache[@]}" | median) images/s"
done
