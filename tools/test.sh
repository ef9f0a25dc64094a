#!/usr/bin/env bash
# Installs what is missing, checks the format (clang-format-14), builds with sanitizers and runs
# every test:
#   1. preset `debug` (AddressSanitizer + UndefinedBehaviorSanitizer), all tests; every I/O test
#      twice: on io_uring (where the host allows it) and as <name>.epoll on the epoll backend;
#   2. preset `tsan` (ThreadSanitizer), all tests, load-sized ones scaled down by RMQ_TEST_SCALE;
#   3. the API reference (Doxygen), which fails on any undocumented public declaration;
#   4. preset `fuzz` (clang-14, libFuzzer): src/wire's harnesses replay their checked-in corpus,
#      then fuzz 6 s each (docs/reliability.md).
# Idempotent; safe to run again. Usage: tools/test.sh [--only debug|tsan|fuzz]
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$RMQ_ROOT"

presets=(debug tsan)
run_fuzz=1
if [ "${1:-}" = "--only" ]; then
  case "${2:?--only needs debug, tsan or fuzz}" in
    fuzz) presets=() ;;
    *) presets=("$2"); run_fuzz=0 ;;
  esac
fi

start=$(date +%s)
# Node.js may come from Debian (nodejs + npm) or elsewhere (e.g. a nodejs package that bundles
# npm): install the Debian packages only for the commands that are missing.
node_packages=()
command -v node >/dev/null || node_packages+=(nodejs)
command -v npm >/dev/null || node_packages+=(npm)
# Doxygen builds the API reference (target rmq_docs), checked below; clang-format-14 is the
# pinned formatter the tree is checked against; clang-14 and libclang-rt-14-dev (libFuzzer and
# the sanitizer runtimes) build the fuzz harnesses; the openssl command makes the TLS tests'
# certificates (libssl-dev does not bring it).
rmq_install_packages "${node_packages[@]}" openssl doxygen clang-format-14 clang-14 libclang-rt-14-dev
command -v node >/dev/null || rmq_die "node not found after install"
command -v npm >/dev/null || rmq_die "npm not found after install"

# The independent client of the conformance ring (ali-ons) comes from the npm registry.
alions_dir=tests/conformance/ali-ons
if [ -f "$alions_dir/package.json" ] && [ ! -d "$alions_dir/node_modules/ali-ons" ]; then
  rmq_log "installing the ali-ons npm package"
  (cd "$alions_dir" && npm ci --no-audit --no-fund --loglevel=error) \
    || rmq_die "npm ci in $alions_dir failed (is the npm registry reachable?)"
fi

rmq_log "checking the format of the tree (clang-format-14, .clang-format)"
tools/check_format.sh

for preset in "${presets[@]}"; do
  phase=$(date +%s)
  rmq_build_preset "$preset"
  rmq_log "built preset '$preset' in $(( $(date +%s) - phase )) s; running its tests"
  phase=$(date +%s)
  ctest --preset "$preset" -j 2 || rmq_die "tests of preset '$preset' failed"
  rmq_log "tests of preset '$preset' passed in $(( $(date +%s) - phase )) s"
done
if [ ${#presets[@]} -gt 0 ]; then
  phase=$(date +%s)
  cmake --build --preset "${presets[0]}" --target rmq_docs \
    || rmq_die "the API reference has undocumented declarations or doc errors (above)"
  rmq_log "API reference built in $(( $(date +%s) - phase )) s (build/${presets[0]}/docs/html)"
fi
if [ "$run_fuzz" = 1 ]; then
  phase=$(date +%s)
  rmq_build_preset fuzz
  rmq_log "built preset 'fuzz' in $(( $(date +%s) - phase )) s; replaying the corpus, then fuzzing"
  phase=$(date +%s)
  ctest --preset fuzz -j 2 || rmq_die "fuzz tests failed (the input is saved as crash-*/leak-*; see docs/reliability.md)"
  rmq_log "fuzz tests passed in $(( $(date +%s) - phase )) s"
fi
rmq_log "all tests passed in $(( $(date +%s) - start )) s"
