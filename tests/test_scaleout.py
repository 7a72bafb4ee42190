"""Scale-out: two MeetBot instances behind one (imaginary) load balancer share one real
redis-server. Sign-in, redelivery de-duplication and card state cross instances; tokens at rest
in Redis are sealed."""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from cryptography.fernet import Fernet

from bot.config import ConfigError, load_settings
from tests.helpers import (
    User,
    card_of,
    card_text,
    invoke,
    message,
    next_activity,
    sign_in,
    start_bot,
    stop_bot,
    walk,
)

ROOT = Path(__file__).resolve().parents[1]
JWT = re.compile(rb"eyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]*")


@pytest.fixture
async def pair(cloud, redis_server):
    """Instances A and B: the same configuration, one Redis, one encryption key."""
    env = cloud.bot_env(REDIS_URL=redis_server.url, STATE_ENCRYPTION_KEY=Fernet.generate_key().decode())
    a = await start_bot(env)
    b = await start_bot(env)
    yield a, b
    await stop_bot(a)
    await stop_bot(b)


def meeting_cards(cloud, reply_to: str) -> list[dict]:
    return [c.body for c in cloud.connector.calls
            if c.op in ("reply", "send") and c.body and card_of(c.body) is not None
            and reply_to in (c.activity_id, c.body.get("replyToId"))]


def execute_action(card: dict, verb: str) -> dict:
    """The Action.Execute a user would click, as its adaptiveCard/action invoke value."""
    action = next(a for a in walk(card) if a.get("type") == "Action.Execute" and a.get("verb") == verb)
    return {"action": {"type": "Action.Execute", "verb": verb, "data": action.get("data", {})},
            "trigger": "manual"}


async def test_signed_in_on_a_creates_on_b_without_new_sign_in(pair, cloud):
    a, b = pair
    user = User()
    resp, _ = await sign_in(a, cloud, user)
    assert resp.status == 200
    await next_activity(cloud.connector, lambda body: card_of(body) is not None
                        and "planning" in card_text(card_of(body)))
    assert cloud.entra.calls["on_behalf_of"] == 1

    act = message("meet now about from instance b", service_url=cloud.connector.url, user=user)
    assert (await b.post(act, token=cloud.channel_token())).status in (200, 201)
    body = await next_activity(cloud.connector, lambda body: card_of(body) is not None
                               and "from instance b" in card_text(card_of(body)))
    meetings = cloud.graph.meetings_of(user.tenant_id, user.aad_object_id)
    assert len(meetings) == 2
    made_on_b = next(m for m in meetings if m["subject"] == "from instance b")
    assert made_on_b["joinWebUrl"] in card_text(card_of(body))
    assert cloud.entra.calls["on_behalf_of"] == 1  # B used the cache A stored, no new sign-in

    # A card created on B is extended through A; B then draws the extended meeting.
    card = card_of(body)
    end_before = datetime.fromisoformat(made_on_b["endDateTime"])
    extend = invoke("adaptiveCard/action", execute_action(card, "meeting.extend"),
                    service_url=cloud.connector.url, user=user)
    assert (await a.post(extend, token=cloud.channel_token())).status == 200
    end_after = datetime.fromisoformat(cloud.graph.find(made_on_b["id"])["endDateTime"])
    assert end_after - end_before == timedelta(minutes=15)
    refresh = invoke("adaptiveCard/action", execute_action(card, "meeting.refresh"),
                     service_url=cloud.connector.url, user=user)
    async with b.session.post(f"{b.srv.url}/api/messages", json=refresh, headers={
            "Authorization": f"Bearer {cloud.channel_token()}"}) as resp:
        assert resp.status == 200
        refreshed = (await resp.json())["value"]
    shown_end = end_after.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"{shown_end:%-I:%M}\u202f{shown_end:%p}" in card_text(refreshed)  # en-US: 12-hour


async def test_same_activity_on_both_instances_makes_one_meeting_and_one_card(pair, cloud):
    a, b = pair
    user = User()
    await sign_in(a, cloud, user)
    await next_activity(cloud.connector, lambda body: card_of(body) is not None
                        and "planning" in card_text(card_of(body)))
    acts = [message(f"meet now about twin {i}", service_url=cloud.connector.url, user=user)
            for i in range(10)]
    token = cloud.channel_token()
    # Teams redelivering to whichever instance the balancer picks: A and B at the same moment.
    results = await asyncio.gather(*(bot.post(act, token=token) for act in acts for bot in (a, b)))
    assert all(r.status in (200, 201) for r in results)
    for i, act in enumerate(acts):
        mine = [m for m in cloud.graph.meetings_of(user.tenant_id, user.aad_object_id)
                if m["subject"] == f"twin {i}"]
        assert len(mine) == 1
        cards = meeting_cards(cloud, act["id"])
        assert len(cards) == 1, f"twin {i}: {len(cards)} cards"
        assert mine[0]["joinWebUrl"] in card_text(card_of(cards[0]))


async def test_redis_dump_reveals_no_token(pair, cloud, redis_server):
    a, b = pair
    user = User()
    await sign_in(a, cloud, user)
    await next_activity(cloud.connector, lambda body: card_of(body) is not None
                        and "planning" in card_text(card_of(body)))
    act = message("meet now about secrets", service_url=cloud.connector.url, user=user)
    await b.post(act, token=cloud.channel_token())
    await next_activity(cloud.connector, lambda body: card_of(body) is not None
                        and "secrets" in card_text(card_of(body)))

    raw = redis.Redis.from_url(redis_server.url)
    try:
        dump = {key: raw.dump(key) or b"" for key in raw.keys("meetbot:*")}
    finally:
        raw.close()
    names = {k.decode() for k in dump}
    token_keys = [k for k in names if k.startswith(f"meetbot:tokens:{user.tenant_id}:")]
    assert token_keys, f"no token cache stored in Redis: {sorted(names)}"
    everything = b"\n".join(list(dump) + list(dump.values()))
    assert not JWT.search(everything), "a JWT is readable in Redis"
    refresh_tokens = [rt.encode() for rt in cloud.entra._refresh]  # noqa: SLF001 - the secrets issued
    assert refresh_tokens, "Entra issued no refresh token: the check would prove nothing"
    assert not any(rt in everything for rt in refresh_tokens), "a refresh token is readable"
    assert dump[token_keys[0].encode()].find(b"gAAAAA") >= 0  # a Fernet token, not plaintext


def test_delegated_config_refuses_redis_without_encryption_key(cloud, redis_server):
    env = cloud.bot_env(REDIS_URL=redis_server.url)
    with pytest.raises(ConfigError) as raised:
        load_settings(env)
    assert any("STATE_ENCRYPTION_KEY" in p for p in raised.value.problems)

    # And as an operator meets it: the process refuses to start, saying what to set.
    proc = subprocess.run([sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env})
    assert proc.returncode == 2
    assert "STATE_ENCRYPTION_KEY" in proc.stderr and "Fernet.generate_key" in proc.stderr
