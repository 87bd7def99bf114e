"""Data Exchange: templates filled from the pupil list the school's last completed MIS pull left,
and the nightly job that pulls every enabled school.

The pulls themselves, the partners' HTTP and the stored state are the Data Exchange service's
(``frs.services.data_exchange``); partners are their own plugins (``xporter``, ``wonde``, or a
third party's) registered through ``register_partners``.
"""

from __future__ import annotations

import re
from typing import Any

from frs import hookimpl
from frs.connectors import Cohort, PupilSource, School, Setting, SourceContext, check_settings
from frs.jobs import JobContext, JobOutcome

PLUGIN = "data_exchange"
JOB = "data_exchange.pull"
SETTINGS = (
    Setting("schedule", "when the nightly pulls run: a cron line in Europe/London time", default="0 2 * * *"),
    Setting("retry_after", "seconds before the schools that failed are tried again the same night",
            (int, float), default=1800.0),
)
CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


class DataExchangeSource(PupilSource):
    name = PLUGIN
    description = "Data Exchange: the pupil list from the school's MIS, pulled through its partner"
    priority = 100
    settings_schema = SETTINGS

    def _dx(self, context: SourceContext):
        from frs.services.data_exchange import DataExchange

        return DataExchange(context.service) if context.service is not None else None

    def available_for(self, school: School) -> bool:
        return False  # needs the database: see is_available

    def is_available(self, school: School, context: SourceContext) -> bool:
        dx = self._dx(context)
        return dx is not None and dx.usable(school.dfe, context.round)[0]

    def unavailable_reason(self, school: School, context: SourceContext) -> str | None:
        dx = self._dx(context)
        return dx.usable(school.dfe, context.round)[1] if dx is not None else None

    def fetch_cohort(self, school: School, nc_year: int):
        raise RuntimeError("the data_exchange source reads the database: call cohort(school, nc_year, context)")

    def cohort(self, school: School, nc_year: int, context: SourceContext) -> Cohort:
        from frs.services.cohorts import to_pupil

        dx = self._dx(context)
        if dx is None:
            raise RuntimeError("Data Exchange needs the database (frs db init)")
        rows, pull = dx.cohort(school.dfe, nc_year)
        partner = dx.kernel.partners.get(pull.partner) if pull else None
        title = partner.title if partner else (pull.partner if pull else "?")
        return Cohort(self.name, [to_pupil(r) for r in rows], origin=f"Data Exchange ({title})",
                      taken_at=pull.finished_at if pull else None)


_CRON_BOUNDS = {"minute": (0, 59), "hour": (0, 23), "day": (1, 31), "month": (1, 12), "day_of_week": (0, 7)}
_CRON_ITEM = re.compile(r"^(\*|[0-9]+(-[0-9]+)?|[a-z]{3}(-[a-z]{3})?)(/[0-9]+)?$")


def cron_trigger_args(schedule: str) -> dict[str, Any]:
    """A crontab line as APScheduler's cron trigger arguments (``CronTrigger(**args)``), in
    Europe/London; refused with a message when it is not a cron line. Checked here without
    importing APScheduler, so loading the plugin costs the command line nothing."""
    fields = str(schedule).split()
    if len(fields) != 5:
        raise ValueError(f"[plugins.{PLUGIN}] schedule {schedule!r} is not a cron line: it needs 5 fields "
                         f"(minute hour day month weekday), e.g. \"0 2 * * *\"")
    args = dict(zip(CRON_FIELDS, fields))
    for name, text in args.items():
        low, high = _CRON_BOUNDS[name]
        for item in text.lower().split(","):
            numbers = [int(n) for n in re.findall(r"(?<!/)\b[0-9]+", item)]
            if not _CRON_ITEM.match(item) or any(not low <= n <= high for n in numbers):
                raise ValueError(f"[plugins.{PLUGIN}] schedule {schedule!r}: {name} {text!r} is not valid "
                                 f"(numbers {low}-{high}, *, ranges a-b, steps /n, lists a,b)")
    # cron counts weekdays from Sunday = 0, APScheduler's CronTrigger from Monday = 0: use names
    args["day_of_week"] = re.sub(r"(?<![/\d])\d+", lambda m: WEEKDAYS[int(m[0]) % 7], args["day_of_week"])
    return {**args, "timezone": "Europe/London"}


def pull_job(context: JobContext, schools: list[str] | None = None, *, retry_after: float = 1800.0) -> JobOutcome:
    """Pull every enabled school (or only ``schools``, on a retry); stop between schools when the
    daemon is stopping. Failed schools come back in ``retry`` for a later run the same night."""
    from frs.services.data_exchange import DataExchange

    summaries = DataExchange(context.service).pull_all(schools=schools, stopping=context.stopping,
                                                       progress=context.progress)
    failed = [s.school for s in summaries if not s.ok]
    pupils = sum(s.pupils for s in summaries)
    detail = {"schools": len(summaries), "failed": failed,
              "outcomes": {s.school: s.outcome for s in summaries},
              "reasons": {s.school: s.reason for s in summaries if s.reason}}
    if context.stopping.is_set():
        outcome = "stopped"
    elif not summaries:
        outcome = "skipped"
    elif not failed:
        outcome = "ok"
    else:
        outcome = "failed" if len(failed) == len(summaries) else "partial"
    return JobOutcome(records=pupils, outcome=outcome, detail=detail,
                      retry={"schools": failed} if failed else None, retry_after=retry_after)


@hookimpl
def register_connectors(registry, settings):
    registry.add(DataExchangeSource(settings))


@hookimpl
def register_jobs(registry, settings):
    checked = check_settings(PLUGIN, SETTINGS, settings or {})
    retry_after = float(checked["retry_after"])

    def job(context: JobContext, schools: list[str] | None = None) -> JobOutcome:
        return pull_job(context, schools, retry_after=retry_after)

    job.__name__ = job.__qualname__ = "data_exchange_pull"
    registry.add(JOB, job, trigger="cron", **cron_trigger_args(checked["schedule"]))
