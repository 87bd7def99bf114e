"""What the school portal and the API show, built from the storage service: a school's home
(rounds, key dates, the task list per template), its template, the annotated copy of an upload,
and the operators' overview of schools and collections.

Every function takes the acting user's email and checks the school and the permission here (via
:mod:`frs.services.accounts` and :class:`frs.storage.service.Service`), never in the web layer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select

from .. import clock
from ..connectors import School as SchoolInfo
from ..storage.models import (AWAITING_CONFIRMATION, DELETED, MANAGE_DATA, PROCESSING, REPORTS_AVAILABLE,
                              UPLOAD_ERROR, School, Upload)
from ..storage.service import Refused
from . import accounts

# task statuses of the GOV.UK task list pattern (reports.md 5.3)
COMPLETED, NOT_STARTED, IN_PROGRESS, CANNOT_START, PROBLEM = (
    "Completed", "Not yet started", "In progress", "Cannot start yet", "There is a problem")


@dataclass
class TemplateTask:
    keystage_id: str
    title: str
    template_name: str
    status: str  # one of the task statuses above
    latest: Any = None  # UploadView of the newest live upload, if any
    current: Any = None  # UploadView of the confirmed current file, if any


@dataclass
class RoundHome:
    id: str
    key_stage: int
    year: int
    opens: dt.datetime
    closes: dt.datetime
    mis_cutoff: dt.date | None
    reports_due: dt.date | None
    is_open: bool
    tasks: list[TemplateTask] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "key_stage": self.key_stage, "year": self.year, "open": self.is_open,
                "opens": self.opens.isoformat(), "closes": self.closes.isoformat(),
                "mis_cutoff": self.mis_cutoff and self.mis_cutoff.isoformat(),
                "reports_due": self.reports_due and self.reports_due.isoformat(),
                "templates": [{"keystage": t.keystage_id, "title": t.title, "template_name": t.template_name,
                               "status": t.status, "latest_upload": t.latest and t.latest.id,
                               "current_upload": t.current and t.current.id} for t in self.tasks]}


def school_home(service, email: str, school_dfe: str) -> dict[str, Any]:
    """The school, the user's permissions there, and each round: open ones with their task list,
    the others with their dates only. Any user of the school may see it."""
    entry = accounts.membership(service, email, school_dfe)
    can_manage = MANAGE_DATA in entry["permissions"]
    uploads = service.list_uploads(email, school_dfe, include_hidden=False) if can_manage else []
    now = clock.now()
    school = SchoolInfo(entry["dfe"], entry["name"])
    rounds = []
    for rnd in sorted(service.kernel.config.rounds, key=lambda r: (-r.year, r.key_stage)):
        keystages = [ks for ks in service.kernel.keystages.values() if ks.key_stage == rnd.key_stage]
        if not keystages:
            continue  # a round whose key stage no enabled plugin provides
        home = RoundHome(rnd.id, rnd.key_stage, rnd.year, rnd.opens, rnd.closes, rnd.mis_cutoff, rnd.reports_due,
                         rnd.is_open(now))
        for ks in sorted(keystages, key=lambda k: k.id):
            mine = [u for u in uploads if u.keystage == ks.id and u.round_id == rnd.id]
            latest = mine[0] if mine else None
            current = next((u for u in mine if u.is_current), None)
            home.tasks.append(TemplateTask(ks.id, ks.title, template_name(service, ks, rnd, school),
                                           _task_status(home.is_open, can_manage, latest, current), latest, current))
        rounds.append(home)
    return {"school": {"dfe": entry["dfe"], "name": entry["name"]}, "permissions": sorted(entry["permissions"]),
            "can_manage": can_manage, "rounds": rounds, "now": now}


def _task_status(is_open: bool, can_manage: bool, latest, current) -> str:
    if current is not None:
        return COMPLETED
    if not is_open or not can_manage:
        return CANNOT_START
    if latest is None:
        return NOT_STARTED
    if latest.status == UPLOAD_ERROR:
        return PROBLEM
    return IN_PROGRESS


def template_name(service, keystage, rnd, school: SchoolInfo) -> str:
    from ..workbook.template import template_filename

    return template_filename(keystage, rnd, school)


def template(service, email: str, school_dfe: str, keystage_id: str) -> tuple[str, bytes, str]:
    """The school's template for the key stage's latest round, pre-filled from the pupil source
    the kernel selects. Returns (file name, bytes, source name). Needs Manage Data."""
    from ..kernel import UnknownKeyStage
    from ..workbook.template import build_template

    entry = accounts.require(service, email, school_dfe, MANAGE_DATA)
    kernel = service.kernel
    try:
        keystage = kernel.keystage(keystage_id)
    except UnknownKeyStage:
        raise Refused(f"There is no template {keystage_id!r}.", code="not-found") from None
    rnd = kernel.round_for(keystage)
    school = SchoolInfo(entry["dfe"], entry["name"])
    from ..connectors import SourceContext

    context = SourceContext(service=service, round=rnd, config=kernel.config)  # Data Exchange reads the database
    source = kernel.select_source(school, keystage, context)
    if source is None:
        raise Refused("No pupil source is ready for your school yet, so the template cannot be made. "
                      "Try again later or contact the service desk.", code="no-source")
    cohort = source.cohort(school, keystage.nc_year, context)
    pupils = [p for p in cohort.pupils if p.nc_year in (None, keystage.nc_year)]
    data = build_template(kernel, keystage, school, rnd, pupils, pupils_from=cohort.describe())
    return template_name(service, keystage, rnd, school), data, source.name


def annotated_copy(service, email: str, upload_id: int) -> tuple[str, bytes]:
    """The uploaded file with every issue marked at its cell (None-safe: refused when the file
    never got far enough to be annotated)."""
    from ..validation.engine import annotate

    report = service.error_report(email, upload_id)
    filename, data = service.download(email, upload_id)
    marked = annotate(service.kernel, data, report)
    if marked is None:
        raise Refused("This file could not be read far enough to mark its mistakes; use the error list.",
                      code="state")
    stem = filename.rsplit(".", 1)[0]
    return f"{stem}_with_errors.xlsx", marked


def error_list(service, email: str, upload_id: int) -> tuple[str, bytes]:
    from ..validation.render import errors_xlsx

    report = service.error_report(email, upload_id)
    stem = (report.filename or f"upload_{upload_id}").rsplit(".", 1)[0]
    return f"{stem}_error_list.xlsx", errors_xlsx(report)


# --------------------------------------------------------------------------- operators


UPLOAD_STATES = ("Confirmed", "Awaiting confirmation", "Errors only", "Not uploaded yet")


def schools_overview(service) -> list[dict[str, Any]]:
    """Every school and, per key stage of the open or latest rounds, where its uploads stand:
    confirmed, awaiting confirmation, errors only, or not uploaded yet. Operators only (the web
    checks the operator account before calling)."""
    with service._session() as s:
        schools = s.exec(select(School).order_by(School.dfe)).all()
        uploads = s.exec(select(Upload.school_id, Upload.keystage, Upload.status)
                         .where(Upload.status != DELETED)).all()
    by_school: dict[int, dict[str, set[str]]] = {}
    for school_id, keystage, status in uploads:
        by_school.setdefault(school_id, {}).setdefault(keystage, set()).add(status)
    out = []
    for school in schools:
        states = {}
        for ks in sorted(service.kernel.keystages):
            seen = by_school.get(school.id, {}).get(ks, set())
            if seen & {PROCESSING, REPORTS_AVAILABLE}:
                states[ks] = "Confirmed"
            elif AWAITING_CONFIRMATION in seen:
                states[ks] = "Awaiting confirmation"
            elif UPLOAD_ERROR in seen:
                states[ks] = "Errors only"
            else:
                states[ks] = "Not uploaded yet"
        out.append({"dfe": school.dfe, "name": school.name, "uploads": states})
    return out


def collections(service) -> list[dict[str, Any]]:
    """Per round and template: how many schools have a confirmed current file and how many pupils
    it holds: what a collection at the deadline would take."""
    with service._session() as s:
        rows = s.exec(select(Upload.round_id, Upload.keystage, Upload.school_id, Upload.pupils)
                      .where(Upload.is_current == True)).all()  # noqa: E712
    totals: dict[tuple[str, str], dict[str, int]] = {}
    for round_id, keystage, _school, pupils in rows:
        entry = totals.setdefault((round_id, keystage), {"schools": 0, "pupils": 0})
        entry["schools"] += 1
        entry["pupils"] += pupils
    now = clock.now()
    out = []
    for rnd in sorted(service.kernel.config.rounds, key=lambda r: (-r.year, r.key_stage)):
        for ks in sorted(k.id for k in service.kernel.keystages.values() if k.key_stage == rnd.key_stage):
            entry = totals.get((rnd.id, ks), {"schools": 0, "pupils": 0})
            out.append({"round": rnd.id, "keystage": ks, "closes": rnd.closes, "open": rnd.is_open(now), **entry})
    return out


__all__ = ["school_home", "template", "annotated_copy", "error_list", "schools_overview", "collections",
           "COMPLETED", "NOT_STARTED", "IN_PROGRESS", "CANNOT_START", "PROBLEM"]
