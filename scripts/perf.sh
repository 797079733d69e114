#!/usr/bin/env bash
# Measures Chalk under load (docs/performance.md): builds chalk and chalk-load, then runs each
# scenario once against a fresh server pinned to one CPU, with the load generator on another, and
# prints one JSON line per run (also saved under $OUT). The lecture run also saves the server's CPU
# and allocation profiles and prints their top entries, and the forwarding benchmarks run last.
#
# Run it on an otherwise idle machine with at least 2 cores; every figure in a run is relative to
# the raw UDP floor measured in the same run. Settings (environment):
#   SERVER_CPU=0 LOAD_CPU=1   the CPUs to pin to
#   DURATION=30s WARMUP=5s    the measurement window and the wait before it
#   STUDENTS=200              lecture size
#   OUT=perf-results/<date>   where JSON lines and profiles go
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
DURATION=${DURATION:-30s}
WARMUP=${WARMUP:-5s}
STUDENTS=${STUDENTS:-200}
OUT=${OUT:-perf-results/$(date -u +%Y%m%dT%H%M%SZ)}

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
mkdir -p "$OUT"
echo "== build (into $bin)"
go build -o "$bin/" ./cmd/chalk ./cmd/chalk-load

load() {
  local name=$1
  shift
  echo "== $name" >&2
  "$bin/chalk-load" -server-cpu "$SERVER_CPU" -load-cpu "$LOAD_CPU" -duration "$DURATION" -warmup "$WARMUP" "$@" \
    2>"$OUT/$name.log" | tee "$OUT/$name.json"
}

echo "== machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(go version)"
load floor -scenario floor -floor 3s
load lecture -scenario lecture -n "$STUDENTS" -profile-dir "$OUT/lecture-profile"
load lecture-nobatch -scenario lecture -n "$STUDENTS" -server-args "-media-batch=false"
load seminar -scenario seminar -n 12
load breakouts -scenario breakouts -n 10

echo "== server CPU profile, lecture (top 15)"
go tool pprof -top -nodecount=15 "$bin/chalk" "$OUT/lecture-profile/cpu.pprof" 2>/dev/null | sed -n '5,25p'
echo "== forwarding benchmarks"
go test -run '^$' -bench 'Forward|FanOut|DownTrackRewrite' -benchtime 2000x ./sfu/ 2>&1 | grep -E '^(Benchmark|ok|FAIL)' | tee "$OUT/bench.txt"
echo "== results in $OUT"
