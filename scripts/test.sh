#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the Python packages and redis-server
# (the Redis tests use a real server), then the linter and the type checker, then pytest. Extra arguments go to
# pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements-dev.lock
bash scripts/ensure-redis.sh
.venv/bin/ruff check --quiet .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
