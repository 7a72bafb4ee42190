"""Anchor (a): a bare aiohttp handler doing the per-command work and nothing else — the floor.

One shared ClientSession (pooled keep-alive connections) for Graph and the connector; the turn
is answered 200 after the card was posted, like botbuilder answers after its turn.
Env: PORT, GRAPH_BASE_URL (Graph's root, e.g. http://127.0.0.1:9100, as MeetBot reads it).
"""
from __future__ import annotations

import json
import os

from _work import graph_body, meeting_card, parse
from aiohttp import ClientSession, TCPConnector, web

GRAPH_URL = os.environ["GRAPH_BASE_URL"].rstrip("/") + "/v1.0/me/onlineMeetings"
SESSION = web.AppKey("session", ClientSession)


async def messages(request: web.Request) -> web.Response:
    activity = await request.json()
    command = parse(activity.get("text", "")) if activity.get("type") == "message" else None
    if command is None:
        return web.Response(status=200)
    session = request.app[SESSION]
    async with session.post(GRAPH_URL, json=graph_body(*command),
                            headers={"Authorization": "Bearer anchor"}) as resp:
        resp.raise_for_status()
        meeting = await resp.json()
    conversation = activity["conversation"]
    reply = {"type": "message", "from": activity.get("recipient"), "recipient": activity.get("from"),
             "conversation": conversation, "replyToId": activity["id"],
             "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                              "content": meeting_card(meeting)}]}
    url = (f"{activity['serviceUrl'].rstrip('/')}/v3/conversations/{conversation['id']}"
           f"/activities/{activity['id']}")
    async with session.post(url, data=json.dumps(reply), headers={"Content-Type": "application/json"}) as resp:
        resp.raise_for_status()
    return web.Response(status=200)


async def _session(app: web.Application):
    app[SESSION] = ClientSession(connector=TCPConnector(limit=0))
    yield
    await app[SESSION].close()


def main() -> None:
    app = web.Application()
    app.router.add_post("/api/messages", messages)
    app.cleanup_ctx.append(_session)
    web.run_app(app, host="127.0.0.1", port=int(os.environ.get("PORT", "3978")), print=None,
                access_log=None)


if __name__ == "__main__":
    main()
