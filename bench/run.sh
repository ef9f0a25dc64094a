#!/usr/bin/env bash
# Builds the release preset and runs the loop-vs-epoll and end-to-end benchmarks (and the
# micro-benchmarks) with the benchmark pinned to one core and its peer to another, writing JSON.
#
#   bench/run.sh [build-dir] [out-dir]        defaults: build-bench, <build-dir>/bench-results
#   RMQ_BENCH_CPU=0 RMQ_PEER_CPU=1 JOBS=2 RT_PRIO=10 RMQ_BENCH_REPETITIONS=5 bench/run.sh
#
# RT_PRIO (root only) runs the loop-vs-epoll and end-to-end benchmarks under SCHED_FIFO at that
# priority: on a machine that is busy with other work, wake-ups of the benchmark and its peer
# otherwise wait for other processes' time slices, and that wait, not the code, is measured.
#
# Repetitions are interleaved at random across the benchmarks of one executable
# (--benchmark_enable_random_interleaving), and each is reported as mean, median, stddev, cv,
# min and max: compare medians and ratios from the same run, and look at the spread.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build-bench}
out=${2:-$build/bench-results}
bench_cpu=${RMQ_BENCH_CPU:-0}
peer_cpu=${RMQ_PEER_CPU:-1}
jobs=${JOBS:-2}

cd "$root"

cmake --preset release -B "$build" -DRMQ_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" --target rmq-wire-bench rmq-loop-vs-epoll-bench rmq-producer-bench rmq-sim \
  -j "$jobs"
mkdir -p "$out"

echo "machine: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "kernel: $(uname -r); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "benchmark on cpu $bench_cpu, peer on cpu $peer_cpu"

export RMQ_BENCH_CPU=$bench_cpu RMQ_PEER_CPU=$peer_cpu RMQ_SIM="$build/tools/sim/rmq-sim"
common=(--benchmark_enable_random_interleaving=true
        --benchmark_out_format=json --benchmark_color=false)
rt=()
if [[ -n "${RT_PRIO:-}" ]]; then
  rt=(chrt -f "$RT_PRIO")
  echo "SCHED_FIFO priority $RT_PRIO"
fi

# The executables pin themselves (and their peers) to the CPUs above.
"${rt[@]}" "$build/bench/rmq-loop-vs-epoll-bench" "${common[@]}" \
  --benchmark_out="$out/loop_vs_epoll.json" | tee "$out/loop_vs_epoll.txt"
"${rt[@]}" "$build/bench/rmq-producer-bench" "${common[@]}" \
  --benchmark_out="$out/producer.json" | tee "$out/producer.txt"
taskset -c "$bench_cpu" "$build/bench/rmq-wire-bench" "${common[@]}" \
  --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_out="$out/wire.json" | tee "$out/wire.txt"

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); results in $out/"
