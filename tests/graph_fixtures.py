"""The Graph tests' environment: the simulator on a real loopback port, tokens, schemas. The
`graph_env` fixtures (conftest.py) are built with `graph_env_for`."""
from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
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


async def graph_env_for(issuer: LocalIssuer, **app_options: Any) -> AsyncIterator[GraphEnv]:
    """The Graph simulator on a free loopback port, and a session to reach it."""
    app = create_graph_app(issuer, **app_options)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield GraphEnv(app[GRAPH_SIM], str(server.make_url("")).rstrip("/"), session, issuer,
                       str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()))
    await server.close()


def assert_meeting_schema(body: dict) -> None:
    errors = sorted(MEETING_SCHEMA.iter_errors(body), key=str)
    assert not errors, errors[0].message


def assert_error_schema(body: dict) -> None:
    errors = sorted(ERROR_SCHEMA.iter_errors(body), key=str)
    assert not errors, errors[0].message
