"""Log output: readable lines (default) or one JSON object a line for Loki, ELK and the like.

``[log] format = "json"`` (or ``GATEWAY_LOG__FORMAT=json``, or ``gateway run --log-format json``) writes each
record as ``{"time", "level", "logger", "event", ...}`` with the message's facts when they are known: the
gateway message id, the partner, the message type, the receiver and the status. Those facts come from the
record's ``extra`` or from the context bound by :func:`bind` for the request or delivery at hand (a
``contextvars`` variable: each request and each delivery is its own task, so facts never leak across).

Only these named fields and the formatted message are written: no headers, bodies, tokens or keys.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from typing import Literal

LogFormat = Literal["text", "json"]
FIELDS = ("message_id", "partner", "sender", "receiver", "type", "status", "code", "worker")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_facts: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("gateway_log_facts", default={})  # noqa: B039 - never mutated


def bind(**facts: str | None) -> contextvars.Token[dict[str, str]]:
    """Add facts (None leaves a fact out) to every record logged from here in this task; ``unbind`` undoes."""
    merged = {**_facts.get(), **{k: v for k, v in facts.items() if v is not None}}
    return _facts.set(merged)


def begin(**facts: str | None) -> None:
    """Start the facts of a new request in this task afresh (nothing left from an earlier one)."""
    _facts.set({k: v for k, v in facts.items() if v is not None})


def unbind(token: contextvars.Token[dict[str, str]]) -> None:
    _facts.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages are escaped by JSON)."""

    def __init__(self, static: dict[str, str] | None = None) -> None:
        super().__init__()
        self.static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **self.static,
        }
        for name, value in _facts.get().items():
            entry.setdefault(name, value)
        for name in FIELDS:
            given = record.__dict__.get(name)
            if given is not None:
                entry[name] = str(given)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(log_format: LogFormat = "text", *, verbose: bool = False, worker: int | None = None) -> None:
    """Set up the root logger once for this process (replacing what was there)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter({"worker": str(worker)} if worker is not None else None))
    else:
        prefix = f"[w{worker}] " if worker is not None else ""
        handler.setFormatter(logging.Formatter(TEXT_FORMAT.replace("%(name)s", prefix + "%(name)s")))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in ("aio_pika", "aiormq"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("signxml").setLevel(logging.INFO)  # at DEBUG it logs whole partner documents
