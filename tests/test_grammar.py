"""The command grammar, table-driven: what users type -> the meeting (or the reason it can't be).

Clocks are fixed per zone; expectations are wall-clock times in the user's zone, written out by
hand from a calendar (not computed with the code under test).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import ParseError, describe
from bot.grammar import DEFAULT_SUBJECT, Mention, month_first, parse, user_time_from
from bot.models import AttendeeScope, HelpRequest, MeetingRequest, Person, SignOutRequest

UTC = UTC

# Fixed clocks, one per zone.
BERLIN = "Europe/Berlin"  # Monday 2025-03-10 10:00 CET (+01:00)
LA = "America/Los_Angeles"  # Saturday 2025-03-08 20:00 PST; clocks go forward Sun 02:00 -> 03:00
KOLKATA = "Asia/Kolkata"  # Monday 2025-03-10 14:30 IST (+05:30)
UNKNOWN = None  # no zone from Teams: UTC, Monday 2025-03-10 09:00
BERLIN_LATE = "Europe/Berlin, late 2026"  # Monday 2026-11-30 10:00 CET: tomorrow is Tue 1 Dec
NOW = {
    BERLIN: datetime(2025, 3, 10, 9, 0, tzinfo=UTC),
    LA: datetime(2025, 3, 9, 4, 0, tzinfo=UTC),
    KOLKATA: datetime(2025, 3, 10, 9, 0, tzinfo=UTC),
    UNKNOWN: datetime(2025, 3, 10, 9, 0, tzinfo=UTC),
    BERLIN_LATE: datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
}
IANA = {BERLIN_LATE: BERLIN}  # clocks named by more than their zone

BOT = Mention("<at>MeetBot</at>", Person("MeetBot", teams_id="28:bot-app-id"), is_bot=True)
ANA = Person("Ana Lopez", aad_object_id="aad-ana", teams_id="29:ana")
BEN = Person("Ben Ode", aad_object_id="aad-ben", teams_id="29:ben")
JERRY = Person("Ben & Jerry", aad_object_id="aad-bj", teams_id="29:bj")
MENTIONS = (
    BOT,
    Mention("<at>Ana</at>", ANA, False),  # one person split into two tags, one id
    Mention("<at>Lopez</at>", ANA, False),
    Mention("<at>Ben Ode</at>", BEN, False),
    Mention("", JERRY, False),  # a name with & can come without text (botbuilder-js#2083)
)


@dataclass(frozen=True)
class Ok:
    """Expected MeetingRequest; None = not checked. `start` is wall-clock in the user's zone."""

    start: str | None = None
    minutes: float | None = 30
    subject: str | None = DEFAULT_SUBJECT
    starts_now: bool | None = None
    attendees: tuple[str, ...] | None = ()
    scope: AttendeeScope | None = None
    start_utc: str | None = None
    end: str | None = None
    reading_has: str | None = None  # in date_reading; "" = no reading expected


@dataclass(frozen=True)
class Bad:
    """Expected ParseError: `reason_has` must appear in the reason, `example_has` in the example;
    `suggestion` is the corrected command offered to run ("" = none offered)."""

    reason_has: str
    example_has: str | None = None
    suggestion: str | None = None


NOW_B = "2025-03-10 10:00"  # "now" as Berlin's wall clock
NOW_U = "2025-03-10 09:00"

GOOD = [
    # -- the commands --------------------------------------------------------------
    ("bare-meet", "meet", BERLIN, Ok(NOW_B, starts_now=True, scope=AttendeeScope.NONE)),
    ("meet-now", "meet now", BERLIN, Ok(NOW_B, starts_now=True)),
    ("now-30m-about", "meet now 30m about budget review", BERLIN,
     Ok(NOW_B, 30, "budget review", starts_now=True)),
    ("45-min-about", "meet 45 min about Q2 plan", BERLIN, Ok(NOW_B, 45, "Q2 plan")),
    ("1h30m-leftover-subject", "meet 1h30m Sprint review", BERLIN, Ok(NOW_B, 90, "Sprint review")),
    ("for-2-hours", "meet for 2 hours", BERLIN, Ok(NOW_B, 120)),
    ("90m-re-colon", "meet 90m re: hiring loop", BERLIN, Ok(NOW_B, 90, "hiring loop")),
    ("now-colon", "meet now: outage follow-up", BERLIN, Ok(NOW_B, 30, "outage follow-up")),
    ("half-an-hour", "meet half an hour about design", BERLIN, Ok(NOW_B, 30, "design")),
    ("at-15-for-1h", "meet at 15:00 for 1h about X", BERLIN,
     Ok("2025-03-10 15:00", 60, "X", starts_now=False)),
    ("at-3pm", "meet at 3pm", BERLIN, Ok("2025-03-10 15:00", starts_now=False)),
    ("tomorrow-930-45m", "meet tomorrow 9:30 45m about X", BERLIN, Ok("2025-03-11 09:30", 45, "X")),
    ("in-10-for-20", "meet in 10 min for 20 min about X", BERLIN,
     Ok("2025-03-10 10:10", 20, "X", starts_now=False)),
    ("monday-later-today", "meet monday 11am", BERLIN, Ok("2025-03-10 11:00")),
    ("monday-passed-next-week", "meet monday 9am", BERLIN, Ok("2025-03-17 09:00")),
    ("with-mentions", "meet now about incident 42 with <at>Ana</at> <at>Ben Ode</at>", BERLIN,
     Ok(NOW_B, 30, "incident 42", attendees=("aad-ana", "aad-ben"),
        scope=AttendeeScope.MENTIONED)),
    ("with-everyone", "meet with everyone about all hands", BERLIN,
     Ok(NOW_B, 30, "all hands", scope=AttendeeScope.EVERYONE)),
    ("with-the-team-trailing", "meet 1h about planning with the team", BERLIN,
     Ok(NOW_B, 60, "planning", scope=AttendeeScope.EVERYONE)),
    ("with-channel-first", "meet with channel 15m", BERLIN,
     Ok(NOW_B, 15, scope=AttendeeScope.EVERYONE)),
    # -- duration spellings ----------------------------------------------------------------
    ("30-mins", "meet 30 mins", UNKNOWN, Ok(NOW_U, 30)),
    ("30-minutes", "meet 30 minutes", UNKNOWN, Ok(NOW_U, 30)),
    ("1-hr", "meet 1 hr", UNKNOWN, Ok(NOW_U, 60)),
    ("1.5h", "meet 1.5h", UNKNOWN, Ok(NOW_U, 90)),
    ("1,5h-decimal-comma", "meet 1,5h", UNKNOWN, Ok(NOW_U, 90)),
    ("1h30", "meet 1h30", UNKNOWN, Ok(NOW_U, 90)),
    ("1-hour-30-minutes", "meet 1 hour 30 minutes", UNKNOWN, Ok(NOW_U, 90)),
    ("an-hour", "meet an hour", UNKNOWN, Ok(NOW_U, 60)),
    ("an-hour-and-a-half", "meet for an hour and a half", UNKNOWN, Ok(NOW_U, 90)),
    ("quarter-of-an-hour", "meet quarter of an hour about coffee", UNKNOWN,
     Ok(NOW_U, 15, "coffee")),
    ("two-hours-words", "meet two hours", UNKNOWN, Ok(NOW_U, 120)),
    ("for-1:30-as-length", "meet for 1:30", UNKNOWN, Ok(NOW_U, 90)),
    ("24h-is-the-limit", "meet 24h", UNKNOWN, Ok(NOW_U, 24 * 60)),
    ("1-minute-is-enough", "meet 1 min", UNKNOWN, Ok(NOW_U, 1)),
    # -- forgiving forms ---------------------------------------------------------------------
    ("MEET-upper-case", "MEET NOW 30M ABOUT Budget", UNKNOWN, Ok(NOW_U, 30, "Budget")),
    ("slash-meet", "/meet now", UNKNOWN, Ok(NOW_U, starts_now=True)),
    ("meeting-verb", "meeting in 5 minutes", UNKNOWN, Ok("2025-03-10 09:05", starts_now=False)),
    ("for-lunch-is-subject", "meet for lunch", UNKNOWN, Ok(NOW_U, 30, "for lunch")),
    ("on-as-subject-intro", "meet now on budget", UNKNOWN, Ok(NOW_U, 30, "budget")),
    ("on-friday-is-a-day", "meet on friday 2pm about retro", UNKNOWN,
     Ok("2025-03-14 14:00", 30, "retro")),
    ("next-monday", "meet next monday 10am", UNKNOWN, Ok("2025-03-17 10:00")),
    ("at-noon-tomorrow", "meet at noon tomorrow", UNKNOWN, Ok("2025-03-11 12:00")),
    ("9.30am-dot", "meet tomorrow at 9.30am", UNKNOWN, Ok("2025-03-11 09:30")),
    ("24h-bare-hour", "meet at 17", UNKNOWN, Ok("2025-03-10 17:00")),
    ("with-milk-stays-subject", "meet about coffee with milk", UNKNOWN,
     Ok(NOW_U, 30, "coffee with milk")),
    ("2024-is-subject", "meet 2024 planning", UNKNOWN, Ok(NOW_U, 30, "2024 planning")),
    # -- Teams text: mentions, HTML, punctuation ---------------------------------------------
    ("bot-name-kept-in-subject", "<at>MeetBot</at> meet now 30m about MeetBot pricing", BERLIN,
     Ok(NOW_B, 30, "MeetBot pricing")),
    ("nbsp-and-trailing-dot", "<at>MeetBot</at>&nbsp;meet now.", BERLIN, Ok(NOW_B, 30)),
    ("split-mention-one-attendee",
     "<at>MeetBot</at> meet now with <at>Ana</at> <at>Lopez</at>, <at>Ben Ode</at> "
     "and <at>Ana</at>",
     BERLIN, Ok(NOW_B, attendees=("aad-ana", "aad-ben"), scope=AttendeeScope.MENTIONED)),
    ("mention-in-subject-shows-tag", "meet about <at>Ana</at> <at>Lopez</at>'s farewell", BERLIN,
     Ok(NOW_B, 30, "Ana Lopez's farewell")),
    ("ampersand-mention-without-text", "meet now with <at>Ben &amp; Jerry</at>", BERLIN,
     Ok(NOW_B, attendees=("aad-bj",), scope=AttendeeScope.MENTIONED)),
    ("html-entities", "meet about R&amp;D &lt;sync&gt; &quot;v2&quot;", BERLIN,
     Ok(NOW_B, 30, 'R&D <sync> "v2"')),
    ("html-paragraph", "<p>meet 45m about plans</p>", BERLIN, Ok(NOW_B, 45, "plans")),
    ("trailing-punctuation", "meet now about launch!!!?", BERLIN, Ok(NOW_B, 30, "launch")),
    # -- zones and DST ---------------------------------------------------------------------
    ("kolkata-3pm", "meet at 3pm", KOLKATA, Ok("2025-03-10 15:00", start_utc="2025-03-10 09:30")),
    ("kolkata-2-minutes-ago-is-fine", "meet at 2:28pm", KOLKATA, Ok("2025-03-10 14:28")),
    ("kolkata-monday-passed", "meet monday 2pm", KOLKATA, Ok("2025-03-17 14:00")),
    ("kolkata-friday", "meet friday 9:30 about X", KOLKATA, Ok("2025-03-14 09:30", 30, "X")),
    ("la-tomorrow-after-dst", "meet tomorrow 9am", LA,
     Ok("2025-03-09 09:00", start_utc="2025-03-09 16:00")),
    ("la-in-10h-across-dst", "meet in 10h", LA,  # 20:00 PST + 10 elapsed hours = 07:00 PDT
     Ok("2025-03-09 07:00", start_utc="2025-03-09 14:00")),
    ("la-meeting-spans-the-switch", "meet at 11pm for 4h", LA,  # 4 real hours: ends 04:00 PDT
     Ok("2025-03-08 23:00", 240, end="2025-03-09 04:00")),
    ("unknown-zone-is-utc", "meet at 3pm", UNKNOWN,
     Ok("2025-03-10 15:00", start_utc="2025-03-10 15:00")),
]

BAD = [
    ("time-25:00", "meet at 25:00", BERLIN, Bad("25:00")),
    ("time-9:61", "meet at 9:61", BERLIN, Bad("9:61")),
    ("time-13pm", "meet 13pm", BERLIN, Bad("13pm")),
    ("ambiguous-hour", "meet at 3", BERLIN, Bad("at 3", "3pm")),
    ("zero-minutes", "meet 0m", BERLIN, Bad("0m")),
    ("25-hours", "meet 25h", BERLIN, Bad("25h", "meet 24h")),
    ("negative", "meet for -5 min", BERLIN, Bad("-5 min", "meet for 5 min")),
    ("two-days-long", "meet at 3pm for 2 days", BERLIN, Bad("2 days", "meet at 3pm for")),
    ("tomorrow-yesterday", "meet tomorrow yesterday", BERLIN, Bad("yesterday")),
    ("last-monday", "meet last monday 3pm", BERLIN, Bad("last monday", "meet next monday 3pm")),
    ("two-starts", "meet in 10 min at 3pm", BERLIN, Bad("at 3pm", "meet in 10 min")),
    ("now-and-time", "meet now at 3pm about X", BERLIN, Bad("at 3pm", "meet now about X")),
    ("two-durations", "meet 30m 45m", BERLIN, Bad("45m", "meet 30m")),
    ("two-times", "meet at 3pm 4pm", BERLIN, Bad("4pm")),
    ("two-days", "meet tomorrow friday 3pm", BERLIN, Bad("friday")),
    ("subject-too-long", "meet about " + "very long subject " * 15, BERLIN, Bad("characters")),
    ("past-today", "meet at 9am", BERLIN, Bad("9:00", "meet tomorrow at 9am")),
    ("past-today-keeps-subject", "meet at 9am about budget", BERLIN,
     Bad("9:00", "about budget")),
    ("past-today-explicit", "meet today 8:15", BERLIN, Bad("8:15", "meet tomorrow 8:15")),
    ("too-far-ahead", "meet in 90 days", BERLIN, Bad("90 days")),
    ("day-without-time", "meet tomorrow about X", BERLIN, Bad("tomorrow", "meet tomorrow 9am")),
    ("with-plain-name", "meet with Ana about X", BERLIN, Bad("with Ana", "meet about X")),
    ("number-without-unit", "meet 30 about X", BERLIN, Bad("“30”", "meet 30m about X")),
    ("about-nothing", "meet now about", BERLIN, Bad("about")),
    ("in-seconds", "meet in 30s", BERLIN, Bad("30s", "meet in 30 min")),
    ("for-a-time", "meet for 3pm", BERLIN, Bad("for 3pm")),
    ("la-dst-gap", "meet tomorrow 2:30am", LA, Bad("2:30", "at 3:30")),
    ("la-past", "meet at 7pm", LA, Bad("19:00", "tomorrow")),
    ("kolkata-past", "meet at 2pm", KOLKATA, Bad("14:00", "meet tomorrow at 2pm")),
    ("mention-kept-in-example", "meet 30m 45m with <at>Ana</at>", BERLIN,
     Bad("45m", "meet 30m with @Ana")),
]


def _ut(zone: str | None):
    return user_time_from(IANA.get(zone, zone))


# --- issue 13: dates, verbs, trailing options, and never "now" by accident --------------------
# Berlin's clock is Monday 10 March 2025, 10:00 CET; clocks jump 02:00 -> 03:00 on Sun 30 March
# and fall back 03:00 -> 02:00 on Sun 26 October. Weekdays below are from a printed calendar.
NOW_L = "2026-11-30 10:00"
US, GB, DE = "en-US", "en-GB", "de-DE"
M = AttendeeScope.MENTIONED
E = AttendeeScope.EVERYONE

DATED = [
    # -- the table, typed again -------------------------------------------------------
    ("issue-on-dec-9", "meet on Dec 9 at 10am about roadmap", BERLIN, None,
     Ok("2025-12-09 10:00", 30, "roadmap", starts_now=False)),
    ("issue-6-december", "meet 6 December 9:30 for 45 minutes about hiring", BERLIN, None,
     Ok("2025-12-06 09:30", 45, "hiring", starts_now=False)),
    ("issue-tomorow", "meet tomorow at 9 about standup", BERLIN, None,
     Bad("“tomorow”", suggestion="meet tomorrow at 9am about standup")),
    ("issue-25pm", "meet blah at 25pm", BERLIN, None, Bad("“25pm” is not a time of day")),
    ("issue-35th", "meet on the 35th at 10am about x", BERLIN, None,
     Bad("35th", "meet tomorrow at 10am about x")),
    ("issue-iso-date", "meet 2026-12-11 14:00 for 1h about audit", BERLIN_LATE, None,
     Ok("2026-12-11 14:00", 60, "audit", starts_now=False)),
    ("issue-trailing-length", "meet about budget review for 45 minutes", BERLIN, None,
     Ok(NOW_B, 45, "budget review", starts_now=True)),
    ("issue-start-a-meeting", "start a meeting", BERLIN, None, Ok(NOW_B, starts_now=True)),
    ("issue-new-meeting", "new meeting", BERLIN, None, Ok(NOW_B, starts_now=True)),
    ("issue-new-meeting-re", "new meeting re: launch plan", BERLIN, None,
     Ok(NOW_B, 30, "launch plan")),
    ("issue-start-a-meeting-about", "start a meeting about hiring", BERLIN, None,
     Ok(NOW_B, 30, "hiring")),
    ("issue-time-for-change", "meet now about time for change", BERLIN, None,
     Ok(NOW_B, 30, "time for change", starts_now=True)),
    ("issue-plain-subject", "meet 1h30m roadmap", BERLIN, None, Ok(NOW_B, 90, "roadmap")),
    ("issue-card-example", "meet tomorrow 9:30 for 1h", BERLIN_LATE, None,
     Ok("2026-12-01 09:30", 60)),
    # -- verbs ---------------------------------------------------------------------------------
    ("verb-schedule", "schedule a meeting tomorrow 10am", BERLIN, None,
     Ok("2025-03-11 10:00", starts_now=False)),
    ("verb-set-up", "set up a meeting at 3pm about budget", BERLIN, None,
     Ok("2025-03-10 15:00", 30, "budget")),
    ("verb-setup", "setup a meeting for 1h", BERLIN, None, Ok(NOW_B, 60)),
    ("verb-start-a-new", "Start a new meeting about X", BERLIN, None, Ok(NOW_B, 30, "X")),
    ("verb-meeting", "meeting on Dec 9 at 10am", BERLIN, None, Ok("2025-12-09 10:00")),
    ("verb-slash-new", "/new meeting 15m", BERLIN, None, Ok(NOW_B, 15)),
    ("verb-mention-first", "<at>MeetBot</at> schedule a meeting with <at>Ana</at> at 3pm",
     BERLIN, None, Ok("2025-03-10 15:00", attendees=("aad-ana",), scope=M)),
    # -- options after the subject (a trailing length is the length) ----------------------------
    ("trailing-time", "meet about lunch at 12:30", BERLIN, None,
     Ok("2025-03-10 12:30", 30, "lunch")),
    ("trailing-date-with", "meet about roadmap on Dec 9 at 10am with <at>Ana</at>", BERLIN, None,
     Ok("2025-12-09 10:00", 30, "roadmap", attendees=("aad-ana",), scope=M)),
    ("trailing-after-comma", "meet about launch, tomorrow 10am", BERLIN, None,
     Ok("2025-03-11 10:00", 30, "launch")),
    ("trailing-unintroduced", "meet roadmap review tomorrow 10am for 1h", BERLIN, None,
     Ok("2025-03-11 10:00", 60, "roadmap review")),
    ("for-2-teams-stays", "meet about pizza for 2 teams", BERLIN, None,
     Ok(NOW_B, 30, "pizza for 2 teams")),
    ("a-year-stays", "meet about goals in 2026", BERLIN, None, Ok(NOW_B, 30, "goals in 2026")),
    ("date-inside-about-stays", "meet about the Dec 9 launch", BERLIN, None,
     Ok(NOW_B, 30, "the Dec 9 launch", starts_now=True)),
    ("ordinal-inside-about-stays", "meet about the 4th floor", BERLIN, None,
     Ok(NOW_B, 30, "the 4th floor")),
    ("yesterday-inside-about-stays", "meet about what happened yesterday", BERLIN, None,
     Ok(NOW_B, 30, "what happened yesterday")),
    ("quoted-subject", 'meet "Dec 9 retro" tomorrow 10am', BERLIN, None,
     Ok("2025-03-11 10:00", 30, "Dec 9 retro")),
    ("smart-quoted-subject", "meet “standup at 9” at 10:30", BERLIN, None,
     Ok("2025-03-10 10:30", 30, "standup at 9")),
    ("about-quoted", 'meet about "plans for next week" 1h', BERLIN, None,
     Ok(NOW_B, 60, "plans for next week")),
    ("unclosed-quote-is-text", 'meet "budget tomorrow 10am', BERLIN, None,
     Ok("2025-03-11 10:00", 30, '"budget')),
    ("plain-word-near-a-day", "meet fridge cleanup", BERLIN, None,
     Ok(NOW_B, 30, "fridge cleanup")),
    ("plural-weekday-is-a-word", "meet mondays standup", BERLIN, None,
     Ok(NOW_B, 30, "mondays standup")),
    ("possessive-day-is-a-word", "meet about tomorrow's agenda", BERLIN, None,
     Ok(NOW_B, 30, "tomorrow's agenda")),
    # -- calendar dates: which day -------------------------------------------------------------
    ("ordinal-later-this-month", "meet the 19th at 10am", BERLIN, None, Ok("2025-03-19 10:00")),
    ("ordinal-next-month", "meet on the 5th at 10am", BERLIN_LATE, None,
     Ok("2026-12-05 10:00")),
    ("yearless-this-year", "meet Nov 1 at 10am", BERLIN, None, Ok("2025-11-01 10:00")),
    ("yearless-next-year", "meet Jan 5 at 10am", BERLIN_LATE, None, Ok("2027-01-05 10:00")),
    ("date-today-later", "meet Mar 10 at 3pm", BERLIN, None, Ok("2025-03-10 15:00")),
    ("exactly-a-year-ahead", "meet Mar 10 2026 at 10am", BERLIN, None, Ok("2026-03-10 10:00")),
    ("with-year-comma", "meet December 9, 2025 at 10am", BERLIN, None, Ok("2025-12-09 10:00")),
    ("weekday-agrees", "meet Tuesday, December 9 at 10am", BERLIN, None, Ok("2025-12-09 10:00")),
    ("on-weekday-then-date", "meet on monday, Dec 8 at 10am", BERLIN, None,
     Ok("2025-12-08 10:00")),
    ("abbreviation-with-dot", "meet on Dec. 9 at 3pm", BERLIN, None, Ok("2025-12-09 15:00")),
    ("sept", "meet Sept 9 at 10am", BERLIN, None, Ok("2025-09-09 10:00")),
    ("iso-slashes", "meet 2025/12/11 at 10am", BERLIN, None, Ok("2025-12-11 10:00")),
    ("time-before-date", "meet at 10am on Dec 9 for 1h about roadmap with everyone", BERLIN,
     None, Ok("2025-12-09 10:00", 60, "roadmap", scope=E)),
    ("date-upper-case", "MEET DEC 9 AT 10AM", BERLIN, None, Ok("2025-12-09 10:00")),
    ("date-in-html", "<p>meet on <b>Dec 9</b> at 10am</p>", BERLIN, None,
     Ok("2025-12-09 10:00")),
    # -- numeric dates by locale ---------------------------------------------------------------
    ("12/9-en-US", "meet 12/9 at 10am", BERLIN, US,
     Ok("2025-12-09 10:00", reading_has="“12/9” read as 9 December (month/day, as en-US")),
    ("12/9-en-GB", "meet 12/9 at 10am", BERLIN, GB,
     Ok("2025-09-12 10:00", reading_has="read as 12 September (day/month, as en-GB")),
    ("12/9-de-DE", "meet 12/9 at 10am", BERLIN, DE, Ok("2025-09-12 10:00", reading_has="de-DE")),
    ("12/9-no-locale", "meet 12/9 at 10am", BERLIN, None,
     Ok("2025-12-09 10:00", reading_has="Teams didn't tell me your locale")),
    ("9/12-en-GB", "meet 9/12 at 10am", BERLIN, GB, Ok("2025-12-09 10:00", reading_has="9/12")),
    ("9/13-en-US-unambiguous", "meet 9/13 at 10am", BERLIN, US,
     Ok("2025-09-13 10:00", reading_has="")),
    ("13/9-no-locale-one-reading", "meet 13/9 at 10am", BERLIN, None,
     Ok("2025-09-13 10:00", reading_has="")),
    ("5/5-same-either-way", "meet 5/5 at 10am", BERLIN, GB, Ok("2025-05-05 10:00", reading_has="")),
    ("12/9/25-en-US", "meet 12/9/25 at 10am", BERLIN, US, Ok("2025-12-09 10:00")),
    ("12/9/2025-fr-FR", "meet 12/9/2025 at 10am", BERLIN, "fr-FR", Ok("2025-09-12 10:00")),
    ("dots-are-day-month", "meet 9.12. at 10am", BERLIN, US,
     Ok("2025-12-09 10:00", reading_has="")),
    ("dots-with-year", "meet 9.12.2025 14:00", BERLIN, DE, Ok("2025-12-09 14:00")),
    ("dots-at-the-end", "meet about audit 14:00 9.12.", BERLIN, DE,
     Ok("2025-12-09 14:00", 30, "audit")),
    ("12/9-ja-JP", "meet 12/9 at 10am", BERLIN, "ja-JP", Ok("2025-12-09 10:00")),
    ("12/9-fr-CA", "meet 12/9 at 10am", BERLIN, "fr-CA", Ok("2025-12-09 10:00")),
    ("12/9-zh-Hant-HK", "meet 12/9 at 10am", BERLIN, "zh-Hant-HK", Ok("2025-09-12 10:00")),
    ("12/9-en_US-underscore", "meet 12/9 at 10am", BERLIN, "en_US", Ok("2025-12-09 10:00")),
    ("9/13-en-GB", "meet 9/13 at 10am", BERLIN, GB,
     Bad("isn't a date in day/month order, as en-GB", suggestion="meet Sep 13 at 10am")),
    ("13/9-en-US", "meet 13/9 at 10am", BERLIN, US,
     Bad("isn't a date in month/day order", suggestion="meet Sep 13 at 10am")),
    ("13/13", "meet 13/13 at 10am", BERLIN, None, Bad("“13/13” isn't a date")),
    ("1/2/3", "meet 1/2/3", BERLIN, None, Bad("“1/2/3” isn't a date")),
    ("50/50-unintroduced", "meet 50/50 split", BERLIN, None, Bad("“50/50” isn't a date")),
    ("50/50-about-stays", "meet about a 50/50 split", BERLIN, None,
     Ok(NOW_B, 30, "a 50/50 split")),
    # -- DST days ------------------------------------------------------------------------------
    ("berlin-spring-gap", "meet Mar 30 at 2:30am", BERLIN, None,
     Bad("2:30 doesn't exist on Sunday 30 March", "at 3:30")),
    ("berlin-spring-3am", "meet Mar 30 at 3am for 1h", BERLIN, None,
     Ok("2025-03-30 03:00", 60, start_utc="2025-03-30 01:00")),
    ("berlin-spring-across", "meet Mar 30 at 1:30am for 1h", BERLIN, None,
     Ok("2025-03-30 01:30", 60, start_utc="2025-03-30 00:30", end="2025-03-30 03:30")),
    ("berlin-autumn-first-2:30", "meet Oct 26 at 2:30am", BERLIN, None,
     Ok("2025-10-26 02:30", start_utc="2025-10-26 00:30")),
    ("berlin-autumn-3-real-hours", "meet Oct 26 at 1am for 3h", BERLIN, None,
     Ok("2025-10-26 01:00", 180, end="2025-10-26 03:00")),
    ("la-dst-day-by-date", "meet Mar 9 at 9am", LA, None,
     Ok("2025-03-09 09:00", start_utc="2025-03-09 16:00")),
    ("la-dst-numeric", "meet 3/9 at 10am", LA, US,
     Ok("2025-03-09 10:00", start_utc="2025-03-09 17:00")),
    ("la-dst-gap-by-date", "meet Mar 9 at 2:15am", LA, None, Bad("2:15", "at 3:15")),
    # -- dates we refuse, with the date as read --------------------------------------------------
    ("feb-30", "meet Feb 30 at 10am", BERLIN_LATE, None,
     Bad("“Feb 30” isn't a date: February has 29 days at most", "meet Feb 28 at 10am")),
    ("april-31", "meet April 31 at 10am", BERLIN, None, Bad("April has 30 days")),
    ("the-0th", "meet the 0th at 10am", BERLIN, None, Bad("isn't a day of the month")),
    ("iso-month-13", "meet 2025-13-01 at 10am", BERLIN, None, Bad("“2025-13-01” isn't a date")),
    ("iso-feb-29-2025", "meet 2025-02-29 at 10am", BERLIN, None, Bad("isn't a date")),
    ("feb-29-no-leap-year-near", "meet Feb 29 at 10am", BERLIN, None,
     Bad("there's no such day in 2025 or 2026")),
    ("the-31st-in-a-30-day-month", "meet the 31st at 10am", BERLIN_LATE, None,
     Bad("November has 30 days")),
    ("yearless-just-passed", "meet Mar 8 at 10am", BERLIN, None,
     Bad("“Mar 8” is Saturday 8 March 2025, which is in the past", "meet Mar 8 2026 at 10am")),
    ("ordinal-just-passed", "meet the 9th at 10am", BERLIN, None,
     Bad("Sunday 9 March 2025, which is in the past", "meet Apr 9 at 10am")),
    ("with-year-past", "meet Dec 9 2024 at 10am", BERLIN, None,
     Bad("“Dec 9 2024” is Monday 9 December 2024, which is in the past")),
    ("iso-too-far", "meet 2026-12-11 14:00 for 1h about audit", BERLIN, None,
     Bad("“2026-12-11” is Friday 11 December 2026: I can schedule meetings up to a year ahead")),
    ("a-day-over-a-year", "meet Mar 11 2026 at 10am", BERLIN, None, Bad("up to a year ahead")),
    ("date-today-passed", "meet Mar 10 at 9am", BERLIN, None,
     Bad("9:00 has already passed today", "meet tomorrow at 9am")),
    ("date-needs-a-time", "meet Dec 9 about roadmap", BERLIN, None,
     Bad("“Dec 9” needs a time of day", "meet Dec 9 at 9am about roadmap")),
    ("weekday-disagrees", "meet Mon 9 Dec 10am", BERLIN, None,
     Bad("Tuesday 9 December 2025 is a Tuesday, not “Mon”", "meet 9 Dec 10am")),
    ("two-dates", "meet Dec 9 Dec 10 at 3pm", BERLIN, None, Bad("two dates")),
    ("tomorrow-and-a-date", "meet tomorrow Dec 9 at 3pm", BERLIN, None, Bad("two days")),
    ("now-and-a-date", "meet now Dec 9", BERLIN, None, Bad("two start times", "meet now")),
    ("next-week", "meet next week", BERLIN, None,
     Bad("“next week” isn't a day: say which day", "meet next monday 9am")),
    ("next-week-at-10", "meet next week at 10am", BERLIN, None,
     Bad("next week", "meet next monday at 10am")),
    ("this-weekend", "meet this weekend at 10am about x", BERLIN, None, Bad("this weekend")),
    ("next-month", "meet next month", BERLIN, None, Bad("next month")),
    ("plans-for-next-week", "meet about plans for next week", BERLIN, None,
     Bad("put a subject with these words in quotes", 'meet about "plans for next week"')),
    ("roadmap-next-week", "meet about roadmap next week", BERLIN, None, Bad("next week")),
    # -- words that look like a time or date but were not read ----------------------------------
    ("unintroduced-date-inside", "meet roadmap Dec 9 review", BERLIN, None,
     Bad("I couldn't tell if “Dec 9” is when to meet", 'meet "roadmap Dec 9 review"')),
    ("unintroduced-time-inside", "meet standup 9am daily", BERLIN, None,
     Bad("“9am”", 'meet "standup 9am daily"')),
    ("unintroduced-10:75", "meet sync 10:75", BERLIN, None, Bad("“10:75” is not a time of day")),
    ("at-10:75", "meet at 10:75", BERLIN, None, Bad("“10:75” is not a time of day")),
    ("quoted-then-words", 'meet "x" blah', BERLIN, None,
     Bad("“blah” after the subject", 'meet "x"')),
    ("empty-quotes", 'meet "" tomorrow 10am', BERLIN, None, Bad("no subject")),
    ("typo-at-the-end-after-about", "meet about standup tomorow", BERLIN, None,
     Bad("“tomorow”", "meet about standup tomorrow 9am", suggestion="")),
    ("typo-inside-unintroduced", "meet standup tomorow morning", BERLIN, None, Bad("“tomorow”")),
    ("typo-with-a-mention", "meet tomorow at 10am with <at>Ana</at>", BERLIN, None,
     Bad("“tomorow”", "meet tomorrow at 10am with @Ana", suggestion="")),
    ("typo-tommorow", "meet tommorow at 10am", BERLIN, None,
     Bad("“tommorow”", suggestion="meet tomorrow at 10am")),
    ("typo-tonigth", "meet tonigth at 8pm", BERLIN, None,
     Bad("“tonigth”", suggestion="meet tonight at 8pm")),
    ("typo-todya", "meet todya at 3pm", BERLIN, None,
     Bad("“todya”", suggestion="meet today at 3pm")),
    ("typo-mondy", "meet mondy 11am", BERLIN, None, Bad("“mondy”", suggestion="meet monday 11am")),
    ("typo-tuesdy", "meet Tuesdy 10am about x", BERLIN, None,
     Bad("“Tuesdy”", suggestion="meet Tuesday 10am about x")),
    ("typo-wendesday", "meet wendesday 10am", BERLIN, None,
     Bad("“wendesday”", suggestion="meet wednesday 10am")),
    ("typo-thrusday", "meet thrusday 3pm", BERLIN, None,
     Bad("“thrusday”", suggestion="meet thursday 3pm")),
    ("typo-firday", "meet firday 3pm", BERLIN, None, Bad("“firday”", suggestion="meet friday 3pm")),
    ("typo-saturdy", "meet saturdy 10am", BERLIN, None,
     Bad("“saturdy”", suggestion="meet saturday 10am")),
    ("typo-sundy", "meet on sundy 10am", BERLIN, None,
     Bad("“sundy”", suggestion="meet on sunday 10am")),
    ("typo-janury", "meet Janury 15 at 10am", BERLIN_LATE, None,
     Bad("“Janury”", suggestion="meet January 15 at 10am")),
    ("typo-febuary", "meet 15 Febuary at 10am", BERLIN_LATE, None,
     Bad("“Febuary”", suggestion="meet 15 February at 10am")),
    ("typo-marhc", "meet Marhc 20 at 10am", BERLIN, None,
     Bad("“Marhc”", suggestion="meet March 20 at 10am")),
    ("typo-apirl", "meet Apirl 3 at 10am", BERLIN, None,
     Bad("“Apirl”", suggestion="meet April 3 at 10am")),
    ("typo-mayy", "meet Mayy 5 at 10am", BERLIN, None,
     Bad("“Mayy”", suggestion="meet May 5 at 10am")),
    ("typo-juen", "meet 5 Juen at 10am", BERLIN, None,
     Bad("“Juen”", suggestion="meet 5 June at 10am")),
    ("typo-jully", "meet Jully 4 at 10am", BERLIN, None,
     Bad("“Jully”", suggestion="meet July 4 at 10am")),
    ("typo-agust", "meet Agust 5 at 10am", BERLIN, None,
     Bad("“Agust”", suggestion="meet August 5 at 10am")),
    ("typo-septmber", "meet Septmber 5 at 10am", BERLIN, None,
     Bad("“Septmber”", suggestion="meet September 5 at 10am")),
    ("typo-ocotber", "meet on the 5th of Ocotber at 10am", BERLIN, None,
     Bad("“Ocotber”", suggestion="meet on the 5th of October at 10am")),
    ("typo-novmber", "meet Novmber 5 at 10am", BERLIN, None,
     Bad("“Novmber”", suggestion="meet November 5 at 10am")),
    ("typo-decmber", "meet Decmber 9 at 10am", BERLIN, None,
     Bad("“Decmber”", suggestion="meet December 9 at 10am")),
    ("typo-past-month-no-button", "meet Janury 15 at 10am", BERLIN, None,
     Bad("“Janury”", "meet Jan 15 2026 at 10am", suggestion="")),
    ("typo-unit", "meet 45 minuts about x", BERLIN, None,
     Bad("“minuts”", suggestion="meet 45 minutes about x")),
    ("typo-unit-hours", "meet 2 hors", BERLIN, None, Bad("“hors”", suggestion="meet 2 hours")),
    ("ambiguous-hour-offers-office-hours", "meet tomorrow at 9 about standup", BERLIN, None,
     Bad("could be morning or afternoon", suggestion="meet tomorrow at 9am about standup")),
    ("ambiguous-hour-afternoon", "meet at 3", BERLIN, None,
     Bad("could be morning or afternoon", suggestion="meet at 3pm")),
    # -- numbers that do not fit ---------------------------------------------------------------
    ("overflow-hours", "meet 99999999999999999999h", BERLIN, None, Bad("is too long", "meet 24h")),
    ("overflow-minutes", "meet 1h 99999999999999999999m", BERLIN, None, Bad("is too long")),
    ("overflow-offset", "meet in 99999999999999999999 days", BERLIN, None,
     Bad("too far ahead", "meet tomorrow 9am")),
    ("overflow-offset-fraction", "meet in 1e400 days", BERLIN, None, Bad("in 1e400")),
    ("overflow-negative", "meet for -99999999999999999999h", BERLIN, None,
     Bad("negative duration")),
    ("overflow-day", "meet Dec 99999999999999999999 at 10am", BERLIN, None,
     Bad("isn't a date: December has 31 days")),
    ("overflow-hour", "meet at 99999999999999999999", BERLIN, None, Bad("is not a time of day")),
    ("overflow-5000-digits", "meet at " + "9" * 5000, BERLIN, None, Bad("…” is not a time of day")),
    ("overflow-unitless-5000-digits", "meet " + "9" * 5000, BERLIN, None, Bad("needs a unit")),
    ("overflow-year", "meet 9.12.99999 at 10am", BERLIN, None, Bad("isn't a date I can read")),
]

# Every calendar date form, each with a different time, length, subject and invitees, in
# three word orders: options first; subject first (options after it); time, invitees, length
# before the date and subject last. Expected values are written per form and per piece.
DATE_FORMS = [  # (typed, the day it names) on BERLIN's clock
    ("Dec 9", "2025-12-09"), ("December 9", "2025-12-09"), ("9 Dec", "2025-12-09"),
    ("9 December", "2025-12-09"), ("on Dec 9", "2025-12-09"), ("on the 19th", "2025-03-19"),
    ("the 19th", "2025-03-19"), ("19th of March", "2025-03-19"), ("March 19th", "2025-03-19"),
    ("Dec 9, 2025", "2025-12-09"), ("9 December 2025", "2025-12-09"),
    ("2025-12-11", "2025-12-11"), ("9.12.", "2025-12-09"), ("9.12.2025", "2025-12-09"),
    ("Tue 9 Dec", "2025-12-09"), ("on 19 March", "2025-03-19"),
]
TIMES = [("at 10am", "10:00"), ("14:30", "14:30"), ("at 9.30am", "09:30"), ("at noon", "12:00"),
         ("3pm", "15:00")]
LENGTHS = [("", 30), ("for 45 minutes", 45), ("1h", 60), ("for 1h30m", 90),
           ("half an hour", 30), ("for 2 hours", 120)]
SUBJECTS = [("", DEFAULT_SUBJECT), ("about roadmap", "roadmap"), ("re: hiring loop", "hiring loop"),
            ("about Q3 planning", "Q3 planning")]
INVITEES = [("", (), AttendeeScope.NONE), ("with <at>Ana</at>", ("aad-ana",), M),
            ("with everyone", (), E), ("with <at>Ana</at> and <at>Ben Ode</at>",
                                       ("aad-ana", "aad-ben"), M)]
ORDERS = ["meet {date} {time} {length} {subject} {invitees}",
          "meet {subject} {date} {time} {length} {invitees}",
          "meet {time} {invitees} {length} {date} {subject}"]


def _combined() -> list[tuple]:
    cases = []
    for i, (date_text, day) in enumerate(DATE_FORMS):
        for order in (i % 3, (i + 1) % 3):
            time_text, clock = TIMES[i % len(TIMES)]
            length, minutes = LENGTHS[(i + order) % len(LENGTHS)]
            subject, subject_shown = SUBJECTS[(i + order) % len(SUBJECTS)]
            invitees, people, scope = INVITEES[i % len(INVITEES)]
            if order == 1 and not subject:  # options after the subject need a subject
                subject, subject_shown = "about roadmap", "roadmap"
            text = " ".join(ORDERS[order].format(date=date_text, time=time_text, length=length,
                                                 subject=subject, invitees=invitees).split())
            cases.append((f"form-{i}-order-{order}", text, BERLIN, None,
                          Ok(f"{day} {clock}", minutes, subject_shown, starts_now=False,
                             attendees=people, scope=scope)))
    return cases


DATED += _combined()


def _parse(text: str, zone: str | None, locale: str | None = None):
    return parse(text, now=NOW[zone], user_time=_ut(zone), mentions=MENTIONS, locale=locale)


def _wall(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M")


def _elapsed(req: MeetingRequest) -> timedelta:
    # Not `end - start`: with one shared tzinfo Python subtracts wall clocks, ignoring DST.
    return req.end.astimezone(UTC) - req.start.astimezone(UTC)


@pytest.mark.parametrize(("text", "zone", "want"), [c[1:] for c in GOOD],
                         ids=[c[0] for c in GOOD])
def test_meet_commands(text: str, zone: str | None, want: Ok) -> None:
    _check_ok(_parse(text, zone), zone, want)


def _check_ok(req: object, zone: str | None, want: Ok) -> None:
    assert isinstance(req, MeetingRequest)
    assert req.start.tzinfo is not None and req.start.utcoffset() == req.start.astimezone(
        _ut(zone).tz).utcoffset()
    if want.start is not None:
        assert _wall(req.start) == want.start
    if want.start_utc is not None:
        assert _wall(req.start.astimezone(UTC)) == want.start_utc
    if want.minutes is not None:
        assert _elapsed(req) == timedelta(minutes=want.minutes)
    if want.end is not None:
        assert _wall(req.end) == want.end
    if want.subject is not None:
        assert req.subject == want.subject
        assert req.subject_given == (want.subject != DEFAULT_SUBJECT)
    if want.starts_now is not None:
        assert req.starts_now is want.starts_now
    if want.attendees is not None:
        assert [p.aad_object_id for p in req.attendees] == list(want.attendees)
    if want.scope is not None:
        assert req.scope is want.scope
    if want.reading_has == "":
        assert req.date_reading is None
    elif want.reading_has is not None:
        assert want.reading_has in (req.date_reading or "")


@pytest.mark.parametrize(("text", "zone", "want"), [c[1:] for c in BAD],
                         ids=[c[0] for c in BAD])
def test_meet_commands_we_refuse(text: str, zone: str | None, want: Bad) -> None:
    _check_bad(text, zone, None, want)


def _check_bad(text: str, zone: str | None, locale: str | None, want: Bad) -> None:
    with pytest.raises(ParseError) as caught:
        _parse(text, zone, locale)
    err = caught.value
    assert want.reason_has in err.reason
    if want.example_has is not None:
        assert want.example_has in err.example
    if want.suggestion is not None:
        assert (err.suggestion or "") == want.suggestion
    # The suggested fix is itself a command we accept (without the bot's help).
    assert isinstance(parse(err.example.replace("@Ana", "<at>Ana</at>"), now=NOW[zone],
                            user_time=_ut(zone), mentions=MENTIONS, locale=locale),
                      MeetingRequest)
    if err.suggestion is not None:  # what the "Did you mean" button runs, as typed
        assert isinstance(parse(err.suggestion, now=NOW[zone], user_time=_ut(zone),
                                locale=locale), MeetingRequest)
        assert err.example == err.suggestion
    shown = describe(err)
    assert shown.text == f"{err.reason}." and shown.example == err.example
    assert shown.suggestion == err.suggestion


@pytest.mark.parametrize(("text", "want"), [
    ("help", HelpRequest()),
    ("?", HelpRequest()),
    ("<at>MeetBot</at> Help!", HelpRequest()),
    ("<at>MeetBot</at>", HelpRequest()),
    ("meet help", HelpRequest()),
    ("sign out", SignOutRequest()),
    ("signout", SignOutRequest()),
    ("Logout.", SignOutRequest()),
    ("log off", SignOutRequest()),
    ("hello", HelpRequest(reason="I didn't recognise “hello”")),
    ("meetings are boring", HelpRequest(reason="I didn't recognise “meetings are boring”")),
    ("new meetings policy", HelpRequest(reason="I didn't recognise “new meetings policy”")),
    ("call me later", HelpRequest(reason="I didn't recognise “call me later”")),
    ("start a meeting help", HelpRequest()),
], ids=["help", "question-mark", "mention-help", "only-a-mention", "meet-help", "sign-out",
        "signout", "logout", "log-off", "hello", "meetings-is-not-meet", "meetings-is-not-a-verb",
        "call-is-not-a-verb", "new-verb-help"])
def test_other_commands(text: str, want: object) -> None:
    assert _parse(text, BERLIN) == want


def test_unrecognised_text_is_shortened_in_the_reason() -> None:
    reason = _parse("x" * 200, BERLIN).reason
    assert reason is not None and len(reason) < 80 and reason.endswith("…”")


@pytest.mark.parametrize(("name", "known", "tz_name"), [
    ("Europe/Berlin", True, "Europe/Berlin"),
    ("Asia/Kolkata", True, "Asia/Kolkata"),
    (None, False, "UTC"),
    ("", False, "UTC"),
    ("Mars/Olympus_Mons", False, "UTC"),
    ("../../etc/passwd", False, "UTC"),
], ids=["berlin", "kolkata", "none", "empty", "unknown", "path-like"])
def test_user_time_from(name: str | None, known: bool, tz_name: str) -> None:
    ut = user_time_from(name)
    assert ut.known is known and ut.name == tz_name
    assert datetime(2025, 7, 1, tzinfo=ut.tz).utcoffset() is not None


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError):
        parse("meet", now=datetime(2025, 3, 10, 9, 0), user_time=user_time_from(None))


_WORDS = ["meet", "now", "at", "for", "in", "about", "re:", "with", "tomorrow", "monday",
          "next", "30m", "1h30", "3pm", "25:00", "15:00", "-5", "half an hour", "everyone",
          "<at>Ana</at>", "<at>MeetBot</at>", "&amp;", "&nbsp;", "<p>", "yesterday", "0", "90",
          "Dec", "9", "the", "9th", "35th", "on", "12/9", "9.12.", "2025-12-11", "tomorow",
          "Decmber", "week", '"', "“", ",", "99999999999999999999", "10:75", "of", "2026"]


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.one_of(st.sampled_from(_WORDS), st.text(max_size=6)), max_size=8),
       zone=st.sampled_from([BERLIN, LA, KOLKATA, UNKNOWN]))
def test_any_meet_text_gives_a_valid_request_or_a_parse_error(words: list[str],
                                                              zone: str | None) -> None:
    try:
        req = _parse("meet " + " ".join(words), zone)
    except ParseError as err:
        assert err.reason and err.example.startswith("meet")
        return
    if isinstance(req, MeetingRequest):
        now = NOW[zone]
        assert timedelta(minutes=1) <= _elapsed(req) <= timedelta(hours=24)
        assert now - timedelta(minutes=5) <= req.start <= now + timedelta(days=366)
        assert 0 < len(req.subject) <= 250



@pytest.mark.parametrize(("text", "zone", "locale", "want"), [c[1:] for c in DATED],
                         ids=[c[0] for c in DATED])
def test_dates_verbs_and_words_not_read(text: str, zone: str | None, locale: str | None,
                                         want: Ok | Bad) -> None:
    if isinstance(want, Bad):
        _check_bad(text, zone, locale, want)
    else:
        _check_ok(_parse(text, zone, locale), zone, want)


def test_the_new_verbs_alone_are_a_bare_meet() -> None:
    for verb in ("meet", "meeting", "new meeting", "start a meeting", "schedule a meeting",
                 "set up a meeting", "<at>MeetBot</at> start a meeting"):
        req = _parse(verb, BERLIN)
        assert isinstance(req, MeetingRequest) and req.bare, verb
    assert not _parse("start a meeting now", BERLIN).bare


@pytest.mark.parametrize(("locale", "month_first_"), [
    ("en-US", True), ("en", True), ("EN-us", True), ("en_US", True), ("en-PH", True),
    ("en-GB", False), ("en-CA", False), ("en-IN", False), ("en-AU", False), ("de-DE", False),
    ("fr-FR", False), ("fr-CA", True), ("es-MX", False), ("ja-JP", True), ("ko-KR", True),
    ("zh-CN", True), ("zh-Hant-TW", True), ("zh-Hant-HK", False), ("hu-HU", True),
    ("es-419", False), (None, True), ("", True), ("x-garbage-@@", False),
])
def test_numeric_date_order_per_locale(locale: str | None, month_first_: bool) -> None:
    assert month_first(locale) is month_first_


# --- properties ---------------------------------------------------------------------------------
# Commands built from parts whose meaning is known: whatever the order, the request is what the
# parts state. Subject words are plain words (no time or date), so any slip of an option into
# the subject, or of a subject word into an option, shows.
_SUBJECT_WORDS = ["roadmap", "budget", "hiring", "sync", "Q3", "launch", "design", "incident",
                  "42", "retro", "offsite", "v2", "Ana's", "R&D"]
_PROP_DATES = [("Dec 9", "2025-12-09"), ("9 December", "2025-12-09"), ("on the 19th", "2025-03-19"),
               ("2025-12-11", "2025-12-11"), ("9.12.", "2025-12-09"), ("tomorrow", "2025-03-11"),
               ("on friday", "2025-03-14"), ("Tue 9 Dec", "2025-12-09"), ("", "2025-03-10")]
_PROP_TIMES = [("at 10:15", "10:15"), ("11am", "11:00"), ("at 4.45pm", "16:45"),
               ("at noon", "12:00"), ("23:59", "23:59")]
_PROP_LENGTHS = [("", 30), ("for 45 minutes", 45), ("1h30m", 90), ("for an hour", 60),
                 ("quarter of an hour", 15), ("for 2h", 120)]


@settings(max_examples=400, deadline=None)
@given(date_=st.sampled_from(_PROP_DATES), time_=st.sampled_from(_PROP_TIMES),
       length=st.sampled_from(_PROP_LENGTHS), invitees=st.sampled_from(INVITEES),
       words=st.lists(st.sampled_from(_SUBJECT_WORDS), min_size=0, max_size=5),
       intro=st.sampled_from(["about", "re:", "regarding", ":", '"', ""]),
       verb=st.sampled_from(["meet", "meeting", "new meeting", "schedule a meeting"]),
       layout=st.permutations(range(4)), split=st.integers(0, 4))
def test_any_accepted_command_means_what_its_words_state(date_, time_, length, invitees, words,
                                                         intro, verb, layout, split) -> None:
    """Options before and after the subject, in any order: start, length, subject and invitees
    are exactly those typed, and nothing that reads as a time or date lands in the subject."""
    options = [date_[0], time_[0], length[0], invitees[0]]
    options = [options[k] for k in layout]
    if not intro:  # "meet 42 Dec 9": unintroduced, a number next to a date is part of it
        words = [w for w in words if not w.isdigit()]
    subject = " ".join(words)
    if subject and intro == '"':
        subject = f'"{subject}"'
    elif subject and intro:
        subject = f"{intro} {subject}"
    if not subject:
        split = 4
    text = " ".join(f"{verb} {' '.join(options[:split])} {subject} "
                    f"{' '.join(options[split:])}".split())
    req = _parse(text, BERLIN)
    assert isinstance(req, MeetingRequest), text
    assert _wall(req.start) == f"{date_[1]} {time_[1]}", text
    assert _elapsed(req) == timedelta(minutes=length[1]), text
    assert req.subject == (" ".join(words) or DEFAULT_SUBJECT), text
    assert [p.aad_object_id for p in req.attendees] == list(invitees[1]), text
    assert req.scope is invitees[2], text


# What "reads as a time or date", written independently of the grammar: clock times, numeric
# dates, day and month names next to a day number, relative day words.
_TIMEISH = re.compile(
    r"\b\d{1,2}(?::\d{2})?\s*[ap]\.?m\b|\b\d{1,2}:\d{2}\b|\b\d{1,4}[/.-]\d{1,2}\b"
    r"|\b(?:today|tonight|tomorrow|mon|tue|wed|thu|fri|sat|sun)(?:day)?\b"
    r"|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}\b"
    r"|\b\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)",
    re.I)
_SOUP = ["now", "at", "for", "in", "with", "on", "the", "next", "tomorrow", "tomorow", "friday",
         "wendesday", "Dec", "Decmber", "9", "9th", "35th", "of", "12/9", "9.12.", "2025-12-11",
         "3pm", "25pm", "10:75", "14:00", "30m", "1h", "45", "minutes", "minuts", "week",
         "roadmap", "budget", "review", "2024", "everyone", "<at>Ana</at>", ",", "noon"]


@settings(max_examples=600, deadline=None)
@given(words=st.lists(st.sampled_from(_SOUP), min_size=1, max_size=7),
       zone=st.sampled_from([BERLIN, LA, BERLIN_LATE]),
       locale=st.sampled_from([None, "en-US", "de-DE"]))
def test_an_unintroduced_subject_never_holds_a_time_or_date(words: list[str], zone: str | None,
                                                             locale: str | None) -> None:
    """Word soup after `meet` (no about/re/quotes): either refused with a reason, or a request
    whose subject holds nothing that reads as a time or date, and whose start is that typed."""
    try:
        req = _parse("meet " + " ".join(words), zone, locale)
    except ParseError as err:
        assert err.reason and err.example.startswith("meet")
        return
    assert isinstance(req, MeetingRequest)
    if "on" not in words:  # "on" may introduce a subject, which keeps its words
        assert not _TIMEISH.search(req.subject), (words, req.subject)
    typed_start = any(w in words for w in ("at", "tomorrow", "friday", "Dec", "9th", "12/9",
                                           "9.12.", "2025-12-11", "3pm", "14:00", "noon", "in"))
    if not typed_start:
        assert req.starts_now, words


def test_a_repeated_hour_on_fall_back_day_means_the_first_one() -> None:
    # LA clocks go back Sun 2025-11-02 02:00 PDT -> 01:00 PST; 01:30 happens twice.
    req = parse("meet tomorrow 1:30am for 1h", now=datetime(2025, 11, 1, 19, 0, tzinfo=UTC),
                user_time=user_time_from(LA))
    assert isinstance(req, MeetingRequest)
    assert _wall(req.start.astimezone(UTC)) == "2025-11-02 08:30"  # 01:30 PDT (-07:00)
    assert _wall(req.end) == "2025-11-02 01:30" and _elapsed(req) == timedelta(hours=1)
