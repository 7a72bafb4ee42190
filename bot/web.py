"""Response headers MeetBot sets on its own HTTP answers (aiohttp only, no botbuilder).

`server_header` is an `on_response_prepare` hook: every response the app prepares says
`Server: MeetBot` instead of aiohttp's default, which names the exact Python and aiohttp
versions (an attacker's shortcut to known bugs). `PAGE_HEADERS` go on the few HTML pages
(the consent page): no framing, no scripts or other loads, no referrer, no caching.
"""
from __future__ import annotations

from aiohttp import web

SERVER = "MeetBot"

PAGE_HEADERS: dict[str, str] = {
    # The pages are static text: nothing may load, and no site may frame them (clickjacking).
    "Content-Security-Policy": ("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
                                "form-action 'none'"),
    "X-Frame-Options": "DENY",  # for browsers that predate CSP frame-ancestors
    "Referrer-Policy": "no-referrer",  # the URLs carry the OAuth state (and Entra's code)
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


async def server_header(request: web.Request, response: web.StreamResponse) -> None:
    """Register with `app.on_response_prepare.append(server_header)`."""
    response.headers["Server"] = SERVER
