"""``frs report``: a school's report for a round: the collection's summary and, once the round is
analysed, its measures, pupils, subjects and comparisons (and the PDF summary with ``--pdf``)."""

from __future__ import annotations

import click

from . import App, OutputFile, echo_json, fail, main, pass_app
from .storage_cmd import _service, json_option, refusals

#: headline measures printed as text, per key stage: (key, label, unit)
HEADLINES = {
    4: (("pupils", "pupils", ""), ("attainment8", "Attainment 8", ""),
        ("english_maths_4", "English and maths 9-4", "%"), ("english_maths_5", "English and maths 9-5", "%"),
        ("ebacc_entry", "EBacc entry", "%"), ("ebacc_aps", "EBacc average point score", "")),
    5: (("entries", "entries", ""), ("aps_per_entry", "average points per A-level entry", "")),
}


@main.command("report")
@click.option("--school", "school_dfe", required=True, metavar="DFE", help="The school's 7-digit DfE number.")
@click.option("--round", "round_id", required=True, metavar="ID", help="The round's id from config, e.g. ks4-2020.")
@json_option
@click.option("--pdf", "pdf_out", type=OutputFile(), metavar="OUT",
              help="Also write the school's PDF summary to this file (after the round is analysed).")
@pass_app
@refusals
def report(app: App, school_dfe: str, round_id: str, as_json: bool, pdf_out):
    """Print a school's report for a collected round.

    The collection's summary (pupils, entries per subject, grade distribution per subject, average
    points per entry), then, once the round is analysed (after the collection, automatically), the
    measures: KS4 Attainment 8, English and maths 9-4 / 9-5, EBacc entry and average point score
    per pupil and for the school; KS5 average points per entry and grades per subject; with the
    comparisons against all schools and the national figures. --json gives all of it to scripts:
    the summary under "summary", the analysis's "measures", "pupils", "subjects", "groups" and
    "comparisons" beside it, and "analysis" saying whether (and when) the round was analysed.
    """
    from ..analysis.service import ReportNotFound
    from ..services.collections import school_report
    from .analysis_cmd import report_json, write_report_pdf

    service = _service(app)
    data = school_report(service, school_dfe, round_id)
    try:
        analysed = report_json(service, data["school"], round_id)
    except ReportNotFound as exc:
        analysed, not_analysed = None, str(exc)
    if analysed is not None:
        # the collection's "school" (DfE number) and "round" (id) stay as they are; the analysis's
        # school and round details add nothing but the key stage and year
        data["key_stage"], data["year"] = analysed["round"]["key_stage"], analysed["round"]["year"]
        data.update({k: v for k, v in analysed.items() if k not in ("school", "round", "analysis")})
        data["analysis"] = {"available": True, **analysed.get("analysis", {})}
    else:
        data["analysis"] = {"available": False, "reason": not_analysed}
    if as_json:
        echo_json(data)
    else:
        _print_summary(data)
        if analysed is not None:
            _print_measures(data)
        else:
            click.echo(f"\n  Analysis: not available yet: {not_analysed}.")
    if pdf_out is not None:
        if analysed is None:
            fail(f"no PDF summary for {data['school']} yet: {not_analysed}")
        size = write_report_pdf(service, data["school"], round_id, pdf_out)
        click.echo(f"Wrote the PDF summary to {pdf_out} ({size} bytes).", err=as_json)


def _print_summary(data: dict) -> None:
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


def _print_measures(data: dict) -> None:
    measures = data.get("measures") or {}
    all_schools = (data.get("comparisons") or {}).get("all_schools") or {}
    national = (data.get("comparisons") or {}).get("national") or {}
    click.echo(f"\n  Analysis (rules {data['analysis'].get('rules_version')}):")
    for key, label, unit in HEADLINES.get(data.get("key_stage"), ()):
        value = measures.get(key)
        if value is None:
            continue
        line = f"  {label:<34} {_number(value) + unit:>8}"
        if key not in ("pupils", "entries"):  # counts: comparing them says nothing
            mean = (all_schools.get(key) or {}).get("mean")
            if mean is not None:
                line += f"   all schools {_number(mean) + unit:>8}"
            published = (national.get(key) or {}).get("value")
            if published is not None:
                line += f"   national {_number(published) + unit:>8}"
        click.echo(line.rstrip())


def _number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:g}" if float(value).is_integer() else f"{value:.2f}"
