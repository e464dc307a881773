#!/usr/bin/env bash
# Fuzzes a real node's local API against docs/api/openapi.yaml with schemathesis and its default checks
# (server errors, status codes, content types, headers, response schemas, invalid data accepted, valid
# data refused, auth ignored, stateful use of the document's `links`). Exits non-zero on any failure.
#
#   docs/scripts/schemathesis.sh [path/to/leuknode]      (default .build/debug/leuknode)
#
# It installs schemathesis into a virtualenv outside the repository when it is missing
# ($LEUKNODE_VENV, default ~/.cache/leuknode-venv), starts a throwaway node on free loopback ports
# with a small synthetic dataset, creates a doctor, a patient and free slots (offered to the fuzzer
# with a real cell image through schemathesis dictionaries), fuzzes as the doctor and then as the operator
# (admin.token), and stops the node. Each pass is bounded by SCHEMATHESIS_SECONDS (default 25 s).
# Per-operation exceptions, each with its reason, are in docs/scripts/schemathesis.toml.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$(realpath "${1:-$ROOT/.build/debug/leuknode}")
VENV=${LEUKNODE_VENV:-$HOME/.cache/leuknode-venv}
SECONDS_PER_PASS=${SCHEMATHESIS_SECONDS:-25}
VERSION=4.32.5   # pinned: the default checks grow between releases

[ -x "$BIN" ] || { echo "schemathesis.sh: no leuknode binary at $BIN (build first)" >&2; exit 1; }
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
  echo "installing schemathesis $VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/leuknode-schemathesis.XXXXXX")
NODE_PID=""
cleanup() {
  if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then
    kill -TERM "$NODE_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$NODE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$NODE_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
PEER_PORT=$(free_port)
API_PORT=$(free_port)
DATA="$WORK/node"
export LEUKNODE_SESSION="$WORK/doctor.session"
unset LEUKNODE_HOME

"$BIN" dataset synth --out "$WORK/cells" --count 16 --seed 7 >/dev/null
"$BIN" init --data-dir "$DATA" --listen "127.0.0.1:$PEER_PORT" --api "127.0.0.1:$API_PORT" --name fuzz >/dev/null
# 16 images leave 2 for validation, too few to check either recall: such a site holds by default
# (`--partial-validation hold`) and would answer every diagnosis 503. The fuzzer needs a served model to
# reach the diagnosis paths, so this throwaway node follows the federation unchecked.
"$BIN" start --data-dir "$DATA" --dataset "$WORK/cells" --rounds 1 --partial-validation follow >"$WORK/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 600); do
  grep -q "API on 127.0.0.1:$API_PORT" "$WORK/node.log" && break
  kill -0 "$NODE_PID" 2>/dev/null || { echo "the node exited before serving:" >&2; cat "$WORK/node.log" >&2; exit 1; }
  sleep 0.1
done
grep -q "API on 127.0.0.1:$API_PORT" "$WORK/node.log" || { echo "the node did not start serving in 60 s" >&2; exit 1; }

# A doctor (the clinic's routes) and a patient for it to treat; the operator token covers the admin routes.
PASSWORD="fuzz-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
"$BIN" user add --data-dir "$DATA" --role doctor --name dr.fuzz --password-stdin <<<"$PASSWORD" >/dev/null
"$BIN" user add --data-dir "$DATA" --role patient --name ana --password-stdin <<<"$PASSWORD-ana" >/dev/null
"$BIN" login --data-dir "$DATA" --name dr.fuzz --password-stdin <<<"$PASSWORD" >/dev/null
DOCTOR=$(tr -d '\n' <"$LEUKNODE_SESSION")
OPERATOR=$(tr -d '\n' <"$DATA/admin.token")

# Real values for the fuzzer to start from, offered half the time: the patient, free slots of the doctor
# (tomorrow and the day after), and a cell image the model can read. With them a pass reaches
# diagnoses, bookings and their links (review, release, confirm, cancel, messages), not only 404s.
SLOTS=""
for day in 1 2; do
  for hour in 08 09 10 11 12 13 14 15; do
    start=$(date -u -d "$(date -u -d "+$day day" +%Y-%m-%d)T$hour:00:00Z" +%Y-%m-%dT%H:%M:%SZ)
    id=$("$BIN" slot add --data-dir "$DATA" --start "$start" --minutes 30 --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    SLOTS="$SLOTS\"$id\", "
  done
done
IMAGE=$(find "$WORK/cells" -name '*.png' | sort | head -1)
printf '"%s"\n' "$(base64 -w0 "$IMAGE")" >"$WORK/images.dict"
{
  cat "$ROOT/docs/scripts/schemathesis.toml"
  cat <<TOML

[dictionaries.patients]
values = ["ana"]

[dictionaries.slots]
values = [${SLOTS%, }]

[dictionaries.images]
from-file = "$WORK/images.dict"

[parameters]
"body.patient" = { dictionary = "patients", probability = 0.5 }
"body.slot" = { dictionary = "slots", probability = 0.5 }
"body.image_base64" = { dictionary = "images", probability = 0.5 }
TOML
} >"$WORK/schemathesis.toml"

# One worker: hypothesis walks Python ASTs, which CPython 3.11 cannot do from two threads at once
# ("AST constructor recursion depth mismatch"), and the node answers fast enough for one.
# `/v1/events` never ends while the session lives (it is tested in Tests/LeukAPITests), and
# `/v1/logout` would end the session the pass runs with.
run_pass() {
  local who=$1 token=$2; shift 2
  echo "schemathesis: $who, $SECONDS_PER_PASS s"
  # Run from the scratch folder: schemathesis keeps its example database in ./.schemathesis.
  (cd "$WORK" && "$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" run \
    "http://127.0.0.1:$API_PORT/v1/openapi.yaml" \
    --url "http://127.0.0.1:$API_PORT" \
    --header "Authorization: Bearer $token" \
    --exclude-path /v1/events --exclude-path /v1/logout \
    --max-time "$SECONDS_PER_PASS" --seed 1 --workers 1 --no-color \
    --report junit --report-dir "$WORK/report-$who" "$@")
}
status=0
run_pass doctor "$DOCTOR" || status=1
run_pass operator "$OPERATOR" \
  --include-path-regex '^/(v1/(users|break-glass|audit|status|peers|model|me|login|health|openapi)|metrics)' || status=1
[ "$status" -eq 0 ] || { echo "schemathesis found failures; the node's log:" >&2; tail -50 "$WORK/node.log" >&2; }
exit "$status"
