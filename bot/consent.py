"""The sign-in card's fallback: a consent page.

Teams single sign-on is silent once the user (or an admin) has consented to the app's Graph
permission. Until then the token exchange fails with consent_required, the bot answers 412,
and Teams shows the OAuthCard's "Sign in" button, which opens /auth/start here. We send the
user to Entra ID's authorize endpoint with prompt=consent; Entra ID returns to /auth/end, and
the next `meet` signs in silently. No code is redeemed: the on-behalf-of exchange gets tokens.
Register https://{BOT_DOMAIN}/auth/end as a Web redirect URI of the app.
"""
from __future__ import annotations

import html
import secrets
from urllib.parse import urlencode

from aiohttp import web

from .config import Settings

_TENANT_CHARS = set("0123456789abcdefABCDEF-")


def signin_url(settings: Settings) -> str:
    return f"{settings.public_url}/auth/start" if settings.public_url else ""


def routes(settings: Settings) -> list[web.RouteDef]:
    scopes = f"openid profile offline_access {settings.graph_resource}/OnlineMeetings.ReadWrite"

    async def start(request: web.Request) -> web.Response:
        tenant = request.query.get("tenant", "")
        if not tenant or not set(tenant) <= _TENANT_CHARS:
            tenant = settings.app_tenant_id or "organizations"
        query = urlencode({
            "client_id": settings.app_id, "response_type": "code", "response_mode": "query",
            "redirect_uri": f"{settings.public_url}/auth/end", "scope": scopes,
            "prompt": "consent", "state": secrets.token_urlsafe(16)})
        raise web.HTTPFound(f"{settings.authority(tenant)}/oauth2/v2.0/authorize?{query}")

    async def end(request: web.Request) -> web.Response:
        if "error" in request.query:
            detail = html.escape(request.query.get("error_description", "")[:300])
            body = ("<h1>Permission wasn't granted</h1><p>Your organisation may require an "
                    f"admin to approve MeetBot.</p><p><small>{detail}</small></p>")
        else:
            body = ("<h1>You're all set</h1><p>Close this window and type <b>meet</b> in Teams "
                    "again.</p>")
        return web.Response(text=f"<!doctype html><title>MeetBot</title>{body}",
                            content_type="text/html")

    return [web.get("/auth/start", start), web.get("/auth/end", end)]
