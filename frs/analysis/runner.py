"""Running the analysis of a collection (what ``frs analyse`` and the daemon run after collecting).

- :func:`analyse` runs the key stage's measures over every school of a collection, stores each
  school's result, works out the all-schools figures, then makes each school's PDF and marks its
  uploads *Reports available*.
- :func:`analyse_cohorts` does the same for cohorts handed to it (tests, the dashboards' benchmark).
- :func:`analyse_after_collection` is what the kernel's ``round_collected`` hook runs.

A batch of schools is one task: read (each worker reads its own batches from the collection),
measured, stored in one transaction. Memory stays flat: the parent keeps only the all-schools sums
and one number per school and measure; the second pass reads the stored results back a batch at
a time. Reading a school's stored report is :mod:`frs.analysis.service`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import zlib
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import delete, update
from sqlmodel import select

from ..storage import db
from ..storage.files import FileStore
from ..storage.models_analysis import FAILED, FINISHED, RUNNING, AnalysisRun, SchoolAnalysis
from . import engine
from .service import _published, render_pdf, reports_store

log = logging.getLogger("frs.analysis")
Progress = Callable[[int, int], None]
BATCH = 20  # schools per task: one read, one write transaction


class AnalysisFailed(RuntimeError):
    """The analysis stopped; what was stored before stays as it was."""


class AnalysisStopped(AnalysisFailed):
    """Asked to stop (the daemon is shutting down); the earlier results stay as they were."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def analyse(service, collection_id: int, *, progress: Progress | None = None, pdfs: bool = True,
            workers: int = 1, stopping=None) -> dict[str, Any]:
    """Analyse a collection: every school's measures, stored, compared, with its PDF.

    With ``workers`` > 1 the schools are shared out by batches between worker processes, and each
    worker reads its batches' cohorts from the collection and writes their results and PDFs itself:
    the parent only hands out batches and adds up the all-schools sums, so nothing a school sent
    crosses a process boundary."""
    from ..services import collections

    reader = collections.CohortReader(service, collection_id)
    coll = reader.coll
    return _run(service, collection_id=collection_id, round_id=coll.round_id, key_stage=coll.key_stage,
                year=coll.year, batches=reader.batches(BATCH), progress=progress, pdfs=pdfs,
                workers=workers, stopping=stopping)


def analyse_cohorts(service, cohorts: Iterable, *, collection_id: int, progress: Progress | None = None,
                    total: int | None = None, pdfs: bool = True, workers: int = 1,
                    stopping=None) -> dict[str, Any]:
    """Analyse cohorts handed in (tests, the demo's synthetic schools) as :func:`analyse` does a
    collection. They are measured in this process; ``workers`` > 1 makes the PDFs in worker processes."""
    iterator: Iterator = iter(cohorts)
    first = next(iterator, None)
    if first is None:
        raise AnalysisFailed(f"collection {collection_id} has no schools to analyse")
    seen: set[str] = set()

    def checked() -> Iterator:
        for cohort in _chain(first, iterator):
            if (cohort.key_stage, cohort.round_id) != (first.key_stage, first.round_id):
                raise AnalysisFailed(f"school {cohort.school_dfe} is in round {cohort.round_id}, not "
                                     f"{first.round_id}: a collection holds one round")
            if cohort.school_dfe in seen:
                raise AnalysisFailed(f"school {cohort.school_dfe} appears twice in collection {collection_id}")
            seen.add(cohort.school_dfe)
            yield cohort

    return _run(service, collection_id=collection_id, round_id=first.round_id, key_stage=first.key_stage,
                year=first.year, batches=_batched(checked(), BATCH), progress=progress, pdfs=pdfs,
                workers=workers, stopping=stopping, total=total, handed=True)


def _run(service, *, collection_id: int, round_id: str, key_stage: int, year: int, batches: Iterable[list],
         progress: Progress | None, pdfs: bool, workers: int, stopping, total: int | None = None,
         handed: bool = False) -> dict[str, Any]:
    """The two passes: (1) each school's measures, stored, and the all-schools sums; (2) each
    school compared with all schools, its PDF stored and its uploads marked *Reports available*.
    A batch of schools is one task (for a worker process or this one) and one transaction."""
    measures = service.kernel.measures(key_stage)
    if not measures.measures:
        raise AnalysisFailed(f"no measure plugin is enabled for key stage {key_stage}; enable "
                             "ks4_measures / ks5_measures in config [plugins] enabled")
    if isinstance(batches, list):
        if not batches:
            raise AnalysisFailed(f"collection {collection_id} has no schools to analyse")
        total = sum(len(b) for b in batches)
    run = AnalysisRun(collection_id=collection_id, round_id=round_id, key_stage=key_stage, year=year,
                      rules_version=measures.version, status=RUNNING, started_at=_now())
    with db.session(service.engine, write=True) as s:
        s.add(run)
        s.commit()
        s.refresh(run)
    run_id = run.id
    steps = 2 * total if total else 0
    done = 0
    try:
        accumulator = engine.NationalAccumulator(measures)
        # handed-in cohorts are measured here: sending whole cohorts to workers costs more than it saves
        with _pool(1 if handed else workers, service, measures=measures) as pool:
            for count, share in pool(_measure_batch, ((run_id, collection_id, b) for b in batches)):
                _check(stopping)
                accumulator.merge(share)
                done += count
                if progress:
                    progress(done, steps or 2 * done)
            summary = accumulator.finish()
            schools = summary["schools"]
            steps = 2 * schools
            with db.session(service.engine, write=True) as s:
                held = s.get(AnalysisRun, run_id)
                held.national = engine.canonical_json(summary)
                held.schools, held.pupils = schools, summary["pupils"]
                s.add(held)
                s.commit()
            if pdfs:
                with _pool(workers, service, measures=measures) if handed else contextlib.nullcontext(pool) as pdf_pool:
                    for count in pdf_pool(_render_batch, ((run_id, ids) for ids in _row_batches(service, run_id))):
                        _check(stopping)
                        done += count
                        if progress:
                            progress(done, steps)
            elif progress:
                progress(steps, steps)
        with db.session(service.engine, write=True) as s:
            held = s.get(AnalysisRun, run_id)
            held.status, held.finished_at = FINISHED, _now()
            s.add(held)
            # the newest run of a collection replaces the older ones
            older = [r.id for r in s.exec(select(AnalysisRun).where(AnalysisRun.collection_id == collection_id,
                                                                    AnalysisRun.id != run_id)).all()]
            replaced: set[tuple[str, str]] = set()
            if older:
                replaced = {tuple(r) for r in s.exec(select(SchoolAnalysis.school_dfe, SchoolAnalysis.pdf_sha256)
                                                     .where(SchoolAnalysis.run_id.in_(older),
                                                            SchoolAnalysis.pdf_sha256.is_not(None))).all()}
                s.exec(delete(SchoolAnalysis).where(SchoolAnalysis.run_id.in_(older)))
                s.exec(delete(AnalysisRun).where(AnalysisRun.id.in_(older)))
            s.commit()
    except BaseException as exc:
        _abandon(service, run_id, exc)
        raise
    _remove_unused_pdfs(service, replaced)
    return {"run_id": run_id, "collection_id": collection_id, "round_id": round_id, "key_stage": key_stage,
            "schools": schools, "pupils": summary["pupils"], "rules_version": measures.version, "pdfs": pdfs}


def _remove_unused_pdfs(service, candidates: set[tuple[str, str]]) -> None:
    """Delete the replaced runs' PDFs that no stored result points at any more (a rerun that
    made the same PDF keeps it: the store is content-addressed)."""
    if not candidates:
        return
    with db.session(service.engine) as s:
        kept = {tuple(r) for r in s.exec(select(SchoolAnalysis.school_dfe, SchoolAnalysis.pdf_sha256).where(
            SchoolAnalysis.school_dfe.in_({dfe for dfe, _ in candidates}),
            SchoolAnalysis.pdf_sha256.in_({sha for _, sha in candidates}))).all()}
    store = reports_store(service)
    for dfe, sha256 in sorted(candidates - kept):
        try:
            store.delete(dfe, sha256)
        except OSError:  # a file left behind costs disk, not correctness
            log.warning("could not delete the replaced PDF %s/%s", dfe, sha256, exc_info=True)


def _check(stopping) -> None:
    if stopping is not None and stopping.is_set():
        raise AnalysisStopped("the analysis was stopped before it finished; the earlier results are unchanged: "
                              "run `frs analyse` again")


def _chain(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest


def _batched(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _row_batches(service, run_id: int) -> Iterator[list[int]]:
    """The ids of the run's stored results, in batches (ids only: a worker reads its own rows)."""
    with db.session(service.engine) as s:
        ids = list(s.exec(select(SchoolAnalysis.id).where(SchoolAnalysis.run_id == run_id)
                          .order_by(SchoolAnalysis.id)).all())
    return _batched(ids, BATCH)


# ------------------------------------------------ the work of one batch (in a worker or in-process)

_worker_state: dict[str, Any] = {}


def _init_worker(state: dict[str, Any]) -> None:
    _worker_state.clear()
    _worker_state.update(state)


def _service() -> Any:
    """The service of this process: the parent's own, or one a worker built on the same database,
    file store and configuration."""
    held = _worker_state.get("service")
    if held is None:
        from ..kernel import Kernel
        from ..storage.service import Service

        config, url, files = _worker_state["service_spec"]
        held = _worker_state["service"] = Service(Kernel(config), db.make_engine(url), FileStore(files))
    return held


def _measure_batch(task: tuple[int, int, list]) -> tuple[int, dict[str, Any]]:
    """Measure a batch of schools (cohorts, or (school id, DfE, name) rows of the collection to
    read), store their results in one transaction, and return their share of the all-schools sums."""
    run_id, collection_id, batch = task
    service, measures = _service(), _worker_state["measures"]
    if batch and not hasattr(batch[0], "pupils"):
        reader = _worker_state.get("reader")
        if reader is None or reader.coll.id != collection_id:
            from ..services import collections

            reader = _worker_state["reader"] = collections.CohortReader(service, collection_id)
        batch = reader.read(batch)
    share = engine.NationalAccumulator(measures)
    rows = []
    for cohort in batch:
        scores = engine.score(cohort, measures)
        pupil_vectors = engine.vectors(share.indicators, scores)
        result = engine.result_from_scores(cohort, measures, scores, pupil_vectors=pupil_vectors)
        share.add(result, scores, pupil_vectors)
        text = engine.canonical_json(result).encode()
        rows.append(SchoolAnalysis(run_id=run_id, school_dfe=cohort.school_dfe, round_id=cohort.round_id,
                                   collection_id=collection_id, rules_version=measures.version,
                                   result=zlib.compress(text, 6), result_sha256=hashlib.sha256(text).hexdigest()))
    if rows:
        with db.session(service.engine, write=True) as s:
            s.add_all(rows)
            s.commit()
    return len(rows), share.state()


def _render_batch(task: tuple[int, list[int]]) -> int:
    """Compare a batch of stored results with all schools, store each PDF (durable before any row
    points at it), then record them and mark the schools' uploads *Reports available* in one
    transaction (a synchronous commit per school would cost more than its PDF)."""
    from ..storage.models import PROCESSING, REPORTS_AVAILABLE, Upload

    run_id, ids = task
    service = _service()
    national, published = _run_figures(service, run_id)
    with db.session(service.engine) as s:
        rows = s.exec(select(SchoolAnalysis.id, SchoolAnalysis.school_dfe, SchoolAnalysis.result)
                      .where(SchoolAnalysis.id.in_(ids)).order_by(SchoolAnalysis.id)).all()
    store = reports_store(service)
    made, upload_ids = [], []
    for row_id, dfe, blob in rows:
        result = json.loads(zlib.decompress(blob))
        result["comparisons"] = engine.compare(result, national, published)
        made.append((row_id, store.put(dfe, render_pdf(result)).sha256))
        upload_ids += result.get("upload_ids") or []
    with db.session(service.engine, write=True) as s:
        for row_id, sha256 in made:
            s.exec(update(SchoolAnalysis).where(SchoolAnalysis.id == row_id).values(pdf_sha256=sha256))
        if upload_ids:
            s.exec(update(Upload).where(Upload.id.in_(upload_ids), Upload.status == PROCESSING)
                   .values(status=REPORTS_AVAILABLE))
        s.commit()
    return len(made)


def _run_figures(service, run_id: int) -> tuple[dict[str, Any], Any]:
    """The run's all-schools figures and the published national ones, read once per process."""
    held = _worker_state.get("figures")
    if held is None or held[0] != run_id:
        with db.session(service.engine) as s:
            run = s.get(AnalysisRun, run_id)
        held = _worker_state["figures"] = (run_id, json.loads(run.national or "{}"),
                                           _published(service, run.key_stage, run.year))
    return held[1], held[2]


class _pool:
    """``with _pool(workers, service, **state) as run: for out in run(func, tasks)`` maps ``func``
    over ``tasks`` in order, in ``workers`` processes (or in this one), with a few tasks in flight
    so memory stays flat however many schools there are."""

    def __init__(self, workers: int, service, **state: Any):
        self.workers, self.state, self.executor = workers, dict(state), None
        url = service.engine.url
        # a worker rebuilds the service from the configuration: an in-memory database or plugins
        # registered in this process only (tests, embedding) cannot be rebuilt there
        shareable = ((url.get_backend_name() != "sqlite" or url.database not in (None, "", ":memory:"))
                     and not getattr(service.kernel, "added_plugins", ()))
        if workers > 1 and shareable:
            root = getattr(service.store, "root", None)
            self.state["service_spec"] = (service.kernel.config, url.render_as_string(hide_password=False),
                                          root if root is not None else Path(service.kernel.config.home) / "files")
        else:
            self.workers = 1
            self.state["service"] = service

    def __enter__(self):
        if self.workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: no inherited database connections, locks or scheduler threads
            self.executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_init_worker, initargs=(self.state,))
        else:
            _init_worker(self.state)
        return self.run

    def run(self, func, tasks: Iterable) -> Iterator:
        if self.executor is None:
            yield from map(func, tasks)
            return
        from collections import deque

        window = deque()
        for task in tasks:
            window.append(self.executor.submit(func, task))
            if len(window) >= 3 * self.workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()

    def __exit__(self, *exc_info):
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
        else:
            _worker_state.clear()  # the parent's service is not kept past the run
        return False


def _abandon(service, run_id: int, exc: BaseException) -> None:
    """A failed run leaves the earlier results as they were: its own rows are removed."""
    try:
        with db.session(service.engine, write=True) as s:
            s.exec(delete(SchoolAnalysis).where(SchoolAnalysis.run_id == run_id))
            held = s.get(AnalysisRun, run_id)
            if held is not None:
                held.status, held.finished_at = FAILED, _now()
                held.error = f"{type(exc).__name__}: {exc}"[:2000]
                s.add(held)
            s.commit()
    except Exception:  # the original error matters more
        log.exception("could not record the failed analysis run %s", run_id)


def analyse_after_collection(round_id: str, collection_id: int, service, *, progress: Progress | None = None,
                             log_to: logging.Logger | None = None, stopping=None,
                             workers: int | None = None) -> dict[str, Any] | None:
    """What runs when a round has been collected (the kernel's ``round_collected`` hook,
    :mod:`frs.analysis.hooks`): the whole analysis with PDFs. Logged, never raised: the collection
    stands whatever happens here, and ``frs analyse`` can run it again. ``workers`` defaults to the
    number of CPUs (at most 4)."""
    logger = log_to or log
    import os

    if workers is None:
        workers = max(1, min(4, os.cpu_count() or 1))
    logger.info("analysing collection %s of %s", collection_id, round_id)
    try:
        summary = analyse(service, collection_id, progress=progress, workers=workers, stopping=stopping)
    except AnalysisStopped:
        logger.warning("analysis of collection %s (round %s) stopped; run `frs analyse --round %s`", collection_id,
                       round_id, round_id)
        return None
    except Exception:
        logger.exception("analysis of collection %s (round %s) failed; run `frs analyse --round %s` to retry",
                         collection_id, round_id, round_id)
        return None
    logger.info("analysed collection %s of %s: %s schools, %s pupils", collection_id, round_id,
                summary["schools"], summary["pupils"])
    return summary
