"""Formatting shared by the cards: times in the user's zone, meeting codes, phone numbers,
and escaping of user-typed text for Adaptive Card markdown."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from bot.i18n import ENGLISH, N_, Translator
from bot.models import UserTime

# Day words, relative to the user's today; other days are dates.
_RELATIVE = {-1: N_("Yesterday"), 0: N_("Today"), 1: N_("Tomorrow")}
# A start further ahead than this was not "now": the card spells out its date.
_LATER = timedelta(minutes=1)
_IN_DAYS = 14  # "In 9 days, …" up to here; later dates speak for themselves

# Characters that start Adaptive Card markdown (bold, italic, links) anywhere in a line.
_MD_ESCAPES = str.maketrans({c: "\\" + c for c in "\\*_[]`~"} | {"\r": " ", "\n": " "})
# ...and block syntax that only counts at the start of the text: "1. ", "- ", "+ ", "# ", "> ".
_MD_BLOCK_START = re.compile(r"^(\d+)([.)] )|^([-+#>])(?=\s)")


def md(text: str) -> str:
    """User-typed text (subjects, names) shown literally: no links, no emphasis, one line."""
    text = text.translate(_MD_ESCAPES)
    return _MD_BLOCK_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", text, 1)


def _day(day: date, today: date, tr: Translator) -> str:
    label = _RELATIVE.get((day - today).days)
    if label:
        return tr.gettext(label)
    return tr.day(day, year=day.year != today.year)


def _dated(day: date, today: date, tr: Translator) -> str:
    """"Tomorrow, Tue 1 Dec", "In 9 days, Wed 10 Dec", "Mon 4 Jan 2027"."""
    _ = tr.gettext
    dated = tr.day(day, year=day.year != today.year)
    ahead = (day - today).days
    if ahead in _RELATIVE:
        relative = _(_RELATIVE[ahead])
    elif 1 < ahead < _IN_DAYS:
        relative = tr.ngettext("In {n} day", "In {n} days", ahead).format(n=ahead)
    else:
        return dated
    return _("{day}, {date}").format(day=relative, date=dated)


def when(start: datetime, end: datetime, user_time: UserTime, now: datetime,
         tr: Translator = ENGLISH) -> str:
    """"Today 14:30–15:00 (Europe/Berlin)" for a meeting under way. A later start also gives
    its date, relative first, so a misread day shows at a glance: "Tomorrow, Tue 1 Dec,
    09:30–10:30 (Europe/Berlin)". The end gets its own day when it falls on another. Words in
    `tr`'s language, dates and times in its locale's formats (CLDR)."""
    _ = tr.gettext
    tz = user_time.tz
    later = start - now > _LATER
    start, end = start.astimezone(tz), end.astimezone(tz)
    today = now.astimezone(tz).date()
    if end.date() == start.date():
        times, last = tr.time_range(start, end), ""
    else:
        times = tr.time(start)
        last = " – " + _("{day} {time}").format(day=_day(end.date(), today, tr),
                                                time=tr.time(end))
    if later:
        text = _("{date}, {time}").format(date=_dated(start.date(), today, tr), time=times)
    else:
        text = _("{day} {time}").format(day=_day(start.date(), today, tr), time=times)
    text += last
    if user_time.known:
        return f"{text} ({user_time.name})"
    unknown = _("UTC — your time zone wasn't shared")
    return f"{text} ({unknown})"


def group3(digits: str) -> str:
    """Meeting and conference IDs the way Teams prints them: "123 456 789 012"."""
    digits = "".join(digits.split())
    return " ".join(digits[i:i + 3] for i in range(0, len(digits), 3))


def phone(number: str) -> str:
    """North American numbers as Teams invites show them (+1 252-563-4478); others as given,
    since grouping elsewhere needs per-country rules."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if number.lstrip().startswith("+1") and len(digits) == 11:
        return f"+1 {digits[1:4]}-{digits[4:7]}-{digits[7:]}"
    return number.strip()
