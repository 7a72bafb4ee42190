"""Traces of a turn: the request span with Graph's and the Bot Connector's calls under it and the
trace id in the log line (read from OpenTelemetry's in-memory exporter); the same spans leaving a
real `python app.py` over OTLP/HTTP and to Application Insights' ingestion endpoint (both served
locally); nothing of OpenTelemetry loaded without telemetry settings; /metrics on its own port."""
from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.config import load_settings
from bot.hosting import create_app
from bot.telemetry import JsonFormatter, Tracing
from tests.helpers import (
    BotClient,
    User,
    card_of,
    free_port,
    message,
    next_activity,
    reply_to,
    serve,
    stop_bot,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def spans():
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    return InMemorySpanExporter()


async def traced_bot(exporter, env: dict[str, str] | None = None) -> BotClient:
    settings = load_settings({"LOG_FORMAT": "json", **(env or {})})
    srv = await serve(create_app(settings, tracing=Tracing.with_exporter(exporter, batch=False)))
    return BotClient(srv, aiohttp.ClientSession())


async def test_a_meet_now_turn_is_one_trace_and_its_log_line_names_it(spans, connector, caplog):
    caplog.set_level(logging.INFO)
    bot = await traced_bot(spans)
    try:
        act = message("meet now about tracing", service_url=connector.url, user=User())
        assert (await bot.post(act)).status == 201
        await reply_to(connector, act["id"])
    finally:
        await stop_bot(bot)
    finished = spans.get_finished_spans()
    [request] = [s for s in finished if s.name == "POST /api/messages"]
    trace_id = request.context.trace_id
    children = [s for s in finished if s.parent is not None
                and s.parent.span_id == request.context.span_id]
    names = {s.name for s in children}
    assert {"Graph createOrGet", "Bot Connector POST"} <= names, names
    assert all(s.context.trace_id == trace_id for s in children)
    graph = next(s for s in children if s.name == "Graph createOrGet")
    assert graph.attributes["http.response.status_code"] in (200, 201)
    assert graph.kind.name == "CLIENT" and request.kind.name == "SERVER"
    assert request.attributes["http.response.status_code"] == 201
    # The request's log line carries the trace id, and the JSON log writes it.
    [line] = [r for r in caplog.records if r.getMessage() == "activity message -> 201"]
    logged = json.loads(JsonFormatter().format(line))
    assert logged["trace_id"] == format(trace_id, "032x")
    assert logged["span_id"] == format(request.context.span_id, "016x")
    # Nothing of the user's content or identity went into the spans.
    assert "tracing" not in json.dumps([dict(s.attributes or {}) for s in finished])


async def test_a_caller_trace_is_continued(spans, connector):
    bot = await traced_bot(spans)
    caller_trace = "0af7651916cd43dd8448eb211c80319c"
    try:
        act = message("help", service_url=connector.url)
        async with bot.session.post(
                f"{bot.srv.url}/api/messages", json=act,
                headers={"traceparent": f"00-{caller_trace}-b7ad6b7169203331-01"}) as resp:
            assert resp.status == 201
        await next_activity(connector, lambda b: card_of(b) is not None)
    finally:
        await stop_bot(bot)
    [request] = [s for s in spans.get_finished_spans() if s.name == "POST /api/messages"]
    assert format(request.context.trace_id, "032x") == caller_trace


def test_without_telemetry_settings_nothing_of_opentelemetry_is_loaded():
    code = ("import sys, asyncio\n"
            "from bot.config import load_settings\n"
            "from bot.hosting import create_app\n"
            "import app\n"
            "create_app(load_settings({}))\n"
            "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', "
            "'azure.monitor'))))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, env={"PATH": os.environ["PATH"]})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --- exporting from a real process ---------------------------------------------------------------
class Collector:
    """Records what is POSTed to it: an OpenTelemetry collector's OTLP/HTTP receiver, or
    Application Insights' ingestion endpoint."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, bytes, dict[str, str]]] = []

    def app(self) -> web.Application:
        async def receive(request: web.Request) -> web.Response:
            body = await request.read()
            if request.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            self.posts.append((request.path, body, dict(request.headers)))
            if request.path.endswith("/track"):  # Application Insights' answer
                count = body.count(b'"iKey"')
                return web.json_response({"itemsReceived": count, "itemsAccepted": count,
                                          "errors": []})
            return web.Response(body=b"", content_type="application/x-protobuf")
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post("/{tail:.*}", receive)
        return app


async def run_app_and_meet(env: dict[str, str], connector) -> str:
    """`python app.py` with `env`, one `meet now`, then SIGTERM (which flushes the spans).
    Returns its output."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={"PATH": os.environ["PATH"], "PORT": str(port),
                                 "LOG_FORMAT": "json", **env})
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 60
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                await asyncio.sleep(0.1)
            act = message("meet now about export", service_url=connector.url, user=User())
            async with session.post(f"http://127.0.0.1:{port}/api/messages", json=act) as resp:
                assert resp.status == 201
            await reply_to(connector, act["id"])
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 60) == 0
        return proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


async def test_spans_leave_over_otlp_http(connector):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    collector = Collector()
    srv = await serve(collector.app())
    try:
        out = await run_app_and_meet({"OTEL_EXPORTER_OTLP_ENDPOINT": srv.url}, connector)
    finally:
        await srv.server.close()
    posts = [body for path, body, _ in collector.posts if path == "/v1/traces"]
    assert posts, (collector.posts, out)
    names, services = set(), set()
    for body in posts:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            services |= {a.value.string_value for a in resource_spans.resource.attributes
                         if a.key == "service.name"}
            names |= {s.name for scope in resource_spans.scope_spans for s in scope.spans}
    assert {"POST /api/messages", "Graph createOrGet", "Bot Connector POST"} <= names, names
    assert services == {"meetbot"}
    # The log line of the request carries a trace id.
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert any(line.get("msg") == "activity message -> 201" and len(line.get("trace_id", "")) == 32
               for line in lines), out


async def test_spans_reach_application_insights(connector):
    collector = Collector()
    srv = await serve(collector.app())
    try:
        connection = ("InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                      f"IngestionEndpoint={srv.url}/")
        # Every span: the distro's default sampler is rate-limited (its choice for production).
        out = await run_app_and_meet({"APPLICATIONINSIGHTS_CONNECTION_STRING": connection,
                                      "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
                                      "OTEL_TRACES_SAMPLER": "always_on"}, connector)
    finally:
        await srv.server.close()
    envelopes = [e for path, body, _ in collector.posts if path.endswith("/track")
                 for e in json.loads(body)]  # the exporter posts a JSON array of envelopes
    kinds = {e["data"]["baseType"] for e in envelopes}
    names = {e["data"]["baseData"].get("name") for e in envelopes}
    assert "RequestData" in kinds and "RemoteDependencyData" in kinds, (kinds, out)
    assert {"POST /api/messages", "Graph createOrGet", "Bot Connector POST"} <= names, names
    assert "GET /healthz" not in names  # the probes are not traced
    # The log records went too, with the turn's operation id.
    [request] = [e for e in envelopes if e["data"]["baseData"].get("name") == "POST /api/messages"]
    operation = request["tags"]["ai.operation.id"]
    assert any(e["data"]["baseType"] == "MessageData" and e["tags"].get("ai.operation.id") == operation
               and e["data"]["baseData"]["message"] == "activity message -> 201" for e in envelopes)


# --- /metrics on a port of its own --------------------------------------------------------------------
async def test_metrics_can_leave_the_public_port(connector):
    metrics_port = free_port()
    settings = load_settings({"LOG_FORMAT": "text", "METRICS_PORT": str(metrics_port)})
    srv = await serve(create_app(settings))
    try:
        async with aiohttp.ClientSession() as session:
            act = message("meet now", service_url=connector.url, user=User())
            async with session.post(f"{srv.url}/api/messages", json=act) as resp:
                assert resp.status == 201
            await reply_to(connector, act["id"])
            async with session.get(f"{srv.url}/metrics") as resp:
                assert resp.status == 404
            async with session.get(f"http://127.0.0.1:{metrics_port}/metrics") as resp:
                assert resp.status == 200
                assert 'meetbot_activities_total{outcome="ok",type="message"}' in await resp.text()
            async with session.get(f"http://127.0.0.1:{metrics_port}/healthz") as resp:
                assert resp.status == 404  # that port serves /metrics and nothing else
    finally:
        await srv.server.close()
