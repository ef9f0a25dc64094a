#!/usr/bin/env bash
# Checks that every C++ source in the repository is formatted as .clang-format says, with the
# pinned clang-format (Debian 12's clang-format-14: another version formats differently).
#   tools/check_format.sh          list the files that differ; exit 1 if any
#   tools/check_format.sh --fix    format them in place
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$RMQ_ROOT"

formatter=clang-format-14
command -v "$formatter" >/dev/null || rmq_die "$formatter not found (apt-get install clang-format-14)"

mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' ':!:**/node_modules/**')
if [ "${1:-}" = "--fix" ]; then
  "$formatter" --style=file -i "${files[@]}"
  exit 0
fi
# --dry-run prints a warning per unformatted spot; one process for the whole tree.
if ! report=$("$formatter" --style=file --dry-run -Werror "${files[@]}" 2>&1); then
  grep -o '^[^:]*:[0-9]*:[0-9]*: error' <<<"$report" | cut -d: -f1 | sort -u >&2 || true
  rmq_die "files above differ from .clang-format ($formatter): run tools/check_format.sh --fix"
fi
rmq_log "formatting: ${#files[@]} files match .clang-format ($formatter)"
