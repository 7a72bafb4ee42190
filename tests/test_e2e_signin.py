"""Sign-in and request authentication, end to end against the local Entra ID, Graph and Bot
Connector: every token is a real JWT, MSAL talks to Entra over TLS, botbuilder validates the
channel's tokens against the simulator's OpenID metadata."""
from __future__ import annotations

import asyncio
import logging
import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.hosting import BOT
from localcloud.issuer import LocalIssuer
from tests.helpers import (
    APP_ID,
    TENANT,
    User,
    ask_to_sign_in,
    card_of,
    card_text,
    invoke,
    message,
    next_activity,
    oauth_card,
    sign_in,
    start_bot,
    stop_bot,
)

OAUTH = "application/vnd.microsoft.card.oauth"


@pytest.fixture
async def bot(cloud):
    client = await start_bot(cloud.bot_env())
    yield client
    await stop_bot(client)


async def test_first_command_signs_in_silently_and_finishes(bot, cloud, caplog):
    caplog.set_level(logging.DEBUG)
    user = User()
    resp, act = await sign_in(bot, cloud, user)
    assert resp.status == 200
    body = await next_activity(cloud.connector, lambda b: card_of(b) is not None
                               and "planning" in card_text(card_of(b)))
    meetings = cloud.graph.meetings_of(user.tenant_id, user.aad_object_id)
    assert len(meetings) == 1
    assert meetings[0]["participants"]["organizer"]["identity"]["user"]["id"] == user.aad_object_id
    assert meetings[0]["joinWebUrl"] in card_text(card_of(body))
    assert cloud.entra.calls["on_behalf_of"] == 1

    # Second command: MSAL's cache, no new exchange, no sign-in card.
    act2 = message("meet now about retro", service_url=cloud.connector.url, user=user)
    assert (await bot.post(act2, token=cloud.channel_token())).status in (200, 201)
    await next_activity(cloud.connector, lambda b: card_of(b) is not None
                        and "retro" in card_text(card_of(b)))
    assert cloud.entra.calls["on_behalf_of"] == 1
    assert len(cloud.graph.meetings_of(user.tenant_id, user.aad_object_id)) == 2

    # No token, secret or SSO assertion in the logs, even at DEBUG level.
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.[\w-]*", logged), "a JWT was logged"
    assert "local-test-secret" not in logged


async def test_consent_required_answers_412_and_explains(bot, cloud):
    user = User()
    cloud.entra.require_consent(user.aad_object_id)
    resp, _ = await sign_in(bot, cloud, user)
    assert resp.status == 412
    body = await next_activity(cloud.connector, lambda b: card_of(b) is not None)
    text = card_text(card_of(body))
    assert "permission" in text.lower()
    assert "adminconsent" in text
    assert cloud.graph.meetings_of(user.tenant_id, user.aad_object_id) == []


async def test_expired_sso_token_is_refused_with_412(bot, cloud):
    user = User()
    card, _, sso = await ask_to_sign_in(bot, cloud, user, expired=True)
    resource = card["tokenExchangeResource"]
    resp = await bot.post(invoke("signin/tokenExchange", {"id": resource["id"], "token": sso},
                                 service_url=cloud.connector.url, user=user),
                          token=cloud.channel_token())
    assert resp.status == 412
    assert cloud.graph.meetings_of(user.tenant_id, user.aad_object_id) == []


async def test_duplicate_token_exchange_invokes_exchange_once(bot, cloud):
    user = User()
    card, _, sso = await ask_to_sign_in(bot, cloud, user, "meet now about dup")
    resource = card["tokenExchangeResource"]
    inv = invoke("signin/tokenExchange", {"id": resource["id"], "token": sso},
                 service_url=cloud.connector.url, user=user)
    results = await asyncio.gather(*(bot.post(inv, token=cloud.channel_token())
                                     for _ in range(3)))
    assert all(r.status == 200 for r in results)
    await bot.app[BOT].drain(10)  # the resumed command, if any, has finished
    assert cloud.entra.calls["on_behalf_of"] == 1
    assert len(cloud.graph.meetings_of(user.tenant_id, user.aad_object_id)) == 1


async def test_sign_out_forgets_tokens(bot, cloud):
    user = User()
    await sign_in(bot, cloud, user)
    await next_activity(cloud.connector, lambda b: card_of(b) is not None
                        and "planning" in card_text(card_of(b)))
    out = message("sign out", service_url=cloud.connector.url, user=user)
    await bot.post(out, token=cloud.channel_token())
    await next_activity(cloud.connector, lambda b: "signed out" in (b.get("text") or ""))
    again = message("meet now", service_url=cloud.connector.url, user=user)
    await bot.post(again, token=cloud.channel_token())
    await next_activity(cloud.connector, lambda b: oauth_card(b) is not None
                        and b.get("replyToId") == again["id"])


async def test_two_users_concurrently_get_their_own_meetings(bot, cloud):
    users = [User(name="Ana"), User(name="Ben")]
    for u in users:
        await sign_in(bot, cloud, u)
    acts = [message(f"meet now about {u.name} topic", service_url=cloud.connector.url, user=u)
            for u in users for _ in range(5)]
    results = await asyncio.gather(*(bot.post(a, token=cloud.channel_token()) for a in acts))
    assert all(r.status in (200, 201) for r in results)
    for u in users:
        await next_activity(cloud.connector, lambda b, u=u: card_of(b) is not None and
                            f"{u.name} topic" in card_text(card_of(b)))
    await bot.app[BOT].drain(10)
    for u in users:
        mine = cloud.graph.meetings_of(u.tenant_id, u.aad_object_id)
        assert len(mine) == 6  # the sign-in command + 5
        for m in mine:
            assert m["participants"]["organizer"]["identity"]["user"]["id"] == u.aad_object_id
            assert m["subject"] == "planning" or m["subject"].startswith(u.name)


async def test_personal_account_gets_clear_answer(bot, cloud):
    user = User(tenant_id="9188040d-6c67-4c5b-b112-36a304b66dad")
    act = message("meet now", service_url=cloud.connector.url, user=user)
    await bot.post(act, token=cloud.channel_token())
    body = await next_activity(cloud.connector, lambda b: card_of(b) is not None)
    assert "Personal accounts" in card_text(card_of(body))


# --- who may talk to the bot --------------------------------------------------------------
def _forged(cloud, **claims) -> str:
    base = {"aud": APP_ID, "serviceurl": cloud.connector.url}
    base.update(claims)
    return cloud.issuer.issue(base, issuer="https://api.botframework.com")


@pytest.mark.parametrize("make_token", [
    pytest.param(lambda cloud: None, id="missing"),
    pytest.param(lambda cloud: "not-a-jwt", id="garbage"),
    pytest.param(lambda cloud: cloud.issuer.issue(
        {"aud": APP_ID, "serviceurl": cloud.connector.url}, issuer="https://api.botframework.com",
        lifetime=-7200), id="expired"),
    pytest.param(lambda cloud: cloud.issuer.issue(
        {"aud": APP_ID, "serviceurl": cloud.connector.url}, issuer="https://api.botframework.com",
        signing_key=LocalIssuer(key_bits=2048)._keys[LocalIssuer().current_kid]
        if False else LocalIssuer()._keys.popitem()[1]), id="wrongly-signed"),
    pytest.param(lambda cloud: _forged(cloud, aud=str(uuid.uuid4())), id="wrong-audience"),
    pytest.param(lambda cloud: cloud.issuer.issue(
        {"aud": APP_ID, "serviceurl": cloud.connector.url}, issuer="https://evil.example"),
        id="wrong-issuer"),
    pytest.param(lambda cloud: _forged(cloud, serviceurl="https://evil.example/"),
                 id="wrong-serviceurl"),
])
async def test_bad_channel_tokens_get_401_and_create_nothing(bot, cloud, make_token):
    user = User()
    act = message("meet now", service_url=cloud.connector.url, user=user)
    resp = await bot.post(act, token=make_token(cloud))
    assert resp.status == 401  # refused before anything ran: nothing to wait for
    assert cloud.connector.activities() == []
    assert cloud.graph.meetings_of(user.tenant_id, user.aad_object_id) == []


async def test_valid_channel_token_passes(bot, cloud):
    act = message("help", service_url=cloud.connector.url)
    assert (await bot.post(act, token=cloud.channel_token())).status in (200, 201)
    await next_activity(cloud.connector, lambda b: card_of(b) is not None)
    assert cloud.connector.unauthorized == 0


async def test_tenant_allow_list_refuses_other_tenants(cloud):
    bot = await start_bot(cloud.bot_env(ALLOWED_TENANTS=TENANT))
    try:
        outsider = User(tenant_id=str(uuid.uuid4()))
        act = message("meet now", service_url=cloud.connector.url, user=outsider)
        assert (await bot.post(act, token=cloud.channel_token())).status in (200, 201)
        body = await next_activity(cloud.connector, lambda b: card_of(b) is not None)
        assert "organisation" in card_text(card_of(body))
        assert cloud.graph.count() == 0
        assert cloud.entra.calls["on_behalf_of"] == 0
    finally:
        await stop_bot(bot)


# --- app-only mode ----------------------------------------------------------------------
async def test_app_only_creates_meeting_for_the_asking_user(cloud):
    bot = await start_bot(cloud.bot_env(GRAPH_AUTH_MODE="app"))
    try:
        user = User()
        cloud.graph.grant_policy(user.tenant_id, APP_ID)
        act = message("meet now about app only", service_url=cloud.connector.url, user=user)
        await bot.post(act, token=cloud.channel_token())
        body = await next_activity(cloud.connector, lambda b: card_of(b) is not None)
        meetings = cloud.graph.meetings_of(user.tenant_id, user.aad_object_id)
        assert len(meetings) == 1
        assert meetings[0]["joinWebUrl"] in card_text(card_of(body))
        assert cloud.entra.calls["client_credentials"] >= 1
        assert cloud.entra.calls["on_behalf_of"] == 0
    finally:
        await stop_bot(bot)


async def test_app_only_without_access_policy_tells_the_admin_step(cloud, caplog):
    bot = await start_bot(cloud.bot_env(GRAPH_AUTH_MODE="app"))
    try:
        user = User()
        act = message("meet now", service_url=cloud.connector.url, user=user)
        await bot.post(act, token=cloud.channel_token())
        body = await next_activity(cloud.connector, lambda b: card_of(b) is not None)
        text = card_text(card_of(body))
        assert "Grant-CsApplicationAccessPolicy" in text
        assert cloud.graph.meetings_of(user.tenant_id, user.aad_object_id) == []
        assert any("application access policy" in r.getMessage().lower() for r in caplog.records)
    finally:
        await stop_bot(bot)


async def test_sign_in_button_leads_to_the_consent_page(bot, cloud):
    user = User()
    act = message("meet now", service_url=cloud.connector.url, user=user)
    await bot.post(act, token=cloud.channel_token())
    body = await next_activity(cloud.connector, lambda b: oauth_card(b) is not None)
    button = oauth_card(body)["buttons"][0]
    assert button["type"] == "signin"
    url = button["value"]
    assert url.startswith("https://meetbot.contoso.test/auth/start")
    path = url.split("meetbot.contoso.test", 1)[1]
    async with bot.session.get(f"{bot.srv.url}{path}", allow_redirects=False) as resp:
        assert resp.status == 302
        location = resp.headers["Location"]
    assert location.startswith(f"{cloud.entra_url}/{user.tenant_id}/oauth2/v2.0/authorize?")
    assert f"client_id={APP_ID}" in location and "prompt=consent" in location
    state = parse_qs(urlsplit(location).query)["state"][0]  # Entra ID sends it back unchanged
    async with bot.session.get(f"{bot.srv.url}/auth/end",
                               params={"code": "x", "state": state}) as resp:
        assert "all set" in await resp.text()
    async with bot.session.get(f"{bot.srv.url}/auth/end",
                               params={"error": "access_denied", "state": state,
                                       "error_description": "<script>x</script>"}) as resp:
        page = await resp.text()
        assert "<script>" not in page and "admin" in page


async def test_only_the_metadata_url_set_still_validates_channel_tokens(cloud):
    """Sovereign or private clouds often set just one endpoint; the others take the cloud's
    defaults (botbuilder alone would leave them empty and refuse every request)."""
    env = cloud.bot_env()
    for key in ("TO_BOT_FROM_CHANNEL_TOKEN_ISSUER", "TO_CHANNEL_FROM_BOT_OAUTH_SCOPE"):
        env.pop(key)
    bot = await start_bot(env)
    try:
        act = message("help", service_url=cloud.connector.url)
        assert (await bot.post(act, token=cloud.channel_token())).status in (200, 201)
        await next_activity(cloud.connector, lambda b: card_of(b) is not None)
    finally:
        await stop_bot(bot)


async def test_a_remembered_token_is_still_checked_against_each_activity(bot, cloud):
    """The Connector reuses one token for many activities; remembering a successful check must
    not let the same token through for another serviceUrl (the token names its serviceUrl)."""
    token = cloud.channel_token()
    first = message("help", service_url=cloud.connector.url)
    assert (await bot.post(first, token=token)).status in (200, 201)
    assert (await bot.post(message("help", service_url=cloud.connector.url),
                           token=token)).status in (200, 201)
    elsewhere = message("help", service_url="https://evil.example/")
    assert (await bot.post(elsewhere, token=token)).status == 401
