"""The token broker: every token the bot uses comes from here.

- the bot's own token for the Bot Connector (client credentials, channel scope);
- a Graph token for a user, delegated: Teams SSO token -> MSAL on-behalf-of -> per-user MSAL
  cache (kept in the state store, encrypted there) -> silent acquisition/refresh afterwards;
- a Graph token for the app (app-only mode: client credentials + application access policy);
- demo mode: tokens minted by the embedded local cloud.

MSAL is synchronous (it uses `requests`): every MSAL call runs in a worker thread, and a hot
in-process cache of still-valid access tokens means a normal turn makes no MSAL call at all.
Nothing here imports botbuilder.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import (ConsentRequired, PersonalAccountNotSupported, SignInRequired,
                     TokenExchangeFailed)
from .state import KeyedLocks

log = logging.getLogger(__name__)

CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"  # personal Microsoft accounts
EARLY_REFRESH = 300.0  # seconds before expiry we stop using an access token
CONSENT_CODES = {65001, 65004, 50079, 50076}


@dataclass(frozen=True, slots=True)
class UserKey:
    tenant_id: str
    aad_object_id: str

    @property
    def storage_key(self) -> str:
        return f"tokens:{self.tenant_id}:{self.aad_object_id}"


class TokenBroker(Protocol):
    app_only: bool

    async def graph_token(self, user: UserKey) -> str:
        """A Graph token for this user's request; raises SignInRequired when there is none."""

    async def exchange(self, user: UserKey, sso_token: str) -> None:
        """Teams SSO token -> Graph token (on-behalf-of), remembered for later turns."""

    async def sign_out(self, user: UserKey) -> None: ...

    async def bot_token(self) -> str | None:
        """Bearer token for the Bot Connector; None when the bot runs anonymously."""


class _HotCache:
    """Still-valid access tokens by key, bounded so memory stays flat with many users."""

    def __init__(self, size: int = 10_000, on_lookup=None) -> None:
        self._items: OrderedDict[Any, tuple[str, float]] = OrderedDict()
        self._size = size
        self._on_lookup = on_lookup or (lambda hit: None)

    def get(self, key: Any) -> str | None:
        item = self._items.get(key)
        if item is not None and item[1] - EARLY_REFRESH <= time.time():
            self._items.pop(key, None)
            item = None
        self._on_lookup(item is not None)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: Any, token: str, expires_in: float) -> None:
        self._items[key] = (token, time.time() + float(expires_in))
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def drop(self, key: Any) -> None:
        self._items.pop(key, None)


def classify_msal_error(result: dict, *, admin_consent_url: str | None) -> Exception:
    """MSAL returns error dicts instead of raising. Classify by error_codes/suberror (the
    `error` field varies for consent), never by message text."""
    codes = set(result.get("error_codes") or ())
    suberror = result.get("suberror")
    if codes & CONSENT_CODES or suberror == "consent_required" or result.get("error") in (
            "interaction_required", "consent_required"):
        return ConsentRequired(f"consent needed (AADSTS{sorted(codes)})",
                               admin_consent_url=admin_consent_url, claims=result.get("claims"))
    return TokenExchangeFailed(f"{result.get('error')}: codes {sorted(codes)}")


class MsalBroker:
    """Tokens from Entra ID through MSAL (real tenant, sovereign cloud or the local simulator)."""

    def __init__(self, *, app_id: str, secret: str, authority_host: str, app_tenant: str,
                 graph_resource: str, store, app_only: bool, channel_login_url: str | None = None,
                 channel_scope: str | None = None, anonymous_channel: bool = False,
                 ca_file: str | None = None, on_cache_lookup=None) -> None:
        import msal  # imported here: demo mode never needs it
        import requests

        self.app_only = app_only
        self._msal = msal
        self._app_id = app_id
        self._secret = secret
        self._authority_host = authority_host.rstrip("/")
        self._app_tenant = app_tenant or "organizations"
        self._graph_scopes = [f"{graph_resource}/OnlineMeetings.ReadWrite"]
        self._graph_app_scopes = [f"{graph_resource}/.default"]
        self._channel_login_url = channel_login_url or f"{self._authority_host}/botframework.com"
        self._channel_scopes = [channel_scope or "https://api.botframework.com/.default"]
        self._anonymous_channel = anonymous_channel
        self._store = store
        self._http = requests.Session()
        if ca_file:
            # trust_env=False: REQUESTS_CA_BUNDLE would otherwise override `verify`.
            self._http.verify = ca_file
            self._http.trust_env = False
        self._http_cache: dict = {}  # MSAL caches authority discovery here across clients
        self._apps: dict[str, Any] = {}  # one confidential client per authority (tenant)
        self._hot = _HotCache(on_lookup=on_cache_lookup)
        self._locks = KeyedLocks()  # one MSAL round trip per user (or app token) at a time

    # --- MSAL plumbing ---------------------------------------------------------------------
    def _client(self, authority: str, cache=None):
        """A confidential client. Per-user clients carry that user's token cache; the
        http_cache shared by all means authority discovery happens once per process."""
        return self._msal.ConfidentialClientApplication(
            self._app_id, client_credential=self._secret, authority=authority,
            token_cache=cache, http_client=self._http, http_cache=self._http_cache,
            instance_discovery=False if not self._authority_host.endswith(
                "login.microsoftonline.com") else None)

    def _for_client(self, authority: str, scopes: list[str]) -> dict:
        """Client credentials (worker thread: building a client fetches the authority's
        metadata). MSAL serves repeats from its cache until the token nears expiry."""
        app = self._apps.get(authority)
        if app is None:
            app = self._apps.setdefault(authority, self._client(authority))
        return app.acquire_token_for_client(scopes)

    def admin_consent_url(self, tenant: str) -> str:
        return f"{self._authority_host}/{tenant}/adminconsent?client_id={self._app_id}"

    # --- the bot's own token ------------------------------------------------------------
    async def bot_token(self) -> str | None:
        if self._anonymous_channel:
            return None
        return await self._client_credentials(("channel",), self._channel_login_url,
                                              self._channel_scopes)

    async def _client_credentials(self, key: tuple, authority: str, scopes: list[str]) -> str:
        """An app token from the hot cache, or one MSAL call at a time per key."""
        token = self._hot.get(key)
        if token:
            return token
        async with self._locks.hold(repr(key)):
            token = self._hot.get(key)
            if token:
                return token
            result = await asyncio.to_thread(self._for_client, authority, scopes)
            if "access_token" not in result:
                raise classify_msal_error(result, admin_consent_url=self.admin_consent_url(
                    key[-1] if key[0] == "app" else self._app_tenant))
            self._hot.put(key, result["access_token"], result.get("expires_in", 3600))
            return result["access_token"]

    # --- Graph tokens ---------------------------------------------------------------------
    async def graph_token(self, user: UserKey) -> str:
        if user.tenant_id == CONSUMER_TENANT:
            raise PersonalAccountNotSupported("consumer tenant")
        if self.app_only:
            return await self._app_graph_token(user.tenant_id)
        token = self._hot.get(user)
        if token:
            return token
        async with self._locks.hold(user.storage_key):  # one silent refresh per user
            token = self._hot.get(user)
            if token:
                return token
            blob = await self._store.get(user.storage_key)
            if blob is None:
                raise SignInRequired("no token cache for user")
            cache = self._msal.SerializableTokenCache()
            cache.deserialize(blob.decode())
            result = await asyncio.to_thread(self._silent, user, cache)
            if not result or "access_token" not in result:
                raise SignInRequired("silent acquisition failed")
            if cache.has_state_changed:
                await self._store.set(user.storage_key, cache.serialize().encode(), ttl=90 * 86400)
            self._hot.put(user, result["access_token"], result.get("expires_in", 3600))
            return result["access_token"]

    def _on_behalf_of(self, user: UserKey, cache, sso_token: str) -> dict:
        app = self._client(f"{self._authority_host}/{user.tenant_id}", cache)
        return app.acquire_token_on_behalf_of(sso_token, self._graph_scopes)

    def _silent(self, user: UserKey, cache) -> dict | None:
        app = self._client(f"{self._authority_host}/{user.tenant_id}", cache)
        accounts = [a for a in app.get_accounts()
                    if a.get("local_account_id") == user.aad_object_id
                    or a.get("home_account_id", "").startswith(user.aad_object_id)]
        if not accounts:
            return None
        return app.acquire_token_silent(self._graph_scopes, account=accounts[0])

    async def _app_graph_token(self, tenant: str) -> str:
        return await self._client_credentials(("app", tenant),
                                              f"{self._authority_host}/{tenant}",
                                              self._graph_app_scopes)

    async def exchange(self, user: UserKey, sso_token: str) -> None:
        if user.tenant_id == CONSUMER_TENANT:
            raise PersonalAccountNotSupported("consumer tenant")
        async with self._locks.hold(user.storage_key):  # concurrent invokes: one exchange
            cache = self._msal.SerializableTokenCache()
            result = await asyncio.to_thread(self._on_behalf_of, user, cache, sso_token)
            if "access_token" not in result:
                raise classify_msal_error(
                    result, admin_consent_url=self.admin_consent_url(user.tenant_id))
            await self._store.set(user.storage_key, cache.serialize().encode(), ttl=90 * 86400)
            self._hot.put(user, result["access_token"], result.get("expires_in", 3600))

    async def sign_out(self, user: UserKey) -> None:
        self._hot.drop(user)
        await self._store.delete(user.storage_key)


class LocalBroker:
    """Demo mode: Graph tokens minted by the embedded local cloud for whoever is chatting.
    There is no sign-in; the embedded Graph simulator accepts these tokens."""

    app_only = False

    def __init__(self, issuer, *, audience: str = "https://graph.microsoft.com",
                 on_cache_lookup=None) -> None:
        self._issuer = issuer
        self._audience = audience
        self._hot = _HotCache(on_lookup=on_cache_lookup)

    async def graph_token(self, user: UserKey) -> str:
        token = self._hot.get(user)
        if token is None:
            token = self._issuer.issue({
                "aud": self._audience, "tid": user.tenant_id, "oid": user.aad_object_id,
                "scp": "OnlineMeetings.ReadWrite", "name": "Demo user"})
            self._hot.put(user, token, 3600)
        return token

    async def exchange(self, user: UserKey, sso_token: str) -> None:
        return None

    async def sign_out(self, user: UserKey) -> None:
        self._hot.drop(user)

    async def bot_token(self) -> str | None:
        return None
