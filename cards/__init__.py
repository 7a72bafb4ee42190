"""Adaptive Cards (1.5, as Teams renders them) as plain dicts, plus plain-text summaries.

One module per card: meeting.py (meeting_card, with calendar.py's lines about calendars and
options), new_meeting.py (new_meeting_card), messages.py (help_card, error_card, consent_card);
actions.py is the card-action contract shared with the router. Every builder takes `tr`
(bot.i18n.Translator: the words and date formats of the person it is for; English by default).
Nothing here imports botbuilder.
"""
from cards.base import CardMessage
from cards.meeting import meeting_card
from cards.messages import consent_card, error_card, help_card
from cards.new_meeting import new_meeting_card

__all__ = ["CardMessage", "consent_card", "error_card", "help_card", "meeting_card",
           "new_meeting_card"]
