"""``frs validate``: check a filled template exactly as an upload would be checked."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import OutputFile, echo_json, fail, main, pass_app, read_upload


def dfe_number(ctx, param, value):
    if value is None:
        return value
    from ..connectors import dfe_number as clean_dfe

    clean = clean_dfe(value)
    if clean is None:
        raise click.BadParameter(f"{value!r} is not a DfE number: 7 digits, LA code + establishment number (e.g. 1231234)")
    return clean


@main.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--school", required=True, callback=dfe_number, help="DfE number of the school the file is from.")
@click.option("--keystage", help="Key stage id (default: read from the template's cell A1).")
@click.option("--round", "round_id", help="Round id from config (default: the key stage's latest round).")
@click.option("--json", "as_json", is_flag=True, help='Print {"valid": bool, "issues": [...]} as JSON.')
@click.option("--errors-xlsx", type=OutputFile(), help="Write the error-list spreadsheet here.")
@click.option("--annotated", type=OutputFile(),
              help="Write a copy of the sheet with each bad cell highlighted and commented.")
@pass_app
def validate_command(app, file: Path, school: str, keystage: str | None, round_id: str | None, as_json: bool,
                     errors_xlsx: Path | None, annotated: Path | None) -> None:
    """Validate FILE for a school: gate, read, structure, rows and cells.

    Prints a table of issues (row, column, UPN, code, message). Exit status: 0 when there are no
    errors (warnings allowed), 1 when there are errors, 2 on a usage error.
    """
    from ..kernel import UnknownKeyStage
    from ..validation import render
    from ..validation.engine import annotate, validate

    kernel = app.kernel
    try:
        if keystage:
            kernel.keystage(keystage)
        data = read_upload(file, kernel.config.limits)
        report = validate(kernel, data, school, filename=file.name, keystage_id=keystage, round_id=round_id)
    except UnknownKeyStage as exc:
        fail(str(exc), 2)
    if errors_xlsx:
        errors_xlsx.write_bytes(render.errors_xlsx(report))
    if annotated:
        copy = annotate(kernel, data, report)
        if copy is None:
            click.echo("No annotated copy: the file could not be opened as a template (see the error).", err=True)
        else:
            annotated.write_bytes(copy)
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(render.table(report))
    sys.exit(0 if report.valid else 1)
