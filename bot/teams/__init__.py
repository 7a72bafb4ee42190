"""The Teams edge: the only code that speaks the Bot Framework (botbuilder, botframework-connector,
msrest). Moving MeetBot to the Microsoft 365 Agents SDK replaces this package and nothing else.

- adapter.py: /api/messages, request checks, authentication first (botbuilder's CloudAdapter)
- auth.py: the channel token: issuer guard, signing keys, botbuilder's validation
- router.py: an activity -> `Inbound` + `TeamsTurn`, the invoke table, the tenant allow-list
- replies.py: Teams' reply shapes, and `error_reply`, the one place errors become replies
- connector.py: the Bot Connector client on the shared aiohttp session
"""
from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web

from bot.config import Settings
from bot.handlers import MeetBot
from bot.telemetry import Metrics
from bot.tokens import TokenBroker

from .adapter import TeamsAdapter
from .auth import (
    ChannelAuthentication,
    ChannelTokenGate,
    SigningKeys,
    bot_framework_authentication,
    channel_issuer,
    channel_metadata_url,
)
from .connector import PooledConnectorFactory
from .router import TeamsRouter


@dataclass(frozen=True)
class TeamsEdge:
    adapter: TeamsAdapter
    router: TeamsRouter

    async def handle(self, request: web.Request) -> web.Response:
        return await self.adapter.process(request, self.router)


def create_edge(settings: Settings, session: aiohttp.ClientSession, broker: TokenBroker,
                bot: MeetBot, metrics: Metrics, *, signin_url: str) -> TeamsEdge:
    connectors = PooledConnectorFactory(session, broker.bot_token)
    keys = SigningKeys(session, channel_metadata_url(settings)) if settings.authenticated \
        else None
    authentication = ChannelAuthentication(bot_framework_authentication(settings), connectors,
                                           keys)
    gate = ChannelTokenGate(keys, issuer=channel_issuer(settings), app_id=settings.app_id) \
        if keys is not None else None
    adapter = TeamsAdapter(authentication, metrics, token_gate=gate,
                           loopback_only=settings.demo and not settings.authenticated)
    router = TeamsRouter(bot, connectors, sso_resource=settings.sso_resource, signin_url=signin_url,
                         connection_name=settings.sso_connection_name, demo=settings.demo)
    adapter.on_turn_error = router.on_turn_error
    return TeamsEdge(adapter, router)
