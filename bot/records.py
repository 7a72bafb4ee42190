"""What MeetBot keeps between turns, on the state store (memory, or Redis shared by instances).

Besides a validated channel token, these records are the only facts MeetBot trusts. A card
button carries nothing but an opaque reference to one of them; the meeting, its organizer,
tenant and conversation, and the messages that show its card, are read from here.

- deliveries: a lease on an activity's work, made final once its answer was posted, so a
  redelivered activity is answered once even when the first instance died half-way;
- sign-in: the command waiting while its user signs in, and token exchanges already done;
- meeting records: what a meeting card shows and who may act on it;
- form cards and "Try again" requests MeetBot posted, so their buttons act only on those;
- tenants (app-only: users) whose Calendars.ReadWrite was refused lately, so a refusal costs
  one round trip, not one per command.

Values under the sealed prefixes (bot.state.SEALED_PREFIXES) are encrypted at rest when
STATE_ENCRYPTION_KEY is set. Nothing here imports botbuilder.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import StorageUnavailable
from .models import (
    AttendeeScope,
    AudioConferencing,
    Caller,
    Lobby,
    Meeting,
    MeetingOptions,
    MeetingRequest,
    Person,
    Presenters,
)
from .state import KeyValueStore, store_lock, unique_token

log = logging.getLogger(__name__)

UTC = UTC
# A finished activity stays known this long: Teams redelivers an unanswered turn after ~15 s
# and MeetBot answers within ACK_AFTER, so redeliveries come within a minute or two.
DELIVERY_TTL = 120
# A lease is renewed every LEASE_TTL / 3 while its instance works; a dead instance's lease
# runs out within LEASE_TTL, and the next delivery does the work again.
LEASE_TTL = 6.0
PENDING_TTL = 15 * 60
EXCHANGE_TTL = 10 * 60
WELCOME_TTL = 24 * 3600
FORM_TTL = 30 * 24 * 3600
RETRY_TTL = 24 * 3600
# A tenant without Calendars.ReadWrite is asked again after this long: an admin who grants it
# sees invitations within the hour, and meanwhile commands cost no Entra or Graph round trip.
NO_CALENDAR_TTL = 3600
# A record lives until a week after its meeting ends (at least a day): long enough for every
# refresh and late click, bounded by how far ahead the grammar lets a meeting start.
RECORD_AFTER_END = timedelta(days=7)
RECORD_MIN_TTL = 24 * 3600
MAX_CARD_IDS = 16  # messages showing one meeting's card in one conversation
_REF = re.compile(r"^[A-Za-z0-9_-]{16,32}$")

_DONE = b"done"
_FORM = b"1"  # a form card no meeting was made with yet


def _digest(*parts: str) -> str:
    """Keys from client-supplied ids: fixed size whatever the client sent, no chat content."""
    raw = "\x1f".join(parts).encode()
    return base64.urlsafe_b64encode(hashlib.blake2b(raw, digest_size=12).digest()).decode()


def new_ref() -> str:
    return secrets.token_urlsafe(16)


def is_ref(value: object) -> bool:
    return isinstance(value, str) and _REF.match(value) is not None


# --- meeting records ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MeetingRecord:
    """A meeting MeetBot posted a card for, and where. `card_ids` are the activity ids of the
    messages in `conversation_id` that show its card: the only messages MeetBot updates."""

    ref: str
    meeting: Meeting
    tenant_id: str
    conversation_id: str
    organizer_id: str | None
    time_zone: str | None = None
    card_ids: tuple[str, ...] = ()
    version: int = 0  # +1 on every change: a card drawn from an older version is stale
    date_reading: str | None = None  # how an ambiguous numeric date was read, for the card
    # The Teams locale of the person who asked: the card everyone in the conversation sees
    # speaks their language, also when someone else's click redraws it.
    locale: str | None = None

    def is_seen_from(self, caller: Caller, conversation_id: str) -> bool:
        return (caller.tenant_id.lower() == self.tenant_id.lower()
                and conversation_id == self.conversation_id)

    def is_organizer(self, caller: Caller) -> bool:
        return bool(caller.aad_object_id) and caller.aad_object_id == self.organizer_id


def _stored_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _read_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _meeting_json(m: Meeting) -> dict[str, Any]:
    audio = m.audio
    return {"id": m.id, "joinUrl": m.join_url, "subject": m.subject, "start": _stored_time(m.start),
            "end": _stored_time(m.end), "code": m.meeting_code, "passcode": m.passcode,
            "audio": None if audio is None else {
                "conferenceId": audio.conference_id, "toll": list(audio.toll_numbers),
                "tollFree": list(audio.toll_free_numbers), "dialinUrl": audio.dialin_url},
            "organizerId": m.organizer_id, "externalId": m.external_id,
            "attendees": [[p.name, p.aad_object_id] for p in m.attendees],
            "lobby": m.lobby_scope, "ended": m.ended, "options": _options_json(m.options),
            "eventId": m.event_id, "invitations": m.invitations,
            "refused": list(m.refused_options), "invitationsOff": m.invitations_off,
            "notInvited": m.not_invited}


def _meeting_from(d: dict[str, Any]) -> Meeting:
    audio = d.get("audio")
    return Meeting(
        id=d["id"], join_url=d["joinUrl"], subject=d["subject"], start=_read_time(d["start"]),
        end=_read_time(d["end"]), meeting_code=d.get("code"), passcode=d.get("passcode"),
        audio=None if audio is None else AudioConferencing(
            conference_id=audio.get("conferenceId"), toll_numbers=tuple(audio.get("toll", ())),
            toll_free_numbers=tuple(audio.get("tollFree", ())), dialin_url=audio.get("dialinUrl")),
        organizer_id=d.get("organizerId"), external_id=d.get("externalId"),
        attendees=tuple(Person(name=n, aad_object_id=o) for n, o in d.get("attendees", ())),
        lobby_scope=d.get("lobby"), created=False, ended=bool(d.get("ended")),
        options=_options_from(d.get("options")), event_id=d.get("eventId"),
        invitations=int(d.get("invitations") or 0),
        refused_options=tuple(d.get("refused") or ()),
        invitations_off=bool(d.get("invitationsOff")), not_invited=int(d.get("notInvited") or 0))


def _options_json(o: MeetingOptions) -> dict[str, Any]:
    return {"presenters": o.presenters and o.presenters.value, "lobby": o.lobby and o.lobby.value,
            "record": o.record, "chat": o.chat}


def _options_from(d: dict[str, Any] | None) -> MeetingOptions:
    """Records written before options existed have none."""
    if not d:
        return MeetingOptions()
    return MeetingOptions(presenters=Presenters(d["presenters"]) if d.get("presenters") else None,
                          lobby=Lobby(d["lobby"]) if d.get("lobby") else None,
                          record=d.get("record"), chat=d.get("chat"))


def _record_ttl(meeting: Meeting) -> float:
    until_gone = (meeting.end + RECORD_AFTER_END - datetime.now(UTC)).total_seconds()
    return max(float(RECORD_MIN_TTL), until_gone)


# --- "Try again" -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RetryRecord:
    """A command whose Graph call may or may not have landed. Trying again repeats
    createOrGet with the first try's key, so it returns that meeting if there is one."""

    requester_id: str | None
    tenant_id: str
    conversation_id: str
    activity_key: str
    request: MeetingRequest


def _request_json(r: MeetingRequest) -> dict[str, Any]:
    return {"subject": r.subject, "start": _stored_time(r.start), "end": _stored_time(r.end),
            "startsNow": r.starts_now, "subjectGiven": r.subject_given, "scope": r.scope.value,
            "attendees": [[p.name, p.aad_object_id, p.upn, p.teams_id] for p in r.attendees],
            "options": _options_json(r.options)}


def _request_from(d: dict[str, Any]) -> MeetingRequest:
    return MeetingRequest(
        subject=d["subject"], start=_read_time(d["start"]), end=_read_time(d["end"]),
        starts_now=d["startsNow"], subject_given=d["subjectGiven"],
        scope=AttendeeScope(d["scope"]),
        attendees=tuple(Person(name=n, aad_object_id=o, upn=u, teams_id=t)
                        for n, o, u, t in d["attendees"]),
        options=_options_from(d.get("options")))


# --- the waiting command -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PendingCommand:
    """What the user typed before MeetBot asked them to sign in."""

    text: str
    activity_id: str
    conversation_id: str
    time_zone: str | None
    locale: str | None
    mentions: tuple[tuple[str, str, str | None, str | None, bool], ...] = ()


# --- deliveries ----------------------------------------------------------------------------------
@dataclass(eq=False)
class Delivery:
    """This instance's claim on one activity's work. `finish()` once the answer was posted;
    `release()` when the work failed so that Teams (or the user) may try again."""

    store: KeyValueStore | None
    key: str = ""
    token: bytes = b""
    lease_ttl: float = LEASE_TTL
    _keeper: asyncio.Task[None] | None = field(default=None, repr=False)

    def keep_alive(self) -> None:
        if self.store is not None and self._keeper is None:
            self._keeper = asyncio.ensure_future(self._renew())

    async def _renew(self) -> None:
        assert self.store is not None
        while True:
            await asyncio.sleep(self.lease_ttl / 3)
            try:
                if not await self.store.compare_and_set(self.key, self.token, self.token,
                                                        ttl=self.lease_ttl):
                    return
            except StorageUnavailable as err:
                log.warning("state store unreachable, delivery lease not renewed: %s", err)

    def _stop(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            self._keeper = None

    async def finish(self) -> None:
        self._stop()
        if self.store is None:
            return
        try:
            await self.store.compare_and_set(self.key, self.token, _DONE, ttl=DELIVERY_TTL)
        except StorageUnavailable as err:
            log.warning("state store unreachable, delivery not marked done: %s", err)

    async def release(self) -> None:
        self._stop()
        if self.store is None:
            return
        try:
            await self.store.compare_and_delete(self.key, self.token)
        except StorageUnavailable as err:
            log.warning("state store unreachable, delivery lease runs out by itself: %s", err)


class Records:
    def __init__(self, store: KeyValueStore, *, lease_ttl: float = LEASE_TTL) -> None:
        self.store = store
        self.lease_ttl = lease_ttl

    # --- deliveries ------------------------------------------------------------------------
    async def claim(self, channel_id: str, conversation_id: str,
                    activity_id: str) -> Delivery | None:
        """The work for this activity, or None when it was answered already or another
        instance is alive and working on it. A lease found held is watched for up to its TTL:
        if its holder died, the lease runs out and this delivery does the work again.

        With the store unreachable at the first attempt the activity is handled anyway:
        createOrGet is keyed on the activity, so at worst a second card shows the same meeting,
        where refusing would fail every command until the store is back. Once the store said
        another delivery holds the lease, an outage while watching it means "theirs": the
        holder answers."""
        if not activity_id:
            return Delivery(None)
        key = "seen:" + _digest(channel_id, conversation_id, activity_id)
        token = b"lease:" + unique_token()
        try:
            if await self.store.set_if_absent(key, token, ttl=self.lease_ttl):
                return self._leased(key, token)
        except StorageUnavailable as err:
            log.warning("state store unreachable, handling the activity without the "
                        "redelivery check: %s", err)
            return Delivery(None)
        give_up = time.monotonic() + self.lease_ttl + 1
        try:
            while True:
                current = await self.store.get(key)
                if current == _DONE:
                    return None
                if current is None:  # its holder died or gave it up: this delivery takes over
                    if await self.store.set_if_absent(key, token, ttl=self.lease_ttl):
                        return self._leased(key, token)
                    continue
                if time.monotonic() > give_up:
                    return None  # renewed all along: its holder is alive and will answer
                await asyncio.sleep(min(0.25, self.lease_ttl / 4))
        except StorageUnavailable as err:
            log.warning("state store unreachable while another delivery holds this activity; "
                        "leaving it to that one: %s", err)
            return None

    def _leased(self, key: str, token: bytes) -> Delivery:
        delivery = Delivery(self.store, key, token, self.lease_ttl)
        delivery.keep_alive()
        return delivery

    async def first_welcome(self, conversation_id: str) -> bool:
        try:
            return await self.store.set_if_absent("welcome:" + _digest(conversation_id),
                                                  unique_token(), ttl=WELCOME_TTL)
        except StorageUnavailable:
            return True  # a second hello beats none

    async def first_exchange(self, user_id: str, exchange_id: str) -> bool:
        return await self.store.set_if_absent("exchange:" + _digest(user_id, exchange_id),
                                              unique_token(), ttl=EXCHANGE_TTL)

    # --- the command waiting for sign-in -------------------------------------------------
    @staticmethod
    def _pending_key(caller: Caller) -> str:
        return "pending:" + _digest(caller.tenant_id, caller.aad_object_id or "")

    async def save_pending(self, caller: Caller, pending: PendingCommand) -> None:
        body = {"text": pending.text, "activityId": pending.activity_id,
                "conversationId": pending.conversation_id, "timezone": pending.time_zone,
                "locale": pending.locale, "mentions": [list(m) for m in pending.mentions]}
        await self.store.set(self._pending_key(caller), json.dumps(body).encode(),
                             ttl=PENDING_TTL)

    async def take_pending(self, caller: Caller) -> PendingCommand | None:
        key = self._pending_key(caller)
        raw = await self.store.get(key)
        if raw is None:
            return None
        await self.store.delete(key)
        d = json.loads(raw)
        return PendingCommand(d["text"], d["activityId"], d["conversationId"], d["timezone"],
                              d.get("locale"), tuple(tuple(m) for m in d.get("mentions", ())))

    # --- meetings behind cards -----------------------------------------------------------
    async def save(self, record: MeetingRecord) -> None:
        body = {"meeting": _meeting_json(record.meeting), "tenant": record.tenant_id,
                "conversation": record.conversation_id, "organizer": record.organizer_id,
                "tz": record.time_zone, "cards": list(record.card_ids[-MAX_CARD_IDS:]),
                "v": record.version, "reading": record.date_reading, "locale": record.locale}
        await self.store.set("record:" + record.ref, json.dumps(body).encode(),
                             ttl=_record_ttl(record.meeting))

    async def load(self, ref: str) -> MeetingRecord | None:
        if not is_ref(ref):
            return None
        raw = await self.store.get("record:" + ref)
        if raw is None:
            return None
        d = json.loads(raw)
        return MeetingRecord(ref=ref, meeting=_meeting_from(d["meeting"]), tenant_id=d["tenant"],
                             conversation_id=d["conversation"], organizer_id=d["organizer"],
                             time_zone=d.get("tz"), card_ids=tuple(d.get("cards", ())),
                             version=d.get("v", 0), date_reading=d.get("reading"),
                             locale=d.get("locale"))

    async def add_card(self, ref: str, activity_id: str) -> None:
        """A message now shows this meeting's card (under the meeting's lock: read-modify-write)."""
        async with self.meeting_lock(ref):
            record = await self.load(ref)
            if record is not None and activity_id not in record.card_ids:
                await self.save(replace(record, card_ids=record.card_ids + (activity_id,)))

    def meeting_lock(self, ref: str) -> AbstractAsyncContextManager[None]:
        """One change at a time per meeting, across instances."""
        return store_lock(self.store, "record:" + ref, ttl=30, wait=15)

    # --- tenants without calendar permission ------------------------------------------------
    async def calendar_refused(self, key: str) -> bool:
        """Was Calendars.ReadWrite refused for this tenant (or user) within NO_CALENDAR_TTL?
        Unknown (the store unreachable) counts as no: the calendar is tried, and may be
        refused again."""
        try:
            return await self.store.get("nocal:" + _digest(key)) is not None
        except StorageUnavailable as err:
            log.warning("state store unreachable, calendar permission not remembered: %s", err)
            return False

    async def remember_calendar_refused(self, key: str) -> None:
        try:
            await self.store.set("nocal:" + _digest(key), b"1", ttl=NO_CALENDAR_TTL)
        except StorageUnavailable as err:
            log.warning("state store unreachable, calendar refusal not remembered: %s", err)

    # --- cards with buttons that create -----------------------------------------------------
    async def remember_form(self, conversation_id: str, activity_id: str) -> None:
        await self.store.set("form:" + _digest(conversation_id, activity_id), _FORM,
                             ttl=FORM_TTL)

    async def claim_form(self, conversation_id: str, activity_id: str | None,
                         claimant: str) -> bool:
        """Whether the form message `activity_id` (one MeetBot posted in this conversation)
        shows `claimant`'s meeting. A form becomes the card of the first person who makes a
        meeting with it and stays theirs: their own double click or a redelivery finds it
        theirs again, while a later click by anyone else (a stale view, or a replyToId edited
        to name it) leaves the first meeting's card alone."""
        if not activity_id:
            return False
        key = "form:" + _digest(conversation_id, activity_id)
        mine = b"taken:" + _digest(claimant).encode()
        if await self.store.compare_and_set(key, _FORM, mine, ttl=FORM_TTL):
            return True
        return await self.store.get(key) == mine

    async def save_retry(self, retry: RetryRecord) -> str:
        ref = new_ref()
        body = {"requester": retry.requester_id, "tenant": retry.tenant_id,
                "conversation": retry.conversation_id, "key": retry.activity_key,
                "request": _request_json(retry.request)}
        await self.store.set("retry:" + ref, json.dumps(body).encode(), ttl=RETRY_TTL)
        return ref

    async def load_retry(self, ref: str) -> RetryRecord | None:
        if not is_ref(ref):
            return None
        raw = await self.store.get("retry:" + ref)
        if raw is None:
            return None
        d = json.loads(raw)
        return RetryRecord(d["requester"], d["tenant"], d["conversation"], d["key"],
                           _request_from(d["request"]))


def mention_tuples(mentions: Sequence[Any]) -> tuple[tuple[str, str, str | None, str | None,
                                                           bool], ...]:
    """Mentions as stored with a waiting command (text, name, Teams id, Entra id, is the bot)."""
    return tuple((m.text, m.person.name, m.person.teams_id, m.person.aad_object_id, m.is_bot)
                 for m in mentions)
