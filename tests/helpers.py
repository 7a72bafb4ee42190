"""What the tests share: activities shaped like Teams', MeetBot on a free port, the local
cloud's handles, reading replies at the connector simulator, and signing in. Fixtures that build
these live in conftest.py; everything here is a plain function or class."""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import msal
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.config import load_settings
from bot.hosting import create_app
from localcloud.issuer import LocalIssuer
from localcloud.tls import LocalTLS
from tests.redis_server import free_port

__all__ = ["free_port"]

ROOT = Path(__file__).resolve().parents[1]
ADAPTIVE = "application/vnd.microsoft.card.adaptive"
OAUTH = "application/vnd.microsoft.card.oauth"


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


@dataclass
class User:
    name: str = "Ana Lopez"
    aad_object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    teams_id: str = field(default_factory=lambda: f"29:{uuid.uuid4().hex}")
    tenant_id: str = TENANT
    locale: str = "en-US"  # their Teams language: activity.locale and clientInfo.locale


def message(text: str, *, service_url: str, user: User | None = None, kind: str = "personal",
            conversation_id: str | None = None, timezone_name: str | None = "Europe/Berlin",
            mentions: list[dict] | None = None, activity_id: str | None = None,
            value: Any = None) -> dict:
    """A message activity shaped like the ones Teams sends."""
    user = user or User()
    conv = conversation_id or {"personal": f"a:{user.teams_id}",
                               "groupChat": "19:group@thread.v2",
                               "channel": "19:general@thread.tacv2;messageid=1700000000000"}[kind]
    now = datetime.now(UTC)
    activity = {
        "type": "message", "id": activity_id or f"17000{next(_ids):08d}",
        "timestamp": now.isoformat(), "serviceUrl": service_url, "channelId": "msteams",
        "from": {"id": user.teams_id, "name": user.name, "aadObjectId": user.aad_object_id},
        "conversation": {"id": conv, "conversationType": kind, "tenantId": user.tenant_id,
                         **({"isGroup": True} if kind != "personal" else {})},
        "recipient": {"id": "28:meetbot", "name": "MeetBot"},
        "text": text, "textFormat": "plain", "locale": user.locale,
        "entities": [{"type": "clientInfo", "locale": user.locale, "platform": "Web",
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


async def post_activity(session: aiohttp.ClientSession, base_url: str, activity: Any, *,
                        token: str | None = None,
                        content_type: str = "application/json") -> aiohttp.ClientResponse:
    """POST /api/messages as Teams does; the answer's JSON (or None) is in `.body_json`."""
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = activity if isinstance(activity, (bytes, str)) else json.dumps(activity)
    async with session.post(f"{base_url}/api/messages", data=data, headers=headers) as resp:
        body = await resp.read()
        try:
            resp.body_json = json.loads(body)  # type: ignore[attr-defined]
        except ValueError:
            resp.body_json = None  # type: ignore[attr-defined]
        return resp


class BotClient:
    """MeetBot running on a free port, plus an HTTP client that posts activities to it."""

    def __init__(self, srv: Server, session: aiohttp.ClientSession) -> None:
        self.srv = srv
        self.app = srv.app
        self.session = session

    async def post(self, activity: Any, *, token: str | None = None,
                   content_type: str = "application/json") -> aiohttp.ClientResponse:
        return await post_activity(self.session, self.srv.url, activity, token=token,
                                   content_type=content_type)


# Settings a test's own environment may hold that must not leak into a bot it starts.
_BOT_SETTINGS = ("Microsoft", "GRAPH_", "REDIS", "STATE_", "TO_BOT_", "TO_CHANNEL_", "AZURE_",
                 "SSO_", "BOT_", "ALLOWED_", "ACK_", "PORT", "HOST", "WORKERS")


class AppProcess:
    """`python app.py` as an operator starts it, on a free loopback port, with `env` on top of
    the test's environment; its output goes to `log_path`. For what needs a real process:
    SIGKILL, SIGTERM, several instances."""

    def __init__(self, env: dict[str, str], log_path: Path | None = None, *,
                 host: str | None = "127.0.0.1") -> None:
        """`host=None` leaves HOST unset, so the bot listens where its own default says."""
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="meetbot-app-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        base = {k: v for k, v in os.environ.items() if not k.startswith(_BOT_SETTINGS)}
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "app.py"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                env={**base, "PORT": str(self.port), **({"HOST": host} if host else {}),
                     **env})
        self.session = aiohttp.ClientSession()

    async def ready(self, timeout: float = 60.0) -> None:
        """Waits until /healthz answers (imports and start-up take seconds on a busy machine)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                async with self.session.get(f"{self.url}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"app.py did not start:\n{self.output()}")
            await asyncio.sleep(0.1)

    async def post(self, activity: Any, *, token: str | None = None,
                   content_type: str = "application/json") -> aiohttp.ClientResponse:
        return await post_activity(self.session, self.url, activity, token=token,
                                   content_type=content_type)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no drain; whatever it held is left as it was."""
        self.proc.kill()
        self.proc.wait(10)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def rss_kb(self) -> int:
        """VmRSS of the process, from /proc/<pid>/status."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines()
                        if line.startswith("VmRSS:")))

    async def stop(self) -> str:
        """SIGTERM, wait for the drain, and everything it logged."""
        await self.close()
        return self.log_path.read_text(errors="replace")

    async def close(self) -> None:
        await self.session.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def start_bot(env: dict[str, str]) -> BotClient:
    settings = load_settings({"LOG_FORMAT": "text", **env})
    srv = await serve(create_app(settings))
    return BotClient(srv, aiohttp.ClientSession())


async def stop_bot(client: BotClient) -> None:
    await client.session.close()
    await client.srv.server.close()


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


def card_of(activity: dict) -> dict | None:
    for att in activity.get("attachments") or ():
        if att.get("contentType") == ADAPTIVE:
            return att["content"]
    return None


def card_text(card: dict) -> str:
    return json.dumps(card, ensure_ascii=False)


async def reply_to(connector, activity_id: str, kind: str = "message", timeout: float = 10):
    call = await connector.wait_for(
        lambda c: c.op in ("reply", "send") and c.body.get("type") == kind
        and (c.activity_id == activity_id or c.body.get("replyToId") == activity_id),
        timeout=timeout)
    return call.body


def walk(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


CHANNEL = "19:general@thread.tacv2;messageid=1700000000000"


TEAM = "19:team@thread.tacv2"


def actions_of(card: dict) -> dict[str, dict]:
    """Title -> action, for every Action.* in a card (body and actions); an Action.Execute
    wins over its Action.Submit fallback."""
    found: dict[str, dict] = {}
    for a in walk(card):
        if str(a.get("type", "")).startswith("Action.") and a.get("title"):
            if a["title"] not in found or a["type"] == "Action.Execute":
                found[a["title"]] = a
    return found


def execute(action: dict, *, trigger: str = "manual") -> dict:
    return {"action": {"type": "Action.Execute", "verb": action.get("verb"),
                       "data": action.get("data", {})}, "trigger": trigger}


def member(user: User) -> dict:
    return {"id": user.teams_id, "name": user.name, "aadObjectId": user.aad_object_id,
            "userPrincipalName": f"{user.name.lower()}@contoso.com", "tenantId": user.tenant_id}


def mention(user: User) -> dict:
    """The mention entity Teams adds for `<at>{name}</at>` in a message's text."""
    return {"type": "mention", "text": f"<at>{user.name}</at>",
            "mentioned": {"id": user.teams_id, "name": user.name}}


def graph_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")[:26] + "+00:00"
                                  if "." in value else value.replace("Z", "+00:00"))


def posted_id(connector, predicate) -> str:
    """The id the connector gave the bot's message that matches `predicate`."""
    for conversation in connector.conversations.values():
        for activity_id, activity in conversation.activities.items():
            if predicate(activity):
                return activity_id
    raise AssertionError("no such message")


async def next_activity(connector, predicate, timeout=10.0):
    return (await connector.wait_for(lambda c: c.op in ("reply", "send") and c.body
                                     and predicate(c.body), timeout=timeout)).body


def oauth_card(body: dict) -> dict | None:
    for att in body.get("attachments") or ():
        if att.get("contentType") == OAUTH:
            return att["content"]
    return None


async def ask_to_sign_in(bot, cloud, user: User, text: str = "meet now", *,
                         expired: bool = False) -> tuple[dict, dict, str]:
    """A command without a Graph token: the OAuthCard, its activity, and the SSO token Teams
    would put in the silent signin/tokenExchange."""
    act = message(text, service_url=cloud.connector.url, user=user)
    assert (await bot.post(act, token=cloud.channel_token())).status in (200, 201)
    body = await next_activity(cloud.connector, lambda b: oauth_card(b) is not None
                               and b.get("replyToId") == act["id"])
    sso = cloud.entra.user_sso_token(user.aad_object_id, user.tenant_id, app_id=APP_ID,
                                     name=user.name, expired=expired)
    return oauth_card(body), act, sso


async def sign_in(bot, cloud, user: User, text: str = "meet now about planning"):
    """First command: OAuthCard; Teams' silent token exchange; the waiting command finishes."""
    card, act, sso = await ask_to_sign_in(bot, cloud, user, text)
    resource = card["tokenExchangeResource"]
    assert resource["uri"] == f"api://botid-{APP_ID}"
    exchange = invoke("signin/tokenExchange",
                      {"id": resource["id"], "connectionName": card.get("connectionName"),
                       "token": sso}, service_url=cloud.connector.url, user=user)
    return await bot.post(exchange, token=cloud.channel_token()), act


def our_errors(records: list[logging.LogRecord]) -> list[str]:
    """ERROR records about MeetBot's own code: logged by it, or with a traceback through it
    (the simulators' servers log their own dropped connections; those are not ours)."""
    ours = (str(ROOT / "bot"), str(ROOT / "cards"), str(ROOT / "app.py"))
    found = []
    for record in records:
        if record.levelno < logging.ERROR:
            continue
        frames = traceback.extract_tb(record.exc_info[2]) if record.exc_info else []
        if record.name.startswith(("bot", "cards")) or any(f.filename.startswith(ours)
                                                           for f in frames):
            found.append(f"{record.name}: {record.getMessage()} {record.exc_info and record.exc_info[1]!r}")
    return found


BOT_ID = str(uuid.uuid4())


BOT_SECRET = "s3cr3t~value"


class ThreadedServer:
    """An aiohttp app served on 127.0.0.1:<free port> by an event loop in its own thread."""

    def __init__(self, app: web.Application, ssl_context=None) -> None:
        self._app, self._ssl = app, ssl_context
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> str:
        self._runner = web.AppRunner(self._app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl).start()
        port = self._runner.addresses[0][1]
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def cca(tls: LocalTLS, base: str, tenant: str = TENANT, secret: str = BOT_SECRET,
        **kwargs) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        BOT_ID, client_credential=secret, authority=f"{base}/{tenant}",
        http_client=tls.requests_session(), **{"instance_discovery": False, **kwargs})


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def refuses_connections(port: int) -> bool:
    """Nothing accepts connections on this loopback port (a server stopped listening)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return False
    except OSError:
        return True


def of_type(card: dict, kind: str) -> list[dict]:
    return [n for n in walk(card) if n.get("type") == kind]


def texts(card: dict) -> list[str]:
    return [n["text"] for n in of_type(card, "TextBlock")]


BOT_MENTION = {"type": "mention", "text": "<at>MeetBot</at>",
               "mentioned": {"id": "28:meetbot", "name": "MeetBot"}}


def crowd(n: int) -> list[dict]:
    """`n` members as Teams lists them."""
    return [{"id": f"29:member-{i}", "name": f"M{i}",
             "aadObjectId": f"00000000-0000-4000-8000-{i:012d}"} for i in range(n)]


def mentioning(organizer: User, people: list[dict], service_url: str, subject: str = "launch",
               conversation_id: str = "19:general@thread.tacv2;messageid=1700000000000") -> dict:
    """A channel message that @mentions MeetBot and each of `people`."""
    tags = " ".join(f"<at>{p['name']}</at>" for p in people)
    return message(f"<at>MeetBot</at> meet now about {subject} with {tags}",
                   service_url=service_url, user=organizer, kind="channel",
                   conversation_id=conversation_id,
                   mentions=[BOT_MENTION] + [
                       {"type": "mention", "text": f"<at>{p['name']}</at>",
                        "mentioned": {"id": p["id"], "name": p["name"]}} for p in people])
