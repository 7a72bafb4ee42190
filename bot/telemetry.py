"""Logs and metrics.

Logs: one JSON object per line in production (activity id, conversation id, Graph request-id,
timing as fields), readable text in demo mode. Caller-supplied fields are stripped of control
characters, and nothing that looks like a bearer token is ever written.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time

from .config import Settings

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SECRETS = re.compile(r"(eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*|Bearer\s+\S+)")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def safe(value: object) -> str:
    """For anything a caller controls: no control characters, no tokens."""
    return _SECRETS.sub("[redacted]", _CONTROL.sub(" ", str(value)))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": round(record.created, 3), "level": record.levelname,
                 "logger": record.name, "msg": safe(record.getMessage())}
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (int, float, bool)) or value is None \
                    else safe(value)
        if record.exc_info:
            entry["error"] = safe(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        return safe(super().format(record)).replace("\\n", "\n")


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # botbuilder logs unknown Teams channelData attributes at WARNING on every activity.
    logging.getLogger("msrest").setLevel(logging.ERROR)
    logging.Formatter.converter = time.gmtime
