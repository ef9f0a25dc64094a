#!/usr/bin/env bash
# Runs a program against a fresh rmq-sim:
#   run_with_sim.sh RMQ_SIM PROGRAM [ARGS...]
#   run_with_sim.sh RMQ_SIM [SIM_OPTIONS...] -- PROGRAM [ARGS...]
# rmq-sim (two brokers, TopicTest unless SIM_OPTIONS name --topics) prints one line per listener
# and then "ready"; we read them as they come and hand the NameServer's address to the program as
# NAMESRV_ADDR.
set -euo pipefail
sim=$1
shift
sim_options=()
if [[ " $* " == *" -- "* ]]; then
  while [ "$1" != "--" ]; do
    sim_options+=("$1")
    shift
  done
  shift
fi
default_topics=(--topics TopicTest)
[[ " ${sim_options[*]} " == *" --topics "* ]] && default_topics=()
coproc SIM { exec "$sim" --port 0 --brokers 2 "${default_topics[@]}" "${sim_options[@]}"; }
sim_pid=$SIM_PID
trap 'kill $sim_pid 2>/dev/null || true; wait $sim_pid 2>/dev/null || true' EXIT
namesrv=""
while IFS= read -r -t 30 line <&"${SIM[0]}"; do
  case $line in
    "namesrv "*) namesrv=${line##* } ;;
    ready) break ;;
  esac
done
[ -n "$namesrv" ] || { echo "rmq-sim did not become ready" >&2; exit 1; }
NAMESRV_ADDR=$namesrv "$@"
