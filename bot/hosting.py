"""The application factory: the aiohttp app built from validated Settings.

Each long-lived resource opens in a cleanup context of its own, in order (HTTP session, state
store, the local Graph in demo mode, token broker, the bot and its Teams edge), and closes in
reverse, so a failure half-way closes exactly what was opened. Typed keys name them.
"""
from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from . import consent
from . import web as web_hooks
from .config import Settings
from .graph import GraphClient
from .handlers import MeetBot
from .records import Records
from .service import MeetingService
from .state import KeyValueStore, entra_credentials, open_store
from .teams import TeamsEdge, create_edge
from .teams.auth import channel_login_url, channel_scope
from .telemetry import Metrics, Tracing, start_tracing
from .tokens import MsalBroker, TokenBroker

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
SESSION = web.AppKey("session", aiohttp.ClientSession)
STORE = web.AppKey("store", KeyValueStore)
GRAPH_ROOT = web.AppKey("graph_root", str)
BROKER = web.AppKey("broker", TokenBroker)
BOT = web.AppKey("bot", MeetBot)
EDGE = web.AppKey("edge", TeamsEdge)
TRACING = web.AppKey("tracing", Tracing)  # present only when traces are exported
# Demo mode: the embedded Graph simulator (tests and operators can look inside).
LOCAL_GRAPH = web.AppKey("local_graph", object)


def _client_ssl(settings: Settings) -> ssl.SSLContext | bool:
    if not settings.ca_file:
        return True
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(settings.ca_file)
    return ctx


async def _session(app: web.Application) -> AsyncIterator[None]:
    """One HTTP client for Graph, Entra ID and the Bot Connector: pooled keep-alive connections."""
    tracing = app.get(TRACING)
    app[SESSION] = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=256, limit_per_host=128,
                                       ssl=_client_ssl(app[SETTINGS]), ttl_dns_cache=300,
                                       keepalive_timeout=30),
        json_serialize=json.dumps,
        trace_configs=[tracing.client_trace()] if tracing is not None else None)
    yield
    await app[SESSION].close()


async def _store(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[STORE] = open_store(
        settings.redis_url, encryption_keys=list(settings.state_encryption_keys),
        credential_provider=entra_credentials(settings.credential.identity_client_id)
        if settings.redis_auth == "entra" else None)
    yield
    await app[STORE].close()


async def _graph_and_broker(app: web.Application) -> AsyncIterator[None]:
    settings, metrics = app[SETTINGS], app[METRICS]
    if not settings.demo:
        app[GRAPH_ROOT] = settings.graph_root
        app[BROKER] = MsalBroker(
            app_id=settings.app_id, credential=settings.credential,
            authority_host=settings.authority_host, app_tenant=settings.app_tenant_id,
            graph_resource=settings.graph_resource, store=app[STORE],
            app_only=settings.graph_auth.value == "app",
            channel_login_url=channel_login_url(settings), channel_scope=channel_scope(settings),
            ca_file=settings.ca_file, sso_resource=settings.sso_resource,
            on_cache_lookup=metrics.token_lookup,
            span=app[TRACING].span if TRACING in app else None)
        yield
        return
    from . import demo

    if settings.graph_base_url:
        app[GRAPH_ROOT] = settings.graph_root
        app[BROKER] = demo.external_simulator_broker(metrics.token_lookup)
        yield
        return
    async with demo.local_graph() as (issuer, url, simulator):
        app[GRAPH_ROOT], app[LOCAL_GRAPH] = url, simulator
        app[BROKER] = demo.local_broker(issuer, metrics.token_lookup)
        yield


async def _bot(app: web.Application) -> AsyncIterator[None]:
    settings, metrics = app[SETTINGS], app[METRICS]
    graph = GraphClient(app[SESSION], app[GRAPH_ROOT], deadline=settings.graph_deadline,
                        on_event=metrics.graph_event)
    records = Records(app[STORE])
    service = MeetingService(graph, app[BROKER], allowed_tenants=settings.allowed_tenants,
                             on_meeting=metrics.meeting, calendar=settings.meetings_on_calendar,
                             calendar_memory=records)
    bot = MeetBot(service, records, ack_after=settings.ack_after,
                  on_reply_lost=metrics.reply_lost)
    app[BOT] = bot
    app[EDGE] = create_edge(settings, app[SESSION], app[BROKER], bot, metrics,
                            signin_url=consent.signin_url(settings))
    yield
    await bot.drain(timeout=settings.graph_deadline + 5)  # cards still on their way


async def messages(request: web.Request) -> web.Response:
    return await request.app[EDGE].handle(request)


async def metrics_page(request: web.Request) -> web.Response:
    body, content_type = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": content_type})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """503 while this instance cannot serve turns: the shared store is unreachable, or a token
    request to Entra ID is stuck (it recovers by itself)."""
    app = request.app
    if STORE in app and not await app[STORE].ping():
        return web.json_response({"status": "unavailable", "store": "unreachable"}, status=503)
    if BROKER in app and not app[BROKER].healthy():
        return web.json_response({"status": "unavailable", "tokens": "stalled"}, status=503)
    return web.json_response({"status": "ready"})


async def _tracing(app: web.Application) -> AsyncIterator[None]:
    """Log records made in a span carry its ids while the app runs; spans still buffered are
    sent when it stops."""
    undo = app[TRACING].correlate_logs()
    yield
    undo()
    await asyncio.to_thread(app[TRACING].flush)


def _metrics_site(port: int, host: str) -> Any:
    """/metrics on a port of its own (METRICS_PORT), so the public port serves only
    /api/messages, /auth/* and the probes. SO_REUSEPORT: every worker process binds it, and a
    scrape reaches one of them, as on the public port."""
    async def serve_metrics(app: web.Application) -> AsyncIterator[None]:
        metrics_app = web.Application()
        metrics_app[METRICS] = app[METRICS]
        metrics_app.router.add_get("/metrics", metrics_page)
        runner = web.AppRunner(metrics_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port, reuse_port=True).start()
        yield
        await runner.cleanup()
    return serve_metrics


def create_app(settings: Settings, *, tracing: Tracing | None = None) -> web.Application:
    """`tracing`: export spans there (tests); by default, where the settings say, if anywhere."""
    tracing = tracing or start_tracing(settings)
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[tracing.middleware()] if tracing is not None else ())
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    if tracing is not None:
        app[TRACING] = tracing
        app.cleanup_ctx.append(_tracing)
    app.cleanup_ctx.extend([_session, _store, _graph_and_broker, _bot])
    app.on_response_prepare.append(web_hooks.server_header)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if settings.metrics_port is None:
        app.router.add_get("/metrics", metrics_page)
    else:
        app.cleanup_ctx.append(_metrics_site(settings.metrics_port, settings.host))
    if settings.authenticated:
        app.router.add_routes(consent.routes(settings))
    return app
