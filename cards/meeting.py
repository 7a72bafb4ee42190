"""The meeting card: what `meet …` answers with, and what Extend / End / refresh redraw."""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.errors import names_and
from bot.i18n import ENGLISH, N_, Translator, translator
from bot.models import AudioConferencing, Meeting, UserTime
from cards.actions import EXTEND_MINUTES, VERB_END, VERB_EXTEND, VERB_REFRESH, meeting_data
from cards.base import Card, CardMessage, card, execute, note, open_url, text, title
from cards.calendar import add_to_calendar, footer
from cards.text import group3, md, phone, when

# Teams shows a user-specific view to at most 60 users; more ids are not honoured.
MAX_REFRESH_USERS = 60
MAX_NAMED_INVITEES = 3

_LOBBY = {
    "invited": N_("they skip the lobby"),
    "organization": N_("people in your organisation skip the lobby"),
    "organizationAndFederated": N_("people in your and trusted organisations skip the lobby"),
    "organizationExcludingGuests": N_("people in your organisation (not guests) skip the lobby"),
    "everyone": N_("everyone skips the lobby"),
    "organizer": N_("everyone else waits in the lobby"),
}
_ENDED = N_("This meeting has ended")


@dataclass(frozen=True, slots=True)
class _Parts:
    """The elements every meeting card of one language shares, built once per language."""

    no_audio: Card
    dial_in_header: Card
    ended: Card


@functools.cache
def _parts(language: str) -> _Parts:
    _ = translator(language).gettext
    return _Parts(
        no_audio=note(_("No dial-in: the organizer has no Audio Conferencing licence."),
                      spacing="Small"),
        dial_in_header=text(_("Dial in (audio only)"), weight="Bolder", spacing="Medium",
                            separator=True),
        ended=text(_(_ENDED), color="Attention", weight="Bolder", spacing="Small"))


def _invited(meeting: Meeting, tr: Translator) -> str | None:
    _ = tr.gettext
    names = [md(p.name) for p in meeting.attendees if p.name]
    # A lobby that was asked for is said with the other options (cards/calendar.py).
    lobby = (_(_LOBBY[meeting.lobby_scope])
             if not meeting.options.lobby and meeting.lobby_scope in _LOBBY else None)
    if len(names) > MAX_NAMED_INVITEES:
        others = len(names) - MAX_NAMED_INVITEES + 1
        names[MAX_NAMED_INVITEES - 1:] = [
            tr.ngettext("{n} other", "{n} others", others).format(n=others)]
    if not names:
        return lobby[0].upper() + lobby[1:] if lobby and meeting.lobby_scope != "invited" else None
    who = names_and(names, tr)
    if lobby:
        return _("Invited: {names} · {lobby}").format(names=who, lobby=lobby)
    return _("Invited: {names}").format(names=who)


def _dial_in(audio: AudioConferencing, tr: Translator) -> list[Card]:
    """One-tap links: markdown tel: links in TextBlocks, because Teams desktop and web ignore
    tel: URLs on Action.OpenUrl buttons (microsoft/AdaptiveCards#3905, msteams-docs#8133)."""
    _ = tr.gettext
    items = [_parts(tr.language).dial_in_header]
    suffix = f",,{audio.conference_id}#" if audio.conference_id else ""
    for numbers, kind in ((audio.toll_numbers, _("toll")), (audio.toll_free_numbers,
                                                             _("toll-free"))):
        for number in numbers:
            items.append(text(f"[{phone(number)}{suffix}]({audio.one_tap(number)}) · {kind}",
                              spacing="Small"))
    extra = ([_("Conference ID: {id}#").format(id=audio.conference_id)]
             if audio.conference_id else [])
    if audio.dialin_url:
        find = _("Find a local number")
        extra.append(f"[{find}]({audio.dialin_url})")
    if extra:
        items.append(text(" · ".join(extra), spacing="Small"))
    return items


def _refresh(ref: str, version: int, user_ids: Sequence[str], tr: Translator) -> Card:
    _ = tr.gettext
    return {"action": {"type": "Action.Execute", "title": _("Refresh"), "verb": VERB_REFRESH,
                       "data": meeting_data(VERB_REFRESH, ref, version)},
            "userIds": list(user_ids[:MAX_REFRESH_USERS])}


def meeting_card(meeting: Meeting, user_time: UserTime, *, ref: str | None = None,
                 version: int = 0, organizer_view: bool = False,
                 refresh_user_ids: Sequence[str] = (), now: datetime | None = None,
                 date_reading: str | None = None, tr: Translator = ENGLISH) -> CardMessage:
    """The card for one meeting, drawn in `user_time`'s zone, in `tr`'s language and formats.

    `ref` is MeetBot's record of the meeting: its buttons carry that and nothing else. Without
    one the card has only Join. `organizer_view` adds Extend / End; `refresh_user_ids` (Teams
    user MRIs, "29:…") makes Teams ask the bot for each listed user's own view (Universal
    Actions user-specific views). `date_reading` (MeetingRequest.date_reading) says how an
    ambiguous "12/9" was read.
    """
    _ = tr.gettext
    parts = _parts(tr.language)
    subject = meeting.subject or _("Teams meeting")
    times = when(meeting.start, meeting.end, user_time, now or datetime.now(UTC), tr)
    body: list[Card] = [title(md(subject)), text(times, isSubtle=True, spacing="None")]
    if date_reading:
        body.append(note(md(date_reading), spacing="None"))
        times = f"{times} · {date_reading}"
    if meeting.ended:
        body.append(parts.ended)
        summary = f"{subject} · {times} · {_(_ENDED)}."
        return CardMessage(card(body, fallback_text=summary), summary)

    facts = []
    if meeting.meeting_code:
        facts.append({"title": _("Meeting ID"), "value": group3(meeting.meeting_code)})
    if meeting.passcode:
        facts.append({"title": _("Passcode"), "value": md(meeting.passcode)})
    if facts:
        body.append({"type": "FactSet", "facts": facts, "spacing": "Medium"})
    if meeting.audio is not None:
        body.extend(_dial_in(meeting.audio, tr))
    else:
        body.append(parts.no_audio)
    body += footer(meeting, _invited(meeting, tr), tr)

    actions = [open_url(_("Join meeting"), meeting.join_url, style="positive")]
    add = add_to_calendar(meeting, now or datetime.now(UTC), organizer_view=organizer_view,
                          tr=tr)
    if add and organizer_view and ref:
        # Four buttons do not fit a card's row in Teams: beside Extend and End, a link.
        body.append(text(f"[{add['title']}]({add['url']})", size="Small", spacing="Small"))
    elif add:
        actions.append(add)
    if organizer_view and ref:
        actions.append(execute(_("Extend {minutes} min").format(minutes=EXTEND_MINUTES),
                               meeting_data(VERB_EXTEND, ref, version)))
        actions.append(execute(_("End meeting"), meeting_data(VERB_END, ref, version),
                               style="destructive"))

    summary = f"{subject} · {times} · " + _("Join: {url}").format(url=meeting.join_url)
    out = card(body, actions, fallback_text=summary)
    if refresh_user_ids and ref:
        out["refresh"] = _refresh(ref, version, refresh_user_ids, tr)
    return CardMessage(out, summary)
