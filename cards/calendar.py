"""What the meeting card says about calendars and meeting options: the lines under the dial-in
numbers, and the "Add to my calendar" button for people who were not invited."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

from bot.errors import CalendarPermissionMissing, OptionRefused, describe
from bot.models import Lobby, Meeting, MeetingOptions, Presenters
from cards.base import Card, note, open_url

NO_CALENDAR = "This meeting isn't on anyone's calendar."
ADD_TO_CALENDAR = "Add to my calendar"
# Outlook on the web's calendar compose form, pre-filled. Microsoft publishes no reference page
# for it; the parameters (subject, body, startdt, enddt; times in ISO 8601, here UTC with "Z")
# are those of Microsoft's 2016 post "How to compose a new message or event and populate
# fields in Office365" (blogs.msdn.microsoft.com/carloshm), which Outlook still honours.
OUTLOOK_COMPOSE = "https://outlook.office.com/calendar/0/deeplink/compose"
# Only a meeting that starts later is worth a calendar entry (as cards/text.py's "later").
_LATER = timedelta(minutes=1)

_PRESENTERS = {Presenters.ORGANIZER: "only the organizer presents",
               Presenters.ORGANIZATION: "people in your organisation present",
               Presenters.EVERYONE: "everyone can present"}
_LOBBY = {Lobby.EVERYONE_WAITS: "everyone waits in the lobby",
          Lobby.ORGANIZATION_SKIPS: "your organisation skips the lobby",
          Lobby.EVERYONE_SKIPS: "no lobby"}


def _people(n: int) -> str:
    return "1 person" if n == 1 else f"{n:,} people"


def options_line(options: MeetingOptions) -> str | None:
    """"Options: only the organizer presents · recorded automatically · no meeting chat"."""
    words = []
    if options.presenters is not None:
        words.append(_PRESENTERS[options.presenters])
    if options.lobby is not None:
        words.append(_LOBBY[options.lobby])
    if options.record is not None:
        words.append("recorded automatically" if options.record else "not recorded automatically")
    if options.chat is not None:
        words.append("meeting chat on" if options.chat else "no meeting chat")
    return "Options: " + " · ".join(words) if words else None


def calendar_line(meeting: Meeting) -> str:
    if meeting.invitations_off:
        return f"{NO_CALENDAR} {describe(CalendarPermissionMissing()).text}"
    if not meeting.on_calendar:
        return NO_CALENDAR
    if meeting.invitations:
        return f"On your calendar · invitations sent to {_people(meeting.invitations)}"
    if meeting.not_invited:
        return (f"On your calendar · {_people(meeting.not_invited)} are too many to invite by "
                "email: share this card, everyone who sees it can join")
    return "On your calendar"


def footer(meeting: Meeting, invited: str | None) -> list[Card]:
    """Who is invited, the options, what Teams refused, and where the meeting is: one small
    line each, the first set apart from the dial-in numbers."""
    lines = [invited, options_line(meeting.options)]
    if meeting.refused_options:
        lines.append(describe(OptionRefused(refused=meeting.refused_options)).text)
    lines.append(calendar_line(meeting))
    shown = [line for line in lines if line]
    return [note(shown[0], spacing="Medium", separator=True),
            *(note(line, spacing="None") for line in shown[1:])]


def compose_link(meeting: Meeting) -> str:
    """Outlook's new-event form with the subject, times and join link filled in."""
    params = {"subject": meeting.subject or "Teams meeting",
              "startdt": _utc(meeting.start), "enddt": _utc(meeting.end),
              "body": f"Join the Teams meeting: {meeting.join_url}"}
    return f"{OUTLOOK_COMPOSE}?{urlencode(params, quote_via=quote)}"


def add_to_calendar(meeting: Meeting, now: datetime, *, organizer_view: bool) -> Card | None:
    """For people who were not invited (a channel's readers): a later meeting only, and not
    for its organizer when it is on their calendar already."""
    if meeting.ended or meeting.start - now <= _LATER or (organizer_view and meeting.on_calendar):
        return None
    return open_url(ADD_TO_CALENDAR, compose_link(meeting))


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
