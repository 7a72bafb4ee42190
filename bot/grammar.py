"""The command grammar: what a user typed (plus their time zone and "now") in, a `Command` out.

Pure: no botbuilder, no I/O. `parse()` raises `ParseError` for a `meet` command it cannot
honour; text that is no command at all becomes `HelpRequest(reason=...)`.

    command  := ["/"] verb option* [subject] [with-clause]
    verb     := "meet" | "meeting"
    option   := "now" | ["at"] time | day | "in" duration | ["for"] duration | with-clause
    day      := ["next" | "this" | "on"] ("today" | "tonight" | "tomorrow" | weekday)
    subject  := ("about" | "re" | ":" | "on") text | text
    with-clause := "with" (@mention | "everyone" | "channel" | "team" | "and" | "the" | ",")+

Options may come in any order; the subject starts at the first word that is not an option and
runs to the end of the message, less a trailing with-clause (so "about coffee with @Ana" invites
Ana, while "about coffee with milk" is all subject). `at`, `for` and `in` are options only when a
number follows them; otherwise they begin the subject ("meet for lunch").

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
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as _dateutil_parser
from dateutil.relativedelta import FR, MO, SA, SU, TH, TU, WE, relativedelta
from dateutil.relativedelta import weekday as _Weekday

from bot.errors import EXAMPLE, ParseError
from bot.models import (
    UTC,
    AttendeeScope,
    Command,
    HelpRequest,
    MeetingRequest,
    Person,
    SignOutRequest,
    UserTime,
)

DEFAULT_SUBJECT = "Quick meeting"
DEFAULT_DURATION = timedelta(minutes=30)
MIN_DURATION = timedelta(minutes=1)
MAX_DURATION = timedelta(hours=24)
# A start this far in the past is still "now-ish" (slow typing, clock skew); beyond it, refused.
PAST_GRACE = timedelta(minutes=5)
# Graph keeps an online meeting for 60 days after its start/end (Microsoft Graph onlineMeeting
# resource, `expiryDateTime`); we take the same window as the farthest a typed "meet" may reach:
# months ahead is more likely a slip ("in 90 days" for "90 min") than a plan.
MAX_AHEAD = timedelta(days=60)
# Exchange limits an item subject to 255 characters; leave room for the router's decorations.
# Longer subjects are refused, not trimmed: a pasted paragraph is almost always a mistake, and
# a silently cut title would only be noticed in the meeting itself.
MAX_SUBJECT = 250


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


# --- cleaning: Teams HTML -> plain text with mention placeholders ----------------------------
# Other people's mentions become "\ue000<i>\ue001" (private-use characters, removed from the
# input first), so the tokenizer sees them as one token and the subject can show the name.
_MENTION_OPEN, _MENTION_CLOSE = "\ue000", "\ue001"
_DROP_CHARS = {ord(c): None for c in "\ue000\ue001\u200b\u200c\u200d\u2060\ufeff"}
_AT_TAG = re.compile(r"<at\b[^>]*>(.*?)</at>", re.I | re.S)
_BLOCK_TAG = re.compile(r"</?(?:p|div|br|li|ul|ol|tr|td|h\d)\b[^>]*>", re.I)
_ANY_TAG = re.compile(r"</?[a-z][^>]*>", re.I)
_TRAILING_PUNCT = re.compile(r"[\s.,!?;]+$")
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
    return _TRAILING_PUNCT.sub("", text), people


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
_TOKEN = re.compile(rf"""
    \s*(?:
      (?P<mention>{_MENTION_OPEN}\d+{_MENTION_CLOSE})
    | (?P<time>{_TIME})(?![\w:])
    | (?P<duration>{_DURATION})(?![\w])
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
_VERB = re.compile(r"/?(?:meet|meeting)(?=$|[\s:])", re.I)
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
_WEEKDAYS: dict[str, _Weekday] = {}
for _names, _wd in ((("mon", "monday"), MO), (("tue", "tues", "tuesday"), TU),
                    (("wed", "weds", "wednesday"), WE), (("thu", "thur", "thurs", "thursday"), TH),
                    (("fri", "friday"), FR), (("sat", "saturday"), SA), (("sun", "sunday"), SU)):
    _WEEKDAYS.update(dict.fromkeys(_names, _wd))

_TIME_PARSER = _dateutil_parser.parser()
_EPOCH = datetime(2000, 1, 1)
_NAMED_TIMES = {"noon": time(12), "midday": time(12), "midnight": time(0)}
_AMPM = re.compile(r"\s*([ap])\.?m\.?$", re.I)


# --- the parse ------------------------------------------------------------------------------
def parse(text: str, *, now: datetime, user_time: UserTime,
          mentions: Sequence[Mention] = ()) -> Command:
    """Read one message. Raises ParseError for a `meet` command that cannot be honoured."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    cleaned, people = _clean(text, mentions)
    try:
        return _parse_cleaned(cleaned, people, now, user_time)
    except ParseError as err:
        err.example = _checked_example(err.example, people, now, user_time)
        raise


def _parse_cleaned(cleaned: str, people: list[_Mentioned], now: datetime,
                   user_time: UserTime) -> Command:
    verb = _VERB.match(cleaned)
    if verb is None:
        return _not_a_meet_command(cleaned, people)
    if _HELP.fullmatch(cleaned, verb.end() + 1):  # "meet help", "meet ?"
        return HelpRequest()
    spec = _Reader(cleaned, people, _tokenize(cleaned, verb.end())).read()
    request = _resolve(spec, now, user_time)
    if not cleaned[verb.end():].strip():
        request = replace(request, bare=True)
    return request


def _checked_example(example: str, people: list[_Mentioned], now: datetime,
                     user_time: UserTime) -> str:
    """The fix we suggest, built from the user's own words, if it parses; else the stock one.

    Examples are in the cleaned form (mention placeholders), so mentions survive the check."""
    try:
        ok = isinstance(_parse_cleaned(example, people, now, user_time), MeetingRequest)
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


@dataclass(slots=True)
class _Spec:
    """What the words said, before any clock is consulted. Spans index the cleaned text."""

    text: str
    people: list[_Mentioned]
    now: tuple[int, int] | None = None
    offset: timedelta | None = None  # "in 10 min"
    offset_span: tuple[int, int] | None = None
    day: str | None = None  # lower-cased day word
    day_next: bool = False
    day_span: tuple[int, int] | None = None
    clock: time | None = None  # time of day
    time_span: tuple[int, int] | None = None
    duration: timedelta | None = None
    duration_span: tuple[int, int] | None = None
    subject: str = ""
    attendees: list[Person] = field(default_factory=list)
    everyone: bool = False

    def shown(self, span: tuple[int, int]) -> str:
        return _display(self.text[span[0]:span[1]], self.people)

    def example(self, span: tuple[int, int], replacement: str = "") -> str:
        """The user's own command with `span` replaced (an empty span inserts); `parse` checks
        it and falls back to the stock example if it does not parse."""
        a, b = span
        return " ".join(f"{self.text[:a]} {replacement} {self.text[b:]}".split())


class _Reader:
    """Walks the tokens once, left to right, filling a _Spec."""

    def __init__(self, text: str, people: list[_Mentioned], tokens: list[_Tok]) -> None:
        self.spec = _Spec(text, people)
        self.toks = tokens
        self.i = 0

    def peek(self, ahead: int = 0) -> _Tok | None:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else None

    def read(self) -> _Spec:
        while (tok := self.peek()) is not None:
            if not self.option(tok):
                self.subject()
                break
        return self.spec

    def option(self, tok: _Tok) -> bool:  # noqa: C901 - one branch per option reads best
        """Consume one option at the cursor; False when the subject starts here."""
        nxt = self.peek(1)
        numeric_next = nxt is not None and (nxt.kind in _NUMERIC
                                            or _NUMERIC_START.match(nxt.low) is not None)
        if tok.low == "now":
            self.set_start_now(tok)
        elif tok.kind == "time":
            self.set_time(tok, tok)
        elif tok.low == "at" and numeric_next:
            self.i += 1
            self.set_time(tok, nxt)
        elif tok.kind == "duration":
            self.set_duration(tok, tok)
        elif tok.low == "for" and numeric_next:
            self.i += 1
            self.set_duration(tok, nxt)
        elif tok.low == "in" and numeric_next:
            self.i += 1
            self.set_offset(tok, nxt)
        elif tok.low in _PAST_DAYS:
            last_weekday = tok.low == "last" and nxt is not None and nxt.low in _WEEKDAYS
            span = (tok.start, nxt.end if last_weekday else tok.end)
            fix = f"next {nxt.low}" if last_weekday else "9am" if self.spec.day else "tomorrow"
            self.fail(f"“{self.spec.shown(span)}” is in the past", self.spec.example(span, fix))
        elif self.day_at_cursor():
            return True
        elif tok.low == "with":
            self.i += 1
            if not self.attendees():
                span = (tok.start, nxt.end if nxt else tok.end)
                self.fail(f"To invite people, type @ and pick them (“{self.spec.shown(span)}” "
                          "names nobody I can invite)", self.spec.example(span))
            return True
        elif tok.kind == "number" and (nxt is None or nxt.low in _SUBJECT_INTRO
                                       or nxt.low == "with" or nxt.kind in _NUMERIC):
            self.fail(f"“{tok.low}” needs a unit, like {tok.low}m or {tok.low} min",
                      self.spec.example((tok.start, tok.end), f"{tok.low.lstrip('-')}m"))
        else:
            return False
        self.i += 1
        return True

    # -- start -------------------------------------------------------------------------------
    def start_spans(self) -> list[tuple[int, int]]:
        s = self.spec
        return [sp for sp in (s.now, s.offset_span, s.day_span, s.time_span) if sp]

    def conflict(self, what: str, first: tuple[int, int], second: tuple[int, int]) -> None:
        s = self.spec
        self.fail(f"You gave two {what}, “{s.shown(first)}” and “{s.shown(second)}”",
                  s.example(second))

    def set_start_now(self, tok: _Tok) -> None:
        span = (tok.start, tok.end)
        if self.start_spans():
            self.conflict("start times", self.start_spans()[0], span)
        self.spec.now = span

    def set_offset(self, kw: _Tok, value: _Tok) -> None:
        span = (kw.start, value.end)
        if self.start_spans():
            self.conflict("start times", self.start_spans()[0], span)
        offset = self.duration_of(value, span)
        if offset < timedelta(0):
            self.fail(f"“{self.spec.shown(span)}” is in the past",
                      self.spec.example(span, "in 10 min"))
        self.spec.offset, self.spec.offset_span = offset, span

    def set_time(self, kw: _Tok, value: _Tok) -> None:
        s, span = self.spec, (kw.start, value.end)
        if s.time_span:
            self.conflict("times", s.time_span, span)
        if s.now or s.offset_span:
            self.conflict("start times", s.now or s.offset_span, span)
        s.clock, s.time_span = self.time_of(value, span), span

    def day_at_cursor(self) -> bool:
        """Consume `[next|this|on] day` if it is at the cursor."""
        tok, nxt = self.peek(), self.peek(1)
        prefixed = tok.low in _DAY_PREFIX and nxt is not None
        day = nxt if prefixed else tok
        if day.low not in _RELATIVE_DAYS and day.low not in _WEEKDAYS:
            return False
        s, span = self.spec, (tok.start, day.end)
        if s.day_span:
            self.conflict("days", s.day_span, span)
        if s.now or s.offset_span:
            self.conflict("start times", s.now or s.offset_span, span)
        if prefixed and tok.low == "next" and day.low in _RELATIVE_DAYS:
            self.fail(f"“{s.shown(span)}” isn't a day I know", s.example(span, day.low))
        s.day, s.day_next, s.day_span = day.low, prefixed and tok.low == "next", span
        self.i += 2 if prefixed else 1
        return True

    # -- duration ----------------------------------------------------------------------------
    def set_duration(self, kw: _Tok, value: _Tok) -> None:
        s, span = self.spec, (kw.start, value.end)
        if s.duration_span:
            self.conflict("durations", s.duration_span, span)
        if value.kind == "time" and ":" in value.low and "m" not in value.low:
            hours, minutes = value.low.split(":")  # "for 1:30" = 1 h 30 min
            duration = timedelta(hours=int(hours), minutes=int(minutes))
        else:
            duration = self.duration_of(value, span)
        if duration < timedelta(0):
            self.fail(f"“{s.shown(span)}” is a negative duration",
                      s.example(span, s.shown(span).replace("-", "", 1)))
        if duration < MIN_DURATION:
            self.fail(f"“{s.shown(span)}” is too short: a meeting needs at least 1 minute",
                      s.example(span, "15m"))
        if duration > MAX_DURATION:
            self.fail(f"“{s.shown(span)}” is too long: a meeting can last at most 24 hours",
                      s.example(span, "for 24h" if kw.low == "for" else "24h"))
        s.duration, s.duration_span = duration, span

    def duration_of(self, tok: _Tok, span: tuple[int, int]) -> timedelta:
        if tok.kind != "duration":
            self.fail(f"I couldn't read “{self.spec.shown(span)}” as a length of time",
                      self.spec.example(span, f"{self.spec.text[span[0]:tok.start]}30 min"))
        return _duration(tok.match)

    def time_of(self, tok: _Tok, span: tuple[int, int]) -> time:
        if tok.kind == "number" and tok.low.isdigit() and 1 <= int(tok.low) <= 12:
            self.fail(f"“{self.spec.shown(span)}” could be morning or afternoon: "
                      f"say {int(tok.low)}am or {int(tok.low)}pm",
                      self.spec.example(span, f"at {int(tok.low)}pm"))
        parsed = (_time_of_day(tok.low) if tok.kind == "time" or tok.low.isdigit() else None)
        if parsed is None:
            self.fail(f"“{tok.low}” is not a time of day",
                      self.spec.example(span, "at 15:00"))
        return parsed

    # -- attendees and subject ---------------------------------------------------------------
    def attendees(self) -> bool:
        """Consume mentions / everyone words after `with`; True if any named someone."""
        named = False
        while (tok := self.peek()) is not None:
            if tok.kind == "mention":
                self.spec.attendees.append(self.spec.people[int(tok.low[1:-1])].person)
            elif tok.low in _EVERYONE:
                self.spec.everyone = True
            elif tok.low not in _ATTENDEE_FILLER:
                break
            named |= tok.low not in _ATTENDEE_FILLER
            self.i += 1
        return named

    def subject(self) -> None:
        """The rest of the message, less a leading intro word and a trailing with-clause."""
        first = self.i
        while (tok := self.peek()) is not None and tok.low in _SUBJECT_INTRO and (
                tok.low != "on" or self.i == first):
            self.i += 1
        body_start = self.i
        end = len(self.toks)
        # A trailing "with @Ana, @Ben" / "with everyone" invites; "with milk" stays subject.
        k = end
        while k > body_start and (self.toks[k - 1].kind == "mention"
                                  or self.toks[k - 1].low in _EVERYONE
                                  or self.toks[k - 1].low in _ATTENDEE_FILLER):
            k -= 1
        if body_start < k < end and self.toks[k - 1].low == "with":
            self.i = k
            if self.attendees():
                end = k - 1
        if body_start >= end:
            intro = self.toks[first]
            self.fail(f"“{intro.low}” needs a subject after it",
                      self.spec.example((intro.end, intro.end), "budget review"))
        span = (self.toks[body_start].start, self.toks[end - 1].end)
        subject = self.spec.shown(span)
        if len(subject) > MAX_SUBJECT:
            cut = subject[:60].rsplit(" ", 1)[0]
            self.fail(f"The subject is {len(subject)} characters long; please keep it under "
                      f"{MAX_SUBJECT}", self.spec.example(span, cut))
        self.spec.subject = subject

    @staticmethod
    def fail(reason: str, example: str) -> None:
        raise ParseError(reason, example)


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
    if not hour.isdigit() or (ampm and not 1 <= int(hour) <= 12):  # dateutil accepts "13pm"
        return None
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
    if spec.offset is not None:
        start_utc = now_utc + spec.offset
    elif spec.day or spec.clock:
        start_utc = _wall_clock_start(spec, now_utc, user_time)
    else:
        start_utc = now_utc
    if start_utc - now_utc > MAX_AHEAD:
        span = spec.offset_span or spec.day_span or spec.time_span
        raise ParseError(f"“{spec.shown(span)}” is too far ahead: I can schedule meetings up "
                         f"to 60 days ahead", spec.example(span, "tomorrow 9am"))
    starts_now = spec.offset is None and not (spec.day or spec.clock)
    return MeetingRequest(
        subject=spec.subject or DEFAULT_SUBJECT,
        start=start_utc.astimezone(tz),
        end=(start_utc + duration).astimezone(tz),
        starts_now=starts_now,
        subject_given=bool(spec.subject),
        attendees=_unique(spec.attendees),
        scope=(AttendeeScope.EVERYONE if spec.everyone
               else AttendeeScope.MENTIONED if spec.attendees else AttendeeScope.NONE))


def _wall_clock_start(spec: _Spec, now_utc: datetime, user_time: UserTime) -> datetime:
    """A day and/or time of day in the user's zone, as a UTC instant."""
    tz = user_time.tz
    if spec.clock is None:
        raise ParseError(f"“{spec.shown(spec.day_span)}” needs a time of day",
                         spec.example(spec.day_span, f"{spec.shown(spec.day_span)} 9am"))
    today = now_utc.astimezone(tz).date()
    weekday = _WEEKDAYS.get(spec.day or "")
    if weekday is not None:
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
        fix = (spec.example(spec.day_span, "tomorrow") if spec.day_span
               else spec.example((spec.time_span[0], spec.time_span[0]), "tomorrow"))
        raise ParseError(f"{when} has already passed today", fix)
    return start


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
