# MeetBot in a container: the same application as `python app.py`, run by gunicorn's aiohttp
# worker as on Azure App Service. Build: docker build -t meetbot .  Run (demo mode, no settings):
# docker run --rm -p 3978:3978 --stop-timeout 30 meetbot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=3978

WORKDIR /app

# The hashed lock, alone first: this layer is rebuilt only when the dependencies change.
# --build-arg REQUIREMENTS=requirements-telemetry.lock adds the trace exporters (Application
# Insights, OTLP), needed when APPLICATIONINSIGHTS_CONNECTION_STRING or
# OTEL_EXPORTER_OTLP_ENDPOINT is set.
ARG REQUIREMENTS=requirements.lock
COPY requirements.lock requirements-telemetry.lock ./
RUN pip install --no-cache-dir --require-hashes -r "${REQUIREMENTS}"

COPY app.py ./
COPY bot/ bot/
COPY cards/ cards/
# The message catalogues (gettext .po), read at start-up.
COPY locales/ locales/
# Demo mode (no MicrosoftAppId) starts the Graph simulator from here.
COPY localcloud/ localcloud/

# A numeric non-root user: Kubernetes' runAsNonRoot can only verify a numeric id.
RUN groupadd --system --gid 10001 meetbot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin meetbot
USER 10001:10001

EXPOSE 3978
# /healthz answers while the process serves; the slim image has no curl, Python does the GET.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3978'), timeout=4)"]

# gunicorn binds 0.0.0.0:$PORT when PORT is set and no --bind is given. SIGTERM (docker stop)
# drains: turns in flight finish and their cards are sent, within gunicorn's 30 s graceful
# timeout, hence --stop-timeout 30 above (Docker's default is 10 s).
CMD ["gunicorn", "app:create_app", "--worker-class", "aiohttp.GunicornWebWorker", "--no-control-socket"]
