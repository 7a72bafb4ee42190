"""Log hygiene: what callers control reaches the log without control characters, and nothing
that looks like a bearer token is ever written, whichever formatter runs."""
from __future__ import annotations

import json
import logging

from bot.telemetry import JsonFormatter, TextFormatter, safe

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ4In0.c2lnbmF0dXJlLXBhcnQ"


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("bot.test", logging.WARNING, __file__, 1, msg, args, None)
    rec.__dict__.update(extra)
    return rec


def test_safe_strips_control_characters_and_tokens() -> None:
    assert safe("line\r\nforged: entry\x1b[31m") == "line  forged: entry [31m"
    assert JWT not in safe(f"token {JWT} here")
    assert safe("Authorization: Bearer abc.def") == "Authorization: [redacted]"


def test_json_lines_redact_message_arguments_and_extra_fields() -> None:
    line = JsonFormatter().format(record("exchange for %s failed\n", f"Bearer {JWT}",
                                         activity_id="1\n2", status=401, conversation_id=None))
    entry = json.loads(line)  # one object, one line
    assert "\n" not in line and JWT not in line
    assert entry["msg"] == "exchange for [redacted] failed "
    assert entry["activity_id"] == "1 2" and entry["status"] == 401
    assert entry["conversation_id"] is None


def test_tracebacks_are_redacted_too() -> None:
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError:
        import sys
        rec = logging.LogRecord("bot.test", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    assert JWT not in JsonFormatter().format(rec)
    assert JWT not in TextFormatter().format(rec)
