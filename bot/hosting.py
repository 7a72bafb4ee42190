"""The aiohttp application: one factory builds it from Settings; long-lived resources (the HTTP
session, the state store, the local cloud in demo mode) open and close in cleanup contexts.

The Bot Framework edge lives here too: botbuilder's CloudAdapter with
- request hygiene botbuilder lacks (it answers a body that is not JSON, or a bad token, with 500),
- botbuilder's own JWT validation, unchanged, for every activity when MicrosoftAppId is set,
- connector clients built once per serviceUrl on the shared session (bot/connector.py).
"""
from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections import OrderedDict
from datetime import datetime, timedelta

import aiohttp
import jwt
from aiohttp import web
from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ActivityTypes
from botframework.connector.auth import (AuthenticateRequestResult, AuthenticationConfiguration,
                                         BotFrameworkAuthentication,
                                         BotFrameworkAuthenticationFactory,
                                         GovernmentConstants, JwtTokenExtractor,
                                         PasswordServiceClientCredentialFactory)
from botframework.connector.auth.authentication_constants import AuthenticationConstants
from msrest.exceptions import DeserializationError

import cards

from . import consent
from .config import Settings
from .connector import ConnectorError, PooledConnectorFactory
from .errors import describe
from .graph import GraphClient
from .routing import MeetBot, card_activity, invoke_card
from .service import MeetingService
from .state import open_store
from .telemetry import Metrics
from .tokens import LocalBroker, MsalBroker
from .turnstate import TurnState

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
SESSION = web.AppKey("session", aiohttp.ClientSession)
BOT = web.AppKey("bot", MeetBot)
ADAPTER = web.AppKey("adapter", CloudAdapter)
STORE = web.AppKey("store", object)
METRICS = web.AppKey("metrics", Metrics)
LOCAL_GRAPH = web.AppKey("local_graph", object)


class SigningKeysUnavailable(Exception):
    """The channel's signing keys could not be fetched: no token can be checked right now."""


class SigningKeys:
    """Keeps botbuilder's cached copy of the channel's signing keys fresh, off the event loop.

    botbuilder fetches the OpenID document and keys with blocking `requests` calls inside the
    event loop (once a day, on the first activity): a stall for every turn in flight, and a
    deadlock when the identity provider is served by the same loop. We fetch them with the
    shared aiohttp session into the very cache object botbuilder reads, ahead of its own
    schedule, and again when a token names a key we have not seen (key rotation).
    """

    MAX_AGE = timedelta(hours=12)  # botbuilder refreshes only after a day
    UNKNOWN_KID_COOLDOWN = timedelta(minutes=5)

    def __init__(self, session: aiohttp.ClientSession, metadata_url: str) -> None:
        self._session = session
        self._url = metadata_url
        self._cache = JwtTokenExtractor.get_open_id_metadata(metadata_url)
        self._lock = asyncio.Lock()
        self._known: frozenset[str] = frozenset()

    async def ensure(self, auth_header: str) -> None:
        now = datetime.now()
        stale = self._cache.last_updated < now - self.MAX_AGE
        if not stale:
            kid = _kid(auth_header)
            if kid is None or kid in self._known or \
                    self._cache.last_updated > now - self.UNKNOWN_KID_COOLDOWN:
                return
        async with self._lock:
            if self._cache.last_updated < now - self.UNKNOWN_KID_COOLDOWN or stale:
                await self._refresh()
        if not self._cache.keys:  # never let botbuilder fall back to its blocking fetch
            raise SigningKeysUnavailable(self._url)

    async def _refresh(self) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        try:
            async with self._session.get(self._url, timeout=timeout) as resp:
                resp.raise_for_status()
                jwks_uri = (await resp.json(content_type=None))["jwks_uri"]
            async with self._session.get(jwks_uri, timeout=timeout) as resp:
                resp.raise_for_status()
                keys = (await resp.json(content_type=None))["keys"]
        except (aiohttp.ClientError, asyncio.TimeoutError, KeyError, ValueError) as err:
            log.warning("could not refresh the channel's signing keys: %s", type(err).__name__)
            return  # keep the keys we have; botbuilder refuses tokens it cannot check
        self._cache.keys = keys
        self._cache.last_updated = datetime.now()
        self._known = frozenset(k.get("kid") for k in keys)


def _kid(auth_header: str) -> str | None:
    try:
        return jwt.get_unverified_header(auth_header.split(" ", 1)[1]).get("kid")
    except (IndexError, jwt.PyJWTError):
        return None


def _copy_result(result: AuthenticateRequestResult) -> AuthenticateRequestResult:
    fresh = AuthenticateRequestResult()
    fresh.audience, fresh.claims_identity = result.audience, result.claims_identity
    fresh.caller_id, fresh.connector_factory = result.caller_id, result.connector_factory
    return fresh


class MeetBotAuthentication(BotFrameworkAuthentication):
    """botbuilder's authentication for everything it checks; our pooled connectors for replies.

    `authenticate_request` is botbuilder's (issuer, signature, audience, endorsements, the
    serviceUrl claim); only the connector factory it returns is swapped, and the user-token
    client (Bot Framework token service) is not built at all: sign-in uses our own
    on-behalf-of exchange.
    """

    # The Bot Connector signs one token and sends it with every activity for up to an hour.
    # Checking the same header for the same channel and serviceUrl gives the same answer until
    # the token expires, so a success is remembered (never longer than REMEMBER seconds, which
    # bounds how long a withdrawn signing key goes unnoticed); failures are not.
    REMEMBER = 300
    MAX_REMEMBERED = 2048

    def __init__(self, inner: BotFrameworkAuthentication, connectors: PooledConnectorFactory,
                 keys: SigningKeys | None = None):
        self._inner = inner
        self._connectors = connectors
        self._keys = keys
        self._checked: OrderedDict[tuple, tuple[float, AuthenticateRequestResult]] = OrderedDict()

    async def authenticate_request(self, activity, auth_header):
        key = (auth_header, activity.channel_id, activity.service_url)
        seen = self._checked.get(key) if auth_header else None
        if seen is not None and seen[0] > time.time():
            return _copy_result(seen[1])
        if self._keys is not None and auth_header:
            await self._keys.ensure(auth_header)
        result = await self._inner.authenticate_request(activity, auth_header)
        result.connector_factory = self._connectors
        expires = (result.claims_identity.claims or {}).get("exp") if auth_header else None
        if isinstance(expires, (int, float)):
            self._checked[key] = (min(float(expires), time.time() + self.REMEMBER), result)
            if len(self._checked) > self.MAX_REMEMBERED:
                self._checked.popitem(last=False)
        return result

    async def authenticate_streaming_request(self, auth_header, channel_id_header):
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity):
        return self._connectors

    async def create_user_token_client(self, claims_identity):
        return None

    def get_originating_audience(self) -> str:
        return self._inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str):
        return await self._inner.authenticate_channel_request(auth_header)


def _bad(status: int, reason: str) -> web.Response:
    return web.json_response({"error": {"code": reason}}, status=status)


# The JSON types the Bot Framework Activity schema, and Teams' entity and channelData schemas,
# give the fields MeetBot reads. msrest does not enforce them (an "id" object stays an object,
# a null list item stays null), so a wrong type would otherwise surface mid-turn as a crash
# in botbuilder or the router; here it is a 400.
class _Required:
    def __init__(self, shape) -> None:
        self.shape = shape


_ACCOUNT = {"id": str, "name": str, "aadObjectId": str, "role": str}
_MEMBER = {**_ACCOUNT, "id": _Required(str)}  # TeamsInfo looks members up by id
_ACTIVITY_SHAPE: dict = {
    **dict.fromkeys(("type", "id", "serviceUrl", "channelId", "text", "name", "replyToId",
                     "locale", "localTimezone", "textFormat", "summary", "timestamp",
                     "localTimestamp"), str),
    "from": _ACCOUNT, "recipient": _ACCOUNT,
    "conversation": {**_ACCOUNT, "conversationType": str, "tenantId": str, "isGroup": bool},
    "entities": [{"type": str, "text": str, "timezone": str, "locale": str,
                  "mentioned": _ACCOUNT}],
    "membersAdded": [_MEMBER], "membersRemoved": [_MEMBER],
    "attachments": [{"contentType": str, "contentUrl": str, "name": str}],
    "channelData": {"tenant": {"id": str}, "team": {"id": str, "name": str, "aadGroupId": str},
                    "channel": {"id": str, "name": str}, "eventType": str},
}


def _misshapen(value, shape, path: str = "activity") -> str | None:
    """The first field whose JSON type differs from `shape`. A null field counts as absent;
    list items and `_Required` fields must be present. Runs on every request, so the path
    string is only built for the field that fails."""
    if isinstance(shape, _Required):
        if value is None:
            return path
        shape = shape.shape
    elif value is None:
        return None
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return path
        for key, inner in shape.items():
            item = value.get(key)
            if (item is not None or isinstance(inner, _Required)) and \
                    _misshapen(item, inner, "") is not None:
                return _misshapen(item, inner, f"{path}.{key}")
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return path
        inner = _Required(shape[0])
        for i, item in enumerate(value):
            if _misshapen(item, inner, "") is not None:
                return _misshapen(item, inner, f"{path}[{i}]")
        return None
    return None if isinstance(value, shape) else path


class MeetBotAdapter(CloudAdapter):
    """CloudAdapter whose `process` answers bad requests with a clean 4xx, never 500, and
    records one log line and one metric per request."""

    def __init__(self, authentication: BotFrameworkAuthentication, metrics: Metrics) -> None:
        super().__init__(authentication)
        self.metrics = metrics

    async def process(self, request: web.Request, bot) -> web.Response:  # type: ignore[override]
        started = time.perf_counter()
        response: web.Response | None = None
        activity: Activity | None = None
        try:
            response, activity = await self._process(request, bot)
        finally:  # an exception here is aiohttp's 500: counted and logged like the rest
            kind = activity.type if activity is not None else "invalid"
            status = response.status if response is not None else 500
            self.metrics.activity(kind, status)
            log.info("activity %s -> %s", kind, status, extra={
                "activity_id": activity.id if activity is not None else None,
                "conversation_id": activity.conversation.id
                if activity is not None and activity.conversation else None,
                "activity_name": activity.name if activity is not None else None,
                "status": status, "ms": round((time.perf_counter() - started) * 1000, 1)})
        return response

    async def _process(self, request: web.Request, bot) -> tuple[web.Response, Activity | None]:
        if request.method != "POST":
            return _bad(405, "MethodNotAllowed"), None
        if request.content_type != "application/json":
            return _bad(415, "UnsupportedMediaType"), None
        try:
            body = await request.json(loads=json.loads)
        except web.HTTPRequestEntityTooLarge:
            return _bad(413, "PayloadTooLarge"), None
        except (ValueError, UnicodeDecodeError):
            return _bad(400, "MalformedJson"), None
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            return _bad(400, "NotAnActivity"), None
        misshapen = _misshapen(body, _ACTIVITY_SHAPE)
        if body["type"] == ActivityTypes.conversation_update and body.get("channelId") == \
                "msteams" and not isinstance(body.get("channelData"), dict):
            misshapen = "activity.channelData"  # botbuilder reads its .team for every Teams one
        if misshapen:
            log.info("malformed activity: %s has the wrong type", misshapen)
            return _bad(400, "MalformedActivity"), None
        try:
            activity = Activity().deserialize(body)
        except (DeserializationError, TypeError, ValueError, AttributeError):
            return _bad(400, "MalformedActivity"), None
        if not activity.type or not activity.conversation or not activity.conversation.id or \
                not (activity.service_url or "").startswith(("https://", "http://")):
            return _bad(400, "IncompleteActivity"), activity
        return await self._run(activity, request.headers.get("Authorization"), bot), activity

    async def _run(self, activity: Activity, auth_header: str | None, bot) -> web.Response:
        try:
            auth = await self.bot_framework_authentication.authenticate_request(
                activity, auth_header)
        except SigningKeysUnavailable:
            return _bad(503, "SigningKeysUnavailable")  # Teams retries later
        # botbuilder answers a header it cannot read (no "Bearer", unknown issuer) with a None
        # identity that then fails as AttributeError: all of these mean "not authenticated".
        except (PermissionError, jwt.PyJWTError, LookupError, ValueError, AttributeError) as err:
            log.info("unauthorized request: %s", type(err).__name__)
            return _bad(401, "Unauthorized")
        except Exception as err:  # botbuilder raises bare Exception for endorsement failures
            if "endorsement" in str(err).lower() or "signing" in str(err).lower():
                return _bad(401, "Unauthorized")
            raise
        invoke = await self.process_activity(auth, activity, bot.on_turn)
        if invoke is None:
            return web.Response(status=201 if activity.type == ActivityTypes.message else 200)
        payload = invoke.body.serialize() if hasattr(invoke.body, "serialize") else invoke.body
        # botbuilder answers an invoke no handler took with 501; a 5xx makes the Bot Connector
        # retry, and there is nothing to retry: the request names something this bot lacks.
        status = 400 if int(invoke.status) == 501 else int(invoke.status)
        return web.json_response(payload, status=status)


def _client_ssl(settings: Settings) -> ssl.SSLContext | bool:
    if not settings.ca_file:
        return True
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(settings.ca_file)
    return ctx


def _bot_framework_authentication(settings: Settings) -> BotFrameworkAuthentication:
    credentials = PasswordServiceClientCredentialFactory(
        app_id=settings.app_id or None, password=settings.app_password or None,
        tenant_id=settings.app_tenant_id or None)
    overridden = any((settings.to_channel_from_bot_login_url,
                      settings.to_channel_from_bot_oauth_scope,
                      settings.to_bot_from_channel_token_issuer,
                      settings.to_bot_from_channel_openid_metadata_url))
    if not overridden:  # botbuilder's built-in public or government cloud
        return BotFrameworkAuthenticationFactory.create(
            channel_service=settings.channel_service, credential_factory=credentials,
            auth_configuration=AuthenticationConfiguration())
    # One key set switches botbuilder to its "parameterized" mode, where every key it is not
    # given is None (every request then fails with 401): fill the rest with the cloud's values.
    constants = GovernmentConstants if _government(settings) else AuthenticationConstants
    return BotFrameworkAuthenticationFactory.create(
        to_channel_from_bot_login_url=_channel_login_url(settings),
        to_channel_from_bot_oauth_scope=settings.to_channel_from_bot_oauth_scope
        or constants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE,
        to_bot_from_channel_token_issuer=settings.to_bot_from_channel_token_issuer
        or constants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER,
        to_bot_from_channel_open_id_metadata_url=_channel_metadata_url(settings),
        credential_factory=credentials, auth_configuration=AuthenticationConfiguration())


def _government(settings: Settings) -> bool:
    return settings.channel_service == GovernmentConstants.CHANNEL_SERVICE


def _channel_login_url(settings: Settings) -> str:
    """Where the bot gets its own token for the Bot Connector (botbuilder's defaults)."""
    if settings.to_channel_from_bot_login_url:
        return settings.to_channel_from_bot_login_url
    if _government(settings):
        return (f"{GovernmentConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX}"
                f"{settings.app_tenant_id or GovernmentConstants.DEFAULT_CHANNEL_AUTH_TENANT}")
    return f"{settings.authority_host}/{settings.app_tenant_id or 'botframework.com'}"


def _channel_scope(settings: Settings) -> str:
    scope = settings.to_channel_from_bot_oauth_scope or (
        GovernmentConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE if _government(settings)
        else AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE)
    # MSAL's client credentials want "{resource}/.default"; botbuilder appends it the same way.
    return scope if scope.endswith("/.default") else scope.rstrip("/") + "/.default"


def _channel_metadata_url(settings: Settings) -> str:
    if settings.to_bot_from_channel_openid_metadata_url:
        return settings.to_bot_from_channel_openid_metadata_url
    if _government(settings):
        return GovernmentConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
    return AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL


async def _start_local_graph(app: web.Application):
    """Demo mode: the Graph simulator runs in this process on a free loopback port."""
    from localcloud.graph_sim import GRAPH_SIM, create_graph_app
    from localcloud.issuer import LocalIssuer

    issuer = LocalIssuer()
    graph_app = create_graph_app(issuer)
    app[LOCAL_GRAPH] = graph_app[GRAPH_SIM]  # tests and operators can look inside
    runner = web.AppRunner(graph_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - aiohttp has no public getter
    url = f"http://127.0.0.1:{port}"
    log.info("demo mode: no MicrosoftAppId, so meetings are created in the local Graph "
             "simulator at %s (nothing reaches Microsoft)", url)
    return issuer, url, runner


async def _resources(app: web.Application):
    settings = app[SETTINGS]
    metrics = app[METRICS]
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=256, limit_per_host=128, ssl=_client_ssl(settings),
                                       ttl_dns_cache=300, keepalive_timeout=30),
        json_serialize=json.dumps)
    app[SESSION] = session
    store = open_store(settings.redis_url, encryption_keys=list(settings.state_encryption_keys))
    app[STORE] = store
    local_runner = None
    graph_root = settings.graph_root
    if settings.demo:
        if settings.graph_base_url:
            from localcloud.issuer import LocalIssuer
            broker = LocalBroker(LocalIssuer(), on_cache_lookup=metrics.token_lookup)
        else:
            issuer, graph_root, local_runner = await _start_local_graph(app)
            broker = LocalBroker(issuer, on_cache_lookup=metrics.token_lookup)
    else:
        broker = MsalBroker(
            app_id=settings.app_id, secret=settings.app_password,
            authority_host=settings.authority_host, app_tenant=settings.app_tenant_id,
            graph_resource=settings.graph_resource, store=store,
            app_only=settings.graph_auth.value == "app",
            channel_login_url=_channel_login_url(settings),
            channel_scope=_channel_scope(settings), ca_file=settings.ca_file,
            on_cache_lookup=metrics.token_lookup)
    graph = GraphClient(session, graph_root, deadline=settings.graph_deadline,
                        on_event=metrics.graph_event)
    service = MeetingService(graph, broker, allowed_tenants=settings.allowed_tenants,
                             on_meeting=metrics.meeting)
    connectors = PooledConnectorFactory(session, broker.bot_token)
    keys = SigningKeys(session, _channel_metadata_url(settings)) if settings.authenticated \
        else None
    adapter = MeetBotAdapter(MeetBotAuthentication(_bot_framework_authentication(settings),
                                                   connectors, keys), metrics)
    bot = MeetBot(service, TurnState(store), signin_url=consent.signin_url(settings),
                  sso_resource=settings.sso_resource, connection_name=settings.sso_connection_name,
                  demo=settings.demo, ack_after=settings.ack_after)
    adapter.on_turn_error = _on_turn_error
    app[ADAPTER], app[BOT] = adapter, bot
    yield
    await bot.drain(timeout=settings.graph_deadline + 5)  # cards still on their way
    await session.close()
    await store.close()
    if local_runner is not None:
        await local_runner.cleanup()


async def _on_turn_error(turn_context: TurnContext, error: Exception) -> None:
    """Last resort: log the failure for operators, give the user a plain sentence. An invoke
    still gets a 200 with the error card, so Teams shows words instead of a failure banner."""
    if isinstance(error, DeserializationError):
        # botbuilder could not read a Teams payload (an invoke value, channelData): the
        # sender's mistake, not ours, so a 400 and no traceback.
        log.warning("unreadable %s payload: %s", turn_context.activity.type, error)
        if turn_context.activity.type == ActivityTypes.invoke:
            await turn_context.send_activity(Activity(
                type=ActivityTypes.invoke_response, value=InvokeResponse(status=400)))
        return
    if isinstance(error, ConnectorError):  # the Bot Connector said no: its words, no traceback
        log.warning("unhandled error in turn: %s", error)
    else:
        log.exception("unhandled error in turn", exc_info=error)
    msg = cards.error_card(describe(error))
    try:
        if turn_context.activity.type == ActivityTypes.invoke:
            await turn_context.send_activity(Activity(
                type=ActivityTypes.invoke_response, value=invoke_card(msg)))
        else:
            await turn_context.send_activity(card_activity(msg))
    except Exception:  # the connector itself may be what failed
        log.warning("could not tell the user about the error")


async def messages(request: web.Request) -> web.Response:
    app = request.app
    return await app[ADAPTER].process(request, app[BOT])


async def metrics_page(request: web.Request) -> web.Response:
    body, content_type = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": content_type})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    store = request.app.get(STORE)
    if store is not None and not await store.ping():
        return web.json_response({"status": "unavailable", "store": "unreachable"}, status=503)
    return web.json_response({"status": "ready"})


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(_resources)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    if settings.authenticated:
        app.router.add_routes(consent.routes(settings))
    return app

