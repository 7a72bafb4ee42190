"""Adaptive Cards (1.5, as Teams renders them) as plain dicts, plus plain-text summaries.

One module per card: meeting.py (meeting_card), new_meeting.py (new_meeting_card),
messages.py (help_card, error_card, consent_card); actions.py is the card-action contract shared
with the router. Nothing here imports botbuilder.
"""
