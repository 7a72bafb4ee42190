"""Bot Connector client on the process's one aiohttp session, one per serviceUrl.

botbuilder's CloudAdapter builds a new msrest `ConnectorClient` (and a `UserTokenClient`) for every
activity and sends each reply through `requests` in asyncio's default thread pool: ~14 ms of CPU
per turn building msrest configurations, at most ~6 replies in flight, and a new TCP connection
per reply. This client keeps the same method names that CloudAdapterBase and our router call
(`conversations.reply_to_activity`, `send_to_conversation`, `update_activity`, …), is built once
per serviceUrl, and reuses pooled keep-alive connections. It is wired in through botbuilder's
own seam (a `ConnectorFactory`), nothing is patched.
"""
from __future__ import annotations

import logging
from datetime import datetime
from enum import Enum
from typing import Any, Awaitable, Callable
from urllib.parse import quote

import aiohttp
from botbuilder.schema import Activity, ChannelAccount, ResourceResponse
from botframework.connector.auth import ConnectorFactory

log = logging.getLogger(__name__)

TokenSource = Callable[[], Awaitable[str | None]]


class ConnectorError(Exception):
    def __init__(self, status: int, method: str, path: str) -> None:
        super().__init__(f"Bot Connector answered {status} to {method} {path}")
        self.status = status


def _q(value: str) -> str:
    return quote(value, safe="")


_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {}


def to_json(value: Any) -> Any:
    """Bot Framework schema models -> the JSON the Connector expects, as msrest would write it
    (camelCase keys from each model's attribute map, None left out), for a fraction of the CPU:
    msrest re-validates every node of an Adaptive Card it cannot know anything about. Plain
    dicts (card content) pass through as they are."""
    fields = _FIELDS.get(type(value))
    if fields is None:
        attribute_map = getattr(type(value), "_attribute_map", None)
        if attribute_map is None:
            if isinstance(value, list):
                return [to_json(v) for v in value]
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, Enum):
                return value.value
            return value
        fields = _FIELDS[type(value)] = tuple(
            (attr, spec["key"]) for attr, spec in attribute_map.items()
            if attr != "additional_properties")
    out = {}
    for attr, key in fields:
        item = getattr(value, attr, None)
        if item is not None:
            out[key] = to_json(item)
    extra = getattr(value, "additional_properties", None)
    if extra:
        out.update(extra)
    return out


class Conversations:
    def __init__(self, client: "BotConnector") -> None:
        self._c = client

    async def send_to_conversation(self, conversation_id: str, activity: Activity) -> ResourceResponse:
        body = await self._c.call("POST", f"/v3/conversations/{_q(conversation_id)}/activities",
                                  to_json(activity))
        return ResourceResponse(id=(body or {}).get("id"))

    async def reply_to_activity(self, conversation_id: str, activity_id: str,
                                activity: Activity) -> ResourceResponse:
        body = await self._c.call(
            "POST", f"/v3/conversations/{_q(conversation_id)}/activities/{_q(activity_id)}",
            to_json(activity))
        return ResourceResponse(id=(body or {}).get("id"))

    async def update_activity(self, conversation_id: str, activity_id: str,
                              activity: Activity) -> ResourceResponse:
        body = await self._c.call(
            "PUT", f"/v3/conversations/{_q(conversation_id)}/activities/{_q(activity_id)}",
            to_json(activity))
        return ResourceResponse(id=(body or {}).get("id") or activity_id)

    async def delete_activity(self, conversation_id: str, activity_id: str) -> None:
        await self._c.call(
            "DELETE", f"/v3/conversations/{_q(conversation_id)}/activities/{_q(activity_id)}")

    async def get_conversation_member(self, conversation_id: str,
                                      member_id: str) -> ChannelAccount:
        # A model, as botframework-connector returns: TeamsInfo re-serialises it.
        return ChannelAccount().deserialize(await self._c.call(
            "GET", f"/v3/conversations/{_q(conversation_id)}/members/{_q(member_id)}") or {})

    async def get_member(self, conversation_id: str, member_id: str) -> dict:
        """The member as Teams returns it (TeamsChannelAccount JSON: aadObjectId, …)."""
        return await self._c.call(
            "GET", f"/v3/conversations/{_q(conversation_id)}/members/{_q(member_id)}")

    async def get_conversation_paged_members(self, conversation_id: str, page_size: int = 500,
                                             continuation_token: str | None = None) -> dict:
        params = {"pageSize": str(page_size)}
        if continuation_token:
            params["continuationToken"] = continuation_token
        return await self._c.call(
            "GET", f"/v3/conversations/{_q(conversation_id)}/pagedmembers", params=params)


class BotConnector:
    """Duck-typed stand-in for botframework-connector's `ConnectorClient`."""

    def __init__(self, session: aiohttp.ClientSession, service_url: str, token: TokenSource,
                 timeout: float = 15.0) -> None:
        self.service_url = service_url.rstrip("/")
        self._session = session
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.conversations = Conversations(self)

    async def call(self, method: str, path: str, body: Any = None, params: dict | None = None):
        headers = {}
        token = await self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self._session.request(method, self.service_url + path, json=body,
                                         params=params, headers=headers,
                                         timeout=self._timeout) as resp:
            if resp.status >= 400:
                raise ConnectorError(resp.status, method, path)
            if resp.status == 204 or resp.content_length == 0:
                return None
            try:
                return await resp.json(content_type=None)
            except ValueError:
                return None

    async def close(self) -> None:  # the session belongs to the app
        return None


class PooledConnectorFactory(ConnectorFactory):
    """One BotConnector per serviceUrl for the life of the process."""

    def __init__(self, session: aiohttp.ClientSession, token: TokenSource,
                 max_clients: int = 1000) -> None:
        self._session = session
        self._token = token
        self._clients: dict[str, BotConnector] = {}
        self._max = max_clients

    async def create(self, service_url: str, audience: str = None) -> BotConnector:
        return self.get(service_url)

    def get(self, service_url: str) -> BotConnector:
        client = self._clients.get(service_url)
        if client is None:
            if len(self._clients) >= self._max:  # Teams uses a handful; bound it anyway
                self._clients.pop(next(iter(self._clients)))
            client = self._clients[service_url] = BotConnector(self._session, service_url,
                                                               self._token)
        return client
