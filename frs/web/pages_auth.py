"""Sign in, sign out, and the start page that sends each account where it belongs."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from ..services import accounts
from .app import check_csrf, current, new_csrf_token, render, safe_next, service

router = APIRouter(include_in_schema=False)


@router.get("/")
def start(request: Request):
    principal = current(request)
    if principal is None:
        return RedirectResponse("/sign-in", status_code=303)
    if principal.is_operator:
        return RedirectResponse("/operator", status_code=303)
    schools = accounts.schools_of(service(request), principal.email)
    if len(schools) == 1:
        return RedirectResponse(f"/school/{schools[0]['dfe']}", status_code=303)
    return render(request, "choose_school.html", title="Choose a school", schools=schools)


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "/"):
    return render(request, "sign_in.html", title="Sign in", next=safe_next(next), errors={}, email="")


@router.post("/sign-in")
async def sign_in(request: Request, email: str = Form(""), password: str = Form(""), next: str = Form("/"),
                  csrf_token: str = Form("")):
    check_csrf(request, csrf_token)
    errors = {}
    if not email.strip():
        errors["email"] = "Enter your email address"
    if not password:
        errors["password"] = "Enter your password"
    if not errors:
        try:
            principal = await run_in_threadpool(accounts.sign_in, service(request), email, password)
        except accounts.SignInRefused as exc:
            errors["email"] = exc.reason
            status = 429 if exc.code == "locked" else 401
        else:
            # a new session on sign-in (no fixation): fresh CSRF token, only ids and the stamp
            request.session.clear()
            request.session.update(kind=principal.kind, id=principal.id, stamp=principal.stamp,
                                   csrf=new_csrf_token())
            request.scope.pop("principal", None)
            return RedirectResponse(safe_next(next), status_code=303)
    else:
        status = 400
    return render(request, "sign_in.html", status=status, title="Sign in",
                  next=safe_next(next), errors=errors, email=email[:254], has_errors=True)


@router.post("/sign-out")
def sign_out(request: Request, csrf_token: str = Form("")):
    check_csrf(request, csrf_token)
    request.session.clear()
    return RedirectResponse("/sign-in?signed_out=1", status_code=303)
