"""``frs dx`` (a school's Data Exchange connection) and ``frs pull`` (pull pupil lists now).

Thin: every rule is in :mod:`frs.services.data_exchange`, which the portal and the daemon call
the same way. A refusal prints the reason and exits 1.
"""

from __future__ import annotations

import sys

import click

from . import echo_json, fail, main, pass_app
from .storage_cmd import _service, refusals


def _dx(app):
    from ..services.data_exchange import DataExchange

    return DataExchange(_service(app))


def _actor(actor: str | None):
    from ..storage.service import OPERATOR

    return actor if actor else OPERATOR


school_option = click.option("--school", "school", required=True, metavar="DFE", help="The school's 7-digit DfE number.")
as_option = click.option("--as", "actor", metavar="EMAIL",
                         help="Act as this user, who needs the Setup permission at the school. "
                              "Without it, the operator acts.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@main.group("dx")
def dx() -> None:
    """A school's Data Exchange connection: its MIS, through a partner such as Groupcall Xporter or Wonde.

    \b
    frs dx connect --school 1231234 --partner xporter     # the estab defaults to the DfE number
    frs dx enable --school 1231234
    frs pull --school 1231234
    frs dx status --school 1231234 --json
    """


def _print_status(status, as_json: bool) -> None:
    if as_json:
        echo_json(status.to_dict())
        return
    d = status.to_dict()
    click.echo(f"{d['school']} {d['school_name']}: {d['state']}")
    if d["partner"]:
        click.echo(f"  partner: {d['partner_title'] or d['partner']} ({d['partner']}), school's id there: {d['mis_id']}")
        click.echo(f"  last successful pull: {d['last_pull'] or 'never'}; pupils held: {d['pupils']}")
        if d["last_error"]:
            click.echo(f"  last error ({d['last_outcome']}, {d['last_attempt']}): {d['last_error']}")
    for note in d["notes"]:
        click.echo(f"  note: {note}")


@dx.command("connect")
@school_option
@click.option("--partner", required=True, metavar="NAME", help="The partner the school authorised, e.g. xporter or wonde.")
@click.option("--mis-id", metavar="ID", help="The school's id at the partner (Xporter: its estab, by default the "
                                             "DfE number; Wonde: its Wonde id).")
@as_option
@json_option
@pass_app
@refusals
def connect(app, school, partner, mis_id, actor, as_json):
    """Connect a school to its Data Exchange partner (not yet used until enabled)."""
    _print_status(_dx(app).connect(_actor(actor), school, partner, mis_id), as_json)


@dx.command("enable")
@school_option
@as_option
@json_option
@pass_app
@refusals
def enable(app, school, actor, as_json):
    """Enable a connected school's Data Exchange: its pulls then fill its templates."""
    _print_status(_dx(app).enable(_actor(actor), school), as_json)


@dx.command("disable")
@school_option
@as_option
@json_option
@pass_app
@refusals
def disable(app, school, actor, as_json):
    """Stop using a school's Data Exchange (the connection and pulled list are kept)."""
    _print_status(_dx(app).disable(_actor(actor), school), as_json)


@dx.command("status")
@school_option
@click.option("--as", "actor", metavar="EMAIL", help="Look as this user (any permission at the school).")
@json_option
@pass_app
@refusals
def status(app, school, actor, as_json):
    """Show a school's Data Exchange state: not connected, connected, or enabled, with its last pull and error."""
    _print_status(_dx(app).status(_actor(actor), school), as_json)


def _years(by_year: dict) -> str:
    return ", ".join(f"Year {k}: {v}" if k.isdigit() else f"{k}: {v}" for k, v in by_year.items()) or "none"


@main.command("pull")
@click.option("--school", "schools", multiple=True, metavar="DFE",
              help="Pull this school now (connected, enabled or not). Repeat for several.")
@click.option("--all", "all_schools", is_flag=True, help="Pull every school whose Data Exchange is enabled.")
@json_option
@pass_app
@refusals
def pull(app, schools, all_schools, as_json):
    """Pull pupil lists from the schools' MIS now, with a summary per school.

    A pull replaces a school's stored list only when it completed; a failed, partial or
    interrupted pull keeps the list held before and says why. Exit status 1 when any school's
    pull did not complete, 2 on a usage error.
    """
    from ..connectors import dfe_number

    if bool(schools) == all_schools:
        raise click.UsageError("Give --school DFE (one or more) or --all.")
    bad = [s for s in schools if dfe_number(s) is None]
    if bad:
        raise click.UsageError(f"DfE number {bad[0]!r} is not 7 digits (LA code + establishment number).")
    dx = _dx(app)
    targets = [dfe_number(s) for s in schools] if schools else dx.enabled_schools()
    if not targets:
        fail("No school has Data Exchange enabled (frs dx connect, then frs dx enable).")
    with click.progressbar(length=len(targets), label="Pulling", file=sys.stderr, show_pos=True) as bar:
        def pages(dfe, n, total):
            bar.label = f"{dfe}: page {n}" + (f" of {total}" if total else "")
            bar.render_progress()

        summaries = dx.pull_all(schools=targets, only_enabled=all_schools, page_progress=pages,
                                progress=lambda done, total: bar.update(1))
    if as_json:
        echo_json([s.to_dict() for s in summaries])
    else:
        for s in summaries:
            d = s.to_dict()
            head = f"{d['school']} {d['school_name']}".strip()
            click.echo(f"{head}: {d['outcome']} ({d['source']}, partner {d['partner']}, {d['mode']} pull)")
            held = f"pupils: {d['pupils']} ({_years(d['by_year'])}); " if s.ok else ""
            click.echo(f"  {held}pages {d['pages']}, retries {d['retries']}, {d['duration']} s")
            if d["reason"]:
                click.echo(f"  why: {d['reason']}")
            if d["rejected"]:
                click.echo(f"  not taken ({len(d['rejected'])}):")
                for r in d["rejected"]:
                    click.echo(f"    MIS id {r['mis_id']} {r['name']}: {r['reason']}")
    if any(not s.ok for s in summaries):
        sys.exit(1)
