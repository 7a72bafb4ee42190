"""The user's language: MeetBot's words from gettext catalogues, dates and times from CLDR.

Teams sends every activity with the user's locale (`activity.locale`, "an IETF BCP-47
language tag" in the Bot Framework Activity schema: "de-DE", "fr-CA"). `translator(locale)` is
what that person reads: the words of one of LANGUAGES (a regional variant speaks its language;
anything else gets English) and the date, time and number formats of the full locale from CLDR
through Babel (en-US 12-hour, en-GB 24-hour, "Di., 1. Dez."). Without a locale, MeetBot's own
English format ("Tue 1 Dec, 09:30").

The words are gettext .po sources under locales/{language}/LC_MESSAGES/{domain}.po, read once
at import with Babel into dicts, so a sentence is a dict hit: no .mo files, no build step.
Domain "meetbot" is everything MeetBot says (template locales/meetbot.pot, extracted from the
code with babel.cfg); domain "grammar" holds the command grammar's refusals. A msgid without a
translation (or a fuzzy one) reads in English, the msgid itself. Code marks a msgid with N_()
where it is defined and translates it where it is shown, with `_ = tr.gettext`.

Plain: nothing of botbuilder and nothing else of bot/, so the card builders may import it.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from gettext import c2py
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_interval, format_time
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALES = Path(__file__).resolve().parents[1] / "locales"
SOURCE_LANGUAGE = "en"  # the language of the msgids
LANGUAGES = (SOURCE_LANGUAGE, "de", "fr", "es")
DOMAIN = "meetbot"
# A BCP 47 tag as Teams sends it ("en-US", "zh-Hant-TW"); anything else is not a locale.
_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,4}$")
_QUOTED = re.compile(r"'[^']*'")  # literal text in a CLDR pattern ("HH 'h' mm")


def N_(msgid: str) -> str:
    """Marks a msgid for extraction where it is defined; it is translated where it is shown."""
    return msgid


def language_for(locale: str | None) -> str:
    """"de-DE" -> "de", "fr-CA" -> "fr", "es-MX" -> "es"; anything else, or None, -> "en"."""
    if not locale:
        return SOURCE_LANGUAGE
    language = locale.replace("_", "-").partition("-")[0].lower()
    return language if language in LANGUAGES else SOURCE_LANGUAGE


# --- catalogues ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Domain:
    messages: Mapping[str, str]  # msgid -> translation
    plurals: Mapping[str, tuple[str, ...]]  # singular msgid -> the language's plural forms
    plural: Callable[[int], int]  # n -> index into those forms (the .po's Plural-Forms)


def read_catalogues(root: Path, language: str) -> dict[str, _Domain]:
    """Every domain's .po of one language, as lookups. Empty and fuzzy translations are left
    out, so they read in English."""
    domains = {}
    for path in sorted((root / language / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as source:
            catalog = read_po(source, locale=language, domain=path.stem)
        messages: dict[str, str] = {}
        plurals: dict[str, tuple[str, ...]] = {}
        for message in catalog:
            msgid, text = message.id, message.string
            if not msgid or message.fuzzy:
                continue
            if isinstance(msgid, (tuple, list)) and isinstance(text, (tuple, list)):
                if all(text):
                    plurals[msgid[0]] = tuple(text)
            elif isinstance(msgid, str) and isinstance(text, str) and text:
                messages[msgid] = text
        domains[path.stem] = _Domain(messages, plurals, c2py(catalog.plural_expr))
    return domains


def _load() -> dict[str, dict[str, _Domain]]:
    catalogues = {language: read_catalogues(LOCALES, language)
                  for language in LANGUAGES if language != SOURCE_LANGUAGE}
    # A deployment without locales/ (a packaging slip) fails at start-up, not by speaking
    # English to everyone.
    missing = [language for language, domains in catalogues.items() if DOMAIN not in domains]
    if missing:
        raise FileNotFoundError(f"no {DOMAIN}.po for {', '.join(missing)} under {LOCALES}")
    return catalogues


_CATALOGUES = _load()


# --- dates, times and numbers ----------------------------------------------------------------
@dataclass(frozen=True, slots=True, eq=False)
class _Formats:
    """One locale's CLDR patterns, looked up once (one object per locale: compared by identity)."""

    locale: Locale
    day: str  # weekday, day and month: "EEE d MMM", "E, d. MMM"
    day_year: str  # the same with the year
    clock: str  # a time of day: "HH:mm", "h:mm a"
    interval: str | None  # the skeleton of a time range ("Hm", "hm"); None: start–end


# MeetBot's own English, used when Teams sends no locale (and the format before CLDR):
# "Tue 1 Dec", "Fri 2 Jan 2026", 24-hour "09:30–10:30".
_OWN = _Formats(Locale.parse(SOURCE_LANGUAGE), "EEE d MMM", "EEE d MMM y", "HH:mm", None)


@functools.lru_cache(maxsize=64)
def _formats(locale: Locale | None) -> _Formats:
    if locale is None:
        return _OWN
    clock = locale.time_formats["short"].pattern
    # 12- or 24-hour: the hour field of the locale's own short time ("h:mm a", "HH:mm").
    twelve = any(ch in "hK" for ch in _QUOTED.sub("", clock))
    return _Formats(locale, locale.datetime_skeletons["MMMEd"].pattern,
                    locale.datetime_skeletons["yMMMEd"].pattern, clock,
                    "hm" if twelve else "Hm")


def _format_locale(tag: str | None, language: str) -> Locale | None:
    """The CLDR locale for formats: the activity's own when Babel knows it and it speaks the
    language of the words ("fr-CA" keeps Canadian formats; "pt-BR" reads English, so no
    Portuguese month names in English sentences), else the language's own; None without one."""
    if tag is None:
        return None
    try:
        parsed: Locale | None = Locale.parse(tag)
    except (UnknownLocaleError, ValueError):
        parsed = None
    if parsed is not None and parsed.language == language:
        return parsed
    return None if language == SOURCE_LANGUAGE else Locale.parse(language)


# --- the translator ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, eq=False)
class Translator:
    """What one person reads: `language`'s words and `formats`' dates, times and numbers."""

    language: str
    domains: Mapping[str, _Domain]
    formats: _Formats

    def gettext(self, msgid: str, domain: str = DOMAIN) -> str:
        """The translation of `msgid` in `domain`, or `msgid` (English) when there is none."""
        found = self.domains.get(domain)
        return found.messages.get(msgid, msgid) if found is not None else msgid

    def ngettext(self, singular: str, plural: str, n: int, domain: str = DOMAIN) -> str:
        """The form of a sentence about `n` things; English's when there is no translation."""
        found = self.domains.get(domain)
        forms = found.plurals.get(singular) if found is not None else None
        if found is not None and forms:
            index = found.plural(n)
            if 0 <= index < len(forms):
                return forms[index]
        return singular if n == 1 else plural

    def day(self, value: date, *, year: bool = False) -> str:
        """Weekday, day and month the local way: "Tue 1 Dec", "Di., 1. Dez.", "mar, 1 dic"."""
        return _day(self.formats, value, year)

    def time(self, moment: datetime) -> str:
        """A time of day in the locale's clock: "09:30", "9:30 AM"."""
        return _clock(self.formats, _minute(moment))

    def time_range(self, start: datetime, end: datetime) -> str:
        """Two times of one day: "09:30–10:30", "9:30 – 10:30 AM", "09:30–10:30 Uhr"."""
        return _clock_range(self.formats, _minute(start), _minute(end))

    def number(self, n: int) -> str:
        """A count with the locale's grouping: "1,000", "1.000"."""
        return format_decimal(n, locale=self.formats.locale)


def locale_tag(value: object) -> str | None:
    """The client's locale if it is one (a short BCP 47 tag), else None: what MeetBot keeps."""
    return value if isinstance(value, str) and len(value) <= 35 and _TAG.match(value) else None


def translator(locale: object) -> Translator:
    """The translator for an activity's locale, made once per locale (a dict hit per turn).
    The locale is what the client sent: anything that is not a BCP 47 tag reads as no
    locale, in English."""
    tag = locale_tag(locale)
    return _translator(tag.replace("-", "_") if tag else None)


# Formatting through Babel costs tens of microseconds a call; a card shows few distinct days and
# times, so each is formatted once per locale. The patterns show hours and minutes only.
def _minute(moment: datetime) -> time:
    return time(moment.hour, moment.minute)


@functools.lru_cache(maxsize=1024)
def _day(formats: _Formats, value: date, year: bool) -> str:
    return format_date(value, formats.day_year if year else formats.day, locale=formats.locale)


@functools.lru_cache(maxsize=4096)
def _clock(formats: _Formats, at: time) -> str:
    return format_time(at, formats.clock, locale=formats.locale)


@functools.lru_cache(maxsize=4096)
def _clock_range(formats: _Formats, start: time, end: time) -> str:
    if formats.interval is None:
        return f"{_clock(formats, start)}–{_clock(formats, end)}"
    return format_interval(start, end, formats.interval, locale=formats.locale)


@functools.lru_cache(maxsize=256)
def _translator(tag: str | None) -> Translator:
    language = language_for(tag)
    return Translator(language, _CATALOGUES.get(language, {}),
                      _formats(_format_locale(tag, language)))


ENGLISH = translator(None)
