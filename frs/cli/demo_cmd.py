"""``frs demo``: a demo school on the embedded defaults, a results day played on the command line,
then the web portal to sign in to."""

from __future__ import annotations

import datetime as dt
import os
import shlex
from pathlib import Path

import click

from . import main, pass_app, program

SCHOOL_DFE, SCHOOL_NAME = "1231234", "Demo Academy"
MANAGER = "data.manager@demo-academy.example"
SETUP_USER = "setup.user@demo-academy.example"
OPERATOR = "operator@frs.example"
# demo passwords, documented in the README; never use these for real accounts
DEMO_PASSWORDS = {MANAGER: "manage-data-demo", SETUP_USER: "setup-user-demo", OPERATOR: "operator-demo"}


def demo_config(base: Path | None, home: Path, today: dt.date) -> Path:
    """The configuration plus a KS4 and a KS5 round of this year that are open now (they opened
    two weeks ago and close in three weeks) and the past KS4 and KS5 rounds the demo collects and
    analyses (:mod:`frs.demo_results`), written to ``<home>/demo/frs-demo.toml``."""
    text = base.read_text(encoding="utf-8") if base else ""
    opens, closes = today - dt.timedelta(days=14), today + dt.timedelta(days=21)
    year = today.year if today.month >= 8 else today.year - 1  # the summer's exams whose results are in
    rounds = "".join(
        f"\n[[rounds]]\nid = \"ks{ks}-demo-{today.year}\"\nkey_stage = {ks}\nyear = {year}\n"
        f"opens = {opens.isoformat()}T00:00:00\ncloses = {closes.isoformat()}T17:00:00\n"
        f"reports_due = {(closes + dt.timedelta(days=30)).isoformat()}\n" for ks in (4, 5))
    from ..demo_results import round_config

    path = home / "demo" / "frs-demo.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n# added by `frs demo`: rounds open now, so uploads are accepted today\n" + rounds
                    + "\n# added by `frs demo`: past rounds of several made-up schools, collected and analysed\n"
                    + round_config(), encoding="utf-8")
    return path


def _progress(label: str):
    """A progress line on stderr for long steps (one line, rewritten in place)."""
    def show(done: int, total: int) -> None:
        click.echo(f"\r   {label}: {done} of {total}", nl=done >= total, err=True)
    return show


@main.command("demo")
@click.option("--keystage", default="ks5_alevel", show_default=True, help="Key stage to demonstrate.")
@click.option("--pupils", default=30, show_default=True, type=click.IntRange(3, 2000),
              help="Pupils in the demo cohort (3 to 2000); each school of the past rounds has up to 30.")
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="Start the web portal afterwards (Ctrl+C stops it).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address for the portal.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port for the portal.")
@pass_app
def demo_command(app, keystage: str, pupils: int, serve: bool, host: str, port: int) -> None:
    """Set up a demo school, play a results day, then serve the portal to sign in to.

    Uses the configured instance folder (SQLite and stored files; FRS_HOME overrides) and adds a
    round for each key stage that is open today (written to <home>/demo/frs-demo.toml), so uploads
    are accepted now. Creates the school (DfE 1231234), a Manage Data user, a Setup user and an
    operator with the demo passwords it prints, writes a template with made-up pupils, fills it
    in, uploads a copy with mistakes and a clean copy (confirmed). Then several made-up schools
    upload in a past KS4 and KS5 round, which is collected and analysed, so the demo school has
    reports and dashboards to see (once; later runs leave them). Then it starts the portal.
    Safe to run again.
    """
    from .. import config as config_mod
    from ..config import LONDON
    from ..connectors import School
    from ..demo import DemoSource, fill_results, write_demo_census
    from ..demo_results import PAST_ROUNDS, SCHOOLS, play_past_rounds
    from ..kernel import Kernel, UnknownKeyStage
    from ..services import accounts
    from ..storage.service import Service
    from ..validation import render
    from ..validation.engine import annotate
    from ..workbook.template import build_template, template_filename

    base_config = config_mod.load(app.config_path)
    home = Path(base_config.home).resolve()
    base_path = Path(app.config_path) if app.config_path else config_mod.default_path()
    demo_path = demo_config(base_path, home, dt.datetime.now(LONDON).date())
    cfg = config_mod.load(demo_path)
    cfg.home = home  # the demo config lives in <home>/demo; the instance folder stays where it was
    kernel = Kernel(cfg)
    try:
        ks = kernel.keystage(keystage)
    except UnknownKeyStage as exc:
        raise click.BadParameter(str(exc), param_hint="'--keystage'") from None
    rnd = kernel.round_for(ks)
    click.echo(f"Round {rnd.id} is open now: {rnd.describe_window()} (config {demo_path}).")

    out = home / "demo"
    service = Service.from_kernel(kernel)
    service.init_db()
    service.add_school(SCHOOL_DFE, SCHOOL_NAME)
    service.add_user(MANAGER, SCHOOL_DFE, ["manage_data"])
    service.add_user(SETUP_USER, SCHOOL_DFE, ["setup"])
    for email, password in DEMO_PASSWORDS.items():
        accounts.set_password(service, email, password, operator=email == OPERATOR)
    click.echo(f"Database ready; school {SCHOOL_DFE} {SCHOOL_NAME}; users {MANAGER} (Manage Data), "
               f"{SETUP_USER} (Setup) and operator {OPERATOR}.")
    census = write_demo_census(cfg, SCHOOL_DFE, rnd.year, pupils)
    if census is not None:
        click.echo(f"Census extract for {SCHOOL_NAME} (the portal's templates come pre-filled from it): {census}")

    # first, so that today's confirmed upload is the school's current one
    click.echo(f"\nLast results season: {len(SCHOOLS)} made-up schools in a past KS4 and KS5 round, "
               "collected and analysed (the uploads of a school's template in today's round replace its past one):")
    collected = play_past_rounds(kernel, Service.from_kernel, min(pupils, 30), click.echo, _progress)
    if not collected:
        click.echo("   already collected and analysed by an earlier run; left as they were.")
    if not kernel.measures(4).measures:
        click.echo("   (no measures are enabled, so there are no reports: add ks4_measures and ks5_measures "
                   "to [plugins] enabled)")

    school = School(SCHOOL_DFE, SCHOOL_NAME)
    cohort = DemoSource(rnd.year, pupils).fetch_cohort(school, ks.nc_year)
    template = build_template(kernel, ks, school, rnd, cohort)
    name = template_filename(ks, rnd, school)
    (out / f"template_{name}").write_bytes(template)
    click.echo(f"\n1. Template with {len(cohort)} made-up pupils: {out / ('template_' + name)}")

    first_result = next(i for i, c in enumerate(kernel.columns(ks)) if c.kind == "result") + 1
    row = ks.first_pupil_row

    def mistakes(sheet):
        sheet.cell(row=row, column=first_result).value = "A+" if ks.id == "ks5_alevel" else "Z"
        sheet.cell(row=row + 1, column=5).value = "A" + str(sheet.cell(row=row + 1, column=5).value)[1:]
        sheet.cell(row=row + 2, column=11).value = "X"  # not a sex code

    with_errors = fill_results(template, kernel, ks, edit=mistakes)
    (out / f"with_mistakes_{name}").write_bytes(with_errors)
    click.echo(f"2. Filled in, with three mistakes: {out / ('with_mistakes_' + name)}; uploading it ...")
    result = service.upload(MANAGER, with_errors, name)
    click.echo(render.table(result.report))
    (out / "errors.xlsx").write_bytes(render.errors_xlsx(result.report))
    (out / "annotated.xlsx").write_bytes(annotate(kernel, with_errors, result.report) or b"")
    click.echo(f"   status: {result.upload.status}; error list {out / 'errors.xlsx'}, "
               f"annotated copy {out / 'annotated.xlsx'}")

    clean = fill_results(template, kernel, ks)
    (out / name).write_bytes(clean)
    click.echo(f"\n3. The corrected file ({out / name}), uploaded and confirmed with the terms accepted ...")
    result = service.upload(MANAGER, clean, name, confirm=True, accept_terms=True)
    click.echo(f"   {render.summary(result.report)} Status: {result.upload.status}.")

    click.echo(f"\n4. Uploads of {SCHOOL_NAME} (frs uploads list --school {SCHOOL_DFE} --all):")
    for view in service.list_uploads(MANAGER, SCHOOL_DFE, include_hidden=True):
        when = view.uploaded_at.astimezone(LONDON).strftime("%d/%m/%Y %H:%M")
        click.echo(f"   #{view.id:<4} {view.status:<22} {view.pupils:>3} pupils  {when}  {view.filename}"
                   + (f"  ({view.report_status})" if view.report_status else ""))
    frs = program()
    env = f"FRS_CONFIG={shlex.quote(str(demo_path))}"
    click.echo(f"\nTry: {env} {frs} validate {shlex.quote(str(out / ('with_mistakes_' + name)))} --school {SCHOOL_DFE}\n"
               f"     {env} {frs} uploads list --school {SCHOOL_DFE} --all\n"
               f"     {env} {frs} audit --school {SCHOOL_DFE}")
    service.engine.dispose()

    shown_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    click.echo(f"\nThe portal: http://{shown_host}:{port}/  -- sign in as\n"
               f"   {MANAGER:<40} password {DEMO_PASSWORDS[MANAGER]:<18} (Manage Data: templates, uploads)\n"
               f"   {SETUP_USER:<40} password {DEMO_PASSWORDS[SETUP_USER]:<18} (Setup: Data Exchange)\n"
               f"   {OPERATOR:<40} password {DEMO_PASSWORDS[OPERATOR]:<18} (operator pages)\n"
               f"Reports: sign in as {MANAGER}, then Reports in the menu "
               f"(http://{shown_host}:{port}/school/{SCHOOL_DFE}/reports): the PDF summary and dashboards of "
               f"rounds {' and '.join(PAST_ROUNDS)} against all {len(SCHOOLS)} schools and the national figures.\n"
               f"Files to upload: {out / ('with_mistakes_' + name)} (has mistakes), {out / name} (clean).")
    if not serve:
        click.echo(f"Start it with: {env} {frs} serve")
        return
    import uvicorn

    os.environ["FRS_CONFIG"], os.environ["FRS_HOME"] = str(demo_path), str(home)  # for the app factory
    click.echo("Press Ctrl+C to stop.\n")
    uvicorn.run("frs.web.app:create_app", factory=True, host=host, port=port, log_level="warning",
                server_header=False)
