"""Microsoft Graph `onlineMeetings` client (v1.0), the only module that speaks Graph's HTTP.

Creation goes through `createOrGet` with an `externalId` derived from the Teams activity, so a
retry, a redelivered activity or a double click returns the same meeting instead of a second one
(docs/graph-contract.md §4). That also makes retries safe: POST createOrGet is idempotent by externalId, PATCH
sends absolute times (repeating it changes nothing), DELETE of a deleted meeting changes nothing
(a retried DELETE whose first try committed answers 404, surfaced as GraphNotFound). Retries
(aiohttp-retry) cover 429/503/504 and broken connections, wait what `Retry-After` says, and all
of it runs inside one overall deadline. Graph's answers are read tolerantly: the current v1.0
shape and the 2019 one of the page the project started from (docs/create-online-meeting-2019.md:
`joinUrl`, `ConferenceId`, singular numbers).

Calendar-backed meetings (*Create event*, *event resource type*): `POST /me/events` with
`onlineMeetingProvider: teamsForBusiness` and a `transactionId` derived like the `externalId`, so a
retried or redelivered command makes one event; the event only summarises its Teams meeting, so
the full onlineMeeting (meeting ID, passcode, every dial-in number) is read by its join URL.
Extend moves the event (PATCH; the meeting follows), End cancels it with a message to the
attendees. A 403 on `/events` means no `Calendars.ReadWrite` (CalendarPermissionMissing).
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from aiohttp_retry import ExponentialRetry, RetryClient
from yarl import URL

from bot.errors import (
    AccessPolicyMissing,
    CalendarPermissionMissing,
    GraphBadRequest,
    GraphBadResponse,
    GraphConflict,
    GraphError,
    GraphForbidden,
    GraphNotFound,
    GraphThrottled,
    GraphTimeout,
    GraphUnauthorized,
    GraphUnavailable,
    OptionRefused,
)
from bot.models import (
    AttendeeScope,
    AudioConferencing,
    CalendarEvent,
    Lobby,
    Meeting,
    MeetingOptions,
    MeetingRequest,
    Person,
    Presenters,
)

UTC = UTC
RETRY_STATUSES = frozenset({429, 503, 504})
RETRY_EXCEPTIONS = {aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError}
_BY_STATUS: dict[int, type[GraphError]] = {400: GraphBadRequest, 401: GraphUnauthorized,
                                           403: GraphForbidden, 404: GraphNotFound,
                                           409: GraphConflict, 429: GraphThrottled}
EventSink = Callable[..., None]


def external_id_for(conversation_id: str, activity_id: str) -> str:
    """Stable createOrGet key for one request: same conversation + activity => same meeting.
    Hashed so it is short and carries no chat content; Graph scopes it per tenant and user."""
    digest = hashlib.sha256(f"{conversation_id}\n{activity_id}".encode()).hexdigest()
    return f"meetbot-{digest[:32]}"


def transaction_id_for(conversation_id: str, activity_id: str) -> str:
    """Stable event `transactionId` for one request: same conversation + activity => one event
    (*event resource type*: it lets the server skip a redundant POST). Hashed like the
    externalId, with its own prefix so the two keys are never confused."""
    digest = hashlib.sha256(f"event\n{conversation_id}\n{activity_id}".encode()).hexdigest()
    return f"meetbot-evt-{digest[:32]}"


# *dateTimeTimeZone resource type*: besides Windows names, Graph takes these IANA names (the
# page's list; "(Kiev)"-style aliases included). Teams gives IANA names; others go as UTC.
GRAPH_IANA_ZONES = frozenset("""
Etc/GMT+12 Etc/GMT+11 Pacific/Honolulu America/Anchorage America/Santa_Isabel America/Los_Angeles
America/Phoenix America/Chihuahua America/Denver America/Guatemala America/Chicago
America/Mexico_City America/Regina America/Bogota America/New_York America/Indiana/Indianapolis
America/Caracas America/Asuncion America/Halifax America/Cuiaba America/La_Paz America/Santiago
America/St_Johns America/Sao_Paulo America/Argentina/Buenos_Aires America/Cayenne America/Godthab
America/Montevideo America/Bahia Etc/GMT+2 Atlantic/Azores Atlantic/Cape_Verde Africa/Casablanca
Etc/GMT Europe/London Atlantic/Reykjavik Europe/Berlin Europe/Budapest Europe/Paris Europe/Warsaw
Africa/Lagos Africa/Windhoek Europe/Bucharest Asia/Beirut Africa/Cairo Asia/Damascus
Africa/Johannesburg Europe/Kyiv Europe/Kiev Europe/Istanbul Asia/Jerusalem Asia/Amman Asia/Baghdad
Europe/Kaliningrad Asia/Riyadh Africa/Nairobi Asia/Tehran Asia/Dubai Asia/Baku Europe/Moscow
Indian/Mauritius Asia/Tbilisi Asia/Yerevan Asia/Kabul Asia/Karachi Asia/Tashkent Asia/Kolkata
Asia/Colombo Asia/Kathmandu Asia/Almaty Asia/Dhaka Asia/Yekaterinburg Asia/Yangon Asia/Rangoon
Asia/Bangkok Asia/Novosibirsk Asia/Shanghai Asia/Krasnoyarsk Asia/Singapore Australia/Perth
Asia/Taipei Asia/Ulaanbaatar Asia/Irkutsk Asia/Tokyo Asia/Seoul Australia/Adelaide Australia/Darwin
Australia/Brisbane Australia/Sydney Pacific/Port_Moresby Australia/Hobart Asia/Yakutsk
Pacific/Guadalcanal Asia/Vladivostok Pacific/Auckland Etc/GMT-12 Pacific/Fiji Asia/Magadan
Pacific/Tongatapu Pacific/Apia Pacific/Kiritimati
""".split())
PREFER_UTC = {"Prefer": 'outlook.timezone="UTC"'}  # event answers in UTC, whatever the mailbox's zone


# --- retry policy ------------------------------------------------------------------------------
def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds as a float: Graph has sent both `10` and `2.128` (docs/graph-contract.md §7)."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:  # an HTTP-date: fall back to our own backoff
        return None
    return max(seconds, 0.0)


class GraphRetry(ExponentialRetry):
    """aiohttp-retry options for Graph: retry 429/503/504 and broken connections.

    The response callback reads the body inside the retry loop, so a truncated body is retried
    like a dropped connection and every retried response frees its connection. A `Retry-After`
    longer than `max_retry_after` is not cut short (that would ignore Graph): the call gives up
    at once and the caller gets GraphThrottled carrying `retry_after`."""

    def __init__(self, attempts: int, max_retry_after: float) -> None:
        self.max_retry_after = max_retry_after
        super().__init__(attempts=attempts, start_timeout=0.1, max_timeout=max_retry_after,
                         statuses=set(), exceptions=RETRY_EXCEPTIONS, retry_all_server_errors=False,
                         evaluate_response_callback=self._final)

    async def _final(self, response: aiohttp.ClientResponse) -> bool:
        """True: hand this response to the caller; False: retry."""
        try:
            await response.read()
        except aiohttp.ClientPayloadError:
            return False
        if response.status not in RETRY_STATUSES:
            return True
        wait = retry_after(response.headers)
        return wait is not None and wait > self.max_retry_after

    def get_timeout(self, attempt: int, response: aiohttp.ClientResponse | None = None) -> float:
        wait = retry_after(response.headers) if response is not None else None
        return wait if wait is not None else super().get_timeout(attempt)


class _TimedSession:
    """What RetryClient sees as its session when metrics are wanted: reports every attempt."""

    def __init__(self, session: aiohttp.ClientSession, on_event: EventSink) -> None:
        self._session = session
        self._on_event = on_event

    async def request(self, method: str, url: Any, **kwargs: Any) -> aiohttp.ClientResponse:
        ctx = kwargs.get("trace_request_ctx") or {}
        attempt = ctx.get("current_attempt", 1)
        started = time.perf_counter()
        try:
            response = await self._session.request(method, url, **kwargs)
        except BaseException as exc:
            self._on_event("graph_attempt", op=ctx.get("op"), status=None, error=type(exc).__name__,
                           latency=time.perf_counter() - started, attempt=attempt, retry=attempt > 1)
            raise
        self._on_event("graph_attempt", op=ctx.get("op"), status=response.status, error=None,
                       latency=time.perf_counter() - started, attempt=attempt, retry=attempt > 1)
        return response

    async def close(self) -> None:  # the app owns the real session
        return None


# --- the client ----------------------------------------------------------------------------------
LOBBY_FOR_SCOPE = {AttendeeScope.MENTIONED: "invited", AttendeeScope.EVERYONE: "organization"}


class GraphClient:
    """One per process, over the app's aiohttp session. `user_id=None` calls `/me` (delegated
    token); a user's Entra object id calls `/users/{id}` (app token + application access policy).

    `on_event("graph_attempt", op=, status=, error=, latency=, attempt=, retry=)` is called once
    per HTTP attempt (status None and error set when no answer came)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str = "https://graph.microsoft.com",
                 *, deadline: float = 10.0, max_retry_after: float = 5.0, attempts: int = 4,
                 attempt_timeout: float | None = None, on_event: EventSink | None = None) -> None:
        self._root = base_url.rstrip("/") + "/v1.0"
        self._me = self._root + "/me/onlineMeetings"
        self._deadline = deadline
        # A hung attempt must leave room for another inside the deadline.
        self._attempt_timeout = aiohttp.ClientTimeout(total=attempt_timeout or deadline / 2)
        transport: Any = session if on_event is None else _TimedSession(session, on_event)
        self._http = RetryClient(client_session=transport,
                                 retry_options=GraphRetry(attempts, max_retry_after))

    async def create_or_get(self, token: str, req: MeetingRequest, *, external_id: str,
                            user_id: str | None = None) -> Meeting:
        """One createOrGet; then `apply_settings` for the lobby and the options it cannot
        carry (docs/graph-contract.md §4), which costs nothing more when there are none."""
        body = _create_body(req, external_id)
        status, payload, rid = await self._call("POST", self._meetings(user_id) + "/createOrGet",
                                                token, body, "createOrGet")
        meeting = parse_meeting(payload, created=status == 201, request_id=rid)
        return await self.apply_settings(token, meeting, req.scope, req.options, user_id=user_id)

    async def apply_settings(self, token: str, meeting: Meeting, scope: AttendeeScope,
                             options: MeetingOptions, *, user_id: str | None = None) -> Meeting:
        """The lobby that goes with who was invited, and the options asked for, in one PATCH
        (*Update onlineMeeting*), only for what the meeting does not have already: a plain
        `meet now` and a repeated createOrGet make no call here. An option asked for wins over
        the lobby the invitees imply. OptionRefused carries the meeting as it stands."""
        fields = _option_fields(options)
        lobby = LOBBY_FOR_SCOPE.get(scope)
        if lobby and options.lobby is None:
            fields["lobbyBypassSettings"] = {"scope": lobby, "isDialInBypassEnabled": False}
        fields = {k: v for k, v in fields.items() if not _already(meeting, k, v)}
        if not fields:
            return meeting
        try:
            return _after_patch(await self._patch_fields(token, meeting.id, fields,
                                                         user_id=user_id), meeting)
        except OptionRefused as err:
            partial = err.meeting
            err.meeting = _after_patch(partial, meeting) if isinstance(partial, Meeting) else meeting
            raise

    async def get(self, token: str, meeting_id: str, *, user_id: str | None = None) -> Meeting:
        _, payload, rid = await self._call("GET", self._meeting(user_id, meeting_id), token, None, "get")
        return parse_meeting(payload, created=False, request_id=rid)

    async def update_times(self, token: str, meeting_id: str, start: datetime, end: datetime, *,
                           user_id: str | None = None) -> Meeting:
        """PATCH needs both times together (docs/graph-contract.md §5) and answers 200 with the whole meeting."""
        body = json.dumps({"startDateTime": _iso(start), "endDateTime": _iso(end)})
        _, payload, rid = await self._call("PATCH", self._meeting(user_id, meeting_id), token, body,
                                           "update")
        return parse_meeting(payload, created=False, request_id=rid)

    async def delete(self, token: str, meeting_id: str, *, user_id: str | None = None) -> None:
        await self._call("DELETE", self._meeting(user_id, meeting_id), token, None, "delete")

    # -- meeting options --
    async def set_options(self, token: str, meeting_id: str, options: MeetingOptions, *,
                          user_id: str | None = None) -> Meeting:
        """PATCH the options onto the meeting (*Update onlineMeeting*; createOrGet and events
        cannot carry them) and return the meeting: one call. A refusal does not reliably say
        which property it was about, so then each option is tried alone: OptionRefused names
        the refused ones and carries the meeting with the others applied (None when none was).
        The access-policy 403 stays AccessPolicyMissing."""
        fields = _option_fields(options)
        if not fields:
            raise ValueError("set_options needs at least one option")
        return await self._patch_fields(token, meeting_id, fields, user_id=user_id)

    async def _patch_fields(self, token: str, meeting_id: str, fields: dict[str, Any], *,
                            user_id: str | None = None) -> Meeting:
        url = self._meeting(user_id, meeting_id)
        # "invited" is an evolvable enum member: Graph wants this Prefer header for it (§2).
        prefer = {"Prefer": "include-unknown-enum-members"}
        try:
            _, payload, rid = await self._call("PATCH", url, token, json.dumps(fields), "options", prefer)
            return parse_meeting(payload, created=False, request_id=rid)
        except (GraphBadRequest, GraphForbidden) as err:
            if isinstance(err, AccessPolicyMissing):
                raise
            first = err
        refused, meeting = [], None
        for name, value in (fields.items() if len(fields) > 1 else ()):
            try:
                _, payload, rid = await self._call("PATCH", url, token, json.dumps({name: value}),
                                                   "options", prefer)
                meeting = parse_meeting(payload, created=False, request_id=rid)
            except (GraphBadRequest, GraphForbidden) as err:
                if isinstance(err, AccessPolicyMissing):
                    raise
                refused.append(name)
        raise OptionRefused(f"options: {first.detail}", refused=tuple(refused or fields), meeting=meeting,
                            status=first.status, code=first.code, request_id=first.request_id)

    # -- calendar-backed meetings --
    async def create_event(self, token: str, req: MeetingRequest, *, transaction_id: str, time_zone: str,
                           attendees: Sequence[Person], body_html: str,
                           user_id: str | None = None) -> CalendarEvent:
        """POST /me/events (app-only: /users/{id}/events) with a Teams meeting: Outlook sends the
        invitations from the organizer's mailbox. Times go in `time_zone` (the user's IANA zone)
        when Graph knows it, else UTC. A repeat with the same transaction_id returns the first
        event (Graph answers 201 both times). People without an address are not invited."""
        zone_name, tz = _event_zone(time_zone)
        body: dict[str, Any] = {
            "subject": req.subject, "body": {"contentType": "html", "content": body_html},
            "start": _zoned(req.start, zone_name, tz), "end": _zoned(req.end, zone_name, tz),
            "isOnlineMeeting": True, "onlineMeetingProvider": "teamsForBusiness",
            "transactionId": transaction_id}
        invitees = [{"emailAddress": {"address": p.upn, "name": p.name or p.upn}, "type": "required"}
                    for p in attendees if p.upn]
        if invitees:
            body["attendees"] = invitees
        _, payload, rid = await self._call("POST", self._events(user_id), token,
                                           json.dumps(body, separators=(",", ":")), "event_create",
                                           PREFER_UTC, forbidden=CalendarPermissionMissing)
        return parse_event(payload, request_id=rid)

    async def find_meeting_by_join_url(self, token: str, join_url: str, *,
                                       user_id: str | None = None) -> Meeting:
        """The full onlineMeeting behind a join link (*Get onlineMeeting*, `$filter=JoinWebUrl eq
        '…'`): what an event's summary lacks. GraphNotFound when Graph lists none."""
        expr = "JoinWebUrl eq '" + join_url.replace("'", "''") + "'"  # OData quotes by doubling
        url = f"{self._meetings(user_id)}?$filter={quote(expr, safe='')}"
        _, payload, rid = await self._call("GET", url, token, None, "find_meeting")
        found = payload.get("value") if isinstance(payload, dict) else None
        if not isinstance(found, list):
            raise GraphBadResponse("find_meeting: no value list", request_id=rid)
        if not found:
            raise GraphNotFound("find_meeting: no meeting with that join link", status=404, request_id=rid)
        return parse_meeting(found[0], created=False, request_id=rid)

    async def create_calendar_meeting(self, token: str, req: MeetingRequest, *, transaction_id: str,
                                      time_zone: str, attendees: Sequence[Person], body_html: str,
                                      user_id: str | None = None,
                                      meetings_token: str | None = None) -> Meeting:
        """create_event + find_meeting_by_join_url: the same Meeting a card already shows, plus
        the event id and how many people were invited. Two Graph calls. `meetings_token` reads
        the onlineMeeting when `token` is a calendar-only one (delegated: one scope per token).
        A meeting not (yet) found by its link is retryable: trying again with the same
        transactionId finds the same event, so nobody is invited twice."""
        event = await self.create_event(token, req, transaction_id=transaction_id, time_zone=time_zone,
                                        attendees=attendees, body_html=body_html, user_id=user_id)
        if event.join_url is None:
            raise GraphBadResponse("event_create: the event has no Teams meeting",
                                   request_id=event.request_id)
        try:
            meeting = await self.find_meeting_by_join_url(meetings_token or token, event.join_url,
                                                          user_id=user_id)
        except GraphNotFound as err:
            raise GraphUnavailable(f"event {event.id[:12]}…: {err.detail}",
                                   request_id=err.request_id) from None
        return attach_event(meeting, event)

    async def update_event_times(self, token: str, event_id: str, start: datetime, end: datetime, *,
                                 time_zone: str, user_id: str | None = None) -> CalendarEvent:
        """PATCH the event's start and end (*Update event*); its Teams meeting follows and the
        attendees get Outlook's update. Absolute times, so a retry changes nothing."""
        zone_name, tz = _event_zone(time_zone)
        body = json.dumps({"start": _zoned(start, zone_name, tz), "end": _zoned(end, zone_name, tz)})
        _, payload, rid = await self._call("PATCH", self._event(user_id, event_id), token, body,
                                           "event_update", PREFER_UTC, forbidden=CalendarPermissionMissing)
        return parse_event(payload, request_id=rid)

    async def cancel_event(self, token: str, event_id: str, comment: str, *,
                           user_id: str | None = None) -> bool:
        """Cancel with a message to the attendees (*event: cancel*, organizer only, 202); the
        Teams meeting goes with it. False when the event was already gone (404: cancelled
        before, or a retried cancel whose first try went through)."""
        try:
            await self._call("POST", self._event(user_id, event_id) + "/cancel", token,
                             json.dumps({"comment": comment}), "event_cancel",
                             forbidden=CalendarPermissionMissing)
        except GraphNotFound:
            return False
        return True

    # -- plumbing --
    def _meetings(self, user_id: str | None) -> str:
        return self._me if user_id is None else f"{self._root}/users/{quote(user_id, safe='')}/onlineMeetings"

    def _meeting(self, user_id: str | None, meeting_id: str) -> str:
        return f"{self._meetings(user_id)}/{quote(meeting_id, safe='')}"  # ids hold / + = (docs/graph-contract.md §3)

    def _events(self, user_id: str | None) -> str:
        if user_id is None:
            return f"{self._root}/me/events"
        return f"{self._root}/users/{quote(user_id, safe='')}/events"

    def _event(self, user_id: str | None, event_id: str) -> str:
        return f"{self._events(user_id)}/{quote(event_id, safe='')}"  # Exchange ids end in '='

    async def _call(self, method: str, url: str, token: str, body: str | None,
                    op: str, extra_headers: dict[str, str] | None = None, *,
                    forbidden: type[GraphForbidden] = GraphForbidden) -> tuple[int, Any, str | None]:
        """One logical call (retries included). Returns status, parsed JSON (None for 204 and
        202) and Graph's request-id; raises the typed GraphError otherwise (`forbidden`: the
        class for a 403 that is not the access-policy one)."""
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                   "client-request-id": str(uuid.uuid4())}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if extra_headers:
            headers.update(extra_headers)
        try:
            async with asyncio.timeout(self._deadline):
                async with self._http.request(method, URL(url, encoded=True), headers=headers, data=body,
                                              timeout=self._attempt_timeout,
                                              trace_request_ctx={"op": op}) as response:
                    raw = await response.read()
                    status, resp_headers = response.status, response.headers
        except TimeoutError:
            raise GraphTimeout(f"{op}: no answer within {self._deadline:g}s") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise GraphUnavailable(f"{op}: connection failed ({type(exc).__name__})") from None
        rid = resp_headers.get("request-id")
        if status >= 300:
            raise _error(op, status, raw, resp_headers, forbidden)
        if status in (202, 204) or (not raw and method == "DELETE"):
            return status, None, rid
        try:
            return status, json.loads(raw), rid
        except ValueError:
            ctype = resp_headers.get("Content-Type", "?")
            raise GraphBadResponse(f"{op}: {status} with a non-JSON body ({ctype})", status=status,
                                   request_id=rid) from None


def _error(op: str, status: int, raw: bytes, headers: Mapping[str, str],
           forbidden: type[GraphForbidden] = GraphForbidden) -> GraphError:
    """Maps a Graph error answer to our hierarchy. The access-policy case is recognised by
    status + message, never by `code` (it has been Unauthorized, Forbidden and General)."""
    err: dict[str, Any] = {}
    try:
        parsed = json.loads(raw)
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            err = parsed["error"]
    except ValueError:
        pass
    inner = err.get("innerError") or err.get("innererror") or {}
    rid = headers.get("request-id") or (inner.get("request-id") if isinstance(inner, dict) else None)
    code, message = err.get("code"), str(err.get("message") or "")
    cls = _BY_STATUS.get(status) or (GraphUnavailable if status >= 500 else GraphError)
    if status == 403:
        cls = AccessPolicyMissing if "application access policy" in message.lower() else forbidden
    return cls(f"{op}: {status} {code or '-'} {message}".rstrip(), status=status, code=code,
               request_id=rid, retry_after=retry_after(headers))


def _iso(dt: datetime) -> str:
    if dt.utcoffset() is None:  # Graph would read a bare time as UTC; ours are always aware
        raise ValueError("meeting times must be timezone-aware")
    return dt.isoformat()


def _create_body(req: MeetingRequest, external_id: str) -> str:
    """createOrGet takes externalId, subject, times and participants; lobby and other settings
    are ignored there (docs/graph-contract.md §4): `apply_settings` PATCHes them, only when there are any."""
    body: dict[str, Any] = {"externalId": external_id, "subject": req.subject,
                            "startDateTime": _iso(req.start), "endDateTime": _iso(req.end)}
    attendees = [_attendee(p) for p in req.attendees if p.aad_object_id or p.upn]
    if attendees:
        body["participants"] = {"attendees": attendees}
    return json.dumps(body, separators=(",", ":"))


def _after_patch(patched: Meeting, before: Meeting) -> Meeting:
    """The PATCH's answer, still marked as created (or not) and as behind its event."""
    return dataclasses.replace(patched, created=before.created, event_id=before.event_id,
                               invitations=before.invitations)


def _already(meeting: Meeting, name: str, value: Any) -> bool:
    """Does the meeting, as Graph reported it, have this property value already?"""
    if name == "lobbyBypassSettings":
        return bool(value["scope"] == meeting.lobby_scope)
    return bool(_option_fields(meeting.options).get(name) == value)


# MeetingOptions fields -> the onlineMeeting properties they set (*onlineMeeting resource type*).
OPTION_PROPERTIES = {"presenters": "allowedPresenters", "lobby": "lobbyBypassSettings",
                     "record": "recordAutomatically", "chat": "allowMeetingChat"}


def _option_fields(options: MeetingOptions) -> dict[str, Any]:
    """MeetingOptions -> the onlineMeeting properties (*onlineMeeting resource type*)."""
    fields: dict[str, Any] = {}
    if options.presenters is not None:
        fields["allowedPresenters"] = options.presenters.value
    if options.lobby is not None:
        fields["lobbyBypassSettings"] = {"scope": options.lobby.value, "isDialInBypassEnabled": False}
    if options.record is not None:
        fields["recordAutomatically"] = options.record
    if options.chat is not None:
        fields["allowMeetingChat"] = "enabled" if options.chat else "disabled"
    return fields


def _event_zone(name: str) -> tuple[str, tzinfo]:
    if name in GRAPH_IANA_ZONES:
        try:
            return name, ZoneInfo(name)
        except ZoneInfoNotFoundError:  # an alias this machine's tz database lacks
            pass
    return "UTC", UTC


def _zoned(dt: datetime, zone_name: str, tz: tzinfo) -> dict[str, str]:
    """dateTimeTimeZone: the wall clock in that zone, no offset."""
    if dt.utcoffset() is None:
        raise ValueError("meeting times must be timezone-aware")
    return {"dateTime": dt.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": zone_name}


def _attendee(p: Person) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "attendee"}
    if p.aad_object_id:
        out["identity"] = {"user": {"id": p.aad_object_id}}
    if p.upn:
        out["upn"] = p.upn
    return out


# --- reading Graph's answers ---------------------------------------------------------------------
def parse_meeting(body: dict[str, Any], *, created: bool, request_id: str | None) -> Meeting:
    """Meeting from a current v1.0 onlineMeeting or the seed's 2019 body. A missing or null
    audioConferencing is normal (no Audio Conferencing licence)."""
    try:
        join_url = body.get("joinWebUrl") or body.get("joinUrl")
        if not isinstance(body.get("id"), str) or not isinstance(join_url, str):
            raise GraphBadResponse("meeting without id or join link", request_id=request_id)
        ids = body.get("joinMeetingIdSettings") or {}
        participants = body.get("participants") or {}
        organizer = ((participants.get("organizer") or {}).get("identity") or {}).get("user") or {}
        lobby = body.get("lobbyBypassSettings") or {}
        record = body.get("recordAutomatically")
        options = MeetingOptions(presenters=_PRESENTERS.get(str(body.get("allowedPresenters"))),
                                 lobby=_LOBBIES.get(str(lobby.get("scope"))),
                                 record=record if isinstance(record, bool) else None,
                                 chat=_CHAT.get(str(body.get("allowMeetingChat"))))
        return Meeting(
            id=body["id"], join_url=join_url, subject=body.get("subject") or "",
            start=_time(body["startDateTime"]), end=_time(body["endDateTime"]),
            meeting_code=ids.get("joinMeetingId"), passcode=ids.get("passcode"),
            audio=_audio(body.get("audioConferencing")), organizer_id=organizer.get("id"),
            external_id=body.get("externalId"),
            attendees=tuple(_person(a) for a in participants.get("attendees") or ()),
            lobby_scope=lobby.get("scope"), created=created, request_id=request_id,
            options=options)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, GraphBadResponse):
            raise
        raise GraphBadResponse(f"unreadable meeting: {type(exc).__name__}: {exc}",
                               request_id=request_id) from None


_PRESENTERS = {p.value: p for p in Presenters}
_LOBBIES = {lobby.value: lobby for lobby in Lobby}
_CHAT = {"enabled": True, "disabled": False}  # "limited" is neither


def parse_event(body: dict[str, Any], *, request_id: str | None) -> CalendarEvent:
    """CalendarEvent from an event (asked for in UTC with PREFER_UTC)."""
    try:
        if not isinstance(body.get("id"), str):
            raise GraphBadResponse("event without id", request_id=request_id)
        info = body.get("onlineMeeting") or {}
        return CalendarEvent(
            id=body["id"], start=_event_time(body["start"]), end=_event_time(body["end"]),
            join_url=info.get("joinUrl"), conference_id=info.get("conferenceId"),
            toll_number=info.get("tollNumber"), transaction_id=body.get("transactionId"),
            invitations=len(body.get("attendees") or ()), web_link=body.get("webLink"),
            request_id=request_id)
    except (AttributeError, KeyError, TypeError, ValueError, ZoneInfoNotFoundError) as exc:
        if isinstance(exc, GraphBadResponse):
            raise
        raise GraphBadResponse(f"unreadable event: {type(exc).__name__}: {exc}",
                               request_id=request_id) from None


def _event_time(value: dict[str, Any]) -> datetime:
    """dateTimeTimeZone -> aware UTC. UTC unless Graph ignored the Prefer header."""
    zone_name = value["timeZone"]
    tz = UTC if zone_name in ("UTC", "Etc/GMT") else ZoneInfo(zone_name)
    return datetime.fromisoformat(value["dateTime"]).replace(tzinfo=tz).astimezone(UTC)


def attach_event(meeting: Meeting, event: CalendarEvent) -> Meeting:
    """The meeting as the card shows it, marked as behind this calendar event. `created` is
    True: Graph answers a repeated transactionId with 201 too, so a repeat cannot be told."""
    return dataclasses.replace(meeting, event_id=event.id, invitations=event.invitations,
                               created=True, request_id=event.request_id or meeting.request_id)


def _time(value: str) -> datetime:
    dt = datetime.fromisoformat(value)  # 3.11 reads "Z" and Graph's 7 fraction digits
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def _audio(audio: dict[str, Any] | None) -> AudioConferencing | None:
    if not audio:
        return None
    return AudioConferencing(
        conference_id=audio.get("conferenceId") or audio.get("ConferenceId"),  # doc-example typo
        toll_numbers=_numbers(audio.get("tollNumbers"), audio.get("tollNumber")),
        toll_free_numbers=_numbers(audio.get("tollFreeNumbers"), audio.get("tollFreeNumber")),
        dialin_url=audio.get("dialinUrl"))


def _numbers(current: list[str] | None, deprecated: str | None) -> tuple[str, ...]:
    """The arrays are current; the deprecated single value is normally one of them."""
    numbers = tuple(n for n in current or () if n)
    if deprecated and deprecated not in numbers:
        numbers += (deprecated,)
    return numbers


def _person(info: dict[str, Any]) -> Person:
    user = (info.get("identity") or {}).get("user") or {}
    return Person(name=user.get("displayName") or "", aad_object_id=user.get("id"), upn=info.get("upn"))
