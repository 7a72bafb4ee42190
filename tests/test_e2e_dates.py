"""Issue 13 end to end over HTTP: a typed date makes the meeting at that wall-clock time in the
user's zone (as the Graph simulator records it), and words MeetBot could not read make no
meeting at all, only a card that says so and offers the corrected command.

The router passes no locale to the grammar yet, so these use forms that need none."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.hosting import LOCAL_GRAPH
from tests.conftest import User, message
from tests.test_cards import of_type, texts
from tests.test_e2e_meet import card_of, reply_to

BERLIN = ZoneInfo("Europe/Berlin")


def _graph_time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(timezone.utc)


async def test_a_typed_date_makes_the_meeting_at_that_time_in_the_users_zone(demo_bot, connector):
    user = User()
    today = datetime.now(BERLIN).date()
    day = today + timedelta(days=10)
    typed = f"meet on {day:%b} {day.day} at 10am about roadmap"  # e.g. "meet on Dec 9 at 10am …"
    act = message(typed, service_url=connector.url, user=user, timezone_name="Europe/Berlin")
    assert (await demo_bot.post(act)).status in (200, 201)
    card = card_of(await reply_to(connector, act["id"]))

    [meeting] = demo_bot.app[LOCAL_GRAPH].meetings_of(user.tenant_id, user.aad_object_id)
    assert meeting["subject"] == "roadmap"
    start = _graph_time(meeting["startDateTime"]).astimezone(BERLIN)
    assert (start.date(), start.hour, start.minute) == (day, 10, 0)  # 10:00 Berlin time, DST or not
    assert _graph_time(meeting["endDateTime"]) - _graph_time(meeting["startDateTime"]) \
        == timedelta(minutes=30)
    # The card spells the day out, so a misread date would show at a glance.
    spelled = f"{day:%a} {day.day} {day:%b}" + ("" if day.year == today.year else f" {day.year}")
    assert any(f"{spelled}, 10:00–10:30 (Europe/Berlin)" in t for t in texts(card))


async def test_a_trailing_length_and_a_new_verb_over_http(demo_bot, connector):
    user = User()
    act = message("start a meeting about budget review for 45 minutes",
                  service_url=connector.url, user=user)
    assert (await demo_bot.post(act)).status in (200, 201)
    await reply_to(connector, act["id"])
    [meeting] = demo_bot.app[LOCAL_GRAPH].meetings_of(user.tenant_id, user.aad_object_id)
    assert meeting["subject"] == "budget review"
    assert _graph_time(meeting["endDateTime"]) - _graph_time(meeting["startDateTime"]) \
        == timedelta(minutes=45)


async def test_a_typo_makes_no_meeting_and_offers_the_corrected_command(demo_bot, connector):
    user = User()
    act = message("meet tomorow at 9 about standup", service_url=connector.url, user=user)
    assert (await demo_bot.post(act)).status in (200, 201)
    card = card_of(await reply_to(connector, act["id"]))
    await asyncio.sleep(0.2)  # nothing else may follow, and nothing may reach Graph
    graph = demo_bot.app[LOCAL_GRAPH]
    assert graph.meetings_of(user.tenant_id, user.aad_object_id) == []
    assert graph.count("POST") == 0

    shown = texts(card)
    assert any("“tomorow”" in t for t in shown)
    assert "Did you mean **meet tomorrow at 9am about standup**?" in shown
    [button] = of_type(card, "Action.Execute")
    assert button["verb"] == "command.run"
    assert button["data"] == {"verb": "command.run", "text": "meet tomorrow at 9am about standup"}


async def test_an_impossible_time_makes_no_meeting(demo_bot, connector):
    user = User()
    for typed in ("meet blah at 25pm", "meet on the 35th at 10am about x", "meet next week"):
        act = message(typed, service_url=connector.url, user=user)
        assert (await demo_bot.post(act)).status in (200, 201)
        card = card_of(await reply_to(connector, act["id"]))
        assert texts(card)[0] == "I couldn't read that", typed
    assert demo_bot.app[LOCAL_GRAPH].meetings_of(user.tenant_id, user.aad_object_id) == []
