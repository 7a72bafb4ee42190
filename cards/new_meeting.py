"""The "new meeting" card: pick a length, optionally a subject, and press Meet now."""
from __future__ import annotations

from bot.errors import EXAMPLE
from bot.models import MAX_SUBJECT
from cards.actions import (
    DEFAULT_MINUTES,
    DURATION_CHOICES,
    INPUT_MINUTES,
    INPUT_SUBJECT,
    create_data,
)
from cards.base import CardMessage, card, execute, text, title


def _length(minutes: int) -> str:
    return f"{minutes // 60} hour" if minutes == 60 else f"{minutes} min"


_CHOICES = [{"title": _length(m), "value": str(m)} for m in DURATION_CHOICES]
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
    ]
    actions = [execute("Meet now", create_data(), style="positive")]
    return CardMessage(card(body, actions, fallback_text=_SUMMARY), _SUMMARY)
