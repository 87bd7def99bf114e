"""``frs analyse`` (run the analysis over a round's latest collection) and ``frs national``
(the published national figures reports compare with).

``frs report`` (owned by the collection work) prints a school's report; it calls
:func:`report_json` for ``--json`` and :func:`write_report_pdf` for ``--pdf OUT``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from . import App, echo_json, fail, main, pass_app


def _service(app: App):
    from ..storage.db import DatabaseNotReady
    from ..storage.service import Service

    if getattr(app, "_service", None) is None:
        app._service = Service.from_kernel(app.kernel)
    try:
        app._service.check_ready()
    except DatabaseNotReady as exc:
        fail(str(exc), 2)
    return app._service


def _round(app: App, round_id: str):
    rounds = {r.id: r for r in app.kernel.config.rounds}
    if round_id not in rounds:
        known = ", ".join(sorted(rounds)) or "none configured"
        raise click.BadParameter(f"unknown round {round_id!r}; rounds in config: {known}", param_hint="--round")
    return rounds[round_id]


# --------------------------------------------------------------------------- for `frs report`


def report_json(service, school_dfe: str, round_id: str) -> dict[str, Any]:
    """The school's full report (measures, pupils, subjects, groups, comparisons) for ``--json``.
    Raises :class:`frs.analysis.service.ReportNotFound` with a message for the user."""
    from ..analysis.service import school_report

    return school_report(service, school_dfe, round_id)


def write_report_pdf(service, school_dfe: str, round_id: str, out: Path) -> int:
    """Write the school's PDF summary to ``out`` (atomically); returns its size in bytes."""
    from ..analysis.service import school_pdf

    data = school_pdf(service, school_dfe, round_id)
    out = Path(out)
    temp = out.with_name(f".{out.name}.tmp")
    temp.write_bytes(data)
    os.replace(temp, out)
    return len(data)


# --------------------------------------------------------------------------- frs analyse


@main.command("analyse")
@click.option("--round", "round_id", required=True, help="Round id from config (e.g. ks4-2020).")
@click.option("--collection", "collection_id", type=int,
              help="Collection id (default: the round's latest collection).")
@click.option("--no-pdf", is_flag=True, help="Store the measures only; make no PDFs.")
@click.option("--workers", type=click.IntRange(1, 32), default=None,
              help="Worker processes for the measures and PDFs (default: the number of CPUs, at most 4).")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@pass_app
def analyse_command(app: App, round_id: str, collection_id: int | None, no_pdf: bool, workers: int | None,
                    as_json: bool) -> None:
    """Analyse a round's collection: every school's KS4 / KS5 measures, compared with all schools
    and the national figures, stored with the rules version, and each school's PDF summary.

    Progress goes to stderr. Running it again on the same collection stores the same results and
    replaces the earlier run; a failed run leaves the earlier results as they were.
    """
    from ..analysis.runner import AnalysisFailed, analyse

    rnd = _round(app, round_id)
    service = _service(app)
    try:
        from ..services import collections
    except ImportError:
        fail("this installation has no collection module (frs.services.collections): collect the round first", 2)
    if collection_id is None:
        found = collections.latest_collection(service, rnd.id)
        if found is None or getattr(found, "state", "complete") != "complete":
            fail(f"round {rnd.id} has not been collected yet: run `frs collect --round {rnd.id}` after it closes "
                 "(the daemon does at the deadline)")
        collection_id = found if isinstance(found, int) else getattr(found, "id")
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    state = {"bar": None}

    def progress(done: int, total: int) -> None:
        if state["bar"] is None or state["bar"].length != total:
            if state["bar"] is not None:
                state["bar"].render_finish()
            state["bar"] = click.progressbar(length=total, label=f"Analysing {rnd.id}", file=sys.stderr,
                                             show_pos=True)
            state["bar"].render_progress()
        state["bar"].update(done - state["bar"].pos)

    try:
        summary = analyse(service, collection_id, progress=progress, pdfs=not no_pdf, workers=workers)
    except AnalysisFailed as exc:
        fail(str(exc))
    finally:
        if state["bar"] is not None:
            state["bar"].render_finish()
    if as_json:
        echo_json(summary)
    else:
        click.echo(f"Analysed collection {summary['collection_id']} of {summary['round_id']}: "
                   f"{summary['schools']} schools, {summary['pupils']} pupils"
                   + ("" if no_pdf else ", PDF summaries made") + f" (rules {summary['rules_version']}).")


# --------------------------------------------------------------------------- frs national


@main.group("national")
def national_group() -> None:
    """Published national figures the reports compare with (packaged, plus what operators load)."""


@national_group.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_app
def national_load(app: App, file: Path) -> None:
    """Load national figures from a CSV file (format: docs/analysis.md). All rows or none; a loaded
    figure replaces the one with the same key stage, year, measure, group and subject."""
    from ..analysis import national

    data = file.read_bytes()
    if len(data) > 20 * 1024 * 1024:
        fail(f"{file} is larger than 20 MB; split it into several files")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{file} is not UTF-8 text: save it from Excel as 'CSV UTF-8'")
    try:
        count = national.load(_service(app), text)
    except national.NationalFileError as exc:
        for line, message in exc.problems[:50]:
            click.echo(f"{file}:{line}: {message}", err=True)
        fail(f"{len(exc.problems)} problem(s): nothing was loaded")
    click.echo(f"Loaded {count} national figure(s) from {file}.")


@national_group.command("list")
@click.option("--key-stage", type=click.Choice(["2", "4", "5"]), required=True)
@click.option("--year", type=int, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@pass_app
def national_list(app: App, key_stage: str, year: int, as_json: bool) -> None:
    """The national figures a report for this key stage and year compares with."""
    from ..analysis import national

    rows = sorted(national.figures(int(key_stage), year, national.loaded_rows(_service(app), int(key_stage), year))
                  .values(), key=lambda r: (r["group"], r["subject"], r["measure"]))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"No national figures held for KS{key_stage} {year}.")
    for r in rows:
        where = " ".join(x for x in (r["group"], r["subject"]) if x)
        click.echo(f"{r['measure']:<22} {where:<28} {r['value']:>10g} {r['unit']:<8} {r['source']}")
