"""Configuration: read once from the environment at start-up, validated with one line per problem.

The names are the Bot Framework's own (`MicrosoftAppId`, …, and botbuilder's configuration keys
such as `TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL`), so a bot moved from a Microsoft sample or
into a sovereign cloud keeps its settings.
"""
from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from .credentials import BotCredential, CertificateError, CredentialKind, load_certificate

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
PUBLIC_GRAPH = "https://graph.microsoft.com"
PUBLIC_AUTHORITY_HOST = "https://login.microsoftonline.com"
# MicrosoftAppType values, compared without case as botbuilder does; UserAssignedMSI is the
# spelling of Microsoft's bot samples (botbuilder-js writes UserAssignedMsi).
APP_TYPES = {t.lower(): t for t in ("MultiTenant", "SingleTenant", "UserAssignedMSI")}
# Why a managed identity cannot be the bot in delegated mode: the sentence start-up prints.
MSI_CANNOT_SIGN_IN = (
    "MicrosoftAppType=UserAssignedMSI cannot sign users in (GRAPH_AUTH_MODE=delegated): Teams "
    "SSO tokens are issued to an app registration (api://botid-{MicrosoftAppId}), and a managed "
    "identity is not one, so it can neither receive them nor exchange them on-behalf-of. Use "
    "GRAPH_AUTH_MODE=app, or keep the app registration without a secret: MicrosoftAppType="
    "SingleTenant with MicrosoftAppClientId set to the identity's client id and a federated "
    "credential on the app that trusts the identity (README \"Identity choices\").")


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
    app_tenant_id: str = ""
    app_type: str = "MultiTenant"
    credential: BotCredential = BotCredential()  # how the bot proves it is MicrosoftAppId
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
    metrics_port: int | None = None  # /metrics on a port of its own (None: the public one)
    # Telemetry (bot/telemetry.py): Application Insights or OTLP; neither = nothing exported.
    appinsights_connection_string: str = field(default="", repr=False)
    otlp_endpoint: str = ""
    redis_auth: str = "password"  # "entra": Microsoft Entra ID tokens as the Redis password

    @property
    def demo(self) -> bool:
        return self.graph_auth is GraphAuthMode.DEMO

    @property
    def authenticated(self) -> bool:
        """Incoming JWT validation is on whenever an app id is configured."""
        return bool(self.app_id)

    @property
    def state_secret(self) -> str:
        """Key material the same on every instance, for what must verify anywhere (the consent
        page's OAuth state): the client secret, else the certificate's key, else the state
        encryption key, else empty (one process: it makes its own)."""
        if self.credential.secret:
            return self.credential.secret
        if self.credential.certificate is not None:
            return self.credential.certificate.private_key_pem
        return self.state_encryption_keys[0] if self.state_encryption_keys else ""

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


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


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

    def number(name: str, default: str, cast: Callable[[str], Any] = int,
               lo: float | None = None, hi: float | None = None) -> Any:
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
    app_type_raw = get("MicrosoftAppType", "MultiTenant") or "MultiTenant"
    app_type = APP_TYPES.get(app_type_raw.lower(), app_type_raw)
    cert_path = get("MicrosoftAppCertificatePath")
    key_path = get("MicrosoftAppCertificateKeyPath")
    thumbprint = get("MicrosoftAppCertificateThumbprint")
    identity = get("MicrosoftAppClientId")
    if app_id and not GUID.match(app_id):
        problems.append(f"MicrosoftAppId={app_id!r} is not a GUID (the bot's Entra ID application id).")
    if app_type not in APP_TYPES.values():
        problems.append(f"MicrosoftAppType={app_type_raw!r}: use SingleTenant, MultiTenant or "
                        "UserAssignedMSI.")
    if app_type in ("SingleTenant", "UserAssignedMSI") and not tenant:
        problems.append(f"MicrosoftAppType={app_type} needs MicrosoftAppTenantId.")
    if tenant and not GUID.match(tenant):
        problems.append(f"MicrosoftAppTenantId={tenant!r} is not a GUID.")
    if identity and not GUID.match(identity):
        problems.append(f"MicrosoftAppClientId={identity!r} is not a GUID (the managed "
                        "identity's client id).")
    if (key_path or thumbprint) and not cert_path:
        problems.append("MicrosoftAppCertificateKeyPath and MicrosoftAppCertificateThumbprint "
                        "go with MicrosoftAppCertificatePath, which is empty.")
    certificate = None
    if cert_path:
        try:
            certificate = load_certificate(cert_path, key_path, thumbprint)
        except CertificateError as err:
            problems.append(str(err))
    credential = BotCredential()
    if app_type == "UserAssignedMSI":
        # The managed identity is the bot (botbuilder: MicrosoftAppId is its client id, and
        # no password may be set); a second credential would be a mistake.
        if not app_id:
            problems.append("MicrosoftAppType=UserAssignedMSI needs MicrosoftAppId: the "
                            "managed identity's client id.")
        extra = [n for n, v in (("MicrosoftAppPassword", password),
                                ("MicrosoftAppCertificatePath", cert_path),
                                ("MicrosoftAppClientId", identity if identity != app_id else ""))
                 if v]
        if extra:
            problems.append(f"MicrosoftAppType=UserAssignedMSI takes no other credential: "
                            f"remove {', '.join(extra)}.")
        credential = BotCredential(CredentialKind.MANAGED_IDENTITY, identity_client_id=app_id)
    elif app_id:
        given = [n for n, v in (("MicrosoftAppPassword", password),
                                ("MicrosoftAppCertificatePath", cert_path),
                                ("MicrosoftAppClientId", identity)) if v]
        if not given:
            problems.append("MicrosoftAppPassword is empty and no other credential is set: set "
                            "the client secret of the bot's Entra ID app, or "
                            "MicrosoftAppCertificatePath (a certificate), or "
                            "MicrosoftAppClientId (a managed identity the app trusts), or use "
                            "MicrosoftAppType=UserAssignedMSI.")
        elif len(given) > 1:
            problems.append(f"Set one credential for MicrosoftAppId, not {' and '.join(given)}.")
        elif password:
            credential = BotCredential(CredentialKind.SECRET, secret=password)
        elif certificate is not None:
            credential = BotCredential(CredentialKind.CERTIFICATE, certificate=certificate)
        elif identity:
            credential = BotCredential(CredentialKind.FEDERATED, identity_client_id=identity)

    mode_raw = get("GRAPH_AUTH_MODE", "delegated" if app_id else "demo").lower()
    try:
        mode = GraphAuthMode(mode_raw)
    except ValueError:
        problems.append(f"GRAPH_AUTH_MODE={mode_raw!r}: use delegated, app or demo.")
        mode = GraphAuthMode.DEMO
    if mode is not GraphAuthMode.DEMO and not app_id:
        problems.append(f"GRAPH_AUTH_MODE={mode.value} needs MicrosoftAppId and a credential.")
    if mode is GraphAuthMode.DELEGATED and app_type == "UserAssignedMSI":
        problems.append(MSI_CANNOT_SIGN_IN)

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
    if app_type == "UserAssignedMSI" and tenant:
        # A managed identity gets tokens in its own tenant only: app-only Graph can reach
        # that tenant's users and no one else's, so others get the allow-list's refusal.
        others = sorted(allowed - {tenant.lower()})
        if others:
            problems.append("MicrosoftAppType=UserAssignedMSI serves its own tenant only "
                            f"(MicrosoftAppTenantId): ALLOWED_TENANTS names {', '.join(others)}.")
        allowed = frozenset({tenant.lower()})

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
    redis_auth = get("REDIS_AUTH", "password").lower() or "password"
    if redis_auth not in ("password", "entra"):
        problems.append(f"REDIS_AUTH={redis_auth!r}: use password (in REDIS_URL) or entra.")
    elif redis_auth == "entra":
        # Azure Managed Redis / Azure Cache for Redis take a Microsoft Entra token as the
        # password of the identity's object id; MeetBot's identity is its managed identity.
        if not redis_url:
            problems.append("REDIS_AUTH=entra needs REDIS_URL (rediss://{name}.{region}"
                            ".redis.azure.net:10000 for Azure Managed Redis).")
        if not credential.uses_managed_identity:
            problems.append("REDIS_AUTH=entra signs in to Redis as the bot's managed identity: "
                            "set MicrosoftAppType=UserAssignedMSI or MicrosoftAppClientId.")

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

    metrics_port_raw = get("METRICS_PORT")
    metrics_port = number("METRICS_PORT", "9464", lo=1, hi=65535) if metrics_port_raw else None
    if metrics_port is not None and metrics_port_raw == get("PORT", "3978"):
        problems.append(f"METRICS_PORT={metrics_port} is PORT: give /metrics a port of its own, "
                        "or leave METRICS_PORT empty to serve it on PORT.")

    insights = get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    if insights and not re.search(r"(^|;)\s*InstrumentationKey\s*=\s*[0-9a-fA-F-]{36}", insights):
        problems.append("APPLICATIONINSIGHTS_CONNECTION_STRING has no InstrumentationKey=…: copy "
                        "the whole connection string from the Application Insights resource.")
    otlp = get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if otlp and not re.match(r"^https?://[^/\s]+", otlp):
        problems.append(f"OTEL_EXPORTER_OTLP_ENDPOINT={otlp!r} must be an http:// or https:// "
                        "URL (an OpenTelemetry collector, OTLP over HTTP).")
    # The exporters are optional packages (requirements-telemetry.txt): say so at start-up
    # rather than fail on the first turn. find_spec does not import them.
    for name, value, module in (
            ("APPLICATIONINSIGHTS_CONNECTION_STRING", insights, "azure.monitor.opentelemetry"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp, "opentelemetry.exporter.otlp.proto.http")):
        if value and not _installed(module):
            problems.append(f"{name} is set but {module} is not installed: install "
                            "requirements-telemetry.lock (App Service: CUSTOM_REQUIREMENTSTXT_PATH="
                            "requirements-telemetry.lock; the container: --build-arg "
                            "REQUIREMENTS=requirements-telemetry.lock).")

    ca_file = get("SSL_CA_FILE") or None
    if ca_file and not os.path.isfile(ca_file):
        problems.append(f"SSL_CA_FILE={ca_file!r} does not exist.")

    log_format = get("LOG_FORMAT", "text" if mode is GraphAuthMode.DEMO else "json").lower()
    if log_format not in ("json", "text"):
        problems.append(f"LOG_FORMAT={log_format!r}: use json or text.")

    settings = Settings(
        app_id=app_id, app_tenant_id=tenant, app_type=app_type,
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
        credential=credential, metrics_port=metrics_port, appinsights_connection_string=insights,
        otlp_endpoint=otlp, redis_auth=redis_auth,
    )
    if problems:
        raise ConfigError(problems)
    return settings

