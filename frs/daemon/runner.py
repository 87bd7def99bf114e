"""The daemon: elect one active scheduler, collect closed rounds, run the plugins' jobs.

What is due is decided from the database, never from the scheduler's memory (APScheduler's
defaults would drop a missed one-off job, security-notes 5.4):

- a round past its close without a complete collection is collected, on start and on every tick;
  a date job at each close only makes that prompt;
- a plugin job is due when its trigger has fired since it last started (``job_run``), so a
  daemon that was down at 02:00 runs the nightly pull when it comes back, once; a retry a job
  asked for (``JobOutcome.retry``) is due at its ``retry_at``.

APScheduler only wakes these checks up at the right moments. Jobs see ``context.stopping`` set on
SIGTERM/SIGINT or when the lease is lost, finish their current unit and return; a collection in
progress rolls back and is completed by the next run.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from .. import clock
from ..config import LONDON
from ..jobs import JobContext, JobOutcome
from ..storage.models_collect import JobRun
from . import logs
from .lease import Lease, new_daemon_id

log = logging.getLogger("frs.daemon")

MIN_RETRY_SECONDS = 1.0
TRIGGERS = ("cron", "interval", "date")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class JobConfigError(Exception):
    """A plugin's job has a trigger APScheduler cannot build."""


def make_trigger(job, anchor: dt.datetime):
    """The APScheduler trigger of a plugin job; an interval is anchored at ``anchor`` (when the job
    was first seen) so the daemon and ``--once`` agree on when it fires."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.date import DateTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    args = dict(job.trigger_args)
    args.setdefault("timezone", LONDON)
    try:
        if job.trigger == "cron":
            return CronTrigger(**args)
        if job.trigger == "interval":
            args.setdefault("start_date", anchor)
            return IntervalTrigger(**args)
        if job.trigger == "date":
            return DateTrigger(**args)
    except (TypeError, ValueError) as exc:
        raise JobConfigError(f"job {job.name!r} of plugin {job.plugin!r}: bad {job.trigger} trigger "
                             f"{job.trigger_args!r} ({exc})") from None
    raise JobConfigError(f"job {job.name!r} of plugin {job.plugin!r}: trigger must be one of "
                         f"{', '.join(TRIGGERS)}, got {job.trigger!r}")


class Daemon:
    def __init__(self, kernel, service, *, daemon_id: str | None = None, lease_seconds: float = 30.0,
                 tick_seconds: float = 30.0, renew_seconds: float | None = None, poll_seconds: float | None = None):
        self.kernel, self.service = kernel, service
        self.id = daemon_id or new_daemon_id()
        self.lease = Lease(service, self.id, lease_seconds)
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds or max(0.5, lease_seconds / 3)
        self.poll_seconds = poll_seconds or max(0.5, lease_seconds / 6)
        self.tick_seconds = tick_seconds
        self.stopping = threading.Event()  # SIGTERM/SIGINT
        self._job_stop = threading.Event()  # what this activation's jobs see: stopping or lease lost
        self._scheduler = None
        self._collect_lock = threading.Lock()
        self._job_locks = {name: threading.Lock() for name in kernel.jobs}
        self._triggers: dict[str, Any] = {}
        self.active = False
        self.runs = 0  # job runs so far (collections included)

    # ------------------------------------------------------------------ entry points

    def run(self) -> int:
        """Foreground: stand by until the lease is ours, then schedule; until SIGTERM/SIGINT."""
        self._signals()
        logs.event("daemon started", daemon=self.id, lease_seconds=self.lease_seconds, jobs=len(self.kernel.jobs))
        last_renewed = 0.0
        announced_standby = None
        try:
            while not self.stopping.is_set():
                try:
                    if not self.active:
                        if self.lease.acquire():
                            last_renewed = time.monotonic()
                            self._activate()
                            continue
                        holder = self.lease.current()
                        if holder and holder[0] != announced_standby:
                            announced_standby = holder[0]
                            logs.event("standby: another daemon is active", daemon=self.id, active=holder[0],
                                       lease_expires=holder[1].isoformat(timespec="seconds"))
                        self.stopping.wait(self.poll_seconds)
                        continue
                    self.stopping.wait(self.renew_seconds)
                    if self.stopping.is_set():
                        break
                    if self.lease.renew():
                        last_renewed = time.monotonic()
                    else:
                        logs.event("lease lost: another daemon took over", logging.WARNING, daemon=self.id)
                        self._deactivate()
                        announced_standby = None
                except SQLAlchemyError as exc:
                    logs.event("database unavailable", logging.WARNING, daemon=self.id,
                               error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                    # our lease may have expired elsewhere: stand down, unless it is our own
                    # collection that holds SQLite's write lock (its claim already rules out a
                    # second collection; stopping it would only roll it back and start again)
                    if (self.active and time.monotonic() - last_renewed > self.lease_seconds * 0.8
                            and not self._collect_lock.locked()):
                        self._deactivate()
                    self.stopping.wait(self.poll_seconds)
        finally:
            self._deactivate()
            try:
                self.lease.release()  # a standby takes over at once instead of after the lease runs out
            except SQLAlchemyError:
                pass
            logs.event("daemon stopped", daemon=self.id)
        return 0

    def once(self) -> int:
        """Run whatever is due now (collections, plugin jobs, retries), then exit; 0 also when
        nothing was due or another daemon is active."""
        self._signals()
        if not self.lease.acquire():
            holder = self.lease.current()
            logs.event("another daemon is active: nothing run", daemon=self.id,
                       active=holder[0] if holder else None)
            return 0
        self._job_stop = self.stopping
        finished = threading.Event()

        def keep_lease() -> None:  # a long collection must not let the lease run out under it
            while not finished.wait(self.renew_seconds):
                try:
                    self.lease.renew()
                except SQLAlchemyError:
                    pass

        renewer = threading.Thread(target=keep_lease, daemon=True)
        renewer.start()
        try:
            self.tick(inline=True)
            if not self.runs:
                logs.event("nothing due", daemon=self.id)
        finally:
            finished.set()
            renewer.join()
            self.lease.release()
        return 0

    # ------------------------------------------------------------------ activation

    def _activate(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        self.active = True
        self._job_stop = threading.Event()
        logs.event("active: this daemon now runs the schedule", daemon=self.id)
        scheduler = BackgroundScheduler(timezone=LONDON, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        scheduler.add_job(self.tick, "interval", seconds=self.tick_seconds, id="frs.tick",
                          next_run_time=dt.datetime.now(LONDON))
        now = dt.datetime.now(LONDON)
        for rnd in self.kernel.config.rounds:
            if rnd.closes > now:  # wake up at the close; the tick would find it anyway
                scheduler.add_job(self._collect_due, "date", run_date=rnd.closes, id=f"frs.close.{rnd.id}")
        for name, job in self.kernel.jobs.items():
            trigger = self._trigger(name)
            if trigger is not None:
                scheduler.add_job(self.run_if_due, trigger, args=[name], id=f"job.{name}", name=name)
        scheduler.start()
        self._scheduler = scheduler

    def _deactivate(self) -> None:
        if not self.active:
            return
        self._job_stop.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)  # running jobs see stopping and return
            self._scheduler = None
        self.active = False

    def _signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def stop(signum, _frame):
            logs.event("stopping: finishing the job in hand", daemon=self.id, signal=signal.Signals(signum).name)
            self.stopping.set()
            self._job_stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    # ------------------------------------------------------------------ what is due

    def tick(self, inline: bool = False) -> None:
        """Collect every closed, uncollected round; start every plugin job that is due."""
        self._collect_due()
        for name in self.kernel.jobs:
            if self._job_stop.is_set():
                return
            if not self._is_due(name):
                continue
            if inline or self._scheduler is None:
                self.run_if_due(name)
            else:  # its own thread, so a long pull never delays the next collection check
                self._scheduler.add_job(self.run_if_due, args=[name], id=f"due.{name}", replace_existing=True)

    def _collect_due(self) -> None:
        from ..services.collections import due_rounds

        if not self._collect_lock.acquire(blocking=False):
            return  # the tick and a close's wake-up met; one of them is enough
        try:
            for rnd in due_rounds(self.service):
                if self._job_stop.is_set():
                    return
                self._run("collect", lambda ctx, rnd=rnd: self._collect(ctx, rnd.id), {"round": rnd.id})
        finally:
            self._collect_lock.release()

    def _collect(self, ctx: JobContext, round_id: str) -> JobOutcome:
        from ..services.collections import CollectionStopped, collect

        try:
            summary = collect(self.service, round_id, daemon_id=self.id, stopping=ctx.stopping)
        except CollectionStopped as exc:
            return JobOutcome(outcome="stopped", detail={"reason": str(exc)})
        return JobOutcome(records=summary.uploads, outcome="skipped" if summary.existing else "ok",
                          detail={"collection": summary.id, "schools": summary.schools, "pupils": summary.pupils,
                                  "results": summary.results,
                                  **({"already_collected": True} if summary.existing else {})})

    def _trigger(self, name: str):
        if name not in self._triggers:
            job = self.kernel.jobs[name]
            try:
                self._triggers[name] = make_trigger(job, self._state(name).first_seen)
            except JobConfigError as exc:
                logs.event("job not scheduled", logging.ERROR, job=name, plugin=job.plugin, reason=str(exc))
                self._triggers[name] = None
        return self._triggers[name]

    def _state(self, name: str) -> JobRun:
        with self.service._session() as s:  # read first: no write lock unless the job is new
            row = s.get(JobRun, name)
        if row is not None:
            return row
        with self.service._session(write=True) as s:
            row = s.get(JobRun, name)
            if row is None:
                row = JobRun(name=name, first_seen=utcnow())
                s.add(row)
                s.commit()
            return row

    def _is_due(self, name: str) -> tuple[str, dict | None] | None:
        """("schedule", None) or ("retry", kwargs) when the job is due now, else None."""
        trigger = self._trigger(name)
        if trigger is None:
            return None
        row = self._state(name)
        now = utcnow()
        base = row.last_started or row.first_seen
        nxt = trigger.get_next_fire_time(None, base + dt.timedelta(milliseconds=1))
        if nxt is not None and base < nxt <= now:
            return ("schedule", None)
        if row.retry_at is not None and row.retry_at <= now:
            return ("retry", dict(row.retry_kwargs or {}))
        return None

    def run_if_due(self, name: str) -> JobOutcome | None:
        """Run the job if it is due (checked again under the job's lock, so the schedule, a tick
        and a retry never run it twice)."""
        lock = self._job_locks[name]
        if not lock.acquire(blocking=False):
            return None
        try:
            due = self._is_due(name)
            if due is None or self._job_stop.is_set():
                return None
            why, kwargs = due
            job = self.kernel.jobs[name]
            with self.service._session(write=True) as s:
                row = s.get(JobRun, name)
                row.last_started, row.retry_at, row.retry_kwargs = utcnow(), None, None
                s.add(row)
                s.commit()
            outcome = self._run(name, lambda ctx: job.func(ctx, **(kwargs or {})),
                                {"plugin": job.plugin, "run": why})
            with self.service._session(write=True) as s:
                row = s.get(JobRun, name)
                row.last_finished, row.last_outcome, row.last_records = utcnow(), outcome.outcome, outcome.records
                if outcome.retry is not None:
                    wait = max(MIN_RETRY_SECONDS, float(outcome.retry_after))
                    row.retry_at = utcnow() + dt.timedelta(seconds=wait)
                    row.retry_kwargs = dict(outcome.retry)
                    logs.event("retry scheduled", job=name, plugin=job.plugin, after_seconds=wait,
                               at=row.retry_at.astimezone(LONDON).isoformat(timespec="seconds"))
                s.add(row)
                s.commit()
            if outcome.retry is not None and self._scheduler is not None:
                self._scheduler.add_job(self.run_if_due, "date", run_date=row.retry_at, args=[name],
                                        id=f"retry.{name}", replace_existing=True)
            return outcome
        finally:
            lock.release()

    # ------------------------------------------------------------------ one job run, one log line

    def _run(self, job_name: str, call: Callable[[JobContext], Any], fields: dict[str, Any]) -> JobOutcome:
        context = JobContext(kernel=self.kernel, service=self.service, now=clock.now, stopping=self._job_stop,
                             log=logging.getLogger(f"frs.jobs.{job_name}"))
        started = time.monotonic()
        self.runs += 1
        try:
            outcome = call(context)
            if outcome is None:
                outcome = JobOutcome()
            elif not isinstance(outcome, JobOutcome):
                outcome = JobOutcome(outcome="failed", detail={"error": f"job returned {type(outcome).__name__}, "
                                                                       "not a JobOutcome"})
        except Exception as exc:
            log.debug("job %s raised", job_name, exc_info=True)
            outcome = JobOutcome(outcome="failed", detail={"error": f"{type(exc).__name__}: {exc}"[:300]})
        line = {"job": job_name, **fields}
        for key, value in outcome.detail.items():  # scalars only: a line stays one line
            if (isinstance(value, (str, int, float, bool)) or value is None) and key not in line:
                line[key] = value
        line.update(records=outcome.records, duration=round(time.monotonic() - started, 3),
                    outcome=outcome.outcome, daemon=self.id)
        logs.event("job", logging.WARNING if outcome.outcome == "failed" else logging.INFO, **line)
        return outcome

    # ------------------------------------------------------------------ for tests and status

    def job_state(self) -> dict[str, dict[str, Any]]:
        with self.service._session() as s:
            return {r.name: {"last_started": r.last_started, "last_outcome": r.last_outcome,
                             "retry_at": r.retry_at, "retry_kwargs": r.retry_kwargs}
                    for r in s.execute(select(JobRun)).scalars()}
