"""The one clock the service reads. ``FRS_NOW`` (ISO date-time, Europe/London) fixes it for
rehearsals and tests."""

from __future__ import annotations

import datetime as dt
import os

from .config import LONDON, ConfigError


def now() -> dt.datetime:
    fixed = os.environ.get("FRS_NOW")
    if fixed:
        try:
            value = dt.datetime.fromisoformat(fixed)
        except ValueError:
            raise ConfigError(f"FRS_NOW must be an ISO date-time like 2021-08-20T09:00, got {fixed!r}") from None
        return value.replace(tzinfo=LONDON) if value.tzinfo is None else value.astimezone(LONDON)
    return dt.datetime.now(LONDON)


def today() -> dt.date:
    return now().date()
