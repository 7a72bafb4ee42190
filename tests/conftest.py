"""Fixtures: the local Microsoft cloud and MeetBot itself, each a real server on a free loopback
port. Tests talk to the bot over HTTP and read its replies at the connector simulator. Plain
helpers (activities, reading replies, signing in) are in tests/helpers.py."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from localcloud.connector_sim import CONNECTOR_SIM, create_connector_app
from localcloud.entra_sim import ENTRA_SIM, create_entra_app
from localcloud.issuer import LocalIssuer
from localcloud.tls import LocalTLS
from tests.graph_fixtures import GraphEnv, graph_env_for
from tests.helpers import (
    APP_ID,
    APP_SECRET,
    BOT_ID,
    BOT_SECRET,
    GRAPH_AUDIENCE,
    BotClient,
    Cloud,
    ThreadedServer,
    serve,
    start_bot,
    stop_bot,
)
from tests.redis_server import redis_server, redis_url  # noqa: F401 - a real redis-server


@pytest.fixture(scope="session")
def issuer() -> LocalIssuer:
    """One signing key for every simulator in the run, as one Entra ID tenant would have."""
    return LocalIssuer()


@pytest.fixture(scope="session")
def tls() -> Iterator[LocalTLS]:
    """A throw-away CA and server certificate: MSAL insists on https for Entra ID."""
    local = LocalTLS()
    yield local
    local.close()


@pytest.fixture
async def connector() -> AsyncIterator[Any]:
    """An anonymous Bot Connector (as the Agents Playground is): records every reply."""
    srv = await serve(create_connector_app())
    sim = srv.app[CONNECTOR_SIM]
    sim.url = srv.url
    yield sim
    await srv.server.close()


@pytest.fixture
async def demo_bot() -> AsyncIterator[BotClient]:
    """MeetBot exactly as `python app.py` starts it with no credentials: demo mode with the
    embedded Graph simulator."""
    client = await start_bot({})
    yield client
    await stop_bot(client)


@pytest.fixture
async def standalone_bot() -> AsyncIterator[BotClient]:
    """Demo mode with MEETINGS_ON_CALENDAR=never: every meeting a standalone onlineMeeting
    (createOrGet), invitees as its participants, as before calendar-backed meetings."""
    client = await start_bot({"MEETINGS_ON_CALENDAR": "never"})
    yield client
    await stop_bot(client)


@pytest.fixture
def entra(tls: LocalTLS, issuer: LocalIssuer) -> Iterator[tuple[str, Any]]:
    """(base URL, sim state) of a fresh Entra simulator over TLS with the bot registered, on
    its own thread: MSAL and botbuilder's metadata reader block."""
    app = create_entra_app(issuer, clients={BOT_ID: BOT_SECRET})
    with ThreadedServer(app, tls.server_ssl_context()) as server:
        yield server.url, app[ENTRA_SIM]


@pytest.fixture
async def graph_env(issuer: LocalIssuer) -> AsyncIterator[GraphEnv]:
    async for env in graph_env_for(issuer):
        yield env


@pytest.fixture
async def graph_env_fast(issuer: LocalIssuer) -> AsyncIterator[GraphEnv]:
    """The benchmark's configuration: no schema checks."""
    async for env in graph_env_for(issuer, validate_schemas=False):
        yield env


# --- the whole local Microsoft cloud, with authentication on -----------------------------------
@pytest.fixture
async def cloud(issuer: LocalIssuer, tls: LocalTLS, monkeypatch: pytest.MonkeyPatch
                ) -> AsyncIterator[Cloud]:
    from localcloud.graph_sim import GRAPH_SIM, create_graph_app

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
