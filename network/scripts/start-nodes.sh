#!/usr/bin/env bash
# Start N leuknode nodes on loopback, each with its own data directory and synthetic images,
# admitting each other along a topology (full mesh by default).
#
#   network/scripts/start-nodes.sh N [--dir DIR] [--topology full|ring|FILE] [--base-port P] [--count IMAGES] [-- START-FLAGS...]
#
# Writes DIR/node-K/ (data directory), DIR/data-K/ (images), DIR/node-K.log and DIR/node-K.pid.
# Stop them with network/scripts/stop-nodes.sh, watch them with network/scripts/watch-nodes.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${LEUKNODE:-$here/.build/debug/leuknode}
[ -x "$bin" ] || { echo "no leuknode binary at $bin: run 'swift build --product leuknode' (or set LEUKNODE)" >&2; exit 1; }

n=${1:-}
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 2 ] && [ "$n" -le 64 ] || { echo "usage: $0 N (2..64) [--dir DIR] [--topology full|ring|FILE] [--base-port P] [--count IMAGES] [-- start flags]" >&2; exit 2; }
shift
dir=.leuknode-net topology=full base=7700 count=300
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --topology) topology=$2; shift 2 ;;
    --base-port) base=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -e "$dir" ]; then echo "$dir exists: stop its nodes and remove it first (network/scripts/stop-nodes.sh --dir $dir --remove)" >&2; exit 1; fi
mkdir -p "$dir"

edges=()
case "$topology" in
  full) for ((i = 1; i <= n; i++)); do for ((j = i + 1; j <= n; j++)); do edges+=("$i $j"); done; done ;;
  ring) for ((i = 1; i <= n; i++)); do edges+=("$i $(( i % n + 1 ))"); done ;;
  *) [ -f "$topology" ] || { echo "no topology file $topology" >&2; exit 2; }
     while read -r a b _; do
       [[ "$a" =~ ^[0-9]+$ && "$b" =~ ^[0-9]+$ ]] || continue
       [ "$a" -le "$n" ] && [ "$b" -le "$n" ] || { echo "edge $a $b names a node above $n" >&2; exit 2; }
       edges+=("$a $b")
     done < <(sed 's/#.*//' "$topology") ;;
esac

declare -A contact
for ((k = 1; k <= n; k++)); do
  peer_port=$(( base + 2 * (k - 1) )) api_port=$(( base + 2 * (k - 1) + 1 ))
  "$bin" dataset synth --out "$dir/data-$k" --count "$count" --seed "$k" --site $(( (k - 1) % 3 )) > /dev/null
  "$bin" init --data-dir "$dir/node-$k" --name "node-$k" --listen "127.0.0.1:$peer_port" --api "127.0.0.1:$api_port" > /dev/null
  contact[$k]=$("$bin" id --data-dir "$dir/node-$k" | head -n 1)
done
for edge in "${edges[@]}"; do
  read -r a b <<< "$edge"
  "$bin" peer add --data-dir "$dir/node-$a" "${contact[$b]}" > /dev/null
  "$bin" peer add --data-dir "$dir/node-$b" "${contact[$a]}" > /dev/null
done
for ((k = 1; k <= n; k++)); do
  nohup "$bin" start --data-dir "$dir/node-$k" --dataset "$dir/data-$k" "${extra[@]}" > "$dir/node-$k.log" 2>&1 &
  echo $! > "$dir/node-$k.pid"
  echo "node-$k: pid $!, peers on 127.0.0.1:$(( base + 2 * (k - 1) )), API on 127.0.0.1:$(( base + 2 * (k - 1) + 1 )), log $dir/node-$k.log"
done
echo "${#edges[@]} admitted links ($topology). Watch: network/scripts/watch-nodes.sh --dir $dir   Stop: network/scripts/stop-nodes.sh --dir $dir"
