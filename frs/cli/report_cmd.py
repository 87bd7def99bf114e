"""``frs report``: a school's collected summary for a round (the analysis adds its measures)."""

from __future__ import annotations

import click

from . import App, echo_json, main, pass_app
from .storage_cmd import _service, json_option, refusals


@main.command("report")
@click.option("--school", "school_dfe", required=True, metavar="DFE", help="The school's 7-digit DfE number.")
@click.option("--round", "round_id", required=True, metavar="ID", help="The round's id from config, e.g. ks4-2020.")
@json_option
@pass_app
@refusals
def report(app: App, school_dfe: str, round_id: str, as_json: bool):
    """Print a school's summary from a round's collection: pupils, entries per subject, grade
    distribution per subject, average points per entry."""
    from ..services.collections import school_report

    data = school_report(_service(app), school_dfe, round_id)
    if as_json:
        echo_json(data)
        return
    summary = data["summary"]
    click.echo(f"{data['school_name']} ({data['school']}), round {data['round']}, collected {data['collected']}")
    avg = summary["average_points_per_entry"]
    click.echo(f"  pupils {summary['pupils']}, entries {summary['entries']}, average points per entry "
               f"{avg if avg is not None else '-'}")
    for upload in summary.get("uploads", []):
        click.echo(f"  upload {upload['id']} ({upload['keystage']}): {upload['pupils']} pupils, "
                   f"{upload['results']} results")
    if summary["subjects"]:
        width = max(len(s["subject"]) for s in summary["subjects"])
        click.echo(f"\n  {'subject':<{width}}  {'entries':>7}  {'avg pts':>7}  grades")
        for s in summary["subjects"]:
            grades = " ".join(f"{g}:{n}" for g, n in s["grades"].items())
            points = "-" if s["average_points"] is None else f"{s['average_points']:.2f}"
            click.echo(f"  {s['subject']:<{width}}  {s['entries']:>7}  {points:>7}  {grades}")
