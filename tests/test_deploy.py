"""Deployment: the gunicorn form of the app (App Service's startup command, the container's CMD)
started as a real process and driven over HTTP, the Agents Toolkit project files against the
Toolkit's own schema, settings that the templates pass against the ones the bot reads, the
Dockerfile through a linter, and the hashed lock against requirements.txt."""
from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from localcloud.connector_sim import CONNECTOR_SIM, create_connector_app
from tests.conftest import User, message, serve
from tests.redis_server import free_port
from tests.test_e2e_meet import card_of
from tests.test_reliability import _refused

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = str(Path(sys.executable).parent)
# The startup command, as App Service runs it: through a shell, so $PORT is the app setting.
STARTUP = ("gunicorn app:create_app --worker-class aiohttp.GunicornWebWorker "
           "--no-control-socket --bind 0.0.0.0:$PORT")


def demo_env(**extra: str) -> dict[str, str]:
    """This process's environment without any bot settings: demo mode, as on a fresh machine."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("Microsoft", "GRAPH_", "REDIS", "WORKERS"))}
    return {**env, "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", "LOG_FORMAT": "text",
            **extra}


def start_gunicorn(env: dict[str, str]) -> subprocess.Popen:
    # Loopback only: the command binds every interface, a test machine needs none but this one.
    command = STARTUP.replace("0.0.0.0", "127.0.0.1")
    return subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


async def wait_healthy(session: aiohttp.ClientSession, proc: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "gunicorn did not start"
        await asyncio.sleep(0.1)


async def test_gunicorn_serves_meet_now_and_drains_on_sigterm():
    # Replies to this connector take 1 s each, so a turn (card, then follow-ups) is in flight
    # when SIGTERM comes; the gunicorn worker must finish it before exiting.
    conn_srv = await serve(create_connector_app(latency=1.0))
    connector = conn_srv.app[CONNECTOR_SIM]
    connector.url = conn_srv.url
    port = free_port()
    proc = start_gunicorn(demo_env(PORT=str(port)))
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, proc, port)
            act = message("meet now 30m about gunicorn drain", service_url=connector.url,
                          user=User())

            async def send() -> int:
                async with session.post(f"http://127.0.0.1:{port}/api/messages", json=act) as r:
                    return r.status

            turn = asyncio.create_task(send())
            while connector.requests == 0:  # the turn reached the connector
                await asyncio.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            for _ in range(100):  # stops accepting while the turn is still running
                if _refused(port):
                    break
                await asyncio.sleep(0.02)
            assert _refused(port), "still accepting connections after SIGTERM"
            assert not turn.done()
            assert await turn == 201
        cards = [card_of(c.body) for c in connector.calls if c.body and card_of(c.body)]
        assert any("gunicorn drain" in json.dumps(card) and "meetup-join" in json.dumps(card)
                   for card in cards), cards
        assert await asyncio.to_thread(proc.wait, 40) == 0
        log = proc.stdout.read()
        assert "Traceback" not in log, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        await conn_srv.server.close()


def test_gunicorn_config_error_is_one_line_per_problem_and_a_clean_stop():
    env = demo_env(PORT=str(free_port()), MicrosoftAppId="nope", ALLOWED_TENANTS="contoso",
                   GRAPH_AUTH_MODE="sideways")
    proc = start_gunicorn(env)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # The master stops ("Worker failed to boot.") instead of starting the worker again.
    assert proc.returncode == 3, out
    assert out.count("MeetBot cannot start; fix its configuration:") == 1, out
    problems = [line for line in out.splitlines() if line.startswith("  - ")]
    assert any("MicrosoftAppId='nope'" in p for p in problems), out
    assert any("ALLOWED_TENANTS" in p for p in problems), out
    assert any("GRAPH_AUTH_MODE='sideways'" in p for p in problems), out
    assert "Traceback" not in out, out


# --- the container ---------------------------------------------------------------------------------
def dockerfile() -> dict[str, list]:
    """Instruction -> its arguments, one entry per occurrence (continuation lines joined)."""
    text = (ROOT / "Dockerfile").read_text("utf-8").replace("\\\n", " ")
    instructions: dict[str, list] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            instructions.setdefault(keyword.upper(), []).append(rest.strip())
    return instructions


def docker_ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore's rule: the last pattern matching the path or one of its parents wins."""
    from fnmatch import fnmatch

    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        if any(fnmatch(c, glob) or (glob.startswith("**/") and fnmatch(c.split("/")[-1],
                                                                         glob[3:]))
               for c in candidates):
            ignored = not negate
    return ignored


def test_the_dockerfile_passes_hadolint():
    result = subprocess.run([str(Path(VENV_BIN) / "hadolint"), "--no-color", "Dockerfile"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_the_container_cmd_serves_from_exactly_the_build_context(tmp_path):
    """Without a Docker engine: the files the Dockerfile's COPY lines take through .dockerignore,
    laid out as in the image, run with the image's ENV and CMD; its HEALTHCHECK passes, and
    SIGTERM (docker stop) ends it cleanly."""
    import shutil

    steps = dockerfile()
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text("utf-8").splitlines()
                if p.strip() and not p.startswith("#")]
    workdir = tmp_path / steps["WORKDIR"][-1].lstrip("/")
    copied = 0
    for args in steps["COPY"]:
        *sources, dest = args.split()
        for source in sources:
            root = ROOT / source.rstrip("/")
            files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
            for file in files:
                rel = file.relative_to(ROOT).as_posix()
                assert not docker_ignored(rel, patterns) or "__pycache__" in rel, rel
                if docker_ignored(rel, patterns):
                    continue
                target = workdir / dest / (file.relative_to(root) if root.is_dir() else file.name)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(file, target)
                copied += 1
    assert copied > 10
    for secret in (".env", "env/.env.dev.user", ".venv/bin/python", ".git/config"):
        assert docker_ignored(secret, patterns), secret

    env = dict(kv.split("=", 1) for kv in " ".join(steps["ENV"]).split())
    port = free_port()
    env = demo_env(**{**env, "PORT": str(port)})
    cmd = json.loads(steps["CMD"][-1])
    healthcheck = json.loads(steps["HEALTHCHECK"][-1].split(" CMD ", 1)[1])
    assert cmd[0] == "gunicorn" and shlex.split(STARTUP)[1:4] == cmd[1:4]
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, proc, port)
        probe = subprocess.run(healthcheck, cwd=workdir, env=env, timeout=30)
        assert probe.returncode == 0
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 40) == 0
        probe = subprocess.run(healthcheck, cwd=workdir, env=env, timeout=30,
                               capture_output=True)
        assert probe.returncode != 0  # and the probe notices when it is gone
        assert "Traceback" not in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


# --- the hashed locks ----------------------------------------------------------------------------
def locked(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (pinned version, number of hashes) for every entry of a `uv pip compile
    --generate-hashes` lock."""
    from packaging.utils import canonicalize_name

    entries: dict[str, tuple[str, int]] = {}
    name = ""
    for line in path.read_text("utf-8").splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            spec = line.split(";")[0].rstrip(" \\")
            name, _, version = spec.partition("==")
            name = canonicalize_name(name)
            entries[name] = (version, 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = entries[name]
            entries[name] = (version, hashes + 1)
    return entries


@pytest.mark.parametrize("listing, lock", [("requirements.txt", "requirements.lock"),
                                           ("requirements-dev.txt", "requirements-dev.lock")])
def test_the_lock_pins_every_listed_package_within_its_range_with_hashes(listing, lock):
    """requirements*.txt is the readable list, the lock is what gets installed: a package added
    to or re-ranged in the list without refreshing the lock (README: Locked dependencies) fails."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = locked(ROOT / lock)
    stale = []
    for line in (ROOT / listing).read_text("utf-8").splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("-r"):
            continue
        req = Requirement(line)
        version = pins.get(canonicalize_name(req.name), ("", 0))[0]
        if not version or not req.specifier.contains(version, prereleases=True):
            stale.append(f"{req} (locked: {version or 'missing'})")
    assert stale == [], f"{lock} is stale; refresh it as README says: {stale}"
    assert all(hashes for _, hashes in pins.values())


def test_the_dev_lock_installs_the_runtime_lock_unchanged():
    runtime, dev = locked(ROOT / "requirements.lock"), locked(ROOT / "requirements-dev.lock")
    assert {n: v for n, (v, _) in runtime.items()} == {n: dev[n][0] for n in runtime if n in dev}
    assert set(runtime) <= set(dev)
