"""Builds the Teams app package and checks it the way Teams will.

    python -m manifest.build [--env-file F] [--out manifest/build/app.zip]

The manifest is manifest.template.json with its ${{NAME}} placeholders filled from the same
environment variables the bot reads (MicrosoftAppId, SSO_RESOURCE) plus the package's own
(BOT_DOMAIN, TEAMS_APP_ID, APP_VERSION, BOT_NAME, DEVELOPER_*); --env-file values override the
process environment. The zip holds manifest.json, the two icons and the localization files its
localizationInfo names (localization/*.json, filled the same way) at its root, and is only
written when it passes the official manifest and localization JSON schemas (manifest/schema/)
and Teams' icon rules.
Prints "<path>: valid", or one "error: ..." line per problem on stderr and exits 1.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import uuid
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from manifest import png
from manifest.make_icons import ACCENT

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "manifest.template.json"
LOCALIZATION_DIR = HERE / "localization"  # one {languageTag}.json per additional language
SCHEMA_DIR = HERE / "schema"
DEFAULT_OUT = HERE / "build" / "app.zip"
ICON_SIZES = {"color": 192, "outline": 32}  # Teams: full-colour 192x192, outline 32x32

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
HOST = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
SEMVER = re.compile(r"^(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)$")  # Teams: MAJOR.MINOR.PATCH
PLACEHOLDER = re.compile(r"\$\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")  # Teams Toolkit's syntax
MANIFEST_VERSION = re.compile(r"^(?:\d+\.\d+|devPreview)$")
# Namespace for deriving the Teams app id from the bot id: a stable id per bot without one more
# setting to keep, and different from the bot id so the two cannot be confused.
APP_ID_NAMESPACE = uuid.UUID("ddc90a93-df85-4983-b230-4b59445a6d5a")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same inputs give the same zip bytes


class ManifestError(Exception):
    """The package cannot be built or is invalid; `problems` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (dotenv style: '#' comments, optional 'export ', optional quotes)."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip().isidentifier():
            problems.append(f"{path}:{number}: not a KEY=VALUE line")
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    if problems:
        raise ManifestError(problems)
    return values


def manifest_values(env: Mapping[str, str]) -> dict[str, str]:
    """Environment -> template placeholder values, checking every setting at once."""
    problems: list[str] = []

    def get(name: str, default: str = "") -> str:
        return (env.get(name) or "").strip() or default

    bot_id = get("MicrosoftAppId")
    if not bot_id:
        problems.append("MicrosoftAppId is not set: the bot's Microsoft Entra app (client) id, a GUID.")
    elif not GUID.match(bot_id):
        problems.append(f"MicrosoftAppId={bot_id!r} is not a GUID (the bot's Microsoft Entra app id).")
    domain = get("BOT_DOMAIN").lower()
    if not domain:
        problems.append("BOT_DOMAIN is not set: the bot's public host name, e.g. meetbot.contoso.com.")
    elif not HOST.match(domain):
        problems.append(f"BOT_DOMAIN={domain!r} must be a bare public host name such as "
                        "meetbot.contoso.com (no https://, port, path or wildcard).")
    app_id = get("TEAMS_APP_ID") or (str(uuid.uuid5(APP_ID_NAMESPACE, bot_id.lower())) if bot_id else "")
    if not GUID.match(app_id) and env.get("TEAMS_APP_ID"):
        problems.append(f"TEAMS_APP_ID={app_id!r} is not a GUID (leave it unset to derive one from MicrosoftAppId).")
    version = get("APP_VERSION", "1.0.0")
    if not SEMVER.match(version):
        problems.append(f"APP_VERSION={version!r} must be MAJOR.MINOR.PATCH, e.g. 1.0.0 "
                        "(raise it for every new upload).")
    name = get("BOT_NAME", "MeetBot")
    if len(name) > 30:
        problems.append(f"BOT_NAME={name!r} is longer than the 30 characters Teams shows.")
    developer = get("DEVELOPER_NAME", name)
    if len(developer) > 32:
        problems.append(f"DEVELOPER_NAME={developer!r} is longer than 32 characters.")
    sso = get("SSO_RESOURCE") or (f"api://botid-{bot_id}" if bot_id else "")
    if env.get("SSO_RESOURCE") and not sso.startswith("api://"):
        problems.append(f"SSO_RESOURCE={sso!r} must be the bot's Application ID URI, api://botid-<MicrosoftAppId>.")
    urls = {key: get(key, f"https://{domain}{path}") for key, path in (
        ("DEVELOPER_WEBSITE_URL", "/"), ("DEVELOPER_PRIVACY_URL", "/privacy"), ("DEVELOPER_TERMS_URL", "/terms"))}
    for key, url in urls.items():
        if env.get(key) and not url.startswith("https://"):
            problems.append(f"{key}={url!r} must be an https:// URL.")
    if problems:
        raise ManifestError(problems)
    return {"BOT_ID": bot_id, "TEAMS_APP_ID": app_id, "BOT_DOMAIN": domain, "APP_VERSION": version,
            "BOT_NAME": name, "DEVELOPER_NAME": developer, "SSO_RESOURCE": sso,
            "ACCENT_COLOR": ACCENT, **urls}


def render(values: Mapping[str, str], template: Path = TEMPLATE) -> dict[str, Any]:
    """A template with every placeholder replaced (in parsed strings, so no JSON escaping issues)."""
    missing: set[str] = set()

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: fill(value) for key, value in node.items()}
        if isinstance(node, list):
            return [fill(value) for value in node]
        if isinstance(node, str):
            def value(match: re.Match[str]) -> str:
                if match[1] not in values:
                    missing.add(match[1])
                return values.get(match[1], match[0])
            return PLACEHOLDER.sub(value, node)
        return node

    manifest: dict[str, Any] = fill(json.loads(template.read_text("utf-8")))
    if missing:
        raise ManifestError([f"template placeholder ${{{{{key}}}}} has no value" for key in sorted(missing)])
    return manifest


def _json(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def build_package(env: Mapping[str, str], out: Path = DEFAULT_OUT) -> Path:
    """Writes the zip to `out` (replacing it) only if it validates; else raises ManifestError."""
    values = manifest_values(env)
    manifest = render(values)
    files = {"manifest.json": _json(manifest)}
    for name in manifest["icons"].values():
        files[name] = (HERE / name).read_bytes()
    for language in manifest.get("localizationInfo", {}).get("additionalLanguages", ()):
        files[language["file"]] = _json(render(values, LOCALIZATION_DIR / language["file"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w") as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    problems = validate_package(partial)
    if problems:
        partial.unlink()
        raise ManifestError(problems)
    partial.replace(out)
    return out


def validate_package(path: Path) -> list[str]:
    """Everything wrong with a Teams app package (zip layout, schema, icons); [] when valid."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"{path} is not a readable zip ({exc})"]
    with zf:
        names = set(zf.namelist())
        if "manifest.json" not in names:
            nested = sorted(n for n in names if n.endswith("/manifest.json"))
            return ["manifest.json must be at the root of the zip" + (f", found {nested[0]}" if nested else "")]
        text = zf.read("manifest.json").decode("utf-8-sig", errors="replace")
        try:
            manifest = json.loads(text)
        except ValueError as exc:
            return [f"manifest.json is not valid JSON: {exc}"]
        if not isinstance(manifest, dict):
            return ["manifest.json must hold a JSON object"]
        problems = [f"manifest.json has an unfilled placeholder {m[0]}" for m in PLACEHOLDER.finditer(text)]
        problems += schema_problems(manifest)
        problems += localization_problems(manifest, {n: zf.read(n) for n in names if n.endswith(".json")})
        icons: dict[str, Any] = manifest["icons"] if isinstance(manifest.get("icons"), dict) \
            else {}
        for kind, size in ICON_SIZES.items():
            name = icons.get(kind)
            if isinstance(name, str):
                problems += icon_problems(kind, name, zf.read(name) if name in names else None, size)
    return problems


@functools.cache
def _validator(version: str) -> jsonschema.Draft4Validator | None:
    # Draft-04, as the schemas declare. Their one draft-06 keyword, "const" on manifestVersion,
    # always holds: the schema file is chosen by that very manifestVersion.
    schema_file = SCHEMA_DIR / f"MicrosoftTeams.schema.{version}.json"
    if not MANIFEST_VERSION.match(version) or not schema_file.is_file():
        return None
    return jsonschema.Draft4Validator(json.loads(schema_file.read_text("utf-8")),
                                      format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def schema_problems(manifest: Mapping[str, Any]) -> list[str]:
    version = manifest.get("manifestVersion")
    validator = _validator(version) if isinstance(version, str) else None
    if validator is None:
        shipped = sorted(p.name for p in SCHEMA_DIR.glob("MicrosoftTeams.schema.*.json"))
        return [f"manifestVersion {version!r} has no schema in manifest/schema/ (have: {', '.join(shipped)})"]
    errors = sorted(validator.iter_errors(manifest), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [f"{'/' + '/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    url = manifest.get("$schema")
    if not isinstance(url, str) or f"/v{version}/" not in url:
        problems.append(f"$schema {url!r} does not name manifest version {version}")
    return problems


@functools.cache
def _localization_validator(version: str) -> jsonschema.Draft4Validator | None:
    schema_file = SCHEMA_DIR / f"MicrosoftTeams.Localization.schema.{version}.json"
    if not MANIFEST_VERSION.match(version) or not schema_file.is_file():
        return None
    return jsonschema.Draft4Validator(json.loads(schema_file.read_text("utf-8")),
                                      format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _resolve(manifest: Mapping[str, Any], key: str) -> Any:
    """The manifest value a localization key names ("bots[0].commandLists[1].commands[0].title",
    "name.full"), or None when it names nothing."""
    node: Any = manifest
    for name, index in _KEY_PART.findall(key):
        if name and isinstance(node, dict):
            node = node.get(name)
        elif index and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return None
    return node


def localization_problems(manifest: Mapping[str, Any], files: Mapping[str, bytes]) -> list[str]:
    """Each additional language's file (*Localize your app*,
    https://learn.microsoft.com/microsoftteams/platform/concepts/build-and-test/apps-localization): in the package, valid
    against the official localization schema of the manifest's version (which must be the same
    in both files), every key naming a string the manifest has, no placeholder left."""
    info = manifest.get("localizationInfo")
    version = manifest.get("manifestVersion")
    if not isinstance(info, dict) or not isinstance(version, str):
        return []
    validator = _localization_validator(version)
    if validator is None:  # schema_problems says that this manifestVersion is not known here
        return []
    problems = []
    for language in info.get("additionalLanguages") or ():
        name = language.get("file") if isinstance(language, dict) else None
        if not isinstance(name, str):
            continue  # the manifest schema reports it
        where = f"localization file {name} ({language.get('languageTag')})"
        if name not in files:
            problems.append(f"{where} is not in the zip")
            continue
        text = files[name].decode("utf-8-sig", errors="replace")
        try:
            strings = json.loads(text)
        except ValueError as exc:
            problems.append(f"{where} is not valid JSON: {exc}")
            continue
        problems += [f"{where} has an unfilled placeholder {m[0]}" for m in PLACEHOLDER.finditer(text)]
        errors = sorted(validator.iter_errors(strings), key=lambda e: [str(p) for p in e.absolute_path])
        problems += [f"{where}: /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
        if not isinstance(strings, dict):
            continue
        url = strings.get("$schema")
        if not isinstance(url, str) or f"/v{version}/" not in url:
            problems.append(f"{where}: $schema {url!r} does not name manifest version {version}")
        for key in strings:
            if key not in ("$schema", "localizationKeys") and \
                    not isinstance(_resolve(manifest, key), str):
                problems.append(f"{where}: {key!r} names no string of the manifest")
    return problems


def icon_problems(kind: str, name: str, data: bytes | None, size: int) -> list[str]:
    where = f"icons.{kind} ({name})"
    if data is None:
        return [f"{where} is not in the zip"]
    try:
        width, height, rgba = png.decode(data)
    except png.PngError as exc:
        return [f"{where}: {exc}"]
    problems = []
    if (width, height) != (size, size):
        problems.append(f"{where} is {width}x{height} pixels; Teams needs {size}x{size}")
    if kind == "outline":
        # Only white (any alpha) or fully transparent pixels, and a transparent background.
        stray = sum(1 for i in range(0, len(rgba), 4) if rgba[i + 3] and rgba[i:i + 3] != b"\xff\xff\xff")
        if stray:
            problems.append(f"{where}: {stray} pixel(s) are neither white nor fully transparent; "
                            "the outline icon must be white on a transparent background")
        if 0 not in rgba[3::4]:
            problems.append(f"{where} has no transparent pixel; its background must be transparent")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m manifest.build", description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", type=Path, help="KEY=VALUE file; its values override the environment")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"zip to write (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    try:
        if args.env_file:
            env.update(read_env_file(args.env_file))
        out = build_package(env, args.out)
    except OSError as exc:
        print(f"error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    except ManifestError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    print(f"{out}: valid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
