"""A school's analysed results: its stored report, PDF and "what if", as the pages, the API and
``frs report`` read them.

- :func:`school_report` gives a school's full report: measures, pupils, subjects, groups and the
  comparisons with all schools and the published national figures.
- :func:`school_pdf` gives its stored PDF summary; :func:`school_what_if` recomputes its report
  with chosen pupils left out.

Running the analysis that stores them is :mod:`frs.analysis.runner`.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import weakref
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable

from sqlalchemy.orm import defer
from sqlmodel import select

from ..storage import db
from ..storage.files import FileStore
from ..storage.models_analysis import FINISHED, AnalysisRun, SchoolAnalysis
from . import engine, national as national_mod

log = logging.getLogger("frs.analysis")


class ReportNotFound(LookupError):
    """No analysed result for this school and round (yet)."""


def reports_store(service) -> FileStore:
    """PDFs live beside the uploads' file store, in ``<instance>/reports``."""
    root = Path(getattr(service.store, "root", Path(service.kernel.config.home) / "files"))
    return FileStore(root.parent / "reports")


def _published(service, key_stage: int, year: int):
    return national_mod.figures(key_stage, year, national_mod.loaded_rows(service, key_stage, year))


def render_pdf(report: dict[str, Any]) -> bytes:
    from . import pdf

    return pdf.render(report)


# --------------------------------------------------------------------------- reading
#
# A request reads the school's stored result once (:func:`school_stored`) and hands it on. What
# cannot change once a run has finished is kept in memory per database, the last few used: the
# run's all-schools figures (parsed JSON, ~0.6 MB for a national collection) and the collected
# cohorts of what-ifs and group filters (a collection is complete, and never written again, before
# it is analysed). Keys hold the run's id and start time, and a cohort's key the school's DfE
# number: a cohort is only ever handed back for the school it was read for.

_KEPT = 16
_kept: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> OrderedDict(key -> value)
_kept_lock = threading.Lock()


def _kept_or_read(service, key: tuple, read: Callable[[], Any]) -> Any:
    """``read()``, kept for the next requests on the same database unless it is None."""
    with _kept_lock:
        kept = _kept.setdefault(service.engine, OrderedDict())
        if key in kept:
            kept.move_to_end(key)
            return kept[key]
    value = read()
    if value is not None:
        with _kept_lock:
            kept[key] = value
            if len(kept) > _KEPT:
                kept.popitem(last=False)
    return value


def latest_run(service, round_id: str) -> AnalysisRun | None:
    with db.session(service.engine) as s:
        return _latest_run(s, round_id)


def _latest_run(s, round_id: str, *, national: bool = True) -> AnalysisRun | None:
    query = select(AnalysisRun).where(AnalysisRun.round_id == round_id, AnalysisRun.status == FINISHED)
    if not national:  # read once per run instead: see Stored.national
        query = query.options(defer(AnalysisRun.national))
    return s.exec(query.order_by(AnalysisRun.id.desc())).first()


class Stored:
    """A school's stored result of a round's latest analysis (:func:`school_stored`), for the readers
    below: read from the database once, decompressed and parsed once, however many use it."""

    def __init__(self, service, run: AnalysisRun, row: SchoolAnalysis):
        self.service, self.run, self.row = service, run, row  # run.national is not loaded: use .national

    @functools.cached_property
    def result(self) -> dict[str, Any]:
        """The result as it was computed (without comparisons); shared, so never changed in place."""
        return stored_result(self.row)

    @property
    def national(self) -> dict[str, Any]:
        """The run's all-schools figures (shared between requests: never changed in place)."""
        run = self.run

        def read() -> dict[str, Any]:
            with db.session(self.service.engine) as s:
                text = s.exec(select(AnalysisRun.national).where(AnalysisRun.id == run.id)).first()
            return json.loads(text) if text else {}

        return _kept_or_read(self.service, ("national", run.id, run.started_at), read)


def school_stored(service, school_dfe: str, round_id: str) -> Stored:
    """The school's stored result of the round's latest finished analysis. Raises
    :class:`ReportNotFound` when there is none."""
    with db.session(service.engine) as s:
        run = _latest_run(s, round_id, national=False)
        row = None if run is None else s.exec(select(SchoolAnalysis).where(
            SchoolAnalysis.run_id == run.id, SchoolAnalysis.school_dfe == school_dfe)).first()
    if run is None:
        raise ReportNotFound(f"round {round_id!r} has not been analysed yet: run `frs analyse --round {round_id}` "
                             "after the collection")
    if row is None:
        raise ReportNotFound(f"school {school_dfe} has no results in the analysed collection of round {round_id!r} "
                             "(it sent no confirmed upload before the deadline)")
    return Stored(service, run, row)


def stored_result(row: SchoolAnalysis) -> dict[str, Any]:
    """A stored school result as it was computed (without comparisons)."""
    return json.loads(zlib.decompress(row.result))


def school_report(service, school_dfe: str, round_id: str) -> dict[str, Any]:
    """The school's full report for a round: the stored result (``measures``, ``pupils``,
    ``subjects``, ``groups`` ...) with ``comparisons`` against all schools of the collection and the
    published national figures. Raises :class:`ReportNotFound` when there is none."""
    return report_from(school_stored(service, school_dfe, round_id))


def report_from(stored: Stored) -> dict[str, Any]:
    """:func:`school_report` from a result already read."""
    run, row = stored.run, stored.row
    report = dict(stored.result)  # the parsed result itself stays as stored
    report["comparisons"] = engine.compare(report, stored.national, _published(stored.service, run.key_stage, run.year))
    report["analysis"] = {"run_id": run.id, "rules_version": row.rules_version, "result_sha256": row.result_sha256,
                          "pdf": bool(row.pdf_sha256),
                          "finished_at": run.finished_at.isoformat() if run.finished_at else None}
    return report


def school_pdf(service, school_dfe: str, round_id: str) -> bytes:
    """The school's stored PDF summary (made again from the stored result if the file is missing)."""
    stored = school_stored(service, school_dfe, round_id)
    if stored.row.pdf_sha256:
        store = reports_store(service)
        if store.exists(school_dfe, stored.row.pdf_sha256):
            return store.get(school_dfe, stored.row.pdf_sha256)
    return render_pdf(report_from(stored))


def school_what_if(service, school_dfe: str, round_id: str, exclude: Iterable[str]) -> dict[str, Any]:
    """The school's report recomputed at once with the pupils whose UPNs are in ``exclude`` left out.

    Recomputes from the collected cohort when the collection can give it, else from the stored
    pupil values (school figures and groups only: subject tables need the results)."""
    return what_if_from(school_stored(service, school_dfe, round_id), exclude)


def what_if_from(stored: Stored, exclude: Iterable[str]) -> dict[str, Any]:
    """:func:`school_what_if` from a result already read."""
    service, run = stored.service, stored.run
    published = _published(service, run.key_stage, run.year)
    measures = service.kernel.measures(run.key_stage)
    cohort = _collected_cohort(stored)
    if cohort is not None:
        return engine.what_if(cohort, measures, exclude, stored.national, published)
    return engine.what_if_stored(stored.result, measures, exclude, stored.national, published)


def _collected_cohort(stored: Stored):
    """The school's cohort from the run's collection, or None when the collection cannot give it."""
    from ..storage.service import Refused

    run, school_dfe = stored.run, stored.row.school_dfe

    def read():
        try:
            from ..services import collections

            return next(iter(collections.iter_cohorts(stored.service, run.collection_id, school_dfe=school_dfe)), None)
        except ImportError:
            return None
        except Refused:  # the collection is gone (or never was: analysed from cohorts handed in)
            return None

    return _kept_or_read(stored.service, ("cohort", run.id, run.started_at, school_dfe), read)
