"""The card-action contract: every button's verb and the data it carries.

Every button is an Action.Execute whose `data` is `{"verb": …, …}`, so an older client that
falls back to Action.Submit sends the same keys as a message `value`. A meeting button carries
only an opaque reference to MeetBot's own record of the meeting (bot/records.py): never a URL,
number or organizer the bot would believe. The handler for each verb is registered under the
same constant (bot/handlers.py); reading the data back is bot/card_input.py.
"""
from __future__ import annotations

from typing import Any

VERB_CREATE = "meeting.create"  # the new-meeting form's "Meet now"
VERB_EXTEND = "meeting.extend"
VERB_END = "meeting.end"
VERB_REFRESH = "meeting.refresh"  # Universal Actions refresh: one person's own view
VERB_RETRY = "meeting.retry"  # "Try again" after Graph didn't answer: same externalId
VERB_RUN_COMMAND = "command.run"  # "Did you mean …?": run the corrected command
VERBS = frozenset({VERB_CREATE, VERB_EXTEND, VERB_END, VERB_REFRESH, VERB_RETRY,
                   VERB_RUN_COMMAND})

EXTEND_MINUTES = 15
DURATION_CHOICES = (15, 30, 60)  # what the "new meeting" card offers, and all it may send back
DEFAULT_MINUTES = 30
INPUT_MINUTES = "minutes"  # Input.ChoiceSet id on the new-meeting card
INPUT_SUBJECT = "subject"  # Input.Text id on the new-meeting card
REF = "ref"  # the key of the opaque record reference in a button's data
# The record's version the card was drawn from: a click on an older drawing (a double click,
# a redelivered click) shows the newer state instead of changing the meeting again. Only the
# organizer can act at all, so a forged version can do no more than they could anyway.
VERSION = "v"
TEXT = "text"  # the key of the command a "Did you mean" button runs


def create_data() -> dict[str, Any]:
    return {"verb": VERB_CREATE}


def meeting_data(verb: str, ref: str, version: int = 0) -> dict[str, Any]:
    return {"verb": verb, REF: ref, VERSION: version}


def retry_data(ref: str) -> dict[str, Any]:
    return {"verb": VERB_RETRY, REF: ref}


def run_command_data(text: str) -> dict[str, Any]:
    return {"verb": VERB_RUN_COMMAND, TEXT: text}
