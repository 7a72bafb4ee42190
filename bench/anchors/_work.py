"""The one piece of work every anchor bot does per command, shared so the anchors differ only
in their hosting stack: parse `meet now 30m about …`, build the Graph request body, render the
Adaptive Card 1.5 from Graph's onlineMeeting. Standard library only (it runs in both venvs)."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

_COMMAND = re.compile(r"^\s*meet now (\d+)m about (.+?)\s*$", re.IGNORECASE)


def parse(text: str) -> tuple[int, str] | None:
    """(minutes, subject) for `meet now <N>m about <subject>`, else None."""
    m = _COMMAND.match(text or "")
    return (int(m.group(1)), m.group(2)) if m else None


def graph_body(minutes: int, subject: str) -> dict[str, Any]:
    start = datetime.now(UTC)
    return {"startDateTime": start.isoformat(), "endDateTime": (start + timedelta(minutes=minutes)).isoformat(),
            "subject": subject}


def meeting_card(meeting: dict[str, Any]) -> dict[str, Any]:
    """Join button, meeting ID + passcode, one-tap dial-in links with the conference ID, dial-in link."""
    ids = meeting.get("joinMeetingIdSettings") or {}
    audio = meeting.get("audioConferencing") or {}
    conf = audio.get("conferenceId", "")
    facts = [{"title": "Meeting ID", "value": ids.get("joinMeetingId", "")},
             {"title": "Passcode", "value": ids.get("passcode") or "none"}]
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": meeting.get("subject") or "Meeting", "weight": "Bolder", "size": "Medium",
         "wrap": True},
        {"type": "TextBlock", "text": f"{meeting.get('startDateTime', '')} – {meeting.get('endDateTime', '')}",
         "isSubtle": True, "wrap": True},
        {"type": "FactSet", "facts": facts},
    ]
    numbers = list(audio.get("tollNumbers") or []) + list(audio.get("tollFreeNumbers") or [])
    if numbers:
        body.append({"type": "TextBlock", "wrap": True, "text": "Dial in: " + ", ".join(
            f"[{n}](tel:{n},,{conf}#)" for n in numbers) + f" (conference ID {conf}#)"})
    actions = [{"type": "Action.OpenUrl", "title": "Join", "url": meeting.get("joinWebUrl", "")}]
    if audio.get("dialinUrl"):
        actions.append({"type": "Action.OpenUrl", "title": "Local numbers", "url": audio["dialinUrl"]})
    return {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.5", "body": body, "actions": actions}
