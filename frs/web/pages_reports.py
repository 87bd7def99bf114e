"""A school's reports in the portal: the dashboard (KS4 or KS5), filtered by pupil group, "what if"
with chosen pupils left out, its Excel export and the PDF summary.

Any user of the school may see them (a member with neither Manage Data nor Setup too), and
operators; whether the actor may is decided in :mod:`frs.services.reports`, never here.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from ..services import reports
from ..storage.service import OPERATOR, Refused
from . import charts
from .app import attachment, check_csrf, render, service, signed_in

router = APIRouter(include_in_schema=False)
PDF = "application/pdf"


def _actor(request: Request):
    principal = signed_in(request)
    return principal, (OPERATOR if principal.is_operator else principal.email)


def fmt(value, decimals: int = 1, percent: bool = False) -> str:
    """A figure as shown on the page: "–" when there is none."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and not percent:
        return f"{value:,}"
    return f"{float(value):,.{decimals}f}" + ("%" if percent else "")


def _page(request: Request, principal, shown: dict, status: int = 200, page: str = "overview"):
    dfe = shown["school"]["dfe"]
    stage = {4: "Key stage 4", 5: "Key stage 5 (A level)"}.get(shown["key_stage"], f"Key stage {shown['key_stage']}")
    school = None if principal.is_operator else shown["school"]
    return render(request, "reports_pupils.html" if page == "pupils" else "reports_dashboard.html", status=status,
                  page=page, title=f"{stage} results {shown['round']['year']}: {shown['school']['name']}",
                  stage=stage, school=school, nav=f"/school/{dfe}/reports" if school else "/operator/schools",
                  d=shown, charts=charts, fmt=fmt, base_url=f"/reports/{dfe}/{shown['round']['id']}",
                  excluded=set(shown["excluded"]))


@router.get("/school/{dfe}/reports")
def report_list(request: Request, dfe: str):
    """The school's rounds with reports: any user of the school (a member too) starts here."""
    principal, actor = _actor(request)
    svc = service(request)
    entry = reports.viewer(svc, actor, dfe)
    return render(request, "reports_list.html", title="Reports", nav=f"/school/{dfe}/reports",
                  school=None if principal.is_operator else entry, dfe=dfe, school_name=entry.get("name") or dfe,
                  rounds=reports.available(svc, actor, dfe))


@router.get("/reports/{dfe}/{round_id}")
def dashboard(request: Request, dfe: str, round_id: str, group: str = ""):
    principal, actor = _actor(request)
    shown = reports.dashboard(service(request), actor, dfe, round_id, group=group or None)
    return _page(request, principal, shown)


@router.post("/reports/{dfe}/{round_id}")
def what_if(request: Request, dfe: str, round_id: str, exclude: list[str] = Form([]), group: str = Form(""),
            csrf_token: str = Form("")):
    """The dashboard recomputed with the ticked pupils left out (a form post: works without JavaScript)."""
    principal, actor = _actor(request)
    check_csrf(request, csrf_token)
    shown = reports.dashboard(service(request), actor, dfe, round_id, group=group or None,
                              exclude=exclude[: reports.MAX_EXCLUDED])
    return _page(request, principal, shown)


@router.get("/reports/{dfe}/{round_id}/pupils")
def pupils(request: Request, dfe: str, round_id: str, group: str = ""):
    """Every pupil with their slots and flags, and the "what if" form (tick pupils to leave out)."""
    principal, actor = _actor(request)
    shown = reports.dashboard(service(request), actor, dfe, round_id, group=group or None, recompute=False)
    return _page(request, principal, shown, page="pupils")


@router.post("/reports/{dfe}/{round_id}/pupils")
def pupils_again(request: Request, dfe: str, round_id: str, exclude: list[str] = Form([]), group: str = Form(""),
                 csrf_token: str = Form("")):
    """The pupil list with the pupils already left out still ticked ("Choose other pupils")."""
    principal, actor = _actor(request)
    check_csrf(request, csrf_token)
    shown = reports.dashboard(service(request), actor, dfe, round_id, group=group or None,
                              exclude=exclude[: reports.MAX_EXCLUDED], recompute=False)
    return _page(request, principal, shown, page="pupils")


@router.get("/reports/{dfe}/{round_id}/summary.pdf")
def summary_pdf(request: Request, dfe: str, round_id: str):
    _principal, actor = _actor(request)
    name, data = reports.pdf(service(request), actor, dfe, round_id)
    return attachment(name, data, PDF)


@router.get("/reports/{dfe}/{round_id}/results.xlsx")
def workbook(request: Request, dfe: str, round_id: str, group: str = ""):
    _principal, actor = _actor(request)
    return attachment(*reports.workbook(service(request), actor, dfe, round_id, group=group or None))


@router.post("/reports/{dfe}/{round_id}/results.xlsx")
def workbook_what_if(request: Request, dfe: str, round_id: str, exclude: list[str] = Form([]),
                     group: str = Form(""), csrf_token: str = Form("")):
    _principal, actor = _actor(request)
    check_csrf(request, csrf_token)
    return attachment(*reports.workbook(service(request), actor, dfe, round_id, group=group or None,
                                        exclude=exclude[: reports.MAX_EXCLUDED]))


@router.get("/reports/{dfe}/{round_id}/{keystage_id}")
def from_upload(request: Request, dfe: str, round_id: str, keystage_id: str):
    """The upload history's "View reports" link names the template; both KS4 templates lead to the
    one KS4 dashboard of the round."""
    _principal, actor = _actor(request)
    reports.viewer(service(request), actor, dfe)
    if keystage_id not in request.app.state.kernel.keystages:
        raise Refused(f"There is no template {keystage_id!r}.", code="not-found")
    return RedirectResponse(f"/reports/{dfe}/{round_id}", status_code=303)
