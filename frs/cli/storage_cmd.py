"""Commands over the database and file store: ``frs db``, ``frs schools``, ``frs users``,
``frs upload``, ``frs uploads``, ``frs rounds``, ``frs audit`` and ``frs store``.

They are thin: every check and every change is made by :mod:`frs.storage.service`, which the web
will call the same way. A refused action prints the reason and exits with status 1.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from . import App, OutputFile, echo_json, fail, main, pass_app, program, read_upload, write_output
from ..storage.names import PERMISSIONS


def _service(app: App, ready: bool = True):
    from ..storage.service import Service

    if getattr(app, "_service", None) is None:
        app._service = Service.from_kernel(app.kernel)
    if ready:
        app._service.check_ready()
    return app._service


def refusals(func):
    """Turn the service's refusals and failures into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from ..storage.db import DatabaseError
        from ..storage.service import Refused, StorageFailed

        try:
            return func(*args, **kwargs)
        except Refused as exc:
            if exc.issues and not kwargs.get("as_json"):
                from ..validation.render import table

                click.echo(table(exc.report) if exc.report else "\n".join(i.message for i in exc.issues), err=True)
            if kwargs.get("as_json"):
                echo_json({"refused": exc.reason, "code": exc.code, "issues": [i.to_dict() for i in exc.issues]})
            reason = exc.reason
            if exc.issues and not kwargs.get("as_json"):  # the table above said why: say it once
                for issue in exc.issues:
                    reason = reason.replace(" " + issue.message, "")
                if reason.endswith(":"):
                    reason = reason[:-1] + " (see above)."
            fail(reason)
        except (StorageFailed, DatabaseError) as exc:
            fail(str(exc), 2)

    return wrapper


def as_option(required: bool = True):
    help_text = "Act as this user (their email); the permission check is theirs."
    if not required:
        help_text += " Without it: an operator's view of any school."
    return click.option("--as", "actor", required=required, metavar="EMAIL", help=help_text)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


# --------------------------------------------------------------------------- db


@main.group("db")
def db_group():
    """The database: create its tables."""


@db_group.command("init")
@pass_app
@refusals
def db_init(app: App):
    """Create the database tables (safe to run again: existing tables and data are kept).

    The database is FRS_DATABASE_URL or [service] database_url in the config; without either,
    SQLite at <home>/frs.db, where home is FRS_HOME or [service] home (default: instance/).
    """
    from ..storage.db import describe

    service = _service(app, ready=False)
    created = service.init_db()
    click.echo(f"Database {describe(str(service.engine.url))}: "
               + (f"created {len(created)} tables ({', '.join(created)})." if created
                  else "up to date; nothing changed."))
    click.echo(f"Files are stored under {service.store.root.resolve()}")


# --------------------------------------------------------------------------- schools and users


@main.group("schools")
def schools_group():
    """Schools: import them from Get Information about Schools, add one, list them."""


@schools_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@pass_app
@refusals
def schools_import(app: App, file: Path, as_json: bool):
    """Load schools from a Get Information about Schools establishment CSV.

    The DfE number is LA (code) + EstablishmentNumber. Schools already held are updated, never
    duplicated. Bad rows are listed with their line numbers; the good rows still load.
    """
    result = _service(app).import_schools(file.read_bytes())
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(f"{file.name}: {result.added} added, {result.updated} updated, {result.unchanged} unchanged, "
                   f"{len(result.bad)} lines not loaded." + ("" if result.added or result.updated else
                                                             " Nothing changed in the database."))
        for line, reason in result.bad[:100]:
            click.echo(f"  line {line}: {reason}")
        if len(result.bad) > 100:
            click.echo(f"  ... and {len(result.bad) - 100} more (use --json for all)")


@schools_group.command("add")
@click.option("--dfe", required=True, help="The 7-digit DfE number (LA code + establishment number).")
@click.option("--name", required=True, help="The school's name.")
@click.option("--urn", help="Unique Reference Number, if known.")
@pass_app
@refusals
def schools_add(app: App, dfe: str, name: str, urn: str | None):
    """Add one school (or rename the school with this DfE number)."""
    school, outcome = _service(app).put_school(dfe, name, urn=urn)
    click.echo({"added": "Added", "updated": "Updated"}.get(outcome, "Nothing changed: already held as")
               + f" {school.dfe} {school.name}")


@schools_group.command("list")
@json_option
@pass_app
@refusals
def schools_list(app: App, as_json: bool):
    """List the schools held."""
    schools = _service(app).schools()
    if as_json:
        echo_json([{"dfe": s.dfe, "name": s.name, "urn": s.urn, "type": s.type, "phase": s.phase,
                    "status": s.status} for s in schools])
        return
    for s in schools:
        click.echo(f"{s.dfe}  {s.name}" + (f"  ({s.status})" if s.status else ""))
    click.echo(f"{len(schools)} schools")


@main.group("users")
def users_group():
    """Users and their permissions at schools."""


@users_group.command("add")
@click.argument("email")
@click.option("--school", "school_dfe", required=True, metavar="DFE", help="The school's DfE number.")
@click.option("--permission", "permissions", multiple=True, required=True, type=click.Choice(PERMISSIONS),
              help="manage_data: upload, confirm, delete and download the school's files; setup: connect its "
                   "MIS. Repeat for both.")
@click.option("--name", help="The user's name.")
@json_option
@pass_app
@refusals
def users_add(app: App, email: str, school_dfe: str, permissions: tuple[str, ...], name: str | None, as_json: bool):
    """Add a user (if new) and grant permissions at a school; permissions already held are kept."""
    result = _service(app).add_user(email, school_dfe, permissions, name=name)
    if as_json:
        echo_json(result)
    else:
        held = f"{', '.join(result['permissions'])} at {result['school']}"
        if result["changed"]:
            click.echo(f"{'Added' if result['created'] else 'Updated'} {result['email']}: {held}")
        else:
            click.echo(f"Nothing changed: {result['email']} already has {held}")


# --------------------------------------------------------------------------- uploads


def _print_upload(view) -> None:
    from ..issues import plural

    click.echo(f"Upload {view.id}: {view.filename} for {view.school_name} ({view.school_dfe}), {view.keystage}")
    click.echo(f"  Status: {view.status}" + (f" ({view.report_status})" if view.report_status else ""))
    counts = ", ".join(plural(n, word) for n, word in ((view.pupils, "pupil"), (view.errors, "error"),
                                                        (view.warnings, "warning")))
    click.echo(f"  {counts}; uploaded {_when(view.uploaded_at)} by {view.uploaded_by}")


def _when(value) -> str:
    from ..config import LONDON

    return value.astimezone(LONDON).strftime("%d/%m/%Y %H:%M") if value else ""


@main.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@as_option()
@click.option("--school", "school_dfe", metavar="DFE", help="The school (needed when the user manages several).")
@click.option("--keystage", "keystage_id", metavar="KEY", help="The template kind (default: read from the file).")
@click.option("--confirm", is_flag=True, help="Confirm it at once if it has no errors (needs --accept-terms).")
@click.option("--accept-terms", is_flag=True, help="Accept the terms and conditions (needed to confirm).")
@json_option
@pass_app
@refusals
def upload_cmd(app: App, file: Path, actor: str, school_dfe: str | None, keystage_id: str | None, confirm: bool,
               accept_terms: bool, as_json: bool):
    """Upload a results file: validate it and store it with its issues.

    A file with errors is kept as "Upload error" (see `frs uploads show` and `frs uploads errors`);
    a clean one waits for confirmation. Files refused by the upload gate, or sent outside the
    round's dates, are not stored. Exit status 1 when refused, when the file was stored with
    errors (like `frs validate`), or when --confirm was refused.
    """
    from ..validation.render import table

    data = read_upload(file, app.kernel.config.limits)
    result = _service(app).upload(actor, data, file.name, school_dfe=school_dfe, keystage_id=keystage_id,
                                  confirm=confirm, accept_terms=accept_terms)
    if as_json:
        echo_json(result.to_dict())
    else:
        if result.report.issues:
            click.echo(table(result.report))
        _print_upload(result.upload)
        if result.upload.status == "Awaiting confirmation":
            click.echo(f"  Confirm it with: {program()} uploads confirm {result.upload.id} --as {actor} --accept-terms")
    if result.confirm_refused:
        fail(result.confirm_refused)
    if not result.report.valid:
        sys.exit(1)  # stored, but with errors: scripts see the same status as `frs validate`


@main.group("uploads")
def uploads_group():
    """A school's uploads: list, show, confirm, delete, download, error list."""


@uploads_group.command("list")
@click.option("--school", "school_dfe", required=True, metavar="DFE", help="The school's DfE number.")
@click.option("--all", "include_hidden", is_flag=True, help="Include overwritten and deleted uploads.")
@as_option(required=False)
@json_option
@pass_app
@refusals
def uploads_list(app: App, school_dfe: str, include_hidden: bool, actor: str | None, as_json: bool):
    """List a school's uploads, newest first: status, pupils, date and time (UK), uploader, reports.

    With --as the user needs Manage Data at the school. Without it this is the operator's view.
    """
    from ..storage.service import OPERATOR

    views = _service(app).list_uploads(actor or OPERATOR, school_dfe, include_hidden=include_hidden)
    if as_json:
        echo_json([v.to_dict() for v in views])
        return
    if not views:
        click.echo(f"No uploads for {school_dfe}" + ("" if include_hidden else " (--all shows deleted and "
                                                         "overwritten ones)"))
        return
    rows = [(str(v.id), v.status, v.filename, str(v.pupils), _when(v.uploaded_at), v.uploaded_by,
             v.report_status or "") for v in views]
    heads = ("ID", "Status", "File", "Pupils", "Uploaded", "By", "Reports")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    for line in [heads, *rows]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip())


@uploads_group.command("show")
@click.argument("upload_id", type=int)
@as_option()
@json_option
@pass_app
@refusals
def uploads_show(app: App, upload_id: int, actor: str, as_json: bool):
    """Show one upload and its issues."""
    from ..issues import Report
    from ..validation.render import table

    view, issues = _service(app).show(actor, upload_id)
    if as_json:
        echo_json({**view.to_dict(), "issues": [i.to_dict() for i in issues]})
        return
    _print_upload(view)
    if issues:
        click.echo(table(Report(issues=issues, pupils=view.pupils, filename=view.filename)))


@uploads_group.command("confirm")
@click.argument("upload_id", type=int)
@as_option()
@click.option("--accept-terms", is_flag=True, help="Accept the terms and conditions (required).")
@json_option
@pass_app
@refusals
def uploads_confirm(app: App, upload_id: int, actor: str, accept_terms: bool, as_json: bool):
    """Confirm an upload: it becomes the school's current file for its template, and the
    previous current one is marked Overwritten. Refused without --accept-terms."""
    view = _service(app).confirm(actor, upload_id, accept_terms=accept_terms)
    if as_json:
        echo_json(view.to_dict())
    else:
        _print_upload(view)


@uploads_group.command("delete")
@click.argument("upload_id", type=int)
@as_option()
@json_option
@pass_app
@refusals
def uploads_delete(app: App, upload_id: int, actor: str, as_json: bool):
    """Delete an upload: its file and pupil records are destroyed; its history line stays."""
    result = _service(app).delete(actor, upload_id)
    if as_json:
        echo_json({**result.upload.to_dict(), "file_destroyed": result.file_destroyed})
        return
    _print_upload(result.upload)
    click.echo("  File destroyed." if result.file_destroyed else
               "  File kept: another upload of this school holds the same bytes (or removal will be retried).")


@uploads_group.command("download")
@click.argument("upload_id", type=int)
@as_option()
@click.option("--output", "-o", required=True, type=OutputFile(allow_dash=True),
              help="Where to write the file ('-' for standard output).")
@pass_app
@refusals
def uploads_download(app: App, upload_id: int, actor: str, output: Path):
    """Download an upload's file exactly as it was uploaded (any upload not deleted)."""
    filename, data = _service(app).download(actor, upload_id, deliver=lambda data: write_output(output, data))
    if str(output) != "-":
        click.echo(f"Wrote {filename} ({len(data)} bytes) to {output}")


@uploads_group.command("errors")
@click.argument("upload_id", type=int)
@as_option()
@click.option("--output", "-o", required=True, type=OutputFile(allow_dash=True),
              help="Where to write the error list (.xlsx; '-' for standard output).")
@pass_app
@refusals
def uploads_errors(app: App, upload_id: int, actor: str, output: Path):
    """Write an upload's error list as a spreadsheet (one row per issue)."""
    from ..validation.render import errors_xlsx

    report = _service(app).error_report(actor, upload_id,
                                        deliver=lambda report: write_output(output, errors_xlsx(report)))
    if str(output) != "-":
        click.echo(f"Wrote {len(report.issues)} issues to {output}")


# --------------------------------------------------------------------------- rounds, audit, store


@main.command("rounds")
@json_option
@pass_app
def rounds_cmd(app: App, as_json: bool):
    """List the collection rounds and whether each is open now (FRS_NOW sets "now" for rehearsals)."""
    from ..services.rounds import round_states

    rounds = round_states(app.kernel)
    if as_json:
        echo_json(rounds)
        return
    for r in rounds:
        state = "OPEN" if r["open"] else "closed"
        templates = ", ".join(r["templates"]) or "no template enabled"
        due = f"; reports due {r['reports_due']}" if r["reports_due"] else ""
        click.echo(f"{r['id']:<10} {state:<6} {r['window']} ({templates}){due}")


@main.command("audit")
@click.option("--school", "school_dfe", required=True, metavar="DFE", help="The school's DfE number.")
@click.option("--limit", type=click.IntRange(1, 1_000_000), help="Show only the last N lines.")
@as_option(required=False)
@json_option
@pass_app
@refusals
def audit_cmd(app: App, school_dfe: str, limit: int | None, actor: str | None, as_json: bool):
    """Show the school's audit log: who uploaded, confirmed, deleted and downloaded which file, when."""
    from ..storage.service import OPERATOR

    events = _service(app).audit(actor or OPERATOR, school_dfe, limit=limit)
    if as_json:
        echo_json(events)
        return
    for e in events:
        upload = f"upload {e['upload_id']}" if e["upload_id"] else ""
        click.echo(f"{e['at']}  {e['actor']:<28} {e['action']:<9} {e['outcome']:<8} {upload:<11} "
                   f"{(e['sha256'] or '')[:12]:<12} {e['reason'] or ''}".rstrip())
    click.echo(f"{len(events)} audit lines")


def _finite(value: float, param) -> float:
    if value != value:  # NaN passes every range check
        raise click.BadParameter("must be a number of hours", param=param)
    return value


@main.group("store")
def store_group():
    """The file store."""


@store_group.command("sweep")
@click.option("--older-than", "hours", type=click.FloatRange(0.0, 24.0 * 366), default=24.0, show_default=True,
              callback=lambda ctx, param, value: _finite(value, param),
              help="Only remove orphan files last touched more than this many hours ago.")
@pass_app
@refusals
def store_sweep(app: App, hours: float):
    """Remove stored files that no upload refers to (left by a crash) and leftover temp files."""
    removed = _service(app).sweep(hours * 3600)
    for path in removed:
        click.echo(f"removed {path}")
    click.echo(f"{len(removed)} orphan files removed")
