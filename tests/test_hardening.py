"""Bounds, data at rest, the consent page and response headers (issue #11), over HTTP against a
real MeetBot: member reads at the connector simulator, raw values in a real redis-server,
the consent pages as a browser fetches them."""
from __future__ import annotations

import redis
from cryptography.fernet import Fernet

from bot.hosting import LOCAL_GRAPH
from bot.members import LOOKUP_CONCURRENCY, MAX_INVITEES, PAGE_SIZE
from tests.conftest import User, invoke, message, start_bot, stop_bot
from tests.test_e2e_cards import CHANNEL, TEAM, actions_of, execute, member
from tests.test_e2e_meet import card_of, card_text, reply_to
from tests.test_e2e_signin import ask_to_sign_in

BOT_MENTION = {"type": "mention", "text": "<at>MeetBot</at>",
               "mentioned": {"id": "28:meetbot", "name": "MeetBot"}}


# --- how many people one command may invite ---------------------------------------------------
def crowd(n: int) -> list[dict]:
    """`n` members as Teams lists them (cheap to build for a 25,000-member team)."""
    return [{"id": f"29:member-{i}", "name": f"M{i}",
             "aadObjectId": f"00000000-0000-4000-8000-{i:012d}"} for i in range(n)]


async def test_with_everyone_in_a_25000_member_team_reads_three_pages_and_says_so(
        demo_bot, connector):
    organizer = User(name="Olga")
    connector.add_members(TEAM, [member(organizer)] + crowd(24_999))
    act = message("meet now with everyone about all hands", service_url=connector.url,
                  user=organizer, kind="channel", conversation_id=CHANNEL)
    act["channelData"]["team"] = {"id": TEAM}
    await demo_bot.post(act)
    text = card_text(card_of(await reply_to(connector, act["id"])))
    # Reading stops on the first page that takes the count past the cap: 3 of 50 pages.
    pages = [c for c in connector.calls if c.op == "paged_members"]
    assert len(pages) == (MAX_INVITEES + 1) // PAGE_SIZE + 1 == 3
    assert f"more than {MAX_INVITEES:,} other members" in text
    assert "without invites" in text
    assert demo_bot.app[LOCAL_GRAPH].meetings_of(organizer.tenant_id,
                                                 organizer.aad_object_id) == []
    assert not [c for c in connector.calls if c.op == "member"]


def mentions_message(organizer: User, people: list[dict], connector) -> dict:
    tags = " ".join(f"<at>{p['name']}</at>" for p in people)
    return message(f"<at>MeetBot</at> meet now about launch with {tags}",
                   service_url=connector.url, user=organizer, kind="channel",
                   conversation_id=CHANNEL,
                   mentions=[BOT_MENTION] + [
                       {"type": "mention", "text": f"<at>{p['name']}</at>",
                        "mentioned": {"id": p["id"], "name": p["name"]}} for p in people])


async def test_1500_mentions_are_refused_before_any_member_lookup(demo_bot, connector):
    organizer = User(name="Olga")
    people = crowd(1_500)
    connector.add_members(CHANNEL, people)
    act = mentions_message(organizer, people, connector)
    resp = await demo_bot.post(act)
    assert resp.status in (200, 201)
    text = card_text(card_of(await reply_to(connector, act["id"])))
    assert "You mentioned 1,500 people" in text and "without invites" in text
    assert not [c for c in connector.calls if c.op == "member"]
    assert demo_bot.app[LOCAL_GRAPH].meetings_of(organizer.tenant_id,
                                                 organizer.aad_object_id) == []


async def test_mentions_are_looked_up_a_few_at_a_time(demo_bot, connector):
    organizer = User(name="Olga")
    people = crowd(200)
    connector.add_members(CHANNEL, people)
    connector.read_latency["member"] = 0.02  # each look-up stays open long enough to overlap
    act = mentions_message(organizer, people, connector)
    await demo_bot.post(act)
    assert card_of(await reply_to(connector, act["id"])) is not None
    m = demo_bot.app[LOCAL_GRAPH].meetings_of(organizer.tenant_id, organizer.aad_object_id)[0]
    assert {a["identity"]["user"]["id"] for a in m["participants"]["attendees"]} == {
        p["aadObjectId"] for p in people}
    assert len([c for c in connector.calls if c.op == "member"]) == 200
    assert 2 <= connector.max_in_flight["member"] <= LOOKUP_CONCURRENCY


async def test_one_failed_lookup_among_many_gives_one_clear_card(demo_bot, connector):
    organizer = User(name="Olga")
    people = crowd(40)
    connector.add_members(CHANNEL, people[:-1])  # the last one is not in the channel: 404
    act = mentions_message(organizer, people, connector)
    await demo_bot.post(act)
    assert "couldn't see who to invite" in card_text(card_of(await reply_to(connector, act["id"])))
    assert demo_bot.app[LOCAL_GRAPH].meetings_of(organizer.tenant_id,
                                                 organizer.aad_object_id) == []


# --- what MeetBot keeps in Redis ---------------------------------------------------------------
def raw_values(url: str) -> dict[bytes, bytes]:
    """Every string value in the Redis database, as stored."""
    with redis.Redis.from_url(url) as raw:
        return {key: raw.get(key) for key in raw.scan_iter(count=1000)
                if raw.type(key) == b"string"}


def assert_nothing_readable(values: dict[bytes, bytes], *secrets: str) -> None:
    for key, value in values.items():
        for secret in secrets:
            assert secret.encode() not in value, f"{secret!r} readable under {key!r}"


async def test_meeting_details_are_sealed_in_redis(connector, redis_server):
    bot = await start_bot({"REDIS_URL": redis_server.url,
                           "STATE_ENCRYPTION_KEY": Fernet.generate_key().decode()})
    try:
        organizer = User(name="Ana")
        act = message("meet now 30m about project nightingale", service_url=connector.url,
                      user=organizer, kind="groupChat")
        await bot.post(act)
        card = card_of(await reply_to(connector, act["id"]))
        # The organizer's view, then Extend: MeetBot now keeps the meeting's state.
        view = await bot.post(invoke("adaptiveCard/action",
                                     {"action": card["refresh"]["action"],
                                      "trigger": "automatic"},
                                     service_url=connector.url, user=organizer,
                                     kind="groupChat"))
        extend = actions_of(view.body_json["value"])["Extend 15 min"]
        assert (await bot.post(invoke("adaptiveCard/action", execute(extend),
                                      service_url=connector.url, user=organizer,
                                      kind="groupChat"))).status == 200
        m = bot.app[LOCAL_GRAPH].meetings_of(organizer.tenant_id, organizer.aad_object_id)[0]
        values = raw_values(redis_server.url)
        assert any(key.startswith(b"meetbot:meeting:") for key in values)
        ids = m["joinMeetingIdSettings"]
        assert_nothing_readable(values, m["joinWebUrl"], "meetup-join", "nightingale",
                                ids["joinMeetingId"], *filter(None, [ids["passcode"]]))
    finally:
        await stop_bot(bot)


async def test_a_command_waiting_for_sign_in_is_sealed_in_redis(cloud, redis_server):
    bot = await start_bot(cloud.bot_env(REDIS_URL=redis_server.url,
                                        STATE_ENCRYPTION_KEY=Fernet.generate_key().decode()))
    try:
        user = User()
        await ask_to_sign_in(bot, cloud, user, "meet now about project nightingale")
        values = raw_values(redis_server.url)
        assert f"meetbot:pending:{user.tenant_id}:{user.aad_object_id}".encode() in values
        assert_nothing_readable(values, "nightingale")
    finally:
        await stop_bot(bot)
