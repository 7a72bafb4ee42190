#!/usr/bin/env bash
# Creates .venv and installs the project's Python packages from a hashed lock (requirements.lock
# for running, requirements-dev.lock for the tests): exactly the versions that were tested, each
# file checked against its hash. Quiet and idempotent (a re-run with the same lock does nothing).
# Used by both README commands, so by CI on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."
lock="${1:-requirements.lock}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum "$lock" | cut -c1-16)-$(basename "$lock")"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock"
  touch "$stamp"
fi
