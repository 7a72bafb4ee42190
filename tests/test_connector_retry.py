"""Replies through Bot Connector faults: MeetBot's own BotConnector against the Connector
simulator over sockets (scripted 429/412/5xx answers, resets, stalls, a Connector that is not
there yet), and one command end to end through a demo bot.

What is retried follows "Optimize your bot with rate limiting in Teams" (Microsoft Learn): 429
with backoff, and 412, 502 and 504 too. An update (PUT of the same activity id) is always safe
to repeat; a new POST only when the first one provably did not happen, so the tests also prove
that an ambiguous POST failure is *not* repeated (no second copy in the chat).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.errors import ConnectorError, MeetBotError, describe
from bot.hosting import LOCAL_GRAPH
from bot.teams.connector import BotConnector
from localcloud.connector_sim import CONNECTOR_SIM, create_connector_app
from tests.helpers import User, card_of, free_port, message, reply_to

CONV = "19:abc123@thread.tacv2;messageid=1700000000000"  # Teams ids hold ':', ';' and '@'
DEADLINE = 3.0  # per call, retries included; one attempt may take half of it


async def no_token() -> None:
    return None


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client(http: aiohttp.ClientSession, url: str, **options) -> BotConnector:
    return BotConnector(http, url, no_token, **{"deadline": DEADLINE, **options})


def text(value: str) -> dict:
    return {"type": "message", "text": value}


def replies(sim, value: str) -> list[dict]:
    return [a for a in sim.activities(CONV) if a.get("text") == value]


async def post(bot: BotConnector, value: str) -> dict:
    return await bot.call("POST", f"/v3/conversations/{CONV}/activities/1700000000000",
                          text(value))


# --- retried, and the reply arrives exactly once ------------------------------------------------
@pytest.mark.parametrize("fault", [
    pytest.param({"status": 429, "retry_after": 1}, id="429-retry-after-1"),
    pytest.param({"status": 412}, id="412"),
    pytest.param({"status": 502}, id="502"),
    pytest.param({"status": 503}, id="503"),
    pytest.param({"status": 504}, id="504"),
])
async def test_a_reply_through_one_fault_arrives_once(http, connector, fault):
    connector.fail(method="POST", **fault)
    started = time.monotonic()
    answer = await post(client(http, connector.url), "hello")
    elapsed = time.monotonic() - started

    assert answer["id"]
    assert len(replies(connector, "hello")) == 1
    assert connector.faulted == [("POST", f"/v3/conversations/{CONV}/activities/1700000000000",
                                  fault["status"])]
    assert elapsed < DEADLINE
    if "retry_after" in fault:
        assert elapsed >= 1.0  # the Connector's Retry-After, not our own shorter backoff


async def test_an_update_through_resets_and_a_500_arrives_once(http, connector):
    bot = client(http, connector.url)
    sent = await bot.call("POST", f"/v3/conversations/{CONV}/activities", text("v1"))
    path = f"/v3/conversations/{CONV}/activities/{sent['id']}"
    # Two resets: aiohttp itself repeats an idempotent request once on a dropped connection,
    # so the second one reaches our retry policy. Then a 500.
    connector.fail(2, reset=True, method="PUT")
    connector.fail(status=500, method="PUT")
    before = connector.requests

    answer = await bot.call("PUT", path, text("v2"))

    assert answer["id"] == sent["id"]
    assert connector.requests - before == 4
    assert [c.op for c in connector.calls] == ["send", "update"]
    assert connector.conversation(CONV).activities[sent["id"]]["text"] == "v2"


async def test_an_update_that_hangs_is_tried_again(http, connector):
    bot = client(http, connector.url)
    sent = await bot.call("POST", f"/v3/conversations/{CONV}/activities", text("v1"))
    connector.fail(delay=DEADLINE, method="PUT")  # longer than one attempt may take
    started = time.monotonic()
    await bot.call("PUT", f"/v3/conversations/{CONV}/activities/{sent['id']}", text("v2"))
    assert time.monotonic() - started < DEADLINE
    assert connector.conversation(CONV).activities[sent["id"]]["text"] == "v2"


async def test_a_post_to_a_connector_not_listening_yet_arrives_once(http):
    """Connection refused: the request never left, so even a POST is tried again."""
    port = free_port()
    bot = client(http, f"http://127.0.0.1:{port}")
    call = asyncio.create_task(post(bot, "early"))
    await asyncio.sleep(0.4)  # the first attempt and its retry are refused
    app = create_connector_app()
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        assert (await call)["id"]
        assert len(replies(app[CONNECTOR_SIM], "early")) == 1
    finally:
        await runner.cleanup()


# --- not retried: a POST that may already be in the chat ----------------------------------------
@pytest.mark.parametrize("fault, cause", [
    pytest.param({"reset": True}, "ServerDisconnectedError", id="reset-before"),
    pytest.param({"reset": True, "after_commit": True}, "ServerDisconnectedError",
                 id="reset-after-commit"),
    pytest.param({"status": 500, "after_commit": True}, "500", id="500-after-commit"),
    pytest.param({"delay": DEADLINE / 2 + 0.5, "after_commit": True}, "attempt timeout",
                 id="posted-but-answered-slowly"),
])
async def test_an_ambiguous_post_failure_is_not_repeated(http, connector, fault, cause):
    connector.fail(method="POST", **fault)
    with pytest.raises(ConnectorError) as raised:
        await post(client(http, connector.url), "once")
    assert raised.value.cause == cause
    assert connector.requests == 1  # no second POST
    assert len(replies(connector, "once")) == (1 if fault.get("after_commit") else 0)


# --- giving up ------------------------------------------------------------------------------------
async def test_a_connector_failing_for_longer_ends_in_connector_error_after_the_deadline(
        http, connector):
    connector.fail(50, status=503)
    started = time.monotonic()
    with pytest.raises(ConnectorError) as raised:
        await post(client(http, connector.url), "never")
    elapsed = time.monotonic() - started

    err = raised.value
    assert DEADLINE - 0.1 <= elapsed < DEADLINE + 0.5
    assert (err.status, err.cause) == (503, "deadline")
    assert isinstance(err, MeetBotError)
    assert describe(err).title == "Teams didn't take my answer"
    assert replies(connector, "never") == []
    assert 3 <= connector.requests <= 4  # backed off (0.5, 1, 2 s ± 20 %), not hammered


async def test_retry_after_beyond_the_cap_gives_up_at_once(http, connector):
    connector.fail(status=429, retry_after=30)
    started = time.monotonic()
    with pytest.raises(ConnectorError) as raised:
        await post(client(http, connector.url, max_retry_after=5), "later")
    assert time.monotonic() - started < 0.5
    assert (raised.value.status, raised.value.retry_after) == (429, 30)
    assert connector.requests == 1


async def test_refusals_are_not_retried(http, connector):
    bot = client(http, connector.url)
    with pytest.raises(ConnectorError) as raised:  # an update of an activity that isn't there
        await bot.call("PUT", f"/v3/conversations/{CONV}/activities/404", text("x"))
    assert raised.value.status == 404 and connector.requests == 1
    assert str(raised.value) == f"Bot Connector answered 404 to PUT /v3/conversations/{CONV}" \
                                "/activities/404"


# --- end to end: a Teams command whose card POST is throttled once ------------------------------
async def test_meet_now_card_throttled_once_arrives_once(demo_bot, connector):
    user = User()
    connector.fail(status=429, retry_after=1, method="POST",
                   when=lambda activity: bool(activity and card_of(activity)))
    act = message("meet now about throttled card", service_url=connector.url, user=user)

    assert (await demo_bot.post(act)).status in (200, 201)
    await reply_to(connector, act["id"], timeout=8)
    await asyncio.sleep(0.3)  # anything else on its way would land now

    cards = [a for a in connector.activities() if card_of(a) is not None]
    assert len(cards) == 1
    assert [f[2] for f in connector.faulted] == [429]
    meetings = demo_bot.app[LOCAL_GRAPH].meetings_of(user.tenant_id, user.aad_object_id)
    assert len(meetings) == 1
    assert meetings[0]["joinWebUrl"] in str(card_of(cards[0]))
