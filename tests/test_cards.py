"""The cards: valid Adaptive Card 1.5 (the official schema), and saying what they must say.

Meetings are built with the values Graph returns (the onlineMeeting example of the Graph docs);
assertions read the card as a client would: actions by type, links out of TextBlock markdown.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from bot.card_input import CreateFromForm, OnMeeting, click_key, read_action, request_from_form
from bot.errors import (
    BadCardAction,
    ConsentRequired,
    GraphThrottled,
    ParseError,
    UserMessage,
    describe,
)
from bot.grammar import parse, user_time_from
from bot.i18n import ENGLISH, translator
from bot.models import (
    AudioConferencing,
    Lobby,
    Meeting,
    MeetingOptions,
    MeetingRequest,
    Person,
    Presenters,
    UserTime,
)
from cards import (
    CardMessage,
    actions,
    consent_card,
    error_card,
    help_card,
    meeting_card,
    new_meeting_card,
)
from cards.actions import VERB_RUN_COMMAND
from tests.helpers import of_type, texts, walk

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "cards/schema/adaptive-card-1.5.json").read_text())
VALIDATOR = jsonschema.Draft6Validator(SCHEMA)

UTC = UTC
NOW = datetime(2025, 3, 5, 13, 0, tzinfo=UTC)
REF = "rBfq0VfJ1s3ZQ8m2Xy4kAw"
BERLIN = UserTime(ZoneInfo("Europe/Berlin"), "Europe/Berlin", True)
JOIN_URL = ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_M2IzYzczNTItYmY3OC00MDlmLWJj"
            "MzUtYmFiMjNlOTY4MGEz%40thread.skype/0?context=%7b%22Tid%22%3a%2272f988bf-86f1-41af-"
            "91ab-2d7cd011db47%22%2c%22Oid%22%3a%22550fae72-d251-43ec-868c-373732c2704f%22%7d")
DIALIN_URL = "https://dialin.teams.microsoft.com/22f12fa0-499f-435b-bc69-b8de580ba330?id=2425999"
AUDIO = AudioConferencing(conference_id="2425999", toll_numbers=("+12525634478", "+442071234567"),
                          toll_free_numbers=("+18666390588",), dialin_url=DIALIN_URL)


def graph_meeting(**changes: Any) -> Meeting:
    base = dict(
        id="MSo1NTBmYWU3Mi1kMjUxLTQzZWMtODY4Yy0zNzM3MzJjMjcwNGYqMCoqMTk6bWVldGluZ19NMkl6WXpj",
        join_url=JOIN_URL, subject="Budget review",
        start=datetime(2025, 3, 5, 13, 30, 17, 649136, tzinfo=UTC),
        end=datetime(2025, 3, 5, 14, 0, 17, 651138, tzinfo=UTC),
        meeting_code="123456789012", passcode="hK3x9Q", audio=AUDIO,
        organizer_id="550fae72-d251-43ec-868c-373732c2704f", external_id="meetbot-7f1c0a",
        request_id="0b6c5b1e-7d4a-4f4e-9a53-2a1c9d3e8f10")
    return Meeting(**(base | changes))


# --- reading a card like a client ------------------------------------------------------------


def facts(card: dict) -> dict[str, str]:
    return {f["title"]: f["value"] for s in of_type(card, "FactSet") for f in s["facts"]}


_MD_LINK = re.compile(r"(?<!\\)\[([^\]]*)\]\(([^)\s]+)\)")


def links(card: dict) -> dict[str, str]:
    """Markdown links in TextBlocks: {url: shown text}."""
    return {m[2]: m[1] for t in texts(card) for m in _MD_LINK.finditer(t)}


def schema_problems(card: dict) -> list[str]:
    """Every leaf error (the schema's top-level anyOf wraps them all into one)."""
    def leaves(err: jsonschema.ValidationError) -> Iterator[str]:
        if not err.context:
            yield f"{'/'.join(map(str, err.absolute_path))}: {err.message}"
        for sub in err.context:
            yield from leaves(sub)
    return [leaf for err in VALIDATOR.iter_errors(card) for leaf in leaves(err)]


def assert_valid(msg: CardMessage) -> None:
    problems = schema_problems(msg.card)
    assert not problems, problems[:10]
    assert msg.card["version"] == "1.5"
    assert msg.summary and "\n" not in msg.summary
    json.dumps(msg.card)  # plain JSON, nothing the connector cannot serialise


# A meeting tomorrow on the organizer's calendar, Ana invited, two options asked for.
LATER_ON_CALENDAR = graph_meeting(
    start=datetime(2025, 3, 6, 8, 30, tzinfo=UTC), end=datetime(2025, 3, 6, 9, 30, tzinfo=UTC),
    event_id="AAMkAGI2TGuLAAA=", invitations=1, attendees=(Person("Ana"),), lobby_scope="invited",
    options=MeetingOptions(lobby=Lobby.EVERYONE_WAITS, chat=False))


ALL_CARDS = {
    "attendee": lambda tr: meeting_card(graph_meeting(), BERLIN, now=NOW, tr=tr),
    "organizer": lambda tr: meeting_card(graph_meeting(), BERLIN, ref=REF, organizer_view=True,
                                         refresh_user_ids=["29:1abc"], now=NOW, tr=tr),
    "no-audio-no-passcode-utc": lambda tr: meeting_card(
        graph_meeting(audio=None, passcode=None), UserTime(), now=NOW, tr=tr),
    "ended": lambda tr: meeting_card(graph_meeting(ended=True), BERLIN, now=NOW, tr=tr),
    "invited": lambda tr: meeting_card(graph_meeting(
        attendees=(Person("Ana"), Person("Ben")), lobby_scope="invited"), BERLIN, now=NOW,
        tr=tr),
    "invited-many": lambda tr: meeting_card(graph_meeting(
        attendees=tuple(Person(n) for n in "ABCDE"), lobby_scope="organization"), BERLIN,
        now=NOW, tr=tr),
    "new-meeting": lambda tr: new_meeting_card(default_minutes=15, tr=tr),
    "help": lambda tr: help_card(tr=tr),
    "help-reason": lambda tr: help_card("I didn't recognise “hello”", tr=tr),
    "error": lambda tr: error_card(describe(GraphThrottled(request_id="rid-1"), tr),
                                   retry=actions.retry_data(REF), tr=tr),
    "error-did-you-mean": lambda tr: error_card(describe(ParseError(
        "I couldn't read “tomorow”", "meet tomorrow at 9am", "meet tomorrow at 9am"), tr), tr=tr),
    "later-with-date-reading": lambda tr: meeting_card(
        graph_meeting(start=datetime(2025, 12, 9, 9, 0, tzinfo=UTC),
                      end=datetime(2025, 12, 9, 9, 30, tzinfo=UTC)), BERLIN, now=NOW,
        date_reading="“12/9” read as 9 December (month/day, as en-US writes dates)", tr=tr),
    "consent": lambda tr: consent_card(describe(ConsentRequired(
        admin_consent_url="https://login.microsoftonline.com/x"), tr),
        admin_consent_url="https://login.microsoftonline.com/x", tr=tr),
    "on-calendar-later": lambda tr: meeting_card(LATER_ON_CALENDAR, BERLIN, now=NOW, tr=tr),
    "on-calendar-organizer": lambda tr: meeting_card(LATER_ON_CALENDAR, BERLIN, ref=REF,
                                                     organizer_view=True, now=NOW, tr=tr),
    "invitations-off-options-refused": lambda tr: meeting_card(graph_meeting(
        invitations_off=True, options=MeetingOptions(presenters=Presenters.ORGANIZER),
        refused_options=("recordAutomatically",)), BERLIN, now=NOW, tr=tr),
    "too-many-to-invite": lambda tr: meeting_card(graph_meeting(
        event_id="AAMkAGI=", not_invited=400), BERLIN, now=NOW, tr=tr),
}
# No locale (MeetBot's own English), and each language MeetBot speaks.
LOCALES = [None, "en-US", "de-DE", "fr-FR", "es-ES"]


@pytest.mark.parametrize("locale", LOCALES, ids=str)
@pytest.mark.parametrize("name", ALL_CARDS)
def test_every_card_is_valid_adaptive_card_1_5(name: str, locale: str | None) -> None:
    assert_valid(ALL_CARDS[name](translator(locale)))


@pytest.mark.parametrize("locale", ["de-DE", "fr-FR", "es-ES"])
def test_every_card_speaks_the_language_of_its_locale(locale: str) -> None:
    """No English sentence left in a German, French or Spanish card: every text block, label,
    choice and button title differs from the English card's, except the user's own words
    (subjects, the grammar's reasons, which are its own to translate) and numbers."""
    theirs = {"Budget review", "I didn't recognise “hello”", "I couldn't read “tomorow”.",
              "“12/9” read as 9 December (month/day, as en-US writes dates)"}
    for name, build in ALL_CARDS.items():
        english, local = build(translator(None)), build(translator(locale))
        same = (_words(english.card) & _words(local.card)) - theirs
        assert not same, (name, same)
        assert local.summary != english.summary, name


_LINK = re.compile(r"\[[^\]]*\]\([^)]*\)")  # a markdown link: a number or URL, not words


def _words(card: dict) -> set[str]:
    """What a person reads on a card, less links and numbers: texts, fact titles, labels,
    placeholders, choices, button titles."""
    found = set(texts(card))
    for node in walk(card):
        for key in ("title", "label", "placeholder", "errorMessage"):
            if isinstance(node.get(key), str):
                found.add(node[key])
    words = {_LINK.sub("", w).strip(" ·") for w in found}
    return {w for w in words if w and not w[:1].isdigit()}


def test_the_schema_rejects_what_teams_would_drop() -> None:
    """The validator is live: a 1.6-only property and a misspelt one are reported."""
    card = {"type": "AdaptiveCard", "version": "1.5", "body": [
        {"type": "Input.Text", "id": "x", "labelPosition": "inline"},
        {"type": "TextBlock", "text": "x", "colour": "Attention"}]}
    problems = " ".join(schema_problems(card))
    assert "'labelPosition' was unexpected" in problems and "'colour' was unexpected" in problems


def test_cards_do_not_import_botbuilder() -> None:
    code = ("import sys, cards, cards.actions; "
            "sys.exit(any(m.startswith(('botbuilder', 'botframework')) for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# --- the meeting card -------------------------------------------------------------------------
def test_meeting_card_attendee_view() -> None:
    card = meeting_card(graph_meeting(), BERLIN, now=NOW).card
    assert texts(card)[0] == "Budget review"
    assert "Today, Wed 5 Mar, 14:30–15:00 (Europe/Berlin)" in texts(card)  # starts in 30 min
    joins = [a for a in of_type(card, "Action.OpenUrl") if a["title"] == "Join meeting"]
    assert [a["url"] for a in joins] == [JOIN_URL]
    assert facts(card) == {"Meeting ID": "123 456 789 012", "Passcode": "hK3x9Q"}
    assert not of_type(card, "Action.Execute") and "refresh" not in card
    assert any("isn't on anyone's calendar" in t for t in texts(card))


def test_every_dial_in_number_is_a_one_tap_link_with_the_conference_id() -> None:
    card = meeting_card(graph_meeting(), BERLIN, now=NOW).card
    tel = {url: shown for url, shown in links(card).items() if url.startswith("tel:")}
    assert set(tel) == {"tel:+12525634478,,2425999#", "tel:+442071234567,,2425999#",
                        "tel:+18666390588,,2425999#"}
    assert tel["tel:+12525634478,,2425999#"] == "+1 252-563-4478,,2425999#"
    assert links(card)[DIALIN_URL] == "Find a local number"
    assert any("Conference ID: 2425999#" in t for t in texts(card))
    toll_free = next(t for t in texts(card) if "tel:+18666390588" in t)
    assert toll_free.endswith("toll-free")


def test_meeting_without_audio_or_passcode_explains_instead() -> None:
    card = meeting_card(graph_meeting(audio=None, passcode=None), BERLIN, now=NOW).card
    assert not any(url.startswith("tel:") for url in links(card))
    assert "No dial-in: the organizer has no Audio Conferencing licence." in texts(card)
    assert facts(card) == {"Meeting ID": "123 456 789 012"}


def test_audio_without_conference_id_dials_the_bare_number() -> None:
    audio = AudioConferencing(toll_numbers=("+12525634478",))
    card = meeting_card(graph_meeting(audio=audio), BERLIN, now=NOW).card
    assert [u for u in links(card) if u.startswith("tel:")] == ["tel:+12525634478"]


def test_unknown_time_zone_shows_utc_and_says_so() -> None:
    card = meeting_card(graph_meeting(), UserTime(), now=NOW).card
    assert "Today, Wed 5 Mar, 13:30–14:00 (UTC — your time zone wasn't shared)" in texts(card)


def test_times_name_the_day_relative_to_the_user() -> None:
    tokyo = UserTime(ZoneInfo("Asia/Tokyo"), "Asia/Tokyo", True)
    late = graph_meeting(start=datetime(2025, 3, 5, 14, 30, tzinfo=UTC),
                         end=datetime(2025, 3, 5, 15, 30, tzinfo=UTC))
    assert "Today, Wed 5 Mar, 23:30 – Tomorrow 00:30 (Asia/Tokyo)" in texts(
        meeting_card(late, tokyo, now=NOW).card)
    later = graph_meeting(start=datetime(2025, 3, 7, 8, 0, tzinfo=UTC),
                          end=datetime(2025, 3, 7, 9, 0, tzinfo=UTC))
    assert "In 2 days, Fri 7 Mar, 09:00–10:00 (Europe/Berlin)" in texts(
        meeting_card(later, BERLIN, now=NOW).card)
    next_year = graph_meeting(start=datetime(2026, 1, 2, 8, 0, tzinfo=UTC),
                              end=datetime(2026, 1, 2, 9, 0, tzinfo=UTC))
    assert "Fri 2 Jan 2026, 09:00–10:00 (Europe/Berlin)" in texts(
        meeting_card(next_year, BERLIN, now=NOW).card)


def test_a_meeting_under_way_shows_the_time_without_the_date() -> None:
    started = graph_meeting(start=NOW - timedelta(seconds=20), end=NOW + timedelta(minutes=30))
    assert "Today 13:59–14:30 (Europe/Berlin)" in texts(meeting_card(started, BERLIN, now=NOW).card)


def test_a_later_start_says_its_day_on_the_card_and_in_the_summary() -> None:
    """What the grammar read ("tomorrow 9:30 for 1h") is what the card says, relative first."""
    now = datetime(2025, 11, 30, 12, 0, tzinfo=UTC)  # Sunday 13:00 in Berlin
    req = parse("meet tomorrow 9:30 for 1h about planning", now=now,
                user_time=user_time_from("Europe/Berlin"))
    assert isinstance(req, MeetingRequest)
    msg = meeting_card(graph_meeting(start=req.start.astimezone(UTC),
                                     end=req.end.astimezone(UTC)), BERLIN, now=now)
    assert "Tomorrow, Mon 1 Dec, 09:30–10:30 (Europe/Berlin)" in texts(msg.card)
    assert "Tomorrow, Mon 1 Dec, 09:30–10:30 (Europe/Berlin)" in msg.summary


def test_an_ambiguous_numeric_date_says_how_it_was_read() -> None:
    now = datetime(2025, 11, 30, 12, 0, tzinfo=UTC)
    req = parse("meet 12/9 at 10am", now=now, user_time=user_time_from("Europe/Berlin"),
                locale="en-US")
    assert isinstance(req, MeetingRequest) and req.date_reading
    msg = meeting_card(graph_meeting(start=req.start.astimezone(UTC),
                                     end=req.end.astimezone(UTC)), BERLIN, now=now,
                       date_reading=req.date_reading)
    assert "In 9 days, Tue 9 Dec, 10:00–10:30 (Europe/Berlin)" in texts(msg.card)
    assert any("“12/9” read as 9 December (month/day" in t for t in texts(msg.card))
    assert "read as 9 December" in msg.summary


def test_ended_meeting_has_no_join_or_buttons() -> None:
    msg = meeting_card(graph_meeting(ended=True), BERLIN, organizer_view=True,
                       refresh_user_ids=["29:1abc"], now=NOW)
    assert "This meeting has ended" in texts(msg.card)
    assert not of_type(msg.card, "Action.OpenUrl") and not of_type(msg.card, "Action.Execute")
    assert JOIN_URL not in json.dumps(msg.card) and "ended" in msg.summary


def test_invited_people_and_lobby_in_words() -> None:
    meeting = graph_meeting(attendees=(Person("Ana"), Person("Ben")), lobby_scope="invited")
    assert "Invited: Ana and Ben · they skip the lobby" in texts(
        meeting_card(meeting, BERLIN, now=NOW).card)
    crowd = graph_meeting(attendees=tuple(Person(n) for n in "ABCDE"), lobby_scope="organization")
    assert "Invited: A, B and 3 others · people in your organisation skip the lobby" in texts(
        meeting_card(crowd, BERLIN, now=NOW).card)
    everyone = graph_meeting(lobby_scope="everyone")
    assert "Everyone skips the lobby" in texts(meeting_card(everyone, BERLIN, now=NOW).card)


def test_calendar_lines_options_and_refusals_in_words() -> None:
    later = texts(meeting_card(LATER_ON_CALENDAR, BERLIN, now=NOW).card)
    # The lobby asked for is said once, with the options.
    assert later[-3:] == ["Invited: Ana", "Options: everyone waits in the lobby · no meeting chat",
                          "On your calendar · invitations sent to 1 person"]
    off = texts(ALL_CARDS["invitations-off-options-refused"](ENGLISH).card)
    assert off[-3:] == [
        "Options: only the organizer presents",
        "Teams didn't allow automatic recording for this meeting (your organisation's meeting "
        "policy or licence); the meeting works without it.",
        "This meeting isn't on anyone's calendar. Invitations are off: an admin can turn them on."]
    assert texts(meeting_card(graph_meeting(), BERLIN, now=NOW).card)[-1] == (
        "This meeting isn't on anyone's calendar.")
    assert "400 people are too many to invite by email" in texts(
        ALL_CARDS["too-many-to-invite"](ENGLISH).card)[-1]


def test_add_to_my_calendar_only_for_a_later_meeting_and_not_for_its_organizer() -> None:
    def buttons(meeting: Meeting, **kwargs: Any) -> dict[str, dict]:
        return {a["title"]: a for a in meeting_card(meeting, BERLIN, now=NOW, **kwargs).card["actions"]}

    shared = buttons(LATER_ON_CALENDAR)
    link = shared["Add to my calendar"]["url"]
    assert link.startswith("https://outlook.office.com/calendar/0/deeplink/compose?subject=Budget%20review&")
    assert "startdt=2025-03-06T08%3A30%3A00Z&enddt=2025-03-06T09%3A30%3A00Z" in link
    assert "body=Join%20the%20Teams%20meeting%3A%20https%3A%2F%2Fteams.microsoft.com" in link
    assert "Add to my calendar" not in buttons(LATER_ON_CALENDAR, ref=REF, organizer_view=True)
    standalone_later = replace(LATER_ON_CALENDAR, event_id=None, invitations=0)
    organizer = meeting_card(standalone_later, BERLIN, now=NOW, ref=REF, organizer_view=True).card
    # Beside Extend and End a fourth button would not fit Teams' row: the organizer gets a link.
    assert "Add to my calendar" not in {a["title"] for a in organizer["actions"]}
    assert len(organizer["actions"]) == 3
    assert any(t.startswith("[Add to my calendar](https://outlook.office.com/") for t in texts(organizer))
    assert "Add to my calendar" not in buttons(graph_meeting(start=NOW))  # under way: join it


def test_user_text_cannot_add_links_or_formatting() -> None:
    meeting = graph_meeting(subject="[Join here](https://evil.example) **now**",
                            attendees=(Person("1. _Ana_"),))
    card = meeting_card(meeting, BERLIN, now=NOW).card
    assert "https://evil.example" not in links(card)
    assert texts(card)[0] == r"\[Join here\](https://evil.example) \*\*now\*\*"
    assert any(t.startswith(r"Invited: 1\. \_Ana\_") for t in texts(card))


def test_organizer_view_buttons_carry_only_the_opaque_reference() -> None:
    meeting = graph_meeting()
    card = meeting_card(meeting, BERLIN, ref=REF, version=3, organizer_view=True, now=NOW).card
    buttons = {a["title"]: a for a in card["actions"] if a["type"] == "Action.Execute"}
    assert set(buttons) == {"Extend 15 min", "End meeting"}
    for verb, button in ((actions.VERB_EXTEND, buttons["Extend 15 min"]),
                         (actions.VERB_END, buttons["End meeting"])):
        assert button["verb"] == button["data"]["verb"] == verb
        # Nothing the bot would believe: no meeting id, URL, number or organizer.
        assert button["data"] == {"verb": verb, "ref": REF, "v": 3}
        assert button["fallback"] == {"type": "Action.Submit", "title": button["title"],
                                      "data": button["data"]}
    assert buttons["End meeting"]["style"] == "destructive"
    assert not of_type(meeting_card(meeting, BERLIN, organizer_view=True, now=NOW).card["actions"],
                       "Action.Execute")  # no record, no buttons


def test_refresh_lists_the_users_for_their_own_view() -> None:
    card = meeting_card(graph_meeting(), BERLIN, ref=REF, refresh_user_ids=["29:1abc", "29:2def"],
                        now=NOW).card
    refresh = card["refresh"]
    assert refresh["userIds"] == ["29:1abc", "29:2def"]
    assert refresh["action"]["type"] == "Action.Execute"
    assert refresh["action"]["verb"] == refresh["action"]["data"]["verb"] == actions.VERB_REFRESH
    assert not of_type(card["actions"], "Action.Execute")  # still the attendee view
    many = meeting_card(graph_meeting(), BERLIN, ref=REF,
                        refresh_user_ids=[f"29:{i}" for i in range(80)], now=NOW).card
    assert len(many["refresh"]["userIds"]) == 60  # Teams' limit for user-specific views


# --- the card-action contract ------------------------------------------------------------------
def _button(card: dict, title: str) -> dict:
    return next(a for a in walk(card) if a.get("title") == title and "verb" in a)


def test_a_click_reads_back_the_reference_from_invoke_and_from_submit() -> None:
    data = _button(meeting_card(graph_meeting(), BERLIN, ref=REF, version=2, organizer_view=True,
                                now=NOW).card, "Extend 15 min")["data"]
    invoke = {"action": {"type": "Action.Execute", "verb": "meeting.extend", "data": data},
              "trigger": "manual"}
    for value in (invoke, json.loads(json.dumps(data))):  # Action.Execute, Action.Submit
        verb, action = read_action(value)
        assert verb == actions.VERB_EXTEND
        assert action == OnMeeting(actions.VERB_EXTEND, REF, 2, automatic=False)


def test_an_automatic_refresh_is_marked() -> None:
    card = meeting_card(graph_meeting(), UserTime(), ref=REF, refresh_user_ids=["29:1"],
                        now=NOW).card
    value = {"action": card["refresh"]["action"], "trigger": "automatic"}
    verb, action = read_action(value)
    assert verb == actions.VERB_REFRESH and isinstance(action, OnMeeting) and action.automatic


@pytest.mark.parametrize("value", [
    None, "meeting.end", [], {}, {"verb": 3}, {"verb": "meeting.delete"},
    {"action": "meeting.end"}, {"action": {"type": "Action.Submit", "verb": "meeting.end"}},
    {"action": {"type": "Action.Execute", "verb": "meeting.end", "data": "x"}},
    {"verb": "meeting.end"}, {"verb": "meeting.end", "ref": 5}, {"verb": "meeting.end", "ref": ""},
    {"verb": "meeting.end", "ref": "x" * 65}, {"verb": "meeting.retry", "ref": ["x"]},
    {"verb": "command.run"}, {"verb": "command.run", "text": " "},
    {"verb": "command.run", "text": "meet " * 300},
    {"verb": "meeting.create", "minutes": "45"}, {"verb": "meeting.create", "minutes": True},
    {"verb": "meeting.create", "minutes": 30.0}, {"verb": "meeting.create", "subject": ["x"]},
    {"verb": "meeting.create", "subject": "x" * 5000},
], ids=repr)
def test_malformed_actions_are_refused(value: Any) -> None:
    with pytest.raises(BadCardAction):
        read_action(value)


# --- the new-meeting card ---------------------------------------------------------------------
def test_new_meeting_card_offers_lengths_subject_and_meet_now() -> None:
    card = new_meeting_card(default_minutes=60).card
    (choice,) = [c for c in of_type(card, "Input.ChoiceSet") if c["id"] == actions.INPUT_MINUTES]
    assert [c["value"] for c in choice["choices"]] == ["15", "30", "60"]
    assert choice["value"] == "60" and choice["id"] == actions.INPUT_MINUTES
    (subject,) = of_type(card, "Input.Text")
    assert subject["id"] == actions.INPUT_SUBJECT and not subject.get("isRequired")
    button = _button(card, "Meet now")
    assert button["type"] == "Action.Execute" and button["verb"] == actions.VERB_CREATE
    with pytest.raises(ValueError):
        new_meeting_card(default_minutes=45)


def test_a_form_click_becomes_a_meeting_request() -> None:
    data = _button(new_meeting_card().card, "Meet now")["data"]
    typed = data | {"minutes": "15", "subject": "  Budget   review "}  # the client merges inputs
    verb, form = read_action({"action": {"type": "Action.Execute", "verb": data["verb"],
                                         "data": typed}})
    assert (verb, form) == ("meeting.create", CreateFromForm(15, "Budget review"))
    request = request_from_form(form, now=NOW, user_time=BERLIN)
    assert request.duration == timedelta(minutes=15) and request.start == NOW
    assert request.subject == "Budget review" and request.subject_given and request.starts_now
    _, untitled_form = read_action(data | {"subject": " "})
    untitled = request_from_form(untitled_form, now=NOW, user_time=BERLIN)
    assert not untitled.subject_given and untitled.duration == timedelta(minutes=30)
    with pytest.raises(ParseError):
        request_from_form(CreateFromForm(30, "x" * 400), now=NOW, user_time=BERLIN)


def test_the_form_options_read_back_within_what_it_offers() -> None:
    data = _button(new_meeting_card().card, "Meet now")["data"]
    inputs = {i["id"]: i for i in walk(new_meeting_card().card)
              if str(i.get("type", "")).startswith("Input.")}
    defaults = {k: i["value"] for k, i in inputs.items() if "value" in i}  # an untouched form
    _, untouched = read_action(data | defaults)
    assert isinstance(untouched, CreateFromForm) and untouched.options == MeetingOptions()
    _, chosen = read_action(data | defaults | {"presenters": "organizer", "lobby": "everyone",
                                               "record": "true", "chat": "false"})
    assert isinstance(chosen, CreateFromForm) and chosen.options == MeetingOptions(
        presenters=Presenters.ORGANIZER, lobby=Lobby.EVERYONE_SKIPS, record=True, chat=False)
    request = request_from_form(chosen, now=NOW, user_time=BERLIN)
    assert request.options == chosen.options
    for forged in ({"presenters": "invited"}, {"lobby": "organizationAndFederated"},
                   {"record": True}, {"chat": "off"}, {"presenters": ["organizer"]}):
        with pytest.raises(BadCardAction):
            read_action(data | forged)


def test_click_key_is_stable_per_choice() -> None:
    assert click_key("act-1", 30, "Budget") == click_key("act-1", 30, "Budget")
    assert click_key("act-1", 30, "Budget") != click_key("act-1", 60, "Budget")
    assert click_key("act-1", 30, "Budget") != click_key("act-2", 30, "Budget")


# --- help, errors, consent --------------------------------------------------------------------
def test_help_card_lists_the_grammar_and_leads_with_the_reason() -> None:
    card = help_card().card
    shown = " ".join(texts(card))
    for example in ("meet", "meet now 30m about budget review",
                    "meet tomorrow 9:30 for 1h about planning with @Ana",
                    "meet on Dec 9 at 10am about roadmap", "meeting", "new meeting",
                    "start a meeting", "schedule a meeting", "set up a meeting", "meet at 3pm",
                    "meet in 10 min for 20 min about X", "meet with everyone about all hands",
                    "sign out", "help"):
        assert f"**{example}**" in shown
    msg = help_card("I didn't recognise “hello”")
    assert texts(msg.card)[0] == "I didn't recognise “hello”"
    assert msg.summary.startswith("I didn't recognise “hello”. ")


def test_error_card_shows_title_text_example_and_request_id() -> None:
    msg = error_card(UserMessage("I couldn't read that", "Type `help` for examples.",
                                 example="meet now 30m about budget review", request_id="rid-9"))
    shown = texts(msg.card)
    assert shown[0] == "I couldn't read that"
    assert "Type **help** for examples." in shown  # no code spans in Adaptive Card markdown
    assert "Try: **meet now 30m about budget review**" in shown
    assert "Request ID: rid-9" in shown
    assert "`" not in msg.summary and "rid-9" not in msg.summary
    plain = error_card(UserMessage("Teams is busy right now", "Try again in a minute."))
    assert not any(t.startswith(("Try:", "Request ID")) for t in texts(plain.card))


def test_a_typo_gets_did_you_mean_and_a_button_that_runs_the_corrected_command() -> None:
    now, berlin = datetime(2025, 11, 30, 12, 0, tzinfo=UTC), user_time_from("Europe/Berlin")
    with pytest.raises(ParseError) as caught:
        parse("meet tomorow at 9 about standup", now=now, user_time=berlin)
    msg = error_card(describe(caught.value))
    assert "Did you mean **meet tomorrow at 9am about standup**?" in texts(msg.card)
    assert not any(t.startswith("Try:") for t in texts(msg.card))
    assert "Did you mean: meet tomorrow at 9am about standup?" in msg.summary
    [button] = of_type(msg.card, "Action.Execute")
    assert button["verb"] == VERB_RUN_COMMAND == "command.run"
    assert button["data"] == {"verb": "command.run", "text": "meet tomorrow at 9am about standup"}
    assert button["fallback"]["data"] == button["data"]  # older clients: Action.Submit
    # What the button runs is a meeting at the time the user typed, read as they meant it.
    rerun = parse(button["data"]["text"], now=now, user_time=berlin)
    assert isinstance(rerun, MeetingRequest) and rerun.subject == "standup"
    assert rerun.start.strftime("%Y-%m-%d %H:%M") == "2025-12-01 09:00"


def test_did_you_mean_escapes_markdown_in_the_users_words() -> None:
    msg = error_card(UserMessage("I couldn't read that", "x.", "meet [x](y) *b*",
                                 suggestion="meet [x](y) *b*"))
    assert "Did you mean **meet \\[x\\](y) \\*b\\***?" in texts(msg.card)


def test_consent_card_offers_the_admin_link_only_when_there_is_one() -> None:
    url = "https://login.microsoftonline.com/contoso.onmicrosoft.com/adminconsent?client_id=x"
    err = ConsentRequired(admin_consent_url=url)
    card = consent_card(describe(err), admin_consent_url=err.admin_consent_url).card
    assert [(a["title"], a["url"]) for a in of_type(card, "Action.OpenUrl")] == [
        ("Ask your admin", url)]
    assert not of_type(consent_card(describe(ConsentRequired())).card, "Action.OpenUrl")
