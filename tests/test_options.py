"""Meeting options in typed commands (bot/options.py), and how a command reads with them
(MeetBot.read_command): which words count, what is left for the grammar, what is refused."""
from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import ParseError
from bot.grammar import Mention
from bot.handlers import MeetBot
from bot.models import HelpRequest, Lobby, MeetingOptions, MeetingRequest, Person, Presenters
from bot.options import extract, restore

ORGANIZER, ORGANIZATION, EVERYONE = Presenters.ORGANIZER, Presenters.ORGANIZATION, Presenters.EVERYONE
WAITS, ORG_SKIPS, SKIPS = Lobby.EVERYONE_WAITS, Lobby.ORGANIZATION_SKIPS, Lobby.EVERYONE_SKIPS


@pytest.mark.parametrize("text, rest, options", [
    # before the subject: anywhere, any order, with or without the colon
    ("meet now record", "meet now", MeetingOptions(record=True)),
    ("meet record", "meet", MeetingOptions(record=True)),
    ("meet now Record Automatically about x", "meet now about x", MeetingOptions(record=True)),
    ("meet now auto-record about x", "meet now about x", MeetingOptions(record=True)),
    ("meet now no chat about x", "meet now about x", MeetingOptions(chat=False)),
    ("meet now without meeting chat", "meet now", MeetingOptions(chat=False)),
    ("meet now chat off", "meet now", MeetingOptions(chat=False)),
    ("meet now presenters: organizer", "meet now", MeetingOptions(presenters=ORGANIZER)),
    ("meet now presenters organiser", "meet now", MeetingOptions(presenters=ORGANIZER)),
    ("meet now only I present", "meet now", MeetingOptions(presenters=ORGANIZER)),
    ("meet now only I can present", "meet now", MeetingOptions(presenters=ORGANIZER)),
    ("meet now presenters: organisation", "meet now", MeetingOptions(presenters=ORGANIZATION)),
    ("meet now presenters: everyone", "meet now", MeetingOptions(presenters=EVERYONE)),
    ("meet now lobby: everyone waits", "meet now", MeetingOptions(lobby=WAITS)),
    ("meet now lobby:  organization   skips", "meet now", MeetingOptions(lobby=ORG_SKIPS)),
    ("meet now lobby everyone skips", "meet now", MeetingOptions(lobby=SKIPS)),
    ("meet now no lobby", "meet now", MeetingOptions(lobby=SKIPS)),
    ("meet tomorrow 9:30 presenters: organizer lobby: everyone waits record no chat about plan",
     "meet tomorrow 9:30 about plan",
     MeetingOptions(presenters=ORGANIZER, lobby=WAITS, record=True, chat=False)),
    # after the subject: only as pieces of their own
    ("meet about planning, record, no chat", "meet about planning",
     MeetingOptions(record=True, chat=False)),
    ("meet about planning; lobby: organisation skips", "meet about planning",
     MeetingOptions(lobby=ORG_SKIPS)),
    ("meet tomorrow 9:30 for 1h about planning with <at>Ana</at>, record",
     "meet tomorrow 9:30 for 1h about planning with <at>Ana</at>", MeetingOptions(record=True)),
    ("meet about planning with <at>Ana</at> and <at>Ben</at> no chat",
     "meet about planning with <at>Ana</at> and <at>Ben</at>", MeetingOptions(chat=False)),
    ("meet about all hands with everyone record and no chat", "meet about all hands with everyone",
     MeetingOptions(record=True, chat=False)),
    # subject words stay subject words
    ("meet about record sales", "meet about record sales", MeetingOptions()),
    ("meet now about the record", "meet now about the record", MeetingOptions()),
    ("meet re no chat policy", "meet re no chat policy", MeetingOptions()),
    ("meet about lobby: new design", "meet about lobby: new design", MeetingOptions()),
    ("meet: record", "meet: record", MeetingOptions()),
    ("meet about record sales, record", "meet about record sales", MeetingOptions(record=True)),
    # quotes and mentions are never read
    ('meet "record review" tomorrow', 'meet "record review" tomorrow', MeetingOptions()),
    ("meet “no chat day” now record", "meet “no chat day” now", MeetingOptions(record=True)),
    ("meet with <at>Record Team</at>", "meet with <at>Record Team</at>", MeetingOptions()),
    # not a word of its own
    ("meet now records", "meet now records", MeetingOptions()),
    ("meet now re-record", "meet now re-record", MeetingOptions()),
    ("meet now@record", "meet now@record", MeetingOptions()),
])
def test_which_words_are_options(text: str, rest: str, options: MeetingOptions) -> None:
    found = extract(text)
    assert (found.text, found.options, found.problem) == (rest, options, None)


@pytest.mark.parametrize("text, problem", [
    ("meet now presenters: bob about x", "“presenters: bob” is not a presenter choice"),
    ("meet now lobby: maybe", "“lobby: maybe” is not a lobby choice"),
    ("meet now lobby:", "“lobby:” is not a lobby choice"),
    ("meet now presenters: organizer presenters: everyone", "two different presenter choices"),
    ("meet now no lobby lobby: everyone waits", "two different lobby choices"),
])
def test_option_mistakes_are_problems_not_dropped_words(text: str, problem: str) -> None:
    found = extract(text).problem
    assert found is not None and problem in found.reason


def test_a_repeated_option_is_no_mistake() -> None:
    found = extract("meet now record, record automatically")
    assert found.options == MeetingOptions(record=True) and found.problem is None


def read(text: str, mentions: tuple[Mention, ...] = ()) -> object:
    return MeetBot.read_command(text, time_zone="Europe/Berlin", locale="en-US", mentions=mentions)


def test_a_command_carries_its_options_and_bare_meet_with_options_makes_the_meeting() -> None:
    command = read("meet record")
    assert isinstance(command, MeetingRequest)
    assert command.options == MeetingOptions(record=True) and not command.bare
    assert isinstance(bare := read("meet"), MeetingRequest) and bare.bare


def test_mentions_keep_working_around_options() -> None:
    ana = Mention("<at>Ana</at>", Person(name="Ana", teams_id="29:ana"), False)
    command = read("meet tomorrow 9:30 about planning with <at>Ana</at> no chat", (ana,))
    assert isinstance(command, MeetingRequest)
    assert command.subject == "planning" and [p.name for p in command.attendees] == ["Ana"]
    assert command.options == MeetingOptions(chat=False) and not command.starts_now


def test_did_you_mean_keeps_the_options() -> None:
    with pytest.raises(ParseError) as caught:
        read("meet tomorow 9am record about standup")
    assert caught.value.suggestion == "meet tomorrow 9am about standup, record"
    assert read(caught.value.suggestion).options == MeetingOptions(record=True)  # type: ignore[attr-defined]


def test_text_that_is_no_meeting_command_reads_as_typed() -> None:
    assert read("help record") == read("help record")
    assert isinstance(read("record"), HelpRequest) and "record" in (read("record").reason or "")  # type: ignore[union-attr]


def test_a_mistake_is_said_only_for_a_meet_command() -> None:
    with pytest.raises(ParseError, match="not a lobby choice"):
        read("meet now lobby: maybe")
    assert isinstance(read("hello lobby: maybe"), HelpRequest)


def test_restore_puts_phrases_where_they_always_count() -> None:
    found = extract("meet tomorow presenters: organizer no chat")
    assert restore("meet tomorrow", found) == "meet tomorrow, presenters: organizer, no chat"
    assert extract(restore("meet tomorrow about x", found)).options == found.options


_WORDS = st.sampled_from(["meet", "now", "about", "record", "no", "chat", "lobby:", "presenters",
                          "organizer", "everyone", "waits", "skips", ",", ";", "x", "sales",
                          "<at>Ana</at>", '"record', 'review"', "with", "tomorrow", "9:30", ":",
                          "and"])


@given(st.lists(_WORDS, max_size=14))
def test_only_option_phrases_are_taken_out(words: list[str]) -> None:
    """Whatever the words: mentions and quotes survive, and what is taken out is exactly the
    reported phrases plus the separators (and "and"s) before them."""
    text = " ".join(words)
    found = extract(text)
    assert found.text.count("<at>Ana</at>") == text.count("<at>Ana</at>")
    assert found.text.count('"') == text.count('"')
    if not found.phrases:
        assert found.text == text.strip()
    chars = Counter(text.replace(" ", ""))
    left = Counter(found.text.replace(" ", "")) + Counter("".join(found.phrases).replace(" ", ""))
    assert left <= chars and set(chars - left) <= set(",;and")


def test_a_huge_message_is_read_in_linear_time() -> None:
    """A message may be 256 KB of option words: reading it must not be quadratic (5,000 took
    a minute before the pieces were found by bisection)."""
    import time
    text = "meet about x " + "record, " * 25_000 + '"q" ' * 5_000
    started = time.perf_counter()
    found = extract(text)
    # The first "record" is in the subject ("about x record"), the rest are pieces of their own.
    assert len(found.phrases) == 24_999 and time.perf_counter() - started < 10
