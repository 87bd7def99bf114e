"""``frs demo``: the whole flow on the embedded defaults, with a made-up school and pupils."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import click

from . import main, pass_app, program

SCHOOL_DFE, SCHOOL_NAME = "1231234", "Demo Academy"
MANAGER = "data.manager@demo-academy.example"


@main.command("demo")
@click.option("--keystage", default="ks5_alevel", show_default=True, help="Key stage to demonstrate.")
@click.option("--pupils", default=30, show_default=True, type=click.IntRange(3, 2000),
              help="Pupils in the demo cohort (3 to 2000).")
@pass_app
def demo_command(app, keystage: str, pupils: int) -> None:
    """Set up a demo school and run a results day end to end.

    Uses the configured instance folder (SQLite and stored files; FRS_HOME overrides): creates the
    schema, a school (DfE 1231234) and a data manager, writes a template with made-up pupils,
    fills it in, uploads a copy with mistakes (listed, with an error list and an annotated copy),
    then a clean copy, confirms it and lists the uploads. If FRS_NOW is not set, the clock is set
    inside the key stage's latest round so uploads are accepted. Safe to run again.
    """
    from ..config import LONDON
    from ..connectors import School
    from ..demo import DemoSource, fill_results
    from ..kernel import UnknownKeyStage
    from ..storage.service import Service
    from ..validation import render
    from ..validation.engine import annotate
    from ..workbook.template import build_template, template_filename

    kernel = app.kernel
    try:
        ks = kernel.keystage(keystage)
    except UnknownKeyStage as exc:
        raise click.BadParameter(str(exc), param_hint="'--keystage'") from None
    rnd = kernel.round_for(ks)
    if rnd is None:
        raise click.UsageError(f"config has no round for key stage {ks.key_stage}")
    if not os.environ.get("FRS_NOW"):
        rehearsal = rnd.opens + (rnd.closes - rnd.opens) / 2
        os.environ["FRS_NOW"] = rehearsal.replace(tzinfo=None).isoformat(timespec="minutes")
        click.echo(f"Clock set to {os.environ['FRS_NOW']} (UK time) inside round {rnd.id}, as FRS_NOW would.")

    out = Path(kernel.config.home) / "demo"
    out.mkdir(parents=True, exist_ok=True)
    service = Service.from_kernel(kernel)
    service.init_db()
    service.add_school(SCHOOL_DFE, SCHOOL_NAME)
    service.add_user(MANAGER, SCHOOL_DFE, ["manage_data"])
    click.echo(f"Database ready; school {SCHOOL_DFE} {SCHOOL_NAME}; user {MANAGER} (Manage Data).")

    school = School(SCHOOL_DFE, SCHOOL_NAME)
    cohort = DemoSource(rnd.year, pupils).fetch_cohort(school, ks.nc_year)
    template = build_template(kernel, ks, school, rnd, cohort)
    name = template_filename(ks, rnd, school)
    (out / f"template_{name}").write_bytes(template)
    click.echo(f"\n1. Template with {len(cohort)} pupils: {out / ('template_' + name)}")

    first_result = next(i for i, c in enumerate(kernel.columns(ks)) if c.kind == "result") + 1
    row = ks.first_pupil_row

    def mistakes(sheet):
        sheet.cell(row=row, column=first_result).value = "A+" if ks.id == "ks5_alevel" else "Z"
        sheet.cell(row=row + 1, column=5).value = "A" + str(sheet.cell(row=row + 1, column=5).value)[1:]
        sheet.cell(row=row + 2, column=11).value = "F"

    with_errors = fill_results(template, kernel, ks, edit=mistakes)
    (out / name).write_bytes(with_errors)
    click.echo(f"2. Filled in, with three mistakes: {out / name}; uploading it ...")
    result = service.upload(MANAGER, with_errors, name)
    click.echo(render.table(result.report))
    (out / "errors.xlsx").write_bytes(render.errors_xlsx(result.report))
    (out / "annotated.xlsx").write_bytes(annotate(kernel, with_errors, result.report) or b"")
    click.echo(f"   status: {result.upload.status}; error list {out / 'errors.xlsx'}, "
               f"annotated copy {out / 'annotated.xlsx'}")

    clean = fill_results(template, kernel, ks)
    click.echo("\n3. The corrected file, uploaded and confirmed with the terms accepted ...")
    result = service.upload(MANAGER, clean, name, confirm=True, accept_terms=True)
    click.echo(f"   {render.summary(result.report)} Status: {result.upload.status}.")

    click.echo(f"\n4. Uploads of {SCHOOL_NAME} (frs uploads list --school {SCHOOL_DFE} --all):")
    for view in service.list_uploads(MANAGER, SCHOOL_DFE, include_hidden=True):
        when = view.uploaded_at.astimezone(LONDON).strftime("%d/%m/%Y %H:%M")
        click.echo(f"   #{view.id:<4} {view.status:<22} {view.pupils:>3} pupils  {when}  {view.filename}"
                   + (f"  ({view.report_status})" if view.report_status else ""))
    frs = program()
    click.echo(f"\nTry: {frs} validate {shlex.quote(str(out / name))} --school {SCHOOL_DFE}\n"
               f"     FRS_NOW={os.environ['FRS_NOW']} {frs} uploads list --school {SCHOOL_DFE} --all\n"
               f"     {frs} audit --school {SCHOOL_DFE}")
