"""Issue 12, "Nothing lost, nothing frozen": every command ends in exactly one answer through
Bot Connector faults, a slow Graph and an instance killed half-way, end to end over HTTP.

The Connector's faults are the ones Microsoft names for bots ("Optimize your bot with rate
limiting in Teams", Microsoft Learn: 429 with Retry-After, 412, 502, 504; and 503), scripted at
the Connector simulator on the one request that carries the card. A new message (POST) is
repeated only when it provably did not arrive; an update (PUT of the same activity id) always
may be, so a connection reset is proven on Extend's card update. A stalled Entra ID is proven in
tests/test_token_broker.py, the fault mix at scale in tests/test_reliability.py.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.fernet import Fernet

from bot.hosting import LOCAL_GRAPH
from bot.records import LEASE_TTL
from bot.teams.connector import BotConnector
from localcloud.connector_sim import CONNECTOR_SIM, create_connector_app
from localcloud.graph_sim import Fault
from tests.helpers import (
    AppProcess,
    User,
    actions_of,
    card_of,
    card_text,
    execute,
    free_port,
    graph_time,
    invoke,
    message,
    next_activity,
    our_errors,
    posted_id,
    reply_to,
    sign_in,
    start_bot,
    stop_bot,
    walk,
)

# One reply's overall deadline (retries included) and attempts: the Connector client's defaults.
REPLY_DEADLINE: float = inspect.signature(BotConnector).parameters["deadline"].default
REPLY_ATTEMPTS: int = inspect.signature(BotConnector).parameters["attempts"].default


def is_card(activity: Any) -> bool:
    return bool(activity) and card_of(activity) is not None


def cards_for(connector: Any, activity_id: str) -> list[dict]:
    return [c.body for c in connector.calls
            if c.op in ("reply", "send") and is_card(c.body)
            and activity_id in (c.activity_id, c.body.get("replyToId"))]


def join_urls(card: dict) -> set[str]:
    return {a["url"] for a in walk(card) if a.get("type") == "Action.OpenUrl"}


def meetings(graph: Any, user: User, subject: str) -> list[dict]:
    return [m for m in graph.meetings_of(user.tenant_id, user.aad_object_id)
            if m["subject"] == subject]


async def metric(bot: Any, name: str) -> float:
    async with bot.session.get(f"{bot.srv.url}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} is not on /metrics")


async def until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


# --- one Connector fault on the card -----------------------------------------------------------
@pytest.mark.parametrize("fault", [
    pytest.param({"status": 429, "retry_after": 1}, id="429-retry-after-1"),
    pytest.param({"status": 412}, id="412"),
    pytest.param({"status": 502}, id="502"),
    pytest.param({"status": 503}, id="503"),
    pytest.param({"status": 504}, id="504"),
])
async def test_meet_now_card_through_one_connector_fault_arrives_once(demo_bot, connector,
                                                                      fault):
    user = User()
    connector.fail(method="POST", when=is_card, **fault)
    act = message("meet now about one fault", service_url=connector.url, user=user)

    started = time.monotonic()
    assert (await demo_bot.post(act)).status == 201
    card = card_of(await reply_to(connector, act["id"], timeout=REPLY_DEADLINE))
    elapsed = time.monotonic() - started
    await asyncio.sleep(0.3)  # anything else on its way would land now

    assert [f[2] for f in connector.faulted] == [fault["status"]]
    assert len(cards_for(connector, act["id"])) == 1
    made = meetings(demo_bot.app[LOCAL_GRAPH], user, "one fault")
    assert len(made) == 1
    assert made[0]["joinWebUrl"] in join_urls(card)
    assert elapsed < REPLY_DEADLINE
    if "retry_after" in fault:
        assert elapsed >= fault["retry_after"]  # the Connector's wait, not a shorter one of ours


async def test_meet_now_card_to_a_connector_not_reachable_yet_arrives_once(demo_bot):
    """A connect failure: the card's POST never left, so it is tried again. In a channel (no
    "typing…") the card is the first request, so it is the one that cannot connect."""
    port = free_port()
    app = create_connector_app()
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        user = User()
        act = message("meet now about unreachable", service_url=f"http://127.0.0.1:{port}",
                      user=user, kind="channel")
        started = time.monotonic()
        turn = asyncio.create_task(demo_bot.post(act))
        graph = demo_bot.app[LOCAL_GRAPH]
        await until(lambda: meetings(graph, user, "unreachable"), 5, "the meeting")
        await asyncio.sleep(0.1)  # the card's first attempt is refused
        await web.TCPSite(runner, "127.0.0.1", port).start()

        assert (await turn).status == 201
        sim = app[CONNECTOR_SIM]
        card = card_of((await sim.wait_for(lambda c: c.op == "reply" and is_card(c.body),
                                           timeout=REPLY_DEADLINE)).body)
        assert time.monotonic() - started < REPLY_DEADLINE
        await asyncio.sleep(0.3)
        assert len(cards_for(sim, act["id"])) == 1
        made = meetings(graph, user, "unreachable")
        assert len(made) == 1 and made[0]["joinWebUrl"] in join_urls(card)
    finally:
        await runner.cleanup()


async def test_extend_card_update_through_connection_resets_arrives_once(demo_bot, connector):
    """Extend's card update is a PUT of the same activity id: repeating it after a reset cannot
    make a second message, so it is retried (a new POST cut mid-request is not: README)."""
    organizer = User()
    act = message("meet now about extend through resets", service_url=connector.url,
                  user=organizer)
    await demo_bot.post(act)
    card = card_of(await reply_to(connector, act["id"]))
    card_id = posted_id(connector, lambda a: a.get("replyToId") == act["id"] and is_card(a))
    graph = demo_bot.app[LOCAL_GRAPH]
    before = graph_time(meetings(graph, organizer, "extend through resets")[0]["endDateTime"])
    # Two: aiohttp itself repeats an idempotent request once on a dropped connection, so the
    # second reset is the one MeetBot's retry policy answers.
    connector.fail(2, reset=True, method="PUT")

    click = invoke("adaptiveCard/action", execute(actions_of(card)["Extend 15 min"]),
                   service_url=connector.url, user=organizer, reply_to_id=card_id)
    resp = await demo_bot.post(click)

    assert resp.status == 200
    assert [f[2] for f in connector.faulted] == ["reset", "reset"]
    updates = [c for c in connector.calls if c.op == "update"]
    assert [u.activity_id for u in updates] == [card_id]  # carried out once
    after = graph_time(meetings(graph, organizer, "extend through resets")[0]["endDateTime"])
    assert after - before == timedelta(minutes=15) and graph.count("PATCH") == 1
    shown = connector.conversation(act["conversation"]["id"]).activities[card_id]
    assert card_text(card_of(shown)) == card_text(card_of(updates[0].body))
    assert "Extend 15 min" in card_text(resp.body_json["value"])  # the organizer's own view


# --- a Connector that fails for longer ------------------------------------------------------------
def lost_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_card_the_connector_refuses_for_longer_is_one_error_line_and_a_metric(
        demo_bot, connector, caplog):
    """Every POST answered 503 ("typing…" and the card): the meeting exists, the card is lost
    after the retries; the operator gets one ERROR line naming the activity and a metric; the
    user's next delivery of the same activity (Teams or a retype) gets that meeting's card."""
    user = User()
    connector.fail(1000, status=503, method="POST")
    act = message("meet now about connector down", service_url=connector.url, user=user)

    started = time.monotonic()
    assert (await demo_bot.post(act)).status == 201
    assert time.monotonic() - started < REPLY_DEADLINE  # Teams is answered in time anyway
    await until(lambda: lost_lines(caplog), 2 * REPLY_DEADLINE, "the ERROR line")
    await asyncio.sleep(0.3)

    [line] = lost_lines(caplog)
    assert line.name.startswith("bot.") and line.getMessage().startswith("reply lost")
    assert line.activity_id == act["id"]  # type: ignore[attr-defined]
    assert line.conversation_id == act["conversation"]["id"]  # type: ignore[attr-defined]
    assert "503" in line.getMessage() and line.exc_info is None
    assert our_errors([r for r in caplog.records if r is not line]) == []
    assert await metric(demo_bot, "meetbot_replies_lost_total") == 1
    graph = demo_bot.app[LOCAL_GRAPH]
    assert len(meetings(graph, user, "connector down")) == 1
    assert cards_for(connector, act["id"]) == []

    connector.faults.clear()  # the Connector is back; the same activity once more
    assert (await demo_bot.post(act)).status == 201
    card = card_of(await reply_to(connector, act["id"]))
    made = meetings(graph, user, "connector down")
    assert len(made) == 1 and made[0]["joinWebUrl"] in join_urls(card)


async def test_help_the_connector_refuses_is_one_error_line_not_an_error_card_after_it(
        demo_bot, connector, caplog):
    """A refused answer is not followed by an error card (it would be refused too, and hold
    Teams' request as long again)."""
    connector.fail(1000, status=503, method="POST")
    act = message("help", service_url=connector.url)

    started = time.monotonic()
    assert (await demo_bot.post(act)).status == 201
    # One reply's deadline, not two: well inside the ~15 s after which Teams redelivers.
    assert time.monotonic() - started < REPLY_DEADLINE + 1

    [line] = lost_lines(caplog)
    assert line.getMessage().startswith("reply lost") and line.exc_info is None
    assert line.activity_id == act["id"]  # type: ignore[attr-defined]
    assert await metric(demo_bot, "meetbot_replies_lost_total") == 1
    # One reply's attempts (the deadline ends them before the count does), no error card's too.
    assert 1 < len(connector.faulted) <= REPLY_ATTEMPTS
    assert len({path for _, path, _ in connector.faulted}) == 1


# --- slow Graph, then a refused card -------------------------------------------------------------
async def test_slow_graph_then_a_503_on_the_card_still_brings_the_card(connector):
    bot = await start_bot({"ACK_AFTER_SECONDS": "0.5"})
    try:
        graph = bot.app[LOCAL_GRAPH]
        graph.faults.push(Fault(delay=3, path="createOrGet"))  # much slower than ACK_AFTER
        connector.fail(status=503, method="POST", when=is_card)
        user = User()
        act = message("meet now about slow then refused", service_url=connector.url, user=user)

        assert (await bot.post(act)).status == 201
        answered = time.monotonic()
        assert not meetings(graph, user, "slow then refused")  # Teams was answered first
        call = await connector.wait_for(lambda c: c.op == "reply" and is_card(c.body),
                                        timeout=REPLY_DEADLINE)
        await asyncio.sleep(0.3)

        assert call.at > answered
        assert [f[2] for f in connector.faulted] == [503]
        assert len(cards_for(connector, act["id"])) == 1
        made = meetings(graph, user, "slow then refused")
        assert len(made) == 1 and made[0]["joinWebUrl"] in join_urls(card_of(call.body))
    finally:
        await stop_bot(bot)


# --- an instance killed while Graph holds its call --------------------------------------------------
@pytest.mark.slow
async def test_instance_killed_mid_command_another_answers_once(cloud, redis_server,
                                                                 tmp_path: Path):
    """Two `python app.py` on one Redis, in the production (delegated) configuration against
    the local cloud. A takes the command; Graph makes the meeting and holds the answer to
    A's createOrGet open; A is killed (SIGKILL: no cleanup) with the meeting made and no card
    posted. Teams redelivers to B, which waits out A's lease and does the work again:
    createOrGet with the same externalId returns that meeting, and its card is posted once."""
    env = cloud.bot_env(REDIS_URL=redis_server.url,
                        STATE_ENCRYPTION_KEY=Fernet.generate_key().decode())
    a, b = AppProcess(env, tmp_path / "a.log"), AppProcess(env, tmp_path / "b.log")
    try:
        await asyncio.gather(a.ready(), b.ready())
        user = User()
        resp, _ = await sign_in(a, cloud, user)  # its token cache goes to Redis, sealed
        assert resp.status == 200, a.output()
        await next_activity(cloud.connector, lambda body: is_card(body)
                            and "planning" in card_text(card_of(body)), timeout=20)

        graph = cloud.graph
        calls_before = len(graph.calls)
        graph.faults.push(Fault(delay=60, after_commit=True, path="createOrGet"))
        act = message("meet now about the survivor", service_url=cloud.connector.url,
                      user=user)
        token = cloud.channel_token()
        first = asyncio.create_task(a.post(act, token=token))

        def creates() -> list[Any]:
            return [c for c in graph.calls[calls_before:] if c.path.endswith("/createOrGet")]

        await until(lambda: meetings(graph, user, "the survivor"), 20, "A's meeting")
        a.kill()
        killed = time.monotonic()
        with pytest.raises(aiohttp.ClientError):
            await first
        assert not cards_for(cloud.connector, act["id"])
        [made_by_a] = meetings(graph, user, "the survivor")

        resp = await b.post(act, token=token)  # Teams redelivers, to the other instance
        assert resp.status == 201, b.output()
        card = card_of(await next_activity(
            cloud.connector, lambda body: is_card(body) and body.get("replyToId") == act["id"],
            timeout=LEASE_TTL + REPLY_DEADLINE))
        # B waited for A's lease to run out (renewed every LEASE_TTL / 3 while A lived): A
        # might have been alive and about to post the card.
        assert time.monotonic() - killed >= LEASE_TTL / 2
        await asyncio.sleep(1.0)  # a second card would land now

        assert len(cards_for(cloud.connector, act["id"])) == 1
        assert meetings(graph, user, "the survivor") == [made_by_a]
        assert made_by_a["joinWebUrl"] in join_urls(card)
        held, again = creates()
        assert held.status is None  # A never saw Graph's answer
        assert again.status == 200  # the same externalId: Graph returned A's meeting
    finally:
        await asyncio.gather(a.close(), b.close())
