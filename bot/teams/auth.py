"""Who may talk to MeetBot: the Bot Connector's channel token, checked by botbuilder's own
validation (issuer, signature, audience, endorsements, the serviceUrl claim) behind cheap
guards of ours, before the body is even read (`ChannelTokenGate`): a bearer JWT from the
configured channel's issuer -- any other is refused before botbuilder sees it (its emulator path
would fetch an OpenID document with a blocking call) -- signed with one of the channel's current
keys, for this bot, not expired. The channel's signing keys are fetched on the shared aiohttp
session, never by botbuilder's blocking fetch.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import jwt
from botbuilder.schema import Activity
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConfiguration,
    BotFrameworkAuthentication,
    BotFrameworkAuthenticationFactory,
    GovernmentConstants,
    JwtTokenExtractor,
    PasswordServiceClientCredentialFactory,
)
from botframework.connector.auth.authentication_constants import AuthenticationConstants

from bot.config import Settings
from bot.errors import MeetBotError

from .connector import PooledConnectorFactory

log = logging.getLogger(__name__)

class SigningKeysUnavailable(MeetBotError):
    """The channel's signing keys could not be fetched: no token can be checked right now."""


class SigningKeys:
    """Keeps botbuilder's cached copy of the channel's signing keys fresh, off the event loop.

    botbuilder fetches the OpenID document and keys with blocking `requests` calls inside the
    event loop (once a day, on the first activity): a stall for every turn in flight, and a
    deadlock when the identity provider is served by the same loop. We fetch them with the
    shared aiohttp session into the very cache object botbuilder reads, ahead of its own
    schedule, and again when a token names a key we have not seen (key rotation).
    """

    MAX_AGE = timedelta(hours=12)  # botbuilder refreshes only after a day
    UNKNOWN_KID_COOLDOWN = timedelta(minutes=5)

    def __init__(self, session: aiohttp.ClientSession, metadata_url: str) -> None:
        self._session = session
        self._url = metadata_url
        self._cache = JwtTokenExtractor.get_open_id_metadata(metadata_url)
        self._lock = asyncio.Lock()
        self._known: frozenset[str] = frozenset()
        self._public: dict[str, Any] = {}  # kid -> RSA public key, built from `_parsed_from`
        self._parsed_from: list[dict[str, Any]] | None = None

    def public_key(self, kid: str | None) -> Any:
        """The current signing key with this id (None: not one of the channel's keys)."""
        keys = self._cache.keys
        if keys is not self._parsed_from:  # refreshed (by us, or by botbuilder itself)
            public = {}
            for key in keys or ():
                try:
                    public[key["kid"]] = jwt.PyJWK(key, algorithm="RS256").key
                except (KeyError, TypeError, jwt.PyJWTError):
                    continue  # a key we cannot use signs nothing we accept
            self._public, self._parsed_from = public, keys
        return self._public.get(kid) if kid else None

    async def ensure(self, auth_header: str) -> None:
        now = datetime.now()
        stale = self._cache.last_updated < now - self.MAX_AGE
        if not stale:
            kid = _kid(auth_header)
            if kid is None or kid in self._known or \
                    self._cache.last_updated > now - self.UNKNOWN_KID_COOLDOWN:
                return
        async with self._lock:
            if self._cache.last_updated < now - self.UNKNOWN_KID_COOLDOWN or stale:
                await self._refresh()
        if not self._cache.keys:  # never let botbuilder fall back to its blocking fetch
            raise SigningKeysUnavailable(self._url)

    async def _refresh(self) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        try:
            async with self._session.get(self._url, timeout=timeout) as resp:
                resp.raise_for_status()
                jwks_uri = (await resp.json(content_type=None))["jwks_uri"]
            async with self._session.get(jwks_uri, timeout=timeout) as resp:
                resp.raise_for_status()
                keys = (await resp.json(content_type=None))["keys"]
        except (TimeoutError, aiohttp.ClientError, KeyError, ValueError) as err:
            log.warning("could not refresh the channel's signing keys: %s", type(err).__name__)
            return  # keep the keys we have; botbuilder refuses tokens it cannot check
        self._cache.keys = keys
        self._cache.last_updated = datetime.now()
        self._known = frozenset(k.get("kid") for k in keys)


def _kid(auth_header: str) -> str | None:
    try:
        return jwt.get_unverified_header(auth_header.split(" ", 1)[1]).get("kid")
    except (IndexError, jwt.PyJWTError):
        return None


def _copy_result(result: AuthenticateRequestResult) -> AuthenticateRequestResult:
    fresh = AuthenticateRequestResult()
    fresh.audience, fresh.claims_identity = result.audience, result.claims_identity
    fresh.caller_id, fresh.connector_factory = result.caller_id, result.connector_factory
    return fresh


class ChannelAuthentication(BotFrameworkAuthentication):
    """botbuilder's authentication for everything it checks; our pooled connectors for replies.

    `authenticate_request` is botbuilder's (issuer, signature, audience, endorsements, the
    serviceUrl claim); only the connector factory it returns is swapped, and the user-token
    client (Bot Framework token service) is not built at all: sign-in uses our own
    on-behalf-of exchange.
    """

    # The Bot Connector signs one token and sends it with every activity for up to an hour.
    # Checking the same header for the same channel and serviceUrl gives the same answer until
    # the token expires, so a success is remembered (never longer than REMEMBER seconds, which
    # bounds how long a withdrawn signing key goes unnoticed); failures are not.
    REMEMBER = 300
    MAX_REMEMBERED = 2048

    def __init__(self, inner: BotFrameworkAuthentication, connectors: PooledConnectorFactory,
                 keys: SigningKeys | None = None):
        self._inner = inner
        self._connectors = connectors
        self._keys = keys
        self._checked: OrderedDict[tuple[str, str, str], tuple[float, Any]] = OrderedDict()

    async def authenticate_request(self, activity: Activity, auth_header: str) -> Any:
        key = (auth_header, activity.channel_id, activity.service_url)
        seen = self._checked.get(key) if auth_header else None
        if seen is not None and seen[0] > time.time():
            return _copy_result(seen[1])
        if self._keys is not None and auth_header:
            await self._keys.ensure(auth_header)
        result = await self._inner.authenticate_request(activity, auth_header)
        result.connector_factory = self._connectors
        expires = (result.claims_identity.claims or {}).get("exp") if auth_header else None
        if isinstance(expires, (int, float)):
            self._checked[key] = (min(float(expires), time.time() + self.REMEMBER), result)
            if len(self._checked) > self.MAX_REMEMBERED:
                self._checked.popitem(last=False)
        return result

    async def authenticate_streaming_request(self, auth_header: str,
                                             channel_id_header: str) -> Any:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: Any) -> PooledConnectorFactory:
        return self._connectors

    async def create_user_token_client(self, claims_identity: Any) -> None:
        return None

    def get_originating_audience(self) -> str:
        return str(self._inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> Any:
        return await self._inner.authenticate_channel_request(auth_header)



def bot_framework_authentication(settings: Settings) -> BotFrameworkAuthentication:
    # botbuilder checks incoming tokens against the app id alone; the password it would use for
    # replies is never used (replies go through our connectors with the token broker's token,
    # whatever the credential: secret, certificate, federated or managed identity).
    credentials = PasswordServiceClientCredentialFactory(
        app_id=settings.app_id or None, password=settings.credential.secret or None,
        tenant_id=settings.app_tenant_id or None)
    overridden = any((settings.to_channel_from_bot_login_url,
                      settings.to_channel_from_bot_oauth_scope,
                      settings.to_bot_from_channel_token_issuer,
                      settings.to_bot_from_channel_openid_metadata_url))
    if not overridden:  # botbuilder's built-in public or government cloud
        return BotFrameworkAuthenticationFactory.create(
            channel_service=settings.channel_service, credential_factory=credentials,
            auth_configuration=AuthenticationConfiguration())
    # One key set switches botbuilder to its "parameterized" mode, where every key it is not
    # given is None (every request then fails with 401): fill the rest with the cloud's values.
    constants = GovernmentConstants if _government(settings) else AuthenticationConstants
    return BotFrameworkAuthenticationFactory.create(
        to_channel_from_bot_login_url=channel_login_url(settings),
        to_channel_from_bot_oauth_scope=settings.to_channel_from_bot_oauth_scope
        or constants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE,
        to_bot_from_channel_token_issuer=settings.to_bot_from_channel_token_issuer
        or constants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER,
        to_bot_from_channel_open_id_metadata_url=channel_metadata_url(settings),
        credential_factory=credentials, auth_configuration=AuthenticationConfiguration())


def _government(settings: Settings) -> bool:
    return bool(settings.channel_service == GovernmentConstants.CHANNEL_SERVICE)


def channel_login_url(settings: Settings) -> str:
    """Where the bot gets its own token for the Bot Connector (botbuilder's defaults)."""
    if settings.to_channel_from_bot_login_url:
        return settings.to_channel_from_bot_login_url
    if _government(settings):
        return (f"{GovernmentConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX}"
                f"{settings.app_tenant_id or GovernmentConstants.DEFAULT_CHANNEL_AUTH_TENANT}")
    return f"{settings.authority_host}/{settings.app_tenant_id or 'botframework.com'}"


def channel_scope(settings: Settings) -> str:
    scope = settings.to_channel_from_bot_oauth_scope or (
        GovernmentConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE if _government(settings)
        else AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE)
    # MSAL's client credentials want "{resource}/.default"; botbuilder appends it the same way.
    return scope if scope.endswith("/.default") else scope.rstrip("/") + "/.default"


def channel_metadata_url(settings: Settings) -> str:
    if settings.to_bot_from_channel_openid_metadata_url:
        return settings.to_bot_from_channel_openid_metadata_url
    if _government(settings):
        return str(GovernmentConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL)
    return str(AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL)


def channel_issuer(settings: Settings) -> str:
    """The one issuer the Bot Connector signs channel tokens with, in this cloud."""
    if settings.to_bot_from_channel_token_issuer:
        return settings.to_bot_from_channel_token_issuer
    if _government(settings):
        return str(GovernmentConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER)
    return str(AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER)


class ChannelTokenGate:
    """The first look at /api/messages' Authorization header, before the body is read: a bearer
    JWT signed by the channel (RS256, one of its current keys), from the channel's issuer, for
    this bot, not expired. Anyone else's request costs a header parse and at most one RSA
    verification -- never the parsing of a body of their choosing. botbuilder's full validation
    (endorsements, the serviceUrl claim) still follows once the body is read.

    botbuilder verifies channel tokens with RS256 only (JwtTokenExtractor), with five minutes of
    clock skew and `aud` = the bot's app id (ChannelValidation); this refuses what it would."""

    LEEWAY = 300

    def __init__(self, keys: SigningKeys, *, issuer: str, app_id: str) -> None:
        self._keys = keys
        self._issuer = issuer
        self._app_id = app_id

    async def admits(self, auth_header: str | None) -> bool:
        """Raises SigningKeysUnavailable when the channel's keys cannot be had (a 503)."""
        if not auth_header or not plausible_channel_token(auth_header, self._issuer):
            return False
        await self._keys.ensure(auth_header)
        key = self._keys.public_key(_kid(auth_header))
        if key is None:
            return False
        try:
            jwt.decode(auth_header[7:], key, algorithms=["RS256"], audience=self._app_id,
                       issuer=self._issuer, leeway=self.LEEWAY,
                       options={"require": ["exp", "iss", "aud"]})
        except jwt.PyJWTError:
            return False
        return True


def plausible_channel_token(auth_header: str | None, issuer: str) -> bool:
    """A cheap first look, nothing verified: a bearer JWT from the channel's issuer that has
    not expired. Anything else is refused before the body is read or botbuilder runs."""
    if not auth_header or not auth_header.startswith("Bearer "):
        return False
    try:
        claims: dict[str, Any] = jwt.decode(auth_header[7:], options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    expires = claims.get("exp")
    return claims.get("iss") == issuer and isinstance(expires, (int, float)) and \
        expires > time.time() - 300  # botbuilder allows five minutes of clock skew
