"""Scheduled work: what a job function receives and what it gives back.

Plugins contribute jobs through the ``register_jobs`` hook::

    @hookimpl
    def register_jobs(registry):
        registry.add("data_exchange.pull", pull_all, trigger="cron", hour=2, minute=0)

The daemon (``frs daemon``) owns the scheduler and calls ``func(context, **kwargs)``; a job returns
a :class:`JobOutcome` (or None for "ok, nothing counted"). A job checks ``context.stopping`` between
units of work (one school, one page) and returns early, leaving nothing half done, when it is set.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class JobContext:
    """What the daemon hands every job run."""

    kernel: Any  # frs.kernel.Kernel
    service: Any  # frs.storage.service.Service: the one service layer, on the daemon's database
    now: Callable[[], dt.datetime]  # the service clock (honours FRS_NOW), Europe/London
    stopping: threading.Event = field(default_factory=threading.Event)  # set on SIGTERM/SIGINT
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("frs.jobs"))
    progress: Callable[[int, int], None] | None = None  # (done, total), for long work


@dataclass
class JobOutcome:
    """What a job run did. The daemon writes it as one structured log line."""

    records: int = 0  # pupils pulled, uploads collected, ...
    outcome: str = "ok"  # ok | partial | failed | skipped | stopped
    detail: dict[str, Any] = field(default_factory=dict)
    # kwargs for one later run of the same job (e.g. only the schools that failed); the daemon
    # schedules it after ``retry_after`` seconds rather than retrying in a tight loop
    retry: dict[str, Any] | None = None
    retry_after: float = 1800.0
