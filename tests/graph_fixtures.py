"""Fixtures for the Graph tests: the simulator on a real loopback port, tokens, schemas.

Import the fixtures by name in a test module (`from tests.graph_fixtures import graph_env`).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from jsonschema import Draft202012Validator

from bot.graph import GraphClient
from localcloud.graph_sim import GRAPH, GRAPH_SIM, GraphSim, create_graph_app
from localcloud.issuer import LocalIssuer

SCHEMAS = Path(__file__).resolve().parents[1] / "localcloud" / "schemas"
DATA = Path(__file__).resolve().parent / "data" / "graph"
MEETING_SCHEMA = Draft202012Validator(json.loads((SCHEMAS / "graph-onlineMeeting.schema.json").read_text()))
ERROR_SCHEMA = Draft202012Validator(json.loads((SCHEMAS / "graph-error.schema.json").read_text()))


@dataclass
class GraphEnv:
    """A running simulator, a session to reach it and the identities the tests play."""

    sim: GraphSim
    base_url: str
    session: aiohttp.ClientSession
    issuer: LocalIssuer
    tenant: str
    user: str
    app_id: str

    def delegated_token(self, *, user: str | None = None, tenant: str | None = None,
                        scp: str = "OnlineMeetings.ReadWrite User.Read", **claims: Any) -> str:
        return self.issuer.issue({"aud": GRAPH, "tid": tenant or self.tenant, "oid": user or self.user,
                                  "scp": scp, "upn": "organizer@contoso.test", "name": "Org Anizer",
                                  **claims})

    def app_token(self, *, roles: tuple[str, ...] = ("OnlineMeetings.ReadWrite.All",),
                  **claims: Any) -> str:
        return self.issuer.issue({"aud": GRAPH, "tid": self.tenant, "azp": self.app_id,
                                  "appid": self.app_id, "roles": list(roles), **claims})

    def client(self, **kwargs: Any) -> GraphClient:
        return GraphClient(self.session, self.base_url, **kwargs)

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture(scope="session")
def graph_issuer() -> LocalIssuer:
    return LocalIssuer()


async def _env(issuer: LocalIssuer, **app_options: Any):
    app = create_graph_app(issuer, **app_options)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield GraphEnv(app[GRAPH_SIM], str(server.make_url("")).rstrip("/"), session, issuer,
                       str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()))
    await server.close()


@pytest_asyncio.fixture
async def graph_env(graph_issuer: LocalIssuer):
    async for env in _env(graph_issuer):
        yield env


@pytest_asyncio.fixture
async def graph_env_fast(graph_issuer: LocalIssuer):
    """The benchmark's configuration: no schema checks."""
    async for env in _env(graph_issuer, validate_schemas=False):
        yield env


def assert_meeting_schema(body: dict) -> None:
    errors = sorted(MEETING_SCHEMA.iter_errors(body), key=str)
    assert not errors, errors[0].message


def assert_error_schema(body: dict) -> None:
    errors = sorted(ERROR_SCHEMA.iter_errors(body), key=str)
    assert not errors, errors[0].message
