#!/usr/bin/env bash
# Installs what is missing, builds the release preset and runs the main job: rmq-bench against
# an embedded rmq-sim (started as a child process on loopback), about 10 s of load, then the
# report. Extra arguments go to rmq-bench (e.g. --mode sync --threads 1, or --namesrv H:P).
# Idempotent; safe to run again.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$RMQ_ROOT"

rmq_install_packages
rmq_log "configuring preset 'release'"
cmake --preset release -S "$RMQ_ROOT" >/dev/null || rmq_die "cmake configure (release) failed"
rmq_log "building rmq-bench and rmq-sim"
cmake --build --preset release -j "$(nproc)" --target rmq-bench rmq-sim rmq-send \
  || rmq_die "release build failed"

bench="$RMQ_ROOT/build/release/tools/bench/rmq-bench"
[ -x "$bench" ] || rmq_die "rmq-bench was not built ($bench)"
report="$RMQ_ROOT/build/release/rmq-bench-report.json"
rmq_log "running rmq-bench (report also in $report)"
"$bench" --duration 10 --warmup 2 --mode async --inflight 1024 --size 128 \
  --json "$report" "$@"
