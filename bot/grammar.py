"""The command grammar: what a user typed (plus their time zone, locale and "now") in, a `Command`
out.

Pure: no botbuilder, no I/O. `parse()` raises `ParseError` for a `meet` command it cannot
honour; text that is no command at all becomes `HelpRequest(reason=...)`.

    command  := ["/"] verb option* [subject option*]
    verb     := "meet" | "meeting" | "new meeting"
              | ("start" | "schedule" | "set up") ["a"] ["new"] "meeting"
    option   := "now" | ["at"] time | day | date | "in" duration | ["for"] duration
              | with-clause | ","
    day      := ["next" | "this" | "on"] ("today" | "tonight" | "tomorrow" | weekday)
    date     := ["on"] ( month daynum [","] [year] | daynum ["of"] month [year]
                       | ["the"] ordinal | yyyy-mm-dd | yyyy/mm/dd
                       | a/b[/year] | d.m.[year] )
    subject  := ("about" | "re" | ":" | "on" | "regarding") text | quoted | text
    with-clause := "with" (@mention | "everyone" | "channel" | "team" | "and" | "the" | ",")+

Options come in any order before the subject, and again after it: the subject is the words
between the first word that is not an option and the longest run of options that ends the
message ("meet about budget review for 45 minutes with @Ana" = subject "budget review").
`at`, `for` and `in` are options only when a number follows them; otherwise they begin or stay
in the subject ("meet for lunch", "meet now about time for change"). A weekday may accompany a
date ("Tue 9 Dec"); the two must agree. Numeric dates a/b follow the user's locale (month/day
for en-US and the other month-first locales in CLDR, else day/month); d.m. is always day.month.
A date without a year is the nearest such day; a past one is refused, not moved to next year.

Never "now" by accident: a word in the subject that looks like a time or date but was not
read as one (a valid one in the middle of an unintroduced subject, "25pm", "the 35th", a typo
of a day or month name such as "tomorow" or "Decmber") refuses the command, with a corrected
command to run when one is close. After "about"/"re"/":" such words are kept when more subject
text follows them ("meet about the Dec 9 launch"); a subject in quotes is always kept whole.

Times of day are read with dateutil and placed in the user's zone as wall-clock times; spans of
time ("in 10 min", the duration) are elapsed time, added in UTC so a DST switch cannot stretch
a meeting.
"""
from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import NamedTuple, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as _dateutil_parser
from dateutil.relativedelta import FR, MO, SA, SU, TH, TU, WE, relativedelta
from dateutil.relativedelta import weekday as _Weekday

from bot.errors import EXAMPLE, ParseError
from bot.models import (
    DEFAULT_SUBJECT,
    MAX_SUBJECT,
    UTC,
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


# --- tokens ---------------------------------------------------------------------------------
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
                 "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "forty-five": 45,
                 "forty five": 45, "sixty": 60, "ninety": 90}
_WORD_NUM = "|".join(sorted((re.escape(w).replace(r"\ ", r"\s+") for w in _NUMBER_WORDS),
                            key=len, reverse=True))
_MINUTES = r"m(?:in(?:ute)?s?)?"
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
          "w": timedelta(weeks=1)}  # keyed by the unit's first letter
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
_TOKEN = re.compile(rf"""
    \s*(?:
      (?P<mention>{_MENTION_OPEN}\d+{_MENTION_CLOSE})
    | (?P<date>{_DATE})(?![\w/:-]|\.\d)
    | (?P<time>{_TIME})(?![\w:])
    | (?P<duration>{_DURATION})(?![\w])
    | (?P<ordinal>\d+(?:st|nd|rd|th))(?!\w)
    | (?P<number>-?\d+(?:[.,]\d+)?)(?![\w])
    | (?P<colon>:)
    | (?P<punct>[,;&+])
    | (?P<word>[^\s:,;&+{_MENTION_OPEN}]+(?::[^\s:,;&+{_MENTION_OPEN}]+)*)
    )""", re.I | re.X)


class _Tok(NamedTuple):
    kind: str  # a group name of _TOKEN
    low: str  # lower-cased text
    start: int
    end: int
    match: re.Match[str]


def _tokenize(text: str, pos: int) -> list[_Tok]:
    tokens = []
    while m := _TOKEN.match(text, pos):  # every character belongs to some token kind
        kind = m.lastgroup
        start, pos = m.start(kind), m.end()
        tokens.append(_Tok(kind, m[kind].lower(), start, pos, m))
    return tokens


# --- vocabulary -----------------------------------------------------------------------------
# "call" forms are deliberately not verbs: "call me when you're back" and "call @Ana" are
# ordinary chat, and in Teams a call rings people now, which a meeting link does not.
_VERB = re.compile(r"/?(?:meet|meeting|new\s+meeting"
                   r"|(?:start|schedule|set\s*up)\s+(?:an?\s+)?(?:new\s+)?meeting)(?=$|[\s:])",
                   re.I)
_HELP = re.compile(r"/?(?:help|\?+|commands|what can you do)", re.I)
_SIGN_OUT = re.compile(r"/?(?:sign|log)\s*(?:out|off)", re.I)
_SUBJECT_INTRO = {"about", "re", ":", "on", "regarding"}
_NUMERIC = {"time", "duration", "number"}
_NUMERIC_START = re.compile(r"-?\d")  # "in 30s": meant as a number, so report it, not subject
_EVERYONE = {"everyone", "everybody", "all", "channel", "team", "@everyone", "@channel",
             "@team", "@all"}
_ATTENDEE_FILLER = {"and", "the", ",", "&", "+"}
_DAY_PREFIX = {"next", "this", "on"}
_RELATIVE_DAYS = {"today": 0, "tonight": 0, "tomorrow": 1, "tmrw": 1, "tmr": 1}
_PAST_DAYS = {"yesterday", "last"}
_VAGUE = {"week", "month", "weekend", "year"}  # "next week": not a day
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS: dict[str, _Weekday] = {}
for _names, _wd in ((("mon", "monday"), MO), (("tue", "tues", "tuesday"), TU),
                    (("wed", "weds", "wednesday"), WE), (("thu", "thur", "thurs", "thursday"), TH),
                    (("fri", "friday"), FR), (("sat", "saturday"), SA), (("sun", "sunday"), SU)):
    _WEEKDAYS.update(dict.fromkeys(_names, _wd))
_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december")
_MONTHS = {name: i for i, name in enumerate(_MONTH_NAMES, 1)}
_MONTHS.update({name[:3]: i for i, name in enumerate(_MONTH_NAMES, 1)})
_MONTHS["sept"] = 9
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February: in some year
# Words a typo is checked against, by first letter: a typo keeps the first letter or swaps it
# with the second, so a word is compared with a handful of candidates, not all (subjects are
# checked on every command that has one).
_TYPO_UNITS = ("minutes", "minute", "hours", "hour")


def _by_letter(words: Sequence[str]) -> dict[str, tuple[str, ...]]:
    return {letter: tuple(w for w in words if w[0] == letter) for letter in {w[0] for w in words}}


_TYPO_DAYS = _by_letter(("today", "tonight", "tomorrow", *_WEEKDAY_NAMES))
_TYPO_MONTHS = _by_letter(_MONTH_NAMES)
_TYPO_UNIT_WORDS = _by_letter(_TYPO_UNITS)
_KNOWN_WORDS = frozenset({*_WEEKDAYS, *_RELATIVE_DAYS, *_MONTHS, *_TYPO_UNITS,
                          *(name + "s" for name in _WEEKDAY_NAMES)})  # "mondays": a plain word
_AT_FOR_IN = frozenset({"at", "for", "in"})
_DATE_KINDS = frozenset({"date", "number", "ordinal"})  # what a date can start with…
_DATE_WORDS = frozenset({"on", "the", *_MONTHS, *(m + "." for m in _MONTHS)})  # …or these
_CONNECTORS = {"at", "on", "for", "in", "the", "of", "by", "next", "this", ",", "with", "and"}
_QUOTES = {'"': '"', "“": "”", "„": "“", "«": "»", "”": "”"}

_TIME_PARSER = _dateutil_parser.parser()
_EPOCH = datetime(2000, 1, 1)
_NAMED_TIMES = {"noon": time(12), "midday": time(12), "midnight": time(0)}
_AMPM = re.compile(r"\s*([ap])\.?m\.?$", re.I)
# A duration too large to represent is still just "too long" (or "too far ahead").
_HUGE = timedelta(days=999_999_999)


# --- the parse ------------------------------------------------------------------------------
class _Context(NamedTuple):
    now: datetime
    user_time: UserTime
    locale: str | None


def parse(text: str, *, now: datetime, user_time: UserTime,
          mentions: Sequence[Mention] = (), locale: str | None = None) -> Command:
    """Read one message. Raises ParseError for a `meet` command that cannot be honoured.

    `locale` is the sender's BCP-47 locale (Teams' `activity.locale`, e.g. "en-GB"): it decides
    whether "12/9" is 9 December or 12 September. Without one, month/day is used and the request
    notes how an ambiguous date was read."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    cleaned, people = _clean(text, mentions)
    ctx = _Context(now, user_time, locale)
    try:
        return _parse_cleaned(cleaned, people, ctx)
    except ParseError as err:
        _settle(err, people, ctx)
        raise


def _parse_cleaned(cleaned: str, people: list[_Mentioned], ctx: _Context) -> Command:
    verb = _VERB.match(cleaned)
    if verb is None:
        return _not_a_meet_command(cleaned, people)
    if _HELP.fullmatch(cleaned, verb.end() + 1):  # "meet help", "meet ?"
        return HelpRequest()
    _check_length(cleaned[verb.end():], people)
    spec = _Reader(cleaned, people, _tokenize(cleaned, verb.end()), ctx.locale).read()
    request = _resolve(spec, ctx.now, ctx.user_time)
    if not cleaned[verb.end():].strip():
        request = replace(request, bare=True)
    return request


def _check_length(rest: str, people: Sequence[_Mentioned]) -> None:
    if len(rest) <= MAX_COMMAND:
        return
    words = len(_PLACEHOLDER.sub("", rest)) - _PER_MENTION * len(people)
    if words > MAX_COMMAND:
        raise ParseError(f"That command is {words:,} characters long, more than I read "
                         f"({MAX_COMMAND:,}); a subject can have up to {MAX_SUBJECT}")


def _settle(err: ParseError, people: list[_Mentioned], ctx: _Context) -> None:
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
        err.example = _checked_example(err.example, people, ctx)


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


def _checked_example(example: str, people: list[_Mentioned], ctx: _Context) -> str:
    """The fix we suggest, built from the user's own words, if it parses; else the stock one.

    Examples are in the cleaned form (mention placeholders), so mentions survive the check."""
    try:
        ok = isinstance(_parse_cleaned(example, people, ctx), MeetingRequest)
    except ParseError:
        ok = False
    return _display(example, people, "@") if ok else EXAMPLE


def _not_a_meet_command(cleaned: str, people: Sequence[_Mentioned]) -> Command:
    if not cleaned or _HELP.fullmatch(cleaned):
        return HelpRequest()
    if _SIGN_OUT.fullmatch(cleaned):
        return SignOutRequest()
    shown = _display(cleaned, people, "@")
    if len(shown) > 40:
        shown = shown[:39].rstrip() + "…"
    return HelpRequest(reason=f"I didn't recognise “{shown}”")


Span = tuple[int, int]


@dataclass(slots=True)
class _Spec:
    """What the words said, before any clock is consulted. Spans index the cleaned text."""

    text: str
    people: list[_Mentioned]
    now: Span | None = None
    offset: timedelta | None = None  # "in 10 min"
    offset_span: Span | None = None
    day: str | None = None  # lower-cased day word
    day_next: bool = False
    day_span: Span | None = None
    date: tuple[int | None, int | None, int] | None = None  # (year, month, day) as typed
    date_span: Span | None = None  # with a leading "on", which an example replaces too
    date_shown: str = ""  # the date as typed, for messages
    date_reading: str | None = None
    clock: time | None = None  # time of day
    time_span: Span | None = None
    duration: timedelta | None = None
    duration_span: Span | None = None
    subject: str = ""
    attendees: list[Person] = field(default_factory=list)
    everyone: bool = False

    def shown(self, span: Span) -> str:
        shown = _display(self.text[span[0]:span[1]], self.people)
        return shown if len(shown) <= _MAX_SHOWN else shown[:_MAX_SHOWN - 1] + "…"

    def example(self, span: Span, replacement: str = "") -> str:
        """The user's own command with `span` replaced (an empty span inserts); `parse` checks
        it and falls back to the stock example if it does not parse."""
        a, b = span
        return " ".join(f"{self.text[:a]} {replacement} {self.text[b:]}".split())


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


def _month_of(tok: _Tok | None) -> int | None:
    return _MONTHS.get(tok.low.rstrip(".")) if tok is not None and tok.kind == "word" else None


def _small_int(digits: str) -> int | None:
    """A day, month, year or hour as typed; None for what is no such number (or absurdly long)."""
    digits = digits[:-2] if digits[-2:].isalpha() else digits  # "9th" -> 9
    return int(digits) if digits.isdigit() and len(digits) <= 4 else None


class _Reader:
    """Fills a _Spec: the options before the subject left to right, then the subject and the
    options that end the message."""

    def __init__(self, text: str, people: list[_Mentioned], tokens: list[_Tok],
                 locale: str | None) -> None:
        self.spec = _Spec(text, people)
        self.toks = tokens
        self.locale = locale
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
        return self.spec

    # -- what is an option (syntax only: nothing is checked or refused here) -----------------
    def match(self, j: int, strict: bool = False) -> _Opt | None:  # noqa: C901 - one per form
        """The option starting at token j. `strict`: only the forms that may end a subject (no
        refusals such as "yesterday" or a bare "30", no "with" that names nobody)."""
        toks = self.toks
        tok = toks[j]
        low, kind = tok.low, tok.kind
        if low == "now":
            return _Opt("now", j, 1)
        if kind == "time" or kind == "duration":
            return _Opt(kind, j, 1)
        nxt = toks[j + 1] if j + 1 < len(toks) else None
        if low in _AT_FOR_IN and nxt is not None and (
                nxt.kind in _NUMERIC or _NUMERIC_START.match(nxt.low) is not None):
            if strict and nxt.kind == "number" and len(nxt.low.lstrip("-")) > 2:
                return None  # "about goals in 2026": a year or a count, not a time
            return _Opt(low, j, 2)
        if (kind in _DATE_KINDS or low in _DATE_WORDS) and (words := self.date_at(j)) is not None:
            return _Opt("date", j, words.n)
        prefixed = low in _DAY_PREFIX and nxt is not None
        day = nxt if prefixed else tok
        if day.low in _RELATIVE_DAYS or day.low in _WEEKDAYS:
            return _Opt("day", j, 2 if prefixed else 1)
        if low in ("next", "this") and nxt is not None and nxt.low in _VAGUE:
            return _Opt("vague", j, 2)
        if low == "with":
            named = self.attendees_at(j + 1)
            return _Opt("with", j, 1 + named) if named or not strict else None
        if tok.kind == "punct" and low == ",":
            return _Opt("sep", j, 1)
        if strict:
            return None
        if low in _PAST_DAYS:
            return _Opt("past", j, 2 if low == "last" and nxt is not None
                        and nxt.low in _WEEKDAYS else 1)
        if tok.kind == "number" and (nxt is None or nxt.low in _SUBJECT_INTRO
                                     or nxt.low == "with" or nxt.kind in _NUMERIC):
            return _Opt("unitless", j, 1)
        return None

    def date_at(self, j: int) -> _DateWords | None:
        k = j + (self.toks[j].low == "on")
        the = (t := self.tok(k)) is not None and t.low == "the"
        k += the
        t = self.tok(k)
        if t is None:
            return None
        if t.kind == "date" and not the:
            return _DateWords(k + 1 - j, t, None, None, None)
        month = _month_of(t)
        if month is not None and not the:  # Dec 9 [,] [2026]
            day = self.tok(k + 1)
            if not _is_day_number(day):
                return None
            end, year = k + 2, None
            c = self.tok(end)
            comma = c is not None and c.low == "," and _is_year(self.tok(end + 1))
            if _is_year(self.tok(end + comma)):
                year, end = self.tok(end + comma), end + comma + 1
            return _DateWords(end - j, None, month, day, year)
        if _is_day_number(t):  # 9 Dec [2026], 9th of December, (on) the 9th
            m = k + 1 + ((o := self.tok(k + 1)) is not None and o.low == "of")
            month = _month_of(self.tok(m))
            if month is not None:
                year = self.tok(m + 1) if _is_year(self.tok(m + 1)) else None
                return _DateWords(m + 1 + (year is not None) - j, None, month, t, year)
            if t.kind == "ordinal" and k > j:
                return _DateWords(k + 1 - j, None, None, t, None)
        return None

    def attendees_at(self, j: int) -> int:
        """How many tokens from j name attendees (fillers between names included); 0: nobody."""
        k, last_named = j, j
        while (tok := self.tok(k)) is not None and (tok.kind == "mention" or tok.low in _EVERYONE
                                                    or tok.low in _ATTENDEE_FILLER):
            k += 1
            if tok.low not in _ATTENDEE_FILLER:
                last_named = k
        return last_named - j

    # -- applying an option: where values are checked ----------------------------------------
    def apply(self, opt: _Opt) -> None:  # noqa: C901 - one branch per option reads best
        kind, j, n = opt
        first, last = self.toks[j], self.toks[j + n - 1]
        span = (first.start, last.end)
        s = self.spec
        if kind == "now":
            self.set_start_now(span)
        elif kind == "time":
            self.set_time(span, first)
        elif kind == "at":
            self.set_time(span, last)
        elif kind == "duration":
            self.set_duration(span, first, first)
        elif kind == "for":
            self.set_duration(span, first, last)
        elif kind == "in":
            self.set_offset(span, last)
        elif kind == "date":
            typed = self.toks[j + 1] if first.low == "on" else first  # "on" is not the date
            self.set_date(self.date_at(j), span, s.shown((typed.start, last.end)))
        elif kind == "day":
            self.set_day(first, last, span)
        elif kind == "with":
            if n == 1:
                nxt = self.tok(j + 1)
                span = (first.start, nxt.end if nxt else first.end)
                self.fail(f"To invite people, type @ and pick them (“{s.shown(span)}” "
                          "names nobody I can invite)", s.example(span))
            for tok in self.toks[j + 1:j + n]:
                if tok.kind == "mention":
                    s.attendees.append(s.people[int(tok.low[1:-1])].person)
                elif tok.low in _EVERYONE:
                    s.everyone = True
        elif kind == "vague":
            later_time = any(t.kind == "time" for t in self.toks[j + n:])
            self.fail(f"“{s.shown(span)}” isn't a day: say which day, like next monday",
                      s.example(span, "next monday" if later_time else "next monday 9am"))
        elif kind == "past":
            day_named = n == 2
            fix = (f"next {last.low}" if day_named else "9am" if s.day or s.date else "tomorrow")
            self.fail(f"“{s.shown(span)}” is in the past", s.example(span, fix))
        elif kind == "unitless":
            self.fail(f"“{first.low}” needs a unit, like {first.low}m or {first.low} min",
                      s.example(span, f"{first.low.lstrip('-')}m"))
        self.i = j + n

    # -- start -------------------------------------------------------------------------------
    def start_spans(self) -> list[Span]:
        s = self.spec
        return [sp for sp in (s.now, s.offset_span, s.day_span, s.date_span, s.time_span) if sp]

    def conflict(self, what: str, first: Span, second: Span) -> None:
        s = self.spec
        self.fail(f"You gave two {what}, “{s.shown(first)}” and “{s.shown(second)}”",
                  s.example(second))

    def set_start_now(self, span: Span) -> None:
        if self.start_spans():
            self.conflict("start times", self.start_spans()[0], span)
        self.spec.now = span

    def set_offset(self, span: Span, value: _Tok) -> None:
        if self.start_spans():
            self.conflict("start times", self.start_spans()[0], span)
        offset = self.duration_of(value, span)
        if offset < timedelta(0):
            self.fail(f"“{self.spec.shown(span)}” is in the past",
                      self.spec.example(span, "in 10 min"))
        if offset > MAX_OFFSET:
            self.fail(f"“{self.spec.shown(span)}” is too far ahead: “in …” reaches 60 days; "
                      "for later, give the date", self.spec.example(span, "tomorrow 9am"))
        self.spec.offset, self.spec.offset_span = offset, span

    def set_time(self, span: Span, value: _Tok) -> None:
        s = self.spec
        if s.time_span:
            self.conflict("times", s.time_span, span)
        if s.now or s.offset_span:
            self.conflict("start times", s.now or s.offset_span, span)
        s.clock, s.time_span = self.time_of(value, span), span

    def set_day(self, prefix: _Tok, day: _Tok, span: Span) -> None:
        s = self.spec
        if s.day_span:
            self.conflict("days", s.day_span, span)
        if s.now or s.offset_span:
            self.conflict("start times", s.now or s.offset_span, span)
        if s.date_span and day.low not in _WEEKDAYS:  # "Tue 9 Dec" may pair; "tomorrow Dec 9" not
            self.conflict("days", s.date_span, span)
        prefixed = prefix is not day
        if prefixed and prefix.low == "next" and day.low in _RELATIVE_DAYS:
            self.fail(f"“{s.shown(span)}” isn't a day I know", s.example(span, day.low))
        s.day, s.day_next, s.day_span = day.low, prefixed and prefix.low == "next", span

    def set_date(self, words: _DateWords, span: Span, shown: str) -> None:
        s = self.spec
        s.date_shown = shown
        if s.date_span:
            self.conflict("dates", s.date_span, span)
        if s.now or s.offset_span:
            self.conflict("start times", s.now or s.offset_span, span)
        if s.day_span and s.day not in _WEEKDAYS:
            self.conflict("days", s.day_span, span)
        if words.numeric is not None:
            s.date, s.date_reading = self.numeric_date(words.numeric, span)
        else:
            s.date = self.worded_date(words, span)
        s.date_span = span

    def worded_date(self, words: _DateWords, span: Span) -> tuple[int | None, int | None, int]:
        s = self.spec
        day = _small_int(words.day.low)
        year = int(words.year.low) if words.year is not None else None
        if words.month is None:
            if day is None or not 1 <= day <= 31:
                self.fail(f"“{s.date_shown}” isn't a day of the month",
                          s.example(span, "tomorrow"))
            return None, None, day
        last = _days_in(words.month, year)
        if day is None or not 1 <= day <= last:
            name = _MONTH_NAMES[words.month - 1].capitalize()
            self.fail(f"“{s.date_shown}” isn't a date: {name} has {last} days"
                      + ("" if year is not None or words.month != 2 else " at most"),
                      s.example(span, f"{name[:3]} {last if words.month != 2 else 28}"))
        return year, words.month, day

    def numeric_date(self, tok: _Tok, span: Span) -> tuple[tuple[int | None, int, int], str | None]:
        """A date written in digits, as (year, month, day), and how an ambiguous one was read."""
        s, raw = self.spec, tok.low
        if raw[:4].isdigit():  # 2026-12-11, 2026/12/11
            y, m, d = (int(p) for p in re.split("[-/]", raw))
            if not (1 <= m <= 12 and 1 <= d <= _days_in(m, y)):
                self.fail(f"“{s.date_shown}” isn't a date", s.example(span, "tomorrow"))
            return (y, m, d), None
        parts = [p for p in re.split("[/.]", raw) if p]
        year = None
        if len(parts) == 3:
            if len(parts[2]) not in (2, 4):
                self.fail(f"“{s.date_shown}” isn't a date I can read",
                          s.example(span, "tomorrow"))
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
                self.fail(f"“{s.date_shown}” isn't a date", s.example(span, "tomorrow"))
            return (year, m, d), None
        order = "month/day" if first_month else "day/month"
        if valid(m, d):  # both readings are dates: say which one was used
            why = (f"as {self.locale} writes dates" if self.locale
                   else "Teams didn't tell me your locale")
            month = _MONTH_NAMES[m - 1].capitalize()
            return (year, m, d), f"“{s.date_shown}” read as {d} {month} ({order}, {why})"
        if valid(*other):
            m, d = other
            written = f"{_MONTH_NAMES[m - 1].capitalize()[:3]} {d}" + (f" {year}" if year else "")
            if self.locale is None:  # the only reading there is, and no locale to say otherwise
                return (year, m, d), None
            self.fail(f"“{s.date_shown}” isn't a date in {order} order, as {self.locale} "
                      "writes dates", s.example(span, written), s.example(span, written))
        self.fail(f"“{s.date_shown}” isn't a date", s.example(span, "tomorrow"))

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
            self.fail(f"“{s.shown(span)}” is a negative duration",
                      s.example(span, self.spec.text[span[0]:span[1]].replace("-", "", 1)))
        if duration < MIN_DURATION:
            self.fail(f"“{s.shown(span)}” is too short: a meeting needs at least 1 minute",
                      s.example(span, "15m"))
        if duration > MAX_DURATION:
            self.fail(f"“{s.shown(span)}” is too long: a meeting can last at most 24 hours",
                      s.example(span, "for 24h" if kw.low == "for" else "24h"))
        s.duration, s.duration_span = duration, span

    def duration_of(self, tok: _Tok, span: Span) -> timedelta:
        if tok.kind != "duration":
            self.fail(f"I couldn't read “{self.spec.shown(span)}” as a length of time",
                      self.spec.example(span, f"{self.spec.text[span[0]:tok.start]}30 min"))
        try:
            return _duration(tok.match)
        except (OverflowError, ValueError):  # "99999999999999999999h": more than fits
            return -_HUGE if tok.match["neg"] else _HUGE

    def time_of(self, tok: _Tok, span: Span) -> time:
        hour = _small_int(tok.low) if tok.kind == "number" else None
        if hour is not None and 1 <= hour <= 12:
            # Office hours decide the guess we offer: 7-11 in the morning, 12-6 afternoon.
            fix = self.spec.example(span, f"at {hour}{'am' if 7 <= hour <= 11 else 'pm'}")
            self.fail(f"“{self.spec.shown(span)}” could be morning or afternoon: "
                      f"say {hour}am or {hour}pm", fix, fix)
        parsed = (_time_of_day(tok.low) if tok.kind == "time" or tok.low.isdigit() else None)
        if parsed is None:
            self.fail(f"“{self.spec.shown((tok.start, tok.end))}” is not a time of day",
                      self.spec.example(span, "at 15:00"))
        return parsed

    # -- subject -----------------------------------------------------------------------------
    def subject(self) -> None:
        """The words up to the options that end the message, less a leading intro word."""
        first = self.i
        while (tok := self.tok(self.i)) is not None and tok.low in _SUBJECT_INTRO and (
                tok.low != "on" or self.i == first):
            self.i += 1
        body, end = self.i, len(self.toks)
        if body >= end:
            intro = self.toks[first]
            self.fail(f"“{intro.low}” needs a subject after it",
                      self.spec.example((intro.end, intro.end), "budget review"))
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
        while self.i < end:
            opt = self.match(self.i, strict=True)
            if opt.kind == "vague":  # "meet about plans for next week": which was meant?
                s, span = self.spec, (self.toks[opt.at].start, self.toks[opt.at + 1].end)
                subject = (self.toks[body].start, span[1])
                self.fail(f"“{s.shown(span)}” isn't a day: say which day, like next monday, or "
                          "put a subject with these words in quotes",
                          s.example(subject, f'"{s.text[subject[0]:subject[1]]}"'))
            self.apply(opt)

    def subject_text(self, body: int, stop: int) -> str:
        span = (self.toks[body].start, self.toks[stop - 1].end)
        subject = _display(self.spec.text[span[0]:span[1]], self.spec.people)
        if len(subject) > MAX_SUBJECT:
            cut = subject[:60].rsplit(" ", 1)[0]
            self.fail(f"The subject is {len(subject)} characters long; please keep it under "
                      f"{MAX_SUBJECT}", self.spec.example(span, cut))
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
            self.fail("The quotes have no subject in them",
                      s.example((inner[0], inner[1]), "budget review"))
        if len(s.subject) > MAX_SUBJECT:
            self.fail(f"The subject is {len(s.subject)} characters long; please keep it under "
                      f"{MAX_SUBJECT}", s.example(inner, s.subject[:60].rsplit(" ", 1)[0]))
        self.i = close + 1
        while self.i < len(self.toks):
            opt = self.match(self.i)
            if opt is None:
                rest = (self.toks[self.i].start, self.toks[-1].end)
                self.fail(f"I couldn't read “{s.shown(rest)}” after the subject",
                          s.example(rest))
            self.apply(opt)

    def question(self, lo: int, hi: int, *, introduced: bool) -> None:
        """Refuse a subject holding words that look like a time or date but were not read.

        All of an unintroduced subject is checked ("meet tomorow at 9 about standup"); after
        "about" only its tail, so "meet about the Dec 9 launch" keeps its words."""
        check = lo
        if introduced:
            check = hi
            while check > lo and (self.toks[check - 1].low in _CONNECTORS
                                  or self.timeish(check - 1, hi)):
                check -= 1
        for j in range(check, hi):
            opt = self.match(j, strict=True)
            if opt is not None and opt.kind not in ("sep", "with"):
                self.unread_option(opt, lo, hi)
            if (fix := self.typo_fix(j)) is not None:
                tok = self.toks[j]
                typed = self.spec.text[tok.start:tok.end]
                fixed = fix.capitalize() if typed[:1].isupper() else fix
                fixed_text = self.spec.example((tok.start, tok.end), fixed)
                self.fail(f"I couldn't read “{typed}”", fixed_text, fixed_text)

    def timeish(self, j: int, hi: int) -> bool:
        opt = self.match(j, strict=True)
        return (opt is not None and opt.kind not in ("sep", "with") and j + opt.n <= hi
                or self.typo_fix(j) is not None)

    def unread_option(self, opt: _Opt, lo: int, hi: int) -> None:
        """A time or date inside the subject: its own error if it isn't one ("25pm"), else
        ask which it is: meeting time or words of the subject."""
        probe = _Reader(self.spec.text, self.spec.people, self.toks, self.locale)
        probe.apply(opt)
        s = self.spec
        span = (self.toks[opt.at].start, self.toks[opt.at + opt.n - 1].end)
        subject = (self.toks[lo].start, self.toks[hi - 1].end)
        self.fail(f"I couldn't tell if “{s.shown(span)}” is when to meet or part of the "
                  "subject (put a subject with such words in quotes)",
                  s.example(subject, f'"{s.text[subject[0]:subject[1]]}"'))

    def typo_fix(self, j: int) -> str | None:
        """The time word token j is a typo of ("tomorow", "wendesday"; "Decmber 9" next to a
        day number; "45 minuts" after a number), or None."""
        tok = self.toks[j]
        word = tok.low.rstrip(".")
        if tok.kind != "word" or len(word) < 4 or word in _KNOWN_WORDS or "'" in word \
                or "’" in word:
            return None
        fix = _closest(word, _TYPO_DAYS)
        prev, nxt = self.tok(j - 1), self.tok(j + 1)
        if prev is not None and prev.low == "of":  # "the 5th of Ocotber"
            prev = self.tok(j - 2)
        if fix is None and (_is_day_number(prev) or _is_day_number(nxt)):
            fix = _closest(word, _TYPO_MONTHS)
        if fix is None and prev is not None and prev.kind == "number":
            fix = _closest(word, _TYPO_UNIT_WORDS)
        return fix

    @staticmethod
    def fail(reason: str, example: str, suggestion: str | None = None) -> NoReturn:
        raise ParseError(reason, example, suggestion)


def _closest(word: str, table: dict[str, tuple[str, ...]]) -> str | None:
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


def _duration(m: re.Match[str]) -> timedelta:
    if m["half_hour"]:
        return timedelta(minutes=30)
    if m["quarter"]:
        return timedelta(minutes=15)
    if m["three_quarters"]:
        return timedelta(minutes=45)
    amount = (float(m["n1"].replace(",", ".")) if m["n1"]
              else _NUMBER_WORDS[" ".join(m["w1"].lower().split())])
    if m["half1"] or m["half2"]:
        amount += 0.5
    total = amount * _UNITS[(m["u1"] or m["u1_other"])[0].lower()]
    if m["n2_bare"] or m["n2"]:
        total += timedelta(minutes=int(m["n2_bare"] or m["n2"]))
    return -total if m["neg"] else total


def _time_of_day(token: str) -> time | None:
    """'3pm', '9.30 a.m.', '15:00', '15' (24-hour, bare after "at") -> time; None if invalid."""
    if token in _NAMED_TIMES:
        return _NAMED_TIMES[token]
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
def _resolve(spec: _Spec, now: datetime, user_time: UserTime) -> MeetingRequest:
    tz = user_time.tz
    now_utc = now.astimezone(UTC)
    duration = spec.duration or DEFAULT_DURATION
    later = bool(spec.day or spec.clock or spec.date)
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
        date_reading=spec.date_reading)


def _wall_clock_start(spec: _Spec, now_utc: datetime, user_time: UserTime) -> datetime:
    """A day and/or time of day in the user's zone, as a UTC instant."""
    tz = user_time.tz
    if spec.clock is None:
        span = spec.date_span or spec.day_span
        sep = " at " if spec.date_span else " "
        raise ParseError(f"“{spec.date_shown or spec.shown(span)}” needs a time of day",
                         spec.example(span, f"{spec.text[span[0]:span[1]]}{sep}9am"))
    today = now_utc.astimezone(tz).date()
    weekday = _WEEKDAYS.get(spec.day or "")
    if spec.date is not None:
        day = _calendar_day(spec, today)
        if weekday is not None and day.weekday() != weekday.weekday:
            raise ParseError(f"{_long(day)} is a {day:%A}, not “{spec.shown(spec.day_span)}”",
                             spec.example(spec.day_span))
        weekday = None  # the date says which week
    elif weekday is not None:
        # "monday" = the coming Monday (today if still ahead); "next monday" = after today.
        day = today + relativedelta(days=1 if spec.day_next else 0, weekday=weekday(+1))
    else:
        day = today + timedelta(days=_RELATIVE_DAYS.get(spec.day or "today", 0))
    start = _in_zone(day, spec, tz, user_time.name)
    if weekday is not None and start < now_utc - PAST_GRACE:
        start = _in_zone(day + timedelta(weeks=1), spec, tz, user_time.name)
    if start < now_utc - PAST_GRACE:
        # Deliberately an error, not silently tomorrow: "at 9am" typed at 10:00 is more likely
        # a slip than a wish for tomorrow, and a meeting on the wrong day is worse than a retry.
        when = _hm(spec.clock)
        fix = (spec.example(spec.day_span or spec.date_span, "tomorrow")
               if spec.day_span or spec.date_span
               else spec.example((spec.time_span[0], spec.time_span[0]), "tomorrow"))
        raise ParseError(f"{when} has already passed today", fix)
    return start


def _calendar_day(spec: _Spec, today: date) -> date:
    """The day a typed date names, at most a year ahead. With a year, that day. Without one,
    the coming such day; but when the last one is nearer than the next, the date is refused as
    past, not moved on ("Mar 8" typed on 10 March is a slip, not a plan for next year)."""
    year, month, day = spec.date
    shown, span = spec.date_shown, spec.date_span
    if month is None:  # "the 9th": this month's, or the next month's that has one
        if day > _days_in(today.month, today.year):
            raise ParseError(f"“{shown}”: {today:%B} has {_days_in(today.month, today.year)} days",
                             spec.example(span, "tomorrow"))
        last = today.replace(day=day)
        firsts = (date(today.year, today.month, 1) + relativedelta(months=k) for k in (1, 2))
        coming = next(f.replace(day=day) for f in firsts if day <= _days_in(f.month, f.year))
    elif year is None:
        years = [y for y in (today.year, today.year + 1) if day <= _days_in(month, y)]
        if not years:  # "Feb 29" in 2025
            raise ParseError(f"“{shown}”: there's no such day in {today.year} or "
                             f"{today.year + 1}", spec.example(span, "Feb 28"))
        last = date(years[0], month, day)
        coming = date(years[-1], month, day) if years[-1] > today.year else None
    else:
        if not 1 <= year <= 9999:
            raise ParseError(f"“{shown}” isn't a date I can use", spec.example(span, "tomorrow"))
        last = coming = date(year, month, day)
    chosen = last
    if last < today:
        if coming is None or coming == last or today - last <= coming - today:
            fix = ("tomorrow" if coming is None or coming == last or coming > today + DATE_HORIZON
                   else f"{coming:%b} {coming.day}" + ("" if month is None else f" {coming.year}"))
            raise ParseError(f"“{shown}” is {_long(last)}, which is in the past",
                             spec.example(span, fix))
        chosen = coming
    if chosen > today + DATE_HORIZON:
        raise ParseError(f"“{shown}” is {_long(chosen)}: I can schedule meetings up to a year "
                         "ahead", spec.example(span, "tomorrow"))
    return chosen


def _long(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B} {day.year}"


def _in_zone(day: date, spec: _Spec, tz: tzinfo, zone_name: str) -> datetime:
    """Wall-clock `day` + spec.clock in `tz`, as UTC; refuses times a DST jump skips."""
    wall = datetime.combine(day, spec.clock)
    start = wall.replace(tzinfo=tz).astimezone(UTC)
    if start.astimezone(tz).replace(tzinfo=None) != wall:
        shifted = start.astimezone(tz)
        raise ParseError(
            f"{_hm(wall)} doesn't exist on {wall:%A} {wall.day} {wall:%B} in {zone_name}: "
            "the clocks jump past it",
            spec.example(spec.time_span, f"at {_hm(shifted)}"))
    return start


def _hm(t: time | datetime) -> str:
    return f"{t.hour}:{t.minute:02d}"


def _unique(people: list[Person]) -> tuple[Person, ...]:
    """One attendee per person: Teams may split one name into several mentions with one id."""
    seen: dict[str, Person] = {}
    for person in people:
        seen.setdefault(person.aad_object_id or person.teams_id or person.name.casefold(), person)
    return tuple(seen.values())
