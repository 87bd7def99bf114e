"""An upload's result page (issues, downloads, confirmation) and the school's upload history."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from ..services import accounts, portal
from ..storage.models import HIDDEN_STATUSES
from .app import attachment, check_csrf, render, school_user, service

router = APIRouter(include_in_schema=False)
ISSUES_PER_PAGE = 100
TERMS = ("You confirm that the results in this file are your school's, that they are complete for the pupils "
         "listed, and that the service may use them to prepare your school's reports and national comparisons. "
         "Only your latest confirmed file is used: confirming replaces any file you confirmed before for these "
         "results.")


def _entry(request: Request, principal, dfe: str) -> dict:
    return accounts.membership(service(request), principal.email, dfe)


def _result_page(request: Request, upload_id: int, *, errors: dict | None = None, page: int = 1,
                 confirmed: bool = False, status: int = 200):
    principal = school_user(request)
    view, issues = service(request).show(principal.email, upload_id)
    pages = max(1, -(-len(issues) // ISSUES_PER_PAGE))
    page = min(max(page, 1), pages)
    shown = issues[(page - 1) * ISSUES_PER_PAGE: page * ISSUES_PER_PAGE]
    errors = errors or {}
    return render(request, "upload_result.html", status=status, title=f"Upload {view.filename}",
                  school=_entry(request, principal, view.school_dfe), nav=f"/school/{view.school_dfe}",
                  upload=view, issues=shown, total_issues=len(issues), page=page, pages=pages,
                  first_number=(page - 1) * ISSUES_PER_PAGE + 1, errors=errors, has_errors=bool(errors),
                  terms=TERMS, confirmed=confirmed,
                  keystage_title=_title(request, view.keystage))


def _title(request: Request, keystage_id: str) -> str:
    ks = request.app.state.kernel.keystages.get(keystage_id)
    return ks.title if ks else keystage_id


@router.get("/uploads/{upload_id}")
def upload_result(request: Request, upload_id: int, page: int = 1, confirmed: int = 0):
    return _result_page(request, upload_id, page=page, confirmed=bool(confirmed))


@router.post("/uploads/{upload_id}/confirm")
def confirm(request: Request, upload_id: int, accept_terms: str = Form(""), csrf_token: str = Form("")):
    principal = school_user(request)
    check_csrf(request, csrf_token)
    if accept_terms != "yes":
        # the service refuses too (code "terms"); the page shows it next to the tick box
        try:
            service(request).confirm(principal.email, upload_id, accept_terms=False)
        except accounts.Refused as exc:
            if exc.code != "terms":
                raise
        return _result_page(request, upload_id, status=400, errors={
            "accept_terms": "Tick the box to confirm you accept the terms and conditions"})
    service(request).confirm(principal.email, upload_id, accept_terms=True)
    return RedirectResponse(f"/uploads/{upload_id}?confirmed=1", status_code=303)


@router.get("/uploads/{upload_id}/file")
def download(request: Request, upload_id: int):
    principal = school_user(request)
    filename, data = service(request).download(principal.email, upload_id)
    return attachment(filename, data)


@router.get("/uploads/{upload_id}/errors.xlsx")
def error_list(request: Request, upload_id: int):
    principal = school_user(request)
    return attachment(*portal.error_list(service(request), principal.email, upload_id))


@router.get("/uploads/{upload_id}/annotated.xlsx")
def annotated(request: Request, upload_id: int):
    principal = school_user(request)
    return attachment(*portal.annotated_copy(service(request), principal.email, upload_id))


@router.get("/uploads/{upload_id}/delete")
def delete_page(request: Request, upload_id: int):
    principal = school_user(request)
    view, _issues = service(request).show(principal.email, upload_id)
    return render(request, "delete.html", title="Delete upload", upload=view,
                  school=_entry(request, principal, view.school_dfe), nav=f"/school/{view.school_dfe}/uploads")


@router.post("/uploads/{upload_id}/delete")
def delete(request: Request, upload_id: int, csrf_token: str = Form("")):
    principal = school_user(request)
    check_csrf(request, csrf_token)
    result = service(request).delete(principal.email, upload_id)
    return RedirectResponse(f"/school/{result.upload.school_dfe}/uploads?deleted={upload_id}", status_code=303)


@router.get("/school/{dfe}/uploads")
def manage_uploads(request: Request, dfe: str, hide: str = "", deleted: int | None = None):
    principal = school_user(request)
    entry = _entry(request, principal, dfe)
    uploads = service(request).list_uploads(principal.email, dfe, include_hidden=not hide)
    return render(request, "uploads.html", title="Manage uploads", school=entry, nav=f"/school/{dfe}/uploads",
                  uploads=uploads, hide=bool(hide), deleted=deleted, hidden_statuses=HIDDEN_STATUSES,
                  titles={k: v.title for k, v in request.app.state.kernel.keystages.items()})
