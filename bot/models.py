"""Plain types that cross the project's inner boundaries.

Nothing here imports botbuilder: the grammar produces these, the Graph client consumes and
returns them, and the card builders render them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from enum import Enum

from .i18n import N_

UTC = UTC

# The subject when none was given, in the asker's language (bot/handlers.py translates it).
DEFAULT_SUBJECT = N_("Quick meeting")
# Exchange limits an item subject to 255 characters; leave room for the router's decorations.
# Longer subjects are refused, not trimmed: a pasted paragraph is almost always a mistake, and
# a silently cut title would only be noticed in the meeting itself.
MAX_SUBJECT = 250


@dataclass(frozen=True, slots=True)
class Person:
    """Someone in Teams: the organizer, or an attendee named with `with @Ana`.

    `aad_object_id` is the Entra ID object id (what Graph wants in `/users/{id}` and in
    `identity.user.id`); Teams activities carry it as `from.aadObjectId`.
    """

    name: str = ""
    aad_object_id: str | None = None
    upn: str | None = None
    teams_id: str | None = None  # the channel account id ("29:…"), for the member APIs


@dataclass(frozen=True, slots=True)
class Caller:
    """The person behind an activity, as the validated channel token's activity names them."""

    tenant_id: str
    aad_object_id: str | None
    name: str = ""
    teams_id: str = ""


@dataclass(frozen=True, slots=True)
class UserTime:
    """The user's time zone as Teams told us, or UTC when it did not (the card says so)."""

    tz: tzinfo = UTC
    name: str = "UTC"
    known: bool = False


class AttendeeScope(str, Enum):
    """Who the meeting invites besides the organizer."""

    NONE = "none"  # just whoever gets the link
    MENTIONED = "mentioned"  # `with @Ana @Ben`
    EVERYONE = "everyone"  # `with everyone` / `with channel`: every member of the team


class Presenters(str, Enum):
    """Who may present: onlineMeeting.allowedPresenters (*onlineMeeting resource type*)."""

    ORGANIZER = "organizer"  # "only I present"
    ORGANIZATION = "organization"
    EVERYONE = "everyone"


class Lobby(str, Enum):
    """Who skips the lobby: lobbyBypassSettings.scope (*lobbyBypassSettings resource type*)."""

    EVERYONE_WAITS = "organizer"  # only the organizer gets straight in
    ORGANIZATION_SKIPS = "organization"
    EVERYONE_SKIPS = "everyone"


@dataclass(frozen=True, slots=True)
class MeetingOptions:
    """The meeting options people ask for. None leaves Graph's (the tenant's) default alone."""

    presenters: Presenters | None = None  # allowedPresenters
    lobby: Lobby | None = None  # lobbyBypassSettings.scope
    record: bool | None = None  # recordAutomatically
    chat: bool | None = None  # allowMeetingChat: enabled / disabled

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.presenters, self.lobby, self.record, self.chat))


@dataclass(frozen=True, slots=True)
class MeetingRequest:
    """What the user asked for, already validated (1 min .. 24 h, not in the past)."""

    subject: str
    start: datetime  # timezone-aware
    end: datetime  # timezone-aware
    starts_now: bool = True
    subject_given: bool = False
    attendees: tuple[Person, ...] = ()
    scope: AttendeeScope = AttendeeScope.NONE
    bare: bool = False  # just "meet": in a channel, the router offers the new-meeting card
    # How an ambiguous numeric date was read ("“12/9” read as 9 December (month/day, …)"), for
    # the card to show; None when the text named no such date. The same as an English msgid of
    # the gettext domain "grammar" and its values: gettext(template).format(**params).
    date_reading: str | None = None
    date_reading_template: str | None = field(default=None, compare=False)
    date_reading_params: dict[str, str] = field(default_factory=dict, compare=False)
    options: MeetingOptions = MeetingOptions()  # what the words (or the form) asked for

    @property
    def duration(self) -> timedelta:
        # Elapsed time, not wall-clock difference: a meeting may cross a DST change.
        return self.end.astimezone(UTC) - self.start.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class HelpRequest:
    """`help`, `?`, or text we did not understand (then `reason` says why; `template` and
    `params` are it as an English msgid of the gettext domain "grammar" and its values)."""

    reason: str | None = None
    template: str | None = field(default=None, compare=False)
    params: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class SignOutRequest:
    pass


Command = MeetingRequest | HelpRequest | SignOutRequest


@dataclass(frozen=True, slots=True)
class AudioConferencing:
    """Dial-in details; Graph leaves them out (null) when the organizer has no licence."""

    conference_id: str | None = None
    toll_numbers: tuple[str, ...] = ()
    toll_free_numbers: tuple[str, ...] = ()
    dialin_url: str | None = None

    def one_tap(self, number: str) -> str:
        """`tel:` link that dials the number and then the conference id (`tel:+1…,,2425999#`)."""
        digits = "".join(ch for ch in number if ch.isdigit() or ch == "+")
        if self.conference_id:
            return f"tel:{digits},,{self.conference_id}#"
        return f"tel:{digits}"


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """A calendar event with a Teams meeting behind it (`POST /me/events`, *event resource
    type*). The event carries only a summary of the meeting (*onlineMeetingInfo*): the meeting
    ID, passcode and every dial-in number come from the onlineMeeting found by `join_url`."""

    id: str
    start: datetime  # aware, UTC
    end: datetime
    join_url: str | None = None  # None: Graph made no online meeting for it
    conference_id: str | None = None
    toll_number: str | None = None
    transaction_id: str | None = None
    invitations: int = 0  # attendees Outlook sent the invitation to
    web_link: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Meeting:
    """An online meeting as Graph returned it (the current v1.0 shape, or the 2019 one of
    docs/create-online-meeting-2019.md)."""

    id: str
    join_url: str
    subject: str
    start: datetime  # aware, UTC as Graph returns it
    end: datetime
    meeting_code: str | None = None  # joinMeetingIdSettings.joinMeetingId
    passcode: str | None = None
    audio: AudioConferencing | None = None
    organizer_id: str | None = None
    external_id: str | None = None
    attendees: tuple[Person, ...] = ()
    lobby_scope: str | None = None  # lobbyBypassSettings.scope
    created: bool = True  # False when createOrGet returned an existing meeting (200)
    ended: bool = False  # we deleted it ("End meeting")
    request_id: str | None = None  # Graph's request-id of the call that returned this
    options: MeetingOptions = MeetingOptions()  # as Graph reports them
    event_id: str | None = None  # calendar-backed: the organizer's event (Extend/End go there)
    invitations: int = 0  # calendar-backed: attendees Outlook invited
    # What the card says beyond Graph's own answer: options Graph refused (onlineMeeting
    # property names), a tenant that has not granted Calendars.ReadWrite (a standalone meeting
    # instead of an event), and people not invited by email because they were too many.
    refused_options: tuple[str, ...] = ()
    invitations_off: bool = False
    not_invited: int = 0

    @property
    def on_calendar(self) -> bool:
        return self.event_id is not None
