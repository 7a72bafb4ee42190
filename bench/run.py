"""One command for the whole benchmark: `python -m bench.run` (or `python bench/run.py`) from the
repository root, with the project venv's python. `--quick` is a 1–2 minute smoke run.

For each stack: start the fakes (core 1), start the bot (core 0; a WORKERS=2 bot is not pinned),
measure start-up (spawn → port accepts) and idle RSS, run the matrix (median of --runs runs per
cell, the load generator on core 1), optionally the memory-growth run and a py-spy profile, stop
everything. Writes bench/results/<timestamp>.json and .md (the issue-8 table plus ratios).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:  # `python bench/run.py` as well as `python -m bench.run`
    sys.path.insert(0, str(ROOT))

from bench import procstat, profile, report  # noqa: E402

PY = sys.executable
AGENTS_VENV = BENCH / ".venv-agents"
AGENTS_PACKAGES = ("microsoft-agents-hosting-aiohttp", "microsoft-agents-authentication-msal")
FULL_APP_ID = "6b8e7f1a-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
FULL_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"  # the load generator's tenant
FULL_SECRET = "bench-only-secret"  # known only to the local Entra ID simulator
SSO_CONNECTION = "graph-sso"


@dataclass(frozen=True)
class Cell:
    graph_ms: int
    connector_ms: int
    concurrency: int

    @property
    def key(self) -> str:
        return f"g{self.graph_ms}-k{self.connector_ms}-c{self.concurrency}"


MATRIX = (Cell(0, 0, 16), Cell(0, 0, 128), Cell(100, 0, 16), Cell(100, 0, 128), Cell(0, 100, 128))
QUICK_MATRIX = (Cell(0, 0, 16), Cell(100, 0, 128), Cell(0, 100, 128))


@dataclass
class Stack:
    key: str
    label: str
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    pin: bool = True
    auth: bool = False  # "every feature on": channel tokens, fake Entra (needs the TLS fakes)
    is_meetbot: bool = False


def stacks(a: argparse.Namespace) -> dict[str, Stack]:
    anchors = BENCH / "anchors"
    meetbot = shlex.split(a.meetbot_cmd) if a.meetbot_cmd else [PY, "app.py"]
    mb_env = {"HOST": "127.0.0.1", "WORKERS": "1"}
    return {
        "bare": Stack("bare", "bare aiohttp handler (the floor)", [PY, "bare_aiohttp.py"], anchors),
        "botbuilder": Stack("botbuilder", "botbuilder 4.17.1 CloudAdapter + TeamsActivityHandler, as in "
                            "Microsoft's samples", [PY, "plain_botbuilder.py"], anchors),
        "agents": Stack("agents", f"Microsoft 365 Agents SDK {a.agents_version} (AgentApplication + its "
                        "aiohttp adapter)", [str(AGENTS_VENV / "bin" / "python"), "agents_sdk.py"], anchors),
        "meetbot": Stack("meetbot", "MeetBot (no auth: demo mode against the fake Graph)", meetbot, a.meetbot_dir,
                         dict(mb_env), is_meetbot=True),
        "meetbot-full": Stack("meetbot-full", "MeetBot, every feature on (JWT validation, OBO tokens, typing, "
                              "dedupe, logs, metrics)", meetbot, a.meetbot_dir, dict(mb_env), auth=True,
                              is_meetbot=True),
        "meetbot-2w": Stack("meetbot-2w", "MeetBot, 2 worker processes (not pinned)", meetbot, a.meetbot_dir,
                            {**mb_env, "WORKERS": "2"}, pin=False, is_meetbot=True),
    }


# --- processes ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> float:
    """The time.monotonic() at which the port first accepts a connection (polled every 2 ms)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args} exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
            return time.monotonic()
        except OSError:
            time.sleep(0.002)
    raise RuntimeError(f"{proc.args} did not listen on {port} within {timeout} s")


def spawn(argv: list[str], cwd: Path, env: dict[str, str], core: int | None, log: Path) -> subprocess.Popen:
    prefix = ["taskset", "-c", str(core)] if core is not None else []
    with open(log, "ab") as out:
        return subprocess.Popen(prefix + argv, cwd=cwd, env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process (and a WORKERS=N bot's children, in its own session), then SIGKILL."""
    if proc.poll() is not None:
        return
    pids = procstat.tree(proc.pid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=25)
    except subprocess.TimeoutExpired:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()


def http(method: str, url: str, body: dict | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


# --- set-up --------------------------------------------------------------------------------------
def ensure_agents_venv(version: str) -> None:
    """bench/.venv-agents with the Agents SDK pinned (its dependencies may clash with botbuilder's)."""
    py = AGENTS_VENV / "bin" / "python"
    probe = [str(py), "-c", "import importlib.metadata as m; print(m.version('microsoft-agents-hosting-aiohttp'))"]
    if py.exists() and subprocess.run(probe, capture_output=True, text=True).stdout.strip() == version:
        return
    print(f"setting up {AGENTS_VENV} (Microsoft 365 Agents SDK {version}) …", flush=True)
    subprocess.run([PY, "-m", "venv", str(AGENTS_VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *(f"{p}=={version}" for p in AGENTS_PACKAGES)],
                   check=True)


# --- one stack -----------------------------------------------------------------------------------
class Runner:
    def __init__(self, a: argparse.Namespace, out_dir: Path, stamp: str) -> None:
        self.a = a
        self.out_dir = out_dir
        self.stamp = stamp
        self.next_id = 1  # command numbers stay unique across runs (the bot may dedupe ids)
        self.fakes_pid = 0

    def loadgen(self, fakes: str, bot_port: int, pid: int, extra: list[str], token_aud: str | None,
                app_id: str) -> dict[str, Any]:
        """One load-generator process on core 1; with a token audience (every feature on) it
        sends channel tokens and first signs the load users in."""
        argv = ["taskset", "-c", "1", PY, "-m", "bench.loadgen", "--url", f"http://127.0.0.1:{bot_port}/api/messages",
                "--fakes", fakes, "--pid", str(pid), "--fakes-pid", str(self.fakes_pid),
                "--first-id", str(self.next_id), "--app-id", app_id, *extra]
        if token_aud is not None:
            argv += ["--token-aud", token_aud, "--signin", SSO_CONNECTION]
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=self.a.max_seconds + 120)
        if done.returncode != 0:
            raise RuntimeError(f"loadgen failed: {done.stderr[-2000:]}")
        self.next_id += 10_000_000
        return json.loads(done.stdout)

    def run_stack(self, st: Stack) -> dict[str, Any]:
        a = self.a
        log = self.out_dir / f"{self.stamp}-{st.key}.log"
        fport, bport = free_port(), free_port()
        fakes_url = f"http://127.0.0.1:{fport}"
        fakes_argv = [PY, "-m", "bench.fakes", "--port", str(fport)]
        env = {**st.env, "PORT": str(bport), "GRAPH_BASE_URL": fakes_url}
        if st.auth:
            entra_port, ca = free_port(), self.out_dir / f"{self.stamp}-ca.pem"
            fakes_argv += ["--entra-port", str(entra_port), "--client", f"{FULL_APP_ID}:{FULL_SECRET}",
                           "--ca-out", str(ca)]
            env.update(full_env(fakes_url, f"https://127.0.0.1:{entra_port}", ca))
        fakes = spawn(fakes_argv, ROOT, {}, 1, log)
        self.fakes_pid = fakes.pid
        bot = None
        try:
            wait_listening(fport, fakes)
            app_id = FULL_APP_ID if st.auth else ""
            t0 = time.monotonic()
            bot = spawn(st.argv, st.cwd, env, 0 if st.pin else None, log)
            startup = wait_listening(bport, bot) - t0
            time.sleep(0.5)  # let start-up allocations settle before reading idle RSS
            idle = procstat.memory_kb(procstat.tree(bot.pid))
            result: dict[str, Any] = {"label": st.label, "startup_s": round(startup, 3),
                                      "idle_rss_kb": idle["rss_kb"], "cells": {}}
            token_aud = app_id if st.auth else None
            for cell in self.matrix():
                http("POST", f"{fakes_url}/_config", {"graph_delay_ms": cell.graph_ms,
                                                      "connector_delay_ms": cell.connector_ms})
                runs = []
                for _ in range(a.runs):
                    http("POST", f"{fakes_url}/_reset")
                    run = self.loadgen(fakes_url, bport, bot.pid, ["-c", str(cell.concurrency), "--duration",
                                       str(a.duration), "--warmup", str(a.warmup)], token_aud, app_id)
                    run["fakes"] = http("GET", f"{fakes_url}/_stats")
                    runs.append(run)
                    print(f"  {st.key:13} {cell.key:14} {run['throughput']:8.1f}/s  p99 card "
                          f"{run['card_ms']['p99']} ms  cpu {run.get('cpu_ms_per_cmd')} ms/cmd  "
                          f"core 1 {run.get('core1_busy_pct')} %  "
                          f"errors {run['errors']}", flush=True)
                result["cells"][cell.key] = {"graph_ms": cell.graph_ms, "connector_ms": cell.connector_ms,
                                             "concurrency": cell.concurrency, "median": median_run(runs),
                                             "runs": runs}
            if st.key in a.profile:
                result["profile"] = self.profile(st, fakes_url, bport, bot.pid, token_aud, app_id)
            if st.key in a.growth_stacks:
                result["growth"] = self.growth(fakes_url, bport, bot.pid, token_aud, app_id)
            result["final_memory_kb"] = procstat.memory_kb(procstat.tree(bot.pid))
            return result
        finally:
            if bot is not None:
                stop(bot)
            stop(fakes)

    def matrix(self) -> tuple[Cell, ...]:
        return QUICK_MATRIX if self.a.quick else MATRIX

    def growth(self, fakes: str, port: int, pid: int, token_aud: str | None, app_id: str) -> dict[str, Any]:
        first, total = self.a.growth
        http("POST", f"{fakes}/_config", {"graph_delay_ms": 0, "connector_delay_ms": 0})
        print(f"  memory growth: {total} commands …", flush=True)
        return self.loadgen(fakes, port, pid, ["-c", "128", "--count", str(total), "--checkpoints",
                                                f"{first},{total}", "--max-seconds", str(self.a.max_seconds)],
                            token_aud, app_id)

    def profile(self, st: Stack, fakes: str, port: int, pid: int, token_aud: str | None,
                app_id: str) -> dict[str, Any]:
        """py-spy (on core 1, non-blocking) over one extra run at Graph 100 ms, c=128."""
        http("POST", f"{fakes}/_config", {"graph_delay_ms": 100, "connector_delay_ms": 0})
        base = self.out_dir / f"{self.stamp}-{st.key}"
        seconds = int(self.a.warmup + self.a.duration)
        with profile.recording(pid, base, seconds, subprocesses=not st.pin):
            run = self.loadgen(fakes, port, pid, ["-c", "128", "--duration", str(self.a.duration), "--warmup",
                                                  str(self.a.warmup)], token_aud, app_id)
        summary = profile.summarise(base.with_suffix(".collapsed"), base.with_suffix(".top.md"), st.label)
        print(f"  profile: {base.with_suffix('.svg')}, {base.with_suffix('.top.md')}", flush=True)
        return {"svg": base.with_suffix(".svg").name, "top": base.with_suffix(".top.md").name,
                "throughput_while_profiled": run["throughput"], **summary}



def full_env(fakes: str, entra: str, ca: Path) -> dict[str, str]:
    """MeetBot with every feature on (bot/config.py's names): an app registration, so incoming
    channel JWTs are validated against the fakes' OpenID metadata + JWKS; the bot's connector
    token (client credentials) and the users' Graph tokens (on-behalf-of) from the TLS Entra ID
    simulator, whose CA the bot trusts through SSL_CA_FILE; structured JSON logs."""
    return {"MicrosoftAppId": FULL_APP_ID, "MicrosoftAppPassword": FULL_SECRET, "MicrosoftAppTenantId": FULL_TENANT,
            "GRAPH_AUTH_MODE": "delegated", "SSO_CONNECTION_NAME": SSO_CONNECTION,
            # botbuilder's factory takes ALL of these once ANY is set (the others become None:
            # a None token issuer rejects every request), so the public-cloud values are spelled out.
            "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL": f"{fakes}/v1/.well-known/openidconfiguration",
            "TO_BOT_FROM_CHANNEL_TOKEN_ISSUER": "https://api.botframework.com",
            # with /.default: botbuilder appends it when missing, MeetBot's broker uses the value as is
            "TO_CHANNEL_FROM_BOT_OAUTH_SCOPE": "https://api.botframework.com/.default",
            "AZURE_AUTHORITY_HOST": entra, "TO_CHANNEL_FROM_BOT_LOGIN_URL": f"{entra}/{FULL_TENANT}",
            "SSL_CA_FILE": str(ca), "LOG_FORMAT": "json",
            "BOT_DOMAIN": "meetbot.localhost"}  # only shapes the sign-in button's URL; never called


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-figure medians over the runs (CPU per command is the steadier figure)."""
    def med(get) -> float | None:
        vals = [v for v in (get(r) for r in runs) if v is not None]
        return round(statistics.median(vals), 3) if vals else None
    out = {"throughput": med(lambda r: r["throughput"]),
           "cpu_ms_per_cmd": med(lambda r: r.get("cpu_ms_per_cmd")),
           # non-2xx answers, missing cards, and cards that were not a meeting card (sign-in, error …)
           "errors": sum(r["errors"]["non_2xx"] + r["errors"]["missing_card"] + r["fakes"]["other_cards"]
                         for r in runs),
           "connector_connections": med(lambda r: r["fakes"]["connector_connections"]),
           "connector_requests": med(lambda r: r["fakes"]["connector_requests"]),
           "cards": med(lambda r: r["fakes"]["cards"]),
           "core1_busy_pct": med(lambda r: r.get("core1_busy_pct")),
           "peak_rss_kb": max(r.get("bot_memory_kb", {}).get("hwm_kb", 0) for r in runs)}
    for metric in ("http_ms", "card_ms"):
        for q in ("p50", "p95", "p99"):
            out[f"{metric}_{q}"] = med(lambda r, m=metric, p=q: r[m][p])
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="MeetBot vs the anchors, side by side (issue 8).")
    p.add_argument("--quick", action="store_true", help="1-2 minute smoke run: 1 run of 3 s, 3 cells, no growth")
    p.add_argument("--stacks", default="bare,botbuilder,agents,meetbot-full,meetbot-2w",
                   help="comma list of: bare, botbuilder, agents, meetbot, meetbot-full, meetbot-2w")
    p.add_argument("--runs", type=int, default=3, help="runs per cell (the median is reported)")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per run")
    p.add_argument("--growth", default="10000,100000",
                   help="memory growth: RSS after the first and after the second count of commands")
    p.add_argument("--growth-stacks", default="meetbot-full", help="stacks that get the growth run ('' = none)")
    p.add_argument("--profile", nargs="?", const="meetbot-full", default="",
                   help="py-spy flame graph + top functions of these stacks (default meetbot-full)")
    p.add_argument("--max-seconds", type=float, default=900.0, help="cap on one load-generator run")
    p.add_argument("--meetbot-cmd", default="", help=f"MeetBot's command (default: '{PY} app.py')")
    p.add_argument("--meetbot-dir", type=Path, default=ROOT, help="where MeetBot's command runs")
    p.add_argument("--agents-version", default="1.9.0", help="Microsoft 365 Agents SDK version")
    p.add_argument("--out", type=Path, default=BENCH / "results")
    a = p.parse_args(argv)
    if a.quick:
        a.runs, a.duration, a.warmup, a.growth_stacks = min(a.runs, 1), 3.0, 1.0, ""
    a.stacks = [s for s in a.stacks.split(",") if s]
    a.growth_stacks = {s for s in a.growth_stacks.split(",") if s}
    a.profile = {s for s in a.profile.split(",") if s}
    a.growth = tuple(int(x) for x in a.growth.split(","))
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    chosen = stacks(a)
    unknown = [s for s in a.stacks if s not in chosen]
    if unknown:
        sys.exit(f"unknown stacks: {unknown}; choose from {list(chosen)}")
    if a.profile:
        profile.ensure_py_spy()
    if "agents" in a.stacks:
        ensure_agents_venv(a.agents_version)
    a.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    runner = Runner(a, a.out, stamp)
    results: dict[str, Any] = {"started": stamp, "machine": report.machine(),
                               "config": {"runs": a.runs, "duration_s": a.duration, "warmup_s": a.warmup,
                                          "quick": a.quick, "growth": a.growth, "stacks": a.stacks},
                               "stacks": {}}
    for key in a.stacks:
        print(f"{key}: {chosen[key].label}", flush=True)
        try:
            results["stacks"][key] = runner.run_stack(chosen[key])
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            print(f"  {key} failed: {err}", flush=True)
            results["stacks"][key] = {"label": chosen[key].label, "failed": str(err)}
    json_path = a.out / f"{stamp}.json"
    json_path.write_text(json.dumps(results, indent=1))
    md = report.markdown(results)
    (a.out / f"{stamp}.md").write_text(md)
    print(md)
    print(f"written: {json_path} and {json_path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
