"""Meeting options in a typed command, read before the grammar (bot/grammar.py) sees the text.

`extract()` finds the option phrases, takes them out of the text and says what they ask for;
the grammar then reads the rest exactly as it would have without them. Pure: no I/O.

    presenters: organizer | organization | everyone     also "only I present"
    lobby: everyone waits | organization skips | everyone skips     also "no lobby"
    record                                              also "record automatically", "auto-record"
    no chat                                             also "without chat", "chat off"

The colon after `presenters` and `lobby` is optional. Where a phrase counts:

- anywhere before the subject (`meet tomorrow 9:30 record about planning`);
- after "about", "re", "regarding" or ":" only as a piece of its own at the end of a piece of
  the text: after a comma or semicolon, or after the invitees (`meet about planning, record`,
  `meet about planning with @Ana no chat`). So `meet about record sales` keeps its subject;
- never inside quotes (`meet "record review" tomorrow`) or inside an @mention.

A `presenters:` or `lobby:` with a colon before the subject and a value that is not a choice,
or two different values for one option, is a mistake the user hears about (`problem`), never a
silently dropped word.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, replace
from typing import Any

from .errors import OptionProblem
from .i18n import N_
from .models import Lobby, MeetingOptions, Presenters

# The grammar's quote pairs (a subject in quotes is kept whole); a closing '"' always closes.
_QUOTES = {'"': '"', "“": "”", "„": "“", "«": "»", "”": "”"}
_OPENING = re.compile("[" + "".join(_QUOTES) + "]")
_MENTION = re.compile(r"<at\b[^>]*>.*?</at>", re.I | re.S)
_TAG = re.compile(r"</?[a-z][^>]*>", re.I)
_OPAQUE, _PERSON = "\x00", "\x01"  # masks: quoted text, a mention (which ends a piece)

_PRESENTERS = {"organizer": Presenters.ORGANIZER, "organiser": Presenters.ORGANIZER,
               "only me": Presenters.ORGANIZER, "me": Presenters.ORGANIZER,
               "organization": Presenters.ORGANIZATION, "organisation": Presenters.ORGANIZATION,
               "org": Presenters.ORGANIZATION, "everyone": Presenters.EVERYONE,
               "everybody": Presenters.EVERYONE, "anyone": Presenters.EVERYONE,
               "all": Presenters.EVERYONE}
_LOBBIES = {"everyone waits": Lobby.EVERYONE_WAITS, "everybody waits": Lobby.EVERYONE_WAITS,
            "all wait": Lobby.EVERYONE_WAITS,
            "organization skips": Lobby.ORGANIZATION_SKIPS,
            "organisation skips": Lobby.ORGANIZATION_SKIPS, "org skips": Lobby.ORGANIZATION_SKIPS,
            "everyone skips": Lobby.EVERYONE_SKIPS, "everybody skips": Lobby.EVERYONE_SKIPS,
            "nobody waits": Lobby.EVERYONE_SKIPS, "no one waits": Lobby.EVERYONE_SKIPS}


def _choice(words: dict[str, Any]) -> str:
    """Alternatives longest first, spaces as any whitespace."""
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True))


_START = r"(?<![\w@/.:-])"  # not inside a word, an address or a time
_END = r"(?![\w@-])"
_PHRASE = re.compile(rf"""{_START}(?:
      presenters?\s*(?::\s*|\s+)(?P<presenters>{_choice(_PRESENTERS)})
    | (?P<only_me>only\s+(?:i|me)\s+(?:can\s+)?present|only\s+the\s+organi[sz]er\s+presents)
    | lobby\s*(?::\s*|\s+)(?P<lobby>{_choice(_LOBBIES)})
    | (?P<no_lobby>no\s+lobby)
    | (?P<record>record(?:\s+(?:it|automatically|the\s+meeting))?|auto-?record(?:ing)?)
    | (?P<no_chat>(?:no|without)\s+(?:meeting\s+)?chat|(?:meeting\s+)?chat\s+off)
    ){_END}""", re.I | re.X)
# `presenters:` / `lobby:` with a colon: clearly meant as an option, so a wrong value is said.
_KEYWORD = re.compile(rf"{_START}(?P<keyword>presenters?|lobby)\s*:\s*(?P<value>[^\s,;{_OPAQUE}{_PERSON}]*)",
                      re.I)
_INTRODUCER = re.compile(rf"{_START}(?:about|re|regarding){_END}|(?P<word>[\w-]*)\s*(?P<colon>:)(?=\s|$)",
                         re.I)
_WITH_ALL = re.compile(rf"{_START}with\s+(?:the\s+)?(?:everyone|everybody|all|channel|team){_END}",
                       re.I)
_SEPARATOR = re.compile(rf"[,;]|{_PERSON}+")
_FILLER = re.compile(r"\b(?:and|also)\b|[&+]", re.I)
_JOINED = re.compile(r"[\s,;]*(?:(?:and|also|&|\+)[\s,;]*)*", re.I)  # between two phrases
_SHOWN = 40  # longest piece of the user's text quoted back
# Every phrase and keyword holds one of these: most commands hold none, and cost next to nothing.
_HINTS = ("record", "chat", "present", "lobby")


@dataclass(frozen=True, slots=True)
class Found:
    text: str  # the command without its option phrases
    options: MeetingOptions = MeetingOptions()
    phrases: tuple[str, ...] = ()  # as typed, in order: to put back into a corrected command
    problem: OptionProblem | None = None  # what to raise for a meet command


def extract(text: str) -> Found:
    """The option phrases of `text` (see the module docstring), and the text without them.
    Linear in the text's length; a command without option words costs two searches."""
    lowered = text.lower()
    if not any(hint in lowered for hint in _HINTS):
        return Found(text)
    masked = _mask(text)
    subject = _subject_start(masked)
    candidates = list(_PHRASE.finditer(masked))
    alone = _alone(masked, [m for m in candidates if m.start() >= subject], candidates)
    accepted = [m for m in candidates if m.start() < subject or m.start() in alone]
    options = MeetingOptions()
    problem: OptionProblem | None = None
    for m in accepted:
        options, clash = _apply(options, m)
        problem = problem or clash
    problem = problem or _bad_keyword(text, masked, subject, accepted)
    if not accepted:
        return Found(text, problem=problem)
    return Found(_without(text, masked, accepted), options,
                 tuple(" ".join(text[m.start():m.end()].split()) for m in accepted), problem)


def restore(command: str, found: Found) -> str:
    """A corrected command (a "Did you mean" suggestion of the grammar) with the options put
    back, as a piece of their own at the end, where they always count."""
    return ", ".join((command, *found.phrases)) if found.phrases else command


# --- the steps ---------------------------------------------------------------------------------
def _mask(text: str) -> str:
    """Same length as `text`: quoted spans opaque, mentions marked, other markup blank, so the
    patterns never read into them and positions stay the text's."""
    chars = list(text)
    for m in _MENTION.finditer(text):
        chars[m.start():m.end()] = _PERSON * (m.end() - m.start())
    for m in _TAG.finditer("".join(chars)):
        chars[m.start():m.end()] = " " * (m.end() - m.start())
    unquoted, pos = "".join(chars), 0  # the search only ever looks past what it masked
    while opening := _OPENING.search(unquoted, pos):
        after = opening.end()
        closing = [j for j in (unquoted.find(_QUOTES[opening.group()], after),
                               unquoted.find('"', after)) if j >= 0]
        if not closing:  # an unclosed quote is no quote (as the grammar reads it)
            pos = after
            continue
        pos = min(closing) + 1
        chars[opening.start():pos] = _OPAQUE * (pos - opening.start())
    return "".join(chars)


def _subject_start(masked: str) -> int:
    for m in _INTRODUCER.finditer(masked):
        if m.group("colon") is None:
            return m.start()
        if m.group("word").lower() not in ("presenter", "presenters", "lobby"):
            return m.start("colon")
    return len(masked)


def _alone(masked: str, after_subject: list[re.Match[str]],
           candidates: list[re.Match[str]]) -> set[int]:
    """The starts of the phrases in `after_subject` that sit in a piece of the text (between
    separators, mentions or `with everyone`) holding nothing but option phrases."""
    if not after_subject:
        return set()
    marks = sorted([(b.start(), b.end()) for b in _SEPARATOR.finditer(masked)]
                   + [(b.end(), b.end()) for b in _WITH_ALL.finditer(masked)])
    starts = [start for start, _ in marks]
    pieces: dict[int, list[re.Match[str]]] = {}
    for m in candidates:
        pieces.setdefault(bisect_right(starts, m.start()), []).append(m)
    wanted = {bisect_right(starts, m.start()) for m in after_subject}
    alone: set[int] = set()
    for k in wanted - {0}:  # the first piece holds the verb, so it is never options alone
        begin, end = marks[k - 1][1], marks[k][0] if k < len(marks) else len(masked)
        inside, rest, pos = pieces[k], [], begin
        for m in inside:
            rest.append(masked[pos:m.start()])
            pos = m.end()
        rest.append(masked[pos:end])
        if pos <= end and not _FILLER.sub(" ", " ".join(rest)).strip():
            alone.update(m.start() for m in inside)
    return alone


def _apply(options: MeetingOptions,
           m: re.Match[str]) -> tuple[MeetingOptions, OptionProblem | None]:
    kind, value = _reading(m)
    current = getattr(options, kind)
    if current is not None and current != value:
        return options, OptionProblem(_CLASH[kind])
    return replace(options, **{kind: value}), None


# Whole sentences (msgids), so each language words them its own way.
_CLASH = {"presenters": N_("The options ask for two different presenter choices; keep one"),
          "lobby": N_("The options ask for two different lobby choices; keep one"),
          "record": N_("The options ask for two different recording choices; keep one"),
          "chat": N_("The options ask for two different chat choices; keep one")}


def _reading(m: re.Match[str]) -> tuple[str, Any]:
    if m.group("presenters"):
        return "presenters", _PRESENTERS[" ".join(m.group("presenters").lower().split())]
    if m.group("only_me"):
        return "presenters", Presenters.ORGANIZER
    if m.group("lobby"):
        return "lobby", _LOBBIES[" ".join(m.group("lobby").lower().split())]
    if m.group("no_lobby"):
        return "lobby", Lobby.EVERYONE_SKIPS
    if m.group("record"):
        return "record", True
    return "chat", False


def _bad_keyword(text: str, masked: str, subject: int,
                 accepted: list[re.Match[str]]) -> OptionProblem | None:
    """`presenters: bob` before the subject: meant as an option, but not one."""
    starts = [m.start() for m in accepted]
    for k in _KEYWORD.finditer(masked, 0, subject):
        i = bisect_right(starts, k.start()) - 1
        if i >= 0 and k.start() < accepted[i].end():  # a good one: `lobby: everyone waits`
            continue
        shown = " ".join(text[k.start():k.end()].split())[:_SHOWN]
        # The option words stay English in every language: they are what this module reads.
        if k.group("keyword").lower() == "lobby":
            return OptionProblem(N_("“{shown}” is not a lobby choice: say lobby: everyone waits, "
                                    "lobby: organization skips or lobby: everyone skips"),
                                 shown=shown)
        return OptionProblem(N_("“{shown}” is not a presenter choice: say presenters: "
                                "organizer, presenters: organization or presenters: everyone"),
                             shown=shown)
    return None


def _without(text: str, masked: str, accepted: list[re.Match[str]]) -> str:
    """`text` without the phrases, each with the space and the one separator before it, so
    "about planning, record, no chat" becomes "about planning"."""
    out, last = [], 0
    for m in accepted:
        start = m.start()
        if last and _JOINED.fullmatch(masked, last, start):  # "record and no chat"
            start = last
        while start > last and masked[start - 1].isspace():
            start -= 1
        if start > last and masked[start - 1] in ",;":
            start -= 1
        out.append(text[last:start])
        last = m.end()
    out.append(text[last:])
    return "".join(out).strip()
