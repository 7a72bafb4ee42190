#!/usr/bin/env bash
# Creates .venv and installs the project's Python packages; quiet and idempotent (re-runs are
# fast: pip only checks). Used by both README commands.
set -euo pipefail
cd "$(dirname "$0")/.."
want="${1:-requirements.txt}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)-$(basename "$want")"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$want"
  touch "$stamp"
fi
