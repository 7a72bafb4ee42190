"""The meeting card: what `meet …` answers with, and what Extend / End / refresh redraw."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.models import AudioConferencing, Meeting, UserTime
from cards.actions import EXTEND_MINUTES, VERB_END, VERB_EXTEND, VERB_REFRESH, meeting_data
from cards.base import Card, CardMessage, card, execute, note, open_url, text, title
from cards.calendar import add_to_calendar, footer
from cards.text import group3, md, phone, when

# Teams shows a user-specific view to at most 60 users; more ids are not honoured.
MAX_REFRESH_USERS = 60
MAX_NAMED_INVITEES = 3

_LOBBY = {
    "invited": "they skip the lobby",
    "organization": "people in your organisation skip the lobby",
    "organizationAndFederated": "people in your and trusted organisations skip the lobby",
    "organizationExcludingGuests": "people in your organisation (not guests) skip the lobby",
    "everyone": "everyone skips the lobby",
    "organizer": "everyone else waits in the lobby",
}

# Built once: the parts every meeting card shares.
_NO_AUDIO = note("No dial-in: the organizer has no Audio Conferencing licence.", spacing="Small")
_DIAL_IN_HEADER = text("Dial in (audio only)", weight="Bolder", spacing="Medium", separator=True)
_ENDED = text("This meeting has ended", color="Attention", weight="Bolder", spacing="Small")


def _invited(meeting: Meeting) -> str | None:
    names = [md(p.name) for p in meeting.attendees if p.name]
    # A lobby that was asked for is said with the other options (cards/calendar.py).
    lobby = None if meeting.options.lobby else _LOBBY.get(meeting.lobby_scope or "")
    if len(names) > MAX_NAMED_INVITEES:
        names[MAX_NAMED_INVITEES - 1:] = [f"{len(names) - MAX_NAMED_INVITEES + 1} others"]
    if not names:
        return lobby[0].upper() + lobby[1:] if lobby and meeting.lobby_scope != "invited" else None
    who = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    return f"Invited: {who} · {lobby}" if lobby else f"Invited: {who}"


def _dial_in(audio: AudioConferencing) -> list[Card]:
    """One-tap links: markdown tel: links in TextBlocks, because Teams desktop and web ignore
    tel: URLs on Action.OpenUrl buttons (microsoft/AdaptiveCards#3905, msteams-docs#8133)."""
    items = [_DIAL_IN_HEADER]
    suffix = f",,{audio.conference_id}#" if audio.conference_id else ""
    for numbers, kind in ((audio.toll_numbers, "toll"), (audio.toll_free_numbers, "toll-free")):
        for number in numbers:
            items.append(text(f"[{phone(number)}{suffix}]({audio.one_tap(number)}) · {kind}",
                              spacing="Small"))
    extra = [f"Conference ID: {audio.conference_id}#"] if audio.conference_id else []
    if audio.dialin_url:
        extra.append(f"[Find a local number]({audio.dialin_url})")
    if extra:
        items.append(text(" · ".join(extra), spacing="Small"))
    return items


def _refresh(ref: str, version: int, user_ids: Sequence[str]) -> Card:
    return {"action": {"type": "Action.Execute", "title": "Refresh", "verb": VERB_REFRESH,
                       "data": meeting_data(VERB_REFRESH, ref, version)},
            "userIds": list(user_ids[:MAX_REFRESH_USERS])}


def meeting_card(meeting: Meeting, user_time: UserTime, *, ref: str | None = None,
                 version: int = 0, organizer_view: bool = False,
                 refresh_user_ids: Sequence[str] = (), now: datetime | None = None,
                 date_reading: str | None = None) -> CardMessage:
    """The card for one meeting, drawn in `user_time`'s zone.

    `ref` is MeetBot's record of the meeting: its buttons carry that and nothing else. Without
    one the card has only Join. `organizer_view` adds Extend / End; `refresh_user_ids` (Teams
    user MRIs, "29:…") makes Teams ask the bot for each listed user's own view (Universal
    Actions user-specific views). `date_reading` (MeetingRequest.date_reading) says how an
    ambiguous "12/9" was read.
    """
    subject = meeting.subject or "Teams meeting"
    times = when(meeting.start, meeting.end, user_time, now or datetime.now(UTC))
    body: list[Card] = [title(md(subject)), text(times, isSubtle=True, spacing="None")]
    if date_reading:
        body.append(note(md(date_reading), spacing="None"))
        times = f"{times} · {date_reading}"
    if meeting.ended:
        body.append(_ENDED)
        summary = f"{subject} · {times} · This meeting has ended."
        return CardMessage(card(body, fallback_text=summary), summary)

    facts = []
    if meeting.meeting_code:
        facts.append({"title": "Meeting ID", "value": group3(meeting.meeting_code)})
    if meeting.passcode:
        facts.append({"title": "Passcode", "value": md(meeting.passcode)})
    if facts:
        body.append({"type": "FactSet", "facts": facts, "spacing": "Medium"})
    if meeting.audio is not None:
        body.extend(_dial_in(meeting.audio))
    else:
        body.append(_NO_AUDIO)
    body += footer(meeting, _invited(meeting))

    actions = [open_url("Join meeting", meeting.join_url, style="positive")]
    add = add_to_calendar(meeting, now or datetime.now(UTC), organizer_view=organizer_view)
    if add:
        actions.append(add)
    if organizer_view and ref:
        actions.append(execute(f"Extend {EXTEND_MINUTES} min", meeting_data(VERB_EXTEND, ref, version)))
        actions.append(execute("End meeting", meeting_data(VERB_END, ref, version), style="destructive"))

    summary = f"{subject} · {times} · Join: {meeting.join_url}"
    out = card(body, actions, fallback_text=summary)
    if refresh_user_ids and ref:
        out["refresh"] = _refresh(ref, version, refresh_user_ids)
    return CardMessage(out, summary)
