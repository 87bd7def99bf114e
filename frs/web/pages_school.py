"""A school's pages: its home (status box, key dates, task list per round), its templates, the
upload form and Data Exchange."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse

from ..services import accounts, portal
from ..storage.models import SETUP
from ..storage.service import Refused
from .app import attachment, check_csrf, render, school_user, service

router = APIRouter(include_in_schema=False)


def _school(request: Request, dfe: str) -> tuple:
    principal = school_user(request)
    entry = accounts.membership(service(request), principal.email, dfe)
    return principal, entry


def dx_status(request: Request, principal, dfe: str) -> dict:
    try:
        return request.app.state.dx.status(principal.email, dfe)
    except Refused as exc:
        if exc.code == "not-found":
            raise
        return {"state": None, "refused": exc.reason, "available": True}


@router.get("/school/{dfe}")
def home(request: Request, dfe: str, confirmed: int | None = None):
    principal, entry = _school(request, dfe)
    data = portal.school_home(service(request), principal.email, dfe)
    open_rounds = [r for r in data["rounds"] if r.is_open]
    other_rounds = [r for r in data["rounds"] if not r.is_open]
    return render(request, "home.html", title=entry["name"], school=entry, nav=f"/school/{dfe}",
                  home=data, open_rounds=open_rounds, other_rounds=other_rounds,
                  dx=dx_status(request, principal, dfe), can_setup=SETUP in entry["permissions"])


@router.get("/school/{dfe}/template/{keystage_id}")
def get_template(request: Request, dfe: str, keystage_id: str):
    principal, _entry = _school(request, dfe)
    name, data, _source = portal.template(service(request), principal.email, dfe, keystage_id)
    return attachment(name, data)


def _upload_page(request: Request, entry, keystage_id: str | None, errors: dict, status: int = 200, issues=()):
    kernel = request.app.state.kernel
    keystages = sorted(kernel.keystages.values(), key=lambda k: k.id)
    chosen = keystage_id if keystage_id in kernel.keystages else None
    return render(request, "upload.html", status=status, title="Upload results", school=entry,
                  nav=f"/school/{entry['dfe']}", keystages=keystages, chosen=chosen, errors=errors,
                  has_errors=bool(errors), issues=list(issues)[:50],
                  max_mb=kernel.config.limits.max_upload_bytes / (1024 * 1024))


@router.get("/school/{dfe}/upload")
def upload_form(request: Request, dfe: str, keystage: str | None = None):
    principal, entry = _school(request, dfe)
    accounts.require(service(request), principal.email, dfe, "manage_data")
    return _upload_page(request, entry, keystage, {})


@router.post("/school/{dfe}/upload")
def upload(request: Request, dfe: str, file: UploadFile | None = File(None), keystage: str = Form(""),
           csrf_token: str = Form("")):
    principal, entry = _school(request, dfe)
    check_csrf(request, csrf_token)
    svc = service(request)
    accounts.require(svc, principal.email, dfe, "manage_data")
    limit = svc.kernel.config.limits.max_upload_bytes
    data = file.file.read(limit + 1) if file is not None and file.filename else None
    errors = {}
    if data is None:
        errors["file"] = "Select the results file you filled in"
    elif not data:
        errors["file"] = "The selected file is empty"
    if errors:
        return _upload_page(request, entry, keystage, errors, status=400)
    try:
        result = svc.upload(principal.email, data, file.filename, school_dfe=dfe, keystage_id=keystage or None)
    except Refused as exc:
        if exc.code in ("not-found", "forbidden"):
            raise
        return _upload_page(request, entry, keystage, {"file": exc.reason}, status=422, issues=exc.issues)
    return RedirectResponse(f"/uploads/{result.upload.id}", status_code=303)


@router.get("/school/{dfe}/data-exchange")
def data_exchange(request: Request, dfe: str, done: str | None = None):
    principal, entry = _school(request, dfe)
    return render(request, "data_exchange.html", title="Data Exchange", school=entry,
                  nav=f"/school/{dfe}/data-exchange", dx=dx_status(request, principal, dfe),
                  can_setup=SETUP in entry["permissions"], done=done, errors={})


@router.post("/school/{dfe}/data-exchange/{action}")
def data_exchange_action(request: Request, dfe: str, action: str, partner: str = Form(""),
                         mis_id: str = Form(""), csrf_token: str = Form("")):
    principal, entry = _school(request, dfe)
    check_csrf(request, csrf_token)
    dx = request.app.state.dx
    if action == "enable":
        dx.enable(principal.email, dfe)
    elif action == "disable":
        dx.disable(principal.email, dfe)
    elif action == "connect":
        if not partner.strip():
            return render(request, "data_exchange.html", status=400, title="Data Exchange", school=entry,
                          nav=f"/school/{dfe}/data-exchange", dx=dx_status(request, principal, dfe),
                          can_setup=SETUP in entry["permissions"], done=None, has_errors=True,
                          errors={"partner": "Enter your school's connection partner"})
        dx.connect(principal.email, dfe, partner.strip()[:100], mis_id=mis_id.strip()[:100] or None)
    else:
        raise Refused("There is no such Data Exchange action.", code="not-found")
    return RedirectResponse(f"/school/{dfe}/data-exchange?done={action}", status_code=303)
