"""``frs daemon``, ``frs collect`` and ``frs collections``: the scheduler and the deadline collection.

Thin doors: the rules live in :mod:`frs.services.collections` and :mod:`frs.daemon`.
"""

from __future__ import annotations

import sys

import click

from . import App, echo_json, fail, main, pass_app
from .storage_cmd import _service, json_option, refusals


@main.command("daemon")
@click.option("--once", is_flag=True, help="Run whatever is due now (collections, jobs, retries) and exit 0.")
@click.option("--log-json", is_flag=True, help="Log one JSON object per line (for log collectors).")
@click.option("--lease-seconds", type=click.FloatRange(min=2), default=30.0, show_default=True,
              envvar="FRS_DAEMON_LEASE_SECONDS",
              help="How long the active daemon's lease lasts without renewal; a standby takes over after it "
                   "runs out. Also FRS_DAEMON_LEASE_SECONDS.")
@click.option("--tick-seconds", type=click.FloatRange(min=0.5), default=30.0, show_default=True,
              envvar="FRS_DAEMON_TICK_SECONDS",
              help="How often to look for closed rounds to collect and for due jobs and retries. "
                   "Also FRS_DAEMON_TICK_SECONDS.")
@pass_app
@refusals
def daemon(app: App, once: bool, log_json: bool, lease_seconds: float, tick_seconds: float):
    """Run the scheduler in the foreground (for systemd or a container).

    Collects each round at its close (and any closed round not yet collected, at once), and runs
    the jobs plugins contribute, such as the nightly Data Exchange pull. Start one on each of two
    machines: the database elects one active daemon, the other waits as standby and takes over
    within the lease time when the first dies. Stop with SIGTERM or Ctrl-C: the job in hand
    finishes its current step, and a collection in progress is rolled back and completed on the
    next start.
    """
    from ..daemon import Daemon
    from ..daemon import logs

    logs.setup(as_json=log_json)
    service = _service(app)
    runner = Daemon(app.kernel, service, lease_seconds=lease_seconds, tick_seconds=tick_seconds)
    raise SystemExit(runner.once() if once else runner.run())


@main.command("collect")
@click.option("--round", "round_id", required=True, metavar="ID", help="The round's id from config, e.g. ks4-2020.")
@json_option
@pass_app
@refusals
def collect_cmd(app: App, round_id: str, as_json: bool):
    """Collect a closed round by hand: every school's current confirmed uploads.

    Run again, it changes nothing and reports the collection that exists. The daemon does the
    same at each round's close.
    """
    from ..services.collections import CollectionStopped, collect

    service = _service(app)
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label=f"Collecting {round_id}", file=sys.stderr, show_pos=True)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        summary = collect(service, round_id, progress=progress)
    except (KeyboardInterrupt, CollectionStopped):
        fail(f"Collection of {round_id} was interrupted and rolled back; nothing was kept. Run it again.", 1)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if as_json:
        echo_json(summary.to_dict())
        return
    data = summary.to_dict()
    if summary.existing:
        click.echo(f"Round {round_id} was already collected (by {data['daemon']}, finished {data['finished']}); "
                   "nothing changed.")
    else:
        click.echo(f"Collected round {round_id} in {data['seconds']} s.")
    click.echo(f"  schools {summary.schools}, uploads {summary.uploads}, pupils {summary.pupils}, "
               f"results {summary.results}")


@main.command("collections")
@json_option
@pass_app
@refusals
def collections_cmd(app: App, as_json: bool):
    """List every collection: round, when, counts, and which daemon ran it."""
    from ..services.collections import collections

    found = [c.to_dict() for c in collections(_service(app))]
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo("No collections yet. Rounds are collected at their close (frs daemon), or by frs collect.")
        return
    click.echo(f"{'round':<12} {'state':<9} {'started':<25} {'finished':<25} {'schools':>7} {'uploads':>7} "
               f"{'pupils':>7} {'results':>8}  daemon")
    for c in found:
        click.echo(f"{c['round']:<12} {c['state']:<9} {c['started'] or '-':<25} {c['finished'] or '-':<25} "
                   f"{c['schools']:>7} {c['uploads']:>7} {c['pupils']:>7} {c['results']:>8}  "
                   f"{c['daemon'] or c['claimed_by']}")
