"""Logs, metrics and traces.

Logs: one JSON object per line in production (activity id, conversation id, Graph request-id,
timing as fields), readable text in demo mode. Caller-supplied fields are stripped of control
characters, and nothing that looks like a bearer token is ever written.

Traces (OpenTelemetry): one per turn, when an exporter is configured. The incoming request is a
server span; each HTTP attempt on the shared aiohttp session (Graph, the Bot Connector) is a
client span under it; each token acquisition that reaches Entra ID or the identity endpoint is
a span too. Log records made inside a span carry its `trace_id` and `span_id`, so a log line and
its trace find each other. Exported to Application Insights when
APPLICATIONINSIGHTS_CONNECTION_STRING is set (the Azure Monitor OpenTelemetry distro, which also
sends the log records), and over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set (the OTLP
exporter reads the other OTEL_EXPORTER_OTLP_* variables itself). With neither, nothing about
tracing is imported or installed: no middleware, no session hooks, no record factory.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any

from .config import Settings

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SECRETS = re.compile(r"(eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*|Bearer\s+\S+)")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def safe(value: object) -> str:
    """For anything a caller controls: no control characters, no tokens."""
    return _SECRETS.sub("[redacted]", _CONTROL.sub(" ", str(value)))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": round(record.created, 3), "level": record.levelname,
                 "logger": record.name, "msg": safe(record.getMessage())}
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (int, float, bool)) or value is None \
                    else safe(value)
        if record.exc_info:
            entry["error"] = safe(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        return safe(super().format(record)).replace("\\n", "\n")


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # botbuilder logs unknown Teams channelData attributes at WARNING on every activity.
    logging.getLogger("msrest").setLevel(logging.ERROR)
    logging.Formatter.converter = time.gmtime


# Label values must come from a fixed set: the activity type is caller-supplied text.
_ACTIVITY_TYPES = frozenset({
    "message", "invoke", "conversationUpdate", "installationUpdate", "messageReaction",
    "messageUpdate", "messageDelete", "event", "typing", "endOfConversation", "invalid"})


class Metrics:
    """The bot's Prometheus metrics, in a registry of its own (one per app: tests run several).

    With WORKERS > 1 each worker keeps its own counts; scrape each instance, or run one
    worker per container as Prometheus expects."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.activities = Counter("meetbot_activities_total", "Activities received, by type and "
                                  "HTTP outcome", ["type", "outcome"], registry=self.registry)
        self.meetings = Counter("meetbot_meetings_total", "Meetings returned by Graph: created "
                                "or existing (redelivery, double click)", ["result"],
                                registry=self.registry)
        self.graph_latency = Histogram(
            "meetbot_graph_request_seconds", "Graph call latency per attempt", ["op"],
            buckets=(.025, .05, .1, .2, .4, .8, 1.6, 3.2, 6.4, 12.8), registry=self.registry)
        self.graph_status = Counter("meetbot_graph_responses_total", "Graph answers by status "
                                    "(or the connection error)", ["op", "status"],
                                    registry=self.registry)
        self.graph_retries = Counter("meetbot_graph_retries_total", "Graph attempts that were "
                                     "retries", ["op"], registry=self.registry)
        self.replies_lost = Counter("meetbot_replies_lost_total", "Answers (cards, error cards) "
                                    "the Bot Connector still refused after retries",
                                    registry=self.registry)
        self.token_cache = Counter("meetbot_token_cache_total", "Access-token lookups in the "
                                   "in-process cache", ["result"], registry=self.registry)

        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        """prometheus_client validates and hashes labels on every .labels() call; the label
        sets here are few and fixed, so each child is looked up once."""
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def activity(self, activity_type: str, status: int) -> None:
        outcome = "ok" if status < 400 else ("rejected" if status < 500 else "error")
        kind = activity_type if activity_type in _ACTIVITY_TYPES else "other"
        self._child(self.activities, kind, outcome).inc()

    def meeting(self, created: bool) -> None:
        self._child(self.meetings, "created" if created else "existing").inc()

    def graph_event(self, name: str, *, op: str | None = None, status: int | None = None,
                    error: str | None = None, latency: float = 0.0, attempt: int = 1,
                    retry: bool = False) -> None:
        op = op or "unknown"
        self._child(self.graph_latency, op).observe(latency)
        self._child(self.graph_status, op,
                    str(status) if status is not None else error or "error").inc()
        if retry:
            self._child(self.graph_retries, op).inc()

    def reply_lost(self) -> None:
        self.replies_lost.inc()

    def token_lookup(self, hit: bool) -> None:
        self._child(self.token_cache, "hit" if hit else "miss").inc()

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


# --- traces ------------------------------------------------------------------------------------
SpanFactory = Callable[[str], contextlib.AbstractContextManager[Any]]
SERVICE_NAME = "meetbot"
UNTRACED = frozenset({"/healthz", "/readyz"})


def no_span(name: str) -> contextlib.AbstractContextManager[None]:
    """What code that makes spans gets while tracing is off."""
    return contextlib.nullcontext()


class Tracing:
    """MeetBot's tracer on an OpenTelemetry TracerProvider: the process's own (the Azure Monitor
    distro installs one globally) or a private one (an exporter given here; the tests' in-memory
    one). Built only when tracing is wanted: importing it loads OpenTelemetry."""

    def __init__(self, provider: Any) -> None:
        from opentelemetry import trace

        self._trace = trace
        self.provider = provider
        self.tracer = provider.get_tracer("meetbot")

    @classmethod
    def with_exporter(cls, exporter: Any, *, batch: bool = True) -> Tracing:
        """A private provider sending every span to `exporter` (batched, or one by one)."""
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        provider = TracerProvider(resource=_resource())
        provider.add_span_processor(BatchSpanProcessor(exporter) if batch
                                    else SimpleSpanProcessor(exporter))
        return cls(provider)

    @contextlib.contextmanager
    def span(self, name: str) -> Iterator[Any]:
        """An internal span under the current one (token acquisition)."""
        with self.tracer.start_as_current_span(name) as span:
            yield span

    def middleware(self) -> Any:
        """The server span of every request but the health probes (App Service and container
        hosts call them every few seconds: noise, cost, and they would use up Application
        Insights' rate-limited sampling), continuing a W3C `traceparent` if one came."""
        from aiohttp import web
        from opentelemetry.propagate import extract

        server = self._trace.SpanKind.SERVER
        status_error = self._trace.StatusCode.ERROR

        @web.middleware
        async def traced(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
            if request.path in UNTRACED:
                return await handler(request)
            route = request.match_info.route.resource
            path = route.canonical if route is not None else "unmatched"
            with self.tracer.start_as_current_span(
                    f"{request.method} {path}", context=extract(request.headers), kind=server,
                    attributes={"http.request.method": request.method, "http.route": path,
                                "url.scheme": request.scheme}) as span:
                try:
                    response = await handler(request)
                except web.HTTPException as exc:
                    span.set_attribute("http.response.status_code", exc.status)
                    raise
                span.set_attribute("http.response.status_code", response.status)
                if response.status >= 500:
                    span.set_status(status_error)
                return response

        return traced

    def client_trace(self) -> Any:
        """aiohttp client hooks: one client span per HTTP attempt on the shared session, named
        by what it talks to (Graph's operation, the Bot Connector's method). Only the host goes
        in the attributes: paths and queries name users, meetings and join links. The method is
        `meetbot.http.method`, not the semantic-convention name: with that one, Application
        Insights names the dependency by method and path and drops the span's name."""
        import aiohttp

        client = self._trace.SpanKind.CLIENT
        status_error = self._trace.StatusCode.ERROR
        tracer = self.tracer

        async def start(session: Any, ctx: SimpleNamespace,
                        params: aiohttp.TraceRequestStartParams) -> None:
            info = ctx.trace_request_ctx if isinstance(ctx.trace_request_ctx, dict) else {}
            if info.get("op"):
                name = f"Graph {info['op']}"
            elif params.url.path.startswith("/v3/conversations"):
                name = f"Bot Connector {params.method}"
            else:
                name = f"HTTP {params.method}"
            ctx.span = tracer.start_span(name, kind=client, attributes={
                "meetbot.http.method": params.method, "server.address": params.url.host or "",
                "meetbot.attempt": int(info.get("current_attempt", 1))})

        async def end(session: Any, ctx: SimpleNamespace,
                      params: aiohttp.TraceRequestEndParams) -> None:
            span = getattr(ctx, "span", None)
            if span is not None:
                span.set_attribute("http.response.status_code", params.response.status)
                if params.response.status >= 500:
                    span.set_status(status_error)
                span.end()

        async def failed(session: Any, ctx: SimpleNamespace,
                         params: aiohttp.TraceRequestExceptionParams) -> None:
            span = getattr(ctx, "span", None)
            if span is not None:
                span.set_attribute("error.type", type(params.exception).__name__)
                span.set_status(status_error)
                span.end()

        config = aiohttp.TraceConfig()
        config.on_request_start.append(start)
        config.on_request_end.append(end)
        config.on_request_exception.append(failed)
        return config

    def correlate_logs(self) -> Callable[[], None]:
        """Every log record made inside a span carries `trace_id` and `span_id` (the JSON log
        writes them as fields). Returns the undo."""
        current = self._trace.get_current_span
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            context = current().get_span_context()
            if context.is_valid:
                record.trace_id = format(context.trace_id, "032x")
                record.span_id = format(context.span_id, "016x")
            return record

        logging.setLogRecordFactory(factory)
        return lambda: logging.setLogRecordFactory(previous)

    def flush(self) -> None:
        flush = getattr(self.provider, "force_flush", None)
        if flush is not None:
            flush()


def _resource() -> Any:
    from opentelemetry.sdk.resources import Resource

    # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, when set, win (Resource.create reads them).
    named = "OTEL_SERVICE_NAME" in os.environ or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", "")
    return Resource.create({} if named else {"service.name": SERVICE_NAME})


_process_tracing: Tracing | None = None


def start_tracing(settings: Settings) -> Tracing | None:
    """The exporters the settings ask for, once per process (the Azure Monitor distro installs
    global providers; gunicorn calls this in each worker, after the fork). None: tracing off."""
    global _process_tracing
    if not (settings.appinsights_connection_string or settings.otlp_endpoint):
        return None
    if _process_tracing is not None:
        return _process_tracing
    processors = []
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        processors.append(BatchSpanProcessor(OTLPSpanExporter()))
    if settings.appinsights_connection_string:
        from azure.monitor.opentelemetry import configure_azure_monitor
        from opentelemetry import trace

        configure_azure_monitor(connection_string=settings.appinsights_connection_string,
                                resource=_resource(), span_processors=processors)
        _process_tracing = Tracing(trace.get_tracer_provider())
    else:
        from opentelemetry.sdk.trace import TracerProvider

        provider = TracerProvider(resource=_resource())
        for processor in processors:
            provider.add_span_processor(processor)
        _process_tracing = Tracing(provider)
    return _process_tracing
