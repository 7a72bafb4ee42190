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


# Label values must come from a fixed set: the activity type is caller-supplied text.
_ACTIVITY_TYPES = frozenset({
    "message", "invoke", "conversationUpdate", "installationUpdate", "messageReaction",
    "messageUpdate", "messageDelete", "event", "typing", "endOfConversation", "invalid"})


class Metrics:
    """The bot's Prometheus metrics, in a registry of its own (one per app: tests run several).

    With WORKERS > 1 each worker keeps its own counts; scrape each instance, or run one
    worker per container as Prometheus expects."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.activities = Counter("meetbot_activities_total", "Activities received, by type and "
                                  "HTTP outcome", ["type", "outcome"], registry=self.registry)
        self.meetings = Counter("meetbot_meetings_total", "Meetings returned by Graph: created "
                                "or existing (redelivery, double click)", ["result"],
                                registry=self.registry)
        self.graph_latency = Histogram(
            "meetbot_graph_request_seconds", "Graph call latency per attempt", ["op"],
            buckets=(.025, .05, .1, .2, .4, .8, 1.6, 3.2, 6.4, 12.8), registry=self.registry)
        self.graph_status = Counter("meetbot_graph_responses_total", "Graph answers by status "
                                    "(or the connection error)", ["op", "status"],
                                    registry=self.registry)
        self.graph_retries = Counter("meetbot_graph_retries_total", "Graph attempts that were "
                                     "retries", ["op"], registry=self.registry)
        self.replies_lost = Counter("meetbot_replies_lost_total", "Answers (cards, error cards) "
                                    "the Bot Connector still refused after retries",
                                    registry=self.registry)
        self.token_cache = Counter("meetbot_token_cache_total", "Access-token lookups in the "
                                   "in-process cache", ["result"], registry=self.registry)

        self._children: dict[tuple, object] = {}

    def _child(self, metric, *labels: str):
        """prometheus_client validates and hashes labels on every .labels() call; the label
        sets here are few and fixed, so each child is looked up once."""
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def activity(self, activity_type: str, status: int) -> None:
        outcome = "ok" if status < 400 else ("rejected" if status < 500 else "error")
        kind = activity_type if activity_type in _ACTIVITY_TYPES else "other"
        self._child(self.activities, kind, outcome).inc()

    def meeting(self, created: bool) -> None:
        self._child(self.meetings, "created" if created else "existing").inc()

    def graph_event(self, name: str, *, op=None, status=None, error=None, latency=0.0,
                    attempt=1, retry=False) -> None:
        op = op or "unknown"
        self._child(self.graph_latency, op).observe(latency)
        self._child(self.graph_status, op,
                    str(status) if status is not None else error or "error").inc()
        if retry:
            self._child(self.graph_retries, op).inc()

    def reply_lost(self) -> None:
        self.replies_lost.inc()

    def token_lookup(self, hit: bool) -> None:
        self._child(self.token_cache, "hit" if hit else "miss").inc()

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
