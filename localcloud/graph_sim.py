"""A local Microsoft Graph v1.0 `onlineMeetings` service, and the calendar `events` that put a
Teams meeting on a calendar (`localcloud/calendar.py` holds their model).

Behaviour follows the project's Graph contract (shared graph-contract.md, which cites the Graph
docs): createOrGet identity (tenant, user, externalId) with 201/200, defaults for missing times,
PATCH needing both times and answering 200 + the object, DELETE 204, the application access
policy 403, `/me` refused for app tokens, errors in Graph's `{"error": {…, "innerError": …}}`
format and `request-id`/`client-request-id` headers on every answer. Tests (and the benchmark)
reach the state through `app[GRAPH_SIM]`: stored meetings, a log of calls, policies, licences and
scripted faults (throttling, 5xx, delays, garbage bodies, dropped connections — also *after* the
meeting was stored, to prove retries do not duplicate).

Calendar events (*Create event*, *Update event*, *event: cancel*, *event resource type*): create
with `transactionId` (a repeat returns the first event), a Teams meeting behind
`onlineMeetingProvider: teamsForBusiness` that the JoinWebUrl filter finds, PATCH of times that
the meeting follows, cancel (organizer only, 202), invitations recorded in `mail`, copies in the
calendars of attendees the directory knows, and Exchange's 403 ErrorAccessDenied without
`Calendars.ReadWrite`. Meeting options can be refused per organizer (`refuse_option`).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
from aiohttp import web

from localcloud.calendar import (
    ACCESS_DENIED,
    ITEM_NOT_FOUND,
    NOT_ORGANIZER,
    CalEvent,
    MeetingMail,
    attendees_json,
    body_with_meeting_blob,
    event_id,
    event_time,
    ical_uid,
    online_meeting_info,
    web_link,
    zone,
)
from localcloud.issuer import LocalIssuer

UTC = UTC
GRAPH = "https://graph.microsoft.com"
SCHEMA_DIR = Path(__file__).with_name("schemas")
READ_WRITE, READ = "OnlineMeetings.ReadWrite", "OnlineMeetings.Read"
READ_WRITE_ALL, READ_ALL = "OnlineMeetings.ReadWrite.All", "OnlineMeetings.Read.All"
CALENDARS_RW, CALENDARS_R = "Calendars.ReadWrite", "Calendars.Read"  # same names delegated and app
POLICY_MISSING = "No application access policy found for this app"
ME_APP_ONLY = "/me request is only valid with delegated authentication flow."
DEFAULT_LENGTH = timedelta(hours=1)  # createOrGet: end defaults to start + 1 h
EXPIRY = timedelta(days=60)  # expiryDateTime = end + 60 days
TOKEN_LEEWAY = 60  # seconds of clock skew accepted on exp/nbf


# --- times and ids ---------------------------------------------------------------------------
def graph_time(dt: datetime) -> str:
    """UTC with 7 fraction digits, as Graph writes DateTimeOffset values."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _parse_time(value: str) -> datetime:
    dt = datetime.fromisoformat(value)  # 3.11 reads "Z" and 7 fraction digits
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))


def meeting_id(organizer: str, thread_id: str) -> str:
    """Current opaque form: base64 of `1*{organizerOid}*0**{threadId}` (docs/graph-contract.md §3)."""
    return base64.b64encode(f"1*{organizer}*0**{thread_id}".encode()).decode()


def _looks_like_meeting_id(value: str) -> bool:
    if "_19:" in value:  # the seed's old `{oid}_{threadId}` form
        return True
    try:
        return base64.b64decode(value, validate=True).startswith(b"1*")
    except ValueError:
        return False


# --- faults ----------------------------------------------------------------------------------
@dataclass
class Fault:
    """One scripted misbehaviour for the next matching request.

    `status`/`body` replace the answer (a Graph error body unless `body` is given), `delay`
    holds it back, `drop` closes the connection without answering. With `after_commit` the
    request is carried out first (the meeting is stored) and only the answer suffers.
    `method`, `path` (a substring of the path) and `when` narrow which request it hits."""

    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    body: str | None = None
    content_type: str = "text/html"
    drop: bool = False
    after_commit: bool = False
    method: str | None = None
    path: str | None = None
    when: Callable[[web.Request], bool] | None = None

    def matches(self, request: web.Request) -> bool:
        return ((self.method is None or self.method.upper() == request.method)
                and (self.path is None or self.path in request.path)
                and (self.when is None or self.when(request)))


class Faults:
    """A queue of one-shot faults plus an optional seeded random mode."""

    def __init__(self) -> None:
        self._queue: list[Fault] = []
        self._rng: random.Random | None = None
        self._rates: list[tuple[float, Fault]] = []

    def push(self, *faults: Fault) -> None:
        self._queue.extend(faults)

    def randomize(self, seed: int, rates: dict[int | str, float], *, retry_after: float = 0.05,
                  delay: float = 0.2) -> None:
        """Every request draws a fault with the given probabilities. Keys: an HTTP status
        (429 carries `Retry-After: retry_after`), "drop", "drop_after_commit", "delay",
        "delay_after_commit"."""
        self._rng = random.Random(seed)
        made = {"drop": Fault(drop=True), "drop_after_commit": Fault(drop=True, after_commit=True),
                "delay": Fault(delay=delay), "delay_after_commit": Fault(delay=delay, after_commit=True)}
        self._rates = []
        total = 0.0
        for key, rate in rates.items():
            total += rate
            fault = made[key] if isinstance(key, str) else Fault(
                status=key, retry_after=retry_after if key == 429 else None)
            self._rates.append((total, fault))

    def clear(self) -> None:
        self._queue.clear()
        self._rng, self._rates = None, []

    def take(self, request: web.Request) -> Fault | None:
        for i, fault in enumerate(self._queue):
            if fault.matches(request):
                return self._queue.pop(i)
        if self._rng is not None:
            draw = self._rng.random()
            for bound, fault in self._rates:
                if draw < bound:
                    return fault
        return None

    def __len__(self) -> int:
        return len(self._queue)


# --- state -----------------------------------------------------------------------------------
@dataclass
class Call:
    method: str
    path: str
    received: float  # time.monotonic() when the request arrived
    request_id: str
    status: int | None = None  # None: the connection was dropped
    fault: Fault | None = None


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    user_id: str | None  # delegated tokens: oid
    app_id: str | None  # app tokens: azp/appid
    permissions: frozenset[str]
    upn: str | None = None
    name: str | None = None

    @property
    def is_app(self) -> bool:
        return self.user_id is None


@dataclass
class GraphSim:
    """Everything a test may look at or change."""

    issuer: LocalIssuer
    audience: str = GRAPH
    require_policy_for_app_tokens: bool = True
    passcode_required: bool = True  # tenant meeting policy for join-by-ID (createOrGet can't set it)
    latency: float = 0.0  # added to every answer (benchmark)
    meetings: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(dict))  # (tenant, organizer) -> id -> meeting
    deleted: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> meeting (join link kept)
    calls: list[Call] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    policies: set[tuple[str, str, str | None]] = field(default_factory=set)
    unlicensed: set[str] = field(default_factory=set)
    users: dict[str, dict[str, str | None]] = field(default_factory=dict)  # oid -> upn, displayName
    rng: random.Random = field(default_factory=lambda: random.Random(secrets.randbits(64)))
    events: dict[str, CalEvent] = field(default_factory=dict)  # id -> event, every calendar
    cancelled: dict[str, CalEvent] = field(default_factory=dict)  # id -> event (in Deleted Items)
    mail: list[MeetingMail] = field(default_factory=list)  # invitations, updates, cancellations
    refused_options: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _by_id: dict[str, tuple[str, str]] = field(default_factory=dict)
    _by_external: dict[tuple[str, str, str], str] = field(default_factory=dict)
    _by_transaction: dict[tuple[str, str, str], str] = field(default_factory=dict)

    # -- set-up helpers for tests --
    def grant_policy(self, tenant_id: str, app_id: str, user_id: str | None = None) -> None:
        """Grant-CsApplicationAccessPolicy: to one user, or tenant-wide (-Global) when None."""
        self.policies.add((tenant_id, app_id, user_id))

    def set_unlicensed(self, user_id: str) -> None:
        """No Audio Conferencing licence: audioConferencing comes back null."""
        self.unlicensed.add(user_id)

    def set_user(self, user_id: str, *, upn: str | None = None,
                 display_name: str | None = None) -> None:
        """Directory entry for organizers named by an app token's path (no claims to read)."""
        self.users[user_id] = {"upn": upn, "displayName": display_name}

    def refuse_option(self, user_id: str, *properties: str) -> None:
        """This organizer's meeting policy or licence refuses these onlineMeeting properties
        (e.g. `recordAutomatically` without a recording licence): a create or PATCH that sets
        one to anything but its current value answers 403."""
        self.refused_options[user_id].update(properties)

    # -- inspection --
    def events_of(self, tenant_id: str, user_id: str) -> list[CalEvent]:
        return [e for e in self.events.values() if (e.tenant_id, e.owner) == (tenant_id, user_id)]

    def meeting_of(self, event: CalEvent) -> dict[str, Any] | None:
        return self.find(event.meeting_id) if event.meeting_id else None

    def user_by_upn(self, upn: str) -> str | None:
        return next((oid for oid, u in self.users.items() if (u.get("upn") or "").lower() == upn.lower()),
                    None)

    def meetings_of(self, tenant_id: str, user_id: str) -> list[dict[str, Any]]:
        return list(self.meetings.get((tenant_id, user_id), {}).values())

    def find(self, meeting_id: str) -> dict[str, Any] | None:
        key = self._by_id.get(meeting_id)
        return self.meetings[key].get(meeting_id) if key else None

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return sum(1 for c in self.calls if (method is None or c.method == method)
                   and (path is None or path in c.path))

    def has_policy(self, p: Principal, user_id: str) -> bool:
        return ((p.tenant_id, p.app_id, user_id) in self.policies
                or (p.tenant_id, p.app_id, None) in self.policies)

    # -- the store --
    def create(self, tenant_id: str, organizer: str, body: dict[str, Any], *,
               start: datetime, end: datetime, external_id: str | None = None,
               passcode: bool | None = None, principal: Principal | None = None,
               old_id: bool = False) -> dict[str, Any]:
        rng = self.rng
        token = base64.b64encode(rng.randbytes(27)).decode().replace("/", "_").replace("+", "-")
        thread_id = f"19:meeting_{token}@thread.v2"
        mid = f"{organizer}_{thread_id}" if old_id else meeting_id(organizer, thread_id)
        now = datetime.now(UTC)
        context = quote(json.dumps({"Tid": tenant_id, "Oid": organizer}, separators=(",", ":")), safe="")
        join_url = f"https://teams.microsoft.com/l/meetup-join/{quote(thread_id, safe='')}/0?context={context}"
        who = self._who(organizer, principal)
        required = self.passcode_required if passcode is None else passcode
        meeting: dict[str, Any] = {
            "id": mid,
            "creationDateTime": graph_time(now),
            "startDateTime": graph_time(start),
            "endDateTime": graph_time(end),
            "expiryDateTime": graph_time(end + EXPIRY),
            "joinWebUrl": join_url,
            "meetingOptionsWebUrl": f"https://teams.microsoft.com/meetingOptions/?organizerId={organizer}"
                                    f"&tenantId={tenant_id}&threadId={quote(thread_id, safe='')}&messageId=0",
            "subject": body.get("subject"),
            "externalId": external_id,
            "isEntryExitAnnounced": True,
            "allowedPresenters": "everyone",
            "allowMeetingChat": "enabled",
            "allowTeamworkReactions": True,
            "recordAutomatically": False,
            "videoTeleconferenceId": None,
            "lobbyBypassSettings": body.get("lobbyBypassSettings")
            or {"scope": "organization", "isDialInBypassEnabled": False},
            "joinMeetingIdSettings": {
                "isPasscodeRequired": required,
                "joinMeetingId": _digits(rng, rng.randint(12, 14)),
                "passcode": _passcode(rng) if required else None,
            },
            "audioConferencing": None if organizer in self.unlicensed else _audio(rng),
            "chatInfo": {"threadId": thread_id, "messageId": "0", "replyChainMessageId": None},
            "participants": {
                "organizer": {"upn": who.get("upn"), "role": "presenter", "identity": {"user": {
                    "id": organizer, "tenantId": tenant_id, "displayName": who.get("displayName")}}},
                "attendees": _attendees(body, tenant_id),
            },
        }
        for key in _ECHOED:
            if key in body:
                meeting[key] = body[key]
        meeting["joinInformation"] = _join_information(meeting)
        self.meetings[(tenant_id, organizer)][mid] = meeting
        self._by_id[mid] = (tenant_id, organizer)
        if external_id is not None:
            self._by_external[(tenant_id, organizer, external_id)] = mid
        return meeting

    def by_external_id(self, tenant_id: str, organizer: str, external_id: str) -> dict[str, Any] | None:
        mid = self._by_external.get((tenant_id, organizer, external_id))
        return self.meetings[(tenant_id, organizer)].get(mid) if mid else None

    # -- calendar events (the Teams meeting behind one is created by the same store) --
    def by_transaction(self, tenant_id: str, owner: str, transaction_id: str) -> CalEvent | None:
        eid = self._by_transaction.get((tenant_id, owner, transaction_id))
        return self.events.get(eid) if eid else None

    def create_event(self, tenant_id: str, owner: str, body: dict[str, Any], *, start: datetime,
                     end: datetime, principal: Principal | None = None) -> CalEvent:
        """POST …/events. With `onlineMeetingProvider: teamsForBusiness` (or `isOnlineMeeting`
        and the calendar's default provider, Teams) Graph initialises `onlineMeeting`: a Teams
        meeting organised by the owner, found later by its join URL like any other."""
        who = self._who(owner, principal)
        attendees = attendees_json(body.get("attendees"))
        provider = _canon(body.get("onlineMeetingProvider")
                          or ("teamsForBusiness" if body.get("isOnlineMeeting") else "unknown"), _PROVIDERS)
        meeting = None
        if provider == "teamsForBusiness":
            meeting = self.create(tenant_id, owner, {"subject": body.get("subject"), "participants": {
                "attendees": [{"upn": a["emailAddress"]["address"], "role": "attendee",
                               "identity": {"user": {"id": self.user_by_upn(a["emailAddress"]["address"]),
                                                     "displayName": a["emailAddress"]["name"]}}}
                              for a in attendees]}}, start=start, end=end, principal=principal)
        eid, now = event_id(), graph_time(datetime.now(UTC))
        location = (body.get("location") or {}).get("displayName") or ""
        data: dict[str, Any] = {
            "createdDateTime": now, "lastModifiedDateTime": now, "changeKey": secrets.token_urlsafe(12),
            "categories": list(body.get("categories") or ()), "transactionId": body.get("transactionId"),
            "originalStartTimeZone": body["start"]["timeZone"],
            "originalEndTimeZone": body["end"]["timeZone"],
            "iCalUId": ical_uid(), "reminderMinutesBeforeStart": body.get("reminderMinutesBeforeStart", 15),
            "isReminderOn": body.get("isReminderOn", True), "hasAttachments": False,
            "hideAttendees": body.get("hideAttendees", False), "subject": body.get("subject"),
            "importance": _canon(body.get("importance") or "normal", _IMPORTANCE),
            "sensitivity": _canon(body.get("sensitivity") or "normal", _SENSITIVITY),
            "isAllDay": body.get("isAllDay", False), "isCancelled": False, "isDraft": False,
            "isOrganizer": True, "responseRequested": body.get("responseRequested", True),
            "seriesMasterId": None, "showAs": _canon(body.get("showAs") or "busy", _SHOW_AS),
            "type": "singleInstance", "webLink": web_link(eid), "onlineMeetingUrl": None,
            "isOnlineMeeting": meeting is not None or bool(body.get("isOnlineMeeting")),
            "onlineMeetingProvider": provider, "onlineMeeting": online_meeting_info(meeting),
            "allowNewTimeProposals": body.get("allowNewTimeProposals", True),
            "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
            "location": {"displayName": location, "locationType": "default", "uniqueIdType": "unknown"},
            "locations": [{"displayName": location, "locationType": "default"}] if location else [],
            "recurrence": None, "attendees": attendees,
            "organizer": {"emailAddress": {"name": who.get("displayName"), "address": who.get("upn")}},
        }
        _set_body(data, body.get("body"), meeting)
        event = CalEvent(eid, tenant_id, owner, owner, start, end, data,
                         meeting_id=meeting["id"] if meeting else None)
        self.events[eid] = event
        if data["transactionId"]:
            self._by_transaction[(tenant_id, owner, data["transactionId"])] = eid
        self._deliver(event, event.attendee_addresses, "request")
        return event

    def update_event(self, event: CalEvent, body: dict[str, Any], *, start: datetime, end: datetime) -> None:
        """PATCH …/events/{id}: times (the Teams meeting follows), subject, body, attendees, …;
        attendees hear about what concerns them (*Update event*)."""
        data, before = event.data, set(event.attendee_addresses)
        changed = start != event.start or end != event.end or any(
            k in body and body[k] != data.get(k) for k in ("subject", "location", "body"))
        event.start, event.end = start, end
        for key in ("subject", "categories", "hideAttendees", "isAllDay", "isReminderOn",
                    "reminderMinutesBeforeStart", "responseRequested", "allowNewTimeProposals"):
            if key in body:
                data[key] = body[key]
        for key, choices in (("importance", _IMPORTANCE), ("sensitivity", _SENSITIVITY),
                             ("showAs", _SHOW_AS)):
            if key in body:
                data[key] = _canon(body[key], choices)
        for side in ("start", "end"):
            if side in body:
                data[f"original{side.title()}TimeZone"] = body[side]["timeZone"]
        if "location" in body:
            data["location"]["displayName"] = body["location"].get("displayName") or ""
        meeting = self.meeting_of(event)
        if "body" in body:
            _set_body(data, body["body"], meeting)
        if "attendees" in body:
            data["attendees"] = attendees_json(body["attendees"])
        data["lastModifiedDateTime"] = graph_time(datetime.now(UTC))
        data["changeKey"] = secrets.token_urlsafe(12)
        if meeting is not None:
            meeting.update(startDateTime=graph_time(start), endDateTime=graph_time(end),
                           expiryDateTime=graph_time(end + EXPIRY), subject=data["subject"])
        after = set(event.attendee_addresses)
        self._deliver(event, tuple(a for a in event.attendee_addresses if a not in before), "request")
        self._deliver(event, tuple(sorted(before - after)), "cancel")
        if changed:
            self._deliver(event, tuple(a for a in event.attendee_addresses if a in before), "update")

    def cancel_event(self, event: CalEvent, comment: str | None) -> None:
        """event: cancel: the organizer's event goes to Deleted Items, attendees get the
        cancellation with the comment, their copies show as cancelled, the Teams meeting ends."""
        event.data["isCancelled"] = True
        self.cancelled[event.id] = self.events.pop(event.id)
        if event.data.get("transactionId"):
            self._by_transaction.pop((event.tenant_id, event.owner, event.data["transactionId"]), None)
        for copy_id in event.copies:
            if copy_id in self.events:
                self.events[copy_id].data["isCancelled"] = True
        meeting = self.meeting_of(event)
        if meeting is not None:
            self.delete(meeting)
        self._deliver(event, event.attendee_addresses, "cancel", comment)

    def _deliver(self, event: CalEvent, to: tuple[str, ...], kind: str, comment: str | None = None) -> None:
        """Sends the meeting message and keeps the copies in directory users' calendars in step."""
        if not to:
            return
        self.mail.append(MeetingMail(kind, event.data["organizer"]["emailAddress"]["address"], to,
                                     event.id, event.data["subject"], comment))
        for address in to:
            oid = self.user_by_upn(address)
            if oid is None or oid == event.owner:
                continue
            if kind == "request":
                copy = CalEvent(event_id(), event.tenant_id, oid, event.organizer, event.start, event.end,
                                json.loads(json.dumps(event.data)), parent=event.id)
                copy.data.update(isOrganizer=False, transactionId=None, webLink=web_link(copy.id),
                                 responseStatus={"response": "notResponded", "time": "0001-01-01T00:00:00Z"})
                self.events[copy.id] = copy
                event.copies.append(copy.id)
        for copy_id in event.copies:
            copied = self.events.get(copy_id)
            if copied is not None and kind == "update":
                copied.start, copied.end = event.start, event.end
                copied.data.update(subject=event.data["subject"], location=event.data["location"])
            elif copied is not None and kind == "cancel" and (self.users.get(copied.owner, {}).get("upn") or ""
                                                              ).lower() in {a.lower() for a in to}:
                copied.data["isCancelled"] = True

    def _who(self, user_id: str, principal: Principal | None) -> dict[str, str | None]:
        who = self.users.get(user_id, {})
        if principal is not None and principal.user_id == user_id:
            who = {"upn": principal.upn or who.get("upn"),
                   "displayName": principal.name or who.get("displayName")}
        return who

    def delete(self, meeting: dict[str, Any]) -> None:
        key = self._by_id.pop(meeting["id"])
        del self.meetings[key][meeting["id"]]
        if meeting.get("externalId") is not None:
            self._by_external.pop((*key, meeting["externalId"]), None)
        self.deleted[meeting["id"]] = meeting


# Settings a create body may carry that the stored meeting simply echoes.
_ECHOED = ("allowedPresenters", "isEntryExitAnnounced", "allowMeetingChat", "allowAttendeeToEnableCamera",
           "allowAttendeeToEnableMic", "allowBreakoutRooms", "allowCopyingAndSharingMeetingContent",
           "allowedLobbyAdmitters", "allowLiveShare", "allowParticipantsToChangeName",
           "allowPowerPointSharing", "allowRecording", "allowTeamworkReactions", "allowTranscription",
           "allowWhiteboard", "chatRestrictions", "isEndToEndEncryptionEnabled",
           "meetingSpokenLanguageTag", "meetingTemplateId", "recordAutomatically",
           "sensitivityLabelAssignment", "shareMeetingChatHistoryDefault", "watermarkProtection",
           "isBroadcast", "broadcastSettings")


_PROVIDERS = ("unknown", "teamsForBusiness", "skypeForBusiness", "skypeForConsumer")
_IMPORTANCE = ("low", "normal", "high")
_SENSITIVITY = ("normal", "personal", "private", "confidential")
_SHOW_AS = ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown")
# What a new onlineMeeting has; a refused option may still be "set" to these.
_OPTION_DEFAULTS = {"allowedPresenters": "everyone", "allowMeetingChat": "enabled",
                    "recordAutomatically": False}


def _canon(value: str, choices: tuple[str, ...]) -> str:
    """Graph reads enum strings case-insensitively and answers in its own spelling."""
    return next((c for c in choices if c.lower() == str(value).lower()), str(value))


def _set_body(data: dict[str, Any], body: dict[str, Any] | None, meeting: dict[str, Any] | None) -> None:
    data["body"] = body_with_meeting_blob(body, meeting)
    text = (body or {}).get("content") or ""
    while "<" in text and ">" in text.split("<", 1)[1]:  # a plain-text preview
        head, rest = text.split("<", 1)
        text = head + rest.split(">", 1)[1]
    data["bodyPreview"] = " ".join(text.split())[:255]


def _passcode(rng: random.Random) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return "".join(rng.choice(alphabet) for _ in range(6))


def _audio(rng: random.Random) -> dict[str, Any]:
    conference_id = _digits(rng, 9)
    toll = [f"+1 425-555-{rng.randint(100, 199):04d}", f"+44 20 7946 {rng.randint(0, 999):04d}"]
    toll_free = [f"+1 866-555-{rng.randint(100, 199):04d}"]
    return {"conferenceId": conference_id, "tollNumber": toll[0], "tollFreeNumber": toll_free[0],
            "tollNumbers": toll, "tollFreeNumbers": toll_free,
            "dialinUrl": f"https://dialin.teams.microsoft.com/{uuid.uuid4()}?id={conference_id}"}


def _attendees(body: dict[str, Any], tenant_id: str) -> list[dict[str, Any]]:
    out = []
    for a in (body.get("participants") or {}).get("attendees") or []:
        user = dict(((a.get("identity") or {}).get("user")) or {})
        user.setdefault("tenantId", tenant_id)
        user.setdefault("displayName", None)
        out.append({"upn": a.get("upn"), "role": a.get("role"), "identity": {"user": user}})
    return out


def _join_information(m: dict[str, Any]) -> dict[str, str]:
    """The HTML invitation, URL-encoded as Graph sends it, with the one-tap `tel:` form."""
    lines = [f'<a href="{m["joinWebUrl"]}">Join the meeting now</a>']
    ids = m["joinMeetingIdSettings"]
    lines.append(f"Meeting ID: {ids['joinMeetingId']}")
    if ids["passcode"]:
        lines.append(f"Passcode: {ids['passcode']}")
    audio = m["audioConferencing"]
    if audio:
        for number in audio["tollNumbers"]:
            tel = "".join(ch for ch in number if ch.isdigit() or ch == "+")
            lines.append(f'<a href="tel:{tel},,{audio["conferenceId"]}#">{number},,{audio["conferenceId"]}#</a>')
        lines.append(f"Phone conference ID: {audio['conferenceId']}#")
    return {"content": "data:text/html," + quote("<br>".join(lines)), "contentType": "html"}


def old_shape(m: dict[str, Any]) -> dict[str, Any]:
    """The seed page's 2019 body: joinUrl, ConferenceId, singular numbers, legacy flags."""
    audio = m["audioConferencing"]
    return {
        "id": m["id"], "joinUrl": m["joinWebUrl"], "subject": m["subject"],
        "accessLevel": "everyone", "autoAdmittedUsers": "everyone", "isBroadcast": False,
        "creationDateTime": m["creationDateTime"], "startDateTime": m["startDateTime"],
        "endDateTime": m["endDateTime"], "expirationDateTime": m["expiryDateTime"],
        "entryExitAnnouncement": True, "isCanceled": False, "canceledDateTime": None,
        "chatInfo": m["chatInfo"], "participants": m["participants"],
        "audioConferencing": audio and {"tollNumber": audio["tollNumber"],
                                        "tollFreeNumber": audio["tollFreeNumber"],
                                        "ConferenceId": audio["conferenceId"],
                                        "dialinUrl": audio["dialinUrl"]},
    }


# --- errors ----------------------------------------------------------------------------------
class GraphProblem(Exception):
    """Raised by handlers; the middleware renders it in Graph's error format."""

    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str, request_id: str, client_request_id: str,
                   *, retry_after: float | None = None) -> web.Response:
    inner: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                             "request-id": request_id, "client-request-id": client_request_id}
    headers = {}
    if status == 429:  # shape of the throttling doc's sample body
        inner.update({"code": "429", "status": "429", "message": "Please retry after"})
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="", error="invalid_token"'
    body = {"error": {"code": code, "message": message, "innerError": inner}}
    return web.json_response(body, status=status, headers=headers)


_FAULT_CODES = {429: ("TooManyRequests", "Please retry again later."),
                500: ("generalException", "General exception while processing."),
                502: ("BadGateway", "Bad gateway."),
                503: ("serviceNotAvailable", "The service is temporarily unavailable."),
                504: ("GatewayTimeout", "The gateway timed out.")}


# --- app ---------------------------------------------------------------------------------------
GRAPH_SIM = web.AppKey("graph_sim", GraphSim)
PRINCIPAL = web.RequestKey("graph_principal", Principal)


def create_graph_app(issuer: LocalIssuer, *, audience: str = GRAPH,
                     require_policy_for_app_tokens: bool = True,
                     validate_schemas: bool = True) -> web.Application:
    sim = GraphSim(issuer, audience=audience, require_policy_for_app_tokens=require_policy_for_app_tokens)
    handlers = _Handlers(sim, _load_validators() if validate_schemas else None)
    app = web.Application(middlewares=[handlers.middleware])
    app[GRAPH_SIM] = sim
    for prefix in ("/v1.0/me", "/v1.0/users/{user_id}"):
        app.router.add_post(prefix + "/onlineMeetings", handlers.create)
        app.router.add_post(prefix + "/onlineMeetings/createOrGet", handlers.create_or_get)
        app.router.add_get(prefix + "/onlineMeetings", handlers.list_filtered)
        app.router.add_get(prefix + "/onlineMeetings/{meeting_id}", handlers.get)
        app.router.add_patch(prefix + "/onlineMeetings/{meeting_id}", handlers.patch)
        app.router.add_delete(prefix + "/onlineMeetings/{meeting_id}", handlers.delete)
        for events in (prefix + "/events", prefix + "/calendar/events"):  # the default calendar
            app.router.add_post(events, handlers.create_event)
            app.router.add_get(events + "/{event_id}", handlers.get_event)
            app.router.add_patch(events + "/{event_id}", handlers.patch_event)
            app.router.add_post(events + "/{event_id}/cancel", handlers.cancel_event)
    for old in ("/v1.0/communications/onlineMeetings", "/v1.0/app/onlineMeetings"):
        app.router.add_post(old, handlers.create_old)
    return app


def _load_validators() -> dict[str, Any]:
    from jsonschema import Draft202012Validator  # only needed when bodies are checked

    names = {"create": "graph-create-request", "createOrGet": "graph-createOrGet-request",
             "patch": "graph-patch-request", "eventCreate": "graph-event-create-request",
             "eventPatch": "graph-event-patch-request", "eventCancel": "graph-event-cancel-request"}
    return {k: Draft202012Validator(json.loads((SCHEMA_DIR / f"{v}.schema.json").read_text()))
            for k, v in names.items()}


class _Handlers:
    def __init__(self, sim: GraphSim, validators: dict[str, Any] | None) -> None:
        self.sim = sim
        self.validators = validators
        self._verified: dict[str, dict[str, Any]] = {}

    # -- cross-cutting: call log, latency, faults, auth, error format, ids --
    @web.middleware
    async def middleware(self, request: web.Request, handler) -> web.StreamResponse:
        sim = self.sim
        rid = str(uuid.uuid4())
        crid = request.headers.get("client-request-id") or str(uuid.uuid4())
        call = Call(request.method, request.path, time.monotonic(), rid)
        sim.calls.append(call)
        fault = call.fault = sim.faults.take(request)
        if sim.latency:
            await asyncio.sleep(sim.latency)
        if fault is not None and not fault.after_commit:
            early = await self._apply(fault, request, rid, crid)
            if early is not None or fault.drop:
                return self._finish(call, early, rid, crid)
        try:
            request[PRINCIPAL] = self._authenticate(request)
            response = await handler(request)
        except GraphProblem as p:
            response = error_response(p.status, p.code, p.message, rid, crid)
        if fault is not None and fault.after_commit:
            replaced = await self._apply(fault, request, rid, crid)
            response = None if fault.drop else (response if replaced is None else replaced)
        return self._finish(call, response, rid, crid)

    @staticmethod
    def _finish(call: Call, response: web.StreamResponse | None, rid: str, crid: str) -> web.StreamResponse:
        if response is None:  # dropped: aiohttp writes nothing to a closed transport
            return web.Response()
        call.status = response.status
        response.headers["request-id"] = rid
        response.headers["client-request-id"] = crid
        return response

    @staticmethod
    async def _apply(fault: Fault, request: web.Request, rid: str, crid: str) -> web.Response | None:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.drop:
            if request.transport is not None:
                request.transport.close()
            return None
        if fault.body is not None:
            return web.Response(status=fault.status or 200, text=fault.body, content_type=fault.content_type)
        if fault.status is not None:
            code, message = _FAULT_CODES.get(fault.status, ("generalException", ""))
            return error_response(fault.status, code, message, rid, crid, retry_after=fault.retry_after)
        return None

    def _verify(self, token: str) -> dict[str, Any]:
        """RS256 verification is most of a request's cost, and clients resend the same token:
        remember good tokens until they expire (keys are never withdrawn, so no other check
        can change its mind)."""
        claims = self._verified.get(token)
        if claims is not None and time.time() < claims.get("exp", 0) + TOKEN_LEEWAY:
            return claims
        claims = self.sim.issuer.verify(token, audience=self.sim.audience, leeway=TOKEN_LEEWAY)
        if len(self._verified) >= 4096:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _authenticate(self, request: web.Request) -> Principal:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise GraphProblem(401, "InvalidAuthenticationToken", "Access token is empty.")
        try:
            claims = self._verify(token)
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            raise GraphProblem(401, "InvalidAuthenticationToken",
                               "Access token has expired or is not yet valid.") from None
        except jwt.DecodeError:
            raise GraphProblem(401, "InvalidAuthenticationToken",
                               "CompactToken parsing failed with error code: 80049217") from None
        except jwt.InvalidTokenError:
            raise GraphProblem(401, "InvalidAuthenticationToken", "Access token validation failure.") from None
        tenant = claims.get("tid")
        if not tenant:
            raise GraphProblem(401, "InvalidAuthenticationToken", "Access token validation failure.")
        if "scp" in claims:
            if not claims.get("oid"):
                raise GraphProblem(401, "InvalidAuthenticationToken", "Access token validation failure.")
            return Principal(tenant, claims["oid"], None, frozenset(str(claims["scp"]).split()),
                             claims.get("upn") or claims.get("preferred_username"), claims.get("name"))
        return Principal(tenant, None, claims.get("azp") or claims.get("appid"),
                         frozenset(claims.get("roles") or ()))

    # -- who is asking for whom --
    def _organizer(self, request: web.Request, *, write: bool) -> tuple[Principal, str]:
        """Checks permissions and the path user; returns the caller and the user the path names."""
        p: Principal = request[PRINCIPAL]
        path_user = request.match_info.get("user_id")
        if p.is_app:
            if path_user is None:
                raise GraphProblem(400, "BadRequest", ME_APP_ONLY)
            self._require(p, {READ_WRITE_ALL} if write else {READ_WRITE_ALL, READ_ALL}, "role")
            return p, self._app_user(p, path_user)
        self._require(p, {READ_WRITE} if write else {READ_WRITE, READ}, "scope")
        if path_user not in (None, p.user_id):
            raise GraphProblem(403, "Forbidden", "")  # delegated: only for yourself (empty message, I14)
        assert p.user_id is not None  # a delegated token names its user
        return p, p.user_id

    def _app_user(self, p: Principal, user_id: str) -> str:
        if "@" in user_id:  # a UPN, not an object id (docs/graph-contract.md §1)
            raise GraphProblem(404, "NotFound", f"User {user_id} not found.")
        if self.sim.require_policy_for_app_tokens and not self.sim.has_policy(p, user_id):
            raise GraphProblem(403, "Forbidden", POLICY_MISSING)
        return user_id

    @staticmethod
    def _require(p: Principal, accepted: set[str], kind: str) -> None:
        if not p.permissions & accepted:
            raise GraphProblem(403, "Forbidden", f"Missing {kind} permissions on the request. API requires "
                               f"one of '{', '.join(sorted(accepted))}'.")

    def _meeting(self, request: web.Request, *, write: bool) -> tuple[str, dict[str, Any]]:
        p, user = self._organizer(request, write=write)
        mid = request.match_info["meeting_id"]
        if not _looks_like_meeting_id(mid):
            raise GraphProblem(400, "BadRequest", f"Invalid meeting id {mid}.")
        meeting = self.sim.find(mid)
        if meeting is None or not _visible(meeting, p.tenant_id, user, write=write):
            raise GraphProblem(404, "NotFound", "The specified meeting was not found.")
        return user, meeting

    # -- bodies --
    async def _body(self, request: web.Request, schema: str) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise GraphProblem(400, "BadRequest", "Unable to read JSON request payload.") from None
        if not isinstance(body, dict):
            raise GraphProblem(400, "BadRequest", "The request body must be a JSON object.")
        if schema == "create" and "externalId" in body:  # docs/graph-contract.md §2 / I3: only createOrGet takes it
            raise GraphProblem(400, "BadRequest", "externalId is not supported on create; use createOrGet.")
        if self.validators is not None:
            error = next(iter(sorted(self.validators[schema].iter_errors(body), key=str)), None)
            if error is not None:
                where = "/".join(str(x) for x in error.absolute_path)
                raise GraphProblem(400, "BadRequest", f"{where or 'body'}: {error.message}")
        return body

    @staticmethod
    def _times(body: dict[str, Any]) -> tuple[datetime, datetime]:
        """createOrGet defaults (docs/graph-contract.md §4): none -> now..+1h, start only -> +1h."""
        start_s, end_s = body.get("startDateTime"), body.get("endDateTime")
        if end_s and not start_s:
            raise GraphProblem(400, "BadRequest", "startDateTime is required when endDateTime is given.")
        try:
            start = _parse_time(start_s) if start_s else datetime.now(UTC)
            end = _parse_time(end_s) if end_s else start + DEFAULT_LENGTH
        except (TypeError, ValueError):
            raise GraphProblem(400, "BadRequest", "Invalid date time value.") from None
        if end < start:
            raise GraphProblem(400, "BadRequest", "endDateTime must not be earlier than startDateTime.")
        return start, end

    @staticmethod
    def _answer(meeting: dict[str, Any], user: str, status: int = 200) -> web.Response:
        body = {"@odata.context": f"{GRAPH}/v1.0/$metadata#users('{user}')/onlineMeetings/$entity", **meeting}
        return web.json_response(body, status=status)

    # -- routes --
    async def create(self, request: web.Request) -> web.Response:
        p, user = self._organizer(request, write=True)
        body = await self._body(request, "create")
        start, end = self._times(body)
        self._check_options(user, body, _OPTION_DEFAULTS)
        passcode = (body.get("joinMeetingIdSettings") or {}).get("isPasscodeRequired")
        meeting = self.sim.create(p.tenant_id, user, body, start=start, end=end,
                                  passcode=bool(passcode), principal=p)
        return self._answer(meeting, user, 201)

    async def create_or_get(self, request: web.Request) -> web.Response:
        p, user = self._organizer(request, write=True)
        body = await self._body(request, "createOrGet")
        external_id = body.get("externalId")
        if not isinstance(external_id, str) or not external_id:
            raise GraphProblem(400, "BadRequest", "externalId is required.")
        existing = self.sim.by_external_id(p.tenant_id, user, external_id)
        if existing is not None:  # stored values win; the body's times/subject are ignored
            return self._answer(existing, user, 200)
        start, end = self._times(body)
        meeting = self.sim.create(p.tenant_id, user, body, start=start, end=end,
                                  external_id=external_id, principal=p)
        return self._answer(meeting, user, 201)

    async def create_old(self, request: web.Request) -> web.Response:
        """The seed's app-token paths: organizer in the body, 2019 response shape."""
        p: Principal = request[PRINCIPAL]
        if not p.is_app:
            raise GraphProblem(403, "Forbidden", "This path needs an application token.")
        self._require(p, {READ_WRITE_ALL}, "role")
        body = await self._body(request, "create")
        organizer = ((((body.get("participants") or {}).get("organizer") or {})
                      .get("identity") or {}).get("user") or {}).get("id")
        if not organizer:
            raise GraphProblem(400, "BadRequest", "participants.organizer.identity.user.id is required.")
        start, end = self._times(body)
        meeting = self.sim.create(p.tenant_id, organizer, body, start=start, end=end,
                                  passcode=False, old_id=True)
        return web.json_response(old_shape(meeting), status=201)

    async def list_filtered(self, request: web.Request) -> web.Response:
        p, user = self._organizer(request, write=False)
        field_, value = _parse_filter(request.query.get("$filter", ""))
        found = [m for key, ms in self.sim.meetings.items() if key[0] == p.tenant_id for m in ms.values()
                 if _visible(m, p.tenant_id, user, write=False) and _field(m, field_) == value]
        return web.json_response({"@odata.context": f"{GRAPH}/v1.0/$metadata#users('{user}')/onlineMeetings",
                                  "value": found})

    async def get(self, request: web.Request) -> web.Response:
        user, meeting = self._meeting(request, write=False)
        return self._answer(meeting, user)

    async def patch(self, request: web.Request) -> web.Response:
        user, meeting = self._meeting(request, write=True)
        body = await self._body(request, "patch")
        if ("startDateTime" in body) != ("endDateTime" in body):
            raise GraphProblem(400, "BadRequest", "startDateTime and endDateTime must be updated together.")
        if "joinMeetingIdSettings" in body:
            raise GraphProblem(400, "BadRequest", "joinMeetingIdSettings cannot be changed after creation.")
        self._check_options(meeting["participants"]["organizer"]["identity"]["user"]["id"], body, meeting)
        if "startDateTime" in body:
            start, end = self._times(body)
            meeting.update(startDateTime=graph_time(start), endDateTime=graph_time(end),
                           expiryDateTime=graph_time(end + EXPIRY))
        if "participants" in body:  # the full attendee list replaces the old one
            meeting["participants"]["attendees"] = _attendees(body, meeting["participants"]["organizer"]
                                                             ["identity"]["user"]["tenantId"])
        for key in ("subject", "lobbyBypassSettings", *_ECHOED):
            if key in body:
                meeting[key] = body[key]
        return self._answer(meeting, user)

    async def delete(self, request: web.Request) -> web.Response:
        _, meeting = self._meeting(request, write=True)
        self.sim.delete(meeting)
        return web.Response(status=204)

    def _check_options(self, organizer: str, body: dict[str, Any], current: dict[str, Any]) -> None:
        """The scripted policy/licence refusal (GraphSim.refuse_option). Graph's pages document
        no error body for this; a 403 like its other policy refusals is the assumption."""
        for name in sorted(self.sim.refused_options.get(organizer, ())):
            if name in body and body[name] is not None and body[name] != current.get(name):
                raise GraphProblem(403, "Forbidden", f"The organizer's meeting policy does not allow "
                                   f"changing {name}.")

    # -- calendar events --
    def _calendar_owner(self, request: web.Request, *, write: bool) -> tuple[Principal, str]:
        """Calendars.ReadWrite (delegated: your own calendar; application: anyone's, by object
        id or UPN). Exchange answers a missing permission with 403 ErrorAccessDenied."""
        p: Principal = request[PRINCIPAL]
        path_user = request.match_info.get("user_id")
        accepted = {CALENDARS_RW} if write else {CALENDARS_RW, CALENDARS_R}
        if p.is_app and path_user is None:
            raise GraphProblem(400, "BadRequest", ME_APP_ONLY)
        if not p.permissions & accepted:
            raise GraphProblem(403, "ErrorAccessDenied", ACCESS_DENIED)
        if p.is_app:
            assert path_user is not None  # app tokens were refused /me above
            if "@" not in path_user:
                return p, path_user
            owner = self.sim.user_by_upn(path_user)
            if owner is None:
                raise GraphProblem(404, "ErrorInvalidUser", f"The requested user '{path_user}' is invalid.")
            return p, owner
        if path_user not in (None, p.user_id) and (path_user or "").lower() != (p.upn or "").lower():
            raise GraphProblem(403, "ErrorAccessDenied", ACCESS_DENIED)
        assert p.user_id is not None
        return p, p.user_id

    def _event(self, request: web.Request, *, write: bool) -> tuple[str, CalEvent]:
        p, owner = self._calendar_owner(request, write=write)
        event = self.sim.events.get(request.match_info["event_id"])
        if event is None or (event.tenant_id, event.owner) != (p.tenant_id, owner):
            raise GraphProblem(404, "ErrorItemNotFound", ITEM_NOT_FOUND)
        return owner, event

    @staticmethod
    def _event_times(body: dict[str, Any], event: CalEvent | None = None) -> tuple[datetime, datetime]:
        """dateTimeTimeZone: wall clock in a zone Graph knows; end not before start."""
        times = []
        for side in ("start", "end"):
            value = body.get(side)
            if value is None and event is not None:  # PATCH may move one side only
                times.append(getattr(event, side))
                continue
            if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
                raise GraphProblem(400, "BadRequest", f"{side}: a dateTimeTimeZone is required.")
            tz = zone(str(value.get("timeZone")))
            if tz is None:
                raise GraphProblem(400, "TimeZoneNotSupportedException", "A valid TimeZone value must be "
                                   f"specified. The following TimeZone value is not supported: "
                                   f"'{value.get('timeZone')}'.")
            try:
                times.append(datetime.fromisoformat(value["dateTime"]).replace(tzinfo=tz))
            except ValueError:
                raise GraphProblem(400, "BadRequest", f"{side}: cannot read '{value['dateTime']}'.") from None
        if times[1] < times[0]:
            raise GraphProblem(400, "ErrorInvalidRequest", "The end of the event is before its start.")
        return times[0], times[1]

    @staticmethod
    def _event_answer(request: web.Request, event: CalEvent, owner: str, status: int = 200) -> web.Response:
        """Times in UTC unless `Prefer: outlook.timezone="…"` names a zone (*Create event*)."""
        zone_name = "UTC"
        for pref in request.headers.getall("Prefer", ()):
            for part in pref.split(","):
                key, _, value = part.strip().partition("=")
                if key.lower() == "outlook.timezone" and zone(value.strip('"')) is not None:
                    zone_name = value.strip('"')
        tz = zone(zone_name)
        assert tz is not None  # the zone was checked when the event was stored or above
        body = {"@odata.context": f"{GRAPH}/v1.0/$metadata#users('{owner}')/events/$entity",
                "@odata.etag": f'W/"{event.data["changeKey"]}"', "id": event.id, **event.data,
                "start": event_time(event.start, zone_name, tz), "end": event_time(event.end, zone_name, tz)}
        return web.json_response(body, status=status)

    async def create_event(self, request: web.Request) -> web.Response:
        p, owner = self._calendar_owner(request, write=True)
        body = await self._body(request, "eventCreate")
        # transactionId (*event resource type*): "for the server to avoid redundant POST
        # operations in case of client retries". The page names no status for the repeat; a
        # repeated POST is reported to answer 201 again without creating anything, with the event.
        transaction_id = body.get("transactionId")
        existing = self.sim.by_transaction(p.tenant_id, owner, transaction_id) if transaction_id else None
        if existing is not None:
            return self._event_answer(request, existing, owner, 201)
        start, end = self._event_times(body)
        event = self.sim.create_event(p.tenant_id, owner, body, start=start, end=end, principal=p)
        return self._event_answer(request, event, owner, 201)

    async def get_event(self, request: web.Request) -> web.Response:
        owner, event = self._event(request, write=False)
        return self._event_answer(request, event, owner)

    async def patch_event(self, request: web.Request) -> web.Response:
        owner, event = self._event(request, write=True)
        body = await self._body(request, "eventPatch")
        start, end = self._event_times(body, event)
        self.sim.update_event(event, body, start=start, end=end)
        return self._event_answer(request, event, owner)

    async def cancel_event(self, request: web.Request) -> web.Response:
        """event: cancel: organizer only (an attendee gets 400 with the page's message; the
        page gives no error code), 202 and no body."""
        _, event = self._event(request, write=True)
        body = await self._body(request, "eventCancel")
        if event.parent is not None:
            raise GraphProblem(400, "ErrorInvalidRequest", NOT_ORGANIZER)
        self.sim.cancel_event(event, body.get("comment") or body.get("Comment"))
        return web.Response(status=202)


def _visible(meeting: dict[str, Any], tenant_id: str, user: str, *, write: bool) -> bool:
    """Organizers may do anything; invited attendees may read (docs/graph-contract.md §5)."""
    organizer = meeting["participants"]["organizer"]["identity"]["user"]
    if organizer["tenantId"] != tenant_id:
        return False
    if organizer["id"] == user:
        return True
    return not write and any(a["identity"]["user"].get("id") == user
                             for a in meeting["participants"]["attendees"])


_FILTERS = {"joinweburl": ("joinWebUrl",), "joinmeetingidsettings/joinmeetingid":
            ("joinMeetingIdSettings", "joinMeetingId")}


def _parse_filter(expr: str) -> tuple[tuple[str, ...], str]:
    name, op, value = (expr.split(" ", 2) + ["", ""])[:3]
    path = _FILTERS.get(name.lower())
    if op.lower() != "eq" or path is None or len(value) < 2 or value[0] != "'" or value[-1] != "'":
        raise GraphProblem(400, "InvalidArgument",
                           "Filter expression expected - /onlineMeetings?$filter={ParameterName} eq '{id}'.")
    return path, value[1:-1].replace("''", "'")


def _field(meeting: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = meeting
    for key in path:
        value = (value or {}).get(key)
    return value


# --- stand-alone -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Microsoft Graph onlineMeetings simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8301)
    parser.add_argument("--no-policy", action="store_true",
                        help="accept app tokens without an application access policy")
    parser.add_argument("--print-tokens", action="store_true",
                        help="print a delegated and an app token for manual calls (local keys only)")
    args = parser.parse_args(argv)
    issuer = LocalIssuer()
    app = create_graph_app(issuer, require_policy_for_app_tokens=not args.no_policy)
    print(f"Graph simulator on http://{args.host}:{args.port}/v1.0 — accepts RS256 bearer tokens signed "
          f"by this process's local issuer (kid {issuer.current_kid}) with aud={GRAPH}: delegated tokens "
          f"need tid, oid and scp containing {READ_WRITE}; app tokens need tid, azp/appid and roles "
          f"containing {READ_WRITE_ALL} plus an access policy (none granted; see --no-policy).")
    if args.print_tokens:
        tid, oid, app_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        print("delegated:", issuer.issue({"aud": GRAPH, "tid": tid, "oid": oid, "scp": READ_WRITE}))
        print(f"app (use /users/{oid}):", issuer.issue({"aud": GRAPH, "tid": tid, "azp": app_id,
                                                        "roles": [READ_WRITE_ALL]}))
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
