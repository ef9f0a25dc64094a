# Shared by tools/run.sh and tools/test.sh: installs what is missing, with clear errors.
# shellcheck shell=bash

RMQ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RMQ_DEB_PACKAGES=(cmake ninja-build g++ pkg-config
  liburing-dev libasio-dev libspdlog-dev doctest-dev libbenchmark-dev
  nlohmann-json3-dev zlib1g-dev libzstd-dev liblz4-dev libssl-dev libcli11-dev)

rmq_log() { printf '==> %s\n' "$*" >&2; }
rmq_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages given (plus the build set) that are not installed yet.
rmq_install_packages() {
  local missing=() pkg
  for pkg in "${RMQ_DEB_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  rmq_log "installing missing packages: ${missing[*]}"
  [ "$(id -u)" -eq 0 ] || rmq_die "missing packages (${missing[*]}); run as root or install them with apt-get"
  command -v apt-get >/dev/null || rmq_die "apt-get not found: this script expects Debian 12"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq \
    || rmq_die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || rmq_die "apt-get install ${missing[*]} failed"
}

# Configures and builds one CMake preset (idempotent: reuses the build tree).
rmq_build_preset() {
  local preset=$1
  rmq_log "configuring preset '$preset'"
  cmake --preset "$preset" -S "$RMQ_ROOT" >/dev/null || rmq_die "cmake configure ($preset) failed"
  rmq_log "building preset '$preset'"
  cmake --build --preset "$preset" -j "$(nproc)" || rmq_die "build ($preset) failed"
}
