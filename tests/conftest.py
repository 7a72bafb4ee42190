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


async def serve(app: web.Application, **kwargs: Any) -> Server:
    server = TestServer(app, host="127.0.0.1", **kwargs)
    await server.start_server()
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
            await resp.read()
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
