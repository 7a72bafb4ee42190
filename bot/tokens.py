"""The token broker: every token the bot uses comes from here.

- the bot's own token for the Bot Connector (client credentials, channel scope);
- a Graph token for a user, delegated: Teams SSO token -> MSAL on-behalf-of -> per-user MSAL
  cache (kept in the state store, encrypted there) -> silent acquisition/refresh afterwards;
- a separate calendar token for the same user (`Calendars.ReadWrite`, never asked for together
  with the meetings scope, so a tenant that has not granted it still gets meetings);
- a Graph token for the app (app-only mode: client credentials + application access policy);
- demo mode: tokens minted by the embedded local cloud.

The bot proves who it is with one credential (bot/credentials.py): a client secret, a
certificate (MSAL signs the client assertion), a federated credential (MSAL's client assertion is
the managed identity's token for api://AzureADTokenExchange), or, with
MicrosoftAppType=UserAssignedMSI, the managed identity itself: MSAL's ManagedIdentityClient asks
the host's identity endpoint (App Service: IDENTITY_ENDPOINT / IDENTITY_HEADER) for the
Connector's and Graph's tokens by resource, and there is no on-behalf-of.

MSAL is synchronous (it uses `requests`): every MSAL call runs in a worker thread, and a hot
in-process cache of still-valid access tokens means a normal turn makes no MSAL call at all.
Nothing here imports botbuilder.

Nothing waits forever on Entra ID. MSAL's HTTP client has no timeout of its own once it is given
one (MSAL Python's `timeout` applies only to the session it builds itself), so ours puts
`timeout` on every request: discovery, client credentials, on-behalf-of, refresh. MSAL work runs
on two small thread pools of its own, not asyncio's default executor: one reserved for the
bot's Connector token, so a stalled user sign-in can never hold up the bot's replies, and one for
Graph tokens. Every wait -- the per-key lock and the worker thread -- is bounded by `timeout` and
ends in TokenServiceUnavailable. `healthy()` says whether the pools are keeping up.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import jwt

from .credentials import TOKEN_EXCHANGE_AUDIENCE, BotCredential, CredentialKind
from .errors import (
    CalendarPermissionMissing,
    ConsentRequired,
    PersonalAccountNotSupported,
    SignInRequired,
    SsoTokenMismatch,
    TokenExchangeFailed,
    TokenServiceUnavailable,
)
from .state import KeyedLocks, KeyValueStore

log = logging.getLogger(__name__)

CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"  # personal Microsoft accounts
EARLY_REFRESH = 300.0  # seconds before expiry we stop using an access token
CONSENT_CODES = {65001, 65004, 50079, 50076}

T = TypeVar("T")


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

    async def calendar_token(self, user: UserKey) -> str:
        """A Graph token for this user's calendar (`Calendars.ReadWrite`); raises
        CalendarPermissionMissing when the tenant has not granted it (never a consent prompt)."""

    async def exchange(self, user: UserKey, sso_token: str) -> None:
        """Teams SSO token -> Graph token (on-behalf-of), remembered for later turns."""

    async def sign_out(self, user: UserKey) -> None: ...

    async def bot_token(self) -> str | None:
        """Bearer token for the Bot Connector; None when the bot runs anonymously."""

    def healthy(self) -> bool:
        """False while token work is stuck (for /readyz); recovers by itself."""


class _HotCache:
    """Still-valid access tokens by key, bounded so memory stays flat with many users."""

    def __init__(self, size: int = 10_000,
                 on_lookup: Callable[[bool], None] | None = None) -> None:
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


def classify_msal_error(result: dict[str, Any], *, admin_consent_url: str | None) -> Exception:
    """MSAL returns error dicts instead of raising. Classify by error_codes/suberror (the
    `error` field varies for consent), never by message text."""
    codes = set(result.get("error_codes") or ())
    suberror = result.get("suberror")
    if codes & CONSENT_CODES or suberror == "consent_required" or result.get("error") in (
            "interaction_required", "consent_required"):
        return ConsentRequired(f"consent needed (AADSTS{sorted(codes)})",
                               admin_consent_url=admin_consent_url, claims=result.get("claims"))
    return TokenExchangeFailed(f"{result.get('error')}: codes {sorted(codes)}")


def _timeout_session(timeout: float, ca_file: str | None) -> Any:
    """A requests.Session whose every request has `timeout` (connect and read) unless the
    caller names one: requests has no session-wide timeout, and MSAL passes none."""
    import requests

    class TimeoutSession(requests.Session):
        def request(self, method: str, url: str,  # type: ignore[override]
                    **kwargs: Any) -> requests.Response:
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            return super().request(method, url, **kwargs)

    session = TimeoutSession()
    if ca_file:
        # trust_env=False: REQUESTS_CA_BUNDLE would otherwise override `verify`.
        session.verify = ca_file
        session.trust_env = False
    return session


class _WorkerPool:
    """A bounded thread pool for blocking MSAL calls, and what `healthy()` reads from it.

    A caller that stops waiting (its deadline) cancels a call still queued; a call already
    running finishes on its own, bounded by the HTTP timeout. The pool is unhealthy
    - while a call has been running longer than `timeout` (a thread blocked on Entra ID), and
    - for `timeout` seconds after a call did not finish in time (a stall, or a saturated pool:
      the next caller would likely wait as long), unless a call has completed since."""

    def __init__(self, name: str, workers: int, timeout: float,
                 unavailable: tuple[type[BaseException], ...]) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._timeout = timeout
        self._unavailable = unavailable  # exceptions that mean "Entra ID did not answer"
        self._running: dict[int, float] = {}  # call -> start (monotonic), kept by the threads
        self._guard = threading.Lock()
        self._ids = itertools.count()
        self._failed_at: float | None = None

    async def run(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        future = self._executor.submit(self._timed, next(self._ids), fn, *args)
        try:
            result = await asyncio.wrap_future(future)
        except asyncio.CancelledError:  # the caller's deadline (or shutdown)
            future.cancel()
            self._failed_at = time.monotonic()
            raise
        except self._unavailable as exc:  # a connection or timeout error inside MSAL
            self._failed_at = time.monotonic()
            raise TokenServiceUnavailable(f"{what}: {type(exc).__name__}") from None
        self._failed_at = None
        return result

    def _timed(self, call: int, fn: Callable[..., T], *args: Any) -> T:
        with self._guard:
            self._running[call] = time.monotonic()
        try:
            return fn(*args)
        finally:
            with self._guard:
                del self._running[call]

    def healthy(self) -> bool:
        now = time.monotonic()
        failed_at = self._failed_at
        if failed_at is not None and now - failed_at < self._timeout:
            return False
        with self._guard:
            oldest = min(self._running.values(), default=now)
        return now - oldest <= self._timeout


class MsalBroker:
    """Tokens from Entra ID through MSAL (real tenant, sovereign cloud or the local simulator)."""

    def __init__(self, *, app_id: str, credential: BotCredential, authority_host: str,
                 app_tenant: str,
                 graph_resource: str, store: KeyValueStore, app_only: bool,
                 channel_login_url: str | None = None, channel_scope: str | None = None,
                 ca_file: str | None = None,
                 on_cache_lookup: Callable[[bool], None] | None = None,
                 sso_resource: str | None = None, timeout: float = 5.0,
                 workers: int = 8,
                 span: Callable[[str], contextlib.AbstractContextManager[Any]] | None = None
                 ) -> None:
        """`sso_resource` is the Application ID URI Teams SSO tokens are issued for
        (default `api://botid-{app_id}`); `timeout` bounds each Entra ID request and each wait
        for a token; `workers` is the size of the Graph-token thread pool; `span` makes a trace
        span around each token request that leaves the process (bot/telemetry.py)."""
        import msal  # imported here: demo mode never needs it
        import requests

        self.app_only = app_only
        self._msal = msal
        self._app_id = app_id
        self._credential = credential
        self._authority_host = authority_host.rstrip("/")
        self._app_tenant = app_tenant or "organizations"
        self._graph_scopes = [f"{graph_resource}/OnlineMeetings.ReadWrite"]
        # Its own request, never combined with the meetings scope: a tenant that has not granted
        # Calendars.ReadWrite would otherwise lose meetings too (AADSTS65001 names the request).
        self._calendar_scopes = [f"{graph_resource}/Calendars.ReadWrite"]
        self._graph_app_scopes = [f"{graph_resource}/.default"]
        self._channel_login_url = channel_login_url or f"{self._authority_host}/botframework.com"
        self._channel_scopes = [channel_scope or "https://api.botframework.com/.default"]
        # Entra ID accepts an on-behalf-of assertion addressed to the app's Application ID URI
        # or to its client id (v2 tokens carry the latter).
        self._sso_audiences = frozenset({sso_resource or f"api://botid-{app_id}", app_id})
        self._store = store
        self._timeout = timeout
        self._span = span or (lambda name: contextlib.nullcontext())
        self._http = _timeout_session(timeout, ca_file)
        self._http_cache: dict[str, Any] = {}  # MSAL caches authority discovery here
        self._apps: dict[str, Any] = {}  # one confidential client per authority (tenant)
        self._hot = _HotCache(on_lookup=on_cache_lookup)
        self._locks = KeyedLocks()  # one MSAL round trip per user (or app token) at a time
        # The managed identity's client (federated credential, or the identity as the bot); it
        # caches its tokens until five minutes before they expire.
        self._identity = msal.ManagedIdentityClient(
            msal.UserAssignedManagedIdentity(client_id=credential.identity_client_id),
            http_client=self._http) if credential.uses_managed_identity else None
        self._client_credential = self._msal_credential(credential)
        # An identity endpoint that answers something other than JSON is as good as down.
        unavailable = (requests.RequestException, json.JSONDecodeError)
        self._bot_pool = _WorkerPool("msal-bot", 1, timeout, unavailable)
        self._graph_pool = _WorkerPool("msal-graph", workers, timeout, unavailable)

    def healthy(self) -> bool:
        return self._bot_pool.healthy() and self._graph_pool.healthy()

    @asynccontextmanager
    async def _bounded(self, what: str) -> AsyncIterator[None]:
        """At most `timeout` for the lock and the worker thread together."""
        deadline = asyncio.timeout(self._timeout)
        try:
            async with deadline:
                yield
        except TimeoutError:
            if not deadline.expired():
                raise
            raise TokenServiceUnavailable(
                f"{what}: no token within {self._timeout:g}s") from None

    # --- MSAL plumbing ---------------------------------------------------------------------
    def _msal_credential(self, credential: BotCredential) -> Any:
        """What ConfidentialClientApplication takes as `client_credential`."""
        if credential.kind is CredentialKind.CERTIFICATE and credential.certificate is not None:
            return credential.certificate.msal_credential()
        if credential.kind is CredentialKind.FEDERATED:
            # MSAL calls this for every token request (in the worker thread); the managed
            # identity client answers from its cache.
            return {"client_assertion": self._identity_assertion}
        return credential.secret  # a client secret (None of use with a managed identity)

    def _identity_assertion(self) -> str:
        """The managed identity's token for Entra ID's token exchange: the client assertion
        of an app that trusts the identity ("Configure an application to trust a managed
        identity")."""
        assert self._identity is not None
        result = self._identity.acquire_token_for_client(resource=TOKEN_EXCHANGE_AUDIENCE)
        if "access_token" not in result:
            raise TokenExchangeFailed(f"managed identity for the federated credential: "
                                      f"{result.get('error')}")
        return str(result["access_token"])

    def _client(self, authority: str, cache: Any = None) -> Any:
        """A confidential client. Per-user clients carry that user's token cache; the
        http_cache shared by all means authority discovery happens once per process."""
        return self._msal.ConfidentialClientApplication(
            self._app_id, client_credential=self._client_credential, authority=authority,
            token_cache=cache, http_client=self._http, http_cache=self._http_cache,
            instance_discovery=False if not self._authority_host.endswith(
                "login.microsoftonline.com") else None)

    def _for_client(self, authority: str, scopes: list[str]) -> dict[str, Any]:
        """Client credentials (worker thread: building a client fetches the authority's
        metadata). MSAL serves repeats from its cache until the token nears expiry. The
        managed identity as the bot asks its identity endpoint by resource, in its own tenant."""
        if self._credential.kind is CredentialKind.MANAGED_IDENTITY:
            assert self._identity is not None
            return cast(dict[str, Any], self._identity.acquire_token_for_client(
                resource=scopes[0].removesuffix("/.default")))
        app = self._apps.get(authority)
        if app is None:
            app = self._apps.setdefault(authority, self._client(authority))
        return cast(dict[str, Any], app.acquire_token_for_client(scopes))

    def admin_consent_url(self, tenant: str) -> str:
        return f"{self._authority_host}/{tenant}/adminconsent?client_id={self._app_id}"

    # --- the bot's own token ------------------------------------------------------------
    async def bot_token(self) -> str | None:
        return await self._client_credentials(("channel",), self._channel_login_url,
                                              self._channel_scopes, self._bot_pool)

    async def _client_credentials(self, key: tuple[str, ...], authority: str, scopes: list[str],
                                  pool: _WorkerPool) -> str:
        """An app token from the hot cache, or one MSAL call at a time per key."""
        token = self._hot.get(key)
        if token:
            return token
        async with self._bounded(f"client credentials {key[0]}"), \
                self._locks.hold(repr(key)):
            token = self._hot.get(key)
            if token:
                return token
            with self._span(f"token: client credentials ({key[0]})"):
                result = await pool.run("client credentials", self._for_client, authority,
                                        scopes)
            if "access_token" not in result:
                raise classify_msal_error(result, admin_consent_url=self.admin_consent_url(
                    key[-1] if key[0] == "app" else self._app_tenant))
            self._hot.put(key, result["access_token"], result.get("expires_in", 3600))
            return str(result["access_token"])

    # --- Graph tokens ---------------------------------------------------------------------
    async def graph_token(self, user: UserKey) -> str:
        if user.tenant_id == CONSUMER_TENANT:
            raise PersonalAccountNotSupported("consumer tenant")
        if self.app_only:
            return await self._app_graph_token(user.tenant_id)
        token = self._hot.get(user)
        if token:
            return token
        async with self._bounded("silent refresh"), \
                self._locks.hold(user.storage_key):  # one silent refresh per user
            token = self._hot.get(user)
            if token:
                return token
            blob = await self._store.get(user.storage_key)
            if blob is None:
                raise SignInRequired("no token cache for user")
            cache = self._msal.SerializableTokenCache()
            cache.deserialize(blob.decode())
            with self._span("token: silent refresh"):
                result = await self._graph_pool.run("silent refresh", self._silent, user, cache)
            if not result or "access_token" not in result:
                raise SignInRequired("silent acquisition failed")
            if cache.has_state_changed:
                await self._store.set(user.storage_key, cache.serialize().encode(), ttl=90 * 86400)
            self._hot.put(user, result["access_token"], result.get("expires_in", 3600))
            return str(result["access_token"])

    async def calendar_token(self, user: UserKey) -> str:
        """App-only: the same `.default` token (whether it carries the Calendars.ReadWrite role
        shows as Graph's 403). Delegated: the on-behalf-of grant's refresh token, asked for
        Calendars.ReadWrite alone: the *On-Behalf-Of flow* page lets the middle tier use the
        refresh token it got for further tokens, and MSAL keeps that token when a refresh is
        refused ("the RT could still be useful for other ... scope"), so a refusal here never
        costs the meetings token. Consent refused (AADSTS65001 and the like) is
        CalendarPermissionMissing; no sign-in card, no consent prompt."""
        if user.tenant_id == CONSUMER_TENANT:
            raise PersonalAccountNotSupported("consumer tenant")
        if self.app_only:
            return await self._app_graph_token(user.tenant_id)
        key = ("calendar", user)
        token = self._hot.get(key)
        if token:
            return token
        async with self._bounded("calendar token"), self._locks.hold(user.storage_key):
            token = self._hot.get(key)
            if token:
                return token
            blob = await self._store.get(user.storage_key)
            if blob is None:
                raise SignInRequired("no token cache for user")
            cache = self._msal.SerializableTokenCache()
            cache.deserialize(blob.decode())
            result = await self._graph_pool.run("calendar token", self._silent, user, cache,
                                                self._calendar_scopes)
            if not result:
                raise SignInRequired("no refresh token for the calendar")
            if "access_token" not in result:
                err = classify_msal_error(result, admin_consent_url=None)
                if isinstance(err, ConsentRequired):
                    raise CalendarPermissionMissing(f"calendar token refused: {err.detail}")
                raise err
            if cache.has_state_changed:
                await self._store.set(user.storage_key, cache.serialize().encode(), ttl=90 * 86400)
            calendar: str = result["access_token"]
            self._hot.put(key, calendar, result.get("expires_in", 3600))
            return calendar

    def _on_behalf_of(self, user: UserKey, cache: Any, sso_token: str) -> dict[str, Any]:
        app = self._client(f"{self._authority_host}/{user.tenant_id}", cache)
        return cast(dict[str, Any], app.acquire_token_on_behalf_of(sso_token, self._graph_scopes))

    def _silent(self, user: UserKey, cache: Any,
                scopes: list[str] | None = None) -> dict[str, Any] | None:
        """A token from the user's cache: None when there is no account or refresh token;
        for `scopes` other than the meetings scope, Entra's refusal as MSAL's error dict."""
        app = self._client(f"{self._authority_host}/{user.tenant_id}", cache)
        accounts = [a for a in app.get_accounts()
                    if a.get("local_account_id") == user.aad_object_id
                    or a.get("home_account_id", "").startswith(user.aad_object_id)]
        if not accounts:
            return None
        if scopes is None:
            found: dict[str, Any] | None = app.acquire_token_silent(self._graph_scopes,
                                                                    account=accounts[0])
        else:
            found = app.acquire_token_silent_with_error(scopes, account=accounts[0])
        return found

    async def _app_graph_token(self, tenant: str) -> str:
        return await self._client_credentials(("app", tenant),
                                              f"{self._authority_host}/{tenant}",
                                              self._graph_app_scopes, self._graph_pool)

    def _check_sso_token(self, user: UserKey, sso_token: str) -> None:
        """The SSO token must be for this bot and for the person and tenant of the activity;
        otherwise a chat member could bind someone else's token (or one for another app) to
        their own identity. Read without checking the signature: Entra ID validates it during
        on-behalf-of, and this check only refuses -- it never grants anything."""
        try:
            claims = jwt.decode(sso_token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise SsoTokenMismatch("SSO token is not a readable JWT") from None
        audience = claims.get("aud")
        audiences = set(audience) if isinstance(audience, list) else {audience}
        if not audiences & self._sso_audiences:
            raise SsoTokenMismatch("SSO token is for another audience than this bot")
        if str(claims.get("tid", "")).lower() != user.tenant_id.lower():
            raise SsoTokenMismatch("SSO token is from another tenant than the activity")
        if str(claims.get("oid", "")).lower() != user.aad_object_id.lower():
            raise SsoTokenMismatch("SSO token is for another user than the activity's sender")

    async def exchange(self, user: UserKey, sso_token: str) -> None:
        if user.tenant_id == CONSUMER_TENANT:
            raise PersonalAccountNotSupported("consumer tenant")
        self._check_sso_token(user, sso_token)
        async with self._bounded("on-behalf-of"), \
                self._locks.hold(user.storage_key):  # concurrent invokes: one exchange
            cache = self._msal.SerializableTokenCache()
            with self._span("token: on-behalf-of"):
                result = await self._graph_pool.run("on-behalf-of", self._on_behalf_of, user,
                                                    cache, sso_token)
            if "access_token" not in result:
                raise classify_msal_error(
                    result, admin_consent_url=self.admin_consent_url(user.tenant_id))
            await self._store.set(user.storage_key, cache.serialize().encode(), ttl=90 * 86400)
            self._hot.put(user, result["access_token"], result.get("expires_in", 3600))

    async def sign_out(self, user: UserKey) -> None:
        self._hot.drop(user)
        self._hot.drop(("calendar", user))
        await self._store.delete(user.storage_key)


class LocalBroker:
    """Demo mode: Graph tokens minted by the embedded local cloud for whoever is chatting.
    There is no sign-in; the embedded Graph simulator accepts these tokens."""

    app_only = False

    def __init__(self, issuer: Any, *, audience: str = "https://graph.microsoft.com",
                 on_cache_lookup: Callable[[bool], None] | None = None) -> None:
        self._issuer = issuer
        self._audience = audience
        self._hot = _HotCache(on_lookup=on_cache_lookup)
        self._no_calendar: set[str] = set()

    def withhold_calendar(self, tenant_id: str) -> None:
        """This demo tenant has not granted Calendars.ReadWrite: its calendar token is refused
        as Entra ID refuses it (so demo mode and the tests show both paths)."""
        self._no_calendar.add(tenant_id.lower())

    def grant_calendar(self, tenant_id: str) -> None:
        self._no_calendar.discard(tenant_id.lower())

    async def calendar_token(self, user: UserKey) -> str:
        if user.tenant_id.lower() in self._no_calendar:
            raise CalendarPermissionMissing("demo tenant without Calendars.ReadWrite")
        key = ("calendar", user)
        token = self._hot.get(key)
        if token is None:
            token = self._issuer.issue({
                "aud": self._audience, "tid": user.tenant_id, "oid": user.aad_object_id,
                "scp": "Calendars.ReadWrite", "name": "Demo user"})
            self._hot.put(key, token, 3600)
        return token

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
        self._hot.drop(("calendar", user))

    async def bot_token(self) -> str | None:
        return None

    def healthy(self) -> bool:
        return True  # nothing here can stall
