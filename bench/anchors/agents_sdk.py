"""Anchor (c): Microsoft 365 Agents SDK (AgentApplication + its aiohttp CloudAdapter), anonymous,
wired like the SDK's quickstart sample: configuration from the environment, MsalConnectionManager,
Authorization, AgentApplication[TurnState] with MemoryStorage (the SDK requires a storage),
`start_agent_process` behind `jwt_authorization_middleware`. The only departure: the typing
timer is off, so it does exactly the anchors' work. Runs in bench/.venv-agents.
Env: PORT, GRAPH_BASE_URL.
"""
from __future__ import annotations

import os

from _work import graph_body, meeting_card, parse
from aiohttp import ClientSession
from aiohttp.web import Application, Request, Response, run_app
from microsoft_agents.activity import load_configuration_from_env
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import (
    CloudAdapter,
    jwt_authorization_middleware,
    start_agent_process,
)
from microsoft_agents.hosting.core import (
    AgentApplication,
    Authorization,
    CardFactory,
    MemoryStorage,
    MessageFactory,
    TurnContext,
    TurnState,
)

GRAPH_URL = os.environ["GRAPH_BASE_URL"].rstrip("/") + "/v1.0/me/onlineMeetings"

# What the sample's .env says for a local, anonymous agent (no app registration).
os.environ.setdefault("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED", "true")
agents_sdk_config = load_configuration_from_env(os.environ)

STORAGE = MemoryStorage()
CONNECTION_MANAGER = MsalConnectionManager(**agents_sdk_config)
ADAPTER = CloudAdapter(connection_manager=CONNECTION_MANAGER)
AUTHORIZATION = Authorization(STORAGE, CONNECTION_MANAGER, **agents_sdk_config)
AGENT_APP = AgentApplication[TurnState](storage=STORAGE, adapter=ADAPTER, authorization=AUTHORIZATION,
                                        start_typing_timer=False, **agents_sdk_config)
_session: ClientSession | None = None


@AGENT_APP.activity("message")
async def on_message(context: TurnContext, _state: TurnState) -> None:
    global _session
    command = parse(context.activity.text)
    if command is None:
        return
    if _session is None:
        _session = ClientSession()
    async with _session.post(GRAPH_URL, json=graph_body(*command), headers={"Authorization": "Bearer anchor"}) as resp:
        resp.raise_for_status()
        meeting = await resp.json()
    await context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(meeting_card(meeting))))


async def entry_point(req: Request) -> Response:
    return await start_agent_process(req, req.app["agent_app"], req.app["adapter"])


def main() -> None:
    app = Application(middlewares=[jwt_authorization_middleware])
    app.router.add_post("/api/messages", entry_point)
    app["agent_configuration"] = CONNECTION_MANAGER.get_default_connection_configuration()
    app["agent_app"] = AGENT_APP
    app["adapter"] = ADAPTER
    run_app(app, host="127.0.0.1", port=int(os.environ.get("PORT", "3978")), print=None, access_log=None)


if __name__ == "__main__":
    main()
