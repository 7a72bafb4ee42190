"""The layering rules, checked on every import statement of the product code (function-level
imports included), so nobody has to infer them:

1. Only the Teams edge (bot/teams/) speaks the Bot Framework: botbuilder, botframework, msrest.
2. cards/ builds cards from plain types: of bot/ it may import only the models, the catalogue and
   the translator (bot.i18n: plain words and CLDR formats).
3. The local cloud (localcloud/) is reached only from demo mode's wiring (bot/demo.py).
4. Nothing imports the edge but the application factory (bot/hosting.py).
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = [ROOT / "app.py", *sorted((ROOT / "bot").rglob("*.py")),
           *sorted((ROOT / "cards").rglob("*.py"))]
BOT_FRAMEWORK = ("botbuilder", "botframework", "msrest")


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, package: str | None = None) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file."""
    if package is None:
        module = module_of(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield node.lineno, name
            for alias in node.names:  # `from bot import teams` imports bot.teams
                yield node.lineno, f"{name}.{alias.name}"


def is_in(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def violations(rule) -> list[str]:
    found = []
    for path in PRODUCT:
        module = module_of(path)
        for line, name in imports(path):
            why = rule(module, name)
            if why:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}: {why}")
    return found


def test_only_the_edge_speaks_the_bot_framework() -> None:
    def rule(module: str, name: str) -> str | None:
        if is_in(name, *BOT_FRAMEWORK) and not is_in(module, "bot.teams"):
            return "only bot/teams/ may use the Bot Framework SDK"
        return None
    assert violations(rule) == []


def test_cards_use_only_plain_types_of_the_bot() -> None:
    def rule(module: str, name: str) -> str | None:
        if is_in(module, "cards") and is_in(name, "bot") and \
                not is_in(name, "bot.models", "bot.errors", "bot.i18n"):
            return "cards/ may import bot.models, bot.errors and bot.i18n only"
        return None
    assert violations(rule) == []


def test_the_translator_is_plain() -> None:
    """bot.i18n is what cards/ may import for words and formats (plain: words and CLDR
    formats), so it imports nothing else of the bot."""
    def rule(module: str, name: str) -> str | None:
        if module == "bot.i18n" and is_in(name, "bot", "cards", *BOT_FRAMEWORK):
            return "bot/i18n.py stays plain: Babel and the standard library only"
        return None
    assert violations(rule) == []


def test_the_local_cloud_is_reached_only_from_demo_wiring() -> None:
    def rule(module: str, name: str) -> str | None:
        if is_in(name, "localcloud") and module != "bot.demo":
            return "only bot/demo.py may import localcloud"
        return None
    assert violations(rule) == []


def test_nothing_imports_the_edge_but_the_factory() -> None:
    def rule(module: str, name: str) -> str | None:
        if is_in(name, "bot.teams") and not is_in(module, "bot.teams", "bot.hosting"):
            return "only bot/hosting.py builds the Teams edge"
        return None
    assert violations(rule) == []


def test_the_walk_sees_top_level_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The rules above would pass vacuously if the walk missed imports: it does not."""
    probe = tmp_path / "probe.py"
    probe.write_text("from botbuilder.core import TurnContext\n"
                     "def later():\n    import msrest.exceptions\n")
    assert [n for _, n in imports(probe, package="bot")] == [
        "botbuilder.core", "botbuilder.core.TurnContext", "msrest.exceptions"]
    hosting = [n for _, n in imports(ROOT / "bot" / "hosting.py")]
    assert "bot.teams" in hosting  # `from .teams import …`, resolved
