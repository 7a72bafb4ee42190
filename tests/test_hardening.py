"""Bounds, data at rest, the consent page and response headers (issue #11), over HTTP against a
real MeetBot: member reads at the connector simulator, raw values in a real redis-server,
the consent pages as a browser fetches them."""
from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import redis
from aiohttp import web
from cryptography.fernet import Fernet

from bot import consent
from bot.hosting import LOCAL_GRAPH
from bot.members import LOOKUP_CONCURRENCY, MAX_INVITEES, PAGE_SIZE
from bot.web import server_header
from tests.helpers import (
    APP_SECRET,
    CHANNEL,
    TEAM,
    TENANT,
    User,
    actions_of,
    ask_to_sign_in,
    card_of,
    card_text,
    crowd,
    execute,
    invoke,
    member,
    mentioning,
    message,
    reply_to,
    serve,
    start_bot,
    stop_bot,
)

# --- how many people one command may invite ---------------------------------------------------


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


async def test_1500_mentions_are_refused_before_any_member_lookup(demo_bot, connector):
    organizer = User(name="Olga")
    people = crowd(1_500)
    connector.add_members(CHANNEL, people)
    act = mentioning(organizer, people, connector.url, conversation_id=CHANNEL)
    resp = await demo_bot.post(act)
    assert resp.status in (200, 201)
    text = card_text(card_of(await reply_to(connector, act["id"])))
    assert "You mentioned 1,500 people" in text and "without invites" in text
    assert not [c for c in connector.calls if c.op == "member"]
    assert demo_bot.app[LOCAL_GRAPH].meetings_of(organizer.tenant_id,
                                                 organizer.aad_object_id) == []


async def test_mentions_are_looked_up_a_few_at_a_time(standalone_bot, connector):
    demo_bot = standalone_bot  # invitees as the meeting's participants (createOrGet)
    organizer = User(name="Olga")
    people = crowd(200)
    connector.add_members(CHANNEL, people)
    connector.read_latency["member"] = 0.02  # each look-up stays open long enough to overlap
    act = mentioning(organizer, people, connector.url, conversation_id=CHANNEL)
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
    act = mentioning(organizer, people, connector.url, conversation_id=CHANNEL)
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
        assert any(key.startswith(b"meetbot:record:") for key in values)
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
        assert [k for k in values if k.startswith(b"meetbot:pending:")]  # the key is a digest
        assert_nothing_readable(values, "nightingale")
    finally:
        await stop_bot(bot)


# --- the consent page ---------------------------------------------------------------------------
@pytest.fixture
async def bot(cloud):
    client = await start_bot(cloud.bot_env())
    yield client
    await stop_bot(client)


async def consent_state(bot, tenant: str = TENANT) -> str:
    async with bot.session.get(f"{bot.srv.url}/auth/start", params={"tenant": tenant},
                               allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Cache-Control"] == "no-store"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        return parse_qs(urlsplit(resp.headers["Location"]).query)["state"][0]


async def auth_end(bot, **query: str) -> tuple[int, str, dict]:
    async with bot.session.get(f"{bot.srv.url}/auth/end", params=query) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


def assert_page_headers(headers: dict) -> None:
    assert headers["X-Frame-Options"] == "DENY"
    csp = [d.strip() for d in headers["Content-Security-Policy"].split(";")]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_consent_round_trip_with_the_state_it_issued(bot):
    state = await consent_state(bot)
    status, page, headers = await auth_end(bot, code="0.AXoA-code", state=state)
    assert status == 200 and "all set" in page
    assert_page_headers(headers)
    status, page, headers = await auth_end(bot, error="access_denied", state=state,
                                           error_description="<img src=x onerror=alert(1)>")
    assert status == 200 and "wasn't granted" in page and "<img" not in page
    assert_page_headers(headers)


async def test_a_state_from_another_instance_with_the_same_secret_is_accepted(cloud, bot):
    other = await start_bot(cloud.bot_env())
    try:
        status, page, _ = await auth_end(other, code="x", state=await consent_state(bot))
        assert status == 200 and "all set" in page
    finally:
        await stop_bot(other)


@pytest.mark.parametrize("state", [
    None, "", "y", "1700000000.organizations.AAAA", "." * 5000,
])
async def test_missing_or_made_up_state_is_refused(bot, state):
    query = {"code": "x"} if state is None else {"code": "x", "state": state}
    status, page, headers = await auth_end(bot, **query)
    assert status == 400 and "couldn't check this sign-in" in page and "all set" not in page
    assert_page_headers(headers)


async def test_an_altered_state_is_refused(bot):
    issued, tenant, mac = (await consent_state(bot)).split(".")
    for forged in (f"{int(issued) + 3600}.{tenant}.{mac}",  # pushed into the future
                   f"{issued}.{uuid.uuid4()}.{mac}",  # another tenant
                   f"{issued}.{tenant}.{mac[:-2]}"):  # a truncated signature
        status, page, _ = await auth_end(bot, code="x", state=forged)
        assert status == 400 and "couldn't check" in page


async def test_a_state_signed_with_another_secret_is_refused(cloud, bot):
    stranger = await start_bot(cloud.bot_env(MicrosoftAppPassword="another-secret"))
    try:
        status, _, _ = await auth_end(bot, code="x", state=await consent_state(stranger))
        assert status == 400
    finally:
        await stop_bot(stranger)


async def test_a_stale_state_is_refused_as_expired(bot):
    # Made the way /auth/start makes one (same derived key), but issued before the window.
    stale = consent.issue_state(consent.state_key(APP_SECRET), TENANT,
                                now=time.time() - consent.STATE_TTL - 5)
    status, page, headers = await auth_end(bot, code="x", state=stale)
    assert status == 400 and "expired" in page and "Sign in again" in page
    assert_page_headers(headers)


async def test_auth_start_ignores_a_tenant_that_is_not_a_tenant_id(bot, cloud):
    async with bot.session.get(f"{bot.srv.url}/auth/start",
                               params={"tenant": "evil.example/x?"},
                               allow_redirects=False) as resp:
        assert resp.headers["Location"].startswith(
            f"{cloud.entra_url}/organizations/oauth2/v2.0/authorize?")


# --- the Server header -------------------------------------------------------------------------
async def test_every_response_says_server_meetbot_without_versions():
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hi")

    app = web.Application(client_max_size=1024)
    app.on_response_prepare.append(server_header)
    app.router.add_post("/api/messages", hello)
    srv = await serve(app)
    try:
        async with aiohttp.ClientSession() as session:
            for method, path, body in (("POST", "/api/messages", b""),
                                       ("GET", "/api/messages", b""),  # 405
                                       ("GET", "/nowhere", b""),  # 404
                                       ("POST", "/api/messages", b"x" * 4096)):  # 413
                async with session.request(method, f"{srv.url}{path}", data=body) as resp:
                    assert resp.headers["Server"] == "MeetBot", (method, path, resp.status)
    finally:
        await srv.server.close()
