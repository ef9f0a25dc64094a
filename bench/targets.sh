#!/usr/bin/env bash
# Measures the performance targets of docs/performance.md with rmq-bench against its embedded rmq-sim
# (release build, 128-byte bodies, one producer; rmq-bench pins itself to one CPU and rmq-sim to
# another). Every case runs RUNS times; the summary gives the median and [min–max].
#
#   bench/targets.sh [build-dir] [out-dir]     defaults: build/release, <build-dir>/targets
#   RUNS=5 DURATION=10 WARMUP=2 bench/targets.sh
#
# Cases: async 1024 in flight (throughput, CPU per message); sync 1 thread next to a raw TCP
# echo of the same sizes; async at 1k/10k/50k/100k in flight (CPU per message, memory per in-flight
# send from peak RSS); async 1024 over 1/2/4/8/16 brokers; open loop at 50 % of the async-1024
# median, with the loop sleeping when idle and with it busy-polling. Not under SCHED_FIFO: every
# rmq-bench thread shares its CPU, and a busy real-time loop thread would starve the thread that
# ends the run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build/release}
out=${2:-$build/targets}
runs=${RUNS:-5}
duration=${DURATION:-10}
warmup=${WARMUP:-2}
bench="$build/tools/bench/rmq-bench"
[ -x "$bench" ] || { echo "error: $bench not built (cmake --build --preset release)" >&2; exit 1; }
mkdir -p "$out"

# value FILE KEY [SUBKEY]: a number from rmq-bench's JSON report (pretty-printed, two spaces of
# indent per level).
value() {
  awk -v k1="\"$2\":" -v k2="\"${3:-}\":" '
    k2 == "\"\":" && $1 == k1 && /^  "/ { v = $2; sub(/,$/, "", v); print v; exit }
    k2 != "\"\":" && $1 == k1 && /^  "/ { inside = 1; next }
    inside && /^  [}"]/ { exit }
    inside && $1 == k2 { v = $2; sub(/,$/, "", v); print v; exit }' "$1"
}

# raw_p50 FILE: the raw echo's p50 (raw_echo.latency_us.p50).
raw_p50() {
  awk '/^  "raw_echo"/ { r = 1 } r && $1 == "\"p50\":" { v = $2; sub(/,$/, "", v); print v; exit }' "$1"
}

# stats: numbers on stdin -> "median [min–max]".
stats() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "n/a"; exit }
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.4g [%.4g–%.4g]", m, v[1], v[NR] }'
}

# run NAME I ARGS...: run I of case NAME, one JSON file.
run() {
  local name=$1 i=$2
  shift 2
  echo "== $name run $i/$runs: rmq-bench $*" >&2
  "$bench" --duration "$duration" --warmup "$warmup" --size 128 \
    --json "$out/$name.$i.json" "$@" >"$out/$name.$i.txt"
}

# column NAME KEY [SUBKEY]: "median [min–max]" of one report value over the runs of NAME.
column() {
  local name=$1
  shift
  for f in "$out/$name".*.json; do value "$f" "$@"; done | stats
}

summary() {
  local name=$1
  printf '%-16s msgs/s %s  cpu_us/msg %s  p50 %s  p99 %s  p99.9 %s  us  rss_kib %s\n' "$name" \
    "$(column "$name" msgs_per_s)" "$(column "$name" cpu_us_per_msg)" \
    "$(column "$name" latency_us p50)" "$(column "$name" latency_us p99)" \
    "$(column "$name" latency_us p999)" "$(column "$name" peak_rss_kib)"
}

echo "machine: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/summary.txt"

# Rounds of one run of every case, so that the VM's changes of speed (up to 2x, over minutes)
# spread over all the cases instead of penalising those that happened to run then: the
# comparisons (1k against 100k in flight, 1 against 16 brokers) are within rounds.
for i in $(seq "$runs"); do
  run async1024 "$i" --mode async --inflight 1024
  run sync1 "$i" --mode sync --threads 1 --raw-echo
  for k in 1000 10000 50000 100000; do run "inflight$k" "$i" --mode async --inflight "$k"; done
  for b in 1 2 4 8 16; do run "brokers$b" "$i" --mode async --inflight 1024 --brokers "$b"; done
done
max=$(for f in "$out"/async1024.*.json; do value "$f" msgs_per_s; done | stats | cut -d' ' -f1)
rate=$(awk -v m="$max" 'BEGIN { printf "%d", m / 2 }')
# The open loop twice, alternating: the loop sleeping whenever it is idle (the default), and
# polling for 200 us before it sleeps (--busy-poll), which spares the sleep and wake-up per tick.
for i in $(seq "$runs"); do
  run openloop50 "$i" --mode async --inflight 1024 --rate "$rate"
  run openloop50poll "$i" --mode async --inflight 1024 --rate "$rate" --busy-poll 200
done

{
  for name in async1024 sync1 inflight1000 inflight10000 inflight50000 inflight100000 brokers1 brokers2 \
    brokers4 brokers8 brokers16 openloop50 openloop50poll; do
    summary "$name"
  done
  echo "raw echo p50 us: $(for f in "$out"/sync1.*.json; do raw_p50 "$f"; done | stats);" \
    "sync p50 / raw echo p50 per run: $(for f in "$out"/sync1.*.json; do
      awk -v a="$(value "$f" latency_us p50)" -v b="$(raw_p50 "$f")" 'BEGIN { printf "%.2f ", a / b }'
    done)"
  rss() { for f in "$out/inflight$1".*.json; do value "$f" peak_rss_kib; done | stats | cut -d' ' -f1; }
  r1=$(rss 1000)
  r50=$(rss 50000)
  r100=$(rss 100000)
  # 1k -> 100k counts the write buffers too, which fill up to their bound on the way; between 50k
  # and 100k both runs have them full, so the difference is what each further send holds.
  awk -v a="$r1" -v h="$r50" -v b="$r100" 'BEGIN {
    printf "memory per in-flight send: (%.0f - %.0f) KiB / 99000 = %.0f bytes (1k -> 100k);", b, a,
      (b - a) * 1024 / 99000
    printf " (%.0f - %.0f) KiB / 50000 = %.0f bytes (50k -> 100k)\n", b, h, (b - h) * 1024 / 50000 }'
  # Flatness within each round: CPU per message relative to the round's first case.
  ratios() {
    local base=$1
    shift
    for i in $(seq "$runs"); do
      local b
      b=$(value "$out/$base.$i.json" cpu_us_per_msg)
      for name in "$@"; do
        awk -v a="$(value "$out/$name.$i.json" cpu_us_per_msg)" -v b="$b" 'BEGIN { printf "%.2f ", a / b }'
      done
      printf '| '
    done
  }
  echo "CPU per message / 1k in flight, per round (10k 50k 100k): $(ratios inflight1000 \
    inflight10000 inflight50000 inflight100000)"
  echo "CPU per message / 1 broker, per round (2 4 8 16): $(ratios brokers1 brokers2 brokers4 \
    brokers8 brokers16)"
  echo "open loop rate: $rate msgs/s (50 % of the async-1024 median $max)"
  # The tail follows the hypervisor's steal time: each run's p99 and p99.9 beside it.
  for name in openloop50 openloop50poll; do
    printf '%s per run (p99 us, p99.9 us, host steal ms):' "$name"
    for i in $(seq "$runs"); do
      printf ' %s/%s/%s' "$(value "$out/$name.$i.json" latency_us p99)" \
        "$(value "$out/$name.$i.json" latency_us p999)" "$(value "$out/$name.$i.json" steal_ms total)"
    done
    echo
  done
} | tee -a "$out/summary.txt"
