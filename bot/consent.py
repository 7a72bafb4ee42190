"""The sign-in card's fallback: a consent page.

Teams single sign-on is silent once the user (or an admin) has consented to the app's Graph
permission. Until then the token exchange fails with consent_required, the bot answers 412,
and Teams shows the OAuthCard's "Sign in" button, which opens /auth/start here. We send the
user to Entra ID's authorize endpoint with prompt=consent; Entra ID returns to /auth/end, and
the next `meet` signs in silently. No code is redeemed: the on-behalf-of exchange gets tokens.
Register https://{BOT_DOMAIN}/auth/end as a Web redirect URI of the app.

The OAuth `state` (RFC 6749 §10.12) is checked without server memory: it is the issue time and
tenant with an HMAC whose key is derived from key material every instance shares
(`Settings.state_secret`: the client secret, the certificate's key or STATE_ENCRYPTION_KEY), so
every instance issues and accepts the same states; with none of them (a managed identity and
no shared state) the one process makes its own key. /auth/end answers 400 to a missing, altered, foreign or
stale one. The state is not bound to the browser (no cookie): nothing is redeemed here, so a
forged round trip could only show someone the "all set" page.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import time
from urllib.parse import urlencode

from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .config import GUID, Settings
from .errors import SignInLinkInvalid, describe
from .i18n import LANGUAGES, Translator, language_for, translator
from .web import PAGE_HEADERS

STATE_TTL = 15 * 60  # seconds from the Sign in button to Entra ID's redirect back (consent)
_CLOCK_SKEW = 60  # seconds another instance's clock may run ahead of ours
_MAX_STATE = 200  # an issued state is ~70 characters


def signin_url(settings: Settings) -> str:
    return f"{settings.public_url}/auth/start" if settings.public_url else ""


def state_key(material: str) -> bytes:
    """The state's HMAC key: the same on every instance with the same key material (random
    when there is none). Rotating the material only invalidates sign-ins in flight (the user
    selects Sign in again)."""
    secret = material.encode() if material else secrets.token_bytes(32)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"meetbot consent state v1").derive(secret)


def _mac(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_state(key: bytes, tenant: str, *, now: float | None = None) -> str:
    """`{issued}.{tenant}.{mac}`: URL-safe as is (digits, a GUID or "organizations", base64url)."""
    payload = f"{int(time.time() if now is None else now)}.{tenant}"
    return f"{payload}.{_mac(key, payload)}"


def check_state(key: bytes, state: str, *, now: float | None = None) -> None:
    """Raises SignInLinkInvalid (expired=True when only the age is wrong)."""
    if not state or len(state) > _MAX_STATE:
        raise SignInLinkInvalid("missing or oversized state")
    payload, _, mac = state.rpartition(".")
    if not hmac.compare_digest(mac.encode(), _mac(key, payload).encode()):
        raise SignInLinkInvalid("state not issued by this bot")
    age = (time.time() if now is None else now) - int(payload.partition(".")[0])
    if not -_CLOCK_SKEW <= age <= STATE_TTL:
        raise SignInLinkInvalid(f"state issued {int(age)}s ago", expired=True)


def page_translator(accept_language: str) -> Translator:
    """The consent page opens in the browser, outside any activity: it speaks the first of the
    browser's languages (Accept-Language, RFC 9110 §12.5.4) that MeetBot speaks."""
    ranked = []
    for position, item in enumerate(accept_language[:500].split(",")[:20]):
        tag, _, weight = item.strip().partition(";q=")
        try:
            quality = float(weight) if weight else 1.0
        except ValueError:
            continue
        ranked.append((-quality, position, tag.strip()))
    for _q, _position, tag in sorted(ranked):
        if tag.partition("-")[0].lower() in LANGUAGES:
            return translator(language_for(tag))
    return translator(None)


def _page(body: str, status: int = 200) -> web.Response:
    return web.Response(text=f"<!doctype html><title>MeetBot</title>{body}", status=status,
                        content_type="text/html", headers=PAGE_HEADERS)


def routes(settings: Settings) -> list[web.RouteDef]:
    scopes = f"openid profile offline_access {settings.graph_resource}/OnlineMeetings.ReadWrite"
    key = state_key(settings.state_secret)

    async def start(request: web.Request) -> web.Response:
        tenant = request.query.get("tenant", "")
        if not GUID.match(tenant):
            tenant = settings.app_tenant_id or "organizations"
        query = urlencode({
            "client_id": settings.app_id, "response_type": "code", "response_mode": "query",
            "redirect_uri": f"{settings.public_url}/auth/end", "scope": scopes,
            "prompt": "consent", "state": issue_state(key, tenant)})
        raise web.HTTPFound(f"{settings.authority(tenant)}/oauth2/v2.0/authorize?{query}",
                            headers=PAGE_HEADERS)

    async def end(request: web.Request) -> web.Response:
        tr = page_translator(request.headers.get("Accept-Language", ""))
        _ = tr.gettext
        try:
            check_state(key, request.query.get("state", ""))
        except SignInLinkInvalid as err:
            told = describe(err, tr)
            return _page(f"<h1>{html.escape(told.title, quote=False)}</h1>"
                         f"<p>{html.escape(told.text, quote=False)}</p>", status=400)
        if "error" in request.query:
            detail = html.escape(request.query.get("error_description", "")[:300])
            title = html.escape(_("Permission wasn't granted"), quote=False)
            text = html.escape(_("Your organisation may require an admin to approve MeetBot."),
                               quote=False)
            body = f"<h1>{title}</h1><p>{text}</p><p><small>{detail}</small></p>"
        else:
            title = html.escape(_("You're all set"), quote=False)
            # The command in bold: the translation marks it with `…`, as the catalogue does.
            text = re.sub(r"`([^`<>]+)`", r"<b>\1</b>", html.escape(
                _("Close this window and type `meet` in Teams again."), quote=False))
            body = f"<h1>{title}</h1><p>{text}</p>"
        return _page(body)

    return [web.get("/auth/start", start), web.get("/auth/end", end)]
