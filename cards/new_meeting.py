"""The "new meeting" card: pick a length, optionally a subject and meeting options, and press
Meet now. The options are the ones typed commands take (bot/options.py); bot/card_input.py
reads them back, accepting only the values offered here."""
from __future__ import annotations

import functools

from bot.errors import EXAMPLE
from bot.i18n import ENGLISH, N_, Translator, translator
from bot.models import MAX_SUBJECT, Lobby, Presenters
from cards.actions import (
    DEFAULT_MINUTES,
    DURATION_CHOICES,
    INPUT_MINUTES,
    INPUT_SUBJECT,
    create_data,
)
from cards.base import Card, CardMessage, card, execute, text, title


def _length(minutes: int, tr: Translator) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return tr.ngettext("{n} hour", "{n} hours", hours).format(n=hours)
    _ = tr.gettext
    return _("{n} min").format(n=minutes)


# The form's option inputs: their ids, and every value each may send back ("" = Teams' default)
# with the words it is offered in (msgids: shown in the reader's language).
INPUT_PRESENTERS = "presenters"
INPUT_LOBBY = "lobby"
INPUT_RECORD = "record"  # Input.Toggle: "true" records automatically
INPUT_CHAT = "chat"  # Input.Toggle: "false" turns the meeting chat off
TEAMS_DEFAULT = "default"  # a value the renderer shows as selected (an empty one reads as none)
PRESENTER_CHOICES = {TEAMS_DEFAULT: N_("Teams default"), Presenters.ORGANIZER.value: N_("Only me"),
                     Presenters.ORGANIZATION.value: N_("My organisation"),
                     Presenters.EVERYONE.value: N_("Everyone")}
LOBBY_CHOICES = {TEAMS_DEFAULT: N_("Teams default"),
                 Lobby.EVERYONE_WAITS.value: N_("Everyone waits"),
                 Lobby.ORGANIZATION_SKIPS.value: N_("My organisation skips"),
                 Lobby.EVERYONE_SKIPS.value: N_("Everyone skips")}
TOGGLE_ON, TOGGLE_OFF = "true", "false"


def _choose(input_id: str, label: str, choices: dict[str, str], tr: Translator) -> Card:
    return {"type": "Column", "width": "stretch", "items": [
        {"type": "Input.ChoiceSet", "id": input_id, "label": label, "style": "compact",
         "value": TEAMS_DEFAULT,
         "choices": [{"title": tr.gettext(title), "value": value}
                     for value, title in choices.items()]}]}


@functools.cache
def _options(language: str) -> list[Card]:
    """The option inputs in one language, built once per language."""
    tr = translator(language)
    _ = tr.gettext
    return [
        {"type": "ColumnSet", "spacing": "Small", "columns": [
            _choose(INPUT_PRESENTERS, _("Who can present"), PRESENTER_CHOICES, tr),
            _choose(INPUT_LOBBY, _("Lobby"), LOBBY_CHOICES, tr)]},
        {"type": "Input.Toggle", "id": INPUT_RECORD, "title": _("Record automatically"),
         "value": TOGGLE_OFF, "valueOn": TOGGLE_ON, "valueOff": TOGGLE_OFF, "spacing": "Small"},
        {"type": "Input.Toggle", "id": INPUT_CHAT, "title": _("Meeting chat"),
         "value": TOGGLE_ON, "valueOn": TOGGLE_ON, "valueOff": TOGGLE_OFF, "spacing": "None"},
    ]


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
        *_options(tr.language),
    ]
    actions = [execute(_("Meet now"), create_data(), style="positive")]
    return CardMessage(card(body, actions, fallback_text=summary), summary)
