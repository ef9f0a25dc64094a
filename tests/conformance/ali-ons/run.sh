#!/usr/bin/env bash
# ali-ons (an independent JavaScript RocketMQ client) against rmq-sim: start rmq-sim, wait for
# its `ready` line, send 100 messages with ali-ons, stop rmq-sim, check what it holds.
# Fails (never skips) when node or the npm packages are missing. Install them with:
#   npm ci --prefix tests/conformance/ali-ons   (or: npm install --prefix tests/conformance/ali-ons)
#   usage: run.sh RMQ_SIM_BINARY [TEST_DIR]
set -euo pipefail

sim_binary=$1
test_dir=${2:-$(cd "$(dirname "$0")" && pwd)}
topic=AliOnsTopic
count=100

fail() { echo "ali-ons conformance: FAIL: $*" >&2; exit 1; }

command -v node >/dev/null || fail "node is not installed"
for package in ali-ons urllib; do
  [[ -f "$test_dir/node_modules/$package/package.json" ]] ||
    fail "npm package $package missing: run 'npm ci --prefix $test_dir'"
done
[[ -x "$sim_binary" ]] || fail "rmq-sim binary not found: $sim_binary"

work=$(mktemp -d)
sim_pid=
cleanup() {
  if [[ -n "$sim_pid" ]] && kill -0 "$sim_pid" 2>/dev/null; then kill -KILL "$sim_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# ali-ons does not fall back to TBW102: the topic is created up front. rmq-sim's standard output
# comes through a pipe, so that the script can block on its lines instead of polling a file.
mkfifo "$work/sim.pipe"
"$sim_binary" --port 0 --topics "$topic" --stats-file "$work/stats.json" --stats-messages \
  >"$work/sim.pipe" 2>"$work/sim.err" &
sim_pid=$!
exec 3<"$work/sim.pipe"

# Wait for the `ready` line, with a deadline. read fails with a status above 128 on its
# timeout, and with a lower one at the end of the output (rmq-sim exited).
deadline=$((SECONDS + 60))
ready=
read_status=0
while [[ -z "$ready" ]]; do
  remaining=$((deadline - SECONDS))
  if (( remaining <= 0 )); then read_status=142; break; fi
  if IFS= read -r -t "$remaining" -u 3 line; then
    echo "$line" >>"$work/sim.out"
    [[ $line == ready ]] && ready=1
  else
    read_status=$?
    break
  fi
done
if [[ -z "$ready" ]]; then
  (( read_status > 128 )) && fail "rmq-sim not ready within 60 s"
  cat "$work/sim.err" >&2
  fail "rmq-sim exited early"
fi
# The rest of its output (the final statistics) keeps flowing into the file, so that rmq-sim
# never blocks on a full pipe; the copy ends when rmq-sim closes its output.
cat <&3 >>"$work/sim.out" &
copy_pid=$!
exec 3<&-
namesrv=$(awk '$1 == "namesrv" { print $3 }' "$work/sim.out")
[[ -n "$namesrv" ]] || fail "no namesrv line in rmq-sim output"
echo "rmq-sim name server at $namesrv"

cd "$test_dir"
timeout 120 node producer.js "$namesrv" "$topic" "$count" || fail "ali-ons producer failed"

kill -TERM "$sim_pid"
wait "$sim_pid" || fail "rmq-sim did not exit cleanly (status $?)"
sim_pid=
wait "$copy_pid"
cat "$work/sim.out"
node check.js "$work/stats.json" "$topic" "$count" || fail "rmq-sim does not hold the messages"
