#!/usr/bin/env bash
# Runs the bot. With no MicrosoftAppId set it starts in demo mode with the local Graph simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements.lock
exec .venv/bin/python app.py "$@"
