"""The card-action contract shared by the card builders and the router.

Every button is an Action.Execute whose `data` holds `{"verb": …, …}`, so an older client that
falls back to Action.Submit sends the same keys as a message `value`. Meeting buttons' data is
the verb plus a compact meeting reference (`meeting_ref`): enough to call Graph (meetingId,
organizerId) and to redraw the card without a Graph call. Teams echoes it on every click, so
it stays small. The new-meeting form sends the verb plus its inputs (`minutes`, `subject`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from bot.errors import BadCardAction, ParseError
from bot.grammar import DEFAULT_SUBJECT, MAX_SUBJECT
from bot.models import (AttendeeScope, AudioConferencing, Meeting, MeetingRequest, Person,
                        UserTime)

VERB_CREATE = "meeting.create"
VERB_EXTEND = "meeting.extend"
VERB_END = "meeting.end"
VERB_REFRESH = "meeting.refresh"
VERB_RETRY = "meeting.retry"  # "Try again" after Graph didn't answer: same externalId
VERBS = frozenset({VERB_CREATE, VERB_EXTEND, VERB_END, VERB_REFRESH, VERB_RETRY})
MEETING_VERBS = frozenset({VERB_EXTEND, VERB_END, VERB_REFRESH})

EXTEND_MINUTES = 15
DURATION_CHOICES = (15, 30, 60)  # what the "new meeting" card offers, and all it may send back
DEFAULT_MINUTES = 30
INPUT_MINUTES = "minutes"  # Input.ChoiceSet id on the new-meeting card
INPUT_SUBJECT = "subject"  # Input.Text id on the new-meeting card

_UTC = timezone.utc


@dataclass(frozen=True, slots=True)
class CardAction:
    """A card click (or an automatic refresh), checked and decoded."""

    verb: str
    data: dict[str, Any] = field(default_factory=dict)  # the button's data plus inputs
    meeting: Meeting | None = None  # extend / end / refresh: decoded from data
    user_time: UserTime | None = None  # the zone the card was drawn in, when it was known
    minutes: int | None = None  # create: the chosen length (None: not sent)
    subject: str | None = None  # create: the typed subject, stripped (None: left empty)
    automatic: bool = False  # a refresh the client fired by itself, not a click
    retry: "Retry | None" = None  # retry: the command that failed


@dataclass(frozen=True, slots=True)
class Retry:
    """A command to create again with the externalId of its first try, so if the first try
    did reach Graph the same meeting comes back instead of a second one."""

    activity_id: str
    request: MeetingRequest


def _iso(moment: datetime) -> str:
    # Full precision: Extend adds to the end the card shows, and compares it with the store's.
    return moment.astimezone(_UTC).isoformat().replace("+00:00", "Z")


def meeting_ref(meeting: Meeting, user_time: UserTime | None = None) -> dict[str, Any]:
    """The compact meeting reference put into every meeting button's data (None values left out)."""
    ref: dict[str, Any] = {"meetingId": meeting.id, "subject": meeting.subject,
                           "start": _iso(meeting.start), "end": _iso(meeting.end),
                           "joinUrl": meeting.join_url}
    if meeting.organizer_id:
        ref["organizerId"] = meeting.organizer_id
    if meeting.external_id:
        ref["externalId"] = meeting.external_id
    if meeting.meeting_code:
        ref["code"] = meeting.meeting_code
    if meeting.passcode:
        ref["passcode"] = meeting.passcode
    audio = meeting.audio
    if audio is not None:
        ref["audio"] = {"conferenceId": audio.conference_id, "toll": list(audio.toll_numbers),
                        "tollFree": list(audio.toll_free_numbers), "dialinUrl": audio.dialin_url}
    if meeting.attendees:
        ref["invited"] = [p.name for p in meeting.attendees if p.name]
    if meeting.lobby_scope:
        ref["lobby"] = meeting.lobby_scope
    if user_time is not None and user_time.known:
        ref["tz"] = user_time.name
    return ref


def action_data(verb: str, ref: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"verb": verb} if ref is None else {"verb": verb, **ref}


# --- reading ---------------------------------------------------------------------------------
def _bad(why: str) -> BadCardAction:
    return BadCardAction(f"card action: {why}")


def _str(data: dict, key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _bad(f"{key} must be a non-empty string")
    return value


def _strs(data: dict, key: str) -> tuple[str, ...]:
    value = data.get(key, ())
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _bad(f"{key} must be a list of strings")
    return tuple(value)


def _https(data: dict, key: str, *, required: bool = False) -> str | None:
    url = _str(data, key, required=required)
    if url is not None and not url.startswith("https://"):
        raise _bad(f"{key} must be an https URL")
    return url


def _time(data: dict, key: str) -> datetime:
    try:
        moment = datetime.fromisoformat(_str(data, key, required=True))
    except ValueError:
        raise _bad(f"{key} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise _bad(f"{key} has no UTC offset")
    return moment.astimezone(_UTC)


@lru_cache(maxsize=256)
def _zone(name: str) -> UserTime:
    try:
        return UserTime(ZoneInfo(name), name, True)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise _bad("tz is not an IANA time zone") from None


def _audio(value: Any) -> AudioConferencing | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("audio must be an object")
    return AudioConferencing(conference_id=_str(value, "conferenceId"),
                             toll_numbers=_strs(value, "toll"),
                             toll_free_numbers=_strs(value, "tollFree"),
                             dialin_url=_https(value, "dialinUrl"))


def meeting_from_ref(ref: Any) -> Meeting:
    """The Meeting a button's data describes (the keys `meeting_ref` wrote; others ignored)."""
    if not isinstance(ref, dict):
        raise _bad("meeting reference missing")
    start, end = _time(ref, "start"), _time(ref, "end")
    if end < start:
        raise _bad("meeting ends before it starts")
    subject = ref.get("subject", "")
    if not isinstance(subject, str):
        raise _bad("subject must be a string")
    return Meeting(id=_str(ref, "meetingId", required=True),
                   join_url=_https(ref, "joinUrl", required=True),
                   subject=subject, start=start, end=end,
                   meeting_code=_str(ref, "code"), passcode=_str(ref, "passcode"),
                   audio=_audio(ref.get("audio")),
                   organizer_id=_str(ref, "organizerId"), external_id=_str(ref, "externalId"),
                   attendees=tuple(Person(name=n) for n in _strs(ref, "invited")),
                   lobby_scope=_str(ref, "lobby"), created=False)


def _minutes(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if type(value) is not int or value not in DURATION_CHOICES:  # noqa: E721 - bool is no length
        raise _bad(f"{INPUT_MINUTES} must be one of {DURATION_CHOICES}")
    return value


def _subject(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"{INPUT_SUBJECT} must be a string")
    return " ".join(value.split()) or None


def request_from_form(data: dict[str, Any], *, now: datetime,
                      user_time: UserTime) -> MeetingRequest:
    """The new-meeting card's inputs as the grammar would have read them: starting now."""
    minutes = _minutes(data.get(INPUT_MINUTES)) or DEFAULT_MINUTES
    subject = _subject(data.get(INPUT_SUBJECT))
    if subject and len(subject) > MAX_SUBJECT:
        raise ParseError(f"The subject is {len(subject)} characters long; please keep it under "
                         f"{MAX_SUBJECT}")
    start = now.astimezone(user_time.tz)
    return MeetingRequest(subject=subject or DEFAULT_SUBJECT, start=start,
                          end=start + timedelta(minutes=minutes), starts_now=True,
                          subject_given=subject is not None)


def retry_data(activity_id: str, request: MeetingRequest) -> dict[str, Any]:
    """The "Try again" button's data: the first try's activity id and what was asked."""
    data: dict[str, Any] = {"verb": VERB_RETRY, "activityId": activity_id,
                            "subject": request.subject,
                            "minutes": int(request.duration.total_seconds() // 60)}
    if not request.starts_now:
        data["start"] = _iso(request.start)
    if request.attendees:
        data["invited"] = [[p.name, p.aad_object_id] for p in request.attendees[:50]]
    if request.scope.value != "none":
        data["scope"] = request.scope.value
    return data


def _retry(data: dict[str, Any], now: datetime) -> Retry:
    minutes = data.get("minutes")
    if type(minutes) is not int or not 1 <= minutes <= 24 * 60:  # noqa: E721
        raise _bad("minutes must be a whole number of minutes")
    subject = data.get("subject")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > MAX_SUBJECT:
        raise _bad("subject must be a short string")
    start = _time(data, "start") if "start" in data else now
    invited = data.get("invited", [])
    if not isinstance(invited, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
            for p in invited):
        raise _bad("invited must be [name, id] pairs")
    try:
        scope = AttendeeScope(data.get("scope", "none"))
    except ValueError:
        raise _bad("unknown scope") from None
    request = MeetingRequest(
        subject=subject, start=start, end=start + timedelta(minutes=minutes),
        starts_now="start" not in data, subject_given=True, scope=scope,
        attendees=tuple(Person(name=n, aad_object_id=o) for n, o in invited))
    return Retry(_str(data, "activityId", required=True), request)


def form_key(activity_id: str, data: dict[str, Any]) -> str:
    """Idempotency key for a form click: the card's activity plus what was chosen, so a
    redelivered or double click gets the same meeting and a changed form gets a new one."""
    chosen = f"{data.get(INPUT_MINUTES)}\x1f{_subject(data.get(INPUT_SUBJECT)) or ''}"
    return f"{activity_id}:{hashlib.blake2b(chosen.encode(), digest_size=8).hexdigest()}"


def read_action(value: Any) -> CardAction:
    """Decode an Action.Execute invoke value (`{"action": {"type", "verb", "data"}, "trigger"}`)
    or an Action.Submit message value (`{"verb": …, …data, …inputs}`).

    Raises BadCardAction for anything malformed: wrong types, no or unknown verb, a meeting
    button without a readable meeting reference, an input value the card never offered.
    """
    if not isinstance(value, dict):
        raise _bad("value must be an object")
    automatic = False
    action = value.get("action")
    if action is not None:  # adaptiveCard/action invoke
        if not isinstance(action, dict) or action.get("type", "Action.Execute") != "Action.Execute":
            raise _bad("action must be an Action.Execute object")
        verb, data = action.get("verb"), action.get("data", {})
        if not isinstance(data, dict):
            raise _bad("data must be an object")
        automatic = value.get("trigger") == "automatic"
    else:  # Action.Submit: the data (with inputs merged in) is the value itself
        verb, data = value.get("verb"), value
    if not isinstance(verb, str) or verb not in VERBS:
        raise _bad(f"unknown verb {verb!r}")
    if verb == VERB_CREATE:
        return CardAction(verb, data, minutes=_minutes(data.get(INPUT_MINUTES)),
                          subject=_subject(data.get(INPUT_SUBJECT)))
    if verb == VERB_RETRY:
        return CardAction(verb, data, retry=_retry(data, datetime.now(_UTC)))
    tz = _str(data, "tz")
    return CardAction(verb, data, meeting=meeting_from_ref(data),
                      user_time=_zone(tz) if tz else None,
                      automatic=automatic and verb == VERB_REFRESH)
