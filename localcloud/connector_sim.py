"""Bot Connector service simulator (the `serviceUrl` a Teams bot replies to), as an aiohttp app.

Contract: "Bot Connector API reference" (Microsoft Learn,
bot-framework-rest-connector-api-reference) and the Teams additions used through botbuilder's TeamsInfo:
- POST   /v3/conversations                                   create conversation -> 201
         ConversationResourceResponse {id, activityId?, serviceUrl}
- POST   /v3/conversations/{conversationId}/activities        send to conversation -> {id}
- POST   /v3/conversations/{conversationId}/activities/{id}   reply to activity -> {id}
- PUT    /v3/conversations/{conversationId}/activities/{id}   update activity -> {id}
- DELETE /v3/conversations/{conversationId}/activities/{id}   delete activity -> 200
         (botframework-connector accepts only 200/202 here)
- GET    /v3/conversations/{conversationId}/members           [ChannelAccount]
- GET    /v3/conversations/{conversationId}/pagedmembers      TeamsPagedMembersResult
         {members: [TeamsChannelAccount], continuationToken?} (?pageSize=&continuationToken=)
- GET    /v3/conversations/{conversationId}/members/{memberId} TeamsChannelAccount
- GET    /v3/teams/{teamId}                                   TeamDetails
- GET    /v3/teams/{teamId}/conversations                     ConversationList {conversations}
Errors: ErrorResponse `{"error": {"code", "message"}}`. Auth ("Authentication with the Bot
Connector API"): `Authorization: Bearer` with an app token for https://api.botframework.com
whose `appid` is the bot; without `issuer`/`bot_app_id` the sim is anonymous, like Agents
Playground. Teams conversation ids contain ':', ';', '@' and arrive percent-encoded (msrest
quotes path arguments); aiohttp matches the decoded path, so they route as one segment.

Faults ("Optimize your bot with rate limiting in Teams": the Connector answers 429 to any call,
and 412/502/504 happen too) are scripted per call with `ConnectorSim.fail`: the next N matching
calls get a status (an ErrorResponse, with `Retry-After` when given), a delay, or a connection
reset, before the call is carried out or, with `after_commit`, after it. `ConnectorSim.draw`, when
set, is asked for a fault on every other call (seeded random runs).
"""
from __future__ import annotations

import asyncio
import base64
import time
import uuid
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web

from .issuer import LocalIssuer

BOT_FRAMEWORK_AUDIENCE = "https://api.botframework.com"
DEFAULT_PAGE_SIZE = 200  # Teams' default is not documented; any value works with the SDKs
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class ConnectorCall:
    """One request the bot made, as the sim understood it."""

    op: str  # create_conversation | send | reply | update | delete | members | paged_members
    #          | member | team | team_channels
    conversation_id: str | None = None
    activity_id: str | None = None  # the id in the path (reply/update/delete target)
    body: Any = None
    at: float = field(default_factory=time.monotonic)


@dataclass
class ConnectorFault:
    """One scripted misbehaviour for the next call that matches `method`, `path` (a substring of
    the request path) and `when(activity)` (the JSON body, None without one). `delay` holds the
    answer back; then `status` answers instead of the Connector, or `reset` closes the
    connection without a word. With `after_commit` the call is carried out first (the activity
    is posted) and only its answer suffers."""

    status: int | None = None
    retry_after: float | None = None
    reset: bool = False
    delay: float = 0.0
    after_commit: bool = False
    method: str | None = None
    path: str | None = None
    when: Callable[[Any], bool] | None = None

    def matches(self, method: str, path: str, activity: Any) -> bool:
        return ((self.method is None or self.method.upper() == method)
                and (self.path is None or self.path in path)
                and (self.when is None or self.when(activity)))


@dataclass
class _Conversation:
    members: list[dict[str, Any]] = field(default_factory=list)
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)


class ConnectorSim:
    """State of one simulated Bot Connector; tests inspect and script it."""

    def __init__(self, issuer: LocalIssuer | None, bot_app_id: str | None,
                 latency: float) -> None:
        self.issuer = issuer
        self.bot_app_id = bot_app_id
        self.latency = latency
        self.calls: list[ConnectorCall] = []
        self.conversations: dict[str, _Conversation] = {}
        self.teams: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self.connections = 0  # distinct TCP connections seen (keep-alive reuse => fewer)
        self.unauthorized = 0
        # Member reads ("member", "paged_members"): tests may slow them down (`read_latency`,
        # seconds) and read how many of each were being served at once at most.
        self.read_latency: dict[str, float] = {}
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self.faults: list[ConnectorFault] = []
        # Asked for every call no scripted fault matched (a seeded random run): (method, path,
        # activity) -> a fault or None.
        self.draw: Callable[[str, str, Any], ConnectorFault | None] | None = None
        self.faulted: list[tuple[str, str, int | str]] = []  # (method, path, status | "reset")
        self._seen: weakref.WeakSet = weakref.WeakSet()
        self._changed = asyncio.Event()
        self._personal: dict[str, str] = {}  # member id -> 1:1 conversation id

    @property
    def auth_required(self) -> bool:
        return self.issuer is not None and self.bot_app_id is not None

    # --- scripting -------------------------------------------------------------------------
    def add_members(self, conversation_id: str, members: Iterable[dict[str, Any]]) -> None:
        """Adds TeamsChannelAccount-shaped dicts ({id, name, aadObjectId, email,
        userPrincipalName, givenName, surname, tenantId, userRole})."""
        self.conversation(conversation_id).members.extend(dict(m) for m in members)

    def add_team(self, team_id: str, *, name: str, aad_group_id: str | None = None,
                 channels: Iterable[dict[str, str]] = ()) -> None:
        channels = list(channels) or [{"id": team_id, "name": "General"}]
        self.teams[team_id] = {"id": team_id, "name": name, "aadGroupId": aad_group_id,
                               "channelCount": len(channels),
                               "memberCount": len(self.conversation(team_id).members),
                               "type": "standard", "_channels": channels}

    def fail(self, times: int = 1, **fault: Any) -> None:
        """The next `times` calls matching the ConnectorFault fields in `fault` misbehave, e.g.
        `fail(status=429, retry_after=1, method="POST")`, `fail(2, reset=True, path="/activities")`."""
        self.faults.extend(ConnectorFault(**fault) for _ in range(times))

    def take_fault(self, method: str, path: str, activity: Any) -> ConnectorFault | None:
        for i, fault in enumerate(self.faults):
            if fault.matches(method, path, activity):
                return self.faults.pop(i)
        return self.draw(method, path, activity) if self.draw is not None else None

    # --- inspection ----------------------------------------------------------------------------
    def activities(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """Activities posted (send/reply/create), in order."""
        return [c.body for c in self.calls
                if c.op in ("send", "reply", "create_conversation") and c.body is not None
                and (conversation_id is None or c.conversation_id == conversation_id)]

    async def wait_for(self, predicate: Callable[[ConnectorCall], bool],
                       timeout: float = 5.0) -> ConnectorCall:
        """The first recorded call (past or future) matching `predicate`; raises
        TimeoutError after `timeout` seconds."""
        async def first() -> ConnectorCall:
            checked = 0
            while True:
                for call in self.calls[checked:]:
                    if predicate(call):
                        return call
                checked = len(self.calls)
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(first(), timeout)

    # --- internals ------------------------------------------------------------------------------
    def conversation(self, conversation_id: str) -> _Conversation:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            conversation = self.conversations[conversation_id] = _Conversation()
        return conversation

    def record(self, call: ConnectorCall) -> None:
        self.calls.append(call)
        self._changed.set()

    def note_request(self, request: web.Request) -> None:
        self.requests += 1
        # One transport per TCP connection (weakly held: closed connections drop out).
        transport = request.transport
        if transport is not None and transport not in self._seen:
            self._seen.add(transport)
            self.connections += 1

    @asynccontextmanager
    async def serving(self, op: str) -> AsyncIterator[None]:
        self.in_flight[op] += 1
        self.max_in_flight[op] = max(self.max_in_flight[op], self.in_flight[op])
        try:
            if self.read_latency.get(op):
                await asyncio.sleep(self.read_latency[op])
            yield
        finally:
            self.in_flight[op] -= 1

    def authorized(self, request: web.Request) -> bool:
        if not self.auth_required:
            return True
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            return False
        assert self.issuer is not None  # only an authenticated simulator checks tokens
        try:
            claims = self.issuer.verify(token, audience=BOT_FRAMEWORK_AUDIENCE)
        except jwt.InvalidTokenError:
            return False
        return (claims.get("appid") or claims.get("azp")) == self.bot_app_id

    def create_conversation(self, params: dict[str, Any]) -> dict[str, Any]:
        members = params.get("members") or []
        key = members[0].get("id") if len(members) == 1 and not params.get("isGroup") else None
        conversation_id = self._personal.get(key) if key else None
        if conversation_id is None:
            # Teams 1:1 conversation ids look like "a:1…"; the same user gets the same one.
            conversation_id = f"a:1{uuid.uuid4().hex}"
            if key:
                self._personal[key] = conversation_id
            self.add_members(conversation_id, members)
        result: dict[str, Any] = {"id": conversation_id}
        activity = params.get("activity")
        if activity:
            result["activityId"] = self.post_activity(conversation_id, activity)
        return result

    def post_activity(self, conversation_id: str, activity: dict[str, Any]) -> str:
        activity_id = str(int(time.time() * 1000) + len(self.calls))  # Teams ids are numeric
        self.conversation(conversation_id).activities[activity_id] = activity
        return activity_id

    def page(self, conversation_id: str, page_size: int, token: str | None
             ) -> dict[str, Any]:
        members = self.conversation(conversation_id).members
        start = _decode_token(token)
        end = start + page_size
        result: dict[str, Any] = {"members": members[start:end]}
        if end < len(members):
            result["continuationToken"] = _encode_token(end)
        return result


CONNECTOR_SIM = web.AppKey("connector_sim", ConnectorSim)


def create_connector_app(issuer: LocalIssuer | None = None, *, bot_app_id: str | None = None,
                         latency: float = 0.0) -> web.Application:
    """The Bot Connector simulator. With `issuer` and `bot_app_id` every call needs the bot's
    app token (401 otherwise); `latency` delays each posted activity (seconds)."""
    sim = ConnectorSim(issuer, bot_app_id, latency)
    app = web.Application(middlewares=[_auth_middleware])
    app[CONNECTOR_SIM] = sim
    conv = "/v3/conversations/{conversation_id}"
    app.router.add_post("/v3/conversations", _create_conversation)
    app.router.add_post(conv + "/activities", _send)
    app.router.add_post(conv + "/activities/{activity_id}", _reply)
    app.router.add_put(conv + "/activities/{activity_id}", _update)
    app.router.add_delete(conv + "/activities/{activity_id}", _delete)
    app.router.add_get(conv + "/members", _members)
    app.router.add_get(conv + "/pagedmembers", _paged_members)
    app.router.add_get(conv + "/members/{member_id}", _member)
    app.router.add_get("/v3/teams/{team_id}", _team)
    app.router.add_get("/v3/teams/{team_id}/conversations", _team_channels)
    return app


@web.middleware
async def _auth_middleware(request: web.Request, handler) -> web.StreamResponse:
    sim = request.app[CONNECTOR_SIM]
    sim.note_request(request)
    if not sim.authorized(request):
        sim.unauthorized += 1
        return web.json_response({"message": "Authorization has been denied for this request."},
                                 status=401, headers={"WWW-Authenticate": "Bearer"})
    fault = None
    if sim.faults or sim.draw is not None:
        activity = None
        if request.can_read_body:
            try:
                activity = await request.json()  # aiohttp keeps the body for the handler
            except ValueError:
                pass
        fault = sim.take_fault(request.method, request.path, activity)
    if fault is None:
        return await handler(request)
    response = await handler(request) if fault.after_commit else None
    if fault.delay:
        await asyncio.sleep(fault.delay)
    if fault.reset:
        sim.faulted.append((request.method, request.path, "reset"))
        if request.transport is not None:
            request.transport.close()
        return web.Response()  # never written: the connection is gone
    if fault.status is not None:
        sim.faulted.append((request.method, request.path, fault.status))
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        response = _error(fault.status, _FAULT_CODES.get(fault.status, "ServiceError"),
                          "Scripted fault.")
        response.headers.update(headers)
        return response
    return response if response is not None else await handler(request)


# `error.code` of the scripted answers (clients act on the status; the code is for people).
_FAULT_CODES = {412: "PreconditionFailed", 429: "TooManyRequests", 500: "InternalServerError",
                502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def _activity_body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "BadSyntax", "Request body is not valid JSON.")
    if not isinstance(body, dict) or not body.get("type"):
        return _error(400, "BadArgument", "Activity must have a type.")
    return body


async def _post(request: web.Request, op: str) -> web.Response:
    sim = request.app[CONNECTOR_SIM]
    body = await _activity_body(request)
    if isinstance(body, web.Response):
        return body
    conversation_id = request.match_info["conversation_id"]
    if sim.latency:
        await asyncio.sleep(sim.latency)
    activity_id = sim.post_activity(conversation_id, body)
    sim.record(ConnectorCall(op, conversation_id, request.match_info.get("activity_id"), body))
    return web.json_response({"id": activity_id}, status=201)


async def _send(request: web.Request) -> web.Response:
    return await _post(request, "send")


async def _reply(request: web.Request) -> web.Response:
    return await _post(request, "reply")


async def _update(request: web.Request) -> web.Response:
    sim = request.app[CONNECTOR_SIM]
    body = await _activity_body(request)
    if isinstance(body, web.Response):
        return body
    conversation_id, activity_id = (request.match_info["conversation_id"],
                                    request.match_info["activity_id"])
    activities = sim.conversation(conversation_id).activities
    if activity_id not in activities:
        return _error(404, "ActivityNotFoundInConversation", "Activity not found.")
    activities[activity_id] = body
    sim.record(ConnectorCall("update", conversation_id, activity_id, body))
    return web.json_response({"id": activity_id})


async def _delete(request: web.Request) -> web.Response:
    sim = request.app[CONNECTOR_SIM]
    conversation_id, activity_id = (request.match_info["conversation_id"],
                                    request.match_info["activity_id"])
    if sim.conversation(conversation_id).activities.pop(activity_id, None) is None:
        return _error(404, "ActivityNotFoundInConversation", "Activity not found.")
    sim.record(ConnectorCall("delete", conversation_id, activity_id))
    return web.Response(status=200)


async def _create_conversation(request: web.Request) -> web.Response:
    sim = request.app[CONNECTOR_SIM]
    try:
        params = await request.json()
    except ValueError:
        return _error(400, "BadSyntax", "Request body is not valid JSON.")
    if not isinstance(params, dict) or not params.get("members"):
        return _error(400, "BadArgument", "Conversation must have members.")
    result = sim.create_conversation(params)
    result["serviceUrl"] = f"{request.scheme}://{request.host}/"
    sim.record(ConnectorCall("create_conversation", result["id"], None, params.get("activity")))
    return web.json_response(result, status=201)


async def _members(request: web.Request) -> web.Response:
    sim = request.app[CONNECTOR_SIM]
    conversation_id = request.match_info["conversation_id"]
    sim.record(ConnectorCall("members", conversation_id))
    return web.json_response(sim.conversation(conversation_id).members)


async def _paged_members(request: web.Request) -> web.Response:
    sim = request.app[CONNECTOR_SIM]
    conversation_id = request.match_info["conversation_id"]
    try:
        page_size = int(request.query.get("pageSize", DEFAULT_PAGE_SIZE))
        page = sim.page(conversation_id, min(max(page_size, 1), MAX_PAGE_SIZE),
                        request.query.get("continuationToken"))
    except ValueError:
        return _error(400, "BadArgument", "Invalid pageSize or continuationToken.")
    async with sim.serving("paged_members"):
        sim.record(ConnectorCall("paged_members", conversation_id))
        return web.json_response(page)


async def _member(request: web.Request) -> web.Response:
    sim = request.app[CONNECTOR_SIM]
    conversation_id, member_id = (request.match_info["conversation_id"],
                                  request.match_info["member_id"])
    async with sim.serving("member"):
        sim.record(ConnectorCall("member", conversation_id))
        for member in sim.conversation(conversation_id).members:
            if member_id in (member.get("id"), member.get("aadObjectId")):
                return web.json_response(member)
        return _error(404, "MemberNotFoundInConversation",
                      "The specified member was not found in the conversation.")


async def _team(request: web.Request) -> web.Response:
    sim = request.app[CONNECTOR_SIM]
    team_id = request.match_info["team_id"]
    sim.record(ConnectorCall("team", team_id))
    team = sim.teams.get(team_id)
    if team is None:
        return _error(404, "NotFound", "Team not found.")
    return web.json_response({k: v for k, v in team.items() if not k.startswith("_")})


async def _team_channels(request: web.Request) -> web.Response:
    sim = request.app[CONNECTOR_SIM]
    team_id = request.match_info["team_id"]
    sim.record(ConnectorCall("team_channels", team_id))
    team = sim.teams.get(team_id)
    if team is None:
        return _error(404, "NotFound", "Team not found.")
    return web.json_response({"conversations": team["_channels"]})


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_token(token: str | None) -> int:
    """Opaque to clients; raises ValueError for anything this sim did not issue."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValueError("bad continuation token") from None
    prefix, _, offset = text.partition(":")
    if prefix != "offset":
        raise ValueError("bad continuation token")
    return int(offset)
