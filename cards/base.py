"""What every builder returns, and the few element shapes all cards share.

Cards are plain dicts (Adaptive Card 1.5, the newest Teams renders). Builders may embed the
module-level constant elements in several cards, so treat a built card as read-only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SCHEMA_URL = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"  # Universal Actions (Action.Execute, refresh) need >= 1.4; Teams renders <= 1.5

Card = dict[str, Any]


@dataclass(frozen=True, slots=True)
class CardMessage:
    """An Adaptive Card plus the plain text for clients (and notifications) without cards."""

    card: Card
    summary: str


def card(body: list[Card], actions: list[Card] | None = None, *, fallback_text: str) -> Card:
    out: Card = {"type": "AdaptiveCard", "$schema": SCHEMA_URL, "version": VERSION,
                 "fallbackText": fallback_text, "body": body}
    if actions:
        out["actions"] = actions
    return out


def title(text: str) -> Card:
    return {"type": "TextBlock", "text": text, "style": "heading", "wrap": True}


def text(value: str, **style: Any) -> Card:
    return {"type": "TextBlock", "text": value, "wrap": True, **style}


def note(value: str, **style: Any) -> Card:
    """Small grey print: request IDs, footnotes."""
    return {"type": "TextBlock", "text": value, "wrap": True, "size": "Small", "isSubtle": True,
            **style}


def open_url(title_: str, url: str, **extra: Any) -> Card:
    return {"type": "Action.OpenUrl", "title": title_, "url": url, **extra}


def execute(title_: str, data: dict[str, Any], **extra: Any) -> Card:
    """Action.Execute whose data carries the verb; older clients fall back to an Action.Submit
    with the same data, so both reach the same handler (see cards/actions.py)."""
    return {"type": "Action.Execute", "title": title_, "verb": data["verb"], "data": data,
            "fallback": {"type": "Action.Submit", "title": title_, "data": data}, **extra}
