"""The command grammar in German, French and Spanish (issue 17), and its translatable reasons.

Table-driven like tests/test_grammar.py: expectations are wall-clock times in Berlin written
out by hand from a calendar (Berlin's clock is Monday 10 March 2025, 10:00 CET; clocks jump
02:00 -> 03:00 on Sunday 30 March). Every refusal is checked to carry a msgid of the
"grammar" gettext domain whose translations exist in each language with the same placeholders.
"""
from __future__ import annotations

import ast
import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import ParseError, describe
from bot.grammar import DEFAULT_SUBJECT, Mention, parse, user_time_from
from bot.i18n import translator
from bot.models import AttendeeScope, HelpRequest, MeetingRequest, Person, SignOutRequest
from bot.options import extract as extract_options
from cards.messages import help_card
from tests.helpers import texts

ROOT = Path(__file__).resolve().parents[1]
BERLIN = user_time_from("Europe/Berlin")
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)  # Monday 10:00 in Berlin
NOW_B = "2025-03-10 10:00"
ANA = Person("Ana Lopez", aad_object_id="aad-ana", teams_id="29:ana")
BEN = Person("Ben Ode", aad_object_id="aad-ben", teams_id="29:ben")
MENTIONS = (Mention("<at>MeetBot</at>", Person("MeetBot", teams_id="28:bot"), is_bot=True),
            Mention("<at>Ana</at>", ANA, False), Mention("<at>Ben Ode</at>", BEN, False))
M, E, NONE = AttendeeScope.MENTIONED, AttendeeScope.EVERYONE, AttendeeScope.NONE
DE, FR, ES = "de-DE", "fr-FR", "es-ES"


@dataclass(frozen=True)
class Ok:
    """Expected MeetingRequest; None = not checked. `start` is wall-clock in Berlin."""

    start: str | None = None
    minutes: float | None = 30
    subject: str | None = DEFAULT_SUBJECT
    starts_now: bool | None = None
    attendees: tuple[str, ...] | None = ()
    scope: AttendeeScope | None = None
    reading_has: str | None = None


@dataclass(frozen=True)
class Bad:
    """Expected ParseError: `reason_has` in the (English) reason, `example_has` in the example;
    `suggestion` the corrected command offered to run ("" = none offered)."""

    reason_has: str
    example_has: str | None = None
    suggestion: str | None = None


def _parse(text: str, locale: str | None) -> object:
    return parse(text, now=NOW, user_time=BERLIN, mentions=MENTIONS, locale=locale)


def _wall(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M")


def _elapsed(req: MeetingRequest) -> timedelta:
    return req.end.astimezone(UTC) - req.start.astimezone(UTC)


# --- the catalogue -------------------------------------------------------------------------------
def read_po(path: Path) -> dict[str, str]:
    """msgid -> msgstr of a .po file (the grammar domain has no plurals or contexts)."""
    entries: dict[str, str] = {}
    current: dict[str, str] = {}
    field = ""
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = line.strip()
        if not line or line.startswith("#"):
            if current.get("msgid"):
                entries[current["msgid"]] = current.get("msgstr", "")
            if not line:
                current, field = {}, ""
            continue
        if line.startswith(("msgid ", "msgstr ")):
            field, _, line = line.partition(" ")
            current[field] = ""
        current[field] += ast.literal_eval(line)  # a C-escaped string, as Python reads it
    return entries


POT = read_po(ROOT / "locales" / "grammar.pot")
CATALOGUES = {lang: read_po(ROOT / "locales" / lang / "LC_MESSAGES" / "grammar.po")
              for lang in ("de", "fr", "es")}


def _placeholders(text: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def _check_reason(err: ParseError) -> None:
    """The reason is its msgid filled in, and every translation of it fills in too."""
    assert err.template is not None, err.reason
    assert err.template in POT, err.template
    assert err.reason == err.template.format(**err.params)
    assert all(isinstance(v, str) for v in err.params.values())
    for catalogue in CATALOGUES.values():
        assert catalogue[err.template].format(**err.params)


def _check_ok(req: object, want: Ok) -> None:
    assert isinstance(req, MeetingRequest), req
    if want.start is not None:
        assert _wall(req.start) == want.start
    if want.minutes is not None:
        assert _elapsed(req) == timedelta(minutes=want.minutes)
    if want.subject is not None:
        assert req.subject == want.subject
        assert req.subject_given == (want.subject != DEFAULT_SUBJECT)
    if want.starts_now is not None:
        assert req.starts_now is want.starts_now
    if want.attendees is not None:
        assert [p.aad_object_id for p in req.attendees] == list(want.attendees)
    if want.scope is not None:
        assert req.scope is want.scope
    if want.reading_has is not None:
        assert want.reading_has in (req.date_reading or "")
        assert req.date_reading_template in POT
        assert req.date_reading == req.date_reading_template.format(**req.date_reading_params)


def _check_bad(text: str, locale: str | None, want: Bad) -> ParseError:
    with pytest.raises(ParseError) as caught:
        _parse(text, locale)
    err = caught.value
    assert want.reason_has in err.reason, err.reason
    if want.example_has is not None:
        assert want.example_has in err.example, err.example
    if want.suggestion is not None:
        assert (err.suggestion or "") == want.suggestion
    # The fix offered is itself a command we accept, and what a button runs is one too.
    assert isinstance(_parse(err.example.replace("@Ana", "<at>Ana</at>"), locale), MeetingRequest)
    if err.suggestion is not None:
        assert isinstance(parse(err.suggestion, now=NOW, user_time=BERLIN, locale=locale),
                          MeetingRequest)
        assert err.example == err.suggestion
    shown = describe(err)
    assert shown.text == f"{err.reason}." and shown.suggestion == err.suggestion
    _check_reason(err)
    return err


# --- the help card's examples, as the help card shows them --------------------------------------
HELP_CARD = [
    ("de", "treffen", Ok(NOW_B, starts_now=True, scope=NONE)),
    ("de", "treffen jetzt 30 min über Budgetplanung", Ok(NOW_B, 30, "Budgetplanung", True)),
    ("de", "treffen morgen um 9:30 für 1 Std. über Planung mit <at>Ana</at>",
     Ok("2025-03-11 09:30", 60, "Planung", False, ("aad-ana",), M)),
    ("de", "treffen um 15 Uhr", Ok("2025-03-10 15:00", starts_now=False)),
    ("de", "treffen in 10 Minuten für 20 Minuten über X", Ok("2025-03-10 10:10", 20, "X", False)),
    ("de", "treffen mit allen über Betriebsversammlung",
     Ok(NOW_B, 30, "Betriebsversammlung", True, scope=E)),
    ("fr", "réunion", Ok(NOW_B, starts_now=True, scope=NONE)),
    ("fr", "réunion maintenant 30 min sur le budget", Ok(NOW_B, 30, "le budget", True)),
    ("fr", "réunion demain à 9h30 pendant 1h sur la planification avec <at>Ana</at>",
     Ok("2025-03-11 09:30", 60, "la planification", False, ("aad-ana",), M)),
    ("fr", "réunion à 15h", Ok("2025-03-10 15:00", starts_now=False)),
    ("fr", "réunion dans 10 minutes pendant 20 minutes sur X",
     Ok("2025-03-10 10:10", 20, "X", False)),
    ("fr", "réunion avec tout le monde sur l'assemblée générale",
     Ok(NOW_B, 30, "l'assemblée générale", True, scope=E)),
    ("es", "reunión", Ok(NOW_B, starts_now=True, scope=NONE)),
    ("es", "reunión ahora 30 min sobre el presupuesto", Ok(NOW_B, 30, "el presupuesto", True)),
    ("es", "reunión mañana a las 9:30 durante 1 hora sobre planificación con <at>Ana</at>",
     Ok("2025-03-11 09:30", 60, "planificación", False, ("aad-ana",), M)),
    ("es", "reunión a las 15:00", Ok("2025-03-10 15:00", starts_now=False)),
    ("es", "reunión en 10 minutos durante 20 minutos sobre X",
     Ok("2025-03-10 10:10", 20, "X", False)),
    ("es", "reunión con todos sobre la asamblea general",
     Ok(NOW_B, 30, "la asamblea general", True, scope=E)),
]


@pytest.mark.parametrize(("language", "text", "want"), HELP_CARD,
                         ids=[f"{c[0]}-{c[1][:40]}" for c in HELP_CARD])
@pytest.mark.parametrize("locale", ["own", "en-US", None])
def test_the_help_cards_examples_mean_what_they_say(language: str, text: str, want: Ok,
                                                     locale: str | None) -> None:
    """Whatever the user's Teams language: the verb says which language the command is in."""
    _check_ok(_parse(text, f"{language}-{language.upper()}" if locale == "own" else locale), want)
    assert _parse(text.split()[0], locale).bare  # the verb alone is a bare meet


@pytest.mark.parametrize("locale", ["en-US", "de-DE", "fr-FR", "es-ES"])
def test_every_command_on_the_help_card_is_read(locale: str) -> None:
    """The help card (cards/messages.py, through the shipped catalogues) shows commands in the
    user's language; each is one the bot reads as typed, options first as the bot does."""
    shown = " ".join(texts(help_card(tr=translator(locale)).card))
    commands = re.findall(r"\*\*(.+?)\*\*", shown)
    assert len(commands) >= 9, shown
    # …and the note's subject in quotes: meet "Dec 9 retro" at 3pm.
    commands += re.findall(r'((?:meet|treffen|réunion|reunión) "[^"]+" [^.]+)\. ', shown)
    assert len([c for c in commands if '"' in c]) == 1, shown
    for command in commands:
        got = _parse(extract_options(command.replace("@Ana", "<at>Ana</at>")).text, locale)
        assert got in (HelpRequest(), SignOutRequest()) or isinstance(got, MeetingRequest), command


@pytest.mark.parametrize(("text", "want"), [
    ("abmelden", SignOutRequest()), ("Abmelden.", SignOutRequest()),
    ("hilfe", HelpRequest()), ("Hilfe!", HelpRequest()), ("befehle", HelpRequest()),
    ("treffen hilfe", HelpRequest()), ("<at>MeetBot</at> hilfe", HelpRequest()),
    ("déconnexion", SignOutRequest()), ("deconnexion", SignOutRequest()),
    ("se déconnecter", SignOutRequest()), ("aide", HelpRequest()), ("réunion aide", HelpRequest()),
    ("cerrar sesión", SignOutRequest()), ("Cerrar sesion", SignOutRequest()),
    ("ayuda", HelpRequest()), ("reunión ayuda", HelpRequest()), ("comandos", HelpRequest()),
    ("hallo", HelpRequest(reason="I didn't recognise “hallo”")),
    ("Besprechungen sind doof", HelpRequest(reason="I didn't recognise “Besprechungen sind doof”")),
    ("réunions", HelpRequest(reason="I didn't recognise “réunions”")),
    ("reuniones mañana", HelpRequest(reason="I didn't recognise “reuniones mañana”")),
])
def test_help_and_sign_out_in_every_language(text: str, want: object) -> None:
    got = _parse(text, DE)
    assert got == want
    if isinstance(got, HelpRequest) and got.reason:
        assert got.template in POT and got.reason == got.template.format(**got.params)


# --- German ----------------------------------------------------------------------------------
GERMAN = [
    # verbs and now
    ("jetzt", "treffen jetzt", Ok(NOW_B, starts_now=True)),
    ("capital-verb", "Treffen sofort", Ok(NOW_B, starts_now=True)),
    ("slash", "/treffen jetzt", Ok(NOW_B, starts_now=True)),
    ("neue-besprechung", "neue Besprechung über Budget", Ok(NOW_B, 30, "Budget")),
    ("besprechung-planen", "Besprechung planen morgen um 10 Uhr", Ok("2025-03-11 10:00")),
    ("neues-meeting", "neues Meeting um 15:30", Ok("2025-03-10 15:30")),
    # lengths
    ("fuer-1-std", "treffen um 15 Uhr für 1 Std.", Ok("2025-03-10 15:00", 60)),
    ("45-minuten", "treffen 45 Minuten über Q2-Plan", Ok(NOW_B, 45, "Q2-Plan")),
    ("fuer-90-minuten", "treffen für 90 Minuten", Ok(NOW_B, 90)),
    ("halbe-stunde", "treffen eine halbe Stunde über Design", Ok(NOW_B, 30, "Design")),
    ("anderthalb", "treffen anderthalb Stunden", Ok(NOW_B, 90)),
    ("komma", "treffen 1,5 Std", Ok(NOW_B, 90)),
    ("viertelstunde", "treffen eine Viertelstunde", Ok(NOW_B, 15)),
    ("std-min", "treffen 1 Std. 30 Min.", Ok(NOW_B, 90)),
    ("trailing-length", "treffen über Budget für 45 Minuten", Ok(NOW_B, 45, "Budget")),
    # starts
    ("in-einer-stunde", "treffen in einer Stunde", Ok("2025-03-10 11:00", starts_now=False)),
    ("morgen-930", "treffen morgen um 9:30 für 45 Minuten", Ok("2025-03-11 09:30", 45)),
    ("uebermorgen", "treffen übermorgen um 10 Uhr", Ok("2025-03-12 10:00")),
    ("uebermorgen-ue", "treffen uebermorgen um 10 Uhr", Ok("2025-03-12 10:00")),
    ("naechsten-montag", "treffen nächsten Montag um 10 Uhr", Ok("2025-03-17 10:00")),
    ("naechsten-ae", "treffen naechsten Montag um 10 Uhr", Ok("2025-03-17 10:00")),
    ("montag-heute", "treffen Montag um 11 Uhr", Ok("2025-03-10 11:00")),
    ("am-freitag", "treffen am Freitag um 14 Uhr über Retro", Ok("2025-03-14 14:00", 30, "Retro")),
    ("heute-17", "treffen heute um 17 Uhr", Ok("2025-03-10 17:00")),
    ("um-15.30", "treffen um 15.30", Ok("2025-03-10 15:30")),
    ("ab-16", "treffen ab 16 Uhr", Ok("2025-03-10 16:00")),
    ("um-17-bare", "treffen um 17", Ok("2025-03-10 17:00")),
    # dates
    ("9-dezember", "treffen 9. Dezember um 10 Uhr über Roadmap",
     Ok("2025-12-09 10:00", 30, "Roadmap", False)),
    ("am-9-dez", "treffen am 9. Dez. um 10 Uhr", Ok("2025-12-09 10:00")),
    ("wochentag-datum", "treffen Dienstag, 9. Dezember um 10 Uhr", Ok("2025-12-09 10:00")),
    ("am-9.12.", "treffen am 9.12. um 10 Uhr", Ok("2025-12-09 10:00")),
    ("am-9.12.2025", "treffen am 9.12.2025 um 14 Uhr", Ok("2025-12-09 14:00")),
    ("am-12.12-ohne-punkt", "treffen am 12.12 um 10 Uhr", Ok("2025-12-12 10:00")),
    ("am-19.", "treffen am 19. um 10 Uhr", Ok("2025-03-19 10:00")),
    ("maerz-2026", "treffen 9. März 2026 um 10 Uhr", Ok("2026-03-09 10:00")),
    ("maerz-ae", "treffen 9. Maerz 2026 um 10 Uhr", Ok("2026-03-09 10:00")),
    ("12/9-de", "treffen 12/9 um 10 Uhr", Ok("2025-09-12 10:00", reading_has="12. September")),
    ("dst-3-uhr", "treffen 30. März um 3 Uhr für 1 Std.", Ok("2025-03-30 03:00", 60)),
    # parts of the day and ranges
    ("heute-abend-um-8", "treffen heute Abend um 8", Ok("2025-03-10 20:00")),
    ("8-uhr-abends", "treffen um 8 Uhr abends", Ok("2025-03-10 20:00")),
    ("morgen-frueh", "treffen morgen früh um 9", Ok("2025-03-11 09:00")),
    ("morgen-nachmittag", "treffen morgen Nachmittag um 3", Ok("2025-03-11 15:00")),
    ("heute-morgen-ist-heute", "treffen heute Morgen um 9:58", Ok("2025-03-10 09:58")),
    ("von-bis", "treffen von 14 bis 15:30 Uhr über Planung", Ok("2025-03-10 14:00", 90, "Planung")),
    ("morgen-von-bis", "treffen morgen von 9 bis 10 Uhr", Ok("2025-03-11 09:00", 60)),
    ("zwischen-und", "treffen zwischen 16 und 17 Uhr", Ok("2025-03-10 16:00", 60)),
    # subjects and invitees
    ("mit-zwei", "treffen mit <at>Ana</at> und <at>Ben Ode</at> um 15 Uhr",
     Ok("2025-03-10 15:00", attendees=("aad-ana", "aad-ben"), scope=M)),
    ("mit-allen", "treffen mit allen um 16 Uhr", Ok("2025-03-10 16:00", scope=E)),
    ("mit-dem-team", "treffen mit dem Team über Planung", Ok(NOW_B, 30, "Planung", scope=E)),
    ("zum-thema", "treffen zum Thema Urlaub", Ok(NOW_B, 30, "Urlaub")),
    ("betreff", "treffen Betreff: Einstellung", Ok(NOW_B, 30, "Einstellung")),
    ("zitat", 'treffen "Planung 9. Dezember" morgen um 10 Uhr',
     Ok("2025-03-11 10:00", 30, "Planung 9. Dezember")),
    ("version-bleibt", "treffen über Release 2.10", Ok(NOW_B, 30, "Release 2.10")),
    ("montage-ist-ein-wort", "treffen über Montage", Ok(NOW_B, 30, "Montage")),
    ("english-verb-still-english", "meet tomorrow at 10am", Ok("2025-03-11 10:00")),
]

GERMAN_BAD = [
    ("typo-morgn", "treffen morgn um 9 Uhr", Bad("“morgn”", suggestion="treffen morgen um 9 Uhr")),
    ("typo-montga", "treffen Montga um 11 Uhr",
     Bad("“Montga”", suggestion="treffen Montag um 11 Uhr")),
    ("typo-mitwoch", "treffen mitwoch um 10 Uhr",
     Bad("“mitwoch”", suggestion="treffen Mittwoch um 10 Uhr")),
    ("typo-dezmber", "treffen 9. Dezmber um 10 Uhr",
     Bad("“Dezmber”", suggestion="treffen 9. Dezember um 10 Uhr")),
    ("typo-maez", "treffen 20. Mäz um 10 Uhr", Bad("“Mäz”", suggestion="treffen 20. März um 10 Uhr")),
    ("typo-minutn", "treffen 45 Minutn über X", Bad("“Minutn”", suggestion="treffen 45 Minuten über X")),
    ("25-uhr", "treffen um 25 Uhr", Bad("“25 Uhr” is not a time of day", "treffen um 15 Uhr")),
    ("9:75", "treffen um 9:75", Bad("“9:75” is not a time of day")),
    ("um-3", "treffen um 3", Bad("could be morning or afternoon: say 3 Uhr or 15 Uhr",
                                  suggestion="treffen um 15 Uhr")),
    ("naechste-woche", "treffen nächste Woche",
     Bad("“nächste Woche” isn't a day: say which day, like nächsten Montag",
         "treffen nächsten Montag um 9 Uhr")),
    ("naechste-woche-10", "treffen nächste Woche um 10 Uhr",
     Bad("nächste Woche", "treffen nächsten Montag um 10 Uhr")),
    ("planung-naechste-woche", "treffen über Planung nächste Woche",
     Bad("in quotes", 'treffen über "Planung nächste Woche"')),
    ("wochenende", "treffen am Wochenende um 10 Uhr", Bad("am Wochenende")),
    ("gestern", "treffen gestern um 10 Uhr", Bad("“gestern” is in the past",
                                                 "treffen morgen um 10 Uhr")),
    ("letzten-montag", "treffen letzten Montag um 10 Uhr",
     Bad("“letzten Montag” is in the past", "treffen nächsten Montag um 10 Uhr")),
    ("30-februar", "treffen 30. Februar um 10 Uhr",
     Bad("“30. Februar” isn't a date: Februar has 29 days at most")),
    ("am-35.", "treffen am 35. um 10 Uhr", Bad("isn't a day of the month")),
    ("ohne-uhrzeit", "treffen morgen über X",
     Bad("“morgen” needs a time of day", "treffen morgen um 9 Uhr über X")),
    ("schon-vorbei", "treffen um 9 Uhr", Bad("9:00 has already passed today",
                                             "treffen morgen um 9 Uhr")),
    ("wochentag-falsch", "treffen Montag, 9. Dezember um 10 Uhr",
     Bad("Dienstag, 9. Dezember 2025 is a Dienstag, not “Montag”", "treffen 9. Dezember um 10 Uhr")),
    ("dst-luecke", "treffen 30. März um 2:30 Uhr",
     Bad("2:30 doesn't exist on Sonntag, 30. März in Europe/Berlin", "um 3:30 Uhr")),
    ("mit-name", "treffen mit Ana über X", Bad("“mit Ana” names nobody", "treffen über X")),
    ("ohne-einheit", "treffen 30 über X", Bad("“30” needs a unit", "treffen 30m über X")),
    ("zeit-oder-datum", "treffen 15.30", Bad("“15.30” is a time or a date", "treffen um 15:30 Uhr")),
    ("datum-im-betreff", "treffen Budget 12.12 um 10 Uhr", Bad("“12.12”", 'treffen "Budget 12.12"')),
    ("90-tage", "treffen in 90 Tagen", Bad("“in …” reaches 60 days", "treffen morgen um 9 Uhr")),
    ("25-std", "treffen für 25 Std.", Bad("is too long", "treffen für 24h")),
    ("15-uhr-morgens", "treffen um 15 Uhr morgens", Bad("“um 15 Uhr” and “morgens”")),
    ("von-10-bis-9", "treffen von 10 bis 9 Uhr", Bad("ends before it starts", "treffen um 10 Uhr")),
    ("von-9-bis-10", "treffen von 9 bis 10", Bad("“10” could be morning or afternoon",
                                                 "treffen morgen von 9 bis 10 Uhr")),
    ("jetzt-und-15", "treffen jetzt um 15 Uhr", Bad("two start times", "treffen jetzt")),
    ("ueber-nichts", "treffen über", Bad("“über” needs a subject", "treffen über Budgetplanung")),
]

# --- French ----------------------------------------------------------------------------------
FRENCH = [
    ("maintenant", "réunion maintenant", Ok(NOW_B, starts_now=True)),
    ("sans-accent", "reunion maintenant", Ok(NOW_B, starts_now=True)),
    ("tout-de-suite", "Réunion tout de suite", Ok(NOW_B, starts_now=True)),
    ("nouvelle", "nouvelle réunion sur le budget", Ok(NOW_B, 30, "le budget")),
    ("planifier", "planifier une réunion demain à 10h", Ok("2025-03-11 10:00")),
    # lengths
    ("pendant-45", "réunion pendant 45 minutes", Ok(NOW_B, 45)),
    ("pendant-1h30", "réunion pendant 1h30 sur le recrutement", Ok(NOW_B, 90, "le recrutement")),
    ("de-30-minutes", "réunion de 30 minutes sur X", Ok(NOW_B, 30, "X")),
    ("demi-heure", "réunion une demi-heure sur la conception", Ok(NOW_B, 30, "la conception")),
    ("heure-et-demie", "réunion pendant une heure et demie", Ok(NOW_B, 90)),
    ("quart-d-heure", "réunion un quart d'heure", Ok(NOW_B, 15)),
    ("2-heures", "réunion 2 heures", Ok(NOW_B, 120)),
    ("maintenant-1h", "réunion maintenant 1h", Ok(NOW_B, 60, starts_now=True)),
    ("trailing-length", "réunion sur le budget pendant 45 minutes", Ok(NOW_B, 45, "le budget")),
    # starts
    ("dans-une-heure", "réunion dans une heure", Ok("2025-03-10 11:00", starts_now=False)),
    ("demain-9h", "réunion demain 9h", Ok("2025-03-11 09:00")),
    ("a-sans-accent", "reunion demain a 15h", Ok("2025-03-11 15:00")),
    ("a-15-heures", "réunion à 15 heures", Ok("2025-03-10 15:00")),
    ("a-15:30", "réunion à 15:30", Ok("2025-03-10 15:30")),
    ("a-midi", "réunion à midi", Ok("2025-03-10 12:00")),
    ("aujourd-hui", "réunion aujourd'hui à 17h", Ok("2025-03-10 17:00")),
    ("aujourdhui", "réunion aujourdhui à 17h", Ok("2025-03-10 17:00")),
    ("apres-demain", "réunion après-demain à 10h", Ok("2025-03-12 10:00")),
    ("apres-demain-sans-trait", "réunion apres demain à 10h", Ok("2025-03-12 10:00")),
    ("lundi-prochain", "réunion lundi prochain à 10h", Ok("2025-03-17 10:00")),
    ("vendredi", "réunion vendredi à 14h sur la rétro", Ok("2025-03-14 14:00", 30, "la rétro")),
    # dates
    ("9-decembre", "réunion 9 décembre à 10h sur la feuille de route",
     Ok("2025-12-09 10:00", 30, "la feuille de route", False)),
    ("le-9-decembre", "réunion le 9 décembre à 10h", Ok("2025-12-09 10:00")),
    ("decembre-sans-accent", "réunion le 9 decembre à 10h", Ok("2025-12-09 10:00")),
    ("mardi-9-decembre", "réunion mardi 9 décembre à 10h", Ok("2025-12-09 10:00")),
    ("1er-avril", "réunion le 1er avril à 10h", Ok("2025-04-01 10:00")),
    ("le-19", "réunion le 19 à 10h", Ok("2025-03-19 10:00")),
    ("9-dec-2025", "réunion le 9 déc. 2025 à 14h", Ok("2025-12-09 14:00")),
    ("12/9-fr", "réunion 12/9 à 10h", Ok("2025-09-12 10:00", reading_has="12 septembre")),
    ("9.12.", "réunion 9.12. à 10h", Ok("2025-12-09 10:00")),
    # parts of the day and ranges
    ("ce-soir", "réunion ce soir à 8h", Ok("2025-03-10 20:00")),
    ("8h-du-soir", "réunion à 8h du soir", Ok("2025-03-10 20:00")),
    ("2h-apres-midi", "réunion demain 2h de l'après-midi", Ok("2025-03-11 14:00")),
    ("de-a", "réunion de 14h à 15h30", Ok("2025-03-10 14:00", 90)),
    ("entre-et", "réunion demain entre 9h et 10h", Ok("2025-03-11 09:00", 60)),
    # subjects and invitees
    ("avec-deux", "réunion à 15h avec <at>Ana</at> et <at>Ben Ode</at>",
     Ok("2025-03-10 15:00", attendees=("aad-ana", "aad-ben"), scope=M)),
    ("toute-l-equipe", "réunion avec toute l'équipe", Ok(NOW_B, scope=E)),
    ("a-propos-de", "réunion à propos de la paie", Ok(NOW_B, 30, "la paie")),
    ("au-sujet-de", "réunion au sujet de la paie", Ok(NOW_B, 30, "la paie")),
    ("mardi-gras-reste", "réunion sur Mardi Gras", Ok(NOW_B, 30, "Mardi Gras")),
    ("guillemets", "réunion « le 9 décembre » demain à 10h", Ok("2025-03-11 10:00", 30,
                                                             "le 9 décembre")),
]

FRENCH_BAD = [
    ("typo-demian", "réunion demian à 9h", Bad("“demian”", suggestion="réunion demain à 9h")),
    ("typo-lnudi", "réunion lnudi à 11h", Bad("“lnudi”", suggestion="réunion lundi à 11h")),
    ("typo-decmbre", "réunion 9 décmbre à 10h",
     Bad("“décmbre”", suggestion="réunion 9 décembre à 10h")),
    ("typo-minuts", "réunion 45 minuts sur X", Bad("“minuts”", suggestion="réunion 45 minutes sur X")),
    ("25h", "réunion à 25h", Bad("“25h” is not a time of day", "réunion à 15h")),
    ("9h75", "réunion à 9h75", Bad("“9h75” is not a time of day")),
    ("a-3", "réunion à 3", Bad("say 3h or 15h", suggestion="réunion à 15h")),
    ("2h-seul", "réunion 2h", Bad("“2h” could be a time or a length: say à 2h or pendant 2h",
                                  "réunion pendant 2h")),
    ("semaine-prochaine", "réunion la semaine prochaine",
     Bad("“la semaine prochaine” isn't a day: say which day, like lundi prochain",
         "réunion lundi prochain à 9h")),
    ("semaine-prochaine-10h", "réunion la semaine prochaine à 10h",
     Bad("la semaine prochaine", "réunion lundi prochain à 10h")),
    ("hier", "réunion hier à 10h", Bad("“hier” is in the past", "réunion demain à 10h")),
    ("lundi-dernier", "réunion lundi dernier à 10h",
     Bad("“lundi dernier” is in the past", "réunion lundi prochain à 10h")),
    ("31-avril", "réunion 31 avril à 10h", Bad("isn't a date: avril has 30 days",
                                              "réunion 30 avril à 10h")),
    ("sans-heure", "réunion demain sur X", Bad("“demain” needs a time of day",
                                                "réunion demain à 9h sur X")),
    ("deja-passe", "réunion à 9h", Bad("9h00 has already passed today", "réunion demain à 9h")),
    ("ce-soir-sans-heure", "réunion ce soir", Bad("“ce soir” needs a time of day")),
    ("avec-nom", "réunion avec le client", Bad("“avec le” names nobody")),
    ("dans-90-jours", "réunion dans 90 jours", Bad("“dans …” reaches 60 days",
                                                   "réunion demain à 9h")),
    ("25-heures", "réunion pendant 25 heures", Bad("is too long", "réunion pendant 24h")),
    ("9/13", "réunion 9/13 à 10h", Bad("isn't a date in day/month order, as fr-FR",
                                       suggestion="réunion 13 septembre à 10h")),
    ("deux-heures-de-debut", "réunion maintenant à 15h", Bad("two start times")),
    ("sur-rien", "réunion sur", Bad("“sur” needs a subject")),
]

# --- Spanish ---------------------------------------------------------------------------------
SPANISH = [
    ("ahora", "reunión ahora", Ok(NOW_B, starts_now=True)),
    ("sin-tilde", "reunion ahora", Ok(NOW_B, starts_now=True)),
    ("ahora-mismo", "Reunión ahora mismo", Ok(NOW_B, starts_now=True)),
    ("nueva", "nueva reunión sobre el presupuesto", Ok(NOW_B, 30, "el presupuesto")),
    ("crear", "crear una reunión mañana a las 10:00", Ok("2025-03-11 10:00")),
    ("reunir", "reunir mañana a las 10:00", Ok("2025-03-11 10:00")),
    # lengths
    ("durante-45", "reunión durante 45 minutos", Ok(NOW_B, 45)),
    ("media-hora", "reunión media hora sobre diseño", Ok(NOW_B, 30, "diseño")),
    ("hora-y-media", "reunión una hora y media sobre X", Ok(NOW_B, 90, "X")),
    ("de-30-minutos", "reunión de 30 minutos sobre X", Ok(NOW_B, 30, "X")),
    ("cuarto-de-hora", "reunión un cuarto de hora", Ok(NOW_B, 15)),
    ("2-horas", "reunión durante 2 horas", Ok(NOW_B, 120)),
    ("1h", "reunión 1h sobre X", Ok(NOW_B, 60, "X")),
    ("trailing-length", "reunión sobre el presupuesto durante 45 minutos",
     Ok(NOW_B, 45, "el presupuesto")),
    # starts
    ("dentro-de", "reunión dentro de 10 minutos", Ok("2025-03-10 10:10", starts_now=False)),
    ("en-una-hora", "reunión en una hora", Ok("2025-03-10 11:00")),
    ("manana-sin-tilde", "reunión manana a las 10:00", Ok("2025-03-11 10:00")),
    ("hoy", "reunion hoy a las 15:00", Ok("2025-03-10 15:00")),
    ("pasado-manana", "reunión pasado mañana a las 10:00", Ok("2025-03-12 10:00")),
    ("el-proximo-lunes", "reunión el próximo lunes a las 10:00", Ok("2025-03-17 10:00")),
    ("lunes-que-viene", "reunión el lunes que viene a las 10:00", Ok("2025-03-17 10:00")),
    ("el-viernes", "reunión el viernes a las 14:00 sobre la retro",
     Ok("2025-03-14 14:00", 30, "la retro")),
    ("3-de-la-tarde", "reunión a las 3 de la tarde", Ok("2025-03-10 15:00")),
    ("a-la-1", "reunión a la 1 de la tarde", Ok("2025-03-10 13:00")),
    ("a-las-15-h", "reunión a las 15 h", Ok("2025-03-10 15:00")),
    ("a-las-17", "reunión a las 17", Ok("2025-03-10 17:00")),
    ("3-pm", "reunión a las 3 p. m.", Ok("2025-03-10 15:00")),
    ("mediodia", "reunión a mediodía", Ok("2025-03-10 12:00")),
    # dates
    ("9-de-diciembre", "reunión 9 de diciembre a las 10:00 sobre la hoja de ruta",
     Ok("2025-12-09 10:00", 30, "la hoja de ruta", False)),
    ("con-ano", "reunión el 9 de diciembre de 2025 a las 10:00", Ok("2025-12-09 10:00")),
    ("martes-9", "reunión el martes 9 de diciembre a las 10:00", Ok("2025-12-09 10:00")),
    ("el-dia-19", "reunión el día 19 a las 10:00", Ok("2025-03-19 10:00")),
    ("el-19", "reunión el 19 a las 10:00", Ok("2025-03-19 10:00")),
    ("dic", "reunión 9 dic. a las 10:00", Ok("2025-12-09 10:00")),
    ("12/9-es", "reunión 12/9 a las 10:00", Ok("2025-09-12 10:00", reading_has="12 de septiembre")),
    ("13/9", "reunión 13/9 a las 10:00", Ok("2025-09-13 10:00")),
    # parts of the day and ranges
    ("manana-por-la-manana", "reunión mañana a las 9 de la mañana", Ok("2025-03-11 09:00")),
    ("por-la-tarde", "reunión mañana por la tarde a las 4", Ok("2025-03-11 16:00")),
    ("esta-tarde", "reunión esta tarde a las 4", Ok("2025-03-10 16:00")),
    ("de-a", "reunión mañana de 9:00 a 10:30", Ok("2025-03-11 09:00", 90)),
    ("de-a-las", "reunión de 16 a las 17:00", Ok("2025-03-10 16:00", 60)),
    ("de-9-a-10-manana", "reunión mañana de 9 a 10 de la mañana", Ok("2025-03-11 09:00", 60)),
    # subjects and invitees
    ("con-dos", "reunión a las 15:00 con <at>Ana</at> y <at>Ben Ode</at>",
     Ok("2025-03-10 15:00", attendees=("aad-ana", "aad-ben"), scope=M)),
    ("todo-el-mundo", "reunión con todo el mundo", Ok(NOW_B, scope=E)),
    ("el-equipo", "reunión con el equipo a las 15:00", Ok("2025-03-10 15:00", scope=E)),
    ("acerca-de", "reunión acerca de la nómina", Ok(NOW_B, 30, "la nómina")),
    ("asunto", "reunión asunto: contratación", Ok(NOW_B, 30, "contratación")),
]

SPANISH_BAD = [
    ("typo-manna", "reunión mañna a las 9:00",
     Bad("“mañna”", suggestion="reunión mañana a las 9:00")),
    ("typo-mierocles", "reunión mierocles a las 10:00",
     Bad("“mierocles”", suggestion="reunión miércoles a las 10:00")),
    ("typo-dicembre", "reunión 9 de dicembre a las 10:00",
     Bad("“dicembre”", suggestion="reunión 9 de diciembre a las 10:00")),
    ("typo-minuots", "reunión 45 minuots sobre X",
     Bad("“minuots”", suggestion="reunión 45 minutos sobre X")),
    ("25:00", "reunión a las 25:00", Bad("“25:00” is not a time of day", "reunión a las 15:00")),
    ("10:75", "reunión a las 10:75", Bad("“10:75” is not a time of day")),
    ("a-las-3", "reunión a las 3", Bad("say 3:00 or 15:00", suggestion="reunión a las 15:00")),
    ("proxima-semana", "reunión la próxima semana",
     Bad("“la próxima semana” isn't a day: say which day, like el próximo lunes",
         "reunión el próximo lunes a las 9:00")),
    ("semana-que-viene", "reunión la semana que viene a las 10:00",
     Bad("la semana que viene", "reunión el próximo lunes a las 10:00")),
    ("ayer", "reunión ayer a las 10:00", Bad("“ayer” is in the past", "reunión mañana a las 10:00")),
    ("lunes-pasado", "reunión el lunes pasado a las 10:00",
     Bad("“el lunes pasado” is in the past", "reunión el próximo lunes a las 10:00")),
    ("30-de-febrero", "reunión el 30 de febrero a las 10:00",
     Bad("isn't a date: febrero has 29 days at most")),
    ("sin-hora", "reunión mañana sobre X",
     Bad("“mañana” needs a time of day", "reunión mañana a las 9:00 sobre X")),
    ("ya-paso", "reunión a las 9:00", Bad("9:00 has already passed today",
                                          "reunión mañana a las 9:00")),
    ("con-nombre", "reunión con Ana sobre X", Bad("“con Ana” names nobody", "reunión sobre X")),
    ("sin-unidad", "reunión 30 sobre X", Bad("“30” needs a unit")),
    ("90-dias", "reunión en 90 días", Bad("“en …” reaches 60 days", "reunión mañana a las 9:00")),
    ("25-horas", "reunión durante 25 horas", Bad("is too long", "reunión durante 24h")),
    ("de-9-a-10", "reunión de 9 a 10", Bad("“10” could be morning or afternoon",
                                           "reunión mañana de 9 a 10:00")),
    ("15-de-la-manana", "reunión a las 15:00 de la mañana", Bad("“de la mañana”")),
    ("dos-horas", "reunión a las 15:00 a las 16:00", Bad("two times")),
    ("sobre-nada", "reunión sobre", Bad("“sobre” needs a subject")),
]

# --- across languages: the verb decides; another language's words are questioned ------------
ACROSS = [
    ("meet-morgen", "meet morgen um 15 Uhr", DE,
     Bad("“morgen”", suggestion="treffen morgen um 15 Uhr")),
    ("meet-demain", "meet demain 15h", FR, Bad("“demain”", suggestion="réunion demain 15h")),
    ("meet-manana", "meet mañana a las 15:00", ES,
     Bad("“mañana”", suggestion="reunión mañana a las 15:00")),
    ("treffen-tomorrow", "treffen tomorrow at 3pm", DE,
     Bad("“tomorrow”", suggestion="meet tomorrow at 3pm")),
    ("meeting-de-locale", "Meeting um 15 Uhr", DE, Ok("2025-03-10 15:00")),
    ("meeting-en-locale", "Meeting um 15 Uhr", "en-US", Ok("2025-03-10 15:00")),
    ("meeting-english-words", "Meeting tomorrow at 3pm", DE, Ok("2025-03-11 15:00")),
    ("reunion-spanish", "reunion 9 de diciembre a las 10:15", "en-US", Ok("2025-12-09 10:15")),
    ("reunion-french", "reunion 9 décembre à 10h15", "es-ES", Ok("2025-12-09 10:15")),
    ("meet-diciembre", "meet 9 de diciembre a las 10:00", "en-US",
     Bad("“diciembre”", suggestion="reunión 9 de diciembre a las 10:00")),
    ("hora-then-date", "reunión durante 1 hora 9 de diciembre a las 10:00", ES,
     Ok("2025-12-09 10:00", 60)),
    ("meeting-starten-is-german", "meeting starten um 15 Uhr", "en-US", Ok("2025-03-10 15:00")),
    ("english-anywhere", "meet tomorrow 9:30 for 1h about planning", ES,
     Ok("2025-03-11 09:30", 60, "planning")),
    ("mardi-gras-in-english", "meet about Mardi Gras", "en-US", Ok(NOW_B, 30, "Mardi Gras")),
    ("english-range", "meet tomorrow from 9 to 10:30am", "en-US", Ok("2025-03-11 09:00", 90)),
]

TABLE = ([(f"de-{n}", t, DE, w) for n, t, w in GERMAN + GERMAN_BAD]
         + [(f"fr-{n}", t, FR, w) for n, t, w in FRENCH + FRENCH_BAD]
         + [(f"es-{n}", t, ES, w) for n, t, w in SPANISH + SPANISH_BAD]
         + [(f"across-{n}", t, loc, w) for n, t, loc, w in ACROSS])


@pytest.mark.parametrize(("text", "locale", "want"), [c[1:] for c in TABLE],
                         ids=[c[0] for c in TABLE])
def test_commands_in_each_language(text: str, locale: str, want: Ok | Bad) -> None:
    if isinstance(want, Bad):
        _check_bad(text, locale, want)
    else:
        _check_ok(_parse(text, locale), want)


def test_each_language_has_forty_cases_of_its_own() -> None:
    for cases in (GERMAN + GERMAN_BAD, FRENCH + FRENCH_BAD, SPANISH + SPANISH_BAD):
        assert len(cases) >= 40
        assert sum(isinstance(w, Bad) for _, _, w in cases) >= 20


# --- reasons: msgids, params in the reader's language -------------------------------------------
@pytest.mark.parametrize(("locale", "date_", "weekday"), [
    ("en-US", "Tuesday 9 December 2025", "Tuesday"), (None, "Tuesday 9 December 2025", "Tuesday"),
    ("de-AT", "Dienstag, 9. Dezember 2025", "Dienstag"), ("fr-CA", "mardi 9 décembre 2025", "mardi"),
    ("es-MX", "martes, 9 de diciembre de 2025", "martes"), ("ja-JP", "Tuesday 9 December 2025",
                                                            "Tuesday"),
])
def test_names_in_a_reason_are_in_the_readers_language(locale: str | None, date_: str,
                                                        weekday: str) -> None:
    """The reason's words are translated by the catalogue; its values (a day, a month) come
    in the user's Teams language already, whatever language the command was typed in."""
    for text in ("meet Mon 9 Dec at 10am", "treffen Montag, 9. Dezember um 10 Uhr"):
        with pytest.raises(ParseError) as caught:
            _parse(text, locale)
        err = caught.value
        assert err.template == "{date} is a {weekday}, not “{text}”"
        assert err.params["date"] == date_ and err.params["weekday"] == weekday
        _check_reason(err)


def test_an_english_reason_is_unchanged_for_an_english_user() -> None:
    with pytest.raises(ParseError) as caught:
        _parse("meet Feb 30 at 10am", "en-GB")
    assert caught.value.reason == "“Feb 30” isn't a date: February has 29 days at most"
    assert caught.value.params == {"text": "Feb 30", "month": "February", "days": "29"}


def test_the_date_reading_on_the_card_has_a_msgid() -> None:
    req = _parse("reunión 12/9 a las 10:00", ES)
    assert isinstance(req, MeetingRequest)
    assert req.date_reading == "“12/9” read as 12 de septiembre (day/month, as es-ES writes dates)"
    translated = CATALOGUES["es"][req.date_reading_template].format(**req.date_reading_params)
    assert translated == "«12/9» leído como 12 de septiembre (día/mes, como se escribe en es-ES)"


def _msgids_in(path: Path) -> set[str]:
    """What `pybabel extract -k N_` finds: the string argument of every N_() call."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "N_":
            [arg] = node.args
            assert isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            found.add(arg.value)
    return found


def test_every_msgid_of_the_grammar_is_in_the_template() -> None:
    assert _msgids_in(ROOT / "bot" / "grammar.py") == set(POT)


@pytest.mark.parametrize("language", sorted(CATALOGUES))
def test_each_catalogue_translates_every_msgid_with_the_same_placeholders(language: str) -> None:
    catalogue = CATALOGUES[language]
    assert set(catalogue) == set(POT)
    for msgid, msgstr in catalogue.items():
        assert msgstr.strip(), msgid
        assert msgstr != msgid, msgid
        assert _placeholders(msgstr) == _placeholders(msgid), msgid
        if "“" in msgid:  # each language's own quotation marks around the user's words
            assert msgstr.count({"de": "„", "fr": "«", "es": "«"}[language]) \
                == msgid.count("“"), msgid


def test_babel_extracts_the_same_msgids() -> None:
    extract = pytest.importorskip("babel.messages.extract")
    with open(ROOT / "bot" / "grammar.py", "rb") as source:
        found = {message for _, message, _, _ in extract.extract(
            "python", source, keywords={"N_": None})}
    assert found == set(POT)


# --- properties -------------------------------------------------------------------------------
# Commands built from parts whose meaning is known, in each language: whatever the order, the
# request is what the parts state, and no option slips into the subject or the other way round.
@dataclass(frozen=True)
class Parts:
    verbs: tuple[str, ...]
    dates: tuple[tuple[str, str], ...]
    times: tuple[tuple[str, str], ...]
    lengths: tuple[tuple[str, int], ...]
    invitees: tuple[tuple[str, tuple[str, ...], AttendeeScope], ...]
    intros: tuple[str, ...]
    words: tuple[str, ...]


PARTS = {
    "de": Parts(
        verbs=("treffen", "Besprechung", "neues Meeting", "Besprechung planen"),
        dates=(("9. Dezember", "2025-12-09"), ("am 19.", "2025-03-19"), ("9.12.", "2025-12-09"),
               ("2025-12-11", "2025-12-11"), ("morgen", "2025-03-11"), ("am Freitag", "2025-03-14"),
               ("Dienstag, 9. Dezember", "2025-12-09"), ("übermorgen", "2025-03-12"),
               ("", "2025-03-10")),
        times=(("um 10:15", "10:15"), ("um 11 Uhr", "11:00"), ("16:45 Uhr", "16:45"),
               ("um 15.30", "15:30"), ("23:59", "23:59"), ("um 8 Uhr abends", "20:00")),
        lengths=(("", 30), ("für 45 Minuten", 45), ("1 Std. 30 Min.", 90),
                 ("für eine Stunde", 60), ("eine Viertelstunde", 15), ("für 2 Std.", 120)),
        invitees=(("", (), NONE), ("mit <at>Ana</at>", ("aad-ana",), M), ("mit allen", (), E),
                  ("mit <at>Ana</at> und <at>Ben Ode</at>", ("aad-ana", "aad-ben"), M)),
        intros=("über", "zum Thema", "Betreff:", ":", '"', ""),
        words=("Budget", "Planung", "Einstellung", "Sync", "Q3", "Start", "Entwurf", "Vorfall",
               "42", "Retro", "Klausur", "v2", "Anas", "F&E")),
    "fr": Parts(
        verbs=("réunion", "nouvelle réunion", "planifier une réunion", "reunion"),
        dates=(("9 décembre", "2025-12-09"), ("le 19", "2025-03-19"), ("le 1er avril", "2025-04-01"),
               ("2025-12-11", "2025-12-11"), ("9.12.", "2025-12-09"), ("demain", "2025-03-11"),
               ("vendredi", "2025-03-14"), ("mardi 9 décembre", "2025-12-09"),
               ("après-demain", "2025-03-12"), ("", "2025-03-10")),
        times=(("à 10h15", "10:15"), ("à 11h", "11:00"), ("16h45", "16:45"), ("à 15:30", "15:30"),
               ("23h59", "23:59"), ("à 8h du soir", "20:00"), ("à midi", "12:00")),
        lengths=(("", 30), ("pendant 45 minutes", 45), ("pendant 1h30", 90),
                 ("pendant une heure", 60), ("un quart d'heure", 15), ("de 2 heures", 120)),
        invitees=(("", (), NONE), ("avec <at>Ana</at>", ("aad-ana",), M),
                  ("avec tout le monde", (), E),
                  ("avec <at>Ana</at> et <at>Ben Ode</at>", ("aad-ana", "aad-ben"), M)),
        intros=("sur", "à propos de", "concernant", ":", '"', ""),
        words=("budget", "planification", "recrutement", "synchro", "T3", "lancement",
               "conception", "incident", "42", "rétro", "séminaire", "v2", "R&D", "paie")),
    "es": Parts(
        verbs=("reunión", "nueva reunión", "crear una reunión", "reunion"),
        dates=(("9 de diciembre", "2025-12-09"), ("el 19", "2025-03-19"),
               ("el día 19", "2025-03-19"), ("2025-12-11", "2025-12-11"), ("9.12.", "2025-12-09"),
               ("mañana", "2025-03-11"), ("el viernes", "2025-03-14"),
               ("el martes 9 de diciembre", "2025-12-09"), ("pasado mañana", "2025-03-12"),
               ("", "2025-03-10")),
        times=(("a las 10:15", "10:15"), ("a las 11:00", "11:00"), ("16:45", "16:45"),
               ("a las 3 de la tarde", "15:00"), ("23:59", "23:59"), ("a mediodía", "12:00"),
               ("a las 11 de la mañana", "11:00")),
        lengths=(("", 30), ("durante 45 minutos", 45), ("durante una hora y media", 90),
                 ("durante 1 hora", 60), ("un cuarto de hora", 15), ("de 2 horas", 120)),
        invitees=(("", (), NONE), ("con <at>Ana</at>", ("aad-ana",), M), ("con todos", (), E),
                  ("con <at>Ana</at> y <at>Ben Ode</at>", ("aad-ana", "aad-ben"), M)),
        intros=("sobre", "acerca de", "asunto:", ":", '"', ""),
        words=("presupuesto", "planificación", "contratación", "sincro", "T3", "lanzamiento",
               "diseño", "incidente", "42", "retro", "jornada", "v2", "I+D", "nómina")),
}


@st.composite
def _command(draw: st.DrawFn) -> tuple[str, str, str, int, str, tuple[str, ...], AttendeeScope]:
    language = draw(st.sampled_from(sorted(PARTS)))
    p = PARTS[language]
    date_, time_ = draw(st.sampled_from(p.dates)), draw(st.sampled_from(p.times))
    length, invitees = draw(st.sampled_from(p.lengths)), draw(st.sampled_from(p.invitees))
    words = draw(st.lists(st.sampled_from(p.words), max_size=5))
    intro = draw(st.sampled_from(p.intros))
    options = [date_[0], time_[0], length[0], invitees[0]]
    options = [options[k] for k in draw(st.permutations(range(4)))]
    split = draw(st.integers(0, 4))
    if not intro:  # unintroduced, a number next to a date or time is part of it
        words = [w for w in words if not w.isdigit()]
    subject = " ".join(words)
    if subject and intro == '"':
        subject = f'"{subject}"'
    elif subject and intro:
        subject = f"{intro} {subject}"
    if not subject:
        split = 4
    verb = draw(st.sampled_from(p.verbs))
    text = " ".join(f"{verb} {' '.join(options[:split])} {subject} "
                    f"{' '.join(options[split:])}".split())
    return (text, language, f"{date_[1]} {time_[1]}", length[1], " ".join(words),
            invitees[1], invitees[2])


@settings(max_examples=600, deadline=None)
@given(command=_command(), locale=st.sampled_from(["own", "en-US", None]))
def test_any_accepted_command_means_what_its_words_state_in_each_language(
        command: tuple[str, str, str, int, str, tuple[str, ...], AttendeeScope],
        locale: str) -> None:
    text, language, start, minutes, subject, people, scope = command
    req = _parse(text, f"{language}-{language.upper()}" if locale == "own" else locale)
    assert isinstance(req, MeetingRequest), text
    assert _wall(req.start) == start, text
    assert _elapsed(req) == timedelta(minutes=minutes), text
    assert req.subject == (subject or DEFAULT_SUBJECT), text
    assert [p.aad_object_id for p in req.attendees] == list(people), text
    assert req.scope is scope, text


# Word soup after each language's verb, from its own time words, typos and plain words: either a
# refusal with a msgid, or a request whose subject holds nothing that reads as a time or date
# in that language, and which starts now unless a start was typed.
SOUP = {
    "treffen": ["jetzt", "um", "für", "in", "mit", "am", "nächsten", "morgen", "morgn", "Freitag",
                "Mitwoch", "Dezember", "Dezmber", "9.", "9", "35.", "12.12", "9.12.", "15 Uhr",
                "25 Uhr", "abends", "30 min", "1 Std.", "45", "Minutn", "Woche", "Budget",
                "Planung", "allen", "<at>Ana</at>", ",", "von", "bis"],
    "réunion": ["maintenant", "à", "pendant", "dans", "avec", "le", "prochain", "demain", "demian",
                "vendredi", "mecredi", "décembre", "décmbre", "9", "1er", "12/9", "9.12.", "15h",
                "25h", "2h", "du soir", "30 min", "1 heure", "45", "minuts", "la semaine prochaine",
                "budget", "paie", "tout le monde", "<at>Ana</at>", ",", "de"],
    "reunión": ["ahora", "a las", "durante", "en", "con", "el", "próximo", "mañana", "mañna",
                "viernes", "mierocles", "diciembre", "dicembre", "de", "9", "12/9", "9.12.",
                "15:00", "25:00", "de la tarde", "30 min", "1 hora", "45", "minuots",
                "la próxima semana", "presupuesto", "nómina", "todos", "<at>Ana</at>", ","],
}
_TIMEISH = {  # day words alone; month names next to a day number; clock times; numeric dates
    "treffen": re.compile(r"\b(?:heute|morgen|übermorgen|montag|mittwoch|freitag)\b"
                          r"|\b\d{1,2}\.?\s+dezember|\b\d{1,2}(?::\d{2})?\s*uhr\b"
                          r"|\b\d{1,2}:\d{2}\b|\b\d{1,2}[/.]\d{1,2}\b", re.I),
    "réunion": re.compile(r"\b(?:demain|vendredi|mercredi)\b|\b\d{1,2}(?:er)?\s+décembre"
                          r"|\b\d{1,2}h\d*\b|\b\d{1,2}:\d{2}\b|\b\d{1,2}[/.]\d{1,2}\b", re.I),
    "reunión": re.compile(r"\bmañana\b|\bviernes\b|\bmiércoles\b|\b\d{1,2}\s+de\s+diciembre"
                          r"|\b\d{1,2}:\d{2}\b|\b\d{1,2}[/.]\d{1,2}\b", re.I),
}
_STARTS = {"um", "am", "morgen", "Freitag", "9.", "12.12", "9.12.", "15 Uhr", "in", "à", "dans",
           "le", "demain", "vendredi", "1er", "12/9", "15h", "2h", "a las", "en", "el", "mañana",
           "viernes", "15:00", "von", "de", "nächsten", "Dezember", "décembre", "diciembre"}


@settings(max_examples=600, deadline=None)
@given(verb=st.sampled_from(sorted(SOUP)), data=st.data(),
       locale=st.sampled_from([None, "en-US", "de-DE", "fr-FR", "es-ES"]))
def test_an_unintroduced_subject_never_holds_a_time_or_date_in_any_language(
        verb: str, data: st.DataObject, locale: str | None) -> None:
    words = data.draw(st.lists(st.sampled_from(SOUP[verb]), min_size=1, max_size=7))
    try:
        req = _parse(f"{verb} {' '.join(words)}", locale)
    except ParseError as err:
        _check_reason(err)
        assert isinstance(_parse(err.example.replace("@Ana", "<at>Ana</at>"), locale),
                          MeetingRequest), err.example
        return
    assert isinstance(req, MeetingRequest)
    assert not _TIMEISH[verb].search(req.subject), (words, req.subject)
    if not _STARTS & set(words):
        assert req.starts_now, words


@settings(max_examples=400, deadline=None)
@given(verb=st.sampled_from(["meet", "treffen", "Meeting", "réunion", "reunion", "reunión"]),
       words=st.lists(st.one_of(st.sampled_from([w for soup in SOUP.values() for w in soup]),
                                st.text(max_size=6)), max_size=8),
       locale=st.sampled_from([None, "en-US", "de-CH", "fr-BE", "es-419", "zh-CN"]))
def test_any_text_after_any_verb_is_a_request_or_a_refusal_with_a_msgid(
        verb: str, words: list[str], locale: str | None) -> None:
    try:
        req = _parse(f"{verb} {' '.join(words)}", locale)
    except ParseError as err:
        _check_reason(err)
        return
    if isinstance(req, MeetingRequest):
        assert timedelta(minutes=1) <= _elapsed(req) <= timedelta(hours=24)
        assert NOW - timedelta(minutes=5) <= req.start <= NOW + timedelta(days=366)
        assert 0 < len(req.subject) <= 250
