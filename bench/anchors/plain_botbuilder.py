"""Anchor (b): botbuilder 4.17.1 CloudAdapter + TeamsActivityHandler, written the way Microsoft's
Teams samples are (DefaultConfig, ConfigurationBotFrameworkAuthentication, `ADAPTER.process`,
`send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))`), anonymous
(empty app id). The Graph call uses one shared aiohttp session, as any sensible sample would.
Env: PORT, GRAPH_BASE_URL.
"""
from __future__ import annotations

import os
import sys
import traceback

from _work import graph_body, meeting_card, parse
from aiohttp import ClientSession, web
from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.core.integration import aiohttp_error_middleware
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication


class DefaultConfig:
    """Bot configuration, as in the samples' config.py."""

    PORT = int(os.environ.get("PORT", "3978"))
    APP_ID = os.environ.get("MicrosoftAppId", "")
    APP_PASSWORD = os.environ.get("MicrosoftAppPassword", "")
    APP_TYPE = os.environ.get("MicrosoftAppType", "MultiTenant")
    APP_TENANTID = os.environ.get("MicrosoftAppTenantId", "")
    GRAPH_URL = os.environ["GRAPH_BASE_URL"].rstrip("/") + "/v1.0/me/onlineMeetings"


CONFIG = DefaultConfig()
ADAPTER = CloudAdapter(ConfigurationBotFrameworkAuthentication(CONFIG))


async def on_error(context: TurnContext, error: Exception) -> None:
    print(f"\n [on_turn_error] unhandled error: {error}", file=sys.stderr)
    traceback.print_exc()
    await context.send_activity("The bot encountered an error or bug.")


ADAPTER.on_turn_error = on_error


class MeetBotAnchor(TeamsActivityHandler):
    def __init__(self) -> None:
        self.session: ClientSession | None = None

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        command = parse(turn_context.activity.text)
        if command is None:
            return
        if self.session is None:
            self.session = ClientSession()
        async with self.session.post(CONFIG.GRAPH_URL, json=graph_body(*command),
                                     headers={"Authorization": "Bearer anchor"}) as resp:
            resp.raise_for_status()
            meeting = await resp.json()
        await turn_context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(meeting_card(meeting))))


BOT = MeetBotAnchor()


async def messages(req: web.Request) -> web.Response:
    return await ADAPTER.process(req, BOT)


APP = web.Application(middlewares=[aiohttp_error_middleware])
APP.router.add_post("/api/messages", messages)

if __name__ == "__main__":
    web.run_app(APP, host="127.0.0.1", port=CONFIG.PORT, print=None, access_log=None)
