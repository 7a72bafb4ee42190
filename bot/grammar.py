"""The command grammar: what a user typed (plus their time zone, locale and "now") in, a `Command`
out, in English, German, French and Spanish.

Pure: no botbuilder, no I/O. `parse()` raises `ParseError` for a `meet` command it cannot
honour; text that is no command at all becomes `HelpRequest(reason=...)`.

    command  := ["/"] verb option* [subject option*]
    verb     := "meet" | "meeting" | "new meeting"
              | ("start" | "schedule" | "set up") ["a"] ["new"] "meeting"
              | ["neue(s)"] ("treffen" | "besprechung" | "meeting") ["starten" | "planen" | …]
              | [("créer" | "planifier" | …) "une"] ["nouvelle"] "réunion"
              | [("crear" | "programar" | …) ["una"]] ["nueva"] "reunión" | "reunir"
    option   := now | [at] time | day [daypart] | date | in duration | [for] duration
              | from time to time | daypart | with-clause | ","
    day      := [next | this | on] (today | tomorrow | weekday) [next-after]
    date     := [on] ( month daynum [","] [year] | daynum [of] month [[of] year]
                     | [the] ordinal | yyyy-mm-dd | yyyy/mm/dd | a/b[/year] | d.m.[year] )
    subject  := intro text | quoted | text
    with-clause := with (@mention | everyone | filler)+

Each language is one frozen `_Lang` table of its words ("tomorrow" / "morgen" / "demain" /
"mañana", "at" / "um" / "à" / "a las", …) that the one `_Reader` consults; numbers, clock
times ("15:00", "3pm"), numeric dates and "30m" read the same in all four. A command's language
is that of its verb, so anyone may type any of the four whatever their Teams language; the
locale only decides numeric date order ("12/9") and which language a verb both share
("meeting") belongs to. Words are compared folded: case, accents and umlauts do not matter
("manana" = "mañana", "Maerz" = "März"); multiword words ("tout le monde", "a las",
"la semaine prochaine") are single tokens.

Options come in any order before the subject, and again after it: the subject is the words
between the first word that is not an option and the longest run of options that ends the
message ("meet about budget review for 45 minutes with @Ana" = subject "budget review").
`at`, `for` and `in` (and their translations) are options only when a number follows them;
otherwise they begin or stay in the subject ("meet for lunch", "meet now about time for
change"). A weekday may accompany a date ("Tue 9 Dec"); the two must agree. Numeric dates a/b
follow the user's locale (month/day for en-US and the other month-first locales in CLDR, else
day/month); d.m. is always day.month. A date without a year is the nearest such day; a past
one is refused, not moved to next year. A part of the day ("abends", "du soir", "de la
tarde") makes an hour afternoon or evening: "um 8 Uhr abends" is 20:00.

Never "now" by accident: a word in the subject that looks like a time or date but was not
read as one (a valid one in the middle of an unintroduced subject, "25pm", "the 35th", a typo
of a day or month name such as "tomorow", "demian" or "Dezmber", a day or time word of
another of the four languages) refuses the command, with a corrected command to run when one
is close. After "about"/"re"/":" (and their translations) such words are kept when more
subject text follows them ("meet about the Dec 9 launch"); a subject in quotes is always kept
whole. A bare hour ("at 3", "um 9") could be morning or afternoon and is asked about; so is a
French "2h" with nothing around it, which could be a time or a length.

Reasons are English msgids (`N_`, gettext domain "grammar") with `{name}` placeholders:
`ParseError.template` and `.params`. Names of days and months in `params` are in the user's
Teams language (de, fr, es, else English); examples and suggestions are commands in the
language the user typed.

Times of day are read with dateutil and placed in the user's zone as wall-clock times; spans of
time ("in 10 min", the duration) are elapsed time, added in UTC so a DST switch cannot stretch
a meeting.
"""
from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import NamedTuple, NoReturn, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as _dateutil_parser
from dateutil.relativedelta import FR, MO, SA, SU, TH, TU, WE, relativedelta
from dateutil.relativedelta import weekday as _Weekday

from bot.errors import EXAMPLE, ParseError
from bot.models import (
    DEFAULT_SUBJECT,
    MAX_SUBJECT,
    AttendeeScope,
    Command,
    HelpRequest,
    MeetingRequest,
    Person,
    SignOutRequest,
    UserTime,
)

DEFAULT_DURATION = timedelta(minutes=30)
MIN_DURATION = timedelta(minutes=1)
MAX_DURATION = timedelta(hours=24)
# A start this far in the past is still "now-ish" (slow typing, clock skew); beyond it, refused.
PAST_GRACE = timedelta(minutes=5)
# "in 90 days" is more likely a slip for "90 min" than a plan: relative starts stop at 60 days.
MAX_OFFSET = timedelta(days=60)
# A calendar date is deliberate and the card shows it, so it may reach further: a year. (The
# join link lasts: Teams expires a scheduled meeting's link 60 days after the meeting ends.)
DATE_HORIZON = relativedelta(years=1)
_MAX_SHOWN = 60  # longest piece of the user's text quoted back in a reason
# The longest command worth reading, mentions aside: a subject (MAX_SUBJECT) with its options
# fits many times over, and a mistyped number of a few thousand digits still gets its own
# answer. Reading costs up to ~5 microseconds a character, so a chat message of the largest size
# Teams allows (about 28 KB, "Limits and specifications for Microsoft Teams", Messaging) would
# hold the event loop for ~0.2 s, and a 256 KB request for ~1.5 s: longer commands are refused
# unread. Each mention may bring a separator (", and ").
MAX_COMMAND = 8_000
_PER_MENTION = 6


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name for "mark, don't translate"
    """Marks an English msgid of the gettext domain "grammar" for extraction (`pybabel extract
    -k N_`). The text is returned as it is: ParseError carries it as `template`, and whoever
    shows the error translates it for the reader."""
    return message


# Shared with the new-meeting form (bot/card_input.py), whose subject has the same limit.
SUBJECT_TOO_LONG = N_("The subject is {length} characters long; please keep it under {limit}")


@dataclass(frozen=True, slots=True)
class Mention:
    """One Teams mention entity, as the router extracts it from `activity.entities`."""

    text: str  # exactly as in activity.text, e.g. "<at>Ana Lopez</at>"; "" for some names with &
    person: Person
    is_bot: bool  # mentions the bot itself (mentioned.id == recipient.id)


@lru_cache(maxsize=512)
def user_time_from(timezone_name: str | None) -> UserTime:
    """IANA name from Teams (activity.localTimezone / clientInfo.timezone) -> UserTime."""
    if not timezone_name:
        return UserTime()
    try:
        return UserTime(tz=ZoneInfo(timezone_name), name=timezone_name, known=True)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: malformed keys such as "../x"
        return UserTime()


# --- locales: which order a numeric date a/b is in ---------------------------------------------
# From CLDR 49 (as shipped in Babel 2.19), the `availableFormats` pattern for the skeleton "Md"
# (a numeric month and day without a year), https://www.unicode.org/cldr/charts/latest/by_type/
# date_&_time.gregorian.html: these put the month first; every other locale Teams offers puts the
# day first (en-GB, en-CA, en-IN, de, fr, es, …). Only a/b needs this: d.m. is day-first in every
# locale that writes dates with dots, and yyyy-mm-dd is unambiguous.
_MONTH_FIRST_LANGUAGES = frozenset({"ja", "ko", "zh", "hu", "lt", "eu", "fa", "mn", "fil"})
_DAY_FIRST_REGIONS = {"zh": frozenset({"hk", "mo"})}
_MONTH_FIRST_REGIONS = {
    "en": frozenset({"us", "ph", "za", "as", "gu", "mh", "mp", "pr", "um", "vi", "jp", "bi"}),
    "fr": frozenset({"ca"}),
    "es": frozenset({"pa", "pr"}),
}


@lru_cache(maxsize=128)
def month_first(locale: str | None) -> bool:
    """BCP-47 tag ("en-US", "de_DE", "zh-Hant-HK") -> does a/b mean month/day? Unknown: en-US."""
    if not locale:
        return True
    parts = locale.replace("_", "-").lower().split("-")
    language = parts[0]
    region = next((p for p in parts[1:] if len(p) == 2 or (len(p) == 3 and p.isdigit())), None)
    if language == "en" and region is None:
        return True  # CLDR's "en" is US English
    if region is not None and region in _MONTH_FIRST_REGIONS.get(language, ()):
        return True
    if region is not None and region in _DAY_FIRST_REGIONS.get(language, ()):
        return False
    return language in _MONTH_FIRST_LANGUAGES


@lru_cache(maxsize=128)
def _language_of(locale: str | None) -> str:
    """"de-AT" -> "de"; "" or None -> "". The language part of a BCP-47 tag."""
    return (locale or "").replace("_", "-").split("-")[0].lower()


# --- cleaning: Teams HTML -> plain text with mention placeholders ----------------------------
# Other people's mentions become "\ue000<i>\ue001" (private-use characters, removed from the
# input first), so the tokenizer sees them as one token and the subject can show the name.
_MENTION_OPEN, _MENTION_CLOSE = "\ue000", "\ue001"
_DROP_CHARS = {ord(c): None for c in "\ue000\ue001\u200b\u200c\u200d\u2060\ufeff"}
_AT_TAG = re.compile(r"<at\b[^>]*>(.*?)</at>", re.I | re.S)
_BLOCK_TAG = re.compile(r"</?(?:p|div|br|li|ul|ol|tr|td|h\d)\b[^>]*>", re.I)
_ANY_TAG = re.compile(r"</?[a-z][^>]*>", re.I)
# Trailing punctuation goes, except the dot that ends a date such as "9.12.".
_TRAILING_PUNCT = re.compile(r"(?<!\d\.\d)(?<!\d\.\d\d)[\s.,!?;]+$"
                             r"|(?<=\d\.\d\.)[\s.,!?;]+$|(?<=\d\.\d\d\.)[\s.,!?;]+$")
_PUNCT_ENDS = frozenset(".,!?;")
_PLACEHOLDER = re.compile(_MENTION_OPEN + r"(\d+)" + _MENTION_CLOSE)


class _Mentioned(NamedTuple):
    person: Person
    label: str  # the name as the tag showed it: one of several tags may show only "Lopez"


def _clean(text: str, mentions: Sequence[Mention]) -> tuple[str, list[_Mentioned]]:
    """Plain text of the message (bot mentions removed) and the people its placeholders name."""
    text = text.translate(_DROP_CHARS)
    people: list[_Mentioned] = []
    if "<" in text:
        if mentions:
            by_text = {m.text: m for m in mentions if m.text}
            by_name = {html.unescape(m.person.name).casefold(): m
                       for m in mentions if m.person.name}

            def replace(tag: re.Match[str]) -> str:
                inner = html.unescape(tag[1]).strip()
                mention = by_text.get(tag[0]) or by_name.get(inner.casefold())
                if mention is None:
                    return tag[1]  # unescaped below with the rest of the text
                if mention.is_bot:
                    return " "
                people.append(_Mentioned(mention.person, inner))
                return f"{_MENTION_OPEN}{len(people) - 1}{_MENTION_CLOSE}"

            text = _AT_TAG.sub(replace, text)
        text = _ANY_TAG.sub("", _BLOCK_TAG.sub(" ", text))
    if "&" in text:
        text = html.unescape(text)
    text = " ".join(text.split())  # also folds the non-breaking spaces unescape produced
    if text[-1:] in _PUNCT_ENDS:
        text = _TRAILING_PUNCT.sub("", text)
    return text, people


def _display(text: str, people: Sequence[_Mentioned], mark: str = "") -> str:
    """Text with mention placeholders turned back into names (`mark` = "@" for examples)."""
    if _MENTION_OPEN not in text:
        return text
    return _PLACEHOLDER.sub(lambda m: mark + people[int(m[1])].label, text)


# --- folding: how words are compared ----------------------------------------------------------
# Umlauts as German writes them without the key ("Maerz", "ueber"), other accents dropped
# ("manana", "reunion", "fevrier"); the typographic apostrophe as the plain one.
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "’": "'", "œ": "oe",
                       **{c: "a" for c in "àáâ"}, **{c: "e" for c in "éèêë"},
                       **{c: "i" for c in "íîï"}, **{c: "o" for c in "óô"},
                       **{c: "u" for c in "úùû"}, "ñ": "n", "ç": "c"})
# The same, as regular expression classes: how a table's word (written with its accents) is
# found in what people type.
_LOOSE = {"ä": "(?:ä|ae)", "ö": "(?:ö|oe)", "ü": "(?:ü|ue)", "ß": "(?:ß|ss)", " ": r"\s+",
          "-": r"[-\s]", "'": "['’]",
          **{c: f"[{c}{plain}]" for plain, accented in (("a", "àáâ"), ("e", "éèêë"), ("i", "íîï"),
                                                       ("o", "óô"), ("u", "úùû"), ("n", "ñ"),
                                                       ("c", "ç"))
             for c in accented}}


def _fold(low: str) -> str:
    return low if low.isascii() else low.translate(_FOLD)


def _key(text: str) -> str:
    """A table word or a multiword token as it is looked up: folded, hyphens as spaces, one
    space between words ("Après-demain" -> "apres demain")."""
    return " ".join(_fold(text.lower()).replace("-", " ").split())


def _loose(word: str) -> str:
    return "".join(_LOOSE.get(c, re.escape(c)) for c in word.lower())


def _alternatives(words: Iterable[str]) -> str:
    """One regex alternation of `words` (longest first, so "a las" wins over "a")."""
    return "|".join(_loose(w) for w in sorted(set(words), key=len, reverse=True))


# --- tokens: what all four languages share, and the English patterns ---------------------------
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
                 "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "forty-five": 45,
                 "forty five": 45, "sixty": 60, "ninety": 90}
_WORD_NUM = "|".join(sorted((re.escape(w).replace(r"\ ", r"\s+") for w in _NUMBER_WORDS),
                            key=len, reverse=True))
_MINUTES = r"m(?:in(?:ute)?s?)?"
_DURATION = rf"""
    (?P<neg>-\s*)?
    (?: (?P<half_hour> half\s+(?:an?\s+)?hour )
      | (?P<three_quarters> three\s+quarters\s+of\s+an?\s+hour )
      | (?P<quarter> (?:a\s+)?quarter\s+(?:of\s+)?(?:an?\s+)?hour )
      | (?: (?P<n1>\d+(?:[.,]\d+)?)\s* | (?P<w1>{_WORD_NUM})\s+ )
        (?P<half1> and\s+a\s+half\s+ )?
        (?: (?P<u1>h)(?:(?:ou)?rs?)?                             # hours, maybe with minutes:
            (?: \s+and\s+a\s+(?P<half2>half)                    #   an hour and a half
              | (?P<n2_bare>\d{{1,2}})(?![\d.:])                  #   1h30
              | \s*(?:and\s+)?(?P<n2>\d+)\s*{_MINUTES} )?        #   1h 30m, 1 hour and 5 min
          | (?P<u1_other>{_MINUTES}|d(?:ays?)?|w(?:(?:ee)?ks?)?) )
    )"""
_TIME = r"\d{1,2}(?:[:.]\d{2})?\s*[ap]\.?m\.?|\d{1,2}:\d{2}|noon|midday|midnight"
# Anything shaped like a numeric date, valid or not ("12/9", "9.12.", "2026-12-11", "10/45"):
# read or refused, never left in a subject by accident.
_DATE = r"\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2}|\d{1,2}/\d{1,2}(?:/\d+)?" \
        r"|\d{1,2}\.\d{1,2}\.(?:\d+\.?)?"


def _duration_pattern(*, half: str, three_quarters: str, quarter: str, words: Iterable[str],
                      hours: str, minutes: str, others: str, and_: str, half_word: str) -> str:
    """A language's lengths of time, with the groups `_duration` reads (English's own pattern
    above has the same groups). Bare minutes touch the hours ("1h30"): "1 hora 9 de diciembre"
    is an hour and a date, not 69 minutes."""
    return rf"""
    (?P<neg>-\s*)?
    (?: (?P<half_hour> {half} )
      | (?P<three_quarters> {three_quarters} )
      | (?P<quarter> {quarter} )
      | (?: (?P<n1>\d+(?:[.,]\d+)?)\s* | (?P<w1>{_alternatives(words)})\s+ )
        (?P<half1>(?!))?                                # (English's "two and a half hours")
        (?: (?P<u1>{hours})
            (?: \s+{and_}\s+(?P<half2>{half_word})
              | \s*(?:{and_}\s+)?(?P<n2>\d+)\s*(?:{minutes})
              | (?P<n2_bare>\d{{1,2}})(?![\d.:]) )?
          | (?P<u1_other>{minutes}|{others}) )
    )"""


def _token_pattern(*, time_: str, duration: str, ordinal: str,
                   phrases: Iterable[str] = ()) -> re.Pattern[str]:
    """The tokenizer of one language: its clock times, lengths, ordinals and multiword words;
    mentions, numeric dates, numbers and punctuation as in every language."""
    phrase = f"| (?P<phrase>{_alternatives(phrases)})(?![\\w'’-])" if phrases else ""
    return re.compile(rf"""
    \s*(?:
      (?P<mention>{_MENTION_OPEN}\d+{_MENTION_CLOSE})
    | (?P<date>{_DATE})(?![\w/:-]|\.\d)
    | (?P<time>{time_})(?![\w:])
    | (?P<duration>{duration})(?![\w])
    {phrase}
    | (?P<ordinal>{ordinal})(?!\w)
    | (?P<number>-?\d+(?:[.,]\d+)?)(?![\w])
    | (?P<colon>:)
    | (?P<punct>[,;&+])
    | (?P<word>[^\s:,;&+{_MENTION_OPEN}]+(?::[^\s:,;&+{_MENTION_OPEN}]+)*)
    )""", re.I | re.X)


class _Tok(NamedTuple):
    kind: str  # a group name of the language's token pattern
    low: str  # lower-cased text
    key: str  # folded, for the word tables ("mañana" -> "manana")
    start: int
    end: int
    match: re.Match[str]


def _tokenize(text: str, pos: int, pattern: re.Pattern[str]) -> list[_Tok]:
    tokens = []
    while m := pattern.match(text, pos):  # every character belongs to some token kind
        kind = m.lastgroup or "word"  # (always a group: the pattern is all named groups)
        start, pos = m.start(kind), m.end()
        low = m[kind].lower()
        key = low if low.isascii() and kind != "phrase" else _key(low) if kind == "phrase" \
            else low.translate(_FOLD)
        tokens.append(_Tok(kind, low, key, start, pos, m))
    return tokens


# --- a language: its words, and how it writes the fixes it suggests --------------------------
_WEEKDAY_OBJECTS = (MO, TU, WE, TH, FR, SA, SU)
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February: in some year


@dataclass(frozen=True, slots=True, eq=False)
class _Lang:
    """One language's words, all keys folded (`_key`). Built once at import."""

    code: str
    verb: re.Pattern[str]
    verb_word: str  # the verb a suggestion in this language starts with
    token: re.Pattern[str]
    example: str  # the stock example command
    sample_subject: str
    now: frozenset[str]
    timing: Mapping[str, str]  # word -> "at" | "for" | "in" | "length" (a length must follow)
    range_from: frozenset[str]  # "from" 9 "to" 10
    range_to: frozenset[str]
    date_on: frozenset[str]  # may precede any date: "on", "am", "le", "el"
    date_the: frozenset[str]  # "the" 9th, el "día" 9
    date_of: frozenset[str]  # 9th "of" May, 9 "de" mayo "de" 2026
    date_words: frozenset[str]  # what a worded date can start with
    month_first: bool  # "Dec 9"
    bare_day: bool  # "le 9", "am 9.": a plain number after date_on is a day of the month
    months: Mapping[str, int]
    weekdays: Mapping[str, _Weekday]
    relative_days: Mapping[str, int]
    day_prefix: frozenset[str]  # before a day: on, this, next
    next_prefix: frozenset[str]
    next_after: frozenset[str]  # "lundi prochain"
    vague_prefix: frozenset[str]  # "next" week
    vague_words: frozenset[str]
    vague: frozenset[str]  # whole: "la semaine prochaine"
    past: frozenset[str]  # "yesterday"
    last_prefix: frozenset[str]  # "last" monday
    last_after: frozenset[str]  # "lundi dernier"
    dayparts: Mapping[str, str]  # "abends" -> "pm"
    day_dayparts: Mapping[str, str]  # a day word that also says which part: "ce soir" -> "pm"
    day_then_part: Mapping[str, str]  # after a day, a day word that is a part: "heute Morgen"
    with_: frozenset[str]
    everyone: frozenset[str]
    filler: frozenset[str]
    subject_intro: frozenset[str]
    intro_once: frozenset[str]  # an intro only as the subject's first word ("on")
    connectors: frozenset[str]
    number_words: Mapping[str, float]
    units: Mapping[str, timedelta]  # by the unit word's first letter
    named_times: Mapping[str, time]
    ampm: bool  # a bare hour 1-12 is morning or afternoon (else 24-hour: 12 is noon)
    h_clock: bool  # "9h30" is a time of day, and a bare "2h" is asked about (French)
    hours_as_clock: bool  # "à 15 heures", "a las 15 h": a number of hours after "at"
    dotted_numbers: bool  # "um 15.30" a time, "am 12.12" a date, else asked about
    time_words: frozenset[str]  # words only times have ("uhr"): another language's are flagged
    typo_days: Mapping[str, tuple[str, ...]]
    typo_months: Mapping[str, tuple[str, ...]]
    typo_units: Mapping[str, tuple[str, ...]]
    known: frozenset[str]  # real words near a day or month name ("mondays", "Montage")
    spelled: Mapping[str, str]  # a typo table's key -> how it is written ("maerz" -> "März")
    vocabulary: frozenset[str]  # every word above: which language a shared verb's command is in
    weekday_names: tuple[str, ...]  # Monday first
    month_names: tuple[str, ...]
    # Writing, in this language: a fix inside a suggested command, or a value in a reason.
    write_clock: Callable[[time, bool], str]  # (t, ampm) -> "3pm" / "15 Uhr" / "15h" / "15:00"
    write_at: Callable[[time, bool], str]  # "at 3pm" / "um 15 Uhr" / "à 15h" / "a las 15:00"
    write_date: Callable[[int, int, int | None], str]  # (day, month, year) to type
    write_next: Callable[[int, str], str]  # (weekday index, as typed) -> "next monday"
    long_date: Callable[[date, bool], str]  # (day, with year) -> "Tuesday 9 December 2025"
    day_month: Callable[[int, int], str]  # (day, month) -> "9 December", in a reason
    write_hm: Callable[[time], str]  # a time in a reason: "9:00" / "9h00"
    write_number: Callable[[int], str]  # a count in a reason: "8,000" / "8.000" / "8 000"
    tomorrow: str
    in_ten: str
    day_nine: str  # a time after a day word: "9am" / "um 9 Uhr"
    date_nine: str  # …after a date: "at 9am"
    for_word: str
    at_word: str
    length_max: str  # the longest length, to type: "24h"


def _keys(words: Iterable[str]) -> frozenset[str]:
    return frozenset(_key(w) for w in words)


_V = TypeVar("_V")


def _keyed(table: Mapping[str, _V]) -> dict[str, _V]:
    return {_key(w): v for w, v in table.items()}


def _by_letter(words: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Typo candidates by first letter: a typo keeps the first letter or swaps it with the
    second, so a word is compared with a handful of candidates, not all (subjects are checked on
    every command that has one)."""
    words = tuple(dict.fromkeys(words))
    return {letter: tuple(w for w in words if w[0] == letter) for letter in {w[0] for w in words}}


def _lang(code: str, *, verb: str, verb_word: str, time_: str, duration: str, ordinal: str,
          example: str, sample_subject: str, now: Iterable[str], timing: Mapping[str, str],
          range_from: Iterable[str], range_to: Iterable[str], date_on: Iterable[str],
          date_the: Iterable[str], date_of: Iterable[str], month_first: bool, bare_day: bool,
          months: Mapping[str, int], weekdays: Mapping[str, _Weekday],
          relative_days: Mapping[str, int], day_prefix: Iterable[str],
          next_prefix: Iterable[str], next_after: Iterable[str], vague_prefix: Iterable[str],
          vague_words: Iterable[str], vague: Iterable[str], past: Iterable[str],
          last_prefix: Iterable[str], last_after: Iterable[str], dayparts: Mapping[str, str],
          day_dayparts: Mapping[str, str], day_then_part: Mapping[str, str],
          with_: Iterable[str], everyone: Iterable[str],
          filler: Iterable[str], subject_intro: Iterable[str], intro_once: Iterable[str],
          connectors: Iterable[str], number_words: Mapping[str, float],
          units: Mapping[str, timedelta], named_times: Mapping[str, time], ampm: bool,
          h_clock: bool, hours_as_clock: bool, dotted_numbers: bool, time_words: Iterable[str],
          typo_days: Iterable[str], typo_months: Iterable[str], typo_units: Iterable[str],
          known: Iterable[str], weekday_names: tuple[str, ...], month_names: tuple[str, ...],
          write_clock: Callable[[time, bool], str], write_at: Callable[[time, bool], str],
          write_date: Callable[[int, int, int | None], str],
          write_next: Callable[[int, str], str], long_date: Callable[[date, bool], str],
          day_month: Callable[[int, int], str],
          write_hm: Callable[[time], str], write_number: Callable[[int], str], tomorrow: str, in_ten: str, day_nine: str,
          date_nine: str, for_word: str, at_word: str, length_max: str) -> _Lang:
    """A `_Lang` from words as people write them: keys folded, multiword words collected into
    the tokenizer, typo tables and known words derived."""
    vocabulary = [now, timing, range_from, range_to, date_on, date_the, date_of, months,
                  weekdays, relative_days, day_prefix, next_prefix, next_after, vague_prefix,
                  vague_words, vague, past, last_prefix, last_after, dayparts, day_dayparts,
                  with_, everyone, filler, subject_intro, connectors]
    phrases = {w for words in vocabulary for w in words if " " in w.strip() or "-" in w}
    spelled = {_key(w): w for w in (*typo_days, *typo_months, *typo_units)}
    months_, weekdays_, relative_ = _keyed(months), _keyed(weekdays), _keyed(relative_days)
    return _Lang(
        code=code, verb=re.compile(verb, re.I), verb_word=verb_word,
        token=_token_pattern(time_=time_, duration=duration, ordinal=ordinal, phrases=phrases),
        example=example, sample_subject=sample_subject, now=_keys(now), timing=_keyed(timing),
        range_from=_keys(range_from), range_to=_keys(range_to), date_on=_keys(date_on),
        date_the=_keys(date_the), date_of=_keys(date_of),
        date_words=frozenset({*_keys(date_on), *_keys(date_the), *months_,
                              *(m + "." for m in months_)}),
        month_first=month_first, bare_day=bare_day, months=months_, weekdays=weekdays_,
        relative_days=relative_, day_prefix=_keys(day_prefix), next_prefix=_keys(next_prefix),
        next_after=_keys(next_after), vague_prefix=_keys(vague_prefix),
        vague_words=_keys(vague_words), vague=_keys(vague), past=_keys(past),
        last_prefix=_keys(last_prefix), last_after=_keys(last_after), dayparts=_keyed(dayparts),
        day_dayparts=_keyed(day_dayparts), day_then_part=_keyed(day_then_part),
        with_=_keys(with_), everyone=_keys(everyone),
        filler=_keys(filler), subject_intro=_keys(subject_intro), intro_once=_keys(intro_once),
        connectors=_keys(connectors), number_words=_keyed(number_words), units=units,
        named_times=_keyed(named_times), ampm=ampm, h_clock=h_clock,
        hours_as_clock=hours_as_clock, dotted_numbers=dotted_numbers,
        time_words=_keys(time_words),
        typo_days=_by_letter(_key(w) for w in typo_days),
        typo_months=_by_letter(_key(w) for w in typo_months),
        typo_units=_by_letter(_key(w) for w in typo_units),
        known=frozenset({*weekdays_, *relative_, *months_, *spelled, *_keys(known)}),
        spelled=spelled,
        vocabulary=frozenset({_key(w) for words in (*vocabulary, number_words, named_times,
                                                    time_words) for w in words}),
        weekday_names=weekday_names, month_names=month_names,
        write_clock=write_clock, write_at=write_at, write_date=write_date,
        write_next=write_next, long_date=long_date, day_month=day_month, write_hm=write_hm,
        write_number=write_number, tomorrow=tomorrow,
        in_ten=in_ten, day_nine=day_nine, date_nine=date_nine, for_word=for_word,
        at_word=at_word, length_max=length_max)


def _weekday_table(names: Sequence[Sequence[str]]) -> dict[str, _Weekday]:
    """Spellings of each weekday, Monday first -> dateutil weekday."""
    return {name: wd for spellings, wd in zip(names, _WEEKDAY_OBJECTS) for name in spellings}


def _month_table(names: Sequence[Sequence[str]]) -> dict[str, int]:
    return {name: i for i, spellings in enumerate(names, 1) for name in spellings}


def _hm(t: time | datetime) -> str:
    return f"{t.hour}:{t.minute:02d}"


def _h12(t: time) -> str:
    return f"{t.hour % 12 or 12}{'am' if t.hour < 12 else 'pm'}"


# English ------------------------------------------------------------------------------------
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december")
_EN_WEEKDAYS = (("mon", "monday"), ("tue", "tues", "tuesday"), ("wed", "weds", "wednesday"),
                ("thu", "thur", "thurs", "thursday"), ("fri", "friday"), ("sat", "saturday"),
                ("sun", "sunday"))
_EN_MONTHS = {name: i for i, name in enumerate(_MONTH_NAMES, 1)} | {
    name[:3]: i for i, name in enumerate(_MONTH_NAMES, 1)} | {"sept": 9}
_EN_RELATIVE = {"today": 0, "tonight": 0, "tomorrow": 1, "tmrw": 1, "tmr": 1}

_EN = _lang(
    "en",
    # "call" forms are deliberately not verbs: "call me when you're back" and "call @Ana" are
    # ordinary chat, and in Teams a call rings people now, which a meeting link does not.
    verb=r"/?(?:meet|meeting|new\s+meeting"
         r"|(?:start|schedule|set\s*up)\s+(?:an?\s+)?(?:new\s+)?meeting)(?=$|[\s:])",
    verb_word="meet", time_=_TIME, duration=_DURATION, ordinal=r"\d+(?:st|nd|rd|th)",
    example=EXAMPLE, sample_subject="budget review", now=("now",),
    timing={"at": "at", "for": "for", "in": "in"},
    range_from=("from", "between"), range_to=("to", "till", "until", "and"),
    date_on=("on",), date_the=("the",), date_of=("of",), month_first=True, bare_day=False,
    months=_EN_MONTHS, weekdays=_weekday_table(_EN_WEEKDAYS), relative_days=_EN_RELATIVE,
    day_prefix=("next", "this", "on"), next_prefix=("next",), next_after=(),
    vague_prefix=("next", "this"), vague_words=("week", "month", "weekend", "year"), vague=(),
    past=("yesterday", "last"), last_prefix=("last",), last_after=(), dayparts={},
    day_dayparts={}, day_then_part={}, with_=("with",),
    everyone=("everyone", "everybody", "all", "channel", "team", "@everyone", "@channel",
              "@team", "@all"),
    filler=("and", "the", ",", "&", "+"),
    subject_intro=("about", "re", ":", "on", "regarding"), intro_once=("on",),
    connectors=("at", "on", "for", "in", "the", "of", "by", "next", "this", ",", "with", "and"),
    number_words=_NUMBER_WORDS,
    units={"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
           "w": timedelta(weeks=1)},
    named_times={"noon": time(12), "midday": time(12), "midnight": time(0)},
    ampm=True, h_clock=False, hours_as_clock=False, dotted_numbers=False, time_words=(),
    typo_days=("today", "tonight", "tomorrow", *_WEEKDAY_NAMES), typo_months=_MONTH_NAMES,
    typo_units=("minutes", "minute", "hours", "hour"),
    known=tuple(name + "s" for name in _WEEKDAY_NAMES),  # "mondays": a plain word
    weekday_names=tuple(n.capitalize() for n in _WEEKDAY_NAMES),
    month_names=tuple(n.capitalize() for n in _MONTH_NAMES),
    write_clock=lambda t, ampm: _h12(t) if ampm else _hm(t),
    write_at=lambda t, ampm: "at " + (_h12(t) if ampm else _hm(t)),
    write_date=lambda d, m, y: f"{_MONTH_NAMES[m - 1][:3].capitalize()} {d}"
                               + ("" if y is None else f" {y}"),
    write_next=lambda index, typed: f"next {typed}",
    long_date=lambda d, year: f"{_WEEKDAY_NAMES[d.weekday()].capitalize()} {d.day} "
                              f"{_MONTH_NAMES[d.month - 1].capitalize()}"
                              + (f" {d.year}" if year else ""),
    day_month=lambda d, m: f"{d} {_MONTH_NAMES[m - 1].capitalize()}",
    write_hm=_hm, write_number=lambda n: f"{n:,}", tomorrow="tomorrow", in_ten="in 10 min", day_nine="9am", date_nine="at 9am",
    for_word="for", at_word="at", length_max="24h")

# German -------------------------------------------------------------------------------------
_DE_WEEKDAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
_DE_MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
              "September", "Oktober", "November", "Dezember")
_DE_MIN = r"m(?:in(?:uten?|\.)?)?"


def _de_clock(t: time, ampm: bool = False) -> str:
    return f"{t.hour} Uhr" if t.minute == 0 else f"{t.hour}:{t.minute:02d} Uhr"


_DE = _lang(
    "de",
    verb=r"/?(?:neue[sn]?\s+)?(?:treffen|besprechung|meeting)"
         r"(?:\s+(?:starten|beginnen|planen|ansetzen|anlegen|erstellen|einrichten))?"
         r"(?=$|[\s:])",
    verb_word="treffen",
    time_=r"\d{1,2}(?:[:.]\d{2})?\s*uhr|\d{1,2}:\d{2}|\d{1,2}(?:[:.]\d{2})?[ap]\.?m\.?"
          r"|mitternacht",
    duration=_duration_pattern(
        half=r"(?:eine[rnm]?\s+)?halben?\s+stunde",
        three_quarters=r"(?:eine[rnm]?\s+)?drei\s*viertel\s*stunde",
        quarter=r"(?:eine[rnm]?\s+)?viertel\s*stunde",
        words=("ein", "eine", "einer", "einen", "zwei", "drei", "vier", "fünf", "zehn",
               "fünfzehn", "zwanzig", "dreißig", "fünfundvierzig", "sechzig", "neunzig",
               "anderthalb", "eineinhalb", "zweieinhalb"),
        hours=r"h|std\.?|stunden?", minutes=_DE_MIN, others=r"tage?n?|wochen?", and_="und",
        half_word="eine\\s+halbe"),
    ordinal=r"\d{1,2}\.(?=\s|$)",
    example="treffen jetzt 30 min über Budgetplanung", sample_subject="Budgetplanung",
    now=("jetzt", "sofort"),
    timing={"um": "at", "ab": "at", "für": "for", "in": "in"},
    range_from=("von", "zwischen"), range_to=("bis", "und"),
    date_on=("am", "den"), date_the=(), date_of=(), month_first=False, bare_day=True,
    months=_month_table((("Januar", "Jan", "Jänner"), ("Februar", "Feb"), ("März", "Mär", "Mrz"),
                         ("April", "Apr"), ("Mai",), ("Juni", "Jun"), ("Juli", "Jul"),
                         ("August", "Aug"), ("September", "Sep", "Sept"), ("Oktober", "Okt"),
                         ("November", "Nov"), ("Dezember", "Dez"))),
    weekdays=_weekday_table((("Montag", "Mo."), ("Dienstag", "Di."), ("Mittwoch", "Mi."),
                             ("Donnerstag", "Do."), ("Freitag", "Fr."),
                             ("Samstag", "Sonnabend", "Sa."), ("Sonntag", "So."))),
    relative_days={"heute": 0, "morgen": 1, "übermorgen": 2},
    day_prefix=("nächsten", "nächster", "kommenden", "kommender", "am nächsten",
                "am kommenden", "diesen", "dieser", "am"),
    next_prefix=("nächsten", "nächster", "kommenden", "kommender", "am nächsten",
                 "am kommenden"),
    next_after=(), vague_prefix=("nächste", "nächsten", "kommende", "diese", "dieses"),
    vague_words=("woche", "monat", "wochenende", "jahr"),
    vague=("am wochenende", "nächstes wochenende", "nächstes jahr"),
    past=("gestern", "vorgestern"), last_prefix=("letzten", "letzter", "vergangenen"),
    last_after=(),
    dayparts={"früh": "am", "morgens": "am", "vormittags": "am", "vormittag": "am",
              "am morgen": "am", "am vormittag": "am", "mittags": "pm", "nachmittags": "pm",
              "nachmittag": "pm", "am nachmittag": "pm", "abends": "pm", "abend": "pm",
              "am abend": "pm"},
    day_dayparts={}, day_then_part={"morgen": "am"}, with_=("mit",),
    everyone=("alle", "allen", "allen kollegen", "alle kollegen", "allen mitgliedern",
              "team", "dem team", "dem ganzen team", "kanal", "dem kanal", "@everyone",
              "@channel", "@team", "@all"),
    filler=("und", ",", "&", "+"),
    subject_intro=("über", "zu", "zum", "zur", "zum thema", "thema", "betreff", "betreffs",
                   "wegen", "re", ":"),
    intro_once=(),
    connectors=("um", "am", "ab", "für", "in", "den", "dem", "der", "nächsten", "kommenden",
                "diesen", ",", "mit", "und", "von", "bis"),
    number_words={"ein": 1, "eine": 1, "einer": 1, "einen": 1, "zwei": 2, "drei": 3,
                  "vier": 4, "fünf": 5, "zehn": 10, "fünfzehn": 15, "zwanzig": 20,
                  "dreißig": 30, "fünfundvierzig": 45, "sechzig": 60, "neunzig": 90,
                  "anderthalb": 1.5, "eineinhalb": 1.5, "zweieinhalb": 2.5},
    units={"m": timedelta(minutes=1), "h": timedelta(hours=1), "s": timedelta(hours=1),
           "t": timedelta(days=1), "w": timedelta(weeks=1)},
    named_times={"mitternacht": time(0)},
    ampm=False, h_clock=False, hours_as_clock=False, dotted_numbers=True, time_words=("uhr",),
    typo_days=("heute", "morgen", "übermorgen", *_DE_WEEKDAYS, "Sonnabend"),
    typo_months=_DE_MONTHS, typo_units=("Minuten", "Minute", "Stunden", "Stunde"),
    known=("montags", "dienstags", "mittwochs", "donnerstags", "freitags", "samstags",
           "sonntags", "morgens", "montage", "morgige", "morgigen", "heutige", "heutigen",
           "sorgen", "morgan", "mais", "junior", "julia", "julian", "augusta", "auguste",
           "stunde", "minute", "august"),
    weekday_names=_DE_WEEKDAYS, month_names=_DE_MONTHS,
    write_clock=_de_clock, write_at=lambda t, ampm: "um " + _de_clock(t),
    write_date=lambda d, m, y: f"{d}. {_DE_MONTHS[m - 1]}" + ("" if y is None else f" {y}"),
    write_next=lambda index, typed: f"nächsten {_DE_WEEKDAYS[index]}",
    long_date=lambda d, year: f"{_DE_WEEKDAYS[d.weekday()]}, {d.day}. "
                              f"{_DE_MONTHS[d.month - 1]}" + (f" {d.year}" if year else ""),
    day_month=lambda d, m: f"{d}. {_DE_MONTHS[m - 1]}",
    write_hm=_hm, write_number=lambda n: f"{n:,}".replace(",", "."), tomorrow="morgen", in_ten="in 10 Minuten", day_nine="um 9 Uhr",
    date_nine="um 9 Uhr", for_word="für", at_word="um", length_max="24 Std.")

# French -------------------------------------------------------------------------------------
_FR_WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_FR_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
              "septembre", "octobre", "novembre", "décembre")
_FR_MIN = r"m(?:in(?:utes?|\.)?)?"


def _fr_clock(t: time, ampm: bool = False) -> str:
    return f"{t.hour}h" if t.minute == 0 else f"{t.hour}h{t.minute:02d}"


def _fr_day(d: int) -> str:
    return "1er" if d == 1 else str(d)


_FR = _lang(
    "fr",
    verb=r"/?(?:(?:cr[ée]er|planifier|organiser|lancer|d[ée]marrer|programmer)\s+une\s+)?"
         r"(?:nouvelle\s+)?r[ée]union(?=$|[\s:])",
    verb_word="réunion",
    time_=r"\d{1,2}\s?h(?:\d{2})?|\d{1,2}:\d{2}|\d{1,2}(?:[:.]\d{2})?\s?[ap]\.?m\.?|midi|minuit",
    duration=_duration_pattern(
        half=r"(?:une\s+)?demi[-\s]?heure",
        three_quarters=r"trois\s+quarts\s+d['’]\s?heure",
        quarter=r"(?:un\s+)?quart\s+d['’]\s?heure",
        words=("un", "une", "deux", "trois", "quatre", "cinq", "dix", "quinze", "vingt", "trente",
               "quarante-cinq", "soixante", "quatre-vingt-dix"),
        hours=r"h|heures?", minutes=_FR_MIN, others=r"jours?|semaines?", and_="et",
        half_word="demie"),
    ordinal=r"\d{1,2}(?:er|re|e|ème|eme)",
    example="réunion maintenant 30 min sur le budget", sample_subject="le budget",
    now=("maintenant", "tout de suite", "immédiatement"),
    timing={"à": "at", "vers": "at", "pendant": "for", "durant": "for", "pour": "for",
            "dans": "in", "de": "length", "d'une durée de": "for"},
    range_from=("de", "entre"), range_to=("à", "et", "jusqu'à"),
    date_on=("le",), date_the=(), date_of=(), month_first=False, bare_day=True,
    months=_month_table((("janvier", "janv", "jan"), ("février", "févr", "fév"), ("mars",),
                         ("avril", "avr"), ("mai",), ("juin",), ("juillet", "juil"),
                         ("août",), ("septembre", "sept"), ("octobre", "oct"),
                         ("novembre", "nov"), ("décembre", "déc"))),
    weekdays=_weekday_table((("lundi", "lun."), ("mardi", "mar."), ("mercredi", "mer."),
                             ("jeudi", "jeu."), ("vendredi", "ven."), ("samedi", "sam."),
                             ("dimanche", "dim."))),
    relative_days={"aujourd'hui": 0, "aujourdhui": 0, "demain": 1, "après-demain": 2,
                   "ce matin": 0, "cet après-midi": 0, "ce soir": 0},
    day_prefix=("ce", "le"), next_prefix=(), next_after=("prochain",),
    vague_prefix=(), vague_words=(),
    vague=("la semaine prochaine", "semaine prochaine", "cette semaine", "le mois prochain",
           "mois prochain", "ce mois-ci", "ce week-end", "ce weekend", "le week-end prochain",
           "le week-end", "l'année prochaine"),
    past=("hier", "avant-hier"), last_prefix=(), last_after=("dernier",),
    dayparts={"matin": "am", "du matin": "am", "après-midi": "pm", "de l'après-midi": "pm",
              "soir": "pm", "du soir": "pm"},
    day_dayparts={"ce matin": "am", "cet après-midi": "pm", "ce soir": "pm"}, day_then_part={},
    with_=("avec",),
    everyone=("tout le monde", "tous", "toutes", "l'équipe", "toute l'équipe", "équipe",
              "canal", "le canal", "@everyone", "@channel", "@team", "@all"),
    filler=("et", ",", "&", "+"),
    subject_intro=("sur", "à propos de", "à propos du", "à propos des", "au sujet de",
                   "au sujet du", "au sujet des", "concernant", "objet", "re", ":",
                   "pour parler de", "pour parler du"),
    intro_once=(),
    connectors=("à", "le", "la", "pendant", "durant", "pour", "dans", "de", "du", "ce",
                "prochain", ",", "avec", "et", "vers", "entre"),
    number_words={"un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "dix": 10,
                  "quinze": 15, "vingt": 20, "trente": 30, "quarante-cinq": 45, "soixante": 60,
                  "quatre-vingt-dix": 90},
    units={"m": timedelta(minutes=1), "h": timedelta(hours=1), "j": timedelta(days=1),
           "s": timedelta(weeks=1)},
    named_times={"midi": time(12), "minuit": time(0)},
    ampm=False, h_clock=True, hours_as_clock=True, dotted_numbers=True, time_words=(),
    typo_days=("aujourd'hui", "demain", *_FR_WEEKDAYS), typo_months=_FR_MONTHS,
    typo_units=("minutes", "minute", "heures", "heure"),
    known=("lundis", "mardis", "mercredis", "jeudis", "vendredis", "samedis", "dimanches",
           "demande", "demandes", "domaine", "marche", "marché", "mardi-gras", "joindre",
           "juste", "jouer", "minuté", "heureux", "heurte", "sauter", "marie", "maris"),
    weekday_names=_FR_WEEKDAYS, month_names=_FR_MONTHS,
    write_clock=_fr_clock, write_at=lambda t, ampm: "à " + _fr_clock(t),
    write_date=lambda d, m, y: f"{_fr_day(d)} {_FR_MONTHS[m - 1]}"
                               + ("" if y is None else f" {y}"),
    write_next=lambda index, typed: f"{_FR_WEEKDAYS[index]} prochain",
    long_date=lambda d, year: f"{_FR_WEEKDAYS[d.weekday()]} {_fr_day(d.day)} "
                              f"{_FR_MONTHS[d.month - 1]}" + (f" {d.year}" if year else ""),
    day_month=lambda d, m: f"{_fr_day(d)} {_FR_MONTHS[m - 1]}",
    write_hm=lambda t: f"{t.hour}h{t.minute:02d}",
    write_number=lambda n: f"{n:,}".replace(",", "\u202f"), tomorrow="demain", in_ten="dans 10 minutes",
    day_nine="à 9h", date_nine="à 9h", for_word="pendant", at_word="à",
    length_max="pendant 24h")

# Spanish ------------------------------------------------------------------------------------
_ES_WEEKDAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
_ES_MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
              "septiembre", "octubre", "noviembre", "diciembre")
_ES_MIN = r"m(?:in(?:utos?|\.)?)?"


def _es_clock(t: time, ampm: bool = False) -> str:
    return _hm(t)


_ES = _lang(
    "es",
    verb=r"/?(?:(?:(?:crear|programar|organizar|iniciar|empezar|convocar|agendar)"
         r"\s+(?:una\s+)?)?(?:nueva\s+)?reuni[óo]n|reunir(?:nos|se)?)(?=$|[\s:])",
    verb_word="reunión",
    time_=r"\d{1,2}:\d{2}|\d{1,2}(?:[:.]\d{2})?\s?[ap]\.?\s?m\.?|mediod[íi]a|medianoche",
    duration=_duration_pattern(
        half=r"media\s+hora",
        three_quarters=r"tres\s+cuartos\s+de\s+hora",
        quarter=r"(?:un\s+)?cuarto\s+de\s+hora",
        words=("un", "una", "dos", "tres", "cuatro", "cinco", "diez", "quince", "veinte",
               "treinta", "cuarenta y cinco", "sesenta", "noventa"),
        hours=r"h|horas?|hrs?\.?", minutes=_ES_MIN, others=r"d[íi]as?|semanas?", and_="y",
        half_word="media"),
    ordinal=r"\d{1,2}[º°]",
    example="reunión ahora 30 min sobre el presupuesto", sample_subject="el presupuesto",
    now=("ahora", "ahora mismo", "ya mismo"),
    timing={"a las": "at", "a la": "at", "a": "at", "sobre las": "at", "durante": "for",
            "por": "for", "en": "in", "dentro de": "in", "de": "length"},
    range_from=("de", "desde", "desde las", "de las", "entre", "entre las"),
    range_to=("a", "a las", "hasta", "hasta las", "y", "y las"),
    date_on=("el",), date_the=("día",), date_of=("de",), month_first=False, bare_day=True,
    months=_month_table((("enero", "ene"), ("febrero", "feb"), ("marzo", "mar"),
                         ("abril", "abr"), ("mayo", "may"), ("junio", "jun"), ("julio", "jul"),
                         ("agosto", "ago"), ("septiembre", "setiembre", "sep", "sept", "set"),
                         ("octubre", "oct"), ("noviembre", "nov"), ("diciembre", "dic"))),
    weekdays=_weekday_table((("lunes", "lun."), ("martes", "mar."), ("miércoles", "mié."),
                             ("jueves", "jue."), ("viernes", "vie."), ("sábado", "sáb."),
                             ("domingo", "dom."))),
    relative_days={"hoy": 0, "mañana": 1, "pasado mañana": 2, "esta mañana": 0,
                   "esta tarde": 0, "esta noche": 0},
    day_prefix=("el", "este", "el próximo", "próximo", "el proximo"),
    next_prefix=("el próximo", "próximo"), next_after=("que viene", "próximo"),
    vague_prefix=(), vague_words=(),
    vague=("la próxima semana", "próxima semana", "la semana que viene", "semana que viene",
           "esta semana", "el próximo mes", "el mes que viene", "este mes",
           "este fin de semana", "el fin de semana", "el próximo año"),
    past=("ayer", "anteayer"), last_prefix=("el pasado",), last_after=("pasado",),
    dayparts={"por la mañana": "am", "de la mañana": "am", "en la mañana": "am",
              "de la madrugada": "am", "por la tarde": "pm", "de la tarde": "pm",
              "en la tarde": "pm", "por la noche": "pm", "de la noche": "pm",
              "en la noche": "pm", "del mediodía": "pm"},
    day_dayparts={"esta mañana": "am", "esta tarde": "pm", "esta noche": "pm"},
    day_then_part={},
    with_=("con",),
    everyone=("todos", "todas", "todo el mundo", "todo el equipo", "el equipo", "equipo",
              "canal", "el canal", "@everyone", "@channel", "@team", "@all"),
    filler=("y", "e", ",", "&", "+"),
    subject_intro=("sobre", "acerca de", "acerca del", "para hablar de", "para hablar del",
                   "para hablar sobre", "tema", "asunto", "re", ":"),
    intro_once=(),
    connectors=("a", "a las", "a la", "el", "la", "de", "del", "durante", "por", "en", "este",
                "próximo", ",", "con", "y", "desde", "hasta"),
    number_words={"un": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "diez": 10,
                  "quince": 15, "veinte": 20, "treinta": 30, "cuarenta y cinco": 45,
                  "sesenta": 60, "noventa": 90},
    units={"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
           "s": timedelta(weeks=1)},
    named_times={"mediodía": time(12), "medianoche": time(0)},
    ampm=False, h_clock=False, hours_as_clock=True, dotted_numbers=True, time_words=(),
    typo_days=("hoy", "mañana", *_ES_WEEKDAYS), typo_months=(*_ES_MONTHS, "setiembre"),
    typo_units=("minutos", "minuto", "horas", "hora"),
    known=("lunas", "martas", "domingos", "sábados", "manzana", "mañanas", "mayor", "julia",
           "marco", "marcos", "abierto", "junto", "juntos", "enero", "horario", "hola"),
    weekday_names=_ES_WEEKDAYS, month_names=_ES_MONTHS,
    write_clock=_es_clock,
    write_at=lambda t, ampm: ("a la " if t.hour == 1 else "a las ") + _hm(t),
    write_date=lambda d, m, y: f"{d} de {_ES_MONTHS[m - 1]}" + ("" if y is None else f" de {y}"),
    write_next=lambda index, typed: f"el próximo {_ES_WEEKDAYS[index]}",
    long_date=lambda d, year: f"{_ES_WEEKDAYS[d.weekday()]}, {d.day} de "
                              f"{_ES_MONTHS[d.month - 1]}" + (f" de {d.year}" if year else ""),
    day_month=lambda d, m: f"{d} de {_ES_MONTHS[m - 1]}",
    write_hm=_hm, write_number=lambda n: f"{n:,}".replace(",", ".") if n >= 10_000 else str(n),
    tomorrow="mañana", in_ten="en 10 minutos", day_nine="a las 9:00",
    date_nine="a las 9:00", for_word="durante", at_word="a las", length_max="24 horas")

_LANGS = (_EN, _DE, _FR, _ES)
_BY_CODE = {lang.code: lang for lang in _LANGS}
_HELP = re.compile(r"/?(?:help|\?+|commands|what can you do"
                   r"|hilfe|befehle|was kannst du(?:\s+alles)?(?:\s+(?:tun|machen))?\??"
                   r"|aide|commandes|qu['’]est[-\s]ce\s+que\s+tu\s+(?:sais|peux)\s+faire\s*\??"
                   r"|ayuda|comandos|¿?qu[ée]\s+puedes\s+hacer\??)", re.I)
_SIGN_OUT = re.compile(r"/?(?:(?:sign|log)\s*(?:out|off)|abmelden|ausloggen|abmeldung"
                       r"|d[ée]connexion|(?:se\s+)?d[ée]connecter|d[ée]connecte[-\s]moi"
                       r"|cerrar\s+(?:la\s+)?sesi[óo]n|desconectar(?:me)?)", re.I)
# Day and time words of each language, for the subjects of the others: "meet morgen 15 Uhr" is
# a German command with an English verb, not a meeting now about "morgen 15 Uhr". Relative days
# count alone; weekdays, months and "Uhr" only next to a number ("Mardi Gras" stays a subject).
_FOREIGN_DAYS: dict[str, tuple[str, ...]] = {}
_FOREIGN_NEAR: dict[str, tuple[str, ...]] = {}
for _l in _LANGS:
    for _word in _l.relative_days:
        if len(_word) >= 3 and " " not in _word:
            _FOREIGN_DAYS[_word] = (*_FOREIGN_DAYS.get(_word, ()), _l.code)
    for _word in (*_l.weekdays, *_l.months, *_l.time_words):
        if (len(_word) >= 4 or _word in _l.time_words) and "." not in _word:
            _FOREIGN_NEAR[_word] = (*_FOREIGN_NEAR.get(_word, ()), _l.code)

_NUMERIC = {"time", "duration", "number"}
_NUMERIC_START = re.compile(r"-?\d")  # "in 30s": meant as a number, so report it, not subject
_NEAR_KINDS = frozenset({"time", "duration", "number", "ordinal", "date"})
_DATE_KINDS = frozenset({"date", "number", "ordinal"})  # what a date can start with…
_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})")  # "15.30" or "12.12": a time or a date?
_H_CLOCK = re.compile(r"(\d{1,2})\s?h(\d{2})?")  # "9h30", "15 h"
_UHR = re.compile(r"(\d{1,2})(?:[:.](\d{2}))?\s*uhr")
_QUOTES = {'"': '"', "“": "”", "„": "“", "«": "»", "”": "”"}

_TIME_PARSER = _dateutil_parser.parser()
_EPOCH = datetime(2000, 1, 1)
_AMPM = re.compile(r"\s*([ap])\.?\s?m\.?$", re.I)
# A duration too large to represent is still just "too long" (or "too far ahead").
_HUGE = timedelta(days=999_999_999)


def _refuse(template: str, example: str = EXAMPLE, suggestion: str | None = None,
            **params: object) -> NoReturn:
    """Raise the ParseError whose reason is `template` (a msgid marked with N_) filled in."""
    values = {name: str(value) for name, value in params.items()}
    raise ParseError(template.format(**values), example, suggestion, template=template,
                     params=values)


# --- the parse ------------------------------------------------------------------------------
class _Context(NamedTuple):
    now: datetime
    user_time: UserTime
    locale: str | None


def parse(text: str, *, now: datetime, user_time: UserTime,
          mentions: Sequence[Mention] = (), locale: str | None = None) -> Command:
    """Read one message. Raises ParseError for a `meet` command that cannot be honoured.

    `locale` is the sender's BCP-47 locale (Teams' `activity.locale`, e.g. "en-GB"): it decides
    whether "12/9" is 9 December or 12 September, which language a verb two languages share is
    read in, and the language of the names in a reason's params. Without one, month/day is used
    and the request notes how an ambiguous date was read."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    cleaned, people = _clean(text, mentions)
    ctx = _Context(now, user_time, locale)
    try:
        return _parse_cleaned(cleaned, people, ctx)
    except ParseError as err:
        _settle(err, people, ctx, _verb_of(cleaned, locale))
        raise


def _verb_of(cleaned: str, locale: str | None) -> tuple[_Lang, int] | None:
    """The language of the command's verb and where the verb ends; None: not a meet command.
    The longest verb wins ("meeting starten" is German). A verb two languages share
    ("meeting", an unaccented "reunion") is in the one whose words the rest of the command
    uses ("Meeting um 15 Uhr" is German); on a tie, the locale's, else the first."""
    m = _EN.verb.match(cleaned)
    if m is not None and "eting" not in m[0][-5:].lower():
        return _EN, m.end()  # "meet": no other language's verb starts like it (the hot path)
    found = [(lang, m.end()) for lang in _LANGS if (m := lang.verb.match(cleaned))]
    longest = max((end for _, end in found), default=0)
    found = [(lang, end) for lang, end in found if end == longest]
    if len(found) < 2:
        return found[0] if found else None
    preferred = _language_of(locale)

    def words_known(verb: tuple[_Lang, int]) -> tuple[int, bool]:
        """Its words read minus words it doesn't know ("a las" is one Spanish word, and in
        French an "a" and a "las" it doesn't know)."""
        lang, end = verb
        score = 0
        for tok in _tokenize(cleaned, end, lang.token):
            if tok.kind in ("time", "duration") or tok.key in lang.vocabulary:
                score += 1
            elif tok.kind == "word":
                score -= 1
        return score, lang.code == preferred

    return max(found, key=words_known)


def _parse_cleaned(cleaned: str, people: list[_Mentioned], ctx: _Context) -> Command:
    verb = _verb_of(cleaned, ctx.locale)
    if verb is None:
        return _not_a_meet_command(cleaned, people)
    lang, end = verb
    if _HELP.fullmatch(cleaned, end + 1):  # "meet help", "treffen hilfe"
        return HelpRequest()
    _check_length(cleaned[end:], people, ctx.locale)
    spec = _Reader(cleaned, people, _tokenize(cleaned, end, lang.token), ctx.locale, lang,
                   end).read()
    return _resolve(spec, ctx.now, ctx.user_time, bare=not cleaned[end:].strip())


def _check_length(rest: str, people: Sequence[_Mentioned], locale: str | None) -> None:
    if len(rest) <= MAX_COMMAND:
        return
    words = len(_PLACEHOLDER.sub("", rest)) - _PER_MENTION * len(people)
    if words > MAX_COMMAND:
        number = _BY_CODE.get(_language_of(locale), _EN).write_number
        _refuse(N_("That command is {length} characters long, more than I read ({limit}); a "
                   "subject can have up to {subject_limit}"),
                length=number(words), limit=number(MAX_COMMAND), subject_limit=MAX_SUBJECT)


def _settle(err: ParseError, people: list[_Mentioned], ctx: _Context,
            verb: tuple[_Lang, int] | None) -> None:
    """Make the error's suggestion and example commands that parse, shown with names.

    A suggestion must parse as it stands, or after the one further close correction its own
    error offers ("tomorow at 9" -> "tomorrow at 9" -> "tomorrow at 9am"); a button cannot
    carry mentions, so a suggestion naming someone becomes the example instead."""
    suggestion = err.suggestion
    err.suggestion = None
    if suggestion is not None:
        suggestion, fallback = _checked_suggestion(suggestion, people, ctx)
        if suggestion is None and fallback is not None:
            err.example = fallback
    if suggestion is not None and _MENTION_OPEN in suggestion:
        err.example, suggestion = suggestion, None
    if suggestion is not None:
        err.suggestion = err.example = suggestion
    else:
        stock = verb[0].example if verb is not None else EXAMPLE
        err.example = _checked_example(err.example, people, ctx, stock)


def _checked_suggestion(text: str, people: list[_Mentioned],
                        ctx: _Context) -> tuple[str | None, str | None]:
    """(text or its next close correction if it parses, else None; else the fix it suggests)."""
    try:
        _parse_cleaned(text, people, ctx)
        return text, None
    except ParseError as err:
        if err.suggestion is not None:
            try:
                _parse_cleaned(err.suggestion, people, ctx)
                return err.suggestion, None
            except ParseError:
                pass
        return None, err.example if err.example != EXAMPLE else None


def _checked_example(example: str, people: list[_Mentioned], ctx: _Context, stock: str) -> str:
    """The fix we suggest, built from the user's own words, if it parses; else the stock one
    of the command's language.

    Examples are in the cleaned form (mention placeholders), so mentions survive the check."""
    try:
        ok = isinstance(_parse_cleaned(example, people, ctx), MeetingRequest)
    except ParseError:
        ok = False
    return _display(example, people, "@") if ok else stock


def _not_a_meet_command(cleaned: str, people: Sequence[_Mentioned]) -> Command:
    if not cleaned or _HELP.fullmatch(cleaned):
        return HelpRequest()
    if _SIGN_OUT.fullmatch(cleaned):
        return SignOutRequest()
    shown = _display(cleaned, people, "@")
    if len(shown) > 40:
        shown = shown[:39].rstrip() + "…"
    template = N_("I didn't recognise “{text}”")
    return HelpRequest(reason=template.format(text=shown), template=template,
                       params={"text": shown})


Span = tuple[int, int]


@dataclass(slots=True)
class _Spec:
    """What the words said, before any clock is consulted. Spans index the cleaned text."""

    text: str
    people: list[_Mentioned]
    lang: _Lang  # the command's language: the words of examples and suggestions
    locale: str | None
    now: Span | None = None
    offset: timedelta | None = None  # "in 10 min"
    offset_span: Span | None = None
    day: str | None = None  # the day word's key
    day_next: bool = False
    day_span: Span | None = None
    date: tuple[int | None, int | None, int] | None = None  # (year, month, day) as typed
    date_span: Span | None = None  # with a leading "on", which an example replaces too
    date_shown: str = ""  # the date as typed, for messages
    date_reading: str | None = None
    date_reading_template: str | None = None
    date_reading_params: dict[str, str] | None = None
    clock: time | None = None  # time of day
    time_span: Span | None = None
    ambiguous: Span | None = None  # clock is a bare hour 1-12: which half of the day?
    range_end: time | None = None  # "from 9 to 10": the end, which makes the duration
    range_end_ambiguous: bool = False
    range_start_hour: int | None = None  # a bare start hour, read in the end's half of the day
    unsure_h: tuple[tuple[Span, _Tok], ...] = ()  # French "2h": a time or a length?
    daypart: str | None = None  # "am" | "pm"
    daypart_span: Span | None = None
    duration: timedelta | None = None
    duration_span: Span | None = None
    subject: str = ""
    attendees: list[Person] = field(default_factory=list)
    everyone: bool = False

    @property
    def reply(self) -> _Lang:
        """The user's Teams language (de, fr, es, else English): names of days and months in
        reasons. Looked up only when a reason needs it."""
        return _BY_CODE.get(_language_of(self.locale), _EN)

    def shown(self, span: Span | None) -> str:
        """The user's words at `span`, as a reason quotes them ("" for no span)."""
        if span is None:
            return ""
        shown = _display(self.text[span[0]:span[1]], self.people)
        return shown if len(shown) <= _MAX_SHOWN else shown[:_MAX_SHOWN - 1] + "…"

    def example(self, span: Span | None, replacement: str = "") -> str:
        """The user's own command with `span` replaced (an empty span inserts, None appends);
        `parse` checks it and falls back to the stock example if it does not parse."""
        a, b = span if span is not None else (len(self.text), len(self.text))
        joined = " ".join(f"{self.text[:a]} {replacement} {self.text[b:]}".split())
        if " , " in joined:
            joined = joined.replace(" , ", " ")  # "Mon, 9 Dec" without "Mon"
        if joined[-1:] in _PUNCT_ENDS:  # as typed, it would be cleaned so
            joined = _TRAILING_PUNCT.sub("", joined)
        return joined


class _Opt(NamedTuple):
    """An option found at token `at`, `n` tokens long (`kind` names what it is)."""

    kind: str
    at: int
    n: int


class _DateWords(NamedTuple):
    n: int  # tokens, "on"/"the" included
    numeric: _Tok | None  # "12/9", "2026-12-11", "9.12."
    month: int | None  # a month name's number
    day: _Tok | None  # the day of the month, a number or an ordinal
    year: _Tok | None


def _is_day_number(tok: _Tok | None) -> bool:
    return tok is not None and (tok.kind == "ordinal"
                                or (tok.kind == "number" and tok.low.isdigit()))


def _is_year(tok: _Tok | None) -> bool:
    return tok is not None and tok.kind == "number" and tok.low.isdigit() and len(tok.low) == 4


def _small_int(digits: str) -> int | None:
    """A day, month, year or hour as typed ("9th", "1er", "9."); None for what is no such
    number (or absurdly long)."""
    digits = digits.rstrip("abcdefghijklmnopqrstuvwxyzèé.º°")
    return int(digits) if digits.isdigit() and len(digits) <= 4 else None


def _in_part(t: time, part: str) -> time | None:
    """`t` in the morning ("am") or afternoon/evening ("pm") as a part of the day says: "8 Uhr
    abends" is 20:00; None when they disagree ("15 Uhr morgens")."""
    if part == "pm":
        return t.replace(hour=t.hour + 12) if 1 <= t.hour <= 11 else t if t.hour >= 12 else None
    return t if t.hour < 12 else None


class _Reader:
    """Fills a _Spec: the options before the subject left to right, then the subject and the
    options that end the message."""

    def __init__(self, text: str, people: list[_Mentioned], tokens: list[_Tok],
                 locale: str | None, lang: _Lang = _EN, verb_end: int = 0) -> None:
        self.spec = _Spec(text, people, lang, locale)
        self.toks = tokens
        self.locale = locale
        self.lang = lang
        self.verb_end = verb_end
        self.i = 0

    def tok(self, j: int) -> _Tok | None:
        return self.toks[j] if 0 <= j < len(self.toks) else None

    def read(self) -> _Spec:
        while self.i < len(self.toks):
            opt = self.match(self.i)
            if opt is None:
                self.subject()
                break
            self.apply(opt)
        self.finish()
        return self.spec

    # -- what is an option (syntax only: nothing is checked or refused here) -----------------
    def match(self, j: int, strict: bool = False) -> _Opt | None:  # noqa: C901 - one per form
        """The option starting at token j. `strict`: only the forms that may end a subject (no
        refusals such as "yesterday" or a bare "30", no "with" that names nobody)."""
        L, toks = self.lang, self.toks
        tok = toks[j]
        key, kind = tok.key, tok.kind
        if key in L.now:
            return _Opt("now", j, 1)
        if kind == "time" or kind == "duration":
            return _Opt(kind, j, 1)
        nxt = toks[j + 1] if j + 1 < len(toks) else None
        if key in L.range_from and (n := self.range_at(j)):
            return _Opt("range", j, n)
        role = L.timing.get(key)
        if role is not None and nxt is not None:
            if role == "length":  # "de 30 minutes": only a length may follow
                if nxt.kind == "duration":
                    return _Opt("for", j, 2)
            elif nxt.kind in _NUMERIC or _NUMERIC_START.match(nxt.low) is not None:
                if strict and nxt.kind == "number" and len(nxt.low.lstrip("-")) > 2 \
                        and not (L.dotted_numbers and _DOTTED.fullmatch(nxt.low)):
                    return None  # "about goals in 2026": a year or a count, not a time
                return _Opt(role, j, 2)
        if key in L.dayparts:
            return _Opt("daypart", j, 1)
        if (kind in _DATE_KINDS or key in L.date_words) and (words := self.date_at(j)) is not None:
            return _Opt("date", j, words.n)
        prefixed = key in L.day_prefix and nxt is not None
        day = nxt if prefixed and nxt is not None else tok
        if day.key in L.relative_days or day.key in L.weekdays:
            n = 2 if prefixed else 1
            after = self.tok(j + n)
            if after is not None and day.key in L.weekdays:
                if after.key in L.next_after:
                    n += 1  # "lundi prochain"
                elif after.key in L.last_after:
                    return None if strict else _Opt("past", j, n + 1)  # "lundi dernier"
            if (after := self.tok(j + n)) is not None and after.key in L.day_then_part:
                n += 1  # "heute Morgen", "Montag Morgen": the morning, not tomorrow
            return _Opt("day", j, n)
        if key in L.vague or (key in L.vague_prefix and nxt is not None
                              and nxt.key in L.vague_words):
            return _Opt("vague", j, 1 if key in L.vague else 2)
        if key in L.with_:
            named = self.attendees_at(j + 1)
            return _Opt("with", j, 1 + named) if named or not strict else None
        if tok.kind == "punct" and key == ",":
            return _Opt("sep", j, 1)
        if strict:
            return None
        if key in L.past or key in L.last_prefix:
            if nxt is not None and key in L.last_prefix and nxt.key in L.weekdays:
                return _Opt("past", j, 2)
            if key in L.past:
                return _Opt("past", j, 1)
        if L.dotted_numbers and kind == "number" and _DOTTED.fullmatch(tok.low):
            return _Opt("dotted", j, 1)
        if tok.kind == "number" and (nxt is None or nxt.key in L.subject_intro
                                     or nxt.key in L.with_ or nxt.kind in _NUMERIC):
            return _Opt("unitless", j, 1)
        return None

    def range_at(self, j: int) -> int:
        """Tokens of "from 9 to 10am" / "von 9 bis 10 Uhr" / "de 9h à 10h" at j; 0: none."""
        a, to, b = self.tok(j + 1), self.tok(j + 2), self.tok(j + 3)
        if a is None or to is None or b is None or to.key not in self.lang.range_to:
            return 0
        return 4 if self.clockish(a) and self.clockish(b) else 0

    def clockish(self, tok: _Tok) -> bool:
        return tok.kind == "time" or (tok.kind == "number" and (
            (tok.low.isdigit() and len(tok.low) <= 2)
            or (self.lang.dotted_numbers and _DOTTED.fullmatch(tok.low) is not None)))

    def month_of(self, tok: _Tok | None) -> int | None:
        return self.lang.months.get(tok.key.rstrip(".")) \
            if tok is not None and tok.kind == "word" else None

    def date_at(self, j: int) -> _DateWords | None:  # noqa: C901 - one branch per date form
        L = self.lang
        k = j + (self.toks[j].key in L.date_on)
        the = (t := self.tok(k)) is not None and t.key in L.date_the
        k += the
        t = self.tok(k)
        if t is None:
            return None
        if t.kind == "date" and not the:
            return _DateWords(k + 1 - j, t, None, None, None)
        if k > j and L.dotted_numbers and t.kind == "number" and _DOTTED.fullmatch(t.low):
            return _DateWords(k + 1 - j, t, None, None, None)  # "am 12.12", the dot left off
        month = self.month_of(t)
        if month is not None and not the and L.month_first:  # Dec 9 [,] [2026]
            day = self.tok(k + 1)
            if not _is_day_number(day):
                return None
            end, year = k + 2, None
            c = self.tok(end)
            comma = c is not None and c.low == "," and _is_year(self.tok(end + 1))
            if _is_year(self.tok(end + comma)):
                year, end = self.tok(end + comma), end + comma + 1
            return _DateWords(end - j, None, month, day, year)
        if _is_day_number(t):  # 9 Dec [2026], 9th of December, (on) the 9th, 9 de mayo de 2026
            m = k + 1 + ((o := self.tok(k + 1)) is not None and o.key in L.date_of)
            month = self.month_of(self.tok(m))
            if month is not None:
                y = m + 1 + ((o := self.tok(m + 1)) is not None and o.key in L.date_of
                             and _is_year(self.tok(m + 2)))
                year = self.tok(y) if _is_year(self.tok(y)) else None
                return _DateWords((y + 1 if year is not None else m + 1) - j, None, month, t,
                                  year)
            if k > j and (t.kind == "ordinal" or L.bare_day and len(t.low) <= 2):
                return _DateWords(k + 1 - j, None, None, t, None)
        return None

    def attendees_at(self, j: int) -> int:
        """How many tokens from j name attendees (fillers between names included); 0: nobody."""
        L = self.lang
        k, last_named = j, j
        while (tok := self.tok(k)) is not None and (tok.kind == "mention" or tok.key in L.everyone
                                                    or tok.key in L.filler):
            k += 1
            if tok.key not in L.filler:
                last_named = k
        return last_named - j

    # -- applying an option: where values are checked ----------------------------------------
    def apply(self, opt: _Opt) -> None:  # noqa: C901 - one branch per option reads best
        kind, j, n = opt
        first, last = self.toks[j], self.toks[j + n - 1]
        span = (first.start, last.end)
        s, L = self.spec, self.lang
        if kind == "now":
            self.set_start_now(span)
        elif kind == "time":
            self.set_time(span, first, bare=True)
        elif kind == "at":
            self.set_time(span, last)
        elif kind == "range":
            self.set_range(span, self.toks[j + 1], last)
        elif kind == "duration":
            self.set_duration(span, first, first)
        elif kind == "for":
            self.set_duration(span, first, last)
        elif kind == "in":
            self.set_offset(span, last)
        elif kind == "date":
            typed = self.toks[j + 1] if first.key in L.date_on else first  # "on" isn't the date
            words = self.date_at(j)
            assert words is not None  # match() found this date here
            self.set_date(words, span, s.shown((typed.start, last.end)))
        elif kind == "day":
            self.set_day(j, n, span)
        elif kind == "daypart":
            self.set_daypart(L.dayparts[first.key], span)
        elif kind == "with":
            if n == 1:
                nxt = self.tok(j + 1)
                span = (first.start, nxt.end if nxt else first.end)
                self.fail(N_("To invite people, type @ and pick them (“{text}” names nobody I "
                             "can invite)"), s.example(span), text=s.shown(span))
            for tok in self.toks[j + 1:j + n]:
                if tok.kind == "mention":
                    s.attendees.append(s.people[int(tok.low[1:-1])].person)
                elif tok.key in L.everyone:
                    s.everyone = True
        elif kind == "vague":
            later_time = any(t.kind == "time" for t in self.toks[j + n:])
            monday = L.write_next(0, "monday")
            self.fail(N_("“{text}” isn't a day: say which day, like {day}"),
                      s.example(span, monday if later_time else f"{monday} {L.day_nine}"),
                      text=s.shown(span), day=monday)
        elif kind == "past":
            weekday = next((t for t in self.toks[j:j + n] if t.key in L.weekdays), None)
            fix = (L.write_next(L.weekdays[weekday.key].weekday, weekday.low) if weekday
                   else L.day_nine if s.day or s.date else L.tomorrow)
            self.fail(N_("“{text}” is in the past"), s.example(span, fix), text=s.shown(span))
        elif kind == "dotted":
            self.fail(N_("I couldn't tell if “{text}” is a time or a date"),
                      s.example(span, self.dotted_fix(first)), text=s.shown(span))
        elif kind == "unitless":
            self.fail(N_("“{text}” needs a unit, like {short} or {long}"),
                      s.example(span, f"{first.low.lstrip('-')}m"), text=first.low,
                      short=f"{first.low}m", long=f"{first.low} min")
        self.i = j + n

    def dotted_fix(self, tok: _Tok) -> str:
        """"15.30" as the time it can be ("um 15:30 Uhr"), else as the date ("am 12.12.")."""
        a, b = (int(x) for x in tok.low.split(".")[:2])
        if a < 24 and b < 60:
            return self.lang.write_at(time(a, b), False)
        on = next(iter(sorted(self.lang.date_on)), "")
        return f"{on} {tok.low}."

    # -- start -------------------------------------------------------------------------------
    def start_spans(self) -> list[Span]:
        s = self.spec
        return [sp for sp in (s.now, s.offset_span, s.day_span, s.date_span, s.time_span) if sp]

    _TWO = {"start times": N_("You gave two start times, “{first}” and “{second}”"),
            "times": N_("You gave two times, “{first}” and “{second}”"),
            "days": N_("You gave two days, “{first}” and “{second}”"),
            "dates": N_("You gave two dates, “{first}” and “{second}”"),
            "durations": N_("You gave two durations, “{first}” and “{second}”"),
            "dayparts": N_("You gave two parts of the day, “{first}” and “{second}”")}

    def conflict(self, what: str, first: Span | None, second: Span) -> NoReturn:
        s = self.spec
        self.fail(self._TWO[what], s.example(second), first=s.shown(first),
                  second=s.shown(second))

    def set_start_now(self, span: Span) -> None:
        if self.start_spans():
            self.conflict("start times", self.start_spans()[0], span)
        self.spec.now = span

    def set_offset(self, span: Span, value: _Tok) -> None:
        if self.start_spans():
            self.conflict("start times", self.start_spans()[0], span)
        offset = self.duration_of(value, span)
        s = self.spec
        if offset < timedelta(0):
            self.fail(N_("“{text}” is in the past"), s.example(span, s.lang.in_ten),
                      text=s.shown(span))
        if offset > MAX_OFFSET:
            word = s.text[span[0]:value.start].strip()
            self.fail(N_("“{text}” is too far ahead: “{word} …” reaches 60 days; for later, "
                         "give the date"),
                      s.example(span, f"{s.lang.tomorrow} {s.lang.day_nine}"),
                      text=s.shown(span), word=word)
        s.offset, s.offset_span = offset, span

    def set_time(self, span: Span, value: _Tok, *, bare: bool = False) -> None:
        s = self.spec
        if bare and self.lang.h_clock and (m := _H_CLOCK.fullmatch(value.low)) \
                and int(m[1]) < 7:
            s.unsure_h += ((span, value),)  # "2h": at 2:00, or for two hours? Seen at the end
            return
        if s.time_span:
            self.conflict("times", s.time_span, span)
        if s.now or s.offset_span:
            self.conflict("start times", s.now or s.offset_span, span)
        clock = self.time_of(value, span)
        if clock is None:
            s.ambiguous = span
            clock = time((_small_int(value.low) or 0) % 12)
        s.clock, s.time_span = clock, span

    def set_range(self, span: Span, a: _Tok, b: _Tok) -> None:
        """"von 9 bis 10 Uhr": a start and a length. A bare start hour takes the end's half of
        the day (settled in `finish`, after any "abends")."""
        s = self.spec
        for other, what in ((s.time_span, "times"), (s.now or s.offset_span, "start times"),
                            (s.duration_span, "durations")):
            if other:
                self.conflict(what, other, span)
        end = self.time_of(b, span, ask=False)
        if end is None:
            s.range_end_ambiguous, end = True, time((_small_int(b.low) or 0) % 12)
        if a.kind == "number" and a.low.isdigit() and int(a.low) <= 23:
            s.range_start_hour, start = int(a.low), time(0)
        else:
            start = self.time_of(a, span, ask=False) or time((_small_int(a.low) or 0) % 12)
        s.clock, s.range_end, s.time_span, s.duration_span = start, end, span, span

    def set_daypart(self, part: str, span: Span) -> None:
        s = self.spec
        if s.daypart_span:
            self.conflict("dayparts", s.daypart_span, span)
        s.daypart, s.daypart_span = part, span

    def set_day(self, j: int, n: int, span: Span) -> None:
        s, L = self.spec, self.lang
        words = self.toks[j:j + n]
        day = next(t for t in words if t.key in L.relative_days or t.key in L.weekdays)
        if s.day_span:
            self.conflict("days", s.day_span, span)
        if s.now or s.offset_span:
            self.conflict("start times", s.now or s.offset_span, span)
        if s.date_span and day.key not in L.weekdays:  # "Tue 9 Dec" may pair; "tomorrow Dec 9" not
            self.conflict("days", s.date_span, span)
        upcoming = any(t.key in L.next_prefix or t.key in L.next_after for t in words)
        if upcoming and day.key in L.relative_days:
            self.fail(N_("“{text}” isn't a day I know"), s.example(span, day.low),
                      text=s.shown(span))
        s.day, s.day_next, s.day_span = day.key, upcoming, span
        if day.key in L.day_dayparts:  # "ce soir"
            self.set_daypart(L.day_dayparts[day.key], span)
        elif words[-1] is not day and words[-1].key in L.day_then_part:  # "heute Morgen"
            self.set_daypart(L.day_then_part[words[-1].key], span)

    def set_date(self, words: _DateWords, span: Span, shown: str) -> None:
        s = self.spec
        s.date_shown = shown
        if s.date_span:
            self.conflict("dates", s.date_span, span)
        if s.now or s.offset_span:
            self.conflict("start times", s.now or s.offset_span, span)
        if s.day_span and s.day not in self.lang.weekdays:
            self.conflict("days", s.day_span, span)
        if words.numeric is not None:
            s.date, reading = self.numeric_date(words.numeric, span)
            if reading is not None:
                s.date_reading_template, s.date_reading_params = reading
                s.date_reading = reading[0].format(**reading[1])
        else:
            s.date = self.worded_date(words, span)
        s.date_span = span

    def worded_date(self, words: _DateWords, span: Span) -> tuple[int | None, int | None, int]:
        s = self.spec
        day = _small_int(words.day.low) if words.day is not None else None
        year = int(words.year.low) if words.year is not None else None
        if words.month is None:
            if day is None or not 1 <= day <= 31:
                self.fail(N_("“{text}” isn't a day of the month"),
                          s.example(span, s.lang.tomorrow), text=s.date_shown)
            return None, None, day
        last = _days_in(words.month, year)
        if day is None or not 1 <= day <= last:
            fix = s.example(span, s.lang.write_date(last if words.month != 2 else 28,
                                                    words.month, None))
            month = s.reply.month_names[words.month - 1]
            if year is not None or words.month != 2:
                self.fail(N_("“{text}” isn't a date: {month} has {days} days"), fix,
                          text=s.date_shown, month=month, days=last)
            self.fail(N_("“{text}” isn't a date: {month} has {days} days at most"), fix,
                      text=s.date_shown, month=month, days=last)
        return year, words.month, day

    def numeric_date(self, tok: _Tok, span: Span) -> tuple[tuple[int | None, int, int],
                                                           tuple[str, dict[str, str]] | None]:
        """A date written in digits, as (year, month, day), and how an ambiguous one was read
        (a msgid and its values)."""
        s, raw = self.spec, tok.low
        tomorrow = s.example(span, s.lang.tomorrow)
        if raw[:4].isdigit():  # 2026-12-11, 2026/12/11
            y, m, d = (int(p) for p in re.split("[-/]", raw))
            if not (1 <= m <= 12 and 1 <= d <= _days_in(m, y)):
                self.fail(N_("“{text}” isn't a date"), tomorrow, text=s.date_shown)
            return (y, m, d), None
        parts = [p for p in re.split("[/.]", raw) if p]
        year = None
        if len(parts) == 3:
            if len(parts[2]) not in (2, 4):
                self.fail(N_("“{text}” isn't a date I can read"), tomorrow, text=s.date_shown)
            year = int(parts[2]) + (2000 if len(parts[2]) == 2 else 0)
        a, b = int(parts[0]), int(parts[1])
        dotted = "." in raw

        def valid(month: int, day: int) -> bool:
            return 1 <= month <= 12 and 1 <= day <= _days_in(month, year)

        first_month = not dotted and month_first(self.locale)
        m, d = (a, b) if first_month else (b, a)
        other = (d, m)
        if dotted or valid(m, d) and (not valid(*other) or a == b):
            if not valid(m, d):
                self.fail(N_("“{text}” isn't a date"), tomorrow, text=s.date_shown)
            return (year, m, d), None
        if valid(m, d):  # both readings are dates: say which one was used
            params = {"text": s.date_shown, "date": s.reply.day_month(d, m)}
            if self.locale is None:
                return (year, m, d), (N_("“{text}” read as {date} (month/day, Teams didn't "
                                         "tell me your locale)"), params)
            params["locale"] = self.locale
            if first_month:
                return (year, m, d), (N_("“{text}” read as {date} (month/day, as {locale} "
                                         "writes dates)"), params)
            return (year, m, d), (N_("“{text}” read as {date} (day/month, as {locale} writes "
                                     "dates)"), params)
        if valid(*other):
            m, d = other
            written = s.example(span, s.lang.write_date(d, m, year))
            if self.locale is None:  # the only reading there is, and no locale to say otherwise
                return (year, m, d), None
            if first_month:
                self.fail(N_("“{text}” isn't a date in month/day order, as {locale} writes "
                             "dates"), written, written, text=s.date_shown, locale=self.locale)
            self.fail(N_("“{text}” isn't a date in day/month order, as {locale} writes dates"),
                      written, written, text=s.date_shown, locale=self.locale)
        self.fail(N_("“{text}” isn't a date"), tomorrow, text=s.date_shown)

    # -- duration ----------------------------------------------------------------------------
    def set_duration(self, span: Span, kw: _Tok, value: _Tok) -> None:
        s = self.spec
        if s.duration_span:
            self.conflict("durations", s.duration_span, span)
        if value.kind == "time" and ":" in value.low and "m" not in value.low:
            hours, minutes = value.low.split(":")  # "for 1:30" = 1 h 30 min
            duration = timedelta(hours=int(hours), minutes=int(minutes))
        else:
            duration = self.duration_of(value, span)
        if duration < timedelta(0):
            self.fail(N_("“{text}” is a negative duration"),
                      s.example(span, s.text[span[0]:span[1]].replace("-", "", 1)),
                      text=s.shown(span))
        if duration < MIN_DURATION:
            self.fail(N_("“{text}” is too short: a meeting needs at least 1 minute"),
                      s.example(span, "15m"), text=s.shown(span))
        if duration > MAX_DURATION:
            typed_for = kw is not value and self.lang.timing.get(kw.key) == "for"
            fix = f"{s.text[kw.start:kw.end]} 24h" if typed_for else s.lang.length_max
            self.fail(N_("“{text}” is too long: a meeting can last at most 24 hours"),
                      s.example(span, fix), text=s.shown(span))
        s.duration, s.duration_span = duration, span

    def duration_of(self, tok: _Tok, span: Span) -> timedelta:
        if tok.kind == "time" and self.lang.h_clock and (m := _H_CLOCK.fullmatch(tok.low)):
            return timedelta(hours=int(m[1]), minutes=int(m[2] or 0))  # "pendant 1h30"
        if tok.kind != "duration":
            self.fail(N_("I couldn't read “{text}” as a length of time"),
                      self.spec.example(span, f"{self.spec.text[span[0]:tok.start]}30 min"),
                      text=self.spec.shown(span))
        try:
            return _duration(tok.match, self.lang)
        except (OverflowError, ValueError):  # "99999999999999999999h": more than fits
            return -_HUGE if tok.match["neg"] else _HUGE

    def time_of(self, tok: _Tok, span: Span, *, ask: bool = True) -> time | None:
        """The time of day `tok` names. A bare hour that could be morning or afternoon is None
        (`ask`: refused now when this language has no parts of the day to settle it later)."""
        L, s = self.lang, self.spec
        hour = _small_int(tok.low) if tok.kind == "number" else None
        if hour is not None and 1 <= hour <= (12 if L.ampm else 11):
            if ask and not L.dayparts:
                self.ambiguous_hour(hour, span)
            return None
        parsed = None
        if tok.kind == "time" or tok.low.isdigit():
            parsed = _time_of_day(tok.low, L)
        elif tok.kind == "number" and L.dotted_numbers and _DOTTED.fullmatch(tok.low):
            parsed = _time_of_day(tok.low.replace(".", ":"), L)  # "um 15.30"
        elif tok.kind == "duration" and L.hours_as_clock:
            parsed = _hours_as_clock(tok.match, L)  # "à 15 heures"
        if parsed is None:
            self.fail(N_("“{text}” is not a time of day"),
                      s.example(span, s.lang.write_at(time(15), False)),
                      text=s.shown((tok.start, tok.end)))
        return parsed

    def ambiguous_hour(self, hour: int, span: Span, *, bare: bool = False) -> NoReturn:
        """Office hours decide the guess we offer: 7-11 in the morning, 12-6 afternoon. `bare`:
        the hour alone is replaced ("von 9 bis 10" -> "von 9 bis 10 Uhr"), else with "at"."""
        s, L = self.spec, self.lang
        morning, afternoon = time(hour % 12), time(hour % 12 + 12)
        guess = morning if 7 <= hour <= 11 else afternoon
        fix = s.example(span, L.write_clock(guess, True) if bare else L.write_at(guess, True))
        self.fail(N_("“{text}” could be morning or afternoon: say {morning} or {afternoon}"),
                  fix, fix, text=s.shown(span), morning=L.write_clock(morning, True),
                  afternoon=L.write_clock(afternoon, True))

    # -- after all options: what one option says about another ------------------------------
    def finish(self) -> None:
        """Settle what needed every option seen: a part of the day ("abends") and the hours it
        makes afternoon, a bare hour nothing settled, a French "2h" (time or length?)."""
        s, L = self.spec, self.lang
        if not (s.unsure_h or s.range_end or s.ambiguous or s.daypart):
            return  # "meet now"
        for span, tok in s.unsure_h:
            if s.daypart:
                self.set_time(span, tok)  # "demain 2h du matin": a time
            elif s.now or s.offset_span or s.time_span:
                self.set_duration(span, tok, tok)  # "maintenant 1h": a length
            else:
                typed = s.text[span[0]:span[1]]
                self.fail(N_("“{text}” could be a time or a length: say {time} or {length}"),
                          s.example(span, f"{L.for_word} {typed}"), text=s.shown(span),
                          time=f"{L.at_word} {typed}", length=f"{L.for_word} {typed}")
        if s.range_end is not None:
            self.finish_range(s.range_end)
        elif s.ambiguous is not None and s.clock is not None:
            if s.daypart is None:
                self.ambiguous_hour(_small_int(s.text[s.ambiguous[0]:s.ambiguous[1]]
                                               .split()[-1]) or 12, s.ambiguous)
            s.clock = time(s.clock.hour + (12 if s.daypart == "pm" else 0), s.clock.minute)
        elif s.daypart is not None and s.clock is not None:
            s.clock = self.in_part(s.clock)
        if s.daypart_span is not None and s.clock is None and not (s.day_span or s.date_span):
            typed = s.text[s.daypart_span[0]:s.daypart_span[1]]
            self.fail(N_("“{text}” needs a time of day"),
                      s.example(s.daypart_span, f"{typed} {L.write_at(time(9), False)}"),
                      text=s.shown(s.daypart_span))

    def in_part(self, clock: time) -> time:
        s = self.spec
        placed = _in_part(clock, s.daypart or "am")
        if placed is None:
            self.fail(N_("“{time}” and “{part}” don't go together: say which time you mean"),
                      s.example(s.daypart_span), time=s.shown(s.time_span),
                      part=s.shown(s.daypart_span))
        return placed

    def finish_range(self, end: time) -> None:
        s = self.spec
        if s.range_end_ambiguous:
            if s.daypart is None:
                b = next(t for t in self.toks if s.time_span and t.end == s.time_span[1])
                self.ambiguous_hour(_small_int(b.low) or 12, (b.start, b.end), bare=True)
            end = time(end.hour + (12 if s.daypart == "pm" else 0), end.minute)
        elif s.daypart is not None:
            end = self.in_part(end)
        start: time | None = s.clock
        if s.range_start_hour is not None:  # the latest reading of the bare hour before the end
            h = s.range_start_hour
            readings = [time(x) for x in ((h, h + 12) if h < 12 else (h,))]
            start = max((t for t in readings if t < end), default=None)
        elif s.daypart is not None and start is not None:
            start = self.in_part(start)
        if start is None or start >= end:
            begin = start or time((s.range_start_hour or 0) % 24)
            self.fail(N_("“{text}” ends before it starts"),
                      s.example(s.time_span, self.lang.write_at(begin, False)),
                      text=s.shown(s.time_span))
        s.clock = start
        s.duration = (datetime.combine(_EPOCH, end) - datetime.combine(_EPOCH, start))

    # -- subject -----------------------------------------------------------------------------
    def subject(self) -> None:
        """The words up to the options that end the message, less a leading intro word."""
        L = self.lang
        first = self.i
        while (tok := self.tok(self.i)) is not None and tok.key in L.subject_intro and (
                tok.key not in L.intro_once or self.i == first):
            self.i += 1
        body, end = self.i, len(self.toks)
        if body >= end:
            intro = self.toks[first]
            self.fail(N_("“{text}” needs a subject after it"),
                      self.spec.example((intro.end, intro.end), L.sample_subject),
                      text=intro.low)
        if (close := self.closing_quote(body)) is not None:
            self.quoted_subject(body, close)
            return
        # The shortest run of tokens that ends the message and is all options: trailing[k]
        # says whether tokens k.. are such a run.
        trailing = [False] * (end + 1)
        trailing[end] = True
        for k in range(end - 1, body, -1):
            opt = self.match(k, strict=True)
            trailing[k] = opt is not None and trailing[k + opt.n]
        stop = next(k for k in range(body + 1, end + 1) if trailing[k])
        self.spec.subject = self.subject_text(body, stop)
        self.question(body, stop, introduced=body > first)
        self.i = stop
        while self.i < end and (opt := self.match(self.i, strict=True)) is not None:
            if opt.kind == "vague":  # "meet about plans for next week": which was meant?
                s = self.spec
                span = (self.toks[opt.at].start, self.toks[opt.at + opt.n - 1].end)
                subject = (self.toks[body].start, span[1])
                self.fail(N_("“{text}” isn't a day: say which day, like {day}, or put a "
                             "subject with these words in quotes"),
                          s.example(subject, f'"{s.text[subject[0]:subject[1]]}"'),
                          text=s.shown(span), day=s.lang.write_next(0, "monday"))
            self.apply(opt)

    def subject_text(self, body: int, stop: int) -> str:
        span = (self.toks[body].start, self.toks[stop - 1].end)
        subject = _display(self.spec.text[span[0]:span[1]], self.spec.people)
        if len(subject) > MAX_SUBJECT:
            cut = subject[:60].rsplit(" ", 1)[0]
            self.fail(SUBJECT_TOO_LONG, self.spec.example(span, cut), length=len(subject),
                      limit=MAX_SUBJECT)
        return subject

    def closing_quote(self, body: int) -> int | None:
        """The token that ends a subject opened by a quote at token `body`, if one does."""
        text, start = self.spec.text, self.toks[body].start
        close = _QUOTES.get(text[start])
        if close is None:
            return None
        for k in range(body, len(self.toks)):
            end = self.toks[k].end
            if end - 1 > start and text[end - 1] in (close, '"'):
                return k
        return None

    def quoted_subject(self, body: int, close: int) -> None:
        """`meet "Dec 9 retro" tomorrow 10am`: the quoted words, whatever they are; after the
        closing quote only options may follow."""
        s = self.spec
        inner = (self.toks[body].start + 1, self.toks[close].end - 1)
        s.subject = _display(s.text[inner[0]:inner[1]], s.people).strip()
        if not s.subject:
            self.fail(N_("The quotes have no subject in them"),
                      s.example((inner[0], inner[1]), s.lang.sample_subject))
        if len(s.subject) > MAX_SUBJECT:
            self.fail(SUBJECT_TOO_LONG, s.example(inner, s.subject[:60].rsplit(" ", 1)[0]),
                      length=len(s.subject), limit=MAX_SUBJECT)
        self.i = close + 1
        while self.i < len(self.toks):
            opt = self.match(self.i)
            if opt is None:
                rest = (self.toks[self.i].start, self.toks[-1].end)
                self.fail(N_("I couldn't read “{text}” after the subject"), s.example(rest),
                          text=s.shown(rest))
            self.apply(opt)

    def question(self, lo: int, hi: int, *, introduced: bool) -> None:
        """Refuse a subject holding words that look like a time or date but were not read.

        All of an unintroduced subject is checked ("meet tomorow at 9 about standup"); after
        "about" only its tail, so "meet about the Dec 9 launch" keeps its words."""
        check = lo
        if introduced:
            check = hi
            while check > lo and (self.toks[check - 1].key in self.lang.connectors
                                  or self.timeish(check - 1, hi)):
                check -= 1
        for j in range(check, hi):
            opt = self.match(j, strict=True)
            if opt is not None and opt.kind not in ("sep", "with"):
                self.unread_option(opt, lo, hi)
            tok, nxt = self.toks[j], self.tok(j + 1)
            if not introduced and self.lang.dotted_numbers and tok.kind == "number" \
                    and _DOTTED.fullmatch(tok.low):
                self.unread_option(_Opt("dotted", j, 1), lo, hi)
            if not introduced and tok.key in self.lang.range_from and j + 1 < hi \
                    and nxt is not None and self.clockish(nxt):  # "von 9 bis": half a range left in the subject
                self.unread_option(_Opt("dotted", j, 2), lo, hi)
            if (fix := self.typo_fix(j)) is not None:
                typed = self.spec.text[tok.start:tok.end]
                fixed = fix if fix[:1].isupper() or not typed[:1].isupper() else fix.capitalize()
                fixed_text = self.spec.example((tok.start, tok.end), fixed)
                self.fail(N_("I couldn't read “{text}”"), fixed_text, fixed_text, text=typed)
            if (other := self.foreign(j)) is not None:
                self.foreign_word(j, other, lo, hi)

    def timeish(self, j: int, hi: int) -> bool:
        opt = self.match(j, strict=True)
        return (opt is not None and opt.kind not in ("sep", "with") and j + opt.n <= hi
                or self.typo_fix(j) is not None or self.foreign(j) is not None)

    def unread_option(self, opt: _Opt, lo: int, hi: int) -> None:
        """A time or date inside the subject: its own error if it isn't one ("25pm"), else
        ask which it is: meeting time or words of the subject."""
        if opt.kind != "dotted":  # (also half a range: nothing to read there on its own)
            probe = _Reader(self.spec.text, self.spec.people, self.toks, self.locale, self.lang,
                            self.verb_end)
            probe.apply(opt)
        s = self.spec
        span = (self.toks[opt.at].start, self.toks[opt.at + opt.n - 1].end)
        subject = (self.toks[lo].start, self.toks[hi - 1].end)
        self.fail(N_("I couldn't tell if “{text}” is when to meet or part of the subject (put "
                     "a subject with such words in quotes)"),
                  s.example(subject, f'"{s.text[subject[0]:subject[1]]}"'), text=s.shown(span))

    def typo_fix(self, j: int) -> str | None:
        """The time word token j is a typo of ("tomorow", "wendesday", "demian"; "Decmber 9"
        next to a day number; "45 minuts" after a number), as the language writes it, or
        None."""
        L = self.lang
        tok = self.toks[j]
        word = tok.key.rstrip(".")
        if tok.kind != "word" or len(word) < 4 or word in L.known or "'" in word:
            return None
        fix = _closest(word, L.typo_days)
        prev, nxt = self.tok(j - 1), self.tok(j + 1)
        if prev is not None and prev.key in L.date_of:  # "the 5th of Ocotber"
            prev = self.tok(j - 2)
        if fix is None and (_is_day_number(prev) or _is_day_number(nxt)):
            fix = _closest(word, L.typo_months)
        if fix is None and prev is not None and prev.kind == "number":
            fix = _closest(word, L.typo_units)
        return None if fix is None else L.spelled.get(fix, fix)

    def foreign(self, j: int) -> _Lang | None:
        """The other language token j is a day or time word of ("morgen" in an English
        command; "Montag" or "Uhr" next to a number), or None."""
        tok = self.toks[j]
        if tok.kind not in ("word", "phrase"):
            return None
        owners = _FOREIGN_DAYS.get(tok.key)
        if owners is None and (owners := _FOREIGN_NEAR.get(tok.key)) is not None:
            prev, nxt = self.tok(j - 1), self.tok(j + 1)
            if prev is not None and any(prev.key in _BY_CODE[code].date_of for code in owners):
                prev = self.tok(j - 2)  # "9 de diciembre"
            if not (prev is not None and prev.kind in _NEAR_KINDS
                    or nxt is not None and nxt.kind in _NEAR_KINDS):
                return None
        if owners is None or self.lang.code in owners:
            return None
        preferred = _language_of(self.locale)
        return _BY_CODE[preferred if preferred in owners else owners[0]]

    def foreign_word(self, j: int, other: _Lang, lo: int, hi: int) -> NoReturn:
        """"meet morgen um 15 Uhr": ask, and offer the command in the language of its words."""
        s = self.spec
        tok = self.toks[j]
        retyped = f"{other.verb_word} {s.text[self.verb_end:].strip()}"
        subject = (self.toks[lo].start, self.toks[hi - 1].end)
        self.fail(N_("I couldn't tell if “{text}” is when to meet or part of the subject (put "
                     "a subject with such words in quotes)"),
                  s.example(subject, f'"{s.text[subject[0]:subject[1]]}"'), retyped,
                  text=s.shown((tok.start, tok.end)))

    @staticmethod
    def fail(template: str, example: str, suggestion: str | None = None,
             **params: object) -> NoReturn:
        _refuse(template, example, suggestion, **params)


def _closest(word: str, table: Mapping[str, tuple[str, ...]]) -> str | None:
    """The word of `table` within a typo's reach of `word` (1 edit up to 6 letters, else 2)."""
    reach = 1 if len(word) <= 6 else 2
    best, best_distance = None, reach + 1
    for candidate in (*table.get(word[0], ()), *table.get(word[1], ())):
        if abs(len(candidate) - len(word)) <= reach:
            distance = _edit_distance(word, candidate, best_distance)
            if distance < best_distance:
                best, best_distance = candidate, distance
    return best


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a swap of neighbours counts once: "wendesday"), cut
    off at `limit`."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for k, cb in enumerate(b, 1):
            row[k] = min(prev[k] + 1, row[k - 1] + 1, prev[k - 1] + (ca != cb))
            if i > 1 and k > 1 and ca == b[k - 2] and a[i - 2] == cb:
                row[k] = min(row[k], prev2[k - 2] + 1)
        if min(row) >= limit:
            return limit
        prev2, prev = prev, row
    return prev[-1]


def _days_in(month: int, year: int | None) -> int:
    if month == 2 and year is not None:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return _MONTH_DAYS[month - 1]


def _duration(m: re.Match[str], lang: _Lang) -> timedelta:
    if m["half_hour"]:
        return timedelta(minutes=30)
    if m["quarter"]:
        return timedelta(minutes=15)
    if m["three_quarters"]:
        return timedelta(minutes=45)
    amount = (float(m["n1"].replace(",", ".")) if m["n1"] else lang.number_words[_key(m["w1"])])
    if m["half1"] or m["half2"]:
        amount += 0.5
    total = amount * lang.units[_fold((m["u1"] or m["u1_other"])[0].lower())]
    if m["n2_bare"] or m["n2"]:
        total += timedelta(minutes=int(m["n2_bare"] or m["n2"]))
    return -total if m["neg"] else total


def _hours_as_clock(m: re.Match[str], lang: _Lang) -> time | None:
    """"15 heures" after "à", "15 h" after "a las": a time of day, if whole hours (and
    minutes) under 24."""
    if not m["u1"] or m["neg"]:
        return None
    try:
        length = _duration(m, lang)
    except (OverflowError, ValueError):
        return None
    if length >= timedelta(hours=24) or length % timedelta(minutes=1):
        return None
    minutes = int(length.total_seconds()) // 60
    return time(minutes // 60, minutes % 60)


def _time_of_day(token: str, lang: _Lang = _EN) -> time | None:
    """'3pm', '9.30 a.m.', '15:00', '15' (24-hour, bare after "at"), '15 Uhr', '9h30' -> time;
    None if invalid."""
    named = lang.named_times.get(_key(token))
    if named is not None:
        return named
    m = _UHR.fullmatch(token) or (_H_CLOCK.fullmatch(token) if lang.h_clock else None)
    if m is not None:
        h, minute = int(m[1]), int(m[2] or 0)
        return time(h, minute) if h < 24 and minute < 60 else None
    ampm = _AMPM.search(token)
    clock = token[:ampm.start()] if ampm else token
    clock = clock.replace(".", ":")
    hour = clock.split(":")[0]
    if not hour.isdigit() or len(hour) > 2 or (ampm and not 1 <= int(hour) <= 12):
        return None  # dateutil accepts "13pm"
    if ":" not in clock:
        clock += ":00"  # dateutil reads a bare "15" as the 15th of the month
    try:
        parsed = _TIME_PARSER.parse(clock + (f" {ampm[1]}m" if ampm else ""), default=_EPOCH)
    except (ValueError, OverflowError):
        return None
    return parsed.time()


# --- clock: the spec in the user's zone -------------------------------------------------------
def _resolve(spec: _Spec, now: datetime, user_time: UserTime, *, bare: bool) -> MeetingRequest:
    tz = user_time.tz
    now_utc = now.astimezone(UTC)
    duration = spec.duration or DEFAULT_DURATION
    later = bool(spec.day or spec.clock is not None or spec.date)
    if spec.offset is not None:
        start_utc = now_utc + spec.offset
    elif later:
        start_utc = _wall_clock_start(spec, now_utc, user_time)
    else:
        start_utc = now_utc
    return MeetingRequest(
        subject=spec.subject or DEFAULT_SUBJECT,
        start=start_utc.astimezone(tz),
        end=(start_utc + duration).astimezone(tz),
        starts_now=spec.offset is None and not later,
        subject_given=bool(spec.subject),
        attendees=_unique(spec.attendees),
        scope=(AttendeeScope.EVERYONE if spec.everyone
               else AttendeeScope.MENTIONED if spec.attendees else AttendeeScope.NONE),
        bare=bare, date_reading=spec.date_reading,
        date_reading_template=spec.date_reading_template,
        date_reading_params=spec.date_reading_params or {})


def _wall_clock_start(spec: _Spec, now_utc: datetime, user_time: UserTime) -> datetime:
    """A day and/or time of day in the user's zone, as a UTC instant."""
    tz, L = user_time.tz, spec.lang
    if spec.clock is None:
        span = spec.date_span or spec.day_span or (0, 0)
        nine = L.date_nine if spec.date_span else L.day_nine
        _refuse(N_("“{text}” needs a time of day"),
                spec.example(span, f"{spec.text[span[0]:span[1]]} {nine}"),
                text=spec.date_shown or spec.shown(span))
    today = now_utc.astimezone(tz).date()
    weekday = L.weekdays.get(spec.day or "")
    if spec.date is not None:
        day = _calendar_day(spec, spec.date, today)
        if weekday is not None and day.weekday() != weekday.weekday:
            _refuse(N_("{date} is a {weekday}, not “{text}”"), spec.example(spec.day_span),
                    date=spec.reply.long_date(day, True),
                    weekday=spec.reply.weekday_names[day.weekday()],
                    text=spec.shown(spec.day_span))
        weekday = None  # the date says which week
    elif weekday is not None:
        # "monday" = the coming Monday (today if still ahead); "next monday" = after today.
        day = today + relativedelta(days=1 if spec.day_next else 0, weekday=weekday(+1))
    else:
        day = today + timedelta(days=L.relative_days.get(spec.day or "", 0))
    start = _in_zone(day, spec.clock, spec, tz, user_time.name)
    if weekday is not None and start < now_utc - PAST_GRACE:
        start = _in_zone(day + timedelta(weeks=1), spec.clock, spec, tz, user_time.name)
    if start < now_utc - PAST_GRACE:
        # Deliberately an error, not silently tomorrow: "at 9am" typed at 10:00 is more likely
        # a slip than a wish for tomorrow, and a meeting on the wrong day is worse than a retry.
        fix = (spec.example(spec.day_span or spec.date_span, L.tomorrow)
               if spec.day_span or spec.date_span
               else spec.example(spec.time_span and (spec.time_span[0], spec.time_span[0]),
                                 L.tomorrow))
        _refuse(N_("{time} has already passed today"), fix,
                time=spec.reply.write_hm(spec.clock))
    return start


def _calendar_day(spec: _Spec, typed: tuple[int | None, int | None, int], today: date) -> date:
    """The day a typed date names, at most a year ahead. With a year, that day. Without one,
    the coming such day; but when the last one is nearer than the next, the date is refused as
    past, not moved on ("Mar 8" typed on 10 March is a slip, not a plan for next year)."""
    year, month, day = typed
    shown, span, L, reply = spec.date_shown, spec.date_span, spec.lang, spec.reply
    tomorrow = spec.example(span, L.tomorrow)
    coming: date | None
    if month is None:  # "the 9th": this month's, or the next month's that has one
        if day > _days_in(today.month, today.year):
            _refuse(N_("“{text}”: {month} has {days} days"), tomorrow, text=shown,
                    month=reply.month_names[today.month - 1],
                    days=_days_in(today.month, today.year))
        last = today.replace(day=day)
        firsts = (date(today.year, today.month, 1) + relativedelta(months=k) for k in (1, 2))
        coming = next(f.replace(day=day) for f in firsts if day <= _days_in(f.month, f.year))
    elif year is None:
        years = [y for y in (today.year, today.year + 1) if day <= _days_in(month, y)]
        if not years:  # "Feb 29" in 2025
            _refuse(N_("“{text}”: there's no such day in {year} or {next_year}"),
                    spec.example(span, L.write_date(28, 2, None)), text=shown, year=today.year,
                    next_year=today.year + 1)
        last = date(years[0], month, day)
        coming = date(years[-1], month, day) if years[-1] > today.year else None
    else:
        if not 1 <= year <= 9999:
            _refuse(N_("“{text}” isn't a date I can use"), tomorrow, text=shown)
        last = date(year, month, day)
        coming = last
    chosen = last
    if last < today:
        if coming is None or coming == last or today - last <= coming - today:
            fix = (L.tomorrow if coming is None or coming == last
                   or coming > today + DATE_HORIZON
                   else L.write_date(coming.day, coming.month,
                                     None if month is None else coming.year))
            _refuse(N_("“{text}” is {date}, which is in the past"), spec.example(span, fix),
                    text=shown, date=reply.long_date(last, True))
        chosen = coming
    if chosen > today + DATE_HORIZON:
        _refuse(N_("“{text}” is {date}: I can schedule meetings up to a year ahead"), tomorrow,
                text=shown, date=reply.long_date(chosen, True))
    return chosen


def _in_zone(day: date, clock: time, spec: _Spec, tz: tzinfo, zone_name: str) -> datetime:
    """Wall-clock `day` + `clock` in `tz`, as UTC; refuses times a DST jump skips."""
    wall = datetime.combine(day, clock)
    start = wall.replace(tzinfo=tz).astimezone(UTC)
    if start.astimezone(tz).replace(tzinfo=None) != wall:
        shifted = start.astimezone(tz)
        _refuse(N_("{time} doesn't exist on {date} in {zone}: the clocks jump past it"),
                spec.example(spec.time_span, spec.lang.write_at(shifted.time(), False)),
                time=spec.reply.write_hm(wall.time()),
                date=spec.reply.long_date(wall.date(), False), zone=zone_name)
    return start


def _unique(people: list[Person]) -> tuple[Person, ...]:
    """One attendee per person: Teams may split one name into several mentions with one id."""
    seen: dict[str, Person] = {}
    for person in people:
        seen.setdefault(person.aad_object_id or person.teams_id or person.name.casefold(), person)
    return tuple(seen.values())
