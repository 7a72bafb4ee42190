"""Bot Connector client on the process's one aiohttp session, one per serviceUrl.

botbuilder's CloudAdapter builds a new msrest `ConnectorClient` (and a `UserTokenClient`) for every
activity and sends each reply through `requests` in asyncio's default thread pool: ~14 ms of CPU
per turn building msrest configurations, at most ~6 replies in flight, and a new TCP connection
per reply. This client keeps the same method names that CloudAdapterBase and our router call
(`conversations.reply_to_activity`, `send_to_conversation`, `update_activity`, …), is built once
per serviceUrl, and reuses pooled keep-alive connections. It is wired in through botbuilder's
own seam (a `ConnectorFactory`), nothing is patched.

Retries (aiohttp-retry, like the Graph client): the Bot Connector rate-limits every call with 429
and Microsoft asks bots to back off exponentially with random jitter and to retry 412, 502 and
504 as well ("Optimize your bot with rate limiting in Teams", Microsoft Learn). Each call gets
exponential backoff with ±20 % jitter, waits what `Retry-After` says (up to `max_retry_after`;
longer and the call gives up at once), and all of it runs inside one overall deadline. Which
failures are retried depends on whether repeating the request is safe:
- PUT (update the same activity id), GET and DELETE are idempotent: 412, 429, 500, 502, 503,
  504, broken connections, truncated answers and attempt timeouts are all retried.
- POST creates a new activity, and the Connector has no idempotency key, so a POST is repeated
  only after an answer that says it was not carried out, or when it never left: 429 and 503
  (refused before any work), 412 (a failed precondition is not applied) and 502/504, which
  Microsoft's page names explicitly for bot calls; and a connection that could not be opened
  (refused, connect timeout). Not after a 500, a connection reset mid-request or a read timeout:
  the activity may already be in the chat (RFC 9112 §9.3.1.1: no automatic retry of a
  non-idempotent request), so a second copy would be worse than the error the caller sees.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp_retry import ExponentialRetry, RetryClient
from botbuilder.schema import Activity, ChannelAccount, ResourceResponse
from botframework.connector.auth import ConnectorFactory

from bot.errors import ConnectorError
from bot.graph import retry_after

__all__ = ["BotConnector", "ConnectorError", "PooledConnectorFactory", "to_json"]

log = logging.getLogger(__name__)

TokenSource = Callable[[], Awaitable[str | None]]

# What makes a call worth repeating; see the module docstring for why POST has shorter lists.
POST_RETRY_STATUSES = frozenset({412, 429, 502, 503, 504})
POST_RETRY_EXCEPTIONS = {aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError}
RETRY_STATUSES = POST_RETRY_STATUSES | {500}
RETRY_EXCEPTIONS = {aiohttp.ClientConnectionError, aiohttp.ClientPayloadError,
                    asyncio.TimeoutError}


MAX_BACKOFF = 2.0


class ConnectorRetry(ExponentialRetry):
    """aiohttp-retry options for one Connector call (a new one per call: it remembers the last
    answer, which the final ConnectorError reports).

    The response callback reads the body inside the retry loop, so every retried response
    frees its connection. A `Retry-After` longer than `max_retry_after` is not cut short (that
    would ignore the Connector): the call gives up at once and the caller gets the 429."""

    def __init__(self, method: str, *, attempts: int, max_retry_after: float) -> None:
        self.max_retry_after = max_retry_after
        self.idempotent = method != "POST"
        self.retry_statuses = RETRY_STATUSES if self.idempotent else POST_RETRY_STATUSES
        self.last_status: int | None = None
        self.last_retry_after: float | None = None
        # Our own waits stop growing at MAX_BACKOFF, so a reply's deadline holds several more
        # attempts after a bad patch (a Connector unreachable for a second or two); a longer
        # Retry-After is still honoured (get_timeout).
        super().__init__(attempts=attempts, start_timeout=0.25,
                         max_timeout=min(MAX_BACKOFF, max_retry_after),
                         statuses=set(), retry_all_server_errors=False,
                         exceptions=RETRY_EXCEPTIONS if self.idempotent else POST_RETRY_EXCEPTIONS,
                         evaluate_response_callback=self._final)

    async def _final(self, response: aiohttp.ClientResponse) -> bool:
        """True: hand this response to the caller; False: retry."""
        self.last_status = response.status
        self.last_retry_after = retry_after(response.headers)
        try:
            await response.read()
        except aiohttp.ClientPayloadError:
            # The request was carried out; only its answer broke. Repeat it only if that is safe.
            return not self.idempotent
        if response.status not in self.retry_statuses:
            return True
        wait = self.last_retry_after
        return wait is not None and wait > self.max_retry_after

    def get_timeout(self, attempt: int, response: aiohttp.ClientResponse | None = None) -> float:
        wait = retry_after(response.headers) if response is not None else None
        if wait is not None:
            return wait
        # Jitter, so calls throttled together do not come back together.
        return super().get_timeout(attempt) * random.uniform(0.8, 1.2)


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


def _object(answer: Any) -> dict[str, Any]:
    """A JSON object the Connector answered, or {} for anything else (an empty 200, a list)."""
    return answer if isinstance(answer, dict) else {}


class Conversations:
    def __init__(self, client: BotConnector) -> None:
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

    async def get_member(self, conversation_id: str, member_id: str) -> dict[str, Any]:
        """The member as Teams returns it (TeamsChannelAccount JSON: aadObjectId, …)."""
        return _object(await self._c.call(
            "GET", f"/v3/conversations/{_q(conversation_id)}/members/{_q(member_id)}"))

    async def get_conversation_paged_members(self, conversation_id: str, page_size: int = 500,
                                             continuation_token: str | None = None
                                             ) -> dict[str, Any] | None:
        params = {"pageSize": str(page_size)}
        if continuation_token:
            params["continuationToken"] = continuation_token
        page = await self._c.call(
            "GET", f"/v3/conversations/{_q(conversation_id)}/pagedmembers", params=params)
        return page if isinstance(page, dict) else None  # not a page: the caller says so


class BotConnector:
    """Duck-typed stand-in for botframework-connector's `ConnectorClient`.

    `deadline` bounds one call, retries and waits included (the bot's token is fetched before
    it starts: the token broker bounds its own waits); one attempt may take `deadline / 2`, so
    a hung attempt leaves room for another. `attempts` is generous on purpose: a card the
    Connector keeps throttling is lost for good once given up (Teams got its answer already),
    so the deadline, not the count, should end the trying."""

    def __init__(self, session: aiohttp.ClientSession, service_url: str, token: TokenSource,
                 *, deadline: float = 10.0, max_retry_after: float = 5.0,
                 attempts: int = 8) -> None:
        self.service_url = service_url.rstrip("/")
        self._token = token
        self._deadline = deadline
        self._max_retry_after = max_retry_after
        self._attempts = attempts
        attempt = deadline / 2
        self._attempt_timeout = aiohttp.ClientTimeout(total=attempt,
                                                      sock_connect=min(attempt, 3.0))
        self._http = RetryClient(client_session=session)
        self.conversations = Conversations(self)

    async def call(self, method: str, path: str, body: Any = None,
                   params: dict[str, str] | None = None) -> Any:
        """One Connector call, retried as the module docstring says. Returns the parsed JSON
        answer (None when empty or unreadable); raises ConnectorError when it finally fails."""
        headers = {}
        token = await self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        policy = ConnectorRetry(method, attempts=self._attempts,
                                max_retry_after=self._max_retry_after)
        deadline = asyncio.timeout(self._deadline)
        try:
            async with deadline:
                async with self._http.request(method, self.service_url + path, json=body,
                                              params=params, headers=headers,
                                              timeout=self._attempt_timeout,
                                              retry_options=policy) as resp:
                    status, wait = resp.status, retry_after(resp.headers)
                    try:
                        raw = await resp.read()
                    except aiohttp.ClientPayloadError:  # carried out; its answer is lost
                        raw = b""
        except TimeoutError:
            cause = "deadline" if deadline.expired() else "attempt timeout"
            raise ConnectorError(policy.last_status, method, path, cause=cause,
                                 retry_after=policy.last_retry_after) from None
        except aiohttp.ClientError as exc:
            raise ConnectorError(policy.last_status, method, path, cause=type(exc).__name__,
                                 retry_after=policy.last_retry_after) from None
        if status >= 400:
            raise ConnectorError(status, method, path, retry_after=wait)
        if status == 204 or not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    async def close(self) -> None:  # the session belongs to the app
        return None


class PooledConnectorFactory(ConnectorFactory):
    """One BotConnector per serviceUrl for the life of the process."""

    def __init__(self, session: aiohttp.ClientSession, token: TokenSource,
                 max_clients: int = 1000, **options: Any) -> None:
        """`options` go to every BotConnector (deadline, max_retry_after, attempts)."""
        self._session = session
        self._token = token
        self._clients: dict[str, BotConnector] = {}
        self._max = max_clients
        self._options = options

    async def create(self, service_url: str, audience: str | None = None) -> BotConnector:
        return self.get(service_url)

    def get(self, service_url: str) -> BotConnector:
        client = self._clients.get(service_url)
        if client is None:
            if len(self._clients) >= self._max:  # Teams uses a handful; bound it anyway
                self._clients.pop(next(iter(self._clients)))
            client = self._clients[service_url] = BotConnector(self._session, service_url,
                                                               self._token, **self._options)
        return client
