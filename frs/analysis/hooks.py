"""The kernel's own reaction to a collection: analyse it.

Registered by the kernel as the built-in plugin ``frs.analysis`` (listed by ``frs plugins``), so the
analysis hears about a collection through the same ``round_collected`` hook as any plugin, and a
failure in it never stops the plugins after it. The collection stands whatever happens here;
``frs analyse --round ID`` runs the analysis again by hand.

Whoever runs the collection (the daemon, ``frs collect``) may hand the analysis a way to report
progress and a stop request with :func:`analysis_options`: the hook's arguments are a public
contract and stay as they are.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from typing import Any, Callable, Iterator

from ..hookspecs import hookimpl

log = logging.getLogger("frs.analysis")

#: (progress, stopping) for the analysis run by the collection in hand, set by its caller
_options: contextvars.ContextVar[tuple[Callable[[int, int], None] | None, threading.Event | None]] = \
    contextvars.ContextVar("frs_analysis_options", default=(None, None))

#: below this many schools the PDFs are made in-process: starting worker processes costs more
_WORKERS_FROM_SCHOOLS = 40


@contextlib.contextmanager
def analysis_options(*, progress: Callable[[int, int], None] | None = None,
                     stopping: threading.Event | None = None) -> Iterator[None]:
    """While in this block, an analysis started by a collection reports ``progress(done, total)``
    and stops (keeping the earlier results) when ``stopping`` is set. What is not given is kept
    from an enclosing block (the command line gives progress, the collection its stop request)."""
    outer_progress, outer_stopping = _options.get()
    token = _options.set((progress or outer_progress, stopping or outer_stopping))
    try:
        yield
    finally:
        _options.reset(token)


def _logged_progress(round_id: str) -> Callable[[int, int], None]:
    """Progress as log lines (the daemon's log): at most one per tenth of the work."""
    state = {"shown": -1}

    def progress(done: int, total: int) -> None:
        tenth = (10 * done // total) if total else 0
        if tenth != state["shown"] and (tenth > state["shown"]):
            state["shown"] = tenth
            log.info("analysing round %s: %s of %s steps", round_id, done, total,
                     extra={"fields": {"event": "analysis progress", "round": round_id, "done": done,
                                       "total": total}})

    return progress


@hookimpl
def round_collected(round_id: str, collection_id: int, service: Any) -> None:
    """Analyse the collection just made: every school's measures, comparisons and PDF summary."""
    if service is None or collection_id is None:
        return
    from ..services.collections import collection_key_stage, count_schools
    from .runner import analyse_after_collection

    key_stage = collection_key_stage(service, collection_id)
    if key_stage is None:
        return
    if not service.kernel.measures(key_stage).measures:
        log.info("round %s collected; no measures are enabled for key stage %s, so it is not analysed "
                 "(enable ks4_measures / ks5_measures in config [plugins] enabled)", round_id, key_stage)
        return
    progress, stopping = _options.get()
    schools = count_schools(service, collection_id)
    if not schools:
        log.info("round %s collected no school; nothing to analyse", round_id)
        return
    workers = 1 if schools < _WORKERS_FROM_SCHOOLS else None
    analyse_after_collection(round_id, collection_id, service, progress=progress or _logged_progress(round_id),
                             stopping=stopping, workers=workers)
