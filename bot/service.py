"""What MeetBot does in Graph, without Bot Framework types: who may ask, which token, which
Graph call. bot/handlers.py decides when; this decides how.

A meeting is either a standalone onlineMeeting (`createOrGet`: `meet now`, one Graph call) or,
per MEETINGS_ON_CALENDAR, a calendar event with a Teams meeting behind it: on the organizer's
calendar, with Outlook's invitations to the invitees. A tenant that has not granted
Calendars.ReadWrite gets the standalone meeting and a line on the card, never a failure, and
its refusal is remembered for an hour (bot/records.py) so it costs one round trip, not one per
command (per tenant; app-only: per user, see `_refusal_key`).
"""
from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import fields, replace
from datetime import timedelta
from typing import Any, Protocol

from .config import CalendarMode
from .errors import (
    CALENDAR_CANCEL_COMMENT,
    CALENDAR_EVENT_BODY,
    CalendarPermissionMissing,
    GraphNotFound,
    MeetingGone,
    NotOrganizer,
    OptionRefused,
    OrganizerIdentityMissing,
    TenantNotAllowed,
)
from .graph import OPTION_PROPERTIES, GraphClient, external_id_for, transaction_id_for
from .i18n import ENGLISH, Translator
from .models import AttendeeScope, Caller, Meeting, MeetingOptions, MeetingRequest
from .tokens import TokenBroker, UserKey

log = logging.getLogger(__name__)

# Invitations one command sends at most; beyond it the event goes on the organizer's calendar
# without attendees and the card says so (whoever sees the card can join). Graph's *event
# resource type* allows 500 attendees, and Exchange Online's sending limits count every
# recipient of the invitation, of each Extend's update and of the cancellation against the
# organizer's 10,000 recipients a day: half the hard cap leaves room for those and for the
# organizer's own mail.
MAX_CALENDAR_INVITES = 250


class CalendarMemory(Protocol):
    """Who was refused Calendars.ReadWrite lately (bot/records.py `Records`), by a key
    `MeetingService._refusal_key` makes."""

    async def calendar_refused(self, key: str) -> bool: ...

    async def remember_calendar_refused(self, key: str) -> None: ...


def user_key(caller: Caller) -> UserKey:
    """Whose tokens: Graph acts for an Entra user, which Teams names in from.aadObjectId."""
    if not caller.aad_object_id:
        raise OrganizerIdentityMissing("activity has no from.aadObjectId")
    return UserKey(caller.tenant_id, caller.aad_object_id)


class MeetingService:
    def __init__(self, graph: GraphClient, broker: TokenBroker, *,
                 allowed_tenants: frozenset[str] = frozenset(),
                 on_meeting: Callable[[bool], None] | None = None,
                 calendar: CalendarMode = CalendarMode.NEVER,
                 calendar_memory: CalendarMemory | None = None) -> None:
        if calendar is not CalendarMode.NEVER and calendar_memory is None:
            raise ValueError("calendar-backed meetings need a CalendarMemory")
        self.graph = graph
        self.broker = broker
        self.allowed_tenants = allowed_tenants
        self.calendar = calendar
        self._memory = calendar_memory
        self._on_meeting = on_meeting or (lambda created: None)

    def tenant_allowed(self, tenant_id: str) -> bool:
        return not self.allowed_tenants or tenant_id.lower() in self.allowed_tenants

    def check_tenant(self, caller: Caller) -> None:
        if not self.tenant_allowed(caller.tenant_id):
            raise TenantNotAllowed(f"tenant {caller.tenant_id} not in ALLOWED_TENANTS")

    def _organizer_path(self, user: UserKey) -> str | None:
        # App-only tokens have no "me": the organizer is named in the path (/users/{oid}).
        return user.aad_object_id if self.broker.app_only else None

    def _refusal_key(self, user: UserKey) -> str:
        """Delegated: the tenant, whose admin consent is what is missing. App-only: the user,
        since Exchange can limit the application permission to some mailboxes (RBAC for
        Applications) and a 403 then speaks for one mailbox, not for the tenant."""
        tenant = user.tenant_id.lower()
        return f"{tenant}/{user.aad_object_id.lower()}" if self.broker.app_only else tenant

    def wants_calendar(self, request: MeetingRequest) -> bool:
        """MEETINGS_ON_CALENDAR=scheduled: a later start or invitees; `meet now` (now, nobody
        named) keeps its one-call path."""
        if self.calendar is CalendarMode.NEVER:
            return False
        return (self.calendar is CalendarMode.ALWAYS or not request.starts_now
                or bool(request.attendees) or request.scope is not AttendeeScope.NONE)

    async def create(self, caller: Caller, request: MeetingRequest, *, conversation_id: str,
                     activity_id: str, time_zone: str | None = None,
                     tr: Translator = ENGLISH) -> Meeting:
        """The meeting, made once per activity however often it is asked for: createOrGet
        with an externalId, or an event with a transactionId, both derived from the activity.
        `time_zone` (the user's IANA zone) is the event's; `tr` (the asker's language) words
        the event's body in Outlook."""
        self.check_tenant(caller)
        user = user_key(caller)
        token = await self.broker.graph_token(user)
        meeting, invitations_off = None, False
        if self.wants_calendar(request):
            assert self._memory is not None
            if await self._memory.calendar_refused(self._refusal_key(user)):
                invitations_off = True
            else:
                try:
                    meeting = await self._on_calendar(user, token, request, time_zone=time_zone,
                                                      transaction_id=transaction_id_for(
                                                          conversation_id, activity_id), tr=tr)
                except CalendarPermissionMissing as err:
                    log.info("no Calendars.ReadWrite in this tenant, a standalone meeting "
                             "instead: %s", err.detail)
                    await self._memory.remember_calendar_refused(self._refusal_key(user))
                    invitations_off = True
                except GraphNotFound as err:  # e.g. no Exchange Online mailbox for this user
                    log.warning("no calendar for this organizer, a standalone meeting "
                                "instead: %s", err.detail)
        if meeting is None:
            meeting = await _settled(self.graph.create_or_get(
                token, request, external_id=external_id_for(conversation_id, activity_id),
                user_id=self._organizer_path(user)))
        self._on_meeting(meeting.created)
        return _with_names(replace(meeting, options=_asked(meeting, request.options),
                                   refused_options=_refused_asked(meeting, request.options),
                                   invitations_off=invitations_off), request)

    async def _on_calendar(self, user: UserKey, token: str, request: MeetingRequest, *,
                           time_zone: str | None, transaction_id: str,
                           tr: Translator) -> Meeting:
        """The event (calendar token), its onlineMeeting and settings (meetings token)."""
        calendar = await self.broker.calendar_token(user)
        invitees = [p for p in request.attendees if p.upn]
        scope, not_invited = request.scope, 0
        if len(invitees) > MAX_CALENDAR_INVITES:  # on the calendar, the card does the inviting
            invitees, scope, not_invited = [], AttendeeScope.EVERYONE, len(invitees)
        organizer = self._organizer_path(user)
        meeting = await self.graph.create_calendar_meeting(
            calendar, request, transaction_id=transaction_id, time_zone=time_zone or "UTC",
            attendees=invitees,
            body_html=f"<p>{html.escape(tr.gettext(CALENDAR_EVENT_BODY))}</p>",
            user_id=organizer, meetings_token=token)
        meeting = await _settled(self.graph.apply_settings(token, meeting, scope, request.options,
                                                           user_id=organizer))
        return replace(meeting, not_invited=not_invited)

    async def extend(self, caller: Caller, meeting: Meeting, minutes: int = 15, *,
                     time_zone: str | None = None) -> Meeting:
        """A calendar-backed meeting moves its event (attendees get Outlook's update; the
        Teams meeting follows), a standalone one its onlineMeeting."""
        self.require_organizer(caller, meeting)
        user = user_key(caller)
        organizer = self._organizer_path(user)
        end = meeting.end + timedelta(minutes=minutes)
        try:
            if meeting.event_id is not None:
                calendar = await self.broker.calendar_token(user)
                event = await self.graph.update_event_times(
                    calendar, meeting.event_id, meeting.start, end, time_zone=time_zone or "UTC",
                    user_id=organizer)
                return replace(meeting, start=event.start, end=event.end, created=False,
                               request_id=event.request_id)
            token = await self.broker.graph_token(user)
            changed = await self.graph.update_times(token, meeting.id, meeting.start, end,
                                                    user_id=organizer)
        except GraphNotFound as err:
            raise MeetingGone("meeting no longer exists") from err
        return _as_before(changed, meeting)

    async def end(self, caller: Caller, meeting: Meeting, *, tr: Translator = ENGLISH) -> Meeting:
        """A calendar-backed meeting is cancelled with a message to its attendees in `tr`'s
        language (the Teams meeting goes with it); a standalone one is deleted."""
        self.require_organizer(caller, meeting)
        user = user_key(caller)
        organizer = self._organizer_path(user)
        if meeting.event_id is not None:
            calendar = await self.broker.calendar_token(user)
            # False: already cancelled; ending it again is not an error.
            await self.graph.cancel_event(calendar, meeting.event_id,
                                          tr.gettext(CALENDAR_CANCEL_COMMENT),
                                          user_id=organizer)
            return replace(meeting, ended=True)
        token = await self.broker.graph_token(user)
        try:
            await self.graph.delete(token, meeting.id, user_id=organizer)
        except GraphNotFound:
            pass  # already gone: ending it again is not an error
        return replace(meeting, ended=True)

    def require_organizer(self, caller: Caller, meeting: Meeting) -> None:
        """Organizer-only actions: checked against the meeting's organizer before any Graph call
        (a forwarded or old card clicked by someone else changes nothing)."""
        self.check_tenant(caller)
        if not caller.aad_object_id or caller.aad_object_id != meeting.organizer_id:
            raise NotOrganizer(f"{caller.aad_object_id} is not {meeting.organizer_id}")


async def _settled(making: Awaitable[Meeting]) -> Meeting:
    """The meeting even when Graph refused some options: it works without them, and the card
    says which (OptionRefused always carries the meeting as it stands)."""
    try:
        return await making
    except OptionRefused as err:
        log.info("meeting options refused: %s", ", ".join(err.refused))
        assert isinstance(err.meeting, Meeting)
        return replace(err.meeting, refused_options=err.refused)


def _refused_asked(meeting: Meeting, asked: MeetingOptions) -> tuple[str, ...]:
    """Refusals of what the user asked for; a refused implicit lobby (for invitees) is only
    logged, the user never asked for it."""
    wanted = {OPTION_PROPERTIES[k] for k, v in _options(asked).items() if v is not None}
    return tuple(name for name in meeting.refused_options if name in wanted)


def _asked(meeting: Meeting, asked: MeetingOptions) -> MeetingOptions:
    """The options the card shows: those asked for and not refused, as Graph reports them (as
    asked where Graph's answer leaves one out). Graph's defaults are not news."""
    reported = _options(meeting.options)
    return MeetingOptions(**{
        k: v if reported[k] is None else reported[k] for k, v in _options(asked).items()
        if v is not None and OPTION_PROPERTIES[k] not in meeting.refused_options})


def _options(options: MeetingOptions) -> dict[str, Any]:
    return {f.name: getattr(options, f.name) for f in fields(MeetingOptions)}


def _as_before(changed: Meeting, before: Meeting) -> Meeting:
    """Graph's answer to a change, with what MeetBot knew of the meeting beyond it."""
    return replace(changed, options=before.options, refused_options=before.refused_options,
                   invitations_off=before.invitations_off, not_invited=before.not_invited,
                   event_id=before.event_id, invitations=before.invitations)


def _with_names(meeting: Meeting, request: MeetingRequest) -> Meeting:
    """Graph often returns attendees without displayName; Teams told us their names."""
    if not meeting.attendees or not request.attendees:
        return meeting
    names = {p.aad_object_id: p.name for p in request.attendees}
    return replace(meeting, attendees=tuple(
        p if p.name else replace(p, name=names.get(p.aad_object_id, "")) for p in meeting.attendees))
