#!/usr/bin/env bash
# Runs every fuzz target of a sanitized leukfuzz (make fuzz builds it) for SECONDS each, one after another.
#
#   docs/scripts/fuzz.sh .build/fuzz/debug/leukfuzz [SECONDS] [TARGET...]
#
# Inputs: every target's seeds, made afresh by `leukfuzz seeds .build/fuzz/seeds` (the product's own encoders;
# the repository keeps those of every target but `image` under Tests/FuzzCorpus/<target>/seeds for the replay
# test, and no image), and Tests/FuzzCorpus/<target>/regressions (inputs that once crashed), read only; what libFuzzer finds on the
# way grows .build/fuzz/corpus/<target>, kept between runs. A crash, an ASan report, a timeout or an
# out-of-memory writes its input to Tests/FuzzCorpus/<target>/regressions/ (commit it with the fix: LeukFuzzTests
# replays every file there in `make test`). Each run appends a line to .build/fuzz/stats.tsv: date, target,
# seconds, executions, crashes. Exits 1 if any target crashed.
set -uo pipefail

BIN=${1:?usage: fuzz.sh LEUKFUZZ [SECONDS] [TARGET...]}
SECONDS_EACH=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK="$ROOT/.build/fuzz"
STATS="$WORK/stats.tsv"
mkdir -p "$WORK/corpus" "$WORK/logs"
[ -f "$STATS" ] || printf 'date\ttarget\tseconds\texecutions\tcrashes\n' > "$STATS"

TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then mapfile -t TARGETS < <("$BIN" list | cut -f1); fi

# Swift's crash backtracer would symbolicate for minutes under ASan; libFuzzer prints the stack itself.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=0}

"$BIN" seeds "$WORK/seeds" > /dev/null || { echo "fuzz.sh: leukfuzz could not write its seeds" >&2; exit 1; }

failed=0
total=0
printf '%-22s %12s %8s %s\n' target executions crashes "exec/s"
for target in "${TARGETS[@]}"; do
  corpus="$WORK/corpus/$target"
  seeds="$WORK/seeds/$target/seeds"
  regressions="$ROOT/Tests/FuzzCorpus/$target/regressions"
  mkdir -p "$corpus" "$regressions"
  log="$WORK/logs/$target.log"
  # -rss_limit_mb and -malloc_limit_mb make an unbounded allocation a finding; -timeout one slow input.
  # The regressions run first among the inputs, so a fixed crash is checked before the fuzzer moves on.
  "$BIN" run "$target" -max_total_time="$SECONDS_EACH" -timeout=25 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$regressions/" \
      "$corpus" "$seeds" "$regressions" > "$log" 2>&1
  status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  if [ -z "$runs" ]; then runs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#'); fi
  crashes=0
  if [ $status -ne 0 ]; then
    crashes=1
    failed=1
    echo "$target: crashed (exit $status); input saved under $regressions, log in $log" >&2
    grep -m1 -E 'ERROR: (AddressSanitizer|libFuzzer)|Fatal error|deadly signal' "$log" >&2
  fi
  total=$(( total + ${runs:-0} ))
  printf '%-22s %12s %8s %s\n' "$target" "${runs:-0}" "$crashes" "${rate:-?}"
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "$SECONDS_EACH" "${runs:-0}" "$crashes" >> "$STATS"
done
printf '%-22s %12s\n' total "$total"
exit $failed
