"""What the meeting card says about calendars and meeting options: the lines under the dial-in
numbers, and the "Add to my calendar" button for people who were not invited."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

from bot.errors import CalendarPermissionMissing, OptionRefused, describe
from bot.i18n import ENGLISH, N_, Translator
from bot.models import Lobby, Meeting, MeetingOptions, Presenters
from cards.base import Card, note, open_url

NO_CALENDAR = N_("This meeting isn't on anyone's calendar.")
ADD_TO_CALENDAR = N_("Add to my calendar")
# Outlook on the web's calendar compose form, pre-filled. Microsoft publishes no reference page
# for it; the parameters (subject, body, startdt, enddt; times in ISO 8601, here UTC with "Z")
# are those of Microsoft's 2016 post "How to compose a new message or event and populate
# fields in Office365" (blogs.msdn.microsoft.com/carloshm), which Outlook still honours.
OUTLOOK_COMPOSE = "https://outlook.office.com/calendar/0/deeplink/compose"
# Only a meeting that starts later is worth a calendar entry (as cards/text.py's "later").
_LATER = timedelta(minutes=1)

_PRESENTERS = {Presenters.ORGANIZER: N_("only the organizer presents"),
               Presenters.ORGANIZATION: N_("people in your organisation present"),
               Presenters.EVERYONE: N_("everyone can present")}
_LOBBY = {Lobby.EVERYONE_WAITS: N_("everyone waits in the lobby"),
          Lobby.ORGANIZATION_SKIPS: N_("your organisation skips the lobby"),
          Lobby.EVERYONE_SKIPS: N_("no lobby")}


def options_line(options: MeetingOptions, tr: Translator = ENGLISH) -> str | None:
    """"Options: only the organizer presents · recorded automatically · no meeting chat"."""
    _ = tr.gettext
    words = []
    if options.presenters is not None:
        words.append(_(_PRESENTERS[options.presenters]))
    if options.lobby is not None:
        words.append(_(_LOBBY[options.lobby]))
    if options.record is not None:
        words.append(_("recorded automatically") if options.record
                     else _("not recorded automatically"))
    if options.chat is not None:
        words.append(_("meeting chat on") if options.chat else _("no meeting chat"))
    return _("Options: {options}").format(options=" · ".join(words)) if words else None


def calendar_line(meeting: Meeting, tr: Translator = ENGLISH) -> str:
    _ = tr.gettext
    if meeting.invitations_off:
        return f"{_(NO_CALENDAR)} {describe(CalendarPermissionMissing(), tr).text}"
    if not meeting.on_calendar:
        return _(NO_CALENDAR)
    if meeting.invitations:
        n = meeting.invitations
        return tr.ngettext("On your calendar · invitations sent to {n} person",
                           "On your calendar · invitations sent to {n} people",
                           n).format(n=tr.number(n))
    if meeting.not_invited:
        n = meeting.not_invited
        return tr.ngettext(
            "On your calendar · {n} person is too many to invite by email: share this card, "
            "everyone who sees it can join",
            "On your calendar · {n} people are too many to invite by email: share this card, "
            "everyone who sees it can join", n).format(n=tr.number(n))
    return _("On your calendar")


def footer(meeting: Meeting, invited: str | None, tr: Translator = ENGLISH) -> list[Card]:
    """Who is invited, the options, what Teams refused, and where the meeting is: one small
    line each, the first set apart from the dial-in numbers; in `tr`'s language."""
    lines = [invited, options_line(meeting.options, tr)]
    if meeting.refused_options:
        lines.append(describe(OptionRefused(refused=meeting.refused_options), tr).text)
    lines.append(calendar_line(meeting, tr))
    shown = [line for line in lines if line]
    return [note(shown[0], spacing="Medium", separator=True),
            *(note(line, spacing="None") for line in shown[1:])]


def compose_link(meeting: Meeting, tr: Translator = ENGLISH) -> str:
    """Outlook's new-event form with the subject, times and join link filled in (the words in
    `tr`'s language: the card's)."""
    _ = tr.gettext
    params = {"subject": meeting.subject or _("Teams meeting"),
              "startdt": _utc(meeting.start), "enddt": _utc(meeting.end),
              "body": _("Join the Teams meeting: {url}").format(url=meeting.join_url)}
    return f"{OUTLOOK_COMPOSE}?{urlencode(params, quote_via=quote)}"


def add_to_calendar(meeting: Meeting, now: datetime, *, organizer_view: bool,
                    tr: Translator = ENGLISH) -> Card | None:
    """For people who were not invited (a channel's readers): a later meeting only, and not
    for its organizer when it is on their calendar already."""
    if meeting.ended or meeting.start - now <= _LATER or (organizer_view and meeting.on_calendar):
        return None
    return open_url(tr.gettext(ADD_TO_CALENDAR), compose_link(meeting, tr))


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
