"""The daemon's log: plain lines for people, one JSON object per line for machines (``--log-json``).

Every job run writes exactly one line with ``job``, the ``round`` or ``school`` it was about,
``records``, ``duration`` (seconds) and ``outcome``; other events (lease won or lost, standby)
write one line each too. Values come from the daemon and the jobs' outcomes, never from files.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

log = logging.getLogger("frs.daemon")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        out.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(out, default=str)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S")
        fields = getattr(record, "fields", {}) or {}
        extra = " ".join(f"{k}={_text(v)}" for k, v in fields.items() if k != "event")
        line = f"{when} {record.levelname.lower():7} {record.getMessage()}" + (f" {extra}" if extra else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _text(value) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or not text) else text


def setup(as_json: bool = False, level: int = logging.INFO) -> None:
    """Send frs's log to stderr, one line per event (replaces handlers set up earlier)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if as_json else _TextFormatter())
    root = logging.getLogger("frs")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    # APScheduler's own chatter ("Added job", "Running job") duplicates our lines; keep its warnings
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def event(message: str, level: int = logging.INFO, **fields) -> None:
    log.log(level, message, extra={"fields": {"event": message.split(":")[0], **fields}})
