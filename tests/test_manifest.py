"""The Teams app package: built from a bot environment, checked against the vendored official
schema and Teams' icon rules, and refused with one clear line per bad setting."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import uuid
import zipfile
import zlib
from pathlib import Path

import pytest

from bot.i18n import LANGUAGES, translator
from manifest import make_icons, png
from manifest.build import (
    GUID,
    TEMPLATE,
    ManifestError,
    build_package,
    manifest_values,
    validate_package,
)

ROOT = Path(__file__).resolve().parents[1]
BOT_ID = str(uuid.UUID(int=0xABCD))
ENV = {"MicrosoftAppId": BOT_ID, "BOT_DOMAIN": "meetbot.example.com"}


def read_manifest(package: Path) -> dict:
    with zipfile.ZipFile(package) as zf:
        return json.loads(zf.read("manifest.json"))


def repack(package: Path, target: Path, **replace: bytes | None) -> Path:
    """Copy of `package` with members replaced (bytes), dropped (None) or added."""
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(target, "w") as dst:
        members = {name: src.read(name) for name in src.namelist()}
        for name, data in {**members, **replace}.items():
            if data is not None:
                dst.writestr(name, data)
    return target


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    return build_package(ENV, tmp_path_factory.mktemp("pkg") / "app.zip")


def test_package_is_valid_with_files_at_zip_root(package):
    assert validate_package(package) == []
    with zipfile.ZipFile(package) as zf:
        assert sorted(zf.namelist()) == ["color.png", "de.json", "es.json", "fr.json",
                                         "manifest.json", "outline.png"]


def read_json(package: Path, name: str) -> dict:
    with zipfile.ZipFile(package) as zf:
        return json.loads(zf.read(name))


def localizable(manifest: dict) -> dict[str, str]:
    """Every string of the manifest a person reads, under its localization key."""
    found = {f"{part}.{kind}": manifest[part][kind] for part in ("name", "description")
             for kind in ("short", "full")}
    for i, lst in enumerate(manifest["bots"][0]["commandLists"]):
        for j, command in enumerate(lst["commands"]):
            for field in ("title", "description"):
                found[f"bots[0].commandLists[{i}].commands[{j}].{field}"] = command[field]
    for k, command in enumerate(manifest["composeExtensions"][0]["commands"]):
        for field in ("title", "description"):
            found[f"composeExtensions[0].commands[{k}].{field}"] = command[field]
        for p, parameter in enumerate(command.get("parameters", ())):
            for field in ("title", "description"):
                found[f"composeExtensions[0].commands[{k}].parameters[{p}].{field}"] = parameter[field]
    return found


def test_the_manifest_speaks_every_language_the_bot_speaks(package):
    """localizationInfo names one file per language of bot/i18n.py; each file translates every
    string a person reads (app name and descriptions, command lists, the compose action), with
    the placeholders filled, and the command titles are commands in that language."""
    m = read_manifest(package)
    info = m["localizationInfo"]
    assert info["defaultLanguageTag"] == "en-us"
    tags = {lang["languageTag"]: lang["file"] for lang in info["additionalLanguages"]}
    assert set(tags) == set(LANGUAGES) - {"en"}
    english = localizable(m)
    for tag, name in tags.items():
        strings = read_json(package, name)
        assert strings["$schema"].endswith("/v1.29/MicrosoftTeams.Localization.schema.json")
        keys = set(strings) - {"$schema"}
        assert keys == set(english), tag
        same = {k for k in keys if strings[k] == english[k]}
        assert same == {"name.short"}, (tag, same)  # the app's name is a name
        assert "MeetBot" in strings["name.full"] and "{{" not in json.dumps(strings)
        _ = translator(tag).gettext
        titles = [strings[k] for k in keys if k.startswith("bots[0]") and k.endswith(".title")]
        assert {_("help"), _("sign out"), _("meet")} <= set(titles)
        assert all(t.startswith(_("meet")) or t in (_("help"), _("sign out")) for t in titles)


def test_a_bad_localization_file_is_reported(package, tmp_path):
    fr = read_json(package, "fr.json")
    fr["bots[0].commandLists[0].commands[9].title"] = "réunion plus tard"
    fr["description.short"] = ""
    fr["name.ful"] = "MeetBot"
    fr["$schema"] = fr["$schema"].replace("v1.29", "v1.28")
    bad = repack(package, tmp_path / "bad.zip", **{"fr.json": json.dumps(fr).encode(),
                                                   "es.json": None})
    problems = validate_package(bad)
    assert [p[:60] for p in problems] == [p[:60] for p in [
        "localization file fr.json (fr): /: 'name.ful' does not match any of the regexes",
        "localization file fr.json (fr): /description.short: '' does not match '^(?![nN][uU]",
        "localization file fr.json (fr): $schema 'https://developer.microsoft.com/json-schemas/"
        "teams/v1.28/MicrosoftTeams.Localization.schema.json' does not name manifest version 1.29",
        "localization file fr.json (fr): 'bots[0].commandLists[0].commands[9].title' names no "
        "string of the manifest",
        "localization file fr.json (fr): 'name.ful' names no string of the manifest",
        "localization file es.json (es) is not in the zip",
    ]]


def test_manifest_carries_bot_sso_and_domains(package):
    m = read_manifest(package)
    bot = m["bots"][0]
    assert bot["botId"] == BOT_ID and m["composeExtensions"][0]["botId"] == BOT_ID
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    assert m["webApplicationInfo"] == {"id": BOT_ID, "resource": f"api://botid-{BOT_ID}"}
    assert m["validDomains"] == ["meetbot.example.com", "token.botframework.com"]
    assert GUID.match(m["id"]) and m["id"] != BOT_ID
    assert m["accentColor"] == make_icons.ACCENT
    command = m["composeExtensions"][0]["commands"][0]
    assert (command["id"], command["type"], command["fetchTask"]) == ("createMeeting", "action", True)
    personal = next(c for c in bot["commandLists"] if c["scopes"] == ["personal"])
    assert "sign out" in [c["title"] for c in personal["commands"]]


def test_every_placeholder_is_filled(package):
    assert "${{" in TEMPLATE.read_text()
    with zipfile.ZipFile(package) as zf:
        assert "{{" not in zf.read("manifest.json").decode()


def test_same_environment_gives_identical_package(package, tmp_path):
    again = build_package(ENV, tmp_path / "again.zip")
    assert again.read_bytes() == package.read_bytes()


def test_teams_app_id_is_derived_per_bot_unless_set():
    other_bot = manifest_values({**ENV, "MicrosoftAppId": str(uuid.UUID(int=0xBEEF))})["TEAMS_APP_ID"]
    assert other_bot != manifest_values(ENV)["TEAMS_APP_ID"]
    chosen = str(uuid.uuid4())
    assert manifest_values({**ENV, "TEAMS_APP_ID": chosen})["TEAMS_APP_ID"] == chosen


@pytest.mark.parametrize("app_id, expected", [
    (None, "MicrosoftAppId is not set"),
    ("", "MicrosoftAppId is not set"),
    ("my-bot", "MicrosoftAppId='my-bot' is not a GUID"),
])
def test_missing_or_invalid_app_id_is_refused(tmp_path, app_id, expected):
    env = {**ENV, "MicrosoftAppId": app_id} if app_id is not None else {"BOT_DOMAIN": ENV["BOT_DOMAIN"]}
    with pytest.raises(ManifestError) as refused:
        build_package(env, tmp_path / "app.zip")
    assert [p for p in refused.value.problems if p.startswith(expected)]
    assert not (tmp_path / "app.zip").exists()


def test_every_bad_setting_is_reported_at_once():
    with pytest.raises(ManifestError) as refused:
        manifest_values({"MicrosoftAppId": "x", "BOT_DOMAIN": "https://meetbot.example.com/api",
                         "APP_VERSION": "2", "TEAMS_APP_ID": "abc", "DEVELOPER_PRIVACY_URL": "http://x"})
    named = [p.split("=")[0].split(" ")[0] for p in refused.value.problems]
    assert named == ["MicrosoftAppId", "BOT_DOMAIN", "TEAMS_APP_ID", "APP_VERSION", "DEVELOPER_PRIVACY_URL"]


def test_schema_violations_are_reported(package, tmp_path):
    m = read_manifest(package)
    m["accentColor"] = "blue"
    m["bots"][0]["scopes"].append("everywhere")
    m["$schema"] = m["$schema"].replace("v1.29", "v1.28")
    problems = validate_package(repack(package, tmp_path / "bad.zip", **{"manifest.json": json.dumps(m).encode()}))
    assert [p.split(": ")[0].split(" ")[0] for p in problems] == ["/accentColor", "/bots/0/scopes/3", "$schema"]

    m["manifestVersion"] = "1.28"
    problems = validate_package(repack(package, tmp_path / "old.zip", **{"manifest.json": json.dumps(m).encode()}))
    assert len(problems) == 1 and problems[0].startswith("manifestVersion '1.28' has no schema in manifest/schema/")


def test_manifest_must_be_at_zip_root(package, tmp_path):
    with zipfile.ZipFile(package) as zf:
        text = zf.read("manifest.json")
    nested = repack(package, tmp_path / "nested.zip", **{"manifest.json": None, "app/manifest.json": text})
    assert validate_package(nested) == ["manifest.json must be at the root of the zip, found app/manifest.json"]


def test_icon_rules(package, tmp_path):
    red = png.encode(32, 32, b"\xff\x00\x00\xff" * 32 * 32)
    small = png.encode(96, 96, b"\x00\x00\xff\xff" * 96 * 96)
    problems = validate_package(repack(package, tmp_path / "icons.zip", **{"outline.png": red, "color.png": small}))
    assert problems == [
        "icons.color (color.png) is 96x96 pixels; Teams needs 192x192",
        "icons.outline (outline.png): 1024 pixel(s) are neither white nor fully transparent; "
        "the outline icon must be white on a transparent background",
        "icons.outline (outline.png) has no transparent pixel; its background must be transparent",
    ]
    missing = validate_package(repack(package, tmp_path / "none.zip", **{"outline.png": None}))
    assert missing == ["icons.outline (outline.png) is not in the zip"]


def test_committed_icons_are_what_the_script_draws():
    assert make_icons.COLOR_FILE.read_bytes() == make_icons.color_icon()
    assert make_icons.OUTLINE_FILE.read_bytes() == make_icons.outline_icon()


def _png(width: int, height: int, colour: int, rows: list[bytes], *extra: tuple[bytes, bytes]) -> bytes:
    """A PNG as other tools write it: any filter per row, optional PLTE/tRNS chunks."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (png.SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0))
            + b"".join(chunk(k, d) for k, d in extra)
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def test_png_reader_undoes_every_row_filter_and_palettes():
    palette = (b"PLTE", b"\xff\xff\xff\x10\x20\x30\x40\x50\x60")
    opaque_but_first = (b"tRNS", b"\x00")
    # Filter byte, then two palette indices: Sub, Up, Average, Paeth.
    rows = [b"\x01\x00\x01", b"\x02\x00\x01", b"\x03\x00\x00", b"\x04\x00\x00"]
    width, height, rgba = png.decode(_png(2, 4, 3, rows, palette, opaque_but_first))
    assert (width, height) == (2, 4)
    colours = {b"\xff\xff\xff\x00": 0, b"\x10\x20\x30\xff": 1, b"\x40\x50\x60\xff": 2}
    # Sub [0, 0+1]; Up [0, 1+1]; Average [0, 0+(0+2)//2]; Paeth [0, 0+paeth(0, 1, 0)].
    assert [colours[rgba[i:i + 4]] for i in range(0, len(rgba), 4)] == [0, 1, 0, 2, 0, 1, 0, 1]
    with pytest.raises(png.PngError, match="missing from the palette"):
        png.decode(_png(1, 1, 3, [b"\x00\x05"], palette))


def test_png_reader_expands_grey_alpha_and_rgb():
    _, _, grey_alpha = png.decode(_png(1, 1, 4, [b"\x00\xff\x80"]))
    assert grey_alpha == b"\xff\xff\xff\x80"
    _, _, rgb = png.decode(_png(2, 1, 2, [b"\x00\x01\x02\x03\x00\x00\x00"], (b"tRNS", b"\x00\x00" * 3)))
    assert rgb == b"\x01\x02\x03\xff\x00\x00\x00\x00"


def test_cli_builds_from_env_file_and_refuses_clearly(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(f"# bot settings\nMicrosoftAppId={BOT_ID}\nexport BOT_DOMAIN=\"meetbot.example.com\"\n")
    out = tmp_path / "app.zip"
    clean = {k: v for k, v in os.environ.items() if k not in ("MicrosoftAppId", "BOT_DOMAIN", "TEAMS_APP_ID")}
    ok = subprocess.run([sys.executable, "-m", "manifest.build", "--env-file", str(env_file), "--out", str(out)],
                        cwd=ROOT, env=clean, capture_output=True, text=True)
    assert (ok.returncode, ok.stdout.strip()) == (0, f"{out}: valid")
    assert validate_package(out) == []

    env_file.write_text("MicrosoftAppId=not-a-guid\nBOT_DOMAIN=meetbot.example.com\n")
    bad = subprocess.run([sys.executable, "-m", "manifest.build", "--env-file", str(env_file),
                          "--out", str(tmp_path / "bad.zip")], cwd=ROOT, env=clean, capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.splitlines() == [
        "error: MicrosoftAppId='not-a-guid' is not a GUID (the bot's Microsoft Entra app id)."]
