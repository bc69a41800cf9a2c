#!/usr/bin/env bash
# Installs the registry servers the tests run for real, from Debian's packages: ZooKeeper
# and Redis; and Chromium, which the dashboard's browser test drives headless. Safe to run
# any number of times: it installs only what is missing. The tests start and stop their own
# server processes (internal/realsvc), each on a free loopback port, so nothing is left
# running and the packages' own services are stopped here.
# Usage: scripts/services.sh install | check
set -euo pipefail

need_pkgs() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [ -f /usr/share/java/zookeeper.jar ] || missing+=(zookeeper)
  command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  echo "${missing[@]:-}"
}

case "${1:-install}" in
install)
  missing=$(need_pkgs)
  if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "services.sh: installing $missing"
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
    # The packages may start system services on their default ports; the tests do not use
    # them, so stop them rather than leave them running.
    for svc in redis-server zookeeper; do
      $sudo service "$svc" stop >/dev/null 2>&1 || true
    done
  fi
  missing=$(need_pkgs)
  if [ -n "$missing" ]; then
    echo "services.sh: still missing after install: $missing" >&2
    exit 1
  fi
  ;;
check)
  missing=$(need_pkgs)
  [ -z "$missing" ] || { echo "missing: $missing" >&2; exit 1; }
  ;;
*)
  echo "usage: $0 install|check" >&2
  exit 2
  ;;
esac
