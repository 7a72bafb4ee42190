"""The token broker against the Entra ID simulator over TLS, with the real MSAL: a stalled token
endpoint never freezes the bot, and an SSO token is bound to the activity's user, tenant and
this bot before any on-behalf-of call. Then the same two through a running MeetBot."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from bot.credentials import BotCredential, CredentialKind
from bot.errors import SsoTokenMismatch, TokenServiceUnavailable, describe
from bot.state import MemoryStore
from bot.tokens import MsalBroker, UserKey
from localcloud.entra_sim import ENTRA_SIM, create_entra_app
from tests.helpers import (
    APP_ID,
    BOT_ID,
    BOT_SECRET,
    TENANT,
    ThreadedServer,
    User,
    ask_to_sign_in,
    card_of,
    card_text,
    invoke,
    message,
    next_activity,
    sign_in,
    start_bot,
    stop_bot,
)

GRAPH = "https://graph.microsoft.com"
TIMEOUT = 1.5


@pytest.fixture
def entra(tls, issuer):
    app = create_entra_app(issuer, clients={BOT_ID: BOT_SECRET})
    with ThreadedServer(app, tls.server_ssl_context()) as server:
        yield server.url, app[ENTRA_SIM]


def broker(tls, url: str, **options) -> MsalBroker:
    return MsalBroker(app_id=BOT_ID, credential=BotCredential(CredentialKind.SECRET, secret=BOT_SECRET),
                      authority_host=url, app_tenant=TENANT,
                      graph_resource=GRAPH, store=MemoryStore(), app_only=False,
                      channel_login_url=f"{url}/botframework.com",
                      channel_scope="https://api.botframework.com/.default",
                      ca_file=tls.ca_path, **{"timeout": TIMEOUT, **options})


def someone(sim) -> tuple[UserKey, str]:
    oid = str(uuid.uuid4())
    return UserKey(TENANT, oid), sim.user_sso_token(oid, TENANT, app_id=BOT_ID)


# --- a stalled Entra ID ------------------------------------------------------------------------
async def test_a_stalled_exchange_ends_in_time_and_the_broker_recovers(tls, entra):
    url, sim = entra
    tokens = broker(tls, url)
    assert tokens.healthy()
    sim.stall(5, grant="on_behalf_of")  # longer than the timeout, once
    user, sso = someone(sim)

    started = time.monotonic()
    with pytest.raises(TokenServiceUnavailable) as raised:
        await tokens.exchange(user, sso)
    assert time.monotonic() - started < TIMEOUT + 0.5
    assert describe(raised.value).title == "Microsoft sign-in is slow right now"
    assert not tokens.healthy()
    await asyncio.sleep(TIMEOUT + 0.1)
    assert tokens.healthy()  # by itself, without another call

    started = time.monotonic()  # Entra ID answers again: everyone else is served
    other, other_sso = someone(sim)
    assert await tokens.bot_token()
    await tokens.exchange(other, other_sso)
    assert await tokens.graph_token(other)
    assert time.monotonic() - started < 15
    assert tokens.healthy()


async def test_a_stalled_sign_in_cannot_starve_the_bots_own_token(tls, entra):
    url, sim = entra
    tokens = broker(tls, url, workers=1)
    sim.stall(5, times=2, grant="on_behalf_of")
    first, second = someone(sim), someone(sim)
    same_again = (first[0], sim.user_sso_token(first[0].aad_object_id, TENANT, app_id=BOT_ID))

    stuck = asyncio.create_task(tokens.exchange(*first))
    await asyncio.sleep(0.3)  # its thread is now blocked on Entra ID
    queued = asyncio.create_task(tokens.exchange(*second))  # waits for the one Graph worker
    locked = asyncio.create_task(tokens.exchange(*same_again))  # waits for first's lock

    started = time.monotonic()
    assert await tokens.bot_token()  # its own pool: not behind the stalled sign-in
    assert time.monotonic() - started < 1.0

    results = await asyncio.gather(stuck, queued, locked, return_exceptions=True)
    assert all(isinstance(r, TokenServiceUnavailable) for r in results), results
    assert time.monotonic() - started < TIMEOUT + 0.5  # each within its own bound
    assert not tokens.healthy()


async def test_a_stalled_bot_token_ends_in_time(tls, entra):
    url, sim = entra
    tokens = broker(tls, url)
    sim.stall(5, grant="client_credentials")
    started = time.monotonic()
    with pytest.raises(TokenServiceUnavailable):
        await tokens.bot_token()
    assert time.monotonic() - started < TIMEOUT + 0.5
    assert await tokens.bot_token()  # the next request is answered


# --- SSO token binding -------------------------------------------------------------------------
@pytest.mark.parametrize("forge", [
    pytest.param(lambda sim, u: sim.user_sso_token(str(uuid.uuid4()), TENANT, app_id=BOT_ID),
                 id="another-user"),
    pytest.param(lambda sim, u: sim.user_sso_token(u.aad_object_id, str(uuid.uuid4()),
                                                   app_id=BOT_ID), id="another-tenant"),
    pytest.param(lambda sim, u: sim.user_sso_token(u.aad_object_id, TENANT, app_id=BOT_ID,
                                                   audience=GRAPH), id="graph-audience"),
    pytest.param(lambda sim, u: sim.user_sso_token(u.aad_object_id, TENANT,
                                                   app_id=str(uuid.uuid4())), id="another-app"),
    pytest.param(lambda sim, u: "not-a-jwt", id="garbage"),
])
async def test_an_sso_token_for_someone_else_never_reaches_entra(tls, entra, forge):
    url, sim = entra
    tokens = broker(tls, url)
    user = UserKey(TENANT, str(uuid.uuid4()))
    with pytest.raises(SsoTokenMismatch) as raised:
        await tokens.exchange(user, forge(sim, user))
    assert sim.requests == 0
    assert describe(raised.value).title == "I couldn't use that sign-in"


@pytest.mark.parametrize("audience", [f"api://botid-{BOT_ID}", BOT_ID])
async def test_an_sso_token_for_this_user_and_bot_is_exchanged(tls, entra, audience):
    url, sim = entra
    tokens = broker(tls, url)
    oid = str(uuid.uuid4())
    user = UserKey(TENANT.upper(), oid.upper())  # GUIDs compare case-insensitively
    await tokens.exchange(user, sim.user_sso_token(oid, TENANT, app_id=BOT_ID,
                                                   audience=audience))
    assert sim.calls["on_behalf_of"] == 1


# --- through a running MeetBot (delegated mode) -------------------------------------------------
@pytest.fixture
async def bot(cloud):
    client = await start_bot(cloud.bot_env())
    yield client
    await stop_bot(client)


async def test_another_users_sso_token_is_refused_without_on_behalf_of(bot, cloud):
    user, victim = User(), User(name="Ben")
    card, _, _ = await ask_to_sign_in(bot, cloud, user)
    stolen = cloud.entra.user_sso_token(victim.aad_object_id, victim.tenant_id, app_id=APP_ID)
    exchange = invoke("signin/tokenExchange",
                      {"id": card["tokenExchangeResource"]["id"], "token": stolen},
                      service_url=cloud.connector.url, user=user)

    resp = await bot.post(exchange, token=cloud.channel_token())

    assert resp.status == 412
    body = await next_activity(cloud.connector, lambda b: card_of(b) is not None)
    assert "couldn't use that sign-in" in card_text(card_of(body))
    assert cloud.entra.calls["on_behalf_of"] == 0
    assert cloud.graph.count() == 0


async def poll_readiness(bot, seen: list[int]) -> None:
    """/readyz every 0.2 s, as a load balancer would, until cancelled."""
    while True:
        async with bot.session.get(f"{bot.srv.url}/readyz") as resp:
            seen.append(resp.status)
        await asyncio.sleep(0.2)


async def test_a_stalled_sign_in_answers_and_others_are_still_served(bot, cloud):
    """The default timeout (5 s) against a 7 s stall of the token endpoint, once: the stalled
    turn gets a clear card; a signed-in user's `meet` and another user's `help` are answered
    within 15 s; /readyz says 503 while the broker is stuck and 200 again by itself."""
    signed_in = User(name="Ben")
    await sign_in(bot, cloud, signed_in)
    await next_activity(cloud.connector, lambda b: card_of(b) is not None
                        and "planning" in card_text(card_of(b)))
    user = User()
    card, _, sso = await ask_to_sign_in(bot, cloud, user)
    cloud.entra.stall(7, grant="on_behalf_of")
    exchange = invoke("signin/tokenExchange",
                      {"id": card["tokenExchangeResource"]["id"], "token": sso},
                      service_url=cloud.connector.url, user=user)
    started = time.monotonic()
    readiness: list[int] = []
    poller = asyncio.create_task(poll_readiness(bot, readiness))
    stalled = asyncio.create_task(bot.post(exchange, token=cloud.channel_token()))
    await asyncio.sleep(0.5)

    helper = message("help", service_url=cloud.connector.url, user=User(name="Cy"))
    meet = message("meet now about during the stall", service_url=cloud.connector.url,
                   user=signed_in)
    for act in (helper, meet):
        assert (await bot.post(act, token=cloud.channel_token())).status in (200, 201)
    await next_activity(cloud.connector, lambda b: b.get("replyToId") == helper["id"]
                        and card_of(b) is not None, timeout=3)
    made = await next_activity(cloud.connector, lambda b: b.get("replyToId") == meet["id"]
                               and card_of(b) is not None, timeout=10)
    [meeting] = [m for m in cloud.graph.meetings_of(signed_in.tenant_id,
                                                    signed_in.aad_object_id)
                 if m["subject"] == "during the stall"]
    assert meeting["joinWebUrl"] in card_text(card_of(made))

    assert (await stalled).status == 412
    assert time.monotonic() - started < 7
    body = await next_activity(cloud.connector, lambda b: card_of(b) is not None
                               and b.get("replyToId") == exchange["id"])
    assert describe(TokenServiceUnavailable("stalled")).text in card_text(card_of(body))

    # Entra ID answers again: both kinds of turn are served, and the broker reports ready.
    later = message("help", service_url=cloud.connector.url, user=User(name="Di"))
    again = message("meet now about after the stall", service_url=cloud.connector.url,
                    user=signed_in)
    for act in (later, again):
        assert (await bot.post(act, token=cloud.channel_token())).status in (200, 201)
        await next_activity(cloud.connector, lambda b, act=act: b.get("replyToId") == act["id"]
                            and card_of(b) is not None, timeout=10)
    assert time.monotonic() - started < 15  # the bound, whatever the waits above allow
    while not (503 in readiness and readiness[-1] == 200):  # stuck, then ready by itself
        assert time.monotonic() - started < 20, readiness
        await asyncio.sleep(0.2)
    poller.cancel()
