"""``frs template``: write results templates for one school or many."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import OutputFile, fail, main, pass_app

if TYPE_CHECKING:
    from ..connectors import PupilSource, School


@main.command("template")
@click.option("--school", "schools", multiple=True, metavar="DFE",
              help="The school's 7-digit DfE number (LA code + establishment number). Repeat for several schools.")
@click.option("--schools-file", type=click.File("r", encoding="utf-8"),
              help="A file with one DfE number per line, optionally followed by a comma and the school's "
                   "name. Blank lines and lines starting with # are ignored.")
@click.option("--keystage", "keystage_id", required=True, metavar="KS",
              help="Key stage id, e.g. ks5_alevel (see `frs plugins`).")
@click.option("--output", "-o", type=OutputFile(),
              help="File to write (one school only).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write each school's template into, under its standard file name.")
@click.option("--round", "round_id", metavar="ID",
              help="Round id (e.g. ks5-2021) or year; default: the key stage's latest round.")
@click.option("--school-name", help="School name for the Organisation column (one school only; default: the "
                                     "name held in the database, if any).")
@click.option("--all-schools", is_flag=True, help="Every school in the database (frs schools import/add).")
@click.option("--source", "source_name", metavar="NAME",
              help="Pupil source to pre-fill from (e.g. blank); default: the best available for each school.")
@pass_app
def template(app, schools, schools_file, keystage_id, output, output_dir, round_id, school_name, all_schools,
             source_name):
    """Write the results template a school downloads, pre-filled with its cohort.

    The workbook has the key stage's header rows, one dropdown per result column, mistakes
    highlighted as they are typed, protected header rows and a Guidance sheet.

    \b
    One school:   frs template --school 1231234 --keystage ks5_alevel --output t.xlsx
    Many schools: frs template --schools-file schools.txt --keystage ks5_alevel --output-dir out/

    Prints each file written. Exit status 1 if any school's template could not be made,
    2 on a usage error.
    """
    from ..connectors import School, SourceContext
    from ..kernel import UnknownKeyStage
    from ..workbook.template import build_template, template_filename

    service = _database(app)
    held = {school.dfe: school.name for school in service.schools()} if service else {}
    if all_schools:
        schools = tuple(schools) + tuple(held)
        if not held:
            raise click.UsageError("No schools in the database: add them with frs schools import/add.")
    targets = [School(s.dfe, s.name or held.get(s.dfe, "")) for s in _schools(schools, schools_file, school_name)]
    if output and output_dir:
        raise click.UsageError("Give either --output or --output-dir, not both.")
    if output and len(targets) > 1:
        raise click.UsageError("--output names one file: use --output-dir for several schools.")
    if output_dir:
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.BadParameter(f"cannot create the folder {str(output_dir)!r}: {exc.strerror or exc}",
                                     param_hint="'--output-dir'") from None
    kernel = app.kernel
    try:
        keystage = kernel.keystage(keystage_id)
    except UnknownKeyStage as exc:
        raise click.UsageError(str(exc)) from None
    rnd = kernel.round_for(keystage, round_id)
    source = _named_source(kernel, source_name)
    context = SourceContext(service=service, round=rnd, config=kernel.config)

    failures = 0
    with click.progressbar(targets, label="Writing templates", file=sys.stderr,
                           hidden=len(targets) == 1) as bar:
        for school in bar:
            try:
                chosen = source or kernel.select_source(school, keystage, context)
                if chosen is None:
                    raise RuntimeError("no pupil source is available for this school")
                if not chosen.is_available(school, context):
                    why = chosen.unavailable_reason(school, context)
                    raise RuntimeError(f"pupil source {chosen.name!r} is not available for this school"
                                       + (f": {why}" if why else ""))
                _notes(kernel, school, chosen, context)
                cohort = chosen.cohort(school, keystage.nc_year, context)
                pupils = [p for p in cohort.pupils if p.nc_year in (None, keystage.nc_year)]
                cohort = dataclasses.replace(cohort, pupils=pupils)
                for problem in cohort.problems:
                    click.echo(f"Warning: school {school.dfe}: {problem}", err=True)
                click.echo(f"school {school.dfe}: {cohort.describe()}", err=True)
                data = build_template(kernel, keystage, school, rnd, pupils, pupils_from=cohort.describe())
                path = output or (output_dir or Path(".")) / template_filename(keystage, rnd, school)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            except Exception as exc:  # one school's failure must not stop a bulk run
                failures += 1
                click.echo(f"Error: school {school.dfe}: {type(exc).__name__}: {exc}", err=True)
                continue
            click.echo(str(path))
    if failures:
        fail(f"{failures} of {len(targets)} templates could not be written (see above).")


def _schools(dfe_numbers, schools_file, school_name) -> list[School]:
    from ..connectors import School, dfe_number

    entries = [(dfe, school_name) for dfe in dfe_numbers]
    if schools_file is not None:
        try:
            lines = schools_file.read().splitlines()
        except UnicodeDecodeError as exc:
            raise click.BadParameter(f"{schools_file.name} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); "
                                     "save it again as UTF-8", param_hint="'--schools-file'") from None
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                dfe, _, name = line.partition(",")
                entries.append((dfe.strip(), name.strip() or None))
    if not entries:
        raise click.UsageError("Give the school with --school DFE (or several, or --schools-file).")
    if school_name and len(entries) > 1:
        raise click.UsageError("--school-name is for one school; put names in --schools-file instead.")
    bad = [dfe for dfe, _ in entries if dfe_number(dfe) is None]
    if bad:
        raise click.UsageError(f"DfE number {bad[0]!r} is not 7 digits (LA code + establishment number, "
                               "e.g. 1231234).")
    seen: dict[str, School] = {}
    for dfe, name in entries:
        dfe = dfe_number(dfe)
        seen.setdefault(dfe, School(dfe=dfe, name=name or ""))
    return list(seen.values())


def _database(app):
    """The storage service when a database with frs tables exists; None otherwise (templates can
    still be made, from the sources that need no database)."""
    from ..storage.db import DatabaseNotReady, database_url
    from ..storage.service import Service

    url = database_url(app.kernel.config)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return None  # no database yet: do not create one just to look
    try:
        service = Service.from_kernel(app.kernel)
        service.check_ready()
        return service
    except DatabaseNotReady:
        return None


def _notes(kernel, school: "School", chosen: "PupilSource", context) -> None:
    """Say why a source that would have come first was not used (e.g. a round's MIS cut-off)."""
    for other in sorted(kernel.sources.values(), key=lambda s: -s.priority):
        if other is chosen or other.priority <= chosen.priority:
            continue
        why = other.unavailable_reason(school, context)
        if why:
            click.echo(f"Note: school {school.dfe}: {other.name} not used: {why}", err=True)


def _named_source(kernel, name: str | None) -> PupilSource | None:
    if name is None:
        return None
    sources = kernel.sources
    if name not in sources:
        known = ", ".join(sorted(sources)) or "none enabled"
        raise click.UsageError(f"unknown pupil source {name!r}; sources: {known}")
    return sources[name]
