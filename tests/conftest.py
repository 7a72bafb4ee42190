"""Shared fixtures: the local Microsoft cloud and MeetBot itself, each a real server on a free
loopback port. Tests talk to the bot over HTTP and read its replies at the connector simulator."""
from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.config import load_settings
from bot.hosting import create_app
from localcloud.connector_sim import CONNECTOR_SIM, create_connector_app
from localcloud.issuer import LocalIssuer

from tests.redis_server import redis_server, redis_url  # noqa: F401 - a real redis-server

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
_ids = itertools.count(1)


@dataclass
class Server:
    server: TestServer
    app: web.Application

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


async def serve(app: web.Application, *, ssl: Any = None) -> Server:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=ssl)
    return Server(server, app)


@pytest.fixture(scope="session")
def issuer() -> LocalIssuer:
    return LocalIssuer()


@pytest.fixture
async def connector() -> AsyncIterator[Any]:
    """An anonymous Bot Connector (as the Agents Playground is): records every reply."""
    srv = await serve(create_connector_app())
    sim = srv.app[CONNECTOR_SIM]
    sim.url = srv.url
    yield sim
    await srv.server.close()


@dataclass
class User:
    name: str = "Ana Lopez"
    aad_object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    teams_id: str = field(default_factory=lambda: f"29:{uuid.uuid4().hex}")
    tenant_id: str = TENANT


def message(text: str, *, service_url: str, user: User | None = None, kind: str = "personal",
            conversation_id: str | None = None, timezone_name: str | None = "Europe/Berlin",
            mentions: list[dict] | None = None, activity_id: str | None = None,
            value: Any = None) -> dict:
    """A message activity shaped like the ones Teams sends."""
    user = user or User()
    conv = conversation_id or {"personal": f"a:{user.teams_id}",
                               "groupChat": "19:group@thread.v2",
                               "channel": "19:general@thread.tacv2;messageid=1700000000000"}[kind]
    now = datetime.now(timezone.utc)
    activity = {
        "type": "message", "id": activity_id or f"17000{next(_ids):08d}",
        "timestamp": now.isoformat(), "serviceUrl": service_url, "channelId": "msteams",
        "from": {"id": user.teams_id, "name": user.name, "aadObjectId": user.aad_object_id},
        "conversation": {"id": conv, "conversationType": kind, "tenantId": user.tenant_id,
                         **({"isGroup": True} if kind != "personal" else {})},
        "recipient": {"id": "28:meetbot", "name": "MeetBot"},
        "text": text, "textFormat": "plain", "locale": "en-US",
        "entities": [{"type": "clientInfo", "locale": "en-US", "platform": "Web",
                      **({"timezone": timezone_name} if timezone_name else {})}]
        + (mentions or []),
        "channelData": {"tenant": {"id": user.tenant_id}},
    }
    if timezone_name:
        activity["localTimezone"] = timezone_name
    if value is not None:
        activity["value"] = value
    return activity


def invoke(name: str, value: Any, *, service_url: str, user: User | None = None,
           kind: str = "personal", reply_to_id: str | None = None) -> dict:
    activity = message("", service_url=service_url, user=user, kind=kind)
    activity.update(type="invoke", name=name, value=value)
    activity.pop("text")
    if reply_to_id:
        activity["replyToId"] = reply_to_id
    return activity


class BotClient:
    """MeetBot running on a free port, plus an HTTP client that posts activities to it."""

    def __init__(self, srv: Server, session: aiohttp.ClientSession) -> None:
        self.srv = srv
        self.app = srv.app
        self.session = session

    async def post(self, activity: Any, *, token: str | None = None,
                   content_type: str = "application/json") -> aiohttp.ClientResponse:
        headers = {"Content-Type": content_type}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = activity if isinstance(activity, (bytes, str)) else json.dumps(activity)
        async with self.session.post(f"{self.srv.url}/api/messages", data=data,
                                     headers=headers) as resp:
            body = await resp.read()
            try:
                resp.body_json = json.loads(body)  # type: ignore[attr-defined]
            except ValueError:
                resp.body_json = None  # type: ignore[attr-defined]
            return resp


async def start_bot(env: dict[str, str]) -> BotClient:
    settings = load_settings({"LOG_FORMAT": "text", **env})
    srv = await serve(create_app(settings))
    return BotClient(srv, aiohttp.ClientSession())


async def stop_bot(client: BotClient) -> None:
    await client.session.close()
    await client.srv.server.close()


@pytest.fixture
async def demo_bot() -> AsyncIterator[BotClient]:
    """MeetBot exactly as `python app.py` starts it with no credentials: demo mode with the
    embedded Graph simulator."""
    client = await start_bot({})
    yield client
    await stop_bot(client)


# --- the whole local Microsoft cloud, with authentication on -----------------------------------
APP_ID = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
APP_SECRET = "local-test-secret"
GRAPH_AUDIENCE = "https://graph.microsoft.com"


@dataclass
class Cloud:
    issuer: LocalIssuer
    tls: Any
    entra: Any
    entra_url: str
    graph: Any
    graph_url: str
    connector: Any
    servers: list

    def bot_env(self, **extra: str) -> dict[str, str]:
        """Configuration a real deployment would have, pointed at the local cloud."""
        env = {
            "MicrosoftAppId": APP_ID, "MicrosoftAppPassword": APP_SECRET,
            "MicrosoftAppType": "MultiTenant", "BOT_DOMAIN": "meetbot.contoso.test",
            "GRAPH_BASE_URL": self.graph_url, "GRAPH_RESOURCE": GRAPH_AUDIENCE,
            "AZURE_AUTHORITY_HOST": self.entra_url,
            "SSL_CA_FILE": self.tls.ca_path,
            "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL":
                f"{self.entra_url}/v1/.well-known/openidconfiguration",
            "TO_BOT_FROM_CHANNEL_TOKEN_ISSUER": "https://api.botframework.com",
            "TO_CHANNEL_FROM_BOT_LOGIN_URL": f"{self.entra_url}/botframework.com",
            "TO_CHANNEL_FROM_BOT_OAUTH_SCOPE": "https://api.botframework.com/.default",
        }
        env.update(extra)
        return env

    def channel_token(self, service_url: str | None = None) -> str:
        return self.entra.channel_token(APP_ID, service_url or self.connector.url)


@pytest.fixture
async def cloud(issuer, monkeypatch) -> AsyncIterator[Cloud]:
    from localcloud.entra_sim import ENTRA_SIM, create_entra_app
    from localcloud.graph_sim import GRAPH_SIM, create_graph_app
    from localcloud.tls import LocalTLS

    tls = LocalTLS()
    # botbuilder reads the channel's OpenID document with plain `requests`; this env var is
    # the only way to make it trust the local CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_path)
    entra_srv = await serve(create_entra_app(
        issuer, clients={APP_ID: APP_SECRET},
        app_roles={GRAPH_AUDIENCE: ("OnlineMeetings.ReadWrite.All",)}),
        ssl=tls.server_ssl_context())
    entra_url = f"https://127.0.0.1:{entra_srv.server.port}"
    graph_srv = await serve(create_graph_app(issuer))
    conn_srv = await serve(create_connector_app(issuer, bot_app_id=APP_ID))
    connector = conn_srv.app[CONNECTOR_SIM]
    connector.url = conn_srv.url
    cloud = Cloud(issuer, tls, entra_srv.app[ENTRA_SIM], entra_url, graph_srv.app[GRAPH_SIM],
                  graph_srv.url, connector, [entra_srv, graph_srv, conn_srv])
    yield cloud
    for srv in cloud.servers:
        await srv.server.close()
