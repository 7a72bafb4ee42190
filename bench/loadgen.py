"""Load generator: Teams-shaped `meet now 30m about load test N` activities at a fixed concurrency.

Each of `concurrency` workers sends one activity, waits for the HTTP answer AND for the card to
reach the fake connector (announced on the fakes' /_events stream), then sends the next: a
closed loop, so a bot that answers HTTP before its turn finishes still has at most
`concurrency` commands in flight. Times are time.monotonic(), shared with the fakes process.

Timed mode (--duration): warm-up, then a measured window; reports throughput (cards that
arrived in the window per second), p50/p95/p99 of HTTP answer time and of command→card time
(for commands sent in the window), errors, and the bot's CPU per command and memory.
Count mode (--count): sends exactly N commands and reports the bot's RSS at --checkpoints.

Prints one JSON object on stdout. Run: python -m bench.loadgen --help
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector

try:
    from bench import procstat
except ImportError:  # run as a script from bench/
    import procstat  # type: ignore[no-redef]

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
USERS = 64  # distinct senders, so per-user caches (OBO tokens) are warm after the warm-up


def activity_template(service_url: str, app_id: str) -> str:
    """The activity as JSON text with __N__ / __U__ / __TS__ placeholders (filled per request)."""
    activity = {
        "type": "message", "id": "act-__N__", "timestamp": "__TS__", "localTimestamp": "__TS__",
        "localTimezone": "Europe/Berlin", "serviceUrl": service_url, "channelId": "msteams",
        "from": {"id": "29:1load-user-__U__", "name": "Load User __U__",
                 "aadObjectId": "00000000-0000-4000-8000-0000000__U__"},
        "conversation": {"conversationType": "personal", "tenantId": TENANT, "id": "a:1load-conv-__U__"},
        "recipient": {"id": f"28:{app_id or 'meetbot'}", "name": "MeetBot"},
        "textFormat": "plain", "locale": "en-US", "text": "meet now 30m about load test __N__",
        "entities": [{"locale": "en-US", "country": "US", "platform": "Web", "timezone": "Europe/Berlin",
                      "type": "clientInfo"}],
        "channelData": {"tenant": {"id": TENANT}},
    }
    return json.dumps(activity)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    v = sorted(values)
    pick = lambda q: round(v[min(len(v) - 1, int(q * len(v)))] * 1000, 2)  # noqa: E731
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": round(v[-1] * 1000, 2)}


class LoadGen:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.template = activity_template(a.fakes.rstrip("/"), a.app_id)
        self.counter = itertools.count(a.first_id)
        self.pending: dict[int, asyncio.Future[float]] = {}
        self.records: list[tuple[float, float, float | None, int]] = []  # (sent, answered, card, status)
        self.completed = 0
        self.checkpoints: dict[int, dict[str, int]] = {}
        self.headers = {"Content-Type": "application/json"}
        self.pids: list[int] = []

    def body(self, n: int) -> bytes:
        return (self.template.replace("__N__", str(n)).replace("__U__", f"{n % USERS:05d}")
                .replace("__TS__", _now()).encode())

    async def read_events(self, session: ClientSession, ready: asyncio.Event) -> None:
        async with session.get(self.a.fakes.rstrip("/") + "/_events", timeout=ClientTimeout(total=None)) as resp:
            await resp.content.readline()
            ready.set()
            async for line in resp.content:
                n, t = line.split()
                fut = self.pending.pop(int(n), None)
                if fut is not None and not fut.done():
                    fut.set_result(float(t))

    async def sign_in(self, session: ClientSession) -> dict[str, int]:
        """'Every feature on': each load user signs in once, as Teams SSO does (a
        `signin/tokenExchange` invoke carrying the user's SSO token), so the bot holds a warm
        on-behalf-of token per user before any measured command."""
        fakes = self.a.fakes.rstrip("/")
        failed = 0
        for u in range(USERS):
            activity = json.loads(self.template.replace("__N__", f"signin-{u}-{uuid.uuid4().hex[:8]}")
                                  .replace("__U__", f"{u:05d}").replace("__TS__", _now()))
            query = {"oid": activity["from"]["aadObjectId"], "tid": TENANT, "app_id": self.a.app_id}
            async with session.get(fakes + "/_sso_token", params=query) as resp:
                sso = await resp.text()
            activity.pop("text")
            activity.update(type="invoke", name="signin/tokenExchange",
                            value={"id": str(uuid.uuid4()), "connectionName": self.a.signin, "token": sso})
            async with session.post(self.a.url, json=activity, headers=self.headers) as resp:
                await resp.read()
                failed += resp.status != 200
        async with session.post(fakes + "/_reset") as resp:  # the sign-in replies are not the benchmark
            await resp.read()
        return {"users": USERS, "failed": failed}

    async def one(self, session: ClientSession, n: int) -> tuple[float, float, float | None, int]:
        fut = asyncio.get_running_loop().create_future()
        self.pending[n] = fut
        sent = time.monotonic()
        try:
            async with session.post(self.a.url, data=self.body(n), headers=self.headers) as resp:
                await resp.read()
                status = resp.status
        except Exception:  # noqa: BLE001 — any transport failure is one error of the run
            status = 0
        answered = time.monotonic()
        card = None
        if 200 <= status < 300:
            try:
                async with asyncio.timeout(self.a.card_timeout):
                    card = await fut
            except TimeoutError:
                pass
        self.pending.pop(n, None)
        return sent, answered, card, status

    async def timed_worker(self, session: ClientSession, t_end: float) -> None:
        while time.monotonic() < t_end:
            self.records.append(await self.one(session, next(self.counter)))

    async def count_worker(self, session: ClientSession, deadline: float) -> None:
        while time.monotonic() < deadline:
            n = next(self.counter)
            if n >= self.a.first_id + self.a.count:
                return
            sent, answered, card, status = await self.one(session, n)
            if card is None:
                self.records.append((sent, answered, card, status))
                continue
            self.completed += 1
            if self.completed in self.a.checkpoints and self.pids:
                self.checkpoints[self.completed] = procstat.memory_kb(procstat.tree(self.a.pid))

    async def run(self) -> dict[str, Any]:
        a = self.a
        connector = TCPConnector(limit=0, ttl_dns_cache=None)
        async with ClientSession(connector=connector, timeout=ClientTimeout(total=a.card_timeout)) as session:
            if a.token_aud is not None:
                q = {"aud": a.token_aud, "serviceurl": a.fakes.rstrip("/")}
                async with session.get(a.fakes.rstrip("/") + "/_channel_token", params=q) as resp:
                    self.headers["Authorization"] = "Bearer " + (await resp.text())
            ready = asyncio.Event()
            events = asyncio.create_task(self.read_events(session, ready))
            await ready.wait()
            if a.pid:
                self.pids = procstat.tree(a.pid)
            signin = await self.sign_in(session) if a.signin else None
            result = await (self.count_mode(session) if a.count else self.timed_mode(session))
            if signin:
                result["signin"] = signin
            events.cancel()
        return result

    async def timed_mode(self, session: ClientSession) -> dict[str, Any]:
        a = self.a
        begin = time.monotonic()
        t_start, t_end = begin + a.warmup, begin + a.warmup + a.duration
        cpu: dict[str, tuple[float, float, float]] = {}
        loop = asyncio.get_running_loop()
        fakes = procstat.tree(a.fakes_pid) if a.fakes_pid else []

        def snapshot(name: str) -> None:  # bot, fakes and this process: is core 1 a bottleneck?
            cpu[name] = (procstat.cpu_seconds(self.pids), procstat.cpu_seconds(fakes), time.process_time())
        loop.call_at(t_start, snapshot, "start")
        loop.call_at(t_end, snapshot, "end")
        await asyncio.gather(*(self.timed_worker(session, t_end) for _ in range(a.concurrency)))
        window = [r for r in self.records if t_start <= r[0] < t_end]
        cards = sum(1 for r in self.records if r[2] is not None and t_start <= r[2] < t_end)
        ok = [r for r in window if r[2] is not None]
        out: dict[str, Any] = {
            "concurrency": a.concurrency, "duration_s": a.duration, "sent": len(window),
            "throughput": round(cards / a.duration, 1),
            "http_ms": percentiles([r[1] - r[0] for r in window if 200 <= r[3] < 300]),
            "card_ms": percentiles([r[2] - r[0] for r in ok]),
            "errors": {"non_2xx": sum(1 for r in window if not 200 <= r[3] < 300),
                       "missing_card": sum(1 for r in window if 200 <= r[3] < 300 and r[2] is None)},
        }
        (bot0, fakes0, own0), (bot1, fakes1, own1) = cpu["start"], cpu["end"]
        if fakes:
            out["core1_busy_pct"] = round(100 * ((fakes1 - fakes0) + (own1 - own0)) / a.duration, 1)
        if self.pids:
            used = bot1 - bot0
            out["bot_cpu_s"] = round(used, 3)
            out["cpu_ms_per_cmd"] = round(used * 1000 / cards, 3) if cards else None
            out["bot_memory_kb"] = procstat.memory_kb(self.pids)
        return out

    async def count_mode(self, session: ClientSession) -> dict[str, Any]:
        a = self.a
        begin = time.monotonic()
        await asyncio.gather(*(self.count_worker(session, begin + a.max_seconds) for _ in range(a.concurrency)))
        elapsed = time.monotonic() - begin
        return {"concurrency": a.concurrency, "completed": self.completed, "elapsed_s": round(elapsed, 1),
                "throughput": round(self.completed / elapsed, 1), "failed": len(self.records),
                "checkpoints": {str(k): v for k, v in sorted(self.checkpoints.items())},
                "bot_memory_kb": procstat.memory_kb(self.pids) if self.pids else None}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Teams-shaped load against a bot's /api/messages.")
    p.add_argument("--url", required=True, help="the bot's /api/messages URL")
    p.add_argument("--fakes", required=True, help="base URL of bench/fakes.py (also the serviceUrl)")
    p.add_argument("--concurrency", "-c", type=int, default=16)
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds (timed mode)")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--count", type=int, default=0, help="send exactly this many commands (count mode)")
    p.add_argument("--checkpoints", default="", help="count mode: completed counts at which to read the bot's RSS")
    p.add_argument("--max-seconds", type=float, default=900.0, help="count mode: stop after this long regardless")
    p.add_argument("--first-id", type=int, default=1, help="first command number N (unique per run)")
    p.add_argument("--card-timeout", type=float, default=15.0, help="a card later than this counts as missing")
    p.add_argument("--pid", type=int, default=0, help="the bot's pid, for CPU and memory")
    p.add_argument("--fakes-pid", type=int, default=0, help="the fakes' pid, to report how busy core 1 was")
    p.add_argument("--app-id", default="", help="the bot's app id (recipient id 28:<app id>)")
    p.add_argument("--token-aud", default=None, help="send a channel token with this audience (the app id)")
    p.add_argument("--signin", default="", help="first sign every load user in (SSO token exchange) "
                   "with this OAuth connection name")
    a = p.parse_args(argv)
    a.checkpoints = {int(x) for x in a.checkpoints.split(",") if x}
    return a


def main() -> None:
    result = asyncio.run(LoadGen(parse_args()).run())
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
