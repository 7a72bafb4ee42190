"""The "new meeting" card: pick a length, optionally a subject, and press Meet now."""
from __future__ import annotations

from bot.errors import EXAMPLE
from bot.i18n import ENGLISH, Translator
from bot.models import MAX_SUBJECT
from cards.actions import (
    DEFAULT_MINUTES,
    DURATION_CHOICES,
    INPUT_MINUTES,
    INPUT_SUBJECT,
    create_data,
)
from cards.base import CardMessage, card, execute, text, title


def _length(minutes: int, tr: Translator) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return tr.ngettext("{n} hour", "{n} hours", hours).format(n=hours)
    _ = tr.gettext
    return _("{n} min").format(n=minutes)


def new_meeting_card(*, default_minutes: int = DEFAULT_MINUTES,
                     subject_placeholder: str | None = None, subject: str = "",
                     tr: Translator = ENGLISH) -> CardMessage:
    """`subject` pre-fills the form (the compose-box action started from a message); the
    placeholder defaults to an example subject in `tr`'s language."""
    if default_minutes not in DURATION_CHOICES:
        raise ValueError(f"default_minutes must be one of {DURATION_CHOICES}")
    _ = tr.gettext
    summary = _("Start a Teams meeting: type “{command}”.").format(command=_(EXAMPLE))
    choices = [{"title": _length(m, tr), "value": str(m)} for m in DURATION_CHOICES]
    body = [
        title(_("Start a Teams meeting")),
        text(_("Get a join link, meeting ID and dial-in numbers to share."), isSubtle=True,
             spacing="None"),
        {"type": "ColumnSet", "spacing": "Medium", "columns": [
            {"type": "Column", "width": "stretch", "items": [
                {"type": "Input.Text", "id": INPUT_SUBJECT, "label": _("Subject (optional)"),
                 "placeholder": subject_placeholder or _("e.g. Budget review"),
                 "maxLength": MAX_SUBJECT,
                 **({"value": subject[:MAX_SUBJECT]} if subject else {})}]},
            {"type": "Column", "width": "110px", "items": [
                {"type": "Input.ChoiceSet", "id": INPUT_MINUTES, "label": _("Length"),
                 "style": "compact", "value": str(default_minutes), "isRequired": True,
                 "errorMessage": _("Pick a length"), "choices": choices}]},
        ]},
    ]
    actions = [execute(_("Meet now"), create_data(), style="positive")]
    return CardMessage(card(body, actions, fallback_text=summary), summary)
