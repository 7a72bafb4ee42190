"""The Bot Connector simulator, driven by botbuilder's real ConnectorClient / TeamsConnectorClient
and by raw aiohttp, with bot tokens from the Entra simulator (over TLS, in its own thread)."""
from __future__ import annotations

import asyncio
import uuid
from urllib.parse import quote

import aiohttp
import msal
import pytest
from aiohttp import web
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount, ConversationParameters
from botbuilder.schema.teams import TeamsChannelAccount
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import MicrosoftAppCredentials
from botframework.connector.teams import TeamsConnectorClient

from localcloud.connector_sim import CONNECTOR_SIM, create_connector_app
from localcloud.entra_sim import ENTRA_SIM, create_entra_app
from localcloud.tls import LocalTLS
from tests.helpers import ThreadedServer

BOT_ID = str(uuid.uuid4())
BOT_SECRET = "bot-secret"
OTHER_APP, OTHER_SECRET = str(uuid.uuid4()), "other-secret"
TENANT = str(uuid.uuid4())
CHANNEL_THREAD = "19:abc123@thread.tacv2;messageid=1700000000000"  # Teams channel reply chain


@pytest.fixture
def entra(tls, issuer):
    app = create_entra_app(issuer, clients={BOT_ID: BOT_SECRET, OTHER_APP: OTHER_SECRET})
    with ThreadedServer(app, tls.server_ssl_context()) as server:
        yield server.url, app[ENTRA_SIM]


async def serve(app: web.Application):
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def anonymous():
    app = create_connector_app()
    runner, url = await serve(app)
    yield url, app[CONNECTOR_SIM]
    await runner.cleanup()


@pytest.fixture
async def authed(issuer):
    app = create_connector_app(issuer, bot_app_id=BOT_ID)
    runner, url = await serve(app)
    yield url, app[CONNECTOR_SIM]
    await runner.cleanup()


def credentials(tls: LocalTLS, entra_url: str, app_id: str = BOT_ID,
                secret: str = BOT_SECRET) -> MicrosoftAppCredentials:
    """botbuilder's own credentials class. Its MSAL client would run instance discovery against
    login.microsoftonline.com for an unknown host and cannot be given a CA, so we hand it the
    client it would build, pointed at the simulator (it reuses `creds.app` when set)."""
    creds = MicrosoftAppCredentials(app_id, secret)
    creds.app = msal.ConfidentialClientApplication(
        app_id, client_credential=secret, authority=f"{entra_url}/botframework.com",
        http_client=tls.requests_session(), instance_discovery=False)
    return creds


def reply_to(conversation_id: str, text: str) -> Activity:
    return Activity(type="message", text=text, conversation=ConversationAccount(id=conversation_id),
                    from_property=ChannelAccount(id=f"28:{BOT_ID}"),
                    recipient=ChannelAccount(id="29:user"), reply_to_id="1700000000000")


def roster(count: int) -> list[dict]:
    return [{"id": f"29:member-{i}", "name": f"Member {i}", "aadObjectId": str(uuid.uuid4()),
             "email": f"m{i}@contoso.example", "userPrincipalName": f"m{i}@contoso.example",
             "givenName": "Member", "surname": str(i), "tenantId": TENANT, "userRole": "user"}
            for i in range(count)]


async def test_botbuilder_reply_with_bot_token_is_recorded(tls, entra, authed):
    entra_url, entra_sim = entra
    url, sim = authed
    client = ConnectorClient(credentials(tls, entra_url), base_url=url)

    first = await client.conversations.reply_to_activity(
        CHANNEL_THREAD, "1700000000000", reply_to(CHANNEL_THREAD, "first"))
    await client.conversations.send_to_conversation(CHANNEL_THREAD, reply_to(CHANNEL_THREAD, "2nd"))

    call = await sim.wait_for(lambda c: c.op == "reply")
    assert call.conversation_id == CHANNEL_THREAD  # percent-encoded by msrest, decoded here
    assert call.activity_id == "1700000000000"
    assert call.body["text"] == "first" and first.id
    assert [a["text"] for a in sim.activities(CHANNEL_THREAD)] == ["first", "2nd"]
    assert sim.unauthorized == 0
    assert entra_sim.calls["client_credentials"] == 1  # the second call used MSAL's cache


async def test_update_and_delete_through_botbuilder(tls, entra, authed):
    url, sim = authed
    client = ConnectorClient(credentials(tls, entra[0]), base_url=url)
    sent = await client.conversations.send_to_conversation("a:1xyz", reply_to("a:1xyz", "v1"))

    updated = reply_to("a:1xyz", "v2")
    updated.id = sent.id
    await client.conversations.update_activity("a:1xyz", sent.id, updated)
    await client.conversations.delete_activity("a:1xyz", sent.id)

    assert [c.op for c in sim.calls] == ["send", "update", "delete"]
    assert sim.calls[1].body["text"] == "v2"
    assert sim.conversation("a:1xyz").activities == {}


async def test_teams_paged_members_as_teamsinfo_reads_them(tls, entra, authed):
    url, sim = authed
    members = roster(250)
    sim.add_members(CHANNEL_THREAD, members)
    client = ConnectorClient(credentials(tls, entra[0]), base_url=url)

    seen, token, pages = [], None, 0
    while True:
        page = await client.conversations.get_teams_conversation_paged_members(
            CHANNEL_THREAD, page_size=100, continuation_token=token)
        pages += 1
        seen.extend(page.members)
        token = page.continuation_token
        if not token:
            break

    assert pages == 3
    assert [m.aad_object_id for m in seen] == [m["aadObjectId"] for m in members]
    assert isinstance(seen[0], TeamsChannelAccount)
    assert (seen[7].user_principal_name, seen[7].tenant_id, seen[7].user_role) == (
        "m7@contoso.example", TENANT, "user")
    everyone = await client.conversations.get_conversation_members(CHANNEL_THREAD)
    assert len(everyone) == 250
    one = await client.conversations.get_conversation_member(CHANNEL_THREAD, "29:member-42")
    assert TeamsChannelAccount().deserialize(one.serialize()).aad_object_id == \
        members[42]["aadObjectId"]


async def test_create_personal_conversation_is_stable_per_user(tls, entra, authed):
    url, sim = authed
    client = ConnectorClient(credentials(tls, entra[0]), base_url=url)
    params = ConversationParameters(
        is_group=False, bot=ChannelAccount(id=f"28:{BOT_ID}"),
        members=[ChannelAccount(id="29:ada")], tenant_id=TENANT,
        activity=Activity(type="message", text="Your meeting is ready"))

    first = await client.conversations.create_conversation(params)
    second = await client.conversations.create_conversation(params)

    assert first.id.startswith("a:") and first.id == second.id
    assert first.activity_id and first.service_url == f"{url}/"
    assert sim.activities(first.id)[0]["text"] == "Your meeting is ready"


async def test_team_details_and_channels(tls, entra, authed):
    url, sim = authed
    sim.add_team("19:team@thread.tacv2", name="Budget", aad_group_id=str(uuid.uuid4()),
                 channels=[{"id": "19:team@thread.tacv2", "name": "General"},
                           {"id": "19:ops@thread.tacv2", "name": "Ops"}])
    client = TeamsConnectorClient(credentials(tls, entra[0]), base_url=url)

    details = await asyncio.to_thread(client.teams.get_team_details, "19:team@thread.tacv2")
    channels = await asyncio.to_thread(client.teams.get_teams_channels, "19:team@thread.tacv2")

    assert (details.name, details.channel_count) == ("Budget", 2)
    assert [c.name for c in channels.conversations] == ["General", "Ops"]


@pytest.mark.parametrize("who", ["nobody", "other_app", "wrong_audience", "garbage"])
async def test_auth_mode_refuses_anything_but_the_bots_token(tls, entra, authed, issuer, who):
    entra_url, _ = entra
    url, sim = authed
    headers = {}
    if who == "other_app":
        other = credentials(tls, entra_url, OTHER_APP, OTHER_SECRET)
        headers["Authorization"] = f"Bearer {other.get_access_token()}"
    elif who == "wrong_audience":
        token = issuer.issue({"aud": "https://graph.microsoft.com", "appid": BOT_ID})
        headers["Authorization"] = f"Bearer {token}"
    elif who == "garbage":
        headers["Authorization"] = "Bearer x.y.z"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/v3/conversations/a%3A1/activities", headers=headers,
                             json={"type": "message", "text": "hi"}) as resp:
            assert resp.status == 401
            assert "denied" in (await resp.json())["message"]
    assert sim.calls == [] and sim.unauthorized == 1


async def test_anonymous_mode_accepts_unauthenticated_calls(anonymous):
    url, sim = anonymous
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/v3/conversations/{quote(CHANNEL_THREAD, safe='')}/activities",
                             json={"type": "message", "text": "hello"}) as resp:
            assert resp.status == 201
            assert (await resp.json())["id"]
    assert sim.activities(CHANNEL_THREAD)[0]["text"] == "hello"


async def test_malformed_activity_is_a_400_error_response(anonymous):
    url, sim = anonymous
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/v3/conversations/a%3A1/activities", json={"text": "x"}) as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "BadArgument"
        async with http.get(f"{url}/v3/conversations/a%3A1/pagedmembers",
                            params={"continuationToken": "bogus"}) as r:
            assert r.status == 400
    assert sim.calls == []


async def test_connections_versus_requests_shows_keep_alive(anonymous):
    url, sim = anonymous
    body = {"type": "message", "text": "x"}
    async with aiohttp.ClientSession() as http:  # one pooled, kept-alive connection
        for _ in range(3):
            async with http.post(f"{url}/v3/conversations/a%3A1/activities", json=body) as r:
                await r.read()
    for _ in range(2):  # a fresh session per call, like a client without pooling
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/v3/conversations/a%3A1/activities", json=body) as r:
                await r.read()
    assert (sim.requests, sim.connections) == (5, 3)


async def test_wait_for_wakes_on_a_later_reply(anonymous):
    url, sim = anonymous

    async def later() -> None:
        await asyncio.sleep(0)
        async with aiohttp.ClientSession() as http:
            await http.post(f"{url}/v3/conversations/a%3A1/activities/9",
                            json={"type": "message", "text": "late"})

    task = asyncio.create_task(later())
    call = await sim.wait_for(lambda c: c.op == "reply" and c.body["text"] == "late", timeout=5)
    await task
    assert call.activity_id == "9"
    with pytest.raises(TimeoutError):
        await sim.wait_for(lambda c: c.op == "delete", timeout=0.05)

