"""The JSON API under /api/v1: every step of the school journey for scripts.

Authentication: ``Authorization: Bearer <token>`` with a token from ``frs users token EMAIL``
(no cookies, so no CSRF). The same service calls, permission checks and refusals as the pages;
errors are ``{"error": {"code", "message"}}`` with the codes in ``app.STATUS_FOR_CODE``.
"""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from ..services import accounts, portal
from ..storage.service import Refused
from .app import NotSignedIn, attachment, service

bearer = HTTPBearer(auto_error=False, description="An API token from `frs users token EMAIL`.")


def api_user(request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)):
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotSignedIn()
    principal = accounts.token_principal(service(request), credentials.credentials)
    if principal is None:
        raise NotSignedIn()
    return principal


router = APIRouter(dependencies=[Depends(api_user)])

ERRORS = {401: {"description": "No valid API token"}, 403: {"description": "Permission missing (code forbidden)"},
          404: {"description": "Not found, or not your school's (code not-found)"}}


class ConfirmBody(BaseModel):
    accept_terms: bool = False


class ConnectBody(BaseModel):
    partner: str
    mis_id: Optional[str] = None


@router.get("/me", responses=ERRORS, summary="The token's user and their schools")
def me(request: Request, user=Depends(api_user)) -> dict[str, Any]:
    schools = accounts.schools_of(service(request), user.email)
    return {"email": user.email, "schools": [{**s, "permissions": sorted(s["permissions"])} for s in schools]}


@router.get("/rounds", responses=ERRORS, summary="Every round with its dates and whether it is open")
def rounds(request: Request) -> list[dict[str, Any]]:
    return service(request).rounds()


@router.get("/schools/{dfe}", responses=ERRORS, summary="The school's home: rounds, key dates, task statuses")
def school(request: Request, dfe: str, user=Depends(api_user)) -> dict[str, Any]:
    home = portal.school_home(service(request), user.email, dfe)
    return {"school": home["school"], "permissions": home["permissions"],
            "rounds": [r.to_dict() for r in home["rounds"]],
            "data_exchange": _dx_status(request, user, dfe)}


@router.get("/schools/{dfe}/templates/{keystage}", responses=ERRORS, summary="Download the school's template (xlsx)")
def template(request: Request, dfe: str, keystage: str, user=Depends(api_user)):
    name, data, _source = portal.template(service(request), user.email, dfe, keystage)
    return attachment(name, data)


@router.post("/schools/{dfe}/uploads", status_code=201, responses={**ERRORS, 413: {"description": "Too large"},
             422: {"description": "Refused before storing (codes gate, unrecognised, terms, no-file)"}},
             summary="Upload a results file: validated at once; stored with its issues")
def upload(request: Request, dfe: str, file: UploadFile = File(...), keystage: str = Form(""),
           confirm: bool = Form(False), accept_terms: bool = Form(False), user=Depends(api_user)) -> dict[str, Any]:
    svc = service(request)
    limit = svc.kernel.config.limits.max_upload_bytes
    data = file.file.read(limit + 1)
    if not data:
        raise Refused("The selected file is empty.", code="no-file")
    result = svc.upload(user.email, data, file.filename or "upload.xlsx", school_dfe=dfe,
                        keystage_id=keystage or None, confirm=confirm, accept_terms=accept_terms)
    return result.to_dict()


@router.get("/schools/{dfe}/uploads", responses=ERRORS, summary="The upload history, newest first")
def uploads(request: Request, dfe: str, include_hidden: bool = True, user=Depends(api_user)) -> list[dict[str, Any]]:
    accounts.membership(service(request), user.email, dfe)
    return [u.to_dict() for u in service(request).list_uploads(user.email, dfe, include_hidden=include_hidden)]


@router.get("/uploads/{upload_id}", responses=ERRORS, summary="One upload and its issues (paged)")
def upload_detail(request: Request, upload_id: int, offset: int = 0, limit: int = 1000,
                  user=Depends(api_user)) -> dict[str, Any]:
    view, issues = service(request).show(user.email, upload_id)
    offset, limit = max(offset, 0), min(max(limit, 1), 10_000)
    return {**view.to_dict(), "report_status": view.report_status, "issues_total": len(issues),
            "issues": [i.to_dict() for i in issues[offset:offset + limit]], "offset": offset}


@router.post("/uploads/{upload_id}/confirm", responses={**ERRORS, 409: {"description": "Wrong state or round closed"},
             422: {"description": "Terms not accepted (code terms)"}}, summary="Confirm submission")
def confirm(request: Request, upload_id: int, body: Optional[ConfirmBody] = None,
            user=Depends(api_user)) -> dict[str, Any]:
    return service(request).confirm(user.email, upload_id, accept_terms=bool(body and body.accept_terms)).to_dict()


@router.delete("/uploads/{upload_id}", responses=ERRORS, summary="Delete an upload (file destroyed, line kept)")
def delete(request: Request, upload_id: int, user=Depends(api_user)) -> dict[str, Any]:
    result = service(request).delete(user.email, upload_id)
    return {**result.upload.to_dict(), "file_destroyed": result.file_destroyed}


@router.get("/uploads/{upload_id}/file", responses=ERRORS, summary="Download the uploaded file")
def download(request: Request, upload_id: int, user=Depends(api_user)):
    return attachment(*service(request).download(user.email, upload_id))


@router.get("/uploads/{upload_id}/errors.xlsx", responses=ERRORS, summary="Download the error list")
def errors_xlsx(request: Request, upload_id: int, user=Depends(api_user)):
    return attachment(*portal.error_list(service(request), user.email, upload_id))


@router.get("/uploads/{upload_id}/annotated.xlsx", responses=ERRORS, summary="Download the file with mistakes marked")
def annotated_xlsx(request: Request, upload_id: int, user=Depends(api_user)):
    return attachment(*portal.annotated_copy(service(request), user.email, upload_id))


def _dx_status(request: Request, user, dfe: str) -> dict[str, Any]:
    accounts.membership(service(request), user.email, dfe)
    try:
        return request.app.state.dx.status(user.email, dfe)
    except Refused as exc:
        if exc.code == "not-found":
            raise
        return {"state": None, "refused": exc.reason, "code": exc.code}


@router.get("/schools/{dfe}/data-exchange", responses=ERRORS, summary="Data Exchange status")
def dx_status(request: Request, dfe: str, user=Depends(api_user)) -> dict[str, Any]:
    return _dx_status(request, user, dfe)


@router.post("/schools/{dfe}/data-exchange/enable", responses=ERRORS, summary="Enable Data Exchange (Setup)")
def dx_enable(request: Request, dfe: str, user=Depends(api_user)) -> dict[str, Any]:
    accounts.membership(service(request), user.email, dfe)
    request.app.state.dx.enable(user.email, dfe)
    return _dx_status(request, user, dfe)


@router.post("/schools/{dfe}/data-exchange/disable", responses=ERRORS, summary="Turn off Data Exchange (Setup)")
def dx_disable(request: Request, dfe: str, user=Depends(api_user)) -> dict[str, Any]:
    accounts.membership(service(request), user.email, dfe)
    request.app.state.dx.disable(user.email, dfe)
    return _dx_status(request, user, dfe)


@router.post("/schools/{dfe}/data-exchange/connect", responses=ERRORS, summary="Record the MIS connection (Setup)")
def dx_connect(request: Request, dfe: str, body: ConnectBody, user=Depends(api_user)) -> dict[str, Any]:
    accounts.membership(service(request), user.email, dfe)
    request.app.state.dx.connect(user.email, dfe, body.partner.strip()[:100], mis_id=body.mis_id)
    return _dx_status(request, user, dfe)
