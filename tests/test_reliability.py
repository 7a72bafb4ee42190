"""Reliability under faults, end to end over real sockets: Graph misbehaving (scripted and at
random with a fixed seed), the Bot Connector refusing posts and unreachable at first (at random,
mixed with Graph's faults), Redis going away and coming back, and SIGTERM during a turn.

The invariant for every command: exactly one meeting and one card showing it, or zero meetings
and one error card. One case is in between by nature: Graph made the meeting but its answer never
arrived in time (or was unreadable). The user then gets an error card that says retrying gives
the same meeting, and the tests prove it: redelivering that same activity answers with that very
meeting, never a second one.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.hosting import BOT, LOCAL_GRAPH
from localcloud.connector_sim import CONNECTOR_SIM, ConnectorFault, create_connector_app
from localcloud.graph_sim import Fault
from tests.helpers import (
    BotClient,
    User,
    card_of,
    free_port,
    invoke,
    message,
    our_errors,
    refuses_connections,
    serve,
    start_bot,
    stop_bot,
    walk,
)

ROOT = Path(__file__).resolve().parents[1]
SEED_BODY = (ROOT / "tests/data/graph/seed-user-token-response.json").read_text()
HTML = "<html><body>upstream error</body></html>"


# --- reading what happened to one command ---------------------------------------------------
def heading(card: dict) -> str:
    return next((b.get("text", "") for b in walk(card) if b.get("style") == "heading"), "")


def join_urls(card: dict) -> set[str]:
    return {a["url"] for a in walk(card) if a.get("type") == "Action.OpenUrl"}


@dataclass
class Outcome:
    """Everything one command produced: its HTTP status, its cards, its meetings."""

    status: int
    meeting_cards: list[dict] = field(default_factory=list)
    error_titles: list[str] = field(default_factory=list)
    meetings: list[dict] = field(default_factory=list)

    @property
    def kind(self) -> str:
        cards, errors, meetings = len(self.meeting_cards), len(self.error_titles), len(self.meetings)
        if self.status not in (200, 201):
            return f"http {self.status}"
        if cards == 1 and errors == 0 and meetings == 1:
            shown = join_urls(self.meeting_cards[0])
            return "meeting" if self.meetings[0]["joinWebUrl"] in shown else "wrong meeting on card"
        if cards == 0 and errors == 1:
            return "error" if meetings == 0 else "error, meeting made"  # the latter: retry proves it
        return f"VIOLATION cards={cards} errors={errors} meetings={meetings}"


def outcome(status: int, connector, graph, user: User, activity_id: str, subject: str, *,
            since: int = 0) -> Outcome:
    """What one command produced; `since` skips connector calls made before a retry."""
    out = Outcome(status)
    for call in connector.calls[since:]:
        if call.op not in ("reply", "send") or not call.body or activity_id not in (
                call.activity_id, call.body.get("replyToId")):
            continue
        card = card_of(call.body)
        if card is None:
            continue  # typing
        if any(u.startswith("https://teams.microsoft.com/l/meetup-join") for u in join_urls(card)):
            out.meeting_cards.append(card)
        else:
            out.error_titles.append(heading(card))
    out.meetings = [m for m in graph.meetings_of(user.tenant_id, user.aad_object_id)
                    if m["subject"] == subject]
    return out


# --- Graph faults at random -----------------------------------------------------------------
class SeededFaults:
    """Stands in for the Graph simulator's fault queue: every createOrGet draws a fault (or none)
    from a weighted table with a fixed seed, and the draws are counted."""

    def __init__(self, seed: int, table: dict[str, tuple[float, Fault]]) -> None:
        self._rng = random.Random(seed)
        self._table = table
        self.drawn: Counter[str] = Counter()

    def take(self, request: web.Request) -> Fault | None:
        if not request.path.endswith("/createOrGet"):
            return None
        draw = self._rng.random()
        for name, (rate, fault) in self._table.items():
            if draw < rate:
                self.drawn[name] += 1
                return fault
            draw -= rate
        self.drawn["none"] += 1
        return None

    def __len__(self) -> int:
        return 0


SLOW = 1.2  # past the per-attempt timeout (GRAPH_TIMEOUT=1 -> 0.5 s); two in a row miss the deadline
RANDOM_FAULTS = {
    "429 Retry-After": (0.10, Fault(status=429, retry_after=0.05)),
    "500": (0.04, Fault(status=500)),
    "503": (0.06, Fault(status=503)),
    "504": (0.05, Fault(status=504)),
    "slow": (0.06, Fault(delay=SLOW)),
    "slow after commit": (0.06, Fault(delay=SLOW, after_commit=True)),
    "drop": (0.04, Fault(drop=True)),
    "drop after commit": (0.04, Fault(drop=True, after_commit=True)),
    "not JSON": (0.02, Fault(status=200, body=HTML)),
    "not JSON after commit": (0.01, Fault(status=201, body=HTML, after_commit=True)),
    "truncated JSON": (0.01, Fault(status=201, body='{"id": "x", "joinWeb',
                                   content_type="application/json")),
}


# --- Bot Connector faults at random ---------------------------------------------------------
class SeededConnectorFaults:
    """The Connector simulator's fault source (`ConnectorSim.draw`) for a random run: every
    activity the bot posts ("typing…" and cards) draws a fault or none from a weighted table with
    a fixed seed. Only answers that say the post was not carried out (Microsoft's "Optimize
    your bot with rate limiting in Teams": 429, 412, 502, 504; and 503): a post cut mid-request
    is not repeated, by design (README, "Operating it")."""

    def __init__(self, seed: int, table: dict[str, tuple[float, ConnectorFault]]) -> None:
        self._rng = random.Random(seed)
        self._table = table
        self.drawn: Counter[str] = Counter()

    def __call__(self, method: str, path: str, activity: Any) -> ConnectorFault | None:
        if method != "POST" or not isinstance(activity, dict):
            return None
        draw = self._rng.random()
        for name, (rate, fault) in self._table.items():
            if draw < rate:
                self.drawn[f"{name} on {'card' if card_of(activity) else activity.get('type')}"] += 1
                return fault
            draw -= rate
        return None


CONNECTOR_FAULTS = {
    "429 Retry-After": (0.06, ConnectorFault(status=429, retry_after=0.05)),
    "412": (0.02, ConnectorFault(status=412)),
    "502": (0.02, ConnectorFault(status=502)),
    "503": (0.04, ConnectorFault(status=503)),
    "504": (0.02, ConnectorFault(status=504)),
}
UNREACHABLE_EVERY = 40  # every 40th command goes to a Connector that cannot be reached at first


class LateConnector:
    """Connect failures: a command in a channel (no "typing…", so its first request to the
    Connector is its answer) whose serviceUrl is a port nothing listens on until its meeting
    exists (or a few seconds passed: an error card needs the port too); then the same Connector
    simulator answers there."""

    def __init__(self, runner: web.BaseRunner, graph) -> None:
        self._runner = runner
        self._graph = graph
        self._opening: list[asyncio.Task] = []
        self.commands = 0
        self.refused = 0  # opened only after the answer was ready: its first try was refused

    async def route(self, i: int, user: User, subject: str) -> tuple[str, str]:
        if i % UNREACHABLE_EVERY:
            return "", "personal"
        port = free_port()
        self.commands += 1
        self._opening.append(asyncio.create_task(self._open_later(port, user, subject)))
        return f"http://127.0.0.1:{port}", "channel"

    async def _open_later(self, port: int, user: User, subject: str) -> None:
        give_up = time.monotonic() + 3
        while time.monotonic() < give_up:
            if any(m["subject"] == subject
                   for m in self._graph.meetings_of(user.tenant_id, user.aad_object_id)):
                await asyncio.sleep(0.3)  # the card's first try meets a closed port
                self.refused += 1
                break
            await asyncio.sleep(0.05)
        await web.TCPSite(self._runner, "127.0.0.1", port).start()

    async def opened(self) -> None:
        await asyncio.gather(*self._opening)


async def run_commands(bot: BotClient, connector, n: int, *, concurrency: int, users: list[User],
                       prefix: str, between=None, route=None) -> list[tuple[dict, User, str, int]]:
    """Sends n distinct meet commands, `concurrency` at a time; returns (activity, user,
    subject, HTTP status) per command. `between(i)` runs before command i is sent;
    `route(i, user, subject)` may send it elsewhere: (serviceUrl or "", conversation kind)."""
    gate = asyncio.Semaphore(concurrency)
    results: list = [None] * n

    async def one(i: int) -> None:
        user = users[i % len(users)]
        subject = f"{prefix} {i:04d}"
        async with gate:
            service_url, kind = await route(i, user, subject) if route else ("", "personal")
            act = message(f"meet now about {subject}", service_url=service_url or connector.url,
                          user=user, kind=kind, activity_id=f"{prefix}-{i:04d}")
            try:
                status = (await bot.post(act)).status
            except aiohttp.ClientError:
                status = -1
        results[i] = (act, user, subject, status)

    tasks = []
    for i in range(n):
        if between is not None:
            await between(i)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return results


async def retry_same_activity(bot: BotClient, connector, graph, act: dict, user: User,
                              subject: str) -> Outcome:
    """Teams redelivering (or the user retrying) exactly that activity."""
    since = len(connector.calls)
    status = (await bot.post(act)).status
    return outcome(status, connector, graph, user, act["id"], subject, since=since)


@pytest.mark.slow
async def test_random_graph_and_connector_faults_over_1000_commands(caplog):
    """Graph faults on createOrGet and Connector faults on every post, at random with fixed
    seeds, plus a Connector that cannot be reached at first for every 40th command."""
    conn_srv = await serve(create_connector_app())
    connector = conn_srv.app[CONNECTOR_SIM]
    connector.url = conn_srv.url
    bot = await start_bot({"GRAPH_TIMEOUT": "1", "LOG_LEVEL": "WARNING"})
    try:
        graph = bot.app[LOCAL_GRAPH]
        faults = graph.faults = SeededFaults(20240605, RANDOM_FAULTS)
        replies = connector.draw = SeededConnectorFaults(20240612, CONNECTOR_FAULTS)
        late = LateConnector(conn_srv.server.runner, graph)
        users = [User(name=f"User {k}") for k in range(8)]
        started = time.monotonic()
        sent = await run_commands(bot, connector, 1000, concurrency=48, users=users, prefix="rel",
                                  route=late.route)
        elapsed = time.monotonic() - started
        await late.opened()
        graph.faults = SeededFaults(0, {})  # retries below meet a healthy Graph
        connector.draw = None  # and a healthy Connector
        await asyncio.sleep(SLOW + 0.3)  # Graph finishes requests the bot stopped waiting for
        await bot.app[BOT].drain(timeout=15)  # cards still on their way (Connector retries)

        kinds: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        ambiguous = []
        for act, user, subject, status in sent:
            out = outcome(status, connector, graph, user, act["id"], subject)
            kinds[out.kind] += 1
            errors.update(out.error_titles)
            if out.kind == "error, meeting made":
                ambiguous.append((act, user, subject, out.meetings[0]))

        retried: Counter[str] = Counter()
        for act, user, subject, made in ambiguous:
            again = await retry_same_activity(bot, connector, graph, act, user, subject)
            same = (len(again.meetings) == 1 and again.meetings[0]["id"] == made["id"]
                    and len(again.meeting_cards) == 1
                    and made["joinWebUrl"] in join_urls(again.meeting_cards[0]))
            retried["same meeting" if same else f"BAD {again.kind}"] += 1

        print(f"\n1000 commands, concurrency 48, {elapsed:.1f}s; Graph createOrGet calls "
              f"{graph.count('POST', 'createOrGet')}; faults drawn {dict(faults.drawn)}")
        print(f"Connector faults drawn {dict(replies.drawn)}; unreachable at first "
              f"{late.commands} commands, {late.refused} with their answer ready before")
        print(f"outcomes {dict(kinds)}")
        print(f"error cards by title {dict(errors)}")
        print(f"'error, meeting made' retried with the same activity: {dict(retried)}")
        assert sum(kinds.values()) == 1000
        assert set(kinds) <= {"meeting", "error", "error, meeting made"}, kinds
        assert set(retried) <= {"same meeting"}, retried
        # Meetings are made and the faults did bite. Not "most": with GRAPH_TIMEOUT=1 a busy
        # machine turns slow answers into "taking too long" (~75 % meetings on an idle one,
        # 43 % seen with other test runs sharing the two cores); the invariant above is the
        # proof, this only says the run was not all errors.
        assert kinds["meeting"] > 300 and kinds["error"] > 10
        assert faults.drawn["slow after commit"] and faults.drawn["drop after commit"]
        assert sum(n for name, n in replies.drawn.items() if name.endswith("on card")) > 30
        assert late.refused > 0
        assert our_errors(caplog.records) == []  # no answer was lost
    finally:
        await stop_bot(bot)
        await conn_srv.server.close()


# --- Graph faults in sequences ----------------------------------------------------------------
def createorget(fault: Fault) -> Fault:
    fault.path = "createOrGet"
    return fault


@pytest.mark.parametrize("faults, expect", [
    pytest.param([Fault(status=429, retry_after=0.1), Fault(status=429, retry_after=0.05),
                  Fault(status=503)], "meeting", id="throttled-twice-then-503"),
    pytest.param([Fault(status=504)] * 4, "error:Teams meetings are unavailable", id="504-x4"),
    pytest.param([Fault(status=429, retry_after=30)], "error:Teams is busy", id="retry-after-too-long"),
    pytest.param([Fault(drop=True), Fault(drop=True, after_commit=True)], "meeting",
                 id="dropped-before-then-after-commit"),
    pytest.param([Fault(delay=3, after_commit=True)], "meeting", id="slow-once-after-commit"),
    pytest.param([Fault(delay=3, after_commit=True)] * 3, "retry:Teams is taking too long",
                 id="past-deadline-after-commit"),
    pytest.param([Fault(delay=3)] * 3, "error:Teams is taking too long", id="past-deadline"),
    pytest.param([Fault(status=200, body=HTML)], "error:Teams sent an answer I couldn't read",
                 id="html-body"),
    pytest.param([Fault(status=201, body=HTML, after_commit=True)],
                 "retry:Teams sent an answer I couldn't read", id="html-body-after-commit"),
])
async def test_graph_fault_sequences(connector, faults, expect):
    bot = await start_bot({"GRAPH_TIMEOUT": "2"})  # 1 s per attempt
    try:
        graph = bot.app[LOCAL_GRAPH]
        graph.faults.push(*(createorget(Fault(**vars(f))) for f in faults))
        user = User()
        act = message("meet now about sequence", service_url=connector.url, user=user)
        out = outcome((await bot.post(act)).status, connector, graph, user, act["id"], "sequence")
        kind, _, title = expect.partition(":")
        if kind == "meeting":
            assert out.kind == "meeting"
            return
        assert len(out.error_titles) == 1 and out.error_titles[0].startswith(title)
        if kind == "error":
            assert out.kind == "error"
            return
        assert out.kind == "error, meeting made"
        again = await retry_same_activity(bot, connector, graph, act, user, "sequence")
        assert [m["id"] for m in again.meetings] == [out.meetings[0]["id"]]
        assert len(again.meeting_cards) == 1 and not again.error_titles
        assert out.meetings[0]["joinWebUrl"] in join_urls(again.meeting_cards[0])
    finally:
        await stop_bot(bot)


async def test_seed_page_example_body_is_shown(connector):
    """Graph answering with the seed page's own (2019-shaped) example body."""
    bot = await start_bot({})
    try:
        graph = bot.app[LOCAL_GRAPH]
        graph.faults.push(createorget(Fault(status=201, body=SEED_BODY, after_commit=True,
                                            content_type="application/json")))
        user = User()
        act = message("meet now about seed", service_url=connector.url, user=user)
        out = outcome((await bot.post(act)).status, connector, graph, user, act["id"], "seed")
        seed = json.loads(SEED_BODY)
        assert out.kind == "wrong meeting on card"  # by design: the card shows what Graph said
        assert seed["joinUrl"] in join_urls(out.meeting_cards[0])
        assert seed["audioConferencing"]["ConferenceId"] in json.dumps(out.meeting_cards[0])
    finally:
        await stop_bot(bot)


# --- Redis going away mid-run -------------------------------------------------------------------
@pytest.mark.slow
async def test_redis_dropped_and_restored_mid_run(connector, redis_server, caplog):
    bot = await start_bot({"REDIS_URL": redis_server.url, "GRAPH_TIMEOUT": "2",
                           "LOG_LEVEL": "WARNING"})
    try:
        graph = bot.app[LOCAL_GRAPH]
        graph.latency = 0.05  # keeps turns in flight while Redis stops and starts
        graph.faults = SeededFaults(7, {"500": (0.05, Fault(status=500)),
                                        "429": (0.05, Fault(status=429, retry_after=0.05))})
        users = [User(name=f"User {k}") for k in range(4)]
        n, down_at, up_at = 600, 200, 400
        readiness: dict[str, int] = {}

        async def ready() -> int:
            async with bot.session.get(f"{bot.srv.url}/readyz") as resp:
                return resp.status

        async def between(i: int) -> None:
            if i == down_at:
                await asyncio.to_thread(redis_server.stop)
                readiness["down"] = await ready()
            elif i == up_at:
                await asyncio.to_thread(redis_server.start)
                readiness["up"] = await ready()
            await asyncio.sleep(0.004)  # a steady stream, so turns straddle both moments

        started = time.monotonic()
        sent = await run_commands(bot, connector, n, concurrency=16, users=users, prefix="red",
                                  between=between)
        elapsed = time.monotonic() - started
        kinds = [Counter(), Counter(), Counter()]  # before, during, after the outage
        for i, (act, user, subject, status) in enumerate(sent):
            phase = 0 if i < down_at else 1 if i < up_at else 2
            kinds[phase][outcome(status, connector, graph, user, act["id"], subject).kind] += 1

        # After recovery, redelivery is de-duplicated again (the keys live in Redis).
        graph.faults = SeededFaults(0, {})
        twins = [message(f"meet now about twin {k}", service_url=connector.url, user=users[0])
                 for k in range(20)]
        statuses = await asyncio.gather(*(bot.post(t) for t in twins for _ in range(2)))
        twin_kinds = Counter(outcome(s.status, connector, graph, users[0], t["id"],
                                     f"twin {k}").kind
                             for k, (t, s) in enumerate(zip(twins, statuses[::2])))
        print(f"\n{n} commands in {elapsed:.1f}s, Redis stopped at #{down_at}, restarted at "
              f"#{up_at}; /readyz {readiness}")
        for name, counts in zip(("before", "during", "after"), kinds):
            print(f"  {name}: {dict(counts)}")
        print(f"  redelivered twins after recovery: {dict(twin_kinds)}")
        assert readiness == {"down": 503, "up": 200}
        for counts in kinds:
            assert set(counts) <= {"meeting", "error"}, counts
        assert kinds[1]["meeting"] > 0 and kinds[2]["meeting"] > 0
        assert twin_kinds == Counter({"meeting": 20})
        assert await ready() == 200
        assert our_errors(caplog.records) == []
    finally:
        await stop_bot(bot)


# --- graceful shutdown ---------------------------------------------------------------------------
async def test_sigterm_finishes_the_turn_in_flight_then_exits_0():
    # Replies to this connector take 1.5 s each, so a turn (typing + card) is in flight ~3 s.
    conn_srv = await serve(create_connector_app(latency=1.5))
    connector = conn_srv.app[CONNECTOR_SIM]
    connector.url = conn_srv.url
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Microsoft", "GRAPH_", "REDIS"))}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            env={**env, "PORT": str(port), "HOST": "127.0.0.1", "LOG_FORMAT": "text"})
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    assert proc.poll() is None, proc.stdout.read().decode()
                    assert time.monotonic() < deadline, "app.py did not start"
                    await asyncio.sleep(0.1)
            user = User()
            act = message("meet now about shutdown", service_url=connector.url, user=user)

            async def send() -> int:
                async with session.post(f"http://127.0.0.1:{port}/api/messages", json=act) as r:
                    return r.status

            turn = asyncio.create_task(send())
            while connector.requests == 0:  # the turn reached its first reply
                await asyncio.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            for _ in range(50):  # stops accepting while the turn is still running
                if refuses_connections(port):
                    break
                await asyncio.sleep(0.02)
            assert refuses_connections(port), "still accepting connections after SIGTERM"
            assert not turn.done()
            assert await turn == 201
        card = next(c.body for c in connector.calls if c.body and card_of(c.body))
        assert "shutdown" in json.dumps(card_of(card))
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        await conn_srv.server.close()


async def test_try_again_after_a_lost_answer_returns_the_same_meeting(demo_bot, connector):
    """Graph made the meeting but its answer never came: the error card's "Try again" repeats
    createOrGet with the first try's externalId, so the user gets that meeting, not a second."""
    from tests.test_e2e_cards import actions_of, execute
    from tests.test_e2e_meet import reply_to
    graph = demo_bot.app[LOCAL_GRAPH]
    graph.faults.push(*[Fault(status=504, after_commit=True)] * 4)
    user = User()
    act = message("meet now 45m about the lost answer", service_url=connector.url, user=user)
    await demo_bot.post(act)
    error = card_of(await reply_to(connector, act["id"]))
    assert "Try again" in actions_of(error)
    assert len(graph.meetings_of(user.tenant_id, user.aad_object_id)) == 1
    click = invoke("adaptiveCard/action", execute(actions_of(error)["Try again"]),
                   service_url=connector.url, user=user)
    resp = await demo_bot.post(click)
    meetings = graph.meetings_of(user.tenant_id, user.aad_object_id)
    assert len(meetings) == 1
    assert meetings[0]["joinWebUrl"] in json.dumps(resp.body_json["value"])
