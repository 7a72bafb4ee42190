#!/usr/bin/env bash
# Runs the bot. With no MicrosoftAppId set it starts in demo mode with the local Graph simulator.
# With a trace exporter configured it installs the lock that has the exporters.
set -euo pipefail
cd "$(dirname "$0")/.."
lock=requirements.lock
if [ -n "${APPLICATIONINSIGHTS_CONNECTION_STRING:-}${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then
  lock=requirements-telemetry.lock
fi
bash scripts/setup.sh "$lock"
exec .venv/bin/python app.py "$@"
