"""Deployment: the gunicorn form of the app (App Service's startup command, the container's CMD)
started as a real process and driven over HTTP, the Agents Toolkit project files against the
Toolkit's own schema, settings that the templates pass against the ones the bot reads, the
Dockerfile through a linter, and the hashed lock against requirements.txt."""
from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from localcloud.connector_sim import CONNECTOR_SIM, create_connector_app
from tests.helpers import User, card_of, free_port, message, refuses_connections, serve

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = str(Path(sys.executable).parent)
BICEP = (ROOT / "infra/azure.bicep").read_text("utf-8")


def bicep_string(name: str) -> str:
    """The value of a `name: '...'` property in infra/azure.bicep."""
    match = re.search(rf"^\s*{name}:\s*'([^']*)'", BICEP, re.M)
    assert match, f"{name} not in infra/azure.bicep"
    return match[1]


# App Service's startup command and health check path, exactly as provisioned. App Service runs
# the command through a shell, so $PORT is the PORT app setting.
STARTUP = bicep_string("appCommandLine")
HEALTH = bicep_string("healthCheckPath")


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
            async with session.get(f"http://127.0.0.1:{port}{HEALTH}") as resp:
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
                if refuses_connections(port):
                    break
                await asyncio.sleep(0.02)
            assert refuses_connections(port), "still accepting connections after SIGTERM"
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
                                           ("requirements-telemetry.txt",
                                            "requirements-telemetry.lock"),
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


@pytest.mark.parametrize("base, lock", [("requirements.lock", "requirements-telemetry.lock"),
                                        ("requirements-telemetry.lock", "requirements-dev.lock")])
def test_each_lock_installs_the_one_it_extends_unchanged(base, lock):
    """The tests run what production runs; turning telemetry on changes no version."""
    runtime, dev = locked(ROOT / base), locked(ROOT / lock)
    assert {n: v for n, (v, _) in runtime.items()} == {n: dev[n][0] for n in runtime if n in dev}
    assert set(runtime) <= set(dev)


# --- the Agents Toolkit project ------------------------------------------------------------------
TOOLKIT_SCHEMA = ROOT / "deploy/schema/m365agents.yaml.schema.v1.11.json"
PROJECTS = {"dev": "m365agents.yml", "local": "m365agents.local.yml"}
PLACEHOLDER = re.compile(r"\$\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Names the Toolkit fills itself when empty (it asks for a subscription and a resource group and
# generates a suffix), and, locally, the ones its dev tunnel task writes before provisioning.
TOOLKIT_BUILTINS = {"AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP_NAME", "RESOURCE_SUFFIX"}
TUNNEL_OUTPUTS = {"BOT_DOMAIN", "BOT_ENDPOINT"}
# App Service's build (Oryx) settings: read by the platform, not by the bot.
PLATFORM_SETTINGS = {"SCM_DO_BUILD_DURING_DEPLOYMENT", "CUSTOM_REQUIREMENTSTXT_PATH"}


def project(env: str) -> dict:
    import yaml

    return yaml.safe_load((ROOT / PROJECTS[env]).read_text("utf-8"))


def env_file(env: str) -> dict[str, str]:
    from manifest.build import read_env_file

    return read_env_file(ROOT / "env" / f".env.{env}")


def actions(env: str) -> Iterator[tuple[str, dict]]:
    for stage in ("provision", "deploy", "publish"):
        for action in project(env).get(stage) or ():
            yield stage, action


def files_of(action: dict) -> list[Path]:
    """The files an action reads: ARM templates and their parameters, Entra manifests."""
    with_ = action.get("with") or {}
    paths = [t[key] for t in with_.get("templates", ()) for key in ("path", "parameters")
             if key in t]
    paths += [with_[key] for key in ("manifestPath", "ignoreFile") if key in with_]
    return [ROOT / p for p in paths]


def placeholders(value: object) -> set[str]:
    return set(PLACEHOLDER.findall(json.dumps(value)))


def bicep_outputs(path: Path) -> set[str]:
    return set(re.findall(r"^output\s+(\w+)\s", path.read_text("utf-8"), re.M))


@pytest.mark.parametrize("env", sorted(PROJECTS))
def test_the_toolkit_project_follows_the_toolkit_schema(env):
    import jsonschema

    schema = json.loads(TOOLKIT_SCHEMA.read_text("utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    doc = project(env)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(doc)]
    assert errors == []
    version = schema["properties"]["version"]["const"]
    assert doc["version"] == version
    assert f"/{version}/yaml.schema.json" in (ROOT / PROJECTS[env]).read_text("utf-8")
    # The schema does bite: an action without its parameters is refused.
    broken = {**doc, "provision": [{k: v for k, v in doc["provision"][0].items() if k != "with"}]}
    assert list(validator.iter_errors(broken))


@pytest.mark.parametrize("env", sorted(PROJECTS))
def test_every_file_and_placeholder_of_the_toolkit_project_has_a_source(env):
    """Files named by the project exist; each ${{NAME}} an action uses (in the YAML or in the
    template, parameters or manifest it reads) is set by the env file, the Toolkit, or an
    earlier action; and env/.env.{env} lists every name the project generates."""
    values = env_file(env)
    defined = {k for k, v in values.items() if v} | TOOLKIT_BUILTINS
    if env == "local":
        defined |= TUNNEL_OUTPUTS
    generated: set[str] = set()
    problems = []
    for stage, action in actions(env):
        uses = action["uses"]
        files = files_of(action)
        problems += [f"{uses}: {f.relative_to(ROOT)} does not exist" for f in files
                     if not f.is_file()]
        used = placeholders(action) | {n for f in files if f.is_file()
                                       for n in placeholders(f.read_text("utf-8"))}
        if uses == "aadApp/update":  # it generates the scope id the manifest names
            defined.add("AAD_APP_ACCESS_AS_USER_PERMISSION_ID")
        problems += [f"{stage} {uses}: ${{{{{n}}}}} has no value yet" for n in used - defined]
        outputs = set((action.get("writeToEnvironmentFile") or {}).values())
        outputs |= {n for f in files if f.suffix == ".bicep" for n in bicep_outputs(f)}
        defined |= outputs
        generated |= {n for n in outputs if not n.startswith("SECRET_")}
        if uses == "azureAppService/zipDeploy":
            assert (ROOT / action["with"]["artifactFolder"]).is_dir()
    problems += [f"env/.env.{env} does not list {n}" for n in sorted(generated - set(values))]
    assert problems == []


def settings_read(function: Callable[..., object]) -> set[str]:
    """The environment variable names `function` reads, recorded through the mapping it is given
    (so the list is bot/config.py's own, not a copy)."""

    class Recording(dict):
        def get(self, key, default=None):
            seen.add(key)
            return super().get(key, default)

        def __getitem__(self, key):
            seen.add(key)
            return super().__getitem__(key)

    seen: set[str] = set()
    try:
        function(Recording())
    except Exception:  # noqa: BLE001 - empty settings may be invalid; the reads are what counts
        pass
    return seen


def bicep_app_settings() -> set[str]:
    block = re.search(r"resource webAppSettings 'Microsoft\.Web/sites/config@[^']+' = \{.*?"
                      r"\n  properties: \{\n(.*?)\n  \}", BICEP, re.S)
    assert block, "the appsettings resource of infra/azure.bicep"
    return set(re.findall(r"^    (\w+):", block[1], re.M))


def test_settings_passed_to_the_bot_are_read_by_it_and_all_are_documented():
    from bot.config import load_settings
    from manifest.build import manifest_values

    bot = settings_read(load_settings)
    package = settings_read(manifest_values)
    assert {"MicrosoftAppId", "BOT_DOMAIN", "PORT"} <= bot and "APP_VERSION" in package

    passed = {"infra/azure.bicep appsettings": bicep_app_settings() - PLATFORM_SETTINGS,
              "Dockerfile ENV": {kv.split("=")[0] for kv in " ".join(dockerfile()["ENV"]).split()
                                 if not kv.startswith(("PYTHON", "PIP_"))}}
    for env in PROJECTS:
        for _, action in actions(env):
            if action["uses"] == "file/createOrUpdateEnvironmentFile":
                passed[f"{PROJECTS[env]} {action['with']['target']}"] = set(action["with"]["envs"])
            if action["uses"] == "script" and "manifest.build" in action["with"]["run"]:
                passed[f"{PROJECTS[env]} manifest.build"] = set(action.get("env") or {})
    unknown = {where: sorted(names - bot - (package if "manifest" in where else set()))
               for where, names in passed.items()}
    assert {k: v for k, v in unknown.items() if v} == {}

    example = read_example()
    assert sorted(bot - example) == [], ".env.example misses settings bot/config.py reads"
    assert sorted(example - bot - package) == [], ".env.example names settings nothing reads"


def read_example() -> set[str]:
    """Names in .env.example, set or commented out (`#NAME=value`)."""
    return set(re.findall(r"^#?([A-Za-z_][A-Za-z0-9_]*)=", (ROOT / ".env.example").read_text(
        "utf-8"), re.M))


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix()
                                        for p in (ROOT / "infra").rglob("*.bicep")))
def test_the_bicep_parses(path):
    """No Bicep CLI here: the tree-sitter Bicep grammar at least rejects a syntax error."""
    import tree_sitter_bicep
    from tree_sitter import Language, Parser

    tree = Parser(Language(tree_sitter_bicep.language())).parse((ROOT / path).read_bytes())
    bad = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            bad.append(f"line {node.start_point[0] + 1}: {node.text[:60]!r}")
        stack.extend(node.children)
    assert bad == [] and not tree.root_node.has_error


async def test_the_entra_manifest_grants_what_the_running_bot_asks_for(cloud):
    """The bot's own consent redirect (GET /auth/start) names its scopes and redirect URI; the
    Entra manifest must grant those scopes and register that URI, the OAuth connection must ask
    for them, and the Application ID URI must be the bot's SSO resource and the Teams manifest's
    webApplicationInfo.resource."""
    from urllib.parse import parse_qs, urlsplit

    from manifest.build import manifest_values, render
    from tests.conftest import start_bot, stop_bot

    env = cloud.bot_env()
    bot = await start_bot(env)
    try:
        async with bot.session.get(f"{bot.srv.url}/auth/start", allow_redirects=False) as resp:
            assert resp.status == 302
            query = parse_qs(urlsplit(resp.headers["Location"]).query)
    finally:
        await stop_bot(bot)
    asked = {s.rsplit("/", 1)[-1] for s in query["scope"][0].split()}

    aad = json.loads(PLACEHOLDER.sub(lambda m: {"BOT_ID": env["MicrosoftAppId"],
                                                "BOT_DOMAIN": env["BOT_DOMAIN"]}.get(m[1], m[0]),
                                     (ROOT / "aad.manifest.json").read_text("utf-8")))
    graph = next(r for r in aad["requiredResourceAccess"] if r["resourceAppId"] == "Microsoft Graph")
    granted = {a["id"] for a in graph["resourceAccess"] if a["type"] == "Scope"}
    assert asked <= granted, asked - granted
    assert query["redirect_uri"][0] in aad["web"]["redirectUris"]
    connection = re.search(r"param oauthScopes string = '([^']*)'",
                           (ROOT / "infra/botRegistration/azurebot.bicep").read_text("utf-8"))
    assert asked <= set(connection[1].split())

    [scope] = aad["api"]["oauth2PermissionScopes"]
    assert scope["value"] == "access_as_user" and scope["type"] == "User"
    clients = {c["appId"]: c["delegatedPermissionIds"] for c in aad["api"]["preAuthorizedApplications"]}
    # Teams desktop/mobile and Teams web ("Configure your app in Microsoft Entra ID", bot SSO).
    assert {"1fec8e78-bce4-4aaf-ab1b-5451cc387264", "5e3ce6c0-2b1f-4285-8d4b-75ee78787346"} <= set(clients)
    assert all(ids == [scope["id"]] for ids in clients.values())

    teams = render(manifest_values(env))
    assert aad["identifierUris"] == [teams["webApplicationInfo"]["resource"]]
    assert aad["identifierUris"] == [f"api://botid-{env['MicrosoftAppId']}"]
