"""Help, error and consent cards: words come from the caller (bot.errors.describe) or the
catalogues (bot/i18n.py), layout here."""
from __future__ import annotations

import functools
import re
from typing import Any

from bot.errors import EXAMPLE, UserMessage
from bot.i18n import ENGLISH, N_, SOURCE_LANGUAGE, Translator, translator
from cards.actions import run_command_data
from cards.base import Card, CardMessage, card, execute, note, open_url, text, title
from cards.text import md

# Adaptive Card markdown has no code spans; the catalogue's `commands` are shown in bold.
_CODE = re.compile(r"`([^`]+)`")

# The commands by example, each language's own: the grammar reads every translation of these
# commands (tests/test_grammar*.py keep it so).
_EXAMPLES = (
    (N_("meet"), N_("a 30-minute meeting now (in a channel: a form to set it up)")),
    (EXAMPLE, N_("starts now, for 30 minutes")),
    (N_("meet tomorrow 9:30 for 1h about planning with @Ana"),
     N_("a later start, and an invite")),
    (N_("meet at 3pm"), N_("starts at 3 pm")),
    (N_("meet in 10 min for 20 min about X"), N_("starts in 10 minutes")),
    (N_("meet with everyone about all hands"), N_("invites everyone in this team or chat")),
    # The option words are English's in every language (bot/options.py reads them first).
    (N_("meet tomorrow 10am about planning, record, no chat"),
     N_("options: record, no chat, presenters: organizer, lobby: everyone waits")),
    (N_("sign out"), N_("forget your sign-in")),
    (N_("help"), N_("this list")),
)
# English's own lines: its date forms and its other verbs. Other languages say instead that
# English commands always work too.
_DATE_EXAMPLE = ("meet on Dec 9 at 10am about roadmap",
                 "a date: Dec 9, 9 December, the 9th, 2026-12-09")
_VERBS = ("Instead of **meet**: **meeting**, **new meeting**, **start a meeting**, "
          "**schedule a meeting**, **set up a meeting**.")


def _example(command: str, what: str) -> Card:
    # One TextBlock per example: markdown lists overflow the card edge in the JS renderer.
    return text(f"**{command}** — {what}", spacing="Small")


@functools.cache
def _help_body(language: str) -> list[Card]:
    """Built once per language."""
    _ = translator(language).gettext
    body = [_example(_(command), _(what)) for command, what in _EXAMPLES]
    if language == SOURCE_LANGUAGE:
        body.insert(3, _example(*_DATE_EXAMPLE))
        body.append(text(_VERBS, spacing="Small"))
    else:
        body.append(text(_("English commands always work too, like **{command}**.").format(
            command=EXAMPLE), spacing="Small"))
    body.append(note(_(
        "Times are in your Teams time zone; 12/9 is read in your Teams language's order. "
        "Put a subject with dates or times in it in quotes: meet \"Dec 9 retro\" at 3pm. "
        "In a channel or group chat, @mention me first."), spacing="Medium"))
    return body


def _bold_code(value: str) -> str:
    return _CODE.sub(r"**\1**", value)


def _plain(value: str) -> str:
    return value.replace("`", "").replace("**", "")


def help_card(reason: str | None = None, *, tr: Translator = ENGLISH) -> CardMessage:
    """The command grammar by example; `reason` (e.g. "I didn't recognise “hello”.") leads."""
    _ = tr.gettext
    head = [title(_("Here's what I can do"))]
    summary = _("Type “meet now 30m about budget review”, or “help” for more examples.")
    if reason:
        head = [title(reason), text(_("Here's what I can do:"), spacing="Small")]
        summary = f"{reason.rstrip('.')}. {summary}"
    return CardMessage(card(head + _help_body(tr.language), fallback_text=summary), summary)


def _message_body(msg: UserMessage, tr: Translator) -> list[Card]:
    _ = tr.gettext
    body = [title(msg.title), text(_bold_code(msg.text), spacing="Small")]
    if msg.suggestion:
        body.append(text(_("Did you mean **{command}**?").format(command=md(msg.suggestion)),
                         spacing="Small"))
    elif msg.example:
        body.append(text(_("Try: **{command}**").format(command=msg.example), spacing="Small"))
    if msg.request_id:
        body.append(note(_("Request ID: {id}").format(id=msg.request_id), spacing="Medium"))
    return body


def _summary(msg: UserMessage, tr: Translator) -> str:
    _ = tr.gettext
    summary = f"{msg.title}. {_plain(msg.text)}"
    if msg.suggestion:
        return f"{summary} " + _("Did you mean: {command}?").format(command=msg.suggestion)
    if msg.example:
        return f"{summary} " + _("Try: {command}").format(command=msg.example)
    return summary


def error_card(msg: UserMessage, *, retry: dict[str, Any] | None = None,
               tr: Translator = ENGLISH) -> CardMessage:
    """`retry`: data for a "Try again" button (actions.retry_data) when trying again is safe.
    A message with a suggestion gets a button that runs the corrected command. `msg` is in
    `tr`'s language already (bot.errors.describe); the card's own words are translated here."""
    _ = tr.gettext
    summary = _summary(msg, tr)
    actions = []
    if msg.suggestion:
        actions.append(execute(_("Yes, run that"), run_command_data(msg.suggestion)))
    if retry:
        actions.append(execute(msg.retry_title, retry))
    return CardMessage(card(_message_body(msg, tr), actions, fallback_text=summary), summary)


def consent_card(msg: UserMessage, *, admin_consent_url: str | None = None,
                 tr: Translator = ENGLISH) -> CardMessage:
    """Consent is missing. The router sends the OAuthCard for the user's own consent; this card
    explains, and offers the admin-consent link when there is one."""
    _ = tr.gettext
    actions = [open_url(_("Ask your admin"), admin_consent_url)] if admin_consent_url else None
    summary = _summary(msg, tr)
    return CardMessage(card(_message_body(msg, tr), actions, fallback_text=summary), summary)
