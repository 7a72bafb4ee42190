#!/bin/sh
# Makes sure `redis-server` is on PATH for the test suite (tests/redis_server.py starts private
# instances on free ports; nothing uses the system service). Idempotent and quiet.
set -eu
command -v redis-server >/dev/null 2>&1 && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
apt_install() { $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }
# Refresh the package lists only when the cached ones cannot satisfy the install.
apt_install || { $SUDO apt-get update -qq >/dev/null && apt_install; }
command -v redis-server >/dev/null
