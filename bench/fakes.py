"""Lean fakes of the services a bot talks to, in ONE aiohttp process pinned to core 1 by the runner.

They are deliberately minimal (the full contract simulators live in localcloud/) so they cost
little CPU and never become the bottleneck of a benchmark:

* Graph:          POST /v1.0/{me|users/{id}}/onlineMeetings[/createOrGet] → 201 + a realistic
                  onlineMeeting after `graph_delay_ms`.
* Bot Connector:  POST /v3/conversations/{id}/activities[/{activityId}] → 200 {"id"} after
                  `connector_delay_ms`; records the arrival time (time.monotonic(), a system-wide
                  clock the load generator shares) of every Adaptive Card, keyed by the command
                  number N (from `replyToId` "act-N" or the text "load test N"), and counts TCP
                  connections vs requests.
* Channel auth:   GET /v1/.well-known/openidconfiguration + /keys (JWKS with the msteams
                  endorsement) so a bot can validate the Bot Framework tokens that
                  GET /_channel_token mints with localcloud's LocalIssuer.
* Entra ID (with --entra-port, for MeetBot's "every feature on" run): localcloud's Entra ID
                  simulator over TLS (a throw-away CA written to --ca-out) for the bot's own token
                  (client credentials) and the on-behalf-of exchange; GET /_sso_token mints the
                  Teams SSO token a `signin/tokenExchange` invoke carries.
* Control:        POST /_config {graph_delay_ms, connector_delay_ms}, POST /_reset, GET /_stats
                  (`other_cards` = cards without a join link, e.g. a sign-in or error card),
                  GET /_last_card, GET /_events (a stream of "N arrival\n" lines, one per card,
                  for the load generator).

Run: python -m bench.fakes --port 9100 [--entra-port 9443 --client APP_ID:SECRET --ca-out ca.pem]
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import shutil
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from localcloud.issuer import LocalIssuer

CHANNEL_ISSUER = "https://api.botframework.com"
_CARD = b"application/vnd.microsoft.card.adaptive"
_REPLY_TO = re.compile(rb'"replyToId"\s*:\s*"act-(\d+)"')
_LOAD_TEST_N = re.compile(rb"load test (\d+)")
_ORGANIZER = "550fae72-d251-43ec-868c-373732c2704f"
_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


class Fakes:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.graph_delay = 0.0
        self.connector_delay = 0.0
        self.issuer = LocalIssuer(issuer=CHANNEL_ISSUER)
        self._ids = itertools.count(1)
        self._subscribers: list[tuple[list[bytes], asyncio.Event]] = []
        self.entra: Any = None  # localcloud.entra_sim.EntraSim when --entra-port is given
        self.reset()

    def reset(self) -> None:
        self.stats = {"graph_requests": 0, "connector_requests": 0, "cards": 0, "typing": 0,
                      "other_activities": 0, "unkeyed_cards": 0, "other_cards": 0}
        self.last_card = b""
        self._peers: set[Any] = set()

    # --- Graph -------------------------------------------------------------------------------
    async def graph_create(self, request: web.Request) -> web.Response:
        self.stats["graph_requests"] += 1
        body = await request.json()
        if self.graph_delay:
            await asyncio.sleep(self.graph_delay)
        return web.Response(status=201, body=json.dumps(self._meeting(body)).encode(),
                            content_type="application/json")

    def _meeting(self, req: dict[str, Any]) -> dict[str, Any]:
        n = next(self._ids)
        now = datetime.now(UTC)
        start = req.get("startDateTime") or now.isoformat()
        end = req.get("endDateTime") or (now + timedelta(hours=1)).isoformat()
        thread = f"19:meeting_{uuid.uuid4().hex}@thread.v2"
        conf = f"{n % 1_000_000_000:09d}"
        meeting = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{_ORGANIZER}')/onlineMeetings/$entity",
            "id": f"MSo{_ORGANIZER}*0**{thread}",
            "creationDateTime": now.isoformat().replace("+00:00", "Z"),
            "startDateTime": start, "endDateTime": end, "subject": req.get("subject"),
            "joinWebUrl": f"https://teams.microsoft.com/l/meetup-join/{thread.replace(':', '%3a').replace('@', '%40')}"
                          f"/0?context=%7b%22Tid%22%3a%22{_TENANT}%22%2c%22Oid%22%3a%22{_ORGANIZER}%22%7d",
            "meetingCode": f"{n:012d}", "videoTeleconferenceId": None, "externalId": req.get("externalId"),
            "isEntryExitAnnounced": True, "allowedPresenters": "everyone", "allowMeetingChat": "enabled",
            "lobbyBypassSettings": {"scope": "organization", "isDialInBypassEnabled": False},
            "joinMeetingIdSettings": {"isPasscodeRequired": True, "joinMeetingId": f"{n:012d}", "passcode": "vT5mH6"},
            "audioConferencing": {
                "conferenceId": conf, "tollNumber": "+12525634478", "tollFreeNumber": "+18666390588",
                "tollNumbers": ["+12525634478", "+442035357530"], "tollFreeNumbers": ["+18666390588"],
                "dialinUrl": f"https://dialin.teams.microsoft.com/22f12fa0-499f-435b-bc69-b8de580ba330?id={conf}"},
            "chatInfo": {"threadId": thread, "messageId": "0", "replyChainMessageId": None},
            "participants": {"organizer": {"upn": "ana@contoso.example", "role": "presenter", "identity": {
                "user": {"id": _ORGANIZER, "displayName": None, "tenantId": _TENANT}}}, "attendees": []},
        }
        return meeting

    # --- Bot Connector -----------------------------------------------------------------------
    async def connector_post(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        self.stats["connector_requests"] += 1
        self._peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        body = await request.read()
        if _CARD in body:
            self._record_card(request.match_info.get("activity_id", ""), body, now)
        elif b'"typing"' in body:
            self.stats["typing"] += 1
        else:
            self.stats["other_activities"] += 1
        if self.connector_delay:
            await asyncio.sleep(self.connector_delay)
        return web.json_response({"id": f"1:{next(self._ids)}"})

    def _record_card(self, activity_id: str, body: bytes, now: float) -> None:
        self.stats["cards"] += 1
        self.last_card = body
        if b"meetup-join" not in body:  # a card without our join link: sign-in, error, help …
            self.stats["other_cards"] += 1
        n = activity_id[4:] if activity_id.startswith("act-") else None
        if n is None:
            m = _REPLY_TO.search(body) or _LOAD_TEST_N.search(body)
            n = m.group(1).decode() if m else None
        if n is None:
            self.stats["unkeyed_cards"] += 1
            return
        line = f"{n} {now:.6f}\n".encode()
        for buffer, ready in self._subscribers:
            buffer.append(line)
            ready.set()

    # --- Channel auth (OpenID metadata, JWKS, minted tokens) --------------------------------
    async def openid(self, _request: web.Request) -> web.Response:
        return web.json_response({"issuer": CHANNEL_ISSUER, "authorization_endpoint": "https://invalid.example",
                                  "jwks_uri": f"{self.base_url}/keys", "id_token_signing_alg_values_supported": ["RS256"],
                                  "token_endpoint_auth_methods_supported": ["private_key_jwt"]})

    async def keys(self, _request: web.Request) -> web.Response:
        jwks = self.issuer.jwks()
        for key in jwks["keys"]:
            key["endorsements"] = ["msteams"]
        return web.json_response(jwks)

    async def channel_token(self, request: web.Request) -> web.Response:
        """A Bot Framework channel→bot token: iss api.botframework.com, aud = the bot's app id,
        serviceurl = where replies go (what botbuilder's ChannelValidation checks)."""
        q = request.query
        token = self.issuer.issue({"aud": q["aud"], "serviceurl": q["serviceurl"]}, lifetime=int(q.get("lifetime", 3600)))
        return web.Response(text=token)

    async def sso_token(self, request: web.Request) -> web.Response:
        """The token Teams would put in `signin/tokenExchange` for this user (Entra simulator's key)."""
        if self.entra is None:
            raise web.HTTPNotFound(text="start the fakes with --entra-port")
        q = request.query
        return web.Response(text=self.entra.user_sso_token(q["oid"], q["tid"], app_id=q["app_id"]))

    # --- Control ------------------------------------------------------------------------------
    async def config(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.graph_delay = float(body.get("graph_delay_ms", self.graph_delay * 1000)) / 1000
        self.connector_delay = float(body.get("connector_delay_ms", self.connector_delay * 1000)) / 1000
        return web.json_response({"graph_delay_ms": self.graph_delay * 1000,
                                  "connector_delay_ms": self.connector_delay * 1000})

    async def reset_stats(self, _request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({})

    async def get_stats(self, _request: web.Request) -> web.Response:
        return web.json_response({**self.stats, "connector_connections": len(self._peers)})

    async def events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        buffer: list[bytes] = []
        ready = asyncio.Event()
        sub = (buffer, ready)
        self._subscribers.append(sub)
        try:
            await resp.write(b"ready\n")
            while True:
                await ready.wait()
                ready.clear()
                chunk = b"".join(buffer)
                buffer.clear()
                await resp.write(chunk)
        except ConnectionResetError:  # the load generator finished and went away
            return resp
        finally:
            self._subscribers.remove(sub)

    def app(self) -> web.Application:
        app = web.Application()
        r = app.router
        for base in ("/v1.0/me/onlineMeetings", "/v1.0/users/{user}/onlineMeetings"):
            r.add_post(base, self.graph_create)
            r.add_post(base + "/createOrGet", self.graph_create)
        r.add_post("/v3/conversations/{conversation_id}/activities", self.connector_post)
        r.add_post("/v3/conversations/{conversation_id}/activities/{activity_id}", self.connector_post)
        r.add_get("/v1/.well-known/openidconfiguration", self.openid)
        r.add_get("/keys", self.keys)
        r.add_get("/_channel_token", self.channel_token)
        r.add_get("/_sso_token", self.sso_token)
        r.add_post("/_config", self.config)
        r.add_post("/_reset", self.reset_stats)
        r.add_get("/_stats", self.get_stats)
        r.add_get("/_events", self.events)
        r.add_get("/_last_card", lambda _r: web.Response(body=self.last_card, content_type="application/json"))
        return app


async def serve(a: argparse.Namespace) -> None:
    fakes = Fakes(f"http://127.0.0.1:{a.port}")
    fakes.graph_delay, fakes.connector_delay = a.graph_delay_ms / 1000, a.connector_delay_ms / 1000
    runners: list[web.AppRunner] = []

    async def site(app: web.Application, port: int, ssl_context=None) -> None:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_context).start()
        runners.append(runner)

    if a.entra_port:  # first, so it is up once the main port listens
        from localcloud.entra_sim import ENTRA_SIM, create_entra_app
        from localcloud.tls import LocalTLS
        tls = LocalTLS()
        shutil.copyfile(tls.ca_path, a.ca_out)
        entra = create_entra_app(LocalIssuer(), clients=dict(c.split(":", 1) for c in a.client))
        fakes.entra = entra[ENTRA_SIM]
        await site(entra, a.entra_port, tls.server_ssl_context())
    await site(fakes.app(), a.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=9100)
    p.add_argument("--graph-delay-ms", type=float, default=0)
    p.add_argument("--connector-delay-ms", type=float, default=0)
    p.add_argument("--entra-port", type=int, default=0, help="also serve the Entra ID simulator (TLS) here")
    p.add_argument("--client", action="append", default=[], help="APP_ID:SECRET known to the Entra simulator")
    p.add_argument("--ca-out", default="fakes-ca.pem", help="where to write the TLS CA certificate (PEM)")
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
