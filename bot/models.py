"""Plain types that cross the project's inner boundaries.

Nothing here imports botbuilder: the grammar produces these, the Graph client consumes and
returns them, and the card builders render them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from enum import Enum
from typing import Union

UTC = timezone.utc


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
    # the card to show; None when the text named no such date.
    date_reading: str | None = None

    @property
    def duration(self) -> timedelta:
        # Elapsed time, not wall-clock difference: a meeting may cross a DST change.
        return self.end.astimezone(UTC) - self.start.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class HelpRequest:
    """`help`, `?`, or text we did not understand (then `reason` says why)."""

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SignOutRequest:
    pass


Command = Union[MeetingRequest, HelpRequest, SignOutRequest]


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
class Meeting:
    """An online meeting as Graph returned it (current v1.0 shape or the seed's older one)."""

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
    extra: dict = field(default_factory=dict, compare=False, repr=False)
