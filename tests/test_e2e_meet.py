"""The product's spine, end to end over HTTP: a Teams message goes into /api/messages, the meeting
appears in the Graph simulator, the card arrives at the Bot Connector simulator."""
from __future__ import annotations

import asyncio

import pytest

from bot.hosting import BOT, LOCAL_GRAPH
from localcloud.graph_sim import Fault
from tests.helpers import User, card_of, card_text, message, reply_to, walk

ADAPTIVE = "application/vnd.microsoft.card.adaptive"


async def test_meet_now_creates_meeting_and_card(demo_bot, connector):
    user = User()
    act = message("meet now 30m about budget review", service_url=connector.url, user=user)
    resp = await demo_bot.post(act)
    assert resp.status in (200, 201)
    reply = await reply_to(connector, act["id"])
    card = card_of(reply)
    assert card is not None and card["type"] == "AdaptiveCard"
    assert reply.get("summary"), "clients without cards need a plain-text summary"

    graph = demo_bot.app[LOCAL_GRAPH]
    meetings = graph.meetings_of(user.tenant_id, user.aad_object_id)
    assert len(meetings) == 1
    m = meetings[0]
    assert m["subject"] == "budget review"
    text = card_text(card)
    # What the simulator issued is what the card shows.
    opens = [a for a in walk(card) if a.get("type") == "Action.OpenUrl"]
    assert any(a["url"] == m["joinWebUrl"] for a in opens)
    code = m["joinMeetingIdSettings"]["joinMeetingId"]
    assert " ".join(code[i:i + 3] for i in range(0, len(code), 3)) in text or code in text
    if m["joinMeetingIdSettings"].get("passcode"):
        assert m["joinMeetingIdSettings"]["passcode"] in text
    audio = m["audioConferencing"]
    conf = audio["conferenceId"]
    for number in audio["tollNumbers"] + audio["tollFreeNumbers"]:
        digits = "".join(ch for ch in number if ch.isdigit() or ch == "+")
        assert f"tel:{digits},,{conf}#" in text
    assert audio["dialinUrl"] in text
    # "typing…" went out before the card.
    typing = [c for c in connector.calls if c.body and c.body.get("type") == "typing"]
    assert typing and typing[0].at <= connector.calls[-1].at


async def test_redelivered_activity_gives_one_meeting_and_one_card(demo_bot, connector):
    user = User()
    act = message("meet now about redelivery", service_url=connector.url, user=user)
    first, second = await asyncio.gather(demo_bot.post(act), demo_bot.post(act))
    assert {first.status, second.status} <= {200, 201}
    await reply_to(connector, act["id"])
    await demo_bot.app[BOT].drain(10)  # every card that was on its way has landed
    cards = [c for c in connector.calls if c.op in ("reply", "send") and card_of(c.body)]
    assert len(cards) == 1
    assert len(demo_bot.app[LOCAL_GRAPH].meetings_of(user.tenant_id, user.aad_object_id)) == 1


@pytest.mark.parametrize("text, expect", [
    ("meet at 25:00", "25:00"),
    ("meet 0m", "0m"),
    ("meet 25h", "25h"),
])
async def test_impossible_commands_get_specific_message_and_no_meeting(demo_bot, connector,
                                                                       text, expect):
    user = User()
    act = message(text, service_url=connector.url, user=user)
    assert (await demo_bot.post(act)).status in (200, 201)
    reply = await reply_to(connector, act["id"])
    assert expect in card_text(card_of(reply))
    assert demo_bot.app[LOCAL_GRAPH].meetings_of(user.tenant_id, user.aad_object_id) == []


async def test_help_and_unknown_text_answer_with_help(demo_bot, connector):
    for text in ("help", "hello there"):
        act = message(text, service_url=connector.url)
        assert (await demo_bot.post(act)).status in (200, 201)
        reply = await reply_to(connector, act["id"])
        assert "meet now 30m about budget review" in card_text(card_of(reply))


@pytest.mark.parametrize("fault, title", [
    (Fault(status=403), "didn't let me"),
    (Fault(status=400), "didn't accept"),
    (Fault(status=404), "couldn't find"),
    (Fault(status=409), "changed at the same time"),
    (Fault(status=401), "sign in again"),
    (Fault(status=500), "unavailable"),
    (Fault(status=200, body="<html>not json</html>"), "couldn't read"),
])
async def test_graph_errors_reach_the_user_as_specific_messages(demo_bot, connector, fault, title):
    graph = demo_bot.app[LOCAL_GRAPH]
    graph.faults.push(fault)
    user = User()
    act = message("meet now about a failing graph", service_url=connector.url, user=user)
    resp = await demo_bot.post(act)
    assert resp.status in (200, 201)  # never a 500 to Teams: it would redeliver
    reply = await reply_to(connector, act["id"])
    assert title in card_text(card_of(reply))
    assert graph.meetings_of(user.tenant_id, user.aad_object_id) == []


async def test_throttled_then_ok_creates_exactly_one_meeting(demo_bot, connector):
    graph = demo_bot.app[LOCAL_GRAPH]
    graph.faults.push(Fault(status=429, retry_after=0.2), Fault(status=503))
    user = User()
    act = message("meet now about throttling", service_url=connector.url, user=user)
    assert (await demo_bot.post(act)).status in (200, 201)
    reply = await reply_to(connector, act["id"])
    assert card_of(reply)
    assert len(graph.meetings_of(user.tenant_id, user.aad_object_id)) == 1


async def test_connection_dropped_after_commit_gives_no_duplicate(demo_bot, connector):
    graph = demo_bot.app[LOCAL_GRAPH]
    graph.faults.push(Fault(drop=True, after_commit=True))
    user = User()
    act = message("meet now about a dropped answer", service_url=connector.url, user=user)
    assert (await demo_bot.post(act)).status in (200, 201)
    reply = await reply_to(connector, act["id"])
    assert card_of(reply)
    assert len(graph.meetings_of(user.tenant_id, user.aad_object_id)) == 1


@pytest.mark.parametrize("body, content_type, status", [
    (b"{not json", "application/json", 400),
    (b"[1, 2]", "application/json", 400),
    (b"{}", "application/json", 400),
    (b"hello", "text/plain", 415),
    (b'{"type": "message"}', "application/json", 400),
    (b'{"type": 5, "text": []}', "application/json", 400),
])
async def test_malformed_requests_get_4xx_not_500(demo_bot, body, content_type, status):
    resp = await demo_bot.post(body, content_type=content_type)
    assert resp.status == status


async def test_oversized_body_is_refused(demo_bot, connector):
    act = message("meet now about " + "x" * 400_000, service_url=connector.url)
    resp = await demo_bot.post(act)
    assert resp.status == 413


async def test_metrics_health_and_readiness(demo_bot, connector):
    act = message("meet now about metrics", service_url=connector.url)
    await demo_bot.post(act)
    await reply_to(connector, act["id"])
    await demo_bot.post(b"{not json")
    url = demo_bot.srv.url
    async with demo_bot.session.get(f"{url}/metrics") as resp:
        assert resp.status == 200 and resp.content_type.startswith("text/plain")
        page = await resp.text()
    assert 'meetbot_activities_total{outcome="ok",type="message"} 1.0' in page
    assert 'meetbot_activities_total{outcome="rejected",type="invalid"} 1.0' in page
    assert 'meetbot_meetings_total{result="created"} 1.0' in page
    assert 'meetbot_graph_responses_total{op="createOrGet",status="201"} 1.0' in page
    assert "meetbot_graph_request_seconds_bucket" in page
    assert 'meetbot_token_cache_total{result="miss"} 1.0' in page
    async with demo_bot.session.get(f"{url}/healthz") as resp:
        assert resp.status == 200
    async with demo_bot.session.get(f"{url}/readyz") as resp:
        assert resp.status == 200


async def test_slow_graph_is_acknowledged_in_time_and_the_card_follows(connector):
    from tests.conftest import start_bot, stop_bot
    bot = await start_bot({"ACK_AFTER_SECONDS": "0.3"})
    try:
        graph = bot.app[LOCAL_GRAPH]
        graph.faults.push(Fault(delay=1.5))
        user = User()
        act = message("meet now about a slow graph", service_url=connector.url, user=user)
        loop = asyncio.get_running_loop()
        started = loop.time()
        resp = await bot.post(act)
        answered = loop.time()
        assert resp.status in (200, 201)
        reply = await reply_to(connector, act["id"])
        carded = loop.time()
        assert answered - started < 1.5 <= carded - started  # Teams heard back before Graph did
        assert card_of(reply)
        assert len(graph.meetings_of(user.tenant_id, user.aad_object_id)) == 1
        cards = [c for c in connector.calls if c.body and card_of(c.body)]
        assert len(cards) == 1  # one card, no time-out message besides it
    finally:
        await stop_bot(bot)
