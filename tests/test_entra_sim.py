"""The Entra ID simulator, driven by the real MSAL 1.39 and botbuilder over real HTTPS.

MSAL and botbuilder's metadata reader block (they use `requests`), so the simulator runs on its
own event loop in a thread (`ThreadedServer`), like a remote service would.
"""
from __future__ import annotations

import ssl
import uuid

import aiohttp
import pytest
import requests
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount
from botframework.connector.auth import (
    AuthenticationConfiguration,
    BotFrameworkAuthenticationFactory,
    PasswordServiceClientCredentialFactory,
)
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.errors import ConsentRequired
from bot.tokens import classify_msal_error
from localcloud.entra_sim import CONSUMER_TENANT, ENTRA_SIM, create_entra_app
from localcloud.graph_sim import create_graph_app
from tests.helpers import BOT_ID, BOT_SECRET, TENANT, ThreadedServer, cca, claims_of

GRAPH_SCOPES = ["https://graph.microsoft.com/OnlineMeetings.ReadWrite"]


def test_client_credentials_over_tls_then_from_msal_cache(tls, entra):
    base, sim = entra
    app = cca(tls, base, tenant="botframework.com")
    first = app.acquire_token_for_client(["https://api.botframework.com/.default"])
    second = app.acquire_token_for_client(["https://api.botframework.com/.default"])

    assert "access_token" in first, first
    claims = claims_of(first["access_token"])
    assert claims["aud"] == "https://api.botframework.com"
    assert claims["appid"] == claims["azp"] == BOT_ID
    assert claims["tid"] and "roles" in claims
    assert second["access_token"] == first["access_token"]
    assert second["token_source"] == "cache"
    assert sim.calls["client_credentials"] == 1


def test_app_token_for_graph_carries_configured_roles(tls, issuer):
    roles = {"https://graph.microsoft.com": ("OnlineMeetings.ReadWrite.All",)}
    app = create_entra_app(issuer, clients={BOT_ID: BOT_SECRET}, app_roles=roles)
    with ThreadedServer(app, tls.server_ssl_context()) as server:
        result = cca(tls, server.url).acquire_token_for_client(
            ["https://graph.microsoft.com/.default"])
    claims = claims_of(result["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["roles"] == ["OnlineMeetings.ReadWrite.All"]
    assert claims["tid"] == TENANT


def test_bad_secret_is_invalid_client(tls, entra):
    base, _ = entra
    result = cca(tls, base, secret="wrong").acquire_token_for_client(
        ["https://api.botframework.com/.default"])
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]
    assert result["error_description"].startswith("AADSTS7000215:")


def test_msal_instance_discovery_against_the_sim(tls, entra):
    base, sim = entra
    app = cca(tls, base, instance_discovery=f"{base}/common/discovery/instance")
    assert "access_token" in app.acquire_token_for_client(["https://api.botframework.com/.default"])


def test_obo_returns_delegated_graph_token_cached_by_account(tls, entra):
    base, sim = entra
    user = str(uuid.uuid4())
    sso = sim.user_sso_token(user, TENANT, app_id=BOT_ID, name="Ada Lovelace",
                             upn="ada@contoso.example")
    app = cca(tls, base)
    result = app.acquire_token_on_behalf_of(sso, GRAPH_SCOPES)

    assert "access_token" in result, result
    claims = claims_of(result["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["scp"] == "OnlineMeetings.ReadWrite"
    assert (claims["oid"], claims["tid"]) == (user, TENANT)
    assert claims["upn"] == "ada@contoso.example" and claims["name"] == "Ada Lovelace"
    assert result["refresh_token"]  # MSAL asked for offline_access itself
    assert result["id_token_claims"]["oid"] == user
    # client_info made MSAL file the tokens under the user's home account id.
    accounts = app.get_accounts()
    assert [a["home_account_id"] for a in accounts] == [f"{user}.{TENANT}"]
    silent = app.acquire_token_silent(GRAPH_SCOPES, account=accounts[0])
    assert silent["access_token"] == result["access_token"]
    assert sim.calls["on_behalf_of"] == 1 and sim.calls["refresh_token"] == 0


def test_msal_silent_refresh_uses_the_refresh_token(tls, entra):
    base, sim = entra
    user = str(uuid.uuid4())
    app = cca(tls, base)
    app.acquire_token_on_behalf_of(
        sim.user_sso_token(user, TENANT, app_id=BOT_ID, upn="bo@contoso.example"), GRAPH_SCOPES)

    refreshed = app.acquire_token_silent(GRAPH_SCOPES, account=app.get_accounts()[0],
                                         force_refresh=True)

    assert claims_of(refreshed["access_token"])["oid"] == user
    assert sim.calls["refresh_token"] == 1


def test_consent_required_gives_documented_error_then_consent_fixes_it(tls, entra):
    base, sim = entra
    user = str(uuid.uuid4())
    sim.require_consent(user)
    app = cca(tls, base)

    result = app.acquire_token_on_behalf_of(
        sim.user_sso_token(user, TENANT, app_id=BOT_ID), GRAPH_SCOPES)

    assert result["error"] == "invalid_grant"
    assert 65001 in result["error_codes"]
    assert result["suberror"] == "consent_required"
    assert result["error_description"].startswith("AADSTS65001:")
    assert {"timestamp", "trace_id", "correlation_id"} <= result.keys()

    sim.grant_consent(user)
    # A new SSO token: MSAL replays an identical failed request from memory for 60 s.
    result = app.acquire_token_on_behalf_of(
        sim.user_sso_token(user, TENANT, app_id=BOT_ID), GRAPH_SCOPES)
    assert "access_token" in result


def test_interaction_required_carries_claims(tls, entra):
    base, sim = entra
    user = str(uuid.uuid4())
    sim.require_interaction(user)
    result = cca(tls, base).acquire_token_on_behalf_of(
        sim.user_sso_token(user, TENANT, app_id=BOT_ID), GRAPH_SCOPES)
    assert result["error"] == "interaction_required"
    assert 50079 in result["error_codes"]
    assert "polids" in result["claims"]


@pytest.mark.parametrize("case, code", [("expired", 500133), ("forged", 50013),
                                        ("wrong_audience", 50013), ("garbage", 50027)])
def test_bad_assertions_are_refused(tls, entra, issuer, case, code):
    base, sim = entra
    user = str(uuid.uuid4())
    if case == "expired":
        assertion = sim.user_sso_token(user, TENANT, app_id=BOT_ID, expired=True)
    elif case == "forged":  # right kid, a key the issuer never published
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        assertion = issuer.issue({"aud": f"api://botid-{BOT_ID}", "oid": user, "tid": TENANT},
                                 signing_key=other)
    elif case == "wrong_audience":  # a Graph token cannot be redeemed by the bot
        assertion = sim.user_sso_token(user, TENANT, app_id=BOT_ID,
                                       audience="https://graph.microsoft.com")
    else:
        assertion = "not-a-jwt"
    result = cca(tls, base).acquire_token_on_behalf_of(assertion, GRAPH_SCOPES)
    assert code in result["error_codes"], result
    assert "access_token" not in result


def test_assertion_for_the_plain_app_id_audience_is_accepted(tls, entra):
    base, sim = entra
    assertion = sim.user_sso_token(str(uuid.uuid4()), TENANT, app_id=BOT_ID, audience=BOT_ID)
    assert "access_token" in cca(tls, base).acquire_token_on_behalf_of(assertion, GRAPH_SCOPES)


def test_personal_account_exchange_keeps_the_consumer_tenant(tls, entra):
    base, sim = entra
    user = str(uuid.uuid4())
    result = cca(tls, base, tenant="common").acquire_token_on_behalf_of(
        sim.user_sso_token(user, CONSUMER_TENANT, app_id=BOT_ID, upn="kim@outlook.example"),
        GRAPH_SCOPES)
    claims = claims_of(result["access_token"])
    assert claims["tid"] == CONSUMER_TENANT and claims["idp"] == "live.com"


def test_openid_configuration_and_endorsed_keys(tls, entra, issuer):
    base, sim = entra
    session = tls.requests_session()
    config = session.get(f"{base}/organizations/v2.0/.well-known/openid-configuration").json()
    assert config["token_endpoint"] == f"{base}/organizations/oauth2/v2.0/token"
    assert config["authorization_endpoint"].startswith(f"{base}/organizations/")
    keys = session.get(config["jwks_uri"]).json()["keys"]
    assert {k["kid"] for k in keys} == {k["kid"] for k in issuer.jwks()["keys"]}
    assert all("msteams" in k["endorsements"] for k in keys)
    assert session.get(f"{base}/not-a-tenant/v2.0/.well-known/openid-configuration"
                       ).status_code == 400


async def test_aiohttp_clients_trust_the_local_ca(tls, entra):
    base, _ = entra
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/v1/.well-known/openidconfiguration",
                            ssl=tls.client_ssl_context()) as resp:
            assert (await resp.json())["issuer"] == "https://api.botframework.com"
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await http.get(f"{base}/v1/.well-known/openidconfiguration",
                           ssl=ssl.create_default_context())


@pytest.mark.parametrize("channel_token, service_url_matches, accepted", [
    (True, True, True), (True, False, False), (False, True, False)])
async def test_botbuilder_validates_channel_tokens_with_the_sim_metadata(
        tls, entra, issuer, monkeypatch, channel_token, service_url_matches, accepted):
    # botbuilder fetches OpenID metadata with a bare requests.get(): the CA bundle env var is
    # its only TLS hook.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_path)
    base, sim = entra
    service_url = "https://smba.example/teams/"
    token = (sim.channel_token(BOT_ID, service_url) if channel_token else
             issuer.issue({"aud": BOT_ID, "serviceurl": service_url}))  # wrong issuer
    auth = BotFrameworkAuthenticationFactory.create(
        channel_service="", validate_authority=False,
        to_channel_from_bot_login_url=f"{base}/botframework.com",
        to_channel_from_bot_oauth_scope="https://api.botframework.com",
        to_bot_from_channel_token_issuer="https://api.botframework.com",
        oauth_url=None,
        to_bot_from_channel_open_id_metadata_url=f"{base}/v1/.well-known/openidconfiguration",
        to_bot_from_emulator_open_id_metadata_url=None, caller_id=None,
        credential_factory=PasswordServiceClientCredentialFactory(BOT_ID, BOT_SECRET),
        auth_configuration=AuthenticationConfiguration(), http_client_factory=None)
    activity = Activity(type="message", channel_id="msteams",
                        service_url=service_url if service_url_matches else "https://evil/",
                        from_property=ChannelAccount(id="29:user"),
                        recipient=ChannelAccount(id=f"28:{BOT_ID}"),
                        conversation=ConversationAccount(id="a:1"))
    if accepted:
        result = await auth.authenticate_request(activity, f"Bearer {token}")
        assert result.claims_identity.claims["aud"] == BOT_ID
    else:
        with pytest.raises(PermissionError):
            await auth.authenticate_request(activity, f"Bearer {token}")


# --- a tenant that has not consented to Calendars.ReadWrite -----------------------------------
CALENDAR_SCOPES = ["https://graph.microsoft.com/Calendars.ReadWrite"]


def test_tenant_without_calendar_consent_refuses_the_scope_like_entra(tls, entra):
    base, sim = entra
    sim.withhold_consent(TENANT, "Calendars.ReadWrite")
    user = str(uuid.uuid4())
    app = cca(tls, base)

    refused = app.acquire_token_on_behalf_of(sim.user_sso_token(user, TENANT, app_id=BOT_ID), CALENDAR_SCOPES)
    assert refused["error"] == "invalid_grant" and refused["suberror"] == "consent_required"
    assert 65001 in refused["error_codes"] and refused["error_description"].startswith("AADSTS65001:")
    assert classify_msal_error(refused, admin_consent_url=None).__class__ is ConsentRequired
    # The meetings scope still works for the same user, and refresh cannot widen it either.
    meetings = app.acquire_token_on_behalf_of(sim.user_sso_token(user, TENANT, app_id=BOT_ID), GRAPH_SCOPES)
    assert claims_of(meetings["access_token"])["scp"] == "OnlineMeetings.ReadWrite"
    silent = app.acquire_token_silent_with_error(CALENDAR_SCOPES, account=app.get_accounts()[0])
    assert silent["error"] == "invalid_grant" and 65001 in silent["error_codes"]
    assert sim.calls["refresh_token"] == 1

    other_tenant = str(uuid.uuid4())  # consent is per tenant
    elsewhere = cca(tls, base, tenant=other_tenant).acquire_token_on_behalf_of(
        sim.user_sso_token(str(uuid.uuid4()), other_tenant, app_id=BOT_ID), CALENDAR_SCOPES)
    assert claims_of(elsewhere["access_token"])["scp"] == "Calendars.ReadWrite"

    sim.grant_tenant_consent(TENANT, "Calendars.ReadWrite")
    granted = app.acquire_token_on_behalf_of(sim.user_sso_token(user, TENANT, app_id=BOT_ID), CALENDAR_SCOPES)
    assert claims_of(granted["access_token"])["scp"] == "Calendars.ReadWrite"


def test_app_token_without_calendar_consent_lacks_the_role_and_graph_refuses_events(tls, issuer):
    roles = {"https://graph.microsoft.com": ("OnlineMeetings.ReadWrite.All", "Calendars.ReadWrite")}
    entra_app = create_entra_app(issuer, clients={BOT_ID: BOT_SECRET}, app_roles=roles)
    entra_app[ENTRA_SIM].withhold_consent(TENANT, "Calendars.ReadWrite")
    other_tenant, user = str(uuid.uuid4()), str(uuid.uuid4())
    event = {"subject": "Planning", "start": {"dateTime": "2030-01-07T09:30:00", "timeZone": "Europe/Berlin"},
             "end": {"dateTime": "2030-01-07T10:30:00", "timeZone": "Europe/Berlin"},
             "isOnlineMeeting": True, "onlineMeetingProvider": "teamsForBusiness"}
    with ThreadedServer(entra_app, tls.server_ssl_context()) as entra, \
            ThreadedServer(create_graph_app(issuer)) as graph:
        answers = {}
        for tenant in (TENANT, other_tenant):
            token = cca(tls, entra.url, tenant=tenant).acquire_token_for_client(
                ["https://graph.microsoft.com/.default"])["access_token"]
            answers[tenant] = (claims_of(token)["roles"], requests.post(
                f"{graph.url}/v1.0/users/{user}/events", json=event,
                headers={"Authorization": f"Bearer {token}"}))
    roles_here, refused = answers[TENANT]
    assert roles_here == ["OnlineMeetings.ReadWrite.All"]
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ErrorAccessDenied"
    roles_there, created = answers[other_tenant]
    assert roles_there == ["OnlineMeetings.ReadWrite.All", "Calendars.ReadWrite"]
    assert created.status_code == 201 and created.json()["onlineMeeting"]["joinUrl"]
