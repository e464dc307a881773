#!/usr/bin/env bash
# Stop the nodes started by start-nodes.sh: SIGTERM (graceful: peers told, model stored, database
# closed), then SIGKILL after a grace period. --remove deletes the directory afterwards.
#
#   network/scripts/stop-nodes.sh [--dir DIR] [--remove]
set -euo pipefail
dir=.leuknode-net remove=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --remove) remove=1; shift ;;
    *) echo "usage: $0 [--dir DIR] [--remove]" >&2; exit 2 ;;
  esac
done
[ -d "$dir" ] || { echo "no $dir" >&2; exit 1; }
pids=()
for f in "$dir"/node-*.pid; do
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2> /dev/null; then kill -TERM "$pid"; pids+=("$pid"); fi
  rm -f "$f"
done
for _ in $(seq 1 100); do
  alive=0
  for pid in "${pids[@]}"; do kill -0 "$pid" 2> /dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.1
done
for pid in "${pids[@]}"; do kill -0 "$pid" 2> /dev/null && { echo "pid $pid did not stop in 10 s: killing it" >&2; kill -KILL "$pid"; }; done
echo "stopped ${#pids[@]} node(s)"
[ "$remove" = 1 ] && rm -rf "$dir" && echo "removed $dir"
exit 0
