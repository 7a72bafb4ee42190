"""Configuration: read once from the environment at start-up, validated with one line per problem.

The names are the Bot Framework's own (`MicrosoftAppId`, …, and botbuilder's configuration keys
such as `TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL`), so a bot moved from a Microsoft sample or
into a sovereign cloud keeps its settings.
"""
from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
PUBLIC_GRAPH = "https://graph.microsoft.com"
PUBLIC_AUTHORITY_HOST = "https://login.microsoftonline.com"


class GraphAuthMode(str, Enum):
    DELEGATED = "delegated"  # Teams SSO + on-behalf-of: meetings as the user (the default)
    APP = "app"  # client credentials + application access policy: /users/{aadObjectId}
    DEMO = "demo"  # no credentials: the embedded Graph simulator, tokens minted locally


class CalendarMode(str, Enum):
    """MEETINGS_ON_CALENDAR: which meetings are calendar events with invitations (issue #16)."""

    SCHEDULED = "scheduled"  # a later start or invitees: on the calendar; `meet now` stays standalone
    ALWAYS = "always"  # every meeting, `meet now` included
    NEVER = "never"  # standalone onlineMeetings only, as before calendar support


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    app_id: str = ""
    app_password: str = field(default="", repr=False)
    app_tenant_id: str = ""
    app_type: str = "MultiTenant"
    host: str = "0.0.0.0"
    port: int = 3978
    workers: int = 1
    graph_base_url: str | None = None  # None in demo mode = start the embedded simulator
    graph_resource: str = PUBLIC_GRAPH  # the audience of Graph tokens: scopes are "{resource}/…"
    graph_auth: GraphAuthMode = GraphAuthMode.DEMO
    graph_deadline: float = 10.0
    ack_after: float = 5.0  # answer Teams after this long; a slow meeting's card follows
    meetings_on_calendar: CalendarMode = CalendarMode.SCHEDULED
    authority_host: str = PUBLIC_AUTHORITY_HOST
    sso_resource: str = ""  # api://botid-{appId}, Teams SSO tokenExchangeResource.uri
    sso_connection_name: str = ""  # OAuthCard connectionName (an Azure Bot OAuth connection)
    public_url: str = ""  # https://{BOT_DOMAIN}: the consent page behind the sign-in button
    allowed_tenants: frozenset[str] = frozenset()
    redis_url: str | None = None
    state_encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    ca_file: str | None = None  # extra CA to trust (a private PKI, the local test CA)
    log_format: str = "json"
    log_level: str = "INFO"
    # botbuilder's own configuration keys, passed through unchanged (sovereign clouds, tests).
    channel_service: str | None = None
    to_bot_from_channel_openid_metadata_url: str | None = None
    to_bot_from_channel_token_issuer: str | None = None
    to_channel_from_bot_login_url: str | None = None
    to_channel_from_bot_oauth_scope: str | None = None
    max_body_bytes: int = 256 * 1024

    @property
    def demo(self) -> bool:
        return self.graph_auth is GraphAuthMode.DEMO

    @property
    def authenticated(self) -> bool:
        """Incoming JWT validation is on whenever an app id is configured."""
        return bool(self.app_id)

    @property
    def graph_root(self) -> str:
        return (self.graph_base_url or PUBLIC_GRAPH).rstrip("/")

    def authority(self, tenant: str | None = None) -> str:
        return f"{self.authority_host.rstrip('/')}/{tenant or self.app_tenant_id or 'organizations'}"


def _flag_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _not_fernet_keys(keys: tuple[str, ...]) -> list[int]:
    """Positions (1-based) of values that are not Fernet keys; never the values themselves."""
    bad = []
    for i, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):  # binascii.Error is a ValueError
            bad.append(i)
    return bad


def is_loopback_url(url: str) -> bool:
    """True for an http(s) URL whose host is this machine: 127.0.0.0/8, ::1 or `localhost`.
    Anything unusual (userinfo, backslashes, whitespace, a bad port, another scheme) is False:
    callers use it to refuse to send anything off the machine."""
    if not isinstance(url, str) or re.search(r"[\\\s\x00-\x1f\x7f]", url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    host = parts.hostname or ""
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc or not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Reads and validates; raises ConfigError listing every problem at once."""
    env = os.environ if env is None else env
    problems: list[str] = []

    def get(name: str, default: str = "") -> str:
        return env.get(name, default).strip()

    def number(name: str, default: str, cast=int, lo=None, hi=None):
        raw = get(name, default)
        try:
            value = cast(raw)
        except ValueError:
            problems.append(f"{name}={raw!r} is not a number.")
            return cast(default)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            problems.append(f"{name}={raw} must be between {lo} and {hi}.")
        return value

    app_id = get("MicrosoftAppId")
    password = env.get("MicrosoftAppPassword", "")
    tenant = get("MicrosoftAppTenantId")
    app_type = get("MicrosoftAppType", "MultiTenant") or "MultiTenant"
    if app_id and not GUID.match(app_id):
        problems.append(f"MicrosoftAppId={app_id!r} is not a GUID (the bot's Entra ID application id).")
    if app_id and not password:
        problems.append("MicrosoftAppPassword is empty: set the client secret of the bot's Entra ID app.")
    if app_type not in ("MultiTenant", "SingleTenant"):
        problems.append(f"MicrosoftAppType={app_type!r}: use MultiTenant or SingleTenant "
                        "(UserAssignedMSI cannot do on-behalf-of).")
    if app_type == "SingleTenant" and not tenant:
        problems.append("MicrosoftAppType=SingleTenant needs MicrosoftAppTenantId.")
    if tenant and not GUID.match(tenant):
        problems.append(f"MicrosoftAppTenantId={tenant!r} is not a GUID.")

    mode_raw = get("GRAPH_AUTH_MODE", "delegated" if app_id else "demo").lower()
    try:
        mode = GraphAuthMode(mode_raw)
    except ValueError:
        problems.append(f"GRAPH_AUTH_MODE={mode_raw!r}: use delegated, app or demo.")
        mode = GraphAuthMode.DEMO
    if mode is not GraphAuthMode.DEMO and not app_id:
        problems.append(f"GRAPH_AUTH_MODE={mode.value} needs MicrosoftAppId and MicrosoftAppPassword.")

    calendar_raw = get("MEETINGS_ON_CALENDAR", "scheduled").lower() or "scheduled"
    try:
        calendar = CalendarMode(calendar_raw)
    except ValueError:
        problems.append(f"MEETINGS_ON_CALENDAR={calendar_raw!r}: use scheduled, always or never.")
        calendar = CalendarMode.SCHEDULED

    graph = get("GRAPH_BASE_URL") or None
    if graph and not re.match(r"^https?://", graph):
        problems.append(f"GRAPH_BASE_URL={graph!r} must start with https:// (or http:// for a simulator).")

    allowed = frozenset(t.lower() for t in _flag_list(get("ALLOWED_TENANTS")))
    bad = [t for t in allowed if not GUID.match(t)]
    if bad:
        problems.append(f"ALLOWED_TENANTS has values that are not tenant ids: {', '.join(sorted(bad))}.")

    keys = tuple(_flag_list(env.get("STATE_ENCRYPTION_KEY", "")))
    make_key = ("Make a key with: python -c \"from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())\"")
    bad_keys = _not_fernet_keys(keys)
    if bad_keys:
        which = ("the value" if len(keys) == 1
                 else f"value {', '.join(map(str, bad_keys))} of {len(keys)} (comma-separated)")
        problems.append(f"STATE_ENCRYPTION_KEY: {which} is not a Fernet key (32 url-safe "
                        f"base64-encoded bytes). {make_key}")
    redis_url = get("REDIS_URL") or None
    if redis_url and not re.match(r"^rediss?://|^unix://", redis_url):
        problems.append(f"REDIS_URL={redis_url!r} must start with redis://, rediss:// or unix://.")
    if redis_url and not keys and mode is not GraphAuthMode.DEMO:
        # Redis holds user tokens, meeting records (join links, passcodes) and commands
        # waiting for sign-in: sealed (bot.state.SEALED_PREFIXES), never in plain text.
        problems.append("REDIS_URL is set but STATE_ENCRYPTION_KEY is not: user tokens and "
                        f"meeting details are kept encrypted in Redis. {make_key}")

    domain = get("BOT_DOMAIN")
    if domain and not re.match(r"^[A-Za-z0-9.-]+(:\d+)?$", domain):
        problems.append(f"BOT_DOMAIN={domain!r} must be a bare host name, e.g. meetbot.contoso.com.")
    if app_id and mode is GraphAuthMode.DELEGATED and not domain:
        problems.append("BOT_DOMAIN is empty: set the bot's public host name (the sign-in "
                        "button opens https://{BOT_DOMAIN}/auth/start).")

    workers = get("WORKERS", "1")
    if workers not in ("", "1") and not redis_url and mode is not GraphAuthMode.DEMO:
        problems.append(f"WORKERS={workers} needs REDIS_URL: each worker is a separate process, "
                        "and sign-ins, redelivery checks and card state must be shared.")

    ca_file = get("SSL_CA_FILE") or None
    if ca_file and not os.path.isfile(ca_file):
        problems.append(f"SSL_CA_FILE={ca_file!r} does not exist.")

    log_format = get("LOG_FORMAT", "text" if mode is GraphAuthMode.DEMO else "json").lower()
    if log_format not in ("json", "text"):
        problems.append(f"LOG_FORMAT={log_format!r}: use json or text.")

    settings = Settings(
        app_id=app_id, app_password=password, app_tenant_id=tenant, app_type=app_type,
        # Demo mode has no authentication: only this machine (the Agents Playground) may call.
        host=get("HOST") or ("127.0.0.1" if mode is GraphAuthMode.DEMO else "0.0.0.0"),
        port=number("PORT", "3978", lo=1, hi=65535),
        workers=number("WORKERS", "1", lo=1, hi=64),
        graph_base_url=graph, graph_auth=mode,
        # National clouds: the token audience is the Graph host (https://graph.microsoft.us …);
        # a simulator or proxy in front of Graph sets GRAPH_RESOURCE explicitly.
        graph_resource=(get("GRAPH_RESOURCE") or graph or PUBLIC_GRAPH).rstrip("/"),
        graph_deadline=number("GRAPH_TIMEOUT", "10", float, lo=0.5, hi=60),
        ack_after=number("ACK_AFTER_SECONDS", "5", float, lo=0.1, hi=14),
        meetings_on_calendar=calendar,
        authority_host=get("AZURE_AUTHORITY_HOST", PUBLIC_AUTHORITY_HOST) or PUBLIC_AUTHORITY_HOST,
        sso_resource=get("SSO_RESOURCE") or (f"api://botid-{app_id}" if app_id else ""),
        sso_connection_name=get("SSO_CONNECTION_NAME", "graph-sso"),
        public_url=f"https://{get('BOT_DOMAIN')}" if get("BOT_DOMAIN") else "",
        allowed_tenants=allowed, redis_url=redis_url, state_encryption_keys=keys,
        ca_file=ca_file, log_format=log_format, log_level=get("LOG_LEVEL", "INFO").upper(),
        channel_service=get("CHANNEL_SERVICE") or None,
        to_bot_from_channel_openid_metadata_url=get("TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL") or None,
        to_bot_from_channel_token_issuer=get("TO_BOT_FROM_CHANNEL_TOKEN_ISSUER") or None,
        to_channel_from_bot_login_url=get("TO_CHANNEL_FROM_BOT_LOGIN_URL") or None,
        to_channel_from_bot_oauth_scope=get("TO_CHANNEL_FROM_BOT_OAUTH_SCOPE") or None,
        max_body_bytes=number("MAX_BODY_BYTES", str(256 * 1024), lo=4096, hi=16 * 1024 * 1024),
    )
    if problems:
        raise ConfigError(problems)
    return settings

