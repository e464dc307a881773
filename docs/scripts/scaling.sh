#!/bin/sh
# Time and memory against the node count: the same per-node work (synthetic, 16x16, 40 images per
# node, 3 rounds of 2 steps, random-4 topology where possible) for N = 4 ... 64.
set -eu
BIN=${BIN:-.build/release/leuknode}
mkdir -p docs/results/scaling
for n in 4 8 16 32 64; do
    topology=random-2; [ "$n" -ge 8 ] && topology=random-4
    "$BIN" simulate --synthetic --nodes "$n" --rounds 3 --steps-per-round 2 --batch 32 --size 16 --images-per-node 40 \
        --test-images 64 --topology "$topology" --dirichlet 0.5 --seed 0 --quiet \
        --out "docs/results/scaling/nodes-$n.json" > /dev/null
    python3 -c "import json,sys; r=json.load(open('docs/results/scaling/nodes-$n.json')); c=r['config']; print(f\"| $n | {c['topology']} | {c['wall_seconds']:.1f} | {c['peak_rss_mib']:.0f} | {r['bytes_per_node_per_round']/1e6:.2f} |\")"
done
