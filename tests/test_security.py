"""Issue #11, attacked again: every finding and every Must, done over HTTP the way a member of
the chat would do it (by editing the Action.Execute `data`, the Action.Submit `value`, the
`replyToId` or an invoke's value their own Teams client sends), against the real app.

Most attacks run in-process (`demo_bot`, `cloud`: the app on a real socket, the local Graph,
Entra ID and Bot Connector behind it); the ones about the process itself (memory, blocking
calls, the listening address) run against `python app.py` in a subprocess. Each test asserts
the harmless outcome where it shows: the Graph simulator's meetings and PATCH/DELETE counts,
the connector simulator's log of posted and updated messages, the keys and raw values in the
store, Entra ID's token requests, and status codes (never a 5xx).

Tests named `test_regression_…` are attacks that used to work before #11.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
import redis
from botframework.connector.auth import EmulatorValidation
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.hosting import LOCAL_GRAPH, STORE
from bot.members import MAX_INVITEES
from localcloud.connector_sim import CONNECTOR_SIM, create_connector_app
from localcloud.graph_sim import Fault
from localcloud.issuer import LocalIssuer
from tests.helpers import (
    APP_ID,
    BOT_MENTION,
    CHANNEL,
    TEAM,
    TENANT,
    AppProcess,
    BotClient,
    User,
    actions_of,
    ask_to_sign_in,
    card_of,
    card_text,
    crowd,
    execute,
    free_port,
    invoke,
    member,
    mentioning,
    message,
    next_activity,
    our_errors,
    posted_id,
    reply_to,
    serve,
    start_bot,
    stop_bot,
    walk,
)

ROOT = Path(__file__).resolve().parents[1]
GROUP = "19:group@thread.v2"
OTHER_GROUP = "19:other-group@thread.v2"
EVIL = "https://evil.example/l/meetup-join/phish"
EVIL_TEL = "tel:+19005550100,,666#"
TOAST = "application/vnd.microsoft.activity.message"
ADAPTIVE = "application/vnd.microsoft.card.adaptive"
NO_LONGER_VALID = "This card is no longer valid"
NOT_ORGANIZER = "Only the person who created"
VERB_EXTEND, VERB_END, VERB_REFRESH = "meeting.extend", "meeting.end", "meeting.refresh"


# --- what a chat member sends ---------------------------------------------------------------
def in_chat(activity: dict, conversation: str) -> dict:
    activity["conversation"]["id"] = conversation
    return activity


def click(data: Any, *, service_url: str, user: User, conversation: str = GROUP,
          reply_to_id: str | None = None, trigger: str = "manual") -> dict:
    """An Action.Execute click (adaptiveCard/action invoke) with whatever `data` the client
    chose to send."""
    verb = data.get("verb") if isinstance(data, dict) else None
    act = invoke("adaptiveCard/action",
                 {"action": {"type": "Action.Execute", "verb": verb, "data": data},
                  "trigger": trigger},
                 service_url=service_url, user=user, kind="groupChat", reply_to_id=reply_to_id)
    return in_chat(act, conversation)


def submit(value: Any, *, service_url: str, user: User, conversation: str = GROUP,
           reply_to_id: str | None = None) -> dict:
    """An Action.Submit (a message with `value` and no text) from an older client."""
    act = message("", service_url=service_url, user=user, kind="groupChat", value=value)
    if reply_to_id:
        act["replyToId"] = reply_to_id
    return in_chat(act, conversation)


def answer_of(resp: aiohttp.ClientResponse) -> tuple[str, str]:
    """(type, text) of an adaptiveCard/action answer: a toast's words or the card as text."""
    body = resp.body_json  # type: ignore[attr-defined]
    value = body["value"]
    return body["type"], value if isinstance(value, str) else card_text(value)


# --- a meeting someone made -------------------------------------------------------------------
@dataclass
class Posted:
    """A meeting card MeetBot posted, as every member of the chat sees it."""

    card: dict
    card_id: str  # the message's activity id in the conversation
    ref: str
    meeting: dict  # the meeting as Graph keeps it

    def data(self, verb: str, **extra: Any) -> dict:
        return {"verb": verb, "ref": self.ref, "v": 0, **extra}


async def meeting_by(bot: BotClient, connector: Any, graph: Any, organizer: User, *,
                     conversation: str = GROUP, subject: str = "budget review") -> Posted:
    """`meet now` typed in a group chat: the card for everyone, with a refresh for the
    organizer; the card message's id as the connector gave it."""
    act = in_chat(message(f"meet now 30m about {subject}", service_url=connector.url,
                          user=organizer, kind="groupChat"), conversation)
    assert (await bot.post(act)).status == 201
    card = card_of(await reply_to(connector, act["id"]))
    assert card is not None
    card_id = posted_id(connector, lambda a: card_of(a) == card)
    [meeting] = [m for m in graph.meetings_of(organizer.tenant_id, organizer.aad_object_id)
                 if m["subject"] == subject]
    return Posted(card, card_id, card["refresh"]["action"]["data"]["ref"], meeting)


@dataclass
class World:
    """What an attack could change, counted before it."""

    graph_calls: int
    patches: int
    deletes: int
    connector_calls: int
    stored: int

    @classmethod
    def of(cls, bot: BotClient, connector: Any, graph: Any) -> World:
        return cls(len(graph.calls), graph.count("PATCH"), graph.count("DELETE"),
                   len(connector.calls), len(bot.app[STORE]))


def connector_writes(connector: Any, since: int = 0) -> list[Any]:
    """Messages MeetBot posted or rewrote (typing indicators aside)."""
    return [c for c in connector.calls[since:] if c.op in ("send", "reply", "update")
            and c.body and c.body.get("type") != "typing"]


def assert_nothing_evil_anywhere(connector: Any, *answers: aiohttp.ClientResponse) -> None:
    """No card MeetBot posted, rewrote or answered with ever carries the attacker's link."""
    for call in connector.calls:
        shown = json.dumps(call.body)
        assert "evil.example" not in shown and "9005550100" not in shown, (call.op, shown[:300])
    for resp in answers:
        shown = json.dumps(resp.body_json)  # type: ignore[attr-defined]
        assert "evil.example" not in shown and "9005550100" not in shown, shown[:300]


# Everything a client might add to a button's data to make the bot believe it.
FORGED = {
    "joinUrl": EVIL, "joinWebUrl": EVIL, "url": EVIL, "dialinUrl": EVIL,
    "tollNumbers": [EVIL_TEL], "conferenceId": "666", "passcode": "phish",
    "subject": "Payroll update: join now", "organizerId": "", "meetingId": "",
    "meeting": {"joinUrl": EVIL, "joinWebUrl": EVIL, "audioConferencing": {
        "tollNumber": EVIL_TEL, "dialinUrl": EVIL}},
    "ended": True, "start": "2020-01-01T00:00:00Z", "end": "2020-01-01T00:30:00Z",
}


def forged(posted: Posted, verb: str, attacker: User) -> dict:
    return posted.data(verb, **{**FORGED, "organizerId": attacker.aad_object_id,
                                "meetingId": posted.meeting["id"]})


# === 1. End someone else's meeting ============================================================
@pytest.mark.parametrize("how", ["execute", "submit"])
async def test_regression_forged_end_cannot_end_someone_elses_meeting(demo_bot, connector, how):
    graph = demo_bot.app[LOCAL_GRAPH]
    victim, mallory = User(name="Ana"), User(name="Mallory")
    posted = await meeting_by(demo_bot, connector, graph, victim)  # typed: no change stored yet
    before = World.of(demo_bot, connector, graph)
    data = forged(posted, VERB_END, mallory)
    if how == "execute":
        resp = await demo_bot.post(click(data, service_url=connector.url, user=mallory,
                                         reply_to_id=posted.card_id))
        assert resp.status == 200
        kind, text = answer_of(resp)
        assert kind == TOAST and NOT_ORGANIZER in text
    else:
        resp = await demo_bot.post(submit(data, service_url=connector.url, user=mallory,
                                          reply_to_id=posted.card_id))
        assert resp.status == 201
        told = await next_activity(connector, lambda b: b.get("replyToId") is not None
                                   and NOT_ORGANIZER in json.dumps(b))
        assert card_of(told) is not None  # the refusal, to the chat, as a card: no update
    after = World.of(demo_bot, connector, graph)
    assert (after.patches, after.deletes) == (before.patches, before.deletes) == (0, 0)
    assert not [c for c in connector.calls if c.op == "update"]
    assert after.stored == before.stored  # nothing remembered about the click
    # The victim's meeting and card are untouched: their refresh shows it running, and their
    # own End still works.
    assert graph.find(posted.meeting["id"]) is not None
    mine = await demo_bot.post(click(posted.data(VERB_REFRESH), service_url=connector.url,
                                     user=victim, trigger="automatic"))
    assert {"Join meeting", "End meeting"} <= set(actions_of(mine.body_json["value"]))
    assert "has ended" not in answer_of(mine)[1]
    assert_nothing_evil_anywhere(connector, resp, mine)


async def test_regression_forged_end_of_a_meeting_graph_no_longer_knows_is_not_shown_as_ended(
        demo_bot, connector):
    """Graph's 404 used to be taken as "ended" for whoever clicked; now only the stored
    organizer's End marks the record ended."""
    graph = demo_bot.app[LOCAL_GRAPH]
    victim, mallory = User(name="Ana"), User(name="Mallory")
    posted = await meeting_by(demo_bot, connector, graph, victim)
    graph.delete(graph.find(posted.meeting["id"]))  # the organizer deleted it elsewhere
    for verb in (VERB_END, VERB_EXTEND):
        resp = await demo_bot.post(click(forged(posted, verb, mallory),
                                         service_url=connector.url, user=mallory,
                                         reply_to_id=posted.card_id))
        kind, text = answer_of(resp)
        assert kind == TOAST and NOT_ORGANIZER in text
    assert graph.count("DELETE") == graph.count("PATCH") == 0
    assert not [c for c in connector.calls if c.op == "update"]
    view = await demo_bot.post(click(posted.data(VERB_REFRESH), service_url=connector.url,
                                     user=victim, trigger="automatic"))
    assert "has ended" not in answer_of(view)[1]
    # The organizer's own End: Graph says 404, which for them means "already gone".
    ended = await demo_bot.post(click(posted.data(VERB_END), service_url=connector.url,
                                      user=victim, reply_to_id=posted.card_id))
    assert "has ended" in answer_of(ended)[1]
    update = await connector.wait_for(lambda c: c.op == "update")
    assert update.activity_id == posted.card_id


@pytest.mark.parametrize("mode", ["delegated", "app"])
async def test_regression_forged_end_and_extend_change_nothing_in_delegated_and_app_mode(
        cloud, mode):
    """With real Graph tokens: app-only tokens could act on any organizer's meeting, so the
    refusal must come from MeetBot's record before any token is used."""
    bot = await start_bot(cloud.bot_env(GRAPH_AUTH_MODE=mode))
    try:
        ana, mallory = User(name="Ana"), User(name="Mallory")
        if mode == "app":
            cloud.graph.grant_policy(TENANT, APP_ID)
        else:
            await signed_in_meeting(bot, cloud, ana)
        act = in_chat(message("meet now about shared", service_url=cloud.connector.url,
                              user=ana, kind="groupChat"), GROUP)
        assert (await bot.post(act, token=cloud.channel_token())).status == 201
        card = card_of(await reply_to(cloud.connector, act["id"]))
        card_id = posted_id(cloud.connector, lambda a: card_of(a) == card)
        [meeting] = [m for m in cloud.graph.meetings_of(ana.tenant_id, ana.aad_object_id)
                     if m["subject"] == "shared"]
        posted = Posted(card, card_id, card["refresh"]["action"]["data"]["ref"], meeting)
        tokens = user_token_requests(cloud.entra)
        for verb in (VERB_END, VERB_EXTEND):
            for send in (click, submit):
                resp = await bot.post(send(forged(posted, verb, mallory),
                                           service_url=cloud.connector.url, user=mallory,
                                           reply_to_id=card_id),
                                      token=cloud.channel_token())
                assert resp.status in (200, 201)
        await asyncio.sleep(0.2)
        assert cloud.graph.count("DELETE") == cloud.graph.count("PATCH") == 0
        assert cloud.graph.find(meeting["id"])["endDateTime"] == meeting["endDateTime"]
        assert user_token_requests(cloud.entra) == tokens
        assert not [c for c in cloud.connector.calls if c.op == "update"]
        assert_nothing_evil_anywhere(cloud.connector)
    finally:
        await stop_bot(bot)


async def test_old_style_button_data_without_a_ref_is_refused_unread(demo_bot, connector):
    """The pre-#11 button data (meeting id, organizer id, times, join URL) is no longer read
    at all: without an opaque reference the click does nothing."""
    graph = demo_bot.app[LOCAL_GRAPH]
    victim, mallory = User(name="Ana"), User(name="Mallory")
    posted = await meeting_by(demo_bot, connector, graph, victim)
    before = World.of(demo_bot, connector, graph)
    for verb in (VERB_END, VERB_EXTEND, VERB_REFRESH):
        data = {k: v for k, v in forged(posted, verb, mallory).items() if k not in ("ref", "v")}
        resp = await demo_bot.post(click(data, service_url=connector.url, user=mallory,
                                         reply_to_id=posted.card_id))
        assert resp.status == 200 and "couldn't read that button" in answer_of(resp)[1]
        assert_nothing_evil_anywhere(connector, resp)
    after = World.of(demo_bot, connector, graph)
    assert after.graph_calls == before.graph_calls and after.stored == before.stored
    assert connector_writes(connector, before.connector_calls) == []


# === 2. A forged join link under the bot's name =================================================
@pytest.mark.parametrize("verb", [VERB_REFRESH, VERB_EXTEND, VERB_END, "meeting.create",
                                  "meeting.retry", "command.run"])
async def test_regression_submit_cannot_overwrite_a_card_with_a_forged_join_link(
        demo_bot, connector, verb):
    """Action.Submit with the attacker's link in every field, aimed (replyToId) at the
    victim's card: no card with that link is ever posted, written or answered, and the
    victim's card message is not rewritten."""
    graph = demo_bot.app[LOCAL_GRAPH]
    victim, mallory = User(name="Ana"), User(name="Mallory")
    posted = await meeting_by(demo_bot, connector, graph, victim)
    value = {**forged(posted, verb, mallory), "text": "meet now about payroll"}
    resp = await demo_bot.post(submit(value, service_url=connector.url, user=mallory,
                                      reply_to_id=posted.card_id))
    assert resp.status == 201
    executed = await demo_bot.post(click(value, service_url=connector.url, user=mallory,
                                         reply_to_id=posted.card_id))
    assert executed.status == 200
    await asyncio.sleep(0.2)  # any card that follows has arrived
    assert_nothing_evil_anywhere(connector, executed)
    assert not [c for c in connector.calls if c.op == "update"
                and c.activity_id == posted.card_id]
    assert connector.conversations[GROUP].activities[posted.card_id] == \
        next(c.body for c in connector.calls if c.op in ("send", "reply")
             and card_of(c.body) == posted.card)
    assert graph.find(posted.meeting["id"]) is not None
    assert graph.count("PATCH") == graph.count("DELETE") == 0


async def test_regression_refresh_renders_the_record_not_the_clients_copy(demo_bot, connector):
    graph = demo_bot.app[LOCAL_GRAPH]
    victim = User(name="Ana")
    posted = await meeting_by(demo_bot, connector, graph, victim)
    for user in (victim, User(name="Ben")):
        resp = await demo_bot.post(click(forged(posted, VERB_REFRESH, user),
                                         service_url=connector.url, user=user,
                                         trigger="automatic"))
        kind, shown = answer_of(resp)
        assert kind == ADAPTIVE
        assert posted.meeting["joinWebUrl"] in shown
        assert "Payroll" not in shown and "has ended" not in shown
        assert_nothing_evil_anywhere(connector, resp)
        # The drawn card's buttons carry the reference and nothing else.
        for action in walk(resp.body_json["value"]):
            if action.get("type") == "Action.Execute":
                assert set(action["data"]) == {"verb", "ref", "v"}


async def test_regression_extend_updates_only_the_messages_recorded_for_that_meeting(
        demo_bot, connector):
    """The organizer's own Extend, with replyToId pointing at other messages: another
    meeting's card, someone's chat message, an id that does not exist. Only the message
    MeetBot recorded for this meeting is updated."""
    graph = demo_bot.app[LOCAL_GRAPH]
    ana, ben = User(name="Ana"), User(name="Ben")
    mine = await meeting_by(demo_bot, connector, graph, ana, subject="mine")
    theirs = await meeting_by(demo_bot, connector, graph, ben, subject="theirs")
    chat_message = connector.post_activity(GROUP, {"type": "message", "text": "hello"})
    for target in (theirs.card_id, chat_message, "1799999999999", "x" * 5000):
        resp = await demo_bot.post(click(mine.data(VERB_EXTEND, v=None),
                                         service_url=connector.url, user=ana,
                                         reply_to_id=target))
        assert resp.status == 200
    updated = {c.activity_id for c in connector.calls if c.op == "update"}
    assert updated == {mine.card_id}
    assert graph.find(theirs.meeting["id"])["endDateTime"] == theirs.meeting["endDateTime"]


# === 3. Other conversations' meetings ===========================================================
async def test_regression_meeting_ref_from_another_conversation_or_tenant_is_no_longer_valid(
        demo_bot, connector):
    graph = demo_bot.app[LOCAL_GRAPH]
    ana = User(name="Ana")
    posted = await meeting_by(demo_bot, connector, graph, ana)
    # Stored state after a change: what used to leak the join link and passcode.
    await demo_bot.post(click(posted.data(VERB_EXTEND), service_url=connector.url, user=ana,
                              reply_to_id=posted.card_id))
    secret = graph.find(posted.meeting["id"])
    leaks = [secret["joinWebUrl"], secret["joinMeetingIdSettings"]["joinMeetingId"],
             secret["joinMeetingIdSettings"]["passcode"] or "no passcode"]
    elsewhere = [
        (User(name="Eve"), OTHER_GROUP),  # same tenant, another chat
        (User(name="Eve", tenant_id=str(uuid.uuid4())), GROUP),  # another tenant, same id
        (User(name="Ana", aad_object_id=ana.aad_object_id, teams_id=ana.teams_id,
              tenant_id=str(uuid.uuid4())), OTHER_GROUP),  # the organizer's ids elsewhere
        (ana, f"a:{ana.teams_id}"),  # the organizer themself, in their personal chat
    ]
    before = World.of(demo_bot, connector, graph)
    for who, where in elsewhere:
        for verb in (VERB_REFRESH, VERB_EXTEND, VERB_END):
            resp = await demo_bot.post(click(posted.data(verb, v=1), service_url=connector.url,
                                             user=who, conversation=where))
            assert resp.status == 200
            kind, shown = answer_of(resp)
            assert NO_LONGER_VALID in shown, (who, where, verb)
            assert not any(leak in shown for leak in leaks)
        sub = await demo_bot.post(submit(posted.data(VERB_REFRESH), service_url=connector.url,
                                         user=who, conversation=where))
        assert sub.status == 201
    await asyncio.sleep(0.2)
    after = World.of(demo_bot, connector, graph)
    assert after.graph_calls == before.graph_calls and after.stored == before.stored
    for call in connector_writes(connector, before.connector_calls):
        assert call.op != "update" and not any(leak in json.dumps(call.body) for leak in leaks)
        assert NO_LONGER_VALID in json.dumps(call.body)


async def test_regression_meeting_ref_from_a_tenant_outside_the_allow_list_is_refused(
        connector):
    bot = await start_bot({"ALLOWED_TENANTS": TENANT})
    try:
        graph = bot.app[LOCAL_GRAPH]
        ana = User(name="Ana")
        posted = await meeting_by(bot, connector, graph, ana)
        outsider = User(name="Eve", tenant_id=str(uuid.uuid4()))
        before = World.of(bot, connector, graph)
        resp = await bot.post(click(posted.data(VERB_REFRESH), service_url=connector.url,
                                    user=outsider))
        assert resp.status == 200
        shown = answer_of(resp)[1]
        assert "organisation" in shown and posted.meeting["joinWebUrl"] not in shown
        after = World.of(bot, connector, graph)
        assert after.graph_calls == before.graph_calls and after.stored == before.stored
    finally:
        await stop_bot(bot)


@pytest.mark.parametrize("ref", [
    pytest.param(lambda p: Fernet.generate_key().decode()[:22], id="well-formed-unknown"),
    pytest.param(lambda p: p.ref[:-1] + ("A" if p.ref[-1] != "A" else "B"), id="one-char-off"),
    pytest.param(lambda p: p.ref.upper(), id="case-changed"),
    pytest.param(lambda p: "", id="empty"),
    pytest.param(lambda p: "x" * 65, id="too-long"),
    pytest.param(lambda p: "x" * 190_000, id="190KB"),
    pytest.param(lambda p: f"../record:{p.ref}", id="key-injection"),
    pytest.param(lambda p: f"{p.ref}\x00", id="nul"),
    pytest.param(lambda p: 12345, id="number"),
    pytest.param(lambda p: [p.ref], id="list"),
    pytest.param(lambda p: {"ref": p.ref}, id="object"),
    pytest.param(lambda p: None, id="null"),
])
async def test_unknown_or_malformed_refs_are_refused_and_harmless(demo_bot, connector, ref):
    graph = demo_bot.app[LOCAL_GRAPH]
    ana, mallory = User(name="Ana"), User(name="Mallory")
    posted = await meeting_by(demo_bot, connector, graph, ana)
    before = World.of(demo_bot, connector, graph)
    for verb in (VERB_REFRESH, VERB_EXTEND, VERB_END, "meeting.retry"):
        for who in (ana, mallory):
            data = {"verb": verb, "ref": ref(posted), "v": 0}
            resp = await demo_bot.post(click(data, service_url=connector.url, user=who,
                                             reply_to_id=posted.card_id))
            assert resp.status == 200
            shown = answer_of(resp)[1]
            assert NO_LONGER_VALID in shown or "couldn't read that button" in shown, shown
    after = World.of(demo_bot, connector, graph)
    assert after.graph_calls == before.graph_calls and after.stored == before.stored
    assert connector_writes(connector, before.connector_calls) == []


async def test_a_meeting_ref_is_not_a_retry_ref_and_only_the_requester_may_try_again(
        demo_bot, connector):
    graph = demo_bot.app[LOCAL_GRAPH]
    ana, mallory = User(name="Ana"), User(name="Mallory")
    posted = await meeting_by(demo_bot, connector, graph, ana)
    # A meeting's ref on "Try again" names no retry record.
    resp = await demo_bot.post(click({"verb": "meeting.retry", "ref": posted.ref},
                                     service_url=connector.url, user=ana))
    assert NO_LONGER_VALID in answer_of(resp)[1]
    # A real "Try again" (Graph's answer was lost), clicked by someone else or elsewhere.
    graph.faults.push(*[Fault(status=504, path="createOrGet")] * 4)
    act = in_chat(message("meet now about lost", service_url=connector.url, user=ana,
                          kind="groupChat"), GROUP)
    await demo_bot.post(act)
    error = card_of(await reply_to(connector, act["id"]))
    retry = actions_of(error)["Try again"]["data"]
    before = World.of(demo_bot, connector, graph)
    taken = await demo_bot.post(click(retry, service_url=connector.url, user=mallory))
    assert "Only the person who asked" in answer_of(taken)[1]
    moved = await demo_bot.post(click(retry, service_url=connector.url, user=ana,
                                      conversation=OTHER_GROUP))
    assert NO_LONGER_VALID in answer_of(moved)[1]
    as_meeting = await demo_bot.post(click({"verb": VERB_END, "ref": retry["ref"], "v": 0},
                                           service_url=connector.url, user=ana))
    assert NO_LONGER_VALID in answer_of(as_meeting)[1]
    after = World.of(demo_bot, connector, graph)
    assert after.graph_calls == before.graph_calls and after.stored == before.stored


@pytest.fixture(params=["memory", "redis"])
async def either_store_bot(request: pytest.FixtureRequest) -> AsyncIterator[BotClient]:
    """Demo mode on the in-process store, and on a real redis-server (sealed)."""
    env = {}
    if request.param == "redis":
        env = {"REDIS_URL": request.getfixturevalue("redis_server").url,
               "STATE_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    bot = await start_bot(env)
    yield bot
    await stop_bot(bot)


async def test_a_form_becomes_one_meeting_card_and_is_not_rewritten_by_someone_elses_click(
        either_store_bot, connector):
    """The channel's "new meeting" form turns into the meeting card of whoever clicked first;
    a later crafted click on the same message (replyToId) makes that person's own meeting but
    does not replace the first meeting's card for everyone."""
    graph = either_store_bot.app[LOCAL_GRAPH]
    ana, mallory = User(name="Ana"), User(name="Mallory")
    bot_mention = {"type": "mention", "text": "<at>MeetBot</at>",
                   "mentioned": {"id": "28:meetbot", "name": "MeetBot"}}
    act = message("<at>MeetBot</at> meet", service_url=connector.url, user=ana, kind="channel",
                  conversation_id=CHANNEL, mentions=[bot_mention])
    await either_store_bot.post(act)
    form = card_of(await reply_to(connector, act["id"]))
    form_id = posted_id(connector, lambda a: card_of(a) == form)
    meet_now = execute(actions_of(form)["Meet now"])
    meet_now["action"]["data"].update(minutes="30", subject="standup")

    def on_form(user: User) -> dict:
        return in_chat(invoke("adaptiveCard/action", meet_now, service_url=connector.url,
                              user=user, kind="channel", reply_to_id=form_id), CHANNEL)

    first = await either_store_bot.post(on_form(ana))
    [ana_meeting] = graph.meetings_of(ana.tenant_id, ana.aad_object_id)
    assert ana_meeting["joinWebUrl"] in answer_of(first)[1]
    await connector.wait_for(lambda c: c.op == "update" and c.activity_id == form_id)
    again = await either_store_bot.post(on_form(ana))  # a double click: the same meeting, same card
    assert ana_meeting["joinWebUrl"] in answer_of(again)[1]

    later = await either_store_bot.post(on_form(mallory))
    [mallory_meeting] = graph.meetings_of(mallory.tenant_id, mallory.aad_object_id)
    assert mallory_meeting["joinWebUrl"] in answer_of(later)[1]  # their own view
    await asyncio.sleep(0.2)
    shown = card_text(card_of(connector.conversations[CHANNEL].activities[form_id]))
    assert ana_meeting["joinWebUrl"] in shown and mallory_meeting["joinWebUrl"] not in shown
    # With Action.Submit the latecomer's meeting comes as a message of its own.
    value = dict(meet_now["action"]["data"], subject="mallory's")
    since = len(connector.calls)
    await either_store_bot.post(in_chat(submit(value, service_url=connector.url, user=mallory,
                                       reply_to_id=form_id), CHANNEL))
    posted = await next_activity(connector, lambda b: "mallory" in card_text(card_of(b) or {}))
    assert posted.get("type") == "message"
    assert not [c for c in connector.calls[since:] if c.op == "update"]
    shown = card_text(card_of(connector.conversations[CHANNEL].activities[form_id]))
    assert ana_meeting["joinWebUrl"] in shown


async def test_two_people_clicking_one_form_at_once_leave_one_meeting_on_it(
        either_store_bot, connector):
    bot, graph = either_store_bot, either_store_bot.app[LOCAL_GRAPH]
    people = [User(name="Ana"), User(name="Ben"), User(name="Cem")]
    act = message("<at>MeetBot</at> meet", service_url=connector.url, user=people[0],
                  kind="channel", conversation_id=CHANNEL, mentions=[BOT_MENTION])
    await bot.post(act)
    form = card_of(await reply_to(connector, act["id"]))
    form_id = posted_id(connector, lambda a: card_of(a) == form)
    meet_now = execute(actions_of(form)["Meet now"])
    clicks = [in_chat(invoke("adaptiveCard/action", meet_now, service_url=connector.url,
                             user=u, kind="channel", reply_to_id=form_id), CHANNEL)
              for u in people]
    answers = await asyncio.gather(*(bot.post(c) for c in clicks))
    links = []
    for user, resp in zip(people, answers):
        [meeting] = graph.meetings_of(user.tenant_id, user.aad_object_id)
        assert meeting["joinWebUrl"] in answer_of(resp)[1]
        links.append(meeting["joinWebUrl"])
    await asyncio.sleep(0.2)
    shown = card_text(card_of(connector.conversations[CHANNEL].activities[form_id]))
    assert sum(link in shown for link in links) == 1
    updates = [c for c in connector.calls if c.op == "update"]
    assert len(updates) == 1 and updates[0].activity_id == form_id


# === 4. State grown by clients ==================================================================
def raw_values(url: str) -> dict[bytes, bytes]:
    """Every string value in the Redis database, as stored."""
    with redis.Redis.from_url(url) as raw:
        return {key: raw.get(key) for key in raw.scan_iter(count=1000)
                if raw.type(key) == b"string"}


JUNK = "x" * (190 * 1024)  # what a crafted click adds, just under the 256 KB body limit


@pytest.fixture
async def sealed_demo_bot(redis_server: Any) -> AsyncIterator[BotClient]:
    """Demo mode on a real redis-server with sealed records: raw values can be read. Standalone
    meetings, so a command with invitees is one createOrGet the tests can fail on purpose."""
    bot = await start_bot({"REDIS_URL": redis_server.url, "MEETINGS_ON_CALENDAR": "never",
                           "STATE_ENCRYPTION_KEY": Fernet.generate_key().decode()})
    yield bot
    await stop_bot(bot)


async def test_regression_crafted_end_clicks_store_nothing_the_client_sent(
        sealed_demo_bot, connector, redis_server):
    bot, graph = sealed_demo_bot, sealed_demo_bot.app[LOCAL_GRAPH]
    ana, mallory = User(name="Ana"), User(name="Mallory")
    posted = await meeting_by(bot, connector, graph, ana)
    stored = raw_values(redis_server.url)
    # ~190 KB of client data in the shape the old handler stored for 24 hours.
    junk = {"invited": [{"name": "x" * 1000, "aadObjectId": str(i)} for i in range(190)]}
    for i in range(20):
        data = posted.data(VERB_END, **junk)
        who = mallory if i % 2 else ana
        if i % 4 < 2:
            resp = await bot.post(click(data, service_url=connector.url, user=who,
                                        reply_to_id=posted.card_id))
            assert resp.status == 200
        else:
            resp = await bot.post(submit(data, service_url=connector.url, user=who,
                                         reply_to_id=posted.card_id))
            assert resp.status == 201
    after = raw_values(redis_server.url)
    # The organizer's End changed the meeting's record (same key); Mallory's clicks nothing.
    # Apart from delivery markers ("seen:"), no key is new, and no value grew by what was sent.
    new = {k for k in after if k not in stored and not k.startswith(b"meetbot:seen:")}
    assert new == set(), new
    assert max(len(v) for v in after.values()) < 8 * 1024
    record = next(k for k in after if k.startswith(b"meetbot:record:"))
    assert abs(len(after[record]) - len(stored[record])) < 512
    assert graph.count("DELETE") == 1  # Ana's first End, once


async def test_token_exchanges_with_huge_ids_store_nothing_big(cloud, redis_server):
    bot = await start_bot(cloud.bot_env(REDIS_URL=redis_server.url,
                                        STATE_ENCRYPTION_KEY=Fernet.generate_key().decode()))
    try:
        user = User()
        statuses = []
        for i in range(20):
            exchange_id = (JUNK if i % 2 else f"{i:03d}" + "y" * 253)
            resp = await bot.post(invoke("signin/tokenExchange",
                                         {"id": exchange_id, "token": f"not.a.jwt{i}",
                                          "connectionName": "graph-sso"},
                                         service_url=cloud.connector.url, user=user),
                                  token=cloud.channel_token())
            statuses.append(resp.status)
        assert statuses == [412, 400] * 10  # an id over 256 characters is not even read
        values = raw_values(redis_server.url)
        assert all(len(k) < 100 and len(v) < 200 for k, v in values.items()), values
        assert len(values) <= 10  # one marker per bounded id, none for the oversized ones
        assert cloud.entra.calls["on_behalf_of"] == 0
    finally:
        await stop_bot(bot)


# === 5. Tenant allow-list and SSO token binding (delegated mode) ===============================
OUTSIDER_TENANT = "0b6a5f5e-5e35-4a53-9b5b-3c1b2a0f9e11"


@pytest.fixture
async def allow_listed(cloud, redis_server) -> AsyncIterator[BotClient]:
    """Delegated mode with ALLOWED_TENANTS and Redis (so every stored key can be listed)."""
    bot = await start_bot(cloud.bot_env(ALLOWED_TENANTS=TENANT, REDIS_URL=redis_server.url,
                                        STATE_ENCRYPTION_KEY=Fernet.generate_key().decode()))
    yield bot
    await stop_bot(bot)


def outsider_activities(cloud, outsider: User, insider_ref: str) -> dict[str, dict]:
    """One of each activity and invoke type MeetBot serves, from a tenant not on the list."""
    url = cloud.connector.url
    sso = cloud.entra.user_sso_token(outsider.aad_object_id, outsider.tenant_id, app_id=APP_ID)
    ref_data = {"verb": VERB_REFRESH, "ref": insider_ref, "v": 0}

    def inv(name: str, value: Any) -> dict:
        return invoke(name, value, service_url=url, user=outsider)

    install = message("", service_url=url, user=outsider)
    install.update(type="installationUpdate", action="add")
    install.pop("text")
    update = dict(install, type="conversationUpdate",
                  membersAdded=[{"id": "28:meetbot", "name": "MeetBot"}])
    update.pop("action")
    return {
        "message": message("meet now about outside", service_url=url, user=outsider),
        "submit": message("", service_url=url, user=outsider, value=ref_data),
        "card refresh": inv("adaptiveCard/action",
                            {"action": {"type": "Action.Execute", "verb": VERB_REFRESH,
                                        "data": ref_data}, "trigger": "automatic"}),
        "card create": inv("adaptiveCard/action",
                           {"action": {"type": "Action.Execute", "verb": "meeting.create",
                                       "data": {"verb": "meeting.create", "minutes": "30"}}}),
        "token exchange": inv("signin/tokenExchange", {"id": str(uuid.uuid4()), "token": sso,
                                                       "connectionName": "graph-sso"}),
        "verify state": inv("signin/verifyState", {"state": "123456"}),
        "sign-in failure": inv("signin/failure", {"code": "resourcematchfailed"}),
        "compose fetch": inv("composeExtension/fetchTask", {"commandId": "createMeeting"}),
        "compose submit": inv("composeExtension/submitAction",
                              {"commandId": "createMeeting",
                               "data": {"verb": "meeting.create", "minutes": "30"}}),
        "installation": install,
        "conversation update": update,
        "unknown invoke": inv("task/fetch", {}),
    }


def user_token_requests(entra: Any) -> tuple[int, int]:
    """Entra ID's work for users (on-behalf-of, refresh), apart from the bot's own token."""
    return entra.calls["on_behalf_of"], entra.calls["refresh_token"]


async def signed_in_meeting(bot: BotClient, cloud, user: User) -> dict:
    """The insider signs in (Teams SSO) and gets a meeting card; returns the card."""
    from tests.helpers import sign_in
    resp, act = await sign_in(bot, cloud, user, "meet now about inside")
    assert resp.status == 200
    body = await next_activity(cloud.connector, lambda b: card_of(b) is not None
                               and "inside" in card_text(card_of(b)))
    return card_of(body)


async def test_regression_allow_list_applies_to_every_activity_and_invoke_type(
        allow_listed, cloud, redis_server):
    bot = allow_listed
    insider = User(name="Ana")
    card = await signed_in_meeting(bot, cloud, insider)
    ref = next(a["data"]["ref"] for a in walk(card) if a.get("verb") == VERB_END)
    [meeting] = cloud.graph.meetings_of(insider.tenant_id, insider.aad_object_id)
    outsider = User(name="Eve", tenant_id=OUTSIDER_TENANT)
    before_keys = set(raw_values(redis_server.url))
    graph_calls, entra = len(cloud.graph.calls), user_token_requests(cloud.entra)
    since = len(cloud.connector.calls)
    for kind, act in outsider_activities(cloud, outsider, ref).items():
        resp = await bot.post(act, token=cloud.channel_token())
        assert resp.status < 500, kind
        shown = json.dumps(resp.body_json)  # type: ignore[attr-defined]
        assert meeting["joinWebUrl"] not in shown, kind
        if act["type"] == "invoke" and kind not in ("unknown invoke",):
            assert "organisation" in shown or resp.status in (400, 412), (kind, shown[:300])
    await asyncio.sleep(0.2)
    assert len(cloud.graph.calls) == graph_calls
    assert user_token_requests(cloud.entra) == entra  # no on-behalf-of, no refresh
    assert set(raw_values(redis_server.url)) - before_keys <= {
        k for k in raw_values(redis_server.url) if k.startswith(b"meetbot:seen:")}
    writes = connector_writes(cloud.connector, since)
    assert writes and all("organisation" in json.dumps(c.body) for c in writes)
    assert all(meeting["joinWebUrl"] not in json.dumps(c.body) for c in writes)


async def test_regression_outsider_token_exchange_stores_no_refresh_token(
        allow_listed, cloud, redis_server):
    bot = allow_listed
    outsider = User(name="Eve", tenant_id=OUTSIDER_TENANT)
    sso = cloud.entra.user_sso_token(outsider.aad_object_id, outsider.tenant_id, app_id=APP_ID)
    resp = await bot.post(invoke("signin/tokenExchange",
                                 {"id": str(uuid.uuid4()), "token": sso,
                                  "connectionName": "graph-sso"},
                                 service_url=cloud.connector.url, user=outsider),
                          token=cloud.channel_token())
    assert resp.status == 200 and "organisation" in json.dumps(resp.body_json)
    assert cloud.entra.calls["on_behalf_of"] == 0
    assert not [k for k in raw_values(redis_server.url) if k.startswith(b"meetbot:tokens:")]


async def test_regression_a_token_cache_from_before_the_allow_list_is_not_used(
        cloud, redis_server):
    """An outsider who signed in before the admin set ALLOWED_TENANTS: their stored refresh
    token is not used for anything (no silent refresh, no Graph call)."""
    key = Fernet.generate_key().decode()
    env = cloud.bot_env(REDIS_URL=redis_server.url, STATE_ENCRYPTION_KEY=key)
    outsider = User(name="Eve", tenant_id=OUTSIDER_TENANT)
    open_bot = await start_bot(env)
    try:
        card = await signed_in_meeting(open_bot, cloud, outsider)
    finally:
        await stop_bot(open_bot)
    ref = next(a["data"]["ref"] for a in walk(card) if a.get("verb") == VERB_END)
    assert [k for k in raw_values(redis_server.url) if k.startswith(b"meetbot:tokens:")]
    bot = await start_bot({**env, "ALLOWED_TENANTS": TENANT})
    try:
        graph_calls, entra = len(cloud.graph.calls), user_token_requests(cloud.entra)
        for act in (message("meet now about again", service_url=cloud.connector.url,
                            user=outsider),
                    invoke("adaptiveCard/action",
                           {"action": {"type": "Action.Execute", "verb": VERB_END,
                                       "data": {"verb": VERB_END, "ref": ref, "v": 0}}},
                           service_url=cloud.connector.url, user=outsider)):
            resp = await bot.post(act, token=cloud.channel_token())
            assert resp.status in (200, 201)
        await next_activity(cloud.connector, lambda b: "organisation" in json.dumps(b))
        assert len(cloud.graph.calls) == graph_calls
        assert user_token_requests(cloud.entra) == entra
        assert len(cloud.graph.meetings_of(outsider.tenant_id, outsider.aad_object_id)) == 1
    finally:
        await stop_bot(bot)


@pytest.fixture
async def delegated_bot(cloud, redis_server) -> AsyncIterator[BotClient]:
    bot = await start_bot(cloud.bot_env(REDIS_URL=redis_server.url,
                                        STATE_ENCRYPTION_KEY=Fernet.generate_key().decode()))
    yield bot
    await stop_bot(bot)


@pytest.mark.parametrize("mismatch", [
    "another user's token", "another tenant", "another app (aud)", "Graph's audience",
    "no oid", "not a JWT",
])
async def test_regression_sso_token_not_bound_to_the_caller_is_refused_before_entra(
        delegated_bot, cloud, redis_server, mismatch):
    bot, entra = delegated_bot, cloud.entra
    victim, mallory = User(name="Ana"), User(name="Mallory")
    card, _, own = await ask_to_sign_in(bot, cloud, mallory, "meet now about mine")
    token = {
        "another user's token": entra.user_sso_token(victim.aad_object_id, victim.tenant_id,
                                                     app_id=APP_ID),
        "another tenant": entra.user_sso_token(mallory.aad_object_id, OUTSIDER_TENANT,
                                               app_id=APP_ID),
        "another app (aud)": entra.user_sso_token(mallory.aad_object_id, mallory.tenant_id,
                                                  app_id=APP_ID,
                                                  audience=f"api://botid-{uuid.uuid4()}"),
        "Graph's audience": entra.user_sso_token(mallory.aad_object_id, mallory.tenant_id,
                                                 app_id=APP_ID,
                                                 audience="https://graph.microsoft.com"),
        "no oid": cloud.issuer.issue({"aud": f"api://botid-{APP_ID}", "tid": mallory.tenant_id,
                                      "scp": "access_as_user"}),
        "not a JWT": "definitely-not-a-jwt",
    }[mismatch]
    resource = card["tokenExchangeResource"]
    resp = await bot.post(invoke("signin/tokenExchange", {"id": resource["id"], "token": token},
                                 service_url=cloud.connector.url, user=mallory),
                          token=cloud.channel_token())
    assert resp.status == 412  # Teams falls back to the card's sign-in button
    assert entra.calls["on_behalf_of"] == 0
    told = await next_activity(cloud.connector, lambda b: "couldn't use that sign-in"
                               in json.dumps(b))
    assert told["conversation"]["id"] == f"a:{mallory.teams_id}"
    assert not [k for k in raw_values(redis_server.url) if k.startswith(b"meetbot:tokens:")]
    assert cloud.graph.count() == 0
    # Mallory's own token, next time Teams sends it, works as ever.
    again = await bot.post(invoke("signin/tokenExchange",
                                  {"id": str(uuid.uuid4()), "token": own},
                                  service_url=cloud.connector.url, user=mallory),
                           token=cloud.channel_token())
    assert again.status == 200 and entra.calls["on_behalf_of"] == 1


# === 6. Before authentication ===================================================================
# botbuilder's own list of the Bot Framework Emulator's issuers (EmulatorValidation): a token
# from any of them used to reach its emulator check, which fetched an OpenID document with a
# blocking `requests.get` on the event loop.
EMULATOR_ISSUERS = tuple(
    EmulatorValidation.TO_BOT_FROM_EMULATOR_TOKEN_VALIDATION_PARAMETERS.issuer)


def public_cloud_env(cloud) -> dict[str, str]:
    """The public-cloud configuration: botbuilder's built-in channel settings (no TO_…)."""
    return {k: v for k, v in cloud.bot_env().items() if not k.startswith("TO_")}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def with_raw(activity: dict, field: str, raw_json: str) -> bytes:
    activity[field] = "__RAW__"
    return json.dumps(activity).replace('"__RAW__"', raw_json).encode()


@pytest.mark.parametrize("emulator", EMULATOR_ISSUERS)
async def test_regression_emulator_issuer_tokens_are_401_before_botbuilder_sees_them(
        cloud, emulator):
    bot = await start_bot(public_cloud_env(cloud))
    try:
        token = cloud.issuer.issue({"aud": APP_ID, "appid": APP_ID, "ver": "1.0",
                                    "serviceurl": cloud.connector.url}, issuer=emulator)
        act = message("meet now", service_url=cloud.connector.url)
        started = time.monotonic()
        resp = await bot.post(act, token=token)
        assert resp.status == 401 and time.monotonic() - started < 1.0
        assert cloud.connector.calls == [] and cloud.graph.count() == 0
    finally:
        await stop_bot(bot)


@pytest.mark.parametrize("header", [
    pytest.param(lambda cloud: None, id="none"),
    pytest.param(lambda cloud: "Basic dXNlcjpwYXNz", id="basic"),
    pytest.param(lambda cloud: "Bearer", id="bearer-without-token"),
    pytest.param(lambda cloud: "Bearer a.b.c", id="not-base64"),
    pytest.param(lambda cloud: "Bearer " + jwt.encode(
        {"iss": "https://api.botframework.com", "aud": APP_ID,
         "exp": int(time.time()) + 600, "serviceurl": cloud.connector.url},
        key="", algorithm="none"), id="alg-none"),
    pytest.param(lambda cloud: "Bearer " + jwt.encode(
        {"iss": "https://api.botframework.com", "aud": APP_ID,
         "exp": int(time.time()) + 600, "serviceurl": cloud.connector.url},
        key="a-shared-secret-of-enough-length-for-hs256", algorithm="HS256",
        headers={"kid": "x" * 5000}), id="hs256-odd-kid"),
    pytest.param(lambda cloud: "Bearer " + cloud.issuer.issue(
        {"aud": APP_ID, "serviceurl": cloud.connector.url},
        issuer="https://api.botframework.com", lifetime=-7200), id="expired"),
    pytest.param(lambda cloud: "Bearer " + cloud.issuer.issue(
        {"aud": APP_ID, "serviceurl": cloud.connector.url},
        issuer="https://api.botframework.com",
        signing_key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        id="channel-claims-forged-signature"),
    pytest.param(lambda cloud: "Bearer " + cloud.issuer.issue(
        {"aud": APP_ID, "serviceurl": cloud.connector.url},
        issuer="https://api.botframework.com", kid="not-a-channel-key",
        signing_key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        id="unknown-kid"),
    pytest.param(lambda cloud: "Bearer " + cloud.entra.channel_token(
        str(uuid.uuid4()), cloud.connector.url), id="genuine-token-for-another-bot"),
])
async def test_unauthenticated_bodies_are_never_read(cloud, header):
    """Without a channel token for this bot the body is not even parsed: a malformed body, a
    3,000-deep one and a 250 KB one all get the same 401. That includes tokens that claim the
    channel's issuer without its signature (the first guard used to read only the claims, so
    anyone could make the bot parse 256 KB bodies: up to ~25 ms of CPU each)."""
    bot = await start_bot(cloud.bot_env())
    try:
        made = header(cloud)
        for body in (b"{not json", nested(3000).encode(),
                     with_raw(message("meet now", service_url=cloud.connector.url), "value",
                              json.dumps(JUNK[:250_000]))):
            headers = {"Content-Type": "application/json"}
            if made is not None:
                headers["Authorization"] = made
            async with bot.session.post(f"{bot.srv.url}/api/messages", data=body,
                                        headers=headers) as resp:
                assert resp.status == 401, (made and made[:40], resp.status)
        assert cloud.connector.calls == [] and cloud.graph.count() == 0
    finally:
        await stop_bot(bot)


@pytest.mark.parametrize("field, depth", [
    ("value", 3000), ("channelData", 3000), ("entities", 3000), ("x", 3000), ("value", 900),
    ("attachments", 900),
])
async def test_regression_deeply_nested_json_is_400_not_500(cloud, caplog, field, depth):
    """With a valid channel token: a body nested 3,000 deep used to be a 500 (RecursionError)."""
    bot = await start_bot(cloud.bot_env())
    try:
        act = message("help", service_url=cloud.connector.url)
        resp = await bot.post(with_raw(act, field, nested(depth)), token=cloud.channel_token())
        assert resp.status < 500 and (resp.status == 400 or depth < 1000)
        assert our_errors(caplog.records) == []
    finally:
        await stop_bot(bot)


async def test_unreachable_signing_keys_are_503_not_500(cloud):
    bot = await start_bot(cloud.bot_env(
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=f"http://127.0.0.1:{free_port()}/openid"))
    try:
        resp = await bot.post(message("help", service_url=cloud.connector.url),
                              token=cloud.channel_token())
        assert resp.status == 503
        assert cloud.connector.calls == []
    finally:
        await stop_bot(bot)


# === 7. Bounds ==================================================================================
@pytest.mark.parametrize("text", [
    "meet 99999999999999999999h", "meet now for 99999999999999999999 minutes",
    "meet in 99999999999999999999 days", "meet at 99999999999999999999:00",
    "meet 99999999999999999999h30m about x", "meet on 12/12/99999999999999999999",
    "meet tomorrow at 9999999999999999999999am", "meet in 1e308 hours",
    "meet on the 99999999999999999999th",
])
async def test_regression_overflowing_numbers_are_a_clear_parse_error(demo_bot, connector,
                                                                       caplog, text):
    user = User()
    act = message(text, service_url=connector.url, user=user)
    assert (await demo_bot.post(act)).status == 201
    shown = card_text(card_of(await reply_to(connector, act["id"])))
    assert "I couldn't read that" in shown and "Something went wrong" not in shown
    assert demo_bot.app[LOCAL_GRAPH].count("POST") == 0
    assert our_errors(caplog.records) == []


async def test_a_command_longer_than_any_command_is_refused_unread(demo_bot, connector):
    """`meet` followed by ~250 KB of number-like words used to cost ~1.5 s of CPU on the event
    loop (every other chat waited); Teams' own largest message ~0.2 s. Ten of them now take a
    fraction of that, each answered with a clear refusal, and nothing reaches Graph."""
    from bot.grammar import MAX_COMMAND
    user = User()
    acts = [message("meet " + "1 2 3 " * 40_000, service_url=connector.url, user=user)
            for _ in range(10)]
    started = time.monotonic()
    statuses = [(await demo_bot.post(act)).status for act in acts]
    elapsed = time.monotonic() - started
    assert statuses == [201] * 10
    for act in acts:
        shown = card_text(card_of(await reply_to(connector, act["id"])))
        assert f"more than I read ({MAX_COMMAND:,})" in shown
    assert elapsed < 5.0, f"{elapsed:.1f}s for 10 long commands"
    assert demo_bot.app[LOCAL_GRAPH].count() == 0


async def press(bot: BotClient, connector: Any, card: dict, title: str, user: User, *,
                conversation: str = CHANNEL) -> aiohttp.ClientResponse:
    act = in_chat(invoke("adaptiveCard/action", execute(actions_of(card)[title]),
                         service_url=connector.url, user=user, kind="channel"), conversation)
    resp = await bot.post(act)
    assert resp.status == 200
    return resp


async def test_regression_with_everyone_in_a_25000_member_team_says_so_then_meets_without_invites(
        demo_bot, connector):
    graph = demo_bot.app[LOCAL_GRAPH]
    organizer = User(name="Olga")
    connector.add_members(TEAM, [member(organizer)] + crowd(24_999))
    act = message("meet now with everyone about all hands", service_url=connector.url,
                  user=organizer, kind="channel", conversation_id=CHANNEL)
    act["channelData"]["team"] = {"id": TEAM}
    await demo_bot.post(act)
    refusal = card_of(await reply_to(connector, act["id"]))
    assert f"more than {MAX_INVITEES:,} other members" in card_text(refusal)
    assert len([c for c in connector.calls if c.op == "paged_members"]) == 3  # not 50
    assert graph.meetings_of(organizer.tenant_id, organizer.aad_object_id) == []
    resp = await press(demo_bot, connector, refusal, "Meet without invites", organizer)
    [meeting] = graph.meetings_of(organizer.tenant_id, organizer.aad_object_id)
    assert meeting["participants"]["attendees"] == [] and meeting["subject"] == "all hands"
    assert meeting["joinWebUrl"] in answer_of(resp)[1]


async def test_regression_1500_mentions_are_refused_before_any_lookup_then_meet_without_invites(
        demo_bot, connector):
    graph = demo_bot.app[LOCAL_GRAPH]
    organizer = User(name="Olga")
    people = crowd(1_500)
    connector.add_members(CHANNEL, people)
    act = mentioning(organizer, people, connector.url, "launch", CHANNEL)
    assert (await demo_bot.post(act)).status == 201
    refusal = card_of(await reply_to(connector, act["id"]))
    assert "You mentioned 1,500 people" in card_text(refusal)
    assert not [c for c in connector.calls if c.op == "member"]
    await press(demo_bot, connector, refusal, "Meet without invites", organizer)
    [meeting] = graph.meetings_of(organizer.tenant_id, organizer.aad_object_id)
    assert meeting["participants"]["attendees"] == []
    assert not [c for c in connector.calls if c.op == "member"]


async def test_mention_lookups_run_a_few_at_a_time(demo_bot, connector):
    from bot.members import LOOKUP_CONCURRENCY
    organizer = User(name="Olga")
    people = crowd(300)
    connector.add_members(CHANNEL, people)
    connector.read_latency["member"] = 0.01
    act = mentioning(organizer, people, connector.url, "review", CHANNEL)
    await demo_bot.post(act)
    assert card_of(await reply_to(connector, act["id"])) is not None
    assert len([c for c in connector.calls if c.op == "member"]) == 300
    assert connector.max_in_flight["member"] <= LOOKUP_CONCURRENCY


async def test_regression_try_again_keeps_the_whole_invitee_scope(connector):
    """Graph times out on a command that mentions 60 people; "Try again" invites all 60 (it
    used to keep 50)."""
    bot = await start_bot({"GRAPH_TIMEOUT": "1", "MEETINGS_ON_CALENDAR": "never"})  # createOrGet
    try:
        graph = bot.app[LOCAL_GRAPH]
        organizer = User(name="Olga")
        people = crowd(60)
        connector.add_members(CHANNEL, people)
        graph.faults.push(*[Fault(delay=2, status=504, path="createOrGet")] * 4)
        act = mentioning(organizer, people, connector.url, "incident", CHANNEL)
        await bot.post(act)
        error = card_of(await reply_to(connector, act["id"]))
        assert "Try again" in actions_of(error)
        assert graph.meetings_of(organizer.tenant_id, organizer.aad_object_id) == []
        graph.faults.clear()
        resp = await press(bot, connector, error, "Try again", organizer)
        [meeting] = graph.meetings_of(organizer.tenant_id, organizer.aad_object_id)
        invited = {a["identity"]["user"]["id"] for a in meeting["participants"]["attendees"]}
        assert invited == {p["aadObjectId"] for p in people}
        assert meeting["joinWebUrl"] in answer_of(resp)[1]
    finally:
        await stop_bot(bot)


async def test_oversized_form_input_and_card_fields_are_refused(demo_bot, connector):
    graph = demo_bot.app[LOCAL_GRAPH]
    user = User()
    cases = [
        {"verb": "meeting.create", "minutes": "30", "subject": "s" * 200_000},
        {"verb": "meeting.create", "minutes": "30", "subject": "s" * 300},
        {"verb": "meeting.create", "minutes": "99999999999999999999"},
        {"verb": "meeting.create", "minutes": 1e308},
        {"verb": "command.run", "text": "meet now about " + "x" * 5000},
        {"verb": "meeting.end", "ref": "r" * 100_000, "v": 10**30},
        {"verb": "x" * 100_000},
    ]
    for data in cases:
        resp = await demo_bot.post(click(data, service_url=connector.url, user=user))
        assert resp.status == 200
        shown = answer_of(resp)[1]
        assert "couldn't read" in shown or "I couldn't read that" in shown, shown[:200]
    assert graph.count("POST") == 0


# === 8. Data at rest ============================================================================
async def test_meeting_and_retry_records_are_sealed_and_an_altered_one_is_not_believed(
        sealed_demo_bot, connector, redis_server):
    bot, graph = sealed_demo_bot, sealed_demo_bot.app[LOCAL_GRAPH]
    ana, ben = User(name="Ana"), User(name="Bartholomew")
    connector.add_members(GROUP, [member(ben)])
    posted = await meeting_by(bot, connector, graph, ana, subject="project nightingale")
    graph.faults.push(*[Fault(status=504, path="createOrGet")] * 4)
    act = in_chat(message("meet now about operation kingfisher with <at>Bartholomew</at>",
                          service_url=connector.url, user=ana, kind="groupChat",
                          mentions=[{"type": "mention", "text": "<at>Bartholomew</at>",
                                     "mentioned": {"id": ben.teams_id,
                                                   "name": "Bartholomew"}}]), GROUP)
    await bot.post(act)
    assert "Try again" in actions_of(card_of(await reply_to(connector, act["id"])))
    values = raw_values(redis_server.url)
    assert [k for k in values if k.startswith(b"meetbot:record:")]
    assert [k for k in values if k.startswith(b"meetbot:retry:")]
    ids = posted.meeting["joinMeetingIdSettings"]
    for secret in (posted.meeting["joinWebUrl"], "meetup-join", "nightingale", "kingfisher",
                   "Bartholomew", ben.aad_object_id, ids["joinMeetingId"],
                   *filter(None, [ids["passcode"]]), GROUP):
        for key, value in values.items():
            assert secret.encode() not in value, f"{secret!r} readable under {key!r}"
            assert secret.encode() not in key
    # An altered record reads as absent: the card is no longer valid and nothing happens.
    record_key = f"meetbot:record:{posted.ref}".encode()
    sealed = bytearray(values[record_key])
    sealed[len(sealed) // 2] ^= 0x01
    with redis.Redis.from_url(redis_server.url) as raw:
        raw.set(record_key, bytes(sealed), keepttl=True)
    resp = await bot.post(click(posted.data(VERB_END), service_url=connector.url, user=ana,
                                reply_to_id=posted.card_id))
    assert NO_LONGER_VALID in answer_of(resp)[1]
    assert graph.count("DELETE") == 0 and graph.find(posted.meeting["id"])
    assert not [c for c in connector.calls if c.op == "update"]


async def test_a_command_waiting_for_sign_in_is_sealed(delegated_bot, cloud, redis_server):
    await ask_to_sign_in(delegated_bot, cloud, User(), "meet now about project nightingale")
    values = raw_values(redis_server.url)
    assert [k for k in values if k.startswith(b"meetbot:pending:")]
    assert not [k for k, v in values.items() if b"nightingale" in v or b"nightingale" in k]


# === 9. The small ones ============================================================================
async def test_consent_page_checks_state_and_sends_security_headers(cloud):
    bot = await start_bot(cloud.bot_env())
    try:
        async with bot.session.get(f"{bot.srv.url}/auth/start", params={"tenant": TENANT},
                                   allow_redirects=False) as resp:
            assert resp.status == 302
            state = dict(p.split("=", 1) for p in resp.headers["Location"].split("?", 1)[1]
                         .split("&"))["state"]
            start_headers = dict(resp.headers)
        for query, status in (({"code": "x"}, 400), ({"code": "x", "state": "1.2.3"}, 400),
                              ({"code": "x", "state": state.replace("%2F", "/")}, 200)):
            async with bot.session.get(f"{bot.srv.url}/auth/end", params=query) as resp:
                assert resp.status == status, query
                headers = dict(resp.headers)
            for h in (headers, start_headers):
                assert h["X-Frame-Options"] == "DENY"
                assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
                assert h["Referrer-Policy"] == "no-referrer" and h["Cache-Control"] == "no-store"
    finally:
        await stop_bot(bot)


async def test_every_answer_names_no_server_versions(cloud):
    bot = await start_bot(cloud.bot_env())
    try:
        for method, path, body, token in (
                ("POST", "/api/messages", b"{}", None),  # 401
                ("POST", "/api/messages", b"{not json", cloud.channel_token()),  # 400
                ("POST", "/api/messages", b"x" * 300_000, cloud.channel_token()),  # 413
                ("GET", "/api/messages", b"", None), ("GET", "/healthz", b"", None),
                ("GET", "/readyz", b"", None), ("GET", "/metrics", b"", None),
                ("GET", "/nowhere", b"", None), ("GET", "/auth/end", b"", None)):
            headers = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            async with bot.session.request(method, f"{bot.srv.url}{path}", data=body,
                                           headers=headers) as resp:
                assert resp.status < 500 and resp.headers["Server"] == "MeetBot", (path,
                                                                                  resp.status)
    finally:
        await stop_bot(bot)


def test_an_invalid_state_encryption_key_is_one_line_and_exit_2():
    env = {"PATH": os.environ["PATH"], "STATE_ENCRYPTION_KEY": "hunter2-not-a-fernet-key"}
    proc = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    problems = [line for line in proc.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1 and "STATE_ENCRYPTION_KEY" in problems[0]
    assert "Traceback" not in proc.stderr and "hunter2" not in proc.stderr


async def test_a_typed_subject_cannot_become_a_link_on_the_card(demo_bot, connector):
    user = User()
    act = message(f"meet now about [Join here]({EVIL}) **urgent**", service_url=connector.url,
                  user=user)
    await demo_bot.post(act)
    card = card_of(await reply_to(connector, act["id"]))
    heading = next(b["text"] for b in walk(card) if b.get("style") == "heading")
    assert heading.startswith("\\[Join here\\]") and "\\*\\*urgent\\*\\*" in heading
    assert not [a for a in walk(card) if a.get("type") == "Action.OpenUrl"
                and "evil" in a.get("url", "")]


# === 10. Against a real `python app.py` ===========================================================
QUIET = {"LOG_FORMAT": "text", "LOG_LEVEL": "WARNING"}


@dataclass
class Running:
    app: AppProcess
    session: aiohttp.ClientSession
    connector: Any

    async def post(self, activity: Any, *, token: str | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = activity if isinstance(activity, bytes) else json.dumps(activity)
        async with self.session.post(f"{self.app.url}/api/messages", data=data,
                                     headers=headers) as resp:
            body = await resp.read()
            try:
                return resp.status, json.loads(body)
            except ValueError:
                return resp.status, None


@pytest.fixture
async def demo_process() -> AsyncIterator[Running]:
    """`python app.py` with no settings at all (demo mode), and a connector on this machine."""
    srv = await serve(create_connector_app())
    connector = srv.app[CONNECTOR_SIM]
    connector.url = srv.url
    app = AppProcess(QUIET, host=None)  # demo mode's own default address is under test
    session = aiohttp.ClientSession()
    try:
        await app.ready()
        yield Running(app, session, connector)
    finally:
        await session.close()
        log = await app.stop()
        await srv.server.close()
        assert "Traceback" not in log, log[-3000:]


async def test_regression_crafted_clicks_and_exchanges_do_not_grow_memory(demo_process):
    """300 crafted End clicks with ~190 KB of client data each, and 300 sign-in token exchanges
    with huge ids: the process's RSS grows by less than 15 MB (it used to grow ~60 MB and
    ~70 MB: the data was kept for 24 hours)."""
    run, connector = demo_process, demo_process.connector
    ana, mallory = User(name="Ana"), User(name="Mallory")
    act = in_chat(message("meet now 30m about memory", service_url=connector.url, user=ana,
                          kind="groupChat"), GROUP)
    assert (await run.post(act))[0] == 201
    card = card_of(await reply_to(connector, act["id"], timeout=30))
    ref = card["refresh"]["action"]["data"]["ref"]
    invited = [{"name": "x" * 1000, "aadObjectId": str(uuid.uuid4())} for _ in range(190)]
    gate = asyncio.Semaphore(4)

    async def end_click(i: int) -> int:
        who = mallory if i % 2 else ana
        data = {"verb": VERB_END, "ref": ref, "v": 0, "invited": invited, "n": i,
                "joinUrl": EVIL, "organizerId": who.aad_object_id}
        async with gate:
            return (await run.post(click(data, service_url=connector.url, user=who)))[0]

    async def exchange(i: int) -> int:
        value = {"id": f"{i:06d}" + "i" * 190_000, "token": "x.y.z",
                 "connectionName": "graph-sso"}
        async with gate:
            return (await run.post(invoke("signin/tokenExchange", value,
                                          service_url=connector.url, user=mallory)))[0]

    async def burst(n: int, offset: int = 0) -> set[int]:
        statuses = await asyncio.gather(*(end_click(offset + i) for i in range(n)),
                                        *(exchange(offset + i) for i in range(n)))
        return set(statuses)

    await burst(30)  # warm-up: allocator arenas, caches, connections
    before = run.app.rss_kb()
    statuses = await burst(300, offset=30)
    after = run.app.rss_kb()
    print(f"\nRSS {before / 1024:.1f} MB -> {after / 1024:.1f} MB after 300 crafted End "
          f"clicks (~190 KB each) and 300 token exchanges with ~190 KB ids")
    assert statuses <= {200, 400}, statuses
    assert after - before < 15 * 1024
    assert_nothing_evil_anywhere(connector)


async def test_regression_3000_deep_json_is_400_from_app_py(demo_process):
    run = demo_process
    act = message("meet now", service_url=run.connector.url)
    for field in ("value", "channelData", "entities", "x"):
        status, _ = await run.post(with_raw(dict(act), field, nested(3000)))
        assert status == 400, field
    status, _ = await run.post(nested(3000).encode())
    assert status == 400
    async with run.session.get(f"{run.app.url}/healthz") as resp:
        assert resp.status == 200


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets LISTENing on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port and len(address) == width:
                raw = bytes.fromhex(address)
                # /proc prints each 32-bit word in host (little-endian) order.
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(socket.inet_ntop(socket.AF_INET if width == 8 else socket.AF_INET6,
                                           words))
    return found


def an_address_of_this_machine_off_loopback() -> str | None:
    """The address this machine would use towards the outside (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only, nothing is sent
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


async def test_regression_demo_mode_listens_on_loopback_and_answers_only_a_local_connector(
        demo_process):
    run = demo_process
    assert listening_addresses(run.app.port) == {"127.0.0.1"}
    outside = an_address_of_this_machine_off_loopback()
    if outside is not None:  # the machine's own address on a real interface: nobody answers
        with pytest.raises(OSError):
            socket.create_connection((outside, run.app.port), timeout=1).close()
    user = User()
    for service_url in ("https://smba.trafficmanager.net/teams/", "http://10.255.255.1:9/",
                        "http://127.0.0.1@evil.example/", "http://localhost.evil.example/",
                        "http://[::ffff:8.8.8.8]/", f"http://{outside or '192.0.2.1'}:9/"):
        started = time.monotonic()
        status, body = await run.post(message("meet now about leak", service_url=service_url,
                                              user=user))
        assert status == 403 and body["error"]["code"] == "ServiceUrlNotLocal", service_url
        assert time.monotonic() - started < 1.0
    act = message("meet now about local", service_url=run.connector.url, user=user)
    assert (await run.post(act))[0] == 201
    assert card_of(await reply_to(run.connector, act["id"], timeout=30)) is not None
    assert [c.body.get("conversation", {}).get("id") for c in run.connector.calls
            if c.op in ("send", "reply")] and all(
        "leak" not in json.dumps(c.body) for c in run.connector.calls)


async def test_regression_emulator_tokens_get_401_fast_from_app_py_in_the_public_cloud():
    """The public-cloud configuration (botbuilder's built-in channel settings). Nothing
    answers for botbuilder's emulator metadata here; a blocking fetch would hold the answer
    (and every other request) up, a failed one used to be a 500."""
    issuer = LocalIssuer()
    app = AppProcess({**QUIET, "MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "x",
                      "BOT_DOMAIN": "meetbot.contoso.test"})
    try:
        async with aiohttp.ClientSession() as session:
            await app.ready()
            for emulator in EMULATOR_ISSUERS:
                token = issuer.issue({"aud": APP_ID, "appid": APP_ID, "ver": "1.0",
                                      "serviceurl": "https://smba.trafficmanager.net/teams/"},
                                     issuer=emulator)
                act = message("meet now", service_url="https://smba.trafficmanager.net/teams/")
                started = time.monotonic()
                async with session.post(f"{app.url}/api/messages", json=act,
                                        headers={"Authorization": f"Bearer {token}"}) as resp:
                    assert resp.status == 401, emulator
                assert time.monotonic() - started < 1.0, emulator
            async with session.get(f"{app.url}/healthz") as resp:
                assert resp.status == 200
    finally:
        log = await app.stop()
    assert "Traceback" not in log, log[-3000:]


async def test_a_mentions_entra_id_is_not_believed_only_teams_member_api_is(connector):
    """A crafted mention entity names an Entra object id (and a name) of someone who is not in
    the conversation: nobody is invited on its word; a real member's id comes from Teams."""
    bot = await start_bot({"MEETINGS_ON_CALENDAR": "never"})
    try:
        organizer, ana = User(name="Olga"), User(name="Ana")
        connector.add_members(CHANNEL, [member(ana)])
        outsider = str(uuid.uuid4())
        act = message("<at>MeetBot</at> meet now about reorg with <at>Ana</at> <at>Ceo</at>",
                      service_url=connector.url, user=organizer, kind="channel",
                      conversation_id=CHANNEL,
                      mentions=[BOT_MENTION,
                                {"type": "mention", "text": "<at>Ana</at>",
                                 "mentioned": {"id": ana.teams_id, "name": "Ana",
                                               "aadObjectId": outsider}},
                                {"type": "mention", "text": "<at>Ceo</at>",
                                 "mentioned": {"id": "29:not-a-member", "name": "Ceo",
                                               "aadObjectId": outsider}}])
        await bot.post(act)
        await reply_to(connector, act["id"])
        [meeting] = bot.app[LOCAL_GRAPH].meetings_of(organizer.tenant_id, organizer.aad_object_id)
        invited = {a["identity"]["user"]["id"]
                   for a in meeting["participants"].get("attendees", [])}
        assert invited == {ana.aad_object_id}  # Teams' word for Ana; the outsider nowhere
    finally:
        await stop_bot(bot)
