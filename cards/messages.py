"""Help, error and consent cards: words come from the caller (bot.errors.describe), layout here."""
from __future__ import annotations

import re
from typing import Any

from bot.errors import UserMessage
from cards.actions import run_command_data
from cards.base import Card, CardMessage, card, execute, note, open_url, text, title
from cards.text import md

# Adaptive Card markdown has no code spans; the catalogue's `commands` are shown in bold.
_CODE = re.compile(r"`([^`]+)`")

_EXAMPLES = (
    ("meet", "a 30-minute meeting now (in a channel: a form to set it up)"),
    ("meet now 30m about budget review", "starts now, for 30 minutes"),
    ("meet tomorrow 9:30 for 1h about planning with @Ana", "a later start, and an invite"),
    ("meet on Dec 9 at 10am about roadmap", "a date: Dec 9, 9 December, the 9th, 2026-12-09"),
    ("meet at 3pm", "starts at 3 pm"),
    ("meet in 10 min for 20 min about X", "starts in 10 minutes"),
    ("meet with everyone about all hands", "invites everyone in this team or chat"),
    ("meet tomorrow 10am about planning, record, no chat",
     "options: record, no chat, presenters: organizer, lobby: everyone waits"),
    ("sign out", "forget your sign-in"),
    ("help", "this list"),
)
_VERBS = ("Instead of **meet**: **meeting**, **new meeting**, **start a meeting**, "
          "**schedule a meeting**, **set up a meeting**.")
_HELP_BODY: list[Card] = [
    # One TextBlock per example: markdown lists overflow the card edge in the JS renderer.
    *(text(f"**{cmd}** — {what}", spacing="Small") for cmd, what in _EXAMPLES),
    text(_VERBS, spacing="Small"),
    note("Times are in your Teams time zone; 12/9 is read in your Teams language's order. "
         "Put a subject with dates or times in it in quotes: meet \"Dec 9 retro\" at 3pm. "
         "In a channel or group chat, @mention me first.", spacing="Medium"),
]
_HELP_SUMMARY = "Type “meet now 30m about budget review”, or “help” for more examples."


def _bold_code(value: str) -> str:
    return _CODE.sub(r"**\1**", value)


def _plain(value: str) -> str:
    return value.replace("`", "").replace("**", "")


def help_card(reason: str | None = None) -> CardMessage:
    """The command grammar by example; `reason` (e.g. "I didn't recognise “hello”.") leads."""
    head = [title("Here's what I can do")]
    summary = _HELP_SUMMARY
    if reason:
        head = [title(reason), text("Here's what I can do:", spacing="Small")]
        summary = f"{reason.rstrip('.')}. {_HELP_SUMMARY}"
    return CardMessage(card(head + _HELP_BODY, fallback_text=summary), summary)


def _message_body(msg: UserMessage) -> list[Card]:
    body = [title(msg.title), text(_bold_code(msg.text), spacing="Small")]
    if msg.suggestion:
        body.append(text(f"Did you mean **{md(msg.suggestion)}**?", spacing="Small"))
    elif msg.example:
        body.append(text(f"Try: **{msg.example}**", spacing="Small"))
    if msg.request_id:
        body.append(note(f"Request ID: {msg.request_id}", spacing="Medium"))
    return body


def _summary(msg: UserMessage) -> str:
    summary = f"{msg.title}. {_plain(msg.text)}"
    if msg.suggestion:
        return f"{summary} Did you mean: {msg.suggestion}?"
    return f"{summary} Try: {msg.example}" if msg.example else summary


def error_card(msg: UserMessage, *, retry: dict[str, Any] | None = None) -> CardMessage:
    """`retry`: data for a "Try again" button (actions.retry_data) when trying again is safe.
    A message with a suggestion gets a button that runs the corrected command."""
    summary = _summary(msg)
    actions = []
    if msg.suggestion:
        actions.append(execute("Yes, run that", run_command_data(msg.suggestion)))
    if retry:
        actions.append(execute(msg.retry_title, retry))
    return CardMessage(card(_message_body(msg), actions, fallback_text=summary), summary)


def consent_card(msg: UserMessage, *, admin_consent_url: str | None = None) -> CardMessage:
    """Consent is missing. The router sends the OAuthCard for the user's own consent; this card
    explains, and offers the admin-consent link when there is one."""
    actions = [open_url("Ask your admin", admin_consent_url)] if admin_consent_url else None
    summary = _summary(msg)
    return CardMessage(card(_message_body(msg), actions, fallback_text=summary), summary)
