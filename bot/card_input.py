"""Reading a card click: an Action.Execute invoke value or an Action.Submit message value, into
one typed action per verb with only its own fields, each bounded.

Nothing read here is believed: a reference is a key to look up in MeetBot's own records, the
form's inputs are what a person may type anyway. Malformed data is a BadCardAction.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cards.actions import (
    DEFAULT_MINUTES,
    DURATION_CHOICES,
    INPUT_MINUTES,
    INPUT_SUBJECT,
    REF,
    TEXT,
    VERB_CREATE,
    VERB_END,
    VERB_EXTEND,
    VERB_REFRESH,
    VERB_RETRY,
    VERB_RUN_COMMAND,
    VERSION,
)
from cards.new_meeting import (
    INPUT_CHAT,
    INPUT_LOBBY,
    INPUT_PRESENTERS,
    INPUT_RECORD,
    LOBBY_CHOICES,
    PRESENTER_CHOICES,
    TEAMS_DEFAULT,
    TOGGLE_OFF,
    TOGGLE_ON,
)

from .errors import BadCardAction, ParseError
from .grammar import SUBJECT_TOO_LONG
from .models import (
    DEFAULT_SUBJECT,
    MAX_SUBJECT,
    Lobby,
    MeetingOptions,
    MeetingRequest,
    Presenters,
    UserTime,
)

MAX_REF = 64
MAX_COMMAND = 1000  # the longest "Did you mean" command a button may carry
MAX_INPUT = 4 * MAX_SUBJECT  # longer form input is refused before it is even cleaned up


@dataclass(frozen=True, slots=True)
class CreateFromForm:
    """The new-meeting form's Meet now: a length the card offered, an optional subject, and
    the meeting options chosen (none: Teams' defaults)."""

    minutes: int
    subject: str | None
    options: MeetingOptions = MeetingOptions()


@dataclass(frozen=True, slots=True)
class OnMeeting:
    """Extend, End or refresh of the meeting behind `ref`."""

    verb: str
    ref: str
    version: int | None  # the record version the card was drawn from (None: unreadable)
    automatic: bool = False  # a refresh the client fired by itself, not a click


@dataclass(frozen=True, slots=True)
class RetryCreate:
    ref: str


@dataclass(frozen=True, slots=True)
class RunCommand:
    text: str


CardInput = CreateFromForm | OnMeeting | RetryCreate | RunCommand


def _unreadable(why: str) -> BadCardAction:
    return BadCardAction(f"card action: {why}")


def _ref(data: dict[str, Any]) -> str:
    value = data.get(REF)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_REF:
        raise _unreadable("ref must be a short string")
    return value


def _minutes(value: Any) -> int:
    if value is None:
        return DEFAULT_MINUTES
    if isinstance(value, str) and value.isdigit() and len(value) < 4:
        value = int(value)
    if type(value) is not int or value not in DURATION_CHOICES:  # bool is no length
        raise _unreadable(f"{INPUT_MINUTES} must be one of {DURATION_CHOICES}")
    return value


def _subject(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_INPUT:
        raise _unreadable(f"{INPUT_SUBJECT} must be a short string")
    return " ".join(value.split()) or None


def _choice(data: dict[str, Any], input_id: str, offered: dict[str, str]) -> str | None:
    """A choice the form offered; None for Teams' default (or an older form without it)."""
    value = data.get(input_id, TEAMS_DEFAULT)
    if value == "":  # cleared, or a form from before the default had a value of its own
        return None
    if not isinstance(value, str) or value not in offered:
        raise _unreadable(f"{input_id} must be one of {sorted(offered)}")
    return None if value == TEAMS_DEFAULT else value


def _toggle(data: dict[str, Any], input_id: str) -> bool | None:
    value = data.get(input_id)
    if value is None:
        return None
    if value not in (TOGGLE_ON, TOGGLE_OFF):
        raise _unreadable(f"{input_id} must be {TOGGLE_ON!r} or {TOGGLE_OFF!r}")
    return bool(value == TOGGLE_ON)


def _options(data: dict[str, Any]) -> MeetingOptions:
    """Only what differs from Teams' defaults is asked for: recording when switched on, the
    chat when switched off."""
    presenters = _choice(data, INPUT_PRESENTERS, PRESENTER_CHOICES)
    lobby = _choice(data, INPUT_LOBBY, LOBBY_CHOICES)
    return MeetingOptions(presenters=Presenters(presenters) if presenters else None,
                          lobby=Lobby(lobby) if lobby else None,
                          record=True if _toggle(data, INPUT_RECORD) else None,
                          chat=False if _toggle(data, INPUT_CHAT) is False else None)


def read_action(value: Any) -> tuple[str, CardInput]:
    """(verb, action) from `{"action": {"type", "verb", "data"}, "trigger"}` (Action.Execute)
    or `{"verb": …, …data, …inputs}` (Action.Submit)."""
    if not isinstance(value, dict):
        raise _unreadable("value must be an object")
    automatic = False
    action = value.get("action")
    if action is not None:  # adaptiveCard/action invoke
        if not isinstance(action, dict) or action.get("type", "Action.Execute") != "Action.Execute":
            raise _unreadable("action must be an Action.Execute object")
        verb, data = action.get("verb"), action.get("data", {})
        if not isinstance(data, dict):
            raise _unreadable("data must be an object")
        automatic = value.get("trigger") == "automatic"
    else:  # Action.Submit: the data (with inputs merged in) is the value itself
        verb, data = value.get("verb"), value
    if verb == VERB_CREATE:
        return verb, CreateFromForm(_minutes(data.get(INPUT_MINUTES)),
                                    _subject(data.get(INPUT_SUBJECT)), _options(data))
    if verb in (VERB_EXTEND, VERB_END, VERB_REFRESH):
        version = data.get(VERSION)
        return verb, OnMeeting(verb, _ref(data), version if type(version) is int else None,
                               automatic and verb == VERB_REFRESH)
    if verb == VERB_RETRY:
        return verb, RetryCreate(_ref(data))
    if verb == VERB_RUN_COMMAND:
        text = data.get(TEXT)
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_COMMAND:
            raise _unreadable("text must be a short command")
        return verb, RunCommand(text)
    raise _unreadable("unknown verb")


def request_from_form(form: CreateFromForm, *, now: datetime,
                      user_time: UserTime) -> MeetingRequest:
    """The new-meeting card's inputs as the grammar would have read them: starting now."""
    if form.subject and len(form.subject) > MAX_SUBJECT:
        params = {"length": str(len(form.subject)), "limit": str(MAX_SUBJECT)}
        raise ParseError(SUBJECT_TOO_LONG.format(**params), template=SUBJECT_TOO_LONG,
                         params=params)
    start = now.astimezone(user_time.tz)
    return MeetingRequest(subject=form.subject or DEFAULT_SUBJECT, start=start,
                          end=start + timedelta(minutes=form.minutes), starts_now=True,
                          subject_given=form.subject is not None, options=form.options)


def click_key(card_activity_id: str, *parts: object) -> str:
    """Idempotency key for a click that creates: the card's message plus what was chosen, so
    a redelivered or double click gets the same meeting and a changed form gets a new one."""
    chosen = "\x1f".join("" if p is None else str(p) for p in parts)
    return f"{card_activity_id}:{hashlib.blake2b(chosen.encode(), digest_size=8).hexdigest()}"
