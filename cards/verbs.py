"""Card-action verbs that act on no meeting (the meeting verbs live in cards/actions.py).

VERB_RUN_COMMAND: `{"verb": "command.run", "text": "<a command>"}`, the "Did you mean …?" button
on an error card. The router runs `text` as if the person who clicked had typed it in that
conversation. Like any typed message it is untrusted input: it goes through the grammar again,
and nothing else in the data is used.
"""
from __future__ import annotations

from typing import Any

VERB_RUN_COMMAND = "command.run"


def run_command_data(text: str) -> dict[str, Any]:
    return {"verb": VERB_RUN_COMMAND, "text": text}
