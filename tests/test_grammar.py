"""The command grammar, table-driven: what users type -> the meeting (or the reason it can't be).

Clocks are fixed per zone; expectations are wall-clock times in the user's zone, written out by
hand from a calendar (not computed with the code under test).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import ParseError, describe
from bot.grammar import DEFAULT_SUBJECT, Mention, parse, user_time_from
from bot.models import AttendeeScope, HelpRequest, MeetingRequest, Person, SignOutRequest

UTC = UTC

# Fixed clocks, one per zone.
BERLIN = "Europe/Berlin"  # Monday 2025-03-10 10:00 CET (+01:00)
LA = "America/Los_Angeles"  # Saturday 2025-03-08 20:00 PST; clocks go forward Sun 02:00 -> 03:00
KOLKATA = "Asia/Kolkata"  # Monday 2025-03-10 14:30 IST (+05:30)
UNKNOWN = None  # no zone from Teams: UTC, Monday 2025-03-10 09:00
NOW = {
    BERLIN: datetime(2025, 3, 10, 9, 0, tzinfo=UTC),
    LA: datetime(2025, 3, 9, 4, 0, tzinfo=UTC),
    KOLKATA: datetime(2025, 3, 10, 9, 0, tzinfo=UTC),
    UNKNOWN: datetime(2025, 3, 10, 9, 0, tzinfo=UTC),
}

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


@dataclass(frozen=True)
class Bad:
    """Expected ParseError: `reason_has` must appear in the reason, `example_has` in the example."""

    reason_has: str
    example_has: str | None = None


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


def _parse(text: str, zone: str | None):
    return parse(text, now=NOW[zone], user_time=user_time_from(zone), mentions=MENTIONS)


def _wall(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M")


def _elapsed(req: MeetingRequest) -> timedelta:
    # Not `end - start`: with one shared tzinfo Python subtracts wall clocks, ignoring DST.
    return req.end.astimezone(UTC) - req.start.astimezone(UTC)


@pytest.mark.parametrize(("text", "zone", "want"), [c[1:] for c in GOOD],
                         ids=[c[0] for c in GOOD])
def test_meet_commands(text: str, zone: str | None, want: Ok) -> None:
    req = _parse(text, zone)
    assert isinstance(req, MeetingRequest)
    assert req.start.tzinfo is not None and req.start.utcoffset() == req.start.astimezone(
        user_time_from(zone).tz).utcoffset()
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


@pytest.mark.parametrize(("text", "zone", "want"), [c[1:] for c in BAD],
                         ids=[c[0] for c in BAD])
def test_meet_commands_we_refuse(text: str, zone: str | None, want: Bad) -> None:
    with pytest.raises(ParseError) as caught:
        _parse(text, zone)
    err = caught.value
    assert want.reason_has in err.reason
    if want.example_has is not None:
        assert want.example_has in err.example
    # The suggested fix is itself a command we accept (without the bot's help).
    assert isinstance(parse(err.example.replace("@Ana", "<at>Ana</at>"), now=NOW[zone],
                            user_time=user_time_from(zone), mentions=MENTIONS), MeetingRequest)
    shown = describe(err)
    assert shown.text == f"{err.reason}." and shown.example == err.example


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
], ids=["help", "question-mark", "mention-help", "only-a-mention", "meet-help", "sign-out",
        "signout", "logout", "log-off", "hello", "meetings-is-not-meet"])
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
          "<at>Ana</at>", "<at>MeetBot</at>", "&amp;", "&nbsp;", "<p>", "yesterday", "0", "90"]


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
        assert now - timedelta(minutes=5) <= req.start <= now + timedelta(days=60)
        assert 0 < len(req.subject) <= 250


def test_a_repeated_hour_on_fall_back_day_means_the_first_one() -> None:
    # LA clocks go back Sun 2025-11-02 02:00 PDT -> 01:00 PST; 01:30 happens twice.
    req = parse("meet tomorrow 1:30am for 1h", now=datetime(2025, 11, 1, 19, 0, tzinfo=UTC),
                user_time=user_time_from(LA))
    assert isinstance(req, MeetingRequest)
    assert _wall(req.start.astimezone(UTC)) == "2025-11-02 08:30"  # 01:30 PDT (-07:00)
    assert _wall(req.end) == "2025-11-02 01:30" and _elapsed(req) == timedelta(hours=1)
