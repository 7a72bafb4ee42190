"""No secret needed: the bot proves who it is with a certificate, a managed identity, or an app
registration that trusts a managed identity (federated credential). Real MSAL talks to the Entra
ID simulator over TLS, which checks the client assertions as Entra documents them, and to the
simulated App Service identity endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER); the meeting is
created in the Graph simulator and the card reaches the Bot Connector simulator, which accepts
only the bot's own token."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from bot.config import MSI_CANNOT_SIGN_IN, ConfigError, load_settings
from bot.credentials import BotCredential, CredentialKind, load_certificate
from bot.errors import TokenExchangeFailed
from bot.state import MemoryStore
from bot.tokens import MsalBroker
from localcloud.entra_sim import FederatedCredential
from localcloud.identity_sim import IDENTITY_SIM, IdentitySim, ManagedIdentity, create_identity_app
from tests.helpers import (
    APP_ID,
    GRAPH_AUDIENCE,
    TENANT,
    ThreadedServer,
    User,
    card_of,
    card_text,
    claims_of,
    message,
    next_activity,
    serve,
    sign_in,
    start_bot,
    stop_bot,
)

CONNECTOR_RESOURCE = "https://api.botframework.com"


def make_certificate(folder: Path, *, name: str = "meetbot", days: int = 365,
                     key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
                     password: bytes | None = None) -> tuple[Path, Path, x509.Certificate]:
    """A self-signed certificate as `openssl req -x509 -newkey rsa:2048` makes one:
    (certificate PEM, key PEM, certificate)."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=2)).not_valid_after(now + timedelta(days=days))
            .sign(key, hashes.SHA256()))
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    cert_path, key_path = folder / f"{name}.crt.pem", folder / f"{name}.key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8, encryption))
    return cert_path, key_path, cert


def certificate_env(cloud, cert: Path, key: Path, **extra: str) -> dict[str, str]:
    """The production settings with a certificate instead of the client secret."""
    return cloud.bot_env(MicrosoftAppPassword="", MicrosoftAppCertificatePath=str(cert),
                         MicrosoftAppCertificateKeyPath=str(key), **extra)


@pytest.fixture
async def identity(issuer, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[IdentitySim]:
    """App Service's identity endpoint, announced as App Service does: IDENTITY_ENDPOINT and
    IDENTITY_HEADER in the environment (MSAL reads them there)."""
    app = create_identity_app(issuer, roles={
        GRAPH_AUDIENCE: ("OnlineMeetings.ReadWrite.All",)})
    srv = await serve(app)
    sim = app[IDENTITY_SIM]
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{srv.url}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", sim.header)
    yield sim
    await srv.server.close()


# --- a certificate ------------------------------------------------------------------------------
async def test_a_certificate_signs_the_user_in_and_the_bot_replies_without_a_secret(
        cloud, tmp_path):
    cert, key, _ = make_certificate(tmp_path)
    cloud.entra.register_certificate(APP_ID, cert.read_text())
    cloud.entra.clients[APP_ID] = ""  # the app has no secret at all
    bot = await start_bot(certificate_env(cloud, cert, key))
    try:
        user = User()
        resp, act = await sign_in(bot, cloud, user, "meet now about certificates")
        assert resp.status == 200
        body = await next_activity(cloud.connector, lambda b: card_of(b) is not None
                                   and "certificates" in card_text(card_of(b)))
        [meeting] = cloud.graph.meetings_of(user.tenant_id, user.aad_object_id)
        assert meeting["joinWebUrl"] in card_text(card_of(body))
        # On-behalf-of and the Connector token both authenticated with the certificate.
        assert cloud.entra.calls["on_behalf_of"] == 1
        assert cloud.entra.calls["assertion:certificate"] >= 2
        assert cloud.connector.unauthorized == 0
    finally:
        await stop_bot(bot)


async def test_app_only_graph_with_a_certificate(cloud, tmp_path):
    cert, key, _ = make_certificate(tmp_path)
    cloud.entra.register_certificate(APP_ID, cert.read_text())
    bot = await start_bot(certificate_env(cloud, cert, key, GRAPH_AUTH_MODE="app"))
    try:
        user = User()
        cloud.graph.grant_policy(user.tenant_id, APP_ID)
        await bot.post(message("meet now about app and certificate",
                               service_url=cloud.connector.url, user=user),
                       token=cloud.channel_token())
        await next_activity(cloud.connector, lambda b: card_of(b) is not None)
        assert len(cloud.graph.meetings_of(user.tenant_id, user.aad_object_id)) == 1
        assert cloud.entra.calls["client_credentials"] >= 2  # Graph and the Connector
        assert cloud.entra.calls["assertion:certificate"] == cloud.entra.calls["client_credentials"]
    finally:
        await stop_bot(bot)


def cert_broker(cloud, certificate) -> MsalBroker:
    return MsalBroker(app_id=APP_ID,
                      credential=BotCredential(CredentialKind.CERTIFICATE, certificate=certificate),
                      authority_host=cloud.entra_url, app_tenant=TENANT,
                      graph_resource=GRAPH_AUDIENCE, store=MemoryStore(), app_only=True,
                      channel_login_url=f"{cloud.entra_url}/botframework.com",
                      ca_file=cloud.tls.ca_path, timeout=5)


async def test_a_certificate_the_app_does_not_know_is_refused_by_entra(cloud, tmp_path):
    registered, _, _ = make_certificate(tmp_path, name="registered")
    cloud.entra.register_certificate(APP_ID, registered.read_text())
    other, other_key, _ = make_certificate(tmp_path, name="other")
    broker = cert_broker(cloud, load_certificate(str(other), str(other_key)))
    with pytest.raises(TokenExchangeFailed) as err:
        await broker.bot_token()
    assert "invalid_client" in str(err.value) and "700027" in str(err.value)


async def test_the_client_assertion_is_the_documented_one(cloud, tmp_path):
    """What MSAL sent is what "certificate credentials" describes; the simulator accepted it,
    and the Connector token it bought names the app."""
    cert, key, x509_cert = make_certificate(tmp_path)
    cloud.entra.register_certificate(APP_ID, cert.read_text())
    broker = cert_broker(cloud, load_certificate(str(cert), str(key)))
    token = await broker.bot_token()
    assert claims_of(token)["appid"] == APP_ID and claims_of(token)["aud"] == CONNECTOR_RESOURCE
    assert cloud.entra.calls["assertion:certificate"] == 1


# --- the managed identity is the bot ----------------------------------------------------------------
def msi_env(cloud, **extra: str) -> dict[str, str]:
    """MicrosoftAppType=UserAssignedMSI: MicrosoftAppId is the identity's client id. The Azure
    Bot names that id, so channel tokens carry it (APP_ID here)."""
    return cloud.bot_env(MicrosoftAppType="UserAssignedMSI", MicrosoftAppId=APP_ID,
                         MicrosoftAppTenantId=TENANT, MicrosoftAppPassword="",
                         GRAPH_AUTH_MODE="app", **extra)


async def test_a_managed_identity_bot_creates_the_meeting_and_replies(cloud, identity):
    identity.add(ManagedIdentity(client_id=APP_ID, tenant_id=TENANT))
    bot = await start_bot(msi_env(cloud))
    try:
        user = User()
        cloud.graph.grant_policy(TENANT, APP_ID)
        await bot.post(message("meet now about identities", service_url=cloud.connector.url,
                               user=user), token=cloud.channel_token())
        body = await next_activity(cloud.connector, lambda b: card_of(b) is not None)
        [meeting] = cloud.graph.meetings_of(TENANT, user.aad_object_id)
        assert meeting["joinWebUrl"] in card_text(card_of(body))
        assert cloud.connector.unauthorized == 0
        # Both tokens came from the identity endpoint, by resource; Entra ID saw nothing.
        assert identity.requests[GRAPH_AUDIENCE] >= 1
        assert identity.requests[CONNECTOR_RESOURCE] >= 1
        assert sum(cloud.entra.calls.values()) == 0
    finally:
        await stop_bot(bot)


async def test_a_managed_identity_serves_its_own_tenant_only(cloud, identity):
    identity.add(ManagedIdentity(client_id=APP_ID, tenant_id=TENANT))
    bot = await start_bot(msi_env(cloud))
    try:
        outsider = User(tenant_id=str(uuid.uuid4()))
        await bot.post(message("meet now", service_url=cloud.connector.url, user=outsider),
                       token=cloud.channel_token())
        body = await next_activity(cloud.connector, lambda b: card_of(b) is not None)
        assert "organisation" in card_text(card_of(body))
        assert cloud.graph.count() == 0
        assert identity.requests[GRAPH_AUDIENCE] == 0
    finally:
        await stop_bot(bot)


async def test_a_wrong_identity_header_gets_no_token(cloud, identity, monkeypatch):
    identity.add(ManagedIdentity(client_id=APP_ID, tenant_id=TENANT))
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-platforms")
    settings = load_settings(msi_env(cloud))
    broker = MsalBroker(app_id=APP_ID, credential=settings.credential,
                        authority_host=cloud.entra_url, app_tenant=TENANT,
                        graph_resource=GRAPH_AUDIENCE, store=MemoryStore(), app_only=True,
                        ca_file=cloud.tls.ca_path, timeout=5)
    with pytest.raises(TokenExchangeFailed):
        await broker.bot_token()
    assert identity.tokens_issued == 0


# --- an app registration that trusts a managed identity (federated credential) ---------------------
def federated_env(cloud, identity_id: str, **extra: str) -> dict[str, str]:
    return cloud.bot_env(MicrosoftAppPassword="", MicrosoftAppClientId=identity_id,
                         MicrosoftAppType="SingleTenant", MicrosoftAppTenantId=TENANT, **extra)


async def test_a_federated_credential_signs_the_user_in_without_a_secret(cloud, identity):
    trusted = identity.add(ManagedIdentity(client_id=str(uuid.uuid4()), tenant_id=TENANT))
    cloud.entra.clients[APP_ID] = ""
    cloud.entra.add_federated_credential(APP_ID, FederatedCredential(
        issuer=identity.token_issuer(trusted), subject=trusted.principal_id))
    bot = await start_bot(federated_env(cloud, trusted.client_id))
    try:
        user = User()
        resp, _ = await sign_in(bot, cloud, user, "meet now about federation")
        assert resp.status == 200
        await next_activity(cloud.connector, lambda b: card_of(b) is not None
                            and "federation" in card_text(card_of(b)))
        assert len(cloud.graph.meetings_of(user.tenant_id, user.aad_object_id)) == 1
        assert cloud.entra.calls["assertion:federated"] >= 2  # on-behalf-of, Connector token
        assert identity.requests["api://AzureADTokenExchange"] >= 1
        assert identity.tokens_issued == 1  # one assertion token, reused from the cache
        assert cloud.connector.unauthorized == 0
    finally:
        await stop_bot(bot)


async def test_an_identity_the_app_does_not_trust_is_refused_by_entra(cloud, identity):
    stranger = identity.add(ManagedIdentity(client_id=str(uuid.uuid4()), tenant_id=TENANT))
    settings = load_settings(federated_env(cloud, stranger.client_id))
    broker = MsalBroker(app_id=APP_ID, credential=settings.credential,
                        authority_host=cloud.entra_url, app_tenant=TENANT,
                        graph_resource=GRAPH_AUDIENCE, store=MemoryStore(), app_only=False,
                        channel_login_url=f"{cloud.entra_url}/{TENANT}",
                        ca_file=cloud.tls.ca_path, timeout=5)
    with pytest.raises(TokenExchangeFailed) as err:
        await broker.bot_token()
    assert "700213" in str(err.value)


# --- Redis with Microsoft Entra ID authentication -----------------------------------------------
REDIS_RESOURCE = "https://redis.azure.com"


async def test_redis_takes_the_managed_identitys_entra_token_as_its_password(
        cloud, issuer, redis_server, monkeypatch):
    """Azure Managed Redis checks the token of the identity's object id. A local redis-server
    cannot verify a JWT, so it is given the token the identity endpoint hands out for Redis
    (the endpoint keeps one per identity and resource for hours, as App Service's does) as the
    password of a user named by the object id; every other user is off.

    The identity endpoint runs on its own thread here: redis-entraid (1.2) fetches the token
    with a blocking call even from redis' asyncio client, so on the bot's event loop it would
    wait for itself."""
    import redis

    app = create_identity_app(issuer, roles={GRAPH_AUDIENCE: ("OnlineMeetings.ReadWrite.All",)})
    identity = app[IDENTITY_SIM]
    server = ThreadedServer(app).__enter__()
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{server.url}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", identity.header)
    me = identity.add(ManagedIdentity(client_id=APP_ID, tenant_id=TENANT))
    status, answer = identity.answer({"resource": REDIS_RESOURCE, "api-version": "2019-08-01",
                                      "client_id": APP_ID}, identity.header)
    assert status == 200
    admin = redis.Redis(port=redis_server.port)
    admin.execute_command("ACL", "SETUSER", "admin", "on", ">admin-pw", "~*", "&*", "+@all")
    admin.execute_command("ACL", "SETUSER", me.principal_id, "on", f">{answer['access_token']}",
                          "~meetbot:*", "+@all")
    admin.execute_command("ACL", "SETUSER", "default", "off")
    key = "Nm2c8cDk2xJ3z4QXvV1l3d3N9xXgR6YvQ0HqkT2mZ5E="
    bot = await start_bot(msi_env(cloud, REDIS_URL=redis_server.url, REDIS_AUTH="entra",
                                  STATE_ENCRYPTION_KEY=key))
    try:
        user = User()
        cloud.graph.grant_policy(TENANT, APP_ID)
        act = message("meet now about redis", service_url=cloud.connector.url, user=user)
        await bot.post(act, token=cloud.channel_token())
        await next_activity(cloud.connector, lambda b: card_of(b) is not None)
        assert len(cloud.graph.meetings_of(TENANT, user.aad_object_id)) == 1
        async with bot.session.get(f"{bot.srv.url}/readyz") as resp:
            assert resp.status == 200
        who = redis.Redis(port=redis_server.port, username="admin", password="admin-pw")
        assert who.keys("meetbot:seen:*"), "the turn's redelivery key is in Redis"
        clients = who.execute_command("CLIENT", "LIST").decode()
        assert f"user={me.principal_id}" in clients
        assert identity.requests[REDIS_RESOURCE] >= 2  # ours above, then the bot's
    finally:
        await stop_bot(bot)
        server.__exit__(None, None, None)
    with pytest.raises(redis.AuthenticationError):  # no anonymous way in
        redis.Redis(port=redis_server.port).ping()


# --- start-up checks ----------------------------------------------------------------------------------
BASE = {"MicrosoftAppId": APP_ID, "BOT_DOMAIN": "meetbot.contoso.com",
        "MicrosoftAppType": "SingleTenant", "MicrosoftAppTenantId": TENANT}


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    return err.value.problems


def test_certificate_settings_are_read_from_pem_and_pkcs12(tmp_path):
    cert, key, x509_cert = make_certificate(tmp_path)
    thumbprint = x509_cert.fingerprint(hashes.SHA1()).hex().upper()
    settings = load_settings({**BASE, "MicrosoftAppCertificatePath": str(cert),
                              "MicrosoftAppCertificateKeyPath": str(key),
                              "MicrosoftAppCertificateThumbprint": thumbprint.lower()})
    assert settings.credential.kind is CredentialKind.CERTIFICATE
    assert settings.credential.certificate.sha1_thumbprint == thumbprint
    assert "PRIVATE KEY" not in repr(settings)
    # One PEM file with both, as `cat key.pem cert.pem` makes it.
    both = tmp_path / "both.pem"
    both.write_bytes(key.read_bytes() + cert.read_bytes())
    assert load_settings({**BASE, "MicrosoftAppCertificatePath": str(both)}).credential.certificate
    # PKCS#12 without a password: what App Service writes for WEBSITE_LOAD_CERTIFICATES.
    p12 = tmp_path / f"{thumbprint}.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        None, serialization.load_pem_private_key(key.read_bytes(), None), x509_cert, None,
        serialization.NoEncryption()))
    loaded = load_settings({**BASE, "MicrosoftAppCertificatePath": str(p12)}).credential
    assert loaded.certificate.sha1_thumbprint == thumbprint


@pytest.mark.parametrize("case, fragment", [
    ("missing", "cannot be read"),
    ("expired", "the certificate expired on"),
    ("thumbprint", "is not the thumbprint of"),
    ("encrypted", "the private key is encrypted"),
    ("mismatch", "no certificate there matches the private key"),
    ("ec", "the key is not RSA"),
    ("garbage", "neither PEM nor a PKCS#12 file"),
])
def test_a_certificate_that_cannot_work_stops_start_up_with_the_reason(tmp_path, case, fragment):
    cert, key, _ = make_certificate(tmp_path, days=-1 if case == "expired" else 365,
                                    password=b"pw" if case == "encrypted" else None,
                                    key=ec.generate_private_key(ec.SECP256R1())
                                    if case == "ec" else None)
    env = {**BASE, "MicrosoftAppCertificatePath": str(cert),
           "MicrosoftAppCertificateKeyPath": str(key)}
    if case == "missing":
        env["MicrosoftAppCertificatePath"] = str(tmp_path / "nope.pem")
    if case == "thumbprint":
        env["MicrosoftAppCertificateThumbprint"] = "00" * 20
    if case == "mismatch":
        _, other_key, _ = make_certificate(tmp_path, name="other")
        env["MicrosoftAppCertificateKeyPath"] = str(other_key)
    if case == "garbage":
        (tmp_path / "x.pfx").write_bytes(b"\x30\x82not a pfx")
        env["MicrosoftAppCertificatePath"] = str(tmp_path / "x.pfx")
    found = problems(env)
    assert any(fragment in p for p in found), found
    assert not any("PRIVATE KEY" in p for p in found)


@pytest.mark.parametrize("env, fragment", [
    ({**BASE}, "MicrosoftAppPassword is empty and no other credential is set"),
    ({**BASE, "MicrosoftAppPassword": "x", "MicrosoftAppClientId": str(uuid.uuid4())},
     "Set one credential for MicrosoftAppId, not MicrosoftAppPassword and MicrosoftAppClientId"),
    ({**BASE, "MicrosoftAppClientId": "my-identity"}, "MicrosoftAppClientId='my-identity' is not a GUID"),
    ({**BASE, "MicrosoftAppPassword": "x", "MicrosoftAppCertificateThumbprint": "AB"},
     "go with MicrosoftAppCertificatePath"),
    ({**BASE, "MicrosoftAppType": "UserAssignedMSI"}, MSI_CANNOT_SIGN_IN),
    ({**BASE, "MicrosoftAppType": "UserAssignedMSI", "GRAPH_AUTH_MODE": "app",
      "MicrosoftAppPassword": "x"}, "takes no other credential: remove MicrosoftAppPassword"),
    ({**BASE, "MicrosoftAppType": "UserAssignedMSI", "GRAPH_AUTH_MODE": "app",
      "ALLOWED_TENANTS": str(uuid.uuid4())}, "serves its own tenant only"),
    ({**BASE, "MicrosoftAppType": "UserAssignedMSI", "MicrosoftAppTenantId": "",
      "GRAPH_AUTH_MODE": "app"}, "MicrosoftAppType=UserAssignedMSI needs MicrosoftAppTenantId"),
    ({"MicrosoftAppType": "UserAssignedMSI", "GRAPH_AUTH_MODE": "app"},
     "needs MicrosoftAppId: the managed identity's client id"),
    ({**BASE, "MicrosoftAppType": "ManagedIdentity"}, "use SingleTenant, MultiTenant or "
     "UserAssignedMSI"),
    ({**BASE, "MicrosoftAppPassword": "x", "REDIS_AUTH": "entra",
      "REDIS_URL": "rediss://cache:10000"}, "signs in to Redis as the bot's managed identity"),
    ({**BASE, "MicrosoftAppClientId": str(uuid.uuid4()), "REDIS_AUTH": "entra"},
     "REDIS_AUTH=entra needs REDIS_URL"),
    ({**BASE, "MicrosoftAppPassword": "x", "REDIS_AUTH": "token"}, "REDIS_AUTH='token'"),
])
def test_each_identity_problem_is_named(env, fragment):
    found = problems(env)
    assert any(fragment in p for p in found), found


def test_a_managed_identity_in_app_mode_is_accepted_in_any_spelling():
    settings = load_settings({**BASE, "MicrosoftAppType": "userassignedmsi",
                              "GRAPH_AUTH_MODE": "app"})
    assert settings.app_type == "UserAssignedMSI"
    assert settings.credential == BotCredential(CredentialKind.MANAGED_IDENTITY,
                                                identity_client_id=APP_ID)
    assert settings.allowed_tenants == {TENANT}  # its tokens are for its own tenant
