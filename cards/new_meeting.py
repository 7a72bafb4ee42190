"""The "new meeting" card: pick a length, optionally a subject and meeting options, and press
Meet now. The options are the ones typed commands take (bot/options.py); bot/card_input.py
reads them back, accepting only the values offered here."""
from __future__ import annotations

from bot.errors import EXAMPLE
from bot.models import MAX_SUBJECT, Lobby, Presenters
from cards.actions import (
    DEFAULT_MINUTES,
    DURATION_CHOICES,
    INPUT_MINUTES,
    INPUT_SUBJECT,
    create_data,
)
from cards.base import Card, CardMessage, card, execute, text, title


def _length(minutes: int) -> str:
    return f"{minutes // 60} hour" if minutes == 60 else f"{minutes} min"


_CHOICES = [{"title": _length(m), "value": str(m)} for m in DURATION_CHOICES]

# The form's option inputs: their ids, and every value each may send back ("" = Teams' default).
INPUT_PRESENTERS = "presenters"
INPUT_LOBBY = "lobby"
INPUT_RECORD = "record"  # Input.Toggle: "true" records automatically
INPUT_CHAT = "chat"  # Input.Toggle: "false" turns the meeting chat off
TEAMS_DEFAULT = ""
PRESENTER_CHOICES = {TEAMS_DEFAULT: "Teams default", Presenters.ORGANIZER.value: "Only me",
                     Presenters.ORGANIZATION.value: "My organisation",
                     Presenters.EVERYONE.value: "Everyone"}
LOBBY_CHOICES = {TEAMS_DEFAULT: "Teams default", Lobby.EVERYONE_WAITS.value: "Everyone waits",
                 Lobby.ORGANIZATION_SKIPS.value: "My organisation skips",
                 Lobby.EVERYONE_SKIPS.value: "Everyone skips"}
TOGGLE_ON, TOGGLE_OFF = "true", "false"


def _choose(input_id: str, label: str, choices: dict[str, str]) -> Card:
    return {"type": "Column", "width": "stretch", "items": [
        {"type": "Input.ChoiceSet", "id": input_id, "label": label, "style": "compact",
         "value": TEAMS_DEFAULT,
         "choices": [{"title": title, "value": value} for value, title in choices.items()]}]}


_OPTIONS: list[Card] = [
    {"type": "ColumnSet", "spacing": "Small", "columns": [
        _choose(INPUT_PRESENTERS, "Who can present", PRESENTER_CHOICES),
        _choose(INPUT_LOBBY, "Lobby", LOBBY_CHOICES)]},
    {"type": "Input.Toggle", "id": INPUT_RECORD, "title": "Record automatically",
     "value": TOGGLE_OFF, "valueOn": TOGGLE_ON, "valueOff": TOGGLE_OFF, "spacing": "Small"},
    {"type": "Input.Toggle", "id": INPUT_CHAT, "title": "Meeting chat",
     "value": TOGGLE_ON, "valueOn": TOGGLE_ON, "valueOff": TOGGLE_OFF, "spacing": "None"},
]
_SUMMARY = f"Start a Teams meeting: type “{EXAMPLE}”."


def new_meeting_card(*, default_minutes: int = DEFAULT_MINUTES,
                     subject_placeholder: str = "e.g. Budget review",
                     subject: str = "") -> CardMessage:
    """`subject` pre-fills the form (the compose-box action started from a message)."""
    if default_minutes not in DURATION_CHOICES:
        raise ValueError(f"default_minutes must be one of {DURATION_CHOICES}")
    body = [
        title("Start a Teams meeting"),
        text("Get a join link, meeting ID and dial-in numbers to share.", isSubtle=True,
             spacing="None"),
        {"type": "ColumnSet", "spacing": "Medium", "columns": [
            {"type": "Column", "width": "stretch", "items": [
                {"type": "Input.Text", "id": INPUT_SUBJECT, "label": "Subject (optional)",
                 "placeholder": subject_placeholder, "maxLength": MAX_SUBJECT,
                 **({"value": subject[:MAX_SUBJECT]} if subject else {})}]},
            {"type": "Column", "width": "110px", "items": [
                {"type": "Input.ChoiceSet", "id": INPUT_MINUTES, "label": "Length",
                 "style": "compact", "value": str(default_minutes), "isRequired": True,
                 "errorMessage": "Pick a length", "choices": _CHOICES}]},
        ]},
        *_OPTIONS,
    ]
    actions = [execute("Meet now", create_data(), style="positive")]
    return CardMessage(card(body, actions, fallback_text=_SUMMARY), _SUMMARY)
