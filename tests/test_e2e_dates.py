"""Issue 13 end to end over HTTP: a typed date makes the meeting at that wall-clock time in the
user's zone (as the Graph simulator records it), and words MeetBot could not read make no
meeting at all, only a card that says so and offers the corrected command.

The router passes no locale to the grammar yet, so these use forms that need none."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.hosting import BOT, LOCAL_GRAPH
from tests.helpers import (
    User,
    card_of,
    card_text,
    invoke,
    message,
    of_type,
    posted_id,
    reply_to,
    texts,
)

BERLIN = ZoneInfo("Europe/Berlin")


def _graph_time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


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
    # The card spells the day out, so a misread date would show at a glance; en-US (the
    # activity's locale) writes it month first, on a 12-hour clock (CLDR).
    spelled = f"{day:%a}, {day:%b} {day.day}" + ("" if day.year == today.year else f", {day.year}")
    assert any(f"{spelled}, 10:00\u2009–\u200910:30\u202fAM (Europe/Berlin)" in t
               for t in texts(card))


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
    await demo_bot.app[BOT].drain(10)  # nothing else may follow, and nothing may reach Graph
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


async def test_did_you_mean_runs_the_corrected_command_once_and_the_card_becomes_the_meeting(
        demo_bot, connector):
    """The button runs the suggestion as if the clicker had typed it; the message that offered
    it (which MeetBot recorded) turns into the meeting's card; a double click makes one."""
    user = User()
    act = message("<at>MeetBot</at> meet tomorow at 9 about standup", service_url=connector.url,
                  user=user, kind="groupChat",
                  mentions=[{"type": "mention", "text": "<at>MeetBot</at>",
                             "mentioned": {"id": "28:meetbot", "name": "MeetBot"}}])
    await demo_bot.post(act)
    offer = card_of(await reply_to(connector, act["id"]))
    offer_id = posted_id(connector, lambda a: card_of(a) == offer)
    [button] = of_type(offer, "Action.Execute")
    value = {"action": {"type": "Action.Execute", "verb": button["verb"], "data": button["data"]},
             "trigger": "manual"}
    clicks = [invoke("adaptiveCard/action", value, service_url=connector.url, user=user,
                     kind="groupChat", reply_to_id=offer_id) for _ in range(2)]
    answers = await asyncio.gather(*(demo_bot.post(c) for c in clicks))
    assert all(a.status == 200 for a in answers)
    graph = demo_bot.app[LOCAL_GRAPH]
    [meeting] = graph.meetings_of(user.tenant_id, user.aad_object_id)
    berlin = datetime.fromisoformat(meeting["startDateTime"].replace("Z", "+00:00")).astimezone(
        ZoneInfo("Europe/Berlin"))
    assert (berlin.hour, berlin.minute) == (9, 0) and meeting["subject"] == "standup"
    update = await connector.wait_for(lambda c: c.op == "update" and c.activity_id == offer_id)
    assert meeting["joinWebUrl"] in card_text(card_of(update.body))


async def test_a_forged_did_you_mean_runs_only_as_a_command_of_the_clicker(demo_bot, connector):
    """The text is client data: it is read by the grammar like anything typed, and the message
    it names is updated only if MeetBot recorded it there (here: it did not)."""
    user, victim_card = User(), "1799999999999"
    value = {"action": {"type": "Action.Execute", "verb": "command.run",
                        "data": {"verb": "command.run", "text": "meet now about forged"}},
             "trigger": "manual"}
    resp = await demo_bot.post(invoke("adaptiveCard/action", value, service_url=connector.url,
                                      user=user, reply_to_id=victim_card))
    assert resp.status == 200
    [meeting] = demo_bot.app[LOCAL_GRAPH].meetings_of(user.tenant_id, user.aad_object_id)
    assert meeting["participants"]["organizer"]["identity"]["user"]["id"] == user.aad_object_id
    assert [c for c in connector.calls if c.op == "update"] == []
