"""The HTTP edge of /api/messages: botbuilder's CloudAdapter behind request checks it lacks.

Order matters and is cheapest first: method and content type; then, with authentication on, a
channel token for this bot (a bearer JWT from the channel's issuer, signed with one of its
current keys, for this app id, not expired: auth.ChannelTokenGate) before the body is even read;
the JSON body; botbuilder's full token validation (endorsements, the serviceUrl claim); only
then the shape check and msrest's deserialisation. Every bad request is a clean 4xx, never a 500, and every request is
one log line and one metric.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

import jwt
from aiohttp import web
from botbuilder.core import Bot
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ActivityTypes
from botframework.connector.auth import AuthenticateRequestResult, BotFrameworkAuthentication
from msrest.exceptions import DeserializationError

from bot.config import is_loopback_url
from bot.telemetry import Metrics

from .auth import ChannelTokenGate, SigningKeysUnavailable

log = logging.getLogger(__name__)


def _refuse(status: int, reason: str) -> web.Response:
    return web.json_response({"error": {"code": reason}}, status=status)


# The JSON types the Bot Framework Activity schema, and Teams' entity and channelData schemas,
# give the fields MeetBot reads. msrest does not enforce them (an "id" object stays an object,
# a null list item stays null), so a wrong type would otherwise surface mid-turn as a crash
# in botbuilder or the router; here it is a 400.
class _Required:
    def __init__(self, shape: Any) -> None:
        self.shape = shape


_ACCOUNT = {"id": str, "name": str, "aadObjectId": str, "role": str}
_MEMBER = {**_ACCOUNT, "id": _Required(str)}  # TeamsInfo looks members up by id
_ACTIVITY_SHAPE: dict[str, Any] = {
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


def _misshapen(value: Any, shape: Any, path: str = "activity") -> str | None:
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


class TeamsAdapter(CloudAdapter):
    """CloudAdapter whose `process` answers bad requests with a clean 4xx, never 500, and
    records one log line and one metric per request.

    `token_gate` None means anonymous (demo mode, the Agents Playground); then
    `loopback_only` keeps replies on this machine: a serviceUrl elsewhere is refused."""

    def __init__(self, authentication: BotFrameworkAuthentication, metrics: Metrics, *,
                 token_gate: ChannelTokenGate | None, loopback_only: bool = False) -> None:
        super().__init__(authentication)
        self.metrics = metrics
        self._gate = token_gate
        self._loopback_only = loopback_only

    async def process(self, request: web.Request, bot: Bot) -> web.Response:
        started = time.perf_counter()
        response: web.Response | None = None
        activity: Activity | None = None
        try:
            response, activity = await self._process(request, bot)
        finally:  # an exception here is aiohttp's 500: counted and logged like the rest
            kind = activity.type if activity is not None else "invalid"
            status = response.status if response is not None else 500
            self.metrics.activity(kind or "invalid", status)
            log.info("activity %s -> %s", kind, status, extra={
                "activity_id": activity.id if activity is not None else None,
                "conversation_id": activity.conversation.id
                if activity is not None and activity.conversation else None,
                "activity_name": activity.name if activity is not None else None,
                "status": status, "ms": round((time.perf_counter() - started) * 1000, 1)})
        assert response is not None
        return response

    async def _process(self, request: web.Request, bot: Bot
                       ) -> tuple[web.Response, Activity | None]:
        if request.method != "POST":
            return _refuse(405, "MethodNotAllowed"), None
        if request.content_type != "application/json":
            return _refuse(415, "UnsupportedMediaType"), None
        auth_header = request.headers.get("Authorization", "")
        if self._gate is not None:
            try:
                admitted = await self._gate.admits(auth_header)
            except SigningKeysUnavailable:
                return _refuse(503, "SigningKeysUnavailable"), None  # Teams retries later
            if not admitted:
                log.info("unauthorized request: no channel token for this bot")
                return _refuse(401, "Unauthorized"), None
        try:
            body = json.loads(await request.read())
        except web.HTTPRequestEntityTooLarge:
            return _refuse(413, "PayloadTooLarge"), None
        except (ValueError, UnicodeDecodeError, RecursionError):
            return _refuse(400, "MalformedJson"), None
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            return _refuse(400, "NotAnActivity"), None
        service_url, channel_id = body.get("serviceUrl"), body.get("channelId")
        if not isinstance(service_url, str) or not service_url.startswith(("https://", "http://")) \
                or not isinstance(channel_id, (str, type(None))):
            return _refuse(400, "IncompleteActivity"), None
        if self._loopback_only and not is_loopback_url(service_url):
            log.warning("demo mode answers only a Bot Connector on this machine; refused %s",
                        service_url[:100])
            return _refuse(403, "ServiceUrlNotLocal"), None
        auth = await self._authenticate(
            Activity(channel_id=channel_id, service_url=service_url), auth_header)
        if isinstance(auth, web.Response):
            return auth, None
        misshapen = _misshapen(body, _ACTIVITY_SHAPE)
        if body["type"] == ActivityTypes.conversation_update and channel_id == "msteams" and \
                not isinstance(body.get("channelData"), dict):
            misshapen = "activity.channelData"  # botbuilder reads its .team for every Teams one
        if misshapen:
            log.info("malformed activity: %s has the wrong type", misshapen)
            return _refuse(400, "MalformedActivity"), None
        try:
            activity = Activity().deserialize(body)
        except (DeserializationError, TypeError, ValueError, AttributeError, RecursionError):
            return _refuse(400, "MalformedActivity"), None
        if not activity.type or not activity.conversation or not activity.conversation.id:
            return _refuse(400, "IncompleteActivity"), activity
        invoke = await self.process_activity(auth, activity, bot.on_turn)
        if invoke is None:
            return web.Response(status=201 if activity.type == ActivityTypes.message else 200), \
                activity
        payload = invoke.body.serialize() if hasattr(invoke.body, "serialize") else invoke.body
        # botbuilder answers an invoke no handler took with 501; a 5xx makes the Bot Connector
        # retry, and there is nothing to retry: the request names something this bot lacks.
        status = 400 if int(invoke.status) == 501 else int(invoke.status)
        return web.json_response(payload, status=status), activity

    async def _authenticate(self, activity: Activity, auth_header: str
                            ) -> AuthenticateRequestResult | web.Response:
        try:
            return await self.bot_framework_authentication.authenticate_request(
                activity, auth_header)
        except SigningKeysUnavailable:
            return _refuse(503, "SigningKeysUnavailable")  # Teams retries later
        # botbuilder answers a header it cannot read with a None identity that then fails as
        # AttributeError, and endorsement failures with a bare Exception: all "not authenticated".
        except (PermissionError, jwt.PyJWTError, LookupError, ValueError, AttributeError,
                TypeError) as err:
            log.info("unauthorized request: %s", type(err).__name__)
            return _refuse(401, "Unauthorized")
        except Exception as err:  # noqa: BLE001 - see above; never a 500 for a bad token
            log.info("unauthorized request: %s", type(err).__name__)
            return _refuse(401, "Unauthorized")
