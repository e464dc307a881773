#!/usr/bin/env bash
# Show each node's round, training state, neighbour distance, updates and connected peers, every few
# seconds (through `leuknode status --json`, so it works on running nodes only).
#
#   network/scripts/watch-nodes.sh [--dir DIR] [--every SECONDS] [--once]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${LEUKNODE:-$here/.build/debug/leuknode}
dir=.leuknode-net every=2 once=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --every) every=$2; shift 2 ;;
    --once) once=1; shift ;;
    *) echo "usage: $0 [--dir DIR] [--every SECONDS] [--once]" >&2; exit 2 ;;
  esac
done
summary='
import json, sys
s = json.load(sys.stdin)
peers = sum(1 for p in s["peers"] if p["state"] == "connected")
d = s.get("neighbor_distance")
dist = "n/a" if d is None else "%.3e" % d
print("%-8s %-6s %-9s %-12s %-10s %-10s %d/%d" % (sys.argv[1], s["round"], s["training"], dist,
      s["updates_received"], s["updates_sent"], peers, len(s["peers"])))
'
while true; do
  printf '%-8s %-6s %-9s %-12s %-10s %-10s %s\n' NODE ROUND TRAINING NEIGHBOR_D UPDATES_IN UPDATES_OUT PEERS
  for node in "$dir"/node-*/; do
    name=$(basename "$node")
    if json=$("$bin" status --data-dir "$node" --json 2> /dev/null); then
      printf '%s' "$json" | python3 -c "$summary" "$name"
    else
      printf '%-8s not running\n' "$name"
    fi
  done
  [ "$once" = 1 ] && break
  echo
  sleep "$every"
done
