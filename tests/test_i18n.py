"""Issue 17: MeetBot speaks the user's language. The catalogues are complete and in step with
the code, the language follows Teams' locale, dates and times are written the local way (CLDR),
and the grammar's refusals arrive in the user's language when the grammar catalogue has them.

Expected strings are written out as each language writes them (CLDR and the catalogues), not
computed with the code under test."""
from __future__ import annotations

import ast
import string
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from bot.errors import EXAMPLE, ParseError, describe
from bot.i18n import LANGUAGES, LOCALES, Translator, language_for, read_catalogues, translator
from bot.models import Meeting, UserTime
from cards import help_card, meeting_card
from cards.text import when
from tests.helpers import texts

ROOT = Path(__file__).resolve().parents[1]
POT = LOCALES / "meetbot.pot"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}  # as babel.cfg's header says
PO_FILES = sorted(LOCALES.glob("*/LC_MESSAGES/*.po"))


def msgids(path: Path) -> set[str | tuple[str, ...]]:
    with path.open("rb") as f:
        return {m.id for m in read_po(f) if m.id}


def fields(text: str) -> set[str]:
    """The {placeholders} of a str.format template."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


# --- the catalogues ----------------------------------------------------------------------------
def test_there_is_a_meetbot_catalogue_for_every_language_but_english() -> None:
    assert {p.parent.parent.name for p in PO_FILES if p.stem == "meetbot"} == {"de", "fr", "es"}
    assert set(LANGUAGES) == {"en", "de", "fr", "es"}


def test_the_template_is_what_the_code_marks() -> None:
    """locales/meetbot.pot holds exactly the msgids the code marks with _, N_ and ngettext
    (extracted with babel.cfg, as README says): a sentence added or changed in the code
    without refreshing the template fails here."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)

    def ours(path: str) -> bool:  # walk only the product's packages
        rel = Path(path).relative_to(ROOT).parts
        return not rel or rel[0] in ("bot", "cards")

    extracted = {message for _, _, message, _, _ in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS, directory_filter=ours)}
    assert extracted == msgids(POT)


def _literal_calls(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else \
            func.attr if isinstance(func, ast.Attribute) else ""
        first = node.args[0]
        if name in ("_", "N_", "gettext", "ngettext") and isinstance(first, ast.Constant) and \
                isinstance(first.value, str) and not node.keywords:
            found.append((node.lineno, first.value))
    return found


def test_every_sentence_the_code_translates_is_in_the_template() -> None:
    """`tr.gettext("…")` with a literal would slip past extraction (its keyword is `_`)."""
    known = {m if isinstance(m, str) else m[0] for m in msgids(POT)}
    missing = []
    for path in sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "cards").rglob("*.py")]):
        if path.name == "grammar.py":  # its own domain
            continue
        for line, text in _literal_calls(ast.parse(path.read_text(), str(path))):
            if text not in known:
                missing.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    assert missing == []


def catalogue_problems(po: Path) -> list[str]:
    """Each msgid of the domain's template (locales/{domain}.pot, when there is one) has a
    translation, none is empty or fuzzy, and each keeps exactly the English {placeholders}
    (a renamed or lost one would fail at format())."""
    with po.open("rb") as f:
        catalog = read_po(f)
    problems = []
    template = po.parents[2] / f"{po.stem}.pot"
    if template.exists():
        have = {m.id for m in catalog if m.id}
        problems += [f"missing: {m!r}" for m in msgids(template) - have]
    for m in catalog:
        if not m.id:
            continue
        forms = m.string if isinstance(m.id, tuple) else (m.string,)
        english = fields(m.id[-1] if isinstance(m.id, tuple) else m.id)
        if m.fuzzy:
            problems.append(f"fuzzy: {m.id!r}")
        if isinstance(m.id, tuple) and len(forms) != catalog.num_plurals:
            problems.append(f"{len(forms)} plural forms, the language has {catalog.num_plurals}: "
                            f"{m.id!r}")
        for form in forms:
            if not form or not form.strip():
                problems.append(f"empty: {m.id!r}")
            elif fields(form) != english:
                problems.append(f"placeholders {sorted(fields(form))} != {sorted(english)}: "
                                f"{m.id!r}")
    return problems


@pytest.mark.parametrize("po", PO_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_every_catalogue_is_complete_with_the_same_placeholders(po: Path) -> None:
    assert catalogue_problems(po) == []


def test_a_broken_catalogue_is_caught(tmp_path: Path) -> None:
    """The check is live: a missing, an empty, a fuzzy entry and a renamed placeholder."""
    (tmp_path / "meetbot.pot").write_text(
        'msgid "Join: {url}"\nmsgstr ""\n\nmsgid "Refresh"\nmsgstr ""\n\n'
        'msgid "Today"\nmsgstr ""\n\nmsgid "Meet now"\nmsgstr ""\n', "utf-8")
    po = tmp_path / "de" / "LC_MESSAGES" / "meetbot.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr "Language: de\\n"\n\n'
                  'msgid "Join: {url}"\nmsgstr "Teilnehmen: {link}"\n\n'
                  'msgid "Refresh"\nmsgstr ""\n\n'
                  '#, fuzzy\nmsgid "Today"\nmsgstr "Heute"\n', "utf-8")
    assert sorted(catalogue_problems(po)) == [
        "empty: 'Refresh'", "fuzzy: 'Today'", "missing: 'Meet now'",
        "placeholders ['link'] != ['url']: 'Join: {url}'"]


# --- the language and the translator -------------------------------------------------------------
@pytest.mark.parametrize(("locale", "language"), [
    ("de-DE", "de"), ("de-AT", "de"), ("de", "de"), ("fr-CA", "fr"), ("fr-FR", "fr"),
    ("es-MX", "es"), ("es-ES", "es"), ("en-US", "en"), ("en-GB", "en"), ("pt-BR", "en"),
    ("ja-JP", "en"), (None, "en"), ("", "en"), ("DE-de", "de"), ("de_DE", "de"),
])
def test_the_language_of_a_locale(locale: str | None, language: str) -> None:
    assert language_for(locale) == language
    assert translator(locale).language == language


@pytest.mark.parametrize("junk", [5, ["de-DE"], {"x": 1}, "de-DE" * 20, "de DE", "<script>",
                                  "de-\u00e4\u00f6"])
def test_a_locale_that_is_not_a_tag_reads_as_english(junk: object) -> None:
    assert translator(junk) is translator(None)


def test_one_translator_per_locale_and_lookups_are_plain() -> None:
    """Per turn: no parsing, no new objects; the same Translator comes back."""
    assert translator("de-DE") is translator("de-DE")
    de = translator("de-DE")
    assert de.gettext("Join meeting") == "Besprechung beitreten"
    assert de.gettext("no such msgid") == "no such msgid"  # English: the msgid itself
    assert de.gettext("Join meeting", domain="no such domain") == "Join meeting"
    assert de.ngettext("In {n} day", "In {n} days", 3) == "In {n} Tagen"
    assert translator("fr-FR").ngettext("{n} hour", "{n} hours", 1) == "{n} heure"
    assert translator("fr-FR").ngettext("{n} hour", "{n} hours", 2) == "{n} heures"
    assert translator(None).ngettext("{n} other", "{n} others", 1) == "{n} other"


@pytest.mark.parametrize(("locale", "join", "meeting_id", "passcode"), [
    ("de-DE", "Besprechung beitreten", "Besprechungs-ID", "Kenncode"),
    ("fr-FR", "Rejoindre la réunion", "ID de réunion", "Code secret"),
    ("es-ES", "Unirse a la reunión", "Id. de reunión", "Código de acceso"),
    ("en-US", "Join meeting", "Meeting ID", "Passcode"),
])
def test_teams_own_words(locale: str, join: str, meeting_id: str, passcode: str) -> None:
    _ = translator(locale).gettext
    assert (_("Join meeting"), _("Meeting ID"), _("Passcode")) == (join, meeting_id, passcode)


# --- dates and times the local way -----------------------------------------------------------
NOW = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)  # Monday


def _zone(name: str) -> UserTime:
    return UserTime(ZoneInfo(name), name, True)


def _at(zone: str, *fields_: int) -> datetime:
    return datetime(*fields_, tzinfo=ZoneInfo(zone))


@pytest.mark.parametrize(("locale", "zone", "expected"), [
    ("de-DE", "Europe/Berlin", "Morgen, Di., 1. Dez., 09:30–10:30 Uhr (Europe/Berlin)"),
    ("de-AT", "Europe/Vienna", "Morgen, Di., 1. Dez., 09:30–10:30 Uhr (Europe/Vienna)"),
    ("en-US", "America/New_York",
     "Tomorrow, Tue, Dec 1, 9:30\u2009–\u200910:30\u202fAM (America/New_York)"),
    ("en-GB", "Europe/London", "Tomorrow, Tue 1 Dec, 09:30–10:30 (Europe/London)"),
    ("fr-FR", "Europe/Paris", "Demain, mar. 1 déc., 09:30\u2009–\u200910:30 (Europe/Paris)"),
    ("fr-CA", "America/Toronto",
     "Demain, mar. 1 déc., 9 h 30\u2009–\u200910 h 30 (America/Toronto)"),
    ("es-ES", "Europe/Madrid", "Mañana, mar, 1 dic, 9:30–10:30 (Europe/Madrid)"),
    ("es-MX", "America/Mexico_City",
     "Mañana, mar 1 de dic, 9:30–10:30\u202fa.m. (America/Mexico_City)"),
    (None, "Europe/Berlin", "Tomorrow, Tue 1 Dec, 09:30–10:30 (Europe/Berlin)"),
])
def test_a_later_start_in_each_locale(locale: str | None, zone: str, expected: str) -> None:
    """Weekday and month names, date order and the 12- or 24-hour clock come from CLDR for the
    full locale (en-US 12-hour, en-GB 24-hour); the words from the language. Without a locale,
    MeetBot's own English as before."""
    start, end = _at(zone, 2026, 12, 1, 9, 30), _at(zone, 2026, 12, 1, 10, 30)
    now = NOW.astimezone(ZoneInfo(zone)).replace(hour=12)
    assert when(start, end, _zone(zone), now, translator(locale)) == expected


def test_under_way_across_midnight_and_into_next_year() -> None:
    de, us = translator("de-DE"), translator("en-US")
    tokyo = _zone("Asia/Tokyo")
    now = _at("Asia/Tokyo", 2026, 11, 30, 23, 30)
    late = (now, _at("Asia/Tokyo", 2026, 12, 1, 0, 30))
    assert when(*late, tokyo, now, de) == "Heute, 23:30 – Morgen, 00:30 (Asia/Tokyo)"
    assert when(*late, tokyo, now, us) == "Today 11:30\u202fPM – Tomorrow 12:30\u202fAM " \
        "(Asia/Tokyo)"
    berlin = _zone("Europe/Berlin")
    new_year = (_at("Europe/Berlin", 2027, 1, 8, 15, 0), _at("Europe/Berlin", 2027, 1, 8, 16, 0))
    assert when(*new_year, berlin, NOW, de) == "Fr., 8. Jan. 2027, 15:00–16:00 Uhr (Europe/Berlin)"
    assert when(*new_year, berlin, NOW, translator("es-ES")) == \
        "vie, 8 ene 2027, 15:00–16:00 (Europe/Berlin)"
    soon = (_at("Europe/Berlin", 2026, 12, 4, 9, 0), _at("Europe/Berlin", 2026, 12, 4, 9, 30))
    assert when(*soon, berlin, NOW, translator("fr-FR")) == \
        "Dans 4 jours, ven. 4 déc., 09:00\u2009–\u200909:30 (Europe/Berlin)"


def test_no_time_zone_is_said_in_the_users_language() -> None:
    start = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    shown = when(start, start.replace(hour=10), UserTime(), NOW, translator("de-DE"))
    assert shown == "Morgen, Di., 1. Dez., 09:30–10:30 Uhr (UTC – Ihre Zeitzone wurde nicht " \
        "übermittelt)"


def test_the_meeting_card_and_its_summary_use_the_same_words_and_formats() -> None:
    meeting = Meeting(id="m", join_url="https://teams.microsoft.com/l/meetup-join/x",
                      subject="Budget", start=datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
                      end=datetime(2026, 12, 1, 9, 30, tzinfo=UTC), meeting_code="123456789012",
                      passcode="hK3x9Q")
    msg = meeting_card(meeting, _zone("Europe/Berlin"), now=NOW, tr=translator("de-DE"))
    line = "Morgen, Di., 1. Dez., 09:30–10:30 Uhr (Europe/Berlin)"
    assert line in texts(msg.card)
    assert msg.summary == f"Budget · {line} · Teilnehmen: {meeting.join_url}"
    assert msg.card["fallbackText"] == msg.summary


# --- the help card -----------------------------------------------------------------------------
HELP_EXAMPLES = {
    "de-DE": ["treffen", "treffen jetzt 30 min über Budgetplanung",
              "treffen morgen um 9:30 für 1 Std. über Planung mit @Ana", "treffen um 15 Uhr",
              "treffen in 10 Minuten für 20 Minuten über X",
              "treffen mit allen über Betriebsversammlung",
              "treffen morgen um 10 Uhr über Planung, record, no chat", "abmelden", "hilfe"],
    "fr-FR": ["réunion", "réunion maintenant 30 min sur le budget",
              "réunion demain à 9h30 pendant 1h sur la planification avec @Ana", "réunion à 15h",
              "réunion dans 10 minutes pendant 20 minutes sur X",
              "réunion avec tout le monde sur l'assemblée générale",
              "réunion demain à 10h sur la planification, record, no chat", "déconnexion", "aide"],
    "es-ES": ["reunión", "reunión ahora 30 min sobre el presupuesto",
              "reunión mañana a las 9:30 durante 1 hora sobre planificación con @Ana",
              "reunión a las 15:00", "reunión en 10 minutos durante 20 minutos sobre X",
              "reunión con todos sobre la asamblea general",
              "reunión mañana a las 10:00 sobre planificación, record, no chat", "cerrar sesión",
              "ayuda"],
}


@pytest.mark.parametrize("locale", HELP_EXAMPLES)
def test_help_shows_the_commands_in_the_users_language_and_says_english_works(
        locale: str) -> None:
    card = help_card(tr=translator(locale)).card
    commands = [t.split("**")[1] for t in texts(card) if t.startswith("**")]
    assert commands == HELP_EXAMPLES[locale]
    english_too = [t for t in texts(card) if f"**{EXAMPLE}**" in t]
    assert len(english_too) == 1 and not english_too[0].startswith("**")
    assert "Instead of" not in " ".join(texts(card))  # English's verb list is English's


# --- the grammar's refusals ------------------------------------------------------------------
def _parse_error(reason: str, template: str | None, **params: str) -> ParseError:
    """A ParseError as the grammar raises it: `reason` in English, and (the shared contract)
    `template`, the English msgid of the "grammar" domain, with its `params`."""
    err = ParseError(reason)
    err.template = template  # type: ignore[attr-defined]
    err.params = params  # type: ignore[attr-defined]
    return err


def test_a_grammar_refusal_is_rendered_from_its_template_in_the_users_language(
        tmp_path: Path) -> None:
    (tmp_path / "de" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "de" / "LC_MESSAGES" / "grammar.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: de\\n"\n'
        '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n\n'
        'msgid "“{text}” is not a time of day"\nmsgstr "„{text}“ ist keine Uhrzeit"\n', "utf-8")
    de = translator("de-DE")
    with_grammar = Translator(de.language, {**de.domains, **read_catalogues(tmp_path, "de")},
                              de.formats)
    err = _parse_error("“25 Uhr” is not a time of day", "“{text}” is not a time of day",
                       text="25 Uhr")
    msg = describe(err, with_grammar)
    assert (msg.title, msg.text) == ("Das habe ich nicht verstanden", "„25 Uhr“ ist keine Uhrzeit.")
    assert msg.example == "treffen jetzt 30 min über Budgetplanung"  # the stock one, in German
    # The shipped catalogue (locales/de/LC_MESSAGES/grammar.po) has its own words for it.
    assert describe(err, de).text == "„25 Uhr“ ist keine gültige Uhrzeit."
    # A template no catalogue translates: the English template, filled.
    untranslated = _parse_error("“25 Uhr” is new", "“{text}” is new", text="25 Uhr")
    assert describe(untranslated, de).text == "“25 Uhr” is new."
    # No template: the reason as the grammar wrote it; in English, unchanged.
    assert describe(_parse_error("as written", None), de).text == "as written."
    assert describe(err).title == "I couldn't read that"


# --- what fits ---------------------------------------------------------------------------------
@pytest.mark.parametrize("locale", [None, "de-DE", "fr-FR", "es-ES"])
def test_the_organizers_three_buttons_fit_one_row(locale: str | None) -> None:
    """Join, Extend and End share one row. Rendered with the Adaptive Cards JS renderer under
    Teams' host config, 50 characters of titles fit a 500 px card; longer ones are cut off
    ("Besprechung beitreten · Um 15 Min. verlängern · Besprechung beenden" was)."""
    _ = translator(locale).gettext
    titles = [_("Join meeting"), _("Extend {minutes} min").format(minutes=15), _("End meeting")]
    assert sum(map(len, titles)) <= 50, titles
